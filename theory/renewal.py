r"""The renewal (discrete Volterra) equation of a block-plus-rank-one recursion, solved fast.

The machinery behind :func:`theory.longtime.risk_curve` (see that module for the method and its
error bounds): the modes and their compression are in :mod:`theory.renewal_modes`
(:func:`~theory.renewal_modes._reduce`); here, directions with nearly defective blocks iterated exactly
(:class:`_ExactGroup`), and the exact solve of the compressed system in blocks of
:data:`BLOCK` steps (:func:`_solve`), with the per-direction state recovered from the node
states (:func:`_decompress`).

Source: Paquette, Paquette, Xiao, Pennington, arXiv:2405.15074 (Volterra form of the risk).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import toeplitz

from .renewal_modes import _Compressed, chebyshev_bound

__all__ = ["chebyshev_bound"]     # re-exported: it lives in theory.renewal_modes

#: time steps per exactly solved block
BLOCK = 256
#: memory for the block tables of the exactly iterated directions (3 block n p floats): the block
#: is shortened to fit (not below MIN_EXACT_BLOCK), the results do not depend on it
EXACT_TABLE_BYTES = 96 * 2**20
MIN_EXACT_BLOCK = 16


# ---------------------------------------------------------------------------------- stepping
#: magnitudes below this are set to zero (subnormal floats make every product 100x slower)
_TINY = 1e-280


class _Group:
    """Nodes of one arithmetic kind (real, or complex with conjugates folded) and their block tables."""

    def __init__(self, nu, W, block):
        self.complex = bool(np.any(nu.imag != 0))
        self.nu = nu if self.complex else nu.real
        self.W = W if self.complex else W.real
        P = np.empty((self.nu.size, block + 1), self.nu.dtype)  # nu^t, t = 0..block
        P[:, 0] = 1.0
        P[:, 1:] = np.cumprod(np.broadcast_to(self.nu[:, None], (self.nu.size, block)), axis=1)
        P[np.abs(P) < _TINY] = 0.0                               # no subnormal numbers (they are slow)
        self.P = P
        S = np.zeros_like(P)
        S[:, 1:] = np.cumsum(P[:, :-1], axis=1)                  # sum_{m<t} nu^m
        self.S = S
        self.PT = np.ascontiguousarray(P[:, :block].T)           # (block, N') for the free response
        self.Q = np.ascontiguousarray(P[:, block - 1::-1])       # nu^{block-1-s}, s = 0..block-1
        n = self.nu.size
        dt = self.nu.dtype
        self.E0, self.Ea, self.Eb = np.ones(n, dt), np.zeros(n, dt), np.zeros(n, dt)

    def kernels(self, block):
        """K_c(m), K_e(m) for m = 0..block-1 and the forcing tables (S^T W_b) for t = 0..block-1."""
        Pt = self.P[:, :block].T
        St = self.S[:, :block].T
        return ((Pt @ self.W[1]).real, (Pt @ self.W[4]).real, (St @ self.W[2]).real, (St @ self.W[5]).real)

    def free(self, block):
        """Contributions of the node states at the block start to C and to the risk sum, shape (block, 2)."""
        W = self.W
        g = np.stack([W[0] * self.E0 + W[1] * self.Ea + W[2] * self.Eb,
                      W[3] * self.E0 + W[4] * self.Ea + W[5] * self.Eb], axis=1)
        return (self.PT @ g).real

    def advance(self, C, L):
        """Carry the node states over L steps with couplings C[0..L-1]."""
        pl = self.P[:, L]
        Q = self.Q if L == self.Q.shape[1] else self.Q[:, -L:]
        self.Ea = pl * self.Ea + Q @ C[:L]
        self.Eb = pl * self.Eb + self.S[:, L]
        self.E0 = pl * self.E0
        self.E0[np.abs(self.E0) < _TINY] = 0.0


class _ExactGroup:
    """Directions iterated exactly (their p x p blocks are not diagonalised), same interface as _Group.

    Holds three tables of shape (block, n, p) -- (A^T)^t v, (A^T)^t w and A^t u for t < block --
    built step by step (no (block, n, p, p) table of matrix powers), plus A^L and sum_{m<L} A^m f
    for the block lengths L that :meth:`advance` is called with: memory 3 block n p floats, which
    :func:`_solve` bounds by shortening the block (:data:`EXACT_TABLE_BYTES`)."""

    def __init__(self, sub, s, block):
        A, u, v, f, w = sub.A, sub.u, sub.v, sub.f, sub.w
        n, p = u.shape
        self.PV = np.empty((block, n, p))    # (A^T)^t v
        self.PW = np.empty((block, n, p))    # (A^T)^t w
        self.G = np.empty((block, n, p))     # A^t u
        self.PV[0], self.PW[0], self.G[0] = v, w, u
        for t in range(1, block):
            self.PV[t] = np.einsum("iqp,iq->ip", A, self.PV[t - 1])
            self.PW[t] = np.einsum("iqp,iq->ip", A, self.PW[t - 1])
            self.G[t] = np.einsum("ipq,iq->ip", A, self.G[t - 1])
        self.A, self.u, self.f, self.s = A, u, f, s
        self._powers = {}

    def _power(self, L):
        """(A^L, sum_{m<L} A^m f), cached per L."""
        if L not in self._powers:
            n, p = self.u.shape
            P, F = np.broadcast_to(np.eye(p), (n, p, p)).copy(), np.zeros((n, p))
            Q, G = self.A, self.f                  # (A^(2^j), sum_{m < 2^j} A^m f), by squaring
            j = L
            while j:
                if j & 1:
                    P, F = Q @ P, np.einsum("ipq,iq->ip", Q, F) + G
                j >>= 1
                if j:
                    Q, G = Q @ Q, np.einsum("ipq,iq->ip", Q, G) + G
            self._powers[L] = (P, F)
        return self._powers[L]

    def kernels(self, block):
        return (np.einsum("tip,ip->t", self.PV[:block], self.u), np.einsum("tip,ip->t", self.PW[:block], self.u),
                self._forcing(self.PV, block), self._forcing(self.PW, block))

    def _forcing(self, P, block):
        # sum_{m<t} x^T A^m f = sum_{m<t} ((A^T)^m x) . f
        per = np.einsum("tip,ip->t", P[:block], self.f)
        out = np.zeros(block)
        out[1:] = np.cumsum(per[:-1])
        return out

    def free(self, block):
        return np.stack([np.einsum("tip,ip->t", self.PV[:block], self.s),
                         np.einsum("tip,ip->t", self.PW[:block], self.s)], axis=1)

    def advance(self, C, L):
        P, F = self._power(L)
        self.s = np.einsum("ipq,iq->ip", P, self.s) + np.einsum("tip,t->ip", self.G[L - 1::-1][:L], C[:L]) + F


def _solve(comp: _Compressed, steps: int, offset: float, block: int = BLOCK, state: bool = False, times=None):
    """Risk R_0..R_steps of the compressed system; with ``state`` also the groups carrying the node
    states at step ``steps``.

    ``times`` (sorted step counts in [0, steps]; default all): the risk is computed only in the blocks
    that hold one of them (the other entries are NaN). A block without a requested time is crossed
    with the precomputed node-to-node block map (:func:`_skip_maps`): O(N'^2) instead of
    O(block (block + N')), the same numbers up to rounding."""
    block = max(1, min(block, steps + 1))
    if comp.exact is not None:        # bounded memory: the exact directions' tables hold 3 block n p floats
        block = min(block, max(MIN_EXACT_BLOCK, EXACT_TABLE_BYTES // (24 * comp.exact[2].size)))
    is_c = comp.nu.imag != 0
    groups = [g for g in (_Group(comp.nu[~is_c], comp.W[:, ~is_c], block),
                          _Group(comp.nu[is_c], comp.W[:, is_c], block)) if g.nu.size]
    if comp.exact is not None:
        groups.append(_ExactGroup(comp.exact[1], comp.exact[2], block))
    Kc = np.zeros(block)
    Ke = np.zeros(block)
    sc = np.zeros(block)
    se = np.zeros(block)
    for g in groups:
        a, b, c, d = g.kernels(block)
        Kc += a
        Ke += b
        sc += c
        se += d
    # (I - T_c)^{-1} is lower-triangular Toeplitz: its first column r solves r_t = sum_{s<t} K_c(t-1-s) r_s
    r = np.zeros(block)
    r[0] = 1.0
    for j in range(1, block):
        r[j] = Kc[j - 1::-1] @ r[:j]
    zero = np.zeros(block)
    Minv = toeplitz(r, zero)
    TeMinv = toeplitz(np.concatenate([[0.0], np.convolve(Ke, r)[:block - 1]]), zero)
    if times is None:
        risk = np.empty(steps + 1)
        wanted = None
    else:
        risk = np.full(steps + 1, np.nan)
        wanted = np.zeros(steps // block + 2, bool)
        wanted[np.asarray(times, dtype=np.int64) // block] = True
    nblocks = (steps + 1 + block - 1) // block
    skip = None
    if wanted is not None and comp.exact is None:
        n, skipped = comp.nu.size, int(np.count_nonzero(~wanted[:nblocks - 1]))
        # building the maps costs ~ n block (block + n); each skipped block saves ~ 2 block^2 + 3 block n - n^2
        if skipped * (2 * block * block + 3 * block * n - n * n) > 2 * n * block * (block + n):
            skip = _skip_maps(groups, Minv, sc)
    k = 0
    while k <= steps:
        L = min(block, steps + 1 - k)
        last = k + L > steps
        if skip is not None and not last and not wanted[k // block]:
            run = 1                       # consecutive full blocks without a requested time (not the last block)
            while k + (run + 1) * L <= steps and not wanted[(k + run * L) // block]:
                run += 1
            _skip_block(groups, skip, L, run)
            k += run * L
            continue
        free = sum(g.free(block) for g in groups)
        gc = free[:, 0] + sc
        C = Minv @ gc
        risk[k:k + L] = 0.5 * (offset + free[:L, 1] + se[:L] + (TeMinv @ gc)[:L])
        if not last or (state and L > 1):
            for g in groups:
                g.advance(C, L - 1 if last else L)
        k += L
    return risk, groups


def _skip_maps(groups, Minv, sc):
    """For a full block without output: the node states' map Ea_g <- nu^L Ea_g + Q_g C with
    C = Minv (Re sum_h P_h^T x_h + sc), x_h = W0 E0 + W1 Ea + W2 Eb, as matrices
    Q_g Minv Re(P_h^T), Q_g Minv Im(P_h^T) (N'_g x N'_h) and the vector Q_g Minv sc."""
    out = []
    for g in groups:
        QM = g.Q @ Minv
        pairs = [(QM @ h.PT.real, QM @ h.PT.imag if h.complex else None) for h in groups]
        out.append((pairs, QM @ sc))
    return out


def _skip_block(groups, skip, L, blocks=1):
    """Advance every group's node states over ``blocks`` full blocks of L steps without the risk.

    Real groups only (every p = 1 recursion): per block one product with the precomputed
    T = diag(nu^L) + R diag(W_1) (R the blocks' re maps), the forcing of all the blocks at once
    (E0 and Eb evolve without coupling: nu^{jL} E0 and nu^L Eb + S_L, as the block-by-block update
    computes them); otherwise block by block (:func:`_skip_one`). The same numbers up to rounding."""
    if blocks == 1 or any(g.complex or not isinstance(g, _Group) for g in groups):
        for _ in range(blocks):
            _skip_one(groups, skip, L)
        return
    cut = np.cumsum([0] + [g.nu.size for g in groups])
    R = np.block([[re for re, _ in pairs] for pairs, _ in skip])
    q = np.concatenate([qg for _, qg in skip])
    W = np.concatenate([g.W for g in groups], axis=1)
    pl = np.concatenate([g.P[:, L] for g in groups])
    S = np.concatenate([g.S[:, L] for g in groups])
    T = R * W[1][None, :]
    T[np.diag_indices_from(T)] += pl
    E0 = np.empty((blocks, pl.size))
    Eb = np.empty((blocks, pl.size))
    E0[0], Eb[0] = np.concatenate([g.E0 for g in groups]), np.concatenate([g.Eb for g in groups])
    for j in range(1, blocks):
        E0[j] = pl * E0[j - 1]
        E0[j][np.abs(E0[j]) < _TINY] = 0.0
        Eb[j] = pl * Eb[j - 1] + S
    F = (W[0] * E0 + W[2] * Eb) @ R.T + q       # (blocks, N'): the forcing of each block
    Ea = np.concatenate([g.Ea for g in groups])
    for j in range(blocks):
        Ea = T @ Ea + F[j]
    E0_end, Eb_end = pl * E0[-1], pl * Eb[-1] + S
    E0_end[np.abs(E0_end) < _TINY] = 0.0
    for i, g in enumerate(groups):
        g.E0, g.Ea, g.Eb = E0_end[cut[i]:cut[i + 1]], Ea[cut[i]:cut[i + 1]], Eb_end[cut[i]:cut[i + 1]]


def _skip_one(groups, skip, L):
    """Advance every group's node states over one full block of L steps without the risk."""
    x = [g.W[0] * g.E0 + g.W[1] * g.Ea + g.W[2] * g.Eb for g in groups]
    new = []
    for g, (pairs, q) in zip(groups, skip):
        acc = g.P[:, L] * g.Ea + q
        for (re, im), xh in zip(pairs, x):
            acc = acc + re @ xh.real
            if im is not None:
                acc = acc - im @ xh.imag
        new.append(acc)
    for g, ea in zip(groups, new):
        pl = g.P[:, L]
        g.Ea = ea
        g.Eb = pl * g.Eb + g.S[:, L]
        g.E0 = pl * g.E0
        g.E0[np.abs(g.E0) < _TINY] = 0.0


def _decompress(comp, groups, mu, aux, s_modes, steps):
    """Per-direction state after ``steps`` steps from the node states (Chebyshev interpolation in x)."""
    V, _, a, b = aux
    d, p = a.shape
    nodes_Ea = np.concatenate([np.zeros(0, complex)] + [g.Ea.astype(complex) for g in groups
                                                         if isinstance(g, _Group)])
    is_c = comp.nu.imag != 0
    order = np.concatenate([np.flatnonzero(~is_c), np.flatnonzero(is_c)])
    Ea_nodes = np.empty(comp.nu.size, complex)
    Ea_nodes[order] = nodes_Ea
    Ea = np.zeros(mu.size, complex)
    factor = np.zeros(mu.size)
    for ids, sl, L in comp.pieces:
        Ea[ids] = Ea_nodes[sl] if L is None else L @ Ea_nodes[sl]
        factor[ids] = 1.0
    factor[mu.imag > 0] = 2.0              # the conjugate partner (imag < 0) is folded in
    E0 = mu ** steps
    pos = (mu.imag == 0) & (mu.real > 0) & (mu.real < 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        Eb = np.where(mu == 1, float(steps), (1 - E0) / (1 - mu))
    Eb[pos] = -np.expm1(steps * np.log(mu.real[pos])) / (1 - mu.real[pos])
    z = (factor * (E0 * s_modes + a.reshape(-1) * Ea + b.reshape(-1) * Eb)).reshape(d, p)
    out = np.einsum("ipq,iq->ip", V, z).real
    if comp.exact is not None:
        out[comp.exact[0]] = next(g for g in groups if isinstance(g, _ExactGroup)).s
    return out
