r"""LaTeX rendering: a printer with the field's term order, line breaking, and documents.

Nothing here types an equation: every printed right-hand side is a SymPy object
that a derivation produced (an update rule, a block of a :class:`theory.Recursion`,
a closed form). This module only decides how it is *written*:

* :func:`arrange` rebuilds an expression unevaluated in the conventional order —
  ascending powers of the learning rate, numbers first in a product, then
  hyperparameters, data symbols, brackets and finally state variables
  (``1 - 2\gamma\lambda_i + \gamma^2\lambda_i^2(1 + (\kappa_i - 2)/B)``, never
  ``(-2 + B + \kappa_i)`` or ``(-1)\gamma\lambda_i``);
* :func:`tidy` brings a rational function into that shape (collected in the
  learning rate, a denominator with a positive constant term, ``(B + c)/B``
  written ``1 + c/B``);
* :func:`to_latex` prints with :class:`Printer`, which keeps the arranged order;
* :func:`rows` breaks a long equation over several lines of an ``align*``
  environment at its top-level terms, so that no line exceeds :data:`WIDTH`
  (a budget in rendered math characters, checked against pdflatex in the tests).

The derivation of one :class:`theory.Recursion` is written by
:mod:`theory.latex_recursion`; :func:`document` assembles a standalone paper-ready
document with a section per derivation.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter

from . import symbols as sym

__all__ = ["WIDTH", "align", "arrange", "document", "fraction_rows", "math_width", "rows", "tidy", "to_latex"]

#: width budget of one displayed line, in rendered math characters (see :func:`math_width`);
#: about 420 pt at 10 pt type, inside the 500 pt text width of :func:`document`.
WIDTH = 66

_DATA = (sym.lam, sym.kappa, sym.mu6, sym.mu8)
_DATA_FAMILIES = ("lambda", "kappa", "mu6", "mu8")
_DATA_NAME = re.compile(r"(lambda|kappa|mu6|mu8)_([a-z])")
#: E S_k, the coupling sum of a moment recursion (printed \bar S_k)
SBAR = sp.Symbol(r"\bar{S}_k")
_LAST_SCALARS = (sym.S, SBAR, sym.sigma2, sym.B)


# ----------------------------------------------------------------------------- arrangement
def _sign(expr):
    """(negative?, |expr|) for a term whose leading number is negative, without evaluating."""
    if expr.is_Number and expr < 0:
        return True, -expr
    if expr.is_Mul and expr.args and expr.args[0].is_Number and expr.args[0] < 0:
        c, rest = -expr.args[0], expr.args[1:]
        if c == 1:
            return True, rest[0] if len(rest) == 1 else sp.Mul(*rest, evaluate=False)
        return True, sp.Mul(c, *rest, evaluate=False)
    return False, expr


def _degree(expr, symbols):
    """Degree of a term in ``symbols`` (a sum counts its highest term; a denominator counts 0)."""
    wanted = set(symbols)
    if not wanted:
        return 0

    def deg(e):
        if e in wanted:
            return 1
        if e.is_Mul:
            return sum(deg(a) for a in e.args)
        if e.is_Add:
            return max(deg(a) for a in e.args)
        if e.is_Pow and e.exp.is_Integer:
            return deg(e.base) * int(e.exp) if e.exp > 0 else 0
        return 0
    return deg(expr)


class _Order:
    """Ranks symbols: numbers, hyperparameters, data, sigma^2/S/B, brackets, state (``late``)."""

    def __init__(self, main=sym.gamma, late=()):
        self.main, self.order = main, list(late)
        self.late = set(late)

    def symbol_rank(self, s):
        if s in self.late:
            return (5, self.order.index(s))
        if s in _DATA:
            return (2, _DATA.index(s), "i")
        m = _DATA_NAME.fullmatch(str(s))
        if m:  # the same data symbol along another direction, e.g. lambda_j after lambda_i
            return (2, _DATA_FAMILIES.index(m.group(1)), m.group(2))
        if s in _LAST_SCALARS:
            return (3, _LAST_SCALARS.index(s))
        return (1, str(s).lower())

    def factor_rank(self, f):
        base = f.base if f.is_Pow else f
        if base.is_Number:
            return (0, 0)
        if base.is_Symbol:
            return self.symbol_rank(base)
        if base.free_symbols & self.late:
            return (6, min(self.order.index(s) for s in base.free_symbols & self.late))
        return (4, str(base))

    def term_key(self, t):
        free = t.free_symbols
        hyper = sorted((s for s in free if self.symbol_rank(s)[0] == 1 and s != self.main), key=str)
        late = sorted(self.order.index(s) for s in free & self.late)
        return (_degree(t, [self.order[k] for k in late]), late, _degree(t, [self.main]) if self.main in free else 0,
                _degree(t, hyper), _degree(t, [s for s in free if self.symbol_rank(s)[0] == 2]),
                sp.default_sort_key(t))

    def is_hyper_polynomial(self, add):
        """A negative number plus terms that each hold a hyperparameter, e.g. -1 + beta or gamma lambda_i - 1."""
        const, rest = sp.Add(*sp.expand(add).args).as_coeff_Add()
        const, rest = [const] if const else [], list(sp.Add.make_args(rest))
        return (bool(const) and const[0] < 0 and bool(rest)
                and all(any(self.symbol_rank(s)[0] == 1 for s in t.free_symbols) for t in rest))


def arrange(expr, main=sym.gamma, late=(), keep=False):
    """``expr`` rebuilt unevaluated in the conventional order (printed as is by :func:`to_latex`).

    ``main`` is the variable whose powers ascend in a sum (the learning rate);
    ``late`` are symbols written last in a product (state variables, moments).
    With ``keep`` the terms of a top-level sum keep their order.
    The value is unchanged: ``sp.simplify(arrange(e) - e) == 0``.
    """
    return _arrange(sp.sympify(expr, strict=True), _Order(main, late), keep)


def _flat(e, kind):
    """The arguments of nested unevaluated sums (kind=Add) or products (kind=Mul)."""
    out = []
    for a in e.args:
        out += _flat(a, kind) if isinstance(a, kind) else [a]
    return out


def _arrange(e, order, keep=False):
    if e.is_Atom:
        return e
    if e.is_Add:
        terms = []
        for t in _flat(e, sp.Add):
            if t.is_Mul and len(t.args) == 2 and t.args[0].is_Number and t.args[1].is_Add:
                terms += [_arrange(t.args[0] * a, order) for a in t.args[1].args]  # -(1 - x) -> -1 + x
                continue
            t = _arrange(t, order)
            terms += _flat(t, sp.Add) if t.is_Add else [t]
        if keep:
            return sp.Add(*terms, evaluate=False)
        terms.sort(key=order.term_key)
        if _sign(terms[0])[0]:
            first = next((k for k, t in enumerate(terms) if not _sign(t)[0]), 0)
            terms = terms[first:] + terms[:first]
        return sp.Add(*terms, evaluate=False)
    if e.is_Mul:
        coeff, factors = sp.Integer(1), []
        for f in _flat(e, sp.Mul):
            if f.is_Number:
                coeff *= f
            else:
                factors.append(f)
        if coeff == 0:
            return sp.Integer(0)
        out = []
        for f in factors:
            base, exp = (f.base, f.exp) if f.is_Pow else (f, sp.Integer(1))
            if base.is_Add and order.is_hyper_polynomial(base) and exp.is_integer:
                base = -base  # (-1 + beta) -> (1 - beta)
                coeff = coeff * (-1) ** exp
            out.append(_arrange(base, order) if exp == 1 else sp.Pow(_arrange(base, order), exp, evaluate=False))
        out.sort(key=order.factor_rank)
        if coeff == 1 and out:
            return out[0] if len(out) == 1 else sp.Mul(*out, evaluate=False)
        return sp.Mul(coeff, *out, evaluate=False)
    if e.is_Pow:
        base = e.base
        if base.is_Add and order.is_hyper_polynomial(base) and e.exp.is_integer and e.exp % 2 == 0:
            base = -base
        return sp.Pow(_arrange(base, order), e.exp, evaluate=False)
    return e.func(*[_arrange(a, order) for a in e.args])


def _coefficient(c, main):
    """A coefficient free of the learning rate: (B + c)/B written 1 + c/B, content factored out."""
    c = sp.factor(c)
    num, den = sp.fraction(c)
    if not (den.free_symbols and den.free_symbols <= {sym.B}) or sym.B not in num.free_symbols:
        return c
    outside, inside = sp.Integer(1), sp.Integer(1)
    for f in sp.Mul.make_args(num):
        if sym.B in f.free_symbols:
            inside *= f
        else:
            outside *= f
    if sp.degree(inside, sym.B) < sp.degree(den, sym.B):
        return c
    return outside * sp.apart(inside / den, sym.B)


def _polynomial(p, main):
    """p (a denominator free of ``main`` allowed) as content times the sum of main^n c_n.

    The content is the product of the factors free of ``main`` and of the batch size;
    each c_n goes through :func:`_coefficient`.
    """
    p = sp.factor(p)
    if main not in p.free_symbols:
        return _coefficient(p, main)
    content, rest = sp.Integer(1), sp.Integer(1)
    for f in sp.Mul.make_args(p):
        if not (f.free_symbols & {main, sym.B}):
            content *= f
        else:
            rest *= f
    num, den = sp.fraction(sp.together(rest))
    poly = sp.Poly(sp.expand(num), main)
    if not any(sp.degree(c, sym.B) >= sp.degree(den, sym.B) for _, c in poly.terms()):
        content, den = content / den, sp.Integer(1)  # 1/B stays outside: gamma (gamma_1 + ...)/B
    terms = [_coefficient(c / den, main) if n == 0 else sp.Mul(main**n, _coefficient(c / den, main), evaluate=False)
             for (n,), c in poly.terms()]
    return sp.Mul(content, sp.Add(*terms, evaluate=False), evaluate=False)


def _typical_value(expr):
    """expr at a typical point (B = 2, every other symbol 1/3): its sign decides how a fraction is written."""
    return float(expr.subs({s: (2 if s == sym.B else sp.Rational(1, 3)) for s in expr.free_symbols}))


def tidy(expr, main=sym.gamma):
    """The value of ``expr`` in the field's written form (see the module docstring).

    A fraction whose denominator depends on ``main`` is written with the sign that
    makes the denominator's constant term positive; otherwise the expression is a
    polynomial in ``main`` whose coefficients may have the batch size in a denominator.
    """
    expr = sp.sympify(expr, strict=True)
    num, den = sp.fraction(sp.cancel(sp.together(expr)))
    if main not in den.free_symbols:
        return _polynomial(num / den, main)
    const = sp.expand(den).subs(main, 0)
    if const != 0 and _typical_value(const) < 0:
        num, den = -num, -den
    return sp.Mul(_polynomial(num, main), sp.Pow(_polynomial(den, main), -1, evaluate=False), evaluate=False)


# ----------------------------------------------------------------------------- printing
class Printer(LatexPrinter):
    """SymPy's LaTeX printer that keeps the order of an arranged expression and writes
    signs as ``a - 2 b`` (never ``(-1) b`` or ``a + -2 b``)."""

    def __init__(self, names):
        super().__init__({"symbol_names": names, "order": "none"})

    def _print_Add(self, expr, order=None):
        out = ""
        for k, term in enumerate(expr.args):
            neg, body = _sign(term)
            tex = self._print(body)
            if body.is_Add:
                tex = r"\left(" + tex + r"\right)"
            out += ("- " if neg else "") + tex if k == 0 else (" - " if neg else " + ") + tex
        return out

    def _factors(self, factors):
        parts = []
        for f in factors:
            tex = self._print(f)
            if f.is_Add or (f.is_Number and f < 0):
                tex = r"\left(" + tex + r"\right)"
            parts.append(tex)
        return " ".join(parts)

    def _print_Mul(self, expr):
        neg, body = _sign(expr)
        if neg:
            return "- " + self._print(body)
        args = list(body.args) if body.is_Mul else [body]
        coeff = sp.Integer(1)
        if args and args[0].is_Rational:
            coeff, args = args[0], args[1:]
        num = [f for f in args if not (f.is_Pow and f.exp.is_negative)]
        den = [sp.Pow(f.base, -f.exp) if f.exp != -1 else f.base for f in args if f.is_Pow and f.exp.is_negative]
        if coeff.p != 1:
            num.insert(0, sp.Integer(coeff.p))
        if coeff.q != 1:
            den.insert(0, sp.Integer(coeff.q))
        if not den:
            return self._factors(num) if num else "1"
        top = self._print(num[0]) if len(num) == 1 else (self._factors(num) if num else "1")
        bottom = self._print(den[0]) if len(den) == 1 else self._factors(den)
        return r"\frac{" + top + "}{" + bottom + "}"


def to_latex(expr, names, main=sym.gamma, late=()):
    r"""LaTeX of ``expr`` in the conventional order, with ``names`` (symbol -> LaTeX).

    Example
    -------
    >>> from theory.symbols import LATEX_NAMES, gamma, lam, kappa, B
    >>> print(to_latex(tidy(1 - 2*gamma*lam + gamma**2*lam**2*(B + kappa - 2)/B), LATEX_NAMES))
    1 - 2 \gamma \lambda_i + \gamma^{2} \lambda_i^{2} \left(1 + \frac{\kappa_i - 2}{B}\right)
    """
    return Printer(names).doprint(arrange(expr, main, late))


# ----------------------------------------------------------------------------- layout
_SPACES = {r"\quad": 1.5, r"\qquad": 3.0, r"\,": 0.2, r"\ ": 0.4, r"\;": 0.3, r"\!": -0.2}
_INVISIBLE = re.compile(r"\\(left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|displaystyle|textstyle|notag"
                        r"|mathrm|mathbb|mathcal|operatorname|boldsymbol)(?![a-zA-Z])")


def _group(tex, k):
    """(content of the brace group starting at tex[k] == '{', index after it)."""
    depth = 0
    for j in range(k, len(tex)):
        depth += {"{": 1, "}": -1}.get(tex[j], 0)
        if depth == 0:
            return tex[k + 1:j], j + 1
    return tex[k + 1:], len(tex)


def math_width(tex: str, script=0.7) -> float:
    r"""Rendered width of inline LaTeX maths, in characters of normal-size math.

    A proxy for TeX's box width: a letter, digit, operator or command such as
    ``\gamma`` counts 1 (binary operators and relations 2, for their spacing);
    sub- and superscripts count ``script`` per character; ``\frac{a}{b}`` counts
    the wider of a and b (scaled by ``script`` when nested); ``\text{...}`` counts
    its characters; spacing commands count their width; ``\left``, braces and
    font switches count nothing.
    """
    width, k, n = 0.0, 0, len(tex)
    while k < n:
        ch = tex[k]
        if ch == "\\":
            m = re.match(r"\\([a-zA-Z]+|.)", tex[k:], re.DOTALL)
            if m is None:  # a lone backslash at the end
                break
            cmd = m.group(0)
            k += len(cmd)
            if cmd in _SPACES:
                width += _SPACES[cmd]
            elif cmd in (r"\frac", r"\tfrac", r"\dfrac"):
                if tex[k:k + 1] == "{":
                    a, k = _group(tex, k)
                    b, k = _group(tex, k)
                else:  # \tfrac12
                    a, b, k = tex[k], tex[k + 1], k + 2
                inner = 1.0 if cmd == r"\dfrac" or (cmd == r"\frac" and script == 0.7) else 0.75
                width += max(math_width(a, 0.6), math_width(b, 0.6)) * inner + 0.5
            elif cmd in (r"\text", r"\mathrm", r"\texttt") and tex[k:k + 1] == "{":
                body, k = _group(tex, k)
                width += 0.55 * len(re.sub(r"\\[a-zA-Z]+|[{}$]", "", body)) + math_width(
                    "".join(re.findall(r"\$([^$]*)\$", body)))
            elif _INVISIBLE.match(cmd):
                continue
            elif cmd in (r"\sum", r"\prod", r"\int"):
                width += 1.6
            elif cmd in (r"\iff", r"\le", r"\ge", r"\ne", r"\to", r"\in"):
                width += 2.0
            else:
                width += 1.0
        elif ch in "_^":
            k += 1
            if tex[k:k + 1] == "{":
                body, k = _group(tex, k)
            else:
                m = re.match(r"\\[a-zA-Z]+|.", tex[k:])
                body = m.group(0)
                k += len(body)
            width += script * math_width(body)
        elif ch in "{}& \n":
            k += 1
        elif ch in "+-=<>":
            width += 2.0
            k += 1
        else:
            width += 1.0
            k += 1
    return width


def _top_terms(expr):
    return list(expr.args) if expr.is_Add else [expr]


def _chunks(expr, printer, budget):
    """Strings whose concatenation prints ``expr``; each later one starts with its sign."""
    full = printer.doprint(expr)
    if math_width(full) <= budget:
        return [full]
    if expr.is_Add:
        out = []
        for k, term in enumerate(expr.args):
            neg, body = _sign(term)
            sub = _chunks(body, printer, budget)
            if body.is_Add:
                sub = [r"\Bigl(" + sub[0]] + sub[1:-1] + ([sub[-1] + r"\Bigr)"] if len(sub) > 1 else [])
                if len(sub) == 1:
                    sub[0] += r"\Bigr)"
            head = ("- " if neg else "") if k == 0 else ("- " if neg else "+ ")
            out += [head + sub[0]] + sub[1:]
        return out
    if expr.is_Mul:
        neg, body = _sign(expr)
        args = list(body.args) if body.is_Mul else [body]
        brackets = [k for k, f in enumerate(args) if f.is_Add]
        if len(brackets) == 1:
            k = brackets[0]
            pre = printer.doprint(sp.Mul(*args[:k], evaluate=False)) if k else ""
            post = printer._factors(args[k + 1:])
            sub = _chunks(args[k], printer, budget)
            if len(sub) > 1:
                big = r"\biggl(" if r"\frac" in full else r"\Bigl("
                close = r"\biggr)" if r"\frac" in full else r"\Bigr)"
                sub[0] = ("- " if neg else "") + (pre + " " if pre else "") + big + sub[0]
                sub[-1] = sub[-1] + close + (" " + post if post else "")
                return sub
    return [full]


def rows(lhs: str, rhs, names, main=sym.gamma, late=(), width=WIDTH, suffix="", keep=False) -> list:
    r"""Rows ``lhs &= ...`` of an ``align*`` environment for ``lhs = rhs``, broken at top-level terms.

    ``rhs`` is a SymPy expression, arranged here (``keep``: its top-level terms keep
    their order); continuation rows start with ``&\quad``. ``suffix`` (e.g. ``","``)
    ends the last row.
    """
    printer = Printer(names)
    expr = arrange(rhs, main, late, keep)
    room = width - math_width(lhs) - 2
    pieces = _chunks(expr, printer, min(room, width - 4))
    out, line = [], lhs + " &= "
    used = math_width(lhs) + 2
    first = True
    for piece in pieces:
        w = math_width(piece)
        if not first and used + w > width:
            out.append(line.rstrip())
            line, used = r"&\quad " + piece, 1.5 + w
        else:
            line += ("" if first else " ") + piece
            used += w
        first = False
    out.append(line.rstrip() + suffix)
    return out


_BREAKS = re.compile(r"(,\\qquad |,\\quad |;\\ |\\qquad(?=\\text)|\\quad(?=\\text|\(\\text))")


def align(lines, width=WIDTH) -> str:
    r"""An ``align*`` environment of ``lines``; a line wider than ``width`` is broken at its
    ``,\quad``-type separators (continuation lines start at the alignment point).
    An ``\intertext{...}`` line (text between the equations) takes no line break of its own.

    Example
    -------
    >>> print(align([r"\intertext{Update rule:}", r"e_{k+1,i} &= e_{k,i} - \gamma g_{k,i}"]))
    \begin{align*}
    \intertext{Update rule:}
    e_{k+1,i} &= e_{k,i} - \gamma g_{k,i}
    \end{align*}
    """
    out = []
    for line in lines:
        if line.startswith(r"\intertext") or math_width(line) <= width:
            out.append(line)
            continue
        pieces = _BREAKS.split(line)
        current = pieces[0]
        for k in range(1, len(pieces) - 1, 2):
            sep, piece = pieces[k], pieces[k + 1]
            if math_width(current + sep + piece) > width:
                out.append(current + sep.rstrip().removesuffix(r"\quad").removesuffix(r"\qquad").rstrip())
                current = (r"&\quad " if "&=" in line or line.lstrip().startswith("&\\quad") else "&") + piece
            else:
                current += sep + piece
        out.append(current)
    body = "".join(line + ("\n" if line.startswith(r"\intertext") or k == len(out) - 1 else " \\\\\n")
                   for k, line in enumerate(out))
    return "\\begin{align*}\n" + body + "\\end{align*}"


def fraction_rows(name: str, expr, names, main=sym.gamma, late=(), width=WIDTH, base=None) -> list:
    r"""Rows defining ``name = expr`` (a rational function, written by :func:`tidy`); a fraction too
    wide for one line is written ``name = N/D`` with its numerator N and denominator D on rows of
    their own, named ``N^{base}_i`` and ``D^{base}_i`` (``base`` by default the part of ``name``
    before ``_`` when that is a plain symbol, else ``N_i``, ``D_i``)."""
    t = tidy(expr, main)
    if math_width(Printer(names).doprint(arrange(t, main, late))) <= width - math_width(name) - 3:
        return rows(name, t, names, main=main, late=late, suffix=",")
    if t.is_Mul and len(t.args) == 2 and t.args[1].is_Pow:
        num, den = t.args[0], t.args[1].base
    else:
        num, den = sp.fraction(sp.together(expr))
    if base is None:
        head = name.split("_")[0]
        base = head if re.fullmatch(r"\\?[A-Za-z]+", head) else ""
    top, bottom = (f"N^{{{base}}}_i", f"D^{{{base}}}_i") if base else ("N_i", "D_i")
    return ([name + r" &= \frac{" + top + "}{" + bottom + "},"]
            + rows(top, num, names, main=main, late=late, suffix=",")
            + rows(bottom, den, names, main=main, late=late, suffix=","))


# ----------------------------------------------------------------------------- documents
def document(sections, title="sgdcheck derivations", results=None) -> str:
    r"""A complete LaTeX document (pdflatex, amsmath) from ``(heading, body)`` pairs.

    Each section is numbered; a body is LaTeX (text and display environments).
    ``results`` (rows of a ``python -m verify run --json`` file) adds a table of
    verification results.
    """
    def esc(s):
        return (str(s).replace("_", r"\_").replace("&", r"\&").replace("%", r"\%")
                .replace("^", r"\^{}").replace("#", r"\#").replace("->", r"$\to$")
                .replace("<", r"$<$").replace(">", r"$>$"))

    parts = [r"\documentclass[10pt]{article}", r"\usepackage[margin=2cm]{geometry}",
             r"\usepackage{amsmath,amssymb}", r"\allowdisplaybreaks",
             r"\title{" + esc(title) + "}", r"\date{}", r"\begin{document}", r"\maketitle"]
    for heading, body in sections:
        parts += [r"\section{" + esc(heading) + "}", body]
    if results:
        parts += [r"\section*{Verification results}",
                  (r"Monte Carlo checks by \texttt{python -m verify run}; each claim is a calibrated test "
                   r"whose family-wise false-failure probability is $\alpha$; $p$ is the claim's "
                   r"family-wise $p$-value (weighted Bonferroni over its checks).\par\medskip"),
                  r"\begin{tabular}{lrrlr}", r"claim & $\alpha$ & $p$ & verdict & seed \\ \hline"]
        parts += [f"{esc(r['id'])} & {r.get('alpha', float('nan')):.0e} & {r['p_value']:.2g} & "
                  f"{esc(r['verdict'])} & {r['seed']} \\\\" for r in results]
        parts += [r"\end{tabular}"]
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"
