"""Numeric functions compiled from sources that SymPy's ``lambdify`` generated once and the disk cache kept.

``lambdify`` costs milliseconds per expression (printing and compiling), paid again in every process
for every derived recursion; its *source* is a pure function of the expression, so the package
generates it once (:func:`lambdify_source`, inside a :func:`theory.diskcache.persistent` function),
keeps it on disk, and compiles it in each process in microseconds (:func:`from_source`) -- in the
namespace ``lambdify`` itself uses, so the functions compute exactly what ``lambdify``'s would.
mpmath functions, needed only for high-precision refinements, are compiled on their first call
(:class:`LazySource`).

Example
-------
>>> import sympy as sp
>>> x = sp.Symbol("x")
>>> f = from_source(lambdify_source([x], 2 * x + 1))
>>> f(3.0)
7.0
"""
from __future__ import annotations

import inspect

import numpy as np
import sympy as sp

__all__ = ["LazySource", "filled", "from_source", "lambdify_source"]


def lambdify_source(args, expr, module="numpy") -> str:
    """The Python source of ``sympy.lambdify(args, expr, modules=module)``."""
    return inspect.getsource(sp.lambdify(args, expr, modules=module))


def from_source(source, module="numpy"):
    """The function defined by a source of :func:`lambdify_source`, in ``lambdify``'s namespace of ``module``."""
    namespace = {}
    exec(f"import {module}\nfrom {module} import *", namespace)   # noqa: S102 - our own generated source
    exec(compile(source, f"<sgdcheck-lambdified-{module}>", "exec"), namespace)   # noqa: S102
    return namespace["_lambdifygenerated"]


class LazySource:
    """A generated function compiled on its first call (for the rarely used mpmath versions).

    ``source`` is the generated source, or a callable returning it: then even the generation (SymPy's
    printing, the largest part of ``lambdify``) waits for the first call."""

    def __init__(self, source, module="mpmath"):
        self.source, self.module, self.fn = source, module, None

    def __call__(self, *args):
        if self.fn is None:
            source = self.source() if callable(self.source) else self.source
            self.fn = from_source(source, self.module)
        return self.fn(*args)


def filled(shape, values) -> np.ndarray:
    """(*shape, len(values)) float array of the values a compiled function returned (numbers or arrays,
    each broadcast to ``shape``): the entries of a matrix at every direction, entry index last."""
    out = np.empty((len(values), *shape))
    for n, v in enumerate(values):
        out[n] = v
    return np.moveaxis(out, 0, -1)
