"""The fourth-moment (even-sector) recursion of SGD against independent oracles.

1. exact rational enumeration of the support of discrete data (Rademacher, the three-point
   law of IndependentCoordinates) in fractions.Fraction: equality, no tolerance;
2. Gaussian data: Isserlis/Wick over all pairings of the 8-fold product, float tolerance;
3. the critical learning rate against dense eigenvalues (Hypothesis);
4. a calibrated Monte Carlo test with a planted 3% error that must be caught;
5. one-dimensional values computed by hand.
"""
import math
from fractions import Fraction
from itertools import product

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from theory import (SGD, DataModel, EmpiricalDistribution, Gaussian, GeneralizedMomentum, IndependentCoordinates,
                    Rademacher, SparseGaussian, derive, derive_fourth)
from theory import symbols as sym
from theory.fourth import DIAGONAL_TERMS, PAIR_TERMS, batch_gradient_moments
from theory.fourth.derivation import kappa_j, lam_j, mu6_j, mu8_j
from verify.exact import gaussian_moment_law, law_moment, one_step_even_moments, rademacher_law, sparse_law


def _q(f):
    return sp.Rational(f.numerator, f.denominator)


# ---------------------------------------------------------------------------- the derived map, exactly
def derived_even_sector(rec, lam, kappa, mu6, mu8, batch, sigma2, gamma, e):
    """Q'_ij of the derived map at the point mass e (Q = e^2 e^2^T, m = e^2), in SymPy rationals."""
    lam, kappa, mu6, mu8 = ([_q(x) for x in v] for v in (lam, kappa, mu6, mu8))
    y = [_q(x) ** 2 for x in e]
    d = len(y)
    S = sum(li * yi for li, yi in zip(lam, y))
    V = sum((k - 3) * li**2 * yi**2 for k, li, yi in zip(kappa, lam, y))
    common = {sym.B: batch, sym.sigma2: _q(sigma2), sym.gamma: _q(gamma)}
    out = [[None] * d for _ in range(d)]
    for i in range(d):
        for j in range(d):
            sub = {**common, sym.lam: lam[i], sym.kappa: kappa[i], sym.mu6: mu6[i], sym.mu8: mu8[i],
                   lam_j: lam[j], kappa_j: kappa[j], mu6_j: mu6[j], mu8_j: mu8[j]}
            if i == j:
                state = dict(zip(DIAGONAL_TERMS, (y[i] ** 2, y[i] * S, S**2, V, y[i], S)))
                coeffs = rec.diagonal
            else:
                state = dict(zip(PAIR_TERMS, (y[i] * y[j], y[i] ** 2, y[j] ** 2, y[i] * S, y[j] * S, S**2, V,
                                              y[i], y[j], S)))
                coeffs = rec.pair
            out[i][j] = sp.expand(sum(c.xreplace(sub) * (1 if t == 1 else state[t]) for t, c in coeffs.items()))
    return out


rationals = st.fractions(min_value=-2, max_value=2, max_denominator=5)
positive = st.fractions(min_value=Fraction(1, 5), max_value=2, max_denominator=5)
probabilities = st.fractions(min_value=Fraction(1, 5), max_value=1, max_denominator=5).filter(lambda p: p > 0)


@st.composite
def discrete_setups(draw, kind):
    batch = draw(st.integers(1, 2))
    d = draw(st.integers(1, 3 if batch == 1 or kind == "rademacher" else 2))
    e = draw(st.lists(rationals, min_size=d, max_size=d))
    c = draw(st.lists(positive, min_size=d, max_size=d))
    gamma = draw(st.fractions(min_value=Fraction(1, 9), max_value=1, max_denominator=9).filter(lambda g: g > 0))
    sigma = draw(st.sampled_from([Fraction(0), Fraction(1, 2), Fraction(1)]))
    p = draw(st.lists(probabilities, min_size=d, max_size=d)) if kind == "three_point" else [Fraction(1)] * d
    return kind, batch, e, c, gamma, sigma, p


def _exact_check(setup, perturb_mu6=Fraction(0)):
    kind, batch, e, c, gamma, sigma, p = setup
    if kind == "rademacher":
        laws, model = [rademacher_law()] * len(e), Rademacher()
    else:   # z in {0, +-1}, P(z != 0) = p: the symmetric three-point law with kappa = 1/p
        laws, model = [sparse_law(pi, rademacher_law()) for pi in p], IndependentCoordinates([float(1 / pi) for pi in p])
    # Gaussian label noise needs E eps^2 = sigma^2 and E eps^4 = 3 sigma^4: sigma times the five-point law
    noise = [(sigma * v, q) for v, q in gaussian_moment_law()] if sigma else None
    exact = one_step_even_moments(e, c, laws, gamma, batch, noise)
    # moments of the standardised coordinate, exactly, from the enumerated law
    m2 = [law_moment(law, 2) for law in laws]
    lam = [ci**2 * v for ci, v in zip(c, m2)]
    kappa, mu6, mu8 = ([law_moment(law, n) / v ** (n // 2) for law, v in zip(laws, m2)] for n in (4, 6, 8))
    # the model's declared rules (three-point law: kappa^2, kappa^3) agree with the enumerated law
    vals = model.even_moment_values(len(e))
    for s, exact_vals in ((sym.kappa, kappa), (sym.mu6, mu6), (sym.mu8, mu8)):
        np.testing.assert_allclose(vals[s], [float(v) for v in exact_vals], rtol=1e-14)
    rec = derive_fourth(SGD(), model)
    got = derived_even_sector(rec, lam, kappa, [m + perturb_mu6 for m in mu6], mu8, batch, sigma**2, gamma, e)
    return all(got[i][j] == _q(exact[i][j]) for i in range(len(e)) for j in range(len(e)))


@pytest.mark.parametrize("kind", ["rademacher", "three_point"])
def test_enumeration_equals_derived_even_sector_exactly(kind):
    @given(discrete_setups(kind))
    def inner(setup):
        assert _exact_check(setup)
    inner()


def test_planted_sixth_moment_error_is_caught_exactly():
    setup = ("three_point", 2, [Fraction(1), Fraction(-1, 2)], [Fraction(1), Fraction(3, 2)],
             Fraction(1, 5), Fraction(1, 2), [Fraction(1, 3), Fraction(1, 2)])
    assert _exact_check(setup)
    assert not _exact_check(setup, perturb_mu6=Fraction(1, 1000))


# ---------------------------------------------------------------------------- Gaussian: Isserlis
def _hafnian(G):
    """Sum over perfect matchings of prod G[a, b] (Isserlis' theorem for E of a product of forms)."""
    n = G.shape[0]
    if n == 0:
        return 1.0
    rest = list(range(1, n))
    total = 0.0
    for pos, k in enumerate(rest):
        if G[0, k] != 0.0:
            keep = rest[:pos] + rest[pos + 1:]
            total += G[0, k] * _hafnian(G[np.ix_(keep, keep)])
    return total


def wick_even_sector(lam, e, gamma, batch, sigma2):
    """E[e'_i^2 e'_j^2 | e] for x ~ N(0, diag(lam)), eps ~ N(0, sigma2), B samples, by Isserlis.

    e'_i = e_i - (gamma/B) sum_b <f_{b,i}, xi> <r_b, xi> with xi = (x_1, eps_1, ..., x_B, eps_B)
    Gaussian; expand the 4 factors, each monomial is a product of up to 8 linear forms.
    """
    d = len(lam)
    var = np.tile(np.r_[lam, sigma2], batch)
    n = (d + 1) * batch

    def x_form(b, i):
        v = np.zeros(n)
        v[b * (d + 1) + i] = 1.0
        return v

    def r_form(b):
        v = np.zeros(n)
        v[b * (d + 1):b * (d + 1) + d] = e
        v[b * (d + 1) + d] = -1.0
        return v

    out = np.zeros((d, d))
    for i in range(d):
        for j in range(i, d):
            total = 0.0
            for choice in product(range(-1, batch), repeat=4):   # -1: the constant part e_f
                coef, forms = 1.0, []
                for f, b in zip((i, i, j, j), choice):
                    if b < 0:
                        coef *= e[f]
                    else:
                        coef *= -gamma / batch
                        forms += [x_form(b, f), r_form(b)]
                if coef != 0.0:
                    F = np.array(forms).reshape(-1, n)
                    total += coef * _hafnian((F * var) @ F.T)
            out[i, j] = out[j, i] = total
    return out


@pytest.mark.parametrize("d, batch", [(2, 1), (2, 2), (3, 1), (3, 2)])
def test_gaussian_even_sector_equals_isserlis(d, batch):
    rng = np.random.default_rng(20260 + 10 * d + batch)
    rec = derive_fourth(SGD(), Gaussian())
    for _ in range(2):
        lam = rng.uniform(0.2, 1.5, d)
        e = rng.normal(size=d)
        gamma, sigma2 = rng.uniform(0.1, 0.6), rng.uniform(0.0, 1.0)
        y = e**2
        got = rec.linear_map(lam, gamma, batch, sigma2).apply(np.outer(y, y), y)
        np.testing.assert_allclose(got, wick_even_sector(lam, e, gamma, batch, sigma2), rtol=1e-11, atol=1e-13)


# ---------------------------------------------------------------------------- critical learning rate
@st.composite
def spectra(draw):
    d = draw(st.integers(1, 6))
    repeated = draw(st.booleans())
    if repeated:   # values from a pool of at most 2: identical directions (classes) are likely
        pool = draw(st.lists(st.floats(0.05, 1.0), min_size=1, max_size=2))
        lam = [draw(st.sampled_from(pool)) for _ in range(d)]
    else:
        lam = draw(st.lists(st.floats(0.05, 1.0), min_size=d, max_size=d, unique=True))
    kind = draw(st.sampled_from(["gaussian", "kurtosis", "sparse", "rademacher"]))
    if kind == "gaussian":
        data = Gaussian()
    elif kind == "rademacher":
        data = Rademacher()
    else:   # per direction, tied to the eigenvalue so that repeated eigenvalues stay identical directions
        table = dict(zip(sorted(set(lam)), draw(st.lists(st.floats(1.0, 8.0) if kind == "kurtosis"
                                                          else st.floats(0.2, 1.0), min_size=6, max_size=6))))
        vals = [table[x] for x in lam]
        data = IndependentCoordinates(vals) if kind == "kurtosis" else SparseGaussian(vals)
    return np.array(lam), draw(st.integers(1, 3)), data


@given(spectra())
def test_critical_learning_rate_matches_dense_spectral_radius(problem):
    lam, batch, data = problem
    rec = derive_fourth(SGD(), data)
    g4 = rec.critical_learning_rate(lam, batch=batch)

    def rho(g):   # independent route: numpy eigenvalues of the dense operator on d(d+1)/2 coordinates
        return np.max(np.abs(np.linalg.eigvals(rec.dense_operator(lam, g, batch))))

    assert rho(0.999 * g4) < 1 < rho(1.001 * g4)
    # the class-reduced operator plus its complement has the dense operator's spectrum
    for g in (0.5 * g4, 1.001 * g4):
        assert rec.spectral_radius(lam, g, batch) == pytest.approx(rho(g), rel=1e-9)
    gc = derive(SGD(), data).critical_learning_rate(lam, batch=batch)
    assert g4 <= gc * (1 + 1e-9)   # Jensen: Q_ii >= m_i^2
    if isinstance(data, (Gaussian, SparseGaussian)):   # continuous laws: strictly below
        assert g4 < gc * (1 - 1e-6)


def test_complement_spectrum_is_the_dense_spectrum():
    lam = np.array([0.8] * 4 + [0.3] * 2 + [0.1])
    rec = derive_fourth(SGD(), IndependentCoordinates([2.0] * 4 + [5.0] * 2 + [1.0]))
    g = 0.8 * rec.critical_learning_rate(lam, batch=2)
    dense = np.sort_complex(np.linalg.eigvals(rec.dense_operator(lam, g, 2)))
    cm = rec._class_map(lam, g, 2)
    assert cm.classes == 3 and cm.reduced_dense().shape == (8, 8)   # 3 D_c + 3 O_cd (c < d) + 2 within-class O_cc
    reduced = np.sort_complex(cm.eigenvalues())
    assert len(reduced) == 28
    np.testing.assert_allclose(reduced.real, dense.real, atol=1e-9)


def test_fourth_moment_crossing_can_coincide_with_gamma_c():
    # Rademacher, B = 1, d = 2: at gamma_c = 2/(lambda_1 + lambda_2) the Perron combination e_1^2 + e_2^2
    # evolves deterministically, so both crossings coincide (and gamma = 1 is a pole of the factorisation)
    rec, rec2 = derive_fourth(SGD(), Rademacher()), derive(SGD(), Rademacher())
    for lam in ([1.0, 0.875], [1.0, 0.5]):
        assert rec.critical_learning_rate(lam) == pytest.approx(rec2.critical_learning_rate(lam), rel=1e-12)
    # d = 1: e' = (1 - g) e exactly, gamma_c^(4) = gamma_c = 2/lambda
    assert rec.critical_learning_rate([0.5]) == pytest.approx(4.0, rel=1e-12)


def test_identical_directions_merge_continuously():
    lam = np.array([1.0, 1.0, 1.0, 0.2, 0.2])
    rec = derive_fourth()
    merged = rec.critical_learning_rate(lam, batch=2)
    split = rec.critical_learning_rate(lam * (1 + 1e-9 * np.arange(5)), batch=2)
    assert merged == pytest.approx(split, rel=1e-7)


def test_two_class_spectrum_costs_as_little_as_two_directions():
    import time
    lam = np.r_[np.ones(64), 0.1 * np.ones(64)]
    rec = derive_fourth()
    start = time.perf_counter()
    g4 = rec.critical_learning_rate(lam, batch=1)
    assert time.perf_counter() - start < 5.0
    assert rec.spectral_radius(lam, 0.999 * g4) < 1 < rec.spectral_radius(lam, 1.001 * g4)
    assert g4 < derive().critical_learning_rate(lam)


def test_issue_values_power_law_spectra():
    rec, rec2 = derive_fourth(), derive()
    lam = 1.0 / np.arange(1, 17)
    assert rec2.critical_learning_rate(lam, batch=2) == pytest.approx(0.7718, abs=1e-4)
    ratio = rec.critical_learning_rate(lam, batch=2) / rec2.critical_learning_rate(lam, batch=2)
    assert ratio == pytest.approx(0.7692, abs=1e-4)     # "the fourth moments diverge above ~0.77 gamma_c"
    lam = 1.0 / np.arange(1, 9)
    ratio = rec.critical_learning_rate(lam) / rec2.critical_learning_rate(lam)
    assert ratio == pytest.approx(0.7258, abs=1e-4)     # "~0.72 gamma_c"


# ---------------------------------------------------------------------------- known values, d = 1
g = sp.Symbol("g", positive=True)


def _scalar_factor(rec, batch, moments=None):
    """Q' / Q for d = 1, sigma = 0, lambda = 1, as a polynomial in g = gamma lambda."""
    y = sp.Symbol("y", positive=True)
    moments = moments or {}
    lam = {sym.lam: 1, sym.gamma: g, sym.B: batch, **moments}
    kappa = moments.get(sym.kappa, 3)
    state = dict(zip(DIAGONAL_TERMS, (y**2, y**2, y**2, (kappa - 3) * y**2, y, y)))
    expr = sum(c.subs(lam).subs(sym.sigma2, 0) * (1 if t == 1 else state[t]) for t, c in rec.diagonal.items())
    return sp.expand(sp.simplify(expr / y**2))


def test_one_dimension_gaussian_by_hand():
    # e' = (1 - g z^2) e, E z^{2n} = (2n-1)!!: E(1 - g z^2)^4 = 1 - 4g + 18g^2 - 60g^3 + 105g^4
    rec = derive_fourth(SGD(), Gaussian())
    assert _scalar_factor(rec, 1) == 1 - 4 * g + 18 * g**2 - 60 * g**3 + 105 * g**4
    # B = 2: e' = (1 - (g/2)(z1^2 + z2^2)) e, E (z1^2 + z2^2)^n = 2^n n!: 1 - 4g + 12g^2 - 24g^3 + 24g^4
    assert _scalar_factor(rec, 2) == 1 - 4 * g + 12 * g**2 - 24 * g**3 + 24 * g**4
    # gamma_c^(4) lambda is the positive root of E(1 - g z^2)^4 = 1, i.e. 105 g^3 - 60 g^2 + 18 g - 4 = 0
    got = rec.critical_learning_rate([2.0], batch=1, dps=30)
    with mpmath.workdps(40):
        root = mpmath.findroot(lambda x: 105 * x**3 - 60 * x**2 + 18 * x - 4, 0.38)
        assert abs(2 * got - root) < mpmath.mpf(10) ** -28


def test_one_dimension_three_point_law_by_hand():
    # z in {0, +-sqrt(kappa)}, P(z != 0) = 1/kappa: E z^{2n} = kappa^{n-1}
    kappa = sp.Symbol("kappa_i", positive=True)
    rec = derive_fourth(SGD(), IndependentCoordinates(4.0))
    oracle = 1 - 4 * g + 6 * kappa * g**2 - 4 * kappa**2 * g**3 + kappa**3 * g**4
    got = _scalar_factor(rec, 1, {sym.kappa: kappa, sym.mu6: kappa**2, sym.mu8: kappa**3})
    assert sp.expand(got - oracle) == 0


def test_generic_moment_rules_reduce_to_the_gaussian_derivation():
    # SparseGaussian(p = 1) is Gaussian: the generic derivation in (kappa, mu6, mu8) at (3, 15, 105)
    # must give the map of the separate Gaussian derivation (Isserlis numbers substituted up front)
    lam, gamma, batch, s2 = np.array([1.0, 0.3, 0.05]), 0.3, 3, 0.4
    generic = derive_fourth(SGD(), SparseGaussian(1.0)).linear_map(lam, gamma, batch, s2)
    gauss = derive_fourth(SGD(), Gaussian()).linear_map(lam, gamma, batch, s2)
    for name, arr in gauss.coef.items():
        if name not in ("v", "nu"):   # the V coupling carries kappa - 3 = 0 for Gaussian data
            np.testing.assert_allclose(generic.coef[name], arr, rtol=1e-13, atol=1e-16, err_msg=name)
    rng = np.random.default_rng(5)
    A = rng.uniform(0, 1, (3, 3))
    Q, m = A @ A.T, rng.uniform(0, 1, 3)
    np.testing.assert_allclose(generic.apply(Q, m), gauss.apply(Q, m), rtol=1e-13)
    # and the sparse Gaussian moment rules are those of z = b g / sqrt(p)
    vals = SparseGaussian(0.25).even_moment_values(2)
    np.testing.assert_allclose([vals[sym.kappa][0], vals[sym.mu6][0], vals[sym.mu8][0]], [12.0, 240.0, 6720.0])


def test_fourth_moments_dominate_squared_second_moments():
    lam = 1.0 / np.arange(1, 6)
    rec = derive_fourth(SGD(), IndependentCoordinates([1.0, 2.0, 3.0, 5.0, 9.0]))
    tr = rec.trajectory(lam, 0.3, batch=2, noise_variance=0.5, initial=np.linspace(-1, 2, 5), steps=30)
    assert np.all(tr.second_moment_variance >= -1e-12) and np.all(tr.risk_variance >= -1e-12)
    second = derive(SGD(), IndependentCoordinates([1.0, 2.0, 3.0, 5.0, 9.0])).trajectory(
        lam, 0.3, batch=2, noise_variance=0.5, initial=np.linspace(-1, 2, 5), steps=30)
    np.testing.assert_allclose(tr.second_moments, second.second_moments, rtol=1e-13)
    np.testing.assert_allclose(tr.risk, second.risk, rtol=1e-13)


def test_batch_gradient_moments_gaussian_pair():
    m = batch_gradient_moments(Gaussian())
    e_i, e_j = sp.symbols("e_i e_j", real=True)
    S_e = sp.Symbol("S_e", nonnegative=True)
    B, lam = sym.B, sym.lam
    # E g_i^2 = (lambda_i (S + sigma^2) + 2 lambda_i^2 e_i^2)/B + (1 - 1/B) lambda_i^2 e_i^2 (Isserlis)
    oracle = (lam * (S_e + sym.sigma2) + 2 * lam**2 * e_i**2) / B + (1 - 1 / B) * lam**2 * e_i**2
    assert sp.simplify(m[(2, 0)] - oracle) == 0
    assert sp.simplify(m[(0, 1)] - lam_j * e_j) == 0


def test_second_moment_derivation_unchanged():
    # the data models' new even-moment rules do not touch the second-moment recursion
    rec = derive(SGD(), IndependentCoordinates(5.0))
    oracle = (1 - 2 * sym.gamma * sym.lam + sym.gamma**2 * sym.lam**2 * (1 + (sym.kappa - 2) / sym.B)) * sym.m
    assert sp.simplify((rec.A * sp.Matrix(rec.moments))[0] - oracle) == 0


# ---------------------------------------------------------------------------- time averages
def test_time_average_covariance_equals_double_sum():
    lam = np.array([1.0, 0.4, 0.1])
    gamma, batch, s2, e0 = 0.4, 2, 0.3, np.array([1.0, -2.0, 0.5])
    data = IndependentCoordinates([2.0, 1.0, 6.0])
    rec = derive_fourth(SGD(), data)
    edges = [1, 2, 4, 8, 15]
    tac = rec.time_average_covariance(lam, gamma, edges, batch, s2, e0)
    tr = rec.trajectory(lam, gamma, batch, s2, e0, steps=14, full=True)
    L = derive(SGD(), data).linear_map(lam, gamma, batch, s2).transition_matrix()
    Sigma = tr.Q - np.einsum("ki,kj->kij", tr.second_moments, tr.second_moments)

    def cov_e2(k, l):   # Cov(e_k^2, e_l^2), matrix
        return np.linalg.matrix_power(L, l - k) @ Sigma[k] if k <= l else cov_e2(l, k).T

    n = len(edges) - 1
    want = np.zeros((n, n))
    coord = np.zeros((n, 3))
    for a in range(n):
        for b in range(n):
            I, J = range(edges[a], edges[a + 1]), range(edges[b], edges[b + 1])
            want[a, b] = sum(lam @ cov_e2(k, l) @ lam for k in I for l in J) / (4 * len(I) * len(J))
        I = range(edges[a], edges[a + 1])
        coord[a] = sum(np.diagonal(cov_e2(k, l)) for k in I for l in I) / len(I) ** 2
    np.testing.assert_allclose(tac.risk_covariance, want, rtol=1e-10)
    np.testing.assert_allclose(tac.second_moment_variance, coord, rtol=1e-10)
    np.testing.assert_allclose(np.diagonal(tac.risk_covariance)[:1], tr.risk_variance[1:2], rtol=1e-12)
    np.testing.assert_allclose(tac.risk_mean[-1], tr.risk[8:15].mean(), rtol=1e-12)


# ---------------------------------------------------------------------------- Monte Carlo
def _simulate(lam, gamma, batch, sigma2, e0, steps, replicas, rng):
    """Plain minibatch SGD on Gaussian least squares, every replica independent: e_k, shape (steps+1, R, d)."""
    d = len(lam)
    e = np.tile(e0, (replicas, 1))
    out = np.empty((steps + 1, replicas, d))
    out[0] = e
    for k in range(steps):
        x = rng.standard_normal((replicas, batch, d)) * np.sqrt(lam)
        eps = rng.standard_normal((replicas, batch)) * np.sqrt(sigma2)
        residual = np.einsum("rbd,rd->rb", x, e) - eps
        e = e - gamma / batch * np.einsum("rbd,rb->rd", x, residual)
        out[k + 1] = e
    return out


MC_ALPHA = 1e-6   # family-wise false-failure probability of the Monte Carlo test (Bonferroni)


def _mc_p_value(E, lam, sigma2, edges, times, theory_traj, theory_tac, groups):
    """Smallest Bonferroni-adjusted p-value over all compared quantities.

    Replicas are split into ``groups`` independent groups; in each group unbiased estimates
    are formed (means of e^4, sample variances/covariances with ddof = 1); the group estimates
    are i.i.d. with mean the exact value, so (mean - theory)/(sd/sqrt(G)) is Student t with
    G - 1 degrees of freedom (group means of 5000 replicas: normal to a good approximation).
    """
    e2 = E**2
    risk = 0.5 * (e2 @ lam + sigma2)                      # (steps + 1, R)
    blocks = np.array([risk[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])])
    blocks_e2 = np.array([e2[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])])   # (n, R, d)
    split = lambda arr, axis: np.array_split(arr, groups, axis=axis)   # noqa: E731
    est, want = [], []
    for k in times:
        est.append([np.mean(g**2, axis=0) for g in split(e2[k], 0)])           # E e_{k,i}^4
        want.append(theory_traj.fourth_moments[k])
        est.append([[np.var(g, ddof=1)] for g in split(risk[k], 0)])          # Var R_k
        want.append([theory_traj.risk_variance[k]])
    iu = np.triu_indices(len(edges) - 1)
    est.append([np.cov(g, ddof=1)[iu] for g in split(blocks, 1)])             # Cov of block-averaged risks
    want.append(theory_tac.risk_covariance[iu])
    est.append([np.var(g, axis=1, ddof=1).ravel() for g in split(blocks_e2, 1)])  # Var of block-averaged e_i^2
    want.append(theory_tac.second_moment_variance.ravel())
    est = np.concatenate([np.asarray(x, dtype=float) for x in est], axis=1)    # (groups, n_quantities)
    want = np.concatenate([np.ravel(w) for w in want])
    t = (est.mean(axis=0) - want) / (est.std(axis=0, ddof=1) / math.sqrt(groups))
    p = 2 * stats.t.sf(np.abs(t), df=groups - 1)
    return min(1.0, float(p.min()) * len(p)), len(p)


def test_monte_carlo_agrees_and_catches_a_planted_three_percent_error():
    lam, batch, sigma2 = np.array([1.0, 0.5, 0.2]), 2, 0.25
    e0 = np.array([1.0, -1.0, 1.5])
    rec = derive_fourth(SGD(), Gaussian())
    gamma = 0.5 * rec.critical_learning_rate(lam, batch=batch)
    steps, edges, times = 6, np.array([1, 2, 4, 7]), (2, 4, 6)
    seed = np.random.SeedSequence(20260514)
    E = _simulate(lam, gamma, batch, sigma2, e0, steps, replicas=200_000, rng=np.random.default_rng(seed))
    exact = rec.linear_map(lam, gamma, batch, sigma2)
    traj = exact.trajectory(e0**2, steps)
    tac = exact.time_average_covariance(e0**2, edges)
    p, n = _mc_p_value(E, lam, sigma2, edges, times, traj, tac, groups=40)
    assert n == 27
    assert p >= MC_ALPHA, f"Monte Carlo disagrees with the derived even sector (adjusted p = {p:.2g}, seed {seed.entropy})"
    # power: a 3% error in one coefficient must be detected -- alpha_i (Q_ii in Q'_ii), pi_i (T_i in
    # Q'_ii) or a_ij (Q_ij in Q'_ij); over seeds 0..4 the adjusted p-values were <= 1e-66, 1e-12, 1e-30
    for name in ("alpha", "pi", "a"):
        planted = rec.linear_map(lam, gamma, batch, sigma2)
        planted.coef[name] = planted.coef[name] * 1.03
        p_planted, _ = _mc_p_value(E, lam, sigma2, edges, times, planted.trajectory(e0**2, steps),
                                   planted.time_average_covariance(e0**2, edges), groups=40)
        assert p_planted < MC_ALPHA, name


# ---------------------------------------------------------------------------- errors, LaTeX, API
def test_refuses_other_algorithms_and_dependent_data():
    with pytest.raises(NotImplementedError, match=r"SGD, HeavyBall and Nesterov so far"):
        derive_fourth(GeneralizedMomentum())
    data = EmpiricalDistribution([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    with pytest.raises(ValueError, match=r"data must have independent coordinates with a symmetric law"):
        derive_fourth(SGD(), data)

    class NoHigherMoments(DataModel):
        def standardized_moment(self, n):
            return sp.Integer(1)

    with pytest.raises(ValueError, match=r"data must have independent coordinates.*E z\^6"):
        derive_fourth(SGD(), NoHigherMoments())
    with pytest.raises(ValueError, match=r"moment order n must be one of 0, 2, 4, 6, 8"):
        Gaussian().even_moment(3)


@pytest.mark.parametrize("call, match", [
    (lambda r: r.trajectory([1.0], 0.0, steps=2), r"learning_rate must be finite and > 0"),
    (lambda r: r.trajectory([1.0], 0.1, batch=0, steps=2), r"batch must be an integer >= 1"),
    (lambda r: r.trajectory([1.0], 0.1, steps=0), r"steps must be an integer >= 1"),
    (lambda r: r.trajectory([1.0, -1.0], 0.1), r"eigenvalues.*> 0"),
    (lambda r: r.trajectory([1.0], 0.1, noise_variance=-1.0), r"noise_variance must be finite and >= 0"),
    (lambda r: r.critical_learning_rate([1.0], dps=0), r"dps must be an integer >= 1"),
    (lambda r: r.time_average_covariance([1.0], 0.1, edges=[3, 2]), r"edges must be strictly increasing"),
    (lambda r: r.time_average_covariance([1.0], 0.1, edges=[1]), r"edges must be a 1-D sequence of at least 2"),
    (lambda r: r.time_average_covariance([1.0], 0.1, edges=[0.5, 2]), r"edges must be integers"),
    (lambda r: r.dense_operator(np.ones(65), 0.01), r"eigenvalues must have at most 64 entries"),
    (lambda r: r.critical_learning_rate(1 / np.arange(1, 42), dps=20), r"dps refinement supports at most 40"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(derive_fourth())


def test_kurtosis_length_mismatch():
    rec = derive_fourth(SGD(), IndependentCoordinates([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"kurtosis has 2 entries but there are 3 eigenvalues"):
        rec.critical_learning_rate([1.0, 1.0, 1.0])


def test_latex_and_update():
    rec = derive_fourth(SGD(), IndependentCoordinates(2.0))
    tex = rec.latex()
    assert tex.startswith("\\begin{align*}") and tex.rstrip().endswith("\\end{align*}")
    for piece in [r"Q_{k+1,ij}", r"Q_{k+1,ii}", r"\mu_{6,i}", r"\mu_{8,i}", r"\kappa_j", r"T_{k,i}", r"U_k",
                  r"V_k", r"\gamma_c^{(4)}", r"\sigma^2"]:
        assert piece in tex
    assert [str(eq.lhs) for eq in rec.update] == ["Q_ij'", "Q_ii'"]
    gauss = derive_fourth().latex()
    assert "V_k" not in gauss.split(r"Q_{k+1,ij}")[1]   # no excess-kurtosis coupling for Gaussian data


def test_derivation_is_cached_per_moment_rules():
    a = derive_fourth(SGD(), IndependentCoordinates(2.0))
    b = derive_fourth(SGD(), SparseGaussian(0.5))
    assert a.pair is b.pair   # same symbolic rules (kappa, mu6, mu8): one derivation
    assert a.critical_learning_rate([1.0, 0.5]) != b.critical_learning_rate([1.0, 0.5])


# ---------------------------------------------------------------------------- merged classes
def _per_direction_time_average_covariance(mp, m0, edges):
    """Oracle: the per-direction computation on d x d matrices (no classes), as before the merge.

    ``mp`` is the per-direction map of ``linear_map`` (all counts 1, the full second-moment map)."""
    from theory.fourth.recursion import TimeAverageCovariance
    lam, s = mp.lam, mp.second
    d = len(lam)
    a2, u2, v2 = s.A[:, 0, 0], s.u[:, 0], s.v[:, 0]
    sigma2, nb = float(s.offset), len(edges) - 1
    block_of, sizes = TimeAverageCovariance.block_index(edges)
    psi, A, diag_sum = np.zeros((nb, d)), np.zeros((nb, nb)), np.zeros(nb)
    Psi, coord_var = np.zeros((d, d)), np.zeros((nb, d))
    risk_mean, m2_mean = np.zeros(nb), np.zeros((nb, d))
    m, Q = m0.astype(float), np.outer(m0, m0)
    for k in range(edges[-1]):
        b = block_of[k]
        if b >= 0:
            Sigma = Q - np.outer(m, m)
            sl = Sigma @ lam
            A[:, b] += psi @ lam
            diag_sum[b] += lam @ sl
            if k == edges[b]:
                Psi[:] = 0.0
            coord_var[b] += 2.0 * np.diagonal(Psi) + np.diagonal(Sigma)
            risk_mean[b] += 0.5 * (lam @ m + sigma2)
            m2_mean[b] += m
            psi[b] += sl
            Psi = Psi + Sigma
            Psi = a2[:, None] * Psi + u2[:, None] * (v2 @ Psi)[None, :]
        psi = psi * a2[None, :] + (psi @ v2)[:, None] * u2[None, :]
        if k + 1 < edges[-1]:
            Q, m = mp.apply(Q, m), s.apply(m[:, None])[:, 0]
    return TimeAverageCovariance.from_sums(edges, sizes, A, diag_sum, risk_mean, m2_mean, coord_var)


MERGED_CASES = [   # (data, eigenvalues, initial): 1-4 classes of directions
    (Gaussian(), [1.0, 1.0, 1.0, 0.5, 0.5], [1.0, -1.0, 1.0, 0.5, -0.5]),
    (IndependentCoordinates([1.0, 6.0, 1.0, 6.0, 6.0, 2.0]), [1.0, 1.0, 1.0, 1.0, 1.0, 0.3], 1.0),
    (IndependentCoordinates([2.0, 2.0, 2.0, 2.0]), [0.8, 0.8, 0.8, 0.8], [1.0, 1.0, 0.5, -1.0]),
    (Gaussian(), [1.0, 0.5, 0.5, 0.5], [0.7, 0.2, 0.2, 0.2]),
    (Gaussian(), [0.6] * 7, 1.0),
]


@pytest.mark.parametrize("data, lam, e0", MERGED_CASES)
def test_merged_classes_equal_the_per_direction_time_average_covariance(data, lam, e0):
    rec = derive_fourth(SGD(), data)
    lam = np.asarray(lam)
    batch, sigma2 = 2, 0.2
    gamma = 0.6 * rec.critical_learning_rate(lam, batch=batch)
    edges = np.array([0, 1, 3, 8, 20, 40])
    got = rec.time_average_covariance(lam, gamma, edges, batch=batch, noise_variance=sigma2, initial=e0)
    mp = rec.linear_map(lam, gamma, batch, sigma2)
    e = np.broadcast_to(np.asarray(e0, float), lam.shape).copy()
    ref = _per_direction_time_average_covariance(mp, e**2, edges)
    for name in ("risk_mean", "risk_covariance", "second_moment_mean", "second_moment_variance"):
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(ref, name))
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)), err_msg=name)
    # the class path is the per-direction one when every direction is its own class
    own = mp.time_average_covariance(e**2, edges)
    for name in ("risk_covariance", "second_moment_variance"):
        b = np.asarray(getattr(ref, name))
        np.testing.assert_allclose(getattr(own, name), b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)))
    # and a planted error in one class coefficient is seen by both routes (the comparison can fail)
    planted = rec.linear_map(lam, gamma, batch, sigma2)
    planted.coef["a"] = planted.coef["a"] * 1.01
    wrong = _per_direction_time_average_covariance(planted, e**2, edges)
    assert np.max(np.abs(wrong.risk_covariance - got.risk_covariance)) > 1e-6 * np.max(np.abs(got.risk_covariance))


def test_merged_classes_match_the_double_sum_on_a_repeated_spectrum():
    """Independent oracle: dense per-direction Q trajectory and explicit double sums, 2 classes of 3."""
    lam = np.array([1.0, 1.0, 1.0, 0.3, 0.3, 0.3])
    gamma, batch, s2 = 0.15, 1, 0.3
    data = IndependentCoordinates([2.0, 2.0, 2.0, 6.0, 6.0, 6.0])
    rec = derive_fourth(SGD(), data)
    edges = [1, 2, 4, 8, 12]
    tac = rec.time_average_covariance(lam, gamma, edges, batch, s2, 1.0)
    tr = rec.trajectory(lam, gamma, batch, s2, 1.0, steps=11, full=True)
    L = derive(SGD(), data).linear_map(lam, gamma, batch, s2).transition_matrix()
    Sigma = tr.Q - np.einsum("ki,kj->kij", tr.second_moments, tr.second_moments)

    def cov_e2(k, l):
        return np.linalg.matrix_power(L, l - k) @ Sigma[k] if k <= l else cov_e2(l, k).T

    n = len(edges) - 1
    want = np.array([[sum(lam @ cov_e2(k, l) @ lam for k in range(edges[a], edges[a + 1])
                          for l in range(edges[b], edges[b + 1]))
                      / (4 * (edges[a + 1] - edges[a]) * (edges[b + 1] - edges[b])) for b in range(n)]
                     for a in range(n)])
    np.testing.assert_allclose(tac.risk_covariance, want, rtol=1e-10)
    assert tac.second_moment_variance.shape == (n, 6)

# ---------------------------------------------------------------------------- below gamma_c^(4) without locating it
@given(spectra())
def test_below_critical_agrees_with_the_root_and_the_stable_set_is_an_interval(problem):
    lam, batch, data = problem
    rec = derive_fourth(SGD(), data)
    g4 = rec.critical_learning_rate(lam, batch=batch)
    for f in (0.05, 0.5, 0.9, 1 - 1e-6, 1 + 1e-6, 1.1, 3.0):
        assert rec.below_critical_learning_rate(lam, f * g4, batch=batch) == (f < 1), f

    def rho(g):   # independent route: the dense operator on d(d+1)/2 coordinates
        return np.max(np.abs(np.linalg.eigvals(rec.dense_operator(lam, g, batch))))

    # the convexity argument of below_critical_learning_rate: stable on (0, g4), unstable at every larger rate
    assert all(rho(f * g4) < 1 for f in np.linspace(0.02, 0.98, 25))
    assert all(rho(f * g4) >= 1 for f in (1.001, 1.05, 1.3, 2.0, 4.0))


@pytest.mark.parametrize("lam, batch, data", [
    (1.0 / np.arange(1, 17), 2, Gaussian()),                              # 136 coordinates: the sign scan
    (np.linspace(0.05, 1.0, 20), 1, IndependentCoordinates(np.linspace(1.0, 9.0, 20))),
    (np.repeat([1.0, 0.3, 0.1], [5, 6, 9]), 3, Rademacher()),
])
def test_below_critical_on_the_sign_scan_route(lam, batch, data):
    rec = derive_fourth(SGD(), data)
    g4 = rec.critical_learning_rate(lam, batch=batch)
    for f in (0.05, 0.4, 1 - 1e-6, 1 + 1e-6, 1.5):
        assert rec.below_critical_learning_rate(lam, f * g4, batch=batch) == (f < 1), f


def test_below_critical_rejects_bad_input():
    rec = derive_fourth(SGD(), Gaussian())
    with pytest.raises(ValueError, match="learning_rate"):
        rec.below_critical_learning_rate([1.0], -0.1)
    with pytest.raises(ValueError, match="eigenvalues"):
        rec.below_critical_learning_rate([1.0, -1.0], 0.1)
    with pytest.raises(ValueError, match="batch"):
        rec.below_critical_learning_rate([1.0], 0.1, batch=0)


def test_compiled_coefficients_from_cached_sources_equal_lambdify():
    """The functions compiled from the disk-cached sources are SymPy's lambdify of the derived coefficients."""
    import mpmath

    from theory.fourth import derivation as f
    from theory.fourth.linear import _diag_keys, _pair_keys, compile_coefficients
    rec = derive_fourth(SGD(), IndependentCoordinates(4.0))
    compiled = compile_coefficients(rec)
    rng = np.random.default_rng(0)
    pair = [rng.uniform(0.1, 1, 3), rng.uniform(0.1, 1, 3), 4.0, 5.0, 30.0, 40.0, 400.0, 500.0, 2.0, 0.3]
    diag = [rng.uniform(0.1, 1, 3), 4.0, 30.0, 400.0, 2.0, 0.3]
    pair_args = [sym.lam, f.lam_j, sym.kappa, f.kappa_j, sym.mu6, f.mu6_j, sym.mu8, f.mu8_j, sym.B, sym.sigma2]
    diag_args = [sym.lam, sym.kappa, sym.mu6, sym.mu8, sym.B, sym.sigma2]
    for keys, exprs, args, vals in ((_pair_keys(), rec.pair, pair_args, pair),
                                    (_diag_keys(), rec.diagonal, diag_args, diag)):
        for name, key in keys.items():
            terms = {mon[0]: c for mon, c in sp.Poly(sp.expand(exprs[key]), sym.gamma).terms()}
            assert [n for n, _, _ in compiled[name]] == list(terms)
            for n, fn, mpf in compiled[name]:
                ref = sp.lambdify(args, terms[n], modules="numpy")
                np.testing.assert_array_equal(np.broadcast_to(fn(*vals), (3,)), np.broadcast_to(ref(*vals), (3,)))
                mp_vals = [mpmath.mpf(float(v[0])) if isinstance(v, np.ndarray) else mpmath.mpf(v) for v in vals]
                assert mpf(*mp_vals) == sp.lambdify(args, terms[n], modules="mpmath")(*mp_vals)
