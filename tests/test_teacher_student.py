"""theory.teacher_student against independent oracles: the student's linear maps (w, noise) ->
w_hat computed by a dense matrix exponential in mpmath (gradient flow), by iterating gradient
descent itself, and by solving the ridge normal equations; expectations over teacher and
noise taken exactly from those maps (Frobenius norms), never from the eigen-formula."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp

from theory.teacher_student import (
    EIGENVALUE,
    TIME,
    TwoScaleTeacherStudent,
    crossings,
    locate_extremum,
    spectral_filter,
)
from theory.teacher_student import expected_test_error_expression as error_expression


def _errors_from_maps(model, X, Kw, Ke):
    """E_G, E_T, E_fast, E_slow from w_hat = Kw w + Ke eps (exact averages over w, eps)."""
    F = np.diag(model.scales)
    Z = X @ np.linalg.inv(F)
    d, n, s2 = model.d, model.n, model.noise_variance
    Ew = F @ Kw - np.eye(d)
    Ee = F @ Ke
    rows = (Ew**2).sum(axis=1) + s2 * (Ee**2).sum(axis=1)
    fast = rows[:model.p].sum() / (2 * d)
    slow = rows[model.p:].sum() / (2 * d)
    train = (((X @ Kw - Z) ** 2).sum() + s2 * ((X @ Ke - np.eye(n)) ** 2).sum()) / (2 * n)
    return fast + slow, train, fast, slow


def _stepped_errors(model, X, eta, steps):
    """The oracle's (E_G, E_T, E_fast, E_slow) at each of ``steps`` (increasing), from the linear maps of
    gradient descent iterated step by step (K <- K - eta X^T (X K - [Z, I]))."""
    Z = X / model.scales
    K, target = np.zeros((model.d, model.d + model.n)), np.hstack([Z, np.eye(model.n)])
    k, out = 0, []
    for kk in steps:
        while k < kk:
            K = K - eta * X.T @ (X @ K - target)
            k += 1
        out.append(_errors_from_maps(model, X, K[:, :model.d], K[:, model.d:]))
    return out


def _flow_maps_mpmath(X, Z, t, dps=40):
    """G(t) = int_0^t exp(-A tau) d tau from the top-right block of expm([[-A, I], [0, 0]] t)."""
    with mpmath.workdps(dps):
        d = X.shape[1]
        A = mpmath.matrix(X.T @ X)
        big = mpmath.zeros(2 * d, 2 * d)
        for i in range(d):
            for j in range(d):
                big[i, j] = -A[i, j] * t
            big[i, d + i] = t
        E = mpmath.expm(big)
        G = np.array([[float(E[i, d + j]) for j in range(d)] for i in range(d)])
    return G @ X.T @ Z, G @ X.T


CASES = [TwoScaleTeacherStudent(7, 5, 3, 3.0, 0.3), TwoScaleTeacherStudent(4, 6, 2, 10.0, 0.5),
         TwoScaleTeacherStudent(6, 6, 6, 1.0, 0.0)]


@pytest.mark.parametrize("model", CASES, ids=lambda m: f"n{m.n}d{m.d}")
def test_gradient_flow_against_mpmath_matrix_exponential(model):
    X = model.sample_design(np.random.default_rng(3))
    Z = X / model.scales
    times = [0.3, 2.0, 17.0]
    c = model.curves(X, times, "flow")
    for j, t in enumerate(times):
        ref = _errors_from_maps(model, X, *_flow_maps_mpmath(X, Z, t))
        got = (c.test_error[j], c.training_error[j], c.test_error_fast[j], c.test_error_slow[j])
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-13)
    # order parameters: E_G = (1 - 2R + Q) / 2
    np.testing.assert_allclose(c.test_error, (1 - 2 * c.R + c.Q) / 2, rtol=1e-12)


@pytest.mark.parametrize("model", CASES, ids=lambda m: f"n{m.n}d{m.d}")
def test_gradient_descent_against_direct_iteration(model):
    X = model.sample_design(np.random.default_rng(4))
    eta = 0.9 / np.linalg.eigvalsh(X.T @ X).max()
    steps = [1, 5, 40, 300]
    c = model.curves(X, [k * eta for k in steps], "gd", learning_rate=eta)
    for j, ref in enumerate(_stepped_errors(model, X, eta, steps)):
        np.testing.assert_allclose((c.test_error[j], c.training_error[j], c.test_error_fast[j],
                                    c.test_error_slow[j]), ref, rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("model", CASES, ids=lambda m: f"n{m.n}d{m.d}")
def test_ridge_against_normal_equations(model):
    X = model.sample_design(np.random.default_rng(5))
    Z = X / model.scales
    lams = [1e-3, 0.1, 4.0]
    c = model.curves(X, lams, "ridge")
    for j, lam in enumerate(lams):
        Ginv = np.linalg.solve(X.T @ X + lam * np.eye(model.d), X.T)
        ref = _errors_from_maps(model, X, Ginv @ Z, Ginv)
        np.testing.assert_allclose((c.test_error[j], c.training_error[j]), ref[:2], rtol=1e-8, atol=1e-13)


def test_filters_are_derived_and_solve_their_dynamics():
    s, t = EIGENVALUE, TIME
    phi = spectral_filter("flow")
    # d/dt (phi/s) = 1 - s (phi/s), i.e. the flow's ODE for u/b, with phi(0) = 0
    assert sp.simplify(sp.diff(phi / s, t) - (1 - phi)) == 0 and phi.subs(t, 0) == 0
    assert sp.simplify(spectral_filter("ridge") - s / (s + sp.Symbol("lambda", positive=True))) == 0
    assert "\\sum" in sp.latex(error_expression())
    tex = TwoScaleTeacherStudent(5, 4, 2, 3.0).latex()
    assert tex.startswith("\\begin{align*}") and "e^{- s_a t}" in tex and "\\eta" in tex
    with pytest.raises(ValueError, match="method"):
        spectral_filter("adam")


def test_design_test_error_equals_the_sum_of_the_blocks():
    """design_test_error (both blocks in one quadratic form) = design_curves' test_error to rounding, for
    every method, with noise, kappa != 1 and a rank-deficient design (n < d)."""
    rng = np.random.default_rng(4)
    for m in (TwoScaleTeacherStudent(13, 10, 7, 30.0, 0.4), TwoScaleTeacherStudent(6, 9, 4, 3.0, 0.2)):
        X = m.sample_design(rng, designs=5)
        for method, times, lr in (("flow", [0.0, 0.5, 40.0, 1e4], None), ("gd", [0.0, 0.2, 8.0, 2e3], 0.1),
                                  ("ridge", [1e-4, 0.1, 3.0], None)):
            ref = m.design_curves(X, times, method, lr).test_error
            np.testing.assert_allclose(m.design_test_error(X, times, method, lr, chunk=2), ref, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="designs"):
        m.design_test_error(X[:, :, :-1], [1.0])


def test_numeric_filters_against_mpmath():
    """filter_values (the derived filter, rewritten to expm1/log1p for floating point where the base is
    positive) against 40-digit mpmath: 1e-16 absolute, small eigenvalues and long times included; the
    negative-base branch (eta s > 1, whole steps) still uses the power."""
    import mpmath
    m = TwoScaleTeacherStudent(5, 4, 2, 3.0)
    rng = np.random.default_rng(0)
    s = np.concatenate([rng.uniform(0, 4.9, 40), rng.uniform(0, 1e-5, 10), [0.0]])
    times = np.array([0.0, 0.2, 1.0, 37.4, 4000.0, 2e5])
    for method, lr in (("flow", None), ("gd", 0.2)):
        got = m.filter_values(s, times, method, lr)
        for j, t in enumerate(times):
            for a, sa in enumerate(s):
                with mpmath.workdps(40):
                    x = mpmath.mpf(sa)
                    ref = (1 - mpmath.exp(-x * mpmath.mpf(t)) if method == "flow"
                           else 1 - (1 - mpmath.mpf(lr) * x) ** (mpmath.mpf(t) / mpmath.mpf(lr)))
                assert abs(got[j, a] - float(ref)) <= 2e-16 * max(1.0, abs(float(ref))), (method, t, sa)
    # eta s_max > 1: whole steps only, (1 - eta s)^k with a negative base
    got = m.filter_values(np.array([0.5, 8.0]), [0.0, 0.3, 1.2], "gd", 0.15)
    np.testing.assert_allclose(got, 1 - (1 - 0.15 * np.array([0.5, 8.0])) ** np.array([0, 2, 8])[:, None], rtol=1e-15)


def test_kappa_one_noiseless_is_monotone_and_double_descent_has_a_peak():
    t = np.logspace(-1, 6, 120)
    flat = TwoScaleTeacherStudent(130, 100, 70, 1.0).averaged(t, 3, np.random.default_rng(0))
    assert np.all(np.diff(flat.mean["test_error"]) <= 1e-12)
    assert flat.first_minimum is None
    dd = TwoScaleTeacherStudent(130, 100, 70, 100.0).averaged(t, 8, np.random.default_rng(0))
    lo, hi = dd.first_minimum, dd.peak
    assert lo is not None and hi is not None and lo.time < hi.time and hi.height > lo.height
    # the fast block dominates the error at the peak, the slow one is then falling
    i = np.searchsorted(t, hi.time)
    assert dd.mean["test_error_fast"][i] > dd.mean["test_error_fast"][np.searchsorted(t, lo.time)]


def test_locate_extremum_on_a_known_parabola():
    u = np.linspace(-2, 2, 41)
    rng = np.random.default_rng(0)
    shifts = 0.3 + 0.05 * rng.standard_normal(200)
    curves = (u[None, :] - shifts[:, None]) ** 2 + 1.0
    e = locate_extremum(np.exp(u), curves, "min")
    # mean curve (u - mean shift)^2 + 1 + var: minimum at the mean shift
    assert abs(np.log(e.time) - shifts.mean()) < 1e-9
    assert abs(np.log(e.time) - 0.3) < 5 * e.time_se / e.time
    assert locate_extremum(np.exp(u), curves, "max") is None


@pytest.mark.parametrize("kw,match", [
    ({"n": 0, "d": 5, "p": 2, "kappa": 2.0}, "n must"), ({"n": 5, "d": 5, "p": 6, "kappa": 2.0}, "p must"),
    ({"n": 5, "d": 5, "p": 2, "kappa": 0.0}, "kappa"), ({"n": 5, "d": 5, "p": 2, "kappa": 2.0, "noise_variance": -1}, "noise_variance")])
def test_bad_parameters_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        TwoScaleTeacherStudent(**kw)


def test_bad_design_times_and_step_are_named():
    m = TwoScaleTeacherStudent(5, 4, 2, 2.0)
    X = m.sample_design(np.random.default_rng(0))
    with pytest.raises(ValueError, match="X must"):
        m.curves(X[:3], [1.0])
    with pytest.raises(ValueError, match="times"):
        m.curves(X, [-1.0])
    with pytest.raises(ValueError, match="learning_rate"):
        m.curves(X, [1.0], "gd", learning_rate=1e3)
    with pytest.raises(ValueError, match="lambda"):
        m.curves(X, [0.0], "ridge")


def test_self_averaging_spread_across_designs_shrinks_as_d_grows():
    """Standard deviation over designs of E_G at the peak time (t = 50), fixed n/d = 1.3, p/d = 0.7:
    measured 0.0188, 0.0090, 0.0044, 0.0024 at d = 50, 100, 200, 400 (40 designs; ~ 1/d). Here a
    one-sided F test (SciPy) at 1e-6 that the variance at d = 200 is below that at d = 50."""
    from scipy import stats
    var = []
    for s in (1, 4):
        m = TwoScaleTeacherStudent(65 * s, 50 * s, 35 * s, 100.0)
        var.append(m.averaged([50.0], 20, np.random.default_rng(s), "flow").per_design[:, 0].var(ddof=1))
    assert stats.f.sf(var[0] / var[1], 19, 19) < 1e-6


def test_crossings_of_two_known_curves():
    t = np.logspace(-2, 2, 40)
    a, b = np.log(t), np.zeros_like(t)                         # cross at t = 1, between grid points
    np.testing.assert_allclose(crossings(t, a, b), [1.0], rtol=1e-12)
    assert crossings(t, a + 10, b).size == 0


def test_docs_figure_fast_and_slow_components_cross_between_the_minimum_and_the_peak():
    """The docs figure's panel (b) at Fig. 1 (gradient flow, 40 designs): the fast features' error falls
    below the slow features' (t ~ 0.5), rises back above it between the first minimum and the peak of
    E_G (measured t = 10.3 with 100 designs, minimum 1.88, peak 46.9), and the slow features' error
    has fallen by less than 2 % of its value by the peak (they have not started to fit)."""
    m = TwoScaleTeacherStudent(130, 100, 70, 100.0)
    t = np.logspace(-1, 5, 241)
    avg = m.averaged(t, 40, np.random.default_rng(1), "flow")
    fast, slow = avg.mean["test_error_fast"], avg.mean["test_error_slow"]
    cross = crossings(t, fast, slow)
    assert cross.size == 2 and cross[0] < avg.first_minimum.time < cross[1] < avg.peak.time
    at_peak = np.interp(np.log(avg.peak.time), np.log(t), slow)
    assert at_peak > 0.98 * slow[0] and slow[-1] < 0.1 * slow[0]


def test_design_curves_of_a_batch_equal_the_dense_maps_design_by_design():
    """design_curves (batched over designs, in chunks) against the dense linear maps of gradient
    descent iterated step by step, for designs on both sides of eta s_max = 1, and equal to curves."""
    model = TwoScaleTeacherStudent(7, 5, 3, 3.0, 0.3)
    Xs = model.sample_design(np.random.default_rng(6), designs=5)
    smax = np.linalg.eigvalsh(Xs.transpose(0, 2, 1) @ Xs)[:, -1]
    eta = 1.0 / np.median(smax)                       # eta s_max > 1 on some designs, < 1 on others
    assert np.any(eta * smax > 1) and np.any(eta * smax < 1) and np.all(eta * smax < 2)
    steps = [1, 6, 50]
    c = model.design_curves(Xs, [k * eta for k in steps], "gd", eta, chunk=2)
    assert c.test_error.shape == (5, 3)
    for i, X in enumerate(Xs):
        for j, ref in enumerate(_stepped_errors(model, X, eta, steps)):
            np.testing.assert_allclose((c.test_error[i, j], c.training_error[i, j], c.test_error_fast[i, j],
                                        c.test_error_slow[i, j]), ref, rtol=1e-9, atol=1e-13)
        one = model.curves(X, [k * eta for k in steps], "gd", eta)
        np.testing.assert_allclose(one.Q, c.Q[i], rtol=1e-13, atol=1e-15)
    with pytest.raises(ValueError, match="designs"):
        model.design_curves(Xs[:, :3], [1.0])
