r"""Figures of claims for a paper (matplotlib, the optional ``plots`` extra).

``python -m verify run ... --plot DIR [--plot-format png,pdf,svg]`` writes one figure per
claim, made generically from what the claim returned, so a claim declares nothing but its
:class:`verify.claims.Series` (if it has curves):

* **Curves** (a claim with series): per series, theory (black line) against the Monte Carlo
  mean with its pointwise 95 % band (mean ± 1.96 standard errors), and beneath it the
  *standardised deviation* z_k = (Monte Carlo − theory)/s.e. with the pointwise ±1.96 lines
  and the ±z lines of a Bonferroni bound at the claim's α over the plotted points, so that
  agreement is visible as z staying inside the bounds. A series declared ``tested=False``
  (e.g. a divergent risk whose replicas have no finite variance: tested by a moment-free
  growth test instead) is drawn as a thin line with no band and no z panel, and says so.
* **Checks** (every claim): one row per check of the statistics layer, the standardised
  deviation z = (Monte Carlo − theory)/s.e. with the check's own acceptance region
  ``abs(z) < isf(α_j/2)`` for comparisons, the agreeing digits for numeric checks, "exact" for
  exact identities, hollow markers for numbers reported only. A claim without curves gets this figure alone; a claim with curves gets both.

Labels use matplotlib's mathtext: the package's ASCII maths in series labels and claim titles
(``gamma_c``, ``R_inf``, ``sigma^2``, ``m_k,i``, ...) is typeset by :func:`mathtext`.
One style (:data:`STYLE`) serves every figure; PNG, PDF and SVG are written on request.
"""
from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import numpy as np

__all__ = [
    "FORMATS",
    "STYLE",
    "mathtext",
    "plot_checks",
    "plot_heavy_ball_stable_region",
    "plot_results",
    "plot_series",
    "plot_stable_region",
    "write_gallery",
]

Z95 = 1.959963984540054

#: the one style of every figure (serif text in the Computer Modern look of papers)
STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
         "xtick.labelsize": 7, "ytick.labelsize": 7, "font.family": "serif", "mathtext.fontset": "cm",
         "axes.spines.top": False, "axes.spines.right": False, "savefig.dpi": 200, "figure.dpi": 100,
         "legend.frameon": False, "lines.linewidth": 1.1, "svg.fonttype": "none", "pdf.fonttype": 42}

#: the formats :func:`plot_results` can write
FORMATS = ("png", "pdf", "svg")

THEORY, MONTE_CARLO, BAND = "black", "#d95f02", "#fdb863"

# ASCII maths of the package's labels -> mathtext (longest tokens first)
_TOKENS = [
    (r"gamma_c\^\(4\)", r"\gamma_c^{(4)}"), (r"gamma_c", r"\gamma_c"), (r"gamma", r"\gamma"),
    (r"R_inf", r"R_\infty"), (r"R_0", r"R_0"), (r"R_k", r"R_k"), (r"sigma\^2", r"\sigma^2"), (r"sigma", r"\sigma"),
    (r"m_k,i", r"m_{k,i}"), (r"m_k,1", r"m_{k,1}"), (r"m_\{k,i\}", r"m_{k,i}"), (r"kappa_i", r"\kappa_i"),
    (r"kappa", r"\kappa"), (r"lambda_i", r"\lambda_i"), (r"lambda", r"\lambda"), (r"beta", r"\beta"),
    (r"eta", r"\eta"), (r"rho", r"\rho"), (r"alpha", r"\alpha"), (r"tr K", r"\mathrm{tr}\,K"),
    (r"e_0", r"e_0"), (r"g_c", r"g_c"),
]
_TOKEN_RE = re.compile(r"(?<![A-Za-z\\])(" + "|".join(t for t, _ in _TOKENS) + r")(?![A-Za-z])")


def mathtext(text: str) -> str:
    r"""The package's ASCII maths in ``text`` typeset for matplotlib's mathtext.

    Known symbols become inline maths, with a number in front of a symbol joined to it
    (``0.4 gamma_c`` -> ``$0.4\,\gamma_c$``); text that already contains ``$`` is returned
    unchanged (the claim wrote mathtext itself).

    >>> mathtext("risk at gamma = 1.05 gamma_c (d=128)")
    'risk at $\\gamma$ = $1.05\\,\\gamma_c$ (d=128)'
    >>> mathtext("stationary risk R_inf, sigma^2=1")
    'stationary risk $R_\\infty$, $\\sigma^2$=1'
    """
    if "$" in text:
        return text

    def sub(match):
        for pattern, tex in _TOKENS:
            if re.fullmatch(pattern, match.group(1)):
                return "$" + tex + "$"
        return match.group(0)  # pragma: no cover
    out = _TOKEN_RE.sub(sub, text)
    return re.sub(r"(?<![\w.$])(\d+(?:\.\d+)?) \$", lambda m: "$" + m.group(1) + r"\,", out)


def _mpl():
    import logging

    import matplotlib
    logging.getLogger("fontTools").setLevel(logging.ERROR)   # font subsetting chatter when writing PDFs
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update(STYLE)
    return plt


def _bonferroni_z(alpha: float, m: int) -> float:
    from scipy.stats import norm
    return float(norm.isf(alpha / (2 * max(m, 1))))


def plot_series(ax, series, z_ax=None, alpha: float = 1e-6, z_label: bool = True, legend: bool = True):
    """Draw one :class:`verify.claims.Series` on ``ax`` (theory line, Monte Carlo mean with its
    pointwise 95 % band) and, if ``z_ax`` is given and the series was tested, the standardised
    deviation (Monte Carlo − theory)/s.e. on ``z_ax`` with ±1.96 and the Bonferroni ±z at
    ``alpha`` over the plotted points."""
    x = np.asarray(series.x, dtype=float)
    th = np.asarray(series.theory, dtype=float)
    mc = np.asarray(series.monte_carlo, dtype=float)
    se = np.asarray(series.standard_error, dtype=float)
    tested = getattr(series, "tested", True)
    lo, hi = mc - Z95 * se, mc + Z95 * se
    log = series.log_y and np.all(th > 0) and np.all(mc > 0)
    if log:
        lo = np.where(lo > 0, lo, np.nan)
    if tested:
        ax.fill_between(x, lo, hi, color=BAND, alpha=0.45, linewidth=0, label="Monte Carlo 95% band")
        ax.plot(x, mc, color=MONTE_CARLO, linewidth=0.9, label="Monte Carlo mean")
    else:
        ax.plot(x, mc, color=MONTE_CARLO, linewidth=0.6, alpha=0.8,
                label="Monte Carlo mean (not compared pointwise)")
    ax.plot(x, th, color=THEORY, linewidth=1.2, linestyle="--", label="theory")
    if series.reference is not None:
        ax.axhline(series.reference, color="#1b9e77", linewidth=0.9, linestyle=":",
                   label=mathtext(series.reference_label or "closed form"))
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(mathtext(series.ylabel))
    ax.set_title(mathtext(series.label))
    if legend or not tested:
        ax.legend(loc="best")
    if z_ax is None:
        ax.set_xlabel(mathtext(series.xlabel))
        return
    ax.tick_params(labelbottom=False)
    z_ax.set_xlabel(mathtext(series.xlabel))
    if z_label:
        z_ax.set_ylabel(r"$z_k$")
    if not tested:
        z_ax.text(0.5, 0.5, "not compared pointwise: no finite variance here\n(tested by a moment-free growth test)",
                  transform=z_ax.transAxes, ha="center", va="center", fontsize=7)
        z_ax.set_yticks([])
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        # a deterministic point (e.g. step 0) has a standard error of rounding size: no z there
        z = np.where(se > 1e-9 * np.maximum(np.abs(th), np.finfo(float).tiny), (mc - th) / se, np.nan)
    zb = _bonferroni_z(alpha, int(np.isfinite(z).sum()))
    z_ax.axhspan(-Z95, Z95, color="0.9", linewidth=0)
    for s in (-zb, zb):
        z_ax.axhline(s, color="0.4", linewidth=0.7, linestyle=":")
    z_ax.axhline(0, color=THEORY, linewidth=0.6)
    z_ax.plot(x, z, color=MONTE_CARLO, linewidth=0.6, marker="." if len(x) < 80 else None, markersize=2)
    top = max(zb * 1.15, float(np.nanmax(np.abs(z))) * 1.1 if np.isfinite(z).any() else 0.0)
    z_ax.set_ylim(-top, top)
    z_ax.text(1.0, 1.0, rf"grey: $|z|<1.96$; dotted: $\pm{zb:.2f}$ (Bonferroni, $\alpha$={alpha:g})",
              transform=z_ax.transAxes, ha="right", va="bottom", fontsize=6, color="0.3")


def _check_rows(result):
    """Per check: (label, kind, z, acceptance bound, outcome, statistic) with z = (Monte Carlo −
    theory)/s.e. (NaN where no standard error applies) and the bound isf(α_j/2) of the check's
    own α_j for comparisons (NaN otherwise)."""
    from scipy.stats import norm
    rows = []
    for v in result.verdicts:
        th, mc, se = float(v.theory), float(v.monte_carlo), float(v.standard_error)
        ok = math.isfinite(th) and math.isfinite(mc) and math.isfinite(se) and se > 0
        z = (mc - th) / se if ok else float("nan")
        bound = float(norm.isf(v.alpha / 2)) if v.kind in ("series", "scalar") and v.alpha > 0 else float("nan")
        label = textwrap.shorten(v.label or v.test or v.kind, 70, placeholder=" ...")
        rows.append((label, v.kind, z, bound, v.outcome, v.statistic))
    return rows


def plot_checks(ax, result):
    """Draw every check of a :class:`verify.claims.ClaimResult` as one row: the standardised
    deviation z = (Monte Carlo − theory)/s.e. of its headline numbers, with the acceptance region
    ``abs(z) < isf(α_j/2)`` of a comparison at its own α_j (grey); exact identities and numeric agreements
    sit at 0 with "exact"/their digits; growth tests (which test against a reference such as R_0,
    not against the theory) and reported rows are drawn without a region (hollow: reported)."""
    rows = _check_rows(result)
    ys = np.arange(len(rows))[::-1]
    extent = [abs(r[2]) for r in rows if math.isfinite(r[2])] + [r[3] for r in rows if math.isfinite(r[3])]
    span = max(extent + [3.0]) * 1.15
    for y, (label, kind, z, bound, outcome, stat) in zip(ys, rows):
        color = {"pass": "#1b9e77", "FAIL": "#d62728", "reported": "0.5"}[outcome]
        if math.isfinite(bound):
            ax.plot([-bound, bound], [y, y], color="0.85", linewidth=6, solid_capstyle="butt", zorder=1)
        x = z if math.isfinite(z) else (0.0 if kind in ("exact", "numeric") else float("nan"))
        if math.isfinite(x):
            marker = {"exact": "D", "numeric": "D", "growth": "^"}.get(kind, "o")
            ax.plot(x, y, marker, color=color, mfc="none" if kind == "reported" else color, markersize=4, zorder=3)
        note = {"exact": "exact" if outcome == "pass" else "differs",
                "numeric": ("all digits" if math.isinf(stat) else f"{stat:.3g} digits"),
                "reported": "reported only"}.get(kind, f"{kind}, {outcome}")
        ax.annotate(note, (1.0, y), xycoords=("axes fraction", "data"), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=6, color=color)
    ax.axvline(0, color=THEORY, linewidth=0.8, zorder=2)
    ax.set_xlim(-span, span)
    ax.set_yticks(ys)
    ax.set_yticklabels([mathtext(r[0]) for r in rows], fontsize=6)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel(r"$z$ = (Monte Carlo $-$ theory)/s.e.; grey: accepted at the check's $\alpha$")


def _title(r) -> str:
    verdict = "skipped" if r.skipped else ("all checks passed" if r.passed else "FAILED")
    wrapped = "\n".join(textwrap.wrap(r.title, 95))
    return f"{mathtext(wrapped)}\n{r.id}: {verdict} (family-wise $\\alpha$ = {r.alpha:g})"


def _figure_path(out: Path, claim_id: str, ext: str) -> Path:
    return out / (re.sub(r"[^A-Za-z0-9_.-]", "_", claim_id) + "." + ext)


def plot_results(results, directory, formats=("png",), dpi: int | None = None) -> list:
    """Write one figure per claim into ``directory`` in each of ``formats`` (png, pdf, svg);
    return the paths written. Skipped claims get none. ``dpi``: resolution of PNGs (default
    :data:`STYLE`'s 200).

    Raises ValueError for an unknown format; ImportError without matplotlib.
    """
    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}; got {formats!r}")
    plt = _mpl()
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in results:
        if r.skipped or not r.verdicts:
            continue
        n = len(r.series)
        cols = min(n, 2)
        check_h = 0.9 + 0.22 * len(r.verdicts)
        if n:
            rows = math.ceil(n / cols)
            fig = plt.figure(figsize=(3.6 * cols + 0.9, 3.3 * rows + check_h + 0.6), layout="constrained")
            grid = fig.add_gridspec(rows + 1, 1, height_ratios=[3.3] * rows + [check_h])
            for k, s in enumerate(r.series):
                sub = grid[k // cols].subgridspec(2, cols, height_ratios=[2.3, 1], hspace=0.05)
                ax = fig.add_subplot(sub[0, k % cols])
                plot_series(ax, s, fig.add_subplot(sub[1, k % cols], sharex=ax), alpha=r.alpha,
                            z_label=k % cols == 0, legend=k == 0)
            plot_checks(fig.add_subplot(grid[rows]), r)
        else:
            fig, ax = plt.subplots(figsize=(7.2, check_h + 0.6), layout="constrained")
            plot_checks(ax, r)
        fig.suptitle(_title(r), fontsize=8)
        for ext in formats:
            path = _figure_path(out, r.id, ext)
            fig.savefig(path, dpi=dpi or STYLE["savefig.dpi"])
            paths.append(path)
        plt.close(fig)
    if any(r.id.startswith("momentum.") and not r.skipped for r in results):
        for ext in formats:
            paths.append(plot_heavy_ball_stable_region(out, ext))
    if any(r.id.startswith("glm.") and not r.skipped for r in results):
        from .glm_plots import plot_glm_figures   # risk curves of every loss; excess risk against g / g_c
        paths += plot_glm_figures(results, out, formats)
    return paths


def write_gallery(results, directory, image: str = "png") -> Path:
    """Write ``index.md`` in ``directory`` showing every figure of ``results`` (written by
    :func:`plot_results` in the format ``image``) with the claim's title and source."""
    out = Path(directory)
    lines = ["# Figures of the claims", "",
             ("Written from a results store by `python -m verify.plots DIR --results STORE` (or by "
             "`python -m verify run --plot DIR`). Each figure shows theory against "
             "Monte Carlo with the pointwise 95 % band and, beneath each curve, the standardised deviation "
             "z_k = (Monte Carlo - theory)/s.e. with the pointwise and Bonferroni bounds; the last panel "
             "shows every check of the claim, its z and the acceptance region of the check at its own "
             "alpha. The numbers are those of a `--budget quick` run."), ""]
    for r in results:
        if r.skipped or not r.verdicts:
            continue
        name = _figure_path(out, r.id, image).name
        lines += [f"## `{r.id}`", "", f"{r.title}. Source: {r.source}.", "", f"![{r.id}]({name})", ""]
    if any(_figure_path(out, "stable_region.heavy_ball", image).name == p.name for p in out.glob(f"*.{image}")):
        lines += ["## Stable region of heavy ball", "", "![stable region](stable_region.heavy_ball." + image + ")", ""]
    path = out / "index.md"
    path.write_text("\n".join(lines))
    return path


def plot_stable_region(region, path, title="stable region"):
    """Draw a :class:`theory.momentum.StableRegion`: stable (blue) and unstable (red) grid points of the
    second-moment map over (learning rate, momentum), contours of the spectral radius ρ outside, and the
    derived boundary γ_c(β) on top."""
    plt = _mpl()
    rho = np.asarray(region.spectral_radius, dtype=float)
    fig, ax = plt.subplots(figsize=(4.2, 3.3), layout="constrained")
    ax.contourf(region.learning_rates, region.momenta, (rho < 1).astype(float), levels=[-0.5, 0.5, 1.5],
                colors=["#f6d5d0", "#d3e4f5"])
    cs = ax.contour(region.learning_rates, region.momenta, rho, levels=[1.05, 1.25, 1.5, 2.0],
                    colors="0.45", linewidths=0.6)
    ax.clabel(cs, fmt=lambda v: rf"$\rho={v:g}$", fontsize=6)
    ax.plot(region.critical_learning_rate, region.momenta, color=THEORY, linewidth=1.3,
            label=r"critical learning rate $\gamma_c(\beta)$ (derived)")
    ax.text(0.04, 0.06, r"stable: $\rho < 1$ (blue)", transform=ax.transAxes, fontsize=7)
    ax.set_xlim(region.learning_rates[0], region.learning_rates[-1])
    ax.set_xlabel(r"learning rate $\gamma$")
    ax.set_ylabel(r"momentum $\beta$")
    ax.set_title(mathtext(title))
    ax.legend(loc="upper right")
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_heavy_ball_stable_region(directory, ext: str = "png") -> Path:
    """The stable region of heavy ball on the power-law problem of the claims (d = 16, Gaussian, B = 1)."""
    from theory import HeavyBall, derive
    from theory.momentum import stable_region

    lam = np.arange(1, 17, dtype=float) ** -1.0
    g0 = derive().critical_learning_rate(lam)
    region = stable_region(lam, np.linspace(0.01, 3.0, 90) * g0, np.linspace(-0.9, 0.95, 60),
                           algorithm=HeavyBall())
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    return plot_stable_region(region, out / f"stable_region.heavy_ball.{ext}",
                              r"heavy ball, power-law spectrum $\lambda_i = 1/i$, d = 16, Gaussian, B = 1")


def _main(argv=None) -> int:
    """``python -m verify.plots DIR [RESULTS_DIR]``: figures and index.md from a results store."""
    import argparse
    import json

    from .claims import CLAIMS, ClaimResult
    parser = argparse.ArgumentParser(prog="python -m verify.plots")
    parser.add_argument("directory")
    parser.add_argument("--results", default=".sgdcheck-results")
    parser.add_argument("--formats", default="png")
    parser.add_argument("--dpi", type=int, default=None)
    args = parser.parse_args(argv)
    results = {}
    for f in sorted(Path(args.results).glob("*.json")):
        r = ClaimResult.from_dict(json.loads(f.read_text()))
        results[r.id] = r
    ordered = [results[c] for c in CLAIMS if c in results]
    plot_results(ordered, args.directory, formats=args.formats.split(","), dpi=args.dpi)
    write_gallery(ordered, args.directory, args.formats.split(",")[0])
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
