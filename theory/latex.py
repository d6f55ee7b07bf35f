"""LaTeX rendering of derivations: single objects and standalone documents."""
from __future__ import annotations

import sympy as sp

from . import symbols as sym
from .algorithms import GRADIENT

__all__ = ["recursion_latex", "document"]

_NEXT = {sym.m: r"m_{k+1,i}"}


def _names(rec):
    names = dict(sym.LATEX_NAMES)
    names.update(rec.algorithm._names())
    names[GRADIENT] = r"g_{k,i}"
    names[rec.algorithm.state[0]] = r"e_{k,i}"
    return names


def _next(tex):
    """The same quantity one step later: index k -> k+1, k-1 -> k."""
    return tex.replace("_{k,", "_{k+1,").replace("_{k-1,", "_{k,")


def tidy(expr):
    """Readable form: collected in the learning rate; a denominator with a positive constant term."""
    num, den = sp.fraction(sp.cancel(sp.together(expr)))
    if den.is_number or den.free_symbols <= {sym.B}:
        return sp.collect(sp.expand(expr), sym.gamma, sp.factor)
    main = [sym.gamma] if sym.gamma in den.free_symbols else list(den.free_symbols)
    if sp.expand(den).subs({x: 0 for x in main}).could_extract_minus_sign():
        num, den = -num, -den
    den = sp.collect(sp.expand(den), sym.gamma, sp.factor) if sym.gamma in den.free_symbols else sp.expand(den)
    return sp.Mul(sp.collect(sp.expand(num), sym.gamma, sp.factor), sp.Pow(den, -1), evaluate=False)


def _tex(expr, rec):
    return sp.latex(expr, symbol_names=_names(rec), order="none")


def _sum_i(expr, rec):
    body = _tex(expr, rec)
    return r"\sum_{i=1}^{d} " + (body if "+" not in body and "-" not in body[1:] else r"\left(" + body + r"\right)")


def recursion_latex(rec) -> str:
    """The whole derivation of ``rec`` as one amsmath ``align*`` environment."""
    Eg, Eg2 = rec.gradient_moments
    state = rec.algorithm.state
    rows = [
        r"&\text{update rule: } " + rec.algorithm.latex_update().replace("&=", "=").replace(r" \\ ", r",\quad "),
        r"&\text{data: } x_i = \sqrt{\lambda_i}\, z_i,\quad " + rec.data.latex_moment_rules(),
        r"&\text{minibatch gradient: } g_{k,i} = \frac{1}{B}\sum_{b=1}^{B} x_{b,i}\bigl(\langle x_b, e_k\rangle - \varepsilon_b\bigr),"
        r"\quad \mathbb{E}\varepsilon_b^2 = \sigma^2",
        r"\mathbb{E}[g_{k,i}\mid e_k] &= " + _tex(Eg, rec),
        r"\mathbb{E}[g_{k,i}^2\mid e_k] &= " + _tex(sp.collect(Eg2, [sym.S, sym.B]), rec)
        + r",\qquad S_k = \sum_{j=1}^d \lambda_j e_{k,j}^2",
    ]
    means = [sp.Symbol(r"\mathbb{E}\," + _tex(s, rec)) for s in state]
    for row, s in zip(rec.mean_matrix.tolist(), means):
        rhs = sum(c * mu for c, mu in zip(row, means))
        if _next(_tex(s, rec)) != _tex(rhs, rec):  # skip the trivial shift e_{k,i} = e_{k,i}
            rows.append(_next(_tex(s, rec)) + " &= " + _tex(rhs, rec))
    vec = sp.Matrix(rec.moments)
    for mm, Arow, ui, fi in zip(rec.moments, rec.A.tolist(), rec.u, rec.f):
        lin = sum(sp.Mul(tidy(c), x, evaluate=False) for c, x in zip(Arow, vec))
        if fi != 0 and sp.simplify(fi - ui * sym.sigma2) == 0:
            forcing = sp.Mul(ui, sp.Add(sym.S, sym.sigma2, evaluate=False), evaluate=False)
        else:
            forcing = ui * sym.S + fi
        lhs = _NEXT.get(mm, _next(_tex(mm, rec)))
        tail = "" if forcing == 0 else " + " + _tex(forcing, rec)
        if lhs == _tex(lin, rec) and not tail:
            continue  # the trivial shift m_{k,i} = m_{k,i}
        rows.append((lhs + " &= " + _tex(lin, rec) + tail).replace("+ -", "- "))
    coupling = sum(c * mm for c, mm in zip(rec.v, rec.moments))
    rows.append(r"S_k &= \sum_{j=1}^{d} " + _tex(coupling, rec).replace(r"\lambda_i", r"\lambda_j").replace("_{k,i}", "_{k,j}")
                + r",\qquad R_k = \tfrac12\bigl(S_k + \sigma^2\bigr)")
    G1 = tidy(rec.secular_term(1))
    rows.append(r"&\text{stable} \iff \rho(L) < 1;\ \text{critical learning rate } \gamma_c"
                + ("" if len(rec.moments) == 1 else r" \text{ (exit at } z = 1\text{)}") + r":\quad "
                + _sum_i(G1, rec) + " = 1")
    rows.append(r"R_\infty &= " + _tex(tidy(rec.stationary_risk_expression), rec)
                + r",\qquad \mathcal{G} = " + _sum_i(G1, rec) + r"\quad (0 < \gamma < \gamma_c)")
    return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"


def document(sections, title="sgdcheck derivations", results=None) -> str:
    """A complete LaTeX document (compiles with pdflatex) from (heading, body) pairs."""
    def esc(s):
        return str(s).replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")

    parts = [r"\documentclass[10pt]{article}", r"\usepackage[margin=2cm]{geometry}",
             r"\usepackage{amsmath,amssymb}", r"\allowdisplaybreaks",
             r"\title{" + esc(title) + "}", r"\date{}", r"\begin{document}", r"\maketitle"]
    for heading, body in sections:
        parts += [r"\section*{" + esc(heading) + "}", body]
    if results:
        parts += [r"\section*{Verification results}",
                  r"Monte Carlo checks by \texttt{python -m verify run}; each claim is a calibrated test "
                  r"whose family-wise false-failure probability is $\alpha$; $p$ is the claim's "
                  r"family-wise $p$-value (weighted Bonferroni over its checks).\par\medskip",
                  r"\begin{tabular}{lrrlr}", r"claim & $\alpha$ & $p$ & verdict & seed \\ \hline"]
        parts += [f"{esc(r['id'])} & {r.get('alpha', float('nan')):.0e} & {r['p_value']:.2g} & "
                  f"{esc(r['verdict'])} & {r['seed']} \\\\" for r in results]
        parts += [r"\end{tabular}"]
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"
