r"""Numbers at full precision: exact inputs, results that keep their digits, certified intervals.

* :func:`to_mpf` reads an input (``mpf``, ``Fraction``, SymPy number, decimal string, int or
  float) at the working precision without a detour through float64; :func:`to_iv` encloses it
  in an mpmath interval.
* :class:`Mpf` is the ``mpf`` returned with ``dps``: it prints with its digits.
* :class:`MpClasses` and :func:`refine_crossing` solve the exit equation of a threshold
  located in float64 by :mod:`theory.thresholds`, in mpmath on the exact inputs.
* :func:`certify_critical` proves, in interval arithmetic (``mpmath.iv``), that an interval
  contains the critical learning rate (see its docstring for the proof).
"""
from __future__ import annotations

import fractions
import numbers
import re

import mpmath
import numpy as np
import sympy as sp

__all__ = ["MpClasses", "Mpf", "certify_critical", "float_view", "refine_crossing", "to_iv", "to_mpf"]

_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def to_mpf(value, name="value"):
    """``value`` as an ``mpmath.mpf`` at the working precision, without a detour through float64.

    Accepts int, float (its exact binary value), ``mpmath.mpf``, ``fractions.Fraction``,
    SymPy numbers (``Rational``, ``Float``, ...), NumPy scalars and decimal strings such as
    ``'0.1'`` (parsed by mpmath: never evaluated as code). Raises ValueError otherwise.
    """
    if isinstance(value, mpmath.mpf):
        return +value
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be a real number, not a boolean; got {value!r}")  # noqa: TRY004
    if isinstance(value, fractions.Fraction):
        return mpmath.mpf(value.numerator) / value.denominator
    if isinstance(value, sp.Basic):
        if isinstance(value, sp.Rational):
            return mpmath.mpf(int(value.p)) / int(value.q)
        if value.is_number and value.is_real:
            return mpmath.mpf(value.evalf(mpmath.mp.dps + 5))
        raise ValueError(f"{name} must be a real number; got {value!r}")
    if isinstance(value, (numbers.Integral, np.integer)):
        return mpmath.mpf(int(value))
    if isinstance(value, (numbers.Real, np.floating)):
        return mpmath.mpf(float(value))
    if isinstance(value, str):
        if not _DECIMAL.fullmatch(value.strip()):
            raise ValueError(f"{name} must be a decimal number such as '0.2' or '1e-3'; got the string {value!r}")
        return mpmath.mpf(value.strip())
    raise ValueError(f"{name} must be a real number; got {value!r}")


def float_view(values, name="eigenvalues"):
    """The float64 view of exact inputs (mpf, Fraction, SymPy numbers, decimal strings), for the
    range checks that precede a high-precision computation; the exact values are kept apart.

    A scalar stays a scalar; anything :func:`to_mpf` refuses raises its ValueError.
    """
    arr = np.asarray(values, dtype=object)
    flat = [float(to_mpf(x, name)) for x in arr.reshape(-1)]
    return flat[0] if arr.ndim == 0 else np.array(flat).reshape(arr.shape)


class Mpf(mpmath.mpf):
    """An ``mpmath.mpf`` that remembers how many decimal digits it was computed to.

    It prints (``str``, ``repr``) with those digits whatever the global ``mpmath.mp.dps``;
    arithmetic on it returns plain ``mpf`` at the working precision.

    Example
    -------
    >>> with mpmath.workdps(30):
    ...     x = Mpf(mpmath.mpf(1) / 3, 30)
    >>> x
    mpf('0.333333333333333333333333333333')
    """

    __slots__ = ("dps",)

    def __new__(cls, value, dps):
        with mpmath.workdps(dps):
            self = mpmath.mpf.__new__(cls, value)
        self.dps = int(dps)
        return self

    def __reduce__(self):   # pickle (e.g. to dask workers) keeps every bit and the digits
        sign, man, exp, _ = self._mpf_
        return (_mpf_from, (-int(man) if sign else int(man), int(exp), self.dps))

    def __str__(self):
        return mpmath.nstr(self, self.dps)

    def __repr__(self):
        return f"mpf('{mpmath.nstr(self, self.dps)}')"


def _mpf_from(man, exp, dps):
    with mpmath.workprec(max(int(man).bit_length(), 53) + 10):
        return Mpf(mpmath.mpf((man, exp)), dps)


def _mp_list(values, d, name):
    arr = np.asarray(values, dtype=object)
    if arr.ndim == 0:
        arr = np.full(d, arr.item(), dtype=object)
    return [to_mpf(x, name) for x in arr.reshape(-1)]


class MpClasses:
    """The classes (distinct (lambda, kappa)) of a problem from its exact inputs, evaluated in mpmath."""

    def __init__(self, rec, eigenvalues, d, batch, hyper):
        self.sf = rec._secular_functions
        lam = _mp_list(eigenvalues, d, "eigenvalues")
        kappa = [mpmath.mpf(float(k)) for k in rec.data.kurtosis_values(d)]
        #: per-direction hyperparameters (a preconditioner, theta*_i) enter the class key
        self.vector = [k for k, v in hyper.items() if np.ndim(v) == 1]
        columns = [_mp_list(hyper[k], d, k) for k in self.vector]
        classes = {}
        for i, (li, ki) in enumerate(zip(lam, kappa)):
            key = (li, ki, *(c[i] for c in columns))
            classes[key] = classes.get(key, 0) + 1
        self.keys = list(classes)
        self.counts = [classes[k] for k in self.keys]
        self.batch = mpmath.mpf(batch)
        self.names = list(rec.algorithm.hyperparameters)
        self.hyper = {k: to_mpf(v, k) for k, v in hyper.items() if k not in self.vector}

    def args(self, g, key, noise=0):
        hv = {**self.hyper, "learning_rate": g, **dict(zip(self.vector, key[2:]))}
        return [key[0], key[1], self.batch, noise, *[hv[n] for n in self.names]]

    def secular(self, g, w):
        f = self.sf.G[1]
        return 1 - mpmath.fsum(c * f(*self.args(g, k), w) for k, c in zip(self.keys, self.counts))

    def block_det(self, g, j, z):
        return self.sf.det_zA(*self.args(g, self.keys[j]), z)


def refine_crossing(spec, mpc, root, exit):
    """Solve the exit equation in mpmath from the float64 crossing ``root``.

    ``exit`` is ('secular', z) with z = +-1 (F(z; gamma) = 0 in gamma) or complex (jointly in
    (gamma, theta)), or ('block', j, mu) (det(z I - A_j) = 0 for a block shared by identical
    directions); ``spec`` is the float64 :class:`theory.thresholds.Spectrum` that found it.
    """
    x0 = mpmath.mpf(root)
    if exit[0] == "block":
        # the block's class in the exact classes: the one closest to the float key
        j = exit[1]
        lam_j = spec.lam[j]
        jj = min(range(len(mpc.keys)), key=lambda i: abs(mpc.keys[i][0] - lam_j)
                 + abs(mpc.keys[i][1] - spec.kappa[j]))
        z = exit[2]
        if abs(z.imag) <= 1e-7:
            zz = mpmath.mpf(1 if z.real > 0 else -1)
            return mpmath.findroot(lambda g: mpmath.re(mpc.block_det(g, jj, zz)), x0)
        sol = mpmath.findroot(lambda g, t: [mpmath.re(mpc.block_det(g, jj, mpmath.expj(t))),
                                            mpmath.im(mpc.block_det(g, jj, mpmath.expj(t)))],
                              (x0, mpmath.mpf(float(np.angle(z)))))
        return sol[0]
    z = exit[1]
    if isinstance(z, float):
        w = mpmath.mpf(z) - 1

        def h(g):
            return mpmath.re(mpc.secular(g, w))
        for widen in (1e-13, 1e-10, 1e-7):
            a, b = x0 * (1 - widen), x0 * (1 + widen)
            if h(a) * h(b) < 0:
                break
        else:
            raise RuntimeError(f"the secular equation at z = {z:+g} has no sign change around the float64 "
                               f"critical learning rate {root!r}")
        return mpmath.findroot(h, (a, b), solver="anderson")

    def eqs(g, t):
        val = mpc.secular(g, mpmath.expj(t) - 1)
        return [mpmath.re(val), mpmath.im(val)]
    sol = mpmath.findroot(eqs, (x0, mpmath.mpf(float(np.angle(z)))))
    return sol[0]


def to_iv(value, name="value"):
    """An ``mpmath.iv`` interval that contains ``value`` exactly (inputs as in :func:`to_mpf`).

    Fractions, SymPy rationals and decimal strings are enclosed with outward rounding; binary
    numbers (int, float, ``mpf``) are exact point intervals at the interval precision.
    """
    iv = mpmath.iv
    if isinstance(value, fractions.Fraction):
        return iv.mpf(value.numerator) / value.denominator
    if isinstance(value, sp.Rational):
        return iv.mpf(int(value.p)) / int(value.q)
    if isinstance(value, str):
        to_mpf(value, name)            # the same check: a decimal literal
        return iv.mpf(value.strip())
    if isinstance(value, sp.Basic):    # another real SymPy number: its value to 20 extra digits, widened
        with mpmath.workprec(iv.prec + 70):
            x = to_mpf(value, name)
            r = abs(x) * mpmath.mpf(2) ** (-iv.prec - 60)
            return iv.mpf([x - r, x + r])
    with mpmath.workprec(max(iv.prec, 53) + 200):
        return iv.mpf(to_mpf(value, name))


def _iv_fn(args, expr):
    return sp.lambdify(args, expr, modules=[{"mpf": mpmath.iv.mpf}, "mpmath"])


def _holds_on(fn, args_of, lo, hi, test, max_pieces=4096):
    """Prove ``test(fn(gamma))`` for every gamma in [lo, hi] by interval evaluation and bisection."""
    iv = mpmath.iv
    todo, pieces = [(lo, hi)], 0
    while todo:
        a, b = todo.pop()
        if test(fn(*args_of(iv.mpf([a, b])))):
            continue
        pieces += 1
        if pieces > max_pieces or b - a <= (hi - lo) * mpmath.mpf(2) ** -iv.prec:
            return False
        with mpmath.workprec(iv.prec):
            m = (a + b) / 2
        todo += [(a, m), (m, b)]
    return True


def certify_critical(rec, eigenvalues, d, batch, hyper, root, dps):
    r"""An interval [a, b] that provably contains gamma_c, for recursions with one moment per direction.

    For p = 1 (SGD on every data model) L = diag(a_j) + u v^T. With interval arithmetic
    (``mpmath.iv``, outward rounding, inputs enclosed exactly by :func:`to_iv`):

    1. F(1; a) > 0 and F(1; b) < 0, F(1; gamma) = 1 - sum_j c_j G_j(gamma) the secular function;
    2. 1 - a_j(b) > 0 for every j, so det(I - L(b)) = prod_j (1 - a_j)^{c_j} F(1; b) < 0: the
       characteristic polynomial of L(b) is negative at z = 1 and positive as z -> infinity, so
       L(b) has a real eigenvalue > 1 and gamma_c <= b;
    3. on the whole range gamma in [0, a] (bisected until each piece is proved), for every class:
       (1 - a_j)/gamma > 0, 1 + a_j > 0, u_j v_j >= 0 and dG_j/dgamma >= 0. Then for every
       gamma in (0, a]: each a_j lies in (-1, 1); L is similar to the symmetric diag(a) + q q^T
       (q_j^2 = u_j v_j); F(1; gamma) >= F(1; a) > 0 (each G_j non-decreasing); so by
       Haynsworth's inertia formula (#eigenvalues below t = #{a_j < t} + [F(t) > 0] - 1) no
       eigenvalue is >= 1, and none is <= -1 since F(-1) = 1 + sum_j c_j u_j v_j/(1 + a_j) > 0.
       Hence rho(L(gamma)) < 1 on (0, a] and gamma_c >= a.

    ``root`` is the high-precision crossing; a, b = root (1 -+ 10^{5 - dps}). Returns an
    ``mpmath.iv.mpf`` interval [a, b]. Raises ValueError if p != 1, RuntimeError if a step
    cannot be proved (e.g. an exit at z = -1).
    """
    iv = mpmath.iv
    p = len(rec.moments)
    if p != 1:
        raise ValueError(f"certify=True needs a recursion with one second moment per direction (p = 1, e.g. SGD "
                         f"on any data model), where the inertia argument proves the first crossing; "
                         f"{rec.algorithm!r} has p = {p}")
    g = rec.algorithm.hyperparameters["learning_rate"]
    args = list(rec._args)
    N = sp.expand(1 - rec.A[0, 0])
    if sp.simplify(N.subs(g, 0)) != 0:
        raise ValueError("certify=True needs a map that is the identity at learning rate 0")
    G = rec._stationary_terms["G"]
    fns = {name: _iv_fn(args, sp.factor(e)) for name, e in {
        "N": N, "n_over_g": sp.cancel(N / g), "one_plus_a": 2 - N, "uv": rec.u[0] * rec.v[0],
        "G": G, "dG": sp.cancel(sp.diff(G, g))}.items()}
    names = list(rec.algorithm.hyperparameters)
    old = iv.prec
    try:
        iv.dps = dps + 20
        kappa = rec.data.kurtosis_values(d)
        classes = {}
        for x, k in zip(np.asarray(eigenvalues, dtype=object).reshape(-1), kappa):
            with mpmath.workdps(dps + 40):
                key = (to_mpf(x, "eigenvalues"), float(k))
            classes.setdefault(key, [x, 0])[1] += 1
        hv = {n: to_iv(v, n) for n, v in hyper.items()}
        reps = [(to_iv(x, "eigenvalues"), iv.mpf(k), c) for (_, k), (x, c) in classes.items()]

        def args_of(rep):
            def at(gamma):
                h = {**hv, "learning_rate": gamma}
                return [rep[0], rep[1], iv.mpf(batch), iv.mpf(0), *[h[n] for n in names]]
            return at

        def F(gamma):
            return 1 - sum((c * fns["G"](*args_of((lam, k, c))(gamma)) for lam, k, c in reps), iv.mpf(0))

        with mpmath.workdps(dps + 20):
            half = mpmath.mpf(10) ** (5 - dps) * root
            a, b = root - half, root + half
        steps = [("F(1; a) > 0", F(iv.mpf(a)).a > 0), ("F(1; b) < 0", F(iv.mpf(b)).b < 0)]
        steps.append(("1 - a_j(b) > 0", all(fns["N"](*args_of(r)(iv.mpf(b))).a > 0 for r in reps)))
        for name, test in (("n_over_g", lambda v: v.a > 0), ("one_plus_a", lambda v: v.a > 0),
                           ("uv", lambda v: v.a >= 0), ("dG", lambda v: v.a >= 0)):
            ok = all(_holds_on(fns[name], args_of(r), mpmath.mpf(0), a, test) for r in reps)
            steps.append((f"{name} on [0, a]", ok))
        failed = [s for s, ok in steps if not ok]
        if failed:
            raise RuntimeError(f"could not certify the critical learning rate {root}: unproved {failed}")
        return iv.mpf([a, b])
    finally:
        iv.prec = old
