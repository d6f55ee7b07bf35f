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
    assert sp.simplify(ode.critical_g_expression - 2 * hl.d / hl.trK) == 0
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
    sol = hl.solve(lam_, t_max=2.0, g=g, noise_variance=0.2, t_eval=[0.0, 1.0, 2.0])
    mp = hl.solve_mp(lam_, [1, 2], g=g, noise_variance=0.2, dps=20)
    for r_float, r_mp in zip(sol.risk[1:], mp["risk"]):
        assert abs(r_float - float(r_mp)) <= 1e-8 * abs(float(r_mp))


def test_volterra_equation_holds_along_the_ode_solution():
    ode = hl.derive_limit()
    lam_ = np.array([1.0, 0.5, 0.1])
    g, s2, T = 1.2, 0.3, 1.5
    sol = hl.solve(lam_, t_max=T, g=g, noise_variance=s2, t_eval=np.linspace(0, T, 3001))
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
    out = hl.solve_mp([1.0], [3], g=mpmath.mpf("0.5"), dps=30)
    with mpmath.workdps(30):
        exact = mpmath.mpf("0.5") * mpmath.exp(-3 * (1 - mpmath.mpf("0.25")))
        assert abs(out["risk"][0] - exact) < mpmath.mpf(10) ** -25


@pytest.mark.parametrize("kwargs, match", [
    (dict(eigenvalues=[], t_max=1.0, g=1.0), "at least one eigenvalue"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=-1.0), "g must be"),
    (dict(eigenvalues=[1.0], t_max=0.0, g=1.0), "t_max"),
    (dict(eigenvalues=[1.0], t_max=1.0), "exactly one"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=1.0, initial_D2=-1.0), "initial_D2"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=1.0, noise_variance=-1.0), "noise_variance"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=1.0, accuracy=0.5), "accuracy must lie in"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=1.0, accuracy=1e-6, rtol=1e-6), "not both"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=1.0, method="Euler"), "method must be one of"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=1.0, record_D2="all"), "record_D2"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=1.0, t_eval=[0.5, 0.2]), "t_eval"),
    (dict(eigenvalues=[1.0], t_max=1.0, g=1.0, t_eval=[0.0, 2.0]), "t_eval"),
    (dict(eigenvalues=[1.0, 1.0], t_max=1.0, g=1.0, weights=[1.0, -1.0]), "weights"),
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
    rule = {"constant": hl.constant_g(frac * 2 / lam_.mean()), "line_search": ad.line_search(),
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
    kw = dict(t_max=2e4, g=g, noise_variance=0.1, t_eval=[2e4])
    ref = hl.solve(lam_, method="LSODA", rtol=1e-11, atol=1e-14, **kw)
    rk = hl.solve(lam_, method="DOP853", rtol=1e-4, atol=1e-10, **kw)
    etd = hl.solve(lam_, method="ETD2", rtol=1e-4, atol=1e-10, **kw)
    assert abs(etd.risk[-1] / ref.risk[-1] - 1) < 1e-3
    assert etd.evaluations < rk.evaluations / 5


def _dense_oracle(lam_, g, s2, D0, te):
    """Every direction its own ODE (eq. 8 of arXiv:2405.19585, typed here), no merging: SciPy, tight rtol."""
    from scipy.integrate import solve_ivp

    def f(_, D):
        r = 0.5 * np.mean(lam_ * D) + 0.5 * s2
        return -2 * g * lam_ * D + 2 * g**2 * lam_ * r
    return solve_ivp(f, (0, te[-1]), D0, t_eval=te, rtol=1e-12, atol=1e-14, method="DOP853").y.T


@given(repeats=st.lists(st.integers(1, 5), min_size=1, max_size=4), seed=st.integers(0, 2**31),
       method=st.sampled_from(["DOP853", "LSODA", "ETD2"]))
def test_equal_eigenvalues_are_merged_exactly_and_directions_rebuilt(repeats, seed, method):
    rng = np.random.default_rng(seed)
    lam_ = np.repeat(rng.uniform(0.2, 2.0, len(repeats)), repeats)
    D0 = rng.chisquare(1, lam_.size)
    g, s2, te = 0.5 * 2 / lam_.mean(), 0.1, np.array([0.0, 0.5, 2.0])
    oracle = _dense_oracle(lam_, g, s2, D0, te)
    acc = 1e-4 if method == "ETD2" else 1e-9
    sol = hl.solve(lam_, t_max=2.0, g=g, noise_variance=s2, initial_D2=D0, t_eval=te, record_D2="directions",
                   method=method, accuracy=acc)
    assert sol.eigenvalues.size == len(set(lam_.tolist()))          # one atom per distinct eigenvalue
    assert sol.D2.shape == (3, lam_.size)
    assert np.max(np.abs(sol.D2 / oracle - 1)) < 10 * acc
    risk = 0.5 * oracle @ lam_ / lam_.size + 0.5 * s2
    assert np.max(np.abs(sol.risk / risk - 1)) < acc
    atoms = hl.solve(lam_, t_max=2.0, g=g, noise_variance=s2, initial_D2=D0, t_eval=te, record_D2="atoms",
                     method=method, accuracy=acc)
    for j, a in enumerate(atoms.eigenvalues):                       # atom value = mean over its directions
        assert np.allclose(atoms.D2[:, j], oracle[:, lam_ == a].mean(axis=1), rtol=10 * acc)
    assert hl.solve(lam_, t_max=2.0, g=g, initial_D2=D0, t_eval=te).D2 is None    # not stored unless asked


def test_merging_with_weights_adds_the_weights():
    a = hl.solve([1.0, 0.5, 1.0], weights=[0.25, 0.5, 0.25], t_max=1.0, g=1.0, initial_D2=[2.0, 1.0, 0.0],
                 t_eval=[1.0], record_D2="atoms")
    b = hl.solve([1.0, 0.5], weights=[0.5, 0.5], t_max=1.0, g=1.0, initial_D2=[1.0, 1.0], t_eval=[1.0],
                 record_D2="atoms")
    assert np.allclose(a.D2, b.D2, rtol=1e-12) and np.allclose(a.risk, b.risk, rtol=1e-12)
    mp = hl.solve_mp([1.0, 0.5, 1.0], [1.0], g=1.0, initial_D2=[2.0, 1.0, 0.0], weights=[0.25, 0.5, 0.25], dps=20)
    assert abs(float(mp["risk"][0]) / b.risk[0] - 1) < 1e-9


def test_deprecated_names_warn_and_still_work():
    with pytest.warns(DeprecationWarning, match="g="):
        old = hl.solve([1.0, 0.5], t_max=1.0, learning_rate=0.7, t_eval=[1.0])
    with pytest.warns(DeprecationWarning, match="initial_D2"):
        hl.solve([1.0, 0.5], t_max=1.0, g=0.7, initial=2.0, t_eval=[1.0])
    new = hl.solve([1.0, 0.5], t_max=1.0, g=0.7, t_eval=[1.0])
    assert old.risk[0] == new.risk[0]
    with pytest.warns(DeprecationWarning, match="ODESolution.g"):
        assert old.learning_rate[0] == new.g[0]
    with pytest.warns(DeprecationWarning, match="constant_g"):
        hl.constant_learning_rate(0.5)
    ode = hl.derive_limit()
    with pytest.warns(DeprecationWarning, match="critical_g_expression"):
        assert ode.critical_learning_rate.subs(hl.trK, hl.d) == 2
    with pytest.raises(ValueError, match="not both"), pytest.warns(DeprecationWarning):
        hl.solve([1.0], t_max=1.0, g=1.0, learning_rate=1.0)


def test_critical_learning_rate_is_a_method_returning_gamma_c():
    ode = hl.derive_limit()
    lam_ = [1.0, 0.5, 0.25, 0.25]
    assert ode.critical_learning_rate(lam_) == pytest.approx(2 / sum(lam_), rel=1e-15)   # 2/tr K
    assert ode.critical_g(lam_) == pytest.approx(2 * len(lam_) / sum(lam_), rel=1e-15)   # 2d/tr K
    # the finite-d gamma_c of the exact recursion tends to it (K = I: 2/(d+2) vs 2/d)
    gd = derive(SGD(), Gaussian()).critical_learning_rate([1.0] * 64)
    assert gd == pytest.approx(2 / 66, rel=1e-10) and ode.critical_learning_rate([1.0] * 64) == 2 / 64
    with pytest.raises(ValueError, match="eigenvalues"):
        ode.critical_learning_rate([1.0, -1.0])


def test_conversions_between_learning_rate_g_and_initial_D2():
    assert hl.g_from_learning_rate(0.01, 100) == pytest.approx(1.0)
    assert hl.learning_rate_from_g(1.0, 100) == pytest.approx(0.01)
    assert hl.initial_D2_from_error(0.1, 100) == pytest.approx(1.0)
    e0 = np.array([0.1, -0.2])
    assert np.allclose(hl.error_from_initial_D2(hl.initial_D2_from_error(e0, 50), 50), np.abs(e0))
    for call, match in [(lambda: hl.g_from_learning_rate(-1.0, 10), "learning_rate"),
                        (lambda: hl.learning_rate_from_g(1.0, 0), "d \\(the dimension\\)"),
                        (lambda: hl.g_from_learning_rate(0.1, 2.5), "d \\(the dimension\\)"),
                        (lambda: hl.initial_D2_from_error(np.nan, 10), "initial"),
                        (lambda: hl.error_from_initial_D2(-1.0, 10), "initial_D2")]:
        with pytest.raises(ValueError, match=match):
            call()


def test_two_class_critical_g_against_the_secular_equation():
    """Oracle: the batch-1 Gaussian secular equation sum_i gamma lambda_i / (2 - 2 gamma lambda_i) = 1 solved by
    brentq at d = 16, 64 for half of K at 1, half at 1/2; limit 2d/tr K = 8/3; bad ``low`` is rejected."""
    from scipy.optimize import brentq
    root, limit, c1 = hl.two_class_critical_g(sp.Rational(1, 2))
    assert limit == sp.Rational(8, 3) and c1.is_finite and c1 < 0
    for dim in (16, 64):
        lam = np.where(np.arange(dim) < dim // 2, 1.0, 0.5)
        want = brentq(lambda gv, lam=lam, dim=dim: float(np.sum(gv / dim * lam / (2 - 2 * gv / dim * lam))) - 1,
                      1e-9, dim * (1 - 1e-12), xtol=1e-14, rtol=1e-15)
        assert abs(float(root.subs(hl.d, dim)) / want - 1) < 1e-12
    for bad in (0, 1, sp.Rational(3, 2), -1):
        with pytest.raises(ValueError, match="low"):
            hl.two_class_critical_g(bad)
