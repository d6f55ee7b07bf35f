r"""AdaGrad-Norm on isotropic Gaussian data without label noise, sampled through its exact scalar reduction.

For K = I, x ~ N(0, I_d), sigma = 0, the algorithm of :class:`verify.adaptive.AdaGradNorm`
(arXiv:2405.19585, Alg. 1, in this package's units)

.. math:: G_k = x_k \langle x_k, e_k\rangle,\quad b_{k+1}^2 = b_k^2 + \|G_k\|^2/d^2,\quad
          g_{k+1} = \eta / b_{k+1},\quad e_{k+1} = e_k - \frac{g_{k+1}}{d} G_k

is rotation invariant: with u = e_k/|e_k|, z = <x_k, u> ~ N(0, 1) and c = |x_k|^2 - z^2 ~ chi^2_{d-1}
are independent of each other and of the past, <x_k, e_k>^2 = |e_k|^2 z^2, ||G_k||^2 = |e_k|^2 z^2 (z^2 + c)
and

.. math:: |e_{k+1}|^2 = |e_k|^2\bigl(1 - 2\tfrac{g}{d} z^2 + \tfrac{g^2}{d^2} z^2 (z^2 + c)\bigr).

So (|e_k|^2, b_k^2) is a Markov chain driven by i.i.d. pairs (z, c): the risk R_k = |e_k|^2/2 and the
learning rates g_k have exactly the law of the d-dimensional algorithm, for two variates per step
instead of d. ``tests/verify/test_adaptive_isotropic.py`` checks the equality in law against the
d-dimensional fused-kernel run (:func:`verify.adaptive.simulate_adaptive`, two-sample tests) and that a
planted error (chi^2_d instead of chi^2_{d-1}, and eta off by 10 %) is rejected.

Recorded as :func:`verify.adaptive.simulate_adaptive` records them: the learning rate at step k >= 1 is
the one used for the step k-1 -> k (after accumulating G_{k-1}), at k = 0 eta/b; per-replica averages over
the dyadic blocks :func:`verify.montecarlo.block_edges`. Random numbers: one PCG64 stream per chunk of
replicas from the ``SeedSequence`` children (:func:`verify.montecarlo.chunk_streams`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from theory.validation import check_integer, check_positive, check_replicas

from .montecarlo import block_edges, chunk_streams

__all__ = ["IsotropicAdaGradRun", "simulate_adagrad_norm_isotropic"]


@dataclass(frozen=True)
class IsotropicAdaGradRun:
    """Per-replica dyadic block averages (replicas, blocks) of the learning rate g_k and the risk R_k
    over the steps [block_edges[j], block_edges[j+1]); ``seed``: entropy and spawn key of the root."""

    block_edges: list
    replica_block_learning_rate: np.ndarray
    replica_block_risk: np.ndarray
    seed: dict
    replicas: int


def _chunk(child, n, eta, b, d, q0, steps, edges, chi_dof):
    rng = np.random.Generator(np.random.PCG64(child))
    q = np.full(n, float(q0))              # |e_k|^2
    acc = np.full(n, b * b)               # b_k^2
    nb = len(edges) - 1
    lr_sum, risk_sum = np.zeros((n, nb)), np.zeros((n, nb))
    j, width = 0, edges[1] - edges[0]
    chunk = 1024
    for k0 in range(1, steps + 1, chunk):
        m = min(chunk, steps + 1 - k0)
        z2 = rng.standard_normal((m, n)) ** 2
        c = rng.chisquare(chi_dof, (m, n))
        for i in range(m):
            k = k0 + i
            zz = z2[i]
            acc += q * zz * (zz + c[i]) / (d * d)
            g = eta / np.sqrt(acc)
            h = g / d
            q = q * (1.0 - 2.0 * h * zz + h * h * zz * (zz + c[i]))
            if k >= edges[j + 1]:
                j += 1
                width = edges[j + 1] - edges[j]
            lr_sum[:, j] += g / width
            risk_sum[:, j] += 0.5 * q / width
    return lr_sum, risk_sum


def simulate_adagrad_norm_isotropic(eta, b, *, d, initial_D2=1.0, steps, replicas, seed=None, chunk_size=256,
                                    _chi_dof=None) -> IsotropicAdaGradRun:
    r"""AdaGrad-Norm (eta, b) on K = I_d, sigma = 0, from |e_0|^2 = ``initial_D2`` (D^2 = d e_i^2 with all
    coordinates equal), for ``steps`` steps, ``replicas`` times, through the exact scalar reduction of
    the module docstring.

    Parameters: eta, b > 0; d >= 2 (the dimension); initial_D2 > 0; steps >= 1; replicas >= 2;
    seed an int, a SeedSequence or None; chunk_size >= 1 replicas per random stream.

    Returns :class:`IsotropicAdaGradRun`. Raises ValueError naming a bad argument.

    Example
    -------
    >>> run = simulate_adagrad_norm_isotropic(1.0, 0.3, d=512, steps=10240, replicas=32, seed=0)
    >>> run.block_edges[-2:], run.replica_block_learning_rate.shape
    ([8192, 10241], (32, 14))
    """
    eta, b = float(check_positive(eta, "eta")), float(check_positive(b, "b"))
    d = check_integer(d, "d", 2)
    q0 = float(check_positive(initial_D2, "initial_D2"))
    steps = check_integer(steps, "steps", 1)
    replicas = check_replicas(replicas)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    root, children, sizes = chunk_streams(seed, replicas, chunk_size)
    edges = block_edges(steps)
    dof = d - 1 if _chi_dof is None else _chi_dof
    parts = [_chunk(c, n, eta, b, d, q0, steps, edges, dof) for c, n in zip(children, sizes)]
    return IsotropicAdaGradRun(edges, np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                               {"entropy": root.entropy, "spawn_key": list(root.spawn_key)}, replicas)
