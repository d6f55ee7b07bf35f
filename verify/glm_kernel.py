r"""The compiled pass of streaming SGD on a single-index model (GLM): draw, project, update, record.

One call of :func:`advance` does, for every replica r (row r of the iterates X, shape (n, d)), with
the replica's row in L1:

1. the update of the previous step, X_r <- X_r - f_r * (g/d) sqrt(lambda) * z_r (``step`` holds
   (g/d) sqrt(lambda); f_r = f(r_r, y_r) is the loss's derivative evaluated in NumPy by the caller,
   vectorised over replicas, because it is the only loss-dependent part);
2. if ``record``, B_11 = sum_i lambda_i X_i^2 and B_12 = sum_i lambda_i X_i X^*_i of the new iterate;
3. if ``draw``, the next step's standard normals z_r (d of them) and the label variate eps_r (one
   more) into row r of Z (shape (n, d + 1)), from the SFC64 stream of the replica's chunk
   (:func:`verify.kernel.fill_normal`: NumPy's ``Generator(SFC64(child)).standard_normal``, bit for
   bit), and the projections r_r = <sqrt(lambda) z_r, X_r>, r*_r = <sqrt(lambda) z_r, X^*>.

Replica r draws from the stream of chunk r // ``chunk`` (one ``SeedSequence`` child per chunk), row by
row and step by step, so a chunk's numbers depend only on the seed and the chunk size. The sums may be
reassociated (vectorised); the random numbers are not touched by that.
"""
from __future__ import annotations

import numpy as np

from .kernel import _FAST, _entry, _subroutine, fill_normal_piece

__all__ = ["advance", "warm_up"]


#: rows of ``coef`` (5, d) and ``rep`` (5, n) of :func:`advance`
STEP, SQRT_LAM, TEACHER_W, LAM, TEACHER_LAM = range(5)
FV, B11, B12, RR, RSTAR = range(5)


@_entry
def advance(states, chunk, X, Z, coef, rep, update, record, draw):
    """One step of every replica (module docstring). ``states`` (chunks, 4) uint64 SFC64 states; ``coef``
    (5, d): rows ``step`` = (g/d) sqrt(lambda), sqrt(lambda), ``teacher_w`` = sqrt(lambda) X^*, lambda and
    ``teacher_lam`` = lambda X^*; ``rep`` (5, n): rows fv (the loss derivative, read), b11, b12, r and r^*
    (written). Nine arguments: the call is made once per step from Python, and numba's dispatch and
    argument unboxing cost per argument (17 separate arrays and flags took 6 us of a ~100 us step)."""
    _advance_rows(states, chunk, X, Z, rep[FV], coef[STEP], coef[SQRT_LAM], coef[TEACHER_W], coef[LAM],
                  coef[TEACHER_LAM], update, record, rep[B11], rep[B12], draw, rep[RR], rep[RSTAR])


@_subroutine(_FAST)
def _advance_rows(states, chunk, X, Z, fv, step, sqrt_lam, teacher_w, lam, teacher_lam, update, record, b11, b12, draw,
                  rr, rstar):
    """:func:`advance` in the entry point's own library, without reference counting
    (:func:`verify.kernel._subroutine`); the generator's loop keeps its own flags (no fastmath)."""
    m = X.shape[0]
    d = X.shape[1]
    for r in range(m):
        if update:
            c = fv[r]
            for i in range(d):
                X[r, i] -= c * (step[i] * Z[r, i])
        if record:
            a = 0.0
            b = 0.0
            for i in range(d):
                x = X[r, i]
                a += lam[i] * (x * x)
                b += teacher_lam[i] * x
            b11[r] = a
            b12[r] = b
        if draw:
            fill_normal_piece(states[r // chunk], Z[r])
            a = 0.0
            b = 0.0
            for i in range(d):
                z = Z[r, i]
                a += z * (sqrt_lam[i] * X[r, i])
                b += z * teacher_w[i]
            rr[r] = a
            rstar[r] = b


def warm_up():
    """Compile :func:`advance` (or load it from the disk cache) for the argument types
    :func:`verify.glm.simulate_glm` passes: two replicas of d = 1, one chunk, one step."""
    advance(np.zeros((1, 4), dtype=np.uint64), 2, np.zeros((2, 1)), np.zeros((2, 2)), np.ones((5, 1)),
            np.zeros((5, 2)), True, True, True)
