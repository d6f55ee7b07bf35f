"""Helpers of the claim modules (verify.claims._checks): exact spectral radii by the Schur-Cohn test,
the two-sample difference summary, per-replica time averages; and the exact High Line threshold."""
import math
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp

from verify.claims._checks import (difference_of_means, exact, map_polynomials, polynomial_radius,
                                   radius_bracket, schur_stable, time_average)


def test_schur_stable_agrees_with_numpy_roots():
    rng = np.random.default_rng(0)
    for _ in range(200):
        roots = rng.uniform(0.2, 1.4, size=4) * np.exp(1j * rng.uniform(0, np.pi, size=4))
        coeffs = np.real(np.poly(np.concatenate([roots, roots.conj()])))
        rho = np.max(np.abs(roots))
        if abs(rho - 1) < 1e-6:
            continue
        assert schur_stable([Fraction(float(c)) for c in coeffs]) == (rho < 1)
    with pytest.raises(ValueError):
        schur_stable([0, 0])


def test_radius_bracket_is_exact_and_tight():
    # (z - 3/4)(z^2 + 1/4) has radius 3/4; z^2 - 2z + 2 has radius sqrt 2 (bisection fallback checked too)
    lo, hi = radius_bracket([1, Fraction(-3, 4), Fraction(1, 4), Fraction(-3, 16)])
    assert lo <= Fraction(3, 4) < hi and hi - lo < 1e-9
    lo, hi = radius_bracket([1, -2, 2])
    assert lo <= math.sqrt(2) < hi
    lo, hi = polynomial_radius([[1, Fraction(-1, 2)], [1, 0, Fraction(-9, 4)]])     # radii 1/2 and 3/2
    assert lo <= Fraction(3, 2) < hi


def test_map_polynomials_match_the_numeric_spectral_radius():
    from theory import SGD, HeavyBall, derive
    from theory.sparse import SparseGaussian
    rec = derive(HeavyBall(), SparseGaussian(0.05))
    for lam in (np.ones(8), np.array([1.0, 1.0, 0.5, 0.25, 0.25])):
        for gamma, beta in ((0.01, 0.9), (0.004, 0.2), (0.05, 0.5)):
            lo, hi = polynomial_radius(map_polynomials(rec, lam, gamma, momentum=beta))
            rho = rec.spectral_radius(lam, gamma, 1, momentum=beta)
            assert float(lo) * (1 - 1e-12) <= rho <= float(hi) * (1 + 1e-12)
    rec = derive(SGD())
    lo, hi = polynomial_radius(map_polynomials(rec, [1.0, 0.5], 0.3))
    assert float(lo) <= rec.spectral_radius([1.0, 0.5], 0.3) * (1 + 1e-12) and float(hi) >= rec.spectral_radius(
        [1.0, 0.5], 0.3) * (1 - 1e-12)


def test_exact_is_the_float_itself():
    assert exact(0.1) == Fraction(0.1) != Fraction(1, 10)
    assert exact(sp.Rational(1, 3)) == Fraction(1, 3) and exact(3) == 3


def test_difference_of_means_equals_the_paired_difference():
    # equal replicas: the difference of the means is the mean of the differences of independent pairs,
    # whose standard error and skewness difference_of_means must reproduce
    rng = np.random.default_rng(1)
    a, b = rng.exponential(2.0, 5000), rng.gamma(4.0, 0.25, 5000)

    def summary(x):
        dv = x - x.mean()
        return x.mean(), x.std(ddof=1) / math.sqrt(x.size), np.mean(dv**3) / np.mean(dv**2) ** 1.5, x.size
    out = difference_of_means(summary(a), summary(b))
    m, se, g, n = summary(a - b)
    assert out["replicas"] == n and math.isclose(out["mean"], m, rel_tol=1e-12)
    assert math.isclose(out["standard_error"], se, rel_tol=2e-2)
    assert math.isclose(out["skewness"], g, rel_tol=0.1)


def test_difference_test_is_calibrated_and_has_power():
    from verify.stats import scalar_comparison
    rng = np.random.default_rng(2)

    def summary(x):
        dv = x - x.mean()
        return x.mean(), x.std(ddof=1) / math.sqrt(x.size), np.mean(dv**3) / np.mean(dv**2) ** 1.5, x.size
    # E(A - B) = 2 - 1 = 1 with right-skewed A: false failures at alpha = 0.01 stay near 1%
    fails = sum(not scalar_comparison(1.0, alpha=0.01, **difference_of_means(
        summary(rng.exponential(2.0, 400)), summary(rng.exponential(1.0, 300)))).passed for _ in range(400))
    assert fails <= 12
    assert not scalar_comparison(1.2, alpha=1e-6, **difference_of_means(
        summary(rng.exponential(2.0, 20000)), summary(rng.exponential(1.0, 20000)))).passed


def test_time_average_matches_the_step_average():
    from verify import simulate
    res = simulate(eigenvalues=[1.0, 0.5], learning_rate=0.2, noise_variance=0.1, steps=40, replicas=50, seed=0)
    x, a, b = time_average(res, 8)
    assert (a, b) == (8, 40) and x.shape == (50,)
    assert math.isclose(float(x.mean()), float(np.mean(res.risk[8:41])), rel_tol=1e-12)
    with pytest.raises(ValueError, match="no block"):
        time_average(res, 100)


def test_finite_d_critical_rate_is_exact():
    from theory import SGD, derive
    from verify.claims.highline import finite_d_critical_rate, two_class_spectrum
    root, limit, c1 = finite_d_critical_rate()
    assert limit == sp.Rational(16, 5) and c1 == sp.Rational(-68, 25)
    # oracle: the secular equation sum_i gamma lambda_i / (2 - 2 gamma lambda_i) = 1 (Gaussian, batch 1)
    for d in (16, 64):
        g = float(root.subs(sp.Symbol("d", positive=True), d))
        lam = two_class_spectrum(d)
        assert math.isclose(float(np.sum(g / d * lam / (2 - 2 * g / d * lam))), 1.0, rel_tol=1e-12)
        assert math.isclose(d * derive(SGD()).critical_learning_rate(lam), g, rel_tol=1e-12)
