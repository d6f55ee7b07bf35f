"""theory.glm.homogenized (homogenized SGD for GLMs) and verify.glm_homogenized (its Euler-Maruyama Monte Carlo).

Oracles: the High Line's independently derived homogenized SGD for least squares
(theory.highline.homogenized_sgd); a finite-difference gradient of the population risk for
the drift; the Bernoulli label noise sigma'(r*) for the diffusion; the scheme's mean-field
recursion for the Monte Carlo; planted wrong diffusions that must be rejected.
"""
import math

import numpy as np
import pytest
import sympy as sp

from theory import highline as hl
from theory.glm import derive_limit, least_squares, logistic, loss, phase_retrieval
from theory.glm.derivation import (
    _X,
    B11,
    B12,
    B22,
    Expectation,
    _Xs,
    d,
    g,
    lam,
    r,
    rs,
    sigma2,
    y,
)
from theory.glm.expectations import closed_form
from theory.glm.functions import sigmoid
from theory.glm.homogenized import euler_maruyama_mean_field, homogenize, numeric
from verify.claims import CLAIMS
from verify.glm import power_law_spectrum
from verify.glm_homogenized import simulate_homogenized_glm
from verify.stats import AlphaBudget, scalar_comparison, z_of_p


@pytest.mark.parametrize("L", [least_squares(), logistic("soft"), logistic("bernoulli"), phase_retrieval(),
                               loss(sp.log(sp.cosh(r - y)))], ids=lambda L: L.name)
def test_generator_is_the_derived_ode(L):
    assert homogenize(L).generator_matches_ode()


def test_least_squares_is_the_high_line_homogenized_sgd():
    h, ref = homogenize(least_squares()), hl.homogenized_sgd()
    e = sp.Symbol("e_i", real=True)
    # drift in the error e = X - X*
    assert sp.expand(h.drift.subs(_X, e + _Xs) - ref.drift.subs({hl.g: g, hl.sym.lam: lam})) == 0
    # diffusion: the High Line's g^2 lambda 2R / d with 2R = E(r - r*)^2 + sigma^2 = B11 - 2 B12 + B22 + sigma^2
    two_r = B11 - 2 * B12 + B22 + sigma2
    theirs = ref.diffusion_variance.subs({hl.R: two_r / 2, hl.g: g, hl.sym.lam: lam, hl.d: d})
    assert sp.expand(closed_form(h.diffusion_variance) - theirs) == 0


def test_drift_is_minus_g_times_the_gradient_of_the_population_risk():
    """Independent route: d R / d X_i = lambda_i (2 X_i dR/dB11 + X*_i dR/dB12) by central differences of the
    numeric population risk (quadrature), against the Stein-derived drift."""
    lim = derive_limit(logistic("soft"))
    h = homogenize(lim)
    num = numeric(h)
    b11, b12, b22 = 2.0, 0.9, 3.0
    e = [float(v) for v in num.quad(b11, b12, b22)]
    step = 1e-4
    dR11 = (lim.risk_at(b11 + step, b12, b22) - lim.risk_at(b11 - step, b12, b22)) / (2 * step)
    dR12 = (lim.risk_at(b11, b12 + step, b22) - lim.risk_at(b11, b12 - step, b22)) / (2 * step)
    for lv, x, xs in ((0.7, 0.3, -0.2), (1.9, -0.5, 0.4)):
        grad = lv * (2 * x * float(dR11) + xs * float(dR12))
        assert num.drift(1.0, lv, x, xs, *e) == pytest.approx(-grad, rel=1e-6)


def test_bernoulli_labels_add_sigma_prime_to_the_diffusion():
    soft, bern = homogenize(logistic("soft")), homogenize(logistic("bernoulli"))
    extra = sp.expand(bern.diffusion_variance - soft.diffusion_variance)
    # E[sigma(r*)] - E[sigma(r*)^2] = E sigma'(r*)
    target = g**2 * lam * Expectation(sigmoid(rs) * (1 - sigmoid(rs))) / d
    from theory.glm.expectations import Evaluator
    a = Evaluator(extra.subs({g: 1, lam: 1, d: 1}))(1.0, 0.5, 2.0)
    b = Evaluator(target.subs({g: 1, lam: 1, d: 1}))(1.0, 0.5, 2.0)
    assert float(a) == pytest.approx(float(b), rel=1e-12)


def test_the_dropped_variance_is_order_one_over_d():
    h = homogenize(logistic("soft"))
    assert not h.dropped_variance.has(d) and h.dropped_variance != 0
    assert h.latex().startswith(r"\begin{align*}")


def test_mean_field_recursion_tends_to_the_ode_at_order_one():
    lim = derive_limit(phase_retrieval())
    lam_ = power_law_spectrum(50)
    gg = 0.5 * lim.critical(lam_, 1.0).g
    sol = lim.solve(lam_, gg, 1.0, teacher=1.0, initial_P=0.81, initial_U=0.9, t_eval=np.linspace(0, 1, 257))
    errs = []
    for n in (16, 64, 256):
        _, rk = euler_maruyama_mean_field(homogenize(lim), lam_, gg, 1 / n, n, teacher=1.0, initial_P=0.81,
                                          initial_U=0.9)
        errs.append(np.max(np.abs(rk - sol.risk[:: 256 // n])))
    assert math.log(errs[1] / errs[2], 4) == pytest.approx(1.0, abs=0.1)


def _run(limit, lam_, gg, T, reps, seed, Xs, **kw):
    return simulate_homogenized_glm(limit, lam_, gg, T, teacher=Xs, initial=0.9 * Xs, time_step=1 / 16,
                                    replicas=reps, seed=seed, **kw)


def test_monte_carlo_matches_its_recursion_and_rejects_a_wrong_diffusion():
    dd, T = 200, 1.0
    lim = derive_limit(phase_retrieval())
    h = homogenize(lim)
    lam_ = power_law_spectrum(dd)
    gg = 0.8 * lim.critical(lam_, 1.0).g
    Xs = np.full(dd, 1 / math.sqrt(dd))
    run = _run(lim, lam_, gg, T, 400, 5, Xs, record_every=8)
    kw = {"teacher": 1.0, "initial_P": 0.81, "initial_U": 0.9}
    _, rk = euler_maruyama_mean_field(h, lam_, gg, 1 / 16, 16, **kw)
    bad_h = type(h)(h.limit, h.drift, 1.3 * h.diffusion_variance, h.dropped_variance, h.generator_P, h.generator_U)
    _, bad = euler_maruyama_mean_field(bad_h, lam_, gg, 1 / 16, 16, **kw)
    alpha = AlphaBudget(1e-4, {"t": 1}).split("t", 2)
    for j, a in zip((1, 2), alpha):
        assert scalar_comparison(rk[run.steps[j]], run.risk[:, j], alpha=a).passed
    zs = [scalar_comparison(bad[run.steps[j]], run.risk[:, j], alpha=a).statistic for j, a in zip((1, 2), alpha)]
    assert max(zs) > z_of_p(alpha[0])


def test_seeded_runs_are_reproducible():
    lim = derive_limit(logistic("bernoulli"))
    Xs = np.full(20, 0.3)
    a = _run(lim, power_law_spectrum(20), 1.0, 0.5, 5, np.random.SeedSequence(3), Xs, chunk_size=2)
    b = _run(lim, power_law_spectrum(20), 1.0, 0.5, 5, np.random.SeedSequence(3), Xs, chunk_size=2)
    np.testing.assert_array_equal(a.risk, b.risk)
    assert a.seed["entropy"] == 3 and a.risk.shape == (5, 9)


@pytest.mark.parametrize("kw, words", [
    ({"teacher": np.ones(3)}, "teacher"),
    ({"teacher": np.ones(5), "initial": np.ones(4)}, "initial"),
    ({"teacher": np.ones(5), "replicas": 1}, "replicas"),
    ({"teacher": np.ones(5), "time_step": 0.3}, "time_step"),
    ({"teacher": np.ones(5), "time_step": -1.0}, "time_step"),
    ({"teacher": np.ones(5), "noise_variance": -1.0}, "noise_variance"),
])
def test_bad_input(kw, words):
    with pytest.raises(ValueError, match=words):
        simulate_homogenized_glm(derive_limit(logistic()), np.ones(5), 1.0, 1.0, **kw)


def test_homogenize_refuses_other_objects():
    with pytest.raises(TypeError, match="GLMLimit or GLMLoss"):
        homogenize("logistic")


def test_claim_passes_and_rejects_its_planted_error():
    res = CLAIMS["glm.homogenized_sgd"].run("standard", seed=0)
    assert res.passed, [(r.check, r.statistic) for r in res.rows]
    counted = [v for v in res.verdicts if v.counted and v.kind == "scalar"]
    planted = [r for r in res.rows if r.kind == "reported" and r.check.startswith("planted")]
    assert len(planted) == 3
    assert max(r.statistic for r in planted) > max(z_of_p(v.alpha) for v in counted)
