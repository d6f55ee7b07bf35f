"""Every python block of the README runs."""
import pathlib
import re


README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_examples():
    assert len(BLOCKS) >= 3


def test_readme_examples_run(capsys):
    namespace: dict = {}
    for block in BLOCKS:
        exec(compile(block, str(README), "exec"), namespace)
    out = capsys.readouterr().out
    assert "True" in out and "False" in out


def test_property_snippet_passes_health_checks_on_a_loaded_machine(monkeypatch):
    """The README's property test runs under Hypothesis's default settings (every health check on,
    unlike the suite's profiles) while each draw is slowed down as on a loaded machine; with Hypothesis's
    defaults in place of its @settings line the same test fails the too_slow health check (so the
    slowdown is real)."""
    import time

    import pytest
    from hypothesis import settings
    from hypothesis.errors import FailedHealthCheck

    import verify.strategies as strategies
    (block,) = [b for b in BLOCKS if "@given(sst.problems" in b]
    real = strategies.derive

    def slow_derive(*args, **kwargs):
        time.sleep(0.5)
        return real(*args, **kwargs)
    monkeypatch.setattr(strategies, "derive", slow_derive)   # slows every draw of a problem ...
    monkeypatch.setattr(strategies.Problem, "recursion", lambda self: real(self.algorithm, self.data))  # not the body
    previous = settings._current_profile
    settings.register_profile("readme-strict", settings.get_profile("default"), database=None)
    settings.load_profile("readme-strict")
    try:
        exec(compile(block, str(README), "exec"), {})
        without = "\n".join("@settings(max_examples=10)" if line.startswith("@settings") else line
                            for line in block.splitlines())
        with pytest.raises(FailedHealthCheck, match="slow"):
            exec(compile(without, str(README), "exec"), {})
    finally:
        settings.load_profile(previous)
