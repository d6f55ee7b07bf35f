r"""Stability thresholds of a block-plus-rank-one recursion in O(d) per evaluation.

The second-moment map of every derived recursion is L = blockdiag(A_i) + u v^T
(:mod:`theory.linear`). With F(z) = 1 - sum_i v_i^T (zI - A_i)^{-1} u_i the
*secular function*, the matrix determinant lemma gives

.. math:: \det(zI - L) = \prod_i \det(zI - A_i)\; F(z).

Directions with the same (lambda_i, kappa_i) are merged first (class j with
multiplicity c_j), so one evaluation of F costs O(#classes) <= O(d). Stability
(spectral radius rho(L) < 1) is decided without forming L:

* p = 1 with u_i v_i >= 0 (SGD on every data model): L is similar to the symmetric
  diag(a) + q q^T, and Haynsworth's inertia formula gives the number of eigenvalues
  below t as #{a_i < t} + [F(t) > 0] - 1. So rho < 1 iff every a_i < 1, F(1) > 0 and
  #{a_i < -1} + [F(-1) > 0] = 1.
* any p (heavy ball, Nesterov, DANA): by the argument principle on the unit circle
  (F -> 1 at infinity), the number of eigenvalues of L on or outside the circle is
  #{eigenvalues of the blocks outside} - wind(F), with wind(F) the winding number of
  F(e^{i theta}) around 0, sampled adaptively on theta in [0, pi] (F(conj z) = conj F(z)).

Everything is evaluated in *scaled* variables that never round to the marginal case:
I - A_i and z - 1 = w are expanded symbolically (so 1 - a_i = 2 gamma lambda_i - ... has no
cancellation even for gamma lambda_i = 1e-16), the secular terms are cancelled rational
functions of w, and the sign of 1 - mu for a block eigenvalue mu next to 1 is read off
det(I - A_i). The search for the critical learning rate starts from a learning rate
scaled by 1/sum_i lambda_i and never assumes an absolute scale.

High precision: with ``dps`` the exit equation (F(+-1) = 0, F(e^{i theta}) = 0 jointly in
(gamma, theta), or det(zI - A_j) = 0 for a block shared by several identical directions) is
solved in mpmath on the classes built from the *exact* inputs (:func:`to_mpf`).

Source: the secular equation of SGD is Bordelon & Pehlevan, arXiv:2106.02713 (Sec. 3) and
Paquette et al., arXiv:2102.04396; momentum: Paquette & Paquette, arXiv:2106.03696. The
inertia formula: Haynsworth (1968); argument principle: any complex-analysis text.
"""
from __future__ import annotations

import collections
import functools

import mpmath
import numpy as np
import sympy as sp

from .compiled import LazySource, from_source, lambdify_source
from .diskcache import persistent
from .precision import MpClasses, Mpf, refine_crossing, to_mpf

__all__ = ["SecularFunctions", "Spectrum", "critical_learning_rate", "merge_directions", "stationary_risk"]

_W = sp.Symbol("w")   # z = 1 + w


class SecularFunctions:
    """The symbolic pieces of one recursion compiled for thresholds (NumPy and mpmath).

    Attributes: ``p`` (block size); ``N`` the entries of I - A_i (expanded, so that they
    carry no cancellation); ``u``, ``v``; ``det_N`` = det(I - A_i); ``G`` the secular term
    v_i^T ((1 + w) I - A_i)^{-1} u_i as a cancelled rational function of w; ``terms`` the
    four Sherman--Morrison sums at z = 1 (G, H, W_x, W_y) of the stationary point.
    """

    def __init__(self, rec):
        self.rec, self.p = rec, len(rec.moments)
        self.args = list(rec._args)

    def _module_sources(self, module):
        rec = self.rec
        return _secular_sources(tuple(self.args), *(sp.ImmutableMatrix(x) for x in (rec.A, rec.u, rec.v)),
                                rec.secular_term(1 + _W), tuple(rec._stationary_terms.items()), module)

    @functools.cached_property
    def _sources(self):
        return self._module_sources("numpy")

    @functools.cached_property
    def _mp_sources(self):   # generated (or loaded) only when an mpmath function is first called
        return self._module_sources("mpmath")

    def _both(self, key, index=None):
        """(NumPy function, mpmath function generated and compiled on first use) of one piece."""
        def pick(sources):
            return sources[key] if index is None else sources[key][index]
        return from_source(pick(self._sources)), LazySource(lambda: pick(self._mp_sources))

    @functools.cached_property
    def N(self):
        return [self._both("N", i) for i in range(len(self._sources["N"]))]

    @functools.cached_property
    def u(self):
        return [self._both("u", i) for i in range(len(self._sources["u"]))]

    @functools.cached_property
    def v(self):
        return [self._both("v", i) for i in range(len(self._sources["v"]))]

    @functools.cached_property
    def det_N(self):
        return self._both("det_N")

    @functools.cached_property
    def G(self):
        return self._both("G")

    @functools.cached_property
    def terms(self):
        return {k: self._both("terms", k) for k in self._sources["terms"]}

    @functools.cached_property
    def det_zA(self):
        z = sp.Symbol("z")
        return sp.lambdify(self.args + [z], (z * sp.eye(self.p) - self.rec.A).det(method="berkowitz"),
                           modules="mpmath")


@persistent   # generated once per recursion (SymPy's expansion, factorisation and lambdify), then loaded
def _secular_sources(args, A, u, v, G, terms, module="numpy"):
    """Sources for ``module`` (NumPy, or mpmath on demand) of the pieces of :class:`SecularFunctions`: the
    entries of I - A_i (expanded, so that they carry no cancellation), u_i, v_i, det(I - A_i) (factored),
    the secular term ``G`` (a function of ``args`` and w) and the stationary ``terms`` ((name, expression),
    ...; returned as a dict)."""
    p = A.shape[0]
    N = (sp.eye(p) - A).applyfunc(sp.expand)
    args, wargs = list(args), [*args, _W]

    def src(expr, a=args):
        return lambdify_source(a, expr, module)
    return {"N": [src(e) for e in N], "u": [src(e) for e in u], "v": [src(e) for e in v],
            "det_N": src(sp.factor(N.det(method="berkowitz"))), "G": src(G, wargs),
            "terms": {k: src(e) for k, e in terms}}


def merge_directions(lam, kappa, *per_direction):
    """Distinct (lambda, kappa, per-direction values...) tuples and their multiplicities, O(d log d).

    Returns ``lam``, ``kappa``, ``counts`` of shape (C,), followed by one merged array per
    array of ``per_direction`` (per-direction hyperparameters such as a preconditioner or the
    optimum theta*_i: directions merge only when every value agrees).
    """
    cols = [lam, kappa, *per_direction]
    order = np.lexsort(tuple(reversed(cols)))
    cols = [c[order] for c in cols]
    new = np.ones(len(lam), dtype=bool)
    for c in cols:
        new[1:] |= c[1:] != c[:-1]
    starts = np.flatnonzero(new)
    counts = np.diff(np.append(starts, len(lam))).astype(float)
    merged = [c[starts] for c in cols]
    return (merged[0], merged[1], counts, *merged[2:])


def _bcast(x, shape, dtype=float):
    return np.broadcast_to(np.asarray(x, dtype=dtype), shape)


class Spectrum:
    """One problem (eigenvalues, kurtosis, batch size, hyperparameters) with equal directions merged.

    ``lam``, ``kappa``, ``counts`` have shape (C,), C the number of distinct (lambda_i, kappa_i).
    Every method costs O(C) per learning rate (times the number of points on the circle for
    :meth:`winding`).
    """

    #: chunk of (classes x circle points) evaluated at once
    CHUNK = 2_000_000

    def __init__(self, rec, lam, batch, hyper):
        self.rec, self.sf = rec, rec._secular_functions
        d = len(lam)
        vector = {k: np.asarray(v, dtype=float) for k, v in hyper.items() if np.ndim(v) == 1}
        self.lam, self.kappa, self.counts, *merged = merge_directions(
            np.asarray(lam, dtype=float), rec.data.kurtosis_values(d), *vector.values())
        self.batch = batch
        self.names = list(rec.algorithm.hyperparameters)
        #: scalars as floats; per-direction hyperparameters as arrays over the classes (C,)
        self.hyper = {k: float(v) for k, v in hyper.items() if k not in vector}
        self.hyper.update(zip(vector, merged))
        self._vector = set(vector)
        self.scale = float(np.dot(self.counts, self.lam))   # tr K

    # ------------------------------------------------------------------ evaluations
    def args(self, g, col=False):
        lam, kappa = (self.lam[:, None], self.kappa[:, None]) if col else (self.lam, self.kappa)
        hv = {**self.hyper, "learning_rate": g}
        if col:
            hv.update({k: hv[k][:, None] for k in self._vector})
        return [lam, kappa, self.batch, 0.0, *[hv[n] for n in self.names]]

    def _vec(self, fns, g):
        a = self.args(g)
        return np.stack([_bcast(f(*a), self.lam.shape) for f, _ in fns], axis=-1)

    def blocks(self, g):
        """I - A_j, shape (C, p, p)."""
        p = self.sf.p
        return self._vec(self.sf.N, g).reshape(-1, p, p)

    def secular(self, g, w):
        """F(1 + w) = 1 - sum_j c_j G_j(w) for an array of w (complex allowed); shape of w."""
        w = np.atleast_1d(np.asarray(w))
        out = np.empty(w.shape, dtype=np.result_type(w.dtype, float))
        step = max(1, self.CHUNK // len(self.lam))
        f = self.sf.G[0]
        a = self.args(g, col=True)
        with np.errstate(all="ignore"):
            for s in range(0, len(w), step):
                ww = w[None, s:s + step]
                vals = _bcast(f(*a, ww), (len(self.lam), ww.shape[1]), out.dtype)
                out[s:s + step] = 1.0 - np.sum(self.counts[:, None] * vals, axis=0)   # no BLAS threads
        return out

    def secular_on_grid(self, gs, w):
        """F(1 + w) at the learning rates ``gs`` (1-D array) for one real w, shape of ``gs``."""
        gs = np.asarray(gs, dtype=float)
        out = np.empty(gs.shape)
        step = max(1, self.CHUNK // len(self.lam))
        with np.errstate(all="ignore"):
            for s in range(0, len(gs), step):
                a = self.args(gs[None, s:s + step], col=True)
                vals = _bcast(self.sf.G[0](*a, float(w)), (len(self.lam), len(gs[s:s + step])))
                out[s:s + step] = 1.0 - np.sum(self.counts[:, None] * vals, axis=0)
        return out

    def secular_one(self, g):
        """F(1) at learning rate g (float)."""
        return float(self.secular(g, np.zeros(1))[0])

    def block_eigenvalues(self, g):
        """Eigenvalues mu of each A_j, shape (C, p), and whether each lies on/outside the unit circle.

        An eigenvalue within 1e-6 of 1 is decided by the sign of 1 - mu read off
        det(I - A_j) = prod_k (1 - mu_k), which is evaluated without cancellation; any other
        eigenvalue within 1e-7 of the unit circle (e.g. a block that touches -1 tangentially,
        as SGD with kurtosis 1 and batch size 2 does at gamma lambda = 2) is recomputed in
        mpmath at 40 digits from the same float64 inputs.
        """
        N = self.blocks(g)
        p = N.shape[1]
        with np.errstate(all="ignore"):
            mu = 1.0 - np.linalg.eigvals(N) if p > 1 else 1.0 - N[:, :, 0].astype(complex)
        out = np.abs(mu) >= 1
        near = np.abs(mu - 1) < 1e-6
        rows = np.flatnonzero(near.sum(axis=1) == 1)
        if rows.size:
            det = _bcast(self.sf.det_N[0](*self.args(g)), self.lam.shape)[rows]
            nr = near[rows]
            others = np.prod(np.where(nr, 1.0, 1.0 - mu[rows]), axis=1).real
            one_minus = det / others
            out[rows] = np.where(nr, (one_minus <= 0)[:, None], out[rows])
        marginal = (np.abs(np.abs(mu) - 1) < 1e-7) & ~near
        for j in np.flatnonzero(marginal.any(axis=1)):
            with mpmath.workdps(40):
                A = mpmath.eye(p) - self._mp_block(g, j)
                ev = [A[0, 0]] if p == 1 else mpmath.eig(A, left=False, right=False)
                mod = [abs(x) for x in ev]
            for k in np.flatnonzero(marginal[j]):   # match each float eigenvalue to its mp value
                i = int(np.argmin([abs(complex(x) - mu[j, k]) for x in ev]))
                out[j, k] = mod[i] >= 1
        return mu, out

    def _mp_args(self, g, j):
        hv = {**self.hyper, "learning_rate": g}
        hv.update({k: float(hv[k][j]) for k in self._vector})
        return [mpmath.mpf(float(self.lam[j])), mpmath.mpf(float(self.kappa[j])), mpmath.mpf(self.batch), 0,
                *[mpmath.mpf(hv[n]) for n in self.names]]

    def _mp_block(self, g, j):
        """I - A_j in mpmath at the working precision, from the float64 inputs (exact binary values)."""
        p = self.sf.p
        args = self._mp_args(g, j)
        return mpmath.matrix([[self.sf.N[r * p + c][1](*args) for c in range(p)] for r in range(p)])

    def _secular_minus_one(self, g, marginal):
        """F(-1), with the classes ``marginal`` (1 + a_j near 0) summed in mpmath."""
        with np.errstate(all="ignore"):
            vals = _bcast(self.sf.G[0](*self.args(g), -2.0), self.lam.shape)
        rest = ~marginal
        return 1.0 - float(np.sum(self.counts[rest] * vals[rest])) - self._mp_terms(g, np.flatnonzero(marginal), -2)

    def _mp_terms(self, g, rows, w):
        """sum over the classes ``rows`` of c_j G_j(w) in mpmath (40 digits), as a float."""
        if len(rows) == 0:
            return 0.0
        with mpmath.workdps(40):
            total = mpmath.fsum(self.counts[j] * self.sf.G[1](*self._mp_args(g, j), mpmath.mpf(w)) for j in rows)
            return float(total)

    def winding(self, g, points=128, max_rounds=60):
        """Winding number of F(e^{i theta}) around 0 over the whole circle, with the samples.

        Sampled on [0, pi] (conjugate symmetry doubles it), refined where the argument
        turns by more than 0.3 rad between neighbours. Returns (wind, theta, F).
        """
        th = np.unique(np.concatenate([np.linspace(0.0, np.pi, points + 1),
                                       np.geomspace(1e-12, 0.05, 24), np.pi - np.geomspace(1e-12, 0.05, 24)]))
        F = self._on_circle(g, th)
        for _ in range(max_rounds):
            turn = np.angle(F[1:] / F[:-1])
            bad = ~np.isfinite(turn) | (np.abs(turn) > 0.3)
            bad &= np.diff(th) > 1e-15 * np.maximum(th[1:], 1e-3)
            if not bad.any():
                break
            mid = 0.5 * (th[:-1][bad] + th[1:][bad])
            th = np.concatenate([th, mid])
            F = np.concatenate([F, self._on_circle(g, mid)])
            order = np.argsort(th)
            th, F = th[order], F[order]
        turn = np.angle(F[1:] / F[:-1])
        total = float(np.sum(turn[np.isfinite(turn)])) / np.pi
        return round(total), th, F

    def _on_circle(self, g, th):
        w = -2.0 * np.sin(th / 2) ** 2 + 1j * np.sin(th)   # e^{i theta} - 1 without cancellation
        F = self.secular(g, w)
        bad = ~np.isfinite(F)
        if bad.any():   # exactly on a pole of one term: step aside
            F[bad] = self.secular(g, -2.0 * np.sin(th[bad] * (1 + 1e-9) / 2) ** 2
                                  + 1j * np.sin(th[bad] * (1 + 1e-9)))
        return F

    # ------------------------------------------------------------------ stability
    def _symmetric(self, g):
        """(a_j, q_j^2) when p = 1 and u_j v_j >= 0 (L similar to a symmetric matrix), else None."""
        if self.sf.p != 1:
            return None
        uv = self._vec(self.sf.u, g)[:, 0] * self._vec(self.sf.v, g)[:, 0]
        return None if np.any(uv < 0) else uv

    def stable(self, g) -> bool:
        """Whether rho(L(g)) < 1, decided in O(C) (p = 1) or O(C x circle points)."""
        if self._symmetric(g) is not None:
            mu, outside = self.block_eigenvalues(g)
            a = mu[:, 0].real
            if np.any(outside & (a > 0)[:, None]):   # some a_j >= 1
                return False
            if not self.secular_one(g) > 0:
                return False
            marginal = np.abs(a + 1) < 1e-7          # 1 + a_j recomputed in mpmath (see block_eigenvalues)
            f_minus = self._secular_minus_one(g, marginal)
            below = float(np.sum(self.counts[outside[:, 0] & (a < 0)]))
            return below + (f_minus > 0) - 1 == 0 and f_minus != 0
        _, outside = self.block_eigenvalues(g)
        n_out = float(self.counts @ outside.sum(axis=1))
        if n_out == 0 and not self.secular_one(g) > 0:   # a real eigenvalue >= 1 (F(1) <= 0, F(inf) = 1)
            return False
        wind, _, _ = self.winding(g)
        return n_out - wind == 0

    def exit_point(self, g):
        """Where L leaves the unit disc just above a crossing at g: ('block', j, mu) or ('secular', z)."""
        mu, outside = self.block_eigenvalues(g)
        shared = np.flatnonzero((self.counts >= 2) & outside.any(axis=1))
        if shared.size:
            j = int(shared[0])
            k = int(np.argmax(np.where(outside[j], np.abs(mu[j]), -1)))
            return ("block", j, complex(mu[j, k]))
        if self._symmetric(g) is not None:
            return ("secular", 1.0 if not self.secular_one(g) > 0 else -1.0)
        _, th, F = self.winding(g)
        t = float(th[np.argmin(np.abs(F))])
        if min(t, np.pi - t) < 1e-6:
            return ("secular", 1.0 if t < 1 else -1.0)
        return ("secular", complex(np.cos(t), np.sin(t)))


def _bisect(pred, lo, hi, rel=0.0):
    """Shrink [lo, hi] with pred(lo) true and pred(hi) false to adjacent floats (or relative ``rel``)."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi) or hi - lo <= rel * hi:
            break
        lo, hi = (mid, hi) if pred(mid) else (lo, mid)
    return lo, hi


def _locate(spec):
    """Float64 crossing: (lo, hi, exit) with rho(L(lo)) < 1 <= rho(L(hi)).

    First the z = 1 root of the secular equation (O(C) per evaluation): the first sign change
    of F(1; gamma) on a doubling grid, bisected to adjacent floats, accepted if L is stable
    just below and unstable just above it. Then the first zero of F(1) or F(-1) on a fine grid
    (:func:`_secular_crossing`). Otherwise the stability test itself is bisected.
    """
    g0 = 1e-6 / spec.scale
    while not spec.stable(g0):
        g0 /= 1024.0
        if g0 * spec.scale < 1e-30:
            raise RuntimeError("the second-moment map is unstable even at a learning rate of "
                               f"{g0:g} (gamma tr K = {g0 * spec.scale:g}); no critical learning rate exists")
    top = 1e15 / spec.scale
    g = g0
    while spec.secular_one(2 * g) > 0 and g < top:
        g *= 2
    if g < top:
        from scipy.optimize import brentq
        r = brentq(spec.secular_one, g, 2 * g, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=200)
        if spec.stable(r * (1 - 1e-9)) and not spec.stable(r * (1 + 1e-9)):
            return r, r, ("secular", 1.0)
    found = _secular_crossing(spec, g0, top)
    if found is not None:
        return found
    g = g0
    while spec.stable(2 * g):
        g *= 2
        if g > top:
            raise RuntimeError("the second-moment map is stable at every learning rate tried "
                               f"(up to {top:g} = 1e15 / tr K)")
    lo, hi = _bisect(spec.stable, g, 2 * g, rel=1e-12)
    return lo, hi, spec.exit_point(hi * (1 + 1e-9))


#: points per doubling of the fine scan of F(z; gamma) in :func:`_secular_crossing`
FINE_POINTS = 16


def _secular_at(spec, w, g):
    """F(1 + w; g) for a one-element array w, as a float."""
    return float(spec.secular(g, w)[0].real)


def _secular_crossing(spec, g0, top):
    """The crossing as the first zero of F(z; gamma), z = 1 then z = -1, on a fine geometric grid of
    learning rates (FINE_POINTS per doubling from g0 to top, one vectorised evaluation), located by Brent's
    method and accepted if L is stable just below and unstable just above it; None if neither is.

    Below gamma_c no eigenvalue of L lies on the unit circle, so no zero of F(z; .) precedes gamma_c; the
    doubling grid of :func:`_locate` misses a zero of F(1) when F(1) is negative on less than a doubling
    (e.g. SGD with weight decay), and heavy ball and SGD with weight decay can lose stability at z = -1."""
    from scipy.optimize import brentq
    n = int(np.ceil(np.log2(top / g0) * FINE_POINTS)) + 1
    gs = g0 * 2.0 ** (np.arange(n) / FINE_POINTS)
    for z in (1.0, -1.0):
        F = spec.secular_on_grid(gs, z - 1.0)
        neg = np.flatnonzero(~(F > 0))
        if neg.size == 0 or neg[0] == 0:
            continue
        a, b = gs[neg[0] - 1], gs[neg[0]]
        f = functools.partial(_secular_at, spec, np.array([z - 1.0]))
        if not (f(a) > 0 and f(b) <= 0) or not np.isfinite(f(b)):
            continue
        r = brentq(f, a, b, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=200) if f(b) < 0 else b
        if spec.stable(r * (1 - 1e-9)) and not spec.stable(r * (1 + 1e-9)):
            return r, r, ("secular", z)
    return None


def _float_root(spec, lo, hi, exit):
    """The crossing in float64 from the bracket and its exit (full precision for real exits)."""
    if exit[0] == "secular" and isinstance(exit[1], float):
        if lo == hi:   # already a root of F(1) to the last bits
            return lo
        w = exit[1] - 1.0
        a, b = _bisect(lambda x: spec.secular(x, np.array([w]))[0].real > 0, lo * (1 - 1e-9), hi * (1 + 1e-9))
        return 0.5 * (a + b)
    if exit[0] == "block":
        j = exit[1]

        def inside(x):
            _, out = spec.block_eigenvalues(x)
            return not out[j].any()
        a, b = _bisect(inside, lo * (1 - 1e-9), hi * (1 + 1e-9))
        return 0.5 * (a + b)
    from scipy.optimize import root
    th0 = float(np.angle(exit[1]))

    def eqs(x):
        val = spec.secular(x[0] * hi, np.array([-2.0 * np.sin(x[1] / 2) ** 2 + 1j * np.sin(x[1])]))[0]
        return [val.real, val.imag]
    sol = root(eqs, [1.0, th0], method="hybr", options={"xtol": 1e-15})
    r = float(sol.x[0]) * hi
    return r if sol.success and abs(r - hi) <= 1e-6 * hi else 0.5 * (lo + hi)


#: float64 critical learning rates kept (least recently used dropped): the same problem is asked again and
#: again (a drawn problem, then its fourth-moment critical learning rate, which starts from gamma_c)
MEMO_SIZE = 256
_MEMO: collections.OrderedDict = collections.OrderedDict()


def _memo_key(rec, lam, batch, hyper):
    """What gamma_c depends on: the compiled secular functions (by identity: one symbolic recursion), the
    eigenvalues and kurtosis values, the batch size and the bound hyperparameters (None if one is not a
    number or an array)."""
    parts = []
    for name in sorted(hyper):
        value = hyper[name]
        if isinstance(value, np.ndarray):
            parts.append((name, value.dtype.str, value.shape, value.tobytes()))
        elif isinstance(value, (int, float, np.floating, np.integer)):
            parts.append((name, float(value)))
        else:
            return None
    kappa = np.ascontiguousarray(rec.data.kurtosis_values(len(lam)), dtype=float)
    return (rec._secular_functions, np.ascontiguousarray(lam, dtype=float).tobytes(), kappa.tobytes(),
            int(batch), tuple(parts))


def critical_learning_rate(rec, eigenvalues, lam, batch, hyper, dps=None, certify=False):
    """gamma_c of ``rec`` (see :meth:`theory.Recursion.critical_learning_rate`); ``lam`` is the
    validated float64 copy of ``eigenvalues``, which are read again at full precision when ``dps``.
    With ``certify`` an ``mpmath.iv`` interval proved to contain gamma_c
    (:func:`theory.precision.certify_critical`)."""
    if certify:
        from .precision import certify_critical
        work = max(dps or 0, 40)
        root = critical_learning_rate(rec, eigenvalues, lam, batch, hyper, work + 10)
        return certify_critical(rec, eigenvalues, len(lam), batch, hyper, root, work)
    if dps is None:
        key = _memo_key(rec, lam, batch, hyper)
        if key is not None and key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    spec = Spectrum(rec, lam, batch, hyper)
    lo, hi, exit = _locate(spec)
    root = _float_root(spec, lo, hi, exit)
    if dps is None:
        if key is not None:
            _MEMO[key] = root
            if len(_MEMO) > MEMO_SIZE:
                _MEMO.popitem(last=False)
        return root
    with mpmath.workdps(dps + 15):
        mpc = MpClasses(rec, eigenvalues, len(lam), batch, hyper)
        value = refine_crossing(spec, mpc, root, exit)
        if not abs(value - root) <= 1e-6 * root:
            raise RuntimeError(f"high-precision refinement gave {value} but the float64 crossing is {root!r} "
                               f"(exit {exit})")
        return Mpf(value, dps)


def _sherman_morrison(G, H, Wx, Wy, noise):
    """R_inf = (W_x C + W_y + sigma^2)/2 with C = H/(1 - G)."""
    return (Wx * H / (1 - G) + Wy + noise) / 2


def stationary_risk(rec, eigenvalues, lam, learning_rate, batch, noise_variance, hyper, dps=None):
    """R_inf from the four Sherman--Morrison sums over the merged classes (O(d)); see
    :meth:`theory.Recursion.stationary_risk`."""
    if dps is None:
        spec = Spectrum(rec, lam, batch, hyper)
        a = spec.args(float(learning_rate))
        a[3] = float(noise_variance)
        sums = [float(spec.counts @ _bcast(spec.sf.terms[k][0](*a), spec.lam.shape))
                for k in ("G", "H", "Wx", "Wy")]
        return float(_sherman_morrison(*sums, float(noise_variance)))
    with mpmath.workdps(dps + 10):
        mpc = MpClasses(rec, eigenvalues, len(lam), batch, hyper)
        g, noise = to_mpf(learning_rate, "learning_rate"), to_mpf(noise_variance, "noise_variance")
        sums = [mpmath.fsum(c * mpc.sf.terms[k][1](*mpc.args(g, key, noise))
                            for key, c in zip(mpc.keys, mpc.counts)) for k in ("G", "H", "Wx", "Wy")]
        value = _sherman_morrison(*sums, noise)
        return Mpf(value, dps)

