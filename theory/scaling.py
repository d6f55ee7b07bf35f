r"""The learning-rate / batch-size ratio: the stationary risk to first order in the learning rate.

Jastrzębski et al. (arXiv:1711.04623, Sec. 3) model SGD by an SDE whose noise
scale is the ratio r = gamma / B, so that to first order only r matters. For
least squares the exact stationary risk is known in closed form (Sherman--Morrison
fixed point of the derived recursion, :meth:`theory.Recursion.stationary_risk`);
writing B = gamma / r and expanding in gamma at fixed r gives

.. math:: R_\infty(\gamma, B) = R_0(r) + \gamma\, R_1(r) + O(\gamma^2),

with R_0 the ratio-only part and R_1 the exact first correction, both derived
here by SymPy from the recursion (series of each direction's term of the
secular sum, then of the closed form of R_inf).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import symbols as sym
from .recursion import SUM_G, Recursion
from .validation import check_eigenvalues, check_nonnegative, check_positive

__all__ = ["RatioExpansion", "learning_rate_batch_ratio_expansion", "RATIO"]

#: the learning-rate / batch-size ratio r = gamma / B
RATIO = sp.Symbol("r", positive=True)
_G0, _G1 = sp.symbols(r"\mathcal{G}_0 \mathcal{G}_1")


@dataclass
class RatioExpansion:
    r"""R_inf = R_0(r) + gamma R_1(r) + O(gamma^2) at fixed r = gamma / B.

    Attributes
    ----------
    term0, term1 : sympy.Expr
        Per-direction g_{0,i}(r) and g_{1,i}(r): G_i(gamma, gamma/r) = g_0 + gamma g_1 + O(gamma^2).
    risk0, risk1 : sympy.Expr
        R_0 and R_1 in terms of the sums G_0 = sum_i g_{0,i}, G_1 = sum_i g_{1,i} and sigma^2.
    """

    recursion: Recursion
    term0: sp.Expr
    term1: sp.Expr
    risk0: sp.Expr
    risk1: sp.Expr

    def latex(self) -> str:
        n = {**sym.LATEX_NAMES, RATIO: "r"}
        return "\n".join([
            r"\begin{align*}",
            r"&r = \gamma / B:\quad R_\infty(\gamma, B) = R_0(r) + \gamma R_1(r) + O(\gamma^2) \\",
            r"R_0 &= " + sp.latex(self.risk0, symbol_names=n) + r",\qquad \mathcal{G}_0 = \sum_i "
            + sp.latex(self.term0, symbol_names=n) + r" \\",
            r"R_1 &= " + sp.latex(self.risk1, symbol_names=n) + r",\qquad \mathcal{G}_1 = \sum_i "
            + sp.latex(self.term1, symbol_names=n),
            r"\end{align*}",
        ])

    def evaluate(self, eigenvalues, ratio, noise_variance):
        """(R_0, R_1) at numeric eigenvalues (d,), ratio r > 0 and sigma^2 >= 0, in float64.

        Raises ValueError on bad input.
        """
        lam = check_eigenvalues(eigenvalues)
        check_positive(ratio, "ratio")
        check_nonnegative(noise_variance, "noise_variance")
        kappa = self.recursion.data.kurtosis_values(len(lam))
        args = [sym.lam, sym.kappa, RATIO]
        g0 = np.sum(sp.lambdify(args, self.term0, "numpy")(lam, kappa, float(ratio)))
        g1 = np.sum(sp.lambdify(args, self.term1, "numpy")(lam, kappa, float(ratio)))
        vals = {_G0: g0, _G1: g1, sym.sigma2: float(noise_variance), RATIO: float(ratio)}
        return float(self.risk0.subs(vals)), float(self.risk1.subs(vals))


def learning_rate_batch_ratio_expansion(recursion: Recursion) -> RatioExpansion:
    r"""Derive R_0(r) and the exact first-order correction R_1(r) of the stationary risk.

    With B = gamma / r, each direction's term of the secular sum
    G_i = v_i^T (I - A_i)^{-1} u_i is expanded in gamma at fixed r, and so is the
    closed form R_inf(G) of :attr:`Recursion.stationary_risk_expression`. For SGD:

    .. math::
        G_i = \frac{r\lambda_i}{2 - \lambda_i(\gamma + r(\kappa_i - 2))},\quad
        R_0 = \frac{\sigma^2}{2(1 - \mathcal{G}_0)},\quad
        R_1 = \frac{\sigma^2 \mathcal{G}_1}{2(1 - \mathcal{G}_0)^2},\quad
        g_{1,i} = \frac{r\lambda_i^2}{(2 - r\lambda_i(\kappa_i - 2))^2}.

    So R_inf depends on (gamma, B) only through gamma/B to first order, and the
    invariance breaks by gamma R_1 > 0 (larger learning rate at the same ratio: higher risk).

    Raises
    ------
    NotImplementedError
        If the recursion's stationary risk is not a function of the secular sum alone.

    Example
    -------
    >>> from theory import derive
    >>> ex = learning_rate_batch_ratio_expansion(derive())
    >>> ex.risk0
    -sigma^2/(2*(\mathcal{G}_0 - 1))

    Source: Jastrzębski et al., "Three factors influencing minima in SGD", arXiv:1711.04623, Sec. 3
    (the ratio gamma/B); the exact risk: Bordelon & Pehlevan, arXiv:2106.02713.
    """
    G = recursion._stationary_terms["G"]
    expr = recursion.stationary_risk_expression
    extra = expr.free_symbols - {SUM_G, sym.sigma2, sym.B, *recursion.hyper_symbols}
    if extra or len(recursion.hyper_symbols) != 1:
        raise NotImplementedError("the ratio expansion is implemented for stationary risks that are a "
                                  "function of the secular sum and sigma^2 (e.g. SGD)")
    gamma = sym.gamma
    eps = sp.Symbol("epsilon_gamma", positive=True)
    Gr = sp.simplify(G.subs(sym.B, gamma / RATIO).subs(gamma, eps))
    series = sp.series(Gr, eps, 0, 2).removeO()
    term0 = sp.factor(series.coeff(eps, 0))
    term1 = sp.factor(series.coeff(eps, 1))
    R = expr.subs(sym.B, gamma / RATIO).subs({SUM_G: _G0 + eps * _G1, gamma: eps})
    rs = sp.series(R, eps, 0, 2).removeO()
    return RatioExpansion(recursion, term0, term1, sp.factor(rs.coeff(eps, 0)), sp.factor(rs.coeff(eps, 1)))
