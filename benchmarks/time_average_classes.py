"""Exact time-average covariances of SGD on merged eigenvalue classes against one class per direction.

``python benchmarks/time_average_classes.py`` prints, per problem, the CPU seconds (``time.process_time``,
best of 5, single-threaded BLAS) of :meth:`theory.FourthMomentRecursion.time_average_covariance` (classes
of equal lambda, moments and e_0^2) and of the same computation with every direction its own class
(``linear_map(...).time_average_covariance``, the cost before the merge), their ratio, and the largest
relative difference of the two risk covariances (they are equal to rounding).
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

# measure the source tree this script belongs to (a worktree), not whichever copy is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def best(fn, repeats=5):
    out = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        out.append(time.process_time() - t)
    return min(out)


def main():
    from threadpoolctl import threadpool_limits

    from theory import SGD, Gaussian, IndependentCoordinates, derive
    from theory.fourth import derive_fourth
    two = np.where(np.arange(128) < 64, 1.0, 0.5)
    cases = [("64 x 1.0, 64 x 0.5 (Gaussian)", Gaussian(), two),
             ("64 x 1.0, 64 x 0.5 (kurtosis 1, 6)", IndependentCoordinates(np.tile([1.0, 6.0], 64)), two),
             ("1/i, d = 16 (Gaussian)", Gaussian(), np.arange(1, 17.0) ** -1)]
    edges = [0] + [2**j for j in range(11)]
    print("| spectrum | classes | merged s | per direction s | ratio | max rel. difference |")
    print("|---|---|---|---|---|---|")
    with threadpool_limits(limits=1, user_api="blas"):
        for name, data, lam in cases:
            four = derive_fourth(SGD(), data)
            gamma = 0.5 * derive(SGD(), data).critical_learning_rate(lam)
            kw = {"batch": 1, "noise_variance": 0.1}
            merged = four.time_average_covariance(lam, gamma, edges, **kw)
            mp = four.linear_map(lam, gamma, 1, 0.1)
            per = mp.time_average_covariance(np.ones(len(lam)), np.asarray(edges))
            a = best(lambda f=four, x=lam, g=gamma, k=kw: f.time_average_covariance(x, g, edges, **k))
            b = best(lambda m=mp, x=lam: m.time_average_covariance(np.ones(len(x)), np.asarray(edges)))
            diff = np.max(np.abs(merged.risk_covariance - per.risk_covariance)) / np.max(np.abs(per.risk_covariance))
            classes = len(np.unique(np.stack([lam, data.kurtosis_values(len(lam))], 1), axis=0))
            print(f"| {name} | {classes} | {a:.3f} | {b:.3f} | {b / a:.1f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
