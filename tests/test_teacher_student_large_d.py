"""The large-d closed form (deterministic equivalent) against finite-d exact design averages as d
grows, its exact limits, and the paper's published closed form as an oracle with its measured gap.

The paper's closed form exists in three versions in its public code
(github.com/mpezeshki/Epoch_wise_Double_Descent): ``lib/analytical.py`` (imported by fig1.py,
never committed), and two inline copies; we use ``extra_experiments/misc.py`` (lines 126-160 at
the stored commit) because it is the only complete, runnable one. It is copied below verbatim
(as the oracle; it is not the implementation) and halved to the package's normalisation E_G =
1/2 E(...)^2 (misc.py plots the unhalved 1 - 2R + Q).
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import brentq

from theory.teacher_student import TwoScaleTeacherStudent, locate_extremum
from theory.teacher_student_large_d import large_d_test_error
from verify.stats import AlphaBudget, scalar_comparison


def paper_misc_test_error(n, d, p, k, noise, ts, lambda_=0.0):
    """misc.py's EG_an (Pezeshki et al., Eq. 12-14 with lambda = 1/t), halved."""
    s1 = 0.5
    s2 = 0.5 / k
    lambdas = 1.0 / ts + lambda_
    alpha_1 = n / p
    lambdas_1 = lambdas / ((p / d) * s1 ** 2)
    a1 = 1 + 2 * lambdas_1 / (1 - alpha_1 - lambdas_1 + np.sqrt((1 - alpha_1 - lambdas_1) ** 2 + 4 * lambdas_1))
    alpha_2 = n / (d - p)
    lambdas_2 = lambdas / (((d - p) / d) * s2 ** 2)
    a2 = 1 + 2 * lambdas_2 / (1 - alpha_2 - lambdas_2 + np.sqrt((1 - alpha_2 - lambdas_2) ** 2 + 4 * lambdas_2))
    R1 = (n / d) * 1 / a1
    R2 = (n / d) * 1 / a2
    b1 = alpha_1 / (a1 ** 2 - alpha_1)
    c1 = 1 + noise ** 2 - 2 * R2 - ((2 - a1) / a1) * (n / d)
    b2 = alpha_2 / (a2 ** 2 - alpha_2)
    c2 = 1 + noise ** 2 - 2 * R1 - ((2 - a2) / a2) * (n / d)
    Q1 = (b1 * b2 * c2 + b1 * c1) / (1 - b1 * b2)
    Q2 = (b1 * b2 * c1 + b2 * c2) / (1 - b1 * b2)
    return (1 - 2 * (R1 + R2) + Q1 + Q2) / 2


def typed_ridge_test_error(n, d, p, kappa, noise_variance, lam):
    """The standard large-d ridge formula, typed from Bach (arXiv:2303.01372, Prop. 1) with
    Sigma = F^2/d and E beta beta^T = F^{-2}: mu = lambda/n = nu (1 - df_1(nu)/n),
    E_G = 1/2 (nu^2 tr F^{-2} Sigma (Sigma + nu)^{-2} + sigma^2 df_2/n) / (1 - df_2/n).
    An oracle only (the package derives its form from the self-consistent equation)."""
    blocks = ((p, 1 / d, 1.0), (d - p, 1 / (kappa**2 * d), kappa**2))      # (multiplicity, atom, f^-2)
    mu = lam / n
    nu = brentq(lambda v: mu + v * sum(m * a / (a + v) for m, a, _ in blocks) / n - v, 1e-300,
                mu + (p + (d - p) / kappa**2) / (d * n) + 1e-12, xtol=1e-300, rtol=1e-15)
    df2 = sum(m * a**2 / (a + nu) ** 2 for m, a, _ in blocks)
    bias = sum(m * g * a / (a + nu) ** 2 for m, a, g in blocks)
    return (nu**2 * bias + noise_variance * df2 / n) / (1 - df2 / n) / 2


@pytest.mark.parametrize("args", [(130, 100, 70, 100.0, 0.25), (50, 100, 30, 10.0, 0.5), (130, 100, 70, 1.0, 0.0),
                                  (400, 100, 60, 3.0, 1.0), (90, 100, 100, 1.0, 0.3)])
def test_derived_form_equals_the_typed_formula(args):
    """The form derived from the self-consistent equation (implicit derivatives by SymPy) equals the
    typed deterministic-equivalent formula to rounding, over lambda from 1e-8 to 1e6, n < d and n > d;
    a slow scale off by 5 % moves the typed formula by more than 1e-3 relative (the comparison can fail)."""
    lams = np.logspace(-8, 6, 29)
    m = TwoScaleTeacherStudent(*args)
    derived, fast, slow = large_d_test_error(m, lams, split=True)
    typed = np.array([typed_ridge_test_error(*args, lam) for lam in lams])
    # rounding: with n < d and lambda -> 0 the root delta ~ 1/lambda and the derived form's implicit
    # derivative cancels digits: 1.1e-9 relative at lambda = 1e-8 for (90, 100, 100, 1, 0.3), where the
    # typed formula agrees with a 50-digit mpmath evaluation to 3e-15
    np.testing.assert_allclose(derived, typed, rtol=1e-8)
    np.testing.assert_allclose(fast + slow, derived, rtol=1e-14)
    wrong = np.array([typed_ridge_test_error(*args[:3], args[3] * 1.05, args[4], lam) for lam in lams])
    if args[3] != 1.0 and args[2] < args[1]:            # a slow block exists
        assert np.max(np.abs(derived - wrong) / typed) > 1e-3


def test_self_consistent_equation_is_marchenko_pastur_for_one_scale():
    """kappa = 1 (Sigma = I/d): the root delta of the derived equation is tr Sigma G = tr G / d, the
    Marchenko-Pastur Stieltjes transform of X^T X at -lambda; checked against the eigenvalues of one
    drawn design at n = 1200, d = 800 (its fluctuation is O(1/d), far below 1 %)."""
    import sympy as sp

    from theory.teacher_student_large_d import DELTA, self_consistent_equation
    eq, _ = self_consistent_equation()
    n, d = 1200, 800
    lam = 0.3
    vals = {sp.Symbol("n", positive=True): n, sp.Symbol("d", positive=True): d,
            sp.Symbol("p", positive=True): d, sp.Symbol("kappa", positive=True): 1,
            sp.Symbol("lambda", positive=True): lam}
    f = sp.lambdify(DELTA, eq.subs(vals))
    delta = brentq(f, 0, 1 / lam)
    Z = np.random.default_rng(0).standard_normal((n, d)) / np.sqrt(d)
    s = np.linalg.eigvalsh(Z.T @ Z)
    empirical = np.sum(1 / (s + lam)) / d                  # tr Sigma G = tr G / d
    assert abs(delta - empirical) < 0.01 * delta           # one design, d = 800: fluctuations O(1/d)


def _features(t, curve):
    lo = locate_extremum(t, curve[None], "min")
    return lo, locate_extremum(t, curve[None], "max", start=int(np.searchsorted(t, lo.time)))


def test_ridge_closed_form_limits():
    m = TwoScaleTeacherStudent(130, 100, 70, 100.0, 0.25)
    big, small = large_d_test_error(m, [1e12, 1e-12])
    assert abs(big - 0.5) < 1e-9                                   # w_hat = 0
    assert abs(small - 0.25 * 100 / (2 * (130 - 100))) < 1e-6      # ridgeless: sigma^2 d / (2 (n - d))
    with pytest.raises(ValueError, match="method"):
        large_d_test_error(m, [1.0], "gd")
    with pytest.raises(ValueError, match="times"):
        large_d_test_error(m, [0.0])


def test_ridge_closed_form_matches_design_average_at_large_d():
    """d = 400 (n/d = 1.3, p/d = 0.7, kappa = 100, sigma^2 = 0.25), 12 designs: the closed form
    agrees with the average of the exact per-design ridge curves under the calibrated scalar test
    (its O(1/d) bias is below this resolution; measured gaps 2.8e-4 at d = 400, 1.1e-3 at d = 200,
    within 1.8 standard errors at every d from 50 to 400 with 12 designs, so the rate itself is
    not resolved). Planted errors are rejected: sigma^2 off by 10 %, p off by 20 features."""
    lams = np.array([1e-3, 1e-2, 0.1, 1.0])
    m = TwoScaleTeacherStudent(520, 400, 280, 100.0, 0.25)
    per = np.array([m.curves(m.sample_design(np.random.default_rng(i)), lams, "ridge").test_error
                    for i in range(12)])
    for model, ok in ((m, True), (TwoScaleTeacherStudent(520, 400, 280, 100.0, 0.275), False),
                      (TwoScaleTeacherStudent(520, 400, 300, 100.0, 0.25), False)):
        de = large_d_test_error(model, lams)
        alphas = AlphaBudget(1e-4, [str(x) for x in lams])
        passed = [scalar_comparison(de[j], per[:, j], alpha=alphas[str(x)]).passed for j, x in enumerate(lams)]
        assert all(passed) is ok


def test_paper_closed_form_peaks_lower_and_later_than_the_exact_curve():
    """Fig. 1 setting, 30 designs (seed 0): exact gradient-flow first minimum t = 1.86 +- 0.01,
    E_G = 0.2499 +- 0.0004, peak t = 46.6 +- 1.1, E_G = 0.325 +- 0.002; misc.py's closed form: minimum
    t = 13.4, 0.246, peak t = 464, 0.306, largest gap 0.12 (at every t <= 1e5). The large-d ridge form
    at lambda = 1/t: minimum t = 3.3, peak t = 174, 0.312, largest gap 0.038. The large-d form of the
    flow itself: minimum t = 1.88, 0.2494, peak t = 44.5, 0.3229, largest gap 0.0030 (at t ~ 1.4e4)."""
    t = np.logspace(-1, 5, 121)
    m = TwoScaleTeacherStudent(130, 100, 70, 100.0)
    exact = m.averaged(t, 30, np.random.default_rng(0), "flow")
    paper = paper_misc_test_error(130, 100, 70, 100.0, 0.0, t)
    _, hi = _features(t, paper)
    assert hi.time > 3 * exact.peak.time and hi.height < exact.peak.height - 5 * exact.peak.height_se
    de = large_d_test_error(m, t, "inverse_time")
    _, de_hi = _features(t, de)
    assert de_hi.time > exact.peak.time and np.abs(de - exact.mean["test_error"]).max() < np.abs(
        paper - exact.mean["test_error"]).max()
    flow = large_d_test_error(m, t, "flow")
    assert np.abs(flow - exact.mean["test_error"]).max() < 0.1 * np.abs(de - exact.mean["test_error"]).max()


def test_large_d_latex_prints_the_equation_and_both_blocks():
    from theory.teacher_student_large_d import large_d_latex
    tex = large_d_latex()
    assert tex.startswith("\\begin{align*}") and tex.endswith("\\end{align*}")
    assert tex.count("&=") == 3 and "\\delta" in tex and "\\kappa" in tex and "sigma" in tex
    from theory.teacher_student_large_d_flow import two_point_latex
    tex = two_point_latex()
    assert tex.startswith("\\begin{align*}") and "\\delta_1" in tex and "\\lambda_2" in tex


def test_flow_to_ridge_correspondence_is_an_approximation_even_at_large_d():
    """lambda = 1/t is not exact at d = infinity: at the Fig. 1 ratios the largest gap between the exact
    flow design average and the large-d ridge form at 1/t stays near 0.036 as d grows (measured, 8
    designs: 0.041, 0.037, 0.036 at d = 100, 200, 400, all at t = 16, standard errors 0.003-0.0008),
    while the ridge form itself converges (test above)."""
    t = np.logspace(-1, 5, 61)
    m = TwoScaleTeacherStudent(260, 200, 140, 100.0)
    rng = np.random.default_rng(0)
    per = np.array([m.curves(m.sample_design(rng), t, "flow").test_error for _ in range(8)])
    gap = per.mean(axis=0) - large_d_test_error(m, t, "inverse_time")
    j = np.argmax(np.abs(gap))
    se = per[:, j].std(ddof=1) / np.sqrt(8)
    assert abs(gap[j]) > 0.03 and abs(gap[j]) > 10 * se and 5 < t[j] < 50


def test_two_point_kernel_on_the_diagonal_is_the_derived_implicit_derivative():
    """K(lambda, lambda) of the two-point equivalent equals lambda^-2 2d E_G^ridge(lambda; sigma = 0), the
    bias that large_d_expressions derives by implicit differentiation of the one-point equivalent."""
    from theory.teacher_student_large_d import _callables, _solve_delta
    from theory.teacher_student_large_d_flow import _numeric
    K = _numeric()[0]
    equation = _callables()[0]
    for args in [(130.0, 100.0, 70.0, 100.0, 0.0), (60.0, 100.0, 30.0, 5.0, 0.0)]:
        m = TwoScaleTeacherStudent(*[int(a) for a in args[:3]], args[3])
        for lam in (1e-4, 0.03, 2.0):
            delta = _solve_delta(lam, args, equation)
            ridge = large_d_test_error(m, [lam])[0]
            assert K(delta, delta, lam, lam, *args) == pytest.approx(2 * args[1] * ridge / lam**2, rel=1e-10)


def test_flow_form_matches_exact_flow_design_averages_at_large_d():
    """d = 400 (n/d = 1.3, p/d = 0.7, kappa = 100, sigma^2 = 0.25), 12 designs: the large-d flow form
    agrees with the exact gradient-flow design averages under the calibrated scalar test at t = 1, 10,
    50, 1000, 8000 (measured gaps <= 8e-4, within 1 s.e. at 8 designs); the form with the slow features'
    scale off by 5 % is rejected (it moves E_G by 0.009 at t ~ 8000)."""
    t = np.array([1.0, 10.0, 50.0, 1000.0, 8000.0])
    m = TwoScaleTeacherStudent(520, 400, 280, 100.0, 0.25)
    rng = np.random.default_rng(3)
    per = np.array([m.curves(m.sample_design(rng), t, "flow").test_error for _ in range(12)])
    for model, ok in ((m, True), (TwoScaleTeacherStudent(520, 400, 280, 105.0, 0.25), False)):
        de = large_d_test_error(model, t, "flow")
        alphas = AlphaBudget(1e-4, [str(x) for x in t])
        passed = [scalar_comparison(de[j], per[:, j], alpha=alphas[str(x)]).passed for j, x in enumerate(t)]
        assert all(passed) is ok


def test_flow_form_bad_input_and_limits():
    from theory.teacher_student_large_d_flow import flow_test_error
    m = TwoScaleTeacherStudent(200, 100, 100, 1.0, 0.5)
    early, late = large_d_test_error(m, [1e-8, 1e7], "flow")
    assert early == pytest.approx(0.5, abs=1e-7) and late == pytest.approx(0.5 * 100 / (2 * 100), rel=1e-9)
    with pytest.raises(ValueError, match="n > d"):
        large_d_test_error(TwoScaleTeacherStudent(90, 100, 50, 2.0), [1.0], "flow")
    with pytest.raises(ValueError, match="split"):
        large_d_test_error(m, [1.0], "flow", split=True)
    with pytest.raises(ValueError, match="nodes"):
        flow_test_error(m, [1.0], nodes=4)
    with pytest.raises(ValueError, match="times"):
        flow_test_error(m, [-1.0])
