"""Bidirectional associative memory (Kosko 1988): two layers, W and W^T, stable pairs.

``FAMILY`` declares everything the rest of recurnet_sim needs; the model is in :mod:`.model`.
"""
from __future__ import annotations

from ...family import Example, Family, lazy
from .batch import DERIVED_KEYS


FAMILY = Family(
    name="bam",
    network_types=("bam",),
    titles={"bam": "BAM"},
    tables=lazy(f"{__name__}.model", "scenario_tables"),
    build=lazy(f"{__name__}.model", "build"),
    summary=lazy(f"{__name__}.outcome", "summary"),  # the model's summary plus "outcome"
    view=lazy(f"{__name__}.view", "layout"),
    summary_hidden=("outcome", "target", "overlaps_x", "overlaps_y", "target_overlap_x", "target_overlap_y"),
    save_weights=lazy(f"{__name__}.model", "save_weights"),
    derived_keys=DERIVED_KEYS,
    state_space=lazy(f"{__name__}.statespace", "state_space"),
    examples={"bam": Example("bam_letters")},
)
