r"""The even sector of two-step methods (heavy ball, Nesterov): state (e_k, e_{k-1}) per direction.

Setting as in :mod:`theory.fourth` (least squares, x = sqrt(lambda) z with independent
symmetric coordinates, Gaussian label noise), for an algorithm whose per-direction state is
s = (s_0, s_1) = (e_k, e_{k-1}) with an update linear in the state and in the gradient
coordinate g_i evaluated at the gradient point p_i (linear in the state: p_i = e_i for heavy
ball, e_i + beta (e_i - e_{k-1,i}) for Nesterov). Flipping the sign of (z_i, e_i, e_{k-1,i})
together leaves the law of a step unchanged, so the *even sector* closes:

* pairs i != j: P_{ij}[a, b] = E q_a(i) q_b(j) with q = (s_0^2, s_0 s_1, s_1^2)
  (a 3 x 3 block; P_{ji} = P_{ij}^T);
* the diagonal: D_i[k] = E s_0^{4-k} s_1^k, k = 0..4;
* the couplings produced by the gradient moments (which depend on the state only through
  p_i, p_j, S_e = sum_l lambda_l p_l^2 and W_e = sum_l (kappa_l - 3) lambda_l^2 p_l^4):
  T_i[a] = sum_l lambda_l E q_a(i) p_l^2, U = E S_e^2, V = E W_e, and, in the forcing,
  the second moments m_i[a] = E q_a(i) and S = E S_e.

Derivation (SymPy; the moment machinery :func:`theory.fourth.batch_gradient_moments` is
shared with SGD): expand q'_a(i) q'_b(j) and s'_0^{4-k} s'_1^k of the update rule as
polynomials in the batch-mean gradient coordinates, insert the conditional batch moments
at the gradient point, and replace every monomial in (s_0(i), s_1(i), s_0(j), s_1(j), S_e,
W_e) by its expectation symbol (any other monomial raises). The numeric map
(:class:`TwoStepEvenMap`) then writes p_l^2 = sum_k c_k q_k(l) and p_l^4 = sum_k w_k
s_0^{4-k} s_1^k with c, w from the gradient point.

For heavy ball with beta = 0 the e-part is SGD's recursion exactly.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .. import symbols as sym
from ..compiled import filled, from_source
from ..diskcache import persistent
from ..hyperparameters import bind_hyperparameters
from ..linear import BlockRankOne
from ..validation import (
    check_eigenvalues,
    check_initial,
    check_integer,
    check_nonnegative,
    check_positive,
)
from .derivation import kappa_j, lam_j, mu6_j, mu8_j
from .momentum_linear import DIAGONAL_KEYS, PAIR_KEYS, TwoStepEvenMap
from .recursion import DataBound

__all__ = ["TwoStepFourthRecursion", "TwoStepEvenMap", "PAIR_KEYS", "DIAGONAL_KEYS"]

_PI = {k: n for n, k in enumerate(PAIR_KEYS)}
_DI = {k: n for n, k in enumerate(DIAGONAL_KEYS)}


# ---------------------------------------------------------------------------- derivation
def derive_two_step(algorithm, rules):
    """SymPy derivation of the even sector of a two-step method (see the module docstring).

    Returns (pair, diag, c, w) as documented on :class:`TwoStepFourthRecursion`: expanded SymPy
    expressions, computed in one sparse polynomial ring (:mod:`theory.fourth.momentum_derivation`).
    """
    from .momentum_derivation import derive_two_step_ring
    return derive_two_step_ring(algorithm, rules)


# ---------------------------------------------------------------------------- compiled coefficients
@persistent   # the lambdified (CSE'd) source, generated once per derivation and loaded from disk afterwards
def _compiled_sources(algorithm_type, rules):
    """Python sources of the numeric coefficient functions (pair, diagonal, c, w) of the derivation."""
    import inspect

    from .derivation import _derive_cached
    rec = _derive_cached(algorithm_type, rules)
    hyper = [s for n, s in rec.algorithm.hyperparameters.items() if n != "learning_rate"]
    pair_args = [sym.lam, lam_j, sym.kappa, kappa_j, sym.mu6, mu6_j, sym.mu8, mu8_j, sym.B, sym.sigma2,
                 sym.gamma, *hyper]
    diag_args = [sym.lam, sym.kappa, sym.mu6, sym.mu8, sym.B, sym.sigma2, sym.gamma, *hyper]
    pair_exprs = [rec.pair[(a, b)].get(k, 0) for a in range(3) for b in range(3) for k in PAIR_KEYS]
    diag_exprs = [rec.diagonal[k].get(key, 0) for k in range(5) for key in DIAGONAL_KEYS]
    c, w = rec.gradient_point
    fns = (sp.lambdify(pair_args, pair_exprs, modules="numpy", cse=_cse_unordered),
           sp.lambdify(diag_args, diag_exprs, modules="numpy", cse=_cse_unordered),
           sp.lambdify(hyper, list(c), modules="numpy"), sp.lambdify(hyper, list(w), modules="numpy"))
    return tuple(inspect.getsource(f) for f in fns)


def _cse_unordered(exprs):
    """SymPy's common-subexpression elimination without its canonical ordering of the expressions (the same
    subexpressions, printed in another order: 35% less CPU for the cold Nesterov sources, values within an ulp)."""
    return sp.cse(exprs, order="none")


# ---------------------------------------------------------------------------- result object
@dataclass
class _Compiled:
    pair: object
    diag: object
    c: object
    w: object
    hyper_names: list = field(default_factory=list)


class TwoStepFourthRecursion(DataBound):
    """The even-sector recursion of a two-step method (heavy ball, Nesterov); from :func:`derive_fourth`.

    Attributes
    ----------
    algorithm, data
    pair : dict
        {(a, b): {term key: coefficient}} of P'_ij[a, b] (keys of :data:`PAIR_KEYS`).
    diagonal : dict
        {k: {term key: coefficient}} of D'_i[k] (keys of :data:`DIAGONAL_KEYS`).
    gradient_point : (c, w)
        p^2 = sum_k c_k s0^(2-k) s1^k and p^4 = sum_k w_k s0^(4-k) s1^k.

    Methods: ``update`` (the 14 SymPy equations), ``latex()``, ``linear_map(...)``,
    ``dense_operator(...)``, ``spectral_radius(...)``, ``critical_learning_rate(...)``,
    ``trajectory(...)`` (a :class:`FourthMomentTrajectory`) and ``time_average_covariance(...)``
    (a :class:`TimeAverageCovariance`). Numeric methods take the algorithm's hyperparameters
    other than the learning rate as keywords (``momentum`` for heavy ball and Nesterov),
    validated by the algorithm (ValueError if missing, unknown, a schedule, or out of range).

    Example
    -------
    >>> from theory import HeavyBall, derive_fourth
    >>> rec = derive_fourth(HeavyBall())
    >>> tr = rec.trajectory([1.0, 0.5], 0.1, steps=3, momentum=0.5)
    >>> tr.second_moment_variance.shape, float(tr.risk_variance[0])
    ((4, 2), 0.0)
    """

    def __init__(self, *, algorithm, data, pair, diagonal, c, w):
        self.algorithm, self.data = algorithm, data
        self.pair, self.diagonal, self.gradient_point = pair, diagonal, (c, w)

    # ------------------------------------------------------------------ symbolic
    @staticmethod
    def term_symbol(key) -> sp.Symbol:
        """The state symbol of a term key of :data:`PAIR_KEYS` / :data:`DIAGONAL_KEYS` (1 for the constant)."""
        name, idx = key[0], "".join(str(x) for x in key[1:])
        if name == "1":
            return sp.Integer(1)
        if name in ("U", "V", "S"):
            return sp.Symbol(name if name != "S" else "S", real=True)
        table = {"P": "P_ij", "Di": "D_i", "Dj": "D_j", "D": "D_i", "Ti": "T_i", "Tj": "T_j", "T": "T_i",
                 "mi": "m_i", "mj": "m_j", "m": "m_i"}
        return sp.Symbol(f"{table[name]}^({idx})", real=True)

    @functools.cached_property
    def update(self) -> list:
        """[Eq(P_ij^(ab)', ...) for a, b in 0..2 (i != j), then Eq(D_i^(k)', ...) for k = 0..4].

        P_ij^(ab) = E q_a(i) q_b(j), q = (e^2, e e_prev, e_prev^2); D_i^(k) = E e^(4-k) e_prev^k;
        T_i^(a) = sum_l lambda_l E q_a(i) p_l^2; U = E S_e^2; V = sum_l (kappa_l - 3) lambda_l^2 E p_l^4;
        m_i^(a) = E q_a(i); S = sum_l lambda_l E p_l^2 (p the gradient point)."""
        def rhs(coeffs, keys):
            terms = []
            for key in keys:
                c = coeffs.get(key, 0)
                if c != 0:
                    c = sp.collect(sp.expand(c), sym.gamma, sp.factor)
                    t = self.term_symbol(key)
                    terms.append(c if t == 1 else t if c == 1 else sp.Mul(c, t, evaluate=False))
            return sp.Add(*terms)
        out = [sp.Eq(sp.Symbol(f"P_ij^({a}{b})'"), rhs(self.pair[(a, b)], PAIR_KEYS))
               for a in range(3) for b in range(3)]
        out += [sp.Eq(sp.Symbol(f"D_i^({k})'"), rhs(self.diagonal[k], DIAGONAL_KEYS)) for k in range(5)]
        return out

    def latex(self) -> str:
        """The derived even-sector update as one amsmath ``align*`` environment."""
        from .derivation import LATEX_NAMES
        names = dict(LATEX_NAMES)
        for key in PAIR_KEYS + DIAGONAL_KEYS:
            t = self.term_symbol(key)
            if t != 1:
                base, _, idx = t.name.partition("^")
                names[t] = base.replace("_", "_{k,", 1) + "}^{" + idx + "}" if "_" in base else base + "_k"
        names.update({self.algorithm.state[0]: r"e_{k,i}"})

        from ..latex import align, rows, tidy
        out = [r"&\text{update rule:}", *self.algorithm.latex_update().split(" \\\\\n"),
               (r"&q_{k,i} = (e_{k,i}^2,\ e_{k,i} e_{k-1,i},\ e_{k-1,i}^2),\quad "
                r"P_{k,ij}^{(ab)} = \mathbb{E}\, q_{k,i}^{(a)} q_{k,j}^{(b)},\quad "
                r"D_{k,i}^{(n)} = \mathbb{E}\, e_{k,i}^{4-n} e_{k-1,i}^{n},\quad "
                r"T_{k,i}^{(a)} = \sum_l \lambda_l \mathbb{E}\, q_{k,i}^{(a)} p_{k,l}^2,\quad "
                r"U_k = \mathbb{E} \bigl(\textstyle\sum_l \lambda_l p_{k,l}^2\bigr)^2,\quad "
                r"V_k = \sum_l (\kappa_l - 3) \lambda_l^2 \mathbb{E}\, p_{k,l}^4")]
        late = [self.term_symbol(k) for k in PAIR_KEYS + DIAGONAL_KEYS if self.term_symbol(k) != 1]
        blocks = [(f"P_{{k+1,ij}}^{{({a}{b})}}", self.pair[(a, b)], PAIR_KEYS) for a in range(3) for b in range(3)]
        blocks += [(f"D_{{k+1,i}}^{{({n})}}", self.diagonal[n], DIAGONAL_KEYS) for n in range(5)]
        for lhs, coeffs, keys in blocks:
            terms = [sp.Mul(tidy(coeffs[k]), self.term_symbol(k), evaluate=False)
                     for k in keys if coeffs.get(k, 0) != 0]
            out += rows(lhs, sp.Add(*terms, evaluate=False), names, late=late, keep=True)
        return align(out)

    @functools.cached_property
    def _compiled(self):
        rules = tuple(self.data.even_moment(n) for n in (4, 6, 8))
        sources = _compiled_sources(type(self.algorithm), rules)
        return _Compiled(*(from_source(src) for src in sources),
                         [n for n in self.algorithm.hyperparameters if n != "learning_rate"])

    # ------------------------------------------------------------------ checks
    def _check(self, eigenvalues, learning_rate, batch, noise_variance, hyper):
        lam = check_eigenvalues(eigenvalues)
        if learning_rate is not None:
            check_positive(learning_rate, "learning_rate")
        batch = check_integer(batch, "batch", 1)
        check_nonnegative(noise_variance, "noise_variance")
        bound = bind_hyperparameters(self.algorithm, {"learning_rate": learning_rate or 1.0, **hyper})
        return lam, batch, {k: float(bound[k]) for k in self._compiled.hyper_names}

    def _moments(self, lam):
        vals = self.data.even_moment_values(len(lam))
        return [np.broadcast_to(np.asarray(vals[s], dtype=float), lam.shape) for s in (sym.kappa, sym.mu6, sym.mu8)]

    def _map(self, lam, counts, moments, gamma, batch, sigma2, hyper, with_second=False):
        comp = self._compiled
        C = len(lam)
        k, m6, m8 = moments
        col, row = (lambda x: x[:, None]), (lambda x: x[None, :])
        hv = [hyper[n] for n in comp.hyper_names]
        vals = comp.pair(col(lam), row(lam), col(k), row(k), col(m6), row(m6), col(m8), row(m8), float(batch),
                         float(sigma2), float(gamma), *hv)
        pair = filled((C, C), vals).reshape(C, C, 3, 3, len(PAIR_KEYS))
        vals = comp.diag(lam, k, m6, m8, float(batch), float(sigma2), float(gamma), *hv)
        diag = filled((C,), vals).reshape(C, 5, len(DIAGONAL_KEYS))
        c = np.broadcast_to(np.asarray(comp.c(*hv), dtype=float), (3,))
        w = np.broadcast_to(np.asarray(comp.w(*hv), dtype=float), (5,))
        second = None
        if with_second:
            from ..derive import derive
            second = derive(self.algorithm, self.data).linear_map(lam, gamma, batch, sigma2, **hyper)
        return TwoStepEvenMap(lam, counts, k, pair, diag, c, w, second)

    def linear_map(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, **hyper) -> TwoStepEvenMap:
        """The map per direction at numeric parameters (with the second-moment map of :func:`theory.derive`)."""
        lam, batch, hyper = self._check(eigenvalues, learning_rate, batch, noise_variance, hyper)
        return self._map(lam, np.ones(len(lam), dtype=int), self._moments(lam), float(learning_rate), batch,
                         float(noise_variance), hyper, with_second=True)

    def _class_map(self, lam, gamma, batch, hyper):
        keys = np.stack([lam, *self._moments(lam)], axis=1)
        uniq, counts = np.unique(keys, axis=0, return_counts=True)
        return self._map(uniq[:, 0], counts, [uniq[:, 1], uniq[:, 2], uniq[:, 3]], gamma, batch, 0.0, hyper)

    def dense_operator(self, eigenvalues, learning_rate, batch=1, **hyper) -> np.ndarray:
        """Dense matrix of the linear part per direction on D_i[k] and P_ij[a, b], i < j (small d only, <= 16)."""
        lam, batch, hyper = self._check(eigenvalues, learning_rate, batch, 0.0, hyper)
        if len(lam) > 16:
            raise ValueError(f"eigenvalues must have at most 16 entries for a dense operator; got {len(lam)}")
        return self._map(lam, np.ones(len(lam), dtype=int), self._moments(lam), float(learning_rate), batch,
                         0.0, hyper).dense()

    def spectral_radius(self, eigenvalues, learning_rate, batch=1, **hyper) -> float:
        """Spectral radius of the linear part, on class-symmetric states (where it is attained, see
        :meth:`critical_learning_rate`); class-symmetric dimension at most 2000 (ValueError)."""
        lam, batch, hyper = self._check(eigenvalues, learning_rate, batch, 0.0, hyper)
        cm = self._class_map(lam, float(learning_rate), batch, hyper)
        if len(cm.coordinates()) > 2000:
            raise ValueError(f"the class-symmetric dimension must be at most 2000 for a dense spectral radius; "
                             f"got {len(cm.coordinates())} (use critical_learning_rate)")
        from ..empirical import _single_threaded_blas
        with _single_threaded_blas():   # an oversubscribed threaded BLAS is ~50x slower here on a busy machine
            return float(np.max(np.abs(np.linalg.eigvals(cm.dense()))))

    def critical_learning_rate(self, eigenvalues, batch=1, **hyper) -> float:
        r"""gamma_c^(4): the smallest learning rate at which the spectral radius of the linear part reaches 1.

        The linear part maps the cone of even-sector moment data of laws of the state
        (E q_a(i) q_b(j), E s0^{4-k} s1^k) into itself (it is the exact map of those moments
        when sigma^2 = 0), so by Krein--Rutman its spectral radius is an eigenvalue with an
        eigenvector in that cone; averaging over permutations of identical directions keeps
        it there, so the radius is attained on class-symmetric states (directions with equal
        (lambda, kappa, mu_6, mu_8) merged). gamma_c^(4) is located on (0, gamma_c (1 + 1e-6)]
        (gamma_c from :func:`theory.derive`; Jensen gives gamma_c^(4) <= gamma_c): class-symmetric
        dimension <= 400 by a scan of the sign of det(I - L) on 32 points with the dense spectral radius
        on every 4th, then Brent's method on det(I - L) confirmed on the spectral radius (bisection of the
        spectral radius where det(I - L) keeps its sign: a double root), else by the sign of
        det(I - L) = det(I - L_0) det(I - M) (:meth:`TwoStepEvenMap.secular`, O(C^3) per
        evaluation; scan of 16 points, then 256, and Brent's method), confirmed on the dense
        spectral radius when the class-symmetric dimension is at most 1200.

        Raises ValueError on bad input, RuntimeError if no crossing is found.

        Example
        -------
        >>> from theory import HeavyBall, derive_fourth
        >>> rec = derive_fourth(HeavyBall())
        >>> round(rec.critical_learning_rate([1.0], momentum=0.0), 10)   # = SGD's root of E(1 - g z^2)^4 = 1
        0.3834510059
        """
        from ..empirical import _single_threaded_blas
        lam, batch, hyper = self._check(eigenvalues, None, batch, 0.0, hyper)
        with _single_threaded_blas():
            root, _, _ = self._crossing(lam, batch, hyper).locate()
            return float(root)

    def below_critical_learning_rate(self, eigenvalues, learning_rate, batch=1, **hyper) -> bool:
        r"""Whether ``learning_rate`` < gamma_c^(4) (:meth:`critical_learning_rate`), without locating it.

        The map is read only at learning rates up to ``learning_rate``: the scan of
        :meth:`critical_learning_rate` on its grid points below it (the sign of det(I - L), and the
        spectral radius on every 4th point for class-symmetric dimension <= 400) finds no instability,
        and at the learning rate itself det(I - L) > 0 (and rho(L) < 1 for dimension <= 400); see
        :func:`theory.fourth.critical.below_crossing`. Unlike SGD, the stable set of a two-step
        method is not known to be an interval (at gamma = 0 the map has the eigenvalue 1, so the
        convexity argument of :meth:`theory.FourthMomentRecursion.below_critical_learning_rate` does not
        apply), hence the scan below the learning rate. gamma_c^(4) is located only when the scan of large
        problems cannot decide (det(I - L) > 0 also at gamma_c (1 + 1e-6)). Agrees with
        ``learning_rate < critical_learning_rate(...)`` (tests: drawn problems, learning rates 1e-6
        relative either side of gamma_c^(4)).

        Raises ValueError on bad input.

        Example
        -------
        >>> from theory import HeavyBall, derive_fourth
        >>> rec = derive_fourth(HeavyBall())
        >>> g4 = rec.critical_learning_rate([1.0, 0.5], momentum=0.5)
        >>> rec.below_critical_learning_rate([1.0, 0.5], 0.999 * g4, momentum=0.5)
        True
        """
        from ..empirical import _single_threaded_blas
        lam, batch, hyper = self._check(eigenvalues, learning_rate, batch, 0.0, hyper)
        gamma = float(learning_rate)
        with _single_threaded_blas():
            crossing = self._crossing(lam, batch, hyper)
            below = crossing.below(gamma)
            if below is None:
                below = gamma < crossing.locate()[0]
        return bool(below)

    def _crossing(self, lam, batch, hyper):
        """The :class:`theory.fourth.critical.Crossing` of :meth:`critical_learning_rate` (validated inputs)."""
        from ..derive import derive
        from .critical import Crossing, resolvable_classes, spectral_radius
        gc = derive(self.algorithm, self.data).critical_learning_rate(lam, batch=batch, **hyper)
        classes = resolvable_classes(lam, self._moments(lam), gc)

        @functools.lru_cache(maxsize=64)   # the scans read rho and det(I - L) at the same learning rates
        def cmap(g):
            return self._map(*classes, g, batch, 0.0, hyper)
        size = len(cmap(gc).coordinates())
        dense = size <= 400

        def rho(g):
            return spectral_radius(cmap(g).dense())

        def sec(g):
            with np.errstate(all="ignore"):
                for nudge in (0.0, 1e-9, -1e-9):   # off a pole of the factorisation
                    try:
                        sign, logabs = cmap(g * (1 + nudge)).secular()
                    except np.linalg.LinAlgError:   # a block of L_0 exactly singular in float64: a pole
                        continue
                    if np.isfinite(logabs) or sign == 0:
                        return sign, logabs
            raise RuntimeError(f"det(I - L) could not be evaluated at learning rate {g!r}")  # pragma: no cover

        # not below 1e-4 gamma_c: at gamma -> 0 the map has the eigenvalue 1 (e_k = e_{k-1} at rest)
        return Crossing(rho, sec, gc, gc * 1e-4, dense, (32,) if dense else (16, 256), bisect_tol=1e-13,
                        confirm=size <= 1200, xtol=1e-14, coarse=8)

    # ------------------------------------------------------------------ trajectories
    def _start(self, initial, d):
        e0 = check_initial(initial, d)
        st = self.algorithm.initial_state(e0)
        return np.asarray(st[0], float), np.asarray(st[1], float)

    def trajectory(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, initial=1.0, steps=100,
                   **hyper):
        r"""Exact E e_{k,i}^2, E e_{k,i}^4, the risk and its variance over replicas, k = 0..steps.

        From the deterministic e_0 (``initial``) with e_{-1} = e_0; risk R_k = (sum_i lambda_i
        e_{k,i}^2 + sigma^2)/2. Cost O(steps d^2) (81 d^2 per step). Returns a
        :class:`theory.fourth.FourthMomentTrajectory` (``Q`` is None).
        """
        lam, batch, hyper = self._check(eigenvalues, learning_rate, batch, noise_variance, hyper)
        steps = check_integer(steps, "steps", 1)
        mp = self._map(lam, np.ones(len(lam), dtype=int), self._moments(lam), float(learning_rate), batch,
                       float(noise_variance), hyper, with_second=True)
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch, noise_variance=noise_variance,
                      initial=initial, steps=steps, **hyper)
        return mp.trajectory(*self._start(initial, len(lam)), steps, parameters=params)

    def time_average_covariance(self, eigenvalues, learning_rate, edges, batch=1, noise_variance=0.0,
                                initial=1.0, **hyper):
        r"""Exact covariance over replicas of block time averages of the risk (and variances of e_i^2).

        As :meth:`theory.FourthMomentRecursion.time_average_covariance`, with the conditional
        second-moment map of the state q = (e^2, e e_prev, e_prev^2) (the 3 x 3 block +
        rank-one map M of :func:`theory.derive`): for k <= l,
        Cov(R_k, R_l) = (1/4) w^T M^{l-k} Cov(q_k, lambda . e_k^2), w = lambda on e^2.
        """
        from ..derive import derive
        from .recursion import _check_edges
        lam, batch, hyper = self._check(eigenvalues, learning_rate, batch, noise_variance, hyper)
        edges = _check_edges(edges)
        e0, f0 = self._start(initial, len(lam))
        moments = self._moments(lam)
        # classes: equal (lambda, kappa, mu_6, mu_8) and equal initial even moments obey one recursion
        keys = np.stack([lam, *moments, e0**2, e0 * f0, f0**2], axis=1)
        _, first, inverse, counts = np.unique(keys, axis=0, return_index=True, return_inverse=True,
                                              return_counts=True)
        second = derive(self.algorithm, self.data).linear_map(lam, learning_rate, batch, noise_variance, **hyper)
        mp = self._map(lam[first], counts, [x[first] for x in moments], float(learning_rate), batch,
                       float(noise_variance), hyper)
        mp.second = BlockRankOne(second.A[first], second.u[first], second.v[first], second.f[first],
                                 second.w[first], second.offset)
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch, noise_variance=noise_variance,
                      initial=initial, edges=edges, **hyper)
        return mp.time_average_covariance(e0[first], f0[first], edges, parameters=params,
                                          directions=np.ravel(inverse))
