r"""Euler-Maruyama Monte Carlo of homogenized SGD on a single-index model (GLM).

The SDE of :func:`theory.glm.homogenized.homogenize` (arXiv:2308.08977, homogenized SGD), in the
normalisation of :mod:`theory.glm` (step (g/d) * gradient, t = k/d):

.. math:: X_{n+1} = X_n - g\,\nabla\mathcal{R}(X_n)\,\Delta t + g\sqrt{\frac{\lambda\,\mathbb{E}F_2(B_n)}{d}\,\Delta t}\;\xi_n,
          \qquad \xi_n \sim N(0, I_d),

vectorised over replicas: each step costs O(replicas * d) plus the Gaussian expectations of
the drift and diffusion at every replica's B (one vectorised quadrature call). Replicas are split
into chunks, each with its own PCG64 stream from a child of the given ``SeedSequence``. The
population risk of each recorded iterate is computed exactly from its B, as in
:func:`verify.glm.simulate_glm`, whose :class:`~verify.glm.GLMRun` this returns.
"""
from __future__ import annotations

import numpy as np

from theory.glm.derivation import GLMLimit
from theory.glm.homogenized import homogenize, numeric
from theory.validation import (
    check_eigenvalues,
    check_integer,
    check_nonnegative,
    check_positive,
)

from .glm import GLMRun

__all__ = ["simulate_homogenized_glm"]


def _chunk(num, child, n, g, dt, lam, Xs, X0, steps, rec):
    rng = np.random.Generator(np.random.PCG64(child))
    d = lam.size
    X = np.tile(X0, (n, 1))
    lx = lam * Xs
    b22 = float(Xs @ lx)
    B = np.empty((n, rec.size, 2))
    j = 0
    for k in range(steps + 1):
        b11, b12 = (X * X) @ lam, X @ lx
        if j < rec.size and k == rec[j]:
            B[:, j, 0], B[:, j, 1] = b11, b12
            j += 1
        if k == steps:
            break
        b11 = np.maximum(b11, b12 * b12 / b22) if b22 > 0 else b11
        e = [np.asarray(v, dtype=float)[:, None] for v in num.quad(b11, b12, np.full(n, b22))]
        drift = num.drift(g, lam, X, Xs, *e)
        var = np.maximum(num.variance(g, lam, d, *e), 0.0)
        X = X + drift * dt + np.sqrt(var * dt) * rng.standard_normal((n, d))
    return B


def simulate_homogenized_glm(limit: GLMLimit, eigenvalues, g, t_max, *, teacher, initial=None, noise_variance=0.0,
                             time_step=1 / 64, replicas=64, seed=0, record_every=None, chunk_size=64) -> GLMRun:
    r"""Euler-Maruyama simulation of homogenized SGD for the loss of ``limit``.

    Parameters
    ----------
    limit : theory.glm.GLMLimit
    eigenvalues : array (d,)
        Eigenvalues of K.
    g : float > 0
        Normalised step (learning rate gamma = g/d); the SDE runs in t = k/d.
    t_max : float > 0
        Final time; t_max / time_step must be an integer.
    teacher : array (d,)
        X*.
    initial : array (d,), optional
        X_0 (default 0).
    noise_variance : float >= 0
        sigma^2 where the label model uses it.
    time_step : float > 0
        Delta t of the scheme (the scheme's expectation is O(Delta t) from the ODE).
    replicas : int >= 2
    seed : int or numpy.random.SeedSequence
    record_every : int, optional
        Scheme steps between records (default: every step).
    chunk_size : int >= 1
        Replicas per PCG64 stream.

    Returns
    -------
    verify.glm.GLMRun
        ``t`` the recorded times, ``steps`` the scheme's step numbers, ``B`` and the population ``risk``.

    Raises
    ------
    ValueError
        Naming the argument.

    Example
    -------
    >>> from theory.glm import derive_limit, logistic
    >>> from verify.glm import power_law_spectrum
    >>> run = simulate_homogenized_glm(derive_limit(logistic()), power_law_spectrum(40), 1.0, 0.5,
    ...                                teacher=np.full(40, 0.3), time_step=1 / 8, replicas=4, seed=1)
    >>> run.risk.shape
    (4, 5)
    """
    lam = check_eigenvalues(eigenvalues)
    d = lam.size
    g = float(check_positive(g, "g"))
    check_positive(t_max, "t_max")
    check_positive(time_step, "time_step")
    check_nonnegative(noise_variance, "noise_variance")
    steps = t_max / time_step
    if abs(steps - round(steps)) > 1e-9 * max(steps, 1.0):
        raise ValueError(f"t_max / time_step must be an integer; got t_max={t_max!r}, time_step={time_step!r}")
    steps = check_integer(round(steps), "t_max/time_step", 1)
    replicas = check_integer(replicas, "replicas", 2)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    Xs = np.asarray(teacher, dtype=float)
    if Xs.shape != (d,) or not np.all(np.isfinite(Xs)):
        raise ValueError(f"teacher must be a finite array of shape ({d},); got shape {Xs.shape}")
    X0 = np.zeros(d) if initial is None else np.asarray(initial, dtype=float)
    if X0.shape != (d,) or not np.all(np.isfinite(X0)):
        raise ValueError(f"initial must be a finite array of shape ({d},); got shape {X0.shape}")
    every = 1 if record_every is None else check_integer(record_every, "record_every", 1)
    rec = np.arange(0, steps + 1, every)
    if rec[-1] != steps:
        rec = np.append(rec, steps)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sizes = [min(chunk_size, replicas - s) for s in range(0, replicas, chunk_size)]
    children = ss.spawn(len(sizes))
    num = numeric(homogenize(limit), noise_variance)
    B2 = np.concatenate([_chunk(num, c, n, g, float(time_step), lam, Xs, X0, steps, rec)
                         for c, n in zip(children, sizes)])
    b22 = float(Xs @ (lam * Xs))
    B = np.concatenate([B2, np.full(B2.shape[:2] + (1,), b22)], axis=2)
    b11 = np.maximum(B[..., 0], B[..., 1] ** 2 / b22) if b22 > 0 else B[..., 0]
    risk = np.asarray(limit.risk_at(b11, B[..., 1], B[..., 2], noise_variance=noise_variance), dtype=float)
    return GLMRun(rec * float(time_step), rec, B, risk, {"entropy": ss.entropy, "spawn_key": list(ss.spawn_key)},
                  d, g, replicas)
