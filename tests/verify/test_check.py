"""check_recursion: independent examples per seed, coverage in every call, shrinking, arguments."""
import math

import numpy as np
import pytest
from hypothesis import strategies as st

from theory import HeavyBall, IndependentCoordinates, SparseGaussian
from theory.data import Gaussian, Rademacher
from theory.symbols import B, S, gamma, kappa, lam, m, sigma2
from verify import check_recursion
from verify.check import (FRACTIONS, MIN_GAP, Design, _hypothesis_draws, default_problems, draw_designs,
                          draw_problems, learning_rate_limit, minimum_examples, shrink_problem)
from verify.stats import Verdict

RIGHT = (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + (kappa - 2) / B)) * m + gamma**2 * lam / B * (S + sigma2)
WRONG = (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + (kappa - 2) / B)) * m + gamma**2 * lam * (S + sigma2)
SMALL = dict(examples=2, steps=60, replicas=500)


def _first(seed):
    d = draw_designs(2, seed)[0]
    return (d.dimension, d.batch, repr(d.data), tuple(d.eigenvalues), d.seed)


# --------------------------------------------------------------------------- (a) independent examples
def test_different_seeds_give_different_first_examples():
    assert _first(0) != _first(1)
    firsts = [_first(s) for s in range(50)]
    assert len(set(firsts)) == 50                       # no example shared between seeds
    assert len({f[0] for f in firsts}) > 10              # d varies
    assert {f[1] for f in firsts} == {1, 2, 3, 4}        # so does B
    assert draw_designs(2, 7)[0].seed == draw_designs(2, 7)[0].seed   # reproducible


def test_a_strategy_is_drawn_past_its_minimal_example():
    """Through ``problems=`` a Hypothesis strategy is drawn from the seed, not from the minimal example."""
    def strategy_first(seed):
        p = _hypothesis_draws(st.integers(0, 10**9), 1, seed)[0]
        return p
    firsts = {strategy_first(s) for s in range(5)}
    assert 0 not in firsts and len(firsts) == 5


# --------------------------------------------------------------------------- (b) coverage, no Monte Carlo
def _assert_covers(designs, data=None):
    assert any(d.batch >= 2 for d in designs)
    for d in designs:
        lam_ = d.eigenvalues
        assert lam_[0] == 1.0 and np.all(lam_ > 0)
        assert np.all(lam_[:-1] / lam_[1:] >= 1 + MIN_GAP * (1 - 1e-9))      # distinct, decreasing
        assert FRACTIONS[0] <= d.fraction <= FRACTIONS[1] <= 0.5
        assert 1 <= d.batch <= 4 and d.initial.shape == lam_.shape
        assert np.all(np.abs(d.initial) >= 0.05)
    if data is None:
        assert any(type(d.data) is Gaussian for d in designs)
        assert any(type(d.data) is not Gaussian for d in designs)
    else:
        assert all(d.data is data for d in designs)


@pytest.mark.parametrize("examples", [2, 3, 4])
def test_every_seed_covers_batch_data_and_distinct_eigenvalues(examples):
    for seed in range(500):
        _assert_covers(draw_designs(examples, seed))


def test_four_examples_cover_every_kind_of_data():
    for seed in range(100):
        kinds = {type(d.data) for d in draw_designs(4, seed)}
        assert kinds == {Gaussian, IndependentCoordinates, SparseGaussian, Rademacher}


def test_a_fixed_data_model_is_the_only_one():
    fixed = SparseGaussian(p=0.5)
    for seed in range(100):
        _assert_covers(draw_designs(1, seed, data=fixed), data=fixed)
    per_coordinate = IndependentCoordinates(kurtosis=np.linspace(1, 5, 12))
    assert {d.dimension for d in draw_designs(3, 0, data=per_coordinate)} == {12}
    pair = [Gaussian(), Rademacher()]
    assert {type(d.data) for d in draw_designs(2, 5, data=pair)} == {Gaussian, Rademacher}


def test_problems_use_a_fraction_of_the_learning_rate_limit():
    for p in draw_problems(2, seed=3, max_dimension=10):
        limit = learning_rate_limit(p.recursion(), p.eigenvalues, p.batch)
        assert p.learning_rate == pytest.approx(Design.of(p).fraction * limit)
        assert p.learning_rate <= 0.5 * p.critical_learning_rate
        assert p.recursion().spectral_radius(p.eigenvalues, p.learning_rate, p.batch) < 1


# --------------------------------------------------------------------------- (c) the README's wrong recursion
@pytest.mark.parametrize("seed", [1, 79])   # accepted on main (every Hypothesis example had B = 1)
def test_readme_wrong_recursion_is_rejected_and_right_accepted(seed):
    assert check_recursion(RIGHT, seed=seed, **SMALL).passed
    v = check_recursion(WRONG, seed=seed, **SMALL)
    assert not v.passed and v.p_value <= 1e-6 and v.alpha == 1e-6
    assert v.parameters["drawn"]["batch"] >= 2       # the error only shows at B >= 2


# --------------------------------------------------------------------------- (d) shrinking
def test_shrinking_reports_a_simpler_failing_problem():
    v = check_recursion(WRONG, seed=1, **SMALL)
    drawn, simplest = v.parameters["drawn"], v.parameters
    assert len(drawn["eigenvalues"]) > 2 and drawn["batch"] > 2
    assert len(simplest["eigenvalues"]) == 2 and simplest["eigenvalues"][0] != simplest["eigenvalues"][1]
    assert simplest["batch"] == 2                     # B -> 1 was tried and passes: B >= 2 is needed
    assert simplest["data"] == "Gaussian()" and simplest["initial"] == [1.0, 1.0]
    assert simplest["p_value"] <= 1e-6 / SMALL["examples"]   # fails at the same per-example level
    assert v.parameters["simplifications"][0].startswith("all at once")
    assert simplest["seed"] != drawn["seed"]
    assert check_recursion(WRONG, seed=1, shrink=0, **SMALL).parameters["simplifications"] == []


def _fake(fails_if):
    calls = []

    def fails(p):
        calls.append(p)
        bad = fails_if(p)
        return Verdict(not bad, 9.0 if bad else 0.0, 0.0 if bad else 1.0, 1e-6, 1, None, p.describe())
    return fails, calls


def test_greedy_shrinking_keeps_what_the_failure_needs():
    drawn = draw_problems(4, seed=11)
    p = next(q for q in drawn if type(q.data) is IndependentCoordinates and q.batch > 2)
    # a planted error that needs non-Gaussian data, B >= 3 and d >= 5
    fails, calls = _fake(lambda q: type(q.data) is not Gaussian and q.batch >= 3 and len(q.eigenvalues) >= 5)
    q, v, steps = shrink_problem(p, fails, max_runs=6)
    assert len(calls) <= 6 and v is not None and not v.passed
    assert type(q.data) is IndependentCoordinates and q.batch == p.batch
    assert 5 <= len(q.eigenvalues) < len(p.eigenvalues)
    assert "round numbers" in steps
    assert all(float(k).is_integer() for k in np.atleast_1d(q.data.kurtosis))
    # nothing simpler fails: the drawn problem is reported
    fails, calls = _fake(lambda q: q.seed == p.seed)
    q, v, steps = shrink_problem(p, fails, max_runs=6)
    assert q is p and v is None and steps == [] and len(calls) <= 6
    # the budget bounds the runs
    fails, calls = _fake(lambda q: len(q.eigenvalues) > 2 and type(q.data) is not Gaussian)
    shrink_problem(p, fails, max_runs=2)
    assert len(calls) == 2


def test_failure_p_value_is_family_wise():
    v = check_recursion(WRONG, seed=79, shrink=0, **SMALL)
    assert not v.passed and math.isclose(v.p_value, min(1.0, SMALL["examples"] * v.parameters["drawn"]["p_value"]))


# --------------------------------------------------------------------------- (e) arguments
@pytest.mark.parametrize("kwargs, name", [
    (dict(examples=1), "examples"),
    (dict(examples=0), "examples"),
    (dict(examples=2.5), "examples"),
    (dict(steps=0), "steps"),
    (dict(replicas=1), "replicas"),
    (dict(alpha=1.5), "alpha"),
    (dict(alpha=0), "alpha"),
    (dict(seed=-1), "seed"),
    (dict(seed="a"), "seed"),
    (dict(shrink=-1), "shrink"),
    (dict(data="gaussian"), "data"),
    (dict(data=st.just(Gaussian())), "data"),
    (dict(data=[]), "data"),
    (dict(algorithm=HeavyBall()), "expr must be a mapping"),
    (dict(algorithm="sgd"), "algorithm"),
    (dict(hyper={"momentum": 0.5}), "hyper"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        check_recursion(RIGHT, **kwargs)


def test_one_example_is_enough_with_fixed_data():
    assert minimum_examples(Gaussian()) == 1 and minimum_examples([Gaussian(), Rademacher()]) == 2
    assert check_recursion(RIGHT, data=Gaussian(), examples=1, steps=30, replicas=300).passed


@pytest.mark.parametrize("kwargs, name", [
    (dict(examples=1), "examples"),
    (dict(examples=2, max_batch=1), "max_batch"),
    (dict(examples=2, min_dimension=1), "min_dimension"),
    (dict(examples=2, min_dimension=9, max_dimension=8), "max_dimension"),
])
def test_draw_designs_validates(kwargs, name):
    with pytest.raises(ValueError, match=name):
        draw_designs(seed=0, **kwargs)


def test_default_problems_is_still_a_strategy():
    assert isinstance(default_problems(), st.SearchStrategy)


def test_problems_can_be_given_as_a_strategy_a_callable_or_a_list():
    small = dict(examples=2, steps=30, replicas=300)
    assert check_recursion(RIGHT, problems=default_problems(), **small).passed
    fixed = draw_problems(2, seed=4, data=Gaussian(), max_dimension=10)
    assert check_recursion(RIGHT, problems=fixed, **small).passed
    assert check_recursion(RIGHT, problems=lambda n, s: draw_problems(n, s, max_dimension=10), **small).passed
    v = check_recursion(WRONG, problems=[p for p in fixed if p.batch >= 2], **small)
    assert not v.passed and v.parameters["data"] == "Gaussian()"     # the user's data model is kept
    assert len(v.parameters["eigenvalues"]) == 2 < len(v.parameters["drawn"]["eigenvalues"])
    with pytest.raises(ValueError, match="problems"):
        check_recursion(RIGHT, problems=fixed * 2, **small)
