"""Claims on heavy-ball and Nesterov momentum on least squares: second moments, critical
learning rate (just inside converges, just outside diverges), stationary risk.

The runners are the generic ones of :mod:`verify.claims.sgd`, called with the momentum
algorithm and its momentum beta; the theory side is ``theory.derive(algorithm, data)``.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from theory import Gaussian, IndependentCoordinates, derive
from theory.algorithms import HeavyBall, Nesterov

from .. import strategies as sst
from ..check import default_problems
from . import Claim, register
from .sgd import _critical_runner, _second_moments_runner, _stationary_runner, stationary_monte_carlo

_SRC = ("Paquette & Paquette, arXiv:2106.03696; Lee, Cheng, Paquette, Paquette, arXiv:2206.01029; "
        "Nesterov: Varre & Flammarion, arXiv:2203.01744")
_KURT = IndependentCoordinates(kurtosis=np.repeat([1.0, 2.0, 6.0, 12.0], 4))
_KURT128 = IndependentCoordinates(kurtosis=np.tile([1.0, 6.0], 64))
_DRAWN = st.fixed_dictionaries({"momentum": sst.momenta(-0.5, 0.8)})

for _alg, _aname in ((HeavyBall(), "heavy_ball"), (Nesterov(), "nesterov")):
    for _data, _suffix, _desc in ((Gaussian(), "gaussian", "Gaussian data"),
                                  (_KURT, "independent", "independent coordinates, kurtosis 1..12")):
        register(Claim(
            f"momentum.second_moments.{_aname}.{_suffix}",
            f"{type(_alg).__name__} (beta = 0.6 and drawn beta in [-0.5, 0.8]): E e_k^2, E e_k e_(k-1), "
            f"risk follow the derived 3x3-block recursion ({_desc})",
            _SRC, _second_moments_runner(_data, _alg, {"momentum": 0.6}, _DRAWN),
            (lambda a=_alg, d=_data: derive(a, d)), default_problems(_alg, _data, _DRAWN)))

for _data, _suffix, _desc, _beta in ((Gaussian(), "gaussian", "Gaussian data", 0.5),
                                     (_KURT128, "independent", "Rademacher and kurtosis-6 coordinates", -0.3)):
    register(Claim(
        f"momentum.critical_learning_rate.heavy_ball.{_suffix}",
        f"heavy ball, beta = {_beta}: runs at 0.95 gamma_c converge, at 1.05 gamma_c diverge "
        f"(d = 128, {_desc})",
        _SRC + "; gamma_c from the secular equation of the block + rank-one map",
        _critical_runner(_data, HeavyBall(), {"momentum": _beta}),
        (lambda d=_data: derive(HeavyBall(), d))))
    register(Claim(
        f"momentum.stationary_risk.heavy_ball.{_suffix}",
        f"heavy ball, beta = {_beta}: stationary risk R_inf = sigma^2 / (2 (1 - G)) (Sherman-Morrison, {_desc})",
        _SRC + "; Sherman-Morrison fixed point of the block + rank-one map",
        _stationary_runner(_data if _suffix == "gaussian" else _KURT, HeavyBall(), {"momentum": _beta}),
        (lambda d=_data: derive(HeavyBall(), d))))


# --------------------------------------------------------------------------- effective learning rate
def _stationary_mc(rec, algorithm, data, lam, gamma, batch, sigma2, replicas, seed, **hyper):
    """:func:`verify.claims.sgd.stationary_monte_carlo` with the transient below 1e-8 R_inf."""
    return stationary_monte_carlo(rec, algorithm, data, lam, gamma, batch, sigma2, replicas, seed,
                                  tolerance=1e-8, **hyper)


def _effective_runner(claim, budget, ss):
    from theory import SGD

    from ..stats import AlphaBudget, growth, reported, scalar_comparison
    from . import child_seed
    data = Gaussian()
    lam = 1.0 / np.arange(1, 17)
    beta, batch, sigma2 = 0.5, 1, 1.0
    hb, sgd = derive(HeavyBall(), data), derive(SGD(), data)
    gc_sgd = sgd.critical_learning_rate(lam, batch)
    fractions = (0.2, 0.5)
    alphas = AlphaBudget(claim.alpha, {f"{kind} {f}": 1 for f in fractions for kind in ("R_HB", "not R_SGD")})
    verdicts = []
    # theory: the exact relative gap of the risk curves, for information
    for f in (0.2, 0.1, 0.05):
        ge = f * gc_sgd
        kw = dict(eigenvalues=lam, batch=batch, noise_variance=sigma2, initial=1.0, steps=400)
        a = hb.trajectory(learning_rate=ge * (1 - beta), momentum=beta, **kw).risk
        b = sgd.trajectory(learning_rate=ge, **kw).risk
        k = int(np.argmax(np.abs(a - b) / a))
        verdicts.append(reported(b[k], a[k], label=f"exact risk curves at gamma' = {f} gamma_c(SGD): "
                                                   f"sup_k |R_SGD(gamma') - R_HB| / R_HB (at step {k})"))
    resolve = 10.0  # test "not R_SGD" only where the derived gap exceeds this many s.e. (decided by theory)
    for k, f in enumerate(fractions):
        ge = f * gc_sgd
        g = ge * (1 - beta)
        r_sgd = sgd.stationary_risk(lam, ge, batch=batch, noise_variance=sigma2)
        r_hb, window_mean, samples, res, window = _stationary_mc(
            hb, HeavyBall(), data, lam, g, batch, sigma2, budget.replicas // 2, child_seed(ss, k), momentum=beta)
        params = dict(learning_rate=g, momentum=beta, effective=ge, window=list(window),
                      relative_gap=(r_hb - r_sgd) / r_hb)
        verdicts.append(scalar_comparison(window_mean, samples, alpha=alphas[f"R_HB {f}"], parameters=params,
                                          seed=res.seed,
                                          label=f"gamma' = {f} gamma_c: Monte Carlo R_inf of heavy ball = derived "
                                                f"(relative gap to R_SGD(gamma') {(r_hb - r_sgd) / r_hb:+.2e})"))
        se = float(np.std(samples, ddof=1) / np.sqrt(samples.size))
        gap = (window_mean - r_sgd) / se
        if abs(gap) >= resolve:
            verdicts.append(growth(r_sgd, samples, direction="greater" if gap > 0 else "less",
                                   alpha=alphas[f"not R_SGD {f}"], theory=window_mean, parameters=params,
                                   seed=res.seed,
                                   label=f"gamma' = {f} gamma_c: heavy ball's R_inf differs from R_SGD(gamma') = "
                                         f"{r_sgd:.6g} (derived gap {gap:+.1f} s.e.)"))
        else:
            verdicts.append(reported(r_sgd, window_mean, standard_error=se,
                                     label=f"gamma' = {f} gamma_c: R_SGD(gamma') vs heavy ball; derived gap "
                                           f"{gap:+.1f} s.e. below the resolution {resolve:g} s.e."))
    return verdicts


register(Claim(
    "momentum.effective_learning_rate.gaussian",
    "heavy ball (gamma, beta = 0.5) and SGD at gamma/(1 - beta) share the stationary risk to leading order; "
    "the derived exact gap is resolved at larger gamma",
    "Paquette & Paquette, arXiv:2106.03696 (Thm. 1, effective learning rate gamma/(1 - beta))",
    _effective_runner, (lambda: derive(HeavyBall(), Gaussian()))))


# --------------------------------------------------------------------------- DANA (time-dependent)
def _dana_runner(claim, budget, ss):
    from theory import GeneralizedMomentum
    from theory.plrf import PowerLaw

    from ..montecarlo import simulate
    from ..stats import AlphaBudget, compare
    from . import child_seed
    alpha_exp = 0.5  # lambda_j = j^(-2 alpha): the DANA power-law spectrum with 2 alpha = 1
    lam = np.arange(1, 17, dtype=float) ** (-2 * alpha_exp)
    verdicts = []
    rec = derive(GeneralizedMomentum(), Gaussian())
    # well inside the stable region (heavy tails near it break the CLT): the constant case runs
    # at about 0.25 of its critical gamma_2; the decaying one has gamma_3(k)/Delta(k) <= 0.1
    cases = (("DANA-decaying gamma_3 = 0.1 (1+k)^(-1/(2 alpha)), Delta = 4/(4+k), alpha = 1/2",
              dict(gamma1=1.0, gamma3=PowerLaw(0.1, 1 / (2 * alpha_exp)), delta=PowerLaw(1.0, 1.0, 4.0))),
             ("constant gamma_3 = 0.01, Delta = 0.1 (SGD-M-like)",
              dict(gamma1=1.0, gamma3=0.01, delta=0.1)))
    alphas = AlphaBudget(claim.alpha, [label for label, _ in cases])
    for k, (label, hyper) in enumerate(cases):
        kw = dict(eigenvalues=lam, learning_rate=0.1, batch=1, noise_variance=0.5, initial=1.0, steps=300, **hyper)
        res = simulate(GeneralizedMomentum(), data=Gaussian(), replicas=budget.replicas, seed=child_seed(ss, k), **kw)
        verdicts.append(compare(rec.trajectory(**kw), res, alpha=alphas[label],
                                quantities=("risk", "second_moments", "mean"), label=label + ": risk, m_k,i, E e_k,i"))
    return verdicts


register(Claim(
    "momentum.dana.schedule.gaussian",
    "generalised momentum of DANA with time-dependent gamma_3(k), Delta(k): risk, E e_k^2 and E e_k follow "
    "the derived recursion iterated with the schedule (power-law spectrum, d = 16)",
    "Ferbach, Everett, Gidel, Paquette, Paquette, arXiv:2505.16098 (Alg. 1, DANA-decaying)",
    _dana_runner, (lambda: derive(__import__("theory").GeneralizedMomentum(), Gaussian()))))


# --------------------------------------------------------------------------- sparse inputs
def _sparse_stability_runner(claim, budget, ss):
    """Theory-only: the derived per-frequency condition against the package's critical learning rate."""
    from theory import symbols as tsym
    from theory.sparse import SPARSITY, SparseGaussian, per_frequency_critical_learning_rate

    from ..stats import numeric_agreement
    exact, limit = per_frequency_critical_learning_rate()
    verdicts = []
    for p, beta, batch in ((0.3, 0.9, 1), (0.05, 0.5, 2), (0.01, -0.5, 1), (1.0, 0.0, 4)):
        closed = float(exact.subs({SPARSITY: p, tsym.beta: beta, tsym.B: batch}))
        gc = derive(HeavyBall(), SparseGaussian(p)).critical_learning_rate([1.0], batch, momentum=beta)
        lim = float(limit.subs({SPARSITY: p, tsym.beta: beta, tsym.B: batch}))
        verdicts.append(numeric_agreement(gc, closed, 12, parameters=dict(p=p, momentum=beta, batch=batch),
                                          label=f"p={p}, beta={beta}, B={batch}: derived gamma_c lambda = crossing of "
                                                f"the spectral radius (small-p limit {lim:.4g})"))
    return verdicts


from theory.sparse import SparseGaussian  # noqa: E402

register(Claim(
    "momentum.sparse.second_moments",
    "heavy ball on sparse Gaussian inputs (each coordinate active w.p. p = 0.25): second moments follow "
    "the derived recursion with kappa = 3/p",
    "Everett & Paquette, arXiv:2605.28961 (sparse updates)",
    _second_moments_runner(SparseGaussian(0.25), HeavyBall(), {"momentum": 0.6}, _DRAWN),
    (lambda: derive(HeavyBall(), SparseGaussian(0.25)))))
register(Claim(
    "momentum.sparse.per_frequency_stability",
    "heavy ball, one frequency with sparsity p: derived gamma_c lambda = 2B(1-beta^2)/((1+beta)(3/p-1)+(1-beta)B), "
    "small-p limit 2B(1-beta)p/3, equals the crossing of the spectral radius",
    "Everett & Paquette, arXiv:2605.28961 (per-frequency stability; package's own derivation)",
    _sparse_stability_runner, (lambda: derive(HeavyBall(), SparseGaussian(0.25)))))

register(Claim(
    "momentum.critical_learning_rate.nesterov.independent",
    "Nesterov, beta = 0.5: runs at 0.95 gamma_c converge, at 1.05 gamma_c diverge "
    "(d = 128, Rademacher and kurtosis-6 coordinates)",
    _SRC + "; gamma_c from the secular equation of the block + rank-one map",
    _critical_runner(_KURT128, Nesterov(), {"momentum": 0.5}),
    (lambda: derive(Nesterov(), _KURT128))))
register(Claim(
    "momentum.stationary_risk.nesterov.gaussian",
    "Nesterov, beta = 0.5: stationary risk R_inf = sigma^2 / (2 (1 - G)) (Sherman-Morrison, Gaussian data)",
    _SRC + "; Sherman-Morrison fixed point of the block + rank-one map",
    _stationary_runner(Gaussian(), Nesterov(), {"momentum": 0.5}),
    (lambda: derive(Nesterov(), Gaussian()))))
