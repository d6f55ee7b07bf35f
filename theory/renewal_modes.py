r"""Modes of a block-plus-rank-one recursion and their compression with a stated error bound.

The first half of :mod:`theory.renewal` (split from it): modal decomposition of the p x p blocks
(:func:`_modes`), the cancellation factor of each direction's modal sums (:func:`_cancellation`),
and the compression of the modes into Chebyshev nodes with a uniform-in-m bound
(:func:`_compress`, :func:`chebyshev_bound`). :func:`_reduce` puts them together; nearly defective
directions are handed to :mod:`theory.renewal` to be iterated exactly.

Source: Paquette, Paquette, Xiao, Pennington, arXiv:2405.15074 (Volterra form of the risk).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["chebyshev_bound"]

#: bin ratio x_b / x_a of the compression
RATIO = 2.0
#: blocks whose eigenvector matrix is worse conditioned than this (nearly defective, e.g. repeated
#: eigenvalues) are not diagonalised: their directions are iterated exactly within each block
FRAGILE_CONDITION = 1e8
#: ... and so are blocks whose modal weights cancel by more than this factor (close eigenvalues)
MAX_CANCELLATION = 1e4


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
    if p == 1:      # scalar blocks: V = 1, and a direction's sums have one term (no cancellation)
        V = np.ones((d, 1, 1), dtype=complex)
        a, b = m.u.astype(complex), m.f.astype(complex)
        c, e, z0 = m.v, m.w, np.asarray(s0, dtype=float)
        W = np.stack([c * z0, c * m.u, c * m.f, e * z0, e * m.u, e * m.f]).reshape(6, -1).astype(complex)
        # what _cancellation gives for one term: 1, or inf (fragile) where a weight is infinite
        bad = np.any(np.isinf(W), axis=0) | np.isinf(m.u[:, 0])
        W[:, bad] = 0.0
        return m.A[:, 0, 0].astype(complex), W, (V, V, a, b), bad, 1.0
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
    real, cplx = _node_bounds()
    q = 2
    while real[q] > accuracy / 100 and q < 40:
        q += 1
    qc = 2
    while cplx[qc] > accuracy / 100 and qc < 60:
        qc += 1
    return q, qc


@functools.lru_cache(maxsize=1)
def _node_bounds():
    """The worst-case bounds of :func:`_nodes_for` per number of nodes q (real bins, q < 41) and qc
    (complex cells, qc < 61), computed once."""
    return ([math.inf, math.inf] + [chebyshev_bound(q) for q in range(2, 41)],
            [math.inf, math.inf] + [_disc_bound(1.0, math.hypot(0.25, 0.25), q) for q in range(2, 61)])


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
    # real weights (every p = 1 recursion): the real bins' products in real arithmetic (half the work of complex)
    Wr = W.real if not np.any(W.imag) else None
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
            Wsel = W[:, sel] if Wr is None else Wr[:, sel]
            Ws.append(Wsel @ L)
            pieces.append((sel, slice(count, count + q), L))
            count += q
            rel = (xb - xa) / xa
            bound += (2.0 * (rel * q / (4 * math.e)) ** q / math.factorial(q)) * np.abs(Wsel).sum(axis=1)
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
