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
from .validation import check_kurtosis, check_sparsity

__all__ = ["DataModel", "Gaussian", "IndependentCoordinates", "SparseGaussian", "Rademacher",
           "EmpiricalDistribution"]


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

    def even_moment(self, n: int) -> sp.Expr:
        """E z_i^n (n = 0, 2, 4, 6, 8) of a *symmetric* law (all odd moments 0).

        The even-sector (fourth-moment) recursion of :func:`theory.derive_fourth`
        needs these rules; the second-moment derivation never calls this method.

        Raises
        ------
        ValueError
            If the model declares no symmetric moment rules (this base class), or
            ``n`` is not one of 0, 2, 4, 6, 8.
        """
        raise ValueError(f"data must have independent coordinates with a symmetric law and declared "
                         f"moments E z^6, E z^8 for a fourth-moment recursion; {self!r} has none")

    def even_moment_values(self, dimension: int) -> dict:
        """Numeric values {symbol: array of shape (d,)} of the symbols in :meth:`even_moment`."""
        raise ValueError(f"data must have independent coordinates with a symmetric law and declared "
                         f"moments E z^6, E z^8 for a fourth-moment recursion; {self!r} has none")

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

    def even_moment(self, n: int) -> sp.Expr:
        """(n - 1)!! for n = 0, 2, 4, 6, 8: 1, 1, 3, 15, 105 (Isserlis)."""
        return self.standardized_moment(_check_even_order(n))

    def even_moment_values(self, dimension: int) -> dict:
        """kappa = 3, E z^6 = 15, E z^8 = 105 in every direction, each of shape (d,)."""
        return {sym.kappa: np.full(dimension, 3.0), sym.mu6: np.full(dimension, 15.0),
                sym.mu8: np.full(dimension, 105.0)}

    def __repr__(self):
        return "Gaussian()"


class IndependentCoordinates(DataModel):
    r"""Independent coordinates with kurtosis kappa (scalar or one per eigendirection).

    x_i = sqrt(lambda_i) z_i with z_i independent, E z_i = 0, E z_i^2 = 1,
    E z_i^4 = kappa_i (>= 1). The second-moment dynamics of SGD depend on the
    law of z_i only through kappa_i; the Monte Carlo sampler uses the symmetric
    three-point law z in {-a, 0, a} with P(z != 0) = 1/kappa_i, a = sqrt(kappa_i)
    (Rademacher for kappa = 1).

    The fourth-moment (even-sector) recursion of :func:`theory.derive_fourth`
    needs more of the law: it assumes the law is symmetric (odd moments 0) and
    takes E z_i^6 and E z_i^8 from the same three-point law,
    E z^6 = kappa^2, E z^8 = kappa^3 (:meth:`even_moment_values`); the symbolic
    rules use the symbols mu_{6,i}, mu_{8,i} (:meth:`even_moment`).

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

    def even_moment(self, n: int) -> sp.Expr:
        """1, 1, kappa_i, mu_{6,i}, mu_{8,i} for n = 0, 2, 4, 6, 8 (the law is taken symmetric)."""
        return {0: sp.Integer(1), 2: sp.Integer(1), 4: sym.kappa, 6: sym.mu6,
                8: sym.mu8}[_check_even_order(n)]

    def even_moment_values(self, dimension: int) -> dict:
        """The three-point law z in {-a, 0, a}, a = sqrt(kappa), P(z != 0) = 1/kappa:
        E z^6 = kappa^2, E z^8 = kappa^3, each of shape (d,).

        Example
        -------
        >>> IndependentCoordinates(kurtosis=[1.0, 2.0]).even_moment_values(2)[sym.mu8]
        array([1., 8.])
        """
        k = self.kurtosis_values(dimension)
        return {sym.kappa: k, sym.mu6: k**2, sym.mu8: k**3}

    def _key(self):
        return tuple(np.atleast_1d(self.kurtosis).tolist())

    def __repr__(self):
        k = self.kurtosis.tolist()
        return f"IndependentCoordinates(kurtosis={k!r})"


class SparseGaussian(IndependentCoordinates):
    r"""Sparse inputs: each coordinate kept with probability p_i, Gaussian when kept.

    x_i = sqrt(lambda_i / p_i) b_i g_i with b_i ~ Bernoulli(p_i), g_i ~ N(0, 1),
    all independent, so E x_i^2 = lambda_i and the standardised coordinate
    z_i = b_i g_i / sqrt(p_i) has E z_i^4 = 3 / p_i = kappa_i (odd moments 0).
    The moment rules are those of :class:`IndependentCoordinates` with
    kappa_i = 3/p_i, so the derivation is the same mechanism (cached per type).

    Parameters
    ----------
    p : float or array of shape (d,)
        Probability that a coordinate is non-zero, 0 < p_i <= 1 (p = 1: Gaussian).

    Raises
    ------
    ValueError
        If a p_i is outside (0, 1] or NaN, or the array is not 1-D.

    Example
    -------
    >>> SparseGaussian(p=[0.5, 0.25]).kurtosis_values(2)
    array([ 6., 12.])

    Source: REFERENCES.md common notation (kappa = 3/p); Everett & Paquette,
    arXiv:2605.28961 (sparse inputs).
    """

    name = "sparse"

    def __init__(self, p=1.0):
        self.p = check_sparsity(p)
        super().__init__(kurtosis=3.0 / self.p)

    @classmethod
    def from_symbolic_key(cls, key):
        return cls(1.0)

    def latex_moment_rules(self) -> str:
        return (r"x_i = \sqrt{\lambda_i/p_i}\, b_i g_i,\ b_i \sim \mathrm{Bernoulli}(p_i),\ "
                r"g_i \sim \mathcal{N}(0,1):\quad \mathbb{E} z_i^4 = \kappa_i = 3/p_i")

    def standardized_moment(self, n: int) -> sp.Expr:
        return sp.Integer(0) if n == 3 else super().standardized_moment(n)

    def kurtosis_values(self, dimension: int) -> np.ndarray:
        return 3.0 / self.sparsity_values(dimension)

    def even_moment_values(self, dimension: int) -> dict:
        """kappa = 3/p, E z^6 = 15/p^2, E z^8 = 105/p^3 (z = b g / sqrt(p)), each of shape (d,)."""
        p = self.sparsity_values(dimension)
        return {sym.kappa: 3.0 / p, sym.mu6: 15.0 / p**2, sym.mu8: 105.0 / p**3}

    def sparsity_values(self, dimension: int) -> np.ndarray:
        """p_i for each of the ``dimension`` coordinates, shape (d,)."""
        p = check_sparsity(self.p, dimension)
        return np.broadcast_to(p, (dimension,)).astype(float)

    def _key(self):
        return tuple(np.atleast_1d(self.p).tolist())

    def __repr__(self):
        return f"SparseGaussian(p={self.p.tolist()!r})"


class Rademacher(IndependentCoordinates):
    r"""Rademacher inputs: z_i = +-1 with probability 1/2 each, independent (kappa = 1).

    The moment rules are those of :class:`IndependentCoordinates` with kappa_i = 1,
    the smallest kurtosis of any law with unit variance.

    Example
    -------
    >>> Rademacher().kurtosis_values(3)
    array([1., 1., 1.])
    """

    name = "rademacher"

    def __init__(self):
        super().__init__(kurtosis=1.0)

    def standardized_moment(self, n: int) -> sp.Expr:
        return sp.Integer(0) if n == 3 else super().standardized_moment(n)

    def latex_moment_rules(self) -> str:
        return (r"z_i = \pm 1 \text{ with probability } \tfrac12:\quad \mathbb{E} z_i^4 = \kappa_i = 1")

    def _key(self):
        return ()

    def __repr__(self):
        return "Rademacher()"


class EmpiricalDistribution(DataModel):
    r"""The empirical distribution of a data set: x is a row of X, drawn uniformly with replacement.

    The rows are centred (x_r <- x_r - mean_r x_r; ``centre=False`` keeps them as they are, for
    training on a fixed data set without an intercept, so K is the uncentred second moment) and
    rotated to the eigenbasis of K = (1/n) sum_r x_r x_r^T = V diag(lambda) V^T; directions
    with lambda below ``rank_tolerance * max(lambda)`` (e.g. pixels that are
    always zero) carry no data and are dropped, so ``eigenvalues`` has the
    rank of K entries. With targets y (centred) the best linear fit is
    theta* = K^{-1} (1/n) sum_r x_r y_r and the residual
    epsilon_r = y_r - <x_r, theta*> has E[x epsilon] = 0 but is *not*
    independent of x; without targets epsilon = 0.

    The coordinates are not independent, so the diagonal second-moment
    recursion of :func:`theory.derive` does not close; use
    :func:`theory.derive_empirical`, which iterates the full d x d second
    moment and the mean of the error with the data set's own fourth moments.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Data matrix, n >= 2 rows, finite entries.
    y : array_like, shape (n,), optional
        Targets (centred internally unless ``centre=False``).
    rank_tolerance : float, default 1e-10
    centre : bool, default True
        Centre rows and targets; with False, theta* is the least-squares fit without intercept and
        E[x epsilon] = 0 still holds (normal equations), which is all the SGD recursion uses.

    Attributes
    ----------
    rows : ndarray, shape (n, r)
        Centred rows in the eigenbasis, r = rank of K.
    eigenvalues : ndarray, shape (r,)
        lambda_1 >= ... >= lambda_r > 0.
    basis : ndarray, shape (d, r)
        V: eigenbasis coordinates are x^T V.
    optimum : ndarray, shape (r,)
        theta* in the eigenbasis.
    residuals : ndarray, shape (n,)
        epsilon_r.
    residual_variance : float
        E epsilon^2 (the risk floor is residual_variance / 2).

    Raises
    ------
    ValueError
        X not 2-D, fewer than 2 rows, NaN or infinite entries, y of the wrong
        shape or not finite, or K = 0.

    Example
    -------
    >>> import numpy as np
    >>> data = EmpiricalDistribution([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    >>> data.eigenvalues
    array([2. , 0.5])
    """

    name = "empirical"

    def __init__(self, X, y=None, rank_tolerance: float = 1e-10, centre: bool = True):
        from .validation import check_data_matrix
        X = check_data_matrix(X)
        if not isinstance(centre, bool):
            raise TypeError(f"centre must be True or False; got {centre!r}")
        n = X.shape[0]
        Xc = X - X.mean(axis=0) if centre else X
        K = Xc.T @ Xc / n
        lam, V = np.linalg.eigh(K)
        order = np.argsort(lam)[::-1]
        lam, V = lam[order], V[:, order]
        if not lam[0] > 0:
            raise ValueError("X must not have all rows equal (the covariance K is zero)" if centre else
                             "X must not be all zero (the second moment K is zero)")
        keep = lam > rank_tolerance * lam[0]
        self.eigenvalues, self.basis = lam[keep], V[:, keep]
        self.rows = Xc @ self.basis
        self.dimension = len(self.eigenvalues)
        if y is None:
            self.optimum = np.zeros(self.dimension)
            self.residuals = np.zeros(n)
        else:
            y = np.asarray(y, dtype=float)
            if y.shape != (n,):
                raise ValueError(f"y must have shape ({n},) (one target per row of X); got shape {y.shape}")
            if not np.all(np.isfinite(y)):
                raise ValueError("y must contain only finite entries (no NaN or inf)")
            yc = y - y.mean() if centre else y
            self.optimum = (self.rows.T @ yc / n) / self.eigenvalues
            self.residuals = yc - self.rows @ self.optimum
        self.residual_variance = float(np.mean(self.residuals**2))
        self.standardized_rows = self.rows / np.sqrt(self.eigenvalues)
        self.n = n
        self.centre = centre

    @classmethod
    def from_symbolic_key(cls, key):
        raise ValueError("the diagonal second-moment recursion does not close for an empirical "
                         "distribution (its coordinates are dependent); use theory.derive_empirical")

    def standardized_moment(self, n: int) -> sp.Expr:
        raise ValueError("an empirical distribution has no per-coordinate moment rules; "
                         "use theory.derive_empirical")

    def even_moment(self, n: int) -> sp.Expr:
        raise ValueError("data must have independent coordinates with a symmetric law for a fourth-moment "
                         "recursion; an empirical distribution has dependent coordinates")

    even_moment_values = even_moment

    def kurtosis_values(self, dimension: int) -> np.ndarray:
        """Per-coordinate kurtosis E z_i^4 of the standardised eigen-coordinates, shape (r,)."""
        if dimension != self.dimension:
            raise ValueError(f"this empirical distribution has {self.dimension} eigendirections "
                             f"(the rank of its covariance); got {dimension} eigenvalues")
        return np.mean(self.standardized_rows**4, axis=0)

    def _key(self):
        return (id(self),)

    def __repr__(self):
        return f"EmpiricalDistribution(n={self.n}, rank={self.dimension}{'' if self.centre else ', centre=False'})"


def _check_even_order(n) -> int:
    if n not in (0, 2, 4, 6, 8):
        raise ValueError(f"moment order n must be one of 0, 2, 4, 6, 8 for the symmetric moment rules; got {n!r}")
    return int(n)
