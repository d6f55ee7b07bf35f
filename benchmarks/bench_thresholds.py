r"""Time of the critical learning rate against the dimension d (power-law spectra).

Problem: lambda_i = i^{-alpha} (alpha = 1.5 by default, condition number d^alpha), Gaussian data,
batch size 1, d = 10^3 ... 10^6 distinct eigenvalues; SGD (and heavy ball with momentum 0.5
with ``--momentum``, up to d = 10^5).

Protocol, per d, in one run:
1. baseline: one vectorised evaluation of the secular function F(1) = 1 - sum_i G_i(1) on the
   d directions (:meth:`theory.thresholds.Spectrum.secular_one`), and ``numpy.sort`` of the spectrum;
2. ``critical_learning_rate`` of the derived recursion (compiled once beforehand);
3. best-of-``repeat`` wall-clock times; reported as ratios: time / one secular evaluation,
   time / sort, and the growth t(d) / t(d / 10) (10 for linear time, 1000 for d^3);
4. at the smallest d (if dp <= 1000) also one dense spectral radius of the dp x dp map
   (``BlockRankOne.spectral_radius``, the O(d^3) step that the former bracket took many times), for scale.

Run: ``python benchmarks/bench_thresholds.py [--quick] [--momentum] [--alpha 1.5] [--repeat 3]``.
"""
from __future__ import annotations

import argparse
import itertools
import time
from functools import partial

import numpy as np

from theory import HeavyBall, derive
from theory.thresholds import Spectrum


def best_time(fn, repeat):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(ds=(10**3, 10**4, 10**5, 10**6), alpha=1.5, repeat=3, momentum=None):
    """One row per d: dict with d, gamma_c, seconds, secular_seconds, sort_seconds, ratios, dense_seconds."""
    rec = derive(HeavyBall()) if momentum is not None else derive()
    hyper = {} if momentum is None else {"momentum": momentum}
    rec.critical_learning_rate([1.0, 0.5], **hyper)     # compile once, outside the timings
    rows = []
    for d in ds:
        lam = np.arange(1, d + 1, dtype=float) ** -alpha
        shuffled = np.random.default_rng(0).permutation(lam)
        spec = Spectrum(rec, lam, 1, hyper)
        t_sec, _ = best_time(partial(spec.secular_one, 0.1), max(repeat, 5))
        t_sort, _ = best_time(partial(np.sort, shuffled), max(repeat, 5))
        t, gc = best_time(partial(rec.critical_learning_rate, lam, **hyper), repeat)
        dense = None
        if d == ds[0] and d * len(rec.moments) <= 1000:
            dense, _ = best_time(partial(rec.spectral_radius, lam, 0.5 * gc, **hyper), 1)
        rows.append({"d": d, "gamma_c": gc, "seconds": t, "secular_seconds": t_sec, "sort_seconds": t_sort,
                     "per_secular": t / t_sec, "per_sort": t / t_sort, "dense_seconds": dense})
    for prev, row in itertools.pairwise(rows):
        row["growth"] = row["seconds"] / prev["seconds"]
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="d = 10^3 .. 10^5 only")
    ap.add_argument("--momentum", action="store_true", help="heavy ball, momentum 0.5 (d <= 10^5)")
    ap.add_argument("--alpha", type=float, default=1.5)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    top = 5 if (args.quick or args.momentum) else 6
    ds = [10**k for k in range(3, top + 1)]
    rows = run(ds, args.alpha, args.repeat, 0.5 if args.momentum else None)
    name = "heavy ball (momentum 0.5)" if args.momentum else "SGD"
    print(f"critical learning rate, {name}, lambda_i = i^-{args.alpha}, best of {args.repeat}")
    print(f"{'d':>9} {'gamma_c':>19} {'time [s]':>10} {'/ F(1) eval':>12} {'/ sort':>9} "
          f"{'growth per x10':>15} {'dense rho [s]':>14}")
    for r in rows:
        growth = f"{r['growth']:.1f}" if "growth" in r else "-"
        dense = f"{r['dense_seconds']:.3g}" if r["dense_seconds"] is not None else "-"
        print(f"{r['d']:>9} {r['gamma_c']:>19.16g} {r['seconds']:>10.3g} {r['per_secular']:>12.1f} "
              f"{r['per_sort']:>9.1f} {growth:>15} {dense:>14}")
    print("growth per x10: t(d)/t(d/10) (10 = linear in d, 1000 = d^3)")


if __name__ == "__main__":
    main()
