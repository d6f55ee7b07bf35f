"""Round trip: the printed LaTeX of every algorithm x data model, parsed back into SymPy, equals the recursion.

The parser is SymPy's own (``sympy.parsing.latex.parse_latex``, antlr backend, the
``antlr4-python3-runtime`` of the ``test`` extra). It does not know compound names
such as ``\\mathbb{E} e_{k,i} e_{k-1,i}``, so each declared name is first replaced by a
plain placeholder ``Z_{n}`` (a test that every placeholder survives parsing guards
against the parser silently dropping a term); layout-only macros (``\\Bigl``,
``\\quad``, ``&``) are removed. Every equation of the derivation is then compared
with the derived object it must print:

* update rule, gradient point, conditional gradient moments: exact equality;
* means and second moments: the rows of ``mean_matrix`` and of ``A``, ``u``, ``f``;
* coupling and risk: the summands against ``v`` and ``w`` (exactly);
* G_i and W_i against the secular and stationary terms; R_inf by an independent
  numeric route: the stationary point of the dense linear map (I - L)^{-1} f.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import sympy as sp

from theory import SGD, HeavyBall, Nesterov, derive
from theory import symbols as sym
from theory.algorithms import GRADIENT, Algorithm, GeneralizedMomentum
from theory.data import Gaussian, IndependentCoordinates, Rademacher, SparseGaussian
from theory.derive import gradient_moments
from theory.latex_recursion import POINT, SBAR, SUM_NAMES, advance, latex_names

pytest.importorskip("antlr4", reason="the antlr4 runtime (test extra) parses LaTeX")
from sympy.parsing.latex import parse_latex


class Lagged(Algorithm):
    """A user's algorithm that declares no LaTeX names: SGD that also keeps its previous error z."""

    name = "lagged"
    state = (sp.Symbol("e_i", real=True), sp.Symbol("z_i", real=True))
    hyperparameters = {"learning_rate": sym.gamma}  # noqa: RUF012 - the Algorithm interface
    gradient_point = state[0]
    update = (state[0] - sym.gamma * GRADIENT, state[0])


ALGORITHMS = [SGD(), HeavyBall(), Nesterov(), GeneralizedMomentum(), Lagged()]
DATA = [Gaussian(), IndependentCoordinates(), SparseGaussian(0.5), Rademacher()]
#: the recursions of the `python -m theory latex` catalogue; the other pairs run under the slow marker
CATALOGUE = {("sgd", d.name) for d in DATA} | {(a, d) for a in ("heavy_ball", "nesterov")
                                              for d in ("gaussian", "independent")} | {("generalized_momentum",
                                                                                       "gaussian")} | {("lagged", "gaussian")}
LAYOUT = [r"\biggl", r"\biggr", r"\Bigl", r"\Bigr", r"\bigl", r"\bigr", r"\qquad", r"\quad", r"\,", "&"]


def _equations(tex):
    """{lhs: rhs} of the align* body: continuation rows joined, text rows dropped."""
    body = tex.split(r"\begin{align*}")[1].split(r"\end{align*}")[0]
    body = re.sub(r"^\\intertext\{.*\}$", "", body, flags=re.MULTILINE)  # text between the equations
    rows = [r.strip() for r in body.split("\\\\")]
    eqs, last = {}, None
    for row in rows:
        if row.startswith(r"&\quad"):
            eqs[last] += " " + row[len(r"&\quad"):]
        elif "&=" in row:
            last, rhs = (s.strip() for s in row.split("&=", 1))
            eqs[last] = rhs
    return {k: v.strip().rstrip(",.").strip() for k, v in eqs.items()}


def _strip_layout(tex):
    for macro in LAYOUT:
        tex = tex.replace(macro, " ")
    return re.sub(r"\s+", " ", tex.replace(r"\tfrac12", r"\frac{1}{2}")).strip()


class _Reader:
    """LaTeX -> SymPy with the derivation's names as placeholders."""

    def __init__(self, names):
        self.by_tex = {}
        for s, t in names.items():
            self.by_tex.setdefault(_strip_layout(t), s)
        self.order = sorted(self.by_tex, key=len, reverse=True)

    def __call__(self, tex):
        tex = _strip_layout(tex)
        used = {}
        for k, name in enumerate(self.order):
            pattern = r"(?<![\\a-zA-Z])" + re.escape(name) + r"(?![a-zA-Z])"
            if re.search(pattern, tex):
                tex = re.sub(pattern, lambda m, k=k: f" \\left(Z_{{{k}}}\\right) ", tex)
                used[sp.Symbol(f"Z_{{{k}}}")] = self.by_tex[name]
        expr = parse_latex(tex)
        assert set(used) <= expr.free_symbols, f"the parser dropped a term of {tex!r}"
        assert expr.free_symbols <= set(used), f"unknown symbols {expr.free_symbols - set(used)} in {tex!r}"
        return expr.xreplace(used)


def _same(a, b):
    return sp.cancel(sp.together(a - b)) == 0


def _j(names):
    return {s: re.sub(r"_i(?![a-zA-Z])", "_j", t.replace(",i}", ",j}")) for s, t in names.items()}


@pytest.fixture(scope="module", params=[
    pytest.param((a, d), id=f"{a.name}-{d.name}",
                 marks=() if (a.name, d.name) in CATALOGUE else pytest.mark.slow)
    for a in ALGORITHMS for d in DATA])
def printed(request):
    alg, data = request.param
    rec = derive(alg, data)
    names = {**latex_names(alg), SBAR: r"\bar{S}_k", sym.S: "S_k", **SUM_NAMES,
             sp.Symbol("G_i"): "G_i", sp.Symbol("W_i"): "W_i"}
    point_is_error = sp.simplify(alg.gradient_point - alg.state[0]) == 0
    if not point_is_error:
        names[POINT] = r"p_{k,i}"
    means = [sp.Symbol(f"mean_{a}") for a in range(len(alg.state))]
    names.update({mu: r"\mathbb{E}\, " + names[s] for mu, s in zip(means, alg.state)})
    return rec, names, means, _equations(rec.latex())


def test_update_rule_and_gradient_moments(printed):
    rec, names, _, eqs = printed
    read = _Reader(names)
    alg = rec.algorithm
    for s, new in zip(alg.state, alg.update):
        lhs = advance(names[s])
        if lhs in eqs:
            assert _same(read(eqs[lhs]), new), lhs
        else:  # only a plain shift may be left out
            assert new in alg.state and names[new] == lhs
    point = alg.gradient_point
    if r"p_{k,i}" in eqs:
        assert _same(read(eqs[r"p_{k,i}"]), point)
    Eg, Eg2 = gradient_moments(rec.data, point if r"p_{k,i}" not in eqs else POINT)
    assert _same(read(eqs[r"\mathbb{E}[g_{k,i} \mid \mathcal{F}_k]"]), Eg)
    assert _same(read(eqs[r"\mathbb{E}[g_{k,i}^2 \mid \mathcal{F}_k]"]), Eg2)


def test_means_and_second_moments(printed):
    rec, names, means, eqs = printed
    read = _Reader(names)
    for row, mu in zip(rec.mean_matrix.tolist(), means):
        expected = sum(c * x for c, x in zip(row, means))
        lhs = advance(names[mu])
        if lhs in eqs:
            assert _same(read(eqs[lhs]), expected), lhs
        else:  # a plain shift, e.g. E e_{k,i} = E e_{k,i} for the previous iterate
            assert names.get(sp.sympify(expected)) == lhs
    vec = sp.Matrix(rec.moments)
    for mm, expected in zip(rec.moments, rec.A * vec + rec.u * SBAR + rec.f):
        lhs = advance(names[mm])
        if lhs in eqs:
            assert _same(read(eqs[lhs]), expected), lhs
        else:  # a plain shift, e.g. m_{k,i} = m_{k,i} for the previous iterate's moment
            assert names.get(sp.sympify(expected)) == lhs


def test_coupling_and_risk_are_the_derived_weights(printed):
    rec, names, _, eqs = printed
    names_j = _j(names)
    read_j = _Reader(names_j)
    summand = re.compile(r"^\\sum_\{j=1\}\^\{d\}\s*(.*)$", re.DOTALL)
    to_i = {sp.Symbol(str(s)): s for s in names}  # the j-names map back onto the i-symbols
    coupling = read_j(summand.match(eqs[r"\bar{S}_k"]).group(1)).xreplace(to_i)
    assert _same(coupling, sum(c * m for c, m in zip(rec.v, rec.moments)))
    risk = eqs["R_k"]
    expected = sum(c * m for c, m in zip(rec.w, rec.moments))
    if r"\bar{S}_k" in risk:
        assert list(rec.v) == list(rec.w) and _same(_Reader(names)(risk), (SBAR + sym.sigma2) / 2)
    else:
        inner = re.match(r"^\\tfrac12\\Bigl\(\\sum_\{j=1\}\^\{d\}(.*)\+ \\sigma\^2\\Bigr\)$", risk, re.DOTALL).group(1)
        assert _same(read_j(inner), expected)


def _term(eqs, read, name):
    if eqs[name].startswith(r"\frac{N^{"):
        base = name.split("_")[0]
        return read(eqs[f"N^{{{base}}}_i"]) / read(eqs[f"D^{{{base}}}_i"])
    return read(eqs[name])


def test_critical_and_stationary_terms(printed):
    rec, names, _, eqs = printed
    read = _Reader(names)
    terms = rec._stationary_terms
    assert _same(_term(eqs, read, "G_i"), terms["G"])
    if "W_i" in eqs:
        assert _same(_term(eqs, read, "W_i"), terms["Wx"])


def _dense_stationary_risk(rec, lam, gamma, batch, sigma2, hyper):
    """Independent route: s_inf = (I - L)^{-1} f with L = blockdiag(A_i) + u v^T, R = (w . s + sigma^2)/2."""
    lm = rec.linear_map(lam, gamma, batch, sigma2, **hyper)
    d, p = lm.u.shape
    L = np.zeros((d * p, d * p))
    for i in range(d):
        L[i * p:(i + 1) * p, i * p:(i + 1) * p] = lm.A[i]
    L += np.outer(lm.u.ravel(), lm.v.ravel())
    s = np.linalg.solve(np.eye(d * p) - L, lm.f.ravel())
    return 0.5 * (lm.w.ravel() @ s + sigma2)


def test_printed_stationary_risk_matches_the_dense_stationary_point(printed):
    rec, names, _, eqs = printed
    read = _Reader(names)
    lam = [1.0, 0.5, 0.2]
    hyper = {"momentum": 0.3} if "momentum" in rec.algorithm.hyperparameters else {}
    if "gamma1" in rec.algorithm.hyperparameters:
        hyper = {"gamma1": 0.2, "gamma3": 0.3, "delta": 0.4}
    gamma, batch, sigma2 = 0.05, 2, 0.7
    kappa = rec.data.kurtosis_values(3)
    values = {sym.gamma: gamma, sym.B: batch, sym.sigma2: sigma2,
              **{rec.algorithm.hyperparameters[k]: v for k, v in hyper.items()}}
    sums = {}
    for s, key in ((sp.Symbol(r"\mathcal{G}"), "G_i"), (sp.Symbol(r"\mathcal{Wx}"), "W_i")):
        if key in eqs:
            term = _term(eqs, read, key)
            sums[s] = sum(float(term.subs({**values, sym.lam: li, sym.kappa: ki})) for li, ki in zip(lam, kappa))
    printed_risk = float(read(eqs[r"R_\infty"]).subs({**values, **sums}))
    assert np.isclose(printed_risk, _dense_stationary_risk(rec, lam, gamma, batch, sigma2, hyper), rtol=1e-10)


def test_reader_rejects_a_planted_wrong_equation():
    """The round trip can fail: a changed coefficient or a dropped term is caught."""
    rec = derive(SGD(), Gaussian())
    names = {**latex_names(rec.algorithm), SBAR: r"\bar{S}_k"}
    eqs = _equations(rec.latex())
    vec = sp.Matrix(rec.moments)
    expected = (rec.A * vec + rec.u * SBAR + rec.f)[0]
    good = eqs["m_{k+1,i}"]
    assert _same(_Reader(names)(good), expected)
    wrong = good.replace(r"2 \gamma \lambda_i", r"3 \gamma \lambda_i", 1)
    assert wrong != good and not _same(_Reader(names)(wrong), expected)
    with pytest.raises(AssertionError, match="unknown symbols"):
        _Reader(names)(good + r" + q_{k}")


def test_undeclared_names_get_a_generic_name_advanced_in_step():
    tex = derive(Lagged(), Gaussian()).latex()
    assert r"s^{(1)}_{k+1,i} &= e_{k,i}" in tex
    assert r"\mathbb{E}\, e_{k+1,i} s^{(1)}_{k+1,i} &= \left(1 - \gamma \lambda_i\right) m_{k,i}" in tex
    assert r"\mathbb{E}\, \bigl(s^{(1)}_{k+1,i}\bigr)^2 &= m_{k,i}" in tex  # no double superscript
