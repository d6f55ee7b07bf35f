r"""The GLM ODE (:mod:`theory.glm`) against Monte Carlo SGD and against forward Euler, as ratios from one run.

Problem: logistic regression with soft labels (``theory.glm.logistic("soft")``) on the power-law
spectrum lambda_j ~ j^{-1/2} (tr K / d = 1, :func:`verify.glm.power_law_spectrum`), teacher
Var r* = 4, X_0 = 0, g = g_c / 2, t in [0, 2]; d = 1000, 3000, 10000 (all eigenvalues distinct, so
the ODE has 2d states). Accuracy of an ODE solution: max over t = 0, 0.25, ..., 2 of the relative
error of R(t) against a reference (DOP853 at rtol 1e-12).

Per d, all CPU seconds of this process (``time.process_time``), one thread:

1. **solver**: ``solve`` (DOP853) at rtol = ``ACCURACY`` / 10, its achieved error (must be <= ``ACCURACY``);
2. **forward Euler** of the same right-hand side (:func:`theory.glm.ode.rhs`, written here, not in the
   package), step 2 / n with n doubled from 16 until its achieved error is <= the solver's achieved
   error (capped at 2^14 steps: then the ratio is a lower bound, marked ">="); ratio Euler s / solver s;
3. **Monte Carlo SGD** (:func:`verify.glm.simulate_glm`): a pilot of ``PILOT`` replicas gives the CPU
   seconds per replica and the standard deviation of R(2) over replicas; the replicas needed for a
   standard error of ``ACCURACY`` x R(2) are (sd / (ACCURACY R))^2, and the SGD time at equal statistical
   accuracy is that number times the seconds per replica (extrapolated linearly: replicas are
   independent). Ratio SGD s / solver s.

Run: ``python benchmarks/glm_ode.py [--quick]``, or as the optional section of ``benchmarks/run.py``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from theory.glm import derive_limit, logistic
from theory.glm.ode import critical_learning_rate, problem, rhs
from theory.highline_solve import _single_threaded_blas
from verify.glm import power_law_spectrum, simulate_glm

ACCURACY = 1e-4
Q, T = 4.0, 2.0
PILOT = 8
GRID = np.linspace(0.0, T, 9)


def _setting(d):
    lim = derive_limit(logistic("soft"))
    lam = power_law_spectrum(d)
    g = 0.5 * critical_learning_rate(lim, lam, Q).g
    return lim, lam, g


def _error(risk, ref):
    return float(np.max(np.abs(risk - ref) / np.abs(ref)))


def _cpu(fn):
    t0 = time.process_time()
    out = fn()
    return time.process_time() - t0, out


def euler_risk(lim, lam, g, n):
    """Forward Euler with n steps on [0, T] of the derived ODE (merged atoms); the risk on :data:`GRID`."""
    prob = problem(lam, Q)
    f = rhs(lim, prob, g)
    y = np.concatenate([prob.P0, prob.U0])
    dt = T / n
    every = n // (GRID.size - 1)
    lw = prob.weights * prob.atoms
    k_atoms = prob.atoms.size
    B = [(float(lw @ y[:k_atoms]), float(lw @ y[k_atoms:]))]
    for k in range(1, n + 1):
        y = y + dt * f(0.0, y)
        if k % every == 0:
            B.append((float(lw @ y[:k_atoms]), float(lw @ y[k_atoms:])))
    B = np.array(B)
    b22 = float(lw @ prob.Q)
    return np.asarray(lim.risk_at(np.maximum(B[:, 0], B[:, 1] ** 2 / b22), B[:, 1], np.full(len(B), b22)))


def measure(d, quick=False):
    """One row: solver, Euler and SGD CPU seconds and the ratios (see the module docstring)."""
    lim, lam, g = _setting(d)
    with _single_threaded_blas():
        ref = lim.solve(lam, g, T, teacher=Q, t_eval=GRID, rtol=1e-12, atol=1e-14).risk
        s_sec, sol = _cpu(lambda: lim.solve(lam, g, T, teacher=Q, t_eval=GRID, rtol=ACCURACY / 10, atol=1e-12))
        s_err = _error(sol.risk, ref)
        n, e_sec, e_err = 16, float("nan"), float("inf")
        cap = 2**12 if quick else 2**14
        while True:
            e_sec, risk = _cpu(lambda n=n: euler_risk(lim, lam, g, n))
            e_err = _error(risk, ref)
            if e_err <= s_err or n >= cap:
                break
            n *= 2
        m_sec, run = _cpu(lambda: simulate_glm(lim, lam, g, T, teacher=np.full(d, np.sqrt(Q / d)),
                                               replicas=PILOT, seed=0, record_every=d))
    final = run.risk[:, -1]
    need = (final.std(ddof=1) / (ACCURACY * final.mean())) ** 2
    sgd_sec = need * m_sec / PILOT
    return {"d": d, "solver_seconds": s_sec, "solver_error": s_err, "nfev": sol.nfev, "euler_steps": n,
            "euler_seconds": e_sec, "euler_error": e_err, "euler_reached": bool(e_err <= s_err),
            "euler_ratio": e_sec / s_sec, "sgd_seconds_per_replica": m_sec / PILOT,
            "sgd_replicas_needed": float(need), "sgd_seconds": sgd_sec, "sgd_ratio": sgd_sec / s_sec}


def glm_ode_section(quick, repeats):
    """The GLM ODE solver against forward Euler (equal achieved accuracy) and SGD (equal statistical accuracy)."""
    dims = (1000,) if quick else (1000, 3000, 10000)
    rows, data = [], []
    for d in dims:
        reps = [measure(d, quick) for _ in range(max(1, repeats if not quick else 1))]
        r = {k: (float(np.median([x[k] for x in reps])) if isinstance(reps[0][k], float) else reps[0][k])
             for k in reps[0]}
        data.append(r)
        ge = "" if r["euler_reached"] else ">= "
        rows.append([str(d), f"{r['solver_seconds']:.3f}", f"{r['solver_error']:.1e}", str(r["nfev"]),
                     f"{r['euler_steps']}", f"{r['euler_error']:.1e}", f"{r['euler_seconds']:.2f}",
                     f"{ge}{r['euler_ratio']:.0f}", f"{r['sgd_replicas_needed']:.3g}", f"{r['sgd_seconds']:.3g}",
                     f"{r['sgd_ratio']:.3g}"])
    header = ["d", "solver s", "solver error", "RHS evals", "Euler steps", "Euler error", "Euler s",
              "Euler / solver", "SGD replicas for s.e. 1e-4 R", "SGD s (extrapolated)", "SGD / solver"]
    text = ("Logistic regression (soft labels), power law lambda_j ~ j^(-1/2), g = g_c/2, t in [0, 2]; CPU seconds, "
            f"one thread. Solver: `solve` (DOP853) at rtol {ACCURACY / 10:g}; error = max relative error of R(t) "
            "on t = 0, 0.25, ..., 2 against DOP853 at rtol 1e-12. Euler: forward Euler of the same right-hand "
            "side, steps doubled until its error is at most the solver's ('>=' when the cap of 2^14 steps is hit). "
            f"SGD: `simulate_glm`, {PILOT}-replica pilot, replicas for a standard error of {ACCURACY:g} x R(2) "
            "extrapolated from the pilot's spread and CPU time per replica.\n\n")
    head = "| " + " | ".join(header) + " |\n|" + "---|" * len(header) + "\n"
    text += head + "\n".join("| " + " | ".join(r) + " |" for r in rows)
    return "GLM ODE: solver against forward Euler and Monte Carlo SGD", text, {"rows": data}


SECTIONS = [glm_ode_section]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="d = 1000 only")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    title, text, _ = glm_ode_section(args.quick, args.repeats)
    print(f"## {title}\n\n{text}")


if __name__ == "__main__":
    main()
