"""Engine contract: determinism, batch == single runs, traces, perturbations, stop conditions."""
from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from recurnet_sim.family import Output
from recurnet_sim import load_scenario
from recurnet_sim.engine import CONDITION, CYCLE, FIXED_POINT, MAX_STEPS, PHASES, Simulation, StopConditions
from recurnet_sim.errors import SimulationError, TraceFileError
from recurnet_sim.families.hopfield.model import HopfieldModel, hebbian
from recurnet_sim.patterns import random_patterns
from recurnet_sim.perturbations import (AddNoise, Clamp, FlipFraction, FlipUnits, LoadPattern, SetRegion,
                                        SetTemperature)
from recurnet_sim.recorders import Trace, default_recorders
from recurnet_sim.seeding import trial_rngs

LETTERS = "scenarios/hopfield_letters.toml"


def small_sim(B=4, seed=0, schedule="random", temperature=0.0, **stop):
    rng = np.random.default_rng(42)
    xi = random_patterns(3, 64, rng)
    c, s = hebbian(xi)
    state = np.tile(xi[0], (B, 1))
    model = HopfieldModel(c, s, patterns=xi, state=state, schedule=schedule, temperature=temperature, grid_shape=(8, 8))
    recs = default_recorders(snapshot_every=1)
    return Simulation(model, trial_rngs(seed, B), StopConditions(**stop), recs, seed=seed)


def test_same_seed_same_trace():
    t = []
    for _ in range(2):
        sim = load_scenario(LETTERS, {"dynamics.schedule": "glauber", "dynamics.temperature": 0.3,
                                      "record.snapshot_every": 1}, trials=3, max_steps=30)
        sim.run()
        t.append(sim.trace())
    assert t[0].arrays.keys() == t[1].arrays.keys()
    for k in t[0].arrays:
        assert np.array_equal(t[0][k], t[1][k], equal_nan=True), k
    sim = load_scenario(LETTERS, {"dynamics.schedule": "glauber", "dynamics.temperature": 0.3}, seed=99, trials=3,
                        max_steps=30)
    sim.run()
    assert not np.array_equal(sim.trace()["energy"], t[0]["energy"][: len(sim.trace()["energy"])])


@pytest.mark.parametrize("overrides", [
    {},
    {"dynamics.schedule": "synchronous", "initial.noise": 0.45},
    {"dynamics.schedule": "glauber", "dynamics.temperature": 0.25, "stop.max_steps": 25},
    {"patterns.source": "random", "network.size": 100, "patterns.count": 12, "patterns.per_trial": True,
     "initial.pattern": "random", "patterns.names": "none", "network.shape": "none"},
])
def test_batch_equals_single_runs(overrides):
    B = 5
    batch = load_scenario(LETTERS, overrides, trials=B)
    batch.run()
    br = batch.results()
    for b in range(B):
        single = load_scenario(LETTERS, overrides, trials=1, first_trial=b)
        single.run()
        r = single.results()[0]
        assert np.array_equal(single.model.state[0], batch.model.state[b])
        assert r.steps == br[b].steps and r.stop_reason == br[b].stop_reason
        assert r.energy == br[b].energy
        assert r.trial == br[b].trial == b


def test_trace_round_trip(tmp_path):
    sim = load_scenario(LETTERS, {"record.snapshot_every": 1}, trials=2)
    sim.run()
    tr = sim.trace()
    p = tr.save(tmp_path / "t.npz")
    back = Trace.load(p)
    assert back.meta["scenario"] == "hopfield_letters" and back.meta["pattern_names"] == ["A", "I", "M", "V"]
    for k in tr.arrays:
        assert np.array_equal(tr[k], back[k], equal_nan=True)
    assert back["states"].shape == (len(back["states_ticks"]), 2, 120)


def test_bad_trace_files_give_clear_error(tmp_path):
    sim = load_scenario(LETTERS)
    sim.run()
    good = sim.trace().save(tmp_path / "good.npz")
    data = good.read_bytes()
    cases = {
        "missing.npz": None,
        "truncated.npz": data[: len(data) // 2],
        "garbage.npz": b"\x00\x01not a zip at all" * 10,
        "empty.npz": b"",
    }
    np.savez(tmp_path / "foreign.npz", x=np.arange(3))
    np.save(tmp_path / "pickled.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(tmp_path / "pickle.npz", "w") as z:
        z.write(tmp_path / "pickled.npy", "x.npy")
    for name, content in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
    for name in list(cases) + ["foreign.npz", "pickle.npz"]:
        with pytest.raises(TraceFileError) as e:
            Trace.load(tmp_path / name)
        assert name in str(e.value)


def test_reset_replays_identically():
    sim = load_scenario(LETTERS, {"dynamics.schedule": "glauber", "dynamics.temperature": 0.3}, trials=2, max_steps=20)
    s0 = sim.model.state.copy()
    sim.run()
    e1 = sim.recorder("energy").data().copy()
    sim.reset()
    assert np.array_equal(sim.model.state, s0) and sim.tick == 0
    sim.run()
    assert np.array_equal(sim.recorder("energy").data(), e1)


def test_scheduled_perturbation_defers_settling_and_is_applied():
    sim = small_sim(B=2, max_steps=50)
    sim.schedule(FlipUnits((0, 1, 2)), at=5)
    sim.run_steps(5)
    assert sim.active.all()  # at a fixed point since tick 1, but a perturbation is pending
    s_before = sim.model.state.copy()
    sim.step()  # tick 5: flip then update (the update repairs the flips)
    snaps = sim.recorder("states").data()
    assert np.array_equal(snaps[-1], s_before)  # recall repaired the three flipped units
    assert sim.recorder("flips").data()[-1].tolist() == [3, 3]
    sim.run()
    assert all(r == FIXED_POINT for r in sim.stop_reason) and (sim.stop_tick == 7).all()  # tick 7 is the first unchanged sweep


def test_apply_flip_region_clamp_pattern_temperature():
    sim = small_sim(B=2, max_steps=100)
    m = sim.model
    s0 = m.state.copy()
    sim.apply(FlipUnits((5,)), rows=[1])
    assert m.state[1, 5] == -s0[1, 5] and m.state[0, 5] == s0[0, 5]
    sim.apply(SetRegion(1, rows=(0, 2), cols=(0, 3)))
    grid = m.state.reshape(2, 8, 8)
    assert np.all(grid[:, :2, :3] == 1)
    sim.apply(Clamp(True, units=(10, 11)))
    sim.apply(FlipUnits((10, 11)))
    clamped_vals = m.state[:, [10, 11]].copy()
    sim.run()
    assert np.array_equal(m.state[:, [10, 11]], clamped_vals)  # clamped units kept their value
    sim.apply(LoadPattern(1))
    assert np.array_equal(m.state[0], m.patterns[1]) and sim.active.all()  # woken up
    sim.apply(SetTemperature(2.0))
    assert m.temperature == 2.0
    with pytest.raises(SimulationError):
        sim.apply(LoadPattern("nope"))
    with pytest.raises(SimulationError):
        sim.apply(FlipUnits((999,)))


def test_flip_fraction_flips_exact_count_per_trial():
    sim = small_sim(B=3)
    s0 = sim.model.state.copy()
    sim.apply(FlipFraction(0.25))
    changed = (sim.model.state != s0).sum(axis=1)
    assert changed.tolist() == [16, 16, 16]
    assert not np.array_equal(sim.model.state[0], sim.model.state[1])  # each trial its own rng
    sim.apply(AddNoise(0.5))
    assert ((sim.model.state != s0).sum(axis=1) > 0).all()


def test_stop_conditions():
    sim = small_sim(B=2, schedule="glauber", temperature=5.0, max_steps=7)
    sim.run()
    assert list(sim.stop_reason) == [MAX_STEPS, MAX_STEPS] and sim.tick == 7
    # user condition: stop as soon as the overlap with pattern 1 is high
    sim = small_sim(B=1, condition=lambda s: s.model.overlaps()[:, 0] > 0.99, fixed_point=False, max_steps=50)
    sim.run()
    assert sim.stop_reason[0] == CONDITION and sim.tick == 1
    # min_steps postpones settling
    sim = small_sim(B=1, min_steps=4)
    sim.run()
    assert sim.stop_reason[0] == FIXED_POINT and sim.tick == 4


def test_stochastic_runs_never_claim_a_fixed_point():
    sim = small_sim(B=2, schedule="glauber", temperature=0.05, max_steps=30)
    sim.run()
    # At low T whole sweeps may change nothing, but that is not a fixed point of stochastic dynamics.
    assert list(sim.stop_reason) == [MAX_STEPS, MAX_STEPS]


def test_anneal_schedule_sets_temperature_and_settles_after_it_ends():
    from recurnet_sim.anneal import AnnealSchedule
    sim = small_sim(B=1, schedule="glauber", max_steps=100)
    sim.anneal = AnnealSchedule([(1.0, 3), (0.5, 3), (0.0, 2)])
    sim.run()
    T = sim.recorder("temperature").data()[:, 0]
    assert T[1:4].tolist() == [1.0] * 3 and T[4:7].tolist() == [0.5] * 3 and T[7] == 0.0
    assert sim.stop_reason[0] == FIXED_POINT and sim.tick >= 8


def test_schedule_summary_lists_phases_in_order():
    sim = small_sim()
    sim.schedule(FlipUnits((1,)), 3)
    text = sim.schedule_summary()
    pos = [text.index(p) for p in PHASES]
    assert pos == sorted(pos)
    assert "t=3" in text


def test_results_json_ready():
    sim = load_scenario(LETTERS, {"dynamics.schedule": "synchronous", "initial.noise": 0.45}, seed=615)
    r = sim.run()
    d = r.to_dict()
    json.dumps(d)
    assert d["stop_reason"] == CYCLE and d["cycle_period"] == 2 and d["converged"] is False
    assert len(d["energy"]) == d["steps"] + 1


def test_random_order_settles_but_never_claims_a_cycle():
    """A sweep without change is a fixed point in any order; a revisited state proves a cycle only
    when the order is fixed (with a random order the next state depends on the draw)."""
    n = 5
    W = np.roll(np.eye(n), 1, axis=0)  # the cyclic shift: a period-5 cycle when updated in step
    for schedule, expect in (("synchronous", CYCLE), ("random", MAX_STEPS)):  # noqa: B007
        model = HopfieldModel(W, state=[[1, -1, -1, -1, -1]], schedule=schedule)
        sim = Simulation(model, trial_rngs(0, 1), StopConditions(max_steps=60))
        sim.run()
        if schedule == "synchronous":
            assert sim.stop_reason[0] == CYCLE and sim.cycle_period[0] == n
        else:
            assert sim.stop_reason[0] in (expect, FIXED_POINT)  # never a claimed cycle
    rng = np.random.default_rng(0)
    xi = random_patterns(3, 64, rng)
    c, s = hebbian(xi)
    model = HopfieldModel(c, s, patterns=xi, state=xi[:1], schedule="random")
    assert model.settles and not model.deterministic
    sim = Simulation(model, trial_rngs(0, 1), StopConditions(max_steps=10))
    sim.run()
    assert sim.stop_reason[0] == FIXED_POINT and sim.tick == 1


def test_schedule_summary_has_no_learn_phase():
    # No family ever learned while running (Model.learn was a no-op everywhere): learning is a
    # separate training step before tick 0, so the tick has five phases.
    assert PHASES == ("perturb", "anneal", "update", "record", "stop")
    assert "learn" not in small_sim().schedule_summary()


# ----- training through the engine's clock --------------------------------------------------------
def _toy_training(sim, n=3, outputs=(), log=None):
    """A TrainingRun whose tick i flips unit i of every trial (it changes what tick 0 is)."""
    from recurnet_sim.family import TrainingRun

    model = sim.model
    log = [] if log is None else log

    def ticks():
        for i in range(1, n + 1):
            model.flip([i])
            log.append(i)
            yield {"epoch": i, "loss": 1.0 / i, "solved": i == n}

    return TrainingRun(ticks(), total=n, unit="epoch", label="loss", finish=lambda: log.append("finish"),
                       outputs=outputs)


def _trained_sim(n=3, outputs=(), log=None):
    sim = small_sim(B=2, max_steps=5)
    run = _toy_training(sim, n, outputs, log)
    return Simulation(sim.model, sim.rngs, sim.stop, sim.recorders, training=run, seed=0)


def test_train_step_is_one_training_tick_and_the_trained_net_becomes_tick_0(tmp_path):
    log = []
    written = []
    sim = _trained_sim(outputs=(Output(tmp_path / "w.bin", lambda p: written.append(p)),), log=log)
    s0 = sim.model.state.copy()
    e_untrained = sim.recorder("energy").rows[0].copy()
    assert sim.training_pending and sim.training.total == 3 and sim.tick == 0
    assert sim.train_step() and log == [1] and sim.training_history == [{"epoch": 1, "loss": 1.0, "solved": False}]
    assert sim.train_step() and sim.train_step() and log == [1, 2, 3] and written == []
    assert not sim.train_step()  # exhausted: finish, outputs, new tick 0
    assert log == [1, 2, 3, "finish"] and written == [tmp_path / "w.bin"] and not sim.training_pending
    assert not sim.train_step() and len(sim.training_history) == 3
    trained = s0.copy()
    trained[:, [1, 2, 3]] *= -1
    assert np.array_equal(sim.model.state, trained)
    # tick 0 is recorded again, from the trained network
    assert sim.recorder("energy").ticks == [0]
    assert np.allclose(sim.recorder("energy").rows[0], sim.model.energy())
    assert not np.allclose(sim.recorder("energy").rows[0], e_untrained)
    sim.run_steps(2)
    assert sim.tick > 0
    sim.reset()  # back to the trained network, not the untrained one
    assert np.array_equal(sim.model.state, trained) and sim.tick == 0


def test_step_and_run_finish_pending_training_first_and_match_explicit_training():
    a = _trained_sim()
    ra = a.run()
    b = _trained_sim()
    seen = []
    b.train(progress=lambda i, n, info: seen.append((i, n, info["epoch"])))
    assert seen == [(1, 3, 1), (2, 3, 2), (3, 3, 3)]
    rb = b.run()
    assert [r.to_dict() | {"elapsed_s": 0} for r in ra] == [r.to_dict() | {"elapsed_s": 0} for r in rb]
    assert a.training_history == b.training_history
    assert np.array_equal(a.trace()["energy"], b.trace()["energy"])


def test_training_outputs_are_checked_before_the_first_training_tick(tmp_path):
    from recurnet_sim.errors import OutputError

    mine = tmp_path / "mine.npz"
    mine.write_text("not recurnet's")
    log = []
    sim = _trained_sim(outputs=(Output(mine, lambda p: None),), log=log)
    with pytest.raises(OutputError, match="not written by recurnet"):
        sim.train_step()
    assert log == [] and sim.training_history == []  # nothing learned
    sim = _trained_sim(outputs=(Output(tmp_path / "no" / "w.npz", lambda p: None),), log=log)
    with pytest.raises(OutputError, match="does not exist"):
        sim.run()
    assert log == []


def test_trace_holds_the_training_history(tmp_path):
    sim = _trained_sim()
    sim.run()
    t = sim.trace()
    assert t["training_loss"].tolist() == [1.0, 0.5, 1 / 3]
    assert t["training_loss_ticks"].tolist() == [1, 2, 3]
    assert t["training_solved"].tolist() == [False, False, True]
    assert t.meta["training"] == {"unit": "epoch", "label": "loss", "ticks": 3, "total": 3}
    back = Trace.load(t.save(tmp_path / "t.npz"))
    assert back["training_loss"].tolist() == [1.0, 0.5, 1 / 3]


def test_no_training_no_training_arrays():
    sim = small_sim()
    assert sim.training is None and not sim.training_pending and not sim.train_step()
    sim.run()
    assert not any(k.startswith("training") for k in sim.trace().arrays)


def test_boltzmann_training_through_the_engine_gives_the_run_it_gave_inside_build():
    """The golden record pins the CLI; this pins the Python API: training driven tick by tick,
    then run, equals training driven by run() (the same build_rng stream either way)."""
    a = load_scenario("scenarios/boltzmann_encoder.toml", trials=2)
    b = load_scenario("scenarios/boltzmann_encoder.toml", trials=2)
    while b.train_step():
        pass
    assert a.training_pending and not b.training_pending
    ra, rb = a.run(), b.run()
    assert [r.to_dict() | {"elapsed_s": 0} for r in ra] == [r.to_dict() | {"elapsed_s": 0} for r in rb]
    assert np.array_equal(a.model.weights, b.model.weights)
    assert a.training_history == b.training_history and a.training_history[-1]["solved"]


@pytest.mark.parametrize("memory", [32, 2])
def test_cycle_longer_than_cycle_memory_is_found_exactly(memory):
    """A synchronous cyclic shift of n units has period exactly n; a period above cycle_memory
    (the scenario default is 32) used to be reported as max_steps."""
    n = 59
    W = np.roll(np.eye(n), 1, axis=0)
    s0 = -np.ones((1, n))
    s0[0, 0] = 1
    model = HopfieldModel(W, state=s0, schedule="synchronous")
    sim = Simulation(model, trial_rngs(0, 1), StopConditions(max_steps=200, cycle_memory=memory))
    sim.run()
    assert sim.stop_reason[0] == CYCLE and sim.cycle_period[0] == n and sim.stop_tick[0] == n


def test_cycle_period_matches_brute_force_on_random_asymmetric_networks():
    """Random asymmetric +-1 networks updated synchronously: the engine's stop reason and period
    are those of a brute-force search over the whole trajectory (first revisit of any state)."""
    rng = np.random.default_rng(7)
    n, max_steps, long = 10, 150, 0
    for _ in range(150):
        W = rng.choice([-1.0, 1.0], size=(n, n))
        np.fill_diagonal(W, 0)
        s0 = rng.choice([-1, 1], size=(1, n))
        model = HopfieldModel(W, state=s0, schedule="synchronous")
        sim = Simulation(model, trial_rngs(0, 1), StopConditions(max_steps=max_steps))
        sim.run()
        seen, s, expect = {s0[0].tobytes(): 0}, s0[0].astype(float), (MAX_STEPS, None)
        for t in range(1, max_steps + 1):
            h = W @ s
            s = np.where(h > 0, 1.0, np.where(h < 0, -1.0, s))
            k = s.astype(np.int64).tobytes()
            if t - 1 in seen.values() and list(seen)[-1] == k:
                expect = (FIXED_POINT, None)
                break
            if k in seen and t - seen[k] >= 2:
                expect = (CYCLE, t - seen[k])
                break
            seen[k] = t
        got = (sim.stop_reason[0], int(sim.cycle_period[0]) if sim.stop_reason[0] == CYCLE else None)
        assert got == expect
        long += expect[0] == CYCLE and expect[1] > 32
    assert long >= 1  # the sample includes periods the old 32-state memory missed


def test_cycle_memory_cap_is_reported_when_it_forgets(monkeypatch):
    """Under the memory cap the detector forgets the oldest states; a run that then misses a long
    cycle says up to which period it checked instead of implying there was no cycle."""
    import recurnet_sim.engine as engine
    n = 59
    W = np.roll(np.eye(n), 1, axis=0)
    s0 = -np.ones((1, n))
    s0[0, 0] = 1
    monkeypatch.setattr(engine, "CYCLE_MEMORY_BYTES", 20 * (8 + 64))  # 20 keys of 8 bytes
    sim = Simulation(HopfieldModel(W, state=s0, schedule="synchronous"), trial_rngs(0, 1),
                     StopConditions(max_steps=100, cycle_memory=4))
    r = sim.run()
    assert r.stop_reason == MAX_STEPS and r.extra["cycle_checked_up_to_period"] == 19
    monkeypatch.setattr(engine, "CYCLE_MEMORY_BYTES", 256 * 2**20)
    sim.reset()
    r = sim.run()
    assert r.stop_reason == CYCLE and r.cycle_period == n and "cycle_checked_up_to_period" not in r.extra


class _Steps:
    """An annealing schedule given as one temperature per tick (the last one held)."""

    def __init__(self, temps):
        self.temps = temps
        self.total_ticks = len(temps)

    def temperature_at(self, tick):
        return self.temps[min(tick, len(self.temps) - 1)]


def test_temperature_rows_are_each_ticks_temperature_when_rows_are_shared():
    """The temperature recorder shares one row between ticks at the same temperature: every tick
    still reads its own temperature (anneal steps, a viewer command between ticks), rows shared
    by equal temperatures cannot be written through, and the trace is the per-tick values."""
    m = small_sim(B=3, schedule="glauber").model
    sim = Simulation(m, trial_rngs(0, 3), StopConditions(max_steps=8, fixed_point=False, cycle=False),
                     anneal=_Steps([2.0, 2.0, 1.0, 1.0, 0.5]))
    sim.run_steps(5)
    sim.anneal = None  # from here on the temperature is the viewer's, set between ticks 5 and 6
    sim.apply(SetTemperature(0.25))
    sim.run()
    rec = sim.recorder("temperature")
    expected = [2.0, 2.0, 2.0, 1.0, 1.0, 0.5, 0.25, 0.25, 0.25]  # tick 0 at the schedule's start
    assert rec.ticks == list(range(9))
    assert np.array_equal(sim.trace()["temperature"], np.tile(np.array(expected)[:, None], (1, 3)))
    with pytest.raises(ValueError):
        rec.rows[1][0] = 9.0
    assert rec.rows[1] is rec.rows[2] and rec.rows[2] is not rec.rows[3]


def test_one_trial_stops_as_it_does_inside_a_batch():
    """The stop phase decides a batch of one with Python scalars and a bigger batch with index
    arrays: each trial of a batch stops at the tick, for the reason, with the energies it has
    when run alone (fixed points after min_steps, cycles of the synchronous rule, max_steps)."""
    rng = np.random.default_rng(7)
    xi = random_patterns(6, 80, rng)
    c, s = hebbian(xi)
    cues = np.vstack([-xi[0], rng.choice([-1, 1], size=(3, 80))]).astype(np.int8)
    for schedule, stop in (("sequential", dict(max_steps=30, min_steps=3)),
                           ("synchronous", dict(max_steps=30)), ("sequential", dict(max_steps=2))):
        def run(rows):
            m = HopfieldModel(c, s, patterns=xi, state=cues[rows], schedule=schedule)
            return Simulation(m, trial_rngs(0, len(rows)), StopConditions(**stop)).run()
        batch = run(list(range(4)))
        for b in range(4):
            one = run([b])
            got = batch[b]
            assert (got.steps, got.stop_reason, got.cycle_period, got.energy) == \
                   (one.steps, one.stop_reason, one.cycle_period, one.energy), (schedule, stop, b)
        assert {r.stop_reason for r in batch} >= ({MAX_STEPS} if stop["max_steps"] == 2 else {FIXED_POINT})
