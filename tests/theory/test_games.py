"""Bilinear games: derived characteristic polynomials against the paper's (oracle), small-step
rates, argument errors, and Monte Carlo power against planted errors."""
import numpy as np
import pytest
import sympy as sp

from theory.games import BETA, ETA, SINGULAR_VALUE, BilinearGame, _Z, small_step_rate


@pytest.mark.parametrize("scheme,power", [("simultaneous", 2), ("alternating", 3)])
def test_characteristic_polynomial_matches_gidel_et_al(scheme, power):
    # oracle (Gidel et al., arXiv:1807.04740, Sec. 4): (z-1)^2 (z-beta)^2 + eta^2 s^2 z^power
    oracle = (_Z - 1)**2 * (_Z - BETA)**2 + ETA**2 * SINGULAR_VALUE**2 * _Z**power
    assert sp.expand(BilinearGame(scheme).characteristic_polynomial - oracle) == 0


def test_small_step_rates():
    c_alt, best = small_step_rate("alternating")
    assert sp.simplify(c_alt - BETA / (1 - BETA)**3) == 0 and best == sp.Rational(-1, 2)
    c_sim, best_sim = small_step_rate("simultaneous")
    assert best_sim is None
    # the derived rate predicts the spectral radius for small steps
    g = BilinearGame("alternating")
    for eta in (0.01, 0.005):
        rho = g.spectral_radius(eta, [1.0], -0.3)
        pred = 1 + float(c_alt.subs(BETA, -0.3)) * eta**2
        assert abs(rho - pred) < 2 * eta**3


def test_errors():
    with pytest.raises(ValueError, match="scheme"):
        BilinearGame("jacobi")
    g = BilinearGame()
    with pytest.raises(ValueError, match=r"momentum must lie in the open interval \(-1, 1\)"):
        g.spectral_radius(0.1, [1.0], momentum=-1.0)
    with pytest.raises(ValueError, match="learning_rate"):
        g.trajectory(0.0, [1.0])
    with pytest.raises(ValueError, match="singular_values"):
        g.trajectory(0.1, [1.0, -1.0])


def test_noisy_game_power_against_planted_errors():
    from verify import compare
    from verify.claims.games import game_result
    g = BilinearGame("alternating")
    s = np.array([1.0, 0.7, 0.4, 0.1])
    kw = dict(momentum=-0.5, steps=200, noise_variance=0.5, initial=0.0)  # noise-driven: power on the noise
    res = game_result(g.run(0.2, s, replicas=4000, seed=3, **kw))
    assert compare(g.trajectory(0.2, s, **kw), res, quantities=("risk", "second_moments", "mean")).passed
    assert not compare(g.trajectory(0.2, s, **{**kw, "noise_variance": 0.5 * 1.05}), res).passed
    assert not compare(g.trajectory(0.2 * 1.03, s, **kw), res).passed  # 3% error in the step size


def test_convergence_regions():
    from theory.games import convergence_region
    lrs, betas = np.linspace(0.05, 1.0, 8), np.linspace(-0.9, 0.9, 7)
    s = [1.0, 0.3]
    sim = convergence_region("simultaneous", s, lrs, betas)
    assert sim.spectral_radius.shape == (7, 8) and not sim.converges.any()
    alt = convergence_region("alternating", s, lrs, betas)
    # beta = 0 sits on the unit circle (bounded, no convergence); positive momentum diverges
    assert not alt.converges[betas >= 0].any()
    # negative momentum converges at small steps (derived c(beta) < 0)
    assert alt.converges[(betas < -0.1) & (betas > -0.8)][:, 0].all()
    assert not alt.converges[np.abs(betas) < 1e-9].any()


def test_noisy_claim_rejects_a_planted_error_in_the_noise_variance():
    from verify.claims import BUDGETS, CLAIMS, claim_seed
    from verify.claims.games import _noisy
    claim = CLAIMS["games.noisy.second_moments"]
    ss = claim_seed(claim.id, 1)
    assert all(v.passed for v in _noisy(claim, BUDGETS["standard"], ss))
    # a 5% error in the noise variance of the theory must make the claim fail: the alternating game
    # (converging, so noise-dominated) rejects it; the simultaneous one (eta = 0.05, mean-dominated) need not
    planted = _noisy(claim, BUDGETS["standard"], ss, perturb=1.05)
    assert not planted[0].passed


def test_exact_radius_checks_reject_wrong_statements():
    # planted errors in the deterministic claims: the exact (Schur-Cohn) radius check decides both ways
    from verify.claims.games import _radius_check
    assert _radius_check(BilinearGame("simultaneous"), 0.1, 0.0, 1, "").passed
    assert not _radius_check(BilinearGame("simultaneous"), 0.1, 0.0, -1, "").passed
    assert _radius_check(BilinearGame("alternating"), 0.1, -0.5, -1, "").passed
    assert not _radius_check(BilinearGame("alternating"), 0.1, -0.5, 1, "").passed
    # beta = 0 alternating sits on the unit circle: neither "> 1" nor "< 1" can be certified
    assert not _radius_check(BilinearGame("alternating"), 0.5, 0.0, 1, "").passed
    assert not _radius_check(BilinearGame("alternating"), 0.5, 0.0, -1, "").passed


def test_game_result_records_what_compare_needs():
    from verify.claims.games import game_result
    g = BilinearGame("alternating")
    states = g.run(0.2, [1.0, 0.5], momentum=-0.5, steps=20, noise_variance=0.5, replicas=50, seed=0)
    res = game_result(states)
    nb = len(res.block_edges) - 1
    assert res.replica_block_risk.shape == (50, nb)
    assert res.block_mean.shape == res.block_mean_se.shape == res.block_mean_skewness.shape == (nb, 4)
    assert res.block_second_moments_skewness.shape == (nb, 4) and res.risk_skewness.shape == (21,)
    # the block means are the means of the per-replica block averages
    np.testing.assert_allclose(res.replica_block_risk.mean(axis=0), res.block_risk, rtol=1e-12)
    assert res.risk_skewness[0] == 0.0       # every replica starts at the same point


@pytest.mark.parametrize("scheme,momentum", [("alternating", -0.5), ("simultaneous", 0.0)])
def test_run_equals_stepping_the_update_with_one_draw_per_step(scheme, momentum):
    """run (state as (r, 4, replicas) for batched products, the noise of a block of steps drawn at once)
    gives the trajectory of stepping x <- M x + N sqrt(v) xi with one (replicas, r, 2) draw per step from
    the same generator: the same random numbers, equal to rounding."""
    game, s, steps, reps = BilinearGame(scheme), [1.0, 0.5, 0.25], 7, 5
    M, N = game.matrices(0.2, s, momentum)
    got = game.run(0.2, s, momentum=momentum, steps=steps, noise_variance=0.5, replicas=reps, seed=3)
    rng = np.random.default_rng(3)
    x = np.ones((reps, len(s), 4))
    assert np.array_equal(got[0], x)
    for k in range(1, steps + 1):
        x = np.einsum("ipq,riq->rip", M, x) + np.einsum("ipq,riq->rip", N, np.sqrt(0.5) * rng.standard_normal((reps, len(s), 2)))
        np.testing.assert_allclose(got[k], x, rtol=1e-12, atol=1e-14)
    other = game.run(0.2, s, momentum=momentum, steps=steps, noise_variance=0.5, replicas=reps, seed=4)
    assert np.max(np.abs(other[-1] - got[-1])) > 0.1          # another seed: other numbers
