"""A seeded mutation fuzzer over every shipped scenario and experiment (issue 12).

Each case takes a shipped file, applies one or two random mutations — a value replaced (out of
range, wrong type, huge, NaN, unicode, empty), a key deleted, a value wrapped in a list or table or
nested 100 deep, an unknown unicode key, a file key pointed at a directory, a FIFO, a device, a
missing or 5000-character name, or hostile files the fuzzer writes itself (binary garbage, a NUL
byte, a truncated or foreign .npz, a 150 x 150 PNG of a few hundred bytes, a 1 x 1 PNG), or the
TOML text truncated or given stray bytes — writes it into ``tmp_path`` and runs the CLI on it
in-process with ``cwd = tmp_path``. Every call must return within a watchdog timeout with exit
code 0 or 1, with no traceback, and on failure the first stderr line must be
``recurnet: error: <file>...`` naming the mutated file (or the key's file). Nothing may be written
outside ``tmp_path``.

Scenarios are checked with ``recurnet validate`` and, when valid, ``recurnet run --headless --json
--steps 3 --trials 1``. Experiments go through ``recurnet batch``'s reading and validation with the
run itself stubbed out (a real sweep per mutation would take minutes; the runner is covered by
tests/test_batch.py), so every mutation of an experiment reaches the same checks a user's would.
"""
from __future__ import annotations

import json
import math
import os
import random
import threading
import tomllib
from pathlib import Path

import numpy as np
import pytest

from recurnet_sim import cli
from recurnet_sim.paths import scenarios_dir

SEED = int(os.environ.get("RECURNET_FUZZ_SEED", "12"))  # another seed explores further (not in CI)
N_SCENARIO_CASES = 240
N_EXPERIMENT_CASES = 80
WATCHDOG_S = 30.0

ROOT = Path(__file__).resolve().parents[1]


# ----- a small TOML writer (inline tables; enough for any mapping tomllib returns) --------------
def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string (\uXXXX escapes included)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def dumps(data: dict) -> str:
    return "".join(f"{json.dumps(k)} = {_toml_value(v)}\n" for k, v in data.items())


# ----- hostile files ---------------------------------------------------------------------------
def hostile_files(tmp: Path) -> list[str]:
    from PIL import Image

    d = tmp / "hostile"
    d.mkdir()
    (d / "garbage.bin").write_bytes(bytes(random.Random(1).randrange(256) for _ in range(4096)))
    (d / "nul.txt").write_bytes(b"= A\n##\x00#\n")
    (d / "empty.txt").write_bytes(b"")
    np.savez(d / "foreign.npz", weights=np.ones((3, 3)))
    np.savez(d / "marker_array.npz", format=np.array(["a", "b"]), weights=np.ones((3, 3)))
    (d / "truncated.npz").write_bytes((d / "foreign.npz").read_bytes()[:100])
    Image.new("L", (150, 150), 0).save(d / "big.png", optimize=True)
    Image.new("L", (1, 1), 0).save(d / "one.png")
    (d / "not_png.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    os.mkfifo(d / "fifo")
    os.mkfifo(d / "fifo.png")
    (d / "subdir").mkdir()
    return [str(p) for p in sorted(d.iterdir())] + ["/dev/zero", "/dev/urandom", "/dev/null",
                                                    str(tmp / ("x" * 5000)), str(tmp / "missing.txt"), str(tmp)]


SCALARS = [-1, 0, 1, 2, -(10**9), 10**30, 2**63, -1e308, 1e308, float("nan"), float("inf"), 0.5, -0.5, "",
           "none", "ü🙂\u202e\u0000", "A" * 300, True, False, [], {}, [1, "a", 2.5], {"x": {"y": 1}}]


def leaves(d, prefix=()):
    """(path tuple, value) of every leaf (and of every list / table) in a nested mapping."""
    out = []
    if isinstance(d, dict):
        for k, v in d.items():
            out.append((prefix + (k,), v))
            out += leaves(v, prefix + (k,))
    elif isinstance(d, list):
        for i, v in enumerate(d):
            out.append((prefix + (i,), v))
            out += leaves(v, prefix + (i,))
    return out


def _set(d, path, value):
    for k in path[:-1]:
        d = d[k]
    d[path[-1]] = value


def _del(d, path):
    for k in path[:-1]:
        d = d[k]
    del d[path[-1]]


def absolutise(data, folder: Path):
    """Relative file values of a shipped file made absolute, so the copy in tmp_path finds them."""
    for path, v in leaves(data):
        if isinstance(v, str) and v and ("/" in v or v.endswith((".toml", ".txt", ".png", ".npz"))):
            p = folder / v
            try:
                if p.exists():
                    _set(data, path, str(p.resolve()))
            except OSError:
                pass


def mutate(rng: random.Random, data: dict, files: list[str]) -> tuple[dict | None, str]:
    """One mutation; returns (data, text) — data None when the text itself was mutated."""
    kind = rng.choice(["value", "value", "value", "file", "file", "delete", "wrap", "nest", "unknown", "text"])
    items = leaves(data)
    path, value = rng.choice(items)
    if kind == "value":
        _set(data, path, rng.choice(SCALARS))
    elif kind == "file":
        # a key that names a file (or any string key) gets a hostile path
        strs = [p for p, v in items if isinstance(v, str)] or [path]
        _set(data, rng.choice(strs), rng.choice(files))
    elif kind == "delete":
        _del(data, path)
    elif kind == "wrap":
        _set(data, path, rng.choice([[value], {"v": value}]))
    elif kind == "nest":
        v = 1
        for _ in range(rng.choice([10, 70, 100])):
            v = [v] if rng.random() < 0.5 else {"a": v}
        _set(data, path, v)
    elif kind == "unknown":
        tables = [p for p, v in items if isinstance(v, dict)]
        target = data
        if tables:
            for k in rng.choice(tables):
                target = target[k]
        target[rng.choice(["ключ", "x\u202ey", "network2", "seeed", "🙂"])] = rng.choice(SCALARS[:8])
    text = dumps(data)
    if kind == "text":
        cut = rng.randrange(len(text))
        text = rng.choice([text[:cut], text[:cut] + "\udcff"[:0] + "\x00\x1b[31m" + text[cut:], text + "\n[[[\n"])
        return None, text
    return data, text


def call(argv: list[str], capsys, case: str = ""):
    box = {}

    def target():
        try:
            box["rc"] = cli.main(argv)
        except BaseException as exc:  # noqa: BLE001 - reported below with the case
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(WATCHDOG_S)
    out, err = capsys.readouterr()
    assert not t.is_alive(), f"hung: {argv[:3]} {case}"
    if "exc" in box:
        raise AssertionError(f"{case} {argv[:3]} raised {type(box['exc']).__name__}: {box['exc']}") from box["exc"]
    return box["rc"], out, err


def check(rc, err, name: str, case: str):
    assert rc in (0, 1), (case, rc, err[-2000:])
    assert "Traceback" not in err, (case, err[-2000:])
    if rc == 1:
        first = err.strip().splitlines()[0] if err.strip() else ""
        assert first.startswith("recurnet: error: "), (case, err[-500:])
        assert name in first or "nested too deeply" in first, (case, first[:400])
        assert len(first) < 2000, (case, first[:400])


def snapshot() -> dict[str, float]:
    out = {}
    for folder in (ROOT, ROOT / "scenarios", ROOT / "scenarios" / "experiments", ROOT / "assets"):
        for p in folder.iterdir():
            try:
                out[str(p)] = p.stat().st_mtime_ns
            except OSError:
                pass
    return out


class _Validated(Exception):
    """Raised by the stubbed batch runner: the experiment got through reading and validation."""


def test_fuzz_shipped_files(tmp_path, capsys, monkeypatch):
    from recurnet_sim import batch

    monkeypatch.chdir(tmp_path)
    before = snapshot()
    rng = random.Random(SEED)
    files = hostile_files(tmp_path)
    scen = sorted(scenarios_dir().glob("*.toml"))
    exps = sorted((scenarios_dir() / "experiments").glob("*.toml"))

    def stub(exp, out, **kw):
        raise _Validated

    monkeypatch.setattr(batch, "run_experiment", stub)
    counts = {"ok": 0, "error": 0, "ran": 0}
    plan = [(scen[i % len(scen)], "scenario") for i in range(N_SCENARIO_CASES)]
    plan += [(exps[i % len(exps)], "experiment") for i in range(N_EXPERIMENT_CASES)]
    for k, (src, what) in enumerate(plan):
        data = tomllib.loads(src.read_text(encoding="utf-8"))
        absolutise(data, src.parent)
        for _ in range(rng.choice([1, 1, 2])):
            data, text = mutate(rng, data, files)
            if data is None:
                break
        name = f"case{k:03d}_{src.stem}.toml"
        f = tmp_path / name
        f.write_text(text, encoding="utf-8", errors="surrogateescape")
        case = f"{name}: {text[:3000]!r}"
        if what == "scenario":
            rc, out, err = call(["validate", str(f)], capsys, case)
            check(rc, err, name, case)
            if rc == 0:
                rc, out, err = call(["run", str(f), "--headless", "--json", "--steps", "3", "--trials", "1"], capsys, case)
                check(rc, err, name, case)
                if rc == 0:
                    json.loads(out)  # strict JSON
                    counts["ran"] += 1
        else:
            try:
                rc, out, err = call(["batch", str(f), "--out", str(tmp_path / f"out{k}"), "--workers", "1"], capsys, case)
            except AssertionError as exc:
                if isinstance(exc.__cause__, _Validated):
                    counts["ok"] += 1
                    continue
                raise
            check(rc, err, name, case)
        counts["ok" if rc == 0 else "error"] += 1
    print("fuzz counts", counts)
    assert snapshot() == before, "a file was written outside tmp_path"
    # the fuzzer must exercise both sides: refusals and runs that still work
    assert counts["error"] >= 30 and counts["ran"] >= 5, counts
