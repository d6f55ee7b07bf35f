r"""Pickles of derived SymPy objects that load without re-running SymPy's canonicalisation.

A SymPy expression pickles as its class and arguments, and unpickling calls the class again:
``Mul(*args)`` and ``Add(*args)`` flatten, sort and combine their (already canonical) arguments
once more. For the derivations kept by :mod:`theory.diskcache` that was almost the whole cost
of a load (all 206 entries of a full run's cache: 0.32 s, 0.25 s of it in ``Mul.flatten``; see
``python benchmarks/cache_loads.py``). :func:`dumps` writes sums and products as
``AssocOp._from_args(args, is_commutative)`` -- SymPy's own constructor for arguments that are
already canonical -- and powers as ``Pow(base, exp, evaluate=False)``; everything else is pickled
as usual. Loading is plain :func:`pickle.loads`, and gives objects equal to the originals
(``srepr``-identical; tested on every derived object of the claims).

Example
-------
>>> import pickle, sympy as sp
>>> x, y = sp.symbols("x y", positive=True)
>>> e = 3 * x * y**2 + x / (1 + y)
>>> back = pickle.loads(dumps(e))
>>> back == e and sp.srepr(back) == sp.srepr(e)
True
"""
from __future__ import annotations

import io
import pickle

import sympy as sp

__all__ = ["dumps"]


def _assoc(cls, args, commutative):
    """A sum or product of canonical ``args``, built without flattening them again."""
    return cls._from_args(args, commutative)


def _power(base, exp):
    """``base**exp`` as it was stored (no evaluation)."""
    return sp.Pow(base, exp, evaluate=False)


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj):
        kind = type(obj)
        if kind is sp.Add or kind is sp.Mul:
            return _assoc, (kind, obj.args, obj.is_commutative)
        if kind is sp.Pow:
            return _power, obj.args
        return NotImplemented


def dumps(value) -> bytes:
    """``pickle.dumps(value)`` (highest protocol), with SymPy sums, products and powers written to
    load without re-canonicalisation. Raises what :func:`pickle.dumps` raises."""
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(value)
    return buffer.getvalue()
