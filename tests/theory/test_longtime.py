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
