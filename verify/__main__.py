"""Command line: ``python -m verify list`` and ``python -m verify run``."""
from __future__ import annotations

import argparse
import json
import sys

from .claims import BUDGETS, CLAIMS, select
from .runner import run_claims


def _fmt(x) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "" if x != x else f"{x:.6g}"


def _table(results, width: int = 64) -> str:
    """The results table: one line per check (the check's text wrapped at ``width``), with its
    kind, the theory and Monte Carlo numbers, the statistic in the kind's unit, and the verdict."""
    import textwrap
    head = ("claim", "check", "kind", "theory", "Monte Carlo +- s.e.", "statistic", "verdict")
    lines = []
    for r in results:
        if r.skipped:
            lines.append((r.id, textwrap.wrap(r.skipped, width) or [""], "", "", "", "", "skipped"))
            continue
        for j, row in enumerate(r.rows):
            mc = _fmt(row.monte_carlo)
            if mc and _fmt(row.standard_error) and row.standard_error > 0:
                mc += f" +- {row.standard_error:.2g}"
            stat = f"{row.unit} = {row.statistic:.3g}" if row.statistic == row.statistic else ""
            lines.append(((r.id if j == 0 else ""), textwrap.wrap(row.check, width) or [""], row.kind,
                          _fmt(row.theory), mc, stat, row.verdict))
    flat = []
    for claim, check, *rest in lines:
        flat.append((claim, check[0], *rest))
        flat.extend(("", more, "", "", "", "", "") for more in check[1:])
    widths = [max(len(str(x[i])) for x in [head] + flat) for i in range(len(head))]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(head, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    for x in flat:
        out.append("  ".join(str(v).ljust(w) for v, w in zip(x, widths)).rstrip())
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m verify", description=(
        "Check derived second-moment dynamics of stochastic optimisation against Monte Carlo."))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the claims: id, title, source")
    run = sub.add_parser("run", help="derive, simulate and compare the claims")
    run.add_argument("ids", nargs="*", help="claim ids or dot-separated prefixes (default: all)")
    run.add_argument("--budget", choices=sorted(BUDGETS), default="standard",
                     help="Monte Carlo effort (default: standard)")
    run.add_argument("--seed", type=int, default=0, help="root seed of every random stream (default: 0)")
    run.add_argument("--json", metavar="PATH", help="write every number and the seed as JSON")
    run.add_argument("--quiet", action="store_true", help="print only the summary line")
    run.add_argument("--results", metavar="DIR", default=".sgdcheck-results",
                     help="directory where each finished claim is written (default: .sgdcheck-results)")
    run.add_argument("--resume", action="store_true",
                     help="reuse finished results in --results DIR; recompute nothing that finished")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the claims on a Dask cluster (dask.distributed scheduler address)")
    run.add_argument("--serial", action="store_true", help="run the claims one after another in this process")
    run.add_argument("--plot", metavar="DIR", help="write a figure per claim (needs the 'plots' extra)")
    cal = sub.add_parser("calibrate", help="null studies and power of the default test over the catalogue's regimes")
    cal.add_argument("--runs", type=int, default=1800, help="null experiments per regime (default: 1800)")
    cal.add_argument("--replicas", type=int, default=1000, help="replicas per null experiment (default: 1000)")
    cal.add_argument("--regimes", nargs="*", help="regime names (default: all)")
    cal.add_argument("--power-runs", type=int, default=40,
                     help="runs per (planted error, replicas) point of the power table; 0 skips it (default: 40)")
    cal.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    cal.add_argument("--output", metavar="DIR", help="write calibration.md (and power.png with matplotlib) here")
    cal.add_argument("--json", metavar="PATH", help="write every number as JSON")
    args = parser.parse_args(argv)

    if args.command == "calibrate":
        return _calibrate(parser, args)

    if args.command == "list":
        for c in CLAIMS.values():
            print(f"{c.id}\t{c.title}\t{c.source}")
        return 0

    try:
        claims = select(args.ids)
    except ValueError as exc:
        parser.error(str(exc))
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer; got {args.seed}")
    progress = None
    if sys.stderr.isatty() and not args.quiet:
        from tqdm import tqdm
        progress = tqdm(total=len(claims), unit="claim", file=sys.stderr)
    executor, client = ("serial" if args.serial else None), None
    if args.scheduler:
        try:
            from dask.distributed import Client
        except ImportError:
            parser.error("--scheduler needs Dask: pip install 'sgdcheck[dask]'")
        client = Client(args.scheduler)
        executor = client
    try:
        results = run_claims(claims, args.budget, args.seed, executor=executor, results_dir=args.results,
                             resume=args.resume,
                             on_result=(lambda r: progress.update(1)) if progress is not None else None)
    finally:
        if progress is not None:
            progress.close()
        if client is not None:
            client.close()
    failed = [r.id for r in results if not r.passed and not r.skipped]
    if not args.quiet:
        print(_table(results))
        print()
    print(f"{len(results) - len(failed)} of {len(results)} claims passed "
          f"(budget {args.budget}, seed {args.seed}, family-wise alpha per claim "
          f"{', '.join(sorted({f'{r.alpha:g}' for r in results}))})"
          + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    if args.plot:
        try:
            from .plots import plot_results
        except ImportError:
            parser.error("--plot needs matplotlib: pip install 'sgdcheck[plots]'")
        paths = plot_results(results, args.plot)
        if any(r.id.startswith("momentum.") for r in results):
            from .plots import plot_heavy_ball_stable_region
            paths.append(plot_heavy_ball_stable_region(args.plot))
        for path in paths:
            if not args.quiet:
                print(f"wrote {path}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"budget": args.budget, "seed": args.seed,
                       "claims": [r.to_dict() for r in results]}, fh, indent=2, default=float)
    return 0 if not failed else 1


def _calibrate(parser, args) -> int:
    import os
    from pathlib import Path

    from . import calibrate as cb
    if args.runs < 10 or args.replicas < 10:
        parser.error(f"--runs and --replicas must be integers >= 10; got {args.runs}, {args.replicas}")
    if args.power_runs < 0:
        parser.error(f"--power-runs must be >= 0; got {args.power_runs}")
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer; got {args.seed}")
    names = [r.name for r in cb.REGIMES]
    unknown = set(args.regimes or []) - set(names)
    if unknown:
        parser.error(f"unknown regime(s) {sorted(unknown)}; known: {', '.join(names)}")
    out = Path(args.output) if args.output else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for target in ([out] if out else []) + ([Path(args.json).resolve().parent] if args.json else []):
        if not target.is_dir() or not os.access(target, os.W_OK):
            parser.error(f"cannot write to the directory {target}")
    regimes = [r for r in cb.REGIMES if not args.regimes or r.name in args.regimes]
    progress = None
    total = len(regimes) * args.runs + (3 * args.power_runs if args.power_runs else 0)
    if sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=total, unit="run", file=sys.stderr)
        progress = bar.update
    results = []
    try:
        for j, regime in enumerate(regimes):
            results.append(cb.null_study(regime, runs=args.runs, replicas=args.replicas, seed=(args.seed, j),
                                         progress=progress))
        power = cb.power_study(runs=args.power_runs, seed=args.seed, progress=progress) if args.power_runs else None
    finally:
        if progress is not None:
            bar.close()
    doubling = ", ".join(f"{cb.doubling_power(args.runs, a):.2f} at alpha = {a:g}" for a in cb.ALPHAS)
    text = ["Null studies: false failures of verify.compare with the true recursion over "
            f"{args.runs} independent runs of {args.replicas} replicas per regime. Limit: the 99% quantile "
            "of Binomial(runs, alpha). Probability that a test with rate 2 alpha would exceed it: "
            f"{doubling}.", "", cb.format_null(results)]
    if power:
        text += ["", f"Power at alpha = {power['alpha']:g} against a planted error in the coupling term "
                 f"({power['setting']}; {power['runs']} runs per cell):", "", cb.format_power(power)]
    print("\n".join(text))
    if out is not None:
        (out / "calibration.md").write_text("\n".join(text) + "\n")
        if power:
            try:
                cb.plot_power(power, out / "power.png")
            except ImportError:
                print("matplotlib is not installed: no power.png (pip install 'sgdcheck[plots]')", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"null": results, "power": power}, fh, indent=2, default=float)
    ok = all(row["consistent"] for r in results for row in r["rows"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
