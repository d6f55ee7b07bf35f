"""The derivations that ``python -m theory latex`` prints, by id."""
from __future__ import annotations

from .algorithms import SGD
from .data import Gaussian, IndependentCoordinates
from .derive import derive

__all__ = ["DERIVATIONS", "select"]

#: id -> (title, builder of the Recursion)
DERIVATIONS = {
    "sgd.gaussian": ("Minibatch SGD on least squares, Gaussian data",
                     lambda: derive(SGD(), Gaussian())),
    "sgd.independent": ("Minibatch SGD on least squares, independent coordinates with kurtosis",
                        lambda: derive(SGD(), IndependentCoordinates())),
    "highline.sgd": ("High Line ODE: d -> infinity limit of SGD (step g/d, t = k/d), Volterra form, g_c = 2d/tr K",
                     lambda: _highline().derive_limit()),
    "highline.homogenized_sgd": ("Homogenized SGD: the SDE and its generator on the second moments",
                                 lambda: _highline().homogenized_sgd()),
    "highline.line_search": ("Idealised exact line search: two-eigenvalue fixed point and limiting learning rate",
                             lambda: _adaptive().two_eigenvalue_line_search()),
    "highline.adagrad_norm": ("AdaGrad-Norm: learning-rate ODE and the isotropic Lambert-W limit",
                              lambda: _adaptive().adagrad_norm_limit()),
}


def _highline():
    from . import highline
    return highline


def _adaptive():
    from . import adaptive
    return adaptive


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
