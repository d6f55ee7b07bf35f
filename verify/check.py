"""Checking a user's derivation against Monte Carlo runs of the algorithm."""
from __future__ import annotations

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed

from theory import SGD
from theory.user import recursion_from_expression
from theory.validation import check_integer

from . import strategies as sst
from .montecarlo import simulate
from .stats import _check_alpha, combine, compare

__all__ = ["check_recursion", "check_problems", "default_problems"]


def default_problems(algorithm=None, data=None, hyper=None):
    """Problems drawn by :func:`check_recursion`: chosen for power at a controlled false-failure rate.

    Dimension 8..32 (the risk self-averages, so its standard error is small),
    learning rate 0.25..0.5 of the critical one (the noise terms matter, yet the
    iterates keep finite fourth moments so the CLT holds), label-noise variance
    0.25..1 (a stationary phase that block averages resolve), batch 1..4.
    """
    return sst.problems(algorithm, data=data, min_dimension=8, max_dimension=32,
                        fraction=sst.critical_fractions(True, 0.25, 0.5),
                        noise_variance=sst.noise_variances(0.25, 1.0), hyper=hyper)


def check_recursion(expr, algorithm=None, data=None, *, examples: int = 4, steps: int = 300,
                    replicas: int = 4000, alpha: float = 1e-6, seed: int = 0, problems=None):
    r"""Check a user's second-moment recursion for SGD against Monte Carlo SGD.

    The user writes m_{k+1,i} as a SymPy expression in the standard symbols of
    :mod:`theory.symbols` (``m``, ``S``, ``gamma``, ``B``, ``lam``, ``kappa``,
    ``sigma2``), affine in m and S. Hypothesis draws ``examples`` problems
    (spectrum, data model, batch size, learning rate inside the stable region
    of the package's derived recursion, noise, initial error, seed); for each
    the user's recursion is iterated for ``steps`` steps and compared with
    ``replicas`` Monte Carlo runs (:func:`verify.compare`, risk and every m_{k,i}).
    Each example is tested at level alpha/examples, so the probability of a
    false failure is at most ``alpha`` overall (Bonferroni).

    Parameters
    ----------
    expr : sympy.Expr
    algorithm : theory.Algorithm, default SGD()
        Only SGD-shaped recursions (one second moment per direction) are read.
    data : theory.DataModel or strategy, optional
        Fixed data model, or a Hypothesis strategy of them (default: drawn).
    examples, steps, replicas : int >= 1
    alpha : float in (0, 1)
    seed : int
        Seeds Hypothesis (and through it every Monte Carlo stream).
    problems : strategy of :class:`verify.strategies.Problem`, optional
        Overrides the default problem strategy :func:`default_problems`.

    Returns
    -------
    Verdict
        Passed, the statistic, the family-wise p-value, the worst deviation
        and, on failure, the counterexample's parameters.

    Raises
    ------
    ValueError
        Bad expression or arguments.

    Example
    -------
    >>> from theory.symbols import gamma, B, lam, kappa, m, S, sigma2
    >>> right = (1 - 2*gamma*lam + gamma**2*lam**2*(1 + (kappa - 2)/B))*m + gamma**2*lam/B*(S + sigma2)
    >>> check_recursion(right, examples=2, steps=50, replicas=2000).passed
    True
    """
    algorithm = SGD() if algorithm is None else algorithm
    if not isinstance(algorithm, SGD):
        raise ValueError("check_recursion reads recursions of SGD's shape; algorithm must be theory.SGD()")
    examples = check_integer(examples, "examples", 1)
    steps = check_integer(steps, "steps", 1)
    replicas = check_integer(replicas, "replicas", 2)
    alpha = _check_alpha(alpha)
    recursion_from_expression(expr)  # validate before drawing anything
    strategy = problems if problems is not None else default_problems(algorithm, data)
    def predict(problem, n_steps):
        return recursion_from_expression(expr, data=problem.data).trajectory(**problem.kwargs(n_steps))

    return check_problems(predict, strategy, examples=examples, steps=steps, replicas=replicas,
                          alpha=alpha, seed=seed)[0]


def check_problems(predict, strategy, *, examples, steps, replicas, alpha, seed):
    """Draw ``examples`` problems from ``strategy`` with Hypothesis and compare each.

    ``predict(problem, steps)`` returns the theory :class:`theory.Trajectory`.
    Each example is tested at alpha/examples (Bonferroni); drawing stops at the
    first failure. Returns ``(combined verdict, [(problem, verdict), ...])``.
    """
    tested = []

    class _Failed(Exception):
        pass

    @settings(max_examples=examples, phases=[Phase.generate], database=None, deadline=None,
              suppress_health_check=list(HealthCheck), report_multiple_bugs=False)
    @hyp_seed(seed)
    @given(strategy)
    def run(problem):
        kw = problem.kwargs(steps)
        result = simulate(problem.algorithm, data=problem.data, replicas=replicas, seed=problem.seed,
                          **kw)
        verdict = compare(predict(problem, steps), result, alpha=alpha / examples,
                          parameters=problem.describe())
        tested.append((problem, verdict))
        if not verdict.passed:
            raise _Failed

    try:
        run()
    except _Failed:
        pass
    failed = [v for _, v in tested if not v.passed]
    if failed:
        v = failed[0]
        v.p_value = min(1.0, v.p_value * examples)
        v.alpha = alpha
        return v, tested
    return combine([v for _, v in tested], alpha), tested
