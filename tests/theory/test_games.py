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


def _game_result_from_stored_states(states):
    """Oracle: the summaries of the stored (steps+1, replicas, r, 4) array by whole-array reductions
    (the implementation before streaming)."""
    import itertools

    from verify.montecarlo import block_edges
    x = np.concatenate([states[..., 0], states[..., 2]], axis=-1)
    sq = x * x
    risk = 0.5 * sq.sum(axis=-1)
    edges = block_edges(states.shape[0] - 1)

    def summary(a):
        n = a.shape[1]
        mean = a.mean(axis=1)
        dv = a - mean[:, None]
        m2, m3 = (dv * dv).sum(axis=1), (dv**3).sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            skew = np.where(m2 > 0, (m3 / n) / (m2 / n) ** 1.5, 0.0)
        return mean, np.sqrt(m2 / (n - 1) / n), skew

    def blocks(a):
        return np.stack([a[lo:hi].mean(axis=0) for lo, hi in itertools.pairwise(edges)])
    out = {}
    for name, a in (("risk", risk), ("second_moments", sq), ("mean", x)):
        out[name], out[name + "_se"], skew = summary(a)
        if name == "risk":
            out["risk_skewness"] = skew
        b = blocks(a)
        key = "block_" + name
        out[key], out[key + "_se"], out[key + "_skewness"] = summary(b)
        if name == "risk":
            out["replica_block_risk"] = b.T
    return edges, out


@pytest.mark.parametrize("steps", [1, 7, 8, 20, 64])
def test_streamed_game_result_equals_the_stored_array_summaries(steps):
    from verify.claims.games import game_result
    g = BilinearGame("alternating")
    kw = {"momentum": -0.5, "steps": steps, "noise_variance": 0.5, "replicas": 60, "seed": 4}
    states = g.run(0.2, [1.0, 0.5, 0.2], **kw)
    edges, want = _game_result_from_stored_states(states)
    for res in (game_result(states), game_result(g.iterate(0.2, [1.0, 0.5, 0.2], **kw))):
        assert list(res.block_edges) == list(edges)
        for name, value in want.items():
            np.testing.assert_allclose(getattr(res, name), value, rtol=1e-12, atol=1e-14, err_msg=name)


def test_iterate_and_run_give_the_old_einsum_run():
    """Oracle: the per-step einsum of the transition and noise matrices, drawing (replicas, r, 2) per step."""
    g = BilinearGame("simultaneous")
    s = [1.0, 0.4]
    M, N = g.matrices(0.3, s, 0.2)
    rng = np.random.default_rng(9)
    x = np.tile(np.ones((2, 4)), (5, 1, 1))
    want = [x]
    for _ in range(6):
        x = np.einsum("ipq,riq->rip", M, x) + np.einsum("ipq,riq->rip", N, np.sqrt(0.7) * rng.standard_normal((5, 2, 2)))
        want.append(x)
    got = g.run(0.3, s, momentum=0.2, steps=6, noise_variance=0.7, replicas=5, seed=9)
    np.testing.assert_allclose(got, np.array(want), rtol=1e-13, atol=1e-15)
    streamed = np.array([y.copy() for y in g.iterate(0.3, s, momentum=0.2, steps=6, noise_variance=0.7, replicas=5,
                                                     seed=9)])
    np.testing.assert_array_equal(streamed, got)
    with pytest.raises(ValueError, match="steps"):
        g.iterate(0.3, s, steps=0)


@pytest.mark.parametrize("scheme", ["simultaneous", "alternating"])
def test_exact_characteristic_coefficients_equal_sympy_substitution(scheme):
    """Oracle: the derived polynomial with the exact rationals substituted by SymPy, read off by Poly."""
    from verify.claims._checks import exact
    from verify.claims.games import _char_poly
    g = BilinearGame(scheme)
    for eta, beta, s in ((0.1, -0.5, 0.7), (0.5, 0.3, 0.1), (1.5, 0.0, 1.0), (0.37, -0.93, 0.4)):
        at = {ETA: sp.Rational(exact(eta)), BETA: sp.Rational(exact(beta)), SINGULAR_VALUE: sp.Rational(exact(s))}
        want = [exact(sp.Rational(c)) for c in sp.Poly(g.characteristic_polynomial.subs(at), _Z).all_coeffs()]
        assert _char_poly(g, eta, beta, s) == want


def test_sign_on_interval_against_solveset():
    """Oracle: SymPy's solveset on the same sets; planted wrong statements are rejected."""
    from verify.claims.games import _empty, _sign_on_interval
    b = BETA
    cases = [(-(b + 1) / (2 * (b - 1) ** 3), -1, 1), (-b / (b - 1) ** 3, -1, 0), (-b / (b - 1) ** 3, -1, 1),
             ((b - sp.Rational(1, 3)) ** 2 + 1, -1, 1), ((b - sp.Rational(1, 3)) ** 2, -1, 1),
             (1 / (b + sp.Rational(1, 2)), -1, 1), ((3 * b - 1) / (b - 2), -1, 1)]
    for c, lo, hi in cases:
        for rel, op in (("<=", sp.Le), (">=", sp.Ge)):
            want = sp.solveset(op(c, 0), BETA, sp.Interval.open(lo, hi)) == sp.S.EmptySet
            assert _empty(c, rel, lo, hi) == want, (c, rel, lo, hi)
    assert _sign_on_interval(-b / (b - 1) ** 3, -1, 1) == 0        # changes sign at 0
    assert _sign_on_interval(1 / (b + sp.Rational(1, 2)), -1, 1) == 0   # pole inside
    # the claims' statements, and their planted negations
    c_sim, _ = small_step_rate("simultaneous")
    c_alt, _ = small_step_rate("alternating")
    assert _empty(c_sim, "<=", -1, 1) and not _empty(c_sim, ">=", -1, 1)
    assert _empty(c_alt, ">=", -1, 0) and not _empty(c_alt, "<=", -1, 0)
    with pytest.raises(ValueError, match="scheme"):
        small_step_rate("jacobi")
