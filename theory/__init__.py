"""theory: the symbolic side of sgdcheck.

SymPy derives the exact second-moment dynamics of stochastic optimisation
algorithms from their update rules and the data model's moment rules; the
derived objects print as LaTeX and compile to NumPy and mpmath callables.

Example
-------
>>> from theory import SGD, Gaussian, derive
>>> rec = derive(SGD(), data=Gaussian())
>>> round(rec.critical_learning_rate([1.0] * 8), 12)   # 2/(d+2) for K = I_8, B = 1
0.2
"""
from .algorithms import (SGD, Algorithm, GeneralizedMomentum, HeavyBall, IterateAveraging, Nesterov,
                         PreconditionedSGD, polyak_ruppert)
from .data import (DataModel, EmpiricalDistribution, Gaussian, IndependentCoordinates, Rademacher,
                   SparseGaussian)
from .derive import derive, gradient_moments
from .empirical import EmpiricalRecursion, derive_empirical
from .fourth import FourthMomentRecursion, FourthMomentTrajectory, TimeAverageCovariance, derive_fourth
from .hyperparameters import Hyperparameter, Interval, bind_hyperparameters
from .linear import BlockRankOne, MpBlockRankOne
from .recursion import Recursion, Trajectory

__version__ = "0.1.0"

__all__ = [
    "SGD", "Algorithm", "HeavyBall", "Nesterov", "GeneralizedMomentum", "IterateAveraging",
    "PreconditionedSGD", "polyak_ruppert", "bind_hyperparameters", "Hyperparameter", "Interval", "DataModel", "Gaussian",
    "IndependentCoordinates", "SparseGaussian", "Rademacher", "EmpiricalDistribution", "derive",
    "gradient_moments", "derive_empirical", "EmpiricalRecursion", "BlockRankOne", "MpBlockRankOne",
    "Recursion", "Trajectory", "derive_fourth", "FourthMomentRecursion", "FourthMomentTrajectory",
    "TimeAverageCovariance",
    "__version__",
]
