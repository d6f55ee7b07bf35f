"""theory.compiled: functions compiled from lambdify's cached sources compute exactly what lambdify's do."""
import mpmath
import numpy as np
import sympy as sp

from theory import HeavyBall, IndependentCoordinates, derive
from theory.compiled import LazySource, from_source, lambdify_source


def test_sources_compute_what_lambdify_computes():
    x, y = sp.symbols("x y", positive=True)
    for expr in (sp.Rational(1, 3) * x**2 * y + sp.sqrt(2) * x + sp.pi, sp.exp(-x) / (1 + y), sp.Integer(7)):
        f = from_source(lambdify_source([x, y], expr))
        ref = sp.lambdify([x, y], expr, modules="numpy")
        a, b = np.linspace(0.1, 2.0, 5), np.linspace(0.3, 0.9, 5)
        np.testing.assert_array_equal(np.broadcast_to(f(a, b), (5,)), np.broadcast_to(ref(a, b), (5,)))
        mp = LazySource(lambdify_source([x, y], expr, "mpmath"))
        with mpmath.workdps(40):
            assert mp(mpmath.mpf("0.3"), mpmath.mpf(2) / 3) == sp.lambdify([x, y], expr, modules="mpmath")(
                mpmath.mpf("0.3"), mpmath.mpf(2) / 3)


def test_secular_functions_are_the_lambdified_pieces():
    rec = derive(HeavyBall(), IndependentCoordinates(2.0))
    sf = rec._secular_functions
    p = rec.A.shape[0]
    N = (sp.eye(p) - rec.A).applyfunc(sp.expand)
    vals = [0.5, 2.0, 3.0, 0.1, 0.2, 0.6]          # lambda, kappa, B, sigma2, learning rate, momentum
    assert len(vals) == len(rec._args)
    for got, expr in [*zip(sf.N, N), *zip(sf.u, rec.u), *zip(sf.v, rec.v),
                      (sf.det_N, sp.factor(N.det(method="berkowitz")))]:
        assert got[0](*vals) == sp.lambdify(rec._args, expr, modules="numpy")(*vals)
        with mpmath.workdps(30):
            mp_vals = [mpmath.mpf(v) for v in vals]
            assert got[1](*mp_vals) == sp.lambdify(rec._args, expr, modules="mpmath")(*mp_vals)
    w = sp.Symbol("w")
    assert sf.G[0](*vals, -0.5) == sp.lambdify([*rec._args, w], rec.secular_term(1 + w), modules="numpy")(*vals, -0.5)
    for k, e in rec._stationary_terms.items():
        assert sf.terms[k][0](*vals) == sp.lambdify(rec._args, e, modules="numpy")(*vals)
