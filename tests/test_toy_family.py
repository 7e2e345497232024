"""A sixth family that lives only in this file: a ring oscillator, run through every front end.

Issue 10's promise is that a new family costs one package and nothing else. This test keeps it:
the ring oscillator below is a :class:`~recurnet_sim.model.Model` subclass and a
:class:`~recurnet_sim.family.Family` registered with :func:`recurnet_sim.family.register` (in a
fixture, unregistered after), and it goes through ``recurnet run --json``, ``recurnet validate``,
the batch runner, the headless viewer, ``recurnet attractors`` and the common contract suite
without any file outside this test being edited.

The network: N units of value +-1 on a ring, ``s_i(t+1) = s_{i-1}(t)`` (indices mod N) — a
deterministic rotation. A uniform state is a fixed point; a single pulse travels round the ring
and comes back after N ticks (a cycle of period N). As threshold units it is the coupling
``W[i, i-1] = 1`` (every other entry 0, theta = 0): ``h_i = s_{i-1}`` is never 0, so
``s_i <- sign(h_i)`` copies its left neighbour. Its "energy" is honest about being no Lyapunov
function: the number of neighbours that disagree, ``E = #{i : s_i != s_{i-1}}``, is conserved by
the rotation (constant on every cycle) and 0 exactly on the fixed points.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from recurnet_sim import cli, load_scenario
from recurnet_sim.analysis.attractors import StateSpace, decode_states, encode_states
from recurnet_sim.family import DerivedKey, Example, Family, family_for, network_types, register, unregister
from recurnet_sim.model import Model
from recurnet_sim.spec import Field, Table

TYPE = "toy_ring"


# ---------------------------------------------------------------------------------------------
# the family (everything a family provides, in one place)
# ---------------------------------------------------------------------------------------------
def disagreements(s: np.ndarray) -> np.ndarray:
    """E of states s (k, N): neighbours that disagree, shape (k,)."""
    return (s != np.roll(s, 1, axis=-1)).sum(axis=-1).astype(float)


class RingOscillator(Model):
    """A batch of rings, state (batch, N) of +-1; one tick rotates every ring by one unit."""

    network_type = TYPE

    def __init__(self, state: np.ndarray):
        self.state = np.asarray(state, dtype=float).copy()
        self.clamped = np.zeros(self.state.shape, dtype=bool)
        n = self.state.shape[1]
        # one stored pattern, the pulse on unit 0, so overlaps and "load pattern" mean something
        self.patterns = np.where(np.arange(n) == 0, 1.0, -1.0)[None, :]
        self.pattern_names = ["pulse"]

    def step(self, rngs, active):
        rotated = np.roll(self.state, 1, axis=1)  # s_i(t+1) = s_{i-1}(t)
        new = np.where(self.clamped | ~active[:, None], self.state, rotated)
        flips = (new != self.state).sum(axis=1)
        self.state[...] = new
        return flips.astype(np.int64)

    def energy(self):
        return disagreements(self.state)

    def weight_matrix(self, trial: int = 0):
        return np.roll(np.eye(self.n_units), 1, axis=0)  # W[i, i-1] = 1

    def describe(self):
        return {**super().describe(), "grid_shape": (1, self.n_units)}


def tables(network_type):
    network = Table({
        "type": Field("str", TYPE, "network family", choices=(TYPE,)),
        "size": Field("int", 3, "units on the ring", min=2, max=16),
    }, "The ring.")
    initial = Table({
        "kind": Field("str", "pulse", "one unit on (pulse) or every unit random", choices=("pulse", "random")),
        "at": Field("int", 0, "pulse: the unit that is on", min=0),
    }, "The initial state.")
    return {"network": Field("table", None, "the ring", table=network),
            "initial": Field("table", None, "initial state", table=initial)}


def build(cfg, batch_size, rngs, base_dir, *, build_rng, first_trial):
    n, init = cfg["network"]["size"], cfg["initial"]
    if init["kind"] == "pulse":
        s = np.tile(np.where(np.arange(n) == init["at"] % n, 1.0, -1.0), (batch_size, 1))
    else:  # trial b draws only from its own generator
        s = np.array([g.choice([-1.0, 1.0], size=n) for g in rngs])
    return RingOscillator(s)


def summary(model, b):
    return {"pulses": int((model.state[b] > 0).sum())}  # conserved by the rotation


def state_space(model, schedule, trial):
    return StateSpace(TYPE, model.weight_matrix(trial), None, model.unit_values, patterns=model.patterns,
                      pattern_names=model.pattern_names, energy=disagreements)


def _pulse_at(raw, value):
    # a derived key: the pulse position given as a fraction of the way round the ring
    n = raw.get("network", {}).get("size", 3)
    return {"initial.kind": "pulse", "initial.at": int(round(value * n)) % n}


SCENARIO = f"""
[scenario]
name = "ring"
description = "a pulse travelling round a ring of three units"
trials = 2

[network]
type = "{TYPE}"
size = 3

[stop]
max_steps = 20
"""


@pytest.fixture
def ring(tmp_path):
    """The registered toy family; yields the path of its scenario file."""
    path = tmp_path / "ring.toml"
    path.write_text(SCENARIO, encoding="utf-8")
    fam = register(Family(
        name="toy_ring_family", network_types=(TYPE,), titles={TYPE: "ring oscillator"}, tables=tables,
        build=build, summary=summary, state_space=state_space,
        derived_keys=(DerivedKey("phase", "pulse position as a fraction of the ring", ("initial.at",), _pulse_at,
                                 Field("float", min=0.0, max=1.0)),),
        examples={TYPE: Example(str(path))},
    ))
    try:
        yield path
    finally:
        unregister(fam)
    assert TYPE not in network_types()


# ---------------------------------------------------------------------------------------------
# the front ends
# ---------------------------------------------------------------------------------------------
def test_registered_and_gone_after(ring):
    assert TYPE in network_types() and family_for(TYPE).title(TYPE) == "ring oscillator"


def test_run_json_reports_the_period_3_cycle(ring, capsys):
    assert cli.main(["run", str(ring), "--json", "--trials", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    # +-- -> -+- -> --+ -> +--: the start is revisited after 3 ticks
    assert out["model"] == TYPE and out["stop_reason"] == "cycle" and out["cycle_period"] == 3
    assert out["pulses"] == 1 and out["final_energy"] == 2.0  # E is conserved along the cycle
    assert set(out["overlaps"]) == {"pulse"}


def test_run_text_summary_and_two_trials(ring, capsys):
    assert cli.main(["run", str(ring), "--headless"]) == 0
    text = capsys.readouterr().out
    assert f"ring ({TYPE}, 3 units" in text and "cycle of period 3" in text
    assert cli.main(["run", str(ring), "--json", "--set", "initial.kind=random", "--set", "scenario.seed=4",
                     "--set", "scenario.trials=8"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out if isinstance(out, list) else out["trials"]
    for r in rows:
        # uniform rings are fixed points; any other ring of 3 has period 3
        assert (r["stop_reason"], r["cycle_period"]) in (("fixed_point", None), ("cycle", 3)), r
        assert (r["stop_reason"] == "fixed_point") == (r["pulses"] in (0, 3))


def test_validate_checks_the_toy_tables(ring, tmp_path, capsys):
    assert cli.main(["validate", str(ring)]) == 0
    assert f"ok ({TYPE})" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(SCENARIO.replace("size = 3", "size = 1\nsise = 4"), encoding="utf-8")
    assert cli.main(["validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "network.size: must be an integer" in err and "(did you mean 'size'?)" in err


def test_batch_sweeps_a_toy_key_and_a_toy_derived_key(ring, tmp_path):
    from recurnet_sim.batch import run_experiment
    from recurnet_sim.experiment import load_experiment

    exp_path = tmp_path / "ring_sweep.toml"
    exp_path.write_text(f"""
[experiment]
base = "{ring.as_posix()}"
trials = 3
group = 2
metrics = ["stop_reason", "cycle_period", "final_energy", "pulses"]
[grid]
"network.size" = [3, 4, 5]
phase = [0.0, 0.5]
""", encoding="utf-8")
    exp = load_experiment(exp_path)
    assert [sc.config["initial"]["at"] for sc in exp.scenarios] == [0, 2, 0, 2, 0, 2]  # round(0.5 * N) mod N
    # Threads, not the default spawned worker processes: a spawned worker imports recurnet_sim
    # afresh and would not see this test's registration of the toy family.
    with ThreadPoolExecutor(2) as pool:
        rep = run_experiment(exp, tmp_path / "out", executor=pool, progress=False, plots=False)
    assert rep.complete and rep.points == 6 and rep.trials == 18
    for row in rep.summary:
        # a single pulse goes round the ring of N units in N ticks, whatever its start
        assert row["cycle_period_mean"] == row["network.size"] and row["cycle_period_n"] == 3
        assert row["stop_reason=cycle_mean"] == 1.0 and row["pulses_mean"] == 1 and row["final_energy_mean"] == 2
    meta = json.loads((tmp_path / "out" / "meta.json").read_text())
    assert meta["family"] == TYPE and meta["status"] == "complete"


def test_headless_viewer_draws_the_default_layout(ring, monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame = pytest.importorskip("pygame")
    from recurnet_sim.viewer.core import Viewer

    sim = load_scenario(ring, trials=1)
    v = Viewer(sim, size=(900, 600), headless=True)
    try:
        L = v.view_layout  # the toy declares no view: the default layout, one row of 3 units
        assert [b.units.tolist() for b in L.blocks] == [[[0, 1, 2]]] and L.value_range == (-1.0, 1.0)
        first = pygame.surfarray.array3d(v.draw()).copy()
        assert first.std() > 5
        v.running = True
        v.speed = 1  # a tick a frame (a scenario without [view] steps_per_frame gets a slow lesson pace)
        ticks = sum(v.update() for _ in range(5))
        assert ticks >= 1 and sim.tick == ticks
        expected = np.roll([1.0, -1.0, -1.0], ticks)
        assert sim.model.state[0].tolist() == expected.tolist()
        v.draw()
        v.handle_key(pygame.K_g)  # the unit graph, from model.weight_matrix: the ring's 3 links
        assert v.show_graph and pygame.surfarray.array3d(v.draw()).std() > 5
        assert v.graph_view.n_edges == 3
        v.handle_key(pygame.K_g)  # the toy declares a state space: the attractor graph follows
        assert v.show_graph and type(v.graph_view).__name__ == "AttractorView"
        assert pygame.surfarray.array3d(v.draw()).std() > 5
    finally:
        v.close()


def test_attractors_finds_two_fixed_points_and_two_3_cycles(ring, capsys):
    assert cli.main(["attractors", str(ring), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["family"] == TYPE and d["n_units"] == 3 and d["n_states"] == 8 and d["schedule"] == "sync"
    # 8 states: +++ and --- are fixed points; the three rotations of one pulse (+--) and of one
    # hole (++-) are two cycles of period 3. The rotation is a bijection: no transients, so
    # every basin is the attractor itself.
    att = {frozenset(a["states"]): a for a in d["attractors"]}
    assert set(att) == {frozenset({7}), frozenset({0}), frozenset({1, 2, 4}), frozenset({3, 5, 6})}
    # the fixed points are no stored pattern (nor the reverse of one): named spurious, not recalled
    assert d["counts"] == {"cycle": 2, "spurious": 2}
    pulse = att[frozenset({1, 2, 4})]
    assert pulse["period"] == 3 and pulse["basin_size"] == 3 and pulse["reach_probability"] == pytest.approx(3 / 8)
    # visited from the smallest code: +-- (code 1) -> -+- (2) -> --+ (4)
    assert pulse["states"] == [1, 2, 4] and pulse["label"] == "cycle(3): pulse > spurious > spurious"
    assert pulse["bits"] == ["100", "010", "001"]
    assert pulse["energies"] == [2.0, 2.0, 2.0]  # E is conserved round a cycle
    assert "-pulse" in att[frozenset({3, 5, 6})]["state_labels"]  # -++ is the reversed pulse
    assert [att[frozenset({c})]["energy"] for c in (0, 7)] == [0.0, 0.0]
    # asynchronous single-unit copies: every non-uniform ring can be made uniform, so only the
    # two fixed points remain, each reached with probability 1/2 by symmetry
    assert cli.main(["attractors", str(ring), "--schedule", "async", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert sorted(a["states"][0] for a in d["attractors"]) == [0, 7]
    assert all(a["period"] == 1 for a in d["attractors"])
    assert [a["reach_probability"] for a in d["attractors"]] == pytest.approx([0.5, 0.5])


def test_the_state_space_is_the_dynamics_that_runs(ring):
    from recurnet_sim.analysis.attractors import analyze_model

    sim = load_scenario(ring, trials=8)
    m = sim.model
    S = decode_states(np.arange(8), 3)
    m.set_state(S)
    report = analyze_model(m, "sync")  # the family is found from the network type
    m.step(sim.rngs, np.ones(8, dtype=bool))
    assert encode_states(m.state).tolist() == [report.successors(c)[0] for c in range(8)]
    assert np.array_equal(report.energies(np.arange(8)), disagreements(S))


# ---------------------------------------------------------------------------------------------
# the common contract, on the toy (the suite in test_contract.py is generated at collection,
# before this fixture registers the family, so run its checks here)
# ---------------------------------------------------------------------------------------------
CONTRACT = ["test_every_network_type_has_an_example", "test_shapes_and_types", "test_inactive_trials_are_frozen",
            "test_snapshot_restore_and_reset_replay", "test_batch_equals_single_runs",
            "test_same_seed_same_trace_other_seed_differs", "test_perturbation_api_changes_state_and_keeps_caches",
            "test_trial_numbering_is_global"]


@pytest.mark.parametrize("check", CONTRACT)
def test_the_toy_passes_the_contract(ring, check):
    import test_contract

    getattr(test_contract, check)(TYPE)
