r"""The even sector of any two-state method linear in its state and gradient, with schedules (DANA).

Setting as in :mod:`theory.fourth` (least squares, x = sqrt(lambda) z with independent symmetric
coordinates, Gaussian label noise). The per-direction state is s = (s_0, s_1) with the gradient
taken at s_0 (the error e_k), and one step is linear in the *extended* vector x = (s_0, s_1, g):

.. math:: s'_i = R_k\, x_i,\qquad x_i = (s_{0,i},\ s_{1,i},\ g_i),

with a 2 x 3 matrix R_k of the hyperparameters of step k. For the generalised momentum of DANA
(:class:`theory.GeneralizedMomentum`, s = (e_k, y_{k-1})),

.. math::
    R_k = \begin{pmatrix} 1 & -\gamma_3(k)(1-\Delta_k) & -\gamma_2 - \gamma_3(k)\gamma_1(k) \\
                          0 & 1 - \Delta_k & \gamma_1(k) \end{pmatrix};

heavy ball is R = ((1 + beta, -beta, -gamma), (1, 0, 0)).

Because the gradient is taken at s_0, the conditional moments of the extended products do not
depend on the hyperparameters. The derivation (SymPy, with the moment machinery
:func:`theory.fourth.batch_gradient_moments` shared with SGD) therefore splits in two:

1. *Moment tables* (once per data model's moment rules): for the 6 degree-2 monomials
   X_c of x, the pair table E[X_c(i) X_d(j)] (i != j), the 15 degree-4 monomials Y_n of x
   on the diagonal, E[Y_n(i)], and the second-moment table E[X_c(i)], each written in the
   even-sector state (keys of :data:`~theory.fourth.momentum_linear.PAIR_KEYS` /
   :data:`~theory.fourth.momentum_linear.DIAGONAL_KEYS`: P_ij[a, b] = E q_a(i) q_b(j) with
   q = (s_0^2, s_0 s_1, s_1^2), D_i[n] = E s_0^{4-n} s_1^n, T_i[a] = sum_l lambda_l E q_a(i) s_{0,l}^2,
   U, V, m_i[a] = E q_a(i), S). Any monomial outside the sector raises.
2. *The step's symmetric powers*: q'(i) = Sym^2(R_k) X(i) (3 x 6) and the degree-4 products
   Sym^4(R_k) Y(i) (5 x 15), expanded symbolically in the entries of R, with R itself read off
   the algorithm's update rule as a function of the hyperparameters (gamma_2, then the algorithm's
   other hyperparameters in order); lambdified once (the sources kept in :mod:`theory.diskcache`)
   and evaluated per step.

So P'_ij = Sym^2(R_k) E[X(i) X(j)^T] Sym^2(R_k)^T, D'_i = Sym^4(R_k) E[Y(i)], m'_i = Sym^2(R_k) E[X(i)]:
time-dependent hyperparameters (schedules gamma_1(k), gamma_3(k), Delta(k); the step k -> k+1 uses
h(k), as in :meth:`theory.Recursion.trajectory`) cost three small matrix products per step,
not a re-evaluation of the coefficients. The numeric map is
:class:`~theory.fourth.generalized_linear.GeneralizedEvenMap` (O(d^2) per step).

Oracles (tests/test_fourth_generalized.py): gamma_3 = 0 gives SGD's numbers; gamma_2 = 0,
gamma_3 gamma_1 = gamma, 1 - Delta = beta gives heavy ball's (:class:`TwoStepFourthRecursion`),
through the state map y_{k-1} = (e_{k-1} - e_k)/gamma_3; exact enumeration of Rademacher data
with rational arithmetic on d = 2 with schedules.

Source: DANA, Ferbach, Everett, Gidel, Paquette, Paquette, arXiv:2505.16098 (Alg. 1); no formula of
a paper is used here.
"""
from __future__ import annotations

import functools
import itertools

import numpy as np
import sympy as sp

from .. import symbols as sym
from ..algorithms import GRADIENT, Algorithm
from ..compiled import from_source
from ..diskcache import persistent
from ..hyperparameters import bind_problem
from ..validation import (
    check_eigenvalues,
    check_initial,
    check_integer,
    check_nonnegative,
)
from .derivation import (
    _E_I,
    _E_J,
    _S_COND,
    _W_COND,
    batch_gradient_moments,
    kappa_j,
    lam_j,
    mu6_j,
    mu8_j,
)
from .momentum_derivation import _F_I, _F_J, _diag_key, _pair_key
from .momentum_linear import DIAGONAL_KEYS, PAIR_KEYS

__all__ = ["MONOMIALS2", "MONOMIALS4", "SECOND_KEYS", "GeneralizedFourthRecursion", "derive_generalized_fourth",
           "extended_moment_tables", "step_matrix"]


#: exponents (of s_0, s_1, g) of the degree-2 monomials X_c of the extended vector
MONOMIALS2 = tuple(m for m in itertools.product(range(3), repeat=3) if sum(m) == 2)[::-1]
#: exponents of the degree-4 monomials Y_n
MONOMIALS4 = tuple(m for m in itertools.product(range(5), repeat=3) if sum(m) == 4)[::-1]
#: term keys of the second-moment table E[X_c(i)]
SECOND_KEYS = ([("m", k) for k in range(3)] + [("S",), ("1",)])


def _diag_key4(monom):
    """:func:`theory.fourth.momentum_derivation._diag_key` on a monomial in (s0_i, s1_i, S_e, W_e)."""
    a1, a2, s, w = monom
    return _diag_key((a1, a2, 0, 0, s, w))


def _average(expr, gens, keyfn):
    out = {}
    for monom, coeff in sp.Poly(sp.expand(expr), *gens).terms():
        key = keyfn(monom)
        if key is None:
            raise ValueError(f"the even sector does not close: monomial {monom} in {gens}")
        out[key] = sp.expand(out.get(key, 0) + coeff)
    return out


@persistent   # once per moment rules, then loaded from disk (theory.diskcache)
def _tables(rules):
    from .derivation import _RulesOnly
    data = _RulesOnly(rules)
    pm = batch_gradient_moments(data, pair=True)
    dm = batch_gradient_moments(data, pair=False)
    pair = {}
    for c, (ai, bi, gi) in enumerate(MONOMIALS2):
        for d, (aj, bj, gj) in enumerate(MONOMIALS2):
            expr = _E_I**ai * _F_I**bi * _E_J**aj * _F_J**bj * pm[(gi, gj)]
            pair[(c, d)] = _average(expr, (_E_I, _F_I, _E_J, _F_J, _S_COND, _W_COND), _pair_key)
    diag = {n: _average(_E_I**a * _F_I**b * dm[(g, 0)], (_E_I, _F_I, _S_COND, _W_COND), _diag_key4)
            for n, (a, b, g) in enumerate(MONOMIALS4)}
    second = {c: _average(_E_I**a * _F_I**b * dm[(g, 0)], (_E_I, _F_I, _S_COND, _W_COND), _diag_key4)
              for c, (a, b, g) in enumerate(MONOMIALS2)}
    for c, terms in second.items():   # degree 2: only m, S, 1 may appear
        if any(k not in SECOND_KEYS for k in terms):  # pragma: no cover - guarded by the degrees
            raise ValueError(f"the second-moment table does not close: {terms}")
    return pair, diag, second


def extended_moment_tables(data):
    r"""The hyperparameter-free moment tables of the extended vector x = (s_0, s_1, g), g at s_0.

    Returns (pair, diagonal, second): ``pair[(c, d)]`` = {key: coefficient} of E[X_c(i) X_d(j)]
    (i != j, keys of :data:`PAIR_KEYS`), ``diagonal[n]`` of E[Y_n(i)] (keys of :data:`DIAGONAL_KEYS`),
    ``second[c]`` of E[X_c(i)] (keys of :data:`SECOND_KEYS`); X_c, Y_n the monomials of
    :data:`MONOMIALS2`, :data:`MONOMIALS4`. Coefficients are SymPy expressions in lambda_i (lambda_j),
    the moment rules, 1/B and sigma^2.

    Example
    -------
    >>> from theory import Gaussian
    >>> second = extended_moment_tables(Gaussian())[2]
    >>> second[MONOMIALS2.index((1, 0, 1))]            # E[e_i g_i] = lambda_i m_i
    {('m', 0): lambda_i}
    """
    rules = tuple(data.even_moment(n) for n in (4, 6, 8))
    return _tables(rules)


# ---------------------------------------------------------------------------- the step
_R = sp.Matrix(2, 3, sp.symbols("r00 r01 r02 r10 r11 r12", real=True))


@functools.cache
def _symmetric_powers():
    """Sym^2(R) (3 x 6) and Sym^4(R) (5 x 15) as SymPy matrices in the entries of R."""
    x = sp.symbols("x0 x1 x2", real=True)
    s0 = sum(_R[0, k] * x[k] for k in range(3))
    s1 = sum(_R[1, k] * x[k] for k in range(3))

    def power(deg, monos):
        rows = []
        for a in range(deg + 1):
            poly = sp.Poly(sp.expand(s0 ** (deg - a) * s1**a), *x)
            rows.append([poly.coeff_monomial(x[0] ** m[0] * x[1] ** m[1] * x[2] ** m[2]) for m in monos])
        return sp.Matrix(rows)
    return power(2, MONOMIALS2), power(4, MONOMIALS4)


def step_matrix(algorithm: Algorithm) -> sp.Matrix:
    """R of the algorithm's update rule: s' = R (s_0, s_1, g), a 2 x 3 SymPy matrix in its hyperparameters.

    Raises NotImplementedError unless the state has two coordinates, the gradient is taken at s_0
    and the update is linear in (s_0, s_1, g) without a constant."""
    if len(algorithm.state) != 2:
        raise NotImplementedError(f"the generalised even sector needs a two-coordinate state; got {algorithm!r}")
    s0, s1 = algorithm.state
    if sp.expand(algorithm.gradient_point - s0) != 0:
        raise NotImplementedError(f"the generalised even sector needs the gradient at the first state coordinate "
                                  f"{s0}; {algorithm!r} takes it at {algorithm.gradient_point}")
    gens = (s0, s1, GRADIENT)
    R = sp.zeros(2, 3)
    for r, u in enumerate(algorithm.update):
        poly = sp.Poly(sp.expand(u), *gens)
        if poly.total_degree() > 1 or poly.coeff_monomial(1) != 0:
            raise NotImplementedError(f"the update of {algorithm!r} must be linear in (state, gradient)")
        for k, g in enumerate(gens):
            R[r, k] = poly.coeff_monomial(g)
    return R


@persistent   # the lambdified (CSE'd) sources, generated once per algorithm and moment rules, then loaded from disk
def _compiled_sources(algorithm_type, rules):
    """(nonzero entries (row, column) of the pair table, Python sources of the numeric functions: pair
    entries, diagonal, second moments of the tables; R and (Sym^2 R, Sym^4 R) of the step)."""
    import inspect
    pair, diagonal, second = _tables(rules)
    algorithm = algorithm_type()
    args_p = [sym.lam, lam_j, sym.kappa, kappa_j, sym.mu6, mu6_j, sym.mu8, mu8_j, sym.B, sym.sigma2]
    args_d = [sym.lam, sym.kappa, sym.mu6, sym.mu8, sym.B, sym.sigma2]
    n2 = len(MONOMIALS2)
    # the pair table is sparse (63 of 36 x 35 entries for Gaussian data): only its nonzero entries
    entries = [(c * n2 + d, n, pair[(c, d)][k]) for c in range(n2) for d in range(n2)
               for n, k in enumerate(PAIR_KEYS) if pair[(c, d)].get(k, 0) != 0]
    diag = [diagonal[n].get(k, 0) for n in range(len(MONOMIALS4)) for k in DIAGONAL_KEYS]
    sec = [second[c].get(k, 0) for c in range(n2) for k in SECOND_KEYS]
    S2, S4 = _symmetric_powers()
    fns = (sp.lambdify(args_p, [e[2] for e in entries], modules="numpy", cse=True),
           sp.lambdify(args_d, diag, modules="numpy", cse=True),
           sp.lambdify(args_d, sec, modules="numpy", cse=True),
           sp.lambdify(list(algorithm.hyperparameters.values()), step_matrix(algorithm), modules="numpy"),
           sp.lambdify(list(_R), [S2, S4], modules="numpy", cse=True))
    return [e[:2] for e in entries], tuple(inspect.getsource(f) for f in fns)


# ---------------------------------------------------------------------------- result object
class GeneralizedFourthRecursion:
    """The even-sector recursion of a two-state method with schedules (see the module docstring).

    Attributes
    ----------
    algorithm, data
    pair, diagonal, second : dict
        The moment tables of :func:`extended_moment_tables`.
    step : sympy.Matrix
        R of :func:`step_matrix` (s' = R (s_0, s_1, g)).

    Numeric methods take ``learning_rate`` and the algorithm's other hyperparameters as keywords;
    for :class:`theory.GeneralizedMomentum` ``gamma1``, ``gamma3`` and ``delta`` may be callables
    of the step k (the step k -> k + 1 uses h(k)). Every value used is range-checked by the
    algorithm's hyperparameter specification (ValueError naming the hyperparameter).

    Example
    -------
    >>> from theory import GeneralizedMomentum, Gaussian
    >>> rec = derive_generalized_fourth(GeneralizedMomentum(), Gaussian())
    >>> tr = rec.trajectory([1.0, 0.5], 0.1, steps=3, gamma1=1.0, gamma3=0.05, delta=lambda k: 1 / (1 + k))
    >>> tr.second_moment_variance.shape, float(tr.risk_variance[0])
    ((4, 2), 0.0)
    """

    def __init__(self, algorithm, data, tables):
        self.algorithm, self.data = algorithm, data
        self.pair, self.diagonal, self.second = tables
        self.step = step_matrix(algorithm)

    def __repr__(self):
        return f"{type(self).__name__}(algorithm={self.algorithm!r}, data={self.data!r})"

    @functools.cached_property
    def _compiled(self):
        rules = tuple(self.data.even_moment(n) for n in (4, 6, 8))
        entries, sources = _compiled_sources(type(self.algorithm), rules)
        pf, df, sf, rf, mf = (from_source(src) for src in sources)

        def matrices(*h):
            Rn = np.asarray(rf(*h), dtype=float)
            S2n, S4n = mf(*Rn.ravel())
            return Rn, np.asarray(S2n, dtype=float), np.asarray(S4n, dtype=float)
        return np.array(entries, dtype=int).reshape(-1, 2), pf, df, sf, matrices

    # ------------------------------------------------------------------ numeric
    def _moments(self, lam):
        vals = self.data.even_moment_values(len(lam))
        return [np.broadcast_to(np.asarray(vals[s], dtype=float), lam.shape) for s in (sym.kappa, sym.mu6, sym.mu8)]

    def _check(self, eigenvalues, learning_rate, batch, noise_variance, hyper, steps):
        lam, batch, bound = bind_problem(self.algorithm, eigenvalues, learning_rate, batch, noise_variance, hyper,
                                         schedules=True, steps=steps)
        if any(np.ndim(v) for v in bound.values() if not callable(v)):
            raise ValueError("hyperparameters must be numbers or callables of the step k for a fourth-moment "
                             "recursion; per-direction arrays are not supported")
        table = np.empty((steps, len(bound)))
        for c, v in enumerate(bound.values()):
            table[:, c] = [float(v(k)) for k in range(steps)] if callable(v) else float(v)
        return lam, batch, table

    def linear_map(self, eigenvalues, batch=1, noise_variance=0.0):
        """The map per direction (no hyperparameters: those enter per step in ``apply``)."""
        lam = check_eigenvalues(eigenvalues)
        batch = check_integer(batch, "batch", 1)
        check_nonnegative(noise_variance, "noise_variance")
        return self._map(lam, batch, float(noise_variance))

    def _map(self, lam, batch, sigma2):
        from .generalized_linear import GeneralizedEvenMap
        entries, pf, df, sf, mats = self._compiled
        d = len(lam)
        k, m6, m8 = self._moments(lam)
        col, row = (lambda x: x[:, None]), (lambda x: x[None, :])
        vals = pf(col(lam), row(lam), col(k), row(k), col(m6), row(m6), col(m8), row(m8), float(batch), sigma2)
        n2, n4 = len(MONOMIALS2), len(MONOMIALS4)
        coef = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (d, d)) for v in vals])
        vals = df(lam, k, m6, m8, float(batch), sigma2)
        diag = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (d,)) for v in vals], axis=-1)
        diag = diag.reshape(d, n4, len(DIAGONAL_KEYS))
        vals = sf(lam, k, m6, m8, float(batch), sigma2)
        second = np.stack([np.broadcast_to(np.asarray(v, dtype=float), (d,)) for v in vals], axis=-1)
        second = second.reshape(d, n2, len(SECOND_KEYS))
        return GeneralizedEvenMap(lam, k, (entries[:, 0], entries[:, 1], coef), diag, second, mats, sigma2)

    def _start(self, initial, d):
        e0 = check_initial(initial, d)
        st = self.algorithm.initial_state(e0)
        return np.asarray(st[0], float), np.asarray(st[1], float)

    def trajectory(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, initial=1.0, steps=100, **hyper):
        r"""Exact E s_{0,k,i}^2, E s_{0,k,i}^4, the risk and its variance over replicas, k = 0..steps.

        From the deterministic initial state of the algorithm (``initial`` = e_0; y_{-1} = 0 for
        DANA); risk R_k = (sum_i lambda_i e_{k,i}^2 + sigma^2)/2; Var R_k over replicas. Cost
        O(steps d^2). Returns a :class:`theory.fourth.FourthMomentTrajectory`.
        """
        steps = check_integer(steps, "steps", 1)
        lam, batch, table = self._check(eigenvalues, learning_rate, batch, noise_variance, hyper, steps)
        mp = self._map(lam, batch, float(noise_variance))
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch, noise_variance=noise_variance,
                      initial=initial, steps=steps, **hyper)
        return mp.trajectory(*self._start(initial, len(lam)), table, parameters=params)

    def time_average_covariance(self, eigenvalues, learning_rate, edges, batch=1, noise_variance=0.0, initial=1.0,
                                **hyper):
        r"""Exact covariance over replicas of block time averages of the risk (and variances of e_i^2).

        Blocks [edges[b], edges[b+1]); a forward pass carries the even sector and, for each block
        b, psi_b = sum_{k in b, k <= l} M_{l-1} ... M_k Cov(q_k, X_k) (M_k the conditional
        second-moment map of step k, X_k = sum_i lambda_i e_{k,i}^2), so that
        Cov(R_k, R_l) = (1/4) lambda^T [M_{l-1} ... M_k Cov(q_k, X_k)]_{e^2}: cost
        O(edges[-1] (d^2 + d n_blocks)), not O(steps^2). Returns a
        :class:`theory.fourth.TimeAverageCovariance`.
        """
        from .recursion import _check_edges
        edges = _check_edges(edges)
        steps = max(int(edges[-1]), 1)
        lam, batch, table = self._check(eigenvalues, learning_rate, batch, noise_variance, hyper, steps)
        mp = self._map(lam, batch, float(noise_variance))
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch, noise_variance=noise_variance,
                      initial=initial, edges=edges, **hyper)
        return mp.time_average_covariance(*self._start(initial, len(lam)), edges, table, parameters=params)


def derive_generalized_fourth(algorithm: Algorithm, data) -> GeneralizedFourthRecursion:
    """The even-sector recursion of a two-state algorithm linear in (state, gradient), gradient at s_0.

    Raises NotImplementedError for other algorithms (see :func:`step_matrix`) and ValueError for
    data without independent symmetric coordinates (an empirical distribution).

    Example
    -------
    >>> from theory import GeneralizedMomentum, Gaussian
    >>> derive_generalized_fourth(GeneralizedMomentum(), Gaussian()).step[1, :]
    Matrix([[0, 1 - Delta, gamma_1]])
    """
    from ..data import EmpiricalDistribution
    if isinstance(data, EmpiricalDistribution):
        raise ValueError("data must have independent coordinates with a symmetric law for a fourth-moment "
                         "recursion; an empirical distribution has dependent coordinates")
    rules = tuple(data.even_moment(n) for n in (4, 6, 8))
    key = (repr(algorithm), rules)
    if key not in _RECURSIONS:     # compiled once per algorithm and moment rules; the data only give the numbers
        _RECURSIONS[key] = GeneralizedFourthRecursion(algorithm, data, _tables(rules))
        _RECURSIONS[key]._compiled  # noqa: B018 - compile once, shared by every copy
    out = object.__new__(GeneralizedFourthRecursion)
    out.__dict__.update(_RECURSIONS[key].__dict__)
    out.data = data
    return out


_RECURSIONS: dict = {}
