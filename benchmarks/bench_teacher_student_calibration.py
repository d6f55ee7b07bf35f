"""Null study of the teacher-student claims at the quick budget: how often a claim fails when its theory
is right, measured over seeds.

Run from the repository root::

    python benchmarks/bench_teacher_student_calibration.py [--seeds 100] [--first 1000] [--claims ...]

For each claim ``teacher_student.*`` and seed s = first, ..., first + seeds - 1 it runs the claim at the
quick budget and records its family-wise p-value (``ClaimResult.p_value``: weighted Bonferroni over the
scalar comparisons; a failing growth/exact check counts as p = 0) and the equivalent normal deviates z of
its scalar checks. Prints, per claim, the false failures at alpha = 0.05, 0.01 and 0.001 with 95 %
Clopper-Pearson intervals and the Binomial 99 % limit (:func:`verify.calibrate.binomial_limit`), the
claim-level failures at its own alpha = 1e-6, and the mean and mean square of the signed z (N(0, 1): 0
and 1), and the CPU seconds. Exits non-zero if a count exceeds its limit. A claim's level 1e-6 cannot be
measured directly; the rates at 0.05-0.001 test the same statistics further out in their bulk.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verify.calibrate import _clopper_pearson, binomial_limit
from verify.claims import CLAIMS

ALPHAS = (0.05, 0.01, 0.001)


def study(claim_id: str, seeds: int, first: int):
    ps, zs, failed, cpu = [], [], 0, 0.0
    for s in range(first, first + seeds):
        t0 = time.process_time()
        r = CLAIMS[claim_id].run("quick", seed=s)
        cpu += time.process_time() - t0
        ps.append(r.p_value)
        failed += not r.passed
        zs += [np.sign(v.monte_carlo - v.theory) * v.statistic for v in r.verdicts if v.kind == "scalar"]
    return np.array(ps), np.array(zs), failed, cpu


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--first", type=int, default=1000)
    ap.add_argument("--claims", nargs="*", default=sorted(c for c in CLAIMS if c.startswith("teacher_student.")))
    args = ap.parse_args(argv)
    bad = False
    print("| claim | seeds | fails at 1e-6 | alpha | false failures | 95 % interval | limit | mean z | mean z^2 | CPU s/run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for cid in args.claims:
        ps, zs, failed, cpu = study(cid, args.seeds, args.first)
        for a in ALPHAS:
            k = int(np.sum(ps <= a))
            lo, hi = _clopper_pearson(k, len(ps))
            lim = binomial_limit(len(ps), a)
            bad |= k > lim
            print(f"| {cid} | {len(ps)} | {failed} | {a:g} | {k} | {lo:.3f}-{hi:.3f} | {lim} | "
                  f"{zs.mean():.3f} | {np.mean(zs**2):.3f} | {cpu / len(ps):.2f} |", flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
