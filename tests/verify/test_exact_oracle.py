"""Exact oracle: enumerating the support of discrete data in rational arithmetic reproduces the
derived one-step recursion *exactly* (no tolerance), for Rademacher and sparse data, d <= 4, B <= 2."""
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory import SGD, IndependentCoordinates, Rademacher, SparseGaussian, derive
from theory import symbols as sym
from verify.exact import gaussian_moment_law, law_moment, one_step_moments, rademacher_law, sparse_law


def _q(f):
    return sp.Rational(f.numerator, f.denominator)


def derived_one_step(rec, lam, kappa, batch, sigma2, gamma, e):
    """m'_i = A_i m_i + u_i S + f_i at m_i = e_i^2, and E e'_i, in exact SymPy rationals."""
    S = sum(_q(l) * _q(x) ** 2 for l, x in zip(lam, e))
    out_m, out_mu = [], []
    for li, ki, ei in zip(lam, kappa, e):
        sub = {sym.lam: _q(li), sym.kappa: _q(ki), sym.B: batch, sym.sigma2: _q(sigma2), sym.gamma: _q(gamma)}
        m = _q(ei) ** 2
        out_m.append(sp.expand(rec.A[0, 0].subs(sub) * m + rec.u[0].subs(sub) * S + rec.f[0].subs(sub)))
        out_mu.append(sp.expand(rec.mean_matrix[0, 0].subs(sub) * _q(ei)))
    return out_m, out_mu


rationals = st.fractions(min_value=-2, max_value=2, max_denominator=7)
positive = st.fractions(min_value=Fraction(1, 7), max_value=2, max_denominator=7)
probabilities = st.fractions(min_value=Fraction(1, 6), max_value=1, max_denominator=6).filter(lambda p: p > 0)


@st.composite
def setups(draw, kind):
    batch = draw(st.integers(1, 2))
    dmax = 3 if (kind == "sparse_gaussian" and batch == 2) else 4
    d = draw(st.integers(1, dmax))
    e = draw(st.lists(rationals, min_size=d, max_size=d))
    c = draw(st.lists(positive, min_size=d, max_size=d))
    gamma = draw(st.fractions(min_value=Fraction(1, 9), max_value=1, max_denominator=9).filter(lambda g: g > 0))
    sigma = draw(st.fractions(min_value=0, max_value=1, max_denominator=5))
    p = draw(st.lists(probabilities, min_size=d, max_size=d)) if kind != "rademacher" else [Fraction(1)] * d
    return kind, batch, e, c, gamma, sigma, p


def _laws_and_model(kind, p):
    if kind == "rademacher":
        return [rademacher_law()] * len(p), Rademacher()
    if kind == "sparse_gaussian":   # Bernoulli(p) mask x Gaussian-moment five-point law: kappa = 3/p
        return [sparse_law(pi) for pi in p], SparseGaussian([float(pi) for pi in p])
    # sparse Bernoulli: Bernoulli(p) mask x Rademacher sign, z in {0, +-1}: kappa = 1/p
    return [sparse_law(pi, rademacher_law()) for pi in p], IndependentCoordinates([float(1 / pi) for pi in p])


def _check(setup, perturb=Fraction(0)):
    kind, batch, e, c, gamma, sigma, p = setup
    laws, model = _laws_and_model(kind, p)
    noise = [(sigma, Fraction(1, 2)), (-sigma, Fraction(1, 2))] if sigma else None
    mean, second = one_step_moments(e, c, laws, gamma, batch, noise)
    # the model's moment rules, exactly: lambda_i = c_i^2 E z_i^2, kappa_i = E z^4 / (E z^2)^2
    lam = [ci**2 * law_moment(law, 2) for ci, law in zip(c, laws)]
    kappa = [law_moment(law, 4) / law_moment(law, 2) ** 2 for law in laws]
    expected_kappa = {"rademacher": [Fraction(1)] * len(p), "sparse_gaussian": [3 / pi for pi in p],
                      "sparse_bernoulli": [1 / pi for pi in p]}[kind]
    assert kappa == expected_kappa
    # the model's float kurtosis (3.0 / p) agrees with the exact one up to float rounding of 3/p
    np.testing.assert_allclose(model.kurtosis_values(len(p)), [float(k) for k in kappa], rtol=1e-15)
    assert all(law_moment(law, 1) == 0 and law_moment(law, 3) == 0 for law in laws)
    rec = derive(SGD(), model)
    m, mu = derived_one_step(rec, lam, [k + perturb for k in kappa], batch, sigma**2, gamma, e)
    assert all(v.is_Rational for v in m + mu)  # exact arithmetic end to end
    exact_m = [_q(second[i][i]) for i in range(len(e))]
    return m == exact_m and mu == [_q(x) for x in mean]


@pytest.mark.parametrize("kind", ["rademacher", "sparse_bernoulli", "sparse_gaussian"])
def test_enumeration_equals_derived_recursion_exactly(kind):
    @given(setups(kind))
    def inner(setup):
        assert _check(setup)
    inner()


def test_planted_kurtosis_error_is_caught():
    setup = ("sparse_bernoulli", 2, [Fraction(1), Fraction(-1, 2)], [Fraction(1), Fraction(3, 2)],
             Fraction(1, 5), Fraction(1, 2), [Fraction(1, 3), Fraction(1, 2)])
    assert _check(setup)
    assert not _check(setup, perturb=Fraction(1, 1000))


def test_gaussian_recursion_is_not_the_rademacher_one():
    # the oracle has power: kappa = 3 (Gaussian moment rules) differs from the Rademacher support
    setup = ("rademacher", 1, [Fraction(1), Fraction(2)], [Fraction(1), Fraction(1)], Fraction(1, 4),
             Fraction(0), [Fraction(1)] * 2)
    assert not _check(setup, perturb=Fraction(2))


def test_law_validation():
    with pytest.raises(ValueError, match=r"p must lie in \(0, 1\]"):
        sparse_law(Fraction(0))
    assert law_moment(gaussian_moment_law(), 4) == 3 and law_moment(gaussian_moment_law(), 2) == 1
