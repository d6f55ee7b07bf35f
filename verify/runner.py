"""Running many claims or a parameter grid through a ``concurrent.futures.Executor``.

* By default claims run in a local pool of one worker process per CPU, forked after the parent
  has prepared what they share (:func:`_prepare_fork`); each worker takes whole families of claims
  (:func:`_lanes`), so what a family's claims share is derived, loaded and compiled in one worker,
  and an idle worker takes claims from the end of the fullest queue. Pass any
  :class:`concurrent.futures.Executor`, or a ``dask.distributed.Client``
  (its ``get_executor()`` is used), to run them elsewhere.
* Random streams are fixed per task (a claim's streams come from
  :func:`verify.claims.claim_seed`; a grid point's from the grid index through
  ``SeedSequence.spawn``), so results are identical whichever executor ran them.
* Finished claims are written to a results directory as they complete, keyed by
  a hash of the claim, the budget, the seed and the package version;
  ``resume=True`` loads those and recomputes nothing that finished. A results
  file that cannot be read is renamed to ``<key>.json.corrupt`` (a
  :class:`CorruptResultWarning` names it) and its claim is recomputed.
* Ctrl-C (KeyboardInterrupt) stops the run within seconds: pending claims are
  cancelled, the pool's worker processes are terminated (they ignore SIGINT
  themselves, so a terminal's Ctrl-C reaches only this process's handler), and
  :class:`Interrupted` carries every claim that had finished, all of them
  already in the results directory.
"""
from __future__ import annotations

import gc
import hashlib
import json
import os
import signal
import warnings
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from pathlib import Path

import numpy as np

import theory

from .claims import BUDGETS, CLAIMS, ClaimResult
from .stats.result import strict_json

__all__ = ["CorruptResultWarning", "Interrupted", "as_executor", "map_grid", "result_key", "run_claims"]


class Interrupted(KeyboardInterrupt):
    """Raised by :func:`run_claims` on Ctrl-C.

    Attributes
    ----------
    finished : list of ClaimResult
        The claims that had finished (in the requested order); with a results
        directory each of them is already written there.
    pending : list of str
        Ids of the claims that had not finished.
    """

    def __init__(self, finished, pending):
        super().__init__(f"interrupted: {len(finished)} claim(s) finished, {len(pending)} pending")
        self.finished, self.pending = list(finished), list(pending)


class CorruptResultWarning(RuntimeWarning):
    """A results file could not be read; it was set aside and its claim is recomputed."""


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
    """Run one claim with single-threaded BLAS: the runner's parallelism is across claims, and
    BLAS threads on top of it oversubscribe the cores (measured: the teacher-student claims,
    dense eigendecompositions of many small designs, took 10-15x longer)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):
        return CLAIMS[claim_id].run(budget, seed).to_dict()


def _forks() -> bool:
    """Whether a new ProcessPoolExecutor starts its workers by fork (they inherit this process's memory)."""
    import multiprocessing
    return multiprocessing.get_start_method(allow_none=False) == "fork"


#: modules that claims of both lanes import on first use (measured in a warm main job: imported by
#: both workers and not by the parent's start-up, 0.09 s of CPU each time); a forked pool imports them
#: once in the parent instead of once per worker. ``sympy.physics.units`` is imported by the first
#: ``sympy.simplify`` call, ``sympy.sets.setexpr`` by the first ``log`` evaluation.
PRELOAD = ("threadpoolctl", "sympy.physics.units", "sympy.sets.setexpr", "theory.thresholds",
           "theory.fourth.critical", "theory.fourth.generalized_linear")


def _prepare_fork() -> bool:
    """Get this process ready to fork a pool's workers, which inherit its memory.

    Compiles or loads the fused kernel (:func:`verify.montecarlo.warm_up`: 6.9 s of CPU per worker
    with an empty numba cache) and imports :data:`PRELOAD`, with the cyclic garbage collector paused
    (importing numba and loading the kernel create objects that live to the end, not garbage), then
    collects once and moves every object into the collector's permanent generation
    (:func:`gc.freeze`, the cure the ``gc`` docs give for fork without exec): a worker's collections
    then never write to the inherited objects' headers, so their pages stay shared instead of being
    copied on write (measured: 8% fewer minor page faults in the workers, no change of CPU;
    docs/budgets.md).

    Returns whether the caller should call :func:`gc.unfreeze` once the workers exist (the parent
    then collects its own objects again; the workers keep theirs frozen): True, unless objects were
    already frozen before the call (``python -m verify`` freezes its start-up imports, see
    :func:`verify.__main__.program`), which then stay frozen.
    """
    import importlib

    from .montecarlo import warm_up
    unfreeze = gc.get_freeze_count() == 0
    collecting = gc.isenabled()
    gc.disable()
    try:
        warm_up()
        for name in PRELOAD:
            try:
                importlib.import_module(name)
            except ImportError:   # an optimisation only: a module gone or not installed is imported by no one
                pass
    finally:
        if collecting:
            gc.enable()
    gc.collect()
    gc.freeze()
    return unfreeze


def _ignore_sigint():
    """Initializer of the pool's workers: Ctrl-C is the parent's to handle (it terminates them)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _load(path: Path, claim_id: str):
    """The ClaimResult stored at ``path``, or None (after renaming the file to ``*.corrupt`` and
    warning) when it cannot be read or belongs to another claim."""
    try:
        result = ClaimResult.from_dict(json.loads(path.read_text()))
        if result.id != claim_id:
            raise ValueError(f"it holds claim {result.id!r}, not {claim_id!r}")
        return result
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        warnings.warn(f"results file {path} of claim {claim_id!r} could not be read "
                      f"({type(exc).__name__}: {str(exc)[:120]}); moved to {aside.name} and recomputing",
                      CorruptResultWarning, stacklevel=3)
        return None


def _stop_pool(ex, futures):
    """Cancel what has not started and end the pool now: its workers are terminated."""
    for fut in futures:
        fut.cancel()
    processes = list((getattr(ex, "_processes", None) or {}).values())
    try:
        ex.shutdown(wait=False, cancel_futures=True)
    except TypeError:  # an Executor without cancel_futures (e.g. dask's ClientExecutor)
        ex.shutdown(wait=False)
    for proc in processes:
        proc.terminate()
    for proc in processes:
        proc.join(timeout=5)


def _family(claim) -> str:
    """The family of a claim: the first component of its id (``momentum`` of
    ``momentum.second_moments.heavy_ball.gaussian``). Claims of one family share derivations,
    compiled forms and in-process caches."""
    return claim.id.split(".", 1)[0]


def _lanes(todo, n: int) -> list:
    """``todo`` split into ``n`` queues (deques) of whole families: the largest family first, each
    to the queue with the fewest claims; catalogue order within a family.

    A worker that runs a family's claims one after another derives, loads and lambdifies what they
    share once, where a pool taking claims in catalogue order paid it in every worker. Lanes
    balance by claim count; the runner evens out the rest by letting an idle lane take claims
    from the end of the fullest one.
    """
    families: dict = {}
    for item in todo:
        families.setdefault(_family(item[0]), []).append(item)
    lanes = [deque() for _ in range(n)]
    for members in sorted(families.values(), key=len, reverse=True):
        min(lanes, key=len).extend(members)
    return lanes


def run_claims(claims, budget: str = "standard", seed: int = 0, executor=None, results_dir=None,
               resume: bool = False, on_result=None) -> list:
    """Run ``claims`` and return their :class:`ClaimResult` objects in the given order.

    Parameters
    ----------
    claims : list of Claim
    budget : {"quick", "standard", "thorough"}
    seed : int >= 0
    executor : Executor, dask.distributed.Client, "serial" or None
        None: a local pool of one worker process per CPU, each running whole families of claims
        (serial for one claim). A given executor receives every claim at once and schedules them.
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
    Interrupted
        On Ctrl-C (a KeyboardInterrupt), within seconds; it carries the finished claims.

    Warns
    -----
    CorruptResultWarning
        With ``resume``, for each results file that cannot be read (it is renamed to
        ``<key>.json.corrupt`` and the claim recomputed).
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
        loaded = _load(path, c.id) if resume and path is not None and path.exists() else None
        if loaded is not None:
            done[c.id] = loaded
            if on_result:
                on_result(loaded)
        else:
            todo.append((c, path))

    def interrupted():
        return Interrupted([done[c.id] for c in claims if c.id in done],
                           [c.id for c in claims if c.id not in done])

    def finish(claim, path, payload):
        if path is not None:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(strict_json(payload), allow_nan=False))
            os.replace(tmp, path)
        done[claim.id] = ClaimResult.from_dict(payload)
        if on_result:
            on_result(done[claim.id])

    if executor == "serial" or (executor is None and len(todo) <= 1):
        try:
            for c, path in todo:
                finish(c, path, _run_one(c.id, budget, int(seed)))
        except KeyboardInterrupt:
            raise interrupted() from None
        return [done[c.id] for c in claims]
    own = executor is None
    unfreeze = own and _forks() and _prepare_fork()
    if own:   # one single-process pool per lane, fed one claim at a time
        lanes = _lanes(todo, min(len(todo), os.cpu_count() or 1))
        pools = [ProcessPoolExecutor(max_workers=1, initializer=_ignore_sigint) for _ in lanes]
    else:     # the executor schedules: everything is submitted at once
        lanes, pools = [deque(todo)], [as_executor(executor)]
    futures: dict = {}   # every submitted future -> (claim, results path, lane)

    def feed(lane) -> set:
        """Submit the next claim of ``lane`` (all of them for a foreign executor); an empty lane
        takes the last claim of the fullest one. Returns the new futures."""
        queue, new = lanes[lane] or max(lanes, key=len), set()
        while queue and not (own and new):
            c, path = queue.popleft() if queue is lanes[lane] else queue.pop()
            fut = pools[lane].submit(_run_one, c.id, budget, int(seed))
            futures[fut] = (c, path, lane)
            new.add(fut)
        return new

    try:
        pending = set()
        try:
            for lane in range(len(lanes)):
                pending |= feed(lane)
        finally:
            if unfreeze:   # every worker has been forked by now
                gc.unfreeze()
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                c, path, lane = futures[fut]
                finish(c, path, fut.result())
                if own:
                    pending |= feed(lane)
    except KeyboardInterrupt:
        for fut, (c, path, _) in futures.items():  # finished between the signal and here: keep them too
            if c.id not in done and fut.done() and not fut.cancelled() and fut.exception() is None:
                finish(c, path, fut.result())
        for pool in pools:
            _stop_pool(pool, futures)
        raise interrupted() from None
    finally:
        if own:
            for pool in pools:
                pool.shutdown()
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
