"""Elman (1990) simple recurrent network: the context is a copy of the hidden layer at t-1.

Elman, J. L. (1990). Finding structure in time. *Cognitive Science* 14, 179-211. The context units
receive the hidden activations through fixed weights of 1 and start at 0.5; everything else
(forward pass, BPTT, the one-step scheme, SGD, clipping, weights files) is in
:mod:`.bptt` and :mod:`.model`, shared with the Jordan network; the cell is :class:`.cells.ElmanCell`.
"""
from __future__ import annotations

import pathlib

import numpy as np

from . import model as srn
from .model import DEFAULT_RECORD_ATTRIBUTES, SRNConfig, SRNModel, TrainConfig, train  # noqa: F401  (public API)
from .model import save_model as save_weights  # noqa: F401  (save_weights(path, model), as every family)
from .model import summary_for as summary  # noqa: F401  (extra result fields of trial b)


class ElmanNetwork(SRNModel):
    """A batch of Elman networks (see :class:`.model.SRNModel` for the modes)."""

    network_type = "elman"


def make(task, n_hidden: int, rngs, activation: str = "tanh", train_cfg: TrainConfig | None = None,
         init_scale: float = 1.0, recurrent_radius: float | None = None, **cfg_kw) -> ElmanNetwork:
    """Python shortcut: an Elman network sized for ``task`` (a :class:`recurnet_sim.families.srn.tasks.Task`)."""
    cfg = srn.task_config("elman", task, n_hidden, activation=activation, **cfg_kw)
    return ElmanNetwork(cfg, srn.init_params(cfg, rngs, init_scale, recurrent_radius), task, train_cfg)


def scenario_tables():
    """Top-level tables of an Elman scenario: network, task, training, dynamics, initial, analysis."""
    return srn.scenario_tables_for("elman")


def build(cfg: dict, batch_size: int, rngs: list[np.random.Generator], base_dir: pathlib.Path,
          build_rng: np.random.Generator | None = None, first_trial: int = 0) -> ElmanNetwork:
    """Build the model of a validated Elman scenario config (pure: pre-training is the family's train step)."""
    return srn.build_model("elman", cfg, batch_size, rngs, base_dir, cls=ElmanNetwork)
