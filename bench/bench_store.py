"""Benchmark: tiny grid points through the batch runner, on local processes and on a Dask
LocalCluster, against the same points run one after the other in this process; the per-task cost
of each executor; and the result store's write cost per point.

    python bench/bench_store.py [--workers 2] [--points 4000]

* Tiny points: N = 16 Hopfield, 1 trial a point (``scenarios/experiments/base/hopfield_random.toml``
  with ``network.size = 16``), a grid of ``--points`` points. The baseline is :func:`run_chunk` on
  every point in this process (no executor, no store): the rate one core reaches. The runs report
  points per second over the sweep (``BatchReport.elapsed_s``: pool or cluster start included) and
  the parallel efficiency ``rate / (workers x baseline rate)``.
* Per-task cost: the round trip of an empty task (submit, pickling both ways, result) on each
  executor, which :data:`recurnet_sim.batch.TARGET_TASK_S` is 20x of.
* Store: :meth:`ResultStore.add` of real rows, one transaction per point and one per 1000 points,
  as microseconds per point and as a fraction of the baseline's time per point.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "scenarios" / "experiments" / "base" / "hopfield_random.toml"


def experiment_file(tmp: Path, n_points: int) -> Path:
    steps = max(1, n_points // 100)
    p = tmp / "tiny.toml"
    p.write_text(f"""[experiment]
name = "tiny"
base = "{BASE.as_posix()}"
trials = 1
group = 1
metrics = ["overlap", "success", "steps"]
[set]
"network.size" = 16
[grid]
load = {{ start = 0.0625, stop = 0.625, num = 10 }}
cue_overlap = {{ start = 0.1, stop = 1.0, num = 10 }}
"stop.max_steps" = {{ start = 1, stop = {steps}, step = 1 }}
""", encoding="utf-8")
    return p


def task_cost(submit, n: int = 200) -> float:
    """Seconds per round trip of an empty task (after a warm-up)."""
    from recurnet_sim.batch import run_chunk

    return _cost(lambda: submit(run_chunk, ()), n)


def _cost(call, n):
    for f in [call() for _ in range(10)]:
        f.result()
    t0 = time.perf_counter()
    for f in [call() for _ in range(n)]:
        f.result()
    return (time.perf_counter() - t0) / n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--points", type=int, default=4000)
    args = ap.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

    from recurnet_sim.batch import make_plan, run_chunk, run_experiment
    from recurnet_sim.experiment import load_experiment
    from recurnet_sim.store import ResultStore

    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        exp = load_experiment(experiment_file(tmp, args.points))
        n = len(exp.points)
        plan = make_plan(exp)

        # baseline: every point in this process, one after the other
        run_chunk(plan, range(min(n, 50)))  # warm-up (imports, caches)
        t0 = time.perf_counter()
        base = run_chunk(plan, range(n))
        base_s = time.perf_counter() - t0
        base_rate = n / base_s
        per_point = base_s / n
        print(f"tiny points: {n} points (N = 16 Hopfield, 1 trial), network sizes and loads of the grid")
        print(f"  baseline, one core in-process: {base_rate:,.0f} points/s ({per_point * 1e3:.3f} ms a point)")

        t0 = time.perf_counter()
        rep = run_experiment(exp, tmp / "local", workers=args.workers, progress=False, plots=False)
        wall = time.perf_counter() - t0
        rate = n / rep.elapsed_s
        print(f"  local processes x{args.workers}: {rate:,.0f} points/s over the sweep ({rep.tasks} tasks, "
              f"{wall:.1f} s wall with start-up and exports), efficiency {rate / (args.workers * base_rate):.0%}")

        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
            run_chunk(plan, range(1))
            list(pool.map(run_chunk, [plan] * args.workers, [range(1)] * args.workers))  # started, warm
            rep = run_experiment(exp, tmp / "warm", executor=pool, progress=False, plots=False)
        rate = n / rep.elapsed_s
        print(f"  local processes x{args.workers}, pool already started: {rate:,.0f} points/s ({rep.tasks} tasks), "
              f"efficiency {rate / (args.workers * base_rate):.0%}")

        dask_ok = True
        try:
            import logging

            import distributed
        except ImportError:
            dask_ok = False
            print('  Dask LocalCluster: skipped (pip install "recurnet_sim[dask]")')
        if dask_ok:
            cluster = distributed.LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.CRITICAL)
            client = distributed.Client(cluster)
            try:
                t0 = time.perf_counter()
                rep = run_experiment(exp, tmp / "dask", dask=client, progress=False, plots=False)
                wall = time.perf_counter() - t0
                rate = n / rep.elapsed_s
                print(f"  Dask LocalCluster x{args.workers}: {rate:,.0f} points/s over the sweep ({rep.tasks} tasks, "
                      f"{wall:.1f} s wall with exports), efficiency {rate / (args.workers * base_rate):.0%}")
                same = all((tmp / "local" / f).read_bytes() == (tmp / "dask" / f).read_bytes()
                           for f in ("results.csv", "summary.csv"))
                print(f"  files identical (local processes vs Dask): {same}")
                ex = client.get_executor(pure=False)
                plan_f = client.scatter(plan, broadcast=True, hash=False)
                dask_task = task_cost(lambda fn, *a: ex.submit(fn, plan_f, *a))
            finally:
                client.close()
                cluster.close()

        with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
            local_task = task_cost(lambda fn, *a: pool.submit(fn, plan, *a))
        print("per-task cost (an empty task's round trip):")
        print(f"  local processes: {local_task * 1e3:.2f} ms -> 5 % of a {local_task / 0.05 * 1e3:.0f} ms task "
              f"(TARGET_TASK_S local = 0.25 s)")
        if dask_ok:
            print(f"  Dask LocalCluster: {dask_task * 1e3:.2f} ms -> 5 % of a {dask_task / 0.05 * 1e3:.0f} ms task "
                  f"(TARGET_TASK_S dask = 1.0 s)")

        # store: the cost of committing finished points
        pts = base["points"]
        for batch in (1, 1000):
            out = tmp / f"store{batch}"
            out.mkdir()
            st = ResultStore.create(out, "bench")
            t0 = time.perf_counter()
            for k in range(0, len(pts), batch):
                st.add(pts[k:k + batch])
            el = time.perf_counter() - t0
            st.close()
            us = el / len(pts) * 1e6
            print(f"store write, one transaction per {batch} point(s): {us:.1f} us a point "
                  f"({us * 1e-6 / per_point:.1%} of a tiny point's compute)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
