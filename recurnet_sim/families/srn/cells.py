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

    def advance(self, carry: np.ndarray, h: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The carry the next step gets from the layers a running model shows (carry, hidden,
        output), so that a perturbation of those layers acts on the next step. *Required*."""
        raise NotImplementedError

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

    def describe(self) -> dict[str, Any]:
        """Extra facts for the model's ``describe()``."""
        return {}


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

    def advance(self, carry, h, y):
        return h.copy()

    def recurrent_matrix(self, params):
        return params["W_ch"]

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

    def advance(self, carry, h, y):
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


def _elman(cfg) -> Cell:
    return ElmanCell(cfg.n_in, cfg.n_hidden, cfg.activation, cfg.context_init)


def _jordan(cfg) -> Cell:
    return JordanCell(cfg.n_in, cfg.n_hidden, Readout(cfg.n_hidden, cfg.n_out, cfg.output), cfg.mu,
                      cfg.teacher_forcing, cfg.activation, cfg.context_init)


#: network type -> cell factory ``make(cfg) -> Cell`` (cfg: a :class:`.bptt.SRNConfig`)
CELLS = {"elman": _elman, "jordan": _jordan}
