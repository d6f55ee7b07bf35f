"""Sparse Gaussian inputs: moment rules, sampler, per-frequency stability, Monte Carlo power."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats as sps

from theory import HeavyBall, derive
from theory import symbols as tsym
from theory.sparse import SPARSITY, SparseGaussian, per_frequency_critical_learning_rate


def test_sparse_gaussian_errors_and_kurtosis():
    assert np.allclose(SparseGaussian([1.0, 0.5]).kurtosis_values(2), [3.0, 6.0])
    for bad in (0.0, 1.5, -0.1, [[0.5]], float("nan")):
        with pytest.raises(ValueError, match=r"p .*must lie in \(0, 1\]|p must be a scalar or a 1-D array"):
            SparseGaussian(bad)


def test_sampler_moments_are_calibrated():
    from verify.samplers import sample_standardized
    p = np.array([1.0, 0.3, 0.05])
    z = sample_standardized(SparseGaussian(p), np.random.default_rng(0), (200000, 3))
    # E z^2 = 1 and the active fraction = p, two-sided t-tests at family-wise 1e-6 (6 tests)
    for j in range(3):
        for x, target in ((z[:, j] ** 2, 1.0), ((z[:, j] != 0).astype(float), p[j])):
            if x.std() == 0:  # p = 1: every coordinate active, deterministic
                assert x.mean() == target
                continue
            t = (x.mean() - target) / (x.std(ddof=1) / np.sqrt(len(x)))
            assert 2 * sps.t.sf(abs(t), len(x) - 1) > 1e-6 / 6


@given(p=st.floats(0.01, 1.0), beta=st.floats(-0.9, 0.95), batch=st.integers(1, 4), lam=st.floats(0.1, 2.0))
def test_per_frequency_condition_matches_critical_learning_rate(p, beta, batch, lam):
    exact, _ = per_frequency_critical_learning_rate()
    closed = float(exact.subs({SPARSITY: p, tsym.beta: beta, tsym.B: batch}))
    gc = derive(HeavyBall(), SparseGaussian(p)).critical_learning_rate([lam], batch, momentum=beta)
    assert closed / lam == pytest.approx(gc, rel=1e-10)


def test_heavy_ball_on_per_coordinate_sparsity_and_planted_error():
    from verify import compare, simulate
    lam = 1.0 / np.arange(1, 17)
    data = SparseGaussian(np.tile([1.0, 0.3, 0.1, 0.03], 4))
    rec = derive(HeavyBall(), data)
    gc = rec.critical_learning_rate(lam, 1, momentum=0.5)
    kw = dict(eigenvalues=lam, learning_rate=0.3 * gc, batch=1, noise_variance=0.5, initial=1.0, steps=300,
              momentum=0.5)
    res = simulate(HeavyBall(), data=data, replicas=4000, seed=21, **kw)
    assert compare(rec.trajectory(**kw), res).passed
    # planted: the sparsity ignored in the moment rules (Gaussian kurtosis 3 instead of 3/p)
    from theory import Gaussian
    assert not compare(derive(HeavyBall(), Gaussian()).trajectory(**kw), res).passed
