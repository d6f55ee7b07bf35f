r"""Monte Carlo SGD whose learning rate depends on each replica's own state.

Adaptive algorithms (idealised exact line search, AdaGrad-Norm) choose the learning rate of every
replica from that replica's own iterate or gradient history. They run through the main engine's
fused kernel (:mod:`verify.fused`, :func:`verify.fused.run_chunk_hooked`) with a per-replica
hyperparameter hook built from a learning-rate policy:

* ``policy.start(n)`` -> per-replica accumulator (shape (n,)),
* ``policy.rate_from(risk, m2, acc, lam)`` -> g_k per replica (shape (n,)) from the replica's risk
  R(e) = (e^T K e + sigma^2)/2 and M_2 = sum_i lambda_i^2 e_i^2,
* ``policy.after_norm(acc, g2, d)`` -> accumulator after a step whose gradient has <G, G> = g2.

Model and normalisation (arXiv:2405.19585): x = sqrt(lambda) z with z standard Gaussian (or the
standardised coordinates of another data model the kernel samples, ``data=``),
y = <x, theta*> + eps, eps ~ N(0, sigma^2); the step is theta_{k+1} = theta_k - (g_k/d) G_k with
G_k = (1/B) sum_b x_b (<x_b, e_k> - eps_b) (batch 1 in the paper); time t = k/d.

Only what is compared is recorded, with streaming accumulation: the risk and the learning rate
per step (mean, standard error, skewness), the per-replica dyadic block averages of the risk and
of the learning rate, block averages of e_i^2 and e_i, and e_i^2, e_i per step only for the
requested ``coordinates``. Memory is O(replicas d + steps (1 + len(coordinates))).

Replicas run in chunks, chunk c drawing from NumPy's SFC64 stream of the c-th ``SeedSequence.spawn``
child of the recorded root seed, as in :func:`verify.simulate` with ``engine="fused"``.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from theory import highline as hl
from theory.validation import (
    check_eigenvalues,
    check_initial,
    check_integer,
    check_nonnegative,
    check_positive,
    check_replicas,
)

from .montecarlo import (BlockRecorder, SimulationResult, _compile, assemble_result, choose_engine, chunk_streams,
                         moments3, run_chunks)

__all__ = ["StateRule", "AdaGradNorm", "ConstantRate", "simulate_adaptive", "AdaptiveResult",
           "simulate_homogenized"]


@dataclass
class AdaptiveResult(SimulationResult):
    """A :class:`verify.SimulationResult` with the per-step mean learning rate g_k and its standard error."""

    learning_rate: np.ndarray | None = None
    learning_rate_se: np.ndarray | None = None
    block_learning_rate: np.ndarray | None = None
    block_learning_rate_se: np.ndarray | None = None
    block_learning_rate_skewness: np.ndarray | None = None
    replica_block_learning_rate: np.ndarray | None = None


class ConstantRate:
    """g_k = g for every replica (a check of the engine against :func:`verify.simulate`)."""

    def __init__(self, g):
        self.g = float(check_positive(g, "learning_rate"))

    def start(self, n):
        return np.zeros(n)

    def rate(self, e, acc, lam, sigma2):
        return np.full(e.shape[0], self.g)

    def rate_from(self, risk, m2, acc, lam):
        return np.full(risk.shape[0], self.g)

    def after(self, acc, grad):
        return acc

    def after_norm(self, acc, g2, d):
        return acc


class StateRule:
    r"""A learning rate computed from the replica's own iterate by a :class:`theory.highline.LearningRateRule`.

    The rule's symbols are evaluated per replica on its iterate e: R = (1/2)(sum lambda_i e_i^2 + sigma^2),
    M_2 = sum_i lambda_i^2 e_i^2 (= (1/d) sum lambda_i^2 D_i^2 with D_i^2 = d e_i^2), tau_a = mean(lambda^a).
    Rules that need int R (AdaGrad-Norm) are refused: use :class:`AdaGradNorm`, the algorithm itself.
    Example: ``StateRule(theory.adaptive.line_search())`` is the idealised exact line search.
    """

    def __init__(self, rule):
        if not isinstance(rule, hl.LearningRateRule):
            raise ValueError(f"rule must be a theory.highline.LearningRateRule; got {rule!r}")
        if hl.I in rule.expression.free_symbols:
            raise ValueError("rules that depend on int_0^t R need their discrete algorithm (e.g. AdaGradNorm)")
        self.rule = rule
        self._f = rule._numpy
        self._hv = rule.values()

    def start(self, n):
        return np.zeros(n)

    def rate(self, e, acc, lam, sigma2):
        sq = e * e
        r = 0.5 * (sq @ lam + sigma2)
        return self.rate_from(r, sq @ lam**2, acc, lam)

    def rate_from(self, risk, m2, acc, lam):
        return np.broadcast_to(self._f(risk, 0.0, lam.mean(), (lam**2).mean(), m2, *self._hv),
                               (risk.shape[0],)).astype(float)

    def after(self, acc, grad):
        return acc

    def after_norm(self, acc, g2, d):
        return acc


class AdaGradNorm:
    r"""AdaGrad-Norm (arXiv:2405.19585, Alg. 1) in this package's units.

    b_k^2 = b^2 + (1/d^2) sum_{j<=k} ||G_j||^2,  g_k = eta / b_k,  theta_{k+1} = theta_k - (g_k/d) G_k.

    (The gradient of step k enters its own learning rate, as in Alg. 1; the accumulator is
    normalised by d^2 so that b_k^2 -> b^2 + 2 (tr K/d) int_0^t R as d -> infinity, see
    :func:`theory.adaptive.adagrad_norm_derivation`.) Raises ValueError unless eta > 0, b > 0.
    """

    needs_gradient_first = True

    def __init__(self, eta, b):
        self.eta = float(check_positive(eta, "eta"))
        self.b = float(check_positive(b, "b"))

    def start(self, n):
        return np.full(n, self.b**2)

    def rate(self, e, acc, lam, sigma2):
        return self.eta / np.sqrt(acc)

    def rate_from(self, risk, m2, acc, lam):
        return self.eta / np.sqrt(acc)

    def after(self, acc, grad):
        return self.after_norm(acc, (grad * grad).sum(axis=1), grad.shape[1])

    def after_norm(self, acc, g2, d):
        return acc + g2 / d**2


class _PolicyHook:
    """The per-replica hyperparameter hook (:func:`verify.fused.run_chunk_hooked`) of a learning-rate
    policy for SGD: learning rate gamma_k = g_k/d per replica; records g_k."""

    def __init__(self, policy, lam):
        self.policy, self.lam, self.d = policy, lam, lam.size
        self.first = getattr(policy, "needs_gradient_first", False)

    def start(self, feat):
        self.acc = self.policy.start(feat.shape[0])
        g = self.policy.rate_from(feat[:, 0], feat[:, 1], self.acc, self.lam)
        return [g / self.d], g

    def step(self, k, feat):
        pol = self.policy
        if self.first:   # AdaGrad-Norm: the step's own gradient enters its learning rate
            self.acc = pol.after_norm(self.acc, feat[:, 2], self.d)
            g = pol.rate_from(feat[:, 0], feat[:, 1], self.acc, self.lam)
        else:
            g = pol.rate_from(feat[:, 0], feat[:, 1], self.acc, self.lam)
            self.acc = pol.after_norm(self.acc, feat[:, 2], self.d)
        return [g / self.d], g


def simulate_adaptive(policy, *, eigenvalues, noise_variance=0.0, initial=1.0, steps=100, replicas=1000,
                      seed=None, chunk_size=256, batch=1, coordinates=(), workers=None,
                      sampling="auto", data=None) -> AdaptiveResult:
    r"""Run SGD with a per-replica adaptive learning rate, ``replicas`` independent times.

    The run goes through the main engine's fused kernel with a per-replica hyperparameter hook
    (:func:`verify.fused.run_chunk_hooked`); only what is compared is recorded (module docstring).

    Parameters
    ----------
    policy : StateRule, AdaGradNorm or ConstantRate
        The learning-rate policy (see the module docstring); the step is (g_k/d) G_k.
    eigenvalues : array_like (d,)
    noise_variance : float >= 0
    initial : float or array (d,)
        e_0 (so D_i^2(0) = d e_{0,i}^2).
    steps, replicas, chunk_size : int >= 1
    seed : int, SeedSequence or None
    batch : int >= 1
        Minibatch size B (the paper's algorithms: 1).
    coordinates : sequence of int, or None
        Coordinates i whose e_i^2 and e_i are recorded at every step (None: all d, memory
        O(steps d)); block averages of every coordinate are always recorded.
    workers : int, optional
        Threads over chunks; the numbers do not depend on it.
    sampling : {"auto", "direct", "sufficient"}
        As in :func:`verify.simulate`.
    data : theory.DataModel, default Gaussian()
        Any data model the fused kernel samples (Gaussian, Rademacher, IndependentCoordinates,
        SparseGaussian; :func:`verify.montecarlo.kernel_samples`).

    Returns
    -------
    AdaptiveResult
        The recorded learning rate at step k >= 1 is the one used for the step from k-1 to k
        (for AdaGrad-Norm: after accumulating G_{k-1}); at k = 0 it is the rule at the initial
        state (eta/b for AdaGrad-Norm). ``second_moments`` and ``mean`` have one column per
        requested coordinate (``parameters["coordinates"]``).

    Raises
    ------
    ValueError
        Bad eigenvalues (empty, non-positive), noise, initial, steps, replicas, batch, coordinates
        outside 0..d-1, a policy without the methods above, or a data model the kernel does not sample.

    Example
    -------
    >>> from theory.adaptive import line_search
    >>> res = simulate_adaptive(StateRule(line_search()), eigenvalues=[1.0, 0.5], steps=4, replicas=8, seed=0)
    >>> res.risk.shape, res.learning_rate.shape
    ((5,), (5,))
    """
    from theory import SGD, Gaussian

    from . import fused
    t0 = time.perf_counter()
    lam = check_eigenvalues(eigenvalues)
    check_nonnegative(noise_variance, "noise_variance")
    e0 = check_initial(initial, lam.size)
    steps = check_integer(steps, "steps", 1)
    replicas = check_replicas(replicas)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    batch = check_integer(batch, "batch", 1)
    if not all(hasattr(policy, a) for a in ("start", "rate_from", "after_norm")):
        raise ValueError("policy must have start, rate_from and after_norm (StateRule, AdaGradNorm, ConstantRate); "
                         f"got {policy!r}")
    root, children, sizes = chunk_streams(seed, replicas, chunk_size)
    sd = float(np.sqrt(float(noise_variance)))
    if coordinates is not None:
        coordinates = np.asarray(coordinates, dtype=np.int64).ravel()
        if coordinates.size and (coordinates.min() < 0 or coordinates.max() >= lam.size):
            raise ValueError(f"coordinates must lie in 0..{lam.size - 1}; got {coordinates.tolist()}")
    algorithm, data = SGD(), Gaussian() if data is None else data
    data.kurtosis_values(lam.size)   # validates per-coordinate parameters against d
    linear = _compile(algorithm)[2]
    _, sufficient = choose_engine("fused", sampling, data, batch, linear is not None)
    floor = sd**2 + float(getattr(data, "residual_variance", 0.0))

    def run(cs):
        return fused.run_chunk_hooked(cs[0], cs[1], algorithm, linear, _PolicyHook(policy, lam), lam, batch, sd,
                                      floor, e0, steps, sufficient, coords=coordinates, data=data)
    parts = run_chunks(run, children, sizes, workers)
    params = dict(policy=repr(policy), data=repr(data), eigenvalues=lam.tolist(), noise_variance=float(noise_variance),
                  initial=e0.tolist(), steps=steps, replicas=replicas, batch=batch, engine="fused",
                  sampling="sufficient" if sufficient else "direct",
                  coordinates=None if coordinates is None else coordinates.tolist())
    return assemble_result(parts, root, chunk_size, params, t0, cls=AdaptiveResult, learning_rate="lr")


def _homogenized_chunk(child, n, g, dt, lam, sigma2, e0, steps):
    """Euler-Maruyama of homogenized SGD on ``n`` replicas (PCG64 stream of ``child``)."""
    rng = np.random.Generator(np.random.PCG64(child))
    d = lam.size
    e = np.broadcast_to(e0, (n, d)).copy()
    out = {"risk": (np.empty(steps + 1), np.empty(steps + 1), np.empty(steps + 1)),
           "m": (np.empty((steps + 1, d)), np.empty((steps + 1, d))),
           "mu": (np.empty((steps + 1, d)), np.empty((steps + 1, d)))}
    blocks = BlockRecorder(n, steps, {"risk": (), "m": (d,), "mu": (d,)}, replica=("risk",))

    def record(k, e):
        sq = e * e
        risk = 0.5 * (sq @ lam + sigma2)
        out["risk"][0][k], out["risk"][1][k], out["risk"][2][k] = moments3(risk)
        for key, v in (("m", sq), ("mu", e)):
            mean = v.mean(axis=0)
            out[key][0][k], out[key][1][k] = mean, ((v - mean) ** 2).sum(axis=0)
        blocks.add(k, risk=risk, m=sq, mu=e)
        return risk

    risk = record(0, e)
    for k in range(1, steps + 1):
        noise = rng.standard_normal((n, d)) * np.sqrt(2 * risk[:, None] * lam / d * dt)
        e = e - g * dt * e * lam + g * noise
        risk = record(k, e)
    return n, {**out, **blocks.output()}


def simulate_homogenized(*, eigenvalues, g=None, noise_variance=0.0, initial=1.0, t_max=1.0, dt=1 / 64,
                         replicas=1000, seed=None, chunk_size=256, learning_rate=None) -> SimulationResult:
    r"""Euler-Maruyama simulation of homogenized SGD (:func:`theory.highline.homogenized_sgd`).

    e_{n+1} = e_n - g K e_n dt + g sqrt(2 R(e_n) lambda / d) sqrt(dt) xi_n, xi_n ~ N(0, I_d),
    R(e) = (e^T K e + sigma^2)/2, for n = 0..t_max/dt; step n is time t = n dt. ``g`` is the High
    Line's normalised learning rate g = gamma d (``learning_rate=`` is its deprecated old name).
    Output as :func:`verify.simulate` (per-step means and standard errors of the risk and e_i^2
    over replicas, dyadic block averages); PCG64 streams from ``SeedSequence`` children.

    Raises ValueError for bad eigenvalues, g <= 0 (or neither/both of g and learning_rate), dt <= 0,
    t_max/dt not an integer >= 1.
    Example: ``simulate_homogenized(eigenvalues=[1.0]*8, g=1.0, t_max=1, dt=0.25, replicas=10, seed=0)``.
    """
    import warnings
    if learning_rate is not None:
        if g is not None:
            raise ValueError("give g (the normalised learning rate), not both g and learning_rate")
        warnings.warn("simulate_homogenized(learning_rate=...) is deprecated: the argument is the High Line's "
                      "normalised learning rate g = gamma d; pass g=...", DeprecationWarning, stacklevel=2)
        g = learning_rate
    if g is None:
        raise ValueError("g (the normalised learning rate g = gamma d > 0) is required")
    t0 = time.perf_counter()
    lam = check_eigenvalues(eigenvalues)
    g = float(check_positive(g, "g"))
    check_positive(dt, "dt")
    check_positive(t_max, "t_max")
    check_nonnegative(noise_variance, "noise_variance")
    steps = t_max / dt
    if abs(steps - round(steps)) > 1e-9 * steps:
        raise ValueError(f"t_max / dt must be an integer; got t_max={t_max!r}, dt={dt!r}")
    steps = check_integer(int(round(steps)), "t_max/dt", 1)
    e0 = check_initial(initial, lam.size)
    replicas = check_integer(replicas, "replicas", 1)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    root, children, sizes = chunk_streams(seed, replicas, chunk_size)
    parts = [_homogenized_chunk(c, n, g, float(dt), lam, float(noise_variance), e0, steps)
             for c, n in zip(children, sizes)]
    params = dict(eigenvalues=lam.tolist(), g=g, noise_variance=float(noise_variance), initial=e0.tolist(),
                  steps=steps, replicas=replicas, dt=float(dt), t_max=float(t_max), scheme="Euler-Maruyama")
    return assemble_result(parts, root, chunk_size, params, t0)
