"""Command line: ``python -m verify list``, ``python -m verify run`` and ``python -m verify calibrate``.

Exit status of ``run``: 0 every claim passed; 1 a claim failed; 2 a usage or environment
error, found before any work starts; 130 interrupted by Ctrl-C (finished claims are kept
in the results directory and ``--resume`` continues).
"""
from __future__ import annotations

import argparse
import gc
import os
import shlex
import signal
import sys
import threading
import warnings
from pathlib import Path

if __name__ == "__main__":
    # Start-up of the program: the imports below create about a million objects that live until the
    # end and almost no garbage, yet trigger the cyclic collector's full collections (0.3 s of CPU,
    # measured); it is paused for them and the objects are frozen after them (see `program`).
    gc.disable()

from . import report
from .claims import BUDGETS, CLAIMS, select
from .runner import Interrupted, run_claims

#: exit statuses of ``python -m verify run``
EXIT_PASSED, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

EXIT_HELP = ("exit status: 0 every claim passed; 1 a claim failed; 2 usage or environment error "
             "(checked before any work starts); 130 interrupted by Ctrl-C (finished claims are kept; "
             "rerun with --resume)")

#: figure formats of ``--plot-format``
PLOT_FORMATS = ("png", "pdf", "svg")


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def _writable_dir(parser, path, option: str, create: bool) -> Path:
    """``path`` as a directory this process can write to (created if ``create``); else exit 2."""
    d = Path(path)
    if create:
        try:
            d.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            parser.error(f"{option} {path}: cannot create the directory ({exc.strerror or exc})")
    if not d.is_dir():
        parser.error(f"{option} {path}: the directory does not exist" if not d.exists()
                     else f"{option} {path}: not a directory")
    if not os.access(d, os.W_OK | os.X_OK):
        parser.error(f"{option} {path}: the directory is not writable")
    return d


def _writable_file(parser, path, option: str) -> None:
    """Exit 2 unless ``path`` can be written: its directory exists and is writable, and it is not a
    directory or a read-only file."""
    f = Path(path)
    if f.is_dir():
        parser.error(f"{option} {path}: is a directory; give a file name")
    _writable_dir(parser, f.resolve().parent, f"{option} {path}: directory", create=False)
    if f.exists() and not os.access(f, os.W_OK):
        parser.error(f"{option} {path}: the file is not writable")


def _connect(parser, address: str, timeout: float):
    """A dask.distributed Client connected to ``address`` within ``timeout`` seconds; else exit 2."""
    try:
        from dask.distributed import Client
    except ImportError:
        parser.error("--scheduler needs dask.distributed, which is not installed: pip install 'sgdcheck[dask]'")
    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError, TypeError) as exc:
        parser.error(f"--scheduler {address}: cannot reach the Dask scheduler within {timeout:g} s "
                     f"(--scheduler-timeout); {exc}")


def _preflight(parser, args) -> list:
    """Every check that can be made before any work: claim ids, seed, output paths, extras,
    the scheduler. Returns the selected claims; exits with status 2 on the first problem."""
    try:
        claims = select(args.ids)
    except ValueError as exc:
        parser.error(str(exc))
    if args.seed < 0:
        parser.error(f"--seed must be a non-negative integer; got {args.seed}")
    if args.scheduler and args.serial:
        parser.error("--serial and --scheduler exclude each other")
    if not args.scheduler_timeout > 0:
        parser.error(f"--scheduler-timeout must be > 0 seconds; got {args.scheduler_timeout:g}")
    if args.width < 40:
        parser.error(f"--width must be at least 40 columns; got {args.width}")
    formats = [f.strip().lower() for f in args.plot_format.split(",") if f.strip()]
    bad = [f for f in formats if f not in PLOT_FORMATS]
    if bad or not formats:
        parser.error(f"--plot-format must be a comma-separated list of {', '.join(PLOT_FORMATS)}; "
                     f"got {args.plot_format!r}")
    args.plot_format = formats
    _writable_dir(parser, args.results, "--results", create=True)
    if args.json:
        _writable_file(parser, args.json, "--json")
    if args.plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib, which is not installed: pip install 'sgdcheck[plots]'")
        _writable_dir(parser, args.plot, "--plot", create=True)
    return claims


def _resume_command(argv) -> str:
    argv = list(argv)
    if "--resume" not in argv:
        argv.append("--resume")
    return "python -m verify " + " ".join(shlex.quote(a) for a in argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="python -m verify", description=(
        "Check derived second-moment dynamics of stochastic optimisation against Monte Carlo."))
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the claims: id, title, source")
    run = sub.add_parser("run", help="derive, simulate and compare the claims", epilog=EXIT_HELP)
    run.add_argument("ids", nargs="*", help="claim ids or dot-separated prefixes (default: all)")
    run.add_argument("--budget", choices=sorted(BUDGETS), default="standard",
                     help="Monte Carlo effort (default: standard)")
    run.add_argument("--seed", type=int, default=0, help="root seed of every random stream (default: 0)")
    run.add_argument("--json", metavar="PATH",
                     help="write every number, the seed and the library versions as strict JSON "
                          "(NaN as null, infinities as \"Infinity\")")
    run.add_argument("--format", choices=report.FORMATS, default="text",
                     help="what to print: the text table, or json, csv or markdown on stdout with the "
                          "summary line on stderr (default: text)")
    run.add_argument("--wide", action="store_true", help="text table: one line per check, no wrapping")
    run.add_argument("--width", type=int, default=100, help="text table: line width (default: 100)")
    run.add_argument("--quiet", action="store_true", help="print only the summary line")
    run.add_argument("--results", metavar="DIR", default=".sgdcheck-results",
                     help="directory where each finished claim is written (default: .sgdcheck-results)")
    run.add_argument("--resume", action="store_true",
                     help="reuse finished results in --results DIR; recompute nothing that finished "
                          "(an unreadable results file is named, renamed to *.corrupt and recomputed)")
    run.add_argument("--scheduler", metavar="ADDRESS",
                     help="run the claims on a Dask cluster (dask.distributed scheduler address)")
    run.add_argument("--scheduler-timeout", metavar="SECONDS", type=float, default=10.0,
                     help="give up connecting to --scheduler after this long (default: 10)")
    run.add_argument("--serial", action="store_true", help="run the claims one after another in this process")
    run.add_argument("--plot", metavar="DIR", help="write a figure per claim (needs the 'plots' extra)")
    run.add_argument("--plot-format", metavar="EXT[,EXT]", default="png,pdf",
                     help=f"figure formats, comma-separated from {', '.join(PLOT_FORMATS)} (default: png,pdf)")
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

    claims = _preflight(parser, args)
    client = _connect(parser, args.scheduler, args.scheduler_timeout) if args.scheduler else None
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main_thread else None
    if main_thread:
        # Ctrl-C and `kill -INT` stop the run even when started with SIGINT ignored (e.g. `cmd &` in a script)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return _run(args, argv, claims, client)
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)


def _run(args, argv, claims, client) -> int:
    progress = None
    if sys.stderr.isatty() and not args.quiet:
        from tqdm import tqdm
        progress = tqdm(total=len(claims), unit="claim", file=sys.stderr)
    executor = client if client is not None else ("serial" if args.serial else None)
    try:
        results = run_claims(claims, args.budget, args.seed, executor=executor, results_dir=args.results,
                             resume=args.resume,
                             on_result=(lambda r: progress.update(1)) if progress is not None else None)
    except Interrupted as stop:
        if progress is not None:
            progress.close()   # before the message, so the bar does not overwrite it
        print(f"\ninterrupted: {len(stop.finished)} of {len(claims)} claims had finished; they are kept in "
              f"{args.results}/. Resume with:\n  {_resume_command(argv)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if progress is not None:
            progress.close()
        if client is not None:
            client.close()
    failed = [r.id for r in results if not r.passed and not r.skipped]
    summary = (f"{len(results) - len(failed)} of {len(results)} claims passed "
               f"(budget {args.budget}, seed {args.seed}, family-wise alpha per claim "
               f"{', '.join(sorted({f'{r.alpha:g}' for r in results}))})"
               + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    text = args.format == "text"
    if not args.quiet or not text:
        print({"text": lambda: report.table(results, width=args.width, wide=args.wide,
                                            unicode=_unicode(sys.stdout)) + "\n",
               "json": lambda: report.dumps(report.document(results, args.budget, args.seed)),
               "csv": lambda: report.csv_text(results).rstrip("\n"),
               "markdown": lambda: report.markdown(results)}[args.format]())
    print(summary, file=sys.stdout if text else sys.stderr)
    if args.plot:
        from .plots import plot_results
        for path in plot_results(results, args.plot, formats=args.plot_format):
            if not args.quiet:
                print(f"wrote {path}", file=sys.stdout if text else sys.stderr)
    if args.json:
        Path(args.json).write_text(report.dumps(report.document(results, args.budget, args.seed)) + "\n")
    return EXIT_FAILED if failed else EXIT_PASSED


def _unicode(stream) -> bool:
    try:
        "±".encode(getattr(stream, "encoding", None) or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False


def _calibrate(parser, args) -> int:
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
    text = [("Null studies: false failures of verify.compare with the true recursion over "
            f"{args.runs} independent runs of {args.replicas} replicas per regime. Limit: the 99% quantile "
            "of Binomial(runs, alpha). Probability that a test with rate 2 alpha would exceed it: "
            f"{doubling}."), "", cb.format_null(results)]
    if power:
        text += ["", (f"Power at alpha = {power['alpha']:g} against a planted error in the coupling term "
                 f"({power['setting']}; {power['runs']} runs per cell):"), "", cb.format_power(power)]
    print("\n".join(text))
    if out is not None:
        (out / "calibration.md").write_text("\n".join(text) + "\n")
        if power:
            try:
                cb.plot_power(power, out / "power.png")
            except ImportError:
                print("matplotlib is not installed: no power.png (pip install 'sgdcheck[plots]')", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(report.dumps({"versions": report.versions(), "null": results,
                                                 "power": power}) + "\n")
    ok = all(row["consistent"] for r in results for row in r["rows"])
    return 0 if ok else 1


def program(argv=None) -> int:
    """``python -m verify``: :func:`main` in a process of its own, with the garbage collector kept off
    what lives until the end.

    Called after the start-up imports (which this module runs with the collector paused): moves every
    object alive then into the collector's permanent generation (:func:`gc.freeze`) and re-enables it,
    so its collections during the run traverse only what the run allocates; and freezes again before
    returning, so the interpreter's exit does not traverse the whole heap either (measured: the exit
    of the main job's parent cost 0.3-0.6 s of CPU, almost all of it full collections at shutdown).
    Returns the exit status of :func:`main`. For a process that exits right after it; an embedding
    program that goes on should call :func:`main`.
    """
    gc.freeze()
    gc.enable()
    try:
        return main(argv)
    finally:
        gc.freeze()


if __name__ == "__main__":
    try:
        sys.exit(program())
    except BrokenPipeError:  # e.g. `python -m verify run | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_FAILED)
