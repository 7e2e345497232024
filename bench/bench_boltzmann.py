"""Benchmark: heat-bath sampling of a 100-unit Boltzmann machine.

Compares unit updates per second of
  (a) the engine's vectorised sweep (``BoltzmannMachine.step``) on a batch of 64 chains, each with
      its own generator, random probe order and incremental local fields, and
  (b) a straightforward per-unit numpy loop on one chain (h_i = W[i] @ s + b_i, then a heat-bath
      draw), the way the rule is usually written.
Both do the same thing per unit update (Glauber/heat-bath at T = 1, random order each sweep).
Goal (issue): ratio >= 10.

    python bench/bench_boltzmann.py [--units 100] [--chains 64] [--sweeps 200] [--repeats 5]

BLAS is pinned to one thread (as in bench_hopfield.py): on a shared 2-core machine OpenBLAS's second
thread only adds contention at these sizes; set OPENBLAS_NUM_THREADS to change it. Each side reports
its best of ``--repeats`` runs, because other processes share the machine.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from recurnet_sim.families.boltzmann.model import BoltzmannMachine  # noqa: E402


def machine(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    w = np.triu(rng.normal(0, 1 / np.sqrt(n), (n, n)), 1)
    return w + w.T, rng.normal(0, 0.1, n)


def per_unit_loop(w, b, sweeps: int, rng: np.random.Generator, T: float = 1.0) -> float:
    n = len(b)
    s = (rng.random(n) < 0.5).astype(float)
    t0 = time.perf_counter()
    for _ in range(sweeps):
        for i in rng.permutation(n):
            h = w[i] @ s + b[i]
            p = 1.0 / (1.0 + np.exp(-h / T))
            s[i] = 1.0 if rng.random() < p else 0.0
    return sweeps * n / (time.perf_counter() - t0)


def batched(w, b, chains: int, sweeps: int, seed: int = 0, T: float = 1.0) -> float:
    m = BoltzmannMachine(w, b, temperature=T, batch_size=chains)
    rngs = [np.random.default_rng([seed, k]) for k in range(chains)]
    m.set_state(m.random_state(rngs[0], chains))
    active = np.ones(chains, dtype=bool)
    m.step(rngs, active)  # warm-up
    t0 = time.perf_counter()
    for _ in range(sweeps):
        m.step(rngs, active)
    return sweeps * chains * len(b) / (time.perf_counter() - t0)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--units", type=int, default=100)
    ap.add_argument("--chains", type=int, default=64)
    ap.add_argument("--sweeps", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    w, b = machine(a.units)
    # Alternate the two so that both see the same background load; keep each one's best run.
    loop = vec = 0.0
    for r in range(a.repeats):
        loop = max(loop, per_unit_loop(w, b, max(20, a.sweeps // 2), np.random.default_rng(r)))
        vec = max(vec, batched(w, b, a.chains, a.sweeps, r))
    out = {
        "units": a.units, "chains": a.chains,
        "loop_updates_per_s": round(loop), "batched_updates_per_s": round(vec),
        "loop_sweeps_per_s": round(loop / a.units, 1),
        "batched_sweeps_per_s": round(vec / a.units, 1),  # chain-sweeps per second
        "ratio": round(vec / loop, 1),
    }
    print(f"{a.units}-unit machine, T=1, random order each sweep")
    print(f"  per-unit loop, 1 chain : {loop:12,.0f} unit updates/s ({loop / a.units:8,.0f} sweeps/s)")
    print(f"  batched, {a.chains} chains     : {vec:12,.0f} unit updates/s ({vec / a.units:8,.0f} chain-sweeps/s)")
    print(f"  ratio                  : {vec / loop:.1f}x (goal >= 10x)")
    return out


if __name__ == "__main__":
    main()
