"""pytest plugin of sgdcheck (entry point ``pytest11``: loaded automatically once installed).

Options
-------
``--mc-budget {quick,standard,thorough}``
    Monte Carlo replicas per simulation (1000 / 4000 / 16000; default standard).
``--mc-alpha FLOAT``
    Family-wise false-failure probability of each comparison (default 1e-6).

Fixture
-------
``mc``: an :class:`MonteCarlo` helper with ``simulate(...)`` (replicas from the
budget unless given), ``compare(...)`` (alpha from the option) and
``assert_agrees(prediction, **simulate_kwargs)``.

Hypothesis profiles ``sgdcheck-quick``, ``sgdcheck-ci`` and ``sgdcheck-thorough``
are registered; load one with ``--hypothesis-profile sgdcheck-ci``.

Example (a user's test file)
----------------------------
::

    from theory import derive

    def test_my_recursion(mc):
        kw = dict(eigenvalues=[1.0, 0.5], learning_rate=0.2, noise_variance=0.5, steps=100)
        mc.assert_agrees(derive().trajectory(**kw), **kw)
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

from .claims import BUDGETS
from .montecarlo import simulate as _simulate
from .stats import compare as _compare

__all__ = ["MonteCarlo", "assert_agrees"]

settings.register_profile("sgdcheck-quick", max_examples=5, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("sgdcheck-ci", max_examples=10, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("sgdcheck-thorough", max_examples=200, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])


def assert_agrees(prediction, result, alpha: float = 1e-6, **compare_kwargs):
    """Raise AssertionError unless :func:`verify.compare` passes; the message shows the
    worst deviation (both numbers, where) and the counterexample's parameters."""
    verdict = _compare(prediction, result, alpha=alpha, **compare_kwargs)
    if not verdict.passed:
        raise AssertionError("theory and Monte Carlo disagree: " + verdict.summary())
    return verdict


class MonteCarlo:
    """Simulation and comparison helpers bound to the session's budget and alpha."""

    def __init__(self, budget: str = "standard", alpha: float = 1e-6):
        if budget not in BUDGETS:
            raise ValueError(f"budget must be one of {sorted(BUDGETS)}; got {budget!r}")
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
        self.budget, self.alpha = BUDGETS[budget], float(alpha)

    def simulate(self, algorithm=None, **kwargs):
        kwargs.setdefault("replicas", self.budget.replicas)
        kwargs.setdefault("seed", 0)
        return _simulate(algorithm, **kwargs)

    def compare(self, prediction, result, **kwargs):
        kwargs.setdefault("alpha", self.alpha)
        return _compare(prediction, result, **kwargs)

    def assert_agrees(self, prediction, algorithm=None, **simulate_kwargs):
        """Simulate with ``simulate_kwargs`` and assert agreement with ``prediction``."""
        result = self.simulate(algorithm, **simulate_kwargs)
        return assert_agrees(prediction, result, alpha=self.alpha)


def pytest_addoption(parser):
    group = parser.getgroup("sgdcheck", "sgdcheck Monte Carlo checks")
    group.addoption("--mc-budget", choices=sorted(BUDGETS), default="standard",
                    help="Monte Carlo budget of the mc fixture (default: standard)")
    group.addoption("--mc-alpha", type=float, default=1e-6,
                    help="family-wise false-failure probability per comparison (default: 1e-6)")


@pytest.fixture
def mc(request) -> MonteCarlo:
    """Monte Carlo helpers (simulate, compare, assert_agrees) at the session's budget and alpha."""
    return MonteCarlo(request.config.getoption("--mc-budget"), request.config.getoption("--mc-alpha"))
