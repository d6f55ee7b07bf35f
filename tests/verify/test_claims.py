import json

import pytest

from verify.__main__ import main
from verify.claims import CLAIMS, select


def test_catalogue_has_required_claims():
    ids = set(CLAIMS)
    for prefix in ("sgd.second_moments.", "sgd.critical_learning_rate.", "sgd.stationary_risk."):
        assert any(i.startswith(prefix) for i in ids)
    assert select(["sgd.stationary_risk"]) == [c for i, c in CLAIMS.items() if i.startswith("sgd.stationary_risk.")]
    with pytest.raises(ValueError, match="unknown claim id"):
        select(["nope"])


@pytest.mark.parametrize("cid", list(CLAIMS))
def test_claim_passes_at_quick_budget(cid):
    r = CLAIMS[cid].run("quick", seed=1)
    if r.skipped:
        pytest.skip(r.skipped)
    assert r.passed, [(row.check, row.theory, row.monte_carlo, row.standard_error) for row in r.rows]
    # rows of kind "reported" are shown, never counted as passed; no counted row may fail
    assert r.rows and all(row.passed for row in r.rows if row.kind != "reported")


def test_cli_list(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == len(CLAIMS) and all(len(line.split("\t")) == 3 for line in out)


def test_cli_run_writes_json_and_exit_status(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert main(["run", "sgd.stationary_risk.gaussian", "--budget", "quick", "--seed", "5",
                 "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "sgd.stationary_risk.gaussian" in out and "1 of 1 claims passed" in out
    data = json.loads(path.read_text())
    assert data["seed"] == 5 and data["claims"][0]["seed"]["entropy"] == 5
    row = data["claims"][0]["rows"][0]
    assert {"theory", "monte_carlo", "standard_error", "statistic", "verdict"} <= set(row)


def test_cli_rejects_unknown_claim():
    with pytest.raises(SystemExit):
        main(["run", "no.such.claim"])
