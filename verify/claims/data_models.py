"""Claims on sparse and discrete data: the derived SGD recursion with kappa = 3/p (sparse Gaussian
inputs) and kappa = 1 (Rademacher inputs) against Monte Carlo with the models' own samplers.

The one-step recursion for these models is also checked *exactly* (rational arithmetic,
enumeration of the support) in ``tests/verify/test_exact_oracle.py``.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from scipy import stats as sps

from theory import SGD, Rademacher, SparseGaussian, derive

from .. import strategies as sst
from ..check import check_problems
from ..montecarlo import simulate
from ..stats import Verdict, compare
from . import Claim, Row, child_seed, register, row_from_verdict
from .sgd import _SRC, _representative

_SPARSE = SparseGaussian(p=np.repeat([0.1, 0.25, 0.5, 1.0], 4))
#: drawn examples: sparse models with one p for all coordinates, p in [0.1, 1]
_SPARSE_MODELS = sst.sparse_data_models(min_p=0.1, max_p=1.0)


def _runner(data, models):
    """The fixed power-law problem (d = 16, B = 2, 0.4 gamma_c) plus ``budget.examples`` drawn problems."""
    def runner(claim, budget, ss):
        steps = 300
        alpha = claim.alpha / (1 + budget.examples)
        prob = _representative(data)
        kw = prob.kwargs(steps)
        res = simulate(SGD(), data=data, replicas=budget.replicas, seed=child_seed(ss, 0), **kw)
        v = compare(derive(SGD(), data).trajectory(**kw), res, alpha=alpha, parameters=prob.describe())
        rows, verdicts = [row_from_verdict("power-law d=16, B=2, gamma=0.4 gamma_c", v)], [v]
        if budget.examples:
            strategy = sst.problems(SGD(), data=models, min_dimension=8, max_dimension=32,
                                    fraction=sst.critical_fractions(True, 0.25, 0.5),
                                    noise_variance=sst.noise_variances(0.25, 1.0))
            _, tested = check_problems(lambda p, n: derive(p.algorithm, p.data).trajectory(**p.kwargs(n)),
                                       strategy, examples=budget.examples, steps=steps,
                                       replicas=budget.replicas, alpha=alpha * budget.examples,
                                       seed=child_seed(ss, 1) % 2**32)
            for j, (p, vv) in enumerate(tested):
                verdicts.append(vv)
                rows.append(row_from_verdict(f"drawn #{j + 1}: {p.data!r}, d={len(p.eigenvalues)}, "
                                             f"B={p.batch}, gamma={p.fraction:.2f} gamma_c", vv))
        return rows, verdicts
    return runner

def _stationary(data):
    """R_inf at 0.4 gamma_c (power law d = 16, B = 2, sigma^2 = 1) against the last dyadic block of a
    run long enough that the exact transient is below 1e-7 R_inf and below 1e-2 standard errors."""
    def runner(claim, budget, ss):
        lam = np.arange(1, 17, dtype=float) ** -1.0
        batch, sigma2 = 2, 1.0
        rec = derive(SGD(), data)
        gamma = 0.4 * rec.critical_learning_rate(lam, batch=batch)
        r_inf = rec.stationary_risk(lam, gamma, batch=batch, noise_variance=sigma2)
        J = 6
        while True:
            steps = 2 ** (J + 1) - 1
            tr = rec.trajectory(lam, gamma, batch, sigma2, initial=0.0, steps=steps)
            transient = abs(float(np.mean(tr.risk[2 ** J:])) - r_inf)
            if transient < 1e-7 * r_inf or J >= 14:
                break
            J += 1
        res = simulate(SGD(), data=data, eigenvalues=lam, learning_rate=gamma, batch=batch,
                       noise_variance=sigma2, initial=0.0, steps=steps, replicas=budget.replicas,
                       seed=child_seed(ss, 0))
        est, se = float(res.block_risk[-1]), float(res.block_risk_se[-1])
        t = (est - r_inf) / se
        p = min(1.0, 2 * sps.t.sf(abs(t), res.replicas - 1))
        passed = p > claim.alpha and transient < 1e-2 * se
        v = Verdict(passed, abs(t), p, claim.alpha, 1, None,
                    dict(eigenvalues="i^-1, d=16", learning_rate=gamma, batch=batch, noise_variance=sigma2,
                         window=[2 ** J, steps], transient=transient), res.seed)
        return [Row(f"R_inf at gamma = 0.4 gamma_c, B=2, sigma^2=1 (steps {2 ** J}..{steps} averaged)",
                    r_inf, est, se, abs(t), passed)], [v]
    return runner


for _data, _models, _suffix, _desc in (
        (_SPARSE, _SPARSE_MODELS, "sparse", "sparse Gaussian inputs, p = 0.1..1, kappa = 3/p"),
        (Rademacher(), st.just(Rademacher()), "rademacher", "Rademacher inputs, kappa = 1")):
    register(Claim(f"sgd.second_moments.{_suffix}",
                   f"SGD second moments m_k,i and risk follow the derived recursion ({_desc})",
                   _SRC + "; REFERENCES.md (kappa = 3/p); Everett & Paquette, arXiv:2605.28961",
                   _runner(_data, _models), (lambda d=_data: derive(SGD(), d))))
    register(Claim(f"sgd.stationary_risk.{_suffix}",
                   f"stationary risk R_inf = sigma^2 / (2 (1 - G)) ({_desc})",
                   _SRC + "; Sherman-Morrison fixed point",
                   _stationary(_data), (lambda d=_data: derive(SGD(), d))))
