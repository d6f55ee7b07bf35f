r"""The SymPy derivation of the two-step even sector, done in one sparse polynomial ring.

The steps are those of :mod:`theory.fourth.momentum` (and of :mod:`theory.fourth.derivation`
for the moment machinery): per-sample moments E[h_i^a h_j^b | e] with the symmetric-law
rules, batch means by set partitions, the update rule's products q_a(i) q_b(j) and
s_0^{4-k} s_1^k expanded in the batch-mean gradient, the moments inserted at the gradient
point, and every monomial in (s_0(i), s_1(i), s_0(j), s_1(j), S_e, W_e) replaced by its
expectation symbol. Every quantity is a polynomial -- in the state, the gradient, the
sample coordinates, the data's moment symbols, sigma^2, gamma, the hyperparameters and
1/B (the batch factor B (B-1)...(B - m + 1) / B^n is a polynomial in 1/B) -- so the
whole derivation runs in ``sympy.polys.rings.ring`` over QQ (sparse dicts of exponent
tuples) instead of repeated ``sympy.expand`` of expression trees; only the final
coefficients are converted to expressions (with 1/B written back) and expanded once.
The result is the same set of expanded SymPy expressions.
"""
from __future__ import annotations

import sympy as sp
from sympy.polys.domains import QQ
from sympy.polys.rings import ring
from sympy.utilities.iterables import multiset_partitions

from .. import symbols as sym
from ..algorithms import GRADIENT
from .derivation import (
    _E_I,
    _E_J,
    _EPS,
    _G_I,
    _G_J,
    _R,
    _S_COND,
    _W_COND,
    _X_I,
    _X_J,
    kappa_j,
    lam_j,
    mu6_j,
    mu8_j,
)

__all__ = ["derive_two_step_ring"]

_F_I, _F_J = sp.symbols("f_i f_j", real=True)     # the second state variable (e_{k-1}) at i, j
_INV_B = sp.Dummy("inv_B")
_SWAP = {sym.lam: lam_j, sym.kappa: kappa_j, sym.mu6: mu6_j, sym.mu8: mu8_j}

_STATE = (_E_I, _F_I, _E_J, _F_J, _S_COND, _W_COND)


def _pair_key(monom):
    a1, a2, b1, b2, s, w = monom
    di, dj = a1 + a2, b1 + b2
    if w:
        return ("V",) if (w, s, di, dj) == (1, 0, 0, 0) else None
    if s == 2:
        return ("U",) if (di, dj) == (0, 0) else None
    if s == 1:
        return {(2, 0): ("Ti", a2), (0, 2): ("Tj", b2), (0, 0): ("S",)}.get((di, dj))
    return {(2, 2): ("P", a2, b2), (4, 0): ("Di", a2), (0, 4): ("Dj", b2), (2, 0): ("mi", a2),
            (0, 2): ("mj", b2), (0, 0): ("1",)}.get((di, dj))


def _diag_key(monom):
    a1, a2, _, _, s, w = monom
    di = a1 + a2
    if w:
        return ("V",) if (w, s, di) == (1, 0, 0) else None
    if s == 2:
        return ("U",) if di == 0 else None
    if s == 1:
        return {2: ("T", a2), 0: ("S",)}.get(di)
    return {4: ("D", a2), 2: ("m", a2), 0: ("1",)}.get(di)


class _Ring:
    """The polynomial ring of the derivation and the conversions to and from SymPy expressions."""

    def __init__(self, algorithm, rules):
        extra = set().union(*(sp.sympify(u).free_symbols for u in algorithm.update),
                            sp.sympify(algorithm.gradient_point).free_symbols,
                            *(sp.sympify(rules.even_moment(n)).free_symbols for n in (4, 6, 8)))
        extra -= {*algorithm.state, GRADIENT}
        params = [sym.lam, lam_j, sym.kappa, kappa_j, sym.mu6, mu6_j, sym.mu8, mu8_j, sym.sigma2, _INV_B, sym.gamma]
        params += sorted(extra - set(params), key=sp.default_sort_key)
        self.symbols = (*_STATE, _G_I, _G_J, _X_I, _X_J, _R, _EPS, *params)
        self.R, *gens = ring(self.symbols, QQ)
        self.gen = dict(zip(self.symbols, gens))
        self.index = {s: n for n, s in enumerate(self.symbols)}
        self.n_state = len(_STATE)

    def __call__(self, expr):
        return self.R.from_expr(sp.sympify(expr)) if not isinstance(expr, int) else self.R(expr)

    def split(self, poly, symbols):
        """{exponents of ``symbols``: the rest of the polynomial} (each term split once)."""
        idx = [self.index[s] for s in symbols]
        out = {}
        for monom, coeff in poly.iterterms():
            key = tuple(monom[i] for i in idx)
            rest = list(monom)
            for i in idx:
                rest[i] = 0
            term = out.setdefault(key, {})
            rest = tuple(rest)
            term[rest] = term.get(rest, 0) + coeff
        return {k: self.R.from_dict(v) for k, v in out.items()}

    def expr(self, poly):
        """The expanded SymPy expression (1/B written back), built term by term: the same expression as
        ``sp.expand(poly.as_expr().xreplace({inv_B: 1/B}))`` without expand's second pass over it."""
        to_sympy = self.R.domain.to_sympy
        gens = [1 / sym.B if s == _INV_B else s for s in self.symbols]
        return sp.Add(*[sp.Mul(to_sympy(c), *[g**e for g, e in zip(gens, m) if e]) for m, c in poly.iterterms()])

    def swap(self, poly):
        """i <-> j in the parameters (lambda, kappa, mu_6, mu_8)."""
        perm = list(range(len(self.symbols)))
        for a, b in _SWAP.items():
            perm[self.index[a]], perm[self.index[b]] = self.index[b], self.index[a]
        return self.R.from_dict({tuple(m[p] for p in perm): c for m, c in poly.iterterms()})


def _single_sample(rg, rules, pair):
    """E[h_i^a h_j^b | e] of one sample as ring elements (see derivation._single_sample_moments)."""
    g = rg.gen
    rule = {n: rg(rules.even_moment(n)) for n in (0, 2, 4, 6, 8)}
    rule_j = {n: rg(sp.sympify(rules.even_moment(n)).subs(_SWAP, simultaneous=True)) for n in rule}
    excess_i, excess_j = rule[4] - 3, rule_j[4] - 3
    W = rg.R.zero if excess_i == 0 else g[_W_COND]
    lam_i, lam_jj = g[sym.lam], g[lam_j]
    noise = {0: rg.R.one, 2: g[sym.sigma2], 4: 3 * g[sym.sigma2] ** 2}

    def x_moment(n, j):
        return rg.R.zero if n % 2 else (lam_jj if j else lam_i) ** (n // 2) * (rule_j if j else rule)[n]
    if pair:
        rest2 = g[_S_COND] - lam_i * g[_E_I] ** 2 - lam_jj * g[_E_J] ** 2
        rest4 = 3 * rest2**2 + W - excess_i * lam_i**2 * g[_E_I] ** 4 - excess_j * lam_jj**2 * g[_E_J] ** 4
        s = g[_X_I] * g[_E_I] + g[_X_J] * g[_E_J] + g[_R] - g[_EPS]
        orders = [(a, b) for a in range(3) for b in range(3)]
    else:
        rest2 = g[_S_COND] - lam_i * g[_E_I] ** 2
        rest4 = 3 * rest2**2 + W - excess_i * lam_i**2 * g[_E_I] ** 4
        s = g[_X_I] * g[_E_I] + g[_R] - g[_EPS]
        orders = [(a, 0) for a in range(5)]
    rest = {0: rg.R.one, 2: rest2, 4: rest4}
    out = {}
    for a, b in orders:
        total = rg.R.zero
        terms = rg.split(g[_X_I] ** a * g[_X_J] ** b * s ** (a + b), (_X_I, _X_J, _R, _EPS))
        for (na, nb, nr, ne), coeff in terms.items():
            if nr % 2 or ne % 2 or na % 2 or nb % 2:
                continue  # odd moments of symmetric laws vanish
            total += coeff * x_moment(na, False) * x_moment(nb, True) * rest[nr] * noise[ne]
        out[(a, b)] = total
    return out


def _batch(rg, single):
    """E[g_i^a g_j^b | e] for the mean of B samples: set partitions, B(B-1)..(B-m+1)/B^n in 1/B."""
    inv_b = rg.gen[_INV_B]
    out = {}
    for a, b in single:
        labels = [0] * a + [1] * b
        n = len(labels)
        total = rg.R.zero if n else rg.R.one
        for partition in (multiset_partitions(list(range(n))) if n else ()):
            m = len(partition)
            term = inv_b ** (n - m)
            for k in range(m):
                term *= 1 - k * inv_b
            for block in partition:
                na = sum(1 for f in block if labels[f] == 0)
                term *= single[(na, len(block) - na)]
            total += term
        out[(a, b)] = total
    return out


def _average(rg, poly, keyfn):
    out = {}
    for monom, rest in rg.split(poly, _STATE).items():
        key = keyfn(monom)
        if key is None:
            raise ValueError(f"the even sector does not close: monomial {monom} in {_STATE}")
        out[key] = out.get(key, rg.R.zero) + rest
    return out


def derive_two_step_ring(algorithm, rules):
    """(pair, diag, c, w) of :func:`theory.fourth.momentum.derive_two_step` (same expanded expressions)."""
    rg = _Ring(algorithm, rules)
    g = rg.gen
    s0, s1 = algorithm.state
    sub_i, sub_j = {s0: _E_I, s1: _F_I}, {s0: _E_J, s1: _F_J}
    gp_i = rg(sp.sympify(algorithm.gradient_point).xreplace(sub_i))
    gp_j = rg(sp.sympify(algorithm.gradient_point).xreplace(sub_j))
    new_i = [rg(sp.sympify(u).xreplace({**sub_i, GRADIENT: _G_I})) for u in algorithm.update]
    new_j = [rg(sp.sympify(u).xreplace({**sub_j, GRADIENT: _G_J})) for u in algorithm.update]
    if any(u.degree(g[_G_I]) > 1 for u in new_i):
        raise ValueError("the update rule must be linear in the gradient")
    at_point = [(g[_E_I], gp_i), (g[_E_J], gp_j)]
    pm = {k: v.compose(at_point) for k, v in _batch(rg, _single_sample(rg, rules, True)).items()}
    dm = {k: v.compose(at_point) for k, v in _batch(rg, _single_sample(rg, rules, False)).items()}
    q_i = [new_i[0] ** (2 - a) * new_i[1] ** a for a in range(3)]
    q_j = [new_j[0] ** (2 - a) * new_j[1] ** a for a in range(3)]
    pair_r = {}
    for a in range(3):
        for b in range(3):
            cond = sum((c * pm[mon] for mon, c in rg.split(q_i[a] * q_j[b], (_G_I, _G_J)).items()), rg.R.zero)
            pair_r[(a, b)] = _average(rg, cond, _pair_key)
    diag_r = {}
    for k in range(5):
        poly = new_i[0] ** (4 - k) * new_i[1] ** k
        cond = sum((c * dm[(mon[0], 0)] for mon, c in rg.split(poly, (_G_I,)).items()), rg.R.zero)
        diag_r[k] = _average(rg, cond, _diag_key)
    # guard: the pair update is symmetric under i <-> j (P'_ji[b, a] from P'_ij[a, b])
    swap_key = {"Di": "Dj", "Dj": "Di", "Ti": "Tj", "Tj": "Ti", "mi": "mj", "mj": "mi"}
    for (a, b), coeffs in pair_r.items():
        other = pair_r[(b, a)]
        for key, v in coeffs.items():
            k2 = (("P", key[2], key[1]) if key[0] == "P" else
                  (swap_key[key[0]], key[1]) if key[0] in swap_key else key)
            if rg.swap(v) != other.get(k2, rg.R.zero):  # pragma: no cover
                raise ValueError("the derived pair update is not symmetric under i <-> j")
    pair = {ab: {k: rg.expr(v) for k, v in coeffs.items() if v} for ab, coeffs in pair_r.items()}
    diag = {k: {key: rg.expr(v) for key, v in coeffs.items() if v} for k, coeffs in diag_r.items()}
    # the gradient point in the q basis: p^2 = sum_k c_k q_k, p^4 = sum_k w_k s0^(4-k) s1^k
    p2, p4 = rg.split(gp_i**2, (_E_I, _F_I)), rg.split(gp_i**4, (_E_I, _F_I))
    c = [rg.expr(p2.get((2 - k, k), rg.R.zero)) for k in range(3)]
    w = [rg.expr(p4.get((4 - k, k), rg.R.zero)) for k in range(5)]
    return pair, diag, c, w
