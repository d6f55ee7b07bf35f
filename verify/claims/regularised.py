"""Claims on one-rule variants of SGD: weight decay (ridge), iterate averaging, diagonal preconditioning.

Each algorithm is one update rule (:mod:`theory.algorithms`); its claims reuse the SGD runners
(recursion vs Monte Carlo, critical learning rate, stationary risk) with the algorithm's
hyperparameters, plus the ridge solution and the decay dependence for weight decay and the
Polyak--Ruppert schedule for averaging. Convention for weight decay: ``optimum`` is theta* in the
eigenbasis and ``initial`` the error e_0 = theta_0 - theta* (so ``initial = 0`` starts at the
optimum, where the decay pulls the iterate toward the ridge solution).
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from theory import SGD, Gaussian, IterateAveraging, PreconditionedSGD, derive, polyak_ruppert

from ..montecarlo import simulate
from ..stats import AlphaBudget, compare, numeric_agreement
from . import Claim, Series, child_seed, register
from .sgd import _critical_runner, _second_moments_runner, _stationary_runner, burn_in_stationary

_LAM16 = np.arange(1, 17, dtype=float) ** -1.0               # the SGD claims' representative spectrum
_THETA16 = np.cos(np.arange(16)) * 1.5                        # theta* of the weight-decay claims
_LAM128 = np.where(np.arange(128) < 64, 1.0, 0.5)             # the critical-learning-rate claims' spectrum
_DECAY = 0.2
_WD = SGD(weight_decay=_DECAY)
_G = Gaussian()


def _ridge_runner(claim, budget, ss):
    """The mean of weight-decayed SGD converges to the ridge solution e_inf = -w theta*/(lambda + w)
    (derived recursion vs the closed form of ridge regression, for three decays), and the Monte Carlo
    mean and risk from e_0 = 0 follow the derived recursion."""
    alphas = AlphaBudget(claim.alpha, {"curve": 1})
    verdicts = []
    for w in (0.05, _DECAY, 0.8):
        rec = derive(SGD(weight_decay=w))
        gamma = 0.4 * rec.critical_learning_rate(_LAM16, batch=2)
        rho = rec.spectral_radius(_LAM16, gamma, batch=2)
        steps = int(min(20000, np.ceil(40.0 / -np.log(max(abs(1 - gamma * (_LAM16.min() + w)), 1e-300)))))
        tr = rec.trajectory(_LAM16, gamma, batch=2, noise_variance=0.5, initial=0.0, steps=steps, optimum=_THETA16)
        ridge = -w * _THETA16 / (_LAM16 + w)
        verdicts.append(numeric_agreement(tr.mean[-1], ridge, 9.0, parameters=dict(weight_decay=w, learning_rate=gamma,
                                                                                 spectral_radius=rho, steps=steps),
                                          label=f"w = {w}: derived E e_inf = ridge solution -w theta*/(lambda + w)"))
    rec = derive(_WD)
    gamma = 0.4 * rec.critical_learning_rate(_LAM16, batch=2)
    kw = dict(eigenvalues=_LAM16, learning_rate=gamma, batch=2, noise_variance=0.5, initial=0.0, steps=300,
              optimum=_THETA16)
    tr = rec.trajectory(**kw)
    res = simulate(_WD, data=_G, replicas=budget.replicas, seed=child_seed(ss, 0), **kw)
    verdicts.append(compare(tr, res, alpha=alphas["curve"], quantities=("risk", "mean"),
                            parameters=dict(kw, eigenvalues="i^-1, d=16", optimum="1.5 cos(i)"),
                            label=f"w = {_DECAY}, from the optimum (e_0 = 0): risk and E e_k drift to the ridge solution"))
    steps = np.arange(301)
    return verdicts, [Series.of("E e_k,1 from the optimum (weight decay 0.2)", steps, tr.mean[:, 0], res.mean[:, 0],
                                res.mean_se[:, 0], ylabel="mean error")]


def _decay_dependence_runner(claim, budget, ss):
    """The stationary risk as a function of the decay: closed form vs iterated recursion and vs
    Monte Carlo at w = 0.05 and w = 0.8 (the claim ``...stationary_risk`` covers w = 0.2)."""
    decays = (0.05, 0.8)
    alphas = AlphaBudget(claim.alpha, {f"w={w}": 1 for w in decays})
    verdicts = []
    for j, w in enumerate(decays):
        alg = SGD(weight_decay=w)
        rec = derive(alg)
        gamma = 0.4 * rec.critical_learning_rate(_LAM16, batch=2)
        params = dict(weight_decay=w, learning_rate=gamma, batch=2, noise_variance=1.0)
        verdicts += burn_in_stationary(rec, alg, _G, _LAM16, gamma, 2, 1.0, budget.replicas, child_seed(ss, j),
                                       alphas[f"w={w}"], f"R_inf with weight decay w = {w}", params,
                                       optimum=_THETA16)[0]
    return verdicts


def _polyak_ruppert_runner(claim, budget, ss):
    """Polyak--Ruppert averaging (a_k = 1/(k + 2)): the risk of the averaged iterate and E e_k^2 follow
    the derived recursion (the schedule enters theory and Monte Carlo alike)."""
    alg = IterateAveraging()
    gamma = 0.4 * derive(SGD()).critical_learning_rate(_LAM16, batch=2)
    kw = dict(eigenvalues=_LAM16, learning_rate=gamma, batch=2, noise_variance=0.5, initial=1.0, steps=300,
              averaging=polyak_ruppert)
    tr = derive(alg).trajectory(**kw)
    res = simulate(alg, data=_G, replicas=budget.replicas, seed=child_seed(ss, 0), **kw)
    v = compare(tr, res, alpha=claim.alpha, parameters=dict(kw, eigenvalues="i^-1, d=16", averaging="1/(k+2)"),
                label="Polyak-Ruppert average, power-law d=16, B=2, gamma=0.4 gamma_c(SGD): risk and m_k,i")
    return [v], [Series.of("risk of the Polyak-Ruppert average", np.arange(301), tr.risk, res.risk, res.risk_se,
                           log_y=True)]


_P16 = _LAM16 ** -0.5
_P128 = _LAM128 ** -0.5
_AVG = IterateAveraging()
_PRE = PreconditionedSGD()
_SRC_WD = "ridge regularisation as weight decay; Hastie, Tibshirani & Friedman, ESL eq. (3.44); SGD recursion: " \
          "Bordelon & Pehlevan, arXiv:2106.02713"
_SRC_AVG = "Polyak & Juditsky (1992); Bach & Moulines, arXiv:1306.2119"
_SRC_PRE = "diagonal preconditioning; Gower & Richtarik, arXiv:1506.03296"

_CLAIMS = [
    ("regularised.weight_decay.second_moments.gaussian",
     "SGD with weight decay 0.2: risk and m_k,i follow the derived affine recursion (Gaussian data)", _SRC_WD,
     _second_moments_runner(_G, _WD, {"optimum": _THETA16},
                            drawn_hyper=st.fixed_dictionaries({"optimum": st.floats(-2.0, 2.0)})), _WD),
    ("regularised.weight_decay.critical_learning_rate.gaussian",
     "SGD with weight decay 0.2: runs just below the critical learning rate converge, just above diverge",
     _SRC_WD, _critical_runner(_G, _WD, {"optimum": 1.0}, growth_steps=2.0), _WD),
    ("regularised.weight_decay.stationary_risk.gaussian",
     "SGD with weight decay 0.2: stationary risk (theta*^2 as forcing) vs Monte Carlo", _SRC_WD,
     _stationary_runner(_G, _WD, {"optimum": _THETA16}), _WD),
    ("regularised.weight_decay.ridge.gaussian",
     "SGD with weight decay: the mean converges to the ridge solution -w theta*/(lambda + w)", _SRC_WD,
     _ridge_runner, _WD),
    ("regularised.weight_decay.decay_dependence.gaussian",
     "SGD with weight decay: stationary risk at w = 0.05 and 0.8 vs Monte Carlo", _SRC_WD,
     _decay_dependence_runner, _WD),
    ("regularised.averaging.ema.second_moments.gaussian",
     "EMA iterate averaging (a = 0.1): risk of the average and m_k,i follow the derived recursion", _SRC_AVG,
     _second_moments_runner(_G, _AVG, {"averaging": 0.1},
                            drawn_hyper=st.fixed_dictionaries({"averaging": st.floats(0.05, 1.0)})), _AVG),
    ("regularised.averaging.polyak_ruppert.gaussian",
     "Polyak-Ruppert averaging a_k = 1/(k+2): risk of the average follows the derived recursion", _SRC_AVG,
     _polyak_ruppert_runner, _AVG),
    ("regularised.averaging.ema.critical_learning_rate.gaussian",
     "EMA iterate averaging: runs just below the critical learning rate converge, just above diverge", _SRC_AVG,
     _critical_runner(_G, _AVG, {"averaging": 0.1}, growth_steps=2.0), _AVG),
    ("regularised.averaging.ema.stationary_risk.gaussian",
     "EMA iterate averaging (a = 0.1): stationary risk of the average vs Monte Carlo", _SRC_AVG,
     _stationary_runner(_G, _AVG, {"averaging": 0.1}), _AVG),
    ("regularised.preconditioned.second_moments.gaussian",
     "SGD preconditioned by P_i = lambda_i^(-1/2): risk and m_k,i follow the derived recursion", _SRC_PRE,
     _second_moments_runner(_G, _PRE, {"preconditioner": _P16},
                            drawn_hyper=st.fixed_dictionaries({"preconditioner": st.floats(0.25, 4.0)})), _PRE),
    ("regularised.preconditioned.critical_learning_rate.gaussian",
     "preconditioned SGD (P_i = lambda_i^(-1/2)): runs just below gamma_c converge, just above diverge", _SRC_PRE,
     _critical_runner(_G, _PRE, {"preconditioner": _P128}, growth_steps=2.0), _PRE),
    ("regularised.preconditioned.stationary_risk.gaussian",
     "preconditioned SGD (P_i = lambda_i^(-1/2)): stationary risk vs Monte Carlo", _SRC_PRE,
     _stationary_runner(_G, _PRE, {"preconditioner": _P16}), _PRE),
]

for _id, _title, _source, _runner, _alg in _CLAIMS:
    register(Claim(_id, _title, _source, _runner, (lambda a=_alg: derive(a, _G))))
