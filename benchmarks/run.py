"""Every speed ratio of the package, measured in one run, written to docs/benchmarks.md.

Run from the repository root::

    python benchmarks/run.py [--quick] [--repeats N] [--no-write] [--json PATH]

Each section is a function ``section(quick, repeats) -> (title, markdown text, data dict)`` in
:data:`SECTIONS`. Another benchmark module adds its own by defining a list ``SECTIONS`` of such
functions and being named in :data:`OPTIONAL` (imported from this directory; e.g. the ODE
benchmarks in ``ode_speed.py``).

Rates are per CPU-second of this process (``time.process_time``) so that other jobs on a shared
machine do not enter them, and every ratio is formed between timings taken back to back in the same
repeat (median over repeats). Counting: "variates" are the normal variates the *direct* method
consumes, replicas x steps x B x (d + 1), whatever a method actually draws, so that the
sufficient-statistic path is credited with the work it replaces.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

from theory import SGD  # noqa: E402
from verify import simulate  # noqa: E402

SECTIONS: list = []
#: benchmark modules (in this directory) whose list ``SECTIONS`` is appended to the run, if present
OPTIONAL = ("ode_speed", "longtime", "glm_ode")


def register_section(fn):
    """Add ``fn(quick, repeats) -> (title, markdown, data)`` to the benchmark run (decorator)."""
    SECTIONS.append(fn)
    return fn


def cpu_time(fn):
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def wall_time(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def raw_rate(bitgen, shape, draws, threads=1, clock=cpu_time):
    """Variates per second of ``Generator(bitgen).standard_normal(out=buf)`` filling ``shape`` arrays."""
    def work(seed):
        rng = np.random.Generator(bitgen(seed))
        buf = np.empty(shape)
        for _ in range(draws):
            rng.standard_normal(out=buf)
    if threads == 1:
        return int(np.prod(shape)) * draws / clock(lambda: work(0))

    def run():
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(work, range(threads)))
    return int(np.prod(shape)) * draws * threads / clock(run)


def engine_rate(d, batch, steps, replicas, engine, sampling, workers=1, clock=cpu_time):
    lam = np.linspace(1.0, 0.1, d) / d
    kw = dict(eigenvalues=lam, learning_rate=0.5, batch=batch, noise_variance=0.1, steps=steps, replicas=replicas,
              seed=0, workers=workers, chunk_size=1024, engine=engine, sampling=sampling)
    algorithm = SGD()   # the algorithm is built once (building it is SymPy work, not the engine's)
    simulate(algorithm, **dict(kw, steps=2, replicas=8))   # compile / warm up outside the timing
    return replicas * steps * batch * (d + 1) / clock(lambda: simulate(algorithm, **kw))


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


SETTINGS = ((16, 1), (64, 1), (64, 8), (256, 1), (1024, 1), (1024, 8))


@register_section
def engine_section(quick, repeats):
    """Engines against the raw generators, per core (one thread, CPU time)."""
    replicas = 2048
    rows, data = [], []
    for d, batch in SETTINGS:
        steps = max(10, (60 if quick else 200) * 256 // max(d, 256))
        reps = []
        for _ in range(repeats):
            pcg = raw_rate(np.random.PCG64, (1024, batch, d), steps)
            sfc = raw_rate(np.random.SFC64, (1024, batch, d), steps)
            npy = engine_rate(d, batch, steps, replicas, "numpy", "direct")
            fus = engine_rate(d, batch, steps, replicas, "fused", "direct")
            suf = engine_rate(d, batch, steps, replicas, "fused", "sufficient")
            reps.append(dict(pcg=pcg, sfc=sfc, numpy=npy, fused=fus, sufficient=suf,
                             numpy_pcg=npy / pcg, numpy_sfc=npy / sfc, fused_pcg=fus / pcg, fused_sfc=fus / sfc,
                             fused_numpy=fus / npy, sufficient_pcg=suf / pcg, sufficient_direct=suf / fus))
        row = {k: float(np.median([r[k] for r in reps])) for k in reps[0]}
        row.update(d=d, batch=batch, steps=steps, replicas=replicas)
        data.append(row)
        rows.append([str(d), str(batch), f"{row['pcg'] / 1e6:.0f}", f"{row['sfc'] / 1e6:.0f}",
                     f"{row['numpy_sfc']:.2f}", f"{row['numpy_pcg']:.2f}", f"{row['fused_sfc']:.2f}",
                     f"{row['fused_pcg']:.2f}", f"{row['fused_numpy']:.2f}", f"{row['sufficient_pcg']:.2f}",
                     f"{row['sufficient_direct']:.2f}"])
    text = ("SGD on Gaussian data with label noise, 2048 replicas, one thread; rates in variates per CPU-second "
            "(replicas x steps x B x (d + 1)); raw = `Generator(PCG64 | SFC64).standard_normal(out=...)` "
            "filling the (1024, B, d) draw of a step. NumPy engine = `simulate(engine=\"numpy\", "
            "sampling=\"direct\")`, fused = `engine=\"fused\", sampling=\"direct\"`, sufficient = "
            "`engine=\"fused\", sampling=\"sufficient\"`.\n\n"
            + _table(["d", "B", "raw PCG64 M/s", "raw SFC64 M/s", "NumPy engine / SFC64", "NumPy engine / PCG64",
                      "fused / SFC64", "fused / PCG64", "fused / NumPy engine", "sufficient / PCG64",
                      "sufficient / direct (fused)"], rows))
    return "Monte Carlo engines against the raw random-number generators", text, {"rows": data}


def _phase_timings(d, batch, steps, replicas=1024):
    """CPU seconds of each pass of the fused kernel over ``steps`` steps of ``replicas`` replicas
    (SGD, Gaussian data, label noise, direct sampling), each pass timed alone on the same buffers."""
    from verify import fused
    from verify import kernel as K
    from verify.montecarlo import _compile
    alg = SGD()
    lam = np.linspace(1.0, 0.1, d) / d
    C = fused.coefficient_schedule(alg, _compile(alg)[2], [0.5], steps)
    rec = fused.Recorder(replicas, steps, d, None)
    m = fused._row_size(replicas, d, batch, False)
    rows = fused._Rows(alg, np.ones(d), m, d, rec, batch, False)
    args = fused._step_args(rec, rows, lam, batch, 0.3, 0.09, False, None)
    sqrt_lam, lam, scale, noise_sd, sufficient, model, p1, p2, table, floor, coords, all_coords = args[:12]
    rstat, mstat, mustat, blk_r, blk_m, blk_mu = args[14:20]
    feat, Q, Z, beta, new = args[-5:]
    s = K.sfc64_state(np.random.SeedSequence(0))
    st = rows.st
    K.step_rows(s, st, C, 0, 2, True, *args, 0, K.STEPS)     # compile and warm up
    blocks = replicas // m
    buf = np.empty(m * batch * (d + 1))
    K.fill_normal(s, buf[:4])

    def generate():
        for _ in range(blocks * steps):
            K.fill_normal(s, buf)

    def draw():
        for _ in range(blocks * steps):
            K.draw(s, Z, sufficient, model, p1, p2, table, noise_sd)

    def gradient():
        for _ in range(blocks * steps):
            K.gradient(st, C, 0, sqrt_lam, scale, sufficient, Q, Z, beta, False, feat)

    def record():
        for _ in range(blocks):
            for k in range(1, steps + 1):
                K.update_record(st, C, 0, scale, Z, beta, True, k, False, lam, floor, coords, all_coords, True,
                                rstat, mstat, mustat, blk_r, blk_m, blk_mu, feat, new, 0)
            st[...] = 1.0

    def full():
        for _ in range(blocks):
            K.step_rows(s, st, C, 1, steps, False, *args, 0, K.STEPS)
            st[...] = 1.0

    K.draw(s, Z, sufficient, model, p1, p2, table, noise_sd)   # load each pass's compiled code outside the timing
    K.gradient(st, C, 0, sqrt_lam, scale, sufficient, Q, Z, beta, False, feat)
    K.update_record(st, C, 0, scale, Z, beta, True, 1, False, lam, floor, coords, all_coords, True, rstat, mstat,
                    mustat, blk_r, blk_m, blk_mu, feat, new, 0)
    return {f.__name__: cpu_time(f) for f in (generate, draw, gradient, record, full)}


@register_section
def phases_section(quick, repeats):
    """Where the fused kernel's time goes: each pass timed alone, per variate, against raw PCG64."""
    rows, data = [], []
    for d, batch in SETTINGS:
        steps = max(10, (60 if quick else 200) * 256 // max(d, 256))
        variates = 1024 * steps * batch * (d + 1)
        reps = []
        for _ in range(repeats):
            pcg = raw_rate(np.random.PCG64, (1024, batch, d), steps)
            t = _phase_timings(d, batch, steps)
            reps.append({"pcg_ns": 1e9 / pcg, **{k: 1e9 * v / variates for k, v in t.items()}})
        row = {k: float(np.median([r[k] for r in reps])) for k in reps[0]}
        row.update(d=d, batch=batch, steps=steps, full_pcg=row["pcg_ns"] / row["full"])
        data.append(row)
        rows.append([str(d), str(batch), f"{row['pcg_ns']:.2f}", f"{row['generate']:.2f}", f"{row['draw']:.2f}",
                     f"{row['gradient']:.2f}", f"{row['record']:.2f}", f"{row['full']:.2f}",
                     f"{row['full_pcg']:.2f}"])
    text = ("The fused kernel's passes timed alone on the same buffers (SGD, Gaussian data, label noise, direct "
            "sampling, 1024 replicas in row blocks), in CPU nanoseconds per variate (replicas x steps x B x "
            "(d + 1)): raw PCG64 = NumPy's `standard_normal` filling a (1024, B, d) array; normals = the "
            "kernel's own ziggurat on SFC64 (`kernel.fill_normal`, the same number of variates); draw = "
            "`kernel.draw` (every variate of a step into the row block's buffers); gradient = "
            "`kernel.gradient` (inner products, residuals, sum over the batch); update + record = "
            "`kernel.update_record` (the update and every recorded moment, per step); full = "
            "`kernel.step_rows` (all passes and the block averages). full ~ draw + gradient + update + record.\n\n"
            + _table(["d", "B", "raw PCG64", "normals", "draw", "gradient", "update + record", "full",
                      "raw PCG64 / full"], rows))
    return "Where the fused kernel's time goes", text, {"rows": data}


@register_section
def workers_section(quick, repeats):
    """Two workers against one (wall clock), with the raw generator's own two-thread speed-up."""
    rows, data = [], []
    for d, batch in ((64, 1), (1024, 1), (1024, 8)):
        steps = max(10, (60 if quick else 200) * 256 // max(d, 256))
        reps = []
        for _ in range(repeats):
            r1 = raw_rate(np.random.PCG64, (1024, batch, d), steps, 1, wall_time)
            r2 = raw_rate(np.random.PCG64, (1024, batch, d), steps, 2, wall_time)
            e1 = engine_rate(d, batch, steps, 4096, "fused", "auto", 1, wall_time)
            e2 = engine_rate(d, batch, steps, 4096, "fused", "auto", 2, wall_time)
            reps.append(dict(raw=r2 / r1, engine=e2 / e1, efficiency=(e2 / e1) / (r2 / r1)))
        row = {k: float(np.median([r[k] for r in reps])) for k in reps[0]}
        row.update(d=d, batch=batch)
        data.append(row)
        rows.append([str(d), str(batch), f"{row['raw']:.2f}", f"{row['engine']:.2f}", f"{row['efficiency']:.2f}"])
    text = ("Wall-clock speed-up of `simulate(..., workers=2)` over `workers=1` (fused engine, 4096 replicas in "
            "4 chunks; the numbers are identical), next to the raw PCG64 generator's own two-thread speed-up "
            "in the same repeat (what the machine gives a second thread right now); efficiency = engine / raw.\n\n"
            + _table(["d", "B", "raw x2 / x1", "engine x2 / x1", "efficiency"], rows))
    return "Two workers against one", text, {"rows": data}


@register_section
def samplers_section(quick, repeats):
    """Each data model's sampler against the engines on it (d = 64, B = 1)."""
    from theory import EmpiricalDistribution, Gaussian, IndependentCoordinates, Rademacher, SparseGaussian
    from verify.montecarlo import kernel_samples
    from verify.samplers import sample_standardized
    d, steps, replicas = 64, (60 if quick else 200), 2048
    X = np.random.default_rng(0).standard_normal((2000, d)) * np.linspace(1, 0.2, d)
    models = [("Gaussian", Gaussian()), ("IndependentCoordinates(6)", IndependentCoordinates(6.0)),
              ("SparseGaussian(0.25)", SparseGaussian(0.25)), ("Rademacher", Rademacher()),
              ("EmpiricalDistribution(n=2000)", EmpiricalDistribution(X, X[:, 0] ** 2))]
    rows, data = [], []
    for name, model in models:
        lam = model.eigenvalues if isinstance(model, EmpiricalDistribution) else np.linspace(1.0, 0.1, d) / d
        kw = dict(eigenvalues=lam, learning_rate=0.5 / d, noise_variance=0.1, steps=steps, replicas=replicas,
                  seed=0, workers=1, sampling="direct", data=model)
        engines = ("numpy", "fused") if kernel_samples(model) else ("numpy",)
        for engine in engines:
            simulate(SGD(), engine=engine, **dict(kw, steps=2, replicas=8))
        rng = np.random.Generator(np.random.PCG64(0))
        reps = []
        for _ in range(repeats):
            rate = {"sampler": 1024 * d * steps / cpu_time(
                lambda m=model: [sample_standardized(m, rng, (1024, 1, d)) for _ in range(steps)])}
            for engine in engines:
                rate[engine] = replicas * steps * d / cpu_time(lambda e=engine, k=kw: simulate(SGD(), engine=e, **k))
            reps.append(rate)
        row = {k: float(np.median([r[k] for r in reps])) for k in reps[0]}
        row.update(model=name, auto=engines[-1])
        data.append(row)
        fused = (f"{row['fused'] / 1e6:.0f}", f"{row['fused'] / row['numpy']:.2f}") if "fused" in row else ("-", "-")
        rows.append([name, row["auto"], f"{row['sampler'] / 1e6:.0f}", f"{row['numpy'] / 1e6:.0f}", *fused,
                     f"{row[row['auto']] / row['sampler']:.2f}"])
    text = (f"d = {d}, B = 1, {replicas} replicas, one thread, coordinates per CPU-second: the data model's "
            "sampler (`verify.samplers`, NumPy) alone, and `simulate(..., sampling=\"direct\")` on it with each "
            "engine; `engine=\"auto\"` picks the fused kernel for every model it samples "
            "(`verify.montecarlo.kernel_samples`).\n\n"
            + _table(["data model", "auto engine", "sampler M/s", "NumPy engine M/s", "fused M/s",
                      "fused / NumPy engine", "auto engine / sampler"], rows))
    return "Data models: samplers and engines", text, {"rows": data}


_ADAPTIVE_CHILD = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, {root!r})
d, reps, steps, which = {d}, {reps}, {steps}, {which!r}
lam = np.linspace(1.0, 0.1, d)
if which == "engine":
    from verify.adaptive import AdaGradNorm, simulate_adaptive
    simulate_adaptive(AdaGradNorm(1.0, 1.0), eigenvalues=lam[:8], steps=2, replicas=2, seed=0)
    t0, c0 = time.perf_counter(), time.process_time()
    simulate_adaptive(AdaGradNorm(1.0, 1.0), eigenvalues=lam, initial=d ** -0.5, noise_variance=0.1, steps=steps,
                      replicas=reps, seed=0, workers=1)
else:   # plain NumPy loop over steps, vectorised over replicas, recording the mean risk only
    t0, c0 = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(0)
    sl = np.sqrt(lam)
    e = np.full((reps, d), d ** -0.5)
    acc = np.ones(reps)
    risk = np.empty(steps + 1)
    for k in range(1, steps + 1):
        x = rng.standard_normal((reps, d)) * sl
        r = np.einsum("rd,rd->r", x, e) - np.sqrt(0.1) * rng.standard_normal(reps)
        g = x * r[:, None]
        acc += (g * g).sum(1) / d ** 2
        e -= (1.0 / np.sqrt(acc) / d)[:, None] * g
        risk[k] = 0.5 * ((e * e) @ lam + 0.1).mean()
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")]   # peak RSS of this process
print(json.dumps(dict(cpu=time.process_time() - c0, wall=time.perf_counter() - t0,
                      max_rss_mb=float(hwm[0].split()[1]) / 1024 if hwm else float("nan"))))
"""


def _adaptive_run(d, reps, steps, which):
    code = _ADAPTIVE_CHILD.format(root=ROOT, d=d, reps=reps, steps=steps, which=which)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@register_section
def adaptive_section(quick, repeats):
    """Adaptive Monte Carlo (AdaGrad-Norm) at d = 4096, 30 replicas: peak memory and time against a plain loop."""
    d, reps = 4096, 30
    t = 1 if quick else 10
    steps = t * d
    runs = []
    for _ in range(max(1, repeats // 2)):
        eng = _adaptive_run(d, reps, steps, "engine")
        loop = _adaptive_run(d, reps, steps, "loop")
        runs.append(dict(engine_cpu=eng["cpu"], loop_cpu=loop["cpu"], speedup=loop["cpu"] / eng["cpu"],
                         engine_rss=eng["max_rss_mb"], loop_rss=loop["max_rss_mb"]))
    row = {k: float(np.median([r[k] for r in runs])) for k in runs[0]}
    row.update(d=d, replicas=reps, t=t, steps=steps)
    text = (f"`simulate_adaptive(AdaGradNorm(1, 1), ...)` at d = {d}, {reps} replicas, to t = {t} ({steps} steps, "
            "B = 1, label noise 0.1), each in a fresh process (peak resident memory of the whole process, "
            "Python and numba included), against a plain NumPy loop over steps vectorised over replicas "
            "(which records only the mean risk).\n\n"
            + _table(["", "CPU s", "peak memory MB"],
                     [["engine (fused kernel, hook)", f"{row['engine_cpu']:.1f}", f"{row['engine_rss']:.0f}"],
                      ["plain NumPy loop", f"{row['loop_cpu']:.1f}", f"{row['loop_rss']:.0f}"],
                      ["speed-up", f"{row['speedup']:.2f}", ""]]))
    return "Adaptive learning rates: memory and speed", text, row


_COMPILE_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
c0 = time.process_time()
from verify.montecarlo import warm_up
c1 = time.process_time()
llvm = [0.0]
try:   # LLVM's share: numba's function and module optimisation and machine-code emission (process CPU)
    from numba.core import codegen
    def timed(fn):
        def run(*args, **kwargs):
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                llvm[0] += time.process_time() - t
        return run
    for cls, name in ((codegen.CPUCodeLibrary, "_optimize_functions"),
                      (codegen.CPUCodeLibrary, "_optimize_final_module"),
                      (codegen.JITCodeLibrary, "_finalize_specific")):
        setattr(cls, name, timed(getattr(cls, name)))
except (ImportError, AttributeError):   # another numba: the share is not reported
    llvm[0] = float("nan")
warm_up()
print(json.dumps(dict(imports=c1 - c0, warm_up=time.process_time() - c1, llvm=llvm[0])))
"""

#: another source tree whose compile cost is measured in the same run (``--compile-baseline``)
COMPILE_BASELINE = None


def _compile_cost(root):
    """CPU seconds of ``verify.montecarlo.warm_up()`` in fresh processes of the tree at ``root``: with an
    empty numba cache (everything the main job runs is compiled: "cold"), then loading from that cache."""
    import tempfile
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = {}
        for phase in ("cold", "warm"):
            run = subprocess.run([sys.executable, "-c", _COMPILE_CHILD.format(root=root)], capture_output=True,
                                 text=True, check=True, env=env)
            res = json.loads(run.stdout.strip().splitlines()[-1])
            out[phase], out[phase + "_imports"], out[phase + "_llvm"] = res["warm_up"], res["imports"], res["llvm"]
    return out


@register_section
def compile_section(quick, repeats):
    """The fused kernels' compile cost on a fresh installation (empty numba cache) and their load from the cache."""
    trees = [("this tree", ROOT)] + ([("baseline", COMPILE_BASELINE)] if COMPILE_BASELINE else [])
    reps = {name: [] for name, _ in trees}
    for _ in range(repeats):
        for name, root in trees:   # alternated, so that both see the same machine load
            reps[name].append(_compile_cost(root))
    data, rows = {}, []
    for name, root in trees:
        row = {k: float(np.median([r[k] for r in reps[name]])) for k in reps[name][0]}
        row["tree"] = os.path.abspath(root)
        data[name] = row
        rows.append([name, f"{row['cold']:.2f}", f"{row['cold_llvm']:.2f}", f"{row['warm']:.2f}",
                     f"{row['warm_imports']:.2f}"])
    if COMPILE_BASELINE:
        rows.append(["this tree / baseline", f"{data['this tree']['cold'] / data['baseline']['cold']:.2f}",
                     f"{data['this tree']['cold_llvm'] / data['baseline']['cold_llvm']:.2f}",
                     f"{data['this tree']['warm'] / data['baseline']['warm']:.2f}", ""])
    text = ("CPU seconds of `verify.montecarlo.warm_up()` (what `python -m verify run` compiles once in its parent "
            "before forking: every fused kernel the main job runs) in a fresh process: cold = with an empty "
            "`NUMBA_CACHE_DIR` (a fresh installation compiles), warm = loading from the cache that run filled; "
            "imports = `import verify.montecarlo` (numba included) before it; of which LLVM = the cold compile's "
            "CPU in numba's LLVM optimisation and machine-code emission (the rest is numba's typing and lowering "
            "in Python). Median of the repeats"
            + (", alternated with the baseline tree" if COMPILE_BASELINE else "") + ".\n\n"
            + _table(["", "cold compile CPU s", "of which LLVM s", "warm load CPU s", "imports CPU s"], rows))
    return "Compile cost of the fused kernels", text, data


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats (adaptive run to t = 1)")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--no-write", action="store_true", help="print only; do not write docs/benchmarks.md")
    ap.add_argument("--json", metavar="PATH")
    ap.add_argument("--compile-baseline", metavar="TREE",
                    help="another source tree (e.g. a checkout of main) whose compile cost the compile section "
                         "measures in the same run")
    ap.add_argument("--only", metavar="NAME", action="append",
                    help="run only sections whose function name contains NAME (prints; does not write the docs)")
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    global COMPILE_BASELINE
    COMPILE_BASELINE = args.compile_baseline
    import importlib
    sections = list(SECTIONS)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    for name in OPTIONAL:   # sections of other benchmark modules (e.g. the ODE benchmarks)
        sections += list(getattr(importlib.import_module(name), "SECTIONS", []))
    head = (f"numpy {np.__version__}, Python {platform.python_version()}, {os.cpu_count()} CPUs, "
            f"{'--quick, ' if args.quick else ''}median of {repeats} repeat(s), "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(head)
    parts, data = [], {}
    for section in sections:
        if args.only and not any(o in section.__name__ for o in args.only):
            continue
        title, text, info = section(args.quick, repeats)
        print(f"\n## {title}\n\n{text}", flush=True)
        parts.append(f"## {title}\n\n{text}\n")
        data[section.__name__] = info
    if not (args.no_write or args.only):   # the document always holds one complete run
        method = __doc__.split("\n\n")[4].replace("\n", " ").strip()
        doc = ("# Benchmarks\n\nWritten by `python benchmarks/run.py" + (" --quick" if args.quick else "")
               + f"` from one run (do not edit by hand). {method}\n\nMeasured: {head}.\n\n" + "\n".join(parts))
        with open(os.path.join(ROOT, "docs", "benchmarks.md"), "w") as fh:
            fh.write(doc)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(data, fh, indent=2)
    return data


if __name__ == "__main__":
    main()
