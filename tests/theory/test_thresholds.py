"""Thresholds on ill-conditioned spectra (issue 11 item 1): critical learning rates of every
algorithm, stationary risks and gamma_c^(4), against oracles written here (the SGD secular
equation by hand in mpmath, the dense linear map's spectral radius in mpmath)."""
import fractions

import mpmath
import numpy as np
import pytest
import sympy as sp
from hypothesis import example, given
from hypothesis import strategies as st
from scipy.optimize import brentq

from theory import SGD, Gaussian, IndependentCoordinates, derive, derive_fourth
from theory.algorithms import GeneralizedMomentum, HeavyBall, Nesterov


def hand_sgd_gamma_c(lam, kappa=3, batch=1, dps=50):
    """First root of sum_i g l_i / (2B - g l_i (B + k_i - 2)) = 1 (Bordelon & Pehlevan, Sec. 3), bisection."""
    with mpmath.workdps(dps):
        lam = [mpmath.mpf(x) for x in lam]
        kap = [mpmath.mpf(kappa)] * len(lam) if np.ndim(kappa) == 0 else [mpmath.mpf(k) for k in kappa]
        B = mpmath.mpf(batch)
        poles = [2 * B / (x * (B + k - 2)) for x, k in zip(lam, kap) if B + k - 2 > 0]
        hi = min(poles) if poles else mpmath.mpf(10) ** 30

        def f(g):
            return 1 - mpmath.fsum(g * x / (2 * B - g * x * (B + k - 2)) for x, k in zip(lam, kap))
        lo = mpmath.mpf(0)
        for _ in range(4 * dps):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if f(mid) > 0 else (lo, mid)
        return +lo


def hand_sgd_stationary_risk(lam, g, noise, kappa=3, batch=1):
    with mpmath.workdps(50):
        G = mpmath.fsum(mpmath.mpf(g) * x / (2 * batch - g * x * (batch + kappa - 2)) for x in map(mpmath.mpf, lam))
        return noise / (2 * (1 - G))


def mp_dense_rho(rec, lam, g, batch=1, dps=40, **hyper):
    """Spectral radius of the dense dp x dp map blockdiag(A_i) + u v^T, built and diagonalised in mpmath."""
    with mpmath.workdps(dps):
        subs_h = {"learning_rate": mpmath.mpf(g), **{k: mpmath.mpf(v) for k, v in hyper.items()}}
        kap = rec.data.kurtosis_values(len(lam))
        p, d = len(rec.moments), len(lam)
        f = {k: sp.lambdify(rec._args, getattr(rec, k), modules="mpmath") for k in ("A", "u", "v")}
        L = mpmath.zeros(d * p, d * p)
        us, vs = [], []
        for i, (li, ki) in enumerate(zip(lam, kap)):
            a = [mpmath.mpf(li), mpmath.mpf(ki), mpmath.mpf(batch), 0,
                 *[subs_h[n] for n in rec.algorithm.hyperparameters]]
            A = f["A"](*a)
            for r in range(p):
                for c in range(p):
                    L[i * p + r, i * p + c] = A[r, c]
            us.append(f["u"](*a))
            vs.append(f["v"](*a))
        for i in range(d):
            for j in range(d):
                for r in range(p):
                    for c in range(p):
                        L[i * p + r, j * p + c] += us[i][r] * vs[j][c]
        if d * p == 1:
            return abs(L[0, 0])
        if p == 1 and all(us[i][0] * vs[i][0] >= 0 for i in range(d)):
            # similar to the symmetric diag(a) + q q^T, q_i = sqrt(u_i v_i): a symmetric eigensolver
            q = [mpmath.sqrt(us[i][0] * vs[i][0]) for i in range(d)]
            S = mpmath.matrix(d, d)
            for i in range(d):
                for j in range(d):
                    S[i, j] = q[i] * q[j] + (L[i, i] - us[i][0] * vs[i][0] if i == j else 0)
            return max(abs(z) for z in mpmath.eigsy(S, eigvals_only=True))
        rng = np.random.default_rng(0)
        for attempt in range(3):   # QR may stall on repeated eigenvalues: retry on a similar matrix
            try:
                Q = mpmath.matrix(rng.standard_normal((d * p, d * p)).tolist())
                M = L if attempt == 0 else Q * L * mpmath.inverse(Q)
                return max(abs(z) for z in mpmath.eig(M, left=False, right=False))
            except RuntimeError:
                continue
        raise RuntimeError("mpmath.eig did not converge")


@pytest.mark.parametrize("lam", [[1e-11, 1.0], [1e-16, 1.0], [1e-300, 1.0], list(np.arange(1, 601.0) ** -4),
                                 [1e-12] * 5 + [1.0] * 3])
def test_sgd_critical_learning_rate_on_ill_conditioned_spectra(lam):
    got = derive().critical_learning_rate(lam)
    assert got == pytest.approx(float(hand_sgd_gamma_c(lam)), rel=1e-13)


@pytest.mark.parametrize("kurt,batch", [(1.0, 1), (1.0, 3), (8.0, 2)])
def test_sgd_critical_learning_rate_other_kurtosis(kurt, batch):
    lam = [1e-14, 1e-7, 1.0, 1.0]
    got = derive(SGD(), IndependentCoordinates(kurtosis=kurt)).critical_learning_rate(lam, batch=batch)
    assert got == pytest.approx(float(hand_sgd_gamma_c(lam, kurt, batch)), rel=1e-13)


def test_stationary_risk_on_ill_conditioned_spectrum():
    rec = derive()
    assert rec.stationary_risk([1e-12, 1.0], 0.1) == 0.0   # sigma^2 = 0
    got = rec.stationary_risk([1e-12, 1.0], 0.1, noise_variance=1.0)
    assert got == pytest.approx(float(hand_sgd_stationary_risk([1e-12, 1.0], 0.1, 1.0)), rel=1e-14)
    got = rec.stationary_risk([1e-16, 1e-8, 1.0], 0.5, batch=2, noise_variance=0.3, dps=40)
    want = hand_sgd_stationary_risk([1e-16, 1e-8, 1.0], mpmath.mpf("0.5"), mpmath.mpf("0.3"), batch=2)
    assert abs(got - want) < mpmath.mpf(10) ** -38 * want


@pytest.mark.parametrize("alg,hyper", [
    (HeavyBall(), {"momentum": 0.5}), (HeavyBall(), {"momentum": -0.4}), (Nesterov(), {"momentum": 0.5}),
    (GeneralizedMomentum(), {"gamma1": 0.1, "gamma3": 0.1, "delta": 0.1})])
@pytest.mark.parametrize("small", [1e-12, 1e-16])
def test_momentum_threshold_on_ill_conditioned_spectrum_against_dense_mp_map(alg, hyper, small):
    lam = [small, 0.3, 1.0]
    rec = derive(alg, Gaussian())
    gc = rec.critical_learning_rate(lam, **hyper)
    assert mp_dense_rho(rec, lam, gc * (1 - 1e-8), **hyper) < 1 < mp_dense_rho(rec, lam, gc * (1 + 1e-8), **hyper)


def test_rademacher_nesterov_complex_exit_on_ill_conditioned_spectrum():
    # kurtosis 1 and negative momentum: the exit is at a complex z; a 1e-15 direction rides along
    rec = derive(Nesterov(), IndependentCoordinates(kurtosis=1.0))
    lam, hyper = [1e-15, 0.548], {"momentum": -0.475}
    gc = rec.critical_learning_rate(lam, **hyper)
    assert mp_dense_rho(rec, lam, gc * (1 - 1e-8), **hyper) < 1 < mp_dense_rho(rec, lam, gc * (1 + 1e-8), **hyper)


def test_large_power_law_matches_hand_secular_equation():
    lam = np.arange(1, 20_001.0) ** -1.2
    got = derive().critical_learning_rate(lam, batch=4)
    # float64 oracle of the hand secular equation (brentq below its first pole)

    def f(g):
        return 1 - np.sum(g * lam / (8 - g * lam * 5))
    want = brentq(f, 1e-12, 8 / (5 * lam.max()) * (1 - 1e-15), xtol=1e-300, rtol=1e-15)
    assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("small", [1e-12, 1e-16])
def test_fourth_moment_threshold_on_ill_conditioned_spectrum(small):
    # a direction with gamma lambda below resolution is frozen: gamma_c^(4) tends to the value without it
    r4 = derive_fourth()
    assert r4.critical_learning_rate([small, 1.0]) == pytest.approx(r4.critical_learning_rate([1.0]), rel=1e-9)
    hb = derive_fourth(HeavyBall())
    assert hb.critical_learning_rate([small, 1.0], momentum=0.5) == pytest.approx(
        hb.critical_learning_rate([1.0], momentum=0.5), rel=1e-9)


# ---------------------------------------------------------------------- property tests (issue 11 item 1)


@st.composite
def spectra(draw, small_max, large_max=10_000):
    """Spectra with condition numbers up to 1e16: mostly few directions, sometimes up to 10^4."""
    d = draw(st.integers(1, small_max)) if draw(st.integers(0, 7)) else draw(st.integers(small_max + 1, large_max))
    cond = 10.0 ** draw(st.floats(0.0, 16.0))
    scale = 10.0 ** draw(st.floats(-3.0, 3.0))
    kind = draw(st.sampled_from(["power", "loguniform", "two"]))
    if kind == "power" or d == 1:
        lam = np.arange(1, d + 1.0) ** (-np.log10(cond) / max(np.log10(d), 1.0))
    elif kind == "loguniform":
        seed = draw(st.integers(0, 2**32 - 1))
        lam = 10.0 ** np.random.default_rng(seed).uniform(-np.log10(cond), 0.0, d)
        lam[0] = 1.0
    else:
        k = draw(st.integers(1, d - 1))
        lam = np.array([1.0 / cond] * k + [1.0] * (d - k))
    return lam * scale


def hand_first_root(G, lam, pole):
    """First root of 1 = sum_i G(lambda_i, g) on (0, first pole), float64 (brentq)."""
    hi = pole * (1 - 1e-15) if np.isfinite(pole) else 1e30 / lam.sum()

    def f(g):
        return 1.0 - np.sum(G(lam, g))
    lo = 1e-300
    return brentq(f, lo, hi, xtol=1e-300, rtol=1e-15, maxiter=500)


def float_dense_check(rec, lam, gc, batch, hyper, resolvable):
    """rho(L) > 1 just above gamma_c; just below, every eigenvalue on/outside the circle must belong to a
    direction that float64 cannot resolve (gamma_c lambda_i < 1e-9: its eigenvalues are 1 - O(1e-9))."""
    def eig(g):
        return np.abs(np.linalg.eigvals(rec.linear_map(lam, g, batch, **hyper).transition_matrix()))
    assert eig(gc * (1 + 1e-6)).max() > 1
    p = len(rec.moments)
    assert np.sum(eig(gc * (1 - 1e-6)) >= 1) <= p * int(np.sum(~resolvable))


POWER_1E16 = np.arange(1, 10_001.0) ** -4.0     # d = 10^4, condition number 1e16


@example(lam=POWER_1E16, batch=1, kurt=3.0)
@example(lam=np.array([1e-16, 1e-8, 1.0]), batch=2, kurt=1.0)
@given(lam=spectra(small_max=10), batch=st.integers(1, 4), kurt=st.sampled_from([1.0, 3.0, 8.0]))
def test_sgd_threshold_property(lam, batch, kurt):
    rec = derive(SGD(), IndependentCoordinates(kurtosis=kurt))
    gc = rec.critical_learning_rate(lam, batch=batch)
    c = batch + kurt - 2

    def G(x, g):
        return g * x / (2 * batch - g * x * c)
    want = hand_first_root(G, lam, 2 * batch / (lam.max() * c) if c > 0 else np.inf)
    assert gc == pytest.approx(want, rel=1e-11)
    if len(lam) <= 10:
        assert mp_dense_rho(rec, lam, gc * (1 - 1e-8), batch) < 1 < mp_dense_rho(rec, lam, gc * (1 + 1e-8), batch)
    elif len(lam) <= 300:
        float_dense_check(rec, lam, gc, batch, {}, gc * lam >= 1e-9)


@example(lam=POWER_1E16, batch=1, beta=0.5, kurt=3.0)
@example(lam=np.array([1e-16, 1e-3, 1.0]), batch=1, beta=-0.5, kurt=1.0)
@given(lam=spectra(small_max=4), batch=st.integers(1, 3), beta=st.floats(-0.9, 0.95),
       kurt=st.sampled_from([1.0, 3.0, 8.0]))
def test_heavy_ball_threshold_property(lam, batch, beta, kurt):
    rec = derive(HeavyBall(), IndependentCoordinates(kurtosis=kurt))
    gc = rec.critical_learning_rate(lam, batch=batch, momentum=beta)
    # hand oracle: the z = 1 secular term of heavy ball, solved by hand from the 3 x 3 block
    # (Paquette & Paquette, arXiv:2106.03696): G_i = g l / (B (2 (1 - b) - g l (c_i - 2 b / (1 + b))))
    c = 1 + (kurt - 2) / batch - 2 * beta / (1 + beta)

    def G(x, g):
        return g * x / (batch * (2 * (1 - beta) - g * x * c))
    z1 = hand_first_root(G, lam, 2 * (1 - beta) / (lam.max() * c) if c > 0 else np.inf)
    assert gc <= z1 * (1 + 1e-11)     # L has the eigenvalue 1 at z1, so rho >= 1 there
    if len(lam) <= 4:
        hyper = {"momentum": beta}
        assert mp_dense_rho(rec, lam, gc * (1 - 1e-8), batch, dps=30, **hyper) < 1
        assert mp_dense_rho(rec, lam, gc * (1 + 1e-8), batch, dps=30, **hyper) > 1
    elif len(lam) <= 100:
        float_dense_check(rec, lam, gc, batch, {"momentum": beta}, gc * lam >= 1e-9)
    if beta >= 0 and kurt >= 3:   # a real exit at z = 1 (seen on the dense map for small d)
        assert gc == pytest.approx(z1, rel=1e-11)


# ---------------------------------------------------------------------- exact inputs (issue 10 item 6)


def _exact_forms():
    with mpmath.workdps(60):
        mp = [mpmath.mpf(1), mpmath.mpf("0.5"), mpmath.mpf("0.2")]
    return {"mpf": mp, "Fraction": [fractions.Fraction(1), fractions.Fraction(1, 2), fractions.Fraction(1, 5)],
            "Rational": [sp.Integer(1), sp.Rational(1, 2), sp.Rational(1, 5)], "str": ["1", "0.5", "0.2"]}


@pytest.mark.parametrize("form", ["mpf", "Fraction", "Rational", "str"])
def test_exact_inputs_keep_their_precision_sgd(form):
    lam = _exact_forms()[form]
    got = derive().critical_learning_rate(lam, batch=2, dps=40)
    with mpmath.workdps(50):
        want = hand_sgd_gamma_c([mpmath.mpf(1), mpmath.mpf(1) / 2, mpmath.mpf(1) / 5], 3, 2, dps=50)
        assert abs(got - want) <= mpmath.mpf(10) ** -38 * want
        # float64 inputs are their binary values: 0.2 differs from 1/5 at 1e-17, and so does gamma_c
        rounded = derive().critical_learning_rate([1.0, 0.5, 0.2], batch=2, dps=40)
        assert mpmath.mpf(10) ** -20 < abs(rounded - want) < mpmath.mpf(10) ** -15
    # printed with its digits, not 15
    assert len(str(got).replace("0.", "", 1)) >= 38 and repr(got).startswith("mpf('0.92963248302400713792051915")


def test_exact_inputs_heavy_ball_and_stationary_risk():
    lam = [fractions.Fraction(1), fractions.Fraction(1, 3), fractions.Fraction(1, 7)]
    beta = sp.Rational(1, 3)
    got = derive(HeavyBall()).critical_learning_rate(lam, batch=2, dps=40, momentum=beta)
    with mpmath.workdps(50):
        b, B = mpmath.mpf(1) / 3, 2
        xs = [mpmath.mpf(1), mpmath.mpf(1) / 3, mpmath.mpf(1) / 7]
        c = 1 + mpmath.mpf(3 - 2) / B - 2 * b / (1 + b)

        def f(g):   # heavy ball's z = 1 secular equation, by hand (see test_heavy_ball_threshold_property)
            return 1 - mpmath.fsum(g * x / (B * (2 * (1 - b) - g * x * c)) for x in xs)
        want = mpmath.findroot(f, (mpmath.mpf("0.5"), mpmath.mpf("1.5")), solver="anderson")
        assert abs(got - want) <= mpmath.mpf(10) ** -38 * want
    # stationary risk: learning rate, noise variance and eigenvalues exact
    r = derive().stationary_risk(lam, fractions.Fraction(1, 10), batch=2, noise_variance=sp.Rational(3, 10), dps=40)
    with mpmath.workdps(50):
        G = mpmath.fsum(mpmath.mpf(1) / 10 * x / (4 - mpmath.mpf(1) / 10 * x * 3) for x in xs)
        want = mpmath.mpf(3) / 10 / (2 * (1 - G))
        assert abs(r - want) <= mpmath.mpf(10) ** -38 * want


def test_exact_inputs_bad_strings_are_refused():
    from theory.precision import to_mpf
    for bad in ["__import__('os').system('true')", "1/3", "x"]:
        with pytest.raises(ValueError, match="decimal number"):
            to_mpf(bad, "eigenvalues")
    with pytest.raises(ValueError, match="boolean"):
        to_mpf(True, "learning_rate")


# ---------------------------------------------------------------------- certified intervals (issue 10 item 6)
def test_certified_interval_contains_the_critical_learning_rate():
    lam = [fractions.Fraction(1), fractions.Fraction(1, 2), fractions.Fraction(1, 5)]
    interval = derive().critical_learning_rate(lam, batch=2, certify=True)
    with mpmath.workdps(60):
        want = hand_sgd_gamma_c([mpmath.mpf(1), mpmath.mpf(1) / 2, mpmath.mpf(1) / 5], 3, 2, dps=60)
        assert interval.a <= want <= interval.b
        assert interval.b - interval.a < mpmath.mpf(10) ** -30
    # ill-conditioned, heavy-tailed data
    lam = [1e-16, 1e-3, 1.0, 1.0]
    interval = derive(SGD(), IndependentCoordinates(kurtosis=8.0)).critical_learning_rate(lam, batch=3, certify=True)
    with mpmath.workdps(60):
        want = hand_sgd_gamma_c(lam, 8.0, 3, dps=60)
        assert interval.a <= want <= interval.b and interval.b - interval.a < mpmath.mpf(10) ** -30


@pytest.mark.parametrize("shift", ["1e-20", "-1e-20", "-1e-3"])
def test_certification_refuses_a_wrong_root(shift):
    from theory.precision import certify_critical
    rec = derive()
    lam = [fractions.Fraction(1), fractions.Fraction(1, 2), fractions.Fraction(1, 5)]
    with mpmath.workdps(60):
        root = rec.critical_learning_rate(lam, batch=2, dps=50) * (1 + mpmath.mpf(shift))
    with pytest.raises(RuntimeError, match="could not certify"):
        certify_critical(rec, lam, 3, 2, {}, root, 40)


def test_certify_needs_one_moment_per_direction():
    with pytest.raises(ValueError, match="p = 3"):
        derive(HeavyBall()).critical_learning_rate([1.0, 0.5], certify=True, momentum=0.5)


def test_high_precision_result_pickles_with_its_digits():
    import pickle

    from theory.precision import Mpf
    got = derive().critical_learning_rate([1.0] * 3, dps=35)
    back = pickle.loads(pickle.dumps(got))
    assert back == got and repr(back) == repr(got) and back.dps == 35
    with mpmath.workdps(35):
        neg = Mpf(-got, 35)
        assert pickle.loads(pickle.dumps(neg)) == -got


def test_certify_must_be_a_boolean():
    with pytest.raises(ValueError, match="certify must be True or False"):
        derive().critical_learning_rate([1.0], certify="yes")


# ---------------------------------------------------------------------------- the gamma_c memo
def test_memoised_critical_learning_rate_equals_a_fresh_computation():
    from theory import thresholds
    from theory.algorithms import PreconditionedSGD
    lam = 1.0 / np.arange(1, 9)
    cases = [(derive(SGD(), Gaussian()), {}), (derive(SGD(), IndependentCoordinates(5.0)), {}),
             (derive(SGD(), IndependentCoordinates(np.linspace(1, 9, 8))), {}),
             (derive(HeavyBall(), Gaussian()), {"momentum": 0.5}), (derive(HeavyBall(), Gaussian()), {"momentum": -0.2}),
             (derive(PreconditionedSGD(), Gaussian()), {"preconditioner": lam ** -0.5}),
             (derive(PreconditionedSGD(), Gaussian()), {"preconditioner": lam ** -0.4})]
    thresholds._MEMO.clear()
    first = [rec.critical_learning_rate(lam, batch=2, **h) for rec, h in cases]
    assert len(thresholds._MEMO) == len(cases) and len(set(first)) == len(cases)   # every key distinct
    again = [rec.critical_learning_rate(lam, batch=2, **h) for rec, h in cases]   # from the memo
    assert again == first
    thresholds._MEMO.clear()
    assert [rec.critical_learning_rate(lam, batch=2, **h) for rec, h in cases] == first
    # other eigenvalues, batch sizes, data or recursions are other keys
    rec = cases[0][0]
    assert rec.critical_learning_rate(lam, batch=3) != first[0]
    assert rec.critical_learning_rate(lam * 0.5, batch=2) == pytest.approx(2 * first[0], rel=1e-12)
    assert derive(SGD(), IndependentCoordinates(5.0)).critical_learning_rate(lam, batch=2) == first[1]
    assert derive(Nesterov(), Gaussian()).critical_learning_rate(lam, batch=2, momentum=0.5) != first[3]
    thresholds._MEMO.clear()
    for _ in range(thresholds.MEMO_SIZE + 5):   # bounded
        rec.critical_learning_rate(lam * np.random.default_rng(_).uniform(0.5, 1.0), batch=2)
    assert len(thresholds._MEMO) == thresholds.MEMO_SIZE


# ---------------------------------------------------------------------------- the fine scan of F(z; gamma)
@pytest.mark.parametrize("alg,hyper", [(SGD(weight_decay=0.1), {}), (SGD(weight_decay=0.5), {}),
                                       (HeavyBall(), {"momentum": -0.6})])
def test_fine_secular_scan_equals_the_stability_bisection_and_the_dense_map(alg, hyper, monkeypatch):
    """Where the doubling grid misses the zero of F(1) (negative on less than a doubling: weight decay),
    the crossing is the first zero of F(z) on the fine grid: the same as bisecting the stability test
    itself (the slow fallback) to 1e-12, with the dense mpmath map stable just below and unstable just above,
    and with at most 5 stability tests instead of ~60."""
    from theory import thresholds
    rec = derive(alg, Gaussian())
    lam = np.array([0.9, 0.55, 0.3, 0.12])
    calls = []
    stable = thresholds.Spectrum.stable
    monkeypatch.setattr(thresholds.Spectrum, "stable", lambda self, g: calls.append(g) or stable(self, g))
    thresholds._MEMO.clear()
    fast = rec.critical_learning_rate(lam, batch=2, **hyper)
    assert len(calls) <= 5
    monkeypatch.setattr(thresholds, "_secular_crossing", lambda spec, g0, top: None)
    thresholds._MEMO.clear()
    slow = rec.critical_learning_rate(lam, batch=2, **hyper)
    thresholds._MEMO.clear()
    assert fast == pytest.approx(slow, rel=1e-12)
    bound = {"optimum": 0.0} if "optimum" in alg.hyperparameters else hyper
    assert mp_dense_rho(rec, lam, fast * (1 - 1e-8), batch=2, **bound) < 1
    assert mp_dense_rho(rec, lam, fast * (1 + 1e-8), batch=2, **bound) > 1
