r"""Gragg--Bulirsch--Stoer extrapolation: small ODE systems integrated to many digits, cheaply.

For the high-precision High Line solutions (:func:`theory.highline.solve_mp` with
``method="extrapolation"``): a few state variables, 12-20 correct digits. The state is a list of
:class:`decimal.Decimal` (Python's C implementation of correctly rounded decimal arithmetic at any
precision, several times cheaper per operation than ``mpmath.mpf``); the right-hand side is any
function of such lists (e.g. a SymPy expression lambdified with :data:`DECIMAL_FUNCTIONS`).

Method (Hairer, Norsett, Wanner, *Solving ODEs I*, Sec. II.9, the GBS algorithm): one macro step of
length H runs Gragg's modified midpoint rule with n_j = 2j substeps (j = 1..k), whose result has an
error expansion in even powers of H/n_j, and extrapolates the k results to H/n -> 0 by the
Aitken--Neville tableau: T_{j,l+1} = T_{j,l} + (T_{j,l} - T_{j-1,l}) / ((n_j/n_{j-l})^2 - 1). T_{k,k}
has order 2k; |T_{k,k} - T_{k,k-1}| (the error of the order-(2k-2) value) is the error estimate, with
the usual step-size controller H' = H min(4, max(1/5, 0.9 err^{-1/(2k-1)})) and rejection when
err > 1. A macro step costs k(k+1) + 1 right-hand-side evaluations (with the smoothing step).
"""
from __future__ import annotations

import decimal
import itertools
from decimal import Decimal

__all__ = ["DECIMAL_FUNCTIONS", "gbs", "to_decimal"]


def _sqrt(x):
    return x.sqrt()


def _exp(x):
    return x.exp()


def _log(x):
    return x.ln()


#: names of the ``mpmath`` printer of ``sympy.lambdify`` mapped to Decimal arithmetic: use
#: ``sp.lambdify(args, expr, modules=[DECIMAL_FUNCTIONS, "mpmath"])`` (rationals print as
#: ``mpf(p)/mpf(q)``, i.e. Decimal(p)/Decimal(q), correctly rounded at the context's precision)
DECIMAL_FUNCTIONS = {"mpf": Decimal, "sqrt": _sqrt, "exp": _exp, "log": _log}


def to_decimal(x) -> Decimal:
    """The exact value of an int, float or ``mpmath.mpf`` as a Decimal (rounded only if it has more than
    100 significant digits)."""
    if isinstance(x, (int, Decimal)):
        return Decimal(x)
    if isinstance(x, float):
        return Decimal(x)                     # exact: a binary float is a finite decimal
    man, exp = (x.man, x.exp) if hasattr(x, "man") else (None, None)
    if man is None:
        raise TypeError(f"cannot convert {x!r} to Decimal")
    with decimal.localcontext(prec=100):
        return Decimal(int(man)) * Decimal(2) ** int(exp) if exp < 0 else Decimal(int(man) << int(exp))


def gbs(F, y0, t_out, *, rtol, atol=Decimal(0), levels=8, first_step=None, max_steps=100_000):
    r"""Integrate the autonomous system y' = F(y) from t = 0 to every time in ``t_out``.

    Parameters
    ----------
    F : callable list[Decimal] -> list[Decimal]
    y0 : list of Decimal
    t_out : sequence of Decimal, increasing, >= 0
    rtol, atol : Decimal
        Per macro step: max_i |T_kk - T_k,k-1|_i / (atol + rtol |T_kk|_i) <= 1.
    levels : int
        k >= 2: the extrapolated order is 2k.
    first_step : Decimal or None
        The first macro step (default: min(1, first output time or 1)); the controller adapts it.

    Arithmetic is done in the current :mod:`decimal` context (set its precision a few digits above
    ``rtol``). Returns the list of states (lists of Decimal) at the times of ``t_out``.

    Raises ValueError for decreasing or negative output times, levels < 2, or more than ``max_steps``
    macro steps.

    Example
    -------
    >>> import decimal
    >>> with decimal.localcontext(prec=30):
    ...     y = gbs(lambda y: [-y[0]], [Decimal(1)], [Decimal(1)], rtol=Decimal("1e-25"))[0][0]
    ...     print(str(y)[:22], str(Decimal(-1).exp())[:22])
    0.36787944117144232159 0.36787944117144232159
    """
    if levels < 2:
        raise ValueError(f"levels must be an integer >= 2; got {levels!r}")
    times = [Decimal(t) for t in t_out]
    if any(t < 0 for t in times) or any(b < a for a, b in itertools.pairwise(times)):
        raise ValueError("t_out must be increasing and >= 0")
    ns = [2 * j for j in range(1, levels + 1)]
    # Aitken-Neville weights 1/((n_j/n_{j-l})^2 - 1) = n_{j-l}^2 / (n_j^2 - n_{j-l}^2), as Decimals
    weights = [[Decimal(ns[j - l] ** 2) / Decimal(ns[j] ** 2 - ns[j - l] ** 2) for l in range(1, j + 1)]
               for j in range(levels)]
    exponent = Decimal(-1) / Decimal(2 * levels - 1)
    y, t = list(y0), Decimal(0)
    H = Decimal(first_step) if first_step is not None else min(Decimal(1), times[0] if times and times[0] > 0
                                                                else Decimal(1))
    out, steps = [], 0
    for target in times:
        while t < target:
            steps += 1
            if steps > max_steps:
                raise ValueError(f"more than max_steps = {max_steps} macro steps before t = {target}")
            clipped = target - t < H
            h_step = target - t if clipped else H
            f0 = F(y)
            prev = None
            for j, n in enumerate(ns):
                h = h_step / n
                h2 = h + h
                z_old, z = y, [a + h * b for a, b in zip(y, f0)]
                for _ in range(n - 1):
                    z_old, z = z, [a + h2 * b for a, b in zip(z_old, F(z))]
                row = [[(a + b + h * c) / 2 for a, b, c in zip(z, z_old, F(z))]]
                for l in range(1, j + 1):
                    w = weights[j][l - 1]
                    row.append([a + (a - b) * w for a, b in zip(row[l - 1], prev[l - 1])])
                prev = row
            best, second = prev[-1], prev[-2]
            err = max(abs(a - b) / (atol + rtol * abs(a)) for a, b in zip(best, second))
            fac = Decimal(4) if err == 0 else min(Decimal(4), max(Decimal("0.2"), Decimal("0.9") * err ** exponent))
            if err <= 1:
                t, y = target if clipped else t + h_step, best
                H = max(H, h_step * fac) if clipped else h_step * fac
            else:
                H = h_step * fac
        out.append(list(y))
    return out
