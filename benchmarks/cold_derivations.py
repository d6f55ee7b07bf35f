r"""CPU of the SymPy derivations the claims need, with an empty derivation cache ("cold") and a filled one.

Each derivation below is one the claims of ``python -m verify run`` trigger (second-moment recursions
with their stationary and secular terms, fourth-moment recursions and their compiled coefficients, the
High Line adaptive limits, the GLM ODEs). They run in order in a fresh process on an empty
``SGDCHECK_CACHE_DIR`` (cold), then in a second fresh process on the cache the first one filled (warm);
CPU is ``time.process_time`` per item. With ``--baseline TREE`` the same is measured on another source
tree (e.g. the main branch's checkout) in the same run, and the ratio baseline/this is printed, and
the derived objects of both trees are compared (``srepr`` of every SymPy object; generated sources
compared with SymPy's Dummy numbering removed).

Run: ``python benchmarks/cold_derivations.py [--baseline /path/to/other/tree] [--repeat N] [--two-workers]``
(``--repeat``: the median over N cold/warm pairs; ``--two-workers``: also two processes deriving everything
at once on one empty cache, as the two workers of ``python -m verify run`` do, total CPU of both from
``resource.getrusage(RUSAGE_CHILDREN)``).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _items():
    """(name, thunk) of the derivations, in the order the claims first need them."""
    import sympy as sp

    from theory import (
        SGD,
        Gaussian,
        GeneralizedMomentum,
        HeavyBall,
        IndependentCoordinates,
        IterateAveraging,
        Nesterov,
        PreconditionedSGD,
        Rademacher,
        SparseGaussian,
        derive,
        derive_fourth,
    )
    from theory import adaptive as ad
    from theory import highline as hl
    from theory.fourth.generalized import derive_generalized_fourth
    from theory.glm import derivation as glm

    def second(alg, data):
        def run():
            rec = derive(alg, data)      # with its stationary risk closed form and secular functions
            return [rec.A, rec.u, rec.f, rec.v, rec.w, rec.stationary_risk_expression,
                    rec.secular_term(sp.Symbol("z"))]
        return run

    def fourth(alg, data):
        def run():
            rec = derive_fourth(alg, data)
            compiled = getattr(rec, "_compiled", None)          # two-step methods: generated coefficients
            return [rec.pair, rec.diagonal, getattr(compiled, "__dict__", compiled)]
        return run

    items = []
    for alg in (SGD(), HeavyBall(), Nesterov()):
        for data in (Gaussian(), IndependentCoordinates()):
            items.append((f"derive({alg!r}, {type(data).__name__})", second(alg, data)))
            items.append((f"derive_fourth({alg!r}, {type(data).__name__})", fourth(alg, data)))
    for alg, data in ((GeneralizedMomentum(), Gaussian()), (HeavyBall(), SparseGaussian()),
                      (SGD(), SparseGaussian()), (SGD(), Rademacher()), (SGD(weight_decay=0.2), Gaussian()),
                      (IterateAveraging(), Gaussian()), (PreconditionedSGD(), Gaussian())):
        items.append((f"derive({alg!r}, {type(data).__name__})", second(alg, data)))
    items.append(("derive_generalized_fourth(GeneralizedMomentum(), Gaussian)",
                  lambda: derive_generalized_fourth(GeneralizedMomentum(), Gaussian()).__dict__))
    items.append(("highline.derive_limit()", lambda: hl.derive_limit()))
    items.append(("adaptive.two_eigenvalue_line_search()", lambda: ad.two_eigenvalue_line_search().__dict__))
    items.append(("adaptive.adagrad_isotropic_limit()", ad.adagrad_isotropic_limit))
    for name in ("logistic_soft", "logistic_bernoulli", "phase_retrieval"):
        items.append((f"glm.derive_limit({name})", lambda n=name: glm.derive_limit(glm.PRESETS[n]()).__dict__))
    return items


def _canon(obj, depth=0):
    """A canonical text of a derived object: srepr of SymPy objects, Dummy numbering removed."""
    import sympy as sp
    if depth > 6:
        return "..."
    if isinstance(obj, (sp.Basic, sp.MatrixBase)):
        text = sp.srepr(obj)
    elif isinstance(obj, dict):
        text = "{" + ", ".join(f"{_canon(k, depth + 1)}: {_canon(v, depth + 1)}" for k, v in obj.items()) + "}"
    elif isinstance(obj, (list, tuple)):
        text = "[" + ", ".join(_canon(x, depth + 1) for x in obj) + "]"
    elif isinstance(obj, (str, int, float, bool, type(None))):
        text = repr(obj)
    elif callable(obj) and hasattr(obj, "__code__"):
        text = f"<function {obj.__name__}>"
    elif hasattr(obj, "__dict__"):
        text = type(obj).__name__ + _canon({k: v for k, v in sorted(vars(obj).items()) if not k.startswith("_")},
                                           depth + 1)
    else:
        text = repr(obj)
    return re.sub(r"_Dummy_\d+", "_Dummy", re.sub(r" at 0x[0-9a-f]+", "", text))


def _worker():
    """Run every item in this process; print one JSON line per item (name, CPU seconds, canonical digest)."""
    import hashlib
    import time
    sys.path.insert(0, os.getcwd())
    t0 = time.process_time()
    import theory  # noqa: F401
    print(json.dumps({"name": "import theory", "cpu": time.process_time() - t0, "digest": ""}), flush=True)
    for name, thunk in _items():
        t0 = time.process_time()
        out = thunk()
        cpu = time.process_time() - t0
        digest = hashlib.sha256(_canon(out).encode()).hexdigest()[:16]
        print(json.dumps({"name": name, "cpu": cpu, "digest": digest}), flush=True)


def measure(tree, repeat=1):
    """{name: (cold CPU, warm CPU, digest)} for the source tree ``tree`` (median over ``repeat`` pairs)."""
    runs = {"cold": [], "warm": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="sgdcheck-cold-derivations-") as cache:
            env = {**os.environ, "SGDCHECK_CACHE_DIR": cache}
            for kind in ("cold", "warm"):
                done = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker"], cwd=tree, env=env,
                                      capture_output=True, text=True, check=True)
                runs[kind].append([json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")])
    out = {}
    for n, row in enumerate(runs["cold"][0]):
        out[row["name"]] = (statistics.median(r[n]["cpu"] for r in runs["cold"]),
                            statistics.median(r[n]["cpu"] for r in runs["warm"]), row["digest"])
    return out


def two_workers(tree):
    """Total CPU seconds of two worker processes running every item at once on one empty cache."""
    import resource
    with tempfile.TemporaryDirectory(prefix="sgdcheck-cold-derivations-") as cache:
        env = {**os.environ, "SGDCHECK_CACHE_DIR": cache}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        procs = [subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker"], cwd=tree, env=env,
                                  stdout=subprocess.DEVNULL) for _ in range(2)]
        if any(p.wait() for p in procs):
            raise RuntimeError(f"a worker failed in {tree}")
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", help="another source tree to measure in the same run (e.g. the main branch)")
    ap.add_argument("--repeat", type=int, default=1, help="cold/warm pairs per tree (median; default 1)")
    ap.add_argument("--two-workers", action="store_true", help="also two processes at once on one empty cache")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        return _worker()
    if args.repeat < 1:
        ap.error(f"--repeat must be an integer >= 1; got {args.repeat}")
    if args.baseline and not os.path.isdir(os.path.join(args.baseline, "theory")):
        ap.error(f"--baseline must be a source tree with a theory/ package; got {args.baseline!r}")
    this = measure(HERE, args.repeat)
    base = measure(os.path.abspath(args.baseline), args.repeat) if args.baseline else None
    if base is None:
        print("| derivation | cold CPU s | warm CPU s |\n|---|---|---|")
        for name, (cold, warm, _) in this.items():
            print(f"| {name} | {cold:.2f} | {warm:.2f} |")
        print(f"| total | {sum(v[0] for v in this.values()):.2f} | {sum(v[1] for v in this.values()):.2f} |")
        if args.two_workers:
            print(f"\ntwo workers at once, cold, total CPU s: {two_workers(HERE):.2f}")
        return
    print("| derivation | cold CPU s, baseline | cold, this tree | warm, baseline | warm, this tree | same result |\n"
          "|---|---|---|---|---|---|")
    for name, (cold, warm, digest) in this.items():
        b = base.get(name, (float("nan"), float("nan"), None))
        print(f"| {name} | {b[0]:.2f} | {cold:.2f} | {b[1]:.2f} | {warm:.2f} | {'yes' if b[2] == digest else 'NO'} |")
    tot = [sum(v[k] for v in d.values()) for d in (base, this) for k in (0, 1)]
    print(f"| total | {tot[0]:.2f} | {tot[2]:.2f} | {tot[1]:.2f} | {tot[3]:.2f} | |")
    print(f"\ncold: baseline / this tree = {tot[0] / tot[2]:.2f}; warm: {tot[1] / tot[3]:.2f}")
    if args.two_workers:
        b, t = two_workers(os.path.abspath(args.baseline)), two_workers(HERE)
        print(f"two workers at once, cold, total CPU s: baseline {b:.2f}, this tree {t:.2f} (ratio {b / t:.2f})")


if __name__ == "__main__":
    main()
