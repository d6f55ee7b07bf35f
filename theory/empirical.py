r"""The full d x d second-moment recursion for data from an empirical distribution.

For the rows of a real data set the coordinates are dependent and the label
residual is correlated with x, so the per-direction recursion of
:func:`theory.derive` does not close. The mean mu_k = E e_k and the full second
moment M_k = E e_k e_k^T do close, using the data set's own moments:

* K = E[x x^T] (diagonal in the eigenbasis),
* the fourth-moment action F(A) = E[x x^T A x x^T] = (1/n) sum_r (x_r^T A x_r) x_r x_r^T,
* the residual-correlated third moment C(a) = E[epsilon (x^T a) x x^T]
  = (1/n) sum_r epsilon_r (x_r^T a) x_r x_r^T,
* N = E[epsilon^2 x x^T] = (1/n) sum_r epsilon_r^2 x_r x_r^T,

with epsilon the residual of the best linear fit (E[x epsilon] = 0) plus,
optionally, independent label noise xi of variance sigma^2. Each of F(A),
C(a) is a weighted Gram matrix X^T diag(w) X / n, so a step costs O(n d^2)
and no d^4 tensor is formed.

The derivation is symbolic: SymPy expands the algorithm's update rule
e' = a e + b g with non-commutative symbols for e, e^T, x, x^T, takes the
conditional expectation of each monomial by the data model's moment rules
above (and E[g g^T] = E[h h^T]/B + (1 - 1/B) E[h] E[h]^T for a batch of B
independent samples h = x (x^T p - epsilon - xi)), then averages over e.
"""
from __future__ import annotations

import contextlib
import functools

import numpy as np
import sympy as sp

from . import symbols as sym
from .algorithms import GRADIENT, SGD, Algorithm
from .data import EmpiricalDistribution
from .hyperparameters import bind_hyperparameters
from .recursion import Trajectory
from .validation import check_initial, check_integer, check_nonnegative, check_positive

__all__ = ["derive_empirical", "EmpiricalRecursion"]


@functools.cache
def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries loaded now (NumPy's among them), made once per
    process: making one scans the process's shared libraries (2 ms), limiting through it takes 13 us."""
    from threadpoolctl import ThreadpoolController
    return ThreadpoolController()


def _single_threaded_blas():
    """One BLAS thread for the (n x d) x (d x d) products of a step: at these sizes threading gains
    little, and on a busy machine an oversubscribed BLAS runs the step ~15x slower (measured).

    The limit applies to the BLAS libraries loaded when it was first asked for (:func:`_blas_controller`),
    which include NumPy's (loaded with NumPy), the one the products of this package's steps use."""
    try:
        controller = _blas_controller()
    except ImportError:  # pragma: no cover - threadpoolctl is a dependency; run unlimited without it
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")

# non-commutative symbols: the error, the data vector and their transposes
_E, _Et = sp.symbols("e e^T", commutative=False)
_X, _Xt = sp.symbols("x x^T", commutative=False)
# label residual of the best linear fit (correlated with x) and independent label noise
_EPS, _XI = sp.symbols("epsilon xi", real=True)
# moment operators of the data and the averaged state
K, M, N = sp.symbols("K M N", commutative=False)
MU, MUT = sp.symbols("mu mu^T", commutative=False)
F = sp.Function("F", commutative=False)
C = sp.Function("C", commutative=False)


def _expect_data(expr):
    """E over (x, epsilon, xi) of a polynomial in x, x^T, epsilon, xi with e held fixed.

    Rules (the data model's moment rules): E x = 0, E[x epsilon] = 0, xi independent of x
    and epsilon with E xi = 0, E xi^2 = sigma^2; E[x x^T] = K; E[epsilon^2 x x^T] = N;
    E[x x^T A x x^T] = F(A); E[epsilon x (x^T a) x^T] = E[epsilon x (a^T x) x^T] = C(a).
    """
    out = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(expr)):
        comm, nc = term.args_cnc()
        coeff = sp.Mul(*comm)
        a = sp.degree(coeff, _EPS) if coeff.has(_EPS) else 0
        b = sp.degree(coeff, _XI) if coeff.has(_XI) else 0
        coeff = coeff.subs({_EPS: 1, _XI: 1})
        names = tuple(str(s) for s in nc)
        # xi enters only through E xi = 0, E xi^2 = sigma^2 (independent of everything else)
        if b == 1:
            continue
        if b == 2:
            coeff, b = coeff * sym.sigma2, 0
        if b > 2:
            raise NotImplementedError("moments of the label noise above order 2")
        data_pos = [k for k, nm in enumerate(names) if nm in ("x", "x^T")]
        if not data_pos:
            if a:
                raise NotImplementedError(f"no moment rule for the monomial {term}")
            out += term
            continue
        i, j = data_pos[0], data_pos[-1]
        prefix, core, suffix = sp.Mul(*nc[:i]), names[i:j + 1], sp.Mul(*nc[j + 1:])
        if core == ("x", "x^T") and a in (0, 2):
            op = K if a == 0 else N
        elif core == ("x", "x^T", "e", "e^T", "x", "x^T") and a == 0:
            op = F(_E * _Et)
        elif core in (("x", "x^T", "e", "x^T"), ("x", "e^T", "x", "x^T")) and a == 1:
            op = C(_E)
        elif core in (("x",), ("x^T",)) and a <= 1:
            continue  # E x = 0 and E[epsilon x] = 0 (residual of the best linear fit)
        else:
            raise NotImplementedError(f"no moment rule for the monomial {term}")
        out += coeff * prefix * op * suffix
    return out


def _average_error(expr):
    """E over the error: e e^T -> M, e -> mu, e^T -> mu^T (all appear linearly)."""
    expr = sp.expand(expr).subs({F(_E * _Et): F(M), C(_E): C(MU)})
    expr = expr.subs(_E * _Et, M)
    return sp.expand(expr.subs({_E: MU, _Et: MUT}))


@functools.lru_cache(maxsize=None)
def _derive_matrix(algorithm: Algorithm):
    if len(algorithm.state) != 1:
        raise NotImplementedError("the empirical-distribution recursion is derived for algorithms whose "
                                  f"state is the error alone (e.g. SGD); {algorithm!r} has "
                                  f"{len(algorithm.state)} state variables")
    if algorithm.affine or any(h.per_direction for h in algorithm.hyperparameter_spec):
        raise NotImplementedError("the empirical-distribution recursion (dense d x d moments) is derived for "
                                  f"rules without theta* or per-direction hyperparameters; got {algorithm!r}")
    e = algorithm.state[0]
    upd = sp.expand(algorithm.update[0])
    a, b = sp.diff(upd, e), sp.diff(upd, GRADIENT)
    c = sp.diff(algorithm.gradient_point, e)
    if sp.expand(upd - a * e - b * GRADIENT) != 0 or {a, b, c} & {e, GRADIENT} or \
            any(x.has(e, GRADIENT) for x in (a, b, c)):
        raise ValueError("the update rule must be linear in the error and the gradient")
    # per-sample gradient h = x (x^T p - epsilon - xi), p = c e, and its transpose
    h = _X * _Xt * (c * _E) - (_EPS + _XI) * _X
    ht = (c * _Et) * _X * _Xt - (_EPS + _XI) * _Xt
    Eh = _expect_data(h)
    Eht = _expect_data(ht)
    Ehh = _expect_data(h * ht)
    Egg = Ehh / sym.B + (1 - 1 / sym.B) * Eh * Eht
    second = a**2 * _E * _Et + a * b * (_E * Eht + Eh * _Et) + b**2 * Egg
    mean = a * _E + b * Eh
    return _average_error(mean), _average_error(second), (a, b, c)


class EmpiricalRecursion:
    r"""The derived recursion of (mu_k, M_k) on an empirical distribution (see :func:`derive_empirical`).

    Attributes
    ----------
    mean_update, second_update : sympy.Expr
        mu_{k+1} and M_{k+1} in the non-commutative symbols K, M, mu, mu^T, N and the
        operators F, C; commutative coefficients in gamma, B, sigma^2.
    data : EmpiricalDistribution
    """

    def __init__(self, algorithm, data, mean_update, second_update):
        self.algorithm, self.data = algorithm, data
        self.mean_update, self.second_update = mean_update, second_update
        self.hyper_symbols = list(algorithm.hyperparameters.values())
        args = [sym.B, sym.sigma2, *self.hyper_symbols]
        self._terms = []
        for term in sp.Add.make_args(second_update):
            comm, nc = term.args_cnc()
            self._terms.append((sp.lambdify(args, sp.Mul(*comm), modules="numpy"), nc))
        self._mean_terms = []
        for term in sp.Add.make_args(mean_update):
            comm, nc = term.args_cnc()
            self._mean_terms.append((sp.lambdify(args, sp.Mul(*comm), modules="numpy"), nc))

    def latex(self) -> str:
        """The recursion and the moment operators as a LaTeX ``align*`` environment."""
        names = {**sym.LATEX_NAMES}

        def tex(e):
            return sp.latex(e, symbol_names=names).replace(r"\mu^{T}", r"\mu^\top")

        return "\n".join([
            r"\begin{align*}",
            r"&\text{data: rows } x_r \text{ of a " + ("centred " if self.data.centre else "") +
            r"data set, drawn uniformly with replacement; }"
            r"\varepsilon_r = y_r - \langle x_r, \theta^*\rangle,\ \mathbb{E}[x\varepsilon] = 0 \\",
            r"\mu_{k+1} &= " + tex(self.mean_update) + r" \\",
            r"M_{k+1} &= " + tex(self.second_update) + r" \\",
            r"K &= \mathbb{E}[x x^\top],\quad N = \mathbb{E}[\varepsilon^2 x x^\top],\quad "
            r"F(A) = \mathbb{E}[x x^\top A\, x x^\top],\quad C(a) = \mathbb{E}[\varepsilon\, (x^\top a)\, x x^\top] \\",
            r"R_k &= \tfrac12\bigl(\operatorname{tr}(K M_k) + \mathbb{E}\varepsilon^2 + \sigma^2\bigr)",
            r"\end{align*}",
        ])

    def __repr__(self):
        return f"EmpiricalRecursion(algorithm={self.algorithm!r}, data={self.data!r})"

    def _numeric(self, coeff_args, Mk, mu):
        """One step of (mu, M) in float64; F and C terms are fused into one weighted Gram matrix."""
        Z, eps = self.data.rows, self.data.residuals
        n = Z.shape[0]
        Zmu = None
        weights = np.zeros(n)
        out = np.zeros_like(Mk)
        mats = {"M": Mk, "mu": mu[:, None], "mu^T": mu[None, :], "N": self._N}
        coefs, mean_coefs = coeff_args if isinstance(coeff_args, tuple) else self._coefficients(coeff_args)
        for coef, (_, nc) in zip(coefs, self._terms):
            if len(nc) == 1 and isinstance(nc[0], sp.Function):
                if nc[0].func == F:
                    weights += coef * (((Z @ Mk) * Z) @ self._ones)
                else:
                    Zmu = Z @ mu if Zmu is None else Zmu
                    weights += coef * eps * Zmu
                continue
            out += coef * self._product(nc, mats)
        out += (Z * (weights / n)[:, None]).T @ Z
        new_mu = np.zeros_like(mu)
        for coef, (_, nc) in zip(mean_coefs, self._mean_terms):
            new_mu += coef * self._product(nc, mats)[:, 0]
        return new_mu, 0.5 * (out + out.T)

    def _product(self, nc, mats):
        """The matrix product of the non-commutative factors ``nc`` (names of ``mats``, or K).

        K = diag(lambda) in the eigenbasis, so a factor K scales rows (on the left of the product) or
        columns (on the right) instead of a dense d x d product: the same numbers (a product with a
        diagonal matrix adds only exact zeros), without the O(d^3) work."""
        lam = self.data.eigenvalues
        left, prod = None, None   # leading factors K (diag(left)), then the product so far
        for f in nc:
            if f.name != "K":
                m = mats[f.name]
                prod = (m if left is None else left[:, None] * m) if prod is None else prod @ m
                left = None if prod is not None else left
            elif prod is None:
                left = lam if left is None else left * lam
            else:
                prod = prod * lam[None, :]
        return np.diag(left) if prod is None else prod

    @functools.cached_property
    def _N(self):
        Z, eps = self.data.rows, self.data.residuals
        return (Z * (eps**2 / Z.shape[0])[:, None]).T @ Z

    @functools.cached_property
    def _ones(self):
        return np.ones(self.data.rows.shape[1])

    def _coefficients(self, coeff_args):
        """Numeric values of the commutative coefficients of M_{k+1} and mu_{k+1}."""
        return ([float(fn(*coeff_args)) for fn, _ in self._terms],
                [float(fn(*coeff_args)) for fn, _ in self._mean_terms])

    def _start(self, learning_rate, batch, noise_variance, initial, steps, hyper):
        """Validated (coefficients, e_0, steps) for :meth:`trajectory` and :meth:`moment_matrices`."""
        check_positive(learning_rate, "learning_rate")
        batch = check_integer(batch, "batch", 1)
        check_nonnegative(noise_variance, "noise_variance")
        steps = check_integer(steps, "steps", 1)
        e0 = check_initial(initial, len(self.data.eigenvalues))
        values = bind_hyperparameters(self.algorithm, {"learning_rate": float(learning_rate), **hyper})
        names = list(self.algorithm.hyperparameters)
        coeff_args = self._coefficients([batch, float(noise_variance), *[values[k] for k in names]])
        return coeff_args, e0, steps

    def _iterate(self, coeff_args, e0, steps):
        """Yield (k, mu_k, M_k) for k = 0..steps (the arrays are reused: copy what you keep)."""
        Mk, mu = np.outer(e0, e0), e0.copy()
        with _single_threaded_blas():
            for k in range(steps + 1):
                if k:
                    mu, Mk = self._numeric(coeff_args, Mk, mu)
                yield k, mu, Mk

    def trajectory(self, eigenvalues=None, learning_rate=None, batch=1, noise_variance=0.0, initial=1.0,
                   steps=100, **hyper) -> Trajectory:
        r"""Exact expected risk, second moments E e_{k,i}^2 and mean E e_{k,i} for k = 0..steps.

        Coordinates are the data's eigenbasis (``data.eigenvalues``); e_0 = ``initial``
        (deterministic, scalar or shape (r,)), e.g. ``-data.optimum`` for theta_0 = 0.
        Risk R_k = (tr(K M_k) + E epsilon^2 + sigma^2)/2. Cost O(n r^2) per step.

        Raises ValueError on bad input, or if ``eigenvalues`` is given and differs from
        the data's.

        Example
        -------
        >>> import numpy as np
        >>> from theory import EmpiricalDistribution, derive_empirical
        >>> X = np.random.default_rng(0).standard_normal((50, 3))
        >>> rec = derive_empirical(data=EmpiricalDistribution(X, y=X[:, 0] ** 2))
        >>> rec.trajectory(learning_rate=0.1, steps=5).risk.shape
        (6,)
        """
        lam = self.data.eigenvalues
        if eigenvalues is not None:
            ev = np.asarray(eigenvalues, dtype=float)
            if ev.shape != lam.shape or not np.allclose(ev, lam, rtol=1e-12, atol=0):
                raise ValueError("eigenvalues must be the data's own (data.eigenvalues) for an empirical "
                                 "distribution")
        coeff_args, e0, steps = self._start(learning_rate, batch, noise_variance, initial, steps, hyper)
        d = len(lam)
        risk = np.empty(steps + 1)
        second = np.empty((steps + 1, d))
        mean = np.empty((steps + 1, d))
        floor = self.data.residual_variance + float(noise_variance)
        for k, mu, Mk in self._iterate(coeff_args, e0, steps):
            diag = np.diagonal(Mk)
            second[k], mean[k] = diag, mu
            risk[k] = 0.5 * (diag @ lam + floor)
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch, noise_variance=noise_variance,
                      initial=initial, steps=steps, **hyper)
        return Trajectory(risk=risk, second_moments=second, mean=mean, parameters=params)

    def moment_matrices(self, record, learning_rate, batch=1, noise_variance=0.0, initial=1.0, **hyper):
        r"""The mean mu_k = E e_k, shape (K, r), and the full second moment M_k = E e_k e_k^T, shape
        (K, r, r), at the steps ``record`` (K non-negative integers, any order; returned in that order),
        in the data's eigenbasis (``data.basis``), from e_0 = ``initial``.

        What a quadratic observable of the iterate needs, e.g. the test error of a student trained for
        several passes over a fixed training set (``EmpiricalDistribution(X, y, centre=False)``; see
        :mod:`theory.teacher_student_sgd`). Cost O(n r^2) per step up to max(record).

        Raises ValueError naming the argument for bad input (``record`` empty, negative or not integer).

        Example
        -------
        >>> import numpy as np
        >>> from theory import EmpiricalDistribution, derive_empirical
        >>> X = np.random.default_rng(0).standard_normal((50, 3))
        >>> rec = derive_empirical(data=EmpiricalDistribution(X, y=X[:, 0] ** 2, centre=False))
        >>> mu, M = rec.moment_matrices([0, 5], learning_rate=0.1, initial=-rec.data.optimum)
        >>> mu.shape, M.shape, bool(np.allclose(M[0], np.outer(mu[0], mu[0])))
        ((2, 3), (2, 3, 3), True)
        """
        ks = np.atleast_1d(np.asarray(record))
        if ks.ndim != 1 or ks.size == 0:
            raise ValueError("record must be a non-empty 1-d list of step counts")
        ks = np.array([check_integer(k, "record", 0) for k in ks], dtype=np.int64)
        coeff_args, e0, _ = self._start(learning_rate, batch, noise_variance, initial, max(int(ks.max()), 1),
                                        hyper)
        r = len(e0)
        mean, second = np.empty((ks.size, r)), np.empty((ks.size, r, r))
        wanted = {}
        for j, k in enumerate(ks):
            wanted.setdefault(int(k), []).append(j)
        for k, mu, Mk in self._iterate(coeff_args, e0, int(ks.max())):
            for j in wanted.get(k, ()):
                mean[j], second[j] = mu, Mk
        return mean, second


def derive_empirical(algorithm: Algorithm | None = None, data: EmpiricalDistribution | None = None):
    r"""Derive the exact recursion of the mean and full second moment of the error on an empirical distribution.

    For SGD (e' = e - gamma g, g the mean of B per-sample gradients
    h = x (x^T e - epsilon - xi)) the derivation gives

    .. math::
        \mu_{k+1} &= (I - \gamma K)\mu_k, \\
        M_{k+1} &= M_k - \gamma (K M_k + M_k K) + \gamma^2 \Bigl[\bigl(1 - \tfrac1B\bigr) K M_k K
                 + \tfrac1B\bigl(F(M_k) - 2 C(\mu_k) + N + \sigma^2 K\bigr)\Bigr],

    where F(A) = E[x x^T A x x^T], C(a) = E[epsilon (x^T a) x x^T],
    N = E[epsilon^2 x x^T] are the data set's own moments (see the module
    docstring); the mean enters M through C because the residual epsilon is
    correlated with x. For Gaussian x with independent noise, F(A) = 2KAK + tr(KA)K
    and C = 0, and the diagonal of M obeys :func:`theory.derive`'s recursion.

    Parameters
    ----------
    algorithm : Algorithm with a one-variable state, default SGD()
    data : EmpiricalDistribution

    Returns
    -------
    EmpiricalRecursion

    Raises
    ------
    ValueError
        ``data`` is not an :class:`EmpiricalDistribution`; the update is not linear.
    NotImplementedError
        The algorithm's state has more than one variable (momentum).

    Example
    -------
    >>> from theory import derive_empirical, EmpiricalDistribution
    >>> rec = derive_empirical(data=EmpiricalDistribution([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]))
    >>> rec.mean_update
    -gamma*K*mu + mu

    Source: the Gaussian special case is Bordelon & Pehlevan, arXiv:2106.02713, eq. (3);
    the general fourth-moment form is their Sec. 3 (arbitrary feature distributions).
    """
    algorithm = SGD() if algorithm is None else algorithm
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"algorithm must be a theory.Algorithm such as theory.SGD(); got {algorithm!r}")
    if not isinstance(data, EmpiricalDistribution):
        raise ValueError(f"data must be a theory.EmpiricalDistribution; got {data!r}")
    mean, second, _ = _derive_matrix(algorithm)
    return EmpiricalRecursion(algorithm, data, mean, second)
