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

Run: ``python benchmarks/budget_table.py [ids ...] [--budgets quick standard thorough]`` (runs the claims
serially in this process), or ``python benchmarks/budget_table.py --from-json run.json ...`` on the JSON of
``python -m verify run --json`` (CPU is then not available: the wall seconds are printed instead).

``python benchmarks/budget_table.py --main-job [ids ...] [--budgets standard]`` measures the main job as it
runs: ``python -m verify run`` in a subprocess (its own process pool, fork, two workers on two cores), CPU
= user + system time of the subprocess and everything it waited for (``resource.getrusage(RUSAGE_CHILDREN)``,
what ``/usr/bin/time`` reports), first with an empty derivation cache (``SGDCHECK_CACHE_DIR`` a fresh
directory: "cold"), then again with the cache that run filled ("warm"). ``--cold-numba`` also gives the
first run an empty numba cache (``NUMBA_CACHE_DIR``: the fused kernel is compiled, as on a fresh
installation). The sum of the per-claim CPU of the serial table is *not* the main job's CPU: the job also
imports, starts workers and loads or derives per process what a serial run shares.

``--per-worker`` (with ``--main-job``) also says where the job's CPU goes: the subprocess runs the same
command line (``verify.__main__.main``) with ``verify.runner._run_one`` wrapped to log, per claim, the
worker's process id and its user and system CPU and minor page faults (``resource.getrusage``, threads
included), and the parent's own CPU at the end; the table gives the parent, each worker (claims, families,
CPU, page faults) and the sum of the claims' CPU, and splits the rest: the CPU of derivations missing from
the disk cache inside the claims (``theory.diskcache``'s locked block, outermost only) and of its loads
(``theory.diskcache._read`` outside a derivation), the parent's
preparation of the fork (``verify.runner._prepare_fork``: the kernel's compile or load), the workers' own
CPU outside their claims (their totals as reaped by the parent, ``RUSAGE_CHILDREN``) and the parent's
interpreter exit. The subprocess starts as ``python -m verify`` does (``verify.__main__.program``). ``--serial`` measures ``python -m verify run --serial``
(everything in one process) instead, for the same accounting of a serial run.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import subprocess
import sys
import tempfile
import time

# measure the source tree this script belongs to (a worktree), not whichever copy is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def detectable(verdict: dict, power: float = 0.9):
    """delta_90 of one verdict dict (``Verdict.to_dict()``), or None for exact/numeric/growth checks."""
    from scipy.stats import norm
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


def _log_claims(log: str, argv) -> int:
    """Run ``python -m verify`` with ``argv`` in this process, logging one JSON line per claim to ``log``
    from whichever process ran it (see ``--per-worker``), and the parent's CPU at the end."""
    import gc
    gc.disable()   # as `python -m verify` starts (verify.__main__): its imports with the collector paused
    import contextlib

    from theory import diskcache
    from verify import __main__ as cli
    from verify import runner
    program = getattr(cli, "program", None)
    if program is None:   # a tree from before verify.__main__.program: its main, collector on as it was
        gc.enable()
        program = cli.main
    inner, prepare, exclusive, read = runner._run_one, runner._prepare_fork, diskcache._exclusive, diskcache._read
    spent = {"derive": 0.0, "depth": 0, "prepare": 0.0, "load": 0.0}

    def _read(path):
        """A disk-cache read (unpickling an entry) outside a derivation: its CPU is "load"."""
        t0 = time.process_time()
        try:
            return read(path)
        finally:
            if not spent["depth"]:
                spent["load"] += time.process_time() - t0

    @contextlib.contextmanager
    def _exclusive(lock):
        """The block of a derivation missing from the disk cache (outermost only): its CPU is "derive"."""
        with exclusive(lock):
            spent["depth"] += 1
            t0 = time.process_time()
            try:
                yield
            finally:
                spent["depth"] -= 1
                if not spent["depth"]:
                    spent["derive"] += time.process_time() - t0

    def _prepare_fork():
        t0 = time.process_time()
        try:
            return prepare()
        finally:
            spent["prepare"] += time.process_time() - t0

    def _run_one(claim_id, budget, seed):
        r0, d0, l0 = resource.getrusage(resource.RUSAGE_SELF), spent["derive"], spent["load"]
        payload = inner(claim_id, budget, seed)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        with open(log, "a") as fh:
            fh.write(json.dumps({"pid": os.getpid(), "id": claim_id, "user": r1.ru_utime - r0.ru_utime,
                                 "system": r1.ru_stime - r0.ru_stime, "minflt": r1.ru_minflt - r0.ru_minflt,
                                 "derive": spent["derive"] - d0, "load": spent["load"] - l0}) + "\n")
        return payload
    # picklable by reference, and found under this name in the forked workers
    _run_one.__module__, _run_one.__qualname__ = inner.__module__, inner.__qualname__
    runner._run_one, runner._prepare_fork = _run_one, _prepare_fork
    diskcache._exclusive, diskcache._read = _exclusive, _read
    status = program(argv)
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(log, "a") as fh:
        fh.write(json.dumps({"parent": os.getpid(), "user": me.ru_utime, "system": me.ru_stime,
                             "minflt": me.ru_minflt, "children": kids.ru_utime + kids.ru_stime,
                             "prepare": spent["prepare"]}) + "\n")
    return status


def per_worker(log: str) -> dict:
    """Summary of a ``_log_claims`` log: the parent's CPU, per worker its claims, families, CPU and
    page faults, and the sum of the claims' CPU."""
    with open(log) as fh:
        records = [json.loads(line) for line in fh]
    parent = next((r for r in records if "parent" in r), None)
    workers: dict = {}
    for r in records:
        if "pid" in r:
            w = workers.setdefault(r["pid"], {"claims": 0, "families": set(), "user": 0.0, "system": 0.0,
                                              "minflt": 0, "derive": 0.0, "load": 0.0})
            w["claims"] += 1
            w["families"].add(r["id"].split(".", 1)[0])
            for k in ("user", "system", "minflt", "derive", "load"):
                w[k] += r.get(k, 0)
    serial = parent is not None and parent["parent"] in workers
    if serial:   # --serial: the claims ran in the parent
        w = workers[parent["parent"]]
        parent = dict(parent, user=parent["user"] - w["user"], system=parent["system"] - w["system"],
                      minflt=parent["minflt"] - w["minflt"])
    return {"parent": parent, "workers": list(workers.values()), "serial": serial,
            "claims_cpu": sum(w["user"] + w["system"] for w in workers.values()),
            "derive_cpu": sum(w["derive"] for w in workers.values()),
            "load_cpu": sum(w["load"] for w in workers.values())}


def main_job(ids=(), budget="standard", seed=0, cold_numba=False, command=None, caches=("cold", "warm"),
             workers=False, serial=False):
    """CPU of ``python -m verify run`` (``command``: its argument list, default the main job on ``ids``)
    with an empty and then a filled derivation cache (``caches``: "cold" and/or "warm"; "warm" alone uses
    the user's cache as it is). Returns one dict per run (cache "cold", "warm") with user, system and
    total CPU seconds, wall seconds, the exit status and the summary line; with ``workers`` also the
    per-worker accounting of :func:`per_worker` ("workers"). ``serial`` adds ``--serial``."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="sgdcheck-main-job-") as tmp:
        env = dict(os.environ)
        if "cold" in caches:
            env["SGDCHECK_CACHE_DIR"] = os.path.join(tmp, "derivations")
        if cold_numba:
            env["NUMBA_CACHE_DIR"] = os.path.join(tmp, "numba")
        for cache in caches:
            run = ["run", *ids, "--budget", budget, "--seed", str(seed), "--quiet", "--results",
                   os.path.join(tmp, f"results-{cache}"), *(["--serial"] if serial else [])]
            log = os.path.join(tmp, f"claims-{cache}.jsonl")
            argv = command or ([sys.executable, os.path.abspath(__file__), "--log-claims", log, "--", *run]
                               if workers else [sys.executable, "-m", "verify", *run])
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            done = subprocess.run(argv, check=False, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
            lines = [ln for ln in done.stdout.splitlines() if re.search(r"claims passed", ln)]
            rows.append({"cache": cache, "user": user, "system": system, "cpu": user + system, "wall": wall,
                         "status": done.returncode,
                         "summary": lines[-1] if lines else done.stderr.strip()[-300:]})
            if workers and os.path.exists(log):
                rows[-1]["workers"] = per_worker(log)
    return rows


def _main_job_table(rows, budget):
    out = ["| derivation cache | budget | user CPU s | system CPU s | total CPU s | wall s | exit status |",
           "|---|---|---|---|---|---|---|"]
    out += [f"| {r['cache']} | {budget} | {r['user']:.1f} | {r['system']:.1f} | {r['cpu']:.1f} | {r['wall']:.1f} "
            f"| {r['status']} |" for r in rows]
    out += [f"\n{r['cache']}: {r['summary']}" for r in rows]
    for r in rows:
        if "workers" not in r:
            continue
        acc = r["workers"]
        out += [f"\n{r['cache']}: where the CPU went",
                "| process | claims | families | user CPU s | system CPU s | minor page faults |",
                "|---|---|---|---|---|---|"]
        if acc["parent"]:
            p = acc["parent"]
            out.append(f"| parent (imports, preparation, scheduling) | | | {p['user']:.1f} | {p['system']:.1f} "
                       f"| {p['minflt']} |")
        for j, w in enumerate(acc["workers"]):
            who = "the same process (claims only)" if acc.get("serial") else f"worker {j + 1} (claims only)"
            out.append(f"| {who} | {w['claims']} | {len(w['families'])} | {w['user']:.1f} "
                       f"| {w['system']:.1f} | {w['minflt']} |")
        p = acc["parent"]
        rest = r["cpu"] - acc["claims_cpu"] - (p["user"] + p["system"] if p else 0)
        out.append(f"\nsum of the claims' CPU: {acc['claims_cpu']:.1f} s; job total {r['cpu']:.1f} s; "
                   f"outside the claims: {r['cpu'] - acc['claims_cpu']:.2f} s")
        if acc.get("derive_cpu") or (p and p.get("prepare")):
            out.append(f"in the claims, derivations missing from the disk cache: {acc.get('derive_cpu', 0):.2f} s, "
                       f"loads from it: {acc.get('load_cpu', 0):.2f} s; "
                       f"in the parent, preparing the fork (kernel compile or load): {(p or {}).get('prepare', 0):.2f} s")
        if acc.get("serial") or not p or "children" not in p:
            where = ("the process after its last line (exit)" if acc.get("serial")
                     else "workers outside their claims and the exits (start, waiting, exit)")
            out.append(f"{where}: {rest:.2f} s")
        else:   # the workers' own totals, reaped by the parent: what they spent outside the claims
            outside = p["children"] - acc["claims_cpu"]
            out.append(f"workers outside their claims (start, result pickling, exit): {outside:.2f} s; "
                       f"the parent after its last measurement (interpreter exit): {rest - outside:.2f} s")
    return "\n".join(out)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--log-claims":   # internal: the subprocess of --per-worker
        sys.exit(_log_claims(sys.argv[2], sys.argv[4:]))
    from verify.claims import BUDGETS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("ids", nargs="*", help="claim ids or prefixes (default: all)")
    ap.add_argument("--budgets", nargs="+", default=["quick", "standard"],
                    help=f"budgets ({', '.join(BUDGETS)}); give claim ids before this option")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--from-json", nargs="+", metavar="PATH", help="summarise `verify run --json` files instead")
    ap.add_argument("--main-job", action="store_true",
                    help="measure `python -m verify run` in a subprocess (cold and warm derivation cache)")
    ap.add_argument("--cold-numba", action="store_true", help="--main-job: an empty numba cache for the cold run")
    ap.add_argument("--caches", nargs="+", choices=("cold", "warm"), default=("cold", "warm"),
                    help="--main-job: which derivation caches to run with (default: cold, then warm)")
    ap.add_argument("--per-worker", action="store_true",
                    help="--main-job: CPU and page faults of the parent and of each worker, claims per worker")
    ap.add_argument("--serial", action="store_true", help="--main-job: measure `python -m verify run --serial`")
    args = ap.parse_args()
    bad = [b for b in args.budgets if b not in BUDGETS]
    if bad:
        ap.error(f"--budgets: {', '.join(map(repr, bad))} not a budget ({', '.join(BUDGETS)}); "
                 "give claim ids before --budgets")
    if args.seed < 0:
        ap.error(f"--seed must be a non-negative integer; got {args.seed}")
    if args.main_job:
        budgets = args.budgets if "--budgets" in sys.argv else ["standard"]
        for budget in budgets:
            print(_main_job_table(main_job(args.ids, budget, args.seed, args.cold_numba, caches=tuple(args.caches),
                                           workers=args.per_worker, serial=args.serial), budget), flush=True)
        return
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
