"""Scalar and array checks: strings and booleans are refused, seeds and replicas are checked with
errors that name the argument; few replicas warn about power."""
import warnings

import numpy as np
import pytest

from theory import derive
from theory.validation import (
    FewReplicasWarning,
    check_eigenvalues,
    check_positive,
    check_replicas,
    check_seed,
)
from verify import simulate

KW = dict(eigenvalues=[1.0, 0.5], learning_rate=0.2, steps=3)


@pytest.mark.parametrize("eigenvalues", [["1", "0.5"], "2", [True, 1.0], np.array([True, False]),
                                         np.array(["1.0"]), [1.0, b"2"]])
def test_strings_and_booleans_are_not_eigenvalues(eigenvalues):
    with pytest.raises(ValueError, match=r"eigenvalues must be .* not (strings|booleans)"):
        check_eigenvalues(eigenvalues)
    with pytest.raises(ValueError, match="eigenvalues"):
        derive().critical_learning_rate(eigenvalues)
    with pytest.raises(ValueError, match="eigenvalues"):
        simulate(**{**KW, "eigenvalues": eigenvalues}, replicas=200)


def test_numbers_of_any_numeric_type_are_eigenvalues():
    from fractions import Fraction

    import mpmath
    for lam in ([1, 2.0], np.arange(1, 3), np.array([1.0, 2.0], dtype=object), [Fraction(1, 2), mpmath.mpf(1)],
                np.float32([1.0, 0.5])):
        assert check_eigenvalues(lam).dtype == float


@pytest.mark.parametrize("value", [True, False, np.bool_(True), np.array(True), "0.1"])
def test_booleans_and_strings_are_not_learning_rates(value):
    with pytest.raises(ValueError, match="learning_rate must be a real number"):
        check_positive(value, "learning_rate")
    with pytest.raises(ValueError, match="learning_rate"):
        derive().stationary_risk([1.0, 0.5], value)
    with pytest.raises(ValueError, match="learning_rate"):
        simulate(**{**KW, "learning_rate": value}, replicas=200)


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, [1, -2], [], 2.0])
def test_seed_errors_name_the_argument(seed):
    with pytest.raises(ValueError, match=r"^seed must be None, a non-negative integer"):
        check_seed(seed)
    with pytest.raises(ValueError, match=r"^seed must be"):
        simulate(**KW, replicas=200, seed=seed)


def test_valid_seeds():
    for seed in (None, 0, 7, np.int64(3), [1, 2], np.random.SeedSequence(4)):
        assert check_seed(seed) is seed
        simulate(**KW, replicas=200, seed=seed)


def test_one_replica_is_refused_and_few_replicas_warn():
    with pytest.raises(ValueError, match=r"replicas must be an integer >= 2 \(a standard error needs"):
        simulate(**KW, replicas=1)
    with pytest.raises(ValueError, match="replicas must be an integer >= 2"):
        check_replicas(True)
    for n in (2, 10, 29):
        with pytest.warns(FewReplicasWarning, match=f"replicas = {n} < 30"):
            simulate(**KW, replicas=n, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_replicas(30) == 30 and simulate(**KW, replicas=1000, seed=0).replicas == 1000


def test_adaptive_simulation_refuses_one_replica():
    from verify.adaptive import AdaGradNorm, simulate_adaptive
    with pytest.raises(ValueError, match="replicas must be an integer >= 2"):
        simulate_adaptive(AdaGradNorm(1.0, 0.5), eigenvalues=[1.0, 0.5], steps=3, replicas=1)
