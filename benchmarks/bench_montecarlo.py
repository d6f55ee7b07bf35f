"""Monte Carlo throughput: random variates consumed per second by :func:`verify.simulate`,
against the raw rate of the random-number generator measured in the same run.

Run from the repository root::

    python benchmarks/bench_montecarlo.py [--quick] [--json PATH]

Reported, for each dimension d and batch size B (Gaussian data, SGD, label noise):

* ``raw``: rate of ``numpy.random.Generator(PCG64).standard_normal(out=...)`` on one thread, filling
  an array of the engine's per-step draw (chunk x B x d) — the speed of the random numbers;
* ``raw x2``: the same on two threads at once (what the machine gives two workers right now);
* ``engine x1``, ``engine x2``: ``simulate(..., workers=1 | 2)`` counted in variates consumed
  (replicas x steps x B x (d + 1): data and label noise);
* ``ratio per core`` = engine x1 / raw in wall-clock rates (the goal is >= 0.6 for d >= 64) and
  ``per CPU-s``, the same ratio in variates per CPU-second (insensitive to other processes taking
  the core away during a timing); ``two-core speed-up`` =
  engine x2 / engine x1, and ``scaling efficiency`` = speed-up / (raw x2 / raw);
* ``cores raw``, ``cores eng``: CPU time / wall time of the two-thread runs — how many cores the
  raw generator and the engine actually obtained (2.0 on an idle two-core machine; the engine
  holds the GIL only for Python-level bookkeeping between NumPy calls);
* ``naive``: a straightforward per-replica NumPy loop (one replica at a time, (d,)-vectors),
  and the engine's speed-up over it.

Then, for each data model, its sampler's raw rate (variates per second) and the engine's rate on it.

The machine may be shared, so the reference and the engine are timed back to back in each
repeat (raw x1, engine x1, raw x2, engine x2), every ratio is formed within one repeat, and the
table gives the median over ``--repeats`` repeats (rates: medians too).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from theory import SGD, EmpiricalDistribution, Gaussian, IndependentCoordinates, Rademacher, SparseGaussian  # noqa: E402
from verify import simulate  # noqa: E402
from verify.samplers import sample_standardized  # noqa: E402

CHUNK = 1024


_LAST = {}


def best_rate(fn, count, repeats=1):
    """Best rate over ``repeats`` timings; also records the parallelism (CPU time / wall time)."""
    best = 0.0
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall = time.perf_counter() - t0
        if count / wall > best:
            best = count / wall
            cpu = time.process_time() - c0
            _LAST["parallelism"] = cpu / wall
            _LAST["cpu_rate"] = count / cpu
    return best


def raw_rate(shape, draws, repeats, threads=1):
    def work(seed):
        rng = np.random.Generator(np.random.PCG64(seed))
        buf = np.empty(shape)
        for _ in range(draws):
            rng.standard_normal(out=buf)
    size = int(np.prod(shape)) * draws
    if threads == 1:
        return best_rate(lambda: work(0), size, repeats)
    def run():
        with ThreadPoolExecutor(threads) as ex:
            list(ex.map(work, range(threads)))
    return best_rate(run, size * threads, repeats)


def sampler_rate(model, shape, draws, repeats):
    rng = np.random.Generator(np.random.PCG64(0))

    def run():
        for _ in range(draws):   # results are dropped at once, as in the engine (no memory growth)
            sample_standardized(model, rng, shape)
    return best_rate(run, int(np.prod(shape)) * draws, repeats)


def engine_rate(d, batch, steps, replicas, workers, repeats, data=None, lam=None):
    lam = np.linspace(1.0, 0.1, d) / d if lam is None else lam
    kw = dict(eigenvalues=lam, learning_rate=0.5, batch=batch, noise_variance=0.1, steps=steps,
              replicas=replicas, seed=0, workers=workers, chunk_size=CHUNK)
    count = replicas * steps * batch * (d + 1)
    return best_rate(lambda: simulate(SGD(), data=data or Gaussian(), **kw), count, repeats)


def naive_rate(d, batch, steps, replicas, repeats):
    """One replica at a time: x (B, d), residual, gradient, update, record e^2 and the risk."""
    lam = np.linspace(1.0, 0.1, d) / d
    sqrt_lam, gamma, sd = np.sqrt(lam), 0.5, np.sqrt(0.1)

    def run():
        rng = np.random.Generator(np.random.PCG64(0))
        risk = np.zeros(steps + 1)
        m = np.zeros((steps + 1, d))
        for _ in range(replicas):
            e = np.ones(d)
            for k in range(1, steps + 1):
                x = rng.standard_normal((batch, d)) * sqrt_lam
                r = x @ e - sd * rng.standard_normal(batch)
                e = e - gamma * (x.T @ r) / batch
                sq = e * e
                m[k] += sq
                risk[k] += 0.5 * (sq @ lam + 0.1)
    return best_rate(run, replicas * steps * batch * (d + 1), repeats)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--json", metavar="PATH")
    args = ap.parse_args(argv)
    repeats = args.repeats or (3 if args.quick else 5)
    steps = 100 if args.quick else 200
    replicas = 4 * CHUNK
    out = {"cpus": os.cpu_count(), "numpy": np.__version__, "rows": [], "samplers": []}
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, chunk {CHUNK} replicas, {replicas} replicas, "
          f"{steps} steps, median of {repeats} interleaved repeats")
    print(f"{'d':>5} {'B':>3} {'raw M/s':>9} {'raw x2':>8} {'engine x1':>10} {'engine x2':>10} "
          f"{'ratio/core':>10} {'per CPU-s':>9} {'speed-up':>9} {'scaling eff.':>12} {'cores raw':>9} {'cores eng':>9} "
          f"{'naive':>8} {'vs naive':>9}")
    for d, batch in ((64, 1), (64, 4), (256, 1), (1024, 1)):
        steps_d = max(20, steps * 256 // max(d, 256))   # about the same work per timing for large d
        reps = []
        for _ in range(repeats):
            raw1 = raw_rate((CHUNK, batch, d), steps_d, 1)
            raw1_cpu = _LAST["cpu_rate"]
            e1 = engine_rate(d, batch, steps_d, replicas, 1, 1)
            e1_cpu = _LAST["cpu_rate"]
            raw2 = raw_rate((CHUNK, batch, d), steps_d, 1, threads=2)
            par_raw2 = _LAST["parallelism"]
            e2 = engine_rate(d, batch, steps_d, replicas, 2, 1)
            par_e2 = _LAST["parallelism"]
            reps.append(dict(raw=raw1, raw2=raw2, engine1=e1, engine2=e2, ratio_per_core=e1 / raw1,
                             ratio_per_cpu_second=e1_cpu / raw1_cpu,
                             parallelism_raw2=par_raw2, parallelism_engine2=par_e2,
                             speedup=e2 / e1, raw_speedup=raw2 / raw1,
                             scaling_efficiency=(e2 / e1) / (raw2 / raw1)))
        row = {k: float(np.median([r[k] for r in reps])) for k in reps[0]}
        nv = naive_rate(d, batch, steps_d, 8, 1)
        row.update(d=d, batch=batch, naive=nv, vs_naive=row["engine1"] / nv, repeats=reps)
        out["rows"].append(row)
        print(f"{d:>5} {batch:>3} {row['raw']/1e6:>9.1f} {row['raw2']/1e6:>8.1f} {row['engine1']/1e6:>10.1f} "
              f"{row['engine2']/1e6:>10.1f} {row['ratio_per_core']:>10.2f} {row['ratio_per_cpu_second']:>9.2f} "
              f"{row['speedup']:>9.2f} "
              f"{row['scaling_efficiency']:>12.2f} {row['parallelism_raw2']:>9.2f} {row['parallelism_engine2']:>9.2f} "
              f"{nv/1e6:>8.2f} {row['vs_naive']:>8.0f}x")
    d = 64
    X = np.random.default_rng(0).standard_normal((2000, d)) * np.linspace(1, 0.2, d)
    models = [("Gaussian", Gaussian()), ("IndependentCoordinates(6)", IndependentCoordinates(6.0)),
              ("SparseGaussian(0.25)", SparseGaussian(0.25)), ("Rademacher", Rademacher()),
              ("EmpiricalDistribution(n=2000)", EmpiricalDistribution(X, X[:, 0] ** 2))]
    print(f"\nsamplers, d = {d}, B = 1 (variates per second; engine x1 counts replicas x steps x d)")
    print(f"{'data model':>30} {'sampler M/s':>12} {'engine x1 M/s':>14} {'engine/sampler':>15}")
    for name, model in models:
        lam = model.eigenvalues if isinstance(model, EmpiricalDistribution) else None
        pairs = []
        for _ in range(repeats):
            sr = sampler_rate(model, (CHUNK, 1, d), steps, 1)
            er = engine_rate(d, 1, steps, replicas, 1, 1, data=model, lam=lam) * d / (d + 1)
            pairs.append((sr, er, er / sr))
        sr, er, ratio = (float(np.median(col)) for col in zip(*pairs))
        out["samplers"].append(dict(model=name, sampler=sr, engine1=er, ratio=ratio))
        print(f"{name:>30} {sr/1e6:>12.1f} {er/1e6:>14.1f} {ratio:>15.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
