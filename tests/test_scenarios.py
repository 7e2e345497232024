"""Scenario files and the CLI: every shipped scenario runs; every malformed file gets one clear line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recurnet_sim.cli import main
from recurnet_sim.scenario import shipped_scenarios

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = shipped_scenarios()


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenario_runs_headless_json(path, capsys):
    code, out, err = run_cli(capsys, "run", str(path), "--headless", "--json", "--steps", "8")
    assert code == 0, err
    d = json.loads(out)
    for key in ("scenario", "model", "seed", "steps", "sweeps", "stop_reason", "converged", "cycle_period",
                "energy", "final_energy", "overlaps", "recalled", "elapsed_s"):
        assert key in d, key
    assert d["stop_reason"] in ("fixed_point", "cycle", "max_steps", "condition")
    assert "Traceback" not in err


def test_list_and_validate(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0 and "hopfield_letters" in out
    code, out, err = run_cli(capsys, "validate", *map(str, SCENARIOS))
    assert code == 0, err


def test_run_summary_and_shipped_name(capsys):
    code, out, err = run_cli(capsys, "run", "hopfield_letters", "--headless")
    assert code == 0
    assert "fixed point" in out and "outcome: recalled A" in out


def test_no_display_note(capsys, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, out, err = run_cli(capsys, "run", "hopfield_letters")
    assert code == 0 and "headless" in err and len(err.strip().splitlines()) == 1


def test_set_overrides_are_validated(capsys):
    code, out, err = run_cli(capsys, "run", "hopfield_letters", "--json", "--set", "network.learning=storkey",
                             "--set", "dynamics.schedule=synchronous")
    assert code == 0 and json.loads(out)["recalled"] == "A"
    code, out, err = run_cli(capsys, "run", "hopfield_letters", "--set", "network.learnin=storkey")
    assert code == 1 and "network.learnin: unknown key (did you mean 'learning'?)" in err


def test_trace_option(tmp_path, capsys):
    out_file = tmp_path / "t.npz"
    code, out, err = run_cli(capsys, "run", "hopfield_letters", "--headless", "--trace", str(out_file))
    assert code == 0 and out_file.exists()


VALID = (ROOT / "scenarios" / "hopfield_letters.toml").read_text()

BAD = {
    # name: (file content (str or bytes), expected fragments of the single error line(s))
    "unknown_top": (VALID + "\n[netwrk]\nsize = 3\n", ["netwrk: unknown key (did you mean 'network'?)"]),
    "unknown_nested": (VALID.replace('learning = "hebbian"', 'learnign = "hebbian"'),
                       ["network.learnign: unknown key (did you mean 'learning'?)"]),
    "bad_choice": (VALID.replace('learning = "hebbian"', 'learning = "hebb"'),
                   ["network.learning: must be one of 'hebbian', 'storkey', 'pseudo_inverse', got 'hebb'"]),
    "wrong_type": (VALID.replace("max_steps = 50", 'max_steps = "many"'), ["stop.max_steps: must be an integer in [1, 1000000000], got 'many'"]),
    "out_of_range": (VALID.replace("noise = 0.25", "noise = 1.5"), ["initial.noise: must be a number in [0, 1], got 1.5"]),
    "negative_steps": (VALID.replace("max_steps = 50", "max_steps = 0"), ["stop.max_steps: must be an integer in [1, 1000000000], got 0"]),
    "bool_as_int": (VALID.replace("max_steps = 50", "max_steps = true"), ["stop.max_steps"]),
    "table_as_value": ("dynamics = 3\n" + VALID.replace('[dynamics]\nschedule = "random"', ''),
                       ["dynamics: must be a table, got 3"]),
    "value_as_table": (VALID.replace('schedule = "random"', "[dynamics.schedule]\nx = 1"), ["dynamics.schedule"]),
    "no_network": ("[scenario]\nseed = 1\n", ["network: is required"]),
    "unknown_type": (VALID.replace('type = "hopfield"', 'type = "hopfeld"'), ["network.type", "did you mean 'hopfield'?"]),
    "bad_toml": (VALID + "\nthis is = = not toml\n", ["not valid TOML"]),
    "empty": ("", ["network: is required"]),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe", ["not a text file"]),
    "missing_asset": (VALID.replace('source = "letters"', 'source = "nowhere/letters.txt"'), ["patterns.source", "file not found"]),
    "unknown_pattern": (VALID.replace('pattern = "A"', 'pattern = "Q"'), ["initial.pattern", "unknown pattern 'Q'"]),
    "unknown_pattern_name": (VALID.replace('names = ["A", "I", "M", "V"]', 'names = ["A", "I", "?"]'), ["patterns.names"]),
    "shape_mismatch": (VALID.replace('learning = "hebbian"', 'learning = "hebbian"\nshape = [5, 5]'), ["network.shape", "25 units"]),
    "size_mismatch": (VALID.replace('learning = "hebbian"', 'learning = "hebbian"\nsize = 99'), ["network.size", "120"]),
    "list_item_type": (VALID.replace('names = ["A", "I", "M", "V"]', 'names = ["A", 3]'), ["patterns.names[1]: must be a string, got 3"]),
    "empty_list": (VALID.replace('names = ["A", "I", "M", "V"]', "names = []"), ["patterns.names: must have at least 1 items, got 0"]),
    "perturb_missing": (VALID + "\n[[perturb]]\naction = \"flip\"\n", ["perturb[0].at: is required"]),
    "perturb_bad_action": (VALID + "\n[[perturb]]\nat = 3\naction = \"explode\"\n", ["perturb[0].action: must be one of"]),
    "perturb_flip_no_units": (VALID + "\n[[perturb]]\nat = 3\naction = \"flip\"\n", ["perturb[0].units: is required"]),
    "explicit_wrong_length": (VALID.replace('kind = "pattern"', 'kind = "explicit"\nvalues = [1, -1, 1]'),
                              ["initial.values: has 3 values, the network has 120 units"]),
    "explicit_missing": (VALID.replace('kind = "pattern"', 'kind = "explicit"'), ["initial.values: is required"]),
    "auto_thresholds_bipolar": (VALID.replace('learning = "hebbian"', 'learning = "hebbian"\nthresholds = "auto"'),
                                ["network.thresholds"]),
    "thresholds_bad": (VALID.replace('learning = "hebbian"', 'learning = "hebbian"\nthresholds = "high"'),
                       ["network.thresholds: must be a number or one of 'auto'"]),
    "random_no_size": (VALID.replace('source = "letters"\nnames = ["A", "I", "M", "V"]', 'source = "random"'),
                       ["network.size: is required with random patterns"]),
    "anneal_bad": (VALID.replace('schedule = "random"', 'schedule = "glauber"\nanneal = { kind = "sideways" }'),
                   ["dynamics.anneal.kind"]),
    "nan": (VALID.replace("noise = 0.25", "noise = nan"), ["initial.noise"]),
    "huge_int": (VALID.replace("max_steps = 50", "max_steps = 99999999999999999999"), ["stop.max_steps: must be an integer in [1, 1000000000]"]),
}


@pytest.mark.parametrize("name", list(BAD))
def test_malformed_scenarios_give_one_clear_error(name, tmp_path, capsys):
    content, expected = BAD[name]
    f = tmp_path / f"{name}.toml"
    f.write_bytes(content if isinstance(content, bytes) else content.encode())
    for cmd in (["run", str(f), "--headless"], ["validate", str(f)]):
        code, out, err = run_cli(capsys, *cmd)
        assert code == 1, (cmd, out, err)
        assert "Traceback" not in err and err.startswith("recurnet: error: ")
        assert f.name in err, err
        for frag in expected:
            assert frag in err, (frag, err)


def test_missing_file_and_directory(tmp_path, capsys):
    code, out, err = run_cli(capsys, "run", str(tmp_path / "nope.toml"))
    assert code == 1 and "no such file" in err
    code, out, err = run_cli(capsys, "run", str(tmp_path))
    assert code == 1 and "directory" in err


def test_all_problems_reported_at_once(tmp_path, capsys):
    content = VALID.replace('learning = "hebbian"', 'learning = "hebb"').replace("max_steps = 50", "max_steps = -1")
    f = tmp_path / "two.toml"
    f.write_text(content)
    code, out, err = run_cli(capsys, "validate", str(f))
    assert code == 1 and "network.learning" in err and "stop.max_steps" in err


@pytest.mark.parametrize("arg,frag", [("novalue", "expects key.path=value"), ("=3", "expects key.path=value"),
                                      ("initial.noise.x=3", "is not a table"), ("initial.noise=abc", "initial.noise")])
def test_bad_set_arguments(arg, frag, capsys):
    code, out, err = run_cli(capsys, "run", "hopfield_letters", "--headless", "--set", arg)
    assert code == 1 and frag in err and "Traceback" not in err


def test_import_is_light():
    import subprocess
    import sys
    code = ("import sys, recurnet_sim, recurnet_sim.scenario, recurnet_sim.engine, recurnet_sim.families.hopfield.model;"
            "bad=[m for m in ('pygame','matplotlib','networkx','scipy') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_save_weights_then_load_them_in_a_scenario(tmp_path, capsys):
    w = tmp_path / "jordan.npz"
    code, out, err = run_cli(capsys, "run", "jordan_sequence", "--headless", "--json", "--save-weights", str(w))
    assert code == 0 and w.exists(), err
    trained = json.loads(out)["final_energy"]
    code, out, err = run_cli(capsys, "run", "jordan_sequence", "--json", "--set", f"initial.weights={w}",
                             "--set", "dynamics.mode=run", "--set", "scenario.trials=1")
    assert code == 0, err
    assert json.loads(out)["final_energy"] <= trained * 1.5
    code, out, err = run_cli(capsys, "run", "hopfield_letters", "--headless", "--save-weights", str(tmp_path / "h.npz"))
    assert code == 1 and "no learned weights" in err


def test_attractors_command(tmp_path, capsys):
    code, out, err = run_cli(capsys, "attractors", "hopfield_tiny", "--schedule", "async", "--json")
    assert code == 0, err
    d = json.loads(out)
    kinds = {a["kind"] for a in d["attractors"]}
    assert {"stored", "reversed"} <= kinds  # 3 random patterns in 16 units: all stored, and their mirrors
    g = tmp_path / "g.graphml"
    code, out, err = run_cli(capsys, "attractors", "hopfield_tiny", "--set", "network.size=12", "--set",
                             "network.shape=[3, 4]", "--graphml", str(g))
    assert code == 0 and g.exists() and "stored" in out
    import networkx as nx
    assert nx.read_graphml(g).number_of_nodes() == 2 ** 12
    code, out, err = run_cli(capsys, "attractors", "hopfield_letters")
    assert code == 1 and "20" in err and "Traceback" not in err


def test_attractors_default_to_the_scenarios_schedule(capsys):
    """hopfield_tiny runs asynchronously (random order): recurnet attractors analyses that by
    default (its 10 fixed points), says so, and --schedule sync still gives the synchronous graph."""
    code, out, err = run_cli(capsys, "attractors", "hopfield_tiny", "--json")
    d = json.loads(out)
    assert code == 0 and d["schedule"] == "async" and "scenario's schedule" in d["schedule_from"]
    assert len(d["attractors"]) == 10 and all(a["period"] == 1 for a in d["attractors"])
    code, out, err = run_cli(capsys, "attractors", "hopfield_tiny")
    assert out.startswith("schedule: asynchronous updates, from the scenario's schedule (random)")
    code, out, err = run_cli(capsys, "attractors", "hopfield_tiny", "--schedule", "sync", "--json")
    d = json.loads(out)
    assert d["schedule"] == "sync" and d["schedule_from"] == "--schedule" and len(d["attractors"]) > 10


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_hostile_overrides_never_give_a_traceback(path, capsys):
    """Any value of the wrong type or out of range, for any key of any shipped scenario, gives a
    clear error (or a valid run), never a traceback."""
    import tomllib

    def leaves(d, prefix=""):
        for k, v in d.items():
            p = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                yield from leaves(v, p)
            elif not p.startswith("perturb"):
                yield p

    keys = list(leaves(tomllib.loads(path.read_text())))
    values = ["-1", "3.5", "true", "'abc'", "[]", "[1, 2]", "{a = 1}", "nan", "inf", "''"]
    for i, key in enumerate(keys):
        value = values[i % len(values)]
        code, out, err = run_cli(capsys, "run", str(path), "--headless", "--json", "--steps", "2", "--trials", "1",
                                 "--set", f"{key}={value}")
        assert code in (0, 1), (key, value, err)
        assert "Traceback" not in err
        if code == 1:
            assert err.startswith("recurnet: error: ") and path.name in err or "--set" in err, (key, value, err)


def test_srn_trace_holds_loss_per_step_gradient_norms_and_activations(tmp_path, capsys):
    from recurnet_sim.recorders import Trace

    out = tmp_path / "xor.npz"
    code, _, err = run_cli(capsys, "run", "elman_temporal_xor", "--headless", "--steps", "3", "--set",
                           "task.length=300", "--trace", str(out))
    assert code == 0, err
    t = Trace.load(out)
    n = len(t["energy_ticks"])
    assert t["loss_per_step"].shape[:2] == (n, 2) and t["loss_per_step"].shape[2] >= 290
    assert np.isnan(t["loss_per_step"][0]).all() and np.isfinite(t["loss_per_step"][1:]).all()  # no epoch at tick 0
    assert t["grad_norm"].shape == (n, 2)
    assert t["final_hidden"].shape[0] == 2 and t["final_hidden"].shape[1] == t["loss_per_step"].shape[2]
    # the epoch's mean loss is the recorded energy of that tick
    assert np.allclose(np.nanmean(t["loss_per_step"][-1], axis=1), t["energy"][-1], rtol=0.05)


def test_list_shows_scenarios_and_experiments(capsys):
    code, out, _ = run_cli(capsys, "list")
    assert code == 0
    scen, _, exps = out.partition("experiments (recurnet batch NAME):")
    assert "hopfield_letters" in scen and "hopfield_capacity" in exps and "boltzmann_equilibrium" in exps
