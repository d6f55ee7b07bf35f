"""Property: the package's derived recursion agrees with Monte Carlo SGD on drawn problems.

Each Hypothesis example is a calibrated test at alpha = 1e-6 / max_examples (the
profile's), so the family-wise false-failure probability of this test is <= 1e-6.
"""
from hypothesis import given, settings

from verify import compare, simulate
from verify import strategies as sst

ALPHA = 1e-6


@given(sst.problems(max_dimension=10))
def test_derived_recursion_matches_monte_carlo(problem):
    n = settings.default.max_examples
    kw = problem.kwargs(steps=80)
    res = simulate(problem.algorithm, data=problem.data, replicas=2000, seed=problem.seed, **kw)
    v = compare(problem.recursion().trajectory(**kw), res, alpha=ALPHA / n, parameters=problem.describe())
    assert v.passed, v.summary()
