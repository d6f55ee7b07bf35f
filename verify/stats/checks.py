r"""The scalar kinds of check: scalar comparison, one-sided growth/decay, exact identity,
numeric agreement and reported-only rows.

Skewness. The per-replica quantities of SGD (squared errors, risks) are right-skewed, so the
studentised mean T = (mean - mu) / se has a heavier lower tail than Student's t (Edgeworth:
P(T <= x) = Phi(x) + gamma (2x^2 + 1) phi(x) / (6 sqrt n) + O(1/n) for population skewness
gamma). Every test here on a mean uses Hall's monotone transformation (Hall 1992, "On the
removal of skewness by transformation", JRSS B 54, 221-228, with a = gamma / (3 sqrt n)),

.. math:: g(T) = T + a T^2 + \tfrac13 a^2 T^3 + \tfrac{\gamma}{6\sqrt n},

with the sample skewness for gamma, which is N(0, 1) up to O(1/n): the skewness term of
the Edgeworth expansion is removed. It needs finite third (for the correction, sixth)
moments of the per-replica quantity, i.e. learning rates below the fourth-moment critical
learning rate (:mod:`theory.fourth`); :func:`growth` with ``method="markov"`` needs none.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
from scipy import stats as sps

from .result import Verdict, check_alpha

__all__ = ["hall_z", "scalar_comparison", "growth", "exact_identity", "numeric_agreement", "reported",
           "z_of_p"]


def hall_z(mean, standard_error, reference, skewness, replicas):
    r"""Hall's skewness-corrected statistic g(T) of the studentised mean (module docstring).

    Parameters are arrays or scalars of the same shape: the Monte Carlo ``mean``, its
    ``standard_error``, the ``reference`` value under the null, the sample ``skewness`` of
    the per-replica values and the number of ``replicas``. Returns g(T), approximately
    N(0, 1) under the null.

    Example
    -------
    >>> round(float(hall_z(1.0, 0.1, 1.0, 0.0, 100)), 12)    # no skewness: T itself
    0.0
    >>> float(hall_z(0.8, 0.1, 1.0, 2.0, 100)) > -2.0          # right skew: the lower tail is lighter in g
    True
    """
    t = (np.asarray(mean, dtype=float) - reference) / standard_error
    g = np.asarray(skewness, dtype=float)
    root = np.sqrt(np.asarray(replicas, dtype=float))
    a = g / (3.0 * root)
    return t + a * t * t + a * a * t**3 / 3.0 + g / (6.0 * root)


def z_of_p(p, two_sided=True):
    """The equivalent normal deviate of a p-value (the statistic of the test kinds)."""
    p = float(p)
    if p <= 0:
        return float("inf")
    return float(sps.norm.isf(p / 2 if two_sided else p))


def _summary(samples, mean, standard_error, skewness, replicas):
    if samples is not None:
        x = np.asarray(samples, dtype=float).ravel()
        if x.size < 2:
            raise ValueError(f"samples must hold at least 2 replicas; got {x.size}")
        if not np.all(np.isfinite(x)):
            raise ValueError("samples must be finite")
        n = x.size
        mean = float(x.mean())
        dv = x - mean
        m2 = float(dv @ dv)
        standard_error = math.sqrt(m2 / (n - 1) / n)
        skewness = float(np.sum(dv**3) / n / (m2 / n) ** 1.5) if m2 > 0 else 0.0
        return mean, standard_error, skewness, n
    if mean is None or standard_error is None or replicas is None:
        raise ValueError("give either samples, or mean, standard_error and replicas")
    if not (standard_error >= 0) or not math.isfinite(standard_error):
        raise ValueError(f"standard_error must be a finite number >= 0; got {standard_error!r}")
    if isinstance(replicas, bool) or int(replicas) != replicas or replicas < 2:
        raise ValueError(f"replicas must be an integer >= 2; got {replicas!r}")
    return float(mean), float(standard_error), float(skewness or 0.0), int(replicas)


def scalar_comparison(theory, samples=None, *, mean=None, standard_error=None, skewness=0.0, replicas=None,
                      alpha=1e-6, label="", parameters=None, seed=None) -> Verdict:
    r"""Two-sided test of H0: E X = ``theory`` from Monte Carlo replicas of X.

    The statistic is Hall's skewness-corrected studentised mean (:func:`hall_z`), referred to
    N(0, 1). Give the per-replica ``samples`` (shape (n,)), or their ``mean``,
    ``standard_error``, sample ``skewness`` and number of ``replicas``. A ``standard_error``
    of 0 (every replica equal) makes it an exact comparison to 1e-9 relative.

    Returns
    -------
    Verdict
        kind ``"scalar"``; ``statistic`` = abs(g) (equivalent normal deviate), ``p_value`` two-sided.

    Raises
    ------
    ValueError
        alpha outside (0, 1), fewer than 2 replicas, non-finite values.

    Example
    -------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).exponential(2.0, size=4000)    # skewness 2
    >>> scalar_comparison(2.0, x, alpha=1e-3).passed, scalar_comparison(2.2, x, alpha=1e-3).passed
    (True, False)
    """
    alpha = check_alpha(alpha)
    if not math.isfinite(float(theory)):
        raise ValueError(f"theory must be finite; got {theory!r}")
    mean, se, skew, n = _summary(samples, mean, standard_error, skewness, replicas)
    theory = float(theory)
    if se <= 1e-12 * max(abs(theory), abs(mean)):
        ok = abs(mean - theory) <= 1e-9 * max(abs(theory), abs(mean)) + 1e-300
        p, z, test = (1.0 if ok else 0.0), (0.0 if ok else float("inf")), "deterministic: equal to 1e-9 relative"
    else:
        g = float(hall_z(mean, se, theory, skew, n))
        p = float(min(1.0, 2 * sps.norm.sf(abs(g))))
        z, test = abs(g), f"Hall-corrected t (skewness {skew:.2g}, n = {n})"
    return Verdict(bool(p > alpha), z, p, alpha, 1, None, dict(parameters or {}), seed, kind="scalar",
                   test=test, label=label, theory=theory, monte_carlo=mean, standard_error=se)


def growth(threshold, samples=None, *, direction="greater", method="t", factor=2.0, mean=None,
           standard_error=None, skewness=0.0, replicas=None, alpha=1e-6, label="", theory=float("nan"),
           parameters=None, seed=None) -> Verdict:
    r"""One-sided test that E X exceeds (``"greater"``) or falls below (``"less"``) ``threshold``.

    The null hypothesis is the opposite inequality; the check passes iff it is rejected at
    ``alpha`` (the alternative is established).

    ``method="t"``: Hall's skewness-corrected studentised mean (needs finite variance of X).
    ``method="markov"`` (``direction="greater"`` only, X >= 0): valid with no moment at all.
    Under H0: E X <= threshold, Markov's inequality gives P(X > c threshold) <= 1/c for each
    replica, so the number K of replicas above c threshold (c = ``factor`` > 1) is
    stochastically smaller than Binomial(n, 1/c) and p = P(Binomial(n, 1/c) >= K). This is
    the test of divergence beyond a critical learning rate, where the iterates have heavy
    tails and no t-test is valid.

    Returns
    -------
    Verdict
        kind ``"growth"``; ``statistic`` the equivalent one-sided normal deviate.

    Raises
    ------
    ValueError
        Unknown direction or method, Markov test with negative samples or without samples,
        factor <= 1, alpha outside (0, 1).

    Example
    -------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).pareto(1.5, size=2000) * 10    # heavy tail, E X = 20
    >>> growth(1.0, x, method="markov", factor=4, alpha=1e-6).passed   # E X > 1 established
    True
    """
    alpha = check_alpha(alpha)
    if direction not in ("greater", "less"):
        raise ValueError(f"direction must be 'greater' or 'less'; got {direction!r}")
    threshold = float(threshold)
    if method == "markov":
        if direction != "greater":
            raise ValueError("method='markov' establishes growth only (direction='greater'): no test "
                             "without moments can establish that a mean is small")
        if samples is None:
            raise ValueError("method='markov' needs the per-replica samples")
        if not (isinstance(factor, (int, float)) and factor > 1 and math.isfinite(factor)):
            raise ValueError(f"factor must be a finite number > 1; got {factor!r}")
        x = np.asarray(samples, dtype=float).ravel()
        if x.size < 1 or np.any(~np.isfinite(x) & ~np.isposinf(x)) or np.any(x < 0):
            raise ValueError("method='markov' needs non-negative samples")
        if threshold <= 0:
            raise ValueError(f"threshold must be > 0 for method='markov'; got {threshold!r}")
        k = int(np.sum(x > factor * threshold))
        p = float(sps.binom.sf(k - 1, x.size, 1.0 / factor))
        return Verdict(bool(p <= alpha), z_of_p(p, False), p, alpha, 1, None, dict(parameters or {}), seed,
                       kind="growth", label=label, theory=float(theory), monte_carlo=float(np.mean(x)),
                       standard_error=float("nan"),
                       test=(f"Markov-binomial: {k} of {x.size} replicas above {factor:g} x threshold "
                             f"{threshold:.4g}; H0 allows at most 1/{factor:g}"))
    if method != "t":
        raise ValueError(f"method must be 't' or 'markov'; got {method!r}")
    mean, se, skew, n = _summary(samples, mean, standard_error, skewness, replicas)
    if se == 0:
        holds = mean > threshold if direction == "greater" else mean < threshold
        p, test = (0.0 if holds else 1.0), "deterministic"
    else:
        g = float(hall_z(mean, se, threshold, skew, n))
        p = float(sps.norm.sf(g) if direction == "greater" else sps.norm.cdf(g))
        test = f"one-sided Hall-corrected t (skewness {skew:.2g}, n = {n})"
    return Verdict(bool(p <= alpha), z_of_p(p, False), p, alpha, 1, None, dict(parameters or {}), seed,
                   kind="growth", test=test, label=label, theory=float(theory), monte_carlo=mean,
                   standard_error=se)


def _exact_number(x):
    import sympy as sp
    if isinstance(x, (int, Fraction, sp.Basic)) and not isinstance(x, bool):
        return sp.nsimplify(x) if isinstance(x, Fraction) else sp.sympify(x)
    raise ValueError(f"exact_identity compares exact values (int, Fraction, SymPy); got {type(x).__name__} {x!r}")


def exact_identity(value, reference, *, label="", parameters=None) -> Verdict:
    """Check that two exactly computed values (integers, Fractions, SymPy expressions) are equal.

    Passes iff ``simplify(value - reference) == 0``; no tolerance. ``statistic`` is
    abs(value - reference) as a float (0 when equal). kind ``"exact"``.

    Raises ValueError for floats or other inexact values (use :func:`numeric_agreement`).

    Example
    -------
    >>> import sympy as sp
    >>> x = sp.Symbol("x")
    >>> exact_identity((x + 1)**2, x**2 + 2*x + 1).passed
    True
    """
    import sympy as sp
    a, b = _exact_number(value), _exact_number(reference)
    diff = sp.simplify(a - b)
    ok = diff == 0
    try:
        stat = abs(float(diff))
    except TypeError:
        stat = 0.0 if ok else float("inf")
    try:
        th, mc = float(b), float(a)
    except TypeError:
        th = mc = float("nan")
    return Verdict(bool(ok), stat, 1.0 if ok else 0.0, 0.0, 0, None, dict(parameters or {}), None,
                   kind="exact", test="exact arithmetic (SymPy)", label=label, theory=th, monte_carlo=mc,
                   standard_error=0.0)


def numeric_agreement(value, reference, digits, *, label="", parameters=None) -> Verdict:
    """Check that ``value`` agrees with ``reference`` to at least ``digits`` significant digits.

    Both may be arrays (mpmath numbers are accepted); the agreeing digits of an entry are
    -log10(abs(value - reference) / abs(reference)) (absolute where the reference is 0), and the
    worst entry counts. kind ``"numeric"``, ``statistic`` = the worst entry's digits.

    Raises ValueError for shapes that differ, non-finite values or digits <= 0.

    Example
    -------
    >>> numeric_agreement(3.14159265, 3.141592653589793, 8).passed
    True
    >>> round(numeric_agreement(3.14, 3.141592653589793, 8).statistic, 2)
    3.3
    """
    import mpmath
    if not (isinstance(digits, (int, float)) and digits > 0):
        raise ValueError(f"digits must be a number > 0; got {digits!r}")
    a = np.atleast_1d(np.asarray(value, dtype=object))
    b = np.atleast_1d(np.asarray(reference, dtype=object))
    if a.shape != b.shape:
        raise ValueError(f"value and reference must have the same shape; got {a.shape} and {b.shape}")
    worst, where = float("inf"), None
    pairs = enumerate(zip(a.ravel(), b.ravel()))
    fa, fb = _float_array(value), _float_array(reference)
    if fa is not None and fb is not None and fa.size > 1 and np.all(np.isfinite(fa)) and np.all(np.isfinite(fb)):
        # float arrays: locate the worst entry in float64, then measure it as below (same statistic)
        with np.errstate(divide="ignore", invalid="ignore"):
            err = np.abs(fa - fb) / np.where(fb != 0, np.abs(fb), 1.0)
        j = int(np.argmax(err.ravel()))
        pairs = [(j, (a.ravel()[j], b.ravel()[j]))]
    # mpf(x) rounds to the working precision: work with digits + 10 so that mpmath inputs of high
    # precision are compared to the digits asked for (at the default 15 a 20-digit check saw 15 at most)
    with mpmath.workdps(max(mpmath.mp.dps, math.ceil(digits) + 10)):
        for j, (x, y) in pairs:
            x, y = mpmath.mpf(x), mpmath.mpf(y)
            if not (mpmath.isfinite(x) and mpmath.isfinite(y)):
                raise ValueError("numeric_agreement needs finite values")
            err = abs(x - y) / (abs(y) if y != 0 else 1)
            dg = float("inf") if err == 0 else float(-mpmath.log10(err))
            if dg < worst:
                worst, where = dg, j
    j = where if where is not None else 0
    return Verdict(bool(worst >= digits), worst, float("nan"), 0.0, 0, None, dict(parameters or {}), None,
                   kind="numeric", test=f"at least {digits:g} significant digits", label=label,
                   theory=float(b.ravel()[j]), monte_carlo=float(a.ravel()[j]), standard_error=0.0)


def _float_array(x):
    """``x`` as a float64 array if it is one (or a float list), else None (mpmath and other objects)."""
    arr = np.asarray(x)
    return np.atleast_1d(arr) if arr.dtype == np.float64 else None


def reported(value, reference=float("nan"), *, standard_error=float("nan"), statistic=None, label="",
             parameters=None) -> Verdict:
    """A number that is shown but not tested (kind ``"reported"``, never counted as passed).

    ``statistic`` defaults to the relative deviation abs(value - reference) / abs(reference).

    Example
    -------
    >>> v = reported(1.0245, 1.0, label="Gaussian-equivalent theory on digits")
    >>> v.outcome, round(v.statistic, 4), v.counted
    ('reported', 0.0245, False)
    """
    value, reference = float(value), float(reference)
    if statistic is None:
        statistic = abs(value - reference) / abs(reference) if reference not in (0.0,) and math.isfinite(
            reference) else float("nan")
    return Verdict(False, float(statistic), float("nan"), 0.0, 0, None, dict(parameters or {}), None,
                   kind="reported", test="reported only", label=label, theory=reference, monte_carlo=value,
                   standard_error=float(standard_error))
