"""The one atomic writer (recurnet_sim.writer): atomicity, the refusal to replace files recurnet did
not write, and one clear line for every way a path can be wrong."""
from __future__ import annotations

import errno
import os
import threading

import pytest

from recurnet_sim import writer
from recurnet_sim.errors import OutputError, RecurnetError
from recurnet_sim.writer import MANIFEST, check_target, write_bytes, write_file, write_text


def _leftovers(d):
    """Every file in ``d`` except the outputs and the manifest: temporaries that should not exist."""
    return sorted(p.name for p in d.iterdir() if p.name.endswith(".tmp"))


def test_write_creates_file_records_it_and_leaves_no_temporary(tmp_path):
    p = write_text(tmp_path / "a.csv", "x,y\n1,2\n")
    assert p == tmp_path / "a.csv"
    assert p.read_text() == "x,y\n1,2\n"
    assert (tmp_path / MANIFEST).exists()
    assert writer.written_by_recurnet(p)
    assert _leftovers(tmp_path) == []


def test_file_mode_is_the_default_not_mkstemp_0600(tmp_path):
    p = write_bytes(tmp_path / "a.bin", b"1")
    um = os.umask(0)
    os.umask(um)
    assert (p.stat().st_mode & 0o777) == (0o666 & ~um)


def test_replaces_a_file_recurnet_wrote(tmp_path):
    write_text(tmp_path / "a.txt", "one")
    write_text(tmp_path / "a.txt", "two")
    assert (tmp_path / "a.txt").read_text() == "two"


def test_refuses_a_file_recurnet_did_not_write_unless_forced(tmp_path):
    f = tmp_path / "mine.npz"
    f.write_bytes(b"user data")
    with pytest.raises(OutputError) as ei:
        check_target(f)
    assert str(ei.value) == f"{f}: exists and was not written by recurnet; use --force to replace it"
    with pytest.raises(OutputError):
        write_bytes(f, b"recurnet data")
    assert f.read_bytes() == b"user data"
    assert _leftovers(tmp_path) == []
    write_bytes(f, b"recurnet data", force=True)
    assert f.read_bytes() == b"recurnet data"
    write_bytes(f, b"again")  # now it is ours: no --force needed
    assert f.read_bytes() == b"again"


def test_refuses_a_file_edited_after_recurnet_wrote_it(tmp_path):
    f = write_text(tmp_path / "summary.csv", "a\n1\n")
    f.write_text("a\n1\nmy note\n")
    with pytest.raises(OutputError, match="not written by recurnet; use --force"):
        write_text(f, "a\n2\n")
    assert f.read_text() == "a\n1\nmy note\n"


def test_refuses_the_manifest_itself(tmp_path):
    with pytest.raises(OutputError, match="own record"):
        check_target(tmp_path / MANIFEST, force=True)


@pytest.mark.parametrize("case", ["directory", "missing_parent", "parent_is_file", "too_long", "read_only"])
def test_bad_paths_are_one_clear_line_before_anything_is_written(tmp_path, monkeypatch, case):
    if case == "directory":
        target, want = tmp_path, "is a directory"
    elif case == "missing_parent":
        target, want = tmp_path / "no" / "such" / "t.npz", f"directory {tmp_path / 'no' / 'such'} does not exist"
    elif case == "parent_is_file":
        (tmp_path / "f").write_text("x")
        target, want = tmp_path / "f" / "t.npz", "is a file, not a directory"
    elif case == "too_long":
        target, want = tmp_path / ("x" * 300 + ".npz"), "file name too long"
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o555)
        real = os.access
        # root ignores permission bits: make the check see what an ordinary user would
        monkeypatch.setattr(os, "access", lambda p, m, **k: False if os.fspath(p) == os.fspath(ro) else real(p, m, **k))
        target, want = ro / "t.npz", "is read-only"
    with pytest.raises(OutputError) as ei:
        check_target(target)
    msg = str(ei.value)
    assert "\n" not in msg and msg.startswith(str(target)) and want in msg
    assert isinstance(ei.value, RecurnetError) and isinstance(ei.value, OSError)
    with pytest.raises(OutputError):
        write_bytes(target, b"data")
    if case == "read_only":
        ro.chmod(0o755)
    assert not any(p.name.endswith(".tmp") for p in tmp_path.rglob("*"))


def test_full_disk_during_the_write_is_one_line_and_leaves_nothing(tmp_path):
    f = write_text(tmp_path / "t.npz", "old")

    def fill(fh):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError) as ei:
        write_file(f, fill)
    assert str(ei.value) == f"{f}: cannot write: no space left on the device"
    assert ei.value.errno == errno.ENOSPC
    assert f.read_text() == "old"  # the previous file is intact
    assert _leftovers(tmp_path) == []


def test_read_only_file_system_at_the_rename_leaves_no_temporary(tmp_path, monkeypatch):
    def erofs(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "replace", erofs)
    with pytest.raises(OutputError, match="read-only file system"):
        write_bytes(tmp_path / "x.png", b"png")
    assert not (tmp_path / "x.png").exists()
    assert _leftovers(tmp_path) == []


def test_permission_denied_when_creating_the_temporary(tmp_path, monkeypatch):
    import tempfile

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    with pytest.raises(OutputError, match="permission denied"):
        write_bytes(tmp_path / "x.png", b"png")


def test_other_errors_of_the_write_callable_propagate_and_clean_up(tmp_path):
    def bad(fh):
        fh.write(b"half")
        raise ValueError("not serialisable")

    with pytest.raises(ValueError, match="not serialisable"):
        write_file(tmp_path / "x.npz", bad)
    assert list(tmp_path.iterdir()) == []


def test_write_callable_may_seek(tmp_path):
    import numpy as np

    p = write_file(tmp_path / "a.npz", lambda fh: np.savez_compressed(fh, a=np.arange(5)))
    with np.load(p) as z:
        assert z["a"].tolist() == [0, 1, 2, 3, 4]
    assert writer.written_by_recurnet(p)


def test_check_target_writes_nothing(tmp_path):
    check_target(tmp_path / "new.npz")
    assert list(tmp_path.iterdir()) == []


def test_concurrent_writers_lose_no_manifest_entry(tmp_path):
    def work(k):
        for j in range(20):
            write_text(tmp_path / f"p{k}_{j}.json", f"{k} {j}\n")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer._cache.clear()  # read the manifest from disk, as another process would
    for k in range(4):
        for j in range(20):
            assert writer.written_by_recurnet(tmp_path / f"p{k}_{j}.json")


def test_manifest_is_compacted_and_stays_correct(tmp_path):
    f = tmp_path / "frame.png"
    for i in range(1200):
        write_text(f, f"frame {i}")
    assert (tmp_path / MANIFEST).stat().st_size < 100_000
    writer._cache.clear()
    assert writer.written_by_recurnet(f)
    write_text(f, "last")
    assert f.read_text() == "last"


# ----- through the program -----------------------------------------------------------------------
def test_a_scenario_whose_training_save_names_itself_is_never_overwritten(tmp_path):
    from recurnet_sim.paths import resolve_shipped
    from recurnet_sim.scenario import build_simulation, load

    f = tmp_path / "enc.toml"
    f.write_text(resolve_shipped("boltzmann_encoder").read_text().replace(
        "[training]\n", '[training]\nsave = "enc.toml"\n', 1))
    short = ["training.cycles=3", "training.until_solved=false"]
    before = f.read_bytes()
    sim = build_simulation(load(f, short), trials=1)
    with pytest.raises(OutputError) as ei:
        sim.run()
    assert str(ei.value) == f"training.save: {f} exists and was not written by recurnet; use --force to replace it"
    assert sim.training_history == []  # refused before the first learning cycle
    assert f.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["enc.toml"]
    # only an explicit force replaces it (the CLI's --force)
    sim = build_simulation(load(f, short), trials=1)
    with writer.forcing():
        sim.run()
    assert f.read_bytes()[:2] == b"PK" and len(sim.training_history) == 3


def test_forcing_is_scoped(tmp_path):
    f = tmp_path / "x.txt"
    f.write_text("user")
    with writer.forcing():
        check_target(f)
        with pytest.raises(OutputError):
            check_target(f, force=False)  # an explicit False wins
    with pytest.raises(OutputError):
        check_target(f)


def test_batch_refuses_a_foreign_results_file_before_the_sweep_and_force_replaces_it(tmp_path, capsys):
    from recurnet_sim.cli import main
    from recurnet_sim.paths import resolve_shipped

    exp = tmp_path / "e.toml"
    base = resolve_shipped("hopfield_letters").as_posix()
    exp.write_text(f'[experiment]\nname = "e"\nbase = "{base}"\ntrials = 2\nmetrics = ["overlap"]\n'
                   '[grid]\n"dynamics.temperature" = [0.0, 0.1]\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.csv").write_text("my own table\n")
    assert main(["batch", str(exp), "--out", str(out), "--workers", "1"]) == 1
    assert "summary.csv: exists and was not written by recurnet; use --force" in capsys.readouterr().err
    assert (out / "summary.csv").read_text() == "my own table\n" and not (out / "meta.json").exists()
    assert main(["batch", str(exp), "--out", str(out), "--workers", "1", "--force"]) == 0
    assert (out / "summary.csv").read_text() != "my own table\n"
    assert writer.written_by_recurnet(out / "summary.csv") and writer.written_by_recurnet(out / "meta.json")
