"""The golden record: every shipped scenario's ``--json`` and every experiment's small-run
``summary.csv`` are what ``tests/golden/record.py`` recorded. A refactor keeps them; a change on
purpose re-records them in its own commit."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

from golden import record

GOLDEN = record.HERE
SCENARIOS = json.loads((GOLDEN / "scenarios.json").read_text())


def same(a, b, path="") -> list[str]:
    """Differences between two JSON values; floats agree to 1e-9 (BLAS summation order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: missing" for k in a.keys() - b.keys()]
        out += [f"{path}.{k}: unexpected" for k in b.keys() - a.keys()]
        for k in a.keys() & b.keys():
            out += same(a[k], b[k], f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in same(x, y, f"{path}[{i}]")]
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
                and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12):
            return []
    elif a == b and type(a) is type(b):
        return []
    return [f"{path}: recorded {a!r}, got {b!r}"]


def _cells_equal(a: str, b: str) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12) or a == b
    except ValueError:
        return a == b


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_json_matches_golden_record(name):
    got = record.strip_elapsed(record.scenario_records_for([name])[name])
    diffs = same(SCENARIOS[name], got, name)
    assert not diffs, "\n".join(diffs[:20])


@pytest.mark.parametrize("path", record.experiment_files(), ids=lambda p: p.stem)
def test_experiment_summary_matches_golden_record(path):
    want = list(csv.reader(io.StringIO((GOLDEN / "experiments" / f"{path.stem}.summary.csv").read_text())))
    got = list(csv.reader(io.StringIO(record.experiment_summary(path))))
    assert want[0] == got[0], "columns changed"
    assert len(want) == len(got), "number of points changed"
    for i, (w, g) in enumerate(zip(want[1:], got[1:])):
        bad = [f"{c}: {x} != {y}" for c, x, y in zip(want[0], w, g) if not _cells_equal(x, y)]
        assert not bad, f"point {i}: " + "; ".join(bad[:10])
