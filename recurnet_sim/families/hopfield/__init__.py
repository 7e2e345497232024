"""Hopfield networks (Hopfield 1982): binary units, symmetric weights, energy descent.

``FAMILY`` declares everything the rest of recurnet_sim needs; the model and its learning rules
are in :mod:`.model`.
"""
from __future__ import annotations

from ...family import Example, Family, lazy
from .batch import DERIVED_KEYS


FAMILY = Family(
    name="hopfield",
    network_types=("hopfield",),
    titles={"hopfield": "Hopfield network"},
    tables=lazy(f"{__name__}.model", "scenario_tables"),
    build=lazy(f"{__name__}.model", "build"),
    summary=lazy(f"{__name__}.model", "summary"),
    view=lazy(f"{__name__}.view", "layout"),
    summary_hidden=("n_units", "n_patterns", "schedule", "target"),
    derived_keys=DERIVED_KEYS,
    state_space=lazy(f"{__name__}.statespace", "state_space"),
    examples={"hopfield": Example("hopfield_letters")},
)
