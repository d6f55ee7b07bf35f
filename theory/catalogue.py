"""The derivations that ``python -m theory latex`` prints, by id."""
from __future__ import annotations

from .algorithms import SGD
from .data import Gaussian, IndependentCoordinates, Rademacher, SparseGaussian
from .derive import derive
from .empirical import derive_empirical
from .scaling import learning_rate_batch_ratio_expansion

__all__ = ["DERIVATIONS", "select"]

#: id -> (title, builder of the Recursion)
DERIVATIONS = {
    "sgd.gaussian": ("Minibatch SGD on least squares, Gaussian data",
                     lambda: derive(SGD(), Gaussian())),
    "sgd.independent": ("Minibatch SGD on least squares, independent coordinates with kurtosis",
                        lambda: derive(SGD(), IndependentCoordinates())),
    "sgd.sparse": ("Minibatch SGD on least squares, sparse Gaussian inputs (kappa_i = 3/p_i)",
                   lambda: derive(SGD(), SparseGaussian(0.5))),
    "sgd.rademacher": ("Minibatch SGD on least squares, Rademacher inputs (kappa = 1)",
                       lambda: derive(SGD(), Rademacher())),
    "sgd.empirical": ("Minibatch SGD on least squares, empirical distribution: full mean and second-moment "
                      "recursion with the data set's own moments",
                      lambda: derive_empirical(SGD(), _example_empirical())),
    "sgd.ratio": ("Stationary risk of SGD at fixed learning-rate / batch-size ratio, to first order in gamma",
                  lambda: learning_rate_batch_ratio_expansion(derive(SGD(), Gaussian()))),
}


def _example_empirical():
    from .data import EmpiricalDistribution
    return EmpiricalDistribution([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])


def select(ids=None):
    """[(id, (title, builder))] for ids equal to or prefixed by the given ones (all if none)."""
    if not ids:
        return list(DERIVATIONS.items())
    out = []
    for key in ids:
        hits = [(k, v) for k, v in DERIVATIONS.items() if k == key or k.startswith(key.rstrip(".") + ".")]
        if not hits:
            raise ValueError(f"unknown derivation id {key!r}; known: {', '.join(DERIVATIONS)}")
        out += [h for h in hits if h not in out]
    return out
