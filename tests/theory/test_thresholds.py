"""Thresholds on ill-conditioned spectra (issue 11 item 1): critical learning rates of every
algorithm, stationary risks and gamma_c^(4), against oracles written here (the SGD secular
equation by hand in mpmath, the dense linear map's spectral radius in mpmath)."""
import mpmath
import numpy as np
import pytest
import sympy as sp

from theory import SGD, Gaussian, IndependentCoordinates, derive, derive_fourth
from theory.algorithms import GeneralizedMomentum, HeavyBall, Nesterov


def hand_sgd_gamma_c(lam, kappa=3, batch=1, dps=50):
    """First root of sum_i g l_i / (2B - g l_i (B + k_i - 2)) = 1 (Bordelon & Pehlevan, Sec. 3), bisection."""
    with mpmath.workdps(dps):
        lam = [mpmath.mpf(x) for x in lam]
        kap = [mpmath.mpf(kappa)] * len(lam) if np.ndim(kappa) == 0 else [mpmath.mpf(k) for k in kappa]
        B = mpmath.mpf(batch)
        poles = [2 * B / (x * (B + k - 2)) for x, k in zip(lam, kap) if B + k - 2 > 0]
        hi = min(poles) if poles else mpmath.mpf(10) ** 30

        def f(g):
            return 1 - mpmath.fsum(g * x / (2 * B - g * x * (B + k - 2)) for x, k in zip(lam, kap))
        lo = mpmath.mpf(0)
        for _ in range(4 * dps):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
        return +lo


def hand_sgd_stationary_risk(lam, g, noise, kappa=3, batch=1):
    with mpmath.workdps(50):
        G = mpmath.fsum(mpmath.mpf(g) * x / (2 * batch - g * x * (batch + kappa - 2)) for x in map(mpmath.mpf, lam))
        return noise / (2 * (1 - G))


def mp_dense_rho(rec, lam, g, batch=1, dps=40, **hyper):
    """Spectral radius of the dense dp x dp map blockdiag(A_i) + u v^T, built and diagonalised in mpmath."""
    with mpmath.workdps(dps):
        args = [sp.Symbol("lambda_i", positive=True)]
        subs_h = {"learning_rate": mpmath.mpf(g), **{k: mpmath.mpf(v) for k, v in hyper.items()}}
        kap = rec.data.kurtosis_values(len(lam))
        p, d = len(rec.moments), len(lam)
        f = {k: sp.lambdify(rec._args, getattr(rec, k), modules="mpmath") for k in ("A", "u", "v")}
        L = mpmath.zeros(d * p, d * p)
        us, vs = [], []
        for i, (li, ki) in enumerate(zip(lam, kap)):
            a = [mpmath.mpf(li), mpmath.mpf(ki), mpmath.mpf(batch), 0,
                 *[subs_h[n] for n in rec.algorithm.hyperparameters]]
            A = f["A"](*a)
            for r in range(p):
                for c in range(p):
                    L[i * p + r, i * p + c] = A[r, c]
            us.append(f["u"](*a))
            vs.append(f["v"](*a))
        for i in range(d):
            for j in range(d):
                for r in range(p):
                    for c in range(p):
                        L[i * p + r, j * p + c] += us[i][r] * vs[j][c]
        del args
        return max(abs(z) for z in mpmath.eig(L, left=False, right=False))


@pytest.mark.parametrize("lam", [[1e-11, 1.0], [1e-16, 1.0], [1e-300, 1.0], list(np.arange(1, 601.0) ** -4),
                                 [1e-12] * 5 + [1.0] * 3])
def test_sgd_critical_learning_rate_on_ill_conditioned_spectra(lam):
    got = derive().critical_learning_rate(lam)
    assert got == pytest.approx(float(hand_sgd_gamma_c(lam)), rel=1e-13)


@pytest.mark.parametrize("kurt,batch", [(1.0, 1), (1.0, 3), (8.0, 2)])
def test_sgd_critical_learning_rate_other_kurtosis(kurt, batch):
    lam = [1e-14, 1e-7, 1.0, 1.0]
    got = derive(SGD(), IndependentCoordinates(kurtosis=kurt)).critical_learning_rate(lam, batch=batch)
    assert got == pytest.approx(float(hand_sgd_gamma_c(lam, kurt, batch)), rel=1e-13)


def test_stationary_risk_on_ill_conditioned_spectrum():
    rec = derive()
    assert rec.stationary_risk([1e-12, 1.0], 0.1) == 0.0   # sigma^2 = 0
    got = rec.stationary_risk([1e-12, 1.0], 0.1, noise_variance=1.0)
    assert got == pytest.approx(float(hand_sgd_stationary_risk([1e-12, 1.0], 0.1, 1.0)), rel=1e-14)
    got = rec.stationary_risk([1e-16, 1e-8, 1.0], 0.5, batch=2, noise_variance=0.3, dps=40)
    want = hand_sgd_stationary_risk([1e-16, 1e-8, 1.0], mpmath.mpf("0.5"), mpmath.mpf("0.3"), batch=2)
    assert abs(got - want) < mpmath.mpf(10) ** -38 * want


@pytest.mark.parametrize("alg,hyper", [
    (HeavyBall(), {"momentum": 0.5}), (HeavyBall(), {"momentum": -0.4}), (Nesterov(), {"momentum": 0.5}),
    (GeneralizedMomentum(), {"gamma1": 0.1, "gamma3": 0.1, "delta": 0.1})])
@pytest.mark.parametrize("small", [1e-12, 1e-16])
def test_momentum_threshold_on_ill_conditioned_spectrum_against_dense_mp_map(alg, hyper, small):
    lam = [small, 0.3, 1.0]
    rec = derive(alg, Gaussian())
    gc = rec.critical_learning_rate(lam, **hyper)
    assert mp_dense_rho(rec, lam, gc * (1 - 1e-8), **hyper) < 1 < mp_dense_rho(rec, lam, gc * (1 + 1e-8), **hyper)


def test_rademacher_nesterov_complex_exit_on_ill_conditioned_spectrum():
    # kurtosis 1 and negative momentum: the exit is at a complex z; a 1e-15 direction rides along
    rec = derive(Nesterov(), IndependentCoordinates(kurtosis=1.0))
    lam, hyper = [1e-15, 0.548], {"momentum": -0.475}
    gc = rec.critical_learning_rate(lam, **hyper)
    assert mp_dense_rho(rec, lam, gc * (1 - 1e-8), **hyper) < 1 < mp_dense_rho(rec, lam, gc * (1 + 1e-8), **hyper)


def test_large_power_law_matches_hand_secular_equation():
    lam = np.arange(1, 20_001.0) ** -1.2
    got = derive().critical_learning_rate(lam, batch=4)
    # float64 oracle of the hand secular equation (brentq below its first pole)
    from scipy.optimize import brentq

    def f(g):
        return 1 - np.sum(g * lam / (8 - g * lam * 5))
    want = brentq(f, 1e-12, 8 / (5 * lam.max()) * (1 - 1e-15), xtol=1e-300, rtol=1e-15)
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("small", [1e-12, 1e-16])
def test_fourth_moment_threshold_on_ill_conditioned_spectrum(small):
    # a direction with gamma lambda below resolution is frozen: gamma_c^(4) tends to the value without it
    r4 = derive_fourth()
    assert r4.critical_learning_rate([small, 1.0]) == pytest.approx(r4.critical_learning_rate([1.0]), rel=1e-9)
    hb = derive_fourth(HeavyBall())
    assert hb.critical_learning_rate([small, 1.0], momentum=0.5) == pytest.approx(
        hb.critical_learning_rate([1.0], momentum=0.5), rel=1e-9)
