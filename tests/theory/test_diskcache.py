"""The persistent derivation cache (theory.diskcache): same objects from disk as derived, keys
that separate what must differ, corrupt entries recomputed, off switch, user classes kept in memory."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import sympy as sp

import theory.diskcache as dc
from theory import Gaussian, HeavyBall, IndependentCoordinates, Nesterov, derive


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SGDCHECK_CACHE_DIR", str(tmp_path))
    return tmp_path / dc.source_digest()


def _fresh(func):
    """A persistent twin of ``func`` with an empty in-memory layer (so the disk is read)."""
    return dc.persistent(func)


def _square(n):
    _square.calls += 1
    return n * n


_square.calls = 0


def test_second_call_reads_disk_not_the_function(store):
    f = _fresh(_square)
    _square.calls = 0
    assert f(7) == 49 and _square.calls == 1
    assert len(list(store.glob("*.pkl"))) == 1
    g = _fresh(_square)                # a new process in effect: memory empty, disk full
    assert g(7) == 49 and _square.calls == 1
    assert g(8) == 64 and _square.calls == 2


def test_corrupt_entry_is_recomputed(store):
    f = _fresh(_square)
    _square.calls = 0
    f(3)
    (path,) = store.glob("*.pkl")
    path.write_bytes(b"not a pickle")
    assert _fresh(_square)(3) == 9 and _square.calls == 2
    assert pickle.loads(path.read_bytes()) == 9


@pytest.mark.skipif(not hasattr(__import__("os"), "getuid"), reason="POSIX permissions only")
def test_a_directory_others_can_write_to_is_never_read(tmp_path, monkeypatch):
    """Entries are pickles: a group- or world-writable cache directory is not used (nothing loaded from it)."""
    base = tmp_path / "shared"
    base.mkdir()
    base.chmod(0o777)
    monkeypatch.setenv("SGDCHECK_CACHE_DIR", str(base))
    assert dc.cache_dir() is None
    base.chmod(0o700)
    assert dc.cache_dir() == base / dc.source_digest()
    (base / dc.source_digest()).chmod(0o770)
    assert dc.cache_dir() is None
    _square.calls = 0
    assert _fresh(_square)(6) == 36 and _square.calls == 1 and not any((base / dc.source_digest()).iterdir())


def test_off_switch_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("SGDCHECK_CACHE_DIR", "off")
    assert dc.cache_dir() is None
    _square.calls = 0
    assert _fresh(_square)(5) == 25 and _fresh(_square)(5) == 25 and _square.calls == 2


def test_keys_separate_assumptions_and_foreign_classes():
    x, xp = sp.Symbol("x"), sp.Symbol("x", positive=True)
    assert dc._describe((x,)) != dc._describe((xp,))           # str(x) == str(xp), srepr differs
    assert dc._describe((HeavyBall(), Gaussian)) != dc._describe((Nesterov(), Gaussian))

    class Mine:                                                # a user's class: memory only
        pass
    assert dc._describe((Mine,)) is None and dc._describe((Mine(),)) is None


def test_derivation_from_disk_equals_a_fresh_derivation(store, monkeypatch):
    """Oracle: the same derivation in a process with the cache switched off."""
    data = IndependentCoordinates(kurtosis=np.array([1.0, 6.0]))
    rec = derive(Nesterov(), data)
    code = ("import numpy as np, sympy as sp; from theory import Nesterov, IndependentCoordinates, derive; "
            "r = derive(Nesterov(), IndependentCoordinates(kurtosis=np.array([1.0, 6.0]))); "
            "print(sp.srepr(r.A), sp.srepr(r.u), sp.srepr(r.v), sp.srepr(r.secular_term(1)), sep='|')")
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "SGDCHECK_CACHE_DIR": "off"}).stdout.strip()
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert on == off == "|".join(sp.srepr(e) for e in (rec.A, rec.u, rec.v, rec.secular_term(1)))
    assert any(store.glob("*.pkl"))


def test_unwritable_directory_keeps_the_value_in_memory(store, monkeypatch):
    def refuse(*a, **k):
        raise OSError("read-only file system")
    monkeypatch.setattr(dc.tempfile, "mkstemp", refuse)
    _square.calls = 0
    f = _fresh(_square)
    assert f(4) == 16 and f(4) == 16 and _square.calls == 1
    assert not list(store.glob("*.pkl"))
