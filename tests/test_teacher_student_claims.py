"""The teacher-student Monte Carlo and claims: the matrix-power GD equals stepping GD (the claims
themselves run in tests/verify/test_claims.py); planted wrong theories (slow features' scale off by 5 %, noise variance off by 10 %) are
rejected by the same checks on the same runs."""
from __future__ import annotations

import numpy as np
import pytest

from theory.teacher_student import TwoScaleTeacherStudent
from theory.teacher_student_sgd import sgd_test_error
from verify.claims import BUDGETS
from verify.claims.teacher_student import (
    CLOSED_FORM_POINTS,
    FIG1,
    LEARNING_RATE,
    SGD_BATCH,
    SGD_LEARNING_RATE,
    SGD_MODEL,
    _fig1_runs,
    closed_form_checks,
    closed_form_large_d,
    closed_form_model,
    closed_form_names,
    double_descent_checks,
    finite_d_curves,
    sgd_checks,
    sgd_training_set,
)
from verify.stats import AlphaBudget, scalar_comparison
from verify.teacher_student import gradient_descent_runs, paired, sgd_runs


def test_matrix_power_equals_stepping_gradient_descent():
    m = TwoScaleTeacherStudent(9, 6, 2, 5.0, 0.3)
    steps, eta, r, k_teach = [0, 1, 6, 37], 0.15, 3, 2
    runs = gradient_descent_runs(m, eta, steps, r, seed=11, teachers=k_teach)
    rng = np.random.default_rng(11)
    Z = rng.standard_normal((r, m.n, m.d)) / np.sqrt(m.d)
    W = rng.standard_normal((r, m.d, k_teach))
    Y = Z @ W + np.sqrt(0.3) * rng.standard_normal((r, m.n, k_teach))
    for i in range(r):
        X = Z[i] * m.scales
        w_hat = np.zeros((m.d, k_teach))
        k = 0
        for j, kk in enumerate(steps):
            while k < kk:
                w_hat -= eta * X.T @ (X @ w_hat - Y[i])
                k += 1
            test = ((m.scales[:, None] * w_hat - W[i]) ** 2).sum() / (2 * m.d * k_teach)
            train = ((X @ w_hat - Y[i]) ** 2).sum() / (2 * m.n * k_teach)
            np.testing.assert_allclose([runs.test_error[i, j], runs.training_error[i, j]], [test, train],
                                       rtol=1e-10)
    np.testing.assert_allclose(runs.designs, Z * m.scales)


def test_bad_monte_carlo_arguments_are_named():
    m = TwoScaleTeacherStudent(9, 6, 2, 5.0)
    with pytest.raises(ValueError, match="learning_rate"):
        gradient_descent_runs(m, 50.0, [3], 2, seed=0)
    with pytest.raises(ValueError, match="steps"):
        gradient_descent_runs(m, 0.1, [2**27], 2, seed=0)
    with pytest.raises(ValueError, match="replicas"):
        gradient_descent_runs(m, 0.1, [1], 1, seed=0)


def test_double_descent_rejects_slow_scale_off_by_5_percent():
    runs, located = _fig1_runs(FIG1, BUDGETS["quick"], np.random.SeedSequence(3, spawn_key=(1,)))
    wrong = TwoScaleTeacherStudent(FIG1.n, FIG1.d, FIG1.p, FIG1.kappa * 1.05, 0.0)
    names = ["minimum height", "minimum slope", "peak height", "peak slope", "early", "late", "rise"]
    good = double_descent_checks(FIG1, runs, AlphaBudget(1e-6, names), located)
    bad = double_descent_checks(wrong, runs, AlphaBudget(1e-6, names), located)
    assert all(v.passed for v in good)
    assert not all(v.passed for v in bad if v.counted)


def test_noise_variance_off_by_10_percent_is_rejected():
    model = TwoScaleTeacherStudent(130, 100, 100, 1.0, 0.5)
    runs = gradient_descent_runs(model, LEARNING_RATE, [20000], 125, seed=4, teachers=8)
    for sigma2, ok in ((0.5, True), (0.55, False)):
        exact, samples = paired(runs, TwoScaleTeacherStudent(130, 100, 100, 1.0, sigma2))
        assert scalar_comparison(exact[:, 0].mean(), samples[:, 0], alpha=1e-6).passed is ok


def test_closed_form_rejects_a_wrong_large_d_formula():
    """teacher_student.closed_form's checks on the same finite-d design averages (standard budget's
    400 designs at d = 20, 40, 80): the derived large-d forms pass; the forms with the slow features'
    scale off by 5 % (kappa = 105) are rejected by the Richardson limit checks, also when only the flow
    form is wrong, and so is a limit shifted by +0.005 (a constant offset at every point)."""
    per = finite_d_curves((20, 40, 80), 400, seed=7)
    right = closed_form_large_d(closed_form_model(80))
    assert all(v.passed for v in closed_form_checks(per, right, AlphaBudget(1e-6, closed_form_names())) if v.counted)
    flow = slice(4, 8)
    assert [m for m, _ in CLOSED_FORM_POINTS[flow]] == ["flow"] * 4
    wrong_kappa = closed_form_large_d(closed_form_model(80, kappa=105.0))
    for wrong in (wrong_kappa, right + 0.005, np.concatenate([right[:4], wrong_kappa[flow]])):
        verdicts = closed_form_checks(per, wrong, AlphaBudget(1e-6, closed_form_names()))
        assert not all(v.passed for v in verdicts[:len(CLOSED_FORM_POINTS)])


def test_sgd_claim_checks_reject_a_wrong_batch_and_the_gradient_descent_curve():
    """teacher_student.sgd's checks at the standard budget (1000 runs): the exact expectation passes, the
    expectation for batch 3 (instead of 2) and gradient descent's curve (no minibatch variance) fail."""
    steps = [26, 260, 780, 2600]
    X, y, w = sgd_training_set(11)
    runs = sgd_runs(SGD_MODEL, X, y, w, SGD_LEARNING_RATE, steps, SGD_BATCH, 1000, seed=12)
    right = sgd_test_error(SGD_MODEL, X, y, w, SGD_LEARNING_RATE, steps, batch=SGD_BATCH)
    wrong = sgd_test_error(SGD_MODEL, X, y, w, SGD_LEARNING_RATE, steps, batch=SGD_BATCH + 1)

    def alphas():
        return AlphaBudget(1e-6, [f"t={t:g}" for t in runs.times] + ["noise"])
    assert all(v.passed for v in sgd_checks(right.test_error, runs, alphas(), gd=right.mean_test_error))
    assert not all(v.passed for v in sgd_checks(wrong.test_error, runs, alphas()))
    assert not all(v.passed for v in sgd_checks(right.mean_test_error, runs, alphas()))


def test_stability_check_at_the_edge_of_the_stable_range():
    """The learning-rate check (Gershgorin, then the Frobenius norm of the top matrix power, then the
    largest eigenvalue) agrees with the eigenvalues of the drawn designs just below and above 2 / s_max."""
    from verify.teacher_student import draw_designs
    m = TwoScaleTeacherStudent(20, 10, 5, 4.0)
    X = draw_designs(m, 4, 5)
    smax = np.linalg.eigvalsh(X.transpose(0, 2, 1) @ X)[:, -1].max()
    ok = gradient_descent_runs(m, 0.999 * 2 / smax, [2**12], 4, seed=5)
    assert np.all(np.isfinite(ok.test_error))
    with pytest.raises(ValueError, match="learning_rate"):
        gradient_descent_runs(m, 1.001 * 2 / smax, [2**12], 4, seed=5)


def test_eigenbasis_runs_equal_stepping_above_eta_s_max_one_and_reuse_given_spectra():
    """Gradient descent from the eigenbasis closed form against stepping the update rule, at a learning
    rate with eta s_max > 1 on some designs (negative base of (1 - eta s)^k) and many steps; given
    spectra are used (same numbers) and spectra of other designs are rejected."""
    from verify.teacher_student import design_spectra, draw_designs
    m = TwoScaleTeacherStudent(7, 5, 3, 8.0, 0.2)
    r, k_teach = 4, 3
    X = draw_designs(m, r, 3, teachers=k_teach)
    smax = np.linalg.eigvalsh(X.transpose(0, 2, 1) @ X)[:, -1]
    eta = 1.6 / smax.max()
    assert np.any(eta * smax > 1)
    steps = [0, 1, 2, 9, 400]
    runs = gradient_descent_runs(m, eta, steps, r, seed=3, teachers=k_teach)
    again = gradient_descent_runs(m, eta, steps, r, seed=3, teachers=k_teach, spectra=design_spectra(X))
    np.testing.assert_array_equal(again.test_error, runs.test_error)
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((r, m.n, m.d)) / np.sqrt(m.d)
    W = rng.standard_normal((r, m.d, k_teach))
    Y = Z @ W + np.sqrt(0.2) * rng.standard_normal((r, m.n, k_teach))
    for i in range(r):
        w_hat, k = np.zeros((m.d, k_teach)), 0
        for j, kk in enumerate(steps):
            while k < kk:
                w_hat -= eta * X[i].T @ (X[i] @ w_hat - Y[i])
                k += 1
            fw = m.scales[:, None] * w_hat
            np.testing.assert_allclose([runs.test_error[i, j], runs.test_error_fast[i, j], runs.R[i, j], runs.Q[i, j]],
                                       [((fw - W[i]) ** 2).sum() / (2 * m.d * k_teach),
                                        ((fw - W[i])[:m.p] ** 2).sum() / (2 * m.d * k_teach),
                                        (fw * W[i]).sum() / (m.d * k_teach), (fw * fw).sum() / (m.d * k_teach)],
                                       rtol=1e-9)
    with pytest.raises(ValueError, match="spectra"):
        gradient_descent_runs(m, eta, steps, r, seed=4, teachers=k_teach, spectra=design_spectra(X))


def test_given_training_sets_give_the_same_runs_and_mismatched_ones_are_rejected():
    """``draws`` (draw_training_sets) are the very training sets the runs draw: identical numbers, the same
    designs; sets drawn with another seed, chunk, model or teacher count are refused."""
    from verify.teacher_student import design_spectra, draw_designs, draw_training_sets
    m = TwoScaleTeacherStudent(9, 6, 4, 5.0, 0.3)
    r, k_teach, steps = 7, 2, [0, 3, 50]
    sets = draw_training_sets(m, r, 2, teachers=k_teach, chunk=3)
    np.testing.assert_array_equal(sets.designs, draw_designs(m, r, 2, teachers=k_teach, chunk=3))
    ref = gradient_descent_runs(m, 0.05, steps, r, seed=2, teachers=k_teach, chunk=3)
    for spectra in (None, design_spectra(sets.designs)):
        got = gradient_descent_runs(m, 0.05, steps, r, seed=2, teachers=k_teach, chunk=3, draws=sets, spectra=spectra)
        for name in ("test_error", "test_error_fast", "training_error", "R", "Q", "designs"):
            np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))
    for bad in ({"seed": 3}, {"chunk": 4}, {"teachers": 1}, {"replicas": 6}):
        kw = {"seed": 2, "teachers": k_teach, "chunk": 3, "replicas": r} | bad
        with pytest.raises(ValueError, match="draws"):
            gradient_descent_runs(m, 0.05, steps, kw.pop("replicas"), draws=sets, **kw)
    with pytest.raises(ValueError, match="draws"):
        gradient_descent_runs(TwoScaleTeacherStudent(9, 6, 4, 4.0, 0.3), 0.05, steps, r, seed=2, teachers=k_teach,
                              chunk=3, draws=sets)
