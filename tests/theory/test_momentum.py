"""Momentum methods: derived recursions against hand-written oracles, the critical learning
rate against the explicit dense transition matrix, argument errors, schedules."""
import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from theory import SGD, Gaussian, IndependentCoordinates, derive
from theory.algorithms import GeneralizedMomentum, HeavyBall, Nesterov
from theory.symbols import B, S, beta, gamma, kappa, lam, m, sigma2

c, mp = sp.Symbol("c_i", real=True), sp.Symbol("m_i^prev", nonnegative=True)


def _rhs(rec):
    return list(rec.A * sp.Matrix(rec.moments) + rec.u * S + rec.f)


def test_heavy_ball_recursion_matches_hand_oracle():
    rec = derive(HeavyBall(), IndependentCoordinates(kurtosis=4.0))
    assert rec.moments == [m, c, mp]
    # oracle: e' = (1+beta) e - beta e_prev - gamma g, E g = lam e,
    # E g^2 = lam^2 e^2 (1 + (kappa-2)/B) + lam (S + sigma^2)/B
    Eg2m = lam**2 * m * (1 + (kappa - 2) / B) + lam * (S + sigma2) / B
    oracle = [(1 + beta)**2 * m - 2 * beta * (1 + beta) * c + beta**2 * mp
              - 2 * gamma * lam * ((1 + beta) * m - beta * c) + gamma**2 * Eg2m,
              (1 + beta) * m - beta * c - gamma * lam * m,
              m]
    for got, want in zip(_rhs(rec), oracle):
        assert sp.simplify(got - want) == 0
    assert list(rec.v) == [lam, 0, 0] and list(rec.w) == [lam, 0, 0]


def test_nesterov_couples_through_the_extrapolated_point():
    rec = derive(Nesterov(), Gaussian())
    # S = sum_j lam_j E p_j^2 with p = (1+beta) e - beta e_prev
    want = [lam * (1 + beta)**2, -2 * lam * beta * (1 + beta), lam * beta**2]
    assert all(sp.simplify(a - b) == 0 for a, b in zip(rec.v, want))


def test_heavy_ball_with_zero_momentum_is_sgd():
    lam_ = np.array([1.0, 0.3, 0.1])
    data = IndependentCoordinates(kurtosis=[1.0, 3.0, 7.0])
    kw = dict(eigenvalues=lam_, learning_rate=0.3, batch=2, noise_variance=0.4, initial=1.0, steps=50)
    a = derive(SGD(), data).trajectory(**kw)
    for alg in (HeavyBall(), Nesterov()):
        b = derive(alg, data).trajectory(momentum=0.0, **kw)
        np.testing.assert_allclose(a.risk, b.risk, rtol=1e-12)
    assert derive(HeavyBall(), data).critical_learning_rate(lam_, 2, momentum=0.0) == pytest.approx(
        derive(SGD(), data).critical_learning_rate(lam_, 2), rel=1e-12)


def _dense_rho(rec, lam_, g, batch, beta_):
    L = rec.linear_map(lam_, g, batch, momentum=beta_).transition_matrix()
    return np.max(np.abs(np.linalg.eigvals(L)))


@given(alg=st.sampled_from([HeavyBall(), Nesterov()]),
       eigs=st.lists(st.floats(0.05, 1.0), min_size=1, max_size=6),
       repeat=st.integers(1, 3),
       kurt=st.lists(st.sampled_from([1.0, 1.3, 2.0, 3.0, 8.0]), min_size=6, max_size=6),
       batch=st.integers(1, 3), beta_=st.floats(-0.95, 0.95))
def test_critical_learning_rate_is_where_dense_spectral_radius_crosses_one(alg, eigs, repeat, kurt, batch, beta_):
    lam_ = np.repeat(np.array(eigs), repeat)  # repeated directions exercise the block eigenvalues
    data = IndependentCoordinates(kurtosis=np.repeat(kurt[:len(eigs)], repeat))
    rec = derive(alg, data)
    gc = rec.critical_learning_rate(lam_, batch=batch, momentum=beta_)
    assert _dense_rho(rec, lam_, gc * (1 - 1e-6), batch, beta_) < 1
    assert _dense_rho(rec, lam_, gc * (1 + 1e-6), batch, beta_) > 1


def test_rademacher_nesterov_leaves_the_disc_at_a_complex_point():
    # kurtosis 1 (Rademacher), negative momentum: the exit eigenvalue is not real
    rec = derive(Nesterov(), IndependentCoordinates(kurtosis=1.0))
    lam_, batch, beta_ = np.array([0.548]), 1, -0.475
    gc = rec.critical_learning_rate(lam_, batch=batch, momentum=beta_, dps=30)
    eig = rec.linear_map(lam_, float(gc) * (1 + 1e-9), batch, momentum=beta_).eigenvalues()
    z = eig[np.argmax(np.abs(eig))]
    assert abs(z.imag) > 0.1 and abs(abs(z) - 1) < 1e-6
    assert _dense_rho(rec, lam_, float(gc) * (1 - 1e-9), batch, beta_) < 1
    assert _dense_rho(rec, lam_, float(gc) * (1 + 1e-9), batch, beta_) > 1
    # the mpmath refinement agrees with the float64 crossing and is reproducible at higher precision
    gc40 = rec.critical_learning_rate(lam_, batch=batch, momentum=beta_, dps=40)
    assert abs(gc40 - gc) < mpmath.mpf(10) ** -28


def test_heavy_ball_stationary_risk_is_the_fixed_point():
    lam_ = 1 / np.arange(1, 9)
    rec = derive(HeavyBall(), Gaussian())
    gc = rec.critical_learning_rate(lam_, 2, momentum=0.7)
    r = rec.stationary_risk(lam_, 0.5 * gc, 2, 1.0, momentum=0.7)
    r_mp = rec.stationary_risk(lam_, 0.5 * gc, 2, 1.0, dps=30, momentum=0.7)
    assert abs(r - float(r_mp)) < 1e-12 * r
    tr = rec.trajectory(lam_, 0.5 * gc, 2, 1.0, initial=0.0, steps=4000, momentum=0.7)
    assert abs(tr.risk[-1] - r) < 1e-10
    with pytest.raises(ValueError, match="learning_rate must lie in"):
        rec.stationary_risk(lam_, 1.01 * gc, 2, 1.0, momentum=0.7)


@pytest.mark.parametrize("bad", [1.0, -1.0, 1.5, float("nan")])
def test_momentum_outside_open_interval_is_rejected(bad):
    rec = derive(HeavyBall(), Gaussian())
    with pytest.raises(ValueError, match=r"momentum must lie in the open interval \(-1, 1\)"):
        rec.trajectory([1.0], 0.1, momentum=bad)
    with pytest.raises(ValueError, match="momentum"):
        rec.critical_learning_rate([1.0], momentum=bad)
    from verify import simulate
    with pytest.raises(ValueError, match="momentum"):
        simulate(HeavyBall(), eigenvalues=[1.0], learning_rate=0.1, momentum=bad, steps=2, replicas=2)


def test_missing_momentum_is_named():
    with pytest.raises(ValueError, match="missing hyperparameter.*momentum"):
        derive(HeavyBall(), Gaussian()).trajectory([1.0], 0.1)


def test_generalized_momentum_schedules_reduce_to_constants():
    rec = derive(GeneralizedMomentum(), Gaussian())
    kw = dict(eigenvalues=[1.0, 0.25], learning_rate=0.1, batch=1, noise_variance=0.3, steps=40, gamma1=1.0)
    a = rec.trajectory(gamma3=0.05, delta=0.2, **kw)
    b = rec.trajectory(gamma3=lambda k: 0.05, delta=lambda k: 0.2, **kw)
    np.testing.assert_allclose(a.risk, b.risk, rtol=1e-13)
    np.testing.assert_allclose(a.mean, b.mean, rtol=1e-12)   # constant: the orbit in blocks of steps
    # Delta_k > 1 is allowed (DANA's Delta(k) = delta/(1 + k)); a negative value used at step 3 is not
    rec.trajectory(gamma3=0.05, delta=lambda k: 2.0, **kw)
    with pytest.raises(ValueError, match=r"delta must be finite and >= 0; got -0.1 at step k = 3"):
        rec.trajectory(gamma3=0.05, delta=lambda k: 0.2 if k < 3 else -0.1, **kw)
    with pytest.raises(ValueError, match="callables"):
        rec.critical_learning_rate([1.0], gamma1=1.0, gamma3=lambda k: 0.1, delta=0.1)


def test_generalized_momentum_is_heavy_ball_in_the_limit():
    # gamma_1 = 1, Delta = 1 - beta, gamma_3 = gamma, gamma_2 -> 0 is heavy ball (gamma, beta)
    kw = dict(eigenvalues=[1.0, 0.2], batch=2, noise_variance=0.5, initial=1.0, steps=60)
    hb = derive(HeavyBall(), Gaussian()).trajectory(learning_rate=0.2, momentum=0.6, **kw)
    gm = derive(GeneralizedMomentum(), Gaussian()).trajectory(learning_rate=1e-12, gamma1=1.0, gamma3=0.2,
                                                              delta=0.4, **kw)
    np.testing.assert_allclose(hb.risk, gm.risk, rtol=1e-9)


def test_stable_region_grid_agrees_with_critical_learning_rate():
    from theory.momentum import stable_region
    lam_ = 1 / np.arange(1, 9)
    lrs, betas = np.linspace(0.02, 3.0, 12), np.array([-0.6, 0.0, 0.5, 0.9])
    reg = stable_region(lam_, lrs, betas, batch=2, data=IndependentCoordinates(kurtosis=1.0))
    assert reg.spectral_radius.shape == reg.stable.shape == (4, 12)
    # each row is stable exactly below its critical learning rate (the grid avoids the boundary)
    for a in range(len(betas)):
        assert np.all(reg.stable[a] == (lrs < reg.critical_learning_rate[a]))
    with pytest.raises(ValueError, match=r"momenta must lie in the open interval \(-1.0, 1.0\)"):
        stable_region(lam_, lrs, [0.5, 1.0])
    with pytest.raises(ValueError, match="learning_rates"):
        stable_region(lam_, [0.0, 0.1], [0.5])


def test_effective_learning_rate_gap_oracle_and_numbers():
    from theory.momentum import effective_learning_rate
    eff = effective_learning_rate(IndependentCoordinates())
    # oracle (hand expansion): relative correction -beta gamma lambda / (1 - beta^2)
    assert sp.simplify(eff.relative_leading + beta * gamma * lam / (1 - beta**2)) == 0
    # the exact per-direction gap reproduces the package's two stationary risks
    lam_, g, b, B_, s2 = 1 / np.arange(1, 9), 0.05, 0.6, 2, 1.0
    data = IndependentCoordinates(kurtosis=np.tile([1.0, 5.0], 4))
    r_hb = derive(HeavyBall(), data).stationary_risk(lam_, g, B_, s2, momentum=b)
    r_sgd = derive(SGD(), data).stationary_risk(lam_, g / (1 - b), B_, s2)
    f_sgd = sp.lambdify([lam, kappa, B, gamma, beta], eff.sgd)
    f_gap = sp.lambdify([lam, kappa, B, gamma, beta], eff.difference)
    k = data.kurtosis_values(8)
    G_sgd = np.sum(f_sgd(lam_, k, B_, g, b))
    G_hb = G_sgd + np.sum(f_gap(lam_, k, B_, g, b))
    assert r_sgd == pytest.approx(s2 / (2 * (1 - G_sgd)), rel=1e-12)
    assert r_hb == pytest.approx(s2 / (2 * (1 - G_hb)), rel=1e-12)
