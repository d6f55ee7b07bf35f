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
from .sgd import _critical_runner, _second_moments_runner, _stationary_runner

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
