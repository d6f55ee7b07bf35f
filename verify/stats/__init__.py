"""The statistics layer: every test a claim or a user's check runs.

Each kind of check is one function returning a :class:`Verdict` with its statistic (one
unit per kind, :data:`KINDS`), p-value, alpha and the test that ran:

* :func:`compare` — series comparison of a theory trajectory with a Monte Carlo result;
* :func:`scalar_comparison` — one number against Monte Carlo replicas;
* :func:`growth` — one-sided growth/decay (including a moment-free divergence test);
* :func:`exact_identity` — exact (no tolerance) equality;
* :func:`numeric_agreement` — agreement to stated digits;
* :func:`reported` — a number reported only, never counted as passed.

:class:`AlphaBudget` splits a claim's alpha among its checks; :func:`combine` joins a family.
"""
from .budget import AlphaBudget
from .checks import exact_identity, growth, hall_z, numeric_agreement, reported, scalar_comparison, z_of_p
from .result import KINDS, Deviation, Verdict, check_alpha, combine, jsonable
from .series import QUANTITIES, compare

__all__ = ["compare", "scalar_comparison", "growth", "exact_identity", "numeric_agreement", "reported",
           "AlphaBudget", "Verdict", "Deviation", "combine", "KINDS", "QUANTITIES", "hall_z", "z_of_p",
           "check_alpha", "jsonable"]
