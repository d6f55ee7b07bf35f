"""benchmarks/budget_table.py: the main job's CPU as /usr/bin/time measures it (the subprocess and
everything it waited for), and clear errors for claim ids given as budgets."""
import importlib.util
import pathlib
import subprocess
import sys

import pytest

PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "budget_table.py"


def _module():
    spec = importlib.util.spec_from_file_location("budget_table", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


#: a process that starts a child (as the main job starts its pool's workers) which burns CPU and
#: prints its own CPU seconds, measured by itself (the oracle)
BURN = ("import subprocess, sys; print(subprocess.run([sys.executable, '-c', "
        "'import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.4: pass\\n"
        "print(time.process_time())'], capture_output=True, text=True).stdout.strip() + ' claims passed')")


def test_main_job_counts_the_cpu_of_grandchildren():
    rows = _module().main_job(command=[sys.executable, "-c", BURN])
    assert [r["cache"] for r in rows] == ["cold", "warm"]
    for r in rows:
        own = float(r["summary"].split()[0])   # the grandchild's own process_time
        assert r["status"] == 0
        assert own >= 0.4 and r["cpu"] >= own          # the grandchild's CPU is included
        assert r["cpu"] == pytest.approx(r["user"] + r["system"])


def test_claim_ids_given_as_budgets_are_an_error():
    done = subprocess.run([sys.executable, str(PATH), "--budgets", "standard", "sgd"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2 and "'sgd' not a budget" in done.stderr and "before --budgets" in done.stderr
