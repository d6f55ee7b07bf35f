"""theory.plrf.PowerLawRandomFeatures: validation, exactness against an mpmath oracle, the reduction to
Gaussian least squares (dense-matrix oracle in the original feature coordinates) and the measured
error of the deterministic equivalent."""
import math

import mpmath
import numpy as np
import pytest

from theory import SGD, Gaussian, derive
from theory.plrf import PowerLawRandomFeatures, sketch_kappa
from verify.stats import growth


# ---------------------------------------------------------------------------------------------- input
@pytest.mark.parametrize("kwargs, match", [
    ({"alpha": 0.0}, "alpha must be a finite real number > 0"),
    ({"alpha": -1.0}, "alpha must be"),
    ({"alpha": float("nan")}, "alpha must be"),
    ({"alpha": True}, "alpha must be a real number, not a boolean"),
    ({"alpha": "1"}, "alpha must be a real number"),
    ({"beta": float("inf")}, "beta must be a finite real number"),
    ({"v": 0}, "v must be an integer >= 1"),
    ({"v": 2.5}, "v must be an integer >= 1"),
    ({"d": 0}, "d must be an integer >= 1"),
    ({"d": "3"}, "d must be an integer >= 1"),
    ({"seed": -1}, "seed must be"),
    ({"seed": 1.5}, "seed must be"),
    ({"seed": None}, "seed must be a non-negative integer or a numpy.random.SeedSequence"),
])
def test_bad_input_is_refused_with_the_argument_named(kwargs, match):
    args = {"alpha": 1.0, "beta": 0.5, "v": 10, "d": 4, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=match):
        PowerLawRandomFeatures(**args)


def test_risk_refuses_wrong_shapes_and_non_finite_values():
    m = PowerLawRandomFeatures(1.0, 0.5, 10, 4)
    for bad, match in [(np.zeros(3), "shape"), (np.zeros((2, 5)), "shape"), (np.zeros((1, 2, 4)), "shape"),
                       ([np.nan] * 4, "finite"), ("abcd", "real array")]:
        with pytest.raises(ValueError, match=match):
            m.risk(bad)


def test_alpha_at_most_one_half_is_allowed_because_v_is_finite():
    m = PowerLawRandomFeatures(0.3, 0.2, 60, 20)
    assert np.all(m.eigenvalues > 0) and m.irreducible_risk > 0


def test_the_seed_determines_the_instance():
    a, b = PowerLawRandomFeatures(1, 1, 20, 5, seed=3), PowerLawRandomFeatures(1, 1, 20, 5, seed=3)
    c = PowerLawRandomFeatures(1, 1, 20, 5, seed=np.random.SeedSequence(3))
    assert np.array_equal(a.feature_matrix, b.feature_matrix) and np.array_equal(a.feature_matrix, c.feature_matrix)
    assert not np.array_equal(a.feature_matrix, PowerLawRandomFeatures(1, 1, 20, 5, seed=4).feature_matrix)
    # W_ij ~ N(0, 1/d): the sample variance of 2e5 entries is 1/d to within 5 standard errors (sd sqrt(2/n)/d)
    w = PowerLawRandomFeatures(1, 1, 4000, 50, seed=0).feature_matrix
    assert abs(w.var() * 50 - 1) < 5 * math.sqrt(2 / w.size)


# ---------------------------------------------------------------------------------------------- exactness
def _mp_oracle(m, dps=60):
    """Eigenvalues of K, theta* (normal equations) and P_inf in mpmath at ``dps`` digits, from the same W."""
    with mpmath.workdps(dps):
        W = mpmath.matrix(m.feature_matrix.tolist())
        lam = [mpmath.mpf(j + 1) ** (-2 * mpmath.mpf(m.alpha)) for j in range(m.v)]
        b = [mpmath.mpf(j + 1) ** (-mpmath.mpf(m.beta)) for j in range(m.v)]
        D = mpmath.diag(lam)
        K = W.T * D * W
        rhs = W.T * D * mpmath.matrix(b)
        theta = mpmath.lu_solve(K, rhs)
        r = W * theta - mpmath.matrix(b)
        p_inf = sum(lam[j] * r[j] ** 2 for j in range(m.v)) / 2
        ev = sorted(mpmath.eigsy(K, eigvals_only=True))
        return [float(x) for x in ev], np.array([float(x) for x in theta]), float(p_inf)


@pytest.mark.parametrize("alpha, beta", [(1.0, 0.8), (2.5, 0.3), (0.4, 1.2)])
def test_spectrum_optimum_and_irreducible_risk_match_an_mpmath_oracle(alpha, beta):
    """Float64 QR + SVD of D^{1/2} W against 60-digit normal equations. Accuracy expected from
    backward stability: eigenvalues to ~ eps * lam_max * cond^(1/2) absolutely, i.e. relative error
    ~ eps * sqrt(lam_max/lam_i) * lam_max / lam_i ... bounded here by 1e-9 relative even for the
    smallest eigenvalue at alpha = 2.5 (condition number ~ 1e6); theta* and P_inf to 1e-8."""
    m = PowerLawRandomFeatures(alpha, beta, v=30, d=12, seed=5)
    ev, theta, p_inf = _mp_oracle(m)
    np.testing.assert_allclose(m.eigenvalues, ev, rtol=1e-9, atol=0)
    np.testing.assert_allclose(m.optimum, theta, rtol=1e-8, atol=1e-12 * np.abs(theta).max())
    assert abs(m.irreducible_risk - p_inf) <= 1e-8 * p_inf
    # e_0 in K's eigenbasis is -V^T theta*, and K V = V diag(lambda)
    K = m.feature_matrix.T @ (m.data_eigenvalues[:, None] * m.feature_matrix)
    np.testing.assert_allclose(K @ m.eigenvectors, m.eigenvectors * m.eigenvalues, atol=1e-13 * ev[-1])
    np.testing.assert_allclose(m.initial_error, -m.eigenvectors.T @ theta, rtol=1e-8, atol=1e-12)


def test_fewer_data_dimensions_than_features_interpolate():
    """v < d: W^T has full column rank v, P_inf = 0, K has d - v zero eigenvalues, which
    recursion_inputs leaves out."""
    m = PowerLawRandomFeatures(1.0, 0.5, v=5, d=8, seed=1)
    assert m.irreducible_risk < 1e-28
    assert np.count_nonzero(m.eigenvalues == 0) == 3
    assert len(m.recursion_inputs()["eigenvalues"]) == 5
    assert sketch_kappa(m.data_eigenvalues, m.d) == 0.0


def test_residual_is_uncorrelated_with_the_features_and_the_risk_splits():
    """The normal equations E[f eps] = W^T D (b - W theta*) = 0 (so eps is independent of f: jointly
    Gaussian), and P(theta) = P_inf + (1/2) e^T K e for any theta (e = theta - theta*)."""
    m = PowerLawRandomFeatures(1.2, 0.6, v=300, d=80, seed=2)
    W, lam = m.feature_matrix, m.data_eigenvalues
    cross = W.T @ (lam * (m.target - W @ m.optimum))
    scale = np.sqrt(lam @ m.target**2 * np.diag(W.T @ (lam[:, None] * W)))
    assert np.max(np.abs(cross) / scale) < 1e-12
    theta = np.random.default_rng(0).standard_normal((5, 80))
    e = theta - m.optimum
    K = W.T @ (lam[:, None] * W)
    split = m.irreducible_risk + 0.5 * np.einsum("ni,ij,nj->n", e, K, e)
    np.testing.assert_allclose(m.risk(theta), split, rtol=1e-12)
    assert m.risk(theta[0]) == pytest.approx(split[0], rel=1e-12)


def test_recursion_on_the_instance_equals_dense_second_moments_in_feature_coordinates():
    """Independent oracle of the reduction: SGD's error covariance M = E e e^T propagated with dense
    (d, d) matrices in the original coordinates, Gaussian fourth moments by Isserlis,
    M' = (I - gK) M (I - gK) + (g^2/B)(K M K + tr(K M) K + sigma^2 K), risk P_inf + tr(K M)/2,
    against the package's diagonal recursion on recursion_inputs() (eigenbasis)."""
    m = PowerLawRandomFeatures(1.0, 0.7, v=120, d=30, seed=4)
    K = m.feature_matrix.T @ (m.data_eigenvalues[:, None] * m.feature_matrix)
    g, B, steps, s2 = 0.3, 2, 25, m.noise_variance
    M = np.outer(m.optimum, m.optimum)
    dense = [m.irreducible_risk + 0.5 * np.trace(K @ M)]
    A = np.eye(30) - g * K
    for _ in range(steps):
        M = A @ M @ A + g**2 / B * (K @ M @ K + np.trace(K @ M) * K + s2 * K)
        dense.append(m.irreducible_risk + 0.5 * np.trace(K @ M))
    tr = derive(SGD(), Gaussian()).trajectory(**m.recursion_inputs(), learning_rate=g, batch=B, steps=steps)
    np.testing.assert_allclose(tr.risk, dense, rtol=1e-11)
    assert tr.risk[0] == pytest.approx(m.risk(np.zeros(30)), rel=1e-12)


# ---------------------------------------------------------------------------------------------- theory
def test_sketch_kappa_solves_its_equation_and_has_the_isotropic_closed_form():
    # v equal eigenvalues lambda: v lambda/(lambda + kappa) = d  =>  kappa = lambda (v/d - 1)
    assert sketch_kappa([0.5] * 12, 4) == pytest.approx(0.5 * 2, rel=1e-13)
    lam = np.arange(1, 501.0) ** -2.0
    k = sketch_kappa(lam, 100)
    assert np.sum(lam / (lam + k)) == pytest.approx(100, rel=1e-12)
    with pytest.raises(ValueError, match="data_eigenvalues"):
        sketch_kappa([1.0, -1.0], 1)
    with pytest.raises(ValueError, match="d must be an integer"):
        sketch_kappa([1.0, 1.0], 0)


def test_sketch_kappa_matches_the_authors_continuum_form_for_large_d():
    """Oracle: the authors' theory_kappa (a fixed point of kappa' = 1/int_0^{v/d} dx/(kappa' + x^{2a}),
    2a > 1) with kappa = d^{-2a}/kappa'. The continuum replaces a sum by an integral: the two agree
    to O(1/d) relative; measured 0.6 % at d = 1000, alpha = 1."""
    from scipy import integrate, optimize
    a, v, d = 1.0, 4000, 1000
    kp = optimize.brentq(lambda k: k * integrate.quad(lambda x: 1 / (k + x ** (2 * a)), 0, v / d)[0] - 1,
                         1e-6, 1e3)
    k = sketch_kappa(np.arange(1, v + 1.0) ** (-2 * a), d)
    assert k == pytest.approx(d ** (-2 * a) / kp, rel=0.02)


def test_deterministic_equivalent_of_the_irreducible_risk_against_instances():
    """Mean over 200 seeds of P_inf(instance)/P_inf(DE) - 1 at alpha = 1, beta = 0.8, v = 4d, d = 100.

    Measured (400 seeds, tests above): +14 % (d = 12), +7.1 % (25), +4.4 % (50), +3.8 % (100), each
    +-1-3 % (one standard error); a single instance spreads by 22 % (sd) at d = 100. The DE is an
    asymptotic statement: its bias shrinks with d. These 200 seeds measure +5.3 % +- 1.6 %. The
    tolerance 15 % at d = 100 is the measured bias plus 6 of its standard errors; two one-sided tests
    (alpha 1e-3 each) establish -15 % < bias < 15 %.
    """
    d, n = 100, 200
    de = PowerLawRandomFeatures(1.0, 0.8, 4 * d, d).deterministic_equivalent()
    rel = np.array([PowerLawRandomFeatures(1.0, 0.8, 4 * d, d, seed=s).irreducible_risk
                    for s in range(n)]) / de.irreducible_risk - 1
    assert growth(0.15, rel, direction="less", alpha=1e-3).passed
    assert growth(-0.15, rel, direction="greater", alpha=1e-3).passed
    # planted: a DE 30 % too large is not established inside the band
    rel_wrong = (rel + 1) / 1.3 - 1
    assert not growth(-0.15, rel_wrong, direction="greater", alpha=1e-3).passed


def test_recursion_inputs_run_the_package_recursion():
    m = PowerLawRandomFeatures(1.0, 0.8, v=200, d=50, seed=0)
    inputs = m.recursion_inputs()
    assert set(inputs) == {"eigenvalues", "noise_variance", "initial"}
    assert np.all(np.diff(inputs["eigenvalues"]) >= 0)
    tr = derive(SGD(), Gaussian()).trajectory(**inputs, learning_rate=0.5, steps=2000)
    assert tr.risk[-1] < tr.risk[0] and tr.risk[-1] > m.irreducible_risk


def test_deterministic_equivalent_spectrum_and_initial_excess_risk_against_instances():
    """The paper's approximate spectrum j^(-2 alpha) and e_0^2 = j^(-2 beta) + c_beta/d (the authors'
    theory_rhos) against 100 instances at alpha = 1, beta = 0.8, v = 400, d = 100.

    Measured (100 seeds): the mean relative error of the ten largest eigenvalues, pooled, is -0.2 % with
    a standard error of 0.4 % (per eigenvalue -3.6 % .. +1.4 %); the initial excess risk
    sum_i lambda_i e_0i^2 of the approximation is 3.1 % above the instances' (a deterministic bias:
    the instances' spread is 0.008 %). Bands: pooled top-10 error within +-3 % (7 standard errors); the
    excess-risk bias within (2 %, 4 %) (the measured value +- 1 %, far outside its spread). At
    alpha = 0.7 the pooled top-10 error is +6.8 % and the excess-risk bias 5.3 % (docs/plrf.md)."""
    d, n = 100, 100
    de = PowerLawRandomFeatures(1.0, 0.8, 4 * d, d).deterministic_equivalent()
    top, excess = [], []
    for s in range(n):
        m = PowerLawRandomFeatures(1.0, 0.8, 4 * d, d, seed=s)
        top.append(np.mean(m.eigenvalues[-10:] / de.eigenvalues[-10:] - 1))
        excess.append(np.sum(m.eigenvalues * m.initial_second_moments))
    top = np.array(top)
    assert growth(0.03, top, direction="less", alpha=1e-3).passed
    assert growth(-0.03, top, direction="greater", alpha=1e-3).passed
    bias = np.sum(de.eigenvalues * de.initial_second_moments) / np.array(excess) - 1
    assert growth(0.02, bias, direction="greater", alpha=1e-3).passed
    assert growth(0.04, bias, direction="less", alpha=1e-3).passed


@pytest.mark.parametrize("alpha, beta, v, d", [(0.7, 0.8, 100, 25), (0.7, 0.8, 400, 100), (2.5, 0.3, 60, 20),
                                              (1.0, 0.5, 13, 12)])
def test_irreducible_risk_from_the_augmented_qr_equals_the_projections(alpha, beta, v, d):
    """P_inf from the QR of [A | c] = (1/2)||c - U U^T c||^2 with U from the SVD (the route it replaced)
    and LAPACK gelsd's residual, to 1e-12 relative."""
    import scipy.linalg
    m = PowerLawRandomFeatures(alpha, beta, v, d, seed=3)
    c, A = m._weighted
    U = m._svd[0]
    r = c - U @ (U.T @ c)
    r -= U @ (U.T @ r)
    x = scipy.linalg.lstsq(A, c, lapack_driver="gelsd")[0]
    for ref in (0.5 * r @ r, 0.5 * np.sum((A @ x - c) ** 2)):
        assert abs(m.irreducible_risk - ref) <= 1e-12 * ref


def test_rank_deficient_features_use_the_svd_projection():
    """A with repeated columns (numerical rank < d, v > d): the SVD route, P_inf = that of the distinct columns."""
    m = PowerLawRandomFeatures(1.0, 0.5, v=30, d=6, seed=2)
    W = m.feature_matrix.copy()
    W[:, 3:] = W[:, :3]
    m.feature_matrix = W
    ref = PowerLawRandomFeatures(1.0, 0.5, v=30, d=3, seed=2)
    ref.feature_matrix = W[:, :3]
    assert m._svd[3] == 3
    assert abs(m.irreducible_risk - ref.irreducible_risk) <= 1e-10 * ref.irreducible_risk
