r"""Sparse inputs (Everett & Paquette, arXiv:2605.28961): each coordinate is active with
probability p_i, Gaussian when active.

x_i = sqrt(lambda_i / p_i) b_i g_i with b_i ~ Bernoulli(p_i), g_i ~ N(0, 1) independent, so
E x_i^2 = lambda_i and the standardised coordinate has E z^4 = 3 / p_i. The second-moment
dynamics therefore are those of :class:`theory.IndependentCoordinates` with kappa_i = 3/p_i;
the data model is :class:`theory.SparseGaussian` (re-exported here); this module adds the per-frequency stability condition of heavy ball derived from the secular equation.
"""
from __future__ import annotations

import sympy as sp

from . import symbols as sym
from .algorithms import HeavyBall
from .data import SparseGaussian
from .derive import derive

__all__ = ["SparseGaussian", "SPARSITY", "per_frequency_critical_learning_rate"]

#: activity probability p_i of coordinate i
SPARSITY = sp.Symbol("p_i", positive=True)


def per_frequency_critical_learning_rate(batch=None):
    r"""Derived critical learning rate of heavy ball for one frequency (d = 1) with sparsity p.

    Solves the secular equation at z = 1, v^T (I - A)^{-1} u = 1, of the derived heavy-ball
    recursion with kappa = 3/p for gamma, and its small-p limit:

    .. math:: \gamma_c\lambda = \frac{2B(1-\beta^2)}{(1+\beta)(3/p - 1) + (1-\beta)B}
              \;\sim\; \frac{2B(1-\beta)}{3}\,p \quad (p \to 0).

    The per-active-update step gamma lambda / p must stay below about 2B(1 - beta)/3: sparse
    coordinates tolerate a learning rate 1/p times larger, but momentum shrinks the window by
    (1 - beta), as for SGD at the effective learning rate gamma/(1 - beta).

    Returns
    -------
    (exact, limit) : sympy.Expr
        gamma_c lambda_i as a function of p_i, beta, B; and the leading term as p -> 0.

    Example
    -------
    >>> exact, limit = per_frequency_critical_learning_rate(batch=1)
    >>> sp.simplify(limit - 2 * (1 - sym.beta) * SPARSITY / 3)
    0
    """
    G = derive(HeavyBall(), SparseGaussian(1.0)).secular_term(1)
    x = sp.Symbol("x", positive=True)  # gamma * lambda
    G = sp.simplify(G.subs(sym.gamma, x / sym.lam).subs(sym.kappa, 3 / SPARSITY))
    if batch is not None:
        G = G.subs(sym.B, batch)
    sols = [s for s in sp.solve(sp.Eq(G, 1), x) if s != 0]
    exact = sp.factor(sols[0])
    limit = sp.factor(sp.limit(exact / SPARSITY, SPARSITY, 0) * SPARSITY)
    return exact, limit
