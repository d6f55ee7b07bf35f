r"""Monte Carlo of streaming SGD on a single-index model (GLM), vectorised over replicas.

The algorithm itself, in the normalisation of :mod:`theory.glm`: a fresh a_k ~ N(0, K) each
step, r = <a, X>, r* = <a, X*>, a label y drawn from the loss's label model given r*, and

.. math:: X_{k+1} = X_k - \frac{g}{d}\, a_k\, f(r_k, y_k),\qquad f = \partial_r \ell .

At the recorded steps (t = k/d) the covariance B of (r, r*) under the population is computed
exactly from the iterate (B_11 = sum_j lambda_j X_j^2, B_12 = sum_j lambda_j X_j X^*_j,
B_22 = sum_j lambda_j X_j^{*2}) and the population risk of that iterate is E l under N(0, B)
(:meth:`theory.glm.GLMLimit.risk_at`: exact for polynomial losses, 1e-10 relative otherwise).
Every random stream comes from the given ``numpy.random.SeedSequence`` (recorded in the result).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.special import ndtr

from theory.glm.derivation import GLMLimit, r, rs, sigma2, y
from theory.glm.functions import NUMPY_FUNCTIONS
from theory.validation import (
    check_eigenvalues,
    check_integer,
    check_nonnegative,
    check_positive,
)

__all__ = ["ENGINES", "GLMRun", "power_law_spectrum", "simulate_glm"]


def power_law_spectrum(d, exponent=0.5):
    r"""lambda_j proportional to j^{-exponent}, j = 1..d, normalised so that tr K / d = 1.

    Raises ValueError unless d >= 1 and exponent >= 0.
    """
    d = check_integer(d, "d")
    check_nonnegative(exponent, "exponent")
    lam = np.arange(1, d + 1, dtype=float) ** (-float(exponent))
    return lam / lam.mean()


@dataclass
class GLMRun:
    """Per-replica records of a Monte Carlo run.

    Attributes
    ----------
    t : (T,) recorded times k/d; steps : (T,) the step numbers k
    B : (replicas, T, 3) — B_11, B_12, B_22 of each replica's iterate
    risk : (replicas, T) — the population risk of each iterate
    seed : dict — entropy and spawn_key of the SeedSequence
    d, g, replicas
    """

    t: np.ndarray
    steps: np.ndarray
    B: np.ndarray
    risk: np.ndarray
    seed: dict
    d: int
    g: float
    replicas: int

    def block_average(self, t0, t1):
        """Each replica's risk averaged over the recorded times in [t0, t1) (shape (replicas,))."""
        sel = (self.t >= t0) & (self.t < t1)
        if not sel.any():
            raise ValueError(f"no recorded time in [{t0}, {t1})")
        return self.risk[:, sel].mean(axis=1)


def _label_mean(labels):
    return sp.lambdify([rs], labels.expression, modules=[NUMPY_FUNCTIONS, "numpy"])


def _replica_array(x, v):
    """``x`` (an array of v's shape, or a scalar) as a float array of v's shape: x itself when it already is
    one (the per-step label of the fused engine: ``np.broadcast_to(...).astype(float)`` cost 13 us per step,
    a tenth of a GLM step at 32 replicas and d = 1000)."""
    if type(x) is np.ndarray and x.shape == v.shape and x.dtype == np.float64:
        return x
    return np.broadcast_to(x, v.shape).astype(float)


def _label_sampler(labels, noise_variance):
    """y given r* from the generator ``rng`` (the NumPy engine)."""
    mean = _label_mean(labels)
    if labels.kind == "deterministic":
        return lambda v, rng: _replica_array(mean(v), v)
    if labels.kind == "bernoulli":
        return lambda v, rng: (rng.random(v.shape) < mean(v)).astype(float)
    sd = float(sp.sqrt(labels.variance.subs(sigma2, noise_variance)))
    return lambda v, rng: mean(v) + sd * rng.standard_normal(v.shape)


def _label_from_normal(labels, noise_variance):
    """y given r* and one standard normal eps per replica (the fused engine): y = mean(r*) exactly
    (deterministic), mean(r*) + sd eps (Gaussian), 1{Phi(eps) < p(r*)} (Bernoulli: Phi(eps) is uniform
    on (0, 1), so P(y = 1 | r*) = p(r*) exactly)."""
    mean = _label_mean(labels)
    if labels.kind == "deterministic":
        return lambda v, eps: _replica_array(mean(v), v)
    if labels.kind == "bernoulli":
        return lambda v, eps: (ndtr(eps) < mean(v)).astype(float)
    sd = float(sp.sqrt(labels.variance.subs(sigma2, noise_variance)))
    return lambda v, eps: mean(v) + sd * eps


ENGINES = ("fused", "numpy")


def simulate_glm(limit: GLMLimit, eigenvalues, g, t_max, *, teacher, initial=None, noise_variance=0.0,
                 replicas=64, seed=0, record_every=None, engine="fused", chunk_size=32, chunk=64) -> GLMRun:
    r"""Run streaming SGD on the GLM of ``limit.loss`` for ``t_max * d`` steps.

    Parameters
    ----------
    limit : theory.glm.GLMLimit
        Gives the loss, its label model and the risk of an iterate.
    eigenvalues : array (d,)
        Eigenvalues of K (the data are a = sqrt(lambda) * N(0, I)).
    g : float > 0
        Normalised step: the learning rate per step is gamma = g/d.
    t_max : float > 0
        Number of steps / d.
    teacher : array (d,)
        X*.
    initial : array (d,), optional
        X_0 (default 0), the same in every replica.
    noise_variance : float >= 0
        sigma^2 of Gaussian labels.
    replicas : int >= 2
    seed : int or numpy.random.SeedSequence
    record_every : int, optional
        Steps between records (default d // 16, at least 1).
    engine : "fused" (default) or "numpy"
        "fused": the compiled pass :func:`verify.glm_kernel.advance` (draws, projections, update and
        recorded B in one pass per replica and step; the loss's derivative and the label in NumPy,
        vectorised over replicas); replicas in chunks of ``chunk_size``, chunk c drawing from NumPy's
        SFC64 stream of the c-th child (spawn key + (c,)) of the seed, so the numbers depend only on
        the seed and ``chunk_size``. "numpy": the reference implementation, one PCG64 stream for all
        replicas, NumPy passes per step. The two agree in law (``tests/test_glm_fused.py``: two-sample
        tests, and a planted learning-rate error that the same test rejects).
    chunk_size : int >= 1
        Replicas per random stream (fused engine).
    chunk : int
        Steps whose data are drawn at once by the NumPy engine (memory replicas * d * chunk floats).

    Returns
    -------
    GLMRun

    Raises
    ------
    ValueError
        Naming the argument.

    Example
    -------
    >>> from theory.glm import derive_limit, logistic
    >>> lam = power_law_spectrum(50)
    >>> run = simulate_glm(derive_limit(logistic()), lam, 2.0, 0.5, teacher=np.full(50, 0.2), replicas=4, seed=1)
    >>> run.risk.shape, float(run.t[-1])       # records every d // 16 = 3 steps, and the last
    ((4, 10), 0.5)
    """
    lam = check_eigenvalues(eigenvalues)
    d = lam.size
    check_positive(g, "g")
    check_positive(t_max, "t_max")
    check_nonnegative(noise_variance, "noise_variance")
    replicas = check_integer(replicas, "replicas", 2)
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}; got {engine!r}")
    chunk_size = check_integer(chunk_size, "chunk_size")
    Xs = np.asarray(teacher, dtype=float)
    if Xs.shape != (d,) or not np.all(np.isfinite(Xs)):
        raise ValueError(f"teacher must be a finite array of shape ({d},); got shape {Xs.shape}")
    X0 = np.zeros(d) if initial is None else np.asarray(initial, dtype=float)
    if X0.shape != (d,) or not np.all(np.isfinite(X0)):
        raise ValueError(f"initial must be a finite array of shape ({d},); got shape {X0.shape}")
    steps = round(t_max * d)
    every = max(1, d // 16) if record_every is None else check_integer(record_every, "record_every")
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    f = sp.lambdify([r, y, rs], limit.gradient, modules=[NUMPY_FUNCTIONS, "numpy"])
    rec_steps = np.arange(0, steps + 1, every)
    if rec_steps[-1] != steps:
        rec_steps = np.append(rec_steps, steps)
    B = np.empty((replicas, rec_steps.size, 3))
    B[..., 2] = float(Xs @ (lam * Xs))
    run = _fused if engine == "fused" else _numpy
    run(B, rec_steps, limit, lam, g, f, Xs, X0, noise_variance, replicas, ss, chunk_size, chunk)
    b11 = np.maximum(B[..., 0], np.divide(B[..., 1] ** 2, B[..., 2], out=np.zeros(B.shape[:2]), where=B[..., 2] > 0))
    risk = np.asarray(limit.risk_at(b11, B[..., 1], B[..., 2], noise_variance=noise_variance), dtype=float)
    return GLMRun(rec_steps / d, rec_steps, B, risk, {"entropy": ss.entropy, "spawn_key": list(ss.spawn_key)}, d,
                  float(g), replicas)


def _fused(B, rec_steps, limit, lam, g, f, Xs, X0, noise_variance, replicas, ss, chunk_size, _chunk):
    from .glm_kernel import advance
    from .kernel import sfc64_state
    d, steps = lam.size, int(rec_steps[-1])
    label = _label_from_normal(limit.loss.labels, noise_variance)
    n_chunks = -(-replicas // chunk_size)
    states = np.stack([sfc64_state(np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (c,),
                                                          pool_size=ss.pool_size)) for c in range(n_chunks)])
    sq = np.sqrt(lam)
    coef = np.stack([(g / d) * sq, sq, sq * Xs, lam, lam * Xs])   # the rows of glm_kernel.STEP, ...
    X = np.tile(X0, (replicas, 1))
    Z = np.zeros((replicas, d + 1))
    rep = np.zeros((5, replicas))
    fv, b11, b12, rr, rstar = rep   # the rows of glm_kernel.FV, ... (views)
    eps = Z[:, d]
    j = 0
    for k in range(steps + 1):
        if k:
            fv[:] = f(rr, label(rstar, eps), rstar)
        rec = bool(k == rec_steps[j])
        advance(states, chunk_size, X, Z, coef, rep, k > 0, rec, k < steps)
        if rec:
            B[:, j, 0], B[:, j, 1] = b11, b12
            j += 1


def _numpy(B, rec_steps, limit, lam, g, f, Xs, X0, noise_variance, replicas, ss, _chunk_size, chunk):
    d, steps = lam.size, int(rec_steps[-1])
    rng = np.random.default_rng(ss)
    label = _label_sampler(limit.loss.labels, noise_variance)
    sq = np.sqrt(lam)
    X = np.tile(X0, (replicas, 1))
    lx = lam * Xs

    def record(j):
        B[:, j, 0] = (X * X) @ lam
        B[:, j, 1] = X @ lx
    record(0)
    j, k = 1, 0
    while k < steps:
        m = min(chunk, steps - k)
        A = rng.standard_normal((m, replicas, d))
        A *= sq
        for i in range(m):
            a = A[i]
            rr = np.einsum("rd,rd->r", a, X)
            rstar = a @ Xs
            fv = np.broadcast_to(f(rr, label(rstar, rng), rstar), rr.shape)
            X -= (g / d) * fv[:, None] * a
            k += 1
            if j < rec_steps.size and k == rec_steps[j]:
                record(j)
                j += 1
