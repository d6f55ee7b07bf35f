r"""Hyperparameters as data: a declarative spec per algorithm and one binder for theory and Monte Carlo.

An algorithm declares each hyperparameter once, as a :class:`Hyperparameter`: its name (the
keyword users pass, e.g. ``momentum``), its SymPy symbol, its allowed :class:`Interval` (open or
closed ends), whether it may be a schedule (a callable h(k) of the step k) and whether it may take
one value per eigendirection (an array of shape (d,)). :func:`bind_hyperparameters` is the one
place where user values are checked against that spec; :class:`theory.Recursion` (trajectory,
critical learning rate, stationary risk) and :func:`verify.simulate` both call it, so a value is
accepted or refused with the same message everywhere.

Example
-------
>>> from theory import HeavyBall
>>> bind_hyperparameters(HeavyBall(), {"learning_rate": 0.1, "momentum": 0.5})
{'learning_rate': 0.1, 'momentum': 0.5}
>>> bind_hyperparameters(HeavyBall(), {"learning_rate": 0.1, "momentum": 1.0})
Traceback (most recent call last):
...
ValueError: momentum must lie in the open interval (-1, 1); got 1.0
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import sympy as sp

__all__ = ["Hyperparameter", "Interval", "bind_hyperparameters", "bind_problem"]


@dataclass(frozen=True)
class Interval:
    """A real interval with open or closed ends; ``low``/``high`` may be -inf/inf (always open).

    Example
    -------
    >>> str(Interval(0, 1, low_open=False)), Interval(0, 1).contains(1.0)
    ('[0, 1)', False)
    """

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = True
    high_open: bool = True

    def contains(self, x: float) -> bool:
        if not math.isfinite(x):
            return False
        above = x > self.low if self.low_open else x >= self.low
        below = x < self.high if self.high_open else x <= self.high
        return above and below

    def requirement(self) -> str:
        """The condition in words, e.g. 'lie in the open interval (-1, 1)' or 'be finite and > 0'."""
        lo, hi = math.isinf(self.low), math.isinf(self.high)
        if lo and hi:
            return "be finite"
        if hi:
            return f"be finite and {'>' if self.low_open else '>='} {self.low:g}"
        if lo:
            return f"be finite and {'<' if self.high_open else '<='} {self.high:g}"
        kind = ("open " if self.low_open and self.high_open else
                "closed " if not (self.low_open or self.high_open) else "")
        return f"lie in the {kind}interval {self}"

    def __str__(self):
        def num(v):
            return ("-inf" if v < 0 else "inf") if math.isinf(v) else f"{v:g}"
        return ("(" if self.low_open else "[") + num(self.low) + ", " + num(self.high) + (")" if self.high_open else "]")


#: the ranges used by the shipped algorithms
POSITIVE = Interval(0.0, math.inf)
NONNEGATIVE = Interval(0.0, math.inf, low_open=False)
REAL = Interval()


@dataclass(frozen=True)
class Hyperparameter:
    r"""One hyperparameter of an algorithm, as data.

    Attributes
    ----------
    name : str
        The keyword argument (``learning_rate``, ``momentum``, ...).
    symbol : sympy.Symbol
        Its symbol in the update rule.
    interval : Interval
        Allowed values (checked on every value used, also each value of a schedule).
    schedulable : bool
        May be a callable h(k) of the step k (the step k -> k + 1 uses h(k)).
    per_direction : bool
        May be an array of shape (d,), one value per eigendirection.
    default : float or None
        Value used when the argument is omitted (None: the argument is required).
    latex : str
        How it prints (e.g. ``r"\beta"``).
    description : str
    """

    name: str
    symbol: sp.Symbol
    interval: Interval = REAL
    schedulable: bool = False
    per_direction: bool = False
    default: object = None
    latex: str = ""
    description: str = ""

    def check_value(self, value, where: str = ""):
        """Return ``value`` (a scalar, or an array of shape (d,) if per-direction) after checking it."""
        if isinstance(value, (bool, np.bool_, str, bytes)):  # the project raises ValueError for bad values
            raise ValueError(  # noqa: TRY004
                f"{self.name} must be a real number in {self.interval}; got {value!r}{where}")
        if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
            if not self.per_direction:
                raise ValueError(f"{self.name} must be a single real number in {self.interval} (one value for "
                                 f"all eigendirections); got an array{where}")
            try:
                arr = np.asarray(value, dtype=float)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{self.name} must be an array of real numbers in {self.interval}; "
                                 f"got {value!r}{where}") from exc
            if arr.ndim != 1 or arr.size == 0 or arr.dtype == bool:
                raise ValueError(f"{self.name} must be a number or a 1-D array of shape (d,); got shape "
                                 f"{arr.shape}{where}")
            for x in arr:
                if not self.interval.contains(float(x)):
                    raise ValueError(f"{self.name} must {self.interval.requirement()} in every direction; got "
                                     f"{float(x)!r}{where}")
            return arr
        if not (isinstance(value, numbers.Real) or type(value).__name__ == "mpf"
                or (isinstance(value, np.ndarray) and value.ndim == 0 and np.isrealobj(value))):
            raise ValueError(f"{self.name} must be a real number in {self.interval}; got {value!r}{where}")
        if not self.interval.contains(float(value)):
            raise ValueError(f"{self.name} must {self.interval.requirement()}; got {value!r}{where}")
        return value


def bind_hyperparameters(algorithm, values: dict, *, dimension: int | None = None, steps: int | None = None,
                         schedules: bool = False) -> dict:
    r"""Validate ``values`` against ``algorithm.hyperparameter_spec`` and return them bound, in spec order.

    Parameters
    ----------
    algorithm : theory.Algorithm
    values : dict
        name -> number, array of shape (d,) (per-direction hyperparameters) or callable h(k)
        (schedulable hyperparameters, when ``schedules``). Omitted names take their default.
    dimension : int, optional
        d; per-direction arrays must have this length.
    steps : int, optional
        With schedules: every value h(0), ..., h(steps - 1) actually used is range-checked.
    schedules : bool
        Whether callables are accepted here (trajectories and simulations: yes; critical learning
        rate and stationary risk: no).

    Returns
    -------
    dict
        name -> value (numbers unchanged, so ``mpf``/``Fraction`` keep their precision; arrays as
        float64 of shape (d,); callables unchanged).

    Raises
    ------
    ValueError
        Unknown or missing names, booleans, strings, arrays where one number is expected, values out
        of range (the message names the argument, the allowed interval and, for a schedule, the step),
        a callable where a number is required.
    """
    spec = {h.name: h for h in algorithm.hyperparameter_spec}
    unknown = sorted(set(values) - set(spec))
    if unknown:
        raise ValueError(f"unknown hyperparameter(s) {unknown} for {algorithm!r}; its hyperparameters are "
                         f"{list(spec)}")
    missing = [n for n, h in spec.items() if values.get(n) is None and h.default is None]
    if missing:
        raise ValueError(f"missing hyperparameter(s) {missing} for {algorithm!r} (allowed: "
                         + ", ".join(f"{n} in {spec[n].interval}" for n in missing) + ")")
    out = {}
    for name, h in spec.items():
        if values.get(name) is None:
            out[name] = h.default
            continue
        v = values[name]
        if callable(v) and not isinstance(v, (np.ndarray, sp.Basic)):
            if not h.schedulable:
                raise ValueError(f"{name} must be a number in {h.interval}; it cannot be a schedule (callable "
                                 f"of the step k) for {algorithm!r}")
            if not schedules:
                raise ValueError(f"hyperparameters must be numbers here: {name} is a callable of the step k; callables "
                                 "(schedules) are accepted by trajectory() and simulate() only")
            if steps is not None:
                for k in range(steps):
                    try:
                        hk = v(k)
                    except Exception as exc:
                        raise ValueError(f"{name}({k}) raised {type(exc).__name__}: {exc}") from exc
                    h.check_value(hk, where=f" at step k = {k}")
            out[name] = v
            continue
        v = h.check_value(v)
        if isinstance(v, np.ndarray) and dimension is not None and v.size != dimension:
            raise ValueError(f"{name} has {v.size} entries but there are {dimension} eigenvalues; give one "
                             "value per eigendirection or a scalar")
        out[name] = v
    check = getattr(type(algorithm), "check_hyperparameters", None)
    from .algorithms import Algorithm
    if (check is not None and check is not Algorithm.check_hyperparameters  # a cross-parameter constraint
            and not any(callable(v) and not isinstance(v, np.ndarray) for v in out.values())):
        algorithm.check_hyperparameters(dict(out))
    return out


def bind_problem(algorithm, eigenvalues, learning_rate, batch, noise_variance, hyper: dict, *,
                 schedules: bool = False, steps: int | None = None):
    """Validate a least-squares problem and bind the algorithm's hyperparameters.

    Checks the eigenvalues (1-D, finite, > 0), ``learning_rate`` > 0, the integer ``batch`` >= 1 and
    ``noise_variance`` >= 0, refuses ``learning_rate`` among ``hyper``, and binds
    ``{"learning_rate": learning_rate, **hyper}`` with :func:`bind_hyperparameters`. Returns
    ``(eigenvalues as a float array, batch, bound)``, ``bound`` including ``learning_rate``.
    Raises ValueError (or TypeError) naming the argument and its allowed range.
    """
    from .validation import (
        check_eigenvalues,
        check_integer,
        check_nonnegative,
        check_positive,
    )
    lam = check_eigenvalues(eigenvalues)
    check_positive(learning_rate, "learning_rate")
    batch = check_integer(batch, "batch", 1)
    check_nonnegative(noise_variance, "noise_variance")
    if "learning_rate" in hyper:
        raise ValueError("learning_rate is a separate argument; do not pass it among the hyperparameters")
    bound = bind_hyperparameters(algorithm, {"learning_rate": learning_rate, **hyper},
                                 dimension=len(lam), steps=steps, schedules=schedules)
    return lam, batch, bound
