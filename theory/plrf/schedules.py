r"""DANA's hyperparameter schedules on PLRF, in the conventions of the authors' two notebooks.

The package's :class:`theory.GeneralizedMomentum` runs
y_k = (1 - Delta(k)) y_{k-1} + gamma_1 g_k, theta_{k+1} = theta_k - gamma_2 g_k - gamma_3(k) y_k
(step k -> k + 1 uses h(k)). The schedules are picklable values (claims run in worker processes).

The two notebooks of github.com/LosVolterrosHermanos/Experimental disagree:

=====================  =====================================  ==========================================
                       ``DANADecayHighD.ipynb`` (package)      ``DANA_ODE_example.ipynb``
=====================  =====================================  ==========================================
Delta(k)               delta/(delta + k)                      delta/(1 + k)  (Delta > 1 for k < delta - 1)
delta                  4 + (alpha + beta)/alpha               max(2 + (2 beta - 1)/alpha, 2 - 1/alpha) + 1
gamma_2                0.5/tr D                               0.375 min(2/(B + 1), 1/tr D)
gamma_3(k), decaying   (1/tr D) (1 + k)^{-1/(2 alpha)}        0.1 (1 + k)^{-1/(2 alpha)}  (no trace factor)
gamma_3, constant      —                                      0.1/(d tr D)
=====================  =====================================  ==========================================

with tr D = sum_{j<=v} j^{-2 alpha} (the authors' ``population_trace``) and gamma_1 = 1 in both.
:func:`dana_hyperparameters` gives either (``convention="high_d"``, the default, or ``"ode_example"``).

Source: Ferbach et al., arXiv:2505.16098 (DANA-constant and DANA-decaying); the notebooks above.
"""
from __future__ import annotations

import math

from ..validation import _scalar

__all__ = ["PowerLaw", "dana_hyperparameters", "notebook_delta", "notebook_learning_rate"]


class PowerLaw:
    r"""The schedule h(k) = scale (1 + k/time_scale)^{-exponent} (the authors' ``powerlaw_schedule``
    with saturation 0).

    Delta(k) = delta/(delta + k) is ``PowerLaw(1, 1, delta)``; delta/(1 + k) is ``PowerLaw(delta, 1)``;
    gamma_3(k) = c (1 + k)^{-1/(2 alpha)} is ``PowerLaw(c, 1/(2 alpha))``.

    Raises ValueError unless scale >= 0, exponent is finite and time_scale > 0.

    Example
    -------
    >>> h = PowerLaw(1.0, 1.0, time_scale=4.0)
    >>> h(0), h(4)
    (1.0, 0.5)
    """

    def __init__(self, scale, exponent, time_scale=1.0):
        self.scale = _scalar(scale, "scale")
        self.exponent = _scalar(exponent, "exponent")
        self.time_scale = _scalar(time_scale, "time_scale")
        if not (math.isfinite(self.scale) and self.scale >= 0):
            raise ValueError(f"scale must be a finite number >= 0; got {scale!r}")
        if not math.isfinite(self.exponent):
            raise ValueError(f"exponent must be finite; got {exponent!r}")
        if not (math.isfinite(self.time_scale) and self.time_scale > 0):
            raise ValueError(f"time_scale must be a finite number > 0; got {time_scale!r}")

    def __call__(self, k):
        return self.scale * (1.0 + k / self.time_scale) ** (-self.exponent)

    def __eq__(self, other):
        return isinstance(other, PowerLaw) and (self.scale, self.exponent, self.time_scale) == (
            other.scale, other.exponent, other.time_scale)

    def __hash__(self):
        return hash((PowerLaw, self.scale, self.exponent, self.time_scale))

    def __repr__(self):
        return f"PowerLaw(scale={self.scale!r}, exponent={self.exponent!r}, time_scale={self.time_scale!r})"


def notebook_delta(alpha, beta) -> float:
    r"""delta = max(2 + (2 beta - 1)/alpha, 2 - 1/alpha) + 1 (``DANA_ODE_example.ipynb``, ``get_optim_hparams``).

    Example
    -------
    >>> notebook_delta(1.0, 0.3)
    2.6
    """
    a, b = float(alpha), float(beta)
    return max(2.0 + (2.0 * b - 1.0) / a, 2.0 - 1.0 / a) + 1.0


def notebook_learning_rate(trace, batch=1) -> float:
    r"""gamma_2 = 0.375 min(2/(B + 1), 1/tr) (``DANA_ODE_example.ipynb``, ``get_optim_hparams``).

    Example
    -------
    >>> notebook_learning_rate(2.0)
    0.1875
    """
    return 0.375 * min(2.0 / (batch + 1), 1.0 / float(trace))


def dana_hyperparameters(model, kind="decaying", convention="high_d", batch=1, gamma3_exponent=None,
                         learning_rate_scale=1.0) -> dict:
    r"""Hyperparameters of DANA on a PLRF instance, for :class:`theory.GeneralizedMomentum`.

    Parameters
    ----------
    model : theory.plrf.PowerLawRandomFeatures
    kind : {"decaying", "constant"}
        DANA-decaying (gamma_3(k) proportional to (1 + k)^{-1/(2 alpha)}) or DANA-constant
        (gamma_3 proportional to 1/d; the ``"ode_example"`` convention only).
    convention : {"high_d", "ode_example"}
        The notebook whose settings are used (table in the module docstring).
    batch : int >= 1
        Batch size B (enters gamma_2 of ``"ode_example"``).
    gamma3_exponent : float, optional
        Override the decay exponent 1/(2 alpha) of gamma_3 (to plant a wrong schedule).
    learning_rate_scale : float > 0
        Factor multiplying both learning rates gamma_2 and gamma_3 (1: the notebook's values). The
        claims use 0.5: at the notebooks' values DANA on a small instance runs close to its
        fourth-moment threshold and the per-replica risks are heavy-tailed (see docs/plrf.md).

    Returns
    -------
    dict with keys learning_rate (gamma_2), gamma1, gamma3, delta (callables of k where scheduled).

    Raises
    ------
    ValueError
        Unknown kind or convention, DANA-constant with ``"high_d"`` (that notebook has none), or
        ``learning_rate_scale`` not a finite number > 0.

    Example
    -------
    >>> from theory.plrf import PowerLawRandomFeatures
    >>> h = dana_hyperparameters(PowerLawRandomFeatures(1.0, 0.8, 40, 10))
    >>> sorted(h), round(h["delta"](0), 12)
    (['delta', 'gamma1', 'gamma3', 'learning_rate'], 1.0)
    """
    if kind not in ("decaying", "constant"):
        raise ValueError(f"kind must be 'decaying' or 'constant'; got {kind!r}")
    if convention not in ("high_d", "ode_example"):
        raise ValueError(f"convention must be 'high_d' or 'ode_example'; got {convention!r}")
    c = _scalar(learning_rate_scale, "learning_rate_scale")
    if not (math.isfinite(c) and c > 0):
        raise ValueError(f"learning_rate_scale must be a finite number > 0; got {learning_rate_scale!r}")
    a, b = model.alpha, model.beta
    trace = float(model.data_eigenvalues.sum())
    exponent = 1.0 / (2.0 * a) if gamma3_exponent is None else _scalar(gamma3_exponent, "gamma3_exponent")
    if convention == "high_d":
        if kind == "constant":
            raise ValueError("the high_d notebook has no DANA-constant; use convention='ode_example'")
        delta = 4.0 + (a + b) / a
        return {"learning_rate": c * 0.5 / trace, "gamma1": 1.0, "gamma3": PowerLaw(c / trace, exponent),
                "delta": PowerLaw(1.0, 1.0, delta)}
    delta = notebook_delta(a, b)
    gamma2 = c * notebook_learning_rate(trace, batch)
    gamma3 = PowerLaw(c * 0.1, exponent) if kind == "decaying" else c * 0.1 / (model.d * trace)
    return {"learning_rate": gamma2, "gamma1": 1.0, "gamma3": gamma3, "delta": PowerLaw(delta, 1.0)}
