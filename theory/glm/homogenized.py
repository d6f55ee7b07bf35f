r"""Homogenized SGD on a single-index model: the SDE with the simplified (leading-order) diffusion.

Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv:2308.08977 (the section "homogenized SGD":
an SDE whose drift is the population gradient and whose diffusion keeps only the leading
order of the gradient covariance), in the normalisation of :mod:`theory.glm` (step (g/d) * gradient,
batch 1, t = k/d; eigenbasis of K = diag(lambda)):

.. math:: dX_{t,i} = -g\,\partial_i \mathcal{R}(X_t)\,dt + g\sqrt{\frac{\lambda_i\,\mathbb{E}F_2}{d}}\,dW_{t,i},
          \qquad \partial_i \mathcal{R} = \lambda_i\bigl(X_i\,\mathbb{E}\,\partial_r F_1 + X^*_i\,\mathbb{E}\,\partial_{r^*}F_1\bigr),

expectations over (r, r*) ~ N(0, B(X_t)), F_n = E[f^n | r*] (:class:`theory.glm.GLMLimit`).

Derivation (:func:`homogenize`), all in SymPy from the same Stein reduction as the ODE:

1. the mean of the gradient coordinate a_i f given X is E[a_i F_1] (Stein's lemma, exact at
   every d); over one unit of time (d steps of size g/d) the drift is -g E[a_i F_1];
2. its variance Var(a_i f | X) = E[a_i^2 F_2] - E[a_i F_1]^2 (Stein's lemma again) is expanded
   with X_i^2 = P_i/d, X_i X^*_i = U_i/d, X_i^{*2} = Q_i/d; its d^0 term lambda_i E F_2 is kept
   (the *simplified* diffusion; the dropped terms, and the covariances between coordinates,
   are O(1/d)); the diffusion variance per unit time is d (g/d)^2 lambda_i E F_2;
3. the Ito generator of the SDE on P_i = d X_i^2 and U_i = d X_i X^*_i
   (:attr:`GLMHomogenizedSGD.generator_P`, :attr:`~GLMHomogenizedSGD.generator_U`) is computed
   and equals the derived ODE's drift exactly (``exact_identity`` in ``glm.homogenized_sgd``):
   the ODE is the generator of homogenized SGD on the second moments;
4. :meth:`GLMHomogenizedSGD.euler_maruyama_moment` gives the one-step map of (P_i, U_i) of the
   Euler-Maruyama scheme X' = X + drift dt + sqrt(variance dt) xi, exact given B: its
   mean-field recursion (B frozen at its mean) is the expectation of the scheme up to O(1/d).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from ..diskcache import persistent
from .derivation import (
    _X,
    Expectation,
    GLMLimit,
    P,
    Q,
    U,
    _broken,
    _expand_in_inverse_d,
    _stein,
    _to_state,
    _Xs,
    d,
    derive_limit,
    g,
)

__all__ = ["GLMHomogenizedSGD", "dt", "euler_maruyama_mean_field", "homogenize", "numeric"]

dt = sp.Symbol("Delta t", positive=True)


@dataclass(frozen=True)
class GLMHomogenizedSGD:
    r"""Homogenized SGD for the loss of ``limit`` (see the module docstring).

    Attributes
    ----------
    limit : GLMLimit
    drift : sympy.Expr
        dX_i/dt's drift -g d_i R in X_i, X^*_i, g, lambda_i and Expectation objects.
    diffusion_variance : sympy.Expr
        Variance per unit time of dX_i: g^2 lambda_i E F_2 / d.
    dropped_variance : sympy.Expr
        The 1/d term of d (g/d)^2 Var(a_i f | X) that the simplified diffusion drops (times d).
    generator_P, generator_U : sympy.Expr
        The Ito generator applied to P_i = d X_i^2 and U_i = d X_i X^*_i (equal to the ODE drift).

    Source: Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv:2308.08977 (homogenized SGD);
    derived here from the loss.
    """

    limit: GLMLimit
    drift: sp.Expr
    diffusion_variance: sp.Expr
    dropped_variance: sp.Expr
    generator_P: sp.Expr
    generator_U: sp.Expr

    def generator_matches_ode(self) -> bool:
        """True iff the generator on (P_i, U_i) equals the derived ODE drift (symbolic equality)."""
        return (sp.expand(self.generator_P - self.limit.drift_P) == 0
                and sp.expand(self.generator_U - self.limit.drift_U) == 0)

    def euler_maruyama_moment(self):
        r"""One Euler-Maruyama step of size :data:`dt` on (P_i, U_i), given B (exact in the scheme's noise):
        P_i' = d (X_i + drift dt)^2 + d variance dt, U_i' = d (X_i + drift dt) X^*_i, in P_i, U_i, Q_i."""
        step = _X + self.drift * dt
        newP = _to_state(sp.expand(d * (step**2 + self.diffusion_variance * dt)))
        newU = _to_state(sp.expand(d * step * _Xs))
        return sp.expand(newP), sp.expand(newU)

    def latex(self) -> str:
        """The SDE (drift mu_i, variance per unit time v_i) and the generator identity (align*)."""
        from ..latex import align
        return align([
            r"dX_{t,i} &= \mu_i\,dt + \sqrt{v_i}\,dW_{t,i}",
            *_broken(r"\mu_i", self.drift),
            *_broken(r"v_i", self.diffusion_variance),
            (r"\mathcal{L}\,P_i &= \frac{dP_i}{dt},\quad \mathcal{L}\,U_i = \frac{dU_i}{dt}"
            r"\quad(\text{the derived ODE; } P_i = d X_i^2,\ U_i = d X_i X^*_i)"),
            r"&\text{(homogenized SGD, arXiv:2308.08977; step } (g/d)\nabla,\ t = k/d)",
        ])


def homogenize(limit_or_loss) -> GLMHomogenizedSGD:
    r"""Derive homogenized SGD for a GLM loss (a :class:`GLMLimit` or a :class:`GLMLoss`).

    Raises
    ------
    TypeError
        If the argument is neither.

    Example
    -------
    >>> from theory.glm import least_squares
    >>> h = homogenize(least_squares())
    >>> h.drift
    X^*_i*g*lambda_i - X_i*g*lambda_i
    >>> h.generator_matches_ode()
    True

    Source: Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv:2308.08977 (homogenized SGD).
    """
    from .derivation import GLMLoss
    if isinstance(limit_or_loss, GLMLoss):
        limit_or_loss = derive_limit(limit_or_loss)
    if not isinstance(limit_or_loss, GLMLimit):
        raise TypeError(f"expected a GLMLimit or GLMLoss (e.g. theory.glm.logistic()); got {limit_or_loss!r}")
    return _homogenize(limit_or_loss)


@functools.cache
def _homogenize(limit: GLMLimit) -> GLMHomogenizedSGD:
    from .derivation import _only_known_functions
    loss = limit.loss
    # the loss's own derived limit: its expressions are a pure function of the loss (disk cache);
    # any other limit (e.g. a planted one) is derived here
    own = _only_known_functions(loss) and (limit is derive_limit(loss) or limit == derive_limit(loss))
    return GLMHomogenizedSGD(limit, *(_homogenized_expressions(loss) if own else _expressions(limit)))


def _expressions(limit: GLMLimit) -> tuple:
    """(drift, diffusion variance, dropped variance, generator on P, generator on U) of homogenized SGD."""
    F1, F2 = limit.F1, limit.F2
    mean = _stein(1, F1)                                # E[a_i f | X], exact
    drift = sp.expand(-g * mean)
    var = sp.expand(_stein(2, F2) - mean**2)            # Var(a_i f | X), exact
    lead, corr = _expand_in_inverse_d(_to_state(var))   # d^0 and d^-1 terms
    diff_var = sp.expand(g**2 * lead / d)
    # Ito: d(X^2) = (2 X drift + variance) dt, d(X X*) = X* drift dt; P = d X^2, U = d X X*
    gen_P = sp.expand(_to_state(sp.expand(d * (2 * _X * drift + diff_var))))
    gen_U = sp.expand(_to_state(sp.expand(d * _Xs * drift)))
    return drift, diff_var, sp.expand(g**2 * corr), gen_P, gen_U


@persistent
def _homogenized_expressions(loss) -> tuple:
    """:func:`_expressions` of the loss's derived limit (SymPy work of 0.1-0.3 s per loss, once per machine)."""
    return _expressions(derive_limit(loss))




class _Numeric:
    """Lambdified one-step map of the Euler-Maruyama scheme on (P, U) and of its drift/diffusion on X."""

    def __init__(self, h: GLMHomogenizedSGD, noise_variance):
        from .derivation import lam, sigma2
        from .expectations import Quadrature
        from .functions import NUMPY_FUNCTIONS
        newP, newU = h.euler_maruyama_moment()
        atoms = sorted(set().union(*(e.atoms(Expectation) for e in (newP, newU, h.drift, h.diffusion_variance))),
                       key=sp.srepr)
        es = sp.symbols(f"e_0:{len(atoms)}")
        sub = dict(zip(atoms, es))
        mods = [NUMPY_FUNCTIONS, "numpy"]
        s2 = float(noise_variance)
        self.quad = Quadrature([a.args[0] for a in atoms], None, s2)
        self.map = sp.lambdify([g, lam, P, U, Q, dt, *es], [e.xreplace(sub).subs(sigma2, s2) for e in (newP, newU)],
                               modules=mods)
        self.drift = sp.lambdify([g, lam, _X, _Xs, *es], h.drift.xreplace(sub).subs(sigma2, s2), modules=mods)
        self.variance = sp.lambdify([g, lam, d, *es], h.diffusion_variance.xreplace(sub).subs(sigma2, s2),
                                    modules=mods)


def numeric(h: GLMHomogenizedSGD, noise_variance=0.0) -> _Numeric:
    """The lambdified scheme of ``h`` (cached per noise variance)."""
    key = ("homogenized", h.drift, h.diffusion_variance, float(noise_variance))
    cache = h.limit.numeric_cache
    if key not in cache:
        cache[key] = _Numeric(h, noise_variance)
    return cache[key]


def euler_maruyama_mean_field(h: GLMHomogenizedSGD, eigenvalues, g_value, time_step, steps, *, teacher=1.0,
                              initial_P=0.0, initial_U=0.0, noise_variance=0.0):
    r"""The Euler-Maruyama scheme of homogenized SGD with B frozen at its mean: the deterministic
    recursion (P_i, U_i) -> :meth:`GLMHomogenizedSGD.euler_maruyama_moment` (merged atoms, O(n) a step).

    It is the expectation of the scheme up to O(1/d) (the fluctuation of B) and tends to the ODE
    as ``time_step`` -> 0 (order 1). Returns ``(t, risk)``, arrays of length steps + 1.

    Raises ValueError for bad arguments (naming them).
    """
    from ..validation import check_integer, check_positive
    from .ode import problem, risk
    check_positive(g_value, "g")
    check_positive(time_step, "time_step")
    steps = check_integer(steps, "steps", 1)
    prob = problem(eigenvalues, teacher, initial_P, initial_U)
    num = numeric(h, noise_variance)
    lw = prob.weights * prob.atoms
    b22 = float(lw @ prob.Q)
    Pv, Uv = prob.P0.copy(), prob.U0.copy()
    B = np.empty((steps + 1, 2))
    for k in range(steps + 1):
        b11, b12 = float(lw @ Pv), float(lw @ Uv)
        B[k] = b11, b12
        if k == steps:
            break
        e = [float(x) for x in num.quad(max(b11, b12 * b12 / b22 if b22 > 0 else 0.0), b12, b22)]
        Pv, Uv = (np.broadcast_to(x, prob.atoms.shape) for x in num.map(float(g_value), prob.atoms, Pv, Uv, prob.Q,
                                                                        float(time_step), *e))
    b11 = np.maximum(B[:, 0], B[:, 1] ** 2 / b22 if b22 > 0 else 0.0)
    rk = risk(h.limit, b11, B[:, 1], np.full(steps + 1, b22), noise_variance=noise_variance)
    return np.arange(steps + 1) * float(time_step), np.asarray(rk, dtype=float)
