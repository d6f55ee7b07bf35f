"""theory.longtime.risk_curve against plain iteration (float64), mpmath, and planted errors."""
import mpmath
import numpy as np
import pytest

from theory import SGD, GeneralizedMomentum, HeavyBall, derive
from theory.longtime import risk_curve
from theory.renewal_modes import (
    _cancellation,
    _compress,
    _modes,
    _reduce,
    chebyshev_bound,
)

CASES = [(SGD(), {}, 0.5), (HeavyBall(), {"momentum": 0.8}, 0.1),
         (GeneralizedMomentum(), {"gamma1": 1.0, "gamma3": 0.01, "delta": 0.05}, 0.3)]
IDS = ["sgd", "heavy_ball", "dana_constant"]


def _grid(n, points=40):
    return np.unique(np.geomspace(1, n, points).astype(int))


@pytest.mark.parametrize(("alg", "hyper", "lr"), CASES, ids=IDS)
def test_constant_matches_iteration(alg, hyper, lr):
    rec = derive(alg)
    lam = np.arange(1, 401) ** -1.6
    n = 5000
    times = np.concatenate([[0], _grid(n)])
    exact = rec.trajectory(lam, lr, steps=n, noise_variance=0.1, **hyper).risk[times]
    curve = risk_curve(rec, lam, lr, times, noise_variance=0.1, **hyper)
    assert curve.method == "volterra"
    assert np.array_equal(curve.times, times)
    assert np.max(np.abs(curve.risk / exact - 1)) < 1e-6


def test_compression_matches_its_bound():
    """d = 2000: the compressed sums of exponentials agree with the full ones within the stated bound."""
    rec = derive(HeavyBall())
    lam = np.arange(1, 2001) ** -1.6
    m = rec.linear_map(lam, 0.1, momentum=0.8)
    s0, _ = rec.initial_moments(1.0, 2000)
    mu, W, _, _, _ = _modes(m, s0)
    comp = _compress(mu, W, 8, 12)
    assert comp.nu.size < mu.size / 4
    for k in (0, 1, 7, 100, 3000, 10**5):
        full = np.sum(W * mu ** k, axis=1).real
        small = np.sum(comp.W * comp.nu ** k, axis=1).real
        assert np.all(np.abs(full - small) <= comp.bound + 1e-13 * np.abs(W).sum(axis=1))
    assert chebyshev_bound(8) > chebyshev_bound(12)


def test_long_horizon_heavy_ball_d2000():
    rec = derive(HeavyBall())
    lam = np.arange(1, 2001) ** -1.6
    n = 8000
    times = _grid(n)
    exact = rec.trajectory(lam, 0.1, steps=n, momentum=0.8).risk[times]
    curve = risk_curve(rec, lam, 0.1, times, momentum=0.8, accuracy=1e-8)
    assert np.max(np.abs(curve.risk / exact - 1)) < 1e-8
    assert curve.nodes < 3 * 2000 / 4


def test_mpmath_spot_check():
    """Against the recursion iterated in mpmath at 30 digits (d = 12)."""
    rec = derive(GeneralizedMomentum())
    lam = np.arange(1, 13) ** -1.2
    hyper = {"gamma1": 1.0, "gamma3": 0.02, "delta": 0.1}
    times = np.array([1, 10, 60, 150])
    mp = rec.trajectory(lam, 0.4, steps=150, noise_variance=0.05, dps=30, **hyper).risk
    curve = risk_curve(rec, lam, 0.4, times, noise_variance=0.05, accuracy=1e-10, **hyper)
    for k, r in zip(times, curve.risk):
        assert abs(mpmath.mpf(r) / mp[k] - 1) < 1e-10


def _dana_decaying(alpha=0.8, delta=3.0, g3=0.05):
    return {"gamma1": 1.0, "gamma3": lambda k: g3 * (1 + k) ** (-1 / (2 * alpha)),
            "delta": lambda k: delta / (delta + k)}


@pytest.fixture(scope="module")
def dana_decaying_exact():
    rec = derive(GeneralizedMomentum())
    lam = np.arange(1, 201) ** -1.6
    n = 6000
    return rec, lam, n, rec.trajectory(lam, 0.3, steps=n, noise_variance=0.01, **_dana_decaying()).risk


@pytest.mark.parametrize("accuracy", [1e-2, 1e-3, 1e-4])
def test_schedules_match_iteration(dana_decaying_exact, accuracy):
    rec, lam, n, exact = dana_decaying_exact
    times = _grid(n)
    curve = risk_curve(rec, lam, 0.3, times, noise_variance=0.01, accuracy=accuracy, **_dana_decaying())
    err = np.max(np.abs(curve.risk / exact[times] - 1))
    assert curve.method == "frozen-windows"
    assert curve.details["windows"] > 0
    assert err < accuracy
    assert err <= curve.estimated_error      # the estimate (difference to the 2-epsilon run) is conservative
    if accuracy == 1e-2:                     # without the estimate: the same curve, estimated_error nan
        quick = risk_curve(rec, lam, 0.3, times, noise_variance=0.01, accuracy=accuracy, estimate_error=False,
                           **_dana_decaying())
        np.testing.assert_array_equal(quick.risk, curve.risk)
        assert np.isnan(quick.estimated_error)


def test_planted_errors_are_visible(dana_decaying_exact):
    """A 2 % change of gamma_3's decay exponent or of Delta's delta moves the curve far beyond the error."""
    rec, lam, n, exact = dana_decaying_exact
    times = _grid(n)
    for planted in (_dana_decaying(alpha=0.8 * 1.02), _dana_decaying(delta=3.0 * 1.02)):
        curve = risk_curve(rec, lam, 0.3, times, noise_variance=0.01, accuracy=1e-4, **planted)
        assert np.max(np.abs(curve.risk / exact[times] - 1)) > 10 * max(curve.estimated_error, 1e-4)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"times": [3, 2]}, "times must be strictly increasing"),
    ({"times": [-1, 2]}, "times must be >= 0"),
    ({"times": [1.5]}, "times must hold integers"),
    ({"times": []}, "times must be a non-empty"),
    ({"times": [[1, 2]]}, "times must be a non-empty 1-D"),
    ({"accuracy": 0.0}, "accuracy must lie in"),
    ({"accuracy": 0.5}, "accuracy must lie in"),
    ({"learning_rate": -1.0}, "learning_rate"),
    ({"batch": 0}, "batch"),
    ({"noise_variance": -1.0}, "noise_variance"),
])
def test_bad_input_names_the_argument(kwargs, match):
    args = {"eigenvalues": [1.0, 0.5], "learning_rate": 0.1, "times": [0, 10], **kwargs}
    with pytest.raises(ValueError, match=match):
        risk_curve(derive(), **args)


def test_bad_schedule_value_names_the_step():
    rec = derive(GeneralizedMomentum())
    with pytest.raises(ValueError, match=r"delta must .* at step k = 5"):
        risk_curve(rec, [1.0, 0.5], 0.1, [0, 10], gamma1=1.0, gamma3=0.1,
                   delta=lambda k: -1.0 if k == 5 else 0.1)
    with pytest.raises(ValueError, match=r"gamma3\(0\) must return"):
        risk_curve(rec, [1.0, 0.5], 0.1, [0, 10], gamma1=1.0, gamma3=lambda k: "x", delta=0.1)


def test_defective_blocks_are_iterated_exactly():
    """A Jordan block has no eigenvector basis: its direction is iterated exactly, the rest by modes."""
    from theory.linear import BlockRankOne
    from theory.renewal import _solve
    rng = np.random.default_rng(0)
    d = 40
    A = np.zeros((d, 3, 3))
    A[:, 0, 0], A[:, 1, 1], A[:, 2, 2] = rng.uniform(0.5, 0.99, (3, d))
    A[0] = [[0.9, 1.0, 0.0], [0.0, 0.9, 1.0], [0.0, 0.0, 0.9]]        # defective
    m = BlockRankOne(A=A, u=rng.uniform(0, 1e-3, (d, 3)), v=rng.uniform(0, 1, (d, 3)),
                     f=rng.uniform(0, 1e-3, (d, 3)), w=rng.uniform(0, 1, (d, 3)), offset=0.1)
    s0 = rng.uniform(0, 1, (d, 3))
    comp, _, _ = _reduce(m, s0, 1e-9)
    assert comp.exact is not None and list(comp.exact[0]) == [0]
    risk, _ = _solve(comp, 2000, 0.1, block=64)
    exact = m.observable(m.iterate(s0, 2000))
    assert np.max(np.abs(risk / exact - 1)) < 1e-9


def test_polyak_ruppert_averaging_schedule():
    """a_k = 1/(k + 2) makes blocks nearly defective when a_k meets gamma lambda_i (handled exactly)."""
    from theory import IterateAveraging, polyak_ruppert
    rec = derive(IterateAveraging())
    lam = np.arange(1, 101) ** -1.5
    n = 3000
    times = _grid(n, 30)
    exact = rec.trajectory(lam, 0.5, steps=n, noise_variance=0.1, averaging=polyak_ruppert).risk[times]
    curve = risk_curve(rec, lam, 0.5, times, noise_variance=0.1, accuracy=1e-4, averaging=polyak_ruppert)
    assert np.max(np.abs(curve.risk / exact - 1)) < 1e-4


@pytest.mark.slow
def test_benchmark_runs_at_small_sizes():
    """benchmarks/longtime.py: every row is produced, and the solver beats the log-time ODE's accuracy."""
    from benchmark_loader import load_benchmark
    bench = load_benchmark("longtime", "longtime_bench")
    ref = bench.reference_rows(d=20, n=300)
    text = bench.markdown(ref, bench.target_rows(d=30, n=2000, prefix=500), bench.ode_first_hundred(d=20))
    assert text.count("| DANA-decaying |") == 3
    for row in ref:
        assert row["solver_hi_error"] < row["ode_error"]


def _jordan_map(d=40, seed=0):
    from theory.linear import BlockRankOne
    rng = np.random.default_rng(seed)
    A = np.zeros((d, 3, 3))
    A[:, 0, 0], A[:, 1, 1], A[:, 2, 2] = rng.uniform(0.5, 0.99, (3, d))
    A[0] = [[0.9, 1.0, 0.0], [0.0, 0.9, 1.0], [0.0, 0.0, 0.9]]        # defective
    A[1] = [[0.6, 0.2, 0.0], [0.0, 0.6, 0.2], [0.0, 0.0, 0.6]]        # defective
    m = BlockRankOne(A=A, u=rng.uniform(0, 1e-3, (d, 3)), v=rng.uniform(0, 1, (d, 3)),
                     f=rng.uniform(0, 1e-3, (d, 3)), w=rng.uniform(0, 1, (d, 3)), offset=0.1)
    return m, rng.uniform(0, 1, (d, 3))


@pytest.mark.parametrize("budget", [None, 24 * 6 * 20, 1])
def test_exact_directions_bounded_memory(monkeypatch, budget):
    """The exactly iterated directions keep 3 block n p floats of tables, within EXACT_TABLE_BYTES (the
    block shortens to fit, down to MIN_EXACT_BLOCK) and the risk and the final state do not depend on
    the block: plain dense iteration to 1e-12 at every step."""
    from theory import renewal
    if budget is not None:
        monkeypatch.setattr(renewal, "EXACT_TABLE_BYTES", budget)
    m, s0 = _jordan_map()
    comp, mu, aux = _reduce(m, s0, 1e-9)
    assert list(comp.exact[0]) == [0, 1]
    n = 2001
    risk, groups = renewal._solve(comp, n, 0.1, block=64, state=True)
    exact = m.iterate(s0, n)
    assert np.max(np.abs(risk / m.observable(exact) - 1)) < 1e-12
    g = next(g for g in groups if isinstance(g, renewal._ExactGroup))
    block = g.PV.shape[0]
    assert block == (64 if budget is None else max(renewal.MIN_EXACT_BLOCK, 20 if budget > 1 else 0))
    tables = g.PV.nbytes + g.PW.nbytes + g.G.nbytes
    assert tables <= max(renewal.EXACT_TABLE_BYTES, 3 * renewal.MIN_EXACT_BLOCK * 6 * 8)
    state = renewal._decompress(comp, groups, mu, aux, np.einsum("ipq,iq->ip", aux[1], s0).reshape(-1), n)
    assert np.max(np.abs(state / exact[-1] - 1)) < 1e-9


def test_repeated_mode_is_one_node():
    """A mode shared by many directions (Polyak--Ruppert's 1 - a_k) fills a bin with one value: it
    becomes one node carrying the summed weight (q coincident Chebyshev nodes would count it q times)."""
    rng = np.random.default_rng(1)
    mu = np.concatenate([np.full(50, 0.999), rng.uniform(0.2, 0.99, 200)]).astype(complex)
    W = rng.normal(size=(6, mu.size)) + 0j
    comp = _compress(mu, W, 8, 12)
    for k in (0, 1, 50, 2000):
        full = np.sum(W * mu ** k, axis=1).real
        small = np.sum(comp.W * comp.nu ** k, axis=1).real
        assert np.all(np.abs(full - small) <= comp.bound + 1e-12 * np.abs(W).sum(axis=1))


def test_cancellation_is_measured_over_the_steps():
    """Weights whose m = 0 sum vanishes but whose later sums do not (v.u = 0, v.A u != 0) are not
    cancellation; weights of two nearly equal modes with opposite signs are (ratio ~ x / |mu_1 - mu_2|)."""
    mu = np.array([[0.9, 0.5], [0.9, 0.9 - 1e-7]], dtype=complex)
    Wd = np.zeros((1, 2, 2), complex)
    Wd[0, 0] = [1.0, -1.0]           # sum 0 at m = 0, ~0.6 at m ~ 2
    Wd[0, 1] = [1.0, -1.0]           # 1e-7 m 0.9^m: peak ~ 4e-7 at m ~ 10
    ratio = _cancellation(mu, Wd)
    assert ratio[0] < 5
    assert 1e6 < ratio[1] < 1e8


@pytest.mark.parametrize(("alpha", "accuracy"), [(0.6, 1e-3), (1.0, 1e-3), (1.0, 1e-4)])
def test_schedule_accuracy_on_other_spectra(alpha, accuracy):
    """The requested accuracy is met against dense float64 iteration on spectra j^(-2 alpha) other than
    the fixture's (DANA-decaying with gamma_3's exponent 1/(2 alpha), d = 120, n = 4000)."""
    rec = derive(GeneralizedMomentum())
    lam = np.arange(1, 121) ** (-2 * alpha)
    hyper = _dana_decaying(alpha=alpha)
    n = 4000
    times = _grid(n)
    exact = rec.trajectory(lam, 0.3, steps=n, noise_variance=0.01, **hyper).risk[times]
    curve = risk_curve(rec, lam, 0.3, times, noise_variance=0.01, accuracy=accuracy, **hyper)
    err = np.max(np.abs(curve.risk / exact - 1))
    assert err < accuracy
    assert err <= curve.estimated_error


@pytest.mark.parametrize(("alg", "hyper", "lr"), CASES[:2], ids=IDS[:2])
def test_blocks_without_requested_times_are_skipped_exactly(alg, hyper, lr, monkeypatch):
    """_solve(times=...) crosses blocks holding no requested time with the node-to-node block map:
    the risk at the requested times equals the full solve's and plain iteration's."""
    from theory import renewal
    rec = derive(alg)
    lam = np.arange(1, 101) ** -1.3
    m = rec.linear_map(lam, lr, 1, 0.1, **hyper)
    s0, _ = rec.initial_moments(1.0, 100)
    comp, _, _ = _reduce(m, s0, 1e-9)
    n = 40000
    times = np.array([0, 3, 64, 65, 700, 4000, 12345, n])
    full, _ = renewal._solve(comp, n, 0.1, block=64)
    skipped = []
    original = renewal._skip_block
    monkeypatch.setattr(renewal, "_skip_block", lambda *a: skipped.append(a[3]) or original(*a))
    fast, _ = renewal._solve(comp, n, 0.1, block=64, times=times)
    assert sum(skipped) > 500                     # most blocks crossed without the risk (in runs of blocks)
    assert np.max(np.abs(fast[times] / full[times] - 1)) < 1e-12
    assert np.isnan(fast[20000])                  # a skipped block: not computed
    exact = rec.trajectory(lam, lr, steps=n, noise_variance=0.1, **hyper).risk[times]
    assert np.max(np.abs(fast[times] / exact - 1)) < 1e-7


def test_window_ratio_follows_the_error_model():
    """epsilon = clip(25 accuracy^0.7, 0.005, 0.1) up to accuracy 1e-3; above, the largest epsilon whose
    modelled error 0.04 epsilon^1.5 is the accuracy, at most 0.25."""
    from theory.longtime import MAX_WINDOW_RATIO, WINDOW_ERROR_CONSTANT, window_ratio
    for acc in (1e-6, 1e-5, 1e-4, 1e-3):
        assert window_ratio(acc) == float(np.clip(25.0 * acc ** 0.7, 0.005, 0.1))
    assert window_ratio(1e-2) == MAX_WINDOW_RATIO == 0.25
    assert np.isclose(WINDOW_ERROR_CONSTANT * window_ratio(2e-3) ** 1.5, 2e-3)
