"""Claims on minibatch SGD on least squares: second moments, critical learning rate, stationary risk."""
from __future__ import annotations

import math

import numpy as np
from scipy import stats as sps

from theory import SGD, Gaussian, IndependentCoordinates, derive

from .. import strategies as sst
from ..check import check_problems, default_problems
from ..montecarlo import simulate
from ..stats import Verdict, compare, one_sided_p_value
from . import Claim, Row, Series, child_seed, register, row_from_verdict


# --------------------------------------------------------------------------- the claims
def _representative(data, algorithm=None, hyper=None):
    """The fixed problem every budget runs: power-law spectrum, d = 16, B = 2."""
    algorithm, hyper = algorithm or SGD(), dict(hyper or {})
    lam = np.arange(1, 17, dtype=float) ** -1.0
    rec = derive(algorithm, data)
    gc = rec.critical_learning_rate(lam, batch=2, **hyper)
    return sst.Problem(algorithm, data, lam, 2, 0.4 * gc, gc, 0.4, 0.5, np.ones(16), 0, hyper)


def _second_moments_runner(data, algorithm=None, hyper=None, drawn_hyper=None, drawn_data=None):
    """Runner comparing trajectories; ``algorithm`` (default SGD) with fixed ``hyper`` for the
    representative problem, and the strategies ``drawn_hyper`` and ``drawn_data`` (default: the
    claim's data model, or any kurtosis for IndependentCoordinates) for the drawn examples."""
    algorithm = algorithm or SGD()

    def runner(claim, budget, ss):
        rec = derive(algorithm, data)
        steps = 300
        alpha = claim.alpha / (1 + budget.examples)
        rows, verdicts = [], []
        prob = _representative(data, algorithm, hyper)
        prob.seed = child_seed(ss, 0)
        kw = prob.kwargs(steps)
        res = simulate(algorithm, data=data, replicas=budget.replicas, seed=prob.seed, **kw)
        tr = rec.trajectory(**kw)
        v = compare(tr, res, alpha=alpha, parameters=prob.describe())
        verdicts.append(v)
        rows.append(row_from_verdict("power-law d=16, B=2, gamma=0.4 gamma_c", v))
        steps_axis = np.arange(steps + 1)
        series = [Series.of("risk, power-law d=16, B=2, gamma=0.4 gamma_c", steps_axis, tr.risk, res.risk,
                            res.risk_se, log_y=True),
                  Series.of("m_k,1 (largest eigenvalue)", steps_axis, tr.second_moments[:, 0],
                            res.second_moments[:, 0], res.second_moments_se[:, 0], ylabel="second moment",
                            log_y=True)]
        if budget.examples:
            def predict(problem, n):
                return derive(problem.algorithm, problem.data).trajectory(**problem.kwargs(n))
            if drawn_data is None:
                models = (sst.data_models(gaussian=False) if type(data) is IndependentCoordinates else data)
            else:
                models = drawn_data
            strategy = default_problems(algorithm, data=models, hyper=drawn_hyper)
            _, tested = check_problems(predict, strategy, examples=budget.examples, steps=steps,
                                       replicas=budget.replicas, alpha=alpha * budget.examples,
                                       seed=child_seed(ss, 1) % 2**32)
            for j, (p, vv) in enumerate(tested):
                verdicts.append(vv)
                rows.append(row_from_verdict(
                    f"drawn #{j + 1}: d={len(p.eigenvalues)}, B={p.batch}, gamma={p.fraction:.2f} gamma_c", vv))
        return rows, verdicts, series
    return runner


def _critical_runner(data, algorithm=None, hyper=None):
    algorithm, hyper = algorithm or SGD(), dict(hyper or {})

    def runner(claim, budget, ss):
        d = 128
        lam = np.where(np.arange(d) < d // 2, 1.0, 0.5)
        rec = derive(algorithm, data)
        gc = rec.critical_learning_rate(lam, batch=1, **hyper)
        rows, verdicts, series = [], [], []
        alpha = claim.alpha / 4
        for k, (factor, direction) in enumerate(((0.95, "less"), (1.05, "greater"))):
            gamma = factor * gc
            rho = rec.spectral_radius(lam, gamma, **hyper)
            steps = int(min(6000, math.ceil(1.0 / abs(math.log(rho)))))
            kw = dict(eigenvalues=lam, learning_rate=gamma, batch=1, noise_variance=0.0, initial=1.0,
                      steps=steps, **hyper)
            tr = rec.trajectory(**kw)
            res = simulate(algorithm, data=data, replicas=max(256, budget.replicas // 8),
                           seed=child_seed(ss, k), **kw)
            v = compare(tr, res, alpha=alpha, quantities=("risk",),
                        parameters=dict(kw, eigenvalues="64 x 1.0, 64 x 0.5", fraction=factor))
            verdicts.append(v)
            rows.append(row_from_verdict(f"risk curve at gamma = {factor} gamma_c", v))
            series.append(Series.of(f"risk at gamma = {factor} gamma_c (d=128)", np.arange(steps + 1), tr.risk,
                                    res.risk, res.risk_se, log_y=True))
            # convergence / divergence: the last block's average risk against the initial risk
            r0 = float(res.risk[0])
            est, se = float(res.block_risk[-1]), float(res.block_risk_se[-1])
            p = one_sided_p_value(est, se, r0, res.replicas - 1, alternative=direction)
            theory_last = float(np.mean(tr.risk[res.block_edges[-2]:res.block_edges[-1]]))
            ok = (p < alpha) and ((rho < 1) == (direction == "less"))
            t = abs(est - r0) / se if se > 0 else float("inf")
            word = "converges" if direction == "less" else "diverges"
            rows.append(Row(f"gamma = {factor} gamma_c {word}: spectral radius {rho:.6f}, late risk vs R_0 = {r0:.4g}"
                            f" (p = {p:.2g})", theory_last, est, se, t, ok))
        return rows, verdicts, series
    return runner


def stationary_monte_carlo(rec, algorithm, data, lam, gamma, batch, sigma2, replicas, seed, tolerance=1e-7,
                           **hyper):
    """Monte Carlo stationary risk: each replica's average over steps [2^J, 2^(J+1)) from e_0 = 0.

    J is the smallest (>= 6, <= 14) for which the exact transient of that window, from the
    derived recursion, is below ``tolerance`` R_inf; callers also require it below 1e-2 standard
    errors, so that it cannot shift the test. Returns
    ``(R_inf, estimate, standard error, result, transient, (first step, last step))``.
    """
    r_inf = rec.stationary_risk(lam, gamma, batch=batch, noise_variance=sigma2, **hyper)
    J = 6
    while True:
        steps = 2 ** (J + 1) - 1
        tr = rec.trajectory(lam, gamma, batch, sigma2, initial=0.0, steps=steps, **hyper)
        transient = abs(float(np.mean(tr.risk[2 ** J:])) - r_inf)
        if transient < tolerance * r_inf or J >= 14:
            break
        J += 1
    res = simulate(algorithm, data=data, eigenvalues=lam, learning_rate=gamma, batch=batch,
                   noise_variance=sigma2, initial=0.0, steps=steps, replicas=replicas, seed=seed, **hyper)
    return r_inf, float(res.block_risk[-1]), float(res.block_risk_se[-1]), res, transient, (2 ** J, steps)


def _stationary_runner(data, algorithm=None, hyper=None):
    algorithm, hyper = algorithm or SGD(), dict(hyper or {})

    def runner(claim, budget, ss):
        lam = np.arange(1, 17, dtype=float) ** -1.0
        batch, sigma2 = 2, 1.0
        rec = derive(algorithm, data)
        gc = rec.critical_learning_rate(lam, batch=batch, **hyper)
        gamma = 0.4 * gc
        r_inf, est, se, res, transient, (start, steps) = stationary_monte_carlo(
            rec, algorithm, data, lam, gamma, batch, sigma2, budget.replicas, child_seed(ss, 0),
            tolerance=1e-7, **hyper)
        tr = rec.trajectory(lam, gamma, batch, sigma2, initial=0.0, steps=steps, **hyper)
        t = (est - r_inf) / se
        p = min(1.0, 2 * sps.t.sf(abs(t), res.replicas - 1))
        passed = p > claim.alpha and transient < 1e-2 * se
        v = Verdict(passed, abs(t), p, claim.alpha, 1, None,
                    dict(eigenvalues="i^-1, d=16", learning_rate=gamma, batch=batch,
                         noise_variance=sigma2, window=[start, steps], transient=transient, **hyper),
                    res.seed)
        row = Row(f"R_inf at gamma = 0.4 gamma_c, B=2, sigma^2=1 (steps {start}..{steps} averaged)",
                  r_inf, est, se, abs(t), passed)
        curve = Series.of("risk, started at the optimum", np.arange(steps + 1), tr.risk,
                          res.risk, res.risk_se, reference=r_inf, reference_label="stationary risk R_inf")
        return [row], [v], [curve]
    return runner


_KURT = IndependentCoordinates(kurtosis=np.repeat([1.0, 2.0, 6.0, 12.0], 4))
_KURT128 = IndependentCoordinates(kurtosis=np.tile([1.0, 6.0], 64))
_SRC = "Bordelon & Pehlevan, arXiv:2106.02713; Paquette et al., arXiv:2102.04396"

for _data, _suffix, _desc in ((Gaussian(), "gaussian", "Gaussian data"),
                              (_KURT, "independent", "independent coordinates, kurtosis 1..12")):
    register(Claim(f"sgd.second_moments.{_suffix}",
               f"SGD second moments m_k,i and risk follow the derived recursion ({_desc})",
               _SRC + " (Gaussian: eq. of E[x x^T A x x^T] = 2KAK + tr(KA)K)",
               _second_moments_runner(_data), (lambda d=_data: derive(SGD(), d)),
               default_problems(SGD(), _data)))
    register(Claim(f"sgd.stationary_risk.{_suffix}",
               f"stationary risk R_inf = sigma^2 / (2 (1 - G)) ({_desc})",
               _SRC + "; Sherman-Morrison fixed point",
               _stationary_runner(_data), (lambda d=_data: derive(SGD(), d))))
for _data, _suffix, _desc in ((Gaussian(), "gaussian", "Gaussian data"),
                              (_KURT128, "independent", "Rademacher and kurtosis-6 coordinates")):
    register(Claim(f"sgd.critical_learning_rate.{_suffix}",
               f"runs just below the critical learning rate converge, just above diverge ({_desc})",
               _SRC + "; isotropic B=1 Gaussian: gamma_c = 2/(d+2)",
               _critical_runner(_data), (lambda d=_data: derive(SGD(), d))))
