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

__all__ = ["plot_results", "plot_series", "plot_stable_region"]

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


def plot_results(results, directory) -> list:
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
        path = out / (re.sub(r"[^A-Za-z0-9_.-]", "_", r.id) + ".png")
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_stable_region(learning_rates, momenta, spectral_radius, path, title="stable region"):
    """Shade where the spectral radius (shape (len(momenta), len(learning_rates))) is below 1."""
    plt = _mpl()
    rho = np.asarray(spectral_radius, dtype=float)
    fig, ax = plt.subplots(figsize=(4.2, 3.4), layout="constrained")
    mesh = ax.pcolormesh(learning_rates, momenta, np.log10(np.clip(rho, 1e-12, None)), cmap="RdBu_r",
                         vmin=-1, vmax=1, shading="auto")
    ax.contour(learning_rates, momenta, rho, levels=[1.0], colors="black", linewidths=1.2)
    fig.colorbar(mesh, ax=ax, label="log10 spectral radius")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("momentum")
    ax.set_title(title + " (black: spectral radius = 1)")
    fig.savefig(path)
    plt.close(fig)
    return Path(path)
