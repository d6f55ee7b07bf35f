r"""Monte Carlo of the two-scale teacher--student model: gradient descent on drawn training sets.

Each replica draws its own design Z (n, d) with N(0, 1/d) entries, teacher w ~ N(0, I_d) and
label noise, and runs gradient descent w_hat_{k+1} = w_hat_k - eta X^T (X w_hat_k - y) from
w_hat_0 = 0 on X = Z F. The run is linear, so its k-th iterate is the geometric sum of the
update map, w_hat_k = sum_{j<k} (I - eta A)^j eta X^T y with A = X^T X, evaluated exactly in the
eigenbasis of A (``numpy.linalg.eigh``, A = V diag(s) V^T):
w_hat_k = V diag((1 - (1 - eta s)^k) / s) V^T X^T y, with 1 - (1 - eta s)^k = -expm1(k log1p(-eta s))
for eta s < 1 (no cancellation for small s; k eta s at s = 0), for any step count and at the
cost of one eigendecomposition per design (shared with the exact curves, :func:`design_spectra`).
It does not use :mod:`theory.teacher_student` (whose filter SymPy derives from the update rule);
``tests/test_teacher_student_claims.py`` checks it against stepping the update rule itself. Each
design is trained for ``teachers`` independent teachers (and label noises) at once (the map is the
same; only its last columns differ), and a replica's value is the average over its teachers: the
replicas (designs) stay independent and the teacher-to-teacher variance drops by that factor.

Per replica and step it records the test error averaged exactly over the noiseless test point,
||F w_hat - w||^2 / (2d) (split into the fast and slow coordinates), and the training error
||X w_hat - y||^2 / (2n), and the order parameters R = <w, F w_hat>/d, Q = ||F w_hat||^2/d. The expectation of the first over replicas is E_G(k eta) averaged over
designs; given the replica's design it is E_G of that design (paired comparisons,
:func:`paired`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from theory.teacher_student import TwoScaleTeacherStudent, crossings, locate_extremum
from theory.teacher_student_sgd import MinibatchCurves
from theory.validation import check_integer, check_positive

__all__ = ["SGDRuns", "TeacherStudentRuns", "TrainingSets", "design_spectra", "draw_designs", "draw_training_sets",
           "gradient_descent_runs", "paired", "plot_double_descent", "sgd_runs"]

_MAX_BITS = 26


@dataclass(frozen=True)
class TeacherStudentRuns:
    """Per-replica errors (replicas, K) at ``steps`` (K,) of gradient descent with ``learning_rate``
    (times t = steps * learning_rate), each replica's ``designs`` (replicas, n, d), and optionally
    their ``spectra`` (:func:`design_spectra`, used by :func:`paired`)."""

    steps: np.ndarray
    learning_rate: float
    test_error: np.ndarray
    test_error_fast: np.ndarray
    test_error_slow: np.ndarray
    training_error: np.ndarray
    R: np.ndarray
    Q: np.ndarray
    designs: np.ndarray
    seed: int
    spectra: tuple | None = field(default=None, repr=False, compare=False)   # design_spectra(designs), if known

    @property
    def times(self) -> np.ndarray:
        return self.steps * self.learning_rate


def gradient_descent_runs(model: TwoScaleTeacherStudent, learning_rate, steps, replicas, seed,
                          teachers: int = 1, chunk: int = 64, spectra=None, draws=None) -> TeacherStudentRuns:
    """Run gradient descent on ``replicas`` independently drawn training sets (module docstring).

    Parameters
    ----------
    model : TwoScaleTeacherStudent
    learning_rate : float in (0, 2 / s_max); replicas whose design has eta s_max >= 2 raise
    steps : iterable of integers in [0, 2^26]
    replicas : int >= 2, the number of independent designs
    teachers : int >= 1, teachers (with their label noise) trained on each design
    seed : int, the seed of ``numpy.random.default_rng`` (recorded in the result)
    spectra : optional, :func:`design_spectra` of the designs these arguments draw
        (:func:`draw_designs`), to share one eigendecomposition per design with the exact curves;
        computed here when None. Recorded in the result (``runs.spectra``).
    draws : optional, the :class:`TrainingSets` these arguments draw (:func:`draw_training_sets` with
        the same ``model``, ``replicas``, ``seed``, ``teachers`` and ``chunk``), to draw them once for
        the exact curves and the runs; drawn here when None. ``runs.designs`` is ``draws.designs``.

    Raises
    ------
    ValueError
        naming the argument: steps out of range, a learning rate at which gradient descent
        diverges on a drawn design, fewer than 2 replicas, spectra that are not those of the
        drawn designs, draws made with other arguments.

    Example
    -------
    >>> m = TwoScaleTeacherStudent(20, 10, 5, 4.0)
    >>> r = gradient_descent_runs(m, 0.1, [0, 10], replicas=4, seed=0)
    >>> r.test_error.shape, bool(np.all(r.test_error[:, 1] < r.test_error[:, 0]))   # 10 steps fit part of w
    ((4, 2), True)
    """
    check_positive(learning_rate, "learning_rate")
    replicas = check_integer(replicas, "replicas", minimum=2)
    m = check_integer(teachers, "teachers")
    steps = np.array([check_integer(k, "steps", minimum=0) for k in np.atleast_1d(steps)], dtype=np.int64)
    if steps.max(initial=0) > 2**_MAX_BITS:
        raise ValueError(f"steps must be integers in [0, 2^{_MAX_BITS}]; got {int(steps.max())}")
    n, d, f = model.n, model.d, model.scales
    out = {k: np.empty((replicas, steps.size)) for k in ("test", "fast", "slow", "train", "R", "Q")}
    if draws is None:
        designs, chunks = np.empty((replicas, n, d)), _draws(model, replicas, seed, m, chunk)
    else:
        if not isinstance(draws, TrainingSets) or (draws.model, draws.seed, draws.chunk) != (model, seed, chunk) \
                or draws.teachers.shape != (replicas, d, m):
            raise ValueError("draws must be draw_training_sets(model, replicas, seed, teachers, chunk) with the "
                             "arguments of this call")
        designs, chunks = draws.designs, draws.chunks()
    if spectra is None:
        S, U = np.empty((replicas, d)), np.empty((replicas, d, d))
    else:
        S, U = np.asarray(spectra[0], dtype=float), np.asarray(spectra[1], dtype=float)
        if S.shape != (replicas, d) or U.shape != (replicas, d, d):
            raise ValueError(f"spectra must have shapes (replicas, d), (replicas, d, d); got {S.shape}, {U.shape}")
    fast = np.arange(d) < model.p
    eta = float(learning_rate)
    for lo, X, w, y in chunks:
        r = X.shape[0]
        XT = X.transpose(0, 2, 1)
        A = XT @ X
        if spectra is None:
            s, V = np.linalg.eigh(A)
            S[lo:lo + r], U[lo:lo + r] = s, V
        else:
            s, V = S[lo:lo + r], U[lo:lo + r]
            _check_spectra(A, s, V)
        smax = s[:, -1].max()
        if eta * smax >= 2:
            raise ValueError(f"learning_rate must lie in (0, 2 / s_max = {2 / smax:.6g}) on the drawn "
                             f"designs; got {learning_rate!r}")
        x = eta * np.maximum(s, 0.0)[:, :, None]                      # eta s per direction, (r, d, 1)
        c = V.transpose(0, 2, 1) @ (XT @ y)                            # V^T X^T y, (r, d, m)
        small = x < 1
        for j, k in enumerate(steps):
            with np.errstate(divide="ignore", invalid="ignore"):      # fitted fraction 1 - (1 - eta s)^k
                fit = np.where(small, -np.expm1(k * np.log1p(-np.where(small, x, 0.0))), 1 - (1 - x) ** int(k))
                g = np.where(x > 0, eta * fit / x, eta * k)             # (1 - (1 - eta s)^k) / s
            v = V @ (g * c)                                           # w_hat_k, (r, d, m)
            fw = f[None, :, None] * v
            err = (fw - w) ** 2                                      # (r, d, m)
            out["R"][lo:lo + r, j] = (fw * w).sum(axis=(1, 2)) / (d * m)
            out["Q"][lo:lo + r, j] = (fw * fw).sum(axis=(1, 2)) / (d * m)
            out["fast"][lo:lo + r, j] = err[:, fast].sum(axis=(1, 2)) / (2 * d * m)
            out["slow"][lo:lo + r, j] = err[:, ~fast].sum(axis=(1, 2)) / (2 * d * m)
            res = X @ v - y
            out["train"][lo:lo + r, j] = (res**2).sum(axis=(1, 2)) / (2 * n * m)
        if draws is None:
            designs[lo:lo + r] = X
    test = out["fast"] + out["slow"]
    return TeacherStudentRuns(steps, eta, test, out["fast"], out["slow"], out["train"], out["R"], out["Q"],
                              designs, seed, (S, U))


def _check_spectra(A, s, V):
    """Raise ValueError unless (s, V) diagonalise every A (r, d, d): A V 1 = V diag(s) 1 within 1e-8 of
    the entries of A (O(r d^2))."""
    if s.shape != A.shape[:2] or V.shape != A.shape:
        raise ValueError(f"spectra must have shapes (replicas, d), (replicas, d, d); got {s.shape}, {V.shape}")
    e = np.ones(A.shape[-1])
    res = (A @ (V @ e)[..., None])[..., 0] - (V * s[:, None, :]) @ e
    if np.any(np.abs(res).sum(axis=1) > 1e-8 * (np.abs(A).sum(axis=(1, 2)) + 1e-300)):
        raise ValueError("spectra must be design_spectra of the designs drawn with these replicas, seed, teachers "
                         "and chunk")


def _draws(model, replicas, seed, teachers, chunk):
    """Per chunk of replicas, in the order of the stream of ``numpy.random.default_rng(seed)``:
    (first replica, designs X = Z F (r, n, d), teachers w (r, d, teachers), labels y (r, n, teachers))."""
    rng = np.random.default_rng(seed)
    n, d = model.n, model.d
    for lo in range(0, replicas, chunk):
        r = min(chunk, replicas - lo)
        Z = rng.standard_normal((r, n, d)) / np.sqrt(d)
        w = rng.standard_normal((r, d, teachers))
        y = Z @ w + np.sqrt(float(model.noise_variance)) * rng.standard_normal((r, n, teachers))
        yield lo, Z * model.scales, w, y


@dataclass(frozen=True, eq=False)
class TrainingSets:
    """The training sets :func:`gradient_descent_runs` trains on: ``designs`` X = Z F (replicas, n, d),
    ``teachers`` w (replicas, d, teachers), ``labels`` y = Z w + noise (replicas, n, teachers), drawn by
    :func:`draw_training_sets` for ``model`` from ``seed`` in chunks of ``chunk`` replicas."""

    model: TwoScaleTeacherStudent
    seed: int
    chunk: int
    designs: np.ndarray = field(repr=False)
    teachers: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)

    def chunks(self):
        """(first replica, X, w, y) per chunk, as :func:`gradient_descent_runs` consumes them (views)."""
        for lo in range(0, self.designs.shape[0], self.chunk):
            hi = lo + self.chunk
            yield lo, self.designs[lo:hi], self.teachers[lo:hi], self.labels[lo:hi]


def draw_training_sets(model: TwoScaleTeacherStudent, replicas, seed, teachers: int = 1,
                       chunk: int = 64) -> TrainingSets:
    """The training sets (designs, teachers, labels) that :func:`gradient_descent_runs` with the same
    ``replicas``, ``seed``, ``teachers`` and ``chunk`` draws, drawn without training (the same stream of
    ``numpy.random.default_rng(seed)``): pass them as its ``draws`` to draw them once.

    >>> m = TwoScaleTeacherStudent(20, 10, 5, 4.0)
    >>> sets = draw_training_sets(m, 4, 0)
    >>> bool(np.array_equal(gradient_descent_runs(m, 0.1, [3], 4, 0, draws=sets).test_error,
    ...                     gradient_descent_runs(m, 0.1, [3], 4, 0).test_error))
    True
    """
    replicas = check_integer(replicas, "replicas", minimum=2)
    teachers = check_integer(teachers, "teachers")
    chunk = check_integer(chunk, "chunk")
    X = np.empty((replicas, model.n, model.d))
    W = np.empty((replicas, model.d, teachers))
    Y = np.empty((replicas, model.n, teachers))
    for lo, x, w, y in _draws(model, replicas, seed, teachers, chunk):
        X[lo:lo + x.shape[0]], W[lo:lo + x.shape[0]], Y[lo:lo + x.shape[0]] = x, w, y
    return TrainingSets(model, seed, chunk, X, W, Y)


def draw_designs(model: TwoScaleTeacherStudent, replicas, seed, teachers: int = 1, chunk: int = 64) -> np.ndarray:
    """The designs (replicas, n, d) that :func:`gradient_descent_runs` with the same ``replicas``,
    ``seed``, ``teachers`` and ``chunk`` trains on (``runs.designs``), drawn without training
    (:func:`draw_training_sets` also keeps the teachers and labels).

    >>> m = TwoScaleTeacherStudent(20, 10, 5, 4.0)
    >>> bool(np.array_equal(draw_designs(m, 4, 0), gradient_descent_runs(m, 0.1, [3], 4, 0).designs))
    True
    """
    return draw_training_sets(model, replicas, seed, teachers, chunk).designs


def design_spectra(designs) -> tuple:
    """``numpy.linalg.eigh(X.T @ X)`` of every design (replicas, n, d), one batched call: (s (replicas, d),
    V (replicas, d, d)), the ``spectra`` argument of
    :meth:`theory.teacher_student.TwoScaleTeacherStudent.design_curves` and of :func:`paired`, so that one
    eigendecomposition per design serves every curve."""
    designs = np.asarray(designs, dtype=float)
    s, V = np.linalg.eigh(designs.transpose(0, 2, 1) @ designs)
    return s, V


@dataclass(frozen=True)
class SGDRuns(MinibatchCurves):
    """Per-replica test errors (replicas, K) of multi-pass SGD on one training set, and the ``seed``."""

    seed: int


def sgd_runs(model: TwoScaleTeacherStudent, X, y, teacher, learning_rate, steps, batch, replicas, seed) -> SGDRuns:
    """Multi-pass minibatch SGD on the fixed training set (X, y), ``replicas`` independent runs from
    w_hat = 0, vectorised over replicas: each step draws ``batch`` rows uniformly *with replacement*
    and takes w_hat <- w_hat - eta (n / B) sum_batch x_r (x_r^T w_hat - y_r) (expectation: one
    gradient-descent step of ``learning_rate`` eta on 1/2 ||X w_hat - y||^2). Records the test
    error ||F w_hat - w||^2 / (2d) (and its fast/slow split) at ``steps``.

    Raises ValueError naming the argument (steps negative, fewer than 2 replicas, bad rates).

    Example
    -------
    >>> m = TwoScaleTeacherStudent(13, 10, 7, 4.0)
    >>> X = m.sample_design(np.random.default_rng(0)); w = np.ones(10); y = X / m.scales @ w
    >>> sgd_runs(m, X, y, w, 1 / 13, [0, 50], 2, 8, seed=1).test_error.shape
    (8, 2)
    """
    check_positive(learning_rate, "learning_rate")
    batch = check_integer(batch, "batch")
    replicas = check_integer(replicas, "replicas", minimum=2)
    steps = np.array([check_integer(k, "steps", minimum=0) for k in np.atleast_1d(steps)], dtype=np.int64)
    X, y, w = np.asarray(X, dtype=float), np.asarray(y, dtype=float), np.asarray(teacher, dtype=float)
    n, d, f = model.n, model.d, model.scales
    rng = np.random.default_rng(seed)
    fast = np.arange(d) < model.p
    out = np.empty((2, replicas, steps.size))
    W = np.zeros((replicas, d))
    where = {}
    for j, k in enumerate(steps):
        where.setdefault(int(k), []).append(j)
    step = float(learning_rate) * n / batch
    for k in range(int(steps.max(initial=0)) + 1):
        if k:
            idx = rng.integers(0, n, size=(replicas, batch))
            Xb = X[idx]                                                   # (replicas, B, d)
            res = np.einsum("rbd,rd->rb", Xb, W) - y[idx]
            W -= step * np.einsum("rbd,rb->rd", Xb, res)
        for j in where.get(k, ()):
            err = (f * W - w) ** 2
            out[0, :, j] = err[:, fast].sum(axis=1) / (2 * d)
            out[1, :, j] = err[:, ~fast].sum(axis=1) / (2 * d)
    return SGDRuns(steps, float(learning_rate), batch, out[0] + out[1], out[0], out[1], seed)


def paired(runs: TeacherStudentRuns, model: TwoScaleTeacherStudent, field: str = "test_error", spectra=None):
    """(per-replica exact values, per-replica paired samples) at ``runs.steps``, each (replicas, K).

    The exact value is ``model``'s expected ``field`` for the replica's own design
    (:meth:`TwoScaleTeacherStudent.curves`, method ``"gd"``); the paired sample is
    Monte Carlo - exact + (mean over replicas of exact), whose expectation is that mean when
    ``model`` is right (the replicas are independent given nothing, so a one-sample test applies).
    ``model`` may differ from the simulated one (a planted wrong theory). ``spectra``: the designs'
    eigendecompositions (:func:`design_spectra`; default ``runs.spectra``, else computed here)."""
    spectra = spectra if spectra is not None else runs.spectra if runs.spectra is not None else \
        design_spectra(runs.designs)
    if field == "test_error":     # without the other fields (one quadratic form per design)
        exact = model.design_test_error(runs.designs, runs.times, "gd", runs.learning_rate, spectra=spectra)
    else:
        exact = getattr(model.design_curves(runs.designs, runs.times, "gd", runs.learning_rate, spectra=spectra), field)
    mc = getattr(runs, field)
    return exact, mc - exact + exact.mean(axis=0)


def plot_double_descent(path, designs=64, teachers=8, seed=0, kappas=(1.0, 10.0, 100.0)):
    """The docs figure (``docs/teacher_student.png``): (a) E_G against log t for several kappa at the
    Fig. 1 setting otherwise (n = 130, d = 100, p = 70, sigma = 0), exact design averages (lines)
    and Monte Carlo gradient descent (points, +- 2 standard errors); (b) at kappa = 100 the fast
    and slow components E_fast, E_slow (their sum is E_G), their crossings (x) and the first minimum and
    peak of E_G (vertical lines); (c) the (R, Q) trajectory.
    Returns the matplotlib figure."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    eta = 0.2
    grid = np.unique(np.round(np.logspace(0, np.log10(1e5 / eta), 121))) * eta
    steps = np.unique(np.round(np.logspace(0, np.log10(1e5 / eta), 16)).astype(int))
    fig, ax = plt.subplots(1, 3, figsize=(15, 4.2))
    for i, kappa in enumerate(kappas):
        model = TwoScaleTeacherStudent(130, 100, 70, kappa)
        runs = gradient_descent_runs(model, eta, steps, designs, seed + i, teachers=teachers)
        per = model.design_curves(runs.designs, grid, "gd", eta)
        mean = {k: getattr(per, k).mean(axis=0) for k in ("test_error", "test_error_fast", "test_error_slow", "R", "Q")}
        line, = ax[0].semilogx(grid, mean["test_error"], label=f"kappa = {kappa:g}")
        se = runs.test_error.std(axis=0, ddof=1) / np.sqrt(designs)
        ax[0].errorbar(runs.times, runs.test_error.mean(axis=0), 2 * se, fmt="o", ms=3, color=line.get_color())
        if kappa == max(kappas):
            for key, lab in (("test_error_fast", "fast features"), ("test_error_slow", "slow features"),
                             ("test_error", "both")):
                ln, = ax[1].semilogx(grid, mean[key], label=lab)
                mc = getattr(runs, key)
                ax[1].errorbar(runs.times, mc.mean(axis=0), 2 * mc.std(axis=0, ddof=1) / np.sqrt(designs), fmt="o",
                               ms=3, color=ln.get_color())
            per_test = per.test_error
            lo = locate_extremum(grid, per_test, "min")
            hi = locate_extremum(grid, per_test, "max", start=int(np.searchsorted(grid, lo.time)))
            for x, style, lab in ((lo.time, ":", "first minimum of E_G"), (hi.time, "--", "peak of E_G")):
                ax[1].axvline(x, color="grey", ls=style, lw=1, label=f"{lab} (t = {x:.3g})")
            for x in crossings(grid, mean["test_error_fast"], mean["test_error_slow"]):
                ax[1].plot([x], [np.interp(np.log(x), np.log(grid), mean["test_error_fast"])], "kx", ms=8)
            ax[2].plot(mean["R"], mean["Q"], label="exact (design average)")
            ax[2].plot(runs.R.mean(axis=0), runs.Q.mean(axis=0), "o", ms=3, label="Monte Carlo GD")
    ax[0].set(xlabel="training time t = k eta", ylabel="test error E_G", title="(a) epoch-wise double descent")
    ax[1].set(xlabel="training time t", ylabel="E_G components", title="(b) kappa = 100: fast and slow features")
    ax[2].set(xlabel="R", ylabel="Q", title="(c) order parameters (kappa = 100)")
    for a in ax:
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return fig
