r"""Risk curves to k = 10^6 and beyond: a long-horizon solver for the exact recursions.

Every recursion of :mod:`theory.recursion` has the shape (:mod:`theory.linear`)

.. math::
    s_{k+1,i} = A_i s_{k,i} + u_i C_k + f_i,\qquad C_k = \sum_j v_j^\top s_{k,j},\qquad
    R_k = \tfrac12\Bigl(\sum_j w_j^\top s_{k,j} + \sigma^2\Bigr).

**Modes.** Diagonalise each p x p block, A_i = V_i diag(mu_i) V_i^{-1} (nearly defective blocks,
e.g. with close eigenvalues, are not diagonalised: their directions are iterated exactly inside
the block solve below). In the N = d p modal
coordinates z = V^{-1} s the recursion is diagonal plus rank one, and solving it gives the
discrete Volterra (renewal) equation

.. math::
    C_k = \sum_l c_l z_{0,l}\,\mu_l^k + \sum_{t<k} K(k-1-t)\, C_t + \sum_l c_l b_l \sum_{m<k}\mu_l^m,
    \qquad K(m) = \sum_l c_l a_l \mu_l^m = \sum_j v_j^\top A_j^m u_j,

with c = V^T v, a = V^{-1} u, b = V^{-1} f; R_k has the same form with e = V^T w in place of c.
Everything the risk needs is therefore six sums of exponentials sum_l omega_l mu_l^m.

**Compression (stated error).** Real modes 0 < abs(mu) < 1 are grouped by x = -log abs(mu) into bins
[x_a, x_b] with x_b <= r x_a (r = 2); a bin holding more than q modes is replaced by q
Chebyshev nodes x_n on [x_a, x_b] carrying the weights Omega_n = sum_l omega_l ell_n(x_l)
(ell_n the Lagrange basis). Since mu^m = sign^m e^{-m x}, the error of every compressed sum is
uniform in m:

.. math::
    \Bigl|\sum_l \omega_l \mu_l^m - \sum_n \Omega_n \nu_n^m\Bigr|
    \le \frac{2}{q!}\Bigl(\frac{(x_b - x_a)\,q}{4 e\, x_a}\Bigr)^q \sum_l |\omega_l|
    \quad\text{for all } m \ge 0,

(the Chebyshev interpolation remainder with max_m m^q e^{-m x_a} = (q/(e x_a))^q). q is the
smallest value whose bound, with r = 2, is below accuracy/100. Complex and non-contracting
modes are kept as they are. For a power-law spectrum over D decades of x this leaves about
45 D nodes whatever d is.

**Time stepping.** The compressed system is solved *exactly* in blocks of 256 steps: within a
block the coupling solves a unit lower-triangular Toeplitz system (the renewal equation), and
the node states are carried across blocks in closed form; cost O(N' n) for n steps and N'
nodes, all of it matrix products.

**Schedules** (hyperparameters that are callables of the step k, e.g. DANA-decaying
gamma_3(k), Delta(k)): the steps k < 16/epsilon are iterated exactly; after that the
hyperparameters are frozen on windows [k, k + floor(epsilon k)) at their mean over the
window, each window is solved as above and the per-direction state at its end is recovered
from the node states (Chebyshev interpolation again, same bound). Freezing is second order in
epsilon; ``estimated_error`` is the largest relative difference to the run with 2 epsilon.

Source: the recursions as in :mod:`theory.recursion`; the Volterra form of the risk of SGD and
DANA on power-law random features: Paquette, Paquette, Xiao, Pennington, arXiv:2405.15074;
Ferbach, Everett, Gidel, Paquette, Paquette, arXiv:2505.16098.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import toeplitz

from .validation import _scalar

__all__ = ["LongTimeCurve", "risk_curve"]

#: bin ratio x_b / x_a of the compression
RATIO = 2.0
#: time steps per exactly solved block
BLOCK = 256
#: blocks whose eigenvector matrix is worse conditioned than this (nearly defective, e.g. repeated
#: eigenvalues) are not diagonalised: their directions are iterated exactly within each block
FRAGILE_CONDITION = 1e8
#: ... and so are blocks whose modal weights cancel by more than this factor (close eigenvalues)
MAX_CANCELLATION = 1e4
#: below this window length the scheduled solver iterates exactly
MIN_WINDOW = 16


@dataclass
class LongTimeCurve:
    """The exact expected risk R_k at chosen steps k (see :func:`risk_curve`).

    Attributes
    ----------
    times : ndarray of int, shape (n,)
        Step counts k (increasing).
    risk : ndarray of float, shape (n,)
        R_k = E (1/2)(<x, theta_k> - y)^2, the same quantity as ``Recursion.trajectory(...).risk[k]``.
    estimated_error : float
        Estimated largest relative error max_k abs(R_k / R_k^exact - 1) (schedules: the
        difference to the run with twice the window ratio; constant hyperparameters: the a priori
        compression bound, relative to the smallest risk).
    method : str
        ``"volterra"`` (constant hyperparameters) or ``"frozen-windows"`` (schedules).
    nodes : int
        Number of modes after compression (N').
    details : dict
        The settings used (Chebyshev nodes per bin q, window ratio epsilon, number of windows).
    """

    times: np.ndarray
    risk: np.ndarray
    estimated_error: float
    method: str
    nodes: int = 0
    details: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------- modes
def _modes(m, s0):
    """Modal decomposition of a BlockRankOne ``m`` at state ``s0`` (d, p).

    Returns mu (N,) complex, weights (6, N) complex (c z0, c a, c b, e z0, e a, e b), the
    (V, Vinv, a, b) needed to map node states back to the per-direction state, and ``fragile``
    (N,) bool: the modes of blocks that are (nearly) defective (eigenvector condition number above
    :data:`FRAGILE_CONDITION`, or modal weights that cancel by more than :data:`MAX_CANCELLATION`:
    sum_l |omega_l| / |sum_l omega_l| over the direction's modes); their weights are zeroed and
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
    Wd = W.reshape(6, d, p)
    total = np.abs(Wd).sum(axis=2)
    cancel = np.where(total > 0, total / np.maximum(np.abs(Wd.sum(axis=2)), 1e-300), 1.0).max(axis=0)
    bad = ~(cond <= FRAGILE_CONDITION) | ~(cancel <= MAX_CANCELLATION)
    fragile = np.repeat(bad, p)
    W[:, fragile] = 0.0
    return mu.reshape(-1), W, (V, Vinv, a, b), fragile, float(np.max(cancel[~bad], initial=1.0))


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
    """Directions iterated exactly (their p x p blocks are not diagonalised), same interface as _Group."""

    def __init__(self, sub, s, block):
        A, u, v, f, w = sub.A, sub.u, sub.v, sub.f, sub.w
        n, p = u.shape
        self.PV = np.empty((block + 1, n, p))    # (A^T)^t v
        self.PW = np.empty((block + 1, n, p))    # (A^T)^t w
        self.G = np.empty((block + 1, n, p))     # A^t u
        self.F = np.zeros((block + 1, n, p))     # sum_{m<t} A^m f
        self.Apow = np.empty((block + 1, n, p, p))
        self.PV[0], self.PW[0], self.G[0], self.Apow[0] = v, w, u, np.eye(p)
        Af = f.copy()
        for t in range(block):
            self.Apow[t + 1] = A @ self.Apow[t]
            self.F[t + 1] = self.F[t] + Af
            Af = (A @ Af[..., None])[..., 0]
        self.PV[1:] = (np.swapaxes(self.Apow[1:], 2, 3) @ v[None, ..., None])[..., 0]
        self.PW[1:] = (np.swapaxes(self.Apow[1:], 2, 3) @ w[None, ..., None])[..., 0]
        self.G[1:] = (self.Apow[1:] @ u[None, ..., None])[..., 0]
        self.u, self.f, self.s = u, f, s

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
        self.s = (np.einsum("ipq,iq->ip", self.Apow[L], self.s) + np.einsum("tip,t->ip", self.G[L - 1::-1][:L], C[:L])
                  + self.F[L])


def _solve(comp: _Compressed, steps: int, offset: float, block: int = BLOCK, state: bool = False):
    """Risk R_0..R_steps of the compressed system; with ``state`` also the groups carrying the node
    states at step ``steps``."""
    block = max(1, min(block, steps + 1))
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


# ---------------------------------------------------------------------------------- public
def _check_times(times):
    try:
        t = np.asarray(times)
    except Exception as exc:  # pragma: no cover - numpy accepts nearly everything
        raise ValueError(f"times must be a 1-D array of increasing step counts; got {times!r}") from exc
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times must be a non-empty 1-D array of increasing step counts k >= 0; got shape {t.shape}")
    if t.dtype == bool or not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise ValueError(f"times must hold integers k >= 0; got dtype {t.dtype}")
    if np.issubdtype(t.dtype, np.floating):
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise ValueError("times must hold integers k >= 0; got non-integer values")
        t = t.astype(np.int64)
    t = t.astype(np.int64)
    if t[0] < 0:
        raise ValueError(f"times must be >= 0; got {int(t[0])}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    return t


def _is_schedule(v):
    return callable(v) and not isinstance(v, np.ndarray)


def risk_curve(recursion, eigenvalues, learning_rate, times, batch=1, noise_variance=0.0, initial=1.0,
               accuracy=1e-6, **hyper) -> LongTimeCurve:
    r"""The exact expected risk R_k of ``recursion`` at the step counts ``times``, fast for large k.

    Returns the same numbers as ``recursion.trajectory(eigenvalues, learning_rate, batch,
    noise_variance, initial, steps=max(times), **hyper).risk[times]`` up to a stated relative
    error, at a cost O(N' k) with N' ~ 45 nodes per decade of the spectrum instead of
    O(d p k) (constant hyperparameters), and for schedules with O(log k / epsilon) windows.
    The method (modes, compression with its error bound, exact block solve of the renewal
    equation, frozen windows for schedules) is described in :mod:`theory.longtime`.

    Parameters
    ----------
    recursion : theory.Recursion
        From :func:`theory.derive`.
    eigenvalues : array_like, shape (d,)
        lambda_i > 0.
    learning_rate : float
        gamma > 0 (per step, not scaled by 1/d).
    times : array_like of int, shape (n,)
        Strictly increasing step counts k >= 0 (e.g. a log grid up to 10^6).
    batch : int >= 1
    noise_variance : float >= 0
        sigma^2 (the risk includes sigma^2/2).
    initial : float or array_like, shape (d,)
        Initial error e_0 in the eigenbasis.
    accuracy : float in (0, 0.1]
        Target relative accuracy: sets the Chebyshev nodes per bin (constant hyperparameters) and
        the window ratio epsilon = clip(0.7 accuracy^{1/2}, 0.005, 0.05) (schedules).
    **hyper
        The algorithm's other hyperparameters; schedulable ones may be callables of k.

    Returns
    -------
    LongTimeCurve

    Raises
    ------
    ValueError
        Bad input (naming the argument and its allowed range; a schedule value out of range names
        the step).

    Example
    -------
    >>> import numpy as np
    >>> from theory import derive
    >>> rec = derive()
    >>> lam = np.arange(1, 201) ** -1.6
    >>> curve = risk_curve(rec, lam, 0.5, [0, 10, 100, 10**4])
    >>> exact = rec.trajectory(lam, 0.5, steps=10**4).risk[[0, 10, 100, 10**4]]
    >>> bool(np.max(np.abs(curve.risk / exact - 1)) < 1e-6)
    True

    Source: Paquette et al., arXiv:2405.15074 (Volterra form of the risk); Ferbach et al.,
    arXiv:2505.16098 (DANA).
    """
    from .highline_solve import _single_threaded_blas
    t = _check_times(times)
    if not (_scalar(accuracy, "accuracy") > 0 and float(accuracy) <= 0.1):
        raise ValueError(f"accuracy must lie in (0, 0.1] (a relative error); got {accuracy!r}")
    with _single_threaded_blas():
        return _risk_curve(recursion, eigenvalues, learning_rate, t, batch, noise_variance, initial, accuracy, hyper)


def _risk_curve(recursion, eigenvalues, learning_rate, t, batch, noise_variance, initial, accuracy, hyper):
    steps = int(t[-1])
    sched = {k: v for k, v in hyper.items() if _is_schedule(v)}
    const = {k: v for k, v in hyper.items() if not _is_schedule(v)}
    lam, batch = recursion._check(eigenvalues, learning_rate, batch, noise_variance, dict(hyper), schedules=True)
    d = len(lam)
    s0, _ = recursion.initial_moments(initial, d, const.get("optimum"))
    if not sched:
        m = recursion.linear_map(lam, learning_rate, batch, noise_variance, **const)
        comp, _, _ = _reduce(m, s0, accuracy)
        risk, _ = _solve(comp, steps, float(noise_variance))
        floor = max(np.min(np.abs(risk)), 1e-300)
        err = float(np.max(comp.bound) / floor)
        return LongTimeCurve(times=t, risk=risk[t], estimated_error=err, method="volterra",
                             nodes=int(comp.nu.size), details={"chebyshev_nodes": comp.q, "ratio": RATIO, "block": BLOCK,
                                      "exact_directions": 0 if comp.exact is None else len(comp.exact[0])})
    values = _schedule_values(recursion.algorithm, sched, max(steps, 1))
    eps = float(np.clip(25.0 * accuracy ** 0.7, 0.005, 0.1))
    args = (recursion, lam, learning_rate, batch, float(noise_variance), s0, steps, const, values, accuracy)
    risk, windows = _windowed(*args, eps)
    coarse, _ = _windowed(*args, 2 * eps)
    err = float(np.max(np.abs(coarse[t] - risk[t]) / np.maximum(np.abs(risk[t]), 1e-300)))
    return LongTimeCurve(times=t, risk=risk[t], estimated_error=err, method="frozen-windows", nodes=0,
                         details={"ratio": RATIO, "block": BLOCK, "epsilon": eps, "windows": windows,
                                      "exact_steps": min(steps, math.ceil(MIN_WINDOW / eps))})


def _schedule_values(algorithm, sched, steps):
    """h(0), ..., h(steps - 1) of every schedule as float arrays, each value range-checked."""
    spec = {h.name: h for h in algorithm.hyperparameter_spec}
    out = {}
    for name, fn in sched.items():
        vals = np.empty(steps)
        for k in range(steps):
            try:
                vals[k] = fn(k)
            except Exception as exc:
                raise ValueError(f"{name}({k}) must return a real number in {spec[name].interval}; "
                                 f"it raised {type(exc).__name__}: {exc}") from exc
        lo, hi = spec[name].interval.low, spec[name].interval.high
        inside = np.isfinite(vals)
        inside &= (vals > lo) if spec[name].interval.low_open else (vals >= lo)
        inside &= (vals < hi) if spec[name].interval.high_open else (vals <= hi)
        bad = np.flatnonzero(~inside)
        if bad.size:
            spec[name].check_value(float(vals[bad[0]]), where=f" at step k = {int(bad[0])}")
        out[name] = vals
    return out


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


_GAUSS_X = np.array([-math.sqrt(0.6), 0.0, math.sqrt(0.6)])
_GAUSS_W = np.array([5.0, 8.0, 5.0]) / 18.0


def _window_map(recursion, lam, learning_rate, batch, noise_variance, const, values, k, h):
    """The mean of the linear maps of the steps k, ..., k + h - 1 (3-point Gauss--Legendre in the
    step, schedules interpolated linearly between integer steps)."""
    maps = []
    for x in _GAUSS_X:
        kk = max(float(k), k - 0.5 + h * 0.5 * (1 + x))
        i = min(int(kk), k + h - 2)
        frac = kk - i
        maps.append(recursion.linear_map(lam, learning_rate, batch, noise_variance, **const,
                                         **{n: float((1 - frac) * v[i] + frac * v[i + 1]) for n, v in values.items()}))
    mean = {key: sum(wg * getattr(mp, key) for wg, mp in zip(_GAUSS_W, maps)) for key in "Auvfw"}
    return type(maps[0])(offset=maps[0].offset, **mean)


def _windowed(recursion, lam, learning_rate, batch, noise_variance, s, steps, const, values, accuracy, eps):
    """Risk R_0..R_steps with hyperparameters frozen at their window means on [k, k + floor(eps k))."""
    risk = np.empty(steps + 1)
    k, windows = 0, 0
    s = np.array(s, dtype=float)
    m = recursion.linear_map(lam, learning_rate, batch, noise_variance, **const,
                             **{n: v[0] for n, v in values.items()})
    risk[0] = m.observable(s)
    while k < steps:
        h = min(int(eps * k), steps - k)
        if h < MIN_WINDOW:
            m = recursion.linear_map(lam, learning_rate, batch, noise_variance, **const,
                                     **{n: v[k] for n, v in values.items()})
            s = m.apply(s)
            k += 1
            risk[k] = m.observable(s)
            continue
        m = _window_map(recursion, lam, learning_rate, batch, noise_variance, const, values, k, h)
        comp, mu, aux = _reduce(m, s, accuracy)
        r, groups = _solve(comp, h, noise_variance, state=True)
        risk[k + 1:k + h + 1] = r[1:]
        s = _decompress(comp, groups, mu, aux, np.einsum("ipq,iq->ip", aux[1], s).reshape(-1), h)
        k += h
        windows += 1
    return risk, windows
