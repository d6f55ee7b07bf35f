"""verify.glm_plots: the GLM figures of --plot (risk curves of every loss; excess risk against g / g_c)."""
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from verify import glm_plots
from verify.claims import Series


def test_threshold_sweep_shows_plateau_and_departure():
    lo, hi = glm_plots.threshold_sweep("logistic_soft", (0.8, 1.25))
    # logistic: converging below g_c, a plateau of positive excess above (ODE at t in [12, 16])
    assert 0 < lo < 1e-3 < hi < 1
    lo, hi = glm_plots.threshold_sweep("phase_retrieval", (0.8, 1.25))
    assert hi > 100 * lo
    assert np.isinf(glm_plots.threshold_sweep("phase_retrieval", (2.0,))[0])   # blows up before t = 8
    with pytest.raises(ValueError, match="preset"):
        glm_plots.threshold_sweep("least_squares")


def test_figures_are_written(tmp_path, monkeypatch):
    monkeypatch.setattr(glm_plots, "FRACTIONS", (0.8, 1.25))
    curve = Series.of("logistic_soft: risk, d=1000", [0, 1, 2], [0.7, 0.6, 0.5], [0.7, 0.61, 0.5],
                      [0.0, 0.01, 0.01], xlabel="t = k/d")
    points = Series.of("logistic: final excess risk against g / g_c", [0.8, 1.25], [3e-4, 0.16], [3e-4, 0.16],
                       [1e-5, 1e-3], xlabel="g / g_c", ylabel="excess risk")
    results = [SimpleNamespace(id="glm.logistic.risk_curve", skipped=False, series=[curve]),
               SimpleNamespace(id="glm.logistic.threshold", skipped=False, series=[points]),
               SimpleNamespace(id="sgd.other", skipped=False, series=[])]
    paths = glm_plots.plot_glm_figures(results, tmp_path, formats=("png",))
    assert sorted(p.name for p in paths) == ["glm_risk_curves.png", "glm_threshold.png"]
    assert all(p.stat().st_size > 1000 for p in paths)
    assert glm_plots.plot_glm_figures([results[-1]], tmp_path / "none") == []
