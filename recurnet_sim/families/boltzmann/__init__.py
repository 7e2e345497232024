"""Boltzmann machines (Ackley, Hinton & Sejnowski 1985) and RBMs: stochastic units, annealing,
learning from equilibrium statistics.

``FAMILY`` declares everything the rest of recurnet_sim needs; the model and its learning rules
are in :mod:`.model`.
"""
from __future__ import annotations

from ...family import Example, Family


def _build(*args, **kw):
    from .model import build
    return build(*args, **kw)


def _tables(network_type: str):
    from .model import scenario_tables
    return scenario_tables()


def _train(model, cfg, build_rng, base_dir):
    from .model import train
    return train(model, cfg, build_rng, base_dir)


def _summary(model, b):
    from .model import summary
    return summary(model, b)


def _save_weights(path, model):
    from .model import save_weights
    save_weights(path, model)


def _view(model):
    from .view import layout
    return layout(model)


FAMILY = Family(
    name="boltzmann",
    network_types=("boltzmann",),
    titles={"boltzmann": "Boltzmann machine"},
    tables=_tables,
    build=_build,
    train=_train,
    summary=_summary,
    view=_view,
    save_weights=_save_weights,
    examples={"boltzmann": Example("boltzmann_encoder", {"training.cycles": 2})},
)
