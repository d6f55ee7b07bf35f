"""GBS extrapolation in Decimal arithmetic (theory.extrapolation) and solve_mp(method="extrapolation"),
against closed forms and against the independent mpmath Taylor-series solver at more digits."""
import decimal
from decimal import Decimal

import mpmath
import pytest

from theory import adaptive as ad
from theory import highline as hl
from theory.extrapolation import gbs, to_decimal


def test_gbs_against_closed_forms():
    # logistic y' = y (1 - y): y(t) = 1 / (1 + (1/y0 - 1) e^{-t}); linear y' = -3 y: y0 e^{-3t}
    with decimal.localcontext(prec=36):
        ys = gbs(lambda y: [y[0] * (1 - y[0]), -3 * y[1]], [Decimal("0.1"), Decimal(2)],
                 [Decimal("0.5"), Decimal(3), Decimal(20)], rtol=Decimal("1e-32"))
    with mpmath.workdps(40):
        for t, y in zip((mpmath.mpf("0.5"), 3, 20), ys):
            logistic = 1 / (1 + 9 * mpmath.exp(-t))
            linear = 2 * mpmath.exp(-3 * mpmath.mpf(t))
            assert abs(mpmath.mpf(str(y[0])) / logistic - 1) < mpmath.mpf("1e-30")
            assert abs(mpmath.mpf(str(y[1])) / linear - 1) < mpmath.mpf("1e-30")


def test_gbs_errors_and_exact_conversion():
    with pytest.raises(ValueError, match="levels"):
        gbs(lambda y: y, [Decimal(1)], [Decimal(1)], rtol=Decimal("1e-10"), levels=1)
    with pytest.raises(ValueError, match="t_out"):
        gbs(lambda y: y, [Decimal(1)], [Decimal(2), Decimal(1)], rtol=Decimal("1e-10"))
    with pytest.raises(ValueError, match="max_steps"):
        gbs(lambda y: y, [Decimal(1)], [Decimal(10)], rtol=Decimal("1e-10"), max_steps=2)
    assert to_decimal(0.1) == Decimal.from_float(0.1) and to_decimal(3) == Decimal(3)
    with mpmath.workdps(30):
        x = mpmath.mpf(1) / 3
        assert mpmath.mpf(str(to_decimal(x))) == x            # exact binary value, converted back
    with pytest.raises(ValueError, match="method"):
        hl.solve_mp([1.0], [1.0], g=1.0, method="euler")


@pytest.mark.parametrize("case", ["line_search", "adagrad_isotropic", "adagrad_noisy", "fixed_merged"])
def test_extrapolation_equals_the_taylor_method(case):
    """Oracle: mpmath.odefun (Taylor) at 26 digits; the extrapolation at 18 digits must agree to 1e-17
    (the claims ask 12 digits of it), at every output time, in every returned quantity."""
    kw = {"line_search": {"eigenvalues": [1.0, 0.25], "t_values": [30, 4], "rule": ad.line_search(),
                          "weights": [0.25, 0.75]},
          "adagrad_isotropic": {"eigenvalues": [1.0], "t_values": [32], "rule": ad.adagrad_norm(1.0, 0.3)},
          "adagrad_noisy": {"eigenvalues": [1.0, 0.25], "t_values": [0, 1, 10], "rule": ad.adagrad_norm(0.5, 1.0),
                            "noise_variance": 0.1, "weights": [0.5, 0.5], "initial_D2": [2.0, 0.5]},
          "fixed_merged": {"eigenvalues": [1.0, 0.5, 1.0], "t_values": [1.0, 3.0], "g": 1.0, "noise_variance": 0.2,
                           "initial_D2": [2.0, 1.0, 0.0], "weights": [0.25, 0.5, 0.25]}}[case]
    ref = hl.solve_mp(**kw, dps=26)
    got = hl.solve_mp(**kw, dps=18, method="extrapolation")
    with mpmath.workdps(26):
        for key in ("risk", "g", "integral"):
            for a, b in zip(got[key], ref[key]):
                assert abs(a - b) <= mpmath.mpf("1e-17") * abs(b), (key, a, b)
        for row_a, row_b in zip(got["D2"], ref["D2"]):
            for a, b in zip(row_a, row_b):
                assert abs(a - b) <= mpmath.mpf("1e-17") * abs(b)
        assert got["t"] == ref["t"]
