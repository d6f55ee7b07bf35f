r"""CPU of loading the derivation cache's entries: plain pickles against :func:`theory.sympickle.dumps`.

Every entry of a derivation-cache directory (default: the one of this source tree,
``theory.diskcache.cache_dir()``, filled by a run of ``python -m verify run``) is loaded once, then
written in both formats (``pickle.dumps`` at the highest protocol, which rebuilds SymPy sums and
products through their constructors when loaded, and ``theory.sympickle.dumps``); the two sets are
loaded alternately ``--repeat`` times with SymPy's cache cleared before each pass, CPU by
``time.process_time``. Checks that both give ``srepr``-identical objects, attribute by attribute.

Run: ``python benchmarks/cache_loads.py [--dir DIR] [--repeat N]``; prints the entry count, the bytes
of each format, the median CPU of loading all entries in each format and their ratio.
"""
from __future__ import annotations

import argparse
import os
import pickle
import statistics
import sys
import time

# measure the source tree this script belongs to (a worktree), not whichever copy is installed
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def canonical(obj):
    """A comparable text of ``obj``: ``srepr`` of SymPy objects, containers and attributes recursively."""
    import sympy as sp
    if isinstance(obj, (sp.Basic, sp.MatrixBase)):
        return ("sympy", sp.srepr(obj))
    if isinstance(obj, dict):
        return ("dict", tuple((canonical(k), canonical(v)) for k, v in obj.items()))
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, tuple(canonical(e) for e in obj))
    if callable(obj):
        return ("callable", getattr(obj, "__qualname__", type(obj).__qualname__))
    if hasattr(obj, "__dict__"):
        return (type(obj).__qualname__, canonical(vars(obj)))
    return ("repr", repr(obj))


def measure(directory, repeat=5) -> dict:
    import sympy as sp

    import theory  # noqa: F401 - the classes the entries refer to
    from theory.sympickle import dumps
    files = sorted(p for p in os.listdir(directory) if p.endswith(".pkl"))
    values = []
    for name in files:
        with open(os.path.join(directory, name), "rb") as fh:
            values.append(pickle.load(fh))
    plain = [pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL) for v in values]
    fast = [dumps(v) for v in values]
    times = {"plain": [], "sympickle": []}
    for _ in range(repeat):
        for kind, blobs in (("plain", plain), ("sympickle", fast)):
            sp.core.cache.clear_cache()
            t0 = time.process_time()
            loaded = [pickle.loads(b) for b in blobs]
            times[kind].append(time.process_time() - t0)
    mismatches = sum(canonical(a) != canonical(b) for a, b in zip((pickle.loads(b) for b in plain), loaded))
    return {"entries": len(files), "bytes": {"plain": sum(map(len, plain)), "sympickle": sum(map(len, fast))},
            "cpu": {k: statistics.median(v) for k, v in times.items()}, "mismatches": mismatches}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", help="a derivation-cache directory (default: this tree's, filled by a run)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    if args.repeat < 1:
        ap.error(f"--repeat must be >= 1; got {args.repeat}")
    from theory.diskcache import cache_dir
    directory = args.dir or cache_dir()
    if directory is None or not os.path.isdir(directory):
        ap.error(f"no derivation cache directory {directory!r}: run `python -m verify run` first or give --dir")
    r = measure(directory, args.repeat)
    print(f"{r['entries']} entries in {directory}; bytes: plain {r['bytes']['plain']}, "
          f"sympickle {r['bytes']['sympickle']}")
    print(f"CPU of loading all (median of {args.repeat}): plain {r['cpu']['plain']:.3f} s, "
          f"sympickle {r['cpu']['sympickle']:.3f} s, ratio {r['cpu']['plain'] / r['cpu']['sympickle']:.2f}; "
          f"entries that differ: {r['mismatches']}")


if __name__ == "__main__":
    main()
