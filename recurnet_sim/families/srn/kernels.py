"""Compiled (numba) training epochs for the cells of the simple recurrent networks.

The numpy path of :func:`.bptt.train_epoch` is the reference; this module runs the same epoch —
the forward time loop, the read-out and loss, BPTT(h; h') backward through time (Werbos 1990;
Williams & Peng 1990; Elman's one-step scheme when the error does not flow through the context),
gradient-norm clipping (Pascanu, Mikolov & Bengio 2013) and SGD with momentum or Adam (Kingma & Ba
2015) — as one compiled call per epoch, trial after trial (the trials are independent networks).

How a cell opts in (the :class:`~.cells.Cell` protocol): ``cell.kernel()`` returns a
:class:`CellKernel` — three ``numba.njit`` functions over one trial's flat parameter row (the
layout of :class:`.bptt.FlatParams`) and the cell's constants::

    prep(th, ip, fp, wk)                                   once per window: e.g. transposed weights
    fwd(th, ip, fp, wk, x, c, d, c_next, h, cache)         one step forward
    bwd(th, ip, fp, wk, x, c, d, h, cache, dc_next, dh, dc, dstep, g)   its vector-Jacobian product
    wgrad(th, ip, fp, wk, X_b, C_b, start, n, DSTEP, g)    optional, once per window after bwd

``ip`` holds ``[I, H, C, O, G, n_cache, output, n_work, *cell.ints]`` and ``fp``
``[context_init, *cell.floats]``; ``cache`` is the step's row of ``n_cache`` floats whose first
``G H`` entries are the gate activations (recorded as the epoch's ``gates``); ``bwd`` writes
dL/dcarry_t into ``dc`` and adds the step's parameter gradient into ``g``, or keeps what the weight
gradient needs in its ``dstep`` row (``n_step`` floats, row i of the window's ``DSTEP``) and leaves
the weight gradient to ``wgrad``, which adds it for the window's n steps from ``start`` at once (one
pass over the gradient per window, not per step; X_b, C_b: the trial's inputs and carries) in the
order the per-step sum would, so the same bits. The arrays these functions get are views that
numba does not reference-count (:func:`_unowned`: the counting was most of a tiny net's epoch),
valid for the epoch: a cell's functions read and write them, never keep or return them. A cell
whose ``kernel()`` returns None (the default) trains on the numpy path. The epoch driver is written once
(:func:`_epoch_template`) and specialised per cell by binding its three functions as globals, so
each cell's compiled epoch is cached on disk (``cache=True``) like any module-level function; a
cell whose functions live outside this module is compiled per process without the disk cache
(numba would not notice a change of that other file).

Agreement with numpy: the same arithmetic in the same association, but matrix-vector products
here sum in ascending index order while numpy's (BLAS) may block or pair them, so results are not
bit-identical: they agree to about 1e-15 relative per step and 1e-15 to 1e-14 relative per epoch
(tests/test_kernels_srn.py checks states, losses, gradients and trained weights to 1e-11).
``fastmath`` is off: no reassociation, no fused multiply-add contraction. tanh is this module's
own (:func:`_tanh`, within 2 ulp of libm's), so that loops of it vectorise. The index order is
fixed, so the compiled epoch is deterministic and the same on every machine (BLAS's blocking
depends on the library, its version and the CPU): the reason it is the family's default
(``dynamics.kernel = "compiled"``), numpy the reference.
"""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...kernels import load_numba

_nb = load_numba()  # sets numba's cache directory first (a read-only install caches in ~/.cache)
if _nb is None:
    raise ImportError("recurnet_sim.families.srn.kernels needs numba (the numpy path needs nothing)")
njit = _nb.njit
from numba.core import cgutils as _cgutils, types as _types  # noqa: E402  (numba is there: checked above)
from numba.extending import intrinsic as _intrinsic  # noqa: E402

OUT_CODES = {"sigmoid": 0, "softmax": 1, "linear": 2}
ACT_CODES = {"tanh": 0, "sigmoid": 1, "relu": 2, "linear": 3}


# ======================================================================================
# Reference counts: views that skip them
# ======================================================================================
# Every array view numba makes (a row X[b, t], a slice wk[a:b], an argument of an inlined step
# function) increments and decrements its owner's reference count with atomic (lock-prefixed)
# instructions; its pass that pairs and removes them gives up across the epoch's loops and
# branches. At temporal XOR's H = 2 that bookkeeping was ~60 % of the epoch (perf: the time in
# NRT_incref/NRT_decref), ~25 views a step for a few flops each. A view with no meminfo (the
# owner's record numba counts on) is counted by nothing: NRT_incref/NRT_decref return at once.
# The epoch therefore works on such views of its arguments and work arrays; the arguments live
# in the caller, the work arrays until the epoch's end (_keep_alive). The same arithmetic on the
# same memory: the same bits.
@_intrinsic
def _unowned(typingctx, a):
    """A view of the whole array ``a`` that holds no reference to it (its meminfo and parent are
    NULL): slices and rows of it are not reference-counted either. Only while ``a`` lives; it
    must not leave the function (returned or stored)."""
    if not isinstance(a, _types.Array):
        return None

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, value=args[0])
        dst = context.make_array(sig.return_type)(context, builder)
        for f in ("nitems", "itemsize", "data", "shape", "strides"):
            setattr(dst, f, getattr(src, f))
        dst.meminfo = _cgutils.get_null_value(dst.meminfo.type)
        dst.parent = _cgutils.get_null_value(dst.parent.type)
        return dst._getvalue()
    return a(a), codegen


@_intrinsic
def _keep_alive(typingctx, owners):
    """Does nothing; a use of ``owners`` (a tuple of arrays) here keeps them alive up to this
    point (numba releases a variable after its last use), so :func:`_unowned` views of them
    stay valid until then."""
    def codegen(context, builder, sig, args):
        return context.get_dummy_value()
    return _types.none(owners), codegen


@dataclass(frozen=True)
class CellKernel:
    """A cell's compiled step, as its :meth:`~.cells.Cell.kernel` returns it.

    Attributes
    ----------
    name : str
        Unique name of the compiled epoch (one per set of functions).
    prep, fwd, bwd : numba dispatchers
        See the module docstring for their signatures.
    n_cache : int
        Floats cached per step (the first G H are the gates).
    n_work : int
        Size of the scratch vector ``wk`` (transposed weights, temporaries).
    ints, floats : tuple
        The cell's constants, appended to ``ip`` and ``fp``.
    wgrad : numba dispatcher, optional
        Adds the window's weight gradient from the rows ``bwd`` kept (see the module docstring);
        None: ``bwd`` adds it step by step.
    n_step : int
        Floats ``bwd`` may keep per step for ``wgrad`` (its ``dstep`` row).
    """

    name: str
    prep: Any
    fwd: Any
    bwd: Any
    n_cache: int
    n_work: int
    ints: tuple = ()
    floats: tuple = ()
    wgrad: Any = None
    n_step: int = 0


# ======================================================================================
# Scalar helpers: numpy's formulas, written out
# ======================================================================================
@njit(cache=True, error_model="numpy", inline="always")
def _sigmoid(x):
    # cells.sigmoid: e = exp(-|x|); x >= 0: 1 / (1 + e), else e / (1 + e)
    e = np.exp(-abs(x))
    if x >= 0:
        return 1.0 / (1.0 + e)
    return e / (1.0 + e)


# tanh without a libm call, so that a loop of them vectorises (libm's scalar tanh cost ~11 ns a
# call here, ~160 of them per LSTM step; this one ~1.3 ns in a loop) and gives the same bits on
# every machine. tanh|x| = -expm1(-2|x|) / (expm1(-2|x|) + 2), expm1(y) = 2^k expm1(r) + (2^k - 1)
# with y = k ln 2 + r (Cody & Waite's two-part ln 2), |r| <= ln 2 / 2, expm1(r) by its Taylor
# series to r^14 (truncation < 1e-18); no cancellation near 0 (k = 0 there). Measured against
# numpy's tanh over normal(0, 3), [-25, 25] and 1e-300..1e-3: at most 2 ulp apart.
_POW2 = np.array([2.0 ** k for k in range(-64, 1)])
_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01
_LN2_LO = 1.90821492927058770002e-10
_E2, _E3, _E4, _E5, _E6, _E7, _E8 = 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040, 1 / 40320
_E9, _E10, _E11, _E12, _E13, _E14 = 1 / 362880, 1 / 3628800, 1 / 39916800, 1 / 479001600, 1 / 6227020800, 1 / 87178291200


@njit(cache=True, error_model="numpy", inline="always")
def _tanh(x):
    ax = abs(x)
    y = -2.0 * ax if ax < 20.0 else -40.0  # tanh rounds to 1 beyond 19.1; NaN takes this branch too
    kf = np.floor(y * _INV_LN2 + 0.5)
    r = (y - kf * _LN2_HI) - kf * _LN2_LO
    p = r + r * r * (_E2 + r * (_E3 + r * (_E4 + r * (_E5 + r * (_E6 + r * (_E7 + r * (_E8 + r * (
        _E9 + r * (_E10 + r * (_E11 + r * (_E12 + r * (_E13 + r * _E14))))))))))))
    s = _POW2[int(kf) + 64]
    em = s * p + (s - 1.0)
    t = np.copysign(abs(em) / (em + 2.0), x)
    return t if x == x else x


@njit(cache=True, error_model="numpy", inline="always")
def _gate(x):
    # cells._gate: (1 + tanh(x / 2)) / 2 in numpy's order of operations
    return (_tanh(0.5 * x) + 1.0) * 0.5


@njit(cache=True, error_model="numpy", inline="always")
def _act(kind, a):
    if kind == 0:
        return _tanh(a)
    if kind == 1:
        return _sigmoid(a)
    if kind == 2:
        if a > 0.0 or a != a:  # np.maximum keeps NaN
            return a
        return 0.0
    return a


@njit(cache=True, error_model="numpy", inline="always")
def _act_grad(kind, h):
    # cells.activation_grad from the output h (relu: h > 0 exactly where a > 0)
    if kind == 0:
        return 1.0 - h * h
    if kind == 1:
        return h * (1.0 - h)
    if kind == 2:
        return 1.0 if h > 0.0 else 0.0
    return 1.0


@njit(cache=True, error_model="numpy", inline="always")
def _nanmax(z):
    """max(z), NaN if any entry is NaN (np.max)."""
    m = z[0]
    for o in range(1, z.shape[0]):
        if z[o] > m or z[o] != z[o]:
            m = z[o]
    return m


@njit(cache=True, error_model="numpy", inline="always")
def _softmax(z, y):
    """y = softmax(z) (cells.output_fn); returns (max z, sum of exp(z - max z)), the parts of
    the log-sum-exp the cross-entropy takes, so the epoch need not take the exps again."""
    O = z.shape[0]
    m = _nanmax(z)
    s = 0.0
    for o in range(O):
        y[o] = np.exp(z[o] - m)
        s += y[o]
    for o in range(O):
        y[o] = y[o] / s
    return m, s


@njit(cache=True, error_model="numpy", inline="always")
def _output(kind, z, y):
    """y = g(z) for one step (cells.output_fn)."""
    O = z.shape[0]
    if kind == 0:
        for o in range(O):
            y[o] = _sigmoid(z[o])
    elif kind == 1:
        _softmax(z, y)
    else:
        for o in range(O):
            y[o] = z[o]


@njit(cache=True, error_model="numpy", inline="always")
def _output_vjp(kind, y, v, out):
    """out = v^T dy/dz (cells.output_vjp)."""
    O = y.shape[0]
    if kind == 0:
        for o in range(O):
            out[o] = v[o] * y[o] * (1.0 - y[o])
    elif kind == 1:
        s = 0.0
        for o in range(O):
            s += v[o] * y[o]
        for o in range(O):
            out[o] = y[o] * (v[o] - s)
    else:
        for o in range(O):
            out[o] = v[o]


@njit(cache=True, error_model="numpy", inline="always")
def _readout(th, H, O, h, z):
    """z = W_hy h + b_y from the read-out group [W_hy | b_y] (O, H + 1), the last in the row."""
    ro = th.shape[0] - O * (H + 1)
    for o in range(O):
        r = ro + o * (H + 1)
        s = 0.0
        for k in range(H):
            s += th[r + k] * h[k]
        z[o] = s + th[r + H]


@njit(cache=True, error_model="numpy", inline="always")
def _transpose_into(th, off, rows, cols, wk, woff):
    """wk[woff + k * rows + j] = th[off + j * cols + k]: a (rows, cols) block, transposed, so that
    the forward product W v runs as contiguous axpys (vectorisable without reassociation)."""
    for j in range(rows):
        base = off + j * cols
        for k in range(cols):
            wk[woff + k * rows + j] = th[base + k]


@njit(cache=True, error_model="numpy", inline="always")
def _gemv_t(wk, woff, rows, v, n, out, ooff):
    """out[ooff:ooff+rows] = W v for W stored transposed at wk[woff:] ((n, rows)); sums over the
    columns k in ascending order."""
    # views indexed by the loop counter alone: an offset index (out[ooff + j]) keeps numba's
    # negative-index wraparound in the loop and LLVM does not vectorise it (5-7x slower)
    o = out[ooff:ooff + rows]
    for j in range(rows):
        o[j] = 0.0
    # four columns per pass over o: ((o + w0 v0) + w1 v1) + ... is the same association as four
    # passes (the same bits), with a quarter of the loads and stores of o
    k = 0
    while k + 4 <= n:
        v0, v1, v2, v3 = v[k], v[k + 1], v[k + 2], v[k + 3]
        b0 = woff + k * rows
        w0 = wk[b0:b0 + rows]
        w1 = wk[b0 + rows:b0 + 2 * rows]
        w2 = wk[b0 + 2 * rows:b0 + 3 * rows]
        w3 = wk[b0 + 3 * rows:b0 + 4 * rows]
        for j in range(rows):
            o[j] = (((o[j] + w0[j] * v0) + w1[j] * v1) + w2[j] * v2) + w3[j] * v3
        k += 4
    while k < n:
        vk = v[k]
        w = wk[woff + k * rows:woff + (k + 1) * rows]
        for j in range(rows):
            o[j] += w[j] * vk
        k += 1


# ======================================================================================
# Elman and Jordan (affine cells): row group [W_xh | b_h | W_ch] (H, K = I + 1 + C) at 0
# ints: (activation, teacher_forcing); floats: (mu,)
# work: W_in^T (K * H), then da (H), dz (O)
# ======================================================================================
@njit(cache=True, error_model="numpy", inline="always")
def _affine_prep(th, ip, fp, wk):
    I, H, C = ip[0], ip[1], ip[2]
    _transpose_into(th, 0, H, I + 1 + C, wk, 0)


@njit(cache=True, error_model="numpy", inline="always")
def _affine_pre(ip, wk, x, c, a):
    """a = [W_xh | b_h | W_ch] [x, 1, c], summed in the order of u = [x, 1, c]."""
    I, H, C = ip[0], ip[1], ip[2]
    for j in range(H):
        a[j] = 0.0
    for k in range(I):
        xk = x[k]
        w = wk[k * H:(k + 1) * H]
        for j in range(H):
            a[j] += w[j] * xk
    w = wk[I * H:(I + 1) * H]
    for j in range(H):
        a[j] += w[j]
    for k in range(C):
        ck = c[k]
        w = wk[(I + 1 + k) * H:(I + 2 + k) * H]
        for j in range(H):
            a[j] += w[j] * ck


@njit(cache=True, error_model="numpy", inline="always")
def _affine_grads(ip, x, c, da, g):
    """g[W_in] += da [x, 1, c]^T; returns nothing (dc is the caller's)."""
    I, H, C = ip[0], ip[1], ip[2]
    K = I + 1 + C
    for j in range(H):
        dj = da[j]
        gx = g[j * K:j * K + I]
        for k in range(I):
            gx[k] += dj * x[k]
        g[j * K + I] += dj
        gc = g[j * K + I + 1:(j + 1) * K]
        for k in range(C):
            gc[k] += dj * c[k]


@njit(cache=True, error_model="numpy", inline="always")
def _affine_dc(th, ip, da, scale, dcn, dc):
    """dc = scale * dcn + W_ch^T da (W_ch is the last C columns of each row)."""
    I, H, C = ip[0], ip[1], ip[2]
    K = I + 1 + C
    for k in range(C):
        dc[k] = 0.0
    for j in range(H):
        dj = da[j]
        w = th[j * K + I + 1:(j + 1) * K]
        for k in range(C):
            dc[k] += w[k] * dj
    if scale != 0.0:
        for k in range(C):
            dc[k] = scale * dcn[k] + dc[k]


@njit(cache=True, error_model="numpy", inline="always")
def elman_fwd(th, ip, fp, wk, x, c, d, cn, h, cache):
    """Elman (1990): h_t = f(W_xh x_t + W_hh c_t + b_h), c_{t+1} = h_t."""
    H = ip[1]
    act = ip[8]
    _affine_pre(ip, wk, x, c, h)
    for j in range(H):
        h[j] = _act(act, h[j])
        cn[j] = h[j]


@njit(cache=True, error_model="numpy", inline="always")
def elman_bwd(th, ip, fp, wk, x, c, d, h, cache, dcn, dh, dc, dstep, g):
    """da_t = f'(a_t) (dL/dh_t + dL/dc_{t+1}); dL/dc_t = W_hh^T da_t."""
    I, H, C = ip[0], ip[1], ip[2]
    act = ip[8]
    da = wk[(I + 1 + C) * H:(I + 1 + C) * H + H]
    for j in range(H):
        da[j] = (dh[j] + dcn[j]) * _act_grad(act, h[j])
    _affine_grads(ip, x, c, da, g)
    _affine_dc(th, ip, da, 0.0, dcn, dc)


@njit(cache=True, error_model="numpy", inline="always")
def jordan_fwd(th, ip, fp, wk, x, c, d, cn, h, cache):
    """Jordan (1986): h_t = f(W_xh x_t + W_ch s_t + b_h), s_{t+1} = mu s_t + y_t (or + d_t when
    teacher-forced); the cache holds y_t."""
    H, C, O = ip[1], ip[2], ip[3]
    act, forced = ip[8], ip[9]
    mu = fp[1]
    _affine_pre(ip, wk, x, c, h)
    for j in range(H):
        h[j] = _act(act, h[j])
    if forced:
        for k in range(C):
            cn[k] = mu * c[k] + d[k]
    else:
        z = cache[O:2 * O]
        _readout(th, H, O, h, z)
        _output(ip[6], z, cache[:O])
        for k in range(C):
            cn[k] = mu * c[k] + cache[k]


@njit(cache=True, error_model="numpy", inline="always")
def jordan_bwd(th, ip, fp, wk, x, c, d, h, cache, dcn, dh, dc, dstep, g):
    I, H, C, O = ip[0], ip[1], ip[2], ip[3]
    act, forced = ip[8], ip[9]
    mu = fp[1]
    w0 = (I + 1 + C) * H
    da = wk[w0:w0 + H]
    if forced:  # the next state follows the target: no error reaches this step through it
        for j in range(H):
            da[j] = dh[j] * _act_grad(act, h[j])
    else:  # y_t feeds the next state unit: its error enters through the output nonlinearity
        dz = wk[w0 + H:w0 + H + O]
        _output_vjp(ip[6], cache[:O], dcn, dz)
        ro = th.shape[0] - O * (H + 1)
        for j in range(H):
            s = 0.0
            for o in range(O):
                s += th[ro + o * (H + 1) + j] * dz[o]
            da[j] = (dh[j] + s) * _act_grad(act, h[j])
        for o in range(O):
            r = ro + o * (H + 1)
            for k in range(H):
                g[r + k] += dz[o] * h[k]
            g[r + H] += dz[o]
    _affine_grads(ip, x, c, da, g)
    _affine_dc(th, ip, da, mu, dcn, dc)


# ======================================================================================
# LSTM: groups W_xg (4H, I) | W_hg (4H, H) | b_g (4H) [| w_ci | w_cf | w_co (H each)]
# ints: (peepholes,); cache: i, f, g, o, c, tanh c (6H); work: W_xg^T, W_hg^T, ax, ah, (unused) (4H each),
# the window's gradient transposed ((I + H + 1) 4H); dstep: da (4H)
# ======================================================================================
@njit(cache=True, error_model="numpy", inline="always")
def lstm_prep(th, ip, fp, wk):
    I, H = ip[0], ip[1]
    G4 = 4 * H
    _transpose_into(th, 0, G4, I, wk, 0)
    _transpose_into(th, G4 * I, G4, H, wk, G4 * I)


@njit(cache=True, error_model="numpy", inline="always")
def lstm_fwd(th, ip, fp, wk, x, c, d, cn, h, cache):
    """Hochreiter & Schmidhuber (1997) with a forget gate (Gers et al. 2000) and optional
    peepholes (Gers & Schmidhuber 2000); see :class:`~.cells.LSTMCell`. Whole gate vectors at a
    time: the four pre-activations in one loop, then each nonlinearity over its vector (loops
    that vectorise), then the cell."""
    I, H = ip[0], ip[1]
    peep = ip[8]
    G4 = 4 * H
    wa = G4 * (I + H)
    _gemv_t(wk, 0, G4, x, I, wk, wa)                 # ax = W_xg x
    _gemv_t(wk, G4 * I, G4, c, H, wk, wa + G4)       # ah = W_hg h_{t-1}
    bo = G4 * (I + H)
    po = bo + G4
    ax = wk[wa:wa + G4]
    ah = wk[wa + G4:wa + 2 * G4]
    b = th[bo:bo + G4]
    for j in range(G4):
        ax[j] = ax[j] + ah[j] + b[j]
    cp = c[H:2 * H]
    if peep:
        wci = th[po:po + H]
        wcf = th[po + H:po + 2 * H]
        for j in range(H):
            ax[j] = ax[j] + wci[j] * cp[j]
            ax[H + j] = ax[H + j] + wcf[j] * cp[j]
    ig = cache[0:H]
    fg = cache[H:2 * H]
    gg = cache[2 * H:3 * H]
    og = cache[3 * H:4 * H]
    cc = cache[4 * H:5 * H]
    tc = cache[5 * H:6 * H]  # tanh(c_t), kept for the backward step
    for j in range(2 * H):
        cache[j] = _gate(ax[j])
    for j in range(H):
        gg[j] = _tanh(ax[2 * H + j])
    for j in range(H):
        cc[j] = fg[j] * cp[j] + ig[j] * gg[j]
    for j in range(H):
        tc[j] = _tanh(cc[j])
    if peep:
        wco = th[po + 2 * H:po + 3 * H]
        for j in range(H):
            og[j] = _gate(ax[3 * H + j] + wco[j] * cc[j])
    else:
        for j in range(H):
            og[j] = _gate(ax[3 * H + j])
    for j in range(H):
        hh = og[j] * tc[j]
        h[j] = hh
        cn[j] = hh
        cn[H + j] = cc[j]


@njit(cache=True, error_model="numpy", inline="always")
def lstm_bwd(th, ip, fp, wk, x, c, d, h, cache, dcn, dh, dc, dstep, g):
    I, H = ip[0], ip[1]
    peep = ip[8]
    G4 = 4 * H
    da = dstep[0:G4]  # the gate pre-activations' gradient, kept for lstm_wgrad
    bo = G4 * (I + H)
    po = bo + G4
    # whole vectors, views indexed by the loop counter (they vectorise); numpy's expressions
    ig, fg, gg, og = cache[0:H], cache[H:2 * H], cache[2 * H:3 * H], cache[3 * H:4 * H]
    cc, tc = cache[4 * H:5 * H], cache[5 * H:6 * H]
    cp = c[H:2 * H]
    dcc = dcn[H:2 * H]
    di, df, dg, do = da[0:H], da[H:2 * H], da[2 * H:3 * H], da[3 * H:4 * H]
    dcj = dc[H:2 * H]  # dL/dc_{t-1} (written last), dL/dc_t meanwhile
    for j in range(H):
        dhj = dh[j] + dcn[j]
        o = og[j]
        do[j] = dhj * tc[j] * (o * (1.0 - o))
        dcj[j] = dcc[j] + dhj * o * (1.0 - tc[j] * tc[j])
    if peep:
        wco = th[po + 2 * H:po + 3 * H]
        for j in range(H):
            dcj[j] = dcj[j] + do[j] * wco[j]
    for j in range(H):
        f = fg[j]
        i = ig[j]
        gv = gg[j]
        dj = dcj[j]
        df[j] = dj * cp[j] * (f * (1.0 - f))
        di[j] = dj * gv * (i * (1.0 - i))
        dg[j] = dj * i * (1.0 - gv * gv)
        dcj[j] = dj * f
    if peep:
        wci, wcf = th[po:po + H], th[po + H:po + 2 * H]
        gci, gcf, gco = g[po:po + H], g[po + H:po + 2 * H], g[po + 2 * H:po + 3 * H]
        for j in range(H):
            dcj[j] = dcj[j] + di[j] * wci[j] + df[j] * wcf[j]
            gci[j] += di[j] * cp[j]
            gcf[j] += df[j] * cp[j]
            gco[j] += do[j] * cc[j]
    # dL/dh_{t-1} = W_hg^T da, the rows of W_hg in ascending order: W_hg (4H, H) is row-major at
    # th[G4 I:], which is W_hg^T stored transposed, the layout _gemv_t reads
    _gemv_t(th, G4 * I, H, da, G4, dc, 0)


@njit(cache=True, error_model="numpy", inline="always")
def lstm_wgrad(th, ip, fp, wk, Xb, Cb, start, n, DA, g):
    """The window's gradient of W_xg, W_hg and b_g: the sum over its steps, latest first, of
    da_t [x_t, h_{t-1}, 1]^T (da_t: the rows lstm_bwd kept in DA), as a small GEMM into a
    transposed scratch (K = I + H + 1, 4H) so that the inner loop runs over the 4H gates,
    contiguous, four steps per pass; then added to g. Each entry receives the steps in the order
    the per-step sum gave them (t descending, from 0), so the same bits; one pass over the
    gradient per window instead of one per step."""
    I, H = ip[0], ip[1]
    G4 = 4 * H
    K1 = I + H + 1
    w0 = G4 * (I + H) + 3 * G4
    GT = wk[w0:w0 + K1 * G4]
    for q in range(K1 * G4):
        GT[q] = 0.0
    i = n - 1
    while i >= 3:
        t = start + i
        D0, D1, D2, D3 = DA[i], DA[i - 1], DA[i - 2], DA[i - 3]
        x0, x1, x2, x3 = Xb[t], Xb[t - 1], Xb[t - 2], Xb[t - 3]
        c0, c1, c2, c3 = Cb[t], Cb[t - 1], Cb[t - 2], Cb[t - 3]
        for k in range(I + H):
            if k < I:
                a0, a1, a2, a3 = x0[k], x1[k], x2[k], x3[k]
            else:
                a0, a1, a2, a3 = c0[k - I], c1[k - I], c2[k - I], c3[k - I]
            gt = GT[k * G4:(k + 1) * G4]
            for r in range(G4):
                gt[r] = (((gt[r] + D0[r] * a0) + D1[r] * a1) + D2[r] * a2) + D3[r] * a3
        gt = GT[(I + H) * G4:K1 * G4]
        for r in range(G4):
            gt[r] = (((gt[r] + D0[r]) + D1[r]) + D2[r]) + D3[r]
        i -= 4
    while i >= 0:
        t = start + i
        D0 = DA[i]
        x0 = Xb[t]
        c0 = Cb[t]
        for k in range(I + H):
            a0 = x0[k] if k < I else c0[k - I]
            gt = GT[k * G4:(k + 1) * G4]
            for r in range(G4):
                gt[r] += D0[r] * a0
        gt = GT[(I + H) * G4:K1 * G4]
        for r in range(G4):
            gt[r] += D0[r]
        i -= 1
    bo = G4 * (I + H)
    for r in range(G4):
        for k in range(I):
            g[r * I + k] += GT[k * G4 + r]
        for k in range(H):
            g[G4 * I + r * H + k] += GT[(I + k) * G4 + r]
        g[bo + r] += GT[(I + H) * G4 + r]


@njit(cache=True, error_model="numpy", inline="always")
def no_wgrad(th, ip, fp, wk, Xb, Cb, start, n, DA, g):
    """For a cell whose backward step adds its whole gradient itself."""
    return


# ======================================================================================
# GRU (Cho et al. 2014): groups W_xg (3H, I) | W_hg (3H, H) | b_g (3H); gates z, r, candidate
# cache: z, r, g, r h_{t-1} (4H); work: W_xg^T, U_zr^T, U_c^T, ax (3H), ah (2H), ac (H), da (3H), drh (H)
# ======================================================================================
@njit(cache=True, error_model="numpy", inline="always")
def gru_prep(th, ip, fp, wk):
    I, H = ip[0], ip[1]
    G3 = 3 * H
    _transpose_into(th, 0, G3, I, wk, 0)
    _transpose_into(th, G3 * I, 2 * H, H, wk, G3 * I)
    _transpose_into(th, G3 * I + 2 * H * H, H, H, wk, G3 * I + 2 * H * H)


@njit(cache=True, error_model="numpy", inline="always")
def gru_fwd(th, ip, fp, wk, x, c, d, cn, h, cache):
    """See :class:`~.cells.GRUCell`: z, r gates, candidate from r h_{t-1}, h = z h' + (1 - z) g."""
    I, H = ip[0], ip[1]
    G3 = 3 * H
    wa = G3 * (I + H)
    bo = G3 * (I + H)
    _gemv_t(wk, 0, G3, x, I, wk, wa)                    # ax = W_xg x (+ b_g below)
    _gemv_t(wk, G3 * I, 2 * H, c, H, wk, wa + G3)        # ah = U_zr h_{t-1}
    rh = cache[3 * H:4 * H]
    ax = wk[wa:wa + G3]
    ah = wk[wa + G3:wa + G3 + 2 * H]
    b = th[bo:bo + G3]
    for j in range(G3):
        ax[j] = ax[j] + b[j]
    for j in range(2 * H):  # z and r, one vector
        cache[j] = _gate(ax[j] + ah[j])
    for j in range(H):
        rh[j] = cache[H + j] * c[j]
    ac = wa + G3 + 2 * H
    _gemv_t(wk, G3 * I + 2 * H * H, H, rh, H, wk, ac)   # U_c (r h_{t-1})
    acv = wk[ac:ac + H]
    gg = cache[2 * H:3 * H]
    for j in range(H):
        gg[j] = _tanh(ax[2 * H + j] + acv[j])
    for j in range(H):
        z = cache[j]
        hh = z * c[j] + (1.0 - z) * gg[j]
        h[j] = hh
        cn[j] = hh


@njit(cache=True, error_model="numpy", inline="always")
def gru_bwd(th, ip, fp, wk, x, c, d, h, cache, dcn, dh, dc, dstep, g):
    I, H = ip[0], ip[1]
    G3 = 3 * H
    w0 = G3 * (I + H) + G3 + 3 * H
    da = wk[w0:w0 + G3]
    drh = wk[w0 + G3:w0 + G3 + H]
    bo = G3 * (I + H)
    uc = G3 * I + 2 * H * H  # U_c rows in the flat row
    for j in range(H):
        z, gg = cache[j], cache[2 * H + j]
        dhj = dh[j] + dcn[j]
        da[j] = dhj * (c[j] - gg) * (z * (1.0 - z))
        da[2 * H + j] = dhj * (1.0 - z) * (1.0 - gg * gg)
        drh[j] = 0.0
    for r in range(H):  # d(r h) = U_c^T da_c
        dr = da[2 * H + r]
        w = th[uc + r * H:uc + (r + 1) * H]
        for k in range(H):
            drh[k] += w[k] * dr
    for j in range(H):
        r = cache[H + j]
        da[H + j] = drh[j] * c[j] * (r * (1.0 - r))
    for j in range(H):
        dc[j] = (dh[j] + dcn[j]) * cache[j] + drh[j] * cache[H + j]
    rh = cache[3 * H:4 * H]
    for r in range(G3):
        dr = da[r]
        gx = g[r * I:(r + 1) * I]
        for k in range(I):
            gx[k] += dr * x[k]
        g[bo + r] += dr
    dzr = wk[w0 + G3 + H:w0 + G3 + 2 * H]  # W_hg[:2H]^T da_zr, summed apart (numpy adds it last)
    for k in range(H):
        dzr[k] = 0.0
    for r in range(2 * H):
        dr = da[r]
        bh = G3 * I + r * H
        gh = g[bh:bh + H]
        w = th[bh:bh + H]
        for k in range(H):
            gh[k] += dr * c[k]
            dzr[k] += w[k] * dr
    for r in range(H):
        dr = da[2 * H + r]
        bh = uc + r * H
        gh = g[bh:bh + H]
        for k in range(H):
            gh[k] += dr * rh[k]
    for k in range(H):
        dc[k] = dc[k] + dzr[k]


def elman_kernel(cell) -> CellKernel:
    H, K = cell.n_hidden, cell.n_in + 1 + cell.n_carry
    return CellKernel("elman", _affine_prep, elman_fwd, elman_bwd, 0, K * H + H,
                      (ACT_CODES[cell.activation],))


def jordan_kernel(cell) -> CellKernel:
    H, K, O = cell.n_hidden, cell.n_in + 1 + cell.n_carry, cell.readout.n_out
    return CellKernel("jordan", _affine_prep, jordan_fwd, jordan_bwd, 2 * O, K * H + H + O,
                      (ACT_CODES[cell.activation], int(cell.teacher_forcing)), (float(cell.mu),))


def lstm_kernel(cell) -> CellKernel:
    H, I = cell.n_hidden, cell.n_in
    return CellKernel("lstm", lstm_prep, lstm_fwd, lstm_bwd, 6 * H, 4 * H * (I + H) + 3 * 4 * H + 4 * H * (I + H + 1),
                      (int(cell.peepholes),), wgrad=lstm_wgrad, n_step=4 * H)


def gru_kernel(cell) -> CellKernel:
    H, I = cell.n_hidden, cell.n_in
    return CellKernel("gru", gru_prep, gru_fwd, gru_bwd, 4 * H, 3 * H * (I + H) + 3 * H + 3 * H + 3 * H + 2 * H)


# ======================================================================================
# The epoch, written once; specialised per cell (see _driver)
# ======================================================================================
def _epoch_template(theta, vel, sec, tcount, X, D, mask, ones_mask, reset, has_reset, c0, active,
                    ip, fp, h, hp, through, loss_ce, lr, mom, clip, use_adam, b1, b2, eps,
                    ctx, hid, outs, loss_ps, gates, after, stats, grad_out, n_step):
    """One epoch of BPTT(h; h') over every trial, in place: :func:`.bptt.train_epoch`'s numpy
    path step for step (its docstring is the specification). ``_prep``, ``_fwd``, ``_bwd`` are
    the cell's functions, bound as globals of each specialised copy."""
    B, T, I = X.shape
    # the sizes as compile-time constants where this copy was specialised for them (_SZ >= 0:
    # tiny nets, whose loops of one or two trips otherwise cost more than their arithmetic)
    iq = (_SZ[0] if _SZ[0] >= 0 else ip[0], _SZ[1] if _SZ[1] >= 0 else ip[1],
          _SZ[2] if _SZ[2] >= 0 else ip[2], _SZ[3] if _SZ[3] >= 0 else ip[3],
          ip[4], ip[5], ip[6], ip[7], ip[8], ip[9])
    H, C, O, G, NC, OUT, NW = iq[1], iq[2], iq[3], iq[4], iq[5], iq[6], iq[7]
    P = theta.shape[1]
    ro = P - O * (H + 1)
    init = fp[0]
    hmax = min(h, T)
    # numpy skips a window's update when no trial has a target in it (batch-level)
    nwin = (T + hp - 1) // hp
    skip = np.zeros(nwin, np.bool_)
    if not ones_mask:
        end = 0
        w = 0
        while end < T:
            end = min(end + hp, T)
            lo = max(0, end - hp)
            anym = False
            for b in range(B):
                for t in range(lo, end):
                    if mask[b, t] != 0.0:
                        anym = True
            skip[w] = not anym
            w += 1
    # the work arrays (owners kept to the end), then views without reference counts of them and
    # of every argument array (see _unowned: the counting was most of a tiny net's epoch)
    own = (np.empty((hmax, H)), np.empty((hmax, max(NC, 1))), np.empty((hmax, max(n_step, 1))),
           np.empty(H * O), np.empty(O), np.empty(O), np.zeros((hmax, O)), np.empty(H),
           np.empty(C), np.empty(C), np.zeros(C), np.zeros(C), np.zeros(C), np.empty(max(NW, 1)),
           np.empty(P))
    Hw, cache, DS = _unowned(own[0]), _unowned(own[1]), _unowned(own[2])
    WyT, Z, Y, dZ, dH = _unowned(own[3]), _unowned(own[4]), _unowned(own[5]), _unowned(own[6]), _unowned(own[7])
    cur, nxt, dc, dcp, zero = _unowned(own[8]), _unowned(own[9]), _unowned(own[10]), _unowned(own[11]), _unowned(own[12])
    wk, grad = _unowned(own[13]), _unowned(own[14])
    theta, vel, sec, tcount = _unowned(theta), _unowned(vel), _unowned(sec), _unowned(tcount)
    X, D, mask, reset, c0, active, fp = _unowned(X), _unowned(D), _unowned(mask), _unowned(reset), _unowned(c0), _unowned(active), _unowned(fp)
    ctx, hid, outs, loss_ps = _unowned(ctx), _unowned(hid), _unowned(outs), _unowned(loss_ps)
    gates, after, stats, grad_out = _unowned(gates), _unowned(after), _unowned(stats), _unowned(grad_out)
    n_up = 0
    for b in range(B):
        th = theta[b]
        for k in range(C):
            ctx[b, 0, k] = c0[b, k]
        gsum = 0.0
        gmax = 0.0
        umax = 0.0
        n_up = 0
        end = 0
        w = -1
        while end < T:
            end = min(end + hp, T)
            lo = max(0, end - hp)
            start = max(0, end - h)
            n = end - start
            off = lo - start
            w += 1
            _prep(th, iq, fp, wk)
            for o in range(O):
                for k in range(H):
                    WyT[k * O + o] = th[ro + o * (H + 1) + k]
            # the loss weights of the window's own steps
            if ones_mask:
                wsum = 0.0
                sc = 1.0 / (end - lo)
            else:
                wsum = 0.0
                for t in range(lo, end):
                    wsum += mask[b, t]
                wsum = max(wsum, 1e-12)
                sc = 0.0
            # ---- forward from the carry stored at the window's start (held constant)
            for k in range(C):
                cur[k] = ctx[b, start, k]
            for i in range(n):
                t = start + i
                if has_reset and reset[b, t]:
                    for k in range(C):
                        cur[k] = init
                for k in range(C):
                    ctx[b, t, k] = cur[k]
                _fwd(th, iq, fp, wk, X[b, t], cur, D[b, t], nxt, Hw[i], cache[i])
                if i >= off:
                    for k in range(C):
                        after[b, t, k] = nxt[k]
                    for gi in range(G):
                        for j in range(H):
                            gates[b, t, gi, j] = cache[i, gi * H + j]
                    for j in range(H):
                        hid[b, t, j] = Hw[i, j]
                tmp = cur
                cur = nxt
                nxt = tmp
                # ---- read-out, loss and dL/dz of the window's own steps, in the same loop:
                # off the carry's chain of dependent operations, so the processor overlaps them
                # with the next step's forward
                if i < off:
                    for o in range(O):
                        dZ[i, o] = 0.0
                    continue
                t = start + i
                # z = W_hy h + b_y as axpys over W_hy^T (the O sums side by side, each in
                # ascending k as _readout sums it: the same bits)
                hw = Hw[i]
                for o in range(O):
                    Z[o] = 0.0
                for k in range(H):
                    hk = hw[k]
                    wy = WyT[k * O:(k + 1) * O]
                    for o in range(O):
                        Z[o] += wy[o] * hk
                for o in range(O):
                    Z[o] = Z[o] + th[ro + o * (H + 1) + H]
                d = D[b, t]
                ls = 0.0
                lse = 0.0
                if loss_ce and OUT == 0:
                    # sigmoid and log(1 + e^z) from one exp(-|z|): numpy's formulas for both
                    # (cells.sigmoid, np.logaddexp(0, z)), so the same values, one libm call fewer
                    for o in range(O):
                        zo = Z[o]
                        if zo != zo:
                            Y[o] = zo
                            ls += zo
                            continue
                        e = np.exp(-abs(zo))
                        Y[o] = 1.0 / (1.0 + e) if zo >= 0 else e / (1.0 + e)
                        if zo == 0.0:
                            sp = 0.6931471805599453
                        elif zo > 0.0:
                            sp = zo + np.log1p(e)
                        else:
                            sp = np.log1p(e)
                        ls += sp - d[o] * zo
                elif loss_ce and OUT == 1:
                    # softmax and its log-sum-exp from the same exps (O libm calls fewer)
                    zm, se = _softmax(Z, Y)
                    lse = zm + np.log(se)
                else:
                    _output(OUT, Z, Y)
                if loss_ce:
                    if OUT != 0:  # sigmoid: its loss summed above
                        if OUT == 2:  # a linear output (softmax took its log-sum-exp above)
                            zm = _nanmax(Z)
                            se = 0.0
                            for o in range(O):
                                se += np.exp(Z[o] - zm)
                            lse = zm + np.log(se)
                        sd = 0.0
                        sdz = 0.0
                        for o in range(O):
                            sd += d[o]
                            sdz += d[o] * Z[o]
                        ls = lse * sd - sdz
                    for o in range(O):
                        dZ[i, o] = Y[o] - d[o]
                else:
                    for o in range(O):
                        r = Y[o] - d[o]
                        ls += r * r
                        dZ[i, o] = r
                    ls = 0.5 * ls
                    for o in range(O):
                        Z[o] = dZ[i, o]
                    _output_vjp(OUT, Y, Z, dZ[i])
                for o in range(O):
                    outs[b, t, o] = Y[o]
                loss_ps[b, t] = ls
                s_t = sc if ones_mask else mask[b, t] / wsum
                for o in range(O):
                    dZ[i, o] = dZ[i, o] * s_t
            for k in range(C):
                ctx[b, end, k] = cur[k]
            if skip[w]:
                continue
            # ---- backward through the window (BPTT; Elman's scheme: no error through the carry)
            for q in range(P):
                grad[q] = 0.0
            for i in range(n):
                for o in range(O):
                    r = ro + o * (H + 1)
                    dzo = dZ[i, o]
                    gr = grad[r:r + H]
                    hw = Hw[i]
                    for k in range(H):
                        gr[k] += dzo * hw[k]
                    grad[r + H] += dzo
            for k in range(C):
                dc[k] = 0.0
            for i in range(n - 1, -1, -1):
                t = start + i
                # dL/dh = W_hy^T dz, rows in ascending order, as axpys (the same sums)
                for k in range(H):
                    dH[k] = 0.0
                for o in range(O):
                    dzo = dZ[i, o]
                    wy = th[ro + o * (H + 1):ro + o * (H + 1) + H]
                    for k in range(H):
                        dH[k] += dzo * wy[k]
                if through:
                    _bwd(th, iq, fp, wk, X[b, t], ctx[b, t], D[b, t], Hw[i], cache[i], dc, dH, dcp, DS[i], grad)
                else:
                    _bwd(th, iq, fp, wk, X[b, t], ctx[b, t], D[b, t], Hw[i], cache[i], zero, dH, dcp, DS[i], grad)
                if has_reset and reset[b, t]:
                    for k in range(C):
                        dcp[k] = 0.0
                tmp = dc
                dc = dcp
                dcp = tmp
            _wgrad(th, iq, fp, wk, X[b], ctx[b], start, n, DS, grad)
            # ---- clip the norm (Pascanu et al. 2013), then SGD with momentum or Adam
            g2 = 0.0
            for q in range(P):
                g2 += grad[q] * grad[q]
            gn = np.sqrt(g2)
            if clip >= 0.0 and gn > clip:
                fac = clip / max(gn, 1e-300)
                for q in range(P):
                    grad[q] = grad[q] * fac
            for q in range(P):
                grad_out[b, q] = grad[q]
            u2 = 0.0
            if active[b]:
                vb = vel[b]
                if use_adam:
                    tn = tcount[b] + 1.0
                    c1 = -lr / (1.0 - b1 ** tn)
                    c2 = 1.0 - b2 ** tn
                    sb = sec[b]
                    # the step into grad (copied out above), its norm in a loop of its own: the
                    # update then vectorises (its sqrt and division were scalar beside the
                    # serial sum); the same values, the norm summed in the same order
                    for q in range(P):
                        gq = grad[q]
                        m = b1 * vb[q] + (1.0 - b1) * gq
                        v = b2 * sb[q] + (1.0 - b2) * gq * gq
                        st = c1 * m / (np.sqrt(v / c2) + eps)
                        vb[q] = m
                        sb[q] = v
                        th[q] += st
                        grad[q] = st
                    tcount[b] = tn
                else:
                    for q in range(P):
                        v = mom * vb[q] - lr * grad[q]
                        vb[q] = v
                        th[q] += v
                        grad[q] = v
                for q in range(P):
                    u2 += grad[q] * grad[q]
            un = np.sqrt(u2)
            gsum += gn
            if gn != gn or gmax != gmax:
                gmax = np.nan
            else:
                gmax = max(gmax, gn)
            if un != un or umax != umax:
                umax = np.nan
            else:
                umax = max(umax, un)
            n_up += 1
        stats[b, 0] = gsum
        stats[b, 1] = gmax
        stats[b, 2] = umax
    _keep_alive(own)
    return n_up


_DRIVERS: dict[str, Any] = {}
SPECIALISE_TINY = True  # tests switch it off to compare the specialised copy with the generic one


def _driver(ck: CellKernel, sizes: tuple = (-1, -1, -1, -1)):
    """The compiled epoch of one cell: a copy of :func:`_epoch_template` whose globals bind the
    cell's ``_prep``, ``_fwd``, ``_bwd``, ``_wgrad`` and the sizes ``(I, H, C, O)`` it is
    specialised for (-1: read at run time), under its own name (so numba caches each apart)."""
    name = f"_epoch_{ck.name}" + ("" if sizes[0] < 0 else "_" + "_".join(map(str, sizes)))
    fn = _DRIVERS.get(name)
    if fn is not None:
        return fn
    g = dict(_epoch_template.__globals__)
    wg = no_wgrad if ck.wgrad is None else ck.wgrad
    g.update(_prep=ck.prep, _fwd=ck.fwd, _bwd=ck.bwd, _wgrad=wg, _SZ=tuple(int(v) for v in sizes))
    py = types.FunctionType(_epoch_template.__code__, g, name)
    py.__qualname__ = name
    py.__module__ = __name__
    py.__doc__ = _epoch_template.__doc__
    ours = all(getattr(f, "py_func", f).__module__ == __name__ for f in (ck.prep, ck.fwd, ck.bwd, wg))
    fn = njit(cache=ours, error_model="numpy")(py)
    _DRIVERS[name] = fn
    return fn


# ======================================================================================
# The Python side: pack, run, unpack
# ======================================================================================
_POOL: dict[str, np.ndarray] = {}
_NO_MASK = np.ones((1, 1))
_NO_RESET = np.zeros((1, 1), bool)


def _refs_when_free() -> int:
    """sys.getrefcount of an array only a dict and a local name hold, measured the way
    :func:`_recycled` measures it (3 on CPython 3.11: the dict's, the name's, the argument's;
    the interpreter's count may differ in other versions, so it is measured, not assumed)."""
    pool = {"probe": np.empty(1)}
    a = pool.get("probe")
    return sys.getrefcount(a)


_FREE_REFS = _refs_when_free()


def _recycled(key: str, shape: tuple) -> np.ndarray:
    """An uninitialised float array for an epoch's output: the previous epoch's array of that
    name and shape when nothing but this pool still refers to it (a caller's view or copy keeps
    it out of reuse: a view holds its base), else a new one, which the pool then keeps. Writing
    into fresh memory costs the operating system's page faults on first touch: a quarter of an
    LSTM H=32 B=8 epoch here (~19 -> ~14.5 ms), at these outputs' ~20 MB per epoch."""
    a = _POOL.get(key)
    if a is not None and a.shape == shape and sys.getrefcount(a) == _FREE_REFS:
        return a
    a = np.empty(shape)
    _POOL[key] = a
    return a


def train_epoch(cfg, tcfg, ck: CellKernel, params, velocity, X, D, mask=None, reset=None, c0=None,
                active=None, moments=None, grad_out=None):
    """:func:`.bptt.train_epoch` through the cell's compiled kernel ``ck`` (same arguments, same
    :class:`~.bptt.EpochResult`); ``grad_out`` (B, P), when given, receives the last window's
    (clipped) gradient in the :class:`~.bptt.FlatParams` layout."""
    from .bptt import EpochResult, FlatParams

    B, T, I = X.shape
    cell = cfg.cell
    H, C, O = cfg.n_hidden, cell.n_carry, cfg.n_out
    G = len(cell.gate_names)
    use_adam = tcfg.optimizer == "adam"
    if use_adam and moments is None:
        raise ValueError("the adam optimizer needs its moments (AdamMoments)")
    h, hp, through = tcfg.windows(T)
    if c0 is None:
        c0 = cell.carry0(B)
    fp_ = FlatParams(cfg, B)
    theta = fp_.pack(params)
    vel = fp_.pack(velocity)
    sec = fp_.pack(moments.v) if use_adam else np.zeros((1, 1))
    tcount = moments.t.astype(float, copy=True) if use_adam else np.zeros(B)
    # no mask, no reset: (1, 1) placeholders the epoch never reads (a T = 3000 epoch of a tiny
    # net costs ~0.5 ms; making and checking a mask of ones was ~1 % of it)
    mask_a = _NO_MASK if mask is None else np.ascontiguousarray(mask, dtype=float)
    ones_mask = mask is None or bool(np.all(mask_a == 1.0))
    has_reset = reset is not None and bool(np.any(reset))
    reset_a = np.ascontiguousarray(reset, dtype=bool) if has_reset else _NO_RESET
    act = np.ones(B, bool) if active is None else np.ascontiguousarray(active, dtype=bool)
    ints = (*ck.ints, 0, 0)[:max(2, len(ck.ints))]  # at least two: the driver reads ip[8], ip[9]
    ip = np.array([I, H, C, O, G, ck.n_cache, OUT_CODES[cfg.output], ck.n_work, *ints], dtype=np.int64)
    fpar = np.array([cell.context_init, *ck.floats], dtype=float)
    # every step's entries are written by the epoch (its windows cover [0, T)), so recycled
    # arrays need no clearing
    ctx = _recycled("ctx", (B, T + 1, C))
    hid = _recycled("hid", (B, T, H))
    outs = _recycled("outs", (B, T, O))
    loss_ps = _recycled("loss_ps", (B, T))
    gates = _recycled("gates", (B, T, G, H))
    after = _recycled("after", (B, T, C))
    stats = np.zeros((B, 3))
    gout = np.empty((B, fp_.P)) if grad_out is None else grad_out
    clip = -1.0 if tcfg.clip is None else float(tcfg.clip)
    # a tiny affine net with one input and one output (temporal XOR's 1-2-1) runs on a copy
    # compiled for its sizes: its loops of one or two trips unroll (0.63 -> 0.53 ms per T=3000
    # epoch here); few enough shapes that the extra compiles stay rare
    tiny = SPECIALISE_TINY and ck.name in ("elman", "jordan") and I == 1 and O == 1 and H <= 2
    n_up = _driver(ck, (I, H, C, O) if tiny else (-1, -1, -1, -1))(
        theta, vel, sec, tcount, np.ascontiguousarray(X, dtype=float), np.ascontiguousarray(D, dtype=float),
        mask_a, ones_mask, reset_a, has_reset, np.ascontiguousarray(c0, dtype=float), act, ip, fpar,
        int(h), int(hp), bool(through), cfg.loss_kind == "cross_entropy", float(tcfg.lr), float(tcfg.momentum),
        clip, use_adam, float(tcfg.beta1), float(tcfg.beta2), float(tcfg.eps),
        ctx, hid, outs, loss_ps, gates, after, stats, gout, int(ck.n_step))
    fp_.unpack(theta, params)
    fp_.unpack(vel, velocity)
    if use_adam:
        fp_.unpack(sec, moments.v)
        moments.t[...] = tcount
    if mask is None:  # the masked mean's values: x * 1 = x, and the weights sum to T exactly
        epoch_loss = loss_ps.sum(1) / max(float(T), 1e-12)
    else:
        epoch_loss = (mask_a * loss_ps).sum(1) / np.maximum(mask_a.sum(1), 1e-12)
    fused = cell.affine and (cell.carry_is_hidden or cell.carry_given)  # numpy's fused paths keep no carry_after
    return EpochResult(
        loss=epoch_loss, loss_per_step=loss_ps, hidden=hid, outputs=outs, context=ctx[:, :T],
        grad_norm=stats[:, 0] / max(n_up, 1), grad_norm_max=stats[:, 1].copy(), update_norm_max=stats[:, 2].copy(),
        n_updates=int(n_up), carry_next=ctx[:, T].copy(), gates=gates, carry_after=None if fused else after,
    )
