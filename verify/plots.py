"""Figures of claims: theory against Monte Carlo with a confidence band (matplotlib, optional extra).

``python -m verify run ... --plot DIR`` writes one PNG per claim that has curves.
The band is the pointwise 95 % interval (Monte Carlo mean +- 1.96 standard errors);
quantities that span decades are drawn on a log scale.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

__all__ = ["plot_results", "plot_series", "plot_stable_region", "plot_heavy_ball_stable_region"]

Z95 = 1.959963984540054


def _mpl():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({"font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
                         "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": 200})
    return plt


def plot_series(ax, series):
    """Draw one :class:`verify.claims.Series` on ``ax``: theory line, Monte Carlo with 95 % band."""
    x = np.asarray(series.x)
    th = np.asarray(series.theory)
    mc = np.asarray(series.monte_carlo)
    se = np.asarray(series.standard_error)
    lo, hi = mc - Z95 * se, mc + Z95 * se
    log = series.log_y and np.all(th > 0) and np.all(mc > 0)
    if log:
        lo = np.where(lo > 0, lo, np.nan)
    ax.fill_between(x, lo, hi, color="tab:orange", alpha=0.3, linewidth=0, label="Monte Carlo 95% band")
    ax.plot(x, mc, color="tab:orange", linewidth=1.0, label="Monte Carlo mean")
    ax.plot(x, th, color="black", linewidth=1.2, linestyle="--", label="theory")
    if series.reference is not None:
        ax.axhline(series.reference, color="tab:blue", linewidth=0.9, linestyle=":",
                   label=series.reference_label or "closed form")
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(series.xlabel)
    ax.set_ylabel(series.ylabel)
    ax.set_title(series.label)
    ax.legend(frameon=False)


def plot_results(results, directory, formats=("png",)) -> list:
    """Write ``<claim id>.png`` for each result with curves; return the paths written."""
    plt = _mpl()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in results:
        if not r.series:
            continue
        n = len(r.series)
        cols = min(n, 2)
        rows = math.ceil(n / cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False,
                                 layout="constrained")
        for ax, s in zip(axes.ravel(), r.series):
            plot_series(ax, s)
        for ax in axes.ravel()[n:]:
            ax.set_visible(False)
        fig.suptitle(f"{r.id}: {'passed' if r.passed else 'FAILED'}", fontsize=10)
        for ext in formats:
            path = out / (re.sub(r"[^A-Za-z0-9_.-]", "_", r.id) + "." + ext)
            fig.savefig(path)
            paths.append(path)
        plt.close(fig)
    return paths


def plot_stable_region(region, path, title="stable region"):
    """Draw a :class:`theory.momentum.StableRegion`: stable (blue) and unstable (red) grid points of the
    second-moment map over (learning rate, momentum), contours of the spectral radius outside, and the
    derived boundary gamma_c(beta) on top."""
    plt = _mpl()
    rho = np.asarray(region.spectral_radius, dtype=float)
    fig, ax = plt.subplots(figsize=(4.6, 3.6), layout="constrained")
    ax.contourf(region.learning_rates, region.momenta, (rho < 1).astype(float), levels=[-0.5, 0.5, 1.5],
                colors=["#f6d5d0", "#d3e4f5"])
    cs = ax.contour(region.learning_rates, region.momenta, rho, levels=[1.05, 1.25, 1.5, 2.0],
                    colors="0.45", linewidths=0.6)
    ax.clabel(cs, fmt=lambda v: f"rho={v:g}", fontsize=6)
    ax.plot(region.critical_learning_rate, region.momenta, color="black", linewidth=1.3,
            label=r"critical learning rate $\gamma_c(\beta)$ (derived)")
    ax.text(0.04, 0.06, "stable (blue)", transform=ax.transAxes, fontsize=8)
    ax.set_xlim(region.learning_rates[0], region.learning_rates[-1])
    ax.set_xlabel(r"learning rate $\gamma$")
    ax.set_ylabel(r"momentum $\beta$")
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper right")
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_heavy_ball_stable_region(directory) -> Path:
    """The stable region of heavy ball on the power-law problem of the claims (d = 16, Gaussian, B = 1)."""
    from theory import HeavyBall
    from theory.momentum import stable_region

    lam = np.arange(1, 17, dtype=float) ** -1.0
    from theory import derive
    g0 = derive().critical_learning_rate(lam)
    region = stable_region(lam, np.linspace(0.01, 3.0, 90) * g0, np.linspace(-0.9, 0.95, 60),
                           algorithm=HeavyBall())
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    return plot_stable_region(region, out / "stable_region.heavy_ball.png",
                              "heavy ball, power-law spectrum d = 16, Gaussian, B = 1")
