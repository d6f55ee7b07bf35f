r"""Monte Carlo of heavy ball on logistic regression with a rare class (the model of :mod:`theory.rare_class`).

Per replica the rare class's logit theta evolves as

.. math:: \theta_{k+1} = \theta_k - \gamma\, b_k\,(\sigma(\theta_k) - y_k) + \beta(\theta_k - \theta_{k-1}),
          \qquad b_k \sim \mathrm{Bernoulli}(p),\ y_k \sim \mathrm{Bernoulli}(\sigma(\theta^*))

(or y_k = sigma(theta*) with soft labels): the full nonlinear logistic gradient, not its
linearisation. One-hot inputs decouple the classes, so the rare class is simulated alone,
vectorised over replicas; replicas are split into chunks with their own PCG64 stream from a
child of the given ``SeedSequence``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from theory.validation import check_integer, check_positive

__all__ = ["RareClassRun", "simulate_rare_class"]


@dataclass
class RareClassRun:
    """Per-replica records: ``steps`` (T,), ``e2`` (replicas, T) the squared error (theta - theta*)^2,
    ``excess`` (replicas, T) the exact population excess risk per example p KL(sigma(theta*) || sigma(theta)),
    ``seed`` (entropy, spawn_key), ``parameters``."""

    steps: np.ndarray
    e2: np.ndarray
    excess: np.ndarray
    seed: dict
    parameters: dict

    def block_average(self, first, last, quantity="e2"):
        """Each replica's ``quantity`` averaged over the recorded steps in [first, last] (shape (replicas,))."""
        sel = (self.steps >= first) & (self.steps <= last)
        if not sel.any():
            raise ValueError(f"no recorded step in [{first}, {last}]")
        return getattr(self, quantity)[:, sel].mean(axis=1)


def _kl(theta_star, th):
    """KL(Bern(sigma(theta*)) || Bern(sigma(theta))) = softplus(theta) - softplus(theta*) - sigma(theta*)(theta - theta*)."""
    s = expit(theta_star)
    return np.logaddexp(0.0, th) - np.logaddexp(0.0, theta_star) - s * (th - theta_star)


def _chunk(child, n, p, gamma, beta, ts, labels, e0, steps, rec):
    rng = np.random.Generator(np.random.PCG64(child))
    th = np.full(n, ts + e0)
    prev = th.copy()
    out = np.empty((n, rec.size))
    s = expit(ts)
    j = 0
    for k in range(steps + 1):
        if j < rec.size and rec[j] == k:
            out[:, j] = th
            j += 1
        if k == steps:
            break
        b = rng.random(n) < p
        y = (rng.random(n) < s).astype(float) if labels == "bernoulli" else s
        grad = np.where(b, expit(th) - y, 0.0)
        th, prev = th - gamma * grad + beta * (th - prev), th
    return out


def simulate_rare_class(frequency, learning_rate, momentum, steps, *, theta_star=0.0, labels="bernoulli",
                        initial=0.2, replicas=1000, seed=0, record_every=1, chunk_size=1000) -> RareClassRun:
    r"""Heavy ball on the rare class's logit, ``replicas`` independent copies.

    Parameters
    ----------
    frequency : float in (0, 1]
        p, the probability that an example belongs to the rare class.
    learning_rate : float > 0
        gamma.
    momentum : float in [0, 1)
        beta (0: SGD).
    steps : int >= 1
    theta_star : float
        The optimum logit of the class (labels y ~ Bernoulli(sigma(theta*))).
    labels : "bernoulli" or "soft"
        Bernoulli labels, or the soft label y = sigma(theta*).
    initial : float
        e_0 = theta_0 - theta* (theta_{-1} = theta_0).
    replicas : int >= 2
    seed : int or numpy.random.SeedSequence
    record_every : int >= 1
        Steps between records (the last step is always recorded).
    chunk_size : int >= 1
        Replicas per PCG64 stream.

    Returns
    -------
    RareClassRun

    Raises
    ------
    ValueError
        Naming the argument.

    Example
    -------
    >>> run = simulate_rare_class(0.1, 0.5, 0.9, 20, replicas=4, seed=1, record_every=10)
    >>> run.e2.shape, run.steps.tolist()
    ((4, 3), [0, 10, 20])
    """
    check_positive(frequency, "frequency")
    if frequency > 1:
        raise ValueError(f"frequency must be in (0, 1]; got {frequency!r}")
    check_positive(learning_rate, "learning_rate")
    if not 0 <= float(momentum) < 1:
        raise ValueError(f"momentum must be in [0, 1); got {momentum!r}")
    if labels not in ("bernoulli", "soft"):
        raise ValueError(f"labels must be 'bernoulli' or 'soft'; got {labels!r}")
    if not (np.isfinite(float(theta_star)) and np.isfinite(float(initial))):
        raise ValueError(f"theta_star and initial must be finite; got {theta_star!r}, {initial!r}")
    steps = check_integer(steps, "steps", 1)
    replicas = check_integer(replicas, "replicas", 2)
    every = check_integer(record_every, "record_every", 1)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    rec = np.arange(0, steps + 1, every)
    if rec[-1] != steps:
        rec = np.append(rec, steps)
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    sizes = [min(chunk_size, replicas - s) for s in range(0, replicas, chunk_size)]
    th = np.concatenate([_chunk(c, n, float(frequency), float(learning_rate), float(momentum), float(theta_star),
                                labels, float(initial), steps, rec) for c, n in zip(ss.spawn(len(sizes)), sizes)])
    e = th - float(theta_star)
    params = {"frequency": float(frequency), "learning_rate": float(learning_rate), "momentum": float(momentum),
              "theta_star": float(theta_star), "labels": labels, "initial": float(initial), "replicas": replicas}
    return RareClassRun(rec, e * e, float(frequency) * _kl(float(theta_star), th),
                        {"entropy": ss.entropy, "spawn_key": list(ss.spawn_key)}, params)
