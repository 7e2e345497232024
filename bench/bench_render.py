"""Frame render time of the live viewer for Hopfield-style grids (SDL dummy video driver).

    python bench/bench_render.py [--frames 200] [--size 1280x800]

For each grid (32x32, 100x100, 200x200) a simulation whose state changes every frame is drawn
``--frames`` times through ``Viewer.draw()`` (state grid as one surfarray blit + energy plot +
overlap bars + status line); the script reports the mean and 95th-percentile frame time and the
frame rate that leaves. The network is a stand-in with the Hopfield protocol whose "dynamics" flip
2% of the units per tick: a real 200 x 200 Hopfield net would need a 40 000 x 40 000 weight matrix
(12.8 GB) and is not what is measured here — rendering is. A last line then runs a *real*
100 x 100 Hopfield network under Glauber dynamics, one full sweep per frame, and reports the frame
time with the simulation step included.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import numpy as np  # noqa: E402

from recurnet_sim.engine import Simulation, StopConditions  # noqa: E402
from recurnet_sim.model import Model  # noqa: E402
from recurnet_sim.viewer import Viewer  # noqa: E402


class FlickerGrid(Model):
    """A render-only stand-in: P random stored patterns, a tick flips 2% of the units. It belongs
    to no family, so the viewer draws it with the default layout (one grid in ``grid_shape``)."""

    network_type = "flicker_grid"

    def __init__(self, rows: int, cols: int, n_patterns: int = 5, seed: int = 0):
        rng = np.random.default_rng(seed)
        n = rows * cols
        self.grid_shape = (rows, cols)
        self.patterns = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n_patterns, n))
        self.pattern_names = [f"p{k + 1}" for k in range(n_patterns)]
        self.state = self.patterns[:1].copy()
        self.clamped = np.zeros_like(self.state, dtype=bool)
        self.clamped[0, : cols] = True  # a clamped top row, drawn as outlines or a tint
        self.temperature = 0.0

    def step(self, rngs, active):
        k = max(1, self.n_units // 50)
        idx = rngs[0].choice(self.n_units, size=k, replace=False)
        self.state[0, idx] *= -1
        return np.array([k])

    def energy(self):
        return np.array([-float(self.state[0] @ self.patterns[0]) / self.n_units])

    def describe(self):
        return {**super().describe(), "grid_shape": self.grid_shape}


def bench(rows: int, cols: int, frames: int, size) -> dict:
    model = FlickerGrid(rows, cols)
    sim = Simulation(model, [np.random.default_rng(1)], StopConditions(max_steps=10**9, fixed_point=False, cycle=False),
                     name=f"bench {rows}x{cols}", info={"view": {"width": size[0], "height": size[1]}})
    v = Viewer(sim, size=size, headless=True)
    try:
        for _ in range(10):  # warm up caches (fonts, surfaces)
            v.update()
            v.draw()
        times, grid_times = [], []
        for _ in range(frames):
            v.update()
            t0 = time.perf_counter()
            v.draw()
            times.append(time.perf_counter() - t0)
            t1 = time.perf_counter()
            v.state_view.draw(v.screen, v.fonts, 0)
            grid_times.append(time.perf_counter() - t1)
        cell = v.state_view.blocks[0].cell
    finally:
        v.close()
    ms = sorted(t * 1e3 for t in times)
    return {"grid": f"{rows}x{cols}", "cell_px": cell, "mean_ms": statistics.fmean(ms), "p95_ms": ms[int(0.95 * (len(ms) - 1))],
            "state_view_ms": 1e3 * statistics.fmean(grid_times), "fps": 1000.0 / statistics.fmean(ms)}


def bench_running_hopfield(frames: int, size, temperature: float = 0.3) -> dict:
    """A real 100 x 100 Hopfield network (10 random patterns, Hebb) under Glauber dynamics, one
    sweep of 10,000 unit updates per frame: the frame time *with* the simulation step."""
    from recurnet_sim.families.hopfield import FAMILY
    from recurnet_sim.families.hopfield.model import HopfieldModel, hebbian
    from recurnet_sim.patterns import flip_fraction, random_patterns
    from recurnet_sim.seeding import trial_rngs

    rng = np.random.default_rng(0)
    xi = random_patterns(10, 10_000, rng)
    c, scale = hebbian(xi)
    cue = flip_fraction(xi[:1], 0.2, rng)
    model = HopfieldModel(c, scale, patterns=xi, state=cue, schedule="glauber", temperature=temperature,
                          grid_shape=(100, 100), symmetric=True, integer=True)
    del c
    sim = Simulation(model, trial_rngs(0, 1), StopConditions(max_steps=10**9), name="hopfield 100x100",
                     info={"view": {"width": size[0], "height": size[1]}}, family=FAMILY)
    v = Viewer(sim, size=size, headless=True)
    try:
        for _ in range(10):
            v.update()
            v.draw()
        times = []
        for _ in range(frames):
            t0 = time.perf_counter()
            v.update()  # one sweep (steps per frame = 1)
            v.draw()
            times.append(time.perf_counter() - t0)
    finally:
        v.close()
    ms = sorted(t * 1e3 for t in times)
    return {"mean_ms": statistics.fmean(ms), "p95_ms": ms[int(0.95 * (len(ms) - 1))], "fps": 1000.0 / statistics.fmean(ms),
            "overlap": float(model.overlaps()[0, 0])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", default="1280x800", help="window size WxH")
    a = ap.parse_args()
    size = tuple(int(x) for x in a.size.lower().split("x"))
    print(f"viewer frame render time, window {size[0]}x{size[1]}, SDL dummy driver, {a.frames} frames")
    print(f"{'grid':>9} {'cell px':>8} {'frame mean ms':>14} {'p95 ms':>8} {'state view ms':>14} {'max fps':>8}")
    for r, c in ((32, 32), (100, 100), (200, 200)):
        res = bench(r, c, a.frames, size)
        print(f"{res['grid']:>9} {res['cell_px']:>8} {res['mean_ms']:>14.2f} {res['p95_ms']:>8.2f} "
              f"{res['state_view_ms']:>14.2f} {res['fps']:>8.0f}")
    res = bench_running_hopfield(a.frames, size)
    print(f"running: real 100x100 Hopfield net (P = 10, Hebb), Glauber T = 0.3, one 10,000-unit sweep per frame: "
          f"{res['mean_ms']:.2f} ms per frame (p95 {res['p95_ms']:.2f}) = {res['fps']:.0f} fps; "
          f"overlap with the stored pattern {res['overlap']:+.3f}")


if __name__ == "__main__":
    main()
