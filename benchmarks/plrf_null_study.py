"""Null study of the PLRF loss-curve claims: the false-failure rate of the calibrated comparison
(exact recursion vs Monte Carlo on the feature map) over independent seeds, at the standard setting.

Each run draws a new PLRF instance (the budget's setting; standard: alpha = 0.7, beta = 0.8, v = 200,
d = 50) and a new Monte Carlo (256 replicas x 1000 steps) and records the family-wise p-value of
verify.stats.compare on the risk (exact variances from theory.fourth for SGD and, through
theory.fourth.generalized, for DANA; ``--variance estimated`` forces the Hall-corrected t). A level is
consistent when the count of p < level is at most the 99 % quantile of Binomial(runs, level).

    python benchmarks/plrf_null_study.py --runs 200
    python benchmarks/plrf_null_study.py --runs 200 --kinds dana --dana-scale 1.0   # the notebook's rates

Cost: about 2 s CPU per run and algorithm at the standard budget.
"""
import argparse
import time

import numpy as np
from scipy import stats

from theory.plrf import PowerLawRandomFeatures
from verify.claims.plrf import DANA_SCALE, SETTINGS, curve_setting, loss_curve_check
from verify.plrf import simulate_feature_map


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--budget", default="standard", choices=sorted(SETTINGS))
    ap.add_argument("--kinds", nargs="+", default=["sgd", "dana"], choices=["sgd", "dana"])
    ap.add_argument("--dana-scale", type=float, default=DANA_SCALE,
                    help="DANA's learning rates as a fraction of the notebook's (default: the claim's)")
    ap.add_argument("--variance", default="auto", choices=["auto", "estimated"])
    args = ap.parse_args()
    alpha, beta, v, d, replicas, steps = SETTINGS[args.budget]
    root = np.random.SeedSequence(20261130)
    for name in args.kinds:
        ps, t0, test = [], time.process_time(), ""
        for r, ss in enumerate(root.spawn(args.runs)):
            s1, s2 = ss.spawn(2)
            model = PowerLawRandomFeatures(alpha, beta, v, d, seed=s1)
            alg, hyper, _ = curve_setting(name, model, dana_scale=args.dana_scale)
            res = simulate_feature_map(model, alg, steps=steps, replicas=replicas, seed=s2, **hyper)
            verdicts, _ = loss_curve_check(model, alg, hyper, res, 1e-6, variance=args.variance)
            ps.append(verdicts[0].p_value)
            test = verdicts[0].test.split(";")[0]
        ps = np.array(ps)
        cpu = (time.process_time() - t0) / args.runs
        scale = f", DANA scale {args.dana_scale:g}" if name == "dana" else ""
        print(f"{name}{scale} ({test}): {args.runs} runs, {cpu:.2f} s CPU per run, min p = {ps.min():.3g}")
        for level in (0.05, 0.01, 0.001):
            k = int(np.sum(ps < level))
            limit = int(stats.binom.ppf(0.99, args.runs, level))
            print(f"  level {level:g}: {k} false failures (99 % limit {limit}) -> "
                  f"{'consistent' if k <= limit else 'INCONSISTENT'}")


if __name__ == "__main__":
    main()
