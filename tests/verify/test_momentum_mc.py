"""Monte Carlo checks of the momentum recursions: calibrated agreement and power against
planted errors of a few percent in one coefficient."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import Gaussian, IndependentCoordinates, Trajectory, derive
from theory.algorithms import GeneralizedMomentum, HeavyBall, Nesterov
from verify import compare, simulate
from verify import strategies as sst

LAM = 1.0 / np.arange(1, 17)


def _planted(rec, kw, row, col, factor):
    """Trajectory of the recursion with the coefficient A_i[row, col] multiplied by ``factor``."""
    hyper = {k: v for k, v in kw.items() if k not in ("eigenvalues", "learning_rate", "batch",
                                                      "noise_variance", "initial", "steps")}
    lmap = rec.linear_map(kw["eigenvalues"], kw["learning_rate"], kw["batch"], kw["noise_variance"], **hyper)
    lmap.A = lmap.A.copy()
    lmap.A[:, row, col] *= factor
    s0, _ = rec.initial_moments(kw["initial"], len(kw["eigenvalues"]))
    states = lmap.iterate(s0, kw["steps"])
    return Trajectory(risk=lmap.observable(states), second_moments=states[:, :, 0])


@pytest.mark.parametrize("alg", [HeavyBall(), Nesterov()])
def test_momentum_agrees_and_planted_cross_moment_error_is_caught(alg):
    data = IndependentCoordinates(kurtosis=np.tile([1.0, 6.0], 8))
    rec = derive(alg, data)
    gc = rec.critical_learning_rate(LAM, batch=2, momentum=0.6)
    kw = dict(eigenvalues=LAM, learning_rate=0.4 * gc, batch=2, noise_variance=0.5, initial=1.0,
              steps=300, momentum=0.6)
    res = simulate(alg, data=data, replicas=4000, seed=11, **kw)
    assert compare(rec.trajectory(**kw), res, alpha=1e-6).passed
    # 3% error in the coefficient of E e_k e_(k-1) in the recursion of E e_(k+1)^2
    assert not compare(_planted(rec, kw, 0, 1, 1.03), res, alpha=1e-6).passed
    # 3% error in the momentum itself
    assert not compare(rec.trajectory(**{**kw, "momentum": 0.6 * 1.03}), res, alpha=1e-6).passed


@settings(max_examples=4)
@given(problem=sst.problems(HeavyBall(), data=sst.data_models(gaussian=True), min_dimension=4, max_dimension=12,
                            fraction=sst.critical_fractions(True, 0.25, 0.5),
                            noise_variance=sst.noise_variances(0.25, 1.0),
                            hyper=st.fixed_dictionaries({"momentum": sst.momenta(-0.6, 0.8)})))
def test_heavy_ball_on_drawn_problems(problem):
    kw = problem.kwargs(150)
    res = simulate(problem.algorithm, data=problem.data, replicas=2000, seed=problem.seed, **kw)
    v = compare(problem.recursion().trajectory(**kw), res, alpha=1e-6 / 4,
                quantities=("risk", "second_moments", "mean"))
    assert v.passed, v.summary()


def test_dana_schedules_agree_and_planted_schedule_error_is_caught():
    rec = derive(GeneralizedMomentum(), Gaussian())

    def g3(k):
        return 0.3 / (1 + k)

    def delta(k):
        return 4.0 / (4.0 + k)

    kw = dict(eigenvalues=LAM, learning_rate=0.1, batch=1, noise_variance=0.5, initial=1.0, steps=300,
              gamma1=1.0)
    res = simulate(GeneralizedMomentum(), data=Gaussian(), replicas=4000, seed=5, gamma3=g3, delta=delta, **kw)
    assert compare(rec.trajectory(gamma3=g3, delta=delta, **kw), res, alpha=1e-6,
                   quantities=("risk", "second_moments", "mean")).passed
    # the schedule shifted by one step (an off-by-one in k) is detected
    assert not compare(rec.trajectory(gamma3=lambda k: g3(k + 1), delta=lambda k: delta(k + 1), **kw),
                       res, alpha=1e-6).passed
