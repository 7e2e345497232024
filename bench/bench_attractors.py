"""Benchmark of the state-space analysis (``recurnet attractors``).

Full analysis of a Hebbian Hopfield network (P random patterns, W = Xi^T Xi - P I, integer) with
all 2^N states enumerated. Time is measured in a plain run (best of ``--repeat``); peak memory in a
separate run under ``tracemalloc`` (numpy reports its buffers to it), since tracing slows the run.
The process's peak resident set size (``ru_maxrss``, interpreter and libraries included) is
printed at the end.

Usage::

    python bench/bench_attractors.py                  # N = 20, synchronous (the issue's target)
    python bench/bench_attractors.py --schedule both  # also asynchronous
    python bench/bench_attractors.py --n 16 18 20 --schedule both --asymmetric
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recurnet_sim.families.hopfield.statespace import analyze_network  # noqa: E402


def network(n: int, p: int, asymmetric: bool, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.choice([-1.0, 1.0], size=(p, n))
    W = X.T @ X - p * np.eye(n)
    if asymmetric:
        # Random integer couplings: asymmetric, long synchronous cycles, and (async) large
        # transient strongly connected components -- the slowest case of the analysis.
        W = rng.integers(-3, 4, size=(n, n)).astype(float)
    return W, X


def run(n: int, schedule: str, p: int, asymmetric: bool, repeat: int, seed: int) -> dict:
    W, X = network(n, p, asymmetric, seed)
    names = [chr(ord("A") + k) for k in range(p)]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = analyze_network(W, schedule=schedule, patterns=X, names=names, graph=False)
        times.append(time.perf_counter() - t0)
    tracemalloc.start()
    analyze_network(W, schedule=schedule, patterns=X, names=names, graph=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "n": n,
        "schedule": schedule,
        "states": r.n_states,
        "edges": r.n_edges,
        "attractors": len(r.attractors),
        "seconds": min(times),
        "peak_mb": peak / 2**20,
        "kinds": r.counts,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, nargs="+", default=[20], help="numbers of units (<= 20)")
    ap.add_argument("--schedule", choices=["sync", "async", "both"], default="sync")
    ap.add_argument("--patterns", type=int, default=3, help="stored patterns P")
    ap.add_argument("--asymmetric", action="store_true", help="random asymmetric W instead of Hebbian")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs (best is reported)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    schedules = ["sync", "async"] if args.schedule == "both" else [args.schedule]
    kind = "random asymmetric W" if args.asymmetric else f"Hebbian, P = {args.patterns}"
    print(f"attractor analysis, {kind}, seed {args.seed}, best of {args.repeat}")
    print(f"{'N':>3} {'schedule':>8} {'states':>9} {'edges':>10} {'attractors':>10} {'seconds':>8} {'peak MB':>8}")
    for n in args.n:
        for sched in schedules:
            row = run(n, sched, args.patterns, args.asymmetric, args.repeat, args.seed)
            print(
                f"{row['n']:>3} {row['schedule']:>8} {row['states']:>9} {row['edges']:>10} "
                f"{row['attractors']:>10} {row['seconds']:>8.2f} {row['peak_mb']:>8.0f}   {row['kinds']}"
            )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"process peak RSS: {rss:.0f} MB")


if __name__ == "__main__":
    main()
