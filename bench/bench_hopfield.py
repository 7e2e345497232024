"""Hopfield retrieval speed: recurnet_sim against a straightforward numpy implementation.

Same work, same seeds: N = 1000 units, P = 100 random patterns (Hebb), 20 cues with 10% of their
bits flipped, asynchronous sequential updates until a sweep changes nothing. The baseline visits
every unit and computes its field as W[i] @ s, one cue at a time. Final states must be identical.

Then synchronous retrieval of a batch of cues is reported as a fraction of this machine's measured
matrix-multiply rate (the sweep is one (B, N) x (N, N) product plus elementwise work).

Run:  python bench/bench_hopfield.py   (BLAS is pinned to one thread: on a shared 2-core machine
OpenBLAS's second thread only adds contention for these sizes; set OPENBLAS_NUM_THREADS to change it)
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time  # noqa: E402

import numpy as np

from recurnet_sim.engine import Simulation, StopConditions
from recurnet_sim.families.hopfield.model import HopfieldModel, hebbian
from recurnet_sim.patterns import flip_fraction, random_patterns
from recurnet_sim.seeding import trial_rngs

N, P, CUES, NOISE, SEED = 1000, 100, 20, 0.10, 1


def baseline(W: np.ndarray, cue: np.ndarray, max_sweeps: int = 100) -> tuple[np.ndarray, int]:
    """Per-unit loop: h_i = W[i] @ s recomputed for every update; stop after a sweep with no change."""
    s = cue.astype(np.float64).copy()
    for sweep in range(1, max_sweeps + 1):
        changed = 0
        for i in range(len(s)):
            h = W[i] @ s
            new = 1.0 if h > 0 else (-1.0 if h < 0 else s[i])
            if new != s[i]:
                s[i] = new
                changed += 1
        if changed == 0:
            return s, sweep
    return s, max_sweeps


def best_of(fn, repeat=3):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    rng = np.random.default_rng(SEED)
    xi = random_patterns(P, N, rng)
    c, scale = hebbian(xi)
    W = c * scale
    targets = rng.integers(P, size=CUES)
    cues = flip_fraction(xi[targets], NOISE, rng)

    def ours(schedule="sequential"):
        model = HopfieldModel(c, scale, patterns=xi, state=cues, schedule=schedule, symmetric=True, integer=True)
        sim = Simulation(model, trial_rngs(SEED, CUES), StopConditions(max_steps=100, cycle=False),
                         recorders=[])
        while sim.step():  # the dynamics until every cue has settled (no result summary)
            pass
        return model.state.copy(), sim.stop_tick.copy()

    # The baseline uses the same integer-valued Hebbian matrix (W = c / N): the sign of every field,
    # and so every state, is then exactly the same; with c / N in floating point, ties h = 0 would
    # come out as +-1e-17 in some summation orders and the two runs could part ways.
    t_base, base = best_of(lambda: [baseline(c, cues[b]) for b in range(CUES)], repeat=1)
    base_states = np.stack([s for s, _ in base]).astype(np.int8)
    t_ours, (states, ticks) = best_of(ours, repeat=7)
    t_rand, _ = best_of(lambda: ours("random"), repeat=7)
    identical = np.array_equal(states, base_states)
    recalled = np.mean(np.all(states == xi[targets], axis=1))
    print(f"Hopfield asynchronous retrieval, N={N}, P={P}, {CUES} cues, {NOISE:.0%} flipped, sequential order")
    print(f"  baseline per-unit W[i]@s loop, one cue at a time : {t_base * 1e3:8.1f} ms")
    print(f"  recurnet_sim (incremental fields, batch of {CUES})   : {t_ours * 1e3:8.1f} ms   "
          f"speed-up {t_base / t_ours:5.1f}x   identical final states: {identical}")
    print(f"  recurnet_sim, random order each sweep            : {t_rand * 1e3:8.1f} ms")
    print(f"  sweeps to settle (ours): {sorted(set(ticks.tolist()))}; fully recalled: {recalled:.0%}")

    # synchronous batch retrieval against the machine's matmul rate
    B = 256
    big_targets = rng.integers(P, size=B)
    big_cues = flip_fraction(xi[big_targets], NOISE, rng)
    # Hebbian fields are exact in float32 (integer couplings, see HopfieldModel.exact_integer), so
    # the model multiplies in float32: compare with the float32 matmul rate.
    S32, W32 = big_cues.astype(np.float32), c.astype(np.float32)
    t_mm, _ = best_of(lambda: S32 @ W32, repeat=7)
    gemm_rate = 2 * B * N * N / t_mm
    S64 = big_cues.astype(np.float64)
    t_mm64, _ = best_of(lambda: S64 @ W, repeat=7)

    def sync():
        model = HopfieldModel(c, scale, patterns=xi, state=big_cues, schedule="synchronous", symmetric=True, integer=True)
        sim = Simulation(model, trial_rngs(SEED, B), StopConditions(max_steps=100), recorders=[])
        sim.run()
        return sim.tick, int(sim.stop_tick.sum())

    t_sync, (ticks, row_sweeps) = best_of(sync)
    # One (B, N) x (N, N) product builds the fields; then each trial costs one row product per
    # sweep until it stops (stopped trials are frozen and cost nothing).
    flops = 2 * N * N * (B + row_sweeps)
    print(f"Synchronous retrieval of a batch of {B} cues: {ticks} sweeps in {t_sync * 1e3:.1f} ms")
    print(f"  matmul rate of this machine ((B,N)x(N,N)): float32 {gemm_rate / 1e9:.1f} GFLOP/s, "
          f"float64 {2 * B * N * N / t_mm64 / 1e9:.1f} GFLOP/s")
    print(f"  achieved: {flops / t_sync / 1e9:.1f} GFLOP/s = {flops / t_sync / gemm_rate:.0%} of the float32 matmul rate")


if __name__ == "__main__":
    main()
