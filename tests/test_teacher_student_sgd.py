"""Multi-pass minibatch SGD on a fixed teacher-student training set: the exact expected test error
(theory.teacher_student_sgd, from the empirical-distribution recursion) against enumeration of every
sequence of minibatches (exact rationals of the paths' probabilities, float64 sums), against gradient
descent for the mean iterate, and against Monte Carlo under the calibrated test; bad input."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from theory.teacher_student import TwoScaleTeacherStudent
from theory.teacher_student_sgd import sgd_test_error
from verify.stats import AlphaBudget, scalar_comparison
from verify.teacher_student import sgd_runs


def _training_set(m, seed):
    rng = np.random.default_rng(seed)
    X, w = m.sample_design(rng), rng.standard_normal(m.d)
    y = X / m.scales @ w + np.sqrt(m.noise_variance) * rng.standard_normal(m.n)
    return X, y, w


def _enumerate(m, X, y, w, eta, k, batch):
    """E over every sequence of k minibatches (each of ``batch`` rows with replacement, all n^(k B)
    sequences equally likely) of the test error, split (fast, slow); stepping SGD itself."""
    fast = np.arange(m.d) < m.p
    tot = np.zeros(2)
    seqs = list(itertools.product(range(m.n), repeat=batch))
    for path in itertools.product(seqs, repeat=k):
        wh = np.zeros(m.d)
        for rows in path:
            wh = wh - eta * m.n / batch * sum(X[r] * (X[r] @ wh - y[r]) for r in rows)
        err = (m.scales * wh - w) ** 2 / (2 * m.d)
        tot += err[fast].sum(), err[~fast].sum()
    return tot / len(seqs) ** k


@pytest.mark.parametrize("n, d, p, batch, k", [(3, 2, 1, 1, 4), (4, 3, 2, 2, 2), (2, 3, 1, 1, 3)])
def test_exact_expectation_equals_enumeration_of_minibatches(n, d, p, batch, k):
    """Including n < d (rank-deficient design: the null-space part of w_hat stays 0)."""
    m = TwoScaleTeacherStudent(n, d, p, 3.0, 0.3)
    X, y, w = _training_set(m, 1)
    eta = 0.4 / n
    c = sgd_test_error(m, X, y, w, eta, list(range(k + 1)), batch=batch)
    for j in range(k + 1):
        fast, slow = _enumerate(m, X, y, w, eta, j, batch)
        np.testing.assert_allclose([c.test_error_fast[j], c.test_error_slow[j]], [fast, slow], rtol=1e-11, atol=1e-15)


def test_mean_iterate_is_gradient_descent():
    """E w_hat_k is the gradient-descent iterate: mean_test_error equals the test error of stepping GD."""
    m = TwoScaleTeacherStudent(13, 10, 7, 5.0, 0.25)
    X, y, w = _training_set(m, 2)
    eta = 0.5 / 13
    c = sgd_test_error(m, X, y, w, eta, [0, 7, 40], batch=3)
    wh, out = np.zeros(10), []
    for k in range(41):
        if k in (0, 7, 40):
            out.append(((m.scales * wh - w) ** 2).sum() / 20)
        wh = wh - eta * X.T @ (X @ wh - y)
    np.testing.assert_allclose(c.mean_test_error, out, rtol=1e-11)
    assert np.all(c.test_error[1:] > c.mean_test_error[1:])          # SGD adds variance


def test_monte_carlo_matches_and_planted_errors_are_rejected():
    """1000 SGD runs on one training set (n = 26, d = 20, p = 14, kappa = 10, sigma^2 = 0.25, B = 2): the
    exact expectation passes at t = 1, 10, 30, 100; the expectation for batch 3 and the test error of
    the mean iterate (gradient descent, no SGD variance) are rejected."""
    m = TwoScaleTeacherStudent(26, 20, 14, 10.0, 0.25)
    X, y, w = _training_set(m, 5)
    steps, eta = [26, 260, 780, 2600], 1 / 26
    runs = sgd_runs(m, X, y, w, eta, steps, 2, 1000, seed=3)
    right = sgd_test_error(m, X, y, w, eta, steps, batch=2)
    batch3 = sgd_test_error(m, X, y, w, eta, steps, batch=3)
    for theory, ok in ((right.test_error, True), (batch3.test_error, False), (right.mean_test_error, False)):
        alphas = AlphaBudget(1e-6, [str(k) for k in steps])
        passed = [scalar_comparison(theory[j], runs.test_error[:, j], alpha=alphas[str(k)]).passed
                  for j, k in enumerate(steps)]
        assert all(passed) is ok


def test_bad_input_is_named():
    m = TwoScaleTeacherStudent(5, 3, 1, 2.0)
    X, y, w = _training_set(m, 0)
    with pytest.raises(ValueError, match="y must"):
        sgd_test_error(m, X, y[:3], w, 0.1, [1])
    with pytest.raises(ValueError, match="teacher must"):
        sgd_test_error(m, X, y, w[:2], 0.1, [1])
    with pytest.raises(ValueError, match="learning_rate"):
        sgd_test_error(m, X, y, w, -0.1, [1])
    with pytest.raises(ValueError, match="batch"):
        sgd_test_error(m, X, y, w, 0.1, [1], batch=0)
    with pytest.raises(ValueError, match="record"):
        sgd_test_error(m, X, y, w, 0.1, [-1])
    with pytest.raises(ValueError, match="replicas"):
        sgd_runs(m, X, y, w, 0.1, [1], 1, 1, seed=0)
