"""Power-law random features (PLRF): the model of Ferbach et al., arXiv:2505.16098.

:class:`PowerLawRandomFeatures` is one instance (W drawn from a SeedSequence) reduced exactly to
Gaussian least squares in the eigenbasis of K = W^T D W; :func:`dana_hyperparameters` gives DANA's
schedules in either notebook's convention. See docs/plrf.md.
"""
from .model import DeterministicEquivalent, PowerLawRandomFeatures, sketch_kappa
from .schedules import PowerLaw, dana_hyperparameters

__all__ = ["DeterministicEquivalent", "PowerLaw", "PowerLawRandomFeatures", "dana_hyperparameters", "sketch_kappa"]
