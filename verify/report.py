"""The results of ``python -m verify run`` for people and for programs.

* :func:`table` — the text table: at most ``width`` (100) columns, one block per
  claim (a header line with its id and verdict, then one line per check); only the
  check's description wraps, numbers are never cut; exact and numeric rows show
  their numbers without a standard error. ``wide=True`` puts everything of a
  check on one line.
* :func:`markdown` and :func:`csv_text` — the same rows as a Markdown table and as
  CSV (full-precision numbers, empty cells where a number does not apply).
* :func:`document` — the JSON document (strict JSON: :func:`strict_json`), with the
  versions of sgdcheck, Python, NumPy, SciPy, SymPy, mpmath and Hypothesis.
"""
from __future__ import annotations

import csv
import io
import json
import math
import platform
import textwrap

from .stats.result import strict_json

__all__ = ["FORMATS", "csv_text", "document", "dumps", "markdown", "number", "table", "versions"]

#: the choices of ``python -m verify run --format``
FORMATS = ("text", "json", "csv", "markdown")

_HEAD = ("check", "kind", "theory", "Monte Carlo", "statistic", "verdict")


def number(x, digits: int = 6) -> str:
    """``x`` for people: ``digits`` significant digits, no ``np.float64(...)``, ``""`` for NaN/None,
    ``inf``/``-inf`` for infinities, integers as integers.

    >>> number(0.00010000000000000009), number(1.9e-249), number(float("nan")), number(3.0)
    ('0.0001', '1.9e-249', '', '3')
    """
    if x is None or isinstance(x, str):
        return x or ""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return ""
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.{digits}g}"


def _missing(x) -> bool:
    return x is None or math.isnan(float(x))


def _statistic(row) -> str:
    s = row.statistic
    if _missing(s):
        return ""
    if row.kind == "numeric":
        return "digits: all" if math.isinf(s) else f"digits: {number(s, 3)}"
    if row.kind == "exact":
        return "exact" if s == 0 else f"abs diff {number(s, 3)}"
    if row.kind == "reported":
        return f"rel. {number(s, 3)}"
    return f"{row.unit} = {number(s, 3)}"


def _monte_carlo(row, pm: str) -> str:
    """The second side of a row: Monte Carlo ± s.e. for tests; the second exact or numeric value
    as is (no standard error applies)."""
    mc = number(row.monte_carlo)
    se = row.standard_error
    if mc and row.kind in ("series", "scalar", "growth", "reported") and not _missing(se) and se > 0:
        mc += f" {pm} {number(se, 2)}"
    return mc


def _cells(row, pm: str) -> tuple:
    return (row.check, row.kind, number(row.theory), _monte_carlo(row, pm), _statistic(row), row.verdict)


def _claim_line(r) -> str:
    if r.skipped:
        return f"{r.id}  skipped: {r.skipped}"
    verdict = "passed" if r.passed else "FAILED"
    return f"{r.id}  {verdict} (family-wise alpha {number(r.alpha)}, {r.seconds:.1f} s)"


def table(results, width: int = 100, wide: bool = False, unicode: bool = True) -> str:
    """The results table as text, at most ``width`` characters per line unless ``wide``.

    Each claim is a header line (id, verdict, family-wise alpha, seconds) followed, per check,
    by one line of numbers (kind, theory value, Monte Carlo mean ± standard error, statistic,
    verdict) and the check's description beneath it, wrapped at ``width``. Numbers are never cut
    or wrapped. With ``wide`` the description follows the numbers on the same line and nothing
    wraps.
    """
    pm = "±" if unicode else "+-"
    head = _HEAD[1:] + (("check",) if wide else ())
    rows = [_cells(row, pm) for r in results for row in r.rows]
    widths = [max([len(h)] + [len(c[i + 1]) for c in rows]) for i, h in enumerate(_HEAD[1:])]

    def line(cells):
        return ("  " + "  ".join(str(c).ljust(w) for c, w in zip(cells, widths + [0]))).rstrip()

    out = [line(head), line(["-" * w for w in widths] + (["-----"] if wide else []))]
    for r in results:
        title = _claim_line(r)
        out += [title] if wide else textwrap.wrap(title, width, subsequent_indent=" " * 4, break_long_words=False)
        for row in r.rows:
            check, *rest = _cells(row, pm)
            if wide:
                out.append(line([*rest, check]))
                continue
            out.append(line(rest))
            out += textwrap.wrap(check, width, initial_indent=" " * 6, subsequent_indent=" " * 6,
                                 break_long_words=False, break_on_hyphens=False)
    return "\n".join(out)


def _plain(row) -> list:
    def raw(x):
        return "" if _missing(x) else repr(float(x))
    return [row.check, row.kind, raw(row.theory), raw(row.monte_carlo), raw(row.standard_error),
            raw(row.statistic), row.unit, row.verdict]


def csv_text(results) -> str:
    """One CSV line per check: claim, check, kind, theory, monte_carlo, standard_error, statistic,
    unit, verdict, claim_passed (full-precision numbers; empty where a number does not apply)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["claim", "check", "kind", "theory", "monte_carlo", "standard_error", "statistic", "unit",
                "verdict", "claim_passed"])
    for r in results:
        if r.skipped:
            w.writerow([r.id, r.skipped, "", "", "", "", "", "", "skipped", ""])
        for row in r.rows:
            w.writerow([r.id, *_plain(row), r.passed])
    return buf.getvalue()


def markdown(results) -> str:
    """A Markdown (GitHub) table with one line per check."""
    def esc(text):
        return str(text).replace("|", r"\|")
    out = ["| claim | " + " | ".join(_HEAD) + " |", "|" + "---|" * (len(_HEAD) + 1)]
    for r in results:
        if r.skipped:
            out.append(f"| `{r.id}` | {esc(r.skipped)} | | | | | skipped |")
        for j, row in enumerate(r.rows):
            claim = f"`{r.id}`" if j == 0 else ""
            out.append(f"| {claim} | " + " | ".join(esc(c) for c in _cells(row, "±")) + " |")
    return "\n".join(out) + "\n"


def versions() -> dict:
    """Versions of sgdcheck and of the libraries its numbers depend on."""
    import hypothesis
    import mpmath
    import numpy
    import scipy
    import sympy

    import theory
    return {"sgdcheck": theory.__version__, "python": platform.python_version(), "numpy": numpy.__version__,
            "scipy": scipy.__version__, "sympy": sympy.__version__, "mpmath": mpmath.__version__,
            "hypothesis": hypothesis.__version__}


def document(results, budget: str, seed: int) -> dict:
    """The JSON document of a run: versions, budget, seed and every claim's numbers."""
    return strict_json({"versions": versions(), "budget": budget, "seed": seed,
                        "claims": [r.to_dict() for r in results]})


def dumps(obj) -> str:
    """Strict JSON text (no NaN or Infinity literals: see :func:`verify.stats.result.strict_json`)."""
    return json.dumps(strict_json(obj), indent=2, allow_nan=False)
