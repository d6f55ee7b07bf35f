"""Samplers of the standardised coordinates z (x = sqrt(lambda) z) for each data model.

A sampler is ``fn(model, rng, shape) -> ndarray`` of float64 with the model's
moments: E z = 0, E z^2 = 1, E z^4 = kappa_i along the last axis (length d).
A data model whose label residual is tied to x (``EmpiricalDistribution``)
has a sampler returning ``(z, residual)`` with ``residual`` of shape
``shape[:-1]``; the engine subtracts it from <x, p> like label noise.
Register a sampler for a new :class:`theory.DataModel` with :func:`register`.
"""
from __future__ import annotations

import numpy as np

from theory.data import (DataModel, EmpiricalDistribution, Gaussian, IndependentCoordinates, Rademacher,
                         SparseGaussian)

__all__ = ["register", "sampler_for", "sample_standardized"]

_SAMPLERS: dict = {}


def register(model_type):
    """Decorator registering ``fn(model, rng, shape)`` as the sampler of ``model_type``."""
    def deco(fn):
        _SAMPLERS[model_type] = fn
        return fn
    return deco


def sampler_for(model: DataModel):
    """The registered sampler of ``model``'s type (raises ValueError if none)."""
    for cls in type(model).__mro__:
        if cls in _SAMPLERS:
            return _SAMPLERS[cls]
    raise ValueError(f"no Monte Carlo sampler is registered for data model {model!r}")


def sample_standardized(model: DataModel, rng: np.random.Generator, shape) -> np.ndarray:
    """Draw standardised coordinates of ``model`` with the given shape (last axis d)."""
    return sampler_for(model)(model, rng, shape)


@register(Gaussian)
def _gaussian(model, rng, shape):
    return rng.standard_normal(shape)


@register(IndependentCoordinates)
def _three_point(model, rng, shape):
    """Symmetric three-point law: z = +-sqrt(kappa) w.p. 1/(2 kappa) each, else 0."""
    kappa = model.kurtosis_values(shape[-1])
    keep = 1.0 / kappa
    u = rng.random(shape)
    scale = np.sqrt(kappa)
    return np.where(u < keep, np.where(u < 0.5 * keep, -scale, scale), 0.0)


@register(SparseGaussian)
def _sparse_gaussian(model, rng, shape):
    """z = b g / sqrt(p): b ~ Bernoulli(p), g ~ N(0, 1)."""
    p = model.sparsity_values(shape[-1])
    z = rng.standard_normal(shape)
    keep = rng.random(shape) < p
    z *= keep
    z *= 1.0 / np.sqrt(p)
    return z


@register(Rademacher)
def _rademacher(model, rng, shape):
    """z = +-1 with probability 1/2 each (one random bit per variate)."""
    n = int(np.prod(shape))
    bits = np.unpackbits(rng.integers(0, 256, size=(n + 7) // 8, dtype=np.uint8), count=n)
    return (bits.astype(np.float64) * 2.0 - 1.0).reshape(shape)


@register(EmpiricalDistribution)
def _empirical(model, rng, shape):
    """Rows drawn uniformly with replacement; returns (standardised rows, their residuals)."""
    idx = rng.integers(0, model.n, size=shape[:-1])
    return model.standardized_rows[idx], model.residuals[idx]
