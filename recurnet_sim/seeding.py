"""Seeds: one integer drives every random draw of a run.

``SeedSequence(seed, spawn_key=(0,))`` seeds what is built once and shared by all trials (e.g. a
pattern set); ``SeedSequence(seed, spawn_key=(1, b))`` seeds trial b. ``spawn_key`` addresses the
b-th child directly (it equals ``SeedSequence(seed).spawn(...)`` order), so trial b gets the same
stream whether it runs alone, in a batch of 64, or in any worker process.
"""
from __future__ import annotations

import numpy as np

BUILD_KEY = 0
TRIAL_KEY = 1


def build_rng(seed: int) -> np.random.Generator:
    """Generator for what all trials share (built once)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(BUILD_KEY,))))


def trial_seeds(seed: int, n: int, first: int = 0) -> list[np.random.SeedSequence]:
    """Seed sequences of trials ``first .. first+n-1``."""
    return [np.random.SeedSequence(seed, spawn_key=(TRIAL_KEY, first + b)) for b in range(n)]


def trial_rngs(seed: int, n: int, first: int = 0) -> list[np.random.Generator]:
    """One Generator per trial (trial b draws only from its own)."""
    return [np.random.Generator(np.random.PCG64(s)) for s in trial_seeds(seed, n, first)]
