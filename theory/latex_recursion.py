r"""The derivation of a :class:`theory.Recursion` as LaTeX, every equation printed from the derived objects.

Row by row (one ``align*`` environment), each right-hand side is a SymPy object:

* the update rule — the algorithm's ``update`` tuple (each state variable advanced
  to step k+1 on the left; a plain shift such as e_{k,i} = e_{k,i} is not printed);
* the gradient point p_{k,i} (when it is not the error) and the conditional
  gradient moments — :func:`theory.derive.gradient_moments` of the data model;
* the means and the second moments — the rows of ``mean_matrix`` and of the
  blocks ``A``, ``u``, ``f`` (with \bar S_k = E S_k the coupling);
* the coupling \bar S_k — the weights ``v``; the risk R_k — the weights ``w``
  (written through \bar S_k only when ``w == v``);
* the critical learning rate — the secular term G_i = v_i^T (I - A_i)^{-1} u_i;
* the stationary risk — :attr:`theory.Recursion.stationary_risk_expression`, with
  every sum in it (\mathcal G, \mathcal H, \mathcal W, \mathcal W_f) defined.

Names come from :func:`latex_names`, the one place that reads an algorithm's names.
"""
from __future__ import annotations

import re

import sympy as sp

from . import symbols as sym
from .algorithms import GRADIENT
from .latex import SBAR, align, arrange, fraction_rows, rows, tidy, to_latex

__all__ = [
    "POINT",
    "SBAR",
    "SUM_NAMES",
    "advance",
    "latex_names",
    "recursion_latex",
    "recursion_section",
    "update_rows",
]

#: the gradient point p_{k,i} (the state combination the gradient is evaluated at)
POINT = sp.Symbol("p_i", real=True)
#: the sums of :attr:`theory.Recursion.stationary_risk_expression` and their printed names
SUM_NAMES = {sp.Symbol(r"\mathcal{G}"): r"\mathcal{G}", sp.Symbol(r"\mathcal{H}"): r"\mathcal{H}",
             sp.Symbol(r"\mathcal{Wx}"): r"\mathcal{W}", sp.Symbol(r"\mathcal{Wy}"): r"\mathcal{W}_f"}
#: the per-direction term of each sum: (sum key in Recursion._stationary_terms, term name)
_SUM_TERMS = {sp.Symbol(r"\mathcal{G}"): ("G", "G_i"), sp.Symbol(r"\mathcal{H}"): ("H", "H_i"),
              sp.Symbol(r"\mathcal{Wx}"): ("Wx", "W_i"), sp.Symbol(r"\mathcal{Wy}"): ("Wy", r"W_{f,i}")}
_SUM_MEANING = {"G": r"v_i^\top (I - A_i)^{-1} u_i", "H": r"v_i^\top (I - A_i)^{-1} f_i",
                "Wx": r"w_i^\top (I - A_i)^{-1} u_i", "Wy": r"w_i^\top (I - A_i)^{-1} f_i"}


def _declared_names(algorithm) -> dict:
    """The algorithm's declared LaTeX names (symbol -> LaTeX at step k, direction i)."""
    return algorithm.latex_names


def latex_names(algorithm) -> dict:
    r"""Symbol -> LaTeX at step k, direction i, for every symbol a derivation of ``algorithm`` prints.

    The algorithm's declared names first; a state variable it does not name is
    written s^{(a)}_{k,i}, a second moment it does not name \mathbb{E}\, s_a s_b.

    Example
    -------
    >>> from theory import HeavyBall
    >>> from theory.symbols import m
    >>> latex_names(HeavyBall())[m], advance(latex_names(HeavyBall())[m])
    ('m_{k,i}', 'm_{k+1,i}')
    """
    names = {**sym.LATEX_NAMES, **_declared_names(algorithm)}
    names[GRADIENT] = r"g_{k,i}"
    names[algorithm.state[0]] = names.get(algorithm.state[0], r"e_{k,i}")
    for a, s in enumerate(algorithm.state):
        names.setdefault(s, rf"s^{{({a})}}_{{k,i}}")
    n = len(algorithm.state)
    for a in range(n):
        for b in range(a, n):
            mm = algorithm.second_moment_symbol(a, b)
            if mm not in names:
                sa, sb = names[algorithm.state[a]], names[algorithm.state[b]]
                square = r"\bigl(" + sa + r"\bigr)^2" if "^" in sa else sa + "^2"
                names[mm] = r"\mathbb{E}\, " + (square if a == b else sa + " " + sb)
    return names


def advance(tex: str) -> str:
    """The same quantity one step later: step index k -> k+1 and k-1 -> k."""
    return re.sub(r"_\{k(-1)?(?=[,}])", lambda m: "_{k" if m.group(1) else "_{k+1", tex)


def _direction_j(tex: str) -> str:
    """The same quantity along direction j instead of i."""
    return re.sub(r"_i(?![a-zA-Z])", "_j", re.sub(r",i\}", ",j}", tex))


def update_rows(algorithm) -> list:
    """Rows ``s_{k+1,i} &= ...`` of the update rule, from ``algorithm.update``."""
    names = latex_names(algorithm)
    late = [GRADIENT, *algorithm.state]
    out = []
    for s, new in zip(algorithm.state, algorithm.update):
        lhs = advance(names[s])
        if new.is_Symbol and names.get(new) == lhs:
            continue  # the plain shift, e.g. e_{k,i} = e_{k,i}
        out += rows(lhs, new, names, late=late)
    return out


def _sum(expr, names, late, index="i"):
    r"""``\sum_{index=1}^{d}`` followed by ``expr`` (bracketed when it is a sum)."""
    tex = to_latex(expr, names, late=late)
    if arrange(expr, late=late).is_Add:
        tex = r"\left(" + tex + r"\right)"
    return r"\sum_{" + index + r"=1}^{d} " + tex


def _stationary(rec, names):
    """R_inf with each sum it uses either rewritten through another sum or defined."""
    terms = rec._stationary_terms
    expr = rec.stationary_risk_expression
    local = {sym.lam, sym.kappa}
    order = [sp.Symbol(r"\mathcal{G}"), sp.Symbol(r"\mathcal{Wx}")]
    for x in (sp.Symbol(r"\mathcal{H}"), sp.Symbol(r"\mathcal{Wy}")):
        if x not in expr.free_symbols:
            continue
        for y in order:
            key_x, key_y = _SUM_TERMS[x][0], _SUM_TERMS[y][0]
            if terms[key_y] == 0:
                continue
            ratio = sp.cancel(terms[key_x] / terms[key_y])
            if not (ratio.free_symbols & local):
                expr = expr.subs(x, ratio * y)
                break
    expr = sp.factor(sp.simplify(expr))
    used = [s for s in _SUM_TERMS if s in expr.free_symbols]
    return expr, used


def _linear_form(weights, moments):
    """sum_b c_b s_b with the common factor of the c_b taken out (e.g. lambda_j)."""
    coeffs = [sp.factor(c) for c in weights]
    content = sp.factor(sp.gcd_list([c for c in coeffs if c != 0])) if any(c != 0 for c in coeffs) else 1
    terms = [sp.Mul(sp.factor(c / content), mm, evaluate=False) for c, mm in zip(coeffs, moments) if c != 0]
    inner = terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)
    return sp.Mul(content, inner, evaluate=False)


def recursion_latex(rec) -> str:
    """The whole derivation of ``rec`` as one amsmath ``align*`` environment (see the module docstring)."""
    alg = rec.algorithm
    names = {**latex_names(alg), SBAR: r"\bar{S}_k", POINT: r"p_{k,i}", **SUM_NAMES}
    state = list(alg.state)
    moments = list(rec.moments)
    point_is_error = sp.simplify(alg.gradient_point - state[0]) == 0
    names[POINT] = names[state[0]] if point_is_error else r"p_{k,i}"
    p_k = names[POINT].replace(",i}", "}")

    out = [r"\intertext{Update rule:}"] + alg.latex_update().split(" \\\\\n")
    if not point_is_error:
        out += [r"\intertext{Gradient point:}"] + rows(r"p_{k,i}", alg.gradient_point, names, late=state)
    out += [r"\intertext{Minibatch gradient and its conditional moments ($\mathcal{F}_k$ the history up to step $k$):}",
            r"g_{k,i} &= \frac{1}{B}\sum_{b=1}^{B} x_{b,i}\bigl(\langle x_b, " + p_k + r"\rangle - \varepsilon_b\bigr),"
            r"\qquad S_k = \sum_{j=1}^{d} \lambda_j " + _direction_j(names[POINT]) + "^2,"]
    from .derive import gradient_moments
    Eg, Eg2 = gradient_moments(rec.data, POINT)
    out += rows(r"\mathbb{E}[g_{k,i} \mid \mathcal{F}_k]", Eg, names, late=[POINT], suffix=",")
    p2 = POINT**2
    second = sp.expand(Eg2)
    rest = sp.factor(second - second.coeff(POINT, 2) * p2)
    Eg2_form = sp.Add(sp.Mul(tidy(second.coeff(POINT, 2)), p2, evaluate=False), rest, evaluate=False)
    out += rows(r"\mathbb{E}[g_{k,i}^2 \mid \mathcal{F}_k]", Eg2_form, names, late=[POINT], suffix=",")

    means = [sp.Symbol(f"mean_{a}") for a in range(len(state))]
    names.update({mu: r"\mathbb{E}\, " + names[s] for mu, s in zip(means, state)})
    out.append(r"\intertext{Means:}")
    for row, mu in zip(rec.mean_matrix.tolist(), means):
        rhs = sp.Add(*[sp.Mul(tidy(c), x, evaluate=False) for c, x in zip(row, means) if c != 0],
                     evaluate=False)
        lhs = advance(names[mu])
        if to_latex(rhs, names, late=means) != lhs:
            out += rows(lhs, rhs, names, late=means, suffix=",", keep=True)

    out.append(r"\intertext{Second moments, with $\bar{S}_k = \mathbb{E}\, S_k$:}")
    late = moments
    for mm, A_row, ui, fi in zip(moments, rec.A.tolist(), rec.u, rec.f):
        terms = [sp.Mul(tidy(c), x, evaluate=False) for c, x in zip(A_row, moments) if c != 0]
        if fi != 0 and sp.simplify(fi - ui * sym.sigma2) == 0:
            terms.append(sp.Mul(tidy(ui), sp.Add(SBAR, sym.sigma2, evaluate=False), evaluate=False))
        else:
            terms += [sp.Mul(tidy(ui), SBAR, evaluate=False)] if ui != 0 else []
            terms += [tidy(fi)] if fi != 0 else []
        rhs = sp.Add(*terms, evaluate=False) if terms else sp.Integer(0)
        lhs = advance(names[mm])
        if to_latex(rhs, names, late=late) != lhs:
            out += rows(lhs, rhs, names, late=late, suffix=",", keep=True)

    names_j = {s: _direction_j(t) for s, t in names.items()}
    coupling, risk = _linear_form(rec.v, moments), _linear_form(rec.w, moments)
    out.append(r"\intertext{Coupling and risk $R_k = \tfrac12\,\mathbb{E}\bigl(\langle x, \theta_k\rangle - y\bigr)^2$:}")
    out.append(r"\bar{S}_k &= " + _sum(coupling, names_j, late, "j") + ",")
    if list(rec.v) == list(rec.w):
        out.append(r"R_k &= \tfrac12\bigl(\bar{S}_k + \sigma^2\bigr),")
    else:
        out.append(r"R_k &= \tfrac12\Bigl(" + _sum(risk, names_j, late, "j") + r" + \sigma^2\Bigr),")

    exit_note = "" if len(moments) == 1 else r" (the exit of the spectrum at $z = 1$)"
    out.append(r"\intertext{Critical learning rate" + exit_note + r": the second-moment map $L$ is stable, "
               r"$\rho(L) < 1$, iff $\gamma < \gamma_c$, where $\sum_{i=1}^{d} G_i = 1$ at $\gamma = \gamma_c$ and}")
    out += fraction_rows("G_i", rec._stationary_terms["G"], names)

    risk_inf, used = _stationary(rec, names)
    out.append(r"\intertext{Stationary risk ($0 < \gamma < \gamma_c$):}")
    out += rows(r"R_\infty", tidy(risk_inf, main=sp.Symbol(r"\mathcal{G}")), names, suffix=",")
    defs = []
    for s in used:
        key, term = _SUM_TERMS[s]
        defs.append(SUM_NAMES[s] + r" = \sum_{i=1}^{d} " + term)
    extra = [s for s in used if _SUM_TERMS[s][0] != "G"]
    out.append("&" + r",\quad ".join(defs) + (r",\quad \text{with}" if extra else "."))
    for s in extra:
        key, term = _SUM_TERMS[s]
        if key != "G":
            out += fraction_rows(term, rec._stationary_terms[key], names)
    out[-1] = out[-1].rstrip(",.") + "."
    return align(out)


def recursion_section(rec) -> str:
    """Assumptions, source and derivation of ``rec``: the body of a document section."""
    alg = rec.algorithm
    data = rec.data
    text = [r"\paragraph{Assumptions.} Least squares with label noise: $y = \langle x, \theta^*\rangle + \varepsilon$, "
            r"$\mathbb{E}\varepsilon = 0$, $\mathbb{E}\varepsilon^2 = \sigma^2$, $\varepsilon$ independent of $x$; "
            r"inputs $x = K^{1/2} z$ in the eigenbasis of $K = \mathrm{diag}(\lambda_1, \dots, \lambda_d)$ with "
            r"$" + data.latex_moment_rules().replace(r"\quad", r"\ ") + r"$; "
            r"a fresh minibatch of $B$ samples at each step; error $e_k = \theta_k - \theta^*$; "
            r"learning rate $\gamma$ per step (not scaled by $1/d$); time is the step count $k$.",
            r"\paragraph{Source.} " + _escape(alg.source or "derived by sgdcheck") + ".",
            recursion_latex(rec)]
    return "\n\n".join(text)


def _escape(text: str) -> str:
    return str(text).replace("&", r"\&").replace("_", r"\_").replace("%", r"\%")
