r"""Checking a user's High-Line-type ODE: against the derived limit and against runs at growing d.

The user writes the drift of D_i^2(t) = d E e_{floor(td), i}^2 for streaming SGD with step
gamma = g/d, batch 1, time t = k/d (Collins-Woodfin et al., arXiv:2405.19585, eq. 8), in the
names ``g``, ``lam`` (lambda_i), ``D2`` (D_i^2), ``R`` (the risk R(t)), ``sigma2`` and
``kappa``. :func:`check_ode` returns one :class:`verify.Verdict` from three parts:

1. **symbolic**: the drift equals the package's derived limit
   (:func:`theory.highline.derive_limit`, from the exact recursion) as an exact identity;
   on a mismatch the counterexample is the difference and the simplest small-integer point
   (g, lambda, D^2, R, sigma^2) where it does not vanish;
2. **the O(1/d) gap at growing d**: the user's ODE is integrated (SciPy ``solve_ivp``) on a
   fixed spectral measure and compared with the exact finite-d expected risk E R_k of the
   package's recursion at k = t d, for d in ``dimensions``; the gap
   sup_t |R_ODE(t) - E R_{td}| is reported with d x gap, and its measured order of
   convergence p (least-squares slope of log gap on log d) must be at least 1/2 (a correct
   limit has p = 1, a wrong one p = 0);
3. **Monte Carlo at growing d**: simulated runs at each d (:func:`verify.simulate`) agree
   with that finite-d expectation (:func:`verify.compare`, Bonferroni at ``alpha``), and the
   Monte Carlo gap sup_t |R_ODE(t) - mean R_{td}| is reported with its standard error.
"""
from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import sympy as sp
from scipy.integrate import solve_ivp

from theory import SGD, Gaussian, derive
from theory import highline as hl
from theory import symbols as sym
from theory.parsing import as_expression
from theory.validation import check_integer

from ..montecarlo import simulate
from ..stats import Verdict, check_alpha, compare, exact_identity

__all__ = ["ODE_NAMES", "check_ode"]

#: names a drift may use
ODE_NAMES = {"g": hl.g, "lam": sym.lam, "eigenvalue": sym.lam, "D2": hl.D2, "R": hl.R, "risk": hl.R,
             "sigma2": sym.sigma2, "noise_variance": sym.sigma2, "kappa": sym.kappa, "kurtosis": sym.kappa}
#: the default spectral measure: (eigenvalue, weight) atoms
SPECTRUM = ((1.0, 0.5), (0.25, 0.5))


def _counterexample(diff):
    """The simplest point (small integers, then halves) where ``diff`` does not vanish, or None."""
    symbols = sorted(diff.free_symbols, key=str)
    for grid in ((1, 2), (1, 2, 3, sp.Rational(1, 2))):
        for point in itertools.product(grid, repeat=len(symbols)):
            value = diff.subs(dict(zip(symbols, point)))
            if value != 0:
                return {str(s): str(p) for s, p in zip(symbols, point)}, str(value)
    return None


def _integrate(drift, atoms, weights, g, sigma2, kappa, D0, times):
    """R(t) of dD_j^2/dt = drift(g, lambda_j, D_j^2, R), R = (1/2) sum_j w_j lambda_j D_j^2 + sigma^2/2."""
    f = sp.lambdify([hl.D2, hl.R, sym.lam], drift.subs({hl.g: g, sym.sigma2: sigma2, sym.kappa: kappa}),
                    modules="numpy")
    lw = weights * atoms

    def rhs(_, y):
        r = 0.5 * lw @ y + 0.5 * sigma2
        return np.broadcast_to(np.asarray(f(y, r, atoms), dtype=float), y.shape)

    sol = solve_ivp(rhs, (0.0, float(times[-1])), np.full(atoms.size, float(D0)), t_eval=times,
                    method="DOP853", rtol=1e-11, atol=1e-13)
    if not sol.success or sol.y.shape[1] != len(times):
        return np.full(len(times), np.inf)
    return 0.5 * lw @ sol.y + 0.5 * sigma2


def check_ode(drift, data=None, *, learning_rate_fraction: float = 0.5, noise_variance: float = 0.5,
              initial: float = 1.0, t_max: float = 4.0, dimensions=(32, 64, 128, 256), spectrum=SPECTRUM,
              replicas: int = 500, alpha: float = 1e-6, seed: int = 0, monte_carlo: bool = True):
    r"""Check a user's drift dD_i^2/dt of the High Line ODE (streaming SGD, gamma = g/d, t = k/d).

    Parameters
    ----------
    drift : sympy.Expr or str
        dD_i^2/dt in ``g``, ``lam``, ``D2``, ``R``, ``sigma2``, ``kappa`` (SymPy: the symbols of
        :mod:`theory.highline`); strings go through the restricted parser
        :func:`theory.parsing.parse_expression` (no code runs).
    data : theory.DataModel with independent coordinates, default Gaussian()
    learning_rate_fraction : float in (0, 1)
        g as a fraction of the derived critical g_c = 2 d / tr K.
    noise_variance : float >= 0
        sigma^2.
    initial : float >= 0
        D_i^2(0) (the run starts at e_{0,i} = sqrt(D_i^2(0) / d)).
    t_max : float > 0
        Horizon in t = k/d; 21 equally spaced times are compared.
    dimensions : sequence of at least 2 increasing ints
        The d of the finite-d comparisons; d x weight must be an integer for every atom.
    spectrum : sequence of (eigenvalue, weight)
        The spectral measure, fixed as d grows (weights sum to 1).
    replicas : int >= 2
    alpha : float in (0, 1)
        Family-wise false-failure probability of the Monte Carlo comparisons.
    seed : int >= 0
    monte_carlo : bool
        Run part 3.

    Returns
    -------
    Verdict
        Passed iff the drift is the derived limit, the gap converges (order >= 1/2) and the
        Monte Carlo runs agree with the finite-d expectations. ``parameters["gap"]`` lists, per
        d, the exact gap, d x gap and (with Monte Carlo) the Monte Carlo gap and its standard error;
        ``parameters["order"]`` the measured order. On a symbolic mismatch (kind ``"exact"``),
        ``parameters["difference"]`` and ``parameters["counterexample"]`` (the point and the
        difference there).

    Raises
    ------
    ValueError
        A bad formula (names the token) or argument (named).

    Example
    -------
    >>> v = check_ode("-2*g*lam*D2 + 2*g**2*lam*R", dimensions=(16, 32), monte_carlo=False)
    >>> v.passed, 0.8 < v.parameters["order"] < 1.3     # the gap is O(1/d)
    (True, True)
    >>> check_ode("-2*g*lam*D2 + g**2*lam*R", dimensions=(16, 32), monte_carlo=False).passed
    False

    Source: Collins-Woodfin, Seroussi, Garcia Malaxechebarria, Mackenzie, Paquette, Paquette,
    "The High Line", arXiv:2405.19585, eq. 8.
    """
    data = Gaussian() if data is None else data
    drift = as_expression(drift, ODE_NAMES, argument="drift")
    unknown = drift.free_symbols - set(ODE_NAMES.values())
    if unknown:
        raise ValueError(f"drift uses {sorted(map(str, unknown))}; allowed names: {sorted(ODE_NAMES)} "
                         "(or the symbols of theory.highline and theory.symbols)")
    if not (0 < float(learning_rate_fraction) < 1):
        raise ValueError(f"learning_rate_fraction must lie in (0, 1); got {learning_rate_fraction!r}")
    if not (float(noise_variance) >= 0 and math.isfinite(noise_variance)):
        raise ValueError(f"noise_variance must be a finite number >= 0; got {noise_variance!r}")
    if not (float(initial) >= 0 and math.isfinite(initial)):
        raise ValueError(f"initial must be a finite number >= 0; got {initial!r}")
    if not (float(t_max) > 0 and math.isfinite(t_max)):
        raise ValueError(f"t_max must be a finite number > 0; got {t_max!r}")
    dims = [check_integer(x, "dimensions", 1) for x in dimensions]
    if len(dims) < 2 or any(b <= a for a, b in itertools.pairwise(dims)):
        raise ValueError(f"dimensions must be at least 2 increasing integers; got {dimensions!r}")
    atoms = np.array([float(a) for a, _ in spectrum])
    weights = np.array([float(w) for _, w in spectrum])
    if atoms.size < 1 or np.any(atoms <= 0) or np.any(weights <= 0) or abs(weights.sum() - 1) > 1e-12:
        raise ValueError(f"spectrum must be (eigenvalue > 0, weight > 0) pairs with weights summing to 1; got "
                         f"{spectrum!r}")
    for dd in dims:
        if np.any(np.abs(dd * weights - np.round(dd * weights)) > 1e-9):
            raise ValueError(f"dimensions: d x weight must be an integer for every atom; d = {dd} is not")
    replicas = check_integer(replicas, "replicas", 2)
    alpha = check_alpha(alpha)
    seed = check_integer(seed, "seed", 0)

    rec = derive(SGD(), data)
    ode = hl.derive_limit(rec)
    kappa = float(np.atleast_1d(data.kurtosis_values(1))[0])
    g = float(learning_rate_fraction) * float(ode.critical_g_expression.subs(hl.trK, float(weights @ atoms) * hl.d))
    sigma2 = float(noise_variance)
    times = np.linspace(0.0, float(t_max), 21)
    setting = dict(g=g, noise_variance=sigma2, initial_D2=float(initial), t_max=float(t_max),
                   spectrum=[[float(a), float(w)] for a, w in zip(atoms, weights)], data=repr(data))

    # 1. symbolic
    symbolic = exact_identity(drift, ode.drift, parameters=dict(drift=str(drift), derived=str(ode.drift)),
                              label="your drift = the derived d -> infinity limit (theory.highline.derive_limit)")
    # 2. gap at growing d (exact finite-d expectation) and 3. Monte Carlo
    r_ode = _integrate(drift, atoms, weights, g, sigma2, kappa, initial, times)
    gaps, mc_verdicts = [], []
    for j, dd in enumerate(dims):
        lam = np.repeat(atoms, np.round(dd * weights).astype(int))
        steps = round(float(t_max) * dd)
        ks = np.round(times * dd).astype(int)
        kw = dict(eigenvalues=lam, learning_rate=g / dd, batch=1, noise_variance=sigma2,
                  initial=math.sqrt(float(initial) / dd), steps=steps)
        tr = rec.trajectory(**kw)
        gap = float(np.max(np.abs(r_ode - tr.risk[ks])))
        row = dict(d=dd, gap=gap, d_times_gap=dd * gap)
        if monte_carlo:
            res = simulate(SGD(), data=data, replicas=replicas, seed=[seed, j], **kw)
            mc_verdicts.append(compare(tr, res, alpha=alpha / len(dims), quantities=("risk",),
                                       parameters=dict(d=dd, **setting),
                                       label=f"Monte Carlo = exact finite-d risk (d = {dd})"))
            dev = np.abs(r_ode - res.risk[ks])
            i = int(np.argmax(dev))
            row.update(monte_carlo_gap=float(dev[i]), monte_carlo_se=float(res.risk_se[ks][i]))
        gaps.append(row)
    g_arr = np.array([r["gap"] for r in gaps])
    if np.all(np.isfinite(g_arr)) and np.all(g_arr > 0):
        order = float(-np.polyfit(np.log(dims), np.log(g_arr), 1)[0])
    else:
        order = float("inf") if np.all(g_arr == 0) else float("-inf")
    params = dict(setting, gap=gaps, order=order, drift=str(drift), derived=str(ode.drift))
    converges = order >= 0.5
    members = [dict(name=symbolic.label, statistic=symbolic.statistic, p_value=symbolic.p_value, alpha=0.0),
               dict(name=f"gap sup_t |R_ODE - E R_td| of order d^-{order:.2f} (need >= 0.5)", statistic=order,
                    p_value=1.0 if converges else 0.0, alpha=0.0)]
    members += [dict(name=v.label, statistic=v.statistic, p_value=v.p_value, alpha=alpha / len(dims))
                for v in mc_verdicts]
    if not symbolic.passed:
        diff = sp.simplify(drift - ode.drift)
        return dataclasses.replace(symbolic, parameters=dict(params, difference=str(diff),
                                                             counterexample=_counterexample(diff)),
                                   members=members, label="your drift differs from the derived limit")
    if not converges:
        return Verdict(False, order, 0.0, 0.0, 0, None, params, None, kind="numeric", members=members,
                       test="order of convergence of the gap to the finite-d expectation, need >= 0.5",
                       label=f"the gap does not shrink like 1/d (order {order:.2f})")
    failed = [v for v in mc_verdicts if not v.passed]
    if failed:
        return dataclasses.replace(failed[0], parameters=dict(failed[0].parameters, **params), members=members)
    if mc_verdicts:
        worst = min(mc_verdicts, key=lambda v: v.p_value)
        return dataclasses.replace(worst, p_value=min(1.0, len(mc_verdicts) * worst.p_value), alpha=alpha,
                                   parameters=params, members=members,
                                   label="High Line drift: derived limit, O(1/d) gap and Monte Carlo",
                                   test=f"exact identity; gap order {order:.2f}; Bonferroni over {len(dims)} "
                                        "Monte Carlo comparisons")
    return dataclasses.replace(symbolic, parameters=params, members=members,
                               label="High Line drift: derived limit and O(1/d) gap")
