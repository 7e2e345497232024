"""Issue 13's per-tick and per-process overheads: what was made cheaper gives the same results.

* the overlap recorder computes on demand (state copies, overlaps when read) and must give, bit
  for bit, what ``model.overlaps()`` gave at each recorded tick, over random nets, unit kinds,
  schedules, recorder intervals and perturbations in the middle of a run;
* the bitmap and TOML parse caches must return what a fresh parse returns, and parse again when
  the file changes (same size included);
* the numpy row parser reads what the per-character parser read.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from parse_reference import per_character_parse

from recurnet_sim import patterns as pat
from recurnet_sim import scenario as scn
from recurnet_sim.engine import Simulation, StopConditions
from recurnet_sim.family import family_for
from recurnet_sim.perturbations import FlipFraction
from recurnet_sim.recorders import OverlapRecorder, default_recorders
from recurnet_sim.seeding import trial_rngs

ROOT = Path(__file__).resolve().parent.parent


class EagerOverlaps(OverlapRecorder):
    """The reference: ``model.overlaps()`` read at every recorded tick, as before issue 13."""

    name = "overlaps_eager"

    def _capture(self, sim) -> None:
        self.rows.append(np.array(sim.model.overlaps(), copy=True))


def _hopfield(rng, B, N, P, units, schedule, per_trial):
    from recurnet_sim.families.hopfield.model import HopfieldModel, hebbian

    xi = np.where(rng.random((B if per_trial else 1, P, N)) < 0.5, -1, 1).astype(np.int8)
    if not per_trial:
        xi = xi[0]
    c, scale = (np.stack([hebbian(x)[0] for x in xi]), hebbian(xi[0])[1]) if per_trial else hebbian(xi)
    state = np.where(rng.random((B, N)) < 0.5, -1, 1).astype(np.int8)
    if units == "binary":
        xi, state = (xi + 1) // 2, (state + 1) // 2
    return HopfieldModel(c, scale, patterns=xi, state=state, units=units, schedule=schedule,
                         temperature=1.0 if schedule == "glauber" else 0.0)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), B=st.integers(1, 4), N=st.integers(4, 60), P=st.integers(1, 8),
       units=st.sampled_from(["bipolar", "binary"]),
       schedule=st.sampled_from(["synchronous", "sequential", "random", "glauber"]),
       per_trial=st.booleans(), every=st.integers(1, 3), at=st.integers(0, 5))
def test_on_demand_overlaps_equal_every_tick_recomputation(seed, B, N, P, units, schedule, per_trial, every, at):
    rng = np.random.default_rng(seed)
    model = _hopfield(rng, B, N, P, units, schedule, per_trial)
    lazy, eager = OverlapRecorder(every), EagerOverlaps(every)
    sim = Simulation(model, trial_rngs(seed, B), StopConditions(max_steps=12, fixed_point=False, cycle=False),
                     recorders=[lazy, eager], perturbations=[(at, FlipFraction(0.3))])
    assert lazy._lazy  # the Hopfield model computes overlaps of kept states: nothing per tick
    sim.run_steps(5)
    # a read in the middle (the viewer's bars) computes what is pending, and recording goes on
    assert np.array_equal(lazy.last(), eager.last())
    sim.apply(FlipFraction(0.2))  # the viewer's perturbation between ticks
    sim.run()
    assert lazy.ticks == eager.ticks
    a, b = lazy.data(), eager.data()
    assert a.shape == b.shape and a.dtype == b.dtype
    assert np.array_equal(a, b)  # bit for bit
    assert np.array_equal(a[-1], model.overlaps())


def test_pending_states_are_computed_early_beyond_the_memory_cap(monkeypatch):
    rng = np.random.default_rng(3)
    model = _hopfield(rng, 2, 50, 5, "bipolar", "glauber", False)
    lazy, eager = OverlapRecorder(), EagerOverlaps()
    monkeypatch.setattr(OverlapRecorder, "max_pending_bytes", 3 * model.state.nbytes)
    sim = Simulation(model, trial_rngs(1, 2), StopConditions(max_steps=20), recorders=[lazy, eager])
    sim.run()
    assert lazy.rows.pending_bytes <= 3 * model.state.nbytes
    assert np.array_equal(lazy.data(), eager.data())


def test_every_shipped_unit_family_gives_the_same_overlap_trace():
    """Through scenarios: families whose overlaps_of is None are read every tick, the others on
    demand; both give what overlaps() gave at each tick."""
    for name in ("hopfield_tiny", "hopfield_letters_sync", "bam_async", "boltzmann_sample",
                 "modern_hopfield_metastable", "hopfield_dense_rectified"):
        sim = scn.load_scenario(ROOT / "scenarios" / f"{name}.toml", max_steps=15)
        eager = EagerOverlaps()
        sim.recorders.append(eager)
        sim.reset()
        sim.run()
        lazy = sim.recorder("overlaps")
        assert np.array_equal(lazy.data(), eager.data()), name


def test_headless_run_never_computes_overlaps_it_does_not_read():
    rng = np.random.default_rng(0)
    model = _hopfield(rng, 3, 40, 4, "bipolar", "sequential", False)
    sim = Simulation(model, trial_rngs(0, 3), StopConditions(max_steps=30), recorders=default_recorders())
    results = sim.run()
    rec = sim.recorder("overlaps")
    assert len(rec.rows) == sim.tick + 1
    assert rec.rows._rows == [] and all(is_states for is_states, _ in rec.rows._pending)  # all still states
    assert [r.overlaps for r in results] == [dict(zip(model.pattern_names, m)) for m in model.overlaps().tolist()]


# ----- parse caches -------------------------------------------------------------------------
GLYPHS_A = "= A\n#.\n.#\n\n= B\n##\n..\n"
GLYPHS_B = "= A\n..\n.#\n\n= B\n##\n#.\n"  # same size, other pixels


def _age(path, seconds=10.0):
    """Give a file another modification time (the tests using it switch the caches' racy window
    off: os.utime itself sets the change time to now)."""
    t = time.time() - seconds
    os.utime(path, (t, t))


@pytest.fixture
def no_racy_window(monkeypatch):
    monkeypatch.setattr(pat, "_RACY_NS", 0)


def test_bitmap_cache_returns_the_parsed_set_and_reparses_a_changed_file(tmp_path, no_racy_window):
    f = tmp_path / "g.txt"
    f.write_text(GLYPHS_A)
    _age(f, 20)
    first = pat.load_bitmaps(f)
    assert pat.load_bitmaps(f) is first  # cached: shared, read-only
    assert not first.patterns.flags.writeable
    f.write_text(GLYPHS_B)  # same size, rewritten in place
    _age(f, 10)  # another mtime (and a new ctime)
    second = pat.load_bitmaps(f)
    assert second is not first and second == pat._parse_bitmaps(f, None)
    assert second.patterns.tolist() == [[-1, -1, -1, 1], [1, 1, 1, -1]]


def test_freshly_written_files_are_never_cached(tmp_path):
    f = tmp_path / "g.txt"
    f.write_text(GLYPHS_A)  # the default window: changed in the last 2 s
    a = pat.load_bitmaps(f)
    assert pat.load_bitmaps(f) is not a  # within the racy window: parsed each time
    assert pat._file_identity(f) is None


def test_toml_cache_hands_out_copies_and_sees_changes(tmp_path, no_racy_window):
    f = tmp_path / "s.toml"
    f.write_text('[network]\ntype = "hopfield"\nsize = 10\n')
    _age(f, 20)
    d1 = scn.read_toml(f)
    d1["network"]["size"] = 99  # a caller's edit must not reach the next caller
    assert scn.read_toml(f)["network"]["size"] == 10
    f.write_text('[network]\ntype = "hopfield"\nsize = 12\n')
    _age(f, 10)
    assert scn.read_toml(f)["network"]["size"] == 12


def test_cached_scenario_builds_the_same_run():
    path = ROOT / "scenarios" / "hopfield_letters.toml"
    pat._BITMAP_CACHE.clear()
    scn._TOML_CACHE.clear()
    a = scn.load_scenario(path).run()
    b = scn.load_scenario(path).run()  # from the caches
    da, db = a.to_dict(), b.to_dict()
    da.pop("elapsed_s"), db.pop("elapsed_s")
    assert da == db


@pytest.mark.parametrize("name", sorted(pat.BUILTIN_SETS))
def test_numpy_row_parser_reads_what_the_per_character_parser_read(name):
    from recurnet_sim.paths import assets_dir

    pat._BITMAP_CACHE.clear()
    got = pat.builtin_set(name)
    want = np.concatenate([per_character_parse((assets_dir() / "patterns" / f).read_text(encoding="utf-8-sig"))
                           for f in pat.BUILTIN_SETS[name]])
    assert np.array_equal(got.patterns, want)


def test_bad_characters_are_still_reported_with_their_column(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_text("= A\n#.\n.x\n")
    with pytest.raises(pat.PatternFileError, match=r"unexpected character 'x' in column 2"):
        pat.load_bitmaps(f)


def test_family_summary_target_overlap_is_the_overlap_of_the_target():
    sim = scn.load_scenario(ROOT / "scenarios" / "hopfield_load_hebbian.toml", trials=4)
    sim.run()
    fam = family_for(sim.model.network_type)
    m = sim.model.overlaps()
    for b in range(4):
        t = int(sim.model.target[b])
        assert fam.summary(sim.model, b)["target_overlap"] == float(m[b, t])
