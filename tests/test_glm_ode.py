"""theory.glm.ode: the numeric ODE, solve, risk and the derived critical learning rate.

Oracles: the High Line ODE solver (theory.highline.solve) for least squares; the finite-difference
Jacobian of the numeric right-hand side at X = X* (no Price's theorem, no reduction to D); mpmath
quadrature for the logistic threshold; exact merging of equal eigenvalues.
"""
import mpmath
import numpy as np
import pytest

from theory import highline as hl
from theory.glm import derive_limit, least_squares, logistic, loss, phase_retrieval
from theory.glm.derivation import r, y
from theory.glm.ode import critical_learning_rate, linearised_threshold, problem, solve

LAM = np.array([1.0] * 3 + [0.25] * 3)
PRESETS = {"least_squares": least_squares(), "logistic_soft": logistic("soft"),
           "logistic_bernoulli": logistic("bernoulli"), "phase_retrieval": phase_retrieval()}


def test_least_squares_solution_equals_the_high_line_solver():
    lim = derive_limit(least_squares())
    g, s2 = 1.2, 0.1
    t = np.linspace(0, 3, 7)
    sol = solve(lim, LAM, g, 3.0, teacher=1.0, initial_P=0.25, initial_U=0.5, noise_variance=s2, t_eval=t,
                rtol=1e-11, atol=1e-13)
    ref = hl.solve(LAM, t_max=3.0, g=g, noise_variance=s2, initial_D2=0.25 - 1.0 + 1.0, t_eval=t)
    np.testing.assert_allclose(sol.risk, ref.risk, rtol=1e-8)
    assert sol.learning_rate == pytest.approx(g / LAM.size)


@pytest.mark.parametrize("name", list(PRESETS))
def test_derived_threshold_equals_the_linearisation_of_the_numeric_ode(name):
    lim = derive_limit(PRESETS[name])
    c = critical_learning_rate(lim, LAM, teacher=2.0)
    numeric = linearised_threshold(lim, LAM, 2.0, bracket=(0.5 * c.g, 1.5 * c.g))
    assert numeric == pytest.approx(c.g, rel=1e-7)


def test_least_squares_threshold_is_2d_over_trK():
    c = critical_learning_rate(derive_limit(least_squares()), LAM)
    assert c.g == pytest.approx(2 * LAM.size / LAM.sum(), rel=1e-14)
    assert c.learning_rate == pytest.approx(2 / LAM.sum(), rel=1e-14)


def test_logistic_threshold_against_mpmath():
    c = critical_learning_rate(derive_limit(logistic("soft")), LAM, teacher=2.0)
    b = float(np.mean(LAM) * 2.0)
    with mpmath.workdps(25):
        def E(fn):
            return mpmath.quad(lambda z: fn(mpmath.sqrt(b) * z) * mpmath.npdf(z), [-12, 0, 12])
        s1 = E(lambda x: mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2)
        s2 = E(lambda x: (mpmath.exp(-x) / (1 + mpmath.exp(-x)) ** 2) ** 2)
        oracle = float(2 * s1 / (np.mean(LAM) * s2))
    assert c.g == pytest.approx(oracle, rel=1e-10)


def test_phase_retrieval_threshold_closed_form():
    c = critical_learning_rate(derive_limit(phase_retrieval()), LAM, teacher=2.0)
    tau1 = float(np.mean(LAM))
    assert c.g == pytest.approx(1 / (12 * tau1 * tau1 * 2.0), rel=1e-12)


def test_equal_eigenvalues_merge_exactly():
    lim = derive_limit(logistic("soft"))
    Q = np.array([1.0, 3.0, 2.0, 0.5, 1.5, 1.0])
    P0 = np.array([0.1, 0.2, 0.0, 0.3, 0.05, 0.0])
    U0 = np.sqrt(P0 * Q) * np.array([1, -1, 1, 1, 0.5, 0])
    t = [0.0, 1.0, 2.0]
    a = solve(lim, LAM, 3.0, 2.0, teacher=Q, initial_P=P0, initial_U=U0, t_eval=t)
    assert a.P.shape == (3, 2)                                                   # two atoms
    # the same problem with every direction distinct (eigenvalues perturbed by 1e-300 relative is not
    # representable; instead give the spectral measure of the six directions with weights 1/6)
    b = solve(lim, LAM, 3.0, 2.0, teacher=Q, initial_P=P0, initial_U=U0, t_eval=t, weights=np.ones(6))
    np.testing.assert_allclose(a.risk, b.risk, rtol=1e-8)


@pytest.mark.parametrize("name", ["logistic_soft", "phase_retrieval"])
def test_below_threshold_converges_to_the_optimum(name):
    lim = derive_limit(PRESETS[name])
    c = critical_learning_rate(lim, LAM, teacher=1.0)
    sol = solve(lim, LAM, 0.5 * c.g, 60.0, teacher=1.0, initial_P=0.5, initial_U=0.5, t_eval=[0.0, 60.0])
    assert sol.excess_risk[-1] < 1e-4 * sol.excess_risk[0]


def test_bad_input():
    lim = derive_limit(logistic("soft"))
    with pytest.raises(ValueError, match="teacher"):
        problem(LAM, teacher=-1.0)
    with pytest.raises(ValueError, match="initial_U"):
        problem(LAM, teacher=1.0, initial_P=0.1, initial_U=1.0)
    with pytest.raises(ValueError, match="initial_P"):
        problem(LAM, initial_P=np.ones(3))
    with pytest.raises(ValueError, match="g must be finite and > 0"):
        solve(lim, LAM, 0.0, 1.0)
    with pytest.raises(ValueError, match="eigenvalues"):
        solve(lim, [1.0, -1.0], 1.0, 1.0)
    with pytest.raises(ValueError, match="no critical learning rate"):
        critical_learning_rate(derive_limit(loss((r - y) ** 2 + r)), LAM)
