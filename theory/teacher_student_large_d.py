r"""The large-d form of the two-scale teacher--student model, derived from the model's moments.

The rows of the design X = Z F are x = F z with z ~ N(0, I_d / d), so their population covariance
Sigma = E x x^T = F^2 / d has two atoms, a_b = f_b^2 / d with multiplicity m_b (f_1 = 1, p
times; f_2 = 1/kappa, d - p times). SymPy computes these atoms from the model's scales.

**The self-consistent equation** (Marchenko--Pastur for a general population spectrum; Silverstein
1995; Couillet & Liao, *Random Matrix Methods for Machine Learning*, Thm. 2.6; Bach,
arXiv:2303.01372, Prop. 1). For a deterministic regulariser Lambda that commutes with Sigma,
the resolvent G = (X^T X + Lambda)^{-1} of the n-row sample Gram matrix has the deterministic
equivalent

.. math:: \bar G = \Big(\frac{n}{1 + \delta}\,\Sigma + \Lambda\Big)^{-1},\qquad
          \delta = \operatorname{tr} \Sigma \bar G
                 = \sum_b \frac{m_b a_b}{n a_b / (1 + \delta) + \Lambda_b},

(a cubic in delta for two atoms: SymPy clears the denominators; Brent's method finds its unique
root in [0, tr Sigma / min Lambda], where delta - tr Sigma G(delta) changes sign once because
tr Sigma G(delta) is increasing and concave in delta). ``delta`` is the Stieltjes transform of the
Sigma-weighted spectral law of X^T X at z = -lambda.

**The test error** (derived here, :func:`large_d_expressions`). For ridge at lambda,
F w_hat - w = -lambda F G F^{-1} w + F G X^T epsilon; averaging teacher and noise,

.. math:: 2 d\, E_G = \lambda^2 \operatorname{tr}(F^2 G F^{-2} G)
          + \sigma^2 \operatorname{tr}(F^2 G X^T X G),

and both traces are derivatives of the one-resolvent trace T(Lambda) = tr(F^2 G):
tr(F^2 G F^{-2} G) = -dT/d epsilon at Lambda = lambda I + epsilon F^{-2}, and
tr(F^2 G X^T X G) = T + lambda dT/d lambda. SymPy differentiates the deterministic equivalent
T = sum_b m_b f_b^2 \bar G_b implicitly through delta (d delta / d epsilon from the
self-consistent equation), so nothing but the model's moments and the equation above is typed.
The fast/slow split restricts the traces to one block.

*Approximations.* (1) The deterministic equivalent is exact as n, d, p -> infinity at fixed
ratios; at finite d its error is O(1/d) (measured: ``teacher_student.closed_form``).
(2) Gradient flow itself: :mod:`theory.teacher_student_large_d_flow` (contour integrals of the
one- and two-point deterministic equivalents). The ridge <-> flow correspondence lambda = 1/t (the
paper's Eq. 12-14), ``method="inverse_time"``, replaces the flow filter 1 - e^{-st} by
s / (s + 1/t); it is *not* exact even at d = infinity (largest gap 0.036 at the Fig. 1 ratios as
d grows, peak later and lower; ``tests/test_teacher_student_large_d.py``).
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
import sympy.stats  # sp.stats: the input law
from scipy.optimize import brentq

from .diskcache import persistent
from .teacher_student import TwoScaleTeacherStudent

__all__ = ["DELTA", "large_d_expressions", "large_d_latex", "large_d_test_error", "self_consistent_equation"]

DELTA = sp.Symbol("delta", nonnegative=True)
_EPS = sp.Symbol("epsilon", real=True)
_LAM = sp.Symbol("lambda", positive=True)
_N, _D, _P, _KAPPA = sp.symbols("n d p kappa", positive=True)
_SIG2 = sp.Symbol("sigma^2", nonnegative=True)
PARAMETERS = (_N, _D, _P, _KAPPA, _SIG2)


def _blocks():
    """(multiplicity m_b, feature scale f_b) of the fast and slow blocks of F."""
    return ((_P, sp.Integer(1)), (_D - _P, 1 / _KAPPA))


@persistent
def _sigma_atoms():
    """The atoms a_b of Sigma = E x x^T, x = F z, z ~ N(0, I/d): SymPy takes E z_j^2 = 1/d from the
    model's input law and squares the scale (``sympy.stats``, 0.3 s: memoised in memory and on disk,
    :mod:`theory.diskcache`)."""
    zj = sp.stats.Normal("z_j", 0, 1 / sp.sqrt(_D))
    second = sp.simplify(sp.stats.E(zj**2))
    return [f**2 * second for _, f in _blocks()]


def self_consistent_equation(regulariser=None):
    r"""delta - tr(Sigma \bar G(delta)) as a SymPy expression (zero at the deterministic equivalent),
    and the diagonal entries \bar G_b of \bar G per block. ``regulariser`` gives Lambda_b per block
    (default lambda I). Returns (equation, [G_fast, G_slow])."""
    lam = regulariser or [_LAM, _LAM]
    G = [1 / (_N * a / (1 + DELTA) + L) for a, L in zip(_sigma_atoms(), lam)]
    trace = sum(m * a * g for (m, _), a, g in zip(_blocks(), _sigma_atoms(), G))
    return DELTA - trace, G


@persistent
def large_d_expressions():
    r"""The derived large-d ridge test error, split (fast, slow), as SymPy expressions in delta,
    lambda and (n, d, p, kappa, sigma^2), with the self-consistent equation in delta.

    Returns (equation, E_fast, E_slow, parameters) where E_G = E_fast + E_slow holds at the root
    delta of ``equation`` (module docstring for the derivation)."""
    blocks = _blocks()
    eq, G = self_consistent_equation([_LAM + _EPS / f**2 for _, f in blocks])
    # implicit derivative of delta along the perturbation Lambda = lambda + epsilon F^{-2}, and along lambda
    d_eps = -sp.diff(eq, _EPS) / sp.diff(eq, DELTA)
    eq0, G0 = self_consistent_equation()
    d_lam = -sp.diff(eq0, _LAM) / sp.diff(eq0, DELTA)
    parts = []
    for (m, f), g, g0 in zip(blocks, G, G0):
        T = m * f**2 * g                                    # this block's share of tr(F^2 G)
        dT_eps = (sp.diff(T, _EPS) + sp.diff(T, DELTA) * d_eps).subs(_EPS, 0)
        T0 = m * f**2 * g0
        dT_lam = sp.diff(T0, _LAM) + sp.diff(T0, DELTA) * d_lam
        parts.append((-_LAM**2 * dT_eps + _SIG2 * (T0 + _LAM * dT_lam)) / (2 * _D))
    return eq0, parts[0], parts[1], PARAMETERS


def large_d_latex() -> str:
    """The self-consistent equation and the derived large-d test error (fast + slow) as amsmath
    ``align*`` (symbols as in :func:`large_d_expressions`)."""
    eq, fast, slow, _ = large_d_expressions()
    names = {DELTA: r"\delta", _LAM: r"\lambda", _KAPPA: r"\kappa", _SIG2: r"\sigma^2"}
    rows = [r"0 &= " + sp.latex(eq, symbol_names=names),
            r"E_G^{\mathrm{fast}} &= " + sp.latex(fast, symbol_names=names),
            r"E_G^{\mathrm{slow}} &= " + sp.latex(slow, symbol_names=names)]
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


@functools.cache
def _callables():
    eq, fast, slow, args = large_d_expressions()
    sig = (DELTA, _LAM, *args)
    return (sp.lambdify(sig, eq, "math"), sp.lambdify(sig, fast, "math"), sp.lambdify(sig, slow, "math"))


def _solve_delta(lam, args, equation):
    """The unique root delta >= 0 of the self-consistent equation at ridge lambda (Brent)."""
    _, d, p, kappa, _ = args
    upper = (p + (d - p) / kappa**2) / d / lam            # delta <= tr Sigma / lambda
    hi = upper * (1 + 1e-9) + 1e-300
    return brentq(lambda x: equation(x, lam, *args), 0.0, hi, xtol=1e-300, rtol=4 * np.finfo(float).eps,
                  maxiter=500)


def large_d_test_error(model: TwoScaleTeacherStudent, times, method="ridge", split=False):
    """The large-d test error E_G, shape (T,): at ridge parameters ``times`` (``method="ridge"``); at
    gradient-flow times t (``method="flow"``: the flow itself, through the two-point deterministic
    equivalent, :func:`theory.teacher_student_large_d_flow.flow_test_error`, n > d); or at times t via
    the ridge <-> flow correspondence lambda = 1/t (``method="inverse_time"``, an approximation even at
    d = infinity; module docstring). With ``split=True`` (ridge and inverse_time) returns
    (E_G, E_fast, E_slow).

    Raises ValueError for another method, values <= 0, or split with method "flow".

    Example
    -------
    >>> m = TwoScaleTeacherStudent(130, 100, 70, 100.0)
    >>> round(float(large_d_test_error(m, [1e9])[0]), 6)       # lambda -> infinity: w_hat = 0
    0.5
    """
    if method not in ("ridge", "flow", "inverse_time"):
        raise ValueError(f"method must be 'ridge', 'flow' or 'inverse_time'; got {method!r}")
    x = np.asarray(times, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("times must be a finite 1-d array of numbers > 0")
    if method == "flow":
        if split:
            raise ValueError("split=True is available for method 'ridge' and 'inverse_time' only")
        from .teacher_student_large_d_flow import flow_test_error
        return flow_test_error(model, x)
    lams = x if method == "ridge" else 1.0 / x
    equation, fast, slow = _callables()
    args = (float(model.n), float(model.d), float(model.p), float(model.kappa), float(model.noise_variance))
    out = np.empty((2, x.size))
    for i, lam in enumerate(lams):
        delta = _solve_delta(float(lam), args, equation)
        out[:, i] = fast(delta, lam, *args), slow(delta, lam, *args)
    total = out.sum(axis=0)
    return (total, out[0], out[1]) if split else total
