"""check_ode: the eq. 8 drift is accepted; one with the gamma^2 (g^2) term halved is rejected."""
import pytest
import sympy as sp

from theory import IndependentCoordinates
from theory import highline as hl
from theory import symbols as sym
from verify.check import check_ode

EQ8 = "-2*g*lam*D2 + 2*g**2*lam*R"  # Collins-Woodfin et al., arXiv:2405.19585, eq. 8 (typed as the oracle)
HALVED = "-2*g*lam*D2 + g**2*lam*R"
SMALL = dict(dimensions=(16, 32, 64), replicas=300)


def test_eq8_drift_is_accepted_with_a_gap_of_order_one_over_d():
    v = check_ode(EQ8, **SMALL)
    assert v.passed and 0.8 < v.parameters["order"] < 1.3
    gaps = v.parameters["gap"]
    assert [r["d"] for r in gaps] == [16, 32, 64]
    assert all(r["gap"] > 0 and "monte_carlo_gap" in r for r in gaps)
    assert gaps[-1]["gap"] < gaps[0]["gap"] / 3  # it shrinks ~ 1/d (4x over the range)
    assert len(v.members) == 2 + 3


def test_eq8_drift_as_sympy_and_on_non_gaussian_data():
    drift = -2 * hl.g * sym.lam * hl.D2 + 2 * hl.g**2 * sym.lam * hl.R
    assert check_ode(drift, IndependentCoordinates(kurtosis=6.0), monte_carlo=False, **SMALL).passed


def test_halved_g_squared_term_is_rejected_with_a_counterexample():
    v = check_ode(HALVED, **SMALL)
    assert not v.passed and v.kind == "exact"
    point, diff = v.parameters["counterexample"]
    assert sp.sympify(diff) != 0 and set(point) <= {"g", "lambda_i", "R", "D_i^2"}
    assert v.parameters["order"] < 0.3  # the gap does not shrink with d
    assert v.parameters["gap"][-1]["gap"] > 0.1


@pytest.mark.parametrize("kwargs, match", [
    (dict(drift="-2*g*lam*D2 + q"), "unknown name 'q'"),
    (dict(drift="D2.__class__"), "attribute"),
    (dict(dimensions=(32,)), "dimensions"),
    (dict(dimensions=(15, 31)), "dimensions"),
    (dict(learning_rate_fraction=1.5), "learning_rate_fraction"),
    (dict(noise_variance=-1.0), "noise_variance"),
    (dict(t_max=0.0), "t_max"),
    (dict(spectrum=((1.0, 0.6), (0.5, 0.6))), "spectrum"),
    (dict(replicas=1), "replicas"),
])
def test_bad_arguments(kwargs, match):
    args = dict(drift=EQ8, monte_carlo=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        check_ode(args.pop("drift"), **args)
