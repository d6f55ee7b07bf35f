"""Data models in the eigenbasis of the covariance K = diag(lambda).

A data model's job in a derivation is to supply the *moment rules*: the
moments E z_i^n of the standardised coordinate z_i = x_i / sqrt(lambda_i), with
coordinates independent. From them :mod:`theory.derive` derives the
conditional moments of the minibatch gradient (e.g. E[x x^T A x x^T]). The
Monte Carlo samplers for each model live in :mod:`verify.samplers`.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from . import symbols as sym
from .validation import check_kurtosis

__all__ = ["DataModel", "Gaussian", "IndependentCoordinates"]


class DataModel:
    """Base class: independent standardised coordinates with given moments."""

    #: short identifier used in claim ids and LaTeX
    name = "data"

    def standardized_moment(self, n: int) -> sp.Expr:  # pragma: no cover - abstract
        """E z_i^n for the standardised coordinate (n = 0..4)."""
        raise NotImplementedError

    def kurtosis_values(self, dimension: int) -> np.ndarray:
        """Numeric kurtosis kappa_i of each of the ``dimension`` coordinates, shape (d,)."""
        raise NotImplementedError

    def substitutions(self, dimension: int) -> dict:
        """Numeric values of the model's per-direction symbols, each of shape (d,)."""
        return {sym.kappa: self.kurtosis_values(dimension)}

    def latex_moment_rules(self) -> str:
        """The moment rules as LaTeX (one line)."""
        k = sp.latex(self.standardized_moment(4), symbol_names=sym.LATEX_NAMES)
        return (r"\mathbb{E} z_i = 0,\quad \mathbb{E} z_i^2 = 1,\quad \mathbb{E} z_i^4 = " + k
                + r",\quad z_i = x_i/\sqrt{\lambda_i}\ \text{independent}")

    def symbolic_key(self):
        """What the symbolic derivation depends on (numeric parameters excluded)."""
        return ()

    @classmethod
    def from_symbolic_key(cls, key):
        """A representative instance with the given symbolic key."""
        return cls()

    def __eq__(self, other):
        return type(self) is type(other) and self._key() == other._key()

    def __hash__(self):
        return hash((type(self).__name__, self._key()))

    def _key(self):
        return ()


class Gaussian(DataModel):
    r"""Gaussian data x ~ N(0, K).

    Moment rules by Isserlis' theorem: E z^n is the number of pairings of n
    objects, (n-1)!! for even n and 0 for odd n; in matrix form
    E[x x^T A x x^T] = 2 K A K + tr(K A) K.

    Example
    -------
    >>> Gaussian().standardized_moment(4)
    3
    """

    name = "gaussian"

    def standardized_moment(self, n: int) -> sp.Expr:
        if n % 2:
            return sp.Integer(0)
        return sp.factorial2(n - 1) if n else sp.Integer(1)

    def kurtosis_values(self, dimension: int) -> np.ndarray:
        return np.full(dimension, 3.0)

    def __repr__(self):
        return "Gaussian()"


class IndependentCoordinates(DataModel):
    r"""Independent coordinates with kurtosis kappa (scalar or one per eigendirection).

    x_i = sqrt(lambda_i) z_i with z_i independent, E z_i = 0, E z_i^2 = 1,
    E z_i^4 = kappa_i (>= 1). The second-moment dynamics of SGD depend on the
    law of z_i only through kappa_i; the Monte Carlo sampler uses the symmetric
    three-point law z in {-a, 0, a} with P(z != 0) = 1/kappa_i, a = sqrt(kappa_i)
    (Rademacher for kappa = 1).

    Parameters
    ----------
    kurtosis : float or array of shape (d,)
        kappa_i >= 1, finite.

    Raises
    ------
    ValueError
        If a kurtosis is below 1, not finite, or the array is not 1-D.

    Example
    -------
    >>> IndependentCoordinates(kurtosis=[1.0, 6.0]).kurtosis_values(2)
    array([1., 6.])
    """

    name = "independent"

    def __init__(self, kurtosis=3.0):
        self.kurtosis = check_kurtosis(kurtosis)

    def standardized_moment(self, n: int) -> sp.Expr:
        rules = {0: sp.Integer(1), 1: sp.Integer(0), 2: sp.Integer(1),
                 3: sp.Symbol("mu_3", real=True), 4: sym.kappa}
        if n not in rules:
            raise ValueError(f"moment order n must be 0..4 for IndependentCoordinates; got {n}")
        return rules[n]

    def kurtosis_values(self, dimension: int) -> np.ndarray:
        k = check_kurtosis(self.kurtosis, dimension)
        return np.broadcast_to(k, (dimension,)).astype(float)

    def _key(self):
        return tuple(np.atleast_1d(self.kurtosis).tolist())

    def __repr__(self):
        k = self.kurtosis.tolist()
        return f"IndependentCoordinates(kurtosis={k!r})"
