"""Command line: ``python -m theory latex [ID ...] [--standalone] [-o FILE]``."""
from __future__ import annotations

import argparse
import json
import sys

from .catalogue import DERIVATIONS, select
from .latex import document


def _body(obj, standalone):
    """The LaTeX of a derived object; in a document, with its assumptions and source."""
    from .latex_recursion import recursion_section
    from .recursion import Recursion
    if not standalone:
        return obj.latex()
    if isinstance(obj, Recursion):
        return recursion_section(obj)
    source = _source(type(obj).__doc__ or "")
    return (r"\paragraph{Source.} " + source + "\n\n" if source else "") + obj.latex()


def _source(doc):
    """The ``Source: ...`` sentence of a docstring, escaped for LaTeX text ('' if none)."""
    import re
    m = re.search(r"Source:\s*(.+?)(?:\n\s*\n|$)", doc, re.DOTALL)
    text = " ".join(m.group(1).split()) if m else ""
    return text.replace("&", r"\&").replace("_", r"\_").replace("%", r"\%").replace("#", r"\#")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m theory", description="Derivations as LaTeX.")
    sub = parser.add_subparsers(dest="command", required=True)
    lat = sub.add_parser("latex", help="print derivations as LaTeX")
    lat.add_argument("ids", nargs="*", help="derivation ids or prefixes (default: all); "
                     f"known: {', '.join(DERIVATIONS)}")
    lat.add_argument("--standalone", action="store_true", help="a complete document for pdflatex")
    lat.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    lat.add_argument("--results", metavar="JSON", help="with --standalone: add a table of verification "
                     "results from the JSON written by `python -m verify run --json`")
    sub.add_parser("list", help="list the derivation ids")
    args = parser.parse_args(argv)
    if args.command == "list":
        for key, (title, _) in DERIVATIONS.items():
            print(f"{key}\t{title}")
        return 0
    try:
        chosen = select(args.ids)
    except ValueError as exc:
        parser.error(str(exc))
    if args.results and not args.standalone:
        parser.error("--results goes with --standalone")
    if args.output:
        import os
        folder = os.path.dirname(os.path.abspath(args.output))
        if os.path.isdir(args.output) or not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            parser.error(f"-o {args.output}: not a writable file path (the folder must exist and be writable)")
    results = None
    if args.results:
        try:
            with open(args.results) as fh:
                data = json.load(fh)
            results = [{"id": c["id"], "p_value": float(c["p_value"]), "alpha": float(c.get("alpha", "nan")),
                        "verdict": "skipped" if c.get("skipped") else ("passed" if c["passed"] else "FAILED"),
                        "seed": c["seed"]["entropy"]} for c in data["claims"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"--results {args.results}: not a results file of `python -m verify run --json` ({exc})")
    sections = [(title, _body(build(), args.standalone)) for _, (title, build) in chosen]  # after every check
    if args.standalone:
        text = document(sections, results=results)
    else:
        text = "\n\n".join(f"% {title}\n{body}" for title, body in sections) + "\n"
    if args.output:
        with open(args.output, "w") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
