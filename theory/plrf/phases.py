r"""Phases of power-law random features (PLRF) and the loss exponents of SGD, SGD-M and DANA.

Model (Paquette, Paquette, Xiao, Pennington, arXiv:2405.15074, Sec. 2; Ferbach, Everett, Gidel,
Paquette, Paquette, arXiv:2505.16098, Sec. 2): eigenvalues lambda_j ~ j^{-2 alpha} (data
complexity 1/alpha) and target projections b_j = j^{-beta} (target complexity 1/beta), so the
initial risk carried by direction j is (1/2) lambda_j b_j^2 = (1/2) j^{-2 alpha - 2 beta}.

What is derived here (SymPy, every call)
---------------------------------------
1. **The power-law sum.** With the sum over j replaced by its integral,

   .. math:: \sum_j j^{-p}\, e^{-c T j^{-2\alpha}} \;\approx\; \int_0^\infty x^{-p} e^{-c T x^{-2\alpha}}\,dx
             = \frac{\Gamma\!\big(\tfrac{p-1}{2\alpha}\big)}{2\alpha}\,(cT)^{-\frac{p-1}{2\alpha}}
             \qquad (p > 1),

   computed by :func:`sympy.integrate`; its exponent in T is read off as -T d/dT log(.).
   With p = 2 alpha + 2 beta (the risk of the deterministic part, the *forcing* F(T)) it is
   sigma_F = (2 alpha + 2 beta - 1)/(2 alpha); with p = 4 alpha (the *kernel*
   gamma^2 sum_j lambda_j^2 e^{-2 gamma lambda_j T} through which the gradient noise re-enters
   the risk) it is sigma_K = (4 alpha - 1)/(2 alpha) = 2 - 1/(2 alpha). The existence conditions
   p > 1 give the boundaries 2 alpha + 2 beta > 1 and alpha > 1/4.
2. **The effective time.** A direction j is learnt once lambda_j T(k) ~ 1, where T(k) is the
   accumulated effective learning rate. For the generalised momentum
   y' = -Delta(t) y + gamma_1 g, theta' = -gamma_2 g - gamma_3(t) y (the continuized mean update
   of arXiv:2505.16098, Alg. 1, on a direction with lambda_j T << 1, where g is still ~
   constant) SymPy integrates the buffer ODE and takes the limit of t d/dt log y(t):
   T(k) ~ k^tau with tau = 1 for SGD and SGD-M (constant Delta),
   tau = 2 for DANA-constant (gamma_3 ~ 1/d, Delta(k) = delta/(delta + k), in the window
   k >> d) and tau = 1 + max(0, 1 - kappa_3) for DANA-decaying
   (gamma_3(k) ~ (1 + k)^{-kappa_3}, kappa_3 = 1/(2 alpha)): 2 - 1/(2 alpha) when alpha > 1/2,
   and 1 (no acceleration) when alpha <= 1/2.
3. **The loss exponent** eta of P(k) - P_infinity ~ k^{-eta} in the window before the
   finite-size saturation is tau sigma_F where the forcing dominates (phases I and II before the
   F_ac crossover) and sigma_K for SGD and SGD-M in phase III (the noise term; it dominates
   the forcing iff beta > alpha, which is the phase boundary, derived in :func:`phase`).

What is quoted (oracle in the tests, never used here)
-----------------------------------------------------
The phase boundaries and names follow arXiv:2405.15074 (its phase diagram, Fig. 2, and the
phase propositions of its Sec. 3); the statement that SGD-M has SGD's exponents and that
DANA-decaying improves it for 2 alpha > 1 is arXiv:2505.16098 (abstract, Sec. 3). SGD's
exponent in phases I/II is (2 alpha + 2 beta - 1)/(2 alpha) and in phase III 2 - 1/(2 alpha)
(arXiv:2405.15074, the forcing F_pp and kernel K_pp asymptotics). Equation numbers of the
arXiv versions were not available to this module's author and are not quoted.

Not derived (raises NotImplementedError with the reason): the momentum methods' noise term in
phase III and every algorithm in phase IV (alpha < 1/2 with 2 beta > 1), where the kernel's
scaling with the learning rate (gamma ~ 1/tr K, d-dependent) and the F_ac term both enter.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from fractions import Fraction
from numbers import Real

import sympy as sp

from ..diskcache import persistent

__all__ = [
    "ALGORITHMS",
    "LossExponent",
    "Phase",
    "TheorySpectrum",
    "algorithm_settings",
    "buffer_growth_exponent",
    "compute_optimal_exponent",
    "effective_time_exponent",
    "loss_exponent",
    "phase",
    "power_law_sum_exponent",
    "theory_spectrum",
]

#: the algorithms :func:`loss_exponent` knows, with their hyperparameter scaling
ALGORITHMS = {
    "sgd": "SGD, constant learning rate gamma_2",
    "sgd_m": "SGD with heavy-ball momentum: constant gamma_1, gamma_3, Delta",
    "dana_constant": "DANA-constant: gamma_3 ~ 1/d, Delta(k) = delta/(delta + k)",
    "dana_decaying": "DANA-decaying: gamma_3(k) ~ (1 + k)^(-1/(2 alpha)), Delta(k) = delta/(delta + k)",
}

_SRC_PHASES = "Paquette, Paquette, Xiao, Pennington, arXiv:2405.15074 (phase diagram, Sec. 3)"
_SRC_DANA = "Ferbach, Everett, Gidel, Paquette, Paquette, arXiv:2505.16098"

ALPHA, BETA = sp.symbols("alpha beta", positive=True)
_T, _X, _C = sp.symbols("T x c", positive=True)
DELTA = sp.Symbol("delta", positive=True)
_t = sp.Symbol("t", positive=True)


@dataclass(frozen=True)
class Phase:
    """A phase of the PLRF (alpha, beta) plane.

    ``name`` is "Ia", "Ib", "Ic", "II", "III" or "IV" (IVa/IVb of arXiv:2405.15074 differ in
    the compute-optimal frontier only, not in the loss-curve shape); ``terms`` the loss terms
    that dominate P(k) - P_infinity in the window before saturation (forcing F_pp, F_ac, noise
    kernel K_pp, limit F_0); ``boundaries`` the inequalities that define it.
    """

    name: str
    terms: tuple
    boundaries: str
    source: str = _SRC_PHASES

    @property
    def shape(self) -> str:
        """The loss-curve shape (the four of arXiv:2505.16098): I, II, III or IV."""
        return self.name.rstrip("abc")


def _number(value, name, low=0.0):
    if isinstance(value, bool) or not isinstance(value, (Real, sp.Rational)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    if not float(value) > low:
        raise ValueError(f"{name} must be > {low:g}; got {value!r}")
    if isinstance(value, float):
        return sp.Rational(Fraction(value).limit_denominator(10**9))
    return sp.Rational(value)


def phase(alpha, beta) -> Phase:
    r"""The phase of (alpha, beta): which loss terms shape P(k) (arXiv:2405.15074, Fig. 2).

    Boundaries: 2 alpha + 2 beta > 1 (the initial risk sum_j j^{-2 alpha - 2 beta} is finite,
    the condition p > 1 of :func:`power_law_sum_exponent`); 2 beta = 1 (below it the F_ac term
    is of the order of the limit F_0: phase I); alpha = 1/2 (the trace sum_j j^{-2 alpha}
    converges above it: the high-dimensional line); alpha = 1/4 (the kernel sum needs
    4 alpha > 1); beta = alpha (the noise exponent sigma_K = 2 - 1/(2 alpha) and the forcing
    exponent sigma_F = (2 alpha + 2 beta - 1)/(2 alpha) cross: sigma_F > sigma_K iff beta > alpha).

    ========  ==============================================  ==========================
    phase     region                                          dominant terms
    ========  ==============================================  ==========================
    Ia        2 beta < 1, alpha > 1/2                          F_pp, F_0
    Ib        2 beta < 1, alpha < 1/2, 2 alpha + 2 beta > 1    F_pp, F_0
    Ic        2 beta > 1, alpha < 1/4                          F_pp, F_0
    II        2 beta > 1, alpha > 1/2, beta < alpha            F_pp, F_ac, F_0
    III       2 beta > 1, alpha > 1/2, beta > alpha            K_pp, F_ac, F_0
    IV        2 beta > 1, 1/4 < alpha < 1/2                    F_pp, F_ac, K_pp, F_0
    ========  ==============================================  ==========================

    (Ib is proven for alpha > 1/4 in arXiv:2405.15074 and conjectured below.) Points on a
    boundary raise ValueError: their loss curves carry logarithms, not one power.

    Raises
    ------
    TypeError, ValueError
        alpha, beta not positive reals; 2 alpha + 2 beta <= 1; a point on a phase boundary.

    Example
    -------
    >>> phase(1.0, 0.3).name, phase(1.0, 0.7).name, phase(0.6, 0.8).name
    ('Ia', 'II', 'III')
    """
    a, b = _number(alpha, "alpha"), _number(beta, "beta")
    if 2 * a + 2 * b <= 1:
        raise ValueError(f"alpha and beta must satisfy 2 alpha + 2 beta > 1 (finite initial risk); "
                         f"got alpha = {alpha!r}, beta = {beta!r}")
    for lhs, rhs, what in ((2 * b, 1, "2 beta = 1"), (a, sp.Rational(1, 2), "alpha = 1/2"),
                           (a, sp.Rational(1, 4), "alpha = 1/4"), (a, b, "beta = alpha")):
        if lhs == rhs and not (what == "beta = alpha" and (2 * b < 1 or a < sp.Rational(1, 2))) \
                and not (what == "alpha = 1/4" and 2 * b < 1):
            raise ValueError(f"(alpha, beta) = ({alpha!r}, {beta!r}) lies on the phase boundary {what}; "
                             "the loss curve there has logarithmic corrections (no single phase)")
    if 2 * b < 1:
        if a > sp.Rational(1, 2):
            return Phase("Ia", ("F_pp", "F_0"), "2 beta < 1, alpha > 1/2")
        return Phase("Ib", ("F_pp", "F_0"), "2 beta < 1, alpha < 1/2, 2 alpha + 2 beta > 1")
    if a < sp.Rational(1, 4):
        return Phase("Ic", ("F_pp", "F_0"), "2 beta > 1, alpha < 1/4")
    if a < sp.Rational(1, 2):
        return Phase("IV", ("F_pp", "F_ac", "K_pp", "F_0"), "2 beta > 1, 1/4 < alpha < 1/2")
    if b < a:
        return Phase("II", ("F_pp", "F_ac", "F_0"), "2 beta > 1, alpha > 1/2, beta < alpha")
    return Phase("III", ("K_pp", "F_ac", "F_0"), "2 beta > 1, alpha > 1/2, beta > alpha")


@persistent
def power_law_sum_exponent(p) -> sp.Expr:
    r"""Exponent e(alpha) with sum_j j^{-p} exp(-c T j^{-2 alpha}) ~ T^{-e} as T -> infinity.

    Derived by SymPy from the integral int_0^infinity x^{-p} exp(-c T x^{-2 alpha}) dx (the sum's
    continuum limit; the lower end j >= 1 changes it by O(e^{-cT})): e = -lim T d/dT log I(T).
    ``p`` is a SymPy expression in :data:`ALPHA`, :data:`BETA` (or a number) with p > 1.

    Example
    -------
    >>> power_law_sum_exponent(2 * ALPHA + 2 * BETA)
    (2*alpha + 2*beta - 1)/(2*alpha)
    """
    p = sp.sympify(p)
    q = sp.Symbol("q", positive=True)          # stands for p - 1 > 0 so that the integral converges
    integral = sp.integrate(_X ** (-(q + 1)) * sp.exp(-_C * _T * _X ** (-2 * ALPHA)), (_X, 0, sp.oo),
                            conds="none")
    exponent = sp.simplify(-_T * sp.diff(sp.log(integral), _T))
    if exponent.has(_T):
        raise ArithmeticError(f"the power-law sum is not a pure power of T: {integral}")
    return sp.factor(exponent.subs(q, p - 1))


@persistent
def buffer_growth_exponent() -> sp.Expr:
    r"""rho with y(t) ~ t^rho for the DANA buffer y' = -delta/(delta + t) y + gamma_1 g, y(0) = 0.

    SymPy integrates the linear ODE with the integrating factor (delta + t)^delta,
    y(t) = gamma_1 g int_0^t ((delta + s)/(delta + t))^delta ds, and takes
    rho = lim_{t -> infinity} t y'(t)/y(t) for a symbolic delta > 0 (result: 1, the buffer
    sums ~ t/(1 + delta) gradients). Returns the pair (rho, y(t)/(gamma_1 g)).

    Example
    -------
    >>> buffer_growth_exponent()[0]
    1
    """
    s = sp.Symbol("s", positive=True)
    y = sp.integrate((DELTA + s) ** DELTA, (s, 0, _t)) / (DELTA + _t) ** DELTA
    rho = sp.limit(sp.simplify(_t * sp.diff(y, _t) / y), _t, sp.oo)
    return rho, y


def effective_time_exponent(algorithm: str, alpha) -> sp.Expr:
    r"""tau with T(k) ~ k^tau: the growth of the accumulated effective learning rate.

    T'(t) = gamma_2 + gamma_3(t) y(t)/g, with y the momentum buffer of the continuized
    generalised momentum driven by a constant gradient g (a direction not yet learnt). With
    decaying Delta(t) = delta/(delta + t) the buffer grows as t^rho (rho = 1,
    :func:`buffer_growth_exponent`); with SGD-M's constant Delta it tends to gamma_1 g/Delta
    (rho = 0); so T'(t) ~ gamma_2 + c t^(rho - kappa_3) and tau = 1 + max(0, rho - kappa_3),
    kappa_3 = 0 (DANA-constant, SGD-M), 1/(2 alpha) (DANA-decaying). DANA-constant's
    gamma_3 = c/d is a constant in t: its tau = 2 holds for t >> d (before, gamma_2 dominates).

    Example
    -------
    >>> effective_time_exponent("dana_decaying", 1), effective_time_exponent("dana_decaying", 0.4)
    (3/2, 1)
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}; got {algorithm!r}")
    a = _number(alpha, "alpha")
    if algorithm == "sgd":
        return sp.Integer(1)
    rho = sp.Integer(0) if algorithm == "sgd_m" else buffer_growth_exponent()[0]
    kappa = 1 / (2 * a) if algorithm == "dana_decaying" else sp.Integer(0)
    return 1 + sp.Max(0, rho - kappa)


@dataclass(frozen=True)
class LossExponent:
    r"""The predicted exponent eta of P(k) - P_infinity ~ k^{-eta}.

    ``exact`` is the SymPy number, ``value`` its float; ``term`` the loss term it comes from
    ("forcing" F_pp or "noise" K_pp); ``time_exponent`` tau of :func:`effective_time_exponent`;
    ``window`` where it holds; ``derived`` True (every exponent here is derived; the paper's
    values are oracles in the tests).
    """

    algorithm: str
    alpha: float
    beta: float
    phase: Phase
    exact: sp.Expr
    term: str
    time_exponent: sp.Expr
    window: str
    derived: bool = True
    source: str = _SRC_DANA

    @property
    def value(self) -> float:
        return float(self.exact)

    def latex(self) -> str:
        return (rf"\mathcal{{P}}(k) - \mathcal{{P}}_\infty \asymp k^{{-{sp.latex(self.exact)}}}"
                rf"\quad(\text{{{self.algorithm}, phase {self.phase.name}}})")


def loss_exponent(alpha, beta, algorithm="sgd") -> LossExponent:
    r"""The loss exponent eta of P(k) - P_infinity ~ k^{-eta} for PLRF, derived (module docstring).

    Parameters
    ----------
    alpha, beta : float or Rational
        Data and target complexity exponents (lambda_j ~ j^{-2 alpha}, b_j = j^{-beta}),
        2 alpha + 2 beta > 1, off the phase boundaries.
    algorithm : str
        One of :data:`ALGORITHMS`: "sgd", "sgd_m", "dana_constant", "dana_decaying".

    Returns
    -------
    LossExponent
        eta = tau sigma_F (forcing-dominated: phases Ia, Ib, Ic, and II before the F_ac
        crossover at T(k) ~ d^{alpha/beta}), eta = sigma_K (SGD, SGD-M in phase III). The
        window is 1 << T(k) << d^{2 alpha} (the finite-size saturation), k >> d for
        DANA-constant.

    Raises
    ------
    ValueError
        Unknown algorithm, invalid (alpha, beta) (see :func:`phase`).
    NotImplementedError
        Phase IV, the momentum methods' noise term in phase III and DANA-constant for
        alpha < 1/2 (not derived here).

    Example
    -------
    >>> loss_exponent(1.0, 0.3, "sgd").exact, loss_exponent(1.0, 0.3, "dana_decaying").exact
    (4/5, 6/5)

    Source: the exponents of arXiv:2405.15074 (SGD) and arXiv:2505.16098 (SGD-M, DANA) are the
    tests' oracles; the values here come from the derivation in the module docstring.
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}; got {algorithm!r}")
    ph = phase(alpha, beta)
    a, b = _number(alpha, "alpha"), _number(beta, "beta")
    if ph.name == "IV":
        raise NotImplementedError("phase IV (2 beta > 1, 1/4 < alpha < 1/2): the loss exponent there mixes F_pp, "
                                  "F_ac and a kernel whose learning rate scales with d; not derived here")
    if algorithm == "dana_constant" and a < sp.Rational(1, 2):
        raise NotImplementedError("DANA-constant below the high-dimensional line (alpha < 1/2): gamma_3 ~ 1/d "
                                  "against a trace that grows with v; its stability there is not derived here")
    tau = effective_time_exponent(algorithm, a)
    subs = {ALPHA: a, BETA: b}
    if ph.name == "III":
        if algorithm not in ("sgd", "sgd_m"):
            raise NotImplementedError(f"phase III for {algorithm}: the momentum methods' noise term (kernel with "
                                      "time-dependent gamma_3) is not derived here")
        eta = power_law_sum_exponent(4 * ALPHA).subs(subs)
        return LossExponent(algorithm, float(alpha), float(beta), ph, sp.nsimplify(eta), "noise", tau,
                            "1 << k << d^(2 alpha) (noise kernel K_pp dominates the forcing since beta > alpha)")
    eta = tau * power_law_sum_exponent(2 * ALPHA + 2 * BETA).subs(subs)
    window = "1 << T(k) << d^(2 alpha)"
    if ph.name == "II":
        window = "1 << T(k) << d^(alpha/beta) (before the F_ac crossover)"
    if algorithm == "dana_constant":
        window += ", k >> d"
    return LossExponent(algorithm, float(alpha), float(beta), ph, sp.nsimplify(eta), "forcing", tau, window)


# ---------------------------------------------------------------------- the compute-optimal exponent
_D, _F = sp.symbols("d f", positive=True)


def compute_optimal_exponent(alpha, beta, algorithm="sgd") -> sp.Expr:
    r"""The exponent eta_c of the compute-optimal loss P*(f) ~ f^{-eta_c}, flops f = k d.

    In phase Ia the loss is (up to constants) P(k, d) ~ T(k)^{-sigma_F} + d^{-(p - 1)},
    p = 2 alpha + 2 beta: the forcing of :func:`loss_exponent` and the limit F_0(d) ~
    sum_{j > d} j^{-p} (SymPy: int_d^infinity x^{-p} dx). SymPy minimises over d at fixed
    f = k d (setting the derivative in log d to zero balances the two terms) and reads off
    d*(f) ~ f^{tau/(2 alpha + tau)} and eta_c = tau (p - 1)/(2 alpha + tau) (SGD: tau = 1,
    eta_c = (2 alpha + 2 beta - 1)/(2 alpha + 1), arXiv:2405.15074, phase Ia).

    Raises NotImplementedError outside phase Ia and for DANA-constant (whose d-dependent
    gamma_3 enters the balance).

    Example
    -------
    >>> compute_optimal_exponent(1, sp.Rational(3, 10))
    8/15
    """
    return _compute_optimal_exponent(alpha, beta, algorithm)


@persistent
def _compute_optimal_exponent(alpha, beta, algorithm):
    """The derivation of :func:`compute_optimal_exponent` (cached in memory and on disk)."""
    ph = phase(alpha, beta)
    if ph.name != "Ia":
        raise NotImplementedError(f"the compute-optimal exponent is derived in phase Ia only; got phase {ph.name}")
    if algorithm == "dana_constant":
        raise NotImplementedError("DANA-constant: gamma_3 ~ 1/d enters the compute-optimal balance; not derived here")
    eta = loss_exponent(alpha, beta, algorithm)
    a, b = _number(alpha, "alpha"), _number(beta, "beta")
    p = 2 * a + 2 * b
    tail = sp.integrate(_X ** (-p), (_X, _D, sp.oo), conds="none")          # F_0(d) ~ d^{-(p - 1)}
    u = sp.Symbol("u", real=True)                                           # log d
    loss = (_F / sp.exp(u)) ** (-eta.exact) + tail.subs(_D, sp.exp(u))
    # the minimiser balances the two power laws: d*(f) = C f^{e}; find e from the stationarity condition
    e = sp.Symbol("e", positive=True)
    powers = [sp.expand_log(sp.log(term.subs(u, e * sp.log(_F))), force=True).coeff(sp.log(_F))
              for term in sp.Add.make_args(sp.expand(loss))]
    e_star = sp.solve(sp.Eq(*powers), e)[0]
    check = sp.simplify(sp.diff(loss, u).subs(u, e_star * sp.log(_F)) * _F ** (-powers[0].subs(e, e_star)))
    if check.has(_F):
        raise ArithmeticError("the balance of the two loss terms is not a stationary point")
    return sp.nsimplify(-powers[0].subs(e, e_star))


# ---------------------------------------------------------------------- settings of the measurements
@dataclass(frozen=True)
class TheorySpectrum:
    r"""An instance-free PLRF spectrum: the deterministic equivalent, computed without drawing W.

    eigenvalues j^{-2 alpha} (j = 1..d, descending), initial e_{0,j}^2 = j^{-2 beta} + c_beta/d
    (c_beta = sum_{j <= d} j^{-2 beta} if alpha > 1/2 and beta > 1/2, else 0: the F_ac term),
    irreducible risk P_inf = (1/2) sum_{j <= v} kappa lambda_j b_j^2/(lambda_j + kappa) with kappa
    from :func:`theory.plrf.sketch_kappa`; noise variance 2 P_inf. The same formulas as
    :meth:`theory.plrf.PowerLawRandomFeatures.deterministic_equivalent` (a test checks they
    agree), which draws the (v, d) matrix W first and so cannot reach d = 10^6.
    """

    alpha: float
    beta: float
    v: int
    d: int
    eigenvalues: object
    initial: object
    irreducible_risk: float

    @property
    def noise_variance(self) -> float:
        return 2.0 * self.irreducible_risk


def theory_spectrum(alpha, beta, d, v=None) -> TheorySpectrum:
    """The :class:`TheorySpectrum` of PLRF(alpha, beta) with d features and v = 4 d (default) data dimensions.

    Raises ValueError for alpha <= 0, d < 1 or v <= d.

    Example
    -------
    >>> s = theory_spectrum(1.0, 0.3, 100)
    >>> s.eigenvalues.shape, bool(0 < s.irreducible_risk < 0.01)
    ((100,), True)
    """
    a, b = float(_number(alpha, "alpha")), float(beta)
    if isinstance(d, bool) or int(d) != d or d < 1:
        raise ValueError(f"d must be an integer >= 1; got {d!r}")
    d = int(d)
    v = 4 * d if v is None else v
    if isinstance(v, bool) or int(v) != v or v <= d:
        raise ValueError(f"v must be an integer > d = {d}; got {v!r}")
    return _theory_spectrum(a, b, d, int(v))


@functools.lru_cache(maxsize=32)
def _theory_spectrum(a, b, d, v):
    """:func:`theory_spectrum` after validation, memoised (the deterministic equivalent's root finding
    is asked again by every measurement on the same setting); the arrays are read-only."""
    import numpy as np

    from .model import deterministic_equivalent
    de = deterministic_equivalent(a, b, v, d)
    eigenvalues, initial = de.eigenvalues[::-1].copy(), np.sqrt(de.initial_second_moments[::-1])
    eigenvalues.setflags(write=False)
    initial.setflags(write=False)
    return TheorySpectrum(a, b, v, d, eigenvalues, initial, de.irreducible_risk)


def algorithm_settings(algorithm, alpha, beta, eigenvalues, batch=1, dana_constant_gamma3=0.1):
    r"""The hyperparameters with which each algorithm's exponent is measured.

    Returns ``(algorithm_object, learning_rate, hyper)`` for :func:`theory.derive` and
    :func:`theory.longtime.risk_curve`. With tr = sum_i lambda_i and d = len(eigenvalues):
    gamma_2 = 0.375 min(2/(B + 1), 1/tr) (the authors' ``get_optim_hparams``,
    colabs/DANA_ODE_example.ipynb; :func:`theory.plrf.schedules.notebook_learning_rate`);
    delta = max(2 + (2 beta - 1)/alpha, 2 - 1/alpha) + 1 (same source,
    :func:`theory.plrf.schedules.notebook_delta`) and Delta(k) = delta/(delta + k) =
    ``PowerLaw(1, 1, delta)`` (arXiv:2505.16098's form; the notebook's delta/(1 + k) exceeds 1
    early). SGD: :class:`theory.SGD`. SGD-M: generalised momentum with
    learning rate gamma_2/2, gamma_1 = 1, constant Delta = 0.1 (momentum 0.9), gamma_3 = 0.05 gamma_2:
    the effective learning rate gamma_2/2 + gamma_3/Delta = gamma_2 is SGD's (the standard comparison).
    DANA-constant: gamma_1 = 1, gamma_3 = c/(d tr) with c = ``dana_constant_gamma3`` (the
    notebook's 0.1 by default; the frozen second-moment map stays stable for every k while
    c < about 0.58, docs/plrf_scaling.md). DANA-decaying: gamma_1 = 1,
    gamma_3(k) = (0.1/tr) (1 + k)^{-1/(2 alpha)} = ``PowerLaw(0.1/tr, 1/(2 alpha))`` (the notebook's
    0.1 without 1/tr; tr = 1.64 at alpha = 1). Raises ValueError for an unknown algorithm or
    dana_constant_gamma3 not a finite number > 0.

    Example
    -------
    >>> alg, lr, hyper = algorithm_settings("dana_decaying", 1.0, 0.3, [1.0, 0.25])
    >>> round(lr, 4), sorted(hyper)
    (0.3, ['delta', 'gamma1', 'gamma3'])
    """
    import math

    import numpy as np

    from ..algorithms import SGD, GeneralizedMomentum
    from .schedules import PowerLaw, notebook_delta, notebook_learning_rate

    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {sorted(ALGORITHMS)}; got {algorithm!r}")
    c3 = float(dana_constant_gamma3)
    if not (math.isfinite(c3) and c3 > 0):
        raise ValueError(f"dana_constant_gamma3 must be a finite number > 0; got {dana_constant_gamma3!r}")
    a, b = float(_number(alpha, "alpha")), float(beta)
    lam = np.asarray(eigenvalues, dtype=float)
    tr, d = float(lam.sum()), lam.size
    gamma2 = notebook_learning_rate(tr, batch)
    if algorithm == "sgd":
        return SGD(), gamma2, {}
    if algorithm == "sgd_m":
        # heavy-ball momentum 0.9 with SGD's effective learning rate gamma_2' + gamma_3 gamma_1/Delta = gamma_2
        return GeneralizedMomentum(), 0.5 * gamma2, {"gamma1": 1.0, "gamma3": 0.05 * gamma2, "delta": 0.1}
    decaying_momentum = PowerLaw(1.0, 1.0, notebook_delta(a, b))
    if algorithm == "dana_constant":
        return GeneralizedMomentum(), gamma2, {"gamma1": 1.0, "gamma3": c3 / (d * tr), "delta": decaying_momentum}
    gamma3 = PowerLaw(0.1 / tr, 1 / (2 * a))
    return GeneralizedMomentum(), gamma2, {"gamma1": 1.0, "gamma3": gamma3, "delta": decaying_momentum}
