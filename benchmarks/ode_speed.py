r"""Speed and accuracy of the High Line ODE solver (:func:`theory.highline.solve`) against the authors' Euler.

The authors' code (github.com/amackenzie1/highline2024, ``adagrad/ode.py``) integrates the ODE by
forward Euler with dt = 1/256 on one state per direction (d of them). This script measures, in one run:

1. **speed at equal accuracy**: the Euler baseline (written here, not in the package) and its error
   against a reference; then ``solve(..., accuracy=<Euler's error>)`` (``method="auto"``); the
   ratio Euler seconds / solver seconds (best of ``--repeat``), and whether the solver's achieved
   error is within the requested accuracy;
2. **the error model** (``--error-model``): for accuracies 1e-3 .. 1e-9 and each integrator, the
   achieved error and the evaluations; the ratio achieved/requested is what
   :data:`theory.highline_solve.RTOL_PER_ACCURACY` is chosen from.

The error of a solution is max over the output grid (t = 0, 0.25, ..., t_max) of the relative
error of R(t) and of g_t, against a reference: DOP853 at rtol 1e-13 with a relative error control
(its distance to a second reference at rtol 1e-12 is printed as the reference's own uncertainty).

Problems (every one a spectrum the package's users run):

* ``isotropic``: K = I, d = 2^14, D_i^2(0) = d (x_0 - x^*)_i^2 with x_0 ~ N(0, I/d), x^* = 1/sqrt(d) (the
  authors' initialisation): 16384 equal eigenvalues, one atom after merging; g = g_c/2, sigma^2 = 0.1;
* ``power_law``: lambda_j = ((j - 1/2)/d)^2 (rho(lambda) ~ lambda^{-1/2}, Prop. 4.4), g = g_c/2, sigma^2 = 0.1;
* ``stiff``: lambda_j ~ (j/d)^{-1/2} scaled to max 1, g = g_c/2 ~ sqrt(d)/2 (2 g lambda_max ~ sqrt d);
* ``adagrad``: two classes (1 and 1/4, half each), AdaGrad-Norm eta = 1, b = 0.3, sigma^2 = 0.1;
* ``line_search_trace``: the authors' ``line_search_trace.py`` problem (d = 400, lambda_i ~ (i/(d+1))^{-2/s}
  with s = 3.5, normalised to tr K = d, noiseless, random x_0), exact line search, t in [0, 60].

Run: ``python benchmarks/ode_speed.py [--d 16384] [--repeat 3] [--error-model]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from theory import adaptive as ad
from theory import highline as hl
from theory.highline_solve import _single_threaded_blas

PROBLEMS = ("isotropic", "power_law", "stiff", "adagrad", "line_search_trace")


def problem(kind, d=2**14, seed=0):
    """dict(eigenvalues, initial_D2, t_max, noise_variance and g or rule) of a benchmark problem."""
    rng = np.random.default_rng(seed)
    j = np.arange(1, d + 1)
    if kind == "isotropic":
        lam = np.ones(d)
        x0 = rng.normal(size=d) / np.sqrt(d)
        D0 = d * (x0 - 1 / np.sqrt(d)) ** 2
        return {"eigenvalues": lam, "initial_D2": D0, "t_max": 10.0, "noise_variance": 0.1, "g": 0.5 * 2 / lam.mean()}
    if kind == "power_law":
        lam = ((j - 0.5) / d) ** 2
        return {"eigenvalues": lam, "initial_D2": 1.0, "t_max": 10.0, "noise_variance": 0.1, "g": 0.5 * 2 / lam.mean()}
    if kind == "stiff":
        lam = (j / d) ** -0.5
        lam = lam / lam.max()
        return {"eigenvalues": lam, "initial_D2": 1.0, "t_max": 10.0, "noise_variance": 0.1, "g": 0.5 * 2 / lam.mean()}
    if kind == "adagrad":
        lam = np.where(j <= d // 2, 1.0, 0.25)
        return {"eigenvalues": lam, "initial_D2": 1.0, "t_max": 10.0, "noise_variance": 0.1, "rule": ad.adagrad_norm(1.0, 0.3)}
    if kind == "line_search_trace":
        n, s = 400, 3.5
        sq = (np.arange(1, n + 1) / (n + 1)) ** (-1 / s)
        sq *= np.sqrt(n / np.sum(sq * sq))
        x0 = rng.normal(size=n) / np.sqrt(n)
        D0 = n * (x0 - 1 / np.sqrt(n)) ** 2
        return {"eigenvalues": sq**2, "initial_D2": D0, "t_max": 60.0, "noise_variance": 0.0, "rule": ad.line_search()}
    raise ValueError(f"kind must be one of {PROBLEMS}; got {kind!r}")


def euler(prob, dt=1 / 256, out_every=0.25):
    """Forward Euler on one state per direction (the authors' scheme): R and g_t every ``out_every``.

    Run with BLAS limited to one thread, as the package's solver is (on a loaded machine OpenBLAS threads
    stall for milliseconds per call on vectors of this length, which would flatter the solver)."""
    with _single_threaded_blas():
        return _euler(prob, dt, out_every)


def _euler(prob, dt, out_every):
    drift = hl.derive_limit()._numpy_drift
    lam = np.asarray(prob["eigenvalues"], float)
    d = lam.size
    rule = prob.get("rule") or hl.constant_g(prob["g"])
    rate, hv = rule._numpy, rule.values()
    t1, t2 = lam.mean(), np.mean(lam**2)
    D = np.broadcast_to(np.asarray(prob["initial_D2"], float), (d,)).copy()
    s2 = prob["noise_variance"]
    n = round(prob["t_max"] / dt)
    every = round(out_every / dt)
    Ii = 0.0
    risks, gs = [], []
    for k in range(n + 1):
        r = 0.5 * (lam @ D) / d + 0.5 * s2
        gg = float(rate(r, Ii, t1, t2, (lam**2 @ D) / d, *hv))
        if k % every == 0:
            risks.append(r)
            gs.append(gg)
        if k < n:
            D = D + dt * drift(gg, lam, D, r)
            Ii += dt * r
    return np.array(risks), np.array(gs)


def _solve(prob, te, **kw):
    return hl.solve(prob["eigenvalues"], t_max=prob["t_max"], initial_D2=prob["initial_D2"],
                    noise_variance=prob["noise_variance"], t_eval=te,
                    **({"g": prob["g"]} if "g" in prob else {"rule": prob["rule"]}), **kw)


def error(risk, g, ref):
    """max relative error of R(t) and g_t over the output grid."""
    return float(max(np.max(np.abs(risk / ref.risk - 1)), np.max(np.abs(g / ref.g - 1))))


def reference(prob, te):
    ref = _solve(prob, te, method="DOP853", rtol=1e-13)
    ref2 = _solve(prob, te, method="DOP853", rtol=1e-12)
    return ref, error(ref2.risk, ref2.g, ref)


def best_time(fn, repeat=3):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def speed(kind, d=2**14, dt=1 / 256, repeat=3):
    """Euler (dt) vs solve(accuracy = Euler's error): times, errors, ratio."""
    prob = problem(kind, d)
    te = np.arange(0, prob["t_max"] + 1e-12, 0.25)
    ref, ref_err = reference(prob, te)
    te_e, (r_e, g_e) = best_time(lambda: euler(prob, dt), repeat)
    err_e = error(r_e, g_e, ref) if np.all(np.isfinite(r_e)) else float("inf")
    acc = min(max(err_e, 1e-10), 0.1)
    ts, sol = best_time(lambda: _solve(prob, te, accuracy=acc), repeat)
    err_s = error(sol.risk, sol.g, ref)
    return {"problem": kind, "d": np.size(prob["eigenvalues"]), "atoms": sol.eigenvalues.size, "reference_error": ref_err,
                "euler_dt": dt, "euler_error": err_e, "euler_seconds": te_e, "accuracy": acc, "method": sol.method,
                "solver_error": err_s, "within": err_s <= acc, "evaluations": sol.evaluations, "solver_seconds": ts,
                "speedup": te_e / ts}


def error_model(kind, d=2**14, accuracies=(1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8),
                methods=("auto", "DOP853", "LSODA", "ETD2")):
    """Rows (method, accuracy, achieved error, achieved/accuracy, evaluations, seconds) on one problem."""
    prob = problem(kind, d)
    te = np.arange(0, prob["t_max"] + 1e-12, 0.25)
    ref, _ = reference(prob, te)
    rows = []
    for method in methods:
        for acc in accuracies:
            if method == "LSODA" and np.unique(prob["eigenvalues"]).size > 2000:
                continue                   # dense Jacobian: too large
            if method == "ETD2" and acc < 1e-5:
                continue                   # second order: cost ~ accuracy^{-1/2}
            t0 = time.perf_counter()
            sol = _solve(prob, te, accuracy=acc, method=method)
            sec = time.perf_counter() - t0
            err = error(sol.risk, sol.g, ref)
            rows.append({"problem": kind, "method": sol.method if method == "auto" else method,
                             "auto": method == "auto", "accuracy": acc, "error": err, "ratio": err / acc,
                             "evaluations": sol.evaluations, "seconds": sec})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--d", type=int, default=2**14)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--error-model", action="store_true", help="also print the achieved error per accuracy")
    args = ap.parse_args()
    print("| problem | d | atoms | Euler dt=1/256 error | Euler s | accuracy asked | method | achieved error "
          "| within | solver s | Euler / solver |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for kind in PROBLEMS:
        r = speed(kind, args.d, repeat=args.repeat)
        print(f"| {r['problem']} | {r['d']} | {r['atoms']} | {r['euler_error']:.2e} | {r['euler_seconds']:.3f} "
              f"| {r['accuracy']:.2e} | {r['method']} | {r['solver_error']:.2e} | {r['within']} "
              f"| {r['solver_seconds']:.4f} | {r['speedup']:.1f} |")
    if args.error_model:
        print("\n| problem | method | accuracy | achieved error | achieved / accuracy | evaluations | seconds |")
        print("|---|---|---|---|---|---|---|")
        for kind in PROBLEMS:
            for r in error_model(kind, args.d):
                m = r["method"] + (" (auto)" if r["auto"] else "")
                print(f"| {r['problem']} | {m} | {r['accuracy']:.0e} | {r['error']:.2e} | {r['ratio']:.3f} "
                      f"| {r['evaluations']} | {r['seconds']:.3f} |")


if __name__ == "__main__":
    main()
