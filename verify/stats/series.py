r"""Series comparison: a theory trajectory against a Monte Carlo result (:func:`compare`).

The default test is a small, pre-declared family of statistics on *time averages*, whose
per-replica values are far less skewed and far less noisy than single steps:

1. the **time-averaged risk** over steps 1..T (per replica), Hall-corrected t;
2. **Hotelling's T^2** on the replicas' risks averaged over the dyadic blocks of steps
   [1, 2), [2, 4), ..., [2^J, T + 1) (their sample covariance; F(p, n - p) reference);
3. for each vector quantity (second moments m_{k,i}, means E e_{k,i}), the **late-time**
   block (the last dyadic block) coordinate by coordinate, Hall-corrected t, Bonferroni over d;
4. a **localiser**: every single step of the risk and every block of every quantity and
   coordinate, Hall-corrected t, Bonferroni over all of them, with a small share of alpha,
   so that a failure says *where* and a deviation confined to a few steps is still seen.

Alpha is split among the members by weighted Bonferroni (default weights 3, 3, 2, 2 for a
comparison of the risk and the second moments), so the family-wise false-failure
probability is at most ``alpha`` whatever the dependence between members. The approximation
is the CLT with Hall's skewness correction (:mod:`verify.stats.checks`): it needs finite
fourth moments of the iterates, i.e. learning rates below the fourth-moment critical
learning rate. ``python -m verify calibrate`` measures the false-failure rate of this test
over the catalogue's regimes, and ``benchmarks/bench_power.py`` its power.
"""
from __future__ import annotations

import numpy as np
from scipy import stats as sps

from .checks import hall_z, z_of_p
from .result import Deviation, Verdict, check_alpha

__all__ = ["compare", "QUANTITIES"]

#: quantity -> (attribute of the prediction and of the result, scalar per step?)
QUANTITIES = {"risk": ("risk", True), "second_moments": ("second_moments", False), "mean": ("mean", False),
              "learning_rate": ("learning_rate", True)}
_BLOCK = {"risk": "block_risk", "second_moments": "block_second_moments", "mean": "block_mean",
          "learning_rate": "block_learning_rate"}
#: weights of the members (time average, Hotelling, late coordinates, localiser)
WEIGHTS = {"time-average": 3.0, "hotelling": 3.0, "late": 2.0, "localiser": 2.0}


def _block_average(values, edges):
    return np.stack([np.mean(values[a:b], axis=0) for a, b in zip(edges[:-1], edges[1:])])


def _arr(obj, name, required=True):
    v = getattr(obj, name, None)
    if v is None:
        if required:
            raise ValueError(f"the Monte Carlo result has no {name!r}")
        return None
    return np.asarray(v, dtype=float)


class _Items:
    """Collects the localiser's items and the deterministic ones."""

    def __init__(self):
        self.z, self.dev, self.det_fail = [], [], None

    def add(self, name, th, mc, se, skew, n, first, last, scalar):
        th, mc, se = np.atleast_1d(th), np.atleast_1d(mc), np.atleast_1d(se)
        shape = th.shape
        if skew is None:
            skew = np.zeros(shape)
        scale = np.maximum(np.abs(th), np.abs(mc))
        random = se > 1e-12 * scale
        bad = ~random & (np.abs(mc - th) > 1e-9 * scale + 1e-300)
        if bad.any() and self.det_fail is None:
            idx = np.unravel_index(np.flatnonzero(bad)[0], shape)
            self.det_fail = Deviation(name, int(first[idx[0]]), None if scalar else int(idx[1]), float(th[idx]),
                                      float(mc[idx]), 0.0, float("inf"), int(last[idx[0]]))
        z = np.zeros(shape)
        with np.errstate(all="ignore"):
            z[random] = hall_z(mc[random], se[random], th[random], np.asarray(skew)[random], n)
        for idx in zip(*np.nonzero(random)):
            pass
        self.z.append((name, z, random, th, mc, se, first, last, scalar))

    def count(self):
        return int(sum(r.sum() for _, _, r, *_ in self.z))

    def worst(self):
        best = None
        for name, z, random, th, mc, se, first, last, scalar in self.z:
            if not random.any():
                continue
            a = np.where(random, np.abs(z), -1.0)
            idx = np.unravel_index(int(np.argmax(a)), a.shape)
            if best is None or a[idx] > best[0]:
                best = (float(a[idx]), Deviation(name, int(first[idx[0]]), None if scalar else int(idx[1]),
                                                 float(th[idx]), float(mc[idx]), float(se[idx]), float(z[idx]),
                                                 int(last[idx[0]])))
        return best


def _hotelling(X, mu):
    """p-value and T^2 of Hotelling's test of E X = mu (rows of X: replicas); None if degenerate."""
    n = X.shape[0]
    xbar = X.mean(axis=0)
    S = np.cov(X, rowvar=False, ddof=1).reshape(X.shape[1], X.shape[1])
    w, U = np.linalg.eigh(S)
    keep = w > 1e-10 * max(float(w.max()), 1e-300)
    p = int(keep.sum())
    if p == 0 or n <= p + 1:
        return None
    proj = U[:, keep].T @ (xbar - mu)
    t2 = float(n * np.sum(proj**2 / w[keep]))
    f = (n - p) / (p * (n - 1)) * t2
    return float(sps.f.sf(f, p, n - p)), t2, p


def compare(prediction, result, alpha: float = 1e-6, quantities=("risk", "second_moments"),
            parameters: dict | None = None, weights: dict | None = None, label: str = "") -> Verdict:
    r"""Compare a theory trajectory with a Monte Carlo result at family-wise level ``alpha``.

    The test is the pre-declared family of the module docstring: time-averaged risk,
    Hotelling's T^2 on block-averaged risks, late-time coordinates and a localiser, each
    with a share of alpha (``weights``); the Verdict says which test ran and each member's
    p-value (``members``).

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
        Weights of the members "time-average", "hotelling", "late", "localiser".
    label : str

    Returns
    -------
    Verdict
        kind ``"series"``; ``statistic`` the equivalent normal deviate of the family-wise
        p-value; ``worst`` the localiser's largest deviation.

    Raises
    ------
    ValueError
        alpha outside (0, 1), unknown quantity, shapes that do not match, a prediction
        that is not finite, or a result without per-replica block data.

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
    wts = dict(WEIGHTS, **(weights or {}))
    unknown = set(wts) - set(WEIGHTS)
    if unknown:
        raise ValueError(f"weights must be among {sorted(WEIGHTS)}; got {sorted(unknown)}")
    T = result.steps
    n = int(result.replicas)
    edges = list(result.block_edges)
    first, last = np.asarray(edges[:-1]), np.asarray(edges[1:]) - 1
    steps = np.arange(T + 1)
    items = _Items()
    members = []   # (name, p, weight, extra dict)
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
        battr = _BLOCK[q]
        bmc, bse = _arr(result, battr), _arr(result, battr + "_se")
        bskew = _arr(result, battr + "_skewness", required=False)
        bth = _block_average(th, edges)
        # single steps: tested when their skewness is recorded (the risk), else deterministic only
        skew = _arr(result, attr + "_skewness", required=False)
        se = _arr(result, attr + "_se")
        if skew is not None:
            items.add(q, th, mc, se, skew, n, steps, steps, scalar)
        else:
            items.add(q, th[:1], mc[:1], se[:1], None, n, steps[:1], steps[:1], scalar)
        items.add("block-averaged " + q, bth, bmc, bse, bskew, n, first, last, scalar)
        if scalar:
            X = _arr(result, "replica_" + battr, required=False)
            if X is None or X.shape != (n, len(edges) - 1):
                raise ValueError(f"the Monte Carlo result has no per-replica block averages {'replica_' + battr!r} "
                                 f"of shape ({n}, {len(edges) - 1}); run it with verify.simulate")
            width = np.diff(edges).astype(float)
            ta = X @ (width / width.sum())
            ta_th = float(np.sum(bth * width) / width.sum())
            mean, sd = float(ta.mean()), float(ta.std(ddof=1))
            se_ta = sd / np.sqrt(n)
            if se_ta > 1e-12 * max(abs(mean), abs(ta_th)):
                dv = ta - mean
                g3 = float(np.mean(dv**3) / np.mean(dv**2) ** 1.5)
                z = float(hall_z(mean, se_ta, ta_th, g3, n))
                members.append((f"time-averaged {q}", float(2 * sps.norm.sf(abs(z))), wts["time-average"],
                                dict(theory=ta_th, monte_carlo=mean, standard_error=se_ta, statistic=abs(z))))
            random = np.std(X, axis=0) > 1e-12 * np.maximum(np.abs(bth), np.abs(bmc))
            hot = _hotelling(X[:, random], bth[random]) if random.any() else None
            if hot is not None:
                members.append((f"{q} over {hot[2]} blocks (Hotelling T^2)", hot[0], wts["hotelling"],
                                dict(statistic=hot[1])))
        else:
            zl = np.zeros(bth.shape[1])
            r = bse[-1] > 1e-12 * np.maximum(np.abs(bth[-1]), np.abs(bmc[-1]))
            if r.any():
                zl[r] = hall_z(bmc[-1][r], bse[-1][r], bth[-1][r],
                               (bskew[-1][r] if bskew is not None else 0.0), n)
                j = int(np.argmax(np.abs(zl)))
                pmin = float(2 * sps.norm.sf(abs(zl[j])))
                members.append((f"late-time {q} (steps {edges[-2]}..{edges[-1] - 1}, {int(r.sum())} coordinates)",
                                min(1.0, int(r.sum()) * pmin), wts["late"],
                                dict(theory=float(bth[-1][j]), monte_carlo=float(bmc[-1][j]),
                                     standard_error=float(bse[-1][j]), statistic=float(abs(zl[j])))))
    params = dict(parameters or getattr(result, "parameters", {}) or {})
    seed = getattr(result, "seed", None)
    n_loc = items.count()
    worst = items.worst()
    if items.det_fail is not None:
        return Verdict(False, float("inf"), 0.0, alpha, n_loc, items.det_fail, params, seed, kind="series",
                       test="deterministic quantities must agree to 1e-9 relative", label=label,
                       theory=items.det_fail.theory, monte_carlo=items.det_fail.monte_carlo, standard_error=0.0)
    if worst is not None:
        p_loc = min(1.0, n_loc * float(2 * sps.norm.sf(worst[0])))
        d = worst[1]
        members.append((f"localiser: max |z| over {n_loc} steps and blocks", p_loc, wts["localiser"],
                        dict(theory=d.theory, monte_carlo=d.monte_carlo, standard_error=d.standard_error,
                             statistic=worst[0])))
    if not members:
        return Verdict(True, 0.0, 1.0, alpha, 0, None, params, seed, kind="series",
                       test="no random quantity to compare", label=label)
    total = sum(w for _, _, w, _ in members)
    adjusted = [(name, min(1.0, p * total / w), w, extra) for name, p, w, extra in members]
    deciding = min(adjusted, key=lambda m: m[1])
    p_fw = deciding[1]
    test = "; ".join(f"{name} (share {w / total:.2g})" for name, _, w, _ in members)
    ex = deciding[3]
    return Verdict(bool(p_fw > alpha), z_of_p(p_fw), p_fw, alpha, n_loc + len(members) - 1,
                   worst[1] if worst else None, params, seed, kind="series", test=test, label=label,
                   theory=ex.get("theory", float("nan")), monte_carlo=ex.get("monte_carlo", float("nan")),
                   standard_error=ex.get("standard_error", float("nan")),
                   members=[dict(name=name, p_value=p, alpha=alpha * w / total, statistic=extra.get("statistic"))
                            for name, p, w, extra in members])
