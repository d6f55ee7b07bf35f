r"""Derivation of the exact second-moment recursion from an update rule.

The derivation takes three inputs and nothing else:

1. the algorithm's symbolic update rule (:mod:`theory.algorithms`),
2. the data model's moment rules E z_i^n (:mod:`theory.data`),
3. the least-squares gradient x (x^T p - eps) with label noise of variance
   sigma^2, averaged over a batch of B independent samples.

Step 1 (gradient moments). Write the per-sample gradient coordinate as
h_i = x_i (x_i p_i + r_i - eps) with r_i = sum_{j != i} x_j p_j independent of
x_i, E r_i = 0, E r_i^2 = S - lambda_i p_i^2 where S = sum_j lambda_j p_j^2.
Expanding and applying the moment rules gives E[h_i | p] and E[h_i^2 | p];
for the batch mean, E[g_i^2] = E[h_i^2]/B + (1 - 1/B) E[h_i]^2.

Step 2 (second moments). Expand each product s'_a s'_b of the new state as a
polynomial in g_i, replace g_i^n by its conditional moment, and replace each
product of state variables by its second-moment symbol. The coupling sum S
becomes C_k = sum_j v_j^T s_{k,j}.

Step 3 (shape). Read off the block A_i, the input u_i (coefficient of S), the
forcing f_i, the coupling v_i and the risk weights w_i of the generic
mechanism :class:`theory.linear.BlockRankOne`.
"""
from __future__ import annotations

import sympy as sp

from . import symbols as sym
from .algorithms import GRADIENT, OPTIMUM, Algorithm
from .data import DataModel
from .diskcache import persistent
from .validation import check_algorithm_and_data

__all__ = ["derive", "gradient_moments"]

_P = sp.Symbol("p_i", real=True)        # gradient point along direction i
_X = sp.Symbol("x_i", real=True)        # data coordinate i
_R = sp.Symbol("r_i", real=True)        # sum_{j != i} x_j p_j
_EPS = sp.Symbol("epsilon", real=True)  # label noise


def gradient_moments(data: DataModel, point: sp.Expr = _P):
    r"""Conditional first and second moments of the minibatch gradient coordinate.

    Returns ``(E[g_i | state], E[g_i^2 | state])`` as SymPy expressions in the
    gradient point ``point`` (p_i), the coupling symbol ``S`` (sum_j lambda_j p_j^2),
    sigma^2, lambda_i, B and the data model's kurtosis.

    For Gaussian data this gives E[g_i^2] = (lambda_i (S + sigma^2) + 2 lambda_i^2 p_i^2)/B
    + (1 - 1/B) lambda_i^2 p_i^2, the diagonal of (2 K P K + tr(K P) K + sigma^2 K)/B + (1-1/B) K P K.

    Example
    -------
    >>> from theory.data import Gaussian
    >>> sp.factor(gradient_moments(Gaussian())[0])
    lambda_i*p_i
    """
    lam, S, sigma2, B = sym.lam, sym.S, sym.sigma2, sym.B
    h = _X * (_X * _P + _R - _EPS)
    rest = {0: sp.Integer(1), 1: sp.Integer(0), 2: S - lam * _P**2}
    noise = {0: sp.Integer(1), 1: sp.Integer(0), 2: sigma2}

    def expect(expr):
        total = sp.Integer(0)
        for (a, b, c), coeff in sp.Poly(sp.expand(expr), _X, _R, _EPS).terms():
            if b > 2 or c > 2:
                raise NotImplementedError("moments of order > 2 in the rest or the noise")
            x_moment = lam ** sp.Rational(a, 2) * data.standardized_moment(a)
            total += coeff * x_moment * rest[b] * noise[c]
        return sp.expand(total)

    Eh, Eh2 = expect(h), expect(h**2)
    Eg, Eg2 = Eh, sp.expand(Eh2 / B + (1 - 1 / B) * Eh**2)
    return Eg.subs(_P, point), sp.expand(Eg2.subs(_P, point))


def _to_moments(expr, state, pairs, moments):
    """Replace each product of state variables in a quadratic form by its moment symbol."""
    out = sp.Integer(0)
    for monom, coeff in sp.Poly(sp.expand(expr), *state).terms():
        degree = sum(monom)
        if degree == 0:
            out += coeff
        elif degree == 2:
            idx = tuple(sorted(k for k, e in enumerate(monom) for _ in range(e)))
            if idx in pairs:
                out += coeff * moments[pairs.index(idx)]
            elif all(state[k] == OPTIMUM for k in idx):  # theta*^2: a forcing, not a state entry
                out += coeff * OPTIMUM**2
            else:  # pragma: no cover - every other product is a declared moment
                raise ValueError(f"no moment symbol for the product {idx} in {expr}")
        else:
            raise ValueError(f"expected a quadratic form in the state; got degree {degree} in {expr}")
    return out


def _to_means(expr, state, means):
    """Replace each state variable in a linear form by its mean symbol."""
    out = sp.Integer(0)
    for monom, coeff in sp.Poly(sp.expand(expr), *state).terms():
        if sum(monom) == 0:
            out += coeff
        elif sum(monom) == 1:
            out += coeff * means[monom.index(1)]
        else:
            raise ValueError(f"expected a linear form in the state; got {expr}")
    return out


def _linear_form(expr, state):
    """Coefficients of a linear form in the state."""
    poly = sp.Poly(sp.expand(expr), *state)
    return [poly.coeff_monomial(s) for s in state]


def derive(algorithm: Algorithm | None = None, data: DataModel | None = None):
    algorithm, data = check_algorithm_and_data(algorithm, data)
    return _derive_cached(algorithm, type(data), data.symbolic_key()).with_data(data)


@persistent
def _derive_cached(algorithm, data_type, key):
    return _derive(algorithm, data_type.from_symbolic_key(key))


def _derive(algorithm: Algorithm, data: DataModel):
    r"""Derive the exact second-moment recursion of ``algorithm`` on least squares.

    For SGD with batch size B on data with independent standardised
    coordinates of kurtosis kappa_i (Gaussian: kappa_i = 3) the result is

    .. math::
        m_{k+1,i} = \Bigl(1 - 2\gamma\lambda_i + \gamma^2\lambda_i^2\bigl(1 + \tfrac{\kappa_i - 2}{B}\bigr)\Bigr) m_{k,i}
                    + \frac{\gamma^2\lambda_i}{B}\Bigl(\sum_j \lambda_j m_{k,j} + \sigma^2\Bigr),

    with mean recursion E e_{k+1,i} = (1 - gamma lambda_i) E e_{k,i} and risk
    R_k = (sum_j lambda_j m_{k,j} + sigma^2)/2.

    Parameters
    ----------
    algorithm : Algorithm, default SGD()
    data : DataModel, default Gaussian()

    Returns
    -------
    Recursion
        Symbolic recursion with ``.latex()``, ``.critical_learning_rate(...)``,
        ``.stationary_risk(...)``, ``.risk(...)`` and ``.trajectory(...)``.

    Example
    -------
    >>> from theory import SGD, Gaussian, derive
    >>> rec = derive(SGD(), data=Gaussian())
    >>> round(rec.critical_learning_rate([1.0] * 8, batch=1), 12)   # 2/(d+2)
    0.2

    Source: the Gaussian case is eq. (3) of Bordelon & Pehlevan, arXiv:2106.02713,
    and the Volterra kernel of Paquette et al., arXiv:2102.04396, Sec. 2.
    """
    from .recursion import Recursion

    state = tuple(algorithm.state)
    n = len(state)
    pairs = [(a, b) for a in range(n) for b in range(a, n)]
    moments = [algorithm.second_moment_symbol(a, b) for a, b in pairs]
    update = [sp.expand(u) for u in algorithm.update]
    # affine rules: theta*_i joins the state as a constant; E[s_a theta*] = theta* E s_a are tracked
    # with the second moments and theta*^2 stays a (per-direction) forcing, never a state entry
    augmented, aug_pairs, aug_moments = state, pairs, moments
    if algorithm.affine:
        augmented = state + (OPTIMUM,)
        aug_pairs = pairs + [(a, n) for a in range(n)]
        aug_moments = moments + [algorithm.optimum_moment_symbol(a) for a in range(n)]
        update = update + [OPTIMUM]
    means = [sp.Symbol(f"mu_{k}", real=True) for k in range(n)]
    Eg, Eg2 = gradient_moments(data, algorithm.gradient_point)

    new_moments = []
    for a, b in aug_pairs:
        poly = sp.Poly(sp.expand(update[a] * update[b]), GRADIENT)
        if poly.degree() > 2:
            raise ValueError("the update rule must be linear in the gradient")
        c = [poly.coeff_monomial(GRADIENT**k) for k in range(3)]
        conditional = c[0] + c[1] * Eg + c[2] * Eg2
        new_moments.append(sp.expand(_to_moments(conditional, augmented, aug_pairs, aug_moments)))
    pairs, moments = aug_pairs, aug_moments

    A = sp.Matrix([[sp.factor(sp.diff(e, mm)) for mm in moments] for e in new_moments])
    u = sp.Matrix([sp.factor(sp.diff(e, sym.S)) for e in new_moments])
    zero = {mm: 0 for mm in moments} | {sym.S: 0}
    f = sp.Matrix([sp.factor(e.subs(zero)) for e in new_moments])
    vec = sp.Matrix(moments)
    for e, row in zip(new_moments, (A * vec + u * sym.S + f)):
        # expand settles it for Laurent polynomials (the usual case) at a fraction of simplify's cost
        if sp.expand(e - row) != 0 and sp.simplify(e - row) != 0:  # pragma: no cover - guards the shape claim
            raise ValueError("the derived second-moment recursion is not of block plus rank-one form")

    v_form = _to_moments(sym.lam * algorithm.gradient_point**2, augmented, pairs, moments)
    v = sp.Matrix([sp.diff(v_form, mm) for mm in moments])
    w_form = _to_moments(sym.lam * sp.expand(algorithm.observable**2), augmented, pairs, moments)
    w = sp.Matrix([sp.diff(w_form, mm) for mm in moments])

    mean_new = [_to_means(upd.subs(GRADIENT, Eg), state, means) for upd in algorithm.update]
    mean_matrix = sp.Matrix([[sp.factor(sp.diff(e, mu)) for mu in means] for e in mean_new])
    mean_forcing = sp.Matrix([sp.factor(e.subs({mu: 0 for mu in means})) for e in mean_new])
    observable = sp.Matrix([[c for c in _linear_form(algorithm.observable, state)]])

    constants = algorithm.constants
    if constants:  # numbers of the rule enter after the (symbolic, fast) derivation
        def put(m):
            return m.subs(constants)
        A, u, f, v, w, mean_matrix, mean_forcing = (put(x) for x in (A, u, f, v, w, mean_matrix, mean_forcing))
        Eg, Eg2 = Eg.subs(constants), Eg2.subs(constants)
    return Recursion(
        algorithm=algorithm, data=data, pairs=pairs, moments=moments,
        A=A, u=u, f=f, v=v, w=w, mean_matrix=mean_matrix,
        gradient_moments=(Eg, Eg2), mean_forcing=mean_forcing, observable=observable,
    )


derive.__doc__ = _derive.__doc__ + """
    The symbolic derivation is cached per (algorithm, type of data model); numeric
    parameters of the data model (e.g. kurtosis values) are attached afterwards.
"""
