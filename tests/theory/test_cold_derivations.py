"""The cheaper cold derivations (issue 12): every faster route is checked against an independent one.

The resolvent v^T M^{-1} u of the secular and stationary terms is computed in a fraction field
(``DomainMatrix``); the oracle here solves M x = u by SymPy's LU on expressions and cancels.
"""
import pytest
import sympy as sp

from theory import (
    SGD,
    Gaussian,
    HeavyBall,
    IndependentCoordinates,
    IterateAveraging,
    Nesterov,
    derive,
)
from theory.recursion import _resolvent_expressions, _resolvent_form

_RECURSIONS = [(SGD(), Gaussian()), (SGD(), IndependentCoordinates()), (HeavyBall(), Gaussian()),
               (Nesterov(), IndependentCoordinates()), (IterateAveraging(), Gaussian()),
               (SGD(weight_decay=0.2), Gaussian())]


def _oracle(v, M, u):
    """v^T M^{-1} u by LU solve on SymPy expressions (an independent route), cancelled."""
    return sp.cancel((v.T * M.LUsolve(u))[0])


@pytest.mark.parametrize("algorithm, data", _RECURSIONS, ids=lambda x: repr(x))
def test_resolvent_in_the_fraction_field_equals_lu_solve(algorithm, data):
    rec = derive(algorithm, data)
    z = sp.Symbol("z")
    p = rec.A.shape[0]
    for M in (sp.eye(p) - rec.A, sp.eye(p) * z - rec.A):
        for a, b in ((rec.v, rec.u), (rec.w, rec.f), (rec.v, rec.f)):
            got = _resolvent_form(a, M, b)
            assert sp.cancel(got - _oracle(a, M, b)) == 0
            num, den = sp.fraction(got)     # one cancelled fraction, as the old route gave
            assert sp.gcd(sp.expand(num), sp.expand(den)).is_number


def test_resolvent_falls_back_to_expressions_off_the_rational_functions():
    x, y = sp.symbols("x y", positive=True)
    v, u = sp.Matrix([1, x]), sp.Matrix([y, 1])
    M = sp.Matrix([[sp.sqrt(x) + 1, 1], [0, 2]])          # not a rational function: EX domain
    assert sp.simplify(_resolvent_form(v, M, u) - _oracle(v, M, u)) == 0
    singular = sp.Matrix([[x, x], [1, 1]])
    assert sp.srepr(_resolvent_form(v, singular, u)) == sp.srepr(_resolvent_expressions(v, singular, u))


def test_planted_wrong_resolvent_is_told_apart_by_the_oracle():
    """The oracle comparison above can fail: a resolvent with one entry changed differs."""
    rec = derive(HeavyBall(), Gaussian())
    M = sp.eye(3) - rec.A
    wrong = M.copy()
    wrong[0, 0] += sp.Rational(1, 100)
    assert sp.cancel(_resolvent_form(rec.v, wrong, rec.u) - _oracle(rec.v, M, rec.u)) != 0


@pytest.mark.parametrize("algorithm, hyper", [(SGD(), {}), (HeavyBall(), {"momentum": 0.5}),
                                              (Nesterov(), {"momentum": 0.3})], ids=repr)
def test_stationary_risk_closed_form_from_disk_equals_the_iterated_recursion(algorithm, hyper, tmp_path, monkeypatch):
    """The closed form R_inf(G) (kept on disk now) at the numeric G equals the risk of the recursion iterated
    to its fixed point (an independent route: 4000 steps of the exact second-moment map)."""
    monkeypatch.setenv("SGDCHECK_CACHE_DIR", str(tmp_path))
    from theory import symbols as sym
    from theory.recursion import SUM_G
    lam, gamma, batch, noise = [1.0, 0.5, 0.25], 0.2, 2, 0.3
    rec = derive(algorithm, Gaussian())
    expr = rec.stationary_risk_expression
    values = {sym.gamma: gamma, sym.B: batch, sym.sigma2: noise,
              **{s: hyper[n] for n, s in rec.algorithm.hyperparameters.items() if n in hyper}}
    sums = {sp.Symbol(r"\mathcal{" + k + "}"): sum(float(t.subs({**values, sym.lam: x})) for x in lam)
            for k, t in rec._stationary_terms.items()}        # the sums over directions, numerically
    assert expr.free_symbols <= {*sums, sym.sigma2, sym.B, *rec.hyper_symbols}
    G = sums[SUM_G]
    closed = float(expr.subs({**values, **sums}))
    iterated = rec.risk(lam, gamma, batch=batch, noise_variance=noise, steps=4000, **hyper)[-1]
    assert closed == pytest.approx(iterated, rel=1e-9)
    wrong = float(expr.subs({**values, **sums, SUM_G: G * 1.01}))     # a planted 1% error in G is seen
    assert wrong != pytest.approx(iterated, rel=1e-4)


def test_ring_to_expression_term_by_term_equals_expand():
    """The two-step ring's conversion builds the expanded expression directly: srepr-identical to expanding
    ``as_expr()`` (1/B written back), on the polynomials of a whole derivation's batch moments."""
    from theory import symbols as sym
    from theory.fourth.derivation import _RulesOnly
    from theory.fourth.momentum_derivation import _INV_B, _batch, _Ring, _single_sample
    rules = _RulesOnly((sym.kappa, sym.mu6, sym.mu8))
    rg = _Ring(Nesterov(), rules)
    polys = [*_batch(rg, _single_sample(rg, rules, True)).values(), rg.R.zero, rg.R.one * 3]
    for poly in polys:
        assert sp.srepr(rg.expr(poly)) == sp.srepr(sp.expand(poly.as_expr().xreplace({_INV_B: 1 / sym.B})))


# the former expression route of theory.fourth.derivation (Poly over the expectation monomials, then
# factor), kept here as the oracle of the ring derivation
def _expression_route(rules):
    from theory import symbols as sym
    from theory.fourth import derivation as dv
    table = {(4, 0, 0, 0): dv.Q_ii, (0, 4, 0, 0): dv.Q_jj, (2, 2, 0, 0): dv.Q_ij, (2, 0, 1, 0): dv.T_i,
             (0, 2, 1, 0): dv.T_j, (0, 0, 2, 0): dv.U, (0, 0, 0, 1): dv.V, (2, 0, 0, 0): sym.m,
             (0, 2, 0, 0): dv.m_j, (0, 0, 1, 0): sym.S, (0, 0, 0, 0): sp.Integer(1)}

    def average(expr):
        out = sp.Integer(0)
        for monom, coeff in sp.Poly(sp.expand(expr), dv._E_I, dv._E_J, dv._S_COND, dv._W_COND).terms():
            out += coeff * table[monom]
        return sp.expand(out)

    def collect(expr, terms):
        poly = sp.Poly(expr, *terms)
        return {**{t: sp.factor(poly.coeff_monomial(t)) for t in terms}, sp.Integer(1): sp.factor(poly.coeff_monomial(1))}

    e, g = SGD().state[0], __import__("theory.algorithms", fromlist=["GRADIENT"]).GRADIENT
    new_i = SGD().update[0].subs({e: dv._E_I, g: dv._G_I}, simultaneous=True)
    new_j = SGD().update[0].subs({e: dv._E_J, g: dv._G_J}, simultaneous=True)
    pm, dm = dv.batch_gradient_moments(rules, pair=True), dv.batch_gradient_moments(rules, pair=False)
    pair = sum(c * pm[mon] for mon, c in sp.Poly(sp.expand(new_i**2 * new_j**2), dv._G_I, dv._G_J).terms())
    diag = sum(c * dm[(mon[0], 0)] for mon, c in sp.Poly(sp.expand(new_i**4), dv._G_I).terms())
    return (collect(average(pair), dv.PAIR_TERMS), collect(average(diag), dv.DIAGONAL_TERMS), pm, dm)


@pytest.mark.parametrize("rules", ["gaussian", "symbolic"])
def test_sgd_fourth_moment_ring_derivation_equals_the_expression_route(rules):
    from theory import symbols as sym
    from theory.fourth.derivation import _derive, _RulesOnly
    data = _RulesOnly(tuple(map(sp.Integer, (3, 15, 105))) if rules == "gaussian" else (sym.kappa, sym.mu6, sym.mu8))
    rec = _derive(SGD(), data)
    pair, diag, pm, dm = _expression_route(data)
    assert list(rec.pair) == list(pair) and list(rec.diagonal) == list(diag)
    for got, want in ((rec.pair, pair), (rec.diagonal, diag), (rec.gradient_moments["pair"], pm),
                      (rec.gradient_moments["diagonal"], dm)):
        assert [sp.srepr(v) for v in got.values()] == [sp.srepr(v) for v in want.values()]


@pytest.mark.parametrize("algorithm", [SGD(), Nesterov(), IterateAveraging(), SGD(weight_decay=0.2)], ids=repr)
def test_stationary_risk_closed_form_equals_the_simplify_route(algorithm):
    """factor without simplify first: srepr-identical to the former factor(simplify(.)) on these algorithms."""
    from theory import symbols as sym
    from theory.recursion import SUM_G
    rec = derive(algorithm, IndependentCoordinates())
    t = rec._stationary_terms
    sums = {k: (sp.cancel(t[k] / t["G"]) * SUM_G if not (sp.cancel(t[k] / t["G"]).free_symbols & {sym.lam, sym.kappa})
                else sp.Symbol(r"\mathcal{" + k + "}")) for k in ("H", "Wx", "Wy")}
    old = sp.factor(sp.simplify((sums["Wx"] * sums["H"] / (1 - SUM_G) + sums["Wy"] + sym.sigma2) / 2))
    assert sp.srepr(rec.stationary_risk_expression) == sp.srepr(old)


def test_benchmark_digest_tells_different_derivations_apart():
    """benchmarks/cold_derivations.py compares two trees by a canonical text of the derived objects: equal up
    to SymPy's Dummy numbering, different for a changed coefficient (a planted difference)."""
    from benchmark_loader import load_benchmark
    mod = load_benchmark("cold_derivations")
    x = sp.Symbol("x")
    assert mod._canon({"a": [x + 1, "def f(_Dummy_12):"]}) == mod._canon({"a": [1 + x, "def f(_Dummy_7):"]})
    assert mod._canon({"a": [x + 1]}) != mod._canon({"a": [x + 2]})
    assert mod._canon(derive(SGD(), Gaussian()).A) != mod._canon(derive(SGD(), IndependentCoordinates()).A)
