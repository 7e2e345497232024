"""Shared core of the simple recurrent networks (Elman 1990, Jordan 1986).

One network step, for a batch of B independent networks (one per seeded trial)::

    a_t = W_xh x_t + W_ch c_t + b_h          hidden pre-activation, (B, H)
    h_t = f(a_t)                             f = tanh | sigmoid | relu | linear
    z_t = W_hy h_t + b_y                     output pre-activation, (B, O)
    y_t = g(z_t)                             g = sigmoid | softmax | linear

and the context units ``c`` are where the two families differ:

* **Elman** (Elman 1990, "Finding structure in time"): ``c_{t+1} = h_t`` — a copy of the hidden
  layer through fixed weights of 1, initialised to 0.5. ``W_ch`` is then the recurrent matrix W_hh.
* **Jordan** (Jordan 1986, "Serial order: a parallel distributed processing approach"): state units
  ``c_{t+1} = mu * c_t + y_t`` (or ``+ d_t``, the target, under teacher forcing); the *plan* is a
  constant part of the input ``x_t``.

Training is backpropagation through time (Werbos 1990; Williams & Peng 1990), in the general
BPTT(h; h') form of Williams & Peng: the sequence is cut into windows of h' steps; after each
window the error of its h' steps is propagated back h >= h' steps (from the context stored at
the start, held constant) and the weights are updated. Full BPTT is h = h' = T; Elman's original
scheme propagates every error one step only (the context is "just another input"). Updates are
SGD with momentum, with optional clipping of the gradient norm (Pascanu, Mikolov & Bengio 2013,
"On the difficulty of training recurrent neural networks").

Arrays carry a leading batch axis everywhere: parameters ``W_hh`` are ``(B, H, H)``, sequences
``(B, T, n)``. Trial b draws randomness only from ``rngs[b]``, so a batch of B equals B single runs
with the same seeds. The time loop is Python; everything inside a step and everything that does not
depend on the recurrence (input and output projections, weight gradients) is vectorised over time.
"""
from __future__ import annotations

import math
import os
import pathlib
from dataclasses import dataclass, replace
from typing import Any, Callable, Sequence

import numpy as np

from ...npzio import read_npz, write_npz
from ...errors import SimulationError, TraceFileError
from ...model import Model

ACTIVATIONS = ("tanh", "sigmoid", "relu", "linear")
OUTPUTS = ("sigmoid", "softmax", "linear")
LOSSES = ("cross_entropy", "squared_error")
BPTT_MODES = ("full", "truncated", "elman")
PARAM_NAMES = ("W_xh", "W_ch", "b_h", "W_hy", "b_y")
WEIGHTS_FORMAT = "recurnet_sim.srn.weights/1"


# ======================================================================================
# Configuration
# ======================================================================================
@dataclass(frozen=True)
class SRNConfig:
    """Architecture of a simple recurrent network (no learned values).

    Parameters
    ----------
    kind : {"elman", "jordan"}
    n_in : int
        External input units (for Jordan: the plan units are part of them).
    n_hidden : int
    n_out : int
    activation : {"tanh", "sigmoid", "relu", "linear"}
        Hidden units. ``linear`` is for the gradient-flow theory (a linear network).
    output : {"sigmoid", "softmax", "linear"}
    loss : {"cross_entropy", "squared_error"} or None
        None picks the matching loss: cross-entropy for sigmoid/softmax, squared error for linear
        (then dL/dz = y - d). Sigmoid/softmax with squared error is also allowed (Elman 1990 used
        squared error); linear with cross-entropy is not.
    mu : float
        Self-decay of the Jordan state units (ignored for Elman).
    teacher_forcing : bool
        Jordan only: feed the target ``d_t`` rather than the output ``y_t`` into the state units.
    context_init : float
        Initial value of the context units (Elman 1990: 0.5).
    """

    kind: str = "elman"
    n_in: int = 1
    n_hidden: int = 2
    n_out: int = 1
    activation: str = "tanh"
    output: str = "sigmoid"
    loss: str | None = None
    mu: float = 0.5
    teacher_forcing: bool = False
    context_init: float = 0.5

    def __post_init__(self):
        if self.kind not in ("elman", "jordan"):
            raise ValueError(f"kind must be 'elman' or 'jordan', got {self.kind!r}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.loss is not None and self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.output == "linear" and self.loss_kind == "cross_entropy":
            raise ValueError("a linear output needs the squared-error loss")
        if min(self.n_in, self.n_hidden, self.n_out) < 1:
            raise ValueError("layer sizes must be >= 1")

    @property
    def n_ctx(self) -> int:
        """Context units: a copy of the hidden layer (Elman) or one state unit per output (Jordan)."""
        return self.n_hidden if self.kind == "elman" else self.n_out

    @property
    def loss_kind(self) -> str:
        if self.loss is not None:
            return self.loss
        return "squared_error" if self.output == "linear" else "cross_entropy"

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-trial shapes of the parameters (without the batch axis)."""
        H, I, C, O = self.n_hidden, self.n_in, self.n_ctx, self.n_out
        return {"W_xh": (H, I), "W_ch": (H, C), "b_h": (H,), "W_hy": (O, H), "b_y": (O,)}


@dataclass(frozen=True)
class TrainConfig:
    """How to train (see the module docstring for BPTT(h; h')).

    Parameters
    ----------
    lr : float
        Learning rate of SGD.
    momentum : float
        Momentum coefficient: ``v <- momentum * v - lr * g``, ``theta <- theta + v``.
    bptt : {"full", "truncated", "elman"}
        ``full``: one update per pass, error propagated through the whole sequence.
        ``truncated``: windows of ``update_every`` steps, errors propagated ``truncation`` steps.
        ``elman``: Elman's original scheme, errors propagated one step (context = extra input).
    truncation : int
        h, steps of backpropagation for ``truncated``.
    update_every : int or None
        h', steps between updates; default h for ``truncated``, 1 for ``elman``.
    clip : float or None
        Rescale the gradient to this norm when it is larger (Pascanu et al. 2013).
    """

    lr: float = 0.1
    momentum: float = 0.9
    bptt: str = "truncated"
    truncation: int = 8
    update_every: int | None = None
    clip: float | None = None

    def __post_init__(self):
        if self.bptt not in BPTT_MODES:
            raise ValueError(f"bptt must be one of {BPTT_MODES}, got {self.bptt!r}")
        if self.truncation < 1:
            raise ValueError("truncation must be >= 1")
        if self.update_every is not None and self.update_every < 1:
            raise ValueError("update_every must be >= 1")
        if self.bptt == "truncated" and self.update_every is not None and self.update_every > self.truncation:
            raise ValueError("update_every (h') must not exceed truncation (h)")

    def windows(self, T: int) -> tuple[int, int, bool]:
        """(h, h', through_context) for a sequence of T steps."""
        if self.bptt == "full":
            return T, T, True
        if self.bptt == "elman":
            hp = self.update_every or 1
            return hp, hp, False
        h = self.truncation
        return h, (self.update_every or h), True


# ======================================================================================
# Activations and losses
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


def loss_terms(cfg: SRNConfig, z: np.ndarray, y: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Loss per step and its gradient with respect to the output pre-activation.

    Parameters
    ----------
    z, y, d : ndarray, shape (B, T, O)
        Pre-activation, output and target.

    Returns
    -------
    loss : ndarray, shape (B, T)
        Summed over output units. Cross-entropy for sigmoid: sum of binary cross-entropies; for
        softmax: categorical. Squared error: 0.5 * ||y - d||^2.
    dz : ndarray, shape (B, T, O)
        dloss/dz. For the matching pairs this is exactly y - d.
    """
    if cfg.loss_kind == "cross_entropy":
        if cfg.output == "sigmoid":
            # softplus(z) - d z == -(d log y + (1 - d) log(1 - y)), stable for large |z|
            loss = (np.logaddexp(0.0, z) - d * z).sum(-1)
        else:
            zmax = z.max(-1, keepdims=True)
            lse = (zmax + np.log(np.exp(z - zmax).sum(-1, keepdims=True)))[..., 0]
            loss = lse * d.sum(-1) - (d * z).sum(-1)
        return loss, y - d
    r = y - d
    return 0.5 * (r * r).sum(-1), output_vjp(cfg.output, y, r)


# ======================================================================================
# Parameters
# ======================================================================================
def init_params(
    cfg: SRNConfig,
    rngs: Sequence[np.random.Generator],
    scale: float = 1.0,
    recurrent_radius: float | None = None,
) -> dict[str, np.ndarray]:
    """Random initial weights, one independent draw per trial.

    Weights are uniform in ±scale/sqrt(fan_in) (fan_in of the receiving unit), biases 0. Trial b
    draws only from ``rngs[b]``, in a fixed order, so the batch equals B single runs.

    Parameters
    ----------
    recurrent_radius : float, optional
        Rescale ``W_ch`` so its spectral radius is this value (Elman only: ``W_ch`` is W_hh). Used
        to put a network on either side of the exploding/vanishing boundary (radius 1).

    Returns
    -------
    dict of ndarray
        ``W_xh`` (B, H, I), ``W_ch`` (B, H, C), ``b_h`` (B, H), ``W_hy`` (B, O, H), ``b_y`` (B, O).
    """
    H, I, C, O = cfg.n_hidden, cfg.n_in, cfg.n_ctx, cfg.n_out
    out: dict[str, list] = {k: [] for k in PARAM_NAMES}
    for rng in rngs:
        r_h = scale / math.sqrt(I + C + 1)
        r_y = scale / math.sqrt(H + 1)
        out["W_xh"].append(rng.uniform(-r_h, r_h, (H, I)))
        w_ch = rng.uniform(-r_h, r_h, (H, C))
        if recurrent_radius is not None:
            if cfg.kind != "elman":
                raise ValueError("recurrent_radius applies to Elman networks (square W_hh)")
            rho = float(np.max(np.abs(np.linalg.eigvals(w_ch))))
            w_ch = w_ch * (recurrent_radius / rho) if rho > 0 else w_ch
        out["W_ch"].append(w_ch)
        out["b_h"].append(np.zeros(H))
        out["W_hy"].append(rng.uniform(-r_y, r_y, (O, H)))
        out["b_y"].append(np.zeros(O))
    return {k: np.stack(v).astype(float) for k, v in out.items()}


def params_norm(g: dict[str, np.ndarray]) -> np.ndarray:
    """Euclidean norm over all parameters of each trial, shape (B,)."""
    return np.sqrt(sum((v.reshape(v.shape[0], -1) ** 2).sum(1) for v in g.values()))


def clip_by_norm(g: dict[str, np.ndarray], max_norm: float | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Rescale each trial's gradient to norm ``max_norm`` if it is larger (Pascanu et al. 2013).

    Rescaling keeps the direction, unlike clipping each element, which is the point of the paper.

    Returns
    -------
    clipped : dict of ndarray
    norm : ndarray, shape (B,)
        The norm before clipping.
    """
    norm = params_norm(g)
    if max_norm is None:
        return g, norm
    factor = np.where(norm > max_norm, max_norm / np.maximum(norm, 1e-300), 1.0)
    return {k: v * factor.reshape((-1,) + (1,) * (v.ndim - 1)) for k, v in g.items()}, norm


def sgd_momentum(
    params: dict[str, np.ndarray],
    velocity: dict[str, np.ndarray],
    grads: dict[str, np.ndarray],
    lr: float,
    momentum: float,
    active: np.ndarray | None = None,
) -> None:
    """In-place SGD with momentum (classical, Rumelhart, Hinton & Williams 1986):
    ``v <- momentum v - lr g``; ``theta <- theta + v``. Trials with ``active[b]`` False are frozen."""
    for k in PARAM_NAMES:
        v = momentum * velocity[k] - lr * grads[k]
        if active is not None and not np.all(active):
            m = active.reshape((-1,) + (1,) * (v.ndim - 1))
            v = np.where(m, v, velocity[k])
            params[k] += np.where(m, v, 0.0)
        else:
            params[k] += v
        velocity[k][...] = v


# ======================================================================================
# Forward and backward
# ======================================================================================
@dataclass
class Cache:
    """What the backward pass needs from the forward pass (all (B, T, n))."""

    X: np.ndarray
    A: np.ndarray  # hidden pre-activations
    H: np.ndarray  # hidden activations
    C: np.ndarray  # context entering each step
    Z: np.ndarray  # output pre-activations
    Y: np.ndarray  # outputs
    reset: np.ndarray | None
    c_next: np.ndarray  # (B, C) context entering the step after the last


def _matvec(W: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched W @ v: (B, m, n), (B, n) -> (B, m). matmul is faster than einsum for small sizes."""
    return (W @ v[:, :, None])[:, :, 0]


def _rmatvec(W: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Batched W^T @ v: (B, m, n), (B, m) -> (B, n)."""
    return (v[:, None, :] @ W)[:, 0, :]


def forward(
    cfg: SRNConfig,
    p: dict[str, np.ndarray],
    X: np.ndarray,
    c0: np.ndarray,
    D: np.ndarray | None = None,
    reset: np.ndarray | None = None,
) -> Cache:
    """Run the network over a sequence.

    Parameters
    ----------
    X : ndarray, shape (B, T, I)
    c0 : ndarray, shape (B, C)
        Context entering step 0.
    D : ndarray, shape (B, T, O), optional
        Targets; needed for Jordan teacher forcing.
    reset : ndarray of bool, shape (B, T), optional
        Where true, the context entering that step is reset to ``cfg.context_init`` (episode
        starts: a new letter string, a new production of the plan).
    """
    B, T, _ = X.shape
    Hn, Cn, On = cfg.n_hidden, cfg.n_ctx, cfg.n_out
    f = cfg.activation
    # The input projection does not depend on the recurrence: do it for all steps at once.
    AX = np.einsum("bti,bhi->bth", X, p["W_xh"]) + p["b_h"][:, None, :]
    A = np.empty((B, T, Hn))
    Hs = np.empty((B, T, Hn))
    Cs = np.empty((B, T, Cn))
    W_ch = p["W_ch"]
    c = np.array(c0, dtype=float, copy=True)
    init = cfg.context_init
    has_reset = reset is not None and bool(np.any(reset))
    if cfg.kind == "elman":
        for t in range(T):
            if has_reset:
                c = np.where(reset[:, t, None], init, c)
            Cs[:, t] = c
            a = AX[:, t] + _matvec(W_ch, c)
            h = activate(f, a)
            A[:, t] = a
            Hs[:, t] = h
            c = h  # Elman: the context is a copy of the hidden layer (fixed weight 1)
        Z = np.einsum("bth,boh->bto", Hs, p["W_hy"]) + p["b_y"][:, None, :]
        Y = output_fn(cfg.output, Z)
    elif cfg.teacher_forcing:
        if D is None:
            raise ValueError("teacher forcing needs the targets D")
        mu = cfg.mu
        for t in range(T):
            if has_reset:
                c = np.where(reset[:, t, None], init, c)
            Cs[:, t] = c
            c = mu * c + D[:, t]  # Jordan state units fed by the target (teacher forcing)
        A[...] = AX + np.einsum("btc,bhc->bth", Cs, W_ch)
        Hs[...] = activate(f, A)
        Z = np.einsum("bth,boh->bto", Hs, p["W_hy"]) + p["b_y"][:, None, :]
        Y = output_fn(cfg.output, Z)
    else:
        mu = cfg.mu
        Z = np.empty((B, T, On))
        Y = np.empty((B, T, On))
        W_hy, b_y = p["W_hy"], p["b_y"]
        for t in range(T):
            if has_reset:
                c = np.where(reset[:, t, None], init, c)
            Cs[:, t] = c
            a = AX[:, t] + _matvec(W_ch, c)
            h = activate(f, a)
            z = _matvec(W_hy, h) + b_y
            y = output_fn(cfg.output, z)
            A[:, t], Hs[:, t], Z[:, t], Y[:, t] = a, h, z, y
            c = mu * c + y  # Jordan 1986: s_{t+1} = mu s_t + y_t
    return Cache(X=X, A=A, H=Hs, C=Cs, Z=Z, Y=Y, reset=reset if has_reset else None, c_next=c)


def backward(
    cfg: SRNConfig,
    p: dict[str, np.ndarray],
    cache: Cache,
    dZ: np.ndarray,
    through_context: bool = True,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Backpropagation through time (Werbos 1990; Williams & Peng 1990).

    Parameters
    ----------
    dZ : ndarray, shape (B, T, O)
        Gradient of the objective with respect to the output pre-activations, from the loss.
    through_context : bool
        False gives Elman's one-step scheme: the context is treated as an ordinary input, so no
        error flows into earlier steps.

    Returns
    -------
    grads : dict of ndarray
        Same keys and shapes as the parameters.
    dc0 : ndarray, shape (B, C)
        Gradient with respect to the initial context (zero where it was reset).
    """
    B, T, _ = cache.X.shape
    f = cfg.activation
    W_ch, W_hy = p["W_ch"], p["W_hy"]
    fp = activation_grad(f, cache.A, cache.H)
    reset = cache.reset
    dA = np.empty_like(cache.A)
    dc = np.zeros((B, cfg.n_ctx))
    jordan_loop = cfg.kind == "jordan" and not cfg.teacher_forcing and through_context
    if cfg.kind == "elman":
        dHd = np.einsum("bto,boh->bth", dZ, W_hy)
        if through_context:
            for t in range(T - 1, -1, -1):
                da = (dHd[:, t] + dc) * fp[:, t]  # dc: dL/dc_{t+1} = dL/dh_t through the copy
                dA[:, t] = da
                dc = _rmatvec(W_ch, da)
                if reset is not None:
                    dc = np.where(reset[:, t, None], 0.0, dc)
        else:
            dA[...] = dHd * fp
            dc = np.zeros((B, cfg.n_ctx))
        dZtot = dZ
    elif jordan_loop:
        mu = cfg.mu
        dZtot = np.empty_like(dZ)
        for t in range(T - 1, -1, -1):
            # y_t feeds the loss and the next state unit c_{t+1} = mu c_t + y_t
            dz = dZ[:, t] + output_vjp(cfg.output, cache.Y[:, t], dc)
            dZtot[:, t] = dz
            da = _rmatvec(W_hy, dz) * fp[:, t]
            dA[:, t] = da
            dc = mu * dc + _rmatvec(W_ch, da)
            if reset is not None:
                dc = np.where(reset[:, t, None], 0.0, dc)
    else:
        # Teacher forcing (or the one-step scheme): the state units do not depend on the weights.
        dZtot = dZ
        dA[...] = np.einsum("bto,boh->bth", dZ, W_hy) * fp
        if cfg.kind == "jordan" and through_context:
            dc = (_rmatvec_seq(W_ch, dA, cfg.mu, reset))
        else:
            dc = np.zeros((B, cfg.n_ctx))
    grads = {
        "W_xh": np.einsum("bth,bti->bhi", dA, cache.X),
        "W_ch": np.einsum("bth,btc->bhc", dA, cache.C),
        "b_h": dA.sum(1),
        "W_hy": np.einsum("bto,bth->boh", dZtot, cache.H),
        "b_y": dZtot.sum(1),
    }
    return grads, dc


def _rmatvec_seq(W_ch, dA, mu, reset):
    """dL/dc_0 for teacher-forced Jordan: the state is a linear filter of constants plus c_0."""
    B, T, _ = dA.shape
    dc = np.zeros((B, W_ch.shape[2]))
    for t in range(T - 1, -1, -1):
        dc = mu * dc + _rmatvec(W_ch, dA[:, t])
        if reset is not None:
            dc = np.where(reset[:, t, None], 0.0, dc)
    return dc


def objective(
    cfg: SRNConfig, cache: Cache, D: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean loss over the steps of a window.

    ``L_b = sum_t w_bt l_bt / sum_t w_bt`` — a mean, so the learning rate means the same for any
    window length. ``weights`` (B, T) masks steps without a target and, in BPTT(h; h'), the h - h'
    steps before the window.

    Returns
    -------
    L : ndarray, shape (B,)
    loss : ndarray, shape (B, T)
        Per-step loss (unweighted).
    dZ : ndarray, shape (B, T, O)
        dL/dz.
    """
    loss, dz = loss_terms(cfg, cache.Z, cache.Y, D)
    w = np.ones(loss.shape) if weights is None else weights
    norm = np.maximum(w.sum(1), 1e-12)
    L = (w * loss).sum(1) / norm
    return L, loss, dz * (w / norm[:, None])[:, :, None]


def loss_and_grad(
    cfg: SRNConfig,
    p: dict[str, np.ndarray],
    X: np.ndarray,
    D: np.ndarray,
    c0: np.ndarray,
    weights: np.ndarray | None = None,
    reset: np.ndarray | None = None,
    through_context: bool = True,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Objective (B,) and its BPTT gradient over one sequence, from context ``c0`` held constant."""
    cache = forward(cfg, p, X, c0, D, reset)
    L, _, dZ = objective(cfg, cache, D, weights)
    grads, _ = backward(cfg, p, cache, dZ, through_context)
    return L, grads


# ======================================================================================
# Training
# ======================================================================================
@dataclass
class EpochResult:
    """What one training epoch measured.

    Attributes
    ----------
    loss : ndarray, shape (B,)
        Mask-weighted mean loss over the epoch (each step measured with the weights of its window,
        before that window's update).
    loss_per_step : ndarray, shape (B, T)
    hidden : ndarray, shape (B, T, H)
    outputs : ndarray, shape (B, T, O)
    context : ndarray, shape (B, T, C)
        Context entering each step.
    grad_norm : ndarray, shape (B,)
        Mean gradient norm (before clipping) over the epoch's updates.
    grad_norm_max : ndarray, shape (B,)
    update_norm_max : ndarray, shape (B,)
        Largest parameter change of one update.
    n_updates : int
    """

    loss: np.ndarray
    loss_per_step: np.ndarray
    hidden: np.ndarray
    outputs: np.ndarray
    context: np.ndarray
    grad_norm: np.ndarray
    grad_norm_max: np.ndarray
    update_norm_max: np.ndarray
    n_updates: int


def _act_into(kind: str) -> Callable[[np.ndarray, np.ndarray], None]:
    """``fn(a, out)``: write f(a) into ``out`` (a view), without a temporary where numpy allows."""
    if kind == "tanh":
        return lambda a, out: np.tanh(a, out=out)
    if kind == "relu":
        return lambda a, out: np.maximum(a, 0.0, out=out)
    if kind == "linear":
        return lambda a, out: np.copyto(out, a)

    def _sig(a, out):
        out[...] = sigmoid(a)
    return _sig


def _row_sqnorm(g: np.ndarray) -> np.ndarray:
    """Squared norm of each row of (B, P): ``vecdot`` (numpy >= 2) is a third of einsum's overhead."""
    return np.vecdot(g, g) if _HAS_VECDOT else np.einsum("bp,bp->b", g, g)


_HAS_VECDOT = hasattr(np, "vecdot")


class _FlatParams:
    """All parameters of a trial in one row of a (B, P) array, as two augmented matrices.

    ``W_in = [W_xh | b_h | W_ch]`` (H, I + 1 + C) acts on the step input ``u_t = [x_t, 1, c_t]``, and
    ``W_out = [W_hy | b_y]`` (O, H + 1) on ``[h_t, 1]``. One matmul per step then gives the whole
    pre-activation, one matmul per window each weight gradient, and clipping and the SGD update are a
    few operations on one array instead of five.
    """

    def __init__(self, cfg: SRNConfig, B: int):
        I, H, C, O = cfg.n_in, cfg.n_hidden, cfg.n_ctx, cfg.n_out
        self.B, self.I, self.H, self.C, self.O = B, I, H, C, O
        self.K = I + 1 + C
        self.n_in = H * self.K
        self.P = self.n_in + O * (H + 1)

    def views(self, flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """(W_in (B, H, K), W_out (B, O, H+1), the five named parameters) as views of ``flat``."""
        B, I, H, O = self.B, self.I, self.H, self.O
        w_in = flat[:, : self.n_in].reshape(B, H, self.K)
        w_out = flat[:, self.n_in:].reshape(B, O, H + 1)
        named = {"W_xh": w_in[:, :, :I], "b_h": w_in[:, :, I], "W_ch": w_in[:, :, I + 1:],
                 "W_hy": w_out[:, :, :H], "b_y": w_out[:, :, H]}
        return w_in, w_out, named

    def pack(self, d: dict[str, np.ndarray]) -> np.ndarray:
        flat = np.empty((self.B, self.P))
        named = self.views(flat)[2]
        for k in PARAM_NAMES:
            named[k][...] = d[k]
        return flat

    def unpack(self, flat: np.ndarray, d: dict[str, np.ndarray]) -> None:
        """Copy back into the caller's arrays, in place (their identity is kept)."""
        named = self.views(flat)[2]
        for k in PARAM_NAMES:
            d[k][...] = named[k]


def train_epoch(
    cfg: SRNConfig,
    tcfg: TrainConfig,
    params: dict[str, np.ndarray],
    velocity: dict[str, np.ndarray],
    X: np.ndarray,
    D: np.ndarray,
    mask: np.ndarray | None = None,
    reset: np.ndarray | None = None,
    c0: np.ndarray | None = None,
    active: np.ndarray | None = None,
) -> EpochResult:
    """One pass over the sequence with BPTT(h; h') updates (Williams & Peng 1990), in place.

    The pass starts from ``c0`` (default: every context unit at ``cfg.context_init``). Windows of
    h' steps end at h', 2h', ..., T; for each, the network is re-run from the context stored h
    steps before the window's end (held constant: the truncation), the error of the h' window
    steps is propagated back through those h steps, and SGD with momentum updates the weights.

    This is :func:`forward`, :func:`objective`, :func:`backward`, :func:`clip_by_norm` and
    :func:`sgd_momentum` per window (tests/test_srn_gradients.py checks it against exactly that
    composition), fused for speed: the parameters live in one flat (B, P) array for the epoch
    (see ``_FlatParams``), the step inputs ``[x_t, 1, c_t]`` and the records are preallocated once
    per epoch, an Elman step is one matmul and one activation written in place, the output layer,
    loss and weight gradients are one matmul each per window, and teacher-forced Jordan windows
    have no step loop at all. Results equal the composition up to floating-point rounding.

    Parameters
    ----------
    X : ndarray, shape (B, T, I)
    D : ndarray, shape (B, T, O)
    mask : ndarray, shape (B, T), optional
        Loss weight per step (0 = no target there).
    reset : ndarray of bool, shape (B, T), optional
    active : ndarray of bool, shape (B,), optional
        Trials not active keep their weights.
    """
    B, T, I = X.shape
    h, hp, through = tcfg.windows(T)
    H, C, O = cfg.n_hidden, cfg.n_ctx, cfg.n_out
    f = cfg.activation
    if c0 is None:
        c0 = np.full((B, C), cfg.context_init)
    mask = np.ones((B, T)) if mask is None else np.asarray(mask, dtype=float)
    ones_mask = bool(np.all(mask == 1.0))  # then a window's weights are 1/h' (the same float)
    if reset is not None and np.any(reset):
        reset = np.asarray(reset, dtype=bool)
        reset_any = reset.any(0).tolist()  # per step: does any trial reset here (a Python bool)
    else:
        reset, reset_any = None, None
    init = cfg.context_init
    elman = cfg.kind == "elman"
    forced = cfg.kind == "jordan" and cfg.teacher_forcing
    generic = not elman and not forced  # Jordan fed by its own outputs: forward/backward as they are

    fp_ = _FlatParams(cfg, B)
    K = fp_.K
    theta = fp_.pack(params)
    vel = fp_.pack(velocity)
    grad = np.zeros_like(theta)
    W_in, W_out, named = fp_.views(theta)
    g_in, g_out, _ = fp_.views(grad)
    W_ch, W_hy = named["W_ch"], named["W_hy"]
    mom, lr, clip = tcfg.momentum, tcfg.lr, tcfg.clip
    all_active = active is None or bool(np.all(active))
    act_mask = None if all_active else np.asarray(active, bool)[:, None]

    # U[:, t] = [x_t, 1, c_t], the input of step t; U[:, T, ctx] is the context after the last step.
    U = np.empty((B, T + 1, K))
    U[:, :T, :I] = X
    U[:, T, :I] = 0.0
    U[:, :, I] = 1.0
    ctx = U[:, :, I + 1:]  # the context entering each step, from the latest forward pass
    ctx[:, 0] = c0
    if forced:
        # Teacher forcing: the state units follow the targets, whatever the weights (Jordan 1986).
        mu = cfg.mu
        c = np.array(c0, dtype=float)
        for t in range(T):
            if reset_any is not None and reset_any[t]:
                c = np.where(reset[:, t, None], init, c)
            ctx[:, t] = c
            c = mu * c + D[:, t]
        ctx[:, T] = c
    # Records: hidden (with a constant-1 column, so [h, 1] @ W_out^T is the output layer), outputs, loss.
    hid1 = np.empty((B, T, H + 1))
    hid1[:, :, H] = 1.0
    outs = np.empty((B, T, O))
    loss_ps = np.zeros((B, T))
    scratch = None
    if h > hp:
        # BPTT(h; h') re-runs h - h' steps already recorded by the previous window: work apart.
        scratch = np.empty((B, min(h, T), H + 1))
        scratch[:, :, H] = 1.0
    act = _act_into(f)
    hsl = slice(I + 1, None)

    gsum = np.zeros(B)
    gmax = np.zeros(B)
    umax = np.zeros(B)
    n_up = 0
    end = 0
    while end < T:
        end = min(end + hp, T)
        lo = max(0, end - hp)
        start = max(0, end - h)
        n, off = end - start, lo - start
        hw1 = hid1[:, start:end] if off == 0 else scratch[:, :n]  # [h_t, 1] of the window's steps
        hw = hw1[:, :, :H]
        Uw = U[:, start:end]
        Dw = D[:, start:end]
        if generic:
            cache = forward(cfg, named, X[:, start:end], ctx[:, start], Dw,
                            None if reset is None else reset[:, start:end])
            ctx[:, start:end] = cache.C
            ctx[:, end] = cache.c_next
            hw[...] = cache.H
            Zw, Yw = cache.Z, cache.Y
        else:
            if elman:
                Wt = W_in.transpose(0, 2, 1)  # (B, K, H): u_t @ W_in^T is the pre-activation
                if reset_any is None or not any(reset_any[start:end]):
                    # The step: one matmul and the activation, written straight into the next
                    # step's context (Elman: c_{t+1} = h_t through fixed weights 1).
                    if B == 1:  # vector-matrix products: fewer numpy calls per step
                        U0, Wt0 = U[0], Wt[0]
                        for t in range(start, end):
                            act(U0[t] @ Wt0, U0[t + 1, hsl])
                    else:
                        for t in range(start, end):
                            act(U[:, t:t + 1] @ Wt, U[:, t + 1:t + 2, hsl])
                    hw[...] = ctx[:, start + 1:end + 1]
                else:
                    for t in range(start, end):
                        if reset_any[t]:
                            ctx[:, t] = np.where(reset[:, t, None], init, ctx[:, t])
                        act(U[:, t:t + 1] @ Wt, hw[:, t - start:t - start + 1])
                        ctx[:, t + 1] = hw[:, t - start]
            else:
                act(Uw @ W_in.transpose(0, 2, 1), hw)  # contexts known: all steps at once
            Zw = hw1 @ W_out.transpose(0, 2, 1)
            Yw = output_fn(cfg.output, Zw)
        loss, dz = loss_terms(cfg, Zw, Yw, Dw)
        outs[:, lo:end] = Yw[:, off:]
        loss_ps[:, lo:end] = loss[:, off:]
        if off:
            hid1[:, lo:end, :H] = hw[:, off:]
        if ones_mask:
            scale = 1.0 / (end - lo)
        else:
            wm = mask[:, lo:end]
            if not wm.any():
                continue
            scale = (wm / np.maximum(wm.sum(1), 1e-12)[:, None])[:, :, None]
        if off:
            dZ = np.zeros_like(dz)  # only the window's own steps inject error
            dZ[:, off:] = dz[:, off:] * scale
        else:
            dZ = dz * scale
        if generic:
            g, _ = backward(cfg, named, cache, dZ, through)
            for k, v in fp_.views(grad)[2].items():
                v[...] = g[k]
        else:
            dA = dZ @ W_hy  # (B, n, H): error reaching the hidden units from the outputs
            fpw = activation_grad(f, hw, hw)  # f' from h (relu: h > 0 exactly where a > 0)
            if elman and through:
                # da_t = f'_t (e_t + W_ch^T da_{t+1}), in place in dA; none flows back from a reset
                Wc = np.ascontiguousarray(W_ch)
                d = dA[:, n - 1:n]
                d *= fpw[:, n - 1:n]
                if B == 1 and (reset_any is None or not any(reset_any[start + 1:end])):
                    dA0, fp0, Wc0 = dA[0], fpw[0], Wc[0]  # vector-matrix products
                    d = dA0[n - 1]
                    for i in range(n - 2, -1, -1):
                        dc = d @ Wc0
                        d = dA0[i]
                        d += dc
                        d *= fp0[i]
                else:
                    for i in range(n - 2, -1, -1):
                        dc = d @ Wc
                        if reset_any is not None and reset_any[start + i + 1]:
                            dc = np.where(reset[:, start + i + 1, None, None], 0.0, dc)
                        d = dA[:, i:i + 1]
                        d += dc
                        d *= fpw[:, i:i + 1]
            else:
                # Elman's one-step scheme, or teacher forcing: the context does not depend on the weights
                dA *= fpw
            np.matmul(dA.transpose(0, 2, 1), Uw, out=g_in)
            np.matmul(dZ.transpose(0, 2, 1), hw1, out=g_out)
        # Clip the gradient norm (Pascanu et al. 2013), then SGD with momentum, on the flat arrays.
        gn = np.sqrt(_row_sqnorm(grad))
        if clip is not None and np.any(gn > clip):
            grad *= np.where(gn > clip, clip / np.maximum(gn, 1e-300), 1.0)[:, None]
        if all_active:
            vel *= mom
            vel -= lr * grad
            theta += vel
            un = np.sqrt(_row_sqnorm(vel))
        else:
            v = np.where(act_mask, mom * vel - lr * grad, vel)
            step = np.where(act_mask, v, 0.0)
            theta += step
            vel[...] = v
            un = np.sqrt(_row_sqnorm(step))
        gsum += gn
        np.maximum(gmax, gn, out=gmax)
        np.maximum(umax, un, out=umax)
        n_up += 1
    fp_.unpack(theta, params)
    fp_.unpack(vel, velocity)
    epoch_loss = (mask * loss_ps).sum(1) / np.maximum(mask.sum(1), 1e-12)
    return EpochResult(
        loss=epoch_loss,
        loss_per_step=loss_ps,
        hidden=hid1[:, :, :H],  # views of arrays made for this epoch: no copies of (B, T, n)
        outputs=outs,
        context=ctx[:, :T],
        grad_norm=gsum / max(n_up, 1),
        grad_norm_max=gmax,
        update_norm_max=umax,
        n_updates=n_up,
    )


# ======================================================================================
# Weights files
# ======================================================================================
def save_weights(path: str | os.PathLike, cfg: SRNConfig, params: dict[str, np.ndarray], **meta: Any) -> pathlib.Path:
    """Save trained weights (all trials) and the architecture to a ``.npz`` file.

    Only plain arrays are written (no pickles), so :func:`load_weights` can read the file with
    ``allow_pickle=False``. ``meta`` holds extra scalars or strings (e.g. ``task="temporal_xor"``).
    """
    path = pathlib.Path(path)
    if path.suffix != ".npz":
        path = path.with_suffix(".npz")
    arrays = {k: np.asarray(params[k], dtype=float) for k in PARAM_NAMES}
    for k in ("kind", "activation", "output"):
        arrays[f"cfg_{k}"] = np.array(getattr(cfg, k))
    arrays["cfg_loss"] = np.array(cfg.loss or "")
    arrays["cfg_mu"] = np.array(float(cfg.mu))
    arrays["cfg_teacher_forcing"] = np.array(bool(cfg.teacher_forcing))
    arrays["cfg_context_init"] = np.array(float(cfg.context_init))
    for k, v in meta.items():
        arrays[f"meta_{k}"] = np.array(v)
    return write_npz(path, arrays, marker=WEIGHTS_FORMAT)


def load_weights(path: str | os.PathLike) -> tuple[SRNConfig, dict[str, np.ndarray], dict[str, Any]]:
    """Read a weights file written by :func:`save_weights`.

    Returns
    -------
    cfg : SRNConfig
    params : dict of ndarray, each with a leading batch axis
    meta : dict

    Raises
    ------
    TraceFileError
        If the file is missing, truncated, not an ``.npz``, not a recurnet_sim weights file, or its
        arrays are inconsistent.
    """
    path = pathlib.Path(path)
    name = str(path)
    data = read_npz(path, "weights", WEIGHTS_FORMAT, required=PARAM_NAMES)
    try:
        W_xh, W_hy = data["W_xh"], data["W_hy"]
        B, H, I = W_xh.shape
        O = W_hy.shape[1]
        loss = str(data["cfg_loss"]) or None
        cfg = SRNConfig(
            kind=str(data["cfg_kind"]),
            n_in=I,
            n_hidden=H,
            n_out=O,
            activation=str(data["cfg_activation"]),
            output=str(data["cfg_output"]),
            loss=loss,
            mu=float(data["cfg_mu"]),
            teacher_forcing=bool(data["cfg_teacher_forcing"]),
            context_init=float(data["cfg_context_init"]),
        )
        params = {k: np.asarray(data[k], dtype=float) for k in PARAM_NAMES}
        for k, shp in cfg.shapes.items():
            if params[k].shape != (B,) + shp:
                raise ValueError(f"{k} has shape {params[k].shape}, expected {(B,) + shp}")
        if not all(np.all(np.isfinite(v)) for v in params.values()):
            raise ValueError("weights contain NaN or infinity")
    except (KeyError, ValueError, TypeError) as e:
        raise TraceFileError(f"{name}: inconsistent weights file: {e}") from None
    meta = {k[5:]: (v.item() if isinstance(v, np.ndarray) else v) for k, v in data.items() if k.startswith("meta_")}
    return cfg, params, meta


def save_model(path: str | os.PathLike, model: "SRNModel", **meta: Any) -> pathlib.Path:
    """Save a model's current weights (the families' ``save_weights(path, model)``; models do no I/O)."""
    return save_weights(path, model.cfg, model.params_, task=getattr(model.task, "name", ""), **meta)


#: Recorded every tick whatever the scenario says: the loss at every time step of the last epoch
#: (train mode) and the gradient norm, as the issue on gradient flow asks of the engine.
DEFAULT_RECORD_ATTRIBUTES = ("loss_per_step_", "grad_norm_")


# ======================================================================================
# The engine-facing model
# ======================================================================================
MODES = ("train", "run", "free")
FREE_INPUTS = ("output", "argmax", "fixed")


class SRNModel(Model):
    """A batch of simple recurrent networks behind the engine protocol.

    ``state`` (batch, n_units) is the concatenation of the layers ``input``, ``context``,
    ``hidden``, ``output`` (see ``layers``) at the current tick. ``energy()`` is a loss.

    Modes (attribute ``mode``):

    ``"train"``
        One tick = one training epoch over the task sequence (:func:`train_epoch`). ``energy()``
        is the epoch's mean loss; ``loss_per_step_`` (B, T), ``hidden_trace_`` (B, T, H),
        ``output_trace_`` (B, T, O), ``grad_norm_`` (B,) describe the last epoch. ``step``
        returns the number of parameters that changed by more than ``tol`` during the epoch, so
        "no change" (a fixed point of learning) reads as 0 like a fixed point of the dynamics.
    ``"run"``
        One tick = one time step of the current network on trial b's task sequence (wrapping
        around). ``energy()`` is the loss of that step.
    ``"free"``
        One tick = one time step with the input taken from the network's own output
        (``free_input="output"``: y_{t} itself; ``"argmax"``: one-hot of the largest output) or
        held fixed (``"fixed"``). ``energy()`` is 0 (no target).

    In "run"/"free", ``step`` returns the number of hidden units whose activation changed by more
    than ``tol``: 0 means a fixed point. The dynamics are deterministic; the cycle detector sees the
    hidden and context values rounded to ``round_decimals`` decimals, so that a
    numerically converged cycle repeats exactly for the engine's cycle detection (``state_keys``;
    the dynamics themselves are not rounded).

    Perturbations: ``set_state``/``set_units`` write the layers directly (writing hidden units
    changes what the context copies at the next step); ``add_noise`` adds Gaussian noise to the
    hidden units; ``flip`` negates units (meaningful for tanh units). ``snapshot``/``restore`` include the
    weights and momentum, so a reset returns to the initial weights.
    """

    energy_label = "loss"
    unit_values = (-1.0, 1.0)

    def __init__(
        self,
        cfg: SRNConfig,
        params: dict[str, np.ndarray],
        task: Any,
        train_cfg: TrainConfig | None = None,
        mode: str = "train",
        free_input: str = "output",
        tol: float = 1e-6,
        round_decimals: int = 8,
    ):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if self.network_type in ("elman", "jordan") and cfg.kind != self.network_type:
            raise ValueError(f"{type(self).__name__} needs SRNConfig(kind={self.network_type!r})")
        if free_input not in FREE_INPUTS:
            raise ValueError(f"free_input must be one of {FREE_INPUTS}, got {free_input!r}")
        self.cfg = cfg
        self.train_cfg = train_cfg or TrainConfig()
        self.mode = mode
        self.free_input = free_input
        self.tol = float(tol)
        self.round_decimals = int(round_decimals)
        self.task = task
        B = params["W_xh"].shape[0]
        self.params_ = {k: np.array(params[k], dtype=float) for k in PARAM_NAMES}
        self.velocity_ = {k: np.zeros_like(v) for k, v in self.params_.items()}
        I, C, H, O = cfg.n_in, cfg.n_ctx, cfg.n_hidden, cfg.n_out
        self.layers = {
            "input": slice(0, I),
            "context": slice(I, I + C),
            "hidden": slice(I + C, I + C + H),
            "output": slice(I + C + H, I + C + H + O),
        }
        self.state = np.zeros((B, I + C + H + O))
        self.clamped = np.zeros(self.state.shape, dtype=bool)
        self.start()
        self.temperature = 0.0
        self.t_ = 0  # position in the task sequence (run mode)
        self.epoch_ = 0
        self._energy = self.current_loss()  # loss before any training, for the curve's tick 0
        self.loss_history_: list[np.ndarray] = []
        self.loss_per_step_ = np.zeros((B, 0))
        self.hidden_trace_ = np.zeros((B, 0, H))
        self.output_trace_ = np.zeros((B, 0, O))
        self.grad_norm_ = np.zeros(B)
        self.grad_norm_max_ = np.zeros(B)
        self.update_norm_max_ = np.zeros(B)

    def start(self, rows=None) -> None:
        """Put trials at the start of a sequence: context = ``context_init``, other layers 0, t = 0.

        Until the next step the context layer *is* the context the first step will use (so a
        perturbation of the context at tick 0 acts on the first step); after a step it shows the
        context the shown hidden layer was computed from.
        """
        rows = slice(None) if rows is None else rows
        self.state[rows] = 0.0
        self.state[rows, self.layers["context"]] = self.cfg.context_init
        if not hasattr(self, "_fresh"):
            self._fresh = np.zeros(self.state.shape[0], dtype=bool)
        self._fresh[rows] = True
        self.t_ = 0

    def current_loss(self) -> np.ndarray:
        """Mask-weighted mean loss of the current weights over the whole task sequence, (B,)."""
        t = self.task
        B = self.params_["W_xh"].shape[0]
        c0 = np.full((B, self.cfg.n_ctx), self.cfg.context_init)
        cache = forward(self.cfg, self.params_, t.inputs, c0, t.targets, t.reset)
        L, _, _ = objective(self.cfg, cache, t.targets, t.mask)
        return L

    # ----- protocol ------------------------------------------------------------------------
    @property
    def deterministic(self) -> bool:
        # Training moves weights, so a repeated state does not mean a cycle of the dynamics.
        return self.mode != "train"

    @property
    def sweep_size(self) -> int:
        return self.cfg.n_hidden

    def energy(self) -> np.ndarray:
        return self._energy.copy()

    def step(self, rngs, active) -> np.ndarray:
        active = np.ones(self.batch_size, bool) if active is None else np.asarray(active, bool)
        if self.mode == "train":
            return self._train_tick(active)
        return self._dynamics_tick(active)

    def _train_tick(self, active: np.ndarray) -> np.ndarray:
        task = self.task
        before = {k: v.copy() for k, v in self.params_.items()}
        res = train_epoch(
            self.cfg, self.train_cfg, self.params_, self.velocity_,
            task.inputs, task.targets, task.mask, task.reset, active=active,
        )
        self.epoch_ += 1
        keep = active
        self._energy = np.where(keep, res.loss, self._energy)
        self.loss_history_.append(res.loss.copy())
        self.loss_per_step_ = res.loss_per_step
        self.hidden_trace_ = res.hidden
        self.output_trace_ = res.outputs
        self.grad_norm_ = res.grad_norm
        self.grad_norm_max_ = res.grad_norm_max
        self.update_norm_max_ = res.update_norm_max
        # Show the last step of the epoch in the state, so the viewer draws a meaningful picture.
        T = task.inputs.shape[1]
        last = np.concatenate(
            [task.inputs[:, T - 1], res.context[:, T - 1], res.hidden[:, T - 1], res.outputs[:, T - 1]], 1
        )
        self.state[keep] = last[keep]
        self._fresh[keep] = False
        changed = sum(
            (np.abs(self.params_[k] - before[k]).reshape(self.batch_size, -1) > self.tol).sum(1) for k in PARAM_NAMES
        )
        return np.where(keep, changed, 0)

    def _dynamics_tick(self, active: np.ndarray) -> np.ndarray:
        cfg, p, L = self.cfg, self.params_, self.layers
        task = self.task
        s = self.state
        h_old = s[:, L["hidden"]].copy()
        c_old = s[:, L["context"]]
        y_old = s[:, L["output"]]
        # next context from the current tick's activations (at the start: the context layer itself)
        if cfg.kind == "elman":
            c = h_old.copy()
        else:
            c = cfg.mu * c_old + y_old
        c = np.where(self._fresh[:, None], c_old, c)
        T = task.inputs.shape[1]
        if self.mode == "run":
            t = self.t_ % T
            x = task.inputs[:, t]
            if task.reset is not None:
                c = np.where(task.reset[:, t, None], cfg.context_init, c)
        else:
            x = self._free_input(s[:, L["input"]], y_old)
        # clamped context units keep their value
        c = np.where(self.clamped[:, L["context"]], c_old, c)
        a = _matvec(p["W_xh"], x) + _matvec(p["W_ch"], c) + p["b_h"]
        h = activate(cfg.activation, a)
        h = np.where(self.clamped[:, L["hidden"]], h_old, h)
        z = _matvec(p["W_hy"], h) + p["b_y"]
        y = output_fn(cfg.output, z)
        new = np.concatenate([x, c, h, y], 1)
        new = np.where(self.clamped, s, new)
        s[active] = new[active]
        self._fresh[active] = False
        if self.mode == "run":
            d = task.targets[:, self.t_ % T][:, None, :]
            loss, _ = loss_terms(cfg, z[:, None, :], y[:, None, :], d)
            m = task.mask[:, self.t_ % T] if task.mask is not None else 1.0
            self._energy = np.where(active, loss[:, 0] * m, self._energy)
            self.t_ += 1
        else:
            self._energy = np.where(active, 0.0, self._energy)
        return np.where(active, (np.abs(h - h_old) > self.tol).sum(1), 0)

    def _free_input(self, x_old: np.ndarray, y: np.ndarray) -> np.ndarray:
        if self.free_input == "fixed":
            return x_old
        I = self.cfg.n_in
        if y.shape[1] != I:
            raise SimulationError(
                f"free_input={self.free_input!r} feeds {y.shape[1]} outputs back into {I} inputs; "
                "use free_input='fixed' for this network"
            )
        if self.free_input == "argmax":
            return np.eye(I)[np.argmax(y, axis=1)]
        return y.copy()

    # ----- perturbations ---------------------------------------------------------------------
    def flip(self, units, rows=None) -> None:
        """Negate the given units (for tanh units: the mirror activation)."""
        rows = slice(None) if rows is None else rows
        mask = self._unit_mask(units)
        sub = self.state[rows]
        self.state[rows] = np.where(mask if mask.ndim == 1 else mask[rows], -sub, sub)
        self._state_changed(rows)

    def add_noise(self, sigma: float, rngs, rows=None, units=None) -> None:
        """Add N(0, sigma^2) noise to the hidden units (or the given unit indices).

        ``rngs`` holds one generator per row of ``rows`` (all trials when ``rows`` is None), as the
        engine's noise perturbation passes them: trial b draws only from its own generator.
        """
        idx = np.arange(self.batch_size) if rows is None else np.arange(self.batch_size)[rows]
        if units is None:
            cols = np.arange(self.n_units)[self.layers["hidden"]]
        else:
            cols = np.flatnonzero(self._unit_mask(units))
        if len(rngs) != len(idx):
            raise SimulationError(f"add_noise needs one generator per trial: {len(rngs)} for {len(idx)}")
        for g, b in zip(rngs, idx):
            self.state[b, cols] += sigma * g.standard_normal(cols.size)
        self._state_changed(idx)

    def state_keys(self, idx) -> list[bytes]:
        """Keys for the engine's cycle detection: the recurrent state (context and hidden) rounded
        to ``round_decimals`` decimals, so a numerically converged cycle repeats exactly even if the
        last bits of the floats still jitter."""
        sl = slice(self.layers["context"].start, self.layers["hidden"].stop)
        r = np.round(self.state[np.asarray(idx, dtype=int), sl], self.round_decimals) + 0.0  # -0.0 -> 0.0
        return [row.tobytes() for row in r]

    # ----- store / restore ---------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap.update(
            params={k: v.copy() for k, v in self.params_.items()},
            velocity={k: v.copy() for k, v in self.velocity_.items()},
            t=self.t_,
            epoch=self.epoch_,
            mode=self.mode,
            energy=self._energy.copy(),
            fresh=self._fresh.copy(),
            n_history=len(self.loss_history_),
        )
        return snap

    def restore(self, snap: dict[str, Any]) -> None:
        super().restore(snap)
        for k in PARAM_NAMES:
            self.params_[k][...] = snap["params"][k]
            self.velocity_[k][...] = snap["velocity"][k]
        self.t_ = snap["t"]
        self.epoch_ = snap["epoch"]
        self.mode = snap["mode"]
        self._energy = snap["energy"].copy()
        self._fresh[...] = snap["fresh"]
        del self.loss_history_[snap["n_history"]:]

    # ----- description ---------------------------------------------------------------------------
    def trace_arrays(self) -> dict[str, np.ndarray]:
        """Saved with a trace: the last epoch's activations and loss at every time step,
        ``hidden`` (B, T, H), ``output`` (B, T, O), ``loss_per_step`` (B, T)."""
        return {"hidden": self.hidden_trace_, "output": self.output_trace_, "loss_per_step": self.loss_per_step_}

    def describe(self) -> dict[str, Any]:
        d = super().describe()
        d.update(
            layers={k: [v.start, v.stop] for k, v in self.layers.items()},
            mode=self.mode,
            activation=self.cfg.activation,
            output=self.cfg.output,
            loss=self.cfg.loss_kind,
            n_in=self.cfg.n_in,
            n_hidden=self.cfg.n_hidden,
            n_out=self.cfg.n_out,
            n_context=self.cfg.n_ctx,
            task=getattr(self.task, "name", None),
        )
        if self.cfg.kind == "jordan":
            d["mu"] = self.cfg.mu
            d["teacher_forcing"] = self.cfg.teacher_forcing
        return d

    # ----- convenience ---------------------------------------------------------------------------
    def loss_profile(self) -> np.ndarray:
        """Mean last-epoch loss per task phase (e.g. bit position mod 3), shape (B, n_phases)."""
        return phase_profile(self.loss_per_step_, self.task)


def phase_profile(values: np.ndarray, task) -> np.ndarray:
    """Mean of ``values`` (B, T) over the steps of each phase label of the task, masked steps out.

    Returns
    -------
    ndarray, shape (B, n_phases)
    """
    ph = task.phase
    m = task.mask if task.mask is not None else np.ones(ph.shape)
    out = np.full((values.shape[0], len(task.phase_names)), np.nan)
    for k in range(len(task.phase_names)):
        w = (ph == k) * m
        tot = w.sum(1)
        out[:, k] = np.where(tot > 0, (values * w).sum(1) / np.maximum(tot, 1e-12), np.nan)
    return out


def train(
    model: SRNModel,
    epochs: int,
    rngs=None,
    progress: Callable[[int, np.ndarray], None] | None = None,
) -> np.ndarray:
    """Train ``model`` for ``epochs`` epochs (the model's ``train_cfg``); return losses (epochs, B).

    ``progress(epoch, loss)`` is called after each epoch (1-based epoch, loss shape (B,)), so
    training can show progress, e.g. ``progress=lambda e, l: print(e, l.mean())``. ``rngs`` is
    accepted for the protocol; training itself draws no random numbers.
    """
    old = model.mode
    model.mode = "train"
    out = []
    try:
        for e in range(epochs):
            model.step(rngs, np.ones(model.batch_size, bool))
            out.append(model.energy())
            if progress is not None:
                progress(e + 1, out[-1])
    finally:
        model.mode = old
    return np.array(out).reshape(epochs, model.batch_size)


# ======================================================================================
# Scenario tables and building (shared by elman.py and jordan.py)
# ======================================================================================
def scenario_tables_for(kind: str) -> dict:
    """Top-level scenario tables of the Elman or Jordan family (see :mod:`recurnet_sim.spec`)."""
    from ...spec import Field, Table
    from .tasks import TASKS

    elman = kind == "elman"
    net = {
        "type": Field("str", kind, "network family", choices=(kind,)),
        "hidden": Field("int", 8, "hidden units H", min=1, max=4096),
        "activation": Field("str", "tanh", "hidden activation", choices=ACTIVATIONS),
        "output": Field("str", "auto", "output units (auto: the task's choice)", choices=("auto",) + OUTPUTS),
        "loss": Field("str", "auto", "loss (auto: the task's choice, else the one matching the output)",
                      choices=("auto",) + LOSSES),
        "context_init": Field("float", 0.5 if elman else 0.0,
                              "initial value of the context units" + (" (Elman 1990: 0.5)" if elman else "")),
        "init_scale": Field("float", 1.0, "initial weights uniform in +-init_scale/sqrt(fan_in)", min=0),
    }
    if elman:
        net["recurrent_radius"] = Field("float", None, "rescale W_hh to this spectral radius at initialisation",
                                        min=0, nullable=True)
    else:
        net["mu"] = Field("float", 0.5, "self-decay of the state units: s_{t+1} = mu s_t + y_t (Jordan 1986)",
                          min=0, max=1)
    task = {
        "name": Field("str", "temporal_xor" if elman else "sequence", "the task", choices=TASKS),
        "length": Field("int", 3000, "time steps T (temporal_xor, reber, delayed_recall)", min=2),
        "n_consonants": Field("int", 1000, "letters: random consonants per trial", min=1),
        "file": Field("str", None, "letters/text/sequence: read the sequence(s) from this text file "
                      "(relative to the scenario)", nullable=True),
        "sequences": Field("list", ["ABAC"], "sequence: the sequences to produce, one plan each",
                           item=Field("str"), length=(1, None)),
        "repeats": Field("int", 1, "sequence: productions of each sequence per epoch", min=1),
        "lag": Field("int", 5, "delayed_recall: steps between input and recall", min=1),
        "n_symbols": Field("int", 4, "delayed_recall: alphabet size", min=2),
        "embedded": Field("bool", True, "reber: embedded grammar (long-range dependency)"),
    }
    training = {
        "lr": Field("float", 0.1, "learning rate", min=0),
        "momentum": Field("float", 0.9, "momentum coefficient", min=0, max=0.999),
        "bptt": Field("str", "truncated", "full BPTT, truncated BPTT(h; h'), or Elman's one-step scheme",
                      choices=BPTT_MODES),
        "truncation": Field("int", 8, "h: steps the error is propagated back (truncated)", min=1),
        "update_every": Field("int", None, "h': steps between updates (default h; 1 for elman)", min=1,
                              nullable=True),
        "clip": Field("float", None, "clip the gradient norm to this value (Pascanu et al. 2013)", min=0,
                      nullable=True),
        "pretrain_epochs": Field("int", 0, "epochs trained while building, before the run", min=0),
        "save_to": Field("str", None, "save the weights after pretraining to this .npz (relative to the "
                         "scenario)", nullable=True),
    }
    if not elman:
        training["teacher_forcing"] = Field("bool", True, "feed the target, not the output, into the state units")
    dynamics = {
        "mode": Field("str", "train", "a tick is a training epoch (train), a time step on the task "
                      "sequence (run) or a free-running step (free)", choices=MODES),
        "free_input": Field("str", "output" if elman else "fixed", "free: input = the output fed back, its "
                            "one-hot argmax, or held fixed", choices=FREE_INPUTS),
        "tol": Field("float", 1e-6, "a unit (or weight, in train) 'changed' if it moved more than this", min=0),
        "round_decimals": Field("int", 8, "decimals of the state compared by cycle detection", min=1, max=15),
    }
    initial = {
        "weights": Field("str", None, "load trained weights from this .npz (relative to the scenario)",
                         nullable=True),
    }
    analysis = {
        "max_lag": Field("int", 20, "summary: gradient norm at lags 0..max_lag (0 = off)", min=0),
        "lyapunov": Field("bool", False, "summary: largest Lyapunov exponent of the free-running net"),
        "lyapunov_steps": Field("int", 500, "steps averaged for the Lyapunov exponent", min=10),
    }
    name = "Elman (1990) simple recurrent network" if elman else "Jordan (1986) network"
    return {
        "network": Field("table", None, "the network", table=Table(net, f"The {name}.")),
        "task": Field("table", None, "the sequence task", table=Table(task, "Task generators in recurnet_sim.families.srn.tasks.")),
        "training": Field("table", None, "BPTT and SGD", table=Table(training, "Training by BPTT with SGD and momentum.")),
        "dynamics": Field("table", None, "what a tick is", table=Table(dynamics, "Training, running or free-running.")),
        "initial": Field("table", None, "initial weights", table=Table(initial, "Where the weights come from.")),
        "analysis": Field("table", None, "gradient-flow summary", table=Table(analysis, "Extra fields of the summary.")),
    }


def make_task(kind: str, tcfg: dict, rngs, base_dir: pathlib.Path):
    """Build the task of a validated ``[task]`` table."""
    from . import tasks as T
    from ...errors import ValidationError

    name = tcfg["name"]
    path = None if tcfg["file"] is None else (pathlib.Path(base_dir) / tcfg["file"])
    try:
        if name == "temporal_xor":
            return T.temporal_xor(rngs, tcfg["length"])
        if name == "letters":
            text = T.load_sequence(path) if path is not None else None
            return T.letters(rngs, tcfg["n_consonants"], text)
        if name == "reber":
            return T.reber(rngs, tcfg["length"], tcfg["embedded"])
        if name == "delayed_recall":
            return T.delayed_recall(rngs, tcfg["length"], tcfg["lag"], tcfg["n_symbols"])
        if name == "sequence":
            seqs = T.load_sequences(path) if path is not None else tcfg["sequences"]
            return T.sequence_production(rngs, seqs, tcfg["repeats"])
        if name == "text":
            if path is None:
                raise ValueError("the text task needs task.file")
            return T.text_prediction(rngs, T.load_sequence(path))
    except TraceFileError as e:
        raise ValidationError("task.file", str(e)) from None
    except ValueError as e:
        raise ValidationError("task", str(e)) from None
    raise ValidationError("task.name", f"unknown task {name!r}")


def build_model(kind: str, cfg: dict, batch_size: int, rngs, base_dir, cls=None) -> SRNModel:
    """Build an Elman or Jordan model from a validated scenario config (see ``scenario_tables_for``)."""
    from ...errors import ValidationError

    base_dir = pathlib.Path(base_dir)
    net, tr, dyn, ini = cfg["network"], cfg["training"], cfg["dynamics"], cfg["initial"]
    task = make_task(kind, cfg["task"], rngs, base_dir)
    output = task.output if net["output"] == "auto" else net["output"]
    if net["loss"] != "auto":
        loss = net["loss"]
    else:
        loss = task.loss if output == task.output else None
    try:
        scfg = SRNConfig(
            kind=kind, n_in=task.n_in, n_hidden=net["hidden"], n_out=task.n_out,
            activation=net["activation"], output=output, loss=loss,
            mu=net.get("mu", 0.0), teacher_forcing=tr.get("teacher_forcing", False),
            context_init=net["context_init"],
        )
    except ValueError as e:
        raise ValidationError("network", str(e)) from None
    if ini["weights"] is not None:
        wpath = base_dir / ini["weights"]
        try:
            fcfg, params, _ = load_weights(wpath)
        except TraceFileError as e:
            raise ValidationError("initial.weights", str(e)) from None
        if fcfg.kind != kind or (fcfg.n_in, fcfg.n_out) != (task.n_in, task.n_out):
            raise ValidationError(
                "initial.weights",
                f"{wpath.name} holds a {fcfg.kind} network with {fcfg.n_in} inputs and {fcfg.n_out} outputs; "
                f"this scenario needs {kind} with {task.n_in} and {task.n_out}",
            )
        nb = params["W_xh"].shape[0]
        if nb != 1 and nb < batch_size:
            raise ValidationError("initial.weights", f"{wpath.name} holds {nb} trials; the run has {batch_size} "
                                  "(a file of one trial is shared by all; a file of more trials gives its first ones)")
        # One trained net is shared by every trial; a file of B' >= B trials gives trial b its net b.
        params = {k: np.repeat(v, batch_size, axis=0) if nb == 1 else v[:batch_size] for k, v in params.items()}
        # The file's architecture wins (activation, output, mu); the run's teacher forcing stays.
        scfg = replace(fcfg, teacher_forcing=scfg.teacher_forcing)
    else:
        params = init_params(scfg, rngs, net["init_scale"], net.get("recurrent_radius"))
    try:
        tcfg = TrainConfig(
            lr=tr["lr"], momentum=tr["momentum"], bptt=tr["bptt"], truncation=tr["truncation"],
            update_every=tr["update_every"], clip=tr["clip"],
        )
    except ValueError as e:
        raise ValidationError("training", str(e)) from None
    free_input = dyn["free_input"]
    if dyn["mode"] == "free" and free_input != "fixed" and scfg.n_out != scfg.n_in:
        raise ValidationError(
            "dynamics.free_input",
            f"{free_input!r} feeds the {scfg.n_out} outputs back into {scfg.n_in} inputs; use 'fixed' for this task",
        )
    model = (cls or SRNModel)(scfg, params, task, tcfg, mode="train", free_input=free_input, tol=dyn["tol"],
                              round_decimals=dyn["round_decimals"])
    if tr["pretrain_epochs"]:
        train(model, tr["pretrain_epochs"])
        model.velocity_ = {k: np.zeros_like(v) for k, v in model.params_.items()}
        if tr["save_to"]:
            save_model(base_dir / tr["save_to"], model)
    model.mode = dyn["mode"]
    if model.mode != "train":
        model.start()  # run/free begin at the start of the sequence, from the (pre)trained weights
    model.analysis = dict(cfg["analysis"])
    return model


def summary_for(model: SRNModel, b: int) -> dict:
    """Extra JSON fields of trial b: final loss, loss per task phase, gradient flow."""
    from ...analysis import gradflow

    out: dict[str, Any] = {"mode": model.mode, "epochs": int(model.epoch_)}
    task = model.task
    if model.loss_per_step_.shape[1]:
        prof = model.loss_profile()[b]
        out["loss_per_phase"] = {n: (None if np.isnan(v) else float(v)) for n, v in zip(task.phase_names, prof)}
        out["final_loss"] = float(model.loss_history_[-1][b]) if model.loss_history_ else None
        out["grad_norm"] = float(model.grad_norm_[b])
    p1 = {k: v[b: b + 1] for k, v in model.params_.items()}
    cfg = model.cfg
    out["spectral_radius"] = float(gradflow.spectral_radius(gradflow.recurrent_matrix(cfg, p1))[0])
    # The lecture's other two risks of feedback: can the inputs steer the recurrent state, and do
    # the outputs reveal it? Kalman's ranks of the dynamics linearised at rest (= state size: yes).
    ranks = gradflow.kalman_ranks(*gradflow.linearised_system(cfg, p1))
    out["state_size"] = int(ranks["n"])
    out["controllable_rank"] = int(ranks["controllable_rank"][0])
    out["observable_rank"] = int(ranks["observable_rank"][0])
    an = getattr(model, "analysis", {}) or {}
    K = int(an.get("max_lag", 0))
    X = task.inputs[b: b + 1]
    if K > 0 and X.shape[1] >= K + 1:
        rep = gradflow.gradient_flow_report(cfg, p1, X[:, : max(K + 1, min(X.shape[1], 4 * K))], K)
        out["grad_norm_vs_lag"] = [float(v) for v in rep["grad_norm_lag"][0]]
        out["grad_decay_rate"] = float(rep["decay_rate"][0])
        out["jacobian_radius_mean"] = float(rep["radius_J_mean"][0])
    if an.get("lyapunov"):
        rng = np.random.default_rng(b)  # analysis only: does not touch the run's streams
        feed = "output" if (model.free_input == "output" and cfg.kind == "elman" and cfg.n_in == cfg.n_out) else "fixed"
        lam = gradflow.lyapunov_exponent(cfg, p1, X[:, 0], [rng], steps=int(an.get("lyapunov_steps", 500)), feed=feed)
        out["lyapunov_exponent"] = float(lam[0])
    return out
