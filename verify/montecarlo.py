r"""Monte Carlo runs of the algorithm itself, vectorised over independent replicas.

The engine compiles the algorithm's symbolic update rule (the same SymPy
expressions that :func:`theory.derive` takes expectations of) with
``lambdify`` and executes it on float64 arrays of shape (replicas, d). Each
step draws a fresh minibatch x_b = sqrt(lambda) z_b (z from the data model's
sampler) and Gaussian label noise eps_b of variance sigma^2, and forms the
least-squares minibatch gradient g = (1/B) sum_b x_b (<x_b, p> - eps_b) at the
algorithm's gradient point p.

Replicas are split into chunks of fixed size; chunk c draws from its own
``numpy.random.Generator(PCG64(child_c))`` with child_c the c-th
``SeedSequence.spawn`` child of the recorded seed. Chunks may run in threads;
the numbers do not depend on how many.
"""
from __future__ import annotations

import functools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from theory.algorithms import GRADIENT, OPTIMUM, Algorithm
from theory.data import DataModel, Gaussian
from theory.hyperparameters import bind_hyperparameters
from theory.validation import (
    check_algorithm_and_data,
    check_eigenvalues,
    check_initial,
    check_integer,
    check_nonnegative,
    check_replicas,
    check_seed,
)

from .samplers import sample_standardized
from .sampling import has_exact_sufficient_law, sufficient_gradient

__all__ = [
    "SimulationResult",
    "assemble_result",
    "block_edges",
    "choose_engine",
    "chunk_streams",
    "run_chunks",
    "simulate",
    "warm_up",
]


@dataclass
class SimulationResult:
    """Monte Carlo estimates at every step k = 0..steps, with standard errors.

    Attributes
    ----------
    risk, risk_se : ndarray, shape (steps + 1,)
        Mean over replicas of R(theta_k) = (o_k^T K o_k + sigma^2)/2 with o_k the algorithm's
        observable (the error e_k, or e.g. the averaged error; the exact population risk of each
        replica's iterate) and its standard error
        (sample standard deviation over replicas / sqrt(replicas)).
    second_moments, second_moments_se : ndarray, shape (steps + 1, d)
        Mean over replicas of e_{k,i}^2 and its standard error (shape (steps + 1, c) for the c
        coordinates requested by ``simulate(..., coordinates=...)``, in that order).
    mean, mean_se : ndarray, shape (steps + 1, d)
        Mean over replicas of e_{k,i} and its standard error (likewise).
    replicas : int
    seed : dict
        ``entropy`` of the root ``numpy.random.SeedSequence`` and the chunk size;
        the same seed gives the same numbers.
    parameters : dict
        Every argument of :func:`simulate`.
    seconds : float
        Wall-clock time of the run.
    block_edges : list of int
        Dyadic blocks of steps [1, 2), [2, 4), ..., [2^J, steps + 1) (see :func:`block_edges`).
    block_risk, block_risk_se : ndarray, shape (n_blocks,)
        Mean over replicas of each replica's average risk over a block, and its standard error.
        Averages over time have far smaller standard errors than single steps, which gives
        the comparison power against small systematic errors.
    block_second_moments, block_second_moments_se : ndarray, shape (n_blocks, d)
        The same for e_{k,i}^2.
    risk_skewness : ndarray, shape (steps + 1,)
        Sample skewness over replicas of the risk at each step (for skewness-corrected tests).
    replica_block_risk : ndarray, shape (replicas, n_blocks)
        Every replica's block-averaged risk: the raw material of the tests on time averages
        (time-averaged risk, Hotelling's T^2 over blocks, divergence tests).
    block_risk_skewness, block_second_moments_skewness, block_mean_skewness : ndarray
        Sample skewness over replicas of the block averages (shapes (n_blocks,), (n_blocks, d)).
    block_mean, block_mean_se : ndarray, shape (n_blocks, d)
        Mean over replicas of each replica's block-averaged e_{k,i}, and its standard error.
    """

    risk: np.ndarray
    risk_se: np.ndarray
    second_moments: np.ndarray
    second_moments_se: np.ndarray
    mean: np.ndarray
    mean_se: np.ndarray
    replicas: int
    seed: dict
    parameters: dict = field(default_factory=dict)
    seconds: float = 0.0
    block_edges: list = field(default_factory=list)
    block_risk: np.ndarray | None = None
    block_risk_se: np.ndarray | None = None
    block_second_moments: np.ndarray | None = None
    block_second_moments_se: np.ndarray | None = None
    risk_skewness: np.ndarray | None = None
    replica_block_risk: np.ndarray | None = None
    block_risk_skewness: np.ndarray | None = None
    block_second_moments_skewness: np.ndarray | None = None
    block_mean: np.ndarray | None = None
    block_mean_se: np.ndarray | None = None
    block_mean_skewness: np.ndarray | None = None

    @property
    def steps(self) -> int:
        return len(self.risk) - 1


class _Stats:
    """Mean, centred sum of squares and (optionally) of cubes over replicas, merged across chunks
    exactly (Chan et al. for the second, Pebay 2008 for the third central moment)."""

    def __init__(self, shape):
        self.n = 0
        self.mean = np.zeros(shape)
        self.m2 = np.zeros(shape)
        self.m3 = None

    def merge(self, n, mean, m2, m3=None):
        if self.n == 0:
            self.n, self.mean, self.m2, self.m3 = n, mean, m2, m3
            return
        na, tot = self.n, self.n + n
        delta = mean - self.mean
        if self.m3 is not None and m3 is not None:
            self.m3 = (self.m3 + m3 + delta**3 * (na * n * (na - n) / tot**2)
                       + 3.0 * delta * (na * m2 - n * self.m2) / tot)
        else:
            self.m3 = None
        self.mean = self.mean + delta * (n / tot)
        self.m2 = self.m2 + m2 + delta**2 * (na * n / tot)
        self.n = tot

    def se(self):
        if self.n < 2:
            return np.full_like(self.mean, np.nan)
        return np.sqrt(self.m2 / (self.n - 1) / self.n)

    def skewness(self):
        """Sample skewness m3/n / (m2/n)^(3/2) (0 where the variance is 0); None without m3."""
        if self.m3 is None:
            return None
        with np.errstate(divide="ignore", invalid="ignore"):
            g = (self.m3 / self.n) / (self.m2 / self.n) ** 1.5
        return np.where(self.m2 > 0, g, 0.0)


class _Merged:
    """Per-chunk outputs merged: statistics (``key -> _Stats``) and per-replica arrays
    (keys starting with ``replica_``, concatenated in chunk order)."""

    def __init__(self):
        self.stats, self.replica = {}, {}

    def add(self, n, out):
        for key, value in out.items():
            if key.startswith("replica_"):
                self.replica.setdefault(key, []).append(value)
            else:
                self.stats.setdefault(key, _Stats(value[0].shape)).merge(n, *value)
        return self

    def array(self, key):
        parts = self.replica.get(key)
        return None if not parts else np.concatenate(parts, axis=0)


def block_edges(steps: int) -> list:
    """Dyadic blocks of steps [1, 2), [2, 4), [4, 8), ..., [2^J, steps + 1) as edge list."""
    edges = [1]
    while edges[-1] * 2 <= steps:
        edges.append(edges[-1] * 2)
    edges.append(steps + 1)
    return edges


def chunk_streams(seed, replicas: int, chunk_size: int):
    """Root ``SeedSequence`` (from an int, a SeedSequence or None), its spawned child per chunk of
    replicas, and the chunk sizes (all ``chunk_size`` but the last)."""
    root = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(check_seed(seed))
    sizes = [min(chunk_size, replicas - s) for s in range(0, replicas, chunk_size)]
    return root, root.spawn(len(sizes)), sizes


def assemble_result(parts, root, chunk_size, params, t0, cls=None, **extra):
    """Merge per-chunk ``(n, {key: (mean, centred sum of squares[, of cubes]) or per-replica array})``
    into a :class:`SimulationResult`.

    Keys ``risk``, ``m``, ``mu``, ``block_risk``, ``block_m``, ``block_mu`` and
    ``replica_block_risk`` fill the standard fields; any other key ``k`` named in ``extra`` as
    ``field=k`` fills ``field`` and ``field_se`` of ``cls`` (and ``replica_field`` for a key
    ``replica_k``, ``field_skewness`` when third moments were recorded).
    """
    acc = _Merged()
    for n, out in parts:
        acc.add(n, out)
    st = acc.stats
    steps = len(st["risk"].mean) - 1
    fields = {}
    for name, key in extra.items():
        fields[name], fields[name + "_se"] = st[key].mean, st[key].se()
        for k2, f2 in ((f"block_{key}", f"block_{name}"),):
            if k2 in st:
                fields[f2], fields[f2 + "_se"] = st[k2].mean, st[k2].se()
                fields[f2 + "_skewness"] = st[k2].skewness()
        if acc.array(f"replica_block_{key}") is not None:
            fields[f"replica_block_{name}"] = acc.array(f"replica_block_{key}")

    def opt(key, what):
        return getattr(st[key], what)() if key in st else None

    return (cls or SimulationResult)(
        risk=st["risk"].mean, risk_se=st["risk"].se(),
        second_moments=st["m"].mean, second_moments_se=st["m"].se(),
        mean=st["mu"].mean, mean_se=st["mu"].se(), replicas=sum(n for n, _ in parts),
        block_edges=block_edges(steps), block_risk=st["block_risk"].mean,
        block_risk_se=st["block_risk"].se(), block_second_moments=st["block_m"].mean,
        block_second_moments_se=st["block_m"].se(),
        risk_skewness=st["risk"].skewness(), replica_block_risk=acc.array("replica_block_risk"),
        block_risk_skewness=st["block_risk"].skewness(),
        block_second_moments_skewness=st["block_m"].skewness(),
        block_mean=st["block_mu"].mean if "block_mu" in st else None,
        block_mean_se=opt("block_mu", "se"), block_mean_skewness=opt("block_mu", "skewness"),
        seed={"entropy": root.entropy, "spawn_key": list(root.spawn_key), "chunk_size": chunk_size},
        parameters=params, seconds=time.perf_counter() - t0, **fields,
    )


@functools.lru_cache(maxsize=64)
def _compile(algorithm: Algorithm):
    """Compile the update rule: a generic ``lambdify`` and, when the rule is linear in the state
    and the gradient (every algorithm here), its coefficient matrix as a function of the
    hyperparameters, so the engine can apply it in place without temporaries. Cached per
    algorithm (algorithms are immutable values, equal when built alike): the SymPy work took
    ~2.5 ms, most of a short run's fixed cost."""
    hyper = list(algorithm.hyperparameters.values())
    per_direction = any(h.per_direction for h in algorithm.hyperparameter_spec)
    const = algorithm.constants
    rule = [sp.sympify(u).subs(const) for u in algorithm.update]
    update = sp.lambdify([*algorithm.state, GRADIENT, *hyper], rule, modules="numpy")
    point = sp.lambdify([*algorithm.state, *hyper], sp.sympify(algorithm.gradient_point).subs(const), modules="numpy")
    variables = [*algorithm.state, GRADIENT]
    if per_direction:  # per-direction values (arrays of shape (d,)) or theta*: the generic, broadcasting path
        return update, point, None
    rows = _linear_rows((*rule, sp.sympify(algorithm.gradient_point).subs(const)), variables)
    linear = None if rows is None else sp.lambdify(hyper, rows, modules="math")
    return update, point, linear


def _linear_rows(exprs, variables):
    """The coefficients of each expression in ``variables`` (rows), or None unless every expression is
    linear and homogeneous in them."""
    rows = []
    try:
        for expr in exprs:
            poly = sp.Poly(sp.expand(expr), *variables)
            if poly.total_degree() > 1 or poly.coeff_monomial(1) != 0:
                return None
            rows.append([poly.coeff_monomial(v) for v in variables])
    except sp.PolynomialError:
        return None
    return rows


@dataclass(frozen=True)
class FusedPlan:
    r"""How the fused kernel runs a rule whose coefficients are not all direction-independent numbers.

    The kernel applies s_a <- sum_j U_aj s_j + U_a,S g_i with U the same for every direction i, and
    records the risk on one state variable (``observable``). Two exact rewritings bring more rules to that form:

    * an **affine** rule (it contains theta*_i, e.g. weight decay, s_0' = (1 - gamma w) e - gamma g -
      gamma w theta*) carries theta*_i as one more state variable with the update theta*' = theta*,
      started at the ``optimum`` hyperparameter: the rule is then linear in the state;
    * a **per-direction factor** of the gradient column (the diagonal preconditioner,
      e_i' = e_i - gamma P_i g_i): when every gradient coefficient is u_a(h) f(h_i) with one common
      f of the per-direction hyperparameters, and nothing else depends on them, f_i multiplies the
      kernel's gradient scale sqrt(lambda_i)/B instead.

    Attributes
    ----------
    linear : callable(*hyperparameter values) -> rows
        The (S'+1) x (S'+1) coefficient rows (S' = S, or S + 1 with theta*): update rows, then
        the gradient point's row (its last entry 0); per-direction values are accepted and unused.
    factor : callable(*per-direction values) -> array or None
        f_i of the gradient column, None when it is 1.
    factor_names : tuple of str
        The hyperparameters ``factor`` takes, in its order.
    affine : bool
        Whether theta*_i is carried as the last state variable.
    observable : int
        The state variable the risk is measured on (the averaged iterate of
        :class:`theory.IterateAveraging`; 0 for the error e).
    """

    linear: object
    factor: object
    factor_names: tuple
    affine: bool
    observable: int = 0

    def initial_state(self, algorithm, e0, optimum):
        """The state at step 0: the algorithm's, then theta*_i (affine rules), each of shape (d,)."""
        init = tuple(np.broadcast_to(np.asarray(s, dtype=float), e0.shape) for s in algorithm.initial_state(e0))
        return init + ((np.broadcast_to(np.asarray(optimum, dtype=float), e0.shape),) if self.affine else ())

    def gradient_factor(self, values: dict, d: int):
        """f_i (shape (d,)) from the bound hyperparameters ``values`` (name -> value), or None."""
        if self.factor is None:
            return None
        return np.broadcast_to(np.asarray(self.factor(*(values[n] for n in self.factor_names)), dtype=float),
                               (d,)).copy()


@functools.lru_cache(maxsize=64)
def _fused_plan(algorithm: Algorithm):
    """The :class:`FusedPlan` of ``algorithm``, or None when its rule does not reduce to the kernel's
    form (see there), or its risk is measured on a combination of state variables."""
    observable = [j for j, x in enumerate(algorithm.state)
                  if sp.simplify(sp.sympify(algorithm.observable) - x) == 0]
    if not observable:
        return None
    spec = algorithm.hyperparameter_spec
    hyper = [h.symbol for h in spec]
    per_dir = [h for h in spec if h.per_direction and h.symbol != OPTIMUM]
    pd_symbols = [h.symbol for h in per_dir]
    const = algorithm.constants
    affine = algorithm.affine
    state = [*algorithm.state, *([OPTIMUM] if affine else [])]
    variables = [*state, GRADIENT]
    rule = [sp.sympify(u).subs(const) for u in algorithm.update] + ([OPTIMUM] if affine else [])
    rows = _linear_rows((*rule, sp.sympify(algorithm.gradient_point).subs(const)), variables)
    if rows is None:
        return None
    factor = sp.Integer(1)
    if pd_symbols:
        column = [row[-1] for row in rows[:-1] if row[-1] != 0]
        parts = [sp.factor(c).as_independent(*pd_symbols, as_Add=False) for c in column]
        if not parts or any(dep != parts[0][1] for _, dep in parts):
            return None
        factor = parts[0][1]
        for row in rows[:-1]:
            if row[-1] != 0:
                row[-1] = sp.factor(row[-1]).as_independent(*pd_symbols, as_Add=False)[0]
    if any(x.free_symbols & set(pd_symbols) for row in rows for x in row):
        return None
    names = tuple(h.name for h in per_dir if h.symbol in factor.free_symbols)
    factor_fn = (None if factor == 1 else
                 sp.lambdify([h.symbol for h in per_dir if h.name in names], factor, modules="numpy"))
    return FusedPlan(sp.lambdify(hyper, rows, modules="math"), factor_fn, names, affine, observable[0])


class _InitialState:
    """The ``algorithm`` argument of :func:`verify.fused.run_chunk`: it gives the state at step 0."""

    def __init__(self, state):
        self.state = state

    def initial_state(self, e0):
        return self.state


def moments3(x):
    """(mean, centred sum of squares, centred sum of cubes) over the first axis, two passes."""
    mean = x.mean(axis=0)
    dv = x - mean
    sq = dv * dv
    return mean, sq.sum(axis=0), (sq * dv).sum(axis=0)


class BlockRecorder:
    """Per-replica averages of observables over the dyadic blocks of steps (:func:`block_edges`).

    ``shapes`` maps an observable's key to its per-replica shape (``()`` for a scalar such as
    the risk, ``(d,)`` for e_i^2). :meth:`add` is called at every step k with each observable's
    per-replica values (arrays of shape ``(n, *shape)``); at the end of each block the replicas'
    block averages are reduced to (mean, centred sums of squares and cubes) under the key
    ``block_<key>``, and for the keys in ``replica`` also kept whole, shape (n, n_blocks), under
    ``replica_block_<key>`` (the raw material of tests on time averages).
    """

    def __init__(self, n, steps, shapes, replica=()):
        self.edges = block_edges(steps)
        nb = len(self.edges) - 1
        self.acc = {key: np.zeros((n,) + tuple(shape)) for key, shape in shapes.items()}
        self.out = {f"block_{key}": tuple(np.empty((nb,) + tuple(shape)) for _ in range(3))
                    for key, shape in shapes.items()}
        self.replica = {f"replica_block_{key}": np.empty((n, nb)) for key in replica}
        self.block = 0

    def add(self, k, **values):
        if k < 1:
            return
        for key, v in values.items():
            self.acc[key] += v
        if k == self.edges[self.block + 1] - 1:
            width = self.edges[self.block + 1] - self.edges[self.block]
            for key, a in self.acc.items():
                a /= width
                out = self.out[f"block_{key}"]
                out[0][self.block], out[1][self.block], out[2][self.block] = moments3(a)
                if f"replica_block_{key}" in self.replica:
                    self.replica[f"replica_block_{key}"][:, self.block] = a
                a[...] = 0.0
            self.block += 1

    def output(self):
        return {**self.out, **self.replica}


#: target number of float64 entries of one (rows, B, d) array of a row block, so that the arrays
#: of a block stay cache-sized whatever the dimension (measured best among 4096..65536 entries on
#: a 1 MB-L2 core; without blocking the engine fell to 0.25 of the raw rate at d = 1024)
_BLOCK_ENTRIES = 65536


def _run_chunk(child, n, algorithm, compiled, data, lam, hyper_values, batch, noise_sd, e0, steps,
               sufficient=False):
    """Run ``n`` replicas on the random stream ``child``; per-step (mean, centred sum of squares).

    The replicas are processed in row blocks of about ``_BLOCK_ENTRIES / (B d)`` replicas, one
    after the other on the same stream (each block runs all its steps), so that the arrays of a
    block stay in cache; the blocks' statistics are merged exactly (Chan et al.). The numbers
    depend on the seed, ``chunk_size``, B and d only, never on the number of workers.
    """
    rng = np.random.Generator(np.random.PCG64(child))
    d = len(lam)
    rows = max(16, _BLOCK_ENTRIES // (batch * d))
    acc = _Merged()
    for start in range(0, n, rows):
        m = min(rows, n - start)
        acc.add(m, _run_rows(rng, m, algorithm, compiled, data, lam, hyper_values, batch, noise_sd, e0, steps,
                             sufficient))
    out = {key: (st.mean, st.m2) if st.m3 is None else (st.mean, st.m2, st.m3) for key, st in acc.stats.items()}
    out.update({key: acc.array(key) for key in acc.replica})
    return n, out


def _run_rows(rng, n, algorithm, compiled, data, lam, hyper_values, batch, noise_sd, e0, steps,
              sufficient=False):
    """Run ``n`` replicas on ``rng``; per-step (mean, centred sum of squares) over them.

    Performance: every array is preallocated; the data vector is never rescaled
    (x = sqrt(lambda) z is folded into the gradient point and the gradient),
    Gaussian variates are drawn in place, a linear update rule is applied in place,
    and each step's statistics (means by BLAS, sums of squares in one pass, with
    a two-pass fallback where cancellation would cost digits) cost a handful of
    memory passes over the (n, d) state besides the random numbers.
    """
    update, point, linear = compiled
    d = len(lam)
    sqrt_lam = np.sqrt(lam)
    gscale = sqrt_lam / batch
    state = [np.broadcast_to(np.asarray(s, dtype=float), (n, d)).copy()
             for s in algorithm.initial_state(e0)]
    floor = noise_sd**2 + float(getattr(data, "residual_variance", 0.0))
    gaussian = type(data) is Gaussian
    zbuf = np.empty((n, 1 if sufficient else batch, d))
    z1 = zbuf[:, 0, :]
    resid = np.empty((n, batch))
    noise = np.empty((n, batch))
    q = np.empty((n, d))
    g = np.empty((n, d))
    sq = np.empty((n, d))
    sums = {"risk": (np.empty(steps + 1), np.empty(steps + 1), np.empty(steps + 1)),
            "m": (np.empty((steps + 1, d)), np.empty((steps + 1, d))),
            "mu": (np.empty((steps + 1, d)), np.empty((steps + 1, d)))}
    blocks = BlockRecorder(n, steps, {"risk": (), "m": (d,), "mu": (d,)}, replica=("risk",))
    ones = np.ones(n)

    def centred(x, out_mean, out_m2, k, sum_sq=None):
        """Mean over replicas (BLAS) and centred sum of squares.

        One pass: m2 = sum x^2 - n mean^2 (``sum_sq`` may be supplied). Where that loses more
        than ~1e-7 of its digits to cancellation (m2 < 1e-7 sum x^2: the quantity is nearly the
        same in every replica, e.g. step 0), the column is recomputed by two passes, which gives
        exactly 0 for a quantity equal in all replicas.
        """
        mean = (ones @ x) / n
        out_mean[k] = mean
        if sum_sq is None:
            sum_sq = x @ x if x.ndim == 1 else np.einsum("rd,rd->d", x, x)
        m2 = sum_sq - n * mean * mean
        if x.ndim == 1:
            if not m2 > 1e-7 * sum_sq:
                dv = x - mean
                m2 = dv @ dv
        else:
            bad = ~(m2 > 1e-7 * sum_sq)
            if bad.any():
                cols = np.flatnonzero(bad)
                dv = x[:, cols] - mean[cols]
                m2[cols] = np.einsum("rd,rd->d", dv, dv)
        out_m2[k] = m2

    observable = algorithm.observable
    obs = (None if observable == algorithm.state[0]
           else sp.lambdify(list(algorithm.state), observable, modules="numpy"))

    def record(k, e, o=None):
        """Statistics of step k: e_i^2 and e_i of the error; the risk on the observable o (default e)."""
        np.multiply(e, e, out=sq)
        risk = sq @ lam if o is None else np.einsum("rd,rd,d->r", o, o, lam)
        risk *= 0.5
        risk += 0.5 * floor
        centred(sq, *sums["m"], k)
        centred(e, *sums["mu"], k, sum_sq=sums["m"][0][k] * n)
        mean, m2, m3 = moments3(risk)
        sums["risk"][0][k], sums["risk"][1][k], sums["risk"][2][k] = mean, m2, m3
        blocks.add(k, risk=risk, m=sq, mu=e)

    # linear update rule: new_a = sum_j U[a][j] s_j + U[a][-1] g, gradient point p = sum_j P[j] s_j
    schedule = hyper_values
    timed = any(callable(h) for h in schedule)
    coeffs = None if (linear is None or timed) else [[float(c) for c in row] for row in linear(*hyper_values)]
    n_state = len(state)
    in_place = (coeffs is not None and n_state == 1 and coeffs[0][0] == 1.0 and coeffs[1][1] == 0.0)
    if in_place:  # e <- e + c g with the point p = P e: fold c into the gradient's scale
        gscale = gscale * coeffs[0][1]
        pscale = sqrt_lam * coeffs[1][0]
    elif coeffs is not None or (timed and linear is not None):
        spare = [np.empty((n, d)) for _ in range(n_state)]
        tmp = np.empty((n, d))
        pscale = sqrt_lam

    def combine(row, arrays, out):
        first = True
        for c, arr in zip(row, arrays):
            if c == 0.0:
                continue
            if first:
                np.multiply(arr, c, out=out)
                first = False
            else:
                np.multiply(arr, c, out=tmp)
                out += tmp
        if first:
            out[...] = 0.0

    record(0, state[0], None if obs is None else obs(*state))
    schedule = hyper_values
    timed = any(callable(h) for h in schedule)
    for k in range(1, steps + 1):
        if timed:  # the step k-1 -> k uses h(k - 1), as in theory.Recursion.trajectory
            hyper_values = [float(h(k - 1)) if callable(h) else h for h in schedule]  # range-checked up front
            if linear is not None:
                coeffs = [[float(c) for c in row] for row in linear(*hyper_values)]
        if in_place:
            np.multiply(state[0], pscale, out=q)      # <x_b, p> = <z_b, sqrt(lambda) p>
        elif coeffs is not None:
            combine(coeffs[-1][:-1], state, q)
            q *= pscale
        else:
            p = np.broadcast_to(point(*state, *hyper_values), (n, d))
            np.multiply(p, sqrt_lam, out=q)
        if sufficient:   # exact law of the minibatch gradient given the per-sample scalars
            sufficient_gradient(rng, q, noise_sd, batch, out=g)
        elif gaussian:
            rng.standard_normal(out=zbuf)
            z, label = zbuf, None
        else:
            drawn = sample_standardized(data, rng, (n, batch, d))
            z, label = drawn if isinstance(drawn, tuple) else (drawn, None)
        if not sufficient:
            zz = z1 if z is zbuf else z[:, 0, :]
            if batch == 1:
                np.einsum("rd,rd->r", zz, q, out=resid[:, 0])
            else:
                np.einsum("rbd,rd->rb", z, q, out=resid)
            if label is not None:
                resid -= label
            if noise_sd:
                rng.standard_normal(out=noise)
                noise *= noise_sd
                resid -= noise
            if batch == 1:
                np.multiply(zz, resid, out=g)
            else:
                np.einsum("rbd,rb->rd", z, resid, out=g)
        g *= gscale                               # g = (1/B) sum_b x_b (<x_b, p> - eps_b) (times c)
        if in_place:
            state[0] += g
        elif coeffs is not None:
            for a in range(n_state):
                combine(coeffs[a], [*state, g], spare[a])
            state, spare = spare, state
        else:
            state = [np.broadcast_to(s, (n, d)) for s in update(*state, g, *hyper_values)]
        record(k, state[0], None if obs is None else obs(*state))
    return {**sums, **blocks.output()}


def _check_coordinates(coordinates, d):
    """None (every coordinate) or an int64 array of distinct coordinates in [0, d); ValueError otherwise."""
    if coordinates is None:
        return None
    try:
        arr = np.asarray(coordinates)
        ok = arr.ndim == 1 and (arr.size == 0 or np.issubdtype(arr.dtype, np.integer))
    except (TypeError, ValueError):
        ok = False
    if not ok or np.any(arr < 0) or np.any(arr >= d) or len(np.unique(arr)) != arr.size:
        raise ValueError(f"coordinates must be a sequence of distinct integers in [0, {d}) (d = len(eigenvalues)); "
                         f"got {coordinates!r}")
    return arr.astype(np.int64)


def run_chunks(run, children, sizes, workers=None):
    """``[run((child, size)) for each chunk]`` on a thread pool of ``workers`` (default: the CPUs);
    the list is in chunk order whatever the number of workers."""
    workers = workers or os.cpu_count() or 1
    if workers > 1 and len(sizes) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(sizes))) as pool:
            return list(pool.map(run, zip(children, sizes)))
    return [run(cs) for cs in zip(children, sizes)]


def fused_available() -> bool:
    """True when numba imports (the fused kernel's compiler)."""
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a runtime dependency
        return False
    return True


def warm_up() -> bool:
    """Compile the fused kernels in this process, or load them from numba's disk cache (``cache=True``).

    A process pool started by fork (:func:`verify.runner.run_claims`) calls this in the parent
    before its workers start: they inherit the compiled kernels instead of each compiling them.
    It compiles exactly what the main job runs, once: the one specialization of
    :func:`verify.kernel.step_rows` (which serves :func:`simulate` and the per-replica hooked runs
    of :func:`verify.fused.run_chunk_hooked` alike, every argument cast to one type by
    :mod:`verify.fused`) and :func:`verify.glm_kernel.advance` (:func:`verify.glm.simulate_glm`).
    Measured with an empty numba cache (``python benchmarks/run.py --only compile``): see
    ``docs/budgets.md``. Runs two replicas for one step (d = 1) on each kernel with warnings
    silenced; returns False when numba is not installed (nothing to warm).
    """
    if not fused_available():
        return False
    import warnings

    from .glm_kernel import warm_up as warm_glm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        simulate(data=Gaussian(), eigenvalues=[1.0], learning_rate=0.5, steps=1, replicas=2, seed=0, workers=1,
                 engine="fused")
        warm_glm()
    return True


def kernel_samples(data) -> bool:
    """True for the data models the fused kernel samples itself (:func:`verify.kernel.draw`):
    Gaussian, Rademacher, IndependentCoordinates (three-point law), SparseGaussian and
    EmpiricalDistribution (rows drawn uniformly, fewer than 2^32 of them)."""
    from theory.data import (
        EmpiricalDistribution,
        IndependentCoordinates,
        Rademacher,
        SparseGaussian,
    )
    if type(data) is EmpiricalDistribution:
        return data.n < 2**32
    return type(data) in (Gaussian, Rademacher, IndependentCoordinates, SparseGaussian)


def choose_engine(engine, sampling, data, batch, linear):
    """Resolve ``engine`` and ``sampling`` (see :func:`simulate`) to ("fused" | "numpy", sufficient: bool).

    Raises ValueError for an unknown name, "sufficient" sampling of a non-Gaussian data model, or
    the fused engine for a rule that is not linear in the state and the gradient or a data model
    the kernel does not sample (:func:`kernel_samples`).
    """
    if engine not in ("auto", "fused", "numpy"):
        raise ValueError(f"engine must be 'auto', 'fused' or 'numpy'; got {engine!r}")
    if sampling not in ("auto", "direct", "sufficient"):
        raise ValueError(f"sampling must be 'auto', 'direct' or 'sufficient'; got {sampling!r}")
    exact = has_exact_sufficient_law(data)
    if sampling == "sufficient" and not exact:
        raise ValueError(f"sampling='sufficient' needs Gaussian data (an exact conditional law); got {data!r}")
    sufficient = sampling == "sufficient" or (sampling == "auto" and exact and batch >= 2)
    fusable = linear and kernel_samples(data) and fused_available()
    if engine == "fused" and not fusable:
        raise ValueError("engine='fused' needs an update rule linear in the state and the gradient and a data "
                         "model the kernel samples (Gaussian, Rademacher, IndependentCoordinates, SparseGaussian, "
                         "EmpiricalDistribution); "
                         f"got {data!r}" + ("" if linear else " and a non-linear rule"))
    if engine == "auto":
        engine = "fused" if fusable else "numpy"
    return engine, sufficient


def simulate(algorithm: Algorithm | None = None, *, data: DataModel | None = None, eigenvalues,
             learning_rate, batch=1, noise_variance=0.0, initial=1.0, steps=100, replicas=1000,
             seed=None, workers=None, chunk_size=1024, split=False, engine="auto", sampling="auto",
             coordinates=None, **hyper) -> SimulationResult:
    r"""Run ``algorithm`` on streaming least squares, ``replicas`` independent times.

    Model: x = sqrt(lambda) z in the eigenbasis of K = diag(lambda) (z from
    ``data``), y = <x, theta*> + eps with eps ~ N(0, sigma^2); the error
    e = theta - theta* starts at the deterministic ``initial`` e_0.

    Parameters
    ----------
    algorithm : theory.Algorithm, default SGD()
    data : theory.DataModel, default Gaussian()
    eigenvalues : array_like, shape (d,)
        lambda_i > 0.
    learning_rate : float > 0
        gamma (no 1/d scaling).
    batch : int >= 1
    noise_variance : float >= 0
        sigma^2.
    initial : float or array of shape (d,)
        e_0 in the eigenbasis.
    steps, replicas : int >= 1
    seed : int, SeedSequence or None
        Root of every random stream; None draws fresh entropy, which is recorded.
    workers : int, optional
        Threads over chunks (default: number of CPUs). Does not change the numbers.
    chunk_size : int
        Replicas per random stream. Part of the seed record: changing it changes the numbers.
    split : bool
        If True, return a list with one :class:`SimulationResult` per chunk (independent
        experiments of ``chunk_size`` replicas each, e.g. for null studies of a test).
    engine : {"auto", "fused", "numpy"}
        "fused": the compiled kernel of :mod:`verify.kernel` (SFC64 streams, generation,
        update and recording fused per row block; needs an update rule linear in the state and
        the gradient -- affine rules (theta*), a common per-direction factor of the gradient
        (a diagonal preconditioner) and a risk on another state variable (iterate averaging)
        included, see :class:`FusedPlan` -- and a data model the kernel samples: Gaussian,
        Rademacher, IndependentCoordinates, SparseGaussian, EmpiricalDistribution);
        "numpy": the NumPy reference engine (PCG64 streams, every rule and data model);
        "auto": "fused" where it applies, else "numpy". The two engines draw different random
        numbers from the same seed; each is reproducible bit for bit.
    sampling : {"auto", "direct", "sufficient"}
        "sufficient": the minibatch gradient drawn from its exact law given the per-sample
        scalars (:mod:`verify.sampling`; Gaussian data only): d + 2B normal variates per step
        instead of B (d + 1); "direct": the B data vectors drawn; "auto": "sufficient" for
        Gaussian data with B >= 2, else "direct".
    coordinates : sequence of int in [0, d), optional
        The coordinates i whose e_{k,i}^2 and e_{k,i} are recorded at every step k
        (``second_moments``, ``mean`` and their standard errors get one column per entry, in this
        order); default: all d. The risk and the block averages (``block_second_moments``,
        ``block_mean``, every coordinate) are always recorded. A run compared on its risk only
        (``verify.compare(..., quantities=("risk",))``, a stationary window) passes ``()``: the
        fused kernel then skips the per-step coordinate statistics (measured 5-15 % of its time,
        d = 16..128). Does not change the random numbers.
    **hyper
        Other hyperparameters of ``algorithm`` (e.g. ``momentum``), bound and range-checked by
        :func:`theory.bind_hyperparameters` exactly as in :meth:`theory.Recursion.trajectory`.
        Those declared schedulable may be callables h(k) of the step (the step k -> k + 1 uses
        h(k); every value used is checked before the run), those declared per-direction may be
        arrays of shape (d,). Affine rules (e.g. ``SGD(weight_decay=w)``) take ``optimum``
        theta* (eigenbasis, default 0); ``initial`` stays the error e_0 = theta_0 - theta*.
        The risk is measured on the algorithm's ``observable`` (e.g. the averaged iterate of
        :class:`theory.IterateAveraging`); ``second_moments`` and ``mean`` are those of e_k.

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        Bad eigenvalues, learning rate, batch, noise variance, initial error,
        steps or replicas (< 1), or unknown, missing or out-of-range hyperparameters.

    Example
    -------
    >>> from verify import simulate
    >>> res = simulate(eigenvalues=[1.0, 0.5], learning_rate=0.1, steps=5, replicas=200, seed=1)
    >>> res.risk.shape, res.second_moments.shape
    ((6,), (6, 2))
    """
    t0 = time.perf_counter()
    algorithm, data = check_algorithm_and_data(algorithm, data)
    lam = check_eigenvalues(eigenvalues)
    batch = check_integer(batch, "batch", 1)
    check_nonnegative(noise_variance, "noise_variance")
    e0 = check_initial(initial, len(lam))
    steps = check_integer(steps, "steps", 1)
    replicas = check_replicas(replicas)
    chunk_size = check_integer(chunk_size, "chunk_size", 1)
    data.kurtosis_values(len(lam))  # validates per-coordinate parameters against d
    own = getattr(data, "eigenvalues", None)  # models with their own spectrum (EmpiricalDistribution)
    if own is not None and not np.allclose(own, lam, rtol=1e-12, atol=0):
        raise ValueError(f"eigenvalues must be the data model's own (data.eigenvalues) for {data!r}")
    names = list(algorithm.hyperparameters)
    bound = bind_hyperparameters(algorithm, {"learning_rate": learning_rate, **hyper}, dimension=len(lam),
                                 steps=steps, schedules=True)
    hyper_values = [v if callable(v) and not isinstance(v, np.ndarray) else
                    (v.astype(float) if isinstance(v, np.ndarray) else float(v)) for v in (bound[n] for n in names)]

    coords = _check_coordinates(coordinates, len(lam))
    root, children, sizes = chunk_streams(seed, replicas, chunk_size)
    compiled = _compile(algorithm)
    noise_sd = float(np.sqrt(float(noise_variance)))
    # the fused kernel records the risk on the error e (state[0]); a rule whose risk is measured on
    # another combination of the state (iterate averaging), or whose coefficients depend on the
    # direction other than as in FusedPlan, runs on the NumPy engine
    plan = _fused_plan(algorithm)
    engine, sufficient = choose_engine(engine, sampling, data, batch, plan is not None)
    if engine == "fused":
        from . import fused
        C = fused.coefficient_schedule(algorithm, plan.linear, hyper_values, steps)
        floor = noise_sd**2 + float(getattr(data, "residual_variance", 0.0))
        start = _InitialState(plan.initial_state(algorithm, e0, bound.get("optimum", 0.0)))
        factor = plan.gradient_factor(bound, len(lam))

        def run(cs):
            return fused.run_chunk(cs[0], cs[1], start, C, lam, batch, noise_sd, floor, e0, steps, sufficient,
                                   coords=coords, data=data, gradient_factor=factor, observable=plan.observable)
    else:
        args = (algorithm, compiled, data, lam, hyper_values, batch, noise_sd, e0, steps, sufficient)

        def run(cs):
            n, out = _run_chunk(cs[0], cs[1], *args)
            if coords is not None:   # the reference engine records every coordinate: keep the requested ones
                out.update({key: tuple(a[:, coords] for a in out[key]) for key in ("m", "mu")})
            return n, out
    parts = run_chunks(run, children, sizes, workers)

    params = dict(algorithm=repr(algorithm), data=repr(data), eigenvalues=lam.tolist(),
                  learning_rate=float(learning_rate), batch=batch, noise_variance=float(noise_variance),
                  initial=e0.tolist(), steps=steps, replicas=replicas, engine=engine,
                  sampling="sufficient" if sufficient else "direct",
                  **({} if coords is None else {"coordinates": coords.tolist()}),
                  **{k: (repr(v) if callable(v) else v) for k, v in hyper.items()})
    if split:
        return [assemble_result([part], child, chunk_size, dict(params, replicas=part[0]), t0)
                for part, child in zip(parts, children)]
    return assemble_result(parts, root, chunk_size, params, t0)
