"""Checks of a user's own derivation: recursions, closed forms and ODEs, each against the
package's exact derivation and Monte Carlo on the statistics layer (:mod:`verify.stats`).

Every check returns a :class:`verify.Verdict`; on failure it carries a shrunk counterexample.

* :func:`check_recursion` -- a second-moment recursion (one expression per moment of the state);
* :func:`check_closed_form` -- a closed form of gamma_c, R_inf, R_k or gamma_c^(4) (isotropic problems);
* :func:`check_ode` -- the drift of a High-Line-type ODE (derived limit, O(1/d) gap, Monte Carlo);
* design of the drawn examples: :mod:`verify.check.design`;
* the engine (family-wise level, shrinking): :mod:`verify.check.problems`, :mod:`verify.check.shrink`.
"""
from .closed_form import QUANTITIES, check_closed_form
from .design import (
                     FRACTIONS,
                     KURTOSIS,
                     MIN_EIGENVALUE,
                     MIN_GAP,
                     NOISE_VARIANCES,
                     SPARSITY,
                     Design,
                     default_problems,
                     draw_designs,
                     draw_problems,
                     learning_rate_limit,
                     minimum_examples,
)
from .ode import check_ode
from .problems import _hypothesis_draws, _run, check_problems  # noqa: F401  (private, used by the tests)
from .recursion import check_recursion
from .shrink import shrink_problem

__all__ = ["FRACTIONS", "KURTOSIS", "MIN_EIGENVALUE", "MIN_GAP", "NOISE_VARIANCES", "QUANTITIES", "SPARSITY",
           "Design", "check_closed_form", "check_ode", "check_problems", "check_recursion", "default_problems",
           "draw_designs", "draw_problems", "learning_rate_limit", "minimum_examples", "shrink_problem"]
