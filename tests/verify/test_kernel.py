"""The fused kernel (verify.kernel, verify.fused): NumPy's own SFC64 stream and normals bit for bit,
reproducible numbers whatever the workers, statistically indistinguishable from the NumPy engine
(two-sample test with power against a planted error), and clear errors where it does not apply."""
import numpy as np
import pytest
import sympy as sp

from theory import (
    SGD,
    EmpiricalDistribution,
    Gaussian,
    HeavyBall,
    IndependentCoordinates,
    Rademacher,
    SparseGaussian,
)
from theory import symbols as sym
from theory.algorithms import GRADIENT, Algorithm
from verify import kernel, simulate
from verify.fused import same_expectations


class _ThreeState(Algorithm):
    """Three-variable state: the kernel's generic update (the two-variable update is HeavyBall's)."""
    name = "three_state_kernel_test"
    state = (sp.Symbol("e_i", real=True), sp.Symbol("e_prev", real=True), sp.Symbol("e_prev2", real=True))
    hyperparameters = {"learning_rate": sym.gamma, "momentum": sp.Symbol("beta")}
    gradient_point = state[0]
    update = (state[0] - sym.gamma * GRADIENT + sp.Symbol("beta") * (state[0] - state[1]), state[0], state[1])

    def initial_state(self, error):
        return (error, error, error)



def test_stream_is_numpys_sfc64_bit_for_bit():
    ss = np.random.SeedSequence(2024).spawn(3)[2]
    raw = np.empty(5000, dtype=np.uint64)
    kernel.fill_raw(kernel.sfc64_state(ss), raw)
    np.testing.assert_array_equal(raw, np.random.SFC64(ss).random_raw(5000))
    x = np.empty(200_000)     # enough draws to pass through the ziggurat's tail and wedges many times
    kernel.fill_normal(kernel.sfc64_state(ss), x)
    np.testing.assert_array_equal(x, np.random.Generator(np.random.SFC64(ss)).standard_normal(200_000))


KW = dict(eigenvalues=[1.0, 0.5, 0.3, 0.1], learning_rate=0.3, noise_variance=0.2, steps=30)


@pytest.mark.parametrize("batch", [1, 3])
def test_fused_numbers_identical_whatever_the_workers(batch):
    kw = dict(KW, batch=batch, replicas=700, seed=9, chunk_size=128, engine="fused")
    a = simulate(SGD(), workers=1, **kw)
    b = simulate(SGD(), workers=2, **kw)
    c = simulate(SGD(), workers=2, **kw)
    for key in ("risk", "risk_se", "second_moments", "mean_se", "block_risk", "block_second_moments_se",
                "replica_block_risk", "risk_skewness", "block_mean_skewness"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        np.testing.assert_array_equal(getattr(b, key), getattr(c, key))
    assert a.parameters["engine"] == "fused"


CASES = [(SGD(), {}, 1, "direct"), (SGD(), {}, 4, "sufficient"), (HeavyBall(), {"momentum": 0.5}, 2, "direct"),
         (_ThreeState(), {"momentum": 0.3}, 1, "direct"),
         (HeavyBall(), {"momentum": lambda k: 0.6 / (1 + 0.05 * k)}, 2, "sufficient")]


@pytest.mark.parametrize("algorithm, hyper, batch, sampling", CASES)
def test_fused_engine_agrees_with_the_numpy_engine(algorithm, hyper, batch, sampling):
    kw = dict(KW, **hyper, batch=batch, replicas=3000, sampling=sampling)
    fused = simulate(algorithm, engine="fused", seed=1, **kw)
    ref = simulate(algorithm, engine="numpy", seed=2, **kw)
    assert same_expectations(fused, ref, alpha=1e-4).passed
    # power: a 10% error in the learning rate of the reference run is rejected by the same test
    kw["learning_rate"] = 0.33
    wrong = simulate(algorithm, engine="numpy", seed=2, **{**kw, "replicas": 3000})
    assert not same_expectations(fused, wrong, alpha=1e-4).passed


def test_deterministic_start_has_zero_standard_error():
    res = simulate(eigenvalues=[1.0, 0.5], learning_rate=0.1, steps=3, replicas=500, seed=0, initial=0.7,
                   engine="fused")
    assert np.all(res.second_moments_se[0] == 0) and res.risk_se[0] == 0
    assert np.all(res.second_moments_se[1] > 1e-6)


_X = np.random.default_rng(0).standard_normal((300, 4)) * [1.0, 0.8, 0.5, 0.3]
_EMP = EmpiricalDistribution(_X, _X[:, 0] ** 2)


class _OwnGaussian(Gaussian):
    """A user's data model (a subclass): sampled by the NumPy engine's registered sampler only."""


def test_fused_engine_refuses_what_it_cannot_run():
    kw = dict(eigenvalues=[1.0, 0.5], learning_rate=0.1, steps=2, replicas=4)
    with pytest.raises(ValueError, match="engine='fused' needs"):
        simulate(data=_OwnGaussian(), engine="fused", **kw)
    with pytest.raises(ValueError, match="engine must be"):
        simulate(engine="cuda", **kw)
    assert simulate(data=_OwnGaussian(), seed=0, **kw).parameters["engine"] == "numpy"
    assert simulate(data=Rademacher(), seed=0, **kw).parameters["engine"] == "fused"


MODELS = [Rademacher(), IndependentCoordinates([6.0, 3.0, 2.0, 1.5]), SparseGaussian([0.3, 0.5, 1.0, 0.2]), _EMP]


def _kernel_draws(data, n=40_000, d=4, seed=3):
    z = np.empty((n, 1, d + 1))
    kernel.draw(kernel.sfc64_state(np.random.SeedSequence(seed)), z, False, *kernel.model_parameters(data, d), 0.0)
    return z[:, 0, :d]


@pytest.mark.parametrize("data", MODELS, ids=repr)
def test_kernel_samplers_have_the_models_moments(data):
    # E z_i = 0, E z_i^2 = 1, E z_i^4 = kappa_i (exact, from the data model), E z_i z_j = 0
    from verify.stats import combine, scalar_comparison
    z = _kernel_draws(data)
    kappa = data.kurtosis_values(4)
    tests = [(0.0, z[:, i]) for i in range(4)] + [(1.0, z[:, i] ** 2) for i in range(4)]
    tests += [(kappa[i], z[:, i] ** 4) for i in range(4)] + [(0.0, z[:, 0] * z[:, 1])]
    alpha = 1e-4
    verdict = combine([scalar_comparison(t, x, alpha=alpha / len(tests)) for t, x in tests], alpha)
    assert verdict.passed
    # planted: the same draws read as a model with 20% more kurtosis are rejected
    wrong = [scalar_comparison(1.2 * kappa[i], z[:, i] ** 4, alpha=alpha / 4) for i in range(4) if kappa[i] > 1]
    assert not wrong or not combine(wrong, alpha).passed


@pytest.mark.parametrize("data", MODELS, ids=repr)
def test_fused_engine_agrees_with_the_numpy_engine_on_other_data(data):
    kw = dict(KW, batch=2, replicas=3000, sampling="direct")
    kw["eigenvalues"] = getattr(data, "eigenvalues", kw["eigenvalues"])   # a data set's own spectrum
    fused = simulate(SGD(), data=data, engine="fused", seed=1, **kw)
    ref = simulate(SGD(), data=data, engine="numpy", seed=2, **kw)
    assert fused.parameters["engine"] == "fused"
    assert same_expectations(fused, ref, alpha=1e-4).passed
    # power: a 20% error in the learning rate (heavier tails than Gaussian data need more than 10%)
    wrong = simulate(SGD(), data=data, engine="numpy", seed=2, **{**kw, "learning_rate": 0.36})
    assert not same_expectations(fused, wrong, alpha=1e-4).passed


def test_rademacher_draws_use_every_bit_once():
    # 64 coordinates per 64-bit output, low bit first: the kernel's stream read back from NumPy's SFC64
    ss = np.random.SeedSequence(11)
    z = np.empty((1, 1, 101))
    kernel.draw(kernel.sfc64_state(ss), z, False, *kernel.model_parameters(Rademacher(), 100), 0.0)
    raw = np.random.SFC64(ss).random_raw(2)
    bits = [(int(raw[w]) >> k) & 1 for w in range(2) for k in range(64 if w == 0 else 36)]
    np.testing.assert_array_equal(z[0, 0, :100], 1.0 - 2.0 * np.array(bits))
