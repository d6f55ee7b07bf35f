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

from theory import SGD, Gaussian, derive
from theory.scaling import learning_rate_batch_ratio_expansion

from ..stats import AlphaBudget, growth, reported, scalar_comparison
from . import Claim, child_seed, register
from .sgd import _RiskCurve, burn_in_stationary

LAM = 1.0 / np.arange(1, 9)
RATIO, SIGMA2, BATCHES = 0.02, 1.0, (1, 2, 32)


def _window(curve, r_inf):
    """Dyadic window [2^J, 2^{J+1}) with the exact transient below 1e-6 of R_inf, and the exact window mean
    (``curve``: the exact risk from e_0 = 0, a :class:`verify.claims.sgd._RiskCurve` that
    :func:`burn_in_stationary` then reuses)."""
    J = 5
    while True:
        steps = 2 ** (J + 1) - 1
        window_mean = curve.mean(2 ** J, steps)
        if abs(window_mean - r_inf) < 1e-6 * r_inf or J >= 13:
            return J, steps, window_mean
        J += 1


def _runner(claim, budget, ss):
    rec = derive(SGD(), Gaussian())
    ex = learning_rate_batch_ratio_expansion(rec)
    R0, R1 = ex.evaluate(LAM, RATIO, SIGMA2)
    alphas = AlphaBudget(claim.alpha, [f"R_inf B={B}" for B in BATCHES] + [f"difference B={B}" for B in BATCHES[1:]]
                         + [f"invariance B={B}" for B in BATCHES[1:]])
    verdicts, points = [], []
    for j, B in enumerate(BATCHES):
        gamma = RATIO * B
        r_inf = rec.stationary_risk(LAM, gamma, B, SIGMA2)
        # the window length 2^J of a run to 2^(J+1) (power), simulated right after a burn-in (half the steps)
        curve = _RiskCurve(rec, LAM, gamma, B, SIGMA2, {})
        J = _window(curve, r_inf)[0]
        params = dict(eigenvalues="1/i, d=8", learning_rate=gamma, batch=B, ratio=RATIO, noise_variance=SIGMA2)
        checks, _, samples, window_mean, _, _ = burn_in_stationary(
            rec, SGD(), Gaussian(), LAM, gamma, B, SIGMA2, budget.replicas, child_seed(ss, j), alphas[f"R_inf B={B}"],
            f"R_inf at gamma={gamma:g}, B={B} (first order R_0 + gamma R_1 = {R0 + gamma * R1:.6f}, "
            f"R_0 = {R0:.6f})", params, J=J, curve=curve, r_inf=r_inf)
        verdicts.extend(checks)
        points.append((gamma, B, r_inf, window_mean, samples))
    g1, b1, r1, w1, s1 = points[0]
    for gamma, B, r_inf, window_mean, samples in points[1:]:
        # the replicas of the two runs are independent, so their pairwise differences are i.i.d.
        # with mean E R(gamma, B) - E R(g1, b1): a one-sample test on them is exact in law
        diff = samples - s1
        exact = window_mean - w1
        params = dict(pair=[(g1, b1), (gamma, B)], exact_difference=exact, first_order=(gamma - g1) * R1)
        verdicts.append(scalar_comparison(exact, diff, alpha=alphas[f"difference B={B}"], parameters=params,
                                          label=f"R_inf({gamma:g},{B}) - R_inf({g1:g},{b1}) = derived exact difference "
                                                f"(first order {(gamma - g1) * R1:.3g})"))
        se = float(np.std(diff, ddof=1) / math.sqrt(diff.size))
        if abs(exact) >= 10 * se:   # decided by the theory: the invariance must visibly break
            verdicts.append(growth(0.0, diff, direction="greater" if exact > 0 else "less",
                                   alpha=alphas[f"invariance B={B}"], theory=exact, parameters=params,
                                   label=f"gamma/B invariance breaks at B={B}: R_inf({gamma:g},{B}) != "
                                         f"R_inf({g1:g},{b1}) (derived difference {exact / se:.1f} s.e.)"))
        else:
            verdicts.append(reported(float(np.mean(diff)), exact, standard_error=se,
                                     label=f"gamma/B invariance at B={B}: derived difference {exact / se:.1f} s.e., "
                                           "below the resolution (10 s.e.), so not tested"))
    return verdicts


register(Claim(
    "sgd.learning_rate_batch_ratio",
    "the stationary risk depends on (gamma, B) only through gamma/B to first order in gamma; "
    "the exact correction gamma R_1(gamma/B) is derived",
    "Jastrzębski et al., arXiv:1711.04623, Sec. 3; exact R_inf: Bordelon & Pehlevan, arXiv:2106.02713",
    _runner,
    lambda: derive(SGD(), Gaussian()),
))
