r"""Sparse inputs (Everett & Paquette, arXiv:2605.28961): each coordinate is active with
probability p_i, Gaussian when active.

x_i = sqrt(lambda_i / p_i) b_i g_i with b_i ~ Bernoulli(p_i), g_i ~ N(0, 1) independent, so
E x_i^2 = lambda_i and the standardised coordinate has E z^4 = 3 / p_i. The second-moment
dynamics therefore are those of :class:`theory.IndependentCoordinates` with kappa_i = 3/p_i;
the data model is :class:`theory.SparseGaussian` (re-exported here); this module adds the per-frequency stability condition of heavy ball derived from the secular equation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import sympy as sp

from . import symbols as sym
from .algorithms import HeavyBall
from .data import SparseGaussian
from .derive import derive
from .diskcache import persistent
from .validation import check_eigenvalues, check_integer, check_positive, check_sparsity

__all__ = [
    "SPARSITY",
    "SparseGaussian",
    "SparseTimescales",
    "SpectralConflict",
    "learning_timescale",
    "momentum_retention_timescale",
    "per_frequency_critical_learning_rate",
    "sparse_timescales",
    "spectral_conflict",
    "timescale_ratio",
]

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
    return _per_frequency_critical_learning_rate(batch)


@persistent
def _per_frequency_critical_learning_rate(batch):
    """The derivation of :func:`per_frequency_critical_learning_rate` (cached in memory and on disk)."""
    G = derive(HeavyBall(), SparseGaussian(1.0)).secular_term(1)
    x = sp.Symbol("x", positive=True)  # gamma * lambda
    G = sp.simplify(G.subs(sym.gamma, x / sym.lam).subs(sym.kappa, 3 / SPARSITY))
    if batch is not None:
        G = G.subs(sym.B, batch)
    sols = [s for s in sp.solve(sp.Eq(G, 1), x) if s != 0]
    exact = sp.factor(sols[0])
    limit = sp.factor(sp.limit(exact / SPARSITY, SPARSITY, 0) * SPARSITY)
    return exact, limit



# --------------------------------------------------------------------------- timescales
#: momentum retention timescale (in active updates of coordinate i) and learning timescale
TAU_RET = sp.Symbol(r"\tau_{\mathrm{ret}}", positive=True)
TAU_LEARN = sp.Symbol(r"\tau_{\mathrm{learn}}", positive=True)


@dataclass
class SparseTimescales:
    r"""The package's timescales of heavy ball on a coordinate active with probability p.

    Definitions (units: *active updates* of coordinate i, i.e. steps at which x_i != 0):

    * decay of the buffer between consecutive active updates: the gap T between them is
      Geometric(p) on {1, 2, ...}, and the buffer is multiplied by beta each step, so
      :math:`\rho = E\,\beta^T = \sum_{t\ge1} \beta^t p (1-p)^{t-1}`;
    * retention timescale :math:`\tau_{ret} = \sum_{m\ge0} \rho^m = 1/(1-\rho)`, the expected number
      of active updates that one gradient contribution survives in the buffer (>= 1; = 1 for beta = 0);
    * learning timescale :math:`\tau_{learn} = 1/s` with s the step per active update when the buffer
      delivers its whole displacement: one gradient moves the iterate by gamma sum_k beta^k = gamma/(1-beta)
      in total and E[x_i^2 | x_i != 0] = lambda_i / p, so :math:`s = \gamma\lambda_i/((1-\beta)p)`: the
      number of active updates that reduce the error by a factor e at first order;
    * their ratio :math:`r = \tau_{learn}/\tau_{ret}`.

    Derived (SymPy, from the heavy-ball recursion with kappa = 3/p):

    * ``critical``: the exact per-frequency stability condition (d = 1) as
      :math:`\tau_{learn} > \tau_c(p,\beta,B)`, and ``critical_limit`` its p -> 0 limit 3/(2B);
    * ``slow_root``: the slow root of the mean characteristic polynomial
      z^2 - (1 + beta - gamma lambda) z + beta, expanded at large tau_learn:
      :math:`z = 1 - \frac{p}{\tau_{learn}}\bigl(1 + \frac{\tau_{ret}-1}{\tau_{learn}} + O(\tau_{learn}^{-2})\bigr)`;
      the leading term is SGD at gamma/(1-beta) (per-step rate p/tau_learn), and ``sgd_correction`` =
      (tau_ret - 1)/tau_learn is the relative correction: the SGD limit holds when learning is
      much slower than retention, heavy-ball dynamics when tau_learn ~ tau_ret - 1, and the run
      is unstable when tau_learn < tau_c (-> 3/(2B) for sparse coordinates).

    Source: the regimes are those described by Everett & Paquette, arXiv:2605.28961 (REFERENCES.md
    entry 4); the definitions and formulas here are the package's own.
    """

    decay: sp.Expr
    retention: sp.Expr
    learning: sp.Expr
    ratio: sp.Expr
    critical: sp.Expr
    critical_limit: sp.Expr
    slow_root: sp.Expr
    sgd_correction: sp.Expr

    def latex(self) -> str:
        """The definitions and derived relations as an amsmath ``align*`` environment."""
        n = dict(sym.LATEX_NAMES)

        def t(e):
            return sp.latex(e, symbol_names=n)
        rows = [
            r"\rho &= \mathbb{E}\,\beta^{T},\ T\sim\mathrm{Geom}(p_i) = " + t(self.decay),
            r"\tau_{\mathrm{ret}} &= \frac{1}{1-\rho} = " + t(self.retention),
            r"\tau_{\mathrm{learn}} &= \frac{(1-\beta)\,p_i}{\gamma\lambda_i} = " + t(self.learning),
            r"\frac{\tau_{\mathrm{learn}}}{\tau_{\mathrm{ret}}} &= " + t(self.ratio),
            r"\text{stable (}d=1\text{)} &\iff \tau_{\mathrm{learn}} > \tau_c = " + t(self.critical)
            + r" \xrightarrow{p_i\to0} " + t(self.critical_limit),
            r"z_{\mathrm{slow}} &= " + t(self.slow_root) + r" + O(\tau_{\mathrm{learn}}^{-3})",
            r"\frac{z_{\mathrm{slow}} - z_{\mathrm{SGD}}}{z_{\mathrm{SGD}} - 1} &= " + t(self.sgd_correction)
            + r" + O(\tau_{\mathrm{learn}}^{-2})\quad (z_{\mathrm{SGD}} = 1 - \gamma\lambda_i/(1-\beta))",
        ]
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def _convergent_branch(expr):
    """The closed form of a geometric sum returned by SymPy as Piecewise((closed, |ratio| < 1), ...)."""
    expr = sp.piecewise_fold(expr)
    return expr.args[0][0] if isinstance(expr, sp.Piecewise) else expr


def sparse_timescales() -> SparseTimescales:
    r"""Derive the retention and learning timescales of heavy ball on sparse coordinates.

    See :class:`SparseTimescales` for the definitions; every relation is computed by SymPy
    (geometric sums, the derived secular equation of ``derive(HeavyBall(), SparseGaussian)``
    solved for gamma, the series of the slow root of the mean recursion).

    Example
    -------
    >>> ts = sparse_timescales()
    >>> sp.simplify(ts.retention - (1 - sym.beta + SPARSITY * sym.beta) / (1 - sym.beta))
    0
    >>> ts.critical_limit
    3/(2*B)
    """
    return _sparse_timescales()


@persistent
def _sparse_timescales() -> SparseTimescales:
    """The derivation of :func:`sparse_timescales` (cached in memory and on disk: the SymPy sums,
    solves and series take seconds, loading them milliseconds)."""
    p, b, g, lam = SPARSITY, sym.beta, sym.gamma, sym.lam
    t = sp.Symbol("t", integer=True, positive=True)
    bb = sp.Symbol("b", positive=True)  # |beta| < 1 for convergence of the sums; substituted back after
    decay = sp.summation(bb ** t * p * (1 - p) ** (t - 1), (t, 1, sp.oo))
    decay = sp.simplify(_convergent_branch(decay)).subs(bb, b)
    retention = sp.factor(sp.simplify(1 / (1 - decay)))
    m = sp.Symbol("m", integer=True, nonnegative=True)
    impulse = sp.summation(bb ** m, (m, 0, sp.oo))  # total displacement of one gradient / gamma
    impulse = _convergent_branch(impulse).subs(bb, b)
    second = sp.Integer(1) / p  # E[z^2 | active] for z = b g / sqrt(p): E z^2 / P(active)
    learning = sp.simplify(1 / (g * impulse * lam * second))
    ratio = sp.factor(sp.simplify(learning / retention))
    exact, _ = per_frequency_critical_learning_rate()
    critical = sp.factor(sp.simplify(learning.subs(g, exact / lam)))
    critical_limit = sp.simplify(sp.limit(critical, p, 0))
    # slow root of the mean recursion e_{k+1} = (1 + beta - gamma lambda) e_k - beta e_{k-1}
    eps = sp.Symbol("epsilon", positive=True)  # 1/tau_learn
    q = sp.Symbol("q", positive=True)  # 1 - beta > 0, so that sqrt((1 - beta)^2) = 1 - beta
    x = q * p * eps  # gamma lambda at tau_learn = 1/eps
    z = sp.Symbol("z")
    roots = sp.solve(z ** 2 - (2 - q - x) * z + (1 - q), z)
    slow = next(r for r in roots if sp.simplify(sp.limit(r, eps, 0) - 1) == 0)
    series = sp.expand(sp.series(slow, eps, 0, 3).removeO())
    first, second_order = series.coeff(eps, 1), series.coeff(eps, 2)
    corr = sp.simplify((second_order / first).subs(q, 1 - b))
    if sp.simplify(first + p) != 0 or sp.simplify(corr - (retention - 1)) != 0:  # pragma: no cover
        raise RuntimeError(f"slow-root series {series} is not 1 - p eps (1 + (tau_ret - 1) eps)")
    slow_root = 1 - p / TAU_LEARN * (1 + (TAU_RET - 1) / TAU_LEARN)
    sgd_correction = (TAU_RET - 1) / TAU_LEARN
    return SparseTimescales(decay, retention, learning, ratio, critical, critical_limit, slow_root, sgd_correction)


def _check_beta(beta):
    x = float(beta) if isinstance(beta, (int, float, np.floating, np.integer)) else None
    if x is None or not math.isfinite(x) or not (-1 < x < 1):
        raise ValueError(f"beta (momentum) must lie in (-1, 1); got {beta!r}")
    return x


def _check_p(p):
    arr = check_sparsity(p)
    if arr.ndim:
        raise ValueError(f"p must be a single probability in (0, 1]; got shape {arr.shape}")
    return float(arr)


def momentum_retention_timescale(p, beta) -> float:
    r"""tau_ret = (1 - beta + p beta)/(1 - beta): active updates of a coordinate with sparsity p
    that one gradient contribution survives in the heavy-ball buffer (see :class:`SparseTimescales`).

    Raises ValueError unless 0 < p <= 1 and -1 < beta < 1.

    >>> round(momentum_retention_timescale(0.05, 0.99), 6)
    5.95
    """
    p, b = _check_p(p), _check_beta(beta)
    return float(sparse_timescales().retention.subs({SPARSITY: p, sym.beta: b}))


def learning_timescale(learning_rate, eigenvalue, p, beta) -> float:
    r"""tau_learn = (1 - beta) p / (gamma lambda_i): active updates that reduce the error of the
    coordinate by a factor e when the buffer delivers gamma/(1 - beta) per gradient.

    Raises ValueError unless learning_rate > 0, eigenvalue > 0, 0 < p <= 1, -1 < beta < 1.

    >>> learning_timescale(0.0025, 1.0, 0.05, 0.5)
    10.0
    """
    check_positive(learning_rate, "learning_rate")
    check_positive(eigenvalue, "eigenvalue")
    p, b = _check_p(p), _check_beta(beta)
    return (1 - b) * p / (float(learning_rate) * float(eigenvalue))


def timescale_ratio(learning_rate, eigenvalue, p, beta) -> float:
    r"""r = tau_learn / tau_ret (>> 1: SGD limit; tau_learn below tau_c -> 3/(2B): unstable).

    >>> round(timescale_ratio(0.0025, 1.0, 0.05, 0.5), 6)
    9.52381
    """
    return learning_timescale(learning_rate, eigenvalue, p, beta) / momentum_retention_timescale(p, beta)


# --------------------------------------------------------------------------- spectral conflict
@dataclass
class SpectralConflict:
    r"""Best momenta of two groups of coordinates with sparsities p_1 != p_2.

    Attributes
    ----------
    sparsities : (p_1, p_2)
    best : (beta_1*, beta_2*)
        Minimisers over beta of the exact spectral radius (convergence rate per step) of the
        derived heavy-ball map of each group alone.
    radius : 2x2 array
        radius[g, h] = spectral radius of group g at beta_h*.
    compromise : float
        The single beta maximising the efficiency min_g log rho_g(beta) / log rho_g(beta_g*) (the
        rate of the worse-served group relative to its own best), and ``efficiency`` that value
        (< 1: one global beta is slower than its own best for at least one group).
    """

    sparsities: tuple
    best: tuple
    radius: np.ndarray
    compromise: float
    efficiency: float


def spectral_conflict(p1, p2, learning_rate, eigenvalue=1.0, dimension=8, batch=1,
                      beta_range=(-0.9, 0.999)) -> SpectralConflict:
    r"""The spectral conflict of heavy ball with two sparsities (Everett & Paquette, arXiv:2605.28961).

    Each group is ``dimension`` coordinates with eigenvalue ``eigenvalue`` and sparsity p_g run
    alone; its convergence rate is the exact spectral radius rho_g(beta) of the derived map of
    ``derive(HeavyBall(), SparseGaussian(p_g))`` at the common learning rate. The minimisers
    beta_g* are found by a grid scan and bounded Brent refinement (SciPy).

    Raises ValueError for p outside (0, 1], p1 == p2, learning_rate <= 0, eigenvalue <= 0,
    dimension or batch < 1, or a beta_range not inside (-1, 1).

    >>> c = spectral_conflict(0.05, 0.5, 0.01)
    >>> bool(c.best[0] < c.best[1] and c.efficiency < 1)
    True
    """
    from scipy.optimize import minimize_scalar
    p1, p2 = _check_p(p1), _check_p(p2)
    if p1 == p2:
        raise ValueError(f"p1 and p2 must differ for a spectral conflict; got {p1!r} twice")
    check_positive(learning_rate, "learning_rate")
    lam = check_eigenvalues([eigenvalue], "eigenvalue")
    dimension = check_integer(dimension, "dimension")
    batch = check_integer(batch, "batch")
    lo, hi = (_check_beta(x) for x in beta_range)
    if not lo < hi:
        raise ValueError(f"beta_range must be (low, high) with low < high inside (-1, 1); got {beta_range!r}")
    lam = np.repeat(lam, dimension)
    recs = [derive(HeavyBall(), SparseGaussian(p)) for p in (p1, p2)]

    def rho(g, b):
        return recs[g].spectral_radius(lam, learning_rate, batch, momentum=b)
    grid = np.linspace(lo, hi, 61)
    best = []
    for g in range(2):
        r = np.array([rho(g, b) for b in grid])
        i = int(np.argmin(r))
        a, c = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        best.append(float(minimize_scalar(lambda b, g=g: rho(g, b), bounds=(a, c), method="bounded",
                                          options={"xatol": 1e-6}).x))
    radius = np.array([[rho(g, best[h]) for h in range(2)] for g in range(2)])
    own = [radius[0, 0], radius[1, 1]]
    if max(own) >= 1:
        raise ValueError(f"learning_rate={learning_rate!r} is unstable for a group at every beta "
                         f"(best spectral radii {own}); choose a smaller learning rate")

    def efficiency(b):  # min over groups of (rate at b) / (own best rate), rate = -log rho
        return min(math.log(rho(g, b)) / math.log(own[g]) for g in range(2))
    a, c = sorted(best)  # the compromise lies between the two optima
    comp = float(minimize_scalar(lambda b: -efficiency(b), bounds=(a, c), method="bounded",
                                 options={"xatol": 1e-6}).x)
    return SpectralConflict((p1, p2), tuple(best), radius, comp, efficiency(comp))
