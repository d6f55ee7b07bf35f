"""numeric_agreement on float arrays locates the worst entry in float64 and measures it in mpmath: the
same verdict, statistic and reported pair as the entry-by-entry mpmath loop (object arrays)."""
import numpy as np
import pytest

from verify.stats import numeric_agreement


@pytest.mark.parametrize("trial", range(40))
def test_float_fast_path_equals_the_mpmath_loop(trial):
    rng = np.random.default_rng(trial)
    a = rng.standard_normal(60) * 10.0 ** rng.integers(-5, 5)
    b = a * (1 + rng.standard_normal(60) * 10.0 ** -rng.integers(3, 15))
    b[rng.integers(0, 60)] = 0.0 if trial % 3 == 0 else b[1]     # a zero reference: absolute error
    a[5] = b[5]                                                    # an exact entry
    fast = numeric_agreement(a.reshape(6, 10), b.reshape(6, 10), 8)
    loop = numeric_agreement(a.astype(object), b.astype(object), 8)
    assert (fast.passed, fast.statistic, fast.theory, fast.monte_carlo) == \
        (loop.passed, loop.statistic, loop.theory, loop.monte_carlo)


def test_fast_path_still_fails_a_planted_error_and_refuses_non_finite_values():
    x = np.linspace(1.0, 2.0, 1000)
    y = x.copy()
    y[700] *= 1 + 1e-7
    v = numeric_agreement(x, y, 9)
    assert not v.passed and 6.9 < v.statistic < 7.1 and v.theory == y[700]
    y[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        numeric_agreement(x, y, 9)


def test_mpmath_inputs_are_compared_beyond_double_precision():
    """Values carried at 30 digits that differ in the 21st agree to 20 digits, not 21 and not 'equal'
    (mpf() rounds to the working precision: at the default 15 digits both sides were equal)."""
    import mpmath
    with mpmath.workdps(30):
        ref = mpmath.mpf(1) / 3
        close = ref * (1 + mpmath.mpf("3e-21"))
    v = numeric_agreement(close, ref, 20)
    assert v.passed and 20 < v.statistic < 21
    assert not numeric_agreement(close, ref, 21).passed
    assert mpmath.mp.dps == 15     # the working precision is restored
