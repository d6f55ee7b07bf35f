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
* ``ratio per core`` = engine x1 / raw (the goal is >= 0.6 for d >= 64), ``two-core speed-up`` =
  engine x2 / engine x1, and ``scaling efficiency`` = speed-up / (raw x2 / raw);
* ``naive``: a straightforward per-replica NumPy loop (one replica at a time, (d,)-vectors),
  and the engine's speed-up over it.

Then, for each data model, its sampler's raw rate (variates per second) and the engine's rate on it.
Every rate is the best of ``--repeats`` timings (the machine may be shared).
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


def best_rate(fn, count, repeats):
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = max(best, count / (time.perf_counter() - t0))
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
    return best_rate(lambda: [sample_standardized(model, rng, shape) for _ in range(draws)],
                     int(np.prod(shape)) * draws, repeats)


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
    repeats = args.repeats or (2 if args.quick else 3)
    steps = 100 if args.quick else 200
    replicas = 4 * CHUNK
    out = {"cpus": os.cpu_count(), "numpy": np.__version__, "rows": [], "samplers": []}
    print(f"numpy {np.__version__}, {os.cpu_count()} CPUs, chunk {CHUNK} replicas, {replicas} replicas, "
          f"{steps} steps, best of {repeats}")
    print(f"{'d':>5} {'B':>3} {'raw M/s':>9} {'raw x2':>8} {'engine x1':>10} {'engine x2':>10} "
          f"{'ratio/core':>10} {'speed-up':>9} {'scaling eff.':>12} {'naive':>8} {'vs naive':>9}")
    for d, batch in ((64, 1), (64, 4), (256, 1)):
        raw1 = raw_rate((CHUNK, batch, d), steps, repeats)
        raw2 = raw_rate((CHUNK, batch, d), steps, repeats, threads=2)
        e1 = engine_rate(d, batch, steps, replicas, 1, repeats)
        e2 = engine_rate(d, batch, steps, replicas, 2, repeats)
        nv = naive_rate(d, batch, steps, 8, repeats)
        row = dict(d=d, batch=batch, raw=raw1, raw2=raw2, engine1=e1, engine2=e2, ratio_per_core=e1 / raw1,
                   speedup=e2 / e1, raw_speedup=raw2 / raw1, scaling_efficiency=(e2 / e1) / (raw2 / raw1),
                   naive=nv, vs_naive=e1 / nv)
        out["rows"].append(row)
        print(f"{d:>5} {batch:>3} {raw1/1e6:>9.1f} {raw2/1e6:>8.1f} {e1/1e6:>10.1f} {e2/1e6:>10.1f} "
              f"{e1/raw1:>10.2f} {e2/e1:>9.2f} {row['scaling_efficiency']:>12.2f} {nv/1e6:>8.2f} {e1/nv:>8.0f}x")
    d = 64
    X = np.random.default_rng(0).standard_normal((2000, d)) * np.linspace(1, 0.2, d)
    models = [("Gaussian", Gaussian()), ("IndependentCoordinates(6)", IndependentCoordinates(6.0)),
              ("SparseGaussian(0.25)", SparseGaussian(0.25)), ("Rademacher", Rademacher()),
              ("EmpiricalDistribution(n=2000)", EmpiricalDistribution(X, X[:, 0] ** 2))]
    print(f"\nsamplers, d = {d}, B = 1 (variates per second; engine x1 counts replicas x steps x d)")
    print(f"{'data model':>30} {'sampler M/s':>12} {'engine x1 M/s':>14} {'engine/sampler':>15}")
    for name, model in models:
        lam = model.eigenvalues if isinstance(model, EmpiricalDistribution) else None
        sr = sampler_rate(model, (CHUNK, 1, d), steps, repeats)
        er = engine_rate(d, 1, steps, replicas, 1, repeats, data=model, lam=lam)
        er = er * d / (d + 1)
        out["samplers"].append(dict(model=name, sampler=sr, engine1=er, ratio=er / sr))
        print(f"{name:>30} {sr/1e6:>12.1f} {er/1e6:>14.1f} {er/sr:>15.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
