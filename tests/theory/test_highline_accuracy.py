"""The High Line solver meets a requested accuracy on every problem of benchmarks/ode_speed.py.

Reference: DOP853 at rtol 1e-13 with a relative error control (checked against the mpmath Taylor
solver on the two-atom problem); the achieved error is the largest relative error of R(t) and g_t
on the output grid, as in the benchmark.
"""

import mpmath
import numpy as np
import pytest
from benchmark_loader import load_benchmark

from theory import highline as hl

bench = load_benchmark("ode_speed")


@pytest.fixture(scope="module", params=bench.PROBLEMS)
def problem(request):
    prob = bench.problem(request.param, d=512)
    te = np.arange(0, prob["t_max"] + 1e-12, prob["t_max"] / 40)
    ref = bench._solve(prob, te, method="DOP853", rtol=1e-13)
    return request.param, prob, te, ref


@pytest.mark.parametrize("accuracy", [1e-3, 1e-5, 1e-7])
def test_achieved_error_is_within_the_requested_accuracy(problem, accuracy):
    kind, prob, te, ref = problem
    sol = bench._solve(prob, te, accuracy=accuracy)
    err = bench.error(sol.risk, sol.g, ref)
    assert err <= accuracy, (kind, sol.method, err)
    assert sol.accuracy == accuracy and sol.rtol == pytest.approx(accuracy * hl.RTOL_PER_ACCURACY[sol.method])


def test_reference_agrees_with_the_mpmath_solver():
    prob = bench.problem("adagrad", d=512)
    te = np.array([0.0, 2.5, 10.0])
    ref = bench._solve(prob, te, method="DOP853", rtol=1e-13)
    mp = hl.solve_mp([1.0, 0.25], te, rule=prob["rule"], noise_variance=0.1, weights=[0.5, 0.5], dps=25)
    assert max(abs(float(r / mpmath.mpf(x)) - 1) for r, x in zip(mp["risk"], ref.risk)) < 1e-11


def test_stability_limited_dop853_does_not_track_rtol_but_auto_does():
    """The measured failure behind the method choice: on the authors' line-search trace problem DOP853's
    step is limited by stability and its error does not follow rtol; LSODA (chosen by auto) does."""
    prob = bench.problem("line_search_trace")
    te = np.arange(0, 60.25, 0.25)
    ref = bench._solve(prob, te, method="DOP853", rtol=1e-13)
    dop = []
    for r in (1e-6, 1e-7):
        sol = bench._solve(prob, te, method="DOP853", rtol=r)
        dop.append(bench.error(sol.risk, sol.g, ref))
    assert dop[0] > 100 * 1e-6 or dop[1] > 100 * 1e-7          # not within 100 rtol
    auto = bench._solve(prob, te, accuracy=1e-6)
    assert auto.method == "LSODA" and bench.error(auto.risk, auto.g, ref) <= 1e-6


def test_choose_method():
    ode = hl.derive_limit()
    assert hl.choose_method(np.ones(3), np.ones(3) / 3, 1.0, 10.0, 1e-6, ode) == "RK45"   # ~ 6 steps for stability
    assert hl.choose_method(np.ones(3), np.ones(3) / 3, 100.0, 10.0, 1e-6, ode) == "LSODA"  # ~ 600: stiff
    lam = np.linspace(1e-3, 1.0, 4096)
    w = np.ones(4096) / 4096
    assert hl.choose_method(lam, w, 1.0, 10.0, 1e-6, ode) == "RK45"
    assert hl.choose_method(lam, w, 1e3, 10.0, 1e-3, ode) == "ETD2"       # ~ 6000 steps > 20/sqrt(1e-3) ~ 632
    assert hl.choose_method(lam, w, 1e3, 10.0, 1e-6, ode) == "RK45"       # ~ 6000 < 20/sqrt(1e-6) = 20000
