r"""Figures of the PLRF scaling laws (matplotlib): the (alpha, beta) phase diagram coloured by
phase with measured SGD exponents, and the compute-optimal frontier.

* :func:`plot_phase_diagram` colours the plane by :func:`theory.plrf.phases.phase` (boundaries
  2 alpha + 2 beta = 1, 2 beta = 1, alpha = 1/2, alpha = 1/4, beta = alpha) and writes at a
  few points of phases Ia and II the SGD exponent measured on the exact curve (fit on
  k in [10^3, 10^5], d = 262144) next to the derived one.
* :func:`plot_compute_optimal` draws loss against flops k d for d = 2^3..2^9, their envelope
  over d and the fitted compute-optimal power law next to the derived one.

``python -m verify.plrf_plots docs/figures`` writes ``plrf_phase_diagram.png`` and
``plrf_compute_optimal.png`` (about 15 s of CPU).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from theory.plrf.fit import fit_exponent
from theory.plrf.phases import compute_optimal_exponent, loss_exponent, phase

from .claims.plrf_scaling import frontier, measure
from .plots import _mpl

__all__ = ["MEASURED_POINTS", "PHASE_COLOURS", "main", "plot_compute_optimal", "plot_phase_diagram"]

PHASE_COLOURS = {"Ia": "#a6cee3", "Ib": "#1f78b4", "Ic": "#b2df8a", "II": "#fdbf6f", "III": "#fb9a99",
                 "IV": "#cab2d6"}
#: (alpha, beta, fit window) of the exponents written on the diagram (phases Ia and II; in phase III
#: the noise term K_pp dominates only transiently at reachable d, see docs/plrf_scaling.md)
MEASURED_POINTS = ((1.0, 0.3, (1e3, 1e5)), (1.5, 0.3, (1e3, 1e5)), (0.75, 0.2, (1e3, 1e5)),
                   (1.0, 0.7, (1e3, 1e5)), (1.5, 1.0, (1e3, 1e5)))


def _phase_index(alpha, beta):
    try:
        return list(PHASE_COLOURS).index(phase(alpha, beta).name)
    except ValueError:
        return -1


def plot_phase_diagram(path, d=262144, grid=161):
    """Write the phase diagram to ``path``; returns the measured (alpha, beta, fitted, derived) list."""
    plt = _mpl()
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    a = np.linspace(0.02, 2.0, grid)
    b = np.linspace(0.02, 1.6, grid)
    idx = np.array([[_phase_index(x, y) for x in a] for y in b], dtype=float)
    idx[idx < 0] = np.nan
    fig, ax = plt.subplots(figsize=(6.4, 5.0))
    ax.pcolormesh(a, b, idx, cmap=ListedColormap(list(PHASE_COLOURS.values())), vmin=-0.5,
                  vmax=len(PHASE_COLOURS) - 0.5, shading="auto")
    ax.plot(a, np.clip(0.5 - a, 0, None), "k-", lw=1)
    ax.axhline(0.5, color="k", lw=0.6)
    ax.axvline(0.5, color="k", lw=0.6)
    ax.plot(a[a >= 0.5], a[a >= 0.5], "k--", lw=0.6)
    measured = []
    for alpha, beta, window in MEASURED_POINTS:
        pred = loss_exponent(alpha, beta, "sgd").value
        fit = measure("sgd", alpha, beta, d, window)[0]
        measured.append((alpha, beta, fit.exponent, pred))
        ax.plot(alpha, beta, "ko", ms=3)
        ax.annotate(f"{fit.exponent:.3f}\n({pred:.3f})", (alpha, beta), textcoords="offset points", xytext=(4, 2),
                    fontsize=7)
    ax.set_xlabel(r"$\alpha$ (data exponent)")
    ax.set_ylabel(r"$\beta$ (target exponent)")
    ax.set_title(f"PLRF phases; SGD loss exponent measured (derived), d = {d}", fontsize=9)
    ax.legend(handles=[Patch(color=c, label=n) for n, c in PHASE_COLOURS.items()], loc="upper right", fontsize=7)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return measured


def plot_compute_optimal(path, alpha=1.0, beta=0.3, dimensions=tuple(2 ** i for i in range(3, 10)), k_max=1e6):
    """Write the compute-optimal frontier to ``path``; returns (fitted, derived) exponents."""
    plt = _mpl()
    curves, flops, env, arg = frontier("sgd", alpha, beta, list(dimensions), k_max)
    interior = (arg > 0) & (arg < len(dimensions) - 1)
    f_int = flops[interior]
    fit = fit_exponent(f_int, env[interior], (f_int[0], f_int[-1]), points=32)
    derived = float(compute_optimal_exponent(alpha, beta, "sgd"))
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    cmap = plt.get_cmap("viridis")
    for i, (d, f, r) in enumerate(curves):
        ax.loglog(f, r, color=cmap(i / max(1, len(curves) - 1)), lw=1, label=f"d = {d}")
    ax.loglog(flops, env, "k-", lw=2, alpha=0.4, label="envelope over d")
    ax.loglog(f_int, fit.prefactor * f_int ** -fit.exponent, "r--", lw=1,
              label=f"fit: flops^-{fit.exponent:.3f} (derived {derived:.3f})")
    ax.set_xlabel("flops = k d")
    ax.set_ylabel("risk P(k)")
    ax.set_title(f"SGD on PLRF, alpha = {alpha:g}, beta = {beta:g} (phase Ia): compute-optimal frontier", fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=130, bbox_inches="tight")
    plt.close(fig)
    return fit.exponent, derived


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        raise SystemExit("usage: python -m verify.plrf_plots DIRECTORY")
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    for row in plot_phase_diagram(out / "plrf_phase_diagram.png"):
        print("phase diagram: alpha = {:g}, beta = {:g}, measured {:.4f}, derived {:.4f}".format(*row))
    fitted, derived = plot_compute_optimal(out / "plrf_compute_optimal.png")
    print(f"compute-optimal exponent: fitted {fitted:.4f}, derived {derived:.4f}")


if __name__ == "__main__":
    main()
