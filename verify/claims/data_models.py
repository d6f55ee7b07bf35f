"""Claims on sparse and discrete data: the derived SGD recursion with kappa = 3/p (sparse Gaussian
inputs) and kappa = 1 (Rademacher inputs) against Monte Carlo with the models' own samplers.

The one-step recursion for these models is also checked *exactly* (rational arithmetic,
enumeration of the support) in ``tests/verify/test_exact_oracle.py``.
"""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from theory import SGD, Rademacher, SparseGaussian, derive

from .. import strategies as sst
from . import Claim, register
from .sgd import _SRC, _second_moments_runner, _stationary_runner

_SPARSE = SparseGaussian(p=np.repeat([0.1, 0.25, 0.5, 1.0], 4))
#: drawn examples: sparse models with one p for all coordinates, p in [0.1, 1]
_SPARSE_MODELS = sst.sparse_data_models(min_p=0.1, max_p=1.0)


for _data, _models, _suffix, _desc in (
        (_SPARSE, _SPARSE_MODELS, "sparse", "sparse Gaussian inputs, p = 0.1..1, kappa = 3/p"),
        (Rademacher(), st.just(Rademacher()), "rademacher", "Rademacher inputs, kappa = 1")):
    register(Claim(f"sgd.second_moments.{_suffix}",
                   f"SGD second moments m_k,i and risk follow the derived recursion ({_desc})",
                   _SRC + "; REFERENCES.md (kappa = 3/p); Everett & Paquette, arXiv:2605.28961",
                   _second_moments_runner(_data, drawn_data=_models), (lambda d=_data: derive(SGD(), d))))
    register(Claim(f"sgd.stationary_risk.{_suffix}",
                   f"stationary risk R_inf = sigma^2 / (2 (1 - G)) ({_desc})",
                   _SRC + "; Sherman-Morrison fixed point",
                   _stationary_runner(_data), (lambda d=_data: derive(SGD(), d))))
