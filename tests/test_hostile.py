"""Hostile input: every bad flag, path, file and size a user can give ends in one line on stderr
naming the file and the key, a non-zero exit, no traceback, no hang (issue 12).

Each test here failed on the code before the change it covers (a traceback, a hang, a silent
acceptance, or a message without the file/key)."""
from __future__ import annotations

import errno
import os
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from recurnet_sim import cli
from recurnet_sim.paths import scenarios_dir

LONG = "n" * 5000


def one_line(capsys, *argv, code=1):
    """Run the CLI in-process; assert the exit code, no traceback and exactly one error line."""
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    assert rc == code, (argv, rc, err)
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recurnet: error: "), err
    return lines[0]


def no_hang(fn, timeout=10.0):
    """Call fn in a thread; fail (instead of hanging the suite) if it does not return in time."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), "hung (a FIFO or a device was opened or read)"
    if "exc" in box:
        raise box["exc"]
    return box.get("value")


# ----- CLI flags -------------------------------------------------------------------------------
@pytest.mark.parametrize("flag,value,key", [
    ("--seed", "-1", "scenario.seed"), ("--trials", "0", "scenario.trials"), ("--trials", "-3", "scenario.trials"),
    ("--trials", "1000000", "scenario.trials"), ("--steps", "-5", "stop.max_steps"), ("--steps", "0", "stop.max_steps"),
])
def test_run_flags_validated_like_scenario_keys(capsys, flag, value, key):
    line = one_line(capsys, "run", "hopfield_tiny", "--headless", flag, value)
    assert f"hopfield_tiny.toml: {flag} ({key}): must be an integer" in line and value in line


def test_mistyped_scenario_name_suggests_shipped_names(capsys):
    line = one_line(capsys, "run", "hopfield_letter", "--headless")
    assert "no such file" in line and "did you mean 'hopfield_letters'" in line
    line = one_line(capsys, "batch", "hopfield_capaciti")
    assert "shipped experiment" in line and "'hopfield_capacity'" in line


# ----- duplicate pattern names -----------------------------------------------------------------
def test_duplicate_pattern_names(capsys):
    line = one_line(capsys, "run", "hopfield_letters", "--headless", "--set", 'patterns.names=["A","A"]')
    assert "hopfield_letters.toml: patterns.names:" in line and "'A' more than once" in line


def test_png_named_like_a_letter(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (10, 12), 0).save(tmp_path / "A.png")
    line = one_line(capsys, "run", "hopfield_letters", "--headless", "--set",
                    f'patterns.files=["{(tmp_path / "A.png").as_posix()}"]')
    assert "patterns.files: A.png" in line and "'A'" in line


# ----- deep nesting ----------------------------------------------------------------------------
@pytest.mark.parametrize("body", [
    "x = " + "[" * 600 + "]" * 600,
    "x = " + "{a = " * 600 + "1" + "}" * 600,
    "[" + ".".join(["a"] * 600) + "]\nx = 1",
])
def test_deep_nesting_scenario(tmp_path, capsys, body):
    f = tmp_path / "deep.toml"
    f.write_text("[network]\ntype = 'hopfield'\n" + body + "\n")
    line = one_line(capsys, "run", str(f), "--headless")
    assert "deep.toml: tables or arrays nested more than 64 deep" in line
    line = one_line(capsys, "validate", str(f))


def test_deep_nesting_experiment_and_set(tmp_path, capsys):
    base = (scenarios_dir() / "experiments" / "base" / "hopfield_random.toml").as_posix()
    f = tmp_path / "exp.toml"
    f.write_text(f'[experiment]\nbase = "{base}"\n[grid]\n"network.size" = [20]\n[set.deep]\nx = '
                 + "[" * 600 + "]" * 600 + "\n")
    line = one_line(capsys, "batch", str(f), "--out", str(tmp_path / "o"))
    assert "exp.toml: tables or arrays nested more than 64 deep" in line
    line = one_line(capsys, "run", "hopfield_tiny", "--headless", "--set", "x=" + "[" * 600 + "]" * 600)
    assert "nested too deeply" in line


# ----- malformed .npz --------------------------------------------------------------------------
BAM_MAGIC = "recurnet_sim.bam.v1"
BOLTZ_MAGIC = "recurnet_sim.boltzmann.v1"


def _bam_scenario(tmp_path, weights: Path) -> Path:
    f = tmp_path / "bam.toml"
    text = (scenarios_dir() / "bam_letters.toml").read_text()
    f.write_text(text)
    return f


@pytest.mark.parametrize("arrays,frag", [
    ({"format": np.array([BAM_MAGIC, BAM_MAGIC]), "weights": np.zeros((3, 4))}, "not a text marker"),
    ({"format": np.array(BAM_MAGIC), "weights": np.zeros(3, dtype=[("a", "f8")])}, "structured"),
    ({"format": np.array(BAM_MAGIC), "weights": np.ones((3, 4)) * (1 + 1j)}, "real numbers"),
    ({"format": np.array(BAM_MAGIC), "weights": np.zeros((0, 4))}, "no units"),
])
def test_malformed_bam_weights(tmp_path, arrays, frag):
    from recurnet_sim.errors import TraceFileError
    from recurnet_sim.families.bam.model import load_weights

    np.savez(tmp_path / "w.npz", **arrays)
    with pytest.raises(TraceFileError, match=frag) as info:
        load_weights(tmp_path / "w.npz")
    assert "w.npz" in str(info.value) and "\n" not in str(info.value)


def test_boltzmann_weights_with_no_units(tmp_path):
    from recurnet_sim.errors import TraceFileError
    from recurnet_sim.families.boltzmann.model import load_weights

    np.savez(tmp_path / "w.npz", format=np.array(BOLTZ_MAGIC), weights=np.zeros((0, 0)), biases=np.zeros(0),
             n_visible=np.array(0), units=np.array("binary"), topology=np.array("full"))
    with pytest.raises(TraceFileError, match="no units"):
        load_weights(tmp_path / "w.npz")
    np.savez(tmp_path / "w.npz", format=np.array(BOLTZ_MAGIC), weights=np.zeros((2, 2)), biases=np.zeros(2),
             n_visible=np.array(1), units=np.array(["binary", "x"]), topology=np.array("full"))
    with pytest.raises(TraceFileError, match="must be text"):
        load_weights(tmp_path / "w.npz")


def test_srn_weights_meta_array_and_trace_marker(tmp_path, capsys):
    from recurnet_sim.families.srn.model import load_weights
    from recurnet_sim.recorders import Trace
    from recurnet_sim.errors import TraceFileError

    w = tmp_path / "w.npz"
    assert cli.main(["run", "elman_temporal_xor", "--headless", "--steps", "2", "--save-weights", str(w)]) == 0
    d = dict(np.load(w))
    np.savez(tmp_path / "m.npz", **{**d, "meta_task": np.array(["a", "b"])})
    assert load_weights(tmp_path / "m.npz")[2]["task"] == ["a", "b"]
    np.savez(tmp_path / "t.npz", format=np.zeros(3), __meta__=np.array("{}"))
    with pytest.raises(TraceFileError, match="not a text marker"):
        Trace.load(tmp_path / "t.npz")


# ----- paths: long names, FIFOs, devices, size caps ---------------------------------------------
def test_reader_refuses_non_regular_files(tmp_path):
    from recurnet_sim.errors import InputError
    from recurnet_sim.reader import read_input

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for p, frag in [(fifo, "FIFO"), ("/dev/zero", "device"), ("/dev/urandom", "device"), (tmp_path, "directory"),
                    (tmp_path / LONG, "file name too long"), (tmp_path / "none", "no such file")]:
        with pytest.raises(InputError, match=frag) as info:
            no_hang(lambda p=p: read_input(p, "k.ey"))
        assert str(info.value).startswith("k.ey: ") and len(str(info.value)) < 300
    big = tmp_path / "big"
    big.write_bytes(b"x" * 3000)
    with pytest.raises(InputError, match="larger than"):
        read_input(big, "k", max_bytes=2000)
    assert read_input(big, "k", max_bytes=3000) == b"x" * 3000


@pytest.fixture
def fifo(tmp_path):
    p = tmp_path / "fifo.png"
    os.mkfifo(p)
    return p


@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "/dev/urandom", "long"])
def test_scenario_path_never_hangs(tmp_path, capsys, fifo, target):
    path = {"fifo": str(fifo), "long": str(tmp_path / LONG)}.get(target, target)
    for cmd in (["run", path, "--headless"], ["validate", path]):
        line = no_hang(lambda: one_line(capsys, *cmd))
        assert ("FIFO" in line or "device" in line or "too long" in line), line
        assert len(line) < 300


@pytest.mark.parametrize("scenario,key", [
    ("hopfield_letters", "patterns.source"),
    ("jordan_sequence", "task.file"),
    ("boltzmann_sample", "network.weights_file"),
    ("bam_letters", "network.weights_file"),
    ("elman_temporal_xor", "initial.weights"),
])
@pytest.mark.parametrize("target", ["fifo", "/dev/zero", "/dev/urandom", "long"])
def test_file_keys_never_hang(tmp_path, capsys, fifo, scenario, key, target):
    path = {"fifo": str(fifo), "long": str(tmp_path / LONG)}.get(target, target)
    argv = ["run", scenario, "--headless", "--set", f"{key}={path}"]
    if scenario == "boltzmann_sample":
        argv += ["--set", "network.weights=file", "--set", "network.visible=none"]
    line = no_hang(lambda: one_line(capsys, *argv))
    assert f"{scenario}.toml" in line, line
    assert ("FIFO" in line or "device" in line or "too long" in line), line
    assert len(line) < 400


# ----- sizes that bypassed the limits ----------------------------------------------------------
def test_image_size_capped_from_header(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (150, 150), 0).save(tmp_path / "big.png", optimize=True)
    assert (tmp_path / "big.png").stat().st_size < 1000  # a tiny file declaring N = 22500
    line = one_line(capsys, "run", "hopfield_letters", "--headless", "--set",
                    f"patterns.source={(tmp_path / 'big.png').as_posix()}", "--set", "patterns.names=none")
    assert "patterns.source: big.png" in line and "22500 units" in line and "20000" in line and "GB" in line


def test_png_bomb_refused_before_decoding(tmp_path):
    """A header declaring 3000 x 3000 pixels is refused without decoding."""
    import struct
    import zlib

    from recurnet_sim.patterns import PatternFileError, load_png

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 3000, 3000, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    (tmp_path / "bomb.png").write_bytes(png)
    with pytest.raises(PatternFileError, match="larger than 4000000 pixels"):
        load_png(tmp_path / "bomb.png")


def test_one_pixel_image_refused(tmp_path, capsys):
    from PIL import Image

    Image.new("L", (1, 1), 0).save(tmp_path / "one.png")
    line = one_line(capsys, "run", "hopfield_letters", "--headless", "--set",
                    f"patterns.source={(tmp_path / 'one.png').as_posix()}", "--set", "patterns.names=none")
    assert "patterns.source" in line and "at least 2" in line


def test_large_elman_summary_skips_costly_analysis(capsys):
    import json

    rc = cli.main(["run", "elman_temporal_xor", "--headless", "--json", "--trials", "1", "--steps", "1",
                   "--set", "network.hidden=1024", "--set", "task.length=30"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert "analysis_skipped" in out and "1024" in out["analysis_skipped"] and "est." in out["analysis_skipped"]
    assert "spectral_radius" not in out  # not claimed when not computed


# ----- batch output on a full disk / read-only mount -------------------------------------------
@pytest.mark.parametrize("err,frag", [(errno.ENOSPC, "no space left"), (errno.EROFS, "read-only")])
def test_batch_output_failure_is_one_line_and_leaves_no_temp(tmp_path, capsys, monkeypatch, err, frag):
    base = (scenarios_dir() / "experiments" / "base" / "hopfield_random.toml").as_posix()
    exp = tmp_path / "exp.toml"
    exp.write_text(f'[experiment]\nbase = "{base}"\ntrials = 2\ngroup = 2\nmetrics = ["overlap"]\n'
                   '[set]\n"network.size" = 20\n[grid]\nload = [0.05]\n')
    out = tmp_path / "o"

    def fail(fd):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(os, "fsync", fail)
    line = one_line(capsys, "batch", str(exp), "--out", str(out), "--workers", "1")
    assert frag in line, line
    left = [p.name for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert left == []


def test_jordan_teacher_forcing_on_a_task_longer_than_21_steps_finishes_its_summary(capsys):
    """Jordan's default teacher forcing feeds the targets back; the end-of-run gradient-flow summary
    used to run without them on any task longer than 21 steps and died with "teacher forcing needs
    the targets D" after the whole training, losing the run. Now it runs the state units from the
    outputs, and the summary has its gradient-norm curve."""
    import json

    code = cli.main(["run", "jordan_sequence", "--headless", "--json", "--steps", "3", "--set", "task.file=none",
                     "--set", 'task.sequences=["ABCDEFGHIJKLMNOPQRSTUVWXYZ"]'])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err, err
    d = json.loads(out)
    assert d["stop_reason"] == "max_steps" and d["steps"] == 3
    lags = d["grad_norm_vs_lag"]
    assert len(lags) > 1 and all(isinstance(v, float) and v > 0 for v in lags)
