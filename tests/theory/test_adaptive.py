"""Line search and AdaGrad-Norm: derived closed forms against the paper's formulas (oracles) and the ODE."""
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory import adaptive as ad
from theory import highline as hl
from theory.symbols import lam


def test_line_search_rule_is_table2_of_the_paper():
    rule = ad.line_search_derivation()["rule"]
    # oracle: gamma_t = sum lambda_i^2 D_i^2 / (2 tr(K^2) R), written with the 1/d averages
    assert sp.simplify(rule - hl.M2 / (2 * hl.tau2 * hl.R)) == 0


def test_fixed_point_polynomial_is_eq94_for_equal_masses():
    ls = ad.two_eigenvalue_line_search(sp.Rational(1, 2))
    l1, l2, x = ad.lam1, ad.lam2, ad.x
    P = l1 * l2 * (x + 1) * (l2 * x - l1) + (l2 - l1) ** 3 * x   # eq. 94 (oracle)
    assert sp.simplify(sp.cancel(ls.polynomial / P)).is_number
    general = ad.two_eigenvalue_line_search()
    assert sp.simplify(general.polynomial.subs(ad.p, sp.Rational(1, 2)) / P).is_number


@given(ratio=st.floats(1e-3, 0.999), mass=st.floats(0.02, 0.98))
def test_eq95_bounds_and_positive_root(ratio, mass):
    ls = ad.two_eigenvalue_line_search()
    x_inf, g_inf, rate = ls.numeric(1.0, ratio, mass, dps=30)
    assert x_inf > 0
    assert abs(ls.polynomial.subs({ad.lam1: 1, ad.lam2: ratio, ad.p: mass, ad.x: float(x_inf)})) < 1e-9
    t2 = mass + (1 - mass) * ratio**2
    assert ratio / t2 <= g_inf <= 2 * ratio / t2


def test_line_search_limit_matches_the_float_ode():
    ls = ad.two_eigenvalue_line_search()
    _, g_inf, _ = ls.numeric(1.0, 0.3, 0.4)
    sol = hl.solve([1.0, 0.3], weights=[0.4, 0.6], t_max=80.0, rule=ad.line_search(), t_eval=[80.0],
                   atol=1e-100)  # noiseless: R decays exponentially, control the relative error only
    assert abs(sol.g[-1] - g_inf) < 1e-8 * g_inf


def test_adagrad_rate_is_the_paper_ode():
    out = ad.adagrad_norm_derivation()
    assert sp.simplify(out["increment"] - 2 * hl.tau1 * hl.R) == 0
    assert sp.simplify(out["rule"] - ad.eta / sp.sqrt(ad.b**2 + 2 * hl.tau1 * hl.I)) == 0


@given(etav=st.floats(0.1, 2.0), bv=st.floats(0.05, 3.0), lamv=st.floats(0.1, 3.0), D0=st.floats(0.01, 5.0))
def test_lambert_limit_solves_the_first_integral_and_matches_the_ode(etav, bv, lamv, D0):
    lim = ad.adagrad_isotropic_limit()
    g_inf = float(lim["limit"].subs({ad.eta: etav, ad.b: bv, lam: lamv, lim["D0"]: D0}))
    assert 0 < g_inf < etav / bv       # the rate only decreases
    B = (etav / g_inf) ** 2
    first = float(lim["first_integral"].subs({lim["B"]: B, ad.eta: etav, ad.b: bv, lam: lamv, lim["D0"]: D0}))
    assert abs(first) < 1e-9 * (1 + lamv**2 * D0)
    # float ODE to a long time; the rate converges exponentially
    rate = min(2 * g_inf * lamv - (g_inf * lamv) ** 2, 1.0)
    T = 40.0 / rate
    sol = hl.solve([lamv], t_max=T, rule=ad.adagrad_norm(etav, bv), initial_D2=D0, t_eval=[T], method="LSODA",
                   rtol=1e-11, atol=1e-20)
    assert abs(sol.g[-1] - g_inf) < 1e-7 * g_inf


@pytest.mark.parametrize("eta_, b_, match", [(0.0, 1.0, "eta"), (-1.0, 1.0, "eta"), (1.0, 0.0, "b"),
                                             (1.0, -2.0, "b")])
def test_adagrad_errors(eta_, b_, match):
    with pytest.raises(ValueError, match=match):
        ad.adagrad_norm(eta_, b_)


def test_empty_spectrum_errors():
    with pytest.raises(ValueError, match="at least one eigenvalue"):
        hl.solve([], t_max=1.0, rule=ad.line_search())
    with pytest.raises(ValueError, match="at least one eigenvalue"):
        hl.solve_mp([], [1.0], rule=ad.line_search())


def test_latex():
    tex = ad.two_eigenvalue_line_search().latex()
    assert "eq.~94" in tex and r"\lambda_1" in tex


@pytest.mark.parametrize("args, match", [((0.5, 1.0, 0.5), "lambda2 must be smaller"),
                                         ((1.0, 1.0, 0.5), "lambda2 must be smaller"),
                                         ((1.0, 0.5, 1.5), "mass"), ((1.0, 0.5, 0.0), "mass"),
                                         ((1.0, -0.5, 0.5), "lambda2"), ((float("nan"), 0.5, 0.5), "lambda1")])
def test_two_eigenvalue_numeric_refuses_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        ad.two_eigenvalue_line_search().numeric(*args)
    with pytest.raises(ValueError, match="dps"):
        ad.two_eigenvalue_line_search().numeric(1.0, 0.5, 0.5, dps=0)


def test_two_eigenvalue_deprecated_names_warn():
    ls = ad.two_eigenvalue_line_search()
    with pytest.warns(DeprecationWarning, match="limit_g"):
        assert ls.limit_learning_rate == ls.limit_g
    with pytest.warns(DeprecationWarning, match="g_of_x"):
        assert ls.learning_rate == ls.g_of_x


@pytest.mark.parametrize("mass", [1.5, 0.0, -0.2, 1.0])
def test_two_eigenvalue_derivation_refuses_a_mass_outside_the_unit_interval(mass):
    with pytest.raises(ValueError, match="mass"):
        ad.two_eigenvalue_line_search(mass)


def test_two_eigenvalue_limits_without_simplify():
    """x_inf and g_inf are derived with expand/together (not simplify): for the general mass they are
    already in simplify's form (srepr-equal, what the derivation returned before), and the limits at a
    given mass 1/2 equal the general ones at p = 1/2 (exactly)."""
    general = ad.two_eigenvalue_line_search()
    for e in (general.limit_ratio, general.limit_g):
        assert sp.srepr(sp.simplify(e)) == sp.srepr(e)
    half = ad.two_eigenvalue_line_search(sp.Rational(1, 2))
    for a, b in ((half.limit_ratio, general.limit_ratio), (half.limit_g, general.limit_g)):
        assert sp.simplify(a - b.subs(ad.p, sp.Rational(1, 2))) == 0
