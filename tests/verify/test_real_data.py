"""The digits claim: runs on the bundled data set when scikit-learn is installed; skipped otherwise."""
import builtins
import importlib.util

import numpy as np
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

    real_find_spec = importlib.util.find_spec

    def fake_find_spec(name, *args, **kwargs):
        return None if name.split(".")[0] == "sklearn" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    monkeypatch.setattr(importlib.util, "find_spec", fake_find_spec)
    res = CLAIMS["sgd.real_data.digits"].run("quick", seed=0)
    assert res.skipped and "sgdcheck[data]" in res.skipped and not res.rows


def test_bundled_file_gives_exactly_what_sklearn_loads():
    pytest.importorskip("sklearn")
    from sklearn.datasets import load_digits

    from verify.claims import real_data
    X, y = load_digits(return_X_y=True)
    bundled = real_data._bundled_digits()
    assert bundled is not None
    assert np.array_equal(bundled[0], X) and np.array_equal(bundled[1], y)
    data = real_data.load_digits_distribution()
    assert np.array_equal(data.rows, real_data.EmpiricalDistribution(X, y.astype(float)).rows)


def test_without_the_bundled_file_sklearn_loads_the_digits(monkeypatch):
    pytest.importorskip("sklearn")
    from verify.claims import real_data
    direct = real_data.load_digits_distribution()
    monkeypatch.setattr(real_data, "_bundled_digits", lambda: None)
    via_sklearn = real_data.load_digits_distribution()
    assert np.array_equal(direct.rows, via_sklearn.rows)
    assert np.array_equal(direct.residuals, via_sklearn.residuals)
