"""The persistent derivation cache (theory.diskcache): same objects from disk as derived, keys
that separate what must differ, corrupt entries recomputed, off switch, user classes kept in memory."""
import pickle
import subprocess
import sys
from pathlib import Path

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


def _slow_cube(n, log):
    """Appends a line to ``log`` per evaluation (so the test counts evaluations across processes)."""
    import time
    with open(log, "a") as fh:
        fh.write(f"{n}\n")
    time.sleep(0.5)
    return n**3


@pytest.mark.skipif(dc.fcntl is None, reason="POSIX locks only")
def test_processes_deriving_the_same_entry_derive_it_once(store, tmp_path):
    """Two processes asking for the same missing entry at once: one derives, the other waits and loads it."""
    import multiprocessing as mp
    log = str(tmp_path / "evaluations.txt")
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        out = pool.starmap(_cube_in_child, [(5, log), (5, log)])
    assert out == [125, 125]
    assert Path(log).read_text().split() == ["5"]     # evaluated once, loaded once
    with ctx.Pool(2) as pool:                         # different entries do not wait for each other
        assert sorted(pool.starmap(_cube_in_child, [(2, log), (3, log)])) == [8, 27]
    assert sorted(Path(log).read_text().split()) == ["2", "3", "5"]


def _cube_in_child(n, log):
    return dc.persistent(_slow_cube)(n, log)


def test_a_lock_that_is_never_released_only_delays(store):
    """A process holding the lock forever (here: this process) delays the others by LOCK_TIMEOUT at most."""
    if dc.fcntl is None:
        pytest.skip("POSIX locks only")
    import os
    name = "tests.theory.test_diskcache._square"       # as the child process imports it
    key = dc.hashlib.sha256(f"{name}{dc._describe((11,))}".encode()).hexdigest()[:32]
    store.mkdir(parents=True, exist_ok=True)
    fd = os.open(store / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    dc.fcntl.flock(fd, dc.fcntl.LOCK_EX)
    try:
        code = ("import time, theory.diskcache as dc, tests.theory.test_diskcache as t; dc.LOCK_TIMEOUT = 0.5; "
                "t0 = time.monotonic(); v = dc.persistent(t._square)(11); print(v, time.monotonic() - t0)")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                             cwd=str(Path(__file__).parents[2]))
        value, waited = out.stdout.split()[-2:]
        assert value == "121" and 0.5 <= float(waited) < 30
    finally:
        os.close(fd)
