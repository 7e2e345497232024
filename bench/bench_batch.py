"""Benchmark: the shipped capacity experiment and the classic Hopfield capacity sweep through the
batch runner, and the speed-up over running the same trials one at a time through ``recurnet run``.

    python bench/bench_batch.py [--workers 2] [--sample 6] [--out DIR] [--skip-classic]

0. Runs the shipped ``hopfield_capacity`` experiment as shipped (N = 100, 98 points x 20 trials,
   dense rules up to 16 000 patterns) three ways in this run: ``--workers`` processes (the goal:
   <= 25 s on 2 workers), the same with ``RECURNET_KERNEL=numpy`` (baseline: no numba in the
   workers) and one worker process (baseline: no parallelism). The previous commit's code is not
   available in-process, so these are the baselines; each is a whole ``recurnet batch`` process
   (start-up, workers, plots included) and the ratios are what to compare on a shared machine.
1. Runs ``scenarios/experiments/hopfield_capacity.toml`` restricted to its classic part with
   ``--set`` (:data:`CLASSIC`: N = 1000, loads 0.02-0.30, Hebb / Storkey / pseudo-inverse, 50
   trials a point: the sweep this benchmark has always timed; the shipped experiment now also
   sweeps the dense rules at N = 100) with ``--workers`` processes and reports the wall time
   (start-up, probe and plots included).
2. Times ``recurnet run BASE --headless --json --set ... --seed S --trials 1`` (a fresh process per
   trial, as a shell loop would) on ``--sample`` trials spread over the grid, and extrapolates to
   every trial of the experiment.

The one-at-a-time estimate is a lower bound of the real cost of such a loop: each trial rebuilds
its network (a Storkey matrix for N = 1000 costs O(P N^2)), where the batch builds one per group.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXP = ROOT / "scenarios" / "experiments" / "hopfield_capacity.toml"
#: the classic sweep: 45 points x 50 trials at N = 1000
CLASSIC = ["network.size=1000", "initial.noise=0.05", "grid.load={start = 0.02, stop = 0.30, step = 0.02}",
           'grid.rule=["hebbian", "storkey", "pseudo_inverse"]', "experiment.trials=50", "experiment.markers={}",
           'experiment.metrics=["overlap", "success", "recalled_kind", "steps", "stop_reason"]',
           # the shipped labels name metrics this sweep leaves out (target_stable, capacity_load)
           'experiment.labels={rule = "learning rule", overlap = "final overlap with the target", '
           'success = "retrieval (overlap >= threshold)", recalled_kind = "recalled", steps = "sweeps until stop"}']


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", type=int, default=6, help="single runs timed for the one-at-a-time estimate")
    ap.add_argument("--out", help="keep the batch results here (default: a temporary directory)")
    ap.add_argument("--skip-classic", action="store_true", help="only the shipped experiment (step 0)")
    args = ap.parse_args(argv)

    shipped = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, workers, env in ((f"{args.workers} workers", args.workers, {}),
                                    (f"{args.workers} workers, numpy kernel", args.workers, {"RECURNET_KERNEL": "numpy"}),
                                    ("1 worker", 1, {})):
            out = Path(tmp) / f"shipped{len(shipped)}"
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "recurnet_sim", "batch", str(EXP), "--out", str(out),
                            "--workers", str(workers)], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, env={**os.environ, **env})
            shipped[label] = time.perf_counter() - t0
    first = next(iter(shipped.values()))
    print("hopfield_capacity as shipped (98 points x 20 trials, N = 100), whole recurnet batch process:")
    for label, t in shipped.items():
        print(f"  {label}: {t:.1f} s ({t / first:.2f}x the first)")
    if args.skip_classic:
        return 0

    from recurnet_sim.experiment import _flatten, load_experiment, point_data

    exp = load_experiment(EXP, CLASSIC)
    n_trials = len(exp.points) * exp.trials
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out) if args.out else Path(tmp) / "capacity"
        t0 = time.perf_counter()
        sets = [a for kv in CLASSIC for a in ("--set", kv)]
        subprocess.run([sys.executable, "-m", "recurnet_sim", "batch", str(EXP), "--out", str(out),
                        "--workers", str(args.workers), *sets], check=True, stdout=subprocess.DEVNULL)
        batch_s = time.perf_counter() - t0

    # one trial per process, on points spread over the grid (cheap and expensive ones alike)
    step = max(1, len(exp.points) // args.sample)
    picks = list(range(0, len(exp.points), step))[: args.sample]
    single = []
    for i in picks:
        # every scenario key the point sets (derived keys such as load and rule expanded)
        base = _flatten(exp.base_data)
        sets = []
        for k, v in _flatten(point_data(exp.base_data, exp.fixed, exp.points[i])).items():
            if k.startswith("record.") or base.get(k, object()) == v:
                continue
            sets += ["--set", f"{k}={json.dumps(v) if isinstance(v, (str, list)) else v}"]
        cmd = [sys.executable, "-m", "recurnet_sim", "run", str(exp.base_path), "--headless", "--json",
               "--seed", str(exp.group_seed(i, 0)), "--trials", "1", *sets]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env={**os.environ, "OPENBLAS_NUM_THREADS": "1"})
        single.append(time.perf_counter() - t0)
    per_trial = sum(single) / len(single)
    serial_s = per_trial * n_trials
    print(f"hopfield_capacity: {len(exp.points)} points x {exp.trials} trials = {n_trials} trials, N = "
          f"{exp.scenarios[0].config['network']['size']}, group {exp.group}")
    print(f"  recurnet batch --workers {args.workers}: {batch_s:.1f} s ({n_trials / batch_s:.0f} trials/s)")
    print(f"  recurnet run, one trial per process: {per_trial:.2f} s/trial on {len(single)} sampled points "
          f"-> {serial_s:.0f} s for all trials (one core)")
    print(f"  speed-up: {serial_s / batch_s:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
