"""Derived batch keys of Hopfield experiments (see :attr:`recurnet_sim.family.Family.derived_keys`)."""
from __future__ import annotations

from ...errors import ValidationError
from ...family import DerivedKey, raw_value
from ...spec import Field


def _load(raw: dict, value: float) -> dict:
    # Capacity is measured against the load alpha = P/N (Amit, Gutfreund & Sompolinsky 1985).
    n = raw_value(raw, "network.size")
    if not isinstance(n, int) or isinstance(n, bool):
        raise ValidationError("", "needs network.size (an integer) in the base scenario, [set] or the grid")
    src = raw_value(raw, "patterns.source", "letters")
    if src != "random":
        raise ValidationError("", f'needs patterns.source = "random" (the base scenario has {src!r})')
    return {"patterns.count": max(1, int(round(value * n)))}


def _cue_overlap(raw: dict, value: float) -> dict:
    # flipping a fraction f of the units of a stored pattern gives overlap m0 = 1 - 2f
    return {"initial.noise": (1.0 - value) / 2.0}


DERIVED_KEYS = (
    DerivedKey("load", "load alpha = P/N: sets patterns.count = max(1, round(load * network.size))",
               ("patterns.count",), _load, Field("float", min=0.0), "load α = P/N"),
    DerivedKey("cue_overlap", "initial overlap m0 of the cue with its pattern: sets initial.noise = (1 - m0) / 2",
               ("initial.noise",), _cue_overlap, Field("float", min=0.0, max=1.0), "initial overlap m₀"),
)
