"""Empirical distribution: the derived full (mu, M) recursion against brute-force enumeration of the
rows (float64) and against Monte Carlo; bad input."""
import itertools

import numpy as np
import pytest

from theory import SGD, EmpiricalDistribution, derive, derive_empirical
from verify import compare, simulate


def _data(n=7, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * [1.0, 0.7, 0.4][:d]
    y = X[:, 0] ** 2 + X[:, 1] * X[:, 2] + 0.5 * X[:, 0]   # non-linear: residual correlated with x
    return EmpiricalDistribution(X, y)


def _brute_force(data, errors, gamma, batch, sigma):
    """E[(mu', M')] for e drawn uniformly from ``errors``, by enumerating every batch of rows
    (with replacement) and the label noise xi = +-sigma of each sample."""
    Z, eps = data.rows, data.residuals
    n, d = Z.shape
    mean, second, total = np.zeros(d), np.zeros((d, d)), 0.0
    for e in errors:
        for rows in itertools.product(range(n), repeat=batch):
            for signs in itertools.product((-1.0, 1.0), repeat=batch):
                g = sum(Z[r] * (Z[r] @ e - eps[r] - s * sigma) for r, s in zip(rows, signs)) / batch
                new = e - gamma * g
                mean += new
                second += np.outer(new, new)
                total += 1
    return mean / total, second / total


@pytest.mark.parametrize("batch, sigma", [(1, 0.0), (2, 0.3)])
def test_one_step_equals_enumeration_over_rows(batch, sigma):
    data = _data()
    rng = np.random.default_rng(1)
    errors = rng.standard_normal((3, data.dimension))
    rec = derive_empirical(SGD(), data)
    mu0, M0 = errors.mean(axis=0), errors.T @ errors / len(errors)
    mu1, M1 = rec._numeric([batch, sigma**2, 0.3], M0, mu0)
    mu_bf, M_bf = _brute_force(data, errors, 0.3, batch, sigma)
    # float64 rounding only: sums of a few hundred O(1) terms, relative error ~ 1e-15 per term
    scale = np.abs(M_bf).max()
    np.testing.assert_allclose(M1, M_bf, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(mu1, mu_bf, rtol=0, atol=1e-12 * np.abs(mu_bf).max())


def test_residual_correlation_term_matters():
    data = _data()
    e = np.random.default_rng(2).standard_normal((1, data.dimension))
    rec = derive_empirical(SGD(), data)
    full = rec._numeric([1, 0.0, 0.3], e.T @ e, e[0])[1]
    saved = data.residuals.copy()
    mu_bf, M_bf = _brute_force(data, e, 0.3, 1, 0.0)
    np.testing.assert_allclose(full, M_bf, rtol=0, atol=1e-12 * np.abs(M_bf).max())
    # an independent-noise model with the same residual variance is wrong here: C(mu) != 0
    Z, eps = data.rows, saved
    C = (Z.T * (eps * (Z @ e[0]))) @ Z / len(eps)
    assert np.abs(C).max() > 1e-3 * np.abs(M_bf).max()


def test_monte_carlo_matches_and_planted_error_is_caught():
    data = _data(n=300, d=3, seed=3)
    rec = derive_empirical(SGD(), data)
    gamma = 0.5 / data.eigenvalues.sum()
    kw = dict(eigenvalues=data.eigenvalues, learning_rate=gamma, batch=2, noise_variance=0.1,
              initial=-data.optimum + 0.5, steps=80)
    res = simulate(SGD(), data=data, replicas=6000, seed=4, **kw)
    tr = rec.trajectory(**kw)
    assert compare(tr, res, quantities=("risk", "second_moments", "mean")).passed
    assert res.risk[0] == pytest.approx(tr.risk[0], rel=1e-12)
    tr.second_moments = tr.second_moments * 1.03
    assert not compare(tr, res).passed


def test_diagonal_recursion_does_not_close():
    with pytest.raises(ValueError, match="derive_empirical"):
        derive(SGD(), _data())


@pytest.mark.parametrize("X, match", [
    ([[1.0, 2.0]], "at least 2 rows"),
    ([[1.0, np.nan], [2.0, 3.0]], r"finite entries .*X\[0, 1\] = nan"),
    ([[1.0, np.inf], [2.0, 3.0]], r"finite entries .*X\[0, 1\] = inf"),
    ([1.0, 2.0], "2-D array"),
    ([[1.0, 2.0], [1.0, 2.0]], "all rows equal"),
])
def test_bad_data_matrix(X, match):
    with pytest.raises(ValueError, match=match):
        EmpiricalDistribution(X)


def test_bad_targets_and_eigenvalues():
    X = np.random.default_rng(0).standard_normal((5, 2))
    with pytest.raises(ValueError, match=r"y must have shape \(5,\)"):
        EmpiricalDistribution(X, y=np.ones(4))
    with pytest.raises(ValueError, match="y must contain only finite"):
        EmpiricalDistribution(X, y=[1, 2, np.nan, 4, 5])
    rec = derive_empirical(data=EmpiricalDistribution(X))
    with pytest.raises(ValueError, match="eigenvalues must be the data's own"):
        rec.trajectory(eigenvalues=[1.0, 1.0], learning_rate=0.1, steps=2)
    with pytest.raises(ValueError, match="eigenvalues must be the data model's own"):
        simulate(SGD(), data=EmpiricalDistribution(X), eigenvalues=[1.0, 1.0], learning_rate=0.1, steps=2)
    with pytest.raises(ValueError, match="data must be a theory.EmpiricalDistribution"):
        derive_empirical(data=None)


def test_uncentred_data_one_step_equals_enumeration_on_the_raw_rows():
    """centre=False: rows with a non-zero mean, targets without intercept. The derived recursion (through
    moment_matrices) equals enumerating SGD on the raw rows (X, y) themselves, mapped to the eigenbasis."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 3)) + [1.0, -0.5, 0.2]
    y = X[:, 0] ** 2 + 0.3 * X[:, 1]
    data = EmpiricalDistribution(X, y, centre=False)
    assert "centre=False" in repr(data)
    theta_star = data.basis @ data.optimum
    np.testing.assert_allclose(X.T @ (y - X @ theta_star), 0, atol=1e-12)     # least squares, no intercept
    rec = derive_empirical(SGD(), data)
    assert "centred" not in rec.latex() and "centred" in derive_empirical(SGD(), EmpiricalDistribution(X, y)).latex()
    gamma, theta0 = 0.2, np.array([0.5, -1.0, 0.3])
    mu, M = rec.moment_matrices([0, 1, 2], learning_rate=gamma, batch=2, initial=data.basis.T @ (theta0 - theta_star))
    for k in (1, 2):
        errs = []
        for path in itertools.product(itertools.product(range(5), repeat=2), repeat=k):
            th = theta0.copy()
            for rows in path:
                th = th - gamma * sum(X[r] * (X[r] @ th - y[r]) for r in rows) / 2
            errs.append(data.basis.T @ (th - theta_star))
        errs = np.array(errs)
        np.testing.assert_allclose(mu[k], errs.mean(axis=0), rtol=0, atol=1e-12)
        np.testing.assert_allclose(M[k], errs.T @ errs / len(errs), rtol=0, atol=1e-12)


def test_moment_matrices_agree_with_trajectory_and_reject_bad_record():
    data = _data()
    rec = derive_empirical(SGD(), data)
    tr = rec.trajectory(learning_rate=0.2, batch=2, initial=-data.optimum, steps=6)
    mu, M = rec.moment_matrices([6, 0, 3], learning_rate=0.2, batch=2, initial=-data.optimum)
    np.testing.assert_allclose(np.diagonal(M, axis1=1, axis2=2), tr.second_moments[[6, 0, 3]], rtol=1e-14)
    np.testing.assert_allclose(mu, tr.mean[[6, 0, 3]], rtol=1e-14)
    with pytest.raises(ValueError, match="record"):
        rec.moment_matrices([], learning_rate=0.2)
    with pytest.raises(ValueError, match="record"):
        rec.moment_matrices([1.5], learning_rate=0.2)
    with pytest.raises(TypeError, match="centre"):
        EmpiricalDistribution(np.eye(3), centre="no")


def test_products_with_the_diagonal_K_equal_the_dense_products():
    """The step's products with K = diag(lambda) scale rows and columns instead of multiplying by the
    dense matrix: the same numbers, bit for bit (a product with a diagonal matrix adds exact zeros)."""
    import sympy as sp
    data = _data(n=9, d=3, seed=4)
    rec = derive_empirical(SGD(), data)
    rng = np.random.default_rng(1)
    A = rng.standard_normal((3, 3))
    M, mu, N = A @ A.T, rng.standard_normal(3), rng.standard_normal((3, 3))
    mats = {"M": M, "mu": mu[:, None], "mu^T": mu[None, :], "N": N}
    dense = dict(mats, K=np.diag(data.eigenvalues))
    names = sp.symbols("K M N mu mu^T", commutative=False)
    sym = dict(zip(["K", "M", "N", "mu", "mu^T"], names))
    for chain in (["K"], ["K", "M"], ["M", "K"], ["K", "M", "K"], ["K", "K", "M"], ["N"], ["K", "mu"],
                  ["mu", "mu^T", "K"], ["M", "K", "N", "K"]):
        want = dense[chain[0]]
        for name in chain[1:]:
            want = want @ dense[name]
        got = rec._product([sym[c] for c in chain], mats)
        assert np.array_equal(got, want), chain
    assert not np.array_equal(rec._product([sym["K"], sym["M"]], mats), M)   # planted: K dropped is seen


def test_single_threaded_blas_limits_numpys_blas_and_restores_it():
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_info, threadpool_limits

    from theory.empirical import _single_threaded_blas

    def blas_threads():
        return {x["filepath"]: x["num_threads"] for x in threadpool_info() if x["user_api"] == "blas"}

    with threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        assert before
        for _ in range(2):    # the controller is made once and reused
            with _single_threaded_blas():
                assert set(blas_threads().values()) == {1}
            assert blas_threads() == before
