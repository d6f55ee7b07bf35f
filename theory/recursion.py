r"""The Recursion object: a derived second-moment recursion, symbolic and numeric.

A :class:`Recursion` holds the SymPy blocks of the generic shape
s_{k+1,i} = A_i s_{k,i} + u_i C_k + f_i, C_k = sum_j v_j^T s_{k,j}
(see :mod:`theory.linear`), prints them as LaTeX, and compiles them with
``lambdify`` to NumPy (float64) and mpmath (any precision).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import mpmath
import numpy as np
import sympy as sp

from . import symbols as sym
from .compiled import filled, from_source, lambdify_source
from .diskcache import persistent
from .hyperparameters import bind_problem
from .linear import (
    ORBIT_LIMIT,
    BlockRankOne,
    MpBlockRankOne,
    affine_orbit,
    block_diagonal,
)
from .precision import float_view
from .validation import check_initial, check_integer

__all__ = ["Recursion", "Trajectory"]

_Z = sp.Symbol("z")


def _resolvent_form(v, M, u):
    """v^T M^{-1} u as one cancelled rational function: v^T adj(M) u / det(M) computed exactly in the
    fraction field of the entries' symbols (``DomainMatrix``, no expression-level simplification; 3x
    faster than adjugate and determinant of SymPy matrices, whose products simplify as they go)."""
    from sympy.polys.matrices import DomainMatrix
    mats = [DomainMatrix.from_Matrix(sp.Matrix(x)) for x in (v.T, M, u)]
    field = mats[0].domain
    for m in mats[1:]:
        field = field.unify(m.domain)
    if field.is_EX or field.is_EXRAW:   # entries that are not rational functions (e.g. sqrt): expressions
        return _resolvent_expressions(v, M, u)
    field = field.get_field()
    vT, M_, u_ = (m.convert_to(field) for m in mats)
    det = M_.det()
    if not det:   # singular M: the expression route gives SymPy's zoo / nan as before
        return _resolvent_expressions(v, M, u)
    return field.to_sympy(field.quo((vT * M_.adjugate() * u_)[0, 0].element, det))


def _resolvent_expressions(v, M, u):
    """:func:`_resolvent_form` on SymPy expressions (adjugate and Berkowitz determinant, then cancel)."""
    den = sp.together(sp.expand(M.det(method="berkowitz")))
    num = sp.together(sp.expand((v.T * M.adjugate(method="berkowitz") * u)[0]))
    return sp.cancel(num / den)


def _factored_resolvent(v, M, u):
    """sp.factor of :func:`_resolvent_form`, derived once per (v, M, u) and kept on disk
    (:mod:`theory.diskcache`): the secular terms of every recursion with the same blocks."""
    return _factored_resolvent_cached(*(sp.ImmutableMatrix(x) for x in (v, M, u)))


@persistent
def _factored_resolvent_cached(v, M, u):
    return sp.factor(_resolvent_form(v, M, u))
#: sums over directions used in closed forms
SUM_G = sp.Symbol(r"\mathcal{G}")


@persistent   # paid by every process (simplify, ~0.1 s per recursion) before it was kept on disk
def _stationary_risk_closed_form(G, H, Wx, Wy, local):
    """:attr:`Recursion.stationary_risk_expression` from the per-direction terms G, H, W_x, W_y and the
    per-direction symbols ``local`` (a sorted tuple)."""
    t = {"G": G, "H": H, "Wx": Wx, "Wy": Wy}
    sums = {}
    for key in ("H", "Wx", "Wy"):
        ratio = sp.cancel(t[key] / t["G"]) if t["G"] != 0 else None
        if ratio is not None and not (ratio.free_symbols & set(local)):
            sums[key] = ratio * SUM_G
        else:
            sums[key] = sp.Symbol(r"\mathcal{" + key + "}")
    C = sums["H"] / (1 - SUM_G)
    # factor alone (no simplify first): a rational function in G, sigma^2 and the hyperparameters, which
    # factor brings to its canonical factored form (the same srepr as factor(simplify(.)) on the package's
    # algorithms, at a sixth of the CPU)
    return sp.factor((sums["Wx"] * C + sums["Wy"] + sym.sigma2) / 2)


@dataclass
class Trajectory:
    """Exact expectations along a run, as predicted by a recursion.

    Attributes
    ----------
    risk : ndarray, shape (steps + 1,)
        R_k = E (1/2)(<x, theta_k> - y)^2 for k = 0..steps, on the algorithm's observable
        (theta_k = theta* + o_k; o = e except e.g. for an averaged iterate).
    second_moments : ndarray, shape (steps + 1, d)
        m_{k,i} = E e_{k,i}^2.
    mean : ndarray, shape (steps + 1, d) or None
        E e_{k,i}.
    parameters : dict
        The arguments that produced it.
    recursion : Recursion or None
        The recursion that produced it (lets a comparison find the exact laws of the
        Monte Carlo estimators, e.g. their variances from :mod:`theory.fourth`).
    """

    risk: np.ndarray
    second_moments: np.ndarray
    mean: np.ndarray | None = None
    parameters: dict = field(default_factory=dict)
    recursion: object = field(default=None, repr=False, compare=False)

    @property
    def steps(self) -> int:
        return len(self.risk) - 1


@persistent   # generated once per recursion, then loaded from the derivation cache (theory.compiled)
def _numpy_sources(args, matrices):
    """((name, NumPy source of the function of ``args`` returning the entries of the matrix), ...)."""
    return tuple((name, lambdify_source(list(args), list(matrix))) for name, matrix in matrices)


class _LazyMpFunctions(dict):
    """The dict of :attr:`Recursion._mp_fns`, filled by ``lambdify`` when a key is first read."""

    def __init__(self, rec):
        super().__init__()
        self._rec = rec

    def __missing__(self, key):
        rec = self._rec
        for k in ("A", "u", "f", "v", "w"):
            self[k] = [sp.lambdify(rec._args, e, modules="mpmath") for e in getattr(rec, k)]
        self["G1"] = sp.lambdify(rec._args, rec._stationary_terms["G"], modules="mpmath")
        return dict.__getitem__(self, key)


class Recursion:
    """A derived exact second-moment recursion (returned by :func:`theory.derive`).

    Attributes
    ----------
    algorithm, data
        What it was derived for.
    moments : list of Symbol
        The per-direction second-moment state (m_{k,i} first).
    A, u, f, v, w : sympy.Matrix
        Blocks of s_{k+1,i} = A_i s_{k,i} + u_i C_k + f_i, C_k = sum_j v_j^T s_{k,j},
        R_k = (sum_j w_j^T s_{k,j} + sigma^2)/2.
    mean_matrix : sympy.Matrix
        E s_{k+1,i} = mean_matrix E s_{k,i} + mean_forcing.
    mean_forcing : sympy.Matrix
        The affine part of the mean recursion (a multiple of theta*_i; zero for linear rules).
    observable : sympy.Matrix, shape (1, n)
        Weights of the observable o_i = observable . s_i on which the risk is measured
        (R_k = (sum_i lambda_i E o_{k,i}^2 + sigma^2)/2, encoded in ``w``).

    For an affine rule (one containing theta*_i, e.g. weight decay) ``moments`` and ``pairs``
    continue after the second moments with theta*_i E s_{k,i,a} (pairs (a, n) with n the number
    of state variables), and ``f`` contains theta*_i^2 (a per-direction forcing).
    """

    def __init__(self, *, algorithm, data, pairs, moments, A, u, f, v, w, mean_matrix,
                 gradient_moments, mean_forcing=None, observable=None):
        self.algorithm, self.data = algorithm, data
        self.pairs, self.moments = pairs, moments
        self.A, self.u, self.f, self.v, self.w = A, u, f, v, w
        self.mean_matrix = mean_matrix
        n = mean_matrix.shape[0] if mean_matrix is not None else 1
        self.mean_forcing = sp.zeros(n, 1) if mean_forcing is None else mean_forcing
        self.observable = sp.Matrix([[1] + [0] * (n - 1)]) if observable is None else observable
        self.gradient_moments = gradient_moments
        self.hyper_symbols = list(algorithm.hyperparameters.values())
        self._args = [sym.lam, sym.kappa, sym.B, sym.sigma2, *self.hyper_symbols]

    def with_data(self, data):
        """The same symbolic recursion with the numeric parameters of ``data`` (same type)."""
        if type(data) is not type(self.data):
            raise ValueError(f"data must be a {type(self.data).__name__}; got {data!r}")
        if data == self.data:
            return self
        # compile once, share: the symbolic pieces and the compiled secular functions (their
        # SymPy work is done lazily on the shared object, once per algorithm and data type)
        self._numpy_fns, self._mp_fns, self.stationary_risk_expression, self._secular_functions
        other = object.__new__(Recursion)
        other.__dict__.update(self.__dict__)
        other.data = data
        return other

    # ------------------------------------------------------------------ symbolic
    @functools.cached_property
    def update(self) -> list:
        """The recursion as SymPy equalities new_moment = expression (per direction)."""
        vec = sp.Matrix(self.moments)
        rhs = self.A * vec + self.u * sym.S + self.f
        return [sp.Eq(sp.Symbol(str(mm) + "'"), sp.collect(sp.expand(r), [*self.moments, sym.S]))
                for mm, r in zip(self.moments, rhs)]

    def secular_term(self, z=1) -> sp.Expr:
        r"""Per-direction term G_i(z) = v_i^T (z I - A_i)^{-1} u_i of the secular equation.

        The linear map is singular at z iff sum_i G_i(z) = 1 (when no det(zI - A_i) vanishes).
        """
        p = self.A.shape[0]
        M = sp.eye(p) * z - self.A
        return _factored_resolvent(self.v, M, self.u)

    @functools.cached_property
    def _stationary_terms(self):
        p = self.A.shape[0]
        M = sp.eye(p) - self.A
        terms = {"G": (self.v, self.u), "H": (self.v, self.f), "Wx": (self.w, self.u), "Wy": (self.w, self.f)}
        return {k: _factored_resolvent(a, M, b) for k, (a, b) in terms.items()}

    @functools.cached_property
    def stationary_risk_expression(self) -> sp.Expr:
        r"""Closed form of R_inf in terms of the sum G = sum_i v_i^T (I - A_i)^{-1} u_i.

        Sherman--Morrison: C_inf = H/(1 - G), R_inf = (W_x C_inf + W_y + sigma^2)/2
        with H, W_x, W_y the analogous sums; each is rewritten as a multiple of G
        when the per-direction ratio does not depend on the direction.
        For SGD this gives R_inf = sigma^2 / (2 (1 - G)).
        """
        t = self._stationary_terms
        local = {sym.lam, sym.kappa} | {h.symbol for h in self.algorithm.hyperparameter_spec if h.per_direction}
        return _stationary_risk_closed_form(t["G"], t["H"], t["Wx"], t["Wy"],
                                            tuple(sorted(local, key=sp.default_sort_key)))

    # ------------------------------------------------------------------ LaTeX
    def latex(self) -> str:
        """The derivation as a LaTeX ``align*`` environment (amsmath)."""
        if "_latex" not in self.__dict__:  # the symbolic part is shared by with_data() copies
            from .latex_recursion import recursion_latex
            self.__dict__["_latex"] = recursion_latex(self)
        return self.__dict__["_latex"]

    def __repr__(self):
        return f"Recursion(algorithm={self.algorithm!r}, data={self.data!r})"

    # ------------------------------------------------------------------ numeric compilation
    @functools.cached_property
    def _numpy_fns(self):
        """{name: function of the numeric arguments returning the entries of the matrix ``name``}, compiled
        from lambdified sources kept in the derivation cache (one function per matrix)."""
        names = [k for k in ("A", "u", "f", "v", "w", "mean_matrix", "mean_forcing") if getattr(self, k) is not None]
        sources = _numpy_sources(tuple(self._args), tuple((k, sp.ImmutableMatrix(getattr(self, k))) for k in names))
        return {k: from_source(src) for k, src in sources}

    @functools.cached_property
    def _mp_fns(self):
        """mpmath functions per entry of A, u, f, v, w (and "G1", the stationary secular term), lambdified
        on first use (only ``dps`` trajectories read them; the holder is shared by :meth:`with_data` copies)."""
        return _LazyMpFunctions(self)

    def _check(self, eigenvalues, learning_rate, batch, noise_variance, hyper, schedules=False, steps=None):
        """Validate the arguments; bind ``hyper`` in place (defaults filled, per-direction values as arrays).

        All hyperparameter checks go through :func:`theory.bind_hyperparameters`.
        """
        lam, batch, bound = bind_problem(self.algorithm, eigenvalues, learning_rate, batch, noise_variance, hyper,
                                         schedules=schedules, steps=steps)
        bound.pop("learning_rate")
        hyper.update(bound)
        return lam, batch

    def _arg_values(self, lam, learning_rate, batch, noise_variance, hyper):
        kappa = self.data.kurtosis_values(len(lam))
        defaults = {h.name: h.default for h in self.algorithm.hyperparameter_spec if h.default is not None}
        hv = {**defaults, "learning_rate": learning_rate, **hyper}
        return [lam, kappa, batch, noise_variance,
                *[hv[name] for name in self.algorithm.hyperparameters]]

    def _mp_hyper(self, learning_rate, hyper, i):
        """The hyperparameter values of direction ``i`` as mpf (per-direction arrays indexed)."""
        defaults = {h.name: h.default for h in self.algorithm.hyperparameter_spec if h.default is not None}
        hv = {**defaults, "learning_rate": learning_rate, **hyper}
        out = []
        for name in self.algorithm.hyperparameters:
            v = hv[name]
            out.append(mpmath.mpf(v[i] if isinstance(v, np.ndarray) and v.ndim == 1 else v))
        return out

    def linear_map(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, **hyper) -> BlockRankOne:
        """The recursion at numeric parameters as a float64 :class:`BlockRankOne`.

        Shapes: A (d, p, p); u, v, f, w (d, p). Raises ValueError on bad input.
        """
        lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance, hyper)
        args = self._arg_values(lam, float(learning_rate), batch, float(noise_variance), hyper)
        d, p = len(lam), len(self.moments)

        def ev(fn):
            return np.ascontiguousarray(filled((d,), fn(*args)))

        fns = self._numpy_fns
        return BlockRankOne(A=ev(fns["A"]).reshape(d, p, p), u=ev(fns["u"]), v=ev(fns["v"]),
                            f=ev(fns["f"]), w=ev(fns["w"]), offset=float(noise_variance))

    def _mp_map(self, lam, learning_rate, batch, noise_variance, hyper) -> MpBlockRankOne:
        p = len(self.moments)
        kappa = self.data.kurtosis_values(len(lam))
        fns = self._mp_fns
        out = {k: [] for k in ("A", "u", "v", "f", "w")}
        for i, (li, ki) in enumerate(zip(lam, kappa)):
            hyp = self._mp_hyper(learning_rate, hyper, i)
            args = [mpmath.mpf(li), mpmath.mpf(ki), mpmath.mpf(batch), mpmath.mpf(noise_variance), *hyp]
            out["A"].append(mpmath.matrix([[fns["A"][r * p + c](*args) for c in range(p)] for r in range(p)]))
            for key in ("u", "v", "f", "w"):
                out[key].append(mpmath.matrix([fn(*args) for fn in fns[key]]))
        return MpBlockRankOne(out["A"], out["u"], out["v"], out["f"], out["w"], mpmath.mpf(noise_variance))

    # ------------------------------------------------------------------ stability
    def spectral_radius(self, eigenvalues, learning_rate, batch=1, **hyper) -> float:
        """Spectral radius of the linear second-moment map; stable iff < 1."""
        return self.linear_map(eigenvalues, learning_rate, batch, 0.0, **hyper).spectral_radius()

    def critical_learning_rate(self, eigenvalues, batch=1, dps=None, certify=False, **hyper):
        r"""The critical learning rate gamma_c: the recursion is stable iff gamma < gamma_c.

        gamma_c is the smallest learning rate at which the spectral radius of
        the second-moment map L = blockdiag(A_i) + u v^T reaches 1. It is located
        in float64 without forming L (:mod:`theory.thresholds`: equal directions
        merged, O(d) per evaluation of the secular function, a stability test by
        inertia (p = 1) or by the argument principle on the unit circle, all in
        scaled variables, so any positive spectrum works, e.g. condition number
        1e16 or d = 10^6); the exit point z_c on the unit circle tells where L
        leaves the unit disc, and with ``dps`` the crossing is refined in mpmath
        on the exact equation for that exit, from the inputs at full precision
        (``mpf``, ``Fraction``, SymPy ``Rational`` or decimal strings are not
        rounded to float64 first):

        * a *secular* exit (an eigenvalue of the coupled map) at z_c = e^{i theta}
          solves, jointly in (gamma, theta) when z_c is not real,

          .. math:: 1 = \sum_{i=1}^d v_i^\top\bigl(e^{i\theta} I - A_i(\gamma)\bigr)^{-1} u_i,

          (matrix determinant lemma; theta = 0 or pi for z_c = +-1, then in gamma alone);
        * a *block* exit (an eigenvalue of one block A_i shared by several identical
          directions, which the rank-one coupling does not move) solves
          det(e^{i theta} I - A_i(gamma)) = 0.

        For SGD the map is entrywise non-negative, so the exit is always z = 1
        (Perron--Frobenius) and the secular equation reads

        .. math:: \sum_{i=1}^d \frac{\gamma\lambda_i}{2B - \gamma\lambda_i (B + \kappa_i - 2)} = 1.

        For momentum methods the blocks are not non-negative (e.g. the heavy-ball
        block has entries -2 beta(1 + beta - gamma lambda_i) and -beta), so exits
        at z = -1 or at complex z are possible (e.g. negative momentum, or
        kurtosis below 2); all are handled.

        Parameters
        ----------
        eigenvalues : array_like, shape (d,)
            lambda_i > 0.
        batch : int >= 1
        dps : int, optional
            Decimal digits; when given the result is an ``mpmath.mpf`` correct
            to about ``dps`` digits (printed with them), otherwise a float.
            Inputs given as ``mpf``, ``Fraction``, SymPy numbers or decimal
            strings are then read at full precision.
        certify : bool
            Return an ``mpmath.iv.mpf`` interval proved by interval arithmetic to
            contain gamma_c, of width about 1e-35 gamma_c (10^{5 - max(dps, 40)}
            relative); for recursions with one moment per direction (SGD, any
            data model). The proof is in :func:`theory.precision.certify_critical`
            and the docs (docs/thresholds.md).
        **hyper
            The algorithm's other hyperparameters (e.g. ``momentum`` in (-1, 1)).

        Raises
        ------
        ValueError
            Bad eigenvalues, batch size or hyperparameters.
        RuntimeError
            If the recursion is unstable at every learning rate or stable at all,
            or if the high-precision refinement disagrees with the float64 crossing.

        Example
        -------
        >>> from theory import derive
        >>> derive().critical_learning_rate([1.0] * 3, dps=30)   # 2/(d+2)
        mpf('0.4')

        Source: Bordelon & Pehlevan, arXiv:2106.02713, Sec. 3; Paquette et al.,
        arXiv:2102.04396 (isotropic case gamma_c = 2/(d+2) for B = 1); momentum:
        Paquette & Paquette, arXiv:2106.03696.
        """
        exact = dps is not None or (isinstance(certify, (bool, np.bool_)) and certify)
        lam, batch = self._check(float_view(eigenvalues) if exact else eigenvalues, 1.0, batch, 0.0, hyper)
        if dps is not None:
            dps = check_integer(dps, "dps", 1)
        if not isinstance(certify, (bool, np.bool_)):
            raise ValueError(f"certify must be True or False; got {certify!r}")
        from .thresholds import critical_learning_rate
        return critical_learning_rate(self, eigenvalues, lam, batch, hyper, dps, bool(certify))

    @functools.cached_property
    def _secular_functions(self):
        """The compiled pieces of :mod:`theory.thresholds` (symbolic only; shared by :meth:`with_data`)."""
        from .thresholds import SecularFunctions
        return SecularFunctions(self)

    # ------------------------------------------------------------------ stationary risk
    def stationary_risk(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, dps=None, **hyper):
        r"""Stationary risk R_inf = lim_k R_k for 0 < gamma < gamma_c.

        From the Sherman--Morrison fixed point R_inf = (W_x H/(1 - G) + W_y + sigma^2)/2
        (the closed form :attr:`stationary_risk_expression`), the four sums over
        directions G, H, W_x, W_y evaluated in O(d) on merged directions, without
        cancellation for tiny gamma lambda_i (:mod:`theory.thresholds`); with
        ``dps`` in mpmath from the inputs at full precision. For SGD

        .. math:: R_\infty = \frac{\sigma^2}{2(1 - \mathcal{G})},\quad
                  \mathcal{G} = \sum_i \frac{\gamma\lambda_i}{2B - \gamma\lambda_i(B + \kappa_i - 2)}.

        Risk includes the factor 1/2: R = E (1/2)(<x,theta> - y)^2, so R_inf >= sigma^2/2.

        Raises
        ------
        ValueError
            Bad input, or ``learning_rate`` at or above the critical learning rate.

        Example
        -------
        >>> from theory import derive
        >>> round(derive().stationary_risk([1.0, 0.5], 0.1, noise_variance=1.0), 10)
        0.5445859873

        Source: Bordelon & Pehlevan, arXiv:2106.02713; Paquette et al., arXiv:2102.04396.
        """
        if dps is not None:   # exact inputs: range-check their float64 view, compute from them
            lam, batch = self._check(float_view(eigenvalues), float_view(learning_rate, "learning_rate"), batch,
                                     float_view(noise_variance, "noise_variance"), hyper)
            dps = check_integer(dps, "dps", 1)
        else:
            lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance, hyper)
        gc = self.critical_learning_rate(lam, batch, **hyper)
        if float(learning_rate) >= gc:
            raise ValueError(
                f"learning_rate must lie in (0, critical learning rate = {gc:.10g}) for a stationary "
                f"risk to exist; got learning_rate = {learning_rate!r}")
        from .thresholds import stationary_risk
        return stationary_risk(self, eigenvalues, lam, learning_rate, batch, noise_variance, hyper, dps)

    # ------------------------------------------------------------------ trajectories
    def initial_moments(self, initial, dimension, optimum=None):
        """Second-moment state s_0 (d, p) and mean state (d, n) for a deterministic initial error e_0.

        For an affine rule the entries theta*_i s_{0,i,a} use ``optimum`` (theta*, scalar or (d,)).
        """
        e0 = check_initial(initial, dimension)
        st = [np.broadcast_to(np.asarray(x, dtype=float), (dimension,)) for x in self.algorithm.initial_state(e0)]
        n = len(st)
        star = np.broadcast_to(np.asarray(0.0 if optimum is None else optimum, dtype=float), (dimension,))
        cols = [st[a] * (star if b == n else st[b]) for a, b in self.pairs]
        return np.stack(cols, axis=-1), np.stack(st, axis=-1)

    def trajectory(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, initial=1.0,
                   steps=100, dps=None, **hyper) -> Trajectory:
        r"""Exact expected risk, second moments and mean for k = 0..steps.

        Iterates the recursion from the deterministic initial error e_0
        (``initial``: scalar or shape (d,), in the eigenbasis), in float64 or,
        with ``dps``, in mpmath (arrays of ``mpf``). Hyperparameters declared schedulable
        may be callables ``h(k)`` of the step k (schedules, e.g. DANA's gamma_3(k) and
        Delta(k)); the step k -> k + 1 then uses h(k) (float64 only), and every value
        h(0), ..., h(steps - 1) is range-checked before the run. Affine algorithms (e.g.
        ``SGD(weight_decay=w)``) take ``optimum`` theta*_i (scalar or (d,), default 0).

        The risk is R_k = (sum_i lambda_i E o_{k,i}^2 + sigma^2)/2 on the algorithm's
        observable o (the error e for SGD and momentum methods, the averaged error for
        :class:`theory.IterateAveraging`); ``second_moments`` are E e_{k,i}^2 and ``mean``
        E e_{k,i}.

        Raises ValueError on bad input (steps < 1 among them).

        Example
        -------
        >>> from theory import derive
        >>> tr = derive().trajectory([1.0, 0.1], 0.2, steps=3, noise_variance=0.5)
        >>> tr.risk.shape, tr.second_moments.shape
        ((4,), (4, 2))
        """
        steps = check_integer(steps, "steps", 1)
        lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance, hyper, schedules=True,
                                 steps=steps)
        d = len(lam)
        s0, mu0 = self.initial_moments(initial, d, hyper.get("optimum"))
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch,
                      noise_variance=noise_variance, initial=initial, steps=steps, **hyper)
        if any(callable(v) and not isinstance(v, np.ndarray) for v in hyper.values()):
            if dps is not None:
                raise ValueError("dps must be None when a hyperparameter is a callable of the step k")
            return self._scheduled_trajectory(lam, learning_rate, batch, noise_variance, hyper,
                                              s0, mu0, steps, params)
        if dps is None:
            m = self.linear_map(lam, learning_rate, batch, noise_variance, **hyper)
            states = m.iterate(s0, steps)
            risk = m.observable(states)
            mean = (None if self.mean_matrix is None else
                    self._mean_trajectory(lam, learning_rate, batch, noise_variance, hyper, mu0, steps))
            return Trajectory(risk=risk, second_moments=states[:, :, 0], mean=mean, parameters=params,
                              recursion=self)
        with mpmath.workdps(check_integer(dps, "dps", 1)):
            mp = self._mp_map(lam, learning_rate, batch, noise_variance, hyper)
            states = mp.iterate([list(row) for row in s0], steps)
            risk = np.array([mp.observable(s) for s in states], dtype=object)
            second = np.array([[x[0] for x in s] for s in states], dtype=object)
        return Trajectory(risk=risk, second_moments=second, mean=None, parameters=params)

    def risk(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, initial=1.0, steps=100,
             dps=None, **hyper) -> np.ndarray:
        """Expected risk R_k for k = 0..steps, shape (steps + 1,). See :meth:`trajectory`."""
        return self.trajectory(eigenvalues, learning_rate, batch, noise_variance, initial, steps,
                               dps, **hyper).risk

    def _mean_step(self, args, d, n):
        """(M, b) of the mean recursion E s' = M E s + b at numeric arguments; shapes (d, n, n), (d, n)."""
        fns = self._numpy_fns
        M = filled((d,), fns["mean_matrix"](*args)).reshape(d, n, n)
        return M, np.ascontiguousarray(filled((d,), fns["mean_forcing"](*args)))

    def _scheduled_trajectory(self, lam, learning_rate, batch, noise_variance, hyper, s0, mu0, steps, params):
        """Trajectory with hyperparameters h(k) (callables of the step k): step k -> k+1 uses h(k)."""
        d, n = mu0.shape
        states = np.empty((steps + 1,) + s0.shape)
        mean = np.empty((steps + 1, d))
        s, mu = s0, mu0
        states[0], mean[0] = s0, mu0[:, 0]
        for k in range(steps):
            hk = {name: (v(k) if callable(v) and not isinstance(v, np.ndarray) else v) for name, v in hyper.items()}
            m = self.linear_map(lam, learning_rate, batch, noise_variance, **hk)
            s = m.apply(s)
            M, b = self._mean_step(self._arg_values(lam, float(learning_rate), batch, float(noise_variance), hk), d, n)
            mu = np.einsum("ipq,iq->ip", M, mu) + b
            states[k + 1], mean[k + 1] = s, mu[:, 0]
        risk = m.observable(states)
        return Trajectory(risk=risk, second_moments=states[:, :, 0], mean=mean, parameters=params, recursion=self)

    def _mean_trajectory(self, lam, learning_rate, batch, noise_variance, hyper, mu0, steps):
        args = self._arg_values(lam, float(learning_rate), batch, float(noise_variance), hyper)
        d, n = mu0.shape
        M, b = self._mean_step(args, d, n)
        if d * n <= ORBIT_LIMIT:   # block diagonal: the dense map's orbit in blocks of steps
            return affine_orbit(block_diagonal(M), b.reshape(-1), np.asarray(mu0, float).reshape(-1),
                                steps).reshape(steps + 1, d, n)[:, :, 0]
        out = np.empty((steps + 1, d))
        mu = mu0
        out[0] = mu[:, 0]
        for k in range(1, steps + 1):
            mu = np.einsum("ipq,iq->ip", M, mu) + b
            out[k] = mu[:, 0]
        return out
