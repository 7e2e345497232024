"""Seeds: one integer drives every random draw of a run.

``SeedSequence(seed, spawn_key=(0,))`` seeds what is built once and shared by all trials (e.g. a
pattern set); ``SeedSequence(seed, spawn_key=(1, b))`` seeds trial b. ``spawn_key`` addresses the
b-th child directly (it equals ``SeedSequence(seed).spawn(...)`` order), so trial b gets the same
stream whether it runs alone, in a batch of 64, or in any worker process.

Large batches: building one ``SeedSequence`` per trial costs ~6 us of Python-level argument
handling and hashing, and seeding a ``PCG64`` from it as much again (0.3-0.9 s for 30,000 trials).
:func:`trial_rngs` therefore computes the trials' SeedSequence hashes (O'Neill's seed_seq mixing,
as implemented by numpy's ``SeedSequence``) for all trials at once with vectorised uint32
arithmetic, and seeds each PCG64 from its precomputed state words: the same streams, bit for bit
(tested against ``SeedSequence`` itself), several times faster. The real ``SeedSequence`` of a trial
is built only if something asks for it (``rng.bit_generator.seed_seq``, ``rng.spawn``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.random.bit_generator import ISpawnableSeedSequence

BUILD_KEY = 0
TRIAL_KEY = 1

# numpy.random.SeedSequence's hash constants (numpy/random/bit_generator.pyx; O'Neill's seed_seq)
_POOL = 4
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_MASK = 0xFFFFFFFF
_XSHIFT = 16


def build_rng(seed: int) -> np.random.Generator:
    """Generator for what all trials share (built once)."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(BUILD_KEY,))))


def trial_seeds(seed: int, n: int, first: int = 0) -> list[np.random.SeedSequence]:
    """Seed sequences of trials ``first .. first+n-1``."""
    return [np.random.SeedSequence(seed, spawn_key=(TRIAL_KEY, first + b)) for b in range(n)]


def trial_rngs(seed: int, n: int, first: int = 0) -> list[np.random.Generator]:
    """One Generator per trial (trial b draws only from its own); the streams of
    ``Generator(PCG64(trial_seeds(seed, n, first)[b]))``, built in bulk."""
    words = _trial_state_words(seed, n, first)
    if words is None:  # a seed the bulk hash does not cover: the plain way
        return [np.random.Generator(np.random.PCG64(s)) for s in trial_seeds(seed, n, first)]
    Gen, PCG64 = np.random.Generator, np.random.PCG64
    return [Gen(PCG64(_Seeded(seed, first + b, words[b]))) for b in range(n)]


# ----- the bulk hash ---------------------------------------------------------------------------------
def _words32(x: int) -> list[int]:
    """numpy's coercion of a non-negative int to uint32 words, least significant first."""
    out = [x & _MASK]
    x >>= 32
    while x:
        out.append(x & _MASK)
        x >>= 32
    return out


class _Hash:
    """The running hash constant of SeedSequence.mix_entropy (it does not depend on the data)."""

    def __init__(self):
        self.c = _INIT_A

    def mix(self, value):
        """hashmix(value): works on Python ints and on uint32 arrays alike."""
        c0 = self.c
        self.c = (self.c * _MULT_A) & _MASK
        if isinstance(value, np.ndarray):
            v = (value ^ np.uint32(c0)) * np.uint32(self.c)
            return v ^ (v >> np.uint32(_XSHIFT))
        v = ((value ^ c0) * self.c) & _MASK
        return v ^ (v >> _XSHIFT)


def _mix(x, y):
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        x = np.asarray(x, dtype=np.uint32).reshape(-1)  # 1-d: array arithmetic wraps silently
        r = np.uint32(_MIX_L) * x - np.uint32(_MIX_R) * np.asarray(y, dtype=np.uint32).reshape(-1)
        return r ^ (r >> np.uint32(_XSHIFT))
    r = (_MIX_L * x - _MIX_R * y) & _MASK
    return r ^ (r >> _XSHIFT)


def _trial_state_words(seed: Any, n: int, first: int) -> np.ndarray | None:
    """``SeedSequence(seed, spawn_key=(1, first + b)).generate_state(4, np.uint64)`` for every b,
    shape (n, 4) uint64, or None when ``seed`` is not a non-negative int or a trial index needs
    more than one uint32 word."""
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
        return None
    if first < 0 or first + n > _MASK:
        return None
    entropy = _words32(int(seed))
    if len(entropy) < _POOL:  # numpy pads the run entropy to the pool size when there is a spawn key
        entropy = entropy + [0] * (_POOL - len(entropy))
    entropy = entropy + [TRIAL_KEY]  # the last word, the trial index, is mixed in vectorised
    h = _Hash()
    pool: list[Any] = [h.mix(entropy[i]) for i in range(_POOL)]
    for src in range(_POOL):
        for dst in range(_POOL):
            if src != dst:
                pool[dst] = _mix(pool[dst], h.mix(pool[src]))
    for src in range(_POOL, len(entropy)):
        for dst in range(_POOL):
            pool[dst] = _mix(pool[dst], h.mix(entropy[src]))
    b = np.arange(first, first + n, dtype=np.uint32)
    for dst in range(_POOL):
        pool[dst] = _mix(pool[dst], h.mix(b))
    # generate_state(4, uint64): 8 uint32 words from the pool, cycled, hashed with INIT_B / MULT_B
    out = np.empty((n, 8), dtype=np.uint32)
    c = _INIT_B
    for k in range(8):
        v = np.asarray(pool[k % _POOL], dtype=np.uint32) ^ np.uint32(c)
        c = (c * _MULT_B) & _MASK
        v = v * np.uint32(c)
        out[:, k] = v ^ (v >> np.uint32(_XSHIFT))
    # numpy views the uint32 words as uint64 in little-endian order
    return out.astype("<u4", copy=False).view("<u8").astype(np.uint64, copy=False)


class _Seeded(ISpawnableSeedSequence):
    """Stands in for ``SeedSequence(seed, spawn_key=(1, trial))`` whose state words are known;
    anything beyond seeding a bit generator goes to the real SeedSequence, built on first use."""

    __slots__ = ("_seed", "_trial", "_words", "_real")

    def __init__(self, seed: int, trial: int, words: np.ndarray):
        self._seed, self._trial, self._words, self._real = seed, trial, words, None

    def real(self) -> np.random.SeedSequence:
        if self._real is None:
            self._real = np.random.SeedSequence(self._seed, spawn_key=(TRIAL_KEY, self._trial))
        return self._real

    def generate_state(self, n_words, dtype=np.uint32):
        if n_words == 4 and np.dtype(dtype) == np.uint64:
            return self._words
        return self.real().generate_state(n_words, dtype)

    def spawn(self, n_children):
        return self.real().spawn(n_children)

    def __getattr__(self, name):  # entropy, spawn_key, pool, n_children_spawned, ...
        return getattr(self.real(), name)

    def __repr__(self) -> str:
        return repr(self.real())
