"""The Monte Carlo engine's fast paths: the same numbers whatever the number of workers, and the
in-place linear update equals the generic compiled update rule (up to float rounding)."""
import numpy as np
import pytest
import sympy as sp

from theory import SGD, EmpiricalDistribution, Rademacher, SparseGaussian
from theory import symbols as sym
from theory.algorithms import GRADIENT, Algorithm
from verify import montecarlo, simulate


class _HeavyBall(Algorithm):
    """A two-variable state exercises the engine's generic linear (double-buffered) path."""
    name = "heavy_ball_test"
    state = (sp.Symbol("e_i", real=True), sp.Symbol("e_prev", real=True))
    hyperparameters = {"learning_rate": sym.gamma, "momentum": sp.Symbol("beta")}
    gradient_point = state[0]
    update = (state[0] - sym.gamma * GRADIENT + sp.Symbol("beta") * (state[0] - state[1]), state[0])

    def initial_state(self, error):
        return (error, error)


_X = np.random.default_rng(0).standard_normal((300, 4)) * [1.0, 0.8, 0.5, 0.3]
_EMP = EmpiricalDistribution(_X, _X[:, 0] ** 2)


@pytest.mark.parametrize("data", [Rademacher(), SparseGaussian([0.3, 0.5, 1.0, 0.2]), _EMP])
def test_same_numbers_whatever_the_workers(data):
    lam = _EMP.eigenvalues if data is _EMP else [1.0, 0.5, 0.3, 0.1]
    kw = dict(eigenvalues=lam, learning_rate=0.1, batch=2, noise_variance=0.2, steps=30, replicas=700,
              seed=9, chunk_size=128)
    a = simulate(SGD(), data=data, workers=1, **kw)
    b = simulate(SGD(), data=data, workers=2, **kw)
    for key in ("risk", "risk_se", "second_moments", "mean_se", "block_risk", "block_second_moments_se"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


@pytest.mark.parametrize("algorithm, hyper", [(SGD(), {}), (_HeavyBall(), {"momentum": 0.5})])
def test_linear_fast_path_equals_generic_update(monkeypatch, algorithm, hyper):
    kw = dict(eigenvalues=[1.0, 0.4, 0.2], learning_rate=0.1, batch=3, noise_variance=0.1, steps=25,
              replicas=300, seed=2, engine="numpy", sampling="direct", **hyper)
    fast = simulate(algorithm, **kw)
    compile_ = montecarlo._compile
    monkeypatch.setattr(montecarlo, "_compile", lambda alg: compile_(alg)[:2] + (None,))
    slow = simulate(algorithm, **kw)
    # same random numbers; only the order of floating-point operations differs
    np.testing.assert_allclose(fast.second_moments, slow.second_moments, rtol=1e-10)
    np.testing.assert_allclose(fast.risk_se, slow.risk_se, rtol=1e-8)


def test_deterministic_steps_are_recognised_as_deterministic():
    # verify.stats treats a quantity as deterministic when its standard error is below 1e-12 of its
    # value; the two-pass centred sums leave only the rounding of the mean (~1e-16 relative)
    res = simulate(eigenvalues=[1.0, 0.5], learning_rate=0.1, steps=3, replicas=500, seed=0, initial=0.7)
    assert np.all(res.second_moments_se[0] < 1e-12 * 0.49) and np.all(res.mean_se[0] < 1e-12 * 0.7)
    assert np.all(res.second_moments_se[1] > 1e-6)


def test_row_blocks_merge_to_the_right_statistics():
    # d = 200, B = 1: a chunk of 1024 replicas runs as 4 row blocks (327, 327, 327, 43) on one stream
    from theory import Gaussian, derive
    from verify import compare
    from verify.montecarlo import _BLOCK_ENTRIES
    assert 1024 > _BLOCK_ENTRIES // 200 > 16
    lam = np.linspace(1.0, 0.1, 200) / 20
    rec = derive(SGD(), Gaussian())
    kw = dict(eigenvalues=lam, learning_rate=0.4 * rec.critical_learning_rate(lam), batch=1,
              noise_variance=0.1, steps=40)
    res = simulate(SGD(), replicas=2048, seed=3, **kw)
    tr = rec.trajectory(**kw)
    assert compare(tr, res).passed
    tr.risk = tr.risk * 1.02
    assert not compare(tr, res).passed
