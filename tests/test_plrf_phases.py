"""theory.plrf.phases and theory.plrf.fit against independent oracles: the papers' formulas
(quoted here only), mpmath sums, a numerical ODE solve of the momentum buffer, numerical
minimisation of the compute-optimal balance, and plrf-model's deterministic equivalent."""
from __future__ import annotations

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize

from theory.plrf.fit import fit_exponent, local_exponents, window_end
from theory.plrf.phases import (
    ALGORITHMS,
    algorithm_settings,
    buffer_growth_exponent,
    compute_optimal_exponent,
    effective_time_exponent,
    loss_exponent,
    phase,
    power_law_sum_exponent,
    theory_spectrum,
)

# ---------------------------------------------------------------- phases


@pytest.mark.parametrize("alpha, beta, name", [
    (1.0, 0.3, "Ia"), (0.4, 0.3, "Ib"), (0.2, 0.8, "Ic"), (1.0, 0.7, "II"), (0.6, 0.8, "III"),
    (0.4, 0.8, "IV"), (0.3, 0.25, "Ib"),
])
def test_phase_names(alpha, beta, name):
    ph = phase(alpha, beta)
    assert ph.name == name
    assert ph.shape in ("I", "II", "III", "IV")
    assert "2405.15074" in ph.source


@pytest.mark.parametrize("alpha, beta", [(1.0, 0.5), (0.5, 0.8), (0.25, 0.8), (0.8, 0.8)])
def test_phase_boundaries_refused(alpha, beta):
    with pytest.raises(ValueError, match="boundary"):
        phase(alpha, beta)


@pytest.mark.parametrize("alpha, beta, err", [
    (0.2, 0.2, ValueError), (-1.0, 0.5, ValueError), (0.0, 1.0, ValueError), ("1", 0.5, TypeError),
    (True, 0.5, TypeError), (1.0, float("nan"), ValueError),
])
def test_phase_bad_input(alpha, beta, err):
    with pytest.raises(err):
        phase(alpha, beta)


def test_loss_exponent_bad_input():
    with pytest.raises(ValueError, match="algorithm"):
        loss_exponent(1.0, 0.3, "adam")
    with pytest.raises(NotImplementedError, match="phase IV"):
        loss_exponent(0.4, 0.8, "sgd")
    with pytest.raises(NotImplementedError, match="phase III"):
        loss_exponent(0.6, 0.8, "dana_decaying")


# ---------------------------------------------------------------- exponents against the quoted formulas

_forcing = st.tuples(st.fractions(min_value=0.55, max_value=3).map(float),
                     st.fractions(min_value=0.05, max_value=3).map(float)).filter(
    lambda ab: 2 * ab[1] != 1 and ab[0] != ab[1] and (2 * ab[1] < 1 or ab[1] < ab[0]))


@settings(max_examples=12, deadline=None)
@given(_forcing)
def test_sgd_exponent_is_the_quoted_forcing_exponent(ab):
    alpha, beta = ab
    e = loss_exponent(alpha, beta, "sgd")
    quoted = (2 * alpha + 2 * beta - 1) / (2 * alpha)          # arXiv:2405.15074, F_pp; REFERENCES.md sec. 5
    assert e.value == pytest.approx(quoted, rel=1e-9)
    assert loss_exponent(alpha, beta, "sgd_m").value == pytest.approx(quoted, rel=1e-9)   # SGD-M = SGD
    dana = loss_exponent(alpha, beta, "dana_decaying")
    assert dana.value == pytest.approx((2 - 1 / (2 * alpha)) * quoted, rel=1e-9)
    assert dana.value > e.value                                  # outscaling for 2 alpha > 1 (arXiv:2505.16098)


def test_phase_three_sgd_exponent_is_the_quoted_noise_exponent():
    assert loss_exponent(0.6, 0.8, "sgd").value == pytest.approx(2 - 1 / 1.2)     # K_pp, arXiv:2405.15074


def test_below_the_high_dimensional_line_dana_decaying_does_not_outscale():
    assert loss_exponent(0.4, 0.3, "dana_decaying").exact == loss_exponent(0.4, 0.3, "sgd").exact


@pytest.mark.parametrize("p, alpha", [(1.6, 1.0), (2.6, 1.0), (1.2, 0.4), (3.0, 0.75)])
def test_power_law_sum_exponent_against_the_sum(p, alpha):
    """Oracle: the sum itself (float64 terms up to J = 200 j*, the tail j > J by mpmath quadrature)
    at two values of T; its log-log slope."""
    e = float(power_law_sum_exponent(sp.Float(p)).subs(sp.Symbol("alpha", positive=True), alpha))

    def total(T):
        J = int(200 * T ** (1 / (2 * alpha)))
        j = np.arange(1, J + 1, dtype=float)
        head = float(np.sum(j ** (-p) * np.exp(-T * j ** (-2 * alpha))))
        tail = mpmath.quad(lambda x: x ** (-p) * mpmath.exp(-T * x ** (-2 * alpha)), [J + 0.5, mpmath.inf])
        return head + float(tail)

    T1 = 10.0 ** (6 * alpha)           # j* = T^(1/(2 alpha)) = 1000
    slope = -np.log(total(10 * T1) / total(T1)) / np.log(10)
    assert slope == pytest.approx(e, abs=3e-3)


def test_buffer_growth_against_a_numerical_ode_solve():
    rho, y = buffer_growth_exponent()
    assert rho == 1
    delta, t = sp.Symbol("delta", positive=True), sp.Symbol("t", positive=True)
    # the closed form solves the ODE (exact)
    assert sp.simplify(sp.diff(y, t) + delta / (delta + t) * y - 1) == 0
    # and a numerical solve of y' = -delta/(delta + t) y + 1 grows like t^1
    for dval in (1.5, 3.0):
        sol = integrate.solve_ivp(lambda s, yy, dv=dval: -dv / (dv + s) * yy + 1, (0, 1e6), [0.0],
                                  t_eval=[1e5, 1e6], rtol=1e-10, atol=1e-12)
        assert np.log10(sol.y[0, 1] / sol.y[0, 0]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("alpha", [1.0, 0.75, 2.0])
def test_effective_time_against_numerical_integration(alpha):
    """Oracle: T(t) = int_0^t (gamma_2 + gamma_3(s) y(s)) ds by quadrature of the numerical buffer."""
    tau = float(effective_time_exponent("dana_decaying", alpha))
    assert tau == pytest.approx(2 - 1 / (2 * alpha))
    dval, c3 = 3.0, 0.5

    def rhs(s, z):       # z = (y, T)
        y, _ = z
        return [-dval / (dval + s) * y + 1, 0.1 + c3 * (1 + s) ** (-1 / (2 * alpha)) * y]

    sol = integrate.solve_ivp(rhs, (0, 1e9), [0.0, 0.0], t_eval=[1e8, 1e9], rtol=1e-9, atol=1e-12, method="LSODA")
    slope = np.log10(sol.y[1, 1] / sol.y[1, 0])
    assert slope == pytest.approx(tau, abs=0.02)
    assert effective_time_exponent("dana_constant", alpha) == 2
    assert effective_time_exponent("sgd_m", alpha) == 1 == effective_time_exponent("sgd", alpha)


@pytest.mark.parametrize("algorithm", ["sgd", "dana_decaying"])
def test_compute_optimal_exponent_against_numerical_minimisation(algorithm):
    alpha, beta = 1.0, 0.3
    eta, p = loss_exponent(alpha, beta, algorithm).value, 2 * alpha + 2 * beta

    def best(f):
        res = optimize.minimize_scalar(lambda u: np.log((f / np.exp(u)) ** (-eta) + np.exp(u) ** (-(p - 1))),
                                       bounds=(0, np.log(f)), method="bounded", options={"xatol": 1e-12})
        return res.fun

    slope = -(best(1e40) - best(1e30)) / np.log(1e10)
    assert slope == pytest.approx(float(compute_optimal_exponent(alpha, beta, algorithm)), abs=1e-6)
    assert compute_optimal_exponent(alpha, beta) == sp.Rational(8, 15)    # (2a + 2b - 1)/(2a + 1), 2405.15074


def test_compute_optimal_exponent_outside_phase_ia():
    with pytest.raises(NotImplementedError):
        compute_optimal_exponent(1.0, 0.7)


def test_latex_of_an_exponent():
    assert r"k^{-\frac{6}{5}}" in loss_exponent(1.0, 0.3, "dana_decaying").latex()


# ---------------------------------------------------------------- settings and spectra

def test_theory_spectrum_matches_the_models_deterministic_equivalent():
    """Oracle: theory.plrf.PowerLawRandomFeatures.deterministic_equivalent (plrf-model)."""
    from theory.plrf import PowerLawRandomFeatures
    for alpha, beta in ((1.0, 0.3), (1.0, 0.8), (0.4, 0.3)):
        de = PowerLawRandomFeatures(alpha, beta, v=200, d=50).deterministic_equivalent()
        ts = theory_spectrum(alpha, beta, 50, v=200)
        assert ts.irreducible_risk == pytest.approx(de.irreducible_risk, rel=1e-12)
        assert np.allclose(ts.eigenvalues[::-1], de.eigenvalues, rtol=1e-14)
        assert np.allclose(ts.initial[::-1] ** 2, de.initial_second_moments, rtol=1e-12)


def test_theory_spectrum_bad_input():
    with pytest.raises(ValueError, match="v must"):
        theory_spectrum(1.0, 0.3, 10, v=10)
    with pytest.raises(ValueError, match="d must"):
        theory_spectrum(1.0, 0.3, 0)


def test_algorithm_settings():
    lam = np.arange(1, 101) ** -2.0
    tr = lam.sum()
    for name in ALGORITHMS:
        _, lr, _ = algorithm_settings(name, 1.0, 0.3, lam)
        assert lr > 0
    _, lr, hyper = algorithm_settings("sgd_m", 1.0, 0.3, lam)
    assert lr + hyper["gamma3"] * hyper["gamma1"] / hyper["delta"] == pytest.approx(0.375 / tr)   # SGD's rate
    _, _, hyper = algorithm_settings("dana_decaying", 1.0, 0.3, lam)
    assert hyper["gamma3"](99) / hyper["gamma3"](0) == pytest.approx(100 ** -0.5)
    assert hyper["delta"](0) == 1.0
    with pytest.raises(ValueError, match="algorithm"):
        algorithm_settings("adam", 1.0, 0.3, lam)


# ---------------------------------------------------------------- the fit

def test_fit_recovers_a_power_law_and_reports_curvature():
    k = np.unique(np.logspace(0, 6, 300).round())
    f = fit_exponent(k, 3.0 * k ** -1.2 + 0.5, (10, 1e6), limit=0.5)
    assert f.exponent == pytest.approx(1.2, abs=1e-9) and f.drift < 1e-9 and f.prefactor == pytest.approx(3.0)
    curved = fit_exponent(k, k ** -1.0 * (1 + 5 * k ** -0.3), (10, 1e4))     # a slowly dying correction
    assert curved.drift > 0.01 and curved.uncertainty >= curved.drift


@pytest.mark.parametrize("kwargs, match", [
    ({"window": (0.5, 10)}, "window"), ({"window": (10, 5)}, "window"), ({"window": 3}, "window"),
    ({"window": (2, 10), "limit": 10.0}, "positive"), ({"window": (2, 10), "points": 4}, "points"),
    ({"window": (2, 10), "limit": float("nan")}, "limit"),
])
def test_fit_bad_input(kwargs, match):
    k = np.arange(1, 101, dtype=float)
    with pytest.raises(ValueError, match=match):
        fit_exponent(k, k ** -1.0, **kwargs)


def test_fit_bad_curves():
    with pytest.raises(ValueError, match="same length"):
        fit_exponent([1, 2, 3, 4], [1, 2, 3], (1, 3))
    with pytest.raises(ValueError, match="increasing"):
        fit_exponent([1, 3, 2, 4], [1, 1, 1, 1], (1, 3))
    with pytest.raises(ValueError, match="tolerance"):
        window_end([1, 2, 3, 4], [1, 0.5, 0.3, 0.25], 1.0, 0.0, start=1)


def test_finite_size_window_moves_out_with_d():
    """The sweep over d: SGD's local exponent leaves 0.8 +- 0.01 later for larger d (exact curves)."""
    from theory import SGD, derive
    from theory.longtime import risk_curve
    ends = []
    times = np.unique(np.logspace(0, 6, 121).round().astype(int))
    for d in (256, 1024, 4096):
        s = theory_spectrum(1.0, 0.3, d)
        _, lr, _ = algorithm_settings("sgd", 1.0, 0.3, s.eigenvalues)
        risk = risk_curve(derive(SGD()), s.eigenvalues, lr, times, noise_variance=s.noise_variance,
                          initial=s.initial).risk
        ends.append(window_end(times, risk, 0.8, 0.01, start=300, limit=s.irreducible_risk))
        assert np.all(np.isfinite(local_exponents(times, risk, s.irreducible_risk)[1:-1]))
    assert ends[0] < ends[1] < ends[2]


# ---------------------------------------------------------------- effective time, shared formulas

def _loop_effective_time(k_max, gamma2, gamma1, gamma3, delta):
    """Oracle: the generalised momentum's mean update iterated in plain Python with a unit gradient."""
    y, theta, out = 0.0, 0.0, [0.0]
    for m in range(k_max):
        dm = delta(m) if callable(delta) else delta
        g3 = gamma3(m) if callable(gamma3) else gamma3
        y = (1.0 - dm) * y + gamma1
        theta += gamma2 + g3 * y
        out.append(theta)
    return np.array(out)


@pytest.mark.parametrize("algorithm", ["sgd", "sgd_m", "dana_constant", "dana_decaying"])
def test_effective_time_against_the_iterated_update(algorithm):
    from theory.plrf.effective_time import effective_time
    lam = np.arange(1, 65) ** -2.0
    _, lr, h = algorithm_settings(algorithm, 1.0, 0.3, lam)
    steps = np.array([0, 1, 2, 7, 100, 999, 3000])
    got = effective_time(steps, lr, **h)
    if algorithm == "sgd":
        want = lr * steps
    else:
        want = _loop_effective_time(3000, lr, h["gamma1"], h["gamma3"], h["delta"])[steps]
    assert np.allclose(got, want, rtol=1e-12, atol=0)
    # a generic callable Delta (iterated) agrees with the closed form of the PowerLaw
    if algorithm == "dana_constant":
        plain = effective_time(steps, lr, gamma3=h["gamma3"], delta=lambda m, f=h["delta"]: f(m))
        assert np.allclose(plain, got, rtol=1e-12)


def test_dana_constant_time_is_derived_and_quadratic():
    from theory.plrf.effective_time import dana_constant_time, discrete_buffer
    m, delta = sp.Symbol("m", integer=True, nonnegative=True), sp.Symbol("delta", positive=True)
    b = discrete_buffer()
    assert sp.simplify((delta + m) * b - m * b.subs(m, m - 1) - (delta + m)) == 0 and b.subs(m, 0) == 1
    T, kx = dana_constant_time()
    k = sp.Symbol("k", integer=True, positive=True)
    assert sp.limit(k * sp.diff(T, k) / T, k, sp.oo) == effective_time_exponent("dana_constant", 1.0) == 2
    g2 = sp.Symbol("gamma_2", positive=True)
    assert sp.simplify(T.subs(k, kx) - 2 * g2 * kx) == 0            # the two terms are equal at k_x


def test_effective_time_bad_input():
    from theory.plrf.effective_time import effective_time
    with pytest.raises(ValueError, match="steps"):
        effective_time([3, 2], 0.1)
    with pytest.raises(ValueError, match="learning_rate"):
        effective_time([1, 2], -0.1)
    with pytest.raises(ValueError, match="delta"):
        effective_time([1, 2], 0.1, gamma3=0.1, delta=1.5)


def test_algorithm_settings_keep_their_schedules():
    """The DANA schedules are PowerLaw values now; oracle: the former closures' formulas."""
    from theory.plrf.schedules import PowerLaw
    lam = np.arange(1, 101) ** -2.0
    tr, d = lam.sum(), lam.size
    for beta in (0.3, 0.7):
        delta = max(2 + (2 * beta - 1), 2 - 1) + 1                    # alpha = 1
        ks = np.array([0.0, 1.0, 5.0, 1e3, 1e6])
        _, lr, h = algorithm_settings("dana_decaying", 1.0, beta, lam)
        assert lr == 0.375 / tr and isinstance(h["gamma3"], PowerLaw) and isinstance(h["delta"], PowerLaw)
        assert np.allclose(h["delta"](ks), delta / (delta + ks), rtol=1e-15)
        assert np.allclose(h["gamma3"](ks), 0.1 / tr * (1 + ks) ** -0.5, rtol=1e-15)
        _, lr, h = algorithm_settings("dana_constant", 1.0, beta, lam)
        assert h["gamma3"] == 0.1 / (d * tr)
        _, _, h = algorithm_settings("dana_constant", 1.0, beta, lam, dana_constant_gamma3=0.4)
        assert h["gamma3"] == 0.4 / (d * tr)
    with pytest.raises(ValueError, match="dana_constant_gamma3"):
        algorithm_settings("dana_constant", 1.0, 0.3, lam, dana_constant_gamma3=0.0)


def test_theory_spectrum_keeps_its_formulas():
    """theory_spectrum now calls theory.plrf.model.deterministic_equivalent; oracle: the formulas inline."""
    from theory.plrf.model import sketch_kappa
    for alpha, beta, d in ((1.0, 0.3, 64), (1.0, 0.7, 64), (0.4, 0.3, 32)):
        ts = theory_spectrum(alpha, beta, d)
        jv = np.arange(1, 4 * d + 1, dtype=float)
        kappa = sketch_kappa(jv ** (-2 * alpha), d)
        p_inf = 0.5 * np.sum(kappa * jv ** (-2 * alpha) * jv ** (-2 * beta) / (jv ** (-2 * alpha) + kappa))
        j = jv[:d]
        c = np.sum(j ** (-2 * beta)) if (alpha > 0.5 and beta > 0.5) else 0.0
        assert np.array_equal(ts.eigenvalues, j ** (-2 * alpha))
        assert np.array_equal(ts.initial, np.sqrt(j ** (-2 * beta) + c / d))
        assert ts.irreducible_risk == pytest.approx(p_inf, rel=1e-14)


def test_exponent_derivations_are_cached_on_disk(tmp_path, monkeypatch):
    """The SymPy derivations behind the exponents are persistent: with an empty cache directory they are
    derived and stored, and the stored entries load back equal to the derived values."""
    import importlib
    import pickle

    from theory import diskcache
    effective_time = importlib.import_module("theory.plrf.effective_time")
    phases = importlib.import_module("theory.plrf.phases")
    monkeypatch.setenv("SGDCHECK_CACHE_DIR", str(tmp_path))
    funcs = [(phases.power_law_sum_exponent, (2 * phases.ALPHA + 2 * phases.BETA,)),
             (phases.buffer_growth_exponent, ()), (effective_time.discrete_buffer, ()),
             (effective_time.dana_constant_time, ()), (phases._compute_optimal_exponent, (1.0, 0.3, "sgd"))]
    for fn, _ in funcs:
        fn.cache_clear()
    derived = [fn(*args) for fn, args in funcs]
    stored = {p.name: pickle.loads(p.read_bytes()) for p in diskcache.cache_dir().glob("*.pkl")}
    assert len(stored) == len(funcs)
    for value in derived:
        assert any(v == value for v in stored.values())
    for fn, _ in funcs:
        fn.cache_clear()
    assert [fn(*args) for fn, args in funcs] == derived        # loaded from disk
    for fn, _ in funcs:
        fn.cache_clear()
