"""theory.glm.derivation: the ODE of SGD on single-index models, derived from the loss.

Oracles: the High Line ODE (theory.highline, derived from the exact second-moment recursion);
an exact finite-d one-step expectation by Isserlis' theorem for the jointly Gaussian
(a_i, r, r*) (a three-variable moment generating function, independent of Stein's lemma);
hand-derived thresholds.
"""
import pytest
import sympy as sp

from theory import highline as hl
from theory.glm import (
    GLMLoss,
    LabelModel,
    derive_limit,
    least_squares,
    logistic,
    loss,
    phase_retrieval,
    sigmoid,
    softplus,
)
from theory.glm.derivation import (
    B11,
    B12,
    B22,
    P,
    Q,
    U,
    d,
    g,
    lam,
    r,
    rs,
    sigma2,
    tau1,
    y,
)
from theory.glm.expectations import closed_form


def test_least_squares_reproduces_the_high_line_ode_exactly():
    lim = derive_limit(least_squares())
    drift_D = closed_form(lim.high_line_form())          # d(P - 2U + Q)/dt
    # D = P - 2U + Q, and 2R = B11 - 2 B12 + B22 + sigma^2 (R with the 1/2, as eq. 8)
    drift_D = drift_D.subs(P, hl.D2 + 2 * U - Q).subs(B11, 2 * hl.R - sigma2 + 2 * B12 - B22)
    assert sp.simplify(drift_D - hl.derive_limit().drift) == 0
    assert sp.simplify(lim.drift_U - (-g * lam * (U - Q))) == 0
    assert sp.simplify(closed_form(lim.risk) - (B11 - 2 * B12 + B22 + sigma2) / 2) == 0


def test_least_squares_threshold_is_2d_over_trK():
    lim = derive_limit(least_squares())
    assert lim.critical_learning_rate == 2 / tau1            # tau_1 = tr K / d: g_c = 2 d / tr K
    assert lim.critical_learning_rate.subs(tau1, hl.trK / hl.d) == hl.derive_limit().critical_g_expression


def _exact_increment_rate(loss_expr, name):
    """d * E[increment of P (name 'P') or U] per step at finite d, by Isserlis for (a, r, r*): the oracle."""
    X, Xs, a = sp.symbols("X_i X^*_i a_i", real=True)
    s0, s1, s2 = sp.symbols("s0:3", real=True)
    cov = sp.Matrix([[lam, lam * X, lam * Xs], [lam * X, B11, B12], [lam * Xs, B12, B22]])
    sv = sp.Matrix([s0, s1, s2])
    mgf = sp.exp((sv.T * cov * sv)[0] / 2)
    f = sp.diff(loss_expr, r).subs(y, rs)
    Xn = X - (g / d) * a * f
    inc = sp.expand(d * (Xn**2 - X**2) if name == "P" else d * (Xn - X) * Xs)
    poly = sp.Poly(inc, a, r, rs)
    total = 0
    for (i, j, k), c in poly.terms():
        total += c * sp.diff(mgf, s0, i, s1, j, s2, k).subs({s0: 0, s1: 0, s2: 0})
    total = sp.expand(d * total)
    return sp.expand(total.subs({X**2: P / d}).subs({X * Xs: U / d, Xs**2: Q / d}).subs(X, sp.sqrt(P / d)))


@pytest.mark.parametrize("loss_", [phase_retrieval(), loss((r - y) ** 4)], ids=["phase_retrieval", "quartic"])
@pytest.mark.parametrize("name", ["P", "U"])
def test_stein_reduction_equals_exact_isserlis_at_finite_d(loss_, name):
    lim = derive_limit(loss_)
    drift, corr = (lim.drift_P, lim.correction_P) if name == "P" else (lim.drift_U, lim.correction_U)
    derived = closed_form(drift + corr / d)
    oracle = _exact_increment_rate(loss_.expression, name)
    assert sp.simplify(sp.expand(derived - oracle)) == 0


def test_logistic_soft_and_bernoulli_differ_by_the_label_variance():
    soft, bern = derive_limit(logistic("soft")), derive_limit(logistic("bernoulli"))
    assert sp.simplify(bern.F2 - soft.F2 - sigmoid(rs) * (1 - sigmoid(rs))) == 0
    assert sp.simplify(bern.drift_U - soft.drift_U) == 0
    assert sp.simplify(bern.drift_P - soft.drift_P) != 0
    assert sp.simplify(bern.conditional_risk - soft.conditional_risk) == 0      # same risk
    assert sp.simplify(soft.F1 - (sigmoid(r) - sigmoid(rs))) == 0


def test_logistic_threshold_matches_the_hand_derivation():
    lim = derive_limit(logistic("soft"))
    from theory.glm.derivation import Expectation
    s = sigmoid(rs)
    oracle = 2 * Expectation(s * (1 - s)) / (tau1 * Expectation((s * (1 - s)) ** 2))
    ratio = lim.critical_learning_rate / oracle
    # equal as expectations: compare the integrands of numerator and denominator
    num, den = sp.fraction(sp.together(ratio))
    assert sp.simplify(num.replace(lambda e: isinstance(e, Expectation), lambda e: e.args[0])
                       - den.replace(lambda e: isinstance(e, Expectation), lambda e: e.args[0])) == 0


def test_phase_retrieval_threshold_closed_form():
    lim = derive_limit(phase_retrieval())
    assert sp.simplify(closed_form(lim.critical_learning_rate) - 1 / (12 * tau1 * B22)) == 0
    assert lim.optimal_risk == 0


def test_latex_has_the_ode_and_conventions():
    for L in (least_squares(), logistic("bernoulli"), phase_retrieval()):
        tex = derive_limit(L).latex()
        assert r"\frac{dP_i}{dt}" in tex and r"\frac{dU_i}{dt}" in tex and r"\gamma = g/d" in tex
        assert tex.startswith(r"\begin{align*}") and tex.endswith(r"\end{align*}")
    assert r"\sigma\left(r^*\right)" in derive_limit(logistic("soft")).latex()
    assert r"\operatorname{Bernoulli}" in derive_limit(logistic("bernoulli")).latex()


def test_user_loss_without_stationary_teacher_has_no_threshold():
    lim = derive_limit(loss((r - y) ** 2 + r))
    assert lim.critical_learning_rate is None and "stationary" in lim.threshold_note


def test_gaussian_label_expectation():
    m = LabelModel("gaussian", rs, sigma2)
    assert sp.expand(m.conditional_expectation((r - y) ** 4)
                     - ((r - rs) ** 4 + 6 * (r - rs) ** 2 * sigma2 + 3 * sigma2**2)) == 0


@pytest.mark.parametrize("bad, exc, words", [
    (lambda: derive_limit("(r - y)^2"), TypeError, "GLMLoss"),
    (lambda: GLMLoss("x", y**2), ValueError, "prediction r"),
    (lambda: GLMLoss("x", (r - y) ** 2 * sp.Symbol("c")), ValueError, "it also uses"),
    (lambda: GLMLoss("x", r * y, labels="soft"), TypeError, "LabelModel"),
    (lambda: LabelModel("poisson"), ValueError, "kind"),
    (lambda: logistic("hard"), ValueError, "labels"),
    (lambda: derive_limit(GLMLoss("x", softplus(r) - r * y, LabelModel("gaussian", rs, sigma2))) if False
     else LabelModel("gaussian", rs, sigma2).conditional_expectation(sp.exp(y) * r), NotImplementedError, "polynomial"),
])
def test_bad_input_is_rejected_with_a_clear_error(bad, exc, words):
    with pytest.raises(exc, match=words):
        bad()


def test_a_loss_given_as_text_is_refused_and_never_run(tmp_path):
    """Strings would be evaluated by sympify: the GLM entry points refuse them."""
    import pytest

    from theory.glm import loss
    from theory.glm.expectations import expectation_mp
    target = tmp_path / "pwned"
    attack = f"__import__('os').system('touch {target}')"
    with pytest.raises(TypeError, match="must be a SymPy expression"):
        loss(attack)
    with pytest.raises(TypeError, match="must be a SymPy expression"):
        expectation_mp(attack, 1, 0, 1)
    assert not target.exists()


def test_only_losses_of_known_functions_are_cached_on_disk():
    """A user's own SymPy function class may carry any derivative rule under a name already seen, so its
    derivation is never loaded from the disk cache (whose key is the loss's text)."""
    import sympy as sp

    from theory.glm import logistic, loss, phase_retrieval
    from theory.glm.derivation import _only_known_functions, r, y

    class half_square(sp.Function):
        def fdiff(self, argindex=1):
            return self.args[0]

    assert _only_known_functions(logistic("bernoulli")) and _only_known_functions(phase_retrieval())
    assert _only_known_functions(loss(sp.log(sp.cosh(r - y))))
    assert not _only_known_functions(loss(half_square(r - y)))
