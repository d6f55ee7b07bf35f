r"""Python side of the fused kernel (:mod:`verify.kernel`): coefficient schedules, row blocks,
streaming accumulators, and the per-replica hyperparameter hook.

:func:`run_chunk` runs one chunk of replicas (one ``SeedSequence`` child, one SFC64 stream) in
row blocks of about ``_ROW_ENTRIES / (d B)`` replicas (``_ROW_ENTRIES / d`` with sufficient
statistics), each block running all its steps in one kernel call. :func:`run_chunk_hooked` runs a chunk step by step for algorithms whose hyperparameters are
chosen per replica from its own state or gradient (line search, AdaGrad-Norm): per step the kernel
draws every replica's gradient and per-replica features, a Python hook turns the features into
per-replica hyperparameter values, and the kernel applies the update and records. Both return the
per-chunk ``(n, {key: (mean, centred sums...) or per-replica array})`` that
:func:`verify.montecarlo.assemble_result` merges.

Memory is O(replicas x d) for the state and block accumulators plus the recorded series:
O(steps) for the risk and O(steps x c) for the c requested coordinates (all d by default for
:func:`verify.simulate`, none by default for the adaptive runs).
"""
from __future__ import annotations

import numpy as np

from theory.data import Gaussian

from . import kernel as K

__all__ = ["Recorder", "coefficient_schedule", "hyper_coefficients", "kernel_scalars", "run_chunk",
           "run_chunk_hooked", "same_expectations"]

#: replicas x d entries of one row block (state and block accumulators stay in a 1-2 MB cache)
_ROW_ENTRIES = 16384


class Recorder:
    """Shifted-sum accumulators of one chunk (see :mod:`verify.kernel`) and their finish.

    ``coords``: None for every coordinate, else an int array of the recorded coordinates.
    """

    def __init__(self, n, steps, d, coords=None):
        from .montecarlo import block_edges
        self.n, self.steps, self.d = n, steps, d
        self.edges = block_edges(steps)
        nb = len(self.edges) - 1
        self.block_of = np.full(steps + 1, -1, dtype=np.int64)
        self.width = np.zeros(steps + 1, dtype=np.int64)
        for b in range(nb):
            self.block_of[self.edges[b]:self.edges[b + 1]] = b
            self.width[self.edges[b + 1] - 1] = self.edges[b + 1] - self.edges[b]
        self.all_coords = coords is None
        self.coords = np.arange(0, dtype=np.int64) if coords is None else np.asarray(coords, dtype=np.int64)
        c = d if coords is None else self.coords.size
        self.rstat = np.zeros((4, steps + 1))
        self.mstat = np.zeros((3, steps + 1, c))
        self.mustat = np.zeros((3, steps + 1, c))
        self.bstat_r = np.zeros((4, nb))
        self.bstat_m = np.zeros((4, nb, d))
        self.bstat_mu = np.zeros((4, nb, d))
        self.replica_block_risk = np.empty((n, nb))

    def rows(self, m):
        """Per-row-block buffers: block sums (risk, e^2, e), replica block risks, features, scratch."""
        d, nb = self.d, len(self.edges) - 1
        return {"blk_r": np.zeros(m), "blk_m": np.zeros((m, d)), "blk_mu": np.zeros((m, d)),
                "rep_brisk": np.empty((m, nb)), "feat": np.zeros((m, 3))}

    def output(self):
        n = self.n
        return {"risk": K.finish_shifted(self.rstat, n), "m": K.finish_shifted(self.mstat, n, False),
                "mu": K.finish_shifted(self.mustat, n, False),
                "block_risk": K.finish_shifted(self.bstat_r, n), "block_m": K.finish_shifted(self.bstat_m, n),
                "block_mu": K.finish_shifted(self.bstat_mu, n), "replica_block_risk": self.replica_block_risk}


def hyper_coefficients(linear, values, size, out=None):
    """The linear rule's coefficient matrices (size, S+1, S+1) for per-replica hyperparameter arrays
    ``values`` (each a float or an array of shape (size,)): the lambdified rows are evaluated on the
    arrays at once (they are polynomials in the hyperparameters), entry by entry broadcast into
    ``out`` (allocated if None; a hooked run refills one array every step)."""
    rows = linear(*values)
    if out is None:
        out = np.empty((size, len(rows), len(rows[0])))
    for a, row in enumerate(rows):
        for j, c in enumerate(row):
            out[:, a, j] = c
    return out


def coefficient_schedule(algorithm, linear, hyper_values, steps):
    """(T, 1, S+1, S+1) coefficients: T = 1 for constant hyperparameters, T = steps for schedules
    (the step k-1 -> k uses h(k-1), as in :class:`theory.Recursion`)."""
    if not any(callable(h) for h in hyper_values):
        return np.asarray(linear(*hyper_values), dtype=float)[None, None]
    out = np.empty((steps, 1) + np.shape(linear(*[h(0) if callable(h) else h for h in hyper_values])))
    for k in range(1, steps + 1):
        values = [float(h(k - 1)) if callable(h) else h for h in hyper_values]
        algorithm.check_hyperparameters(dict(zip(algorithm.hyperparameters, values)))
        out[k - 1, 0] = np.asarray(linear(*values), dtype=float)
    return out


def _problem(lam, batch, noise_sd):
    lam = np.ascontiguousarray(lam, dtype=float)
    sqrt_lam = np.sqrt(lam)
    return lam, sqrt_lam, sqrt_lam / batch, float(noise_sd)


def _initial(algorithm, e0, m, d):
    init = algorithm.initial_state(e0)
    st = np.empty((len(init), m, d))
    for a, s0 in enumerate(init):
        st[a] = s0
    return st


class _Rows:
    """The arrays of one row block of ``m`` replicas: the state (S, m, d), the draws Z of
    :func:`verify.kernel.draw` ((m, B, d + 1), or (m, 1, d + 2B) for sufficient statistics), q (m, d),
    and the recorder's per-row block sums."""

    def __init__(self, algorithm, e0, m, d, rec, batch, sufficient):
        self.m = m
        self.st = _initial(algorithm, e0, m, d)
        self.Q = np.empty((m, d))
        shape = (m, 1, d + 2 * batch) if sufficient else (m, batch, d + 1)
        self.Z = np.zeros(shape)   # finite: step 0 reads it with weight 0
        self.beta, self.new = np.empty(m), np.empty(self.st.shape[0])
        self.buf = rec.rows(m)


def _row_size(n, d, batch, sufficient):
    """Replicas per row block: the state and the draws of a block stay cache-sized."""
    return max(1, min(n, _ROW_ENTRIES // (d * (1 if sufficient else batch))))


def _step_args(rec, rows, lam, batch, noise_sd, floor, sufficient, data, gradient_factor=None):
    """Arguments of :func:`verify.kernel.step_rows` after (s, st, C, k0, k1, first_rows) and before
    (obs, part), each of the one type the kernel is compiled for (:func:`kernel_scalars`)."""
    lam, sqrt_lam, scale, noise_sd = _problem(lam, batch, noise_sd)
    if gradient_factor is not None:   # a per-direction factor of the gradient (verify.montecarlo.FusedPlan)
        scale = scale * np.asarray(gradient_factor, dtype=float)
    params = K.model_parameters(Gaussian() if data is None else data, lam.size)
    if params is None:
        raise ValueError(f"the fused kernel has no sampler for data model {data!r}")
    model, p1, p2, table = params
    b = rows.buf
    return (*_floats(sqrt_lam, lam, scale), float(noise_sd), bool(sufficient), int(model), *_floats(p1, p2, table),
            float(floor), np.ascontiguousarray(rec.coords, dtype=np.int64), bool(rec.all_coords),
            rec.block_of, rec.width, rec.rstat, rec.mstat, rec.mustat, b["blk_r"], b["blk_m"], b["blk_mu"],
            rec.bstat_r, rec.bstat_m, rec.bstat_mu, b["rep_brisk"], b["feat"], rows.Q, rows.Z, rows.beta,
            rows.new)


def _floats(*arrays):
    """Each array as a writeable C-contiguous float64 array: the one array type the kernel is compiled
    for (a read-only, strided or integer array would compile the whole kernel again)."""
    return tuple(np.require(a, dtype=np.float64, requirements=("C", "W")) for a in arrays)


def kernel_scalars(k0, k1, first_rows, obs, part):
    """(k0, k1, first_rows, obs, part) of :func:`verify.kernel.step_rows` as (int, int, bool, int, int):
    every call, plain or hooked, then hits the one compiled specialization."""
    return int(k0), int(k1), bool(first_rows), int(obs), int(part)


def run_chunk(child, n, algorithm, C, lam, batch, noise_sd, floor, e0, steps, sufficient, coords=None, data=None,
              gradient_factor=None, observable=0):
    """Run ``n`` replicas on the SFC64 stream of ``child`` with coefficients ``C`` (T, 1, S+1, S+1)
    on ``data`` (a data model the kernel samples, :func:`verify.kernel.model_parameters`; default
    Gaussian); ``gradient_factor`` (shape (d,), optional) multiplies the gradient per direction;
    the risk is measured on state variable ``observable`` (the recorded moments on s_0)."""
    d = len(lam)
    s = K.sfc64_state(child)
    C = _floats(C)[0]
    rec = Recorder(n, steps, d, coords)
    size = _row_size(n, d, batch, sufficient)
    rows = None
    for start in range(0, n, size):
        m = min(size, n - start)
        if rows is None or rows.m != m:
            rows = _Rows(algorithm, e0, m, d, rec, batch, sufficient)
        else:   # reuse the block's arrays (fresh ones cost page faults): the block sums end at zero
            rows.st[...] = _initial(algorithm, e0, 1, d)
        k0, k1, first, obs, part = kernel_scalars(0, steps, start == 0, observable, K.STEPS)
        K.step_rows(s, rows.st, C, k0, k1, first,
                    *_step_args(rec, rows, lam, batch, noise_sd, floor, sufficient, data, gradient_factor), obs, part)
        rec.replica_block_risk[start:start + m] = rows.buf["rep_brisk"]
    return n, rec.output()


class _Series:
    """Shifted sums over replicas of one per-replica scalar per step (e.g. the learning rate) and of
    its dyadic block averages; ``output(key)`` gives the keys ``key``, ``block_key``, ``replica_block_key``."""

    def __init__(self, rec):
        self.rec = rec
        nb = len(rec.edges) - 1
        self.stat = np.zeros((4, rec.steps + 1))
        self.bstat = np.zeros((4, nb))
        self.blk = np.zeros(rec.n)
        self.rep = np.empty((rec.n, nb))

    @staticmethod
    def _add(stat, j, v):
        stat[0, j] = v[0]
        dv = v - v[0]
        stat[1, j], stat[2, j], stat[3, j] = dv.sum(), (dv * dv).sum(), (dv * dv * dv).sum()

    def add(self, k, v):
        self._add(self.stat, k, v)
        b = self.rec.block_of[k]
        if b < 0:
            return
        self.blk += v
        w = self.rec.width[k]
        if w:
            avg = self.blk / w
            self.rep[:, b] = avg
            self._add(self.bstat, b, avg)
            self.blk[:] = 0.0

    def output(self, key):
        n = self.rec.n
        return {key: K.finish_shifted(self.stat, n), f"block_{key}": K.finish_shifted(self.bstat, n),
                f"replica_block_{key}": self.rep}


def run_chunk_hooked(child, n, algorithm, linear, hook, lam, batch, noise_sd, floor, e0, steps, sufficient,
                     coords=(), data=None):
    r"""Run ``n`` replicas whose hyperparameters come from ``hook`` step by step (one row block).

    ``hook`` has ``start(features)`` -> (values, recorded) at step 0 and ``step(k, features)`` ->
    (values, recorded) for the step k-1 -> k. ``values`` is a list with one entry per hyperparameter
    of ``algorithm`` (a float or an array of shape (n,)); ``recorded`` (shape (n,)) is recorded per
    step like the risk (mean, standard error, block averages) under the key ``lr``. ``features``
    (n, 3): column 0 the risk R(e_{k-1}), column 1 M_2 = sum_i lambda_i^2 e_{k-1,i}^2, column 2 the
    squared norm <g, g> of this step's minibatch gradient (drawn before the hook is called, so
    a rule may use the gradient of its own step, as AdaGrad-Norm does; 0 at step 0). The gradient
    point is evaluated with the previous step's values, so the algorithm's gradient point must not
    depend on its hyperparameters (checked by the caller).
    """
    d = len(lam)
    s = K.sfc64_state(child)
    rec = Recorder(n, steps, d, coords)
    series = _Series(rec)
    rows = _Rows(algorithm, e0, n, d, rec, batch, sufficient)
    args = _step_args(rec, rows, lam, batch, noise_sd, floor, sufficient, data)
    st = rows.st
    C = hyper_coefficients(linear, [1.0] * len(algorithm.hyperparameters), n)[None]
    feat, rep_brisk = rows.buf["feat"], rows.buf["rep_brisk"]

    def kernel(k, part):   # the plain path's compiled kernel, one part of step k
        k0, k1, first, obs, part = kernel_scalars(k, k, True, 0, part)
        K.step_rows(s, st, C, k0, k1, first, *args, obs, part)

    # step 0: record only (no update; the coefficients are not used)
    kernel(0, K.STEPS)
    values, recorded = hook.start(feat)
    series.add(0, np.broadcast_to(np.asarray(recorded, dtype=float), (n,)).copy())
    for k in range(1, steps + 1):
        # the gradient point is evaluated with the previous step's values (checked by the caller)
        kernel(k, K.GRADIENTS)
        values, recorded = hook.step(k, feat)
        hyper_coefficients(linear, values, n, C[0])
        kernel(k, K.UPDATES)
        series.add(k, np.broadcast_to(np.asarray(recorded, dtype=float), (n,)).copy())
    rec.replica_block_risk[:] = rep_brisk
    return n, {**rec.output(), **series.output("lr")}


def same_expectations(a, b, alpha=1e-6, quantities=("block_risk", "block_second_moments"), label=""):
    r"""Two-sample test that two Monte Carlo results estimate the same expectations.

    For every entry of each quantity (a block-averaged risk, a block-averaged e_i^2), the
    difference of the two independent means is tested against 0 with Hall's skewness-corrected
    statistic (:func:`verify.claims._checks.difference_of_means`, :func:`verify.stats.scalar_comparison`);
    the family is combined by Bonferroni at family-wise false-failure probability ``alpha``. This
    is how two engines, or two sampling methods, are shown to agree in law (for the moments that
    the claims compare). The results must be independent (different seeds or streams).

    Returns a :class:`verify.Verdict` (kind "scalar"). Raises ValueError for a quantity the
    results lack or of different shapes, or alpha outside (0, 1).

    Example: ``same_expectations(simulate(engine="fused", ...), simulate(engine="numpy", ...)).passed``.
    """
    from .claims._checks import difference_of_means
    from .stats import check_alpha, combine, scalar_comparison
    alpha = check_alpha(alpha)
    cols = []
    for name in quantities:
        ma, mb = getattr(a, name, None), getattr(b, name, None)
        if ma is None or mb is None or np.shape(ma) != np.shape(mb):
            raise ValueError(f"both results need {name!r} of the same shape")
        parts = [np.ravel(getattr(r, name + suffix)) for r in (a, b) for suffix in ("", "_se", "_skewness")]
        cols += [(name, j, parts[0][j], parts[1][j], parts[2][j], parts[3][j], parts[4][j], parts[5][j])
                 for j in range(parts[0].size)]
    m = len(cols)
    verdicts = []
    for name, j, xa, sa, ga, xb, sb, gb in cols:
        diff = difference_of_means((xa, sa, ga, a.replicas), (xb, sb, gb, b.replicas))
        # mean_a against "theory" mean_b with the difference's standard error and skewness: the same
        # statistic as the difference against 0, and an exact comparison where both are deterministic
        diff["mean"] = float(xa)
        if not diff["standard_error"] > 1e-12 * max(abs(xa), abs(xb)):
            diff["skewness"] = 0.0
        verdicts.append(scalar_comparison(float(xb), alpha=alpha / m, label=f"{name}[{j}]", **diff))
    return combine(verdicts, alpha, label=label or "same expectations (two-sample, Bonferroni)")
