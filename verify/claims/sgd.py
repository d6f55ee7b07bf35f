"""Claims on minibatch SGD on least squares: second moments, critical learning rate, stationary risk."""
from __future__ import annotations

import math

import numpy as np

from theory import SGD, Gaussian, IndependentCoordinates, derive

from .. import strategies as sst
from ..check import check_problems, default_problems
from ..montecarlo import simulate
from ..stats import AlphaBudget, compare, growth, numeric_agreement, scalar_comparison
from . import Claim, Series, child_seed, register
from ._checks import time_average


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
        alphas = AlphaBudget(claim.alpha, {"representative": 1, "drawn": budget.examples or 1})
        verdicts = []
        prob = _representative(data, algorithm, hyper)
        prob.seed = child_seed(ss, 0)
        kw = prob.kwargs(steps)
        res = simulate(algorithm, data=data, replicas=budget.replicas, seed=prob.seed, **kw)
        tr = rec.trajectory(**kw)
        verdicts.append(compare(tr, res, alpha=alphas["representative"], parameters=prob.describe(),
                                label="power-law d=16, B=2, gamma=0.4 gamma_c: risk and m_k,i over 300 steps"))
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
                                       replicas=budget.replicas, alpha=alphas["drawn"],
                                       seed=child_seed(ss, 1) % 2**32)
            for j, (p, vv) in enumerate(tested):
                vv.label = (f"drawn #{j + 1}: d={len(p.eigenvalues)}, B={p.batch}, "
                            f"gamma={p.fraction:.2f} gamma_c, {p.data!r}")
                verdicts.append(vv)
        return verdicts, series
    return runner


def _critical_runner(data, algorithm=None, hyper=None, growth_steps=1.0):
    """Just below gamma_c the risk curve follows the recursion and decays; just above it diverges.

    Below: the series comparison (:func:`verify.compare`) and a one-sided test that the late
    risk is below R_0. Above: the iterates' fourth moments diverge, so no t-test is valid; the
    divergence is established by the moment-free Markov-binomial test of :func:`verify.stats.growth`
    (under "E R_T <= R_0" at most half of the replicas can end above 2 R_0). The runs last
    ``growth_steps`` e-folding times of the spectral radius (more for a slowly reacting observable,
    e.g. an averaged iterate).
    """
    algorithm, hyper = algorithm or SGD(), dict(hyper or {})

    def runner(claim, budget, ss):
        d = 128
        lam = np.where(np.arange(d) < d // 2, 1.0, 0.5)
        rec = derive(algorithm, data)
        gc = rec.critical_learning_rate(lam, batch=1, **hyper)
        alphas = AlphaBudget(claim.alpha, {"curve": 2, "converges": 1, "diverges": 1})
        verdicts, series = [], []
        for k, factor in enumerate((0.95, 1.05)):
            gamma = factor * gc
            rho = rec.spectral_radius(lam, gamma, **hyper)
            steps = int(min(6000, math.ceil(growth_steps / abs(math.log(rho)))))
            kw = dict(eigenvalues=lam, learning_rate=gamma, batch=1, noise_variance=0.0, initial=1.0,
                      steps=steps, **hyper)
            tr = rec.trajectory(**kw)
            res = simulate(algorithm, data=data, replicas=max(256, budget.replicas // 8),
                           seed=child_seed(ss, k), coordinates=(), **kw)   # the risk is what is compared
            params = dict(kw, eigenvalues="64 x 1.0, 64 x 0.5", fraction=factor, spectral_radius=rho)
            r0, last = float(res.risk[0]), res.replica_block_risk[:, -1]
            window = f"steps {res.block_edges[-2]}..{steps}"
            theory_last = float(np.mean(tr.risk[res.block_edges[-2]:res.block_edges[-1]]))
            if factor < 1:
                verdicts.append(compare(tr, res, alpha=alphas["curve"], quantities=("risk",), parameters=params,
                                        label=f"risk curve at gamma = {factor} gamma_c (spectral radius {rho:.6f})"))
                verdicts.append(growth(r0, last, direction="less", alpha=alphas["converges"], theory=theory_last,
                                       parameters=params,
                                       label=f"gamma = {factor} gamma_c converges: risk over {window} below R_0 = "
                                             f"{r0:.4g}"))
            else:
                verdicts.append(growth(r0, last, method="markov", factor=2.0, alpha=alphas["diverges"],
                                       theory=theory_last, parameters=params,
                                       label=f"gamma = {factor} gamma_c diverges (spectral radius {rho:.6f}): "
                                             f"risk over {window} above R_0 = {r0:.4g}"))
            series.append(Series.of(f"risk at gamma = {factor} gamma_c (d=128)", np.arange(steps + 1), tr.risk,
                                    res.risk, res.risk_se, log_y=True, tested=factor < 1))
        return verdicts, series
    return runner


class _RiskCurve:
    """The exact risk from e_0 = 0 (one recursion trajectory, extended by doubling and shared by every
    window a stationary claim looks at; the recursion is iterated step by step, so a longer run
    repeats the shorter one's values exactly)."""

    def __init__(self, rec, lam, gamma, batch, sigma2, hyper):
        self.args, self.hyper, self.tr = (rec, lam, gamma, batch, sigma2), hyper, None

    def trajectory(self, steps):
        """The trajectory over steps 0..``steps`` or longer."""
        if self.tr is None or len(self.tr.risk) <= steps:
            rec, lam, gamma, batch, sigma2 = self.args
            have = 0 if self.tr is None else len(self.tr.risk)
            self.tr = rec.trajectory(lam, gamma, batch, sigma2, initial=0.0, steps=max(steps, 2 * have - 1),
                                     **self.hyper)
        return self.tr

    def mean(self, a, b):
        """Exact mean risk over steps a..b (inclusive)."""
        return float(np.mean(self.trajectory(b).risk[a:b + 1]))


def _late_window(rec, lam, gamma, batch, sigma2, tolerance, hyper, reference="closed form", curve=None,
                 r_inf=None):
    """(R_inf, J, exact mean of the risk over steps [2^J, 2^(J+1)) from e_0 = 0, converged) with J
    the smallest (>= 6, <= 14) whose window mean is within ``tolerance`` (relative) of the
    reference: the closed form R_inf, or with ``reference="previous window"`` the mean over
    [2^(J-1), 2^J) (a criterion that does not use the closed form it is then compared with).
    ``curve`` (a :class:`_RiskCurve`) and ``r_inf`` reuse what the caller already computed."""
    if r_inf is None:
        r_inf = rec.stationary_risk(lam, gamma, batch=batch, noise_variance=sigma2, **hyper)
    curve = curve or _RiskCurve(rec, lam, gamma, batch, sigma2, hyper)
    J, previous = 6, None
    while True:
        window_mean = curve.mean(2 ** J, 2 ** (J + 1) - 1)
        ref = r_inf if reference == "closed form" else previous
        converged = ref is not None and abs(window_mean - ref) < tolerance * abs(ref)
        if converged or J >= 14:
            return r_inf, J, window_mean, converged
        previous, J = window_mean, J + 1


def stationary_monte_carlo(rec, algorithm, data, lam, gamma, batch, sigma2, replicas, seed, tolerance=1e-7,
                           **hyper):
    """Monte Carlo stationary risk: each replica's average over steps [2^J, 2^(J+1)) from e_0 = 0.

    J is the smallest (>= 6, <= 14) for which the exact transient of that window, from the
    derived recursion, is below ``tolerance`` R_inf. Returns ``(R_inf, exact window mean,
    per-replica window averages, result, (first step, last step))``: the Monte Carlo test
    compares the replicas with the exact window mean (the transient is accounted for exactly),
    and the closed form R_inf with the exact window mean to the digits the transient allows.
    """
    r_inf, J, window_mean, _ = _late_window(rec, lam, gamma, batch, sigma2, tolerance, hyper)
    steps = 2 ** (J + 1) - 1
    res = simulate(algorithm, data=data, eigenvalues=lam, learning_rate=gamma, batch=batch,
                   noise_variance=sigma2, initial=0.0, steps=steps, replicas=replicas, seed=seed, coordinates=(),
                   **hyper)
    return r_inf, window_mean, res.replica_block_risk[:, -1], res, (2 ** J, steps)


def closed_form_agreement(r_inf, window_mean, window, what, parameters, digits=None):
    """Closed form R_inf = exact mean of the recursion over ``window``, to ``digits`` significant
    digits; by default to the digits the transient allows (3 to 12, read off the discrepancy itself,
    so that only errors above 1e-3 R_inf are certain to be rejected)."""
    if digits is None:
        digits = min(12.0, max(3.0, -math.log10(max(abs(window_mean - r_inf) / r_inf, 1e-15)) - 0.5))
    return numeric_agreement(r_inf, window_mean, digits, parameters=parameters,
                             label=f"{what}: closed form R_inf = exact mean of the recursion over steps "
                                   f"{window[0]}..{window[1]} (transient {abs(window_mean - r_inf) / r_inf:.1e} R_inf)")


def stationary_checks(r_inf, window_mean, samples, res, window, alpha, what, parameters):
    """The two checks of a stationary risk: closed form = iterated recursion (numeric agreement to
    the digits the transient allows) and Monte Carlo window average = exact window mean (Hall t)."""
    return [
        closed_form_agreement(r_inf, window_mean, window, what, parameters),
        scalar_comparison(window_mean, samples, alpha=alpha, parameters=parameters, seed=res.seed,
                          label=f"{what}: Monte Carlo risk averaged over steps {window[0]}..{window[1]} from e_0 = 0"),
    ]


def burn_in_stationary(rec, algorithm, data, lam, gamma, batch, sigma2, replicas, seed, alpha, what, parameters,
                       J=None, burn_in=None, curve=None, r_inf=None, **hyper):
    """The two checks of a stationary risk R_inf: the closed form against the recursion, and Monte Carlo
    against the recursion's exact mean over the simulated window.

    1. Closed form = the recursion's mean over a late window [2^L, 2^(L+1)) where successive dyadic
       windows agree to 1e-8: its transient is far below 1e-6 R_inf, so the closed form must agree to
       6 digits (a 1e-5 error is rejected); recursion only, no simulation.
    2. Monte Carlo: each replica's average over a window of length 2^J starting at step ``burn_in``
       (a power of two, so that the window starts on a dyadic block edge; default ``_BURN_IN`` = 64,
       the stationary-risk claims use 1: no burn-in) from e_0 = 0, against the recursion's exact
       mean over *that* window (transient included; one-sample Hall-corrected test of i.i.d.
       replica averages).
       J: given, or the smallest (>= 6) with a transient of the window [2^J, 2^(J+1)) below 1e-7 R_inf.
       Since the mean is exact whatever the window, a burn-in buys no validity; measured with the
       exact variances of :meth:`theory.FourthMomentRecursion.time_average_covariance` (d = 16,
       lambda_i = 1/i, B = 2, gamma = 0.4 gamma_c, sigma^2 = 1, Gaussian and kurtosis 1..12 data),
       the relative standard error of the window average is smaller from step 1 than after 64
       burn-in steps (J = 8: 0.0329 vs 0.0333 per replica) in 256 instead of 319 simulated steps.
       (A contrast of two runs, as in ``sgd.learning_rate_batch_ratio``, can lose relative power
       without the burn-in: the exact difference of the window means is smaller there; and
       ``regularised.weight_decay.decay_dependence`` keeps it too: at w = 0.8 its 64-step window's
       mean delta_90 over seeds 0-5 was 0.4731 % with the burn-in, 0.4751 % without.)

    ``curve`` (a :class:`_RiskCurve` of this problem) and ``r_inf`` reuse what the caller already computed.

    Returns ``(verdicts, R_inf, samples, exact window mean, result, trajectory)``.
    """
    burn_in = _BURN_IN if burn_in is None else burn_in
    if not (isinstance(burn_in, int) and burn_in >= 1 and burn_in & (burn_in - 1) == 0):
        raise ValueError(f"burn_in must be a power of two >= 1 (the first step of a dyadic block); got {burn_in!r}")
    curve = curve or _RiskCurve(rec, lam, gamma, batch, sigma2, hyper)
    r_inf, L, late_mean, converged = _late_window(rec, lam, gamma, batch, sigma2, 1e-8, hyper,
                                                  reference="previous window", curve=curve, r_inf=r_inf)
    if J is None:
        J = _late_window(rec, lam, gamma, batch, sigma2, 1e-7, hyper, curve=curve, r_inf=r_inf)[1]
    first, steps = burn_in, 2 ** J + burn_in - 1
    tr = curve.trajectory(steps)
    res = simulate(algorithm, data=data, eigenvalues=lam, learning_rate=gamma, batch=batch, noise_variance=sigma2,
                   initial=0.0, steps=steps, replicas=replicas, seed=seed, coordinates=(), **hyper)
    samples, a, b = time_average(res, first)
    window_mean = float(np.mean(tr.risk[a:b + 1]))
    params = dict(parameters, window=[a, b], limit_window=[2 ** L, 2 ** (L + 1) - 1])
    verdicts = [closed_form_agreement(r_inf, late_mean, (2 ** L, 2 ** (L + 1) - 1), what, params,
                                      6.0 if converged else None),
                scalar_comparison(window_mean, samples, alpha=alpha, parameters=params, seed=res.seed,
                                  label=f"{what}: Monte Carlo risk averaged over steps {a}..{b} from e_0 = 0 "
                                        "= exact mean of the recursion there")]
    return verdicts, r_inf, samples, window_mean, res, tr


def _stationary_runner(data, algorithm=None, hyper=None):
    algorithm, hyper = algorithm or SGD(), dict(hyper or {})

    def runner(claim, budget, ss):
        lam = np.arange(1, 17, dtype=float) ** -1.0
        batch, sigma2 = 2, 1.0
        rec = derive(algorithm, data)
        gc = rec.critical_learning_rate(lam, batch=batch, **hyper)
        gamma = 0.4 * gc
        params = dict(eigenvalues="i^-1, d=16", learning_rate=gamma, batch=batch, noise_variance=sigma2, **hyper)
        verdicts, r_inf, _, _, res, tr = burn_in_stationary(
            rec, algorithm, data, lam, gamma, batch, sigma2, budget.replicas, child_seed(ss, 0), claim.alpha,
            "R_inf at gamma = 0.4 gamma_c, B=2, sigma^2=1", params, burn_in=1, **hyper)
        curve = Series.of("risk, started at the optimum", np.arange(res.steps + 1), tr.risk[:res.steps + 1],
                          res.risk, res.risk_se, reference=r_inf, reference_label="stationary risk R_inf")
        return verdicts, [curve]
    return runner


#: default first step of the Monte Carlo window of :func:`burn_in_stationary` (the window's transient
#: is exact; the stationary-risk claims start at step 1, see there)
_BURN_IN = 64


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
