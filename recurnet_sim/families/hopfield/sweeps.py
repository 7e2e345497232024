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

import numpy as np

from ...kernels import njit_pair, prange

#: Glauber: |u - p| below this (absolute) is decided by numpy's own tanh (see the module text);
#: 2**-16 is over 200 float32 ulps of p, far beyond the error of any tanh implementation
MARGIN = 2.0 ** -16


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
    N = state.shape[1]
    for r in prange(R):
        b = rows[r]
        g = b if per_trial else 0
        n = 0
        for p in range(N):
            i = order[r, p] if use_order else p
            if clamped[b, i]:
                continue
            h = field[b, i] - theta[b, i]
            s = state[b, i]
            if h > 0 and s == lo:
                state[b, i] = hi
                d = dval[0]
            elif h < 0 and s == hi:
                state[b, i] = lo
                d = -dval[0]
            else:
                continue  # agrees with its field, or a tie h = 0 (keeps its value)
            for j in range(N):
                field[b, j] += d * coupling_t[g, i, j]
            n += 1
        flips[r] = n


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
    N = state.shape[1]
    for r in prange(rows.shape[0]):
        b = rows[r]
        hit = False
        for i in range(N):
            if not clamped[b, i]:
                h = field[b, i] - theta[b, i]
                s = state[b, i]
                if (h > 0 and s == lo) or (h < 0 and s == hi):
                    hit = True
                    break
        out[r] = hit


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
