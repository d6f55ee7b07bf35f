r"""Calibration audit of the default Monte Carlo test: null studies and power over the
catalogue's regimes (``python -m verify calibrate``).

Null study. For each regime (algorithm, data model, spectrum, batch size, learning rate),
``runs`` independent experiments of ``replicas`` replicas each are simulated (one
:func:`verify.simulate` call split into independent chunks, each with its own
``SeedSequence`` child) and compared with the *true* derived trajectory by
:func:`verify.compare`. A test with false-failure probability at most alpha fails a
Binomial(runs, <= alpha) number of them; a regime is "consistent with alpha" when the observed
count is at most the 99 % quantile of Binomial(runs, alpha). With the default 1800 runs a
test whose rate were 2 alpha would exceed that quantile with probability over 90 % at
alpha = 0.01 (and far more at 0.05): the audit has the power to see a doubled rate.

Power. In the setting of the README example (spectrum 1/i, d = 16, B = 2, sigma^2 = 1,
e_0 = 1, 200 steps, learning rate 0.3), the coupling term of the recursion (the rank-one input
u_i and the forcing f_i: gamma^2 lambda_i (S + sigma^2)/B) is multiplied by 1 + epsilon and the fraction of Monte Carlo runs in which
:func:`verify.compare` rejects it at alpha = 1e-6 is reported per (epsilon, replicas).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from scipy import stats as sps

from theory import SGD, Gaussian, HeavyBall, Rademacher, SparseGaussian, derive
from theory.recursion import Trajectory

from .montecarlo import simulate
from .stats import compare

__all__ = ["Regime", "REGIMES", "null_study", "power_study", "planted_coupling_error", "required_runs",
           "binomial_limit", "doubling_power", "detectable_error"]

ALPHAS = (0.05, 0.01, 0.001)
README_LAM = 1.0 / np.arange(1, 17)


@dataclass
class Regime:
    """One null-study setting: ``setup()`` returns (algorithm, data, keyword arguments of simulate)."""

    name: str
    description: str
    setup: Callable
    steps: int = 100
    notes: dict = field(default_factory=dict)


def _sgd_regime(lam, batch, fraction=None, learning_rate=None, data=None, algorithm=None, hyper=None,
                noise_variance=1.0, initial=1.0, fourth=False):
    algorithm, data, hyper = algorithm or SGD(), data or Gaussian(), dict(hyper or {})

    def setup(steps):
        rec = derive(algorithm, data)
        if learning_rate is not None:
            gamma = learning_rate
        elif fourth:
            from theory.fourth import derive_fourth
            gamma = fraction * derive_fourth(algorithm, data).critical_learning_rate(lam, batch=batch)
        else:
            gamma = fraction * rec.critical_learning_rate(lam, batch=batch, **hyper)
        kw = dict(eigenvalues=lam, learning_rate=gamma, batch=batch, noise_variance=noise_variance,
                  initial=initial, steps=steps, **hyper)
        return rec, algorithm, data, kw
    return setup


def _has_fourth():
    try:
        import theory.fourth  # noqa: F401
        return True
    except ImportError:  # pragma: no cover - the fourth-moment module ships with the package
        return False


REGIMES = [
    Regime("readme", "README example: 1/i, d=16, B=2, sigma^2=1, gamma=0.3 (0.39 gamma_c)",
           _sgd_regime(README_LAM, 2, learning_rate=0.3)),
    Regime("0.7gc", "1/i, d=16, B=2, sigma^2=1, gamma = 0.7 gamma_c",
           _sgd_regime(README_LAM, 2, fraction=0.7)),
    Regime("below_gc4", "1/i, d=16, B=2, sigma^2=1, gamma = 0.95 gamma_c^(4) (fourth moments finite)",
           _sgd_regime(README_LAM, 2, fraction=0.95, fourth=True)),
    Regime("batch1", "1/i, d=16, B=1, sigma^2=1, gamma = 0.4 gamma_c",
           _sgd_regime(README_LAM, 1, fraction=0.4)),
    Regime("heavy_ball", "heavy ball beta=0.5, 1/i, d=16, B=2, gamma = 0.4 gamma_c",
           _sgd_regime(README_LAM, 2, fraction=0.4, algorithm=HeavyBall(), hyper={"momentum": 0.5})),
    Regime("rademacher", "Rademacher inputs, 1/i, d=16, B=2, gamma = 0.4 gamma_c",
           _sgd_regime(README_LAM, 2, fraction=0.4, data=Rademacher())),
    Regime("sparse0.1", "sparse Gaussian inputs p=0.1 (kappa=30), 1/i, d=16, B=2, gamma = 0.4 gamma_c",
           _sgd_regime(README_LAM, 2, fraction=0.4, data=SparseGaussian(0.1))),
    Regime("power_law", "power law i^-1.5, d=32, B=1, sigma^2=0.5, gamma = 0.4 gamma_c",
           _sgd_regime(np.arange(1, 33, dtype=float) ** -1.5, 1, fraction=0.4, noise_variance=0.5)),
]


def binomial_limit(runs: int, alpha: float, level: float = 0.99) -> int:
    """The ``level`` quantile of Binomial(runs, alpha): the most false failures consistent with alpha."""
    return int(sps.binom.ppf(level, runs, alpha))


def required_runs(alpha: float = 0.01, power: float = 0.9, level: float = 0.99) -> int:
    """The fewest runs for which a test with rate 2 alpha exceeds :func:`binomial_limit` with ``power``."""
    runs = 50
    while sps.binom.sf(binomial_limit(runs, alpha, level), runs, 2 * alpha) <= power:
        runs += 50
    return runs


def doubling_power(runs: int, alpha: float, level: float = 0.99) -> float:
    """Probability that a test with rate 2 alpha exceeds :func:`binomial_limit` in ``runs`` runs."""
    return float(sps.binom.sf(binomial_limit(runs, alpha, level), runs, 2 * alpha))


def _clopper_pearson(k, n, level=0.95):
    a = (1 - level) / 2
    lo = 0.0 if k == 0 else float(sps.beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k == n else float(sps.beta.ppf(1 - a, k + 1, n - k))
    return lo, hi


def _runs_in_batches(kw, algorithm, data, runs, replicas, seed, batch_runs=200):
    done = 0
    root = np.random.SeedSequence(seed)
    for child in root.spawn(math.ceil(runs / batch_runs)):
        m = min(batch_runs, runs - done)
        yield from simulate(algorithm, data=data, replicas=m * replicas, chunk_size=replicas, seed=child,
                            split=True, **kw)
        done += m


def null_study(regime: Regime, runs: int = 1800, replicas: int = 1000, seed: int = 0, alphas=ALPHAS,
               progress=None) -> dict:
    """False failures of :func:`verify.compare` with the true trajectory over ``runs`` null experiments.

    Returns a dict with the regime, the learning rate, per-alpha counts, rates, 95 %
    Clopper-Pearson intervals, the Binomial 99 % limit and whether the count is consistent.
    """
    rec, algorithm, data, kw = regime.setup(regime.steps)
    tr = rec.trajectory(**kw)
    t0 = time.perf_counter()
    pvals = []
    for res in _runs_in_batches(kw, algorithm, data, runs, replicas, seed):
        pvals.append(compare(tr, res, alpha=0.5).p_value)
        if progress is not None:
            progress(1)
    pvals = np.asarray(pvals)
    rows = []
    for a in alphas:
        k = int(np.sum(pvals <= a))
        lim = binomial_limit(runs, a)
        rows.append(dict(alpha=a, failures=k, rate=k / runs, interval=_clopper_pearson(k, runs), limit=lim,
                         consistent=k <= lim))
    return dict(regime=regime.name, description=regime.description, learning_rate=float(kw["learning_rate"]),
                runs=runs, replicas=replicas, steps=regime.steps, seconds=time.perf_counter() - t0, rows=rows)


def planted_coupling_error(rec, epsilon, **kw) -> Trajectory:
    r"""The trajectory of ``rec`` with its coupling term multiplied by 1 + ``epsilon`` (a wrong theory).

    For SGD the coupling term is gamma^2 lambda_i (S_k + sigma^2) / B of
    m_{k+1,i} = a_i m_{k,i} + gamma^2 lambda_i (S_k + sigma^2) / B: both the rank-one input
    u_i (the coefficient of S_k) and the forcing f_i are scaled, as in the README's planted
    errors (e.g. a wrong batch factor).
    """
    kw = dict(kw)
    steps, initial = kw.pop("steps"), kw.pop("initial", 1.0)
    lam = np.asarray(kw["eigenvalues"], dtype=float)
    m = rec.linear_map(**kw)
    m.u = m.u * (1.0 + epsilon)
    m.f = m.f * (1.0 + epsilon)
    s0, _ = rec.initial_moments(initial, len(lam))
    states = m.iterate(s0, steps)
    # the variances of the Monte Carlo estimators are those of the problem, not of the (wrong) formula:
    # keep the recursion so that compare finds them
    return Trajectory(risk=m.observable(states), second_moments=states[:, :, 0],
                      parameters=dict(kw, steps=steps, initial=initial), recursion=rec)


def power_study(epsilons=(0.005, 0.01, 0.02, 0.05), replicas=(1000, 2000, 5000), runs: int = 40,
                alpha: float = 1e-6, seed: int = 1, progress=None) -> dict:
    """Fraction of runs in which a planted coupling error is rejected, per (epsilon, replicas)."""
    rec = derive(SGD(), Gaussian())
    kw = dict(eigenvalues=README_LAM, learning_rate=0.3, batch=2, noise_variance=1.0, initial=1.0, steps=200)
    wrong = {e: planted_coupling_error(rec, e, **kw) for e in epsilons}
    table = {}
    for j, n in enumerate(replicas):
        rejected = {e: 0 for e in epsilons}
        for res in _runs_in_batches(kw, SGD(), Gaussian(), runs, n, (seed, j), batch_runs=max(1, 200000 // n)):
            for e in epsilons:
                rejected[e] += not compare(wrong[e], res, alpha=alpha).passed
            if progress is not None:
                progress(1)
        table[n] = {e: rejected[e] / runs for e in epsilons}
    return dict(alpha=alpha, runs=runs, epsilons=list(epsilons), replicas=list(replicas), power=table,
                setting="1/i, d=16, B=2, sigma^2=1, e_0=1, 200 steps, gamma=0.3")


def format_null(results) -> str:
    """A Markdown table of null studies."""
    head = "| regime | learning rate | runs x replicas | " + " | ".join(
        f"alpha = {a:g}: failures (rate, 95% CI) / limit" for a in ALPHAS) + " | verdict |"
    lines = [head, "|" + "---|" * (4 + len(ALPHAS))]
    for r in results:
        cells = []
        for row in r["rows"]:
            lo, hi = row["interval"]
            cells.append(f"{row['failures']} ({row['rate']:.3%}, {lo:.2%}-{hi:.2%}) / {row['limit']}")
        ok = all(row["consistent"] for row in r["rows"])
        lines.append(f"| {r['description']} | {r['learning_rate']:.4g} | {r['runs']} x {r['replicas']} | "
                     + " | ".join(cells) + f" | {'consistent with alpha' if ok else 'NOT consistent'} |")
    return "\n".join(lines)


def format_power(p) -> str:
    """A Markdown table of a power study."""
    lines = ["| replicas | " + " | ".join(f"{e:.1%} error" for e in p["epsilons"]) + " |",
             "|---|" + "---|" * len(p["epsilons"])]
    for n in p["replicas"]:
        lines.append(f"| {n} | " + " | ".join(f"{p['power'][n][e]:.0%}" for e in p["epsilons"]) + " |")
    return "\n".join(lines)


def detectable_error(p, power: float = 0.9):
    """Per Monte Carlo budget, the smallest planted relative error rejected with probability
    ``power`` (log-linear interpolation over the studied errors; None if none reaches it)."""
    out = {}
    for n in p["replicas"]:
        eps, pw = np.asarray(p["epsilons"], float), np.asarray([p["power"][n][e] for e in p["epsilons"]])
        k = np.flatnonzero(pw >= power)
        if not k.size:
            out[n] = None
        elif k[0] == 0:
            out[n] = float(eps[0])
        else:
            a, b = k[0] - 1, k[0]
            w = (power - pw[a]) / (pw[b] - pw[a])
            out[n] = float(np.exp(np.log(eps[a]) + w * (np.log(eps[b]) - np.log(eps[a]))))
    return out


def plot_power(p, path):
    """Power curves (fraction rejected vs planted relative error, one line per Monte Carlo budget)
    and the detectable error (90 % power) against the budget."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter, NullLocator
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 3.8))
    xs = [100 * e for e in p["epsilons"]]
    for n in p["replicas"]:
        ax.plot(xs, [p["power"][n][e] for e in p["epsilons"]], "o-", label=f"{n} replicas")
    ax.axhline(0.9, color="0.6", lw=0.8, ls="--")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticklabels([f"{x:g}" for x in xs])
    ax.set_xlabel("planted relative error in the coupling term (%)")
    ax.set_ylabel(f"power at alpha = {p['alpha']:g}")
    ax.set_title(f"power ({p['runs']} runs per point)")
    ax.legend(frameon=False)
    det = detectable_error(p)
    ns = [n for n in p["replicas"] if det[n] is not None]
    bx.plot(ns, [100 * det[n] for n in ns], "o-", color="C3", label="measured (90 % power)")
    if ns:
        n0, e0 = ns[-1], 100 * det[ns[-1]]
        grid = np.geomspace(min(p["replicas"]), max(p["replicas"]) * 4, 50)
        bx.plot(grid, e0 * np.sqrt(n0 / grid), color="0.6", lw=0.8, ls="--", label="~ 1/sqrt(replicas)")
    bx.set_xscale("log")
    bx.set_yscale("log")
    bx.yaxis.set_major_locator(FixedLocator([0.25, 0.5, 1, 2, 5, 10]))
    bx.yaxis.set_minor_locator(NullLocator())
    bx.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    bx.set_xlabel("Monte Carlo replicas")
    bx.set_ylabel("detectable relative error (%)")
    bx.set_title("detectable error vs budget")
    bx.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=150)
    plt.close(fig)
    return path
