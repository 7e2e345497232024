"""What the live viewer draws for a Hopfield network: the units in the stored patterns' shape.

The declaration is :func:`recurnet_sim.viewspec.default_layout` (one grid block, the two unit
values, overlap bars) plus the update schedule the attractor view enumerates.
"""
from __future__ import annotations

from dataclasses import replace

from ...model import Schedule
from ...viewspec import OverlapTracePanel, ViewLayout, default_layout


def _attractor_schedule(model) -> str:
    # synchronous (Little 1974) updates are a map on states; every other order is asynchronous
    # (the modern net has no schedule: its one update is synchronous)
    return "sync" if getattr(model, "schedule", Schedule.SYNCHRONOUS) == Schedule.SYNCHRONOUS else "async"


def _target(model, trial: int) -> int | None:
    # the pattern the scenario's cue was made from (initial.kind = "pattern"), else none
    t = getattr(model, "target", None)
    return None if t is None else int(t[trial])


def layout(model) -> ViewLayout:
    """The Hopfield view: all N units as one grid in ``grid_shape`` (near-square without one);
    the main panel is the overlap with the stored patterns over the ticks (recall, failure,
    reversed, mixture or spurious states, a 2-cycle's alternation and its period)."""
    return replace(default_layout(model), attractor_schedule=_attractor_schedule,
                   main=OverlapTracePanel(target=_target))
