"""Figures for a paper: one per claim (curves and/or checks), mathtext labels, PNG/PDF/SVG."""
import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from theory.momentum import stable_region
from verify.__main__ import main
from verify.claims import CLAIMS, Budget, Claim, Series
from verify.plots import (
    mathtext,
    plot_results,
    plot_series,
    plot_stable_region,
    write_gallery,
)
from verify.stats import exact_identity, numeric_agreement, reported, scalar_comparison

ASCII_MATHS = re.compile(r"(?<![\\A-Za-z])(gamma|R_inf|sigma\^2|rho|kappa|beta|lambda)(?![A-Za-z])")


def _outside_maths(text):
    return re.sub(r"\$[^$]*\$", "", text)


def test_cli_plot_writes_png_and_pdf_per_claim(tmp_path):
    assert main(["run", "sgd.stationary_risk.gaussian", "--budget", "quick", "--serial", "--quiet",
                 "--results", str(tmp_path / "res"), "--plot", str(tmp_path / "fig")]) == 0
    png = tmp_path / "fig" / "sgd.stationary_risk.gaussian.png"
    pdf = tmp_path / "fig" / "sgd.stationary_risk.gaussian.pdf"
    assert png.read_bytes()[:4] == b"\x89PNG" and pdf.read_bytes()[:4] == b"%PDF"


def _curve(tested=True, planted=0.0):
    x = np.arange(50)
    th = 1.0 + np.exp(-x / 10)
    rng = np.random.default_rng(0)
    se = np.full(50, 0.01)
    mc = th + planted + se * rng.standard_normal(50)
    return Series.of("risk at gamma = 0.4 gamma_c", x, th, mc, se, tested=tested)


def _claim(with_series):
    def runner(claim, budget, ss):
        v = [scalar_comparison(1.0, mean=1.001, standard_error=0.01, replicas=100, alpha=claim.alpha / 2,
                               label="R_inf at gamma = 0.4 gamma_c"),
             exact_identity(3, 3, label="an exact identity"), numeric_agreement(2.0, 2.0, 10, label="digits"),
             reported(1.0, 1.1, label="reported")]
        return (v, [_curve(), _curve(tested=False)]) if with_series else v
    return Claim(f"test.plots.{'curves' if with_series else 'checks'}", "stationary risk R_inf with sigma^2 = 1",
                 "nowhere", runner, lambda: None)


def test_every_result_gets_a_figure_in_every_format(tmp_path):
    results = [_claim(True).run(Budget("t", 10, 0)), _claim(False).run(Budget("t", 10, 0))]
    paths = plot_results(results, tmp_path, formats=("png", "pdf", "svg"))
    assert {p.name for p in paths} == {f"{r.id}.{ext}" for r in results for ext in ("png", "pdf", "svg")}
    svg = (tmp_path / "test.plots.checks.svg").read_text()
    assert "<svg" in svg
    index = write_gallery(results, tmp_path)
    assert all(f"({r.id}.png)" in index.read_text() for r in results)
    with pytest.raises(ValueError, match="formats"):
        plot_results(results, tmp_path, formats=("jpg",))


def test_z_panel_only_for_series_compared_pointwise():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (a1, z1, a2, z2) = plt.subplots(4, 1)
    plot_series(a1, _curve(), z1)
    plot_series(a2, _curve(tested=False), z2)
    assert len(z1.lines) >= 4 and not z2.lines          # z_k, 0, +-Bonferroni for the tested curve only
    z = z1.lines[-1].get_ydata()
    assert np.nanmax(np.abs(z)) < 4                     # agreement is visible: z stays near 0
    assert not a2.collections                           # no band where nothing was compared pointwise
    for ax in (a1, a2):
        assert "$" in ax.get_title() and not ASCII_MATHS.search(_outside_maths(ax.get_title()))
    plt.close(fig)


def test_planted_discrepancy_shows_in_the_z_panel():
    import matplotlib.pyplot as plt
    fig, (a, z) = plt.subplots(2, 1)
    plot_series(a, _curve(planted=0.2), z)              # 20 standard errors off
    assert np.nanmin(z.lines[-1].get_ydata()) > 10
    plt.close(fig)


@pytest.mark.parametrize("text, expected", [
    ("risk at gamma = 1.05 gamma_c (d=128)", r"risk at $\gamma$ = $1.05\,\gamma_c$ (d=128)"),
    ("stationary risk R_inf", r"stationary risk $R_\infty$"),
    ("m_k,1 (largest eigenvalue)", r"$m_{k,1}$ (largest eigenvalue)"),
    ("contours of rho", r"contours of $\rho$"),
    ("already $\\gamma$", "already $\\gamma$"),
    ("negative momentum: beta < 0; eta s < 2", r"negative momentum: $\beta$ < 0; $\eta$ s < 2"),
])
def test_mathtext(text, expected):
    assert mathtext(text) == expected


def test_catalogue_titles_render_as_mathtext():
    import matplotlib.mathtext as mt
    parser = mt.MathTextParser("path")
    for c in CLAIMS.values():
        label = mathtext(c.title)
        assert not ASCII_MATHS.search(_outside_maths(label)), (c.id, label)
        for piece in re.findall(r"\$[^$]+\$", label):
            parser.parse(piece)                          # valid mathtext


def test_stable_region_figure(tmp_path):
    region = stable_region([1.0, 0.5, 0.25], [0.05, 0.2, 0.4, 0.8], [-0.5, 0.0, 0.5])
    path = plot_stable_region(region, tmp_path / "r.png")
    assert path.exists() and path.stat().st_size > 1000


def test_checks_panel_puts_a_planted_error_outside_its_region():
    from verify.plots import _check_rows

    def runner(claim, budget, ss):
        return [scalar_comparison(1.0, mean=1.0 + 8 * 0.01, standard_error=0.01, replicas=1000, alpha=claim.alpha,
                                  label="planted: 8 standard errors")]
    result = Claim("test.plots.planted", "t", "s", runner, lambda: None).run(Budget("t", 10, 0))
    ((_, kind, z, bound, outcome, _),) = _check_rows(result)
    assert outcome == "FAIL" and abs(z - 8) < 1e-9 and z > bound
    ok = _check_rows(_claim(False).run(Budget("t", 10, 0)))
    assert all(abs(z) < b for _, k, z, b, o, _ in ok if k == "scalar")
