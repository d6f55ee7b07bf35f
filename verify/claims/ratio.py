"""Claim: the stationary risk of SGD depends on the learning rate and batch size only through
their ratio gamma/B, to first order in gamma (Jastrzębski et al., arXiv:1711.04623).

The exact stationary risk is R_inf(gamma, B) = R_0(r) + gamma R_1(r) + O(gamma^2) at fixed
r = gamma/B (:func:`theory.scaling.learning_rate_batch_ratio_expansion`). The claim runs SGD at
(gamma, B) = (r, 1), (2r, 2) and (32r, 32), r = 0.02: every point must match the exact stationary risk
and every difference R(c gamma, c B) - R(gamma, B) must match its exact value (calibrated,
Bonferroni over the five tests); the rows also show where the invariance itself
(difference = 0) is or is not rejected by the Monte Carlo at the same level.
"""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from theory import SGD, Gaussian, derive
from theory.scaling import learning_rate_batch_ratio_expansion

from ..montecarlo import simulate
from ..stats import Verdict
from . import Claim, Row, child_seed, register

LAM = 1.0 / np.arange(1, 9)
RATIO, SIGMA2, BATCHES = 0.02, 1.0, (1, 2, 32)


def _window(rec, gamma, batch, r_inf):
    """Dyadic window [2^J, 2^{J+1}) with the exact transient below 1e-6 of R_inf."""
    J = 5
    while True:
        steps = 2 ** (J + 1) - 1
        tr = rec.trajectory(LAM, gamma, batch, SIGMA2, initial=0.0, steps=steps)
        transient = abs(float(np.mean(tr.risk[2 ** J:])) - r_inf)
        if transient < 1e-6 * r_inf or J >= 13:
            return J, steps, transient
        J += 1


def _runner(claim, budget, ss):
    rec = derive(SGD(), Gaussian())
    ex = learning_rate_batch_ratio_expansion(rec)
    R0, R1 = ex.evaluate(LAM, RATIO, SIGMA2)
    alpha = claim.alpha / (len(BATCHES) + len(BATCHES) - 1)
    df = budget.replicas - 1
    rows, verdicts, points = [], [], []
    for j, B in enumerate(BATCHES):
        gamma = RATIO * B
        r_inf = rec.stationary_risk(LAM, gamma, B, SIGMA2)
        J, steps, transient = _window(rec, gamma, B, r_inf)
        res = simulate(SGD(), data=Gaussian(), eigenvalues=LAM, learning_rate=gamma, batch=B,
                       noise_variance=SIGMA2, initial=0.0, steps=steps, replicas=budget.replicas,
                       seed=child_seed(ss, j))
        est, se = float(res.block_risk[-1]), float(res.block_risk_se[-1])
        t = (est - r_inf) / se
        p = min(1.0, 2 * sps.t.sf(abs(t), df))
        ok = p > alpha and transient < 1e-2 * se
        params = dict(eigenvalues="1/i, d=8", learning_rate=gamma, batch=B, ratio=RATIO,
                      noise_variance=SIGMA2, window=[2 ** J, steps], transient=transient)
        verdicts.append(Verdict(ok, abs(t), p, alpha, 1, None, params, res.seed))
        rows.append(Row(f"R_inf at gamma={gamma:g}, B={B} (gamma/B={RATIO}); first order R_0+gamma R_1 = "
                        f"{R0 + gamma * R1:.6f}, R_0 = {R0:.6f}", r_inf, est, se, abs(t), ok))
        points.append((gamma, B, r_inf, est, se))
    g1, b1, r1, e1, s1 = points[0]
    for gamma, B, r_inf, est, se in points[1:]:
        diff, dse = est - e1, math.hypot(se, s1)
        exact = r_inf - r1
        t = (diff - exact) / dse
        p = min(1.0, 2 * sps.t.sf(abs(t), df))
        ok = p > alpha
        verdicts.append(Verdict(ok, abs(t), p, alpha, 1, None,
                                dict(pair=[(g1, b1), (gamma, B)], exact_difference=exact), None))
        t0 = diff / dse
        p0 = min(1.0, 2 * sps.t.sf(abs(t0), df))
        word = "breaks (rejected)" if p0 < alpha else "holds at this resolution (not rejected)"
        rows.append(Row(f"R_inf({gamma:g},{B}) - R_inf({g1:g},{b1}): exact; first order "
                        f"{(gamma - g1) * R1:.3g}; invariance (difference 0) {word}, z0 = {t0:.1f} "
                        f"(exact difference / s.e. = {exact / dse:.1f})",
                        exact, diff, dse, abs(t), ok))
    return rows, verdicts


register(Claim(
    "sgd.learning_rate_batch_ratio",
    "the stationary risk depends on (gamma, B) only through gamma/B to first order in gamma; "
    "the exact correction gamma R_1(gamma/B) is derived",
    "Jastrzębski et al., arXiv:1711.04623, Sec. 3; exact R_inf: Bordelon & Pehlevan, arXiv:2106.02713",
    _runner,
    lambda: derive(SGD(), Gaussian()),
))
