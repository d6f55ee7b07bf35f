r"""CPU of the Monte Carlo inside claims: how much of a claim's CPU its simulations take, per source tree.

Each claim runs twice in one fresh process per tree (the first run fills the derivation caches and loads
the compiled kernels; the second is measured), serially, one thread per simulation (as a worker of
``python -m verify run`` with two claims in flight on two cores has no spare core), with single-threaded
BLAS as in the main job. Reported per tree: the claims' CPU (``time.process_time`` of the second runs) and
the CPU inside ``verify.simulate`` (the linear algorithms' engine, fused kernel or NumPy), inside
``verify.glm.simulate_glm`` (the GLM Monte Carlo) and inside the compiled calls themselves
(``verify.kernel.step_rows``, ``verify.glm_kernel.advance``): the difference between a simulation's CPU
and its compiled calls' is what runs in Python around them (argument casts, per-step loss and label
evaluation, per-call dispatch, recording).

Run: ``python benchmarks/claims_mc.py [ids or prefixes ...] [--baseline TREE] [--repeats N]`` (default: the
``glm`` claims and the ``sgd``/``momentum`` claims; with ``--baseline`` (e.g. a checkout of ``main``) the
two trees alternate, N repeats each, and the medians are printed side by side).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_CHILD = r"""
import json, os, sys, time, warnings
sys.path.insert(0, {root!r})
warnings.simplefilter("ignore")
os.cpu_count = lambda: 1          # one thread per simulation, as in a busy main job
import verify, verify.adaptive, verify.glm, verify.glm_kernel, verify.kernel, verify.montecarlo
acc = dict.fromkeys(("simulate", "simulate_adaptive", "simulate_glm", "step_rows", "advance"), 0.0)

def timed(name, fn):
    def run(*args, **kwargs):
        t = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[name] += time.process_time() - t
    return run

verify.simulate = verify.montecarlo.simulate = timed("simulate", verify.montecarlo.simulate)
verify.adaptive.simulate_adaptive = timed("simulate_adaptive", verify.adaptive.simulate_adaptive)
verify.glm.simulate_glm = timed("simulate_glm", verify.glm.simulate_glm)
verify.kernel.step_rows = timed("step_rows", verify.kernel.step_rows)
verify.glm_kernel.advance = timed("advance", verify.glm_kernel.advance)
from verify.montecarlo import warm_up
warm_up()
from verify.claims import CLAIMS
from verify.runner import _run_one
ids = [c for c in CLAIMS if any(c == p or c.startswith(p + ".") for p in {prefixes!r})]
total = dict.fromkeys(acc, 0.0)
total["cpu"] = 0.0
for cid in ids:
    _run_one(cid, "standard", 0)          # derivations and compiled kernels loaded
    before = dict(acc)
    t = time.process_time()
    _run_one(cid, "standard", 0)
    total["cpu"] += time.process_time() - t
    for k in acc:
        total[k] += acc[k] - before[k]
print(json.dumps(dict(claims=len(ids), **total)))
"""


def measure(root, prefixes):
    """One fresh process on the tree at ``root``: CPU of the claims' second runs and of their simulations."""
    run = subprocess.run([sys.executable, "-c", _CHILD.format(root=os.path.abspath(root), prefixes=list(prefixes))],
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ids", nargs="*", default=["glm", "sgd", "momentum"], help="claim ids or prefixes")
    ap.add_argument("--baseline", metavar="TREE", help="another source tree, measured alternately")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    trees = [("this tree", ROOT)] + ([("baseline", args.baseline)] if args.baseline else [])
    reps = {name: [] for name, _ in trees}
    for _ in range(args.repeats):
        for name, root in trees:
            reps[name].append(measure(root, args.ids))
    keys = ("cpu", "simulate", "simulate_adaptive", "simulate_glm", "step_rows", "advance")
    med = {name: {k: statistics.median(r[k] for r in runs) for k in keys} for name, runs in reps.items()}
    print(f"claims {' '.join(args.ids)} ({reps['this tree'][0]['claims']} claims), CPU seconds of the second runs, "
          f"median of {args.repeats}")
    print("| tree | claims | simulate | simulate_adaptive | simulate_glm | step_rows | glm advance |")
    print("|---|---|---|---|---|---|---|")
    for name, _ in trees:
        print("| " + name + " | " + " | ".join(f"{med[name][k]:.2f}" for k in keys) + " |")
    return med


if __name__ == "__main__":
    main()
