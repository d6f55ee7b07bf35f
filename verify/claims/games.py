"""Claims on bilinear games min_theta max_phi theta^T A phi (Gidel et al., arXiv:1807.04740):
simultaneous updates never converge, alternating updates with beta = 0 stay bounded without
converging, alternating updates with negative momentum converge (best beta for small steps
derived), and the noisy game's second moments follow the derived Lyapunov recursion."""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar

from theory.games import BETA, BilinearGame, small_step_rate

from ..montecarlo import SimulationResult, block_edges
from ..stats import Verdict, compare
from . import Claim, Row, child_seed, register, row_from_verdict

_SRC = "Gidel et al., arXiv:1807.04740 (AISTATS 2019)"
_S = np.array([1.0, 0.7, 0.4, 0.1])  # singular values of A


def game_result(states, seed=None, parameters=None) -> SimulationResult:
    """Monte Carlo summary of ``BilinearGame.run`` output (steps+1, replicas, r, 4) for :func:`verify.compare`."""
    n = states.shape[1]
    x = np.concatenate([states[..., 0], states[..., 2]], axis=-1)  # (T+1, n, 2r): theta then phi
    sq = x * x
    risk = 0.5 * sq.sum(axis=-1)

    def ms(a):
        return a.mean(axis=1), (a.std(axis=1, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(a.mean(axis=1)))
    (rm, rs), (sm, ss), (mm, mse) = ms(risk), ms(sq), ms(x)
    edges = block_edges(states.shape[0] - 1)
    # each replica's average over the dyadic blocks of steps [1, 2), [2, 4), ... (power against small errors)
    (brm, brs), (bsm, bss) = (ms(np.stack([a[lo:hi].mean(axis=0) for lo, hi in zip(edges[:-1], edges[1:])]))
                              for a in (risk, sq))
    return SimulationResult(risk=rm, risk_se=rs, second_moments=sm, second_moments_se=ss, mean=mm,
                            mean_se=mse, replicas=n, seed={"seed": seed}, parameters=parameters or {},
                            block_edges=edges, block_risk=brm, block_risk_se=brs,
                            block_second_moments=bsm, block_second_moments_se=bss)


def _deterministic_rows(game, eta, beta, steps, label):
    """The deterministic run against the derived mean recursion, norm-wise relative error at rounding level."""
    tr = game.trajectory(eta, _S, momentum=beta, steps=steps)
    states = game.run(eta, _S, momentum=beta, steps=steps)[:, 0]
    x = np.concatenate([states[..., 0], states[..., 2]], axis=-1)
    err = float(np.max(np.linalg.norm(x - tr.mean, axis=1) / np.linalg.norm(tr.mean, axis=1)))
    v = Verdict(err < 1e-9, err, 1.0 if err < 1e-9 else 0.0, 1e-9, 0, None, dict(eta=eta, beta=beta), None)
    return tr, v, Row(f"{label}: run = derived recursion (eta={eta}, beta={beta}; max relative error "
                      f"{err:.1e} < 1e-9, rounding)", float(tr.risk[-1]), float(0.5 * np.sum(x[-1] ** 2)),
                      0.0, err, err < 1e-9)


def _simultaneous(claim, budget, ss):
    game = BilinearGame("simultaneous")
    rows, verdicts = [], []
    c, best = small_step_rate("simultaneous")
    betas = np.linspace(-0.95, 0.95, 39)
    cvals = np.array([float(c.subs(BETA, b)) for b in betas])
    rows.append(Row(f"small-step rate |z| = 1 + c(beta) eta^2 s^2, c = {c}: c > 0 for all beta in (-1, 1)",
                    float(cvals.min()), float("nan"), float("nan"), 0.0, bool(np.all(cvals > 0))))
    for eta, beta in ((0.1, 0.0), (0.1, -0.5), (0.5, 0.5)):
        rho = game.spectral_radius(eta, _S, beta)
        tr, v, row = _deterministic_rows(game, eta, beta, 400, "simultaneous")
        verdicts.append(v)
        rows.append(row)
        rows.append(Row(f"eta={eta}, beta={beta}: spectral radius {rho:.6f} > 1 and R_400 > R_0",
                        float(tr.risk[-1]), float(tr.risk[-1]), 0.0, 0.0, bool(rho > 1 and tr.risk[-1] > tr.risk[0])))
    return rows, verdicts


def _alternating_bounded(claim, budget, ss):
    game = BilinearGame("alternating")
    rows, verdicts = [], []
    for eta in (0.1, 0.5, 1.5):
        M, _ = game.matrices(eta, _S, 0.0)
        ok = True
        for Mi in M:
            ev = np.linalg.eigvals(Mi[np.ix_([0, 2], [0, 2])])  # beta = 0: theta_prev, phi_prev unused
            gaps = abs(ev[0] - ev[1])
            ok &= bool(np.all(np.abs(np.abs(ev) - 1) < 1e-12) and gaps > 1e-6)
        tr, v, row = _deterministic_rows(game, eta, 0.0, 2000, "alternating")
        verdicts.append(v)
        rows.append(row)
        rows.append(Row(f"eta={eta} (eta s < 2): eigenvalues distinct and on the unit circle => bounded, "
                        f"not convergent; R_k in [{tr.risk.min():.3g}, {tr.risk.max():.3g}] over 2000 steps",
                        float(tr.risk.min()), float(tr.risk.max()), 0.0, 0.0, ok))
    return rows, verdicts


def _alternating_negative(claim, budget, ss):
    game = BilinearGame("alternating")
    rows, verdicts = [], []
    c, best = small_step_rate("alternating")
    rows.append(Row(f"derived small-step rate c(beta) = {c} < 0 for beta < 0; best beta = {best}",
                    float(best), float("nan"), float("nan"), 0.0, best is not None and float(c.subs(BETA, -0.25)) < 0))
    errs = []
    for eta in (0.04, 0.02, 0.01):
        r = minimize_scalar(lambda b: game.spectral_radius(eta, [1.0], b), bounds=(-0.99, 0.0),
                            method="bounded", options=dict(xatol=1e-12))
        errs.append(abs(r.x - float(best)))
    rows.append(Row("argmin_beta spectral radius at eta = 0.04, 0.02, 0.01 approaches the derived best beta "
                    f"(errors {errs[0]:.2e}, {errs[1]:.2e}, {errs[2]:.2e})", float(best), float(best) + errs[-1],
                    float("nan"), 0.0, errs[0] > errs[1] > errs[2]))
    for eta, beta in ((0.1, -0.5), (0.5, -0.3)):
        rho = game.spectral_radius(eta, _S, beta)
        tr, v, row = _deterministic_rows(game, eta, beta, 3000, "alternating")
        verdicts.append(v)
        rows.append(row)
        rows.append(Row(f"eta={eta}, beta={beta}: spectral radius {rho:.6f} < 1 and R_3000 < R_0 * rho^2000",
                        float(tr.risk[-1]), float(tr.risk[-1]), 0.0, 0.0,
                        bool(rho < 1 and tr.risk[-1] < tr.risk[0] * rho ** 2000)))
    return rows, verdicts


def _noisy(claim, budget, ss):
    rows, verdicts = [], []
    cases = (("alternating", 0.2, -0.5), ("simultaneous", 0.05, 0.0))
    for k, (scheme, eta, beta) in enumerate(cases):
        game = BilinearGame(scheme)
        kw = dict(momentum=beta, steps=200, noise_variance=0.5)
        seed = child_seed(ss, k)
        states = game.run(eta, _S, replicas=budget.replicas, seed=seed, **kw)
        res = game_result(states, seed, dict(scheme=scheme, eta=eta, **kw))
        v = compare(game.trajectory(eta, _S, **kw), res, alpha=claim.alpha / len(cases),
                    quantities=("risk", "second_moments", "mean"))
        verdicts.append(v)
        rows.append(row_from_verdict(f"{scheme}, eta={eta}, beta={beta}, noise variance 0.5", v))
    return rows, verdicts


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
