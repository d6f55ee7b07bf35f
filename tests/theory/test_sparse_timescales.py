"""Retention / learning timescales of heavy ball on sparse coordinates, the three regimes and the
spectral conflict: derived relations against independent oracles, errors, claims and planted errors."""

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from theory import HeavyBall, derive
from theory import symbols as tsym
from theory.sparse import (
    SPARSITY,
    SparseGaussian,
    learning_timescale,
    momentum_retention_timescale,
    sparse_timescales,
    spectral_conflict,
    timescale_ratio,
)


def test_definitions_against_oracles():
    ts = sparse_timescales()
    p, b = SPARSITY, tsym.beta
    # oracles typed here (tests only): E beta^T for T ~ Geometric(p) and its geometric sum
    assert sp.simplify(ts.decay - p * b / (1 - (1 - p) * b)) == 0
    assert sp.simplify(ts.retention - (1 - b + p * b) / (1 - b)) == 0
    assert sp.simplify(ts.learning - (1 - b) * p / (tsym.gamma * tsym.lam)) == 0
    assert ts.critical_limit == sp.Rational(3, 2) / tsym.B
    assert momentum_retention_timescale(1.0, 0.0) == pytest.approx(1.0)
    assert timescale_ratio(0.0025, 1.0, 0.05, 0.5) == pytest.approx(10 / 1.05)
    assert "tau" in ts.latex() and ts.latex().startswith("\\begin{align*}")


def test_retention_is_the_expected_buffer_decay_monte_carlo():
    """rho = E beta^T over the gap T between active updates: sampled gaps, t-test at 1e-6 per case."""
    rng = np.random.default_rng(5)
    for p, beta in ((0.05, 0.99), (0.3, 0.6), (0.5, -0.5)):
        x = float(beta) ** rng.geometric(p, size=200_000)
        rho = 1 - 1 / momentum_retention_timescale(p, beta)
        t = (x.mean() - rho) / (x.std(ddof=1) / np.sqrt(x.size))
        assert 2 * sps.t.sf(abs(t), x.size - 1) > 1e-6 / 3


@settings(max_examples=8, deadline=None)
@given(p=st.floats(0.01, 1.0), beta=st.floats(-0.9, 0.95), batch=st.integers(1, 4), lam=st.floats(0.1, 2.0))
def test_critical_learning_timescale_matches_spectral_radius(p, beta, batch, lam):
    gc = derive(HeavyBall(), SparseGaussian(p)).critical_learning_rate([lam], batch, momentum=beta)
    tau_c = float(sparse_timescales().critical.subs({SPARSITY: p, tsym.beta: beta, tsym.B: batch}))
    assert learning_timescale(gc, lam, p, beta) == pytest.approx(tau_c, rel=1e-9)


@pytest.mark.parametrize("p,beta", [(0.05, 0.5), (0.1, 0.99), (1.0, 0.9)])
def test_slow_root_series_against_exact_root(p, beta):
    """z_slow = 1 - (p/tau)(1 + (tau_ret - 1)/tau) + O(tau^-3): the error falls ~8x when tau doubles."""
    t_ret = momentum_retention_timescale(p, beta)
    errs = []
    for tau in (400.0, 800.0):
        x = (1 - beta) * p / tau  # gamma lambda
        z = max(np.roots([1.0, -(1 + beta - x), beta]).real)
        errs.append(abs(z - (1 - p / tau * (1 + (t_ret - 1) / tau))))
    assert 6 < errs[0] / errs[1] < 10


def test_errors():
    for bad in (0.0, 1.5, float("nan"), [0.5, 0.5]):
        with pytest.raises(ValueError, match="p"):
            momentum_retention_timescale(bad, 0.5)
    for bad in (1.0, -1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="beta"):
            momentum_retention_timescale(0.5, bad)
    with pytest.raises(ValueError, match="learning_rate"):
        learning_timescale(0.0, 1.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="eigenvalue"):
        learning_timescale(0.1, -1.0, 0.5, 0.5)
    with pytest.raises(ValueError, match="differ"):
        spectral_conflict(0.5, 0.5, 0.01)
    with pytest.raises(ValueError, match="dimension"):
        spectral_conflict(0.05, 0.5, 0.01, dimension=0)
    with pytest.raises(ValueError, match="beta_range"):
        spectral_conflict(0.05, 0.5, 0.01, beta_range=(0.5, 0.2))
    with pytest.raises(ValueError, match="unstable"):
        spectral_conflict(0.05, 0.5, 10.0)


def test_spectral_conflict_optima():
    c = spectral_conflict(0.05, 0.5, 0.01)
    rec = [derive(HeavyBall(), SparseGaussian(p)) for p in c.sparsities]
    lam = np.ones(8)
    for g in range(2):  # each optimum is a local minimum of the exact radius, and beats the other's
        r = [rec[g].spectral_radius(lam, 0.01, 1, momentum=c.best[g] + h) for h in (-1e-2, 0.0, 1e-2)]
        assert r[1] <= min(r[0], r[2])
        assert c.radius[g, g] < c.radius[g, 1 - g]
    assert c.best[0] < c.compromise < c.best[1] and 0 < c.efficiency < 1


@pytest.fixture(scope="module")
def claims():
    from verify.claims import (
        CLAIMS,  # noqa: F401
        select,
    )
    return {c.id: c for c in select(["momentum.sparse.regimes", "momentum.sparse.spectral_conflict"])}


@pytest.mark.parametrize("cid", ["momentum.sparse.regimes", "momentum.sparse.spectral_conflict"])
def test_claims_pass_and_planted_error_is_caught(claims, cid):
    from verify.claims import BUDGETS, claim_seed
    claim = claims[cid]
    res = claim.run("quick", seed=1)
    assert res.passed, [r for r in res.rows if not r.passed]
    # a 3% error planted in the theory trajectories must be rejected at the same alpha
    # (the SGD-limit window resolves 3% at the standard budget: z ~ 6 there, ~3 at the quick one)
    budget = BUDGETS["standard" if cid.endswith("regimes") else "quick"]
    verdicts = claim.runner(claim, budget, claim_seed(cid, 1), perturb=1.03)
    failed = {i for i, v in enumerate(verdicts) if v.counted and not v.passed}
    # regimes: heavy ball (SGD-limit run), SGD at gamma/(1-beta) on the window, heavy ball (heavy-ball run);
    # conflict: both trajectory comparisons (the exact radii and the divergence test do not use the trajectories)
    expected = {0, 2, 3} if cid.endswith("regimes") else {3, 5}
    assert failed == expected, [(i, verdicts[i].label) for i in sorted(failed ^ expected)]


def test_timescales_are_cached_on_disk(tmp_path, monkeypatch):
    """The derivation is a persistent (disk-cached) value: a second process-level call loads it, and the
    loaded object equals the derived one."""
    import pickle

    from theory import diskcache, sparse
    monkeypatch.setenv("SGDCHECK_CACHE_DIR", str(tmp_path))
    derived = sparse._sparse_timescales.__wrapped__()
    sparse._sparse_timescales.cache_clear()
    first = sparse.sparse_timescales()
    entries = list(diskcache.cache_dir().glob("*.pkl"))
    assert entries
    loaded = [pickle.loads(p.read_bytes()) for p in entries]
    assert any(isinstance(v, sparse.SparseTimescales) and v == derived for v in loaded)
    assert first == derived
    sparse._sparse_timescales.cache_clear()
