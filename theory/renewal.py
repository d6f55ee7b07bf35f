r"""The renewal (discrete Volterra) equation of a block-plus-rank-one recursion, solved fast.

The machinery behind :func:`theory.longtime.risk_curve` (see that module for the method and its
error bounds): modal decomposition of the p x p blocks (:func:`_modes`), compression of the
modes into Chebyshev nodes with a stated uniform bound (:func:`_compress`,
:func:`chebyshev_bound`), directions with nearly defective blocks iterated exactly
(:class:`_ExactGroup`), and the exact solve of the compressed system in blocks of
:data:`BLOCK` steps (:func:`_solve`), with the per-direction state recovered from the node
states (:func:`_decompress`).

Source: Paquette, Paquette, Xiao, Pennington, arXiv:2405.15074 (Volterra form of the risk).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import toeplitz

__all__ = ["chebyshev_bound"]

#: bin ratio x_b / x_a of the compression
RATIO = 2.0
#: time steps per exactly solved block
BLOCK = 256
#: blocks whose eigenvector matrix is worse conditioned than this (nearly defective, e.g. repeated
#: eigenvalues) are not diagonalised: their directions are iterated exactly within each block
FRAGILE_CONDITION = 1e8
#: ... and so are blocks whose modal weights cancel by more than this factor (close eigenvalues)
MAX_CANCELLATION = 1e4
#: memory for the block tables of the exactly iterated directions (3 block n p floats): the block
#: is shortened to fit (not below MIN_EXACT_BLOCK), the results do not depend on it
EXACT_TABLE_BYTES = 96 * 2**20
MIN_EXACT_BLOCK = 16


# ---------------------------------------------------------------------------------- modes
def _modes(m, s0):
    """Modal decomposition of a BlockRankOne ``m`` at state ``s0`` (d, p).

    Returns mu (N,) complex, weights (6, N) complex (c z0, c a, c b, e z0, e a, e b), the
    (V, Vinv, a, b) needed to map node states back to the per-direction state, and ``fragile``
    (N,) bool: the modes of blocks that are (nearly) defective (eigenvector condition number above
    :data:`FRAGILE_CONDITION`, or modal weights that cancel by more than :data:`MAX_CANCELLATION`:
    sum_l |omega_l| / max_m |sum_l omega_l mu_l^m| over the direction's modes, :func:`_cancellation`);
    their weights are zeroed and
    :func:`_reduce` iterates those directions exactly instead. Last, the largest cancellation
    factor among the other directions (the compression error is proportional to sum |omega|).
    """
    d, p = m.A.shape[:2]
    if p == 1:
        mu = m.A[:, :, 0].astype(complex)
        V = np.ones((d, 1, 1), dtype=complex)
        Vinv = V
        cond = np.ones(d)
    else:
        mu, V = np.linalg.eig(m.A)
        singular = ~(np.abs(np.linalg.det(V)) > 1e-8)     # columns have unit norm: |det| <= 1
        V[singular] = np.eye(p)
        Vinv = np.linalg.inv(V)
        cond = np.linalg.norm(V, axis=(1, 2)) * np.linalg.norm(Vinv, axis=(1, 2))   # Frobenius
        cond[singular] = np.inf
    z0 = np.einsum("ipq,iq->ip", Vinv, s0)
    a = np.einsum("ipq,iq->ip", Vinv, m.u)
    b = np.einsum("ipq,iq->ip", Vinv, m.f)
    c = np.einsum("iqp,iq->ip", V, m.v)
    e = np.einsum("iqp,iq->ip", V, m.w)
    W = np.stack([c * z0, c * a, c * b, e * z0, e * a, e * b]).reshape(6, -1)
    # the six sums, and the rows of V diag(a): the state rebuilt from the interpolated node states
    kinds = np.concatenate([W.reshape(6, d, p), np.transpose(V * a[:, None, :], (1, 0, 2))])
    cancel = _cancellation(mu, kinds, MAX_CANCELLATION)
    bad = ~(cond <= FRAGILE_CONDITION) | ~(cancel <= MAX_CANCELLATION)
    fragile = np.repeat(bad, p)
    W[:, fragile] = 0.0
    return mu.reshape(-1), W, (V, Vinv, a, b), fragile, float(np.max(cancel[~bad], initial=1.0))


#: step counts m at which the cancellation of a direction's sums is measured: 0 and this many
#: geometric points in [0.1, 30] / min_l |log |mu_l|| (the peak of m^j |mu|^m lies at j / |log |mu||)
_CANCEL_GRID = 6


def _cancellation(mu, Wd, limit=math.inf, chunk=1024):
    """Per direction, max over the weight kinds of sum_l |omega_l| / max_m |sum_l omega_l mu_l^m|,
    m over {0} and :data:`_CANCEL_GRID` geometric points in [0.1, 30] / min_l |log |mu_l|| (the sums'
    own scale; measuring at m = 0 alone flags e.g. v.u ~ 0 whose later terms are large). ``mu``
    (d, p), ``Wd`` (kinds, d, p); 1 where a direction's weights are all zero.

    The m = 0 ratio is an upper bound. It is refined on the grid for every direction above ``limit``
    (the caller's threshold) and, below it, in decreasing order until the largest refined value
    exceeds every remaining bound: the directions above ``limit`` and the largest value below it
    are exact, the rest are upper bounds below that largest value."""
    total = np.abs(Wd).sum(axis=2)
    ratio = np.where(total > 0, total / np.maximum(np.abs(Wd.sum(axis=2)), 1e-300), 1.0)
    out = np.nan_to_num(ratio, nan=np.inf).max(axis=0)           # at m = 0 (an upper bound)
    frac = np.geomspace(0.1, 30.0, _CANCEL_GRID)

    def refine(ids):
        with np.errstate(divide="ignore"):
            logmu = np.log(mu[ids].astype(complex))
        scale = np.clip(1.0 / np.maximum(np.abs(logmu.real).min(axis=1), 1e-300), 1.0, 1e12)
        grid = np.concatenate([np.zeros((ids.size, 1)), scale[:, None] * frac[None, :]], axis=1)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            powers = np.exp(np.where(np.isfinite(logmu[:, :, None]), logmu[:, :, None] * grid[:, None, :], -np.inf))
            peak = np.abs(np.einsum("kip,ipm->kim", Wd[:, ids], powers)).max(axis=2)
        r = np.where(total[:, ids] > 0, total[:, ids] / np.maximum(peak, 1e-300), 1.0)
        out[ids] = np.minimum(out[ids], np.maximum(np.nan_to_num(r, nan=np.inf).max(axis=0), 1.0))

    above = np.flatnonzero(out > limit)
    for lo in range(0, above.size, 8 * chunk):
        refine(above[lo:lo + 8 * chunk])
    below = np.flatnonzero((out > 4.0) & ~(out > limit))
    below = below[np.argsort(-out[below], kind="stable")]
    best = float(np.max(out[~(out > limit)], initial=1.0)) if not below.size else 1.0
    for lo in range(0, below.size, chunk):
        ids = below[lo:lo + chunk]
        if out[ids[0]] <= best:
            break
        refine(ids)
        best = max(best, float(out[ids].max()))
    return out


def chebyshev_bound(q: int, ratio: float = RATIO) -> float:
    """Uniform-in-m bound on abs(e^{-m x} - its degree q-1 Chebyshev interpolant) per unit weight,
    for a bin with x_b = ratio x_a: 2 ((ratio - 1) q / (4 e))^q / q!."""
    return 2.0 * ((ratio - 1.0) * q / (4.0 * math.e)) ** q / math.factorial(q)


def _nodes_for(accuracy: float) -> tuple:
    """Nodes per bin (real, complex) whose worst-case bound is below accuracy / 100."""
    q = 2
    while chebyshev_bound(q) > accuracy / 100 and q < 40:
        q += 1
    qc = 2
    while _disc_bound(1.0, math.hypot(0.25, 0.25), qc) > accuracy / 100 and qc < 60:
        qc += 1
    return q, qc


#: complex modes: cells [xi_a, r xi_a] x [i w xi_a, (i + 1) w xi_a] in x = -log mu = xi - i theta
_C_RATIO, _C_WIDTH = 1.5, 0.5


def _disc_bound(xi0, r, q):
    """Uniform-in-m bound on |e^{-m x} - p(x)| for |x - x0| <= r, p interpolating at q points on that
    circle (Hermite's formula on a circle of radius R' in (r, xi0)); xi0 = Re x0 > r."""
    m = np.geomspace(1e-3, 1e3, 121)[:, None] * (q / xi0)
    R = r + (xi0 - r) * np.linspace(0.02, 0.98, 49)[None, :]
    with np.errstate(over="ignore", under="ignore"):
        b = 2 * R * np.exp(-m * (xi0 - R)) / (((R / r) ** q - 1) * (R - r))
    return float(np.max(np.min(b, axis=1)))


def _lagrange(x, nodes, bw=None):
    """Matrix ell_n(x_l), shape (len(x), q), of the Lagrange basis at ``nodes`` (barycentric weights
    ``bw``; default: first-kind Chebyshev nodes)."""
    q = len(nodes)
    j = np.arange(q)
    if bw is None:
        bw = (-1.0) ** j * np.sin((2 * j + 1) * np.pi / (2 * q))
    diff = x[:, None] - nodes[None, :]
    exact = diff == 0
    diff[exact] = 1.0
    terms = bw / diff
    L = terms / terms.sum(axis=1, keepdims=True)
    rows = exact.any(axis=1)
    L[rows] = exact[rows].astype(float)
    return L


@dataclass
class _Compressed:
    nu: np.ndarray            # (N',) complex node values
    W: np.ndarray             # (6, N') complex weights (conjugate pairs folded: weight doubled)
    pieces: list              # (mode indices, node slice, Lagrange matrix or None) for decompression
    bound: np.ndarray         # (6,) a priori bound on the compressed sums (uniform in m)
    exact: object = None      # (directions, BlockRankOne restricted to them, their states) or None
    q: tuple = ()             # Chebyshev nodes per real bin, points per complex cell


def _compress(mu, W, q, qc=None, fragile=None):
    """Group modes into nodes (see the module docstring); q (qc) nodes per real (complex) bin."""
    qc = q if qc is None else qc
    N = mu.size
    idx = np.arange(N)
    real = mu.imag == 0
    r = mu.real
    solid = np.ones(N, bool) if fragile is None else ~fragile
    compressible = real & (r != 0) & (np.abs(r) < 1) & solid
    nus, Ws, pieces, bound = [], [], [], np.zeros(6)
    count = 0

    def keep(ids, fold):
        nonlocal count
        nus.append(mu[ids])
        Ws.append(W[:, ids] * (2.0 if fold else 1.0))
        pieces.append((ids, slice(count, count + ids.size), None))
        count += ids.size

    keep(idx[real & ~compressible & solid], False)
    cplx = idx[(mu.imag > 0) & (np.abs(mu) < 1) & solid]     # conjugate partners (imag < 0) are folded in
    keep(idx[(mu.imag > 0) & ~(np.abs(mu) < 1) & solid], True)
    if cplx.size:
        x = -np.log(mu[cplx])
        xi = x.real
        j = np.floor(np.log(xi) / math.log(_C_RATIO))
        cell = np.floor(x.imag / (_C_WIDTH * _C_RATIO ** j))
        keys = np.stack([j, cell], axis=1)
        _, inverse = np.unique(keys, axis=0, return_inverse=True)
        for c in range(inverse.max() + 1):
            inside = inverse.ravel() == c
            sel, xs = cplx[inside], x[inside]
            if sel.size <= qc:
                keep(sel, True)
                continue
            x0 = 0.5 * (xs.real.min() + xs.real.max()) + 0.5j * (xs.imag.min() + xs.imag.max())
            rad = float(np.max(np.abs(xs - x0))) * (1 + 1e-12)
            yn = x0 + rad * np.exp(2j * np.pi * np.arange(qc) / qc)
            L = _lagrange(xs, yn, np.exp(2j * np.pi * np.arange(qc) / qc))
            nus.append(np.exp(-yn))
            Ws.append(2.0 * W[:, sel] @ L)
            pieces.append((sel, slice(count, count + qc), L))
            count += qc
            bound += _disc_bound(x0.real, rad, qc) * 2.0 * np.abs(W[:, sel]).sum(axis=1)
    for sign in (1.0, -1.0):
        ids = idx[compressible & (np.sign(r) == sign)]
        if not ids.size:
            continue
        x = -np.log(np.abs(r[ids]))
        bins = np.floor(np.log(x) / math.log(RATIO)).astype(int)
        for bval in np.unique(bins):
            sel = ids[bins == bval]
            if sel.size <= q:
                keep(sel, False)
                continue
            xs = x[bins == bval]
            xa, xb = xs.min(), xs.max()
            if xb - xa <= 1e-14 * xa:     # one repeated value (e.g. a mode shared by every direction): one node
                nus.append(np.array([sign * np.exp(-0.5 * (xa + xb)) + 0j]))
                Ws.append(W[:, sel].sum(axis=1, keepdims=True))
                pieces.append((sel, slice(count, count + 1), np.ones((sel.size, 1))))
                count += 1
                continue
            j = np.arange(q)
            xn = 0.5 * (xa + xb) + 0.5 * (xb - xa) * np.cos((2 * j + 1) * np.pi / (2 * q))
            L = _lagrange(xs, xn)
            nus.append(sign * np.exp(-xn) + 0j)
            Ws.append(W[:, sel] @ L)
            pieces.append((sel, slice(count, count + q), L))
            count += q
            rel = (xb - xa) / xa
            bound += (2.0 * (rel * q / (4 * math.e)) ** q / math.factorial(q)) * np.abs(W[:, sel]).sum(axis=1)
    return _Compressed(np.concatenate(nus), np.concatenate(Ws, axis=1), pieces, bound)


def _reduce(m, s0, accuracy):
    """Modes, compression and the exactly iterated (nearly defective) directions of map ``m`` at ``s0``.

    The nodes per bin are chosen for ``accuracy`` divided by the largest cancellation factor of the
    compressed directions (see :func:`_modes`)."""
    mu, W, aux, fragile, cancel = _modes(m, s0)
    q = _nodes_for(accuracy / cancel)
    comp = _compress(mu, W, *q, fragile=fragile)
    comp.q = q
    dirs = np.flatnonzero(fragile.reshape(m.A.shape[:2])[:, 0])
    if dirs.size:
        sub = type(m)(A=m.A[dirs], u=m.u[dirs], v=m.v[dirs], f=m.f[dirs], w=m.w[dirs])
        comp.exact = (dirs, sub, np.array(s0[dirs], dtype=float))
    return comp, mu, aux


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


def _solve(comp: _Compressed, steps: int, offset: float, block: int = BLOCK, state: bool = False):
    """Risk R_0..R_steps of the compressed system; with ``state`` also the groups carrying the node
    states at step ``steps``."""
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
    risk = np.empty(steps + 1)
    k = 0
    while k <= steps:
        L = min(block, steps + 1 - k)
        free = sum(g.free(block) for g in groups)
        gc = free[:, 0] + sc
        C = Minv @ gc
        risk[k:k + L] = 0.5 * (offset + free[:L, 1] + se[:L] + (TeMinv @ gc)[:L])
        last = k + L > steps
        if not last or (state and L > 1):
            for g in groups:
                g.advance(C, L - 1 if last else L)
        k += L
    return risk, groups


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
