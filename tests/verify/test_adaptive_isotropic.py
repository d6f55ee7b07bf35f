"""verify.adaptive_isotropic: the scalar reduction of AdaGrad-Norm on K = I has the law of the
d-dimensional algorithm (oracle: the fused-kernel run of verify.adaptive.simulate_adaptive, an
independent implementation on d-dimensional data), and planted errors are rejected."""
import math

import numpy as np
import pytest
from scipy.stats import skew

from verify.adaptive import AdaGradNorm, simulate_adaptive
from verify.adaptive_isotropic import simulate_adagrad_norm_isotropic
from verify.claims._checks import difference_of_means
from verify.stats import combine, scalar_comparison

D, STEPS, REPLICAS, ETA, B = 16, 256, 400, 1.0, 0.3


def _summary(v):
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(v.size)), float(skew(v)), v.size


def same_blocks(a, b, alpha=1e-3):
    """Two-sample tests (Hall-corrected difference of means, Bonferroni) of every dyadic block average of
    the learning rate and of the risk from the fourth block on."""
    pairs = [(a.replica_block_learning_rate[:, j], b.replica_block_learning_rate[:, j])
             for j in range(3, len(a.block_edges) - 1)]
    pairs += [(a.replica_block_risk[:, j], b.replica_block_risk[:, j]) for j in range(3, len(a.block_edges) - 1)]
    m = len(pairs)
    return combine([scalar_comparison(0.0, alpha=alpha / m, **difference_of_means(_summary(x), _summary(y)))
                    for x, y in pairs], alpha)


@pytest.fixture(scope="module")
def direct():
    return simulate_adaptive(AdaGradNorm(ETA, B), eigenvalues=np.ones(D), initial=1 / math.sqrt(D), steps=STEPS,
                             replicas=REPLICAS, seed=1)


def test_reduction_agrees_in_law_with_the_d_dimensional_algorithm(direct):
    red = simulate_adagrad_norm_isotropic(ETA, B, d=D, steps=STEPS, replicas=REPLICAS, seed=2)
    assert red.block_edges == direct.block_edges
    v = same_blocks(red, direct)
    assert v.passed, v


@pytest.mark.parametrize("planted", [{"_chi_dof": D}, {"eta": 1.1 * ETA}])
def test_planted_errors_are_rejected(direct, planted):
    kw = {"eta": ETA, **planted}
    bad = simulate_adagrad_norm_isotropic(kw.pop("eta"), B, d=D, steps=STEPS, replicas=REPLICAS, seed=3, **kw)
    v = same_blocks(bad, direct)
    assert not v.passed, v


def test_reproducible_and_bad_input():
    a = simulate_adagrad_norm_isotropic(ETA, B, d=D, steps=40, replicas=30, seed=7, chunk_size=8)
    b = simulate_adagrad_norm_isotropic(ETA, B, d=D, steps=40, replicas=30, seed=7, chunk_size=8)
    np.testing.assert_array_equal(a.replica_block_learning_rate, b.replica_block_learning_rate)
    for kw, word in (({"d": 1}, "d"), ({"steps": 0}, "steps"), ({"replicas": 1}, "replicas")):
        args = {"d": D, "steps": 10, "replicas": 4, **kw}
        with pytest.raises(ValueError, match=word):
            simulate_adagrad_norm_isotropic(ETA, B, **args)
    with pytest.raises(ValueError, match="eta"):
        simulate_adagrad_norm_isotropic(-1.0, B, d=D, steps=10, replicas=4)
