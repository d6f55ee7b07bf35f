"""Executors give identical numbers; finished results are written and resumed."""
import json

import pytest

from verify.claims import CLAIMS
from verify.runner import map_grid, result_key, run_claims

IDS = ["sgd.stationary_risk.gaussian", "sgd.stationary_risk.independent"]


def _numbers(results):
    return [[(row.theory, row.monte_carlo, row.standard_error) for row in r.rows] for r in results]


@pytest.fixture(scope="module")
def serial():
    return run_claims([CLAIMS[i] for i in IDS], "quick", 3, executor="serial")


def test_process_pool_equals_serial(serial):
    pooled = run_claims([CLAIMS[i] for i in IDS], "quick", 3)
    assert _numbers(pooled) == _numbers(serial)


def test_dask_local_cluster_equals_serial(serial):
    distributed = pytest.importorskip("dask.distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        remote = run_claims([CLAIMS[i] for i in IDS], "quick", 3, executor=client)
    assert _numbers(remote) == _numbers(serial)


def test_results_written_as_they_finish_and_resumed(tmp_path, serial, monkeypatch):
    claims = [CLAIMS[i] for i in IDS]
    first = run_claims(claims, "quick", 3, executor="serial", results_dir=tmp_path)
    files = sorted(p.name for p in tmp_path.glob("*.json"))
    assert files == sorted(f"{result_key(c, 'quick', 3)}.json" for c in claims)
    assert json.loads((tmp_path / files[0]).read_text())["seed"]["entropy"] == 3

    def boom(*args, **kwargs):
        raise AssertionError("a finished claim was recomputed")
    monkeypatch.setattr("verify.runner._run_one", boom)
    again = run_claims(claims, "quick", 3, executor="serial", results_dir=tmp_path, resume=True)
    assert _numbers(again) == _numbers(first) == _numbers(serial)


def test_key_depends_on_seed_budget_and_claim():
    c1, c2 = CLAIMS[IDS[0]], CLAIMS[IDS[1]]
    keys = {result_key(c1, "quick", 0), result_key(c1, "quick", 1), result_key(c1, "standard", 0),
            result_key(c2, "quick", 0)}
    assert len(keys) == 4


def _draw(point, ss):
    import numpy as np
    return point * float(np.random.default_rng(ss).random())


def test_map_grid_is_executor_independent():
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as ex:
        assert map_grid(_draw, [1, 2, 3], seed=5, executor=ex) == map_grid(_draw, [1, 2, 3], seed=5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="budget must be one of"):
        run_claims([], "huge")
    with pytest.raises(ValueError, match="resume=True needs results_dir"):
        run_claims([], "quick", resume=True)


def test_pool_parent_warms_the_kernel_before_forking(monkeypatch):
    """A forked pool's workers inherit the compiled kernel: run_claims warms it in the parent once
    (not for a serial run or a given executor, whose workers do not share this process's memory)."""
    import verify.montecarlo
    from verify import runner
    calls = []
    monkeypatch.setattr(verify.montecarlo, "warm_up", lambda: calls.append(1) or True)
    monkeypatch.setattr(runner, "_forks", lambda: True)
    monkeypatch.setattr(runner, "_run_one", _fake_run_one)
    claims = [CLAIMS[i] for i in IDS]
    run_claims(claims, "quick", 0, executor="serial")
    assert calls == []
    run_claims(claims, "quick", 0)
    assert calls == [1]
    monkeypatch.setattr(runner, "_forks", lambda: False)
    run_claims(claims, "quick", 0)
    assert calls == [1]


def _fake_run_one(claim_id, budget, seed):
    from verify.claims import ClaimResult
    return ClaimResult(claim_id, "", "", True, [], [], {"entropy": seed}).to_dict()


def test_warm_up_compiles_the_kernel_in_this_process():
    from verify import kernel
    from verify.montecarlo import warm_up
    assert warm_up() is True
    assert kernel.step_rows.signatures   # compiled (or loaded from the disk cache) here


def _report_freeze(claim_id, budget, seed):
    import gc

    from verify.claims import ClaimResult
    return ClaimResult(claim_id, str(gc.get_freeze_count()), "", True, [], [], {"entropy": seed}).to_dict()


def test_forked_workers_inherit_a_frozen_heap(monkeypatch):
    """The parent freezes its objects before forking (gc.freeze: the workers' collections do not touch,
    and so do not copy, the inherited pages) and unfreezes them once the workers exist."""
    import gc

    from verify import runner
    if not runner._forks():
        pytest.skip("the pool does not fork here")
    monkeypatch.setattr(runner, "_run_one", _report_freeze)
    results = run_claims([CLAIMS[i] for i in IDS], "quick", 0)
    assert all(int(r.title) > 10_000 for r in results)   # the workers' objects from the parent are frozen
    assert gc.get_freeze_count() == 0                     # the parent's are not


def _report_pid(claim_id, budget, seed):
    import os

    from verify.claims import ClaimResult
    return ClaimResult(claim_id, str(os.getpid()), "", True, [], [], {"entropy": seed}).to_dict()


def test_lanes_keep_families_together_and_balance_claim_counts():
    from verify.runner import _family, _lanes
    todo = [(c, None) for c in CLAIMS.values()]
    lanes = _lanes(todo, 2)
    assert sorted(c.id for lane in lanes for c, _ in lane) == sorted(CLAIMS)      # each claim once
    owners = {}
    for j, lane in enumerate(lanes):
        for c, _ in lane:
            assert owners.setdefault(_family(c), j) == j                          # a family in one lane
    sizes = {}
    for c in CLAIMS.values():
        sizes[_family(c)] = sizes.get(_family(c), 0) + 1
    assert abs(len(lanes[0]) - len(lanes[1])) <= max(sizes.values())
    for lane in lanes:                                                          # catalogue order inside
        ids = [c.id for c, _ in lane]
        for fam in {_family(c) for c, _ in lane}:
            members = [i for i in ids if i.split(".", 1)[0] == fam]
            assert members == [i for i in CLAIMS if i.split(".", 1)[0] == fam]
    assert [len(q) for q in _lanes(todo[:3], 3)] in ([3, 0, 0], [2, 1, 0], [1, 1, 1])


def test_an_idle_lane_takes_claims_from_the_fullest(monkeypatch):
    """One family (one lane) still runs on both workers: the empty lane takes from the other's end,
    and the results come back in the requested order."""
    from verify import runner
    monkeypatch.setattr(runner, "_run_one", _report_pid)
    claims = [CLAIMS[i] for i in IDS]
    results = run_claims(claims, "quick", 0)
    assert [r.id for r in results] == IDS
    if (__import__("os").cpu_count() or 1) >= 2:
        assert len({r.title for r in results}) == 2


def test_a_freeze_made_before_the_run_is_kept(monkeypatch):
    """``python -m verify`` freezes its start-up imports (verify.__main__.program); the pool's
    preparation freezes the rest before forking and leaves the program's freeze in place afterwards,
    where a caller with nothing frozen gets its heap back unfrozen (the test above)."""
    import gc

    from verify import runner
    if not runner._forks():
        pytest.skip("the pool does not fork here")
    monkeypatch.setattr(runner, "_run_one", _report_freeze)
    gc.freeze()
    try:
        before = gc.get_freeze_count()
        results = run_claims([CLAIMS[i] for i in IDS], "quick", 0)
        assert all(int(r.title) > 10_000 for r in results)
        assert gc.get_freeze_count() > 0.9 * before and gc.isenabled()   # (frozen objects may still die)
    finally:
        gc.unfreeze()


def test_every_preloaded_module_exists():
    """The parent imports :data:`verify.runner.PRELOAD` before forking (and skips a missing one, since
    it is only an optimisation): a renamed or removed module must be dropped from the list."""
    import importlib

    from verify.runner import PRELOAD
    for name in PRELOAD:
        importlib.import_module(name)
