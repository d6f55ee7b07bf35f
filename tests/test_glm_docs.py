"""The per-loss GLM pages render the ODE and homogenized SGD exactly as the package derives them."""
import pathlib

import pytest

from theory.glm import derive_limit, homogenize, logistic, phase_retrieval

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("page, losses", [
    ("glm_logistic.md", [logistic("soft"), logistic("bernoulli")]),
    ("glm_phase_retrieval.md", [phase_retrieval()]),
])
def test_page_shows_the_derived_objects(page, losses):
    text = (DOCS / page).read_text()
    for L in losses:
        assert derive_limit(L).latex() in text, L.name
    assert homogenize(losses[0]).latex() in text
    for fig in ("glm_risk_curves.png", "glm_threshold.png"):
        assert fig in text and (DOCS / fig).stat().st_size > 10_000
