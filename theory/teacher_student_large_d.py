r"""The large-d closed form of the two-scale teacher--student model (deterministic equivalent).

For ridge regression w_hat = (X^T X + lambda I)^{-1} X^T y on n rows x = F z with population
covariance Sigma = F^2 / d (eigenvalues a_1 = 1/d, p times, and a_2 = 1/(kappa^2 d), d - p
times), and target beta = F^{-1} w, the deterministic equivalent (Dobriban & Wager 2018;
Hastie, Montanari, Rosset, Tibshirani, arXiv:1903.08560, Thm. 5; Bach, arXiv:2303.01372,
Prop. 1, in its notation with mu = lambda / n) replaces the random design by an effective
regularisation nu solving

.. math:: \mu = \nu \Big(1 - \frac{\mathrm{df}_1(\nu)}{n}\Big),\qquad
          \mathrm{df}_k(\nu) = \operatorname{tr} \Sigma^k (\Sigma + \nu)^{-k},

and, averaging the teacher (E beta beta^T = F^{-2}), with a noiseless test label,

.. math:: E_G \approx \frac12\,
          \frac{\nu^2 \operatorname{tr} F^{-2} \Sigma (\Sigma + \nu)^{-2} + \sigma^2 \mathrm{df}_2(\nu)/n}
               {1 - \mathrm{df}_2(\nu)/n}.

SymPy builds df_1, df_2 and E_G for the two blocks (:func:`large_d_expressions`); the root nu
is found by Brent's method (SciPy) on the concave h(nu) = mu + nu df_1(nu)/n - nu, which has
exactly one positive root. *Approximation:* exact as n, d, p -> infinity at fixed ratios;
at finite d its error is O(1/d) (measured in ``tests/test_teacher_student_large_d.py``).
Gradient flow is mapped to ridge by lambda = 1/t (the paper's Eq. 12-14 do the same): a
second approximation, not exact even at d = infinity (its gap to the exact flow curve is
measured there too).
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp
from scipy.optimize import brentq

from .teacher_student import TwoScaleTeacherStudent

__all__ = ["large_d_expressions", "large_d_test_error"]

_NU = sp.Symbol("nu", positive=True)


@functools.cache
def large_d_expressions():
    """(df_1, df_2, E_G) as SymPy expressions in nu, n, d, p, kappa, sigma^2 (module docstring)."""
    n, d, p, kappa = sp.symbols("n d p kappa", positive=True)
    sig2 = sp.Symbol("sigma^2", nonnegative=True)
    blocks = ((p, 1 / d, 1), (d - p, 1 / (kappa**2 * d), kappa**2))     # (multiplicity, a, f^-2)
    df1 = sum(m * a / (a + _NU) for m, a, _ in blocks)
    df2 = sum(m * a**2 / (a + _NU) ** 2 for m, a, _ in blocks)
    bias = sum(m * g * a / (a + _NU) ** 2 for m, a, g in blocks)
    eg = (_NU**2 * bias + sig2 * df2 / n) / (1 - df2 / n) / 2
    return df1, df2, eg, (n, d, p, kappa, sig2)


@functools.cache
def _callables():
    df1, _, eg, args = large_d_expressions()
    return sp.lambdify((_NU, *args), df1, "math"), sp.lambdify((_NU, *args), eg, "math")


def large_d_test_error(model: TwoScaleTeacherStudent, times, method="ridge") -> np.ndarray:
    """The large-d test error E_G at ridge parameters ``times`` (``method="ridge"``) or at
    gradient-flow times t via lambda = 1/t (``method="flow"``, an approximation); shape (T,).

    Raises ValueError for another method or values <= 0.

    Example
    -------
    >>> m = TwoScaleTeacherStudent(130, 100, 70, 100.0)
    >>> round(float(large_d_test_error(m, [1e9])[0]), 6)       # lambda -> infinity: w_hat = 0
    0.5
    """
    if method not in ("ridge", "flow"):
        raise ValueError(f"method must be 'ridge' or 'flow'; got {method!r}")
    x = np.asarray(times, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise ValueError("times must be a finite 1-d array of numbers > 0")
    lams = x if method == "ridge" else 1.0 / x
    df1, eg = _callables()
    args = (model.n, model.d, model.p, float(model.kappa), float(model.noise_variance))
    trace = (model.p + (model.d - model.p) / float(model.kappa) ** 2) / model.d
    out = np.empty(x.size)
    for i, lam in enumerate(lams):
        mu = lam / model.n
        nu = brentq(lambda v, mu=mu: mu + v * df1(v, *args) / model.n - v, 1e-300, mu + trace / model.n + 1e-12,
                    xtol=1e-300, rtol=1e-14, maxiter=500)
        out[i] = eg(nu, *args)
    return out
