"""Benchmark: heat-bath sampling of a Boltzmann machine (issue 13 goals).

Two cases, each run through ``BoltzmannMachine.step`` (one sweep of every chain, each chain with its
own generator, random probe order) under both kernels, against plain-numpy samplers run in the
same process:

  (a) 100 units x 64 chains: goal >= 15 M unit updates/s; baseline: the per-unit numpy loop on
      one chain (h_i = W[i] @ s + b_i, then a heat-bath draw), the way the rule is usually written;
  (b) 8 units x 30,000 chains: goal >= 5 M unit updates/s; baseline: a plain numpy sampler
      vectorised over the chains (one generator, one shared random order per sweep).

Also timed: building 30,000 trial generators (``seeding.trial_rngs``) against one
``Generator(PCG64(SeedSequence(...)))`` per trial. All figures are printed as ratios against
the baselines measured in the same run; absolute rates hold for this machine on this day.

    python bench/bench_boltzmann.py [--repeats 5]

BLAS is pinned to one thread: on a shared 2-core machine OpenBLAS's second thread only adds
contention at these sizes; set OPENBLAS_NUM_THREADS to change it. Each side reports its best of
``--repeats`` interleaved runs, because other processes share the machine.
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from recurnet_sim import kernels, seeding  # noqa: E402
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


def vectorised_plain(w, b, chains: int, sweeps: int, rng: np.random.Generator, T: float = 1.0) -> float:
    """A plain numpy sampler over many chains: one shared random order per sweep, one draw per unit
    for all chains."""
    n = len(b)
    s = (rng.random((chains, n)) < 0.5).astype(float)
    t0 = time.perf_counter()
    for _ in range(sweeps):
        for i in rng.permutation(n):
            h = s @ w[i] + b[i]
            s[:, i] = rng.random(chains) < 1.0 / (1.0 + np.exp(-h / T))
    return sweeps * n * chains / (time.perf_counter() - t0)


def batched(w, b, chains: int, sweeps: int, seed: int = 0, T: float = 1.0, kernel: str = "compiled",
            kernel_time: list | None = None) -> float:
    """Unit updates/s of ``BoltzmannMachine.step``; with ``kernel_time`` (a list), the seconds spent
    inside the compiled heat-bath kernel during the timed sweeps are appended to it."""
    from recurnet_sim.families.boltzmann import model as bz
    m = BoltzmannMachine(w, b, temperature=T, batch_size=chains, kernel=kernel)
    rngs = seeding.trial_rngs(seed, chains)
    m.set_state(m.random_state(rngs[0], chains))
    active = np.ones(chains, dtype=bool)
    m.step(rngs, active)  # warm-up (and the first call's compile or cache load)
    inside = [0.0]
    real = {k: getattr(bz, k) for k in ("_heat_bath_serial", "_heat_bath_parallel")}

    def timed(fn):
        def call(*a):
            t = time.perf_counter()
            fn(*a)
            inside[0] += time.perf_counter() - t
        return call
    if kernel_time is not None:
        for k, fn in real.items():
            setattr(bz, k, timed(fn))
    try:
        t0 = time.perf_counter()
        for _ in range(sweeps):
            m.step(rngs, active)
        dt = time.perf_counter() - t0
    finally:
        for k, fn in real.items():
            setattr(bz, k, fn)
    if kernel_time is not None:
        kernel_time.append(inside[0])
    return sweeps * chains * len(b) / dt


def generators(n: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    seeding.trial_rngs(11, n)
    t1 = time.perf_counter()
    [np.random.Generator(np.random.PCG64(s)) for s in seeding.trial_seeds(11, n)]
    return t1 - t0, time.perf_counter() - t1


def case(units, chains, sweeps, repeats, baseline) -> dict:
    w, b = machine(units)
    base = np_k = comp = 0.0
    for r in range(repeats):  # interleaved: every side sees the same background load
        if baseline == "loop":
            base = max(base, per_unit_loop(w, b, max(20, sweeps // 2), np.random.default_rng(r)))
        else:
            base = max(base, vectorised_plain(w, b, chains, sweeps, np.random.default_rng(r)))
        np_k = max(np_k, batched(w, b, chains, sweeps, r, kernel="numpy"))
        kt = []
        rate = batched(w, b, chains, sweeps, r, kernel="compiled", kernel_time=kt)
        if rate > comp:  # the kernel's share of the best compiled run
            comp, share = rate, kt[0] * rate / (sweeps * chains * units)
    return {"kernel_share_of_step": round(share, 3), "kernel_alone_updates_per_s": round(comp / share),
            "units": units, "chains": chains, "baseline": baseline, "baseline_updates_per_s": round(base),
            "numpy_kernel_updates_per_s": round(np_k), "compiled_updates_per_s": round(comp),
            "compiled_vs_baseline": round(comp / base, 1), "compiled_vs_numpy_kernel": round(comp / np_k, 1)}


def main(argv=None) -> dict:
    kernels.COMPILE_AFTER_S = 0.0  # time the kernels themselves, not the start-on-numpy policy
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    out = {"small": case(100, 64, 200, a.repeats, "loop"), "wide": case(8, 30000, 6, a.repeats, "vectorised")}
    fast = plain = float("inf")
    for _ in range(max(1, a.repeats // 2)):
        f, p = generators(30000)
        fast, plain = min(fast, f), min(plain, p)
    out["generators_30000"] = {"bulk_s": round(fast, 3), "one_by_one_s": round(plain, 3),
                               "ratio": round(plain / fast, 1)}
    goals = {"small": 15e6, "wide": 5e6}
    for key, c in (("small", out["small"]), ("wide", out["wide"])):
        name = "per-unit loop, 1 chain" if c["baseline"] == "loop" else "plain numpy over chains"
        print(f"{c['units']} units x {c['chains']} chains, T=1, random order each sweep")
        print(f"  {name:26s}: {c['baseline_updates_per_s']:14,} unit updates/s")
        print(f"  step, numpy kernel        : {c['numpy_kernel_updates_per_s']:14,} unit updates/s")
        print(f"  step, compiled kernel     : {c['compiled_updates_per_s']:14,} unit updates/s "
              f"(goal >= {goals[key] / 1e6:.0f} M here)")
        print(f"  ratios: compiled / baseline {c['compiled_vs_baseline']}x, compiled / numpy kernel "
              f"{c['compiled_vs_numpy_kernel']}x, compiled / goal {c['compiled_updates_per_s'] / goals[key]:.2f}x")
        print(f"  the compiled kernel itself: {c['kernel_share_of_step']:.0%} of the step "
              f"({c['kernel_alone_updates_per_s']:,} unit updates/s inside it; the rest is draws, thresholds, bounds)")
    g = out["generators_30000"]
    print(f"30,000 trial generators: bulk {g['bulk_s']:.3f} s, one SeedSequence each {g['one_by_one_s']:.3f} s "
          f"({g['ratio']}x)")
    return out


if __name__ == "__main__":
    main()
