"""verify.stats.laws: the gamma_c^(4) guard decided without locating gamma_c^(4), and the lazy field."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from theory import SGD, Gaussian, HeavyBall, Nesterov, Rademacher, derive, derive_fourth
from theory.algorithms import PreconditionedSGD
from verify import strategies as sst
from verify.stats import laws
from verify.stats.laws import (
    HeavyTailError,
    below_fourth_moment_critical,
    exact_laws,
    fourth_moment_critical_learning_rate,
)

EDGES = [1, 3, 6, 10]


@pytest.mark.parametrize("algorithm, data, hyper", [
    (SGD(), Gaussian(), {}),
    (HeavyBall(), Rademacher(), {"momentum": 0.4}),
    (Nesterov(), Gaussian(), {"momentum": -0.3}),
])
def test_guard_refuses_just_above_and_accepts_just_below(algorithm, data, hyper):
    lam = np.array([1.0, 0.4, 0.1])
    rec = derive(algorithm, data)
    g4 = derive_fourth(algorithm, data).critical_learning_rate(lam, batch=2, **hyper)   # the oracle: the root
    laws._CACHE.clear()   # decide without a cached gamma_c^(4)
    below = rec.trajectory(lam, g4 * (1 - 1e-6), batch=2, noise_variance=0.1, steps=10, **hyper)
    got = exact_laws(below, EDGES)
    assert got.block_risk_variance.shape == (3,)
    assert all("gc4" not in k for k in laws._CACHE)   # gamma_c^(4) was not located
    assert got.fourth_moment_critical_learning_rate == pytest.approx(g4, rel=1e-12)   # located when read
    laws._CACHE.clear()
    above = rec.trajectory(lam, g4 * (1 + 1e-6), batch=2, noise_variance=0.1, steps=10, **hyper)
    with pytest.raises(HeavyTailError, match=r"gamma_c\^\(4\) = " + f"{g4:.6g}"):
        exact_laws(above, EDGES)
    assert exact_laws(above, EDGES, guard=False) is not None


def test_below_is_none_where_gamma_c4_is_not_derivable():
    lam = [1.0, 0.5]
    assert below_fourth_moment_critical(derive(HeavyBall()), lam, 0.1) is None             # momentum missing
    assert below_fourth_moment_critical(derive(PreconditionedSGD(), Gaussian()), lam, 0.1,
                                        preconditioner=np.ones(2)) is None
    assert fourth_moment_critical_learning_rate(derive(HeavyBall()), lam) is None


def test_below_uses_a_cached_root_consistently():
    lam = np.array([1.0, 0.25])
    rec = derive(SGD(), Gaussian())
    g4 = fourth_moment_critical_learning_rate(rec, lam, 1)   # now cached
    assert below_fourth_moment_critical(rec, lam, np.nextafter(g4, 0)) is True
    assert below_fourth_moment_critical(rec, lam, g4) is False


@settings(max_examples=6, deadline=None)
@given(sst.problems(max_dimension=5, fraction=st.floats(0.5, 0.999)))
def test_drawn_problems_are_below_gamma_c4_sgd(p):
    g4 = derive_fourth(p.algorithm, p.data).critical_learning_rate(p.eigenvalues, batch=p.batch)
    assert p.learning_rate < g4


@settings(max_examples=4, deadline=None)
@given(sst.problems(HeavyBall(), data=Gaussian(), max_dimension=4, fraction=st.floats(0.5, 0.999),
                    hyper=st.fixed_dictionaries({"momentum": sst.momenta(-0.5, 0.8)})))
def test_drawn_problems_are_below_gamma_c4_heavy_ball(p):
    g4 = derive_fourth(p.algorithm, p.data).critical_learning_rate(p.eigenvalues, batch=p.batch, **p.hyper)
    assert p.learning_rate < g4
