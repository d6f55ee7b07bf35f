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


@pytest.mark.parametrize("engine", ["fused", "numpy"])
def test_requested_coordinates_are_those_of_the_full_record(engine):
    """``coordinates``: the per-step moments of the requested coordinates only, in their order; the
    risk, the block averages and the random numbers are those of the full record."""
    kw = dict(eigenvalues=[1.0, 0.5, 0.2], learning_rate=0.1, steps=20, replicas=300, seed=3, noise_variance=0.5,
              engine=engine)
    full = simulate(**kw)
    for coords in ([2, 0], [1], ()):
        part = simulate(coordinates=coords, **kw)
        idx = list(coords)
        assert part.second_moments.shape == part.mean_se.shape == (21, len(idx))
        np.testing.assert_array_equal(part.risk, full.risk)
        np.testing.assert_array_equal(part.replica_block_risk, full.replica_block_risk)
        np.testing.assert_array_equal(part.block_second_moments, full.block_second_moments)
        for name in ("second_moments", "second_moments_se", "mean", "mean_se"):
            np.testing.assert_allclose(getattr(part, name), getattr(full, name)[:, idx], rtol=1e-12, atol=1e-15)
        assert part.parameters["coordinates"] == idx


@pytest.mark.parametrize("bad", [[3], [0, 0], [-1], [0.5], [[0]], "ab"])
def test_bad_coordinates_are_refused(bad):
    with pytest.raises(ValueError, match=r"coordinates must be a sequence of distinct integers in \[0, 3\)"):
        simulate(eigenvalues=[1.0, 0.5, 0.2], learning_rate=0.1, steps=2, replicas=40, coordinates=bad)
