"""Hopfield networks (Hopfield 1982): binary units, symmetric weights, energy descent.

``FAMILY`` declares everything the rest of recurnet_sim needs; the model and its learning rules
are in :mod:`.model`.
"""
from __future__ import annotations

from ...family import Example, Family
from .batch import DERIVED_KEYS


def _build(*args, **kw):
    from .model import build
    return build(*args, **kw)


def _tables(network_type: str):
    from .model import scenario_tables
    return scenario_tables()


def _summary(model, b):
    from .model import summary
    return summary(model, b)


def _view(model):
    from .view import layout
    return layout(model)


def _state_space(model, schedule, trial):
    from .statespace import state_space
    return state_space(model, schedule, trial)


FAMILY = Family(
    name="hopfield",
    network_types=("hopfield",),
    titles={"hopfield": "Hopfield network"},
    tables=_tables,
    build=_build,
    summary=_summary,
    view=_view,
    summary_hidden=("n_units", "n_patterns", "schedule", "target"),
    derived_keys=DERIVED_KEYS,
    state_space=_state_space,
    examples={"hopfield": Example("hopfield_letters")},
)
