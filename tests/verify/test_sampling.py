"""Exact sufficient-statistic sampling of the Gaussian minibatch gradient (verify.sampling): equal in
distribution to direct sampling (exact first and second moments, third and fourth moments and a
distributional test against direct draws), the same claim-level verdicts, and planted errors rejected."""
import numpy as np
import pytest
from scipy import stats as sps

from theory import SGD, Gaussian, Rademacher, derive
from verify import compare, simulate
from verify.claims._checks import difference_of_means
from verify.fused import same_expectations
from verify.sampling import direct_gradient, sufficient_gradient
from verify.stats import combine, scalar_comparison

Q = np.array([0.9, -0.4, 0.0, 0.25, 1.3])
B, SD, N = 8, 0.5, 40_000


def _summary(x):
    return x.mean(), x.std(ddof=1) / np.sqrt(x.size), sps.skew(x), x.size


def _unprojected(rng, q, noise_sd, batch):
    """A planted wrong law: the sum's orthogonal part drawn without the projector."""
    n, d = q.shape
    qq = np.einsum("rd,rd->r", q, q)
    s = rng.standard_normal((n, batch)) * np.sqrt(qq)[:, None]
    r = s - noise_sd * rng.standard_normal((n, batch))
    w = rng.standard_normal((n, d))
    return q * ((s * r).sum(1) / qq)[:, None] + np.sqrt((r * r).sum(1))[:, None] * w


def _exact_moment_checks(G, alpha):
    """E G = B q and E G G^T = B((|q|^2 + sigma^2) I + 2 q q^T) + B(B - 1) q q^T (Isserlis), entry by entry."""
    qq = Q @ Q
    second = B * ((qq + SD**2) * np.eye(Q.size) + 2 * np.outer(Q, Q)) + B * (B - 1) * np.outer(Q, Q)
    tests = [(B * Q[i], G[:, i]) for i in range(Q.size)]
    tests += [(second[i, j], G[:, i] * G[:, j]) for i in range(Q.size) for j in range(i, Q.size)]
    return combine([scalar_comparison(t, x, alpha=alpha / len(tests)) for t, x in tests], alpha)


def _two_sample_checks(G, H, alpha):
    """Third and fourth moments of projections (coordinates, q, a fixed random direction), G against H."""
    dirs = [*np.eye(Q.size), Q / np.linalg.norm(Q), np.random.default_rng(7).standard_normal(Q.size)]
    tests = [(G @ u) ** k for u in dirs for k in (3, 4)], [(H @ u) ** k for u in dirs for k in (3, 4)]
    return combine([scalar_comparison(0.0, alpha=alpha / len(tests[0]), **difference_of_means(_summary(x), _summary(y)))
                    for x, y in zip(*tests)], alpha)


@pytest.fixture(scope="module")
def draws():
    q = np.broadcast_to(Q, (N, Q.size))
    return (sufficient_gradient(np.random.default_rng(1), q, SD, B), direct_gradient(np.random.default_rng(2), q, SD, B),
            _unprojected(np.random.default_rng(3), q, SD, B))


def test_sufficient_statistic_law_equals_the_direct_law(draws):
    suff, direct, _ = draws
    assert _exact_moment_checks(suff, 1e-4).passed
    assert _exact_moment_checks(direct, 1e-4).passed       # the oracle itself is right
    assert _two_sample_checks(suff, direct, 1e-4).passed
    # distributional: two-sample Kolmogorov-Smirnov on projections, Bonferroni over 7 directions
    for u in [*np.eye(Q.size), Q, np.ones(Q.size)]:
        assert sps.ks_2samp(suff @ u, direct @ u).pvalue > 1e-4 / 7


def test_planted_wrong_law_is_rejected(draws):
    _, direct, wrong = draws
    assert not _exact_moment_checks(wrong, 1e-4).passed
    assert min(sps.ks_2samp(wrong @ Q, direct @ Q).pvalue, 1.0) < 1e-4 / 7


def test_zero_gradient_point_gives_the_noise_term():
    G = sufficient_gradient(np.random.default_rng(0), np.zeros((20_000, 3)), 1.0, 4)
    assert np.all(np.isfinite(G))
    # G = sqrt(sum eps_b^2) w: E G_i^2 = B sigma^2
    assert combine([scalar_comparison(4.0, G[:, i] ** 2, alpha=1e-5) for i in range(3)], 3e-5).passed


@pytest.mark.parametrize("engine", ["numpy", "fused"])
def test_claim_level_verdicts_do_not_change(engine):
    # the comparison the SGD claims run, with both sampling methods: both pass on the exact
    # recursion and both reject a planted 3% error in the risk
    lam = np.linspace(1.0, 0.2, 6)
    kw = dict(eigenvalues=lam, learning_rate=0.6, batch=8, noise_variance=0.1, steps=40)
    tr = derive(SGD(), Gaussian()).trajectory(**kw)
    wrong = derive(SGD(), Gaussian()).trajectory(**kw)
    wrong.risk = wrong.risk * 1.03
    res = {s: simulate(SGD(), replicas=4000, seed=11, engine=engine, sampling=s, **kw) for s in ("direct", "sufficient")}
    for r in res.values():
        assert compare(tr, r).passed and not compare(wrong, r, quantities=("risk",)).passed
    assert same_expectations(res["direct"], res["sufficient"], alpha=1e-4).passed


def test_sufficient_sampling_needs_gaussian_data():
    with pytest.raises(ValueError, match="sampling='sufficient' needs Gaussian"):
        simulate(data=Rademacher(), eigenvalues=[1.0], learning_rate=0.1, sampling="sufficient", steps=2, replicas=4)
    with pytest.raises(ValueError, match="sampling must be"):
        simulate(eigenvalues=[1.0], learning_rate=0.1, sampling="exact", steps=2, replicas=4)


def test_a_claim_gives_the_same_verdicts_with_either_sampling(monkeypatch):
    # the learning-rate / batch-size ratio claim runs Gaussian data at B = 1..32: its rows' outcomes
    # with the default (sufficient statistics for B >= 2) and with direct sampling forced
    import functools

    from verify.claims import CLAIMS
    from verify.claims import sgd as sgd_claims   # the ratio claim simulates through sgd.burn_in_stationary
    claim = CLAIMS["sgd.learning_rate_batch_ratio"]
    auto = claim.run("quick", seed=1)
    monkeypatch.setattr(sgd_claims, "simulate", functools.partial(sgd_claims.simulate, sampling="direct"))
    direct = claim.run("quick", seed=1)
    assert auto.passed and direct.passed
    assert [(r.check.split(":")[0], r.kind, r.passed) for r in auto.rows] == \
        [(r.check.split(":")[0], r.kind, r.passed) for r in direct.rows]
