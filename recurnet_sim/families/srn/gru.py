"""Gated recurrent unit (Cho et al. 2014), in Cho's form h_t = z_t h_{t-1} + (1 - z_t) g_t.

Cho, K., van Merrienboer, B., Gulcehre, C., Bahdanau, D., Bougares, F., Schwenk, H. & Bengio, Y.
(2014). Learning phrase representations using RNN encoder-decoder for statistical machine
translation. *EMNLP*. The update gate z interpolates between keeping the hidden state and the
candidate: where z ~ 1 the error flows back unchanged, an additive path like the LSTM's
carousel. The cell is :class:`.cells.GRUCell`; everything else is shared (:mod:`.bptt`,
:mod:`.model`). Its carry is h, as Elman's.
"""
from __future__ import annotations

import pathlib

import numpy as np

from . import model as srn
from .model import SRNModel, TrainConfig


class GRUNetwork(SRNModel):
    """A batch of GRU networks (see :class:`.model.SRNModel` for the modes)."""

    network_type = "gru"


def make(task, n_hidden: int, rngs, train_cfg: TrainConfig | None = None, init_scale: float = 1.0,
         **cfg_kw) -> GRUNetwork:
    """Python shortcut: a GRU network sized for ``task`` (a :class:`recurnet_sim.families.srn.tasks.Task`)."""
    cfg_kw.setdefault("context_init", 0.0)
    cfg = srn.task_config("gru", task, n_hidden, **cfg_kw)
    return GRUNetwork(cfg, srn.init_params(cfg, rngs, init_scale), task, train_cfg)


def scenario_tables():
    """Top-level tables of a GRU scenario: network, task, training, dynamics, initial, analysis."""
    return srn.scenario_tables_for("gru")


def build(cfg: dict, batch_size: int, rngs: list[np.random.Generator], base_dir: pathlib.Path,
          build_rng: np.random.Generator | None = None, first_trial: int = 0) -> GRUNetwork:
    """Build the model of a validated GRU scenario config (pure: pre-training is the family's train step)."""
    return srn.build_model("gru", cfg, batch_size, rngs, base_dir, cls=GRUNetwork)
