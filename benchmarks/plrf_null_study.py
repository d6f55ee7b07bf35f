"""Null study of the PLRF loss-curve claims: the false-failure rate of the calibrated comparison
(exact recursion vs Monte Carlo on the feature map) over independent seeds, at the standard setting.

Each run draws a new PLRF instance (alpha = 1, beta = 0.8, v = 200, d = 50) and a new Monte Carlo
(256 replicas x 1000 steps) and records the family-wise p-value of verify.stats.compare on the risk.
A level is consistent when the count of p < level is at most the 99 % quantile of
Binomial(runs, level).

    python benchmarks/plrf_null_study.py --runs 100
"""
import argparse
import time

import numpy as np
from scipy import stats

from theory.plrf import PowerLawRandomFeatures
from verify.claims.plrf import SETTINGS, curve_setting, loss_curve_check
from verify.plrf import simulate_feature_map


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--budget", default="standard", choices=sorted(SETTINGS))
    args = ap.parse_args()
    alpha, beta, v, d, replicas, steps = SETTINGS[args.budget]
    root = np.random.SeedSequence(20261130)
    for name in ("sgd", "dana"):
        ps, t0 = [], time.process_time()
        for r, ss in enumerate(root.spawn(args.runs)):
            s1, s2 = ss.spawn(2)
            model = PowerLawRandomFeatures(alpha, beta, v, d, seed=s1)
            alg, hyper, _ = curve_setting(name, model)
            res = simulate_feature_map(model, alg, steps=steps, replicas=replicas, seed=s2, **hyper)
            verdicts, _ = loss_curve_check(model, alg, hyper, res, 1e-6)
            ps.append(verdicts[0].p_value)
        ps = np.array(ps)
        cpu = (time.process_time() - t0) / args.runs
        print(f"{name}: {args.runs} runs, {cpu:.2f} s CPU per run, min p = {ps.min():.3g}")
        for level in (0.05, 0.01, 0.001):
            k = int(np.sum(ps < level))
            limit = int(stats.binom.ppf(0.99, args.runs, level))
            print(f"  level {level:g}: {k} false failures (99 % limit {limit}) -> "
                  f"{'consistent' if k <= limit else 'INCONSISTENT'}")


if __name__ == "__main__":
    main()
