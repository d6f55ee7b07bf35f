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

__all__ = ["Algorithm", "SGD", "GRADIENT"]

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

    def second_moment_symbol(self, a: int, b: int) -> sp.Symbol:
        """Symbol of E[s_a s_b] (a <= b) in the per-direction state."""
        return sym.m if (a, b) == (0, 0) else sp.Symbol(f"m_i^({a}{b})", real=True)

    def latex_update(self) -> str:
        lines = []
        for s, new in zip(self.state, self.update):
            lhs = sp.latex(s, symbol_names=self._names()).replace("_{k,i}", "_{k+1,i}")
            lines.append(lhs + " &= " + sp.latex(new, symbol_names=self._names(), order="none"))
        return r" \\ ".join(lines)

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
