"""Compiled (numba) unit sweeps of the classic Hopfield net and the BAM (issue 13).

Each function is the compiled twin of a numpy path in :mod:`.model` (or the BAM's model) and gives
the same bits: the same visits in the same order, the same float operations on the fields (one
column of W added per flip, in the field's own dtype), and the random numbers are the ones the
numpy path draws, from each trial's own Generator, passed in as arrays. The batch axis runs in
parallel (``prange``): trials never share a row.

Glauber dynamics (Glauber 1963) compare a uniform draw u with p(s_i = +1) = (1 + tanh(g h)) / 2.
numpy evaluates tanh with its own SIMD code, numba with libm, and the two may differ in the last
bits; so the kernel decides only when u is farther than :data:`MARGIN` from p (computed in float64,
far more precisely than the float32/float64 value numpy compares against), and otherwise stops that
trial and hands the visit back (``pending``): the caller evaluates p with numpy's exact expression
and resumes the kernel with that decision forced. That happens about once in 30 000 visits.

Nothing here imports numba: :func:`recurnet_sim.kernels.njit` compiles on the first call.
"""
from __future__ import annotations

import math
import operator
import sys

import numpy as np

from ...kernels import njit, njit_pair, prange

#: Glauber: |u - p| below this (absolute) is decided by numpy's own tanh (see the module text);
#: 2**-16 is over 200 float32 ulps of p, far beyond the error of any tanh implementation
MARGIN = 2.0 ** -16


def _next_uint32_intrinsic():
    """numba intrinsic ``next_uint32(fn_address, state_address)``: one call of a numpy bit
    generator's C ``next_uint32`` (the function ``Generator.permutation`` draws from; PCG64 keeps
    the unused half of a 64-bit output in its own state, so this call sees it too)."""
    from ...kernels import bitgen_call
    return bitgen_call("uint32")


def _next_double_intrinsic():
    """numba intrinsic ``next_double(fn_address, state_address)``: the bit generator's C
    ``next_double``, one float64 of ``Generator.random``."""
    from ...kernels import bitgen_call
    return bitgen_call("float64")


#: numpy's PCG64 multiplier (PCG_DEFAULT_MULTIPLIER_128, pcg64.h)
_PCG64_MULT = (2549297995355413924 << 64) + 4865540595714422341


def _memory_intrinsics():
    """numba intrinsics on raw addresses: load_u64(a), load_u32(a), store_u32(a, v), and
    pcg64_next64(a): numpy's PCG64 step on the pcg64_random_t at a (128-bit state then increment:
    state = state * MULT + inc, output XSL-RR of the new state: rotr64(hi ^ lo, state >> 122)),
    so a compiled loop draws PCG64 without a call per number. Used only after
    :func:`_inline_pcg64_works` checked it against numpy's own C code in this process."""
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    i32, i64, i128 = ir.IntType(32), ir.IntType(64), ir.IntType(128)

    @intrinsic
    def load_u64(typingctx, a):
        def codegen(context, builder, signature, args):
            return builder.load(builder.inttoptr(args[0], i64.as_pointer()), align=8)
        return types.uint64(types.uint64), codegen

    @intrinsic
    def load_u32(typingctx, a):
        def codegen(context, builder, signature, args):
            return builder.load(builder.inttoptr(args[0], i32.as_pointer()), align=4)
        return types.uint32(types.uint64), codegen

    @intrinsic
    def store_u32(typingctx, a, v):
        def codegen(context, builder, signature, args):
            builder.store(args[1], builder.inttoptr(args[0], i32.as_pointer()), align=4)
            return context.get_dummy_value()
        return types.void(types.uint64, types.uint32), codegen

    @intrinsic
    def pcg64_next64(typingctx, a):
        def codegen(context, builder, signature, args):
            p = builder.inttoptr(args[0], i128.as_pointer())
            state = builder.load(p, align=8)
            inc = builder.load(builder.gep(p, [ir.Constant(i32, 1)]), align=8)
            new = builder.add(builder.mul(state, ir.Constant(i128, _PCG64_MULT)), inc)
            builder.store(new, p, align=8)
            x = builder.xor(builder.trunc(builder.lshr(new, ir.Constant(i128, 64)), i64), builder.trunc(new, i64))
            rot = builder.trunc(builder.lshr(new, ir.Constant(i128, 122)), i64)
            left = builder.and_(builder.neg(rot), ir.Constant(i64, 63))
            return builder.or_(builder.lshr(x, rot), builder.shl(x, left))
        return types.uint64(types.uint64), codegen

    return load_u64, load_u32, store_u32, pcg64_next64


# the intrinsics, set by load_intrinsics() before the first kernel that draws is compiled
_next_uint32 = None
_next_double = None
_load_u64 = _load_u32 = _store_u32 = _pcg64_next64 = None


def load_intrinsics() -> None:
    """Create the draw intrinsics (imports numba): call before the first drawing kernel."""
    global _next_uint32, _next_double, _load_u64, _load_u32, _store_u32, _pcg64_next64
    if _next_uint32 is None:
        _next_uint32, _next_double = _next_uint32_intrinsic(), _next_double_intrinsic()
        _load_u64, _load_u32, _store_u32, _pcg64_next64 = _memory_intrinsics()


_inline_ok = None


def _inline_pcg64_works() -> bool:
    """Whether the inline PCG64 draw (fn32 = 0 in the kernels) gives numpy's permutations and
    leaves numpy's state in this process (numpy's struct layout: pcg64_state = {pcg64_random_t *,
    int has_uint32, uint32 uinteger}, pcg64_random_t = {uint128 state, inc}, little-endian), checked
    once on scratch generators; otherwise every draw calls the C next_uint32."""
    global _inline_ok
    if _inline_ok is None:
        ok = sys.byteorder == "little"
        for seed, n, pre in ((1, 1000, 0), (2, 3, 1), (3, 517, 3), (4, 2, 0)):
            if not ok:
                break
            a, b = np.random.Generator(np.random.PCG64(seed)), np.random.Generator(np.random.PCG64(seed))
            a.integers(9, size=pre, dtype=np.uint32), b.integers(9, size=pre, dtype=np.uint32)
            order = np.empty((1, n), dtype=np.int64)
            states = np.array([a.bit_generator.ctypes.state_address], dtype=np.uint64)
            draw_orders(np.zeros(1, dtype=np.int64), states, np.uint64(0), np.uint64(0), order,
                        np.empty((1, 0)))
            ok = np.array_equal(order[0], b.permutation(n)) and a.bit_generator.state == b.bit_generator.state
        _inline_ok = bool(ok)
    return _inline_ok


class RngPointers:
    """The C ``next_uint32`` / ``next_double`` functions and state addresses of a list of
    Generators, so a compiled loop draws each trial's own stream (looked up once per list).

    ``ok`` is False (draw in Python instead) unless every generator is a plain
    ``numpy.random.Generator`` over one kind of bit generator, each with its own state: trials
    sharing a generator would race in a parallel loop."""

    def __init__(self, rngs):
        import ctypes

        self.rngs = tuple(rngs)
        self.ok = False
        f32, fd, states = set(), set(), []
        for g in self.rngs:
            if type(g) is not np.random.Generator:
                return
            c = g.bit_generator.ctypes
            f32.add(ctypes.cast(c.next_uint32, ctypes.c_void_p).value)
            fd.add(ctypes.cast(c.next_double, ctypes.c_void_p).value)
            states.append(c.state_address)
        if len(f32) == 1 and len(fd) == 1 and len(set(states)) == len(states):
            self.fn32, self.fndbl = np.uint64(f32.pop()), np.uint64(fd.pop())
            self.states = np.array(states, dtype=np.uint64)
            self.ok = True
            if all(type(g.bit_generator) is np.random.PCG64 for g in self.rngs) and _inline_pcg64_works():
                self.fn32 = np.uint64(0)  # the kernels draw PCG64 inline (_permute_pcg64)

    def __reduce__(self):  # addresses mean nothing in another process: a copy matches nothing
        return (RngPointers, ((),))

    def matches(self, rngs) -> bool:
        return len(rngs) == len(self.rngs) and all(map(operator.is_, rngs, self.rngs))


def _mask_of(i):
    """The smallest 2^k - 1 >= i (numpy's random_interval masks its draws with it)."""
    mask = i
    mask |= mask >> 1
    mask |= mask >> 2
    mask |= mask >> 4
    mask |= mask >> 8
    mask |= mask >> 16
    return mask


def _permute_into(out, fn, a):
    """``out[:] = Generator.permutation(len(out))`` of the generator whose C state is at ``a``:
    numpy's algorithm (``_shuffle_raw`` over ``arange``): for i = n-1 .. 1, j = random_interval(i)
    (next_uint32 masked to the smallest 2^k - 1 >= i, redrawn while > i), swap out[i], out[j].
    tests/test_kernels_hopfield.py checks it against numpy over many seeds, sizes and the
    generator's state afterwards."""
    if fn == 0:
        _permute_pcg64(out, a)
        return
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    for i in range(n - 1, 0, -1):
        mask = _mask_of(i)
        while True:
            v = np.int64(_next_uint32(fn, a)) & mask
            if v <= i:
                break
        t = out[v]
        out[v] = out[i]
        out[i] = t


def _permute_pcg64(out, a):
    """:func:`_permute_into` for a PCG64 generator with its draws inline: numpy's next_uint32
    (pcg64_next32: return the buffered upper half when has_uint32, else step, keep the upper
    half, return the lower) on the state at ``a``, the buffer held in registers and written back."""
    pcg = _load_u64(a)
    has = _load_u32(a + np.uint64(8))
    buf = _load_u32(a + np.uint64(12))
    n = out.shape[0]
    for i in range(n):
        out[i] = i
    for i in range(n - 1, 0, -1):
        mask = _mask_of(i)
        while True:
            if has != 0:
                has = np.uint32(0)
                v = np.int64(buf) & mask
            else:
                x = _pcg64_next64(pcg)
                buf = np.uint32(x >> np.uint64(32))
                has = np.uint32(1)
                v = np.int64(x & np.uint64(0xFFFFFFFF)) & mask
            if v <= i:
                break
        t = out[v]
        out[v] = out[i]
        out[i] = t
    _store_u32(a + np.uint64(8), has)
    _store_u32(a + np.uint64(12), buf)


def _sweep_row(b, g, state, field, theta, clamped, coupling_t, order, use_order, lo, hi, dval, use_theta,
               acc=None):
    """One deterministic asynchronous sweep of trial b (see :func:`_async_sweep`); returns its flips.
    ``use_theta`` False: every threshold is 0 (h - 0 is h: the load is skipped).

    acc : float64 (1,), optional    for a symmetric W: acc[0] = sum_i s_i (2 theta_i - h_i) (the
        energy over scale / 2, see :func:`_exact_energy`) kept up to date at each flip, in O(1):
        a change d of unit i changes it by 2 d (theta_i - h_i) - d^2 c_ii (h_i before the flip;
        sum_j s_j c_ji = h_i by symmetry). With exact integer couplings every term is an exact
        integer, so acc has the same bits as the sum from scratch."""
    N = state.shape[1]
    n = 0
    for p in range(N):
        i = order[p] if use_order else p
        h = field[b, i] - theta[b, i] if use_theta else field[b, i]
        s = state[b, i]
        # non-short-circuit tests: the sign of h is a coin toss from unit to unit, a branch on it
        # alone is mispredicted half the time; a disagreement (the only taken branch) is rare
        up = (h > 0) & (s == lo)
        if not (up | ((h < 0) & (s == hi))):
            continue  # agrees with its field, or a tie h = 0 (keeps its value)
        if clamped[b, i]:  # looked up only for the (few) disagreeing units
            continue
        if up:
            state[b, i] = hi
            d = dval[0]
        else:
            state[b, i] = lo
            d = -dval[0]
        if acc is not None:
            d64 = np.float64(d)
            acc[0] += (-2.0 * d64 * (np.float64(field[b, i]) - np.float64(theta[b, i]))
                       - d64 * d64 * np.float64(coupling_t[g, i, i]))
        for j in range(N):
            field[b, j] += d * coupling_t[g, i, j]
        n += 1
    return n


def _row_disagrees(b, state, field, theta, clamped, lo, hi):
    """Whether some unclamped unit of trial b disagrees with its field (h > 0 at lo, h < 0 at hi)."""
    for i in range(state.shape[1]):
        h = field[b, i] - theta[b, i]
        s = state[b, i]
        if (((h > 0) & (s == lo)) | ((h < 0) & (s == hi))) & (not clamped[b, i]):  # see _sweep_row
            return True
    return False


def _async_step(active, state, field, theta, clamped, coupling_t, per_trial, use_order, lo, hi, dval, use_theta,
                fn32, rng_states, flips):
    """A whole deterministic asynchronous tick (HopfieldModel._step for the sequential, random and
    T = 0 Glauber schedules) in one call: per active trial b, skip it when no unit disagrees with
    its field (drawing nothing), else draw its visit order from its own generator (C state at
    rng_states[b], numpy's permutation algorithm: :func:`_permute_into`) when ``use_order``, and
    sweep. use_theta : False when every threshold is 0. flips : int64 (B,) out (0 for skipped
    trials). Other parameters as :func:`_async_sweep`."""
    B = state.shape[0]
    N = state.shape[1]
    for b in prange(B):
        if not active[b] or not _row_disagrees(b, state, field, theta, clamped, lo, hi):
            continue
        order = np.empty(N if use_order else 0, dtype=np.int64)
        if use_order:
            _permute_into(order, fn32, rng_states[b])
        g = np.int64(b) if per_trial else np.int64(0)  # (a prange index may be unsigned)
        flips[b] = _sweep_row(b, g, state, field, theta, clamped, coupling_t, order, use_order, lo, hi, dval,
                              use_theta)


def _exact_energy(b, state, field, theta, half_scale):
    """E of trial b from its kept field, as HopfieldModel.energy for exact integer couplings:
    half_scale * sum_i s_i (2 theta_i - h_i) in float64. Every term and partial sum is an exact
    integer, so any order of summation gives numpy's bits."""
    acc = 0.0
    for i in range(state.shape[1]):
        acc += np.float64(state[b, i]) * (2.0 * np.float64(theta[b, i]) - np.float64(field[b, i]))
    return half_scale * acc


def _async_ticks(active, state, field, theta, clamped, coupling_t, per_trial, use_order, lo, hi, dval, use_theta,
                 fn32, rng_states, K, settle_from, half_scale, keep):
    """Up to K deterministic asynchronous ticks of each active trial: K calls of :func:`_async_step`
    in one (HopfieldModel.run_ticks), with what the engine's recorders read after each tick, for a
    symmetric W with exact integer couplings (the energy is kept by :func:`_sweep_row` at each
    flip). A trial whose tick k (1-based) changes no unit is at a fixed point: it changes nothing
    and draws nothing from then on (as _async_step skips it), and it ends at tick
    max(k, settle_from) when that is <= K, else rests to K. The block's ticks are n, the last tick
    an active trial runs.

    K : int                     the most ticks
    settle_from : int           the first tick at which a fixed point ends a trial (> K: never)
    half_scale : float64        0.5 * scale (energy in the units of W)
    keep : bool                 return the state after each tick
    Other parameters as :func:`_async_step`.

    Returns (allocated here: a call of few arguments, and no allocation in Python)
    -------
    flips : int64 (n, B)        units changed per tick (0 when inactive or ended)
    energy : float64 (n, B)     E after each tick (an ended or inactive trial keeps its own)
    states : int8 (n or 0, B, N) the state after each tick, when ``keep``
    settled : int64 (B,)        the tick that ended each trial, 0 when none did
    n : int64                   the block's ticks
    """
    B = state.shape[0]
    N = state.shape[1]
    flips = np.zeros((K, B), dtype=np.int64)
    energy = np.empty((K, B))
    states = np.empty((K if keep else 0, B, N), dtype=np.int8)
    settled = np.zeros(B, dtype=np.int64)
    written = np.zeros(B, dtype=np.int64)
    for b in prange(B):
        if not active[b]:
            continue
        g = np.int64(b) if per_trial else np.int64(0)
        order = np.empty(N if use_order else 0, dtype=np.int64)
        acc = np.empty(1)
        acc[0] = _exact_energy(b, state, field, theta, 1.0)
        t = 0
        while t < K:
            n = 0
            if _row_disagrees(b, state, field, theta, clamped, lo, hi):
                if use_order:
                    _permute_into(order, fn32, rng_states[b])
                n = _sweep_row(b, g, state, field, theta, clamped, coupling_t, order, use_order, lo, hi, dval,
                               use_theta, acc)
            flips[t, b] = n
            energy[t, b] = half_scale * acc[0]
            if keep:
                for i in range(N):
                    states[t, b, i] = state[b, i]
            t += 1
            if n == 0:
                # at rest: every later tick is the same; it ends at settle_from at the latest
                end = t if t >= settle_from else settle_from
                if end <= K:
                    settled[b] = end
                break
        written[b] = t
    n_ticks = 0
    for b in range(B):
        if active[b]:
            end = settled[b] if settled[b] > 0 else K
            n_ticks = end if end > n_ticks else n_ticks
    # the rest of the block's ticks: no change (ended, resting or inactive)
    for b in prange(B):
        t = written[b]
        e = energy[t - 1, b] if t > 0 else _exact_energy(b, state, field, theta, half_scale)
        for k in range(t, n_ticks):
            energy[k, b] = e
            if keep:
                for i in range(N):
                    states[k, b, i] = state[b, i]
    return flips[:n_ticks], energy[:n_ticks], states[:n_ticks], settled, n_ticks


@njit
def draw_orders(rows, rng_states, fn32, fndbl, order, draws):  # pragma: no cover - compiled
    """Per swept trial r (generator rng_states[rows[r]]): ``order[r] = permutation(N)`` when order
    has N columns, then ``draws[r] = random(N)`` when draws has columns: the numbers numpy's
    ``rngs[b].permutation(N)`` and ``rngs[b].random(N)`` give, in that order."""
    for r in range(rows.shape[0]):
        a = rng_states[rows[r]]
        if order.shape[1] > 0:
            _permute_into(order[r], fn32, a)
        for k in range(draws.shape[1]):
            draws[r, k] = _next_double(fndbl, a)


_mask_of = njit(_mask_of)
_permute_into = njit(_permute_into)
_permute_pcg64 = njit(_permute_pcg64)
_sweep_row = njit(_sweep_row)
_row_disagrees = njit(_row_disagrees)
_exact_energy = njit(_exact_energy)


def _async_sweep(rows, state, field, theta, clamped, coupling_t, per_trial, order, use_order, lo, hi, dval, flips):
    """One deterministic asynchronous sweep (Hopfield 1982) of trials ``rows``, in place.

    Parameters
    ----------
    rows : int64 (R,)                   trials to sweep (rows of state / field)
    state : int8 (B, N)                 unit values lo / hi
    field : float32 or float64 (B, N)   W s in coupling units, kept exact by one column per flip
    theta : same dtype (B, N)           thresholds in coupling units
    clamped : bool (B, N)
    coupling_t : (G, N, N)              W^T in coupling units (G = B per trial, else 1)
    per_trial : bool                    trial b uses coupling_t[b] (else coupling_t[0])
    order : int64 (R, N)                visit order per swept trial (ignored unless use_order)
    lo, hi : int                        the two unit values
    dval : field dtype (1,)             hi - lo, so each column is added in the field's dtype
    flips : int64 (R,)                  out: units changed per trial
    """
    R = rows.shape[0]
    for r in prange(R):
        b = rows[r]
        g = b if per_trial else 0
        flips[r] = _sweep_row(b, g, state, field, theta, clamped, coupling_t, order[r], use_order, lo, hi, dval,
                              True)


def _glauber_sweep(rows, state, field, theta, clamped, coupling_t, per_trial, order, draws, gain, lo, hi, dval,
                  start, forced, flips, pending, pending_h, margin):
    """One Glauber sweep (Glauber 1963) of trials ``rows`` in ``order``, in place, resumable.

    Position p of trial r visits unit order[r, p]: with h its field (minus theta) and
    x = gain * h in the field's dtype, the unit becomes ``hi`` when draws[r, p] < (1 + tanh x) / 2,
    else ``lo``. Trial r starts at position start[r]; when forced[r] >= 0 that first visit takes
    ``hi`` (1) or ``lo`` (0) without comparing. A visit whose draw lies within ``margin`` of p is
    not decided here: pending[r] = p, pending_h[r] = h, start[r] = p, and the trial stops (the
    caller decides it with numpy and calls again). Otherwise pending[r] = -1 at the end.

    gain : field dtype (1,); draws : float64 (R, N); start, forced, pending : int64 (R,);
    pending_h : float64 (R,); flips : int64 (R,), accumulated across resumptions.
    Other parameters as :func:`async_sweep`.
    """
    R = rows.shape[0]
    N = state.shape[1]
    for r in prange(R):
        b = rows[r]
        g = b if per_trial else 0
        n = 0
        pending[r] = -1
        for p in range(start[r], N):
            i = order[r, p]
            if clamped[b, i]:
                continue
            h = field[b, i] - theta[b, i]
            s = state[b, i]
            if p == start[r] and forced[r] >= 0:
                up = forced[r] == 1
            else:
                x = gain[0] * h
                ph = 0.5 * (1.0 + math.tanh(np.float64(x)))
                u = draws[r, p]
                if abs(u - ph) <= margin:
                    pending[r] = p
                    pending_h[r] = h
                    start[r] = p
                    break
                up = u < ph
            new = hi if up else lo
            if new == s:
                continue
            state[b, i] = new
            d = dval[0] if up else -dval[0]
            for j in range(N):
                field[b, j] += d * coupling_t[g, i, j]
            n += 1
        flips[r] += n


def _sync_update(rows, state, field, theta, clamped, lo, hi, s_new, changed):
    """The threshold half of a synchronous update (Little 1974) of trials ``rows``, in place:
    s_i <- hi if h_i > 0, lo if h_i < 0, unchanged at h_i = 0 or clamped. Writes the new states
    of the swept rows to ``s_new`` (R, N) in the field's dtype (the GEMM that rebuilds the fields
    reads it) and the number of changed units to ``changed`` (R,)."""
    R = rows.shape[0]
    N = state.shape[1]
    for r in prange(R):
        b = rows[r]
        c = 0
        for i in range(N):
            s = state[b, i]
            new = s
            if not clamped[b, i]:
                h = field[b, i] - theta[b, i]
                if h > 0:
                    new = hi
                elif h < 0:
                    new = lo
            if new != s:
                c += 1
            s_new[r, i] = new
        changed[r] = c


def _sync_apply_incremental(rows, state, field, coupling_t, per_trial, s_new, dval):
    """Write ``s_new`` into the states of ``rows`` and correct their fields by one column of W per
    changed unit: exact for integer couplings (every partial sum is an integer below 2**24), so
    it equals rebuilding the fields from scratch when few units changed."""
    R = rows.shape[0]
    N = state.shape[1]
    for r in prange(R):
        b = rows[r]
        g = b if per_trial else 0
        for i in range(N):
            new = s_new[r, i]
            if new != state[b, i]:
                d = dval[0] if new > state[b, i] else -dval[0]
                state[b, i] = np.int8(new)
                for j in range(N):
                    field[b, j] += d * coupling_t[g, i, j]


def _any_disagree(rows, state, field, theta, clamped, lo, hi, out):
    """out[r]: whether some unclamped unit of trial rows[r] disagrees with its field (h > 0 at lo,
    h < 0 at hi): the compiled twin of HopfieldModel._would_change(rows).any(axis=1)."""
    for r in prange(rows.shape[0]):
        out[r] = _row_disagrees(rows[r], state, field, theta, clamped, lo, hi)


def _bam_async_sweep(rows, state, full, clamped, order, flips):
    """One asynchronous BAM sweep (Kosko 1988) over all units of trials ``rows``, in place: unit
    u = order[r, t] takes sign(sum_j full[u, j] s_j), keeping its value at a zero net input or
    when clamped. The net input is summed in index order from the current state, as the caller's
    reference does for integer weights (it uses this kernel only for those: sums exact in float64).

    state : float64 (B, n); full : float64 (n, n) = [[0, W], [W^T, 0]]; order : int64 (R, n);
    flips : int64 (R,) out."""
    R = rows.shape[0]
    n = state.shape[1]
    for r in prange(R):
        b = rows[r]
        c = 0
        for t in range(n):
            u = order[r, t]
            if clamped[b, u]:
                continue
            h = 0.0
            for j in range(n):
                h += full[u, j] * state[b, j]
            old = state[b, u]
            new = 1.0 if h > 0 else (-1.0 if h < 0 else old)
            if new != old:
                state[b, u] = new
                c += 1
        flips[r] = c


# (parallel, serial) twins: the parallel one only pays off for a batch of several trials
async_sweep, async_sweep_serial = njit_pair(_async_sweep)
async_step, async_step_serial = njit_pair(_async_step)
async_ticks, async_ticks_serial = njit_pair(_async_ticks)
glauber_sweep, glauber_sweep_serial = njit_pair(_glauber_sweep)
sync_update, sync_update_serial = njit_pair(_sync_update)
sync_apply_incremental, sync_apply_incremental_serial = njit_pair(_sync_apply_incremental)
bam_async_sweep, bam_async_sweep_serial = njit_pair(_bam_async_sweep)
any_disagree, any_disagree_serial = njit_pair(_any_disagree)

#: batches below this many swept trials run the serial twin
PARALLEL_MIN_TRIALS = 4


def pick(name: str, n_trials: int):
    """Kernel ``name`` for a batch of ``n_trials`` swept trials: the parallel one, or its serial
    twin (``name_serial``) for a small batch."""
    return globals()[name if n_trials >= PARALLEL_MIN_TRIALS else name + "_serial"]
