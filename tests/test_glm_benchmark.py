"""benchmarks/glm_ode.py: the GLM ODE solver against forward Euler and SGD (small d so that it is quick)."""

import numpy as np
from benchmark_loader import load_benchmark


def _module(name):
    return load_benchmark(name)


def test_equal_accuracy_comparison(monkeypatch):
    mod = _module("glm_ode")
    monkeypatch.setattr(mod, "ACCURACY", 1e-3)      # a coarser target than the benchmark's 1e-4: fewer Euler steps
    r = mod.measure(100)
    assert r["solver_error"] <= mod.ACCURACY
    # Euler is run until it is at least as accurate as the solver (first order: its error halves per doubling)
    assert r["euler_reached"] and r["euler_error"] <= r["solver_error"]
    assert r["euler_steps"] >= 16 and np.isfinite(r["sgd_ratio"]) and r["sgd_replicas_needed"] > 0


def test_euler_is_first_order():
    mod = _module("glm_ode")
    lim, lam, g = mod._setting(50)
    ref = lim.solve(lam, g, mod.T, teacher=mod.Q, t_eval=mod.GRID, rtol=1e-12, atol=1e-14).risk
    e1, e2 = (mod._error(mod.euler_risk(lim, lam, g, n), ref) for n in (64, 128))
    assert 1.8 < e1 / e2 < 2.2


def test_registered_as_optional_section():
    run = _module("run")
    assert "glm_ode" in run.OPTIONAL
    assert [f.__name__ for f in _module("glm_ode").SECTIONS] == ["glm_ode_section"]
