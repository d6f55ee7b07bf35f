r"""Checking a user's closed form of a derived quantity: exactly, and with Monte Carlo where it can speak.

A closed form holds for a *family* of problems; the family here is the isotropic one,
K = lambda I_d, where the critical learning rate, the stationary risk, the risk at step k
and the fourth-moment threshold have closed forms (for a general spectrum they are roots
of secular equations, see :meth:`theory.Recursion.critical_learning_rate`). The user's
formula may use

=================  =====================================================================
name               meaning
=================  =====================================================================
``d``              dimension
``B``, ``batch``   batch size
``lam``            the common eigenvalue lambda (K = lambda I_d)
``kappa``          the data model's kurtosis (3 for Gaussian data)
``sigma2``         label-noise variance (stationary risk, risk at step k)
``gamma``          learning rate (stationary risk, risk at step k)
``k``, ``e0``      step and initial error per direction, e_{0,i} = e0 (risk at step k)
hyperparameters    the algorithm's declared ones, e.g. ``beta``/``momentum``
=================  =====================================================================

The exact part draws problems with Hypothesis (rational lambda, sigma^2, gamma, e0, so the
derived value is exact) and compares the formula with the value derived from the package's
recursion: an exact rational identity where the derived value is rational, otherwise
agreement to ``digits`` significant digits against a 50-digit mpmath value. On a mismatch
Hypothesis shrinks the problem to a minimal counterexample. The Monte Carlo part (one
problem at a stated size, at family-wise level ``alpha``) tests the formula's value on
simulated runs: just below / just above a critical learning rate
(:func:`verify.stats.growth`), a stationary risk (:func:`verify.stats.scalar_comparison`),
the risk curve R_0..R_K (:func:`verify.compare`). For the fourth-moment threshold Monte
Carlo cannot speak (the estimators' variances are infinite at the threshold): exact only.
"""
from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import mpmath
import numpy as np
import sympy as sp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st

from theory import SGD, Algorithm, Gaussian, derive
from theory import symbols as sym
from theory.parsing import as_expression
from theory.user import formula_names
from theory.validation import check_integer

from ..montecarlo import simulate
from ..stats import (
    Verdict,
    check_alpha,
    compare,
    exact_identity,
    growth,
    numeric_agreement,
    scalar_comparison,
)

__all__ = ["QUANTITIES", "check_closed_form", "exact_value"]

#: quantity -> (extra symbols the formula may use, what it is)
QUANTITIES = {
    "critical_learning_rate": ((), "critical learning rate gamma_c"),
    "stationary_risk": (("gamma", "sigma2"), "stationary risk R_inf"),
    "risk": (("gamma", "sigma2", "k", "e0"), "risk R_k at step k from e_{0,i} = e0"),
    "fourth_moment_threshold": ((), "fourth-moment critical learning rate gamma_c^(4)"),
}
_D, _K, _E0 = sp.Symbol("d", positive=True, integer=True), sp.Symbol("k", nonnegative=True, integer=True), \
    sp.Symbol("e0", real=True)
_EXTRA = {"d": _D, "dimension": _D, "k": _K, "step": _K, "e0": _E0, "initial": _E0}
_BASE = {_D, sym.B, sym.lam, sym.kappa}
_QUANTITY_SYMBOLS = {"gamma": sym.gamma, "sigma2": sym.sigma2, "k": _K, "e0": _E0}
#: digits of the mpmath reference values
_DPS = 50


# --------------------------------------------------------------------------- exact values
def _matrices(rec, values):
    """(a, u, f, v, w) of one direction, exact, with values substituted."""
    return [m.subs(values) for m in (rec.A, rec.u, rec.f, rec.v, rec.w)]


def exact_value(quantity, algorithm, data, problem, *, digits=12):
    r"""The derived value of ``quantity`` on the isotropic ``problem``, exact where possible.

    ``problem`` maps ``d``, ``B``, ``lam``, ``sigma2``, ``gamma``, ``k``, ``e0`` and the
    hyperparameters' names to exact numbers (int / Fraction). Directions are identical, so
    one direction's state s obeys s' = (a + d u v^T) s + f exactly (SymPy rationals) and
    R = (d w^T s + sigma^2)/2. The critical learning rate is the package's
    (:meth:`theory.Recursion.critical_learning_rate`, 50 digits), made exact when a
    rational root of det(I -+ M(gamma)) agrees with it to 40 digits; the fourth-moment
    threshold is :mod:`theory.fourth`'s (50 digits for SGD, float64 for momentum).

    Returns (value, exact) with value a SymPy Rational when exact, else an mpmath mpf.
    """
    rec = derive(algorithm, data)
    d, B, lam = int(problem["d"]), int(problem["B"]), sp.Rational(problem["lam"])
    hyper = {n: problem[n] for n in algorithm.hyperparameters if n != "learning_rate"}
    kappa = sp.nsimplify(float(data.kurtosis_values(1)[0]), rational=True)
    values = {sym.lam: lam, sym.kappa: kappa, sym.B: B,
              **{algorithm.hyperparameters[n]: sp.Rational(v) for n, v in hyper.items()}}
    if quantity in ("critical_learning_rate", "fourth_moment_threshold"):
        mp_eigs = [mpmath.mpf(lam.p) / lam.q] * d
        fhyper = {n: float(v) for n, v in hyper.items()}
        if quantity == "fourth_moment_threshold":
            from theory.fourth import derive_fourth
            fourth = derive_fourth(algorithm, data)
            if not hyper:
                return mpmath.mpf(fourth.critical_learning_rate(mp_eigs, B, dps=_DPS)), False
            return mpmath.mpf(fourth.critical_learning_rate([float(lam)] * d, B, **fhyper)), False
        ref = mpmath.mpf(rec.critical_learning_rate(mp_eigs, B, dps=_DPS, **fhyper))
        a, u, _, v, _ = _matrices(rec, values)
        M = a + d * u * v.T
        p = M.shape[0]
        for sign in (1, -1):
            poly = sp.Poly(sp.numer(sp.together((sp.eye(p) - sign * M).det())), sym.gamma)
            for root in poly.ground_roots():
                if root.is_Rational and root > 0 and abs(mpmath.mpf(root.p) / root.q - ref) < mpmath.mpf(10) ** -40 * ref:
                    return sp.Rational(root), True
        return ref, False
    gamma, sigma2 = sp.Rational(problem["gamma"]), sp.Rational(problem["sigma2"])
    values.update({sym.gamma: gamma, sym.sigma2: sigma2})
    a, u, f, v, w = _matrices(rec, values)
    M = a + d * u * v.T
    if quantity == "stationary_risk":
        s = (sp.eye(M.shape[0]) - M).LUsolve(f)
        return sp.Rational(sp.cancel((d * (w.T * s)[0] + sigma2) / 2)), True
    # risk at step k
    e0 = sp.Rational(problem["e0"])
    state = algorithm.initial_state(e0)
    s = sp.Matrix([state[i] * state[j] for i, j in rec.pairs])
    for _ in range(int(problem["k"])):
        s = M * s + f
    return sp.Rational(sp.cancel((d * (w.T * s)[0] + sigma2) / 2)), True


def _user_value(expr, problem, algorithm):
    sub = {_D: problem["d"], sym.B: problem["B"], sym.lam: sp.Rational(problem["lam"]),
           sym.kappa: problem["kappa"]}
    for key, s in (("gamma", sym.gamma), ("sigma2", sym.sigma2), ("k", _K), ("e0", _E0)):
        if key in problem:
            sub[s] = sp.Rational(problem[key])
    for n, s in algorithm.hyperparameters.items():
        if n in problem:
            sub[s] = sp.Rational(problem[n])
    return expr.subs(sub)


def _compare_one(expr, quantity, algorithm, data, problem, digits):
    ref, exact = exact_value(quantity, algorithm, data, problem, digits=digits)
    user = _user_value(expr, problem, algorithm)
    params = {k: (str(v) if isinstance(v, Fraction) else v) for k, v in problem.items()}
    label = f"{QUANTITIES[quantity][1]}: your formula vs the derived value"
    if exact and user.is_Rational:
        return exact_identity(Fraction(int(user.p), int(user.q)), Fraction(int(ref.p), int(ref.q)),
                              label=label, parameters=params)
    try:
        u = sp.N(user, _DPS)
        if not u.is_real or not u.is_finite:
            raise TypeError
        u = mpmath.mpf(str(u))
    except (TypeError, ValueError):
        return Verdict(False, float("inf"), 0.0, 0.0, 0, None, params, None, kind="exact",
                       test=f"your formula gives {user}, not a finite real number", label=label)
    refm = mpmath.mpf(ref.p) / ref.q if isinstance(ref, sp.Rational) else ref
    return numeric_agreement(u, refm, digits, label=label, parameters=params)


# --------------------------------------------------------------------------- drawing problems
def _problems(quantity, algorithm, data, hyper, dimensions, batches, eigenvalue):
    names = [n for n in algorithm.hyperparameters if n != "learning_rate"]
    hyper_st = st.fixed_dictionaries({n: st.sampled_from([Fraction(v).limit_denominator(1000) for v in hyper[n]])
                                      for n in names})
    base = st.fixed_dictionaries({
        "d": st.integers(*dimensions), "B": st.integers(*batches),
        "lam": (st.just(eigenvalue) if eigenvalue is not None else
                st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(2), Fraction(1, 4), Fraction(3, 2)]))})
    extra = {}
    if quantity in ("stationary_risk", "risk"):
        extra["fraction"] = st.sampled_from([Fraction(1, 4), Fraction(1, 2), Fraction(1, 3), Fraction(3, 4)])
        extra["sigma2"] = st.sampled_from([Fraction(1), Fraction(0), Fraction(1, 4), Fraction(2)])
    if quantity == "risk":
        extra["k"] = st.integers(0, 40)
        extra["e0"] = st.sampled_from([Fraction(1), Fraction(1, 2), Fraction(-2)])
    return st.builds(lambda b, h, e: {**b, **h, **e}, base, hyper_st, st.fixed_dictionaries(extra))


def _resolve(problem, quantity, algorithm, data):
    """Fill in kappa and, for a learning rate drawn as a fraction of gamma_c, gamma (rational)."""
    problem = dict(problem)
    problem["kappa"] = sp.nsimplify(float(data.kurtosis_values(1)[0]), rational=True)
    if "fraction" in problem:
        fraction = problem.pop("fraction")
        gc, _ = exact_value("critical_learning_rate", algorithm, data, problem)
        gc = Fraction(int(gc.p), int(gc.q)) if isinstance(gc, sp.Rational) else Fraction(str(gc)).limit_denominator(
            10**9)
        problem["gamma"] = fraction * gc
    return problem


# --------------------------------------------------------------------------- Monte Carlo
def _monte_carlo(expr, quantity, algorithm, data, hyper, alpha, replicas, seed, mc_dimension, eigenvalue, batch):
    """The Monte Carlo verdicts (each at alpha / number of tests) on one isotropic problem."""
    rec = derive(algorithm, data)
    names = [n for n in algorithm.hyperparameters if n != "learning_rate"]
    h = {n: hyper[n][0] for n in names}
    hp = {n: Fraction(v).limit_denominator(1000) for n, v in h.items()}
    d = mc_dimension
    lam0 = eigenvalue if eigenvalue is not None else Fraction(1)
    lam = np.full(d, float(lam0))
    base = {"d": d, "B": batch, "lam": lam0, **hp}
    if quantity == "critical_learning_rate":
        problem = _resolve(base, quantity, algorithm, data)
        g_user = float(sp.N(_user_value(expr, problem, algorithm)))
        if not (math.isfinite(g_user) and g_user > 0):
            return [Verdict(False, float("inf"), 0.0, alpha, 1, None, problem, None, kind="growth",
                            label=f"your gamma_c = {g_user} is not a positive number")]
        from ..stats.laws import fourth_moment_critical_learning_rate
        gc4 = fourth_moment_critical_learning_rate(rec, lam, batch, **h)
        out = []
        tests = [(0.9, "less"), (1.1, "greater")]
        if gc4 is not None and 0.9 * g_user >= gc4:
            tests = tests[1:]  # no valid t-test above gamma_c^(4): divergence only
        for j, (factor, direction) in enumerate(tests):
            gamma = factor * g_user
            rho = rec.spectral_radius(lam, gamma, batch, **h)
            steps = int(min(4000, max(50, math.ceil(2.0 / max(abs(math.log(rho)), 1e-9)))))
            res = simulate(algorithm, data=data, eigenvalues=lam, learning_rate=gamma, batch=batch, noise_variance=0.0,
                           initial=1.0, steps=steps, replicas=replicas, seed=[seed, 17, j], **h)
            r0, last = float(res.risk[0]), res.replica_block_risk[:, -1]
            params = dict(d=d, batch=batch, eigenvalues=f"{d} x {lam0}", learning_rate=gamma, steps=steps, **h)
            level = alpha / len(tests)
            if direction == "less":
                out.append(growth(r0, last, direction="less", alpha=level, parameters=params, seed=res.seed,
                                  label=f"at 0.9 x your gamma_c the late risk stays below R_0 (d = {d})"))
            else:
                out.append(growth(r0, last, method="markov", factor=2.0, alpha=level, parameters=params,
                                  seed=res.seed, label=f"at 1.1 x your gamma_c the risk grows (d = {d})"))
        return out
    if quantity == "fourth_moment_threshold":
        return []
    from ..claims.sgd import stationary_monte_carlo
    base.update(fraction=Fraction(2, 5), sigma2=Fraction(1))
    problem = _resolve(base, quantity, algorithm, data)
    gamma = float(problem["gamma"])
    if quantity == "stationary_risk":
        user = float(sp.N(_user_value(expr, problem, algorithm)))
        _, _, samples, res, window = stationary_monte_carlo(rec, algorithm, data, lam, gamma, batch, 1.0, replicas,
                                                            [seed, 23], tolerance=1e-7, **h)
        params = dict(d=d, batch=batch, noise_variance=1.0, learning_rate=gamma, window=list(window), **h)
        if not math.isfinite(user):
            return [Verdict(False, float("inf"), 0.0, alpha, 1, None, params, None, kind="scalar",
                            label=f"your R_inf = {user} is not finite")]
        return [scalar_comparison(user, samples, alpha=alpha, parameters=params, seed=res.seed,
                                  label=f"Monte Carlo risk averaged over steps {window[0]}..{window[1]} vs your "
                                        f"R_inf (d = {d})")]
    steps = 40
    kw = dict(eigenvalues=lam, learning_rate=gamma, batch=batch, noise_variance=1.0, initial=1.0, steps=steps, **h)
    tr = rec.trajectory(**kw)
    risk = np.array([float(sp.N(_user_value(expr, dict(problem, k=k, e0=1), algorithm))) for k in range(steps + 1)])
    if not np.all(np.isfinite(risk)):
        return [Verdict(False, float("inf"), 0.0, alpha, 1, None, dict(d=d), None, kind="series",
                        label="your R_k is not finite")]
    user_tr = dataclasses.replace(tr, risk=risk)
    res = simulate(algorithm, data=data, replicas=replicas, seed=[seed, 29], **kw)
    return [compare(user_tr, res, alpha=alpha, quantities=("risk",), parameters=dict(d=d, batch=batch, steps=steps, **h),
                    label=f"Monte Carlo risk R_0..R_{steps} vs your formula (d = {d})")]


# --------------------------------------------------------------------------- the check
def check_closed_form(expr, quantity, algorithm=None, data=None, *, hyper=None, examples: int = 25,
                      digits: float = 12, monte_carlo: bool = True, replicas: int = 2000, alpha: float = 1e-6,
                      seed: int = 0, dimensions=(1, 64), batches=(1, 4), eigenvalue=None,
                      mc_dimension: int | None = None):
    r"""Check a user's closed form of a critical learning rate, stationary risk, risk at step k or
    fourth-moment threshold on isotropic problems K = lambda I_d (see the module docstring).

    Parameters
    ----------
    expr : sympy.Expr or str
        The formula, in the names of the module docstring (strings are parsed by the
        restricted parser :func:`theory.parsing.parse_expression`; no code runs).
    quantity : {"critical_learning_rate", "stationary_risk", "risk", "fourth_moment_threshold"}
    algorithm : theory.Algorithm, default SGD()
    data : theory.DataModel with one kurtosis for every coordinate, default Gaussian()
    hyper : mapping name -> value or list of values, optional
        The algorithm's other hyperparameters (e.g. ``{"momentum": [0.25, 0.5]}``); a list is
        sampled by Hypothesis. Required when the algorithm has any.
    examples : int >= 1
        Hypothesis examples of the exact part (shrinking of a counterexample comes on top).
    digits : float > 0
        Significant digits required where the derived value is not rational.
    monte_carlo : bool
        Run the Monte Carlo part (not for ``fourth_moment_threshold``).
    replicas : int >= 2
    alpha : float in (0, 1)
        Family-wise false-failure probability of the Monte Carlo part (the exact part has none).
    seed : int >= 0
        Seeds Hypothesis and the Monte Carlo streams.
    dimensions, batches : (int, int)
        Ranges of d and B drawn (the Monte Carlo problem uses the smallest B).
    eigenvalue : exact number > 0 (int, Fraction, decimal string), optional
        Fix lambda (e.g. 1 for K = I_d); default drawn from {1, 1/2, 2, 1/4, 3/2}.
    mc_dimension : int, optional
        d of the Monte Carlo problem; default 64 for the critical learning rate (the risk
        self-averages, so just-above-threshold runs diverge in most replicas), 16 otherwise.

    Returns
    -------
    Verdict
        Passed iff every exact example agrees and the Monte Carlo family passes. On a failure of the
        exact part: kind ``"exact"`` or ``"numeric"``, ``parameters`` the shrunk counterexample (with
        ``parameters["derived"]`` and ``parameters["yours"]``); otherwise the Monte Carlo verdicts
        combined by Bonferroni. ``members`` lists every part; ``parameters["exact_examples"]`` the
        number of exact examples checked.

    Raises
    ------
    ValueError
        Unknown quantity, a formula with names not allowed for it, bad arguments (named).

    Example
    -------
    >>> right = check_closed_form("2*B/(lam*(d + B + kappa - 2))", "critical_learning_rate", examples=5,
    ...                           monte_carlo=False)
    >>> wrong = check_closed_form("2/(d + 1)", "critical_learning_rate", examples=5, monte_carlo=False)
    >>> right.passed, wrong.passed, wrong.parameters["d"], wrong.parameters["B"]
    (True, False, 1, 1)

    Source: gamma_c = 2B/(lambda (d + B + kappa - 2)) on K = lambda I_d follows from the secular
    equation of Paquette et al., arXiv:2102.04396 (SGD); the package derives its own.
    """
    algorithm = SGD() if algorithm is None else algorithm
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"algorithm must be a theory.Algorithm; got {algorithm!r}")
    data = Gaussian() if data is None else data
    kap = np.atleast_1d(np.asarray(data.kurtosis_values(2), dtype=float))
    if np.ptp(kap) != 0:
        raise ValueError(f"data must have one kurtosis for every coordinate (isotropic problems); got {data!r}")
    if quantity not in QUANTITIES:
        raise ValueError(f"quantity must be one of {sorted(QUANTITIES)}; got {quantity!r}")
    examples = check_integer(examples, "examples", 1)
    replicas = check_integer(replicas, "replicas", 2)
    alpha = check_alpha(alpha)
    seed = check_integer(seed, "seed", 0)
    if not (isinstance(digits, (int, float)) and not isinstance(digits, bool) and 0 < digits <= 40):
        raise ValueError(f"digits must be a number in (0, 40]; got {digits!r}")
    dimensions = _range(dimensions, "dimensions", 1)
    if eigenvalue is not None:
        try:
            eigenvalue = Fraction(eigenvalue) if not isinstance(eigenvalue, (bool, float)) else None
        except (TypeError, ValueError):
            eigenvalue = None
        if eigenvalue is None or eigenvalue <= 0:
            raise ValueError("eigenvalue must be an exact number > 0 (int, Fraction or decimal string)")
    batches = _range(batches, "batches", 1)
    names_h = [n for n in algorithm.hyperparameters if n != "learning_rate"]
    hyper = {n: [float(x) for x in np.atleast_1d(v)] for n, v in dict(hyper or {}).items()}
    if sorted(hyper) != sorted(names_h):
        raise ValueError(f"hyper must give exactly {sorted(names_h)} for {algorithm!r}; got {sorted(hyper)}")
    for n in names_h:
        for x in hyper[n]:
            algorithm.check_hyperparameters({"learning_rate": 1.0, **{m: hyper[m][0] for m in names_h}, n: x})
    allowed = _BASE | set(algorithm.hyperparameters.values()) - {sym.gamma} | {
        _QUANTITY_SYMBOLS[x] for x in QUANTITIES[quantity][0]}
    names = {k: v for k, v in formula_names(algorithm, _EXTRA).items() if v in allowed}
    expr = as_expression(expr, names, argument="expr")
    unknown = expr.free_symbols - allowed
    if unknown:
        raise ValueError(f"expr uses {sorted(map(str, unknown))}, not allowed for quantity={quantity!r}; allowed "
                         f"names: {sorted(names)}")

    failures, checked = [], []

    @settings(max_examples=examples, database=None, deadline=None, derandomize=False,
              phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck))
    @hyp_seed(seed)
    @given(_problems(quantity, algorithm, data, hyper, dimensions, batches, eigenvalue))
    def exact_part(drawn):
        problem = _resolve(drawn, quantity, algorithm, data)
        with mpmath.workdps(_DPS):
            v = _compare_one(expr, quantity, algorithm, data, problem, digits)
        checked.append(v)
        if not v.passed:
            failures.append((problem, v))
            raise AssertionError("mismatch")

    try:
        exact_part()
    except AssertionError:
        pass
    if failures:
        problem, v = failures[-1]  # Hypothesis replays the shrunk example last
        with mpmath.workdps(_DPS):
            ref, _ = exact_value(quantity, algorithm, data, problem, digits=digits)
            ref = str(ref) if isinstance(ref, sp.Basic) else mpmath.nstr(ref, int(digits) + 3)
        params = dict(v.parameters, derived=ref, yours=str(_user_value(expr, problem, algorithm)),
                      drawn=dict(failures[0][1].parameters), exact_examples=len(checked))
        return dataclasses.replace(v, parameters=params, label=f"{QUANTITIES[quantity][1]}: your formula "
                                                               "differs from the derived value")
    exact_row = dict(name=f"{QUANTITIES[quantity][1]}: {len(checked)} exact examples agree", statistic=0.0,
                     p_value=1.0, alpha=0.0)
    mc = []
    if monte_carlo:
        d_mc = mc_dimension if mc_dimension is not None else (64 if quantity == "critical_learning_rate" else 16)
        mc = _monte_carlo(expr, quantity, algorithm, data, hyper, alpha, replicas, seed,
                          check_integer(d_mc, "mc_dimension", 1), eigenvalue, batches[0])
    if not mc:
        return Verdict(True, 0.0, 1.0, 0.0, 0, None, dict(exact_examples=len(checked)), None, kind="exact",
                       test="exact arithmetic (SymPy) / mpmath", label=exact_row["name"], members=[exact_row])
    return _family(mc, alpha, exact_row, len(checked), f"{QUANTITIES[quantity][1]}: exact and Monte Carlo")


def _family(verdicts, alpha, exact_row, n_exact, label):
    """Bonferroni over Monte Carlo tests of one kind, each run at alpha / m.

    Two-sided comparisons (series, scalar) pass iff p > alpha / m each: family p = m min p.
    Growth tests pass iff they reject their null, p <= alpha / m each: family p = m max p.
    A failing member is reported as the verdict (its problem is the counterexample).
    """
    m = len(verdicts)
    members = [exact_row] + [dict(name=v.label, statistic=v.statistic, p_value=v.p_value, alpha=alpha / m)
                             for v in verdicts]
    extra = dict(exact_examples=n_exact)
    failed = [v for v in verdicts if not v.passed]
    if failed:
        v = failed[0]
        return dataclasses.replace(v, parameters=dict(v.parameters, **extra), members=members,
                                   label=label + ": " + v.label)
    growth_kind = all(v.kind == "growth" for v in verdicts)
    key = (lambda v: v.p_value) if growth_kind else (lambda v: -v.p_value)
    worst = max(verdicts, key=key)
    p = min(1.0, m * worst.p_value)
    return dataclasses.replace(worst, passed=True, p_value=p, alpha=alpha, comparisons=sum(v.comparisons for v in verdicts),
                               parameters=dict(worst.parameters, **extra), members=members, label=label,
                               test=f"Bonferroni over {m} Monte Carlo tests, after {n_exact} exact examples")


def _range(value, name, low):
    try:
        lo, hi = (int(x) for x in value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (min, max) of integers >= {low}; got {value!r}") from None
    if not (low <= lo <= hi):
        raise ValueError(f"{name} must be a pair (min, max) of integers with {low} <= min <= max; got {value!r}")
    return lo, hi
