"""Dense associative memory: the cost of an asynchronous sweep per flip, against P and N.

The model (recurnet_sim/families/hopfield/dense.py) keeps the overlaps m = Xi s current: a flip
costs O(P) and a visited unit one dot product of length P (Krotov & Hopfield 2016's update from
the energy difference, computed from m). The baseline, in the same process and on the same cues,
visits every unit and recomputes the overlaps from scratch (O(N P) per unit) to take the energy
difference of flipping it -- the direct reading of the update rule. Both run the first
sequential sweep from the same cue (a random stored pattern with 20% of its units flipped) and
must end in the same state.

Reported per (N, P): flips in the sweep, microseconds per flip for both, and the speed-up ratio.

Run:  python bench/bench_dense.py   (BLAS pinned to one thread, as in bench_hopfield.py)
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np  # noqa: E402

from recurnet_sim.families.hopfield.dense import DenseHopfieldModel, F  # noqa: E402
from recurnet_sim.patterns import flip_fraction, random_patterns  # noqa: E402

ENERGY, DEGREE, NOISE, SEED = "polynomial", 3, 0.20, 1
SIZES = [(100, 100), (100, 1000), (100, 10000), (400, 100), (400, 1000), (400, 10000)]


def baseline_sweep(xi: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, int]:
    """One sequential sweep; for each unit the overlaps are recomputed (O(N P)) and the unit flips
    when that strictly lowers E = -sum F(m)."""
    s = s.astype(np.float64).copy()
    X = xi.astype(np.float64)
    N = s.size
    flips = 0
    for i in range(N):
        m = X @ s
        m_flip = m - 2.0 * s[i] * X[:, i]
        if F(ENERGY, DEGREE, m_flip, N).sum() > F(ENERGY, DEGREE, m, N).sum():  # E(flip) < E(now)
            s[i] = -s[i]
            flips += 1
    return s.astype(np.int8), flips


def ours_sweep(xi: np.ndarray, cue: np.ndarray) -> tuple[np.ndarray, int]:
    model = DenseHopfieldModel(xi, ENERGY, DEGREE, cue[None, :], "sequential")
    flips = model.step([np.random.default_rng(0)], np.ones(1, bool))
    return model.state[0].copy(), int(flips[0])


def best_of(fn, repeat):
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    print(f"Dense net F(x) = x^{DEGREE}, first sequential sweep from a cue with {NOISE:.0%} flipped")
    print(f"{'N':>5} {'P':>6} {'flips':>6} {'ours us/flip':>13} {'direct us/flip':>15} {'ratio':>7}  same state")
    for N, P in SIZES:
        rng = np.random.default_rng(SEED)
        xi = random_patterns(P, N, rng)
        cue = flip_fraction(xi[0], NOISE, rng)
        t_ours, (s_ours, f_ours) = best_of(lambda: ours_sweep(xi, cue), 5)
        t_base, (s_base, f_base) = best_of(lambda: baseline_sweep(xi, cue), 2)
        same = bool(np.array_equal(s_ours, s_base)) and f_ours == f_base
        print(f"{N:>5} {P:>6} {f_ours:>6} {t_ours / f_ours * 1e6:>13.1f} {t_base / f_base * 1e6:>15.1f} "
              f"{t_base / t_ours:>6.0f}x  {same}")


if __name__ == "__main__":
    main()
