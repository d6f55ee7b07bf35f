"""The digits claim: runs on the bundled data set when scikit-learn is installed; skipped otherwise."""
import builtins

import pytest

from verify.claims import CLAIMS


def test_digits_claim_passes_for_the_exact_recursion():
    pytest.importorskip("sklearn")
    res = CLAIMS["sgd.real_data.digits"].run("quick", seed=0)
    assert res.skipped is None and res.passed
    labels = [r.check for r in res.rows]
    assert labels[0].startswith("exact empirical recursion")
    assert any(lab.startswith("Gaussian-equivalent") and "largest relative deviation" in lab for lab in labels)
    assert [r.verdict for r in res.rows if not r.check.startswith("exact")] == ["reported"] * 2
    assert any(lab.startswith("independent coords") for lab in labels)


def test_digits_claim_is_skipped_without_scikit_learn(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError("No module named 'sklearn'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    res = CLAIMS["sgd.real_data.digits"].run("quick", seed=0)
    assert res.skipped and "sgdcheck[data]" in res.skipped and not res.rows
