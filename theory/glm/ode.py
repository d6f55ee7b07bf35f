r"""The numeric ODE of SGD on a single-index model: right-hand side, solve, risk, threshold.

Normalisation as in :mod:`theory.glm.derivation`: the step is (g/d) * gradient (``g`` is the
normalised step; the per-step learning rate is gamma = g/d), batch 1, t = k/d, per direction
P_i = d X_i^2, U_i = d X_i X^*_i, Q_i = d X_i^{*2}.

Equal eigenvalues are merged exactly: the derived right-hand side is linear in (P_i, U_i, Q_i)
with coefficients that depend on i only through lambda_i and on the state only through B, so
the averages of (P, U, Q) over the directions sharing an eigenvalue solve the same ODE. One
evaluation costs O(n) (n distinct eigenvalues <= d) plus one quadrature that does not depend
on d; nothing is d x d.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp
from scipy.optimize import brentq

from ..validation import check_eigenvalues, check_nonnegative, check_positive
from .derivation import GLMLimit, P, Q, U, g, lam, sigma2, tau1
from .expectations import Evaluator, Quadrature
from .functions import NUMPY_FUNCTIONS

__all__ = [
    "CriticalLearningRate",
    "GLMProblem",
    "GLMSolution",
    "critical_learning_rate",
    "jacobian_at_optimum",
    "linearised_threshold",
    "problem",
    "rhs",
    "risk",
    "solve",
]


@dataclass(frozen=True)
class GLMProblem:
    """The merged spectral data of one problem: atoms lambda_j, weights w_j = multiplicity/d, and the
    averages of Q, P(0), U(0) over each atom's directions; ``d`` (None if given as a measure)."""

    atoms: np.ndarray
    weights: np.ndarray
    Q: np.ndarray
    P0: np.ndarray
    U0: np.ndarray
    d: int | None

    @property
    def B0(self):
        lw = self.weights * self.atoms
        return float(lw @ self.P0), float(lw @ self.U0), float(lw @ self.Q)


def _per_direction(value, n, name):
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a finite number or an array of shape ({n},); got {value!r}")
    return arr


def problem(eigenvalues, teacher=1.0, initial_P=0.0, initial_U=0.0, weights=None) -> GLMProblem:
    r"""Validate and merge a problem.

    Parameters
    ----------
    eigenvalues : array (d,)
        Eigenvalues of K (> 0); with ``weights``, the atoms of a spectral measure.
    teacher : float or array
        Q_i = d X_i^{*2} >= 0 (a number: the same in every direction).
    initial_P, initial_U : float or array
        P_i(0) = d X_{0,i}^2 >= 0 and U_i(0) = d X_{0,i} X^*_i with U_i^2 <= P_i Q_i.
    weights : array, optional
        Weights of the atoms (normalised to sum 1).

    Raises
    ------
    ValueError
        Naming the argument: non-positive eigenvalues, negative Q or P, |U| > sqrt(P Q), bad weights.
    """
    lam_ = check_eigenvalues(eigenvalues)
    n = lam_.size
    Qv = _per_direction(teacher, n, "teacher")
    P0 = _per_direction(initial_P, n, "initial_P")
    U0 = _per_direction(initial_U, n, "initial_U")
    if np.any(Qv < 0):
        raise ValueError(f"teacher (Q_i = d X*_i^2) must be >= 0; got min {Qv.min()}")
    if np.any(P0 < 0):
        raise ValueError(f"initial_P (P_i = d X_i^2) must be >= 0; got min {P0.min()}")
    if np.any(U0**2 > P0 * Qv * (1 + 1e-12) + 1e-300):
        raise ValueError("initial_U must satisfy U_i^2 <= P_i Q_i (Cauchy-Schwarz per direction)")
    if weights is not None:
        w = np.asarray(weights, dtype=float)
        if w.shape != lam_.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
            raise ValueError(f"weights must be positive with the shape of eigenvalues {lam_.shape}; got {weights!r}")
        return GLMProblem(lam_, w / w.sum(), Qv, P0, U0, None)
    atoms, inv, counts = np.unique(lam_, return_inverse=True, return_counts=True)

    def avg(v):
        return np.bincount(inv, weights=v, minlength=atoms.size) / counts
    return GLMProblem(atoms[::-1].copy(), (counts / n)[::-1].copy(), avg(Qv)[::-1].copy(), avg(P0)[::-1].copy(),
                      avg(U0)[::-1].copy(), n)


class _Numeric:
    """Lambdified drift and quadratures of one limit at one noise variance and quadrature spacing."""

    def __init__(self, limit: GLMLimit, noise_variance, spacing):
        atoms = limit.expectations()
        es = sp.symbols(f"e_0:{len(atoms)}")
        sub = dict(zip(atoms, es))
        args = [g, lam, P, U, Q, sigma2, *es]
        mods = [NUMPY_FUNCTIONS, "numpy"]
        self.dP = sp.lambdify(args, limit.drift_P.xreplace(sub), modules=mods)
        self.dU = sp.lambdify(args, limit.drift_U.xreplace(sub), modules=mods)
        self.quad = Quadrature([a.args[0] for a in atoms], spacing, noise_variance)
        self.risk = Evaluator(limit.risk, spacing, noise_variance)
        self.optimal_risk = Evaluator(limit.optimal_risk, spacing, noise_variance)
        self.sigma2 = float(noise_variance)

    def rates(self, gg, atoms, Pv, Uv, Qv, b11, b12, b22):
        e = [float(x) for x in self.quad(b11, b12, b22)]
        return (np.broadcast_to(self.dP(gg, atoms, Pv, Uv, Qv, self.sigma2, *e), atoms.shape),
                np.broadcast_to(self.dU(gg, atoms, Pv, Uv, Qv, self.sigma2, *e), atoms.shape))


def _cached(limit, key, build):
    """``build()``, memoised in ``limit.numeric_cache`` under ``key`` (lambdified functions and
    quadratures are built once per limit and process)."""
    cache = limit.numeric_cache
    if key not in cache:
        cache[key] = build()
    return cache[key]


def _numeric(limit, noise_variance, spacing) -> _Numeric:
    return _cached(limit, (float(noise_variance), spacing), lambda: _Numeric(limit, noise_variance, spacing))


def rhs(limit: GLMLimit, prob: GLMProblem, g_value, *, noise_variance=0.0, spacing=None):
    """The right-hand side y -> dy/dt of the ODE for y = (P_1..P_n, U_1..U_n) (merged atoms)."""
    num = _numeric(limit, noise_variance, spacing)
    n = prob.atoms.size
    lw = prob.weights * prob.atoms
    b22 = float(lw @ prob.Q)
    gg = float(g_value)

    def f(_, yv):
        Pv, Uv = yv[:n], yv[n:]
        b11, b12 = float(lw @ Pv), float(lw @ Uv)
        b11 = max(b11, b12 * b12 / b22 if b22 > 0 else 0.0)       # rounding: keep B semidefinite
        dP, dU = num.rates(gg, prob.atoms, Pv, Uv, prob.Q, b11, b12, b22)
        return np.concatenate([dP, dU])
    return f


@dataclass
class GLMSolution:
    """A solution of the GLM ODE at times ``t``.

    Attributes
    ----------
    t : (T,); P, U : (T, n) per atom; B : (T, 3) with columns B_11, B_12, B_22;
    risk : (T,) E l under N(0, B); optimal_risk : float (X = X*); excess_risk : (T,);
    g : the normalised step; learning_rate : g/d (None for a spectral measure); problem; rtol, atol;
    nfev : right-hand-side evaluations.
    """

    t: np.ndarray
    P: np.ndarray
    U: np.ndarray
    B: np.ndarray
    risk: np.ndarray
    optimal_risk: float
    excess_risk: np.ndarray
    g: float
    learning_rate: float | None
    problem: GLMProblem
    rtol: float
    atol: float
    nfev: int


def solve(limit: GLMLimit, eigenvalues, g, t_max, *, teacher=1.0, initial_P=0.0, initial_U=0.0,
          noise_variance=0.0, weights=None, t_eval=None, rtol=1e-9, atol=1e-12, method="DOP853",
          spacing=None) -> GLMSolution:
    r"""Integrate the derived ODE with SciPy ``solve_ivp``.

    Parameters
    ----------
    limit : GLMLimit
        From :func:`theory.glm.derive_limit`.
    eigenvalues : array (d,)
        Eigenvalues of K.
    g : float > 0
        The normalised step (the step is (g/d) * gradient; learning rate gamma = g/d).
    t_max : float > 0
        Final time t = k/d.
    teacher, initial_P, initial_U, weights :
        See :func:`problem`.
    noise_variance : float >= 0
        sigma^2 where the loss's label model uses it (least squares).
    t_eval : array, optional
        Output times (default 101 points on [0, t_max]).
    rtol, atol : float
        Tolerances of the solver (defaults 1e-9, 1e-12), on top of the quadrature's 1e-10
        relative (:class:`theory.glm.expectations.Quadrature`).
    method : str
        Any ``solve_ivp`` method (default "DOP853"; "LSODA" for long stiff runs).

    Returns
    -------
    GLMSolution

    Raises
    ------
    ValueError
        Bad arguments (naming them) or a failure of the solver (with its message).

    Example
    -------
    >>> from theory.glm import derive_limit, least_squares
    >>> sol = solve(derive_limit(least_squares()), [1.0], 0.5, 1.0, t_eval=[0.0, 1.0])
    >>> [round(float(x), 6) for x in sol.risk]      # d = 1, K = 1: R(t) = e^{-(2g - g^2) t} / 2
    [0.5, 0.236183]
    """
    check_positive(g, "g")
    check_positive(t_max, "t_max")
    check_nonnegative(noise_variance, "noise_variance")
    prob = problem(eigenvalues, teacher, initial_P, initial_U, weights)
    f = rhs(limit, prob, g, noise_variance=noise_variance, spacing=spacing)
    counter = [0]

    def fc(t, yv):
        counter[0] += 1
        return f(t, yv)
    t_eval = np.linspace(0.0, float(t_max), 101) if t_eval is None else np.asarray(t_eval, dtype=float)
    sol = solve_ivp(fc, (0.0, float(t_max)), np.concatenate([prob.P0, prob.U0]), method=method, t_eval=t_eval,
                    rtol=rtol, atol=atol)
    if not sol.success:
        raise ValueError(f"the ODE solver failed: {sol.message}")
    n = prob.atoms.size
    Pt, Ut = sol.y[:n].T, sol.y[n:].T
    lw = prob.weights * prob.atoms
    B = np.stack([Pt @ lw, Ut @ lw, np.full(len(sol.t), float(lw @ prob.Q))], axis=1)
    B[:, 0] = np.maximum(B[:, 0], np.divide(B[:, 1] ** 2, B[:, 2], out=np.zeros(len(sol.t)), where=B[:, 2] > 0))
    rk = risk(limit, B[:, 0], B[:, 1], B[:, 2], noise_variance=noise_variance, spacing=spacing)
    opt = optimal_risk(limit, B[0, 2], noise_variance=noise_variance, spacing=spacing)
    return GLMSolution(sol.t, Pt, Ut, B, rk, opt, rk - opt, float(g), None if prob.d is None else float(g) / prob.d,
                       prob, rtol, atol, counter[0])


def risk(limit: GLMLimit, B11, B12, B22, *, noise_variance=0.0, spacing=None):
    """The population risk E l(r, y) for (r, r*) ~ N(0, B), vectorised over arrays of B entries.

    Exact for polynomial losses (Isserlis), else quadrature to 1e-10 relative.

    >>> from theory.glm import derive_limit, phase_retrieval
    >>> float(risk(derive_limit(phase_retrieval()), 1.0, 0.0, 1.0))   # E (r^2 - r*^2)^2 = 3 - 2 + 3
    4.0
    """
    return _numeric(limit, noise_variance, spacing).risk(B11, B12, B22)


def optimal_risk(limit: GLMLimit, B22_value, *, noise_variance=0.0, spacing=None) -> float:
    """The risk at X = X* (r = r*), for Var r* = B_22."""
    return float(_numeric(limit, noise_variance, spacing).optimal_risk(B22_value, B22_value, B22_value))


@dataclass(frozen=True)
class CriticalLearningRate:
    """The derived threshold: ``g`` (normalised step, step (g/d) * gradient) and ``learning_rate`` = g/d
    (per step; None for a spectral measure), with tau_1 = tr K / d and B_22 = Var r*."""

    g: float
    learning_rate: float | None
    tau1: float
    B22: float


def critical_learning_rate(limit: GLMLimit, eigenvalues, teacher=1.0, *, weights=None, noise_variance=0.0,
                           spacing=None) -> CriticalLearningRate:
    r"""Evaluate the derived critical learning rate (:attr:`GLMLimit.critical_learning_rate`).

    For least squares g_c = 2/tau_1 = 2d/tr K (gamma_c = 2/tr K); for logistic regression
    g_c = 2 E sigma'(r*) / (tau_1 E sigma'(r*)^2); for phase retrieval g_c = 1/(12 tau_1 B_22).

    Raises
    ------
    ValueError
        Bad arguments, or when the limit has no threshold at X = X* (with the reason).

    Example
    -------
    >>> from theory.glm import derive_limit, least_squares
    >>> c = critical_learning_rate(derive_limit(least_squares()), [1.0, 1.0, 0.5, 0.5])
    >>> c.g, c.learning_rate           # 2 d / tr K = 8/3, 2 / tr K = 2/3
    (2.6666666666666665, 0.6666666666666666)
    """
    if limit.critical_learning_rate is None:
        raise ValueError(f"no critical learning rate at X = X*: {limit.threshold_note}")
    prob = problem(eigenvalues, teacher, weights=weights)
    lw = prob.weights * prob.atoms
    t1, b = float(prob.weights @ prob.atoms), float(lw @ prob.Q)
    ev = _cached(limit, ("critical", float(noise_variance), spacing),
                 lambda: Evaluator(limit.critical_learning_rate, spacing, noise_variance, (tau1,)))
    gc = float(ev(b, b, b, t1))
    return CriticalLearningRate(gc, None if prob.d is None else gc / prob.d, t1, b)


def jacobian_at_optimum(limit: GLMLimit, eigenvalues, g_value, teacher=1.0, *, weights=None, noise_variance=0.0,
                        step=1e-4, spacing=None):
    """The Jacobian (2n x 2n) of the numeric right-hand side at X = X* (P = U = Q), by one-sided
    second-order finite differences (+ in P, - in U, so that B stays positive semidefinite).

    An independent check of the symbolic linearisation: it uses neither Price's theorem nor
    the reduction to D = P - 2U + Q. Error O(step^2) relative.
    """
    prob = problem(eigenvalues, teacher, teacher, teacher, weights)
    f = rhs(limit, prob, g_value, noise_variance=noise_variance, spacing=spacing)
    y0 = np.concatenate([prob.Q, prob.Q])
    n = prob.atoms.size
    f0 = f(0.0, y0)
    J = np.empty((2 * n, 2 * n))
    for k in range(2 * n):
        h = step * max(prob.Q[k % n], 1e-3) * (1 if k < n else -1)
        e = np.zeros(2 * n)
        e[k] = h
        J[:, k] = (-3 * f0 + 4 * f(0.0, y0 + e) - f(0.0, y0 + 2 * e)) / (2 * h)
    return J


def linearised_threshold(limit: GLMLimit, eigenvalues, teacher=1.0, *, bracket, weights=None, noise_variance=0.0,
                         spacing=None, xtol=1e-10):
    """The g in ``bracket`` where the largest real part of the eigenvalues of :func:`jacobian_at_optimum`
    crosses 0 (Brent's method): the numeric threshold, to compare with the derived one."""
    def top(gv):
        return float(np.max(np.linalg.eigvals(jacobian_at_optimum(
            limit, eigenvalues, gv, teacher, weights=weights, noise_variance=noise_variance, spacing=spacing)).real))
    return brentq(top, *bracket, xtol=xtol)



def growth_rate(limit: GLMLimit, eigenvalues, g_value, teacher=1.0, *, weights=None, noise_variance=0.0, spacing=None):
    r"""The exponential growth rate z > 0 of the linearised ODE at X = X* for g > g_c.

    From the derived linearisation (:attr:`GLMLimit.linearised_drift`) dD_i/dt = a_i D_i + c_i S_D,
    S_D = (1/d) sum_j lambda_j D_j: z is the positive root of the secular equation
    (1/d) sum_i lambda_i c_i / (z - a_i) = 1 (a_i < 0). Raises ValueError if g <= g_c (no root > 0)
    or the limit has no linearisation at X = X*.
    """
    from .derivation import _D, _SD
    if limit.linearised_drift is None or limit.critical_learning_rate is None:
        raise ValueError(f"no linearisation at X = X*: {limit.threshold_note}")
    prob = problem(eigenvalues, teacher, weights=weights)
    b = float((prob.weights * prob.atoms) @ prob.Q)
    parts = []
    bb = np.full(prob.atoms.shape, b)
    for k, v in enumerate((_D, _SD)):
        ev = _cached(limit, ("growth", k, float(noise_variance), spacing),
                     lambda v=v: Evaluator(sp.diff(limit.linearised_drift, v), spacing, noise_variance, (g, lam)))
        parts.append(np.array(ev(bb, bb, bb, float(g_value), prob.atoms), dtype=float))   # every atom at once
    a, c = parts
    lw = prob.weights * prob.atoms

    def secular(z):
        return float(np.sum(lw * c / (z - a))) - 1.0
    if secular(0.0) <= 0:
        raise ValueError(f"g = {g_value} is not above the critical learning rate: no growth")
    hi = 1.0
    while secular(hi) > 0:
        hi *= 2
    return brentq(secular, 0.0, hi, xtol=1e-14, rtol=1e-12)
