"""theory.longtime.risk_curve against plain iteration (float64) and mpmath."""
import numpy as np
import pytest

from theory import SGD, GeneralizedMomentum, HeavyBall, derive
from theory.longtime import risk_curve

CASES = [(SGD(), {}, 0.5), (HeavyBall(), dict(momentum=0.8), 0.1),
         (GeneralizedMomentum(), dict(gamma1=1.0, gamma3=0.01, delta=0.05), 0.3)]


@pytest.mark.parametrize("alg,hyper,lr", CASES, ids=lambda c: getattr(c, "name", ""))
def test_constant_matches_iteration(alg, hyper, lr):
    rec = derive(alg)
    lam = np.arange(1, 401) ** -1.6
    n = 5000
    times = np.unique(np.logspace(0, np.log10(n), 40).astype(int))
    exact = rec.trajectory(lam, lr, steps=n, noise_variance=0.1, **hyper).risk[times]
    curve = risk_curve(rec, lam, lr, times, noise_variance=0.1, **hyper)
    assert np.max(np.abs(curve.risk / exact - 1)) < 1e-6


def _dana_decaying(alpha=0.8, delta=3.0, g3=0.05):
    return dict(gamma1=1.0, gamma3=lambda k: g3 * (1 + k) ** (-1 / (2 * alpha)), delta=lambda k: delta / (delta + k))


@pytest.mark.parametrize("accuracy", [1e-3, 1e-4])
def test_schedules_match_iteration(accuracy):
    rec = derive(GeneralizedMomentum())
    lam = np.arange(1, 201) ** -1.6
    n = 6000
    times = np.unique(np.logspace(0, np.log10(n), 40).astype(int))
    hyper = _dana_decaying()
    exact = rec.trajectory(lam, 0.3, steps=n, noise_variance=0.01, **hyper).risk[times]
    curve = risk_curve(rec, lam, 0.3, times, noise_variance=0.01, accuracy=accuracy, **hyper)
    err = np.max(np.abs(curve.risk / exact - 1))
    assert curve.method == "frozen-windows"
    assert err < accuracy
    assert err <= curve.estimated_error      # the estimate is conservative here
