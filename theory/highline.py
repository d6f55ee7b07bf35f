r"""The high-dimensional limit of streaming SGD: the High Line ODEs.

Normalisation (the High Line paper, Collins-Woodfin et al., arXiv:2405.19585,
eq. 8 and Sec. 2): batch size 1, Gaussian (or any independent-coordinate)
data, the learning rate of step k is ``g_k / d`` (``g`` is O(1)), time is
``t = k / d``, and the per-direction state is

.. math:: D_i^2(t) = d\, \mathbb{E}\, e_{\lfloor td\rfloor, i}^2
          \qquad (e = \theta - \theta^*,\ \text{eigenbasis of } K),

so that the risk is :math:`R(t) = \frac{1}{2d}\sum_i \lambda_i D_i^2(t) + \frac{\sigma^2}{2}`
(``sigma^2`` is the label-noise variance, the paper's :math:`\omega^2`).

Derivation (:func:`derive_limit`). Take the exact second-moment recursion
that :func:`theory.derive` derives from the SGD update rule,
m_{k+1,i} = A_i m_{k,i} + u_i S_k + f_i, substitute gamma = g/d, B = 1,
m_{k,i} = D_i^2/d and S_k = 2R - sigma^2 (S = (1/d) sum_j lambda_j D_j^2 is
O(1)), write the increment d (m_{k+1,i} - m_{k,i}) per unit time 1/d and let
d -> infinity with lambda_i, g, D_i^2, R fixed. SymPy returns

.. math:: \frac{dD_i^2}{dt} = -2 g_t \lambda_i D_i^2 + 2 g_t^2 \lambda_i R(t),

the paper's eq. 8; the kurtosis of the data enters only the O(1/d)
correction (:attr:`HighLineODE.correction`), so the limit is universal over
independent-coordinate data. Solving the linear ODE by variation of constants
gives the equivalent Volterra equation for fixed g (eqs. 64-66):

.. math:: R(t) = \frac{1}{2d}\sum_i \lambda_i e^{-2g\lambda_i t} D_i^2(0) + \frac{\sigma^2}{2}
          + \int_0^t \frac{g^2}{d}\sum_i \lambda_i^2 e^{-2g\lambda_i (t-s)} R(s)\, ds .

Notes on the source's own text (see REFERENCES.md, entry 2): eq. 91 of the
paper drops the 1/2 of the risk in eq. 8 (this package keeps the 1/2 of
eq. 8 throughout); the appendix of Fig. 1 says b = 1 while the paper's code
uses b0 = 0.3 for AdaGrad-Norm.

The learning rate may depend on the state (:class:`LearningRateRule`): a
SymPy expression in R, I = int_0^t R(s) ds, the normalised traces
tau_1 = tr K / d, tau_2 = tr K^2 / d and M_2 = (1/d) sum_i lambda_i^2 D_i^2.
The ODE is integrated over the *empirical spectral measure*: distinct
eigenvalues lambda_j with weights w_j (multiplicity / d), so that
(1/d) sum_i f(lambda_i) = sum_j w_j f(lambda_j). One right-hand-side
evaluation costs O(number of distinct eigenvalues) <= O(d); nothing is d x d.
"""
from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from . import symbols as sym
from .diskcache import persistent
from .validation import check_positive

__all__ = [
    "D2",
    "M2",
    "HighLineODE",
    "HomogenizedSGD",
    "I",
    "LearningRateRule",
    "ODESolution",
    "R",
    "choose_method",
    "RTOL_PER_ACCURACY",
    "constant_g",
    "constant_learning_rate",
    "d",
    "derive_limit",
    "error_from_initial_D2",
    "g",
    "g_from_learning_rate",
    "homogenized_sgd",
    "initial_D2_from_error",
    "learning_rate_from_g",
    "solve",
    "solve_mp",
    "spectral_measure",
    "two_class_critical_g",
    "t",
    "tau1",
    "tau2",
    "trK",
    "z",
]

#: learning rate in the 1/d normalisation: the step is (g/d) * gradient
g = sp.Symbol("g", positive=True)
t = sp.Symbol("t", nonnegative=True)
z = sp.Symbol("z")
d = sp.Symbol("d", positive=True)
D2 = sp.Symbol("D_i^2", nonnegative=True)
R = sp.Symbol("R", positive=True)
I = sp.Symbol("I", nonnegative=True)          # int_0^t R(s) ds
tau1 = sp.Symbol("tau_1", positive=True)      # tr K / d
tau2 = sp.Symbol("tau_2", positive=True)      # tr K^2 / d
M2 = sp.Symbol("M_2", nonnegative=True)       # (1/d) sum_i lambda_i^2 D_i^2
trK = sp.Symbol(r"\operatorname{tr}K", positive=True)

LATEX_NAMES = {**sym.LATEX_NAMES, g: "g_t", D2: "D_i^2(t)", R: "R(t)", I: r"\int_0^t R(s)\,ds",
               tau1: r"\tfrac{1}{d}\operatorname{tr}K", tau2: r"\tfrac{1}{d}\operatorname{tr}K^2",
               M2: r"\tfrac{1}{d}\sum_j \lambda_j^2 D_j^2", trK: r"\operatorname{tr}K"}


def _tex(expr):
    return sp.latex(expr, symbol_names=LATEX_NAMES)


_TS = sp.Symbol("TS", positive=True)
D20 = sp.Symbol("D_i^2(0)", nonnegative=True)


def _fixed(expr):
    """LaTeX for a fixed learning rate g (no subscript t)."""
    return sp.latex(expr, symbol_names={**LATEX_NAMES, g: "g", _TS: "(t - s)", D20: "D_i^2(0)"})


@dataclass(frozen=True)
class HighLineODE:
    r"""The derived d -> infinity limit of a second-moment recursion (see the module docstring).

    Attributes
    ----------
    drift : sympy.Expr
        dD_i^2/dt in g, lambda_i, D_i^2, R and sigma^2.
    correction : sympy.Expr
        The O(1/d) term: d * (exact increment per unit time - drift), as d -> infinity.
    risk_weight : sympy.Expr
        R = (1/d) sum_i risk_weight * D_i^2 + sigma^2/2 (risk_weight = lambda_i/2).
    critical_g_expression : sympy.Expr
        The fixed g at which the linear ODE loses stability, 2d / tr K (in the symbols d and trK);
        :meth:`critical_g` and :meth:`critical_learning_rate` evaluate it on a spectrum.
    secular_term : sympy.Expr
        Per-direction term of sum_i G_i(0) = 1 (before summing).
    volterra_kernel : sympy.Expr
        The per-direction kernel k_i(t - s) of the Volterra equation (summed as (1/d) sum_i).
    forcing : sympy.Expr
        The per-direction forcing of the Volterra equation (summed as (1/d) sum_i).
    stationary_risk : sympy.Expr
        The fixed point R_inf of the ODE with fixed g < g_c (in trK and d).
    growth_term : sympy.Expr
        Per-direction term G_i(z) (in the symbol :data:`z`) of the Laplace-domain secular equation
        (1/d) sum_i G_i(z) = 1 of the Volterra equation: for g > g_c its positive root z is the
        exponential growth rate of R(t); G_i(0) = ``secular_term``.
    recursion
        The finite-d recursion it was derived from.
    """

    drift: sp.Expr
    correction: sp.Expr
    risk_weight: sp.Expr
    critical_g_expression: sp.Expr
    secular_term: sp.Expr
    volterra_kernel: sp.Expr
    forcing: sp.Expr
    stationary_risk: sp.Expr
    growth_term: sp.Expr
    recursion: object = field(repr=False, compare=False)

    def critical_g(self, eigenvalues) -> float:
        r"""The critical normalised learning rate g_c = 2d/tr K of the ODE with fixed g on a spectrum (a number).

        Raises ValueError unless the eigenvalues are finite and > 0.

        Example
        -------
        >>> derive_limit().critical_g([1.0, 0.5])
        2.6666666666666665
        """
        from .validation import check_eigenvalues
        lam = check_eigenvalues(eigenvalues)
        return float(self.critical_g_expression.subs({d: lam.size, trK: float(lam.sum())}))

    @property
    def critical_learning_rate(self):
        r"""The critical learning rate gamma_c = g_c/d = 2/tr K in the limit, as a method like
        :meth:`theory.Recursion.critical_learning_rate`: ``ode.critical_learning_rate(eigenvalues)``.

        (Formerly a SymPy attribute holding g_c; attribute access such as ``.subs`` still works on the
        returned object but warns: use :attr:`critical_g_expression`.)

        Example
        -------
        >>> derive_limit().critical_learning_rate([1.0, 0.5])
        1.3333333333333333
        """
        return _CriticalLearningRate(self)

    @functools.cached_property
    def _numpy_drift(self):
        return sp.lambdify([g, sym.lam, D2, R], self.drift, modules="numpy")

    @functools.cached_property
    def _numpy_drift_partials(self):
        """(d drift/dg, d drift/dD^2, d drift/dR), vectorised over eigenvalues."""
        return [sp.lambdify([g, sym.lam, D2, R], sp.diff(self.drift, v), modules="numpy") for v in (g, D2, R)]

    @functools.cached_property
    def _mp_drift(self):
        return sp.lambdify([g, sym.lam, D2, R], self.drift, modules="mpmath")

    def latex(self) -> str:
        """The normalisation, the ODE, the risk, the Volterra equation and the threshold (align*)."""
        lam = sym.lam
        rows = [
            r"&\text{normalisation: } \gamma = g/d,\ B = 1,\ t = k/d,\ D_i^2(t) = d\,\mathbb{E}e_{\lfloor td\rfloor,i}^2"
            r"\quad\text{(Collins-Woodfin et al., arXiv:2405.19585, eq.~8)}",
            r"\frac{dD_i^2}{dt} &= " + _tex(self.drift) + r" + O(1/d),\qquad O(1/d)\text{ term: }\frac{1}{d}\left("
            + _tex(self.correction) + r"\right)",
            r"R(t) &= \frac{1}{d}\sum_{i=1}^d " + _tex(self.risk_weight) + r" D_i^2(t) + \frac{\sigma^2}{2}",
            r"R(t) &= \frac{1}{d}\sum_{i=1}^d " + _fixed(self.forcing)
            + r" + \frac{\sigma^2}{2} \\ &\quad + \int_0^t \frac{1}{d}\sum_{i=1}^d "
            + _fixed(self.volterra_kernel.subs(t, _TS)) + r"\, R(s)\, ds\quad(\text{fixed } g)",
            r"&\text{stable} \iff \frac1d\sum_{i=1}^d " + _fixed(self.secular_term)
            + r" < 1 \iff g < " + _tex(self.critical_g_expression) + r",\qquad R_\infty = "
            + _fixed(self.stationary_risk),
            r"&\text{(the paper's eq.~91 omits the } \tfrac12 \text{ of eq.~8; this package keeps it.)}",
        ]
        del lam
        from .latex import align
        return align(rows)


def derive_limit(recursion=None) -> HighLineODE:
    r"""Derive the d -> infinity limit of an exact second-moment recursion (the High Line ODE).

    Parameters
    ----------
    recursion : theory.Recursion, default ``derive(SGD(), Gaussian())``
        A recursion with a single second-moment state m_{k,i} (SGD on any
        independent-coordinate data model).

    Returns
    -------
    HighLineODE
        With ``drift`` = -2 g lambda_i D_i^2 + 2 g^2 lambda_i R (eq. 8 of
        arXiv:2405.19585), ``critical_g_expression`` = 2 d / tr K, and the
        Volterra kernel g^2 lambda_i^2 exp(-2 g lambda_i t).

    Raises
    ------
    NotImplementedError
        If the recursion's per-direction state has more than one moment (momentum
        needs a different scaling of its hyperparameters with d).

    Example
    -------
    >>> from theory.highline import derive_limit
    >>> ode = derive_limit()
    >>> ode.drift
    -2*D_i^2*g*lambda_i + 2*R*g**2*lambda_i
    >>> ode.critical_g_expression
    2*d/\operatorname{tr}K

    Source: Collins-Woodfin, Seroussi, Garcia Malaxechebarria, Mackenzie, Paquette,
    Paquette, "The High Line", arXiv:2405.19585, eq. 8 and eqs. 64-66.
    """
    if recursion is None:
        from .algorithms import SGD
        from .data import Gaussian
        from .derive import derive
        recursion = derive(SGD(), Gaussian())
    return _derive_limit_cached(recursion.algorithm, type(recursion.data), recursion.data.symbolic_key(),
                                recursion)


@functools.cache
def _derive_limit_cached(algorithm, data_type, key, recursion):
    if len(recursion.moments) != 1:
        raise NotImplementedError("the High Line limit is derived for recursions with one second moment "
                                  f"per direction; {recursion.algorithm!r} has {len(recursion.moments)}")
    m = recursion.moments[0]
    A, u, f, v, w = (recursion.A[0, 0], recursion.u[0], recursion.f[0], recursion.v[0], recursion.w[0])
    return HighLineODE(**_limit_expressions(m, A, u, f, v, w), recursion=recursion)


@persistent   # SymPy limits, solve and simplify, ~0.5 s: once per machine (theory.diskcache)
def _limit_expressions(m, A, u, f, v, w):
    """The fields of :class:`HighLineODE` (all but ``recursion``) from the recursion's one-moment entries
    m' = A m + u S + f, S = sum_j v_j m_j, risk weight w (SymPy expressions: the derivation cache's key)."""
    subs = {sym.gamma: g / d, sym.B: 1}
    new = (A * m + u * sym.S + f).subs(subs)
    # m = D^2/d, S = 2R - sigma^2; increment of D^2 = d m per unit time 1/d
    rate = sp.expand(d * (d * new.subs(m, D2 / d) - D2)).subs(sym.S, 2 * R - sym.sigma2)
    rate = sp.expand(rate)
    drift = sp.expand(sp.limit(rate, d, sp.oo))
    correction = sp.factor(sp.limit(sp.expand(d * (rate - drift)), d, sp.oo))
    risk_weight = sp.factor(w / 2)
    # linear stability of dD_i/dt = a_i D_i + b_i (S + sigma^2), S = (1/d) sum_j v_j D_j^2
    S_sym = sp.Symbol("S_t")
    drift_S = sp.expand(drift.subs(R, (S_sym + sym.sigma2) / 2))
    a = sp.diff(drift_S, D2)
    b = sp.diff(drift_S, S_sym)
    G0 = sp.factor(sp.cancel(v * b / (-a)))                 # G_i(z = 0), summed as (1/d) sum_i
    poly = sp.Poly(G0, sym.lam)
    if poly.degree() != 1 or poly.coeff_monomial(1) != 0:  # pragma: no cover - SGD gives c * lambda_i
        raise NotImplementedError(f"secular term {G0} is not proportional to lambda_i")
    total = poly.coeff_monomial(sym.lam) * trK / d        # (1/d) sum_i c lambda_i = c tr K / d
    crit = sp.solve(sp.Eq(total, 1), g)
    if len(crit) != 1:  # pragma: no cover
        raise ValueError(f"expected one critical learning rate, got {crit}")
    # fixed point: D_i^2 = (dD/dR) R / (-a_i); R = (1/d) sum_i risk_weight D_i^2 + sigma^2/2
    h = sp.Poly(sp.factor(sp.cancel(risk_weight * sp.diff(drift, R) / (-a))), sym.lam)
    if h.degree() != 1 or h.coeff_monomial(1) != 0:  # pragma: no cover
        raise NotImplementedError("risk feedback not proportional to lambda_i")
    R_inf = sp.Symbol("R_inf")
    r_inf = sp.solve(sp.Eq(R_inf, R_inf * h.coeff_monomial(sym.lam) * trK / d + sym.sigma2 / 2), R_inf)[0]
    # Volterra form by variation of constants: D_i^2(t) = e^{a t} D_i^2(0) + int e^{a (t-s)} 2 g^2 lambda R(s) ds
    kernel = sp.factor(risk_weight * sp.diff(drift, R) * sp.exp(a * t))
    forcing = sp.factor(risk_weight * D20 * sp.exp(a * t))
    # check: the Volterra form satisfies the ODE (differentiate under the integral sign)
    return {"drift": drift, "correction": correction, "risk_weight": risk_weight,
            "critical_g_expression": sp.simplify(crit[0]), "secular_term": G0, "volterra_kernel": kernel,
            "forcing": forcing, "stationary_risk": sp.factor(r_inf),
            "growth_term": sp.factor(risk_weight * sp.diff(drift, R) / (z - a))}


_QUARTER = sp.Rational(1, 4)


@persistent
def two_class_critical_g(low=_QUARTER):
    r"""The exact finite-d critical rate of SGD on a two-class spectrum, and its d -> infinity limit.

    K has half of its d directions at eigenvalue 1 and half at ``low`` (0 < low < 1, rational).
    The finite-d threshold gamma_c(d) is the root of the secular equation
    (1/d) sum_i G_i(1) = 1 of the derived second-moment recursion (:meth:`theory.Recursion.secular_term`;
    Gaussian data, batch 1) with gamma = g/d: a quadratic in g, solved exactly (``sp.roots`` of its
    numerator, the root with a positive limit).

    Returns
    -------
    (root, limit, c1) : sympy.Expr
        d gamma_c(d) in d, its limit 2d/tr K = 4/(1 + low), and c_1 = lim d (d gamma_c(d)/limit - 1)
        (SymPy limits, exact).

    Raises ValueError unless 0 < low < 1.

    Example
    -------
    >>> two_class_critical_g(sp.Rational(1, 4))[1:]
    (16/5, -68/25)

    Source: Collins-Woodfin et al., arXiv:2405.19585, Sec. 2 (g_c = 2d/tr K, eq. 8).
    """
    from .algorithms import SGD
    from .data import Gaussian
    from .derive import derive
    low = sp.nsimplify(low)
    if not (low.is_number and 0 < low < 1):
        raise ValueError(f"low (the smaller eigenvalue of the two-class spectrum) must lie in (0, 1); got {low}")
    G = derive(SGD(), Gaussian()).secular_term(1).subs({sym.B: 1, sym.kappa: Gaussian().standardized_moment(4),
                                                        sym.gamma: g / d})
    eq = sp.together(d / 2 * (G.subs(sym.lam, 1) + G.subs(sym.lam, low)) - 1)
    num, den = sp.fraction(eq)
    found = []
    for r in sp.roots(sp.Poly(num, g)):
        if sp.N(den.subs(g, r).subs(d, 16), 30) == 0:  # pragma: no cover - a root of the denominator too
            continue
        limit = sp.limit(r, d, sp.oo)
        if limit.is_positive:
            found.append((sp.factor(r), limit))
    if len(found) != 1:  # pragma: no cover
        raise ValueError(f"expected one positive root of the secular equation; got {found}")
    root, limit = found[0]
    return root, limit, sp.limit(d * (root / limit - 1), d, sp.oo)


class _CriticalLearningRate:
    """``HighLineODE.critical_learning_rate``: callable (gamma_c = 2/tr K on a spectrum); any other attribute
    is that of the SymPy expression g_c, with a DeprecationWarning (the former attribute)."""

    def __init__(self, ode):
        self._ode = ode

    def __call__(self, eigenvalues) -> float:
        from .validation import check_eigenvalues
        return self._ode.critical_g(eigenvalues) / check_eigenvalues(eigenvalues).size

    def __getattr__(self, name):
        warnings.warn("HighLineODE.critical_learning_rate is now a method returning gamma_c = 2/tr K for a "
                      "spectrum; the SymPy expression of g_c = 2d/tr K is HighLineODE.critical_g_expression",
                      DeprecationWarning, stacklevel=2)
        return getattr(self._ode.critical_g_expression, name)

    def __repr__(self):
        return f"<bound method HighLineODE.critical_learning_rate (g_c = {self._ode.critical_g_expression})>"


# ---------------------------------------------------------------------------- learning-rate rules
@dataclass(frozen=True)
class LearningRateRule:
    r"""A learning rate g_t given as a SymPy expression of the ODE state.

    ``expression`` may use :data:`R`, :data:`I` (= int_0^t R), :data:`tau1` (tr K/d),
    :data:`tau2` (tr K^2/d), :data:`M2` ((1/d) sum lambda_i^2 D_i^2) and the
    hyperparameter symbols in ``parameters`` (name -> (symbol, value)).
    """

    name: str
    expression: sp.Expr
    parameters: tuple = ()
    source: str = ""

    @functools.cached_property
    def _args(self):
        return [R, I, tau1, tau2, M2, *[s for _, s, _ in self.parameters]]

    @property
    def _numpy(self):
        return _lambdified(self.expression, tuple(self._args), "numpy")

    @property
    def _mp(self):
        return _lambdified(self.expression, tuple(self._args), "mpmath")

    @property
    def _numpy_partials(self):
        """(dg/dR, dg/dI, dg/dM_2) for Jacobians."""
        return [_lambdified(sp.diff(self.expression, v), tuple(self._args), "numpy") for v in (R, I, M2)]

    def values(self, mp=False):
        return [mpmath.mpf(v) if mp else float(v) for _, _, v in self.parameters]

    def latex(self) -> str:
        return "g_t = " + _tex(self.expression)

    def depends_on_state(self) -> bool:
        return bool(self.expression.free_symbols & {R, I, M2})


@functools.lru_cache(maxsize=256)
def _lambdified(expression, args, modules):
    """One compiled function per (expression, arguments, backend): rules built anew for every solve
    (e.g. a constant g) do not pay SymPy's lambdify (milliseconds) each time."""
    return sp.lambdify(list(args), expression, modules=modules)


def constant_g(value) -> LearningRateRule:
    """The fixed normalised learning rate g (step g/d). Raises ValueError unless value > 0.

    Example: ``solve([1.0], t_max=1.0, rule=constant_g(0.5))`` is ``solve([1.0], t_max=1.0, g=0.5)``.
    """
    check_positive(value, "g")
    return LearningRateRule("constant", g, (("g", g, value),), "")


def constant_learning_rate(value) -> LearningRateRule:
    """Deprecated name of :func:`constant_g` (``learning_rate`` means gamma = g/d elsewhere)."""
    warnings.warn("theory.highline.constant_learning_rate is deprecated: its argument is the normalised rate "
                  "g (step g/d); use constant_g", DeprecationWarning, stacklevel=2)
    return constant_g(value)


def _dimension(d):
    if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
        raise ValueError(f"d (the dimension) must be an integer >= 1; got {d!r}")
    return int(d)


def g_from_learning_rate(learning_rate, d):
    r"""The High Line's normalised learning rate g = gamma d from the learning rate gamma of SGD at dimension d.

    Raises ValueError unless learning_rate > 0 and d is an integer >= 1.

    Example
    -------
    >>> g_from_learning_rate(0.01, 100)
    1.0
    """
    check_positive(learning_rate, "learning_rate")
    return float(learning_rate) * _dimension(d)


def learning_rate_from_g(g_value, d):
    r"""The learning rate gamma = g/d of SGD at dimension d from the High Line's normalised g.

    Raises ValueError unless g > 0 and d is an integer >= 1.

    Example
    -------
    >>> learning_rate_from_g(1.0, 100)
    0.01
    """
    check_positive(g_value, "g")
    return float(g_value) / _dimension(d)


def initial_D2_from_error(initial, d):
    r"""D_i^2(0) = d e_{0,i}^2 from the initial error e_0 = theta_0 - theta^* (a number or per direction).

    Raises ValueError unless the entries are finite and d is an integer >= 1.

    Example
    -------
    >>> initial_D2_from_error(0.5, 4)
    1.0
    """
    d = _dimension(d)
    arr = np.asarray(initial, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"initial (the initial error e_0) must be finite; got {initial!r}")
    out = d * arr**2
    return float(out) if out.ndim == 0 else out


def error_from_initial_D2(initial_D2, d):
    r"""|e_{0,i}| = sqrt(D_i^2(0)/d): the inverse of :func:`initial_D2_from_error` (up to the sign of e_0).

    Raises ValueError unless the entries are finite and >= 0 and d is an integer >= 1.
    """
    d = _dimension(d)
    arr = np.asarray(initial_D2, dtype=float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"initial_D2 (D_i^2(0) = d e_{{0,i}}^2) must be finite and >= 0; got {initial_D2!r}")
    out = np.sqrt(arr / d)
    return float(out) if out.ndim == 0 else out

# ---------------------------------------------------------------------------- homogenized SGD
@dataclass(frozen=True)
class HomogenizedSGD:
    r"""Homogenized SGD: the SDE with the gradient noise replaced by its leading-order Gaussian.

    In the units of this package (e = theta - theta*, step (g/d) G, t = k/d):

    .. math:: de_{t,i} = -g\,\lambda_i e_{t,i}\,dt + g\sqrt{\frac{2 R(e_t)\,\lambda_i}{d}}\, dB_{t,i},
              \qquad R(e) = \tfrac12\Bigl(\sum_j \lambda_j e_j^2 + \sigma^2\Bigr).

    Derivation (:func:`homogenized_sgd`): per step the mean of the gradient coordinate is
    E[g_i | e] (:func:`theory.gradient_moments`) and its variance Var(g_i | e); over d steps per
    unit time the drift is -g E[g_i | e] and the diffusion variance (g/d)^2 d Var = (g^2/d) Var,
    of which the leading term as d -> infinity (with e_i^2 = D_i^2/d) is kept.
    ``generator`` is the Ito generator applied to D_i^2 = d e_i^2; it equals the High Line ODE
    drift, so the *expectation* of D_i^2 under homogenized SGD solves the ODE exactly (the
    diffusion coefficient is linear in e^2), at every d.

    Source: Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv:2308.08977 (homogenized SGD);
    arXiv:2405.19585, Sec. 2.
    """

    drift: sp.Expr
    diffusion_variance: sp.Expr
    generator: sp.Expr

    def latex(self) -> str:
        return ("\\begin{align*}\n de_{t,i} &= " + _tex(self.drift) + r"\,dt + \sqrt{"
                + _tex(self.diffusion_variance) + r"}\,dB_{t,i} \\" + "\n"
                + r" \mathcal{L}\,D_i^2 &= " + _tex(self.generator)
                + r"\quad(= \text{the High Line ODE drift})" + "\n\\end{align*}").replace("e_{i}", "e_{t,i}")

    def euler_maruyama_moment(self):
        r"""Exact E[D_i^2] after one Euler-Maruyama step of size ``dt`` (symbol ``Delta t``), in D_i^2 and R.

        e' = e + drift dt + sqrt(diffusion variance dt) xi, xi ~ N(0, 1): E e'^2 = (e + drift dt)^2
        + diffusion variance dt, times d. Linear in D^2 and R, so the expected second moments of the
        Euler-Maruyama scheme follow this recursion exactly.
        """
        e = sp.Symbol("e_i", real=True)
        dt = sp.Symbol("Delta t", positive=True)
        new = sp.expand(d * ((e + self.drift * dt) ** 2 + self.diffusion_variance * dt))
        return sp.expand(new.subs(e, sp.sqrt(D2 / d))), dt


@functools.cache
def homogenized_sgd() -> HomogenizedSGD:
    """Derive homogenized SGD and its generator on D_i^2 (see :class:`HomogenizedSGD`).

    Example
    -------
    >>> h = homogenized_sgd()
    >>> sp.simplify(h.generator - derive_limit().drift)
    0
    """
    from .data import Gaussian
    from .derive import gradient_moments
    e = sp.Symbol("e_i", real=True)
    Eg, Eg2 = gradient_moments(Gaussian(), e)
    Eg, Eg2 = Eg.subs(sym.B, 1), Eg2.subs(sym.B, 1)
    var = sp.expand(Eg2 - Eg**2)
    # scaling: e_i^2 = D^2/d, S = 2R - sigma^2 (O(1)); keep the leading order of Var as d -> infinity
    var_D = sp.expand(var.subs(e, sp.sqrt(D2 / d)).subs(sym.S, 2 * R - sym.sigma2))
    lead = sp.limit(var_D, d, sp.oo)
    drift = sp.expand(-g * Eg)
    diff_var = sp.expand(g**2 * lead / d)
    # Ito: d(e^2) = (2 e drift + diffusion variance) dt; D^2 = d e^2
    gen = sp.expand(d * (2 * e * drift + diff_var)).subs(e, sp.sqrt(D2 / d))
    return HomogenizedSGD(drift, diff_var, sp.expand(gen))


# the numerical solvers live in theory.highline_solve (imported last: they use the definitions above)
from .highline_solve import (
    RTOL_PER_ACCURACY,
    ODESolution,
    choose_method,
    solve,
    solve_mp,
    spectral_measure,
)
