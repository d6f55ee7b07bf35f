"""The ODE-speed benchmark runs and compares at equal accuracy (small d so that it is quick)."""
import importlib.util
import pathlib

import pytest

PATH = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "ode_speed.py"


def _module():
    spec = importlib.util.spec_from_file_location("ode_speed", PATH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("kind", ["power_law", "stiff"])
def test_benchmark_equal_accuracy(kind):
    res = _module().run(d=2**10, t_max=2.0, repeat=1, kind=kind, method="ETD2")
    assert res["solver_error"] <= res["euler_error"] and res["euler_steps"] == 512
    assert res["solver_evaluations"] < res["euler_steps"]


def test_benchmark_rejects_unknown_problem():
    with pytest.raises(ValueError, match="kind"):
        _module().problem(16, "nope")
