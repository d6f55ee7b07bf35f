r"""Derive the high-dimensional ODE of streaming SGD on a single-index model from its loss.

Model and normalisation (Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv:2308.08977,
in the High Line normalisation of arXiv:2405.19585, eq. 8): data a ~ N(0, K), K = diag(lambda)
in its eigenbasis; prediction r = <a, X>, teacher output r* = <a, X*>; a label y drawn given r*
(:class:`LabelModel`); a loss l(r, y) with f = dl/dr; batch 1 and the step

.. math:: X_{k+1} = X_k - \frac{g}{d}\, a_k\, f(r_k, y_k),\qquad t = k/d .

``g`` is the *normalised* step; the package's learning rate (per step) is gamma = g/d.
Per eigendirection the state is P_i = d X_i^2, U_i = d X_i X^*_i (Q_i = d X_i^{*2} is
fixed), and B = (1/d) sum_i lambda_i [[P_i, U_i], [U_i, Q_i]] is the covariance of (r, r*).

Derivation (:func:`derive_limit`), all in SymPy:

1. the one-step increments d(X'^2 - X^2) and d(X' - X) X^* of P_i and U_i are expanded in
   powers of a_i and f;
2. the label is integrated out given r* (:meth:`LabelModel.conditional_expectation`):
   F_n(r, r*) = E[f^n | r*];
3. the monomials E[a_i^m F_n(r, r*)] are reduced by Gaussian integration by parts (Stein's
   lemma) for the jointly Gaussian (a_i, r, r*) with Var a_i = lambda_i,
   Cov(a_i, r) = lambda_i X_i, Cov(a_i, r*) = lambda_i X^*_i:
   E[a_i H] = lambda_i E[dH/da_i] + lambda_i X_i E[dH/dr] + lambda_i X^*_i E[dH/dr*]
   (exact at every d, given X);
4. X_i^2 = P_i/d, X_i X^*_i = U_i/d, X_i^{*2} = Q_i/d; the expected increment per unit time
   (d steps) is expanded in 1/d: the d^0 term is the ODE, the 1/d term the correction
   (of the expected one-step increment given the state; fluctuations of B add another
   O(1/d) that this does not contain).

The result (:class:`GLMLimit`) is

.. math:: \frac{dP_i}{dt} = -2g\lambda_i\bigl(P_i\,\mathbb{E}\,\partial_r F_1 + U_i\,\mathbb{E}\,\partial_{r^*} F_1\bigr)
          + g^2\lambda_i\,\mathbb{E} F_2,\qquad
          \frac{dU_i}{dt} = -g\lambda_i\bigl(U_i\,\mathbb{E}\,\partial_r F_1 + Q_i\,\mathbb{E}\,\partial_{r^*} F_1\bigr),

expectations over (r, r*) ~ N(0, B), and the risk R = E l = E[L(r, r*)], L = E[l | r*].
The critical learning rate is derived by linearising this ODE at the optimum X = X*
(P = U = Q), with Price's theorem dE[G]/dB_11 = E[G_rr]/2, dE[G]/dB_12 = E[G_{r r*}]
for the expectations (:attr:`GLMLimit.critical_learning_rate`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import sympy as sp

from .. import symbols as sym
from ..diskcache import persistent
from ..highline import d, g
from .functions import sigmoid, softplus

__all__ = [
    "B11",
    "B12",
    "B22",
    "PRESETS",
    "Expectation",
    "GLMLimit",
    "GLMLoss",
    "LabelModel",
    "P",
    "Q",
    "U",
    "d",
    "derive_limit",
    "eps",
    "g",
    "least_squares",
    "logistic",
    "loss",
    "phase_retrieval",
    "r",
    "rs",
    "tau1",
    "y",
]

r = sp.Symbol("r", real=True)
rs = sp.Symbol("r^*", real=True)
y = sp.Symbol("y", real=True)
eps = sp.Symbol("epsilon", real=True)          # standard normal label noise
P = sp.Symbol("P_i", nonnegative=True)
U = sp.Symbol("U_i", real=True)
Q = sp.Symbol("Q_i", nonnegative=True)
B11 = sp.Symbol("B_11", nonnegative=True)
B12 = sp.Symbol("B_12", real=True)
B22 = sp.Symbol("B_22", nonnegative=True)
tau1 = sp.Symbol("tau_1", positive=True)       # tr K / d
lam = sym.lam
sigma2 = sym.sigma2

_X = sp.Symbol("X_i", real=True)
_Xs = sp.Symbol("X^*_i", real=True)
_a = sp.Symbol("a_i", real=True)
_phi = sp.Symbol("phi", real=True)            # placeholder for f(r, y) in the update
_D = sp.Symbol("D_i", real=True)              # P - 2U + Q near the optimum
_SD = sp.Symbol("S_D", real=True)             # (1/d) sum_j lambda_j D_j

LATEX_NAMES = {**sym.LATEX_NAMES, g: "g", P: "P_i", U: "U_i", Q: "Q_i", B11: "B_{11}", B12: "B_{12}",
               B22: "B_{22}", tau1: r"\tfrac{1}{d}\operatorname{tr}K", rs: "r^*", eps: r"\varepsilon"}


def _tex(expr):
    return sp.latex(expr, symbol_names=LATEX_NAMES)


def symbolic(value, what):
    """``value`` as a SymPy object without ever evaluating text: SymPy expressions and numbers
    pass; strings are refused (``sympify`` would run them as Python code)."""
    try:
        return sp.sympify(value, strict=True)
    except (sp.SympifyError, TypeError):
        raise TypeError(f"{what} must be a SymPy expression (build it from theory.glm.derivation's symbols r, y, "
                        f"rs, sigma2), not {type(value).__name__}; got {value!r}") from None


def _broken(lhs, expr):
    r"""Rows ``lhs &= ...`` of an align* for ``lhs = expr``, broken between top-level terms so
    that every row fits the page width of :mod:`theory.latex` (continuation rows ``&\quad``)."""
    from ..latex import WIDTH, math_width
    terms = sp.Add.make_args(sp.expand(expr)) if expr.is_Add else (expr,)
    out, line = [], lhs + " &= "
    used, first = math_width(line), True
    for term in terms:
        tex = _tex(term)
        piece = tex if first else ("- " + tex[1:].lstrip() if tex.startswith("-") else "+ " + tex)
        if not first and used + math_width(piece) > WIDTH:
            out.append(line.rstrip())
            line, used = r"&\quad ", 1.5
        line += ("" if line.endswith(" ") else " ") + piece
        used += math_width(piece) + 0.4
        first = False
    out.append(line.rstrip())
    return out


class Expectation(sp.Function):
    r"""E[G(r, r*)] over (r, r*) ~ N(0, B), B the covariance of prediction and teacher output.

    Unevaluated: :func:`theory.glm.expectations.closed_form` evaluates polynomial integrands
    (Isserlis), :mod:`theory.glm.expectations` the others numerically.
    """

    nargs = 1

    def _latex(self, printer, exp=None):
        inner = r"\mathbb{E}\left[" + printer._print(self.args[0]) + r"\right]"
        return inner if exp is None else r"\left(" + inner + r"\right)^{" + (exp if isinstance(exp, str) else printer._print(exp)) + "}"


def _E(G):
    """E[G] in a canonical form: the integrand factored, its numeric coefficient outside;
    constants (free of r and r*) come out as themselves."""
    G = sp.factor(sp.expand(G))
    if G == 0:
        return sp.Integer(0)
    if not G.has(r, rs):
        return G
    c, rest = G.as_coeff_Mul()
    return c * Expectation(rest)


# ---------------------------------------------------------------------------- label models
@dataclass(frozen=True)
class LabelModel:
    r"""How the label y is drawn given the teacher output r*.

    ``kind`` is one of

    * ``"deterministic"``: y = ``expression`` (a SymPy expression in :data:`rs`; y = r* is the teacher itself);
    * ``"gaussian"``: y = ``expression`` + sqrt(``variance``) epsilon, epsilon ~ N(0, 1);
    * ``"bernoulli"``: y ~ Bernoulli(``expression``), y in {0, 1}.
    """

    kind: str
    expression: sp.Expr = rs
    variance: sp.Expr = sp.S.Zero

    def __post_init__(self):
        if self.kind not in ("deterministic", "gaussian", "bernoulli"):
            raise ValueError(f"kind must be 'deterministic', 'gaussian' or 'bernoulli'; got {self.kind!r}")
        if not isinstance(self.expression, sp.Basic) or self.expression.has(r) or self.expression.has(y):
            raise ValueError(f"expression must be a SymPy expression in r* only; got {self.expression!r}")

    def conditional_expectation(self, expr) -> sp.Expr:
        """E[expr | r*] for an expression in r, y and r* (exact: SymPy).

        Raises NotImplementedError for Gaussian labels when ``expr`` is not a polynomial in y.

        >>> sp.factor(LabelModel("bernoulli", sigmoid(rs)).conditional_expectation((y - sigmoid(r))**2)
        ...           - (sigmoid(r) - sigmoid(rs))**2)
        -(sigmoid(r^*) - 1)*sigmoid(r^*)
        """
        if self.kind == "deterministic":
            return expr.subs(y, self.expression)
        if self.kind == "bernoulli":
            p = self.expression
            return p * expr.subs(y, 1) + (1 - p) * expr.subs(y, 0)
        e = sp.expand(expr.subs(y, self.expression + sp.sqrt(self.variance) * eps))
        if not e.is_polynomial(eps):
            raise NotImplementedError(f"Gaussian labels need a loss polynomial in y; got {expr}")
        poly = sp.Poly(e, eps)
        return sp.expand(sum(c * (sp.factorial2(k - 1) if k % 2 == 0 else 0) for (k,), c in poly.terms()))

    def latex(self) -> str:
        if self.kind == "deterministic":
            return "y = " + _tex(self.expression)
        if self.kind == "gaussian":
            return "y = " + _tex(self.expression) + r" + \sqrt{" + _tex(self.variance) + r"}\,\varepsilon,\ " \
                r"\varepsilon\sim N(0,1)"
        return r"y \sim \operatorname{Bernoulli}\left(" + _tex(self.expression) + r"\right)"


@dataclass(frozen=True)
class GLMLoss:
    """A single-index loss l(r, y) with its label model.

    Attributes
    ----------
    name : str
    expression : sympy.Expr
        l in the symbols :data:`r` (prediction) and :data:`y` (label); it may also use :data:`rs`.
    labels : LabelModel
    scaling : str
        The stated normalisation (e.g. "no 1/2").
    source : str
    """

    name: str
    expression: sp.Expr
    labels: LabelModel = LabelModel("deterministic")
    scaling: str = ""
    source: str = ""

    def __post_init__(self):
        if not isinstance(self.expression, sp.Expr):
            raise TypeError(f"expression must be a SymPy expression in r and y; got {self.expression!r}")
        if not self.expression.has(r):
            raise ValueError(f"the loss must depend on the prediction r; got {self.expression}")
        extra = {s for s in self.expression.free_symbols if s not in (r, y, rs, sigma2)}
        if extra:
            raise ValueError(f"the loss may use only r, y, r^* and sigma^2; it also uses {sorted(map(str, extra))}")
        if not isinstance(self.labels, LabelModel):
            raise TypeError(f"labels must be a LabelModel; got {self.labels!r}")


def least_squares(noise_variance=sigma2) -> GLMLoss:
    """l = (r - y)^2 / 2 with y = r* + sqrt(sigma^2) epsilon (the High Line's problem, eq. 8)."""
    return GLMLoss("least squares", (r - y) ** 2 / 2, LabelModel("gaussian", rs, symbolic(noise_variance, "noise_variance")),
                   "l = (r - y)^2 / 2, risk with the 1/2 (as the High Line eq. 8)",
                   "Collins-Woodfin et al., arXiv:2405.19585, eq. 8")


def logistic(labels="soft") -> GLMLoss:
    r"""Logistic regression, l = softplus(r) - y r = log(1 + e^r) - y r (cross-entropy with logit r).

    ``labels="soft"``: y = sigma(r*) (soft labels); ``labels="bernoulli"``: y ~ Bernoulli(sigma(r*)).
    Same risk, different gradient noise: E[f^2 | r*] gains sigma'(r*) = sigma(r*)(1 - sigma(r*)).
    """
    if labels not in ("soft", "bernoulli"):
        raise ValueError(f"labels must be 'soft' or 'bernoulli'; got {labels!r}")
    model = LabelModel("deterministic" if labels == "soft" else "bernoulli", sigmoid(rs))
    return GLMLoss(f"logistic ({labels} labels)", softplus(r) - y * r, model,
                   "cross-entropy in nats, logit r, teacher probability sigma(r*)",
                   "Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv:2308.08977 (logistic regression)")


def phase_retrieval() -> GLMLoss:
    """Real phase retrieval, l = (r^2 - y^2)^2 with y = r* (no 1/2; no label noise)."""
    return GLMLoss("phase retrieval", (r**2 - y**2) ** 2, LabelModel("deterministic", rs),
                   "l = (r^2 - r*^2)^2, no 1/2", "Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv:2308.08977")


def loss(expression, labels=None, name="user loss") -> GLMLoss:
    """A user-supplied loss l(r, y) (labels default to y = r*).

    >>> loss((r - y)**4).name
    'user loss'
    """
    return GLMLoss(name, symbolic(expression, "expression"), LabelModel("deterministic") if labels is None else labels)


PRESETS = {"least_squares": least_squares, "logistic_soft": lambda: logistic("soft"),
           "logistic_bernoulli": lambda: logistic("bernoulli"), "phase_retrieval": phase_retrieval}


# ---------------------------------------------------------------------------- the derivation
def _stein(m, G):
    r"""E[a_i^m G(r, r*)] by Gaussian integration by parts (exact)."""
    if m == 0:
        return _E(G)
    out = lam * _X * _stein(m - 1, sp.diff(G, r)) + lam * _Xs * _stein(m - 1, sp.diff(G, rs))
    if m >= 2:
        out += (m - 1) * lam * _stein(m - 2, G)
    return out


def _to_state(expr):
    """Replace the quadratic monomials of X, X* by P/d, U/d, Q/d."""
    poly = sp.Poly(sp.expand(expr), _X, _Xs)
    table = {(0, 0): 1, (2, 0): P / d, (1, 1): U / d, (0, 2): Q / d}
    out = 0
    for mon, c in poly.terms():
        if mon not in table:  # pragma: no cover - the update is quadratic
            raise ValueError(f"unexpected monomial {mon} in the increment")
        out += c * table[mon]
    return out


def _expand_in_inverse_d(rate):
    """(d^0 term, d^-1 term) of an expression polynomial in 1/d."""
    e = sp.Symbol("e_inv", positive=True)
    poly = sp.Poly(sp.expand(rate.subs(d, 1 / e)), e)
    coeffs = dict(poly.terms())
    if any(k[0] < 0 for k in coeffs):  # pragma: no cover
        raise ValueError("the increment per unit time diverges as d -> infinity")
    return sp.expand(coeffs.get((0,), 0)), sp.expand(coeffs.get((1,), 0))


def _at_optimum(expr):
    """E[G](B) at B = B* (r = r*): replace every Expectation by its value on the diagonal."""
    return expr.replace(lambda e: isinstance(e, Expectation), lambda e: _E(e.args[0].subs(r, rs)))


def _first_order(expr, dB11, dB12):
    """Price's theorem: E[G](B* + dB) = E*[G] + E*[G_rr] dB11/2 + E*[G_{r r*}] dB12 + O(dB^2) (B22 fixed)."""
    def taylor(e):
        G = e.args[0]
        return (_E(G.subs(r, rs)) + _E(sp.diff(G, r, 2).subs(r, rs)) * dB11 / 2
                + _E(sp.diff(G, r, rs).subs(r, rs)) * dB12)
    return expr.replace(lambda e: isinstance(e, Expectation), taylor)


@dataclass(frozen=True)
class GLMLimit:
    r"""The derived d -> infinity ODE of SGD on a single-index model (see the module docstring).

    Attributes
    ----------
    loss : GLMLoss
    gradient : sympy.Expr
        f = dl/dr in r, y.
    F1, F2 : sympy.Expr
        E[f | r*] and E[f^2 | r*] in r, r*.
    conditional_risk : sympy.Expr
        L = E[l | r*] in r, r*.
    drift_P, drift_U : sympy.Expr
        dP_i/dt and dU_i/dt, in g, lambda_i, P_i, U_i, Q_i and :class:`Expectation` objects.
    correction_P, correction_U : sympy.Expr
        The 1/d terms of the expected increment per unit time given the state.
    risk : sympy.Expr
        E[L] (an Expectation, or its constant value).
    optimal_risk : sympy.Expr
        The risk at X = X* (r = r*), an expectation over r* ~ N(0, B_22).
    critical_learning_rate : sympy.Expr or None
        The normalised step g_c at which the ODE linearised at X = X* loses stability, in
        tau_1 = tr K / d and expectations over r* ~ N(0, B_22) (per-step learning rate
        gamma_c = g_c / d); None (with :attr:`threshold_note`) when X* is not a fixed point.
    secular_term : sympy.Expr or None
        G_i(0) of the linearised system: stable iff (1/d) sum_i G_i(0) < 1.
    linearised_drift : sympy.Expr or None
        d D_i/dt of the linearisation in D_i = P_i - 2U_i + Q_i and S_D = (1/d) sum_j lambda_j D_j.
    """

    loss: GLMLoss
    gradient: sp.Expr
    F1: sp.Expr
    F2: sp.Expr
    conditional_risk: sp.Expr
    drift_P: sp.Expr
    drift_U: sp.Expr
    correction_P: sp.Expr
    correction_U: sp.Expr
    risk: sp.Expr
    optimal_risk: sp.Expr
    critical_learning_rate: sp.Expr | None
    secular_term: sp.Expr | None
    linearised_drift: sp.Expr | None
    threshold_note: str = ""
    numeric_cache: dict = field(default_factory=dict, repr=False, compare=False, hash=False)

    def expectations(self):
        """The distinct Expectation objects of the ODE's right-hand side (sorted by their printed form)."""
        atoms = (self.drift_P.atoms(Expectation) | self.drift_U.atoms(Expectation))
        return sorted(atoms, key=sp.srepr)

    def high_line_form(self):
        r"""The ODE for D_i = P_i - 2 U_i + Q_i (= d (X_i - X^*_i)^2), in the remaining P_i and U_i."""
        return sp.expand(self.drift_P - 2 * self.drift_U)

    def latex(self) -> str:
        """The normalisation, loss, labels, ODE, risk and threshold (align*)."""
        from ..latex import align
        rows = [
            (r"&\text{normalisation: } \gamma = g/d,\quad \text{batch } 1,\quad t = k/d,\quad P_i = d X_i^2,"
             r"\quad U_i = d X_i X^*_i,\quad Q_i = d X_i^{*2}"),
            r"&\text{(arXiv:2308.08977; arXiv:2405.19585, eq.~8)}",
            (r"&(r, r^*) \sim N(0, B),\quad B = \frac{1}{d}\sum_{i=1}^d \lambda_i\begin{pmatrix} P_i & U_i \\ "
             r"U_i & Q_i\end{pmatrix}"),
            r"\ell(r, y) &= " + _tex(self.loss.expression) + r",\qquad " + self.loss.labels.latex(),
            *_broken(r"f = \partial_r \ell", self.gradient),
            *_broken(r"\frac{dP_i}{dt}", self.drift_P),
            *_broken(r"\frac{dU_i}{dt}", self.drift_U),
            *_broken(r"R(t)", self.risk),
        ]
        if self.critical_learning_rate is not None:
            rows += [*_broken(r"g_c", self.critical_learning_rate),
                     r"&\quad(\gamma_c = g_c/d;\ r^* \sim N(0, B_{22}))"]
        return align(rows)

    # numeric side (theory.glm.ode)
    def solve(self, eigenvalues, g, t_max, **kw):
        """See :func:`theory.glm.ode.solve`."""
        from .ode import solve
        return solve(self, eigenvalues, g, t_max, **kw)

    def risk_at(self, B11, B12, B22, **kw):
        """See :func:`theory.glm.ode.risk`."""
        from .ode import risk
        return risk(self, B11, B12, B22, **kw)

    def critical(self, eigenvalues, teacher=1.0, **kw):
        """See :func:`theory.glm.ode.critical_learning_rate`."""
        from .ode import critical_learning_rate
        return critical_learning_rate(self, eigenvalues, teacher, **kw)


def derive_limit(loss_: GLMLoss) -> GLMLimit:
    r"""Derive the ODE of streaming SGD on the single-index model with loss ``loss_``.

    Parameters
    ----------
    loss_ : GLMLoss
        A preset (:func:`least_squares`, :func:`logistic`, :func:`phase_retrieval`) or :func:`loss`.

    Returns
    -------
    GLMLimit

    Raises
    ------
    TypeError
        If ``loss_`` is not a GLMLoss.
    NotImplementedError
        If the label model cannot integrate the loss (Gaussian labels, loss not polynomial in y).

    Example
    -------
    >>> lim = derive_limit(least_squares())
    >>> lim.drift_U
    Q_i*g*lambda_i - U_i*g*lambda_i
    >>> lim.critical_learning_rate
    2/tau_1

    Source: Collins-Woodfin, Paquette, Paquette, Seroussi, arXiv:2308.08977 (the ODE for
    single-index models); normalisation of arXiv:2405.19585, eq. 8.
    """
    if not isinstance(loss_, GLMLoss):
        raise TypeError(f"loss must be a GLMLoss (e.g. theory.glm.logistic()); got {loss_!r}")
    return (_derive_on_disk if _only_known_functions(loss_) else _derive_in_memory)(loss_)


def _only_known_functions(loss_: GLMLoss) -> bool:
    """True if every function in the loss and its label model is SymPy's or this package's, so that the
    loss's text determines the derivation (a user's own SymPy function class with the same name could
    carry other derivative rules: such losses are derived in every process, never loaded from disk)."""
    exprs = (loss_.expression, loss_.labels.expression, loss_.labels.variance)
    return all(type(f).__module__.startswith(("sympy.", "theory.")) for e in exprs for f in e.atoms(sp.Function))


def _derive(loss_: GLMLoss) -> GLMLimit:
    ell = loss_.expression
    f = sp.diff(ell, r)
    cond = loss_.labels.conditional_expectation
    F = {0: sp.Integer(1), 1: sp.expand(cond(f)), 2: sp.expand(cond(sp.expand(f**2)))}
    if F[1].has(sigmoid, softplus):
        F = {k: sp.simplify(v) for k, v in F.items()}
    L = cond(ell)
    Xn = _X - (g / d) * _a * _phi
    inc = {"P": sp.expand(d * (Xn**2 - _X**2)), "U": sp.expand(d * (Xn - _X) * _Xs)}
    drift, corr = {}, {}
    for name, e in inc.items():
        poly = sp.Poly(e, _a, _phi)
        mean = sum(c * _stein(m, F[n]) for (m, n), c in poly.terms())
        rate = d * _to_state(mean)
        drift[name], corr[name] = _expand_in_inverse_d(rate)
    risk = _E(L)
    optimal = _at_optimum(risk) if isinstance(risk, Expectation) else risk
    crit, secular, lin, note = _threshold(F, drift)
    return GLMLimit(loss_, f, F[1], F[2], L, drift["P"], drift["U"], corr["P"], corr["U"], risk, optimal,
                    crit, secular, lin, note)


_derive_in_memory = functools.cache(_derive)
_derive_on_disk = persistent(_derive)   # SymPy work of about 1 s per loss, once per machine (theory.diskcache)


def _threshold(F, drift):
    """Linearise the derived ODE at P = U = Q (X = X*); reduce to D = P - 2U + Q; secular equation."""
    if sp.simplify(F[1].subs(r, rs)) != 0:
        return None, None, None, "X = X* is not a stationary point of the ODE (E[f | r* ] != 0 at r = r*)"
    p, u, SP, SU = sp.symbols("p_i u_i S_P S_U", real=True)
    lin = {}
    for name, e in drift.items():
        e1 = _first_order(e, SP, SU).subs({P: Q + p, U: Q + u})
        e1 = sp.expand(e1)
        # keep the part linear in the deviations (p, u, S_P, S_U); the constant is the noise forcing
        poly = sp.Poly(e1, p, u, SP, SU)
        lin[name] = sum(c * sp.Mul(*[v**k for v, k in zip((p, u, SP, SU), mon)])
                        for mon, c in poly.terms() if sum(mon) == 1) + sp.S.Zero
    dD = sp.expand((lin["P"] - 2 * lin["U"]).subs({p: _D + 2 * u, SP: _SD + 2 * SU}))
    dD = sp.expand(sp.simplify(dD)) if dD.has(sigmoid) else dD
    if dD.has(u) or dD.has(SU):
        return None, None, None, "the linearisation at X = X* does not close on D = P - 2U + Q"
    a = sp.diff(dD, _D)
    c = sp.diff(dD, _SD)
    if a == 0:
        return None, None, dD, "the linearisation at X = X* is degenerate (no restoring force on D)"
    G0 = sp.factor(sp.cancel(lam * c / (-a)))            # per direction; summed as (1/d) sum_i
    k = sp.simplify(G0 / lam)
    if k.has(lam):  # pragma: no cover
        return None, None, dD, "the secular term is not proportional to lambda_i"
    sol = sp.solve(sp.Eq(k * tau1, 1), g)
    if len(sol) != 1:  # pragma: no cover
        return None, G0, dD, f"expected one critical learning rate, got {sol}"
    return sp.simplify(sol[0]), G0, dD, ""
