"""Recursions written by a user in the standard symbols (:mod:`theory.symbols`)."""
from __future__ import annotations

import sympy as sp

from . import symbols as sym
from .algorithms import SGD
from .data import DataModel, Gaussian
from .recursion import Recursion

__all__ = ["recursion_from_expression"]

_ALLOWED = {sym.gamma, sym.B, sym.lam, sym.kappa, sym.sigma2, sym.m, sym.S}


def recursion_from_expression(expr, data: DataModel | None = None) -> Recursion:
    r"""Turn a user's expression for m_{k+1,i} into a :class:`Recursion` (SGD shape).

    ``expr`` must be affine in the second moment ``m`` (m_{k,i}) and the coupling
    sum ``S`` (S_k = sum_j lambda_j m_{k,j}) and may use the learning rate
    ``gamma``, batch size ``B``, eigenvalue ``lam``, kurtosis ``kappa`` and noise
    variance ``sigma2``; it is read as m_{k+1,i} = a m_{k,i} + b S_k + c, with
    risk R_k = (S_k + sigma^2)/2.

    Raises
    ------
    ValueError
        If ``expr`` is not a SymPy expression, uses other symbols, or is not affine
        in (m, S).

    Example
    -------
    >>> from theory.symbols import gamma, B, lam, m, S, sigma2
    >>> rec = recursion_from_expression((1 - 2*gamma*lam + 2*gamma**2*lam**2)*m + gamma**2*lam*(S + sigma2))
    >>> round(rec.critical_learning_rate([1.0] * 8), 12)
    0.2
    """
    data = Gaussian() if data is None else data
    try:
        expr = sp.sympify(expr)
    except (sp.SympifyError, TypeError) as exc:
        raise ValueError(f"expr must be a SymPy expression in the standard symbols; got {expr!r}") from exc
    unknown = expr.free_symbols - _ALLOWED
    if unknown:
        raise ValueError(
            f"expr uses symbols {sorted(map(str, unknown))} that are not standard symbols; allowed: "
            f"{sorted(map(str, _ALLOWED))} (import them from theory.symbols)")
    poly = sp.Poly(sp.expand(expr), sym.m, sym.S)
    if poly.total_degree() > 1:
        raise ValueError("expr must be affine in m (m_{k,i}) and S (the coupling sum); got degree "
                         f"{poly.total_degree()}")
    a = poly.coeff_monomial(sym.m)
    b = poly.coeff_monomial(sym.S)
    c = poly.coeff_monomial(1)
    return Recursion(algorithm=SGD(), data=data, pairs=[(0, 0)], moments=[sym.m],
                     A=sp.Matrix([[a]]), u=sp.Matrix([b]), f=sp.Matrix([c]),
                     v=sp.Matrix([sym.lam]), w=sp.Matrix([sym.lam]), mean_matrix=None,
                     gradient_moments=None)
