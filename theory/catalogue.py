"""The derivations that ``python -m theory latex`` prints, by id."""
from __future__ import annotations

from .algorithms import SGD, GeneralizedMomentum, HeavyBall, Nesterov
from .data import Gaussian, IndependentCoordinates
from .derive import derive
from .validation import select_by_prefix
from .games import BilinearGame
from .momentum import effective_learning_rate

__all__ = ["DERIVATIONS", "select"]

#: id -> (title, builder of the Recursion)
DERIVATIONS = {
    "sgd.gaussian": ("Minibatch SGD on least squares, Gaussian data",
                     lambda: derive(SGD(), Gaussian())),
    "sgd.independent": ("Minibatch SGD on least squares, independent coordinates with kurtosis",
                        lambda: derive(SGD(), IndependentCoordinates())),
    "momentum.heavy_ball.gaussian": ("Heavy-ball momentum on least squares, Gaussian data",
                                     lambda: derive(HeavyBall(), Gaussian())),
    "momentum.heavy_ball.independent": ("Heavy-ball momentum, independent coordinates with kurtosis",
                                        lambda: derive(HeavyBall(), IndependentCoordinates())),
    "momentum.nesterov.gaussian": ("Nesterov momentum on least squares, Gaussian data",
                                   lambda: derive(Nesterov(), Gaussian())),
    "momentum.nesterov.independent": ("Nesterov momentum, independent coordinates with kurtosis",
                                      lambda: derive(Nesterov(), IndependentCoordinates())),
    "momentum.dana.gaussian": ("Generalised momentum of DANA (gamma_1, gamma_2, gamma_3, Delta), Gaussian data",
                               lambda: derive(GeneralizedMomentum(), Gaussian())),
    "momentum.effective_learning_rate": ("Heavy ball (gamma, beta) vs SGD at gamma/(1 - beta): exact gap",
                                         lambda: effective_learning_rate(IndependentCoordinates())),
    "games.simultaneous": ("Bilinear game, simultaneous gradient steps with heavy-ball momentum",
                           lambda: BilinearGame("simultaneous")),
    "games.alternating": ("Bilinear game, alternating gradient steps with heavy-ball momentum",
                          lambda: BilinearGame("alternating")),
}


def select(ids=None):
    """[(id, (title, builder))] for ids equal to or prefixed by the given ones (all if none)."""
    return select_by_prefix({k: (k, v) for k, v in DERIVATIONS.items()}, ids, "derivation id")
