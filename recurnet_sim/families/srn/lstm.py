"""Long short-term memory (Hochreiter & Schmidhuber 1997) with a forget gate (Gers, Schmidhuber &
Cummins 2000) and optional peepholes (Gers & Schmidhuber 2000).

Hochreiter, S. & Schmidhuber, J. (1997). Long short-term memory. *Neural Computation* 9,
1735-1780. The cell state c_t = f_t c_{t-1} + i_t g_t is the constant error carousel: errors flow
back through it multiplied by the forget gates only, so they need not vanish with the lag. The
cell is :class:`.cells.LSTMCell`; everything else (BPTT, the one-step scheme, SGD, clipping,
weights files, the scenario tables) is shared with the Elman and Jordan networks in :mod:`.bptt`
and :mod:`.model`. A running LSTM shows its cell state as the layer ``cell`` (the context layer
holds the carry (h_{t-1}, c_{t-1}) the shown step started from).
"""
from __future__ import annotations

import pathlib

import numpy as np

from . import model as srn
from .model import SRNModel, TrainConfig


class LSTMNetwork(SRNModel):
    """A batch of LSTM networks (see :class:`.model.SRNModel` for the modes)."""

    network_type = "lstm"


def make(task, n_hidden: int, rngs, train_cfg: TrainConfig | None = None, init_scale: float = 1.0,
         forget_bias: float = 1.0, peepholes: bool = False, **cfg_kw) -> LSTMNetwork:
    """Python shortcut: an LSTM network sized for ``task`` (a :class:`recurnet_sim.families.srn.tasks.Task`)."""
    cfg_kw.setdefault("context_init", 0.0)
    cfg = srn.task_config("lstm", task, n_hidden, forget_bias=forget_bias, peepholes=peepholes, **cfg_kw)
    return LSTMNetwork(cfg, srn.init_params(cfg, rngs, init_scale), task, train_cfg)


def scenario_tables():
    """Top-level tables of an LSTM scenario: network, task, training, dynamics, initial, analysis."""
    return srn.scenario_tables_for("lstm")


def build(cfg: dict, batch_size: int, rngs: list[np.random.Generator], base_dir: pathlib.Path,
          build_rng: np.random.Generator | None = None, first_trial: int = 0) -> LSTMNetwork:
    """Build the model of a validated LSTM scenario config (pure: pre-training is the family's train step)."""
    return srn.build_model("lstm", cfg, batch_size, rngs, base_dir, cls=LSTMNetwork)
