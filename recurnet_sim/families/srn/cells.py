"""Recurrent cells: the part of a simple recurrent network that differs between Elman and Jordan.

A *cell* is its parameters plus one time step and that step's vector-Jacobian product, over a
batch axis (the shape of ``torch.nn.RNNCell`` / ``equinox.nn.GRUCell``, with the backward step
beside the forward step). Everything else is generic and written once over the :class:`Cell`
protocol: the time loop, full and truncated BPTT, Elman's one-step scheme, the linear read-out,
the loss, clipping and SGD (:mod:`.bptt`), running and free running (:mod:`.model`) and the
gradient-flow analysis (:mod:`recurnet_sim.analysis.gradflow`). A new cell (an LSTM, a GRU) is one
more subclass of :class:`Cell` registered in :data:`CELLS`.

The network around any cell::

    carry_{t+1}, h_t = cell.step(params, x_t, carry_t)      the recurrence, (B, C) and (B, H)
    z_t = W_hy h_t + b_y,   y_t = g(z_t)                     the read-out (:class:`Readout`)

The two cells of the family (both *affine*: ``a_t = W_xh x_t + W_ch c_t + b_h``, ``h_t = f(a_t)``):

* :class:`ElmanCell` (Elman 1990, "Finding structure in time"): ``c_{t+1} = h_t`` — the context
  is a copy of the hidden layer through fixed weights of 1; ``W_ch`` is the recurrent W_hh.
* :class:`JordanCell` (Jordan 1986, "Serial order"): state units ``c_{t+1} = mu c_t + y_t``, or
  ``+ d_t`` (the target) under teacher forcing; the plan is a constant part of ``x_t``. The cell
  reads the read-out's parameters, because its carry is fed by the output.

Parameters carry a leading batch axis: ``W_ch`` is ``(B, H, C)``. Per-step caches are whatever a
cell's ``vjp`` and ``jacobian`` need; callers treat them as opaque.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
OUTPUTS = ("sigmoid", "softmax", "linear")


# ======================================================================================
# Activations and output nonlinearities
# ======================================================================================
def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function, computed without overflow for large |x|."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def activate(kind: str, a: np.ndarray) -> np.ndarray:
    """Hidden activation f(a), any shape."""
    if kind == "tanh":
        return np.tanh(a)
    if kind == "sigmoid":
        return sigmoid(a)
    if kind == "relu":
        return np.maximum(a, 0.0)
    return a.copy()


def activation_grad(kind: str, a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """f'(a), computed from the output h where that is cheaper."""
    if kind == "tanh":
        return 1.0 - h * h
    if kind == "sigmoid":
        return h * (1.0 - h)
    if kind == "relu":
        return (a > 0).astype(a.dtype)
    return np.ones_like(a)


def output_fn(kind: str, z: np.ndarray) -> np.ndarray:
    """Output nonlinearity g(z), last axis = output units."""
    if kind == "sigmoid":
        return sigmoid(z)
    if kind == "softmax":
        e = np.exp(z - z.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)
    return z.copy()


def output_vjp(kind: str, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vector-Jacobian product v^T dy/dz for the output nonlinearity."""
    if kind == "sigmoid":
        return v * y * (1.0 - y)
    if kind == "softmax":
        return y * (v - (v * y).sum(axis=-1, keepdims=True))
    return v


def output_jacobian(kind: str, y: np.ndarray) -> np.ndarray:
    """dy/dz, shape (..., O, O)."""
    O = y.shape[-1]
    if kind == "sigmoid":
        return np.eye(O) * (y * (1 - y))[..., None, :]
    if kind == "softmax":
        return np.eye(O) * y[..., None, :] - y[..., :, None] * y[..., None, :]
    return np.broadcast_to(np.eye(O), y.shape + (O,)).copy()


def matvec(W: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched W @ v: (B, m, n), (B, n) -> (B, m). matmul is faster than einsum for small sizes."""
    return (W @ v[:, :, None])[:, :, 0]


def rmatvec(W: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched W^T @ v: (B, m, n), (B, m) -> (B, n)."""
    return (v[:, None, :] @ W)[:, 0, :]


# ======================================================================================
# The read-out (generic: every cell's hidden layer is read the same way)
# ======================================================================================
@dataclass(frozen=True)
class Readout:
    """The output layer ``z = W_hy h + b_y``, ``y = g(z)``: parameters ``W_hy`` (O, H), ``b_y`` (O,)."""

    n_hidden: int
    n_out: int
    output: str = "sigmoid"

    param_names = ("W_hy", "b_y")

    def shapes(self) -> dict[str, tuple[int, ...]]:
        return {"W_hy": (self.n_out, self.n_hidden), "b_y": (self.n_out,)}

    def init(self, rng: np.random.Generator, scale: float) -> dict[str, np.ndarray]:
        """Uniform in ±scale/sqrt(H + 1) (fan-in with the bias), biases 0; one trial."""
        r = scale / math.sqrt(self.n_hidden + 1)
        return {"W_hy": rng.uniform(-r, r, (self.n_out, self.n_hidden))}

    def __call__(self, params: dict[str, np.ndarray], h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(z, y) of one step, h (B, H) -> (B, O) each."""
        z = matvec(params["W_hy"], h) + params["b_y"]
        return z, output_fn(self.output, z)

    def jacobian(self, params: dict[str, np.ndarray], y: np.ndarray) -> np.ndarray:
        """dy/dh at output ``y`` (B, O): ``dy/dz W_hy``, shape (B, O, H)."""
        return output_jacobian(self.output, y) @ params["W_hy"]


# ======================================================================================
# The protocol
# ======================================================================================
class Cell:
    """One step of a recurrence over a batch, and its vector-Jacobian product.

    Subclasses set the sizes and implement the methods marked *required*; the others have
    documented defaults. Arrays carry the batch axis B first; ``params`` is the whole network's
    dict (a cell reads its own names, and may read the read-out's).

    Attributes
    ----------
    n_in, n_hidden, n_carry : int
        Input units I, hidden units H (what the read-out reads) and carry units C (what the cell
        feeds itself: Elman's context, Jordan's state units, an LSTM's (h, c)).
    context_init : float
        Every carry unit's value at the start of a sequence.
    param_names : tuple of str
        The cell's own parameters (the read-out owns ``W_hy``, ``b_y``).
    hidden_in_carry : slice or None
        Where h_t sits inside carry_{t+1} when the cell feeds its hidden layer back (Elman: all of
        it; an LSTM: its first H units); None when it does not (Jordan). Gradient flow counts lag 0
        from there, and an output can be fed back as the next input only then.
    uses_target : bool
        Whether ``step`` reads the target ``d_t`` (teacher forcing): BPTT then needs the targets.
    affine, carry_is_hidden, carry_given : bool
        Declarations for the fused training epoch of :func:`.bptt.train_epoch` (a fast path, checked
        against the generic composition by the tests): ``affine`` when a_t = [W_xh | b_h | W_ch]
        [x_t, 1, c_t] and h_t = f(a_t) (``activation`` names f); ``carry_is_hidden`` when
        c_{t+1} = h_t exactly; ``carry_given`` when the carry does not depend on the parameters
        (then :meth:`given_carries` computes it). Cells that declare none get the generic path.
    """

    n_in: int
    n_hidden: int
    n_carry: int
    context_init: float = 0.0
    param_names: tuple[str, ...] = ()
    hidden_in_carry: slice | None = None
    uses_target: bool = False
    affine: bool = False
    carry_is_hidden: bool = False
    carry_given: bool = False
    #: an extra layer the running model shows after the hidden layer: the part of the next carry
    #: that the shown layers cannot rebuild (an LSTM's cell state c_t), so that perturbing it acts
    #: on the next step; "" when there is none
    state_layer: str = ""
    n_state: int = 0
    #: the cell's gates, in the order of :meth:`gates` (empty for ungated cells)
    gate_names: tuple[str, ...] = ()

    # ----- parameters --------------------------------------------------------------------
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-trial shapes of the cell's parameters (without the batch axis). *Required*."""
        raise NotImplementedError

    def init(self, rng: np.random.Generator, scale: float, recurrent_radius: float | None = None) -> dict[str, np.ndarray]:
        """One trial's initial parameters, drawn from ``rng`` in a fixed order. *Required*."""
        raise NotImplementedError

    def carry0(self, B: int) -> np.ndarray:
        """The carry entering the first step, (B, C)."""
        return np.full((B, self.n_carry), self.context_init)

    # ----- one step forward and back -----------------------------------------------------
    def step(self, params: dict[str, np.ndarray], x: np.ndarray, carry: np.ndarray,
             d: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, Any]:
        """One time step. *Required*.

        Parameters
        ----------
        x : ndarray, shape (B, I)
        carry : ndarray, shape (B, C)
        d : ndarray, shape (B, O), optional
            The step's target, for cells with ``uses_target`` (None when running free).

        Returns
        -------
        carry_next : ndarray, shape (B, C)
        h : ndarray, shape (B, H)
        cache : object
            What :meth:`vjp` and :meth:`jacobian` need.
        """
        raise NotImplementedError

    def vjp(self, params: dict[str, np.ndarray], cache: Any, d_carry_next: np.ndarray,
            d_h: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Vector-Jacobian product of :meth:`step`. *Required*.

        Parameters
        ----------
        d_carry_next : ndarray, shape (B, C)
            dL/dcarry_{t+1} (zero for the last step, and in Elman's one-step scheme).
        d_h : ndarray, shape (B, H)
            dL/dh_t from the read-out.

        Returns
        -------
        d_carry : ndarray, shape (B, C)
            dL/dcarry_t.
        d_params : dict of ndarray
            This step's contribution to dL/dtheta, (B, ...) per parameter it uses.
        d_x : ndarray, shape (B, I)
        """
        raise NotImplementedError

    def jacobian(self, params: dict[str, np.ndarray], cache: Any) -> np.ndarray:
        """d carry_{t+1} / d carry_t of the step that made ``cache``, (B, C, C). *Required*."""
        raise NotImplementedError

    def input_jacobian(self, params: dict[str, np.ndarray], cache: Any) -> np.ndarray:
        """d carry_{t+1} / d x_t, (B, C, I) (free running with the output fed back). *Required*."""
        raise NotImplementedError

    def advance(self, carry: np.ndarray, h: np.ndarray, y: np.ndarray, s: np.ndarray | None = None) -> np.ndarray:
        """The carry the next step gets from the layers a running model shows (carry, hidden,
        output, and the cell's ``state_layer`` ``s`` (B, n_state) when it has one), so that a
        perturbation of those layers acts on the next step. *Required*."""
        raise NotImplementedError

    def shown_state(self, carry_next: np.ndarray) -> np.ndarray:
        """The ``state_layer`` a running model shows after a step, from the carry it produced,
        (B, n_state); empty by default."""
        return carry_next[:, :0]

    def gates(self, cache: Any) -> np.ndarray:
        """Gate activations of the step that made ``cache``, (B, len(gate_names), H); none by default."""
        return np.zeros((cache.h.shape[0], 0, self.n_hidden))

    def carousel(self, params: dict[str, np.ndarray], cache: Any) -> np.ndarray | None:
        """The diagonal gain of the step along a cell's memory path, (B, H), or None when it has
        none: an LSTM's forget gate f_t, so that the constant-error-carousel path
        d c_{t+1} / d c_{t+1-k} is the product of k of them (Hochreiter & Schmidhuber 1997;
        Gers, Schmidhuber & Cummins 2000)."""
        return None

    def memory_slice(self) -> slice | None:
        """Where the memory (cell state) sits in the carry, for :meth:`carousel`; None without one."""
        return None

    # ----- analysis ----------------------------------------------------------------------
    def recurrent_matrix(self, params: dict[str, np.ndarray]) -> np.ndarray:
        """The matrix the carry passes through at a linear operating point, (B, C, C) (its
        spectral radius separates exploding from vanishing gradients). *Required*."""
        raise NotImplementedError

    def linearised_system(self, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(A (B, C, C), B (B, C, I), C (B, O, C)) of the carry's dynamics linearised at rest
        (zero input and state), for Kalman's rank tests. *Required*."""
        raise NotImplementedError

    def given_carries(self, c0: np.ndarray, D: np.ndarray, reset: np.ndarray | None) -> np.ndarray:
        """For ``carry_given`` cells: the carry entering every step and the one after the last,
        (B, T + 1, C)."""
        raise NotImplementedError

    def connections(self, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """(input -> hidden (B, H, I), carry -> hidden (B, H, C)) weights drawn by the graph view."""
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Extra facts for the model's ``describe()``."""
        return {}

    # ----- compiled kernel (optional) ------------------------------------------------------
    def kernel(self):
        """The cell's compiled step, a :class:`.kernels.CellKernel` (its forward and backward step
        as numba functions over a flat parameter row), or None (the default): the cell then trains
        on the numpy path whatever kernel is selected. Imports numba, so only called when the
        compiled kernel is selected."""
        return None


# ======================================================================================
# Elman and Jordan: affine cells
# ======================================================================================
@dataclass(frozen=True)
class _Step:
    """Cache of one affine step."""

    x: np.ndarray  # (B, I)
    c: np.ndarray  # (B, C) carry entering the step
    a: np.ndarray  # (B, H) pre-activation
    h: np.ndarray  # (B, H)
    y: np.ndarray | None = None  # (B, O) output fed into the carry (Jordan, not forced)


class AffineCell(Cell):
    """``a_t = W_xh x_t + W_ch c_t + b_h``, ``h_t = f(a_t)``; subclasses say what the carry is."""

    param_names = ("W_xh", "W_ch", "b_h")
    affine = True

    def __init__(self, n_in: int, n_hidden: int, n_carry: int, activation: str = "tanh",
                 context_init: float = 0.0):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.n_in, self.n_hidden, self.n_carry = n_in, n_hidden, n_carry
        self.activation = activation
        self.context_init = context_init

    def shapes(self):
        H, I, C = self.n_hidden, self.n_in, self.n_carry
        return {"W_xh": (H, I), "W_ch": (H, C), "b_h": (H,)}

    def init(self, rng, scale, recurrent_radius=None):
        """Weights uniform in ±scale/sqrt(I + C + 1) (the hidden units' fan-in), bias 0.

        ``recurrent_radius`` rescales ``W_ch`` to that spectral radius (it must be square: W_hh),
        to put a network on either side of the exploding/vanishing boundary (radius 1)."""
        H, I, C = self.n_hidden, self.n_in, self.n_carry
        r = scale / math.sqrt(I + C + 1)
        w_xh = rng.uniform(-r, r, (H, I))
        w_ch = rng.uniform(-r, r, (H, C))
        if recurrent_radius is not None:
            if C != H or not self.carry_is_hidden:
                raise ValueError("recurrent_radius applies to Elman networks (square W_hh)")
            rho = float(np.max(np.abs(np.linalg.eigvals(w_ch))))
            w_ch = w_ch * (recurrent_radius / rho) if rho > 0 else w_ch
        return {"W_xh": w_xh, "W_ch": w_ch, "b_h": np.zeros(H)}

    def _hidden(self, p, x, c):
        a = matvec(p["W_xh"], x) + matvec(p["W_ch"], c) + p["b_h"]
        return a, activate(self.activation, a)

    def _vjp_hidden(self, p, s: _Step, d_a):
        """Gradients of a_t = W_xh x + W_ch c + b_h from dL/da_t: (d_c, d_params, d_x)."""
        grads = {"W_xh": d_a[:, :, None] * s.x[:, None, :], "W_ch": d_a[:, :, None] * s.c[:, None, :],
                 "b_h": d_a}
        return rmatvec(p["W_ch"], d_a), grads, rmatvec(p["W_xh"], d_a)

    def input_jacobian(self, params, cache):
        fp = activation_grad(self.activation, cache.a, cache.h)
        return fp[:, :, None] * params["W_xh"]

    def connections(self, params):
        """(input -> hidden (B, H, I), context -> hidden (B, H, C)) weights, for the graph view."""
        return params["W_xh"], params["W_ch"]


class ElmanCell(AffineCell):
    """Elman (1990): the context is a copy of the hidden layer, ``c_{t+1} = h_t`` (weights 1)."""

    carry_is_hidden = True

    def __init__(self, n_in, n_hidden, activation="tanh", context_init=0.5):
        super().__init__(n_in, n_hidden, n_hidden, activation, context_init)
        self.hidden_in_carry = slice(0, n_hidden)

    def step(self, params, x, carry, d=None):
        a, h = self._hidden(params, x, carry)
        return h, h, _Step(x, carry, a, h)

    def vjp(self, params, cache, d_carry_next, d_h):
        # h_t reaches the loss through the read-out and the next step through the copy
        d_a = (d_h + d_carry_next) * activation_grad(self.activation, cache.a, cache.h)
        return self._vjp_hidden(params, cache, d_a)

    def jacobian(self, params, cache):
        # J_t = dh_t/dh_{t-1} = diag(f'(a_t)) W_hh
        fp = activation_grad(self.activation, cache.a, cache.h)
        return fp[..., :, None] * params["W_ch"]

    def advance(self, carry, h, y, s=None):
        return h.copy()

    def recurrent_matrix(self, params):
        return params["W_ch"]

    def kernel(self):
        from .kernels import elman_kernel
        return elman_kernel(self)

    def linearised_system(self, params):
        """s = h: A = D W_hh, B = D W_xh, C = W_hy with D = diag f'(b_h)."""
        b = params["b_h"]
        D = activation_grad(self.activation, b, activate(self.activation, b))[..., :, None]
        return D * params["W_ch"], D * params["W_xh"], params["W_hy"]


class JordanCell(AffineCell):
    """Jordan (1986): state units ``c_{t+1} = mu c_t + y_t`` fed by the output (or by the target
    ``d_t`` under teacher forcing). Reads the read-out's ``W_hy``, ``b_y``."""

    def __init__(self, n_in, n_hidden, readout: Readout, mu=0.5, teacher_forcing=False, activation="tanh",
                 context_init=0.0):
        super().__init__(n_in, n_hidden, readout.n_out, activation, context_init)
        self.readout = readout
        self.mu = mu
        self.teacher_forcing = teacher_forcing
        self.uses_target = teacher_forcing
        self.carry_given = teacher_forcing

    def step(self, params, x, carry, d=None):
        a, h = self._hidden(params, x, carry)
        if self.teacher_forcing and d is not None:
            return self.mu * carry + d, h, _Step(x, carry, a, h)
        _, y = self.readout(params, h)
        return self.mu * carry + y, h, _Step(x, carry, a, h, y)  # Jordan 1986: s_{t+1} = mu s_t + y_t

    def vjp(self, params, cache, d_carry_next, d_h):
        if cache.y is None:  # fed by the target: the next state does not depend on this step
            d_a = d_h * activation_grad(self.activation, cache.a, cache.h)
            d_c, grads, d_x = self._vjp_hidden(params, cache, d_a)
            return self.mu * d_carry_next + d_c, grads, d_x
        # y_t feeds the next state unit: its error enters through the output nonlinearity
        dz = output_vjp(self.readout.output, cache.y, d_carry_next)
        d_a = (d_h + rmatvec(params["W_hy"], dz)) * activation_grad(self.activation, cache.a, cache.h)
        d_c, grads, d_x = self._vjp_hidden(params, cache, d_a)
        grads["W_hy"] = dz[:, :, None] * cache.h[:, None, :]
        grads["b_y"] = dz
        return self.mu * d_carry_next + d_c, grads, d_x

    def jacobian(self, params, cache):
        # dc_{t+1}/dc_t = mu I + dy_t/dz W_hy diag(f'(a_t)) W_ch (mu I when fed by the target)
        eye = self.mu * np.eye(self.n_carry)
        if cache.y is None:
            return np.broadcast_to(eye, cache.a.shape[:1] + eye.shape).copy()
        fp = activation_grad(self.activation, cache.a, cache.h)
        inner = np.einsum("boh,bh,bhc->boc", params["W_hy"], fp, params["W_ch"])
        return eye + output_jacobian(self.readout.output, cache.y) @ inner

    def input_jacobian(self, params, cache):
        if cache.y is None:
            return np.zeros((cache.a.shape[0], self.n_carry, self.n_in))
        fp = activation_grad(self.activation, cache.a, cache.h)
        return output_jacobian(self.readout.output, cache.y) @ params["W_hy"] @ (fp[:, :, None] * params["W_xh"])

    def advance(self, carry, h, y, s=None):
        return self.mu * carry + y

    def given_carries(self, c0, D, reset):
        B, T, _ = D.shape
        out = np.empty((B, T + 1, self.n_carry))
        c = np.array(c0, dtype=float)
        for t in range(T):
            if reset is not None and reset[:, t].any():
                c = np.where(reset[:, t, None], self.context_init, c)
            out[:, t] = c
            c = self.mu * c + D[:, t]  # teacher forcing: the state units follow the targets
        out[:, T] = c
        return out

    def recurrent_matrix(self, params):
        """``mu I + W_hy W_ch``: the state-to-state matrix at a linear operating point."""
        return self.mu * np.eye(self.n_carry) + params["W_hy"] @ params["W_ch"]

    def linearised_system(self, params):
        """s = the state units: A = mu I + W_hy D W_ch, B = W_hy D W_xh, C = W_hy D W_ch (the
        outputs are read one step on), D = diag f'(b_h)."""
        b = params["b_h"]
        D = activation_grad(self.activation, b, activate(self.activation, b))[..., :, None]
        Wd = params["W_hy"] @ (D * params["W_ch"])
        A = self.mu * np.eye(self.n_carry) + Wd
        return A, params["W_hy"] @ (D * params["W_xh"]), Wd

    def describe(self):
        return {"mu": self.mu, "teacher_forcing": self.teacher_forcing}

    def kernel(self):
        from .kernels import jordan_kernel
        return jordan_kernel(self)


# ======================================================================================
# LSTM and GRU: gated cells
# ======================================================================================
def _sig_grad(s: np.ndarray) -> np.ndarray:
    return s * (1.0 - s)


def _gate(x: np.ndarray) -> np.ndarray:
    """The gates' logistic function as ``(1 + tanh(x / 2)) / 2``: the same function, no overflow for
    any x, and one ufunc instead of :func:`sigmoid`'s four (the gated cells call it 3x per step)."""
    out = np.tanh(0.5 * x)
    out += 1.0
    out *= 0.5
    return out


@dataclass(frozen=True)
class _GatedStep:
    """Cache of one gated step: the input, the carry's parts, the gates and the new state."""

    x: np.ndarray  # (B, I)
    h_prev: np.ndarray  # (B, H)
    gate: np.ndarray  # (B, G, H) gate activations
    h: np.ndarray  # (B, H)
    c_prev: np.ndarray | None = None  # (B, H) LSTM cell state entering the step
    c: np.ndarray | None = None  # (B, H) LSTM cell state after the step
    extra: np.ndarray | None = None  # GRU: r * h_prev


class GatedCell(Cell):
    """Shared parts of the LSTM and the GRU: stacked gate weights ``W_xg`` (G H, I), ``W_hg``
    (G H, H), ``b_g`` (G H), gate k in rows k H .. (k + 1) H; the carry starts at ``context_init``
    (0 by default: these cells have no Elman 0.5 convention)."""

    n_gate_rows = 0  # G

    def __init__(self, n_in: int, n_hidden: int, context_init: float = 0.0):
        self.n_in, self.n_hidden = n_in, n_hidden
        self.context_init = context_init
        self.hidden_in_carry = slice(0, n_hidden)

    def _init_gates(self, rng, scale, recurrent_radius):
        if recurrent_radius is not None:
            raise ValueError("recurrent_radius applies to Elman networks (square W_hh)")
        G, H, I = self.n_gate_rows, self.n_hidden, self.n_in
        r = scale / math.sqrt(I + H + 1)  # every gate unit's fan-in: x, h and the bias
        return {"W_xg": rng.uniform(-r, r, (G * H, I)), "W_hg": rng.uniform(-r, r, (G * H, H)),
                "b_g": np.zeros(G * H)}

    def _split(self, a: np.ndarray) -> np.ndarray:
        """(B, G H) -> (B, G, H)."""
        return a.reshape(a.shape[0], self.n_gate_rows, self.n_hidden)

    def gates(self, cache):
        return cache.gate

    def _rows(self, W: np.ndarray, k: int) -> np.ndarray:
        H = self.n_hidden
        return W[:, k * H:(k + 1) * H]

    def _rest(self, params):
        """(carry_next, cache) of one step from rest (zero input, carry 0): the operating point of
        :meth:`recurrent_matrix` and :meth:`linearised_system`."""
        B = params["b_g"].shape[0]
        x = np.zeros((B, self.n_in))
        return self.step(params, x, np.zeros((B, self.n_carry)))

    def recurrent_matrix(self, params):
        """The step Jacobian d carry_{t+1} / d carry_t at rest (zero input and carry): what the
        carry passes through near its resting point (there is no single recurrent weight matrix)."""
        _, _, cache = self._rest(params)
        return self.jacobian(params, cache)

    def linearised_system(self, params):
        """At rest: A = the step Jacobian, B = d carry/d x, C = W_hy on the carry's hidden part."""
        _, _, cache = self._rest(params)
        Wy = params["W_hy"]
        C = np.zeros(Wy.shape[:2] + (self.n_carry,))
        C[:, :, self.hidden_in_carry] = Wy
        return self.jacobian(params, cache), self.input_jacobian(params, cache), C

    def connections(self, params):
        """The candidate (cell-input) weights: what reaches the hidden units before gating."""
        H = self.n_hidden
        k = self.candidate_row
        W_ctx = np.zeros((params["W_hg"].shape[0], H, self.n_carry))
        W_ctx[:, :, :H] = self._rows(params["W_hg"], k)
        return self._rows(params["W_xg"], k), W_ctx


class LSTMCell(GatedCell):
    """Long short-term memory with a forget gate (Hochreiter & Schmidhuber 1997, "Long short-term
    memory"; Gers, Schmidhuber & Cummins 2000, "Learning to forget"), optional peepholes (Gers &
    Schmidhuber 2000, "Recurrent nets that time and count")::

        a_t = W_xg x_t + W_hg h_{t-1} + b_g                          gates i, f, g, o stacked (4H)
        i_t = s(a_i + p_i c_{t-1}),  f_t = s(a_f + p_f c_{t-1}),  g_t = tanh(a_g)
        c_t = f_t c_{t-1} + i_t g_t                                  the constant error carousel
        o_t = s(a_o + p_o c_t),      h_t = o_t tanh(c_t)

    The carry is (h, c), ``n_carry = 2H`` (h first). The cell state cannot be rebuilt from the
    layers a running model shows, so it is shown itself: the model's ``cell`` layer holds c_t
    (``state_layer``), and :meth:`advance` takes the next carry from the shown hidden and cell
    layers — a perturbation of either acts on the next step.

    Parameters
    ----------
    forget_bias : float
        Initial bias of the forget gate: positive keeps the carousel open at the start, so errors
        flow back through c before the net has learnt to use it (Gers et al. 2000; Jozefowicz,
        Zaremba & Sutskever 2015 recommend 1).
    peepholes : bool
        Gate connections from the cell state: ``w_ci``, ``w_cf`` (from c_{t-1}), ``w_co`` (from c_t).
    """

    gate_names = ("input", "forget", "cell input", "output")
    n_gate_rows = 4
    candidate_row = 2
    state_layer = "cell"

    def __init__(self, n_in, n_hidden, forget_bias=1.0, peepholes=False, context_init=0.0):
        super().__init__(n_in, n_hidden, context_init)
        self.n_carry = 2 * n_hidden
        self.n_state = n_hidden
        self.forget_bias = float(forget_bias)
        self.peepholes = bool(peepholes)
        self.param_names = ("W_xg", "W_hg", "b_g") + (("w_ci", "w_cf", "w_co") if peepholes else ())

    def shapes(self):
        G, H, I = 4, self.n_hidden, self.n_in
        out = {"W_xg": (G * H, I), "W_hg": (G * H, H), "b_g": (G * H,)}
        if self.peepholes:
            out.update(w_ci=(H,), w_cf=(H,), w_co=(H,))
        return out

    def init(self, rng, scale, recurrent_radius=None):
        """Gate weights uniform in ±scale/sqrt(I + H + 1), biases 0 but the forget gate's
        (``forget_bias``); peepholes uniform in ±scale/sqrt(H + 1), drawn after the gates."""
        out = self._init_gates(rng, scale, recurrent_radius)
        H = self.n_hidden
        out["b_g"][H:2 * H] = self.forget_bias
        if self.peepholes:
            r = scale / math.sqrt(H + 1)
            for k in ("w_ci", "w_cf", "w_co"):
                out[k] = rng.uniform(-r, r, H)
        return out

    def step(self, params, x, carry, d=None):
        H = self.n_hidden
        hp, cp = carry[:, :H], carry[:, H:]
        a = self._split(matvec(params["W_xg"], x) + matvec(params["W_hg"], hp) + params["b_g"])
        ai, af, ag, ao = a[:, 0], a[:, 1], a[:, 2], a[:, 3]
        if self.peepholes:
            ai = ai + params["w_ci"] * cp
            af = af + params["w_cf"] * cp
        i, f, g = _gate(ai), _gate(af), np.tanh(ag)
        c = f * cp + i * g
        o = _gate(ao + params["w_co"] * c) if self.peepholes else _gate(ao)
        h = o * np.tanh(c)
        gate = np.stack([i, f, g, o], axis=1)
        return np.concatenate([h, c], 1), h, _GatedStep(x, hp, gate, h, cp, c)

    def vjp(self, params, cache, d_carry_next, d_h):
        H = self.n_hidden
        i, f, g, o = (cache.gate[:, k] for k in range(4))
        cp, c = cache.c_prev, cache.c
        dh = d_h + d_carry_next[:, :H]
        tc = np.tanh(c)
        da_o = dh * tc * _sig_grad(o)
        dc = d_carry_next[:, H:] + dh * o * (1.0 - tc * tc)
        if self.peepholes:
            dc = dc + da_o * params["w_co"]
        da_f = dc * cp * _sig_grad(f)
        da_i = dc * g * _sig_grad(i)
        da_g = dc * i * (1.0 - g * g)
        dcp = dc * f
        if self.peepholes:
            dcp = dcp + da_i * params["w_ci"] + da_f * params["w_cf"]
        da = np.concatenate([da_i, da_f, da_g, da_o], 1)  # (B, 4H)
        grads = {"W_xg": da[:, :, None] * cache.x[:, None, :], "W_hg": da[:, :, None] * cache.h_prev[:, None, :],
                 "b_g": da}
        if self.peepholes:
            grads.update(w_ci=da_i * cp, w_cf=da_f * cp, w_co=da_o * c)
        dhp = rmatvec(params["W_hg"], da)
        return np.concatenate([dhp, dcp], 1), grads, rmatvec(params["W_xg"], da)

    def _jac(self, params, cache, W):
        """(d h_t / d v, d c_t / d v) through the gate pre-activations a = W v (W: (B, 4H, n))."""
        i, f, g, o = (cache.gate[:, k] for k in range(4))
        cp, c = cache.c_prev, cache.c
        Wi, Wf, Wg, Wo = (self._rows(W, k) for k in range(4))
        dc = (cp * _sig_grad(f))[:, :, None] * Wf + (g * _sig_grad(i))[:, :, None] * Wi \
            + (i * (1 - g * g))[:, :, None] * Wg
        return dc, Wo

    def _h_from(self, params, cache, dc, dao):
        """d h_t from d c_t and the output gate's direct pre-activation term ``dao``."""
        o, c = cache.gate[:, 3], cache.c
        tc = np.tanh(c)
        if self.peepholes:
            dao = dao + params["w_co"][:, :, None] * dc
        return (tc * _sig_grad(o))[:, :, None] * dao + (o * (1 - tc * tc))[:, :, None] * dc

    def jacobian(self, params, cache):
        """d (h_t, c_t) / d (h_{t-1}, c_{t-1}), (B, 2H, 2H)."""
        H = self.n_hidden
        B = cache.h.shape[0]
        i, f, g, o = (cache.gate[:, k] for k in range(4))
        cp = cache.c_prev
        dc_dh, Wo = self._jac(params, cache, params["W_hg"])
        dh_dh = self._h_from(params, cache, dc_dh, Wo)
        diag = f.copy()  # the carousel: c_t = f_t c_{t-1} + ...
        if self.peepholes:
            diag = diag + cp * _sig_grad(f) * params["w_cf"] + g * _sig_grad(i) * params["w_ci"]
        dc_dc = diag[:, :, None] * np.eye(H)
        dh_dc = self._h_from(params, cache, dc_dc, np.zeros((B, H, H)))
        J = np.empty((B, 2 * H, 2 * H))
        J[:, :H, :H], J[:, :H, H:] = dh_dh, dh_dc
        J[:, H:, :H], J[:, H:, H:] = dc_dh, dc_dc
        return J

    def input_jacobian(self, params, cache):
        dc, Wo = self._jac(params, cache, params["W_xg"])
        return np.concatenate([self._h_from(params, cache, dc, Wo), dc], 1)

    def advance(self, carry, h, y, s=None):
        return np.concatenate([h, s], 1)

    def shown_state(self, carry_next):
        return carry_next[:, self.n_hidden:].copy()

    def carousel(self, params, cache):
        return cache.gate[:, 1]

    def memory_slice(self):
        return slice(self.n_hidden, 2 * self.n_hidden)

    def describe(self):
        return {"forget_bias": self.forget_bias, "peepholes": self.peepholes}

    def kernel(self):
        from .kernels import lstm_kernel
        return lstm_kernel(self)


class GRUCell(GatedCell):
    """Gated recurrent unit (Cho et al. 2014, "Learning phrase representations using RNN
    encoder-decoder for statistical machine translation"), in Cho's form::

        z_t = s(W_z x_t + U_z h_{t-1} + b_z)                     update gate
        r_t = s(W_r x_t + U_r h_{t-1} + b_r)                     reset gate
        g_t = tanh(W_c x_t + U_c (r_t h_{t-1}) + b_c)             candidate
        h_t = z_t h_{t-1} + (1 - z_t) g_t

    The carry is h (like Elman's), so a running model rebuilds it from the shown hidden layer.
    Gate rows in ``W_xg``/``W_hg``/``b_g``: z, r, candidate.
    """

    gate_names = ("update", "reset", "candidate")
    n_gate_rows = 3
    candidate_row = 2
    param_names = ("W_xg", "W_hg", "b_g")

    def __init__(self, n_in, n_hidden, context_init=0.0):
        super().__init__(n_in, n_hidden, context_init)
        self.n_carry = n_hidden

    def shapes(self):
        G, H, I = 3, self.n_hidden, self.n_in
        return {"W_xg": (G * H, I), "W_hg": (G * H, H), "b_g": (G * H,)}

    def init(self, rng, scale, recurrent_radius=None):
        """Gate weights uniform in ±scale/sqrt(I + H + 1), biases 0."""
        return self._init_gates(rng, scale, recurrent_radius)

    def step(self, params, x, carry, d=None):
        H = self.n_hidden
        hp = carry
        ax = self._split(matvec(params["W_xg"], x) + params["b_g"])
        Wh = params["W_hg"]
        ahzr = matvec(Wh[:, :2 * H], hp)
        z = _gate(ax[:, 0] + ahzr[:, :H])
        r = _gate(ax[:, 1] + ahzr[:, H:])
        rh = r * hp
        g = np.tanh(ax[:, 2] + matvec(Wh[:, 2 * H:], rh))
        h = z * hp + (1.0 - z) * g
        return h, h, _GatedStep(x, hp, np.stack([z, r, g], axis=1), h, extra=rh)

    def vjp(self, params, cache, d_carry_next, d_h):
        H = self.n_hidden
        z, r, g = (cache.gate[:, k] for k in range(3))
        hp = cache.h_prev
        Wh = params["W_hg"]
        dh = d_h + d_carry_next
        da_z = dh * (hp - g) * _sig_grad(z)
        da_c = dh * (1.0 - z) * (1.0 - g * g)
        d_rh = rmatvec(Wh[:, 2 * H:], da_c)
        da_r = d_rh * hp * _sig_grad(r)
        da_zr = np.concatenate([da_z, da_r], 1)
        da = np.concatenate([da_zr, da_c], 1)
        dWh = np.empty(Wh.shape)
        dWh[:, :2 * H] = da_zr[:, :, None] * hp[:, None, :]
        dWh[:, 2 * H:] = da_c[:, :, None] * cache.extra[:, None, :]
        grads = {"W_xg": da[:, :, None] * cache.x[:, None, :], "W_hg": dWh, "b_g": da}
        dhp = dh * z + d_rh * r + rmatvec(Wh[:, :2 * H], da_zr)
        return dhp, grads, rmatvec(params["W_xg"], da)

    def _jac(self, params, cache, Wz, Wr, Wc_direct):
        """d h_t / d v when a_z = Wz v, a_r = Wr v and the candidate gets ``Wc_direct`` v besides
        U_c (r h_{t-1})."""
        H = self.n_hidden
        z, r, g = (cache.gate[:, k] for k in range(3))
        hp = cache.h_prev
        Uc = params["W_hg"][:, 2 * H:]
        dr = _sig_grad(r)[:, :, None] * Wr
        dac = Wc_direct + Uc @ (hp[:, :, None] * dr)
        return ((hp - g) * _sig_grad(z))[:, :, None] * Wz + ((1 - z) * (1 - g * g))[:, :, None] * dac

    def jacobian(self, params, cache):
        """d h_t / d h_{t-1} = diag(z) + the paths through z, r and the candidate, (B, H, H)."""
        H = self.n_hidden
        z, r = cache.gate[:, 0], cache.gate[:, 1]
        Wh = params["W_hg"]
        Uc = Wh[:, 2 * H:]
        J = self._jac(params, cache, Wh[:, :H], Wh[:, H:2 * H], Uc * r[:, None, :])
        J[:, np.arange(H), np.arange(H)] += z
        return J

    def input_jacobian(self, params, cache):
        Wx = params["W_xg"]
        H = self.n_hidden
        return self._jac(params, cache, Wx[:, :H], Wx[:, H:2 * H], Wx[:, 2 * H:])

    def advance(self, carry, h, y, s=None):
        return h.copy()

    def kernel(self):
        from .kernels import gru_kernel
        return gru_kernel(self)


def _elman(cfg) -> Cell:
    return ElmanCell(cfg.n_in, cfg.n_hidden, cfg.activation, cfg.context_init)


def _jordan(cfg) -> Cell:
    return JordanCell(cfg.n_in, cfg.n_hidden, Readout(cfg.n_hidden, cfg.n_out, cfg.output), cfg.mu,
                      cfg.teacher_forcing, cfg.activation, cfg.context_init)


def _lstm(cfg) -> Cell:
    return LSTMCell(cfg.n_in, cfg.n_hidden, cfg.forget_bias, cfg.peepholes, cfg.context_init)


def _gru(cfg) -> Cell:
    return GRUCell(cfg.n_in, cfg.n_hidden, cfg.context_init)


#: network type -> cell factory ``make(cfg) -> Cell`` (cfg: a :class:`.bptt.SRNConfig`)
CELLS = {"elman": _elman, "jordan": _jordan, "lstm": _lstm, "gru": _gru}
