"""The numeric even-sector map of a two-state method with per-step hyperparameters (float64).

State per direction (see :mod:`theory.fourth.generalized`): the pair blocks P[i, j] = E q(i) q(j)^T
(d, d, 3, 3) with q = (s_0^2, s_0 s_1, s_1^2) (P[i, i] unused), the diagonal D[i, n] = E s_0^{4-n} s_1^n
(d, 5) and the second moments m[i] = E q(i) (d, 3). One step with hyperparameter values h:
form the moment tables' right-hand sides z (keys of PAIR_KEYS / DIAGONAL_KEYS / SECOND_KEYS),
E[X(i) X(j)^T] = J_pair z (nonzero entries only), then P' = Sym^2(R) E[X X^T] Sym^2(R)^T, D' = Sym^4(R) J_diag z,
m' = Sym^2(R) J_second z. Cost O(d^2) per step (the nonzero entries of the pair table, 63 for
Gaussian data, then one (d^2 x 63) @ (63 x 9) product with Sym^2(R) (x) Sym^2(R)).
"""
from __future__ import annotations

import numpy as np

from .momentum_linear import PAIR_KEYS
from .recursion import FourthMomentTrajectory, TimeAverageCovariance

__all__ = ["GeneralizedEvenMap"]

# ``apply`` lays out z in this order of the pair keys (P_ij 9, D_i 5, D_j 5, T_i 3, T_j 3, U, V, m_i 3, m_j 3, S, 1)
_LAYOUT = ([("P", a, b) for a in range(3) for b in range(3)] + [("Di", k) for k in range(5)]
           + [("Dj", k) for k in range(5)] + [("Ti", k) for k in range(3)] + [("Tj", k) for k in range(3)]
           + [("U",), ("V",)] + [("mi", k) for k in range(3)] + [("mj", k) for k in range(3)] + [("S",), ("1",)])
if list(PAIR_KEYS) != _LAYOUT:  # pragma: no cover - a guard against a reordering of the shared keys
    raise ImportError("theory.fourth.momentum_linear.PAIR_KEYS changed order; update GeneralizedEvenMap.apply")


class GeneralizedEvenMap:
    """The even-sector step at numeric data parameters; hyperparameters enter per step.

    ``pair`` = (rows, cols, coef): the nonzero entries of the pair moment table, row c * 6 + d of
    E[X_c(i) X_d(j)], column of PAIR_KEYS, coefficients (n, d, d) at the eigenvalues (kept as
    ``coef`` (n, d (d - 1)/2) on the pairs i < j of ``numpy.triu_indices``); ``diag``
    (d, 15, len(DIAGONAL_KEYS)) and ``second`` (d, 6, len(SECOND_KEYS)) the other tables;
    ``matrices(*h)`` returns (R, Sym^2 R, Sym^4 R) for hyperparameter values h.
    """

    def __init__(self, lam, kappa, pair, diag, second, matrices, sigma2=0.0):
        self.lam = np.asarray(lam, float)
        d = len(self.lam)
        self.excess = (np.asarray(kappa, float) - 3.0) * self.lam**2
        self.matrices, self.sigma2 = matrices, float(sigma2)
        self.offdiag = self.lam[None, :] * (1.0 - np.eye(d))
        self.rows, self.cols, self.coef = (np.asarray(pair[0], int), np.asarray(pair[1], int),
                                           np.ascontiguousarray(pair[2], dtype=float))
        self._c, self._d = np.divmod(self.rows, 6)
        self.diag, self.second = diag, second
        # P[a, b, j, i] = P[b, a, i, j]: the pair update is computed on i < j only
        self._iu, self._ju = np.triu_indices(d, 1)
        self.coef = np.ascontiguousarray(self.coef[:, self._iu, self._ju])        # (n, d (d - 1)/2)

    # ---------------------------------------------------------------- one step
    def couplings(self, P, D, m):
        """(T (d, 3), U, V, S): the sums through which directions couple (P in the layout (3, 3, d, d))."""
        T = self.lam[:, None] * D[:, :3] + np.einsum("il,ail->ia", self.offdiag, P[:, 0])
        return T, float(self.lam @ T[:, 0]), float(self.excess @ D[:, 0]), float(self.lam @ m[:, 0])

    def apply(self, P, D, m, h, mats=None):
        """One step (P, D, m) -> (P', D', m') with hyperparameter values h (or their ``mats`` = matrices(*h)).

        P[a, b, i, j] = E q_a(i) q_b(j) (shape (3, 3, d, d)), D (d, 5), m (d, 3)."""
        _, S2, S4 = self.matrices(*h) if mats is None else mats
        T, U, V, S = self.couplings(P, D, m)
        d = len(self.lam)
        iu, ju = self._iu, self._ju
        z = np.empty((35, len(iu)))              # the keys of PAIR_KEYS on the pairs i < j
        z[0:9] = P.reshape(9, d, d)[:, iu, ju]
        z[9:14], z[14:19] = D.T[:, iu], D.T[:, ju]
        z[19:22], z[22:25] = T.T[:, iu], T.T[:, ju]
        z[25], z[26] = U, V
        z[27:30], z[30:33] = m.T[:, iu], m.T[:, ju]
        z[33], z[34] = S, 1.0
        W = z[self.cols] * self.coef                                           # (n, pairs)
        K = (S2[:, None, self._c] * S2[None, :, self._d]).reshape(9, -1)          # (9, n): P' = Sym2 Y Sym2^T
        Pu = (K @ W).reshape(3, 3, -1)
        P2 = np.zeros((3, 3, d, d))
        P2[:, :, iu, ju] = Pu
        P2[:, :, ju, iu] = Pu.transpose(1, 0, 2)
        zd = np.concatenate([D, T, np.full((d, 1), U), np.full((d, 1), V), m, np.full((d, 1), S),
                             np.ones((d, 1))], axis=1)
        D2 = np.einsum("ink,ik->in", self.diag, zd) @ S4.T
        return P2, D2, self.second_step(m, S2)

    def second_step(self, m, S2, constant=True):
        """m' = Sym^2(R) E[X(i)]; without the constant (the linear part) if not ``constant``.
        ``m`` has shape (d, 3) or (d, 3, n) (columns mapped independently)."""
        sec = self.second
        col = m if m.ndim == 3 else m[:, :, None]
        X = np.matmul(sec[..., :3], col) + sec[..., 3:4] * (self.lam @ col[:, 0])
        if constant:
            X += sec[..., 4:5]
        out = np.matmul(S2, X)
        return out if m.ndim == 3 else out[:, :, 0]

    # ---------------------------------------------------------------- runs
    @staticmethod
    def initial(s0, s1):
        q = np.stack([s0**2, s0 * s1, s1**2], axis=1)
        P = q.T[:, None, :, None] * q.T[None, :, None, :]
        D = np.stack([s0 ** (4 - k) * s1**k for k in range(5)], axis=1)
        return P, D, q

    def _cov_e2(self, P, D, m):
        """C[j, a, i] = Cov(q_a(j), e_i^2) (the diagonal blocks from D)."""
        d = len(self.lam)
        full = np.transpose(P[:, 0], (1, 2, 0)).copy()             # (j, i, a): E q_a(j) e_i^2
        full[np.arange(d), np.arange(d)] = D[:, :3]
        return np.transpose(full - m[:, None, :] * m[None, :, 0, None], (0, 2, 1))

    def trajectory(self, s0, s1, table, parameters=None):
        """Run len(table) steps (row k: the hyperparameters of step k -> k + 1)."""
        lam = self.lam
        steps, d = len(table), len(lam)
        P, D, m = self.initial(s0, s1)
        second, fourth, rvar = np.empty((steps + 1, d)), np.empty((steps + 1, d)), np.empty(steps + 1)
        for k in range(steps + 1):
            second[k], fourth[k] = m[:, 0], D[:, 0]
            rvar[k] = 0.25 * float(lam @ (self._cov_e2(P, D, m)[:, 0, :] @ lam))
            if k < steps:
                P, D, m = self.apply(P, D, m, table[k])
        return FourthMomentTrajectory(second_moments=second, fourth_moments=fourth,
                                      risk=0.5 * (second @ lam + self.sigma2), risk_variance=rvar,
                                      second_moment_variance=fourth - second**2, parameters=parameters or {})

    def time_average_covariance(self, s0, s1, edges, table, parameters=None):
        """Covariance of the block-averaged risks (see GeneralizedFourthRecursion.time_average_covariance)."""
        lam = self.lam
        d = len(lam)
        nb = len(edges) - 1
        block_of, sizes = TimeAverageCovariance.block_index(edges)
        psi = np.zeros((d, 3, nb))          # sum_{k in I, k < l} M_{l-1}..M_k Cov(q_k, X_k)
        cross, diag_sum = np.zeros((nb, nb)), np.zeros(nb)
        Psi = np.zeros((d, 3, d))           # the same with e_{k,i}^2 for X_k, current block only
        coord_var, risk_mean, m2_mean = np.zeros((nb, d)), np.zeros(nb), np.zeros((nb, d))
        P, D, m = self.initial(s0, s1)
        idx = np.arange(d)
        for k in range(edges[-1]):
            b = block_of[k]
            mats = self.matrices(*table[k])
            S2 = mats[1]
            if b >= 0:
                C = self._cov_e2(P, D, m)                          # (j, a, i)
                Y = C @ lam                                        # Cov(q_a(j), X_k)
                cross[:, b] += lam @ psi[:, 0, :]
                diag_sum[b] += lam @ Y[:, 0]
                if k == edges[b]:
                    Psi[:] = 0.0
                coord_var[b] += 2.0 * Psi[idx, 0, idx] + C[idx, 0, idx]
                risk_mean[b] += 0.5 * (lam @ m[:, 0] + self.sigma2)
                m2_mean[b] += m[:, 0]
                psi[:, :, b] += Y
                Psi = self.second_step(Psi + C, S2, constant=False)
            psi = self.second_step(psi, S2, constant=False)
            if k + 1 < edges[-1]:
                P, D, m = self.apply(P, D, m, table[k], mats)
        return TimeAverageCovariance.from_sums(edges, sizes, cross, diag_sum, risk_mean, m2_mean, coord_var,
                                               parameters)
