"""Running many claims or a parameter grid through a ``concurrent.futures.Executor``.

* By default claims run in a local process pool; pass any
  :class:`concurrent.futures.Executor`, or a ``dask.distributed.Client``
  (its ``get_executor()`` is used), to run them elsewhere.
* Random streams are fixed per task (a claim's streams come from
  :func:`verify.claims.claim_seed`; a grid point's from the grid index through
  ``SeedSequence.spawn``), so results are identical whichever executor ran them.
* Finished claims are written to a results directory as they complete, keyed by
  a hash of the claim, the budget, the seed and the package version;
  ``resume=True`` loads those and recomputes nothing that finished.
"""
from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

import theory

from .claims import BUDGETS, CLAIMS, ClaimResult

__all__ = ["run_claims", "map_grid", "result_key", "as_executor"]


def result_key(claim, budget: str, seed: int) -> str:
    """Hex digest identifying a claim's result: claim id, title, source, alpha, budget, seed, version."""
    b = BUDGETS[budget]
    payload = json.dumps([claim.id, claim.title, claim.source, claim.alpha, b.name, b.replicas,
                          b.examples, int(seed), theory.__version__])
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def as_executor(executor):
    """An Executor from ``executor``: an Executor as is, a dask Client via ``get_executor()``."""
    if executor is None or isinstance(executor, Executor):
        return executor
    if hasattr(executor, "get_executor"):
        return executor.get_executor()
    raise ValueError("executor must be a concurrent.futures.Executor or a dask.distributed.Client; "
                     f"got {executor!r}")


def _run_one(claim_id: str, budget: str, seed: int) -> dict:
    return CLAIMS[claim_id].run(budget, seed).to_dict()


def run_claims(claims, budget: str = "standard", seed: int = 0, executor=None, results_dir=None,
               resume: bool = False, on_result=None) -> list:
    """Run ``claims`` and return their :class:`ClaimResult` objects in the given order.

    Parameters
    ----------
    claims : list of Claim
    budget : {"quick", "standard", "thorough"}
    seed : int >= 0
    executor : Executor, dask.distributed.Client, "serial" or None
        None: a local process pool with one worker per CPU (serial for one claim).
    results_dir : path, optional
        Where each finished claim is written as ``<key>.json`` as soon as it completes.
    resume : bool
        Load finished results from ``results_dir`` instead of recomputing them.
    on_result : callable(ClaimResult), optional
        Called as each claim finishes (e.g. a progress bar).

    Raises
    ------
    ValueError
        Unknown budget, negative seed, ``resume`` without ``results_dir``.
    """
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {sorted(BUDGETS)}; got {budget!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    if resume and results_dir is None:
        raise ValueError("resume=True needs results_dir, where earlier results were written")
    store = Path(results_dir) if results_dir is not None else None
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)
    done: dict = {}
    todo = []
    for c in claims:
        path = store / f"{result_key(c, budget, seed)}.json" if store is not None else None
        if resume and path is not None and path.exists():
            done[c.id] = ClaimResult.from_dict(json.loads(path.read_text()))
            if on_result:
                on_result(done[c.id])
        else:
            todo.append((c, path))

    def finish(claim, path, payload):
        if path is not None:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(payload, default=float))
            os.replace(tmp, path)
        done[claim.id] = ClaimResult.from_dict(payload)
        if on_result:
            on_result(done[claim.id])

    if executor == "serial" or (executor is None and len(todo) <= 1):
        for c, path in todo:
            finish(c, path, _run_one(c.id, budget, int(seed)))
    else:
        own = executor is None
        ex = ProcessPoolExecutor(max_workers=min(len(todo), os.cpu_count() or 1)) if own else as_executor(executor)
        try:
            futures = {ex.submit(_run_one, c.id, budget, int(seed)): (c, path) for c, path in todo}
            for fut in as_completed(futures):
                c, path = futures[fut]
                finish(c, path, fut.result())
        finally:
            if own:
                ex.shutdown()
    return [done[c.id] for c in claims]


def map_grid(func, grid, seed: int = 0, executor=None) -> list:
    """Evaluate ``func(point, seed_sequence)`` over a parameter grid, in order.

    Grid point j receives ``SeedSequence(seed).spawn(len(grid))[j]``, so the
    results do not depend on the executor. ``func`` must be picklable for
    process pools and Dask (a module-level function).
    """
    grid = list(grid)
    children = np.random.SeedSequence(seed).spawn(len(grid))
    ex = as_executor(executor)
    if ex is None:
        return [func(p, s) for p, s in zip(grid, children)]
    return list(ex.map(func, grid, children))
