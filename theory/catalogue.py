"""The derivations that ``python -m theory latex`` prints, by id."""
from __future__ import annotations

from .algorithms import SGD
from .data import Gaussian, IndependentCoordinates
from .derive import derive
from .validation import select_by_prefix

__all__ = ["DERIVATIONS", "select"]

#: id -> (title, builder of the Recursion)
DERIVATIONS = {
    "sgd.gaussian": ("Minibatch SGD on least squares, Gaussian data",
                     lambda: derive(SGD(), Gaussian())),
    "sgd.independent": ("Minibatch SGD on least squares, independent coordinates with kurtosis",
                        lambda: derive(SGD(), IndependentCoordinates())),
}


def select(ids=None):
    """[(id, (title, builder))] for ids equal to or prefixed by the given ones (all if none)."""
    return select_by_prefix({k: (k, v) for k, v in DERIVATIONS.items()}, ids, "derivation id")
