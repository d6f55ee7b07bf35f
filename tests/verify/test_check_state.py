"""check_recursion on a state of several moments: heavy ball with (m, c, m_prev)."""
import pytest
import sympy as sp

from theory import HeavyBall
from theory import symbols as sym
from verify import check_recursion

# the heavy-ball recursion written by hand (Paquette & Paquette, arXiv:2106.03696), as text
RIGHT = {"m": "(1 + beta - gamma*lam)**2*m + gamma**2*lam**2*(kappa - 2)/B*m - 2*beta*(1 + beta - gamma*lam)*c"
              " + beta**2*m_prev + gamma**2*lam/B*(S + sigma2)",
         "c": "(1 + beta - gamma*lam)*m - beta*c",
         "m_prev": "m"}
WRONG = {
    "missing beta^2 m_prev": dict(RIGHT, m=RIGHT["m"].replace(" + beta**2*m_prev", "")),
    "2% on the beta^2 coefficient": dict(RIGHT, m=RIGHT["m"].replace("beta**2*m_prev", "1.02*beta**2*m_prev")),
    "2% on the noise term": dict(RIGHT, m=RIGHT["m"].replace("gamma**2*lam/B*(S", "1.02*gamma**2*lam/B*(S")),
    "2% on c's coefficient": dict(RIGHT, c="1.02*(1 + beta - gamma*lam)*m - beta*c"),
}
SMALL = dict(examples=2, steps=200, replicas=2000, hyper=[{"momentum": 0.5}, {"momentum": 0.8}])


@pytest.mark.parametrize("seed", [0, 1])
def test_heavy_ball_right_recursion_is_accepted(seed):
    v = check_recursion(RIGHT, HeavyBall(), seed=seed, **SMALL)
    assert v.passed and v.comparisons > 0


def test_heavy_ball_right_recursion_as_sympy_keyed_by_symbols():
    g, b, lam, B, k, m, S, s2 = sym.gamma, sym.beta, sym.lam, sym.B, sym.kappa, sym.m, sym.S, sym.sigma2
    c, mp = sp.Symbol("c_i", real=True), sp.Symbol("m_i^prev", nonnegative=True)
    a = 1 + b - g * lam
    expr = {m: a**2 * m + g**2 * lam**2 * (k - 2) / B * m - 2 * b * a * c + b**2 * mp + g**2 * lam / B * (S + s2),
            c: a * m - b * c, mp: m}
    assert check_recursion(expr, HeavyBall(), seed=2, **SMALL).passed


@pytest.mark.parametrize("name", list(WRONG))
def test_heavy_ball_planted_errors_are_rejected_with_a_shrunk_counterexample(name):
    v = check_recursion(WRONG[name], HeavyBall(), seed=0, shrink=2, **SMALL)
    assert not v.passed and v.p_value < 1e-6
    assert "drawn" in v.parameters and v.parameters["simplifications"]
    assert len(v.parameters["eigenvalues"]) <= len(v.parameters["drawn"]["eigenvalues"])


def test_heavy_ball_needs_a_mapping_and_its_momentum():
    with pytest.raises(ValueError, match="mapping from each moment"):
        check_recursion(RIGHT["m"], HeavyBall(), **SMALL)
    with pytest.raises(ValueError, match="hyper must give"):
        check_recursion(RIGHT, HeavyBall(), examples=2)
    with pytest.raises(ValueError, match="momentum"):
        check_recursion(RIGHT, HeavyBall(), examples=2, hyper={"momentum": 1.5})
    with pytest.raises(ValueError, match="hyper must name exactly"):
        check_recursion(RIGHT, HeavyBall(), examples=2, hyper={"beta": 0.5})
