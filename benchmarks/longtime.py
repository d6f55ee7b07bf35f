r"""Loss curves at long horizons: :func:`theory.longtime.risk_curve` against plain iteration and a log-time ODE.

In one run, on power-law spectra lambda_j = j^{-2 alpha} (alpha = 0.8), this measures CPU seconds
(``time.process_time``, single-threaded BLAS) of

* ``iterate``: plain iteration of the exact recursion, ``Recursion.trajectory`` (float64; the
  reference for every error below);
* ``solver``: ``risk_curve`` (constant hyperparameters: compressed modes + exact block solve;
  schedules: frozen windows), at the accuracy stated in each row;
* ``ode``: a log-time ODE, the idea of the authors of arXiv:2505.16098 (their ``ode.py``:
  implicit Euler in tau = log(1 + t) of the continuum limit, rank-one coupling by Sherman--Morrison)
  re-implemented here in float64 (and float32 for the error of the first hundred steps) on the
  package's own map: ds/dt = (A - I) s + u (v.s) + f, so its error is the continuum limit's plus the
  log-time discretisation's.

Errors are max_k |R_k / R_k^exact - 1| over a log grid of 60 step counts k in [1, n]. "Equal
accuracy": the solver is run at ``accuracy`` = the ODE's achieved error (its own achieved error is
printed next to it), and the speed ratios are formed between timings taken back to back.

Rows:

1. the issue's reference point: d = 200, n = 5 10^4 (SGD, heavy ball, DANA-constant, DANA-decaying);
2. the target: n = 10^6, d = 10^4 (plain iteration is timed on its first 2 10^4 steps and scaled
   linearly, which its cost is; marked "projected");
3. the ODE's error over the first hundred steps (float32 and float64) against the exact recursion;
4. (``--memory``) peak RSS and CPU of the d = 65536 DANA-decaying curve of ``plrf.exponents`` at the
   thorough budget, in a fresh interpreter per tree; ``--baseline PATH`` measures an earlier checkout in
   the same run (``git worktree add /tmp/base f1dc19b``).

Run: ``python benchmarks/longtime.py [--quick]`` (about a minute of CPU); also an optional section of
``python benchmarks/run.py``. ``python benchmarks/longtime.py --memory [--baseline PATH]`` (minutes).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from theory import SGD, GeneralizedMomentum, HeavyBall, derive
from theory.highline_solve import _single_threaded_blas
from theory.longtime import risk_curve

ALPHA = 0.8


def dana_decaying(g3=0.05, delta=3.0, alpha=ALPHA):
    """DANA-decaying: gamma_3(k) = g3 (1 + k)^{-1/(2 alpha)}, Delta(k) = delta/(delta + k) (arXiv:2505.16098)."""
    return {"gamma1": 1.0, "gamma3": lambda k: g3 * (1 + k) ** (-1 / (2 * alpha)), "delta": lambda k: delta / (delta + k)}


def problems(d):
    return {
        "SGD": (SGD(), 0.5, {}),
        "heavy ball (beta = 0.8)": (HeavyBall(), 0.1, {"momentum": 0.8}),
        "DANA-constant": (GeneralizedMomentum(), 0.3, {"gamma1": 1.0, "gamma3": 1.0 / d, "delta": 1e-3}),
        "DANA-decaying": (GeneralizedMomentum(), 0.3, dana_decaying()),
    }


def log_ode(rec, lam, lr, n, times, hyper, dtau=1e-3, dtype=np.float64, noise_variance=0.01):
    """Implicit Euler in tau = log(1 + t) of ds/dt = (A - I) s + u (v.s) + f; risk at ``times``."""
    sched = {k: v for k, v in hyper.items() if callable(v)}
    const = {k: v for k, v in hyper.items() if not callable(v)}

    def at(t):
        return rec.linear_map(lam, lr, 1, noise_variance, **const, **{k: v(t) for k, v in sched.items()})

    m = at(0.0)
    s = rec.initial_moments(1.0, len(lam))[0].astype(dtype)
    eye = np.eye(m.block_size, dtype=dtype)
    taus = np.arange(0.0, np.log1p(n) + dtau, dtau)
    tk = np.expm1(taus)
    risk = [m.observable(s.astype(float))]
    for i in range(1, len(taus)):
        h = dtau * (1 + tk[i])
        if sched:
            m = at(tk[i])
        A, u, v, f = (x.astype(dtype) for x in (m.A, m.u, m.v, m.f))
        M = eye[None] - h * (A - eye[None])
        x = np.linalg.solve(M, (s + h * f)[..., None])[..., 0]
        y = np.linalg.solve(M, u[..., None])[..., 0]
        s = x + h * y * (np.sum(v * x) / (1 - h * np.sum(v * y)))
        risk.append(m.observable(s.astype(float)))
    return np.interp(np.log1p(times), taus, np.array(risk))


def cpu(fn, *args, **kwargs):
    """(CPU seconds, result) of fn(*args, **kwargs) with one BLAS thread."""
    with _single_threaded_blas():
        t0 = time.process_time()
        out = fn(*args, **kwargs)
        return time.process_time() - t0, out


def rel_err(a, b):
    return float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1)))


def cases(d, n, points):
    """(name, recursion, eigenvalues, learning rate, hyperparameters, log grid of times, accuracy) per problem."""
    lam = np.arange(1, d + 1) ** (-2 * ALPHA)
    times = np.unique(np.geomspace(1, n, points).astype(int))
    for name, (alg, lr, hyper) in problems(d).items():
        yield name, derive(alg), lam, lr, hyper, times, (1e-4 if callable(hyper.get("delta")) else 1e-6)


def reference_rows(d=200, n=50_000, quick=False):
    """Row 1: iteration vs solver vs ODE at the issue's reference point."""
    if quick:
        n = 5000
    rows = []
    for name, rec, lam, lr, hyper, times, acc_hi in cases(d, n, 60):
        t_it, tr = cpu(rec.trajectory, lam, lr, steps=n, noise_variance=0.01, **hyper)
        exact = tr.risk[times]
        t_ode, ode = cpu(log_ode, rec, lam, lr, n, times, hyper)
        e_ode = rel_err(ode, exact)
        acc = min(0.1, e_ode)
        t_eq, c_eq = cpu(risk_curve, rec, lam, lr, times, noise_variance=0.01, accuracy=acc, **hyper)
        t_hi, c_hi = cpu(risk_curve, rec, lam, lr, times, noise_variance=0.01, accuracy=acc_hi, **hyper)
        rows.append({"problem": name, "d": d, "n": n, "iterate_s": t_it, "ode_s": t_ode, "ode_error": e_ode,
                         "solver_eq_s": t_eq, "solver_eq_error": rel_err(c_eq.risk, exact),
                         "solver_hi_accuracy": acc_hi, "solver_hi_s": t_hi, "solver_hi_error": rel_err(c_hi.risk, exact),
                         "solver_hi_estimate": c_hi.estimated_error,
                         "ode_over_solver": t_ode / t_eq, "iterate_over_solver": t_it / t_hi})
        print(rows[-1], flush=True)
    return rows


def target_rows(d=10_000, n=1_000_000, quick=False, prefix=20_000):
    """Row 2: n = 10^6, d = 10^4 (iteration timed on a prefix and scaled linearly)."""
    if quick:
        d, n, prefix = 2000, 100_000, 5000
    rows = []
    for name, rec, lam, lr, hyper, times, acc in cases(d, n, 100):
        t_pre, tr = cpu(rec.trajectory, lam, lr, steps=prefix, noise_variance=0.01, **hyper)
        t_s, c = cpu(risk_curve, rec, lam, lr, times, noise_variance=0.01, accuracy=acc, **hyper)
        inside = times <= prefix
        rows.append({"problem": name, "d": d, "n": n, "iterate_projected_s": t_pre * n / prefix, "solver_s": t_s,
                         "accuracy": acc, "solver_error_on_prefix": rel_err(c.risk[inside], tr.risk[times[inside]]),
                         "estimated_error": c.estimated_error, "nodes": c.nodes,
                         "iterate_over_solver": t_pre * n / prefix / t_s})
        print(rows[-1], flush=True)
    return rows


def ode_first_hundred(d=200):
    """Row 3: the log-time ODE (dtau = 1e-3) over k = 1..100, float32 and float64, against the recursion."""
    times = np.arange(1, 101)
    rows = []
    for name, rec, lam, lr, hyper, _, _ in cases(d, 100, 2):
        exact = rec.trajectory(lam, lr, steps=100, noise_variance=0.01, **hyper).risk[times]
        row = {"problem": name}
        for dt in (np.float32, np.float64):
            row[np.dtype(dt).name] = rel_err(log_ode(rec, lam, lr, 100, times, hyper, dtype=dt), exact)
        rows.append(row)
        print(row, flush=True)
    return rows


_CURVE_CHILD = """
import json, resource, sys, time
import numpy as np
from theory import derive
from theory.longtime import risk_curve
from theory.plrf.phases import algorithm_settings, theory_spectrum
d, k_max = int(sys.argv[1]), float(sys.argv[2])
sp = theory_spectrum(1.0, 0.3, d)
alg, lr, hyper = algorithm_settings("dana_decaying", 1.0, 0.3, sp.eigenvalues)
times = np.unique(np.round(np.logspace(0, np.log10(k_max), int(30 * np.log10(k_max)) + 1)).astype(int))
t0 = time.process_time()
c = risk_curve(derive(alg), sp.eigenvalues, lr, times, noise_variance=sp.noise_variance, initial=sp.initial,
               accuracy=1e-2, **hyper)
out = {"cpu_s": time.process_time() - t0, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
       "estimated_error": c.estimated_error, "windows": c.details["windows"], "risk": c.risk.tolist()}
print(json.dumps(out))
"""


def memory_rows(d=65536, k_max=1e6, baseline=None, quick=False):
    """Row 4: peak RSS and CPU of the DANA-decaying curve of ``python -m verify run plrf.exponents
    --budget thorough`` (alpha = 1, beta = 0.3, theory spectrum, k to 10^6, accuracy 1e-2), each run in
    a fresh interpreter (peak RSS = its ru_maxrss). ``baseline``: a checkout of an earlier commit
    (e.g. ``git worktree add /tmp/f1dc19b f1dc19b``) run the same way in the same call; its curve is
    compared with this tree's (max relative difference)."""
    import json
    import subprocess
    if quick:
        d, k_max = 2048, 1e5
    trees = {"this tree": os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")}
    if baseline:
        trees = {f"baseline {baseline}": baseline, **trees}
    rows, curves = [], {}
    for name, tree in trees.items():
        env = dict(os.environ, PYTHONPATH=os.path.abspath(tree), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
        res = subprocess.run([sys.executable, "-c", _CURVE_CHILD, str(d), str(k_max)], env=env, cwd=os.path.abspath(tree),
                             capture_output=True, text=True, check=True)
        out = json.loads(res.stdout.strip().splitlines()[-1])
        curves[name] = np.array(out.pop("risk"))
        rows.append({"tree": name, "d": d, "k_max": int(k_max), **out})
        print(rows[-1], flush=True)
    if baseline:
        rows[-1]["max_rel_diff_to_baseline"] = rel_err(curves["this tree"], curves[f"baseline {baseline}"])
    return rows


def markdown(ref, tgt, first):
    out = [("Power-law spectrum lambda_j = j^{-1.6}, sigma^2 = 0.01, CPU seconds (one thread). Errors: max relative "
            "error of R_k over a log grid against plain iteration (`trajectory`, float64)."), "",
           ("| problem | d | n | iterate s | log-time ODE s | ODE error | solver s at ODE's accuracy | its error "
            "| ODE / solver | solver s (accuracy) | its error | iterate / solver |"), "|" + "---|" * 12]
    for r in ref:
        out.append(f"| {r['problem']} | {r['d']} | {r['n']} | {r['iterate_s']:.2f} | {r['ode_s']:.2f} | "
                   f"{r['ode_error']:.2g} | {r['solver_eq_s']:.3f} | {r['solver_eq_error']:.1g} | "
                   f"{r['ode_over_solver']:.1f} | {r['solver_hi_s']:.3f} ({r['solver_hi_accuracy']:g}) | "
                   f"{r['solver_hi_error']:.1g} | {r['iterate_over_solver']:.0f} |")
    out += ["", ("| problem | d | n | iterate s (projected) | solver s | accuracy | error on first steps "
                 "| estimated error | nodes | iterate / solver |"), "|" + "---|" * 10]
    for r in tgt:
        out.append(f"| {r['problem']} | {r['d']} | {r['n']} | {r['iterate_projected_s']:.0f} | {r['solver_s']:.2f} | "
                   f"{r['accuracy']:g} | {r['solver_error_on_prefix']:.1g} | {r['estimated_error']:.1g} | "
                   f"{r['nodes']} | {r['iterate_over_solver']:.0f} |")
    out += ["", "Log-time ODE (dtau = 1e-3) over the first hundred steps, max relative error against the recursion:",
            "", "| problem | float32 | float64 |", "|---|---|---|"]
    for r in first:
        out.append(f"| {r['problem']} | {r['float32']:.3g} | {r['float64']:.3g} |")
    return "\n".join(out)


def section(quick, repeats):
    """Optional section of ``benchmarks/run.py``."""
    ref, tgt, first = reference_rows(quick=quick), target_rows(quick=quick), ode_first_hundred()
    return ("Long horizons: risk_curve against iteration and a log-time ODE", markdown(ref, tgt, first),
            {"reference": ref, "target": tgt, "ode_first_hundred": first})


SECTIONS = [section]


def memory_markdown(rows):
    out = ["| tree | d | k max | CPU s | peak RSS MB | windows | estimated error | max rel. difference to baseline |",
           "|" + "---|" * 8]
    for r in rows:
        diff = r.get("max_rel_diff_to_baseline")
        out.append(f"| {r['tree']} | {r['d']} | {r['k_max']} | {r['cpu_s']:.1f} | {r['peak_rss_mb']:.0f} | {r['windows']} | "
                   f"{r['estimated_error']:.1g} | {'' if diff is None else f'{diff:.1g}'} |")
    return "\n".join(out)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--memory", action="store_true", help="only row 4 (peak RSS of the d = 65536 DANA-decaying curve)")
    ap.add_argument("--baseline", help="with --memory: a checkout of an earlier commit to measure in the same run")
    args = ap.parse_args()
    if args.memory:
        print(memory_markdown(memory_rows(baseline=args.baseline, quick=args.quick)))
    else:
        print(section(args.quick, 1)[1])
