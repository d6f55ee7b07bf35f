"""The numeric even-sector map of the two-step methods (heavy ball, Nesterov), float64.

The per-pair state is the 3 x 3 block P_ij[a, b] = E q_a(i) q_b(j) of the products
q = (e^2, e e_prev, e_prev^2) and the per-direction diagonal D_i[k] = E e^(4-k) e_prev^k;
the coefficient arrays of the derived update (:mod:`theory.fourth.momentum`) are ordered by
:data:`PAIR_KEYS` and :data:`DIAGONAL_KEYS`. One step costs O(d^2); identical directions
are merged into classes for the spectrum and the critical learning rate.
"""
from __future__ import annotations

import functools

import numpy as np

from ..linear import block_diagonal

__all__ = ["TwoStepEvenMap", "PAIR_KEYS", "DIAGONAL_KEYS"]

#: term keys of the pair update P'_ij[a, b] in the order of the coefficient arrays
PAIR_KEYS = ([("P", g, h) for g in range(3) for h in range(3)] + [("Di", k) for k in range(5)]
             + [("Dj", k) for k in range(5)] + [("Ti", k) for k in range(3)] + [("Tj", k) for k in range(3)]
             + [("U",), ("V",)] + [("mi", k) for k in range(3)] + [("mj", k) for k in range(3)] + [("S",), ("1",)])
#: term keys of the diagonal update D'_i[k]
DIAGONAL_KEYS = ([("D", k) for k in range(5)] + [("T", k) for k in range(3)] + [("U",), ("V",)]
                 + [("m", k) for k in range(3)] + [("S",), ("1",)])

_IDX = np.add.outer(np.arange(3), np.arange(3))    # q_a q_b = s0^(4-a-b) s1^(a+b): D index a + b
_SYM = np.zeros((9, 6))                              # basis of symmetric 3 x 3 matrices (flattened)
for _n, (_a, _b) in enumerate((a, b) for a in range(3) for b in range(a, 3)):
    _SYM[3 * _a + _b, _n] = _SYM[3 * _b + _a, _n] = 1.0
_SYM_PINV = np.linalg.pinv(_SYM)
#: entries of the per-step arrays :meth:`TwoStepEvenMap.time_average_covariance` records at a time (32 MB)
CHUNK_ENTRIES = 2 ** 22
# The fused step (:meth:`TwoStepEvenMap.apply`) stacks per class y_c = (D_c, T_c, U, V, m_c, S, 1), the order
# of DIAGONAL_KEYS; the pair coefficients split into the columns acting on P_cd, on y_c (row class) and on
# the row-independent part (D_d, T_d, m_d) of y_d (column class).
_ROW_COLS = [PAIR_KEYS.index(k) for k in [("Di", k) for k in range(5)] + [("Ti", k) for k in range(3)]
             + [("U",), ("V",)] + [("mi", k) for k in range(3)] + [("S",), ("1",)]]
_COL_COLS = [PAIR_KEYS.index(k) for k in [("Dj", k) for k in range(5)] + [("Tj", k) for k in range(3)]
             + [("mj", k) for k in range(3)]]
_COL_Y = [DIAGONAL_KEYS.index(k) for k in [("D", k) for k in range(5)] + [("T", k) for k in range(3)]
          + [("m", k) for k in range(3)]]


class TwoStepEvenMap:
    """The two-step even-sector map at numeric parameters, for C classes of directions with counts n_c.

    State: ``P`` (C, C, 3, 3) -- P[c, d] the pair block for i in c, j in d, i != j (P[c, c] the
    pair inside class c, used only if n_c >= 2) -- and ``D`` (C, 5). Arrays may carry leading
    batch dimensions. ``pair`` (C, C, 3, 3, len(PAIR_KEYS)) and ``diag`` (C, 5, len(DIAGONAL_KEYS))
    are the derived coefficients; ``c`` (3,), ``w`` (5,) express p^2 and p^4 in the state.
    """

    def __init__(self, lam, counts, kappa, pair, diag, c, w, second=None):
        self.lam, self.counts = np.asarray(lam, float), np.asarray(counts)
        self.excess = (np.asarray(kappa, float) - 3.0) * self.lam**2
        self.pair, self.diag, self.c, self.w, self.second = pair, diag, np.asarray(c, float), np.asarray(w, float), second
        C = len(self.lam)
        self.N = self.counts[None, :] - np.eye(C)
        # the linear part of the pair update as one (9 x 27) matrix per (c, d) acting on
        # z_cd = (P_cd, D_c, D_d, T_c, T_d, U, V)
        self.K = np.ascontiguousarray(pair[..., :27].reshape(C, C, 9, 27))
        self.KF = np.ascontiguousarray(pair[..., 27:].reshape(C, C, 9, 8))   # on (m_c, m_d, S, 1)

    @property
    def classes(self):
        return len(self.lam)

    def _T(self, P, D):
        Dfull = D[..., _IDX]                                     # (..., C, 3, 3)
        own = self.lam[:, None] * (Dfull @ self.c)
        other = np.einsum("cd,...cda->...ca", self.N * self.lam[None, :], P @ self.c)
        return own + other

    def linear(self, P, D):
        """L(P, D): the step without the forcing (exact map for sigma^2 = 0 and the degree-4 part)."""
        dc = self.diag
        T = self._T(P, D)
        nl = self.counts * self.lam
        U = np.einsum("c,...ck,k->...", nl, T, self.c)
        V = np.einsum("c,...ck,k->...", self.counts * self.excess, D, self.w)
        C = self.classes
        lead = P.shape[:-4]
        Ub = np.broadcast_to(np.asarray(U)[..., None, None, None], lead + (C, C, 1))
        Vb = np.broadcast_to(np.asarray(V)[..., None, None, None], lead + (C, C, 1))
        z = np.concatenate([P.reshape(lead + (C, C, 9)),
                            np.broadcast_to(D[..., :, None, :], lead + (C, C, 5)),
                            np.broadcast_to(D[..., None, :, :], lead + (C, C, 5)),
                            np.broadcast_to(T[..., :, None, :], lead + (C, C, 3)),
                            np.broadcast_to(T[..., None, :, :], lead + (C, C, 3)), Ub, Vb], axis=-1)
        if lead:   # many states (the dense operator): one (states x 27) @ (27 x 9) product per class pair
            n = int(np.prod(lead))
            zz = np.moveaxis(z.reshape(n, C, C, 27), 0, 2)                              # (C, C, n, 27)
            out = np.moveaxis(zz @ np.swapaxes(self.K, -1, -2), 2, 0).reshape(P.shape)
        else:
            out = np.matmul(self.K, z[..., None])[..., 0].reshape(P.shape)
        Dn = np.einsum("ckl,...cl->...ck", dc[..., 0:5], D)
        Dn += np.einsum("ckl,...cl->...ck", dc[..., 5:8], T)
        Dn += dc[..., 8] * np.asarray(U)[..., None, None] + dc[..., 9] * np.asarray(V)[..., None, None]
        return out, Dn

    def forcing(self, m):
        """F(m, sigma^2): the part driven by the second moments m (C, 3) = (E s0^2, E s0 s1, E s1^2) and the noise."""
        dc = self.diag
        S = float(np.sum(self.counts * self.lam * (m @ self.c)))
        C = self.classes
        z = np.concatenate([np.broadcast_to(m[:, None, :], (C, C, 3)), np.broadcast_to(m[None, :, :], (C, C, 3)),
                            np.full((C, C, 1), S), np.ones((C, C, 1))], axis=-1)
        Pf = np.matmul(self.KF, z[..., None])[..., 0].reshape(C, C, 3, 3)
        Df = np.einsum("ckl,cl->ck", dc[..., 10:13], m) + dc[..., 13] * S + dc[..., 14]
        return Pf, Df

    @functools.cached_property
    def _fused(self):
        """Coefficient arrays of the fused step: pair columns on P_cd (C, C, 9, 9), on y_c (C, 9C, 15) and
        on y_d (C_d, 9C, 11, indexed [d, 9c + a]); the weights of T's pair sum (C, C, 3), of U and S (3C,)
        and of V (5C,)."""
        C = self.classes
        flat = self.pair.reshape(C, C, 9, len(PAIR_KEYS))
        KP = np.ascontiguousarray(flat[..., :9])
        KI = np.ascontiguousarray(flat[..., _ROW_COLS].reshape(C, 9 * C, len(_ROW_COLS)))
        KJ = np.ascontiguousarray(flat[..., _COL_COLS].transpose(1, 0, 2, 3).reshape(C, 9 * C, len(_COL_COLS)))
        Pc = np.zeros((3, 3, 3))                  # (P_cd c)[a] = sum_b P_cd[a, b] c_b as one (9 x 3) product
        Pc[np.arange(3), :, np.arange(3)] = self.c
        Dc = np.zeros((5, 3))                     # lambda_c (D_c[IDX] c)[a] = lambda_c sum_b D_c[a + b] c_b
        for a in range(3):
            Dc[a:a + 3, a] = self.c
        u = ((self.counts * self.lam)[:, None] * self.c).ravel()
        v = ((self.counts * self.excess)[:, None] * self.w).ravel()
        return KP, KI, KJ, Pc.reshape(9, 3), Dc, (self.N * self.lam[None, :])[:, None, :], u, v, \
            np.ascontiguousarray(self.diag)

    def apply(self, P, D, m):
        """One step (P, D) -> L(P, D) + F(m) (unbatched P (C, C, 3, 3), D (C, 5), m (C, 3): one fused pass,
        equal to :meth:`linear` + :meth:`forcing` up to the order of floating-point sums)."""
        if P.ndim != 4:
            P2, D2 = self.linear(P, D)
            Pf, Df = self.forcing(m)
            return P2 + Pf, D2 + Df
        KP, KI, KJ, Pc, Dc, Nl, u, v, dc = self._fused
        C = self.classes
        P9 = P.reshape(C, C, 9)
        y = np.empty((C, len(DIAGONAL_KEYS)))
        y[:, 0:5] = D
        y[:, 5:8] = self.lam[:, None] * (D @ Dc) + (Nl @ (P9.reshape(C * C, 9) @ Pc).reshape(C, C, 3))[:, 0]
        y[:, 8] = y[:, 5:8].ravel() @ u
        y[:, 9] = D.ravel() @ v
        y[:, 10:13] = m
        y[:, 13] = m.ravel() @ u
        y[:, 14] = 1.0
        out = np.einsum("cdak,cdk->cda", KP, P9)
        out += (KI @ y[:, :, None]).reshape(C, C, 9)
        out += (KJ @ y[:, _COL_Y, None]).reshape(C, C, 9).transpose(1, 0, 2)
        return out.reshape(P.shape), (dc @ y[:, :, None])[..., 0]

    # ---------------------------------------------------------------- dense operator
    def coordinates(self):
        """("D", c, k), ("P", c, d, a, b) for c < d, ("Pcc", c, a, b) for a <= b and n_c >= 2."""
        C = self.classes
        out = [("D", c, k) for c in range(C) for k in range(5)]
        out += [("P", c, d, a, b) for c in range(C) for d in range(c + 1, C) for a in range(3) for b in range(3)]
        out += [("Pcc", c, a, b) for c in range(C) if self.counts[c] >= 2 for a in range(3) for b in range(a, 3)]
        return out

    def dense(self):
        """Dense matrix of the linear part on the (class-symmetric) coordinates of :meth:`coordinates`."""
        coords = self.coordinates()
        n, C = len(coords), self.classes
        P = np.zeros((n, C, C, 3, 3))
        D = np.zeros((n, C, 5))
        for r, co in enumerate(coords):
            if co[0] == "D":
                D[r, co[1], co[2]] = 1.0
            elif co[0] == "P":
                _, c, d, a, b = co
                P[r, c, d, a, b] = P[r, d, c, b, a] = 1.0
            else:
                _, c, a, b = co
                P[r, c, c, a, b] = P[r, c, c, b, a] = 1.0
        P2, D2 = self.linear(P, D)
        out = np.empty((n, n))
        for r, co in enumerate(coords):
            if co[0] == "D":
                out[r] = D2[:, co[1], co[2]]
            elif co[0] == "P":
                out[r] = P2[:, co[1], co[2], co[3], co[4]]
            else:
                out[r] = P2[:, co[1], co[1], co[2], co[3]]
        return out

    # ---------------------------------------------------------------- det(I - L) by the coupling channels
    def secular(self):
        r"""(sign of det(I - L), log abs det(I - M)) on class-symmetric states, O(C^2) 9 x 9 solves per evaluation.

        L = L_0 + R G with L_0 the map without the couplings (block triangular: 5 x 5 blocks on
        D_c, 9 x 9 blocks on P_cd fed by D_c, D_d) and G = (T, U, V) (3C + 2 channels), so
        det(I - L) = det(I - L_0) det(I - M), M = G (I - L_0)^{-1} R.
        """
        C, n = self.classes, self.counts
        pc, dc = self.pair, self.diag
        I5, I9 = np.eye(5), np.eye(9)
        Dm = I5 - dc[..., 0:5]                                   # (C, 5, 5)
        Am = I9 - self.K[..., :9]                                # (C, C, 9, 9)
        single = n < 2
        Am[single, single] = I9                                 # no pair inside a class of one direction
        nch = 3 * C + 2
        # The channels: T_c[a] (3c + a), then U and V. Channel T_c[a] enters L_0's right-hand side only at
        # class c: D_c (through the diagonal coefficients), P_cd through Ti (row c) and P_dc through Tj
        # (column c), so the 9 x 9 system of the pair block (c, d) has just 8 right-hand sides: the three
        # channels of its row class, the three of its column class (the same channels when c = d: their
        # solutions add), U and V -- not all 3C + 2.
        Ti = pc[..., 19:22].reshape(C, C, 9, 3)
        Tj = pc[..., 22:25].reshape(C, C, 9, 3)
        Bi = pc[..., 9:14].reshape(C, C, 9, 5)
        Bj = pc[..., 14:19].reshape(C, C, 9, 5)
        xD = np.linalg.solve(Dm, dc[..., 5:10])                 # (C, 5, 5): D_c for T_c[0..2], U, V
        xDT, xDU = xD[..., :3], xD[..., 3:]
        rhs = np.concatenate([Ti + Bi @ xDT[:, None], Tj + Bj @ xDT[None, :],
                              np.stack([pc[..., 25], pc[..., 26]], axis=-1).reshape(C, C, 9, 2)
                              + Bi @ xDU[:, None] + Bj @ xDU[None, :]], axis=-1)  # (C, C, 9, 8)
        X = np.linalg.solve(Am, rhs)
        Y = np.einsum("cdabk,b->cdak", X.reshape(C, C, 3, 3, 8), self.c)          # (P_cd @ c)[a] per channel
        Nl = self.N * self.lam[None, :]
        # T outputs: own part lambda_c (D_c[IDX] @ c) + sum_d N_cd lambda_d (P_cd @ c)
        ownT = self.lam[:, None, None] * np.einsum("cabk,b->cak", xD[:, _IDX, :], self.c)   # (C, 3, 5)
        MT = np.zeros((C, 3, C, 3))          # [c', a', c, a]: output T_c'[a'] for channel T_c[a]
        diag = ownT[..., :3] + np.einsum("cd,cdak->cak", Nl, Y[..., 0:3])
        MT[np.arange(C), :, np.arange(C), :] = diag
        MT += np.transpose(Nl[:, :, None, None] * Y[..., 3:6], (0, 2, 1, 3))   # channel of the column class d = c
        MTu = ownT[..., 3:] + np.einsum("cd,cdak->cak", Nl, Y[..., 6:8])        # (C, 3, 2): for U, V
        M = np.zeros((nch, nch))
        M[:3 * C, :3 * C] = MT.reshape(3 * C, 3 * C)
        M[:3 * C, 3 * C:] = MTu.reshape(3 * C, 2)
        nlc = (self.counts * self.lam)[:, None] * self.c[None, :]               # U = sum_c n_c lambda_c T_c . c
        M[3 * C] = nlc.reshape(-1) @ M[:3 * C]
        V = np.einsum("c,cki,k->ci", self.counts * self.excess, xD, self.w)       # (C, 5)
        M[3 * C + 1, :3 * C] = V[:, :3].reshape(-1)
        M[3 * C + 1, 3 * C:] = V[:, 3:].sum(axis=0)
        sign, logabs = np.linalg.slogdet(np.eye(nch) - M)
        # sign of det(I - L_0) on class-symmetric states
        s0 = np.prod(np.sign(np.linalg.det(Dm)))
        iu = np.triu_indices(C, 1)
        s0 *= np.prod(np.sign(np.linalg.det(Am[iu])))
        inner = np.flatnonzero(n >= 2)
        if inner.size:
            Am_sym = np.einsum("yx,cxz,zw->cyw", _SYM_PINV, Am[inner, inner], _SYM)  # (I - A_cc) on symmetric P_cc
            s0 *= np.prod(np.sign(np.linalg.det(Am_sym)))
        return float(sign * s0), float(logabs)

    # ---------------------------------------------------------------- per direction
    def _second_step(self, m):
        """The second-moment map on class states m (C, 3): the coupling sums n_c v_c . m_c over the classes."""
        s = self.second
        return np.einsum("cpq,cq->cp", s.A, m) + s.u * np.sum(self.counts[:, None] * s.v * m) + s.f

    def _second_linear(self, x):
        """The linear part of the conditional second-moment map on class-symmetric (C, 3, ...) arrays."""
        s = self.second
        coupling = np.einsum("ip,ip...->...", self.counts[:, None] * s.v, x)
        return np.einsum("ipq,iq...->ip...", s.A, x) + s.u.reshape(s.u.shape + (1,) * (x.ndim - 2)) * coupling

    def _pfull(self, P, D):
        """P with the diagonal blocks filled from D (E q_a(i) q_b(i) = D_i[a + b]); per direction only."""
        Pf = P.copy()
        d = self.classes
        Pf[np.arange(d), np.arange(d)] = D[:, _IDX]
        return Pf

    def initial(self, e0, f0):
        q = np.stack([e0**2, e0 * f0, f0**2], axis=1)
        P = q[:, None, :, None] * q[None, :, None, :]
        D = np.stack([e0 ** (4 - k) * f0**k for k in range(5)], axis=1)
        return P, D, q

    def trajectory(self, e0, f0, steps, parameters=None):
        lam = self.lam
        d = len(lam)
        sigma2 = float(self.second.offset)
        P, D, m = self.initial(e0, f0)
        second = np.empty((steps + 1, d))
        fourth = np.empty((steps + 1, d))
        rvar = np.empty(steps + 1)
        for k in range(steps + 1):
            second[k], fourth[k] = m[:, 0], D[:, 0]
            M = self._pfull(P, D)[:, :, 0, 0]
            rvar[k] = 0.25 * (float(lam @ M @ lam) - float(lam @ m[:, 0]) ** 2)
            if k < steps:
                P, D = self.apply(P, D, m)
                m = self._second_step(m)
        from .recursion import FourthMomentTrajectory
        return FourthMomentTrajectory(second_moments=second, fourth_moments=fourth,
                                      risk=0.5 * (second @ lam + sigma2), risk_variance=rvar,
                                      second_moment_variance=fourth - second**2, parameters=parameters or {})

    def time_average_covariance(self, e0, f0, edges, parameters=None, directions=None):
        r"""Exact covariance of block time averages of the risk, and variances of block averages of e_i^2.

        Works on classes of directions (equal lambda, kappa, mu_6, mu_8 and equal initial
        (e_0^2, e_0 e_{-1}, e_{-1}^2)): such directions obey the same recursion, so every class sum
        is exact. ``e0``, ``f0`` (C,): the initial state of a representative of each class;
        ``self.second`` the second-moment map of those representatives. ``directions`` (d,): the
        class of each direction, to return per-direction variances (default: one row per class).

        The covariance of e_i^2 (i in class c') with q(j) at a later time is the second-moment map
        applied to its initial value as a function of j; j = i, j in c' \\ {i} and j in another class
        c differ, so per class c' it is carried as (C, 3) values for j != i (the coupling weight of
        class c being n_c - [c = c']) and (3,) values for j = i.
        """
        from .recursion import TimeAverageCovariance
        lam, n = self.lam, self.counts.astype(float)
        C = self.classes
        s = self.second
        sigma2 = float(s.offset)
        nb = len(edges) - 1
        block_of, sizes = TimeAverageCovariance.block_index(edges)
        nlam = n * lam
        Wlam = (n[None, :] - np.eye(C)) * lam[None, :]   # N[c, c'] lambda_c' (j in c, i in c', i != j)
        # the coupling of the per-coordinate sums: weight n_c - [c = c'] of class c for i in class c'
        Wv = (n[:, None] - np.eye(C))[:, None, :] * s.v[:, :, None]                # (c, p, c')
        # the conditional second-moment map on class-symmetric (C, 3) states as one (3C x 3C) matrix
        M2 = block_diagonal(s.A) + np.outer(s.u.ravel(), (n[:, None] * s.v).ravel())
        w0 = np.zeros((C, 3))
        w0[:, 0] = nlam
        w0 = w0.ravel()
        psi = np.zeros((3 * C, nb))         # sum_{k in I, k < l} M^{l-k} Cov(q_k, X_k), X = lambda . e^2
        A = np.zeros((nb, nb))
        Pc = np.zeros((C, 3, C))            # the same with e_i^2 (i in class c') for X, j != i; current block
        Ps = np.zeros((3, C))               # ... for j = i
        coord_var = np.zeros((nb, C))
        P, D, m = self.initial(e0, f0)
        first, K = int(edges[0]), int(edges[-1])
        for k in range(first):              # before the first block only the state moves
            P, D = self.apply(P, D, m)
            m = self._second_step(m)
        # the steps of the blocks in chunks: the state (P, D, m) is recorded along a chunk, the per-step
        # covariances are then formed for the whole chunk at once, and the block sums run over them
        chunk = max(1, min(K - first, CHUNK_ENTRIES // (3 * C * C + 8 * C)))
        risk_mean, m2_mean, diag_sum = np.zeros(nb), np.zeros((nb, C)), np.zeros(nb)
        for k0 in range(first, K, chunk):
            ks = np.arange(k0, min(K, k0 + chunk))
            Pcol = np.empty((len(ks), C, C, 3))
            Ds = np.empty((len(ks), C, 3))
            ms = np.empty((len(ks), C, 3))
            for t, k in enumerate(ks):
                Pcol[t], Ds[t], ms[t] = P[:, :, :, 0], D[:, :3], m
                if k + 1 < K:
                    P, D = self.apply(P, D, m)
                    m = self._second_step(m)
            bs = block_of[ks]
            S = ms[:, :, 0] @ nlam                                                       # (t,)
            Sc = Pcol.transpose(0, 1, 3, 2) - ms[:, :, :, None] * ms[:, None, None, :, 0]   # (t, c, a, c')
            Ss = Ds.transpose(0, 2, 1) - ms.transpose(0, 2, 1) * ms[:, None, :, 0]         # (t, a, c')
            Y = (np.einsum("cd,tcda->tca", Wlam, Pcol) + lam[:, None] * Ds - ms * S[:, None, None]).reshape(-1, 3 * C)
            np.add.at(diag_sum, bs, Y @ w0)
            np.add.at(risk_mean, bs, 0.5 * (S + sigma2))
            np.add.at(m2_mean, bs, ms[:, :, 0])
            np.add.at(coord_var, bs, Ss[:, 0])
            for t, k in enumerate(ks):
                b = bs[t]
                A[:, b] += w0 @ psi
                if k == edges[b]:
                    Pc[:] = 0.0
                    Ps[:] = 0.0
                coord_var[b] += 2.0 * Ps[0]
                psi[:, b] += Y[t]
                Pc += Sc[t]
                Ps += Ss[t]
                coupling = np.einsum("cpd,cpd->d", Wv, Pc) + np.einsum("pd,dp->d", Ps, s.v)
                Pc = np.einsum("cpq,cqd->cpd", s.A, Pc) + s.u[:, :, None] * coupling
                Ps = np.einsum("dpq,qd->pd", s.A, Ps) + s.u.T * coupling
                psi = M2 @ psi
        if directions is not None:
            coord_var, m2_mean = coord_var[:, directions], m2_mean[:, directions]
        return TimeAverageCovariance.from_sums(edges, sizes, A, diag_sum, risk_mean, m2_mean, coord_var, parameters)
