r"""Series comparison: a theory trajectory against a Monte Carlo result (:func:`compare`).

The default test is a small, pre-declared family of statistics on *time averages*, whose
per-replica values are far less skewed and far less noisy than single steps:

1. the **time-averaged risk** over steps 1..T (per replica);
2. the risk averaged over each **dyadic block** of steps [1, 2), [2, 4), ..., [2^J, T + 1),
   Bonferroni over the blocks;
3. for each vector quantity (second moments m_{k,i}, means E e_{k,i}), the **late-time**
   block (the last dyadic block) coordinate by coordinate, Bonferroni over d;
4. a **localiser**: every block of every vector quantity and coordinate, Bonferroni over all
   of them, with a small share of alpha, so that a failure says *where*.

Alpha is split among the members by weighted Bonferroni (default weights 6, 2, 1, 1 for a
comparison of the risk and the second moments: most of alpha goes to the time average, the
most powerful of them against errors in a coefficient), so the family-wise false-failure
probability is at most ``alpha`` whatever the dependence between members.

Each compared mean is tested in one of two ways.

* **Exact variance** (SGD, heavy ball and Nesterov on data with independent symmetric coordinates: the fourth-moment
  recursion of :mod:`theory.fourth` gives the exact variance over replicas of every block
  average, :mod:`verify.stats.laws`). The per-replica risks and squared errors are
  non-negative and right-skewed, so the mean's lower tail is lighter than Gaussian given its
  true variance, while the studentised mean's upper tail is lighter than Student's t (a large
  replica inflates the standard deviation with the mean). The two-sided p-value is
  2 min(Phi(z_exact), P(t_{n-1} > T)), the union of those two one-sided tests.
* **Hall-corrected t** otherwise (:func:`verify.stats.hall_z`, skewness from the replicas).

Single steps are not tested (only step 0, which is deterministic, must agree exactly): their
per-replica values are the most skewed of all; measured null runs at 0.7 gamma_c showed a
max-|t| over single steps failing at several times its level, and Hotelling's T^2 over blocks
(sample covariance) at twice its level. ``python -m verify calibrate`` measures the
false-failure rate of this test over the catalogue's regimes, and
``benchmarks/bench_power.py`` its power. Comparisons at or above the fourth-moment critical
learning rate are refused (:class:`verify.stats.laws.HeavyTailError`) where it is known.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

from .checks import hall_z, z_of_p
from .laws import exact_laws
from .result import Deviation, Verdict, check_alpha

__all__ = ["compare", "QUANTITIES", "WEIGHTS"]

#: quantity -> (attribute of the prediction and of the result, scalar per step?)
QUANTITIES = {"risk": ("risk", True), "second_moments": ("second_moments", False), "mean": ("mean", False),
              "learning_rate": ("learning_rate", True)}
_BLOCK = {"risk": "block_risk", "second_moments": "block_second_moments", "mean": "block_mean",
          "learning_rate": "block_learning_rate"}
#: weights of the members (time average, blocks of the risk, late coordinates, localiser)
WEIGHTS = {"time-average": 6.0, "blocks": 2.0, "late": 1.0, "localiser": 1.0}


def _block_average(values, edges):
    return np.stack([np.mean(values[a:b], axis=0) for a, b in zip(edges[:-1], edges[1:])])


def _arr(obj, name, required=True):
    v = getattr(obj, name, None)
    if v is None:
        if required:
            raise ValueError(f"the Monte Carlo result has no {name!r}")
        return None
    return np.asarray(v, dtype=float)


def _test(th, mc, se, skew, n, var=None):
    """Per-item two-sided p-values and signed statistics; returns (p, z, random, det_bad).

    ``var``: exact variances of one replica's value (then the exact/studentised union test),
    else Hall's corrected t with the sample ``skew``.
    """
    th, mc, se = np.atleast_1d(th), np.atleast_1d(mc), np.atleast_1d(se)
    scale = np.maximum(np.abs(th), np.abs(mc))
    random = se > 1e-12 * scale
    if var is not None:
        random &= np.atleast_1d(var) > 0
    det_bad = ~random & (np.abs(mc - th) > 1e-9 * scale + 1e-300)
    p, z = np.ones(th.shape), np.zeros(th.shape)
    if random.any():
        d = mc[random] - th[random]
        with np.errstate(all="ignore"):
            if var is not None:
                se_x = np.sqrt(np.atleast_1d(var)[random] / n)
                pr = np.minimum(1.0, 2 * np.minimum(sps.norm.cdf(d / se_x), sps.t.sf(d / se[random], n - 1)))
                zr = np.sign(d) * sps.norm.isf(np.maximum(pr, 1e-300) / 2)
            else:
                sk = np.zeros(d.shape) if skew is None else np.broadcast_to(skew, th.shape)[random]
                zr = hall_z(mc[random], se[random], th[random], sk, n)
                pr = 2 * sps.norm.sf(np.abs(zr))
        p[random], z[random] = pr, zr
    return p, z, random, det_bad


def _deviation(name, idx, th, mc, se, z, first, last, scalar):
    return Deviation(name, int(first[idx[0]]), None if scalar else int(idx[1]), float(th[idx]), float(mc[idx]),
                     float(se[idx]), float(z[idx]), int(last[idx[0]]))


def _best(name, p, z, random, th, mc, se, first, last, scalar):
    """(min p, its Deviation, number of random items) of one family of items."""
    if not random.any():
        return None
    a = np.where(random, p, 2.0)
    idx = np.unravel_index(int(np.argmin(a)), a.shape)
    return float(p[idx]), _deviation(name, idx, th, mc, se, z, first, last, scalar), int(random.sum())


def compare(prediction, result, alpha: float = 1e-6, quantities=("risk", "second_moments"),
            parameters: dict | None = None, weights: dict | None = None, label: str = "",
            variance: str = "auto") -> Verdict:
    r"""Compare a theory trajectory with a Monte Carlo result at family-wise level ``alpha``.

    The test is the pre-declared family of the module docstring: time-averaged risk,
    block-averaged risks, late-time coordinates and a localiser, each with a share of alpha
    (``weights``); the Verdict says which test ran and each member's p-value (``members``).

    Parameters
    ----------
    prediction : theory.Trajectory (or any object with the arrays named in ``quantities``)
        ``risk`` shape (T+1,), ``second_moments`` (T+1, d), ``mean`` (T+1, d),
        ``learning_rate`` (T+1,). It may be longer than the result; steps 0..T are compared.
    result : verify.SimulationResult (or verify.adaptive.AdaptiveResult for ``learning_rate``)
    alpha : float in (0, 1)
        Family-wise false-failure probability (default 1e-6).
    quantities : tuple of {"risk", "second_moments", "mean", "learning_rate"}
    parameters : dict, optional
        Recorded in the verdict (default: the result's parameters).
    weights : dict, optional
        Weights of the members "time-average", "blocks", "late", "localiser".
    label : str
    variance : {"auto", "estimated"}
        "auto": exact variances where :mod:`verify.stats.laws` derives them (and the guard
        against heavy tails), else estimated from the replicas; "estimated": always the latter.

    Returns
    -------
    Verdict
        kind ``"series"``; ``statistic`` the equivalent normal deviate of the family-wise
        p-value; ``worst`` the compared quantity with the smallest p-value.

    Raises
    ------
    ValueError
        alpha outside (0, 1), unknown quantity or weight, shapes that do not match, a
        prediction that is not finite, a result without per-replica block data.
    verify.stats.laws.HeavyTailError (a ValueError)
        The learning rate is at or above the fourth-moment critical learning rate, where the
        Monte Carlo means have unbounded variance (only where that rate is known).

    Example
    -------
    >>> from theory import derive
    >>> from verify import simulate, compare
    >>> kw = dict(eigenvalues=[1.0, 0.5], learning_rate=0.2, noise_variance=0.1, steps=20)
    >>> res = simulate(replicas=2000, seed=3, **kw)
    >>> v = compare(derive().trajectory(**kw), res)
    >>> v.passed, v.kind
    (True, 'series')
    """
    alpha = check_alpha(alpha)
    quantities = tuple(quantities)
    if not quantities:
        raise ValueError("quantities must name at least one quantity")
    for q in quantities:
        if q not in QUANTITIES:
            raise ValueError(f"quantities must be among {sorted(QUANTITIES)}; got {q!r}")
    if variance not in ("auto", "estimated"):
        raise ValueError(f"variance must be 'auto' or 'estimated'; got {variance!r}")
    wts = dict(WEIGHTS, **(weights or {}))
    unknown = set(wts) - set(WEIGHTS)
    if unknown:
        raise ValueError(f"weights must be among {sorted(WEIGHTS)}; got {sorted(unknown)}")
    bad = [k for k, w in wts.items() if not (isinstance(w, (int, float)) and w > 0)]
    if bad:
        raise ValueError(f"weights must be positive numbers; got {bad}")
    T = result.steps
    n = int(result.replicas)
    edges = list(result.block_edges)
    first, last = np.asarray(edges[:-1]), np.asarray(edges[1:]) - 1
    laws = exact_laws(prediction, edges) if variance == "auto" else None
    members = []    # (name, p adjusted within the member, weight, Deviation or None, extra)
    localiser = []  # (min p, Deviation, count)
    det_fail = None
    for q in quantities:
        attr, scalar = QUANTITIES[q]
        th = getattr(prediction, attr, None)
        if th is None:
            raise ValueError(f"the prediction has no {attr!r} to compare")
        th = np.asarray(th, dtype=float)
        mc = _arr(result, attr)
        if th.shape[0] < T + 1 or th.shape[1:] != mc.shape[1:]:
            raise ValueError(f"prediction {attr} has shape {th.shape}; the Monte Carlo result needs "
                             f"({T + 1},{','.join(map(str, mc.shape[1:]))}) or more steps")
        th = th[:T + 1]
        if not np.all(np.isfinite(th)):
            raise ValueError(f"the prediction's {attr} is not finite")
        # step 0 is deterministic: exact agreement
        se0 = _arr(result, attr + "_se")[:1]
        _, _, _, bad0 = _test(th[:1], mc[:1], se0, None, n)
        if bad0.any() and det_fail is None:
            idx = np.unravel_index(int(np.flatnonzero(bad0)[0]), bad0.shape)
            det_fail = _deviation(q, idx, th[:1], mc[:1], se0, np.full(bad0.shape, np.inf), [0], [0], scalar)
        battr = _BLOCK[q]
        bmc, bse = _arr(result, battr), _arr(result, battr + "_se")
        bskew = _arr(result, battr + "_skewness", required=False)
        bth = _block_average(th, edges)
        var = None
        if laws is not None and q == "risk":
            var = laws.block_risk_variance
        elif laws is not None and q == "second_moments":
            var = laws.block_second_moment_variance
        p, z, random, det_bad = _test(bth, bmc, bse, bskew, n, var)
        name = "block-averaged " + q
        if det_bad.any() and det_fail is None:
            idx = np.unravel_index(int(np.flatnonzero(det_bad)[0]), det_bad.shape)
            det_fail = _deviation(name, idx, bth, bmc, bse, np.full(det_bad.shape, np.inf), first, last, scalar)
        if scalar:
            best = _best(name, p, z, random, bth, bmc, bse, first, last, scalar)
            if best is not None:
                members.append((f"{name} ({best[2]} dyadic blocks)", min(1.0, best[2] * best[0]), wts["blocks"],
                                best[1]))
            X = _arr(result, "replica_" + battr, required=False)
            if X is None or X.shape != (n, len(edges) - 1):
                raise ValueError(f"the Monte Carlo result has no per-replica block averages {'replica_' + battr!r} "
                                 f"of shape ({n}, {len(edges) - 1}); run it with verify.simulate")
            width = np.diff(edges).astype(float)
            ta = X @ (width / width.sum())
            ta_th = float(np.sum(bth * width) / width.sum())
            mean, se_ta = float(ta.mean()), float(ta.std(ddof=1) / np.sqrt(n))
            dv = ta - mean
            g3 = float(np.mean(dv**3) / np.mean(dv**2) ** 1.5) if se_ta > 0 else 0.0
            tvar = None if (laws is None or q != "risk") else np.array([laws.time_average_variance])
            pt, zt, rt, bt = _test(np.array([ta_th]), np.array([mean]), np.array([se_ta]), g3, n, tvar)
            if bt.any() and det_fail is None:
                det_fail = Deviation(f"time-averaged {q}", edges[0], None, ta_th, mean, 0.0, float("inf"), edges[-1] - 1)
            if rt.any():
                members.append((f"time-averaged {q}", float(pt[0]), wts["time-average"],
                                Deviation(f"time-averaged {q}", edges[0], None, ta_th, mean, se_ta, float(zt[0]),
                                          edges[-1] - 1)))
        else:
            late = _best(name, p[-1:], z[-1:], random[-1:], bth[-1:], bmc[-1:], bse[-1:], first[-1:], last[-1:],
                         scalar)
            if late is not None:
                members.append((f"late-time {q} (steps {edges[-2]}..{edges[-1] - 1}, {late[2]} coordinates)",
                                min(1.0, late[2] * late[0]), wts["late"], late[1]))
            best = _best(name, p, z, random, bth, bmc, bse, first, last, scalar)
            if best is not None:
                localiser.append(best)
    params = dict(parameters or getattr(result, "parameters", {}) or {})
    seed = getattr(result, "seed", None)
    test_kind = "exact variances (theory.fourth)" if laws is not None else "Hall-corrected t"
    if det_fail is not None:
        return Verdict(False, float("inf"), 0.0, alpha, 1, det_fail, params, seed, kind="series",
                       test="deterministic quantities must agree to 1e-9 relative", label=label,
                       theory=det_fail.theory, monte_carlo=det_fail.monte_carlo, standard_error=0.0)
    if localiser:
        count = sum(c for _, _, c in localiser)
        pmin, dev, _ = min(localiser, key=lambda b: b[0])
        members.append((f"localiser: {count} blocks x coordinates", min(1.0, count * pmin), wts["localiser"], dev))
    if not members:
        return Verdict(True, 0.0, 1.0, alpha, 0, None, params, seed, kind="series",
                       test="no random quantity to compare", label=label)
    total = sum(m[2] for m in members)
    adjusted = [min(1.0, p * total / w) for _, p, w, _ in members]
    j = int(np.argmin(adjusted))
    p_fw = adjusted[j]
    worst = members[j][3]
    head = next((m[3] for m in members if m[0].startswith("time-averaged")), worst)
    shown = worst if p_fw <= alpha else head
    test = f"{test_kind}; " + "; ".join(f"{name} (share {w / total:.2g})" for name, _, w, _ in members)
    comparisons = sum(c for _, _, c in localiser) + sum(1 for m in members if not m[0].startswith("localiser"))
    return Verdict(bool(p_fw > alpha), z_of_p(p_fw), p_fw, alpha, comparisons, worst, params, seed,
                   kind="series", test=test, label=label, theory=shown.theory, monte_carlo=shown.monte_carlo,
                   standard_error=shown.standard_error,
                   members=[dict(name=name, p_value=p, alpha=alpha * w / total, statistic=dev.statistic)
                            for name, p, w, dev in members])
