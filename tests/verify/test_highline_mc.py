"""Monte Carlo of adaptive algorithms and the High Line claims: calibration, power, reproducibility."""
import math
from dataclasses import replace

import numpy as np
import pytest
import sympy as sp

from theory import SGD, derive
from theory import adaptive as ad
from theory import highline as hl
from verify import compare, simulate
from verify.adaptive import AdaGradNorm, ConstantRate, StateRule, simulate_adaptive
from verify.claims.highline import _mc_vs_ode, two_class_spectrum


def test_constant_rate_engine_agrees_with_the_exact_recursion():
    lam = two_class_spectrum(16)
    kw = dict(eigenvalues=lam, noise_variance=0.2, initial=0.5, steps=40)
    res = simulate_adaptive(ConstantRate(0.1 * 16), replicas=2000, seed=3, coordinates=None, **kw)
    tr = derive(SGD()).trajectory(lam, 0.1, noise_variance=0.2, initial=0.5, steps=40)
    assert compare(tr, res, alpha=1e-6).passed


def test_planted_error_in_the_ode_is_detected():
    # power: a 3% error in the ODE risk (or a 3% error in g) must be rejected at alpha = 1e-6
    d, T = 256, 1
    lam = two_class_spectrum(d)
    res = simulate_adaptive(StateRule(ad.line_search()), eigenvalues=lam, initial=1 / math.sqrt(d), steps=T * d,
                            replicas=128, seed=11)
    sol = hl.solve(lam, t_max=T, rule=ad.line_search(), initial_D2=1.0, t_eval=np.arange(T * d + 1) / d)
    assert all(v.passed for v, _ in _mc_vs_ode(res, sol, 1e-6, {}))
    sol.risk = sol.risk * 1.03
    assert not _mc_vs_ode(res, sol, 1e-6, {})[0][0].passed
    sol.risk = sol.risk / 1.03
    sol.g = sol.g * 1.03
    assert not _mc_vs_ode(res, sol, 1e-6, {})[1][0].passed


def test_planted_error_in_the_finite_d_comparison_is_detected():
    d = 64
    lam = two_class_spectrum(d)
    g = 0.5 * 2 / lam.mean()
    kw = dict(eigenvalues=lam, learning_rate=g / d, noise_variance=0.1, initial=1 / math.sqrt(d), steps=d)
    res = simulate(SGD(), replicas=1000, seed=5, **kw)
    tr = derive(SGD()).trajectory(**kw)
    assert compare(tr, res, quantities=("risk",)).passed
    tr.risk = tr.risk * 1.03
    assert not compare(tr, res, quantities=("risk",)).passed


def test_adagrad_engine_is_reproducible_and_validates():
    lam = two_class_spectrum(8)
    a = simulate_adaptive(AdaGradNorm(1.0, 0.5), eigenvalues=lam, steps=5, replicas=10, seed=1, chunk_size=4)
    b = simulate_adaptive(AdaGradNorm(1.0, 0.5), eigenvalues=lam, steps=5, replicas=10, seed=1, chunk_size=4)
    assert np.array_equal(a.risk, b.risk) and np.array_equal(a.learning_rate, b.learning_rate)
    assert a.learning_rate[0] == 2.0
    with pytest.raises(ValueError, match="eta"):
        AdaGradNorm(0.0, 1.0)
    with pytest.raises(ValueError, match="b"):
        AdaGradNorm(1.0, -1.0)
    with pytest.raises(ValueError, match="at least one eigenvalue"):
        simulate_adaptive(AdaGradNorm(1.0, 1.0), eigenvalues=[], steps=2, replicas=2)
    with pytest.raises(ValueError, match="int_0"):
        StateRule(ad.adagrad_norm(1.0, 1.0))


def test_homogenized_sgd_generator_and_euler_maruyama():
    import sympy as sp

    from verify.adaptive import simulate_homogenized
    from verify.claims.highline import euler_maruyama_expectation
    h = hl.homogenized_sgd()
    # oracle (arXiv:2308.08977): dX = -g K X dt + g sqrt(2 R K / d) dB
    assert sp.simplify(h.diffusion_variance - 2 * hl.R * hl.g**2 * hl.sym.lam / hl.d) == 0
    lam = two_class_spectrum(16)
    res = simulate_homogenized(eigenvalues=lam, g=1.0, noise_variance=0.1, initial=0.25, t_max=1.0,
                               dt=1 / 32, replicas=2000, seed=2)
    em = euler_maruyama_expectation(lam, 1.0, 1 / 32, 32, 0.1, 1.0)
    from types import SimpleNamespace
    assert compare(SimpleNamespace(risk=em), res, quantities=("risk",)).passed
    assert not compare(SimpleNamespace(risk=em * 1.03), res, quantities=("risk",)).passed
    with pytest.raises(ValueError, match="integer"):
        simulate_homogenized(eigenvalues=lam, g=1.0, t_max=1.0, dt=0.3)
    with pytest.raises(ValueError, match="dt"):
        simulate_homogenized(eigenvalues=lam, g=1.0, t_max=1.0, dt=0.0)
    # the old name of g still works, with a deprecation warning, and gives the same numbers
    with pytest.warns(DeprecationWarning, match="g = gamma d"):
        old = simulate_homogenized(eigenvalues=lam, learning_rate=1.0, noise_variance=0.1, initial=0.25, t_max=1.0,
                                   dt=1 / 32, replicas=2000, seed=2)
    np.testing.assert_array_equal(old.risk, res.risk)
    with pytest.raises(ValueError, match="not both"):
        simulate_homogenized(eigenvalues=lam, g=1.0, learning_rate=1.0)


def test_eq95_check_counts_planted_violations(monkeypatch):
    """The certified eq. 95 count is 0 for the derived limit and counts every pair when g_inf is planted
    2.5x too large (above the upper bound) or 0.9x the lower bound."""
    from theory import adaptive as ad
    from verify.claims.highline import eq95_violations
    pairs = [(1.0, r, m) for r in (0.5, 0.1, 1e-3) for m in (0.1, 0.5, 0.9)]
    assert eq95_violations(pairs)[0] == 0
    ls = ad.two_eigenvalue_line_search()
    lower = ad.lam2 / (ad.p * ad.lam1**2 + (1 - ad.p) * ad.lam2**2)
    for wrong in (sp.Rational(5, 2) * ls.limit_g, sp.Rational(9, 10) * lower):
        monkeypatch.setattr(ad, "two_eigenvalue_line_search", lambda mass=None, w=wrong: replace(ls, limit_g=w))
        assert eq95_violations(pairs)[0] == len(pairs)
