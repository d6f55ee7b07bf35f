r"""SymPy derivation of the even-sector recursion (steps 1--3 of :mod:`theory.fourth`)."""
from __future__ import annotations

import sympy as sp
from sympy.utilities.iterables import multiset_partitions

from .. import symbols as sym
from ..algorithms import GRADIENT, SGD, Algorithm, HeavyBall, Nesterov
from ..data import DataModel, EmpiricalDistribution
from ..diskcache import persistent
from ..validation import check_algorithm_and_data
from .recursion import FourthMomentRecursion

__all__ = ["derive_fourth", "batch_gradient_moments", "latex_block", "PAIR_TERMS", "DIAGONAL_TERMS"]

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
    factors of B (B-1) ... (B - #pi + 1) prod_{blocks} E[h_i^{a_blk} h_j^{b_blk}]
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


def derive_fourth(algorithm: Algorithm | None = None, data: DataModel | None = None):
    algorithm, data = check_algorithm_and_data(algorithm, data)
    if algorithm not in (SGD(), HeavyBall(), Nesterov()):  # by value: SGD(weight_decay=w) is another rule
        raise NotImplementedError(
            f"the fourth-moment recursion is derived for SGD, HeavyBall and Nesterov so far; got {algorithm!r}")
    if isinstance(data, EmpiricalDistribution):
        raise ValueError("data must have independent coordinates with a symmetric law for a fourth-moment "
                         "recursion; an empirical distribution has dependent coordinates")
    rules = tuple(data.even_moment(n) for n in (4, 6, 8))
    return _derive_cached(type(algorithm), rules).with_data(data)


@persistent   # derived once per algorithm and moment rules, then loaded from disk (theory.diskcache)
def _derive_cached(algorithm_type, rules):
    if algorithm_type is not SGD:   # two-step methods: state (e_k, e_{k-1}), see theory.fourth.momentum
        from .momentum import TwoStepFourthRecursion, derive_two_step
        algorithm = algorithm_type()
        pair, diag, c, w = derive_two_step(algorithm, _RulesOnly(rules))
        return TwoStepFourthRecursion(algorithm=algorithm, data=_RulesOnly(rules), pair=pair, diagonal=diag, c=c, w=w)
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
        :class:`theory.SGD`, or a two-step method :class:`theory.HeavyBall` /
        :class:`theory.Nesterov` (state (e_k, e_{k-1}); the result is then a
        :class:`theory.fourth.TwoStepFourthRecursion`, see :mod:`theory.fourth.momentum`,
        whose numeric methods take ``momentum=beta``).
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
        For algorithms other than SGD, HeavyBall and Nesterov.
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
    >>> from theory import HeavyBall
    >>> hb = derive_fourth(HeavyBall(), Gaussian())
    >>> round(hb.critical_learning_rate([1.0], momentum=0.0), 10)   # beta = 0: SGD's value
    0.3834510059

    Source: fourth moments / heavy tails of SGD near the critical learning rate; the
    second-moment analogue is Bordelon & Pehlevan, arXiv:2106.02713. Derived here, no
    paper formula is used.
    """
    (error,) = algorithm.state            # p = 1: the state is the error, also the gradient point
    if algorithm.gradient_point != error:  # pragma: no cover - SGD only (checked by derive_fourth)
        raise NotImplementedError("the gradient point must be the error itself")
    # the same steps in the sparse polynomial ring of theory.fourth.momentum_derivation (over QQ, 1/B a
    # generator): 0.8 -> 0.35 s of CPU for symbolic moment rules, the same expressions
    from .momentum_derivation import (
        _average,
        _batch,
        _diag_key,
        _pair_key,
        _Ring,
        _single_sample,
    )
    rg = _Ring(algorithm, rules)
    new_i = rg(algorithm.update[0].subs({error: _E_I, GRADIENT: _G_I}, simultaneous=True))
    new_j = rg(algorithm.update[0].subs({error: _E_J, GRADIENT: _G_J}, simultaneous=True))
    pm = _batch(rg, _single_sample(rg, rules, True))
    dm = _batch(rg, _single_sample(rg, rules, False))
    # pair i != j, then the diagonal: E[. | e] by the batch moments, then every monomial by its symbol
    cond = sum((c * pm[mon] for mon, c in rg.split(new_i**2 * new_j**2, (_G_I, _G_J)).items()), rg.R.zero)
    pair_r = _average(rg, cond, _pair_key)
    cond_d = sum((c * dm[(mon[0], 0)] for mon, c in rg.split(new_i**4, (_G_I,)).items()), rg.R.zero)
    diag_r = _average(rg, cond_d, _diag_key)
    # guard: the pair update is symmetric under i <-> j
    swap_key = {"Di": "Dj", "Dj": "Di", "Ti": "Tj", "Tj": "Ti", "mi": "mj", "mj": "mi"}
    for key, v in pair_r.items():
        other = pair_r.get((swap_key[key[0]], *key[1:]) if key[0] in swap_key else key, rg.R.zero)
        if rg.swap(v) != other:  # pragma: no cover - guards the derivation
            raise ValueError("the derived pair update is not symmetric under i <-> j")
    pair = _collect(rg, pair_r, PAIR_TERMS, _PAIR_SYMBOLS)
    diag = _collect(rg, diag_r, DIAGONAL_TERMS, _DIAGONAL_SYMBOLS)
    moments = {k: rg.expr(v) for k, v in pm.items()}
    moments_d = {k: rg.expr(v) for k, v in dm.items()}
    return FourthMomentRecursion(algorithm=algorithm, data=rules, pair=pair, diagonal=diag,
                                 gradient_moments={"pair": moments, "diagonal": moments_d})


#: the keys of :func:`theory.fourth.momentum_derivation._pair_key` / ``_diag_key`` of a one-step state
_PAIR_SYMBOLS = {("P", 0, 0): Q_ij, ("Di", 0): Q_ii, ("Dj", 0): Q_jj, ("Ti", 0): T_i, ("Tj", 0): T_j, ("U",): U,
                 ("V",): V, ("mi", 0): sym.m, ("mj", 0): m_j, ("S",): sym.S, ("1",): sp.Integer(1)}
_DIAGONAL_SYMBOLS = {("D", 0): Q_ii, ("T", 0): T_i, ("U",): U, ("V",): V, ("m", 0): sym.m, ("S",): sym.S,
                     ("1",): sp.Integer(1)}


def _collect(rg, coeffs, terms, symbols):
    """{symbol: factored coefficient} over ``terms`` and then 1 (the constant), every term present."""
    by_symbol = {symbols[k]: v for k, v in coeffs.items()}
    if len(by_symbol) != len(coeffs):  # pragma: no cover - a monomial with the second state variable
        raise ValueError("the even sector of a one-step method involves only its one state variable")
    return {t: sp.factor(rg.expr(by_symbol.get(t, rg.R.zero))) for t in (*terms, sp.Integer(1))}


derive_fourth.__doc__ = _derive.__doc__ + """
    The symbolic derivation is cached per (algorithm type, symbolic moment rules):
    one for Gaussian data, one for every model with symbolic (kappa, mu_6, mu_8);
    the numeric moments of ``data`` are attached afterwards.
"""


# ---------------------------------------------------------------------------- LaTeX
def latex_block(rec) -> str:
    """The derivation of ``rec`` as one amsmath ``align*`` environment."""
    def tex(expr):
        return sp.latex(expr, symbol_names=LATEX_NAMES, order="none")

    def lines(lhs, coeffs):
        from ..latex import rows, tidy
        terms = [sp.Mul(tidy(c), t, evaluate=False) for t, c in coeffs.items() if c != 0]
        late = [t for t in coeffs if t != 1]
        return rows(lhs, sp.Add(*terms, evaluate=False), LATEX_NAMES, late=late, keep=True)

    rules = [tex(rec.data.even_moment(n)) for n in (4, 6, 8)]
    rows = [
        r"&\text{update rule: } e_{k+1,i} = e_{k,i} - \gamma g_{k,i},\quad "
        r"g_{k,i} = \frac{1}{B}\sum_{b=1}^{B} x_{b,i}\bigl(\langle x_b, e_k\rangle - \varepsilon_b\bigr),\quad "
        r"\varepsilon_b \sim \mathcal{N}(0, \sigma^2)",
        r"&\text{data: } x_i = \sqrt{\lambda_i}\, z_i,\ z_i \text{ independent, symmetric},\ "
        r"\mathbb{E} z_i^2 = 1,\ \mathbb{E} z_i^4 = " + rules[0] + r",\ \mathbb{E} z_i^6 = " + rules[1]
        + r",\ \mathbb{E} z_i^8 = " + rules[2],
        r"&Q_{k,ij} = \mathbb{E}\, e_{k,i}^2 e_{k,j}^2,\quad T_{k,i} = \sum_{l} \lambda_l Q_{k,il},\quad "
        r"U_k = \sum_{l,l'} \lambda_l \lambda_{l'} Q_{k,ll'},\quad V_k = \sum_l (\kappa_l - 3)\lambda_l^2 Q_{k,ll},"
        r"\quad S_k = \sum_l \lambda_l m_{k,l}",
    ]
    rows += lines(r"Q_{k+1,ij}\ (i \ne j)", rec.pair)
    rows += lines(r"Q_{k+1,ii}", rec.diagonal)
    rows.append(r"&\text{fourth moments stable} \iff \rho(L) < 1;\ \gamma_c^{(4)}:\ "
                r"\text{the smallest } \gamma \text{ with } \rho(L(\gamma)) = 1 \text{ (a root of } \det(I - L(\gamma)))"
                r",\quad \gamma_c^{(4)} \le \gamma_c")
    from ..latex import align
    return align(rows)
