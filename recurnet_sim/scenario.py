"""Scenario files: describe -> validate -> build -> (train) -> simulate.

A scenario is a TOML file. :func:`load_scenario` reads it (``tomllib``: data, never code),
applies ``--set`` overrides, validates every key against the family's tables (all problems are
reported at once, each naming the file and the key path), builds the model and returns a ready
:class:`~recurnet_sim.engine.Simulation`.

Common tables (every family): ``[scenario]``, ``[stop]``, ``[record]``, ``[[perturb]]``, ``[view]``.
Family tables (``[network]``, ``[patterns]``, ``[initial]``, ``[dynamics]``, ``[training]``...) come
from the declaration of the family that builds ``network.type``
(:class:`recurnet_sim.family.Family`: ``tables``, ``build``, ``summary``, ``record_attributes``).
"""
from __future__ import annotations

import copy
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import seeding
from .engine import Simulation, StopConditions
from .errors import RecurnetError, ScenarioError, ValidationError
from .family import Family, family_for, network_types
from .perturbations import ACTIONS, from_config as perturbation_from_config
from .recorders import AttributeRecorder, default_recorders
from .spec import REQUIRED, Field, Table, apply_overrides, validate, with_common_dynamics


def common_tables() -> dict[str, Field]:
    """The tables every scenario may have, whatever the family."""
    scenario = Table({
        "name": Field("str", "", "short name (defaults to the file name)"),
        "description": Field("str", "", "one line shown by `recurnet list`"),
        "seed": Field("int", 0, "seed of every random draw of the run", min=0),
        "trials": Field("int", 1, "independent trials run together on the batch axis", min=1, max=100000),
    }, "What the scenario is.")
    stop = Table({
        "max_steps": Field("int", 100, "stop after this many ticks (sweeps)", min=1, max=10**9),
        "fixed_point": Field("bool", True, "stop when a whole deterministic sweep changes no unit"),
        "cycle": Field("bool", True, "stop when a deterministic run revisits a state (reports the period)"),
        "cycle_memory": Field("int", 32, "past states always kept for cycle detection; every state since the last "
                              "perturbation is kept up to a 256 MiB cap, so any period up to max_steps is found",
                              min=2),
        "min_steps": Field("int", 0, "no fixed-point/cycle/condition stop before this tick", min=0),
        "overlap_at_least": Field("float", None, "user condition: stop when the largest |overlap| reaches this",
                                  min=-1, max=1, nullable=True),
        "energy_below": Field("float", None, "user condition: stop when the energy (or loss) falls below this",
                              nullable=True),
    }, "When a trial stops. Each trial of a batch stops on its own.")
    record = Table({
        "energy": Field("bool", True, "energy (or loss) per tick"),
        "flips": Field("bool", True, "units changed per tick"),
        "overlaps": Field("bool", True, "overlap with every stored pattern per tick"),
        "temperature": Field("bool", True, "temperature per tick"),
        "snapshot_every": Field("int", 0, "keep the whole state every k ticks (0 = never)", min=0),
        "attributes": Field("list", [], "extra model attributes to record each tick (e.g. grad_norm_max_), on top "
                            "of those the family always records (its record_attributes)", item=Field("str")),
    }, "What the recorders keep (saved with `--trace out.npz`).")
    perturb = Table({
        "at": Field("int", REQUIRED, "tick at which to apply it (0 = before the first update)", min=0),
        "action": Field("str", REQUIRED, "what to do", choices=ACTIONS),
        "units": Field("list", None, "unit indices", item=Field("int", min=0), nullable=True),
        "rows": Field("list", None, "[first, end) grid rows of a region", item=Field("int", min=0), length=2, nullable=True),
        "cols": Field("list", None, "[first, end) grid columns of a region", item=Field("int", min=0), length=2, nullable=True),
        "fraction": Field("float", 0.1, "flip_fraction/noise: fraction of units (or noise sigma)", min=0, max=1),
        "value": Field("float", -1.0, "set_region: value written"),
        "temperature": Field("float", 0.0, "set_temperature: new T", min=0),
        "pattern": Field("str", "", "load_pattern: name (or 1-based index) of the stored pattern",
                         alt=(Field("int", min=1),)),
        "noise": Field("float", 0.0, "load_pattern: fraction of units flipped after loading", min=0, max=1),
    }, "A perturbation scheduled at a tick.")
    perturb.extra_check = _check_perturb
    view = Table({
        "steps_per_frame": Field("float", None, "simulation ticks per drawn frame at start (below 1: one tick every "
                                 "1/x frames, to watch a fast recall; default: about 4 ticks a second, and a "
                                 "training phase in about 8 seconds)", min=1 / 64, max=1000, nullable=True),
        "fps": Field("int", 60, "frame-rate cap", min=1, max=500),
        "cell": Field("int", 0, "pixels per unit (0 = fit the window)", min=0),
        "width": Field("int", 1100, "window width", min=320),
        "height": Field("int", 720, "window height", min=240),
        "paused": Field("bool", False, "start paused"),
        "noise": Field("float", 0.1, "fraction flipped by the X key", min=0, max=1),
        "title": Field("str", "", "window title (default: the scenario name)"),
        "lesson": Field("bool", True, "lesson mode: open paused on the initial state (the cue, tick 0) with the "
                        "point and what-to-watch captions on screen; Space starts, R returns there"),
        "point": Field("str", "", "lesson mode: the scenario's point in one line (default: its description)"),
        "watch": Field("str", "", "lesson mode: what to watch on screen while it runs"),
        "theme": Field("str", "dark", "colour theme: dark, or contrast (high contrast for projectors; key V)",
                       choices=("dark", "contrast")),
    }, "How the live viewer shows the run (ignored headless).", open=True)
    return {
        "scenario": Field("table", None, "what the scenario is", table=scenario),
        "stop": Field("table", None, "stop conditions", table=stop),
        "record": Field("table", None, "recorders", table=record),
        "perturb": Field("list", [], "perturbations scheduled at ticks", item=Field("table", table=perturb)),
        "view": Field("table", None, "viewer settings", table=view),
    }


def _check_perturb(entry: dict, path: str) -> list[ValidationError]:
    a = entry["action"]
    errs = []
    if a == "flip" and not entry.get("units"):
        errs.append(ValidationError(f"{path}.units", "is required for action 'flip' (a list of unit indices)"))
    if a == "set_region" and entry.get("units") is None and entry.get("rows") is None and entry.get("cols") is None:
        errs.append(ValidationError(path, "set_region needs units, rows or cols"))
    if a == "load_pattern" and entry.get("pattern") in ("", None):
        errs.append(ValidationError(f"{path}.pattern", "is required for action 'load_pattern' (a pattern name or 1-based index)"))
    return errs


def scenario_table(network_type: str) -> Table:
    """The full table of the scenario files of a network type."""
    fields = dict(common_tables())
    fields.update(with_common_dynamics(family_for(network_type).tables(network_type)))
    return Table(fields, f"A {network_type} scenario.")


@dataclass
class Scenario:
    """A validated scenario: the config dict plus where it came from."""

    path: Path | None
    network_type: str
    config: dict

    @property
    def family(self) -> Family:
        """The declaration of the family that builds this scenario's network type."""
        return family_for(self.network_type)

    @property
    def name(self) -> str:
        return self.config["scenario"]["name"] or (self.path.stem if self.path else "scenario")

    @property
    def seed(self) -> int:
        return self.config["scenario"]["seed"]


#: Deepest nesting of tables/arrays accepted in a scenario or experiment file: far above any real
#: file, far below Python's recursion limit (tomllib and copy.deepcopy recurse once per level).
MAX_NESTING = 64
#: Largest scenario or experiment file read.
MAX_SCENARIO_BYTES = 4 * 2**20


def nesting_depth(value, limit: int = MAX_NESTING) -> int:
    """Depth of nested dicts/lists in ``value`` (0 for a scalar), counted without recursion and
    stopping once it exceeds ``limit``."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            v = list(v.values())
        elif not isinstance(v, list):
            continue
        d += 1
        deepest = max(deepest, d)
        if deepest > limit:
            return deepest
        stack.extend((x, d) for x in v)
    return deepest


#: parsed TOML files of this process: (path, file identity) -> mapping (handed out as deep copies)
_TOML_CACHE: dict[tuple, dict] = {}
_TOML_CACHE_MAX = 256


def read_toml(path: str | Path) -> dict:
    """Read a TOML file; any problem becomes a ScenarioError naming the file.

    A file parsed once in this process is not parsed again while its identity (inode, size,
    modification and change times) is the same; each call gets its own copy.

    The file must be a regular file of at most :data:`MAX_SCENARIO_BYTES` (see
    :func:`recurnet_sim.reader.read_input`: a FIFO or a device is refused, never opened for ever),
    nested at most :data:`MAX_NESTING` deep (deeper input would exhaust the recursion of tomllib
    and of ``copy.deepcopy``)."""
    from .errors import short_path
    from .patterns import _cached_parse

    path = Path(path)
    try:
        src = path.name
    except Exception:  # noqa: BLE001 - a name is always printable; keep the message going
        src = str(path)
    if len(src) > 120:
        src = short_path(src)
    data, hit = _cached_parse(_TOML_CACHE, _TOML_CACHE_MAX, path, (), lambda: _parse_toml(path, src), copy.deepcopy)
    return copy.deepcopy(data) if hit else data


def _parse_toml(path: Path, src: str) -> dict:
    from .errors import InputError, short_path
    from .reader import read_input

    try:
        raw = read_input(path, max_bytes=MAX_SCENARIO_BYTES)
    except InputError as exc:
        raise ScenarioError(exc.problem if exc.problem != "no such file" else f"no such file: {short_path(path)}",
                            src) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ScenarioError("not a text file (not valid UTF-8)", src) from None
    too_deep = f"tables or arrays nested more than {MAX_NESTING} deep; refused"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"not valid TOML: {exc}", src) from None
    except RecursionError:
        raise ScenarioError(too_deep, src) from None
    if nesting_depth(data) > MAX_NESTING:  # e.g. [a.b.c...] headers: flat text, deep tables
        raise ScenarioError(too_deep, src)
    return data


def out_of_range_int(value, prefix: str = "") -> str | None:
    """Dotted path of the first integer outside int64 in a parsed mapping, else None."""
    stack = [(prefix, value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, dict):
            stack.extend((f"{path}.{k}" if path else str(k), x) for k, x in v.items())
        elif isinstance(v, list):
            stack.extend((f"{path}[{i}]", x) for i, x in enumerate(v))
        elif isinstance(v, int) and not isinstance(v, bool) and not -2**63 <= v < 2**63:
            return path
    return None


def parse_scenario(data: dict, source: str = "scenario", path: Path | None = None,
                   overrides=None) -> Scenario:
    """Validate a parsed scenario mapping (plus overrides) into a :class:`Scenario`."""
    data = apply_overrides(copy.deepcopy(data), overrides)
    net = data.get("network")
    types = network_types()
    if not isinstance(net, dict):
        raise ScenarioError([ValidationError("network", "is required: a table with at least `type` "
                                             f"(one of {', '.join(map(repr, types))})", source)], source)
    kind = net.get("type")
    if not isinstance(kind, str) or kind not in types:
        import difflib
        hint = difflib.get_close_matches(kind, types, n=1) if isinstance(kind, str) else []
        extra = f" (did you mean {hint[0]!r}?)" if hint else ""
        got = "nothing" if kind is None else ("a table" if isinstance(kind, dict) else repr(kind))
        raise ScenarioError([ValidationError("network.type", f"must be one of {', '.join(map(repr, types))}, got {got}{extra}",
                                             source)], source)
    try:
        table = scenario_table(kind)
    except ImportError:
        raise ScenarioError([ValidationError("network.type", f"the {kind!r} network is not available in this installation",
                                             source)], source) from None
    cfg = validate(data, table, "", None, source)
    # TOML 1.0 allows only 64-bit integers, tomllib accepts any, and numpy would fail on one far
    # from its key (OverflowError); keys with limits already said "must be in [a, b]"
    bad = out_of_range_int(cfg)
    if bad is not None:
        raise ScenarioError([ValidationError(bad, "integer outside the 64-bit range TOML allows "
                                             "(-2**63 .. 2**63 - 1)", source)], source)
    return Scenario(path, kind, cfg)


def load(path: str | Path, overrides=None) -> Scenario:
    """Read and validate a scenario file (no model is built)."""
    path = Path(path)
    return parse_scenario(read_toml(path), path.name, path, overrides)


def build_simulation(sc: Scenario, seed: int | None = None, trials: int | None = None, first_trial: int = 0,
                     max_steps: int | None = None, base_dir: Path | None = None, train: bool = True) -> Simulation:
    """Build the model and the engine of a validated scenario.

    Building is pure (the family's ``build``: no training, no file written, nothing printed).
    Unless ``train`` is false, the family's ``train`` then gives the learning to do before tick
    0 as a :class:`~recurnet_sim.family.TrainingRun`, which the engine drives (lazily: nothing is
    learned until the simulation trains, steps or runs). It draws from the *same* build generator
    that build used, so the shared random stream continues exactly where build left it.

    Parameters
    ----------
    train : bool
        False: no training at all (``recurnet validate``; ``sim.training`` is None).
    """
    cfg = sc.config
    seed = sc.seed if seed is None else int(seed)
    B = cfg["scenario"]["trials"] if trials is None else int(trials)
    base_dir = base_dir or (sc.path.parent if sc.path else Path.cwd())
    family = sc.family
    rngs = seeding.trial_rngs(seed, B, first_trial)
    source = sc.path.name if sc.path else "scenario"
    build_rng = seeding.build_rng(seed)
    try:
        model = family.build(cfg, B, rngs, base_dir, build_rng=build_rng, first_trial=first_trial)
        training = family.train(model, cfg, build_rng, base_dir) if train and family.train is not None else None
    except ScenarioError as exc:
        for e in exc.errors:
            e.source = e.source or source
        raise ScenarioError(exc.errors, source) from None
    except ValidationError as exc:
        exc.source = exc.source or source
        raise ScenarioError([exc], source) from None
    st, rec = cfg["stop"], cfg["record"]
    cond = _user_condition(st)
    if max_steps is not None and int(max_steps) < 1:
        raise ScenarioError([ValidationError("stop.max_steps", f"must be an integer >= 1, got {max_steps}",
                                             sc.path.name if sc.path else "scenario")],
                            sc.path.name if sc.path else "scenario")
    stop = StopConditions(max_steps=st["max_steps"] if max_steps is None else int(max_steps), fixed_point=st["fixed_point"], cycle=st["cycle"],
                          cycle_memory=st["cycle_memory"], min_steps=st["min_steps"], condition=cond)
    recorders = default_recorders(rec["energy"], rec["flips"], rec["overlaps"], rec["temperature"], rec["snapshot_every"])
    # A family may name attributes it always records (Elman/Jordan: the loss at every time step
    # of the epoch, the gradient norm), on top of the scenario's own list.
    attributes = list(dict.fromkeys([*family.record_attributes, *rec["attributes"]]))
    recorders += [AttributeRecorder(a) for a in attributes]
    perturbations = [perturbation_from_config(p) for p in cfg["perturb"]]
    anneal = None
    dyn = cfg.get("dynamics") or {}
    if isinstance(dyn, dict) and dyn.get("anneal"):
        from .anneal import AnnealSchedule
        anneal = AnnealSchedule.from_config(dyn["anneal"])
    return Simulation(model, rngs, stop, recorders, perturbations, anneal, name=sc.name, seed=seed,
                      first_trial=first_trial, info={"view": cfg["view"], "path": str(sc.path or ""),
                                                  "description": cfg["scenario"]["description"]},
                      family=family, training=training)


def declared_outputs(sc: Scenario, model, base_dir: Path | None = None) -> list:
    """The files a scenario's training would write (``training.save``...), without training.

    ``Family.train`` is lazy — it only describes the training, and nothing is learned, drawn or
    written before its first tick — so ``recurnet validate`` can read the declared outputs of a
    model it built with ``train=False`` and check them (``check_target``), then drop the training.
    """
    family = sc.family
    if family.train is None:
        return []
    base_dir = base_dir or (sc.path.parent if sc.path else Path.cwd())
    try:
        run = family.train(model, sc.config, seeding.build_rng(sc.seed), base_dir)
    except ValidationError as exc:
        source = sc.path.name if sc.path else "scenario"
        exc.source = exc.source or source
        raise ScenarioError([exc], source) from None
    if run is None:
        return []
    close = getattr(run.ticks, "close", None)  # a generator that never started: nothing ran
    if close is not None:
        close()
    return list(run.outputs)


def _user_condition(st: dict):
    conds = []
    if st["overlap_at_least"] is not None:
        thr = st["overlap_at_least"]
        conds.append(lambda sim: (np.abs(sim.model.overlaps()).max(axis=1, initial=0.0) >= thr))
    if st["energy_below"] is not None:
        thr_e = st["energy_below"]
        conds.append(lambda sim: sim.model.energy() < thr_e)
    if not conds:
        return None
    return lambda sim: np.logical_or.reduce([c(sim) for c in conds])


def load_scenario(path: str | Path, overrides=None, seed: int | None = None, trials: int | None = None,
                  first_trial: int = 0, max_steps: int | None = None) -> Simulation:
    """Read, validate and build a scenario file into a ready :class:`Simulation`.

    Parameters
    ----------
    path : path of the TOML file
    overrides : list of "key.path=value" strings or a dict {"key.path": value}
        Applied before validation (like ``recurnet run --set``).
    seed, trials, max_steps : override ``scenario.seed``, ``scenario.trials``, ``stop.max_steps``.
    first_trial : int
        Index of the first trial (trial b of a batch uses seed stream ``first_trial + b``), so
        ``load_scenario(p, trials=1, first_trial=b)`` replays trial b of a batch on its own.
    """
    sc = load(path, overrides)
    return build_simulation(sc, seed, trials, first_trial, max_steps)


def shipped_scenarios() -> list[Path]:
    """Shipped scenario files (``scenarios/*.toml``), sorted."""
    from .paths import scenarios_dir
    return sorted(scenarios_dir().glob("*.toml"))


def describe_file(path: Path) -> str:
    """One-line description of a scenario file (no validation)."""
    try:
        data = read_toml(path)
        return str(data.get("scenario", {}).get("description", "")) or "(no description)"
    except RecurnetError as exc:
        return f"(unreadable: {exc})"
