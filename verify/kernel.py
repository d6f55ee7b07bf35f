r"""The fused Monte Carlo kernel: generation, gradients, update and recorded moments, compiled.

The NumPy engine (:mod:`verify.montecarlo`) makes separate NumPy passes over whole (replicas, B, d)
arrays for the random numbers, the inner products, the update and each statistic. This kernel
(numba, compiled once and cached on disk) runs the replicas in cache-sized row blocks (about 16384
state entries), each block through all its steps, with three passes per step over the block:

1. :func:`draw`: every random variate of the step in stream order into one buffer Z (for
   Gaussian data one flat loop of NumPy's ziggurat; the other data models of :func:`model_parameters`
   coordinate by coordinate), with the generator's state in registers;
2. :func:`gradient`: the gradient point p = sum_j P_j s_j, q = sqrt(lambda) p, the residuals
   r_b = <z_b, q> - eps_b and G = sum_b z_b r_b (or, with sufficient statistics, G from its exact
   law given the per-sample scalars, :mod:`verify.sampling`: one d-vector per step), vectorised;
3. :func:`update_record`: the linear update s_a <- sum_j U_aj s_j + U_a,g g (g = sqrt(lambda) G / B,
   U the coefficient matrix ``verify.montecarlo._compile`` derives from the algorithm's symbolic
   update rule) and, while the replica's row is in L1, the recorded moments: risk
   R = (e^T K e + floor)/2, M_2 = sum lambda_i^2 e_i^2, e_i^2 and e_i for the requested
   coordinates, and the per-replica dyadic block sums; :func:`close_block` at a block's last step.

Where the time goes is measured pass by pass in ``benchmarks/run.py`` (section "Where the fused
kernel's time goes"). The statistics over replicas are *shifted sums* (x - K, K the first
replica's value at that step): sum, sum of squares and of cubes give the mean, centred second
and third moments with no cancellation problem (exactly 0 when all replicas agree) and in one pass.

Speed rules learnt here (each measured): no function taking an array may be called per replica
or per variate (numba increments and decrements the array's reference count atomically at each
call: that halved the generator's rate); the generator's loop holds no floating-point
accumulator (they were spilled around the rare ziggurat branch); loops over a coordinate range
not starting at 0 use unsigned bounds (numba's negative-index wrap-around stops vectorisation).

Compile rules (measured, ``python benchmarks/run.py --only compile``): every distinct combination
of argument types (int vs bool, a literal constant vs a run-time value, C vs strided or read-only
arrays, an omitted default) compiles a function and everything it calls again, so there is one
entry point, :func:`step_rows`, whose ``part`` argument also serves the per-replica hooked runs,
and :mod:`verify.fused` casts every argument to one type; no function is inlined at numba-IR
level (``inline="always"`` copies a callee's IR into each call site, which multiplied the compile
time): LLVM inlines the small generator functions anyway, with the same run time; and the large
pieces (:func:`draw`, :func:`gradient`, :func:`update_record`, :func:`close_block`, and the GLM pass of
:mod:`verify.glm_kernel`) are :func:`_subroutine` pieces: lowered into the entry point's own library,
without reference counting. A jitted callee is a numba library of its own, optimised as a module and
turned into machine code that never runs (the caller links its IR in and does it all again); with the
reference counting of every array argument and view (14 % of the IR), that was about 1.1 s of LLVM
work in a ~6 s cold compile. What is left (``python benchmarks/run.py --only compile``): about 1.6 s of
LLVM on the one linked module (optimisation and machine code) and about 3.1 s of numba's typing and
lowering in Python, which only less kernel code would cut (``docs/budgets.md``).

Random numbers: SFC64 (NumPy's ``numpy.random.SFC64``) re-implemented inline, started from the
state NumPy's ``SFC64(child)`` has for the chunk's ``SeedSequence`` child, and NumPy's 256-layer
ziggurat for the standard normal (the tables are numba's copy of NumPy's). Both are checked bit
for bit against ``numpy.random.Generator(SFC64(child))`` in the tests, so the stream is NumPy's
own and depends only on the seed and the chunk.

Reproducibility: the numbers depend on the seed, ``chunk_size``, B and d only, never on the number of
workers or the executor. The update and recording may reassociate sums (vectorised reductions), so a
different CPU (vector width) may round the recorded moments differently in the last bits; on one
machine and one installation every run is identical.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np
from numba.np.random._constants import (
    fi_double,
    ki_double,
    wi_double,
    ziggurat_nor_inv_r,
    ziggurat_nor_r,
)

__all__ = [
    "GRADIENTS",
    "STEPS",
    "UPDATES",
    "close_block",
    "draw",
    "fill_normal",
    "fill_raw",
    "finish_shifted",
    "gradient",
    "model_parameters",
    "sfc64_state",
    "step_rows",
    "update_record",
]

_KI = np.asarray(ki_double, dtype=np.uint64)
_WI = np.asarray(wi_double, dtype=np.float64)
_FI = np.asarray(fi_double, dtype=np.float64)
_R = float(ziggurat_nor_r)
_INV_R = float(ziggurat_nor_inv_r)
_U1, _U3, _U8, _U11, _U24, _U40 = (np.uint64(v) for v in (1, 3, 8, 11, 24, 40))
_MASK8 = np.uint64(0xFF)
_MASK52 = np.uint64(0x000FFFFFFFFFFFFF)
_TO_DOUBLE = 1.0 / 9007199254740992.0

#: the generator's small pieces, called only from compiled code: no Python (and no C-callback)
#: wrapper, whose argument unboxing is compiled per function, and no disk cache (the cached
#: :func:`step_rows` holds their code)
_INTERNAL = {"nogil": True, "no_cpython_wrapper": True, "no_cfunc_wrapper": True, "error_model": "numpy"}
_jit = nb.njit(**_INTERNAL)
#: the entry points called from Python (:func:`step_rows`, :func:`fill_normal`, :func:`fill_raw`)
_entry = nb.njit(cache=True, nogil=True, no_cfunc_wrapper=True, error_model="numpy")


def _subroutine(fastmath=None):
    """Decorator: the function (returning None) becomes a piece of the compiled function that calls it,
    lowered into the caller's own code library (``numba.core.compiler.compile_internal``, the route of
    numba's own internal implementations) instead of a library of its own.

    A jitted function called from another one is a separate numba library: optimised as a module and
    turned into machine code on its own (code that is never run: the caller links in its IR and
    optimises and emits it again). Measured on a fresh installation, that was about 1 s of the fused
    kernels' compile (``python benchmarks/run.py --only compile``). A subroutine is typed with the
    caller's argument types when the caller is lowered, compiled once per caller library, and runs
    with its own ``fastmath`` flags (None: none, whatever the caller's). The plain Python function is ``.py_func``;
    calling the piece from Python needs :func:`_python_callable`. The route is numba's internal API
    (checked on numba 0.68); where it is missing the piece is an ordinary jitted function."""
    import inspect

    from numba.core import compiler, cpu
    from numba.core import types as nbtypes
    from numba.extending import intrinsic

    if not (hasattr(compiler, "compile_internal") and all(
            hasattr(cpu.CPUContext, a) for a in ("subtarget", "active_code_library", "call_internal"))):
        # a numba without this internal route: the piece is an ordinary jitted function (its own
        # library: the same numbers, about 1 s more of cold compile)
        def plain(py_func):
            piece = nb.njit(**_INTERNAL, **({"fastmath": fastmath} if fastmath else {}))(py_func)
            piece.fastmath = fastmath
            return piece
        return plain

    flags = compiler.Flags()
    flags.no_compile = True
    flags.no_cpython_wrapper = True
    flags.no_cfunc_wrapper = True
    flags.error_model = "numpy"
    if fastmath:
        flags.fastmath = cpu.FastMathOptions(fastmath)

    def wrap(py_func):
        def codegen(context, builder, sig, args):
            library = context.active_code_library
            done = library.__dict__.setdefault("_verify_subroutines", {})
            key = (codegen, sig.args)   # this piece (its function and flags) for these argument types
            if key not in done:
                # no reference counting: a piece allocates nothing, and numba's NRT incref / decref of every
                # array argument and view would be a tenth of its code
                ctx = context.subtarget(enable_nrt=False, fastmath=flags.fastmath)
                done[key] = compiler.compile_internal(context.typing_context, ctx, library, py_func, sig.args,
                                                      sig.return_type, flags, {})
            return context.call_internal(builder, done[key].fndesc, sig, args)

        def typer(typingctx, *args):
            return nbtypes.none(*args), codegen

        # numba reads the typer's signature: named arguments (a bare *args would pack them in a tuple)
        arg = inspect.Parameter.POSITIONAL_OR_KEYWORD
        names = ("typingctx",) + py_func.__code__.co_varnames[:py_func.__code__.co_argcount]
        typer.__signature__ = inspect.Signature([inspect.Parameter(n, arg) for n in names])
        typer.__name__ = py_func.__name__
        piece = intrinsic(typer)
        piece.py_func = py_func
        piece.fastmath = fastmath
        return piece
    return wrap


def _python_callable(fn):
    """A Python-callable compilation of the compiled-code-only piece ``fn`` (lazily, not cached): for
    tests and benchmarks, never run by the main job."""
    if hasattr(fn, "targetoptions"):
        opts = {k: v for k, v in fn.targetoptions.items() if k not in ("no_cpython_wrapper", "cache", "nopython")}
    else:
        opts = {"nogil": True, **({"fastmath": fn.fastmath} if fn.fastmath else {})}
    return nb.njit(**opts)(fn.py_func)


def sfc64_state(seed) -> np.ndarray:
    """The 4-word state (a, b, c, counter) of ``numpy.random.SFC64(seed)`` as a fresh uint64 array."""
    return np.array(np.random.SFC64(seed).state["state"]["state"], dtype=np.uint64)


@_jit
def _next(s):
    """One SFC64 output (Chris Doty-Humphrey's small fast counting generator, as in NumPy)."""
    tmp, s[0], s[1], s[2], s[3] = _advance(s[0], s[1], s[2], s[3])
    return tmp


@_jit
def _advance(a, b, c, w):
    """One SFC64 step on the state (a, b, c, w) held in registers: (output, a, b, c, w)."""
    tmp = a + b + w
    return tmp, b ^ (b >> _U11), c + (c << _U3), ((c << _U24) | (c >> _U40)) + tmp, w + _U1


@_jit
def _unit(t):
    """The double in [0, 1) NumPy makes of the 64-bit output t (its top 53 bits)."""
    return np.float64(t >> _U11) * _TO_DOUBLE


@_jit
def _normal_slow(a, b, c, w, idx, rabs, x):
    """The ziggurat's rare branches (tail and wedges); returns (accepted, value, a, b, c, w)."""
    if idx == 0:
        while True:
            t, a, b, c, w = _advance(a, b, c, w)
            xx = -_INV_R * math.log1p(-_unit(t))
            t, a, b, c, w = _advance(a, b, c, w)
            yy = -math.log1p(-_unit(t))
            if yy + yy > xx * xx:
                if (rabs >> _U8) & _U1:
                    return True, -(_R + xx), a, b, c, w
                return True, _R + xx, a, b, c, w
    t, a, b, c, w = _advance(a, b, c, w)
    if (_FI[idx - 1] - _FI[idx]) * _unit(t) + _FI[idx] < math.exp(-0.5 * x * x):
        return True, x, a, b, c, w
    return False, 0.0, a, b, c, w


@_jit
def _nrm(a, b, c, w):
    """A standard normal variate: NumPy's ``random_standard_normal`` (256-layer ziggurat) on the
    SFC64 state (a, b, c, w) held in registers; returns (x, a, b, c, w). No array is passed in:
    an array argument of a function called per variate costs a reference-count increment and
    decrement per variate (atomic operations that halved the generator's rate)."""
    while True:
        r, a, b, c, w = _advance(a, b, c, w)
        idx = np.intp(r & _MASK8)
        r = r >> _U8
        rabs = (r >> _U1) & _MASK52
        x = np.float64(np.int64(rabs)) * _WI[idx]   # rabs < 2^52: the signed conversion is exact and one instruction
        if r & _U1:
            x = -x
        if rabs < _KI[idx]:
            return x, a, b, c, w
        ok, v, a, b, c, w = _normal_slow(a, b, c, w, idx, rabs, x)
        if ok:
            return v, a, b, c, w


def _fill_normal(s, out):
    """Fill the 1-d array ``out`` with standard normals from the SFC64 state ``s`` (advanced in place)."""
    a, b, c, w = s[0], s[1], s[2], s[3]
    for i in range(out.shape[0]):
        out[i], a, b, c, w = _nrm(a, b, c, w)
    s[0], s[1], s[2], s[3] = a, b, c, w


#: callable from Python (tests, benchmarks); compiled code (:mod:`verify.glm_kernel`) calls the subroutine
fill_normal = _entry(_fill_normal)
fill_normal_piece = _subroutine()(_fill_normal)


@_entry
def fill_raw(s, out):
    """Fill the 1-d uint64 array ``out`` with raw SFC64 outputs (for the bit-for-bit test)."""
    for i in range(out.shape[0]):
        out[i] = _next(s)


#: data models the kernel samples (``model`` of :func:`draw`): standardised coordinates z_i with
#: E z_i = 0, E z_i^2 = 1 and the model's fourth moment, as :mod:`verify.samplers` draws them
GAUSSIAN, RADEMACHER, THREE_POINT, SPARSE_GAUSSIAN, EMPIRICAL = 0, 1, 2, 3, 4
_MASK32 = np.uint64(0xFFFFFFFF)
_U32 = np.uint64(32)


@_jit
def _below(n, a, b, c, w):
    """A uniform integer in [0, n), 0 < n < 2^32 (Lemire's multiply-shift with rejection, exact),
    from the top 32 bits of SFC64 outputs; returns (index, a, b, c, w)."""
    nn = np.uint64(n)
    threshold = ((_MASK32 + _U1) - nn) % nn   # 2^32 mod n
    while True:
        t, a, b, c, w = _advance(a, b, c, w)
        x = (t >> _U32) * nn
        if (x & _MASK32) >= threshold:
            return np.intp(x >> _U32), a, b, c, w


@_subroutine()
def _draw(s, Z, sufficient, model, p1, p2, table, noise_sd):
    """The random numbers of one step for every replica r of a row block into Z, from the SFC64
    state ``s`` (advanced in place), in the order of Z's entries (so that for Gaussian data the
    pass is one flat loop): direct sampling (Z of shape (m, B, d + 1)), for b = 1..B the vector
    z_b into Z[r, b, :d] and the label noise eps_b (a standard normal times ``noise_sd``, plus the
    drawn row's residual for EMPIRICAL) into Z[r, b, d]; sufficient statistics (Gaussian only; Z of
    shape (m, 1, d + 2B)), the vector w into Z[r, 0, :d], then for b = 1..B the variate of s_b (a
    standard normal) and eps_b into Z[r, 0, d + 2b], Z[r, 0, d + 2b + 1]. The noise variates are
    drawn also when sigma = 0 (one variate per d coordinates). Nothing but the generator runs in
    the drawing loops: its state stays in registers and no floating-point accumulator competes for
    them (:func:`gradient` forms the gradients).

    ``model`` (per-coordinate parameters p1, p2 of shape (d,)):

    * GAUSSIAN: z_i ~ N(0, 1) (NumPy's ziggurat);
    * RADEMACHER: z_i = 1 - 2 bit_i, 64 coordinates from one 64-bit output (low bit first);
    * THREE_POINT (``IndependentCoordinates``): with u_i uniform on [0, 1) (NumPy's 53-bit
      double), z_i = -p2_i if u_i < p1_i/2, +p2_i if u_i < p1_i, else 0 (p1 = 1/kappa, p2 = sqrt(kappa));
    * SPARSE_GAUSSIAN: z_i = p2_i g_i if u_i < p1_i else 0 (p1 = p, p2 = 1/sqrt(p)), with g_i ~ N(0, 1)
      drawn only for the kept coordinates (the mask and g are independent, so the law is exact);
    * EMPIRICAL: a row index uniform on 0..n-1 (exact, :func:`_below`), z = table[idx, :d] (the
      standardised row) and its residual table[idx, d] added to the label noise.

    ``table`` is (n, d + 1) for EMPIRICAL and unused (any float array) otherwise."""
    m = Z.shape[0]
    nz = Z.shape[1]
    d = p1.shape[0]
    a, b, c, w = s[0], s[1], s[2], s[3]
    if model == GAUSSIAN or sufficient:
        for r in range(m):   # Z's entries in memory order (nested loops: a flat view costs a reshape to compile)
            for j in range(nz):
                for i in range(Z.shape[2]):
                    Z[r, j, i], a, b, c, w = _nrm(a, b, c, w)
        s[0], s[1], s[2], s[3] = a, b, c, w
        for r in range(m):
            if sufficient:
                for j in range((Z.shape[2] - d) // 2):
                    Z[r, 0, d + 2 * j + 1] *= noise_sd
            else:
                for j in range(nz):
                    Z[r, j, d] *= noise_sd
        return
    for r in range(m):
        for j in range(nz):
            if model == EMPIRICAL:
                idx, a, b, c, w = _below(table.shape[0], a, b, c, w)
                for i in range(d):
                    Z[r, j, i] = table[idx, i]
                eps, a, b, c, w = _nrm(a, b, c, w)
                Z[r, j, d] = noise_sd * eps + table[idx, d]
                continue
            if model == RADEMACHER:
                for i0 in range(0, d, 64):
                    t, a, b, c, w = _advance(a, b, c, w)
                    for k in range(d - i0 if d - i0 < 64 else 64):   # noqa: FURB136 (min() is one more function to compile)
                        Z[r, j, i0 + k] = 1.0 - 2.0 * np.float64((t >> np.uint64(k)) & _U1)
            elif model == THREE_POINT:
                for i in range(d):
                    t, a, b, c, w = _advance(a, b, c, w)
                    u = _unit(t)
                    keep = p1[i]
                    Z[r, j, i] = (-p2[i] if u < 0.5 * keep else p2[i]) if u < keep else 0.0
            else:
                for i in range(d):
                    t, a, b, c, w = _advance(a, b, c, w)
                    if _unit(t) < p1[i]:
                        g, a, b, c, w = _nrm(a, b, c, w)
                        Z[r, j, i] = p2[i] * g
                    else:
                        Z[r, j, i] = 0.0
            eps, a, b, c, w = _nrm(a, b, c, w)
            Z[r, j, d] = noise_sd * eps
    s[0], s[1], s[2], s[3] = a, b, c, w


def model_parameters(data, d):
    """(model code, p1, p2, table) of :func:`draw` for a data model, or None if the kernel does not
    sample it (``table``: the standardised rows and their residuals, (n, d + 1), for
    ``EmpiricalDistribution``; a (1, 1) placeholder otherwise)."""
    from theory.data import (
        EmpiricalDistribution,
        Gaussian,
        IndependentCoordinates,
        Rademacher,
        SparseGaussian,
    )
    kind = type(data)
    none = np.zeros((1, 1))
    if kind is Gaussian:
        return GAUSSIAN, np.zeros(d), np.zeros(d), none
    if kind is Rademacher:
        return RADEMACHER, np.zeros(d), np.zeros(d), none
    if kind is IndependentCoordinates:
        kappa = np.asarray(data.kurtosis_values(d), dtype=float)
        return THREE_POINT, 1.0 / kappa, np.sqrt(kappa), none
    if kind is SparseGaussian:
        p = np.asarray(data.sparsity_values(d), dtype=float)
        return SPARSE_GAUSSIAN, p, 1.0 / np.sqrt(p), none
    if kind is EmpiricalDistribution and data.n < 2**32:
        table = np.ascontiguousarray(np.column_stack([data.standardized_rows, data.residuals]), dtype=float)
        return EMPIRICAL, np.zeros(d), np.zeros(d), table
    return None


#: gradients, update and recording: reductions may be reassociated (vectorised) and multiply-adds
#: fused; the random numbers are not touched by these flags, and a given build gives the same
#: numbers every run
_FAST = {"reassoc", "contract"}


@_subroutine(_FAST)
def _gradient(st, C, ci, sqrt_lam, scale, sufficient, Q, Z, beta, norms, feat):
    """The minibatch gradient of every replica r of the row block ``st`` (S, m, d) from the draws
    of :func:`draw`, at its gradient point p = sum_j C[ci, cr, S, j] s_j (cr = 0, or r for
    per-replica coefficients), returned as g_r = beta_r * scale * Z[r, 0] (scale = sqrt(lambda)/B,
    applied by :func:`update_record`). Q (m, d) receives q = sqrt(lambda) p (except for direct
    sampling with B = 1 and a one-variable state, where q is formed inside the inner product).
    If ``norms``, feat[r, 2] = <g_r, g_r> (for per-replica hyperparameter hooks).

    Direct sampling: r_b = <z_b, q> - eps_b, Z[r, 0] = sum_b z_b r_b (B = 1: Z[r, 0] = z_1 and
    beta_r = r_1, no pass over the vector; B > 1: beta_r = 1, the r_b kept in Z[r, b, d]).
    Sufficient statistics: Z[r, 0] = alpha q + beta w with the exact law of :mod:`verify.sampling`
    and beta_r = 1."""
    S = st.shape[0]
    m = st.shape[1]
    d = st.shape[2]
    nz = Z.shape[1]
    batch = (Z.shape[2] - d) // 2 if sufficient else nz
    per_replica = C.shape[1] > 1
    for r in range(m):
        cr = r if per_replica else 0
        p0 = C[ci, cr, S, 0]
        g2 = 0.0   # <scale Z, scale Z>, for the norms
        if S == 1 and nz == 1 and not sufficient:   # SGD, B = 1: one pass, no q stored
            dot = 0.0
            if norms:
                for i in range(d):
                    zi = Z[r, 0, i]
                    dot += zi * (sqrt_lam[i] * (p0 * st[0, r, i]))
                    gi = scale[i] * zi
                    g2 += gi * gi
            else:
                for i in range(d):
                    dot += Z[r, 0, i] * (sqrt_lam[i] * (p0 * st[0, r, i]))
            beta[r] = dot - Z[r, 0, d]
            if norms:
                feat[r, 2] = beta[r] * beta[r] * g2
            continue
        if S == 1:
            for i in range(d):
                Q[r, i] = sqrt_lam[i] * (p0 * st[0, r, i])
        elif S == 2:
            p1 = C[ci, cr, S, 1]
            for i in range(d):
                Q[r, i] = sqrt_lam[i] * (p0 * st[0, r, i] + p1 * st[1, r, i])
        else:
            for i in range(d):
                p = 0.0
                for j in range(S):
                    p += C[ci, cr, S, j] * st[j, r, i]
                Q[r, i] = sqrt_lam[i] * p
        if sufficient:
            qq = 0.0
            dot = 0.0   # <q, w>
            for i in range(d):
                qi = Q[r, i]
                qq += qi * qi
                dot += Z[r, 0, i] * qi
            nq = np.sqrt(qq)
            a = 0.0
            r2 = 0.0
            for j in range(batch):
                sb = nq * Z[r, 0, d + 2 * j]
                res = sb - Z[r, 0, d + 2 * j + 1]
                a += sb * res
                r2 += res * res
            bt = np.sqrt(r2)
            al = (a - bt * dot) / qq if qq > 0.0 else 0.0
            for i in range(d):
                Z[r, 0, i] = al * Q[r, i] + bt * Z[r, 0, i]
            beta[r] = 1.0
        else:
            for j in range(nz):
                dot = 0.0
                for i in range(d):
                    dot += Z[r, j, i] * Q[r, i]
                Z[r, j, d] = dot - Z[r, j, d]
            if nz == 1:
                beta[r] = Z[r, 0, d]
            else:
                rb = Z[r, 0, d]
                for i in range(d):
                    Z[r, 0, i] *= rb
                for j in range(1, nz):
                    rb = Z[r, j, d]
                    for i in range(d):
                        Z[r, 0, i] += Z[r, j, i] * rb
                beta[r] = 1.0
        if norms:
            for i in range(d):
                gi = scale[i] * Z[r, 0, i]
                g2 += gi * gi
            feat[r, 2] = beta[r] * beta[r] * g2


#: coordinates per tile of :func:`update_record` (all replicas of the row block per tile). Measured
#: (benchmarks/run.py phases): 1024 beats 256 and 128 at d = 256 and 1024 (1.3 ns per coordinate
#: against 2.1 and 2.6 at d = 1024), although a smaller tile keeps the per-step sums in L1
_TILE = 1024


@_subroutine(_FAST)
def _update_record(st, C, ci, scale, Z, beta, update, k, first_rows, lam, floor, coords, all_coords,
                  in_block, rstat, mstat, mustat, blk_r, blk_m, blk_mu, feat, new, obs):
    """Pass 2 of a step for every replica r of ``st`` (S, m, d): if ``update``, the linear update
    s_a <- sum_j C[ci, cr, a, j] s_j + C[ci, cr, a, S] g with g = beta_r scale Z[r, 0]
    (:func:`gradient`); then the recording of step k on the error e = s_0 while its row is in L1:
    feat[r, 0:2] = (R, M_2), the shifted sums (K, S1, S2, S3) over replicas of the risk into
    rstat[:, k] and (K, S1, S2) of e_i^2 and e_i into mstat[:, k], mustat[:, k] (every coordinate
    if ``all_coords``, else those in ``coords``), and if ``in_block`` the replica's block sums
    blk_r, blk_m, blk_mu. ``first_rows``: row 0 starts the chunk (it sets the shifts K).
    The coordinates run in tiles of ``_TILE`` (all replicas per tile). ``obs`` > 0: the risk (and
    M_2) are those of the state variable s_obs instead (e.g. the averaged iterate), the recorded
    e_i^2 and e_i stay those of e = s_0."""
    S = st.shape[0]
    m = st.shape[1]
    d = st.shape[2]
    per_replica = C.shape[1] > 1
    km, s1m, s2m = mstat[0, k], mstat[1, k], mstat[2, k]
    ku, s1u, s2u = mustat[0, k], mustat[1, k], mustat[2, k]
    for r in range(m):
        feat[r, 0] = 0.0
        feat[r, 1] = 0.0
    for t0 in range(0, d, _TILE):
        # unsigned bounds: numba then indexes without the negative-index wrap-around, which
        # otherwise stops the vectorisation of a loop that does not start at 0 (3x slower)
        i0 = np.uint64(t0)
        i1 = np.uint64(t0 + _TILE if t0 + _TILE < d else d)   # noqa: FURB136 (as above)
        for r in range(m):
            cr = r if per_replica else 0
            if update:
                bt = beta[r]
                if S == 1:
                    c0, c1 = C[ci, cr, 0, 0], C[ci, cr, 0, 1] * bt
                    for i in range(i0, i1):
                        st[0, r, i] = c0 * st[0, r, i] + c1 * (scale[i] * Z[r, 0, i])
                elif S == 2:
                    c0, c1, c2 = C[ci, cr, 0, 0], C[ci, cr, 0, 1], C[ci, cr, 0, 2] * bt
                    u10, u11, u1g = C[ci, cr, 1, 0], C[ci, cr, 1, 1], C[ci, cr, 1, 2] * bt
                    for i in range(i0, i1):
                        gi = scale[i] * Z[r, 0, i]
                        a0 = st[0, r, i]
                        a1 = st[1, r, i]
                        st[0, r, i] = c0 * a0 + c1 * a1 + c2 * gi
                        st[1, r, i] = u10 * a0 + u11 * a1 + u1g * gi
                else:
                    for i in range(i0, i1):
                        gi = bt * scale[i] * Z[r, 0, i]
                        for a in range(S):
                            v = C[ci, cr, a, S] * gi
                            for j in range(S):
                                v += C[ci, cr, a, j] * st[j, r, i]
                            new[a] = v
                        for a in range(S):
                            st[a, r, i] = new[a]
            risk = 0.0
            m2 = 0.0
            if all_coords and first_rows and r == 0:
                for i in range(i0, i1):
                    e = st[0, r, i]
                    km[i] = e * e
                    ku[i] = e
            # the per-step sums over replicas only in a loop of their own: with every coordinate
            # recorded their arrays have d entries; otherwise they may be empty, and a loop that
            # indexes them would be vectorised or not depending on their addresses (LLVM's
            # run-time alias check), which would change the rounding of the risk from run to run
            if all_coords:
                for i in range(i0, i1):
                    e = st[0, r, i]
                    sq = e * e
                    li = lam[i] * sq
                    risk += li
                    m2 += lam[i] * li
                    dm = sq - km[i]
                    s1m[i] += dm
                    s2m[i] += dm * dm
                    du = e - ku[i]
                    s1u[i] += du
                    s2u[i] += du * du
                    if in_block:
                        blk_m[r, i] += sq
                        blk_mu[r, i] += e
            else:
                for i in range(i0, i1):
                    e = st[0, r, i]
                    sq = e * e
                    li = lam[i] * sq
                    risk += li
                    m2 += lam[i] * li
                    if in_block:
                        blk_m[r, i] += sq
                        blk_mu[r, i] += e
            if obs != 0:   # the risk on another state variable: one more pass over the row, in L1
                risk = 0.0
                m2 = 0.0
                for i in range(i0, i1):
                    o = st[obs, r, i]
                    li = lam[i] * (o * o)
                    risk += li
                    m2 += lam[i] * li
            feat[r, 0] += risk
            feat[r, 1] += m2
    for r in range(m):
        first = first_rows and r == 0
        if not all_coords:
            for c in range(coords.shape[0]):
                j = coords[c]
                e = st[0, r, j]
                if first:
                    km[c] = e * e
                    ku[c] = e
                dm = e * e - km[c]
                s1m[c] += dm
                s2m[c] += dm * dm
                du = e - ku[c]
                s1u[c] += du
                s2u[c] += du * du
        risk = 0.5 * (feat[r, 0] + floor)
        feat[r, 0] = risk
        if in_block:
            blk_r[r] += risk
    _shift_column(rstat, k, feat, np.int64(0), first_rows)   # int64, as close_block's: one specialization


@_subroutine(_FAST)
def _shift_column(stat, j, x, col, first_rows):
    """Shifted sums (K, S1, S2, S3) over the rows r of x[r, col] into stat[:, j] (K = x[0, col]
    if ``first_rows``, the rows that start the chunk)."""
    if first_rows:
        stat[0, j] = x[0, col]
    k0 = stat[0, j]
    for r in range(x.shape[0]):
        dv = x[r, col] - k0
        stat[1, j] += dv
        stat[2, j] += dv * dv
        stat[3, j] += dv * dv * dv


@_subroutine(_FAST)
def _close_block(block, width, first_rows, blk_r, blk_m, blk_mu, bstat_r, bstat_m, bstat_mu, rep_brisk):
    """At the last step of dyadic block ``block`` (``width`` steps): each replica's block averages
    (risk, e_i^2, e_i) into the shifted sums (K, S1, S2, S3) over replicas and ``rep_brisk``; the
    replicas' block sums are reset."""
    m = blk_m.shape[0]
    d = blk_m.shape[1]
    inv = 1.0 / width
    k1, s1, s2, s3 = bstat_m[0, block], bstat_m[1, block], bstat_m[2, block], bstat_m[3, block]
    u0, u1, u2, u3 = bstat_mu[0, block], bstat_mu[1, block], bstat_mu[2, block], bstat_mu[3, block]
    for r in range(m):
        rep_brisk[r, block] = blk_r[r] * inv
        blk_r[r] = 0.0
    _shift_column(bstat_r, block, rep_brisk, block, first_rows)
    for r in range(m):
        if first_rows and r == 0:
            for i in range(d):
                k1[i] = blk_m[r, i] * inv
                u0[i] = blk_mu[r, i] * inv
        for i in range(d):
            dv = blk_m[r, i] * inv - k1[i]
            s1[i] += dv
            s2[i] += dv * dv
            s3[i] += dv * dv * dv
            du = blk_mu[r, i] * inv - u0[i]
            u1[i] += du
            u2[i] += du * du
            u3[i] += du * du * du
            blk_m[r, i] = 0.0
            blk_mu[r, i] = 0.0


#: what one call of :func:`step_rows` does (``part``): whole steps; only the draws and gradients
#: (with their norms) of one step; only the update, recording and block averages of one step
STEPS, GRADIENTS, UPDATES = 0, 1, 2


@_entry
def step_rows(s, st, C, k0, k1, first_rows, sqrt_lam, lam, scale, noise_sd, sufficient, model, p1, p2, table, floor,
              coords, all_coords, block_of, block_width, rstat, mstat, mustat, blk_r, blk_m, blk_mu,
              bstat_r, bstat_m, bstat_mu, rep_brisk, feat, Q, Z, beta, new, obs, part):
    """Steps k0..k1 (k = 0: record only) of the replicas of ``st`` (S, m, d): per step, every
    replica's random numbers (:func:`draw`) and gradient (:func:`gradient`), then every replica's update and recording
    (:func:`update_record`), and the block averages at a block's last step (:func:`close_block`).
    C has shape (T, 1 or m, S+1, S+1) with T = 1 or k1 - k0 (coefficients of step k at index
    k - max(k0, 1) when T > 1). ``first_rows``: these rows start the chunk (row 0 sets the shifts).
    Scratch: Q (m, d), Z (m, B, d + 1) or (m, 1, d + 2B) (sufficient statistics), beta (m,), new (S,).
    ``obs``: the state variable the risk is measured on (:func:`update_record`).

    ``part``: STEPS (everything), GRADIENTS (the draws and gradients only, with the gradients'
    squared norms into feat[:, 2]) or UPDATES (the update, recording and block averages only).
    A per-replica hyperparameter hook (:func:`verify.fused.run_chunk_hooked`) calls GRADIENTS,
    then sets C from the features, then UPDATES, for each step: both paths run this one compiled
    function (one specialization, compiled once; every argument's type is fixed by
    :func:`verify.fused.kernel_arguments`)."""
    norms = part == GRADIENTS   # a run-time bool: a literal False would compile gradient a second time
    for k in range(k0, k1 + 1):
        first_k = k0 if k0 > 1 else 1   # noqa: FURB136 (max() is one more function to compile)
        ci = 0 if C.shape[0] == 1 or k < first_k else k - first_k
        if k > 0 and part != UPDATES:
            _draw(s, Z, sufficient, model, p1, p2, table, noise_sd)
            _gradient(st, C, ci, sqrt_lam, scale, sufficient, Q, Z, beta, norms, feat)
        if part == GRADIENTS:
            continue
        block = block_of[k]
        _update_record(st, C, ci, scale, Z, beta, k > 0, k, first_rows, lam, floor, coords, all_coords,
                      block >= 0, rstat, mstat, mustat, blk_r, blk_m, blk_mu, feat, new, obs)
        if block >= 0 and block_width[k] > 0:
            _close_block(block, block_width[k], first_rows, blk_r, blk_m, blk_mu, bstat_r, bstat_m, bstat_mu,
                        rep_brisk)


#: Python-callable compilations of the pieces (tests, benchmarks; compiled on first call, not by the main job)
draw, gradient, update_record, close_block = (_python_callable(f) for f in (_draw, _gradient, _update_record,
                                                                           _close_block))


def finish_shifted(stat, n, third=True):
    """(mean, centred sum of squares[, of cubes]) over n replicas from shifted sums
    ``stat = (K, S1, S2[, S3])`` of x - K: mean = K + S1/n, M2 = S2 - S1^2/n,
    M3 = S3 - 3 S1 S2/n + 2 S1^3/n^2 (M2 is floored at 0 against rounding, which can only
    make a zero variance slightly negative)."""
    k, s1, s2 = stat[0], stat[1], stat[2]
    mean = k + s1 / n
    m2 = np.maximum(s2 - s1 * s1 / n, 0.0)
    if not third:
        return mean, m2
    s3 = stat[3]
    return mean, m2, s3 - 3.0 * s1 * s2 / n + 2.0 * s1**3 / n**2
