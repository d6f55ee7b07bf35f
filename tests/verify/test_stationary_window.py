"""The stationary-risk claims' design: the closed form is checked on the recursion's late window,
the Monte Carlo on a dyadic-length window from step 1 (no burn-in) against the recursion's
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
    assert a == 1 and b - a + 1 & (b - a) == 0            # a dyadic length 2^J, from step 1
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


def test_no_burn_in_loses_no_power():
    """The exact relative standard error of one replica's window average (fourth-moment recursion,
    an oracle independent of the Monte Carlo) is no larger from step 1 than after the old 64-step
    burn-in, for the windows the stationary claims use, in fewer simulated steps."""
    from theory import SGD, Gaussian, IndependentCoordinates, derive
    from theory.fourth import derive_fourth
    lam = np.arange(1, 17.0) ** -1
    for data in (Gaussian(), IndependentCoordinates(np.repeat([1.0, 2.0, 6.0, 12.0], 4))):
        gamma = 0.4 * derive(SGD(), data).critical_learning_rate(lam, batch=2)
        four = derive_fourth(SGD(), data)
        for J in (8, 9, 11):
            rel = []
            for first in (1, 64):
                tac = four.time_average_covariance(lam, gamma, [first, first + 2 ** J], batch=2, noise_variance=1.0,
                                                   initial=0.0)
                rel.append(np.sqrt(tac.risk_covariance[0, 0]) / tac.risk_mean[0])
            assert rel[0] <= rel[1], (data, J, rel)


def test_risk_curve_windows_equal_fresh_trajectories():
    """The shared, doubled trajectory gives the same window means as a trajectory per window."""
    from theory import SGD, derive
    rec = derive(SGD())
    lam = np.arange(1, 9.0) ** -1
    curve = sgd_claims._RiskCurve(rec, lam, 0.1, 2, 1.0, {})
    for J in (6, 7, 9, 8):
        fresh = rec.trajectory(lam, 0.1, 2, 1.0, initial=0.0, steps=2 ** (J + 1) - 1).risk[2 ** J:]
        assert curve.mean(2 ** J, 2 ** (J + 1) - 1) == float(np.mean(fresh))


@pytest.mark.parametrize("bad", [0, 3, 48, 2.0])
def test_burn_in_must_start_a_dyadic_block(bad):
    from theory import SGD, derive
    with pytest.raises(ValueError, match="burn_in must be a power of two >= 1"):
        sgd_claims.burn_in_stationary(derive(SGD()), SGD(), None, np.ones(2), 0.1, 1, 1.0, 50, 0, 1e-6, "", {},
                                      burn_in=bad)
