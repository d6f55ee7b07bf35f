r"""The fused Monte Carlo kernel: generation, update and recorded moments in one compiled pass.

The NumPy engine (:mod:`verify.montecarlo`) makes separate passes over the (replicas, d) state for
the random numbers, the inner products, the update and the statistics. This kernel (numba,
compiled once and cached on disk) runs, for each step and each replica of a cache-sized row block,

1. the gradient point p = sum_j P_j s_j and q = sqrt(lambda) p (with <q, q>),
2. the minibatch gradient g = (sqrt(lambda)/B) G, G = sum_b z_b (<z_b, q> - eps_b), either drawn
   directly (B vectors z_b) or from its exact law given the per-sample scalars
   (:mod:`verify.sampling`, Gaussian data: one d-vector per step),
3. the linear update s_a <- sum_j U_aj s_j + U_a,g g with the coefficient matrix that
   ``verify.montecarlo._compile`` derives from the algorithm's symbolic update rule,
4. the recorded moments: risk R = (e^T K e + floor)/2, e_i^2 and e_i for the requested
   coordinates, and the per-replica dyadic block averages,

reading each coordinate of the replica's state once per step. The statistics over replicas are
*shifted sums* (x - K, K the first replica's value at that step): sum, sum of squares and of cubes
give the mean, centred second and third moments with no cancellation problem (exactly 0 when all
replicas agree) and in one pass.

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
    "fill_normal",
    "fill_raw",
    "finish_shifted",
    "gradients",
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

_jit = nb.njit(cache=True, nogil=True)


def sfc64_state(seed) -> np.ndarray:
    """The 4-word state (a, b, c, counter) of ``numpy.random.SFC64(seed)`` as a fresh uint64 array."""
    return np.array(np.random.SFC64(seed).state["state"]["state"], dtype=np.uint64)


@_jit
def _next(s):
    """One SFC64 output (Chris Doty-Humphrey's small fast counting generator, as in NumPy)."""
    tmp, s[0], s[1], s[2], s[3] = _advance(s[0], s[1], s[2], s[3])
    return tmp


@nb.njit(cache=True, nogil=True, inline="always")
def _advance(a, b, c, w):
    """One SFC64 step on the state (a, b, c, w) held in registers: (output, a, b, c, w)."""
    tmp = a + b + w
    return tmp, b ^ (b >> _U11), c + (c << _U3), ((c << _U24) | (c >> _U40)) + tmp, w + _U1


@nb.njit(cache=True, nogil=True, inline="always")
def _unit(t):
    """The double in [0, 1) NumPy makes of the 64-bit output t (its top 53 bits)."""
    return np.float64(t >> _U11) * _TO_DOUBLE


@_jit
def _normal_slow(a, b, c, w, idx, rabs, x):
    """The ziggurat's rare branches (tail and wedges); returns (accepted, value, a, b, c, w)."""
    if idx == 0:
        while True:
            t, a, b, c, w = _advance(a, b, c, w)
            xx = -_INV_R * np.log1p(-_unit(t))
            t, a, b, c, w = _advance(a, b, c, w)
            yy = -np.log1p(-_unit(t))
            if yy + yy > xx * xx:
                if (rabs >> _U8) & _U1:
                    return True, -(_R + xx), a, b, c, w
                return True, _R + xx, a, b, c, w
    t, a, b, c, w = _advance(a, b, c, w)
    if (_FI[idx - 1] - _FI[idx]) * _unit(t) + _FI[idx] < np.exp(-0.5 * x * x):
        return True, x, a, b, c, w
    return False, 0.0, a, b, c, w


@nb.njit(cache=True, nogil=True, inline="always")
def _nrm(a, b, c, w):
    """A standard normal variate: NumPy's ``random_standard_normal`` (256-layer ziggurat) on the
    SFC64 state (a, b, c, w) held in registers; returns (x, a, b, c, w). No array is passed in:
    an array argument of an inlined function costs a reference-count increment and decrement
    per variate (atomic operations that halved the generator's rate)."""
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


@_jit
def fill_normal(s, out):
    """Fill the 1-d array ``out`` with standard normals from the SFC64 state ``s`` (advanced in place)."""
    a, b, c, w = s[0], s[1], s[2], s[3]
    for i in range(out.shape[0]):
        out[i], a, b, c, w = _nrm(a, b, c, w)
    s[0], s[1], s[2], s[3] = a, b, c, w


@_jit
def fill_raw(s, out):
    """Fill the 1-d uint64 array ``out`` with raw SFC64 outputs (for the bit-for-bit test)."""
    for i in range(out.shape[0]):
        out[i] = _next(s)


@_jit
def _gradient(s, st, r, C, ci, cr, sqrt_lam, noise_sd, batch, sufficient, q, z):
    """The minibatch gradient of replica ``r`` at its gradient point (row S of C[ci, cr]) as
    g_i = scale_i (alpha q_i + beta z_i) with q = sqrt(lambda) p and z filled here; returns
    (alpha, beta). Direct sampling: alpha = 0 and z the (single or summed) z_b r_b; sufficient
    statistics: z = w (drawn first, in the pass that forms q), then the B pairs (s_b, eps_b), and
    (alpha, beta) = ((A - sqrt(R2) <q, w>)/<q, q>, sqrt(R2))."""
    S = st.shape[0]
    d = st.shape[2]
    ra, rb_, rc, rw = s[0], s[1], s[2], s[3]
    # coefficients in registers (stores to q could alias C and would force reloads)
    p0 = C[ci, cr, S, 0]
    p1 = C[ci, cr, S, 1] if S > 1 else 0.0
    qq = 0.0
    dot = 0.0   # <z_1, q> (direct, B = 1) or <w, q> (sufficient statistics)
    fuse = sufficient or batch == 1   # draw z_1 or w in the same pass as q
    for i in range(d):
        if S == 1:
            p = p0 * st[0, r, i]
        elif S == 2:
            p = p0 * st[0, r, i] + p1 * st[1, r, i]
        else:
            p = 0.0
            for j in range(S):
                p += C[ci, cr, S, j] * st[j, r, i]
        qi = sqrt_lam[i] * p
        q[i] = qi
        qq += qi * qi
        if fuse:
            zi, ra, rb_, rc, rw = _nrm(ra, rb_, rc, rw)
            z[i] = zi
            dot += zi * qi
    alpha = 0.0
    beta = 1.0
    if sufficient:
        nq = np.sqrt(qq)
        a = 0.0
        r2 = 0.0
        for _ in range(batch):
            x, ra, rb_, rc, rw = _nrm(ra, rb_, rc, rw)
            sb = nq * x
            rb = sb
            if noise_sd > 0.0:
                x, ra, rb_, rc, rw = _nrm(ra, rb_, rc, rw)
                rb -= noise_sd * x
            a += sb * rb
            r2 += rb * rb
        beta = np.sqrt(r2)
        alpha = (a - beta * dot) / qq if qq > 0.0 else 0.0
    elif fuse:
        beta = dot
        if noise_sd > 0.0:
            x, ra, rb_, rc, rw = _nrm(ra, rb_, rc, rw)
            beta -= noise_sd * x
    else:
        zb = z[d:]    # z holds 2d entries: the sum in the first half, the current z_b in the second
        for b in range(batch):
            dot = 0.0
            for i in range(d):
                zi, ra, rb_, rc, rw = _nrm(ra, rb_, rc, rw)
                zb[i] = zi
                dot += zi * q[i]
            rb = dot
            if noise_sd > 0.0:
                x, ra, rb_, rc, rw = _nrm(ra, rb_, rc, rw)
                rb -= noise_sd * x
            if b == 0:
                for i in range(d):
                    z[i] = zb[i] * rb
            else:
                for i in range(d):
                    z[i] += zb[i] * rb
    s[0], s[1], s[2], s[3] = ra, rb_, rc, rw
    return alpha, beta


#: update and recording: reductions may be reassociated (vectorised); the random numbers are not
#: touched by these flags, and a given build gives the same numbers every run
_fjit = nb.njit(cache=True, nogil=True, fastmath={"reassoc"})


@_fjit
def _update(st, r, C, ci, cr, scale, q, z, alpha, beta, new):
    """s_a <- sum_j U_aj s_j + U_a,g g for replica ``r``, g_i = scale_i (alpha q_i + beta z_i)."""
    S = st.shape[0]
    d = st.shape[2]
    # coefficients in registers for one- and two-variable states (SGD, the momentum methods)
    u00 = C[ci, cr, 0, 0]
    u0g = C[ci, cr, 0, S]
    if S == 1:
        row = st[0, r]
        for i in range(d):
            row[i] = u0g * (scale[i] * (alpha * q[i] + beta * z[i])) + u00 * row[i]
    elif S == 2:
        u01, u10, u11, u1g = C[ci, cr, 0, 1], C[ci, cr, 1, 0], C[ci, cr, 1, 1], C[ci, cr, 1, 2]
        row0 = st[0, r]
        row1 = st[1, r]
        for i in range(d):
            gi = scale[i] * (alpha * q[i] + beta * z[i])
            a0 = row0[i]
            a1 = row1[i]
            row0[i] = u0g * gi + u00 * a0 + u01 * a1
            row1[i] = u1g * gi + u10 * a0 + u11 * a1
    else:
        for i in range(d):
            gi = scale[i] * (alpha * q[i] + beta * z[i])
            for a in range(S):
                v = C[ci, cr, a, S] * gi
                for j in range(S):
                    v += C[ci, cr, a, j] * st[j, r, i]
                new[a] = v
            for a in range(S):
                st[a, r, i] = new[a]


@_fjit
def _record_rows(st, k, first_rows, lam, floor, coords, rstat, mstat, mustat, feat):
    """Record step k of the rows of ``st`` for a subset ``coords`` of the coordinates: feat[r, 0:2] =
    (R, M_2) per replica, and shifted sums over replicas of the risk (with cubes) and of e_i^2, e_i."""
    m = st.shape[1]
    d = st.shape[2]
    for r in range(m):
        row = st[0, r]
        risk = 0.0
        m2 = 0.0
        for i in range(d):
            sq = row[i] * row[i]
            risk += lam[i] * sq
            m2 += lam[i] * lam[i] * sq
        _risk_stat(rstat, k, r, 0.5 * (risk + floor), m2, first_rows and r == 0, feat)
    for c in range(coords.shape[0]):
        j = coords[c]
        if first_rows:
            mstat[0, k, c] = st[0, 0, j] * st[0, 0, j]
            mustat[0, k, c] = st[0, 0, j]
        for r in range(m):
            e = st[0, r, j]
            dm = e * e - mstat[0, k, c]
            mstat[1, k, c] += dm
            mstat[2, k, c] += dm * dm
            du = e - mustat[0, k, c]
            mustat[1, k, c] += du
            mustat[2, k, c] += du * du


@_fjit
def _risk_stat(rstat, k, r, risk, m2, first, feat):
    """feat[r, 0:2] = (R, M_2); shifted sums (with cubes) of the risk at step k."""
    feat[r, 0] = risk
    feat[r, 1] = m2
    _shift1(rstat, k, risk, first)


@_fjit
def _shift1(stat, j, v, first):
    """Shifted sums (K, S1, S2, S3) of the scalar ``v`` into stat[:, j] (K set by the first replica)."""
    if first:
        stat[0, j] = v
    dv = v - stat[0, j]
    stat[1, j] += dv
    stat[2, j] += dv * dv
    stat[3, j] += dv * dv * dv


@_fjit
def _record_all(st, k, first_rows, lam, floor, rstat, mstat, mustat, feat, blk_r, blk_m, blk_mu, in_block):
    """:func:`_record_rows` for every coordinate, and (if ``in_block``) the block sums of
    :func:`_block_rows`, in one pass over each replica's row."""
    m = st.shape[1]
    d = st.shape[2]
    km, s1m, s2m = mstat[0, k], mstat[1, k], mstat[2, k]
    ku, s1u, s2u = mustat[0, k], mustat[1, k], mustat[2, k]
    if first_rows:
        row = st[0, 0]
        for i in range(d):
            km[i] = row[i] * row[i]
            ku[i] = row[i]
    for r in range(m):
        row = st[0, r]
        bm = blk_m[r]
        bu = blk_mu[r]
        risk = 0.0
        m2 = 0.0
        for i in range(d):
            e = row[i]
            sq = e * e
            risk += lam[i] * sq
            m2 += lam[i] * lam[i] * sq
            dm = sq - km[i]
            s1m[i] += dm
            s2m[i] += dm * dm
            du = e - ku[i]
            s1u[i] += du
            s2u[i] += du * du
            if in_block:
                bm[i] += sq
                bu[i] += e
        risk = 0.5 * (risk + floor)
        if in_block:
            blk_r[r] += risk
        _risk_stat(rstat, k, r, risk, m2, first_rows and r == 0, feat)


@_fjit
def _shift4(out, b, v, first):
    """Shifted sums (K, S1, S2, S3) of the 1-d ``v`` (one entry per coordinate) into out[:, b]."""
    k0, s1, s2, s3 = out[0, b], out[1, b], out[2, b], out[3, b]
    if first:
        for i in range(v.shape[0]):
            k0[i] = v[i]
    for i in range(v.shape[0]):
        dv = v[i] - k0[i]
        s1[i] += dv
        s2[i] += dv * dv
        s3[i] += dv * dv * dv


@_fjit
def _block_rows(st, block, width, first_rows, feat, blk_r, blk_m, blk_mu, bstat_r, bstat_m, bstat_mu, rep_brisk,
                accumulate):
    """Add step k's risk (feat[:, 0]), e_i^2 and e_i to each replica's block sums (if ``accumulate``);
    at the block's last step (``width`` > 0) put the block averages into the shifted sums over
    replicas and reset."""
    m = st.shape[1]
    d = st.shape[2]
    for r in range(m):
        if not accumulate:
            break
        row = st[0, r]
        bm = blk_m[r]
        bu = blk_mu[r]
        blk_r[r] += feat[r, 0]
        for i in range(d):
            bm[i] += row[i] * row[i]
            bu[i] += row[i]
    if width == 0:
        return
    inv = 1.0 / width
    for r in range(m):
        first = first_rows and r == 0
        v = blk_r[r] * inv
        rep_brisk[r, block] = v
        _shift1(bstat_r, block, v, first)
        blk_r[r] = 0.0
        bm = blk_m[r]
        bu = blk_mu[r]
        for i in range(d):
            bm[i] *= inv
            bu[i] *= inv
        _shift4(bstat_m, block, bm, first)
        _shift4(bstat_mu, block, bu, first)
        bm[:] = 0.0
        bu[:] = 0.0


@_jit
def _record(st, k, first_rows, lam, floor, coords, all_coords, rstat, mstat, mustat, blk_r, blk_m, blk_mu,
            block, width, bstat_r, bstat_m, bstat_mu, rep_brisk, feat):
    if all_coords:
        _record_all(st, k, first_rows, lam, floor, rstat, mstat, mustat, feat, blk_r, blk_m, blk_mu, block >= 0)
        if block >= 0:
            _block_rows(st, block, width, first_rows, feat, blk_r, blk_m, blk_mu, bstat_r, bstat_m, bstat_mu,
                        rep_brisk, False)
        return
    _record_rows(st, k, first_rows, lam, floor, coords, rstat, mstat, mustat, feat)
    if block >= 0:
        _block_rows(st, block, width, first_rows, feat, blk_r, blk_m, blk_mu, bstat_r, bstat_m, bstat_mu,
                    rep_brisk, True)


@_jit
def step_rows(s, st, C, k0, k1, first_rows, sqrt_lam, lam, scale, noise_sd, batch, sufficient, floor,
              coords, all_coords, block_of, block_width, rstat, mstat, mustat, blk_r, blk_m, blk_mu,
              bstat_r, bstat_m, bstat_mu, rep_brisk, feat, q, z, new):
    """Steps k0..k1 (k = 0: record only) of the replicas of ``st`` (S, m, d): per step, every
    replica's gradient and update, then the recording of the step over the rows. C has shape
    (T, 1 or m, S+1, S+1) with T = 1 or k1 - k0 (coefficients of step k at index k - max(k0, 1)
    when T > 1). ``first_rows``: these rows start the chunk (row 0 sets the shifts).
    Scratch: q (d,), z (2d,), new (S,)."""
    m = st.shape[1]
    for k in range(k0, k1 + 1):
        if k > 0:
            ci = 0 if C.shape[0] == 1 else k - max(k0, 1)
            for r in range(m):
                cr = 0 if C.shape[1] == 1 else r
                alpha, beta = _gradient(s, st, r, C, ci, cr, sqrt_lam, noise_sd, batch, sufficient, q, z)
                _update(st, r, C, ci, cr, scale, q, z, alpha, beta, new)
        _record(st, k, first_rows, lam, floor, coords, all_coords, rstat, mstat, mustat, blk_r, blk_m, blk_mu,
                block_of[k], block_width[k], bstat_r, bstat_m, bstat_mu, rep_brisk, feat)


@_jit
def gradients(s, st, C, sqrt_lam, scale, noise_sd, batch, sufficient, q, z, Gall, feat):
    """Phase 1 of a step with per-replica hyperparameters: every replica's minibatch gradient into
    Gall (m, d) (C[0, 0 or r] gives the gradient point), <g, g> into feat[:, 2]."""
    d = st.shape[2]
    for r in range(st.shape[1]):
        cr = 0 if C.shape[1] == 1 else r
        alpha, beta = _gradient(s, st, r, C, 0, cr, sqrt_lam, noise_sd, batch, sufficient, q, z)
        g2 = 0.0
        for i in range(d):
            gi = scale[i] * (alpha * q[i] + beta * z[i])
            Gall[r, i] = gi
            g2 += gi * gi
        feat[r, 2] = g2


@_jit
def update_record(st, C, Gall, k, first_rows, lam, floor, coords, all_coords, block, width, rstat, mstat,
                  mustat, blk_r, blk_m, blk_mu, bstat_r, bstat_m, bstat_mu, rep_brisk, feat, ones, new):
    """Phase 2: apply each replica's update (C[0, r]) with its gradient Gall[r] and record step k
    (``ones``: an array of d ones, the gradient's scale)."""
    for r in range(st.shape[1]):
        cr = 0 if C.shape[1] == 1 else r
        g = Gall[r]
        _update(st, r, C, 0, cr, ones, g, g, 1.0, 0.0, new)
    _record(st, k, first_rows, lam, floor, coords, all_coords, rstat, mstat, mustat, blk_r, blk_m, blk_mu,
            block, width, bstat_r, bstat_m, bstat_mu, rep_brisk, feat)


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
