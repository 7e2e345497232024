"""Backpropagation through time over any :class:`~.cells.Cell`: the time loop, the loss, BPTT(h; h'),
clipping and SGD, written once.

A network is a cell, a linear read-out and a loss (:class:`SRNConfig` describes one)::

    carry_{t+1}, h_t = cell.step(params, x_t, carry_t)
    z_t = W_hy h_t + b_y,  y_t = g(z_t),  loss l_t(z_t, y_t, d_t)

Training is backpropagation through time (Werbos 1990; Williams & Peng 1990), in the general
BPTT(h; h') form of Williams & Peng: the sequence is cut into windows of h' steps; after each
window the error of its h' steps is propagated back h >= h' steps (from the carry stored at the
start, held constant) and the weights are updated. Full BPTT is h = h' = T; Elman's original
scheme propagates every error one step only (the context is "just another input"). Updates are
SGD with momentum (the default) or Adam (Kingma & Ba 2015), with optional clipping of the gradient
norm (Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks").

:func:`forward` and :func:`backward` run a cell's ``step`` and ``vjp`` over time; a new cell gets
full and truncated BPTT, the one-step scheme and clipping from them. :func:`train_epoch` fuses the
epoch for the *affine* cells (Elman, teacher-forced Jordan: one matmul per step, weight gradients
one matmul per window) and runs the generic composition for every other cell.

Arrays carry a leading batch axis everywhere: parameters ``W_ch`` are ``(B, H, C)``, sequences
``(B, T, n)``. The time loop is Python; everything that does not depend on the recurrence (the
read-out, the loss, weight gradients in the fused epoch) is vectorised over time.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Sequence

import numpy as np

from .cells import (ACTIVATIONS, CELLS, OUTPUTS, Cell, Readout, activation_grad, output_fn, output_vjp,
                    sigmoid)

LOSSES = ("cross_entropy", "squared_error")
BPTT_MODES = ("full", "truncated", "elman")
OPTIMIZERS = ("sgd", "adam")


# ======================================================================================
# Configuration
# ======================================================================================
@dataclass(frozen=True)
class SRNConfig:
    """Architecture of a simple recurrent network (no learned values): a cell, a read-out, a loss.

    Parameters
    ----------
    kind : str
        The cell, a key of :data:`.cells.CELLS` (``"elman"``, ``"jordan"``).
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
        Self-decay of the Jordan state units (cells without state units ignore it).
    teacher_forcing : bool
        Jordan: feed the target ``d_t`` rather than the output ``y_t`` into the state units.
    context_init : float
        Initial value of the carry units (Elman 1990: 0.5).
    forget_bias : float
        LSTM: initial bias of the forget gate (Gers, Schmidhuber & Cummins 2000).
    peepholes : bool
        LSTM: gate connections from the cell state (Gers & Schmidhuber 2000).

    ``activation`` is the hidden units' f of the affine cells (Elman, Jordan); the gated cells
    (LSTM, GRU) have their own fixed sigmoid gates and tanh and ignore it.
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
    forget_bias: float = 1.0
    peepholes: bool = False

    def __post_init__(self):
        if self.kind not in CELLS:
            raise ValueError(f"kind must be one of {tuple(CELLS)}, got {self.kind!r}")
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

    @cached_property
    def readout(self) -> Readout:
        return Readout(self.n_hidden, self.n_out, self.output)

    @cached_property
    def cell(self) -> Cell:
        return CELLS[self.kind](self)

    @property
    def n_ctx(self) -> int:
        """Carry units: a copy of the hidden layer (Elman) or one state unit per output (Jordan)."""
        return self.cell.n_carry

    @property
    def loss_kind(self) -> str:
        if self.loss is not None:
            return self.loss
        return "squared_error" if self.output == "linear" else "cross_entropy"

    @property
    def param_names(self) -> tuple[str, ...]:
        return self.cell.param_names + self.readout.param_names

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-trial shapes of the parameters (without the batch axis)."""
        return {**self.cell.shapes(), **self.readout.shapes()}

    def hidden_error(self, params: dict[str, np.ndarray], h: np.ndarray, d: np.ndarray) -> np.ndarray:
        """dl/dh of one step's loss with target ``d`` (B, O), at hidden state ``h`` (B, H)."""
        z, y = self.readout(params, h)
        _, dz = loss_terms(self, z[:, None], y[:, None], d[:, None])
        return np.einsum("bo,boh->bh", dz[:, 0], params["W_hy"])


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
        Rescale the gradient to this norm when it is larger (Pascanu et al. 2013). Clipping comes
        before the optimiser's step (for Adam: the clipped gradient enters the moments).
    optimizer : {"sgd", "adam"}
        ``sgd``: SGD with ``momentum``. ``adam``: Adam (Kingma & Ba 2015, Algorithm 1) with step size
        ``lr``, decay rates ``beta1``, ``beta2`` and ``eps``; ``momentum`` is then unused.
    beta1, beta2, eps : float
        Adam's exponential decay rates of the first and second moment estimates and its epsilon.
    """

    lr: float = 0.1
    momentum: float = 0.9
    bptt: str = "truncated"
    truncation: int = 8
    update_every: int | None = None
    clip: float | None = None
    optimizer: str = "sgd"
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self):
        if self.bptt not in BPTT_MODES:
            raise ValueError(f"bptt must be one of {BPTT_MODES}, got {self.bptt!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ValueError("beta1 and beta2 must be in [0, 1)")
        if self.eps <= 0:
            raise ValueError("eps must be > 0")
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
# Loss and parameters
# ======================================================================================
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


def init_params(
    cfg: SRNConfig,
    rngs: Sequence[np.random.Generator],
    scale: float = 1.0,
    recurrent_radius: float | None = None,
) -> dict[str, np.ndarray]:
    """Random initial weights, one independent draw per trial.

    Each trial draws the cell's weights, then the read-out's (uniform in ±scale/sqrt(fan_in) of the
    receiving unit, biases 0), from ``rngs[b]`` only and in a fixed order, so the batch equals B
    single runs.

    Parameters
    ----------
    recurrent_radius : float, optional
        Rescale the cell's square recurrent matrix to this spectral radius (Elman: W_hh). Used to
        put a network on either side of the exploding/vanishing boundary (radius 1).

    Returns
    -------
    dict of ndarray
        ``cfg.param_names`` with a leading batch axis: ``W_xh`` (B, H, I), ``W_ch`` (B, H, C),
        ``b_h`` (B, H), ``W_hy`` (B, O, H), ``b_y`` (B, O) for the affine cells.
    """
    cell, ro = cfg.cell, cfg.readout
    shapes = cfg.shapes
    out: dict[str, list] = {k: [] for k in cfg.param_names}
    for rng in rngs:
        drawn = {**cell.init(rng, scale, recurrent_radius), **ro.init(rng, scale)}
        for k in out:
            out[k].append(drawn[k] if k in drawn else np.zeros(shapes[k]))
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
    for k in grads:
        v = momentum * velocity[k] - lr * grads[k]
        if active is not None and not np.all(active):
            m = active.reshape((-1,) + (1,) * (v.ndim - 1))
            v = np.where(m, v, velocity[k])
            params[k] += np.where(m, v, 0.0)
        else:
            params[k] += v
        velocity[k][...] = v


@dataclass
class AdamMoments:
    """Adam's second-moment estimates and step counts (the first moments live in ``velocity``).

    Attributes
    ----------
    v : dict of ndarray
        Same keys and shapes as the parameters (leading batch axis).
    t : ndarray, shape (B,)
        Updates taken by each trial (frozen trials do not count), for the bias correction.
    """

    v: dict[str, np.ndarray]
    t: np.ndarray

    @classmethod
    def zeros_like(cls, params: dict[str, np.ndarray]) -> "AdamMoments":
        B = next(iter(params.values())).shape[0]
        return cls({k: np.zeros_like(v) for k, v in params.items()}, np.zeros(B))

    def copy(self) -> "AdamMoments":
        return AdamMoments({k: v.copy() for k, v in self.v.items()}, self.t.copy())


def adam(
    params: dict[str, np.ndarray],
    m: dict[str, np.ndarray],
    moments: AdamMoments,
    grads: dict[str, np.ndarray],
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    active: np.ndarray | None = None,
) -> None:
    """In place, one Adam step (Kingma & Ba 2015, "Adam: a method for stochastic optimization",
    Algorithm 1), per trial::

        t <- t + 1
        m <- beta1 m + (1 - beta1) g;   v <- beta2 v + (1 - beta2) g^2
        m^ = m / (1 - beta1^t);          v^ = v / (1 - beta2^t)
        theta <- theta - lr m^ / (sqrt(v^) + eps)

    ``m`` (first moments) and ``moments.v`` have the parameters' keys and shapes; trials with
    ``active[b]`` False keep their weights, moments and count."""
    B = moments.t.shape[0]
    act = np.ones(B, bool) if active is None else np.asarray(active, bool)
    t = moments.t + 1.0
    c1, c2 = 1.0 - beta1 ** t, 1.0 - beta2 ** t
    for k in grads:
        shape = (-1,) + (1,) * (grads[k].ndim - 1)
        g = grads[k]
        mk = beta1 * m[k] + (1.0 - beta1) * g
        vk = beta2 * moments.v[k] + (1.0 - beta2) * g * g
        step = -lr * (mk / c1.reshape(shape)) / (np.sqrt(vk / c2.reshape(shape)) + eps)
        a = act.reshape(shape)
        params[k] += np.where(a, step, 0.0)
        m[k][...] = np.where(a, mk, m[k])
        moments.v[k][...] = np.where(a, vk, moments.v[k])
    moments.t[...] = np.where(act, t, moments.t)


# ======================================================================================
# Forward and backward over time, for any cell
# ======================================================================================
@dataclass
class Cache:
    """A forward pass over T steps: what :func:`backward` and the analyses need.

    Attributes
    ----------
    X : ndarray, shape (B, T, I)
    H : ndarray, shape (B, T, H)
        Hidden activations (what the read-out reads).
    C : ndarray, shape (B, T, C)
        The carry entering each step.
    Z, Y : ndarray, shape (B, T, O)
        Output pre-activations and outputs.
    reset : ndarray of bool, shape (B, T), or None
    c_next : ndarray, shape (B, C)
        The carry entering the step after the last.
    steps : list
        The cell's cache of every step (opaque: for its ``vjp`` and ``jacobian``).
    """

    X: np.ndarray
    H: np.ndarray
    C: np.ndarray
    Z: np.ndarray
    Y: np.ndarray
    reset: np.ndarray | None
    c_next: np.ndarray
    steps: list
    after: np.ndarray | None = None  # (B, T, C): the carry each step produced (before any reset)


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
        Carry entering step 0.
    D : ndarray, shape (B, T, O), optional
        Targets; needed by cells that read them (Jordan teacher forcing).
    reset : ndarray of bool, shape (B, T), optional
        Where true, the carry entering that step is reset to the cell's ``context_init`` (episode
        starts: a new letter string, a new production of the plan).
    """
    cell = cfg.cell
    if cell.uses_target and D is None:
        raise ValueError("teacher forcing needs the targets D")
    B, T, _ = X.shape
    Hs = np.empty((B, T, cell.n_hidden))
    Cs = np.empty((B, T, cell.n_carry))
    after = np.empty((B, T, cell.n_carry))
    steps = []
    c = np.array(c0, dtype=float, copy=True)
    init = cell.context_init
    has_reset = reset is not None and bool(np.any(reset))
    for t in range(T):
        if has_reset:
            c = np.where(reset[:, t, None], init, c)
        Cs[:, t] = c
        c, Hs[:, t], s = cell.step(p, X[:, t], c, None if D is None else D[:, t])
        after[:, t] = c
        steps.append(s)
    # The read-out does not depend on the recurrence: all steps at once.
    Z = np.einsum("bth,boh->bto", Hs, p["W_hy"]) + p["b_y"][:, None, :]
    Y = output_fn(cfg.output, Z)
    return Cache(X=X, H=Hs, C=Cs, Z=Z, Y=Y, reset=reset if has_reset else None, c_next=c, steps=steps, after=after)


def backward(
    cfg: SRNConfig,
    p: dict[str, np.ndarray],
    cache: Cache,
    dZ: np.ndarray,
    through_context: bool = True,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Backpropagation through time (Werbos 1990; Williams & Peng 1990): the cell's ``vjp`` from
    the last step to the first.

    Parameters
    ----------
    dZ : ndarray, shape (B, T, O)
        Gradient of the objective with respect to the output pre-activations, from the loss.
    through_context : bool
        False gives Elman's one-step scheme: the carry is treated as an ordinary input, so no
        error flows into earlier steps.

    Returns
    -------
    grads : dict of ndarray
        Same keys and shapes as the parameters.
    dc0 : ndarray, shape (B, C)
        Gradient with respect to the initial carry (zero where it was reset, and in the one-step
        scheme).
    """
    cell = cfg.cell
    B, T, _ = cache.X.shape
    dH = np.einsum("bto,boh->bth", dZ, p["W_hy"])  # the read-out's error reaching h_t
    grads = {k: np.zeros(p[k].shape) for k in cfg.param_names}
    grads["W_hy"] += np.einsum("bto,bth->boh", dZ, cache.H)
    grads["b_y"] += dZ.sum(1)
    reset = cache.reset
    zero = np.zeros((B, cell.n_carry))
    dc = zero
    for t in range(T - 1, -1, -1):
        dc, dp, _ = cell.vjp(p, cache.steps[t], dc if through_context else zero, dH[:, t])
        for k, v in dp.items():
            grads[k] += v
        if reset is not None:
            dc = np.where(reset[:, t, None], 0.0, dc)
    return grads, (dc if through_context else zero)


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
    carry_next : ndarray, shape (B, C)
        The carry after the last step.
    gates : ndarray, shape (B, T, G, H)
        The cell's gate activations at every step (G = 0 for ungated cells).
    carry_after : ndarray, shape (B, T, C), or None
        The carry each step produced (cells run through the generic loop; None for the fused ones).
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
    carry_next: np.ndarray | None = None
    gates: np.ndarray | None = None
    carry_after: np.ndarray | None = None


def selected_kernel(kernel: str | None = None) -> str:
    """The kernel a training epoch runs on: ``kernel`` when the caller names one (the model names
    its ``dynamics.kernel``, default "compiled", with ``RECURNET_KERNEL`` overriding it, as in every
    family), else ``RECURNET_KERNEL`` when it is set, else numpy (this module is the numpy
    reference); "compiled" becomes "numpy" without numba (:func:`recurnet_sim.kernels.kernel_for`).

    Unlike the unit-update families, whose compiled kernels are bit-identical to numpy, the
    compiled epoch agrees with this path to ~1e-14 relative per epoch, not bit for bit (see
    :mod:`.kernels`): it sums in index order where BLAS blocks. That order is fixed, so the
    compiled epoch gives the same bits on every machine, which BLAS does not promise; many epochs
    of SGD on a chaotic task (temporal XOR) amplify the per-epoch difference between the two."""
    import os

    from ... import kernels as K

    if kernel is None:
        if not os.environ.get(K.ENV_VAR, "").strip():
            return "numpy"
        return K.kernel_for(None)
    if kernel not in K.KERNELS:
        raise ValueError(f"kernel must be one of {K.KERNELS}, got {kernel!r}")
    # named by the caller (the model resolved the environment already; tests compare both)
    return "compiled" if kernel == "compiled" and K.numba_available() else "numpy"


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



class FlatParams:
    """All parameters of a trial in one row of a (B, P) array, as a few column-stacked matrices.

    Each *group* is a list of parameters with the same number of rows, laid side by side (a 1-D
    parameter is one column). For an affine cell the groups are ``W_in = [W_xh | b_h | W_ch]``
    (H, I + 1 + C), acting on the step input ``u_t = [x_t, 1, c_t]``, and ``W_out = [W_hy | b_y]``
    (O, H + 1) on ``[h_t, 1]``: one matmul per step then gives the whole pre-activation, one matmul
    per window each weight gradient. Other cells get one group per parameter. Clipping and the SGD
    update are then a few operations on one array instead of one per parameter.
    """

    def __init__(self, cfg: SRNConfig, B: int):
        cell = cfg.cell
        cell_groups = [cell.param_names] if cell.affine else [(k,) for k in cell.param_names]
        shapes = cfg.shapes
        self.B = B
        self.groups = []  # (offset, rows, cols, [(name, col, width or None)])
        off = 0
        for names in cell_groups + [cfg.readout.param_names]:
            if cell.affine and names == cell.param_names:
                names = ("W_xh", "b_h", "W_ch")  # the layout of u_t = [x_t, 1, c_t]
            rows = shapes[names[0]][0]
            members, col = [], 0
            for k in names:
                shp = shapes[k]
                if shp[0] != rows or len(shp) > 2:
                    raise ValueError(f"{k}: shape {shp} does not stack with {rows} rows")
                width = shp[1] if len(shp) == 2 else None
                members.append((k, col, width))
                col += 1 if width is None else width
            self.groups.append((off, rows, col, members))
            off += rows * col
        self.P = off
        self.names = cfg.param_names

    def views(self, flat: np.ndarray) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
        """(the group matrices (B, rows, cols), every named parameter) as views of ``flat``."""
        mats, named = [], {}
        for off, rows, cols, members in self.groups:
            m = flat[:, off: off + rows * cols].reshape(self.B, rows, cols)
            mats.append(m)
            for k, col, width in members:
                named[k] = m[:, :, col] if width is None else m[:, :, col: col + width]
        return mats, {k: named[k] for k in self.names}

    def pack(self, d: dict[str, np.ndarray]) -> np.ndarray:
        flat = np.empty((self.B, self.P))
        named = self.views(flat)[1]
        for k in self.names:
            named[k][...] = d[k]
        return flat

    def unpack(self, flat: np.ndarray, d: dict[str, np.ndarray]) -> None:
        """Copy back into the caller's arrays, in place (their identity is kept)."""
        named = self.views(flat)[1]
        for k in self.names:
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
    moments: AdamMoments | None = None,
    kernel: str | None = None,
) -> EpochResult:
    """One pass over the sequence with BPTT(h; h') updates (Williams & Peng 1990), in place.

    The pass starts from ``c0`` (default: the cell's ``carry0``). Windows of
    h' steps end at h', 2h', ..., T; for each, the network is re-run from the context stored h
    steps before the window's end (held constant: the truncation), the error of the h' window
    steps is propagated back through those h steps, and SGD with momentum updates the weights.

    This is :func:`forward`, :func:`objective`, :func:`backward`, :func:`clip_by_norm` and
    :func:`sgd_momentum` per window (tests/test_srn_gradients.py checks it against exactly that
    composition), with the parameters in one flat (B, P) array for the epoch (see
    :class:`FlatParams`). For the affine cells it is fused for speed (see :class:`~.cells.Cell`):
    the step inputs ``[x_t, 1, c_t]`` and the records are preallocated once per epoch, a step of a
    cell whose carry is its hidden layer (Elman) is one matmul and one activation written in place,
    the output layer, loss and weight gradients are one matmul each per window, and a cell whose
    carry is given (teacher-forced Jordan) has no step loop at all. Any other cell runs its own
    ``step`` and ``vjp`` through :func:`forward` and :func:`backward`. Results equal the
    composition up to floating-point rounding.

    Parameters
    ----------
    X : ndarray, shape (B, T, I)
    D : ndarray, shape (B, T, O)
    mask : ndarray, shape (B, T), optional
        Loss weight per step (0 = no target there).
    reset : ndarray of bool, shape (B, T), optional
    active : ndarray of bool, shape (B,), optional
        Trials not active keep their weights.
    moments : AdamMoments, optional
        Adam's second moments and step counts, updated in place; needed when
        ``tcfg.optimizer == "adam"`` (``velocity`` then holds the first moments, see :func:`adam`).
    kernel : {"numpy", "compiled"}, optional
        ``compiled`` runs the whole epoch as one numba call (:mod:`.kernels`) for a cell with a
        :meth:`~.cells.Cell.kernel`; it agrees with this numpy path to about 1e-14 relative per
        epoch (not bit for bit: see :mod:`.kernels`). Default: :func:`selected_kernel` (numpy
        unless ``RECURNET_KERNEL`` says otherwise; :class:`~.model.SRNModel`, the family's
        training, names its ``dynamics.kernel``, default "compiled").
    """
    if selected_kernel(kernel) == "compiled":
        ck = cfg.cell.kernel()
        if ck is not None:
            from . import kernels

            return kernels.train_epoch(cfg, tcfg, ck, params, velocity, X, D, mask, reset, c0, active, moments)
    B, T, I = X.shape
    use_adam = tcfg.optimizer == "adam"
    if use_adam and moments is None:
        raise ValueError("the adam optimizer needs its moments (AdamMoments)")
    h, hp, through = tcfg.windows(T)
    cell = cfg.cell
    H, C, O = cfg.n_hidden, cell.n_carry, cfg.n_out
    if c0 is None:
        c0 = cell.carry0(B)
    mask = np.ones((B, T)) if mask is None else np.asarray(mask, dtype=float)
    ones_mask = bool(np.all(mask == 1.0))  # then a window's weights are 1/h' (the same float)
    if reset is not None and np.any(reset):
        reset = np.asarray(reset, dtype=bool)
        reset_any = reset.any(0).tolist()  # per step: does any trial reset here (a Python bool)
    else:
        reset, reset_any = None, None
    init = cell.context_init
    copy = cell.affine and cell.carry_is_hidden  # the fused step loop (Elman)
    forced = cell.affine and cell.carry_given  # carries known beforehand: no step loop (teacher forcing)
    generic = not copy and not forced  # any other cell: its own step and vjp through forward/backward
    f = cell.activation if not generic else None

    fp_ = FlatParams(cfg, B)
    K = I + 1 + C
    theta = fp_.pack(params)
    vel = fp_.pack(velocity)
    if use_adam:
        sec = fp_.pack(moments.v)
        b1, b2, eps = tcfg.beta1, tcfg.beta2, tcfg.eps
    grad = np.zeros_like(theta)
    mats, named = fp_.views(theta)
    gmats, gnamed = fp_.views(grad)
    if not generic:
        (W_in, W_out), (g_in, g_out) = mats, gmats
        W_ch = named["W_ch"]
    W_hy = named["W_hy"]
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
        ctx[...] = cell.given_carries(c0, D, reset)  # e.g. teacher forcing (Jordan 1986)
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
    act = None if generic else _act_into(f)
    hsl = slice(I + 1, None)

    n_gates = len(cell.gate_names)
    gates = np.zeros((B, T, n_gates, H)) if generic else np.zeros((B, T, 0, H))
    after = np.empty((B, T, C)) if generic else None
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
            after[:, lo:end] = cache.after[:, off:]
            if n_gates:
                gates[:, lo:end] = np.stack([cell.gates(st) for st in cache.steps[off:]], axis=1)
        else:
            if copy:
                Wt = W_in.transpose(0, 2, 1)  # (B, K, H): u_t @ W_in^T is the pre-activation
                if reset_any is None or not any(reset_any[start:end]):
                    # The step: one matmul and the activation, written straight into the next
                    # step's carry (c_{t+1} = h_t: Elman's copy through fixed weights 1).
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
            for k, v in gnamed.items():
                v[...] = g[k]
        else:
            dA = dZ @ W_hy  # (B, n, H): error reaching the hidden units from the outputs
            fpw = activation_grad(f, hw, hw)  # f' from h (relu: h > 0 exactly where a > 0)
            if copy and through:
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
                # Elman's one-step scheme, or a given carry: the carry does not depend on the weights
                dA *= fpw
            np.matmul(dA.transpose(0, 2, 1), Uw, out=g_in)
            np.matmul(dZ.transpose(0, 2, 1), hw1, out=g_out)
        # Clip the gradient norm (Pascanu et al. 2013), then SGD with momentum (or Adam), on the flat arrays.
        gn = np.sqrt(_row_sqnorm(grad))
        if clip is not None and np.any(gn > clip):
            grad *= np.where(gn > clip, clip / np.maximum(gn, 1e-300), 1.0)[:, None]
        if use_adam:
            # Kingma & Ba (2015), Algorithm 1, as :func:`adam` on the flat arrays
            tn = moments.t + 1.0
            m_new = b1 * vel + (1.0 - b1) * grad
            v_new = b2 * sec + (1.0 - b2) * grad * grad
            step = (-lr / (1.0 - b1 ** tn))[:, None] * m_new / (np.sqrt(v_new / (1.0 - b2 ** tn)[:, None]) + eps)
            if all_active:
                vel[...], sec[...] = m_new, v_new
                moments.t[...] = tn
            else:
                step = np.where(act_mask, step, 0.0)
                vel[...] = np.where(act_mask, m_new, vel)
                sec[...] = np.where(act_mask, v_new, sec)
                moments.t[...] = np.where(act_mask[:, 0], tn, moments.t)
            theta += step
            un = np.sqrt(_row_sqnorm(step))
        elif all_active:
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
    if use_adam:
        fp_.unpack(sec, moments.v)
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
        carry_next=ctx[:, T].copy(),
        gates=gates,
        carry_after=after,
    )
