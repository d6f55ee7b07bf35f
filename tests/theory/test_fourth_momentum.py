"""The even-sector (fourth-moment) recursion of heavy ball and Nesterov against independent oracles.

1. exact rational enumeration of the support of discrete data (Rademacher, the three-point
   law) in fractions.Fraction: equality, no tolerance (verify.exact.one_step_even_moments_momentum);
2. beta = 0: heavy ball's e-part is SGD's recursion (numbers of theory.fourth's SGD path);
3. the critical learning rate against eigenvalues of the dense operator per direction;
4. a calibrated Monte Carlo test of Var e_k^2, Var R_k and the variances of block-averaged risks
   and e_k^2 (verify.simulate, per-chunk sample variances, verify.stats.scalar_comparison,
   Bonferroni at 1e-6), with planted 3% coefficient errors (diagonal and pair) that must be caught;
5. the laws of verify.stats use them, keyed on the momentum.
"""
from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_limits

from theory import (
    SGD,
    Gaussian,
    HeavyBall,
    IndependentCoordinates,
    Nesterov,
    Rademacher,
    derive,
    derive_fourth,
)
from theory import symbols as sym
from theory.fourth.derivation import kappa_j, lam_j, mu6_j, mu8_j
from theory.fourth.momentum import DIAGONAL_KEYS, PAIR_KEYS
from verify.exact import (
    gaussian_moment_law,
    law_moment,
    one_step_even_moments_momentum,
    rademacher_law,
    sparse_law,
)


def _q(f):
    return sp.Rational(f.numerator, f.denominator)


def derived_step(rec, lam, kappa, mu6, mu8, batch, sigma2, gamma, beta, e, f):
    """(P'_ij[a, b] for i != j, D'_i[k]) of the derived map at the point mass (e, e_prev), in SymPy rationals."""
    lam, kappa, mu6, mu8 = ([_q(x) for x in v] for v in (lam, kappa, mu6, mu8))
    e, f = [_q(x) for x in e], [_q(x) for x in f]
    c, w = rec.gradient_point
    sub_h = {sym.beta: _q(beta)}
    c, w = [sp.sympify(x).xreplace(sub_h) for x in c], [sp.sympify(x).xreplace(sub_h) for x in w]
    d = len(e)
    q = [[e[i] ** (2 - a) * f[i] ** a for a in range(3)] for i in range(d)]
    dm = [[e[i] ** (4 - k) * f[i] ** k for k in range(5)] for i in range(d)]
    p2 = [sum(c[k] * q[i][k] for k in range(3)) for i in range(d)]
    S = sum(lam[i] * p2[i] for i in range(d))
    V = sum((kappa[i] - 3) * lam[i] ** 2 * sum(w[k] * dm[i][k] for k in range(5)) for i in range(d))
    common = {sym.B: batch, sym.sigma2: _q(sigma2), sym.gamma: _q(gamma), **sub_h}
    pair, diag = {}, {}
    for i in range(d):
        sub = {**common, sym.lam: lam[i], sym.kappa: kappa[i], sym.mu6: mu6[i], sym.mu8: mu8[i]}
        state = {("D", k): dm[i][k] for k in range(5)} | {("T", a): q[i][a] * S for a in range(3)}
        state |= {("m", a): q[i][a] for a in range(3)} | {("U",): S**2, ("V",): V, ("S",): S, ("1",): 1}
        for k in range(5):
            diag[i, k] = sp.expand(sum(rec.diagonal[k].get(key, sp.Integer(0)).xreplace(sub) * state[key]
                                       for key in DIAGONAL_KEYS))
        for j in range(d):
            if i == j:
                continue
            sub2 = {**sub, lam_j: lam[j], kappa_j: kappa[j], mu6_j: mu6[j], mu8_j: mu8[j]}
            state = {("P", a, b): q[i][a] * q[j][b] for a in range(3) for b in range(3)}
            state |= {("Di", k): dm[i][k] for k in range(5)} | {("Dj", k): dm[j][k] for k in range(5)}
            state |= {("Ti", a): q[i][a] * S for a in range(3)} | {("Tj", a): q[j][a] * S for a in range(3)}
            state |= {("mi", a): q[i][a] for a in range(3)} | {("mj", a): q[j][a] for a in range(3)}
            state |= {("U",): S**2, ("V",): V, ("S",): S, ("1",): 1}
            for a in range(3):
                for b in range(3):
                    pair[i, j, a, b] = sp.expand(sum(rec.pair[(a, b)].get(key, sp.Integer(0)).xreplace(sub2) * state[key]
                                                     for key in PAIR_KEYS))
    return pair, diag


def _exact_check(setup, algorithm, perturb_mu6=Fraction(0)):
    kind, batch, e, f, c, gamma, beta, sigma, p = setup
    if kind == "rademacher":
        laws, model = [rademacher_law()] * len(e), Rademacher()
    else:   # z in {0, +-1}, P(z != 0) = p: the symmetric three-point law with kappa = 1/p
        laws, model = [sparse_law(pi, rademacher_law()) for pi in p], IndependentCoordinates([float(1 / pi) for pi in p])
    noise = [(sigma * v, q) for v, q in gaussian_moment_law()] if sigma else None
    pair, diag = one_step_even_moments_momentum(e, f, c, laws, gamma, beta, batch, noise,
                                                nesterov=isinstance(algorithm, Nesterov))
    m2 = [law_moment(law, 2) for law in laws]
    lam = [ci**2 * v for ci, v in zip(c, m2)]
    kappa, mu6, mu8 = ([law_moment(law, n) / v ** (n // 2) for law, v in zip(laws, m2)] for n in (4, 6, 8))
    rec = derive_fourth(algorithm, model)
    got_pair, got_diag = derived_step(rec, lam, kappa, [m + perturb_mu6 for m in mu6], mu8, batch, sigma**2,
                                      gamma, beta, e, f)
    d = len(e)
    ok = all(got_diag[i, k] == _q(diag[i][k]) for i in range(d) for k in range(5))
    return ok and all(got_pair[i, j, a, b] == _q(pair[i][j][a][b])
                      for (i, j, a, b) in got_pair)


rationals = st.fractions(min_value=-2, max_value=2, max_denominator=4)
positive = st.fractions(min_value=Fraction(1, 4), max_value=2, max_denominator=4)


@st.composite
def discrete_setups(draw, kind):
    batch = draw(st.integers(1, 2))
    d = draw(st.integers(1, 3 if batch == 1 else 2))
    e = draw(st.lists(rationals, min_size=d, max_size=d))
    f = draw(st.lists(rationals, min_size=d, max_size=d))
    c = draw(st.lists(positive, min_size=d, max_size=d))
    gamma = draw(st.fractions(min_value=Fraction(1, 7), max_value=1, max_denominator=7).filter(lambda g: g > 0))
    beta = draw(st.sampled_from([Fraction(-1, 3), Fraction(0), Fraction(1, 2), Fraction(4, 5)]))
    sigma = draw(st.sampled_from([Fraction(0), Fraction(1, 2)]))
    p = (draw(st.lists(st.sampled_from([Fraction(1, 3), Fraction(1, 2), Fraction(1)]), min_size=d, max_size=d))
         if kind == "three_point" else [Fraction(1)] * d)
    return kind, batch, e, f, c, gamma, beta, sigma, p


@pytest.mark.parametrize("algorithm", [HeavyBall(), Nesterov()], ids=["heavy_ball", "nesterov"])
@pytest.mark.parametrize("kind", ["rademacher", "three_point"])
def test_enumeration_equals_derived_even_sector_exactly(kind, algorithm):
    @settings(max_examples=8, deadline=None)
    @given(discrete_setups(kind))
    def inner(setup):
        assert _exact_check(setup, algorithm)
    inner()


def test_planted_sixth_moment_error_is_caught_exactly():
    setup = ("three_point", 2, [Fraction(1), Fraction(-1, 2)], [Fraction(1, 2), Fraction(1)],
             [Fraction(1), Fraction(3, 2)], Fraction(1, 5), Fraction(1, 2), Fraction(1, 2),
             [Fraction(1, 3), Fraction(1, 2)])
    assert _exact_check(setup, HeavyBall())
    assert not _exact_check(setup, HeavyBall(), perturb_mu6=Fraction(1, 1000))


# ---------------------------------------------------------------------------- beta = 0 is SGD
def test_zero_momentum_reproduces_sgd():
    lam, e0 = [1.0, 0.5, 0.3], [1.0, -0.5, 0.7]
    for data in (Gaussian(), IndependentCoordinates([1.0, 2.0, 6.0])):
        hb, sgd = derive_fourth(HeavyBall(), data), derive_fourth(SGD(), data)
        kw = dict(batch=2, noise_variance=0.3, initial=e0)
        a = hb.trajectory(lam, 0.1, steps=20, momentum=0.0, **kw)
        b = sgd.trajectory(lam, 0.1, steps=20, **kw)
        for name in ("risk", "risk_variance", "second_moment_variance", "fourth_moments"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=0)
        a = hb.time_average_covariance(lam, 0.1, [1, 2, 4, 8, 16], momentum=0.0, **kw)
        b = sgd.time_average_covariance(lam, 0.1, [1, 2, 4, 8, 16], **kw)
        for name in ("risk_mean", "risk_covariance", "second_moment_variance"):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, atol=0)
        assert hb.critical_learning_rate(lam, batch=2, momentum=0.0) == pytest.approx(
            sgd.critical_learning_rate(lam, batch=2), rel=1e-10)


def test_unit_blocks_are_the_trajectory():
    lam, beta = [1.0, 0.4], 0.6
    rec = derive_fourth(HeavyBall(), IndependentCoordinates([2.0, 5.0]))
    kw = dict(batch=1, noise_variance=0.2, initial=[1.0, -2.0], momentum=beta)
    tr = rec.trajectory(lam, 0.05, steps=6, **kw)
    tac = rec.time_average_covariance(lam, 0.05, list(range(7)), **kw)
    np.testing.assert_allclose(np.diag(tac.risk_covariance), tr.risk_variance[:6], rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(tac.second_moment_variance, tr.second_moment_variance[:6], rtol=1e-10, atol=1e-15)
    np.testing.assert_allclose(tac.risk_mean, tr.risk[:6], rtol=1e-12)
    # second moments agree with theory.derive's 3-state recursion
    ref = derive(HeavyBall(), IndependentCoordinates([2.0, 5.0])).trajectory(lam, 0.05, steps=6, **kw)
    np.testing.assert_allclose(tr.risk, ref.risk, rtol=1e-12)


# ---------------------------------------------------------------------------- critical learning rate
@pytest.mark.parametrize("lam, batch, data, beta", [
    ([1.0, 0.3], 1, Gaussian(), 0.5),
    ([1.0, 0.5, 0.2], 2, IndependentCoordinates([1.0, 2.0, 6.0]), -0.3),
    ([1.0, 1.0, 0.25], 1, Gaussian(), 0.8),
    ([0.7], 2, Rademacher(), 0.3),
    ([1.0, 1.0, 1.0, 0.5], 1, IndependentCoordinates([2.0, 2.0, 2.0, 6.0]), 0.5),   # a class of 3
    (list(1.0 / np.arange(1, 11)), 2, Gaussian(), 0.5),   # 455 coordinates: the det(I - L_0) det(I - M) route
])
def test_critical_learning_rate_matches_dense_spectral_radius(lam, batch, data, beta):
    rec = derive_fourth(HeavyBall(), data)
    g4 = rec.critical_learning_rate(lam, batch=batch, momentum=beta)

    def rho(g):   # the dense operator per direction (no class reduction)
        with threadpool_limits(limits=1, user_api="blas"):
            return np.max(np.abs(np.linalg.eigvals(rec.dense_operator(lam, g, batch, momentum=beta))))

    assert rho(0.999 * g4) < 1 < rho(1.001 * g4)
    assert rec.spectral_radius(lam, 0.5 * g4, batch, momentum=beta) == pytest.approx(rho(0.5 * g4), rel=1e-9)
    gc = derive(HeavyBall(), data).critical_learning_rate(lam, batch=batch, momentum=beta)
    assert g4 <= gc * (1 + 1e-9)


def test_secular_sign_is_the_sign_of_the_dense_determinant():
    rec = derive_fourth(HeavyBall(), IndependentCoordinates([2.0, 2.0, 2.0, 6.0, 1.0]))
    lam = np.array([1.0, 1.0, 1.0, 0.5, 0.3])
    g4 = rec.critical_learning_rate(lam, batch=2, momentum=0.5)
    for g in (0.3 * g4, 0.99 * g4, 1.01 * g4):
        mp = rec._class_map(lam, g, 2, {"momentum": 0.5})
        with threadpool_limits(limits=1, user_api="blas"):
            sign, _ = np.linalg.slogdet(np.eye(len(mp.coordinates())) - mp.dense())
        assert mp.secular()[0] == sign == (1.0 if g < g4 else -1.0)


@pytest.mark.parametrize("algorithm, data, lam, beta", [
    (HeavyBall(), IndependentCoordinates([2.0, 2.0, 2.0, 6.0, 1.0]), [1.0, 1.0, 1.0, 0.5, 0.3], 0.5),
    (Nesterov(), Gaussian(), [1.0, 0.7, 0.4, 0.2, 0.1, 0.05], -0.4),
    (HeavyBall(), Rademacher(), [1.0, 1.0, 0.5, 0.5, 0.5, 0.1], 0.8),
])
def test_secular_factor_is_the_dense_determinant_ratio(algorithm, data, lam, beta):
    """log|det(I - M)| = log|det(I - L)| - log|det(I - L_0)|, both from dense matrices (L_0: L without the
    coupling channels T, U, V), at learning rates inside, at and past gamma_c^(4)."""
    from theory.fourth.momentum_linear import TwoStepEvenMap
    rec = derive_fourth(algorithm, data)
    lam = np.array(lam)
    g4 = rec.critical_learning_rate(lam, batch=2, momentum=beta)
    for g in (0.2 * g4, 0.9 * g4, 1.2 * g4):
        mp = rec._class_map(lam, g, 2, {"momentum": beta})
        pair, diag = mp.pair.copy(), mp.diag.copy()
        pair[..., 19:27] = 0.0   # Ti, Tj, U, V
        diag[..., 5:10] = 0.0    # T, U, V
        L0 = TwoStepEvenMap(mp.lam, mp.counts, mp.excess / mp.lam**2 + 3.0, pair, diag, mp.c, mp.w).dense()
        eye = np.eye(len(L0))
        with threadpool_limits(limits=1, user_api="blas"):
            s_l, log_l = np.linalg.slogdet(eye - mp.dense())
            s_0, log_0 = np.linalg.slogdet(eye - L0)
        sign, logabs = mp.secular()
        assert sign == s_l
        assert logabs == pytest.approx(log_l - log_0, abs=1e-8 * max(1.0, abs(log_l)))


# ---------------------------------------------------------------------------- Monte Carlo
MC_ALPHA = 1e-6


def _mc_verdicts(chunks, traj, tac):
    """Per-chunk sample variances (unbiased, ddof = 1) against the exact ones; Bonferroni over all of them."""
    from verify.stats import scalar_comparison
    n = chunks[0].replicas
    var_e2 = np.array([c.second_moments_se**2 * n for c in chunks])          # (chunks, steps + 1, d)
    var_r = np.array([c.risk_se**2 * n for c in chunks])                     # (chunks, steps + 1)
    var_b = np.array([np.var(c.replica_block_risk, axis=0, ddof=1) for c in chunks])
    var_be2 = np.array([c.block_second_moments_se**2 * n for c in chunks])   # (chunks, blocks, d)
    pairs = []
    for k in range(1, var_r.shape[1]):
        pairs.append((traj.risk_variance[k], var_r[:, k]))
        pairs += [(traj.second_moment_variance[k, i], var_e2[:, k, i]) for i in range(var_e2.shape[2])]
    for b in range(var_b.shape[1]):
        pairs.append((tac.risk_covariance[b, b], var_b[:, b]))
        pairs += [(tac.second_moment_variance[b, i], var_be2[:, b, i]) for i in range(var_be2.shape[2])]
    alpha = MC_ALPHA / len(pairs)
    return [scalar_comparison(t, s, alpha=alpha) for t, s in pairs]


def test_monte_carlo_agrees_and_catches_a_planted_three_percent_error():
    from theory.fourth import TwoStepEvenMap
    from verify import simulate
    lam, batch, sigma2, beta = np.array([1.0, 0.5, 0.2]), 2, 0.25, 0.5
    e0 = np.array([1.0, -1.0, 1.5])
    rec = derive_fourth(HeavyBall(), Gaussian())
    gamma = 0.5 * rec.critical_learning_rate(lam, batch=batch, momentum=beta)
    steps = 6
    kw = dict(eigenvalues=lam, learning_rate=gamma, batch=batch, noise_variance=sigma2, initial=e0, steps=steps)
    chunks = simulate(HeavyBall(), data=Gaussian(), replicas=40 * 2048, chunk_size=2048, split=True,
                      seed=20261129, momentum=beta, workers=1, **kw)
    edges = np.array(chunks[0].block_edges)
    traj = rec.trajectory(momentum=beta, **kw)
    tac = rec.time_average_covariance(lam, gamma, edges, batch=batch, noise_variance=sigma2, initial=e0,
                                      momentum=beta)
    verdicts = _mc_verdicts(chunks, traj, tac)
    assert len(verdicts) == 6 * 4 + 3 * 4
    bad = [v for v in verdicts if not v.passed]
    assert not bad, bad[0]
    # power: a 3% error in the coefficient of E e_k^4 in E e_{k+1}^4, or of E e_i^2 e_j^2 in E e_{k+1,i}^2 e_{k+1,j}^2
    e = e0.astype(float)
    mp = rec.linear_map(lam, gamma, batch, sigma2, momentum=beta)
    for where in ("diagonal", "pair"):
        diag, pair = mp.diag.copy(), mp.pair.copy()
        if where == "diagonal":
            diag[:, 0, 0] *= 1.03
        else:
            pair[:, :, 0, 0, 0] *= 1.03
        planted = TwoStepEvenMap(mp.lam, mp.counts, np.full(3, 3.0), pair, diag, mp.c, mp.w, mp.second)
        verdicts = _mc_verdicts(chunks, planted.trajectory(e, e, steps), planted.time_average_covariance(e, e, edges))
        assert any(not v.passed for v in verdicts), where


def test_exact_laws_for_heavy_ball_key_on_the_momentum():
    from verify.stats.laws import exact_laws, fourth_moment_critical_learning_rate
    lam, edges = np.array([1.0, 0.5, 0.25]), [1, 2, 4, 8, 11]
    rec = derive(HeavyBall(), Gaussian())
    four = derive_fourth(HeavyBall(), Gaussian())
    got = {}
    for beta in (0.5, -0.3):
        pred = rec.trajectory(lam, 0.05, batch=2, noise_variance=0.1, initial=1.0, steps=10, momentum=beta)
        laws = exact_laws(pred, edges)
        tac = four.time_average_covariance(lam, 0.05, edges, batch=2, noise_variance=0.1, momentum=beta)
        np.testing.assert_allclose(laws.block_risk_variance, np.diag(tac.risk_covariance), rtol=1e-12)
        got[beta] = laws.fourth_moment_critical_learning_rate
        assert got[beta] == fourth_moment_critical_learning_rate(rec, lam, 2, momentum=beta)
        assert got[beta] == pytest.approx(four.critical_learning_rate(lam, batch=2, momentum=beta), rel=1e-12)
    assert got[0.5] != got[-0.3]
    assert fourth_moment_critical_learning_rate(rec, lam, 2) is None   # momentum missing: not derivable


@pytest.mark.parametrize("call, match", [
    (lambda r: r.trajectory([1.0], 0.1, steps=2), r"missing hyperparameter\(s\) \['momentum'\]"),
    (lambda r: r.trajectory([1.0], 0.1, steps=2, momentum=1.0), r"momentum must lie in the open interval"),
    (lambda r: r.trajectory([1.0], 0.1, steps=2, momentum=0.5, delta=0.1), r"unknown hyperparameter"),
    (lambda r: r.trajectory([1.0], 0.1, steps=2, momentum=lambda k: 0.5), r"must be numbers"),
    (lambda r: r.critical_learning_rate([1.0, -1.0], momentum=0.5), r"eigenvalues.*> 0"),
    (lambda r: r.time_average_covariance([1.0], 0.1, edges=[3, 2], momentum=0.5), r"strictly increasing"),
    (lambda r: r.dense_operator(np.ones(17), 0.01, momentum=0.5), r"at most 16 entries"),
])
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call(derive_fourth(HeavyBall()))


def test_update_and_latex():
    rec = derive_fourth(HeavyBall(), Gaussian())
    eqs = rec.update
    assert len(eqs) == 9 + 5 and str(eqs[-1].rhs) == "D_i^(0)"   # e_prev' = e: E e_prev'^4 = E e^4
    tex = rec.latex()
    assert tex.startswith("\\begin{align*}") and tex.endswith("\\end{align*}")
    assert "P_{k+1,ij}^{(00)}" in tex and "D_{k+1,i}^{(4)} &= D_{k,i}^{(0)}" in tex
    assert "V_k" not in tex.split("P_{k+1,ij}^{(00)}")[1]   # no excess-kurtosis coupling for Gaussian data
    assert "V_k" in derive_fourth(HeavyBall(), IndependentCoordinates(2.0)).latex()


# ---------------------------------------------------------------------------- merged classes
def _per_direction_time_average_covariance(mp, e0, f0, edges):
    """Oracle: the per-direction computation (d x d pair blocks, no classes), as before the merge.

    ``mp`` is the per-direction map of ``linear_map`` (all counts 1, the full second-moment map)."""
    from theory.fourth.recursion import TimeAverageCovariance
    lam, s = mp.lam, mp.second
    d, sigma2, nb = len(lam), float(s.offset), len(edges) - 1

    def second_linear(x):
        coupling = np.einsum("ip,ip...->...", s.v, x)
        return np.einsum("ipq,iq...->ip...", s.A, x) + s.u.reshape(s.u.shape + (1,) * (x.ndim - 2)) * coupling

    block_of, sizes = TimeAverageCovariance.block_index(edges)
    psi, A, diag_sum = np.zeros((d, 3, nb)), np.zeros((nb, nb)), np.zeros(nb)
    Psi, coord_var = np.zeros((d, 3, d)), np.zeros((nb, d))
    risk_mean, m2_mean = np.zeros(nb), np.zeros((nb, d))
    P, D, m = mp.initial(e0, f0)
    idx = np.arange(d)
    for k in range(edges[-1]):
        b = block_of[k]
        if b >= 0:
            Pf = P.copy()
            Pf[idx, idx] = D[:, [[0, 1, 2], [1, 2, 3], [2, 3, 4]]]
            Sigma = np.transpose(Pf[:, :, :, 0] - m[:, None, :] * m[None, :, 0, None], (0, 2, 1))   # (j, a, i)
            Y = Sigma @ lam
            A[:, b] += lam @ psi[:, 0, :]
            diag_sum[b] += lam @ Y[:, 0]
            if k == edges[b]:
                Psi[:] = 0.0
            coord_var[b] += 2.0 * Psi[idx, 0, idx] + Sigma[idx, 0, idx]
            risk_mean[b] += 0.5 * (lam @ m[:, 0] + sigma2)
            m2_mean[b] += m[:, 0]
            psi[:, :, b] += Y
            Psi = second_linear(Psi + Sigma)
        psi = second_linear(psi)
        if k + 1 < edges[-1]:   # the unfused step (linear part + forcing), not the fused TwoStepEvenMap.apply
            P, D = [x + y for x, y in zip(mp.linear(P, D), mp.forcing(m))]
            m = s.apply(m)
    return TimeAverageCovariance.from_sums(edges, sizes, A, diag_sum, risk_mean, m2_mean, coord_var)


MERGED_CASES = [   # (algorithm, data, eigenvalues, initial): 2-3 classes of directions
    (HeavyBall(), Gaussian(), [1.0, 1.0, 1.0, 0.5, 0.5], [1.0, -1.0, 1.0, 0.5, -0.5]),
    (Nesterov(), IndependentCoordinates([1.0, 6.0, 1.0, 6.0, 6.0, 2.0]), [1.0, 1.0, 1.0, 1.0, 1.0, 0.3], 1.0),
    (HeavyBall(), IndependentCoordinates([2.0, 2.0, 2.0, 2.0]), [0.8, 0.8, 0.8, 0.8], [1.0, 1.0, 0.5, -1.0]),
    (Nesterov(), Gaussian(), [1.0, 0.5, 0.5, 0.5], [0.7, 0.2, 0.2, 0.2]),
]


@pytest.mark.parametrize("algorithm, data, lam, e0", MERGED_CASES)
def test_merged_classes_equal_the_per_direction_time_average_covariance(algorithm, data, lam, e0):
    rec = derive_fourth(algorithm, data)
    lam = np.asarray(lam)
    beta, batch, sigma2 = 0.5, 2, 0.2
    gamma = 0.6 * rec.critical_learning_rate(lam, batch=batch, momentum=beta)
    edges = np.array([0, 1, 3, 8, 20, 40])
    got = rec.time_average_covariance(lam, gamma, edges, batch=batch, noise_variance=sigma2, initial=e0,
                                      momentum=beta)
    mp = rec.linear_map(lam, gamma, batch, sigma2, momentum=beta)
    e = np.broadcast_to(np.asarray(e0, float), lam.shape).copy()
    ref = _per_direction_time_average_covariance(mp, e, e, edges)
    for name in ("risk_mean", "risk_covariance", "second_moment_mean", "second_moment_variance"):
        a, b = np.asarray(getattr(got, name)), np.asarray(getattr(ref, name))
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12 * np.max(np.abs(b)), err_msg=name)
    # the class path is the per-direction one when every direction is its own class
    mp_all = rec.linear_map(lam, gamma, batch, sigma2, momentum=beta)
    own = mp_all.time_average_covariance(e, e, edges)
    np.testing.assert_allclose(own.risk_covariance, ref.risk_covariance, rtol=1e-12,
                               atol=1e-12 * np.max(np.abs(ref.risk_covariance)))


@pytest.mark.parametrize("algorithm, data, lam, e0", MERGED_CASES)
def test_fused_step_is_the_linear_part_plus_the_forcing(algorithm, data, lam, e0):
    """TwoStepEvenMap.apply (one fused pass) against linear + forcing on a random class state."""
    rec = derive_fourth(algorithm, data)
    lam = np.asarray(lam)
    rng = np.random.default_rng(5)
    for beta in (0.4, -0.3):
        merged = rec._class_map(lam, 0.1, 2, {"momentum": beta})      # classes with counts >= 1
        for mp in (rec.linear_map(lam, 0.1, 2, 0.3, momentum=beta), merged):
            C = mp.classes
            P, D, m = rng.normal(size=(C, C, 3, 3)), rng.normal(size=(C, 5)), rng.normal(size=(C, 3))
            got = mp.apply(P, D, m)
            ref = [x + y for x, y in zip(mp.linear(P, D), mp.forcing(m))]
            for a, b in zip(got, ref):
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-13 * np.max(np.abs(b)))
    planted = rec.linear_map(lam, 0.1, 2, 0.3, momentum=0.41)
    mp = rec.linear_map(lam, 0.1, 2, 0.3, momentum=0.4)
    C = mp.classes
    P, D, m = rng.normal(size=(C, C, 3, 3)), rng.normal(size=(C, 5)), rng.normal(size=(C, 3))
    ref = mp.apply(P, D, m)[0]
    assert np.max(np.abs(planted.apply(P, D, m)[0] - ref)) > 1e-6 * np.max(np.abs(ref))


def test_time_average_covariance_does_not_depend_on_the_chunk(monkeypatch):
    """The per-step records are formed in chunks; one step per chunk gives the same numbers (up to the
    order of floating-point sums)."""
    import theory.fourth.momentum_linear as ml
    rec = derive_fourth(Nesterov(), IndependentCoordinates(4.0))
    lam, edges = np.array([1.0, 1.0, 0.4, 0.2]), np.array([2, 3, 7, 15, 40])
    kw = {"batch": 2, "noise_variance": 0.2, "initial": [1.0, 1.0, -0.5, 0.3], "momentum": 0.5}
    whole = rec.time_average_covariance(lam, 0.1, edges, **kw)
    monkeypatch.setattr(ml, "CHUNK_ENTRIES", 1)
    steps = rec.time_average_covariance(lam, 0.1, edges, **kw)
    for name in ("risk_mean", "risk_covariance", "second_moment_mean", "second_moment_variance"):
        a, b = getattr(whole, name), getattr(steps, name)
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14 * np.max(np.abs(b)), err_msg=name)


@pytest.mark.parametrize("algorithm, data, lam, e0", MERGED_CASES[:2])
def test_merged_classes_match_the_dense_operator(algorithm, data, lam, e0):
    """Unit blocks without noise: Var R_k from powers of the dense per-direction operator."""
    rec = derive_fourth(algorithm, data)
    lam, beta, batch = np.asarray(lam), 0.3, 1
    gamma = 0.5 * rec.critical_learning_rate(lam, batch=batch, momentum=beta)
    steps = 8
    tac = rec.time_average_covariance(lam, gamma, np.arange(steps + 1), batch=batch, initial=e0, momentum=beta)
    mp = rec.linear_map(lam, gamma, batch, 0.0, momentum=beta)
    L = rec.dense_operator(lam, gamma, batch, momentum=beta)
    coords = mp.coordinates()
    e = np.broadcast_to(np.asarray(e0, float), lam.shape)
    f = np.asarray(algorithm.initial_state(e)[1], float)
    q = np.stack([e**2, e * f, f**2], axis=1)
    x = np.array([e[c[1]] ** (4 - c[2]) * f[c[1]] ** c[2] if c[0] == "D" else q[c[1], c[3]] * q[c[2], c[4]]
                  for c in coords])
    m = derive(algorithm, data).trajectory(lam, gamma, batch=batch, initial=e0, steps=steps, momentum=beta)
    for k in range(steps):
        E4 = np.zeros((len(lam), len(lam)))   # E e_i^2 e_j^2
        for r, c in enumerate(coords):
            if c[0] == "D" and c[2] == 0:
                E4[c[1], c[1]] = x[r]
            elif c[0] == "P" and c[3] == c[4] == 0:
                E4[c[1], c[2]] = E4[c[2], c[1]] = x[r]
        var = 0.25 * (lam @ E4 @ lam - (2 * m.risk[k]) ** 2)
        assert tac.risk_covariance[k, k] == pytest.approx(var, rel=1e-10, abs=1e-14)
        x = L @ x


def test_merging_needs_equal_initial_moments():
    """Equal eigenvalues with different |e_0| are different classes; a planted merge of them is wrong."""
    rec = derive_fourth(HeavyBall(), Gaussian())
    lam, kw = np.array([1.0, 1.0, 0.5]), {"batch": 1, "noise_variance": 0.1, "momentum": 0.5}
    edges = [0, 2, 6, 12]
    right = rec.time_average_covariance(lam, 0.05, edges, initial=[1.0, 0.3, 1.0], **kw)
    merged = rec.time_average_covariance(lam, 0.05, edges, initial=[1.0, 1.0, 1.0], **kw)
    assert right.second_moment_variance[0, 0] != pytest.approx(right.second_moment_variance[0, 1], rel=1e-3)
    assert not np.allclose(right.risk_covariance, merged.risk_covariance, rtol=1e-3)


# ---------------------------------------------------------------------------- the ring derivation
def _expression_derivation(algorithm, rules):
    """Oracle: the pair and diagonal coefficients by sympy.expand of expression trees (the derivation
    before it moved into a polynomial ring), from the shared moment machinery of theory.fourth."""
    from theory.algorithms import GRADIENT
    from theory.fourth.derivation import (
        _E_I,
        _E_J,
        _G_I,
        _G_J,
        _S_COND,
        _W_COND,
        batch_gradient_moments,
    )
    from theory.fourth.momentum_derivation import _F_I, _F_J, _diag_key, _pair_key
    s0, s1 = algorithm.state
    sub_i, sub_j = {s0: _E_I, s1: _F_I}, {s0: _E_J, s1: _F_J}
    gp_i, gp_j = algorithm.gradient_point.xreplace(sub_i), algorithm.gradient_point.xreplace(sub_j)
    new_i = [sp.expand(u.xreplace({**sub_i, GRADIENT: _G_I})) for u in algorithm.update]
    new_j = [sp.expand(u.xreplace({**sub_j, GRADIENT: _G_J})) for u in algorithm.update]
    at = {_E_I: gp_i, _E_J: gp_j}
    pm = {k: sp.expand(v.xreplace(at)) for k, v in batch_gradient_moments(rules, pair=True).items()}
    dm = {k: sp.expand(v.xreplace(at)) for k, v in batch_gradient_moments(rules, pair=False).items()}

    def average(expr, gens, keyfn):
        out = {}
        for monom, coeff in sp.Poly(sp.expand(expr), *gens).terms():
            key = keyfn(monom if len(gens) == 6 else monom[:2] + (0, 0) + monom[2:])   # diagonal: no j
            out[key] = sp.expand(out.get(key, 0) + coeff)
        return out
    pair = {}
    for a in range(3):
        for b in range(3):
            prod = sp.Poly(sp.expand(new_i[0] ** (2 - a) * new_i[1] ** a * new_j[0] ** (2 - b) * new_j[1] ** b),
                           _G_I, _G_J)
            pair[(a, b)] = average(sum(c * pm[mon] for mon, c in prod.terms()),
                                   (_E_I, _F_I, _E_J, _F_J, _S_COND, _W_COND), _pair_key)
    diag = {}
    for k in range(5):
        prod = sp.Poly(sp.expand(new_i[0] ** (4 - k) * new_i[1] ** k), _G_I)
        diag[k] = average(sum(c * dm[(mon[0], 0)] for mon, c in prod.terms()), (_E_I, _F_I, _S_COND, _W_COND),
                          _diag_key)
    return pair, diag


def test_ring_derivation_gives_the_same_expressions():
    from theory.fourth.derivation import _RulesOnly
    from theory.fourth.momentum import derive_two_step
    data = IndependentCoordinates([1.0, 2.0])
    rules = _RulesOnly(tuple(data.even_moment(n) for n in (4, 6, 8)))
    pair, diag, c, _ = derive_two_step(HeavyBall(), rules)
    ref_pair, ref_diag = _expression_derivation(HeavyBall(), rules)
    assert pair.keys() == ref_pair.keys() and diag.keys() == ref_diag.keys()
    for got, ref in [(pair[k], ref_pair[k]) for k in pair] + [(diag[k], ref_diag[k]) for k in diag]:
        assert got.keys() == ref.keys()
        assert all(sp.srepr(got[key]) == sp.srepr(ref[key]) for key in ref)
    assert [sp.srepr(x) for x in c] == [sp.srepr(x) for x in (sp.Integer(1), sp.Integer(0), sp.Integer(0))]


# ---------------------------------------------------------------------------- gamma_c^(4): scan and refinement
@pytest.mark.parametrize("algorithm, data, lam, batch, beta", [
    (HeavyBall(), Rademacher(), [1.0, 1.0], 1, 0.3),          # repeated eigenvalues, B = 1: det(I - L) may keep its sign
    (Nesterov(), Rademacher(), [1.0, 1.0, 0.5], 1, 0.5),
    (Nesterov(), IndependentCoordinates([1.0, 6.0, 1.0]), [1.0, 0.5, 0.25], 2, -0.4),
])
def test_critical_learning_rate_is_the_first_crossing_of_the_dense_radius(algorithm, data, lam, batch, beta):
    rec = derive_fourth(algorithm, data)
    g4 = rec.critical_learning_rate(lam, batch=batch, momentum=beta)

    def rho(g):   # the dense operator per direction (no classes, no secular function)
        with threadpool_limits(limits=1, user_api="blas"):
            return np.max(np.abs(np.linalg.eigvals(rec.dense_operator(lam, g, batch, momentum=beta))))

    assert rho(g4 * (1 - 1e-6)) < 1 < rho(g4 * (1 + 1e-6))
    assert all(rho(f * g4) < 1 for f in (0.01, 0.1, 0.3, 0.6, 0.9, 0.99))   # no earlier crossing


def test_spectral_radius_by_arpack_equals_the_full_decomposition():
    from theory.fourth.critical import spectral_radius
    rng = np.random.default_rng(3)
    for n in (50, 420):
        A = rng.standard_normal((n, n)) / np.sqrt(n)
        A[0, 0] = 1.5   # one outlying eigenvalue
        with threadpool_limits(limits=1, user_api="blas"):
            assert spectral_radius(A) == pytest.approx(np.max(np.abs(np.linalg.eigvals(A))), rel=1e-10)


# ---------------------------------------------------------------------------- below gamma_c^(4) without locating it
@pytest.mark.parametrize("algorithm, data, lam, batch, beta", [
    (HeavyBall(), Rademacher(), [1.0, 1.0], 1, 0.3),                      # det(I - L) may keep its sign
    (Nesterov(), Rademacher(), [1.0, 1.0, 0.5], 1, 0.5),
    (Nesterov(), IndependentCoordinates([1.0, 6.0, 1.0]), [1.0, 0.5, 0.25], 2, -0.4),
    (HeavyBall(), Gaussian(), list(1.0 / np.arange(1, 11)), 2, 0.5),     # 455 coordinates: the sign scan
    (Nesterov(), Gaussian(), list(np.linspace(0.1, 1.0, 12)), 3, 0.7),
    (HeavyBall(), IndependentCoordinates(np.tile([1.0, 6.0], 8)), list(np.repeat([1.0, 0.2], 8)), 1, -0.3),
])
def test_below_critical_agrees_with_the_root(algorithm, data, lam, batch, beta):
    rec = derive_fourth(algorithm, data)
    g4 = rec.critical_learning_rate(lam, batch=batch, momentum=beta)
    for f in (0.05, 0.5, 0.9, 1 - 1e-6, 1 + 1e-6, 1.1, 2.0):
        assert rec.below_critical_learning_rate(lam, f * g4, batch=batch, momentum=beta) == (f < 1), f


@settings(max_examples=6, deadline=None)
@given(st.sampled_from([HeavyBall(), Nesterov()]), st.lists(st.floats(0.02, 1.0), min_size=1, max_size=6),
       st.integers(1, 4), st.floats(-0.6, 0.9), st.sampled_from([Gaussian(), Rademacher(), IndependentCoordinates(2.0)]))
def test_below_critical_agrees_with_the_root_on_drawn_problems(algorithm, lam, batch, beta, data):
    rec = derive_fourth(algorithm, data)
    g4 = rec.critical_learning_rate(lam, batch=batch, momentum=beta)
    for f in (0.3, 1 - 1e-6, 1 + 1e-6):
        assert rec.below_critical_learning_rate(lam, f * g4, batch=batch, momentum=beta) == (f < 1), f


def test_below_critical_rejects_bad_input():
    rec = derive_fourth(HeavyBall(), Gaussian())
    with pytest.raises(ValueError, match="learning_rate"):
        rec.below_critical_learning_rate([1.0], 0.0, momentum=0.5)
    with pytest.raises(ValueError, match="momentum"):
        rec.below_critical_learning_rate([1.0], 0.1, momentum=1.5)
    with pytest.raises(ValueError, match=r"missing hyperparameter"):
        rec.below_critical_learning_rate([1.0], 0.1)
