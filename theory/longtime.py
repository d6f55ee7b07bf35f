r"""Risk curves to k = 10^6 and beyond: a long-horizon solver for the exact recursions.

Every recursion of :mod:`theory.recursion` has the shape (:mod:`theory.linear`)

.. math::
    s_{k+1,i} = A_i s_{k,i} + u_i C_k + f_i,\qquad C_k = \sum_j v_j^\top s_{k,j},\qquad
    R_k = \tfrac12\Bigl(\sum_j w_j^\top s_{k,j} + \sigma^2\Bigr).

**Modes.** Diagonalise each p x p block, A_i = V_i diag(mu_i) V_i^{-1} (nearly defective blocks,
e.g. with close eigenvalues, are not diagonalised: their directions are iterated exactly inside
the block solve below). In the N = d p modal
coordinates z = V^{-1} s the recursion is diagonal plus rank one, and solving it gives the
discrete Volterra (renewal) equation

.. math::
    C_k = \sum_l c_l z_{0,l}\,\mu_l^k + \sum_{t<k} K(k-1-t)\, C_t + \sum_l c_l b_l \sum_{m<k}\mu_l^m,
    \qquad K(m) = \sum_l c_l a_l \mu_l^m = \sum_j v_j^\top A_j^m u_j,

with c = V^T v, a = V^{-1} u, b = V^{-1} f; R_k has the same form with e = V^T w in place of c.
Everything the risk needs is therefore six sums of exponentials sum_l omega_l mu_l^m.

**Compression (stated error).** Real modes 0 < abs(mu) < 1 are grouped by x = -log abs(mu) into bins
[x_a, x_b] with x_b <= r x_a (r = 2); a bin holding more than q modes is replaced by q
Chebyshev nodes x_n on [x_a, x_b] carrying the weights Omega_n = sum_l omega_l ell_n(x_l)
(ell_n the Lagrange basis). Since mu^m = sign^m e^{-m x}, the error of every compressed sum is
uniform in m:

.. math::
    \Bigl|\sum_l \omega_l \mu_l^m - \sum_n \Omega_n \nu_n^m\Bigr|
    \le \frac{2}{q!}\Bigl(\frac{(x_b - x_a)\,q}{4 e\, x_a}\Bigr)^q \sum_l |\omega_l|
    \quad\text{for all } m \ge 0,

(the Chebyshev interpolation remainder with max_m m^q e^{-m x_a} = (q/(e x_a))^q). q is the
smallest value whose bound, with r = 2, is below accuracy/100. Complex and non-contracting
modes are kept as they are. For a power-law spectrum over D decades of x this leaves about
45 D nodes whatever d is.

**Time stepping.** The compressed system is solved *exactly* in blocks of 256 steps: within a
block the coupling solves a unit lower-triangular Toeplitz system (the renewal equation), and
the node states are carried across blocks in closed form; cost O(N' n) for n steps and N'
nodes, all of it matrix products.

**Schedules** (hyperparameters that are callables of the step k, e.g. DANA-decaying
gamma_3(k), Delta(k)): the steps k < 16/epsilon are iterated exactly; after that the
map is frozen on windows [k, k + floor(epsilon k)) at its mean over the window (3-point
Gauss--Legendre in the step), each window is solved as above and the per-direction state at its end is recovered
from the node states (Chebyshev interpolation again, same bound). Freezing's error falls like
epsilon^1.5 in the tests (measured, see docs/long_horizons.md); ``estimated_error`` is the
largest relative difference to the run with 2 epsilon.

Source: the recursions as in :mod:`theory.recursion`; the Volterra form of the risk of SGD and
DANA on power-law random features: Paquette, Paquette, Xiao, Pennington, arXiv:2405.15074;
Ferbach, Everett, Gidel, Paquette, Paquette, arXiv:2505.16098.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .renewal import BLOCK, _decompress, _solve
from .renewal_modes import RATIO, _reduce
from .validation import _scalar

__all__ = ["LongTimeCurve", "risk_curve", "window_ratio"]

#: below this window length the scheduled solver iterates exactly
MIN_WINDOW = 16


@dataclass
class LongTimeCurve:
    """The exact expected risk R_k at chosen steps k (see :func:`risk_curve`).

    Attributes
    ----------
    times : ndarray of int, shape (n,)
        Step counts k (increasing).
    risk : ndarray of float, shape (n,)
        R_k = E (1/2)(<x, theta_k> - y)^2, the same quantity as ``Recursion.trajectory(...).risk[k]``.
    estimated_error : float
        Estimated largest relative error max_k abs(R_k / R_k^exact - 1) (schedules: the
        difference to the run with twice the window ratio, nan if not asked for; constant
        hyperparameters: the a priori compression bound, relative to the smallest risk at ``times``).
    method : str
        ``"volterra"`` (constant hyperparameters) or ``"frozen-windows"`` (schedules).
    nodes : int
        Number of modes after compression (N').
    details : dict
        The settings used (Chebyshev nodes per bin q, window ratio epsilon, number of windows).
    """

    times: np.ndarray
    risk: np.ndarray
    estimated_error: float
    method: str
    nodes: int = 0
    details: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------- public
def _check_times(times):
    try:
        t = np.asarray(times)
    except Exception as exc:  # pragma: no cover - numpy accepts nearly everything
        raise ValueError(f"times must be a 1-D array of increasing step counts; got {times!r}") from exc
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"times must be a non-empty 1-D array of increasing step counts k >= 0; got shape {t.shape}")
    if t.dtype == bool or not (np.issubdtype(t.dtype, np.integer) or np.issubdtype(t.dtype, np.floating)):
        raise ValueError(f"times must hold integers k >= 0; got dtype {t.dtype}")
    if np.issubdtype(t.dtype, np.floating):
        if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
            raise ValueError("times must hold integers k >= 0; got non-integer values")
        t = t.astype(np.int64)
    t = t.astype(np.int64)
    if t[0] < 0:
        raise ValueError(f"times must be >= 0; got {int(t[0])}")
    if np.any(np.diff(t) <= 0):
        raise ValueError("times must be strictly increasing")
    return t


def _is_schedule(v):
    return callable(v) and not isinstance(v, np.ndarray)


def risk_curve(recursion, eigenvalues, learning_rate, times, batch=1, noise_variance=0.0, initial=1.0,
               accuracy=1e-6, estimate_error=True, **hyper) -> LongTimeCurve:
    r"""The exact expected risk R_k of ``recursion`` at the step counts ``times``, fast for large k.

    Returns the same numbers as ``recursion.trajectory(eigenvalues, learning_rate, batch,
    noise_variance, initial, steps=max(times), **hyper).risk[times]`` up to a stated relative
    error, at a cost O(N' k) with N' ~ 45 nodes per decade of the spectrum instead of
    O(d p k) (constant hyperparameters), and for schedules with O(log k / epsilon) windows.
    The method (modes, compression with its error bound, exact block solve of the renewal
    equation, frozen windows for schedules) is described in :mod:`theory.longtime`.

    Parameters
    ----------
    recursion : theory.Recursion
        From :func:`theory.derive`.
    eigenvalues : array_like, shape (d,)
        lambda_i > 0.
    learning_rate : float
        gamma > 0 (per step, not scaled by 1/d).
    times : array_like of int, shape (n,)
        Strictly increasing step counts k >= 0 (e.g. a log grid up to 10^6).
    batch : int >= 1
    noise_variance : float >= 0
        sigma^2 (the risk includes sigma^2/2).
    initial : float or array_like, shape (d,)
        Initial error e_0 in the eigenbasis.
    accuracy : float in (0, 0.1]
        Target relative accuracy: sets the Chebyshev nodes per bin (constant hyperparameters) and
        the window ratio epsilon (schedules, :func:`window_ratio`: clip(25 accuracy^{0.7}, 0.005, 0.1),
        larger up to 0.25 where the measured error model C epsilon^1.5 allows).
    estimate_error : bool, default True
        Schedules: also run with 2 epsilon to estimate the error (``estimated_error``); False skips
        that second run (half the cost; the same ``risk``) and sets ``estimated_error`` to nan, for
        callers that rely on the error model of :func:`window_ratio`. No effect without schedules.
    **hyper
        The algorithm's other hyperparameters; schedulable ones may be callables of k.

    Returns
    -------
    LongTimeCurve

    Raises
    ------
    ValueError
        Bad input (naming the argument and its allowed range; a schedule value out of range names
        the step).

    Example
    -------
    >>> import numpy as np
    >>> from theory import derive
    >>> rec = derive()
    >>> lam = np.arange(1, 201) ** -1.6
    >>> curve = risk_curve(rec, lam, 0.5, [0, 10, 100, 10**4])
    >>> exact = rec.trajectory(lam, 0.5, steps=10**4).risk[[0, 10, 100, 10**4]]
    >>> bool(np.max(np.abs(curve.risk / exact - 1)) < 1e-6)
    True

    Source: Paquette et al., arXiv:2405.15074 (Volterra form of the risk); Ferbach et al.,
    arXiv:2505.16098 (DANA).
    """
    from .highline_solve import _single_threaded_blas
    t = _check_times(times)
    if not (_scalar(accuracy, "accuracy") > 0 and float(accuracy) <= 0.1):
        raise ValueError(f"accuracy must lie in (0, 0.1] (a relative error); got {accuracy!r}")
    with _single_threaded_blas():
        return _risk_curve(recursion, eigenvalues, learning_rate, t, batch, noise_variance, initial, accuracy, hyper,
                           bool(estimate_error))


def _risk_curve(recursion, eigenvalues, learning_rate, t, batch, noise_variance, initial, accuracy, hyper,
                estimate_error=True):
    steps = int(t[-1])
    sched = {k: v for k, v in hyper.items() if _is_schedule(v)}
    const = {k: v for k, v in hyper.items() if not _is_schedule(v)}
    lam, batch = recursion._check(eigenvalues, learning_rate, batch, noise_variance, dict(hyper), schedules=True)
    d = len(lam)
    s0, _ = recursion.initial_moments(initial, d, const.get("optimum"))
    if not sched:
        m = recursion.linear_map(lam, learning_rate, batch, noise_variance, **const)
        comp, _, _ = _reduce(m, s0, accuracy)
        risk, _ = _solve(comp, steps, float(noise_variance), times=t)
        floor = max(np.min(np.abs(risk[t])), 1e-300)
        err = float(np.max(comp.bound) / floor)
        return LongTimeCurve(times=t, risk=risk[t], estimated_error=err, method="volterra",
                             nodes=int(comp.nu.size), details={"chebyshev_nodes": comp.q, "ratio": RATIO, "block": BLOCK,
                                      "exact_directions": 0 if comp.exact is None else len(comp.exact[0])})
    values = _schedule_values(recursion.algorithm, sched, max(steps, 1))
    eps = window_ratio(accuracy)
    args = (recursion, lam, learning_rate, batch, float(noise_variance), s0, steps, const, values, accuracy)
    risk, windows = _windowed(*args, eps, times=t)
    err = float("nan")
    if estimate_error:
        coarse, _ = _windowed(*args, 2 * eps, times=t)
        err = float(np.max(np.abs(coarse[t] - risk[t]) / np.maximum(np.abs(risk[t]), 1e-300)))
    return LongTimeCurve(times=t, risk=risk[t], estimated_error=err, method="frozen-windows", nodes=0,
                         details={"ratio": RATIO, "block": BLOCK, "epsilon": eps, "windows": windows,
                                      "exact_steps": min(steps, math.ceil(MIN_WINDOW / eps))})


def _schedule_values(algorithm, sched, steps):
    """h(0), ..., h(steps - 1) of every schedule as float arrays, each value range-checked."""
    spec = {h.name: h for h in algorithm.hyperparameter_spec}
    out = {}
    for name, fn in sched.items():
        vals = np.empty(steps)
        for k in range(steps):
            try:
                vals[k] = fn(k)
            except Exception as exc:
                raise ValueError(f"{name}({k}) must return a real number in {spec[name].interval}; "
                                 f"it raised {type(exc).__name__}: {exc}") from exc
        lo, hi = spec[name].interval.low, spec[name].interval.high
        inside = np.isfinite(vals)
        inside &= (vals > lo) if spec[name].interval.low_open else (vals >= lo)
        inside &= (vals < hi) if spec[name].interval.high_open else (vals <= hi)
        bad = np.flatnonzero(~inside)
        if bad.size:
            spec[name].check_value(float(vals[bad[0]]), where=f" at step k = {int(bad[0])}")
        out[name] = vals
    return out


#: the freezing error model: max relative error ~ C epsilon^1.5 with C <= 0.011 measured on DANA-decaying
#: (d = 120-400, k to 2e4, epsilon = 0.1-0.5, docs/long_horizons.md); WINDOW_ERROR_CONSTANT is that
#: times 3.6, and MAX_WINDOW_RATIO the largest epsilon measured for the 2 epsilon run (0.5)
WINDOW_ERROR_CONSTANT = 0.04
MAX_WINDOW_RATIO = 0.25


def window_ratio(accuracy: float) -> float:
    """The window ratio epsilon for a requested relative ``accuracy``: clip(25 accuracy^0.7, 0.005, 0.1),
    or larger where the error model C epsilon^1.5 (C = :data:`WINDOW_ERROR_CONSTANT`) allows it, up to
    :data:`MAX_WINDOW_RATIO` (accuracy 1e-2: 0.25; accuracies up to 1.2e-3 keep the first formula).

    ``accuracy`` is a relative error in (0, 0.1] (checked by :func:`risk_curve`); epsilon is the window
    length as a fraction of the step k at which the window starts.

    Example
    -------
    >>> window_ratio(1e-2), window_ratio(1e-3)
    (0.25, 0.1)

    Source: the error model is measured here (docs/long_horizons.md, "Schedules")."""
    eps = float(np.clip(25.0 * accuracy ** 0.7, 0.005, 0.1))
    model = (accuracy / WINDOW_ERROR_CONSTANT) ** (2.0 / 3.0)
    return float(min(model, MAX_WINDOW_RATIO)) if model > eps else eps


_GAUSS_X = np.array([-math.sqrt(0.6), 0.0, math.sqrt(0.6)])
_GAUSS_W = np.array([5.0, 8.0, 5.0]) / 18.0


def _window_map(recursion, lam, learning_rate, batch, noise_variance, const, values, k, h):
    """The mean of the linear maps of the steps k, ..., k + h - 1 (3-point Gauss--Legendre in the
    step, schedules interpolated linearly between integer steps)."""
    maps = []
    for x in _GAUSS_X:
        kk = max(float(k), k - 0.5 + h * 0.5 * (1 + x))
        i = min(int(kk), k + h - 2)
        frac = kk - i
        maps.append(recursion.linear_map(lam, learning_rate, batch, noise_variance, **const,
                                         **{n: float((1 - frac) * v[i] + frac * v[i + 1]) for n, v in values.items()}))
    mean = {key: sum(wg * getattr(mp, key) for wg, mp in zip(_GAUSS_W, maps)) for key in "Auvfw"}
    return type(maps[0])(offset=maps[0].offset, **mean)


def _windowed(recursion, lam, learning_rate, batch, noise_variance, s, steps, const, values, accuracy, eps,
              times=None):
    """Risk R_0..R_steps with hyperparameters frozen at their window means on [k, k + floor(eps k))
    (with ``times``, only those entries are guaranteed; see :func:`theory.renewal._solve`)."""
    risk = np.empty(steps + 1)
    k, windows = 0, 0
    s = np.array(s, dtype=float)
    m = recursion.linear_map(lam, learning_rate, batch, noise_variance, **const,
                             **{n: v[0] for n, v in values.items()})
    risk[0] = m.observable(s)
    while k < steps:
        h = min(int(eps * k), steps - k)
        if h < MIN_WINDOW:
            m = recursion.linear_map(lam, learning_rate, batch, noise_variance, **const,
                                     **{n: v[k] for n, v in values.items()})
            s = m.apply(s)
            k += 1
            risk[k] = m.observable(s)
            continue
        m = _window_map(recursion, lam, learning_rate, batch, noise_variance, const, values, k, h)
        comp, mu, aux = _reduce(m, s, accuracy)
        inside = None if times is None else times[(times > k) & (times <= k + h)] - k
        r, groups = _solve(comp, h, noise_variance, state=True, times=inside)
        risk[k + 1:k + h + 1] = r[1:]
        s = _decompress(comp, groups, mu, aux, np.einsum("ipq,iq->ip", aux[1], s).reshape(-1), h)
        k += h
        windows += 1
    return risk, windows
