"""Argument checks shared by :mod:`theory` and :mod:`verify`.

Every check raises :class:`ValueError` whose message names the argument, the
allowed range and the offending value. Nothing is clipped.
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

__all__ = [
    "check_algorithm_and_data", "select_by_prefix",
    "check_eigenvalues", "check_positive", "check_nonnegative", "check_integer", "check_seed",
    "check_replicas", "FewReplicasWarning", "MIN_REPLICAS_FOR_POWER",
    "check_kurtosis", "check_initial", "check_fraction", "check_sparsity", "check_data_matrix",
]


def _is_real_scalar(value) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, numbers.Real) or (
        isinstance(value, np.ndarray) and value.ndim == 0 and np.isrealobj(value) and value.dtype.kind in "iuf"
    ) or type(value).__name__ == "mpf"


def _not_numbers(value) -> str | None:
    """Why ``value`` (a scalar or array-like) is not made of numbers, or None: strings, bytes and
    booleans would otherwise be converted silently by NumPy ("1.5" -> 1.5, True -> 1.0)."""
    if isinstance(value, np.ndarray) and value.dtype.kind in "iufc":
        return None
    try:
        items = np.asarray(value, dtype=object).ravel()
    except (TypeError, ValueError):
        return None   # ragged etc.: the float conversion reports it
    for x in items:
        if isinstance(x, (str, bytes, np.str_, np.bytes_)):
            return f"strings ({x!r})"
        if isinstance(x, (bool, np.bool_)):
            return f"booleans ({x!r})"
    return None


def check_eigenvalues(eigenvalues, name: str = "eigenvalues") -> np.ndarray:
    """Return ``eigenvalues`` as a 1-D float64 array; raise if not all finite and > 0.

    Strings and booleans are refused (NumPy would turn ``"2"`` into 2.0 and ``True`` into 1.0).

    >>> check_eigenvalues(["1", "0.5"])
    Traceback (most recent call last):
    ...
    ValueError: eigenvalues must be a 1-D array of finite positive numbers, not strings ('1'); got ['1', '0.5']
    """
    bad_type = _not_numbers(eigenvalues)
    if bad_type is not None:
        raise ValueError(f"{name} must be a 1-D array of finite positive numbers, not {bad_type}; "
                         f"got {eigenvalues!r}")
    try:
        arr = np.asarray(eigenvalues, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 1-D array of finite positive numbers; got {eigenvalues!r}") from exc
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of shape (d,); got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} must hold at least one eigenvalue (d >= 1); got an empty array")
    bad = ~np.isfinite(arr) | (arr <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name} must be finite and > 0 (the covariance K must be positive definite); "
            f"got {name}[{i}] = {arr[i]!r}"
        )
    return arr


def _scalar(value, name):
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, not a boolean; got {value!r}")
    if not _is_real_scalar(value):
        raise ValueError(f"{name} must be a real number; got {value!r}")
    return float(value)


def check_seed(seed, name: str = "seed"):
    """Return ``seed`` unchanged if NumPy can seed a ``SeedSequence`` with it: None, a
    non-negative integer, a non-empty sequence of them, or a ``numpy.random.SeedSequence``.
    Raises ValueError naming ``name`` otherwise (booleans, floats, strings, negative integers).

    >>> check_seed(1.5)
    Traceback (most recent call last):
    ...
    ValueError: seed must be None, a non-negative integer, a sequence of them or a numpy.random.SeedSequence; got 1.5
    """
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed
    msg = (f"{name} must be None, a non-negative integer, a sequence of them or a numpy.random.SeedSequence; "
           f"got {seed!r}")
    items = list(seed) if isinstance(seed, (list, tuple, np.ndarray)) else [seed]
    if not items:
        raise ValueError(msg)
    for x in items:
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (numbers.Integral, np.integer)) or x < 0:
            raise ValueError(msg)
    return seed


def check_positive(value, name: str, upper: float | None = None):
    """Raise unless ``0 < value`` (and ``value < upper`` when given) and finite."""
    x = _scalar(value, name)
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be finite and > 0; got {value!r}")
    if upper is not None and x >= upper:
        raise ValueError(f"{name} must lie in (0, {upper}); got {value!r}")
    return value


def check_nonnegative(value, name: str):
    """Raise unless ``value >= 0`` and finite."""
    x = _scalar(value, name)
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be finite and >= 0; got {value!r}")
    return value


def check_fraction(value, name: str):
    """Raise unless ``0 < value <= 1``."""
    x = _scalar(value, name)
    if not (0 < x <= 1):
        raise ValueError(f"{name} must lie in (0, 1]; got {value!r}")
    return value


def check_integer(value, name: str, minimum: int = 1) -> int:
    """Return ``int(value)``; raise unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


#: below this many replicas :func:`check_replicas` warns that standard errors and tests are unreliable
MIN_REPLICAS_FOR_POWER = 30


class FewReplicasWarning(UserWarning):
    """So few Monte Carlo replicas that standard errors are noisy and tests have little power."""


def check_replicas(replicas, name: str = "replicas") -> int:
    """Number of Monte Carlo replicas as an int >= 2 (a standard error needs two independent
    replicas); warns :class:`FewReplicasWarning` below :data:`MIN_REPLICAS_FOR_POWER` (30), where
    the sample variance alone has a relative error sqrt(2/(n-1)) > 26 %, a standard error is a
    rough guess and a test detects only gross errors (docs/statistics.md: 95 % power against a
    1 % error needs ~5000 replicas of a single risk; the High Line claims use >= 32 replicas
    because each replica averages over d >= 128 directions).

    >>> check_replicas(1)
    Traceback (most recent call last):
    ...
    ValueError: replicas must be an integer >= 2 (a standard error needs at least two independent replicas); got 1
    """
    if isinstance(replicas, (numbers.Integral, np.integer)) and not isinstance(replicas, (bool, np.bool_)) \
            and replicas == 1:
        raise ValueError(f"{name} must be an integer >= 2 (a standard error needs at least two independent "
                         f"replicas); got {replicas!r}")
    n = check_integer(replicas, name, 2)
    if n < MIN_REPLICAS_FOR_POWER:
        warnings.warn(f"{name} = {n} < {MIN_REPLICAS_FOR_POWER}: the standard errors are themselves noisy "
                      f"(relative error of the variance ~ {math.sqrt(2 / (n - 1)):.0%}) and a test has little "
                      "power; use >= 1000 replicas to detect errors of a few percent", FewReplicasWarning,
                      stacklevel=3)
    return n


def _per_direction(value, name: str, what: str) -> np.ndarray:
    """A scalar or a non-empty 1-D float array (one entry per eigendirection)."""
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be {what} or a 1-D array of them; got {value!r}") from exc
    if arr.ndim > 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array of shape (d,); got shape {arr.shape}")
    if arr.ndim == 1 and arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    return arr


def check_kurtosis(kurtosis, dimension: int | None = None, name: str = "kurtosis") -> np.ndarray:
    """Kurtosis as an array (scalar -> shape (), or (d,)); raise unless finite and >= 1.

    Any distribution with mean 0 and variance 1 has E z^4 >= (E z^2)^2 = 1,
    with equality only for the Rademacher law.
    """
    arr = _per_direction(kurtosis, name, "a number >= 1")
    bad = ~np.isfinite(arr) | (arr < 1)
    if bad.any():
        v = arr.reshape(-1)[int(np.flatnonzero(bad.reshape(-1))[0])]
        raise ValueError(f"{name} must be finite and >= 1 (E z^4 >= (E z^2)^2 = 1); got {v!r}")
    if dimension is not None and arr.ndim == 1 and arr.size != dimension:
        raise ValueError(
            f"{name} has {arr.size} entries but there are {dimension} eigenvalues; "
            "give one kurtosis per eigendirection or a scalar"
        )
    return arr


def check_initial(initial, dimension: int, name: str = "initial") -> np.ndarray:
    """The initial error e_0 = theta_0 - theta* (eigenbasis) as an array of shape (d,)."""
    try:
        arr = np.asarray(initial, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a number or an array of shape ({dimension},); got {initial!r}") from exc
    if arr.ndim == 0:
        arr = np.full(dimension, float(arr))
    if arr.shape != (dimension,):
        raise ValueError(f"{name} must be a number or an array of shape ({dimension},); got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite; got {initial!r}")
    return arr


def check_algorithm_and_data(algorithm, data):
    """Defaults (SGD(), Gaussian()) for None; ValueError unless an Algorithm and a DataModel."""
    from .algorithms import SGD, Algorithm
    from .data import DataModel, Gaussian

    algorithm = SGD() if algorithm is None else algorithm
    data = Gaussian() if data is None else data
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"algorithm must be a theory.Algorithm such as theory.SGD(); got {algorithm!r}")
    if not isinstance(data, DataModel):
        raise ValueError(f"data must be a theory.DataModel such as theory.Gaussian(); got {data!r}")
    return algorithm, data


def select_by_prefix(mapping: dict, ids, what: str = "id") -> list:
    """Values of ``mapping`` whose key equals or has a dot-separated prefix in ``ids`` (all if empty).

    Raises ValueError naming the unknown id and the known ones.
    """
    if not ids:
        return list(mapping.values())
    out = []
    for key in ids:
        hits = [v for k, v in mapping.items() if k == key or k.startswith(key.rstrip(".") + ".")]
        if not hits:
            raise ValueError(f"unknown {what} {key!r}; known: {', '.join(mapping)}")
        out += [h for h in hits if not any(h is o for o in out)]
    return out
def check_sparsity(p, dimension: int | None = None, name: str = "p") -> np.ndarray:
    """Probabilities of a non-zero coordinate as an array (scalar or (d,)); raise unless in (0, 1]."""
    arr = _per_direction(p, name, "a probability in (0, 1]")
    bad = ~((arr > 0) & (arr <= 1))  # NaN fails both comparisons
    if bad.any():
        v = arr.reshape(-1)[int(np.flatnonzero(bad.reshape(-1))[0])]
        raise ValueError(f"{name} (probability that a coordinate is non-zero) must lie in (0, 1]; got {float(v)!r}")
    if dimension is not None and arr.ndim == 1 and arr.size != dimension:
        raise ValueError(f"{name} has {arr.size} entries but there are {dimension} eigenvalues; "
                         "give one probability per eigendirection or a scalar")
    return arr


def check_data_matrix(X, name: str = "X") -> np.ndarray:
    """A data matrix of shape (n, d) with n >= 2 finite rows, as float64."""
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d) of finite numbers; got {type(X).__name__}") from exc
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n, d); got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name} must have at least 2 rows (n >= 2) to define a centred distribution; "
                         f"got {arr.shape[0]}")
    if arr.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column (d >= 1); got shape {arr.shape}")
    bad = ~np.isfinite(arr)
    if bad.any():
        r, c = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} must contain only finite entries (no NaN or inf); got {name}[{r}, {c}] = {float(arr[r, c])!r}")
    return arr
