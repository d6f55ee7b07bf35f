"""The learning-rate / batch-size ratio claim: exact stationary risks and differences match Monte Carlo;
the invariance is rejected where gamma R_1 is large."""
from verify.claims import CLAIMS


def test_ratio_claim_passes_and_shows_the_break():
    res = CLAIMS["sgd.learning_rate_batch_ratio"].run("quick", seed=1)
    assert res.passed, [r.check for r in res.rows if not r.passed]
    diffs = [r for r in res.rows if r.check.startswith("R_inf(")]
    assert len(diffs) == 2
    assert "breaks" in diffs[-1].check          # (32 r, 32) vs (r, 1)
    assert "holds" in diffs[0].check            # (2 r, 2) vs (r, 1): the difference is below resolution
    # power: the first-order prediction of that difference is rejected by the same data
    first_order = float(diffs[-1].check.split("first order ")[1].split(";")[0])
    assert abs(diffs[-1].monte_carlo - first_order) / diffs[-1].standard_error > 6
