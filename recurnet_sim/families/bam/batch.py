"""Derived batch keys of BAM experiments (see :attr:`recurnet_sim.family.Family.derived_keys`)."""
from __future__ import annotations

from ...errors import ValidationError
from ...family import DerivedKey, raw_value
from ...spec import Field


def _load(raw: dict, value: float) -> dict:
    # Kosko's capacity estimate is in pairs per unit of the smaller layer, so load = P / min(n_x, n_y).
    nx, ny = raw_value(raw, "pairs.n_x"), raw_value(raw, "pairs.n_y")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (nx, ny)):
        raise ValidationError("", "needs pairs.n_x and pairs.n_y (integers) for a BAM")
    return {"pairs.count": max(1, int(round(value * min(nx, ny))))}


def _cue_overlap(raw: dict, value: float) -> dict:
    # flipping a fraction f of the cue layer's units gives overlap m0 = 1 - 2f
    return {"initial.noise": (1.0 - value) / 2.0}


DERIVED_KEYS = (
    DerivedKey("load", "load alpha = P / min(n_x, n_y): sets pairs.count = max(1, round(load * min(n_x, n_y)))",
               ("pairs.count",), _load, Field("float", min=0.0), "load α = P/N"),
    DerivedKey("cue_overlap", "initial overlap m0 of the cue with its pattern: sets initial.noise = (1 - m0) / 2",
               ("initial.noise",), _cue_overlap, Field("float", min=0.0, max=1.0), "initial overlap m₀"),
)
