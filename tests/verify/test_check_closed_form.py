"""check_closed_form: right closed forms accepted, planted wrong ones rejected with a minimal counterexample."""
from fractions import Fraction

import pytest
import sympy as sp

from theory import HeavyBall
from verify.check import check_closed_form

GAMMA_C = "2*B/(lam*(d + B + kappa - 2))"  # SGD, K = lam I_d (secular equation solved by hand)
R_INF = "sigma2/(2*(1 - d*gamma*lam/(2*B - gamma*lam*(B + kappa - 2))))"
A = "(1 - 2*gamma*lam + gamma**2*lam**2*(1 + (kappa - 2)/B) + d*gamma**2*lam**2/B)"
M_INF = f"(gamma**2*lam*sigma2/B/(1 - {A}))"
R_K = f"(d*lam*({A}**k*(e0**2 - {M_INF}) + {M_INF}) + sigma2)/2"
FAST = dict(examples=10, monte_carlo=False)


def test_critical_learning_rate_isotropic_b1_right_and_wrong():
    """The issue's example: 2/(d+2) is gamma_c on K = I_d, B = 1; 2/(d+1) is not (shrunk to d = 1)."""
    kw = dict(eigenvalue=1, batches=(1, 1), replicas=600)
    right = check_closed_form("2/(d + 2)", "critical_learning_rate", examples=8, **kw)
    assert right.passed and right.members[0]["name"].startswith("critical learning rate")
    assert len(right.members) == 3  # exact + just below + just above
    wrong = check_closed_form("2/(d + 1)", "critical_learning_rate", examples=8, **kw)
    assert not wrong.passed and wrong.kind == "exact"
    assert wrong.parameters["d"] == 1 and wrong.parameters["derived"] == "2/3" and wrong.parameters["yours"] == "1"


def test_critical_learning_rate_general_family():
    assert check_closed_form(GAMMA_C, "critical_learning_rate", **FAST).passed
    v = check_closed_form("2/(lam*(d + B))", "critical_learning_rate", **FAST)  # Gaussian kappa - 2 = 1 missing
    assert not v.passed and v.parameters["B"] == 1


def _monte_carlo_only(expr, quantity, eigenvalue=None, replicas=2000):
    """The Monte Carlo part alone (the exact part would reject these first)."""
    from theory import SGD, Gaussian
    from theory.parsing import as_expression
    from theory.user import formula_names
    from verify.check.closed_form import _EXTRA, _monte_carlo
    expr = as_expression(expr, formula_names(SGD(), _EXTRA))
    d = 64 if quantity == "critical_learning_rate" else 16
    return _monte_carlo(expr, quantity, SGD(), Gaussian(), {}, 1e-6, replicas, 0, d, eigenvalue, 1)


def test_monte_carlo_speaks_where_the_error_is_gross():
    """A gamma_c half the true one: 1.1 x it still converges, so the divergence test fails; a
    stationary risk 5 % off fails the scalar comparison; the right ones pass both."""
    below, above = _monte_carlo_only("1/(d + 2)", "critical_learning_rate", Fraction(1), replicas=600)
    assert below.passed and not above.passed and "1.1" in above.label
    assert all(v.passed for v in _monte_carlo_only("2/(d + 2)", "critical_learning_rate", Fraction(1), 600))
    (v,) = _monte_carlo_only("1.05*" + R_INF, "stationary_risk")
    assert not v.passed and v.kind == "scalar"


def test_stationary_risk_right_and_wrong():
    right = check_closed_form(R_INF, "stationary_risk", examples=8, replicas=2000)
    assert right.passed and right.kind == "scalar"
    wrong = check_closed_form(R_INF.replace("kappa - 2", "kappa - 1"), "stationary_risk", **FAST)
    assert not wrong.passed and wrong.kind == "exact" and wrong.parameters["d"] == 1


def test_risk_at_step_k_right_and_wrong():
    right = check_closed_form(R_K, "risk", examples=8, replicas=1000)
    assert right.passed and right.kind == "series"
    wrong = check_closed_form(R_K.replace("**k*", "**(k + 1)*"), "risk", **FAST)
    assert not wrong.passed and wrong.parameters["k"] == 0


def test_fourth_moment_threshold_against_an_independent_oracle():
    """d = 1, B = 1, Gaussian: E(1 - gamma x^2)^4 = 1 gives 105 g^3 - 60 g^2 + 18 g - 4 = 0."""
    g = sp.Symbol("g")
    root = sp.CRootOf(105 * g**3 - 60 * g**2 + 18 * g - 4, 0)
    kw = dict(dimensions=(1, 1), batches=(1, 1), eigenvalue=1, examples=2, digits=12)
    assert check_closed_form(root, "fourth_moment_threshold", **kw).passed
    v = check_closed_form("2/(d + 2)", "fourth_moment_threshold", **kw)
    assert not v.passed and v.kind == "numeric" and v.statistic < 1


def test_heavy_ball_critical_learning_rate_numeric_digits():
    """Heavy ball: the derived value from the package's 50-digit gamma_c; a wrong formula is rejected."""
    v = check_closed_form(GAMMA_C, "critical_learning_rate", HeavyBall(), hyper={"momentum": [0.5]}, **FAST)
    assert not v.passed and "momentum" in v.parameters


@pytest.mark.parametrize("kwargs, match", [
    (dict(quantity="gamma_c"), "quantity"),
    (dict(expr="gamma*d"), "not allowed|unknown name"),  # gamma is not a name of a gamma_c formula
    (dict(expr="__import__('os')"), "__import__"),
    (dict(examples=0), "examples"),
    (dict(digits=0), "digits"),
    (dict(dimensions=(3, 2)), "dimensions"),
    (dict(eigenvalue=0.5), "eigenvalue"),
    (dict(algorithm=HeavyBall()), "hyper"),
    (dict(algorithm="sgd"), "algorithm"),
])
def test_bad_arguments(kwargs, match):
    args = dict(expr="2/(d + 2)", quantity="critical_learning_rate", monte_carlo=False, examples=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        check_closed_form(args.pop("expr"), args.pop("quantity"), **args)


def test_eigenvalue_accepts_exact_numbers():
    assert check_closed_form("2/(d + 2)", "critical_learning_rate", eigenvalue=Fraction(1), batches=(1, 1),
                             **FAST).passed
