"""Hopfield networks (Hopfield 1982): binary units, symmetric weights, energy descent; dense
associative memories (Krotov & Hopfield 2016, :mod:`.dense`) and the continuous modern Hopfield
network (Ramsauer et al. 2020, :mod:`.modern`, network type ``modern_hopfield``).

``FAMILY`` declares everything the rest of recurnet_sim needs; the model and its learning rules
are in :mod:`.model`.
"""
from __future__ import annotations

from ...family import Example, Family, lazy
from .batch import DERIVED_KEYS


FAMILY = Family(
    name="hopfield",
    network_types=("hopfield", "modern_hopfield"),
    titles={"hopfield": "Hopfield network", "modern_hopfield": "Modern Hopfield network"},
    tables=lazy(f"{__name__}.dispatch", "tables"),
    build=lazy(f"{__name__}.dispatch", "build"),
    summary=lazy(f"{__name__}.outcome", "summary"),  # the dispatch summary plus "outcome"
    view=lazy(f"{__name__}.view", "layout"),
    summary_hidden=("n_units", "n_patterns", "schedule", "target", "outcome"),
    derived_keys=DERIVED_KEYS,
    state_space=lazy(f"{__name__}.dispatch", "state_space"),
    examples={"hopfield": Example("hopfield_letters"), "modern_hopfield": Example("modern_hopfield_beta_large")},
)
