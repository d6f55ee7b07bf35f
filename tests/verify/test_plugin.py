"""The pytest plugin, exercised on a user's own test file with pytester."""
import pytest

pytest_plugins = ["pytester"]

USER_TEST = '''
from theory import derive

KW = dict(eigenvalues=[1.0, 0.5], learning_rate=0.2, noise_variance=0.5, steps=40)

def test_right(mc):
    assert mc.budget.name == "quick" and mc.alpha == 1e-4
    mc.assert_agrees(derive().trajectory(**KW), **KW)

def test_wrong(mc):
    tr = derive().trajectory(**KW)
    tr.risk = tr.risk * 1.05
    mc.assert_agrees(tr, **KW)
'''


def test_plugin_options_fixture_and_failure_message(pytester):
    pytester.makepyfile(test_user=USER_TEST)
    result = pytester.runpytest_subprocess("--mc-budget", "quick",
                                           "--mc-alpha", "1e-4")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*theory and Monte Carlo disagree*worst risk at step*theory*Monte Carlo*"])


def test_profiles_registered():
    from hypothesis import settings
    import verify.pytest_plugin  # noqa: F401
    assert settings.get_profile("sgdcheck-ci").max_examples == 10


def test_bad_budget():
    from verify.pytest_plugin import MonteCarlo
    with pytest.raises(ValueError, match="budget must be one of"):
        MonteCarlo("huge")
