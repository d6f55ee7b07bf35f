"""The fused kernel runs affine rules, per-direction gradient factors and risks on another state
variable (verify.montecarlo.FusedPlan): exact in realisation against a second formulation, equal in
law to the NumPy engine (two-sample test), planted differences rejected, reproducible bit for bit."""
import numpy as np
import pytest
import sympy as sp
from user_algorithms import E, Scaled, UserAveraged, UserShrink

from theory import (
    SGD,
    Algorithm,
    Gaussian,
    IterateAveraging,
    PreconditionedSGD,
    Rademacher,
    polyak_ruppert,
)
from theory import symbols as sym
from theory.algorithms import GRADIENT, PRECONDITIONER
from verify import simulate
from verify.fused import same_expectations
from verify.montecarlo import _fused_plan

LAM = np.array([1.0, 0.6, 0.3, 0.15, 0.08, 0.04])
THETA = np.array([1.0, -1.5, 0.8, 2.0, -0.5, 1.2])
BASE = {"eigenvalues": LAM, "noise_variance": 0.4, "initial": 0.5, "steps": 200}


class _PerDirectionDecay(Algorithm):
    """P_i in the state column (e' = (1 - P_i gamma) e - gamma g): not a common gradient factor."""
    state = (E,)
    gradient_point = E
    hyperparameter_spec = PreconditionedSGD.hyperparameter_spec
    update = (E - PRECONDITIONER * sym.gamma * E - sym.gamma * GRADIENT,)


def test_plans_of_the_rules():
    wd = _fused_plan(SGD(weight_decay=0.2))
    assert wd.affine and wd.factor is None and wd.observable == 0
    # theta* carried as a state variable with theta*' = theta*; the decay's pull -gamma w on it
    rows = np.array(wd.linear(0.5, 0.0))
    assert np.allclose(rows, [[0.9, -0.1, -0.5], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    pre = _fused_plan(PreconditionedSGD())
    assert not pre.affine and pre.factor_names == ("preconditioner",)
    assert np.allclose(pre.gradient_factor({"preconditioner": np.array([2.0, 3.0])}, 2), [2.0, 3.0])
    assert np.allclose(pre.linear(0.5, 2.0), [[1.0, -0.5], [1.0, 0.0]])
    assert _fused_plan(IterateAveraging()).observable == 1 and _fused_plan(UserAveraged()).observable == 1
    assert _fused_plan(UserShrink()).affine and _fused_plan(Scaled(2)).factor is None
    assert _fused_plan(_PerDirectionDecay()) is None


def test_not_plannable_rules_run_on_the_numpy_engine():
    kw = dict(BASE, learning_rate=0.1, preconditioner=0.5, replicas=50, seed=0)
    assert simulate(_PerDirectionDecay(), **kw).parameters["engine"] == "numpy"
    with pytest.raises(ValueError, match="engine='fused'"):
        simulate(_PerDirectionDecay(), engine="fused", **kw)


@pytest.mark.parametrize("data, batch", [(Gaussian(), 2), (Gaussian(), 1), (Rademacher(), 3)])
def test_preconditioner_is_sgd_on_the_rescaled_problem_replica_by_replica(data, batch):
    """Second formulation (exact in realisation): e_i' = e_i - gamma P_i g_i is SGD on eigenvalues
    P_i lambda_i in u_i = e_i / sqrt(P_i) (same draws z, same residuals): R equal, m_i = P_i m~_i."""
    P = np.array([2.0, 0.5, 1.5, 3.0, 0.7, 1.0])
    e0 = np.linspace(-1.0, 1.0, 6)
    kw = {"noise_variance": 0.4, "batch": batch, "learning_rate": 0.05, "steps": 150, "replicas": 300, "seed": 7, "engine": "fused"}
    a = simulate(PreconditionedSGD(), data=data, eigenvalues=LAM, initial=e0, preconditioner=P, **kw)
    b = simulate(SGD(), data=data, eigenvalues=P * LAM, initial=e0 / np.sqrt(P), **kw)
    assert np.allclose(a.risk, b.risk, rtol=1e-10, atol=0)
    assert np.allclose(a.second_moments, P * b.second_moments, rtol=1e-10, atol=0)
    assert np.allclose(a.replica_block_risk, b.replica_block_risk, rtol=1e-10, atol=0)
    # and a preconditioner off by 2% in one direction is a different run
    P2 = P.copy()
    P2[0] *= 1.02
    c = simulate(PreconditionedSGD(), data=data, eigenvalues=LAM, initial=e0, preconditioner=P2, **kw)
    assert not np.allclose(c.second_moments, a.second_moments, rtol=1e-6, atol=0)


@pytest.mark.parametrize("alg, hyper, planted", [
    (SGD(weight_decay=0.2), {"optimum": THETA}, (SGD(weight_decay=0.3), {"optimum": THETA})),
    (SGD(weight_decay=0.2), {"optimum": THETA}, (SGD(weight_decay=0.2), {"optimum": 0.0})),
    (IterateAveraging(), {"averaging": 0.1}, (IterateAveraging(), {"averaging": 0.15})),
    (IterateAveraging(), {"averaging": polyak_ruppert}, (SGD(), {})),
    (PreconditionedSGD(), {"preconditioner": LAM ** -0.5}, (PreconditionedSGD(), {"preconditioner": LAM ** -0.4})),
])
@pytest.mark.parametrize("data, batch", [(Gaussian(), 2), (Rademacher(), 1)])
def test_fused_equals_numpy_engine_in_law_and_detects_a_planted_difference(alg, hyper, planted, data, batch):
    kw = dict(BASE, data=data, batch=batch, learning_rate=0.3, replicas=2000)
    fused = simulate(alg, engine="fused", seed=1, **kw, **hyper)
    numpy = simulate(alg, engine="numpy", seed=2, **kw, **hyper)
    assert fused.parameters["engine"] == "fused" and numpy.parameters["engine"] == "numpy"
    v = same_expectations(fused, numpy, alpha=1e-6, quantities=("block_risk", "block_second_moments", "block_mean"))
    assert v.passed, v.summary()
    wrong = simulate(planted[0], engine="numpy", seed=2, **kw, **planted[1])
    assert not same_expectations(fused, wrong, alpha=1e-6, quantities=("block_risk", "block_second_moments")).passed


@pytest.mark.parametrize("alg, hyper", [(SGD(weight_decay=0.2), {"optimum": THETA}),
                                        (IterateAveraging(), {"averaging": polyak_ruppert}),
                                        (PreconditionedSGD(), {"preconditioner": LAM ** -0.5})])
def test_fused_plans_are_reproducible_whatever_the_workers(alg, hyper):
    kw = dict(BASE, batch=2, learning_rate=0.3, replicas=700, chunk_size=256, engine="fused", **hyper)
    one, two = simulate(alg, seed=5, workers=1, **kw), simulate(alg, seed=5, workers=2, **kw)
    for name in ("risk", "second_moments", "mean", "replica_block_risk"):
        assert np.array_equal(getattr(one, name), getattr(two, name))


def test_the_averaged_risk_is_recorded_on_the_average():
    """Risk on the averaged iterate (observable 1), e_i^2 on the last iterate: with a = 1 the average
    is the last iterate, so the fused run equals SGD's, replica by replica."""
    kw = dict(BASE, batch=2, learning_rate=0.3, replicas=300, seed=4, engine="fused")
    avg = simulate(IterateAveraging(), averaging=1.0, **kw)
    sgd = simulate(SGD(), **kw)
    assert np.allclose(avg.risk, sgd.risk, rtol=1e-12) and np.allclose(avg.second_moments, sgd.second_moments)
    small = simulate(IterateAveraging(), averaging=0.05, **kw)
    assert np.allclose(small.second_moments, sgd.second_moments)     # e_k does not depend on the averaging
    assert not np.allclose(small.risk[5:], sgd.risk[5:], rtol=1e-3)  # the risk is the average's
    assert sp.sympify(IterateAveraging().observable) != IterateAveraging().state[0]
