import pytest

pytest.importorskip("matplotlib")

from theory.momentum import stable_region  # noqa: E402
from verify.__main__ import main  # noqa: E402
from verify.plots import plot_stable_region  # noqa: E402


def test_cli_plot_writes_png_per_claim(tmp_path):
    assert main(["run", "sgd.stationary_risk.gaussian", "--budget", "quick", "--serial", "--quiet",
                 "--results", str(tmp_path / "res"), "--plot", str(tmp_path / "fig")]) == 0
    png = tmp_path / "fig" / "sgd.stationary_risk.gaussian.png"
    assert png.exists() and png.read_bytes()[:4] == b"\x89PNG"


def test_stable_region_figure(tmp_path):
    region = stable_region([1.0, 0.5, 0.25], [0.05, 0.2, 0.4, 0.8], [-0.5, 0.0, 0.5])
    path = plot_stable_region(region, tmp_path / "r.png")
    assert path.exists() and path.stat().st_size > 1000
