r"""The result of :func:`theory.derive_fourth`: symbolic update, LaTeX and numeric methods."""
from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from .. import symbols as sym
from ..algorithms import SGD
from ..validation import (check_eigenvalues, check_initial, check_integer, check_nonnegative,
                          check_positive)

__all__ = ["FourthMomentRecursion", "FourthMomentTrajectory", "TimeAverageCovariance"]


@dataclass
class FourthMomentTrajectory:
    """Exact second and fourth moments along a run from a deterministic e_0.

    Attributes
    ----------
    second_moments : ndarray, shape (steps + 1, d)
        m_{k,i} = E e_{k,i}^2.
    fourth_moments : ndarray, shape (steps + 1, d)
        Q_{k,ii} = E e_{k,i}^4.
    risk : ndarray, shape (steps + 1,)
        E R_k with R_k = (sum_i lambda_i e_{k,i}^2 + sigma^2)/2 the risk of replica theta_k.
    risk_variance : ndarray, shape (steps + 1,)
        Var R_k = (lambda^T Q_k lambda - (lambda^T m_k)^2)/4 (over replicas).
    second_moment_variance : ndarray, shape (steps + 1, d)
        Var(e_{k,i}^2) = Q_{k,ii} - m_{k,i}^2.
    Q : ndarray, shape (steps + 1, d, d) or None
        The whole even sector (only with ``full=True``).
    parameters : dict
    """

    second_moments: np.ndarray
    fourth_moments: np.ndarray
    risk: np.ndarray
    risk_variance: np.ndarray
    second_moment_variance: np.ndarray
    Q: np.ndarray | None = None
    parameters: dict = field(default_factory=dict)


@dataclass
class TimeAverageCovariance:
    """Exact law (mean, covariance) of block time averages of the per-replica risk.

    Blocks are [edges[b], edges[b+1]), b = 0..n-1; the block average of a series
    X_k is (1/(b - a)) sum_{k=a}^{b-1} X_k.

    Attributes
    ----------
    edges : ndarray of int, shape (n + 1,)
    risk_mean : ndarray, shape (n,)
        E of the block-averaged risk.
    risk_covariance : ndarray, shape (n, n)
        Covariance over replicas of the block-averaged risks.
    second_moment_mean : ndarray, shape (n, d)
        E of the block-averaged e_{k,i}^2.
    second_moment_variance : ndarray, shape (n, d)
        Variance over replicas of the block-averaged e_{k,i}^2.
    parameters : dict
    """

    edges: np.ndarray
    risk_mean: np.ndarray
    risk_covariance: np.ndarray
    second_moment_mean: np.ndarray
    second_moment_variance: np.ndarray
    parameters: dict = field(default_factory=dict)

    @staticmethod
    def block_index(edges):
        """(block of each step k < edges[-1], -1 outside the blocks; block sizes as floats)."""
        block_of = np.full(edges[-1], -1)
        for b in range(len(edges) - 1):
            block_of[edges[b]:edges[b + 1]] = b
        return block_of, np.diff(edges).astype(float)

    @classmethod
    def from_sums(cls, edges, sizes, cross, diag_sum, risk_sum, m2_sum, coord_sum, parameters=None):
        """The result from the sums accumulated over the steps of each block: ``cross[I, J]``
        = sum over k in I, l in J, k < l of lambda^T Cov(e_l^2, e_k^2) lambda, ``diag_sum[I]`` the
        k = l terms, and the sums of the risk, of e^2 and of the per-coordinate variance terms."""
        cov = (cross + cross.T + np.diag(diag_sum)) / (4.0 * np.outer(sizes, sizes))
        return cls(edges=edges, risk_mean=risk_sum / sizes, risk_covariance=cov,
                   second_moment_mean=m2_sum / sizes[:, None],
                   second_moment_variance=coord_sum / sizes[:, None] ** 2, parameters=parameters or {})


class DataBound:
    """Shared by the fourth-moment recursions: one symbolic derivation, many data models."""

    def with_data(self, data):
        """The same symbolic recursion with the numeric moments of ``data``."""
        self._compiled  # noqa: B018 - compile once, shared by every copy
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        other.data = data
        return other

    def __repr__(self):
        return f"{type(self).__name__}(algorithm={self.algorithm!r}, data={self.data!r})"


class FourthMomentRecursion(DataBound):
    """A derived even-sector (fourth-moment) recursion; returned by :func:`derive_fourth`.

    Attributes
    ----------
    algorithm, data
        What it was derived for (``data`` carries the numeric moments).
    pair : dict
        {symbol: coefficient} of Q'_ij (i != j) over :data:`PAIR_TERMS` and 1 (the constant).
    diagonal : dict
        {symbol: coefficient} of Q'_ii over :data:`DIAGONAL_TERMS` and 1.
    gradient_moments : dict
        {"pair": {(a, b): E[g_i^a g_j^b | e]}, "diagonal": {(a, 0): E[g_i^a | e]}}.
    """

    def __init__(self, *, algorithm, data, pair, diagonal, gradient_moments):
        self.algorithm, self.data = algorithm, data
        self.pair, self.diagonal = pair, diagonal
        self.gradient_moments = gradient_moments


    # ------------------------------------------------------------------ symbolic
    @functools.cached_property
    def update(self) -> list:
        """[Eq(Q_ij', ...) for i != j, Eq(Q_ii', ...)] with the state symbols of
        :data:`PAIR_TERMS` / :data:`DIAGONAL_TERMS` (T_i = sum_l lambda_l Q_il,
        U = sum_{l,l'} lambda_l lambda_l' Q_ll', V = sum_l (kappa_l - 3) lambda_l^2 Q_ll,
        S = sum_l lambda_l m_l)."""
        def rhs(coeffs):
            terms = []
            for t, c in coeffs.items():
                if c != 0:
                    c = sp.collect(sp.expand(c), sym.gamma, sp.factor)
                    terms.append(c if t == 1 else sp.Mul(c, t, evaluate=False))
            return sp.Add(*terms)
        return [sp.Eq(sp.Symbol("Q_ij'"), rhs(self.pair)), sp.Eq(sp.Symbol("Q_ii'"), rhs(self.diagonal))]

    def latex(self) -> str:
        """The derivation as a LaTeX ``align*`` environment (amsmath)."""
        from .derivation import latex_block
        return latex_block(self)

    # ------------------------------------------------------------------ numerics
    @functools.cached_property
    def _compiled(self):
        from .linear import compile_coefficients
        return compile_coefficients(self)

    def _moment_values(self, lam):
        vals = self.data.even_moment_values(len(lam))
        return [np.broadcast_to(np.asarray(vals[s], dtype=float), lam.shape)
                for s in (sym.kappa, sym.mu6, sym.mu8)]

    def _check(self, eigenvalues, learning_rate, batch, noise_variance):
        lam = check_eigenvalues(eigenvalues)
        if learning_rate is not None:
            check_positive(learning_rate, "learning_rate")
        batch = check_integer(batch, "batch", 1)
        check_nonnegative(noise_variance, "noise_variance")
        return lam, batch

    def linear_map(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0):
        """The recursion at numeric parameters, per direction, as an
        :class:`theory.fourth.EvenSectorMap` (float64; one step costs O(d^2)).

        Raises ValueError on bad input.

        Example
        -------
        >>> from theory import derive_fourth
        >>> mp = derive_fourth().linear_map([1.0, 0.5], 0.1, batch=2)
        >>> e2 = np.array([1.0, 4.0])            # e = (1, 2): Q = e^2 e^2^T, m = e^2
        >>> mp.apply(np.outer(e2, e2), e2).shape
        (2, 2)
        """
        from .linear import EvenSectorMap
        lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance)
        return EvenSectorMap.build(self, lam, np.ones(len(lam), dtype=int), float(learning_rate), batch,
                                   float(noise_variance), with_second=True)

    def _class_map(self, lam, learning_rate, batch):
        """The map restricted to class-symmetric matrices (directions merged by (lambda, kappa, mu6, mu8))."""
        from .linear import EvenSectorMap
        keys = np.stack([lam, *self._moment_values(lam)], axis=1)
        uniq, counts = np.unique(keys, axis=0, return_counts=True)
        return EvenSectorMap.build(self, uniq[:, 0], counts, learning_rate, batch, 0.0,
                                   moments=[uniq[:, 1], uniq[:, 2], uniq[:, 3]])

    def dense_operator(self, eigenvalues, learning_rate, batch=1) -> np.ndarray:
        r"""Dense matrix of the linear part Q -> L(Q) on the d(d+1)/2 coordinates Q_ij, i <= j.

        Coordinates in row-major order of the upper triangle, (0,0), (0,1), ..., (0,d-1),
        (1,1), ...; a symmetric Q has Q_ji = Q_ij. Cost O(d^4) memory: for tests and small d.

        Raises ValueError on bad input (d > 64 among them).

        Example
        -------
        >>> from theory import derive_fourth
        >>> derive_fourth().dense_operator([1.0, 0.5], 0.1).shape
        (3, 3)
        """
        lam, batch = self._check(eigenvalues, learning_rate, batch, 0.0)
        if len(lam) > 64:
            raise ValueError(f"eigenvalues must have at most 64 entries for a dense operator; got {len(lam)}")
        return self.linear_map(lam, learning_rate, batch).dense()

    def spectral_radius(self, eigenvalues, learning_rate, batch=1) -> float:
        """Spectral radius of the linear part of the Q-map (the fourth moments are stable iff < 1).

        Computed on the class-reduced operator plus its complement (identical directions
        merged, see :meth:`critical_learning_rate`); the number of distinct classes must be
        at most 40. Raises ValueError on bad input.

        Example
        -------
        >>> from theory import derive_fourth
        >>> derive_fourth().spectral_radius([1.0] * 100, 0.01) < 1
        True
        """
        lam, batch = self._check(eigenvalues, learning_rate, batch, 0.0)
        cm = self._class_map(lam, float(learning_rate), batch)
        if cm.classes > 40:
            raise ValueError(f"eigenvalues must have at most 40 distinct (eigenvalue, moment) classes for the "
                             f"dense spectral radius; got {cm.classes} (use critical_learning_rate)")
        return float(np.max(np.abs(cm.eigenvalues())))

    def critical_learning_rate(self, eigenvalues, batch=1, dps=None):
        r"""The fourth-moment critical learning rate gamma_c^(4).

        The smallest learning rate at which the spectral radius of the linear part L of
        the Q-map reaches 1. The full (Q, m) system is block triangular, so its spectral
        radius is max(rho(L), rho(L_m)); by Jensen Q_ii >= m_i^2, so gamma_c^(4) <= gamma_c.

        Method. L maps the cone of completely positive matrices (E[y y^T], y >= 0: the
        even sector of *some* law of e) into itself, so by Krein--Rutman rho(L) is an
        eigenvalue of L with an eigenvector in that cone, and averaging that eigenvector
        over permutations of identical directions keeps it an eigenvector: rho(L) is
        attained on class-symmetric matrices (directions with equal (lambda, kappa, mu_6,
        mu_8) merged; :meth:`spectral_radius` also computes the complement). There

        .. math:: \det(zI - L) = \det(zI - L_0)\,\det(I - M(z)),

        L_0 the part without the couplings T, U, V (triangular) and M(z) the
        (C + 2) x (C + 2) matrix of the couplings through (zI - L_0)^{-1}, C the number of
        classes. The exit is at z = 1, so gamma_c^(4) is the first root of det(I - L(gamma))
        on (0, gamma_c]. Located in float64 on class-symmetric matrices: up to dimension 120
        (about 14 classes) by a scan and bisection of the dense spectral radius (robust also
        when two eigenvalues cross 1 together); above, by a scan of the sign of
        det(I - L) (16 points, then 256 if no sign change) and Brent's method, confirmed on
        the dense spectral radius for at most 40 classes. With ``dps``, det(I - L) = 0 is
        refined in mpmath (at most 40 classes). Cost O(C^3) per evaluation: a two-class
        spectrum of any d in well under a second; d = 1024 distinct eigenvalues in about
        12 s on a loaded 2-core machine.

        Parameters
        ----------
        eigenvalues : array_like, shape (d,)
            lambda_i > 0.
        batch : int >= 1
        dps : int, optional
            Decimal digits; with it the result is an ``mpmath.mpf``.

        Returns
        -------
        float or mpmath.mpf

        Raises
        ------
        ValueError
            Bad eigenvalues, batch or dps; dps with more than 40 classes.
        RuntimeError
            If no crossing is found on (0, gamma_c (1 + 1e-6)] (which gamma_c^(4) <= gamma_c
            excludes unless det(I - L) only touches 0), or, with ``dps``, if the crossing is
            a double root of det(I - L) or the mpmath root leaves the float64 bracket.

        Example
        -------
        >>> from theory import derive, derive_fourth
        >>> lam = 1.0 / np.arange(1, 17)
        >>> g4 = derive_fourth().critical_learning_rate(lam, batch=2)
        >>> gc = derive().critical_learning_rate(lam, batch=2)
        >>> g4 < gc
        True

        Source: the crossing of the second-moment map is Bordelon & Pehlevan,
        arXiv:2106.02713, Sec. 3; the fourth-moment crossing is derived here.
        """
        from .critical import critical_crossing
        lam, batch = self._check(eigenvalues, None, batch, 0.0)
        if dps is not None:
            dps = check_integer(dps, "dps", 1)
        from ..derive import derive
        from ..empirical import _single_threaded_blas
        with _single_threaded_blas():
            second = derive(SGD(), self.data).critical_learning_rate(lam, batch=batch)
        return critical_crossing(self, lam, batch, second, dps)

    def below_critical_learning_rate(self, eigenvalues, learning_rate, batch=1) -> bool:
        r"""Whether ``learning_rate`` < gamma_c^(4) (:meth:`critical_learning_rate`), without locating it.

        For SGD the set of stable learning rates is the interval (0, gamma_c^(4)): if rho(L(gamma_2)) < 1,
        ``V(e) = sum_k E |e_k|^4`` (started at e, run at gamma_2) is a finite quartic form with
        ``V(e) >= |e|^4`` and ``E V((I - gamma_2 H) e) = V(e) - |e|^4 <= (1 - 1/c) V(e)``; V is convex (a sum
        of expectations of ``|M e|^4``), so gamma -> E V((I - gamma H) e) is convex on [0, gamma_2], equal to
        V(e) at gamma = 0, hence at most (1 - gamma / (c gamma_2)) V(e): ``E |e_k|^4 -> 0`` at every
        gamma in (0, gamma_2], and rho(L(gamma)) < 1 (a cone eigenvector for rho >= 1 would be the
        moment data of a law whose ``E |e_k|^4`` does not decay). So the answer is rho(L(gamma)) < 1 on the
        class-symmetric matrices, one dense evaluation (dimension <= 120); larger problems read the sign
        of det(I - L) on the scan grid of :meth:`critical_learning_rate` up to gamma
        (:func:`theory.fourth.critical.below_crossing`), and locate gamma_c^(4) only if that does not
        decide. Agrees with ``learning_rate < critical_learning_rate(...)`` (tests: drawn problems, and
        learning rates 1e-6 relative either side of gamma_c^(4)).

        Raises ValueError on bad input.

        Example
        -------
        >>> from theory import derive_fourth
        >>> rec = derive_fourth()
        >>> g4 = rec.critical_learning_rate([1.0, 0.5])
        >>> rec.below_critical_learning_rate([1.0, 0.5], 0.999 * g4), rec.below_critical_learning_rate([1.0, 0.5], g4 * 1.001)
        (True, False)
        """
        from ..derive import derive
        from ..empirical import _single_threaded_blas
        from .critical import sgd_crossing
        lam, batch = self._check(eigenvalues, learning_rate, batch, 0.0)
        gamma = float(learning_rate)
        with _single_threaded_blas():
            second = derive(SGD(), self.data).critical_learning_rate(lam, batch=batch)
            crossing, _, _ = sgd_crossing(self, lam, batch, second)
            below = crossing.below(gamma)
            if below is None:
                below = gamma < crossing.locate()[0]
        return bool(below)

    # ------------------------------------------------------------------ trajectories
    def trajectory(self, eigenvalues, learning_rate, batch=1, noise_variance=0.0, initial=1.0, steps=100,
                   full=False) -> FourthMomentTrajectory:
        r"""Exact E e_{k,i}^2, E e_{k,i}^4, the risk and its variance over replicas, k = 0..steps.

        From the deterministic initial error e_0 (``initial``, scalar or shape (d,)):
        m_0 = e_0^2, Q_0 = e_0^2 (e_0^2)^T; then Q_{k+1} = L(Q_k) + F(m_k, sigma^2) and
        m_{k+1} from :func:`theory.derive`. Cost O(steps d^2) time, O(d^2) memory
        (O(steps d^2) with ``full=True``). The risk of replica theta_k is
        R_k = (sum_i lambda_i e_{k,i}^2 + sigma^2)/2 (with the 1/2).

        Raises ValueError on bad input.

        Example
        -------
        >>> from theory import derive_fourth
        >>> tr = derive_fourth().trajectory([1.0, 0.5], 0.1, steps=3)
        >>> tr.risk_variance.shape, tr.second_moment_variance.shape
        ((4,), (4, 2))
        >>> float(tr.risk_variance[0])          # deterministic start
        0.0
        """
        lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance)
        steps = check_integer(steps, "steps", 1)
        e0 = check_initial(initial, len(lam))
        mp = self.linear_map(lam, learning_rate, batch, noise_variance)
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch,
                      noise_variance=noise_variance, initial=initial, steps=steps)
        return mp.trajectory(e0**2, steps, full=bool(full), parameters=params)

    def time_average_covariance(self, eigenvalues, learning_rate, edges, batch=1, noise_variance=0.0,
                                initial=1.0) -> TimeAverageCovariance:
        r"""Exact covariance over replicas of block time averages of the risk (and of e_i^2).

        For blocks [a, b) given by ``edges`` (e.g. [1, 2, 4, ..., steps + 1]) the block
        average is (1/(b - a)) sum_{k=a}^{b-1} R_k. The second-moment recursion holds
        conditionally, E[e_{l}^2 | e_k] = L_m^{l-k} e_k^2 + (deterministic forcing), so
        for k <= l

        .. math:: \operatorname{Cov}(R_k, R_l) = \tfrac14\, c_{l-k}^\top \operatorname{Cov}(e_k^2)\, \lambda,
                  \qquad c_n = (L_m^\top)^n \lambda,

        with Cov(e_k^2) = Q_k - m_k m_k^T. The sums over pairs (k, l) are accumulated
        forward, psi_I(l + 1) = L_m(psi_I(l) + [l in I] Cov(e_l^2) lambda): cost
        O(steps C^2 + n_blocks steps C), not O(steps^2), with C the number of classes of
        directions with equal (lambda, kappa, mu_6, mu_8, e_0^2): such directions obey one
        recursion, so the class sums are exact (C = d for distinct eigenvalues; C = 2 for
        K = diag(1, ..., 1, 1/2, ..., 1/2) with Gaussian data, any d). The per-coordinate
        variances of the block-averaged e_i^2 use the same recursion (j = i and j != i apart).

        Parameters
        ----------
        eigenvalues : array_like, shape (d,)
        learning_rate : float > 0
        edges : sequence of int, strictly increasing, edges[0] >= 0, at least 2 entries
        batch : int >= 1
        noise_variance : float >= 0
        initial : float or array of shape (d,)
            Deterministic e_0.

        Returns
        -------
        TimeAverageCovariance

        Raises
        ------
        ValueError
            Bad input (``edges`` not strictly increasing integers >= 0 among them).

        Example
        -------
        >>> from theory import derive_fourth
        >>> tac = derive_fourth().time_average_covariance([1.0, 0.5], 0.2, edges=[1, 2, 4, 8])
        >>> tac.risk_covariance.shape
        (3, 3)
        """
        from ..derive import derive
        from ..linear import BlockRankOne
        from .linear import EvenSectorMap
        lam, batch = self._check(eigenvalues, learning_rate, batch, noise_variance)
        edges = _check_edges(edges)
        e0 = check_initial(initial, len(lam))
        moments = self._moment_values(lam)
        # classes: equal (lambda, kappa, mu_6, mu_8) and equal e_0^2 obey one recursion
        keys = np.stack([lam, *moments, e0**2], axis=1)
        _, first, inverse, counts = np.unique(keys, axis=0, return_index=True, return_inverse=True,
                                              return_counts=True)
        mp = EvenSectorMap.build(self, lam[first], counts, float(learning_rate), batch, float(noise_variance),
                                 moments=[np.asarray(x)[first] for x in moments])
        second = derive(SGD(), self.data).linear_map(lam, learning_rate, batch, noise_variance)
        mp.second = BlockRankOne(second.A[first], second.u[first], second.v[first], second.f[first],
                                 second.w[first], second.offset)
        params = dict(eigenvalues=lam, learning_rate=learning_rate, batch=batch,
                      noise_variance=noise_variance, initial=initial, edges=edges)
        return mp.time_average_covariance(e0[first]**2, edges, parameters=params, directions=np.ravel(inverse))


def _check_edges(edges) -> np.ndarray:
    try:
        arr = np.asarray(edges)
    except Exception as exc:  # pragma: no cover - numpy accepts nearly anything
        raise ValueError(f"edges must be a 1-D sequence of integers; got {edges!r}") from exc
    if arr.ndim != 1 or arr.size < 2:
        raise ValueError(f"edges must be a 1-D sequence of at least 2 integers (block boundaries); got {edges!r}")
    try:
        integral = all(float(x).is_integer() for x in arr.tolist())
    except (TypeError, ValueError):
        integral = False
    if not integral:
        raise ValueError(f"edges must be integers (step indices); got {edges!r}")
    arr = arr.astype(np.int64)
    if arr[0] < 0 or np.any(np.diff(arr) <= 0):
        raise ValueError(f"edges must be strictly increasing integers >= 0; got {edges!r}")
    return arr
