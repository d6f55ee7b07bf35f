r"""What each ``--budget`` buys: the relative error each claim's Monte Carlo comparisons detect, and its CPU.

For every Monte Carlo verdict (kinds "series" and "scalar": a theory value, a Monte Carlo mean and its
standard error, tested at level alpha) the *detectable relative error* is the relative shift of the theory
that the two-sided test rejects with probability 90%, in the normal approximation the test itself uses:

.. math:: \delta_{90} = \bigl(z_{1-\alpha'/2} + z_{0.9}\bigr)\, \frac{\mathrm{se}}{|\text{theory}|},

with alpha' the smallest alpha among the verdict's members (a series verdict splits its alpha between
its statistics). Per claim the table gives the smallest and the largest delta_90 over its comparisons
(the best and the worst resolved), their number, and the claim's CPU seconds (``time.process_time`` of
the process running it, with single-threaded BLAS as in ``python -m verify run``; exact and numeric
checks have no delta).

Run: ``python benchmarks/budget_table.py [--budgets quick standard thorough] [ids ...]`` (runs the claims
serially in this process), or ``python benchmarks/budget_table.py --from-json run.json ...`` on the JSON of
``python -m verify run --json`` (CPU is then not available: the wall seconds are printed instead).
"""
from __future__ import annotations

import argparse
import json
import math
import time

from scipy.stats import norm


def detectable(verdict: dict, power: float = 0.9):
    """delta_90 of one verdict dict (``Verdict.to_dict()``), or None for exact/numeric/growth checks."""
    if verdict.get("kind") not in ("series", "scalar"):
        return None
    se, theory = verdict.get("standard_error"), verdict.get("theory")
    if se is None or theory is None or not math.isfinite(se) or not theory:
        return None
    alphas = [m["alpha"] for m in verdict.get("members") or [] if m.get("alpha")] or [verdict["alpha"]]
    alpha = min(alphas)
    if not alpha > 0:
        return None
    return (norm.isf(alpha / 2) + norm.ppf(power)) * se / abs(theory)


def summarise(result: dict) -> dict:
    deltas = [x for x in (detectable(v) for v in result["verdicts"]) if x is not None]
    return {"id": result["id"], "passed": result["passed"], "comparisons": len(deltas),
                "best": min(deltas) if deltas else None, "worst": max(deltas) if deltas else None}


def run(ids, budgets, seed=0):
    from threadpoolctl import threadpool_limits

    from verify.claims import CLAIMS, select
    claims = select(ids) if ids else list(CLAIMS.values())
    rows = []
    for budget in budgets:
        for claim in claims:
            t0 = time.process_time()
            with threadpool_limits(limits=1, user_api="blas"):   # as in the main job (verify.runner)
                res = claim.run(budget, seed)
            row = summarise(res.to_dict())
            row.update(budget=budget, cpu=time.process_time() - t0)
            rows.append(row)
            print(_line(row), flush=True)
    return rows


def _fmt(x):
    return "-" if x is None else f"{x:.2%}" if x >= 1e-3 else f"{x:.1e}"


def _line(r):
    return (f"| {r['id']} | {r['budget']} | {r['comparisons']} | {_fmt(r['best'])} | {_fmt(r['worst'])} "
            f"| {r['cpu']:.1f} | {'pass' if r['passed'] else 'FAIL'} |")


HEADER = ("| claim | budget | Monte Carlo comparisons | smallest detectable relative error (90% power) "
          "| largest | CPU s | verdict |\n|---|---|---|---|---|---|---|")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="*", help="claim ids or prefixes (default: all)")
    ap.add_argument("--budgets", nargs="+", default=["quick", "standard"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--from-json", nargs="+", metavar="PATH", help="summarise `verify run --json` files instead")
    args = ap.parse_args()
    print(HEADER)
    if args.from_json:
        for path in args.from_json:
            with open(path) as fh:
                data = json.load(fh)
            for res in data["claims"]:
                row = summarise(res)
                row.update(budget=data["budget"], cpu=res.get("seconds", float("nan")))
                print(_line(row).replace(f"| {row['cpu']:.1f} |", f"| {row['cpu']:.1f} (wall) |"))
        return
    run(args.ids, args.budgets, args.seed)


if __name__ == "__main__":
    main()
