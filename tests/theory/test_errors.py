"""Bad input gets a ValueError naming the argument and the allowed range."""
import math

import pytest

from theory import IndependentCoordinates, derive

REC = derive()


@pytest.mark.parametrize("eigs, match", [
    ([1.0, -1.0], r"eigenvalues.*> 0.*eigenvalues\[1\]"),
    ([1.0, 0.0], r"eigenvalues.*> 0"),
    ([1.0, math.nan], r"eigenvalues.*finite"),
    ([math.inf], r"eigenvalues.*finite"),
    ([], r"eigenvalues.*at least one"),
    ([[1.0]], r"eigenvalues.*1-D"),
])
def test_bad_eigenvalues(eigs, match):
    with pytest.raises(ValueError, match=match):
        REC.critical_learning_rate(eigs)


@pytest.mark.parametrize("lr", [0.0, -0.1, math.nan, math.inf])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match=r"learning_rate must be finite and > 0"):
        REC.risk([1.0], lr, steps=3)


@pytest.mark.parametrize("batch", [0, -1, 1.5, "2"])
def test_bad_batch(batch):
    with pytest.raises(ValueError, match=r"batch must be an integer >= 1"):
        REC.risk([1.0], 0.1, batch=batch, steps=3)


@pytest.mark.parametrize("steps", [0, -3])
def test_bad_steps(steps):
    with pytest.raises(ValueError, match=r"steps must be an integer >= 1"):
        REC.risk([1.0], 0.1, steps=steps)


@pytest.mark.parametrize("k", [0.5, math.nan, -3.0])
def test_bad_kurtosis(k):
    with pytest.raises(ValueError, match=r"kurtosis must be finite and >= 1"):
        IndependentCoordinates(kurtosis=k)


def test_kurtosis_length_mismatch():
    rec = derive(data=IndependentCoordinates([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"kurtosis has 2 entries but there are 3 eigenvalues"):
        rec.critical_learning_rate([1.0, 1.0, 1.0])


def test_noise_variance_negative():
    with pytest.raises(ValueError, match=r"noise_variance must be finite and >= 0"):
        REC.risk([1.0], 0.1, noise_variance=-1.0, steps=2)


@pytest.mark.parametrize("factor", [1.0, 1.5])
def test_stationary_risk_at_or_above_critical(factor):
    gc = REC.critical_learning_rate([1.0, 1.0])
    with pytest.raises(ValueError, match=r"learning_rate must lie in \(0, critical learning rate = 0\.5"):
        REC.stationary_risk([1.0, 1.0], gc * factor, noise_variance=1.0)


def test_unknown_hyperparameter():
    with pytest.raises(ValueError, match=r"unknown hyperparameter"):
        REC.risk([1.0], 0.1, steps=2, momentum=0.9)


def test_initial_shape():
    with pytest.raises(ValueError, match=r"initial must be a number or an array of shape \(2,\)"):
        REC.risk([1.0, 2.0], 0.1, steps=2, initial=[1.0, 2.0, 3.0])
