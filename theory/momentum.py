r"""Momentum-specific derived objects: the stable region in the (learning rate, momentum)
plane and the effective learning rate of heavy ball.

Both are built on the generic derivation (:func:`theory.derive`) and the generic linear
mechanism (:class:`theory.linear.BlockRankOne`); nothing here is typed from a paper.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import symbols as sym
from .algorithms import SGD, HeavyBall
from .data import DataModel, Gaussian
from .derive import derive
from .validation import check_eigenvalues, check_integer

__all__ = ["StableRegion", "stable_region", "EffectiveLearningRate", "effective_learning_rate"]


@dataclass
class StableRegion:
    """The stable region of a momentum method on a grid, ready for ``matplotlib.pcolormesh``.

    Attributes
    ----------
    learning_rates : ndarray, shape (n,)
    momenta : ndarray, shape (m,)
    spectral_radius : ndarray, shape (m, n)
        Spectral radius of the second-moment map at (momenta[a], learning_rates[b]).
    stable : ndarray of bool, shape (m, n)
        ``spectral_radius < 1``.
    critical_learning_rate : ndarray, shape (m,)
        gamma_c(beta) for each momentum (the boundary curve), NaN if none exists.
    """

    learning_rates: np.ndarray
    momenta: np.ndarray
    spectral_radius: np.ndarray
    stable: np.ndarray
    critical_learning_rate: np.ndarray


def _grid(values, name, lo=None, hi=None):
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size == 0 or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be a non-empty 1-D array of finite numbers; got {values!r}")
    if lo is not None and np.any(arr <= lo) or hi is not None and np.any(arr >= hi):
        raise ValueError(f"{name} must lie in the open interval ({lo}, {hi}); got {values!r}")
    return arr


def stable_region(eigenvalues, learning_rates, momenta, batch=1, algorithm=None, data=None) -> StableRegion:
    r"""Spectral radius of the second-moment map on a (momentum x learning rate) grid.

    The method is mean-square stable at (gamma, beta) iff rho(L(gamma, beta)) < 1, with
    L = blockdiag(A_i) + u v^T the derived second-moment map; the boundary is
    gamma_c(beta) from :meth:`theory.Recursion.critical_learning_rate`.

    Parameters
    ----------
    eigenvalues : array_like, shape (d,)
    learning_rates : array_like, shape (n,), each > 0
    momenta : array_like, shape (m,), each in (-1, 1)
    batch : int >= 1
    algorithm : HeavyBall (default) or Nesterov
    data : DataModel, default Gaussian()

    Returns
    -------
    StableRegion

    Raises
    ------
    ValueError
        Bad eigenvalues, grids outside their ranges, or batch < 1.

    Example
    -------
    >>> reg = stable_region([1.0] * 4, [0.1, 0.5, 1.0], [-0.5, 0.0, 0.5])
    >>> reg.stable.shape, bool(reg.stable[1, 0])
    ((3, 3), True)

    Source: the exact second-moment map of Paquette & Paquette, arXiv:2106.03696
    (stability of SGD with momentum).
    """
    lam = check_eigenvalues(eigenvalues)
    lrs = _grid(learning_rates, "learning_rates", 0.0, None)
    betas = _grid(momenta, "momenta", -1.0, 1.0)
    batch = check_integer(batch, "batch", 1)
    rec = derive(algorithm or HeavyBall(), data or Gaussian())
    rho = np.array([[rec.spectral_radius(lam, g, batch, momentum=b) for g in lrs] for b in betas])
    gc = np.empty(len(betas))
    for a, b in enumerate(betas):
        try:
            gc[a] = rec.critical_learning_rate(lam, batch, momentum=b)
        except RuntimeError:
            gc[a] = np.nan
    return StableRegion(lrs, betas, rho, rho < 1, gc)


@dataclass
class EffectiveLearningRate:
    r"""Heavy ball (gamma, beta) against SGD with the effective learning rate gamma/(1 - beta).

    Attributes
    ----------
    heavy_ball, sgd : sympy.Expr
        Per-direction secular terms G_i(1) of the stationary risk R = sigma^2/(2(1 - sum_i G_i))
        for heavy ball and for SGD at gamma/(1 - beta).
    difference : sympy.Expr
        Exact G_i^HB - G_i^SGD (a rational function of gamma, beta, lambda_i, B, kappa_i).
    leading : sympy.Expr
        Its leading term in gamma (order gamma^2; the order-gamma terms cancel).
    relative_leading : sympy.Expr
        leading / (order-gamma term of G_i): the relative size of the correction.
    """

    data: DataModel
    heavy_ball: sp.Expr
    sgd: sp.Expr
    difference: sp.Expr
    leading: sp.Expr
    relative_leading: sp.Expr

    def latex(self) -> str:
        """The derivation as an amsmath ``align*`` environment."""
        n = sym.LATEX_NAMES

        from .latex import align, fraction_rows, tidy, to_latex
        from .latex import rows as broken

        rows = [
            r"R_\infty &= \frac{\sigma^2}{2(1 - \sum_i G_i)}\ \text{(both methods, Sherman--Morrison)}",
            *broken(r"G_i^{\mathrm{HB}}(\gamma,\beta)", tidy(self.heavy_ball), n),
            *broken(r"G_i^{\mathrm{SGD}}\bigl(\tfrac{\gamma}{1-\beta}\bigr)", tidy(self.sgd), n),
            r"&G_i^{\mathrm{HB}} - G_i^{\mathrm{SGD}} = \Delta G_i,\quad\text{where}",
            *fraction_rows(r"\Delta G_i", self.difference, n),
            r"\Delta G_i &= " + to_latex(tidy(self.leading), n) + r" + O(\gamma^3)",
            r"\frac{G_i^{\mathrm{HB}} - G_i^{\mathrm{SGD}}}{G_i^{\mathrm{SGD}}} &= " + to_latex(tidy(self.relative_leading), n)
            + r" + O(\gamma^2)",
        ]
        return align(rows)


def effective_learning_rate(data: DataModel | None = None) -> EffectiveLearningRate:
    r"""Derive the exact gap between heavy ball (gamma, beta) and SGD at gamma/(1 - beta).

    Both stationary risks have the Sherman--Morrison form R = sigma^2/(2(1 - sum_i G_i))
    with G_i the secular term at z = 1 of each derived recursion. SymPy forms the exact
    difference of the per-direction terms and its expansion in gamma; for independent
    coordinates (any kurtosis) it gives

    .. math:: G_i^{HB} - G_i^{SGD} = -\frac{\beta\gamma^2\lambda_i^2}{2B(1-\beta)^2(1+\beta)} + O(\gamma^3),

    i.e. a relative correction -beta gamma lambda_i / (1 - beta^2): the two agree to
    leading order in the learning rate (Paquette & Paquette, arXiv:2106.03696, Thm. 1:
    the dynamics of SGD with momentum match SGD with gamma/(1 - beta) in the small-batch,
    high-dimensional limit).

    Example
    -------
    >>> from theory.symbols import gamma, beta, lam, B
    >>> e = effective_learning_rate()
    >>> sp.simplify(e.leading + beta * gamma**2 * lam**2 / (2 * B * (1 - beta)**2 * (1 + beta)))
    0
    """
    data = data or Gaussian()
    g, b = sym.gamma, sym.beta
    hb = derive(HeavyBall(), data).secular_term(1)
    sgd = sp.factor(derive(SGD(), data).secular_term(1).subs(g, g / (1 - b)))
    diff = sp.factor(sp.cancel(hb - sgd))
    series = sp.series(diff, g, 0, 3).removeO()
    if sp.simplify(series.coeff(g, 1)) != 0 or sp.simplify(series.coeff(g, 0)) != 0:  # pragma: no cover
        raise RuntimeError("the order-gamma terms of heavy ball and effective SGD do not cancel")
    leading = sp.factor(series.coeff(g, 2) * g**2)
    first = sp.series(sgd, g, 0, 2).removeO()
    return EffectiveLearningRate(data, hb, sgd, diff, leading, sp.factor(sp.cancel(leading / first)))
