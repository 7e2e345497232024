"""Outcome labels of the Hopfield family (:mod:`recurnet_sim.outcome`): binary nets use the common
classification (stored / reversed / 3-mixture / spurious with Hamming distances); the continuous
modern net (Ramsauer et al. 2020) is a single pattern only when its softmax holds one pattern and the
state is that pattern, otherwise a metastable or global average of patterns."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...outcome import empty, judge_target, nearest, patterns_of

#: A modern net's state counts as a stored pattern when every unit is within this of it.
STORED_TOLERANCE = 1e-2


def modern_outcome(model, b: int) -> dict[str, Any]:
    """Trial b of a :class:`~.modern.ModernHopfieldModel`: ``stored`` (one pattern in the softmax
    and every unit within :data:`STORED_TOLERANCE` of it), else ``metastable`` (an average of k
    patterns) or ``average`` (of nearly all: Ramsauer et al.'s global fixed point). Hamming
    distances and wrong bits compare sign(state) with the patterns (0 counts as wrong)."""
    from .modern import fixed_point_kind

    xi = patterns_of(model, b).astype(float)
    names = model.pattern_names
    x = np.asarray(model.state[b], dtype=float)
    sgn = np.sign(x)
    diff = (xi != sgn[None, :]).sum(axis=1)
    rev = (-xi != sgn[None, :]).sum(axis=1)
    j, nearest_rev, dist, near = nearest(diff, rev, names)
    p = model.attention()[b]
    fp_kind, eff = fixed_point_kind(p)
    k = int(p.argmax())
    close = float(np.abs(x - xi[k]).max())
    out = empty("", nearest=names[j], nearest_reversed=nearest_rev, distance=dist,
                effective_patterns=float(eff))
    if fp_kind == "single pattern" and close <= STORED_TOLERANCE:
        out.update(kind="stored", label=f"stored pattern {names[k]}")
    elif fp_kind == "global average":
        out.update(kind="average", label=f"global average of all {len(names)} patterns, no recall "
                                         f"(sign {dist} bits from {near})")
    else:
        top = np.argsort(-p)[:3]
        weights = ", ".join(f"{names[i]} {p[i]:.2f}" for i in top)
        out.update(kind="metastable", label=f"metastable: average of ~{int(round(eff))} patterns ({weights}), "
                                            f"no recall")
    t = None if model.target is None else int(np.asarray(model.target)[b])
    if t is not None:
        judge_target(out, names[t], xi[t] != sgn, np.arange(sgn.size), reached=out["kind"] == "stored" and k == t,
                     word="sign")
    return out


def summary(model, b: int) -> dict:
    """The family's summary fields of trial b plus ``outcome``."""
    from .dispatch import summary as base
    return {**base(model, b), "outcome": model.outcome(b)}
