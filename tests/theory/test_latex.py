import shutil
import subprocess

import pytest

from theory import IndependentCoordinates, derive
from theory.__main__ import main


def test_latex_contains_recursion_and_closed_forms():
    tex = derive(data=IndependentCoordinates(2.0)).latex()
    assert tex.startswith("\\begin{align*}") and tex.rstrip().endswith("\\end{align*}")
    for piece in ["m_{k+1,i}", r"\kappa_i", r"\bar{S}_k + \sigma^2", r"R_\infty", r"\mathcal{G}", r"\gamma_c"]:
        assert piece in tex


def test_cli_prints_and_rejects_unknown_id(capsys):
    assert main(["latex", "sgd.gaussian"]) == 0
    assert "align*" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["latex", "no.such.id"])


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_standalone_with_results_table_compiles(tmp_path):
    import json
    res = tmp_path / "r.json"
    res.write_text(json.dumps({"budget": "quick", "seed": 4, "claims": [
        {"id": "sgd.stationary_risk.gaussian", "p_value": 0.21, "passed": True, "skipped": None,
         "alpha": 1e-6, "seed": {"entropy": 4}}]}))
    out = tmp_path / "d.tex"
    assert main(["latex", "sgd.gaussian", "--standalone", "--results", str(res), "-o", str(out)]) == 0
    text = out.read_text()
    assert r"sgd.stationary\_risk.gaussian & 1e-06 & 0.21 & passed & 4" in text
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", out.name],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_results_needs_standalone(tmp_path):
    with pytest.raises(SystemExit):
        main(["latex", "--results", str(tmp_path / "none.json")])


def test_bad_output_path_is_refused_before_any_work(tmp_path):
    with pytest.raises(SystemExit):
        main(["latex", "sgd.gaussian", "-o", str(tmp_path / "missing" / "d.tex")])
    with pytest.raises(SystemExit):
        main(["latex", "sgd.gaussian", "-o", str(tmp_path)])
