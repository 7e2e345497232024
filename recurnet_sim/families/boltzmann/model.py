"""The Boltzmann machine (Ackley, Hinton & Sejnowski 1985, "A learning algorithm for Boltzmann
machines", Cognitive Science 9:147-169) and its restricted form (Smolensky 1986, "harmonium";
trained by contrastive divergence, Hinton 2002, "Training products of experts by minimizing
contrastive divergence", Neural Computation 14:1771-1800).

Units are binary (0/1, the paper's choice) or bipolar (+-1); weights are symmetric with a zero
diagonal; each unit has a bias (the paper's threshold, as a weight from an always-on unit). The
energy of a state s is::

    E(s) = -1/2 s^T W s - b^T s

and at temperature T the machine samples p(s) = exp(-E(s)/T) / Z. One tick is one *sweep*: every
unclamped unit is probed once, in a random order, by the heat-bath (Glauber) rule::

    p(s_i = on) = sigma(dE_i / T),   dE_i = E(s_i = off) - E(s_i = on) = h_i       (0/1 units)
                                                                      = 2 h_i     (+-1 units)
    h_i = sum_j w_ij s_j + b_i

(the paper's "time unit": one probe per unclamped unit). At T = 0 the rule is deterministic: on
when dE_i > 0, off when dE_i < 0, unchanged when dE_i = 0. A restricted machine (``topology =
"rbm"``: visible-hidden weights only) is swept in two blocks instead — all hidden units from the
visible ones, then all visible units from the hidden ones — which is an exact Gibbs sweep because
units of one layer are conditionally independent given the other.

Learning, usable from Python (a generator of cycles, or a function with a progress callback) and
from a scenario's ``[training]`` table (run before tick 0 by the engine, one cycle per training
tick, through :func:`train`):

* :func:`train_ahs1985` — the 1985 procedure: a clamped phase (visible units fixed to a noisily
  clamped environment vector) and a free phase, each annealed by the schedule and then sampled for
  the co-occurrence statistics p+_ij and p-_ij; weights move by a fixed step in the direction of
  sign(p+_ij - p-_ij) (the paper's choice) or by eps (p+_ij - p-_ij) (the gradient of the
  KL divergence G, ``rule = "gradient"``).
* :func:`train_cd` — CD-k for the restricted topology (Hinton 2002).
"""
from __future__ import annotations

import math
import operator
import pathlib
import threading
from typing import Any, Callable, Iterator, Sequence

import numpy as np

from ...anneal import AnnealSchedule, anneal_field
from ...npzio import read_npz, write_npz
from ...errors import SimulationError, TraceFileError, ValidationError
from ...spec import Field, Table
from ...family import Output, TrainingRun
from ...model import Model, UnitUpdate
from ...kernels import kernel_for, njit, numpy_clock, prange, use_compiled

__all__ = [
    "BoltzmannMachine", "sigmoid", "heat_bath_sweep", "block_gibbs_sweep", "train_ahs1985", "train_cd",
    "iter_ahs1985", "iter_cd", "train",
    "complete", "encoder_data", "encoder_mask", "encoder_completion", "encoder_solved", "exact_distribution",
    "save_weights", "load_weights", "scenario_tables", "build", "summary",
]

ProgressFn = Callable[[int, int, dict], None]


# ----- numerics ------------------------------------------------------------------------------------
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigma(x) = 1 / (1 + exp(-x)) without overflow for any x, including +-inf.

    exp is only ever taken of -|x| <= 0, so it lies in [0, 1] and never overflows.
    """
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def _p_on(gap: np.ndarray, temperature: float) -> np.ndarray:
    """Heat-bath probability sigma(gap / T) of turning a unit on, for T > 0.

    ``gap / T`` may overflow to +-inf for tiny T or huge weights; sigmoid handles infinities,
    so only the overflow warning is silenced here.
    """
    with np.errstate(over="ignore"):
        return sigmoid(gap / temperature)


# ----- sweeps (pure functions of arrays and pre-drawn uniforms) --------------------------------------
_BLAS_SERIAL_MNK = 65536 * 4  # OpenBLAS runs a gemm of m*n*k <= this on the calling thread only


def _chunk_rows(M: int) -> int:
    """Rows per fixed-shape (rows, M) x (M, M) product when recomputing the gaps: 16, 8, 4, 2 or 1,
    the most that keeps the product below OpenBLAS's threading threshold. A threaded product of
    this size costs more to hand over than to compute, and on a busy machine the hand-over can
    wait for a time slice (measured: 150 ms instead of 2 ms per sweep of 8 chains x 200 units)."""
    r = 16
    while r > 1 and r * M * M > _BLAS_SERIAL_MNK:
        r //= 2
    return r

_scratch = threading.local()
_SCRATCH_MAX_BYTES = 8 << 20


def _buffer(name: str, shape: tuple, dtype=np.float64) -> np.ndarray:
    """A per-thread scratch array, reused from sweep to sweep.

    Fresh arrays of a few hundred kB are mapped and unmapped by malloc on every sweep, and the
    page faults of touching them again cost more than the sweep's arithmetic (measured: 1.19 ms
    against 0.75 ms for 64 chains of 100 units).
    """
    if math.prod(shape) * np.dtype(dtype).itemsize > _SCRATCH_MAX_BYTES:
        return np.empty(shape, dtype=dtype)  # big machines: do not keep tens of MB per thread
    cache = getattr(_scratch, "arrays", None)
    if cache is None:
        cache = _scratch.arrays = {}
    a = cache.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = cache[name] = np.empty(shape, dtype=dtype)
    return a

# ----- exact decisions ------------------------------------------------------------------------------
# A probe compares the unit's energy gap dE with the threshold T logit(u). The gap is a sum of N + 1
# terms (couplings times +-1 or 0, and the bias), and each implementation sums them in its own order
# (BLAS blocks its products, the compiled kernel updates fields incrementally), so the computed gaps
# may differ in the last bits. The decision is therefore defined on the *exact* sum of those float
# terms: every implementation computes the gap with a rigorous error bound (below) and, for the rare
# probe whose gap lies within that bound of the threshold, settles the sign by an exact sum
# (Shewchuk 1997, "Adaptive precision floating-point arithmetic", the algorithm of math.fsum). This
# makes the numpy, compiled and traced paths take identical decisions (bit-identical states) on any
# machine, and makes T = 0 ties (dE = 0) exact in every summation order.
_EPS = 2.0 ** -52  # twice the unit roundoff of float64


def _gap_bounds(wg: np.ndarray, bg: np.ndarray, block: int) -> np.ndarray:
    """Upper bound on |computed gap - exact gap| of each unit, shape (N,).

    A gap is computed as a sum, in any order, of at most ``2 N + block + 2`` exact terms (couplings
    times 0/+-1 from the states, the bias, and the changes of units probed earlier in the sweep, each
    unit changing at most once by at most 2 w), whose absolute values sum to at most
    ``S = 3 sum_j |w_jl| + |b_l|``; such a sum is off by at most gamma_{n-1} S (Higham 2002, "Accuracy
    and stability of numerical algorithms", eq. 4.4), which ``n * 2^-52 * S`` exceeds.
    """
    N = len(bg)
    S = 3.0 * np.abs(wg).sum(axis=0) + np.abs(bg)
    return (2 * N + block + 8) * _EPS * S


def _thresholds(u: np.ndarray, temperature: float) -> np.ndarray:
    """T logit(u): a probe turns on when its gap exceeds it (u < sigma(dE / T)), shape of ``u``.

    Every kernel uses these very numbers (numpy's log), so they agree to the last bit."""
    if temperature > 0:
        with np.errstate(divide="ignore", over="ignore"):
            thr = np.log(u / (1.0 - u))
            thr *= temperature
        return thr
    return np.zeros(u.shape)


def _exact_chain_sweep(s: np.ndarray, wg: np.ndarray, bg: np.ndarray, order: np.ndarray, thr: np.ndarray,
                       lo: float, hi: float, bound: np.ndarray, temperature: float = 0.0, gain: float = 1.0,
                       trace: list | None = None) -> int:
    """The heat-bath rule probe by probe on one chain (the reference the blocked sweep falls back to
    near a tie, and the traced path of sub-sweep stepping).

    Parameters
    ----------
    s : ndarray, shape (N,), modified in place
    wg, bg : gain-scaled weights (N, N) and biases (N,): the gap of unit i is ``wg[i] @ s + bg[i]``
    order : ndarray of int, shape (n_free,)
        Units in probe order.
    thr : ndarray, shape (>= n_free,)
        Threshold of the t-th probe (:func:`_thresholds`).
    trace : list, optional
        Receives a :class:`~recurnet_sim.model.UnitUpdate` per probe.

    Returns
    -------
    int
        Units changed.
    """
    changed = 0
    for t, i in enumerate(order):
        i = int(i)
        gap = float(wg[i] @ s + bg[i])
        d = gap - thr[t]
        if 0.0 < bound[i] and abs(d) <= bound[i]:
            d = math.fsum(np.append(wg[i] * s, (bg[i], -thr[t])))  # exact: the products are exact
        old = s[i]
        on = old > lo
        change = d < 0 if on else d > 0
        if change:
            s[i] = lo if on else hi
            changed += 1
        if trace is not None:
            field = gap / gain
            p_on = float(_p_on(np.array(gap), temperature)) if temperature > 0 else None
            trace.append(UnitUpdate(i, float(old), float(s[i]), field, -(float(s[i]) - old) * field, p_on))
    return changed


@njit
def _exact_margin(wg, bg, srow, i, thr):  # pragma: no cover - compiled
    """Sign-exact ``wg[i] @ srow + bg[i] - thr`` (Shewchuk's partials, as in math.fsum): the largest
    non-zero partial of the expansion has the sign of the exact sum."""
    n = srow.shape[0]
    partials = np.empty(n + 2)
    m = 0
    for j in range(n + 2):
        if j < n:
            x = wg[i, j] * srow[j]
        elif j == n:
            x = bg[i]
        else:
            x = -thr
        if x == 0.0:
            continue
        k = 0
        for q in range(m):
            y = partials[q]
            if abs(x) < abs(y):
                x, y = y, x
            hsum = x + y
            lsum = y - (hsum - x)
            if lsum != 0.0:
                partials[k] = lsum
                k += 1
            x = hsum
        partials[k] = x
        m = k + 1
    for q in range(m - 1, -1, -1):
        if partials[q] != 0.0:
            return partials[q]
    return 0.0


@njit
def _bucket(key, n):  # pragma: no cover - compiled
    """min(max(int(key * n), 0), n - 1): monotone in key (the bucket sort of _sweep_chain)."""
    x = key * n
    if x < 1.0:
        return 0
    if x >= n - 1:
        return n - 1
    return int(x)


@njit
def _sweep_chain(s, wg, bg, free, keys, thr, bound, lo, hi, b, h, order, h0):  # pragma: no cover - compiled
    """Compiled heat-bath sweep of chain b (the same decisions as the numpy sweep: same probe
    order, same thresholds, exact near ties). Its fields are kept and updated by one row of
    couplings when a unit changes. ``h``, ``order``: scratch rows (N,). ``h0`` (B, N): the chains'
    starting gaps ``s @ wg + bg`` computed by the caller (a BLAS product), or (0, N) to sum them
    here. Either summation order is within ``bound`` (it holds for any order, _gap_bounds), so the
    decisions are the same. Returns the units changed."""
    N = s.shape[1]
    nf = 0
    # The free units by increasing key, ties by index (stable, as numpy's argsort): an insertion
    # sort (below) of the units in index order (N <= 48), or first bucketed (an argsort per chain
    # was most of a 100-unit sweep): bucket q = int(key * N) never decreases with the key, so a
    # lower bucket holds only strictly smaller keys, and filling the buckets in index order leaves
    # the insertion sort only the moves inside a bucket. Expected O(N) for uniform keys.
    if N <= 48:
        for i in range(N):
            if free[b, i]:
                order[nf] = i
                nf += 1
    else:
        cnt = np.zeros(N + 1, dtype=np.int64)
        for i in range(N):
            if free[b, i]:
                cnt[_bucket(keys[b, i], N) + 1] += 1
                nf += 1
        for q in range(N):
            cnt[q + 1] += cnt[q]
        for i in range(N):
            if free[b, i]:
                q = _bucket(keys[b, i], N)
                order[cnt[q]] = i
                cnt[q] += 1
    for t in range(1, nf):
        x = order[t]
        key = keys[b, x]
        p = t
        while p > 0 and keys[b, order[p - 1]] > key:
            order[p] = order[p - 1]
            p -= 1
        order[p] = x
    if N > 48:
        h = np.empty(N)  # fresh: LLVM then knows it aliases nothing and vectorises the row updates
    if h0.shape[0] > 0:
        for q in range(N):
            h[q] = h0[b, q]
    else:
        for q in range(N):
            h[q] = bg[q]
        for j in range(N):
            sj = s[b, j]
            if sj != 0.0:
                for q in range(N):
                    h[q] += sj * wg[j, q]
    count = 0
    for t in range(nf):
        i = order[t]
        old = s[b, i]
        d = h[i] - thr[b, t]
        if bound[i] > 0.0 and abs(d) <= bound[i]:
            d = _exact_margin(wg, bg, s[b], i, thr[b, t])
        on = old > lo
        if (on and d < 0.0) or ((not on) and d > 0.0):
            new = lo if on else hi
            s[b, i] = new
            delta = new - old
            for q in range(N):
                h[q] += delta * wg[i, q]
            count += 1
    return count


@njit(parallel=True)
def _heat_bath_parallel(s, wg, bg, free, keys, thr, bound, lo, hi, flips, h0):  # pragma: no cover - compiled
    h = np.empty(s.shape)
    order = np.empty(s.shape, dtype=np.int64)
    for b in prange(s.shape[0]):
        flips[b] = _sweep_chain(s, wg, bg, free, keys, thr, bound, lo, hi, b, h[b], order[b], h0)


@njit
def _heat_bath_serial(s, wg, bg, free, keys, thr, bound, lo, hi, flips, h0):  # pragma: no cover - compiled
    h = np.empty(s.shape[1])
    order = np.empty(s.shape[1], dtype=np.int64)
    for b in range(s.shape[0]):
        flips[b] = _sweep_chain(s, wg, bg, free, keys, thr, bound, lo, hi, b, h, order, h0)


# Below this many multiply-adds per sweep a second thread costs more to wake (and, on a busy
# machine, to wait for) than it saves; chains are independent, so either loop gives the same numbers.
_PARALLEL_WORK = 1 << 22


def _next_double_intrinsic():
    """numba intrinsic ``next_double(fn_address, state_address)``: one call of a numpy bit
    generator's ``next_double`` (what ``Generator.random`` calls per float64), so a compiled loop
    draws each chain's own stream without a Python call per chain."""
    from ...kernels import bitgen_call
    return bitgen_call("float64")


_next_double = None  # the intrinsic, set before the first compiled draw


@njit
def _draw_kernel(out, states, fn):  # pragma: no cover - compiled
    """``out[i] = Generator(states[i]).random(out.shape[1])``, drawn through the bit generators'
    C ``next_double`` in the same order as ``Generator.random``."""
    for i in range(out.shape[0]):
        a = states[i]
        for k in range(out.shape[1]):
            out[i, k] = _next_double(fn, a)


class _RngPointers:
    """The C state addresses of a list of Generators (looked up once per list of generators)."""

    def __init__(self, rngs):
        import ctypes

        self.rngs = tuple(rngs)
        self.fn = None
        fns, states = set(), []
        for g in self.rngs:
            if type(g) is not np.random.Generator:
                return
            c = g.bit_generator.ctypes
            fns.add(ctypes.cast(c.next_double, ctypes.c_void_p).value)
            states.append(c.state_address)
        if len(fns) == 1:  # one kind of bit generator: one function to call
            self.fn = np.uint64(fns.pop())
            self.states = np.array(states, dtype=np.uint64)

    def __reduce__(self):  # addresses mean nothing in another process: a copy matches nothing
        return (_RngPointers, ((),))

    def matches(self, rngs) -> bool:
        return len(rngs) == len(self.rngs) and all(map(operator.is_, rngs, self.rngs))


def heat_bath_sweep(s: np.ndarray, weights: np.ndarray, biases: np.ndarray, free: np.ndarray,
                    temperature: float, order_keys: np.ndarray, uniforms: np.ndarray,
                    bipolar: bool = False, block: int = 20, kernel: str = "numpy",
                    trace: list | None = None) -> np.ndarray:
    """One asynchronous heat-bath sweep of many chains at once (Ackley et al. 1985; Glauber 1963).

    Every free unit of every chain is probed exactly once, in a per-chain random order, by the rule
    "on when ``uniforms[b, t] < sigma(dE / T)``" (T > 0) or "on when dE > 0, off when dE < 0,
    unchanged when dE = 0" (T = 0). The comparison is made as ``dE > T logit(u)`` and decided on
    the exact sum of dE's float terms (see ``_gap_bounds``), so every kernel takes the same
    decisions. At T > 0 an exact tie ``dE == T logit(u)`` (probability ~2^-53) keeps the unit's
    value, as at T = 0.

    ``kernel = "numpy"`` (the reference): the chains advance in lock step — step t probes unit
    ``order[b, t]`` in chain b — so each step is a few vectorised operations over the batch.

    * ``u < sigma(g / T)  <=>  g > T logit(u)``, so every threshold of the sweep is one vectorised
      log up front instead of an exp per probe.
    * A unit is probed once per sweep, so its value before its probe is its value at the start of
      the sweep, known up front. Working with the *sign-flipped* gap ``sigma_i g_i`` (sigma = +1
      for an off unit, -1 for an on one) turns "does unit i change?" into one comparison with a
      per-probe threshold for every chain, whatever its current value.
    * Steps are taken in blocks of ``block``: at the start of a block the gaps of all units are
      recomputed from the states (a matrix product per chunk of up to 16 chains), and the block's
      ``block x block`` couplings are gathered per chain, so a step updates only the block's
      ``(block, B)`` gaps (compare, multiply, add) instead of all N fields of every chain.
    * Each probe's margin ``gap - threshold`` is kept; a chain with a margin inside the error
      bound is swept again probe by probe with the exact rule (rare: ~1e-14 per probe at T > 0).

    ``kernel = "compiled"``: the numba kernel ``_sweep_chain``, one chain per iteration of a
    (parallel, for big batches) loop, with per-chain fields updated when a unit changes. ``trace`` (a list per chain)
    takes the probe-by-probe path and records every probe.

    Every number of chain b is computed by operations on chain b alone, so a batch reproduces
    single runs bit for bit (tested).

    Parameters
    ----------
    s : ndarray, shape (B, N), float64
        States, modified in place (0/1, or +-1 when ``bipolar``).
    weights : ndarray, shape (N, N), symmetric, zero diagonal
    biases : ndarray, shape (N,)
    free : ndarray of bool, shape (B, N)
        Units that may change (not clamped, trial active).
    temperature : float
        >= 0; 0 is the deterministic limit (no uniforms used).
    order_keys : ndarray, shape (B, N)
        Uniform [0, 1) keys; chain b probes its free units in the order of increasing key (ties by
        unit index), which is a uniformly random permutation.
    uniforms : ndarray, shape (B, N)
        Uniform [0, 1) numbers; the t-th probe of chain b accepts "on" when ``uniforms[b, t] < p``.
    bipolar : bool
    block : int
        Steps per block of the numpy kernel: speed only.
    kernel : {"numpy", "compiled"}
    trace : list of B lists, optional
        Receives each chain's :class:`~recurnet_sim.model.UnitUpdate` records in probe order.

    Returns
    -------
    ndarray of int, shape (B,)
        Units changed per chain.
    """
    greater, multiply, add, subtract = np.greater, np.multiply, np.add, np.subtract
    B, N = s.shape
    n_free = free.sum(axis=1)
    steps = int(n_free.max(initial=0))
    if steps == 0:
        return np.zeros(B, dtype=np.int64)
    lo, hi = (-1.0, 1.0) if bipolar else (0.0, 1.0)
    gain = 2.0 if bipolar else 1.0
    span = hi - lo
    thr_bt = _thresholds(uniforms[:, :steps], temperature)  # (B, steps), shared by every kernel
    wg = weights * gain  # gap dE = gain * h
    bg = biases * gain
    bound = _gap_bounds(wg, bg, block)
    # Clamped units sort after every free one (keys are < 1), so the first n_free[b] entries of a
    # row are exactly chain b's free units in random order (a stable sort: ties by unit index).
    if trace is not None or kernel == "numpy":
        keys = order_keys if n_free.min() == N else np.where(free, order_keys, 2.0)
        order = np.argsort(keys, axis=1, kind="stable")[:, :steps]
    if trace is not None:
        flips = np.zeros(B, dtype=np.int64)
        for c in range(B):
            flips[c] = _exact_chain_sweep(s[c], wg, bg, order[c, :n_free[c]], thr_bt[c], lo, hi, bound,
                                          temperature, gain, trace[c])
        return flips
    if kernel == "compiled":
        flips = np.zeros(B, dtype=np.int64)
        run = _heat_bath_parallel if B * N * N >= _PARALLEL_WORK else _heat_bath_serial
        wg = np.ascontiguousarray(wg)
        if N > 48:  # the starting gaps by one BLAS product (they were most of a 100-unit sweep)
            h0 = s @ wg
            h0 += bg
        else:
            h0 = np.empty((0, N))
        run(s, wg, bg, np.ascontiguousarray(free), np.ascontiguousarray(order_keys), np.ascontiguousarray(thr_bt),
            bound, lo, hi, flips, h0)
        return flips
    # Chains with fewer free units than `steps` probe a dummy unit N (zero weights, never read)
    # for their surplus steps, so every step is the same few whole-batch operations.
    if n_free.min() < steps:
        order = np.where(np.arange(steps)[None, :] < n_free[:, None], order, N)
    M = N + 1
    wp = np.zeros((M, M))
    wp[:N, :N] = wg
    bp = np.zeros(M)
    bp[:N] = bg
    bnd = np.zeros(M)
    bnd[:N] = bound
    # signed[a, i, c, l] = (-1)^(a + c) * span * wp[i, l]: the change of unit l's flipped gap when
    # unit i changes, for units whose values at the start of the sweep were a and c.
    signed = _buffer("signed", (2, M, 2, M))
    np.multiply(wp, span, out=signed[0, :, 0])
    signed[1, :, 1] = signed[0, :, 0]
    np.negative(signed[0, :, 0], out=signed[0, :, 1])
    signed[1, :, 0] = signed[0, :, 1]
    signed = signed.reshape(-1)
    # States padded to whole chunks of R rows: the gaps are recomputed one fixed-shape
    # (R, M) x (M, M) product per chunk (R depends on M only), in which every row is computed the
    # same way wherever it sits, so a chain's numbers do not depend on the batch it is in.
    R = _chunk_rows(M)
    Bp = -(-B // R) * R
    sp = _buffer("states", (Bp, M))
    sp[:B, :N] = s
    sp[:B, N] = lo
    sp[B:] = 0.0
    spf = sp.reshape(-1)
    sp3 = sp.reshape(Bp // R, R, M)
    h3 = _buffer("gaps", sp3.shape)
    hf = h3.reshape(-1)
    unit = np.ascontiguousarray(order.T)  # (steps, B)
    flat = unit + (np.arange(B) * M)[None, :]  # flat indices into (B, M)
    on = spf[flat] > lo  # each unit's value before its probe = at the start of the sweep
    col_key = on * M + unit
    row_key = col_key * (2 * M)
    sign = np.where(on, -1.0, 1.0)
    thr = np.ascontiguousarray(thr_bt.T)
    # An off unit changes when g > thr, an on unit when -g > -thr; an exact tie g == thr keeps it.
    tau = np.where(on, -thr, thr)
    change = np.empty((steps, B))
    margin = np.empty((steps, B))
    gs = np.empty((block, B))
    tmp = np.empty((block, B))
    idx_buf = _buffer("pair_index", (block, block, B), np.intp)
    wb_buf = _buffer("pair_weights", (block, block, B))
    for j0 in range(0, steps, block):
        j1 = min(steps, j0 + block)
        k = j1 - j0
        if j0:
            p0 = j0 - block
            spf[flat[p0:j0]] = np.where(on[p0:j0] != (change[p0:j0] > 0), hi, lo)
        np.matmul(sp3, wp, out=h3)
        g = gs[:k]
        np.take(hf, flat[j0:j1], out=g, mode="clip")  # indices are valid; clip avoids a copy
        g += bp[unit[j0:j1]]
        g *= sign[j0:j1]
        # (k, k, B): sigma_i sigma_l span w[u_i, u_l] of chain b
        ix = idx_buf[:k, :k]
        np.add(row_key[j0:j1, None, :], col_key[None, j0:j1, :], out=ix)
        wb = wb_buf[:k, :k]
        np.take(signed, ix, out=wb, mode="clip")
        t_ = tmp[:k]
        # The sequential part: four small operations per step (iterating the arrays yields
        # their rows as views without Python-level indexing).
        for g_i, tau_i, c, m_i, w_i in zip(g, tau[j0:j1], change[j0:j1], margin[j0:j1], wb):
            subtract(g_i, tau_i, out=m_i)
            greater(g_i, tau_i, out=c, casting="unsafe")
            multiply(w_i, c, out=t_)
            add(g, t_, out=g)
    p0 = (steps - 1) // block * block
    spf[flat[p0:]] = np.where(on[p0:] != (change[p0:] > 0), hi, lo)
    # The dummy unit may have "changed"; it is not a unit (its bound is 0: never near a tie).
    flips = np.count_nonzero((change > 0) & (unit < N), axis=0)
    bu = bnd[unit]
    near = np.flatnonzero(((np.abs(margin) <= bu) & (bu > 0)).any(axis=0))
    for c in near:  # a decision within rounding of its threshold: redo the chain exactly
        flips[c] = _exact_chain_sweep(s[c], wg, bg, order[c, :n_free[c]], thr_bt[c], lo, hi, bound)
        sp[c, :N] = s[c]
    s[...] = sp[:B, :N]
    return flips


def block_gibbs_sweep(s: np.ndarray, w_vh: np.ndarray, biases: np.ndarray, visible: np.ndarray,
                      hidden: np.ndarray, free: np.ndarray, temperature: float, uniforms: np.ndarray,
                      bipolar: bool = False, trace: list | None = None) -> np.ndarray:
    """One Gibbs sweep of a restricted machine: hidden | visible, then visible | hidden.

    Exact for a bipartite graph (no visible-visible or hidden-hidden weights), where the units of
    a layer are conditionally independent given the other layer (Smolensky 1986; Hinton 2002).

    Parameters
    ----------
    s : ndarray, shape (B, N), modified in place
    w_vh : ndarray, shape (n_visible, n_hidden)
    biases : ndarray, shape (N,)
    visible, hidden : ndarray of int
    free : ndarray of bool, shape (B, N)
    uniforms : ndarray, shape (B, N)
        Uniform [0, 1) numbers, one per unit (indexed by unit).
    trace : list of B lists, optional
        Receives each chain's free units' :class:`~recurnet_sim.model.UnitUpdate` records, hidden
        block then visible block, each in unit order.

    Returns
    -------
    ndarray of int, shape (B,)
    """
    lo, hi = (-1.0, 1.0) if bipolar else (0.0, 1.0)
    gain = 2.0 if bipolar else 1.0
    flips = np.zeros(s.shape[0], dtype=np.int64)
    for tgt, src, w in ((hidden, visible, w_vh), (visible, hidden, w_vh.T)):
        if tgt.size == 0:
            continue
        gap = gain * (s[:, src] @ w + biases[tgt])
        old = s[:, tgt]
        if temperature > 0:
            new = np.where(uniforms[:, tgt] < _p_on(gap, temperature), hi, lo)
        else:
            new = np.where(gap > 0, hi, np.where(gap < 0, lo, old))
        new = np.where(free[:, tgt], new, old)
        flips += np.count_nonzero(new != old, axis=1)
        if trace is not None:
            p_on = _p_on(gap, temperature) if temperature > 0 else None
            for c, rec in enumerate(trace):
                for k in np.flatnonzero(free[c, tgt]):
                    h = float(gap[c, k]) / gain
                    rec.append(UnitUpdate(int(tgt[k]), float(old[c, k]), float(new[c, k]), h,
                                          -(float(new[c, k]) - float(old[c, k])) * h,
                                          None if p_on is None else float(p_on[c, k])))
        s[:, tgt] = new
    return flips


# ----- the model --------------------------------------------------------------------------------------
class BoltzmannMachine(Model):
    """A Boltzmann machine with a batch of B independent chains.

    Parameters
    ----------
    weights : ndarray, shape (N, N)
        Symmetric, zero diagonal.
    biases : ndarray, shape (N,)
    n_visible : int
        Units 0..n_visible-1 are visible (the environment's), the rest hidden.
    units : {"binary", "bipolar"}
        0/1 units (Ackley et al. 1985) or +-1 units (Hopfield-style energies).
    topology : {"full", "encoder", "rbm"}
        Which weights may be non-zero (see :meth:`connectivity`); ``"rbm"`` also selects the
        two-block Gibbs sweep.
    temperature : float
    batch_size : int
    kernel : {"numpy", "compiled"}, optional
        Inner loop of the heat-bath sweep (:mod:`recurnet_sim.kernels`; default: ``RECURNET_KERNEL``
        or compiled). Both give bit-identical states.

    Attributes
    ----------
    weights, biases : ndarray
        The learned (or given) parameters; ``weights_``/``biases_`` are aliases.
    visible, hidden : ndarray of int
        Unit indices.
    mask : ndarray of bool, shape (N, N)
        Connections that exist (learning never touches the others).
    clamped : ndarray of bool, shape (batch, N)
        Clamped units keep their value under :meth:`step`.
    patterns : ndarray, shape (P, n_visible) or (P, N), or None
        Environment / stored vectors; overlaps are taken over the units they cover.
    """

    network_type = "boltzmann"
    energy_formula = "E = -1/2 s^T W s - b^T s"
    energy_label = "energy"

    def __init__(self, weights, biases=None, *, n_visible: int | None = None, units: str = "binary",
                 topology: str = "full", temperature: float = 1.0, batch_size: int = 1,
                 kernel: str | None = None):
        w = np.array(weights, dtype=np.float64)
        N = w.shape[0]
        if w.ndim != 2 or w.shape != (N, N):
            raise ValueError(f"BoltzmannMachine: weights must be square, got shape {w.shape}")
        if not np.allclose(w, w.T, rtol=0, atol=1e-12 * max(1.0, np.abs(w).max(initial=0))):
            raise ValueError("BoltzmannMachine: weights must be symmetric")
        if np.any(np.diag(w) != 0):
            raise ValueError("BoltzmannMachine: weights must have a zero diagonal")
        b = np.zeros(N) if biases is None else np.array(biases, dtype=np.float64)
        if b.shape != (N,):
            raise ValueError(f"BoltzmannMachine: biases must have shape ({N},), got {b.shape}")
        if units not in ("binary", "bipolar"):
            raise ValueError(f"BoltzmannMachine: units must be 'binary' or 'bipolar', got {units!r}")
        if topology not in ("full", "encoder", "rbm"):
            raise ValueError(f"BoltzmannMachine: topology must be 'full', 'encoder' or 'rbm', got {topology!r}")
        n_visible = N if n_visible is None else int(n_visible)
        if not 0 <= n_visible <= N:
            raise ValueError(f"BoltzmannMachine: n_visible must be in [0, {N}], got {n_visible}")
        self.units = units
        self.unit_values = (-1.0, 1.0) if units == "bipolar" else (0.0, 1.0)
        self.topology = topology
        self.visible = np.arange(n_visible)
        self.hidden = np.arange(n_visible, N)
        self.mask = self.connectivity(N, n_visible, topology)
        w = (w + w.T) / 2  # exact symmetry, so the fields of both orders agree bit for bit
        if np.any(w[~self.mask] != 0):
            raise ValueError(f"BoltzmannMachine: weights outside the {topology!r} topology must be 0")
        self.weights = w
        self.biases = b
        self.temperature = float(temperature)
        lo = self.unit_values[0]
        self.state = np.full((batch_size, N), lo)
        self.clamped = np.zeros((batch_size, N), dtype=bool)
        self.patterns = None
        self.pattern_names = []
        self.training_log_: list[dict] = []
        self.kernel = kernel_for(kernel)
        self._unit_trace: dict[int, tuple[UnitUpdate, ...]] = {}

    # sklearn-style names for learned values
    @property
    def weights_(self) -> np.ndarray:
        return self.weights

    @property
    def biases_(self) -> np.ndarray:
        return self.biases

    def weight_matrix(self, trial: int = 0) -> np.ndarray:
        """The symmetric weights, shape (N, N) (shared by every trial)."""
        return self.weights

    @staticmethod
    def connectivity(N: int, n_visible: int, topology: str) -> np.ndarray:
        """Allowed connections, shape (N, N) bool, zero diagonal.

        ``full``: every pair. ``rbm``: visible-hidden only (Smolensky 1986). ``encoder``: the visible
        units are two equal groups V1, V2 (Ackley et al. 1985's encoder problems) with no direct
        V1-V2 weights, so everything V1 tells V2 must pass through the hidden units.
        """
        m = ~np.eye(N, dtype=bool)
        if topology == "rbm":
            vis = np.zeros(N, dtype=bool)
            vis[:n_visible] = True
            m &= vis[:, None] != vis[None, :]
        elif topology == "encoder":
            if n_visible % 2:
                raise ValueError(f"encoder topology needs an even number of visible units, got {n_visible}")
            half = n_visible // 2
            g = np.full(N, 2)
            g[:half], g[half:n_visible] = 0, 1
            m &= ~(((g[:, None] == 0) & (g[None, :] == 1)) | ((g[:, None] == 1) & (g[None, :] == 0)))
        return m

    @property
    def bipolar(self) -> bool:
        return self.units == "bipolar"

    @property
    def deterministic(self) -> bool:
        return self.temperature == 0

    # ----- dynamics -----------------------------------------------------------------------------
    def step(self, rngs: Sequence[np.random.Generator], active: np.ndarray) -> np.ndarray:
        """One sweep at ``self.temperature`` of the unclamped units of the active trials.

        Trial b draws its probe order and its acceptance numbers from ``rngs[b]`` only (2N uniforms
        per sweep, whether or not they are all used), so a batch equals single runs with the same
        seeds.

        Returns
        -------
        ndarray of int, shape (batch,)
            Units changed.
        """
        if self.temperature < 0 or not math.isfinite(self.temperature):
            raise SimulationError(f"temperature must be finite and >= 0, got {self.temperature}")
        active = np.asarray(active, dtype=bool)
        B, N = self.state.shape
        flips = np.zeros(B, dtype=np.int64)
        rows = np.flatnonzero(active)
        if rows.size == 0:
            return flips
        # Like Hopfield's, a "compiled" machine starts on the numpy kernel (the same bits) and
        # switches once numpy has spent kernels.COMPILE_AFTER_S: a short run never pays numba's start-up.
        kernel = "compiled" if use_compiled(self) else "numpy"
        whole = rows.size == B
        s = self.state if whole else self.state[rows]
        free = ~(self.clamped if whole else self.clamped[rows])
        trace = [[] for _ in rows] if self.trace_units else None
        self._unit_trace = {}
        with numpy_clock(kernel != self.kernel):
            draws = self._draw(rngs, rows, 2 * N, kernel)
            if self.topology == "rbm":
                f = block_gibbs_sweep(s, self.weights[np.ix_(self.visible, self.hidden)], self.biases, self.visible,
                                      self.hidden, free, self.temperature, draws[:, N:], self.bipolar, trace=trace)
            else:
                f = heat_bath_sweep(s, self.weights, self.biases, free, self.temperature, draws[:, :N], draws[:, N:],
                                    self.bipolar, kernel=kernel, trace=trace)
        if trace is not None:
            self._unit_trace = {int(b): tuple(t) for b, t in zip(rows, trace)}
        if not whole:
            self.state[rows] = s
        flips[rows] = f
        return flips

    def _draw(self, rngs, rows: np.ndarray, n: int, kernel: str | None = None) -> np.ndarray:
        """``rngs[b].random(n)`` for each b in ``rows``, shape (len(rows), n): a Python loop (numpy
        kernel), or one compiled loop calling each generator's C ``next_double`` (the same
        numbers; a Python call per chain was half the sweep with 30,000 chains)."""
        global _next_double
        out = np.empty((rows.size, n))
        if (self.kernel if kernel is None else kernel) == "compiled" and rows.size >= 8:
            ptr = getattr(self, "_rng_pointers", None)
            if ptr is None or not ptr.matches(rngs):
                ptr = self._rng_pointers = _RngPointers(rngs)
            if ptr.fn is not None:
                if _next_double is None:
                    _next_double = _next_double_intrinsic()
                _draw_kernel(out, ptr.states[rows], ptr.fn)
                return out
        for i, b in enumerate(rows):
            rngs[b].random(out=out[i])  # the same numbers as rngs[b].random(n)
        return out

    def unit_updates(self, trial: int = 0) -> tuple[UnitUpdate, ...]:
        """Every probe of trial ``trial``'s last sweep in order (unit, before, after, local field h_i,
        energy change, p(on)), when :attr:`trace_units` was set for it; replaying them from the
        state before the sweep gives the state after it. A restricted machine's block sweep is
        listed hidden units first, then visible ones (each block's units are independent given
        the other block, so applying them one at a time changes nothing)."""
        return self._unit_trace.get(int(trial), ())

    def energy(self) -> np.ndarray:
        """``E = -1/2 s^T W s - b^T s`` per trial, shape (batch,)."""
        s = self.state
        return -0.5 * np.einsum("bi,ij,bj->b", s, self.weights, s) - s @ self.biases

    def free_energy_gap(self) -> np.ndarray:
        """dE_i of every unit (energy gap between off and on), shape (batch, N)."""
        g = self.state @ self.weights + self.biases
        return 2.0 * g if self.bipolar else g

    def is_stable(self) -> np.ndarray:
        """Whether a T=0 sweep would change nothing (a local energy minimum), shape (batch,)."""
        lo, hi = self.unit_values
        gap = self.free_energy_gap()
        new = np.where(gap > 0, hi, np.where(gap < 0, lo, self.state))
        return ((new == self.state) | self.clamped).all(axis=1)

    # ----- patterns / overlaps ------------------------------------------------------------------
    def _pattern_units(self) -> np.ndarray:
        if self.patterns is not None and self.patterns.shape[1] == len(self.visible) != self.n_units:
            return self.visible
        return np.arange(self.n_units)

    def overlaps(self) -> np.ndarray:
        """Overlap of the units the patterns cover (visible units for environment vectors), with
        0/1 mapped to -1/+1, shape (batch, P)."""
        if self.patterns is None or len(self.patterns) == 0:
            return np.zeros((self.batch_size, 0))
        units = self._pattern_units()
        s = self.state[:, units]
        xi = self.patterns
        if not self.bipolar:
            s, xi = 2 * s - 1, 2 * xi - 1
        return s @ xi.T / len(units)

    def load_pattern(self, k: int, rows=None) -> None:
        if self.patterns is None or not 0 <= k < len(self.patterns):
            n = 0 if self.patterns is None else len(self.patterns)
            raise SimulationError(f"pattern {k + 1} does not exist ({n} stored)")
        rows = slice(None) if rows is None else rows
        self.state[rows, self._pattern_units()] = self.patterns[k]
        self._state_changed(rows)

    def outcome(self, trial: int = 0) -> dict[str, Any]:
        """Stored / spurious, or a completion judged on its free units (:mod:`.outcome`)."""
        from .outcome import boltzmann_outcome
        return boltzmann_outcome(self, trial)

    # ----- parameters ---------------------------------------------------------------------------
    def set_parameters(self, weights: np.ndarray, biases: np.ndarray) -> None:
        """Replace weights (masked to the topology, symmetrised) and biases."""
        w = np.where(self.mask, np.asarray(weights, dtype=np.float64), 0.0)
        self.weights = (w + w.T) / 2
        self.biases = np.asarray(biases, dtype=np.float64).copy()

    def random_state(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` uniformly random states, shape (n, N)."""
        lo, hi = self.unit_values
        return np.where(rng.random((n, self.n_units)) < 0.5, hi, lo)

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap.update(weights=self.weights.copy(), biases=self.biases.copy())
        return snap

    def restore(self, snap: dict[str, Any]) -> None:
        super().restore(snap)
        self.weights = snap["weights"].copy()
        self.biases = snap["biases"].copy()

    def describe(self) -> dict[str, Any]:
        return {
            "network_type": self.network_type,
            "n_units": self.n_units,
            "units": self.units,
            "topology": self.topology,
            "visible": self.visible.tolist(),
            "hidden": self.hidden.tolist(),
            "layers": {"visible": slice(0, len(self.visible)), "hidden": slice(len(self.visible), self.n_units)},
            "grid_shape": getattr(self, "grid_shape", None),
        }


# ----- sampling helpers shared by the learning procedures ---------------------------------------
def _run_chains(m: BoltzmannMachine, s: np.ndarray, free: np.ndarray, temps: Sequence[float],
                rng: np.random.Generator, stats_sweeps: int = 0, stats_T: float | None = None):
    """Anneal chains ``s`` (B, N) in place through ``temps`` (one sweep each), then sample
    ``stats_sweeps`` sweeps at ``stats_T`` and return the mean of s_i s_j (N, N) and s_i (N,)."""
    B, N = s.shape
    rbm = m.topology == "rbm"
    w_vh = m.weights[np.ix_(m.visible, m.hidden)] if rbm else None

    def sweep(T):
        u = rng.random((2, B, N))
        if rbm:
            block_gibbs_sweep(s, w_vh, m.biases, m.visible, m.hidden, free, T, u[1], m.bipolar)
        else:
            heat_bath_sweep(s, m.weights, m.biases, free, T, u[0], u[1], m.bipolar, kernel=m.kernel)

    for T in temps:
        sweep(T)
    if stats_sweeps <= 0:
        return None, None
    co = np.zeros((N, N))
    mean = np.zeros(N)
    for _ in range(stats_sweeps):
        sweep(stats_T)
        co += s.T @ s
        mean += s.sum(axis=0)
    n = stats_sweeps * B
    return co / n, mean / n


def _schedule_temps(schedule: AnnealSchedule) -> tuple[list[float], float]:
    if schedule.total_ticks is None:
        raise ValueError("learning needs a bounded annealing schedule")
    temps = [schedule.temperature_at(k) for k in range(schedule.total_ticks)]
    return temps, schedule.temperature_at(schedule.total_ticks)


def _noisy_clamp(data: np.ndarray, p_on_off: float, p_off_on: float, rng: np.random.Generator, lo: float) -> np.ndarray:
    # Ackley et al. 1985: "noisy clamping" — an on unit is clamped off with probability p_on_off
    # and an off unit on with probability p_off_on, so the clamped statistics never reach 0 or 1
    # and the weights cannot grow without bound.
    on = data > lo
    r = rng.random(data.shape)
    flip = np.where(on, r < p_on_off, r < p_off_on)
    return np.where(flip, np.where(on, lo, 1.0), data)


def _end_of_cycle(model, i: int, info: dict, stop, check_every: int) -> bool:
    """Shared tail of a learning cycle: the optional stop test and the log entry (appended to
    ``model.training_log_`` at once, so a run stopped half-way still reports what it did).
    Returns whether training should stop."""
    done = False
    if stop is not None and i % check_every == 0:
        done = bool(stop(model))
        info["solved"] = done
    model.training_log_.append(info)
    return done


def _run_to_end(cycles: Iterator[dict], n: int, key: str, progress: ProgressFn | None) -> list[dict]:
    """Drive a learning generator to its end; ``progress(i, n, info)`` after each cycle."""
    log = []
    for info in cycles:
        log.append(info)
        if progress is not None:
            progress(info[key], n, info)
    return log


def train_ahs1985(model: BoltzmannMachine, data: np.ndarray, *, cycles: int = 200,
                  progress: ProgressFn | None = None, **kw) -> list[dict]:
    """Run :func:`iter_ahs1985` to its end: Boltzmann machine learning (Ackley, Hinton &
    Sejnowski 1985) in place on ``model``.

    Parameters
    ----------
    progress : callable, optional
        ``progress(cycle, cycles, info)`` after each cycle (``info`` as yielded by
        :func:`iter_ahs1985`).
    cycles, **kw : as in :func:`iter_ahs1985`

    Returns
    -------
    list of dict
        One info dict per cycle (also appended to ``model.training_log_``).
    """
    return _run_to_end(iter_ahs1985(model, data, cycles=cycles, **kw), cycles, "cycle", progress)


def iter_ahs1985(model: BoltzmannMachine, data: np.ndarray, *, cycles: int = 200,
                 schedule: AnnealSchedule | None = None, stats_sweeps: int = 10, anneals_per_pattern: int = 8,
                 rule: str = "sign", step: float = 2.0, learning_rate: float = 1.0, noise_on_off: float = 0.15,
                 noise_off_on: float = 0.05, weight_decay: float = 0.0, learn_biases: bool = True,
                 rng: np.random.Generator, stop: Callable[[BoltzmannMachine], bool] | None = None,
                 check_every: int = 10) -> Iterator[dict]:
    """Boltzmann machine learning (Ackley, Hinton & Sejnowski 1985), in place on ``model``, one
    learning cycle per ``next()`` (the engine drives a scenario's training this way, so it is
    observable cycle by cycle; :func:`train_ahs1985` runs it to the end).

    Each learning cycle:

    1. *Clamped phase* — ``anneals_per_pattern`` chains per environment vector, visible units
       clamped to a noisily clamped copy of it, hidden units annealed by ``schedule`` from a random
       start, then ``stats_sweeps`` sweeps at the final temperature give p+_ij = <s_i s_j>+.
    2. *Free phase* — as many chains with nothing clamped, annealed the same way, give p-_ij.
    3. ``rule = "sign"``: w_ij += step * sign(p+_ij - p-_ij) (the paper's fixed-size step; default
       ``step = 2``). ``rule = "gradient"``: w_ij += learning_rate * (p+_ij - p-_ij), the gradient
       descent on G = KL(P+ || P-) (times T). Biases learn the same way from <s_i>.

    All chains of a phase run as one batch, drawing from ``rng``.

    With the sign rule every weight moves by +-step every cycle, so once G is near its minimum the
    weights random-walk and a learned encoder can be unlearned again (measured, 24 encoders with 2
    annealings per vector and no stop: 15 passing the sampled test at cycle 600, 7 at cycle 1000);
    the paper counts the cycles to the first solution, and ``stop`` does the same.
    ``anneals_per_pattern = 8`` learns the 4-2-4 encoder more reliably than 2 (the paper's) or 20:
    43/48 seeds against 38/48 and 15/24 (see tests/test_boltzmann.py).

    Parameters
    ----------
    model : BoltzmannMachine
        Its ``weights``/``biases`` are updated; ``model.mask`` limits which weights exist.
    data : ndarray, shape (P, n_visible)
        Environment vectors in the model's unit values.
    schedule : AnnealSchedule, optional
        Default :meth:`AnnealSchedule.ackley1985` (must be bounded); statistics are taken at its
        final temperature.
    weight_decay : float
        Fraction by which every weight and bias shrinks each cycle before the step (0: none, as
        in the paper's encoder runs).
    stop : callable, optional
        ``stop(model) -> bool`` checked every ``check_every`` cycles; training ends early when true.

    Yields
    ------
    dict
        After each cycle (also appended to ``model.training_log_``): ``cycle``, ``max_dw`` (the
        largest weight change), ``mean_abs_dp`` (mean ``|p+_ij - p-_ij|``) and, every
        ``check_every`` cycles when ``stop`` is given, ``solved``.
    """
    if rule not in ("sign", "gradient"):
        raise ValueError(f"train_ahs1985: rule must be 'sign' or 'gradient', got {rule!r}")
    data = np.asarray(data, dtype=np.float64)
    nv = len(model.visible)
    if data.ndim != 2 or data.shape[1] != nv:
        raise ValueError(f"train_ahs1985: data must have shape (P, {nv}), got {data.shape}")
    schedule = schedule or AnnealSchedule.ackley1985()
    temps, t_stats = _schedule_temps(schedule)
    N = model.n_units
    lo = model.unit_values[0]
    P = len(data)
    B = P * anneals_per_pattern
    targets = np.repeat(data, anneals_per_pattern, axis=0)
    free_c = np.ones((B, N), dtype=bool)
    free_c[:, model.visible] = False
    free_f = np.ones((B, N), dtype=bool)
    for cycle in range(1, cycles + 1):
        s = model.random_state(rng, B)
        s[:, model.visible] = _noisy_clamp(targets, noise_on_off, noise_off_on, rng, lo)
        co_p, m_p = _run_chains(model, s, free_c, temps, rng, stats_sweeps, t_stats)
        s = model.random_state(rng, B)
        co_m, m_m = _run_chains(model, s, free_f, temps, rng, stats_sweeps, t_stats)
        d_co, d_m = co_p - co_m, m_p - m_m
        if rule == "sign":
            dw, db = step * np.sign(d_co), step * np.sign(d_m)
        else:
            dw, db = learning_rate * d_co, learning_rate * d_m
        dw = np.where(model.mask, dw, 0.0)
        w, b = model.weights, model.biases
        if weight_decay:
            w, b = w * (1.0 - weight_decay), b * (1.0 - weight_decay)
        model.set_parameters(w + dw, b + (db if learn_biases else 0.0))
        info = {"cycle": cycle, "max_dw": float(np.abs(dw).max(initial=0)),
                "mean_abs_dp": float(np.abs(d_co[model.mask]).mean()) if model.mask.any() else 0.0}
        done = _end_of_cycle(model, cycle, info, stop, check_every)
        yield info
        if done:
            return


def train_cd(model: BoltzmannMachine, data: np.ndarray, *, epochs: int = 500,
             progress: ProgressFn | None = None, **kw) -> list[dict]:
    """Run :func:`iter_cd` to its end: CD-k (Hinton 2002) in place on ``model``.

    Parameters
    ----------
    progress : callable, optional
        ``progress(epoch, epochs, info)`` after each epoch.
    epochs, **kw : as in :func:`iter_cd`

    Returns
    -------
    list of dict, one per epoch (also appended to ``model.training_log_``).
    """
    return _run_to_end(iter_cd(model, data, epochs=epochs, **kw), epochs, "epoch", progress)


def iter_cd(model: BoltzmannMachine, data: np.ndarray, *, epochs: int = 500, k: int = 1,
            learning_rate: float = 0.1, copies: int = 10, rng: np.random.Generator,
            stop: Callable[[BoltzmannMachine], bool] | None = None, check_every: int = 50) -> Iterator[dict]:
    """Contrastive divergence CD-k (Hinton 2002) for a restricted machine, in place, at T = 1, one
    epoch per ``next()``.

    Per epoch, with v0 = the data (each vector repeated ``copies`` times to average the sampling
    noise of tiny data sets)::

        h0 ~ p(h | v0);  k Gibbs steps v -> h -> v ... give (vk, hk)
        dW  = lr * (v0^T p(h|v0) - vk^T p(h|vk)) / n
        db_v = lr * mean(v0 - vk),  db_h = lr * mean(p(h|v0) - p(h|vk))

    (hidden probabilities instead of samples in the statistics reduce their variance, Hinton 2002).

    Parameters
    ----------
    model : BoltzmannMachine with ``topology = "rbm"`` and binary units
    data : ndarray, shape (P, n_visible), 0/1
    stop, check_every : as in :func:`iter_ahs1985`

    Yields
    ------
    dict
        After each epoch (also appended to ``model.training_log_``): ``epoch``, ``recon_error``
        (mean squared v0 - v1) and, when ``stop`` is checked, ``solved``.
    """
    if model.topology != "rbm":
        raise ValueError("train_cd: contrastive divergence needs topology = 'rbm'")
    if model.bipolar:
        raise ValueError("train_cd: needs binary (0/1) units")
    data = np.asarray(data, dtype=np.float64)
    vis, hid = model.visible, model.hidden
    v0 = np.repeat(data, copies, axis=0)
    n = len(v0)
    for epoch in range(1, epochs + 1):
        W = model.weights[np.ix_(vis, hid)]
        bv, bh = model.biases[vis], model.biases[hid]
        ph0 = sigmoid(v0 @ W + bh)
        h = (rng.random(ph0.shape) < ph0).astype(float)
        v = v0
        for step in range(k):
            pv = sigmoid(h @ W.T + bv)
            v = (rng.random(pv.shape) < pv).astype(float)
            phk = sigmoid(v @ W + bh)
            if step < k - 1:
                h = (rng.random(phk.shape) < phk).astype(float)
            if step == 0:
                recon = float(np.mean((v0 - pv) ** 2))
        dW = learning_rate * (v0.T @ ph0 - v.T @ phk) / n
        dbv = learning_rate * (v0 - v).mean(axis=0)
        dbh = learning_rate * (ph0 - phk).mean(axis=0)
        w = model.weights.copy()
        w[np.ix_(vis, hid)] += dW
        w[np.ix_(hid, vis)] += dW.T
        b = model.biases.copy()
        b[vis] += dbv
        b[hid] += dbh
        model.set_parameters(w, b)
        info = {"epoch": epoch, "recon_error": recon}
        done = _end_of_cycle(model, epoch, info, stop, check_every)
        yield info
        if done:
            return


def complete(model: BoltzmannMachine, data: np.ndarray, clamp_units: Sequence[int], *, rng: np.random.Generator,
             schedule: AnnealSchedule | None = None, chains: int = 20, stats_sweeps: int = 10) -> np.ndarray:
    """Pattern completion: clamp ``clamp_units`` to each data vector, anneal the rest, and return
    the mean activity of every unit over the statistics sweeps, shape (P, N).

    Parameters
    ----------
    data : ndarray, shape (P, n_visible)
    clamp_units : sequence of int
        Visible unit indices to clamp (e.g. the V1 group of an encoder).
    """
    schedule = schedule or AnnealSchedule.ackley1985()
    temps, t_stats = _schedule_temps(schedule)
    data = np.asarray(data, dtype=np.float64)
    clamp = np.asarray(clamp_units, dtype=int)
    P, N = len(data), model.n_units
    s = model.random_state(rng, P * chains)
    s[:, clamp] = np.repeat(data[:, clamp], chains, axis=0)
    free = np.ones_like(s, dtype=bool)
    free[:, clamp] = False
    out = np.zeros((P * chains, N))
    _run_chains(model, s, free, temps, rng)
    for _ in range(stats_sweeps):
        _run_chains(model, s, free, [t_stats], rng)
        out += s
    out /= stats_sweeps
    return out.reshape(P, chains, N).mean(axis=1)


def encoder_data(n: int, units: str = "binary") -> np.ndarray:
    """The n-h-n encoder environment (Ackley et al. 1985): V1 = V2 = the k-th one-hot vector,
    shape (n, 2n)."""
    eye = np.eye(n)
    d = np.concatenate([eye, eye], axis=1)
    return 2 * d - 1 if units == "bipolar" else d


def encoder_mask(n: int) -> np.ndarray:
    """Indices of V1 (the first n visible units) of an n-h-n encoder."""
    return np.arange(n)


def encoder_completion(model: BoltzmannMachine, temperature: float | None = None) -> np.ndarray:
    """Exact equilibrium activity of V2 with V1 clamped to each one-hot vector, shape (n, n).

    Row k is <V2>, as a probability of "on", under exp(-E/T)/Z restricted to V1 = e_k: the limit
    of averaging V2 over many annealings that end at T (Ackley et al. 1985 test the encoders by
    clamping V1 and annealing). The free units (V2 and the hidden ones) are enumerated, so this
    needs n + n_hidden <= 20.

    Parameters
    ----------
    temperature : float, optional
        Default: the statistics temperature of the paper's schedule (T = 10).
    """
    n = len(model.visible) // 2
    N = model.n_units
    free = np.arange(n, N)
    if free.size > 20:
        raise ValueError(f"encoder_completion: 2^{free.size} states is too many")
    T = AnnealSchedule.ackley1985().final_temperature if temperature is None else float(temperature)
    lo, hi = model.unit_values
    k = np.arange(2 ** free.size)
    bits = ((k[:, None] >> np.arange(free.size)[None, :]) & 1).astype(bool)
    out = np.empty((n, n))
    for p, v in enumerate(encoder_data(n, model.units)):
        s = np.empty((len(k), N))
        s[:, :n] = v[:n]
        s[:, free] = np.where(bits, hi, lo)
        e = -0.5 * np.einsum("ki,ij,kj->k", s, model.weights, s) - s @ model.biases
        logp = -e / T
        p_state = np.exp(logp - logp.max())
        out[p] = p_state @ bits[:, :n] / p_state.sum()
    return out


def encoder_solved(model: BoltzmannMachine, rng: np.random.Generator | None = None, *, margin: float = 0.3,
                   exact: bool | None = None, chains: int = 20, temperature: float | None = None) -> bool:
    """Whether clamping V1 to each one-hot vector e_k makes V2 show e_k (Ackley et al. 1985): the
    most active V2 unit is unit k, ahead of every other V2 unit by more than ``margin``.

    ``exact`` (default: when V2 and the hidden units number <= 16) takes the activities from
    :func:`encoder_completion`, the equilibrium at the statistics temperature — noise-free, so a
    learning run cannot stop on a lucky test. Otherwise they are sampled by :func:`complete`
    (``chains`` annealings per vector with the paper's schedule, averaged over the statistics
    sweeps at its final temperature), which needs ``rng``.
    """
    n = len(model.visible) // 2
    if exact is None:
        exact = model.n_units - n <= 16
    if exact:
        v2 = encoder_completion(model, temperature)
    else:
        if rng is None:
            raise ValueError("encoder_solved: the sampled test needs rng")
        schedule = AnnealSchedule.ackley1985() if temperature is None else AnnealSchedule.constant(temperature)
        act = complete(model, encoder_data(n, model.units), encoder_mask(n), rng=rng, chains=chains,
                       schedule=schedule)
        v2 = act[:, n:2 * n]
        if model.bipolar:
            v2 = (v2 + 1) / 2
    right = np.diag(v2)
    others = np.where(np.eye(n, dtype=bool), -np.inf, v2).max(axis=1)
    return bool(np.all(right > others + margin))


def exact_distribution(model: BoltzmannMachine, temperature: float | None = None, clamp_mask=None,
                       clamp_values=None) -> tuple[np.ndarray, np.ndarray]:
    """All 2^N states and their Boltzmann probabilities exp(-E/T)/Z (N <= 20); with ``clamp_mask``
    (N,) bool and ``clamp_values`` (N,), the conditional distribution given those units' values
    (normalised in log space: a clamp on improbable states does not underflow to 0/0).

    Returns
    -------
    states : ndarray, shape (2^N, N), in the model's unit values; state k has unit i = bit i of k
    probs : ndarray, shape (2^N,)
    """
    N = model.n_units
    if N > 20:
        raise ValueError(f"exact_distribution: 2^{N} states is too many")
    T = model.temperature if temperature is None else temperature
    if T <= 0:
        raise ValueError("exact_distribution needs T > 0")
    k = np.arange(2 ** N)
    bits = ((k[:, None] >> np.arange(N)[None, :]) & 1).astype(float)
    lo, hi = model.unit_values
    states = np.where(bits > 0, hi, lo)
    E = -0.5 * np.einsum("ki,ij,kj->k", states, model.weights, states) - states @ model.biases
    logp = -E / T
    if clamp_mask is not None and np.any(clamp_mask):
        clamp_mask = np.asarray(clamp_mask, dtype=bool)
        ok = (states[:, clamp_mask] == np.asarray(clamp_values)[clamp_mask]).all(axis=1)
        logp = np.where(ok, logp, -np.inf)
    logp -= logp.max()
    p = np.exp(logp)
    return states, p / p.sum()


def state_index(model: BoltzmannMachine, states: np.ndarray) -> np.ndarray:
    """Index k of each state (unit i = bit i), shape (B,)."""
    on = (np.asarray(states) > model.unit_values[0]).astype(np.int64)
    return on @ (1 << np.arange(model.n_units, dtype=np.int64))


# ----- weights files -------------------------------------------------------------------------------
_MAGIC = "recurnet_sim.boltzmann.v1"


def save_weights(path, model: BoltzmannMachine) -> None:
    """Save weights, biases and layout to ``path`` (.npz, no pickles)."""
    write_npz(path, {"weights": model.weights, "biases": model.biases, "n_visible": np.array(len(model.visible)),
                     "units": np.array(model.units), "topology": np.array(model.topology)}, marker=_MAGIC)


def load_weights(path) -> dict[str, Any]:
    """Read a file written by :func:`save_weights`.

    Returns
    -------
    dict with ``weights`` (N, N), ``biases`` (N,), ``n_visible``, ``units``, ``topology``.

    Raises
    ------
    TraceFileError
        Missing, truncated, foreign or inconsistent file.
    """
    path = pathlib.Path(path)
    data = read_npz(path, "Boltzmann weights", _MAGIC, required=("weights", "biases", "n_visible", "units", "topology"))
    if any(np.asarray(data[k]).dtype.kind not in "biuf" for k in ("weights", "biases", "n_visible")):
        raise TraceFileError(f"{path}: weights, biases and n_visible must be real numbers")
    try:
        w = np.asarray(data["weights"], dtype=np.float64)
        b = np.asarray(data["biases"], dtype=np.float64)
        nv = int(data["n_visible"])
    except (TypeError, ValueError):
        raise TraceFileError(f"{path}: weights, biases or n_visible are not numbers") from None
    units, topology = data["units"], data["topology"]
    if not (isinstance(units, str) and isinstance(topology, str)):
        raise TraceFileError(f"{path}: units and topology must be text, got arrays")
    N = w.shape[0] if w.ndim == 2 else -1
    if w.ndim != 2 or w.shape != (N, N) or b.shape != (N,):
        raise TraceFileError(f"{path}: weights {w.shape} and biases {b.shape} do not fit together")
    if N < 1:
        raise TraceFileError(f"{path}: weights of shape {w.shape} give a machine with no units")
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise TraceFileError(f"{path}: weights or biases are not finite")
    if not np.array_equal(w, w.T) or np.any(np.diag(w) != 0):
        raise TraceFileError(f"{path}: weights must be symmetric with a zero diagonal")
    if units not in ("binary", "bipolar") or topology not in ("full", "encoder", "rbm") or not 1 <= nv <= N:
        raise TraceFileError(f"{path}: bad layout (units={units!r}, topology={topology!r}, n_visible={nv})")
    return {"weights": w, "biases": b, "n_visible": nv, "units": units, "topology": topology}


# ----- scenario interface ----------------------------------------------------------------------------
def _network_check(t: dict, path: str) -> list[ValidationError]:
    p = (lambda k: f"{path}.{k}" if path else k)
    errs = []
    if t["weights"] == "hopfield" and t["units"] != "bipolar":
        errs.append(ValidationError(p("units"), "must be 'bipolar' when weights = 'hopfield'"))
    if t["weights"] == "file" and not t["weights_file"]:
        errs.append(ValidationError(p("weights_file"), "is required when weights = 'file'"))
    if t["weights"] != "file" and t["weights_file"]:
        errs.append(ValidationError(p("weights"), "must be 'file' when weights_file is given"))
    if t["weights"] not in ("hopfield", "file") and t["visible"] is None:
        errs.append(ValidationError(p("visible"), f"is required when weights = {t['weights']!r}"))
    if t["topology"] == "encoder" and t["visible"] is not None and t["visible"] % 2:
        errs.append(ValidationError(p("visible"), f"must be even for the encoder topology, got {t['visible']}"))
    return errs


def _data_check(t: dict, path: str) -> list[ValidationError]:
    p = (lambda k: f"{path}.{k}" if path else k)
    errs = []
    if t["source"] == "random" and t["count"] is None:
        errs.append(ValidationError(p("count"), "is required when source = 'random'"))
    if t["source"] == "inline":
        if not t["vectors"]:
            errs.append(ValidationError(p("vectors"), "is required when source = 'inline'"))
        else:
            for i, s in enumerate(t["vectors"]):
                if set(s) - set("01+-"):
                    errs.append(ValidationError(f"{p('vectors')}[{i}]", f"must use only 0/1 (or +/-), got {s!r}"))
            if len({len(s) for s in t["vectors"]}) > 1:
                errs.append(ValidationError(p("vectors"), "vectors must all have the same length"))
    return errs


def _training_check(t: dict, path: str) -> list[ValidationError]:
    if t["method"] == "cd" and t["rule"] != "sign":
        return [ValidationError(f"{path}.rule" if path else "rule", "applies to method = 'ahs1985' only")]
    return []


def scenario_tables(network_type: str | None = None) -> dict[str, Field]:
    """The Boltzmann machine's own tables: network, patterns, initial, dynamics, training."""
    network = Table(
        {
            "type": Field("str", "boltzmann", "network family", choices=("boltzmann",)),
            "visible": Field("int", None, "visible units (units 0..visible-1); default: the data's width",
                             min=1, max=20000, nullable=True),
            "hidden": Field("int", 0, "hidden units (after the visible ones)", min=0, max=20000),
            "units": Field("str", "binary", "unit values: binary 0/1 (Ackley et al. 1985) or bipolar +-1",
                           choices=("binary", "bipolar")),
            "topology": Field("str", "full", "full; encoder (no direct V1-V2 weights); rbm (visible-hidden "
                              "only, block Gibbs sweeps; Smolensky 1986)", choices=("full", "encoder", "rbm")),
            "weights": Field("str", "zeros", "initial weights: zeros, random (normal, weight_scale), hopfield "
                             "(W = Xi^T Xi / N of [patterns], zero diagonal) or file (weights_file)",
                             choices=("zeros", "random", "hopfield", "file")),
            "weight_scale": Field("float", 1.0, "standard deviation of random weights and biases", min=0),
            "weights_file": Field("str", None, "load weights, biases and layout from this .npz "
                                  "(saved by [training].save; relative to the scenario)", nullable=True),
        },
        doc="A Boltzmann machine (Ackley, Hinton & Sejnowski 1985): symmetric weights, zero diagonal, biases.",
        extra_check=_network_check,
    )
    patterns = Table(
        {
            "source": Field("str", "none", "environment vectors: none, encoder (n-h-n one-hot V1=V2), letters, "
                            "random, inline", choices=("none", "encoder", "letters", "random", "inline")),
            "names": Field("list", None, "letters: which letters", item=Field("str"), nullable=True),
            "count": Field("int", None, "random: number of vectors", min=1, nullable=True),
            "bias": Field("float", 0.0, "random: mean activity in [-1, 1]", min=-1, max=1),
            "vectors": Field("list", None, "inline: vectors as strings of 0/1 (or -/+)", item=Field("str"),
                             nullable=True),
        },
        doc="The environment (training vectors over the visible units) or, for weights = 'hopfield', the "
            "stored patterns over all units. Shared by all trials (drawn from the scenario seed).",
        extra_check=_data_check,
    )
    initial = Table(
        {
            "state": Field("str", "random", "start: random, pattern, or mixture (sign of the sum of "
                           "`mixture` patterns: a spurious state of a Hopfield landscape)",
                           choices=("random", "pattern", "mixture")),
            "pattern": Field("str", None, "pattern name for state=pattern and clamp (default: trial b uses "
                             "pattern b mod P)", nullable=True, alt=(Field("int", min=1),)),
            "mixture": Field("list", None, "names of the (odd number of) patterns mixed", item=Field("str"),
                             nullable=True),
            "noise": Field("float", 0.0, "fraction of units flipped in the start state", min=0, max=1),
            "clamp": Field("list", [], "units clamped to the pattern's values (e.g. V1 of an encoder)",
                           item=Field("int", min=0)),
        },
        doc="Start state of each trial and the clamped units.",
    )
    dynamics = Table(
        {
            "temperature": Field("float", 1.0, "temperature T (0 = deterministic limit); the anneal "
                                 "schedule overrides it", min=0),
            "anneal": anneal_field(),
        },
        doc="Heat-bath sweeps p(on) = sigma(dE/T); one tick = one sweep of the unclamped units.",
    )
    training = Table(
        {
            "method": Field("str", "ahs1985", "ahs1985 (clamped/free annealing, Ackley et al. 1985) or cd "
                            "(contrastive divergence, Hinton 2002; needs topology = 'rbm')",
                            choices=("ahs1985", "cd")),
            "cycles": Field("int", 200, "learning cycles (ahs1985) or epochs (cd)", min=1, max=10**7),
            "rule": Field("str", "sign", "ahs1985: sign (fixed step by sign(p+ - p-), the paper's) or "
                          "gradient (learning_rate * (p+ - p-))", choices=("sign", "gradient")),
            "step": Field("float", 2.0, "ahs1985 sign rule: fixed weight step", min=0),
            "learning_rate": Field("float", 0.1, "gradient rule and cd: learning rate", min=0),
            "anneals_per_pattern": Field("int", 8, "ahs1985: annealed chains per vector in each phase (8 learns the encoder most reliably)", min=1),
            "stats_sweeps": Field("int", 10, "ahs1985: sweeps at the final temperature collecting statistics",
                                  min=1),
            "noise_on_off": Field("float", 0.15, "ahs1985 noisy clamping: p(an on unit is clamped off)", min=0, max=1),
            "noise_off_on": Field("float", 0.05, "ahs1985 noisy clamping: p(an off unit is clamped on)", min=0, max=1),
            "anneal": anneal_field("ahs1985 annealing schedule of both phases (default: ackley1985)"),
            "k": Field("int", 1, "cd: Gibbs steps of CD-k", min=1),
            "copies": Field("int", 10, "cd: copies of each vector per epoch", min=1),
            "until_solved": Field("bool", False, "encoder data: stop as soon as V1 completes V2 (checked every "
                                  "10 cycles)"),
            "save": Field("str", None, "save the learned weights to this .npz (relative to the scenario)",
                          nullable=True),
            "progress": Field("bool", True, "`recurnet run` shows the progress of training that takes longer "
                              "than half a second on stderr"),
        },
        doc="Learning before tick 0, one cycle per training tick of the engine, from the scenario seed (every "
            "trial gets the same weights). `recurnet validate` checks it but does not train.",
        extra_check=_training_check,
    )
    return {
        "network": Field("table", None, "the machine", table=network),
        "patterns": Field("table", None, "environment vectors / stored patterns", table=patterns),
        "initial": Field("table", None, "start state and clamping", table=initial),
        "dynamics": Field("table", None, "temperature and annealing", table=dynamics),
        "training": Field("table", None, "learning (omit to run with the given weights)", table=training,
                          nullable=True),
    }


def _make_data(t: dict, n_visible: int | None, units: str, rng: np.random.Generator):
    """(vectors (P, n) in the model's unit values or None, names, grid shape)."""
    src = t["source"]
    if src == "none":
        return None, [], None
    if src == "encoder":
        if n_visible is None:
            raise ValidationError("network.visible", "is required for the encoder data")
        d = encoder_data(n_visible // 2, units)
        return d, [f"e{k + 1}" for k in range(len(d))], None
    if src == "letters":
        from ...patterns import builtin_set

        ps = builtin_set("letters")
        if t["names"]:
            try:
                ps = ps.select(t["names"])
            except ValueError as e:
                raise ValidationError("patterns.names", str(e).split(": ", 1)[-1]) from None
        x = ps.patterns.astype(float)
        return (x if units == "bipolar" else (x + 1) / 2), list(ps.names), ps.shape
    if src == "random":
        from ...patterns import random_patterns

        n = n_visible
        if n is None:
            raise ValidationError("network.visible", "is required for random patterns")
        x = random_patterns(t["count"], n, rng, t["bias"]).astype(float)
        return (x if units == "bipolar" else (x + 1) / 2), [str(k + 1) for k in range(len(x))], None
    rows = [[1.0 if c in "1+" else 0.0 for c in s] for s in t["vectors"]]
    x = np.array(rows)
    return (2 * x - 1 if units == "bipolar" else x), t["names"] or [str(k + 1) for k in range(len(x))], None


def build(cfg: dict, batch_size: int, rngs: list[np.random.Generator], base_dir: pathlib.Path,
          build_rng: np.random.Generator | None = None, first_trial: int = 0) -> BoltzmannMachine:
    """Build a machine and its initial states. Pure: no training, no file written, nothing printed.

    Patterns and random initial weights draw from the shared build generator (the same for every
    trial); each trial's start state and noise come from ``rngs[b]``. A ``[training]`` table is
    checked here (so ``recurnet validate`` reports its cross-key problems) but learned by
    :func:`train`, which the engine drives cycle by cycle before tick 0. The initial states do not
    depend on the weights, so building them before training gives the same run.
    """
    if build_rng is None:
        from ...seeding import build_rng as _shared

        build_rng = _shared((cfg.get("scenario") or {}).get("seed") or 0)
    net = cfg["network"]
    base_dir = pathlib.Path(base_dir)
    units, topology = net["units"], net["topology"]
    n_visible, n_hidden = net["visible"], net["hidden"]
    loaded = None
    if net["weights"] == "file":
        wpath = pathlib.Path(net["weights_file"])
        try:  # a FIFO, a device, a foreign file: one line naming the key
            loaded = load_weights(wpath if wpath.is_absolute() else base_dir / wpath)
        except TraceFileError as e:
            raise ValidationError("network.weights_file", str(e)) from None
        units, topology, n_visible = loaded["units"], loaded["topology"], loaded["n_visible"]
        n_hidden = loaded["weights"].shape[0] - n_visible
    data, names, shape = _make_data(cfg["patterns"], n_visible, units, build_rng)
    if net["weights"] == "hopfield":
        if data is None:
            raise ValidationError("patterns.source", "must give the stored patterns when network.weights = 'hopfield'")
        n_visible = n_visible or data.shape[1]
        n_hidden = 0
    if n_visible is None:
        n_visible = data.shape[1]
    if data is not None and data.shape[1] not in (n_visible, n_visible + n_hidden):
        raise ValidationError("patterns", f"vectors have {data.shape[1]} units, the machine has {n_visible} visible")
    N = n_visible + n_hidden
    if loaded is not None:
        w, b = loaded["weights"], loaded["biases"]
    elif net["weights"] == "hopfield":
        xi = data.astype(np.int64)
        w = (xi.T @ xi).astype(float) / N  # Hopfield 1982 Hebb rule, the 1/N scaling sets the T scale
        np.fill_diagonal(w, 0.0)
        b = np.zeros(N)
    elif net["weights"] == "random":
        mask = BoltzmannMachine.connectivity(N, n_visible, topology)
        w = np.triu(build_rng.normal(0.0, net["weight_scale"], (N, N)), 1)
        w = np.where(mask, w + w.T, 0.0)
        b = build_rng.normal(0.0, net["weight_scale"], N)
    else:
        w, b = np.zeros((N, N)), np.zeros(N)
    try:
        model = BoltzmannMachine(w, b, n_visible=n_visible, units=units, topology=topology,
                                 temperature=cfg["dynamics"]["temperature"], batch_size=batch_size,
                                 kernel=kernel_for(cfg))
    except ValueError as e:
        raise ValidationError("network", str(e)) from None
    model.patterns = data
    model.pattern_names = names
    model.grid_shape = shape
    tr = cfg.get("training")
    if tr:
        _check_training(model, data, tr)
    _initial_state(model, cfg["initial"], rngs, first_trial)
    return model


def _check_training(model: BoltzmannMachine, data, tr: dict) -> AnnealSchedule | None:
    """The cross-key constraints of ``[training]``; returns the ahs1985 schedule (None for cd)."""
    if data is None or data.shape[1] != len(model.visible):
        raise ValidationError("patterns.source", "training needs environment vectors over the visible units")
    if tr["method"] == "cd":
        if model.topology != "rbm":
            raise ValidationError("training.method", "'cd' needs network.topology = 'rbm'")
        return None
    sched = AnnealSchedule.from_config(tr["anneal"]) if tr["anneal"] else AnnealSchedule.ackley1985()
    if sched.total_ticks is None:
        raise ValidationError("training.anneal", "must be a bounded schedule (statistics are taken at its end)")
    return sched


def train(model: BoltzmannMachine, cfg: dict, build_rng: np.random.Generator,
          base_dir: pathlib.Path) -> TrainingRun | None:
    """The scenario's ``[training]`` as ticks the engine drives (``Family.train``), or None.

    Lazy: nothing is drawn or learned until the first ``next()``. Training draws from the shared
    build generator right after :func:`build` did (every trial gets the same weights), in the same
    order as when training ran inside build, so results are unchanged. ``training.save`` is an
    output: the engine writes the learned weights through the atomic writer when training ends,
    for another scenario to load with ``network.weights = "file"``.
    """
    tr = cfg.get("training")
    if not tr:
        return None
    data = model.patterns
    sched = _check_training(model, data, tr)
    cd = tr["method"] == "cd"

    def ticks() -> Iterator[dict]:
        stop = None
        if tr["until_solved"]:
            check_rng = np.random.default_rng(build_rng.integers(2**63))
            stop = lambda m: encoder_solved(m, check_rng)  # noqa: E731
        if cd:
            yield from iter_cd(model, data, epochs=tr["cycles"], k=tr["k"], learning_rate=tr["learning_rate"],
                               copies=tr["copies"], rng=build_rng, stop=stop)
        else:
            yield from iter_ahs1985(model, data, cycles=tr["cycles"], schedule=sched,
                                    stats_sweeps=tr["stats_sweeps"], anneals_per_pattern=tr["anneals_per_pattern"],
                                    rule=tr["rule"], step=tr["step"], learning_rate=tr["learning_rate"],
                                    noise_on_off=tr["noise_on_off"], noise_off_on=tr["noise_off_on"],
                                    rng=build_rng, stop=stop)

    outputs = ()
    if tr["save"]:
        out = pathlib.Path(tr["save"])
        out = out if out.is_absolute() else pathlib.Path(base_dir) / out
        outputs = (Output(out, lambda path: save_weights(path, model), "training.save"),)
    return TrainingRun(ticks(), total=tr["cycles"], unit="epoch" if cd else "cycle",
                       curve="recon_error" if cd else "mean_abs_dp",
                       label="reconstruction error" if cd else "mean |p+ - p-|",
                       outputs=outputs,
                       quiet=not tr["progress"])


def _pattern_index(model: BoltzmannMachine, pattern, B: int, first_trial: int = 0) -> np.ndarray:
    names = model.pattern_names
    if pattern is None:
        # trial t (counted over the whole run, so a lone replay of trial t cues the same) cues t mod P
        return (first_trial + np.arange(B)) % max(1, len(names))
    if isinstance(pattern, int):
        if pattern > len(names):
            raise ValidationError("initial.pattern", f"must be <= {len(names)} (the number of patterns), got {pattern}")
        return np.full(B, pattern - 1)
    if pattern not in names:
        raise ValidationError("initial.pattern", f"unknown pattern {pattern!r}; have: {', '.join(names) or '(none)'}")
    return np.full(B, names.index(pattern))


def _initial_state(model: BoltzmannMachine, init: dict, rngs, first_trial: int = 0) -> None:
    B, N = model.state.shape
    lo, hi = model.unit_values
    kind = init["state"]
    needs = kind != "random" or init["clamp"]
    if needs and (model.patterns is None or len(model.patterns) == 0):
        raise ValidationError("initial.state", f"{kind!r} start or clamping needs [patterns]")
    units = model._pattern_units() if model.patterns is not None else np.arange(N)
    idx = _pattern_index(model, init["pattern"], B, first_trial) if needs else None
    state = np.empty((B, N))
    for b in range(B):
        state[b] = np.where(rngs[b].random(N) < 0.5, hi, lo)
    if kind == "pattern":
        state[:, units] = model.patterns[idx]
    elif kind == "mixture":
        names = init["mixture"] or []
        if len(names) < 3 or len(names) % 2 == 0:
            raise ValidationError("initial.mixture", f"must name an odd number (>= 3) of patterns, got {len(names)}")
        try:
            rows = [model.pattern_names.index(n) for n in names]
        except ValueError:
            raise ValidationError("initial.mixture", f"unknown pattern in {names}; have: "
                                  f"{', '.join(model.pattern_names)}") from None
        xi = model.patterns[rows]
        xi = xi if model.bipolar else 2 * xi - 1
        mix = np.sign(xi.sum(axis=0))
        state[:, units] = mix if model.bipolar else (mix + 1) / 2
    if init["noise"] > 0:
        k = round(init["noise"] * N)
        for b in range(B):
            flip = rngs[b].permutation(N)[:k]
            state[b, flip] = np.where(state[b, flip] == hi, lo, hi)
    clamp = np.asarray(init["clamp"], dtype=int)
    if clamp.size:
        if clamp.max() >= len(units):
            raise ValidationError("initial.clamp", f"unit {int(clamp.max())} is not covered by the patterns "
                                  f"(units 0..{len(units) - 1})")
        state[:, units[clamp]] = model.patterns[idx][:, clamp]
    model.set_state(state)
    model.clamped[...] = False
    if clamp.size:
        model.clamped[:, units[clamp]] = True
    # the cued pattern is the target of a pattern start or a completion (not of a mixture start)
    model.target = idx.copy() if idx is not None and (kind == "pattern" or clamp.size) else None


def _equilibrium(model: BoltzmannMachine) -> tuple[np.ndarray, float, float]:
    """exp(-E/T)/Z over all states, sum p^2 and <E> — enumerated once per machine and temperature
    (summary runs once per trial, and the batch shares the machine)."""
    key = (float(model.temperature), model.weights.tobytes(), model.biases.tobytes())
    cached = getattr(model, "_equilibrium_cache", None)
    if cached is None or cached[0] != key:
        states, p = exact_distribution(model)
        E = -0.5 * np.einsum("ki,ij,kj->k", states, model.weights, states) - states @ model.biases
        cached = model._equilibrium_cache = (key, p, float(p @ p), float(p @ E))
    return cached[1:]


def summary(model: BoltzmannMachine, b: int) -> dict:
    """Extra JSON fields of trial ``b``: the final temperature, the visible state, and, for a machine
    of <= 16 units, the exact probability of the final state under exp(-E/T)/Z."""
    out: dict[str, Any] = {"temperature": float(model.temperature),
                           "visible_state": model.state[b, model.visible].tolist()}
    if model.n_units <= 16 and model.temperature > 0 and not model.clamped.any():
        p, p_expected, mean_energy = _equilibrium(model)
        out["exact_p_final_state"] = float(p[state_index(model, model.state[b:b + 1])[0]])
        # What the chains' averages must reach at equilibrium, to compare the sampled means with:
        # E[p(final state)] = sum_s p(s)^2, and the mean energy <E> = sum_s p(s) E(s).
        out["exact_p_expected"] = p_expected
        out["exact_mean_energy"] = mean_energy
    if model.training_log_:
        out["training_cycles"] = len(model.training_log_)
        last = model.training_log_[-1]
        if "solved" in last:
            out["training_solved"] = last["solved"]
    return out
