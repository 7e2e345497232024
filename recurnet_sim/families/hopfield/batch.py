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


#: rule -> (network.learning, network.energy, network.degree): one grid axis for classic learning
#: rules and dense energies together (they cannot be crossed: a dense energy has no learning rule)
RULES = {
    "hebbian": ("hebbian", "quadratic", 2),
    "storkey": ("storkey", "quadratic", 2),
    "pseudo_inverse": ("pseudo_inverse", "quadratic", 2),
    "dense2": ("hebbian", "polynomial", 2),
    "dense3": ("hebbian", "polynomial", 3),
    "dense4": ("hebbian", "polynomial", 4),
    "rectified3": ("hebbian", "rectified", 3),
    "rectified4": ("hebbian", "rectified", 4),
    "exponential": ("hebbian", "exponential", 3),
}


def _rule(raw: dict, value: str) -> dict:
    learning, energy, degree = RULES[value]
    return {"network.learning": learning, "network.energy": energy, "network.degree": degree}


DERIVED_KEYS = (
    DerivedKey("rule", "a classic learning rule or a dense energy: sets network.learning, network.energy and "
               "network.degree (dense<n> = polynomial F = x^n, rectified<n>, exponential)",
               ("network.learning", "network.energy", "network.degree"), _rule,
               Field("str", choices=tuple(RULES)), "rule"),
    DerivedKey("load", "load alpha = P/N: sets patterns.count = max(1, round(load * network.size))",
               ("patterns.count",), _load, Field("float", min=0.0), "load α = P/N"),
    DerivedKey("cue_overlap", "initial overlap m0 of the cue with its pattern: sets initial.noise = (1 - m0) / 2",
               ("initial.noise",), _cue_overlap, Field("float", min=0.0, max=1.0), "initial overlap m₀"),
)
