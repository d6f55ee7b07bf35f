"""Power-law random features (PLRF): the model of Ferbach et al., arXiv:2505.16098.

:class:`PowerLawRandomFeatures` is one instance (W drawn from a SeedSequence) reduced exactly to
Gaussian least squares in the eigenbasis of K = W^T D W; :func:`dana_hyperparameters` gives DANA's
schedules in either notebook's convention; :func:`phase`, :func:`loss_exponent` and
:func:`fit_exponent` give the phases and the loss exponents, derived and measured. See docs/plrf.md.
"""
from .effective_time import dana_constant_time, discrete_buffer, effective_time
from .fit import ExponentFit, fit_exponent, local_exponents, window_end
from .model import DeterministicEquivalent, PowerLawRandomFeatures, sketch_kappa
from .phases import (
                     ALGORITHMS,
                     LossExponent,
                     Phase,
                     TheorySpectrum,
                     algorithm_settings,
                     buffer_growth_exponent,
                     compute_optimal_exponent,
                     effective_time_exponent,
                     loss_exponent,
                     phase,
                     power_law_sum_exponent,
                     theory_spectrum,
)
from .schedules import PowerLaw, dana_hyperparameters

__all__ = [
                     "ALGORITHMS",
                     "DeterministicEquivalent",
                     "ExponentFit",
                     "LossExponent",
                     "Phase",
                     "PowerLaw",
                     "PowerLawRandomFeatures",
                     "TheorySpectrum",
                     "algorithm_settings",
                     "buffer_growth_exponent",
                     "compute_optimal_exponent",
                     "dana_constant_time",
                     "dana_hyperparameters",
                     "discrete_buffer",
                     "effective_time",
                     "effective_time_exponent",
                     "fit_exponent",
                     "local_exponents",
                     "loss_exponent",
                     "phase",
                     "power_law_sum_exponent",
                     "sketch_kappa",
                     "theory_spectrum",
                     "window_end",
]
