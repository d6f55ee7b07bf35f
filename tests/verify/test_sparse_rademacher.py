"""Sparse-Gaussian and Rademacher data: moment rules, samplers, Monte Carlo against the derived recursion."""
import math

import numpy as np
import pytest

from theory import SGD, IndependentCoordinates, Rademacher, SparseGaussian, derive
from verify import compare, simulate
from verify.samplers import sample_standardized


@pytest.mark.parametrize("model, kappa", [(SparseGaussian([0.5, 0.2]), np.array([6.0, 15.0])),
                                          (SparseGaussian(1.0), np.array([3.0, 3.0])),
                                          (Rademacher(), np.array([1.0, 1.0]))])
def test_samplers_have_the_model_moments(model, kappa):
    np.testing.assert_allclose(model.kurtosis_values(2), kappa)
    n = 400_000
    z = sample_standardized(model, np.random.default_rng(0), (n, 2))
    # 6-sigma bounds with the sample standard deviation of z^power (finite 8th moments)
    for power, target in ((1, 0.0), (2, 1.0), (3, 0.0), (4, kappa)):
        est = (z**power).mean(axis=0)
        se = (z**power).std(axis=0) / math.sqrt(n)
        assert np.all(np.abs(est - target) < 6 * se + 1e-12)


def test_sparse_sampler_zero_fraction():
    z = sample_standardized(SparseGaussian([0.3]), np.random.default_rng(2), (200_000, 1))
    frac = float(np.mean(z != 0))
    assert abs(frac - 0.3) < 6 * math.sqrt(0.3 * 0.7 / 200_000)
    assert set(np.unique(sample_standardized(Rademacher(), np.random.default_rng(3), (100, 3)))) == {-1.0, 1.0}


def test_same_derivation_as_independent_coordinates():
    p = np.array([0.5, 0.25, 1.0])
    lam = [1.0, 0.5, 0.25]
    a = derive(SGD(), SparseGaussian(p)).linear_map(lam, 0.1, 2, 0.3)
    b = derive(SGD(), IndependentCoordinates(3 / p)).linear_map(lam, 0.1, 2, 0.3)
    np.testing.assert_allclose(a.A, b.A, rtol=1e-14)
    np.testing.assert_allclose(a.u, b.u, rtol=1e-14)
    r = derive(SGD(), Rademacher()).linear_map(lam, 0.1, 2, 0.3)
    c = derive(SGD(), IndependentCoordinates(1.0)).linear_map(lam, 0.1, 2, 0.3)
    np.testing.assert_allclose(r.A, c.A, rtol=1e-14)


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5, float("nan"), [0.5, 0.0], [[0.5]]])
def test_bad_sparsity(bad):
    with pytest.raises(ValueError, match=r"p .*\(0, 1\]|p must be a scalar"):
        SparseGaussian(bad)


def test_sparsity_length_must_match():
    with pytest.raises(ValueError, match="p has 2 entries but there are 3 eigenvalues"):
        derive(SGD(), SparseGaussian([0.5, 0.5])).trajectory([1.0, 1.0, 1.0], 0.1, steps=2)


LAM = np.array([1.0, 0.6, 0.3, 0.1])


@pytest.mark.parametrize("model", [SparseGaussian([0.2, 0.5, 1.0, 0.3]), Rademacher()])
def test_monte_carlo_matches_and_planted_error_is_caught(model):
    rec = derive(SGD(), model)
    gc = rec.critical_learning_rate(LAM, batch=2)
    kw = dict(eigenvalues=LAM, learning_rate=0.4 * gc, batch=2, noise_variance=0.2, steps=60)
    res = simulate(SGD(), data=model, replicas=6000, seed=5, **kw)
    tr = rec.trajectory(**kw)
    assert compare(tr, res).passed
    tr.risk = tr.risk * 1.03
    assert not compare(tr, res).passed


def test_sparse_strategy_draws_valid_models_and_validates():
    from hypothesis import given
    from hypothesis.errors import InvalidArgument

    from verify import strategies as sst

    @given(sst.sparse_data_models(dimension=3, min_p=0.2, max_p=0.9))
    def inner(model):
        k = model.kurtosis_values(3)
        assert np.all((k >= 3 / 0.9 - 1e-12) & (k <= 3 / 0.2 + 1e-12))
    inner()
    with pytest.raises(InvalidArgument, match="max_p must be <= 1"):
        sst.sparse_data_models(max_p=2.0).example()
