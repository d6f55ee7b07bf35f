"""User-defined algorithms written as a researcher would (shared by the theory and Monte Carlo tests)."""
import sympy as sp

from theory import SGD, Algorithm
from theory import symbols as sym
from theory.algorithms import GRADIENT, OPTIMUM, OPTIMUM_SPEC, Hyperparameter
from theory.hyperparameters import Interval

E = sp.Symbol("e_i", real=True)
EBAR = sp.Symbol("ebar_user", real=True)
C = sp.Symbol("c", positive=True)


class Scaled(Algorithm):
    """A user's parametrised algorithm: the step is c times SGD's (c part of the value)."""
    state = (E,)
    gradient_point = E

    def __init__(self, c=1):
        self.c = c

    @property
    def update(self):
        return (E - sp.nsimplify(self.c) * sym.gamma * GRADIENT,)


class UserAveraged(Algorithm):
    """A user's averaged SGD written from scratch: EMA with weight 1/2, risk on the average."""
    state = (E, EBAR)
    gradient_point = E
    observable = EBAR
    update = (E - sym.gamma * GRADIENT, (EBAR + E - sym.gamma * GRADIENT) / 2)

    def initial_state(self, error):
        return (error, error)


class UserShrink(Algorithm):
    """A user's affine rule: a pull of strength c toward the origin, theta' = theta - gamma g - c theta."""
    state = (E,)
    gradient_point = E
    hyperparameter_spec = (SGD().hyperparameter_spec[0], Hyperparameter("shrink", C, Interval(0, 1)), OPTIMUM_SPEC)
    update = (E - sym.gamma * GRADIENT - C * (E + OPTIMUM),)
