"""The bitmap parser before issue 13 (validation per character, one list of characters per glyph):
the reference the numpy row parser of :mod:`recurnet_sim.patterns` is checked against
(tests/test_overheads.py) and timed against (bench/bench_engine.py)."""
from __future__ import annotations

import numpy as np

from recurnet_sim import patterns as pat


def per_character_parse(text: str) -> np.ndarray:
    """The glyphs of one bitmap file as a (P, N) int8 array of +-1, character by character."""
    glyphs, cur = [], None
    for line in text.split("\n"):
        line = line.strip()
        if not line or line.startswith(pat.COMMENT):
            cur = None
            continue
        if line.startswith(pat.HEADER):
            cur = []
            glyphs.append(cur)
            continue
        bad = next((c for c in line if c not in (pat.ON, pat.OFF)), None)
        if bad is not None:
            raise ValueError(f"bad bitmap character {bad!r} in {line!r}")
        cur.append(line)
    chars = np.array([list("".join(rows)) for rows in glyphs])
    return np.where(chars == pat.ON, 1, -1).astype(np.int8)
