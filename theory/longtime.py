r"""Risk curves to k = 10^6 and beyond: a long-horizon solver for the exact recursions.

Every recursion of :mod:`theory.recursion` has the shape (:mod:`theory.linear`)

.. math::
    s_{k+1,i} = A_i s_{k,i} + u_i C_k + f_i,\qquad C_k = \sum_j v_j^\top s_{k,j},\qquad
    R_k = \tfrac12\Bigl(\sum_j w_j^\top s_{k,j} + \sigma^2\Bigr).

**Modes.** Diagonalise each p x p block, A_i = V_i diag(mu_i) V_i^{-1}. In the N = d p modal
coordinates z = V^{-1} s the recursion is diagonal plus rank one, and solving it gives the
discrete Volterra (renewal) equation

.. math::
    C_k = \sum_l c_l z_{0,l}\,\mu_l^k + \sum_{t<k} K(k-1-t)\, C_t + \sum_l c_l b_l \sum_{m<k}\mu_l^m,
    \qquad K(m) = \sum_l c_l a_l \mu_l^m = \sum_j v_j^\top A_j^m u_j,

with c = V^T v, a = V^{-1} u, b = V^{-1} f; R_k has the same form with e = V^T w in place of c.
Everything the risk needs is therefore six sums of exponentials sum_l omega_l mu_l^m.

**Compression (stated error).** Real modes 0 < |mu| < 1 are grouped by x = -log|mu| into bins
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
from scipy.linalg import solve_triangular

from .validation import check_positive

__all__ = ["LongTimeCurve", "risk_curve"]

#: bin ratio x_b / x_a of the compression
RATIO = 2.0
#: time steps per exactly solved block
BLOCK = 256
#: eigenvector matrices of a block worse conditioned than this are refused (nearly defective)
MAX_CONDITION = 1e10
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
        Estimated largest relative error max_k |R_k - R_k^exact| / R_k^exact (schedules: the
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

    Returns mu (N,) complex, weights (6, N) complex (c z0, c a, c b, e z0, e a, e b), and the
    (V, Vinv, a, b) needed to map node states back to the per-direction state.
    """
    d, p = m.A.shape[:2]
    if p == 1:
        mu = m.A[:, :, 0].astype(complex)
        V = np.ones((d, 1, 1), dtype=complex)
        Vinv = V
    else:
        mu, V = np.linalg.eig(m.A)
        cond = np.linalg.cond(V)
        bad = np.flatnonzero(~(cond < MAX_CONDITION))
        if bad.size:
            raise ValueError(
                f"the {p}x{p} block of eigendirection {int(bad[0])} is (nearly) defective (eigenvector "
                f"condition number {cond[bad[0]]:.3g}); risk_curve needs diagonalisable blocks: use "
                "Recursion.trajectory for these hyperparameters")
        Vinv = np.linalg.inv(V)
    z0 = np.einsum("ipq,iq->ip", Vinv, s0)
    a = np.einsum("ipq,iq->ip", Vinv, m.u)
    b = np.einsum("ipq,iq->ip", Vinv, m.f)
    c = np.einsum("iqp,iq->ip", V, m.v)
    e = np.einsum("iqp,iq->ip", V, m.w)
    W = np.stack([c * z0, c * a, c * b, e * z0, e * a, e * b]).reshape(6, -1)
    return mu.reshape(-1), W, (V, Vinv, a, b)


def chebyshev_bound(q: int, ratio: float = RATIO) -> float:
    """Uniform-in-m bound on |e^{-m x} - (its degree q-1 Chebyshev interpolant)| per unit weight,
    for a bin with x_b = ratio x_a: 2 ((ratio - 1) q / (4 e))^q / q!."""
    return 2.0 * ((ratio - 1.0) * q / (4.0 * math.e)) ** q / math.factorial(q)


def _nodes_for(accuracy: float) -> int:
    q = 2
    while chebyshev_bound(q) > accuracy / 100 and q < 40:
        q += 1
    return q


def _lagrange(x, nodes):
    """Matrix ell_n(x_l), shape (len(x), q), of the Lagrange basis at first-kind Chebyshev nodes."""
    q = len(nodes)
    j = np.arange(q)
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


def _compress(mu, W, q):
    """Group modes into nodes (see the module docstring)."""
    N = mu.size
    idx = np.arange(N)
    real = mu.imag == 0
    r = mu.real
    compressible = real & (r != 0) & (np.abs(r) < 1)
    nus, Ws, pieces, bound = [], [], [], np.zeros(6)
    count = 0

    def keep(ids, fold):
        nonlocal count
        nus.append(mu[ids])
        Ws.append(W[:, ids] * (2.0 if fold else 1.0))
        pieces.append((ids, slice(count, count + ids.size), None))
        count += ids.size

    keep(idx[real & ~compressible], False)
    keep(idx[mu.imag > 0], True)           # conjugate partners (imag < 0) are folded in
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


# ---------------------------------------------------------------------------------- stepping
class _Group:
    """Nodes of one arithmetic kind (real, or complex with conjugates folded) and their block tables."""

    def __init__(self, nu, W, block):
        self.complex = bool(np.any(nu.imag != 0))
        self.nu = nu if self.complex else nu.real
        self.W = W if self.complex else W.real
        t = np.arange(block + 1)
        P = self.nu[:, None] ** t[None, :]                       # nu^t, t = 0..block
        self.P = P
        S = np.zeros_like(P)
        S[:, 1:] = np.cumsum(P[:, :-1], axis=1)                  # sum_{m<t} nu^m
        self.S = S
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
        return (self.P[:, :block].T @ g).real

    def advance(self, C, L):
        """Carry the node states over L steps with couplings C[0..L-1]."""
        pl = self.P[:, L]
        self.Ea = pl * self.Ea + self.P[:, L - 1::-1] @ C[:L]
        self.Eb = pl * self.Eb + self.S[:, L]
        self.E0 = pl * self.E0


def _solve(comp: _Compressed, steps: int, offset: float, block: int = BLOCK):
    """Risk R_0..R_steps of the compressed system, and the groups (node states at the end)."""
    block = max(1, min(block, steps + 1))
    is_c = comp.nu.imag != 0
    groups = [g for g in (_Group(comp.nu[~is_c], comp.W[:, ~is_c], block),
                          _Group(comp.nu[is_c], comp.W[:, is_c], block)) if g.nu.size]
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
    t = np.arange(block)
    lag = t[:, None] - 1 - t[None, :]
    Tc = np.where(lag >= 0, Kc[np.clip(lag, 0, None)], 0.0)
    Te = np.where(lag >= 0, Ke[np.clip(lag, 0, None)], 0.0)
    Minv = solve_triangular(np.eye(block) - Tc, np.eye(block), lower=True, unit_diagonal=True)
    TeMinv = Te @ Minv
    risk = np.empty(steps + 1)
    k = 0
    while k <= steps:
        L = min(block, steps + 1 - k)
        free = sum(g.free(block) for g in groups)
        gc = free[:, 0] + sc
        C = Minv @ gc
        risk[k:k + L] = 0.5 * (offset + free[:L, 1] + se[:L] + (TeMinv @ gc)[:L])
        if k + L <= steps:
            for g in groups:
                g.advance(C, L)
        k += L
    return risk, groups, C


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
        Bad input (naming the argument and its allowed range), or a nearly defective block.

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
    t = _check_times(times)
    check_positive(accuracy, "accuracy", upper=0.1 + 1e-15)
    steps = int(t[-1])
    sched = {k: v for k, v in hyper.items() if _is_schedule(v)}
    const = {k: v for k, v in hyper.items() if not _is_schedule(v)}
    lam, batch = recursion._check(eigenvalues, learning_rate, batch, noise_variance, dict(hyper), schedules=True)
    d = len(lam)
    s0, _ = recursion.initial_moments(initial, d, const.get("optimum"))
    q = _nodes_for(accuracy)
    if not sched:
        m = recursion.linear_map(lam, learning_rate, batch, noise_variance, **const)
        mu, W, _ = _modes(m, s0)
        comp = _compress(mu, W, q)
        risk, _, _ = _solve(comp, steps, float(noise_variance))
        floor = max(np.min(np.abs(risk)), 1e-300)
        err = float(np.max(comp.bound) / floor)
        return LongTimeCurve(times=t, risk=risk[t], estimated_error=err, method="volterra",
                             nodes=int(comp.nu.size), details=dict(chebyshev_nodes=q, ratio=RATIO, block=BLOCK))
    raise NotImplementedError("schedules: not yet")
