r"""The high-dimensional ODE of streaming SGD on generalised linear (single-index) models.

Collins-Woodfin, Paquette, Paquette, Seroussi, "Hitting the high-dimensional notes: an ODE for
SGD learning dynamics on GLMs and multi-index models", arXiv:2308.08977, in the High Line
normalisation (step (g/d) * gradient, batch 1, t = k/d; the per-step learning rate is gamma = g/d).

* :mod:`theory.glm.derivation` — :func:`derive_limit` derives the ODE from a SymPy loss
  (Stein's lemma), presets :func:`least_squares`, :func:`logistic`, :func:`phase_retrieval`;
* :mod:`theory.glm.expectations` — Gaussian expectations: Isserlis closed forms, Gauss-Hermite
  quadrature with a tested accuracy, an mpmath oracle;
* :mod:`theory.glm.ode` — the numeric ODE, :func:`solve`, :func:`risk`, :func:`critical_learning_rate`;
* :mod:`theory.glm.homogenized` — homogenized SGD (:func:`homogenize`): the SDE, its generator (= the ODE)
  and the mean-field recursion of its Euler-Maruyama scheme.
"""
from .derivation import (
                         GLMLimit,
                         GLMLoss,
                         LabelModel,
                         derive_limit,
                         least_squares,
                         logistic,
                         loss,
                         phase_retrieval,
)
from .functions import sigmoid, softplus
from .homogenized import GLMHomogenizedSGD, homogenize

__all__ = [
                         "GLMHomogenizedSGD",
                         "GLMLimit",
                         "GLMLoss",
                         "LabelModel",
                         "derive_limit",
                         "homogenize",
                         "least_squares",
                         "logistic",
                         "loss",
                         "phase_retrieval",
                         "sigmoid",
                         "softplus",
]
