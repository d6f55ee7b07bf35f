r"""Adaptive learning rates in the high-dimensional limit: idealised exact line search, AdaGrad-Norm.

Normalisation as in :mod:`theory.highline` (arXiv:2405.19585): step (g_t/d) * gradient,
batch 1, time t = k/d, D_i^2 = d E e_i^2, R = (1/2d) sum_i lambda_i D_i^2 + sigma^2/2.
Spectral averages are written tau_a = (1/d) tr K^a and M_a = (1/d) sum_i lambda_i^a D_i^2
(so M_1 = 2R - sigma^2).

Everything here is derived by SymPy from the High Line ODE drift (itself derived from
the SGD update rule, :func:`theory.highline.derive_limit`):

* **exact line search** (Table 2, Sec. 3, App. F): g_t minimises dR/dt over g;
* **two eigenvalues**: the ratio of the class sums x = sum_{class 2} D^2 / sum_{class 1} D^2
  obeys an autonomous ODE whose fixed-point polynomial (eq. 94 for equal masses) and
  whose limiting learning rate (eqs. 98, 101) come out in closed form, for a general mass p
  on the larger eigenvalue lambda_1;
* **AdaGrad-Norm** (Alg. 1, eqs. 15-17, App. D): b_k^2 accumulates squared gradient norms;
  the limit of its learning rate is eta / sqrt(b^2 + 2 tau_1 int_0^t R), and for K = lambda I,
  sigma = 0, the limit of g_t as t -> infinity is a Lambert-W closed form.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import sympy as sp

from . import symbols as sym
from .derive import gradient_moments
from .diskcache import persistent
from .highline import (
    D2,
    LATEX_NAMES,
    M2,
    I,
    LearningRateRule,
    R,
    derive_limit,
    g,
    tau1,
    tau2,
)
from .validation import check_positive

__all__ = ["spectral_average", "line_search_derivation", "line_search", "adagrad_norm",
           "adagrad_norm_derivation", "TwoEigenvalueLineSearch", "two_eigenvalue_line_search",
           "adagrad_isotropic_limit", "adagrad_norm_limit", "AdaGradNormLimit", "eta", "b", "x", "lam1", "lam2", "p"]

eta = sp.Symbol("eta", positive=True)
b = sp.Symbol("b", positive=True)
x = sp.Symbol("x", positive=True)
lam1 = sp.Symbol("lambda_1", positive=True)
lam2 = sp.Symbol("lambda_2", positive=True)
p = sp.Symbol("p", positive=True)
_M1 = sp.Symbol("M_1", nonnegative=True)
_NAMES = {**LATEX_NAMES, eta: r"\eta", b: "b", x: "x", lam1: r"\lambda_1", lam2: r"\lambda_2", p: "p"}


def _tex(expr):
    return sp.latex(expr, symbol_names=_NAMES)


def _rows(lhs, expr, main=sym.gamma):
    """Rows ``lhs &= expr`` of an align* environment, broken to the page width."""
    from .latex import rows
    return rows(lhs, expr, _NAMES, main=main)


def _fraction_rows(lhs, expr, main):
    from .latex import fraction_rows
    return [r.replace("N_i", "N").replace("D_i", "D") for r in fraction_rows(lhs, expr, _NAMES, main=main)]


def _root_rows(lhs, expr):
    """``lhs = expr`` with the radicand of its square root named Q and defined on a row of its own."""
    roots = [a for a in expr.atoms(sp.Pow) if a.exp == sp.Rational(1, 2)]
    if len(roots) != 1:
        return _rows(lhs, expr, main=p)
    Q = sp.Symbol("Q")
    _NAMES.setdefault(Q, "Q")
    return [*_rows(lhs, expr.subs(roots[0], sp.sqrt(Q)), main=p), r"&\text{with}",
            *_rows("Q", roots[0].base, main=p)]


def align(lines):
    from .latex import align as _align
    return _align(lines)


def spectral_average(expr):
    r"""(1/d) sum_i of a per-direction expression polynomial in lambda_i and D_i^2 (degree <= 1 in D_i^2).

    lambda_i^a -> tau_a = tr(K^a)/d, lambda_i^a D_i^2 -> M_a = (1/d) sum_i lambda_i^a D_i^2; M_1 is
    rewritten as 2R - sigma^2 and M_2, tau_1, tau_2 are the symbols of :mod:`theory.highline`.

    Example
    -------
    >>> spectral_average(-g * sym.lam**2 * D2 + g**2 * sym.lam**2 * R)
    -M_2*g + R*g**2*tau_2
    """
    out = sp.Integer(0)
    for (a, k), coeff in sp.Poly(sp.expand(expr), sym.lam, D2).terms():
        if k > 1:
            raise ValueError(f"spectral_average needs degree <= 1 in D_i^2; got {expr}")
        if k == 0:
            out += coeff * ({0: 1, 1: tau1, 2: tau2}.get(a) or sp.Symbol(f"tau_{a}", positive=True))
        else:
            out += coeff * ({1: 2 * R - sym.sigma2, 2: M2}.get(a) or sp.Symbol(f"M_{a}", nonnegative=True))
    return sp.expand(out)


@persistent   # SymPy solve and factor, ~0.1 s per process: once per machine (theory.diskcache)
def line_search_derivation():
    r"""Derive the idealised exact line search from the High Line ODE.

    dR/dt = (1/d) sum_i (lambda_i/2) dD_i^2/dt = -g M_2 + g^2 tau_2 R (a convex quadratic in g),
    minimised at g* = M_2 / (2 tau_2 R), i.e. g_t = sum_i lambda_i^2 D_i^2 / (2 tr(K^2) R)
    (arXiv:2405.19585, Table 2 and App. F), where dR/dt = -M_2^2/(4 tau_2 R) = -g*^2 tau_2 R.

    Returns a dict with ``dRdt`` (in g), ``rule`` (g*), ``dRdt_at_rule``.
    """
    ode = derive_limit()
    dRdt = spectral_average(ode.risk_weight * ode.drift)
    sols = sp.solve(sp.diff(dRdt, g), g)
    if len(sols) != 1 or not sp.diff(dRdt, g, 2).is_positive:  # pragma: no cover
        raise ValueError(f"dR/dt is not a convex quadratic in g: {dRdt}")
    rule = sp.factor(sols[0])
    return {"dRdt": dRdt, "rule": rule, "dRdt_at_rule": sp.factor(dRdt.subs(g, rule))}


def line_search() -> LearningRateRule:
    r"""The idealised exact line search g_t = M_2/(2 tau_2 R) = sum lambda_i^2 D_i^2 / (2 tr(K^2) R).

    Source: arXiv:2405.19585, Table 2, Sec. 3, App. F. Example: ``solve(lam, t_max=5, rule=line_search())``.
    """
    return LearningRateRule("line_search", line_search_derivation()["rule"], (),
                            "Collins-Woodfin et al., arXiv:2405.19585, Table 2, App. F")


@dataclass(frozen=True)
class TwoEigenvalueLineSearch:
    r"""Line search when K has two distinct eigenvalues lambda_1 > lambda_2 with masses p, 1 - p.

    Attributes
    ----------
    ratio_ode : sympy.Expr
        dx/dt for x = sum_{class 2} D_i^2 / sum_{class 1} D_i^2 (noiseless), in x, lambda_1, lambda_2, p.
    polynomial : sympy.Expr
        The fixed-point polynomial of x (positive factors removed; eq. 94 for p = 1/2).
    limit_ratio : sympy.Expr
        Its unique positive root x_inf.
    g_of_x : sympy.Expr
        The normalised learning rate g (step g/d) as a function of x; ``limit_g`` = g(x_inf) (eqs. 98, 101).
        (Formerly ``learning_rate`` and ``limit_learning_rate``: deprecated aliases that warn.)
    limit_g : sympy.Expr
    rate : sympy.Expr
        The exponential decay rate of R at the fixed point, -R'/R = g_inf^2 tau_2.
    """

    ratio_ode: sp.Expr
    polynomial: sp.Expr
    limit_ratio: sp.Expr
    g_of_x: sp.Expr
    limit_g: sp.Expr
    rate: sp.Expr
    tau2: sp.Expr

    def latex(self) -> str:
        rows = [r"&\text{exact line search: } g_t = \frac{\sum_i \lambda_i^2 D_i^2}{2\operatorname{tr}(K^2) R(t)}"
                r"\quad\text{(arXiv:2405.19585, App.~F; step } g_t/d,\ t = k/d)",
                r"&K:\ \lambda_1 \text{ with mass } p,\ \lambda_2 < \lambda_1 \text{ with mass } 1-p,\quad "
                r"x = \frac{\sum_{i:\lambda_i=\lambda_2} D_i^2}{\sum_{i:\lambda_i=\lambda_1} D_i^2}",
                *_fraction_rows(r"\frac{dx}{dt}", self.ratio_ode, main=x),
                r"&\text{fixed point (eq.~94 at } p = \tfrac12\text{):}",
                *_rows("0", self.polynomial, main=x),
                *_root_rows(r"x_\infty", self.limit_ratio),
                r"g_\infty &= " + _tex(self.g_of_x) + r"\Big|_{x = x_\infty}"
                r"\quad(\text{eqs.~98, 101}),\qquad -\frac{R'}{R} \to g_\infty^2\,\tfrac{1}{d}\operatorname{tr}K^2"]
        return align(rows)

    @property
    def learning_rate(self):
        """Deprecated alias of :attr:`g_of_x`."""
        _deprecated("TwoEigenvalueLineSearch.learning_rate", "g_of_x")
        return self.g_of_x

    @property
    def limit_learning_rate(self):
        """Deprecated alias of :attr:`limit_g`."""
        _deprecated("TwoEigenvalueLineSearch.limit_learning_rate", "limit_g")
        return self.limit_g

    def numeric(self, lambda1, lambda2, mass=0.5, dps=None):
        """(x_inf, g_inf, rate) at numeric values (mpmath at ``dps`` digits, else float).

        Raises ValueError unless lambda1 > lambda2 > 0 (finite), 0 < mass < 1 (the mass of lambda1) and
        dps is None or an integer >= 1. Example: ``two_eigenvalue_line_search().numeric(1.0, 0.5, 0.5)``.
        """
        import mpmath

        from .validation import check_integer
        check_positive(lambda1, "lambda1")
        check_positive(lambda2, "lambda2")
        if not float(lambda2) < float(lambda1):
            raise ValueError(f"lambda2 must be smaller than lambda1 (lambda_1 > lambda_2 > 0); got lambda1 = "
                             f"{lambda1!r}, lambda2 = {lambda2!r}")
        check_positive(mass, "mass", upper=1)
        if dps is not None:
            check_integer(dps, "dps", minimum=1)
        vals = {lam1: lambda1, lam2: lambda2, p: mass}
        if dps is None:
            return tuple(float(e.subs(vals)) for e in (self.limit_ratio, self.limit_g, self.rate))
        with mpmath.workdps(dps + 10):
            fs = [sp.lambdify([lam1, lam2, p], e, modules="mpmath")
                  for e in (self.limit_ratio, self.limit_g, self.rate)]
            args = [mpmath.mpf(v) for v in (lambda1, lambda2, mass)]
            return tuple(f(*args) for f in fs)


@persistent   # SymPy work of ~1 s, once per machine (theory.diskcache)
def two_eigenvalue_line_search(mass=None) -> TwoEigenvalueLineSearch:
    r"""Derive the two-eigenvalue line-search limit (general mass p on lambda_1, or a given one).

    With D_1^2 = 1 (homogeneity) and D_2^2 = x p/(1-p), the ratio x obeys
    dx/dt = x (dlog D_2^2/dt - dlog D_1^2/dt) with g_t the line-search rule; its fixed-point
    equation has a unique positive root (the polynomial is quadratic in x with a negative
    constant term and a positive leading coefficient).

    Example
    -------
    >>> ls = two_eigenvalue_line_search(sp.Rational(1, 2))
    >>> sp.factor(ls.polynomial)    # doctest: +SKIP

    Raises ValueError unless ``mass`` is None or lies in (0, 1).

    Source: arXiv:2405.19585, App. F, eqs. 94, 98, 101.
    """
    if mass is not None:
        check_positive(mass, "mass", upper=1)
    pm = p if mass is None else sp.nsimplify(mass)
    ode = derive_limit()
    rule = line_search_derivation()["rule"]
    D1, D2v = sp.Integer(1), x * pm / (1 - pm)
    Rv = (pm * lam1 * D1 + (1 - pm) * lam2 * D2v) / 2
    t2 = pm * lam1**2 + (1 - pm) * lam2**2
    gv = sp.factor(rule.subs({M2: pm * lam1**2 * D1 + (1 - pm) * lam2**2 * D2v, tau2: t2, R: Rv}))
    drift = ode.drift.subs({sym.sigma2: 0})

    def logderiv(lam_, Dv):
        return drift.subs({sym.lam: lam_, D2: Dv, R: Rv, g: gv}) / Dv

    dxdt = sp.factor(sp.together(x * (logderiv(lam2, D2v) - logderiv(lam1, D1))))
    num, _ = sp.fraction(dxdt)
    # drop the factors that are positive for x > 0 and lambda_1 > lambda_2 > 0, 0 < p < 1
    poly = sp.Integer(1)
    for fac, mult in sp.factor_list(num)[1]:
        if sp.Poly(fac, x).degree() >= 2:
            poly *= fac**mult
    poly = sp.expand(poly)
    P = sp.Poly(poly, x)
    if P.degree() != 2:  # pragma: no cover
        raise ValueError(f"unexpected fixed-point polynomial {poly}")
    roots = sp.solve(poly, x, simplify=False)   # the roots of a quadratic; simplified once below (x_inf)
    test = {lam1: 1, lam2: sp.Rational(1, 3), p: sp.Rational(2, 5)}
    pos = [r for r in roots if sp.N(r.subs(test)) > 0]
    if len(pos) != 1:  # pragma: no cover
        raise ValueError(f"expected one positive root, got {roots}")
    # normalise the sign: positive leading coefficient
    lead = P.LC()
    if sp.N(lead.subs(test)) < 0:
        poly = sp.expand(-poly)
    # expand and together give what simplify gave (srepr-equal, tests/theory/test_adaptive.py) at 1/20 of the CPU
    x_inf = sp.expand(pos[0])
    g_inf = sp.together(gv.subs(x, x_inf))
    # the rate g_inf^2 tau_2 is left as that product (simplify only reorders it, at 1.6 s of CPU per process)
    return TwoEigenvalueLineSearch(dxdt, sp.collect(poly, x), x_inf, gv, g_inf, g_inf**2 * t2, t2)


def _deprecated(old, new):
    warnings.warn(f"{old} is deprecated (learning_rate means gamma = g/d elsewhere in the package); use {new}",
                  DeprecationWarning, stacklevel=3)


# ---------------------------------------------------------------------------------------- AdaGrad-Norm
@persistent   # SymPy limit, once per machine (theory.diskcache)
def adagrad_norm_derivation():
    r"""Derive the deterministic AdaGrad-Norm learning rate from the gradient's second moment.

    Discrete algorithm (arXiv:2405.19585, Alg. 1, in this package's units): with G_k the
    batch-1 gradient,
    b_k^2 = b^2 + (1/d^2) sum_{j<=k} ||G_j||^2 and theta_{k+1} = theta_k - (g_k/d) G_k, g_k = eta/b_k.
    The expected increment per unit time (d steps) is (1/d) E||G||^2 = (1/d) sum_i E g_i^2,
    with E g_i^2 from :func:`theory.gradient_moments` (Gaussian, B = 1). Summing over i with
    e_i^2 = D_i^2/d and letting d -> infinity gives db^2/dt = 2 tau_1 R, hence
    g_t = eta / sqrt(b^2 + 2 tau_1 int_0^t R(s) ds).

    Returns a dict with ``increment`` (db^2/dt) and ``rule``.
    """
    from .data import Gaussian
    d = sp.Symbol("d", positive=True)
    _, Eg2 = gradient_moments(Gaussian())
    Eg2 = Eg2.subs({sym.B: 1, sp.Symbol("p_i", real=True) ** 2: D2 / d})
    Eg2 = sp.expand(Eg2.subs(sp.Symbol("p_i", real=True), sp.sqrt(D2 / d)))
    per_dir = Eg2.subs(sym.S, 2 * R - sym.sigma2)
    # sum_i f_i = d * spectral_average(f_i); increment per unit time = (1/d) * d * avg
    total = spectral_average(per_dir)           # terms O(1) and O(1/d)
    increment = sp.limit(total, d, sp.oo)
    rate = sp.cancel(increment / R)
    if rate.free_symbols & {R, D2, M2}:  # pragma: no cover
        raise ValueError(f"the accumulation rate {increment} is not proportional to R")
    rule = eta / sp.sqrt(b**2 + rate * I)
    return {"increment": sp.factor(increment), "rule": rule, "finite_d": sp.factor(total)}


def adagrad_norm(eta_value, b_value) -> LearningRateRule:
    r"""AdaGrad-Norm's deterministic learning rate g_t = eta / sqrt(b^2 + (2 tr K/d) int_0^t R).

    Raises ValueError unless eta > 0 and b > 0.
    Source: arXiv:2405.19585, Alg. 1, eqs. 15-17, App. D.
    """
    check_positive(eta_value, "eta")
    check_positive(b_value, "b")
    return LearningRateRule("adagrad_norm", adagrad_norm_derivation()["rule"],
                            (("eta", eta, eta_value), ("b", b, b_value)),
                            "Collins-Woodfin et al., arXiv:2405.19585, Alg. 1, App. D")


@persistent   # SymPy solve with Lambert W, ~0.3 s, once per machine (theory.diskcache)
def adagrad_isotropic_limit():
    r"""Closed form of lim_{t->inf} g_t for AdaGrad-Norm with K = lambda I and sigma = 0.

    With K = lambda I every D_i^2 = D^2(t) and R = lambda D^2/2. Write B(t) = b^2 + 2 tau_1 int R
    (so g = eta/sqrt(B) and B' = 2 lambda R = lambda^2 D^2). The ODE for D^2 gives
    B'' = B' f(B) with f(B) = drift/D^2 at g = eta/sqrt(B); integrating once,
    B' = F(B) - F(b^2) + lambda^2 D^2(0), F' = f. As t -> infinity B' -> 0, so
    B_inf solves F(B_inf) = F(b^2) - lambda^2 D^2(0) (the first root above b^2), and
    g_inf = eta / sqrt(B_inf): SymPy solves this with the Lambert W function.

    Returns a dict with ``first_integral`` (B' as a function of B), ``limit`` (g_inf in eta, b,
    lambda, D^2(0)), ``limit_B``.
    """
    ode = derive_limit()
    Bs = sp.Symbol("B", positive=True)
    D0 = sp.Symbol("D_0^2", positive=True)
    lam = sym.lam
    geta = eta / sp.sqrt(Bs)
    f = sp.simplify(ode.drift.subs({R: lam * D2 / 2, g: geta, sym.sigma2: 0}) / D2)
    F = sp.integrate(f, Bs)
    first = sp.expand(F - F.subs(Bs, b**2) + lam**2 * D0)
    s = sp.Symbol("s", positive=True)           # s = sqrt(B_inf)
    eq = sp.expand_log(first.subs(Bs, s**2), force=True)
    # every candidate is checked below (numerically, on both sides of b = eta lambda/2), so solve's own
    # checking and simplification are skipped: 1.1 -> 0.2 s of CPU, the same limit
    sols = sp.solve(eq, s, check=False, simplify=False)
    # B increases from b^2 while D^2 > 0 and B' = first_integral > 0 at B = b^2: the limit is the
    # first root above b^2. Among the candidates (Lambert W of either sign of the argument, principal
    # branch or branch -1), keep the one that is real, > b and solves the equation; the choice is
    # checked on both sides of b = eta lambda/2 (where the first integral's slope changes sign).
    chosen = None
    for cand in sols:
        for k in (0, -1):
            expr = cand.replace(sp.LambertW, lambda arg, _k=k: sp.LambertW(arg, _k))
            ok = True
            for sample in ({eta: 1, b: sp.Rational(3, 10), sym.lam: 1, D0: 2},
                           {eta: 1, b: 2, sym.lam: sp.Rational(1, 2), D0: sp.Rational(1, 3)},
                           {eta: sp.Rational(1, 2), b: sp.Rational(1, 5), sym.lam: 3, D0: 5}):
                val = sp.N(expr.subs(sample), 30)
                if not val.is_real or val <= sample[b] or abs(sp.N(eq.subs(sample).subs(s, val), 30)) > 1e-20:
                    ok = False
                    break
            if ok:
                chosen = expr if chosen is None else chosen
    if chosen is None:  # pragma: no cover
        raise ValueError(f"no Lambert-W candidate is a valid limit: {sols}")
    g_inf = sp.simplify(eta / chosen)
    return {"f": f, "first_integral": first, "limit_B": sp.simplify(chosen**2), "limit": g_inf,
            "D0": D0, "B": Bs}


@dataclass(frozen=True)
class AdaGradNormLimit:
    """The AdaGrad-Norm derivations (rate ODE and isotropic Lambert-W limit) with :meth:`latex`."""

    rule: sp.Expr
    first_integral: sp.Expr
    limit: sp.Expr

    def latex(self) -> str:
        D0 = sp.Symbol("D_0^2", positive=True)
        Bs = sp.Symbol("B", positive=True)
        names = {**_NAMES, D0: "D^2(0)", Bs: "B"}
        from .latex import rows as broken
        rows = [r"&\text{AdaGrad-Norm (Alg.~1 of arXiv:2405.19585): } b_k^2 = b^2 + \tfrac{1}{d^2}\sum_{j\le k}"
                r"\|G_j\|^2,\ \text{step } \tfrac{\eta}{d\, b_k} G_k,\ t = k/d",
                r"g_t &= " + sp.latex(self.rule, symbol_names=names)
                + r"\qquad\Bigl(\tfrac{1}{d}\,\mathbb{E}\|G\|^2 \to 2\,\tfrac{\operatorname{tr}K}{d}\,R\Bigr)",
                r"&K = \lambda I,\ \sigma = 0:\ B = b^2 + 2\lambda\!\int_0^t\! R,\quad\text{then}",
                *broken("B'", self.first_integral, names, main=eta),
                r"g_\infty &= " + sp.latex(self.limit, symbol_names=names)
                + r"\quad(W_{-1}\text{: the lower real branch of Lambert } W)"]
        return align(rows)


def adagrad_norm_limit() -> AdaGradNormLimit:
    """The AdaGrad-Norm derivations as one object (for LaTeX and the catalogue)."""
    lim = adagrad_isotropic_limit()
    return AdaGradNormLimit(adagrad_norm_derivation()["rule"], lim["first_integral"], lim["limit"])
