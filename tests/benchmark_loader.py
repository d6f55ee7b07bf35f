"""Load a script of ``benchmarks/`` (not a package) as a module, for the tests of the benchmarks.

Importable from every test directory: pytest puts ``tests/`` on ``sys.path`` with its conftest.py.
"""
import importlib.util
import pathlib

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str, module_name: str | None = None):
    """The module of ``benchmarks/<name>.py`` (executed afresh on each call), named ``module_name`` (default
    ``name``)."""
    spec = importlib.util.spec_from_file_location(module_name or name, BENCHMARKS / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
