"""Splitting a claim's false-failure probability among its checks."""
from __future__ import annotations

import math

from .result import check_alpha

__all__ = ["AlphaBudget"]


class AlphaBudget:
    r"""A family-wise false-failure probability alpha split among named checks (Bonferroni).

    Each check gets alpha w_j / sum(w) for its weight w_j, so the shares add up to alpha
    exactly; by the union bound the probability that any check fails falsely is at most
    alpha. A share may be split further into equal parts (:meth:`split`). Each share can be
    taken once (:meth:`__getitem__`); :meth:`assert_spent` checks at the end that the checks
    run used no more than alpha in total.

    Parameters
    ----------
    alpha : float in (0, 1)
    weights : dict name -> weight > 0, or an iterable of names (equal weights)

    Raises
    ------
    ValueError
        alpha outside (0, 1), no checks, a weight that is not positive and finite, a share
        taken twice or an unknown name.

    Example
    -------
    >>> b = AlphaBudget(1e-6, {"curve": 2, "converges": 1, "diverges": 1})
    >>> b["curve"], b["converges"]
    (5e-07, 2.5e-07)
    >>> b.split("diverges", 2)
    [1.25e-07, 1.25e-07]
    >>> b.spent == 1e-6
    True
    """

    def __init__(self, alpha, weights):
        self.alpha = check_alpha(alpha)
        if not isinstance(weights, dict):
            weights = {name: 1.0 for name in weights}
        if not weights:
            raise ValueError("weights must name at least one check")
        for name, w in weights.items():
            if isinstance(w, bool) or not (isinstance(w, (int, float)) and math.isfinite(w) and w > 0):
                raise ValueError(f"the weight of {name!r} must be a positive finite number; got {w!r}")
        total = math.fsum(weights.values())
        self.shares = {name: self.alpha * w / total for name, w in weights.items()}
        self._taken: dict = {}

    def __getitem__(self, name) -> float:
        if name not in self.shares:
            raise ValueError(f"no share named {name!r}; the budget has {sorted(self.shares)}")
        if name in self._taken:
            raise ValueError(f"the share {name!r} was already taken")
        self._taken[name] = self.shares[name]
        return self.shares[name]

    def split(self, name, parts: int) -> list:
        """Take the share ``name`` and return it split into ``parts`` equal levels."""
        if isinstance(parts, bool) or not isinstance(parts, int) or parts < 1:
            raise ValueError(f"parts must be an integer >= 1; got {parts!r}")
        share = self[name]
        return [share / parts] * parts

    @property
    def spent(self) -> float:
        """The sum of the shares taken so far (at most alpha)."""
        return math.fsum(self._taken.values())

    def assert_spent(self, verdicts=()) -> None:
        """Raise AssertionError if the shares taken, or the alphas of ``verdicts``, exceed alpha."""
        used = math.fsum(v.alpha for v in verdicts if v.counted) if verdicts else self.spent
        if used > self.alpha * (1 + 1e-12) or self.spent > self.alpha * (1 + 1e-12):
            raise AssertionError(f"the checks used alpha = {max(used, self.spent):.6g} > the budget {self.alpha:g}")

    def __repr__(self):
        return f"AlphaBudget({self.alpha:g}, {self.shares})"
