"""The stationary-risk claims' design: the closed form is checked on the recursion's late window,
the Monte Carlo on a dyadic-length window after a 64-step burn-in against the recursion's
exact mean there. Planted errors in either side must be rejected."""
import numpy as np
import pytest

import verify.claims.sgd as sgd_claims
from verify.claims import CLAIMS


class _Scaled:
    """A recursion whose risk (trajectory and closed form) is off by a factor: a planted error."""

    def __init__(self, rec, trajectory=1.0, closed_form=1.0):
        self.rec, self.t, self.c = rec, trajectory, closed_form

    def __getattr__(self, name):
        return getattr(self.rec, name)

    def trajectory(self, *a, **k):
        tr = self.rec.trajectory(*a, **k)
        tr.risk = tr.risk * self.t
        return tr

    def stationary_risk(self, *a, **k):
        return self.rec.stationary_risk(*a, **k) * self.c


def _run(monkeypatch, **planted):
    real = sgd_claims.derive
    if planted:
        monkeypatch.setattr(sgd_claims, "derive", lambda *a: _Scaled(real(*a), **planted))
    return CLAIMS["sgd.stationary_risk.gaussian"].run("quick", 0)


def test_design_and_windows(monkeypatch):
    res = _run(monkeypatch)
    assert res.passed
    numeric, mc = res.verdicts
    assert numeric.kind == "numeric" and mc.kind == "scalar"
    a, b = mc.parameters["window"]
    lo, hi = mc.parameters["limit_window"]
    assert a == 64 and b - a + 1 & (b - a) == 0           # a dyadic length 2^J, after 64 steps
    assert hi == 2 * lo - 1 and lo >= b - a + 1           # the late window: at least as late
    assert numeric.statistic >= 6


@pytest.mark.parametrize("factor", [1.02, 0.98])
def test_planted_monte_carlo_side_error_is_rejected(monkeypatch, factor):
    """Risk curve and closed form both off by 2% (consistent with each other): only the Monte
    Carlo comparison can see it, and does (delta_90 at the quick budget is about 0.5%)."""
    res = _run(monkeypatch, trajectory=factor, closed_form=factor)
    numeric, mc = res.verdicts
    assert numeric.passed and not mc.passed and not res.passed


def test_planted_closed_form_error_is_rejected(monkeypatch):
    res = _run(monkeypatch, closed_form=1 + 1e-5)
    numeric, mc = res.verdicts
    assert mc.passed and not numeric.passed and not res.passed
    assert np.isfinite(numeric.statistic)
