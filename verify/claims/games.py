"""Claims on bilinear games min_theta max_phi theta^T A phi (Gidel et al., arXiv:1807.04740):
simultaneous updates never converge, alternating updates with beta = 0 stay bounded without
converging, alternating updates with negative momentum converge (best beta for small steps
derived), and the noisy game's second moments follow the derived Lyapunov recursion."""
from __future__ import annotations

import functools
from fractions import Fraction

import numpy as np
import sympy as sp
from scipy.optimize import minimize_scalar

from theory.games import _Z, BETA, ETA, SINGULAR_VALUE, BilinearGame, small_step_rate

from ..montecarlo import SimulationResult, block_edges
from ..stats import AlphaBudget, compare, exact_identity, numeric_agreement, reported
from . import Claim, child_seed, register
from ._checks import exact, polynomial_radius

_SRC = "Gidel et al., arXiv:1807.04740 (AISTATS 2019)"
_S = np.array([1.0, 0.7, 0.4, 0.1])  # singular values of A


def _summary(a, skewness=True):
    """(mean, standard error, sample skewness or None) over the replicas, axis 0 of ``a``."""
    n = a.shape[0]
    mean = a.mean(axis=0)
    dv = a - mean
    sq = dv * dv
    m2 = sq.sum(axis=0)
    se = np.sqrt(m2 / (n - 1) / n) if n > 1 else np.zeros_like(mean)
    if not skewness:
        return mean, se, None
    m3 = (sq * dv).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        skew = np.where(m2 > 0, (m3 / n) / (m2 / n) ** 1.5, 0.0)
    return mean, se, skew


def game_result(states, seed=None, parameters=None) -> SimulationResult:
    """Monte Carlo summary of a noisy game's runs for :func:`verify.compare`.

    ``states``: ``BilinearGame.run`` output (steps+1, replicas, r, 4), or the per-step states of
    ``BilinearGame.iterate`` (streamed: memory O(replicas r), not O(steps replicas r)).
    Per step: means over replicas of the distance R = (|theta|^2 + |phi|^2)/2, of theta_i^2, phi_i^2
    (``second_moments``) and of theta_i, phi_i (``mean``), with standard errors and the risk's
    skewness; per dyadic block of steps [1, 2), [2, 4), ...: every replica's block averages of the
    three (``replica_block_risk``, shape (replicas, n_blocks)), their means, standard errors and
    skewnesses, as :func:`verify.simulate` records them.
    """
    per_step, per_block, replica_risk = [], [], []
    acc, k = None, 0
    for k, st in enumerate(states):
        x = np.concatenate([st[..., 0], st[..., 2]], axis=-1)   # (n, 2r): theta then phi
        sq = x * x
        risk = 0.5 * sq.sum(axis=-1)
        per_step.append((_summary(risk), _summary(sq, False), _summary(x, False)))
        if k == 0:
            continue
        if acc is None:
            acc = [risk.copy(), sq.copy(), x.copy()]
            start = k
        else:
            for a, v in zip(acc, (risk, sq, x)):
                a += v
        if k == 2 * start - 1:   # the dyadic block [start, 2 start) is complete
            width = k - start + 1
            averages = [a / width for a in acc]
            replica_risk.append(averages[0])
            per_block.append([_summary(a) for a in averages])
            acc = None
    steps = k
    edges = block_edges(steps)
    if acc is not None:   # the last, partial dyadic block [2^J, steps + 1)
        width = steps - start + 1
        averages = [a / width for a in acc]
        replica_risk.append(averages[0])
        per_block.append([_summary(a) for a in averages])
    if len(per_block) != len(edges) - 1:  # pragma: no cover - guards the streaming block bookkeeping
        raise RuntimeError(f"{len(per_block)} blocks recorded, {len(edges) - 1} expected")

    def stack(rows, q, j):
        return None if rows[0][q][j] is None else np.array([r[q][j] for r in rows])
    n = replica_risk[0].shape[0]
    return SimulationResult(risk=stack(per_step, 0, 0), risk_se=stack(per_step, 0, 1),
                            second_moments=stack(per_step, 1, 0), second_moments_se=stack(per_step, 1, 1),
                            mean=stack(per_step, 2, 0), mean_se=stack(per_step, 2, 1), replicas=n,
                            seed={"seed": seed}, parameters=parameters or {}, block_edges=edges,
                            block_risk=stack(per_block, 0, 0), block_risk_se=stack(per_block, 0, 1),
                            block_second_moments=stack(per_block, 1, 0),
                            block_second_moments_se=stack(per_block, 1, 1), risk_skewness=stack(per_step, 0, 2),
                            replica_block_risk=np.stack(replica_risk, axis=1),
                            block_risk_skewness=stack(per_block, 0, 2),
                            block_second_moments_skewness=stack(per_block, 1, 2), block_mean=stack(per_block, 2, 0),
                            block_mean_se=stack(per_block, 2, 1), block_mean_skewness=stack(per_block, 2, 2))


def _exact_radius(game, eta, beta):
    """Exact bracket (lo, hi) of the spectral radius of the game's transition over the singular values
    _S: roots of the derived characteristic polynomial at the exact values of the floats, located by the
    Schur--Cohn test in rational arithmetic (:func:`verify.claims._checks.radius_bracket`)."""
    polys = [_char_poly(game, eta, beta, s) for s in _S]
    return polynomial_radius(polys)


@functools.cache
def _coefficient_monomials(scheme):
    """The derived characteristic polynomial's coefficients in z (highest degree first), each as a
    list of (exponents of eta, s_i, beta; exact rational coefficient): expanded once per process."""
    P = BilinearGame(scheme).characteristic_polynomial
    return [[(m, Fraction(int(c.p), int(c.q))) for m, c in sp.Poly(a, ETA, SINGULAR_VALUE, BETA).terms()]
            for a in sp.Poly(P, _Z).all_coeffs()]


def _char_poly(game, eta, beta, s):
    """Exact rational coefficients (highest degree first) of det(z I - M_i) at the exact values of the
    floats eta, beta, s (the derived polynomial's coefficients evaluated in Fraction arithmetic)."""
    at = (exact(eta), exact(s), exact(beta))
    out = []
    for terms in _coefficient_monomials(game.scheme):
        value = Fraction(0)
        for powers, c in terms:
            for x, k in zip(at, powers):
                c *= x ** k
            value += c
        out.append(value)
    return out


def _sign_on_interval(c, lo, hi):
    """+1 or -1 if the rational function c(beta) has that strict sign on the whole open interval
    (lo, hi) (exact: neither its numerator nor its denominator has a root inside, and the sign at the
    midpoint), else 0."""
    num, den = (sp.Poly(x, BETA) for x in sp.fraction(sp.cancel(sp.together(c))))
    lo, hi = sp.Rational(lo), sp.Rational(hi)
    for q in (num, den):
        inside = q.count_roots(lo, hi) - sum(1 for x in (lo, hi) if q.eval(x) == 0)
        if inside:
            return 0
    return int(sp.sign(c.subs(BETA, (lo + hi) / 2)))


def _empty(c, relation, lo, hi):
    """Whether {beta in (lo, hi): c(beta) ``relation`` 0} is empty (relation "<=" or ">="): by
    :func:`_sign_on_interval` when c has one strict sign there, else by SymPy's ``solveset``."""
    sign = _sign_on_interval(c, lo, hi)
    if sign:
        return sign > 0 if relation == "<=" else sign < 0
    rel = sp.Le(c, 0) if relation == "<=" else sp.Ge(c, 0)
    return sp.solveset(rel, BETA, sp.Interval.open(lo, hi)) == sp.S.EmptySet


def _radius_check(game, eta, beta, expect, what):
    """Exact check that the spectral radius is > 1 (``expect`` = 1) or < 1 (``expect`` = -1)."""
    lo, hi = _exact_radius(game, eta, beta)
    # rho >= lo certifies rho > 1 when lo > 1; rho < hi certifies rho < 1 when hi < 1
    sign = sp.sign(sp.Rational(lo) - 1) if expect > 0 else sp.sign(sp.Rational(hi) - 1)
    rel = "> 1" if expect > 0 else "< 1"
    return exact_identity(sign, expect, parameters=dict(eta=eta, beta=beta), label=(
        f"{what}: spectral radius in [{float(lo):.10f}, {float(hi):.10f}) {rel} (exact: Schur-Cohn on the "
        f"derived characteristic polynomial, rational arithmetic)"))


def _deterministic_check(game, eta, beta, steps, label):
    """The deterministic run against the derived mean recursion (every coordinate, every step)."""
    tr = game.trajectory(eta, _S, momentum=beta, steps=steps)
    states = game.run(eta, _S, momentum=beta, steps=steps)[:, 0]
    x = np.concatenate([states[..., 0], states[..., 2]], axis=-1)
    # rounding: relative error ~ steps * 1e-16 of the norm; coordinates pass near 0, so 9 digits
    # entrywise (absolute where the exact value is 0) leaves room for the worst coordinate
    return tr, numeric_agreement(x, tr.mean, 9, parameters=dict(eta=eta, beta=beta), label=(
        f"{label}: run = derived mean recursion (eta={eta}, beta={beta}; {steps} steps, every coordinate; "
        "9 digits: rounding)"))


def _simultaneous(claim, budget, ss):
    game = BilinearGame("simultaneous")
    verdicts = []
    c, _ = small_step_rate("simultaneous")
    verdicts.append(exact_identity(int(_empty(c, "<=", -1, 1)), 1, label=(
        f"small-step rate |z| = 1 + c(beta) eta^2 s^2, c = {c}: {{beta in (-1, 1): c <= 0}} is empty "
        "(exact: no zero or pole of c inside, c > 0 at the midpoint)")))
    for eta, beta in ((0.1, 0.0), (0.1, -0.5), (0.5, 0.5)):
        tr, v = _deterministic_check(game, eta, beta, 400, "simultaneous")
        verdicts.append(v)
        verdicts.append(_radius_check(game, eta, beta, 1, f"simultaneous, eta={eta}, beta={beta}"))
        verdicts.append(reported(tr.risk[-1], tr.risk[0], label=(
            f"simultaneous, eta={eta}, beta={beta}: R_400 of the derived recursion (reference: R_0)")))
    return verdicts


def _alternating_bounded(claim, budget, ss):
    game = BilinearGame("alternating")
    verdicts = []
    for eta in (0.1, 0.5, 1.5):
        # beta = 0: det(zI - M_i) = z^2 q_i(z), q_i(z) = z^2 - (2 - eta^2 s_i^2) z + 1. For eta s_i < 2 its
        # discriminant is < 0: two distinct complex roots z, conj(z) with |z|^2 = z conj(z) = q_i(0) = 1
        on_circle, distinct = [], []
        for s in _S:
            coeffs = _char_poly(game, eta, 0.0, s)
            while coeffs[-1] == 0:                       # the double root z = 0 (theta_prev, phi_prev unused)
                coeffs.pop()
            if len(coeffs) != 3:  # pragma: no cover
                raise ValueError(f"expected a quadratic after removing z = 0; got {coeffs}")
            a2, a1, a0 = (sp.Rational(exact(c)) for c in coeffs)
            on_circle.append(abs(a0 / a2 - 1))
            distinct.append(sp.sign(a1**2 - 4 * a0 * a2))
        defect = max(on_circle) + sum(1 for sd in distinct if sd >= 0)
        verdicts.append(exact_identity(defect, 0, parameters=dict(eta=eta, beta=0.0), label=(
            f"eta={eta} (eta s < 2), beta = 0: the nonzero eigenvalues of every M_i are distinct and on the "
            "unit circle (exact: max_i |q_i(0)/lead - 1| + #{i: discriminant >= 0} = 0)")))
        tr, v = _deterministic_check(game, eta, 0.0, 2000, "alternating")
        verdicts.append(v)
        verdicts.append(reported(tr.risk.min(), tr.risk[0], label=(
            f"eta={eta}: R_k over 2000 steps in [{tr.risk.min():.3g}, {tr.risk.max():.3g}] "
            "(bounded, not convergent); shown: min R_k (reference: R_0)")))
    return verdicts


def _alternating_negative(claim, budget, ss):
    game = BilinearGame("alternating")
    verdicts = []
    c, best = small_step_rate("alternating")
    verdicts.append(exact_identity(int(_empty(c, ">=", -1, 0)), 1, label=(
        f"derived small-step rate c(beta) = {c}: {{beta in (-1, 0): c >= 0}} is empty (exact: no zero or "
        "pole of c inside, c < 0 at the midpoint)")))
    verdicts.append(exact_identity(best, sp.Rational(-1, 2), label=(
        "derived best momentum for small steps argmin c(beta) = -1/2 (Gidel et al., Thm. 4)")))
    xs = []
    for eta in (0.04, 0.02):
        r = minimize_scalar(lambda b, eta=eta: game.spectral_radius(eta, [1.0], b), bounds=(-0.99, 0.0),
                            method="bounded", options=dict(xatol=1e-12))
        xs.append(r.x)
    # argmin_beta rho(eta) = -1/2 + O(eta^2) (errors shrink by 4 per halving of eta): Richardson in eta^2
    # leaves the minimiser's resolution, ~1e-6 (5 digits)
    extrapolated = (4 * xs[1] - xs[0]) / 3
    verdicts.append(numeric_agreement(extrapolated, float(best), 5, label=(
        f"argmin_beta spectral radius at eta = 0.04, 0.02: {xs[0]:.7f}, {xs[1]:.7f}; Richardson in eta^2: "
        f"{extrapolated:.7f} = derived best beta (5 digits)")))
    for eta, beta in ((0.1, -0.5), (0.5, -0.3)):
        tr, v = _deterministic_check(game, eta, beta, 3000, "alternating")
        verdicts.append(v)
        verdicts.append(_radius_check(game, eta, beta, -1, f"alternating, eta={eta}, beta={beta}"))
        verdicts.append(reported(tr.risk[-1], tr.risk[0], label=(
            f"alternating, eta={eta}, beta={beta}: R_3000 of the derived recursion (reference: R_0)")))
    return verdicts


def _noisy(claim, budget, ss, perturb=1.0):
    """``perturb`` != 1 scales the theory's noise variance (planted-error power test)."""
    verdicts = []
    cases = (("alternating", 0.2, -0.5), ("simultaneous", 0.05, 0.0))
    alphas = AlphaBudget(claim.alpha, [scheme for scheme, _, _ in cases])
    for k, (scheme, eta, beta) in enumerate(cases):
        game = BilinearGame(scheme)
        kw = dict(momentum=beta, steps=200, noise_variance=0.5)
        seed = child_seed(ss, k)
        states = game.iterate(eta, _S, replicas=budget.replicas, seed=seed, **kw)   # streamed, not stored
        res = game_result(states, seed, dict(scheme=scheme, eta=eta, **kw))
        theory = game.trajectory(eta, _S, **dict(kw, noise_variance=0.5 * perturb))
        verdicts.append(compare(theory, res, alpha=alphas[scheme], quantities=("risk", "second_moments", "mean"),
                                label=f"{scheme}, eta={eta}, beta={beta}, noise variance 0.5: Monte Carlo = "
                                      "derived Lyapunov recursion"))
    return verdicts


def _latex(scheme):
    return lambda: BilinearGame(scheme)


register(Claim("games.simultaneous.diverges",
               "bilinear game, simultaneous updates: never converge (derived small-step rate c(beta) > 0; "
               "spectral radius > 1; runs follow the derived recursion and grow)",
               _SRC + ", Thm. 2", _simultaneous, _latex("simultaneous")))
register(Claim("games.alternating.bounded",
               "bilinear game, alternating updates, beta = 0: eigenvalues on the unit circle, bounded orbit, "
               "no convergence",
               _SRC + ", Thm. 3", _alternating_bounded, _latex("alternating")))
register(Claim("games.alternating.negative_momentum",
               "bilinear game, alternating updates with negative momentum converge; best beta for small steps "
               "derived (-1/2)",
               _SRC + ", Thm. 4", _alternating_negative, _latex("alternating")))
register(Claim("games.noisy.second_moments",
               "bilinear game with additive gradient noise: E theta^2, E phi^2, means and distance follow the "
               "derived Lyapunov recursion (Monte Carlo)",
               _SRC + "; exact second moments Sigma' = M Sigma M^T + v N N^T", _noisy, _latex("alternating")))
