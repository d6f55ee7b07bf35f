r"""A restricted parser for symbolic input given as text: it never runs code.

SymPy's ``sympify`` and ``parse_expr`` hand strings to Python's ``eval``, so a string
such as ``"__import__('os').system('...')"`` executes. Every string the package accepts
as a formula (a user's recursion, closed form or ODE drift) goes through
:func:`parse_expression` instead: the text is parsed by :func:`ast.parse` (which only
builds a syntax tree) and the tree is walked node by node; SymPy objects are built from
a whitelist, and any other node raises a :class:`ValueError` that names the offending
token. Nothing in the text is ever evaluated by Python.

Accepted
--------
* numbers: integers (at most :data:`MAX_DIGITS` digits) and decimals, both read exactly
  (``0.1`` is the rational 1/10);
* names: the symbols passed by the caller (the package's standard symbols, the
  algorithm's declared hyperparameters and moments) and the constants ``pi``, ``E``;
* ``+ - * / **`` (``^`` is read as ``**``, as SymPy does), unary ``+``/``-``, parentheses;
* calls of the functions in :data:`FUNCTIONS` by name, with positional arguments only.

Refused (``ValueError``)
------------------------
attribute access (``x.y``), subscripts, lambdas, comprehensions, keyword arguments, calls of
anything not in :data:`FUNCTIONS` (``__import__``, ``eval``, ``getattr``...), any name that is
not a declared symbol (dunders included), strings, comparisons, boolean operators, text
longer than :data:`MAX_LENGTH` characters, and numeric powers with exponent above
:data:`MAX_EXPONENT` (which would make SymPy compute huge integers).
"""
from __future__ import annotations

import ast
import io
import tokenize
from collections.abc import Mapping
from fractions import Fraction

import sympy as sp

__all__ = ["CONSTANTS", "FUNCTIONS", "MAX_LENGTH", "as_expression", "parse_expression"]

#: Functions a formula may call, by name.
FUNCTIONS = {
    "sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log, "Rational": sp.Rational, "Abs": sp.Abs,
    "Min": sp.Min, "Max": sp.Max,
}
#: Constants a formula may name.
CONSTANTS = {"pi": sp.pi, "E": sp.E}
#: Longest accepted text.
MAX_LENGTH = 4000
#: Most digits of an integer literal.
MAX_DIGITS = 30
#: Largest exponent of a power whose base and exponent are both numbers.
MAX_EXPONENT = 1000
#: Most digits of an exact rational power a**n that the parser lets SymPy compute.
MAX_POWER_DIGITS = 10000

_BINARY = {ast.Add: sp.Add, ast.Sub: lambda a, b: a - b, ast.Mult: sp.Mul, ast.Div: lambda a, b: a / b,
           ast.Pow: sp.Pow}


class _Refused(ValueError):
    pass


def _token(node, text):
    seg = ast.get_source_segment(text, node)
    return seg if seg is not None else type(node).__name__


def _walk(node, text, names, argument):
    def refuse(what, sub=None):
        raise ValueError(f"{argument}: {what} {_token(sub if sub is not None else node, text)!r} is not "
                         "allowed in a formula (only numbers, the declared symbols, + - * / ** and the "
                         f"functions {sorted(FUNCTIONS)})")

    if isinstance(node, ast.Expression):
        return _walk(node.body, text, names, argument)
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            refuse("the literal")
        seg = _token(node, text)
        if isinstance(value, int):
            if len(str(abs(value))) > MAX_DIGITS:
                refuse(f"an integer of more than {MAX_DIGITS} digits,")
            return sp.Integer(value)
        try:  # exact decimal: the literal as written
            return sp.Rational(Fraction(seg.replace("_", "")))
        except (ValueError, ZeroDivisionError):
            return sp.Rational(Fraction(value))
    if isinstance(node, ast.Name):
        if node.id in names:
            return names[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        raise ValueError(f"{argument}: unknown name {node.id!r}; allowed names: {sorted(names)} and the "
                         f"constants {sorted(CONSTANTS)}")
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        x = _walk(node.operand, text, names, argument)
        return -x if isinstance(node.op, ast.USub) else x
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        a = _walk(node.left, text, names, argument)
        b = _walk(node.right, text, names, argument)
        if isinstance(node.op, ast.Pow) and a.is_number and b.is_number:
            if not b.is_real or abs(b) > MAX_EXPONENT:
                refuse(f"a numeric power with exponent beyond {MAX_EXPONENT},")
            if a.is_Rational and b.is_Integer and abs(int(b)) * len(str(max(abs(a.p), a.q))) > MAX_POWER_DIGITS:
                refuse(f"a power of more than {MAX_POWER_DIGITS} digits,")
        if isinstance(node.op, ast.Div) and b == 0:
            raise ValueError(f"{argument}: division by zero in {_token(node, text)!r}")
        return _BINARY[type(node.op)](a, b)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            raise ValueError(f"{argument}: call of {_token(node.func, text)!r} is not allowed; allowed "
                             f"functions: {sorted(FUNCTIONS)}")
        if node.keywords:
            refuse("the keyword argument", node.keywords[0])
        for a in node.args:
            if isinstance(a, ast.Starred):
                refuse("the starred argument", a)
        args = [_walk(a, text, names, argument) for a in node.args]
        try:
            return FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{argument}: bad arguments in {_token(node, text)!r}: {exc}") from None
    if isinstance(node, ast.Attribute):
        refuse("attribute access")
    if isinstance(node, ast.Subscript):
        refuse("the subscript")
    if isinstance(node, ast.Lambda):
        refuse("the lambda")
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        refuse("the comprehension")
    refuse(f"the {type(node).__name__} expression")


def parse_expression(text: str, names: Mapping[str, sp.Basic], *, argument: str = "expr") -> sp.Expr:
    r"""Parse ``text`` into a SymPy expression without evaluating any code.

    Parameters
    ----------
    text : str
        The formula, in Python syntax (``**`` or ``^`` for powers).
    names : mapping str -> sympy.Basic
        The names the formula may use and the SymPy objects they stand for.
    argument : str
        The argument's name, used in error messages.

    Returns
    -------
    sympy.Expr

    Raises
    ------
    ValueError
        Syntax errors, text longer than :data:`MAX_LENGTH`, and any token outside the
        whitelist (see the module docstring); the message names ``argument`` and the token.

    Example
    -------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> parse_expression("2*x**2 + sqrt(x)/3 + 0.5", {"x": x}) == 2*x**2 + sp.sqrt(x)/3 + sp.Rational(1, 2)
    True
    >>> try:
    ...     parse_expression("__import__('os').system('true')", {"x": x})
    ... except ValueError as exc:
    ...     print(str(exc)[:50])
    expr: call of "__import__('os').system" is not all
    """
    if not isinstance(text, str):
        raise ValueError(f"{argument} must be a string; got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"{argument} is longer than {MAX_LENGTH} characters ({len(text)})")
    try:
        text = _xor_to_power(text.strip())
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, tokenize.TokenError) as exc:
        msg = exc.msg if isinstance(exc, SyntaxError) else exc.args[0]
        raise ValueError(f"{argument}: not a formula ({msg}) in {text!r}") from None
    return _walk(tree, text, dict(names), argument)


def _xor_to_power(text):
    """``^`` -> ``**`` on the token stream (so it binds as a power, as in SymPy; nothing is run)."""
    if "^" not in text:
        return text
    tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    return tokenize.untokenize((t.type, "**" if t.type == tokenize.OP and t.string == "^" else t.string)
                               for t in tokens).strip()


def _canonical(expr, names):
    """Replace a user's own Symbol("S") (other assumptions, same name) by the declared symbol."""
    by_name = {**{str(v): v for v in names.values() if isinstance(v, sp.Symbol)},
               **{k: v for k, v in names.items() if isinstance(v, sp.Symbol)}}
    swap = {s: by_name[s.name] for s in expr.free_symbols
            if isinstance(s, sp.Symbol) and s.name in by_name and by_name[s.name] != s}
    return expr.xreplace(swap) if swap else expr


def as_expression(value, names: Mapping[str, sp.Basic], *, argument: str = "expr") -> sp.Expr:
    """A SymPy expression from a user's value: SymPy objects as they are (a symbol named like a
    declared one, e.g. ``Symbol("S")``, stands for it whatever its assumptions), exact numbers
    (int, Fraction) as rationals, strings through :func:`parse_expression`; anything else
    (floats, callables, arbitrary objects) raises ValueError naming ``argument``.

    Example
    -------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> as_expression("x/2", {"x": x}), as_expression(Fraction(1, 3), {})
    (x/2, 1/3)
    """
    if isinstance(value, str):
        return parse_expression(value, names, argument=argument)
    if isinstance(value, bool):
        raise ValueError(f"{argument} must be a SymPy expression or a string; got a bool")
    if isinstance(value, sp.Basic):
        if not isinstance(value, sp.Expr):
            raise ValueError(f"{argument} must be a SymPy expression; got {type(value).__name__}")
        return _canonical(value, names)
    if isinstance(value, int):
        return sp.Integer(value)
    if isinstance(value, Fraction):
        return sp.Rational(value.numerator, value.denominator)
    if isinstance(value, float):
        return sp.Float(value)
    raise ValueError(f"{argument} must be a SymPy expression or a string formula; got "
                     f"{type(value).__name__} {value!r}")
