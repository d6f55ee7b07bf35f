"""Do the user-derivation checks accept the right inputs and reject the planted wrong ones, seed after seed?

Run from the repository root::

    python benchmarks/check_user_seeds.py [--seeds 10] [--start 0] [--json PATH]

For each seed:

* ``check_recursion`` on heavy ball (m, c, m_prev; momentum 0.5 and 0.8; 2 examples x 150 steps x
  1000 replicas): the right recursion must pass; one without the beta^2 m_prev term and one with
  a 2 % error on the beta^2 coefficient must fail;
* ``check_closed_form`` of SGD's stationary risk (10 exact examples, then Monte Carlo): the right
  closed form must pass (its Monte Carlo part is the random one; the exact part never fails a
  right formula); a 5 % error must fail;
* ``check_ode`` on the High Line drift (d = 16, 32, 64, 300 replicas): eq. 8 must pass, the
  halved g^2 term must fail.

Every Monte Carlo decision is at family-wise alpha = 1e-6, so a right input should fail in none
of the seeds. Prints per-seed outcomes, the counts and the time per call; exit status 1 if any
seed misbehaves.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from theory import HeavyBall  # noqa: E402
from verify.check import check_closed_form, check_ode, check_recursion  # noqa: E402

HB = {"m": "(1 + beta - gamma*lam)**2*m + gamma**2*lam**2*(kappa - 2)/B*m"
           " - 2*beta*(1 + beta - gamma*lam)*c + beta**2*m_prev + gamma**2*lam/B*(S + sigma2)",
      "c": "(1 + beta - gamma*lam)*m - beta*c", "m_prev": "m"}
R_INF = "sigma2/(2*(1 - d*gamma*lam/(2*B - gamma*lam*(B + kappa - 2))))"
EQ8 = "-2*g*lam*D2 + 2*g**2*lam*R"
SMALL = dict(examples=2, steps=150, replicas=1000, hyper=[{"momentum": 0.5}, {"momentum": 0.8}])

CASES = {
    "heavy ball right": (True, lambda s: check_recursion(HB, HeavyBall(), seed=s, **SMALL)),
    "heavy ball no beta^2": (False, lambda s: check_recursion(
        dict(HB, m=HB["m"].replace(" + beta**2*m_prev", "")), HeavyBall(), seed=s, **SMALL)),
    "heavy ball beta^2 +2%": (False, lambda s: check_recursion(
        dict(HB, m=HB["m"].replace("beta**2*m_prev", "1.02*beta**2*m_prev")), HeavyBall(), seed=s, **SMALL)),
    "stationary risk right": (True, lambda s: check_closed_form(R_INF, "stationary_risk", examples=10, seed=s)),
    "stationary risk +5%": (False, lambda s: check_closed_form("1.05*" + R_INF, "stationary_risk", examples=10,
                                                                seed=s)),
    "ode eq. 8": (True, lambda s: check_ode(EQ8, dimensions=(16, 32, 64), replicas=300, seed=s)),
    "ode g^2 halved": (False, lambda s: check_ode("-2*g*lam*D2 + g**2*lam*R", dimensions=(16, 32, 64),
                                                  replicas=300, seed=s)),
}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--start", type=int, default=0)
    ap.add_argument("--json")
    args = ap.parse_args(argv)
    if args.seeds < 1 or args.start < 0:
        ap.error("--seeds must be >= 1, --start >= 0")
    records, bad = [], 0
    for seed in range(args.start, args.start + args.seeds):
        for name, (should_pass, run) in CASES.items():
            t0, c0 = time.perf_counter(), time.process_time()
            v = run(seed)
            rec = dict(seed=seed, case=name, passed=bool(v.passed), expected=should_pass, p_value=v.p_value,
                       kind=v.kind, seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
            records.append(rec)
            wrong = rec["passed"] != should_pass
            bad += wrong
            print(f"seed {seed:3d} {name:24s} {'passed' if v.passed else 'failed':6s} "
                  f"{'MISBEHAVES' if wrong else 'ok':10s} {rec['cpu_seconds']:6.1f} s CPU", flush=True)
    print()
    for name, (should_pass, _) in CASES.items():
        rs = [r for r in records if r["case"] == name]
        ok = sum(r["passed"] == should_pass for r in rs)
        cpu = [r["cpu_seconds"] for r in rs]
        print(f"{name:24s} as expected in {ok}/{len(rs)} seeds; CPU median {statistics.median(cpu):.1f} s, "
              f"max {max(cpu):.1f} s")
    if args.json:
        pathlib.Path(args.json).write_text(json.dumps(records, indent=1))
    return int(bad > 0)


if __name__ == "__main__":
    sys.exit(main())
