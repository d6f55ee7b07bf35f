"""The restricted parser: formulas given as text never run code; every refusal names the token."""
import os
import subprocess
import sys

import pytest
import sympy as sp

from theory import HeavyBall
from theory import symbols as sym
from theory.parsing import as_expression, parse_expression
from theory.user import recursion_from_expression, recursion_from_moments

X = sp.Symbol("x")

ATTACKS = [
    ("__import__('os').system('touch {path}')", "__import__"),
    ("(lambda: __import__('os').system('touch {path}'))()", "lambda"),
    ("[__import__('os').system('touch {path}') for _ in (1,)]", "__import__"),
    ("().__class__.__bases__[0].__subclasses__()", "__subclasses__"),
    ("x.__class__", "x.__class__"),
    ("x.func", "x.func"),
    ("__builtins__", "__builtins__"),
    ("getattr(x, 'func')", "getattr"),
    ("eval('1')", "eval"),
    ("exec('import os')", "exec"),
    ("open('{path}', 'w')", "open"),
    ("x[0]", "x[0]"),
    ("{{1: x}}[1]", "1: x"),
    ("(y := 1)", "y := 1"),
    ("sqrt(x, evaluate=False)", "evaluate=False"),
    ("sqrt(*[x])", "*[x]"),
    ("Symbol('os')", "Symbol"),
    ("sympify('x')", "sympify"),
    ("'x'", "'x'"),
    ("x if x else 1", "x if x else 1"),
    ("lambda: 1", "lambda"),
    ("{{x for x in (1,)}}", "for"),
    ("9**9**9**9", "9**9"),
    ("x; import os", "not a formula"),
    ("import os", "not a formula"),
]


@pytest.mark.parametrize("text, token", ATTACKS)
def test_attacks_are_refused_naming_the_token_and_nothing_runs(tmp_path, text, token):
    target = tmp_path / "pwned"
    with pytest.raises(ValueError) as err:
        parse_expression(text.format(path=target), {"x": X}, argument="expr")
    assert token.format(path=target) in str(err.value) and "expr" in str(err.value)
    assert not target.exists()


def test_check_recursion_refuses_import_string_and_runs_nothing(tmp_path):
    """The issue's example, in a fresh interpreter: the command would create the file."""
    target = tmp_path / "pwned"
    code = ("from verify import check_recursion\n"
            "try:\n"
            f"    check_recursion(\"__import__('os').system('touch {target}')\")\n"
            "except ValueError as exc:\n"
            "    print('refused:', exc)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert "refused:" in out.stdout and "__import__" in out.stdout, out.stderr
    assert not target.exists()


def test_sympify_would_have_run_the_command(tmp_path):
    """The planted control: SymPy's own parser executes the same string (why the parser exists)."""
    target = tmp_path / "control"
    sp.sympify(f"__import__('os').system('touch {target}')")
    assert target.exists()


def test_numbers_are_exact_and_operators_map_to_sympy():
    assert parse_expression("0.1", {}) == sp.Rational(1, 10)
    assert parse_expression("1e-3", {}) == sp.Rational(1, 1000)
    assert parse_expression("x^2 - -x + +1", {"x": X}) == X**2 + X + 1
    assert parse_expression("Rational(2, 3)*sqrt(x)*exp(log(x))/Abs(x)", {"x": X}) == (
        sp.Rational(2, 3) * sp.sqrt(X) * X / sp.Abs(X))
    assert parse_expression("pi + E", {}) == sp.pi + sp.E


@pytest.mark.parametrize("text, message", [
    ("y", "unknown name 'y'"), ("1/0", "division by zero"), ("x +", "not a formula"),
    ("x" * 5000, "longer than"), ("Rational(x, 2)", "bad arguments"),
])
def test_other_bad_formulas(text, message):
    with pytest.raises(ValueError, match=message):
        parse_expression(text, {"x": X})


def test_as_expression_types():
    assert as_expression(X, {}) is X and as_expression(3, {}) == 3
    for bad in (True, None, object(), lambda: 1, [X]):
        with pytest.raises(ValueError, match="expr"):
            as_expression(bad, {})
    with pytest.raises(ValueError, match="string"):
        parse_expression(3, {})


def test_strings_and_sympy_give_the_same_recursion():
    """Oracle: the same recursion typed as SymPy objects (independent of the parser)."""
    g, lam, B, m, S, s2 = sym.gamma, sym.lam, sym.B, sym.m, sym.S, sym.sigma2
    expr = (1 - g * lam) ** 2 * m + g**2 * lam / B * (lam * m + S + s2)
    text = "(1 - gamma*lam)**2*m + gamma**2*lam/B*(lam*m + S + sigma2)"
    long = "(1 - learning_rate*eigenvalue)**2*second_moment + learning_rate**2*eigenvalue/batch*(" \
           "eigenvalue*second_moment + coupling + noise_variance)"
    a = recursion_from_expression(expr)
    for t in (text, long):
        b = recursion_from_expression(t)
        assert sp.simplify(a.A[0] - b.A[0]) == 0 and sp.simplify(a.u[0] - b.u[0]) == 0
        assert sp.simplify(a.f[0] - b.f[0]) == 0


def test_moment_mapping_errors_name_the_moment():
    right = {"m": "m", "c": "c", "m_prev": "m"}
    recursion_from_moments(right, HeavyBall())
    with pytest.raises(ValueError, match="missing.*m_prev"):
        recursion_from_moments({"m": "m", "c": "c"}, HeavyBall())
    with pytest.raises(ValueError, match="unknown moment 'd'"):
        recursion_from_moments(dict(right, d="m"), HeavyBall())
    with pytest.raises(ValueError, match="expression of c must be affine"):
        recursion_from_moments(dict(right, c="c*m"), HeavyBall())
    with pytest.raises(ValueError, match="expression of m_prev.*unknown name 'q'"):
        recursion_from_moments(dict(right, m_prev="q"), HeavyBall())
    with pytest.raises(ValueError, match="expression of m uses symbols"):
        recursion_from_moments(dict(right, m=sp.Symbol("q")), HeavyBall())
    with pytest.raises(ValueError, match="mapping"):
        recursion_from_moments("m", HeavyBall())


@pytest.mark.parametrize("algorithm", ["SGD", "HeavyBall", "Nesterov", "GeneralizedMomentum"])
def test_every_algorithms_derived_recursion_round_trips_through_text(algorithm):
    """The derived recursion, printed as text in the user's names and parsed back, is the same
    (A, u, f); so is the SymPy form written with the user's own Symbol("S")."""
    import theory
    from theory import derive
    from theory.user import formula_names, moment_names
    alg = getattr(theory, algorithm)()
    rec = derive(alg)
    moments = moment_names(rec)
    names = formula_names(alg, moments)
    to_text = {s: sp.Symbol(n) for n, s in names.items() if isinstance(s, sp.Symbol)}
    rows = {n: sum(a * s for a, s in zip(row, rec.moments)) + u * sp.Symbol("S") + f
            for n, row, u, f in zip(moments, rec.A.tolist(), rec.u, rec.f)}
    for given in (rows, {n: str(e.xreplace(to_text)) for n, e in rows.items()}):
        user = recursion_from_moments(given, alg)
        for a, b in ((user.A, rec.A), (user.u, rec.u), (user.f, rec.f)):
            assert all(sp.simplify(x) == 0 for x in (a - b))
