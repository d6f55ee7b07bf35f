"""Power-law random features (PLRF): the model of Ferbach et al., arXiv:2505.16098.

:class:`PowerLawRandomFeatures` is one instance (W drawn from a SeedSequence) reduced exactly to
Gaussian least squares in the eigenbasis of K = W^T D W; see docs/plrf.md.
"""
from .model import DeterministicEquivalent, PowerLawRandomFeatures, sketch_kappa

__all__ = ["DeterministicEquivalent", "PowerLawRandomFeatures", "sketch_kappa"]
