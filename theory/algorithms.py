"""Algorithms as values, each with its update rule written once, symbolically.

An algorithm acts on a per-eigendirection *state* (for SGD the error
e_i = theta_i - theta*_i). Its update rule is a tuple of SymPy expressions for
the new state in terms of the old state, the hyperparameters and the symbol
``g_i``, the i-th coordinate of the minibatch gradient evaluated at the
*gradient point* (a linear function of the state). The derivation
(:func:`theory.derive`) takes expectations of this rule; the Monte Carlo
engine (:func:`verify.simulate`) compiles and executes the same expressions.

An :class:`Algorithm` is an immutable value: equal and hashed by its type *and*
its parameters (the attributes set by its constructor), so ``derive(A(p1))`` and
``derive(A(p2))`` are two derivations. It declares as data

* ``state`` — the per-direction state symbols (the first is the error e_i);
* ``hyperparameter_spec`` — one :class:`theory.hyperparameters.Hyperparameter` per
  hyperparameter (name, symbol, allowed interval, schedulable, per-direction, default);
  ``hyperparameters`` is the derived mapping name -> symbol;
* ``gradient_point`` — where the minibatch gradient is evaluated (linear in the state);
* ``update`` — the new state (linear in the state, the gradient and theta*);
* ``observable`` — the linear combination of the state the risk is measured on,
  R_k = (1/2)(sum_i lambda_i E o_{k,i}^2 + sigma^2) (e_i for SGD, heavy ball and Nesterov —
  Nesterov's risk is on e_k, not on its extrapolated point — and the averaged error for
  :class:`IterateAveraging`);
* ``latex_names`` — symbol -> LaTeX, for every symbol that can be printed.

It is validated when built: a rule that is not linear in the gradient, a state/update
length mismatch, or a symbol that is neither state, gradient nor declared hyperparameter
raises ``ValueError`` (``TypeError`` for objects that are not SymPy expressions).

*Affine rules.* A rule may contain the optimum theta*_i (:data:`OPTIMUM`, e.g. weight decay
pulls theta = e + theta* toward the origin). Such an algorithm declares the per-direction
hyperparameter ``optimum`` (theta*_i in the eigenbasis, default 0); the derivation then
tracks theta*_i E s_{k,i} jointly with the second moments and treats theta*_i^2 as forcing.
The initial error is ``initial`` = e_0 = theta_0 - theta* as everywhere else; theta_0 =
e_0 + theta* (so theta_0 = 0 is ``initial = -optimum``).
"""
from __future__ import annotations

import functools
import inspect
import math

import numpy as np
import sympy as sp

from . import symbols as sym
from .hyperparameters import NONNEGATIVE, POSITIVE, REAL, Hyperparameter, Interval

__all__ = ["Algorithm", "SGD", "HeavyBall", "Nesterov", "GeneralizedMomentum", "IterateAveraging",
           "PreconditionedSGD", "GRADIENT", "OPTIMUM", "polyak_ruppert"]

#: the i-th coordinate of the minibatch gradient, g_i = (1/B) sum_b x_{b,i} (x_b^T p - eps_b)
GRADIENT = sp.Symbol("g_i", real=True)
#: the optimum theta*_i along eigendirection i (appears in affine rules such as weight decay)
OPTIMUM = sp.Symbol("theta^*_i", real=True)

#: the learning rate, shared by every algorithm
LEARNING_RATE = Hyperparameter("learning_rate", sym.gamma, POSITIVE, latex=r"\gamma",
                               description="learning rate gamma (no 1/d scaling)")
#: theta*_i, declared by affine algorithms
OPTIMUM_SPEC = Hyperparameter("optimum", OPTIMUM, REAL, per_direction=True, default=0.0, latex=r"\theta^*_i",
                              description="optimum theta*_i in the eigenbasis (initial error e_0 = theta_0 - theta*)")


def _freeze(value):
    """A hashable, order-stable stand-in for a parameter value (arrays and lists become tuples)."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.shape, tuple(value.ravel().tolist()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((repr(k), _freeze(v)) for k, v in value.items()))
    hash(value)
    return value


def _linear_coefficients(expr, variables, what):
    """Coefficients of ``expr`` as a homogeneous linear form in ``variables``; ValueError otherwise."""
    try:
        poly = sp.Poly(sp.expand(expr), *variables)
    except sp.PolynomialError as exc:
        raise ValueError(f"{what} must be linear in {list(variables)}; got {expr}") from exc
    if poly.total_degree() > 1:
        raise ValueError(f"{what} must be linear in {list(variables)}; got degree {poly.total_degree()} in {expr}")
    if poly.coeff_monomial(1) != 0:
        raise ValueError(f"{what} must be linear and homogeneous in {list(variables)} (an affine term must be a "
                         f"multiple of the optimum theta*_i); got the constant term {poly.coeff_monomial(1)} in {expr}")
    return [poly.coeff_monomial(v) for v in variables]


@functools.lru_cache(maxsize=4096)
def _check_linear(expr, state, is_update, where):
    """The SymPy linearity checks of one expression of an update rule (ValueError naming ``where``).

    An update must be linear in the gradient g_i and a homogeneous linear form in (state, g_i, theta*_i);
    the gradient point and the observable linear forms in the state only. Memoised on the expression
    (SymPy expressions hash by structure): an algorithm is constructed again and again with the same rule,
    and the polynomial checks cost milliseconds each. A failing check raises every time (exceptions are
    not cached).
    """
    if is_update:
        try:
            deg = sp.Poly(sp.expand(expr), GRADIENT).degree()
        except sp.PolynomialError as exc:
            raise ValueError(f"{where} must be linear in the gradient g_i; got {expr}") from exc
        if deg > 1:
            raise ValueError(f"{where} must be linear in the gradient g_i; got degree {deg} in {expr}")
        _linear_coefficients(expr, [*state, GRADIENT, OPTIMUM], where)
    else:
        if GRADIENT in expr.free_symbols or OPTIMUM in expr.free_symbols:
            raise ValueError(f"{where} must be a linear form in the state only (no gradient, no theta*); got {expr}")
        _linear_coefficients(expr, list(state), where)


class _AlgorithmMeta(type):
    """Runs the validation and freezes the instance once its constructor has finished."""

    def __call__(cls, *args, **kwargs):
        obj = super().__call__(*args, **kwargs)
        obj._finalize()
        return obj


class Algorithm(metaclass=_AlgorithmMeta):
    """Base class of an update rule on a per-direction state: an immutable value.

    Subclasses declare ``state``, ``hyperparameter_spec`` (or, in the older form, a mapping
    ``hyperparameters`` name -> symbol), ``gradient_point``, ``update`` and optionally
    ``observable`` (default: the first state variable), ``symbol_latex`` (LaTeX of their own
    symbols), :meth:`initial_state` and :meth:`second_moment_symbol`. Any of these may be a
    property computed from constructor parameters; the attributes a constructor sets are the
    algorithm's parameters (equality, hash, repr). Nothing private needs overriding.

    Example
    -------
    >>> import sympy as sp
    >>> from theory import symbols as sym
    >>> e = sp.Symbol("e_i", real=True)
    >>> class Scaled(Algorithm):
    ...     state = (e,)
    ...     gradient_point = e
    ...     def __init__(self, c=1):
    ...         self.c = c
    ...     @property
    ...     def update(self):
    ...         return (e - self.c * sym.gamma * GRADIENT,)
    >>> Scaled(2) == Scaled(2), Scaled(2) == Scaled(1)
    (True, False)
    """

    name = "algorithm"
    source = ""
    state: tuple = ()
    gradient_point: sp.Expr = sp.Integer(0)
    update: tuple = ()
    #: LaTeX of the algorithm's own symbols (merged into :attr:`latex_names`)
    symbol_latex: dict = {}

    # ------------------------------------------------------------------ declared data
    @property
    def hyperparameter_spec(self) -> tuple:
        """The hyperparameters as data (tuple of :class:`Hyperparameter`, learning rate first)."""
        declared = None
        for klass in type(self).__mro__:
            if "hyperparameters" in vars(klass) and not isinstance(vars(klass)["hyperparameters"], property):
                declared = vars(klass)["hyperparameters"]
                break
        if declared is None:
            return (LEARNING_RATE,)
        return tuple(LEARNING_RATE if n == "learning_rate" and s == sym.gamma else
                     (OPTIMUM_SPEC if s == OPTIMUM else Hyperparameter(n, s, REAL, schedulable=True))
                     for n, s in declared.items())

    @property
    def hyperparameters(self) -> dict:
        """name -> symbol, in the order of :attr:`hyperparameter_spec`."""
        return {h.name: h.symbol for h in self.hyperparameter_spec}

    @property
    def observable(self) -> sp.Expr:
        """The linear combination o_i of the state on which the risk R = (sum_i lambda_i E o_i^2 + sigma^2)/2 is measured."""
        return self.state[0]

    @property
    def affine(self) -> bool:
        """Whether the rule contains the optimum theta*_i (then the derivation tracks means jointly)."""
        return any(OPTIMUM in sp.sympify(u).free_symbols for u in self.update)

    @property
    def constants(self) -> dict:
        """symbol -> number: named numeric constants of the rule (e.g. SGD's weight decay w).

        The rule is written and derived with the symbols; the numbers are substituted into the
        derived recursion and the compiled Monte Carlo rule (exact derivations stay fast whatever
        the number, e.g. a subnormal float).
        """
        return {}

    @property
    def parameters(self) -> dict:
        """The constructor's parameters (what makes two algorithms of one type differ)."""
        return dict(self.__dict__.get("_params", {}))

    @property
    def latex_names(self) -> dict:
        """symbol -> LaTeX for every symbol of the rule and of its derived recursion."""
        names = {**sym.LATEX_NAMES, GRADIENT: r"g_{k,i}", self.state[0]: r"e_{k,i}", OPTIMUM: r"\theta^*_i",
                 WEIGHT_DECAY: "w"}
        names.update({h.symbol: h.latex or sp.latex(h.symbol) for h in self.hyperparameter_spec})
        names.update(self.symbol_latex)
        n = len(self.state)
        for a in range(n):
            if self.state[a] not in names:
                continue   # an undeclared state variable: theory.latex_recursion names it and its moments
            for b in range(a, n):
                s = self.second_moment_symbol(a, b)
                if s not in names and self.state[b] in names:
                    names[s] = r"\mathbb{E}\," + names.get(self.state[a], sp.latex(self.state[a])) + " " + \
                        names.get(self.state[b], sp.latex(self.state[b]))
            q = self.optimum_moment_symbol(a)
            names.setdefault(q, r"\theta^*_i\,\mathbb{E}\," + names.get(self.state[a], sp.latex(self.state[a])))
        return names

    def initial_state(self, error):
        """Initial value of each state variable given the initial error e_0 (default: e_0, then zeros)."""
        zero = np.zeros_like(np.asarray(error, dtype=float))
        return (error,) + tuple(zero for _ in self.state[1:])

    def second_moment_symbol(self, a: int, b: int) -> sp.Symbol:
        """Symbol of E[s_a s_b] (a <= b) in the per-direction state."""
        return sym.m if (a, b) == (0, 0) else sp.Symbol(f"m_i^({a}{b})", real=True)

    def optimum_moment_symbol(self, a: int) -> sp.Symbol:
        """Symbol of theta*_i E[s_a] (affine rules only)."""
        return sp.Symbol(f"q_i^({a})", real=True)

    def check_hyperparameters(self, values: dict) -> None:
        """Raise ValueError if a value lies outside its declared interval (see :func:`bind_hyperparameters`).

        Subclasses may override it for a constraint between several hyperparameters.
        """
        from .hyperparameters import bind_hyperparameters
        bind_hyperparameters(self, values)

    def latex_update(self) -> str:
        """The update rule as rows ``s_{k+1,i} &= ...`` of an ``align*`` environment, printed from
        :attr:`update` (a plain shift such as e_{k,i} = e_{k,i} is left out)."""
        from .latex_recursion import update_rows
        return " \\\\\n".join(update_rows(self))

    def _names(self):
        """Deprecated alias of :attr:`latex_names` (kept for theory.latex until it switches)."""
        return self.latex_names

    # ------------------------------------------------------------------ value semantics
    def _finalize(self):
        object.__setattr__(self, "_params", {k: v for k, v in self.__dict__.items() if not k.startswith("_")})
        object.__setattr__(self, "_key", _freeze(self._params))
        self._validate()
        object.__setattr__(self, "_frozen", True)

    def _validate(self):
        state = tuple(self.state)
        if not state:
            raise ValueError(f"{type(self).__name__}.state must hold at least one symbol (the error e_i)")
        for s in state:
            if not isinstance(s, sp.Symbol):
                raise TypeError(f"{type(self).__name__}.state must be SymPy symbols; got {s!r}")
        if len(set(state)) != len(state):
            raise ValueError(f"{type(self).__name__}.state has a repeated symbol: {state}")
        spec = self.hyperparameter_spec
        names = [h.name for h in spec]
        if len(set(names)) != len(names) or len({h.symbol for h in spec}) != len(spec):
            raise ValueError(f"{type(self).__name__} declares a hyperparameter name or symbol twice: {names}")
        if not names or names[0] != "learning_rate":
            raise ValueError(f"{type(self).__name__}: the first hyperparameter must be learning_rate; got {names}")
        hyper = {h.symbol for h in spec}
        if set(state) & (hyper | {GRADIENT}):
            raise ValueError(f"{type(self).__name__}: a state symbol is also the gradient or a hyperparameter")
        update = tuple(self.update)
        if len(update) != len(state):
            raise ValueError(f"{type(self).__name__}.update has {len(update)} expression(s) but the state has "
                             f"{len(state)} variable(s); give one new value per state variable")
        allowed = set(state) | {GRADIENT} | hyper | set(self.constants)
        for what, expr in [*((f"update[{a}]", u) for a, u in enumerate(update)),
                           ("gradient_point", self.gradient_point), ("observable", self.observable)]:
            try:
                expr = sp.sympify(expr, strict=True)
            except (sp.SympifyError, TypeError) as exc:
                raise TypeError(f"{type(self).__name__}.{what} must be a SymPy expression; got {expr!r}") from exc
            unknown = expr.free_symbols - allowed
            if unknown:
                raise ValueError(
                    f"{type(self).__name__}.{what} uses {sorted(map(str, unknown))}, which is neither a state "
                    f"variable {[str(s) for s in state]}, the gradient g_i nor a declared hyperparameter "
                    f"{[str(s) for s in hyper]}" + ("; declare the hyperparameter 'optimum' (OPTIMUM_SPEC) to use "
                                                    "theta*_i" if OPTIMUM in unknown else ""))
            _check_linear(expr, state, what.startswith("update"), f"{type(self).__name__}.{what}")

    def __setattr__(self, key, value):
        if self.__dict__.get("_frozen"):
            raise AttributeError(f"{type(self).__name__} is immutable (an algorithm is a value); build a new one "
                                 f"instead of setting {key!r}")
        object.__setattr__(self, key, value)

    def __delattr__(self, key):
        if self.__dict__.get("_frozen"):
            raise AttributeError(f"{type(self).__name__} is immutable; cannot delete {key!r}")
        object.__delattr__(self, key)

    def __eq__(self, other):
        return type(self) is type(other) and self.__dict__.get("_key") == other.__dict__.get("_key")

    def __hash__(self):
        return hash((type(self).__module__, type(self).__qualname__, self.__dict__.get("_key")))

    def __repr__(self):
        params = self.__dict__.get("_params", {})
        try:
            defaults = {k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()}
        except (TypeError, ValueError):  # pragma: no cover
            defaults = {}
        shown = []
        for k, v in params.items():
            d = defaults.get(k, inspect.Parameter.empty)
            try:
                same = d is not inspect.Parameter.empty and bool(v == d)
            except (TypeError, ValueError):
                same = False
            if not same:
                shown.append(f"{k}={v!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def _exact(value, name, interval):
    """A number for a constructor parameter of an update rule, as an exact SymPy number."""
    if isinstance(value, (bool, str, bytes)) or not (isinstance(value, (int, float, sp.Rational))
                                                     or type(value).__name__ in ("Fraction", "mpf")):
        raise ValueError(f"{name} must be a real number in {interval}; got {value!r}")
    if not interval.contains(float(value)):
        raise ValueError(f"{name} must {interval.requirement()}; got {value!r}")
    return value


def _to_sympy(value):
    if isinstance(value, float):
        return sp.Rational(repr(value)) if math.isfinite(value) else sp.Float(value)
    return sp.nsimplify(value) if not isinstance(value, int) else sp.Integer(value)


_E = sp.Symbol("e_i", real=True)
_E_PREV = sp.Symbol("e_i^prev", real=True)


#: the weight decay w of :class:`SGD` (a constant of the rule; its value is part of the algorithm)
WEIGHT_DECAY = sp.Symbol("w", nonnegative=True)


class SGD(Algorithm):
    r"""Minibatch stochastic gradient descent on least squares, optionally with weight decay.

    .. math::
        \theta_{k+1} = \theta_k - \gamma\,\bigl(g_k + w\,\theta_k\bigr),\qquad
        g_k = \frac1B \sum_{b=1}^B x_{k,b}\,(\langle x_{k,b}, \theta_k\rangle - y_{k,b}),

    so the error e = theta - theta* obeys e_{k+1,i} = e_{k,i} - gamma g_{k,i} - gamma w (e_{k,i} + theta*_i)
    with the gradient evaluated at e_k. ``weight_decay`` w >= 0 (a number, part of the algorithm's
    value, default 0: plain SGD) is ridge regularisation toward the origin, the gradient step on
    (1/2) E (<x, theta> - y)^2 + (w/2) times the squared norm of theta; for w > 0 the rule is affine and the algorithm
    has the per-direction hyperparameter ``optimum`` theta*_i (default 0). The stationary mean is the
    ridge solution, E e_inf,i = -w theta*_i/(lambda_i + w), whose bias adds
    lambda_i w^2 theta*_i^2/(lambda_i + w)^2 / 2 to the risk. Learning rate gamma is not scaled by
    1/d; time is the step count k.

    Raises ValueError unless 0 <= weight_decay < inf.

    Example
    -------
    >>> SGD().update
    (e_i - g_i*gamma,)
    >>> SGD(weight_decay=0.5).update, SGD(weight_decay=0.5).constants
    ((e_i - g_i*gamma - gamma*w*(e_i + theta^*_i),), {w: 1/2})

    Source: classical; see Bordelon & Pehlevan, arXiv:2106.02713, and Paquette et al.,
    arXiv:2102.04396; weight decay as ridge: e.g. Hastie et al., The Elements of Statistical
    Learning, eq. (3.44).
    """

    name = "sgd"
    state = (_E,)
    gradient_point = _E
    source = "Bordelon & Pehlevan, arXiv:2106.02713; Paquette et al., arXiv:2102.04396"

    def __init__(self, weight_decay=0):
        self.weight_decay = _exact(weight_decay, "weight_decay", NONNEGATIVE)

    @property
    def hyperparameter_spec(self):
        """The hyperparameters as data (see :class:`Algorithm`)."""
        return (LEARNING_RATE,) + ((OPTIMUM_SPEC,) if self.weight_decay else ())

    @property
    def update(self):
        """The new state (see :class:`Algorithm`)."""
        if not self.weight_decay:
            return (_E - sym.gamma * GRADIENT,)
        return (_E - sym.gamma * GRADIENT - sym.gamma * WEIGHT_DECAY * (_E + OPTIMUM),)

    @property
    def constants(self):
        """Named numbers of the rule (see :attr:`Algorithm.constants`)."""
        return {WEIGHT_DECAY: _to_sympy(self.weight_decay)} if self.weight_decay else {}


MOMENTUM = Hyperparameter("momentum", sym.beta, Interval(-1.0, 1.0), schedulable=True, latex=r"\beta",
                          description="momentum beta (the mean dynamics need |beta| < 1)")


def _check_momentum(value, name="momentum"):
    """beta must be a real number in (-1, 1) (the heavy-ball mean dynamics need |beta| < 1)."""
    from .validation import _scalar
    x = _scalar(value, name)
    if not (-1.0 < x < 1.0):
        raise ValueError(f"{name} must lie in the open interval (-1, 1); got {value!r}")
    return value


class _TwoStep(Algorithm):
    """Shared parts of the two-step methods on the state (e_k, e_{k-1})."""

    state = (_E, _E_PREV)
    hyperparameter_spec = (LEARNING_RATE, MOMENTUM)
    symbol_latex = {_E_PREV: r"e_{k-1,i}", sp.Symbol("c_i", real=True): r"\mathbb{E} e_{k,i} e_{k-1,i}",
                    sp.Symbol("m_i^prev", nonnegative=True): r"m_{k-1,i}"}

    def initial_state(self, error):
        """The method starts at rest: e_{-1} = e_0."""
        return (error, error)

    def second_moment_symbol(self, a: int, b: int) -> sp.Symbol:
        names = {(0, 0): sym.m, (0, 1): sp.Symbol("c_i", real=True),
                 (1, 1): sp.Symbol("m_i^prev", nonnegative=True)}
        return names[(a, b)]

    def latex_update(self) -> str:
        return super().latex_update() + " \\\\\n" + r"e_{-1,i} &= e_{0,i}"


class HeavyBall(_TwoStep):
    r"""Stochastic heavy-ball (Polyak) momentum with minibatch gradients.

    .. math::
        \theta_{k+1} = \theta_k - \gamma\, g(\theta_k) + \beta(\theta_k - \theta_{k-1}),
        \qquad \theta_{-1} = \theta_0,

    so on the error e = theta - theta* the state is (e_k, e_{k-1}) and
    e_{k+1,i} = e_{k,i} - gamma g_{k,i} + beta (e_{k,i} - e_{k-1,i}). The
    second-moment state per eigendirection is (E e_{k,i}^2, E e_{k,i} e_{k-1,i},
    E e_{k-1,i}^2). Momentum beta must lie in (-1, 1) (ValueError otherwise);
    learning rate gamma is not scaled by 1/d.

    Example
    -------
    >>> HeavyBall().update[0]
    beta*(e_i - e_i^prev) + e_i - g_i*gamma

    Source: Polyak (1964); minibatch second moments: Paquette & Paquette,
    arXiv:2106.03696; Lee, Cheng, Paquette, Paquette, arXiv:2206.01029.
    """

    name = "heavy_ball"
    gradient_point = _E
    update = (_E - sym.gamma * GRADIENT + sym.beta * (_E - _E_PREV), _E)
    source = "Paquette & Paquette, arXiv:2106.03696; Lee et al., arXiv:2206.01029"


class Nesterov(_TwoStep):
    r"""Stochastic Nesterov momentum (gradient at the extrapolated point).

    .. math::
        p_k = \theta_k + \beta(\theta_k - \theta_{k-1}),\qquad
        \theta_{k+1} = p_k - \gamma\, g(p_k),\qquad \theta_{-1} = \theta_0,

    i.e. e_{k+1,i} = e_{k,i} + beta (e_{k,i} - e_{k-1,i}) - gamma g_{k,i} with the
    minibatch gradient evaluated at the error of p_k. Same second-moment state
    and momentum range (-1, 1) as :class:`HeavyBall`.

    Example
    -------
    >>> Nesterov().gradient_point
    beta*(e_i - e_i^prev) + e_i

    Source: Nesterov (1983); Sutskever et al. (ICML 2013) form; stochastic
    least squares: Varre & Flammarion, arXiv:2203.01744.
    """

    name = "nesterov"
    gradient_point = _E + sym.beta * (_E - _E_PREV)
    update = (_E + sym.beta * (_E - _E_PREV) - sym.gamma * GRADIENT, _E)
    source = "Nesterov (1983); Sutskever et al. (2013); Varre & Flammarion, arXiv:2203.01744"


_Y = sp.Symbol("y_i", real=True)
GAMMA1 = sp.Symbol("gamma_1", nonnegative=True)
GAMMA3 = sp.Symbol("gamma_3", nonnegative=True)
DELTA = sp.Symbol("Delta", nonnegative=True)


class GeneralizedMomentum(Algorithm):
    r"""The generalised momentum of DANA (Ferbach et al., arXiv:2505.16098, Alg. 1).

    .. math::
        y_k = (1 - \Delta_k)\, y_{k-1} + \gamma_1 g_k,\qquad
        \theta_{k+1} = \theta_k - \gamma_2 g_k - \gamma_3(k)\, y_k,\qquad y_{-1} = 0,

    with g_k the minibatch gradient at theta_k. Hyperparameters: ``learning_rate``
    (gamma_2 > 0), ``gamma1`` (>= 0; gamma_1 = 0 with gamma_3 = 0 is the authors' ``dana_sgd``),
    ``gamma3`` (>= 0) and ``delta`` (Delta >= 0). ``gamma1``, ``gamma3`` and ``delta`` may be
    callables of the step k (the step k -> k + 1 uses h(k), as in the authors' optax code) in
    :meth:`theory.Recursion.trajectory` and :func:`verify.simulate`; every value used is
    range-checked. Delta_k may exceed 1 (the recursion is defined for any Delta_k >= 0; e.g. the
    notebooks' Delta(k) = delta/(1 + k) with delta = 3.857 for alpha = 0.7, beta = 0.8); a constant
    Delta > 2 makes the y-recursion expand, which the stability analysis reports. The state per
    direction is (e_k, y_{k-1}).

    Example
    -------
    >>> GeneralizedMomentum().update[1]
    g_i*gamma_1 + y_i*(1 - Delta)

    Source: Ferbach, Everett, Gidel, Paquette, Paquette, arXiv:2505.16098; settings from the
    authors' notebooks, github.com/LosVolterrosHermanos/Experimental (colabs/DANA_ODE_example.ipynb).
    """

    name = "generalized_momentum"
    state = (_E, _Y)
    hyperparameter_spec = (
        LEARNING_RATE,
        Hyperparameter("gamma1", GAMMA1, NONNEGATIVE, schedulable=True, latex=r"\gamma_1"),
        Hyperparameter("gamma3", GAMMA3, NONNEGATIVE, schedulable=True, latex=r"\gamma_3"),
        Hyperparameter("delta", DELTA, NONNEGATIVE, schedulable=True, latex=r"\Delta"),
    )
    gradient_point = _E
    update = (_E - sym.gamma * GRADIENT - GAMMA3 * ((1 - DELTA) * _Y + GAMMA1 * GRADIENT),
              (1 - DELTA) * _Y + GAMMA1 * GRADIENT)
    source = "Ferbach et al., arXiv:2505.16098 (DANA)"
    symbol_latex = {_Y: r"y_{k-1,i}", sp.Symbol("c_i^y", real=True): r"\mathbb{E} e_{k,i} y_{k-1,i}",
                    sp.Symbol("m_i^y", nonnegative=True): r"\mathbb{E} y_{k-1,i}^2"}

    def latex_update(self) -> str:
        return super().latex_update() + " \\\\\n" + r"y_{-1,i} &= 0"

    def second_moment_symbol(self, a: int, b: int) -> sp.Symbol:
        names = {(0, 0): sym.m, (0, 1): sp.Symbol("c_i^y", real=True),
                 (1, 1): sp.Symbol("m_i^y", nonnegative=True)}
        return names[(a, b)]


_EBAR = sp.Symbol("ebar_i", real=True)
AVERAGING = sp.Symbol("a", positive=True)


def polyak_ruppert(k):
    """The Polyak--Ruppert weight a_k = 1/(k + 2): ebar_k is the plain mean of e_0, ..., e_k."""
    return 1.0 / (k + 2)


class IterateAveraging(Algorithm):
    r"""Iterate averaging on top of a base algorithm; the risk is measured on the averaged iterate.

    .. math::
        \bar\theta_{k+1} = (1 - a_k)\,\bar\theta_k + a_k\,\theta_{k+1},\qquad \bar\theta_0 = \theta_0,

    i.e. on the errors ebar_{k+1,i} = (1 - a_k) ebar_{k,i} + a_k e_{k+1,i} with e_{k+1,i} the base
    rule. Hyperparameter ``averaging`` a in (0, 1]: a number (exponential moving average, EMA) or a
    callable of k; :func:`polyak_ruppert` (a_k = 1/(k + 2)) makes ebar_k the mean of e_0..e_k. The
    state is the base state followed by ebar_i; the gradient point is the base's; the observable
    (the risk) is ebar_i: R_k = (sum_i lambda_i E ebar_{k,i}^2 + sigma^2)/2. ``second_moments``
    of a trajectory stay E e_{k,i}^2 of the base iterate.

    Parameters
    ----------
    base : Algorithm, default SGD()

    Example
    -------
    >>> IterateAveraging().update[1]
    a*(e_i - g_i*gamma) + ebar_i*(1 - a)

    Source: Polyak & Juditsky, SIAM J. Control Optim. 30 (1992); Ruppert (1988); least squares:
    Bach & Moulines, arXiv:1306.2119; EMA: e.g. Izmailov et al., arXiv:1803.05407.
    """

    name = "iterate_averaging"
    source = "Polyak & Juditsky (1992); Bach & Moulines, arXiv:1306.2119"

    def __init__(self, base=None):
        base = SGD() if base is None else base
        if not isinstance(base, Algorithm) or isinstance(base, IterateAveraging):
            raise ValueError(f"base must be a theory.Algorithm other than IterateAveraging; got {base!r}")
        self.base = base

    @property
    def state(self):
        """The per-direction state (see :class:`Algorithm`)."""
        return tuple(self.base.state) + (_EBAR,)

    @property
    def hyperparameter_spec(self):
        """The hyperparameters as data (see :class:`Algorithm`)."""
        return tuple(self.base.hyperparameter_spec) + (
            Hyperparameter("averaging", AVERAGING, Interval(0.0, 1.0, high_open=False), schedulable=True,
                           latex="a", description="averaging weight a_k (EMA: constant; polyak_ruppert)"),)

    @property
    def gradient_point(self):
        """Where the gradient is evaluated (see :class:`Algorithm`)."""
        return self.base.gradient_point

    @property
    def update(self):
        """The new state (see :class:`Algorithm`)."""
        new = tuple(self.base.update)
        return new + ((1 - AVERAGING) * _EBAR + AVERAGING * new[0],)

    @property
    def observable(self):
        """The averaged error ebar_i: the risk is measured on the averaged iterate."""
        return _EBAR

    @property
    def constants(self):
        """Named numbers of the rule (see :attr:`Algorithm.constants`)."""
        return self.base.constants

    @property
    def symbol_latex(self):
        """LaTeX of the base rule's symbols and of ebar_i."""
        return {**self.base.latex_names, _EBAR: r"\bar e_{k,i}"}

    def initial_state(self, error):
        return tuple(self.base.initial_state(error)) + (error,)

    def second_moment_symbol(self, a, b):
        n = len(self.base.state)
        if b < n:
            return self.base.second_moment_symbol(a, b)
        return sp.Symbol("m_i^bar", nonnegative=True) if a == n else sp.Symbol(f"c_i^bar{a}", real=True)


PRECONDITIONER = sp.Symbol("P_i", positive=True)


class PreconditionedSGD(Algorithm):
    r"""SGD with a diagonal preconditioner in the eigenbasis of K.

    .. math:: \theta_{k+1} = \theta_k - \gamma\, P\, g_k,\qquad P = \mathrm{diag}(P_1, \dots, P_d),

    so e_{k+1,i} = e_{k,i} - gamma P_i g_{k,i}. Hyperparameter ``preconditioner`` P_i > 0: one
    number for all directions or an array of shape (d,) (per-direction values). P_i = 1 is SGD;
    P_i = 1/lambda_i is the (stochastic) Newton step.

    Example
    -------
    >>> PreconditionedSGD().update
    (-P_i*g_i*gamma + e_i,)

    Source: e.g. Ljung, Pflug & Walk, Stochastic Approximation and Optimization of Random
    Systems (1992); diagonal preconditioning of SGD on least squares: Gower & Richtarik,
    arXiv:1506.03296.
    """

    name = "preconditioned_sgd"
    state = (_E,)
    hyperparameter_spec = (LEARNING_RATE, Hyperparameter("preconditioner", PRECONDITIONER, POSITIVE,
                                                         per_direction=True, latex=r"P_i",
                                                         description="diagonal preconditioner P_i > 0"))
    gradient_point = _E
    update = (_E - sym.gamma * PRECONDITIONER * GRADIENT,)
    source = "Gower & Richtarik, arXiv:1506.03296"
