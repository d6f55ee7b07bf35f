"""Claims on heavy ball with sparse inputs (Everett & Paquette, arXiv:2605.28961): the three regimes
set by the retention and learning timescales of :func:`theory.sparse.sparse_timescales`, and the
spectral conflict of two sparsities.

Every Monte Carlo check is a calibrated test; the claim's family-wise alpha is split by Bonferroni
over its checks. Parameters stay well inside the stable region for trajectory comparisons (finite
fourth moments, CLT on replica means); the unstable regime uses a one-sided test of growth.
"""
from __future__ import annotations

import numpy as np

from theory import SGD, HeavyBall, derive
from theory.sparse import (
    SparseGaussian,
    learning_timescale,
    momentum_retention_timescale,
    sparse_timescales,
    spectral_conflict,
)

from . import Claim, Row, child_seed, register, row_from_verdict

_SRC = "Everett & Paquette, arXiv:2605.28961 (regimes; timescales as defined by the package)"
_P, _D = 0.05, 8  # sparsity and dimension of the regime experiments (eigenvalues 1)

#: (label, beta, tau_learn, steps); gamma = (1 - beta) p / tau_learn (eigenvalue 1)
REGIMES = (("SGD limit", 0.2, 10.0, 1023), ("heavy-ball", 0.99, 4.0, 300), ("unstable", 0.9, 0.5, 31))
#: first step of the SGD-limit window: the limit holds on the learning timescale, after the buffer
#: has filled (tau_ret in steps is 1/(1 - beta) ~ 1); before it the lag of beta/(1-beta) steps is resolved
SGD_WINDOW = 128
#: largest derived HB - SGD gap, in s.e. of the compared block means, for which the SGD-limit test is run
MAX_BIAS = 0.2
#: replicas of the SGD-limit run (the derived gap is about 0.15 s.e. there; more replicas resolve it)
SGD_REPLICAS = 4000
#: least replicas of a growth test (the risk of a diverging run is heavy-tailed: power needs many replicas;
#: the runs are short, d = 8 and 31 steps)
GROWTH_REPLICAS = 16000


def regime_parameters(beta, tau_learn, p=_P):
    """(learning rate, tau_learn, tau_ret) for the given learning timescale (eigenvalue 1)."""
    gamma = (1 - beta) * p / tau_learn
    return gamma, learning_timescale(gamma, 1.0, p, beta), momentum_retention_timescale(p, beta)


def _growth_check(res, r0, alpha, label):
    """One-sided test of H0: E R over the last dyadic block <= R_0 (Student t on replica means)."""
    from ..stats import Verdict, one_sided_p_value
    est, se = float(res.block_risk[-1]), float(res.block_risk_se[-1])
    pv = one_sided_p_value(est, se, r0, res.replicas - 1, "greater")
    ok = pv < alpha
    t = (est - r0) / se if se > 0 else float("inf")
    return Row(label, r0, est, se, t, ok), Verdict(ok, t, pv, alpha, 1, None, {"R0": r0}, res.seed)


def _block_means(risk, res, first):
    edges = res.block_edges
    idx = [j for j in range(len(edges) - 1) if edges[j] >= first]
    return idx, np.array([np.mean(risk[edges[j]:edges[j + 1]]) for j in idx])


def _window_test(prediction, res, first, alpha, bias):
    """Two-sided t-tests of the block means starting at or after ``first`` (Bonferroni over them).

    ``bias`` is the derived |gap| (in s.e.) between ``prediction`` and the exact recursion: when at
    most MAX_BIAS, the tail probability grows by at most exp(bias c) <= 4 at the critical value c, so
    the test is run at alpha / 4 and its false-failure probability stays below ``alpha``.
    """
    from scipy import stats as sps

    from ..stats import Verdict
    idx, th = _block_means(prediction, res, first)
    mc, se = res.block_risk[idx], res.block_risk_se[idx]
    t = (mc - th) / se
    level = alpha / 4
    pv = min(1.0, len(idx) * float(2 * sps.t.sf(np.max(np.abs(t)), res.replicas - 1)))
    j = int(np.argmax(np.abs(t)))
    ok = pv > level
    return ok, float(np.abs(t).max()), (float(th[j]), float(mc[j]), float(se[j])), Verdict(
        ok, float(np.abs(t).max()), pv, level, len(idx), None, {"first_step": first, "bias_se": bias}, res.seed)


def _regimes_runner(claim, budget, ss, perturb=1.0):
    """perturb != 1 scales the theory trajectories (planted-error power tests)."""
    from ..montecarlo import simulate
    from ..stats import compare
    data, lam = SparseGaussian(_P), np.ones(_D)
    hb, sgd = derive(HeavyBall(), data), derive(SGD(), data)
    alpha = claim.alpha / 5
    rows, verdicts = [], []
    for k, (label, beta, tl, steps) in enumerate(REGIMES):
        gamma, t_learn, t_ret = regime_parameters(beta, tl)
        rho = hb.spectral_radius(lam, gamma, 1, momentum=beta)
        kw = dict(eigenvalues=lam, batch=1, noise_variance=0.1 if label != "unstable" else 0.0,
                  initial=1.0, steps=steps)
        # the SGD limit is a statement at a resolution: its derived relative accuracy (tau_ret-1)/tau_learn
        # is resolved by enough replicas, so regime (a) runs at most SGD_REPLICAS (MAX_BIAS gate below)
        replicas = (min(budget.replicas, SGD_REPLICAS) if label == "SGD limit" else
                    max(budget.replicas, GROWTH_REPLICAS) if label == "unstable" else budget.replicas)
        res = simulate(HeavyBall(), data=data, learning_rate=gamma, replicas=replicas,
                       seed=child_seed(ss, k), momentum=beta, **kw)
        tag = f"{label}: beta={beta}, tau_learn={t_learn:.3g}, tau_ret={t_ret:.3g}, (tau_ret-1)/tau_learn=" \
              f"{(t_ret - 1) / t_learn:.2g}, rho={rho:.4f}"
        exact = hb.trajectory(learning_rate=gamma, momentum=beta, **kw)
        if label == "unstable":
            rows.append(Row(tag + " > 1 (exact map)", 1.0, rho, 0.0, rho, rho > 1))
            row, v = _growth_check(res, float(exact.risk[0]), alpha,
                                   tag + ": MC risk of last block exceeds R_0 (one-sided)")
            rows.append(row)
            verdicts.append(v)
            continue
        limit = sgd.trajectory(learning_rate=gamma / (1 - beta), **kw)
        exact.risk[:] *= perturb
        limit.risk[:] *= perturb
        v_hb = compare(exact, res, alpha=alpha, quantities=("risk",))
        rows.append(row_from_verdict(tag + ": MC = exact heavy-ball recursion", v_hb))
        verdicts.append(v_hb)
        if label == "SGD limit":
            idx, gap = _block_means(exact.risk - limit.risk, res, SGD_WINDOW)
            bias = float(np.max(np.abs(gap) / res.block_risk_se[idx]))
            rows.append(Row(f"{label}: derived |R_HB - R_SGD| on blocks from step {SGD_WINDOW} <= {MAX_BIAS} s.e.",
                            MAX_BIAS, bias, 0.0, bias, bias <= MAX_BIAS))
            ok, stat, (th, mc, se), v = _window_test(limit.risk, res, SGD_WINDOW, alpha, bias)
            rows.append(Row(tag + f": MC = SGD at gamma/(1-beta) on blocks from step {SGD_WINDOW}",
                            th, mc, se, stat, ok))
            verdicts.append(v)
        else:
            v_sgd = compare(limit, res, alpha=alpha, quantities=("risk",))
            rows.append(Row(tag + ": SGD at gamma/(1-beta) rejected", v_sgd.worst.theory if v_sgd.worst else 0.0,
                            v_sgd.worst.monte_carlo if v_sgd.worst else 0.0,
                            v_sgd.worst.standard_error if v_sgd.worst else 0.0, v_sgd.statistic, not v_sgd.passed))
            verdicts.append(type(v_sgd)(not v_sgd.passed, v_sgd.statistic, v_sgd.p_value, alpha, v_sgd.comparisons,
                                        v_sgd.worst, {"rejected": "SGD limit"}, res.seed))
    return rows, verdicts


register(Claim(
    "momentum.sparse.regimes",
    f"heavy ball, sparse inputs p = {_P}, d = {_D}: tau_learn >> tau_ret - 1 follows SGD at gamma/(1-beta); "
    "tau_learn ~ tau_ret - 1 follows the heavy-ball recursion and rejects SGD; tau_learn < tau_c diverges",
    _SRC, _regimes_runner, (lambda: sparse_timescales())))


# --------------------------------------------------------------------------- spectral conflict
CONFLICT = dict(p1=0.05, p2=0.5, learning_rate=0.01, dimension=8)


def _conflict_runner(claim, budget, ss, perturb=1.0):
    from scipy import stats as sps

    from ..montecarlo import simulate
    from ..stats import Verdict, compare
    c = spectral_conflict(**CONFLICT)
    lam, gamma = np.ones(CONFLICT["dimension"]), CONFLICT["learning_rate"]
    b1, b2 = c.best
    rows = [Row(f"beta*(p={c.sparsities[0]}) = {b1:.4f} != beta*(p={c.sparsities[1]}) = {b2:.4f}; best single "
                f"beta = {c.compromise:.4f} has rate efficiency {c.efficiency:.3f} < 1",
                1.0, c.efficiency, 0.0, 0.0, abs(b1 - b2) > 1e-3 and c.efficiency < 1)]
    alpha = claim.alpha / 4
    verdicts = []
    kw = dict(eigenvalues=lam, learning_rate=gamma, batch=1, noise_variance=0.0, initial=1.0, steps=120)
    # group 1 (sparse): its own beta converges as derived; the other group's beta diverges
    data1 = SparseGaussian(c.sparsities[0])
    rec1 = derive(HeavyBall(), data1)
    res = simulate(HeavyBall(), data=data1, momentum=b1, replicas=budget.replicas, seed=child_seed(ss, 0), **kw)
    tr = rec1.trajectory(momentum=b1, **kw)
    tr.risk[:] *= perturb
    v = compare(tr, res, alpha=alpha, quantities=("risk",))
    rows.append(row_from_verdict(f"p={c.sparsities[0]}, own beta {b1:.3f} (rho={c.radius[0, 0]:.4f}): MC = exact", v))
    verdicts.append(v)
    res = simulate(HeavyBall(), data=data1, momentum=b2, replicas=max(budget.replicas, GROWTH_REPLICAS),
                   seed=child_seed(ss, 1), **dict(kw, steps=31))
    row, v = _growth_check(res, 0.5 * len(lam), alpha,
                           f"p={c.sparsities[0]}, other group's beta {b2:.3f} (rho={c.radius[0, 1]:.4f} > 1): "
                           "MC risk grows above R_0 (one-sided)")
    rows.append(row)
    verdicts.append(v)
    # group 2 (denser): its own beta beats the sparse group's beta at the horizon (one-sided, two samples)
    data2 = SparseGaussian(c.sparsities[1])
    res_own = simulate(HeavyBall(), data=data2, momentum=b2, replicas=budget.replicas, seed=child_seed(ss, 2), **kw)
    res_other = simulate(HeavyBall(), data=data2, momentum=b1, replicas=budget.replicas, seed=child_seed(ss, 3), **kw)
    rec2 = derive(HeavyBall(), data2)
    tr = rec2.trajectory(momentum=b2, **kw)
    tr.risk[:] *= perturb
    v = compare(tr, res_own, alpha=alpha, quantities=("risk",))
    rows.append(row_from_verdict(f"p={c.sparsities[1]}, own beta {b2:.3f} (rho={c.radius[1, 1]:.4f}): MC = exact", v))
    verdicts.append(v)
    a, sa = float(res_own.block_risk[-1]), float(res_own.block_risk_se[-1])
    b, sb = float(res_other.block_risk[-1]), float(res_other.block_risk_se[-1])
    se = float(np.hypot(sa, sb))
    t = (b - a) / se
    df = min(res_own.replicas, res_other.replicas) - 1  # conservative Welch degrees of freedom
    pv = float(sps.t.sf(t, df))
    ok = pv < alpha
    th_own = float(np.mean(rec2.trajectory(momentum=b2, **kw).risk[res_own.block_edges[-2]:]))
    th_other = float(np.mean(rec2.trajectory(momentum=b1, **kw).risk[res_own.block_edges[-2]:]))
    rows.append(Row(f"p={c.sparsities[1]}: last-block risk at other beta {b1:.3f} (theory {th_other:.3g}) > own beta "
                    f"(theory {th_own:.3g}), one-sided two-sample", th_other - th_own, b - a, se, t, ok))
    verdicts.append(Verdict(ok, t, pv, alpha, 1, None, {"betas": [b2, b1]}, res_own.seed))
    return rows, verdicts


register(Claim(
    "momentum.sparse.spectral_conflict",
    "heavy ball with two sparsities (p = 0.05, 0.5; gamma = 0.01, d = 8 each): the momenta minimising each "
    "group's exact spectral radius differ, one global beta is slower for a group; MC confirms the key comparison",
    _SRC + "; spectral conflict", _conflict_runner, (lambda: sparse_timescales())))
