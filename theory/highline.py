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
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from . import symbols as sym
from .validation import check_eigenvalues, check_nonnegative, check_positive

__all__ = ["derive_limit", "HighLineODE", "LearningRateRule", "constant_learning_rate", "spectral_measure",
           "ODESolution", "solve", "solve_mp", "g", "t", "z", "d", "D2", "R", "I", "tau1", "tau2", "M2",
           "trK", "HomogenizedSGD", "homogenized_sgd"]

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
    critical_learning_rate : sympy.Expr
        The fixed g at which the linear ODE loses stability, 2d / tr K (in the symbol trK).
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
    critical_learning_rate: sp.Expr
    secular_term: sp.Expr
    volterra_kernel: sp.Expr
    forcing: sp.Expr
    stationary_risk: sp.Expr
    growth_term: sp.Expr
    recursion: object = field(repr=False, compare=False)

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
            + r" < 1 \iff g < " + _tex(self.critical_learning_rate) + r",\qquad R_\infty = "
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
        arXiv:2405.19585), ``critical_learning_rate`` = 2 d / tr K, and the
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
    >>> ode.critical_learning_rate
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


@functools.lru_cache(maxsize=None)
def _derive_limit_cached(algorithm, data_type, key, recursion):
    if len(recursion.moments) != 1:
        raise NotImplementedError("the High Line limit is derived for recursions with one second moment "
                                  f"per direction; {recursion.algorithm!r} has {len(recursion.moments)}")
    m = recursion.moments[0]
    A, u, f, v, w = (recursion.A[0, 0], recursion.u[0], recursion.f[0], recursion.v[0], recursion.w[0])
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
    return HighLineODE(drift=drift, correction=correction, risk_weight=risk_weight,
                       critical_learning_rate=sp.simplify(crit[0]), secular_term=G0,
                       volterra_kernel=kernel, forcing=forcing,
                       stationary_risk=sp.factor(r_inf),
                       growth_term=sp.factor(risk_weight * sp.diff(drift, R) / (z - a)), recursion=recursion)


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

    @functools.cached_property
    def _numpy(self):
        return sp.lambdify(self._args, self.expression, modules="numpy")

    @functools.cached_property
    def _mp(self):
        return sp.lambdify(self._args, self.expression, modules="mpmath")

    @functools.cached_property
    def _numpy_partials(self):
        """(dg/dR, dg/dI, dg/dM_2) for Jacobians."""
        return [sp.lambdify(self._args, sp.diff(self.expression, v), modules="numpy") for v in (R, I, M2)]

    def values(self, mp=False):
        return [mpmath.mpf(v) if mp else float(v) for _, _, v in self.parameters]

    def latex(self) -> str:
        return "g_t = " + _tex(self.expression)

    def depends_on_state(self) -> bool:
        return bool(self.expression.free_symbols & {R, I, M2})


def constant_learning_rate(value) -> LearningRateRule:
    """The fixed learning rate g (step g/d). Raises ValueError unless value > 0."""
    check_positive(value, "learning_rate")
    return LearningRateRule("constant", g, (("learning_rate", g, value),), "")


def spectral_measure(eigenvalues, weights=None):
    r"""Distinct eigenvalues and weights w_j = multiplicity / d (they sum to 1).

    With ``weights`` given, ``eigenvalues`` are taken as the atoms of the spectral
    measure directly (weights > 0, normalised to sum 1).

    Raises ValueError on an empty spectrum, non-positive eigenvalues or weights.
    """
    lam = check_eigenvalues(eigenvalues)
    if weights is None:
        atoms, counts = np.unique(lam, return_counts=True)
        return atoms[::-1].copy(), (counts[::-1] / lam.size).astype(float), lam.size
    w = np.asarray(weights, dtype=float)
    if w.shape != lam.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"weights must be positive and have the shape of eigenvalues {lam.shape}; got {weights!r}")
    return lam, w / w.sum(), None


@dataclass
class ODESolution:
    """A solution of the High Line ODE at times ``t``.

    Attributes
    ----------
    t : ndarray (T,)
    D2 : ndarray (T, n)
        D_j^2(t) for each atom lambda_j of the spectral measure (n distinct eigenvalues).
    risk : ndarray (T,)
    learning_rate : ndarray (T,)
        g_t.
    integral : ndarray (T,)
        int_0^t R(s) ds.
    eigenvalues, weights : ndarray (n,)
    rtol, atol : float
    method : str
    evaluations : int
        Right-hand-side evaluations.
    """

    t: np.ndarray
    D2: np.ndarray
    risk: np.ndarray
    learning_rate: np.ndarray
    integral: np.ndarray
    eigenvalues: np.ndarray
    weights: np.ndarray
    rtol: float
    atol: float
    method: str
    evaluations: int = 0


def _initial_D2(initial, n):
    arr = np.asarray(initial, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"initial (D_i^2(0) = d e_{{0,i}}^2) must be >= 0, a number or shape ({n},); got {initial!r}")
    return arr


def _setup(eigenvalues, weights, learning_rate, rule, noise_variance, initial):
    atoms, w, dim = spectral_measure(eigenvalues, weights)
    check_nonnegative(noise_variance, "noise_variance")
    if (learning_rate is None) == (rule is None):
        raise ValueError("give exactly one of learning_rate (a fixed g > 0) and rule (a LearningRateRule)")
    if rule is None:
        rule = constant_learning_rate(learning_rate)
    elif not isinstance(rule, LearningRateRule):
        raise ValueError(f"rule must be a theory.highline.LearningRateRule; got {rule!r}")
    if weights is None and dim is not None and np.ndim(initial) == 1:
        # group per-direction initial values by atom only when they agree within each atom
        lam = check_eigenvalues(eigenvalues)
        ini = _initial_D2(initial, lam.size)
        keys = np.unique(np.stack([lam, ini], axis=1), axis=0)[::-1]
        atoms, w = keys[:, 0].copy(), np.array([np.sum((lam == a) & (ini == b)) for a, b in keys]) / lam.size
        initial = keys[:, 1].copy()
    D0 = _initial_D2(initial, atoms.size)
    return atoms, w, rule, float(noise_variance), D0


def _single_threaded_blas():
    """Limit BLAS to one thread while integrating (vectors of length d gain nothing from threads, and
    on a loaded machine OpenBLAS threads stall for milliseconds per call); uses threadpoolctl if installed."""
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
            _CONTROLLER = ThreadpoolController()   # scans the loaded libraries once (milliseconds)
        except ImportError:  # pragma: no cover - optional
            _CONTROLLER = False
    if _CONTROLLER is False:  # pragma: no cover
        import contextlib
        return contextlib.nullcontext()
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER = None


def _dot(a, b):
    """Inner product of two vectors without BLAS (whose threads stall on a loaded machine)."""
    return np.einsum("i,i->", a, b)


def solve(eigenvalues, *, t_max, learning_rate=None, rule=None, noise_variance=0.0, initial=1.0,
          weights=None, t_eval=None, rtol=1e-10, atol=1e-13, method="DOP853", ode=None) -> ODESolution:
    r"""Integrate the High Line ODE with SciPy's ``solve_ivp`` (float64).

    Solves dD_j^2/dt = drift(g_t, lambda_j, D_j^2, R) for every atom of the spectral
    measure and dI/dt = R (I = int_0^t R, needed by AdaGrad-Norm), with
    R = (1/2) sum_j w_j lambda_j D_j^2 + sigma^2/2. One right-hand-side evaluation is a
    few vector operations of length n <= d (no d x d matrix).

    Parameters
    ----------
    eigenvalues : array_like (d,) or (n,) atoms with ``weights``
    t_max : float > 0
        Final time t = k/d.
    learning_rate : float > 0, optional
        Fixed g (step g/d). Exactly one of ``learning_rate`` and ``rule``.
    rule : LearningRateRule, optional
        State-dependent g_t (e.g. :func:`theory.adaptive.line_search`, :func:`theory.adaptive.adagrad_norm`).
    noise_variance : float >= 0
        sigma^2 (the paper's omega^2).
    initial : float or array (d,) / (n,)
        D_i^2(0) = d e_{0,i}^2.
    weights : array_like (n,), optional
        Weights of the atoms (normalised to sum 1); default: multiplicities / d.
    t_eval : array_like, optional
        Output times (default: 201 points on [0, t_max]).
    rtol, atol : float
        Tolerances of the adaptive solver (defaults 1e-10, 1e-13). For noiseless problems run
        to long times, where R and D_i^2 decay exponentially, pass a tiny ``atol`` (e.g. 1e-100)
        so that the error control stays relative (ratios such as the line-search rate need it).
    method : str
        Any ``solve_ivp`` method; default "DOP853" (explicit Runge-Kutta of order 8
        with adaptive steps); or "ETD2", this module's adaptive second-order exponential
        integrator (:func:`_solve_etd2`), which treats the stiff diagonal part exactly and is
        the fast choice for large d and moderate tolerances; use "LSODA"/"Radau"/"BDF" for stiff spectra (long times,
        eigenvalues over many decades): these get the exact Jacobian (derived by SymPy) when
        the spectral measure has at most 2000 atoms (the Jacobian is dense, (n+1)^2).

    Returns
    -------
    ODESolution

    Raises
    ------
    ValueError
        Empty or non-positive spectrum, t_max <= 0, bad rule, bad initial values,
        or a failure of the solver (with its message).

    Example
    -------
    >>> sol = solve([1.0, 0.5], t_max=1.0, learning_rate=0.5, t_eval=[0.0, 1.0])
    >>> round(float(sol.risk[0]), 6)
    0.375
    """
    atoms, w, rule, sigma2, D0 = _setup(eigenvalues, weights, learning_rate, rule, noise_variance, initial)
    check_positive(t_max, "t_max")
    ode = derive_limit() if ode is None else ode
    if method == "ETD2":
        with _single_threaded_blas():
            return _solve_etd2(atoms, w, rule, sigma2, D0, float(t_max), t_eval, rtol, atol, ode)
    drift = ode._numpy_drift
    t1, t2 = float(w @ atoms), float(w @ atoms**2)
    lw, l2w = w * atoms, w * atoms**2
    rate = rule._numpy
    hv = rule.values()
    n = atoms.size
    counter = [0]

    def rhs(_, y):
        counter[0] += 1
        D, Ii = y[:n], y[n]
        r = 0.5 * _dot(lw, D) + 0.5 * sigma2
        gg = rate(r, Ii, t1, t2, _dot(l2w, D), *hv)
        out = np.empty_like(y)
        out[:n] = drift(gg, atoms, D, r)
        out[n] = r
        return out

    jac = None
    if method in ("Radau", "BDF", "LSODA") and n <= 2000:
        # dense Jacobian (n+1)^2 for the implicit methods: diagonal + rank-two coupling through R, M_2
        dgd, dDd, dRd = ode._numpy_drift_partials
        gR, gI, gM = rule._numpy_partials
        dR_dD = 0.5 * lw

        def jac(_, y):
            D, Ii = y[:n], y[n]
            r = 0.5 * _dot(lw, D) + 0.5 * sigma2
            args = (r, Ii, t1, t2, _dot(l2w, D), *hv)
            gg = rate(*args)
            dg_dD = gR(*args) * dR_dD + gM(*args) * l2w
            fg = np.broadcast_to(dgd(gg, atoms, D, r), (n,))
            J = np.zeros((n + 1, n + 1))
            J[:n, :n] = np.outer(fg, dg_dD) + np.outer(np.broadcast_to(dRd(gg, atoms, D, r), (n,)), dR_dD)
            J[np.arange(n), np.arange(n)] += np.broadcast_to(dDd(gg, atoms, D, r), (n,))
            J[:n, n] = fg * gI(*args)
            J[n, :n] = dR_dD
            return J

    if t_eval is None:
        t_eval = np.linspace(0.0, float(t_max), 201)
    t_eval = np.asarray(t_eval, dtype=float)
    with _single_threaded_blas():
        sol = solve_ivp(rhs, (0.0, float(t_max)), np.concatenate([D0, [0.0]]), method=method, t_eval=t_eval,
                        rtol=rtol, atol=atol, **({"jac": jac} if jac is not None else {}))
    if not sol.success:
        raise ValueError(f"the ODE solver failed: {sol.message}")
    Y = sol.y.T
    D = Y[:, :n]
    risk = 0.5 * np.einsum("ti,i->t", D, lw) + 0.5 * sigma2
    lr = np.array([rate(r, Ii, t1, t2, _dot(l2w, Di), *hv) for r, Ii, Di in zip(risk, Y[:, n], D)], dtype=float)
    return ODESolution(sol.t, D, risk, np.broadcast_to(lr, risk.shape).copy(), Y[:, n], atoms, w, rtol, atol,
                       method, counter[0])


def _phi1(z):
    """(1 - e^{-z})/z, = 1 at z = 0."""
    nz = z > 0
    if nz.all():
        return -np.expm1(-z) / z
    out = np.ones_like(z)
    out[nz] = -np.expm1(-z[nz]) / z[nz]
    return out


def _psi(z):
    """(1 - e^{-z}(1 + z))/z^2, = 1/2 at z = 0 (series below z = 1e-2, error < 2e-16)."""
    small = z < 1e-2
    if small.all():
        return 0.5 + z * (-1 / 3 + z * (1 / 8 + z * (-1 / 30 + z * (1 / 144 - z / 840))))
    if not small.any():
        return (-np.expm1(-z) - z * np.exp(-z)) / z**2
    out = np.empty_like(z)
    zs = z[small]
    out[small] = 0.5 + zs * (-1 / 3 + zs * (1 / 8 + zs * (-1 / 30 + zs * (1 / 144 - zs / 840))))
    zb = z[~small]
    out[~small] = (-np.expm1(-zb) - zb * np.exp(-zb)) / zb**2
    return out


def _solve_etd2(atoms, w, rule, sigma2, D0, t_max, t_eval, rtol, atol, ode):
    r"""Adaptive second-order exponential time differencing for the High Line ODE.

    The drift is affine in D_i^2: dD_i^2/dt = -a_i D_i^2 + c_i with a_i, c_i depending on the
    state only through the scalars g_t and R(t). Over a step [t, t + h] the scheme freezes
    a_i at the average of its end values and takes c_i linear in time, and integrates each
    mode exactly:

    .. math:: D_i(t+h) = e^{-z_i} D_i(t) + h\,[c_i(t)\,\psi(z_i) + c_i(t+h)(\varphi_1(z_i) - \psi(z_i))],
              \quad z_i = a_i h,\ \varphi_1(z) = \frac{1 - e^{-z}}{z},\ \psi(z) = \frac{1 - e^{-z}(1+z)}{z^2},

    with the end values from the first-order predictor D_i e^{-z_i} + h phi_1(z_i) c_i(t)
    (exponential Euler); I = int R by the trapezoidal rule. The difference between predictor
    and corrector estimates the local error (weighted RMS norm with ``rtol``, ``atol`` as in
    SciPy); steps are accepted when it is <= 1 and resized by 0.9 err^{-1/2}, within [0.2, 5].
    Stiffness (2 g lambda_max h >> 1) costs nothing: the modes are integrated exactly. Each step
    costs two evaluations of O(n) vector operations.
    """
    n = atoms.size
    drift = ode._numpy_drift
    rate = rule._numpy
    hv = rule.values()
    t1, t2 = float(w @ atoms), float(w @ atoms**2)
    lw, l2w = w * atoms, w * atoms**2
    counter = [0]

    def coeffs(D, Ii):
        counter[0] += 1
        r = 0.5 * _dot(lw, D) + 0.5 * sigma2
        gg = float(rate(r, Ii, t1, t2, _dot(l2w, D), *hv))
        c = drift(gg, atoms, 0.0, r)
        a = c - drift(gg, atoms, 1.0, r)
        return np.broadcast_to(a, (n,)), np.broadcast_to(c, (n,)), r, gg

    if t_eval is None:
        t_eval = np.linspace(0.0, t_max, 201)
    t_eval = np.asarray(t_eval, dtype=float)
    if np.any(np.diff(t_eval) < 0) or t_eval[0] < 0 or t_eval[-1] > t_max * (1 + 1e-12):
        raise ValueError("t_eval must be increasing and within [0, t_max]")
    D, Ii, t = D0.astype(float).copy(), 0.0, 0.0
    a0, c0, r0, g0 = coeffs(D, Ii)
    h = min(t_max, 0.01 / max(float(np.max(a0)), 1e-12) + 1e-3 * t_max) if t_max > 0 else t_max
    outD, outI, outR, outG = [], [], [], []
    j = 0
    while j < len(t_eval) and t_eval[j] <= t:
        outD.append(D.copy()), outI.append(Ii), outR.append(r0), outG.append(g0)
        j += 1
    while j < len(t_eval):
        h = min(h, t_eval[j] - t)
        z0 = a0 * h
        Dp = np.exp(-z0) * D + h * _phi1(z0) * c0
        Ip = Ii + h * r0
        a1, c1, r1, g1 = coeffs(Dp, Ip)
        z = 0.5 * (a0 + a1) * h
        ps, p1 = _psi(z), _phi1(z)
        Dc = np.exp(-z) * D + h * (c0 * ps + c1 * (p1 - ps))
        Ic = Ii + 0.5 * h * (r0 + r1)
        scale = atol + rtol * np.abs(Dc)
        err = np.sqrt((np.sum(((Dc - Dp) / scale) ** 2) + ((Ic - Ip) / (atol + rtol * abs(Ic))) ** 2) / (n + 1))
        if err <= 1.0:
            t += h
            D, Ii = Dc, Ic
            a0, c0, r0, g0 = coeffs(D, Ii)
            while j < len(t_eval) and t_eval[j] <= t * (1 + 1e-14):
                outD.append(D.copy()), outI.append(Ii), outR.append(r0), outG.append(g0)
                j += 1
        fac = 5.0 if err == 0 else min(5.0, max(0.2, 0.9 * err ** -0.5))
        h = h * fac
        if h < 1e-14 * max(t_max, 1.0):
            raise ValueError(f"the ETD2 step size underflowed at t = {t}")
    return ODESolution(t_eval.copy(), np.array(outD), np.array(outR), np.array(outG), np.array(outI), atoms, w,
                       rtol, atol, "ETD2", counter[0])


def solve_mp(eigenvalues, t_values, *, learning_rate=None, rule=None, noise_variance=0, initial=1,
             weights=None, dps=30, ode=None):
    r"""Integrate the High Line ODE in high precision with ``mpmath.odefun`` (Taylor series method).

    Same system as :func:`solve`; every quantity is an ``mpmath.mpf`` at ``dps`` decimal
    digits (the Taylor method's local error is controlled at that working precision).
    Intended for a few distinct eigenvalues (two-class spectra, K = lambda I).

    Returns a dict with lists (one entry per time in ``t_values``) of ``risk``,
    ``learning_rate``, ``integral`` and ``D2`` (lists of mpf per atom).

    Raises ValueError as :func:`solve`.

    Example
    -------
    >>> out = solve_mp([1.0], [0, 1], learning_rate=1, dps=20)
    >>> mpmath.nstr(out["risk"][1], 12)   # K = I, g = 1: R(t) = R(0) e^{-t}
    '0.183939720586'
    """
    with mpmath.workdps(dps):
        if weights is None:
            atoms, w, _ = spectral_measure(eigenvalues)
            atoms = [mpmath.mpf(a) for a in atoms]
            w = [mpmath.mpf(x) for x in w]
        else:
            spectral_measure(eigenvalues, weights)
            atoms = [mpmath.mpf(a) for a in np.atleast_1d(eigenvalues)] if not isinstance(eigenvalues, (list, tuple)) \
                else [mpmath.mpf(a) for a in eigenvalues]
            tot = mpmath.fsum(mpmath.mpf(x) for x in weights)
            w = [mpmath.mpf(x) / tot for x in weights]
        n = len(atoms)
        if (learning_rate is None) == (rule is None):
            raise ValueError("give exactly one of learning_rate (a fixed g > 0) and rule (a LearningRateRule)")
        rule = constant_learning_rate(learning_rate) if rule is None else rule
        check_nonnegative(noise_variance, "noise_variance")
        sigma2 = mpmath.mpf(noise_variance)
        ini = initial if isinstance(initial, (list, tuple)) else [initial] * n
        if len(ini) != n:
            raise ValueError(f"initial must be a number or have {n} entries (one per atom)")
        D0 = [mpmath.mpf(x) for x in ini]
        ode = derive_limit() if ode is None else ode
        drift, rate, hv = ode._mp_drift, rule._mp, rule.values(mp=True)
        t1 = mpmath.fsum(a * x for a, x in zip(atoms, w))
        t2 = mpmath.fsum(a * a * x for a, x in zip(atoms, w))

        def parts(y):
            r = mpmath.fsum(x * a * Di for x, a, Di in zip(w, atoms, y[:n])) / 2 + sigma2 / 2
            m2 = mpmath.fsum(x * a * a * Di for x, a, Di in zip(w, atoms, y[:n]))
            return r, rate(r, y[n], t1, t2, m2, *hv)

        def F(_, y):
            r, gg = parts(y)
            return [drift(gg, a, Di, r) for a, Di in zip(atoms, y[:n])] + [r]

        f = mpmath.odefun(F, 0, D0 + [mpmath.mpf(0)])
        out = {"t": [], "risk": [], "learning_rate": [], "integral": [], "D2": []}
        for tv in t_values:
            y = f(mpmath.mpf(tv))
            r, gg = parts(y)
            out["t"].append(mpmath.mpf(tv))
            out["risk"].append(r)
            out["learning_rate"].append(gg)
            out["integral"].append(y[n])
            out["D2"].append(list(y[:n]))
        return out


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


@functools.lru_cache(maxsize=None)
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
