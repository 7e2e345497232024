"""Blocks of ticks (``Model.run_ticks``, ``Simulation._run_block``) end exactly as tick by tick.

``Simulation.run`` and ``run_steps`` hand several deterministic asynchronous ticks to one compiled
call when nothing acts between them; ``Simulation.step`` always runs one tick. Both must leave the
same state, random streams, recorded rows, stop reasons and stop ticks, over random nets,
schedules, batches, stop settings, recorder intervals and perturbations.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from recurnet_sim import kernels
from recurnet_sim.engine import Simulation, StopConditions
from recurnet_sim.families.hopfield.model import HopfieldModel, learn
from recurnet_sim.perturbations import FlipFraction
from recurnet_sim.recorders import EnergyRecorder, FlipRecorder, OverlapRecorder, StateRecorder, TemperatureRecorder
from recurnet_sim.seeding import trial_rngs


@pytest.fixture(autouse=True)
def compile_small_nets(monkeypatch):
    """Runs here are short: compile from the first sweep (the default starts on numpy)."""
    monkeypatch.setattr(kernels, "COMPILE_AFTER_S", 0.0)


def make(*, seed, n, p, rule, schedule, batch, binary, clamp, theta, noise, self_coupling=False):
    g = np.random.default_rng(seed)
    xi = np.where(g.random((p, n)) < 0.5, -1, 1).astype(np.int8)
    c, scale = learn(rule, xi, zero_diagonal=not self_coupling)
    cue = np.where(g.random((batch, n)) < noise, -xi[g.integers(p, size=batch)], xi[g.integers(p, size=batch)])
    if binary:
        xi, cue = ((xi + 1) // 2).astype(np.int8), (cue + 1) // 2
    hebb = rule == "hebbian"
    m = HopfieldModel(c, scale, np.full(n, theta * scale), patterns=xi, units="binary" if binary else "bipolar",
                      schedule=schedule, state=cue, integer=hebb or None, symmetric=True if hebb else None,
                      kernel="compiled")
    if clamp:
        m.set_clamped(g.random((batch, n)) < 0.2)
    return m


def recorders(every):
    return [EnergyRecorder(every), FlipRecorder(), OverlapRecorder(every), TemperatureRecorder(),
            StateRecorder(max(1, every - 1))]


def outcome(sim):
    out = {"tick": sim.tick, "state": sim.model.state.copy(), "reason": list(sim.stop_reason),
           "stop_tick": sim.stop_tick.copy(), "flips": sim.last_flips.copy(),
           "rng": [g.bit_generator.state for g in sim.rngs], "energy": sim.model.energy().copy()}
    for r in sim.recorders:
        out[r.name] = (list(r.ticks), r.data())
    return out


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], tuple):
            assert a[k][0] == b[k][0], k
            assert np.array_equal(a[k][1], b[k][1]), k
        elif isinstance(a[k], np.ndarray):
            assert np.array_equal(a[k], b[k]), k
        else:
            assert a[k] == b[k], k


def counting_blocks(monkeypatch):
    calls = []
    real = HopfieldModel.run_ticks

    def run_ticks(self, *a, **kw):
        block = real(self, *a, **kw)
        calls.append(block is not None)
        return block

    monkeypatch.setattr(HopfieldModel, "run_ticks", run_ticks)
    return calls


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(4, 40), p=st.integers(1, 5),
       rule=st.sampled_from(["hebbian", "hebbian", "storkey"]),
       schedule=st.sampled_from(["sequential", "random", "glauber"]), batch=st.integers(1, 6),
       binary=st.booleans(), clamp=st.booleans(), theta=st.sampled_from([0.0, 0.5, -1.0]),
       noise=st.sampled_from([0.05, 0.2, 0.45]), max_steps=st.integers(1, 40), min_steps=st.integers(0, 12),
       fixed_point=st.booleans(), cycle=st.booleans(), every=st.integers(1, 3),
       perturb_at=st.sampled_from([None, 0, 2, 5]), split=st.sampled_from([None, 1, 3, 7]),
       self_coupling=st.booleans())
def test_blocks_end_as_tick_by_tick(seed, n, p, rule, schedule, batch, binary, clamp, theta, noise, max_steps,
                                    min_steps, fixed_point, cycle, every, perturb_at, split, self_coupling):
    """A run in blocks (run / run_steps) against the same run one step() at a time (the block's
    energies, kept at each flip, against energy() from scratch; w_ii = p/N with self-coupling)."""
    kw = dict(seed=seed, n=n, p=p, rule=rule, schedule=schedule, batch=batch, binary=binary, clamp=clamp,
              theta=theta, noise=noise, self_coupling=self_coupling)
    runs = []
    for blocks in (False, True):
        stop = StopConditions(max_steps=max_steps, min_steps=min_steps, fixed_point=fixed_point, cycle=cycle)
        pert = [] if perturb_at is None else [(perturb_at, FlipFraction(0.3))]
        sim = Simulation(make(**kw), trial_rngs(seed, batch), stop, recorders=recorders(every), perturbations=pert)
        if blocks:
            if split is not None:
                sim.run_steps(split)
            sim.run()
        else:
            while sim.step():
                pass
        runs.append(outcome(sim))
    assert_same(*runs)


def test_blocks_run_and_recall_like_single_ticks(monkeypatch):
    """The block path is taken (a whole recall in one or two kernel calls), and its energy trace
    falls strictly at every tick that flips a unit (Hopfield 1982: no cycle to look for)."""
    calls = counting_blocks(monkeypatch)
    kw = dict(seed=3, n=200, p=10, rule="hebbian", schedule="sequential", batch=4, binary=False, clamp=False,
              theta=0.0, noise=0.2)
    sims = []
    for blocks in (True, False):
        sim = Simulation(make(**kw), trial_rngs(3, 4), StopConditions(max_steps=50))
        if blocks:
            sim.run()
        else:
            while sim.step():
                pass
        sims.append(sim)
    assert calls and all(calls) and len(calls) <= 2
    assert_same(outcome(sims[0]), outcome(sims[1]))
    E, flips = sims[0].recorder("energy").data(), sims[0].recorder("flips").data()
    assert set(sims[0].stop_reason) == {"fixed_point"}
    moved = flips[1:] > 0
    assert moved.any()
    assert np.all(np.diff(E, axis=0)[moved] < 0)


def test_a_net_that_may_cycle_runs_tick_by_tick(monkeypatch):
    """A W with a negative diagonal is not cycle_free: with cycle detection on, no block runs and
    the 2-cycle is found (one unit with w_ii < 0 flips back and forth under sequential updates)."""
    calls = counting_blocks(monkeypatch)
    m = HopfieldModel(np.array([[-1.0]]), state=np.array([[1]]), schedule="sequential", integer=True,
                      kernel="compiled")
    assert not m.cycle_free
    sim = Simulation(m, trial_rngs(0, 1), StopConditions(max_steps=20))
    sim.run()
    assert calls == []
    assert sim.stop_reason[0] == "cycle" and sim.cycle_period[0] == 2


def test_recorders_that_read_the_model_run_tick_by_tick(monkeypatch):
    """A recorder without a block reading (an attribute recorder) keeps the run tick by tick."""
    from recurnet_sim.recorders import AttributeRecorder

    calls = counting_blocks(monkeypatch)
    kw = dict(seed=1, n=30, p=3, rule="hebbian", schedule="random", batch=2, binary=False, clamp=False, theta=0.0,
              noise=0.2)
    sim = Simulation(make(**kw), trial_rngs(1, 2), StopConditions(max_steps=30),
                     recorders=[EnergyRecorder(), AttributeRecorder("temperature")])
    sim.run()
    assert calls == []
    assert set(sim.stop_reason) == {"fixed_point"}


def test_row_list_reads_rows_blocks_and_states_in_order():
    """A RowList mixing single rows, blocks of rows and states to compute reads back in the order
    they were added, the same through indexing, slicing, iteration and stacked()."""
    from recurnet_sim.recorders import RowList

    computed = []

    def compute(states):
        computed.append(len(states))
        return [s.sum(axis=-1, keepdims=True) * 1.0 for s in states]

    g = np.random.default_rng(0)
    rows, expect = RowList(compute), []
    for k in range(12):
        kind = k % 3
        n = int(g.integers(1, 4))
        if kind == 0:
            r = g.random((2, 1))
            rows.append(r)
            expect.append(r)
        elif kind == 1:
            block = g.random((n, 2, 1))
            rows.extend_block(block)
            expect.extend(block)
        else:
            states = g.integers(-1, 2, size=(n, 2, 5))
            rows.extend_states(states)
            expect.extend(s.sum(axis=-1, keepdims=True) * 1.0 for s in states)
    assert len(rows) == len(expect) and computed == []  # nothing computed before a read
    assert np.array_equal(rows.stacked(), np.stack(expect))
    assert len(computed) == 1  # one compute call for every pending state
    assert np.array_equal(rows[-1], expect[-1]) and np.array_equal(np.stack(rows[2:7]), np.stack(expect[2:7]))
    assert all(np.array_equal(a, b) for a, b in zip(rows, expect))
    assert len(computed) == 1


def test_a_cycle_free_net_keeps_no_state_keys():
    """Sequential updates of a symmetric W with w_ii >= 0 strictly lower E at every flip (Hopfield
    1982): the engine remembers no state for the cycle check, tick by tick too, and still stops at
    the fixed point; the same net with a negative self-coupling is not cycle_free."""
    kw = dict(seed=5, n=60, p=4, rule="hebbian", schedule="sequential", batch=3, binary=False, clamp=False,
              theta=0.0, noise=0.3)
    m = make(**kw)
    assert m.cycle_free
    sim = Simulation(m, trial_rngs(5, 3), StopConditions(max_steps=40))
    while sim.step():
        assert all(not h for h in sim._history)
    assert set(sim.stop_reason) == {"fixed_point"}
    c = np.eye(3) * -1.0
    assert not HopfieldModel(c, state=np.ones((1, 3)), schedule="sequential", integer=True).cycle_free


def test_advance_stops_at_until_and_reports_progress_after_each_block_or_tick():
    """advance(until) ends exactly at that tick (blocks are cut to it); progress() is called after
    every block and every single tick, with the clock already advanced."""
    from recurnet_sim.recorders import AttributeRecorder

    kw = dict(seed=2, n=40, p=3, rule="hebbian", schedule="sequential", batch=2, binary=False, clamp=False,
              theta=0.0, noise=0.3)
    for recorders_ in ([EnergyRecorder()], [EnergyRecorder(), AttributeRecorder("temperature")]):
        sim = Simulation(make(**kw), trial_rngs(2, 2), StopConditions(max_steps=30, fixed_point=False),
                         recorders=recorders_)
        seen = []
        sim.advance(until=13, progress=lambda: seen.append(sim.tick))
        assert sim.tick == 13 and seen and seen[-1] == 13 and seen == sorted(set(seen))
        sim.advance(progress=lambda: seen.append(sim.tick))
        assert sim.done and sim.tick == 30 and seen[-1] == 30
        assert sim.recorder("energy").ticks == list(range(31))
