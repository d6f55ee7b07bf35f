r"""Logistic regression with a rare class under heavy-ball momentum (sparse updates).

Setting (Everett & Paquette, arXiv:2605.28961 analyse "a logistic regression model with a rare
class"; their exact model could not be pinned down from the material available here, so this is
the package's closest well-defined version, stated in full):

* one-hot inputs (classes/tokens): an example belongs to the rare class with probability p
  (the *frequency* of the class); the logit of the rare class is its own parameter theta, so
  theta receives a gradient only on the examples of its class (a *sparse update*), every other
  parameter is decoupled from it;
* given the class, the label is y ~ Bernoulli(sigma(theta*)); loss l = softplus(theta) - y theta
  (cross-entropy in nats); the population excess risk of theta per example is
  p KL(sigma(theta*) || sigma(theta));
* heavy-ball momentum on every parameter, every step (the buffer decays also when the class is
  absent): theta_{k+1} = theta_k - gamma b_k (sigma(theta_k) - y_k) + beta (theta_k - theta_{k-1}),
  b_k ~ Bernoulli(p) the class indicator.

Derivation (:func:`rare_class_linearisation`, SymPy): linearising the gradient at theta* gives
b (h e + xi), e = theta - theta*, with curvature h = sigma'(theta*) and label noise xi = sigma(theta*) - y
of variance v = E[(dl/dtheta)^2 | theta*] = sigma'(theta*) = h (Fisher = Hessian at the optimum).
Since b^2 = b, this is *exactly* heavy ball on least squares with input x = b (E x^2 = p, kurtosis
E x^4 / (E x^2)^2 = 1/p), learning rate gamma h and label-noise variance v / h^2 = 1/h:
h x (x e - eps) = b (h e + xi) with eps = -xi/h. Its exact second moments are therefore those of
:func:`theory.derive` (``HeavyBall``, ``IndependentCoordinates(1/p)``), and the regimes are set by
the timescales of :mod:`theory.sparse` in active updates: retention tau_ret = (1 - beta + p beta)/(1 - beta),
learning tau_learn = (1 - beta)/(gamma h); the per-frequency stability threshold tau_c is derived from
the secular equation with kappa = 1/p (:attr:`RareClassLinearisation.critical`), -> 1/2 as p -> 0
(Bernoulli-when-active inputs; Gaussian-when-active ones give 3/2, :mod:`theory.sparse`).
Nonlinear corrections: at theta* = 0, sigma'' vanishes and the gradient is h e - e^3/48 + ...,
a relative correction e^2/12 (:attr:`RareClassLinearisation.cubic_correction`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import symbols as sym
from .diskcache import persistent
from .validation import check_integer, check_nonnegative, check_positive

__all__ = ["RareClassLinearisation", "rare_class_linearisation", "rare_class_problem", "rare_class_timescales",
           "rare_class_trajectory"]

theta = sp.Symbol("theta", real=True)
theta_star = sp.Symbol("theta^*", real=True)
y = sp.Symbol("y", real=True)
p = sp.Symbol("p", positive=True)
x_gh = sp.Symbol("x", positive=True)          # gamma * h: the learning rate of the equivalent problem


@dataclass(frozen=True)
class RareClassLinearisation:
    r"""The derived linearisation of the rare class at its optimum.

    Attributes
    ----------
    loss : sympy.Expr — l(theta, y)
    curvature : sympy.Expr — h = d^2 E l / d theta^2 at theta* (= sigma'(theta*))
    noise_variance : sympy.Expr — v = E[(dl/dtheta)^2] at theta* (= h)
    mean_gradient_at_optimum : sympy.Expr — E[dl/dtheta] at theta* (= 0)
    cubic_correction : sympy.Expr — the e^3 coefficient of E[dl/dtheta] at theta* = 0 (= -1/48)
    kurtosis : sympy.Expr — 1/p, of the equivalent least-squares input x = b
    critical : sympy.Expr — gamma_c h as a function of p and beta (batch 1), from the secular equation
    critical_tau : sympy.Expr — tau_c = (1 - beta)/(gamma_c h): stable iff tau_learn > tau_c
    critical_tau_limit : sympy.Expr — tau_c as p -> 0

    Source: Everett & Paquette, arXiv:2605.28961 (the rare-class setting; the model the package
    implements is stated in docs/glm_rare_class.md); derived here from the logistic loss and the
    second-moment recursion of heavy ball.
    """

    loss: sp.Expr
    curvature: sp.Expr
    noise_variance: sp.Expr
    mean_gradient_at_optimum: sp.Expr
    cubic_correction: sp.Expr
    kurtosis: sp.Expr
    critical: sp.Expr
    critical_tau: sp.Expr
    critical_tau_limit: sp.Expr

    def latex(self) -> str:
        """The linearisation and threshold as an amsmath ``align*``."""
        from .glm.functions import sigmoid  # noqa: F401  (printing of sigma)
        t = sp.latex
        return "\n".join([
            r"\begin{align*}",
            r"\ell(\theta, y) &= " + t(self.loss) + r",\quad y\sim\mathrm{Bernoulli}(\sigma(\theta^*)) \\",
            r"h &= " + t(self.curvature) + r",\quad \mathbb{E}[(\partial_\theta\ell)^2] = " + t(self.noise_variance)
            + r" \\",
            r"\gamma_c h &= " + t(self.critical) + r" \\",
            r"\tau_c &= " + t(self.critical_tau) + r"\xrightarrow{p\to0}" + t(self.critical_tau_limit),
            r"\end{align*}",
        ])


@persistent   # SymPy simplify/solve/series, ~0.5 s: once per machine (theory.diskcache)
def rare_class_linearisation() -> RareClassLinearisation:
    """Derive the linearisation (see the module docstring).

    Example
    -------
    >>> lin = rare_class_linearisation()
    >>> sp.simplify(lin.noise_variance - lin.curvature), lin.cubic_correction, lin.critical_tau_limit
    (0, -1/48, 1/2)
    """
    from . import HeavyBall, derive
    from .data import SparseGaussian
    from .glm.derivation import LabelModel, rs
    from .glm.functions import sigmoid, softplus
    ell = softplus(theta) - y * theta
    f = sp.diff(ell, theta)
    labels = LabelModel("bernoulli", sigmoid(rs))

    def cond(expr):
        return sp.simplify(labels.conditional_expectation(expr.subs(theta_star, rs)).subs(rs, theta_star))
    mean_f = cond(f)                                           # E[f | theta*] as a function of theta
    h = sp.simplify(sp.diff(mean_f, theta).subs(theta, theta_star))
    v = cond(sp.expand(f**2).subs(theta, theta_star))
    at_opt = sp.simplify(mean_f.subs(theta, theta_star))
    e = sp.Symbol("e", real=True)
    series = sp.series(mean_f.subs(theta_star, 0).subs(theta, e).rewrite(sp.exp), e, 0, 4).removeO()
    cubic = sp.nsimplify(series.coeff(e, 3))
    # the secular equation of heavy ball (d = 1, batch 1) with kurtosis 1/p, solved for gamma h
    G = derive(HeavyBall(), SparseGaussian(1.0)).secular_term(1)
    G = sp.simplify(G.subs({sym.gamma: x_gh, sym.lam: p, sym.kappa: 1 / p, sym.B: 1}))
    sols = [s for s in sp.solve(sp.Eq(G, 1), x_gh) if s != 0]
    crit = sp.factor(sols[0])
    tau_c = sp.factor((1 - sym.beta) / crit)
    return RareClassLinearisation(ell, h, v, at_opt, cubic, 1 / p, crit, tau_c, sp.limit(tau_c, p, 0))


def _check(frequency, momentum, theta_opt):
    check_positive(frequency, "frequency")
    if frequency > 1:
        raise ValueError(f"frequency (the probability p of the rare class) must be in (0, 1]; got {frequency!r}")
    if not -1 < float(momentum) < 1:
        raise ValueError(f"momentum (beta) must be in (-1, 1); got {momentum!r}")
    if not np.isfinite(float(theta_opt)):
        raise ValueError(f"theta_star must be finite; got {theta_opt!r}")


def _h(theta_opt):
    s = 1 / (1 + np.exp(-float(theta_opt)))
    return s * (1 - s)


def rare_class_problem(frequency, learning_rate, theta_star=0.0, momentum=0.0) -> dict:
    """The equivalent least-squares problem of the linearisation: eigenvalues [p], learning rate gamma h,
    noise variance 1/h and the data model ``IndependentCoordinates(1/p)`` (keys of :meth:`trajectory`).

    Raises ValueError naming the argument: frequency outside (0, 1], learning_rate <= 0,
    momentum outside (-1, 1), theta_star not finite.
    """
    _check(frequency, momentum, theta_star)
    check_positive(learning_rate, "learning_rate")
    from .data import IndependentCoordinates
    h = _h(theta_star)
    return {"data": IndependentCoordinates(1.0 / float(frequency)), "eigenvalues": [float(frequency)],
            "learning_rate": float(learning_rate) * h, "noise_variance": 1.0 / h, "momentum": float(momentum),
            "curvature": h}


def rare_class_trajectory(frequency, learning_rate, momentum, *, theta_star=0.0, initial=0.3, steps=100):
    r"""Exact E e_k^2 (k = 0..steps) of the linearised rare class under heavy ball (batch 1), e_0 = ``initial``.

    Returns an array of shape (steps + 1,). The population excess risk per example is
    p h E e^2 / 2 to second order.

    Example
    -------
    >>> m = rare_class_trajectory(0.5, 0.4, 0.0, initial=1.0, steps=1)
    >>> round(float(m[1]), 6)   # E(1 - 0.1 b)^2 + 0.16 b * 0.25 with b ~ Bern(1/2): 0.905 + 0.02
    0.925
    """
    from . import HeavyBall, derive
    check_nonnegative(abs(float(initial)), "initial")
    steps = check_integer(steps, "steps", 1)
    prob = rare_class_problem(frequency, learning_rate, theta_star, momentum)
    tr = derive(HeavyBall(), prob["data"]).trajectory(prob["eigenvalues"], prob["learning_rate"],
                                                      noise_variance=prob["noise_variance"], initial=float(initial),
                                                      steps=steps, momentum=prob["momentum"])
    return np.asarray(tr.second_moments, dtype=float)[:, 0]


def rare_class_timescales(frequency, learning_rate, momentum, theta_star=0.0) -> dict:
    """tau_ret, tau_learn = (1 - beta)/(gamma h), the derived tau_c and the ratio tau_learn / tau_ret
    (units: active updates of the rare class)."""
    from .sparse import momentum_retention_timescale
    prob = rare_class_problem(frequency, learning_rate, theta_star, momentum)
    lin = rare_class_linearisation()
    b = float(momentum)
    t_learn = (1 - b) / prob["learning_rate"]
    t_ret = momentum_retention_timescale(float(frequency), b)
    t_c = float(lin.critical_tau.subs({p: float(frequency), sym.beta: b}))
    return {"retention": t_ret, "learning": t_learn, "critical": t_c, "ratio": t_learn / t_ret}
