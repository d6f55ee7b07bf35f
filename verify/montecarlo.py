r"""Monte Carlo runs of the algorithm itself, vectorised over independent replicas.

The engine compiles the algorithm's symbolic update rule (the same SymPy
expressions that :func:`theory.derive` takes expectations of) with
``lambdify`` and executes it on float64 arrays of shape (replicas, d). Each
step draws a fresh minibatch x_b = sqrt(lambda) z_b (z from the data model's
sampler) and Gaussian label noise eps_b of variance sigma^2, and forms the
least-squares minibatch gradient g = (1/B) sum_b x_b (<x_b, p> - eps_b) at the
algorithm's gradient point p.

Replicas are split into chunks of fixed size; chunk c draws from its own
``numpy.random.Generator(PCG64(child_c))`` with child_c the c-th
``SeedSequence.spawn`` child of the recorded seed. Chunks may run in threads;
the numbers do not depend on how many.
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from theory.algorithms import GRADIENT, Algorithm
from theory.data import DataModel
from theory.validation import (check_algorithm_and_data, check_eigenvalues, check_initial,
                               check_integer, check_nonnegative, check_positive)

from .samplers import sample_standardized

__all__ = ["simulate", "SimulationResult", "block_edges"]


@dataclass
class SimulationResult:
    """Monte Carlo estimates at every step k = 0..steps, with standard errors.

    Attributes
    ----------
    risk, risk_se : ndarray, shape (steps + 1,)
        Mean over replicas of R(theta_k) = (e_k^T K e_k + sigma^2)/2 (the exact
        population risk of each replica's iterate) and its standard error
        (sample standard deviation over replicas / sqrt(replicas)).
    second_moments, second_moments_se : ndarray, shape (steps + 1, d)
        Mean over replicas of e_{k,i}^2 and its standard error.
    mean, mean_se : ndarray, shape (steps + 1, d)
        Mean over replicas of e_{k,i} and its standard error.
    replicas : int
    seed : dict
        ``entropy`` of the root ``numpy.random.SeedSequence`` and the chunk size;
        the same seed gives the same numbers.
    parameters : dict
        Every argument of :func:`simulate`.
    seconds : float
        Wall-clock time of the run.
    block_edges : list of int
        Dyadic blocks of steps [1, 2), [2, 4), ..., [2^J, steps + 1) (see :func:`block_edges`).
    block_risk, block_risk_se : ndarray, shape (n_blocks,)
        Mean over replicas of each replica's average risk over a block, and its standard error.
        Averages over time have far smaller standard errors than single steps, which gives
        the comparison power against small systematic errors.
    block_second_moments, block_second_moments_se : ndarray, shape (n_blocks, d)
        The same for e_{k,i}^2.
    """

    risk: np.ndarray
    risk_se: np.ndarray
    second_moments: np.ndarray
    second_moments_se: np.ndarray
    mean: np.ndarray
    mean_se: np.ndarray
    replicas: int
    seed: dict
    parameters: dict = field(default_factory=dict)
    seconds: float = 0.0
    block_edges: list = field(default_factory=list)
    block_risk: np.ndarray | None = None
    block_risk_se: np.ndarray | None = None
    block_second_moments: np.ndarray | None = None
    block_second_moments_se: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return len(self.risk) - 1


class _Stats:
    """Mean and centred sum of squares over replicas, merged across chunks (Chan et al.)."""

    def __init__(self, shape):
        self.n = 0
        self.mean = np.zeros(shape)
        self.m2 = np.zeros(shape)

    def merge(self, n, mean, m2):
        if self.n == 0:
            self.n, self.mean, self.m2 = n, mean, m2
            return
        tot = self.n + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / tot)
        self.m2 = self.m2 + m2 + delta**2 * (self.n * n / tot)
        self.n = tot

    def se(self):
        if self.n < 2:
            return np.full_like(self.mean, np.nan)
        return np.sqrt(self.m2 / (self.n - 1) / self.n)


def block_edges(steps: int) -> list:
    """Dyadic blocks of steps [1, 2), [2, 4), [4, 8), ..., [2^J, steps + 1) as edge list."""
    edges = [1]
    while edges[-1] * 2 <= steps:
        edges.append(edges[-1] * 2)
    edges.append(steps + 1)
    return edges


def _compile(algorithm: Algorithm):
    hyper = list(algorithm.hyperparameters.values())
    update = sp.lambdify([*algorithm.state, GRADIENT, *hyper], list(algorithm.update), modules="numpy")
    point = sp.lambdify([*algorithm.state, *hyper], algorithm.gradient_point, modules="numpy")
    return update, point


def _run_chunk(child, n, algorithm, compiled, data, lam, hyper_values, batch, noise_sd, e0, steps):
    update, point = compiled
    rng = np.random.Generator(np.random.PCG64(child))
    d = len(lam)
    sqrt_lam = np.sqrt(lam)
    state = [np.broadcast_to(np.asarray(s, dtype=float), (n, d)).copy()
             for s in algorithm.initial_state(e0)]
    edges = block_edges(steps)
    nb = len(edges) - 1
    out = {key: (np.empty((rows,) + shp), np.empty((rows,) + shp))
           for key, rows, shp in (("risk", steps + 1, ()), ("m", steps + 1, (d,)), ("mu", steps + 1, (d,)),
                                  ("block_risk", nb, ()), ("block_m", nb, (d,)))}
    acc = {"block_risk": np.zeros(n), "block_m": np.zeros((n, d))}
    block = 0

    def put(key, k, x):
        mean = x.mean(axis=0)
        out[key][0][k] = mean
        out[key][1][k] = ((x - mean) ** 2).sum(axis=0)

    def record(k, e):
        nonlocal block
        sq = e * e
        risk = 0.5 * (sq @ lam + noise_sd**2)
        for key, x in (("risk", risk), ("m", sq), ("mu", e)):
            put(key, k, x)
        if k >= 1:
            acc["block_risk"] += risk
            acc["block_m"] += sq
            if k == edges[block + 1] - 1:
                width = edges[block + 1] - edges[block]
                for key in acc:
                    put(key, block, acc[key] / width)
                    acc[key][...] = 0.0
                block += 1

    record(0, state[0])
    schedule = hyper_values
    timed = any(callable(h) for h in schedule)
    for k in range(1, steps + 1):
        if timed:  # the step k-1 -> k uses h(k - 1), as in theory.Recursion.trajectory
            hyper_values = [float(h(k - 1)) if callable(h) else h for h in schedule]
            algorithm.check_hyperparameters(dict(zip(algorithm.hyperparameters, hyper_values)))
        p = point(*state, *hyper_values)
        p = np.broadcast_to(p, (n, d))
        x = sample_standardized(data, rng, (n, batch, d)) * sqrt_lam
        resid = np.einsum("rbd,rd->rb", x, p)
        if noise_sd:
            resid = resid - noise_sd * rng.standard_normal((n, batch))
        g = np.einsum("rbd,rb->rd", x, resid) / batch
        state = [np.broadcast_to(s, (n, d)) for s in update(*state, g, *hyper_values)]
        record(k, state[0])
    return n, out


def simulate(algorithm: Algorithm | None = None, *, data: DataModel | None = None, eigenvalues,
             learning_rate, batch=1, noise_variance=0.0, initial=1.0, steps=100, replicas=1000,
             seed=None, workers=None, chunk_size=1024, **hyper) -> SimulationResult:
    r"""Run ``algorithm`` on streaming least squares, ``replicas`` independent times.

    Model: x = sqrt(lambda) z in the eigenbasis of K = diag(lambda) (z from
    ``data``), y = <x, theta*> + eps with eps ~ N(0, sigma^2); the error
    e = theta - theta* starts at the deterministic ``initial`` e_0.

    Parameters
    ----------
    algorithm : theory.Algorithm, default SGD()
    data : theory.DataModel, default Gaussian()
    eigenvalues : array_like, shape (d,)
        lambda_i > 0.
    learning_rate : float > 0
        gamma (no 1/d scaling).
    batch : int >= 1
    noise_variance : float >= 0
        sigma^2.
    initial : float or array of shape (d,)
        e_0 in the eigenbasis.
    steps, replicas : int >= 1
    seed : int, SeedSequence or None
        Root of every random stream; None draws fresh entropy, which is recorded.
    workers : int, optional
        Threads over chunks (default: number of CPUs). Does not change the numbers.
    chunk_size : int
        Replicas per random stream. Part of the seed record: changing it changes the numbers.
    **hyper
        Other hyperparameters of ``algorithm`` (e.g. ``momentum``); each may be a
        callable h(k) of the step (a schedule): the step k -> k + 1 uses h(k).

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        Bad eigenvalues, learning rate, batch, noise variance, initial error,
        steps or replicas (< 1), or unknown hyperparameters.

    Example
    -------
    >>> from verify import simulate
    >>> res = simulate(eigenvalues=[1.0, 0.5], learning_rate=0.1, steps=5, replicas=200, seed=1)
    >>> res.risk.shape, res.second_moments.shape
    ((6,), (6, 2))
    """
    t0 = time.perf_counter()
    algorithm, data = check_algorithm_and_data(algorithm, data)
    lam = check_eigenvalues(eigenvalues)
    check_positive(learning_rate, "learning_rate")
    batch = check_integer(batch, "batch", 1)
    check_nonnegative(noise_variance, "noise_variance")
    e0 = check_initial(initial, len(lam))
    steps = check_integer(steps, "steps", 1)
    replicas = check_integer(replicas, "replicas", 1)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    data.kurtosis_values(len(lam))  # validates per-coordinate parameters against d
    names = list(algorithm.hyperparameters)
    values = {"learning_rate": float(learning_rate), **hyper}
    unknown = set(hyper) - set(names)
    missing = set(names) - set(values)
    if unknown or missing:
        raise ValueError(f"hyperparameters of {algorithm!r} are {names}; unknown {sorted(unknown)}, "
                         f"missing {sorted(missing)}")
    timed = any(callable(values[n]) for n in names[1:])
    if not timed:
        algorithm.check_hyperparameters(values)
    hyper_values = [values[n] if callable(values[n]) else float(values[n]) for n in names]

    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sizes = [min(chunk_size, replicas - s) for s in range(0, replicas, chunk_size)]
    children = root.spawn(len(sizes))
    compiled = _compile(algorithm)
    noise_sd = float(np.sqrt(float(noise_variance)))
    args = (algorithm, compiled, data, lam, hyper_values, batch, noise_sd, e0, steps)
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(sizes) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(sizes))) as pool:
            parts = list(pool.map(lambda cs: _run_chunk(cs[0], cs[1], *args), zip(children, sizes)))
    else:
        parts = [_run_chunk(c, s, *args) for c, s in zip(children, sizes)]

    d = len(lam)
    nb = len(block_edges(steps)) - 1
    acc = {"risk": _Stats((steps + 1,)), "m": _Stats((steps + 1, d)), "mu": _Stats((steps + 1, d)),
           "block_risk": _Stats((nb,)), "block_m": _Stats((nb, d))}
    for n, out in parts:
        for key, (mean, m2) in out.items():
            acc[key].merge(n, mean, m2)
    params = dict(algorithm=repr(algorithm), data=repr(data), eigenvalues=lam.tolist(),
                  learning_rate=float(learning_rate), batch=batch, noise_variance=float(noise_variance),
                  initial=e0.tolist(), steps=steps, replicas=replicas,
                  **{k: (repr(v) if callable(v) else v) for k, v in hyper.items()})
    return SimulationResult(
        risk=acc["risk"].mean, risk_se=acc["risk"].se(),
        second_moments=acc["m"].mean, second_moments_se=acc["m"].se(),
        mean=acc["mu"].mean, mean_se=acc["mu"].se(), replicas=replicas,
        block_edges=block_edges(steps), block_risk=acc["block_risk"].mean,
        block_risk_se=acc["block_risk"].se(), block_second_moments=acc["block_m"].mean,
        block_second_moments_se=acc["block_m"].se(),
        seed={"entropy": root.entropy, "spawn_key": list(root.spawn_key), "chunk_size": chunk_size},
        parameters=params, seconds=time.perf_counter() - t0,
    )
