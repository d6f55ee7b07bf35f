"""The fused kernels compile once: every run of the main job, plain or hooked, on any data model,
batch, sampling, algorithm or input layout, hits the one specialization of each jitted function
that ``verify.montecarlo.warm_up`` compiles (a second argument-type combination would compile the
whole kernel again: seconds of CPU per process on a fresh installation).

Oracle: numba's own record of the compiled signatures (``dispatcher.signatures``), read in a fresh
process (other tests in this one call kernel pieces directly); a planted call with a strided array
must add a signature, so that the count can fail."""
import json
import os
import subprocess
import sys

import numpy as np

from verify import fused

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_CHILD = r"""
import json, sys, warnings
sys.path.insert(0, {root!r})
warnings.simplefilter("ignore")
import numpy as np
from numba.core.registry import CPUDispatcher
from theory import (SGD, EmpiricalDistribution, HeavyBall, IndependentCoordinates, IterateAveraging,
                    Rademacher, SparseGaussian)
from theory.adaptive import line_search
from verify import glm_kernel, kernel, simulate
from verify.adaptive import AdaGradNorm, StateRule, simulate_adaptive
from verify.glm import power_law_spectrum, simulate_glm
from verify.montecarlo import warm_up


def signatures():
    out = {{}}
    for mod in (kernel, glm_kernel):
        for name in dir(mod):
            f = getattr(mod, name)
            if isinstance(f, CPUDispatcher) and f.signatures:
                out[mod.__name__ + "." + name] = len(f.signatures)
    return out


warm_up()
after_warm_up = signatures()
X = np.random.default_rng(0).standard_normal((50, 3)) * [1.0, 0.7, 0.4]
emp = EmpiricalDistribution(X, X[:, 0] ** 2)
strided = np.linspace(1.0, 0.1, 8)[::2]             # a strided view
readonly = np.array([1.0, 0.5, 0.25, 0.125])
readonly.setflags(write=False)
kw = dict(learning_rate=0.2, steps=5, replicas=40, seed=1, workers=1, engine="fused")
for lam, extra in ((strided, {{}}), (readonly, dict(batch=3, sampling="direct")), ([1, 2, 1, 1], dict(batch=4)),
                   (readonly, dict(data=Rademacher(), initial=np.ones(4)[::1])),
                   (readonly, dict(data=IndependentCoordinates(5.0), noise_variance=0.1)),
                   (readonly, dict(data=SparseGaussian(0.5))), (emp.eigenvalues, dict(data=emp)),
                   (readonly, dict(algorithm=HeavyBall(), momentum=0.5, batch=2)),
                   (readonly, dict(algorithm=HeavyBall(), momentum=lambda k: 0.5 / (1 + k), batch=2)),
                   (readonly, dict(algorithm=IterateAveraging(), averaging=0.5)),
                   (readonly, dict(algorithm=SGD(weight_decay=0.1), optimum=0.5))):
    extra = dict(extra)
    simulate(extra.pop("algorithm", SGD()), eigenvalues=lam, **{{**kw, **extra}})
for policy, extra in ((AdaGradNorm(1.0, 1.0), {{}}), (StateRule(line_search()), dict(batch=2, coordinates=None)),
                      (AdaGradNorm(1.0, 0.5), dict(data=SparseGaussian(0.5), coordinates=[0, 2]))):
    simulate_adaptive(policy, eigenvalues=readonly, steps=5, replicas=6, seed=0, workers=1, **extra)
from theory.glm import derive_limit, least_squares
simulate_glm(derive_limit(least_squares()), power_law_spectrum(6), 1.0, 1.0, teacher=np.ones(6), replicas=3, seed=0)
after_runs = signatures()
kernel.fill_normal(kernel.sfc64_state(0), np.zeros(8)[::2])     # planted: a strided output array
print(json.dumps(dict(warm=after_warm_up, runs=after_runs, planted=signatures()["verify.kernel.fill_normal"])))
"""


def test_one_specialization_per_kernel_compiled_by_warm_up():
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=ROOT)], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["runs"] == res["warm"], "a run compiled what warm_up did not (or another specialization)"
    assert set(res["warm"].values()) == {1}, res["warm"]
    assert {"verify.kernel.step_rows", "verify.glm_kernel.advance"} <= set(res["warm"])
    assert res["planted"] == res["warm"].get("verify.kernel.fill_normal", 0) + 1


def test_kernel_arguments_have_one_type_each():
    """The call-site casts: read-only, strided and integer arrays become writeable C float64 arrays
    (the same object when already so), scalars Python int, bool, float."""
    ro = np.arange(4.0)
    ro.setflags(write=False)
    a, b, c = fused._floats(ro, np.arange(8.0)[::2], np.arange(3))
    for x in (a, b, c):
        assert x.dtype == np.float64 and x.flags.c_contiguous and x.flags.writeable
    np.testing.assert_array_equal(b, [0.0, 2.0, 4.0, 6.0])
    same = np.zeros(3)
    assert fused._floats(same)[0] is same
    scalars = fused.kernel_scalars(np.int32(1), np.uint64(5), np.bool_(True), np.int8(0), 2)
    assert [type(x) for x in scalars] == [int, int, bool, int, int]


def test_subroutines_are_lowered_into_the_callers_library_once_with_their_own_flags():
    """``verify.kernel._subroutine``: the piece's code lives in the calling entry point's own library (no
    library of its own to optimise and emit), a piece called twice with the same types is compiled once
    there, its results are the Python function's, and it keeps its own fastmath flags whatever the caller's.

    Oracle for the flags: a*b + c with a = 1 + 2^-30, b = 1 - 2^-30, c = -1 is 0 in double arithmetic
    (a*b = 1 - 2^-60 rounds to 1) and -2^-60 when the multiply-add is fused; the planted caller-side fused
    version must give -2^-60 where the CPU fuses (else the check of the flags is skipped as powerless)."""
    import numba as nb
    import pytest

    from verify.kernel import _subroutine

    def muladd(x, out):
        for i in range(x.shape[0] // 3):
            out[i] = x[3 * i] * x[3 * i + 1] + x[3 * i + 2]

    plain, fused_piece = _subroutine()(muladd), _subroutine({"contract"})(muladd)

    @nb.njit(fastmath={"contract"})
    def caller(x, out, out2, out3):
        plain(x, out)
        plain(x, out2)          # the same types: compiled once into this library
        fused_piece(x, out3)

    @nb.njit(fastmath={"contract"})
    def planted(x, out):       # the same loop in the fastmath caller itself
        for i in range(x.shape[0] // 3):
            out[i] = x[3 * i] * x[3 * i + 1] + x[3 * i + 2]

    eps = 2.0 ** -30
    x = np.array([1 + eps, 1 - eps, -1.0, 3.0, 0.25, 0.5])
    outs = [np.full(2, np.nan) for _ in range(4)]
    caller(x, *outs[:3])
    planted(x, outs[3])
    expected = np.zeros(2)
    muladd(x, expected)
    assert expected[0] == 0.0 and expected[1] == 1.25
    np.testing.assert_array_equal(outs[0], expected)
    np.testing.assert_array_equal(outs[1], expected)
    library = caller.overloads[caller.signatures[0]].library
    assert len(library._verify_subroutines) == 2   # three calls: plain compiled once, fused_piece once
    assert not hasattr(plain, "overloads")          # no dispatcher, no library of its own
    if outs[3][0] == 0.0:
        pytest.skip("this CPU does not fuse multiply-adds: the fastmath check has no power here")
    assert outs[2][0] == -(2.0 ** -60)   # the contracting piece fuses like the planted caller-side loop
    assert outs[0][0] == 0.0             # the plain piece does not, inside a contracting caller


def test_subroutine_falls_back_to_a_jitted_function_without_numbas_internal_route(monkeypatch):
    """Where numba lacks ``compiler.compile_internal`` (its internal route), ``_subroutine`` returns an
    ordinary jitted function with the same flags: called from compiled code it gives the Python function's
    numbers. Planted: the route present again gives the lowered piece, not a dispatcher."""
    import numba as nb
    from numba.core import compiler
    from numba.core.registry import CPUDispatcher

    from verify.kernel import _subroutine

    def scale(x, out):
        for i in range(x.shape[0]):
            out[i] = 2.0 * x[i] + 1.0

    monkeypatch.delattr(compiler, "compile_internal")
    piece = _subroutine({"contract"})(scale)
    assert isinstance(piece, CPUDispatcher) and piece.fastmath == {"contract"} and piece.py_func is scale

    @nb.njit
    def caller(x, out):
        piece(x, out)

    x, out, expected = np.array([0.5, -1.0, 3.0]), np.zeros(3), np.zeros(3)
    caller(x, out)
    scale(x, expected)
    np.testing.assert_array_equal(out, expected)
    monkeypatch.undo()
    assert not isinstance(_subroutine()(scale), CPUDispatcher)
