r"""Monte Carlo SGD whose learning rate depends on each replica's own state.

The fixed-learning-rate engine (:func:`verify.simulate`) executes an algorithm's symbolic
update with hyperparameters shared by all replicas. Adaptive algorithms (idealised exact
line search, AdaGrad-Norm) choose the learning rate of every replica from that replica's
own iterate or gradient history, so this engine keeps a per-replica learning-rate policy:

* ``policy.start(n)`` -> per-replica accumulator (shape (n,)),
* ``policy.rate(e, acc, lam, sigma2)`` -> g_k per replica (shape (n,)), before the step,
* ``policy.after(acc, gradient)`` -> accumulator after the step's gradient.

Model and normalisation (arXiv:2405.19585): batch 1, x = sqrt(lambda) z with z standard
Gaussian, y = <x, theta*> + eps, eps ~ N(0, sigma^2); the step is
theta_{k+1} = theta_k - (g_k/d) G_k with G_k = x_k (<x_k, e_k> - eps_k); time t = k/d.

Replicas run in chunks, chunk c drawing from ``Generator(PCG64(child_c))`` with child_c the
c-th ``SeedSequence.spawn`` child of the recorded root seed, as in :mod:`verify.montecarlo`.
The output is a :class:`verify.SimulationResult` (risk, second moments, block averages, with
standard errors over replicas) plus the mean learning rate g_k and its standard error.
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

from .montecarlo import BlockRecorder, SimulationResult, assemble_result, chunk_streams, moments3

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

    def after(self, acc, grad):
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
        return np.broadcast_to(self._f(r, 0.0, lam.mean(), (lam**2).mean(), sq @ lam**2, *self._hv),
                               (e.shape[0],)).astype(float)

    def after(self, acc, grad):
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

    def after(self, acc, grad):
        return acc + (grad * grad).sum(axis=1) / grad.shape[1] ** 2


def _chunk(child, n, policy, lam, sigma2, e0, steps):
    rng = np.random.Generator(np.random.PCG64(child))
    d = lam.size
    sl = np.sqrt(lam)
    sd = float(np.sqrt(sigma2))
    e = np.broadcast_to(e0, (n, d)).copy()
    acc = policy.start(n)
    out = {"risk": (np.empty(steps + 1), np.empty(steps + 1), np.empty(steps + 1)),
           "lr": (np.empty(steps + 1), np.empty(steps + 1))}
    out["m"] = (np.empty((steps + 1, d)), np.empty((steps + 1, d)))
    out["mu"] = (np.empty((steps + 1, d)), np.empty((steps + 1, d)))
    blocks = BlockRecorder(n, steps, {"risk": (), "m": (d,), "mu": (d,), "lr": ()}, replica=("risk", "lr"))

    def put(key, k, v):
        if len(out[key]) == 3:
            out[key][0][k], out[key][1][k], out[key][2][k] = moments3(v)
            return
        mean = v.mean(axis=0)
        out[key][0][k] = mean
        out[key][1][k] = ((v - mean) ** 2).sum(axis=0)

    def record(k, e, g):
        sq = e * e
        risk = 0.5 * (sq @ lam + sigma2)
        put("risk", k, risk)
        put("m", k, sq)
        put("mu", k, e)
        put("lr", k, g)
        blocks.add(k, risk=risk, m=sq, mu=e, lr=np.broadcast_to(g, (n,)))

    first = getattr(policy, "needs_gradient_first", False)
    record(0, e, policy.rate(e, acc, lam, sigma2))
    em = getattr(policy, "euler_maruyama", False)
    for k in range(1, steps + 1):
        if em:
            e = policy.step(e, lam, sigma2, rng)
            record(k, e, policy.rate(e, acc, lam, sigma2))
            continue
        x = rng.standard_normal((n, d)) * sl
        resid = np.einsum("rd,rd->r", x, e)
        if sd:
            resid = resid - sd * rng.standard_normal(n)
        grad = x * resid[:, None]
        if first:
            acc = policy.after(acc, grad)
            g = policy.rate(e, acc, lam, sigma2)
        else:
            g = policy.rate(e, acc, lam, sigma2)
            acc = policy.after(acc, grad)
        e = e - (g / d)[:, None] * grad
        record(k, e, g)
    return n, {**out, **blocks.output()}


def simulate_adaptive(policy, *, eigenvalues, noise_variance=0.0, initial=1.0, steps=100, replicas=1000,
                      seed=None, chunk_size=256) -> AdaptiveResult:
    r"""Run batch-1 SGD with a per-replica adaptive learning rate, ``replicas`` independent times.

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

    Returns
    -------
    AdaptiveResult
        The recorded learning rate at step k >= 1 is the one used for the step from k-1 to k
        (for AdaGrad-Norm: after accumulating G_{k-1}); at k = 0 it is the rule at the initial
        state (eta/b for AdaGrad-Norm).

    Raises
    ------
    ValueError
        Bad eigenvalues (empty, non-positive), noise, initial, steps or replicas.

    Example
    -------
    >>> from theory.adaptive import line_search
    >>> res = simulate_adaptive(StateRule(line_search()), eigenvalues=[1.0, 0.5], steps=4, replicas=8, seed=0)
    >>> res.risk.shape
    (5,)
    """
    t0 = time.perf_counter()
    lam = check_eigenvalues(eigenvalues)
    check_nonnegative(noise_variance, "noise_variance")
    e0 = check_initial(initial, lam.size)
    steps = check_integer(steps, "steps", 1)
    replicas = check_replicas(replicas)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    if not all(hasattr(policy, a) for a in ("start", "rate", "after")):
        raise ValueError(f"policy must have start, rate and after (StateRule, AdaGradNorm, ConstantRate); got {policy!r}")
    root, children, sizes = chunk_streams(seed, replicas, chunk_size)
    parts = [_chunk(c, n, policy, lam, float(noise_variance), e0, steps) for c, n in zip(children, sizes)]
    params = dict(policy=repr(policy), eigenvalues=lam.tolist(), noise_variance=float(noise_variance),
                  initial=e0.tolist(), steps=steps, replicas=replicas)
    return assemble_result(parts, root, chunk_size, params, t0, cls=AdaptiveResult, learning_rate="lr")


def simulate_homogenized(*, eigenvalues, learning_rate, noise_variance=0.0, initial=1.0, t_max=1.0, dt=1 / 64,
                         replicas=1000, seed=None, chunk_size=256) -> SimulationResult:
    r"""Euler-Maruyama simulation of homogenized SGD (:func:`theory.highline.homogenized_sgd`).

    e_{n+1} = e_n - g K e_n dt + g sqrt(2 R(e_n) lambda / d) sqrt(dt) xi_n, xi_n ~ N(0, I_d),
    R(e) = (e^T K e + sigma^2)/2, for n = 0..t_max/dt; step n is time t = n dt. Same seeding
    scheme and output as :func:`simulate_adaptive` (per-step means and standard errors of the
    risk and e_i^2 over replicas, dyadic block averages).

    Raises ValueError for bad eigenvalues, learning_rate <= 0, dt <= 0, t_max/dt not an integer >= 1.
    Example: ``simulate_homogenized(eigenvalues=[1.0]*8, learning_rate=1.0, t_max=1, dt=0.25, replicas=10, seed=0)``.
    """
    lam = check_eigenvalues(eigenvalues)
    g = float(check_positive(learning_rate, "learning_rate"))
    check_positive(dt, "dt")
    check_positive(t_max, "t_max")
    steps = t_max / dt
    if abs(steps - round(steps)) > 1e-9 * steps:
        raise ValueError(f"t_max / dt must be an integer; got t_max={t_max!r}, dt={dt!r}")
    steps = check_integer(int(round(steps)), "t_max/dt", 1)
    pol = _Homogenized(g, float(dt))
    res = simulate_adaptive(pol, eigenvalues=lam, noise_variance=noise_variance, initial=initial, steps=steps,
                            replicas=replicas, seed=seed, chunk_size=chunk_size)
    res.parameters.update(learning_rate=g, dt=float(dt), t_max=float(t_max), scheme="Euler-Maruyama")
    return res


class _Homogenized(ConstantRate):
    """Policy object that makes the engine run Euler-Maruyama of homogenized SGD instead of SGD."""

    euler_maruyama = True

    def __init__(self, g, dt):
        super().__init__(g)
        self.dt = dt

    def step(self, e, lam, sigma2, rng):
        n, d = e.shape
        risk = 0.5 * ((e * e) @ lam + sigma2)
        noise = rng.standard_normal((n, d)) * np.sqrt(2 * risk[:, None] * lam / d * self.dt)
        return e - self.g * self.dt * e * lam + self.g * noise
