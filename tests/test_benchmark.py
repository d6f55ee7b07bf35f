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


@pytest.mark.parametrize("kind", ["isotropic", "power_law", "adagrad"])
def test_benchmark_equal_accuracy(kind):
    res = _module().speed(kind, d=2**10, repeat=1)
    # the solver is asked for Euler's accuracy and meets it; K = I and two classes merge to 1 and 2 atoms
    assert res["within"] and res["solver_error"] <= res["euler_error"]
    assert res["atoms"] == {"isotropic": 1, "power_law": 2**10, "adagrad": 2}[kind]
    assert res["reference_error"] < 1e-9


def test_benchmark_rejects_unknown_problem():
    with pytest.raises(ValueError, match="kind"):
        _module().problem("nope", 16)
