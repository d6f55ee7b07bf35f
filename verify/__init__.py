"""verify: the numeric side of sgdcheck.

Monte Carlo runs of the algorithms themselves (:func:`simulate`), calibrated
comparisons with theory (:func:`compare`, :class:`Verdict`), Hypothesis
strategies (:mod:`verify.strategies`), checking a user's derivation
(:func:`check_recursion`) and the claims catalogue (:mod:`verify.claims`).
"""
from .montecarlo import SimulationResult, simulate
from .stats import Deviation, Verdict, combine, compare

__all__ = ["simulate", "SimulationResult", "compare", "combine", "Verdict", "Deviation",
           "check_recursion"]


def __getattr__(name):
    if name == "check_recursion":
        from .check import check_recursion
        return check_recursion
    raise AttributeError(name)
