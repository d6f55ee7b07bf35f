"""benchmarks/budget_table.py: the main job's CPU as /usr/bin/time measures it (the subprocess and
everything it waited for), and clear errors for claim ids given as budgets."""
import subprocess
import sys

import pytest
from benchmark_loader import BENCHMARKS, load_benchmark

PATH = BENCHMARKS / "budget_table.py"


def _module():
    return load_benchmark("budget_table")


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


def test_per_worker_accounting(tmp_path):
    """Claims are summed per worker process; with --serial (claims ran in the parent) the parent's own
    line excludes them."""
    import json
    log = tmp_path / "log.jsonl"
    recs = [{"pid": 11, "id": "sgd.a", "user": 1.0, "system": 0.5, "minflt": 10},
            {"pid": 12, "id": "momentum.b", "user": 2.0, "system": 0.0, "minflt": 20},
            {"pid": 11, "id": "glm.c", "user": 0.25, "system": 0.25, "minflt": 5},
            {"parent": 10, "user": 3.0, "system": 1.0, "minflt": 100}]
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    acc = _module().per_worker(str(log))
    assert acc["claims_cpu"] == pytest.approx(4.0)
    assert [(w["claims"], len(w["families"]), w["user"], w["minflt"]) for w in acc["workers"]] == [
        (2, 2, 1.25, 15), (1, 1, 2.0, 20)]
    assert acc["parent"]["user"] == 3.0 and not acc["serial"]
    recs[-1]["parent"] = 11   # the claims of pid 11 ran in the parent
    log.write_text("".join(json.dumps(r) + "\n" for r in recs))
    serial = _module().per_worker(str(log))
    assert serial["serial"] and serial["parent"]["user"] == pytest.approx(1.75)


def test_main_job_table_with_the_per_worker_accounting():
    acc = {"parent": {"user": 1.0, "system": 0.0, "minflt": 3}, "serial": False, "claims_cpu": 3.2,
           "workers": [{"claims": 2, "families": {"sgd"}, "user": 3.0, "system": 0.2, "minflt": 4}]}
    row = {"cache": "warm", "cpu": 5.0, "user": 4.5, "system": 0.5, "wall": 3.0, "status": 0, "summary": "s",
           "workers": acc}
    text = _module()._main_job_table([row], "standard")
    assert "| worker 1 (claims only) | 2 | 1 | 3.0 | 0.2 | 4 |" in text
    assert "sum of the claims' CPU: 3.2 s; job total 5.0 s; outside the claims: 1.80 s" in text
    assert "(start, waiting, exit): 0.80 s" in text   # 5.0 - 3.2 - 1.0
    # with the workers' totals reaped by the parent (RUSAGE_CHILDREN): the rest split into the workers'
    # own overhead (3.5 - 3.2) and the parent's exit (0.8 - 0.3)
    acc["parent"]["children"] = 3.5
    text = _module()._main_job_table([row], "standard")
    assert "outside their claims (start, result pickling, exit): 0.30 s" in text
    assert "(interpreter exit): 0.50 s" in text
