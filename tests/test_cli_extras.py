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
