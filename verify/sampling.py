r"""Exact sufficient-statistic sampling of the minibatch gradient for Gaussian data.

For least squares with x_b = sqrt(lambda) z_b, z_b ~ N(0, I_d) and label noise eps_b ~ N(0, sigma^2),
the minibatch gradient at the gradient point p is

    g = (1/B) sum_b x_b (<x_b, p> - eps_b) = sqrt(lambda) * G / B,   G = sum_b z_b r_b,
    r_b = s_b - eps_b,  s_b = <z_b, q>,  q = sqrt(lambda) * p.

**Derivation.** Write z_b = (s_b/<q, q>) q + w_b^perp with w_b^perp = (I - q q^T/<q, q>) z_b. For a
Gaussian z_b the pair (s_b, w_b^perp) is jointly Gaussian and uncorrelated (E[w^perp s] =
(I - q q^T/<q, q>) q = 0), hence independent: s_b ~ N(0, <q, q>) and w_b^perp ~ N(0, I - q q^T/<q, q>),
the conditional law of z_b given s_b. Therefore

    G = q (sum_b s_b r_b)/<q, q> + sum_b r_b w_b^perp,

and given the 2B scalars (s_b, eps_b) the second term is a fixed linear combination of independent
N(0, P) vectors (P the projector), i.e. N(0, (sum_b r_b^2) P), which is sqrt(sum_b r_b^2) P w for one
w ~ N(0, I_d). So

    G =_d q (A - sqrt(R2) <q, w>)/<q, q> + sqrt(R2) w,   A = sum_b s_b r_b,  R2 = sum_b r_b^2,

exactly in law (jointly over replicas and steps, since each step uses fresh draws): d + 2B normal
variates per step instead of B (d + 1). For q = 0, s_b = 0, A = 0 and G = sqrt(R2) w.

**Which data models.** Exact for ``theory.Gaussian`` (any spectrum: in the eigenbasis the
coordinates are independent Gaussians). ``SparseGaussian`` has an exact law *given the B masks*
(the same formula with q replaced by q * mask_b per sample), but the masks cost d uniform draws
per sample, so nothing is saved and it is not implemented. ``Rademacher``,
``IndependentCoordinates`` (three-point) and ``EmpiricalDistribution`` have no closed-form
conditional law of z_b given <z_b, q> (a lattice or finite-population conditioning problem): they
are always sampled directly.
"""
from __future__ import annotations

import numpy as np

from theory.data import Gaussian

__all__ = ["direct_gradient", "has_exact_sufficient_law", "sufficient_gradient"]


def has_exact_sufficient_law(data) -> bool:
    """True for data models whose minibatch gradient this module samples exactly (Gaussian only)."""
    return type(data) is Gaussian


def sufficient_gradient(rng: np.random.Generator, q, noise_sd: float, batch: int, out=None):
    r"""Draw G = sum_b z_b (<z_b, q> - eps_b) for each row of ``q`` from its exact law (module docstring).

    Parameters
    ----------
    rng : numpy.random.Generator
    q : ndarray, shape (n, d)
        sqrt(lambda) * p per replica.
    noise_sd : float >= 0
        sigma, the label-noise standard deviation.
    batch : int >= 1
        B.
    out : ndarray (n, d), optional

    Returns
    -------
    ndarray, shape (n, d)
        G (the engine multiplies by sqrt(lambda)/B). Draw order: s (n, B), then eps (n, B) if
        sigma > 0, then w (n, d).

    Example
    -------
    >>> G = sufficient_gradient(np.random.default_rng(0), np.ones((3, 4)), 0.5, 8)
    >>> G.shape
    (3, 4)
    """
    q = np.asarray(q, dtype=float)
    n, d = q.shape
    qq = np.einsum("rd,rd->r", q, q)
    r = rng.standard_normal((n, batch)) * np.sqrt(qq)[:, None]
    a = np.einsum("rb,rb->r", r, r)          # sum s_b^2 (before the noise is subtracted)
    if noise_sd:
        eps = rng.standard_normal((n, batch)) * noise_sd
        a -= np.einsum("rb,rb->r", r, eps)   # A = sum s_b (s_b - eps_b)
        r -= eps
    rt = np.sqrt(np.einsum("rb,rb->r", r, r))
    w = rng.standard_normal((n, d))
    qw = np.einsum("rd,rd->r", q, w)
    with np.errstate(divide="ignore", invalid="ignore"):
        coef = np.where(qq > 0, (a - rt * qw) / qq, 0.0)
    out = np.multiply(w, rt[:, None], out=out)
    out += q * coef[:, None]
    return out


def direct_gradient(rng: np.random.Generator, q, noise_sd: float, batch: int):
    """The same G by direct sampling of the B vectors z_b (the reference for :func:`sufficient_gradient`)."""
    q = np.asarray(q, dtype=float)
    n, d = q.shape
    z = rng.standard_normal((n, batch, d))
    r = np.einsum("rbd,rd->rb", z, q)
    if noise_sd:
        r -= noise_sd * rng.standard_normal((n, batch))
    return np.einsum("rbd,rb->rd", z, r)
