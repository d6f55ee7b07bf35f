r"""High-precision High Line solutions: GBS extrapolation in Decimal against mpmath's Taylor method.

The limit checks of ``highline.line_search`` and ``highline.adagrad_norm`` compare a closed form with
:func:`theory.highline.solve_mp` at 12 (standard budget) or 20 (thorough) digits. This script times, in
one run, ``solve_mp(method="taylor")`` (``mpmath.odefun``, the baseline) and
``solve_mp(method="extrapolation")`` (:func:`theory.extrapolation.gbs`) on exactly those problems at the
working digits the claims use, and prints for each the CPU seconds (best of ``--repeat``,
``time.process_time``), the ratio Taylor / extrapolation, and each method's relative error of g_t and
R(t) against the Taylor method at dps + 12 digits (the reference).

Run: ``python benchmarks/highprecision_ode.py [--repeat 3]``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import mpmath

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def problems():
    """(name, keyword arguments of solve_mp, working digits) as the claims run them."""
    from theory import adaptive as ad
    from verify.claims.highline import ADAGRAD_LIMITS, LINE_SEARCH_LIMITS
    out = []
    for budget in ("standard", "thorough"):
        cases, _, dps = LINE_SEARCH_LIMITS[budget]
        for lam1, lam2, mass, T in cases:
            out.append((f"line search {lam1}, {lam2}, p={mass}, t={T}",
                        {"eigenvalues": [lam1, lam2], "t_values": [T], "rule": ad.line_search(),
                         "weights": [mass, 1 - mass]}, dps))
        cases, _, dps = ADAGRAD_LIMITS[budget]
        for eta, b, lam, D0, T in cases:
            out.append((f"AdaGrad-Norm eta={eta}, b={b}, K={lam} I, t={T}",
                        {"eigenvalues": [lam], "t_values": [T], "rule": ad.adagrad_norm(eta, b),
                         "initial_D2": D0}, dps))
    return out


def _timed(kw, dps, method, repeat):
    from theory import highline as hl
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.process_time()
        out = hl.solve_mp(**kw, dps=dps, method=method)
        best = min(best, time.process_time() - t0)
    return best, out


def main(argv=None):
    from theory import highline as hl
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    hl.derive_limit()
    print("| problem | dps | Taylor s | extrapolation s | ratio | Taylor error | extrapolation error |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for name, kw, dps in problems():
        ref = hl.solve_mp(**kw, dps=dps + 12)
        res = {}
        for method in ("taylor", "extrapolation"):
            sec, out = _timed(kw, dps, method, args.repeat)
            with mpmath.workdps(dps + 12):
                err = max(abs(out[k][0] / ref[k][0] - 1) for k in ("g", "risk"))
            res[method] = (sec, err)
        (ts, te_), (xs, xe) = res["taylor"], res["extrapolation"]
        rows.append((name, dps, ts, xs, ts / xs, te_, xe))
        print(f"| {name} | {dps} | {ts:.3f} | {xs:.3f} | {ts / xs:.1f} | {mpmath.nstr(te_, 2)} | "
              f"{mpmath.nstr(xe, 2)} |", flush=True)
    return rows


if __name__ == "__main__":
    main()
