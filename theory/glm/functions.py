r"""The logistic sigmoid and the softplus as SymPy functions that differentiate and print.

:class:`sigmoid` is :math:`\sigma(x) = 1/(1 + e^{-x})` with
:math:`\sigma' = \sigma(1 - \sigma)`; :class:`softplus` is :math:`\log(1 + e^x)` with
derivative :math:`\sigma`. They print as :math:`\sigma(x)` and :math:`\operatorname{softplus}(x)`
and evaluate without overflow in NumPy (``scipy.special.expit``, ``numpy.logaddexp``) and in
mpmath (:data:`NUMPY_FUNCTIONS`, :data:`MPMATH_FUNCTIONS` for ``sympy.lambdify``).
"""
from __future__ import annotations

import mpmath
import numpy as np
import sympy as sp
from scipy.special import expit

__all__ = ["MPMATH_FUNCTIONS", "NUMPY_FUNCTIONS", "sigmoid", "softplus"]


class sigmoid(sp.Function):
    r"""The logistic function :math:`\sigma(x) = 1/(1+e^{-x})`.

    >>> x = sp.Symbol("x")
    >>> sp.diff(sigmoid(x), x)
    (1 - sigmoid(x))*sigmoid(x)
    """

    nargs = 1

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, arg):
        if arg.is_zero:
            return sp.Rational(1, 2)
        return None

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return 1 / (1 + sp.exp(-arg))

    def _latex(self, printer, exp=None):
        inner = r"\sigma\left(" + printer._print(self.args[0]) + r"\right)"
        return inner if exp is None else inner + "^{" + (exp if isinstance(exp, str) else printer._print(exp)) + "}"


class softplus(sp.Function):
    r"""The softplus :math:`\log(1+e^{x})`, whose derivative is :math:`\sigma(x)`.

    >>> x = sp.Symbol("x")
    >>> sp.diff(softplus(x), x)
    sigmoid(x)
    """

    nargs = 1

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    def _eval_rewrite_as_exp(self, arg, **kwargs):
        return sp.log(1 + sp.exp(arg))

    def _latex(self, printer, exp=None):
        inner = r"\operatorname{softplus}\left(" + printer._print(self.args[0]) + r"\right)"
        return inner if exp is None else r"\left(" + inner + r"\right)^{" + (exp if isinstance(exp, str) else printer._print(exp)) + "}"


def _softplus_np(x):
    return np.logaddexp(0.0, x)


def _sigmoid_mp(x):
    return 1 / (1 + mpmath.exp(-x))


def _softplus_mp(x):
    return mpmath.log1p(mpmath.exp(x)) if x < 30 else x + mpmath.log1p(mpmath.exp(-x))


NUMPY_FUNCTIONS = {"sigmoid": expit, "softplus": _softplus_np}
MPMATH_FUNCTIONS = {"sigmoid": _sigmoid_mp, "softplus": _softplus_mp}
