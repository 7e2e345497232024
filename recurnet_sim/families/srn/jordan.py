"""Jordan (1986) network: state units s_{t+1} = mu s_t + y_t fed by the output, plan as input.

Jordan, M. I. (1986). Serial order: a parallel distributed processing approach. ICS report 8604.
The state units decay with mu and add the output (or, with teacher forcing, the target); the plan is a
constant input. Everything else
(forward pass, BPTT, the one-step scheme, SGD, clipping, weights files) is in
:mod:`.bptt` and :mod:`.model`, shared with the Elman network; the cell is :class:`.cells.JordanCell`.
"""
from __future__ import annotations

import pathlib

import numpy as np

from . import model as srn
from .model import DEFAULT_RECORD_ATTRIBUTES, SRNConfig, SRNModel, TrainConfig, train  # noqa: F401  (public API)
from .model import save_model as save_weights  # noqa: F401  (save_weights(path, model), as every family)
from .model import summary_for as summary  # noqa: F401  (extra result fields of trial b)


class JordanNetwork(SRNModel):
    """A batch of Jordan networks (see :class:`.model.SRNModel` for the modes)."""

    network_type = "jordan"


def make(task, n_hidden: int, rngs, activation: str = "tanh", train_cfg: TrainConfig | None = None,
         init_scale: float = 1.0, mu: float = 0.5, teacher_forcing: bool = True, **cfg_kw) -> JordanNetwork:
    """Python shortcut: a Jordan network sized for ``task`` (a :class:`recurnet_sim.families.srn.tasks.Task`; its inputs are the plan units)."""
    cfg_kw.setdefault("context_init", 0.0)
    cfg = srn.task_config("jordan", task, n_hidden, activation=activation, mu=mu, teacher_forcing=teacher_forcing,
                          **cfg_kw)
    return JordanNetwork(cfg, srn.init_params(cfg, rngs, init_scale), task, train_cfg)


def scenario_tables():
    """Top-level tables of a Jordan scenario: network, task, training, dynamics, initial, analysis."""
    return srn.scenario_tables_for("jordan")


def build(cfg: dict, batch_size: int, rngs: list[np.random.Generator], base_dir: pathlib.Path,
          build_rng: np.random.Generator | None = None, first_trial: int = 0) -> JordanNetwork:
    """Build the model of a validated Jordan scenario config (pure: pre-training is the family's train step)."""
    return srn.build_model("jordan", cfg, batch_size, rngs, base_dir, cls=JordanNetwork)
