"""Orbits of the second-moment and mean recursions in blocks of steps (theory.linear.affine_orbit) and the
dense block step of BlockRankOne.iterate, against step-by-step iteration in float64 and in extended
precision (numpy.longdouble) written here."""
import numpy as np
import pytest

from theory import SGD, HeavyBall, Nesterov, derive
from theory.data import Gaussian, IndependentCoordinates, Rademacher
from theory.linear import ORBIT_LIMIT, BlockRankOne, affine_orbit


def structured_steps(m, s0, steps, dtype=float):
    """s -> A s + u (v . s) + f, one step at a time (the former BlockRankOne.iterate), in ``dtype``."""
    A, u, v, f = (np.asarray(x, dtype) for x in (m.A, m.u, m.v, m.f))
    s = np.asarray(s0, dtype)
    out = [s]
    for _ in range(steps):
        s = np.einsum("ipq,iq->ip", A, s) + u * np.sum(v * s) + f
        out.append(s)
    return np.array(out)


CASES = [(SGD(), Gaussian(), {}), (SGD(), IndependentCoordinates(6.0), {}), (SGD(), Rademacher(), {}),
         (HeavyBall(), Gaussian(), {"momentum": 0.7}), (Nesterov(), IndependentCoordinates(4.0), {"momentum": 0.5}),
         (HeavyBall(), Rademacher(), {"momentum": -0.4})]


@pytest.mark.parametrize("alg,data,hyper", CASES)
@pytest.mark.parametrize("d", [1, 5, 40])
def test_iterate_equals_the_structured_step_in_extended_precision(alg, data, hyper, d):
    rng = np.random.default_rng(d)
    lam = np.sort(rng.uniform(1e-3, 1.0, d))[::-1]
    rec = derive(alg, data)
    m = rec.linear_map(lam, 0.4 * rec.critical_learning_rate(lam, batch=2, **hyper), 2, 0.05, **hyper)
    s0, _ = rec.initial_moments(rng.uniform(-1, 1, d), d)
    steps = 1500
    got = m.iterate(s0, steps)
    ref = structured_steps(m, s0, steps, np.longdouble).astype(float)
    old = structured_steps(m, s0, steps)
    # E e^2 elementwise (positive); the other moments relative to their largest value
    err = np.max(np.abs(got[..., 0] - ref[..., 0]) / ref[..., 0])
    assert err <= max(1e-12, 4 * np.max(np.abs(old[..., 0] - ref[..., 0]) / ref[..., 0]))
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-13 * np.max(np.abs(ref)))


def test_iterate_of_large_maps_steps_one_by_one():
    d = ORBIT_LIMIT + 1
    rng = np.random.default_rng(0)
    m = derive().linear_map(rng.uniform(0.01, 1, d), 0.01)
    s0 = rng.uniform(0, 1, (d, 1))
    np.testing.assert_allclose(m.iterate(s0, 50), structured_steps(m, s0, 50), rtol=1e-13)


def test_affine_orbit_against_extended_precision_and_a_planted_error():
    rng = np.random.default_rng(3)
    n = 12
    L = rng.uniform(0, 1, (n, n))
    L *= 0.97 / np.max(np.abs(np.linalg.eigvals(L)))
    f, x0 = rng.uniform(0, 1, n), rng.uniform(0, 1, n)
    for steps in (1, 7, 31, 32, 33, 500):
        got = affine_orbit(L, f, x0, steps)
        x, ref = x0.astype(np.longdouble), [x0]
        for _ in range(steps):
            x = L.astype(np.longdouble) @ x + f
            ref.append(x)
        ref = np.array(ref, dtype=float)
        assert got.shape == (steps + 1, n)
        np.testing.assert_allclose(got, ref, rtol=1e-13)
        assert np.array_equal(affine_orbit(L, f, x0, steps, block=1)[0], x0)
    planted = affine_orbit(L, f * (1 + 1e-6), x0, 40)
    assert np.max(np.abs(planted / ref[:41] - 1)) > 1e-8


@pytest.mark.parametrize("alg,hyper", [(HeavyBall(), {"momentum": 0.7}), (Nesterov(), {"momentum": 0.5}),
                                       (HeavyBall(), {"momentum": -0.4}), (SGD(), {})])
def test_mean_trajectory_against_extended_precision(alg, hyper):
    rng = np.random.default_rng(11)
    d = 9
    lam = np.sort(rng.uniform(0.01, 1, d))[::-1]
    rec = derive(alg, Gaussian())
    g = 0.4 * rec.critical_learning_rate(lam, batch=2, **hyper)
    _, mu0 = rec.initial_moments(rng.uniform(-1, 1, d), d)
    M, b = rec._mean_step(rec._arg_values(lam, g, 2, 0.05, dict(hyper)), d, mu0.shape[1])
    mu, ref = mu0.astype(np.longdouble), [mu0[:, 0]]
    for _ in range(800):
        mu = np.einsum("ipq,iq->ip", M.astype(np.longdouble), mu) + b
        ref.append(mu[:, 0])
    ref = np.array(ref, dtype=float)
    got = rec.trajectory(lam, g, batch=2, noise_variance=0.05, initial=mu0[:, 0], steps=800, **hyper).mean
    # the mean oscillates through 0: errors relative to each direction's largest |E e_k|
    assert np.max(np.abs(got - ref) / np.max(np.abs(ref), axis=0)) < 1e-13


def test_block_rank_one_orbit_keeps_the_rank_one_coupling():
    """p > 1: blockdiag(A) dense, the coupling u (v . s) kept as a rank-one product."""
    A = np.array([[[0.5, 0.1, 0.0], [0.2, 0.3, 0.1], [0.0, 0.4, 0.2]]] * 2)
    m = BlockRankOne(A, np.full((2, 3), 0.01), np.full((2, 3), 0.5), np.full((2, 3), 0.1), np.ones((2, 3)))
    s0 = np.ones((2, 3))
    np.testing.assert_allclose(m.iterate(s0, 20), structured_steps(m, s0, 20), rtol=1e-14)
