"""verify: the numeric side of sgdcheck.

Monte Carlo runs of the algorithms themselves (:func:`simulate`), calibrated
comparisons with theory (:func:`compare`, :class:`Verdict`), Hypothesis
strategies (:mod:`verify.strategies`), checking a user's derivation
(:func:`check_recursion`, :func:`check_closed_form`, :func:`check_ode`) and the claims catalogue (:mod:`verify.claims`).

The names below are imported from their modules on first use (PEP 562), so ``import verify`` itself
imports nothing heavy: ``python -m verify`` (which imports this package before running
:mod:`verify.__main__`) can then pause the garbage collector for its start-up imports.
"""
from __future__ import annotations

import importlib

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

#: public name -> the submodule that defines it
_HOME = {"SimulationResult": "montecarlo", "simulate": "montecarlo", "Deviation": "stats", "Verdict": "stats",
         "combine": "stats", "compare": "stats", "check_recursion": "check", "check_closed_form": "check",
         "check_ode": "check"}


def __getattr__(name):
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'verify' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
