r"""Multi-pass minibatch SGD on one fixed training set of the two-scale teacher--student model: the exact
expected test error over the sampling of the minibatches.

The training set (X, y) (n rows) and the teacher w are fixed. Each step draws B rows uniformly *with
replacement* (independently across steps) and takes

.. math:: \hat w_{k+1} = \hat w_k - \eta\,\frac{n}{B}\sum_{r \in \text{batch}} x_r (x_r^\top \hat w_k - y_r),

whose expectation is one gradient-descent step of learning rate eta on the training loss
1/2 ||X w_hat - y||^2 (so t = k eta is the same training time as for
:meth:`theory.teacher_student.TwoScaleTeacherStudent.curves` with method "gd"). This is SGD with
learning rate gamma = eta n on the empirical distribution of the rows
(``EmpiricalDistribution(X, y, centre=False)``: no intercept, theta* the least-squares fit, its
residual epsilon with E[x epsilon] = 0). :func:`theory.derive_empirical` derives the exact recursion
of the mean mu_k = E e_k and the full second moment M_k = E e_k e_k^T of e_k = w_hat_k - theta*
(in the data's eigenbasis V) from the update rule and the data set's own moments.

The test error of a student is E_G(w_hat) = ||F w_hat - w||^2 / (2d) (noiseless test label, averaged
over the test point; the module :mod:`theory.teacher_student` normalisation), quadratic in e: with
U = F V and c = U theta* - w,

.. math:: \mathbb E\,E_G(\hat w_k) = \frac{1}{2d}\Big[\lVert c\rVert^2 + 2 c^\top U \mu_k
          + \operatorname{tr}(U^\top U M_k)\Big],

split into the fast and slow coordinates of F w_hat - w by restricting the rows of U and c.
Expectation over the minibatch draws only, conditional on (X, y, w).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .algorithms import SGD
from .data import EmpiricalDistribution
from .empirical import derive_empirical
from .teacher_student import TwoScaleTeacherStudent
from .validation import check_integer, check_positive

__all__ = ["MinibatchCurves", "SGDCurves", "sgd_test_error"]


@dataclass(frozen=True)
class MinibatchCurves:
    """Test errors of multi-pass SGD with ``batch`` rows per step at ``steps`` (K,) (times t = steps *
    learning_rate): ``test_error`` and its ``test_error_fast`` and ``test_error_slow`` parts, each (K,)
    for an expectation or (replicas, K) for Monte Carlo runs."""

    steps: np.ndarray
    learning_rate: float
    batch: int
    test_error: np.ndarray
    test_error_fast: np.ndarray
    test_error_slow: np.ndarray

    @property
    def times(self) -> np.ndarray:
        return self.steps * self.learning_rate


@dataclass(frozen=True)
class SGDCurves(MinibatchCurves):
    """The exact expectations (:func:`sgd_test_error`), and ``mean_test_error`` (K,), the test error of
    the mean iterate E w_hat_k (= gradient descent's), which lacks the SGD variance."""

    mean_test_error: np.ndarray


def sgd_test_error(model: TwoScaleTeacherStudent, X, y, teacher, learning_rate, steps, batch=1) -> SGDCurves:
    r"""The exact expected test error of multi-pass minibatch SGD on the training set (X, y) of teacher
    ``teacher`` (module docstring), at the step counts ``steps``.

    Parameters
    ----------
    model : TwoScaleTeacherStudent   (its n, d, p, kappa; its noise variance is already in y)
    X : array (n, d), the design (rows x = F z);  y : array (n,), the training labels
    teacher : array (d,), w
    learning_rate : float > 0, eta of the equivalent gradient-descent step (SGD's gamma = eta n)
    steps : non-negative integers
    batch : int >= 1, rows per step, drawn with replacement

    Raises ValueError naming the argument (shapes, non-finite values, ranges).

    Example
    -------
    >>> m = TwoScaleTeacherStudent(13, 10, 7, 4.0, 0.25)
    >>> rng = np.random.default_rng(0)
    >>> X, w = m.sample_design(rng), rng.standard_normal(10)
    >>> y = X / m.scales @ w + 0.5 * rng.standard_normal(13)
    >>> c = sgd_test_error(m, X, y, w, 1 / 13, [0, 200], batch=2)
    >>> round(float(c.test_error[0]), 6) == round(float(w @ w / 20), 6), bool(c.test_error[1] >= c.mean_test_error[1])
    (True, True)

    Source: the model of Pezeshki et al., arXiv:2112.03215, Sec. 2; the recursion of Bordelon & Pehlevan,
    arXiv:2106.02713, Sec. 3 (:func:`theory.derive_empirical`).
    """
    X = model._check_design(X)
    y = np.asarray(y, dtype=float)
    if y.shape != (model.n,) or not np.all(np.isfinite(y)):
        raise ValueError(f"y must be a finite array of shape (n,) = ({model.n},); got shape {y.shape}")
    w = np.asarray(teacher, dtype=float)
    if w.shape != (model.d,) or not np.all(np.isfinite(w)):
        raise ValueError(f"teacher must be a finite array of shape (d,) = ({model.d},); got shape {w.shape}")
    check_positive(learning_rate, "learning_rate")
    batch = check_integer(batch, "batch")
    data = EmpiricalDistribution(X, y, centre=False)
    rec = derive_empirical(SGD(), data)
    mu, M = rec.moment_matrices(steps, learning_rate=float(learning_rate) * model.n, batch=batch,
                                initial=-data.optimum)
    U = model.scales[:, None] * data.basis                       # F V, (d, r)
    c = U @ data.optimum - w
    fast = np.arange(model.d) < model.p
    parts, mean_parts = [], []
    for block in (fast, ~fast):
        Ub, cb = U[block], c[block]
        G = Ub.T @ Ub
        lin = mu @ (Ub.T @ cb)
        parts.append((cb @ cb + 2 * lin + np.einsum("ij,kji->k", G, M)) / (2 * model.d))
        mean_parts.append((cb @ cb + 2 * lin + np.einsum("ki,ij,kj->k", mu, G, mu)) / (2 * model.d))
    return SGDCurves(np.asarray(steps, dtype=np.int64), float(learning_rate), batch, parts[0] + parts[1],
                     parts[0], parts[1], mean_parts[0] + mean_parts[1])
