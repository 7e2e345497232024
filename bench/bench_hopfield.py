"""Hopfield retrieval speed: recurnet_sim against a straightforward numpy implementation.

Same work, same seeds: N = 1000 units, P = 100 random patterns (Hebb), 20 cues with 10% of their
bits flipped, asynchronous sequential updates until a sweep changes nothing. The baseline visits
every unit and computes its field as W[i] @ s, one cue at a time. Final states must be identical.

Then synchronous retrieval of a batch of cues is reported as a fraction of this machine's measured
matrix-multiply rate (the sweep is one (B, N) x (N, N) product plus elementwise work).

Then (issue 13) the compiled kernels, each as a ratio against a baseline timed in the same run
(medians of interleaved repeats): one asynchronous sweep of one cue at N = 1000 and 2500 against a
minimal numba event-driven sweep (the floor) and against our numpy path; one synchronous sweep
against a float32 GEMV; Hebbian storage (W1: N = 1000, P = 100; W2: N = 2500, P = 250) against a
plain float32 GEMM; and the engine's tick against model.step.

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



# ----- issue 13: compiled kernels ------------------------------------------------------------------
def _median_interleaved(fns: dict, repeat: int, setup=None) -> dict:
    """Median seconds of each function, the functions called in turn ``repeat`` times (so drifts
    of a shared machine hit them alike); ``setup(name)`` runs untimed before each call."""
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            if setup is not None:
                setup(k)
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def _floor_kernel():
    """The compiled floor: the event-driven asynchronous sweep, nothing else (one trial, float32
    fields, a random order given), hand-written in numba."""
    from recurnet_sim.kernels import load_numba
    nb = load_numba()

    @nb.njit(cache=False)
    def sweep(s, h, cT, order):
        n = 0
        for i in order:
            if h[i] * s[i] < 0:
                d = np.float32(-2.0 * s[i])
                s[i] = -s[i]
                for j in range(h.shape[0]):
                    h[j] += d * cT[i, j]
                n += 1
        return n
    return sweep


def issue13() -> None:
    from recurnet_sim import kernels
    kernels.COMPILE_AFTER_S = 0.0  # time the kernels themselves, not the start-on-numpy policy
    rng = np.random.default_rng(SEED)
    floor = _floor_kernel()
    print("\nCompiled kernels (issue 13): ratios from this run (medians of interleaved repeats)")
    for n_units, p_pats in ((1000, 100), (2500, 250)):
        xi = random_patterns(p_pats, n_units, rng)
        c, scale = hebbian(xi, np.float32)
        cue = flip_fraction(xi[:1], NOISE, rng)
        models = {k: HopfieldModel(c, scale, patterns=xi, state=cue, schedule="random", symmetric=True,
                                   integer=True, kernel=k) for k in ("compiled", "numpy")}
        order = np.random.default_rng(1).permutation(n_units)
        s_f, h_f = cue[0].astype(np.float32), np.zeros(n_units, np.float32)
        W32 = models["compiled"]._couplingT
        floor(s_f.copy(), (cue[0].astype(np.float32) @ W32), W32, order)  # compile
        for m in models.values():
            m.step(trial_rngs(0, 1), np.ones(1, bool))  # compile / warm

        # The floor twice: with one fixed order (the CPU's branch predictor learns the 1000 visits
        # and their flips over the repeats) and with a fresh order each call, drawn untimed in the
        # setup, as model.step visits (it must also draw it: timed here as numpy's permutation).
        fresh = [np.random.default_rng(k).permutation(n_units) for k in range(64)]
        cur = {"o": order, "k": 0}

        def setup(k):
            if k in models:
                models[k].set_state(cue)
            else:
                s_f[:] = cue[0]
                h_f[:] = s_f @ W32
                cur["k"] += 1
                cur["o"] = fresh[cur["k"] % len(fresh)]
        rngs, one = trial_rngs(0, 1), np.ones(1, bool)
        perm_rng = np.random.default_rng(3)
        fns = {"floor": lambda: floor(s_f, h_f, W32, order),
               "floor_fresh": lambda: floor(s_f, h_f, W32, cur["o"]),
               "permutation": lambda: perm_rng.permutation(n_units),
               "compiled": lambda: models["compiled"].step(rngs, one),
               "numpy": lambda: models["numpy"].step(rngs, one)}
        t = _median_interleaved(fns, 41 if n_units == 1000 else 21, setup)
        print(f"  async sweep, one cue, N={n_units} ({NOISE:.0%} flipped, random order, model.step): "
              f"floor {t['floor'] * 1e3:.4f} ms (fixed order) / {t['floor_fresh'] * 1e3:.4f} ms (fresh order), "
              f"numpy's permutation({n_units}) {t['permutation'] * 1e3:.4f} ms, compiled {t['compiled'] * 1e3:.4f} ms, "
              f"numpy {t['numpy'] * 1e3:.3f} ms")
        print(f"    -> compiled = {t['compiled'] / t['floor']:.2f}x the fixed-order floor, "
              f"{t['compiled'] / t['floor_fresh']:.2f}x the fresh-order floor, "
              f"{t['compiled'] / (t['floor_fresh'] + t['permutation']):.2f}x floor + numpy's draw of the order; "
              f"{t['numpy'] / t['compiled']:.1f}x faster than the numpy path"
              + (f"; {t['compiled'] / 48e-6:.2f}x the issue's measured floor (0.048 ms)" if n_units == 1000 else ""))
        if n_units == 1000:
            # the engine's tick (perturb -> update -> record energy, flips, overlaps) vs model.step
            from recurnet_sim.recorders import default_recorders
            sims = {}

            def mk_sim():
                m = HopfieldModel(c, scale, patterns=xi, state=cue, schedule="random", symmetric=True,
                                  integer=True, kernel="compiled")
                sims["s"] = Simulation(m, trial_rngs(0, 1), StopConditions(max_steps=10**6, fixed_point=False,
                                                                          cycle=False),
                                       recorders=default_recorders(True, True, True, True, 0))
            mk_sim()
            sims["s"].step()
            te = _median_interleaved({"engine": lambda: sims["s"].step(),
                                      "engine block": lambda: sims["s"].run_steps(1),
                                      "step": fns["compiled"]}, 41,
                                     lambda k: mk_sim() if k.startswith("engine") else setup("compiled"))
            print(f"    the first tick through the engine, default recorders: Simulation.step (tick by tick) "
                  f"{te['engine'] * 1e3:.3f} ms = {te['engine'] / te['step']:.2f}x model.step; Simulation.run_steps(1) "
                  f"(a block of one tick, Model.run_ticks) {te['engine block'] * 1e3:.3f} ms = "
                  f"{te['engine block'] / te['step']:.2f}x; a whole recall: bench_engine.py")
            # synchronous: from the cue (about 10 % change: columns added), and from a random state
            # (half change: one float32 GEMV), against a float32 GEMV
            sync = HopfieldModel(c, scale, patterns=xi, state=cue, schedule="synchronous", symmetric=True,
                                 integer=True, kernel="compiled")
            sync_np = HopfieldModel(c, scale, patterns=xi, state=cue, schedule="synchronous", symmetric=True,
                                    integer=True, kernel="numpy")
            rand = np.where(rng.random((1, n_units)) < 0.5, -1, 1)
            v32 = cue[0].astype(np.float32)
            for m in (sync, sync_np):
                m.step(trial_rngs(0, 1), np.ones(1, bool))
            for label, start in (("from the cue", cue), ("from a random state", rand)):
                ts = _median_interleaved({"gemv": lambda: v32 @ W32,
                                          "compiled": lambda: sync.step(rngs, one),
                                          "numpy": lambda: sync_np.step(rngs, one)}, 41,
                                         lambda k: (sync if k == "compiled" else sync_np).set_state(start)
                                         if k != "gemv" else None)
                print(f"  sync sweep, one cue, N={n_units}, {label}: compiled {ts['compiled'] * 1e3:.3f} ms = "
                      f"{ts['compiled'] / ts['gemv']:.2f}x a float32 GEMV ({ts['gemv'] * 1e3:.3f} ms); numpy path "
                      f"{ts['numpy'] / ts['gemv']:.2f}x")
    # Hebbian storage: learn + build the model, against a plain GEMM of the patterns
    from recurnet_sim.families.hopfield.model import learn
    for name, (n_units, p_pats) in (("W1", (1000, 100)), ("W2", (2500, 250))):
        xi = random_patterns(p_pats, n_units, rng)
        x32, x64 = xi.astype(np.float32), xi.astype(np.float64)

        def store():
            cc, sc = learn("hebbian", xi)
            return HopfieldModel(cc, sc, patterns=xi, state=xi[:1], symmetric=True, integer=True,
                                 max_row_sum=float(p_pats) * n_units)

        def store_old():  # before issue 13: float64 GEMM, then the model's float32 copy and row sums
            cc, sc = hebbian(xi)
            return HopfieldModel(cc, sc, patterns=xi, state=xi[:1], symmetric=True, integer=True)
        store()
        ts = _median_interleaved({"gemm32": lambda: x32.T @ x32, "gemm64": lambda: x64.T @ x64,
                                  "ours": store, "before": store_old}, 9)
        print(f"  Hebbian storage {name} (N={n_units}, P={p_pats}, learn + model): {ts['ours'] * 1e3:.1f} ms = "
              f"{ts['ours'] / ts['gemm32']:.2f}x a float32 GEMM ({ts['gemm32'] * 1e3:.1f} ms), "
              f"{ts['ours'] / ts['gemm64']:.2f}x a float64 GEMM; the float64 path of before: "
              f"{ts['before'] / ts['gemm32']:.2f}x")


if __name__ == "__main__":
    main()
    issue13()
