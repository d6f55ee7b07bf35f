r"""Bilinear games min_theta max_phi theta^T A phi with gradient steps and heavy-ball momentum.

In the singular basis of A (A = U diag(s) V^T) the game splits into independent 2-player
problems, one per singular value s_i: theta_i, phi_i with gradients s_i phi_i (for theta,
descended) and s_i theta_i (for phi, ascended). The update rules are written once,
symbolically, on the per-singular-value state (theta_k, theta_{k-1}, phi_k, phi_{k-1}):

* simultaneous:  theta' = theta - eta (s phi + xi_theta) + beta (theta - theta_prev),
                 phi'   = phi + eta (s theta + xi_phi) + beta (phi - phi_prev);
* alternating:   the same, but phi' uses the *new* theta' in its gradient.

xi are additive gradient-noise symbols (mean 0, variance ``noise_variance`` each,
independent across steps); the deterministic game has xi = 0. SymPy reads off the
transition matrix M (state' = M state + N xi), its characteristic polynomial and, for the
noisy game, the exact second-moment (Lyapunov) recursion Sigma' = M Sigma M^T + v N N^T.

Source: Gidel, Askari Hemmat, Pezeshki, Le Priol, Huang, Lacoste-Julien, Mitliagkas,
"Negative Momentum for Improved Game Dynamics", arXiv:1807.04740 (AISTATS 2019),
Sec. 3-4 (Thm. 2-4).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .algorithms import _check_momentum
from .diskcache import persistent
from .validation import check_eigenvalues, check_integer, check_nonnegative, check_positive

__all__ = ["BilinearGame", "GameTrajectory", "GameRegion", "convergence_region", "small_step_rate", "ETA", "SINGULAR_VALUE"]

ETA = sp.Symbol("eta", positive=True)
SINGULAR_VALUE = sp.Symbol("s_i", positive=True)
BETA = sp.Symbol("beta", real=True)
_Z = sp.Symbol("z")
_TH, _THP, _PH, _PHP = sp.symbols("theta_i theta_i^prev phi_i phi_i^prev", real=True)
_XT, _XP = sp.symbols("xi_theta xi_phi", real=True)
_SCHEMES = ("simultaneous", "alternating")


@dataclass
class GameTrajectory:
    """Exact expectations of a (noisy) bilinear game run.

    Attributes
    ----------
    risk : ndarray, shape (steps + 1,)
        E (||theta_k||^2 + ||phi_k||^2) / 2 (squared distance to the equilibrium (0, 0), halved).
    second_moments : ndarray, shape (steps + 1, 2 r)
        E theta_{k,i}^2 (i < r) then E phi_{k,i}^2, per singular value.
    mean : ndarray, shape (steps + 1, 2 r)
        E theta_{k,i}, then E phi_{k,i}.
    """

    risk: np.ndarray
    second_moments: np.ndarray
    mean: np.ndarray


class BilinearGame:
    r"""Gradient descent-ascent with heavy-ball momentum on min_theta max_phi theta^T A phi.

    Parameters
    ----------
    scheme : {"simultaneous", "alternating"}

    Attributes
    ----------
    update : tuple of sympy.Expr
        (theta', theta, phi', phi) in the state, eta, s_i, beta and the noise symbols.
    transition_matrix : sympy.Matrix (4 x 4)
    noise_matrix : sympy.Matrix (4 x 2)
    characteristic_polynomial : sympy.Expr
        det(z I - M), factored.

    Example
    -------
    >>> sp.factor(BilinearGame("simultaneous").characteristic_polynomial.subs(BETA, 0))
    z**2*(eta**2*s_i**2 + z**2 - 2*z + 1)

    Source: Gidel et al., arXiv:1807.04740, eqs. (5)-(8).
    """

    def __init__(self, scheme: str = "alternating"):
        if scheme not in _SCHEMES:
            raise ValueError(f"scheme must be one of {_SCHEMES}; got {scheme!r}")
        self.scheme = scheme
        th_new = _TH - ETA * (SINGULAR_VALUE * _PH + _XT) + BETA * (_TH - _THP)
        th_seen = th_new if scheme == "alternating" else _TH
        ph_new = _PH + ETA * (SINGULAR_VALUE * th_seen + _XP) + BETA * (_PH - _PHP)
        self.state = (_TH, _THP, _PH, _PHP)
        self.update = (sp.expand(th_new), _TH, sp.expand(ph_new), _PH)

    def __repr__(self):
        return f"BilinearGame({self.scheme!r})"

    @functools.cached_property
    def transition_matrix(self) -> sp.Matrix:
        return sp.Matrix(self.update).jacobian(sp.Matrix(self.state))

    @functools.cached_property
    def noise_matrix(self) -> sp.Matrix:
        return sp.Matrix(self.update).jacobian(sp.Matrix([_XT, _XP]))

    @functools.cached_property
    def characteristic_polynomial(self) -> sp.Expr:
        return _characteristic_polynomial(self.scheme)

    @functools.cached_property
    def _numeric(self):
        args = [ETA, SINGULAR_VALUE, BETA]
        return (sp.lambdify(args, self.transition_matrix, "numpy"),
                sp.lambdify(args, self.noise_matrix, "numpy"))

    def _check(self, learning_rate, singular_values, momentum):
        check_positive(learning_rate, "learning_rate")
        s = check_eigenvalues(singular_values, "singular_values")
        _check_momentum(momentum)
        return s

    def matrices(self, learning_rate, singular_values, momentum=0.0):
        """Numeric M_i (r, 4, 4) and N_i (r, 4, 2) per singular value."""
        s = self._check(learning_rate, singular_values, momentum)
        M_fn, N_fn = self._numeric
        M = np.stack([np.asarray(M_fn(learning_rate, si, momentum), dtype=float) for si in s])
        N = np.stack([np.asarray(N_fn(learning_rate, si, momentum), dtype=float) for si in s])
        return M, N

    def spectral_radius(self, learning_rate, singular_values, momentum=0.0) -> float:
        r"""max_i max |z| over the roots of det(z I - M_i): the game converges iff < 1.

        Raises ValueError for learning_rate <= 0, singular values <= 0, momentum outside (-1, 1).

        Example
        -------
        >>> round(BilinearGame("simultaneous").spectral_radius(0.1, [1.0]), 6)   # sqrt(1 + eta^2 s^2)
        1.004988
        """
        M, _ = self.matrices(learning_rate, singular_values, momentum)
        return float(max(np.max(np.abs(np.linalg.eigvals(Mi))) for Mi in M))

    def iterate(self, learning_rate, singular_values, momentum=0.0, initial=1.0, steps=100,
                noise_variance=0.0, replicas=1, seed=None):
        """Run the game step by step: yields the states at k = 0..steps, each of shape (replicas, r, 4)
        (theta, theta_prev, phi, phi_prev; a view valid until the next step), in O(replicas r) memory.

        The same numbers as :meth:`run` (which stores them all). Raises ValueError on bad input.

        Example
        -------
        >>> g = BilinearGame("alternating")
        >>> [x.shape for x in g.iterate(0.1, [1.0, 0.5], momentum=-0.5, steps=2, replicas=3)]
        [(3, 2, 4), (3, 2, 4), (3, 2, 4)]
        """
        M, N = self.matrices(learning_rate, singular_values, momentum)
        steps = check_integer(steps, "steps", 1)
        replicas = check_integer(replicas, "replicas", 1)
        check_nonnegative(noise_variance, "noise_variance")
        return self._iterate(M, N, initial, steps, float(noise_variance), replicas, seed)

    @staticmethod
    def _iterate(M, N, initial, steps, noise_variance, replicas, seed):
        r = M.shape[0]
        x0 = np.broadcast_to(np.asarray(initial, dtype=float), (r,))
        # singular value first, (r, replicas, 4): x_i <- x_i M_i^T is one stacked matrix product
        x = np.tile(np.stack([x0, x0, x0, x0], axis=-1)[:, None, :], (1, replicas, 1))
        Mt, Nt = np.ascontiguousarray(M.transpose(0, 2, 1)), np.ascontiguousarray(N.transpose(0, 2, 1))
        rng = np.random.default_rng(seed)
        sd = float(np.sqrt(noise_variance))
        yield x.transpose(1, 0, 2)
        for _ in range(steps):
            x = x @ Mt
            if sd:   # the variates are drawn as (replicas, r, 2), as they always were
                x += (sd * rng.standard_normal((replicas, r, 2))).transpose(1, 0, 2) @ Nt
            yield x.transpose(1, 0, 2)

    def run(self, learning_rate, singular_values, momentum=0.0, initial=1.0, steps=100,
            noise_variance=0.0, replicas=1, seed=None):
        """Run the game: states of shape (steps + 1, replicas, r, 4) (theta, theta_prev, phi, phi_prev).

        Starts at rest (theta_{-1} = theta_0, phi_{-1} = phi_0 = ``initial``); with
        ``noise_variance`` > 0 each gradient gets independent N(0, noise_variance) noise drawn
        from ``numpy.random.default_rng(seed)``. Memory O(steps replicas r): :meth:`iterate`
        gives the same states one step at a time.
        """
        steps = check_integer(steps, "steps", 1)
        it = self.iterate(learning_rate, singular_values, momentum, initial, steps, noise_variance, replicas, seed)
        first = next(it)
        out = np.empty((steps + 1,) + first.shape)
        out[0] = first
        for k, x in enumerate(it, start=1):
            out[k] = x
        return out

    def trajectory(self, learning_rate, singular_values, momentum=0.0, initial=1.0, steps=100,
                   noise_variance=0.0) -> GameTrajectory:
        r"""Exact mean and second moments: mu' = M mu, Sigma' = M Sigma M^T + v N N^T per singular value.

        Example
        -------
        >>> tr = BilinearGame("alternating").trajectory(0.1, [1.0, 0.5], momentum=-0.3, steps=5)
        >>> tr.risk.shape, tr.second_moments.shape
        ((6,), (6, 4))
        """
        M, N = self.matrices(learning_rate, singular_values, momentum)
        steps = check_integer(steps, "steps", 1)
        check_nonnegative(noise_variance, "noise_variance")
        r = M.shape[0]
        x0 = np.broadcast_to(np.asarray(initial, dtype=float), (r,))
        mu = np.stack([x0, x0, x0, x0], axis=-1)
        Sig = np.einsum("ip,iq->ipq", mu, mu)
        Q = noise_variance * np.einsum("ipa,iqa->ipq", N, N)
        means, seconds = [mu], [np.diagonal(Sig, axis1=1, axis2=2).copy()]
        for _ in range(steps):
            mu = np.einsum("ipq,iq->ip", M, mu)
            Sig = np.einsum("ipa,iab,iqb->ipq", M, Sig, M) + Q
            means.append(mu)
            seconds.append(np.diagonal(Sig, axis1=1, axis2=2).copy())
        means, seconds = np.array(means), np.array(seconds)
        sm = np.concatenate([seconds[:, :, 0], seconds[:, :, 2]], axis=1)
        mn = np.concatenate([means[:, :, 0], means[:, :, 2]], axis=1)
        return GameTrajectory(risk=0.5 * sm.sum(axis=1), second_moments=sm, mean=mn)

    def latex(self) -> str:
        """Update rule, transition matrix and characteristic polynomial as amsmath ``align*``."""
        names = {ETA: r"\eta", SINGULAR_VALUE: r"s_i", BETA: r"\beta", _TH: r"\theta_{k,i}",
                 _THP: r"\theta_{k-1,i}", _PH: r"\varphi_{k,i}", _PHP: r"\varphi_{k-1,i}",
                 _XT: r"\xi^\theta_k", _XP: r"\xi^\varphi_k"}

        def t(e):
            return sp.latex(e, symbol_names=names)
        from .latex import align
        from .latex import rows as broken
        late = [_TH, _THP, _PH, _PHP, _XT, _XP]
        rows = [*broken(r"\theta_{k+1,i}", self.update[0], names, main=ETA, late=late),
                *broken(r"\varphi_{k+1,i}", self.update[2], names, main=ETA, late=late),
                r"M_i &= " + t(self.transition_matrix),
                r"\det(zI - M_i) &= " + t(self.characteristic_polynomial),
                r"\Sigma_{k+1,i} &= M_i \Sigma_{k,i} M_i^\top + v\, N_i N_i^\top,\quad N_i = " + t(self.noise_matrix)]
        return align(rows)


@persistent
def _characteristic_polynomial(scheme: str) -> sp.Expr:
    """det(z I - M), factored, of the ``scheme`` game (derived once; kept in the derivation cache)."""
    M = BilinearGame(scheme).transition_matrix
    return sp.factor(sp.expand((_Z * sp.eye(4) - M).det(method="berkowitz")))


def small_step_rate(scheme: str = "alternating"):
    r"""Derive the modulus of the eigenvalues near z = 1 for small steps, and the best momentum.

    Substituting z = 1 + a_1 eta + a_2 eta^2 into the derived characteristic polynomial and
    solving order by order gives |z| = 1 + c(beta) eta^2 s_i^2 + O(eta^3). The game converges
    for small eta iff c(beta) < 0 (the roots near z = beta have modulus about |beta| < 1);
    the best momentum for small steps minimises c(beta).

    Returns
    -------
    (c, best) : (sympy.Expr, sympy.Expr or None)
        c(beta) (coefficient of eta^2 s_i^2) and the minimiser over beta in (-1, 1), or None
        if c has no interior minimum (e.g. simultaneous updates, where c > 0 throughout).

    Raises ValueError for a scheme other than "simultaneous" or "alternating".

    Example
    -------
    >>> small_step_rate("alternating")
    (-beta/(beta - 1)**3, -1/2)

    Source: Gidel et al., arXiv:1807.04740, Thm. 4 (alternating updates with negative momentum).
    """
    if scheme not in _SCHEMES:
        raise ValueError(f"scheme must be one of {_SCHEMES}; got {scheme!r}")
    return _small_step_rate(scheme)


@persistent
def _small_step_rate(scheme: str):
    """The derivation of :func:`small_step_rate` (once per process; kept in the derivation cache).

    Order by order: eta^2 gives a quadratic in a_1 (its nonzero root, by ``sp.roots``), eta^3 is
    linear in a_2 (solved by its two coefficients): the same roots ``sp.solve`` finds, without its
    general machinery."""
    a1, a2 = sp.symbols("a_1 a_2")
    P = _characteristic_polynomial(scheme)
    expansion = sp.expand(P.subs(_Z, 1 + a1 * ETA + a2 * ETA**2))
    coeffs = sp.Poly(expansion, ETA).all_coeffs()[::-1]
    if any(sp.expand(c) != 0 for c in coeffs[:2]):  # pragma: no cover - z = 1 is a root at eta = 0
        raise RuntimeError("z = 1 is not a double root of the characteristic polynomial at eta = 0")
    a1v = next(r for r in sp.roots(sp.Poly(coeffs[2], a1)) if r != 0)
    lin = sp.Poly(sp.expand(coeffs[3].subs(a1, a1v)), a2)
    if lin.degree() != 1:  # pragma: no cover - the eta^3 equation is linear in a_2
        raise RuntimeError(f"the eta^3 equation is not linear in a_2: {lin}")
    slope, offset = lin.all_coeffs()
    a2v = sp.cancel(-offset / slope)
    # |1 + a1 eta + a2 eta^2|^2 = 1 + (2 Re a2 + |a1|^2) eta^2 + O(eta^3); a1 is imaginary
    re_a2 = sp.cancel((a2v + a2v.subs(sp.I, -sp.I)) / 2)
    abs_a1_sq = sp.cancel(-a1v**2)
    c = sp.factor(sp.cancel((2 * re_a2 + abs_a1_sq) / 2 / SINGULAR_VALUE**2))
    num = sp.Poly(sp.numer(sp.together(sp.diff(c, BETA))), BETA)
    crit = [x for x in sp.roots(num) if x.is_real and -1 < x < 1]
    best = None
    for x in crit:
        if sp.diff(c, BETA, 2).subs(BETA, x) > 0:
            best = x
    return c, best


@dataclass
class GameRegion:
    """Spectral radius of a game on a (momentum x learning rate) grid, plot-ready.

    Attributes
    ----------
    learning_rates : ndarray, shape (n,)
    momenta : ndarray, shape (m,)
    spectral_radius : ndarray, shape (m, n)
    converges : ndarray of bool, shape (m, n)
        ``spectral_radius < 1 - 1e-12``: the deterministic game converges to the equilibrium
        (the margin keeps float64 rounding of eigenvalues on the unit circle, e.g. alternating
        updates with beta = 0, from counting as convergence).
    """

    learning_rates: np.ndarray
    momenta: np.ndarray
    spectral_radius: np.ndarray
    converges: np.ndarray


def convergence_region(scheme, singular_values, learning_rates, momenta) -> GameRegion:
    """Where (step size, momentum) makes the ``scheme`` game converge, for all singular values.

    Raises ValueError for a bad scheme, singular values <= 0, learning rates <= 0 or
    momenta outside (-1, 1).

    Example
    -------
    >>> reg = convergence_region("alternating", [1.0], [0.1, 0.5], [-0.5, 0.0, 0.5])
    >>> reg.converges.astype(int).tolist()
    [[1, 1], [0, 0], [0, 0]]

    Source: Gidel et al., arXiv:1807.04740, Fig. 2 and Thm. 4.
    """
    game = BilinearGame(scheme)
    lrs = np.asarray(learning_rates, dtype=float)
    betas = np.asarray(momenta, dtype=float)
    if lrs.ndim != 1 or betas.ndim != 1 or not lrs.size or not betas.size:
        raise ValueError("learning_rates and momenta must be non-empty 1-D arrays")
    rho = np.array([[game.spectral_radius(g, singular_values, b) for g in lrs] for b in betas])
    return GameRegion(lrs, betas, rho, rho < 1 - 1e-12)
