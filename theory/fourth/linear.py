r"""Numerics of the even-sector (fourth-moment) recursion: the map, its spectrum, time averages.

The derived map (:mod:`theory.fourth.derivation`) acts on symmetric d x d matrices Q (Q_ij = E e_i^2 e_j^2):

.. math::
    L(Q)_{ij} &= a_{ij} Q_{ij} + b_{ij} Q_{ii} + b_{ji} Q_{jj} + p_{ij} T_i + p_{ji} T_j + u_{ij} U + v_{ij} V
               \quad (i \ne j),\\
    L(Q)_{ii} &= \alpha_i Q_{ii} + \pi_i T_i + \upsilon_i U + \nu_i V,

T = Q lambda, U = lambda^T Q lambda, V = sum_i (kappa_i - 3) lambda_i^2 Q_ii, so one step costs
O(d^2). :class:`EvenSectorMap` holds the coefficients as float64 arrays for C *classes*
of directions with counts n_c (C = d, n = 1 for the map per direction). On matrices
that are constant on class blocks (D_c = Q_ii, O_cd = Q_ij for i in c, j in d, i != j)
the map reads the same with T_c = lambda_c D_c + sum_d lambda_d (n_d - delta_cd) O_cd,
U = sum_c n_c lambda_c T_c, V = sum_c n_c (kappa_c - 3) lambda_c^2 D_c; the rest of the
spectrum (the complement: differences between identical directions) is
computed block by block in :meth:`EvenSectorMap.eigenvalues`.
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from .. import symbols as sym
from ..compiled import LazySource, from_source, lambdify_source
from ..diskcache import persistent

__all__ = ["EvenSectorMap", "compile_coefficients"]

_PAIR_NAMES = ("a", "b", "p", "u", "v", "fm", "fs", "f0")
_DIAG_NAMES = ("alpha", "pi", "ups", "nu", "gm", "gs", "g0")
_LINEAR_NAMES = ("a", "b", "p", "u", "v", "alpha", "pi", "ups", "nu")


def _pair_keys():
    from . import derivation as f
    return dict(zip(_PAIR_NAMES, (f.Q_ij, f.Q_ii, f.T_i, f.U, f.V, sym.m, sym.S, sp.Integer(1))))


def _diag_keys():
    from . import derivation as f
    return dict(zip(_DIAG_NAMES, (f.Q_ii, f.T_i, f.U, f.V, sym.m, sym.S, sp.Integer(1))))


def compile_coefficients(rec):
    """Each coefficient as a polynomial in gamma: {name: [(power, numpy_fn, mpmath_fn)]}.

    Pair functions take (lambda_i, lambda_j, kappa_i, kappa_j, mu6_i, mu6_j, mu8_i, mu8_j, B, sigma2),
    diagonal ones (lambda_i, kappa_i, mu6_i, mu8_i, B, sigma2). The functions are compiled from Python
    sources generated once per derived recursion (SymPy's expansion and ``lambdify`` cost ~0.5 s per
    data model and process) and kept in the disk cache (:func:`_coefficient_sources`, keyed on the
    expressions themselves); the mpmath functions (for ``dps`` refinements only) are compiled on first use.
    """
    exprs = (tuple((name, rec.pair[key]) for name, key in _pair_keys().items())
             + tuple((name, rec.diagonal[key]) for name, key in _diag_keys().items()))
    sources = _coefficient_sources(exprs)
    mp = functools.cache(lambda: _coefficient_sources(exprs, "mpmath"))   # generated on the first mpmath call
    return {name: [(n, from_source(np_src), LazySource(functools.partial(_mp_source, mp, name, k)))
                   for k, (n, np_src) in enumerate(terms)]
            for name, terms in sources.items()}


def _mp_source(sources, name, k):
    return sources()[name][k][1]


@persistent   # the generated sources, loaded from disk afterwards (theory.diskcache)
def _coefficient_sources(exprs, module="numpy"):
    """{name: [(power, source for ``module``)]} of the coefficient expressions ``exprs`` ((name, expr), ...)."""
    from . import derivation as f
    pair_args = [sym.lam, f.lam_j, sym.kappa, f.kappa_j, sym.mu6, f.mu6_j, sym.mu8, f.mu8_j, sym.B, sym.sigma2]
    diag_args = [sym.lam, sym.kappa, sym.mu6, sym.mu8, sym.B, sym.sigma2]
    out = {}
    for name, expr in exprs:
        args = pair_args if name in _PAIR_NAMES else diag_args
        poly = sp.Poly(sp.expand(expr), sym.gamma)
        out[name] = [(mon[0], lambdify_source(args, c, module)) for mon, c in poly.terms()]
    return out


class _PowerArrays:
    """Coefficient arrays per power of gamma at fixed (lambda, moments, B, sigma^2); .at(gamma) sums them."""

    def __init__(self, compiled, lam, moments, batch, sigma2):
        k, m6, m8 = moments
        C = len(lam)
        col, row = (lambda x: x[:, None]), (lambda x: x[None, :])
        pair_vals = (col(lam), row(lam), col(k), row(k), col(m6), row(m6), col(m8), row(m8), batch, sigma2)
        diag_vals = (lam, k, m6, m8, batch, sigma2)
        self.terms = {}
        for name, fns in compiled.items():
            pair = name in _PAIR_NAMES
            shape = (C, C) if pair else (C,)
            vals = pair_vals if pair else diag_vals
            self.terms[name] = [(n, np.broadcast_to(np.asarray(fn(*vals), dtype=float), shape))
                                for n, fn, _ in fns]
        self.shapes = {name: ((C, C) if name in _PAIR_NAMES else (C,)) for name in compiled}

    def at(self, gamma: float, names=None) -> dict:
        """{name: sum_n gamma^n array_n} for the given coefficient names (all by default)."""
        out = {}
        for name in (self.terms if names is None else names):
            acc = np.zeros(self.shapes[name])
            for n, arr in self.terms[name]:
                acc += gamma**n * arr if n else arr
            out[name] = acc
        return out


class EvenSectorMap:
    """The even-sector map at numeric parameters, for C classes of directions with counts n_c.

    Attributes
    ----------
    lam : ndarray, shape (C,)
    counts : ndarray of int, shape (C,)
        n_c (all 1 for the map per direction).
    excess : ndarray, shape (C,)
        (kappa_c - 3) lambda_c^2, the weights of V.
    coef : dict of ndarray
        Pair coefficients (C, C): a, b, p, u, v (linear part) and fm, fs, f0 (forcing:
        m_i, S, constant; they include sigma^2); diagonal (C,): alpha, pi, ups, nu,
        gm, gs, g0. b[c, d] is the coefficient of Q_ii in Q'_ij for i in c, j in d.
    second : BlockRankOne or None
        The second-moment map of :func:`theory.derive` (per direction only).

    Methods: ``apply(Q, m)`` (one step, O(d^2)), ``linear(Q)``, ``forcing(m)``, ``dense()``
    (d(d+1)/2 x d(d+1)/2), ``reduced_dense()`` and ``eigenvalues()`` (class-symmetric part
    and complement), ``secular(z)``, ``trajectory(m0, steps)``,
    ``time_average_covariance(m0, edges)``; built by
    :meth:`theory.FourthMomentRecursion.linear_map`.

    Example
    -------
    >>> from theory import derive_fourth
    >>> mp = derive_fourth().linear_map([1.0, 0.5], 0.1)
    >>> mp.dense().shape, mp.classes
    ((3, 3), 2)
    >>> bool(np.max(np.abs(mp.eigenvalues())) < 1)
    True
    """

    def __init__(self, lam, counts, excess, coef, second=None):
        self.lam, self.counts, self.excess, self.coef, self.second = lam, counts, excess, coef, second

    @classmethod
    def build(cls, rec, lam, counts, gamma, batch, sigma2, moments=None, powers=None, with_second=False):
        lam = np.asarray(lam, dtype=float)
        if moments is None:
            moments = rec._moment_values(lam)
        if powers is None:
            powers = _PowerArrays(rec._compiled, lam, moments, batch, sigma2)
        second = None
        if with_second:
            from ..algorithms import SGD
            from ..derive import derive
            second = derive(SGD(), rec.data).linear_map(lam, gamma, batch, sigma2)
        coef = powers.at(gamma) if gamma is not None else None
        out = cls(lam, np.asarray(counts), (np.asarray(moments[0]) - 3.0) * lam**2, coef, second)
        out._powers, out._moments = powers, moments
        return out

    def at(self, gamma: float, linear_only: bool = False) -> EvenSectorMap:
        """The same classes at another learning rate (no second-moment map; without the
        forcing coefficients if ``linear_only``)."""
        names = _LINEAR_NAMES if linear_only else None
        out = EvenSectorMap(self.lam, self.counts, self.excess, self._powers.at(gamma, names))
        out._powers, out._moments = self._powers, self._moments
        if getattr(self._powers, "wt_cache", None) is not None:
            out._wt_cache = self._powers.wt_cache
        return out

    @property
    def classes(self) -> int:
        return len(self.lam)

    # ------------------------------------------------------------------ the map
    def _weights(self):
        n = self.counts
        return n[None, :] - np.eye(len(n))   # N_cd = n_d - delta_cd

    def linear(self, Q: np.ndarray) -> np.ndarray:
        """L(Q) for a symmetric Q of shape (d, d) (the map per direction: all counts 1). O(d^2)."""
        c, lam = self.coef, self.lam
        D = np.diagonal(Q).copy()
        T = Q @ lam
        U, V = float(lam @ T), float(self.excess @ D)
        X = c["b"] * D[:, None] + c["p"] * T[:, None]
        out = c["a"] * Q + X + X.T + c["u"] * U + c["v"] * V
        np.fill_diagonal(out, c["alpha"] * D + c["pi"] * T + c["ups"] * U + c["nu"] * V)
        return out

    def forcing(self, m: np.ndarray) -> np.ndarray:
        """F(m, sigma^2) (d, d): the part of the step driven by the second moments and the noise."""
        c = self.coef
        S = float(self.lam @ m)
        X = c["fm"] * m[:, None]
        out = X + X.T + c["fs"] * S + c["f0"]
        np.fill_diagonal(out, c["gm"] * m + c["gs"] * S + c["g0"])
        return out

    def apply(self, Q: np.ndarray, m: np.ndarray) -> np.ndarray:
        """One step Q_{k+1} = L(Q_k) + F(m_k, sigma^2); Q (d, d) symmetric, m (d,). O(d^2)."""
        return self.linear(np.asarray(Q, dtype=float)) + self.forcing(np.asarray(m, dtype=float))

    def _second_step(self, m):
        s = self.second
        return s.A[:, 0, 0] * m + s.u[:, 0] * float(s.v[:, 0] @ m) + s.f[:, 0]

    def dense(self) -> np.ndarray:
        """Dense matrix of L on the coordinates Q_ij, i <= j (row-major upper triangle)."""
        d = self.classes
        iu = np.triu_indices(d)
        cols = []
        for i, j in zip(*iu):
            E = np.zeros((d, d))
            E[i, j] = E[j, i] = 1.0
            cols.append(self.linear(E)[iu])
        return np.array(cols).T

    # ------------------------------------------------------------------ spectrum
    def _sym_coordinates(self):
        """Coordinates of class-symmetric matrices: (c, c) for D_c, (c, d) for O_cd (c < d),
        (c, -1) for O_cc (the off-diagonal entries inside class c, only if n_c >= 2)."""
        C = self.classes
        return ([(c, c) for c in range(C)] + [(c, d) for c in range(C) for d in range(c + 1, C)]
                + [(c, -1) for c in range(C) if self.counts[c] >= 2])

    def reduced_dense(self) -> np.ndarray:
        """Dense matrix of L restricted to class-symmetric matrices (coordinates of ``_sym_coordinates``).

        Every unit vector of the coordinates is mapped at once (a batch of class-symmetric matrices).
        """
        coords = np.array(self._sym_coordinates(), dtype=int).reshape(-1, 2)
        C, n = self.classes, len(coords)
        c, d = coords[:, 0], coords[:, 1]
        diag, inner = c == d, d == -1
        off = ~diag & ~inner
        r = np.arange(n)
        D, O = np.zeros((n, C)), np.zeros((n, C, C))
        D[r[diag], c[diag]] = 1.0
        O[r[inner], c[inner], c[inner]] = 1.0
        O[r[off], c[off], d[off]] = O[r[off], d[off], c[off]] = 1.0
        D2, O2 = self._reduced_apply(D, O)                   # (n, C), (n, C, C): column k is the image of e_k
        out = np.empty((n, n))
        out[diag] = D2[:, c[diag]].T
        out[inner] = O2[:, c[inner], c[inner]].T
        out[off] = O2[:, c[off], d[off]].T
        return out

    def _reduced_apply(self, D, O):
        """L on class-symmetric matrices (D (..., C), O (..., C, C)), leading dimensions a batch."""
        c, lam, n = self.coef, self.lam, self.counts
        T = lam * D + (O * self._weights()) @ lam
        U, V = T @ (n * lam), D @ (n * self.excess)
        U, V = np.asarray(U)[..., None], np.asarray(V)[..., None]
        X = c["b"] * D[..., :, None] + c["p"] * T[..., :, None]
        O2 = c["a"] * O + X + np.swapaxes(X, -1, -2) + c["u"] * U[..., None] + c["v"] * V[..., None]
        D2 = c["alpha"] * D + c["pi"] * T + c["ups"] * U + c["nu"] * V
        return D2, O2

    def eigenvalues(self) -> np.ndarray:
        """All eigenvalues of L on symmetric d x d matrices, with multiplicity (d(d+1)/2 of them).

        The class-symmetric part (dense, ``reduced_dense``) and the complement, an
        invariant subspace per irreducible part of the permutations of identical directions:
        for a class c with n_c >= 2 the "standard" part (vectors x on c with sum 0:
        Q_ii = A x_i, Q_ij = B (x_i + x_j) in c, Q_ij' = Delta_d x_i for j' in another class
        d) gives a small matrix, multiplicity n_c - 1; zero-row-sum off-diagonal patterns
        give a_cc (multiplicity n_c (n_c - 3)/2) and a_cd ((n_c - 1)(n_d - 1)).
        """
        c, lam, n = self.coef, self.lam, self.counts
        C = self.classes
        parts = [np.linalg.eigvals(self.reduced_dense()).astype(complex)]
        for k in range(C):
            if n[k] >= 4:
                parts.append(np.full(n[k] * (n[k] - 3) // 2, c["a"][k, k], dtype=complex))
            for l in range(k + 1, C):
                if n[k] >= 2 and n[l] >= 2:
                    parts.append(np.full((n[k] - 1) * (n[l] - 1), c["a"][k, l], dtype=complex))
            if n[k] >= 2:
                others = [l for l in range(C) if l != k]
                has_b = n[k] >= 3
                size = 1 + has_b + len(others)
                # tau = lam_k A + lam_k (n_k - 2) B + sum_d lam_d n_d Delta_d (row vector over coordinates)
                tau = np.zeros(size)
                tau[0] = lam[k]
                if has_b:
                    tau[1] = lam[k] * (n[k] - 2)
                for pos, l in enumerate(others, start=1 + has_b):
                    tau[pos] = lam[l] * n[l]
                M = np.zeros((size, size))
                M[0, 0] = c["alpha"][k]
                M[0] += c["pi"][k] * tau
                if has_b:
                    M[1, 1] += c["a"][k, k]
                    M[1, 0] += c["b"][k, k]
                    M[1] += c["p"][k, k] * tau
                for pos, l in enumerate(others, start=1 + has_b):
                    M[pos, pos] += c["a"][k, l]
                    M[pos, 0] += c["b"][k, l]
                    M[pos] += c["p"][k, l] * tau
                parts.append(np.repeat(np.linalg.eigvals(M), n[k] - 1))
        out = np.concatenate(parts)
        d = int(n.sum())
        if len(out) != d * (d + 1) // 2:  # pragma: no cover - guards the decomposition
            raise RuntimeError(f"the decomposition gave {len(out)} eigenvalues, expected {d * (d + 1) // 2}")
        return out

    def secular(self, z: float = 1.0):
        """(sign, log abs det(I - M(z)), sign of det(zI - L_0)) with det(zI - L) = det(zI - L_0) det(I - M(z)).

        L_0 is L without the couplings (T, U, V); M(z) the (C + 2) x (C + 2) matrix of the
        couplings (T_1..T_C, U, V) through (zI - L_0)^{-1}. Class-symmetric part only;
        O(C^2) to build, O(C^3) for the determinant.
        """
        c, lam, n = self.coef, self.lam, self.counts
        C = self.classes
        Wt, Wt2 = self._channel_weights()
        inv = 1.0 / (z - c["a"])
        dal = z - c["alpha"]
        nl, nw = n * lam, n * self.excess
        M = np.zeros((C + 2, C + 2))
        # input channel T_k: O_km = X[k, m] = (p_km + b_km eta_k)/(z - a_km) (O_kk counts twice);
        # output T_m = lambda_m D_m + sum_d lambda_d (n_d - delta_md) O_md
        eta = c["pi"] / dal
        X = c["b"] * eta[:, None]
        X += c["p"]
        X *= inv
        MTT = M[:C, :C]
        MTT[...] = (X * Wt.T).T
        MTT[np.diag_indices(C)] = lam * eta + np.einsum("ij,ij->i", X, Wt2)
        M[C, :C] = nl @ MTT
        M[C + 1, :C] = nw * eta
        for col, coef, vname in ((C, "u", "ups"), (C + 1, "v", "nu")):
            if not (np.any(c[vname]) or np.any(c[coef])):
                continue   # e.g. no excess-kurtosis channel V for Gaussian data
            vec = c[vname] / dal
            Y = c["b"] * vec[:, None]
            Y += c["b"].T * vec[None, :]
            Y += c[coef]
            Y *= inv
            t = lam * vec + np.einsum("ij,ij->i", Y, Wt)
            M[:C, col] = t
            M[C, col] = nl @ t
            M[C + 1, col] = nw @ vec
        M *= -1.0
        M[np.diag_indices(C + 2)] += 1.0
        sign, logabs = np.linalg.slogdet(M)
        iu = np.triu_indices(C, 1)
        factors = np.concatenate([dal, (z - c["a"][iu]), z - np.diagonal(c["a"])[n >= 2]])
        return float(sign), float(logabs), float(np.prod(np.sign(factors)))

    def _channel_weights(self):
        """Wt[m, d] = lambda_d (n_d - delta_md) and Wt2 = Wt (1 + delta) (cached: independent of gamma)."""
        cache = getattr(self, "_wt_cache", None)
        if cache is None:
            Wt = self._weights() * self.lam[None, :]
            Wt2 = Wt.copy()
            Wt2[np.diag_indices(len(self.lam))] *= 2.0
            cache = self._wt_cache = (Wt, Wt2)
            if hasattr(self, "_powers"):
                self._powers.wt_cache = cache
        return cache

    # ------------------------------------------------------------------ trajectories
    def trajectory(self, m0, steps, full=False, parameters=None):
        """Iterate from m_0 = e_0^2, Q_0 = m_0 m_0^T (deterministic e_0); see FourthMomentRecursion.trajectory."""
        from .recursion import FourthMomentTrajectory
        lam = self.lam
        d = len(lam)
        sigma2 = float(self.second.offset)
        m, Q = m0.astype(float), np.outer(m0, m0)
        second = np.empty((steps + 1, d))
        fourth = np.empty((steps + 1, d))
        rvar = np.empty(steps + 1)
        allQ = np.empty((steps + 1, d, d)) if full else None
        for k in range(steps + 1):
            second[k], fourth[k] = m, np.diagonal(Q)
            rvar[k] = 0.25 * (float(lam @ Q @ lam) - float(lam @ m) ** 2)
            if full:
                allQ[k] = Q
            if k < steps:
                Q, m = self.apply(Q, m), self._second_step(m)
        return FourthMomentTrajectory(second_moments=second, fourth_moments=fourth,
                                      risk=0.5 * (second @ lam + sigma2), risk_variance=rvar,
                                      second_moment_variance=fourth - second**2, Q=allQ,
                                      parameters=parameters or {})

    def time_average_covariance(self, m0, edges, parameters=None, directions=None):
        r"""Exact covariance of block time averages; see FourthMomentRecursion.time_average_covariance.

        Works on the classes of the map (equal lambda, kappa, mu_6, mu_8 and equal initial e_0^2 obey
        one recursion, so every class sum is exact): ``m0`` (C,) is e_0^2 of a representative of each
        class and ``self.second`` the second-moment map of those representatives. The state is
        D_c = E e_i^4 and O_cd = E e_i^2 e_j^2 (i in c, j in d, i != j). The covariance of e_i^2
        (i in class c') with e_j^2 at a later time is the second-moment map applied to it as a
        function of j; j = i and j != i (in class c, weight n_c - [c = c'] in the coupling) are
        carried separately: (C, C) values ``Pc[c, c']`` and (C,) values ``Ps[c']``. ``directions``
        (d,): the class of each direction, to return per-direction variances (default: one row per
        class). Cost O(steps C^2 + n_blocks steps C).
        """
        from .recursion import TimeAverageCovariance
        lam, n = self.lam, self.counts.astype(float)
        C = len(lam)
        s = self.second
        a2, u2, v2 = s.A[:, 0, 0], s.u[:, 0], s.v[:, 0]
        nv = n * v2
        nlam = n * lam
        W = n[:, None] - np.eye(C)           # W[c, c'] = number of j != i in class c, for i in class c'
        Wt = (n[None, :] - np.eye(C)) * lam[None, :]   # Wt[c, d] = lambda_d (n_d - delta_cd)
        Wv = W * v2[:, None]
        sigma2 = float(s.offset)
        nb = len(edges) - 1
        block_of, sizes = TimeAverageCovariance.block_index(edges)
        psi = np.zeros((nb, C))              # psi_I(l) = sum_{k in I, k < l} L^{l-k} Cov(e_k^2) lambda (per class)
        A = np.zeros((nb, nb))               # A[I, J] = sum_{l in J} lambda . psi_I(l)
        diag_sum = np.zeros(nb)              # sum_{l in I} lambda^T Cov(e_l^2) lambda
        Pc = np.zeros((C, C))                # the same per coordinate i in c' (j in c, j != i); current block
        Ps = np.zeros(C)                     # ... for j = i
        coord_var = np.zeros((nb, C))
        risk_mean = np.zeros(nb)
        m2_mean = np.zeros((nb, C))
        c = self.coef
        a, bb, p, u, v = c["a"], c["b"], c["p"], c["u"], c["v"]
        alpha, pi, ups, nu = c["alpha"], c["pi"], c["ups"], c["nu"]
        fm, fs, f0, gm, gs, g0 = c["fm"], c["fs"], c["f0"], c["gm"], c["gs"], c["g0"]
        nexc, f2 = n * self.excess, s.f[:, 0]
        m = m0.astype(float)
        D, O = m**2, np.outer(m, m)
        for k in range(edges[-1]):
            b = block_of[k]
            if b >= 0:
                SD = D - m * m                   # Var e_i^2
                SO = O - np.outer(m, m)          # Cov(e_i^2, e_j^2), i != j
                sl = lam * SD + (SO * Wt).sum(axis=1)    # (Cov(e^2) lambda)_j, j in class c
                A[:, b] += psi @ nlam
                diag_sum[b] += nlam @ sl
                if k == edges[b]:
                    Pc[:] = 0.0
                    Ps[:] = 0.0
                coord_var[b] += 2.0 * Ps + SD
                risk_mean[b] += 0.5 * (nlam @ m + sigma2)
                m2_mean[b] += m
                psi[b] += sl
                Pc += SO
                Ps += SD
                coupling = (Wv * Pc).sum(axis=0) + v2 * Ps
                Pc = a2[:, None] * Pc + np.outer(u2, coupling)
                Ps = a2 * Ps + u2 * coupling
            psi = psi * a2 + np.outer(psi @ nv, u2)
            if k + 1 < edges[-1]:
                # one step of L (as _reduced_apply, with the weights hoisted) plus the forcing F(m)
                T = lam * D + (O * Wt).sum(axis=1)
                U, V, S = float(nlam @ T), float(nexc @ D), float(nlam @ m)
                X = bb * D[:, None] + p * T[:, None] + fm * m[:, None]
                O = a * O + X + X.T + (u * U + v * V + fs * S + f0)
                D = alpha * D + pi * T + ups * U + nu * V + gm * m + gs * S + g0
                m = a2 * m + u2 * float(nv @ m) + f2
        if directions is not None:
            coord_var, m2_mean = coord_var[:, directions], m2_mean[:, directions]
        return TimeAverageCovariance.from_sums(edges, sizes, A, diag_sum, risk_mean, m2_mean, coord_var, parameters)
