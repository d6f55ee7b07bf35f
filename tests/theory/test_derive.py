"""The derived recursion against formulas typed from the papers (oracles only)."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory import SGD, Gaussian, IndependentCoordinates, derive, gradient_moments
from theory.symbols import B, S, gamma, kappa, lam, m, sigma2


def test_gaussian_recursion_matches_bordelon_pehlevan():
    rec = derive(SGD(), Gaussian())
    # oracle: E[x x^T A x x^T] = 2KAK + tr(KA)K  =>  diagonal recursion of arXiv:2106.02713
    oracle = (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + 1 / B)) * m + gamma**2 * lam / B * (S + sigma2)
    derived = (rec.A * sp.Matrix(rec.moments) + rec.u * S + rec.f)[0]
    assert sp.simplify(derived - oracle) == 0
    assert sp.simplify(rec.mean_matrix[0] - (1 - gamma * lam)) == 0
    assert rec.v[0] == lam and rec.w[0] == lam


def test_independent_coordinates_recursion_has_kurtosis_term():
    rec = derive(SGD(), IndependentCoordinates(kurtosis=5.0))
    oracle = (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + (kappa - 2) / B)) * m + gamma**2 * lam / B * (S + sigma2)
    derived = (rec.A * sp.Matrix(rec.moments) + rec.u * S + rec.f)[0]
    assert sp.simplify(derived - oracle) == 0


def test_gaussian_gradient_moments_are_isserlis():
    p = sp.Symbol("p_i", real=True)
    Eg, Eg2 = gradient_moments(Gaussian(), p)
    # diagonal of (2KPK + tr(KP)K + sigma^2 K)/B + (1 - 1/B) K P K with tr(KP) = S
    oracle = (2 * lam**2 * p**2 + lam * S + sigma2 * lam) / B + (1 - 1 / B) * lam**2 * p**2
    assert sp.simplify(Eg - lam * p) == 0
    assert sp.simplify(Eg2 - oracle) == 0


def test_derivation_is_cached_per_data_type_but_keeps_numbers():
    a = derive(SGD(), IndependentCoordinates(1.0))
    b = derive(SGD(), IndependentCoordinates(6.0))
    assert a.A == b.A
    assert a.critical_learning_rate([1.0, 1.0]) != b.critical_learning_rate([1.0, 1.0])


@given(st.integers(1, 40), st.integers(15, 60))
def test_isotropic_critical_learning_rate_is_two_over_d_plus_two(d, dps):
    import mpmath
    got = derive().critical_learning_rate([1.0] * d, batch=1, dps=dps)
    with mpmath.workdps(dps + 5):
        oracle = mpmath.mpf(2) / (d + 2)
        assert abs(got - oracle) <= mpmath.mpf(10) ** (-dps + 2) * oracle


@given(st.lists(st.floats(0.01, 1.0), min_size=1, max_size=12), st.integers(1, 6),
       st.lists(st.floats(1.0, 10.0), min_size=12, max_size=12))
def test_critical_learning_rate_matches_spectral_radius_of_dense_map(eigs, batch, kurt):
    lam_ = np.array(eigs)
    data = IndependentCoordinates(kurtosis=kurt[:len(eigs)])
    rec = derive(SGD(), data)
    gc = rec.critical_learning_rate(lam_, batch=batch)

    def rho(g):  # independent route: eigenvalues of the explicit dense matrix
        return max(abs(np.linalg.eigvals(rec.linear_map(lam_, g, batch).transition_matrix())))
    assert rho(gc * (1 - 1e-6)) < 1 < rho(gc * (1 + 1e-6))


def test_stationary_risk_oracle_and_fixed_point():
    lam_ = np.array([1.0, 0.5, 0.25, 0.1])
    rec = derive()
    g, b, s2 = 0.2, 2, 0.7
    # oracle from the paper's form sigma^2 / (2 (1 - u)), u = sum gamma lam / (2B - gamma lam (B + 1)) (kappa = 3)
    u = np.sum(g * lam_ / (2 * b - g * lam_ * (b + 1)))
    assert rec.stationary_risk(lam_, g, batch=b, noise_variance=s2) == pytest.approx(s2 / (2 * (1 - u)), rel=1e-12)
    # independent route: solve (I - L) s = f densely
    mp = rec.linear_map(lam_, g, b, s2)
    s = np.linalg.solve(np.eye(4) - mp.transition_matrix(), mp.f[:, 0])
    assert 0.5 * (lam_ @ s + s2) == pytest.approx(s2 / (2 * (1 - u)), rel=1e-12)
    # and the iterated recursion converges to it
    assert rec.risk(lam_, g, b, s2, initial=1.0, steps=4000)[-1] == pytest.approx(s2 / (2 * (1 - u)), rel=1e-10)


def test_stationary_risk_high_precision_agrees():
    import mpmath
    rec = derive(SGD(), IndependentCoordinates([1.0, 4.0, 9.0]))
    lam_ = [1.0, 0.3, 0.05]
    hi = rec.stationary_risk(lam_, 0.3, batch=3, noise_variance=0.4, dps=50)
    assert isinstance(hi, mpmath.mpf)
    assert float(hi) == pytest.approx(rec.stationary_risk(lam_, 0.3, batch=3, noise_variance=0.4), rel=1e-13)


def test_mpmath_trajectory_agrees_with_float64():
    rec = derive(SGD(), IndependentCoordinates(2.5))
    kw = dict(eigenvalues=[1.0, 0.4, 0.1], learning_rate=0.3, batch=2, noise_variance=0.2, initial=[1.0, -0.5, 2.0], steps=50)
    lo = rec.trajectory(**kw)
    hi = rec.trajectory(dps=40, **kw)
    np.testing.assert_allclose(lo.risk, hi.risk.astype(float), rtol=1e-12)
    np.testing.assert_allclose(lo.second_moments, hi.second_moments.astype(float), rtol=1e-12)


def test_rademacher_map_with_negative_diagonal_blocks():
    # kappa = 1, B = 1: a_i = 1 - 2 gamma lambda_i can be < -1, yet the map is non-negative
    rec = derive(SGD(), IndependentCoordinates(1.0))
    lam_ = [1.0, 0.01]
    gc = rec.critical_learning_rate(lam_)
    assert gc == pytest.approx(2 / sum(lam_), rel=1e-12)   # sum_i gamma lam_i / 2 = 1
