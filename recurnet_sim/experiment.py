"""Experiment files: a base scenario, a grid of parameters to sweep, seeded trials, metrics.

An experiment is a TOML file read like a scenario file (data, never code) and validated the same
way: every problem is reported at once, each naming the file and the key path, before any work
starts. :func:`load_experiment` returns a frozen :class:`Experiment`; :mod:`recurnet_sim.batch`
runs it.

Layout::

    [experiment]
    base = "base/hopfield_capacity.toml"    # the scenario every grid point starts from
    seed = 2024                              # base seed of every trial
    trials = 50                              # seeded trials per grid point
    group = 25                               # trials built and run together (see below)
    metrics = ["overlap", "success", "recalled_kind", "steps"]
    success_threshold = 0.9
    x = "load"                               # x axis of the plots (default: the first grid key)

    [set]                                    # fixed scenario keys (same for every point)
    "network.size" = 1000

    [grid]                                   # the sweep: the cartesian product of these
    "network.learning" = ["hebbian", "storkey", "pseudo_inverse"]
    load = { start = 0.02, stop = 0.30, step = 0.02 }

Grid values are a list, or a range table: ``{start, stop, step}`` (``stop`` included when the steps
land on it), ``{start, stop, num}`` (evenly spaced, both ends included) or ``{start, stop, num,
log = true}`` (geometric). Keys are scenario key paths (``"network.learning"``; nested TOML tables
``[grid.network]`` work too) or one of the *derived keys* that the base scenario's family declares
(:attr:`recurnet_sim.family.Family.derived_keys`, see :func:`derived_keys`), which set one or more
scenario keys from a quantity that is easier to sweep (``load`` = P/N sets ``patterns.count``).

Seeds
-----
The trials of a point run in *groups* of ``group`` trials: a group is one
:func:`~recurnet_sim.scenario.build_simulation` call, so its trials advance together on the batch
axis and share whatever the model builds once per run (with ``patterns.per_trial = false``, the
stored pattern set). Group k of point g is built with the scenario seed

    ``SeedSequence(seed, spawn_key=(2, g, k))`` -> a 63-bit integer,

and its trial j draws from ``SeedSequence(group_seed, spawn_key=(1, j))`` (see
:mod:`recurnet_sim.seeding`). Seeds therefore depend only on (base seed, point index, trial index)
and the experiment's ``group`` — never on the number of workers or on the order in which points
finish. ``results.csv`` records ``seed`` and ``seed_trial`` of every trial, so any single trial can
be replayed with ``load_scenario(base, overrides, seed=seed, trials=1, first_trial=seed_trial)``.
With ``common_seeds = true`` every point uses the group seeds of point 0 (g = 0): common random
numbers, so points differ only by the swept parameters (same pattern sets, machines, cues).
"""
from __future__ import annotations

import copy

import difflib
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import ScenarioError, ValidationError
from .family import DerivedKey, families, family_for, raw_value
from .spec import REQUIRED, Field, Table, apply_overrides, parse_override, validate

POINT_KEY = 2  # spawn_key[0] of group seeds (0 and 1 are used by recurnet_sim.seeding)


# ---------------------------------------------------------------------------------------------
# derived keys
# ---------------------------------------------------------------------------------------------
def derived_keys(network_type: str) -> dict[str, DerivedKey]:
    """The derived keys an experiment on ``network_type`` may use: those its family declares
    (:attr:`~recurnet_sim.family.Family.derived_keys`), by name."""
    return {d.name: d for d in family_for(network_type).derived_keys}


def _offered_elsewhere(key: str) -> list[str]:
    """The network types whose family declares the derived key ``key`` (for error messages)."""
    out = []
    for fam in families():
        if any(d.name == key for d in fam.derived_keys):
            out += list(fam.network_types)
    return out


#: Scenario keys an experiment owns: they cannot be set or swept.
RESERVED = {"scenario.seed": "experiment.seed", "scenario.trials": "experiment.trials and experiment.group",
            "network.type": "the base scenario (one family per experiment)"}

#: Batch runs keep no per-tick traces (metrics read the final state); [set] may turn them back on.
RECORD_OFF = {"record.energy": False, "record.flips": False, "record.overlaps": False,
              "record.temperature": False, "record.snapshot_every": 0}


# ---------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """A builtin metric: ``kind`` is "float", "int", "bool" or "category" (then ``categories``)."""

    name: str
    kind: str
    doc: str
    categories: tuple[str, ...] = ()


RECALLED_KINDS = ("target", "reversed", "other", "spurious")
STOP_REASONS = ("fixed_point", "cycle", "max_steps", "condition")

BUILTIN_METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("overlap", "float", "final overlap m with the target (the cued pattern)"),
    Metric("max_overlap", "float", "largest |m| over the stored patterns"),
    Metric("success", "bool", "retrieval: overlap >= experiment.success_threshold"),
    Metric("recalled_kind", "category", "target / reversed (the target's mirror image) / other (another stored "
           "pattern or its mirror) / spurious (no stored pattern reaches the threshold)", RECALLED_KINDS),
    Metric("steps", "int", "ticks until the trial stopped"),
    Metric("sweeps", "int", "sweeps (N unit updates) until the trial stopped"),
    Metric("stop_reason", "category", "why the trial stopped", STOP_REASONS),
    Metric("converged", "bool", "stopped on a fixed point"),
    Metric("cycle_period", "float", "period of the final cycle (empty when not a cycle)"),
    Metric("two_cycle", "bool", "ended in a cycle of period 2"),
    Metric("final_energy", "float", "energy (or loss) of the final state"),
)}


def _num(x):
    return float("nan") if x is None else x


def trial_metrics(r, names: list[str], threshold: float) -> dict[str, Any]:
    """Metric values of one :class:`~recurnet_sim.engine.Result`.

    Builtin names are computed here; any other name is read from the family's ``summary`` fields
    (``r.extra``), with ``name[k]`` picking item k of a list field (e.g. ``grad_norm_lag[5]``).
    Raises KeyError for a name the result does not have.
    """
    out: dict[str, Any] = {}
    extra = r.extra or {}
    target = extra.get("target")
    overlap = extra.get("target_overlap")
    for name in names:
        if name == "overlap":
            v = _num(overlap)
        elif name == "max_overlap":
            v = max((abs(m) for m in r.overlaps.values()), default=float("nan"))
        elif name == "success":
            v = overlap is not None and overlap >= threshold
        elif name == "recalled_kind":
            m = abs(r.overlaps.get(r.recalled, 0.0)) if r.recalled is not None else 0.0
            if r.recalled is None or m < threshold:
                v = "spurious"
            elif target is not None and r.recalled == target:
                v = "reversed" if r.recalled_reversed else "target"
            else:
                v = "other"
        elif name == "steps":
            v = r.steps
        elif name == "sweeps":
            v = r.sweeps
        elif name == "stop_reason":
            v = r.stop_reason
        elif name == "converged":
            v = bool(r.converged)
        elif name == "cycle_period":
            v = _num(r.cycle_period)
        elif name == "two_cycle":
            v = r.stop_reason == "cycle" and r.cycle_period == 2
        elif name == "final_energy":
            v = float(r.final_energy)
        else:
            v = _extra_value(extra, name)
        if isinstance(v, np.generic):
            v = v.item()
        out[name] = v
    return out


def _extra_value(extra: dict, name: str):
    base, idx = name, None
    if name.endswith("]") and "[" in name:
        base, _, rest = name.partition("[")
        try:
            idx = int(rest[:-1])
        except ValueError:
            raise KeyError(name) from None
    if base not in extra:
        raise KeyError(name)
    v = extra[base]
    if idx is not None:
        if not isinstance(v, (list, tuple, np.ndarray)) or not -len(v) <= idx < len(v):
            raise KeyError(name)
        v = v[idx]
    if v is None:
        return float("nan")
    if isinstance(v, (bool, int, float, str, np.generic)):
        return v
    raise KeyError(name)


def metric_candidates(r) -> list[str]:
    """Names a result offers: the builtins plus its scalar summary fields (list fields as ``name[k]``)."""
    names = list(BUILTIN_METRICS)
    for k, v in (r.extra or {}).items():
        if isinstance(v, (bool, int, float, str, np.generic)) or v is None:
            names.append(k)
        elif isinstance(v, (list, tuple)) and v and isinstance(v[0], (int, float)):
            names.append(f"{k}[0..{len(v) - 1}]")
    return names


# ---------------------------------------------------------------------------------------------
# the experiment table
# ---------------------------------------------------------------------------------------------
def experiment_table() -> Table:
    """The keys of an experiment file (rendered in docs/batch.md)."""
    exp = Table({
        "name": Field("str", "", "short name (defaults to the file name)"),
        "description": Field("str", "", "one line"),
        "base": Field("str", REQUIRED, "base scenario file, relative to the experiment file"),
        "seed": Field("int", 0, "base seed: every trial seed is spawned from it", min=0),
        "trials": Field("int", 20, "seeded trials per grid point", min=1, max=1_000_000),
        "group": Field("int", 10, "trials built and run together on the batch axis; they share what a model "
                       "builds once per run (e.g. the pattern set unless patterns.per_trial = true)", min=1),
        "metrics": Field("list", ["overlap", "success", "steps"], "metrics kept for every trial",
                         item=Field("str"), length=(1, None)),
        "success_threshold": Field("float", 0.9, "overlap at or above which a trial counts as a retrieval",
                                   min=-1, max=1),
        "x": Field("str", "", "grid key on the x axis of the plots (default: the first grid key)"),
        "common_seeds": Field("bool", False, "every point uses the seeds of point 0 (common random numbers: "
                              "the same pattern sets, machines and cues across the grid)"),
        "references": Field("table", None, "metric = reference metric: the plot of the metric also shows the "
                            "reference as a dashed line (e.g. a sampled mean against its exact value)",
                            table=Table({}, "Plot references.", open=True)),
        "markers": Field("table", None, "metric = marker metric: the plot of the metric also marks the mean of "
                         "the marker metric, a value on the x axis, as a vertical dotted line per plotted line "
                         "(e.g. a predicted capacity); trials where it is empty (NaN) draw none",
                         table=Table({}, "Plot markers.", open=True)),
        "labels": Field("table", None, "grid key or metric = the name its plot axes and legends use (e.g. "
                        "\"dynamics.schedule\" = \"update schedule\"); default: a derived key's own label, else "
                        "the key's last part in words", table=Table({}, "Plot labels.", open=True)),
    }, "What to run.")
    return Table({
        "experiment": Field("table", None, "what to run", table=exp),
        "set": Field("table", None, "fixed scenario keys", table=Table({}, "Fixed scenario keys.", open=True)),
        "grid": Field("table", None, "the sweep", table=Table({}, "Swept keys.", open=True)),
    }, "An experiment file.")


@dataclass(frozen=True)
class Experiment:
    """A validated experiment.

    Attributes
    ----------
    path : Path | None
    name : str
    family : str
    base_path : Path
    base_data : dict
        The raw base scenario.
    seed, trials, group : int
    metrics : list of str
    success_threshold : float
    fixed : dict
        Fixed scenario keys (dotted path -> value), derived keys included.
    grid : dict
        Swept key -> list of values, in file order.
    x : str
        Grid key on the x axis of the plots.
    points : GridPoints
        Grid values of every point (key -> value), in point-index order: a sequence computed from
        the index, never listed (``len(exp.points)`` is the grid size).
    scenarios : GridScenarios
        The validated scenario of every point, built when indexed.
    spec_hash : str
        Hash of everything that determines the results (used by ``--resume``).
    file_hash : str
        sha256 of the experiment file.
    """

    path: Path | None
    name: str
    description: str
    family: str
    base_path: Path
    base_data: dict
    seed: int
    trials: int
    group: int
    metrics: list
    success_threshold: float
    fixed: dict
    grid: dict
    x: str
    points: list
    scenarios: list = field(repr=False)
    spec_hash: str = ""
    file_hash: str = ""
    common_seeds: bool = False
    references: dict = field(default_factory=dict)
    markers: dict = field(default_factory=dict)
    #: grid key or metric -> its name on plot axes and legends (``experiment.labels``)
    labels: dict = field(default_factory=dict)

    def seed_point(self, i: int) -> int:
        """Point whose seeds point ``i`` uses: ``i``, or 0 with ``common_seeds``."""
        return 0 if self.common_seeds else i

    @property
    def grid_keys(self) -> list[str]:
        return list(self.grid)

    def point_label(self, i: int) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self.points[i].items())

    def group_seed(self, point: int, group: int) -> int:
        """Scenario seed of group ``group`` of point ``point`` (a 63-bit integer)."""
        return group_seed(self.seed, self.seed_point(point), group)


def group_seed(base_seed: int, point: int, group: int) -> int:
    """``SeedSequence(base_seed, spawn_key=(2, point, group))`` as a 63-bit scenario seed."""
    ss = np.random.SeedSequence(base_seed, spawn_key=(POINT_KEY, point, group))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _flatten(d: dict, prefix: str = "") -> dict:
    """``{"network": {"size": [..]}}`` -> ``{"network.size": [..]}``; range tables stay whole."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and "start" not in v and "stop" not in v:
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def expand_values(spec, path: str, source: str) -> list:
    """A grid entry (list or range table) -> the list of values."""
    if isinstance(spec, list):
        if not spec:
            raise ValidationError(path, "is an empty list: give at least one value", source)
        for i, v in enumerate(spec):
            if isinstance(v, (dict, list)):
                raise ValidationError(f"{path}[{i}]", f"must be a number, a string or true/false, got {v!r}", source)
        return list(spec)
    if isinstance(spec, dict):
        allowed = {"start", "stop", "step", "num", "log"}
        unknown = [k for k in spec if k not in allowed]
        if unknown:
            hint = difflib.get_close_matches(unknown[0], sorted(allowed), n=1)
            extra = f" (did you mean {hint[0]!r}?)" if hint else f"; allowed keys: {', '.join(sorted(allowed))}"
            raise ValidationError(f"{path}.{unknown[0]}", "unknown key" + extra, source)
        for k in ("start", "stop"):
            if k not in spec:
                raise ValidationError(f"{path}.{k}", "is required in a range table {start, stop, step | num}", source)
            if isinstance(spec[k], bool) or not isinstance(spec[k], (int, float)):
                raise ValidationError(f"{path}.{k}", f"must be a number, got {spec[k]!r}", source)
        start, stop = spec["start"], spec["stop"]
        log = spec.get("log", False)
        if not isinstance(log, bool):
            raise ValidationError(f"{path}.log", f"must be true or false, got {log!r}", source)
        if ("step" in spec) == ("num" in spec):
            raise ValidationError(path, "a range table needs exactly one of step or num", source)
        if "num" in spec:
            num = spec["num"]
            if isinstance(num, bool) or not isinstance(num, int) or num < 1:
                raise ValidationError(f"{path}.num", f"must be an integer >= 1, got {num!r}", source)
            if log:
                if start <= 0 or stop <= 0:
                    raise ValidationError(path, "a log range needs start > 0 and stop > 0", source)
                vals = np.geomspace(start, stop, num)
            else:
                vals = np.linspace(start, stop, num)
            ints = isinstance(start, int) and isinstance(stop, int) and not log and \
                all(float(v).is_integer() for v in vals)
        else:
            if log:
                raise ValidationError(f"{path}.log", "log ranges take num, not step", source)
            step = spec["step"]
            if isinstance(step, bool) or not isinstance(step, (int, float)) or step == 0 or \
                    (stop - start) * step < 0:
                raise ValidationError(f"{path}.step", f"must be a non-zero number going from start towards stop, "
                                      f"got {step!r}", source)
            try:  # 2**63 and beyond overflow numpy's integers: a key error, not a traceback
                n = int(math.floor((stop - start) / step + 1e-9)) + 1
                if n > 100_000:
                    raise ValidationError(path, f"gives {n} values (at most 100000)", source)
                vals = start + step * np.arange(n)
            except (OverflowError, ValueError) as exc:
                if isinstance(exc, ValidationError):
                    raise
                raise ValidationError(path, f"start, stop and step must be numbers within 64-bit range "
                                      f"({type(exc).__name__}: {exc})", source) from None
            ints = all(isinstance(v, int) for v in (start, stop, step))
        if ints:
            return [int(round(v)) for v in vals]
        # 0.1 * 3 = 0.30000000000000004: keep the values a person would write
        return [float(f"{v:.12g}") for v in vals]
    raise ValidationError(path, f"must be a list of values or a range table {{start, stop, step | num}}, "
                          f"got {spec!r}", source)


def _scenario_key_check(key: str, family: str) -> str | None:
    """None when ``key`` is a scenario key path of network type ``family``, else the error message."""
    from .scenario import scenario_table

    table = scenario_table(family)
    derived = derived_keys(family)
    parts = key.split(".")
    for i, p in enumerate(parts):
        if p not in table.fields:
            if table.open:
                return None
            hint = difflib.get_close_matches(p, list(table.fields), n=1, cutoff=0.6)
            if i == 0:
                cands = difflib.get_close_matches(key, list(derived), n=1, cutoff=0.6)
                hint = hint or cands
            where = ".".join(parts[:i]) or "a scenario"
            msg = f"unknown key: {where} has no key {p!r}"
            if hint:
                msg += f" (did you mean {'.'.join(parts[:i] + [hint[0]]) if hint[0] not in derived else hint[0]!r}?)"
            elif i == 0:
                msg += f"; scenario tables: {', '.join(table.fields)}"
                if derived:
                    msg += f"; derived keys: {', '.join(derived)}"
            return msg
        f = table.fields[p]
        if i < len(parts) - 1:
            if f.kind != "table" or f.table is None:
                return f"{'.'.join(parts[: i + 1])} is not a table"
            table = f.table
        elif f.kind == "table" and f.table is not None and f.table.fields:
            return f"{key} is a table: sweep one of its keys ({', '.join(f.table.fields)})"
    return None


def point_data(base: dict, fixed: dict, values: dict) -> dict:
    """Raw scenario mapping of a point: base <- record defaults <- [set] <- grid values <- derived keys.

    Derived keys are those of the base scenario's network type (``network.type`` is reserved: no
    point changes it)."""
    data = copy.deepcopy(base)
    keys = derived_keys(raw_value(base, "network.type"))
    derived = []
    for layer in (RECORD_OFF, fixed, values):
        for k, v in layer.items():
            if k in keys:
                derived.append((k, v))
            else:
                apply_overrides(data, {k: v})
    for k, v in derived:
        try:
            sets = keys[k].apply(data, v)
        except ValidationError as exc:
            raise ScenarioError([ValidationError(k, exc.message)]) from None
        apply_overrides(data, sets)
    return data


#: grids of at most this many points are validated point by point; larger ones on a sample this big
FULL_CHECK = 256


def sample_indices(n: int, k: int) -> list[int]:
    """Every index of ``range(n)`` when ``n <= k``, else ``k`` evenly spaced ones (first and last included)."""
    if n <= k:
        return list(range(n))
    return sorted({round(j * (n - 1) / (k - 1)) for j in range(k)})


class GridPoints(Sequence):
    """The points of a grid (key -> value dicts) in cartesian-product order, first key slowest.

    Point ``i`` is computed from its index in O(number of keys) (mixed radix: digit ``d_k`` of key
    ``k`` is ``(i // stride_k) % len(values_k)``, ``stride`` of the last key 1), so nothing is
    listed and ``len`` of a 10^7-point grid is free.
    """

    def __init__(self, grid: dict[str, list]):
        self.keys = list(grid)
        self.values = [list(grid[k]) for k in self.keys]
        self.strides = []
        n = 1
        for vs in reversed(self.values):
            self.strides.append(n)
            n *= len(vs)
        self.strides.reverse()
        self._n = n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self._n))]
        i = int(i)
        if i < 0:
            i += self._n
        if not 0 <= i < self._n:
            raise IndexError(f"grid point {i} out of range (the grid has {self._n} points)")
        return {k: vs[(i // st) % len(vs)] for k, vs, st in zip(self.keys, self.values, self.strides)}

    def label(self, i: int) -> str:
        return ", ".join(f"{k}={_fmt(v)}" for k, v in self[i].items())

    def __repr__(self) -> str:
        return f"GridPoints({len(self)} points over {', '.join(self.keys)})"


class GridScenarios(Sequence):
    """The validated :class:`~recurnet_sim.scenario.Scenario` of every grid point, built on demand
    from the base scenario, the fixed keys and the point's values (:func:`point_data`)."""

    def __init__(self, base_path: Path, base_data: dict, fixed: dict, points: GridPoints):
        self.base_path = Path(base_path)
        self.base_data = base_data
        self.fixed = fixed
        self.points = points

    def __len__(self) -> int:
        return len(self.points)

    def parse(self, i: int):
        """The scenario of point ``i``; raises ScenarioError when it is not valid."""
        from .scenario import Scenario, parse_scenario

        sc = parse_scenario(point_data(self.base_data, self.fixed, self.points[i]), self.base_path.name,
                            self.base_path)
        return Scenario(self.base_path, sc.network_type, sc.config)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self.parse(j) for j in range(*i.indices(len(self)))]
        return self.parse(i)

    def __repr__(self) -> str:
        return f"GridScenarios({len(self)} points of {self.base_path.name})"


def load_experiment(path: str | Path, overrides=None) -> Experiment:
    """Read and validate an experiment file, its base scenario and every grid point.

    Parameters
    ----------
    path : experiment TOML file
    overrides : list of "key.path=value" strings (``recurnet batch --set``)
        ``experiment.*``, ``grid.*`` and ``set.*`` address the experiment file
        (``grid.load=[0.05, 0.1]``); any other key is a scenario key fixed for every point
        (``network.size=200`` is the same as ``set."network.size"=200``).

    Raises
    ------
    ScenarioError
        Listing every problem, each as ``file: key.path: message``.
    """
    from .scenario import read_toml

    path = Path(path)
    from .reader import read_input
    from .scenario import MAX_SCENARIO_BYTES

    raw = read_toml(path)  # a regular file, nested at most MAX_NESTING deep (deepcopy below is safe)
    file_hash = hashlib.sha256(read_input(path, max_bytes=MAX_SCENARIO_BYTES)).hexdigest()
    return parse_experiment(raw, path.name, path, overrides, file_hash)


def parse_experiment(raw: dict, source: str = "experiment", path: Path | None = None, overrides=None,
                     file_hash: str = "") -> Experiment:
    """Validate a parsed experiment mapping (see :func:`load_experiment`)."""
    from .scenario import parse_scenario, read_toml

    raw = copy.deepcopy(raw)
    errors: list[ValidationError] = []
    grid_raw = raw.get("grid", {})
    set_raw = raw.get("set", {})
    for name, tab in (("grid", grid_raw), ("set", set_raw)):
        if not isinstance(tab, dict):
            raise ScenarioError([ValidationError(name, f"must be a table, got {tab!r}", source)], source)
    grid_flat = _flatten(grid_raw)
    set_flat = _flatten(set_raw)
    # --set overrides
    for text in overrides or []:
        keys, value = parse_override(text) if isinstance(text, str) else (str(text[0]).split("."), text[1])
        if keys[0] in ("grid", "set") and len(keys) > 1:
            (grid_flat if keys[0] == "grid" else set_flat)[".".join(keys[1:])] = value
        elif keys[0] == "experiment":
            apply_overrides(raw, {".".join(keys): value})
        else:
            k = ".".join(keys)
            if k in grid_flat:
                raise ScenarioError([ValidationError(k, f"is swept in [grid]; to change its values use "
                                                     f"--set grid.{k}=[...]", "--set")], source)
            set_flat[k] = value
    raw["grid"], raw["set"] = {}, {}
    cfg = validate({k: v for k, v in raw.items()}, experiment_table(), "", None, source)
    ex = cfg["experiment"]
    base_dir = path.parent if path is not None else Path.cwd()
    base_path = Path(ex["base"])
    if not base_path.is_absolute():
        base_path = base_dir / base_path
    try:
        found = base_path.exists()
    except (OSError, ValueError):  # a name too long, a NUL byte: read_toml below says which
        found = True
    if not found:
        raise ScenarioError([ValidationError("experiment.base", f"file not found: {base_path}", source)], source)
    try:
        base_data = read_toml(base_path)
    except ScenarioError as exc:  # a FIFO, a device, a file too deep...: say which key named it
        raise ScenarioError([ValidationError("experiment.base", str(exc), source)], source) from None
    base_src = base_path.name
    base_sc = parse_scenario(base_data, base_src, base_path)  # the base itself must be valid
    from .scenario import out_of_range_int

    for table, flat in (("set", set_flat), ("grid", grid_flat)):
        bad = out_of_range_int(flat, table)
        if bad is not None:  # numpy would overflow in a worker, far from the key
            raise ScenarioError([ValidationError(bad, "integer outside the 64-bit range (-2**63 .. 2**63 - 1)",
                                                 source)], source)
    family = base_sc.network_type
    derived = derived_keys(family)

    # keys of [set] and [grid]
    def check_key(table: str, k: str) -> bool:
        p = f"{table}.{k}"
        if k in RESERVED:
            errors.append(ValidationError(p, f"cannot be {'swept' if table == 'grid' else 'set'}: it is given by "
                                          f"{RESERVED[k]}", source))
            return False
        if k in derived:
            return True
        others = _offered_elsewhere(k)
        if others:
            errors.append(ValidationError(p, f"derived key {k!r} is for {', '.join(others)} networks, "
                                          f"the base scenario is {family}", source))
            return False
        msg = _scenario_key_check(k, family)
        if msg:
            errors.append(ValidationError(p, msg, source))
            return False
        return True

    for k in set_flat:
        check_key("set", k)
    if not grid_flat:
        errors.append(ValidationError("grid", 'is empty: sweep at least one key, e.g. "network.size" = [100, 200] '
                                      '(a single point: a list of one value)', source))
    grid: dict[str, list] = {}
    for k, spec in grid_flat.items():
        if not check_key("grid", k):
            continue
        try:
            vals = expand_values(spec, f"grid.{k}", source)
        except ValidationError as exc:
            errors.append(exc)
            continue
        if k in derived:
            for i, v in enumerate(vals):
                e2: list[ValidationError] = []
                from .spec import check_value
                check_value(v, derived[k].value, f"grid.{k}[{i}]", e2, source)
                errors.extend(e2)
        grid[k] = vals
    # a derived key and a key it sets cannot both be given
    given = set(grid) | set(set_flat)
    for k in given & set(derived):
        for s in derived[k].sets:
            if s in given:
                errors.append(ValidationError(f"grid.{s}" if s in grid else f"set.{s}",
                                              f"is set by the derived key {k!r}; give one of them", source))
    for k in set(grid) & set(set_flat):
        errors.append(ValidationError(f"set.{k}", "is also swept in [grid]", source))
    x = ex["x"] or (next(iter(grid)) if grid else "")
    if ex["x"] and ex["x"] not in grid_flat:
        hint = difflib.get_close_matches(ex["x"], list(grid_flat), n=1)
        errors.append(ValidationError("experiment.x", f"must be one of the grid keys ({', '.join(grid_flat)}), got "
                                      f"{ex['x']!r}" + (f" (did you mean {hint[0]!r}?)" if hint else ""), source))
    if errors:
        raise ScenarioError(errors, source)

    # the fixed keys, then every value of every swept key (other swept keys at their first value),
    # each error naming the key that caused it; then every point (cross-key constraints)
    first = {k: vs[0] for k, vs in grid.items()}
    checks = [("set", k, None, v) for k, v in set_flat.items()]
    checks += [("grid", k, i, v) for k, vs in grid.items() for i, v in enumerate(vs)]
    for table, k, i, v in checks:
        owned = {k, *(derived[k].sets if k in derived else ())}
        where = f"{table}.{k}" + (f"[{i}]" if i is not None else "")
        pt = dict(first)
        if table == "grid":
            pt[k] = v
        try:
            parse_scenario(point_data(base_data, set_flat, pt), base_src, base_path)
        except ScenarioError as exc:
            for e in exc.errors:
                if e.path in owned or any(e.path.startswith(o + ".") or e.path.startswith(o + "[") for o in owned):
                    shown = f"{e.path}: " if e.path != k else ""
                    val = "" if "got " in e.message else f" (value {v!r})"
                    errors.append(ValidationError(where, f"{shown}{e.message}{val}", source))
    if errors:
        raise ScenarioError(_dedupe(errors), source)
    # Points are never listed: point i is computed from its index (mixed radix over the grid keys),
    # so a grid of 10^6 points costs nothing until it runs. Every value of every key was checked
    # above; the cross-key constraints are checked on every point of a small grid and on an even
    # sample of a large one (a point outside the sample that fails stops the run at that point).
    points = GridPoints(grid)
    scenarios = GridScenarios(base_path, base_data, set_flat, points)
    for i in sample_indices(len(points), FULL_CHECK):
        try:
            scenarios.parse(i)
        except ScenarioError as exc:
            label = points.label(i)
            errors.extend(ValidationError("grid", f"point {i} ({label}): {e.path + ': ' if e.path else ''}{e.message}",
                                          source) for e in exc.errors)
    if errors:
        raise ScenarioError(_dedupe(errors)[:20], source)
    metrics = list(ex["metrics"])
    dup = [m for m in set(metrics) if metrics.count(m) > 1]
    if dup:
        raise ScenarioError([ValidationError("experiment.metrics", f"lists {dup[0]!r} twice", source)], source)
    refs = dict(ex["references"] or {})
    marks = dict(ex["markers"] or {})
    for key, table in (("references", refs), ("markers", marks)):
        bad = [(m, val) for m, r in table.items() for val in (m, r) if not isinstance(val, str) or val not in metrics]
        if bad:
            m, val = bad[0]
            raise ScenarioError([ValidationError(f"experiment.{key}.{m}", "must pair two metrics listed in "
                                                 f"experiment.metrics ({', '.join(metrics)}); {val!r} is not one",
                                                 source)], source)
    labels = dict(ex["labels"] or {})
    named = set(grid) | set(metrics)
    for k, v in labels.items():
        if k not in named or not isinstance(v, str) or not v.strip():
            why = (f"must be a grid key or a metric ({', '.join(sorted(named))})" if k not in named
                   else "must be a non-empty string")
            raise ScenarioError([ValidationError(f"experiment.labels.{k}", why, source)], source)
    name = ex["name"] or (path.stem if path is not None else "experiment")
    spec = {"family": family, "base": base_data, "seed": ex["seed"], "trials": ex["trials"], "group": ex["group"],
            "metrics": metrics, "success_threshold": ex["success_threshold"], "set": set_flat, "grid": grid,
            "common_seeds": ex["common_seeds"]}
    spec_hash = hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()
    return Experiment(path, name, ex["description"], family, base_path, base_data, ex["seed"], ex["trials"],
                      ex["group"], metrics, ex["success_threshold"], set_flat, grid, x, points, scenarios,
                      spec_hash, file_hash, ex["common_seeds"], refs, marks, labels)


def _dedupe(errors: list[ValidationError]) -> list[ValidationError]:
    seen, out = set(), []
    for e in errors:
        key = e.format()
        if key not in seen:
            seen.add(key)
            out.append(e)
    return out
