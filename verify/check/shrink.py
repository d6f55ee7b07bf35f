"""Shrinking a failing problem to a simpler one that still fails."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from theory import Gaussian, IndependentCoordinates, SparseGaussian
from theory.validation import check_integer

from ..stats import Verdict  # noqa: F401  (used in the doctest)
from .design import Design

__all__ = ["shrink_problem"]


def _child_seed(seed, k):
    return int(np.random.SeedSequence([int(seed) % 2**63, 0x5EED, k]).generate_state(2, np.uint64)[0] >> 1)


def _subsample_data(model, idx):
    k = getattr(model, "kurtosis", None)
    if k is None or np.ndim(k) != 1:
        return model
    if isinstance(model, SparseGaussian):
        return SparseGaussian(p=np.asarray(model.p)[idx])
    if type(model) is IndependentCoordinates:
        return IndependentCoordinates(kurtosis=np.asarray(k)[idx])
    return None


def _nearest(x, grid):
    return float(min(grid, key=lambda g: (abs(g - x), g)))


def _rounder_data(model):
    """Keep-probabilities to quarters, kurtoses to integers (other models unchanged)."""
    if isinstance(model, SparseGaussian):
        p = np.clip(np.round(np.asarray(model.p, dtype=float) * 4) / 4, 0.25, 1.0)
        return SparseGaussian(p=float(p) if p.ndim == 0 else p)
    if type(model) is IndependentCoordinates:
        k = np.maximum(np.round(np.asarray(model.kurtosis, dtype=float)), 1.0)
        return IndependentCoordinates(kurtosis=float(k) if k.ndim == 0 else k)
    return model


def _halve(design):
    """Every other direction (keeps the spread and the distinctness of the spectrum)."""
    idx = np.arange(0, design.dimension, 2)
    data = _subsample_data(design.data, idx)
    if data is None or len(idx) < 2:
        return None
    return replace(design, eigenvalues=design.eigenvalues[idx], initial=design.initial[idx], data=data)


def _rounder(design):
    """Harmonic spectrum 1/i, e_0 = 1, round fraction / noise / data parameters."""
    d = design.dimension
    return replace(design, eigenvalues=1.0 / np.arange(1, d + 1), initial=np.ones(d),
                   fraction=_nearest(design.fraction, (0.25, 0.3, 0.4, 0.5)),
                   noise_variance=_nearest(design.noise_variance, (0.25, 0.5, 1.0)),
                   data=_rounder_data(design.data))


def _key(design):
    return (design.dimension, repr(design.data), design.batch, design.fraction, design.noise_variance,
            tuple(np.round(design.eigenvalues, 15)), tuple(np.round(design.initial, 15)))


def shrink_problem(problem, fails, *, max_runs: int = 6, simpler_data=None, resizable: bool = True):
    r"""Greedily simplify a failing problem while it keeps failing.

    Each candidate is a :class:`Design` simplification of the current problem, with
    its learning rate recomputed as the same fraction of :func:`learning_rate_limit`
    and a fresh Monte Carlo seed derived from the drawn one; ``fails(problem)``
    (which runs the same comparison at the same level as the drawn example) returns
    its :class:`verify.Verdict` and a candidate that fails becomes the current
    problem. Order:

    1. all at once: the first of ``simpler_data``, B -> min(B, 2), d -> 2 with
       eigenvalues (1, 1/2), e_0 = 1, round fraction and noise;
       if that fails, B -> 1 is tried and shrinking stops;
    2. otherwise one at a time: data -> ``simpler_data[0]``; B -> 2 (if B > 2);
       rounder numbers (eigenvalues 1/i, e_0 = 1, fraction in {0.25, 0.3, 0.4, 0.5},
       noise in {0.25, 0.5, 1}, kurtosis to integers, p to quarters); halving d (every
       other direction) while it fails; B -> 1.

    At most ``max_runs`` candidates are run (each one Monte Carlo simulation).
    Shrinking never changes the outcome of a check: the drawn problem's failure
    decides it, shrinking only chooses which failing problem is reported.

    Parameters
    ----------
    problem : verify.strategies.Problem
        The drawn failing problem.
    fails : callable Problem -> Verdict
    max_runs : int >= 0
    simpler_data : sequence of theory.DataModel, default (Gaussian(),)
        Data models to try instead (empty: keep the data model).
    resizable : bool
        Whether d may change (False when the data model fixes it).

    Returns
    -------
    (Problem, Verdict or None, list of str)
        The simplest failing problem found, its verdict (None if it is the drawn one)
        and the simplifications accepted, e.g. ``["d 24 -> 2", "data -> Gaussian()"]``.

    Example
    -------
    >>> from verify.check import draw_problems, shrink_problem
    >>> p = draw_problems(1, seed=0, data=Gaussian())[0]
    >>> always = lambda q: Verdict(False, 9.0, 0.0, 1e-6, 1, None)   # every problem "fails"
    >>> q, v, steps = shrink_problem(p, always)
    >>> len(p.eigenvalues), p.batch, len(q.eigenvalues), q.batch
    (29, 3, 2, 1)
    >>> steps
    ['all at once: d 29 -> 2, B 3 -> 2, round numbers', 'B 2 -> 1']
    """
    max_runs = check_integer(max_runs, "max_runs", 0)
    simpler_data = (Gaussian(),) if simpler_data is None else tuple(simpler_data)
    algorithm, hyper = problem.algorithm, dict(problem.hyper)
    drawn = Design.of(problem)
    state = dict(design=drawn, problem=problem, verdict=None, runs=0)
    accepted, tried = [], {_key(drawn)}

    def attempt(label, candidate):
        if candidate is None or state["runs"] >= max_runs or _key(candidate) in tried:
            return False
        tried.add(_key(candidate))
        state["runs"] += 1
        candidate = replace(candidate, seed=_child_seed(drawn.seed, state["runs"]))
        p = candidate.problem(algorithm, hyper)
        v = fails(p)
        if v.passed:
            return False
        state.update(design=candidate, problem=p, verdict=v)
        accepted.append(label)
        return True

    def current():
        return state["design"]

    gauss = simpler_data[0] if simpler_data else None
    everything = _rounder(replace(drawn, batch=min(drawn.batch, 2),
                                  data=gauss if gauss is not None else drawn.data))
    if resizable and everything.dimension > 2:
        small = _subsample_data(everything.data, np.arange(2))
        everything = None if small is None else replace(
            everything, eigenvalues=np.array([1.0, 0.5]), initial=np.ones(2), data=small)
    if attempt("all at once", everything):
        new, parts = current(), []
        if new.dimension != drawn.dimension:
            parts.append(f"d {drawn.dimension} -> {new.dimension}")
        if repr(new.data) != repr(drawn.data):
            parts.append(f"data -> {new.data!r}")
        if new.batch != drawn.batch:
            parts.append(f"B {drawn.batch} -> {new.batch}")
        accepted[-1] = "all at once: " + ", ".join(parts + ["round numbers"])
        if new.batch == 2:
            attempt("B 2 -> 1", replace(new, batch=1))
        return state["problem"], state["verdict"], accepted
    if gauss is not None:
        attempt(f"data -> {gauss!r}", replace(current(), data=gauss))
    if current().batch > 2:
        attempt(f"B {current().batch} -> 2", replace(current(), batch=2))
    attempt("round numbers", _rounder(current()))
    while resizable and state["runs"] < max_runs:
        smaller = _halve(current())
        if smaller is None or not attempt(f"d {current().dimension} -> {smaller.dimension}", smaller):
            break
    if current().batch == 2:
        attempt("B 2 -> 1", replace(current(), batch=1))
    return state["problem"], state["verdict"], accepted
