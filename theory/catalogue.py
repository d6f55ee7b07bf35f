"""The derivations that ``python -m theory latex`` prints, by id."""
from __future__ import annotations

from sympy import Rational

from .algorithms import (
    SGD,
    GeneralizedMomentum,
    HeavyBall,
    IterateAveraging,
    Nesterov,
    PreconditionedSGD,
)
from .data import Gaussian, IndependentCoordinates, Rademacher, SparseGaussian
from .derive import derive
from .empirical import derive_empirical
from .fourth import derive_fourth
from .games import BilinearGame
from .momentum import effective_learning_rate
from .scaling import learning_rate_batch_ratio_expansion
from .sparse import sparse_timescales
from .validation import select_by_prefix

__all__ = ["DERIVATIONS", "select"]

#: id -> (title, builder of the Recursion)
DERIVATIONS = {
    "sgd.gaussian": ("Minibatch SGD on least squares, Gaussian data",
                     lambda: derive(SGD(), Gaussian())),
    "sgd.independent": ("Minibatch SGD on least squares, independent coordinates with kurtosis",
                        lambda: derive(SGD(), IndependentCoordinates())),
    "sgd.sparse": ("Minibatch SGD on least squares, sparse Gaussian inputs (kappa_i = 3/p_i)",
                   lambda: derive(SGD(), SparseGaussian(0.5))),
    "sgd.rademacher": ("Minibatch SGD on least squares, Rademacher inputs (kappa = 1)",
                       lambda: derive(SGD(), Rademacher())),
    "sgd.empirical": (("Minibatch SGD on least squares, empirical distribution: full mean and second-moment "
                      "recursion with the data set's own moments"),
                      lambda: derive_empirical(SGD(), _example_empirical())),
    "sgd.fourth.gaussian": ("Minibatch SGD, fourth moments (even sector Q_ij = E e_i^2 e_j^2), Gaussian data",
                            lambda: derive_fourth(SGD(), Gaussian())),
    "sgd.fourth.independent": (("Minibatch SGD, fourth moments (even sector), independent symmetric coordinates "
                                "(E z^6, E z^8 of the three-point law: kappa^2, kappa^3)"),
                               lambda: derive_fourth(SGD(), IndependentCoordinates())),
    "sgd.ratio": ("Stationary risk of SGD at fixed learning-rate / batch-size ratio, to first order in gamma",
                  lambda: learning_rate_batch_ratio_expansion(derive(SGD(), Gaussian()))),
    "momentum.heavy_ball.gaussian": ("Heavy-ball momentum on least squares, Gaussian data",
                                     lambda: derive(HeavyBall(), Gaussian())),
    "momentum.heavy_ball.independent": ("Heavy-ball momentum, independent coordinates with kurtosis",
                                        lambda: derive(HeavyBall(), IndependentCoordinates())),
    "momentum.nesterov.gaussian": ("Nesterov momentum on least squares, Gaussian data",
                                   lambda: derive(Nesterov(), Gaussian())),
    "momentum.nesterov.independent": ("Nesterov momentum, independent coordinates with kurtosis",
                                      lambda: derive(Nesterov(), IndependentCoordinates())),
    "momentum.dana.gaussian": ("Generalised momentum of DANA (gamma_1, gamma_2, gamma_3, Delta), Gaussian data",
                               lambda: derive(GeneralizedMomentum(), Gaussian())),
    "momentum.effective_learning_rate": ("Heavy ball (gamma, beta) vs SGD at gamma/(1 - beta): exact gap",
                                         lambda: effective_learning_rate(IndependentCoordinates())),
    "momentum.sparse.timescales": (("Heavy ball with sparse inputs: momentum retention and learning timescales, "
                                    "stability threshold and SGD limit in their terms"),
                                   lambda: sparse_timescales()),
    "games.simultaneous": ("Bilinear game, simultaneous gradient steps with heavy-ball momentum",
                           lambda: BilinearGame("simultaneous")),
    "games.alternating": ("Bilinear game, alternating gradient steps with heavy-ball momentum",
                          lambda: BilinearGame("alternating")),
    "highline.sgd": ("High Line ODE: d -> infinity limit of SGD (step g/d, t = k/d), Volterra form, g_c = 2d/tr K",
                     lambda: _highline().derive_limit()),
    "highline.homogenized_sgd": ("Homogenized SGD: the SDE and its generator on the second moments",
                                 lambda: _highline().homogenized_sgd()),
    "highline.line_search": ("Idealised exact line search: two-eigenvalue fixed point and limiting learning rate",
                             lambda: _adaptive().two_eigenvalue_line_search()),
    "highline.adagrad_norm": ("AdaGrad-Norm: learning-rate ODE and the isotropic Lambert-W limit",
                              lambda: _adaptive().adagrad_norm_limit()),
    **{f"glm.{key}": (f"GLM ODE of SGD (arXiv:2308.08977), {key.replace('_', ' ')}: derived from the loss",
                      lambda key=key: _glm().derive_limit(_glm().derivation.PRESETS[key]()))
       for key in ("least_squares", "logistic_soft", "logistic_bernoulli", "phase_retrieval")},
    "regularised.weight_decay": ("SGD with weight decay toward the origin (ridge-regularised SGD), Gaussian data",
                                 lambda: derive(SGD(weight_decay=Rational(1, 10)), Gaussian())),
    "regularised.polyak_ruppert": (("Polyak-Ruppert iterate averaging of SGD, risk on the averaged iterate, "
                                   "Gaussian data"), lambda: derive(IterateAveraging(SGD()), Gaussian())),
    "regularised.preconditioned": ("SGD with a diagonal preconditioner in the eigenbasis, Gaussian data",
                                   lambda: derive(PreconditionedSGD(), Gaussian())),
    "teacher_student.two_scale": (("Two-scale linear teacher-student model (arXiv:2112.03215): exact test error "
                                  "over training time"), lambda: _teacher_student().TwoScaleTeacherStudent(
                                      130, 100, 70, 100.0)),
    "glm.homogenized_sgd.logistic": (("Homogenized SGD for logistic regression (arXiv:2308.08977): the SDE and "
                                     "its generator on (P_i, U_i)"),
                                     lambda: _glm().homogenize(_glm().derivation.PRESETS["logistic_soft"]())),
    "momentum.sparse.rare_class": (("Heavy ball on a rare class of a one-hot logistic model: linearisation and "
                                    "stability threshold in the retention time"),
                                   lambda: _rare_class().rare_class_linearisation()),
}


def _rare_class():
    from . import rare_class
    return rare_class


def _example_empirical():
    from .data import EmpiricalDistribution
    return EmpiricalDistribution([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])


def _highline():
    from . import highline
    return highline


def _teacher_student():
    from . import teacher_student
    return teacher_student


def _glm():
    from . import glm
    return glm


def _adaptive():
    from . import adaptive
    return adaptive


def select(ids=None):
    """[(id, (title, builder))] for ids equal to or prefixed by the given ones (all if none)."""
    return select_by_prefix({k: (k, v) for k, v in DERIVATIONS.items()}, ids, "derivation id")
