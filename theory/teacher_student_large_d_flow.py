r"""The large-d form of the two-scale teacher--student model under gradient flow itself (no lambda = 1/t).

Gradient flow from w_hat = 0 gives F w_hat - w = -F e^{-At} F^{-1} w + F g_t(A) X^T epsilon with
A = X^T X and g_t(s) = (1 - e^{-st}) / s, so, averaging teacher and noise,

.. math:: 2d\,E_G(t) = \operatorname{tr}(F^2 e^{-At} F^{-2} e^{-At})
          + \sigma^2 \operatorname{tr}\big(F^2 (1 - e^{-At})^2 A^{-1}\big).

Both are contour integrals of resolvents G(lambda) = (A + lambda)^{-1} (Cauchy: f(A) =
(1/2 pi i) \oint f(z) (z - A)^{-1} dz around the spectrum, z = -lambda):

.. math:: \operatorname{tr}(F^2 e^{-At} F^{-2} e^{-At}) = \frac{1}{(2\pi i)^2}\oint\oint
          e^{-(z_1 + z_2) t}\, K(-z_1, -z_2)\, dz_1 dz_2,\qquad
          K(\lambda_1, \lambda_2) = \operatorname{tr}(F^2 G(\lambda_1) F^{-2} G(\lambda_2)),

and the noise term is one contour integral of T(lambda) = tr(F^2 G(lambda)). At large d the
resolvents are replaced by their deterministic equivalents (:mod:`theory.teacher_student_large_d`):
T by tr(F^2 \bar G), and K by the *two-point* deterministic equivalent (Couillet & Liao, *Random
Matrix Methods for Machine Learning*, 2022, Sec. 2.2, products of resolvents; Bach,
arXiv:2303.01372, Sec. 4)

.. math:: K \approx \operatorname{tr}(C \bar G_1 D \bar G_2)
          + \frac{\theta_1\theta_2}{n}\,
            \frac{\operatorname{tr}(C \bar G_1 \Sigma \bar G_2)\,\operatorname{tr}(\Sigma \bar G_2 D \bar G_1)}
                 {1 - \frac{\theta_1\theta_2}{n}\operatorname{tr}(\Sigma \bar G_1 \Sigma \bar G_2)},
          \qquad \theta_i = \frac{n}{1 + \delta_i},\ C = F^2,\ D = F^{-2},

which at lambda_1 = lambda_2 is the implicit derivative -dT/d epsilon that
:func:`theory.teacher_student_large_d.large_d_expressions` derives (checked in
``tests/test_teacher_student_large_d.py``). SymPy builds \bar G_b and K from the model's atoms and
the self-consistent equation; delta(lambda) at complex lambda is followed along the contour by
Newton's method (continuation from |lambda| large, where delta ~ tr Sigma / lambda).

*Contour.* For n > d the limiting spectrum of A lies in [f_min^2 (n/d)(1 - sqrt(d/n))^2,
f_max^2 (n/d)(1 + sqrt(d/n))^2] (A = F Z^T Z F and Marchenko--Pastur for Z^T Z). The contour is
the image under z = e^w of an ellipse around the log of that interval widened by 1 on each
side, with imaginary half-axis 1.2 < pi/2 (so Re z > 0 and |e^{-zt}| <= 1 on it), discretised by
the trapezoidal rule with ``nodes`` points (exponentially convergent for a periodic analytic
integrand; 200 and 400 nodes agree to 3e-5 at the Fig. 1 setting). n <= d (an atom of the
spectrum at 0) is not covered.

*Approximation:* exact as n, d, p -> infinity at fixed ratios; at finite d the error is O(1/d)
(measured: ``tests/test_teacher_student_large_d.py``, ``docs/teacher_student.md``).
"""
from __future__ import annotations

import functools

import numpy as np
import sympy as sp

from .diskcache import persistent
from .teacher_student import TwoScaleTeacherStudent
from .teacher_student_large_d import (
    _KAPPA,
    _LAM,
    _N,
    DELTA,
    PARAMETERS,
    _blocks,
    _sigma_atoms,
    self_consistent_equation,
)

__all__ = ["flow_test_error", "two_point_kernel", "two_point_latex"]

_D1, _D2 = sp.symbols("delta_1 delta_2")
_L1, _L2 = sp.symbols("lambda_1 lambda_2")


@persistent
def two_point_kernel():
    r"""K(lambda_1, lambda_2) ~ tr(F^2 G_1 F^{-2} G_2) and T(lambda) ~ tr(F^2 G) as SymPy expressions in
    (delta_1, delta_2, lambda_1, lambda_2) resp. (delta, lambda) and the model's parameters (module
    docstring), with the self-consistent equation and its delta-derivative (for Newton).

    Returns (K, T, equation, d equation / d delta)."""
    eq, G = self_consistent_equation()
    G1 = [g.subs({DELTA: _D1, _LAM: _L1}) for g in G]
    G2 = [g.subs({DELTA: _D2, _LAM: _L2}) for g in G]
    atoms, blocks = _sigma_atoms(), _blocks()

    def tr(weight):                                  # tr(W G_1 G_2) for a block-constant weight W
        return sum(m * weight(f, a) * g1 * g2 for (m, f), a, g1, g2 in zip(blocks, atoms, G1, G2))

    tt = _N / (1 + _D1) * _N / (1 + _D2) / _N
    K = tr(lambda f, a: 1) + tt * tr(lambda f, a: f**2 * a) * tr(lambda f, a: a / f**2) / (
        1 - tt * tr(lambda f, a: a**2))
    T = sum(m * f**2 * g for (m, f), g in zip(blocks, G))
    return K, T, eq, sp.diff(eq, DELTA)


def two_point_latex() -> str:
    """The two-point kernel K(lambda_1, lambda_2) as an amsmath ``align*`` row (delta_i solve the
    self-consistent equation at lambda_i; :func:`theory.teacher_student_large_d.large_d_latex`)."""
    names = {_D1: r"\delta_1", _D2: r"\delta_2", _L1: r"\lambda_1", _L2: r"\lambda_2", _KAPPA: r"\kappa"}
    return ("\\begin{align*}\nK(\\lambda_1, \\lambda_2) &= " + sp.latex(two_point_kernel()[0], symbol_names=names)
            + "\n\\end{align*}")


@functools.cache
def _numeric():
    K, T, eq, deq = two_point_kernel()
    return (sp.lambdify((_D1, _D2, _L1, _L2, *PARAMETERS), K, "numpy"),
            sp.lambdify((DELTA, _LAM, *PARAMETERS), T, "numpy"),
            sp.lambdify((DELTA, _LAM, *PARAMETERS), eq, "math"),
            sp.lambdify((DELTA, _LAM, *PARAMETERS), deq, "math"))


def _delta_along(lams, args, eq, deq):
    """delta at the ordered complex points ``lams`` by Newton continuation from |lambda| large."""
    _, d, p, kappa, _ = args
    trace = (p + (d - p) / kappa**2) / d
    path = np.concatenate([lams[0] * np.geomspace(1e4, 1.0, 60), lams])
    x = trace / path[0]
    out = np.empty(path.size, complex)
    for i, lam in enumerate(path):
        for _ in range(100):
            step = eq(x, lam, *args) / deq(x, lam, *args)
            x -= step
            if abs(step) <= 1e-12 * (1 + abs(x)):      # quadratic convergence: the next step is ~1e-24
                break
        else:  # pragma: no cover - Newton from the neighbouring node converges in a few steps
            raise ArithmeticError(f"Newton's method for delta did not converge at lambda = {lam}")
        out[i] = x
    return out[60:]


def flow_test_error(model: TwoScaleTeacherStudent, times, nodes: int = 400) -> np.ndarray:
    """The large-d test error E_G(t) of gradient flow (module docstring) at ``times`` (T,) > 0.

    Raises ValueError for n <= d, times not finite and > 0, or fewer than 16 nodes.

    Example
    -------
    >>> m = TwoScaleTeacherStudent(130, 100, 70, 100.0)
    >>> e = flow_test_error(m, [1e-6, 1e6])
    >>> round(float(e[0]), 4), round(float(e[1]), 4)     # E_G(0) = 1/2; n > d: interpolates the teacher
    (0.5, 0.0)
    """
    if model.n <= model.d:
        raise ValueError(f"the large-d gradient-flow form needs n > d (no spectral atom at 0); got n = {model.n}, "
                         f"d = {model.d}")
    t = np.asarray(times, dtype=float)
    if t.ndim != 1 or not np.all(np.isfinite(t)) or np.any(t <= 0):
        raise ValueError("times must be a finite 1-d array of numbers > 0")
    if not isinstance(nodes, int) or nodes < 16:
        raise ValueError(f"nodes must be an integer >= 16; got {nodes!r}")
    args = (float(model.n), float(model.d), float(model.p), float(model.kappa), float(model.noise_variance))
    n, d = model.n, model.d
    f2 = model.scales**2
    lo = f2.min() * (n / d) * (1 - np.sqrt(d / n)) ** 2
    hi = f2.max() * (n / d) * (1 + np.sqrt(d / n)) ** 2
    xl, xh = np.log(lo) - 1.0, np.log(hi) + 1.0
    phi = 2 * np.pi * (np.arange(nodes) + 0.5) / nodes
    w = (xl + xh) / 2 + (xh - xl) / 2 * np.cos(phi) + 1.2j * np.sin(phi)
    z = np.exp(w)
    dz = z * (-(xh - xl) / 2 * np.sin(phi) + 1.2j * np.cos(phi)) * (2 * np.pi / nodes)
    K_f, T_f, eq, deq = _numeric()
    delta = _delta_along(-z, args, eq, deq)
    K = K_f(delta[:, None], delta[None, :], -z[:, None], -z[None, :], *args)
    T = T_f(delta, -z, *args)
    out = np.empty(t.size)
    for i, ti in enumerate(t):
        e = np.exp(-z * ti) * dz
        bias = (e @ K @ e) / (2j * np.pi) ** 2
        noise = -((1 - np.exp(-z * ti)) ** 2 / z * dz) @ T / (2j * np.pi)
        out[i] = ((bias + args[4] * noise) / (2 * d)).real
    return out

