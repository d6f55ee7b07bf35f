"""theory.glm.expectations: Isserlis closed forms, the quadrature's stated accuracy, the mpmath oracle.

Stated accuracy (docstring of Quadrature): 1e-10 relative for the logistic integrands at standard
deviations 0.3 to 8 with the default spacing; tested here against mpmath at 25 digits, and the
polynomial (phase retrieval) integrands of the numeric rule against the Isserlis closed forms.
"""
import mpmath
import numpy as np
import pytest
import sympy as sp

from theory.glm import derive_limit, phase_retrieval, sigmoid, softplus
from theory.glm.derivation import B11, B12, B22, Expectation, r, rs
from theory.glm.expectations import (
    Evaluator,
    Quadrature,
    closed_form,
    expectation_mp,
    gaussian_moment,
)
from theory.glm.functions import NUMPY_FUNCTIONS


def test_isserlis_moments_against_textbook_values():
    assert gaussian_moment(4, 0) == 3 * B11**2
    assert gaussian_moment(3, 1) == 3 * B11 * B12
    assert sp.expand(gaussian_moment(2, 2) - (B11 * B22 + 2 * B12**2)) == 0
    assert gaussian_moment(1, 2) == 0
    # E r^6 = 15 B11^3, E r^3 r*^3 = 9 B11 B12 B22 + 6 B12^3 (Wick pairings)
    assert gaussian_moment(6, 0) == 15 * B11**3
    assert sp.expand(gaussian_moment(3, 3) - (9 * B11 * B12 * B22 + 6 * B12**3)) == 0


def test_isserlis_coefficients_equal_derivatives_of_the_mgf():
    # the series-coefficient route of gaussian_moment against differentiating the MGF (the definition)
    s, t = sp.symbols("s t", real=True)
    mgf = sp.exp((B11 * s**2 + 2 * B12 * s * t + B22 * t**2) / 2)
    for i in range(7):
        for j in range(7 - i):
            ref = sp.expand(sp.diff(mgf, s, i, t, j).subs({s: 0, t: 0}))
            assert sp.expand(gaussian_moment(i, j) - ref) == 0, (i, j)


def test_isserlis_against_mpmath():
    for i, j in [(2, 2)]:
        val = float(gaussian_moment(i, j).subs({B11: 1.3, B12: -0.4, B22: 0.7}))
        ref = float(expectation_mp(r**i * rs**j, 1.3, -0.4, 0.7, dps=20))
        assert val == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("B", [(1.0, 0.5, 1.0), (4.0, -1.9, 1.0), (0.5, 0.0, 9.0), (2.0, 2.0, 2.0)])
def test_numeric_rule_against_closed_forms_for_phase_retrieval(B):
    lim = derive_limit(phase_retrieval())
    integrands = [a.args[0] for a in lim.expectations()] + [lim.risk.args[0]]
    num = Quadrature(integrands, closed_forms=False)(*B)
    exact = [float(closed_form(sp.Integer(1) * a).subs(dict(zip((B11, B12, B22), B))))
             for a in lim.expectations()] + [float(closed_form(lim.risk).subs(dict(zip((B11, B12, B22), B))))]
    for x, e in zip(num, exact):
        assert float(x) == pytest.approx(e, rel=1e-10, abs=1e-12)


ONE_D = [sigmoid(r) - sigmoid(r) ** 2, sigmoid(r) ** 2, softplus(r) - r / 2, (sigmoid(r) - sigmoid(r) ** 2) ** 2]


@pytest.mark.parametrize("sd", [0.3, 1.0, 2.0, 3.0, 5.0, 8.0])
def test_one_dimensional_logistic_integrands_to_1e_10_relative(sd):
    q = Quadrature(ONE_D)
    vals = q(sd**2, 0.0, 1.0)
    for G, v in zip(ONE_D, vals):
        ref = float(expectation_mp(G, sd**2, 0.0, 1.0, dps=25))
        assert abs(float(v) / ref - 1) < 1e-10, (G, sd)
    assert max(float(e) for e in q.error_estimate(sd**2, 0.0, 1.0)) < 1e-11


@pytest.mark.parametrize("B", [(1.0, 0.5, 1.0), (4.0, 1.9, 1.0)])
def test_two_dimensional_logistic_integrands_to_1e_10_relative(B):
    G = sigmoid(r) * sigmoid(rs)
    v = float(Quadrature([G])(*B)[0])
    with mpmath.workdps(20):
        ref = float(expectation_mp(G, *B, dps=20))
    assert abs(v / ref - 1) < 1e-10


def test_vectorised_over_B_equals_one_at_a_time():
    q = Quadrature([sigmoid(r) * sigmoid(rs), softplus(r) - r * sigmoid(rs)])
    b11, b12, b22 = np.array([1.0, 2.0, 0.5]), np.array([0.2, -0.5, 0.5]), np.array([1.0, 1.0, 1.0])
    together = q(b11, b12, b22)
    for k in range(3):
        single = q(b11[k], b12[k], b22[k])
        for a, s in zip(together, single):
            assert a[k] == pytest.approx(float(s), rel=1e-13)


def test_degenerate_covariances():
    q = Quadrature([sigmoid(r) * sigmoid(rs)])
    assert float(q(0.0, 0.0, 0.0)[0]) == pytest.approx(0.25, rel=1e-14)        # r = r* = 0
    # r = r* exactly (the optimum): E sigma(r*)^2, a 1-D integral
    one = float(Quadrature([sigmoid(rs) ** 2])(1.0, 1.0, 1.0)[0])
    assert float(q(1.0, 1.0, 1.0)[0]) == pytest.approx(one, rel=1e-12)


def test_evaluator_mixes_closed_forms_and_quadrature():
    from theory.glm.derivation import Expectation
    e = Evaluator(3 * Expectation(r**2) + Expectation(sigmoid(r)))
    assert float(e(2.0, 0.0, 1.0)) == pytest.approx(6.5, rel=1e-13)      # E sigma(r) = 1/2 by symmetry


def test_bad_input():
    with pytest.raises(ValueError, match="positive semidefinite"):
        Quadrature([sigmoid(r) * sigmoid(rs)])(1.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="spacing"):
        Quadrature([r], spacing=0)


@pytest.mark.parametrize("G", [r * sigmoid(rs), rs**3 * sigmoid(r), r**2 * rs * softplus(rs) - 3 * rs * sigmoid(r)])
@pytest.mark.parametrize("B", [(4.0, -1.9, 1.0), (0.3, 0.2, 2.5)])
def test_terms_polynomial_in_one_variable_are_integrated_out_exactly(G, B):
    """Terms polynomial in r (or r*) are reduced to a 1-D rule through the Gaussian conditional law;
    oracle: the 2-D mpmath quadrature of the whole integrand."""
    from theory.glm.expectations import _split
    assert set(_split(G, True)) <= {"given_rs", "given_r"}
    v = float(Quadrature([G])(*B)[0])
    ref = float(expectation_mp(G, *B, dps=15))
    assert v == pytest.approx(ref, rel=1e-10, abs=1e-13)


def test_degenerate_covariances_of_the_conditional_rules():
    # r* = 0 (B_22 = 0): E[r^2 sigma(r*)] = B_11 / 2; r = 0: E[r*^2 sigma(r)] = B_22 / 2
    assert float(Quadrature([r**2 * sigmoid(rs)])(2.0, 0.0, 0.0)[0]) == pytest.approx(1.0, rel=1e-13)
    assert float(Quadrature([rs**2 * sigmoid(r)])(0.0, 0.0, 3.0)[0]) == pytest.approx(1.5, rel=1e-13)


FNS = [NUMPY_FUNCTIONS, "numpy"]


def _term_by_term(G, b11, b12, b22, spacing=0.45, L=9.0):
    """The rule evaluated one additive term at a time, each by its own lambdified function and a
    dense tensor grid for the 2-D terms (the evaluation order before the terms were grouped by rule
    kind): a second route to Quadrature's numbers."""
    from theory.glm.expectations import _MU, _SD, _conditional, _split, _trapezoid

    def rule(scale):
        return _trapezoid(spacing / max(1.0, float(scale)), L)
    sd1, sd2 = np.sqrt(b11), np.sqrt(b22)
    rho = b12 / sd2
    s = np.sqrt(max(b11 - rho**2, 0.0))
    total = 0.0
    for kind, term in _split(G, True).items():
        if kind == "closed":
            total += float(closed_form(Expectation(term)).subs({B11: b11, B12: b12, B22: b22}))
        elif kind in ("r", "rs"):
            sd = sd1 if kind == "r" else sd2
            z, w = rule(sd)
            total += np.broadcast_to(sp.lambdify([r if kind == "r" else rs], term, FNS)(sd * z), z.shape) @ w
        elif kind == "given_rs":
            z, w = rule(max(abs(rho), sd2))
            fn = sp.lambdify([rs, _MU, _SD], _conditional(term, r, rs), FNS)
            total += np.broadcast_to(fn(sd2 * z, rho * z, s), z.shape) @ w
        elif kind == "given_r":
            rho1 = b12 / sd1
            z, w = rule(max(abs(rho1), sd1))
            fn = sp.lambdify([r, _MU, _SD], _conditional(term, rs, r), FNS)
            total += np.broadcast_to(fn(sd1 * z, rho1 * z, np.sqrt(max(b22 - rho1**2, 0.0))), z.shape) @ w
        else:
            assert kind == "both"
            z1, w1 = rule(s)
            z2, w2 = rule(max(abs(rho), sd2))
            fn = sp.lambdify([r, rs], term, FNS)
            total += w2 @ fn(rho * z2[:, None] + s * z1[None, :], sd2 * z2[:, None]) @ w1
    return total


def test_grouped_rule_equals_the_term_by_term_rule_and_mpmath():
    """Quadrature evaluates all terms of one rule kind with one lambdified call (one evaluation per
    ODE right-hand side): the same numbers as the term-by-term rule to 1e-12 relative, and mpmath's."""
    G = [sigmoid(r) ** 2 - 2 * sigmoid(r) * sigmoid(rs) + sigmoid(rs) ** 2, softplus(r) - r * sigmoid(rs),
         rs**2 * sigmoid(r) + r * rs, sigmoid(r) * (1 - sigmoid(r)) * sigmoid(rs)]
    q = Quadrature(G)
    for B in [(1.3, 0.4, 2.0), (4.0, -1.9, 1.0), (0.5, 0.1, 3.0)]:
        got = [float(v) for v in q(*B)]
        for k, g in enumerate(G):
            assert got[k] == pytest.approx(_term_by_term(g, *B), rel=1e-12, abs=1e-15), (k, B)
        ref = float(expectation_mp(G[0], *B, dps=20))
        assert got[0] == pytest.approx(ref, rel=1e-9)
    # a planted wrong sign of the 2-D term is seen
    assert abs(_term_by_term(sigmoid(r) ** 2 + 2 * sigmoid(r) * sigmoid(rs) + sigmoid(rs) ** 2, 1.3, 0.4, 2.0)
               - float(q(1.3, 0.4, 2.0)[0])) > 0.1
