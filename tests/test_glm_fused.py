"""The fused GLM engine (verify.glm_kernel through verify.glm.simulate_glm(engine="fused")).

Oracles: NumPy's own SFC64 generator for the random stream (bit for bit); the NumPy engine (the
reference implementation, an independent loop on a different generator) for the law, through the
statistics layer's two-sample test; a planted learning-rate error that the same test must reject.
"""
import math

import numpy as np
import pytest
from scipy.stats import skew

from theory.glm import derive_limit, least_squares, logistic, phase_retrieval
from verify.claims._checks import difference_of_means
from verify.glm import power_law_spectrum, simulate_glm
from verify.glm_kernel import advance
from verify.kernel import sfc64_state
from verify.stats import combine, scalar_comparison

ALPHA = 1e-3     # family-wise false-failure probability of each two-sample family below


def _summary(v):
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)), float(skew(v)), v.size


def same_law(a, b, alpha=ALPHA):
    """Two-sample test (Hall-corrected difference of means, Bonferroni) that two GLM runs on the same
    times estimate the same expected risk at every recorded time t > 0 and the same block average."""
    cols = [a.risk[:, j] for j in range(1, a.t.size)] + [a.risk[:, a.t >= a.t[-1] / 2].mean(axis=1)]
    other = [b.risk[:, j] for j in range(1, b.t.size)] + [b.risk[:, b.t >= b.t[-1] / 2].mean(axis=1)]
    m = len(cols)
    return combine([scalar_comparison(0.0, alpha=alpha / m, **difference_of_means(_summary(x), _summary(y)))
                    for x, y in zip(cols, other)], alpha)


def test_the_kernel_draws_numpys_sfc64_normals_per_chunk():
    d, n, chunk = 7, 3, 2
    seeds = [np.random.SeedSequence(11, spawn_key=(c,)) for c in range(2)]
    states = np.stack([sfc64_state(s) for s in seeds])
    X, Z = np.zeros((n, d)), np.zeros((n, d + 1))
    advance(states, chunk, X, Z, np.ones((5, d)), np.zeros((5, n)), False, False, True)
    first = np.random.Generator(np.random.SFC64(seeds[0])).standard_normal(2 * (d + 1))
    second = np.random.Generator(np.random.SFC64(seeds[1])).standard_normal(d + 1)
    np.testing.assert_array_equal(Z[:2].ravel(), first)      # rows 0, 1: chunk 0's stream in order
    np.testing.assert_array_equal(Z[2], second)               # row 2: chunk 1's stream


def test_fused_runs_are_reproducible_bit_for_bit():
    lim = derive_limit(logistic("bernoulli"))
    kw = {"teacher": np.full(30, 0.3), "replicas": 5, "chunk_size": 2}
    a = simulate_glm(lim, power_law_spectrum(30), 2.0, 0.5, seed=np.random.SeedSequence(7), **kw)
    ss = np.random.SeedSequence(7)
    ss.spawn(3)                    # the children are derived from the spawn key, not from the spawn counter
    b = simulate_glm(lim, power_law_spectrum(30), 2.0, 0.5, seed=ss, **kw)
    np.testing.assert_array_equal(a.B, b.B)
    np.testing.assert_array_equal(a.risk, b.risk)
    c = simulate_glm(lim, power_law_spectrum(30), 2.0, 0.5, seed=8, **kw)
    assert not np.array_equal(a.B, c.B)


CASES = {   # loss, noise variance, g / g_c, X_0 / X*, planted learning-rate error checked
    "Bernoulli labels": (logistic("bernoulli"), 0.0, 0.3, 0.0, True),
    "Gaussian labels": (least_squares(), 0.25, 0.5, 0.0, True),
    # phase retrieval: the risk hardly depends on g here (a +20 % g moves it by < 1 standard error
    # at 600 replicas), so only the agreement in law is checked
    "phase retrieval": (phase_retrieval(), 0.0, 0.5, 0.9, False),
}


@pytest.mark.parametrize("name", CASES)
def test_fused_and_numpy_engines_agree_in_law_and_a_planted_learning_rate_is_rejected(name):
    from theory.glm.ode import critical_learning_rate
    loss, sigma2, fraction, start, planted = CASES[name]
    d, Q, T = 40, 1.0, 1.5
    lim = derive_limit(loss)
    lam = power_law_spectrum(d)
    Xs = np.full(d, math.sqrt(Q / d))
    g = fraction * critical_learning_rate(lim, lam, Q, noise_variance=sigma2).g
    kw = {"teacher": Xs, "initial": start * Xs, "noise_variance": sigma2, "replicas": 600, "record_every": d // 4}
    ref = simulate_glm(lim, lam, g, T, engine="numpy", seed=1, **kw)
    fused = simulate_glm(lim, lam, g, T, engine="fused", seed=2, **kw)
    v = same_law(fused, ref)
    assert v.passed, v
    if planted:
        bad = same_law(simulate_glm(lim, lam, 1.2 * g, T, engine="fused", seed=3, **kw), ref)
        assert not bad.passed, bad


def test_bad_engine_and_chunk_size():
    lim = derive_limit(logistic())
    with pytest.raises(ValueError, match="engine"):
        simulate_glm(lim, np.ones(5), 1.0, 1.0, teacher=np.ones(5), engine="gpu")
    with pytest.raises(ValueError, match="chunk_size"):
        simulate_glm(lim, np.ones(5), 1.0, 1.0, teacher=np.ones(5), chunk_size=0)
