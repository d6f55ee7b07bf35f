"""Algorithms as values: equality by parameters, declared data, validation at construction, one
binder for hyperparameters, and the affine rules (weight decay, averaging, preconditioning) against
independent oracles (dense d x d covariance recursions, exact identities)."""
import copy
import math
import pickle

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from user_algorithms import Scaled, UserAveraged, UserShrink

from theory import (
    SGD,
    Algorithm,
    GeneralizedMomentum,
    HeavyBall,
    IterateAveraging,
    Nesterov,
    PreconditionedSGD,
    bind_hyperparameters,
    derive,
    polyak_ruppert,
)
from theory import symbols as sym
from theory.algorithms import GRADIENT, OPTIMUM

E = sp.Symbol("e_i", real=True)


# ---------------------------------------------------------------------------------------------- values
def test_algorithms_are_values():
    assert SGD() == SGD() == SGD(weight_decay=0) and hash(SGD()) == hash(SGD(0))
    assert SGD(weight_decay=0.1) != SGD(weight_decay=0.2) and SGD(0.1) == SGD(0.1)
    assert HeavyBall() != Nesterov() and Scaled(2) != Scaled(1) and Scaled(2) == Scaled(2)
    assert IterateAveraging(SGD()) != IterateAveraging(HeavyBall())
    assert repr(SGD()) == "SGD()" and repr(SGD(weight_decay=0.5)) == "SGD(weight_decay=0.5)"
    assert len({SGD(), SGD(0), SGD(0.5), HeavyBall(), HeavyBall()}) == 3
    with pytest.raises(AttributeError, match="immutable"):
        SGD().weight_decay = 1.0
    with pytest.raises(AttributeError, match="immutable"):
        Scaled(2).c = 3
    for alg in (SGD(0.2), IterateAveraging(HeavyBall()), PreconditionedSGD(), Scaled(3)):   # claims pickle them
        again = pickle.loads(pickle.dumps(alg))
        assert again == alg and hash(again) == hash(alg) and copy.deepcopy(alg) == alg


def test_derive_is_keyed_by_the_value_not_the_type():
    a, b = derive(Scaled(1)), derive(Scaled(2))
    assert a is not b and a.A != b.A
    assert derive(Scaled(1)).A == derive(SGD()).A
    # oracle: with step c gamma the SGD map is that of SGD at learning rate c gamma
    lam = [1.0, 0.3]
    assert b.critical_learning_rate(lam) == pytest.approx(derive(SGD()).critical_learning_rate(lam) / 2, rel=1e-12)


_PARAMETRISED = {
    "sgd_weight_decay": (lambda p: SGD(weight_decay=p), st.floats(0.0, 5.0)),   # subnormals included
    "scaled": (Scaled, st.integers(1, 6)),
    "averaging_base": (lambda p: IterateAveraging([SGD(), HeavyBall(), Nesterov(), SGD(0.5)][p]), st.integers(0, 3)),
}


@pytest.mark.parametrize("name", sorted(_PARAMETRISED))
@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_derivations_of_different_parameters_differ(name, data):
    make, values = _PARAMETRISED[name]
    p1 = data.draw(values)
    p2 = data.draw(values.filter(lambda x: x != p1))
    r1, r2 = derive(make(p1)), derive(make(p2))
    assert make(p1) != make(p2)
    assert r1.algorithm == make(p1) and r2.algorithm == make(p2)
    assert (r1.A, r1.f, r1.w, r1.mean_matrix) != (r2.A, r2.f, r2.w, r2.mean_matrix)
    assert derive(make(p1)) is derive(make(p1)) or derive(make(p1)).A == r1.A


def test_declared_data_is_public():
    hb = HeavyBall()
    assert [h.name for h in hb.hyperparameter_spec] == ["learning_rate", "momentum"]
    assert hb.hyperparameters == {"learning_rate": sym.gamma, "momentum": sym.beta}
    assert str(hb.hyperparameter_spec[1].interval) == "(-1, 1)"
    assert Nesterov().observable == Nesterov().state[0]          # risk on e_k, not on the extrapolated point
    assert Nesterov().gradient_point != Nesterov().observable
    assert IterateAveraging().observable == IterateAveraging().state[-1]
    names = IterateAveraging().latex_names
    assert names[IterateAveraging().state[-1]] == r"\bar e_{k,i}" and names[GRADIENT] == r"g_{k,i}"
    assert HeavyBall().latex_names[sp.Symbol("c_i", real=True)] == r"\mathbb{E} e_{k,i} e_{k-1,i}"
    spec = {h.name: h for h in GeneralizedMomentum().hyperparameter_spec}
    assert spec["delta"].schedulable and spec["gamma1"].interval.contains(0.0)
    assert {h.name: h.per_direction for h in PreconditionedSGD().hyperparameter_spec}["preconditioner"]
    assert SGD(weight_decay=0.3).affine and not SGD().affine
    # the derived recursion records the observable's weights
    assert list(derive(IterateAveraging()).observable) == [0, 1]


def test_second_moment_symbols_unchanged():
    assert HeavyBall().second_moment_symbol(0, 1) == sp.Symbol("c_i", real=True)
    assert GeneralizedMomentum().second_moment_symbol(1, 1) == sp.Symbol("m_i^y", nonnegative=True)
    assert SGD().second_moment_symbol(0, 0) == sym.m


# ---------------------------------------------------------------------------------------------- validation
def _rule(update, state=(E,), point=E, **extra):
    attrs = {"state": state, "gradient_point": point, "update": update, **extra}
    return type("UserRule", (Algorithm,), attrs)


@pytest.mark.parametrize("update, match", [
    ((E - sym.gamma * GRADIENT**2,), "linear in the gradient"),
    ((E - sym.gamma * GRADIENT, E), "2 expression"),
    ((E - sp.Symbol("eta") * GRADIENT,), r"\['eta'\], which is neither a state variable"),
    ((E - sym.gamma * GRADIENT - OPTIMUM,), "declare the hyperparameter 'optimum'"),
    ((E**2 - sym.gamma * GRADIENT,), "must be linear"),
    ((E - sym.gamma * GRADIENT + 1,), "constant term 1"),
    ((E - sym.gamma * sp.sin(GRADIENT),), "linear in the gradient"),
])
def test_bad_rules_are_refused_at_construction(update, match):
    with pytest.raises(ValueError, match=match):
        _rule(update)()


def test_memoised_checks_refuse_every_time_and_name_the_class():
    from theory.algorithms import _check_linear
    bad = _rule((E - sym.gamma * GRADIENT**2,))
    for _ in range(3):   # a failing check is not cached: the same error each time
        with pytest.raises(ValueError, match=r"UserRule.update\[0\] must be linear in the gradient g_i; got degree 2"):
            bad()
    other = type("OtherRule", (Algorithm,), {"state": (E,), "gradient_point": E,
                                             "update": (E - sym.gamma * GRADIENT**2,)})
    with pytest.raises(ValueError, match=r"OtherRule.update\[0\]"):   # same expression, its own class named
        other()
    hits = _check_linear.cache_info().hits
    assert SGD(weight_decay=0.3) == SGD(weight_decay=0.3) and HeavyBall() == HeavyBall()
    assert _check_linear.cache_info().hits > hits   # the valid rules' checks are reused


def test_bad_declarations_are_refused():
    with pytest.raises(TypeError, match="SymPy symbols"):
        _rule((E,), state=("e",))()
    with pytest.raises(TypeError, match="SymPy expression"):
        _rule((object(),))()
    with pytest.raises(ValueError, match="gradient_point must be a linear form in the state only"):
        _rule((E - sym.gamma * GRADIENT,), point=GRADIENT)()
    with pytest.raises(ValueError, match="observable"):
        _rule((E - sym.gamma * GRADIENT,), observable=E**2)()
    with pytest.raises(ValueError, match="weight_decay must be finite and >= 0"):
        SGD(weight_decay=-0.1)
    with pytest.raises(ValueError, match="weight_decay must be a real number"):
        SGD(weight_decay=True)
    with pytest.raises(ValueError, match="base must be"):
        IterateAveraging(IterateAveraging())


# ---------------------------------------------------------------------------------------------- binding
def test_bind_hyperparameters_one_message_everywhere():
    from verify import simulate
    rec = derive(HeavyBall())
    for call in (lambda: bind_hyperparameters(HeavyBall(), {"learning_rate": 0.1, "momentum": 1.0}),
                 lambda: rec.trajectory([1.0], 0.1, momentum=1.0, steps=2),
                 lambda: rec.critical_learning_rate([1.0], momentum=1.0),
                 lambda: simulate(HeavyBall(), eigenvalues=[1.0], learning_rate=0.1, momentum=1.0, steps=2)):
        with pytest.raises(ValueError, match=r"momentum must lie in the open interval \(-1, 1\); got 1.0"):
            call()


@pytest.mark.parametrize("values, match", [
    ({"learning_rate": True}, "learning_rate must be a real number"),
    ({"learning_rate": "0.1"}, "learning_rate must be a real number"),
    ({"learning_rate": 0.0}, r"learning_rate must be finite and > 0; got 0.0"),
    ({"learning_rate": float("nan")}, "learning_rate must be finite and > 0"),
    ({"learning_rate": [0.1, 0.2]}, "learning_rate must be a single real number"),
    ({"learning_rate": 0.1, "momentum": 0.5}, r"unknown hyperparameter\(s\) \['momentum'\]"),
    ({"learning_rate": lambda k: 0.1}, "cannot be a schedule"),
    ({}, r"missing hyperparameter\(s\) \['learning_rate'\] for SGD\(\) \(allowed: learning_rate in \(0, inf\)\)"),
])
def test_bind_rejects_with_the_argument_and_range(values, match):
    with pytest.raises(ValueError, match=match):
        bind_hyperparameters(SGD(), values)


def test_bind_per_direction_and_schedules():
    out = bind_hyperparameters(PreconditionedSGD(), {"learning_rate": 0.1, "preconditioner": [1.0, 2.0]},
                               dimension=2)
    assert out["preconditioner"].tolist() == [1.0, 2.0]
    with pytest.raises(ValueError, match="has 3 entries but there are 2 eigenvalues"):
        bind_hyperparameters(PreconditionedSGD(), {"learning_rate": 0.1, "preconditioner": [1.0, 2, 3]}, dimension=2)
    with pytest.raises(ValueError, match="preconditioner must be finite and > 0 in every direction; got -1.0"):
        bind_hyperparameters(PreconditionedSGD(), {"learning_rate": 0.1, "preconditioner": [1.0, -1.0]})
    gm = {"learning_rate": 0.1, "gamma1": 0.0, "gamma3": 0.1, "delta": lambda k: 3.857 / (1 + k)}
    assert callable(bind_hyperparameters(GeneralizedMomentum(), gm, steps=50, schedules=True)["delta"])
    with pytest.raises(ValueError, match=r"delta is a callable of the step k; callables \(schedules\) are accepted by trajectory"):
        bind_hyperparameters(GeneralizedMomentum(), gm)
    with pytest.raises(ValueError, match=r"averaging must lie in the interval \(0, 1\]; got 1.5 at step k = 0"):
        bind_hyperparameters(IterateAveraging(), {"learning_rate": 0.1, "averaging": lambda k: 1.5}, steps=3,
                             schedules=True)
    assert bind_hyperparameters(SGD(0.2), {"learning_rate": 0.1})["optimum"] == 0.0   # documented default


# ---------------------------------------------------------------------------------------------- oracles
def _dense(lam, gamma, batch, sigma2, e0, steps, theta=0.0, decay=0.0, precond=1.0, average=None):
    """Independent oracle: the full d x d second moments of e' = (1 - gamma w) e - gamma P g - gamma w theta*
    on Gaussian data (E x x^T M x x^T = 2KMK + tr(KM)K), iterated densely; optional EMA average (weight a).
    Returns (risk on the observable, diag E e e^T, E e)."""
    lam = np.asarray(lam, float)
    d = len(lam)
    K = np.diag(lam)
    P = np.diag(np.broadcast_to(np.asarray(precond, float), (d,)))
    th = np.broadcast_to(np.asarray(theta, float), (d,))
    a_ = 1 - gamma * decay
    T = a_ * np.eye(d) - gamma * P @ K                     # mean map of e
    c = -gamma * decay * th                                 # affine part
    e0 = np.broadcast_to(np.asarray(e0, float), (d,))
    S, mu = np.outer(e0, e0), e0.copy()
    Sb, Sx, mub = S.copy(), S.copy(), mu.copy()            # E ebar ebar^T, E e ebar^T, E ebar
    risks, diag, means = [], [], []
    for k in range(steps + 1):
        obs = S if average is None else Sb
        risks.append(0.5 * (np.trace(K @ obs) + sigma2))
        diag.append(np.diag(S).copy())
        means.append(mu.copy())
        Egg = (2 * K @ S @ K + np.trace(K @ S) * K + sigma2 * K) / batch + (1 - 1 / batch) * K @ S @ K
        S_new = (T @ S @ T.T + gamma**2 * (P @ Egg @ P - P @ K @ S @ K @ P)
                 + np.outer(T @ mu, c) + np.outer(c, T @ mu) + np.outer(c, c))
        mu_new = T @ mu + c
        if average is not None:
            # ebar' = (1 - a) ebar + a e' with e' = T e + c + xi, xi uncorrelated with (e, ebar)
            a = average
            Y = T @ Sx + np.outer(c, mub)                  # E e' ebar^T
            Sb = (1 - a) ** 2 * Sb + a * (1 - a) * (Y + Y.T) + a**2 * S_new
            Sx = (1 - a) * Y + a * S_new                   # E e' ebar'^T
            mub = (1 - a) * mub + a * mu_new
        S, mu = S_new, mu_new
    return np.array(risks), np.array(diag), np.array(means)


@pytest.mark.parametrize("decay", [0.0, 0.25, 1.5])
def test_weight_decay_matches_dense_oracle(decay):
    lam, theta = [1.0, 0.4, 0.1], [1.0, -2.0, 0.5]
    kw = dict(learning_rate=0.2, batch=2, noise_variance=0.3, initial=[0.5, 1.0, -1.0], steps=40)
    hyper = {"optimum": theta} if decay else {}
    tr = derive(SGD(weight_decay=decay)).trajectory(lam, **kw, **hyper)
    risk, diag, mean = _dense(lam, kw["learning_rate"], 2, 0.3, kw["initial"], 40, theta=theta, decay=decay)
    np.testing.assert_allclose(tr.risk, risk, rtol=1e-11)
    np.testing.assert_allclose(tr.second_moments, diag, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(tr.mean, mean, rtol=1e-10, atol=1e-14)


def test_weight_decay_stationary_mean_and_ridge_bias():
    lam, theta, w = np.array([1.0, 0.4, 0.1]), np.array([1.0, -2.0, 0.5]), 0.3
    rec = derive(SGD(weight_decay=w))
    # the mean converges to the ridge solution e = -w theta*/(lambda + w), whatever the learning rate
    tr = rec.trajectory(lam, 0.3, batch=4, initial=0.0, optimum=theta, steps=3000)
    np.testing.assert_allclose(tr.mean[-1], -w * theta / (lam + w), rtol=1e-9)
    # the stationary risk without label noise tends to the ridge bias as gamma -> 0, with an O(gamma) excess
    bias = 0.5 * np.sum(lam * w**2 * theta**2 / (lam + w) ** 2)
    excess = [rec.stationary_risk(lam, g, batch=1, noise_variance=0.0, optimum=theta) - bias for g in (0.02, 0.01, 0.005)]
    assert all(x > 0 for x in excess)
    assert excess[0] / excess[1] == pytest.approx(2.0, rel=0.05) and excess[1] / excess[2] == pytest.approx(2.0, rel=0.03)
    # stationary risk = the dense oracle's fixed point, also at high precision
    dense = _dense(lam, 0.3, 2, 0.5, 0.0, 4000, theta=theta, decay=w)[0][-1]
    assert rec.stationary_risk(lam, 0.3, batch=2, noise_variance=0.5, optimum=theta) == pytest.approx(dense, rel=1e-10)
    assert float(rec.stationary_risk(lam, 0.3, batch=2, noise_variance=0.5, optimum=theta, dps=30)) == \
        pytest.approx(dense, rel=1e-10)
    # decay increases the stationary risk here (more bias), and w = 0 gives SGD's
    r = [derive(SGD(weight_decay=x)).stationary_risk(lam, 0.3, batch=2, noise_variance=0.5,
                                                     **({"optimum": theta} if x else {})) for x in (0.0, 0.1, 0.3)]
    assert r[0] == pytest.approx(derive(SGD()).stationary_risk(lam, 0.3, batch=2, noise_variance=0.5), rel=1e-12)
    assert r[0] < r[1] < r[2]


def test_theta_star_squared_is_forcing_not_a_mode():
    rec = derive(SGD(weight_decay=0.5))
    assert OPTIMUM**2 in rec.f.free_symbols or any(OPTIMUM in x.free_symbols for x in rec.f)
    assert len(rec.moments) == 2            # E e^2 and theta* E e; theta*^2 is not a state entry
    # the critical learning rate is the spectral one of the dense oracle (no unit eigenvalue from theta*^2)
    lam = [1.0, 0.5]
    gc = rec.critical_learning_rate(lam, batch=1)
    assert rec.spectral_radius(lam, gc * 0.999) < 1 < rec.spectral_radius(lam, gc * 1.001)


def test_preconditioner_matches_dense_oracle_and_scalar_identity():
    lam, P = [1.0, 0.4, 0.1], [0.5, 1.0, 4.0]
    rec = derive(PreconditionedSGD())
    tr = rec.trajectory(lam, 0.1, batch=3, noise_variance=0.2, initial=1.0, steps=30, preconditioner=P)
    risk, diag, _ = _dense(lam, 0.1, 3, 0.2, 1.0, 30, precond=P)
    np.testing.assert_allclose(tr.risk, risk, rtol=1e-11)
    np.testing.assert_allclose(tr.second_moments, diag, rtol=1e-11)
    # a scalar preconditioner c is SGD at learning rate c gamma
    sgd = derive(SGD())
    assert rec.critical_learning_rate(lam, batch=2, preconditioner=2.0) == pytest.approx(
        sgd.critical_learning_rate(lam, batch=2) / 2, rel=1e-12)
    gc = rec.critical_learning_rate(lam, batch=2, preconditioner=P)
    assert rec.spectral_radius(lam, gc * 0.999, batch=2, preconditioner=P) < 1 < \
        rec.spectral_radius(lam, gc * 1.001, batch=2, preconditioner=P)


def test_averaging_exact_identities():
    lam = [1.0, 0.3]
    kw = dict(batch=2, noise_variance=0.4, initial=[1.0, -0.5], steps=25)
    avg, sgd = derive(IterateAveraging()), derive(SGD())
    # weight 1: the average is the last iterate
    np.testing.assert_allclose(avg.risk(lam, 0.2, averaging=1.0, **kw), sgd.risk(lam, 0.2, **kw), rtol=1e-12)
    # Polyak-Ruppert: E ebar_k is the running mean of E e_j = (1 - gamma lambda)^j e_0
    tr = avg.trajectory(lam, 0.2, averaging=polyak_ruppert, **kw)
    e_mean = sgd.trajectory(lam, 0.2, **kw).mean
    assert np.allclose(tr.mean, e_mean, rtol=1e-12)                          # mean reports E e (base)
    # the EMA risk (on the average) against the dense oracle
    risk, diag, _ = _dense(lam, 0.2, 2, 0.4, [1.0, -0.5], 25, average=0.3)
    got = avg.trajectory(lam, 0.2, averaging=0.3, **kw)
    np.testing.assert_allclose(got.risk, risk, rtol=1e-11)
    np.testing.assert_allclose(got.second_moments, diag, rtol=1e-11)
    # averaging does not change the stability of the base iterate (EMA weight in (0, 1])
    for a in (1.0, 0.3, 0.05):
        assert avg.critical_learning_rate(lam, batch=2, averaging=a) == pytest.approx(
            sgd.critical_learning_rate(lam, batch=2), rel=1e-9)


def test_user_rules_derive():
    rec = derive(UserAveraged())
    assert list(rec.observable) == [0, 1]
    assert rec.risk([1.0], 0.1, steps=2, initial=1.0)[1] == pytest.approx(
        derive(IterateAveraging()).risk([1.0], 0.1, steps=2, initial=1.0, averaging=0.5)[1], rel=1e-13)
    shrink = derive(UserShrink())
    assert shrink.algorithm.affine
    lam = [1.0, 0.5]
    # shrink c = gamma w is weight decay w
    a = shrink.trajectory(lam, 0.2, shrink=0.2 * 0.4, optimum=[1.0, 2.0], steps=10, noise_variance=0.1)
    b = derive(SGD(weight_decay=0.4)).trajectory(lam, 0.2, optimum=[1.0, 2.0], steps=10, noise_variance=0.1)
    np.testing.assert_allclose(a.risk, b.risk, rtol=1e-12)
    assert math.isfinite(shrink.stationary_risk(lam, 0.2, shrink=0.1, optimum=1.0, noise_variance=0.1))
