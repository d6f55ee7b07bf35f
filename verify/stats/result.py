"""Result objects of the statistics layer: :class:`Verdict` (one check) and :class:`Deviation`."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import numpy as np

__all__ = ["KINDS", "Deviation", "Verdict", "check_alpha", "combine", "from_json_number", "jsonable", "strict_json"]

#: the kinds of check and the unit of each one's ``statistic``
KINDS = {
    "series": "z",        # equivalent two-sided normal deviate of the family-wise p-value
    "scalar": "z",        # equivalent two-sided normal deviate of the p-value
    "growth": "z",        # equivalent one-sided normal deviate of the p-value
    "exact": "abs diff",    # absolute difference of two exactly computed values (passes iff 0)
    "numeric": "digits",  # number of agreeing significant digits
    "reported": "rel.",   # relative deviation; reported only, never counted as passed
}


def check_alpha(alpha):
    """``alpha`` as a float in (0, 1); ValueError otherwise."""
    if isinstance(alpha, bool) or not (isinstance(alpha, (int, float, np.floating)) and 0 < alpha < 1):
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
    return float(alpha)


def jsonable(obj):
    """``obj`` with NumPy scalars and arrays turned into Python numbers and lists."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    return repr(obj)


def strict_json(obj):
    """``obj`` made valid strict JSON (RFC 8259): :func:`jsonable`, then NaN -> ``None`` (null) and
    +-inf -> the strings ``"Infinity"``/``"-Infinity"`` (which ``float()`` reads back, see
    :func:`from_json_number`), so ``json.dumps(..., allow_nan=False)`` succeeds.

    >>> strict_json({"z": float("inf"), "se": float("nan"), "x": [np.float64(0.5)]})
    {'z': 'Infinity', 'se': None, 'x': [0.5]}
    """
    if type(obj) is float:   # one pass over the tree (the main job writes every claim's result with it)
        return obj if math.isfinite(obj) else _strict_float(obj)
    if isinstance(obj, dict):
        return {str(k): strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    obj = jsonable(obj)
    if isinstance(obj, float) and not math.isfinite(obj):
        return _strict_float(obj)
    return obj


def _strict_float(x: float):
    return None if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def from_json_number(x) -> float:
    """The float written by :func:`strict_json`: ``None`` -> NaN, ``"Infinity"`` -> inf."""
    return float("nan") if x is None else float(x)


@dataclass(frozen=True)
class Deviation:
    """One compared quantity: where it is and the two numbers."""

    quantity: str
    step: int
    index: int | None
    theory: float
    monte_carlo: float
    standard_error: float
    statistic: float
    last_step: int | None = None

    @property
    def steps(self) -> str:
        """"step k" or, for a block average, "steps a..b"."""
        if self.last_step is None or self.last_step == self.step:
            return f"step {self.step}"
        return f"steps {self.step}..{self.last_step}"

    @property
    def where(self) -> str:
        name = f"{self.quantity}[{self.index}]" if self.index is not None else self.quantity
        return f"{name} at {self.steps}"

    def describe(self) -> str:
        return (f"{self.where}: theory {self.theory:.6g}, Monte Carlo "
                f"{self.monte_carlo:.6g} +- {self.standard_error:.2g} (z = {self.statistic:+.2f})")


@dataclass
class Verdict:
    """The outcome of one check (truthy iff passed), in the style of ``scipy.stats`` results.

    Attributes
    ----------
    passed : bool
        For tests, ``p_value > alpha``; for ``exact`` and ``numeric`` checks, agreement;
        always False for ``reported`` (which is never counted, see :attr:`counted`).
    statistic : float
        In the unit of the kind (:data:`KINDS`): ``z`` (equivalent normal deviate of the
        p-value) for series, scalar and growth tests; the absolute difference for exact
        identities; the agreeing digits for numeric agreement; the relative deviation for
        reported rows.
    p_value : float
        (Family-wise) p-value; 0 or 1 for exact and numeric checks; nan for reported rows.
    alpha : float
        The false-failure probability this check was run at (0 for checks without randomness).
    comparisons : int
        Number of random quantities in the check's family.
    worst : Deviation or None
        The compared quantity with the largest deviation: both numbers and where.
    parameters : dict
        The problem's parameters (the counterexample when not passed).
    seed : dict or None
        The Monte Carlo seed record.
    kind : str
        One of :data:`KINDS`.
    test : str
        Which test ran (e.g. "Hall-corrected t on the time-averaged risk; Hotelling T^2 ...").
    label : str
        What was checked, in words (the row of the results table).
    theory, monte_carlo, standard_error : float
        The headline numbers of the row (nan where they do not apply).
    members : list of dict
        For a family of tests: each member's name, statistic, p-value and share of alpha.
    """

    passed: bool
    statistic: float
    p_value: float
    alpha: float
    comparisons: int = 1
    worst: Deviation | None = None
    parameters: dict = field(default_factory=dict)
    seed: dict | None = None
    kind: str = "series"
    test: str = ""
    label: str = ""
    theory: float = float("nan")
    monte_carlo: float = float("nan")
    standard_error: float = float("nan")
    members: list = field(default_factory=list)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}; got {self.kind!r}")
        if self.kind == "reported":
            self.passed = False

    def __bool__(self):
        return bool(self.passed)

    @property
    def counted(self) -> bool:
        """Whether this check counts towards a claim's verdict (every kind but ``reported``)."""
        return self.kind != "reported"

    @property
    def unit(self) -> str:
        return KINDS[self.kind]

    @property
    def outcome(self) -> str:
        """"pass", "FAIL" or "reported"."""
        if not self.counted:
            return "reported"
        return "pass" if self.passed else "FAIL"

    def summary(self) -> str:
        head = {"pass": "passed", "FAIL": "FAILED", "reported": "reported"}[self.outcome]
        text = f"{head}"
        if self.label:
            text += f" [{self.label}]"
        if self.kind in ("series", "scalar", "growth"):
            text += (f": {self.unit} = {self.statistic:.3g} over {self.comparisons} comparison"
                     f"{'s' if self.comparisons != 1 else ''}, p = {self.p_value:.3g} (alpha = {self.alpha:g})")
        else:
            text += f": {self.unit} = {self.statistic:.3g}"
        if self.test:
            text += f"; test: {self.test}"
        if self.worst is not None:
            text += "; worst " + self.worst.describe()
        if not self.passed and self.counted and self.parameters:
            text += f"; counterexample {self.parameters}"
        return text

    def to_dict(self) -> dict:
        out = asdict(self)
        out["parameters"] = jsonable(self.parameters)
        out["seed"] = jsonable(self.seed)
        out["members"] = jsonable(self.members)
        out["unit"] = self.unit
        for key in ("statistic", "p_value", "theory", "monte_carlo", "standard_error"):
            v = out[key]
            out[key] = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        d = dict(d)
        d.pop("unit", None)
        worst = d.pop("worst", None)
        if worst:
            worst = dict(worst)
            for key in ("theory", "monte_carlo", "standard_error", "statistic"):
                worst[key] = from_json_number(worst.get(key))
            worst = Deviation(**worst)
        for key in ("statistic", "p_value", "theory", "monte_carlo", "standard_error"):
            if key in d:
                d[key] = from_json_number(d[key])
        return cls(worst=worst, **d)


def combine(verdicts, alpha: float, parameters: dict | None = None, label: str = "") -> Verdict:
    """Combine the verdicts of a family of tests by Bonferroni.

    For comparisons (series, scalar), whose null is "theory = Monte Carlo", the combined
    p-value is min(1, m min_j p_j) for m members, and the family passes iff it exceeds
    ``alpha`` (so each member must have been run at alpha/m, or its p-value is simply
    re-adjusted here). For growth tests, which pass when their null is *rejected*, the
    family establishes every alternative (an intersection-union test): its p-value is
    max_j p_j and it passes iff that is at most ``alpha``, with no multiplicity correction
    (Berger, Technometrics 24 (1982)). The worst member's deviation and parameters are kept.

    Raises ValueError for an empty family, a member that is not a test, or a mix of
    growth tests with comparisons.

    Example
    -------
    >>> from verify.stats import scalar_comparison
    >>> a = scalar_comparison(1.0, mean=1.01, standard_error=0.01, replicas=1000, alpha=5e-3)
    >>> b = scalar_comparison(1.0, mean=0.99, standard_error=0.01, replicas=1000, alpha=5e-3)
    >>> v = combine([a, b], 1e-2)
    >>> round(v.p_value, 3), v.passed
    (0.635, True)
    """
    verdicts = list(verdicts)
    alpha = check_alpha(alpha)
    if not verdicts:
        raise ValueError("combine needs at least one verdict")
    bad = [v.kind for v in verdicts if v.kind not in ("series", "scalar", "growth")]
    if bad:
        raise ValueError(f"combine takes tests with p-values (series, scalar, growth); got kinds {bad}")
    kinds = {v.kind for v in verdicts}
    if "growth" in kinds and len(kinds) > 1:
        raise ValueError("combine cannot mix growth tests (which pass when their null is rejected) "
                         f"with comparisons (which pass when it is not); got kinds {sorted(kinds)}")
    if kinds == {"growth"}:
        # intersection-union test: every alternative must be established; the family
        # p-value is the largest member p-value and no multiplicity correction is needed
        worst = max(verdicts, key=lambda v: (v.p_value, -v.statistic))
        p = worst.p_value
        passed = bool(p <= alpha)
        member_alpha = alpha
    else:
        worst = min(verdicts, key=lambda v: (v.p_value, -v.statistic))
        p = min(1.0, len(verdicts) * worst.p_value)
        passed = bool(p > alpha)
        member_alpha = alpha / len(verdicts)
    kind = worst.kind if len(kinds) == 1 else "series"
    from scipy.stats import norm
    z = float(norm.isf(p / 2)) if p > 0 else float("inf")
    return Verdict(passed, z, p, alpha, sum(v.comparisons for v in verdicts), worst.worst,
                   dict(parameters or worst.parameters), worst.seed, kind=kind,
                   test=f"Bonferroni over {len(verdicts)} tests", label=label,
                   theory=worst.theory, monte_carlo=worst.monte_carlo, standard_error=worst.standard_error,
                   members=[dict(name=v.label or f"#{j + 1}", statistic=v.statistic, p_value=v.p_value,
                                 alpha=member_alpha) for j, v in enumerate(verdicts)])
