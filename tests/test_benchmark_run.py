"""benchmarks/run.py: sections are collected (own and optional modules'), run, and printed; a partial
run (--only) never overwrites docs/benchmarks.md."""
import pathlib
import sys
import types

from benchmark_loader import load_benchmark

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _module():
    return load_benchmark("run", "bench_run")


def test_sections_and_optional_modules(monkeypatch, capsys):
    mod = _module()
    names = [f.__name__ for f in mod.SECTIONS]
    assert names == ["engine_section", "phases_section", "workers_section", "samplers_section", "adaptive_section",
                     "compile_section"]
    extra = types.ModuleType("fake_ode_bench")
    extra.SECTIONS = [lambda quick, repeats: ("Stub", mod._table(["a"], [["1"]]), {"quick": quick})]
    extra.SECTIONS[0].__name__ = "stub_section"
    monkeypatch.setitem(sys.modules, "fake_ode_bench", extra)
    monkeypatch.setattr(mod, "OPTIONAL", ("fake_ode_bench",))
    doc = ROOT / "docs" / "benchmarks.md"
    before = doc.read_text()
    data = mod.main(["--quick", "--only", "stub"])
    assert data == {"stub_section": {"quick": True}}
    assert "## Stub" in capsys.readouterr().out and doc.read_text() == before
