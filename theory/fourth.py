r"""The fourth-moment (even-sector) recursion of minibatch SGD on least squares.

Setting: the error e = theta - theta* obeys e_{k+1} = e_k - gamma g_k with the
minibatch gradient g = (1/B) sum_b x_b (<x_b, e> - eps_b), x = sqrt(lambda) z,
z with independent *symmetric* standardised coordinates (odd moments 0,
E z^2 = 1, E z^4 = kappa_i, E z^6 = mu_{6,i}, E z^8 = mu_{8,i}) and Gaussian
label noise eps ~ N(0, sigma^2) (E eps^4 = 3 sigma^4). Flipping the sign of
z_i and e_i together leaves the law of the step unchanged, so
E[e_{k+1,i}^2 e_{k+1,j}^2 | e_k] is even in every coordinate of e_k and the
*even sector*

.. math:: Q_{k,ij} = \mathbb{E}\, e_{k,i}^2 e_{k,j}^2 \qquad (d \times d,\ Q_{k,ii} = \mathbb{E}\, e_{k,i}^4)

closes: Q_{k+1} is affine in Q_k and in the second moments m_k (which follow
:func:`theory.derive`).

The derivation (SymPy, nothing typed from a paper):

1. *Per-sample moments.* For a pair i != j write h_i = x_i s, h_j = x_j s with
   s = x_i e_i + x_j e_j + r - eps and r = sum_{k not in {i,j}} x_k e_k,
   independent of x_i, x_j and symmetric given e, with
   E r^2 = S - lambda_i e_i^2 - lambda_j e_j^2 and
   E r^4 = 3 (E r^2)^2 + W - (kappa_i - 3) lambda_i^2 e_i^4 - (kappa_j - 3) lambda_j^2 e_j^4,
   where S = sum_k lambda_k e_k^2 and W = sum_k (kappa_k - 3) lambda_k^2 e_k^4 (the
   exclusions k not in {i, j} become these correction terms). Expanding
   x_i^a x_j^b s^{a+b} and applying the moment rules gives E[h_i^a h_j^b | e].
   On the diagonal, r = sum_{k != i} x_k e_k and E[h_i^a | e], a <= 4.
2. *Batch mean.* E[prod_f g_f | e] over n <= 4 factors is a sum over the set
   partitions pi of the factors: B(B-1)...(B-|pi|+1) / B^n times the product
   over blocks of the single-sample moment of the block (distinct blocks are
   distinct, independent samples).
3. *Average over e.* Expand (e_i - gamma g_i)^2 (e_j - gamma g_j)^2 (and
   (e_i - gamma g_i)^4), insert the batch moments, and replace
   e_i^2 e_j^2 -> Q_ij, e_i^4 -> Q_ii, e_i^2 S -> T_i = sum_l lambda_l Q_il,
   S^2 -> U = sum_{l,l'} lambda_l lambda_l' Q_ll', W -> V = sum_l (kappa_l - 3) lambda_l^2 Q_ll,
   e_i^2 -> m_i, S -> S_k = sum_l lambda_l m_l. Any other monomial (odd in a
   coordinate, or of higher degree) would be an error and raises.

The result, :class:`FourthMomentRecursion`, reads

.. math::
    Q'_{ij} &= a_{ij} Q_{ij} + b_{ij} Q_{ii} + b_{ji} Q_{jj} + p_{ij} T_i + p_{ji} T_j
              + u_{ij} U + v_{ij} V + f_{ij}(m, S, \sigma^2) \quad (i \ne j),\\
    Q'_{ii} &= \alpha_i Q_{ii} + \pi_i T_i + \upsilon_i U + \nu_i V + f_{ii}(m, S, \sigma^2),

each coefficient a polynomial in gamma (degree <= 4) and 1/B; the numeric map
is :class:`theory.fourth_linear.EvenSectorMap` (O(d^2) per step).

Source: fourth moments and heavy tails of SGD near the critical learning rate;
the second-moment analogue is Bordelon & Pehlevan, arXiv:2106.02713 (Sec. 3) and
Paquette et al., arXiv:2102.04396. No formula from a paper is used here.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp
from sympy.utilities.iterables import multiset_partitions

from . import symbols as sym
from .algorithms import SGD, Algorithm
from .data import DataModel, EmpiricalDistribution
from .validation import (check_algorithm_and_data, check_eigenvalues, check_initial, check_integer,
                         check_nonnegative, check_positive)

__all__ = ["derive_fourth", "FourthMomentRecursion", "FourthMomentTrajectory", "TimeAverageCovariance",
           "PAIR_TERMS", "DIAGONAL_TERMS"]

# ---------------------------------------------------------------------------- symbols
lam_j = sp.Symbol("lambda_j", positive=True)
kappa_j = sp.Symbol("kappa_j", positive=True)
mu6_j = sp.Symbol("mu6_j", positive=True)
mu8_j = sp.Symbol("mu8_j", positive=True)
_SWAP_PARAMS = {sym.lam: lam_j, sym.kappa: kappa_j, sym.mu6: mu6_j, sym.mu8: mu8_j}

Q_ij, Q_ii, Q_jj = sp.symbols("Q_ij Q_ii Q_jj", real=True)
T_i, T_j = sp.symbols("T_i T_j", real=True)
U, V = sp.symbols("U V", real=True)
m_j = sp.Symbol("m_j", nonnegative=True)

#: the state symbols of the pair update Q'_ij, in the order of the linear part then the forcing
PAIR_TERMS = (Q_ij, Q_ii, Q_jj, T_i, T_j, U, V, sym.m, m_j, sym.S)
#: the state symbols of the diagonal update Q'_ii
DIAGONAL_TERMS = (Q_ii, T_i, U, V, sym.m, sym.S)

LATEX_NAMES = {
    **sym.LATEX_NAMES, lam_j: r"\lambda_j", kappa_j: r"\kappa_j", mu6_j: r"\mu_{6,j}", mu8_j: r"\mu_{8,j}",
    Q_ij: r"Q_{k,ij}", Q_ii: r"Q_{k,ii}", Q_jj: r"Q_{k,jj}", T_i: r"T_{k,i}", T_j: r"T_{k,j}",
    U: r"U_k", V: r"V_k", m_j: r"m_{k,j}",
}

# internal symbols of the derivation
_E_I, _E_J = sp.symbols("e_i e_j", real=True)            # the error (gradient point) coordinates
_X_I, _X_J, _R, _EPS = sp.symbols("x_i x_j r epsilon", real=True)
_S_COND = sp.Symbol("S_e", nonnegative=True)             # sum_k lambda_k e_k^2 (random, given e)
_W_COND = sp.Symbol("W_e", real=True)                    # sum_k (kappa_k - 3) lambda_k^2 e_k^4
_G_I, _G_J = sp.symbols("G_i G_j", real=True)            # batch-mean gradient coordinates

_NOISE = {0: sp.Integer(1), 2: sym.sigma2, 4: 3 * sym.sigma2**2}   # eps ~ N(0, sigma^2)


# ---------------------------------------------------------------------------- step 1: one sample
def _x_moment(data: DataModel, n: int, direction_j: bool) -> sp.Expr:
    """E x^n = lambda^{n/2} E z^n for one coordinate (0 for odd n: the law is symmetric)."""
    if n % 2:
        return sp.Integer(0)
    rule = sym.lam ** (n // 2) * data.even_moment(n)
    return rule.subs(_SWAP_PARAMS, simultaneous=True) if direction_j else rule


def _excess(data: DataModel, direction_j: bool) -> sp.Expr:
    """kappa - 3 of one coordinate (0 for Gaussian data)."""
    k = data.even_moment(4) - 3
    return k.subs(_SWAP_PARAMS, simultaneous=True) if direction_j else k


def _single_sample_moments(data: DataModel, pair: bool) -> dict:
    r"""E[h_i^a h_j^b | e] (pair, a, b <= 2) or E[h_i^a | e] (a <= 4) for ONE sample.

    Written in e_i, e_j, the conditional sums S_e, W_e, and sigma^2.
    """
    gaussian = _excess(data, False) == 0
    W = sp.Integer(0) if gaussian else _W_COND
    lam_i = sym.lam
    if pair:
        rest2 = _S_COND - lam_i * _E_I**2 - lam_j * _E_J**2
        rest4 = (3 * rest2**2 + W - _excess(data, False) * lam_i**2 * _E_I**4
                 - _excess(data, True) * lam_j**2 * _E_J**4)
        s = _X_I * _E_I + _X_J * _E_J + _R - _EPS
        orders = [(a, b) for a in range(3) for b in range(3)]
    else:
        rest2 = _S_COND - lam_i * _E_I**2
        rest4 = 3 * rest2**2 + W - _excess(data, False) * lam_i**2 * _E_I**4
        s = _X_I * _E_I + _R - _EPS
        orders = [(a, 0) for a in range(5)]
    rest = {0: sp.Integer(1), 2: rest2, 4: rest4}
    out = {}
    for a, b in orders:
        total = sp.Integer(0)
        poly = sp.Poly(sp.expand(_X_I**a * _X_J**b * s ** (a + b)), _X_I, _X_J, _R, _EPS)
        for (na, nb, nr, ne), coeff in poly.terms():
            if nr % 2 or ne % 2 or na % 2 or nb % 2:
                continue  # odd moments of symmetric laws vanish
            if nr > 4 or ne > 4:  # pragma: no cover - a + b <= 4 factors of s
                raise ValueError("moments of order > 4 of the rest or the noise")
            total += (coeff * _x_moment(data, na, False) * _x_moment(data, nb, True)
                      * rest[nr] * _NOISE[ne])
        out[(a, b)] = sp.expand(total)
    return out


# ---------------------------------------------------------------------------- step 2: batch mean
def _batch_moment(single: dict, a: int, b: int) -> sp.Expr:
    r"""E[g_i^a g_j^b | e] for the mean of B independent samples, by set partitions of the factors.

    E[(sum_s h_{s,i})^a (sum_s h_{s,j})^b] = sum over set partitions pi of the a + b
    factors of B (B-1) ... (B - |pi| + 1) prod_{blocks} E[h_i^{a_blk} h_j^{b_blk}]
    (each block is one sample, distinct blocks distinct samples); then divide by B^{a+b}.
    """
    labels = [0] * a + [1] * b
    n = len(labels)
    if n == 0:
        return sp.Integer(1)
    total = sp.Integer(0)
    for partition in multiset_partitions(list(range(n))):
        term = sp.ff(sym.B, len(partition))
        for block in partition:
            na = sum(1 for f in block if labels[f] == 0)
            term *= single[(na, len(block) - na)]
        total += term
    return sp.expand(total / sym.B**n)


def batch_gradient_moments(data: DataModel, pair: bool = True) -> dict:
    r"""Conditional joint moments of the minibatch gradient coordinates given the error e.

    Returns ``{(a, b): E[g_i^a g_j^b | e]}`` for a, b <= 2 (``pair=True``, i != j) or
    ``{(a, 0): E[g_i^a | e]}`` for a <= 4 (``pair=False``), as SymPy expressions in
    the error coordinates ``e_i``, ``e_j``, the conditional sums
    S_e = sum_k lambda_k e_k^2 and W_e = sum_k (kappa_k - 3) lambda_k^2 e_k^4, sigma^2,
    B and the moment rules of ``data`` (see the module docstring for the method).

    Raises
    ------
    ValueError
        If ``data`` has no symmetric moment rules up to order 8
        (e.g. :class:`theory.EmpiricalDistribution`).

    Example
    -------
    >>> from theory import Gaussian
    >>> sp.factor(batch_gradient_moments(Gaussian())[(1, 1)])   # E g_i g_j = lambda_i lambda_j e_i e_j (1 + 1/B)
    e_i*e_j*lambda_i*lambda_j*(B + 1)/B
    """
    single = _single_sample_moments(data, pair)
    return {key: _batch_moment(single, *key) for key in single}


# ---------------------------------------------------------------------------- step 3: average over e
def _average_over_error(expr: sp.Expr, pair: bool) -> sp.Expr:
    """Replace each monomial in (e_i, e_j, S_e, W_e) of E[. | e] by its expectation symbol."""
    table = {
        (4, 0, 0, 0): Q_ii, (0, 4, 0, 0): Q_jj, (2, 2, 0, 0): Q_ij,
        (2, 0, 1, 0): T_i, (0, 2, 1, 0): T_j, (0, 0, 2, 0): U, (0, 0, 0, 1): V,
        (2, 0, 0, 0): sym.m, (0, 2, 0, 0): m_j, (0, 0, 1, 0): sym.S, (0, 0, 0, 0): sp.Integer(1),
    }
    gens = (_E_I, _E_J, _S_COND, _W_COND)
    out = sp.Integer(0)
    for monom, coeff in sp.Poly(sp.expand(expr), *gens).terms():
        if monom not in table or (not pair and monom[1]):
            raise ValueError(f"the even sector does not close: monomial {monom} in (e_i, e_j, S, W)")
        out += coeff * table[monom]
    return sp.expand(out)


def _collect_terms(expr: sp.Expr, terms) -> dict:
    """{symbol: coefficient} of an affine form in ``terms`` (key 1 for the constant)."""
    poly = sp.Poly(expr, *terms)
    out = {}
    for t in terms:
        out[t] = sp.factor(poly.coeff_monomial(t))
    out[sp.Integer(1)] = sp.factor(poly.coeff_monomial(1))
    if poly.total_degree() > 1:  # pragma: no cover - guarded by _average_over_error
        raise ValueError("the even-sector recursion must be affine in the state")
    return out


def derive_fourth(algorithm: Algorithm | None = None, data: DataModel | None = None):
    algorithm, data = check_algorithm_and_data(algorithm, data)
    if type(algorithm) is not SGD:
        raise NotImplementedError(
            f"the fourth-moment recursion is derived for SGD only so far; got {algorithm!r} "
            "(momentum needs the even sector of a per-direction state of size p > 1, the next step)")
    if isinstance(data, EmpiricalDistribution):
        raise ValueError("data must have independent coordinates with a symmetric law for a fourth-moment "
                         "recursion; an empirical distribution has dependent coordinates")
    rules = tuple(data.even_moment(n) for n in (4, 6, 8))
    return _derive_cached(type(algorithm), rules).with_data(data)


@functools.lru_cache(maxsize=None)
def _derive_cached(algorithm_type, rules):
    return _derive(algorithm_type(), _RulesOnly(rules))


class _RulesOnly(DataModel):
    """A stand-in data model carrying only the symbolic even moment rules (the cache key)."""

    def __init__(self, rules):
        self.rules = dict(zip((4, 6, 8), rules)) | {0: sp.Integer(1), 2: sp.Integer(1)}

    def even_moment(self, n):
        return self.rules[n]

    def _key(self):
        return tuple(self.rules.items())


def _derive(algorithm: Algorithm, rules: DataModel):
    r"""Derive the even-sector recursion Q_{k+1} = L(Q_k) + F(m_k, sigma^2) of minibatch SGD.

    Parameters
    ----------
    algorithm : Algorithm, default SGD()
        Only :class:`theory.SGD` so far.
    data : DataModel, default Gaussian()
        Independent coordinates with a symmetric law: :class:`theory.Gaussian`
        (E z^6 = 15, E z^8 = 105), :class:`theory.IndependentCoordinates` (the
        three-point law: E z^6 = kappa^2, E z^8 = kappa^3), :class:`theory.SparseGaussian`
        (15/p^2, 105/p^3), :class:`theory.Rademacher` (1, 1).

    Returns
    -------
    FourthMomentRecursion
        ``.update`` (the two SymPy equations), ``.latex()``, ``.linear_map(...)``,
        ``.trajectory(...)``, ``.time_average_covariance(...)``,
        ``.critical_learning_rate(...)``, ``.spectral_radius(...)``, ``.dense_operator(...)``.

    Raises
    ------
    NotImplementedError
        For algorithms other than SGD.
    ValueError
        For data without symmetric independent coordinates (:class:`theory.EmpiricalDistribution`),
        or an argument that is not an Algorithm / DataModel.

    Example
    -------
    >>> from theory import SGD, Gaussian, derive_fourth
    >>> rec = derive_fourth(SGD(), Gaussian())
    >>> rec.update[1].lhs
    Q_ii'
    >>> round(rec.critical_learning_rate([1.0], batch=1), 10)   # root of E(1 - g z^2)^4 = 1, z ~ N(0, 1)
    0.3834510059

    Source: fourth moments / heavy tails of SGD near the critical learning rate; the
    second-moment analogue is Bordelon & Pehlevan, arXiv:2106.02713. Derived here, no
    paper formula is used.
    """
    gamma = sym.gamma
    # pair i != j
    moments = batch_gradient_moments(rules, pair=True)
    update = sp.Poly(sp.expand((_E_I - gamma * _G_I) ** 2 * (_E_J - gamma * _G_J) ** 2), _G_I, _G_J)
    conditional = sp.expand(sum(c * moments[mon] for mon, c in update.terms()))
    pair = _collect_terms(_average_over_error(conditional, pair=True), PAIR_TERMS)
    # diagonal
    moments_d = batch_gradient_moments(rules, pair=False)
    update_d = sp.Poly(sp.expand((_E_I - gamma * _G_I) ** 4), _G_I)
    conditional_d = sp.expand(sum(c * moments_d[(mon[0], 0)] for mon, c in update_d.terms()))
    diag = _collect_terms(_average_over_error(conditional_d, pair=False), DIAGONAL_TERMS)
    # guard: the pair update is symmetric under i <-> j
    swap = {**{s: t for s, t in _SWAP_PARAMS.items()}, **{t: s for s, t in _SWAP_PARAMS.items()},
            Q_ii: Q_jj, Q_jj: Q_ii, T_i: T_j, T_j: T_i, sym.m: m_j, m_j: sym.m}
    rhs = sum(c * t for t, c in pair.items())
    if sp.expand(rhs - rhs.subs(swap, simultaneous=True)) != 0:  # pragma: no cover - guards the derivation
        raise ValueError("the derived pair update is not symmetric under i <-> j")
    return FourthMomentRecursion(algorithm=algorithm, data=rules, pair=pair, diagonal=diag,
                                 gradient_moments={"pair": moments, "diagonal": moments_d})


derive_fourth.__doc__ = _derive.__doc__ + """
    The symbolic derivation is cached per (algorithm type, symbolic moment rules):
    one for Gaussian data, one for every model with symbolic (kappa, mu_6, mu_8);
    the numeric moments of ``data`` are attached afterwards.
"""


# ---------------------------------------------------------------------------- results
@dataclass
class FourthMomentTrajectory:
    """Exact second and fourth moments along a run from a deterministic e_0.

    Attributes
    ----------
    second_moments : ndarray, shape (steps + 1, d)
        m_{k,i} = E e_{k,i}^2.
    fourth_moments : ndarray, shape (steps + 1, d)
        Q_{k,ii} = E e_{k,i}^4.
    risk : ndarray, shape (steps + 1,)
        E R_k with R_k = (sum_i lambda_i e_{k,i}^2 + sigma^2)/2 the risk of replica theta_k.
    risk_variance : ndarray, shape (steps + 1,)
        Var R_k = (lambda^T Q_k lambda - (lambda^T m_k)^2)/4 (over replicas).
    second_moment_variance : ndarray, shape (steps + 1, d)
        Var(e_{k,i}^2) = Q_{k,ii} - m_{k,i}^2.
    Q : ndarray, shape (steps + 1, d, d) or None
        The whole even sector (only with ``full=True``).
    parameters : dict
    """

    second_moments: np.ndarray
    fourth_moments: np.ndarray
    risk: np.ndarray
    risk_variance: np.ndarray
    second_moment_variance: np.ndarray
    Q: np.ndarray | None = None
    parameters: dict = field(default_factory=dict)


@dataclass
class TimeAverageCovariance:
    """Exact law (mean, covariance) of block time averages of the per-replica risk.

    Blocks are [edges[b], edges[b+1]), b = 0..n-1; the block average of a series
    X_k is (1/(b - a)) sum_{k=a}^{b-1} X_k.

    Attributes
    ----------
    edges : ndarray of int, shape (n + 1,)
    risk_mean : ndarray, shape (n,)
        E of the block-averaged risk.
    risk_covariance : ndarray, shape (n, n)
        Covariance over replicas of the block-averaged risks.
    second_moment_mean : ndarray, shape (n, d)
        E of the block-averaged e_{k,i}^2.
    second_moment_variance : ndarray, shape (n, d)
        Variance over replicas of the block-averaged e_{k,i}^2.
    parameters : dict
    """

    edges: np.ndarray
    risk_mean: np.ndarray
    risk_covariance: np.ndarray
    second_moment_mean: np.ndarray
    second_moment_variance: np.ndarray
    parameters: dict = field(default_factory=dict)


class FourthMomentRecursion:
    """A derived even-sector (fourth-moment) recursion; returned by :func:`derive_fourth`.

    Attributes
    ----------
    algorithm, data
        What it was derived for (``data`` carries the numeric moments).
    pair : dict
        {symbol: coefficient} of Q'_ij (i != j) over :data:`PAIR_TERMS` and 1 (the constant).
    diagonal : dict
        {symbol: coefficient} of Q'_ii over :data:`DIAGONAL_TERMS` and 1.
    gradient_moments : dict
        {"pair": {(a, b): E[g_i^a g_j^b | e]}, "diagonal": {(a, 0): E[g_i^a | e]}}.
    """

    def __init__(self, *, algorithm, data, pair, diagonal, gradient_moments):
        self.algorithm, self.data = algorithm, data
        self.pair, self.diagonal = pair, diagonal
        self.gradient_moments = gradient_moments

    def with_data(self, data):
        """The same symbolic recursion with the numeric moments of ``data``."""
        other = object.__new__(FourthMomentRecursion)
        other.__dict__.update(self.__dict__)
        other.data = data
        return other

    def __repr__(self):
        return f"FourthMomentRecursion(algorithm={self.algorithm!r}, data={self.data!r})"

    # ------------------------------------------------------------------ symbolic
    @functools.cached_property
    def update(self) -> list:
        """[Eq(Q_ij', ...) for i != j, Eq(Q_ii', ...)] with the state symbols of
        :data:`PAIR_TERMS` / :data:`DIAGONAL_TERMS` (T_i = sum_l lambda_l Q_il,
        U = sum_{l,l'} lambda_l lambda_l' Q_ll', V = sum_l (kappa_l - 3) lambda_l^2 Q_ll,
        S = sum_l lambda_l m_l)."""
        def rhs(coeffs):
            terms = []
            for t, c in coeffs.items():
                if c != 0:
                    c = sp.collect(sp.expand(c), sym.gamma, sp.factor)
                    terms.append(c if t == 1 else sp.Mul(c, t, evaluate=False))
            return sp.Add(*terms)
        return [sp.Eq(sp.Symbol("Q_ij'"), rhs(self.pair)), sp.Eq(sp.Symbol("Q_ii'"), rhs(self.diagonal))]

    def latex(self) -> str:
        """The derivation as a LaTeX ``align*`` environment (amsmath)."""
        from .fourth_linear import latex_block
        return latex_block(self)

    # ------------------------------------------------------------------ numerics
    @functools.cached_property
    def _compiled(self):
        from .fourth_linear import compile_coefficients
        return compile_coefficients(self)

    def _moment_values(self, lam):
        vals = self.data.even_moment_values(len(lam))
        return [np.broadcast_to(np.asarray(vals[s], dtype=float), lam.shape)
                for s in (sym.kappa, sym.mu6, sym.mu8)]

    def _check(self, eigenvalues, learning_rate, batch, noise_variance):
        lam = check_eigenvalues(eigenvalues)
        if learning_rate is not None:
            check_positive(learning_rate, "learning_rate")
        batch = check_integer(batch, "batch", 1)
        check_nonnegative(noise_variance, "noise_variance")
        return lam, batch

    def linear_map(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0):
        """The recursion at numeric parameters, per direction, as an
        :class:`theory.fourth_linear.EvenSectorMap` (float64; one step costs O(d^2)).

        Raises ValueError on bad input.

        Example
        -------
        >>> from theory import derive_fourth
        >>> mp = derive_fourth().linear_map([1.0, 0.5], 0.1, batch=2)
        >>> e2 = np.array([1.0, 4.0])            # e = (1, 2): Q = e^2 e^2^T, m = e^2
        >>> mp.apply(np.outer(e2, e2), e2).shape
        (2, 2)
        """
        from .fourth_linear import EvenSectorMap
        lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance)
        return EvenSectorMap.build(self, lam, np.ones(len(lam), dtype=int), float(learning_rate), batch,
                                   float(noise_variance), with_second=True)

    def _class_map(self, lam, learning_rate, batch):
        """The map restricted to class-symmetric matrices (directions merged by (lambda, kappa, mu6, mu8))."""
        from .fourth_linear import EvenSectorMap
        keys = np.stack([lam, *self._moment_values(lam)], axis=1)
        uniq, counts = np.unique(keys, axis=0, return_counts=True)
        return EvenSectorMap.build(self, uniq[:, 0], counts, learning_rate, batch, 0.0,
                                   moments=[uniq[:, 1], uniq[:, 2], uniq[:, 3]])

    def dense_operator(self, eigenvalues, learning_rate, batch=1) -> np.ndarray:
        r"""Dense matrix of the linear part Q -> L(Q) on the d(d+1)/2 coordinates Q_ij, i <= j.

        Coordinates in row-major order of the upper triangle, (0,0), (0,1), ..., (0,d-1),
        (1,1), ...; a symmetric Q has Q_ji = Q_ij. Cost O(d^4) memory: for tests and small d.

        Raises ValueError on bad input (d > 64 among them).

        Example
        -------
        >>> from theory import derive_fourth
        >>> derive_fourth().dense_operator([1.0, 0.5], 0.1).shape
        (3, 3)
        """
        lam, batch = self._check(eigenvalues, learning_rate, batch, 0.0)
        if len(lam) > 64:
            raise ValueError(f"eigenvalues must have at most 64 entries for a dense operator; got {len(lam)}")
        return self.linear_map(lam, learning_rate, batch).dense()

    def spectral_radius(self, eigenvalues, learning_rate, batch=1) -> float:
        """Spectral radius of the linear part of the Q-map (the fourth moments are stable iff < 1).

        Computed on the class-reduced operator plus its complement (identical directions
        merged, see :meth:`critical_learning_rate`); the numbers of distinct classes must be
        at most 80. Raises ValueError on bad input.

        Example
        -------
        >>> from theory import derive_fourth
        >>> derive_fourth().spectral_radius([1.0] * 100, 0.01) < 1
        True
        """
        lam, batch = self._check(eigenvalues, learning_rate, batch, 0.0)
        cm = self._class_map(lam, float(learning_rate), batch)
        if cm.classes > 80:
            raise ValueError(f"eigenvalues must have at most 80 distinct (eigenvalue, moment) classes for the "
                             f"dense spectral radius; got {cm.classes} (use critical_learning_rate)")
        return float(np.max(np.abs(cm.eigenvalues())))

    def critical_learning_rate(self, eigenvalues, batch=1, dps=None):
        r"""The fourth-moment critical learning rate gamma_c^(4).

        The smallest learning rate at which the spectral radius of the linear part L of
        the Q-map reaches 1. The full (Q, m) system is block triangular, so its spectral
        radius is max(rho(L), rho(L_m)); by Jensen Q_ii >= m_i^2, so gamma_c^(4) <= gamma_c.

        Method. L maps the cone of completely positive matrices (E[y y^T], y >= 0: the
        even sector of *some* law of e) into itself, so by Krein--Rutman rho(L) is an
        eigenvalue of L with an eigenvector in that cone, and averaging that eigenvector
        over permutations of identical directions keeps it an eigenvector: rho(L) is
        attained on class-symmetric matrices (directions with equal (lambda, kappa, mu_6,
        mu_8) merged; :meth:`spectral_radius` also computes the complement). There

        .. math:: \det(zI - L) = \det(zI - L_0)\,\det(I - M(z)),

        L_0 the part without the couplings T, U, V (triangular) and M(z) the
        (C + 2) x (C + 2) matrix of the couplings through (zI - L_0)^{-1}, C the number of
        classes. Since the exit is at z = 1, gamma_c^(4) is the first sign change of
        det(I - L(gamma)) on (0, gamma_c]: a scan of 40 points, then Brent's method in
        float64, and with ``dps`` a refinement of det(I - L) = 0 in mpmath (at most 40
        classes). Cost O(C^3) per evaluation: d = 1024 distinct eigenvalues in about 10 s,
        a two-class spectrum of any d in milliseconds.

        Parameters
        ----------
        eigenvalues : array_like, shape (d,)
            lambda_i > 0.
        batch : int >= 1
        dps : int, optional
            Decimal digits; with it the result is an ``mpmath.mpf``.

        Returns
        -------
        float or mpmath.mpf

        Raises
        ------
        ValueError
            Bad eigenvalues, batch or dps; dps with more than 40 classes.
        RuntimeError
            If det(I - L) has no sign change on (0, gamma_c] (no crossing found), or the
            mpmath refinement leaves the float64 bracket.

        Example
        -------
        >>> from theory import derive, derive_fourth
        >>> lam = 1.0 / np.arange(1, 17)
        >>> g4 = derive_fourth().critical_learning_rate(lam, batch=2)
        >>> gc = derive().critical_learning_rate(lam, batch=2)
        >>> g4 < gc
        True

        Source: the crossing of the second-moment map is Bordelon & Pehlevan,
        arXiv:2106.02713, Sec. 3; the fourth-moment crossing is derived here.
        """
        from .fourth_linear import critical_crossing
        lam, batch = self._check(eigenvalues, None, batch, 0.0)
        if dps is not None:
            dps = check_integer(dps, "dps", 1)
        from .derive import derive
        second = derive(SGD(), self._second_data()).critical_learning_rate(lam, batch=batch)
        return critical_crossing(self, lam, batch, second, dps)

    def _second_data(self):
        """The data model for the second-moment recursion (the numeric one attached)."""
        return self.data

    # ------------------------------------------------------------------ trajectories
    def trajectory(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, initial=1.0, steps=100,
                   full=False) -> FourthMomentTrajectory:
        r"""Exact E e_{k,i}^2, E e_{k,i}^4, the risk and its variance over replicas, k = 0..steps.

        From the deterministic initial error e_0 (``initial``, scalar or shape (d,)):
        m_0 = e_0^2, Q_0 = e_0^2 (e_0^2)^T; then Q_{k+1} = L(Q_k) + F(m_k, sigma^2) and
        m_{k+1} from :func:`theory.derive`. Cost O(steps d^2) time, O(d^2) memory
        (O(steps d^2) with ``full=True``). The risk of replica theta_k is
        R_k = (sum_i lambda_i e_{k,i}^2 + sigma^2)/2 (with the 1/2).

        Raises ValueError on bad input.

        Example
        -------
        >>> from theory import derive_fourth
        >>> tr = derive_fourth().trajectory([1.0, 0.5], 0.1, steps=3)
        >>> tr.risk_variance.shape, tr.second_moment_variance.shape
        ((4,), (4, 2))
        >>> float(tr.risk_variance[0])          # deterministic start
        0.0
        """
        lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance)
        steps = check_integer(steps, "steps", 1)
        e0 = check_initial(initial, len(lam))
        mp = self.linear_map(lam, learning_rate, batch, noise_variance)
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch,
                      noise_variance=noise_variance, initial=initial, steps=steps)
        return mp.trajectory(e0**2, steps, full=bool(full), parameters=params)

    def time_average_covariance(self, eigenvalues, learning_rate, edges, batch=1, noise_variance=0.0,
                                initial=1.0) -> TimeAverageCovariance:
        r"""Exact covariance over replicas of block time averages of the risk (and of e_i^2).

        For blocks [a, b) given by ``edges`` (e.g. [1, 2, 4, ..., steps + 1]) the block
        average is (1/(b - a)) sum_{k=a}^{b-1} R_k. The second-moment recursion holds
        conditionally, E[e_{l}^2 | e_k] = L_m^{l-k} e_k^2 + (deterministic forcing), so
        for k <= l

        .. math:: \operatorname{Cov}(R_k, R_l) = \tfrac14\, c_{l-k}^\top \operatorname{Cov}(e_k^2)\, \lambda,
                  \qquad c_n = (L_m^\top)^n \lambda,

        with Cov(e_k^2) = Q_k - m_k m_k^T. The sums over pairs (k, l) are accumulated
        forward, psi_I(l + 1) = L_m(psi_I(l) + [l in I] Cov(e_l^2) lambda): cost
        O(steps d^2 + n_blocks steps d), not O(steps^2). The per-coordinate variances of
        the block-averaged e_i^2 use the same recursion on d x d matrices (O(steps d^2)).

        Parameters
        ----------
        eigenvalues : array_like, shape (d,)
        learning_rate : float > 0
        edges : sequence of int, strictly increasing, edges[0] >= 0, at least 2 entries
        batch : int >= 1
        noise_variance : float >= 0
        initial : float or array of shape (d,)
            Deterministic e_0.

        Returns
        -------
        TimeAverageCovariance

        Raises
        ------
        ValueError
            Bad input (``edges`` not strictly increasing integers >= 0 among them).

        Example
        -------
        >>> from theory import derive_fourth
        >>> tac = derive_fourth().time_average_covariance([1.0, 0.5], 0.2, edges=[1, 2, 4, 8])
        >>> tac.risk_covariance.shape
        (3, 3)
        """
        lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance)
        edges = _check_edges(edges)
        e0 = check_initial(initial, len(lam))
        mp = self.linear_map(lam, learning_rate, batch, noise_variance)
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch,
                      noise_variance=noise_variance, initial=initial, edges=edges)
        return mp.time_average_covariance(e0**2, edges, parameters=params)


def _check_edges(edges) -> np.ndarray:
    try:
        arr = np.asarray(edges)
    except Exception as exc:  # pragma: no cover - numpy accepts nearly anything
        raise ValueError(f"edges must be a 1-D sequence of integers; got {edges!r}") from exc
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"edges must be a 1-D sequence of at least 2 integers (block boundaries); got {edges!r}")
    if not all(float(x).is_integer() for x in arr.tolist()):
        raise ValueError(f"edges must be integers (step indices); got {edges!r}")
    arr = arr.astype(np.int64)
    if arr[0] < 0 or np.any(np.diff(arr) <= 0):
        raise ValueError(f"edges must be strictly increasing integers >= 0; got {edges!r}")
    return arr
