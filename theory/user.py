r"""Recursions written by a user in the standard symbols (:mod:`theory.symbols`).

A user states the second-moment recursion of an algorithm as one expression per moment
of its per-direction state (SGD: ``m``; heavy ball and Nesterov: ``m``, ``c``,
``m_prev``), either as SymPy expressions or as strings. Strings go through the
restricted parser :func:`theory.parsing.parse_expression` and never run code.
"""
from __future__ import annotations

from collections.abc import Mapping

import sympy as sp

from . import symbols as sym
from .algorithms import SGD
from .data import DataModel, Gaussian
from .parsing import as_expression
from .recursion import Recursion

__all__ = ["formula_names", "moment_names", "recursion_from_expression", "recursion_from_moments"]

#: Python names of the standard symbols a formula may use (short and long forms).
_STANDARD_NAMES = {
    **{name: s for name, (s, _) in sym.STANDARD.items()},
    "gamma": sym.gamma, "B": sym.B, "lam": sym.lam, "kappa": sym.kappa, "sigma2": sym.sigma2,
    "m": sym.m, "S": sym.S, "beta": sym.beta,
}
_COMMON = {sym.gamma, sym.B, sym.lam, sym.kappa, sym.sigma2, sym.S}


def moment_name(symbol: sp.Symbol) -> str:
    """The Python name of a second-moment symbol: ``m_i`` -> ``m``, ``c_i`` -> ``c``,
    ``m_i^prev`` -> ``m_prev``, ``m_i^(01)`` -> ``m_01``."""
    base, _, sup = str(symbol).partition("^")
    base = base.removesuffix("_i")
    sup = sup.strip("()")
    return base + ("_" + sup if sup else "")


def moment_names(recursion: Recursion) -> dict:
    """Python name -> symbol of each second moment of ``recursion``'s state, in order.

    Example
    -------
    >>> from theory import HeavyBall, derive
    >>> list(moment_names(derive(HeavyBall())))
    ['m', 'c', 'm_prev']
    """
    return {moment_name(s): s for s in recursion.moments}


def formula_names(algorithm=None, extra: Mapping | None = None) -> dict:
    """Every name a user's formula may use for ``algorithm``: the standard symbols (short and
    long names, :mod:`theory.symbols`), the algorithm's declared hyperparameters (by their
    name and their symbol's name) and ``extra`` (e.g. the moments of its state)."""
    names = dict(_STANDARD_NAMES)
    for name, s in dict(getattr(algorithm, "hyperparameters", {}) or {}).items():
        names[name] = s
        if str(s).isidentifier():
            names[str(s)] = s
    names.update(extra or {})
    return names


def _hyper_symbols(algorithm):
    return set(dict(getattr(algorithm, "hyperparameters", {}) or {}).values())


def recursion_from_moments(expressions: Mapping, algorithm=None, data: DataModel | None = None) -> Recursion:
    r"""Turn a user's recursion, one expression per second moment of the state, into a :class:`Recursion`.

    The user writes s'_{i} = expression for every second moment s of ``algorithm``'s
    per-direction state (the names of :func:`moment_names` of the derived recursion:
    ``m`` for SGD; ``m``, ``c``, ``m_prev`` for heavy ball and Nesterov, i.e.
    m_{k,i} = E e_{k,i}^2, c_{k,i} = E e_{k,i} e_{k-1,i}, m_{k-1,i}). Each expression must be
    affine in the moments and in the coupling ``S`` (the derived recursion's coupling sum
    C_k = sum_j v_j^T s_{k,j}; S_k = sum_j lambda_j m_{k,j} for SGD and heavy ball) and may
    use the learning rate ``gamma``, batch size ``B``, eigenvalue ``lam``, kurtosis ``kappa``,
    noise variance ``sigma2`` and the algorithm's hyperparameters (``beta``/``momentum``).
    It is read as s_{k+1,i} = A_i s_{k,i} + u_i S_k + f_i; the coupling and the risk
    R_k = (sum_j w_j^T s_{k,j} + sigma^2)/2 are the package's definitions for the algorithm.

    Parameters
    ----------
    expressions : mapping
        Moment (its Python name, e.g. ``"m_prev"``, or its symbol) -> SymPy expression or
        string (parsed by :func:`theory.parsing.parse_expression`; no code runs).
    algorithm : theory.Algorithm, default SGD()
    data : theory.DataModel, default Gaussian()

    Raises
    ------
    ValueError
        A moment missing or unknown, an expression that is not SymPy or a formula, uses
        other symbols, or is not affine in the moments and S (the message names the moment).

    Example
    -------
    >>> from theory import HeavyBall
    >>> rec = recursion_from_moments({
    ...     "m": "(1 + beta - gamma*lam)**2*m + gamma**2*lam**2/B*m - 2*beta*(1 + beta - gamma*lam)*c"
    ...          " + beta**2*m_prev + gamma**2*lam/B*(S + sigma2)",
    ...     "c": "(1 + beta - gamma*lam)*m - beta*c", "m_prev": "m"}, HeavyBall())
    >>> [str(s) for s in rec.moments]
    ['m_i', 'c_i', 'm_i^prev']
    """
    from .derive import derive
    algorithm = SGD() if algorithm is None else algorithm
    data = Gaussian() if data is None else data
    if not isinstance(expressions, Mapping):
        raise ValueError(f"expressions must be a mapping moment -> expression; got {type(expressions).__name__}")
    derived = derive(algorithm, data)
    moments = moment_names(derived)
    by_symbol = {s: n for n, s in moments.items()}
    given = {}
    for key, value in expressions.items():
        name = by_symbol.get(key) if isinstance(key, sp.Symbol) else key
        if name not in moments:
            raise ValueError(f"expressions: unknown moment {key!r} for {algorithm!r}; its moments are "
                             f"{list(moments)}")
        if name in given:
            raise ValueError(f"expressions: moment {name!r} given twice")
        given[name] = value
    missing = [n for n in moments if n not in given]
    if missing:
        raise ValueError(f"expressions: missing the recursion of {missing} for {algorithm!r} "
                         f"(its moments are {list(moments)})")
    names = formula_names(algorithm, moments)
    allowed = _COMMON | _hyper_symbols(algorithm) | set(moments.values())
    state = [*moments.values(), sym.S]
    rows = []
    for name in moments:
        expr = as_expression(given[name], names, argument=f"expression of {name}")
        unknown = expr.free_symbols - allowed
        if unknown:
            raise ValueError(
                f"expression of {name} uses symbols {sorted(map(str, unknown))} that are not standard symbols or "
                f"declared names of {algorithm!r}; "
                f"allowed: {sorted(map(str, allowed))} (import them from theory.symbols, or write a string "
                f"with the names {sorted(names)})")
        try:
            poly = sp.Poly(sp.expand(expr), *state)
        except sp.PolynomialError:
            poly = None
        if poly is None or poly.total_degree() > 1:
            raise ValueError(f"expression of {name} must be affine in {', '.join(moments)} and S (the moments and "
                             "the coupling); got "
                             + (f"degree {poly.total_degree()}" if poly is not None else f"{expr}"))
        rows.append([poly.coeff_monomial(x) for x in state] + [poly.coeff_monomial(1)])
    p = len(moments)
    A = sp.Matrix([r[:p] for r in rows])
    u = sp.Matrix([r[p] for r in rows])
    f = sp.Matrix([r[p + 1] for r in rows])
    return Recursion(algorithm=derived.algorithm, data=data, pairs=list(derived.pairs),
                     moments=list(derived.moments), A=A, u=u, f=f, v=derived.v, w=derived.w,
                     mean_matrix=None, gradient_moments=None)


def recursion_from_expression(expr, data: DataModel | None = None) -> Recursion:
    r"""Turn a user's expression for m_{k+1,i} into a :class:`Recursion` (SGD shape).

    ``expr`` (a SymPy expression or a string, parsed without running code) must be affine
    in the second moment ``m`` (m_{k,i}) and the coupling sum ``S`` (S_k = sum_j lambda_j
    m_{k,j}) and may use the learning rate ``gamma``, batch size ``B``, eigenvalue ``lam``,
    kurtosis ``kappa`` and noise variance ``sigma2``; it is read as
    m_{k+1,i} = a m_{k,i} + b S_k + c, with risk R_k = (S_k + sigma^2)/2.
    The special case of :func:`recursion_from_moments` with ``{"m": expr}`` and SGD.

    Raises
    ------
    ValueError
        If ``expr`` is not a SymPy expression or a formula, uses other symbols, or is not
        affine in (m, S).

    Example
    -------
    >>> from theory.symbols import gamma, B, lam, m, S, sigma2
    >>> rec = recursion_from_expression((1 - 2*gamma*lam + 2*gamma**2*lam**2)*m + gamma**2*lam*(S + sigma2))
    >>> round(rec.critical_learning_rate([1.0] * 8), 12)
    0.2
    >>> round(recursion_from_expression("(1 - gamma*lam)**2*m + gamma**2*lam*(lam*m + S + sigma2)")
    ...       .critical_learning_rate([1.0] * 8), 12)
    0.2
    """
    return recursion_from_moments({"m": expr}, SGD(), data)
