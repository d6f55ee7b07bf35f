r"""GLM-specific figures for ``python -m verify run glm --plot DIR`` (matplotlib, the ``plots`` extra).

The generic figures of :mod:`verify.plots` show each claim's curves (risk against t with the Monte
Carlo band) one claim at a time. Two figures need more than one claim or a sweep of the theory:

* ``glm_risk_curves``: risk against t = k/d with the Monte Carlo 95 % band and the ODE, one panel per
  loss (the series of ``glm.logistic.risk_curve``, ``glm.logistic.bernoulli``,
  ``glm.phase_retrieval.risk_curve`` and ``glm.homogenized_sgd`` present in the results);
* ``glm_threshold``: the ODE's final excess risk against g / g_c on a sweep (the derived threshold
  at 1), logistic regression settling on a plateau above it and phase retrieval leaving the optimum,
  with the Monte Carlo points of ``glm.logistic.threshold`` when present. Settings are those of the
  threshold claims (power law lambda_j ~ j^{-1/2}, d = 250; logistic Var r* = 4 from X_0 = 0, excess
  averaged over t in [12, 16]; phase retrieval Var r* = 1 from X_0 = 0.999 X*, excess at t = 8).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["plot_glm_figures", "threshold_sweep"]

CURVES = ("glm.logistic.risk_curve", "glm.logistic.bernoulli", "glm.phase_retrieval.risk_curve",
          "glm.homogenized_sgd")
FRACTIONS = (0.2, 0.4, 0.6, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0)


def threshold_sweep(preset, fractions=FRACTIONS, d=250):
    r"""The ODE's final excess risk at g = f g_c for each fraction f (settings of the threshold claims).

    ``preset`` is "logistic_soft" or "phase_retrieval". Returns an array of shape (len(fractions),);
    ``inf`` where the ODE blows up before the final time (phase retrieval well above g_c).
    Raises ValueError for another preset.
    """
    import dataclasses

    from .claims.glm import LOGISTIC, PHASE
    if preset not in ("logistic_soft", "phase_retrieval"):
        raise ValueError(f"preset must be 'logistic_soft' or 'phase_retrieval'; got {preset!r}")
    out = []
    for f in fractions:
        if preset == "logistic_soft":
            s = dataclasses.replace(LOGISTIC, fraction=f, t_max=16.0, d=d)
            sol = s.ode(np.linspace(12.0, 16.0, 9))
            out.append(float(np.mean(sol.excess_risk)))
        else:
            s = dataclasses.replace(PHASE, fraction=f, start=0.999, t_max=8.0, d=d)
            try:
                out.append(float(s.ode(np.array([0.0, 8.0])).excess_risk[-1]))
            except ValueError:      # the quartic loss's ODE blows up before t = 8
                out.append(np.inf)
    return np.array(out)


def _series(results, claim_id):
    for r in results:
        if r.id == claim_id and not r.skipped:
            return list(r.series)
    return []


def plot_glm_figures(results, directory, formats=("png",)) -> list:
    """Write ``glm_risk_curves`` and ``glm_threshold`` into ``directory`` in each format; return the paths.

    ``results`` are :class:`verify.claims.ClaimResult` objects (those of other families are ignored).
    """
    from .plots import STYLE, THEORY, _mpl, plot_series
    plt = _mpl()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    curves = [s for cid in CURVES for s in _series(results, cid)[:1]]
    if curves:
        cols = min(2, len(curves))
        rows = -(-len(curves) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.6 * rows), layout="constrained", squeeze=False)
        for k, (ax, s) in enumerate(zip(axes.ravel(), curves)):
            plot_series(ax, s, legend=k == 0)
        for ax in axes.ravel()[len(curves):]:
            ax.set_visible(False)
        for ext in formats:
            paths.append(out / f"glm_risk_curves.{ext}")
            fig.savefig(paths[-1], dpi=STYLE["savefig.dpi"])
        plt.close(fig)
    if any(r.id.startswith("glm.") and not r.skipped for r in results):
        fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.6), layout="constrained")
        x = np.array(FRACTIONS)
        for ax, preset, title in ((axes[0], "logistic_soft", "logistic regression (soft labels): plateau above g_c"),
                                  (axes[1], "phase_retrieval", "phase retrieval: leaves the optimum above g_c")):
            yv = threshold_sweep(preset, FRACTIONS)
            fin = np.isfinite(yv)
            ax.plot(x[fin], yv[fin], color=THEORY, marker=".", linestyle="--", label="ODE (derived)")
            if not fin.all():
                top = float(np.max(yv[fin])) * 10
                ax.plot(x[~fin], np.full((~fin).sum(), top), "^", color=THEORY, markersize=4,
                        label="ODE blows up before t = 8")
            ax.axvline(1.0, color="0.5", linewidth=0.7, linestyle=":", label="derived threshold")
            ax.set_yscale("log")
            ax.set_xlabel("$g / g_c$")
            ax.set_ylabel("final excess risk")
            ax.set_title(title.replace("g_c", "$g_c$"))
        for s in _series(results, "glm.logistic.threshold"):
            if s.xlabel == "g / g_c":
                axes[0].errorbar(s.x, s.monte_carlo, yerr=1.96 * np.asarray(s.standard_error), fmt="o", markersize=3,
                                 color="#d95f02", label="SGD, Monte Carlo (95 %)")
        axes[0].legend(loc="best")
        for ext in formats:
            paths.append(out / f"glm_threshold.{ext}")
            fig.savefig(paths[-1], dpi=STYLE["savefig.dpi"])
        plt.close(fig)
    return paths
