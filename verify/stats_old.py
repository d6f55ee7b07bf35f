r"""Calibrated comparison of a theory trajectory with a Monte Carlo result.

Test. For every compared quantity q (the risk at step k, the second moment
m_{k,i}, optionally the mean E e_{k,i}) the Monte Carlo estimate is the mean
of ``n`` independent replicas with standard error s/sqrt(n). Under the null
hypothesis "the theory gives the exact expectation" the studentised deviation

.. math:: t_q = (\hat q - q_{\rm theory}) / \widehat{\rm se}(\hat q)

is asymptotically Student-t with n - 1 degrees of freedom (central limit
theorem; the replicas are independent because every chunk of replicas has
its own ``SeedSequence`` child). Its two-sided p-value is p_q. Besides single
steps, the family includes each quantity averaged over dyadic blocks of steps
[1, 2), [2, 4), ..., per replica: time averages have much smaller standard
errors and give power against small systematic errors. The family of
N compared quantities (all steps and coordinates) is controlled by
Bonferroni: the family-wise p-value is min(1, N min_q p_q) and the verdict is
"passed" iff it exceeds ``alpha``. This bounds the probability of a false
failure by ``alpha`` whatever the dependence between steps and coordinates
(Holm's step-down procedure rejects the global null in exactly the same
cases). Quantities that are deterministic (standard error 0, e.g. step 0)
(standard error below 1e-12 of the value, i.e. replicas that agree to
rounding) must agree to 1e-9 relative and are not counted in N.

The approximation is the CLT for the replica mean: it needs enough replicas
for the studentised mean to be near-Gaussian at the Bonferroni level, and
finite fourth moments of the iterates (learning rates well inside the
stable region). ``tests/verify/test_stats.py`` measures the empirical
false-failure rate at a moderate alpha.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from scipy import stats as sps

__all__ = ["Verdict", "Deviation", "compare", "one_sided_p_value", "combine"]


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

    def describe(self) -> str:
        where = f"{self.quantity}[{self.index}]" if self.index is not None else self.quantity
        return (f"{where} at {self.steps}: theory {self.theory:.6g}, Monte Carlo "
                f"{self.monte_carlo:.6g} +- {self.standard_error:.2g} (t = {self.statistic:+.2f})")


@dataclass
class Verdict:
    """The outcome of a calibrated comparison (truthy iff passed).

    Attributes
    ----------
    passed : bool
        ``p_value > alpha``.
    statistic : float
        Largest absolute value of t over the compared quantities.
    p_value : float
        Family-wise (Bonferroni-adjusted) p-value.
    alpha : float
        Family-wise false-failure probability of the test.
    comparisons : int
        Number N of random quantities compared.
    worst : Deviation or None
        The quantity with the largest absolute t: both numbers and where.
    parameters : dict
        The problem's parameters (the counterexample when not passed).
    seed : dict or None
        The Monte Carlo seed record.
    """

    passed: bool
    statistic: float
    p_value: float
    alpha: float
    comparisons: int
    worst: Deviation | None
    parameters: dict = field(default_factory=dict)
    seed: dict | None = None

    def __bool__(self):
        return bool(self.passed)

    def summary(self) -> str:
        head = "passed" if self.passed else "FAILED"
        text = (f"{head}: max |t| = {self.statistic:.3g} over {self.comparisons} comparisons, "
                f"family-wise p = {self.p_value:.3g} (alpha = {self.alpha:g})")
        if self.worst is not None:
            text += "; worst " + self.worst.describe()
        if not self.passed and self.parameters:
            text += f"; counterexample {self.parameters}"
        return text

    def to_dict(self) -> dict:
        out = asdict(self)
        out["parameters"] = _jsonable(self.parameters)
        out["seed"] = _jsonable(self.seed)
        return out

    @classmethod
    def from_dict(cls, d: dict) -> "Verdict":
        worst = Deviation(**d["worst"]) if d.get("worst") else None
        return cls(d["passed"], d["statistic"], d["p_value"], d["alpha"], d["comparisons"], worst,
                   d.get("parameters", {}), d.get("seed"))


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, (int, float, str, bool)) or obj is None:
        return obj
    return repr(obj)


def _check_alpha(alpha):
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise ValueError(f"alpha must lie in (0, 1); got {alpha!r}")
    return float(alpha)


_QUANTITIES = {"risk": ("risk", "risk_se"), "second_moments": ("second_moments", "second_moments_se"),
               "mean": ("mean", "mean_se")}
_BLOCKS = {"risk": ("block_risk", "block_risk_se"),
           "second_moments": ("block_second_moments", "block_second_moments_se")}


def _block_average(values, edges):
    return np.stack([values[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:])])


def _items(prediction, result, quantities, blocks):
    """(name, theory, Monte Carlo, standard error) for every compared family."""
    T = result.steps
    for name in quantities:
        if name not in _QUANTITIES:
            raise ValueError(f"quantities must be among {sorted(_QUANTITIES)}; got {name!r}")
        attr, se_attr = _QUANTITIES[name]
        th = getattr(prediction, attr, None)
        if th is None:
            raise ValueError(f"the prediction has no {attr!r} to compare")
        th = np.asarray(th, dtype=float)
        mc = np.asarray(getattr(result, attr), dtype=float)
        if th.shape[0] < T + 1 or th.shape[1:] != mc.shape[1:]:
            raise ValueError(f"prediction {attr} has shape {th.shape}; the Monte Carlo result needs "
                             f"({T + 1},{','.join(map(str, mc.shape[1:]))}) or more steps")
        th = th[:T + 1]
        if not np.all(np.isfinite(th)):
            raise ValueError(f"the prediction's {attr} is not finite")
        steps = np.arange(T + 1)
        yield name, th, mc, np.asarray(getattr(result, se_attr), dtype=float), steps, steps
        battr = _BLOCKS.get(name)
        if blocks and battr and getattr(result, battr[0], None) is not None:
            edges = np.asarray(result.block_edges)
            yield ("block-averaged " + name, _block_average(th, result.block_edges),
                   np.asarray(getattr(result, battr[0])), np.asarray(getattr(result, battr[1])),
                   edges[:-1], edges[1:] - 1)


def compare(prediction, result, alpha: float = 1e-6, quantities=("risk", "second_moments"),
            parameters: dict | None = None, blocks: bool = True) -> Verdict:
    r"""Compare a theory trajectory with a Monte Carlo result at family-wise level ``alpha``.

    Parameters
    ----------
    prediction : theory.Trajectory (or any object with the arrays named in ``quantities``)
        ``risk`` shape (T+1,), ``second_moments`` (T+1, d), ``mean`` (T+1, d).
        It may be longer than the result; steps 0..result.steps are compared.
    result : verify.SimulationResult
    alpha : float in (0, 1)
        Family-wise false-failure probability (default 1e-6).
    quantities : tuple of {"risk", "second_moments", "mean"}
    blocks : bool
        Also compare the averages over dyadic blocks of steps [1,2), [2,4), ...
        (each replica's time average; far smaller standard errors, hence power
        against small systematic errors). For a block the "step" reported is
        the block's first step and ``last_step`` its last.

    Returns
    -------
    Verdict

    Raises
    ------
    ValueError
        alpha outside (0, 1), unknown quantity, or shapes that do not match.

    Example
    -------
    >>> from theory import derive
    >>> from verify import simulate, compare
    >>> kw = dict(eigenvalues=[1.0, 0.5], learning_rate=0.2, noise_variance=0.1, steps=20)
    >>> res = simulate(replicas=2000, seed=3, **kw)
    >>> compare(derive().trajectory(**kw), res).passed
    True
    """
    alpha = _check_alpha(alpha)
    df = max(int(result.replicas) - 1, 1)
    ts, ps = [], []
    deterministic_fail = None
    for name, th, mc, se, first, last in _items(prediction, result, quantities, blocks):
        scale = np.maximum(np.abs(th), np.abs(mc))
        random = se > 1e-12 * scale  # below that the replicas agree to rounding: deterministic
        det = ~random
        bad = det & (np.abs(mc - th) > 1e-9 * scale + 1e-300)
        if bad.any() and deterministic_fail is None:
            idx = np.unravel_index(np.flatnonzero(bad)[0], bad.shape)
            deterministic_fail = Deviation(name, int(first[idx[0]]), int(idx[1]) if len(idx) > 1 else None,
                                           float(th[idx]), float(mc[idx]), 0.0, float("inf"),
                                           int(last[idx[0]]))
        t = np.zeros_like(th)
        t[random] = (mc[random] - th[random]) / se[random]
        p = np.ones_like(th)
        p[random] = 2 * sps.t.sf(np.abs(t[random]), df)
        ts.append((name, t, th, mc, se, random, first, last))
        ps.append(p[random])
    n = int(sum(p.size for p in ps))
    params = dict(parameters or getattr(result, "parameters", {}) or {})
    seed = getattr(result, "seed", None)
    if deterministic_fail is not None:
        return Verdict(False, float("inf"), 0.0, alpha, n, deterministic_fail, params, seed)
    best = None
    for name, t, th, mc, se, random, first, last in ts:
        if not random.any():
            continue
        a = np.where(random, np.abs(t), -1.0)
        idx = np.unravel_index(int(np.argmax(a)), a.shape)
        if best is None or a[idx] > best[0]:
            best = (a[idx], Deviation(name, int(first[idx[0]]), int(idx[1]) if len(idx) > 1 else None,
                                      float(th[idx]), float(mc[idx]), float(se[idx]), float(t[idx]),
                                      int(last[idx[0]])))
    if best is None:
        return Verdict(True, 0.0, 1.0, alpha, 0, None, params, seed)
    pmin = float(min(p.min() for p in ps if p.size))
    p_fw = min(1.0, n * pmin)
    return Verdict(bool(p_fw > alpha), float(best[0]), p_fw, alpha, n, best[1], params, seed)


def one_sided_p_value(estimate, standard_error, threshold, df, alternative="greater") -> float:
    """p-value of H0: E estimate <= threshold (``greater``) or >= threshold (``less``), Student t."""
    if standard_error <= 0:
        holds = estimate > threshold if alternative == "greater" else estimate < threshold
        return 0.0 if holds else 1.0
    t = (estimate - threshold) / standard_error
    return float(sps.t.sf(t, df) if alternative == "greater" else sps.t.cdf(t, df))


def combine(verdicts, alpha: float, parameters: dict | None = None) -> Verdict:
    """Combine verdicts of a family of tests (Bonferroni over the members).

    The combined p-value is min(1, m * min_j p_j) for m members; it passes iff
    it exceeds ``alpha``; the worst member's deviation and parameters are kept.
    """
    verdicts = list(verdicts)
    alpha = _check_alpha(alpha)
    if not verdicts:
        raise ValueError("combine needs at least one verdict")
    worst = min(verdicts, key=lambda v: (v.p_value, -v.statistic))
    p = min(1.0, len(verdicts) * worst.p_value)
    return Verdict(bool(p > alpha), max(v.statistic for v in verdicts), p, alpha,
                   sum(v.comparisons for v in verdicts), worst.worst,
                   dict(parameters or worst.parameters), worst.seed)
