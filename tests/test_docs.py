"""The documentation builds with warnings as errors, and the tutorial runs as a doctest."""
import pathlib
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.parametrize("builder", ["html", "doctest"])
def test_docs_build_without_warnings(builder, tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", builder,
                           str(DOCS), str(tmp_path / builder)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    if builder == "html":
        _check_offline_maths_and_pages(tmp_path / builder)


def _check_offline_maths_and_pages(out):
    """MathJax comes from the build (no CDN), display maths scrolls within the text column, and the
    references and the figure gallery are pages."""
    assert (out / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    page = (out / "fourth_moments.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page and "_static/sgdcheck.css" in page
    for html in out.rglob("*.html"):
        text = html.read_text()
        assert "cdn.jsdelivr" not in text and "mathjax@" not in text, html
    css = (out / "_static" / "sgdcheck.css").read_text()
    assert "overflow-x: auto" in css and 'mjx-container[display="true"]' in css
    assert (out / "references.html").exists()
    assert (out / "figures" / "index.html").read_text().count("<img") >= 30


def test_every_cited_arxiv_id_is_in_the_references_page():
    import re
    root = DOCS.parent
    cited = set()
    for path in list((root / "theory").rglob("*.py")) + list((root / "verify").rglob("*.py")):
        cited |= set(re.findall(r"arXiv:(\d{4}\.\d{4,5})", path.read_text()))
    listed = set(re.findall(r"arXiv:(\d{4}\.\d{4,5})", (DOCS / "references.md").read_text()))
    assert cited and cited <= listed, sorted(cited - listed)


def test_license_is_mit_as_the_package_says():
    import re
    root = DOCS.parent
    assert (root / "LICENSE").read_text().startswith("MIT License")
    assert re.search(r'^license = \{text = "MIT"\}', (root / "pyproject.toml").read_text(), flags=re.M)
