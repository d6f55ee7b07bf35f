"""The results table fits 100 columns, never cuts numbers, shows exact rows as exact and formats
numbers for people; CSV, Markdown and strict JSON carry the same rows."""
import csv
import io
import json
import math
import re
from fractions import Fraction

import numpy as np
import pytest

from verify import report
from verify.__main__ import main
from verify.claims import Budget, Claim
from verify.stats import exact_identity, numeric_agreement, reported, scalar_comparison
from verify.stats.result import from_json_number, strict_json

LONG = ("a deliberately long description of what was checked, with the family-wise p-value "
        "p = 1.9e-249 quoted inside it and a second number 123456.789012 that must survive wrapping")


def _runner(claim, budget, ss):
    return [
        scalar_comparison(np.float64(1e-4), mean=np.float64(1.0001e-4), standard_error=1e-6, replicas=1000,
                          alpha=claim.alpha / 2, label=LONG),
        scalar_comparison(1.0, mean=1.0 + 40 * 0.01, standard_error=0.01, replicas=1000, alpha=claim.alpha / 2,
                          label="planted: a 40 standard-error discrepancy"),
        exact_identity(Fraction(16, 5), Fraction(16, 5), label="an exact identity"),
        numeric_agreement(2.0, 2.0, 12, label="a numeric agreement"),
        reported(3.0952, 3.00873, label="reported only"),
    ]


@pytest.fixture(scope="module")
def results():
    claim = Claim("test.report.a_claim_with_a_rather_long_identifier_to_test_the_header_line", "t", "s",
                  _runner, lambda: None)
    return [claim.run(Budget("t", 10, 0))]


def test_text_table_fits_100_columns_and_keeps_every_number(results):
    text = report.table(results)
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "1.9e-249" in text and "123456.789012" in text       # inside the wrapped description
    assert "np.float64" not in text and "nan" not in text.lower()
    row = next(line for line in text.splitlines() if line.lstrip().startswith("scalar"))
    assert "0.0001 " in row and "0.00010001 ± 1e-06" in row      # human numbers, never repr()
    z = report.number(results[0].verdicts[1].statistic, 3)
    assert f"z = {z}" in text and "FAIL" in text


def test_p_value_is_never_cut():
    from verify.claims import ClaimResult, Row
    row = Row("tiny p", "scalar", 1.0, 2.0, 0.01, 33.8, "z", "FAIL")
    r = ClaimResult("x", "t", "s", False, [row], [], {})
    for width in (40, 60, 100):
        text = report.table([r], width=width)
        assert "33.8" in text
    assert re.search(r"\b1\.9e-249\b", report.table([ClaimResult("x", "t", "s", False, [
        Row("p = 1.9e-249 here", "scalar", 1.0, 2.0, 0.01, 33.8, "z", "FAIL")], [], {})], width=40))


def test_exact_rows_are_shown_as_exact(results):
    text = report.table(results)
    exact = next(line for line in text.splitlines() if line.lstrip().startswith("exact"))
    assert exact.split()[1:4] == ["3.2", "3.2", "exact"] and "±" not in exact
    numeric = next(line for line in text.splitlines() if line.lstrip().startswith("numeric"))
    assert "digits: all" in numeric and "±" not in numeric


def test_wide_puts_each_check_on_one_line(results):
    text = report.table(results, wide=True)
    assert any(LONG in line for line in text.splitlines())
    assert len(text.splitlines()) == 2 + 1 + len(results[0].rows)


def test_number_format():
    assert report.number(np.float64(0.0001)) == "0.0001"
    assert report.number(1.9e-249) == "1.9e-249"
    assert report.number(float("inf")) == "inf" and report.number(None) == "" and report.number(7.0) == "7"
    assert report.number(1 / 3) == "0.333333"


def test_csv_and_markdown_rows(results):
    rows = list(csv.DictReader(io.StringIO(report.csv_text(results))))
    assert len(rows) == len(results[0].rows)
    assert float(rows[0]["theory"]) == 1e-4 and rows[2]["standard_error"] in ("", "0.0")
    md = report.markdown(results).splitlines()
    assert md[0].startswith("| claim |") and len(md) == 2 + len(results[0].rows)
    assert all(line.count("|") - line.count(r"\|") == 8 for line in md)


def test_json_is_strict_and_records_versions(results):
    text = report.dumps(report.document(results, "quick", 0))
    assert "NaN" not in text and "Infinity\"" in text   # numeric agreement of equal values: inf digits

    def forbid(name):
        raise ValueError(f"non-strict JSON constant {name}")
    doc = json.loads(text, parse_constant=forbid)
    assert set(doc["versions"]) >= {"sgdcheck", "python", "numpy", "scipy", "sympy"}
    assert all(isinstance(v, str) and v for v in doc["versions"].values())
    v = doc["claims"][0]["verdicts"][3]
    assert math.isinf(from_json_number(v["statistic"]))


def test_strict_json_round_trip():
    obj = {"a": float("nan"), "b": [float("inf"), -float("inf"), np.float32(0.5)], "c": np.arange(2)}
    out = strict_json(obj)
    assert out == {"a": None, "b": ["Infinity", "-Infinity", 0.5], "c": [0, 1]}
    json.dumps(out, allow_nan=False)
    assert [from_json_number(x) for x in out["b"]] == [math.inf, -math.inf, 0.5]


def _two_pass_strict_json(obj):
    """The former definition (jsonable at every level, then NaN/inf), an oracle for the one-pass one."""
    from verify.stats.result import jsonable
    obj = jsonable(obj)
    if isinstance(obj, dict):
        return {k: _two_pass_strict_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_two_pass_strict_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    return obj


def test_strict_json_in_one_pass_equals_the_two_pass_definition():
    obj = {"x": [{"s": (np.array([[np.nan, 1.5], [np.inf, -2.0]]), np.float64(-np.inf), 3)}, "t", None, True],
           7: {"deep": [[[np.int64(4), np.bool_(False), float("nan")], ()]], "o": object()},
           "f": np.float32(np.nan), "m": np.arange(3).reshape(1, 3), "e": []}
    out = strict_json(obj)
    assert out == _two_pass_strict_json(obj)
    assert json.dumps(out, allow_nan=False) == json.dumps(_two_pass_strict_json(obj), allow_nan=False)


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown"])
def test_cli_formats_print_machine_output_on_stdout(tmp_path, capsys, fmt):
    assert main(["run", "sgd.stationary_risk.rademacher", "--budget", "quick", "--serial", "--format", fmt,
                 "--results", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "claims passed" in captured.err and "claims passed" not in captured.out
    if fmt == "json":
        assert json.loads(captured.out)["claims"][0]["id"] == "sgd.stationary_risk.rademacher"
    elif fmt == "csv":
        assert captured.out.startswith("claim,check,kind")
    else:
        assert captured.out.startswith("| claim |")


def test_cli_json_file_is_strict(tmp_path):
    out = tmp_path / "out.json"
    assert main(["run", "highline.critical_learning_rate", "--budget", "quick", "--serial", "--quiet",
                 "--results", str(tmp_path / "r"), "--json", str(out)]) == 0
    text = out.read_text()
    def bare(constant):  # json.loads calls this only for the non-standard NaN/Infinity tokens
        raise AssertionError(f"bare {constant} in strict JSON")

    assert json.loads(text, parse_constant=bare)["versions"]["sympy"]
