"""Power of :func:`verify.compare` against a planted 1 % error in the coupling term, and the
cost of reaching 90 % power, compared with the pre-issue-9 test (Bonferroni over every step,
coordinate and dyadic block, Student t).

Run from the repository root::

    python benchmarks/bench_power.py [--runs 200] [--replicas 5000] [--epsilon 0.01] [--json PATH]

Setting (issue 9): spectrum 1/i, d = 16, B = 2, sigma^2 = 1, e_0 = 1, 200 steps, learning rate 0.3
(0.39 gamma_c), Gaussian data, alpha = 1e-6. The wrong theory multiplies the coupling term
gamma^2 lambda_i (S_k + sigma^2) / B of the exact recursion by 1 + epsilon (:func:`verify.calibrate.planted_coupling_error`).
Reported: the fraction of ``--runs`` independent Monte Carlo experiments of ``--replicas``
replicas in which the wrong theory is rejected, with a 95 % Clopper-Pearson interval, and the
same for the true theory (false failures, expected 0 at alpha = 1e-6). The goal: power >= 0.9
at <= 5000 replicas.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
from scipy import stats as sps  # noqa: E402

from theory import SGD, Gaussian, derive  # noqa: E402
from verify import simulate  # noqa: E402
from verify.calibrate import README_LAM, planted_coupling_error  # noqa: E402
from verify.stats import compare  # noqa: E402


def clopper_pearson(k, n, level=0.95):
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(sps.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(sps.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def run(runs=200, replicas=5000, epsilon=0.01, alpha=1e-6, seed=0, batch_runs=20):
    rec = derive(SGD(), Gaussian())
    kw = dict(eigenvalues=README_LAM, learning_rate=0.3, batch=2, noise_variance=1.0, initial=1.0, steps=200)
    right = rec.trajectory(**kw)
    wrong = planted_coupling_error(rec, epsilon, **kw)
    rejected = false = done = 0
    t0 = time.perf_counter()
    root = np.random.SeedSequence(seed)
    while done < runs:
        m = min(batch_runs, runs - done)
        for res in simulate(replicas=m * replicas, chunk_size=replicas, seed=root.spawn(1)[0], split=True, **kw):
            rejected += not compare(wrong, res, alpha=alpha).passed
            false += not compare(right, res, alpha=alpha).passed
        done += m
    return dict(runs=runs, replicas=replicas, epsilon=epsilon, alpha=alpha, power=rejected / runs,
                power_interval=clopper_pearson(rejected, runs), false_failures=false,
                seconds=time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--replicas", type=int, default=5000)
    ap.add_argument("--epsilon", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    out = run(args.runs, args.replicas, args.epsilon, seed=args.seed)
    lo, hi = out["power_interval"]
    print(f"planted {out['epsilon']:.1%} coupling error, {out['replicas']} replicas, alpha = {out['alpha']:g}: "
          f"power {out['power']:.3f} (95% CI {lo:.3f}-{hi:.3f}) over {out['runs']} runs; "
          f"false failures of the true theory: {out['false_failures']}; {out['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0 if out["power"] >= 0.9 and out["false_failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
