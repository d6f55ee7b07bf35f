r"""Claims on the high-dimensional limit (the High Line ODEs) and adaptive learning rates.

Normalisation of every claim here (arXiv:2405.19585, eq. 8): batch 1, the step of
SGD is (g/d) * gradient, time t = k/d, D_i^2 = d E e_i^2. A Monte Carlo run at
dimension d therefore uses ``learning_rate = g/d``, ``steps = T d`` and an initial
error e_{0,i} = sqrt(D_i^2(0)/d).
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
from scipy.optimize import brentq
from scipy import stats as sps

from theory import SGD, Gaussian, derive
from theory import highline as hl

from ..montecarlo import simulate
from ..stats import Verdict, compare
from . import Claim, Row, child_seed, register, row_from_verdict

_SRC = "Collins-Woodfin et al., The High Line, arXiv:2405.19585"


def two_class_spectrum(d, low=0.25):
    """K with eigenvalue 1 on the first half of the directions and ``low`` on the second half."""
    return np.where(np.arange(d) < d // 2, 1.0, low)


def _sgd_problem(d):
    lam = two_class_spectrum(d)
    gc = float(2 * d / lam.sum())
    return dict(eigenvalues=lam, g=0.5 * gc, noise_variance=0.1, D0=1.0, T=1)


def finite_d_bias(d, T=1, **kw):
    """(exact finite-d risk, ODE risk) on the grid t = k/d, k = 0..T d, for the representative problem."""
    p = _sgd_problem(d)
    p.update(kw)
    lam, g = p["eigenvalues"], p["g"]
    steps = int(T * d)
    tr = derive(SGD(), Gaussian()).trajectory(lam, g / d, noise_variance=p["noise_variance"],
                                             initial=math.sqrt(p["D0"] / d), steps=steps)
    sol = hl.solve(lam, t_max=T, learning_rate=g, noise_variance=p["noise_variance"], initial=p["D0"],
                   t_eval=np.arange(steps + 1) / d)
    return tr, sol


# ------------------------------------------------------------------------------ fixed learning rates
def _critical_runner(claim, budget, ss):
    ode = hl.derive_limit()
    rec = derive(SGD(), Gaussian())
    rows = []
    # (a) the finite-d critical learning rate times d tends to 2d/tr K, with an O(1/d) error
    errs = []
    for d in (16, 64, 256):
        lam = two_class_spectrum(d)
        limit = float(ode.critical_learning_rate.subs({hl.d: d, hl.trK: lam.sum()}))
        finite = d * rec.critical_learning_rate(lam, batch=1)
        errs.append((d, limit, finite, abs(finite - limit) / limit))
    ratios = [errs[j][3] / errs[j + 1][3] for j in range(len(errs) - 1)]
    for (dd, limit, finite, err) in errs:
        rows.append(Row(f"d * gamma_c(d) -> 2d/tr K (two-class K, d={dd}); relative error {err:.3g}",
                        limit, finite, 0.0, err, True))
    # relative error c1/d + c2/d^2: the ratio per quadrupling is 4 + O(1/d), so its distance to 4
    # must itself shrink (by a factor ~4) from one quadrupling to the next
    ok = all(r > 1 for r in ratios) and abs(ratios[1] - 4) < abs(ratios[0] - 4) / 2
    rows.append(Row(f"error ratios per quadrupling of d: {', '.join(f'{r:.3f}' for r in ratios)} (1/d rate: 4)",
                    4.0, float(ratios[-1]), 0.0, abs(ratios[-1] - 4), ok))
    # (b) the ODE with fixed g converges below g_c and diverges above (exponential rate from the ODE itself)
    lam = two_class_spectrum(64)
    gc = float(ode.critical_learning_rate.subs({hl.d: 64, hl.trK: lam.sum()}))
    for frac in (0.95, 1.05):
        sol = hl.solve(lam, t_max=400.0, learning_rate=frac * gc, noise_variance=0.1, initial=1.0,
                       t_eval=[0.0, 200.0, 400.0], method="LSODA")
        r0, r1, r2 = sol.risk
        # below: R(t) -> sigma^2 / (2 (1 - g tr K / 2d)); above: R grows
        g = frac * gc
        r_inf = float(ode.stationary_risk.subs({hl.g: g, hl.trK: lam.sum(), hl.d: lam.size,
                                                 hl.sym.sigma2: 0.1}))
        if frac < 1:
            ok = abs(r2 - r_inf) < 1e-6 * r_inf
            rows.append(Row(f"ODE at g = 0.95 g_c converges: R(400) vs derived R_inf = " + str(ode.stationary_risk),
                            r_inf, float(r2), 0.0, abs(r2 - r_inf) / r_inf, bool(ok)))
        else:
            # growth rate: the positive root z of the secular equation (1/d) sum_i G_i(z) = 1 of the
            # linear ODE, G_i(z) = risk_weight * (dD/dR) / (z - a_i); R(t) ~ c e^{z t}
            Gz = sp.lambdify([hl.z, hl.sym.lam], ode.growth_term.subs(hl.g, g), modules="numpy")
            z = brentq(lambda x: float(np.mean(Gz(x, lam))) - 1, 1e-12, 10.0, xtol=1e-15)
            slope = (math.log(r2) - math.log(r1)) / 200.0
            ok = abs(slope - z) < 1e-6 * z
            rows.append(Row("ODE at g = 1.05 g_c diverges: d log R/dt on [200, 400] vs the positive root of "
                            "the secular equation", z, slope, 0.0, abs(slope - z) / z, bool(ok)))
    return rows, []


def _limit_runner(claim, budget, ss):
    """Monte Carlo SGD at d = 64, 256, 1024 against the ODE and the exact finite-d recursion."""
    dims = (64, 256, 1024)
    alpha = claim.alpha / (2 * len(dims))
    rows, verdicts = [], []
    biases = []
    for j, d in enumerate(dims):
        p = _sgd_problem(d)
        tr, sol = finite_d_bias(d)
        steps = p["T"] * d
        reps = max(64, budget.replicas * 32 // d)
        res = simulate(SGD(), eigenvalues=p["eigenvalues"], learning_rate=p["g"] / d,
                       noise_variance=p["noise_variance"], initial=math.sqrt(p["D0"] / d), steps=steps,
                       replicas=reps, seed=child_seed(ss, j))
        params = dict(d=d, g=p["g"], T=p["T"], replicas=reps, spectrum="two-class 1, 0.25")
        v = compare(tr, res, alpha=alpha, quantities=("risk",), parameters=params)
        verdicts.append(v)
        rows.append(row_from_verdict(f"d={d}: Monte Carlo SGD (g/d) vs exact finite-d recursion", v))
        # the ODE's error: exact bias (deterministic) and the Monte Carlo estimate of it on t in [1/2, 1]
        window = slice(d // 2, steps + 1)
        bias = float(np.mean(tr.risk[window] - sol.risk[window]))
        biases.append((d, bias, float(np.max(np.abs(tr.risk - sol.risk)))))
        est = float(np.mean(res.risk[window] - sol.risk[window]))
        # the standard error of a time average needs the replicas' time averages: use the block
        # [2^J, steps] of the simulation, which covers t in [1/2, 1]
        k = res.block_edges.index(d // 2)
        a, b = res.block_edges[k], res.block_edges[k + 1]
        est = float(res.block_risk[k] - np.mean(sol.risk[a:b]))
        se = float(res.block_risk_se[k])
        exact = float(np.mean(tr.risk[a:b] - sol.risk[a:b]))
        tstat = (est - exact) / se
        pval = min(1.0, 2 * sps.t.sf(abs(tstat), reps - 1))
        ok = pval > alpha
        verdicts.append(Verdict(ok, abs(tstat), pval, alpha, 1, None, params, res.seed))
        rows.append(Row(f"d={d}: Monte Carlo minus ODE, risk averaged over t in [{a / d:.2f}, {b / d:.2f})"
                        f" (theory: exact O(1/d) bias)", exact, est, se, abs(tstat), ok))
    # the ODE's error shrinks like 1/d: the local slopes of log sup|bias| against log d
    slopes = [math.log(biases[j + 1][2] / biases[j][2]) / math.log(dims[j + 1] / dims[j])
              for j in range(len(dims) - 1)]
    cs = [d * b for d, _, b in biases]
    # d * sup|bias| converges: successive differences shrink by ~4 (the next order is 1/d^2)
    ok = all(-1.1 < s < -0.9 for s in slopes) and abs(cs[2] - cs[1]) < abs(cs[1] - cs[0])
    rows.append(Row("sup_t |exact finite-d risk - ODE| ~ c/d: slopes " + ", ".join(f"{s:.4f}" for s in slopes)
                    + "; d*sup|bias| = " + ", ".join(f"{c:.4f}" for c in cs), -1.0, slopes[-1], 0.0,
                    abs(slopes[-1] + 1), ok))
    return rows, verdicts


register(Claim("highline.critical_learning_rate",
               "fixed learning rates (g/d): the ODE converges iff g < 2d/tr K; d gamma_c(d) -> 2d/tr K at rate 1/d",
               _SRC + ", Sec. 2 (eq. 8 and the Volterra kernel, eqs. 64-66)",
               _critical_runner, lambda: hl.derive_limit()))
register(Claim("highline.sgd_limit",
               "the High Line ODE predicts Monte Carlo SGD at d = 64, 256, 1024 with an O(1/d) error",
               _SRC + ", eq. 8 (deterministic equivalent), t = k/d, step g/d, D_i^2 = d e_i^2",
               _limit_runner, lambda: hl.derive_limit()))
