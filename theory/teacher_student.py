r"""Finite training sets: a linear teacher--student model with fast and slow features.

The model (Pezeshki, Mitra, Bengio, Lajoie, "Multi-scale feature learning dynamics: insights
for double descent", arXiv:2112.03215, ICML 2022, Sec. 2): a teacher w ~ N(0, I_d); inputs
z ~ N(0, I_d / d) seen by the student through the features x = F z with
F = diag(1 (p times), 1/kappa (d - p times)); n training pairs y = <z, w> + noise of variance
sigma^2. The student w_hat minimises the training loss 1/2 ||X w_hat - y||^2 from w_hat = 0
by gradient flow (time t), gradient descent (k steps of learning rate eta; time t = k eta) or
is the ridge solution at lambda.

Normalisation (stated, as in the paper's Eq. 3-4; the public code's ``misc.py`` drops the 1/2):
the test error is E_G = 1/2 E (<x_test, w_hat> - <z_test, w>)^2 with a *noiseless* test label,
and the training error is E_T = 1/(2n) E ||X w_hat - y||^2. With the order parameters
R = <w, F w_hat> / d and Q = ||F w_hat||^2 / d, E_G = 1/2 (1 - 2R + Q) after averaging the
teacher (E ||w||^2 / d = 1).

Derivation (here, from the update rule). In the eigenbasis A = X^T X = V diag(s) V^T the
training dynamics decouple: the coordinate u_a = (V^T w_hat)_a obeys du/dt = -(s_a u - b_a)
(b = V^T X^T y), whose solution SymPy derives (:func:`spectral_filter`) as
u_a = g(s_a) b_a with g the method's *filter*; phi(s) = s g(s) is the fraction of direction a
that has been fitted. w_hat = V g V^T X^T y is linear in (w, noise); averaging the teacher and
the noise exactly, for the fixed design X,

.. math::
   E_G = \frac{1}{2d}\Big[\phi^T M \phi - 2\sum_a \phi_a + d
         + \sigma^2 \sum_a \frac{\phi_a^2}{s_a} N_{aa}\Big],\qquad
   M = (V^T F^2 V) \circ (V^T F^{-2} V),\ N = V^T F^2 V,

   E_T = \frac{1}{2n}\Big[\sum_a (1-\phi_a)^2 s_a C_{aa}
         + \sigma^2 \Big(\sum_{s_a > 0} (1-\phi_a)^2 + n - \mathrm{rank} A\Big)\Big],\ C = V^T F^{-2} V,

R = (1/d) sum_a phi_a and Q = 2 E_G - 1 + 2R. Restricting the sum over the coordinates j of
F w_hat - w to the fast (j < p) or the slow block splits E_G = E_fast + E_slow (the paper's
explanation of the double descent: the fast features overfit while the slow ones start to fit).
Directions with s_a = 0 (n < d) are never fitted (phi = 0); eigenvalues below
d * eps * s_max are treated as exact zeros.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .diskcache import persistent
from .validation import check_integer, check_nonnegative, check_positive

__all__ = [
    "EIGENVALUE",
    "LEARNING_RATE",
    "METHODS",
    "RIDGE",
    "STEPS",
    "TIME",
    "AveragedCurves",
    "Extremum",
    "TeacherStudentCurves",
    "TwoScaleTeacherStudent",
    "crossings",
    "expected_test_error_expression",
    "locate_extremum",
    "spectral_filter",
]

EIGENVALUE = sp.Symbol("s_a", nonnegative=True)
TIME = sp.Symbol("t", nonnegative=True)
LEARNING_RATE = sp.Symbol("eta", positive=True)
RIDGE = sp.Symbol("lambda", positive=True)
STEPS = sp.Symbol("k", integer=True, nonnegative=True)
METHODS = ("flow", "gd", "ridge")
_B = sp.Symbol("b_a", real=True)


@persistent
def spectral_filter(method: str) -> sp.Expr:
    r"""The fitted fraction phi(s) = s g(s) of an eigendirection of X^T X, derived by SymPy.

    The coordinate u = (V^T w_hat)_a of the student along an eigenvector of A = X^T X with
    eigenvalue s = ``EIGENVALUE`` and target b = (V^T X^T y)_a evolves by

    * ``"flow"``: du/dt = -(s u - b), u(0) = 0 (``sympy.dsolve``): phi = 1 - exp(-s t);
    * ``"gd"``: u_{k+1} = u_k - eta (s u_k - b), u_0 = 0 (``sympy.rsolve``): phi = 1 - (1 - eta s)^k;
    * ``"ridge"``: u minimises 1/2 (s u^2 - 2 b u) + lambda/2 u^2 (``sympy.solve``): phi = s/(s + lambda).

    Returns the SymPy expression of phi in ``EIGENVALUE`` and ``TIME`` / ``LEARNING_RATE`` and
    ``STEPS`` / ``RIDGE``. Raises ValueError for another method.

    Example
    -------
    >>> spectral_filter("gd")
    1 - (-eta*s_a + 1)**k
    """
    s, u = EIGENVALUE, sp.Function("u")
    if method == "flow":
        sol = sp.dsolve(sp.Eq(u(TIME).diff(TIME), -(s * u(TIME) - _B)), u(TIME), ics={u(0): 0}).rhs
    elif method == "gd":
        sol = sp.rsolve(u(STEPS + 1) - u(STEPS) + LEARNING_RATE * (s * u(STEPS) - _B), u(STEPS), {u(0): 0})
    elif method == "ridge":
        v = sp.Symbol("u")
        sol = sp.solve(sp.diff((s * v**2 - 2 * _B * v) / 2 + RIDGE * v**2 / 2, v), v)[0]
    else:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    return sp.expand(sp.simplify(s * sol / _B))


def expected_test_error_expression() -> sp.Expr:
    r"""The per-design test error E_G as a SymPy expression in the filter values phi_a, with
    M, N as in the module docstring (d, sigma^2 symbols; sums unevaluated), for LaTeX."""
    d, a, b = sp.symbols("d a b", integer=True, positive=True)
    phi, M, N, s = sp.IndexedBase("phi"), sp.IndexedBase("M"), sp.IndexedBase("N"), sp.IndexedBase("s")
    sig2 = sp.Symbol("sigma^2", nonnegative=True)
    return (sp.Sum(phi[a] * phi[b] * M[a, b], (a, 1, d), (b, 1, d)) - 2 * sp.Sum(phi[a], (a, 1, d)) + d
            + sig2 * sp.Sum(phi[a] ** 2 / s[a] * N[a, a], (a, 1, d))) / (2 * d)


@functools.cache
def _numeric_filter(method: str, stable: bool = False):
    """The derived filter lambdified; ``stable``: first rewritten by SymPy for floating point
    (powers as exponentials, then ``sympy.codegen.rewriting``'s expm1 and log1p rules:
    1 - exp(-s t) -> -expm1(-s t), 1 - (1 - eta s)^k -> -expm1(k log1p(-eta s))), which has no
    cancellation for small s and costs one ``exp`` instead of one ``pow`` per value; for ``"gd"``
    valid only where 1 - eta s > 0. Measured against mpmath (``tests/test_teacher_student.py``):
    1e-16 absolute where the plain form loses up to 1e-12."""
    from .compiled import from_source
    return from_source(_filter_source(method, stable))


@persistent
def _filter_source(method: str, stable: bool) -> str:
    """The source of :func:`_numeric_filter`'s function (SymPy's rewriting and ``lambdify`` once per machine,
    :mod:`theory.compiled`)."""
    from .compiled import lambdify_source
    args = {"flow": (EIGENVALUE, TIME), "gd": (EIGENVALUE, LEARNING_RATE, STEPS),
            "ridge": (EIGENVALUE, RIDGE)}[method]
    expr = spectral_filter(method)
    if stable:
        from sympy.codegen.rewriting import expm1_opt, log1p_opt, optimize
        expr = optimize(expr.rewrite(sp.exp), [expm1_opt, log1p_opt])
    return lambdify_source(args, expr)


@dataclass(frozen=True)
class Extremum:
    """A local extremum of a curve against log t: ``time`` and ``height`` with standard errors
    (over designs; delta method, see :func:`locate_extremum`)."""

    kind: str
    time: float
    time_se: float
    height: float
    height_se: float


@dataclass(frozen=True)
class TeacherStudentCurves:
    """Exact expected curves for one design (expectation over teacher and label noise).

    ``times`` (T,) are gradient-flow times t (``"gd"``: t = k eta; ``"ridge"``: the ridge
    parameters lambda); the other arrays have shape (T,)."""

    times: np.ndarray
    test_error: np.ndarray
    training_error: np.ndarray
    test_error_fast: np.ndarray
    test_error_slow: np.ndarray
    R: np.ndarray
    Q: np.ndarray


_FIELDS = ("test_error", "training_error", "test_error_fast", "test_error_slow", "R", "Q")


@dataclass(frozen=True)
class AveragedCurves:
    """Per-design exact curves averaged over ``designs`` drawn designs: ``mean`` and
    ``standard_error`` of each field of :class:`TeacherStudentCurves` (dicts by field name),
    the per-design test errors ``per_design`` (designs, T), and the ``first_minimum`` and
    ``peak`` of the mean test error (None when the curve has none)."""

    times: np.ndarray
    mean: dict
    standard_error: dict
    per_design: np.ndarray
    first_minimum: Extremum | None
    peak: Extremum | None


def locate_extremum(times, per_design, kind, start=0):
    r"""The first local ``kind`` ("min" or "max") of the mean of ``per_design`` (designs, T) over
    the log-spaced grid ``times``, from index ``start``; None if there is none in the interior
    (steps smaller than 1e-9 of the curve's maximum count as flat: rounding makes no extremum).

    Located by a parabola through the grid extremum and its neighbours in u = log t. Standard
    errors over designs by the delta method: the location solves D(u) = 0 for the derivative D
    of the mean curve, so se(u*) = se(D(u*)) / |D'(u*)| with se(D) from the per-design finite
    differences; se(t*) = t* se(u*); se(height) = the standard error of the mean curve at t*.
    """
    y = np.asarray(per_design, dtype=float)
    u = np.log(np.asarray(times, dtype=float))
    m = y.mean(axis=0)
    sign = 1.0 if kind == "min" else -1.0
    dm = sign * np.diff(m)
    dm[np.abs(dm) <= 1e-9 * np.max(np.abs(m))] = 0.0    # flat to rounding: neither falls nor rises
    for i in range(max(start, 1), len(u) - 1):
        if dm[i - 1] < 0 and dm[i] > 0:
            break
    else:
        return None
    h0, h1 = u[i] - u[i - 1], u[i + 1] - u[i]
    d_lo, d_hi = (y[:, i] - y[:, i - 1]) / h0, (y[:, i + 1] - y[:, i]) / h1
    curv = (d_hi - d_lo) / ((h0 + h1) / 2)            # per-design second derivative
    slope = (d_lo * h1 + d_hi * h0) / (h0 + h1)         # per-design first derivative at u_i
    c, g = curv.mean(), slope.mean()
    shift = -g / c if c != 0 else 0.0
    shift = float(np.clip(shift, -h0, h1))
    ustar = u[i] + shift
    k = y.shape[0]
    se_slope = slope.std(ddof=1) / np.sqrt(k) if k > 1 else float("nan")
    se_u = se_slope / abs(c) if c != 0 else float("inf")
    hd = y[:, i] + shift * slope + 0.5 * shift**2 * curv
    return Extremum(kind, float(np.exp(ustar)), float(np.exp(ustar) * se_u), float(hd.mean()),
                    float(hd.std(ddof=1) / np.sqrt(k)) if k > 1 else float("nan"))


def crossings(times, a, b) -> np.ndarray:
    """The times where the curves ``a`` and ``b`` (same shape as ``times``, log-spaced) cross: the sign
    changes of a - b between grid points, each located by linear interpolation of a - b in log t (an
    exact zero on a grid point is not reported). Used for the fast and
    slow components of E_G (the paper's explanation of the double descent: the fast features' error
    rises back above the slow features' between the first minimum and the peak)."""
    u = np.log(np.asarray(times, dtype=float))
    g = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    i = np.flatnonzero(np.sign(g[:-1]) * np.sign(g[1:]) < 0)
    return np.exp(u[i] - g[i] * (u[i + 1] - u[i]) / (g[i + 1] - g[i]))


@dataclass(frozen=True)
class TwoScaleTeacherStudent:
    r"""The two-scale linear teacher--student model (module docstring).

    Parameters
    ----------
    n : int >= 1            number of training pairs
    d : int >= 1            dimension
    p : int in [0, d]       number of fast features (scale 1); the other d - p have scale 1/kappa
    kappa : float > 0       ratio of the fast to the slow feature scale (kappa = 1: one scale)
    noise_variance : float >= 0   variance sigma^2 of the training labels' noise

    Raises ValueError naming the argument and its allowed range.

    Example
    -------
    >>> m = TwoScaleTeacherStudent(130, 100, 70, 100.0)
    >>> X = m.sample_design(np.random.default_rng(0))
    >>> c = m.curves(X, [1e-6, 1e9])
    >>> [round(float(e), 3) for e in c.test_error]    # E_G(0) = 1/2; n > d: interpolates the teacher
    [0.5, 0.0]

    Source: Pezeshki et al., arXiv:2112.03215, Sec. 2 and Eq. 3-4 (model), Fig. 1 (setting).
    """

    n: int
    d: int
    p: int
    kappa: float
    noise_variance: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "n", check_integer(self.n, "n"))
        object.__setattr__(self, "d", check_integer(self.d, "d"))
        p = check_integer(self.p, "p", minimum=0)
        if p > self.d:
            raise ValueError(f"p must be an integer in [0, d = {self.d}]; got {self.p!r}")
        object.__setattr__(self, "p", p)
        check_positive(self.kappa, "kappa")
        check_nonnegative(self.noise_variance, "noise_variance")

    def latex(self) -> str:
        """The derived filters and the per-design test error as amsmath ``align*`` (the model's
        parameters are left symbolic: the formulas hold for every n, d, p, kappa, sigma^2)."""
        names = {EIGENVALUE: "s_a", LEARNING_RATE: r"\eta", RIDGE: r"\lambda"}
        rows = [rf"\phi^{{\mathrm{{{m}}}}}(s_a) &= " + sp.latex(spectral_filter(m), symbol_names=names)
                for m in METHODS]
        rows.append(r"E_G &= " + sp.latex(expected_test_error_expression()))
        rows.append(r"M &= (V^\top F^2 V) \circ (V^\top F^{-2} V),\quad N = V^\top F^2 V,\quad "
                    r"F = \mathrm{diag}(1_p, \kappa^{-1} 1_{d-p})")
        return "\\begin{align*}\n" + " \\\\\n".join(rows) + "\n\\end{align*}"

    @property
    def scales(self) -> np.ndarray:
        """The diagonal of F, shape (d,): 1 on the p fast features, 1/kappa on the slow ones."""
        f = np.ones(self.d)
        f[self.p:] = 1.0 / float(self.kappa)
        return f

    def sample_design(self, rng, designs: int | None = None) -> np.ndarray:
        """Draw the design X = Z F, Z with i.i.d. N(0, 1/d) entries: shape (n, d), or
        (designs, n, d) when ``designs`` is given."""
        shape = (self.n, self.d) if designs is None else (check_integer(designs, "designs"), self.n, self.d)
        return rng.standard_normal(shape) / np.sqrt(self.d) * self.scales

    def _check_design(self, X) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        if X.shape != (self.n, self.d) or not np.all(np.isfinite(X)):
            raise ValueError(f"X must be a finite array of shape (n, d) = ({self.n}, {self.d}); got shape {X.shape}")
        return X

    def filter_values(self, s, times, method="flow", learning_rate=None):
        """phi (..., T, d): the derived filter (:func:`spectral_filter`) at eigenvalues ``s`` (..., d):
        one design's (d,) or a stack of designs' (R, d).

        ``method="flow"``: ``times`` are t; ``"gd"``: t = k eta, k = t / ``learning_rate`` steps
        (need not be an integer while eta s_max <= 1 on that design: the analytic continuation of the
        filter; otherwise ValueError); ``"ridge"``: ``times`` are the ridge parameters lambda > 0."""
        t = np.asarray(times, dtype=float)[:, None]
        if t.ndim != 2 or not np.all(np.isfinite(t)) or np.any(t < 0):
            raise ValueError("times must be a finite 1-d array of numbers >= 0")
        s = np.asarray(s, dtype=float)[..., None, :]
        if method == "flow":
            return _numeric_filter("flow", True)(s, t)
        if method == "gd":
            if learning_rate is None:
                raise ValueError("method='gd' needs learning_rate > 0")
            check_positive(learning_rate, "learning_rate")
            smax = s.max(axis=-1, keepdims=True)                    # per design (..., 1, 1)
            if np.max(smax) * learning_rate >= 2:
                raise ValueError(f"learning_rate must lie in (0, 2 / s_max = {2 / np.max(smax):.6g}) for gradient "
                                 f"descent on this design to converge; got {learning_rate!r}")
            k = t / float(learning_rate)
            if np.max(smax) * learning_rate < 1:      # every base 1 - eta s > 0: the stable form
                return _numeric_filter("gd", True)(s, float(learning_rate), k)
            if np.max(smax) * learning_rate > 1:
                if np.any(np.abs(k - np.round(k)) > 1e-9 * np.maximum(1.0, k)):
                    raise ValueError("times / learning_rate must be whole step counts when learning_rate * s_max > 1 "
                                     f"(the filter (1 - eta s)^k has a negative base; s_max = {np.max(smax):.6g})")
                k = np.where(smax * learning_rate > 1, np.round(k), k)
            return _numeric_filter("gd")(s, float(learning_rate), k)
        if method == "ridge":
            if np.any(t <= 0):
                raise ValueError("method='ridge' needs ridge parameters lambda > 0 in times")
            return _numeric_filter("ridge")(s, t)
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")

    def curves(self, X, times, method="flow", learning_rate=None, *, spectrum=None) -> TeacherStudentCurves:
        """The exact expected test and training errors, fast/slow split, R and Q of design ``X``
        (n, d) at ``times`` (module docstring for the formulas; :meth:`filter_values` for
        ``method``). ``spectrum``: ``numpy.linalg.eigh(X.T @ X)`` of this X, to share one
        eigendecomposition between calls with several methods (computed here when None).
        Raises ValueError for a design of the wrong shape or bad times/method."""
        X = self._check_design(X)
        spectra = None if spectrum is None else (np.asarray(spectrum[0])[None], np.asarray(spectrum[1])[None])
        c = self.design_curves(X[None], times, method, learning_rate, spectra=spectra)
        return TeacherStudentCurves(c.times, *(getattr(c, k)[0] for k in _FIELDS))

    def design_curves(self, designs, times, method="flow", learning_rate=None, *, spectra=None,
                      chunk: int = 64) -> TeacherStudentCurves:
        """:meth:`curves` of every design of ``designs`` (R, n, d) at once (batched matrix products,
        ``chunk`` designs at a time): a :class:`TeacherStudentCurves` whose arrays have shape (R, T).
        ``spectra``: (s (R, d), V (R, d, d)) of ``numpy.linalg.eigh`` of every X^T X, or a list of R
        pairs (s, V) (``verify.teacher_student.design_spectra``); computed here when None. The same
        numbers as :meth:`curves` design by design (``tests/test_teacher_student.py``).

        Raises ValueError for designs of the wrong shape or bad times/method.

        Example
        -------
        >>> m = TwoScaleTeacherStudent(30, 20, 10, 4.0)
        >>> c = m.design_curves(m.sample_design(np.random.default_rng(0), designs=3), [0.0, 5.0])
        >>> c.test_error.shape, [round(float(e), 3) for e in c.test_error[:, 0]]      # E_G(0) = 1/2
        ((3, 2), [0.5, 0.5, 0.5])
        """
        S, W, R = self._spectra(designs, spectra)
        chunk = check_integer(chunk, "chunk")
        parts = [self._curves_chunk(S[i:i + chunk], W[i:i + chunk], times, method, learning_rate)
                 for i in range(0, R, chunk)]
        return TeacherStudentCurves(np.asarray(times, dtype=float),
                                    *(np.concatenate([p[k] for p in parts]) for k in range(len(_FIELDS))))

    def design_test_error(self, designs, times, method="flow", learning_rate=None, *, spectra=None,
                          chunk: int = 64) -> np.ndarray:
        """The exact expected test error E_G (R, T) of every design of ``designs`` (R, n, d) at ``times``:
        ``design_curves(...).test_error`` (same arguments) without the other fields, the fast and slow
        blocks summed before the quadratic form (the module docstring's M = (V^T F^2 V) o (V^T F^-2 V):
        one matrix product per design instead of two). Equal to ``design_curves`` to rounding
        (``tests/test_teacher_student.py``). Raises ValueError as :meth:`design_curves`.

        >>> m = TwoScaleTeacherStudent(30, 20, 10, 4.0)
        >>> [round(float(e), 3) for e in m.design_test_error(m.sample_design(np.random.default_rng(0), 3), [0.0])[:, 0]]
        [0.5, 0.5, 0.5]
        """
        S, W, R = self._spectra(designs, spectra)
        chunk = check_integer(chunk, "chunk")
        return np.concatenate([self._test_error_chunk(S[i:i + chunk], W[i:i + chunk], times, method, learning_rate)
                               for i in range(0, R, chunk)])

    def _spectra(self, designs, spectra):
        """(s (R, d), V (R, d, d), R) of the designs (validated), ``spectra`` as :meth:`design_curves` takes it."""
        Xs = np.asarray(designs, dtype=float)
        if Xs.ndim != 3 or Xs.shape[1:] != (self.n, self.d) or not np.all(np.isfinite(Xs)):
            raise ValueError(f"designs must be a finite array of shape (R, n, d) = (R, {self.n}, {self.d}); "
                             f"got shape {Xs.shape}")
        if spectra is None:
            spectra = np.linalg.eigh(Xs.transpose(0, 2, 1) @ Xs)
        elif isinstance(spectra, list):
            spectra = (np.array([e[0] for e in spectra]), np.array([e[1] for e in spectra]))
        return spectra[0], spectra[1], Xs.shape[0]

    def _prepared(self, s, V, times, method, learning_rate):
        """(s with exact zeros, zero mask (r, d), phi (r, T, d), V^T F^-2 V (r, d, d), phi^2 / s (r, T, d),
        G = V_slow^T V_slow (r, d, d) or None for kappa = 1)."""
        zero = s <= self.d * np.finfo(float).eps * np.maximum(s.max(axis=1), 1e-300)[:, None]
        s = np.where(zero, 0.0, s)
        phi = self.filter_values(s, times, method, learning_rate)             # (r, T, d)
        phi = np.where(zero[:, None, :], 0.0, phi)
        # F has two scales: V^T F^q V = V_fast^T V_fast + kappa^-q V_slow^T V_slow = I + (kappa^-q - 1) G with
        # G = V_slow^T V_slow (V orthogonal): one product with the d - p slow rows instead of one per power
        G = None if float(self.kappa) == 1.0 else self._slow_gram(V)
        inv = self._gram_power(G, V.shape, -2)                                # V^T F^-2 V
        with np.errstate(divide="ignore", invalid="ignore"):
            noise_w = np.where(zero[:, None, :], 0.0, phi**2 / np.where(zero, 1.0, s)[:, None, :])
        return s, zero, phi, inv, noise_w, G

    def _slow_gram(self, V):
        """G = V_slow^T V_slow, shape (r, d, d)."""
        return V[:, self.p:].transpose(0, 2, 1) @ V[:, self.p:]

    def _gram_power(self, G, shape, q):
        """V^T F^q V = I + (kappa^-q - 1) G (module docstring of :meth:`_prepared`), shape (r, d, d)."""
        eye = np.broadcast_to(np.eye(self.d), shape)
        return eye.copy() if G is None else eye + (float(self.kappa) ** -q - 1.0) * G

    def _block_error(self, V, phi, inv, noise_w, block, G):
        """The part of E_G (r, T) from the coordinates in ``block``: ``"fast"``, ``"slow"`` or ``"all"``."""
        sel = {"fast": slice(0, self.p), "slow": slice(self.p, self.d), "all": slice(0, self.d)}[block]
        Vb = V[:, sel]
        if block == "all":
            N = self._gram_power(G, V.shape, 2)                                       # V^T F^2 V
        else:
            Gs = self._slow_gram(V) if G is None else G                                  # V_slow^T V_slow
            N = (np.broadcast_to(np.eye(self.d), V.shape) - Gs if block == "fast"       # V_fast^T V_fast
                 else Gs / float(self.kappa) ** 2)
        D = (Vb * Vb).sum(axis=1)                                                    # diag(V^T 1_block V)
        quad = ((phi @ (N * inv)) * phi).sum(axis=2)                                 # phi_t^T (N o inv) phi_t
        Nd = np.diagonal(N, axis1=1, axis2=2)
        return (quad - 2 * (phi @ D[:, :, None])[..., 0] + (sel.stop - sel.start)
                + float(self.noise_variance) * (noise_w @ Nd[:, :, None])[..., 0]) / (2 * self.d)

    def _test_error_chunk(self, s, V, times, method, learning_rate):
        _, _, phi, inv, noise_w, G = self._prepared(s, V, times, method, learning_rate)
        return self._block_error(V, phi, inv, noise_w, "all", G)

    def _curves_chunk(self, s, V, times, method, learning_rate):
        """The fields of :class:`TeacherStudentCurves` (after ``times``), each (r, T), for the spectra
        s (r, d), V (r, d, d) of r designs (the formulas of the module docstring, batched)."""
        s, zero, phi, inv, noise_w, G = self._prepared(s, V, times, method, learning_rate)
        G = self._slow_gram(V) if G is None else G
        sig2 = float(self.noise_variance)
        parts = [self._block_error(V, phi, inv, noise_w, block, G) for block in ("fast", "slow")]
        test = parts[0] + parts[1]
        rank = (~zero).sum(axis=1)
        one = (1 - phi) ** 2
        train = ((one @ (s * np.diagonal(inv, axis1=1, axis2=2))[:, :, None])[..., 0]
                 + sig2 * ((one @ (~zero).astype(float)[:, :, None])[..., 0] + (self.n - rank)[:, None])) / (2 * self.n)
        R = phi.sum(axis=2) / self.d
        return test, train, parts[0], parts[1], R, 2 * test - 1 + 2 * R

    def averaged(self, times, designs: int, rng, method="flow", learning_rate=None) -> AveragedCurves:
        """:meth:`curves` averaged over ``designs`` designs drawn from ``rng``, with standard errors
        over designs, and the first minimum and the following peak of the mean test error
        (:func:`locate_extremum`; ``times`` should be log-spaced)."""
        designs = check_integer(designs, "designs", minimum=2)
        Xs = np.array([self.sample_design(rng) for _ in range(designs)])     # the stream's order, design by design
        c = self.design_curves(Xs, times, method, learning_rate)
        stack = {k: getattr(c, k) for k in _FIELDS}
        mean = {k: v.mean(axis=0) for k, v in stack.items()}
        se = {k: v.std(axis=0, ddof=1) / np.sqrt(designs) for k, v in stack.items()}
        t = np.asarray(times, dtype=float)
        lo = locate_extremum(t, stack["test_error"], "min")
        hi = None
        if lo is not None:
            hi = locate_extremum(t, stack["test_error"], "max", start=int(np.searchsorted(t, lo.time)))
        return AveragedCurves(t, mean, se, stack["test_error"], lo, hi)
