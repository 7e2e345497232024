"""One contract, every family: what the engine, recorders, viewer and batch runner rely on.

Runs over one shipped scenario of each family (STYLE: a common suite over every model)."""
from __future__ import annotations

import numpy as np
import pytest

from recurnet_sim import load_scenario
from recurnet_sim.model import Model

ONE_PER_FAMILY = {
    "hopfield": ("scenarios/hopfield_letters.toml", {}),
    "bam": ("scenarios/bam_letters.toml", {}),
    "boltzmann": ("scenarios/boltzmann_sample.toml", {}),
    "elman": ("scenarios/elman_letters.toml", {"task.n_consonants": 60}),
    "jordan": ("scenarios/jordan_sequence.toml", {}),
}
IDS = list(ONE_PER_FAMILY)


def make(family, trials=3, first_trial=0, **kw):
    path, over = ONE_PER_FAMILY[family]
    return load_scenario(path, over, trials=trials, first_trial=first_trial, max_steps=kw.get("max_steps", 6))


@pytest.mark.parametrize("family", IDS)
def test_shapes_and_types(family):
    sim = make(family)
    m = sim.model
    assert isinstance(m, Model) and m.network_type == family
    B, N = m.state.shape
    assert B == 3 and N == m.n_units and m.clamped.shape == (B, N) and m.clamped.dtype == bool
    flips = np.asarray(m.step(sim.rngs, np.ones(B, bool)))
    assert flips.shape == (B,) and np.issubdtype(flips.dtype, np.integer) and (flips >= 0).all()
    E = m.energy()
    assert E.shape == (B,) and np.isfinite(E).all()
    ov = m.overlaps()
    assert ov.shape == (B, len(m.pattern_names)) and np.all(np.abs(ov) <= 1 + 1e-9)
    assert len(m.recalled()) == B
    assert m.energy_label in ("energy", "loss")
    assert isinstance(m.describe(), dict) and m.describe()["network_type"] == family


@pytest.mark.parametrize("family", IDS)
def test_inactive_trials_are_frozen(family):
    sim = make(family)
    m = sim.model
    before = m.state.copy()
    active = np.array([True, False, True])
    flips = m.step(sim.rngs, active)
    assert flips[1] == 0 and np.array_equal(m.state[1], before[1])


@pytest.mark.parametrize("family", IDS)
def test_snapshot_restore_and_reset_replay(family):
    sim = make(family)
    sim.run()
    E = sim.recorder("energy").data().copy()
    final = sim.model.state.copy()
    sim.reset()
    sim.run()
    assert np.array_equal(sim.recorder("energy").data(), E)
    assert np.array_equal(sim.model.state, final)


@pytest.mark.parametrize("family", IDS)
def test_batch_equals_single_runs(family):
    batch = make(family, trials=3)
    batch.run()
    for b in range(3):
        single = make(family, trials=1, first_trial=b)
        single.run()
        assert np.allclose(single.model.state[0], batch.model.state[b], atol=1e-12), b
        assert single.results()[0].stop_reason == batch.results()[b].stop_reason


@pytest.mark.parametrize("family", IDS)
def test_same_seed_same_trace_other_seed_differs(family):
    a, b = make(family), make(family)
    a.run()
    b.run()
    for k in a.trace().arrays:
        assert np.array_equal(a.trace()[k], b.trace()[k], equal_nan=True), k


@pytest.mark.parametrize("family", ["hopfield", "bam", "boltzmann"])
def test_perturbation_api_changes_state_and_keeps_caches(family):
    """set_state through the base API: the energy is that of the new state, as if built so (unit
    families; for Elman/Jordan the "energy" is the last epoch's loss, not a function of the state)."""
    sim = make(family)
    m = sim.model
    other = make(family, first_trial=5)
    m.set_state(other.model.state.copy())
    assert np.allclose(m.energy(), other.model.energy())


@pytest.mark.parametrize("family", ["bam", "boltzmann"])
def test_trial_numbering_is_global(family):
    """Trial t cues the same pair/pattern whether it runs in a batch or alone (first_trial = t)."""
    path = {"bam": "scenarios/bam_letters.toml", "boltzmann": "scenarios/boltzmann_encoder.toml"}[family]
    over = {"training.cycles": 2} if family == "boltzmann" else {}
    batch = load_scenario(path, over, trials=4)
    for t in range(4):
        alone = load_scenario(path, over, trials=1, first_trial=t)
        assert np.array_equal(alone.model.state[0], batch.model.state[t]), t
