"""The log-log loss-curve figure of docs/plrf.md: exact loss curves of SGD and DANA-decaying on one PLRF
instance against Monte Carlo on the feature map with pointwise 95 % bands.

    python benchmarks/plrf_figure.py [--output docs/figures/plrf_loss_curves.png] [--replicas 128]
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from theory import Gaussian, derive
from theory.plrf import PowerLawRandomFeatures
from verify.claims.plrf import curve_setting
from verify.plrf import simulate_feature_map


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--output", default=str(Path(__file__).resolve().parents[1] / "docs" / "figures"
                                            / "plrf_loss_curves.png"))
    ap.add_argument("--replicas", type=int, default=128)
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--d", type=int, default=100)
    args = ap.parse_args()
    t0 = time.process_time()
    model = PowerLawRandomFeatures(0.7, 0.8, v=4 * args.d, d=args.d, seed=0)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for kind, color in (("sgd", "C0"), ("dana", "C3")):
        alg, hyper, label = curve_setting(kind, model)
        tr = derive(alg, Gaussian()).trajectory(**model.recursion_inputs(), steps=args.steps, **hyper)
        res = simulate_feature_map(model, alg, steps=args.steps, replicas=args.replicas, seed=1, **hyper)
        k = np.arange(1, args.steps + 1)
        ax.loglog(k, tr.risk[1:], color=color, lw=1.5, label=f"{label} (exact recursion)")
        lo = res.risk[1:] - 1.96 * res.risk_se[1:]
        hi = res.risk[1:] + 1.96 * res.risk_se[1:]
        ax.fill_between(k, np.maximum(lo, model.irreducible_risk * 0.5), hi, color=color, alpha=0.25, lw=0,
                        label=f"Monte Carlo on W^T x, {args.replicas} replicas (95 % band)")
    ax.axhline(model.irreducible_risk, color="k", ls=":", lw=1, label="P_inf of the instance")
    ax.set_xlabel("step k")
    ax.set_ylabel("risk P(theta_k)")
    ax.set_title(f"PLRF alpha = 0.7, beta = 0.8, v = {model.v}, d = {model.d}, B = 1", fontsize=10)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(args.output, dpi=120)
    print(f"wrote {args.output} ({time.process_time() - t0:.1f} s CPU)")


if __name__ == "__main__":
    main()
