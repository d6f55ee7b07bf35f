"""Testing drawn problems against a prediction at a family-wise level (the engine of every check)."""
from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st

from ..montecarlo import simulate
from ..stats import Verdict, combine, compare
from .shrink import shrink_problem

__all__ = ["check_problems"]


def _run(predict, problem, steps, replicas, level):
    """Simulate ``problem`` and compare with ``predict(problem, steps)`` at level ``level``."""
    prediction = predict(problem, steps)
    finite = all(np.all(np.isfinite(np.asarray(getattr(prediction, a))))
                 for a in ("risk", "second_moments") if getattr(prediction, a, None) is not None)
    if not finite:  # a finite expectation never equals a non-finite prediction: no simulation needed
        return Verdict(False, float("inf"), 0.0, level, 0, None, problem.describe(), None)
    result = simulate(problem.algorithm, data=problem.data, replicas=replicas, seed=problem.seed,
                      **problem.kwargs(steps))
    return compare(prediction, result, alpha=level, parameters=problem.describe())


def _hypothesis_draws(strategy, n, seed):
    """``n`` problems from a Hypothesis strategy, seeded by ``seed``, the minimal one skipped.

    Hypothesis runs the simplest choice sequence first (the same problem for every
    seed); it is drawn and discarded, the next ``n`` come from the seeded generator.
    """
    drawn = []

    @settings(max_examples=n + 1, phases=[Phase.generate], database=None, deadline=None,
              derandomize=False, suppress_health_check=list(HealthCheck))
    @hyp_seed(seed)
    @given(strategy)
    def collect(problem):
        drawn.append(problem)

    collect()
    return drawn[1:n + 1] if len(drawn) > n else drawn


def check_problems(predict, problems, *, examples, steps, replicas, alpha, seed, shrink=0,
                   simpler_data=(), resizable=True):
    """Compare ``examples`` problems with ``predict`` at family-wise level ``alpha``.

    ``problems`` is a Hypothesis strategy of :class:`verify.strategies.Problem` (its
    minimal example skipped, see :func:`_hypothesis_draws`), a callable ``(examples,
    seed) -> list of Problem`` (e.g. :func:`draw_problems`) or a list of problems.
    ``predict(problem, steps)`` returns the theory :class:`theory.Trajectory`.
    Each of the n drawn problems (n = examples unless a strategy's search space is
    smaller) is tested at alpha/n (Bonferroni); testing stops at the
    first failure, which is then simplified with :func:`shrink_problem` (at most ``shrink``
    extra runs; ``simpler_data`` and ``resizable`` as there). Returns ``(verdict, [(problem, verdict),
    ...])`` with the drawn examples' verdicts.
    """
    if isinstance(problems, st.SearchStrategy):
        drawn = _hypothesis_draws(problems, examples, seed)
    elif callable(problems):
        drawn = list(problems(examples, seed))
    else:
        drawn = list(problems)
    if len(drawn) > examples:
        raise ValueError(f"problems gave {len(drawn)} problems for examples = {examples}")
    if not drawn:
        raise ValueError("problems gave no problem to test")
    n = len(drawn)  # the Bonferroni family: every drawn problem, tested or not
    level = alpha / n
    tested = []
    for problem in drawn:
        verdict = _run(predict, problem, steps, replicas, level)
        tested.append((problem, verdict))
        if not verdict.passed:
            break
    problem, first = tested[-1]
    if first.passed:
        return combine([v for _, v in tested], alpha), tested
    p_fw = min(1.0, first.p_value * n)
    simplest, sv, steps_taken = problem, None, []
    if shrink:
        simplest, sv, steps_taken = shrink_problem(
            problem, lambda p: _run(predict, p, steps, replicas, level), max_runs=shrink,
            simpler_data=tuple(simpler_data), resizable=resizable)
    report = sv if sv is not None else first
    drawn_record = dict(problem.describe(), p_value=first.p_value,
                        worst=first.worst.describe() if first.worst is not None else None)
    parameters = dict(simplest.describe(), p_value=report.p_value, drawn=drawn_record,
                      simplifications=steps_taken)
    # the decision (passed, p_value, alpha) is the drawn family's; the rest describes the report
    verdict = dataclasses.replace(report, passed=False, p_value=p_fw, alpha=alpha, parameters=parameters)
    return verdict, tested
