r"""The generic mechanism: per-direction blocks plus a rank-one coupling.

Every second-moment recursion that sgdcheck derives has the shape

.. math::
    s_{k+1,i} = A_i s_{k,i} + u_i C_k + f_i, \qquad C_k = \sum_{j=1}^d v_j^\top s_{k,j},

with s_{k,i} in R^p the second moments of eigendirection i (p = 1 for SGD,
p = 3 for heavy-ball momentum), A_i a p x p block, u_i, v_i, f_i in R^p, and
the observable (the risk) R_k = (w^T s_k + c) / 2. As one linear map on
R^{dp}, L = blockdiag(A_i) + u v^T, so by the matrix determinant lemma

.. math::
    \det(zI - L) = \prod_i \det(zI - A_i)\,\Bigl(1 - \sum_i v_i^\top (zI - A_i)^{-1} u_i\Bigr),

the *secular equation*. The fixed point follows from Sherman--Morrison:
with G = sum_i v_i^T (I - A_i)^{-1} u_i and H = sum_i v_i^T (I - A_i)^{-1} f_i,
C_inf = H / (1 - G) and s_inf,i = (I - A_i)^{-1}(u_i C_inf + f_i).

:class:`BlockRankOne` holds float64 arrays; :class:`MpBlockRankOne` holds
mpmath numbers for high precision.
"""
from __future__ import annotations

from dataclasses import dataclass

import mpmath
import numpy as np

__all__ = ["BlockRankOne", "MpBlockRankOne", "affine_orbit", "block_diagonal"]


#: largest state dimension iterated by :func:`affine_orbit` (dense powers); larger maps step one by one
ORBIT_LIMIT = 160


def block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """The dense (d p x d p) matrix blockdiag(blocks[0], ..., blocks[d-1]) of ``blocks`` (d, p, p).

    Example
    -------
    >>> import numpy as np
    >>> block_diagonal(np.array([[[1.0]], [[2.0]]])).tolist()
    [[1.0, 0.0], [0.0, 2.0]]
    """
    d, p = blocks.shape[:2]
    out = np.zeros((d, p, d, p))
    out[np.arange(d), :, np.arange(d), :] = blocks
    return out.reshape(d * p, d * p)


def affine_orbit(L: np.ndarray, f: np.ndarray, x0: np.ndarray, steps: int, block: int = 32) -> np.ndarray:
    r"""The orbit x_0, ..., x_steps of x_{k+1} = L x_k + f, shape (steps + 1, n), ``block`` steps per product.

    With the powers L^1..L^m and the partial sums F_t = sum_{j<t} L^j f precomputed (m = ``block``),
    x_{k+t} = L^t x_k + F_t for t = 1..m is one (m n x n) matrix-vector product: O(m n^3) once and
    O(steps n^2) in steps / m NumPy calls instead of ``steps`` (the same numbers up to the order of the
    floating-point sums; tests compare with step-by-step iteration). ``L`` (n, n), ``f`` and ``x0`` (n,).

    Example
    -------
    >>> import numpy as np
    >>> affine_orbit(np.array([[0.5]]), np.array([1.0]), np.array([0.0]), 3)[:, 0].tolist()
    [0.0, 1.0, 1.5, 1.75]
    """
    n = len(x0)
    out = np.empty((steps + 1, n))
    out[0] = x0
    m = max(1, min(block, steps))
    powers = np.empty((m, n, n))
    sums = np.empty((m, n))
    powers[0], sums[0] = L, f
    for t in range(1, m):
        powers[t] = L @ powers[t - 1]
        sums[t] = sums[t - 1] + powers[t - 1] @ f
    flat = powers.reshape(m * n, n)
    x = out[0]
    for k in range(0, steps, m):
        t = min(m, steps - k)
        chunk = (flat[:t * n] @ x).reshape(t, n) + sums[:t]
        out[k + 1:k + 1 + t] = chunk
        x = chunk[-1]
    return out


@dataclass
class BlockRankOne:
    """A block-diagonal plus rank-one affine map in float64.

    Attributes
    ----------
    A : ndarray, shape (d, p, p)
    u, v, f, w : ndarray, shape (d, p)
    offset : float
        c in R = (w^T s + c)/2 (sigma^2 for least squares).
    """

    A: np.ndarray
    u: np.ndarray
    v: np.ndarray
    f: np.ndarray
    w: np.ndarray
    offset: float = 0.0

    @property
    def dimension(self) -> int:
        return self.A.shape[0]

    @property
    def block_size(self) -> int:
        return self.A.shape[1]

    def apply(self, s: np.ndarray) -> np.ndarray:
        """One step: s -> A s + u (v.s) + f. ``s`` has shape (d, p)."""
        coupling = np.sum(self.v * s)
        return np.einsum("ipq,iq->ip", self.A, s) + self.u * coupling + self.f

    def iterate(self, s0: np.ndarray, steps: int) -> np.ndarray:
        """States s_0..s_steps, shape (steps + 1, d, p).

        Up to :data:`ORBIT_LIMIT` coordinates d p: for p = 1 by :func:`affine_orbit` on the dense
        matrix (blocks of steps at once); for p > 1 step by step with blockdiag(A) as one dense matrix
        and the coupling kept rank one (u (v . s): the dense u v^T adds rounding, measured up to 7x the
        error of the structured step on momentum maps). Else step by step in O(d p^2) per step."""
        d, p = self.A.shape[:2]
        if d * p <= ORBIT_LIMIT and p == 1:
            return affine_orbit(self.transition_matrix(), self.f.reshape(-1),
                                np.asarray(s0, dtype=float).reshape(-1), steps).reshape(steps + 1, d, p)
        out = np.empty((steps + 1,) + self.A.shape[:2])
        if d * p <= ORBIT_LIMIT:
            blocks = block_diagonal(self.A)
            u, v, f = self.u.reshape(-1), self.v.reshape(-1), self.f.reshape(-1)
            flat = out.reshape(steps + 1, d * p)
            flat[0] = x = np.asarray(s0, dtype=float).reshape(-1)
            for k in range(1, steps + 1):
                x = blocks @ x + u * (v @ x) + f
                flat[k] = x
            return out
        out[0] = s = np.asarray(s0, dtype=float)
        if self.block_size == 1:
            a, u, v, f = self.A[:, 0, 0], self.u[:, 0], self.v[:, 0], self.f[:, 0]
            s = s[:, 0].copy()
            for k in range(1, steps + 1):
                s = a * s + u * (v @ s) + f
                out[k, :, 0] = s
            return out
        for k in range(1, steps + 1):
            s = self.apply(s)
            out[k] = s
        return out

    def observable(self, states: np.ndarray) -> np.ndarray:
        """R = (w.s + offset)/2 for states of shape (..., d, p)."""
        return 0.5 * (np.sum(states * self.w, axis=(-2, -1)) + self.offset)

    def transition_matrix(self) -> np.ndarray:
        """The dense (dp x dp) matrix of the linear part L = blockdiag(A) + u v^T."""
        return block_diagonal(self.A) + np.outer(self.u.reshape(-1), self.v.reshape(-1))

    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues of L (with multiplicity), computed exactly in structure.

        Identical directions are merged: on the symmetric subspace they act as
        one direction whose coupling vector is multiplied by the multiplicity;
        on the complementary subspace (differences of identical directions) L
        acts as A_i alone. For p = 1 with u_i v_i >= 0 the merged map is similar
        to the symmetric diag(a) + q q^T with q_i = sqrt(u_i v_i).
        """
        d, p = self.A.shape[:2]
        keys = np.concatenate([self.A.reshape(d, -1), self.u, self.v], axis=1)
        uniq, index, counts = np.unique(keys, axis=0, return_index=True, return_counts=True)
        A, u, v = self.A[index], self.u[index], self.v[index] * counts[:, None]
        extra = [np.repeat(np.linalg.eigvals(A[c]), counts[c] - 1)
                 for c in np.flatnonzero(counts > 1)]
        if p == 1 and np.all(u[:, 0] * v[:, 0] >= 0):
            q = np.sqrt(u[:, 0] * v[:, 0])
            core = np.linalg.eigvalsh(np.diag(A[:, 0, 0]) + np.outer(q, q)).astype(complex)
        else:
            core = np.linalg.eigvals(BlockRankOne(A, u, v, u, u).transition_matrix())
        return np.concatenate([core] + extra) if extra else core

    def spectral_radius(self) -> float:
        """The largest modulus of an eigenvalue of L; the recursion is stable iff it is < 1."""
        return float(np.max(np.abs(self.eigenvalues())))

    def stationary(self) -> np.ndarray:
        """The fixed point s_inf (d, p) by Sherman--Morrison; requires spectral radius < 1."""
        eye = np.eye(self.block_size)
        M = eye[None] - self.A
        x = np.linalg.solve(M, self.u[..., None])[..., 0]
        y = np.linalg.solve(M, self.f[..., None])[..., 0]
        G = np.sum(self.v * x)
        H = np.sum(self.v * y)
        C = H / (1.0 - G)
        return x * C + y


class MpBlockRankOne:
    """The same map with mpmath entries (nested lists), for high precision.

    ``A`` is a list over directions of p x p ``mpmath.matrix``; ``u, v, f, w``
    lists over directions of p x 1 ``mpmath.matrix``.
    """

    def __init__(self, A, u, v, f, w, offset=0):
        self.A, self.u, self.v, self.f, self.w = A, u, v, f, w
        self.offset = mpmath.mpf(offset)

    @staticmethod
    def _dot(a, b):
        return mpmath.fsum(a[k] * b[k] for k in range(a.rows))

    def iterate(self, s0, steps: int):
        """List over steps of lists over directions of p x 1 mpmath matrices."""
        s = [mpmath.matrix(x) for x in s0]
        out = [s]
        for _ in range(steps):
            C = mpmath.fsum(self._dot(v, x) for v, x in zip(self.v, s))
            s = [A * x + u * C + f for A, x, u, f in zip(self.A, s, self.u, self.f)]
            out.append(s)
        return out

    def observable(self, state):
        return (mpmath.fsum(self._dot(w, x) for w, x in zip(self.w, state)) + self.offset) / 2

    def stationary(self):
        p = self.A[0].rows
        eye = mpmath.eye(p)
        xs, ys = [], []
        for A, u, f in zip(self.A, self.u, self.f):
            xs.append(mpmath.lu_solve(eye - A, u))
            ys.append(mpmath.lu_solve(eye - A, f))
        G = mpmath.fsum(self._dot(v, x) for v, x in zip(self.v, xs))
        H = mpmath.fsum(self._dot(v, y) for v, y in zip(self.v, ys))
        C = H / (1 - G)
        return [x * C + y for x, y in zip(xs, ys)]
