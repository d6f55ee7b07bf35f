"""The catalogue of claims that ``python -m verify run`` checks.

A :class:`Claim` is one checkable statement: a theory side (a derived
expression or value), a Monte Carlo experiment, a Hypothesis strategy for
its parameters and its source. Running it gives a :class:`ClaimResult`
with one :class:`Row` per check (theory, Monte Carlo +- standard error,
statistic, verdict) and the underlying :class:`verify.Verdict` objects.

Every row of a claim is a check of the statistics layer (:mod:`verify.stats`):
a series or scalar comparison, a growth/decay test, an exact identity, a
numeric agreement, or a number reported only (never counted as passed). A
claim's runner returns those :class:`verify.Verdict` objects (and optional
plot series); the rows of the table are made from them, so no row can be a
constant. The tests' alphas come from a :class:`verify.stats.AlphaBudget` and
must add up to at most the claim's ``alpha`` (default 1e-6): :meth:`Claim.run`
asserts it.

Claims live in one module per family (``verify/claims/sgd.py``, ...), each
registering its claims with :func:`register`; this package imports them all.
"""
from __future__ import annotations

import time
import zlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from theory.validation import select_by_prefix

from ..stats import Verdict
from ..stats.result import from_json_number

__all__ = ["Budget", "BUDGETS", "Row", "Series", "ClaimResult", "Claim", "CLAIMS", "register", "select",
           "claim_seed", "child_seed", "ClaimSkipped"]


class ClaimSkipped(Exception):
    """Raised by a claim's runner when it cannot run here (e.g. an optional extra is missing);
    the message says why and what to install."""


@dataclass(frozen=True)
class Budget:
    """How much Monte Carlo a run spends: replicas per experiment, drawn examples per claim."""

    name: str
    replicas: int
    examples: int


BUDGETS = {
    "quick": Budget("quick", replicas=1000, examples=0),
    "standard": Budget("standard", replicas=4000, examples=2),
    "thorough": Budget("thorough", replicas=16000, examples=8),
}


@dataclass
class Row:
    """One line of the results table, made from a :class:`verify.Verdict` (:meth:`of`)."""

    check: str
    kind: str
    theory: float
    monte_carlo: float
    standard_error: float
    statistic: float
    unit: str
    verdict: str

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"

    @classmethod
    def of(cls, v: Verdict) -> "Row":
        label = v.label or v.test
        if v.kind == "series" and v.worst is not None:
            label += f" (worst: {v.worst.where})"
        return cls(label, v.kind, v.theory, v.monte_carlo, v.standard_error, v.statistic, v.unit, v.outcome)

    def to_dict(self) -> dict:
        def num(x):
            return None if x is None or (isinstance(x, float) and x != x) else float(x)
        return dict(check=self.check, kind=self.kind, theory=num(self.theory), monte_carlo=num(self.monte_carlo),
                    standard_error=num(self.standard_error), statistic=num(self.statistic), unit=self.unit,
                    verdict=self.verdict)

    @classmethod
    def from_dict(cls, d: dict) -> "Row":
        num = from_json_number
        return cls(d["check"], d["kind"], num(d["theory"]), num(d["monte_carlo"]), num(d["standard_error"]),
                   num(d["statistic"]), d["unit"], d["verdict"])


@dataclass
class Series:
    """A curve for plots: theory against Monte Carlo with standard errors, over ``x``."""

    label: str
    x: list
    theory: list
    monte_carlo: list
    standard_error: list
    xlabel: str = "step k"
    ylabel: str = "risk"
    log_y: bool = False
    reference: float | None = None
    reference_label: str = ""
    #: False for a curve whose Monte Carlo mean is not compared pointwise (e.g. no finite variance);
    #: figures then draw no band and no standardised deviation for it
    tested: bool = True

    @classmethod
    def of(cls, label, x, theory, monte_carlo, standard_error, **kw) -> "Series":
        def fl(a):
            return [float(v) for v in np.asarray(a, dtype=float).ravel()]
        return cls(label, fl(x), fl(theory), fl(monte_carlo), fl(standard_error), **kw)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> "Series":
        d = dict(d)
        for key in ("x", "theory", "monte_carlo", "standard_error"):
            d[key] = [from_json_number(v) for v in d[key]]
        return cls(**d)


@dataclass
class ClaimResult:
    """The outcome of running one claim."""

    id: str
    title: str
    source: str
    passed: bool
    rows: list
    verdicts: list
    seed: dict
    seconds: float = 0.0
    alpha: float = 1e-6
    skipped: str | None = None
    series: list = field(default_factory=list)

    @property
    def p_value(self) -> float:
        """The claim's family-wise p-value against "theory = Monte Carlo": min over its counted
        comparisons (series, scalar) of p_j alpha / alpha_j (weighted Bonferroni). A failing exact,
        numeric or growth check counts as p = 0; a passing growth test (which passes by *rejecting*
        its null, so its small p is evidence for the claim) does not count. The claim passes iff
        every check passes, which is p_value > alpha."""
        ps = [0.0 for v in self.verdicts
              if v.counted and v.kind in ("exact", "numeric", "growth") and not v.passed]
        ps += [min(1.0, v.p_value * self.alpha / v.alpha) for v in self.verdicts
               if v.counted and v.kind in ("series", "scalar") and v.alpha > 0]
        return min(ps, default=1.0)

    def to_dict(self) -> dict:
        kinds: dict = {}
        for r in self.rows:
            kinds[r.kind] = kinds.get(r.kind, 0) + 1
        return {
            "id": self.id, "title": self.title, "source": self.source, "passed": self.passed,
            "skipped": self.skipped, "alpha": self.alpha, "p_value": self.p_value, "checks": kinds,
            "seconds": self.seconds, "seed": self.seed,
            "rows": [r.to_dict() for r in self.rows],
            "verdicts": [v.to_dict() for v in self.verdicts],
            "series": [sr.to_dict() for sr in self.series],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ClaimResult":
        """Rebuild a result written by :meth:`to_dict` (e.g. from a results directory)."""
        rows = [Row.from_dict(r) for r in d["rows"]]
        return cls(d["id"], d["title"], d["source"], d["passed"], rows,
                   [Verdict.from_dict(v) for v in d["verdicts"]], d["seed"], d.get("seconds", 0.0),
                   d.get("alpha", 1e-6), d.get("skipped"),
                   [Series.from_dict(x) for x in d.get("series", [])])


@dataclass
class Claim:
    """One checkable statement.

    Attributes
    ----------
    id, title, source : str
    runner : callable (Claim, Budget, numpy.random.SeedSequence) -> verdicts or (verdicts, series)
        Returns the claim's checks (:class:`verify.Verdict`, from :mod:`verify.stats`) and
        optionally plot series; raises ClaimSkipped when it cannot run here.
    recursion : callable () -> theory.Recursion
        The theory side, for LaTeX.
    strategy : hypothesis strategy or None
        Parameters of the claim's drawn examples.
    alpha : float
        Family-wise false-failure probability of the claim.
    """

    id: str
    title: str
    source: str
    runner: Callable
    recursion: Callable
    strategy: object = None
    alpha: float = 1e-6
    tags: tuple = field(default_factory=tuple)

    def run(self, budget: Budget | str = "standard", seed: int = 0) -> ClaimResult:
        budget = BUDGETS[budget] if isinstance(budget, str) else budget
        ss = claim_seed(self.id, seed)
        t0 = time.perf_counter()
        try:
            out = self.runner(self, budget, ss)
        except ClaimSkipped as exc:
            return ClaimResult(self.id, self.title, self.source, False, [], [],
                               {"entropy": seed, "spawn_key": list(ss.spawn_key)},
                               time.perf_counter() - t0, self.alpha, skipped=str(exc))
        verdicts, series = (out, []) if isinstance(out, list) else (list(out[0]), list(out[1]))
        if not verdicts or not all(isinstance(v, Verdict) for v in verdicts):
            raise TypeError(f"the runner of {self.id!r} must return Verdicts from verify.stats")
        counted = [v for v in verdicts if v.counted]
        used = sum(v.alpha for v in counted)
        if used > self.alpha * (1 + 1e-9):
            raise AssertionError(f"the checks of {self.id!r} use alpha = {used:.6g} > the claim's {self.alpha:g}")
        passed = bool(counted) and all(v.passed for v in counted)
        return ClaimResult(self.id, self.title, self.source, passed, [Row.of(v) for v in verdicts], verdicts,
                           {"entropy": seed, "spawn_key": list(ss.spawn_key)},
                           time.perf_counter() - t0, self.alpha, series=series)


def claim_seed(claim_id: str, seed: int) -> np.random.SeedSequence:
    """The SeedSequence of a claim: the run's seed, keyed by a stable hash of the claim id."""
    return np.random.SeedSequence(entropy=seed, spawn_key=(zlib.crc32(claim_id.encode()),))


def child_seed(ss: np.random.SeedSequence, k: int) -> int:
    return int(np.random.SeedSequence(ss.entropy, spawn_key=tuple(ss.spawn_key) + (k,)).generate_state(1)[0])


CLAIMS: dict = {}


def register(claim: Claim) -> Claim:
    """Add ``claim`` to the catalogue (ids must be unique)."""
    if claim.id in CLAIMS:
        raise ValueError(f"claim id {claim.id!r} is registered twice")
    CLAIMS[claim.id] = claim
    return claim


def select(ids=None) -> list:
    """Claims whose id equals or starts with (a dot-separated prefix of) one of ``ids``.

    Raises ValueError naming the unknown id and the known ones.
    """
    return select_by_prefix(CLAIMS, ids, "claim id")


from . import sgd  # noqa: E402,F401  (registers the SGD claims)
from . import momentum  # noqa: E402,F401  (registers the momentum claims)
from . import games  # noqa: E402,F401  (registers the bilinear-game claims)
from . import real_data  # noqa: E402,F401  (registers the real-data claims)
from . import ratio  # noqa: E402,F401  (registers the learning-rate / batch-size ratio claim)
from . import data_models  # noqa: E402,F401  (registers the sparse / Rademacher claims)
from . import highline  # noqa: E402,F401  (registers the High Line and adaptive-learning-rate claims)
from . import sparse_momentum  # noqa: E402,F401  (registers the sparse-momentum regime / conflict claims)
from . import fourth  # noqa: E402,F401  (registers the fourth-moment claims)
from . import glm  # noqa: E402,F401  (registers the GLM claims: logistic regression, phase retrieval)
from . import regularised  # noqa: E402,F401  (registers weight decay, iterate averaging, preconditioning)
from . import teacher_student  # noqa: E402,F401  (registers the teacher-student / double-descent claims)
from . import plrf  # noqa: E402,F401  (registers the power-law random features claims)
from . import plrf_scaling  # noqa: E402,F401  (registers the PLRF exponent, outscaling and compute-optimal claims)
