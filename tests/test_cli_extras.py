"""Small CLI behaviours: progress lines, display detection, clear errors, family summaries."""
from __future__ import annotations

import io

import pytest

from recurnet_sim import paths
from recurnet_sim.cli import main
from recurnet_sim.progress import ProgressLine


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_line_rewrites_on_a_terminal_and_is_sparse_in_logs(monkeypatch):
    now = [0.0]
    monkeypatch.setattr("recurnet_sim.progress.time.monotonic", lambda: now[0])

    def at(t, call, *args):
        now[0] = t
        call(*args)

    tty = FakeTTY()
    line = ProgressLine("job", tty, delay=0.5, interval=0.2)  # started at t = 0
    at(0.3, line.update, "early")  # within the delay: nothing
    at(1.0, line.update, "a")      # shown
    at(1.1, line.update, "b")      # too soon after "a": skipped
    at(1.5, line.update, "c")      # shown, rewritten in place
    at(1.6, line.close, "done")    # forced last line, then the line is ended
    assert tty.getvalue() == "\rjob: a\rjob: c\rjob: done\n"
    log = io.StringIO()
    line = ProgressLine("job", log, delay=0.5, log_interval=5.0)  # started at t = 1.6
    made = []
    at(1.7, line.update, lambda: made.append(1) or "x")  # within the delay: the text is never made
    at(3.0, line.update, "y")      # a full line
    at(4.0, line.update, "z")      # within log_interval: skipped
    at(4.5, line.close)
    assert log.getvalue() == "job: y\n" and made == []


def test_quick_work_shows_no_progress():
    log = io.StringIO()
    line = ProgressLine("job", log, delay=60)
    line.update("x")
    line.close("done")
    assert log.getvalue() == ""


@pytest.mark.parametrize("env,expect", [({"DISPLAY": ":0"}, True), ({"DISPLAY": ":0", "SDL_VIDEODRIVER": "dummy"}, False),
                                        ({}, False), ({"WAYLAND_DISPLAY": "wayland-0"}, True)])
def test_has_display(monkeypatch, env, expect):
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(paths.sys, "platform", "linux")
    assert paths.has_display() is expect


def test_a_display_that_does_not_answer_runs_headless_with_a_note(monkeypatch, capsys):
    pytest.importorskip("pygame")
    import recurnet_sim.viewer as viewer

    monkeypatch.setenv("DISPLAY", ":98")
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    monkeypatch.setattr(viewer, "window_available", lambda: False)
    code = main(["run", "hopfield_letters"])
    out, err = capsys.readouterr()
    assert code == 0 and "cannot open a window" in err and "fixed point" in out


def test_out_of_memory_is_one_clear_line(monkeypatch, capsys):
    import recurnet_sim.cli as cli

    def boom(args):
        raise MemoryError("Unable to allocate 74.5 GiB")

    monkeypatch.setitem(cli._COMMANDS, "run", boom)
    code = main(["run", "hopfield_letters"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("recurnet: error: not enough memory") and len(err.strip().splitlines()) == 1


def test_summary_shows_the_family_fields(capsys):
    code = main(["run", "gradient_flow", "--headless", "--steps", "2", "--trials", "1"])
    out = capsys.readouterr().out
    assert code == 0
    for field in ("spectral_radius", "controllable_rank", "observable_rank", "grad_norm_vs_lag"):
        assert field in out


# ----- validate has no side effects; training runs through the engine, after the output checks ----
def _encoder_copy(tmp_path, save=None):
    """The shipped encoder scenario as a user's file in tmp_path, its training.save set to ``save``."""
    text = paths.resolve_shipped("boltzmann_encoder").read_text()
    if save is not None:
        text = text.replace("[training]\n", f'[training]\nsave = "{save}"\n', 1)
    f = tmp_path / "enc.toml"
    f.write_text(text)
    return f


@pytest.fixture
def no_training(monkeypatch):
    """Fail the test if any Boltzmann learning cycle runs."""
    from recurnet_sim.families.boltzmann import model as bz

    def boom(*a, **k):
        raise AssertionError("trained")
        yield  # pragma: no cover

    monkeypatch.setattr(bz, "iter_ahs1985", boom)
    monkeypatch.setattr(bz, "iter_cd", boom)


def test_validate_trains_nothing_writes_nothing_prints_only_the_verdict(tmp_path, capsys, no_training):
    out = tmp_path / "out"
    out.mkdir()
    code = main(["validate", "boltzmann_encoder", "--set", f"training.save={out / 'w.npz'}"])
    o, e = capsys.readouterr()
    assert code == 0 and o == "boltzmann_encoder: ok (boltzmann)\n" and e == ""
    assert list(out.iterdir()) == []


def test_validate_of_a_scenario_saving_onto_itself_reports_the_refusal_and_leaves_it(tmp_path, capsys, no_training):
    f = _encoder_copy(tmp_path, save="enc.toml")
    before = f.read_bytes()
    code = main(["validate", str(f)])
    o, e = capsys.readouterr()
    assert code == 1 and o == ""
    assert "training.save: " in e and "enc.toml exists and was not written by recurnet; use --force to replace it" in e
    assert f.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["enc.toml"]
    assert main(["validate", str(f)]) == 1  # still a scenario, still refused (not "not a text file")


def test_run_refuses_an_unwritable_output_before_training(tmp_path, capsys, no_training):
    f = _encoder_copy(tmp_path, save="enc.toml")
    before = f.read_bytes()
    assert main(["run", str(f), "--headless", "--json"]) == 1
    o, e = capsys.readouterr()
    assert o == "" and "use --force to replace it" in e and f.read_bytes() == before
    (tmp_path / "g").mkdir()
    g = _encoder_copy(tmp_path / "g")  # saves nothing itself
    for opt, target, why in [("--trace", tmp_path / "nodir" / "t.npz", "does not exist"),
                             ("--save-weights", tmp_path, "is a directory"),
                             ("--trace", f, "not written by recurnet")]:
        assert main(["run", str(g), "--headless", opt, str(target)]) == 1
        assert why in capsys.readouterr().err
    assert f.read_bytes() == before


def test_force_replaces_a_file_recurnet_did_not_write(tmp_path, capsys):
    mine = tmp_path / "t.npz"
    mine.write_text("my notes")
    assert main(["run", "hopfield_letters", "--headless", "--trace", str(mine)]) == 1
    assert "use --force" in capsys.readouterr().err and mine.read_text() == "my notes"
    assert main(["run", "hopfield_letters", "--headless", "--trace", str(mine), "--force"]) == 0
    assert mine.read_bytes()[:2] == b"PK"
    assert main(["run", "hopfield_letters", "--headless", "--trace", str(mine)]) == 0  # ours now


def test_run_trains_with_progress_on_stderr_writes_training_save_and_traces_the_history(tmp_path, capsys, monkeypatch):
    from recurnet_sim.recorders import Trace

    clock = [0.0]

    def tick():
        clock[0] += 10.0  # every progress update is due
        return clock[0]

    monkeypatch.setattr("recurnet_sim.progress.time.monotonic", tick)
    f = _encoder_copy(tmp_path, save="w.npz")
    assert main(["run", str(f), "--headless", "--json", "--trace", str(tmp_path / "t.npz")]) == 0
    o, e = capsys.readouterr()
    lines = e.splitlines()
    assert lines[0].startswith("training: cycle 1/600, max_dw ") and "mean_abs_dp" in lines[0]
    assert any(line.startswith("training: cycle 80/600") and "solved True" in line for line in lines)
    assert (tmp_path / "w.npz").exists()
    import json

    res = json.loads(o)
    t = Trace.load(tmp_path / "t.npz")
    assert len(t["training_max_dw"]) == res["training_cycles"] == t.meta["training"]["ticks"]
    assert t["training_solved"][-1] and t["training_solved_ticks"][-1] == res["training_cycles"]
    # the saved weights are the trained ones: a scenario loading them starts from the same machine
    from recurnet_sim.families.boltzmann.model import load_weights
    from recurnet_sim.scenario import build_simulation, load

    sim = build_simulation(load(f), trials=1)
    sim.train()
    assert (load_weights(tmp_path / "w.npz")["weights"] == sim.model.weights).all()


def test_training_progress_false_keeps_the_training_quiet(tmp_path, capsys, monkeypatch):
    """training.progress = false: the training runs (and is reported in the result) without a
    progress line, even when every update is due."""
    clock = [0.0]

    def tick():
        clock[0] += 10.0
        return clock[0]

    monkeypatch.setattr("recurnet_sim.progress.time.monotonic", tick)
    f = _encoder_copy(tmp_path, save="w.npz")
    assert main(["run", str(f), "--headless", "--json", "--set", "training.progress=false",
                 "--set", "training.cycles=5", "--set", "training.until_solved=false"]) == 0
    o, e = capsys.readouterr()
    import json

    assert json.loads(o)["training_cycles"] == 5
    assert "training:" not in e


def test_load_scenario_refuses_max_steps_zero_naming_the_key():
    from recurnet_sim import load_scenario
    from recurnet_sim.errors import ScenarioError
    from recurnet_sim.paths import resolve_shipped

    with pytest.raises(ScenarioError, match=r"stop\.max_steps: must be an integer >= 1, got 0"):
        load_scenario(resolve_shipped("hopfield_tiny"), max_steps=0)
