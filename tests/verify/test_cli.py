"""The command line behaves: Ctrl-C stops a run within seconds and keeps what finished; usage and
environment errors come before any work with exit status 2; a corrupt results file is set aside."""
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from verify.__main__ import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_PASSED, EXIT_USAGE, main
from verify.claims import CLAIMS, Claim
from verify.runner import CorruptResultWarning, Interrupted, result_key, run_claims
from verify.stats import scalar_comparison

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAST = ["sgd.stationary_risk.rademacher", "sgd.stationary_risk.independent"]
SLOW = "plrf.exponents"   # about 70 s of CPU at the thorough budget: certainly running when the signal comes
BUDGET = "thorough"       # the fast claims take about 1.5 s each there


def _start(args, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-m", "verify", "run", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("mode", [[], ["--serial"]], ids=["process-pool", "serial"])
def test_sigint_stops_within_seconds_and_keeps_finished_claims(tmp_path, mode):
    store = tmp_path / "store"
    claims = FAST + [SLOW] if mode else FAST + [SLOW, "momentum.second_moments.nesterov.independent"]
    proc = _start([*claims, "--budget", BUDGET, "--results", str(store), *mode], tmp_path)
    fast_files = {store / f"{result_key(CLAIMS[c], BUDGET, 0)}.json" for c in FAST}
    deadline = time.monotonic() + 120
    while not all(f.exists() for f in fast_files):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the fast claims did not finish in 120 s"
        time.sleep(0.2)
    time.sleep(0.5)   # the slow claim is now running
    proc.send_signal(signal.SIGINT)
    t0 = time.monotonic()
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("python -m verify run did not stop within 10 s of SIGINT")
    assert time.monotonic() - t0 < 10
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert "Traceback" not in err
    assert "--resume" in err and "2 of" in err
    kept = {p for p in store.glob("*.json")}
    assert fast_files <= kept                                   # finished claims are kept
    assert store / f"{result_key(CLAIMS[SLOW], BUDGET, 0)}.json" not in kept
    for f in fast_files:                                        # ... and complete
        assert json.loads(f.read_text())["id"] in FAST


def test_run_claims_raises_interrupted_with_the_finished_claims(tmp_path, monkeypatch):
    calls = []

    def fake(claim_id, budget, seed):
        calls.append(claim_id)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return CLAIMS[claim_id].run(budget, seed).to_dict()
    monkeypatch.setattr("verify.runner._run_one", fake)
    with pytest.raises(Interrupted) as info:
        run_claims([CLAIMS[c] for c in FAST], "quick", 0, executor="serial", results_dir=tmp_path)
    assert [r.id for r in info.value.finished] == FAST[:1] and info.value.pending == FAST[1:]
    assert len(list(tmp_path.glob("*.json"))) == 1


# ---- usage and environment errors: exit status 2 before any claim runs --------------------------

@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if any claim starts."""
    def boom(*args, **kwargs):
        raise AssertionError("work started before the usage error was found")
    monkeypatch.setattr("verify.__main__.run_claims", boom)


def _usage_error(capsys, argv, match):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == EXIT_USAGE
    err = capsys.readouterr().err
    assert match in err, err
    return err


def test_json_into_a_missing_directory(tmp_path, capsys, no_work):
    err = _usage_error(capsys, ["run", FAST[0], "--results", str(tmp_path / "r"),
                                "--json", str(tmp_path / "missing" / "out.json")], "does not exist")
    assert "--json" in err


def test_json_onto_a_directory(tmp_path, capsys, no_work):
    _usage_error(capsys, ["run", FAST[0], "--results", str(tmp_path / "r"), "--json", str(tmp_path)],
                 "is a directory")


def test_json_into_a_read_only_directory(tmp_path, capsys, no_work, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    if os.access(ro, os.W_OK):   # root writes anywhere: deny it as a read-only mount would
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if pathlib.Path(p) == ro else real(p, mode))
    _usage_error(capsys, ["run", FAST[0], "--results", str(tmp_path / "r"), "--json", str(ro / "out.json")],
                 "not writable")


def test_results_directory_that_cannot_be_created(tmp_path, capsys, no_work):
    (tmp_path / "file").write_text("x")
    _usage_error(capsys, ["run", FAST[0], "--results", str(tmp_path / "file" / "sub")], "--results")


def test_plot_without_matplotlib(tmp_path, capsys, no_work, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import matplotlib -> ImportError
    _usage_error(capsys, ["run", FAST[0], "--results", str(tmp_path / "r"), "--plot", str(tmp_path / "f")],
                 "pip install 'sgdcheck[plots]'")


def test_scheduler_without_dask(tmp_path, capsys, no_work, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)
    _usage_error(capsys, ["run", FAST[0], "--results", str(tmp_path / "r"), "--scheduler", "tcp://127.0.0.1:1"],
                 "pip install 'sgdcheck[dask]'")


def test_unreachable_scheduler_within_the_timeout(tmp_path, capsys, no_work):
    pytest.importorskip("dask.distributed")
    t0 = time.monotonic()
    _usage_error(capsys, ["run", FAST[0], "--results", str(tmp_path / "r"), "--scheduler", "tcp://127.0.0.1:1",
                          "--scheduler-timeout", "1"], "cannot reach the Dask scheduler within 1 s")
    assert time.monotonic() - t0 < 20


@pytest.mark.parametrize("argv, match", [
    (["--seed", "-1"], "--seed"),
    (["--serial", "--scheduler", "tcp://x:1"], "exclude each other"),
    (["--plot-format", "png,jpg"], "--plot-format"),
    (["--scheduler-timeout", "0"], "--scheduler-timeout"),
    (["--format", "yaml"], "--format"),
    (["no.such.claim"], "unknown claim id"),
])
def test_bad_arguments_exit_2(tmp_path, capsys, no_work, argv, match):
    ids = [] if argv == ["no.such.claim"] else [FAST[0]]
    _usage_error(capsys, ["run", *ids, *argv, "--results", str(tmp_path / "r")], match)


def test_help_documents_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "0 every claim passed; 1 a claim failed; 2 usage or environment error" in out


def test_a_failed_claim_exits_1(tmp_path, capsys, monkeypatch):
    wrong = Claim("test.cli.wrong", "a wrong claim", "planted", lambda c, b, s: [scalar_comparison(
        1.0, mean=1.5, standard_error=0.01, replicas=100, alpha=c.alpha)], lambda: None)
    monkeypatch.setitem(CLAIMS, wrong.id, wrong)
    assert main(["run", wrong.id, "--serial", "--quiet", "--results", str(tmp_path)]) == EXIT_FAILED
    assert "FAILED: test.cli.wrong" in capsys.readouterr().out


def test_corrupt_results_file_is_named_set_aside_and_recomputed(tmp_path, capsys):
    argv = ["run", FAST[0], "--budget", "quick", "--serial", "--quiet", "--results", str(tmp_path)]
    assert main(argv) == EXIT_PASSED
    path = tmp_path / f"{result_key(CLAIMS[FAST[0]], 'quick', 0)}.json"
    good = json.loads(path.read_text())
    path.write_text(path.read_text()[:200])   # truncated, as by a full disk or a killed writer
    capsys.readouterr()
    assert main(argv + ["--resume"]) == EXIT_PASSED
    err = capsys.readouterr().err
    assert str(path) in err and "corrupt" in err and "Traceback" not in err
    assert (tmp_path / (path.name + ".corrupt")).exists()
    assert json.loads(path.read_text())["rows"] == good["rows"]   # recomputed, same seed: same numbers


def test_results_file_of_another_claim_is_set_aside(tmp_path):
    c0, c1 = CLAIMS[FAST[0]], CLAIMS[FAST[1]]
    run_claims([c1], "quick", 0, executor="serial", results_dir=tmp_path)
    (tmp_path / f"{result_key(c1, 'quick', 0)}.json").rename(tmp_path / f"{result_key(c0, 'quick', 0)}.json")
    with pytest.warns(CorruptResultWarning, match="holds claim"):
        (res,) = run_claims([c0], "quick", 0, executor="serial", results_dir=tmp_path, resume=True)
    assert res.id == c0.id


def test_import_verify_is_light_and_every_public_name_resolves():
    """``import verify`` imports no numerics (the names load on first use), so ``python -m verify`` can
    pause the garbage collector for its start-up imports; every name of ``__all__`` resolves."""
    code = ("import sys, verify; light = 'numpy' not in sys.modules and 'sympy' not in sys.modules; "
            "names = [getattr(verify, n) for n in verify.__all__]; "
            "from verify import simulate, compare; import verify.montecarlo as m, verify.stats as s; "
            "assert simulate is m.simulate and compare is s.compare; "
            "assert set(verify.__all__) <= set(dir(verify)); print(light, len(names))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", str(len(__import__("verify").__all__))]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = __import__("verify").nope


def test_the_program_freezes_its_start_up_and_collects_what_the_run_allocates():
    """``python -m verify``: the start-up imports run with the collector paused (no full collection
    over them) and are then frozen; the collector is on during the run; everything is frozen again
    before the interpreter exits (whose collections would otherwise traverse the whole heap)."""
    code = ("import atexit, gc, runpy, sys; sys.argv = ['verify', 'list']; "
            "atexit.register(lambda: print('exit', gc.isenabled(), gc.get_freeze_count() > 100000, "
            "gc.get_stats()[2]['collections'], file=sys.stderr)); "
            "runpy.run_module('verify', run_name='__main__', alter_sys=True)")
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "exit True True 0" in done.stderr
    assert "sgd.second_moments.gaussian" in done.stdout
