r"""Speed of the High Line ODE solver against forward Euler with dt = 1/256 at equal accuracy.

Problem: SGD with a fixed learning rate g = 0.5 * 2d/tr K (step g/d, t = k/d), label noise
sigma^2 = 0.1, D_i^2(0) = 1, d = 2^14 distinct eigenvalues lambda_j proportional to (j/d)^{-1/2}, scaled to
max 1 (a power law), t in [0, 10]. The papers' own code integrates this ODE by
forward Euler with dt = 1/256 (2560 steps of O(d) work each).

Protocol:
1. reference: :func:`theory.highline.solve` with DOP853, rtol = 1e-13, atol = 1e-15;
2. Euler with dt = 1/256; its error is the max over the output grid t = 0, 0.25, ..., 10 of
   |R_Euler(t) - R_ref(t)| / R_ref(t);
3. the solver (DOP853, or the exponential integrator ETD2) at the loosest rtol in 1e-2, 5e-3, 2e-3, 1e-3, ... whose error is at most Euler's;
4. best-of-5 wall-clock time of each; the ratio Euler time / solver time.
Every right-hand-side evaluation is O(d) (vector operations on the spectral measure); the
script also reports the time per evaluation at d = 2^12, 2^14, 2^16 (linear in d).

Run: ``python benchmarks/ode_speed.py [--d 16384] [--t-max 10]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from theory import highline as hl


def problem(d, kind="power_law"):
    """(eigenvalues, g). ``power_law``: quantiles of rho(lambda) = (1 - beta) lambda^{-beta} on (0, 1),
    beta = 1/2 (the paper's Prop. 4.4 model): lambda_j = ((j - 1/2)/d)^2, tr K/d ~ 1/3, g = 0.5 g_c ~ 3.
    ``stiff``: lambda_j proportional to (j/d)^{-1/2} scaled to max 1 (mean ~ 2/sqrt d), so g = 0.5 g_c ~ sqrt(d)/2
    and 2 g lambda_max ~ sqrt(d): an explicit solver is limited by stability there."""
    j = np.arange(1, d + 1)
    if kind == "power_law":
        lam = ((j - 0.5) / d) ** 2
    elif kind == "stiff":
        lam = (j / d) ** -0.5
        lam = lam / lam.max()
    else:
        raise ValueError(f"kind must be 'power_law' or 'stiff'; got {kind!r}")
    g = 0.5 * 2 * d / lam.sum()
    return lam, g


def euler(lam, g, sigma2, t_max, dt, t_out):
    drift = hl.derive_limit()._numpy_drift
    D = np.ones_like(lam)
    n = int(round(t_max / dt))
    every = int(round((t_out[1] - t_out[0]) / dt))
    out = [0.5 * np.mean(lam * D) + 0.5 * sigma2]
    for k in range(1, n + 1):
        r = 0.5 * np.mean(lam * D) + 0.5 * sigma2
        D = D + dt * drift(g, lam, D, r)
        if k % every == 0:
            out.append(0.5 * np.mean(lam * D) + 0.5 * sigma2)
    return np.array(out)


def best_time(fn, repeat=5):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def run(d=2**14, t_max=10.0, sigma2=0.1, dt=1 / 256, repeat=5, kind="power_law", method="DOP853"):
    lam, g = problem(d, kind)
    t_out = np.arange(0, t_max + 1e-12, 0.25)
    ref = hl.solve(lam, t_max=t_max, learning_rate=g, noise_variance=sigma2, t_eval=t_out, rtol=1e-13,
                   atol=1e-15).risk
    te, r_e = best_time(lambda: euler(lam, g, sigma2, t_max, dt, t_out), repeat)
    err_e = float(np.max(np.abs(r_e - ref) / ref))
    chosen = None
    for rtol in (1e-2, 5e-3, 2e-3, 1e-3, 5e-4, 2e-4, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10):
        sol = hl.solve(lam, t_max=t_max, learning_rate=g, noise_variance=sigma2, t_eval=t_out, rtol=rtol,
                       atol=rtol * 1e-3, method=method)
        err = float(np.max(np.abs(sol.risk - ref) / ref))
        if err <= err_e:
            chosen = (rtol, err, sol.evaluations)
            break
    rtol, err_s, evals = chosen
    ts, _ = best_time(lambda: hl.solve(lam, t_max=t_max, learning_rate=g, noise_variance=sigma2, t_eval=t_out,
                                       rtol=rtol, atol=rtol * 1e-3, method=method), repeat)
    return dict(problem=kind, method=method, d=d, t_max=t_max, euler_dt=dt, euler_steps=int(round(t_max / dt)), euler_error=err_e,
                euler_seconds=te, solver_rtol=rtol, solver_error=err_s, solver_evaluations=evals,
                solver_seconds=ts, speedup=te / ts)


def per_evaluation(ds=(2**12, 2**14, 2**16), n=200):
    drift = hl.derive_limit()._numpy_drift
    out = {}
    for d in ds:
        lam, g = problem(d)
        D = np.ones(d)
        t0 = time.perf_counter()
        for _ in range(n):
            r = 0.5 * np.mean(lam * D)
            drift(g, lam, D, r)
        out[d] = (time.perf_counter() - t0) / n
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=2**14)
    ap.add_argument("--t-max", type=float, default=10.0)
    args = ap.parse_args()
    for kind, method in (("power_law", "DOP853"), ("power_law", "ETD2"), ("stiff", "DOP853"), ("stiff", "ETD2")):
        res = run(args.d, args.t_max, kind=kind, method=method)
        for k, v in res.items():
            print(f"{k:20s} {v:.6g}" if isinstance(v, float) else f"{k:20s} {v}")
        print()
    for d, s in per_evaluation().items():
        print(f"rhs seconds at d={d:6d}: {s:.3g}")
