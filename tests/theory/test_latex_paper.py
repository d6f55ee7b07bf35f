"""Paper-ready LaTeX: conventional term order, defined symbols, lines that fit the page.

With pdflatex installed the standalone document is compiled and its log must show no
overfull box over 1 pt and no undefined control sequence. Without it, a structural
check stands in: every macro is standard or defined in the preamble, every ``\\mathcal``
takes one letter, and every displayed line stays within the width budget measured in
rendered math characters (:func:`theory.latex.math_width`, the budget calibrated on
pdflatex so that the compile test passes at it).
"""
from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import sympy as sp

from theory import SGD, Gaussian, HeavyBall, IndependentCoordinates, Nesterov, derive
from theory import symbols as sym
from theory.__main__ import main
from theory.algorithms import GeneralizedMomentum
from theory.latex import WIDTH, align, arrange, math_width, rows, tidy, to_latex

#: LaTeX, amsmath and amssymb macros the documents may use
STANDARD = frozenset(r"""
documentclass usepackage title date begin end maketitle section paragraph par medskip hline texttt text
textstyle displaystyle frac tfrac dfrac sqrt sum int prod left right bigl bigr Bigl Bigr biggl biggr Big
quad qquad mathbb mathcal mathrm operatorname langle rangle mid iff le ge ne to top dots cdot cdots ldots
alpha beta gamma delta Delta epsilon varepsilon eta theta kappa lambda mu nu xi pi rho sigma Sigma tau phi varphi
psi omega infty partial lfloor rfloor xrightarrow allowdisplaybreaks pm bar hat tilde log exp det ell sim intertext
substack leq geq circ nabla
""".split())  # noqa: SIM905 - a word list


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    out = tmp_path_factory.mktemp("doc") / "d.tex"
    assert main(["latex", "--standalone", "-o", str(out)]) == 0
    return out


def _display_rows(text):
    for _, body in re.findall(r"\\begin\{(align\*|equation\*)\}(.*?)\\end\{\1\}", text, re.DOTALL):
        for line in body.splitlines():
            if not line.startswith(r"\intertext"):  # text between the equations wraps as text
                yield from (part.strip() for part in line.split("\\\\"))  # matrix rows count apart


def test_every_macro_is_standard_or_defined(standalone):
    text = standalone.read_text()
    defined = set(re.findall(r"\\newcommand\{?\\([a-zA-Z]+)", text))
    used = set(re.findall(r"\\([a-zA-Z]+)", text))
    assert used - STANDARD - defined == set()
    assert all(len(arg) == 1 for arg in re.findall(r"\\mathcal\{([^}]*)\}", text))  # no \mathcal{Wy}


def test_every_displayed_line_fits_the_width_budget(standalone):
    wide = [(round(math_width(r)), r[:80]) for r in _display_rows(standalone.read_text()) if math_width(r) > WIDTH]
    assert wide == []


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_standalone_compiles_without_overfull_boxes_or_undefined_macros(standalone):
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", standalone.name],
                          cwd=standalone.parent, capture_output=True, text=True, timeout=300, check=False)
    log = (standalone.parent / "d.log").read_text(errors="replace")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert "Undefined control sequence" not in log
    overfull = [float(x) for x in re.findall(r"Overfull \\hbox \(([0-9.]+)pt too wide\)", log)]
    assert [x for x in overfull if x > 1.0] == []


def test_conventional_term_order():
    tex = derive(SGD(), IndependentCoordinates()).latex()
    assert (r"\left(1 - 2 \gamma \lambda_i + \gamma^{2} \lambda_i^{2} \left(1 + \frac{\kappa_i - 2}{B}\right)\right)"
            r" m_{k,i}") in tex
    assert r"e_{k+1,i} &= e_{k,i} - \gamma g_{k,i}" in tex
    for rec in (derive(a, d) for a in (SGD(), HeavyBall(), Nesterov(), GeneralizedMomentum())
                for d in (Gaussian(), IndependentCoordinates())):
        tex = rec.latex()
        assert "(-1)" not in tex and "+ -" not in tex and r"\left(-" not in tex
        assert r"g_{k,i} \gamma" not in tex and "-2 + B" not in tex


def test_nesterov_prints_the_derived_risk_not_the_coupling():
    """Nesterov's coupling is on the extrapolated point; the risk is on e_k: R_k is printed from w."""
    tex = derive(Nesterov(), Gaussian()).latex()
    assert r"R_k &= \tfrac12\Bigl(\sum_{j=1}^{d} \lambda_j m_{k,j} + \sigma^2\Bigr)" in tex
    assert r"R_k = \tfrac12\bigl(S_k" not in tex and r"\mathcal{Wy}" not in tex
    assert r"\mathcal{W} = \sum_{i=1}^{d} W_i" in tex  # every sum in R_inf is defined
    sgd = derive(SGD(), Gaussian()).latex()
    assert r"R_k &= \tfrac12\bigl(\bar{S}_k + \sigma^2\bigr)" in sgd  # v == w for SGD


def test_dana_advances_every_state_variable():
    tex = derive(GeneralizedMomentum(), Gaussian()).latex()
    assert r"y_{k,i} &= \gamma_1 g_{k,i} + \left(1 - \Delta\right) y_{k-1,i}" in tex
    assert r"\mathbb{E} y_{k,i}^2 &=" in tex and r"\mathbb{E} e_{k+1,i} y_{k,i} &=" in tex


@pytest.mark.parametrize("alg", [SGD(), HeavyBall(), Nesterov(), GeneralizedMomentum()], ids=lambda a: a.name)
def test_arrangement_keeps_the_value(alg):
    rec = derive(alg, IndependentCoordinates())
    for e in [*rec.A, *rec.u, rec.secular_term(1), *rec.mean_matrix]:
        assert sp.cancel(sp.together(arrange(tidy(e)) - e)) == 0


def test_rows_break_long_sums_and_keep_the_value():
    x = sp.symbols("x0:12")
    expr = sum((k + 1) * sym.gamma**k * xi for k, xi in enumerate(x))
    names = {**sym.LATEX_NAMES, **{xi: f"x_{{{k}}}" for k, xi in enumerate(x)}}
    out = rows("y", expr, names, width=30)
    assert len(out) > 1 and all(math_width(r) <= 30 for r in out)
    assert out[0].startswith("y &= ") and all(r.startswith(r"&\quad ") for r in out[1:])
    assert to_latex(expr, names).replace(" ", "") == " ".join(r.split("&= ")[-1].replace(r"&\quad", "")
                                                              for r in out).replace(" ", "")


def test_align_wraps_definition_rows():
    line = "&" + r",\quad ".join(f"a_{k} = b_{k} + c_{k} + d_{k}" for k in range(12))
    env = align([line], width=40)
    body = env.split("\n")[1:-1]
    assert len(body) > 1 and all(math_width(r) <= 40 for r in body)


def test_math_width_measures_rendered_characters():
    assert math_width(r"\gamma \lambda_i") == pytest.approx(2.7)
    assert math_width(r"\frac{a + b}{c}") == pytest.approx(4.5)  # the wider of numerator and denominator
    assert math_width(r"\left(a\right)") == math_width("(a)")
