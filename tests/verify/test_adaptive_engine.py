"""Adaptive learning rates through the main engine (per-replica hyperparameter hook): agreement with
an independent plain-NumPy AdaGrad-Norm / line-search loop (two-sample, with power), batch sizes,
streaming memory (only the requested coordinates per step), reproducibility and errors."""
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats as sps

from theory import adaptive as ad
from verify import simulate
from verify.adaptive import AdaGradNorm, ConstantRate, StateRule, simulate_adaptive
from verify.fused import same_expectations
from verify.montecarlo import block_edges

LAM = np.array([1.0, 1.0, 0.5, 0.5, 0.2, 0.2, 0.1, 0.1])
D, STEPS, N = LAM.size, 64, 3000


def _loop(rule, eta=1.0, b=0.5, sigma2=0.1, batch=1, seed=0, scale=1.0):
    """Plain NumPy oracle: theta_{k+1} = theta_k - (g_k/d) G_k, vectorised over replicas; ``scale``
    plants an error in the learning rate. Returns the summaries of the block-averaged risk and g."""
    rng = np.random.default_rng(seed)
    e = np.full((N, D), 1 / np.sqrt(D))
    acc = np.full(N, b**2)
    edges = block_edges(STEPS)
    risk_k, lr_k = np.empty((STEPS + 1, N)), np.empty((STEPS + 1, N))
    for k in range(1, STEPS + 1):
        x = rng.standard_normal((N, batch, D)) * np.sqrt(LAM)
        r = np.einsum("rbd,rd->rb", x, e) - np.sqrt(sigma2) * rng.standard_normal((N, batch))
        G = np.einsum("rbd,rb->rd", x, r) / batch
        if rule == "adagrad":
            acc += (G * G).sum(1) / D**2
            g = eta / np.sqrt(acc)
        else:   # idealised exact line search: g = 2 R tau_2... via the package's rule on (R, M2)
            sq = e * e
            g = StateRule(ad.line_search()).rate_from(0.5 * (sq @ LAM + sigma2), sq @ LAM**2, None, LAM)
        e = e - (scale * g / D)[:, None] * G
        risk_k[k], lr_k[k] = 0.5 * ((e * e) @ LAM + sigma2), g
    out = {}
    for name, series in (("block_risk", risk_k), ("block_learning_rate", lr_k)):
        blocks = np.stack([series[a:c].mean(0) for a, c in zip(edges[:-1], edges[1:])], axis=1)
        out[name] = blocks.mean(0)
        out[name + "_se"] = blocks.std(0, ddof=1) / np.sqrt(N)
        out[name + "_skewness"] = sps.skew(blocks, axis=0)
    return SimpleNamespace(replicas=N, **out)


Q = ("block_risk", "block_learning_rate")


@pytest.mark.parametrize("rule, batch", [("adagrad", 1), ("adagrad", 4), ("line_search", 2)])
def test_engine_agrees_with_a_plain_loop(rule, batch):
    policy = AdaGradNorm(1.0, 0.5) if rule == "adagrad" else StateRule(ad.line_search())
    res = simulate_adaptive(policy, eigenvalues=LAM, noise_variance=0.1, initial=1 / np.sqrt(D), steps=STEPS,
                            replicas=N, seed=4, batch=batch)
    assert same_expectations(res, _loop(rule, batch=batch, seed=5), alpha=1e-4, quantities=Q).passed
    # power: the same loop with a 10% error in the learning rate is rejected
    assert not same_expectations(res, _loop(rule, batch=batch, seed=5, scale=1.1), alpha=1e-4, quantities=Q).passed


def test_constant_rate_hook_agrees_with_the_fixed_engine():
    kw = dict(eigenvalues=LAM, noise_variance=0.1, initial=0.3, steps=STEPS, replicas=N)
    hooked = simulate_adaptive(ConstantRate(0.5 * D), seed=1, coordinates=None, **kw)
    fixed = simulate(learning_rate=0.5, seed=2, **kw)
    assert same_expectations(hooked, fixed, alpha=1e-4).passed
    np.testing.assert_array_equal(hooked.learning_rate, 0.5 * D)


def test_only_requested_coordinates_are_recorded_per_step():
    kw = dict(eigenvalues=np.linspace(1, 0.1, 64), steps=200, replicas=16, seed=3)
    none = simulate_adaptive(AdaGradNorm(1.0, 1.0), **kw)
    some = simulate_adaptive(AdaGradNorm(1.0, 1.0), coordinates=[0, 63], **kw)
    assert none.second_moments.shape == (201, 0) and some.second_moments.shape == (201, 2)
    assert none.block_second_moments.shape == (len(none.block_edges) - 1, 64)
    np.testing.assert_array_equal(none.risk, some.risk)      # recording draws no random numbers
    assert some.parameters["coordinates"] == [0, 63]
    with pytest.raises(ValueError, match="coordinates must lie in 0..63"):
        simulate_adaptive(AdaGradNorm(1.0, 1.0), coordinates=[64], **kw)


def test_adaptive_reproducible_whatever_the_workers():
    kw = dict(eigenvalues=LAM, steps=40, replicas=100, seed=8, chunk_size=30)
    a = simulate_adaptive(AdaGradNorm(1.0, 0.5), workers=1, **kw)
    b = simulate_adaptive(AdaGradNorm(1.0, 0.5), workers=2, **kw)
    for key in ("risk", "risk_se", "learning_rate", "learning_rate_se", "replica_block_learning_rate",
                "block_second_moments"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))


def test_hooked_runs_take_other_data_models():
    # a constant-rate hook on Rademacher data agrees with the NumPy reference engine on the same data
    from theory import Rademacher
    kw = dict(eigenvalues=LAM, noise_variance=0.1, initial=0.3, steps=STEPS, replicas=N, data=Rademacher())
    hooked = simulate_adaptive(ConstantRate(0.5 * D), seed=1, coordinates=None, **kw)
    ref = simulate(learning_rate=0.5, seed=2, engine="numpy", **kw)
    assert hooked.parameters["data"] == "Rademacher()"
    assert same_expectations(hooked, ref, alpha=1e-4).passed
    wrong = simulate(learning_rate=0.55, seed=2, engine="numpy", **kw)
    assert not same_expectations(hooked, wrong, alpha=1e-4).passed
