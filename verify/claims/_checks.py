r"""Helpers shared by the claim modules: exact spectral radii (certified in rational arithmetic)
and the summary of a difference of two independent Monte Carlo means.

Neither computes a p-value: they prepare the exact values and the Monte Carlo summaries that
the checks of :mod:`verify.stats` (``exact_identity``, ``scalar_comparison``, ``growth``) test.
"""
from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import sympy as sp

__all__ = ["exact", "schur_stable", "radius_bracket", "polynomial_radius", "map_polynomials",
           "difference_of_means", "time_average"]


def exact(x) -> Fraction:
    """The exact rational value of a float (or int/Fraction/SymPy rational): the number the
    computation actually used, so that an exact check is about the simulated parameters."""
    if isinstance(x, Fraction):
        return x
    if isinstance(x, sp.Rational):
        return Fraction(int(x.p), int(x.q))
    return Fraction(float(x)) if not isinstance(x, int) else Fraction(x)


def schur_stable(coeffs) -> bool:
    r"""Whether every root of the polynomial lies in the open unit disc (Schur--Cohn test).

    ``coeffs`` are exact real coefficients (Fractions), highest degree first. One step of the
    test: with p of degree n, leading a_n and constant a_0, p is Schur stable iff
    |a_0| < |a_n| and (a_n p(z) - a_0 p^*(z)) / z is Schur stable, p^*(z) = z^n p(1/z)
    (Schur 1917; Cohn 1922). Exact rational arithmetic: no rounding.
    """
    c = _integers(coeffs)
    if not c:
        raise ValueError("the zero polynomial has no roots to locate")
    while len(c) > 1:
        an, a0 = c[0], c[-1]
        if abs(a0) >= abs(an):
            return False
        c = _integers([an * x - a0 * y for x, y in zip(c, c[::-1])][:-1])
    return True


def _integers(coeffs):
    """The coefficients as coprime integers (same roots), leading zeros dropped: keeps the exact
    arithmetic of the Schur--Cohn recursion from growing faster than it must."""
    c = [Fraction(x) for x in coeffs]
    while c and c[0] == 0:
        c.pop(0)
    if not c:
        return []
    den = math.lcm(*(x.denominator for x in c))
    ints = [int(x * den) for x in c]
    g = math.gcd(*ints)
    return [x // g for x in ints]


def _scaled(coeffs, r):
    """Coefficients of p(r z) (highest first)."""
    n = len(coeffs) - 1
    return [Fraction(a) * Fraction(r) ** (n - k) for k, a in enumerate(coeffs)]


def radius_bracket(coeffs, rel=1e-10):
    r"""An exact bracket lo <= rho < hi of the largest root modulus rho of a polynomial.

    rho < r iff p(r z) is Schur stable (:func:`schur_stable`, exact), so a float estimate
    rho_f (NumPy roots) is certified by checking that p(hi z) is stable and p(lo z) is not,
    for hi = rho_f (1 + r), lo = rho_f (1 - r), r = ``rel`` (widened up to 1e-4 for multiple
    roots, which NumPy locates less accurately); if the estimate is still off, the bracket is
    found by exact bisection to relative width ``rel``. Returns (lo, hi) as Fractions.
    """
    c = [Fraction(x) for x in coeffs]
    while c and c[0] == 0:
        c.pop(0)
    if len(c) < 2:
        raise ValueError("a polynomial of degree >= 1 is needed")
    est = float(np.max(np.abs(np.roots([float(x) for x in c]))))
    # a root of multiplicity m is located by NumPy to ~eps^(1/m): widen the bracket until it is certified
    for r in (rel, 1e-8, 1e-6, 1e-4):
        lo, hi = Fraction(est * (1 - max(r, rel))), Fraction(est * (1 + max(r, rel)))
        if schur_stable(_scaled(c, hi)) and (lo <= 0 or not schur_stable(_scaled(c, lo))):
            return max(lo, Fraction(0)), hi
    lo, hi = Fraction(0), 1 + max(abs(x / c[0]) for x in c[1:])      # Cauchy's bound: rho < hi
    while hi - lo > Fraction(rel) * hi:
        mid = (lo + hi) / 2
        if schur_stable(_scaled(c, mid)):
            hi = mid
        else:
            lo = mid
    return lo, hi


def polynomial_radius(polys, rel=1e-10):
    """Exact bracket (lo, hi) of the largest root modulus over several polynomials (coefficient lists)."""
    brackets = [radius_bracket(p, rel) for p in polys]
    return max(b[0] for b in brackets), max(b[1] for b in brackets)


def map_polynomials(recursion, eigenvalues, learning_rate, batch=1, **hyper):
    r"""Characteristic polynomials (exact rational coefficients) whose roots are the eigenvalues
    of the linear second-moment map of ``recursion`` at the given (exact values of the) parameters.

    The map is s_i' = A_i s_i + u_i sum_j v_j^T s_j. Directions with equal (lambda_i, kappa_i)
    form groups g of size m_g; the spectrum is that of the reduced matrix with blocks
    delta_{gh} A_g + m_h u_g v_h^T, together with the spectrum of A_g for every group with
    m_g > 1 (the modes with sum zero within the group, which the rank-one coupling does not see).
    """
    from theory import symbols as sym
    lam = [exact(x) for x in np.atleast_1d(np.asarray(eigenvalues, dtype=float))]
    kappa = [exact(x) for x in recursion.data.kurtosis_values(len(lam))]
    groups = {}
    for li, ki in zip(lam, kappa):
        groups[(li, ki)] = groups.get((li, ki), 0) + 1
    values = {sym.B: sp.Integer(batch), sym.gamma: sp.Rational(exact(learning_rate))}
    for name, symbol in recursion.algorithm.hyperparameters.items():
        if name != "learning_rate":
            values[symbol] = sp.Rational(exact(hyper[name]))
    blocks = []
    for (li, ki), m in groups.items():
        at = {**values, sym.lam: sp.Rational(li), sym.kappa: sp.Rational(ki)}
        blocks.append((recursion.A.subs(at), recursion.u.subs(at), recursion.v.subs(at), m))
    p = recursion.A.shape[0]
    G = len(blocks)
    red = sp.zeros(G * p, G * p)
    for a, (A, u, _, _) in enumerate(blocks):
        red[a * p:(a + 1) * p, a * p:(a + 1) * p] = A
        for b, (_, _, v, m) in enumerate(blocks):
            red[a * p:(a + 1) * p, b * p:(b + 1) * p] += m * u * v.T
    z = sp.Symbol("z")
    mats = [red] + [A for A, _, _, m in blocks if m > 1]
    out = []
    for M in mats:
        poly = sp.Poly(M.charpoly(z).as_expr(), z)
        out.append([Fraction(int(sp.Rational(c).p), int(sp.Rational(c).q)) for c in poly.all_coeffs()])
    return out


def difference_of_means(a, b):
    r"""Summary of the difference of two independent Monte Carlo means, for a Hall-corrected test.

    ``a`` and ``b`` are (mean, standard error, sample skewness, replicas) of two independent
    runs. The difference D = mean_a - mean_b has standard error sqrt(se_a^2 + se_b^2) and
    third cumulant k3 = k3_a - k3_b, where the third cumulant of a mean of n replicas with
    skewness gamma and standard error se is gamma se^3 / sqrt(n). Hall's correction of a mean
    of n replicas with skewness gamma uses gamma / sqrt(n), the skewness of the mean; so D is
    summarised as a mean of n = min(n_a, n_b) replicas with skewness sqrt(n) k3 / se^3,
    which makes :func:`verify.stats.hall_z` remove the skewness of D exactly as for one mean.

    Returns a dict (mean, standard_error, skewness, replicas) for
    :func:`verify.stats.scalar_comparison` or :func:`verify.stats.growth`.
    """
    (ma, sa, ga, na), (mb, sb, gb, nb) = a, b
    se = math.hypot(float(sa), float(sb))
    k3 = float(ga) * float(sa) ** 3 / math.sqrt(na) - float(gb) * float(sb) ** 3 / math.sqrt(nb)
    n = int(min(na, nb))
    skew = math.sqrt(n) * k3 / se**3 if se > 0 else 0.0
    return dict(mean=float(ma) - float(mb), standard_error=se, skewness=skew, replicas=n)


def time_average(result, first=1):
    r"""Per-replica time average of the risk over the dyadic blocks that start at or after
    step ``first`` (weighted by their lengths), and the first and last step it covers.

    Uses ``result.replica_block_risk`` (replicas x blocks). Returns (samples, a, b).
    """
    edges = np.asarray(result.block_edges)
    keep = np.flatnonzero(edges[:-1] >= first)
    if keep.size == 0:
        raise ValueError(f"no block starts at or after step {first}")
    width = (edges[1:] - edges[:-1])[keep].astype(float)
    X = np.asarray(result.replica_block_risk, dtype=float)[:, keep]
    return X @ (width / width.sum()), int(edges[keep[0]]), int(edges[keep[-1] + 1] - 1)
