"""Does ``check_recursion`` reject the README's wrong recursion, and accept the right one, for every seed?

Run from the repository root::

    python benchmarks/check_recursion_seeds.py [--seeds 200] [--start 0] [--jobs 2] [--json PATH]

For each seed in ``start .. start + seeds - 1``, ``check_recursion`` is called at its default
budget (examples, steps, replicas, alpha = 1e-6, shrinking on) with

* the right recursion (README): it must pass;
* the wrong one, whose coupling term misses its 1/B (so it is exact at B = 1 and wrong at
  B >= 2): it must fail.

Prints the counts, the time per call (wall clock and CPU time of the worker process, which
includes its threads and is less sensitive to other load on a shared machine; for the wrong
recursion it includes the shrinking runs), what the reported counterexamples look like and every
seed that misbehaves; the exit status is 1
if any seed misbehaves. ``--jobs`` processes share the seeds (each ``simulate`` call also uses
threads over chunks of replicas).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from theory.symbols import B, S, gamma, kappa, lam, m, sigma2  # noqa: E402
from verify.check import check_recursion  # noqa: E402

RIGHT = (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + (kappa - 2) / B)) * m + gamma**2 * lam / B * (S + sigma2)
WRONG = (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + (kappa - 2) / B)) * m + gamma**2 * lam * (S + sigma2)


def one_seed(seed: int) -> dict:
    t0, c0 = time.perf_counter(), time.process_time()
    right = check_recursion(RIGHT, seed=seed)
    t1, c1 = time.perf_counter(), time.process_time()
    wrong = check_recursion(WRONG, seed=seed)
    t2, c2 = time.perf_counter(), time.process_time()
    out = dict(seed=seed, right_passed=bool(right.passed), right_p=right.p_value, right_seconds=t1 - t0,
               right_cpu_seconds=c1 - c0, wrong_passed=bool(wrong.passed), wrong_p=wrong.p_value,
               wrong_seconds=t2 - t1, wrong_cpu_seconds=c2 - c1)
    if not wrong.passed:
        drawn = wrong.parameters["drawn"]
        out.update(drawn_d=len(drawn["eigenvalues"]), drawn_batch=drawn["batch"], drawn_data=drawn["data"],
                   shrunk_d=len(wrong.parameters["eigenvalues"]), shrunk_batch=wrong.parameters["batch"],
                   shrunk_data=wrong.parameters["data"], simplifications=wrong.parameters["simplifications"])
    if not right.passed:
        out.update(right_summary=right.summary())
    return out


def _stats(xs):
    return f"median {statistics.median(xs):.2f} s, mean {statistics.mean(xs):.2f} s, max {max(xs):.2f} s"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200, help="number of consecutive seeds (default 200)")
    ap.add_argument("--start", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--json", help="write the per-seed records here")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.start < 0 or args.jobs < 1:
        ap.error("--seeds and --jobs must be >= 1, --start >= 0")
    seeds = range(args.start, args.start + args.seeds)
    t0 = time.perf_counter()
    records = []
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        for k, rec in enumerate(pool.map(one_seed, seeds), 1):
            records.append(rec)
            bad = (not rec["right_passed"]) or rec["wrong_passed"]
            if bad or k % 10 == 0:
                print(f"[{k}/{args.seeds}] seed {rec['seed']}: right {'passed' if rec['right_passed'] else 'FAILED'}"
                      f", wrong {'PASSED' if rec['wrong_passed'] else 'rejected'}", flush=True)
    wall = time.perf_counter() - t0
    right_ok = sum(r["right_passed"] for r in records)
    wrong_rej = sum(not r["wrong_passed"] for r in records)
    bad = [r["seed"] for r in records if not r["right_passed"] or r["wrong_passed"]]
    print(f"\nseeds {args.start}..{args.start + args.seeds - 1} ({args.seeds}), {args.jobs} process(es), "
          f"wall {wall / 60:.1f} min")
    print(f"right recursion accepted: {right_ok}/{len(records)}")
    print(f"wrong recursion rejected: {wrong_rej}/{len(records)}")
    for which in ("right", "wrong"):
        print(f"time per call, {which}: wall {_stats([r[which + '_seconds'] for r in records])}; "
              f"CPU {_stats([r[which + '_cpu_seconds'] for r in records])}")
    rejected = [r for r in records if not r["wrong_passed"]]
    if rejected:
        def share(pred):
            return f"{sum(map(pred, rejected))}/{len(rejected)}"
        print(f"wrong, reported counterexample: d = 2 in {share(lambda r: r['shrunk_d'] == 2)}, "
              f"B = 2 in {share(lambda r: r['shrunk_batch'] == 2)}, "
              f"Gaussian in {share(lambda r: r['shrunk_data'] == 'Gaussian()')}; "
              f"drawn failing example had B >= 2 in {share(lambda r: r['drawn_batch'] >= 2)}")
    print("misbehaving seeds:", bad if bad else "none")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
