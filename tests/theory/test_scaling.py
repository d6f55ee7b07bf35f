"""The learning-rate / batch-size ratio expansion of the stationary risk."""
import numpy as np
import pytest
import sympy as sp

from theory import SGD, Gaussian, IndependentCoordinates, derive
from theory import symbols as sym
from theory.scaling import RATIO, learning_rate_batch_ratio_expansion


def test_expansion_matches_the_closed_form_oracle():
    ex = learning_rate_batch_ratio_expansion(derive(SGD(), IndependentCoordinates(2.0)))
    r, lam, kappa = RATIO, sym.lam, sym.kappa
    # oracle typed from the closed form G_i = r lam / (2 - lam (gamma + r (kappa - 2)))
    assert sp.simplify(ex.term0 - r * lam / (2 - r * lam * (kappa - 2))) == 0
    assert sp.simplify(ex.term1 - r * lam**2 / (2 - r * lam * (kappa - 2)) ** 2) == 0
    G0, G1 = sorted(ex.risk1.free_symbols - {sym.sigma2}, key=str)
    assert sp.simplify(ex.risk0 - sym.sigma2 / (2 * (1 - G0))) == 0
    assert sp.simplify(ex.risk1 - sym.sigma2 * G1 / (2 * (1 - G0) ** 2)) == 0


def test_series_of_the_dense_fixed_point_exactly():
    # independent route: the fixed point of the dense (d x d) second-moment map solved exactly as a
    # rational function of gamma (B = gamma / r), then its Taylor coefficients at gamma = 0
    rec = derive(SGD(), Gaussian())
    ex = learning_rate_batch_ratio_expansion(rec)
    lam = [sp.Rational(1), sp.Rational(1, 3)]
    r, sigma2, g = sp.Rational(1, 20), sp.Rational(3, 2), sp.Symbol("g", positive=True)
    d = len(lam)
    sub = lambda expr, li: expr.subs({sym.lam: li, sym.kappa: 3, sym.B: g / r, sym.sigma2: sigma2, sym.gamma: g})
    a = [sub(rec.A[0, 0], li) for li in lam]
    u = [sub(rec.u[0], li) for li in lam]
    f = [sub(rec.f[0], li) for li in lam]
    v = [sub(rec.v[0], li) for li in lam]
    L = sp.Matrix(d, d, lambda i, j: (a[i] if i == j else 0) + u[i] * v[j])
    s = (sp.eye(d) - L).LUsolve(sp.Matrix(f))
    R = sp.simplify((sum(li * si for li, si in zip(lam, s)) + sigma2) / 2)
    series = sp.series(R, g, 0, 2).removeO()
    G0 = sum(ex.term0.subs({sym.lam: li, sym.kappa: 3, RATIO: r}) for li in lam)
    G1 = sum(ex.term1.subs({sym.lam: li, sym.kappa: 3, RATIO: r}) for li in lam)
    names = {str(x): x for x in ex.risk1.free_symbols}
    vals = {names[r"\mathcal{G}_0"]: G0, names[r"\mathcal{G}_1"]: G1, sym.sigma2: sigma2}
    assert sp.simplify(series.coeff(g, 0) - ex.risk0.subs(vals)) == 0
    assert sp.simplify(series.coeff(g, 1) - ex.risk1.subs(vals)) == 0
    assert series.coeff(g, 1) != 0   # the invariance does break at first order in gamma


def test_evaluate_validates():
    ex = learning_rate_batch_ratio_expansion(derive())
    with pytest.raises(ValueError, match="ratio must be finite and > 0"):
        ex.evaluate([1.0], 0.0, 1.0)
