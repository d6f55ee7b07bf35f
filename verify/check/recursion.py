"""Checking a user's second-moment recursion against Monte Carlo runs of the algorithm."""
from __future__ import annotations

from collections.abc import Mapping

from theory import SGD, Algorithm, Gaussian, derive
from theory.user import moment_names, recursion_from_moments
from theory.validation import check_integer

from ..stats import check_alpha
from .design import _data_models, _fixed_dimension, draw_designs, draw_problems
from .problems import check_problems

__all__ = ["check_recursion"]


def check_recursion(expr, algorithm=None, data=None, *, hyper=None, examples: int = 4, steps: int = 300,
                    replicas: int = 4000, alpha: float = 1e-6, seed: int = 0, problems=None,
                    shrink: int = 6):
    r"""Check a user's second-moment recursion for any algorithm against Monte Carlo runs of it.

    The user writes the recursion of every second moment of the algorithm's per-direction
    state (:func:`theory.user.recursion_from_moments`): for SGD one expression for
    m_{k+1,i}; for heavy ball and Nesterov a mapping ``{"m": ..., "c": ..., "m_prev": ...}``
    (m_{k,i} = E e_{k,i}^2, c_{k,i} = E e_{k,i} e_{k-1,i}, m_{k-1,i}), as SymPy expressions in
    the standard symbols of :mod:`theory.symbols` (``m``, ``S``, ``gamma``, ``B``, ``lam``,
    ``kappa``, ``sigma2``, ``beta``) or as strings (parsed by the restricted parser
    :func:`theory.parsing.parse_expression`; no code runs), affine in the moments and S.
    :func:`draw_designs` draws ``examples`` independent problems from ``seed`` (spectrum with
    distinct eigenvalues, data model, batch size, learning rate as a fraction 0.25..0.5 of
    :func:`learning_rate_limit`, noise, initial error, Monte Carlo seed), covering
    in every call a batch size B >= 2 and, unless ``data`` is fixed, Gaussian and
    non-Gaussian data. For each, the user's recursion is iterated for ``steps``
    steps and compared with ``replicas`` Monte Carlo runs (:func:`verify.compare`:
    risk and every m_{k,i}, each step and dyadic block averages) at level
    ``alpha / examples`` (Bonferroni), so the probability of a false failure is at
    most ``alpha`` overall. Drawing stops at the first failing example; it is then
    shrunk (:func:`shrink_problem`, at most ``shrink`` extra Monte Carlo runs, each at the
    same level) to the simplest problem found that still fails. Shrinking does not
    change the verdict (the drawn example decides it), so the family-wise
    false-failure probability stays ``alpha``.

    Default budget: 4 examples x 300 steps x 4000 replicas; a passing call takes a
    median of about 4 s wall (3 s CPU) on two cores, a failing one stops at the first
    failing example and adds at most 6 mostly small runs for shrinking
    (``benchmarks/check_recursion_seeds.py``).

    Parameters
    ----------
    expr : sympy.Expr or str, or mapping moment -> sympy.Expr or str
        A single expression for an algorithm with one second moment (SGD); else a mapping
        from each moment's name (:func:`theory.user.moment_names`) or symbol.
    algorithm : theory.Algorithm, default SGD()
    data : theory.DataModel or list of them, optional
        Fixed data model(s); default: drawn (Gaussian and non-Gaussian).
    hyper : mapping or list of mappings, optional
        Values of the algorithm's hyperparameters other than the learning rate (e.g.
        ``{"momentum": 0.5}``); a list is cycled over the examples. Required when the
        algorithm has such hyperparameters.
    examples : int >= minimum_examples(data)
        2 when data is drawn (or a list of two or more), 1 when one model is fixed.
    steps : int >= 1
    replicas : int >= 2
    alpha : float in (0, 1)
        Family-wise false-failure probability.
    seed : int >= 0
        The only source of randomness: it seeds the design and, through it, every
        Monte Carlo stream.
    problems : Hypothesis strategy, callable or list of Problem, optional
        Overrides the design: a strategy of :class:`verify.strategies.Problem` (e.g.
        :func:`default_problems`; drawn with Hypothesis, its minimal example
        skipped, no coverage guarantee), a callable ``(examples, seed) -> list of
        Problem``, or the problems themselves. Shrinking then keeps their data models.
    shrink : int >= 0
        Most extra Monte Carlo runs spent simplifying a counterexample (0: none).

    Returns
    -------
    Verdict
        ``passed``, ``p_value`` (family-wise over the drawn examples) and ``alpha``
        are the calibrated decision. On failure ``parameters`` is the simplest
        failing problem found (``statistic``, ``worst``, ``comparisons`` and ``seed``
        are its comparison's, ``parameters["p_value"]`` its p-value at level
        alpha/examples), ``parameters["drawn"]`` the drawn failing example (with its
        ``p_value`` and ``worst`` deviation) and ``parameters["simplifications"]``
        the steps from one to the other.

    Raises
    ------
    ValueError
        Bad expression or arguments (the message names the argument or the moment), a
        formula with a token outside the parser's whitelist, or ``examples`` too small for
        the coverage.

    Example
    -------
    >>> from theory.symbols import gamma, B, lam, kappa, m, S, sigma2
    >>> right = (1 - 2*gamma*lam + gamma**2*lam**2*(1 + (kappa - 2)/B))*m + gamma**2*lam/B*(S + sigma2)
    >>> check_recursion(right, examples=2, steps=50, replicas=1000).passed
    True

    Source: the recursions are those of Bordelon & Pehlevan, arXiv:2106.02713 (SGD) and
    Paquette & Paquette, arXiv:2106.03696 and Lee et al., arXiv:2206.01029 (heavy ball); the package derives its own.
    """
    algorithm = SGD() if algorithm is None else algorithm
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"algorithm must be a theory.Algorithm (e.g. theory.HeavyBall()); got {algorithm!r}")
    models = _data_models(data)
    examples = check_integer(examples, "examples", 1)
    steps = check_integer(steps, "steps", 1)
    replicas = check_integer(replicas, "replicas", 2)
    alpha = check_alpha(alpha)
    seed = check_integer(seed, "seed", 0)
    shrink_runs = check_integer(shrink, "shrink", 0)
    expressions = _expressions(expr, algorithm)
    recursion_from_moments(expressions, algorithm, models[0] if models else None)  # validate first
    hypers = _hyper_list(hyper, algorithm)
    resizable = True
    if problems is None:
        draw_designs(examples, seed, data=data)  # validates examples against the coverage (cheap)
        problems = lambda n, s: draw_problems(n, s, algorithm=algorithm, data=data, hyper=hypers)
        simpler = [Gaussian()] if models is None or Gaussian() in models else []
        resizable = models is None or all(_fixed_dimension(m) is None for m in models)
    else:
        simpler = []

    def predict(problem, n_steps):
        rec = recursion_from_moments(expressions, problem.algorithm, problem.data)
        return rec.trajectory(**problem.kwargs(n_steps))

    return check_problems(predict, problems, examples=examples, steps=steps, replicas=replicas,
                          alpha=alpha, seed=seed, shrink=shrink_runs, simpler_data=simpler,
                          resizable=resizable)[0]


def _expressions(expr, algorithm):
    """The user's recursion as a mapping moment -> expression (a single one for a one-moment state)."""
    if isinstance(expr, Mapping):
        return dict(expr)
    names = list(moment_names(derive(algorithm)))
    if len(names) != 1:
        raise ValueError(f"expr must be a mapping from each moment {names} of {algorithm!r} to its "
                         "recursion (one expression is enough only for a one-moment state such as SGD's)")
    return {names[0]: expr}


def _hyper_list(hyper, algorithm):
    """``hyper`` as a non-empty list of dicts naming exactly the algorithm's other hyperparameters."""
    names = sorted(set(getattr(algorithm, "hyperparameters", {})) - {"learning_rate"})
    if hyper is None:
        if names:
            raise ValueError(f"hyper must give {names} for {algorithm!r}, e.g. hyper={{{names[0]!r}: 0.5}} "
                             "or a list of such dicts (cycled over the examples)")
        return [{}]
    hypers = [hyper] if isinstance(hyper, Mapping) else list(hyper) if isinstance(hyper, (list, tuple)) else None
    if not hypers or not all(isinstance(h, Mapping) for h in hypers):
        raise ValueError(f"hyper must be a mapping or a non-empty list of mappings; got {hyper!r}")
    for h in hypers:
        if sorted(h) != names:
            raise ValueError(f"hyper must name exactly {names} for {algorithm!r}; got {sorted(h)}")
        algorithm.check_hyperparameters({"learning_rate": 1.0, **h})
    return [dict(h) for h in hypers]
