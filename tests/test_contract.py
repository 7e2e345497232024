"""One contract, every family: what the engine, recorders, viewer and batch runner rely on.

Generated from the registry (scikit-learn's ``parametrize_with_checks``): every network type that
``recurnet_sim.family.network_types()`` lists runs through every check, on the example scenario
its family declares (``Family.examples``). A new family cannot escape the suite: without an
example, :func:`test_every_network_type_has_an_example` fails for it."""
from __future__ import annotations

import numpy as np
import pytest

from recurnet_sim import load_scenario
from recurnet_sim.family import Example, family_for, network_types
from recurnet_sim.model import Model
from recurnet_sim.paths import resolve_shipped

IDS = network_types()


def example(network_type: str) -> Example:
    ex = family_for(network_type).examples.get(network_type)
    if ex is None:
        pytest.fail(f"the {family_for(network_type).name!r} family declares no example scenario for network type "
                    f"{network_type!r} (Family.examples): the contract suite cannot run it")
    return ex


def make(network_type, trials=3, first_trial=0, max_steps=6):
    ex = example(network_type)
    return load_scenario(resolve_shipped(ex.scenario), dict(ex.overrides), trials=trials, first_trial=first_trial,
                         max_steps=max_steps)


@pytest.mark.parametrize("network_type", IDS)
def test_every_network_type_has_an_example(network_type):
    sim = make(network_type, trials=1)
    assert sim.model.network_type == network_type
    assert network_type in family_for(network_type).network_types


@pytest.mark.parametrize("network_type", IDS)
def test_shapes_and_types(network_type):
    sim = make(network_type)
    m = sim.model
    assert isinstance(m, Model) and m.network_type == network_type
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
    assert isinstance(m.describe(), dict) and m.describe()["network_type"] == network_type


@pytest.mark.parametrize("network_type", IDS)
def test_inactive_trials_are_frozen(network_type):
    sim = make(network_type)
    m = sim.model
    before = m.state.copy()
    active = np.array([True, False, True])
    flips = m.step(sim.rngs, active)
    assert flips[1] == 0 and np.array_equal(m.state[1], before[1])


@pytest.mark.parametrize("network_type", IDS)
def test_snapshot_restore_and_reset_replay(network_type):
    sim = make(network_type)
    sim.run()
    E = sim.recorder("energy").data().copy()
    final = sim.model.state.copy()
    sim.reset()
    sim.run()
    assert np.array_equal(sim.recorder("energy").data(), E)
    assert np.array_equal(sim.model.state, final)


@pytest.mark.parametrize("network_type", IDS)
def test_batch_equals_single_runs(network_type):
    batch = make(network_type, trials=3)
    batch.run()
    for b in range(3):
        single = make(network_type, trials=1, first_trial=b)
        single.run()
        assert np.allclose(single.model.state[0], batch.model.state[b], atol=1e-12), b
        assert single.results()[0].stop_reason == batch.results()[b].stop_reason


@pytest.mark.parametrize("network_type", IDS)
def test_same_seed_same_trace_other_seed_differs(network_type):
    a, b = make(network_type), make(network_type)
    a.run()
    b.run()
    for k in a.trace().arrays:
        assert np.array_equal(a.trace()[k], b.trace()[k], equal_nan=True), k


@pytest.mark.parametrize("network_type", IDS)
def test_perturbation_api_changes_state_and_keeps_caches(network_type):
    """set_state through the base API: the energy is that of the new state, as if built so. Only
    where the energy is a function of the state (``energy_label == "energy"``); a "loss" (Elman,
    Jordan: the last epoch's) is not."""
    sim = make(network_type)
    m = sim.model
    if m.energy_label != "energy":
        pytest.skip(f"a {network_type} network reports a loss, not an energy of its state")
    other = make(network_type, first_trial=5)
    m.set_state(other.model.state.copy())
    assert np.allclose(m.energy(), other.model.energy())


@pytest.mark.parametrize("network_type", IDS)
def test_trial_numbering_is_global(network_type):
    """Trial t starts from the same state whether it runs in a batch or alone (first_trial = t)."""
    batch = make(network_type, trials=4)
    for t in range(4):
        alone = make(network_type, trials=1, first_trial=t)
        assert np.array_equal(alone.model.state[0], batch.model.state[t]), t
