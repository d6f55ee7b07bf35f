"""Claims on the fourth moments of SGD (:mod:`theory.fourth`): the derived variances over replicas
of the block-averaged risk and of e_{k,i}^2 agree with Monte Carlo, below the fourth-moment
critical learning rate gamma_c^(4).

Test. The replicas are split into G independent groups (each its own random stream); each
group's sample variance of a quantity is an unbiased estimate of its variance over replicas,
so the G group variances are i.i.d. with mean the derived variance, and
:func:`verify.stats.scalar_comparison` (Hall-corrected t over the groups) tests each quantity;
Bonferroni over the quantities. Valid when the groups' variances have finite variance, i.e.
finite eighth moments of the iterates: the learning rate is 0.4 gamma_c, well below gamma_c^(4)
(0.77 gamma_c here), where the quantities' tails are light. Power: a variance estimated from the
4000 replicas of the standard budget has a relative standard error of 3-8 %, so errors of
15-20 % in a derived variance are detected at alpha = 1e-6 (25 % in the tests); the tight checks
of the fourth moments are the exact rational enumeration and the 200,000-replica Monte Carlo of
``tests/theory/test_fourth.py``.
"""
from __future__ import annotations

import numpy as np

from theory import SGD, Gaussian, IndependentCoordinates, derive, derive_fourth

from ..montecarlo import simulate
from ..stats import AlphaBudget, combine, reported, scalar_comparison
from . import Claim, child_seed, register

LAM = 1.0 / np.arange(1, 17)
BATCH, SIGMA2, STEPS, FRACTION = 2, 1.0, 100, 0.4


def group_variances(results):
    """Per group: the sample variance of the block-averaged risks (G, n_blocks) and of e_{T,i}^2 (G, d)."""
    risk = np.stack([r.replica_block_risk.var(axis=0, ddof=1) for r in results])
    last = np.stack([r.second_moments_se[-1] ** 2 * r.replicas for r in results])
    return risk, last


def fourth_runner(data, planted=1.0):
    """Runner of the claim; ``planted`` multiplies the derived variances (a wrong theory, for tests)."""
    def runner(claim, budget, ss):
        rec, four = derive(SGD(), data), derive_fourth(SGD(), data)
        gc = rec.critical_learning_rate(LAM, batch=BATCH)
        gc4 = four.critical_learning_rate(LAM, batch=BATCH)
        gamma = FRACTION * gc
        kw = dict(eigenvalues=LAM, learning_rate=gamma, batch=BATCH, noise_variance=SIGMA2, initial=1.0, steps=STEPS)
        size = 50                                   # replicas per group
        groups = max(40, budget.replicas // size)   # 80 at the standard budget
        results = simulate(SGD(), data=data, replicas=groups * size, chunk_size=size, seed=child_seed(ss, 0),
                           split=True, **kw)
        edges = results[0].block_edges
        tac = four.time_average_covariance(LAM, gamma, edges, batch=BATCH, noise_variance=SIGMA2, initial=1.0)
        tr = four.trajectory(LAM, gamma, batch=BATCH, noise_variance=SIGMA2, initial=1.0, steps=STEPS)
        risk_var, last_var = group_variances(results)
        blocks = [j for j in range(len(edges) - 1) if tac.risk_covariance[j, j] > 0]
        alphas = AlphaBudget(claim.alpha, {"risk": 1, "coordinates": 1})
        a_risk = alphas.split("risk", len(blocks))
        a_coord = alphas.split("coordinates", len(LAM))
        params = dict(kw, eigenvalues="1/i, d=16", groups=groups, group_size=size)
        verdicts = [reported(gc4, gc, label=f"gamma_c^(4) = {gc4:.6g} = {gc4 / gc:.4f} gamma_c (statistic: "
                                             "1 - gamma_c^(4)/gamma_c); the run is at "
                                             f"{gamma / gc4:.3f} gamma_c^(4)")]
        risk_checks = [scalar_comparison(planted * float(tac.risk_covariance[j, j]), risk_var[:, j], alpha=a,
                                         parameters=params, seed=results[0].seed,
                                         label=f"steps {edges[j]}..{edges[j + 1] - 1}")
                       for j, a in zip(blocks, a_risk)]
        coord_checks = [scalar_comparison(planted * float(tr.second_moment_variance[-1, i]), last_var[:, i],
                                          alpha=a, parameters=params, seed=results[0].seed, label=f"i = {i}")
                        for i, a in enumerate(a_coord)]
        for checks, share, what in ((risk_checks, alphas.shares["risk"], f"the block-averaged risk ({len(blocks)} "
                                     "dyadic blocks)"),
                                    (coord_checks, alphas.shares["coordinates"], f"e_(k,i)^2 at step k = {STEPS} "
                                     f"({len(LAM)} coordinates)")):
            v = combine(checks, share, label=f"Var over replicas of {what} = derived from the even-sector "
                                             f"recursion ({groups} groups of {size} replicas)")
            worst = min(checks, key=lambda c: c.p_value)
            v.label += f"; worst {worst.label}"
            verdicts.append(v)
        return verdicts
    return runner


_SRC = ("the package's own derivation (theory.fourth): even-sector recursion of SGD; second-moment analogue: "
        "Bordelon & Pehlevan, arXiv:2106.02713")
for _data, _suffix, _desc in ((Gaussian(), "gaussian", "Gaussian data"),
                              (IndependentCoordinates(kurtosis=np.repeat([1.0, 2.0, 6.0, 12.0], 4)), "independent",
                               "independent coordinates, kurtosis 1..12 (three-point law)")):
    register(Claim(f"sgd.fourth_moments.{_suffix}",
                   f"SGD fourth moments: variances over replicas of the block-averaged risk and of e_k,i^2 "
                   f"follow the derived even-sector recursion ({_desc})",
                   _SRC, fourth_runner(_data), (lambda d=_data: derive_fourth(SGD(), d))))
