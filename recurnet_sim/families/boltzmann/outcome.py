"""Outcome labels of a Boltzmann machine (:mod:`recurnet_sim.outcome`). The units the patterns
cover (the visible units for environment vectors) are classified like a Hopfield state (stored /
reversed / 3-mixture / spurious). A completion (some units clamped to the cued pattern, the rest
free: the 4-2-4 encoder's V2, the RBM's lower half) is ``correct`` only when every free unit shows
the cued pattern; otherwise it is ``wrong``, naming the pattern the free units show if there is one.
Without stored patterns (sampling exp(-E/T)/Z) the state is a ``sample``, nothing more."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...outcome import as_pm1, classify, empty, judge_target


def bit_string(v) -> str:
    """Units as a string of bits: 1 for the on value (+1 or 1), 0 for the off one."""
    return "".join("1" if x > 0 else "0" for x in np.asarray(v))


def boltzmann_outcome(model, b: int) -> dict[str, Any]:
    lo = model.unit_values[0]
    if model.patterns is None or len(model.patterns) == 0:
        vis = as_pm1(model.state[b, model.visible], lo)
        how = f"at T = {model.temperature:g}" if model.temperature > 0 else "at T = 0"
        return empty(f"a sample {how}: visible {bit_string(vis)} (no stored patterns to compare with)", "sample")
    units = model._pattern_units()
    names = model.pattern_names
    s = as_pm1(model.state[b, units], lo)
    xi = as_pm1(model.patterns, lo)
    t = None if model.target is None else int(np.asarray(model.target)[b])
    free = ~model.clamped[b, units]
    if t is None or free.all():
        return classify(s, xi, names, t, units=units)
    # a completion: judge the free units only (the clamped ones hold the cue by construction)
    out = classify(s, xi, names, None, units=units)
    wrong = (xi[t] != s) & free
    shows = [k for k in range(len(xi)) if np.array_equal(xi[k][free], s[free])]
    n_free = int(free.sum())
    shown = f"they show {names[shows[0]]}" if len(shows) == 1 else "they show no stored pattern"
    # the label is about the free units alone
    judge_target(out, names[t], wrong, units, recalled=f"completed {names[t]} correctly (all {n_free} free units right)",
                 detail=f" of the {n_free} free units ({shown})", append=False)
    out.update(kind="correct" if out["target_reached"] else "wrong",
               completed=names[shows[0]] if len(shows) == 1 else None)
    return out


def summary(model, b: int) -> dict:
    """The family's summary fields of trial b plus ``outcome``."""
    from .model import summary as base
    return {**base(model, b), "outcome": model.outcome(b)}
