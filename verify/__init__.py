"""verify: the numeric side of sgdcheck.

Monte Carlo runs of the algorithms themselves (:func:`simulate`), calibrated
comparisons with theory (:func:`compare`, :class:`Verdict`), Hypothesis
strategies (:mod:`verify.strategies`), checking a user's derivation
(:func:`check_recursion`, :func:`check_closed_form`, :func:`check_ode`) and the claims catalogue (:mod:`verify.claims`).
"""
from .montecarlo import SimulationResult, simulate
from .stats import Deviation, Verdict, combine, compare

__all__ = [
    "Deviation",
    "SimulationResult",
    "Verdict",
    "check_closed_form",
    "check_ode",
    "check_recursion",
    "combine",
    "compare",
    "simulate",
]


def __getattr__(name):
    if name in ("check_recursion", "check_closed_form", "check_ode"):
        from . import check
        return getattr(check, name)
    raise AttributeError(name)
