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


# ----------------------------------------------------------------------------- empirical distribution
def _evaluate_matrix_recursion(expr, mats, F, C):
    """Evaluate a derived non-commutative expression with exact SymPy matrices."""
    from theory import empirical as emp
    total = None
    for term in sp.Add.make_args(sp.expand(expr)):
        comm, nc = term.args_cnc()
        value = sp.Mul(*comm)
        prod = None
        for f in nc:
            if isinstance(f, sp.Function):
                m = F if f.func == emp.F else C
            else:
                m = mats[f.name]
            prod = m if prod is None else prod * m
        value = prod * value
        total = value if total is None else total + value
    return total


def _empirical_case(errors, gamma, batch, sigma, scales, drop_C=False):
    """Rows: every sign vector of {-1, 1}^3 scaled by c (uniform, E x = 0); residual
    epsilon = x1 x2 x3 / (c1 c2 c3) (uncorrelated with x, not independent of it:
    E[epsilon x_i x_j x_k] != 0); label noise xi = +-sigma. Returns the derived (mu, M) recursion
    evaluated with the exact moment operators of these rows, and the enumeration over every
    batch of rows and noise signs, as exact SymPy matrices."""
    from itertools import product as iproduct

    from theory import SGD
    from theory.empirical import _derive_matrix
    c = [_q(ci) for ci in scales]
    rows = [sp.Matrix([c[i] * s[i] for i in range(3)]) for s in iproduct((-1, 1), repeat=3)]
    eps = [sp.Integer(s[0] * s[1] * s[2]) for s in iproduct((-1, 1), repeat=3)]
    n = len(rows)
    es = [sp.Matrix([_q(v) for v in e]) for e in errors]
    mu = sum(es, sp.zeros(3, 1)) / len(es)
    M = sum((e * e.T for e in es), sp.zeros(3, 3)) / len(es)
    K = sum((x * x.T for x in rows), sp.zeros(3, 3)) / n
    N = sum((ep**2 * x * x.T for x, ep in zip(rows, eps)), sp.zeros(3, 3)) / n
    Fm = sum(((x.T * M * x)[0] * x * x.T for x in rows), sp.zeros(3, 3)) / n
    Cm = sum((ep * (x.T * mu)[0] * x * x.T for x, ep in zip(rows, eps)), sp.zeros(3, 3)) / n
    if drop_C:
        Cm = sp.zeros(3, 3)
    g, sig = _q(gamma), _q(sigma)
    mean_expr, second_expr, _ = _derive_matrix(SGD())
    sub = {sym.gamma: g, sym.B: batch, sym.sigma2: sig**2}
    mats = {"K": K, "M": M, "N": N, "mu": mu, "mu^T": mu.T}
    derived = (_evaluate_matrix_recursion(mean_expr.subs(sub), mats, Fm, Cm),
               _evaluate_matrix_recursion(second_expr.subs(sub), mats, Fm, Cm))
    enum_M, enum_mu, count = sp.zeros(3, 3), sp.zeros(3, 1), 0
    for e in es:
        for picks in iproduct(range(n), repeat=batch):
            for signs in iproduct((-1, 1), repeat=batch):
                grad = sum((rows[r] * ((rows[r].T * e)[0] - eps[r] - s * sig) for r, s in zip(picks, signs)),
                           sp.zeros(3, 1)) / batch
                new = e - g * grad
                enum_M += new * new.T
                enum_mu += new
                count += 1
    return derived, (enum_mu / count, enum_M / count)


@given(st.lists(st.lists(rationals, min_size=3, max_size=3), min_size=1, max_size=3),
       st.fractions(min_value=Fraction(1, 9), max_value=1, max_denominator=9),
       st.integers(1, 2), st.fractions(min_value=0, max_value=1, max_denominator=4),
       st.lists(positive, min_size=3, max_size=3))
def test_empirical_full_recursion_equals_enumeration_exactly(errors, gamma, batch, sigma, scales):
    """The derived full (mu, M) recursion of derive_empirical equals exact enumeration, entry by
    entry (off-diagonals included), with a residual correlated with x."""
    derived, enumerated = _empirical_case(errors, gamma, batch, sigma, scales)
    assert derived[0] == enumerated[0]
    assert derived[1] == enumerated[1]


def test_empirical_oracle_catches_a_missing_residual_term():
    case = ([[1, Fraction(1, 2), -1]], Fraction(1, 3), 1, Fraction(1, 2), [1, 1, 1])
    derived, enumerated = _empirical_case(*case)
    assert derived[1] == enumerated[1]
    wrong, _ = _empirical_case(*case, drop_C=True)
    assert wrong[1] != enumerated[1]
