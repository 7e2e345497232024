"""Bidirectional associative memory (Kosko 1988): two layers, W and W^T, stable pairs.

``FAMILY`` declares everything the rest of recurnet_sim needs; the model is in :mod:`.model`.
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


def _save_weights(path, model):
    from .model import save_weights
    save_weights(path, model)


def _view(model):
    from .view import layout
    return layout(model)


def _state_space(model, schedule, trial):
    from .statespace import state_space
    return state_space(model, schedule, trial)


FAMILY = Family(
    name="bam",
    network_types=("bam",),
    titles={"bam": "BAM"},
    tables=_tables,
    build=_build,
    summary=_summary,
    view=_view,
    summary_hidden=("target", "overlaps_x", "overlaps_y", "target_overlap_x", "target_overlap_y"),
    save_weights=_save_weights,
    derived_keys=DERIVED_KEYS,
    state_space=_state_space,
    examples={"bam": Example("bam_letters")},
)
