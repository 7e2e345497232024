"""Boltzmann machines (Ackley, Hinton & Sejnowski 1985) and RBMs: stochastic units, annealing,
learning from equilibrium statistics.

``FAMILY`` declares everything the rest of recurnet_sim needs; the model and its learning rules
are in :mod:`.model`.
"""
from __future__ import annotations

from ...family import Example, Family, lazy

FAMILY = Family(
    name="boltzmann",
    network_types=("boltzmann",),
    titles={"boltzmann": "Boltzmann machine"},
    tables=lazy(f"{__name__}.model", "scenario_tables"),
    build=lazy(f"{__name__}.model", "build"),
    train=lazy(f"{__name__}.model", "train"),
    summary=lazy(f"{__name__}.outcome", "summary"),  # the model's summary plus "outcome"
    summary_hidden=("outcome",),
    view=lazy(f"{__name__}.view", "layout"),
    save_weights=lazy(f"{__name__}.model", "save_weights"),
    examples={"boltzmann": Example("boltzmann_encoder", {"training.cycles": 2})},
)
