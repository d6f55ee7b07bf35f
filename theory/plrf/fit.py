r"""Measured loss exponents: a power-law fit of P(k) - P_infinity on a declared window.

The curves fitted here are exact expected risks (no Monte Carlo noise), so the deviation of
log(P - P_infinity) from a straight line in log k is *systematic* (the curve is a power law only
asymptotically), not random. The error model says so:

* the fit is ordinary least squares of y = log(P(k) - P_infinity) on x = log k over points
  equally spaced in log k inside the window [k_lo, k_hi] (:func:`scipy.stats.linregress`);
* ``standard_error`` is the OLS standard error of the slope, which would be the error for
  i.i.d. residuals and is reported for comparison only;
* ``drift`` is half the difference between the slopes fitted on the two halves of the window
  (in log k): the first-order measure of how far the local exponent moves across the window,
  i.e. the systematic error of calling the window's slope *the* exponent;
* ``uncertainty`` = sqrt(standard_error^2 + drift^2) is the stated uncertainty.

:func:`local_exponents` gives the local exponent -d log(P - P_infinity)/d log k and
:func:`window_end` the first step after which it leaves predicted +- tolerance, the quantity a
sweep over d tracks (the finite-size window moves out with d).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["ExponentFit", "fit_exponent", "local_exponents", "window_end"]


@dataclass(frozen=True)
class ExponentFit:
    """The fitted exponent eta of P(k) - P_infinity ~ C k^{-eta} on ``window`` (error model: module docstring)."""

    exponent: float
    standard_error: float
    drift: float
    window: tuple
    points: int
    prefactor: float
    limit: float

    @property
    def uncertainty(self) -> float:
        return float(np.hypot(self.standard_error, self.drift))


def _curve(steps, risk, limit):
    k = np.asarray(steps, dtype=float).ravel()
    p = np.asarray(risk, dtype=float).ravel()
    if k.shape != p.shape:
        raise ValueError(f"steps and risk must have the same length; got {k.size} and {p.size}")
    if k.size < 4:
        raise ValueError(f"steps must hold at least 4 points; got {k.size}")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(p))):
        raise ValueError("steps and risk must be finite")
    if np.any(np.diff(k) <= 0) or k[0] <= 0:
        raise ValueError("steps must be positive and strictly increasing")
    limit = float(limit)
    if not np.isfinite(limit):
        raise ValueError(f"limit must be finite; got {limit!r}")
    return k, p, limit


def _slope(x, y):
    r = sps.linregress(x, y)
    return float(r.slope), float(r.stderr), float(r.intercept)


def fit_exponent(steps, risk, window, limit=0.0, points=64) -> ExponentFit:
    r"""Fit eta in P(k) - P_infinity ~ C k^{-eta} on ``window`` = (k_lo, k_hi).

    Parameters
    ----------
    steps, risk : array_like, shape (n,)
        Steps k (positive, increasing) and the exact expected risk P(k) at them.
    window : (float, float)
        The declared fit window, steps_min <= k_lo < k_hi <= steps_max; the claim that calls
        this states it.
    limit : float
        P_infinity, subtracted before the logarithm (0 for a noiseless problem); P(k) - limit
        must be positive inside the window.
    points : int
        Number of points equally spaced in log k at which the curve is interpolated (linearly
        in log-log) for the fit, >= 8; spacing in log k weights every decade equally.

    Returns
    -------
    ExponentFit
        exponent, OLS standard error, drift (half the difference of the half-window slopes),
        the window, the prefactor C.

    Raises
    ------
    ValueError
        Bad shapes, non-finite values, a window outside the steps or with k_lo >= k_hi,
        P(k) <= limit in the window, points < 8.

    Example
    -------
    >>> import numpy as np
    >>> k = np.unique(np.logspace(0, 5, 200).round())
    >>> f = fit_exponent(k, 2.0 * k**-0.8 + 1e-3, (10, 1e5), limit=1e-3)
    >>> round(f.exponent, 6), f.drift < 1e-6
    (0.8, True)

    Source: the measurement of arXiv:2505.16098 (its power-law fits of loss curves), with the
    error model of this module.
    """
    k, p, limit = _curve(steps, risk, limit)
    try:
        lo, hi = (float(w) for w in window)
    except (TypeError, ValueError):
        raise ValueError(f"window must be a pair (k_lo, k_hi); got {window!r}") from None
    if not (k[0] <= lo < hi <= k[-1]):
        raise ValueError(f"window must satisfy {k[0]:g} <= k_lo < k_hi <= {k[-1]:g} (the steps given); got {window!r}")
    if isinstance(points, bool) or int(points) != points or points < 8:
        raise ValueError(f"points must be an integer >= 8; got {points!r}")
    inside = (k >= lo) & (k <= hi)
    if np.any(p[inside] <= limit):
        raise ValueError("risk - limit must be positive inside the window (is limit above the curve?)")
    xs = np.linspace(np.log(lo), np.log(hi), int(points))
    lx = np.log(k)
    sel = (k >= k[max(0, np.searchsorted(k, lo) - 1)]) & (k <= k[min(k.size - 1, np.searchsorted(k, hi))])
    excess = np.clip(p[sel] - limit, np.finfo(float).tiny, None)
    ys = np.interp(xs, lx[sel], np.log(excess))
    slope, se, intercept = _slope(xs, ys)
    half = xs.size // 2
    s1, _, _ = _slope(xs[:half], ys[:half])
    s2, _, _ = _slope(xs[half:], ys[half:])
    return ExponentFit(exponent=-slope, standard_error=se, drift=abs(s1 - s2) / 2, window=(lo, hi),
                       points=int(points), prefactor=float(np.exp(intercept)), limit=limit)


def local_exponents(steps, risk, limit=0.0):
    r"""The local exponent -d log(P(k) - P_infinity)/d log k at each step (central differences
    in log k, :func:`numpy.gradient`); shape (n,). Entries where P(k) <= limit are NaN.

    Example
    -------
    >>> import numpy as np
    >>> k = np.logspace(0, 4, 50)
    >>> np.allclose(local_exponents(k, k**-1.5), 1.5)
    True
    """
    k, p, limit = _curve(steps, risk, limit)
    excess = p - limit
    with np.errstate(invalid="ignore", divide="ignore"):
        y = np.where(excess > 0, np.log(np.where(excess > 0, excess, 1.0)), np.nan)
    return -np.gradient(y, np.log(k))


def window_end(steps, risk, predicted, tolerance, start, limit=0.0) -> float:
    r"""The last step k >= ``start`` up to which every local exponent stays within
    ``predicted`` +- ``tolerance`` (the end of the power-law window; it moves out as d grows,
    the finite-size effect). Returns ``start`` if the curve is outside at ``start`` already.

    Raises ValueError for tolerance <= 0 or start outside the steps.

    Example
    -------
    >>> import numpy as np
    >>> k = np.logspace(0, 6, 400)
    >>> end = window_end(k, k**-1.0 + 1e-4, 1.0, 0.05, start=2.0)
    >>> 100 < end < 1000
    True
    """
    if not (float(tolerance) > 0):
        raise ValueError(f"tolerance must be > 0; got {tolerance!r}")
    k, _, _ = _curve(steps, risk, limit)
    if not (k[0] <= start <= k[-1]):
        raise ValueError(f"start must lie in [{k[0]:g}, {k[-1]:g}]; got {start!r}")
    eta = local_exponents(steps, risk, limit)
    i0 = int(np.searchsorted(k, start))
    bad = np.nonzero(~(np.abs(eta[i0:] - predicted) <= tolerance))[0]
    if bad.size == 0:
        return float(k[-1])
    return float(k[i0 + bad[0] - 1]) if bad[0] > 0 else float(start)
