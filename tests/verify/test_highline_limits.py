"""The high-precision limit checks of highline.line_search and highline.adagrad_norm at the standard
budget: the closed forms pass, and a closed form off by 1e-10 relative is rejected (the checks at the
standard budget use fewer digits than the thorough budget's 20, but can still fail)."""
import pytest

from verify.claims import BUDGETS
from verify.claims.highline import adagrad_limit_checks, line_search_limit_checks


@pytest.mark.parametrize("checks", [line_search_limit_checks, adagrad_limit_checks])
def test_standard_budget_limit_checks_pass_and_reject_a_1e_10_error(checks):
    good = checks(BUDGETS["standard"])
    assert good and all(v.passed for v in good), good
    for factor in (1 + 1e-10, 1 - 1e-10):
        bad = checks(BUDGETS["standard"], factor=factor)
        assert not any(v.passed for v in bad), bad


@pytest.mark.slow
@pytest.mark.parametrize("checks", [line_search_limit_checks, adagrad_limit_checks])
def test_thorough_budget_limit_checks_resolve_20_digits(checks):
    import mpmath
    good = checks(BUDGETS["thorough"])
    assert len(good) == 2 and all(v.passed and v.statistic >= 20 for v in good), good
    with mpmath.workdps(30):
        factor = 1 + mpmath.mpf("1e-19")
    bad = checks(BUDGETS["thorough"], factor=factor)
    assert not any(v.passed for v in bad), bad
