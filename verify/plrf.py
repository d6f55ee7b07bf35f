r"""Monte Carlo of an algorithm on the real PLRF feature map (not in the eigenbasis).

Each step draws B fresh samples z ~ N(0, I_v), x_j = j^{-alpha} z_j, y = <x, b>, features
f = W^T x, and forms the minibatch gradient g = (1/B) sum_b f_b (<f_b, theta_p> - y_b) at the
algorithm's gradient point, on the parameters theta themselves (theta_0 = 0, velocity states 0).
Nothing of the reduction to least squares is used: neither theta*, nor P_inf, nor K's
eigenbasis. The risk of every iterate is exact (no sampling noise):

* at every step, P(theta) = (1/2) theta^T K theta - theta^T h + (1/2) ||c||^2 with K = A^T A,
  h = A^T c, A = D^{1/2} W, c = D^{1/2} b formed directly (O(d^2) per replica; rounding
  ~ 1e-16 ||c||^2, far below the risks compared);
* at the requested ``times``, P(theta) = (1/2) ||A theta - c||^2 by
  :meth:`theory.plrf.PowerLawRandomFeatures.risk` (O(v d) per replica), kept per replica.

Why not :func:`verify.simulate`: its engine works in the eigenbasis of a diagonal K with
x = sqrt(lambda) z and independent label noise, which is exactly the reduction this Monte Carlo
is meant to check; here the samples are v-dimensional and pass through W. The update rule is
still the algorithm's own (its compiled linear coefficients, :func:`verify.montecarlo._compile`),
applied to theta instead of e = theta - theta*: legitimate because the rules are translation
invariant (the coefficients of the error-type states add up to 1 in their own rows and in the
gradient point, and to 0 in the other rows), which is checked at every distinct set of
coefficients. Random streams, chunks and dyadic block averages are those of
:mod:`verify.montecarlo`, so :func:`verify.stats.compare` takes the result.

**Sampling** (``sampling="sufficient"``, the default): a sample enters the update only through the pair
(f, y) = (A^T z, c^T z), whose law is N(0, M^T M) with M = [A | c] (v x (d + 1)). With the QR
factorisation M = Q R (Q with k = min(v, d + 1) orthonormal columns, computed here from A and c, no
eigenbasis), (A^T z, c^T z) = R^T (Q^T z) and Q^T z ~ N(0, I_k): the pair is drawn exactly as w R with
w ~ N(0, I_k), k normals per sample instead of v (standard: 51 instead of 200). ``sampling="direct"``
draws z itself (the reference; tests/test_plrf_mc.py checks that the two agree in law).

Cost: O(R B k d) per step for the features plus O(R d^2) for the risk (R replicas, k = d + 1 <= v).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from theory.algorithms import SGD, Algorithm
from theory.hyperparameters import bind_hyperparameters
from theory.plrf import PowerLawRandomFeatures
from theory.validation import check_integer, check_replicas

from .montecarlo import (
    BlockRecorder,
    _compile,
    _Merged,
    block_edges,
    chunk_streams,
    moments3,
)

__all__ = ["FeatureMapResult", "simulate_feature_map"]


@dataclass
class FeatureMapResult:
    """Monte Carlo of an algorithm on the PLRF feature map (what :func:`verify.stats.compare` reads).

    Attributes
    ----------
    risk, risk_se, risk_skewness : ndarray, shape (steps + 1,)
        Mean over replicas of the exact population risk P(theta_k), its standard error, its skewness.
    block_edges : list of int
        Dyadic blocks [1, 2), [2, 4), ..., [2^J, steps + 1).
    block_risk, block_risk_se, block_risk_skewness : ndarray, shape (n_blocks,)
        Replica means of the block-averaged risk (and standard errors, skewness).
    replica_block_risk : ndarray, shape (replicas, n_blocks)
    times : ndarray of int, shape (n_times,)
    risk_at_times : ndarray, shape (replicas, n_times)
        Every replica's P(theta_k) at the requested times from ``model.risk`` (residual form).
    replicas : int
    seed : dict
        ``entropy`` and ``spawn_key`` of the root SeedSequence and the chunk size.
    parameters : dict
    seconds : float
        Wall-clock time.
    """

    risk: np.ndarray
    risk_se: np.ndarray
    risk_skewness: np.ndarray
    block_edges: list
    block_risk: np.ndarray
    block_risk_se: np.ndarray
    block_risk_skewness: np.ndarray
    replica_block_risk: np.ndarray
    times: np.ndarray
    risk_at_times: np.ndarray
    replicas: int
    seed: dict
    parameters: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def steps(self) -> int:
        return len(self.risk) - 1


def _error_type_states(algorithm):
    """Boolean mask of the states that are copies of the error at k = 0 (e, e_prev, ebar) vs. the
    others (velocities, starting at 0); ValueError for any other initialisation."""
    probe = np.array([1.0, 2.0])
    mask = []
    for s in algorithm.initial_state(probe):
        s = np.broadcast_to(np.asarray(s, dtype=float), probe.shape)
        if np.array_equal(s, probe):
            mask.append(True)
        elif not np.any(s):
            mask.append(False)
        else:
            raise ValueError(f"{algorithm!r}: each initial state must be the error or 0 to run on theta")
    return np.array(mask)


def _check_translation(coeffs, mask, algorithm):
    """The rule on e is also the rule on theta (see the module docstring)."""
    n = len(mask)
    for a, row in enumerate(coeffs[:-1]):
        total = sum(c for c, m in zip(row[:n], mask) if m)
        if abs(total - (1.0 if mask[a] else 0.0)) > 1e-12:
            raise ValueError(f"{algorithm!r} is not translation invariant (row {a} of its rule); it cannot "
                             "run on the parameters theta")
    if abs(sum(c for c, m in zip(coeffs[-1][:n], mask) if m) - 1.0) > 1e-12:
        raise ValueError(f"{algorithm!r}: the gradient point is not an affine combination of the iterates")


def _sampling_factor(model, sampling):
    """The (k, d + 1) matrix R with (A^T z, c^T z) = w R, w ~ N(0, I_k) (see the module docstring);
    for ``sampling="direct"`` M = [A | c] itself (w = z, k = v)."""
    c, A = model._weighted
    M = np.concatenate([A, c[:, None]], axis=1)
    return M if sampling == "direct" else np.linalg.qr(M, mode="r")


def _run_chunk(child, n, model, coeff_fn, hyper_values, mask, batch, steps, times, algorithm, R):
    rng = np.random.Generator(np.random.PCG64(child))
    c, A = model._weighted
    K, h, c2 = A.T @ A, A.T @ c, 0.5 * float(c @ c)
    d = model.d
    RA, Rc = np.ascontiguousarray(R[:, :d]), np.ascontiguousarray(R[:, d])
    state = [np.zeros((n, d)) for _ in mask]
    risk_sums = (np.empty(steps + 1), np.empty(steps + 1), np.empty(steps + 1))
    blocks = BlockRecorder(n, steps, {"risk": ()}, replica=("risk",))
    at_times = np.empty((n, len(times)))
    slot = {int(t): i for i, t in enumerate(times)}
    z = np.empty((n * batch, R.shape[0]))

    def record(k, theta):
        risk = 0.5 * np.einsum("ri,ri->r", theta @ K, theta) - theta @ h + c2
        risk_sums[0][k], risk_sums[1][k], risk_sums[2][k] = moments3(risk)
        blocks.add(k, risk=risk)
        if k in slot:
            at_times[:, slot[k]] = model.risk(theta)

    timed = any(callable(x) for x in hyper_values)
    coeffs = None if timed else coeff_fn(*hyper_values)
    if coeffs is not None:
        _check_translation(coeffs, mask, algorithm)
    record(0, state[0])
    for k in range(1, steps + 1):
        if timed:   # the step k-1 -> k uses h(k - 1), as in theory.Recursion.trajectory
            coeffs = coeff_fn(*[float(x(k - 1)) if callable(x) else x for x in hyper_values])
            _check_translation(coeffs, mask, algorithm)
        point = sum(cf * s for cf, s in zip(coeffs[-1], state) if cf != 0.0)
        rng.standard_normal(out=z)
        f = (z @ RA).reshape(n, batch, d)                   # features W^T x of every sample
        resid = np.einsum("rbd,rd->rb", f, point) - (z @ Rc).reshape(n, batch)
        g = np.einsum("rbd,rb->rd", f, resid) / batch
        state = [sum(cf * s for cf, s in zip(row[:-1], state) if cf != 0.0) + row[-1] * g
                 for row in coeffs[:-1]]
        record(k, state[0])
    out = {"risk": risk_sums, **blocks.output(), "replica_at_times": at_times}
    return n, out


def simulate_feature_map(model: PowerLawRandomFeatures, algorithm: Algorithm | None = None, *, learning_rate,
                         batch=1, steps=100, replicas=100, times=None, seed=None, chunk_size=256,
                         sampling="sufficient", **hyper) -> FeatureMapResult:
    r"""Run ``algorithm`` from theta_0 = 0 on the PLRF feature map, ``replicas`` independent times.

    Parameters
    ----------
    model : theory.plrf.PowerLawRandomFeatures
    algorithm : theory.Algorithm, default SGD()
        A rule linear in the state and the gradient and translation invariant (SGD, heavy ball,
        Nesterov, :class:`theory.GeneralizedMomentum`, iterate averaging); affine rules (weight
        decay) are refused.
    learning_rate : float > 0
        gamma (gamma_2 for DANA), no 1/d scaling.
    batch : int >= 1
    steps, replicas : int >= 1
    times : array_like of int in [0, steps], optional
        Steps at which every replica's exact risk is kept (default: about 20 log-spaced steps).
    seed : int, SeedSequence or None
        Root of the random streams; chunk c of ``chunk_size`` replicas draws from the c-th spawned child.
    chunk_size : int
        Replicas per stream (part of the seed record).
    sampling : {"sufficient", "direct"}
        "sufficient": each sample's (W^T x, y) drawn exactly from its Gaussian law with k = min(v, d + 1)
        normals (QR of [A | c], module docstring); "direct": z ~ N(0, I_v) itself. Same law, other numbers.
    **hyper
        The algorithm's other hyperparameters, numbers or callables h(k) (step k -> k + 1 uses
        h(k)), range-checked by :func:`theory.bind_hyperparameters` for every step used.

    Returns
    -------
    FeatureMapResult

    Raises
    ------
    ValueError
        Not a PowerLawRandomFeatures, a rule that is not linear or not translation invariant,
        bad batch, steps, replicas, times or hyperparameters.

    Example
    -------
    >>> from theory.plrf import PowerLawRandomFeatures
    >>> m = PowerLawRandomFeatures(1.0, 0.8, v=40, d=10, seed=0)
    >>> res = simulate_feature_map(m, learning_rate=0.3, steps=50, replicas=64, seed=1, times=[0, 10, 50])
    >>> res.risk.shape, res.risk_at_times.shape
    ((51,), (64, 3))

    Source: the model of Ferbach et al., arXiv:2505.16098, Sec. 2.
    """
    t0 = time.perf_counter()
    if not isinstance(model, PowerLawRandomFeatures):
        raise ValueError(f"model must be a theory.plrf.PowerLawRandomFeatures; got {model!r}")
    algorithm = SGD() if algorithm is None else algorithm
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"algorithm must be a theory.Algorithm; got {algorithm!r}")
    if algorithm.affine:
        raise ValueError(f"{algorithm!r} is affine (it contains theta*); the feature-map Monte Carlo runs "
                         "translation-invariant rules only")
    if sampling not in ("sufficient", "direct"):
        raise ValueError(f"sampling must be 'sufficient' or 'direct'; got {sampling!r}")
    batch = check_integer(batch, "batch", 1)
    steps = check_integer(steps, "steps", 1)
    replicas = check_replicas(replicas)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    if times is None:
        times = np.unique(np.r_[0, np.round(np.geomspace(1, steps, 20)).astype(int)])
    t = np.asarray(times)
    if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer) or t.min() < 0 or t.max() > steps:
        raise ValueError(f"times must be a non-empty 1-D array of integers in [0, steps = {steps}]; got {times!r}")
    times = np.unique(t)
    names = list(algorithm.hyperparameters)
    bound = bind_hyperparameters(algorithm, {"learning_rate": learning_rate, **hyper}, dimension=model.d,
                                 steps=steps, schedules=True)
    hyper_values = [bound[k] if callable(bound[k]) else float(bound[k]) for k in names]
    coeff_fn = _compile(algorithm)[2]
    if coeff_fn is None:
        raise ValueError(f"{algorithm!r}: the update rule must be linear in the state and the gradient")

    def coefficients(*values):
        return [[float(x) for x in row] for row in coeff_fn(*values)]

    mask = _error_type_states(algorithm)
    root, children, sizes = chunk_streams(seed, replicas, chunk_size)
    acc = _Merged()
    R = _sampling_factor(model, sampling)
    for child, n in zip(children, sizes):
        acc.add(*_run_chunk(child, n, model, coefficients, hyper_values, mask, batch, steps, times, algorithm, R))
    st = acc.stats
    params = dict(model=repr(model), algorithm=repr(algorithm), learning_rate=float(learning_rate), batch=batch,
                  steps=steps, replicas=replicas, sampling=sampling,
                  **{k: (repr(x) if callable(x) else x) for k, x in hyper.items()})
    return FeatureMapResult(
        risk=st["risk"].mean, risk_se=st["risk"].se(), risk_skewness=st["risk"].skewness(),
        block_edges=block_edges(steps), block_risk=st["block_risk"].mean, block_risk_se=st["block_risk"].se(),
        block_risk_skewness=st["block_risk"].skewness(), replica_block_risk=acc.array("replica_block_risk"),
        times=times, risk_at_times=acc.array("replica_at_times"), replicas=replicas,
        seed={"entropy": root.entropy, "spawn_key": list(root.spawn_key), "chunk_size": chunk_size},
        parameters=params, seconds=time.perf_counter() - t0)
