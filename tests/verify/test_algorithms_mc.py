"""Monte Carlo of the value-based algorithms: user-defined rules (parametrised, averaged, affine),
weight decay, iterate averaging, a diagonal preconditioner and DANA as its authors run it. Each
derived trajectory passes ``verify.compare`` (family-wise alpha = 1e-6) and a planted wrong theory
fails it."""
import numpy as np
import pytest
from user_algorithms import Scaled, UserAveraged, UserShrink

from theory import (
    SGD,
    Gaussian,
    GeneralizedMomentum,
    IterateAveraging,
    PreconditionedSGD,
    derive,
    polyak_ruppert,
)
from verify import compare, simulate

LAM = np.array([1.0, 0.6, 0.3, 0.15, 0.08, 0.04])
THETA = np.array([1.0, -1.5, 0.8, 2.0, -0.5, 1.2])
BASE = dict(eigenvalues=LAM, batch=2, noise_variance=0.4, initial=0.5, steps=200)
Q = ("risk", "second_moments", "mean")


def _run(alg, replicas=3000, seed=3, **kw):
    return simulate(alg, data=Gaussian(), replicas=replicas, seed=seed, **kw)


@pytest.mark.parametrize("alg, hyper", [
    (Scaled(2), {}),
    (UserAveraged(), {}),
    (UserShrink(), {"shrink": 0.05, "optimum": THETA}),
])
def test_user_defined_algorithms_derive_simulate_and_compare(alg, hyper):
    rec = derive(alg)
    gc = rec.critical_learning_rate(LAM, batch=2, **{k: v for k, v in hyper.items() if k != "optimum"})
    kw = dict(BASE, learning_rate=0.4 * gc, **hyper)
    res = _run(alg, **kw)
    v = compare(rec.trajectory(**kw), res, alpha=1e-6, quantities=Q)
    assert v.passed, v.summary()


def test_a_parametrised_user_algorithm_is_not_confused_with_another_value():
    kw = dict(BASE, learning_rate=0.1)
    res = _run(Scaled(2), **kw)
    assert not compare(derive(Scaled(1)).trajectory(**kw), res, alpha=1e-6).passed


def test_weight_decay_agrees_and_planted_errors_fail():
    alg = SGD(weight_decay=0.2)
    rec = derive(alg)
    kw = dict(BASE, learning_rate=0.5 * rec.critical_learning_rate(LAM, batch=2), optimum=THETA)
    res = _run(alg, **kw)
    assert compare(rec.trajectory(**kw), res, alpha=1e-6, quantities=Q).passed
    # a 10% error in the decay, and the decay's pull forgotten (theta* = 0), are both detected
    assert not compare(derive(SGD(weight_decay=0.22)).trajectory(**kw), res, alpha=1e-6, quantities=Q).passed
    assert not compare(rec.trajectory(**{**kw, "optimum": 0.0}), res, alpha=1e-6, quantities=Q).passed


@pytest.mark.parametrize("averaging", [0.1, polyak_ruppert])
def test_iterate_averaging_agrees_and_risk_on_the_last_iterate_fails(averaging):
    alg = IterateAveraging()
    rec = derive(alg)
    kw = dict(BASE, learning_rate=0.5 * derive(SGD()).critical_learning_rate(LAM, batch=2), averaging=averaging)
    res = _run(alg, **kw)
    assert compare(rec.trajectory(**kw), res, alpha=1e-6, quantities=Q).passed
    # the wrong observable: the base iterate's risk instead of the averaged iterate's
    wrong = derive(SGD()).trajectory(**{k: v for k, v in kw.items() if k != "averaging"})
    assert not compare(wrong, res, alpha=1e-6, quantities=("risk",)).passed


def test_preconditioned_sgd_agrees_and_planted_errors_fail():
    P = 1.0 / np.sqrt(LAM)
    alg = PreconditionedSGD()
    rec = derive(alg)
    gc = rec.critical_learning_rate(LAM, batch=2, preconditioner=P)
    kw = dict(BASE, learning_rate=0.5 * gc, preconditioner=P)
    res = _run(alg, **kw)
    assert compare(rec.trajectory(**kw), res, alpha=1e-6, quantities=Q).passed
    # the preconditioner reversed across directions, or 5% too large in one direction, is detected
    assert not compare(rec.trajectory(**{**kw, "preconditioner": P[::-1]}), res, alpha=1e-6, quantities=Q).passed
    bumped = P.copy()
    bumped[0] *= 1.05
    assert not compare(rec.trajectory(**{**kw, "preconditioner": bumped}), res, alpha=1e-6, quantities=Q).passed


def _dana_notebook(d=24, alpha=0.7, beta=0.8, batch=1):
    """The settings of get_optim_hparams in colabs/DANA_ODE_example.ipynb (LosVolterrosHermanos/Experimental),
    on a power-law problem lambda_j = j^(-2 alpha) with d directions (traceK over V = 4d, as there)."""
    trace_k = float(np.sum(np.arange(1, 4 * d + 1, dtype=float) ** (-2 * alpha)))
    gamma2 = 0.375 * min(2.0 / (batch + 1), 1.0 / trace_k)
    delta = max(2.0 + (2.0 * beta - 1) / alpha, 2.0 - 1.0 / alpha) + 1.0       # 3.857 for (0.7, 0.8)
    lam = np.arange(1, d + 1, dtype=float) ** (-2 * alpha)
    theta = np.arange(1, d + 1, dtype=float) ** (-beta)                          # so e_0 = -theta* from theta_0 = 0
    return lam, gamma2, delta, trace_k, -theta


def test_dana_notebook_schedule_runs_in_theory_and_monte_carlo():
    lam, gamma2, delta, _, e0 = _dana_notebook()
    assert delta == pytest.approx(3.857, abs=5e-4)

    def delta_k(k):                      # Delta(k) = delta/(1 + k): 3.857, 1.93, 1.29 > 1 for the first steps
        return delta / (1.0 + k)

    rec = derive(GeneralizedMomentum(), Gaussian())
    kw = dict(eigenvalues=lam, learning_rate=gamma2, batch=1, noise_variance=0.0, initial=e0, steps=400)
    # dana_decay: gamma_1 = 1, gamma_3(k) = 0.1 (1 + k)^(-1/(2 alpha)), Delta(k) = delta/(1 + k)
    dana = dict(gamma1=1.0, gamma3=lambda k: 0.1 * (1.0 + k) ** (-1.0 / 1.4), delta=delta_k)
    res = _run(GeneralizedMomentum(), replicas=3000, seed=7, **kw, **dana)
    assert compare(rec.trajectory(**kw, **dana), res, alpha=1e-6, quantities=Q).passed
    # Delta clipped to 1 (what a range check Delta <= 1 would force) and gamma_3 5% too large are detected
    for wrong in ({**dana, "delta": lambda k: min(1.0, delta_k(k))},
                  {**dana, "gamma3": lambda k: 1.05 * dana["gamma3"](k)}):
        assert not compare(rec.trajectory(**kw, **wrong), res, alpha=1e-6, quantities=Q).passed
    # dana_sgd: gamma1 = 0, gamma3 = 0, delta = 0 is SGD at learning rate gamma2 exactly
    sgd_like = rec.trajectory(**kw, gamma1=0.0, gamma3=0.0, delta=0.0)
    np.testing.assert_allclose(sgd_like.risk, derive(SGD()).risk(**kw), rtol=1e-12)
