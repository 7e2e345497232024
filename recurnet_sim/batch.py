"""Headless batch experiments: sweep a grid of parameters, seeded trials, any number of machines, resumable.

``recurnet batch EXPERIMENT.toml [--out DIR] [--workers K | --dask ADDRESS | --dask local[:N]]
[--resume] [--export parquet] [--set key=value ...]`` runs an experiment (see
:mod:`recurnet_sim.experiment`) and writes into ``DIR``:

* ``results.db``   the result store (:mod:`recurnet_sim.store`): one SQLite database, one row per
  finished point, committed the moment its task comes back; what ``--resume`` reads, and what
  survives Ctrl-C or ``kill -9``. Everything below is exported from it when the run ends;
* ``results.csv``  one tidy row per trial: point index, grid values, trial, seed, seed_trial, metrics;
* ``summary.csv``  one row per grid point: n, mean, std and a 95% confidence interval of each metric
  (Student t for numbers; Wilson score for true/false and for the fraction of each category);
* ``meta.json``    package version, experiment file and hashes, base seed, times, counts;
* ``METRIC.png``, ``METRIC.svg``   each metric against the x key, one line per value of the other grid keys,
  error bars = the 95% interval (matplotlib, Agg backend);
* ``results.parquet`` with ``--export parquet`` (when pyarrow is installed).

Trials of one group advance together on the batch axis (one vectorised step for all of them). Grid
points travel in *chunks*: a task is :func:`run_chunk` (a :class:`RunPlan`, the same for every task,
and the indices of its points), sized by :class:`ChunkSizer` so that the cost of a task (submission,
pickling, the round trip) stays under 5 % of its work. :func:`run_experiment` runs tasks on its own
pool of processes, on any :class:`concurrent.futures.Executor`, or on a Dask cluster
(``dask="local:2"``, a scheduler address or a ``distributed.Client``). A worker needs only the
package installed: the plan carries the validated experiment and the bytes of every file its
scenarios name (pattern files, PNGs, weights), never a path the worker must see. Workers return plain
rows; only the calling process writes files. Results depend only on the experiment (seeds from
``SeedSequence`` spawn keys), never on the executor, the chunk sizes or the order in which points
finish; a task lost with its worker is run again and gives the same rows.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from concurrent.futures import BrokenExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from . import __version__
from .paths import resolve_shipped
from .errors import RecurnetError, ScenarioError, ValidationError
from .writer import check_target, forcing, write_file, write_text
from .experiment import (BUILTIN_METRICS, Experiment, GridPoints, GridScenarios, derived_keys, load_experiment,
                         metric_candidates, trial_metrics)
from .store import LOCK, STORE, ResultStore, RunLock, StoreError, owner_text

#: the per-point JSON files of runs made before the result store (read once by --resume, then imported)
POINTS_DIR = "points"
#: thread counts a spawned worker pins to 1: the BLAS libraries', and numba's (its parallel kernels
#: would otherwise start one thread per core in every worker: k workers, k*cores spinning threads)
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS")
#: wanted duration of one task, seconds: 20x the measured per-task cost of the executor (local
#: processes ~1-2 ms, a Dask LocalCluster ~5-15 ms, bench/bench_store.py), so that cost stays < 5 %
TARGET_TASK_S = {"local": 0.25, "dask": 1.0}
#: at most this fraction of the work may be task overhead
OVERHEAD_BUDGET = 0.05
#: summary rows kept in memory (plots, the final table, BatchReport.summary) up to this many points
SUMMARY_IN_MEMORY = 100_000


# ---------------------------------------------------------------------------------------------
# grid points (run in a worker)
# ---------------------------------------------------------------------------------------------
def _run_trials(scenario, base_seed: int, seed_point: int, trials: int, group: int, metrics, threshold) -> list[dict]:
    """Every trial of one point, in groups of ``group``: one ``build_simulation`` per group, all its
    trials stepped together. Rows carry the trial index, the group's scenario seed and the trial's
    index in that group (``seed_trial``), then the metrics."""
    from .experiment import group_seed
    from .scenario import build_simulation

    rows = []
    for k, start in enumerate(range(0, trials, group)):
        n = min(group, trials - start)
        seed = group_seed(base_seed, seed_point, k)
        sim = build_simulation(scenario, seed=seed, trials=n)
        sim.advance()
        for j, r in enumerate(sim.results()):
            row = {"trial": start + j, "seed": seed, "seed_trial": j}
            row.update(trial_metrics(r, list(metrics), threshold))
            rows.append(row)
        del sim
    return rows


@dataclass(frozen=True)
class RunPlan:
    """Everything a worker needs to run any point of an experiment (picklable, a few kB).

    Point ``i``'s scenario is built on the worker from the validated base scenario, the fixed keys
    and the grid (:class:`~recurnet_sim.experiment.GridScenarios`), so the driver never lists the
    grid. ``assets`` maps every string of the scenarios that names a file (a pattern file, a PNG,
    a weights file) to the file's bytes, read on the driver: a worker that cannot see the file (or
    sees another version of it) writes the bytes to a local cache and uses that copy.
    """

    spec_hash: str
    name: str
    base_path: str
    base_data: dict
    fixed: dict
    grid: dict
    seed: int
    trials: int
    group: int
    metrics: tuple
    success_threshold: float
    common_seeds: bool
    assets: dict = field(default_factory=dict, repr=False)

    def seed_point(self, i: int) -> int:
        return 0 if self.common_seeds else i


def make_plan(exp: Experiment) -> RunPlan:
    """The :class:`RunPlan` of an experiment (reads the files its scenarios name)."""
    return RunPlan(exp.spec_hash, exp.name, str(exp.base_path), exp.base_data, exp.fixed, exp.grid, exp.seed,
                   exp.trials, exp.group, tuple(exp.metrics), exp.success_threshold, exp.common_seeds,
                   find_assets(exp))


def _strings(obj) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for v in obj.values():
            yield from _strings(v)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _strings(v)


def find_assets(exp: Experiment) -> dict[str, bytes]:
    """``{string: bytes}`` for every string of the base scenario, the fixed keys and the grid values
    that names an existing file (relative to the base scenario, as the families read them).

    Only strings that look like a path (an extension or a directory separator) are tried, so a
    builtin name such as ``"letters"`` is never mistaken for a file."""
    base_dir = Path(exp.base_path).parent
    out: dict[str, bytes] = {}
    for s in _strings([exp.base_data, exp.fixed, exp.grid]):
        if s in out or not s or len(s) > 4096 or "\n" in s:
            continue
        p = Path(s)
        if not (p.suffix or "/" in s or os.sep in s):
            continue
        p = p if p.is_absolute() else base_dir / p
        try:
            if p.is_file():
                out[s] = p.read_bytes()
        except (OSError, ValueError):
            continue
    return out


_PLAN_CACHE: dict[str, GridScenarios] = {}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _localize(plan: RunPlan) -> dict[str, str]:
    """{asset string: local path} for the assets this process cannot read as the driver did."""
    from .writer import write_bytes

    base_dir = Path(plan.base_path).parent
    mapping = {}
    for s, data in plan.assets.items():
        p = Path(s) if Path(s).is_absolute() else base_dir / s
        digest = _sha(data)
        try:
            if p.is_file() and _sha(p.read_bytes()) == digest:
                continue  # the same file is here (a local run, a shared disk): use it as named
        except OSError:
            pass
        d = Path(tempfile.gettempdir()) / f"recurnet-assets-{getattr(os, 'getuid', lambda: 0)()}" / digest[:16]
        d.mkdir(parents=True, exist_ok=True)
        target = d / (Path(s).name or "asset")
        try:
            same = target.is_file() and _sha(target.read_bytes()) == digest
        except OSError:
            same = False
        if not same:
            write_bytes(target, data, force=True)  # our own cache: content-addressed by its directory
        mapping[s] = str(target)
    return mapping


def _swap(obj, mapping: dict[str, str]):
    if isinstance(obj, str):
        return mapping.get(obj, obj)
    if isinstance(obj, dict):
        return {k: _swap(v, mapping) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_swap(v, mapping) for v in obj]
    return obj


def plan_scenarios(plan: RunPlan) -> GridScenarios:
    """The scenarios of a plan in this process (assets localised once per process and plan)."""
    key = plan.spec_hash + _sha(b"".join(_sha(v).encode() for v in plan.assets.values()))
    hit = _PLAN_CACHE.get(key)
    if hit is None:
        mapping = _localize(plan)
        grid = {k: _swap(v, mapping) for k, v in plan.grid.items()}
        hit = GridScenarios(Path(plan.base_path), _swap(plan.base_data, mapping), _swap(plan.fixed, mapping),
                            GridPoints(grid))
        if len(_PLAN_CACHE) > 8:
            _PLAN_CACHE.clear()
        _PLAN_CACHE[key] = hit
    return hit


def run_chunk(plan: RunPlan, indices) -> dict:
    """Run the points ``indices`` of ``plan`` (a task); returns plain data.

    Returns
    -------
    dict
        ``points``: list of ``(index, elapsed_s, rows)``; ``error``: None, or ``(index, message)``
        of a point whose scenario or build was refused (the points before it are kept);
        ``elapsed_s``: the task's compute time; ``pid``.
    """
    t0 = time.perf_counter()
    scen = plan_scenarios(plan)
    done, error = [], None
    for i in indices:
        t = time.perf_counter()
        try:
            rows = _run_trials(scen.parse(i), plan.seed, plan.seed_point(i), plan.trials, plan.group, plan.metrics,
                               plan.success_threshold)
        except RecurnetError as exc:
            error = (int(i), str(exc))
            break
        done.append((int(i), time.perf_counter() - t, rows))
    return {"points": done, "error": error, "elapsed_s": time.perf_counter() - t0, "pid": os.getpid()}


def _worker_init() -> None:
    # Ctrl-C is the parent's business: it cancels what is pending and stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def _single_threaded_blas():
    """Spawned workers inherit these: one BLAS thread each (k workers on k cores, no
    oversubscription), and the same arithmetic whatever the worker count."""
    old = {k: os.environ.get(k) for k in BLAS_ENV}
    for k in BLAS_ENV:
        os.environ[k] = "1"
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class ChunkSizer:
    """How many points the next task carries.

    The first tasks carry one point each, which measures the cost of a point; then a task carries
    ``target_s / cost`` points (``target_s`` = 20x the executor's per-task cost, so that cost is
    under :data:`OVERHEAD_BUDGET` of the work), but never so many that fewer than 4 tasks per
    worker remain (the last tasks must finish together, and a lost worker loses little).
    """

    def __init__(self, target_s: float, n_workers: int):
        self.target_s = float(target_s)
        self.n_workers = max(1, int(n_workers))
        self.per_point: float | None = None
        self._n = 0

    def observe(self, points: list) -> None:
        for _, el, _ in points:
            self._n += 1
            # running mean of the first points, then an exponential average (costs drift over a grid)
            w = max(1.0 / self._n, 0.05)
            self.per_point = el if self.per_point is None else (1 - w) * self.per_point + w * el

    def size(self, remaining: int) -> int:
        if self.per_point is None:
            return 1
        k = int(self.target_s / max(self.per_point, 1e-6))
        return max(1, min(k, remaining // (4 * self.n_workers), 100_000))


# ---------------------------------------------------------------------------------------------
# output directory
# ---------------------------------------------------------------------------------------------
def _atomic_write(path: Path, text: str) -> None:
    # the one atomic writer: a torn file cannot exist, and a file recurnet did not write is refused
    write_text(path, text)


def _legacy_points(out: Path, exp: Experiment) -> list[tuple[int, float, list]]:
    """Finished points of a run made before the result store (``points/pNNNNNN.json``), if any."""
    found = []
    pdir = out / POINTS_DIR
    if not pdir.is_dir():
        return found
    n = len(exp.points)
    for f in sorted(pdir.glob("p*.json")):
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a torn file cannot exist (atomic writes), but a foreign one may: ignore it
        if not isinstance(d, dict) or d.get("spec_hash") != exp.spec_hash:
            continue
        i = d.get("index")
        if isinstance(i, int) and 0 <= i < n and len(d.get("rows", ())) == exp.trials:
            found.append((i, float(d.get("elapsed_s") or 0.0), d["rows"]))
    return found


def _is_store(path: Path) -> bool | None:
    """Whether ``path`` is a recurnet result store (None: there is no such file)."""
    if not os.path.lexists(path):
        return None
    try:
        ResultStore.open(path.parent).close()
    except StoreError:
        return False
    return True


def _has_results(out: Path) -> bool:
    return (out / "meta.json").exists() or os.path.lexists(out / STORE) or (out / POINTS_DIR).is_dir()


def _open_store(out: Path, exp: Experiment, resume: bool) -> tuple[ResultStore, int]:
    """The run's store (created, or opened by --resume) and how many old point files it imported.
    The caller holds the run lock."""
    meta_path = out / "meta.json"
    if resume and os.path.lexists(out / STORE):
        store = ResultStore.open(out)
        if store.spec_hash != exp.spec_hash:
            store.close()
            raise RecurnetError(f"{out} holds results of a different experiment (its grid, trials, seed or base "
                                f"scenario differ): cannot resume; choose another --out")
        return store, 0
    if resume and meta_path.exists():
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("spec_hash") not in (None, exp.spec_hash):
            raise RecurnetError(f"{out} holds results of a different experiment (its grid, trials, seed or base "
                                f"scenario differ): cannot resume; choose another --out")
    store = ResultStore.create(out, exp.spec_hash, {"experiment": exp.name, "recurnet_sim": __version__})
    legacy = _legacy_points(out, exp) if resume else []
    store.add(legacy)
    return store, len(legacy)


def _human(nbytes: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if nbytes < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    return f"{nbytes:.1f} TB"  # pragma: no cover


def estimate_output(exp: Experiment, sample_row: dict, todo: int, export=()) -> int:
    """Bytes the run will write: the store's rows for ``todo`` points, results.csv (and parquet) for
    every point, summary.csv. ``sample_row`` is a real trial row (from :func:`probe`): its encoded
    lengths, with a margin for wider numbers, give the bytes of a row."""
    n, t = len(exp.points), exp.trials
    row = {"point": n - 1, **exp.points[0], **sample_row}
    csv_row = len(_csv_text(list(row), [row]).splitlines()[-1]) + 1
    db_row = len(json.dumps(sample_row, separators=(",", ":"))) + 1
    margin = 1.25  # numbers of other points are wider (steps, seeds, longer floats)
    total = todo * (db_row * t + 48) + n * t * csv_row
    if "parquet" in export:
        total += n * t * csv_row // 2
    total += n * (24 + 18 * 5 * (len(exp.metrics) + 4))  # summary.csv: 5 numbers per column
    return int(total * margin)


def check_disk(exp: Experiment, out: Path, sample_row: dict, todo: int, export=()) -> None:
    """Refuse, before any work, a run whose declared output would not fit on the disk of ``out``."""
    need = estimate_output(exp, sample_row, todo, export)
    where = out
    while not where.exists() and where.parent != where:
        where = where.parent
    try:
        free = shutil.disk_usage(where).free
    except OSError:
        return
    if need > free:
        n = len(exp.points)
        raise RecurnetError(f"{exp.name}: the output would not fit: {n:,} points x {exp.trials} trials = "
                            f"{n * exp.trials:,} rows need about {_human(need)} in {out} (result store, "
                            f"results.csv, summary.csv), but only {_human(free)} is free there; use fewer points "
                            f"or trials, or another --out")

# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def mean_ci(values: list[float]) -> dict[str, float]:
    """n, mean, sample std and the 95% Student-t interval of the mean (NaNs are left out)."""
    v = [float(x) for x in values if x is not None and not (isinstance(x, float) and math.isnan(x))]
    n = len(v)
    nan = float("nan")
    if n == 0:
        return {"n": 0, "mean": nan, "std": nan, "ci_low": nan, "ci_high": nan}
    mean = math.fsum(v) / n
    if n == 1:
        return {"n": 1, "mean": mean, "std": nan, "ci_low": nan, "ci_high": nan}
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in v) / (n - 1))
    h = _t975(n - 1) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci_low": mean - h, "ci_high": mean + h}


def proportion_ci(hits: list[bool]) -> dict[str, float]:
    """n, fraction, std of the 0/1 values and the 95% Wilson score interval (never outside [0, 1],
    and not empty when every trial agrees)."""
    n = len(hits)
    nan = float("nan")
    if n == 0:
        return {"n": 0, "mean": nan, "std": nan, "ci_low": nan, "ci_high": nan}
    k = sum(1 for h in hits if h)
    p = k / n
    std = math.sqrt(p * (1 - p) * n / (n - 1)) if n > 1 else nan
    z = 1.959963984540054
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if k == 0 else max(0.0, centre - half)  # exact ends: the Wilson bound is 0 (or 1) there
    hi = 1.0 if k == n else min(1.0, centre + half)
    return {"n": n, "mean": p, "std": std, "ci_low": lo, "ci_high": hi}


class ValueKinds:
    """What the values of each metric look like over every trial so far (gathered while streaming
    the store): the text of each category seen, whether every value is a bool, whether any exists.

    ``texts`` holds ``str(value)`` of every value of a categorical metric (a builtin category, or a
    metric that gave a string); for any other metric at most 64 distinct texts are kept, which is
    all a mixed number/text field could need to become categorical."""

    def __init__(self, metrics):
        self.metrics = list(metrics)
        self.has_str = {m: False for m in self.metrics}
        self.all_bool = {m: True for m in self.metrics}
        self.any = {m: False for m in self.metrics}
        self.texts: dict[str, set] = {m: set() for m in self.metrics}
        self._cat = {m: bool((s := BUILTIN_METRICS.get(m)) and s.kind == "category") for m in self.metrics}

    def add(self, rows: list[dict]) -> None:
        for r in rows:
            for m in self.metrics:
                v = r[m]
                self.any[m] = True
                if isinstance(v, str):
                    self.has_str[m] = True
                if not isinstance(v, bool):
                    self.all_bool[m] = False
                t = self.texts[m]
                if self._cat[m] or self.has_str[m] or len(t) < 64:
                    t.add(str(v))

    @classmethod
    def of(cls, metrics, rows_by_point: dict[int, list[dict]]) -> "ValueKinds":
        k = cls(metrics)
        for rows in rows_by_point.values():
            k.add(rows)
        return k


def _kinds(exp: Experiment, data) -> ValueKinds:
    return data if isinstance(data, ValueKinds) else ValueKinds.of(exp.metrics, data or {})


def metric_columns(exp: Experiment, rows_by_point) -> list[tuple[str, str, Any]]:
    """The summary columns: (column name, metric, category or None). A categorical metric gives one
    column per category (its fraction), named ``metric=category``. ``rows_by_point``: the rows of
    every point, or their :class:`ValueKinds`."""
    kinds = _kinds(exp, rows_by_point)
    cols = []
    for m in exp.metrics:
        spec = BUILTIN_METRICS.get(m)
        if (spec and spec.kind == "category") or kinds.has_str[m]:
            cats = list(spec.categories) if spec and spec.categories else []
            cats += sorted(kinds.texts[m] - set(cats))
            cols += [(f"{m}={c}", m, c) for c in cats]
        else:
            cols.append((m, m, None))
    return cols


def _is_fraction(m: str, cat, rows_by_point) -> bool:
    if cat is not None:
        return True
    spec = BUILTIN_METRICS.get(m)
    if spec is not None:
        return spec.kind == "bool"
    kinds = rows_by_point if isinstance(rows_by_point, ValueKinds) else None
    if kinds is not None:
        return kinds.any[m] and kinds.all_bool[m]
    vals = [r[m] for rows in (rows_by_point or {}).values() for r in rows]
    return bool(vals) and all(isinstance(v, bool) for v in vals)


def summary_header(exp: Experiment, cols) -> list[str]:
    header = ["point", *exp.grid_keys, "trials"]
    for name, _, _ in cols:
        header += [f"{name}_{s}" for s in ("mean", "std", "ci_low", "ci_high", "n")]
    return header


def summary_row(exp: Experiment, i: int, rows: list[dict], cols) -> dict:
    """The summary of point ``i`` from its trial rows."""
    row = {"point": i, **exp.points[i], "trials": len(rows)}
    for name, m, cat in cols:
        vals = [r[m] for r in rows]
        if cat is not None:
            st = proportion_ci([str(v) == cat for v in vals])
        elif all(isinstance(v, bool) for v in vals):
            st = proportion_ci(vals)
        else:
            st = mean_ci(vals)
        for s, v in st.items():
            row[f"{name}_{s}"] = v
    return row


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(v)
    return str(v)


def _csv_text(header: list[str], rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([_cell(r.get(h)) for h in header])
    return buf.getvalue()


def results_rows(exp: Experiment, done: dict[int, dict]) -> tuple[list[str], list[dict]]:
    header = ["point", *exp.grid_keys, "trial", "seed", "seed_trial", *exp.metrics]
    rows = []
    for i in sorted(done):
        for r in done[i]["rows"]:
            rows.append({"point": i, **exp.points[i], **r})
    return header, rows


def _pretty(exp: Experiment, key: str) -> str:
    """Axis or legend name of grid key (or metric) ``key``: the experiment's own label
    (``experiment.labels``), else a derived key's label, else the key's last part in words
    (``dynamics.schedule`` -> ``schedule``), never the raw dotted path."""
    if key in exp.labels:
        return exp.labels[key]
    d = derived_keys(exp.family).get(key)
    if d is not None:
        return d.label or d.name
    return key.rsplit(".", 1)[-1].replace("_", " ")


#: (marker, dash style) of the k-th series: identical series stay visible as different markers
#: and dashes (each drawn smaller and hollow-or-filled on top of the one before)
SERIES_STYLES = (("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", (0, (6, 2, 1, 2))), ("P", (0, (2, 1))),
                 ("X", (0, (8, 3))), ("*", (0, (1, 3))))

#: resolution of the PNG plots (an SVG of each is written beside it)
PLOT_DPI = 200


def _empty_panel(summary: list[dict], name: str, cat) -> bool:
    """A panel with nothing to show: every mean NaN, or a category that no trial ever ended in."""
    means = [row[f"{name}_mean"] for row in summary]
    finite = [v for v in means if not math.isnan(v)]
    return not finite or (cat is not None and all(v == 0 for v in finite))


def write_plots(exp: Experiment, summary: list[dict], out: Path, columns) -> list[Path]:
    """One figure per metric, as ``METRIC.png`` (200 dpi) and ``METRIC.svg`` (text kept as text): the
    mean against ``exp.x``, one series per combination of the other grid keys (its own marker and
    dash, so equal series do not hide each other), error bars = 95% interval. A categorical metric
    gets one panel per category that occurred. Axis and legend names come from the experiment's
    labels (:func:`_pretty`)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    x = exp.x
    others = [k for k in exp.grid_keys if k != x]
    xs = exp.grid[x]
    numeric_x = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    pos = {v: (v if numeric_x else j) for j, v in enumerate(xs)}
    ratios = [b / a for a, b in zip(xs, xs[1:])] if numeric_x and len(xs) >= 3 and min(xs) > 0 else []
    geometric = bool(ratios) and max(xs) / min(xs) >= 20 and max(ratios) - min(ratios) <= 1e-6 * max(ratios)
    by_metric: dict[str, list[tuple[str, Any]]] = {}
    for name, m, cat in columns:
        by_metric.setdefault(m, []).append((name, cat))
    paths = []
    style = {"svg.fonttype": "none", "svg.hashsalt": "recurnet", "font.size": 10}
    for m, panels in by_metric.items():
        shown = [(name, cat) for name, cat in panels if not _empty_panel(summary, name, cat)] or panels[:1]
        metric = _pretty(exp, m)
        with matplotlib.rc_context(style):
            fig, axes = plt.subplots(1, len(shown), figsize=(5.6 * len(shown), 4.2), squeeze=False)
            for ax, (name, cat) in zip(axes[0], shown):
                lines: dict[tuple, list[dict]] = {}
                for row in summary:
                    lines.setdefault(tuple(row[k] for k in others), []).append(row)
                ref_labelled = mark_labelled = False
                for k_line, (key, rows) in enumerate(lines.items()):
                    rows = sorted(rows, key=lambda r: xs.index(r[x]))
                    px = [pos[r[x]] for r in rows]
                    mean = [r[f"{name}_mean"] for r in rows]
                    lo = [max(0.0, r[f"{name}_mean"] - r[f"{name}_ci_low"]) if not math.isnan(r[f"{name}_ci_low"])
                          else 0.0 for r in rows]
                    hi = [max(0.0, r[f"{name}_ci_high"] - r[f"{name}_mean"]) if not math.isnan(r[f"{name}_ci_high"])
                          else 0.0 for r in rows]
                    label = ", ".join(f"{_pretty(exp, k)} = {v}" for k, v in zip(others, key)) or None
                    marker, dash = SERIES_STYLES[k_line % len(SERIES_STYLES)]
                    ms = max(3.0, 7.0 - 1.0 * k_line)
                    bars = ax.errorbar(px, mean, yerr=[lo, hi], marker=marker, ms=ms, ls=dash, capsize=2.5, lw=1.4,
                                       mfc="none" if k_line % 2 else None, mew=1.3, label=label,
                                       zorder=2 + k_line)
                    ref = exp.references.get(m)
                    if ref is not None and cat is None:
                        # the exact value the sampled mean should reach, in the same colour
                        ax.plot(px, [r[f"{ref}_mean"] for r in rows], ls="--", lw=1.0, color=bars.lines[0].get_color(),
                                label=None if ref_labelled else f"{_pretty(exp, ref)} (dashed)")
                        ref_labelled = True
                    mark = exp.markers.get(m)
                    if mark is not None:
                        # a value on the x axis (a predicted capacity): one dotted line, in the line's colour
                        xm = [r[f"{mark}_mean"] for r in rows if not math.isnan(r[f"{mark}_mean"])]
                        if xm:
                            ax.axvline(sum(xm) / len(xm), ls=":", lw=1.2, color=bars.lines[0].get_color(),
                                       label=None if mark_labelled else f"{_pretty(exp, mark)} (dotted)")
                            mark_labelled = True
                if geometric:
                    ax.set_xscale("log")  # a geometric grid ({log = true} range) on a log axis
                    # plain decimal tick labels (0.01, 1, 100): the default 10^k labels are mathtext,
                    # parsed again for every renderer (layout, PNG, SVG), a third of the plotting time
                    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_log_tick))
                if not numeric_x:
                    ax.set_xticks(list(pos.values()), [str(v) for v in xs])
                ax.set_xlabel(_pretty(exp, x))
                spec = BUILTIN_METRICS.get(m)
                if cat is not None:
                    ax.set_ylabel(f"fraction of trials: {str(cat).replace('_', ' ')}")
                    ax.set_title(f"{metric}: {str(cat).replace('_', ' ')}", fontsize=11)
                else:
                    ax.set_ylabel(f"fraction of trials: {metric}" if spec and spec.kind == "bool" else metric)
                    ax.set_title(metric, fontsize=11)
                ax.grid(alpha=0.3)
                if (others and len(lines) > 1) or m in exp.references or m in exp.markers:
                    ax.legend(fontsize=8)
            fig.suptitle(f"{exp.name}: {metric} ({exp.trials} trials per point, 95% CI)", fontsize=11)
            fig.tight_layout()
            for ext, kw in (("png", {"dpi": PLOT_DPI, "metadata": {"Software": None}}),
                            ("svg", {"metadata": {"Date": None}})):
                p = out / f"{_safe(m)}.{ext}"
                write_file(p, lambda fh: fig.savefig(fh, format=ext, **kw))
                paths.append(p)
            plt.close(fig)
    return paths


def _log_tick(v: float, _pos=None) -> str:
    """A decade of a log axis as a plain number: 0.001, 0.1, 1, 10, 1000 (1e-05, 1e+06 beyond)."""
    return f"{v:g}"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def format_table(exp: Experiment, summary: list[dict], columns, max_rows: int = 200, rows_by_point=None) -> str:
    """The final table: one line per point, grid values then each metric's mean ± CI half-width."""
    head = [*exp.grid_keys, "n"] + [name for name, _, _ in columns]
    fractions = {name: _is_fraction(m, cat, rows_by_point or {}) for name, m, cat in columns}
    body = []
    for row in summary[:max_rows]:
        cells = [f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k]) for k in exp.grid_keys]
        cells.append(str(row["trials"]))
        for name, _, _ in columns:
            mean, lo, hi = row[f"{name}_mean"], row[f"{name}_ci_low"], row[f"{name}_ci_high"]
            if math.isnan(mean):
                cells.append("-")
            elif fractions.get(name):
                cells.append(f"{mean:.2f}")  # a fraction: its (asymmetric) interval is in summary.csv
            elif math.isnan(lo):
                cells.append(f"{mean:.4g}")
            else:
                cells.append(f"{mean:.3g} ±{(hi - lo) / 2:.2g}")
        body.append(cells)
    widths = [max(len(h), *(len(b[j]) for b in body)) if body else len(h) for j, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths)),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.rjust(w) if j >= len(exp.grid_keys) else c.ljust(w) for j, (c, w) in
                        enumerate(zip(b, widths))) for b in body]
    if len(summary) > max_rows:
        lines.append(f"... {len(summary) - max_rows} more point(s) in summary.csv")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# exports (from the store)
# ---------------------------------------------------------------------------------------------
def _write_results_csv(exp: Experiment, store: ResultStore, path: Path) -> None:
    """results.csv streamed from the store in point order (the same bytes as :func:`results_rows`
    through ``_csv_text``, whatever the grid size)."""
    header = ["point", *exp.grid_keys, "trial", "seed", "seed_trial", *exp.metrics]

    def rows():
        for i, point_rows in store.iter_points(len(exp.points)):
            pt = exp.points[i]
            for r in point_rows:
                full = {"point": i, **pt, **r}
                yield [_cell(full.get(h)) for h in header]

    _stream_csv(path, header, rows())


def _stream_csv(path: Path, header: list[str], rows) -> None:
    """Write a CSV of ``header`` and the cell lists ``rows`` yields through the atomic writer,
    1 MB at a time (an export of any size never sits in memory whole)."""
    def write(fh) -> None:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        for row in rows:
            w.writerow(row)
            if buf.tell() > 1 << 20:
                fh.write(buf.getvalue().encode("utf-8"))
                buf.seek(0)
                buf.truncate()
        fh.write(buf.getvalue().encode("utf-8"))

    write_file(path, write)


def _write_parquet(exp: Experiment, store: ResultStore, path: Path) -> None:
    """results.parquet (the rows of results.csv, NaN as null), written in row groups of ~64k rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    header = ["point", *exp.grid_keys, "trial", "seed", "seed_trial", *exp.metrics]
    n = len(exp.points)

    def clean(v):
        return None if isinstance(v, float) and math.isnan(v) else v

    def write(fh) -> None:
        writer = None
        batch: list[dict] = []

        def flush():
            nonlocal writer, batch
            if not batch:
                return
            if writer is None:
                table = pa.Table.from_pylist(batch)
                # a column empty in the first rows (NaN everywhere so far) is a float column
                schema = pa.schema([pa.field(f.name, pa.float64()) if pa.types.is_null(f.type) else f
                                    for f in table.schema])
                table = table.cast(schema)
                writer = pq.ParquetWriter(fh, schema)
            else:
                table = pa.Table.from_pylist(batch, schema=writer.schema)
            writer.write_table(table)
            batch = []

        for i, rows in store.iter_points(n):
            pt = exp.points[i]
            for r in rows:
                full = {"point": i, **pt, **r}
                batch.append({h: clean(full.get(h)) for h in header})
            if len(batch) >= 65536:
                flush()
        flush()
        if writer is not None:
            writer.close()

    write_file(path, write)


def parquet_available() -> bool:
    try:
        import pyarrow  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        return False
    return True


def finalize(exp: Experiment, out: Path, store: ResultStore, plots: bool = True, export=(),
             progress: bool = True) -> tuple[list[Path], list, list, ValueKinds]:
    """Export the store: results.csv, summary.csv, the plots (and results.parquet with ``export``).

    Returns (files written, summary rows, metric columns, value kinds); the summary rows are kept
    for grids of at most :data:`SUMMARY_IN_MEMORY` points (else the list is empty: summary.csv has
    them, and the plots are skipped — one line per combination of thousands of values says nothing)."""
    n = len(exp.points)
    kinds = ValueKinds(exp.metrics)
    for _, rows in store.iter_points(n):
        kinds.add(rows)
    path = out / "results.csv"
    _write_results_csv(exp, store, path)
    files = [path]
    columns = metric_columns(exp, kinds)
    header = summary_header(exp, columns)
    keep = n <= SUMMARY_IN_MEMORY
    summary: list[dict] = []

    def summary_cells():
        for i, rows in store.iter_points(n):
            row = summary_row(exp, i, rows, columns)
            if keep:
                summary.append(row)
            yield [_cell(row.get(h)) for h in header]

    _stream_csv(out / "summary.csv", header, summary_cells())
    files.append(out / "summary.csv")
    if "parquet" in export:
        _write_parquet(exp, store, out / "results.parquet")
        files.append(out / "results.parquet")
    if plots and keep:
        files += write_plots(exp, summary, out, columns)
    elif plots and progress:
        print(f"{exp.name}: {n:,} points: plots skipped (more than {SUMMARY_IN_MEMORY:,} points); "
              f"summary.csv has every point", file=sys.stderr)
    return files, summary, columns, kinds


# ---------------------------------------------------------------------------------------------
# progress
# ---------------------------------------------------------------------------------------------
class Progress:
    """Points done, trials done, rate, an ETA and lost tasks, shown by
    :class:`recurnet_sim.progress.ProgressLine` (one updating line on a terminal, a line every 2 s
    in a log, always the last one)."""

    def __init__(self, exp: Experiment, n_todo: int, n_done: int, stream=None, enabled: bool = True):
        from .progress import ProgressLine

        self.exp = exp
        self.total = len(exp.points)
        self.todo = n_todo
        self.base = n_done
        self.finished = 0
        self.lost = 0        # tasks run again (their worker died, or the pool broke)
        self.workers_lost = 0
        self.t0 = time.perf_counter()
        self.line = ProgressLine(exp.name, stream, delay=0.0, log_interval=2.0) if enabled else None

    def _text(self) -> str:
        el = time.perf_counter() - self.t0
        done = self.base + self.finished
        eta = "?" if self.finished == 0 else _dur(el / self.finished * (self.todo - self.finished))
        rate = f", {self.finished / el:.3g} points/s" if self.finished and el > 0 else ""
        fail = ""
        if self.lost or self.workers_lost:
            parts = ([f"{self.workers_lost} worker(s) lost"] if self.workers_lost else []) + \
                    ([f"{self.lost} task(s) rerun"] if self.lost else [])
            fail = ", " + ", ".join(parts)
        return (f"{done}/{self.total} points, {done * self.exp.trials}/{self.total * self.exp.trials} trials"
                f"{rate}, {_dur(el)} elapsed, ETA {eta}{fail}")

    def update(self, force: bool = False) -> None:
        if self.line is not None:
            self.line.update(self._text, force=force or self.finished >= self.todo)

    def close(self) -> None:
        if self.line is not None:
            self.line.close()


def _dur(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.1f}s"
    m, s = divmod(int(round(s)), 60)
    return f"{m}m{s:02d}s" if m < 60 else f"{m // 60}h{m % 60:02d}m"


# ---------------------------------------------------------------------------------------------
# the runner
# ---------------------------------------------------------------------------------------------
@dataclass
class BatchReport:
    """What :func:`run_experiment` did."""

    out: Path
    points: int
    points_run: int
    points_resumed: int
    trials: int
    elapsed_s: float
    complete: bool
    summary: list
    files: list
    columns: list = field(default_factory=list)
    rows_by_point: dict = field(default_factory=dict, repr=False)
    kinds: Any = field(default=None, repr=False)
    tasks: int = 0
    tasks_rerun: int = 0
    workers_lost: int = 0


def probe(exp: Experiment) -> dict:
    """Build the first point with one trial and run one tick, to check that every metric exists
    and that the scenario builds, before any real work. Returns that trial's row (its sizes give
    the estimate of the output)."""
    from .scenario import build_simulation

    seed = exp.group_seed(0, 0)
    sim = build_simulation(exp.scenarios[0], seed=seed, trials=1, max_steps=1)
    sim.step()
    r = sim.results()[0]
    bad = []
    for i, m in enumerate(exp.metrics):
        try:
            trial_metrics(r, [m], exp.success_threshold)
        except KeyError:
            bad.append((i, m))
    if bad:
        import difflib

        cands = metric_candidates(r)
        errs = []
        for i, m in bad:
            hint = difflib.get_close_matches(m, cands, n=1)
            errs.append(ValidationError(f"experiment.metrics[{i}]", f"unknown metric {m!r}" + (
                f" (did you mean {hint[0]!r}?)" if hint else "") + f"; {exp.family} offers: {', '.join(cands)}",
                exp.path.name if exp.path else "experiment"))
        raise ScenarioError(errs, exp.path.name if exp.path else "experiment")
    return {"trial": max(0, exp.trials - 1), "seed": seed, "seed_trial": max(0, exp.group - 1),
            **trial_metrics(r, list(exp.metrics), exp.success_threshold)}


EXPORTS = ("meta.json", "results.csv", "summary.csv")


def run_experiment(exp: Experiment | str | Path, out: str | Path | None = None, *, workers: int | None = None,
                   executor: Executor | None = None, resume: bool = False, progress: bool = True,
                   overrides=None, on_point: Callable[[int, int], None] | None = None,
                   plots: bool = True, dask=None, export=(), target_task_s: float | None = None) -> BatchReport:
    """Run an experiment into ``out``: the result store, then results.csv, summary.csv, meta.json, plots.

    Parameters
    ----------
    exp : Experiment, or the path of an experiment file (then ``overrides`` apply)
    out : output directory (default ``runs/batch/<experiment name>``)
    workers : worker processes of the default pool (default: every core); ignored with ``executor``
        or ``dask``
    executor : concurrent.futures.Executor, optional
        Runs :func:`run_chunk` tasks (a thread pool, ``loky``, ``mpi4py.futures.MPIPoolExecutor``,
        ``distributed.Client(...).get_executor()``...). It is not shut down here.
    dask : str or distributed.Client, optional
        ``"local"`` / ``"local:N"`` (a ``distributed.LocalCluster`` of N single-threaded worker
        processes, started and stopped here), a scheduler address (``"tcp://host:8786"``), or a
        Client. Needs ``pip install "recurnet_sim[dask]"``.
    resume : run only the points missing from the store in ``out``
    progress : print progress on stderr (and the Dask dashboard link)
    on_point : callable(points_finished_now, points_total), optional
        Called after each point is stored (tests use it to interrupt a run).
    export : names of extra exports: ``("parquet",)`` writes results.parquet when pyarrow is
        installed (otherwise a line on stderr says it is skipped)
    target_task_s : wanted seconds of work per task (default :data:`TARGET_TASK_S`)

    Returns
    -------
    BatchReport

    Notes
    -----
    KeyboardInterrupt: pending tasks are cancelled, the default pool's workers are stopped, every
    stored point stays in the store and the exception propagates (``--resume`` finishes the run).
    """
    if not isinstance(exp, Experiment):
        exp = load_experiment(exp, overrides)
    if executor is not None and dask is not None:
        raise RecurnetError("give an executor or a Dask cluster, not both")
    export = tuple(dict.fromkeys(export or ()))
    for e in export:
        if e != "parquet":
            raise RecurnetError(f"--export {e}: unknown format (parquet is the one extra export)")
    out = Path(out) if out is not None else Path("runs") / "batch" / exp.name
    n = len(exp.points)
    if out.exists() and not out.is_dir():
        raise RecurnetError(f"--out {out}: exists and is not a directory")
    resuming_store = resume and os.path.lexists(out / STORE)
    if out.is_dir():
        # refuse a file recurnet did not write now (before anything is written), not after the sweep
        names = list(EXPORTS) + ([f"{_safe(m)}.{ext}" for m in exp.metrics for ext in ("png", "svg")] if plots else [])
        names += (["results.parquet"] if export else []) + [LOCK] + ([] if resuming_store else [STORE])
        if os.path.lexists(out / LOCK):
            RunLock(out).acquire().release()  # a run in progress here: say so first, in one line
        if _has_results(out) and not resume and _is_store(out / STORE) is not False:
            raise RecurnetError(f"{out} already holds batch results: pass --resume to finish them, or choose "
                                f"another --out")
        for name in names:
            check_target(out / name)
    sample_row = probe(exp)
    if "parquet" in export and not parquet_available():
        print(f"{exp.name}: --export parquet: pyarrow is not installed (pip install pyarrow); results.parquet "
              f"will not be written, the CSV files will", file=sys.stderr)
        export = tuple(e for e in export if e != "parquet")
    if not resuming_store:
        check_disk(exp, out, sample_row, n, export)
    out.mkdir(parents=True, exist_ok=True)
    lock = RunLock(out).acquire()
    store = None
    own_pool = None
    cleanup: list[Callable[[], None]] = []
    started = _now()
    n_done = 0
    prog = None
    try:
        store, n_legacy = _open_store(out, exp, resume)
        store.put("owner", owner_text())
        done = store.done(n)
        n_done = len(done)
        if resuming_store:
            check_disk(exp, out, sample_row, n - n_done, export)
        workers_label = workers if executor is None and dask is None else None
        exec_label = (f"dask {dask if isinstance(dask, str) else 'client'}" if dask is not None else
                      type(executor).__name__ if executor is not None else "processes")
        _atomic_write(out / "meta.json", json.dumps(_meta(exp, out, started, None, n_done, n_done, workers_label,
                                                          "running", executor=exec_label), indent=2) + "\n")
        todo = [i for i in range(n) if i not in done]
        del done
        prog = Progress(exp, len(todo), n_done, enabled=progress)
        t0 = time.perf_counter()
        plan = make_plan(exp)
        stats = {"tasks": 0, "rerun": 0}
        try:
            if todo:
                if dask is not None:
                    client, close = _dask_client(dask, progress)
                    cleanup.append(close)
                    n_workers = _dask_threads(client)
                    if progress:
                        print(f"{exp.name}: Dask scheduler {client.scheduler.address}, {n_workers} worker thread(s); "
                              f"dashboard: {_dashboard(client)}", file=sys.stderr)
                    plan_arg = client.scatter(plan, broadcast=True, hash=False)
                    ex = client.get_executor(pure=False)
                    sizer = ChunkSizer(target_task_s or TARGET_TASK_S["dask"], n_workers)
                    _drive(exp, plan_arg, todo, store, ex, prog, on_point, sizer, n_workers, stats,
                           watch=_DaskWatch(client, prog), key_prefix=f"recurnet-{_safe(exp.name)}")
                elif executor is None:
                    import multiprocessing as mp
                    from concurrent.futures import ProcessPoolExecutor

                    n_workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))

                    def new_pool():
                        nonlocal own_pool
                        with _single_threaded_blas():
                            own_pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn"),
                                                           initializer=_worker_init)
                        return own_pool

                    def restart():
                        _stop_pool(own_pool)
                        return new_pool()

                    sizer = ChunkSizer(target_task_s or TARGET_TASK_S["local"], n_workers)
                    _drive(exp, plan, todo, store, new_pool(), prog, on_point, sizer, n_workers, stats,
                           restart=restart)
                else:
                    n_workers = getattr(executor, "_max_workers", None) or os.cpu_count() or 1
                    sizer = ChunkSizer(target_task_s or TARGET_TASK_S["local"], n_workers)
                    _drive(exp, plan, todo, store, executor, prog, on_point, sizer, n_workers, stats)
        finally:
            if own_pool is not None:
                _stop_pool(own_pool)
                own_pool = None
            while cleanup:
                cleanup.pop()()
        if not todo:
            prog.update(force=True)
        prog.close()
        elapsed = time.perf_counter() - t0
        files, summary, columns, kinds = finalize(exp, out, store, plots=plots, export=export, progress=progress)
        n_resumed = n - len(todo)
        _atomic_write(out / "meta.json", json.dumps(_meta(exp, out, started, _now(), n_resumed, n, workers_label,
                                                          "complete", elapsed, store, stats, exec_label), indent=2) + "\n")
        small = n * exp.trials <= 200_000
        rows_by_point = {i: rows for i, rows in store.iter_points(n)} if small else {}
        return BatchReport(out, n, len(todo), n_resumed, n * exp.trials, elapsed, True, summary, files, columns,
                           rows_by_point, kinds, stats["tasks"], stats["rerun"], prog.workers_lost)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if prog is not None:
            prog.close()
        if store is not None and store.con is not None:
            try:
                n_done = store.count(n)
                _atomic_write(out / "meta.json", json.dumps(_meta(exp, out, started, _now(), n_done, n_done,
                                                                  None, status), indent=2) + "\n")
            except Exception:  # pragma: no cover - the original error matters more
                pass
            if isinstance(exc, KeyboardInterrupt) and progress:
                print(f"{exp.name}: interrupted: {n_done}/{n} points kept in {out / STORE}; "
                      f"rerun with --resume to finish", file=sys.stderr)
        raise
    finally:
        if store is not None:
            store.close()
        lock.release()


def _dask_client(spec, progress: bool):
    """(Client, close) for ``--dask``: "local[:N]", a scheduler address, or a Client given by the caller."""
    try:
        import distributed
    except ImportError:
        raise RecurnetError('--dask needs Dask: pip install "recurnet_sim[dask]" (or pip install '
                            '"dask[distributed]")') from None
    if isinstance(spec, distributed.Client):
        return spec, lambda: None
    spec = str(spec)
    if spec == "local" or spec.startswith("local:"):
        import logging

        n = spec.partition(":")[2]
        try:
            n_workers = int(n) if n else (os.cpu_count() or 1)
        except ValueError:
            raise RecurnetError(f"--dask {spec}: expected local or local:N (N worker processes)") from None
        if n_workers < 1:
            raise RecurnetError(f"--dask {spec}: N must be >= 1")
        with _single_threaded_blas():
            cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                                               dashboard_address=":0", silence_logs=logging.CRITICAL)
        client = distributed.Client(cluster)

        def close():
            client.close()
            cluster.close()

        return client, close
    try:
        client = distributed.Client(spec, timeout="20s")
    except (OSError, TimeoutError) as exc:
        raise RecurnetError(f"--dask {spec}: cannot reach the Dask scheduler ({exc})") from None
    return client, client.close


def _dask_threads(client) -> int:
    info = client.scheduler_info()
    return max(1, sum(w.get("nthreads", 1) for w in info.get("workers", {}).values()))


def _dashboard(client) -> str:
    try:
        import bokeh  # noqa: F401  (distributed serves its dashboard only with bokeh installed)
    except ImportError:
        return f"{client.dashboard_link} (served only when bokeh is installed: pip install bokeh)"
    return client.dashboard_link


class _DaskWatch:
    """Counts workers that left the cluster while tasks ran (the scheduler reruns their tasks)."""

    def __init__(self, client, prog: Progress):
        self.client = client
        self.prog = prog
        self.known = set(client.scheduler_info().get("workers", {}))
        self.last = time.monotonic()
        self.empty_since: float | None = None
        self.patience_s = 120.0

    def __call__(self, final: bool = False) -> None:
        if not final and time.monotonic() - self.last < 1.0:
            return
        self.last = time.monotonic()
        try:
            now = set(self.client.scheduler_info().get("workers", {}))
        except Exception:  # pragma: no cover - the scheduler is busy; try again later
            return
        gone = self.known - now
        if gone:
            self.prog.workers_lost += len(gone)
            self.prog.update(force=True)
        self.known = now
        if now:
            self.empty_since = None
        elif self.empty_since is None:
            self.empty_since = time.monotonic()
        elif time.monotonic() - self.empty_since > self.patience_s:
            # tasks would wait for ever: say so (the stored points are kept; --resume continues)
            raise RecurnetError(f"the Dask cluster has had no workers for {self.patience_s:.0f} s; stopped "
                                f"(the finished points are stored: --resume continues)")


def _drive(exp: Experiment, plan_arg, todo: list[int], store: ResultStore, executor: Executor, prog: Progress,
           on_point, sizer: ChunkSizer, n_workers: int, stats: dict, restart: Callable[[], Executor] | None = None,
           watch: Callable[[], None] | None = None, key_prefix: str | None = None) -> None:
    """Submit chunks of ``todo`` to ``executor`` (a bounded number in flight), store every finished
    task in one transaction, resubmit the tasks of a broken pool (``restart`` makes a new one)."""
    queue = deque(todo)
    retry: deque[tuple] = deque()
    inflight: dict[Future, tuple] = {}
    # a bounded number of tasks in flight: Ctrl-C has little to cancel, memory stays flat
    limit = max(2, 2 * n_workers)
    finished = 0
    restarts = 0

    def submit(chunk: tuple) -> None:
        if key_prefix is not None:
            import uuid

            key = f"{key_prefix}-{chunk[0]}-{uuid.uuid4().hex[:8]}"
            fut = executor.submit(run_chunk, plan_arg, chunk, key=key)
        else:
            fut = executor.submit(run_chunk, plan_arg, chunk)
        inflight[fut] = chunk
        stats["tasks"] += 1

    try:
        while queue or retry or inflight:
            while (queue or retry) and len(inflight) < limit:
                if retry:
                    submit(retry.popleft())
                else:
                    k = min(sizer.size(len(queue)), len(queue))
                    submit(tuple(queue.popleft() for _ in range(k)))
            ready, _ = wait(list(inflight), timeout=None if watch is None else 1.0, return_when=FIRST_COMPLETED)
            if watch is not None:
                watch()
            broken = False
            for fut in sorted(ready, key=lambda f: inflight[f][0]):
                chunk = inflight.pop(fut)
                try:
                    res = fut.result()
                except BrokenExecutor:
                    if restart is None:
                        raise
                    broken = True
                    retry.append(chunk)
                    continue
                pts = res["points"]
                store.add((i, el, rows) for i, el, rows in pts)
                sizer.observe(pts)
                before = finished
                finished += len(pts)
                prog.finished = finished
                prog.update()
                if res["error"] is not None:
                    i, msg = res["error"]
                    raise RecurnetError(f"grid point {i} ({exp.point_label(i)}): {msg}")
                if on_point is not None:
                    for k in range(before + 1, finished + 1):
                        on_point(k, len(exp.points))
            if broken:
                # a process pool cannot lose one worker alone: every task in flight is lost with it
                restarts += 1
                lost = [inflight[f] for f in inflight]
                retry.extend(lost)
                inflight.clear()
                prog.workers_lost += 1
                prog.lost += len(retry)
                stats["rerun"] += len(retry)
                prog.update(force=True)
                if restarts > 3:
                    raise RecurnetError("worker processes keep dying (killed, or out of memory?): gave up after "
                                        f"{restarts} new pools; {finished} points of this run are stored, "
                                        "--resume continues")
                executor = restart()
        if watch is not None:
            watch(final=True)
    except BaseException:
        for f in inflight:
            f.cancel()
        raise


def _stop_pool(pool) -> None:
    """Stop a pool we own at once: cancel what is queued, end the worker processes we started."""
    procs = list(getattr(pool, "_processes", {}) .values()) if getattr(pool, "_processes", None) else []
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=5)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _meta(exp: Experiment, out: Path, started: str, finished: str | None, resumed: int, n_done: int,
          workers: int | None, status: str, elapsed: float | None = None, store: ResultStore | None = None,
          stats: dict | None = None, executor: str | None = None) -> dict:
    import numpy as np

    d = {
        "recurnet_sim": __version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
        "experiment": exp.name,
        "experiment_file": str(exp.path) if exp.path else None,
        "experiment_sha256": exp.file_hash,
        "base_scenario": str(exp.base_path),
        "spec_hash": exp.spec_hash,
        "family": exp.family,
        "base_seed": exp.seed,
        "grid": exp.grid,
        "set": exp.fixed,
        "metrics": exp.metrics,
        "common_seeds": exp.common_seeds,
        "success_threshold": exp.success_threshold,
        "status": status,
        "started": started,
        "finished": finished,
        "elapsed_s": None if elapsed is None else round(elapsed, 3),
        "workers": workers,
        "executor": executor,
        "store": STORE,
        "counts": {"points": len(exp.points), "trials_per_point": exp.trials, "group": exp.group,
                   "trials": len(exp.points) * exp.trials, "points_done": n_done,
                   "points_resumed": resumed},
    }
    if stats is not None:
        d["counts"]["tasks"] = stats["tasks"]
        d["counts"]["tasks_rerun"] = stats["rerun"]
    if store is not None:
        d["compute_s"] = round(store.elapsed_total(), 3)
    return d


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def main(args) -> int:
    """``recurnet batch``: ``args.file``, ``args.out``, ``args.workers``, ``args.dask``, ``args.resume``,
    ``args.export``, ``args.overrides``."""
    if args.workers is not None and args.workers < 1:
        raise RecurnetError(f"--workers must be >= 1, got {args.workers}")
    dask = getattr(args, "dask", None)
    if dask is not None and args.workers is not None:
        raise RecurnetError("--workers and --dask: give one (a Dask cluster brings its own workers; "
                            "--dask local:N starts N)")
    exp = load_experiment(resolve_shipped(args.file, "experiments"), args.overrides)
    with forcing(bool(getattr(args, "force", False))):
        report = run_experiment(exp, args.out, workers=args.workers, resume=args.resume, dask=dask,
                                export=tuple(getattr(args, "export", None) or ()))
    if report.summary or not report.points:
        print(format_table(exp, report.summary, report.columns, rows_by_point=report.kinds))
    extra = f", {report.points_resumed} resumed" if report.points_resumed else ""
    print(f"{report.points} points x {exp.trials} trials in {report.elapsed_s:.1f} s{extra}; results in {report.out}/")
    return 0
