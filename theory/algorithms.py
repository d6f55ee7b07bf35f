"""Algorithms, each with its update rule written once, symbolically.

An algorithm acts on a per-eigendirection *state* (for SGD the error
e_i = theta_i - theta*_i). Its update rule is a tuple of SymPy expressions for
the new state in terms of the old state, the hyperparameters and the symbol
``g_i``, the i-th coordinate of the minibatch gradient evaluated at the
*gradient point* (a linear function of the state). The derivation
(:func:`theory.derive`) takes expectations of this rule; the Monte Carlo
engine (:func:`verify.simulate`) compiles and executes the same expressions.
"""
from __future__ import annotations

import sympy as sp

from . import symbols as sym

__all__ = ["Algorithm", "SGD", "HeavyBall", "Nesterov", "GeneralizedMomentum", "GRADIENT"]

#: the i-th coordinate of the minibatch gradient, g_i = (1/B) sum_b x_{b,i} (x_b^T p - eps_b)
GRADIENT = sp.Symbol("g_i", real=True)


class Algorithm:
    """Base class of an update rule on a per-direction state.

    Subclasses define ``state`` (symbols, the first is the error e_i),
    ``hyperparameters`` (name -> symbol; ``learning_rate`` always present),
    ``gradient_point`` (linear in the state), ``update`` (new state) and
    ``second_moment_names`` (LaTeX names of the products of state variables).
    """

    name = "algorithm"
    state: tuple = ()
    hyperparameters: dict = {}
    gradient_point: sp.Expr = sp.Integer(0)
    update: tuple = ()
    source = ""

    def initial_state(self, error):
        """Initial value of each state variable given the initial error e_0."""
        return (error,)

    def check_hyperparameters(self, values: dict) -> None:
        """Raise ValueError if a hyperparameter other than the learning rate is out of range.

        ``values`` maps every name of :attr:`hyperparameters` to a number.
        """

    def second_moment_symbol(self, a: int, b: int) -> sp.Symbol:
        """Symbol of E[s_a s_b] (a <= b) in the per-direction state."""
        return sym.m if (a, b) == (0, 0) else sp.Symbol(f"m_i^({a}{b})", real=True)

    def latex_update(self) -> str:
        """The update rule as rows ``s_{k+1,i} &= ...`` of an ``align*`` environment, printed from
        :attr:`update` (a plain shift such as e_{k,i} = e_{k,i} is left out)."""
        from .latex_recursion import update_rows
        return " \\\\\n".join(update_rows(self))

    def _names(self):
        return {**sym.LATEX_NAMES, GRADIENT: r"g_{k,i}", self.state[0]: r"e_{k,i}"}

    def __eq__(self, other):
        return type(self) is type(other)

    def __hash__(self):
        return hash(type(self).__name__)

    def __repr__(self):
        return f"{type(self).__name__}()"


class SGD(Algorithm):
    r"""Minibatch stochastic gradient descent on least squares.

    .. math::
        \theta_{k+1} = \theta_k - \gamma\, g_k,\qquad
        g_k = \frac1B \sum_{b=1}^B x_{k,b}\,(\langle x_{k,b}, \theta_k\rangle - y_{k,b}),

    so the error e = theta - theta* obeys e_{k+1,i} = e_{k,i} - gamma g_{k,i}
    with the gradient evaluated at e_k. Learning rate gamma is not scaled by
    1/d; time is the step count k.

    Example
    -------
    >>> SGD().update
    (e_i - g_i*gamma,)

    Source: classical; see Bordelon & Pehlevan, arXiv:2106.02713, and
    Paquette et al., arXiv:2102.04396.
    """

    name = "sgd"
    state = (sp.Symbol("e_i", real=True),)
    hyperparameters = {"learning_rate": sym.gamma}
    gradient_point = state[0]
    update = (state[0] - sym.gamma * GRADIENT,)
    source = "Bordelon & Pehlevan, arXiv:2106.02713; Paquette et al., arXiv:2102.04396"


def _check_momentum(value, name="momentum"):
    """beta must be a real number in (-1, 1) (the heavy-ball mean dynamics need |beta| < 1)."""
    from .validation import _scalar
    x = _scalar(value, name)
    if not (-1.0 < x < 1.0):
        raise ValueError(f"{name} must lie in the open interval (-1, 1); got {value!r}")
    return value


_E = sp.Symbol("e_i", real=True)
_E_PREV = sp.Symbol("e_i^prev", real=True)


class _TwoStep(Algorithm):
    """Shared parts of the two-step methods on the state (e_k, e_{k-1})."""

    state = (_E, _E_PREV)
    hyperparameters = {"learning_rate": sym.gamma, "momentum": sym.beta}

    def initial_state(self, error):
        """The method starts at rest: e_{-1} = e_0."""
        return (error, error)

    def check_hyperparameters(self, values):
        _check_momentum(values["momentum"])

    def second_moment_symbol(self, a: int, b: int) -> sp.Symbol:
        names = {(0, 0): sym.m, (0, 1): sp.Symbol("c_i", real=True),
                 (1, 1): sp.Symbol("m_i^prev", nonnegative=True)}
        return names[(a, b)]

    def _names(self):
        return {**super()._names(), _E_PREV: r"e_{k-1,i}",
                sp.Symbol("c_i", real=True): r"\mathbb{E} e_{k,i} e_{k-1,i}",
                sp.Symbol("m_i^prev", nonnegative=True): r"m_{k-1,i}"}

    def latex_update(self) -> str:
        return super().latex_update() + " \\\\\n" + r"e_{-1,i} &= e_{0,i}"


class HeavyBall(_TwoStep):
    r"""Stochastic heavy-ball (Polyak) momentum with minibatch gradients.

    .. math::
        \theta_{k+1} = \theta_k - \gamma\, g(\theta_k) + \beta(\theta_k - \theta_{k-1}),
        \qquad \theta_{-1} = \theta_0,

    so on the error e = theta - theta* the state is (e_k, e_{k-1}) and
    e_{k+1,i} = e_{k,i} - gamma g_{k,i} + beta (e_{k,i} - e_{k-1,i}). The
    second-moment state per eigendirection is (E e_{k,i}^2, E e_{k,i} e_{k-1,i},
    E e_{k-1,i}^2). Momentum beta must lie in (-1, 1) (ValueError otherwise);
    learning rate gamma is not scaled by 1/d.

    Example
    -------
    >>> HeavyBall().update[0]
    beta*(e_i - e_i^prev) + e_i - g_i*gamma

    Source: Polyak (1964); minibatch second moments: Paquette & Paquette,
    arXiv:2106.03696; Lee, Cheng, Paquette, Paquette, arXiv:2206.01029.
    """

    name = "heavy_ball"
    gradient_point = _E
    update = (_E - sym.gamma * GRADIENT + sym.beta * (_E - _E_PREV), _E)
    source = "Paquette & Paquette, arXiv:2106.03696; Lee et al., arXiv:2206.01029"


class Nesterov(_TwoStep):
    r"""Stochastic Nesterov momentum (gradient at the extrapolated point).

    .. math::
        p_k = \theta_k + \beta(\theta_k - \theta_{k-1}),\qquad
        \theta_{k+1} = p_k - \gamma\, g(p_k),\qquad \theta_{-1} = \theta_0,

    i.e. e_{k+1,i} = e_{k,i} + beta (e_{k,i} - e_{k-1,i}) - gamma g_{k,i} with the
    minibatch gradient evaluated at the error of p_k. Same second-moment state
    and momentum range (-1, 1) as :class:`HeavyBall`.

    Example
    -------
    >>> Nesterov().gradient_point
    beta*(e_i - e_i^prev) + e_i

    Source: Nesterov (1983); Sutskever et al. (ICML 2013) form; stochastic
    least squares: Varre & Flammarion, arXiv:2203.01744.
    """

    name = "nesterov"
    gradient_point = _E + sym.beta * (_E - _E_PREV)
    update = (_E + sym.beta * (_E - _E_PREV) - sym.gamma * GRADIENT, _E)
    source = "Nesterov (1983); Sutskever et al. (2013); Varre & Flammarion, arXiv:2203.01744"


_Y = sp.Symbol("y_i", real=True)
GAMMA1 = sp.Symbol("gamma_1", positive=True)
GAMMA3 = sp.Symbol("gamma_3", nonnegative=True)
DELTA = sp.Symbol("Delta", nonnegative=True)


class GeneralizedMomentum(Algorithm):
    r"""The generalised momentum of DANA (Ferbach et al., arXiv:2505.16098, Alg. 1).

    .. math::
        y_k = (1 - \Delta_k)\, y_{k-1} + \gamma_1 g_k,\qquad
        \theta_{k+1} = \theta_k - \gamma_2 g_k - \gamma_3(k)\, y_k,\qquad y_{-1} = 0,

    with g_k the minibatch gradient at theta_k. Hyperparameters: ``learning_rate``
    (gamma_2 > 0), ``gamma1`` (> 0), ``gamma3`` (>= 0) and ``delta`` (Delta in
    [0, 1]); ``gamma3`` and ``delta`` may be callables of the step k (e.g.
    DANA-decaying gamma_3(k) = c (1 + k)^{-1/(2 alpha)}, Delta(k) = delta/(delta + k))
    in :meth:`theory.Recursion.trajectory` and :func:`verify.simulate`. The
    state per direction is (e_k, y_{k-1}); SGD-M with (beta, gamma) is
    gamma1 = gamma, gamma2 = 0... in the package gamma_2 > 0 is required, so
    use a tiny gamma_2 only through :class:`HeavyBall` instead.

    Example
    -------
    >>> GeneralizedMomentum().update[1]
    g_i*gamma_1 + y_i*(1 - Delta)

    Source: Ferbach, Everett, Gidel, Paquette, Paquette, arXiv:2505.16098.
    """

    name = "generalized_momentum"
    state = (_E, _Y)
    hyperparameters = {"learning_rate": sym.gamma, "gamma1": GAMMA1, "gamma3": GAMMA3, "delta": DELTA}
    gradient_point = _E
    update = (_E - sym.gamma * GRADIENT - GAMMA3 * ((1 - DELTA) * _Y + GAMMA1 * GRADIENT),
              (1 - DELTA) * _Y + GAMMA1 * GRADIENT)
    source = "Ferbach et al., arXiv:2505.16098 (DANA)"

    def initial_state(self, error):
        import numpy as np
        return (error, np.zeros_like(np.asarray(error, dtype=float)))

    def check_hyperparameters(self, values):
        from .validation import _scalar
        for name, lo, lo_open in (("gamma1", 0.0, True), ("gamma3", 0.0, False)):
            x = _scalar(values[name], name)
            if not (x > lo if lo_open else x >= lo) or x != x or abs(x) == float("inf"):
                raise ValueError(f"{name} must be finite and {'>' if lo_open else '>='} {lo}; got {values[name]!r}")
        x = _scalar(values["delta"], "delta")
        if not (0.0 <= x <= 1.0):
            raise ValueError(f"delta must lie in [0, 1]; got {values['delta']!r}")

    def latex_update(self) -> str:
        return super().latex_update() + " \\\\\n" + r"y_{-1,i} &= 0"

    def second_moment_symbol(self, a: int, b: int) -> sp.Symbol:
        names = {(0, 0): sym.m, (0, 1): sp.Symbol("c_i^y", real=True),
                 (1, 1): sp.Symbol("m_i^y", nonnegative=True)}
        return names[(a, b)]

    def _names(self):
        return {**super()._names(), _Y: r"y_{k-1,i}", GAMMA1: r"\gamma_1", GAMMA3: r"\gamma_3",
                DELTA: r"\Delta", sp.Symbol("c_i^y", real=True): r"\mathbb{E} e_{k,i} y_{k-1,i}",
                sp.Symbol("m_i^y", nonnegative=True): r"\mathbb{E} y_{k-1,i}^2"}
