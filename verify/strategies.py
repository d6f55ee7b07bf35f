"""Hypothesis strategies for property-based tests of optimisation theory.

In the style of :mod:`hypothesis.extra.numpy`: every argument accepts a value
or a strategy, arguments are validated up front and bad ones raise
:class:`hypothesis.errors.InvalidArgument`.

Example
-------
>>> from hypothesis import given
>>> from verify import strategies as sst
>>> @given(sst.problems(max_dimension=4))
... def test_stationary_risk_is_above_noise_floor(problem):
...     rec = problem.recursion()
...     assert rec.stationary_risk(**problem.stationary_kwargs()) >= problem.noise_variance / 2
>>> test_stationary_risk_is_above_noise_floor()
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st
from hypothesis.errors import InvalidArgument

from theory import SGD, Gaussian, IndependentCoordinates, SparseGaussian, derive
from theory.algorithms import Algorithm
from theory.data import DataModel

__all__ = [
    "arbitrary_spectra", "two_point_spectra", "power_law_spectra", "spectra", "batch_sizes",
    "data_models", "sparse_data_models", "critical_fractions", "learning_rates", "noise_variances", "seeds",
    "problems", "momenta",
    "Problem",
]


def _strategy(value, name):
    if isinstance(value, st.SearchStrategy):
        return value
    if value is None:
        raise InvalidArgument(f"{name} must be a value or a strategy; got None")
    return st.just(value)


def _check_range(lo, hi, name, lower=None, lower_open=True):
    for v, which in ((lo, "min"), (hi, "max")):
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            raise InvalidArgument(f"{which}_{name} must be a finite number; got {v!r}")
    if lower is not None and (lo <= lower if lower_open else lo < lower):
        raise InvalidArgument(f"min_{name} must be {'>' if lower_open else '>='} {lower}; got {lo!r}")
    if lo > hi:
        raise InvalidArgument(f"min_{name} = {lo!r} must not exceed max_{name} = {hi!r}")


def _dimensions(min_dimension, max_dimension):
    if not (isinstance(min_dimension, int) and isinstance(max_dimension, int)) or min_dimension < 1:
        raise InvalidArgument(f"dimensions must be integers >= 1; got {min_dimension!r}, {max_dimension!r}")
    if min_dimension > max_dimension:
        raise InvalidArgument(f"min_dimension = {min_dimension} must not exceed max_dimension = {max_dimension}")
    return st.integers(min_dimension, max_dimension)


def arbitrary_spectra(min_dimension=1, max_dimension=16, min_eigenvalue=1e-2, max_eigenvalue=1.0):
    """Eigenvalue arrays of shape (d,), entries log-uniform-ish in [min_eigenvalue, max_eigenvalue]."""
    dims = _dimensions(min_dimension, max_dimension)
    _check_range(min_eigenvalue, max_eigenvalue, "eigenvalue", lower=0)
    lo, hi = math.log(min_eigenvalue), math.log(max_eigenvalue)
    return dims.flatmap(lambda d: st.lists(st.floats(lo, hi), min_size=d, max_size=d)).map(
        lambda xs: np.exp(np.asarray(xs, dtype=float)).clip(min_eigenvalue, max_eigenvalue))


def two_point_spectra(min_dimension=2, max_dimension=16, min_eigenvalue=1e-2, max_eigenvalue=1.0):
    """Spectra with two distinct eigenvalues lambda_1 > lambda_2, each on at least one direction."""
    dims = _dimensions(max(2, min_dimension), max(2, max_dimension))
    _check_range(min_eigenvalue, max_eigenvalue, "eigenvalue", lower=0)

    @st.composite
    def draw(data):
        d = data(dims)
        k = data(st.integers(1, d - 1))
        l1 = data(st.floats(min_eigenvalue, max_eigenvalue))
        ratio = data(st.floats(min_eigenvalue / max_eigenvalue, 1.0, exclude_max=True))
        l2 = max(min_eigenvalue, l1 * ratio)
        if l2 >= l1:
            l2 = l1 / 2 if l1 / 2 >= min_eigenvalue else l1 * 0.999
        return np.array([l1] * k + [l2] * (d - k))
    return draw()


def power_law_spectra(min_dimension=1, max_dimension=16, min_exponent=0.5, max_exponent=2.0, scale=1.0):
    """lambda_i = scale * i^(-alpha), i = 1..d, alpha drawn in [min_exponent, max_exponent]."""
    dims = _dimensions(min_dimension, max_dimension)
    _check_range(min_exponent, max_exponent, "exponent", lower=0, lower_open=False)
    if not (isinstance(scale, (int, float)) and scale > 0 and math.isfinite(scale)):
        raise InvalidArgument(f"scale must be finite and > 0; got {scale!r}")
    return st.tuples(dims, st.floats(min_exponent, max_exponent)).map(
        lambda t: scale * np.arange(1, t[0] + 1, dtype=float) ** (-t[1]))


def spectra(min_dimension=1, max_dimension=16, min_eigenvalue=1e-2, max_eigenvalue=1.0):
    """Arbitrary, two-point or power-law spectra (shape (d,), float64, entries > 0)."""
    parts = [arbitrary_spectra(min_dimension, max_dimension, min_eigenvalue, max_eigenvalue),
             power_law_spectra(min_dimension, max_dimension, scale=max_eigenvalue)]
    if max_dimension >= 2:
        parts.append(two_point_spectra(min_dimension, max_dimension, min_eigenvalue, max_eigenvalue))
    return st.one_of(*parts)


def batch_sizes(min_value=1, max_value=8):
    """Batch sizes B in [min_value, max_value]."""
    if not isinstance(min_value, int) or min_value < 1:
        raise InvalidArgument(f"min_value must be an integer >= 1; got {min_value!r}")
    if not isinstance(max_value, int) or max_value < min_value:
        raise InvalidArgument(f"max_value must be an integer >= min_value = {min_value}; got {max_value!r}")
    return st.integers(min_value, max_value)


def data_models(dimension=None, min_kurtosis=1.0, max_kurtosis=10.0, gaussian=True, per_coordinate=True):
    """Gaussian() or IndependentCoordinates(kurtosis=...) with kurtosis in [min, max].

    With ``dimension`` given and ``per_coordinate``, kurtosis arrays of shape (d,) are drawn too.
    """
    _check_range(min_kurtosis, max_kurtosis, "kurtosis", lower=1, lower_open=False)
    kurt = st.floats(min_kurtosis, max_kurtosis)
    options = [kurt.map(lambda k: IndependentCoordinates(kurtosis=k))]
    if per_coordinate and dimension is not None:
        options.append(st.lists(kurt, min_size=dimension, max_size=dimension)
                       .map(lambda ks: IndependentCoordinates(kurtosis=ks)))
    if gaussian:
        options.insert(0, st.just(Gaussian()))
    return st.one_of(*options)


def sparse_data_models(dimension=None, min_p=0.1, max_p=1.0, per_coordinate=True):
    """SparseGaussian(p=...) with p in [min_p, max_p] (kappa = 3/p); with ``dimension`` and
    ``per_coordinate``, arrays of shape (d,) are drawn too.

    Raises InvalidArgument unless 0 < min_p <= max_p <= 1.
    """
    _check_range(min_p, max_p, "p", lower=0)
    if max_p > 1:
        raise InvalidArgument(f"max_p must be <= 1 (a probability); got {max_p!r}")
    p = st.floats(min_p, max_p)
    options = [p.map(SparseGaussian)]
    if per_coordinate and dimension is not None:
        options.append(st.lists(p, min_size=dimension, max_size=dimension).map(SparseGaussian))
    return st.one_of(*options)


def critical_fractions(inside=True, min_fraction=None, max_fraction=None):
    """Learning rate as a fraction of the critical one: in (0, 1) inside, > 1 outside.

    Defaults: [0.05, 0.5] inside (well inside, where fourth moments of the
    iterates stay finite so Monte Carlo means obey the CLT), [1.05, 2] outside.
    """
    lo = min_fraction if min_fraction is not None else (0.05 if inside else 1.05)
    hi = max_fraction if max_fraction is not None else (0.5 if inside else 2.0)
    _check_range(lo, hi, "fraction", lower=0)
    if inside and hi >= 1:
        raise InvalidArgument(f"max_fraction must be < 1 inside the stable region; got {hi!r}")
    if not inside and lo <= 1:
        raise InvalidArgument(f"min_fraction must be > 1 outside the stable region; got {lo!r}")
    return st.floats(lo, hi)


def learning_rates(critical_learning_rate, inside=True, min_fraction=None, max_fraction=None):
    """Learning rates gamma = fraction * critical_learning_rate (see :func:`critical_fractions`)."""
    if not (isinstance(critical_learning_rate, (int, float)) and critical_learning_rate > 0):
        raise InvalidArgument(f"critical_learning_rate must be > 0; got {critical_learning_rate!r}")
    return critical_fractions(inside, min_fraction, max_fraction).map(lambda f: f * critical_learning_rate)


def noise_variances(min_value=0.0, max_value=1.0):
    """Label-noise variances sigma^2 in [min_value, max_value]."""
    _check_range(min_value, max_value, "value", lower=0, lower_open=False)
    return st.floats(min_value, max_value)


def seeds():
    """Integer entropy for ``numpy.random.SeedSequence`` (drawn, never global state)."""
    return st.integers(0, 2**64 - 1)


@dataclass
class Problem:
    """One drawn problem: everything :func:`verify.simulate` and a recursion need."""

    algorithm: Algorithm
    data: DataModel
    eigenvalues: np.ndarray
    batch: int
    learning_rate: float
    critical_learning_rate: float
    fraction: float
    noise_variance: float
    initial: np.ndarray
    seed: int
    hyper: dict = field(default_factory=dict)

    def recursion(self):
        """The package's derived recursion for this problem's algorithm and data."""
        return derive(self.algorithm, self.data)

    def stationary_kwargs(self) -> dict:
        return dict(eigenvalues=self.eigenvalues, learning_rate=self.learning_rate, batch=self.batch,
                    noise_variance=self.noise_variance, **self.hyper)

    def kwargs(self, steps: int) -> dict:
        """Keyword arguments shared by ``Recursion.trajectory`` and ``verify.simulate``."""
        return dict(self.stationary_kwargs(), initial=self.initial, steps=steps)

    def describe(self) -> dict:
        return dict(algorithm=repr(self.algorithm), data=repr(self.data),
                    eigenvalues=self.eigenvalues.tolist(), batch=self.batch,
                    learning_rate=self.learning_rate, fraction_of_critical=self.fraction,
                    critical_learning_rate=self.critical_learning_rate,
                    noise_variance=self.noise_variance, initial=self.initial.tolist(), seed=self.seed,
                    **self.hyper)


def momenta(min_value=-0.9, max_value=0.9):
    """Heavy-ball / Nesterov momentum beta in [min_value, max_value], a sub-interval of (-1, 1)."""
    _check_range(min_value, max_value, "momentum")
    if not (-1 < min_value and max_value < 1):
        raise InvalidArgument(f"momenta need -1 < min_value <= max_value < 1; got [{min_value}, {max_value}]")
    return st.floats(min_value, max_value)


def problems(algorithm=None, data=None, eigenvalues=None, batch=None, fraction=None,
             noise_variance=None, initial=None, seed=None, inside=True, min_dimension=1, max_dimension=8,
             hyper=None):
    """Complete problems: spectrum, data model, batch, learning rate (as a fraction of the
    critical one of the package's derived recursion), noise, initial error and seed.

    With ``inside=True`` (the default) the learning rate is also below the fourth-moment
    critical learning rate gamma_c^(4) wherever :mod:`theory.fourth` derives it (SGD on
    independent symmetric coordinates): the iterates then have finite fourth moments, so
    Monte Carlo means obey the central limit theorem and :func:`verify.compare` accepts the
    problem. (Measured gamma_c^(4)/gamma_c >= 0.575 over Gaussian, sparse, kurtosis-10 and
    Rademacher data with d = 1..8, B = 1..4, so the default fractions 0.05..0.5 are inside.)

    Every argument is a value or a strategy; None picks the default strategy.
    ``hyper`` (a dict, or a strategy of dicts, e.g. ``st.fixed_dictionaries({"momentum":
    momenta()})``) gives the algorithm's other hyperparameters.
    """
    algorithm = _strategy(algorithm if algorithm is not None else SGD(), "algorithm")
    eig = _strategy(eigenvalues, "eigenvalues") if eigenvalues is not None else spectra(min_dimension, max_dimension)
    bat = _strategy(batch, "batch") if batch is not None else batch_sizes(1, 4)
    frac = _strategy(fraction, "fraction") if fraction is not None else critical_fractions(inside)
    noise = _strategy(noise_variance, "noise_variance") if noise_variance is not None else noise_variances()
    sd = _strategy(seed, "seed") if seed is not None else seeds()
    hyp = _strategy(hyper if hyper is not None else {}, "hyper")

    @st.composite
    def draw(dr):
        alg = dr(algorithm)
        lam = np.asarray(dr(eig), dtype=float)
        d = len(lam)
        dm = dr(_strategy(data, "data") if data is not None else data_models(dimension=d))
        b = dr(bat)
        f = dr(frac)
        if initial is None:
            e0 = np.asarray(dr(st.lists(st.floats(-1.0, 1.0), min_size=d, max_size=d)))
            e0 = np.where(np.abs(e0) < 0.05, 0.05, e0)
        else:
            e0 = np.broadcast_to(np.asarray(dr(_strategy(initial, "initial")), float), (d,)).copy()
        h = dict(dr(hyp))
        rec = derive(alg, dm)
        gc = rec.critical_learning_rate(lam, batch=b, **h)
        if inside:   # f gc < gamma_c^(4), decided without locating gamma_c^(4)
            from .stats.laws import below_fourth_moment_critical
            assume(below_fourth_moment_critical(rec, lam, f * gc, b, **h) is not False)
        return Problem(alg, dm, lam, b, f * gc, gc, f, dr(noise), e0, dr(sd), h)
    return draw()
