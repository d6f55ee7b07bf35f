"""Calibration (false failures at the stated rate) and power (planted errors are caught)."""
import pytest
from scipy import stats as sps

from theory import derive
from theory.symbols import B, S, gamma, kappa, lam, m, sigma2
from verify import check_recursion, compare, simulate
from verify.stats import Verdict, combine

RIGHT = (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + (kappa - 2) / B)) * m + gamma**2 * lam / B * (S + sigma2)


@pytest.mark.parametrize("regime", ["readme", "0.7gc", "heavy_ball", "sparse0.1"])
def test_false_failure_rate_is_calibrated(regime):
    """Under the null (exact theory), the failure count at alpha = 0.05 is Binomial(n, <= 0.05).

    A fast version of ``python -m verify calibrate``: calibration is rejected only if the count
    exceeds the Binomial(n, 0.05) quantile at 1 - 1e-6, so this test itself fails falsely with
    probability < 1e-6 (per regime).
    """
    from verify.calibrate import REGIMES, null_study
    r = next(r for r in REGIMES if r.name == regime)
    out = null_study(r, runs=120, replicas=500, seed=2024, alphas=(0.05,))
    fails, n_runs = out["rows"][0]["failures"], out["runs"]
    limit = sps.binom.ppf(1 - 1e-6, n_runs, 0.05)
    assert fails <= limit, f"{fails} false failures in {n_runs} runs at alpha=0.05 (limit {limit})"


def test_correct_recursion_passes_at_default_budget():
    assert check_recursion(RIGHT).passed


@pytest.mark.parametrize("name, wrong", [
    ("2% error in the batch factor of the coupling",
     (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + (kappa - 2) / B)) * m + 1.02 * gamma**2 * lam / B * (S + sigma2)),
    ("2% error in the batch size everywhere (B -> B / 1.02)",
     (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + 1.02 * (kappa - 2) / B)) * m + 1.02 * gamma**2 * lam / B * (S + sigma2)),
    ("missing rank-one term",
     (1 - 2 * gamma * lam + gamma**2 * lam**2 * (1 + (kappa - 2) / B)) * m + gamma**2 * lam / B * sigma2),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_planted_errors_are_caught_at_default_budget(name, wrong, seed):
    v = check_recursion(wrong, seed=seed)
    assert not v.passed, f"{name} was not detected: {v.summary()}"
    assert v.parameters and "eigenvalues" in v.parameters   # the counterexample


def test_deterministic_mismatch_fails():
    rec = derive()
    kw = dict(eigenvalues=[1.0], learning_rate=0.1, steps=5)
    res = simulate(replicas=50, seed=0, **kw)
    tr = rec.trajectory(**kw)
    tr.risk = tr.risk.copy()
    tr.risk[0] *= 1.01
    v = compare(tr, res)
    assert not v.passed and v.worst.step == 0 and v.p_value == 0.0


def test_compare_validates():
    rec = derive()
    kw = dict(eigenvalues=[1.0], learning_rate=0.1, steps=5)
    res = simulate(replicas=50, seed=0, **kw)
    with pytest.raises(ValueError, match="alpha must lie in"):
        compare(rec.trajectory(**kw), res, alpha=0)
    with pytest.raises(ValueError, match="quantities must be among"):
        compare(rec.trajectory(**kw), res, quantities=("nope",))
    with pytest.raises(ValueError, match="needs"):
        compare(rec.trajectory(**{**kw, "steps": 3}), res)


def test_combine_is_bonferroni():
    vs = [Verdict(True, 1.0, 0.3, 1e-2, 5, None), Verdict(True, 2.0, 0.004, 1e-2, 5, None)]
    c = combine(vs, 1e-2)
    assert c.p_value == pytest.approx(0.008) and not c.passed and c.comparisons == 10


def test_check_recursion_rejects_bad_expressions():
    with pytest.raises(ValueError, match="not standard symbols"):
        check_recursion(RIGHT + __import__("sympy").Symbol("q"))
    with pytest.raises(ValueError, match="affine in m"):
        check_recursion(RIGHT * m)


def test_combine_growth_is_an_intersection_union_test():
    """Growth tests pass when their null is rejected: two passing growth tests combine into a
    pass (p = max p_j, no correction), one failing member fails the family, and mixing them
    with comparisons is refused."""
    import numpy as np
    import pytest

    from verify.stats import growth, scalar_comparison
    from verify.stats.result import combine

    rng = np.random.default_rng(0)
    up = growth(1.0, 3.0 + rng.standard_normal(400), alpha=1e-3)
    up2 = growth(1.0, 2.0 + rng.standard_normal(400), alpha=1e-3)
    flat = growth(1.0, 1.0 + rng.standard_normal(400), alpha=1e-3)
    assert up.passed and up2.passed and not flat.passed
    both = combine([up, up2], 1e-3)
    assert both.passed and both.p_value == max(up.p_value, up2.p_value)
    assert not combine([up, flat], 1e-3).passed
    with pytest.raises(ValueError, match="cannot mix growth"):
        combine([up, scalar_comparison(1.0, mean=1.0, standard_error=0.1, replicas=100, alpha=1e-3)], 1e-3)
