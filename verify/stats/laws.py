r"""Exact laws of the Monte Carlo estimators, where the package can derive them.

For SGD, heavy ball, Nesterov and the generalised momentum of DANA (schedules included) on data
with independent symmetric coordinates,
:mod:`theory.fourth` derives the
fourth moments E[e_{k,i}^2 e_{k,j}^2], hence the exact variance over replicas of every
block-averaged risk and squared error that :func:`verify.compare` tests, and the
fourth-moment critical learning rate gamma_c^(4) beyond which those variances grow without
bound (no test based on a central limit theorem is valid there). :func:`exact_laws` returns
them for a prediction made by :meth:`theory.Recursion.trajectory`, or None where they are
not available (other algorithms, schedules, empirical data, hand-made predictions).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["ExactLaws", "exact_laws", "HeavyTailError", "below_fourth_moment_critical",
           "fourth_moment_critical_learning_rate"]


class HeavyTailError(ValueError):
    """A comparison was asked at a learning rate where the estimators' variance is unbounded."""


@dataclass
class ExactLaws:
    """Exact variances over replicas of the per-replica block averages (shapes (n_blocks,), (n_blocks, d)).

    ``fourth_moment_critical_learning_rate`` (gamma_c^(4), nan where undefined) is located when first
    read (the guard of :func:`exact_laws` needs only whether the learning rate is below it).
    """

    block_risk_variance: np.ndarray
    time_average_variance: float
    block_second_moment_variance: np.ndarray
    _critical: object = field(default=float("nan"), repr=False)   # a float, or a callable returning it

    @property
    def fourth_moment_critical_learning_rate(self) -> float:
        if callable(self._critical):
            self._critical = float(self._critical())
        return self._critical


def _fourth(recursion):
    """The fourth-moment recursion for ``recursion``'s algorithm and data, or None if not derivable."""
    try:
        from theory import SGD, HeavyBall, Nesterov
        from theory.fourth import derive_fourth
    except ImportError:  # pragma: no cover
        return None
    if recursion is None or getattr(recursion, "algorithm", None) not in (SGD(), HeavyBall(), Nesterov()):
        return None
    try:
        key = (recursion.algorithm, recursion.data)
        hash(key)
    except TypeError:   # pragma: no cover - an unhashable user data model: not memoised
        key = None
    if key is not None and key in _FOURTH:
        return _FOURTH[key]
    try:
        fourth = derive_fourth(recursion.algorithm, recursion.data)
    except (ValueError, NotImplementedError, TypeError):
        fourth = None
    if key is not None:
        if len(_FOURTH) >= 256:   # drawn data models (e.g. per-direction kurtosis) are many: keep the memo small
            _FOURTH.clear()
        _FOURTH[key] = fourth
    return fourth


#: derive_fourth per (algorithm, data), asked for every comparison of a claim
_FOURTH: dict = {}


_CACHE: dict = {}


def _cached(key, compute, size=512):
    """A small memo (gamma_c^(4) and time-average covariances are asked again and again by null studies)."""
    if key not in _CACHE:
        if len(_CACHE) >= size:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = compute()
    return _CACHE[key]


def _problem_key(recursion, lam, *rest):
    return (repr(recursion.algorithm), repr(recursion.data), np.asarray(lam, dtype=float).tobytes(), *rest)


def _hyper(recursion, values):
    """The algorithm's hyperparameters other than the learning rate, from ``values`` (None if one is
    missing or is a schedule)."""
    names = [n for n in recursion.algorithm.hyperparameters if n != "learning_rate"]
    if any(n not in values or callable(values[n]) for n in names):
        return None
    return {n: float(values[n]) for n in names}


def fourth_moment_critical_learning_rate(recursion, eigenvalues, batch=1, **hyper):
    """gamma_c^(4) for ``recursion``'s algorithm and data (cached), or None if not derivable.

    ``hyper``: the algorithm's other hyperparameters (``momentum`` for heavy ball and Nesterov);
    None if one of them is missing.
    """
    problem = _fourth_problem(recursion, eigenvalues, batch, hyper)
    if problem is None:
        return None
    fourth, lam, batch, hyper, key = problem
    return _cached(key, lambda: float(fourth.critical_learning_rate(lam, batch=batch, **hyper)))


def _fourth_problem(recursion, eigenvalues, batch, hyper):
    """(fourth-moment recursion, eigenvalues, batch, hyperparameters, gamma_c^(4) cache key), or None if
    gamma_c^(4) is not derivable for ``recursion`` or a hyperparameter is missing."""
    fourth = _fourth(recursion)
    hyper = _hyper(recursion, hyper) if fourth is not None else None
    if hyper is None:
        return None
    lam, batch = np.ascontiguousarray(eigenvalues, dtype=float), int(batch)
    return fourth, lam, batch, hyper, _problem_key(recursion, lam, "gc4", batch, tuple(sorted(hyper.items())))


def below_fourth_moment_critical(recursion, eigenvalues, learning_rate, batch=1, **hyper):
    """Whether ``learning_rate`` < gamma_c^(4) for ``recursion``'s algorithm and data (cached), or None if
    gamma_c^(4) is not derivable (as :func:`fourth_moment_critical_learning_rate`).

    Decided without locating gamma_c^(4) (:meth:`theory.FourthMomentRecursion.below_critical_learning_rate`:
    for SGD one spectral radius at the learning rate; for heavy ball and Nesterov a scan of the map
    below it), unless gamma_c^(4) of this problem is already cached.

    Example
    -------
    >>> from theory import derive
    >>> below_fourth_moment_critical(derive(), [1.0, 0.5], 0.1, batch=2)
    True
    """
    problem = _fourth_problem(recursion, eigenvalues, batch, hyper)
    if problem is None:
        return None
    fourth, lam, batch, hyper, key = problem
    gamma = float(learning_rate)
    if key in _CACHE:   # gamma_c^(4) of this problem is known
        return bool(gamma < _CACHE[key])
    return _cached(_problem_key(recursion, lam, "below", gamma, batch, tuple(sorted(hyper.items()))),
                   lambda: bool(fourth.below_critical_learning_rate(lam, gamma, batch=batch, **hyper)))


def exact_laws(prediction, edges, guard=True):
    """Exact variances of the block averages for ``prediction`` (see the module docstring), or None.

    Raises :class:`HeavyTailError` (a ValueError) if ``guard`` and the learning rate is at or
    above gamma_c^(4): the message names gamma_c^(4) and the valid alternatives.
    """
    rec = getattr(prediction, "recursion", None)
    params = getattr(prediction, "parameters", None) or {}
    generalized = _generalized_laws(rec, params, edges)
    if generalized is not None:
        return generalized
    fourth = _fourth(rec)
    if fourth is None or not params:
        return None
    if any(callable(v) for v in params.values()):
        return None
    # a user's recursion (theory.user) gets the package's own laws: they depend on the problem, not on the formula
    hyper = _hyper(rec, params)
    if hyper is None:
        return None
    lam = np.asarray(params["eigenvalues"], dtype=float)
    gamma, batch = float(params["learning_rate"]), int(params.get("batch", 1))

    def critical():   # gamma_c^(4), located only when asked for (the guard needs only the comparison)
        return fourth_moment_critical_learning_rate(rec, lam, batch, **hyper)
    if guard and not below_fourth_moment_critical(rec, lam, gamma, batch, **hyper):
        gc4 = critical()
        raise HeavyTailError(
            f"learning_rate = {gamma:.6g} is at or above the fourth-moment critical learning rate "
            f"gamma_c^(4) = {gc4:.6g} of this problem: the fourth moments of the iterates, hence the variance "
            "of every Monte Carlo mean compare uses, grow without bound, and no t-test is valid. Compare at a "
            "learning rate below gamma_c^(4), or establish divergence with verify.stats.growth(method='markov')")
    sigma2, e0 = float(params.get("noise_variance", 0.0)), np.atleast_1d(np.asarray(params.get("initial", 1.0), float))
    tac = _cached(_problem_key(rec, lam, "tac", gamma, batch, sigma2, e0.tobytes(), tuple(int(e) for e in edges),
                               tuple(sorted(hyper.items()))),
                  lambda: fourth.time_average_covariance(lam, gamma, edges, batch=batch, noise_variance=sigma2,
                                                         initial=params.get("initial", 1.0), **hyper))
    width = np.diff(np.asarray(edges, dtype=float))
    w = width / width.sum()
    C = np.asarray(tac.risk_covariance, dtype=float)
    return ExactLaws(np.clip(np.diag(C), 0.0, None), float(max(w @ C @ w, 0.0)),
                     np.clip(np.asarray(tac.second_moment_variance, dtype=float), 0.0, None), critical)


def _generalized_laws(recursion, params, edges):
    """Exact laws for the generalised momentum (DANA), schedules included (:mod:`theory.fourth.generalized`),
    or None. No fourth-moment critical learning rate is defined along a schedule: the field is nan and
    there is no guard (the variances are exact at every finite horizon)."""
    try:
        from theory import GeneralizedMomentum
        from theory.fourth import derive_generalized_fourth
    except ImportError:  # pragma: no cover
        return None
    if recursion is None or not params or getattr(recursion, "algorithm", None) != GeneralizedMomentum():
        return None
    try:
        four = derive_generalized_fourth(recursion.algorithm, recursion.data)
        hyper = {n: params[n] for n in recursion.algorithm.hyperparameters if n != "learning_rate"}
        tac = four.time_average_covariance(params["eigenvalues"], params["learning_rate"], edges,
                                           batch=int(params.get("batch", 1)),
                                           noise_variance=float(params.get("noise_variance", 0.0)),
                                           initial=params.get("initial", 1.0), **hyper)
    except (KeyError, ValueError, NotImplementedError, TypeError):
        return None
    width = np.diff(np.asarray(edges, dtype=float))
    w = width / width.sum()
    C = np.asarray(tac.risk_covariance, dtype=float)
    return ExactLaws(np.clip(np.diag(C), 0.0, None), float(max(w @ C @ w, 0.0)),
                     np.clip(np.asarray(tac.second_moment_variance, dtype=float), 0.0, None), float("nan"))
