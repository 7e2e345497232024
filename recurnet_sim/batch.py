"""Headless batch experiments: sweep a grid of parameters, seeded trials, all cores, resumable.

``recurnet batch EXPERIMENT.toml [--out DIR] [--workers K] [--resume] [--set key=value ...]``
runs an experiment (see :mod:`recurnet_sim.experiment`) and writes into ``DIR``:

* ``results.csv``  one tidy row per trial: point index, grid values, trial, seed, seed_trial, metrics;
* ``summary.csv``  one row per grid point: n, mean, std and a 95% confidence interval of each metric
  (Student t for numbers; Wilson score for true/false and for the fraction of each category);
* ``meta.json``    package version, experiment file and hashes, base seed, times, counts;
* ``METRIC.png``   each metric against the x key, one line per value of the other grid keys,
  error bars = the 95% interval (matplotlib, Agg backend);
* ``points/``      one file per finished point, written atomically the moment it is done: what
  ``--resume`` reads, and what survives Ctrl-C or ``kill -9``.

Trials of one group advance together on the batch axis (one vectorised step for all of them); grid
points are spread over worker processes. :func:`run_experiment` accepts any
:class:`concurrent.futures.Executor` (a Dask or Ray executor runs points on a cluster): each task is
one :class:`PointTask` given to :func:`run_point`, which returns plain rows; every file is written
by the calling process. Results depend only on the experiment (seeds from ``SeedSequence`` spawn
keys), never on the number of workers or the order in which points finish.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import signal
import sys
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from . import __version__
from .paths import resolve_shipped
from .errors import RecurnetError, ScenarioError, ValidationError
from .writer import check_target, forcing, write_file, write_text
from .experiment import (BUILTIN_METRICS, Experiment, derived_keys, load_experiment, metric_candidates,
                         trial_metrics)

POINTS_DIR = "points"
BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
            "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


# ---------------------------------------------------------------------------------------------
# one grid point (runs in a worker)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointTask:
    """Everything a worker needs to run one grid point (picklable, no open files)."""

    index: int
    values: dict
    scenario: Any  # recurnet_sim.scenario.Scenario
    base_seed: int
    trials: int
    group: int
    metrics: tuple
    success_threshold: float
    seed_point: int  # the point whose seeds this one uses (itself, or 0 with common_seeds)


def run_point(task: PointTask) -> dict:
    """Run every trial of one grid point; returns ``{"index", "rows", "elapsed_s"}``.

    The trials run in groups of ``task.group``: one ``build_simulation`` per group, all its trials
    stepped together. Rows carry the trial index, the group's scenario seed and the trial's index
    in that group (``seed_trial``), then the metrics.
    """
    from .experiment import group_seed
    from .scenario import build_simulation

    t0 = time.perf_counter()
    rows = []
    for k, start in enumerate(range(0, task.trials, task.group)):
        n = min(task.group, task.trials - start)
        seed = group_seed(task.base_seed, task.seed_point, k)
        sim = build_simulation(task.scenario, seed=seed, trials=n)
        while sim.step():
            pass
        for j, r in enumerate(sim.results()):
            row = {"trial": start + j, "seed": seed, "seed_trial": j}
            row.update(trial_metrics(r, list(task.metrics), task.success_threshold))
            rows.append(row)
        del sim
    return {"index": task.index, "rows": rows, "elapsed_s": time.perf_counter() - t0}


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


# ---------------------------------------------------------------------------------------------
# output directory
# ---------------------------------------------------------------------------------------------
def _atomic_write(path: Path, text: str) -> None:
    # the one atomic writer: a torn file cannot exist, and a file recurnet did not write is refused
    write_text(path, text)


def _point_path(out: Path, i: int) -> Path:
    return out / POINTS_DIR / f"p{i:06d}.json"


def _read_done(out: Path, exp: Experiment) -> dict[int, dict]:
    done = {}
    pdir = out / POINTS_DIR
    if not pdir.is_dir():
        return done
    for f in sorted(pdir.glob("p*.json")):
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # a torn file cannot exist (atomic writes), but a foreign one may: ignore it
        if d.get("spec_hash") != exp.spec_hash:
            continue
        i = d.get("index")
        if isinstance(i, int) and 0 <= i < len(exp.points) and len(d.get("rows", ())) == exp.trials:
            done[i] = d
    return done


def _prepare_out(out: Path, exp: Experiment, resume: bool) -> dict[int, dict]:
    meta_path = out / "meta.json"
    if out.exists() and not out.is_dir():
        raise RecurnetError(f"--out {out}: exists and is not a directory")
    has_results = meta_path.exists() or (out / POINTS_DIR).is_dir()
    if has_results and not resume:
        raise RecurnetError(f"{out} already holds batch results: pass --resume to finish them, or choose "
                            f"another --out")
    if resume and meta_path.exists():
        try:
            old = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("spec_hash") not in (None, exp.spec_hash):
            raise RecurnetError(f"{out} holds results of a different experiment (its grid, trials, seed or base "
                                f"scenario differ): cannot resume; choose another --out")
    (out / POINTS_DIR).mkdir(parents=True, exist_ok=True)
    return _read_done(out, exp) if resume else {}


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


def metric_columns(exp: Experiment, rows_by_point: dict[int, list[dict]]) -> list[tuple[str, str, Any]]:
    """The summary columns: (column name, metric, category or None). A categorical metric gives one
    column per category (its fraction), named ``metric=category``."""
    cols = []
    for m in exp.metrics:
        vals = [r[m] for rows in rows_by_point.values() for r in rows]
        spec = BUILTIN_METRICS.get(m)
        if (spec and spec.kind == "category") or any(isinstance(v, str) for v in vals):
            cats = list(spec.categories) if spec and spec.categories else []
            cats += sorted({str(v) for v in vals} - set(cats))
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
    vals = [r[m] for rows in rows_by_point.values() for r in rows]
    return bool(vals) and all(isinstance(v, bool) for v in vals)


def summarize(exp: Experiment, rows_by_point: dict[int, list[dict]]) -> tuple[list[str], list[dict]]:
    """One summary row per point."""
    cols = metric_columns(exp, rows_by_point)
    header = ["point", *exp.grid_keys, "trials"]
    for name, _, _ in cols:
        header += [f"{name}_{s}" for s in ("mean", "std", "ci_low", "ci_high", "n")]
    out = []
    for i in sorted(rows_by_point):
        rows = rows_by_point[i]
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
        out.append(row)
    return header, out


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
    """Axis label of grid key ``key``: a derived key's own label, else the key itself."""
    d = derived_keys(exp.family).get(key)
    return (d.label or d.name) if d is not None else key


def write_plots(exp: Experiment, summary: list[dict], out: Path, columns) -> list[Path]:
    """One PNG per metric: mean against ``exp.x``, one line per combination of the other grid keys,
    error bars = 95% interval. A categorical metric gets one panel per category."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    x = exp.x
    others = [k for k in exp.grid_keys if k != x]
    xs = exp.grid[x]
    numeric_x = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs)
    pos = {v: (v if numeric_x else j) for j, v in enumerate(xs)}
    by_metric: dict[str, list[tuple[str, Any]]] = {}
    for name, m, cat in columns:
        by_metric.setdefault(m, []).append((name, cat))
    paths = []
    for m, panels in by_metric.items():
        fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.8), squeeze=False)
        for ax, (name, cat) in zip(axes[0], panels):
            lines: dict[tuple, list[dict]] = {}
            for row in summary:
                lines.setdefault(tuple(row[k] for k in others), []).append(row)
            ref_labelled = False
            for key, rows in lines.items():
                rows = sorted(rows, key=lambda r: xs.index(r[x]))
                px = [pos[r[x]] for r in rows]
                mean = [r[f"{name}_mean"] for r in rows]
                lo = [max(0.0, r[f"{name}_mean"] - r[f"{name}_ci_low"]) if not math.isnan(r[f"{name}_ci_low"]) else 0.0
                      for r in rows]
                hi = [max(0.0, r[f"{name}_ci_high"] - r[f"{name}_mean"]) if not math.isnan(r[f"{name}_ci_high"]) else 0.0
                      for r in rows]
                label = ", ".join(f"{k}={v}" for k, v in zip(others, key)) or None
                bars = ax.errorbar(px, mean, yerr=[lo, hi], marker="o", ms=3.5, capsize=2.5, lw=1.3, label=label)
                ref = exp.references.get(m)
                if ref is not None and cat is None:
                    # the exact value the sampled mean should reach, in the same colour
                    ax.plot(px, [r[f"{ref}_mean"] for r in rows], ls="--", lw=1.0, color=bars.lines[0].get_color(),
                            label=None if ref_labelled else f"{ref} (dashed)")
                    ref_labelled = True
            if not numeric_x:
                ax.set_xticks(list(pos.values()), [str(v) for v in xs])
            ax.set_xlabel(_pretty(exp, x))
            spec = BUILTIN_METRICS.get(m)
            ax.set_ylabel(f"fraction {cat}" if cat is not None else (
                "fraction of trials" if spec and spec.kind == "bool" else m))
            ax.set_title(name, fontsize=10)
            ax.grid(alpha=0.3)
            if (others and len(lines) > 1) or m in exp.references:
                ax.legend(fontsize=7)
        fig.suptitle(f"{exp.name}: {m} ({exp.trials} trials per point, 95% CI)", fontsize=10)
        fig.tight_layout()
        p = out / f"{_safe(m)}.png"
        write_file(p, lambda fh: fig.savefig(fh, format="png", dpi=110, metadata={"Software": None}))
        plt.close(fig)
        paths.append(p)
    return paths


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
# progress
# ---------------------------------------------------------------------------------------------
class Progress:
    """Points done, trials done and an ETA, shown by :class:`recurnet_sim.progress.ProgressLine`
    (one updating line on a terminal, a line every 2 s in a log, always the last one)."""

    def __init__(self, exp: Experiment, n_todo: int, n_done: int, stream=None, enabled: bool = True):
        from .progress import ProgressLine

        self.exp = exp
        self.total = len(exp.points)
        self.todo = n_todo
        self.base = n_done
        self.finished = 0
        self.t0 = time.perf_counter()
        self.line = ProgressLine(exp.name, stream, delay=0.0, log_interval=2.0) if enabled else None

    def _text(self) -> str:
        el = time.perf_counter() - self.t0
        done = self.base + self.finished
        eta = "?" if self.finished == 0 else _dur(el / self.finished * (self.todo - self.finished))
        return (f"{done}/{self.total} points, {done * self.exp.trials}/{self.total * self.exp.trials} trials, "
                f"{_dur(el)} elapsed, ETA {eta}")

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


def probe(exp: Experiment) -> None:
    """Build the first point with one trial and run one tick, to check that every metric exists
    and that the scenario builds, before any real work."""
    from .scenario import build_simulation

    sim = build_simulation(exp.scenarios[0], seed=exp.group_seed(0, 0), trials=1, max_steps=1)
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


def run_experiment(exp: Experiment | str | Path, out: str | Path | None = None, *, workers: int | None = None,
                   executor: Executor | None = None, resume: bool = False, progress: bool = True,
                   overrides=None, on_point: Callable[[int, int], None] | None = None,
                   plots: bool = True) -> BatchReport:
    """Run an experiment; write results.csv, summary.csv, meta.json and plots into ``out``.

    Parameters
    ----------
    exp : Experiment, or the path of an experiment file (then ``overrides`` apply)
    out : output directory (default ``runs/batch/<experiment name>``)
    workers : worker processes of the default pool (default: every core); ignored with ``executor``
    executor : concurrent.futures.Executor, optional
        Runs :func:`run_point` tasks (e.g. ``distributed.Client(...).get_executor()`` for Dask, or
        ``ray.util.ThreadPoolExecutor``-style executors). It is not shut down here.
    resume : run only the points missing from ``out``
    progress : print progress on stderr
    on_point : callable(points_finished_now, points_total), optional
        Called after each point is saved (tests use it to interrupt a run).

    Returns
    -------
    BatchReport

    Notes
    -----
    KeyboardInterrupt: pending points are cancelled, the default pool's workers are stopped, every
    finished point stays on disk and the exception propagates (``--resume`` finishes the run).
    """
    if not isinstance(exp, Experiment):
        exp = load_experiment(exp, overrides)
    out = Path(out) if out is not None else Path("runs") / "batch" / exp.name
    if out.is_dir():
        # refuse a file recurnet did not write now (before anything is written), not after the sweep
        for name in ["meta.json", "results.csv", "summary.csv"] + ([f"{_safe(m)}.png" for m in exp.metrics] if plots else []):
            check_target(out / name)
    done = _prepare_out(out, exp, resume)
    probe(exp)
    started = _now()
    meta = _meta(exp, out, started, None, len(done), 0, workers, "running")
    _atomic_write(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    todo = [i for i in range(len(exp.points)) if i not in done]
    prog = Progress(exp, len(todo), len(done), enabled=progress)
    t0 = time.perf_counter()
    own_pool = None
    n_workers = workers or os.cpu_count() or 1
    status = "complete"
    try:
        if todo:
            if executor is None:
                import multiprocessing as mp
                from concurrent.futures import ProcessPoolExecutor

                with _single_threaded_blas():
                    own_pool = ProcessPoolExecutor(max_workers=max(1, min(n_workers, len(todo))),
                                                   mp_context=mp.get_context("spawn"), initializer=_worker_init)
                    _drive(exp, out, todo, done, own_pool, prog, on_point)
            else:
                _drive(exp, out, todo, done, executor, prog, on_point)
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        if own_pool is not None:
            _stop_pool(own_pool)
            own_pool = None
        prog.close()
        meta = _meta(exp, out, started, _now(), len(done), len(done), workers, status)
        _atomic_write(out / "meta.json", json.dumps(meta, indent=2) + "\n")
        if isinstance(exc, KeyboardInterrupt) and progress:
            print(f"{exp.name}: interrupted: {len(done)}/{len(exp.points)} points kept in {out}; "
                  f"rerun with --resume to finish", file=sys.stderr)
        raise
    finally:
        if own_pool is not None:
            own_pool.shutdown(wait=True)
    if not todo:
        prog.update(force=True)
    prog.close()
    elapsed = time.perf_counter() - t0
    files, summary, columns = finalize(exp, out, done, plots=plots)
    n_resumed = len(exp.points) - len(todo)
    meta = _meta(exp, out, started, _now(), n_resumed, len(done), workers if executor is None else None,
                 "complete", elapsed)
    _atomic_write(out / "meta.json", json.dumps(meta, indent=2) + "\n")
    return BatchReport(out, len(exp.points), len(todo), n_resumed, len(exp.points) * exp.trials, elapsed, True,
                       summary, files, columns, {i: d["rows"] for i, d in done.items()})


def _drive(exp: Experiment, out: Path, todo: list[int], done: dict, executor: Executor, prog: Progress,
           on_point) -> None:
    tasks = {i: PointTask(i, exp.points[i], exp.scenarios[i], exp.seed, exp.trials, exp.group,
                          tuple(exp.metrics), exp.success_threshold, exp.seed_point(i)) for i in todo}
    futures: dict[Future, int] = {}
    pending = list(todo)
    # Keep a bounded number of tasks queued so Ctrl-C has little to cancel and memory stays flat.
    limit = max(2, 2 * (getattr(executor, "_max_workers", None) or os.cpu_count() or 1))
    finished_now = 0
    try:
        while pending or futures:
            while pending and len(futures) < limit:
                i = pending.pop(0)
                futures[executor.submit(run_point, tasks[i])] = i
            ready, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for fut in sorted(ready, key=lambda f: futures[f]):
                i = futures.pop(fut)
                exc = fut.exception()
                if exc is not None:
                    if isinstance(exc, RecurnetError):
                        raise RecurnetError(f"grid point {i} ({exp.point_label(i)}): {exc}") from None
                    raise exc
                res = fut.result()
                record = {"index": i, "values": exp.points[i], "spec_hash": exp.spec_hash,
                          "elapsed_s": res["elapsed_s"], "rows": res["rows"]}
                _atomic_write(_point_path(out, i), json.dumps(record) + "\n")
                done[i] = record
                finished_now += 1
                prog.finished = finished_now
                prog.update()
                if on_point is not None:
                    on_point(finished_now, len(exp.points))
    except BaseException:
        for f in futures:
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


def finalize(exp: Experiment, out: Path, done: dict[int, dict], plots: bool = True) -> tuple[list[Path], list, list]:
    """Write results.csv, summary.csv and the plots from the finished points (all of them).

    Returns (files written, summary rows, metric columns) for the report and the final table."""
    header, rows = results_rows(exp, done)
    _atomic_write(out / "results.csv", _csv_text(header, rows))
    rows_by_point = {i: d["rows"] for i, d in done.items()}
    sheader, summary = summarize(exp, rows_by_point)
    _atomic_write(out / "summary.csv", _csv_text(sheader, summary))
    files = [out / "results.csv", out / "summary.csv"]
    columns = metric_columns(exp, rows_by_point)
    if plots:
        files += write_plots(exp, summary, out, columns)
    return files, summary, columns


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _meta(exp: Experiment, out: Path, started: str, finished: str | None, resumed: int, n_done: int,
          workers: int | None, status: str, elapsed: float | None = None) -> dict:
    import numpy as np

    return {
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
        "counts": {"points": len(exp.points), "trials_per_point": exp.trials, "group": exp.group,
                   "trials": len(exp.points) * exp.trials, "points_done": n_done,
                   "points_resumed": resumed},
    }


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------
def main(args) -> int:
    """``recurnet batch``: ``args.file``, ``args.out``, ``args.workers``, ``args.resume``, ``args.overrides``."""
    if args.workers is not None and args.workers < 1:
        raise RecurnetError(f"--workers must be >= 1, got {args.workers}")
    exp = load_experiment(resolve_shipped(args.file, "experiments"), args.overrides)
    with forcing(bool(getattr(args, "force", False))):
        report = run_experiment(exp, args.out, workers=args.workers, resume=args.resume)
    print(format_table(exp, report.summary, report.columns, rows_by_point=report.rows_by_point))
    extra = f", {report.points_resumed} resumed" if report.points_resumed else ""
    print(f"{report.points} points x {exp.trials} trials in {report.elapsed_s:.1f} s{extra}; results in {report.out}/")
    return 0
