r"""Gaussian expectations E[G(r, r*)] over (r, r*) ~ N(0, B).

Three routes:

* :func:`closed_form` — polynomial integrands in closed form: E[r^i r*^j] is derived by
  differentiating the moment generating function exp((B_11 s^2 + 2 B_12 s t + B_22 t^2)/2)
  (Isserlis' theorem), exact in SymPy;
* :class:`Quadrature` — everything else by a 2-D (or 1-D) trapezoidal rule in the coordinates
  r* = sqrt(B_22) z_2, r = rho z_2 + s z_1 (rho = B_12/sqrt(B_22), s^2 = B_11 - rho^2),
  vectorised over many B (e.g. time points), with a stated accuracy tested against mpmath
  (1e-10 relative for the logistic integrands) and an error estimate by node doubling.
* :func:`expectation_mp` — the mpmath oracle: nested ``mpmath.quad`` over z_1, z_2 at any
  working precision.
"""
from __future__ import annotations

import functools

import mpmath
import numpy as np
import sympy as sp

from .derivation import B11, B12, B22, Expectation, r, rs, sigma2, symbolic
from .functions import MPMATH_FUNCTIONS, NUMPY_FUNCTIONS

__all__ = ["DEFAULT_SPACING", "Evaluator", "Quadrature", "closed_form", "expectation_mp", "gaussian_moment"]

DEFAULT_SPACING = 0.45


@functools.cache
def gaussian_moment(i: int, j: int) -> sp.Expr:
    """E[r^i r*^j] under N(0, [[B_11, B_12], [B_12, B_22]]) (Isserlis; derived from the MGF).

    E[r^i r*^j] = i! j! [s^i t^j] exp(q/2), q = B_11 s^2 + 2 B_12 s t + B_22 t^2: only the
    term q^m / (2^m m!) with 2m = i + j of the exponential series has total degree i + j, so the
    coefficient is read off the expanded polynomial q^m (the same value as differentiating the
    MGF i times in s and j times in t at 0, ``tests/test_glm_expectations.py``, 10-30x faster).

    >>> gaussian_moment(2, 2)
    B_11*B_22 + 2*B_12**2
    """
    if (i + j) % 2:
        return sp.Integer(0)
    m = (i + j) // 2
    s, t = sp.symbols("s t", real=True)
    q = sp.Poly((B11 * s**2 + 2 * B12 * s * t + B22 * t**2) ** m, s, t)
    c = q.coeff_monomial(s**i * t**j) * sp.factorial(i) * sp.factorial(j) / (2**m * sp.factorial(m))
    return sp.expand(c)


def _is_poly(G):
    return G.is_polynomial(r, rs)


def closed_form(expr):
    """Replace every Expectation with a polynomial integrand by its Isserlis closed form.

    >>> from theory.glm.derivation import Expectation
    >>> closed_form(Expectation(r**2 - 2*r*rs + rs**2))
    B_11 - 2*B_12 + B_22
    """
    def ev(e):
        G = sp.expand(e.args[0])
        poly = sp.Poly(G, r, rs)
        return sp.expand(sum(c * gaussian_moment(i, j) for (i, j), c in poly.terms()))
    return expr.replace(lambda e: isinstance(e, Expectation) and _is_poly(e.args[0]), ev)


@functools.lru_cache(maxsize=256)
def _trapezoid_nodes(n, half_width):
    z = np.arange(-n, n + 1) * (half_width / n)
    w = np.exp(-z * z / 2) * (half_width / n) / np.sqrt(2 * np.pi)
    z.flags.writeable = w.flags.writeable = False
    return z, w


def _trapezoid(h, half_width):
    """Nodes and weights of the trapezoidal rule for E[G(Z)], Z ~ N(0, 1), on [-L, L] with step <= h
    (cached by the number of nodes: read-only arrays)."""
    return _trapezoid_nodes(int(np.ceil(half_width / h)), float(half_width))


_KINDS = ("closed", "r", "rs", "given_rs", "given_r", "both")
_MU = sp.Symbol("mu", real=True)
_SD = sp.Symbol("s", nonnegative=True)


def _conditional(term, x, given):
    r"""E[term | given] for a term polynomial in ``x``, with x = mu + s Z given ``given`` (Z ~ N(0, 1)
    independent): sum_k c_k(given) E(mu + s Z)^k, E Z^j = (j - 1)!! for even j (exact, SymPy)."""
    out = sp.Integer(0)
    for (k,), c in sp.Poly(term, x).terms():
        out += c * sum(sp.binomial(k, j) * _MU ** (k - j) * _SD**j * sp.factorial2(j - 1) for j in range(0, k + 1, 2))
    return out


def _split(G, closed_forms):
    """The additive terms of G grouped by the rule they need: ``closed`` (a polynomial: Isserlis),
    ``r`` / ``rs`` (one variable: 1-D rule), ``given_rs`` / ``given_r`` (polynomial in r (in r*) times a
    function of the other: the polynomial variable integrated out exactly given the other, 1-D rule),
    ``both`` (2-D rule)."""
    groups = {}
    for term in sp.Add.make_args(sp.expand(G)):
        if not term.has(r, rs) or (closed_forms and _is_poly(term)):
            kind = "closed"
        elif not term.has(rs):
            kind = "r"
        elif not term.has(r):
            kind = "rs"
        elif term.is_polynomial(r):
            kind = "given_rs"
        elif term.is_polynomial(rs):
            kind = "given_r"
        else:
            kind = "both"
        groups[kind] = groups.get(kind, sp.Integer(0)) + term
    return groups


class Quadrature:
    r"""Numeric E[G_k(r, r*)] for a list of integrands, vectorised over B.

    Each integrand is split once into additive terms grouped by the rule they need (:func:`_split`):
    polynomial (Isserlis closed form), r only or r* only (1-D rule), polynomial in one variable
    times a function of the other (the polynomial variable integrated out exactly given the other,
    whose conditional law is Gaussian: r = rho z_2 + s z_1 given r* = sqrt(B_22) z_2; then a 1-D
    rule), and the rest (2-D tensor rule in r* = sqrt(B_22) z_2, r = rho z_2 + s z_1). The rule is
    the trapezoidal rule in z on [-L, L] (L = ``half_width`` = 9: the Gaussian mass outside
    is 2e-19) with step h = ``spacing`` / max(1, scale), scale the standard deviation the
    integrand sees in that coordinate (s for z_1; max(|rho|, sqrt(B_22)) for z_2). For an
    integrand analytic in a strip |Im x| < a (the logistic functions: a = pi) the error is
    O(exp(-2 pi a / (h scale))): exponential in the number of nodes. Measured against mpmath
    (``tests/test_glm_expectations.py``): with the default spacing 0.45, 1e-10 relative or
    better for the logistic integrands (sigma, sigma', softplus, products) at standard
    deviations 0.3 to 8; :meth:`error_estimate` halves h (doubles the nodes) and returns
    |E_h - E_{h/2}| for any B. (Gauss-Hermite was measured first and rejected: 256 nodes
    give 7e-11 at standard deviation 3 and 1e-7 at 4 for E sigma'(r), because its nodes
    spread to +-sqrt(4n) while the integrand varies on the scale 1/sd.)

    Parameters
    ----------
    integrands : sequence of sympy.Expr
        Expressions in r, r* (and sigma^2).
    spacing : float in (0, 1]
        Step of the rule in units of 1/scale (default :data:`DEFAULT_SPACING`).
    noise_variance : float
        Value of sigma^2 where an integrand uses it.
    closed_forms : bool
        Use the Isserlis closed form for polynomial integrands (default); False integrates
        them numerically too (to test the rule against the closed forms).

    Example
    -------
    >>> q = Quadrature([r**2 * rs**2])
    >>> float(q(1.0, 0.5, 2.0)[0])    # B_11 B_22 + 2 B_12^2 = 2.5
    2.5
    """

    half_width = 9.0

    def __init__(self, integrands, spacing=None, noise_variance=0.0, closed_forms=True):
        spacing = DEFAULT_SPACING if spacing is None else spacing
        if isinstance(spacing, bool) or not isinstance(spacing, (int, float)) or not 0 < spacing <= 1:
            raise ValueError(f"spacing must be a number in (0, 1]; got {spacing!r}")
        self.integrands = [symbolic(G, "integrands") for G in integrands]
        self.spacing = float(spacing)
        self.noise_variance = float(noise_variance)
        # one lambdified function per rule kind, returning the list of that kind's terms over all integrands
        # (one call per kind and evaluation instead of one per term); _order[k]: integrand k's kinds in the
        # order of its terms (the sum is formed in that order, as term by term)
        terms = {kind: [] for kind in _KINDS}
        self._order = []
        for G in self.integrands:
            order = []
            for kind, term in _split(G.subs(sigma2, self.noise_variance), closed_forms).items():
                if kind == "closed" and term.has(r, rs):
                    term = closed_form(Expectation(term))
                elif kind == "given_rs":
                    term = _conditional(term, r, rs)
                elif kind == "given_r":
                    term = _conditional(term, rs, r)
                order.append((kind, len(terms[kind])))
                terms[kind].append(term)
            self._order.append(order)
        mods = [NUMPY_FUNCTIONS, "numpy"]
        args = {"closed": [B11, B12, B22], "r": [r], "rs": [rs], "given_rs": [rs, _MU, _SD],
                "given_r": [r, _MU, _SD], "both": [r, rs]}
        self._fns = {kind: sp.lambdify(args[kind], ts, modules=mods)
                     for kind, ts in terms.items() if ts}
        self._rs_memo = None          # (spacing, B_22 bytes) -> the values of the r*-only terms

    def __call__(self, b11, b12, b22, spacing=None):
        """[E G_k] for B given as three arrays of one shape (or scalars); a list of arrays of that shape.

        Raises ValueError if B is not positive semidefinite (beyond rounding).
        """
        c = self.spacing if spacing is None else float(spacing)
        b = np.broadcast_arrays(*(np.asarray(x, dtype=float) for x in (b11, b12, b22)))
        shape = b[0].shape
        b11, b12, b22 = (x.reshape(-1) for x in b)
        if ((b11 < -1e-12 * (1 + np.abs(b11))) | (b22 < -1e-12 * (1 + np.abs(b22)))
                | (b12**2 > b11 * b22 * (1 + 1e-9) + 1e-14)).any():
            raise ValueError("B must be positive semidefinite (B_11, B_22 >= 0, B_12^2 <= B_11 B_22)")
        sd1 = np.sqrt(np.maximum(b11, 0.0))
        sd2 = np.sqrt(np.maximum(b22, 0.0))
        rho = np.divide(b12, sd2, out=np.zeros_like(b12), where=sd2 > 0)
        s = np.sqrt(np.maximum(b11 - rho**2, 0.0))
        L = self.half_width

        def rule(scale):      # nodes and weights for a coordinate whose largest standard deviation is ``scale``
            return _trapezoid(c / max(1.0, float(scale.max(initial=0.0))), L)

        def integrate(got, shape, w):     # [x @ w for each term x of ``got``] (terms constant along a node axis
            return [(x if np.shape(x) == shape else np.broadcast_to(x, shape)) @ w for x in got]   # broadcast)

        size = b11.size
        vals = {}                     # kind -> (terms, size): E[term] for every term of that kind
        for kind, fn in self._fns.items():
            if kind == "closed":
                got = fn(b11, b12, b22)
                v = np.empty((len(got), size))
                for i, x in enumerate(got):
                    v[i] = x
            elif kind == "both":
                z1, w1 = rule(s)
                z2, w2 = rule(np.maximum(np.abs(rho), sd2))
                rr = rho[:, None, None] * z2[None, :, None] + s[:, None, None] * z1[None, None, :]
                got = fn(rr, (sd2[:, None] * z2)[:, :, None])
                v = np.empty((len(got), size))
                for i, x in enumerate(integrate(got, rr.shape, w1)):
                    v[i] = x @ w2
            else:
                if kind == "rs" and self._rs_memo is not None and self._rs_memo[0] == (c, sd2.tobytes()):
                    vals[kind] = self._rs_memo[1]    # a function of B_22 alone (constant along an ODE solution)
                    continue
                if kind in ("r", "rs"):
                    sd = sd1 if kind == "r" else sd2
                    z, w = rule(sd)
                    got = fn(sd[:, None] * z)
                elif kind == "given_rs":      # r = rho z + s z' given r* = sd2 z
                    z, w = rule(np.maximum(np.abs(rho), sd2))
                    got = fn(sd2[:, None] * z, rho[:, None] * z, s[:, None])
                else:                         # r* = rho' z + s' z' given r = sd1 z
                    rho1 = np.divide(b12, sd1, out=np.zeros_like(b12), where=sd1 > 0)
                    s1 = np.sqrt(np.maximum(b22 - rho1**2, 0.0))
                    z, w = rule(np.maximum(np.abs(rho1), sd1))
                    got = fn(sd1[:, None] * z, rho1[:, None] * z, s1[:, None])
                v = np.empty((len(got), size))
                for i, x in enumerate(integrate(got, (size, z.size), w)):
                    v[i] = x
                if kind == "rs":
                    v.flags.writeable = False
                    self._rs_memo = ((c, sd2.tobytes()), v)
            vals[kind] = v
        out = []
        for order in self._order:
            v = np.zeros(size)
            for kind, i in order:
                v = v + vals[kind][i]
            out.append(v.reshape(shape))
        return out

    def error_estimate(self, b11, b12, b22):
        """|E_h - E_{h/2}| per integrand (node doubling): an estimate of the error of the rule at h."""
        a = self(b11, b12, b22)
        b = self(b11, b12, b22, spacing=self.spacing / 2)
        return [np.abs(x - y) for x, y in zip(a, b)]


class Evaluator:
    """A SymPy expression containing :class:`Expectation` objects (and B_11, B_12, B_22, sigma^2),
    evaluated numerically and vectorised over B: polynomial integrands in closed form, the rest
    by :class:`Quadrature`.

    >>> from theory.glm.derivation import Expectation
    >>> float(Evaluator(Expectation(r**2) / 2 + 1)(3.0, 0.0, 1.0))
    2.5
    """

    def __init__(self, expr, spacing=None, noise_variance=0.0, parameters=()):
        expr = closed_form(symbolic(expr, "expr")).subs(sigma2, float(noise_variance))
        self.parameters = tuple(parameters)
        self.atoms = sorted(expr.atoms(Expectation), key=sp.srepr)
        es = sp.symbols(f"e_0:{len(self.atoms)}")
        self.quad = Quadrature([a.args[0] for a in self.atoms], spacing, noise_variance)
        self.fn = sp.lambdify([B11, B12, B22, *self.parameters, *es], expr.xreplace(dict(zip(self.atoms, es))),
                              modules=[NUMPY_FUNCTIONS, "numpy"])

    def __call__(self, b11, b12, b22, *values):
        """The value at B (arrays of one shape), with ``values`` for the symbols in ``parameters``."""
        shape = np.broadcast(np.asarray(b11), np.asarray(b12), np.asarray(b22)).shape
        vals = self.quad(b11, b12, b22)
        return np.broadcast_to(np.asarray(self.fn(b11, b12, b22, *values, *vals), dtype=float), shape)


def expectation_mp(G, b11, b12, b22, dps=30, noise_variance=0):
    r"""E[G(r, r*)] under N(0, B) with mpmath (nested ``mpmath.quad``, tanh-sinh) at ``dps`` digits.

    The independent high-precision oracle of :class:`Quadrature`. Slow (seconds per value at
    30 digits for a 2-D integrand).

    >>> float(expectation_mp(r**2, 2, 0, 1, dps=20))
    2.0
    """
    G = symbolic(G, "G").subs(sigma2, noise_variance)
    fn = sp.lambdify([r, rs], G, modules=[MPMATH_FUNCTIONS, "mpmath"])
    with mpmath.workdps(dps):
        b11, b12, b22 = mpmath.mpf(b11), mpmath.mpf(b12), mpmath.mpf(b22)
        sd2 = mpmath.sqrt(b22)
        rho = b12 / sd2 if b22 > 0 else mpmath.mpf(0)
        s = mpmath.sqrt(max(b11 - rho**2, mpmath.mpf(0)))
        c = 1 / (2 * mpmath.pi)

        def phi(z):
            return mpmath.exp(-z * z / 2)

        if not G.has(rs) or not G.has(r):
            sd1 = mpmath.sqrt(b11)
            one = (lambda z: fn(sd1 * z, 0)) if not G.has(rs) else (lambda z: fn(0, sd2 * z))
            return mpmath.quad(lambda z: one(z) * phi(z), [-12, 0, 12]) / mpmath.sqrt(2 * mpmath.pi)
        return c * mpmath.quad(lambda z2, z1: fn(rho * z2 + s * z1, sd2 * z2) * phi(z1) * phi(z2),
                               [-12, 12], [-12, 12])
