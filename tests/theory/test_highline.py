"""The High Line limit: derived ODE against the paper's eq. 8 (oracle), solvers, errors."""

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad

from theory import SGD, Gaussian, IndependentCoordinates, derive
from theory import highline as hl
from theory.symbols import lam, sigma2
from verify import strategies as sst


def test_drift_is_eq8_of_the_paper():
    ode = hl.derive_limit()
    # oracle, typed from arXiv:2405.19585 eq. 8: dD^2/dt = -2 g lam D^2 + 2 g^2 lam R
    oracle = -2 * hl.g * lam * hl.D2 + 2 * hl.g**2 * lam * hl.R
    assert sp.simplify(ode.drift - oracle) == 0
    assert sp.simplify(ode.critical_learning_rate - 2 * hl.d / hl.trK) == 0
    assert sp.simplify(ode.stationary_risk - sigma2 / 2 / (1 - hl.g * hl.trK / (2 * hl.d))) == 0


def test_limit_is_universal_over_kurtosis_only_the_correction_changes():
    a = hl.derive_limit(derive(SGD(), Gaussian()))
    b = hl.derive_limit(derive(SGD(), IndependentCoordinates()))
    assert sp.simplify(a.drift - b.drift) == 0
    assert sp.simplify(a.correction - b.correction) != 0


def test_latex_states_normalisation_and_inconsistency():
    tex = hl.derive_limit().latex()
    assert r"\gamma = g/d" in tex and "t = k/d" in tex and "eq.~91" in tex and r"\int_0^t" in tex


@given(spectrum=sst.spectra(min_dimension=2, max_dimension=12), frac=st.floats(0.1, 0.9))
def test_scipy_and_mpmath_solvers_agree(spectrum, frac):
    lam_ = np.asarray(spectrum)
    g = frac * 2 / lam_.mean()
    sol = hl.solve(lam_, t_max=2.0, learning_rate=g, noise_variance=0.2, t_eval=[0.0, 1.0, 2.0])
    mp = hl.solve_mp(lam_, [1, 2], learning_rate=g, noise_variance=0.2, dps=20)
    for r_float, r_mp in zip(sol.risk[1:], mp["risk"]):
        assert abs(r_float - float(r_mp)) <= 1e-8 * abs(float(r_mp))


def test_volterra_equation_holds_along_the_ode_solution():
    ode = hl.derive_limit()
    lam_ = np.array([1.0, 0.5, 0.1])
    g, s2, T = 1.2, 0.3, 1.5
    sol = hl.solve(lam_, t_max=T, learning_rate=g, noise_variance=s2, t_eval=np.linspace(0, T, 3001))
    R = lambda s: np.interp(s, sol.t, sol.risk)
    k = sp.lambdify([hl.t, lam], ode.volterra_kernel.subs(hl.g, g))
    f = sp.lambdify([hl.t, lam, hl.D20], ode.forcing.subs(hl.g, g))
    forcing = np.mean(f(T, lam_, 1.0)) + s2 / 2
    integral = quad(lambda s: np.mean(k(T - s, lam_)) * R(s), 0, T, limit=200)[0]
    # linear interpolation of R on a grid of 3001 points: error O(h^2) ~ 1e-7
    assert abs(forcing + integral - sol.risk[-1]) < 1e-5 * sol.risk[-1]


def test_ode_matches_exact_recursion_to_order_one_over_d():
    from verify.claims.highline import finite_d_bias
    out = []
    for d in (32, 128):
        tr, sol = finite_d_bias(d)
        out.append(d * np.max(np.abs(tr.risk - sol.risk)))
    assert abs(out[1] - out[0]) < 0.1 * out[0]


def test_mpmath_isotropic_closed_form():
    # K = I, g fixed, sigma = 0: dD/dt = (-2g + g^2) D exactly
    out = hl.solve_mp([1.0], [3], learning_rate=mpmath.mpf("0.5"), dps=30)
    with mpmath.workdps(30):
        exact = mpmath.mpf("0.5") * mpmath.exp(-3 * (1 - mpmath.mpf("0.25")))
        assert abs(out["risk"][0] - exact) < mpmath.mpf(10) ** -25


@pytest.mark.parametrize("kwargs, match", [
    (dict(eigenvalues=[], t_max=1.0, learning_rate=1.0), "at least one eigenvalue"),
    (dict(eigenvalues=[1.0], t_max=1.0, learning_rate=-1.0), "learning_rate"),
    (dict(eigenvalues=[1.0], t_max=0.0, learning_rate=1.0), "t_max"),
    (dict(eigenvalues=[1.0], t_max=1.0), "exactly one"),
    (dict(eigenvalues=[1.0], t_max=1.0, learning_rate=1.0, initial=-1.0), "initial"),
    (dict(eigenvalues=[1.0], t_max=1.0, learning_rate=1.0, noise_variance=-1.0), "noise_variance"),
])
def test_errors(kwargs, match):
    lam_ = kwargs.pop("eigenvalues")
    with pytest.raises(ValueError, match=match):
        hl.solve(lam_, **kwargs)


def test_momentum_like_recursions_are_refused():
    class Fake:
        moments = [1, 2]
        algorithm = SGD()
        data = Gaussian()
    with pytest.raises(NotImplementedError):
        hl._derive_limit_cached.__wrapped__(None, None, None, Fake())


@given(spectrum=sst.spectra(min_dimension=1, max_dimension=12), frac=st.floats(0.1, 0.9),
       rule_kind=st.sampled_from(["constant", "line_search", "adagrad"]))
def test_etd2_exponential_integrator_meets_its_tolerance(spectrum, frac, rule_kind):
    from theory import adaptive as ad
    lam_ = np.asarray(spectrum)
    rule = {"constant": hl.constant_learning_rate(frac * 2 / lam_.mean()), "line_search": ad.line_search(),
            "adagrad": ad.adagrad_norm(frac / lam_.mean(), 0.5)}[rule_kind]
    te = np.linspace(0, 5, 6)
    ref = hl.solve(lam_, t_max=5, rule=rule, noise_variance=0.1, t_eval=te, rtol=1e-12, atol=1e-14)
    etd = hl.solve(lam_, t_max=5, rule=rule, noise_variance=0.1, t_eval=te, rtol=1e-7, atol=1e-10, method="ETD2")
    # local error control at rtol: the global error over [0, 5] stays within a few hundred rtol
    assert np.max(np.abs(etd.risk / ref.risk - 1)) < 1e-4


def test_etd2_handles_stiff_spectra_with_few_steps():
    # fast mode 2 g lambda_max ~ 2, slow modes need t ~ 1e4: explicit Runge-Kutta is stability-limited
    lam_ = np.concatenate([[1.0], np.full(7, 1e-4)])
    g = 0.5 * 2 / lam_.mean()
    kw = dict(t_max=2e4, learning_rate=g, noise_variance=0.1, t_eval=[2e4])
    ref = hl.solve(lam_, method="LSODA", rtol=1e-11, atol=1e-14, **kw)
    rk = hl.solve(lam_, method="DOP853", rtol=1e-4, atol=1e-10, **kw)
    etd = hl.solve(lam_, method="ETD2", rtol=1e-4, atol=1e-10, **kw)
    assert abs(etd.risk[-1] / ref.risk[-1] - 1) < 1e-3
    assert etd.evaluations < rk.evaluations / 5
