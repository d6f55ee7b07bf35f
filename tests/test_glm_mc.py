"""verify.glm (Monte Carlo SGD on GLMs) and the glm.* claims: validity and planted errors.

Oracles: the exact finite-d second-moment recursion of SGD on least squares (theory.derive,
an independent derivation) for the simulator; planted wrong theories for the claims' power.
"""
import math

import numpy as np
import pytest

from theory import SGD, Gaussian, derive
from theory.glm import derive_limit, least_squares, logistic
from verify.claims import CLAIMS
from verify.glm import power_law_spectrum, simulate_glm
from verify.stats import AlphaBudget, scalar_comparison, z_of_p


def test_simulator_matches_the_exact_least_squares_recursion():
    d, g, T = 40, 0.8, 2.0
    lam = power_law_spectrum(d)
    Xs = np.full(d, 1 / math.sqrt(d))
    run = simulate_glm(derive_limit(least_squares()), lam, g, T, teacher=Xs, noise_variance=0.25, replicas=400,
                       seed=3, record_every=d // 2)
    # exact E risk of SGD with learning rate g/d, e_0 = -X*, label noise 0.25
    tr = derive(SGD(), Gaussian()).trajectory(lam, g / d, noise_variance=0.25, initial=-Xs, steps=int(T * d))
    alphas = AlphaBudget(1e-4, {"t": 1}).split("t", len(run.steps) - 1)
    for k, a in zip(run.steps[1:], alphas):
        j = list(run.steps).index(k)
        v = scalar_comparison(float(tr.risk[k]), run.risk[:, j], alpha=a)
        assert v.passed, (k, v)


def test_seeded_runs_are_reproducible_and_recorded():
    lim = derive_limit(logistic("bernoulli"))
    kw = {"teacher": np.full(30, 0.3), "replicas": 3, "seed": np.random.SeedSequence(7)}
    a = simulate_glm(lim, power_law_spectrum(30), 2.0, 0.5, **kw)
    b = simulate_glm(lim, power_law_spectrum(30), 2.0, 0.5, **dict(kw, seed=np.random.SeedSequence(7)))
    np.testing.assert_array_equal(a.risk, b.risk)
    assert a.seed["entropy"] == 7 and a.B.shape == (3, a.t.size, 3)


@pytest.mark.parametrize("kw, words", [
    ({"teacher": np.ones(3)}, "teacher"),
    ({"teacher": np.ones(5), "initial": np.ones(4)}, "initial"),
    ({"teacher": np.ones(5), "replicas": 1}, "replicas"),
    ({"teacher": np.ones(5), "noise_variance": -1.0}, "noise_variance"),
])
def test_bad_input(kw, words):
    with pytest.raises(ValueError, match=words):
        simulate_glm(derive_limit(logistic()), np.ones(5), 1.0, 1.0, **kw)


def _planted_rows(res):
    return [r for r in res.rows if r.kind == "reported" and r.check.startswith("planted")]


@pytest.mark.parametrize("cid", ["glm.logistic.risk_curve", "glm.logistic.bernoulli", "glm.phase_retrieval.risk_curve"])
def test_curve_claim_passes_and_rejects_its_planted_error(cid):
    res = CLAIMS[cid].run("standard", seed=0)
    assert res.passed, [(r.check, r.statistic) for r in res.rows]
    counted = [v for v in res.verdicts if v.counted]
    z_crit = max(z_of_p(v.alpha) for v in counted)
    planted = _planted_rows(res)
    assert len(planted) == len(counted)
    # the planted theory fails the same test at the same alpha (its largest statistic beyond the critical value)
    assert max(r.statistic for r in planted) > z_crit, [r.statistic for r in planted]


def test_the_docs_example_runs_and_passes(capsys):
    import pathlib
    text = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "glm.md").read_text()
    code = text.split("```python\n")[-1].split("```")[0]
    exec(compile(code, "docs/glm.md", "exec"), {})  # noqa: S102  (the documented example, run as written)
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0] == r"\begin{align*}" and out[-1].startswith("True")
