import math

import numpy as np
import pytest

from theory import SGD, Gaussian, IndependentCoordinates
from verify import simulate
from verify.samplers import sample_standardized

KW = dict(eigenvalues=[1.0, 0.5, 0.1], learning_rate=0.2, batch=2, noise_variance=0.3, steps=20)


def test_same_seed_same_numbers_whatever_the_threads():
    a = simulate(replicas=300, seed=11, chunk_size=64, workers=1, **KW)
    b = simulate(replicas=300, seed=11, chunk_size=64, workers=2, **KW)
    np.testing.assert_array_equal(a.risk, b.risk)
    np.testing.assert_array_equal(a.second_moments_se, b.second_moments_se)
    assert a.seed == b.seed and a.seed["entropy"] == 11


def test_fresh_entropy_is_recorded_and_replays():
    a = simulate(replicas=50, **KW)
    b = simulate(replicas=50, seed=a.seed["entropy"], **KW)
    np.testing.assert_array_equal(a.second_moments, b.second_moments)


def test_shapes_and_step_zero():
    res = simulate(replicas=100, seed=0, initial=[1.0, 2.0, 3.0], **KW)
    assert res.risk.shape == (21,) and res.second_moments.shape == (21, 3) and res.mean.shape == (21, 3)
    np.testing.assert_allclose(res.second_moments[0], [1.0, 4.0, 9.0])
    assert res.risk[0] == pytest.approx(0.5 * (1.0 + 2.0 + 0.9 + 0.3))
    assert res.block_edges == [1, 2, 4, 8, 16, 21]


@pytest.mark.parametrize("model, kappa", [(Gaussian(), 3.0), (IndependentCoordinates(1.0), 1.0),
                                          (IndependentCoordinates([2.0, 7.5]), np.array([2.0, 7.5]))])
def test_samplers_have_the_model_moments(model, kappa):
    rng = np.random.default_rng(0)
    n = 400_000
    z = sample_standardized(model, rng, (n, 2))
    # 6-sigma bounds from the known higher moments (E z^8 <= 105 kappa-scale bound for these laws)
    for power, target in ((1, 0.0), (2, 1.0), (4, kappa)):
        est = (z**power).mean(axis=0)
        se = (z**power).std(axis=0) / math.sqrt(n)
        assert np.all(np.abs(est - target) < 6 * se + 1e-12)


def test_three_point_law_has_exact_kurtosis():
    # analytic: P(z != 0) = 1/kappa, z^2 = kappa when non-zero  =>  E z^2 = 1, E z^4 = kappa
    model = IndependentCoordinates([1.0, 4.0])
    z = sample_standardized(model, np.random.default_rng(1), (1000, 2))
    assert set(np.unique(np.abs(z[:, 0]))) == {1.0}
    assert set(np.unique(np.abs(z[:, 1]))) <= {0.0, 2.0}


@pytest.mark.parametrize("kw, match", [
    (dict(replicas=0), r"replicas must be an integer >= 2"),
    (dict(replicas=1), r"replicas must be an integer >= 2 \(a standard error"),
    (dict(steps=0), r"steps must be an integer >= 1"),
    (dict(batch=0), r"batch must be an integer >= 1"),
    (dict(learning_rate=float("nan")), r"learning_rate must be finite and > 0"),
    (dict(learning_rate=-1.0), r"learning_rate must be finite and > 0"),
    (dict(eigenvalues=[1.0, -2.0]), r"eigenvalues must be finite and > 0"),
    (dict(noise_variance=-0.1), r"noise_variance must be finite and >= 0"),
    (dict(momentum=0.9), r"unknown hyperparameter\(s\) \['momentum'\]"),
])
def test_bad_input(kw, match):
    with pytest.raises(ValueError, match=match):
        simulate(**{**KW, "replicas": 10, **kw})


def test_algorithm_and_data_type_checked():
    with pytest.raises(ValueError, match="algorithm must be a theory.Algorithm"):
        simulate("sgd", eigenvalues=[1.0], learning_rate=0.1)
    with pytest.raises(ValueError, match="data must be a theory.DataModel"):
        simulate(SGD(), data="gaussian", eigenvalues=[1.0], learning_rate=0.1)
