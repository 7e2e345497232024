"""Outcome labels of a BAM (:mod:`recurnet_sim.outcome`): the X layer (the letter bitmap) is
classified like a Hopfield state (stored / reversed / 3-mixture / spurious against the stored X
patterns), and the Y layer (the code) is *decoded*: the stored pair whose code it is exactly, or
the nearest code and its Hamming distance. A stored pair (Kosko 1988) is both sides of one pair."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...outcome import classify, empty, judge_target


def decode(y: np.ndarray, codes: np.ndarray, names) -> tuple[str, int, bool]:
    """(name of the nearest stored code, its Hamming distance, reversed?) of a Y state."""
    d = (codes != y[None, :]).sum(axis=1)
    r = codes.shape[1] - d
    jf, jr = int(np.argmin(d)), int(np.argmin(r))
    if r[jr] < d[jf]:
        return names[jr], int(r[jr]), True
    return names[jf], int(d[jf]), False


def bam_outcome(model, b: int) -> dict[str, Any]:
    """Trial b: ``stored`` (X is pair k's pattern and Y its code), ``reversed`` (both reversed),
    else X's own kind ("mixture", "spurious") or ``"mismatched"`` (X and Y exact but of different
    pairs); ``decoded`` names the letter the code layer holds. Wrong units cover both layers."""
    names = model.pattern_names
    if not names:
        return empty("no stored pairs to compare with")
    x = np.where(model.x[b] > 0, 1, -1).astype(np.int8)
    y = np.where(model.y[b] > 0, 1, -1).astype(np.int8)
    ox = classify(x, model.pairs_x, names)
    dec, dy, yrev = decode(y, model.pairs_y, names)
    if dy == 0:
        ytext = f"code is the reversed code of {dec}" if yrev else f"code decodes to {dec}"
    else:
        ytext = f"code {dy} bit{'s' * (dy != 1)} from the {'reversed ' if yrev else ''}code of {dec}"
    out = empty("", ox["kind"], nearest=ox["nearest"], nearest_reversed=ox["nearest_reversed"],
                distance=ox["distance"], mixture=ox["mixture"], decoded=dec if dy == 0 and not yrev else None,
                code_nearest=dec, code_distance=dy, code_reversed=yrev)
    same = ox["distance"] == 0 and dy == 0 and ox["nearest"] == dec and ox["nearest_reversed"] == yrev
    if same:
        out["kind"] = "reversed" if yrev else "stored"
        out["label"] = f"{'reversed ' if yrev else ''}stored pair {dec} (letter {dec}, {ytext})"
    else:
        if ox["distance"] == 0 and dy == 0:
            out["kind"] = "mismatched"
        xtext = ox["label"].replace("stored pattern ", "letter ")
        out["label"] = f"{xtext}; {ytext}"
    t = None if model.target is None else int(np.asarray(model.target)[b])
    if t is not None:
        wx = model.pairs_x[t] != x
        wy = model.pairs_y[t] != y
        judge_target(out, names[t], np.concatenate([wx, wy]), np.arange(wx.size + wy.size),
                     recalled=f"recalled pair {names[t]} (letter {names[t]}, code decodes to {names[t]})",
                     detail=f" ({int(wx.sum())} in X, {int(wy.sum())} in the code)")
    return out


def summary(model, b: int) -> dict:
    """The family's summary fields of trial b plus ``outcome``."""
    from .model import summary as base
    return {**base(model, b), "outcome": model.outcome(b)}
