r"""Membership "learning rate < gamma_c^(4)" against locating gamma_c^(4), on the problems the claims draw.

Run from the repository root: ``python benchmarks/bench_critical_membership.py [--examples N]``.

For SGD, heavy ball and Nesterov on Gaussian and kurtosis-4 data, ``N`` problems like those of
``verify.check.default_problems`` (d = 8..32, B = 1..4, momentum in [-0.5, 0.8]) at the learning rate
0.4 gamma_c: CPU seconds (``time.process_time``, single-threaded BLAS) of
``below_critical_learning_rate`` and of ``critical_learning_rate`` (the root), measured back to back on
the same problems in this run, their ratio, and a check that the answers agree.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    from theory import (
        SGD,
        Gaussian,
        HeavyBall,
        IndependentCoordinates,
        Nesterov,
        derive,
        derive_fourth,
    )
    from theory.empirical import _single_threaded_blas
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=6)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    print("| algorithm | data | problems | membership CPU s | root CPU s | root / membership | agree |")
    print("|---|---|---|---|---|---|---|")
    with _single_threaded_blas():
        for alg in (SGD(), HeavyBall(), Nesterov()):
            for data in (Gaussian(), IndependentCoordinates(4.0)):
                rec, four = derive(alg, data), derive_fourth(alg, data)
                four.critical_learning_rate([1.0, 0.5], **({} if alg == SGD() else {"momentum": 0.5}))  # compile
                t_below = t_root = 0.0
                agree = True
                for _ in range(args.examples):
                    d = int(rng.integers(8, 33))
                    lam = np.sort(rng.uniform(0.01, 1.0, d))[::-1]
                    batch = int(rng.integers(1, 5))
                    hyper = {} if alg == SGD() else {"momentum": float(rng.uniform(-0.5, 0.8))}
                    gamma = 0.4 * rec.critical_learning_rate(lam, batch=batch, **hyper)
                    t = time.process_time()
                    below = four.below_critical_learning_rate(lam, gamma, batch=batch, **hyper)
                    t_below += time.process_time() - t
                    t = time.process_time()
                    root = four.critical_learning_rate(lam, batch=batch, **hyper)
                    t_root += time.process_time() - t
                    agree &= below == (gamma < root)
                print(f"| {type(alg).__name__} | {type(data).__name__} | {args.examples} | {t_below:.3f} | "
                      f"{t_root:.3f} | {t_root / t_below:.1f} | {agree} |")


if __name__ == "__main__":
    main()
