r"""The fourth-moment critical learning rate: where the spectral radius of L first reaches 1.

See :meth:`theory.FourthMomentRecursion.critical_learning_rate` for the method.
"""
from __future__ import annotations

import mpmath
import numpy as np

from .linear import _PAIR_NAMES

__all__ = ["Crossing", "below_crossing", "critical_crossing", "locate_crossing", "resolvable_classes",
           "spectral_radius"]


#: class-symmetric dimension up to which the crossing is located on the dense spectral radius
DENSE_LIMIT = 120

#: directions with gamma_c lambda_i below this are left out of the float64 location (see resolvable_directions)
NEGLIGIBLE = 1e-10


def resolvable_classes(lam, moments, gamma_c):
    r"""Distinct classes (lambda, kappa, mu_6, mu_8) that the float64 even-sector map resolves near gamma_c.

    Returns (lam, counts, [kappa, mu_6, mu_8]) over the classes, each of shape (C,).

    The coefficients of the even-sector map are evaluated as 1 - 4 gamma lambda_i + ..., so a direction
    with gamma lambda_i near the float64 spacing of 1 (2.2e-16) has its marginal eigenvalue rounded onto
    the unit circle and det(I - L) rounded to 0, whatever the true stability. Such a direction is
    nearly frozen: as lambda_i -> 0 it contributes the eigenvalue 1 of Q_ii (approached from below) and
    pairs (i, j) that evolve as e_i^2 times the second-moment map of the other directions, whose spectral
    radius stays below 1 up to gamma_c >= gamma_c^(4). Leaving out the directions with
    gamma_c lambda_i < NEGLIGIBLE = 1e-10 therefore moves the crossing by a relative
    O(sum of the dropped gamma_c lambda_i) (first order in lambda_i), and every kept direction is
    resolvable at every learning rate of the scan (>= gamma_c / 1024). ``dps`` refinements keep every
    direction (mpmath resolves them).
    """
    lam = np.asarray(lam, dtype=float)
    keys = np.stack([lam, *moments], axis=1)
    keep = (lam * gamma_c >= NEGLIGIBLE) | (lam == lam.max())
    uniq, counts = np.unique(keys[keep], axis=0, return_counts=True)
    return uniq[:, 0], counts, [uniq[:, 1], uniq[:, 2], uniq[:, 3]]


def spectral_radius(matrix):
    """Largest modulus of an eigenvalue of a dense square matrix.

    Above 300 rows by ARPACK (``scipy.sparse.linalg.eigs``, the 6 eigenvalues of largest modulus,
    relative tolerance 1e-12; ~20x cheaper than a full eigendecomposition at 1200 rows), falling back to
    ``numpy.linalg.eigvals`` if ARPACK does not converge; below, by ``numpy.linalg.eigvals``.
    """
    n = matrix.shape[0]
    if n > 300:
        from scipy.sparse.linalg import ArpackNoConvergence, eigs
        try:
            vals = eigs(matrix, k=6, which="LM", return_eigenvectors=False, tol=1e-12, v0=np.ones(n),
                        maxiter=50 * n)
            return float(np.max(np.abs(vals)))
        except ArpackNoConvergence:   # pragma: no cover - clustered spectra: the full decomposition
            pass
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


def locate_crossing(rho, sec, gamma_c, start, dense, grids, bisect_tol=0.0, confirm=False, xtol=1e-15,
                    coarse=None):
    """The first learning rate in (start, gamma_c (1 + 1e-6)] where a linear map stops being stable.

    Shared by every even-sector recursion (SGD, the two-step methods). ``rho(g)`` is the dense
    spectral radius, ``sec(g)`` the (sign, log|det(I - L)|) of the factorised determinant.
    Small problems (``dense``): a scan of ``rho < 1`` over each grid of ``grids`` (numbers of
    points on (0, gamma_c]), then bisection to relative ``bisect_tol`` (0: to the last bit).
    With ``coarse`` (dense only) the scan reads the sign of det(I - L) at every point of the grid and
    ``rho`` only at every (grid / coarse)-th point: a negative sign (an odd number of real eigenvalues
    above 1) or rho >= 1 is instability; the last point before is then checked on rho (a double root
    keeps the sign: the crossing is then bisected on rho below it), and inside the bracket a sign change
    of det(I - L) is refined by Brent's method and confirmed on rho at root (1 -+ 1e-7) (else bisection).
    Otherwise the same scan on the sign of det(I - L), a finer grid when the coarser saw no
    change (two roots inside one cell), Brent's method, and with ``confirm`` a check on the
    dense spectral radius just below the root. Returns (root, lo, hi), the root's bracket.

    Raises RuntimeError if the map is unstable at ``start`` or never leaves the stable region.
    """
    import functools

    from scipy.optimize import brentq
    sec = functools.lru_cache(maxsize=None)(sec)   # the scan's values are read again for the bracket

    def stable(g):
        return rho(g) < 1 if dense else sec(g)[0] > 0

    def brent(lo, hi):
        ref = sec(lo)[1]   # det(I - M) spans hundreds of decades for large d: rescale by a constant

        def h(x):
            sign, logabs = sec(x)
            return sign * np.exp(min(logabs - ref, 700.0))
        return brentq(h, lo, hi, xtol=xtol * hi, rtol=4 * np.finfo(float).eps, maxiter=200)

    def bisect(lo, hi):
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            if mid in (lo, hi) or hi - lo <= bisect_tol * hi:
                break
            lo, hi = (mid, hi) if stable(mid) else (lo, mid)
        return 0.5 * (lo + hi)

    if not stable(start):
        raise RuntimeError("the fourth-moment map is unstable even at a tiny learning rate; no crossing")
    found = False
    if dense and coarse:
        n_points = grids[-1]
        every = max(n_points // coarse, 1)
        verified = start   # the last point where rho < 1 was evaluated
        grid = gamma_c * np.arange(1, n_points + 1) / n_points
        grid[-1] = gamma_c * (1 + 1e-6)
        prev = start
        for k, g in enumerate(grid):
            if sec(g)[0] <= 0 or ((k + 1) % every == 0 and not rho(g) < 1):
                found = True
                break
            if (k + 1) % every == 0:
                verified = g
            prev = g
        if not found:
            raise RuntimeError(f"the fourth-moment map has no crossing of its spectral radius through 1 on "
                               f"(0, gamma_c = {gamma_c!r}]: gamma_c^(4) <= gamma_c should hold")
        if prev != verified and not rho(prev) < 1:   # a double root below prev: bisect on rho
            return bisect(verified, prev), verified, prev
        if sec(prev)[0] > 0 and sec(g)[0] < 0:
            root = brent(prev, g)
            if rho(root * (1 - 1e-7)) < 1 <= rho(min(root * (1 + 1e-7), g)):
                return root, prev, g
        return bisect(prev, g), prev, g
    for n_points in grids:
        prev = start
        grid = gamma_c * np.arange(1, n_points + 1) / n_points
        grid[-1] = gamma_c * (1 + 1e-6)
        for g in grid:
            if not stable(g):
                found = True
                break
            prev = g
        if found:
            break
    if not found:
        raise RuntimeError(f"the fourth-moment map has no crossing of its spectral radius through 1 on "
                           f"(0, gamma_c = {gamma_c!r}]: det(I - L) keeps its sign (a double root?); "
                           "gamma_c^(4) <= gamma_c should hold")
    if dense:
        return bisect(prev, g), prev, g
    root = brent(prev, g)
    if confirm:   # independent confirmation on the dense operator
        below = rho(root * (1 - 1e-7))
        if not below < 1:  # pragma: no cover - would mean two crossings inside one scan cell
            raise RuntimeError(f"the spectral radius is already {below} just below the crossing {root!r}; "
                               "an earlier crossing was missed by the scan")
    return root, prev, g


def below_crossing(rho, sec, gamma_c, start, dense, grids, gamma, coarse=None, interval=False):
    """Whether ``gamma`` lies below the crossing :func:`locate_crossing` (same arguments) would return.

    Returns True, False, or None when only the root itself decides (the caller then locates it).
    Reads the map at the learning rates up to ``gamma`` only, never the root:

    * ``interval`` (the stable set is known to be the interval (0, gamma_c^(4)), as for SGD, see
      :meth:`theory.FourthMomentRecursion.below_critical_learning_rate`) and ``dense``: rho(gamma) < 1;
    * ``dense`` and ``coarse``: the scan of :func:`locate_crossing` on the grid points <= gamma (the sign
      of det(I - L) at each, rho at every (grid / coarse)-th) finds no instability, and at gamma itself
      det(I - L) > 0 and rho < 1 (the crossing of that grid cell lies above gamma);
    * otherwise (the sign scan of large problems): the first grid of ``grids`` sees det(I - L) > 0 at
      every point <= gamma and at gamma, and det(I - L) < 0 at the last point gamma_c (1 + 1e-6), so the
      scan of :func:`locate_crossing` stops on that grid at a point above gamma and the root lies in
      (gamma, that point]; if det(I - L) > 0 there too (an even number of roots, which locate_crossing
      resolves on its finer grid), None.

    Raises RuntimeError (as :func:`locate_crossing`) if the map is unstable at ``start``.
    """
    top = gamma_c * (1 + 1e-6)
    if not gamma < top:
        return False   # the crossing is at most gamma_c (1 + 1e-6), or locate_crossing raises
    if interval and dense:
        return bool(rho(gamma) < 1)
    if dense and not coarse:
        return None
    if not (rho(start) < 1 if dense else sec(start)[0] > 0):
        raise RuntimeError("the fourth-moment map is unstable even at a tiny learning rate; no crossing")
    n_points = grids[-1] if dense else grids[0]
    every = max(n_points // coarse, 1) if dense else 0
    grid = gamma_c * np.arange(1, n_points + 1) / n_points
    grid[-1] = top
    for k, g in enumerate(grid):
        if g > gamma:
            break
        if sec(g)[0] <= 0 or (every and (k + 1) % every == 0 and not rho(g) < 1):
            return False
    if not sec(gamma)[0] > 0:
        return False
    if dense:
        return bool(rho(gamma) < 1)
    return True if sec(top)[0] < 0 else None


class Crossing:
    """One crossing problem: the functions and settings of :func:`locate_crossing`, located or tested.

    ``locate()`` returns :func:`locate_crossing`'s (root, lo, hi); ``below(gamma)`` the answer of
    :func:`below_crossing` (True, False, or None when only the root decides).
    """

    def __init__(self, rho, sec, gamma_c, start, dense, grids, interval=False, **options):
        self.rho, self.sec, self.gamma_c, self.start = rho, sec, gamma_c, start
        self.dense, self.grids, self.interval, self.options = dense, grids, interval, options

    def locate(self):
        return locate_crossing(self.rho, self.sec, self.gamma_c, self.start, self.dense, self.grids,
                               **self.options)

    def below(self, gamma):
        return below_crossing(self.rho, self.sec, self.gamma_c, self.start, self.dense, self.grids, gamma,
                              coarse=self.options.get("coarse"), interval=self.interval)


def sgd_crossing(rec, lam, batch, gamma_c, points=32):
    """The :class:`Crossing` of the SGD even-sector map (see :func:`critical_crossing`) and its class map."""
    from .linear import EvenSectorMap
    lam, counts, moments = resolvable_classes(lam, rec._moment_values(lam), gamma_c)
    base = EvenSectorMap.build(rec, lam, counts, None, batch, 0.0, moments=moments)
    dense = len(base._sym_coordinates()) <= DENSE_LIMIT

    def rho(g):
        return float(np.max(np.abs(np.linalg.eigvals(base.at(g, linear_only=True).reduced_dense()))))

    def sec(g):
        with np.errstate(all="ignore"):
            for nudge in (0.0, 1e-9, -1e-9):   # off a pole of the factorisation (det(I - L) is smooth)
                sign, logabs, sign0 = base.at(g * (1 + nudge), linear_only=True).secular(1.0)
                if np.isfinite(logabs) or sign == 0:
                    return sign * sign0, logabs
        raise RuntimeError(f"det(I - L) could not be evaluated at learning rate {g!r}")  # pragma: no cover

    # gamma_c^(4) <= gamma_c (Jensen), with equality in degenerate cases (e.g. Rademacher, B = 1, d = 2,
    # where the Perron combination of the e_i^2 evolves deterministically): scan just past gamma_c;
    # a coarse scan first, a finer one if it saw no sign change (two roots inside one cell)
    crossing = Crossing(rho, sec, gamma_c, gamma_c / 1024, dense,
                        (points,) if dense else (max(points // 2, 2), 8 * points), interval=True,
                        confirm=base.classes <= 40)
    return crossing, base, counts


def critical_crossing(rec, lam, batch, gamma_c, dps=None, points=32):
    """First learning rate where rho(L) reaches 1, on (0, gamma_c (1 + 1e-6)].

    Two float64 routes, both on class-symmetric matrices (where rho(L) is attained):

    * small problems (class-symmetric dimension <= DENSE_LIMIT): scan and bisection of the
      dense spectral radius -- robust also when two eigenvalues cross 1 together (a double
      root of det(I - L), e.g. Rademacher data with repeated eigenvalues and B = 1);
    * otherwise: scan of the sign of det(I - L) = det(I - L_0) det(I - M) (O(C^3) each),
      then Brent's method; confirmed on the dense spectral radius when C <= 40.

    See FourthMomentRecursion.critical_learning_rate.
    """
    from ..empirical import _single_threaded_blas
    full_lam = lam
    with _single_threaded_blas():
        crossing, base, counts = sgd_crossing(rec, lam, batch, gamma_c, points)
        root, prev, g = crossing.locate()
    if dps is None:
        return float(root)
    if counts.sum() != len(full_lam):   # the refinement keeps every direction (mpmath resolves them)
        base = rec._class_map(full_lam, None, batch)
    if base.classes > 40:
        raise ValueError(f"dps refinement supports at most 40 distinct classes of directions; got {base.classes}")
    return _refine_mp(rec, base, batch, root, prev, g, dps)


def _refine_mp(rec, base, batch, root, lo, hi, dps):
    """det(I - L(gamma)) = 0 in mpmath on the class-symmetric coordinates, started at the float root."""
    compiled = rec._compiled
    lam = base.lam
    with mpmath.workdps(dps + 15):
        k6 = [[mpmath.mpf(x) for x in arr] for arr in base._moments]
        C = base.classes
        mp_lam = [mpmath.mpf(x) for x in lam]

        def pair_args(i, j):
            return [mp_lam[i], mp_lam[j], k6[0][i], k6[0][j], k6[1][i], k6[1][j], k6[2][i], k6[2][j],
                    mpmath.mpf(batch), mpmath.mpf(0)]

        def diag_args(i):
            return [mp_lam[i], k6[0][i], k6[1][i], k6[2][i], mpmath.mpf(batch), mpmath.mpf(0)]

        table = {}
        for name, fns in compiled.items():
            if name in ("fm", "fs", "f0", "gm", "gs", "g0"):
                continue
            if name in _PAIR_NAMES:
                table[name] = [(n, [[mpf(*pair_args(i, j)) for j in range(C)] for i in range(C)])
                               for n, _, mpf in fns]
            else:
                table[name] = [(n, [mpf(*diag_args(i)) for i in range(C)]) for n, _, mpf in fns]

        def coef_at(g):
            out = {}
            for name, terms in table.items():
                if name in _PAIR_NAMES:
                    out[name] = [[mpmath.fsum(g**n * arr[i][j] for n, arr in terms) for j in range(C)]
                                 for i in range(C)]
                else:
                    out[name] = [mpmath.fsum(g**n * arr[i] for n, arr in terms) for i in range(C)]
            return out

        n = [int(x) for x in base.counts]
        exc = [(k6[0][i] - 3) * mp_lam[i] ** 2 for i in range(C)]

        def det_i_minus_l(g):
            """det(I - L_0) det(I - M(1)) on class-symmetric matrices (mirrors EvenSectorMap.secular)."""
            c = coef_at(mpmath.mpf(g))
            one = mpmath.mpf(1)
            N = [[n[j] - (i == j) for j in range(C)] for i in range(C)]
            den = [[one - c["a"][i][j] for j in range(C)] for i in range(C)]
            dal = [one - c["alpha"][i] for i in range(C)]
            eta = [c["pi"][i] / dal[i] for i in range(C)]
            M = mpmath.matrix(C + 2, C + 2)
            X = [[(c["p"][k][m] + c["b"][k][m] * eta[k]) / den[k][m] for m in range(C)] for k in range(C)]
            for k in range(C):
                for m in range(C):
                    if m != k:
                        M[m, k] = X[k][m] * N[m][k] * mp_lam[k]
                M[k, k] = mp_lam[k] * eta[k] + mpmath.fsum(
                    X[k][d] * N[k][d] * mp_lam[d] * (2 if d == k else 1) for d in range(C))
            for k in range(C):
                M[C, k] = mpmath.fsum(n[m] * mp_lam[m] * M[m, k] for m in range(C))
                M[C + 1, k] = n[k] * exc[k] * eta[k]
            for col, name, vname in ((C, "u", "ups"), (C + 1, "v", "nu")):
                vec = [c[vname][i] / dal[i] for i in range(C)]
                for m in range(C):
                    M[m, col] = mp_lam[m] * vec[m] + mpmath.fsum(
                        (c[name][m][d] + c["b"][m][d] * vec[m] + c["b"][d][m] * vec[d]) / den[m][d]
                        * N[m][d] * mp_lam[d] for d in range(C))
                M[C, col] = mpmath.fsum(n[m] * mp_lam[m] * M[m, col] for m in range(C))
                M[C + 1, col] = mpmath.fsum(n[m] * exc[m] * vec[m] for m in range(C))
            factor = mpmath.fprod(dal) * mpmath.fprod(den[i][j] for i in range(C) for j in range(i + 1, C))
            factor *= mpmath.fprod(den[i][i] for i in range(C) if n[i] >= 2)
            return factor * mpmath.det(mpmath.eye(C + 2) - M)

        a, b = mpmath.mpf(lo), mpmath.mpf(hi)
        if det_i_minus_l(a) * det_i_minus_l(b) > 0:
            raise RuntimeError(f"det(I - L) keeps its sign around the crossing {root!r} (two eigenvalues of L "
                               "cross 1 together): no high-precision refinement; use dps=None")
        # det(I - L) is a product of d(d+1)/2 factors (tiny and steep): secant steps from the float64 root
        # (already good to ~1e-15), rescaled so that findroot's residual test is relative
        x0 = mpmath.mpf(root)
        scale = 1 / abs(det_i_minus_l(x0 * (1 - mpmath.mpf(10) ** -9)))
        value = mpmath.findroot(lambda g: det_i_minus_l(g) * scale, (x0, x0 * (1 + mpmath.mpf(10) ** -12)),
                                solver="secant")
        if not (a <= value <= b) or abs(value - root) > 1e-8 * root:
            raise RuntimeError(f"high-precision refinement gave {value}, the float64 crossing is {root!r}")
    with mpmath.workdps(dps):
        return +value
