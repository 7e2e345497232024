"""The engine's own cost: ``Simulation.run`` against ``model.step`` alone, and scenario parsing.

Every figure is a ratio of medians measured in this process, interleaved (the machine may be
shared; absolute times are printed for the record only):

The kernel is "compiled" from the first call (``RECURNET_KERNEL``, unless set otherwise), so both
sides run the same sweeps throughout.

1. async (fixed order) retrieval of one cue, N = 1000, P = 100 (Hebb), 10 % flipped, until it
   settles: the engine tick (time inside ``Simulation.step`` or a block of ticks: perturb, update,
   record, stop), and
   the whole run (the ``Simulation`` built, run, its results with the family summary and outcome),
   each ``Simulation.run`` with the default recorders (energy, flips, overlaps, temperature,
   fixed-point and cycle detection, the results) against calling ``model.step`` in a loop until a
   sweep changes nothing (as many sweeps as the engine ran: a 2-cycle stops the engine).
   Goal: <= 1.3. "eager overlaps" is the same run with the overlap recorder
   of before issue 13 (``model.overlaps()`` read every tick), for the before/after ratio; "no family
   summary" leaves out the family's result fields (the outcome labels), to show the engine's own part;
   "tick by tick" calls ``Simulation.step`` until the run stops, one tick a call (``run`` hands the
   ticks between perturbations to ``model.run_ticks`` in blocks: one compiled call for the recall).
2. sync retrieval of the same cues: engine time per sweep against one float32 GEMV (the
   (N,) x (N, N) product a synchronous sweep needs). Goal: <= 1.5.
3. ``load_scenario("hopfield_letters")`` cold (parse caches cleared) and warm (cached), and the
   alphanumeric bitmap set parsed per character (the parser before issue 13, kept here as the
   reference) against the numpy row parser.

    python bench/bench_engine.py [--repeat 7]
"""
from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# one kernel for the whole run: "compiled" otherwise switches from numpy to numba after 1 s of
# sweeps (kernels.COMPILE_AFTER_S), i.e. in the middle of the interleaved measurement
os.environ.setdefault("RECURNET_KERNEL", "compiled")

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from recurnet_sim import patterns as pat  # noqa: E402
from recurnet_sim import scenario as scn  # noqa: E402
from recurnet_sim.engine import Simulation, StopConditions  # noqa: E402
from recurnet_sim.families.hopfield.model import HopfieldModel, hebbian  # noqa: E402
from recurnet_sim.family import family_for  # noqa: E402
from recurnet_sim.recorders import OverlapRecorder, default_recorders  # noqa: E402
from recurnet_sim.seeding import trial_rngs  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from parse_reference import per_character_parse  # noqa: E402  (the parser before issue 13)

ROOT = Path(__file__).resolve().parent.parent
N, P, CUES, NOISE = 1000, 100, 20, 0.10


class EagerOverlaps(OverlapRecorder):
    """The overlap recorder before issue 13: ``model.overlaps()`` every tick."""

    def _capture(self, sim) -> None:
        self.rows.append(np.array(sim.model.overlaps(), copy=True))

    def block_needs(self, sim):
        return None  # read every tick, so the run goes tick by tick, as before issue 13


def eager_recorders():
    return [EagerOverlaps() if isinstance(r, OverlapRecorder) else r for r in default_recorders()]


def median_ratio(fns: dict, repeat: int) -> dict:
    """Median seconds of each callable, run interleaved ``repeat`` times."""
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    xi = pat.random_patterns(P, N, rng)
    c, scale = hebbian(xi)
    cues = pat.flip_fraction(xi[rng.integers(P, size=CUES)], NOISE, rng)
    fam = family_for("hopfield")
    models = {}

    def fresh(schedule, k):
        # the model (fields from scratch) is built outside every timed region: both sides start
        # from the same built model
        if (schedule, k) not in models:
            m = HopfieldModel(c, scale, patterns=xi, state=cues[k:k + 1], schedule=schedule, symmetric=True,
                              integer=True)
            models[(schedule, k)] = (m, m.snapshot())
        m, snap = models[(schedule, k)]
        m.restore(snap)  # back to the cue (restore rebuilds the fields: outside the timed region)
        return m

    sweeps = {}

    ticks = {}  # (schedule, cue) -> the ticks the engine ran: the step loop runs exactly as many

    def step_loop(schedule):
        def run():
            for k in range(CUES):
                m, rngs, act = fresh(schedule, k), trial_rngs(k, 1), np.ones(1, bool)
                t0 = time.perf_counter()
                for _ in range(ticks[(schedule, k)]):
                    m.step(rngs, act)
                run.t += time.perf_counter() - t0
            sweeps[schedule] = sum(ticks[(schedule, k)] for k in range(CUES))
        run.t = 0.0
        return run

    def engine(schedule, recorders, family=fam, blocks=True):
        def run():
            for k in range(CUES):
                m, rngs = fresh(schedule, k), trial_rngs(k, 1)
                t0 = time.perf_counter()
                sim = Simulation(m, rngs, StopConditions(max_steps=100), recorders=recorders(), family=family)
                if blocks:
                    sim.run()
                else:
                    while sim.step():
                        pass
                    sim.results()
                run.t += time.perf_counter() - t0
                run.tick_t += sim.elapsed_s  # inside Simulation.step or blocks only: the per-tick part
                ticks[(schedule, k)] = sim.tick
        run.t = run.tick_t = 0.0
        return run

    for schedule in ("sequential", "synchronous"):
        fns = {"engine": engine(schedule, default_recorders), "model.step": step_loop(schedule),
               "engine, eager overlaps": engine(schedule, eager_recorders),
               "engine, no family summary": engine(schedule, default_recorders, None),
               "engine, tick by tick": engine(schedule, default_recorders, blocks=False)}
        for f in fns.values():  # warm-up (a compiled kernel loads here)
            f()
            f.t = 0.0
        times = {k: [] for k in fns}
        tick_times, single_tick_times = [], []
        for _ in range(args.repeat):
            for k, f in fns.items():
                f.t = f.tick_t = 0.0
                f()
                times[k].append(f.t)
                if k == "engine":
                    tick_times.append(f.tick_t)
                if k == "engine, tick by tick":
                    single_tick_times.append(f.tick_t)
        med = {k: statistics.median(v) for k, v in times.items()}
        med_tick = statistics.median(tick_times)
        med_single = statistics.median(single_tick_times)
        per_sweep = {k: v / sweeps[schedule] for k, v in med.items()}
        print(f"{schedule} retrieval, one cue at a time, N={N}, P={P}, {CUES} cues, {NOISE:.0%} flipped "
              f"({sweeps[schedule] / CUES:.1f} sweeps a cue), medians of {args.repeat}:")
        for k, v in per_sweep.items():
            print(f"  {k:24s} {v * 1e6:8.1f} us/sweep")
        print(f"  engine tick (Simulation.step, default recorders) / model.step: "
              f"{med_tick / med['model.step']:.2f}" + ("  (goal <= 1.3)" if schedule == "sequential" else "")
              + f"; tick by tick (Simulation.step): {med_single / med['model.step']:.2f}")
        print(f"  whole run (Simulation built, run, results with the family summary) / model.step: "
              f"{med['engine'] / med['model.step']:.2f}"
              + f"; before (eager overlaps) / after: {med['engine, eager overlaps'] / med['engine']:.2f}"
              + f"; without the family summary (outcome labels): {med['engine, no family summary'] / med['model.step']:.2f}")
        if schedule == "synchronous":
            W32, s32 = c.astype(np.float32), cues[0].astype(np.float32)
            reps = 2000
            t_gemv = min(timeit_gemv(W32, s32, reps) for _ in range(args.repeat)) / reps
            print(f"  float32 GEMV (N,)x(N,N): {t_gemv * 1e6:.1f} us; engine tick / GEMV: "
                  f"{med_tick / sweeps[schedule] / t_gemv:.2f}  (goal <= 1.5); whole run per sweep / GEMV: "
                  f"{per_sweep['engine'] / t_gemv:.2f}; without the family summary: "
                  f"{per_sweep['engine, no family summary'] / t_gemv:.2f}; model.step / GEMV: "
                  f"{per_sweep['model.step'] / t_gemv:.2f}")

    letters = ROOT / "scenarios" / "hopfield_letters.toml"
    folder = __import__("recurnet_sim.paths", fromlist=["assets_dir"]).assets_dir() / "patterns"
    texts = [(folder / f).read_text(encoding="utf-8-sig") for f in pat.BUILTIN_SETS["alphanumeric"]]

    def cold():
        pat._BITMAP_CACHE.clear()
        scn._TOML_CACHE.clear()
        scn.load_scenario(letters)

    med = median_ratio({"cold": cold, "warm": lambda: scn.load_scenario(letters),
                        "per-character": lambda: [per_character_parse(t) for t in texts],
                        "numpy rows": lambda: (pat._BITMAP_CACHE.clear(), pat.builtin_set("alphanumeric"))},
                       max(args.repeat, 15))
    print(f"load_scenario(hopfield_letters), medians: cold {med['cold'] * 1e3:.2f} ms, warm (cached) "
          f"{med['warm'] * 1e3:.2f} ms: cold / warm {med['cold'] / med['warm']:.1f}")
    print(f"  alphanumeric bitmaps: per-character parser {med['per-character'] * 1e3:.2f} ms, numpy rows "
          f"{med['numpy rows'] * 1e3:.2f} ms: {med['per-character'] / med['numpy rows']:.1f}x")
    return 0


def timeit_gemv(W, s, reps):
    t0 = time.perf_counter()
    for _ in range(reps):
        s @ W
    return time.perf_counter() - t0


if __name__ == "__main__":
    sys.exit(main())
