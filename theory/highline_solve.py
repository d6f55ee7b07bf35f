r"""Numerical solutions of the High Line ODE (:mod:`theory.highline`): float64 and mpmath.

The ODE is integrated over the *spectral measure*: the distinct eigenvalues lambda_j (atoms)
with weights w_j (multiplicity / d). Directions with equal eigenvalues obey the same linear
ODE in D_i^2 (its coefficients depend on the state only through R, M_2 and I, which are
weighted sums), so the weighted mean of their D_i^2 solves the ODE *exactly* and is integrated
as one atom; nothing is approximated by merging. Only values that are exactly equal in float64
are merged. The per-direction values, when asked for (``record_D2="directions"``), are
rebuilt exactly: the deviation delta_i = D_i^2 - (atom mean) obeys d delta_i/dt = a_j(t) delta_i
with a_j = d drift / d D^2 at the atom, so delta_i(t) = delta_i(0) P_j(t) with dP_j/dt = a_j P_j,
P_j(0) = 1 (one extra state per atom, only when the initial values differ within an atom).

Only what is asked for is stored: R(t), g_t and int_0^t R at the output times, and D^2
per atom or per direction only on request (``record_D2``).

Accuracy. ``accuracy`` is the largest relative error of R(t) and g_t over the output times that
the caller accepts; :func:`solve` turns it into the integrator's tolerances through the error
model measured by ``benchmarks/ode_speed.py`` (see ``docs/ode_solver.md``):

* the error control is relative (``atol`` = 1e-150 times the initial scale, far below any value a solution reaches but with its square still a float64): D_i^2 >= 0 and R
  decays exponentially in noiseless problems, so any absolute floor turns into a relative
  error of order atol / R(t) at long times (cause 1 of the "error does not track rtol" report:
  with atol = 1e-13 the line-search trace problem had 1.5e-2 relative error whatever rtol);
* the global error of an explicit Runge-Kutta method accumulates over its steps (DOP853 at rtol r gave up
  to 23 r on the two-eigenvalue AdaGrad-Norm problem); and one run where its step is limited by stability
  (2 g lambda_max h beyond the stability interval) has an error that does not follow rtol
  (cause 2: the controller oscillates at the stability boundary and the error injected into the
  stiff modes is not damped; on the line-search trace problem DOP853 gave 1.4e-3 at rtol 1e-5
  and 3e-6 at rtol 1e-6). ``method="auto"`` therefore picks an integrator per problem
  (:func:`choose_method`): RK45 where the problem is not stiff (its error estimate, unlike
  DOP853's, stays reliable near the stability boundary: <= 1.7 rtol on the stiff benchmark
  spectrum, where DOP853 gave up to 1000 rtol), LSODA with the exact (SymPy) Jacobian for stiff
  problems up to 500 atoms (its error stays within 40 rtol on every benchmark problem), and
  for stiff spectra with more atoms RK45 or, where RK45 would need more steps for stability than
  ETD2 needs for accuracy, the exponential integrator ETD2 (exact on the stiff diagonal).
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import mpmath
import numpy as np
from scipy.integrate import BDF, DOP853, LSODA, RK23, RK45, Radau

from .validation import check_eigenvalues, check_nonnegative, check_positive

__all__ = ["RTOL_PER_ACCURACY", "ODESolution", "choose_method", "solve", "solve_mp", "spectral_measure"]

_SOLVERS = {"DOP853": DOP853, "RK45": RK45, "RK23": RK23, "LSODA": LSODA, "Radau": Radau, "BDF": BDF}
_METHODS = ("auto", "ETD2", *_SOLVERS)

#: rtol = accuracy * RTOL_PER_ACCURACY[method]: chosen from the measured ratio between the largest relative
#: error of R(t), g_t over the output times and the integrator's rtol on every problem of
#: ``benchmarks/ode_speed.py --error-model`` (docs/ode_solver.md), with a safety factor of about 5:
#: LSODA reached up to 40 rtol (line-search trace problem), ETD2 up to 34 rtol, RK45 up to 1.7 rtol (stiff
#: power law). DOP853 has no reliable factor (its error estimate fails where its step is limited by
#: stability: up to 1000 rtol) and is never chosen by ``method="auto"``.
RTOL_PER_ACCURACY = {"LSODA": 0.005, "ETD2": 0.005, "RK45": 0.05, "RK23": 0.05, "DOP853": 0.001, "Radau": 0.005,
                     "BDF": 0.005}
#: RK45's stability interval on the negative real axis is about [-3.3, 0]: a problem whose fastest mode
#: a_max = max_j |d drift/d D_j^2| needs at least a_max t_max / 3.3 steps for stability alone.
_RK45_STABILITY = 3.3
#: LSODA (Adams/BDF switching, dense Jacobian when stiff) is the default up to this many atoms
_LSODA_ATOMS = 500
#: the dense (n+1)^2 Jacobian of the implicit methods is used up to this many atoms
_DENSE_JACOBIAN_ATOMS = 2000


def spectral_measure(eigenvalues, weights=None):
    r"""Distinct eigenvalues and weights w_j = multiplicity / d (they sum to 1).

    With ``weights`` given, ``eigenvalues`` are taken as the atoms of the spectral
    measure directly (weights > 0, normalised to sum 1); equal atoms are merged (weights added).

    Returns ``(atoms, weights, d)`` with the atoms in decreasing order (``d`` is None when
    ``weights`` were given).

    Raises ValueError on an empty spectrum, non-positive eigenvalues or weights.

    Example
    -------
    >>> spectral_measure([1.0, 0.5, 1.0])
    (array([1. , 0.5]), array([0.66666667, 0.33333333]), 3)
    """
    lam = check_eigenvalues(eigenvalues)
    if weights is None:
        atoms, counts = np.unique(lam, return_counts=True)
        return atoms[::-1].copy(), (counts[::-1] / lam.size).astype(float), lam.size
    w = _check_weights(weights, lam)
    atoms, inv = np.unique(lam, return_inverse=True)
    merged = np.bincount(inv.ravel(), weights=w, minlength=atoms.size)
    return atoms[::-1].copy(), merged[::-1] / merged.sum(), None


def _check_weights(weights, lam):
    try:
        w = np.asarray(weights, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"weights must be an array of positive numbers; got {weights!r}") from exc
    if w.shape != lam.shape or not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise ValueError(f"weights must be finite, > 0 and have the shape of eigenvalues {lam.shape}; "
                         f"got {weights!r}")
    return w


@dataclass
class ODESolution:
    """A solution of the High Line ODE at times ``t``.

    Attributes
    ----------
    t : ndarray (T,)
    risk : ndarray (T,)
        R(t).
    g : ndarray (T,)
        The normalised learning rate g_t (the step is g_t/d).
    integral : ndarray (T,)
        int_0^t R(s) ds.
    D2 : ndarray (T, n) or (T, d), or None
        D^2(t) per atom of the spectral measure (``record_D2="atoms"``), per direction
        (``record_D2="directions"``), or None (not recorded: the default).
    eigenvalues, weights : ndarray (n,)
        The atoms of the spectral measure (decreasing) and their weights.
    rtol, atol : float
        The integrator's tolerances; ``accuracy`` the requested relative accuracy (None if rtol was given).
    method : str
        The integrator used (``method="auto"`` resolved).
    evaluations : int
        Right-hand-side evaluations.
    """

    t: np.ndarray
    risk: np.ndarray
    g: np.ndarray
    integral: np.ndarray
    D2: np.ndarray | None
    eigenvalues: np.ndarray
    weights: np.ndarray
    rtol: float
    atol: float
    method: str
    evaluations: int = 0
    accuracy: float | None = None

    @property
    def learning_rate(self):
        """Deprecated alias of :attr:`g` (``learning_rate`` means gamma = g/d elsewhere in the package)."""
        warnings.warn("ODESolution.learning_rate is deprecated: it is the normalised rate g_t (step g_t/d); "
                      "use ODESolution.g", DeprecationWarning, stacklevel=2)
        return self.g


# ------------------------------------------------------------------------------------------ set-up
def _initial_D2(initial, n, what="initial_D2"):
    try:
        arr = np.asarray(initial, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} (D_i^2(0) = d e_{{0,i}}^2) must be a number >= 0 or an array; "
                         f"got {initial!r}") from exc
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,) or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(f"{what} (D_i^2(0) = d e_{{0,i}}^2) must be finite and >= 0, a number or shape ({n},); "
                         f"got {initial!r}")
    return arr


@dataclass
class _Problem:
    atoms: np.ndarray          # (n,) distinct eigenvalues, decreasing
    w: np.ndarray              # (n,) weights, sum 1
    D0: np.ndarray             # (n,) weighted mean of D_i^2(0) per atom
    rule: object
    sigma2: float
    index: np.ndarray | None   # (d,) atom of each input entry (None: entries are the atoms)
    delta0: np.ndarray | None  # (d,) D_i^2(0) - atom mean; None if all zero


def _setup(eigenvalues, weights, g, rule, noise_variance, initial_D2):
    from .highline import LearningRateRule, constant_g
    lam = check_eigenvalues(eigenvalues)
    w_in = np.full(lam.size, 1.0 / lam.size) if weights is None else _check_weights(weights, lam)
    check_nonnegative(noise_variance, "noise_variance")
    if (g is None) == (rule is None):
        raise ValueError("give exactly one of g (a fixed normalised learning rate g > 0, step g/d) and rule "
                         "(a LearningRateRule)")
    if rule is None:
        rule = constant_g(g)
    elif not isinstance(rule, LearningRateRule):
        raise ValueError(f"rule must be a theory.highline.LearningRateRule; got {rule!r}")
    D_in = _initial_D2(initial_D2, lam.size)
    uniq, inv = np.unique(lam, return_inverse=True)
    inv = inv.ravel()
    order = np.arange(uniq.size)[::-1]            # atoms in decreasing order
    pos = np.empty_like(order)
    pos[order] = np.arange(uniq.size)
    index = pos[inv]
    atoms = uniq[order].copy()
    W = np.bincount(index, weights=w_in, minlength=atoms.size)
    D0 = np.bincount(index, weights=w_in * D_in, minlength=atoms.size) / W
    delta = D_in - D0[index]
    delta0 = delta if np.any(delta != 0) else None
    return _Problem(atoms, W / W.sum(), D0, rule, float(noise_variance), index, delta0)


def _single_threaded_blas():
    """Limit BLAS to one thread while integrating (vectors of length d gain nothing from threads, and
    on a loaded machine OpenBLAS threads stall for milliseconds per call); uses threadpoolctl if installed."""
    global _CONTROLLER
    if _CONTROLLER is None:
        try:
            from threadpoolctl import ThreadpoolController
            _CONTROLLER = ThreadpoolController()   # scans the loaded libraries once (milliseconds)
        except ImportError:  # pragma: no cover - optional
            _CONTROLLER = False
    if _CONTROLLER is False:  # pragma: no cover
        return contextlib.nullcontext()
    return _CONTROLLER.limit(limits=1, user_api="blas")


_CONTROLLER = None


def _dot(a, b):
    """Inner product of two vectors without BLAS (whose threads stall on a loaded machine)."""
    return np.einsum("i,i->", a, b)


def _check_t_eval(t_eval, t_max):
    if t_eval is None:
        return np.linspace(0.0, t_max, 201)
    try:
        te = np.atleast_1d(np.asarray(t_eval, dtype=float))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"t_eval must be an increasing array of times in [0, t_max]; got {t_eval!r}") from exc
    if te.ndim != 1 or te.size == 0 or not np.all(np.isfinite(te)) or np.any(np.diff(te) < 0) or te[0] < 0 \
            or te[-1] > t_max * (1 + 1e-12):
        raise ValueError(f"t_eval must be a non-empty increasing array of times in [0, t_max = {t_max}]; "
                         f"got {t_eval!r}")
    return np.minimum(te, t_max)


# ----------------------------------------------------------------------------------- method choice
def choose_method(atoms, weights, g0, t_max, accuracy, ode=None):
    r"""The integrator :func:`solve` uses with ``method="auto"`` (see the module docstring).

    With a_max = max_j |d drift/d D_j^2| at t = 0, RK45 needs a_max t_max / 3.3 steps for stability alone:

    * at most 100 such steps (not stiff): RK45 (Dormand-Prince 5(4); its error estimate stays reliable
      near the stability boundary, unlike DOP853's, and it has the least overhead per step);
    * stiff, at most 500 atoms: LSODA (BDF with the exact Jacobian when stiff);
    * stiff, more atoms: ETD2 (exact on the stiff diagonal part; second order) when the stability-limited
      step count exceeds 20 accuracy^{-1/2}, the order of ETD2's step count at that accuracy; else RK45.

    Returns one of "RK45", "LSODA", "ETD2".

    Example
    -------
    >>> choose_method(np.array([1.0, 0.5]), np.array([0.5, 0.5]), 1.0, 10.0, 1e-6)
    'RK45'
    """
    from .highline import derive_limit
    ode = derive_limit() if ode is None else ode
    a = np.abs(np.broadcast_to(ode._numpy_drift_partials[1](g0, atoms, 1.0, 1.0), atoms.shape))
    stability_steps = float(np.max(a)) * t_max / _RK45_STABILITY
    if stability_steps <= 100:
        return "RK45"
    if atoms.size <= _LSODA_ATOMS:
        return "LSODA"
    return "ETD2" if stability_steps > 20.0 * accuracy ** -0.5 else "RK45"


# ------------------------------------------------------------------------------------------ solve
_UNSET = object()


def solve(eigenvalues, *, t_max, g=None, rule=None, noise_variance=0.0, initial_D2=1.0, weights=None,
          t_eval=None, accuracy=None, rtol=None, atol=None, method="auto", record_D2=None, ode=None,
          learning_rate=_UNSET, initial=_UNSET) -> ODESolution:
    r"""Integrate the High Line ODE in float64 (SciPy's Runge-Kutta/LSODA steppers or ETD2).

    Solves dD_j^2/dt = drift(g_t, lambda_j, D_j^2, R) for every atom of the spectral measure and
    dI/dt = R (I = int_0^t R, needed by AdaGrad-Norm), with R = (1/2) sum_j w_j lambda_j D_j^2 + sigma^2/2.
    Equal eigenvalues are merged exactly (module docstring); one right-hand-side evaluation costs
    O(number of distinct eigenvalues), nothing is d x d.

    Parameters
    ----------
    eigenvalues : array_like (d,), or (n,) atoms with ``weights``
    t_max : float > 0
        Final time t = k/d.
    g : float > 0, optional
        Fixed normalised learning rate g (the step is g/d; ``g = learning_rate * d``, see
        :func:`theory.highline.g_from_learning_rate`). Exactly one of ``g`` and ``rule``.
    rule : LearningRateRule, optional
        State-dependent g_t (e.g. :func:`theory.adaptive.line_search`, :func:`theory.adaptive.adagrad_norm`).
    noise_variance : float >= 0
        sigma^2 (the paper's omega^2).
    initial_D2 : float or array (d,) / (n,)
        D_i^2(0) = d e_{0,i}^2 (see :func:`theory.highline.initial_D2_from_error`); default 1.
    weights : array_like (n,), optional
        Weights of the atoms (normalised to sum 1); default: multiplicities / d.
    t_eval : array_like, optional
        Increasing output times in [0, t_max] (default: 201 points).
    accuracy : float in (0, 0.1], optional
        Requested largest relative error of R(t) and g_t at the output times; sets rtol from the measured
        error model (:data:`RTOL_PER_ACCURACY`) and a purely relative error control. Default 1e-8 when
        ``rtol`` is not given either.
    rtol, atol : float, optional
        The integrator's tolerances, for experts (instead of ``accuracy``); ``atol`` defaults to
        1e-150 times the largest initial D^2 (relative control).
    method : str
        "auto" (default: :func:`choose_method`), "LSODA", "RK45", "ETD2" (:func:`_solve_etd2`, the
        exponential integrator for stiff spectra with many atoms), or "DOP853", "RK23", "Radau", "BDF".
        The implicit methods get the exact Jacobian (derived by SymPy) up to 2000 atoms.
    record_D2 : None, "atoms" or "directions"
        Store D^2 at the output times per atom, or per input direction (exact, see the module docstring).
        Default None: only R, g_t and the integral are stored.
    learning_rate, initial
        Deprecated names of ``g`` and ``initial_D2`` (they warn).

    Returns
    -------
    ODESolution

    Raises
    ------
    ValueError
        Empty or non-positive spectrum, t_max <= 0, bad rule, bad initial values, bad t_eval,
        accuracy outside (0, 0.1], unknown method or record_D2, or a failure of the solver (with its message).

    Example
    -------
    >>> sol = solve([1.0, 0.5], t_max=1.0, g=0.5, t_eval=[0.0, 1.0])
    >>> round(float(sol.risk[0]), 6)
    0.375

    Source: Collins-Woodfin et al., arXiv:2405.19585, eq. 8.
    """
    g, initial_D2 = _deprecated_names(g, learning_rate, initial_D2, initial)
    check_positive(t_max, "t_max")
    t_max = float(t_max)
    p = _setup(eigenvalues, weights, g, rule, noise_variance, initial_D2)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {', '.join(_METHODS)}; got {method!r}")
    if record_D2 not in (None, "atoms", "directions"):
        raise ValueError(f"record_D2 must be None, 'atoms' or 'directions'; got {record_D2!r}")
    if accuracy is not None and rtol is not None:
        raise ValueError("give accuracy (the requested relative error) or rtol (the integrator's), not both")
    if accuracy is not None:
        check_positive(accuracy, "accuracy")
        if not accuracy <= 0.1:
            raise ValueError(f"accuracy must lie in (0, 0.1]; got {accuracy!r}")
    elif rtol is None:
        accuracy = 1e-8
    else:
        check_positive(rtol, "rtol")
    from .highline import derive_limit
    ode = derive_limit() if ode is None else ode
    te = _check_t_eval(t_eval, t_max)
    if method == "auto":
        r0 = 0.5 * _dot(p.w * p.atoms, p.D0) + 0.5 * p.sigma2
        g0 = float(p.rule._numpy(r0, 0.0, float(p.w @ p.atoms), float(p.w @ p.atoms**2),
                                 _dot(p.w * p.atoms**2, p.D0), *p.rule.values()))
        method = choose_method(p.atoms, p.w, g0, t_max, accuracy if accuracy is not None else rtol, ode)
    if rtol is None:
        rtol = float(accuracy) * RTOL_PER_ACCURACY.get(method, 0.01)
    if atol is None:
        atol = 1e-150 * max(1.0, float(np.max(p.D0)))
    else:
        check_nonnegative(atol, "atol")
    with _single_threaded_blas():
        if method == "ETD2":
            out = _solve_etd2(p, t_max, te, rtol, atol, ode, record_D2)
        else:
            out = _solve_scipy(p, t_max, te, rtol, atol, ode, record_D2, method)
    out.accuracy = accuracy
    return out


def _deprecated_names(g, learning_rate, initial_D2, initial):
    if learning_rate is not _UNSET:
        warnings.warn("solve(learning_rate=...) is deprecated: the High Line's normalised rate is g = "
                      "learning_rate * d (step g/d); pass g=... (theory.highline.g_from_learning_rate converts)",
                      DeprecationWarning, stacklevel=3)
        if g is not None:
            raise ValueError("give g (learning_rate is its deprecated name), not both")
        g = learning_rate
    if initial is not _UNSET:
        warnings.warn("solve(initial=...) is deprecated: the High Line's initial value is D_i^2(0) = d e_{0,i}^2; "
                      "pass initial_D2=... (theory.highline.initial_D2_from_error converts)",
                      DeprecationWarning, stacklevel=3)
        initial_D2 = initial
    return g, initial_D2


class _Outputs:
    """Accumulates R, g_t, I (and D^2 on request) at the output times."""

    def __init__(self, p, te, record_D2, rate, hv, t1, t2, lw, l2w):
        self.p, self.te, self.record = p, te, record_D2
        self.rate, self.hv, self.t1, self.t2, self.lw, self.l2w = rate, hv, t1, t2, lw, l2w
        T = te.size
        self.risk, self.g, self.integral = np.empty(T), np.empty(T), np.empty(T)
        self.D2 = None
        if record_D2 == "atoms":
            self.D2 = np.empty((T, p.atoms.size))
        elif record_D2 == "directions":
            self.D2 = np.empty((T, p.index.size))
        self.j = 0

    def add(self, Y):
        """Y: (n_state, m) states at the next m output times (rows D_1..D_n, I[, P_1..P_n])."""
        n = self.p.atoms.size
        m = Y.shape[1]
        D = Y[:n]
        r = 0.5 * (self.lw @ D) + 0.5 * self.p.sigma2
        Ii = Y[n]
        sl = slice(self.j, self.j + m)
        self.risk[sl] = r
        self.integral[sl] = Ii
        self.g[sl] = np.broadcast_to(self.rate(r, Ii, self.t1, self.t2, self.l2w @ D, *self.hv), (m,))
        if self.record == "atoms":
            self.D2[sl] = D.T
        elif self.record == "directions":
            full = D[self.p.index].T
            if self.p.delta0 is not None:
                full = full + self.p.delta0 * Y[n + 1:][self.p.index].T
            self.D2[sl] = full
        self.j += m


def _needs_P(p, record_D2):
    return record_D2 == "directions" and p.delta0 is not None


def _solve_scipy(p, t_max, te, rtol, atol, ode, record_D2, method):
    atoms, w, n = p.atoms, p.w, p.atoms.size
    drift = ode._numpy_drift
    dDd = ode._numpy_drift_partials[1]
    t1, t2 = float(w @ atoms), float(w @ atoms**2)
    lw, l2w = w * atoms, w * atoms**2
    rate, hv = p.rule._numpy, p.rule.values()
    with_P = _needs_P(p, record_D2)
    counter = [0]

    weights = np.stack([lw, l2w])      # (2, n): both weighted sums in one matrix-vector product
    half_sigma2 = 0.5 * p.sigma2

    def rhs(_, y):
        # scalars as Python floats: the rule's arithmetic on them costs a third of NumPy scalars' (the
        # power-law claims spend most of their time here: 36 000 evaluations)
        counter[0] += 1
        D = y[:n]
        s1, s2 = weights.dot(D).tolist()
        r = 0.5 * s1 + half_sigma2
        gg = rate(r, float(y[n]), t1, t2, s2, *hv)
        out = np.empty_like(y)
        out[:n] = drift(gg, atoms, D, r)
        out[n] = r
        if with_P:
            out[n + 1:] = dDd(gg, atoms, D, r) * y[n + 1:]
        return out

    extra = {}
    if method in ("Radau", "BDF", "LSODA") and n <= _DENSE_JACOBIAN_ATOMS:
        extra["jac"] = _jacobian(p, ode, with_P)
    y0 = np.concatenate([p.D0, [0.0], np.ones(n) if with_P else []])
    # SciPy's initial-step guess divides by atol + rtol |y0|; with a relative error control and I(0) = 0
    # (or D^2(0) = 0) it returns ~1e-150 and the solver spends hundreds of steps growing it back.
    # Start instead at a step resolving the fastest mode: 0.05 rtol^(1/8) / max_j |d drift/d D_j^2|.
    r0 = 0.5 * _dot(lw, p.D0) + 0.5 * p.sigma2
    g0 = rate(r0, 0.0, t1, t2, _dot(l2w, p.D0), *hv)
    a_max = float(np.max(np.abs(np.broadcast_to(dDd(g0, atoms, p.D0, r0), (n,)))))
    extra["first_step"] = min(0.1 * t_max, 0.05 * rtol ** 0.125 / max(a_max, 1e-300))
    outs = _Outputs(p, te, record_D2, rate, hv, t1, t2, lw, l2w)
    j = int(np.searchsorted(te, 0.0, side="right"))
    if j:
        outs.add(np.repeat(y0[:, None], j, axis=1))
    if j < te.size:
        solver = _SOLVERS[method](rhs, 0.0, y0, t_max, rtol=rtol, atol=atol, **extra)
        while j < te.size:
            t_old = solver.t
            msg = solver.step()
            if solver.status == "failed":
                raise ValueError(f"the ODE solver failed: {msg}")
            k = te.size if solver.status == "finished" else int(np.searchsorted(te, solver.t, side="right"))
            if k > j:
                if solver.t == te[k - 1] and k == j + 1:
                    outs.add(solver.y[:, None])
                else:
                    outs.add(solver.dense_output()(np.clip(te[j:k], t_old, solver.t)).reshape(y0.size, -1))
                j = k
    return ODESolution(te.copy(), outs.risk, outs.g, outs.integral, outs.D2, atoms, w, rtol, atol, method,
                       counter[0])


def _jacobian(p, ode, with_P):
    """The exact (n+1[+n])^2 Jacobian: diagonal + rank-two coupling through R and M_2 (for implicit methods)."""
    atoms, w, n = p.atoms, p.w, p.atoms.size
    t1, t2 = float(w @ atoms), float(w @ atoms**2)
    lw, l2w = w * atoms, w * atoms**2
    rate, hv = p.rule._numpy, p.rule.values()
    dgd, dDd, dRd = ode._numpy_drift_partials
    gR, gI, gM = p.rule._numpy_partials
    dR_dD = 0.5 * lw
    size = 2 * n + 1 if with_P else n + 1

    def jac(_, y):
        D, Ii = y[:n], y[n]
        r = 0.5 * _dot(lw, D) + 0.5 * p.sigma2
        args = (r, Ii, t1, t2, _dot(l2w, D), *hv)
        gg = rate(*args)
        dg_dD = gR(*args) * dR_dD + gM(*args) * l2w
        fg = np.broadcast_to(dgd(gg, atoms, D, r), (n,))
        J = np.zeros((size, size))
        J[:n, :n] = np.outer(fg, dg_dD) + np.outer(np.broadcast_to(dRd(gg, atoms, D, r), (n,)), dR_dD)
        diag = np.broadcast_to(dDd(gg, atoms, D, r), (n,))
        J[np.arange(n), np.arange(n)] += diag
        J[:n, n] = fg * gI(*args)
        J[n, :n] = dR_dD
        if with_P:
            # dP/dt = a(g, lambda) P with a = d drift/dD^2 (depends on the state through g only for SGD)
            idx = np.arange(n)
            J[n + 1 + idx, n + 1 + idx] = diag
        return J

    return jac


def _phi1(z):
    """(1 - e^{-z})/z, = 1 at z = 0."""
    nz = z > 0
    if nz.all():
        return -np.expm1(-z) / z
    out = np.ones_like(z)
    out[nz] = -np.expm1(-z[nz]) / z[nz]
    return out


def _psi(z):
    """(1 - e^{-z}(1 + z))/z^2, = 1/2 at z = 0 (series below z = 1e-2, error < 2e-16)."""
    small = z < 1e-2
    if small.all():
        return 0.5 + z * (-1 / 3 + z * (1 / 8 + z * (-1 / 30 + z * (1 / 144 - z / 840))))
    if not small.any():
        return (-np.expm1(-z) - z * np.exp(-z)) / z**2
    out = np.empty_like(z)
    zs = z[small]
    out[small] = 0.5 + zs * (-1 / 3 + zs * (1 / 8 + zs * (-1 / 30 + zs * (1 / 144 - zs / 840))))
    zb = z[~small]
    out[~small] = (-np.expm1(-zb) - zb * np.exp(-zb)) / zb**2
    return out


def _solve_etd2(p, t_max, te, rtol, atol, ode, record_D2):
    r"""Adaptive second-order exponential time differencing for the High Line ODE.

    The drift is affine in D_i^2: dD_i^2/dt = -a_i D_i^2 + c_i with a_i, c_i depending on the
    state only through the scalars g_t and R(t). Over a step [t, t + h] the scheme freezes
    a_i at the average of its end values and takes c_i linear in time, and integrates each
    mode exactly:

    .. math:: D_i(t+h) = e^{-z_i} D_i(t) + h\,[c_i(t)\,\psi(z_i) + c_i(t+h)(\varphi_1(z_i) - \psi(z_i))],
              \quad z_i = a_i h,\ \varphi_1(z) = \frac{1 - e^{-z}}{z},\ \psi(z) = \frac{1 - e^{-z}(1+z)}{z^2},

    with the end values from the first-order predictor D_i e^{-z_i} + h phi_1(z_i) c_i(t)
    (exponential Euler); I = int R by the trapezoidal rule. The difference between predictor
    and corrector estimates the local error (weighted RMS norm with ``rtol``, ``atol`` as in
    SciPy); steps are accepted when it is <= 1 and resized by 0.9 err^{-1/2}, within [0.2, 5].
    Stiffness (2 g lambda_max h >> 1) costs nothing: the modes are integrated exactly. Each step
    costs two evaluations of O(n) vector operations; second order, so the cost grows like
    accuracy^{-1/2}: the choice for stiff spectra with many atoms at moderate accuracy.
    Output times are hit exactly (the step is shortened to the next one). With
    ``record_D2="directions"`` the factor P_j = exp(-int a_j) of the deviations is carried along.
    """
    atoms, w, n = p.atoms, p.w, p.atoms.size
    drift = ode._numpy_drift
    rate, hv = p.rule._numpy, p.rule.values()
    t1, t2 = float(w @ atoms), float(w @ atoms**2)
    lw, l2w = w * atoms, w * atoms**2
    with_P = _needs_P(p, record_D2)
    counter = [0]

    def coeffs(D, Ii):
        counter[0] += 1
        r = 0.5 * _dot(lw, D) + 0.5 * p.sigma2
        gg = float(rate(r, Ii, t1, t2, _dot(l2w, D), *hv))
        c = drift(gg, atoms, 0.0, r)
        a = c - drift(gg, atoms, 1.0, r)
        return np.broadcast_to(a, (n,)), np.broadcast_to(c, (n,)), r

    outs = _Outputs(p, te, record_D2, rate, hv, t1, t2, lw, l2w)

    def state(D, Ii, logP):
        return np.concatenate([D, [Ii], np.exp(logP) if with_P else []])[:, None]

    D, Ii, t, logP = p.D0.astype(float).copy(), 0.0, 0.0, np.zeros(n)
    a0, c0, r0 = coeffs(D, Ii)
    h = min(t_max, 0.01 / max(float(np.max(a0)), 1e-12) + 1e-3 * t_max)
    j = 0
    while j < te.size and te[j] <= t:
        outs.add(state(D, Ii, logP))
        j += 1
    while j < te.size:
        h = min(h, te[j] - t)
        z0 = a0 * h
        Dp = np.exp(-z0) * D + h * _phi1(z0) * c0
        Ip = Ii + h * r0
        a1, c1, r1 = coeffs(Dp, Ip)
        z = 0.5 * (a0 + a1) * h
        ps, p1 = _psi(z), _phi1(z)
        Dc = np.exp(-z) * D + h * (c0 * ps + c1 * (p1 - ps))
        Ic = Ii + 0.5 * h * (r0 + r1)
        scale = atol + rtol * np.abs(Dc)
        err = np.sqrt((np.sum(((Dc - Dp) / scale) ** 2) + ((Ic - Ip) / (atol + rtol * abs(Ic))) ** 2) / (n + 1))
        if err <= 1.0:
            t += h
            D, Ii = Dc, Ic
            if with_P:
                logP = logP - z
            a0, c0, r0 = coeffs(D, Ii)
            while j < te.size and te[j] <= t * (1 + 1e-14):
                outs.add(state(D, Ii, logP))
                j += 1
        fac = 5.0 if err == 0 else min(5.0, max(0.2, 0.9 * err ** -0.5))
        h = h * fac
        if h < 1e-14 * max(t_max, 1.0):
            raise ValueError(f"the ETD2 step size underflowed at t = {t}")
    return ODESolution(te.copy(), outs.risk, outs.g, outs.integral, outs.D2, atoms, w, rtol, atol, "ETD2",
                       counter[0])


def solve_mp(eigenvalues, t_values, *, g=None, rule=None, noise_variance=0, initial_D2=1, weights=None, dps=30,
             ode=None, learning_rate=_UNSET, initial=_UNSET):
    r"""Integrate the High Line ODE in high precision with ``mpmath.odefun`` (Taylor series method).

    Same system as :func:`solve` (same argument names; equal atoms merged the same way, the per-atom
    initial value being the weighted mean); every quantity is an ``mpmath.mpf`` at ``dps`` decimal
    digits (the Taylor method's local error is controlled at that working precision).
    Intended for a few distinct eigenvalues (two-class spectra, K = lambda I).

    Returns a dict with lists (one entry per time in ``t_values``) of ``risk``, ``g``
    (``learning_rate`` is a deprecated key holding the same list), ``integral`` and ``D2`` (lists of
    mpf per atom).

    Raises ValueError as :func:`solve`.

    Example
    -------
    >>> out = solve_mp([1.0], [0, 1], g=1, dps=20)
    >>> mpmath.nstr(out["risk"][1], 12)   # K = I, g = 1: R(t) = R(0) e^{-t}
    '0.183939720586'
    """
    from .highline import LearningRateRule, constant_g, derive_limit
    g, initial_D2 = _deprecated_names(g, learning_rate, initial_D2, initial)
    with mpmath.workdps(dps):
        lam = check_eigenvalues(eigenvalues)
        raw = list(eigenvalues) if isinstance(eigenvalues, (list, tuple)) else list(np.atleast_1d(eigenvalues))
        if weights is None:
            w_in = [mpmath.mpf(1) / len(raw)] * len(raw)
        else:
            _check_weights(weights, lam)
            w_in = [mpmath.mpf(x) for x in weights]
        ini = initial_D2 if isinstance(initial_D2, (list, tuple, np.ndarray)) else [initial_D2] * len(raw)
        _initial_D2(np.asarray([float(x) for x in ini]), len(raw))
        # merge equal atoms exactly (weighted mean of the initial values), in decreasing order
        groups = {}
        for lv, wv, Dv in zip(raw, w_in, ini):
            key = float(lv)
            a, W, S = groups.get(key, (mpmath.mpf(lv), mpmath.mpf(0), mpmath.mpf(0)))
            groups[key] = (a, W + wv, S + wv * mpmath.mpf(Dv))
        keys = sorted(groups, reverse=True)
        atoms = [groups[k][0] for k in keys]
        tot = mpmath.fsum(groups[k][1] for k in keys)
        w = [groups[k][1] / tot for k in keys]
        D0 = [groups[k][2] / groups[k][1] for k in keys]
        n = len(atoms)
        if (g is None) == (rule is None):
            raise ValueError("give exactly one of g (a fixed normalised learning rate g > 0, step g/d) and rule "
                             "(a LearningRateRule)")
        rule = constant_g(g) if rule is None else rule
        if not isinstance(rule, LearningRateRule):
            raise ValueError(f"rule must be a theory.highline.LearningRateRule; got {rule!r}")
        check_nonnegative(noise_variance, "noise_variance")
        sigma2 = mpmath.mpf(noise_variance)
        ode = derive_limit() if ode is None else ode
        drift, rate, hv = ode._mp_drift, rule._mp, rule.values(mp=True)
        t1 = mpmath.fsum(a * x for a, x in zip(atoms, w))
        t2 = mpmath.fsum(a * a * x for a, x in zip(atoms, w))

        def parts(y):
            r = mpmath.fsum(x * a * Di for x, a, Di in zip(w, atoms, y[:n])) / 2 + sigma2 / 2
            m2 = mpmath.fsum(x * a * a * Di for x, a, Di in zip(w, atoms, y[:n]))
            return r, rate(r, y[n], t1, t2, m2, *hv)

        def F(_, y):
            r, gg = parts(y)
            return [drift(gg, a, Di, r) for a, Di in zip(atoms, y[:n])] + [r]

        f = mpmath.odefun(F, 0, D0 + [mpmath.mpf(0)])
        out = {"t": [], "risk": [], "g": [], "integral": [], "D2": []}
        for tv in t_values:
            y = f(mpmath.mpf(tv))
            r, gg = parts(y)
            out["t"].append(mpmath.mpf(tv))
            out["risk"].append(r)
            out["g"].append(gg)
            out["integral"].append(y[n])
            out["D2"].append(list(y[:n]))
        out["learning_rate"] = out["g"]
        return out


def relative_error(approx, reference):
    """max |approx / reference - 1| over the entries (the error measure of ``accuracy``)."""
    a, r = np.asarray(approx, dtype=float), np.asarray(reference, dtype=float)
    return float(np.max(np.abs(a / r - 1))) if a.size else 0.0

