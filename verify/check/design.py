r"""Checking a user's derivation against Monte Carlo runs of the algorithm.

How the examples are drawn
--------------------------
:func:`check_recursion` does **not** draw its examples with Hypothesis' ``@given``.
Hypothesis always runs the simplest choice sequence first, so with ``@given`` the
first example was the same minimal problem (d = 8, B = 1, Gaussian data, Monte
Carlo seed 0) for every seed, and that single problem decided most verdicts; and
nothing made a small budget cover batch sizes B >= 2 (for 6 of 200 seeds every
example had B = 1, so the README's ``wrong`` recursion, whose error only shows
at B >= 2, was accepted). A property-based *search* wants the minimal example
first; a calibrated *test* with a budget of two to four examples wants them
independent and covering. So the examples come from a small stratified design
(:func:`draw_designs`) driven by a :class:`numpy.random.Generator` seeded by
``seed`` alone:

* every example is an independent draw (no example is shared between seeds);
* every call covers, whatever the seed: an example with batch B >= 2 (half of the
  examples, rounded up, have B >= 2, the others any B in 1..4); Gaussian data and
  at least one non-Gaussian data model (independent coordinates with a kurtosis
  drawn per coordinate, sparse Gaussian inputs or Rademacher inputs; with
  ``examples >= 4`` all three kinds), unless the caller fixes ``data``; and
  eigenvalues that are pairwise distinct in every example (a power law
  i^(-a) or log-uniform values, consecutive ratios >= 1 + :data:`MIN_GAP`);
* which example gets which stratum is shuffled per seed.

This needs ``examples >= 2`` (``>= 1`` when the data model is fixed), see
:func:`minimum_examples`. The Hypothesis strategies of :mod:`verify.strategies`
and :func:`default_problems` are unchanged and remain the tool for a user's own
``@given`` tests (where the minimal example first is what one wants).

When an example fails, :func:`shrink_problem` looks for a simpler problem that still fails
(greedy simplifications, at most ``shrink`` extra Monte Carlo runs): the verdict
reports the simplest failing problem found and records the drawn one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st

from theory import (
    SGD,
    Gaussian,
    IndependentCoordinates,
    Rademacher,
    SparseGaussian,
    derive,
)
from theory.data import DataModel
from theory.validation import check_integer

from .. import strategies as sst

__all__ = [
    "FRACTIONS",
    "KURTOSIS",
    "MIN_EIGENVALUE",
    "MIN_GAP",
    "NOISE_VARIANCES",
    "SPARSITY",
    "Design",
    "default_problems",
    "draw_designs",
    "draw_problems",
    "learning_rate_limit",
    "minimum_examples",
]

#: Drawn learning rates are ``fraction * learning_rate_limit(...)`` with fraction in this range.
FRACTIONS = (0.25, 0.5)
#: Label-noise variances sigma^2 of the drawn examples.
NOISE_VARIANCES = (0.25, 1.0)
#: Smallest relative gap between consecutive drawn eigenvalues: lambda_i / lambda_(i+1) >= 1 + MIN_GAP.
MIN_GAP = 0.01
#: Range of the drawn eigenvalues (the largest is 1).
MIN_EIGENVALUE = 1e-2
#: Kurtosis range of the drawn :class:`theory.IndependentCoordinates` (one value per coordinate).
KURTOSIS = (1.0, 10.0)
#: Keep-probability range of the drawn :class:`theory.SparseGaussian` (kappa = 3/p in 4..12).
SPARSITY = (0.25, 0.75)

_NON_GAUSSIAN = ("independent", "sparse", "rademacher")


# --------------------------------------------------------------------------- learning-rate limit
def learning_rate_limit(recursion, eigenvalues, batch=1, *, critical_learning_rate=None, **hyper) -> float:
    r"""The learning rate of which :func:`check_recursion` draws its fractions (0.25..0.5).

    min(gamma_c, gamma_c^(4)): the critical learning rate gamma_c of the package's derived
    second-moment recursion (:meth:`theory.Recursion.critical_learning_rate`) and, where
    :mod:`theory.fourth` derives it (SGD, heavy ball, Nesterov on independent symmetric
    coordinates), the
    fourth-moment critical learning rate gamma_c^(4) above which the iterates' fourth
    moments diverge and no test on replica means is valid. Fractions up to 0.5 of it keep
    every drawn and every shrunk example well inside the finite-fourth-moment region.

    Parameters
    ----------
    recursion : theory.Recursion
        The package's derived recursion for the problem's algorithm and data model.
    eigenvalues : array_like, shape (d,)
    batch : int >= 1
    critical_learning_rate : float, optional
        gamma_c if already known (saves recomputing it).
    **hyper
        The algorithm's other hyperparameters.

    Returns
    -------
    float
        The limit (> 0); the drawn learning rate is a fraction 0.25..0.5 of it.

    Example
    -------
    >>> from theory import derive
    >>> round(derive().critical_learning_rate([1.0] * 3), 12)   # gamma_c = 2/(d+2), isotropic Gaussian, B = 1
    0.4
    >>> round(learning_rate_limit(derive(), [1.0] * 3), 4)    # gamma_c^(4) is smaller
    0.2935
    """
    from ..stats.laws import fourth_moment_critical_learning_rate
    gc = critical_learning_rate
    if gc is None:
        gc = recursion.critical_learning_rate(eigenvalues, batch=batch, **hyper)
    gc4 = fourth_moment_critical_learning_rate(recursion, eigenvalues, batch, **hyper)
    return float(gc if gc4 is None else min(gc, gc4))


# --------------------------------------------------------------------------- the design
@dataclass(frozen=True, eq=False)
class Design:
    """One drawn example before its learning rate is resolved.

    Attributes
    ----------
    eigenvalues : ndarray, shape (d,)
        Pairwise distinct, decreasing, the largest 1.
    data : theory.DataModel
    batch : int
    fraction : float
        Learning rate as a fraction of :func:`learning_rate_limit`.
    noise_variance : float
    initial : ndarray, shape (d,)
        Initial error e_0 in the eigenbasis.
    seed : int
        Entropy of the Monte Carlo run's ``SeedSequence``.
    """

    eigenvalues: np.ndarray
    data: DataModel
    batch: int
    fraction: float
    noise_variance: float
    initial: np.ndarray
    seed: int

    @property
    def dimension(self) -> int:
        return len(self.eigenvalues)

    def problem(self, algorithm=None, hyper=None) -> sst.Problem:
        """The complete :class:`verify.strategies.Problem`: learning rate
        ``fraction * learning_rate_limit(...)`` of the derived recursion of ``algorithm``
        (default SGD) on ``data``; ``hyper`` are fixed extra hyperparameters."""
        algorithm = SGD() if algorithm is None else algorithm
        hyper = dict(hyper or {})
        rec = derive(algorithm, self.data)
        gc = float(rec.critical_learning_rate(self.eigenvalues, batch=self.batch, **hyper))
        lr = self.fraction * learning_rate_limit(rec, self.eigenvalues, self.batch,
                                                 critical_learning_rate=gc, **hyper)
        return sst.Problem(algorithm, self.data, np.array(self.eigenvalues, dtype=float), int(self.batch),
                           lr, gc, lr / gc, float(self.noise_variance), np.array(self.initial, dtype=float),
                           int(self.seed), hyper)

    @classmethod
    def of(cls, problem) -> Design:
        """The design of a :class:`verify.strategies.Problem`: its learning rate as a
        fraction of :func:`learning_rate_limit`."""
        limit = learning_rate_limit(problem.recursion(), problem.eigenvalues, problem.batch,
                                    critical_learning_rate=problem.critical_learning_rate, **problem.hyper)
        return cls(np.asarray(problem.eigenvalues, float), problem.data, int(problem.batch),
                   float(problem.learning_rate / limit), float(problem.noise_variance),
                   np.asarray(problem.initial, float), int(problem.seed))


def _data_models(data):
    """None -> None (drawn); a DataModel or a non-empty sequence of them -> list; else ValueError."""
    if data is None:
        return None
    if isinstance(data, DataModel):
        return [data]
    if isinstance(data, (list, tuple)) and data and all(isinstance(d, DataModel) for d in data):
        return list(data)
    if isinstance(data, st.SearchStrategy):
        raise ValueError("data must be a theory.DataModel or a list of them; for a Hypothesis strategy of "
                         "data models pass problems=default_problems(data=...) (no coverage guarantee)")
    raise ValueError(f"data must be None, a theory.DataModel or a non-empty list of them; got {data!r}")


def _fixed_dimension(model):
    """The dimension a data model's per-coordinate parameters fix, or None."""
    k = getattr(model, "kurtosis", None)
    if k is not None and np.ndim(k) == 1:
        return int(np.size(k))
    eig = getattr(model, "eigenvalues", None)
    if eig is not None:
        return int(np.size(eig))
    return None


def minimum_examples(data=None) -> int:
    """The smallest ``examples`` for which :func:`draw_designs` guarantees its coverage.

    2 when the data model is drawn (one example with B >= 2, Gaussian and a
    non-Gaussian model) or given as a list of two or more models; 1 when one data
    model is fixed (the example has B >= 2).

    Example
    -------
    >>> from theory import Gaussian
    >>> minimum_examples(), minimum_examples(Gaussian())
    (2, 1)
    """
    models = _data_models(data)
    return 1 if models is not None and len(models) == 1 else 2


def _spectrum(rng, d):
    """Decreasing eigenvalues with lambda_1 = 1 and lambda_i / lambda_(i+1) >= 1 + MIN_GAP."""
    min_log_gap = math.log1p(MIN_GAP)
    if d == 1:
        return np.ones(1)
    if rng.random() < 0.5:  # power law i^(-a), a in [0.5, 2], when its gaps are wide enough
        a = rng.uniform(0.5, 2.0)
        if a * math.log(d / (d - 1)) >= min_log_gap:
            return np.arange(1, d + 1, dtype=float) ** -a
    # log-uniform: spacings of d - 1 gaps over a log-range R, each at least log(1 + MIN_GAP)
    full = math.log(1 / MIN_EIGENVALUE)
    need = (d - 1) * min_log_gap
    R = rng.uniform(max(need, 0.5 * full), max(need, full))
    gaps = min_log_gap + (R - need) * rng.dirichlet(np.ones(d))[:d - 1]
    return np.exp(-np.concatenate([[0.0], np.cumsum(gaps)]))


def _non_gaussian(rng, kind, d):
    if kind == "independent":
        lo, hi = np.log(KURTOSIS)
        return IndependentCoordinates(kurtosis=np.exp(rng.uniform(lo, hi, size=d)))
    if kind == "sparse":
        return SparseGaussian(p=float(rng.uniform(*SPARSITY)))
    return Rademacher()


def draw_designs(examples: int, seed: int, *, data=None, min_dimension: int = 8, max_dimension: int = 32,
                 max_batch: int = 4) -> list[Design]:
    r"""The examples of :func:`check_recursion`: independent per seed, covering in every call.

    A stratified design drawn from ``numpy.random.default_rng(SeedSequence(seed))``
    (no Hypothesis, so no example is shared between seeds; see the module
    docstring for why). Every call with ``examples >= minimum_examples(data)``
    satisfies:

    * at least ceil(examples / 2) >= 1 examples have batch B in 2..max_batch; the
      others B in 1..max_batch;
    * with ``data=None``: the slots cycle over Gaussian, then the non-Gaussian kinds
      (IndependentCoordinates with kurtosis log-uniform in :data:`KURTOSIS` per
      coordinate, SparseGaussian with p in :data:`SPARSITY`, Rademacher) in a random
      order, so two examples cover Gaussian and one non-Gaussian kind, four cover
      all four; with a list of models the slots cycle over the list; with one model
      every example uses it;
    * every spectrum has pairwise distinct eigenvalues, lambda_1 = 1,
      lambda_i / lambda_(i+1) >= 1 + :data:`MIN_GAP` (power law i^(-a), a in
      [0.5, 2], or log-uniform on a range of 1e-2..1);
    * d uniform in min_dimension..max_dimension (fixed by the data model if its
      parameters are per coordinate); learning-rate fraction uniform in
      :data:`FRACTIONS`; noise variance uniform in :data:`NOISE_VARIANCES`;
      initial error e_0,i uniform in +-[0.05, 1]; a Monte Carlo seed per example;
    * the assignment of strata to examples is shuffled per seed.

    Parameters
    ----------
    examples : int >= minimum_examples(data)
    seed : int >= 0
    data : theory.DataModel or list of them, optional
    min_dimension, max_dimension : int, 2 <= min_dimension <= max_dimension
    max_batch : int >= 2

    Returns
    -------
    list of Design

    Raises
    ------
    ValueError
        ``examples`` below :func:`minimum_examples`, or a bad argument (named).

    Example
    -------
    >>> ds = draw_designs(2, seed=1)
    >>> max(d.batch for d in ds) >= 2, len({type(d.data) for d in ds})
    (True, 2)
    """
    models = _data_models(data)
    need = minimum_examples(data)
    examples = check_integer(examples, "examples", 1)
    if examples < need:
        raise ValueError(f"examples must be >= {need} to cover batch >= 2"
                         + (" and two data models" if need == 2 else "") + f"; got {examples}")
    seed = check_integer(seed, "seed", 0)
    min_dimension = check_integer(min_dimension, "min_dimension", 2)
    max_dimension = check_integer(max_dimension, "max_dimension", 2)
    if max_dimension < min_dimension:
        raise ValueError(f"max_dimension must be >= min_dimension = {min_dimension}; got {max_dimension}")
    max_batch = check_integer(max_batch, "max_batch", 2)
    rng = np.random.default_rng(np.random.SeedSequence(seed))

    # strata: batch (B >= 2 on every other slot) and data model (cycled), shuffled independently
    big_batch = rng.permutation(np.arange(examples) % 2 == 0)
    if models is None:
        cycle = ["gaussian", *rng.permutation(_NON_GAUSSIAN)]
    else:
        cycle = [models[i] for i in rng.permutation(len(models))]
    slots = [cycle[j % len(cycle)] for j in range(examples)]
    slots = [slots[i] for i in rng.permutation(examples)]

    out = []
    for j in range(examples):
        model = slots[j]
        fixed = _fixed_dimension(model) if isinstance(model, DataModel) else None
        d = fixed if fixed is not None else int(rng.integers(min_dimension, max_dimension + 1))
        lam = _spectrum(rng, d)
        if model == "gaussian":
            model = Gaussian()
        elif isinstance(model, str):
            model = _non_gaussian(rng, model, d)
        b = int(rng.integers(2, max_batch + 1)) if big_batch[j] else int(rng.integers(1, max_batch + 1))
        fraction = float(rng.uniform(*FRACTIONS))
        noise = float(rng.uniform(*NOISE_VARIANCES))
        e0 = rng.choice([-1.0, 1.0], size=d) * rng.uniform(0.05, 1.0, size=d)
        out.append(Design(lam, model, b, fraction, noise, e0, int(rng.integers(0, 2**63))))
    return out


def draw_problems(examples: int, seed: int, *, algorithm=None, data=None, hyper=None,
                  **design) -> list[sst.Problem]:
    """:func:`draw_designs` resolved to complete problems (:meth:`Design.problem`).

    ``algorithm`` (default SGD) and the fixed ``hyper`` dict (or a list of dicts, cycled over
    the examples) give the recursion whose
    :func:`learning_rate_limit` the drawn fractions refer to; ``design`` are the
    keyword arguments of :func:`draw_designs`.

    Example
    -------
    >>> [p.fraction <= 0.5 for p in draw_problems(2, seed=0, max_dimension=8)]
    [True, True]
    """
    hypers = hyper if isinstance(hyper, (list, tuple)) and hyper else [hyper]
    return [d.problem(algorithm, hypers[j % len(hypers)])
            for j, d in enumerate(draw_designs(examples, seed, data=data, **design))]


def default_problems(algorithm=None, data=None, hyper=None):
    """A Hypothesis strategy of problems like those of :func:`check_recursion`, for ``@given`` tests.

    Dimension 8..32 (the risk self-averages, so its standard error is small),
    learning rate 0.25..0.5 of the critical one (the noise terms matter, yet the
    iterates keep finite fourth moments so the CLT holds), label-noise variance
    0.25..1 (a stationary phase that block averages resolve), batch 1..4.
    :func:`check_recursion` itself draws from :func:`draw_designs` (independent,
    covering examples); this strategy serves property-based tests and the claims.

    Example
    -------
    >>> from hypothesis import given, settings
    >>> @settings(max_examples=2, deadline=None)
    ... @given(default_problems())
    ... def test(problem):
    ...     assert 0 < problem.learning_rate <= 0.5 * problem.critical_learning_rate
    >>> test()
    """
    return sst.problems(algorithm, data=data, min_dimension=8, max_dimension=32,
                        fraction=sst.critical_fractions(True, *FRACTIONS),
                        noise_variance=sst.noise_variances(*NOISE_VARIANCES), hyper=hyper)
