"""theory.rare_class, verify.glm_rare_class and the claim momentum.sparse.rare_class.

Oracles: exact enumeration of the class-presence (and label) patterns of the linearised
dynamics over a few steps (rational arithmetic, no recursion); mpmath for the cubic term of the
logistic gradient; the heavy-ball per-frequency threshold formula of theory.sparse with kurtosis 1/p;
a planted wrong data model (kurtosis 3/p) that the claim must reject.
"""
import itertools
from fractions import Fraction

import mpmath
import numpy as np
import pytest
import sympy as sp

from theory import symbols as sym
from theory.rare_class import (
    p,
    rare_class_linearisation,
    rare_class_problem,
    rare_class_timescales,
    rare_class_trajectory,
)
from verify.claims import CLAIMS
from verify.glm_rare_class import simulate_rare_class
from verify.stats import scalar_comparison, z_of_p


def test_linearisation_fisher_equals_hessian_and_cubic_term():
    lin = rare_class_linearisation()
    assert sp.simplify(lin.noise_variance - lin.curvature) == 0
    assert lin.mean_gradient_at_optimum == 0
    with mpmath.workdps(40):
        e = mpmath.mpf("1e-8")
        numeric = (1 / (1 + mpmath.exp(-e)) - mpmath.mpf(1) / 2 - e / 4) / e**3
    assert float(numeric) == pytest.approx(float(lin.cubic_correction), rel=1e-12)
    assert lin.latex().startswith(r"\begin{align*}")


def test_threshold_is_the_sparse_heavy_ball_formula_with_kurtosis_one_over_p():
    lin = rare_class_linearisation()
    beta, kappa = sym.beta, 1 / p
    # gamma_c lambda = 2 B (1 - beta^2) / ((1 + beta)(kappa - 1) + (1 - beta) B), lambda = p, B = 1, per active update / p
    oracle = 2 * (1 - beta**2) / ((1 + beta) * (kappa - 1) + (1 - beta)) / p
    assert sp.simplify(lin.critical - oracle) == 0
    assert lin.critical_tau_limit == sp.Rational(1, 2)


def _enumerate(freq, gamma_h, beta, e0, steps, noise):
    """Exact E e_steps^2 of e' = e - gamma b (h e + xi) + beta (e - e_prev) by enumerating b (and xi = +-1/2 w.p. 1/2)."""
    total = Fraction(0)
    xis = (Fraction(1, 2), Fraction(-1, 2)) if noise else (Fraction(0),)
    for bs in itertools.product((0, 1), repeat=steps):
        pb = Fraction(1)
        for b in bs:
            pb *= freq if b else 1 - freq
        for xs in itertools.product(xis, repeat=steps):
            e, prev = e0, e0
            for b, xi in zip(bs, xs):
                # gamma b (h e + xi) with h = 1/4: gamma_h e + gamma xi = gamma_h (e + 4 xi)
                e, prev = e - b * gamma_h * (e + 4 * xi) + beta * (e - prev), e
            total += pb * Fraction(1, len(xis) ** steps) * e * e
    return total


@pytest.mark.parametrize("noise", [False, True])
def test_trajectory_matches_exact_enumeration(noise):
    freq, gamma, beta, e0, steps = Fraction(1, 4), Fraction(2, 5), Fraction(1, 2), Fraction(3, 10), 5
    prob = rare_class_problem(float(freq), float(gamma), 0.0, float(beta))
    from theory import HeavyBall, derive
    tr = derive(HeavyBall(), prob["data"]).trajectory(prob["eigenvalues"], prob["learning_rate"],
                                                      noise_variance=prob["noise_variance"] if noise else 0.0,
                                                      initial=float(e0), steps=steps, momentum=float(beta))
    exact = _enumerate(freq, gamma / 4, beta, e0, steps, noise)
    assert float(tr.second_moments[steps, 0]) == pytest.approx(float(exact), rel=1e-12)
    if noise:
        assert float(rare_class_trajectory(0.25, 0.4, 0.5, initial=0.3, steps=steps)[steps]) == pytest.approx(
            float(exact), rel=1e-12)


def test_timescales():
    ts = rare_class_timescales(0.05, 0.32, 0.2)
    assert ts["learning"] == pytest.approx(10.0) and ts["retention"] == pytest.approx(1.0125)
    assert ts["critical"] == pytest.approx((1 + 0.2 - 2 * 0.2 * 0.05) / (2 * 1.2))


def test_simulator_matches_the_linearisation_at_small_error():
    # e0 = 1e-3: the cubic term changes E e^2 by 1e-7 relative, far below the Monte Carlo error
    run = simulate_rare_class(0.25, 0.4, 0.5, 6, labels="soft", initial=1e-3, replicas=20000, seed=2)
    exact = float(_enumerate(Fraction(1, 4), Fraction(1, 10), Fraction(1, 2), Fraction(1, 1000), 6, False))
    assert scalar_comparison(exact, run.e2[:, -1], alpha=1e-4).passed
    assert not scalar_comparison(1.1 * exact, run.e2[:, -1], alpha=1e-4).passed


def test_seeded_runs_are_reproducible():
    a = simulate_rare_class(0.1, 0.5, 0.9, 30, replicas=5, seed=np.random.SeedSequence(4), chunk_size=2)
    b = simulate_rare_class(0.1, 0.5, 0.9, 30, replicas=5, seed=np.random.SeedSequence(4), chunk_size=2)
    np.testing.assert_array_equal(a.e2, b.e2)
    assert a.seed["entropy"] == 4 and np.all(a.excess >= 0)


@pytest.mark.parametrize("kw, words", [
    ({"frequency": 0.0}, "frequency"), ({"frequency": 1.5}, "frequency"), ({"learning_rate": -1.0}, "learning_rate"),
    ({"momentum": 1.0}, "momentum"), ({"labels": "hard"}, "labels"), ({"steps": 0}, "steps"),
    ({"replicas": 1}, "replicas"), ({"theta_star": float("nan")}, "theta_star"),
])
def test_bad_input(kw, words):
    args = {"frequency": 0.1, "learning_rate": 0.5, "momentum": 0.5, "steps": 10, **kw}
    with pytest.raises(ValueError, match=words):
        simulate_rare_class(args.pop("frequency"), args.pop("learning_rate"), args.pop("momentum"), args.pop("steps"),
                            **args)


@pytest.mark.parametrize("kw, words", [({"frequency": 2.0}, "frequency"), ({"momentum": -1.0}, "momentum"),
                                       ({"learning_rate": 0.0}, "learning_rate")])
def test_theory_bad_input(kw, words):
    args = {"frequency": 0.1, "learning_rate": 0.5, "momentum": 0.5, **kw}
    with pytest.raises(ValueError, match=words):
        rare_class_problem(args["frequency"], args["learning_rate"], 0.0, args["momentum"])


def test_claim_passes_and_rejects_its_planted_error():
    res = CLAIMS["momentum.sparse.rare_class"].run("standard", seed=0)
    assert res.passed, [(r.check, r.statistic) for r in res.rows]
    counted = [v for v in res.verdicts if v.counted and v.kind == "scalar"]
    planted = [r for r in res.rows if r.kind == "reported" and r.check.startswith("planted")]
    assert len(planted) == 6
    z_crit = max(z_of_p(v.alpha) for v in counted)
    assert min(r.statistic for r in planted) > z_crit, [r.statistic for r in planted]
