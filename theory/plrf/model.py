r"""The power-law random features (PLRF) model: one instance, exactly.

Data x in R^v with x_j = j^{-alpha} z_j (z standard Gaussian), target y = <x, b> with
b_j = j^{-beta}, features W^T x with W in R^{v x d}, W_ij ~ N(0, 1/d), parameters theta in R^d,

.. math::
    P(\theta) = \tfrac12\,\mathbb{E}\bigl(\langle W^\top x, \theta\rangle - y\bigr)^2
              = \tfrac12\,\bigl\| D^{1/2} (W\theta - b) \bigr\|^2,\qquad D = \mathrm{diag}(j^{-2\alpha}).

*Reduction to Gaussian least squares.* For a fixed W the features f = W^T x and the target y
are jointly Gaussian. With theta* the population minimiser, the residual eps = y - <f, theta*>
is uncorrelated with f (normal equations), hence — being jointly Gaussian with f — independent
of f. So y = <f, theta*> + eps with f ~ N(0, K), K = W^T D W, and eps ~ N(0, sigma^2),
sigma^2 = 2 P_inf: exactly the package's least-squares model with label noise, in the risk
convention R = (1/2)(sum_i lambda_i E e_i^2 + sigma^2). Starting from theta_0 = 0 the initial
error is e_0 = -theta*, written in K's eigenbasis.

*Numerics.* Nothing forms K. The weighted design A = D^{1/2} W (v x d) is factored once by
the SVD, A = U S V^T (Householder QR A = QR, then the SVD of R; backward stable): the eigenvalues of K are S^2 (small
ones to absolute accuracy ~ eps * S_max * S_min instead of eps * S_max^2 for an eigen-
decomposition of K), theta* = V S^+ U^T c with c = D^{1/2} b the minimum-norm least-squares
solution, and P_inf = (1/2) ||c - U U^T c||^2 from the explicit projection (no cancellation
between two large numbers). Singular values below ``rcond * S_max`` (rcond = max(v, d) * eps,
as in numpy.linalg.lstsq) count as zero; for v < d the d - v null directions of K have
eigenvalue exactly 0 and carry no error.

Source: Ferbach, Everett, Gidel, Paquette, Paquette, "Dimension-adapted Momentum Outscales
SGD", arXiv:2505.16098 (the PLRF model, Sec. 2); the authors' code
github.com/LosVolterrosHermanos/Experimental, power_law_rf/power_law_rf.py (same conventions:
risk = MSE/2, population eigenvalues j^{-2 alpha}, b_j = j^{-beta}).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import optimize

from ..validation import _scalar, check_integer, check_seed

__all__ = ["DeterministicEquivalent", "PowerLawRandomFeatures", "deterministic_equivalent", "sketch_kappa"]


def _check_alpha(alpha):
    x = _scalar(alpha, "alpha")
    if not (math.isfinite(x) and x > 0):
        raise ValueError(f"alpha must be a finite real number > 0 (data covariance j^(-2 alpha)); got {alpha!r}")
    return x


def _check_beta(beta):
    x = _scalar(beta, "beta")
    if not math.isfinite(x):
        raise ValueError(f"beta must be a finite real number (target b_j = j^(-beta)); got {beta!r}")
    return x


def _check_seed(seed):
    if seed is None:
        raise ValueError("seed must be a non-negative integer or a numpy.random.SeedSequence (an instance is "
                         "reproducible); got None")
    check_seed(seed)
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, numbers.Integral):
        return np.random.SeedSequence(int(seed))
    return np.random.SeedSequence([int(s) for s in seed])


def sketch_kappa(data_eigenvalues, d) -> float:
    r"""The effective regularisation kappa > 0 of a Gaussian sketch of dimension d.

    kappa solves the degrees-of-freedom equation

    .. math:: \sum_{j=1}^v \frac{\lambda_j}{\lambda_j + \kappa} = d,

    found by ``scipy.optimize.brentq`` in log kappa (the left side decreases strictly from v to 0).
    It exists iff v > d; for v <= d the sketch spans R^v and kappa = 0 is returned.

    Parameters
    ----------
    data_eigenvalues : array_like, shape (v,), entries > 0
        lambda_j (for PLRF j^{-2 alpha}).
    d : int >= 1
        Sketch dimension (number of features).

    Returns
    -------
    float

    Example
    -------
    >>> round(sketch_kappa([1.0] * 4, 2), 12)     # 4/(1 + kappa) = 2
    1.0

    Source: Bach, arXiv:2303.01372 (random projections; the degrees of freedom equal the
    projection dimension); the authors' ``theory_kappa``/``theory_tau`` (power_law_rf/
    deterministic_equivalent.py) are its continuum (2 alpha > 1) and discrete (2 alpha < 1)
    forms with kappa = d^{-2 alpha}/kappa_authors = 1/tau.
    """
    lam = np.asarray(data_eigenvalues, dtype=float)
    d = check_integer(d, "d", 1)
    if lam.ndim != 1 or lam.size == 0 or not np.all(np.isfinite(lam) & (lam > 0)):
        raise ValueError(f"data_eigenvalues must be a non-empty 1-D array of finite numbers > 0; got {lam!r}")
    if lam.size <= d:
        return 0.0

    def excess(t):
        return float(np.sum(lam / (lam + math.exp(t)))) - d

    lo, hi = math.log(lam.min()) - 5.0, math.log(lam.max()) + 5.0
    while excess(lo) <= 0:
        lo -= 10.0
    while excess(hi) >= 0:
        hi += 10.0
    return math.exp(optimize.brentq(excess, lo, hi, xtol=1e-14, rtol=4 * np.finfo(float).eps))


@dataclass(frozen=True)
class DeterministicEquivalent:
    r"""The instance-free prediction of a PLRF model (see :meth:`PowerLawRandomFeatures.deterministic_equivalent`).

    Attributes
    ----------
    kappa : float
        The solution of sum_j lambda_j/(lambda_j + kappa) = d (0 if v <= d).
    irreducible_risk : float
        P_inf ~ (1/2) sum_j kappa lambda_j b_j^2/(lambda_j + kappa).
    eigenvalues : ndarray, shape (d,)
        The paper's approximate spectrum j^{-2 alpha}, j = 1..d, in ascending order (accurate
        for the large eigenvalues only, see the docs page plrf.md).
    initial_second_moments : ndarray, shape (d,)
        The matching approximate e_{0,i}^2 (rho_j of the authors' code): j^{-2 beta} + c_beta/d with
        c_beta = sum_{j<=d} j^{-2 beta} if alpha > 1/2 and beta > 1/2, else 0; ascending eigenvalue order.
    """

    kappa: float
    irreducible_risk: float
    eigenvalues: np.ndarray
    initial_second_moments: np.ndarray


def deterministic_equivalent(alpha, beta, v, d) -> DeterministicEquivalent:
    r"""The deterministic equivalent of PLRF(alpha, beta, v, d) without drawing W (the formulas of
    :meth:`PowerLawRandomFeatures.deterministic_equivalent`, which calls this; also used by
    :func:`theory.plrf.phases.theory_spectrum`, which is why d can reach 10^6).

    kappa from :func:`sketch_kappa` on lambda_j = j^{-2 alpha}, j <= v;
    P_inf = (1/2) sum_{j<=v} kappa lambda_j b_j^2/(lambda_j + kappa), b_j = j^{-beta}; eigenvalues
    j^{-2 alpha} and e_{0,j}^2 = j^{-2 beta} + c_beta/d (c_beta = sum_{j<=d} j^{-2 beta} if
    alpha > 1/2 and beta > 1/2, else 0), j <= d, in ascending eigenvalue order.

    Raises ValueError for alpha not finite > 0, beta not finite, v or d not integers >= 1.

    Example
    -------
    >>> de = deterministic_equivalent(1.0, 0.8, 400, 100)
    >>> float(de.eigenvalues[-1]), de.eigenvalues.shape
    (1.0, (100,))

    Source: Bach, arXiv:2303.01372; Ferbach et al., arXiv:2505.16098 (the authors'
    theory_limit_loss and theory_rhos).
    """
    a, b = _check_alpha(alpha), _check_beta(beta)
    v, d = check_integer(v, "v", 1), check_integer(d, "d", 1)
    jv = np.arange(1, v + 1, dtype=float)
    lam, target = jv ** (-2.0 * a), jv ** (-b)
    kappa = sketch_kappa(lam, d)
    p_inf = 0.5 * float(np.sum(kappa * lam * target**2 / (lam + kappa)))
    j = np.arange(1, d + 1, dtype=float)
    c_beta = float(np.sum(j ** (-2 * b))) if (a > 0.5 and b > 0.5) else 0.0
    eig = (j ** (-2 * a))[::-1].copy()
    rho = (j ** (-2 * b) + c_beta / d)[::-1].copy()
    return DeterministicEquivalent(kappa, p_inf, eig, rho)


class PowerLawRandomFeatures:
    r"""One instance of the power-law random features model (W drawn from a SeedSequence).

    The instance is Gaussian least squares with feature covariance K = W^T D W, label noise of
    variance sigma^2 = 2 P_inf (independent of the features, see the module docstring) and
    initial error e_0 = -theta* (theta_0 = 0). Risk convention: P(theta) = (1/2) E(<W^T x,
    theta> - y)^2 (the package's R, not twice it).

    Parameters
    ----------
    alpha : float > 0
        Data exponent: Var x_j = j^{-2 alpha}. Any alpha > 0 is allowed because v is finite
        (alpha <= 1/2 has a trace sum_j j^{-2 alpha} that grows with v; the limit v = infinity
        needs 2 alpha > 1 and is not a value of this class).
    beta : float
        Target exponent: b_j = j^{-beta} (any real number).
    v : int >= 1
        Hidden (data) dimension.
    d : int >= 1
        Number of features = parameters (v > d is the paper's regime; v <= d is allowed, then
        P_inf = 0 and K has d - v zero eigenvalues).
    seed : int >= 0, sequence of them, or numpy.random.SeedSequence, default 0
        W = standard_normal((v, d)) / sqrt(d) from ``Generator(PCG64(seed))``.

    Attributes
    ----------
    feature_matrix : ndarray (v, d)   W.
    data_eigenvalues : ndarray (v,)   j^{-2 alpha}.
    target : ndarray (v,)             b_j = j^{-beta}.
    eigenvalues : ndarray (d,)        ascending eigenvalues of K = W^T D W.
    eigenvectors : ndarray (d, d)     column i is the unit eigenvector of eigenvalues[i].
    optimum : ndarray (d,)            theta* (minimum norm), original feature coordinates.
    initial_error : ndarray (d,)      e_0 = -V^T theta* in K's eigenbasis.
    initial_second_moments : ndarray (d,)  e_0^2.
    irreducible_risk : float          P_inf = min_theta P(theta).
    noise_variance : float            sigma^2 = 2 P_inf.

    Raises
    ------
    ValueError
        alpha not a finite number > 0, beta not finite, v or d not an integer >= 1, or a bad seed.

    Example
    -------
    >>> m = PowerLawRandomFeatures(alpha=1.0, beta=0.8, v=40, d=10, seed=1)
    >>> m.eigenvalues.shape, bool(m.irreducible_risk > 0)
    ((10,), True)
    >>> import numpy as np
    >>> bool(np.isclose(m.risk(m.optimum), m.irreducible_risk, rtol=1e-10))
    True

    Source: Ferbach et al., arXiv:2505.16098, Sec. 2 (PLRF); Paquette et al.'s code
    power_law_rf/power_law_rf.py (``PowerLawRF``: same W, D, b and risk = MSE/2).
    """

    def __init__(self, alpha, beta, v, d, seed=0):
        self.alpha = _check_alpha(alpha)
        self.beta = _check_beta(beta)
        self.v = check_integer(v, "v", 1)
        self.d = check_integer(d, "d", 1)
        self.seed = _check_seed(seed)
        rng = np.random.Generator(np.random.PCG64(self.seed))
        self.feature_matrix = rng.standard_normal((self.v, self.d)) / math.sqrt(self.d)
        j = np.arange(1, self.v + 1, dtype=float)
        self.data_eigenvalues = j ** (-2.0 * self.alpha)
        self.target = j ** (-self.beta)

    def __repr__(self):
        return (f"PowerLawRandomFeatures(alpha={self.alpha!r}, beta={self.beta!r}, v={self.v}, d={self.d}, "
                f"seed=SeedSequence(entropy={self.seed.entropy!r}, spawn_key={tuple(self.seed.spawn_key)!r}))")

    # ------------------------------------------------------------------ the factorisation
    @cached_property
    def _weighted(self):
        """c = D^{1/2} b and A = D^{1/2} W."""
        sqrt_d = np.sqrt(self.data_eigenvalues)
        return sqrt_d * self.target, sqrt_d[:, None] * self.feature_matrix

    @cached_property
    def _svd(self):
        """(U_r, s_r, V, rank): thin SVD of A restricted to its numerical rank, V full (d, d), descending."""
        _, A = self._weighted
        if self.v >= self.d:   # Householder QR first, then the SVD of the (d, d) factor: same backward
            Q, R = np.linalg.qr(A)  # stability, several times faster than gesdd on the tall (v, d) matrix
            Ur, s, Vt = np.linalg.svd(R)
            U = Q @ Ur
        else:                  # V must be square (d, d): the full SVD (U is only (v, v))
            U, s, Vt = np.linalg.svd(A, full_matrices=True)
        tol = max(self.v, self.d) * np.finfo(float).eps * (s[0] if s.size else 0.0)
        rank = int(np.sum(s > tol))
        return np.ascontiguousarray(U[:, :rank]), s[:rank], Vt.T, rank

    @cached_property
    def eigenvalues(self) -> np.ndarray:
        """Ascending eigenvalues of K = W^T D W, shape (d,) (squared singular values of D^{1/2} W)."""
        _, s, _, rank = self._svd
        lam = np.zeros(self.d)
        lam[:rank] = s**2
        return lam[::-1].copy()

    @cached_property
    def eigenvectors(self) -> np.ndarray:
        """Orthonormal eigenvectors of K, shape (d, d); column i belongs to ``eigenvalues[i]``."""
        return self._svd[2][:, ::-1].copy()

    @cached_property
    def _coefficients(self):
        """U_r^T c (length rank, descending singular values)."""
        c, _ = self._weighted
        return self._svd[0].T @ c

    @cached_property
    def optimum(self) -> np.ndarray:
        """theta* = argmin P (minimum norm), shape (d,), in the original feature coordinates."""
        _, s, V, rank = self._svd
        return V[:, :rank] @ (self._coefficients / s)

    @cached_property
    def initial_error(self) -> np.ndarray:
        """e_0 = V^T (theta_0 - theta*) with theta_0 = 0, shape (d,), ascending eigenvalue order."""
        _, s, _, rank = self._svd
        e = np.zeros(self.d)
        e[:rank] = -self._coefficients / s
        return e[::-1].copy()

    @property
    def initial_second_moments(self) -> np.ndarray:
        """e_{0,i}^2, shape (d,) (the authors' rho_i)."""
        return self.initial_error**2

    @cached_property
    def irreducible_risk(self) -> float:
        """P_inf = (1/2) ||c - U U^T c||^2 = min_theta P(theta) (exact for the instance), U an orthonormal
        basis of the range of A (numerical rank as in the SVD).

        v > d: the least-squares residual from the Householder QR of the augmented matrix [A | c]
        (R's last diagonal entry is +- ||c - U U^T c|| when A has full column rank, decided from the
        singular values of R's leading d x d block, which are A's), without forming Q or the singular
        vectors: 3x cheaper than the SVD route, the same to 14 digits and to LAPACK's gelsd
        (``tests/test_plrf_model.py``). Rank-deficient A, and v <= d: the projection on the SVD's U."""
        c, A = self._weighted
        if self.v > self.d:
            R = np.linalg.qr(np.column_stack([A, c]), mode="r")
            s = np.linalg.svd(R[:self.d, :self.d], compute_uv=False)
            if np.sum(s > max(self.v, self.d) * np.finfo(float).eps * s[0]) == self.d:
                return 0.5 * float(R[self.d, self.d]) ** 2
        U = self._svd[0]
        r = c - U @ (U.T @ c)
        r -= U @ (U.T @ r)         # one step of reorthogonalisation: the projection to working accuracy
        return 0.5 * float(r @ r)

    @property
    def noise_variance(self) -> float:
        """sigma^2 = 2 P_inf: the variance of the residual eps = y - <W^T x, theta*>."""
        return 2.0 * self.irreducible_risk

    # ------------------------------------------------------------------ risk
    def risk(self, theta) -> np.ndarray | float:
        r"""Population risk P(theta) = (1/2) ||D^{1/2}(W theta - b)||^2, exactly.

        Parameters
        ----------
        theta : array_like, shape (d,) or (n, d)

        Returns
        -------
        float for shape (d,), ndarray (n,) for shape (n, d).

        Raises
        ------
        ValueError
            If theta is not a finite real array of shape (d,) or (n, d).
        """
        try:
            t = np.asarray(theta, dtype=float)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"theta must be a real array of shape (d,) or (n, d) with d = {self.d}; "
                             f"got {theta!r}") from exc
        if t.ndim not in (1, 2) or t.shape[-1] != self.d:
            raise ValueError(f"theta must have shape (d,) or (n, d) with d = {self.d}; got shape {t.shape}")
        if not np.all(np.isfinite(t)):
            raise ValueError("theta must be finite")
        c, A = self._weighted
        r = t @ A.T - c
        out = 0.5 * np.einsum("...j,...j->...", r, r)
        return float(out) if t.ndim == 1 else out

    # ------------------------------------------------------------------ theory
    def deterministic_equivalent(self) -> DeterministicEquivalent:
        r"""The instance-free prediction of P_inf and of the spectrum and target projections.

        The irreducible risk uses the sketching deterministic equivalent
        D^{1/2}(I - Pi_A) D^{1/2} ~ kappa D (D + kappa)^{-1}, with kappa from :func:`sketch_kappa`:

        .. math::
            \sum_{j=1}^v \frac{j^{-2\alpha}}{j^{-2\alpha} + \kappa} = d,\qquad
            P_\infty \approx \frac12 \sum_{j=1}^v \frac{\kappa\, j^{-2\alpha} b_j^2}{j^{-2\alpha} + \kappa}.

        This is the discrete form; the authors' ``theory_limit_loss`` uses its continuum
        approximation for 2 alpha >= 1 (kappa_authors = 1/int_0^{v/d} dx/(kappa_authors + x^{2 alpha}),
        kappa = d^{-2 alpha}/kappa_authors) and the same discrete form for 2 alpha < 1. The spectrum
        and e_0^2 are the paper's approximation (the authors' ``theory_rhos``): eigenvalues
        j^{-2 alpha}, e_{0,j}^2 = j^{-2 beta} + c_beta/d, j = 1..d. The measured errors against
        instances (averaged over seeds) are in docs/plrf.md and tests/test_plrf_model.py.

        Returns
        -------
        DeterministicEquivalent

        Example
        -------
        >>> de = PowerLawRandomFeatures(1.0, 0.8, v=400, d=100).deterministic_equivalent()
        >>> bool(de.kappa > 0), de.eigenvalues.shape
        (True, (100,))

        Source: Bach, arXiv:2303.01372 (Gaussian random projections); Ferbach et al.,
        arXiv:2505.16098, and the authors' power_law_rf/deterministic_equivalent.py
        (theory_limit_loss, theory_kappa, theory_tau, theory_rhos).
        """
        return deterministic_equivalent(self.alpha, self.beta, self.v, self.d)

    def recursion_inputs(self) -> dict:
        r"""The instance as inputs of :meth:`theory.Recursion.trajectory`.

        Returns ``dict(eigenvalues=..., noise_variance=..., initial=...)``: the positive
        eigenvalues of K (ascending), sigma^2 = 2 P_inf and e_0 in K's eigenbasis on those
        directions (directions with eigenvalue exactly 0, present only for v < d, carry e_0 = 0
        and no gradient, so they are left out).

        Example
        -------
        >>> from theory import SGD, Gaussian, derive
        >>> m = PowerLawRandomFeatures(1.0, 0.8, v=40, d=10, seed=2)
        >>> tr = derive(SGD(), Gaussian()).trajectory(**m.recursion_inputs(), learning_rate=0.2, steps=5)
        >>> bool(abs(tr.risk[0] - m.risk([0.0] * 10)) < 1e-12)
        True
        """
        keep = self.eigenvalues > 0
        return {"eigenvalues": self.eigenvalues[keep].copy(), "noise_variance": self.noise_variance,
                    "initial": self.initial_error[keep].copy()}
