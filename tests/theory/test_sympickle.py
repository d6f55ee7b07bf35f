"""theory.sympickle: derived objects come back srepr-identical, without SymPy's canonicalisation."""
import copy
import functools
import pickle
import subprocess
import sys

import pytest
import sympy as sp
from benchmark_loader import load_benchmark

from theory import SGD, Gaussian, HeavyBall, IndependentCoordinates, derive
from theory.sympickle import dumps


def _canonical(obj):
    """srepr of SymPy objects, containers and attributes recursively (the benchmark's comparison)."""
    return load_benchmark("cache_loads").canonical(obj)


def _as_stored(rec):
    """``rec`` as the disk cache stores it: without the values its cached properties gained since (other
    tests may have compiled its numeric functions, which are not picklable)."""
    cached = {n for n, a in vars(type(rec)).items() if isinstance(a, functools.cached_property)}
    clean = copy.copy(rec)
    clean.__dict__ = {k: v for k, v in vars(rec).items() if k not in cached}
    return clean


x, y = sp.symbols("x y", positive=True)
a, b = sp.symbols("a b", commutative=False)
z = sp.Symbol("z")
EXPRESSIONS = [
    3 * x * y**2 + x / (1 + y), sp.Rational(2, 7) * x**sp.Rational(-3, 2) - sp.sqrt(2) * y, (x + y) ** 40,
    sp.exp(-x * y) * sp.log(1 + x), sp.Float("0.125", 30) * x + sp.pi * z**2, a * b - b * a + 2 * a * x,
    sp.ImmutableMatrix([[x * y, 1 / x], [y**2 + x, 0]]), sp.Piecewise((x * y, x > y), (x + y, True)), -x, x**-1,
    sp.I * x + z**z, sp.Integer(0) * x, sp.oo * x, sp.zoo, sp.nan,
]


@pytest.mark.parametrize("expr", EXPRESSIONS, ids=range(len(EXPRESSIONS)))
def test_expressions_come_back_identical(expr):
    back = pickle.loads(dumps(expr))
    assert sp.srepr(back) == sp.srepr(expr)
    assert back == expr and hash(back) == hash(expr)
    if isinstance(back, sp.Expr):   # and they behave as the originals do
        assert sp.srepr(sp.expand(back * (x - 1))) == sp.srepr(sp.expand(expr * (x - 1)))
        assert back.is_commutative == expr.is_commutative and back.free_symbols == expr.free_symbols


@pytest.mark.parametrize("algorithm,data,hyper", [(SGD(), Gaussian(), {}),
                                                  (HeavyBall(), IndependentCoordinates(), {"momentum": 0.5}),
                                                  (SGD(weight_decay=0.2), Gaussian(), {})])
def test_derived_recursions_come_back_identical(algorithm, data, hyper):
    rec = _as_stored(derive(algorithm, data=data))
    back = pickle.loads(dumps(rec))
    assert _canonical(back) == _canonical(rec)
    lam = [1.0, 0.5, 0.25]
    assert back.critical_learning_rate(lam, **hyper) == rec.critical_learning_rate(lam, **hyper)


def test_loading_does_not_flatten_again(monkeypatch):
    """The point of the format: sums and products are rebuilt from their canonical arguments, where a
    plain pickle calls Mul(*args) and Add(*args) (flatten) again (the planted check: plain pickles do)."""
    expr = sum(sp.Rational(k, 3) * x**k * y ** (k % 3) for k in range(1, 30))
    plain, fast = pickle.dumps(expr), dumps(expr)

    def refuse(*args, **kwargs):
        raise AssertionError("flatten called")
    monkeypatch.setattr(sp.Mul, "flatten", classmethod(refuse))
    monkeypatch.setattr(sp.Add, "flatten", classmethod(refuse))
    sp.core.cache.clear_cache()
    assert pickle.loads(fast) == expr
    sp.core.cache.clear_cache()
    with pytest.raises(AssertionError, match="flatten called"):
        pickle.loads(plain)


def test_a_fresh_process_loads_them(tmp_path):
    """The entries are read by other processes: only ``pickle`` and the importable ``theory.sympickle``."""
    rec = derive(SGD(), data=Gaussian())
    path = tmp_path / "entry.pkl"
    path.write_bytes(dumps(rec.update))
    code = (f"import pickle, sympy as sp; u = pickle.load(open({str(path)!r}, 'rb')); "
            "print(sp.srepr(u))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == sp.srepr(rec.update)


def test_the_load_benchmark_compares_both_formats(tmp_path):
    """``benchmarks/cache_loads.py`` on a small cache directory: both formats load, nothing differs."""
    for j, value in enumerate([derive(SGD(), data=Gaussian()).update, EXPRESSIONS[:5]]):
        (tmp_path / f"{j}.pkl").write_bytes(pickle.dumps(value))
    r = load_benchmark("cache_loads").measure(str(tmp_path), repeat=1)
    assert r["entries"] == 2 and r["mismatches"] == 0 and set(r["cpu"]) == {"plain", "sympickle"}
