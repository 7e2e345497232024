"""The simple recurrent networks behind the engine: model, weights files, scenario tables, build.

The network (Elman 1990, Jordan 1986) is a :class:`~.cells.Cell` read out linearly and trained by
backpropagation through time; the cells are in :mod:`.cells`, the time loop, BPTT(h; h'), the
loss, clipping and SGD in :mod:`.bptt` (both re-exported here). This module is the glue: the
engine-facing :class:`SRNModel` (train, run and free-running modes), weights files, the scenario
tables and ``build`` shared by :mod:`.elman` and :mod:`.jordan`, pre-training as the family's
``train`` step, and the result summary.

Arrays carry a leading batch axis everywhere: parameters ``W_ch`` are ``(B, H, C)``, sequences
``(B, T, n)``. Trial b draws randomness only from ``rngs[b]``, so a batch of B equals B single runs
with the same seeds.
"""
from __future__ import annotations

import os
import pathlib
from dataclasses import replace
from typing import Any, Callable

import numpy as np

from ...npzio import MARKER_KEY, read_npz
from ...errors import SimulationError, TraceFileError
from ...family import Output, TrainingRun
from ...model import Model
from .bptt import (BPTT_MODES, LOSSES, OPTIMIZERS, AdamMoments, Cache, EpochResult, SRNConfig,  # noqa: F401
                   TrainConfig, adam, backward, clip_by_norm, forward, init_params, loss_and_grad, loss_terms, objective, params_norm,
                   sgd_momentum, train_epoch)
from .cells import (ACTIVATIONS, CELLS, OUTPUTS, Cell, ElmanCell, JordanCell, Readout, activate,  # noqa: F401
                    activation_grad, output_fn, output_jacobian, output_vjp, sigmoid)

#: the parameters of a network of affine cells, in the order of a weights file
PARAM_NAMES = ("W_xh", "W_ch", "b_h", "W_hy", "b_y")
WEIGHTS_FORMAT = "recurnet_sim.srn.weights/1"


# ======================================================================================
# Weights files
# ======================================================================================
def save_weights(path: str | os.PathLike, cfg: SRNConfig, params: dict[str, np.ndarray], *, force: bool = False,
                 **meta: Any) -> pathlib.Path:
    """Save trained weights (all trials) and the architecture to a ``.npz`` file.

    Only plain arrays are written (no pickles), so :func:`load_weights` can read the file with
    ``allow_pickle=False``. ``meta`` holds extra scalars or strings (e.g. ``task="temporal_xor"``).
    The file is written through the atomic writer (:func:`recurnet_sim.writer.write_file`): it
    refuses to replace a file recurnet did not write unless ``force``.
    """
    from ...writer import write_file

    path = weights_path(path)
    arrays = {k: np.asarray(params[k], dtype=float) for k in cfg.param_names}
    arrays["cfg_n_in"] = np.array(int(cfg.n_in))
    arrays["cfg_forget_bias"] = np.array(float(cfg.forget_bias))
    arrays["cfg_peepholes"] = np.array(bool(cfg.peepholes))
    for k in ("kind", "activation", "output"):
        arrays[f"cfg_{k}"] = np.array(getattr(cfg, k))
    arrays["cfg_loss"] = np.array(cfg.loss or "")
    arrays["cfg_mu"] = np.array(float(cfg.mu))
    arrays["cfg_teacher_forcing"] = np.array(bool(cfg.teacher_forcing))
    arrays["cfg_context_init"] = np.array(float(cfg.context_init))
    for k, v in meta.items():
        arrays[f"meta_{k}"] = np.array(v)
    arrays[MARKER_KEY] = np.array(WEIGHTS_FORMAT)
    return write_file(path, lambda fh: np.savez(fh, **arrays), force=force)


def weights_path(path: str | os.PathLike) -> pathlib.Path:
    """Where :func:`save_weights` writes ``path``: with the ``.npz`` suffix."""
    path = pathlib.Path(path)
    return path if path.suffix == ".npz" else path.with_suffix(".npz")


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
    data = read_npz(path, "weights", WEIGHTS_FORMAT, required=("W_hy", "b_y", "cfg_kind"))
    try:
        W_hy = data["W_hy"]
        B, O, H = W_hy.shape
        # files of the affine cells written before cfg_n_in was stored: W_xh gives it
        I = int(data["cfg_n_in"]) if "cfg_n_in" in data else data["W_xh"].shape[2]
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
            forget_bias=float(data["cfg_forget_bias"]) if "cfg_forget_bias" in data else 1.0,
            peepholes=bool(data["cfg_peepholes"]) if "cfg_peepholes" in data else False,
        )
        params = {k: np.asarray(data[k], dtype=float) for k in cfg.param_names}
        for k, shp in cfg.shapes.items():
            if params[k].shape != (B,) + shp:
                raise ValueError(f"{k} has shape {params[k].shape}, expected {(B,) + shp}")
        if not all(np.all(np.isfinite(v)) for v in params.values()):
            raise ValueError("weights contain NaN or infinity")
    except (KeyError, ValueError, TypeError) as e:
        raise TraceFileError(f"{name}: inconsistent weights file: {e}") from None
    # a meta_* entry we wrote is a scalar; any other shape is kept as a list, never a traceback
    meta = {k[5:]: ((v.item() if v.size == 1 else v.tolist()) if isinstance(v, np.ndarray) else v)
            for k, v in data.items() if k.startswith("meta_")}
    return cfg, params, meta


def save_model(path: str | os.PathLike, model: "SRNModel", *, force: bool = False, **meta: Any) -> pathlib.Path:
    """Save a model's current weights (the families' ``save_weights(path, model)``; models do no I/O)."""
    return save_weights(path, model.cfg, model.params_, force=force, task=getattr(model.task, "name", ""), **meta)


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
        kernel: str | None = None,
    ):
        from ...kernels import requested
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if type(self).network_type != Model.network_type and cfg.kind != self.network_type:
            raise ValueError(f"{type(self).__name__} needs SRNConfig(kind={self.network_type!r})")
        if free_input not in FREE_INPUTS:
            raise ValueError(f"free_input must be one of {FREE_INPUTS}, got {free_input!r}")
        self.cfg = cfg
        self.train_cfg = train_cfg or TrainConfig()
        self.mode = mode
        # the training epoch's kernel (dynamics.kernel, RECURNET_KERNEL overriding; default compiled):
        # numba is looked for at the first compiled epoch (bptt.selected_kernel), not here
        self.kernel = requested(kernel)
        self.free_input = free_input
        self.tol = float(tol)
        self.round_decimals = int(round_decimals)
        self.task = task
        B = next(iter(params.values())).shape[0]
        self.params_ = {k: np.array(params[k], dtype=float) for k in cfg.param_names}
        self.velocity_ = {k: np.zeros_like(v) for k, v in self.params_.items()}  # SGD momentum / Adam's m
        self.moments_ = AdamMoments.zeros_like(self.params_)  # Adam's v and step counts (unused by sgd)
        I, C, H, O = cfg.n_in, cfg.n_ctx, cfg.n_hidden, cfg.n_out
        cell = cfg.cell
        S = cell.n_state if cell.state_layer else 0
        self.layers = {
            "input": slice(0, I),
            "context": slice(I, I + C),
            "hidden": slice(I + C, I + C + H),
        }
        if S:
            # the part of the next carry the other layers cannot rebuild (an LSTM's cell state
            # c_t): shown, so that perturbing it acts on the next step (Cell.state_layer)
            self.layers[cell.state_layer] = slice(I + C + H, I + C + H + S)
        self.layers["output"] = slice(I + C + H + S, I + C + H + S + O)
        self.state = np.zeros((B, I + C + H + S + O))
        self.gates_ = np.zeros((B, len(cell.gate_names) * H))  # the shown step's gates (flattened)
        self.gate_trace_ = np.zeros((B, 0, len(cell.gate_names), H))
        self.state_trace_ = np.zeros((B, 0, S))  # the shown cell state after each step of the last epoch
        self.clamped = np.zeros(self.state.shape, dtype=bool)
        self._fresh = np.zeros(B, dtype=bool)  # trials at the start of a sequence (no step yet)
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
        # divergence (see diverged()): per trial, whether and how training ran away
        self.diverged_ = np.zeros(B, dtype=bool)
        self.divergence_: list[dict | None] = [None] * B
        with np.errstate(all="ignore"):
            self._loss0 = np.asarray(self._energy, dtype=float).copy()

    def start(self, rows=None) -> None:
        """Put trials at the start of a sequence: context = ``context_init``, other layers 0, t = 0.

        Until the next step the context layer *is* the context the first step will use (so a
        perturbation of the context at tick 0 acts on the first step); after a step it shows the
        context the shown hidden layer was computed from.
        """
        rows = slice(None) if rows is None else rows
        self.state[rows] = 0.0
        self.state[rows, self.layers["context"]] = self.cfg.cell.context_init
        self._fresh[rows] = True
        self.t_ = 0

    def current_loss(self) -> np.ndarray:
        """Mask-weighted mean loss of the current weights over the whole task sequence, (B,)."""
        t = self.task
        c0 = self.cfg.cell.carry0(self.batch_size)
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

    #: an epoch's loss above this many times max(1, the loss before training) is a blow-up
    DIVERGENCE_FACTOR = 1e4

    def diverged(self) -> np.ndarray:
        """Per trial, whether training diverged (sticky until a reset to before it).

        Divergence is judged at the end of each training epoch: the epoch's loss is not finite,
        a weight is not finite, or the loss exceeds ``DIVERGENCE_FACTOR`` (10^4) times
        max(1, the loss before any training) — a squared-error or cross-entropy loss that starts
        near 0.1–1 only gets there when the updates run away. The diverged trial's weights are
        put back to those before the diverging epoch (the last finite ones), so the end-of-run
        analyses read numbers; ``divergence_[b]`` says which epoch, why and what to try.
        """
        return self.diverged_.copy()

    def _check_divergence(self, loss: np.ndarray, before: dict[str, np.ndarray], active: np.ndarray) -> None:
        bad_w = np.zeros(self.batch_size, dtype=bool)
        for v in self.params_.values():
            flat = v.reshape(self.batch_size, -1)
            bad_w |= ~np.isfinite(flat).all(1)
        with np.errstate(invalid="ignore", over="ignore"):
            blown = loss > self.DIVERGENCE_FACTOR * np.maximum(1.0, np.nan_to_num(self._loss0, nan=1.0, posinf=1.0))
        new = active & ~self.diverged_ & (~np.isfinite(loss) | bad_w | blown)
        tc = self.train_cfg
        for b in np.flatnonzero(new):
            why = ("the weights became non-finite" if bad_w[b] else
                   "the loss became non-finite" if not np.isfinite(loss[b]) else
                   f"the loss {float(loss[b]):.4g} exceeded {self.DIVERGENCE_FACTOR:g} x its starting value")
            hint = f"lower training.lr (now {tc.lr:g})"
            hint += (f" or training.clip (now {tc.clip:g})" if tc.clip else ", or set training.clip (e.g. 1.0)")
            self.divergence_[b] = {"epoch": int(self.epoch_), "reason": why,
                                   "weights_from_epoch": int(self.epoch_) - 1, "try": hint}
            for k, v in self.params_.items():  # keep the last finite weights, stop the momentum
                v[b] = before[k][b]
                self.velocity_[k][b] = 0.0
        self.diverged_ |= new

    def _train_tick(self, active: np.ndarray) -> np.ndarray:
        task = self.task
        active = active & ~self.diverged_  # a diverged trial is frozen, keeping what it has
        before = {k: v.copy() for k, v in self.params_.items()}
        # runaway numbers are detected below (diverged()), not left to RuntimeWarnings
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            res = train_epoch(
                self.cfg, self.train_cfg, self.params_, self.velocity_,
                task.inputs, task.targets, task.mask, task.reset, active=active, moments=self.moments_,
                kernel=self.kernel,
            )
        self.epoch_ += 1
        self._check_divergence(res.loss, before, active)
        # the diverging epoch's loss is what it measured; its state is not shown (not finite)
        self._energy = np.where(active, res.loss, self._energy)
        keep = active & ~self.diverged_
        self.loss_history_.append(res.loss.copy())
        self.loss_per_step_ = res.loss_per_step
        self.hidden_trace_ = res.hidden
        self.output_trace_ = res.outputs
        self.grad_norm_ = res.grad_norm
        self.grad_norm_max_ = res.grad_norm_max
        self.update_norm_max_ = res.update_norm_max
        # Show the last step of the epoch in the state, so the viewer draws a meaningful picture.
        T = task.inputs.shape[1]
        shown = self.cfg.cell.shown_state(res.carry_next)
        last = np.concatenate(
            [task.inputs[:, T - 1], res.context[:, T - 1], res.hidden[:, T - 1], shown, res.outputs[:, T - 1]], 1
        )
        if self.cfg.cell.state_layer in self.layers and res.carry_after is not None:
            after = res.carry_after.reshape(-1, res.carry_after.shape[2])
            self.state_trace_ = self.cfg.cell.shown_state(after).reshape(self.batch_size, T, -1)
        if res.gates is not None and res.gates.shape[2]:
            self.gate_trace_ = res.gates
            self.gates_ = np.where(keep[:, None], res.gates[:, T - 1].reshape(self.batch_size, -1), self.gates_)
        self.state[keep] = last[keep]
        self._fresh[keep] = False
        changed = sum(
            (np.abs(self.params_[k] - before[k]).reshape(self.batch_size, -1) > self.tol).sum(1) for k in self.params_
        )
        return np.where(keep, changed, 0)

    def _dynamics_tick(self, active: np.ndarray) -> np.ndarray:
        cfg, p, L = self.cfg, self.params_, self.layers
        cell = cfg.cell
        task = self.task
        s = self.state
        h_old = s[:, L["hidden"]].copy()
        c_old = s[:, L["context"]]
        y_old = s[:, L["output"]]
        # next context from the current tick's activations (at the start: the context layer itself)
        sname = cell.state_layer if cell.state_layer in L else ""
        if sname:
            c = cell.advance(c_old, h_old, y_old, s[:, L[sname]])
        else:
            c = cell.advance(c_old, h_old, y_old)
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
        c_next, h, st = cell.step(p, x, c)
        h = np.where(self.clamped[:, L["hidden"]], h_old, h)
        z, y = cfg.readout(p, h)
        new = np.concatenate([x, c, h, cell.shown_state(c_next), y], 1)
        g = cell.gates(st)
        if g.shape[1]:
            self.gates_ = np.where(active[:, None], g.reshape(g.shape[0], -1), self.gates_)
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
            moments=self.moments_.copy(),
            t=self.t_,
            epoch=self.epoch_,
            mode=self.mode,
            energy=self._energy.copy(),
            fresh=self._fresh.copy(),
            n_history=len(self.loss_history_),
            diverged=self.diverged_.copy(),
            divergence=list(self.divergence_),
        )
        return snap

    def restore(self, snap: dict[str, Any]) -> None:
        super().restore(snap)
        for k in self.params_:
            self.params_[k][...] = snap["params"][k]
            self.velocity_[k][...] = snap["velocity"][k]
            self.moments_.v[k][...] = snap["moments"].v[k]
        self.moments_.t[...] = snap["moments"].t
        self.t_ = snap["t"]
        self.epoch_ = snap["epoch"]
        self.mode = snap["mode"]
        self._energy = snap["energy"].copy()
        self._fresh[...] = snap["fresh"]
        del self.loss_history_[snap["n_history"]:]
        self.diverged_[...] = snap["diverged"]
        self.divergence_ = list(snap["divergence"])

    # ----- description ---------------------------------------------------------------------------
    def trace_arrays(self) -> dict[str, np.ndarray]:
        """Saved with a trace: the last epoch's activations and loss at every time step,
        ``hidden`` (B, T, H), ``output`` (B, T, O), ``loss_per_step`` (B, T)."""
        out = {"hidden": self.hidden_trace_, "output": self.output_trace_, "loss_per_step": self.loss_per_step_}
        if self.gate_trace_.shape[2]:
            # gated cells: every gate at every step of the last epoch, (B, T, G, H), names in describe()
            out["gates"] = self.gate_trace_
        return out

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
        if self.cfg.cell.gate_names:
            d["gate_names"] = list(self.cfg.cell.gate_names)
        d.update(self.cfg.cell.describe())
        return d

    # ----- convenience ---------------------------------------------------------------------------
    def loss_profile(self) -> np.ndarray:
        """Mean last-epoch loss per task phase (e.g. bit position mod 3), shape (B, n_phases)."""
        return phase_profile(self.loss_per_step_, self.task)

    # ----- capabilities the viewer reads (see recurnet_sim.model.Model) ---------------------------
    @property
    def tick_unit(self) -> str:
        return "epoch" if self.mode == "train" else "step"

    def output_names(self) -> tuple[str, ...]:
        """What each output unit encodes (the task's names: letter features, symbols, bits), for
        bar labels instead of y0, y1, ..."""
        return tuple(self.task.output_names)

    def outcome(self, trial: int = 0) -> dict[str, Any]:
        """Decoded outputs against the targets, accuracy and solved (:mod:`.outcome`)."""
        from .outcome import srn_outcome
        return srn_outcome(self, trial)

    def current_target(self, trial: int = 0) -> np.ndarray | None:
        """The task's target for the output shown now, (n_out,): the last step of the sequence
        after a training epoch, the step just run in run mode; None in free mode (no target)."""
        if self.mode == "free":
            return None
        T = self.task.targets.shape[1]
        t = T - 1 if self.mode == "train" else (self.t_ - 1) % T
        return np.asarray(self.task.targets[trial, t], dtype=float)

    def weight_matrix(self, trial: int = 0) -> np.ndarray:
        """Trial ``trial``'s connections over (input, context, hidden, output), shape (N, N):
        W_xh, W_ch and W_hy, and the fixed copy of weight 1 into the context (from the hidden
        layer in an Elman net, from the output in a Jordan net)."""
        L, p = self.layers, self.params_
        cell = self.cfg.cell
        full = np.zeros((self.n_units, self.n_units))
        p1 = {k: v[trial: trial + 1] for k, v in p.items()}
        w_in, w_ctx = cell.connections(p1)  # gated cells: the candidate weights, before gating
        full[L["hidden"], L["input"]] = w_in[0]
        full[L["hidden"], L["context"]] = w_ctx[0]
        full[L["output"], L["hidden"]] = p["W_hy"][trial]
        src, ctx = (L["hidden"] if cell.hidden_in_carry is not None else L["output"]), L["context"]
        n = min(src.stop - src.start, ctx.stop - ctx.start)
        full[np.arange(ctx.start, ctx.start + n), np.arange(src.start, src.start + n)] = 1.0
        if cell.state_layer in L:  # the cell state is copied into the carry's memory part
            sl, mem = L[cell.state_layer], cell.memory_slice()
            m = sl.stop - sl.start
            full[np.arange(ctx.start + mem.start, ctx.start + mem.start + m), np.arange(sl.start, sl.stop)] = 1.0
        return full


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
# Scenario tables and building (shared by elman.py, jordan.py, lstm.py and gru.py)
# ======================================================================================
#: the network types whose cell is gated (their own sigmoid gates and tanh; no Jordan state units)
GATED_TYPES = ("lstm", "gru")

def scenario_tables_for(kind: str) -> dict:
    """Top-level scenario tables of one network type of the family (see :mod:`recurnet_sim.spec`).

    The four types share every key but their cell's own (Elman: ``recurrent_radius``; Jordan:
    ``mu``, ``training.teacher_forcing``; LSTM: ``forget_bias``, ``peepholes``), so one base
    scenario written with the shared keys runs as any of them (the batch key ``cell``)."""
    from ...spec import Field, Table
    from .tasks import TASKS

    elman = kind == "elman"
    gated = kind in GATED_TYPES
    net = {
        "type": Field("str", kind, "network family", choices=(kind,)),
        "hidden": Field("int", 8, "hidden units H", min=1, max=4096),
        "activation": Field("str", "tanh", "hidden activation" + (" (the gated cells have their own sigmoid gates "
                            "and tanh: ignored)" if gated else ""), choices=ACTIVATIONS),
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
    elif kind == "lstm":
        net["forget_bias"] = Field("float", 1.0, "initial bias of the forget gate (Gers, Schmidhuber & Cummins "
                                   "2000: positive keeps the carousel open)")
        net["peepholes"] = Field("bool", False, "gate connections from the cell state (Gers & Schmidhuber 2000)")
    elif not gated:
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
        "form": Field("str", "stream", "delayed_recall: a stream (the target at every step is the input lag steps "
                      "back) or episodes (Hochreiter & Schmidhuber 1997: a cue, lag - 1 distractors, recall the cue)",
                      choices=("stream", "episodes")),
        "episodes": Field("int", 50, "latch, adding, delayed_recall episodes: episodes per epoch (as many "
                          "held-out ones score the trained net)", min=1),
        "noise": Field("float", 0.2, "latch: std of the Gaussian noise after the informative first step", min=0),
        "success_accuracy": Field("float", 0.9, "summary: the net counts as solved when its held-out accuracy "
                                  "reaches this", min=0, max=1),
        "embedded": Field("bool", True, "reber: embedded grammar (long-range dependency)"),
        "n_bits": Field("int", 3, "flip_flop: input channels, each with an output holding its last pulse", min=1,
                        max=16),
        "pulse_prob": Field("float", 0.05, "flip_flop: probability of a pulse per channel and step", min=0.001,
                            max=1),
    }
    training = {
        "lr": Field("float", 0.1, "learning rate (adam: the step size alpha)", min=0),
        "optimizer": Field("str", "sgd", "sgd: SGD with momentum; adam: Adam (Kingma & Ba 2015)", choices=OPTIMIZERS),
        "momentum": Field("float", 0.9, "momentum coefficient (sgd)", min=0, max=0.999),
        "beta1": Field("float", 0.9, "adam: decay rate of the first-moment estimate", min=0, max=0.9999),
        "beta2": Field("float", 0.999, "adam: decay rate of the second-moment estimate", min=0, max=0.99999),
        "eps": Field("float", 1e-8, "adam: epsilon added to sqrt(v)", min=1e-12),
        "bptt": Field("str", "truncated", "full BPTT, truncated BPTT(h; h'), or Elman's one-step scheme",
                      choices=BPTT_MODES),
        "truncation": Field("int", 8, "h: steps the error is propagated back (truncated)", min=1),
        "update_every": Field("int", None, "h': steps between updates (default h; 1 for elman)", min=1,
                              nullable=True),
        "clip": Field("float", None, "clip the gradient norm to this value (Pascanu et al. 2013)", min=0,
                      nullable=True),
        "batch_episodes": Field("int", None, "episodic tasks (latch, adding, delayed_recall episodes): one update per "
                                "this many whole episodes, whatever the lag (truncated BPTT with h = h' = that many "
                                "episodes' steps; overrides truncation and update_every)", min=1, nullable=True),
        "pretrain_epochs": Field("int", 0, "epochs trained before tick 0 (the training phase; `recurnet validate` never trains)", min=0,
                                 max=10**7),
        "save_to": Field("str", None, "save the weights after pretraining to this .npz (relative to the "
                         "scenario)", nullable=True),
    }
    if kind == "jordan":
        training["teacher_forcing"] = Field("bool", True, "feed the target, not the output, into the state units")
    dynamics = {
        "mode": Field("str", "train", "a tick is a training epoch (train), a time step on the task "
                      "sequence (run) or a free-running step (free)", choices=MODES),
        "free_input": Field("str", "fixed" if kind == "jordan" else "output", "free: input = the output fed back, its "
                            "one-hot argmax, or held fixed", choices=FREE_INPUTS),
        "tol": Field("float", 1e-6, "a unit (or weight, in train) 'changed' if it moved more than this", min=0),
        "round_decimals": Field("int", 8, "decimals of the state compared by cycle detection", min=1, max=15),
        # the common key (spec.KERNEL_FIELD), with what it means here: not bit for bit
        "kernel": Field("str", "compiled", "training epoch: compiled (numba, cached after the first run; numpy "
                        "when numba is missing; sums in index order, the same on every machine) or numpy (the "
                        "reference, BLAS); one epoch agrees to ~1e-14 relative, many epochs of chaotic training "
                        "can amplify that", choices=("numpy", "compiled")),
    }
    initial = {
        "weights": Field("str", None, "load trained weights from this .npz (relative to the scenario)",
                         nullable=True),
    }
    analysis = {
        "max_lag": Field("int", 20, "summary: gradient norm at lags 0..max_lag (0 = off)", min=0),
        "lyapunov": Field("bool", False, "summary: largest Lyapunov exponent of the free-running net"),
        "reference": Field("str", "none", "summary and viewer: also the gradient-vs-lag curve of an untrained "
                           "network of this cell, same size and task input (a run holds one cell type)",
                           choices=("none",) + ("elman", "jordan", "lstm", "gru")),
        "lyapunov_steps": Field("int", 500, "steps averaged for the Lyapunov exponent", min=10),
        "fixed_points": Field("bool", False, "summary: fixed and slow points of the carry dynamics with the input "
                              "held fixed, classified by the Jacobian's eigenvalues (Sussillo & Barak 2013)"),
        "fixed_points_input": Field("str", "zero", "the input held fixed: zero, or the task's first input (a plan)",
                                    choices=("zero", "first")),
        "fixed_points_starts": Field("int", 256, "fixed points: starts, drawn from the states visited on the task "
                                     "sequence", min=1, max=100000),
        "fixed_points_noise": Field("float", 0.5, "fixed points: std of the Gaussian noise added to each start "
                                    "(larger reaches the saddles between the attractors)", min=0),
    }
    name = {"elman": "Elman (1990) simple recurrent network", "jordan": "Jordan (1986) network",
            "lstm": "LSTM (Hochreiter & Schmidhuber 1997; forget gate: Gers et al. 2000)",
            "gru": "GRU (Cho et al. 2014)"}[kind]
    return {
        "network": Field("table", None, "the network", table=Table(net, f"The {name}.")),
        "task": Field("table", None, "the sequence task", table=Table(task, "Task generators in recurnet_sim.families.srn.tasks.")),
        "training": Field("table", None, "BPTT and SGD or Adam", table=Table(training, "Training by BPTT with SGD and momentum, or Adam.")),
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
        if name == "delayed_recall" and tcfg["form"] == "episodes":
            return T.recall_episodes(rngs, tcfg["lag"], tcfg["episodes"], tcfg["n_symbols"])
        if name == "delayed_recall":
            return T.delayed_recall(rngs, tcfg["length"], tcfg["lag"], tcfg["n_symbols"])
        if name == "latch":
            return T.latch(rngs, tcfg["lag"], tcfg["episodes"], tcfg["noise"])
        if name == "adding":
            return T.adding(rngs, tcfg["lag"], tcfg["episodes"])
        if name == "sequence":
            seqs = T.load_sequences(path) if path is not None else tcfg["sequences"]
            return T.sequence_production(rngs, seqs, tcfg["repeats"])
        if name == "flip_flop":
            return T.flip_flop(rngs, tcfg["length"], tcfg["n_bits"], tcfg["pulse_prob"])
        if name == "text":
            if path is None:
                raise ValueError("the text task needs task.file")
            return T.text_prediction(rngs, T.load_sequence(path))
    except TraceFileError as e:
        raise ValidationError("task.file", str(e)) from None
    except ValueError as e:
        raise ValidationError("task", str(e)) from None
    raise ValidationError("task.name", f"unknown task {name!r}")


def task_config(kind: str, task, n_hidden: int, **cfg_kw) -> SRNConfig:
    """The :class:`SRNConfig` of a ``kind`` network sized for ``task`` (its inputs, outputs, and by
    default its output function and loss), for the Python ``make`` shortcuts of every network type;
    ``cfg_kw`` sets any other field (``mu``, ``forget_bias``...)."""
    cfg_kw.setdefault("output", task.output)
    cfg_kw.setdefault("loss", task.loss if cfg_kw["output"] == task.output else None)
    return SRNConfig(kind=kind, n_in=task.n_in, n_hidden=n_hidden, n_out=task.n_out, **cfg_kw)


def build_model(kind: str, cfg: dict, batch_size: int, rngs, base_dir, cls=None) -> SRNModel:
    """Build a model of network type ``kind`` from a validated scenario config (see ``scenario_tables_for``)."""
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
            context_init=net["context_init"], forget_bias=net.get("forget_bias", 1.0),
            peepholes=net.get("peepholes", False),
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
        nb = params["W_hy"].shape[0]
        if nb != 1 and nb < batch_size:
            raise ValidationError("initial.weights", f"{wpath.name} holds {nb} trials; the run has {batch_size} "
                                  "(a file of one trial is shared by all; a file of more trials gives its first ones)")
        # One trained net is shared by every trial; a file of B' >= B trials gives trial b its net b.
        params = {k: np.repeat(v, batch_size, axis=0) if nb == 1 else v[:batch_size] for k, v in params.items()}
        # The file's architecture wins (activation, output, mu); the run's teacher forcing stays.
        scfg = replace(fcfg, teacher_forcing=scfg.teacher_forcing)
    else:
        params = init_params(scfg, rngs, net["init_scale"], net.get("recurrent_radius"))
    bptt, trunc, every = tr["bptt"], tr["truncation"], tr["update_every"]
    if tr["batch_episodes"] is not None:
        if task.reset is None or getattr(task, "test", None) is None:
            raise ValidationError("training.batch_episodes", f"needs an episodic task (latch, adding, delayed_recall "
                                  f"with form = 'episodes'), not {cfg['task']['name']!r}")
        # episodes start where the carry is reset: a window of whole episodes sees every cue it scores
        bptt, trunc = "truncated", int(tr["batch_episodes"]) * (int(cfg["task"]["lag"]) + 1)
        every = trunc
    try:
        tcfg = TrainConfig(
            lr=tr["lr"], momentum=tr["momentum"], bptt=bptt, truncation=trunc,
            update_every=every, clip=tr["clip"], optimizer=tr["optimizer"], beta1=tr["beta1"],
            beta2=tr["beta2"], eps=tr["eps"],
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
                              round_decimals=dyn["round_decimals"], kernel=dyn.get("kernel"))
    if not tr["pretrain_epochs"]:
        _enter_dynamics(model, dyn["mode"])
    # else: the model stays in train mode until the family's train step (pretraining) finishes
    model.dynamics_mode = dyn["mode"]  # the mode after any pretraining (the viewer's main panel)
    model.analysis = dict(cfg["analysis"])
    model.analysis["success_accuracy"] = cfg["task"]["success_accuracy"]
    model.task_lag = cfg["task"]["lag"] if getattr(task, "score", "") else 0
    return model


def _enter_dynamics(model: SRNModel, mode: str) -> None:
    model.mode = mode
    if mode != "train":
        model.start()  # run/free begin at the start of the sequence, from the (pre)trained weights


def pretraining(model: SRNModel, cfg: dict, build_rng=None, base_dir=".") -> TrainingRun | None:
    """The family's ``train`` step: ``training.pretrain_epochs`` epochs before tick 0.

    Each ``next()`` of the ticks trains one epoch (BPTT with the scenario's ``[training]``) and
    yields ``{"loss": mean loss over the trials}``. ``finish`` resets the momentum and puts the
    model in the scenario's ``dynamics.mode`` (run/free start at the beginning of the sequence);
    ``training.save_to`` is written afterwards through the atomic writer. None when the scenario
    pretrains nothing (then :func:`build_model` already left the model in its mode).
    """
    tr, dyn = cfg["training"], cfg["dynamics"]
    epochs = int(tr["pretrain_epochs"])
    if not epochs:
        return None

    def ticks():
        model.mode = "train"
        for _ in range(epochs):
            model.step(None, ~model.diverged_)
            E = model.energy()
            ok = np.isfinite(E)
            info = {"loss": float(E[ok].mean()) if ok.any() else None}
            if model.diverged_.any():
                info["diverged"] = int(model.diverged_.sum())
            yield info

    def finish():
        model.velocity_ = {k: np.zeros_like(v) for k, v in model.params_.items()}
        model.moments_ = AdamMoments.zeros_like(model.params_)
        _enter_dynamics(model, dyn["mode"])

    outputs = ()
    if tr["save_to"]:
        outputs = (Output(weights_path(pathlib.Path(base_dir) / tr["save_to"]), lambda p: save_model(p, model),
                          "training.save_to"),)
    return TrainingRun(ticks=ticks(), total=epochs, unit="epoch", label="loss", finish=finish, outputs=outputs)


#: the summary reports ``saturated_fraction`` (and a ``saturation`` hint) when at least this share
#: of the last epoch's hidden activations sit within 1 % of their bound *and* the loss is no lower
#: than before training: a learning rate so large that the hidden units are pinned, their
#: derivative vanishes and learning stalls without any number running away. (A trained tanh net
#: solving a binary task may well be saturated; then its loss fell, and nothing is reported.)
SATURATION_REPORTED = 0.5


def saturated_fraction(model: SRNModel, b: int) -> float | None:
    """Share of trial b's hidden activations over the last epoch (``hidden_trace_`` (B, T, H)) within
    1 % of the bound of a bounded unit (tanh and the gated cells' h in (-1, 1); sigmoid in (0, 1));
    None for unbounded units (relu, linear) or before any epoch."""
    Hs = model.hidden_trace_[b]
    if not Hs.size:
        return None
    act = model.cfg.activation
    if not model.cfg.cell.gate_names and act not in ("tanh", "sigmoid"):
        return None
    h = 2.0 * Hs - 1.0 if (act == "sigmoid" and not model.cfg.cell.gate_names) else Hs
    with np.errstate(invalid="ignore"):
        return float(np.mean(np.abs(h) >= 0.99))


#: Above this hidden size the end-of-run summary skips its eigenvalue/rank analyses (and says so).
SUMMARY_ANALYSIS_MAX_HIDDEN = 256


def summary_for(model: SRNModel, b: int) -> dict:
    """Extra JSON fields of trial b: final loss, loss per task phase, gradient flow."""
    from ...analysis import gradflow

    out: dict[str, Any] = {"mode": model.mode, "epochs": int(model.epoch_)}
    if model.divergence_[b] is not None:
        d = model.divergence_[b]
        out["diverged_at_epoch"] = d["epoch"]
        out["divergence"] = (f"{d['reason']}; the weights kept are those after epoch {d['weights_from_epoch']}; "
                             f"try: {d['try']}")
    task = model.task
    if model.loss_per_step_.shape[1]:
        prof = model.loss_profile()[b]
        out["loss_per_phase"] = {n: (None if np.isnan(v) else float(v)) for n, v in zip(task.phase_names, prof)}
        out["final_loss"] = float(model.loss_history_[-1][b]) if model.loss_history_ else None
        out["grad_norm"] = float(model.grad_norm_[b])
        sat = saturated_fraction(model, b)
        L, L0 = model.loss_history_[-1][b] if model.loss_history_ else np.nan, model._loss0[b]
        if sat is not None and sat >= SATURATION_REPORTED and not L < L0:
            out["saturated_fraction"] = sat
            out["saturation"] = (f"{sat:.0%} of the hidden activations are pinned at their bounds and the loss is "
                                 f"no lower than before training: try a lower training.lr (now {model.train_cfg.lr:g})")
    p1 = {k: v[b: b + 1] for k, v in model.params_.items()}
    cfg = model.cfg
    if cfg.n_hidden > SUMMARY_ANALYSIS_MAX_HIDDEN:
        # The analyses below take eigenvalues and ranks of H x H matrices, once per lag of the
        # gradient report: ~15 s at H = 512, growing as H^3 per call (hours at the allowed 4096).
        est = 15.0 * (cfg.n_hidden / 512) ** 3
        out["analysis_skipped"] = (f"hidden size {cfg.n_hidden} > {SUMMARY_ANALYSIS_MAX_HIDDEN}: spectral radius, "
                                   f"Kalman ranks, gradient flow vs lag, Lyapunov exponent and fixed points not "
                                   f"computed (est. {est:.0f} s; their cost grows as H^3 per lag)")
        out.update(_learned_vs_chance(model, b, p1))
        return out
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
    out.update(_learned_vs_chance(model, b, p1))
    ref = reference_curve(model, b)
    if ref is not None:
        out["reference_cell"] = an.get("reference")
        out["reference_grad_norm_vs_lag"] = [float(v) for v in ref]
    if cfg.cell.gate_names and K > 0 and X.shape[1] >= K:
        # the memory path alone (LSTM: prod f over the last K steps), beside the full gradient
        cec = gradflow.carousel_vs_lag(cfg, p1, X[:, :max(K, min(X.shape[1], 4 * K))], K)
        if cec is not None:
            out["carousel_gain_vs_lag"] = [float(v) for v in cec[0].mean(1)]
        G = gradflow.gates_over_time(cfg, p1, X[:, : min(X.shape[1], 400)])
        out["gate_means"] = {n: float(G[0, :, k].mean()) for k, n in enumerate(cfg.cell.gate_names)}
    if an.get("lyapunov"):
        rng = np.random.default_rng(b)  # analysis only: does not touch the run's streams
        # the output can be fed back only where the carry holds the hidden state it is read from
        feedable = cfg.cell.hidden_in_carry is not None and cfg.n_in == cfg.n_out
        feed = "output" if (model.free_input == "output" and feedable) else "fixed"
        lam = gradflow.lyapunov_exponent(cfg, p1, X[:, 0], [rng], steps=int(an.get("lyapunov_steps", 500)), feed=feed)
        out["lyapunov_exponent"] = float(lam[0])
    if an.get("fixed_points"):
        out.update(fixed_point_summary(model, b))
    return out


def reference_curve(model: SRNModel, b: int) -> np.ndarray | None:
    """||dL/dh_{t-k}|| (k = 0..max_lag) of an *untrained* network of the cell ``[analysis]
    reference``, of the same size, drawn from a generator seeded by the trial index (analysis only:
    the run's streams are untouched), over the trial's task input; None without a reference.
    One run holds one cell type, so this is the honest closest to two cells side by side: the
    trained comparison is the batch experiment srn_memory_span."""
    from ...analysis import gradflow

    an = getattr(model, "analysis", {}) or {}
    kind = an.get("reference", "none")
    K = int(an.get("max_lag", 0))
    X = model.task.inputs[b: b + 1]
    if kind in (None, "none") or K < 1 or X.shape[1] < K + 1:
        return None
    cfg = replace(model.cfg, kind=kind, context_init=0.5 if kind == "elman" else 0.0, teacher_forcing=False)
    p = init_params(cfg, [np.random.default_rng(b)])
    return gradflow.grad_norm_vs_lag(cfg, p, X[:, : max(K + 1, min(X.shape[1], 4 * K))], K)[0]


def _learned_vs_chance(model: SRNModel, b: int, p1: dict) -> dict:
    """The learned score beside random guessing, for tasks that have a score: held-out accuracy and
    loss of the final weights, the chance levels, ``solved`` (accuracy >= task.success_accuracy),
    and the gradient ratio ||dL/dh_{t-lag}|| / ||dL/dh_t|| at the task's lag (log10)."""
    from ...analysis import gradflow
    from .tasks import accuracy

    task = model.task
    if not getattr(task, "score", ""):
        return {}
    test = task.test if task.test is not None else task
    sl = slice(b, b + 1)
    cfg = model.cfg
    cache = forward(cfg, p1, test.inputs[sl], cfg.cell.carry0(1), test.targets[sl],
                    None if test.reset is None else test.reset[sl])
    L, _, _ = objective(cfg, cache, test.targets[sl], test.mask[sl])
    # a score on test[sl] needs the trial's rows of the task
    D, M = test.targets[sl], test.mask[sl]
    sub = type(test)(test.name, test.inputs[sl], D, M, None, test.phase[sl], test.phase_names, test.input_names,
                     test.output_names, score=test.score, tolerance=test.tolerance)
    acc = accuracy(sub, cache.Y)
    an = getattr(model, "analysis", {}) or {}
    out = {"test_accuracy": float(acc[0]), "chance_accuracy": task.chance_accuracy, "test_loss": float(L[0]),
           "chance_loss": task.chance_loss,
           "solved": bool(acc[0] >= float(an.get("success_accuracy", 0.9)))}
    lag = int(getattr(model, "task_lag", 0) or 0)
    if lag > 0 and test.inputs.shape[1] >= lag + 1:
        g = gradflow.grad_norm_vs_lag(cfg, p1, test.inputs[sl, :lag + 1], lag)[0]
        with np.errstate(divide="ignore"):
            r = float(np.log10(max(g[-1], 1e-300) / max(g[0], 1e-300)))
        out["grad_log10_at_lag"] = r
    return out


def fixed_point_summary(model: SRNModel, b: int) -> dict:
    """Trial b's fixed and slow points (:func:`recurnet_sim.analysis.fixedpoints.find_fixed_points`)
    from the states visited on its task sequence, with the scenario's ``[analysis]`` settings: the
    counts by kind and a list of at most 16 points (q, kind, stable, n_unstable, output)."""
    return fixed_point_report(model, b).summary(max_listed=16)


def fixed_point_report(model: SRNModel, b: int):
    """The :class:`~recurnet_sim.analysis.fixedpoints.FixedPointReport` of trial b (summary and viewer)."""
    from ...analysis import fixedpoints

    an = getattr(model, "analysis", {}) or {}
    task = model.task
    p1 = {k: v[b: b + 1] for k, v in model.params_.items()}
    x = task.inputs[b, 0] if an.get("fixed_points_input") == "first" else None
    return fixedpoints.find_fixed_points(
        model.cfg, p1, task.inputs[b], x=x, D=task.targets[b],
        reset=None if task.reset is None else task.reset[b],
        n_starts=int(an.get("fixed_points_starts", 256)), noise=float(an.get("fixed_points_noise", 0.5)),
        rng=np.random.default_rng(b))  # analysis only: does not touch the run's streams
