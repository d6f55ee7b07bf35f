"""The ODE-speed benchmark runs and compares at equal accuracy (small d so that it is quick)."""

import pytest
from benchmark_loader import load_benchmark


def _module():
    return load_benchmark("ode_speed")


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
