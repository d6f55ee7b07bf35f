r"""The effective time T(k) of SGD, SGD-M and DANA, exactly, step by step.

A direction that is not yet learnt (lambda T(k) << 1) sees a constant gradient g; the generalised
momentum y_m = (1 - Delta(m)) y_{m-1} + gamma_1 g, theta_{m+1} = theta_m - gamma_2 g - gamma_3(m) y_m
then moves it by g T(k) after k steps, with

.. math:: T(k) = \sum_{m=0}^{k-1}\bigl(\gamma_2 + \gamma_3(m)\,\gamma_1\,b_m\bigr),

b_m the buffer's response to a unit gradient. For DANA's Delta(m) = delta/(delta + m) (so
Delta(0) = 1, b_0 = 1) SymPy solves the recursion (delta + m) b_m - m b_{m-1} = delta + m
(:func:`discrete_buffer`): b_m = (m + delta + 1)/(delta + 1), exactly. With a constant gamma_3
(DANA-constant) the sum is SymPy's too (:func:`dana_constant_time`):

.. math:: T(k) = \gamma_2 k + \gamma_3\,\frac{k(k + 2\delta + 1)}{2(\delta + 1)},

whose exponent k T'(k)/T(k) tends to 2 (tau of :func:`theory.plrf.phases.effective_time_exponent`)
and whose two terms are equal at the crossover k_x = 2 (delta + 1) gamma_2/gamma_3 - 2 delta - 1.

The loss of every algorithm in the forcing-dominated window is P(k) - P_inf ~ F(T(k)) with
F(T) ~ T^{-sigma_F}; fitting log(P - P_inf) against log T(k) measures sigma_F across the
crossover k_x, where the exponent in k changes from sigma_F to tau sigma_F (docs/plrf_scaling.md).

Source: the generalised momentum and DANA's schedules, Ferbach, Everett, Gidel, Paquette,
Paquette, arXiv:2505.16098 (Alg. 1); the effective time of SGD, Paquette, Paquette, Xiao,
Pennington, arXiv:2405.15074.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from ..diskcache import persistent
from .schedules import PowerLaw

__all__ = ["dana_constant_time", "discrete_buffer", "effective_time"]

_m = sp.Symbol("m", integer=True, nonnegative=True)
_k = sp.Symbol("k", integer=True, positive=True)
_delta = sp.Symbol("delta", positive=True)
_g2, _g3 = sp.symbols("gamma_2 gamma_3", positive=True)


@persistent
def discrete_buffer() -> sp.Expr:
    r"""b_m with b_m = (1 - delta/(delta + m)) b_{m-1} + 1, b_0 = 1: SymPy ``rsolve`` of
    (delta + m) b_m - m b_{m-1} = delta + m. Returns (m + delta + 1)/(delta + 1) in the symbols
    ``m`` and ``delta``.

    Example
    -------
    >>> discrete_buffer()
    (delta + m + 1)/(delta + 1)
    """
    b = sp.Function("b")
    sol = sp.rsolve((_delta + _m) * b(_m) - _m * b(_m - 1) - (_delta + _m), b(_m), {b(0): 1})
    return sp.factor(sp.simplify(sol))


@persistent
def dana_constant_time():
    r"""(T(k), k_x): DANA-constant's effective time sum_{m<k} (gamma_2 + gamma_3 b_m) (SymPy
    ``summation`` of :func:`discrete_buffer`) and the step k_x at which its two terms are equal,
    as SymPy expressions in k, gamma_2, gamma_3, delta.

    Example
    -------
    >>> T, kx = dana_constant_time()
    >>> sp.factor(T - sp.Symbol("gamma_2", positive=True) * sp.Symbol("k", integer=True, positive=True))
    gamma_3*k*(2*delta + k + 1)/(2*(delta + 1))
    """
    linear = sp.summation(_g2, (_m, 0, _k - 1))
    quadratic = sp.factor(sp.summation(_g3 * discrete_buffer(), (_m, 0, _k - 1)))
    kx = sp.solve(sp.Eq(linear, quadratic), _k)
    return sp.expand(linear) + quadratic, sp.factor(kx[0])


def _schedule_values(h, m):
    return np.asarray(h(m), dtype=float) if callable(h) else np.full(m.shape, float(h))


def effective_time(steps, learning_rate, gamma1=1.0, gamma3=0.0, delta=None) -> np.ndarray:
    r"""T(k) = sum_{m<k} (gamma_2 + gamma_3(m) gamma_1 b_m) at the given steps (module docstring).

    Parameters
    ----------
    steps : array_like of int, shape (n,)
        Steps k >= 0, increasing (T(0) = 0).
    learning_rate : float
        gamma_2 >= 0 (the SGD part of the update; SGD's T(k) = gamma_2 k).
    gamma1 : float
        The buffer's gradient weight.
    gamma3 : float or callable of the step (array-valued)
        The buffer's learning rate; 0 (or delta None) means plain SGD.
    delta : float, :class:`theory.plrf.PowerLaw` or callable of the step
        Delta(m): a constant in (0, 1] (SGD-M: b_m = (1 - (1 - Delta)^{m+1})/Delta); ``PowerLaw(1, 1,
        delta)`` = delta/(delta + m) (DANA: b_m from :func:`discrete_buffer`); any other callable is
        iterated step by step.

    Returns
    -------
    ndarray, shape (n,)

    Raises
    ------
    ValueError
        Steps not increasing integers >= 0, a negative learning rate, a constant delta outside (0, 1].

    Example
    -------
    >>> from theory.plrf.schedules import PowerLaw
    >>> effective_time([0, 1, 2], 0.5, gamma3=0.1, delta=PowerLaw(1.0, 1.0, 2.0)).round(12).tolist()
    [0.0, 0.6, 1.233333333333]

    Source: arXiv:2505.16098 (Alg. 1), the buffer solved as in the module docstring.
    """
    k = np.asarray(steps)
    if k.ndim != 1 or k.size == 0 or not np.all(np.isfinite(k)) or np.any(k != np.round(k)) or np.any(k < 0) \
            or np.any(np.diff(k) <= 0):
        raise ValueError(f"steps must be a non-empty 1-D array of increasing integers >= 0; got {steps!r}")
    lr = float(learning_rate)
    if not (math.isfinite(lr) and lr >= 0):
        raise ValueError(f"learning_rate must be a finite number >= 0; got {learning_rate!r}")
    k = k.astype(np.int64)
    if delta is None or (not callable(gamma3) and float(gamma3) == 0.0):
        return lr * k.astype(float)
    m = np.arange(int(k[-1]), dtype=float)
    if isinstance(delta, PowerLaw) and delta.scale == 1.0 and delta.exponent == 1.0:
        b = sp.lambdify((_m, _delta), discrete_buffer(), "numpy")(m, delta.time_scale)
    elif not callable(delta):
        dv = float(delta)
        if not (0 < dv <= 1):
            raise ValueError(f"a constant delta must lie in (0, 1]; got {delta!r}")
        b = -np.expm1((m + 1) * np.log1p(-dv)) / dv if dv < 1 else np.ones_like(m)
    else:
        b = np.empty_like(m)
        y = 0.0
        for i in range(m.size):
            y = (1.0 - float(delta(i))) * y + 1.0
            b[i] = y
    rate = lr + _schedule_values(gamma3, m) * float(gamma1) * b
    total = np.concatenate(([0.0], np.cumsum(rate)))
    return total[k]
