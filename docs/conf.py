"""Sphinx configuration of the sgdcheck documentation.

Sphinx with MyST was chosen over mkdocs-material/mkdocstrings because its
autodoc + napoleon read the package's NumPy-style docstrings directly, its
doctest builder runs the tutorial as a test, and MathJax renders the
package's own LaTeX output unchanged. The pages of derivations and claims
are generated at build time from the package itself (see ``generate`` below),
never pasted.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

project = "sgdcheck"
author = "sgdcheck developers"
extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.doctest",
              "sphinx.ext.mathjax",
              # MathJax 3 shipped inside a PyPI package and copied into _static/mathjax: the pages
              # render their maths offline (no CDN); it sets mathjax_path to the local copy
              "sphinx-mathjax-offline"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "figures/*.pdf"]
html_theme = "alabaster"
html_static_path = ["_static"]
html_css_files = ["sgdcheck.css"]   # long display equations scroll within the page
autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_numpy_docstring = True
napoleon_google_docstring = False
suppress_warnings = ["myst.header"]
doctest_global_setup = "import numpy as np"


def generate(app=None):
    """Write _generated/*.md: one page per family of derivations and claims, from the package."""
    from theory.catalogue import DERIVATIONS
    from verify.claims import CLAIMS

    out = Path(__file__).resolve().parent / "_generated"
    out.mkdir(exist_ok=True)
    families = sorted({k.split(".")[0] for k in DERIVATIONS} | {k.split(".")[0] for k in CLAIMS})
    for fam in families:
        lines = [f"# Family `{fam}`", "",
                 "Generated at build time from `python -m theory latex` and `python -m verify list`.", ""]
        ders = [(k, v) for k, v in DERIVATIONS.items() if k.split(".")[0] == fam]
        if ders:
            lines += ["## Derivations", ""]
            for key, (title, build) in ders:
                lines += [f"### {title} (`{key}`)", "", build().latex(), ""]
        claims = [c for k, c in CLAIMS.items() if k.split(".")[0] == fam]
        if claims:
            lines += ["## Claims", "", "| id | statement | source |", "|---|---|---|"]
            lines += [f"| `{c.id}` | {c.title} | {c.source} |" for c in claims]
            lines += ["", f"Run them with `python -m verify run {fam}`."]
        (out / f"{fam}.md").write_text("\n".join(lines) + "\n")
    index = ["# Derivations and claims", "", "```{toctree}", ":maxdepth: 1", ""] + families + ["```", ""]
    (out / "index.md").write_text("\n".join(index))


def setup(app):
    app.connect("builder-inited", generate)
doctest_test_doctest_blocks = ""
