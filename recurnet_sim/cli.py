"""The ``recurnet`` command: a thin layer over :mod:`recurnet_sim.scenario` and the engine.

Every error a user can cause is printed as one readable line (``recurnet: error: ...``) with a
non-zero exit status, never a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from . import __version__
from .errors import OutputError, RecurnetError
from .paths import has_display, resolve_shipped

EXIT_USAGE = 2
EXIT_ERROR = 1


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="recurnet", description="Simulate classic recurrent networks: "
                                 "Hopfield, BAM, Boltzmann machine, Elman and Jordan.")
    ap.add_argument("--version", action="version", version=f"recurnet_sim {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a scenario (live window when a display is available)")
    run.add_argument("file", help="scenario file, or the name of a shipped scenario")
    run.add_argument("--headless", action="store_true", help="never open a window")
    run.add_argument("--seed", type=int, help="override scenario.seed")
    run.add_argument("--steps", type=int, help="override stop.max_steps")
    run.add_argument("--trials", type=int, help="override scenario.trials (batch size)")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                     help="override any scenario key (validated like the file); repeatable")
    run.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    run.add_argument("--trace", metavar="OUT.npz", help="save the recorded trace")
    run.add_argument("--save-weights", metavar="OUT.npz",
                     help="after the run, save the learned weights (families with a weights file) for a scenario to load")
    run.add_argument("--record", metavar="DIR", help="viewer: save numbered PNG frames into DIR")
    run.add_argument("--screenshot", metavar="OUT.png", help="viewer: save the final frame")
    run.add_argument("--gif", metavar="OUT.gif", help="viewer: write an animated GIF of the run")
    run.add_argument("--frames", type=int, help="viewer: quit after this many frames")
    run.add_argument("--play", action="store_true",
                     help="viewer: start running (a window otherwise opens paused on the cue in lesson mode; "
                          "headless recording always plays)")
    run.add_argument("--no-status", dest="status", action="store_false",
                     help="viewer: frames, screenshots and GIFs without the status line")
    run.add_argument("--schedule-summary", action="store_true", help="print the order of each tick's phases")
    run.add_argument("--force", action="store_true",
                     help="replace output files even if recurnet did not write them (it refuses by default)")

    val = sub.add_parser("validate", help="check scenario files; exit 0 when all are valid")
    val.add_argument("files", nargs="+")
    val.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")

    sub.add_parser("list", help="list the shipped scenarios")

    att = sub.add_parser("attractors", help="enumerate the state space of a small network (N <= 20)")
    att.add_argument("file")
    att.add_argument("--schedule", choices=("sync", "async"), default=None,
                     help="update schedule analysed (default: the scenario's own, as the window's attractor view)")
    att.add_argument("--json", action="store_true")
    att.add_argument("--graphml", metavar="OUT.graphml")
    att.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")

    bat = sub.add_parser("batch", help="run a headless sweep of seeded trials into CSV and plots")
    bat.add_argument("file", help="experiment file")
    bat.add_argument("--out", metavar="DIR")
    bat.add_argument("--workers", type=int, help="local worker processes (default: every core)")
    bat.add_argument("--dask", metavar="ADDRESS|local[:N]",
                     help="run on a Dask cluster: a scheduler address, or local:N worker processes "
                          "(pip install \"recurnet_sim[dask]\")")
    bat.add_argument("--resume", action="store_true", help="finish the run stored in --out")
    bat.add_argument("--export", action="append", choices=("parquet",), default=[],
                     help="also export results.parquet (needs pyarrow)")
    bat.add_argument("--force", action="store_true",
                     help="replace files in --out even if recurnet did not write them")
    bat.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.command is None:
        ap.print_help()
        return EXIT_USAGE
    try:
        return _COMMANDS[args.command](args)
    except RecurnetError as exc:
        lines = str(exc).splitlines() or [type(exc).__name__]
        for line in lines:
            print(f"recurnet: error: {_clip_line(line)}", file=sys.stderr)
        return EXIT_ERROR
    except RecursionError:  # e.g. --set 'x=[[[[...]]]]' 600 deep (files are refused by read_toml)
        print("recurnet: error: input nested too deeply (tables or arrays more than a few hundred levels)",
              file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("recurnet: interrupted", file=sys.stderr)
        return 130
    except MemoryError as exc:
        print(f"recurnet: error: not enough memory for this network ({exc}); use fewer units or trials",
              file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        return 0


#: Longest error line printed: a value echoed back (a 5000-character string, a huge list) is cut
#: in the middle so the line stays one readable line.
MAX_ERROR_LINE = 600


def _clip_line(line: str) -> str:
    if len(line) <= MAX_ERROR_LINE:
        return line
    return f"{line[:MAX_ERROR_LINE * 2 // 3]} ... {line[-MAX_ERROR_LINE // 4:]} ({len(line)} characters)"


def cmd_run(args) -> int:
    from .writer import forcing

    with forcing(args.force):
        return _run(args)


def _run(args) -> int:
    from .scenario import build_simulation, load

    path = resolve_shipped(args.file)
    sc = load(path, args.overrides)
    _check_flags(args, path.name)
    sim = build_simulation(sc, seed=args.seed, trials=args.trials, max_steps=args.steps)
    try:
        _check_outputs(args, sim)  # a bad or protected path fails now, not after training and the run
    except OutputError as exc:
        if exc.key:  # a scenario key named the path: say which file that key is in
            raise RecurnetError(f"{path.name}: {exc}") from None
        raise
    if args.schedule_summary:
        print(sim.schedule_summary(), file=sys.stderr)
    wants_window = not args.headless and not args.json
    recording = bool(args.record or args.screenshot or args.gif)
    use_viewer = False
    window = False
    if wants_window or recording:
        if has_display() or recording:
            use_viewer = _viewer_available()
            if not use_viewer and wants_window:
                print("recurnet: note: the live viewer is not available; running headless", file=sys.stderr)
        elif wants_window:
            print("recurnet: note: no display found; running headless (use --headless to silence this)", file=sys.stderr)
    if use_viewer and wants_window:
        from .viewer import window_available
        window = window_available()
        if not window:
            print(f"recurnet: note: cannot open a window on display {os.environ.get('DISPLAY', '')!r}; running "
                  "headless (use --headless to silence this)", file=sys.stderr)
            use_viewer = recording
    t0 = time.perf_counter()
    if use_viewer:
        from .viewer import run_viewer
        run_viewer(sim, record_dir=args.record, screenshot=args.screenshot, gif=args.gif,
                   max_frames=args.frames, headless=not window, play=True if (args.play or not window) else None,
                   status=args.status)
    else:
        _train_with_progress(sim)
        t0 = time.perf_counter()  # elapsed is the run's, as when training ran inside build
        _run_with_progress(sim)
    elapsed = time.perf_counter() - t0
    results = sim.results()
    for b, r in enumerate(results):
        r.elapsed_s = round(elapsed, 6)
        # the honest outcome (stored / reversed / mixture / spurious ...): a family's summary gives
        # it; one without a summary gets the Model default, so every --json has the field
        if "outcome" not in r.extra:
            r.extra["outcome"] = sim.model.outcome(b)
    if args.trace:
        sim.trace().save(args.trace)
    if args.save_weights:
        _save_weights(sim, args.save_weights)
    if args.json:
        if len(results) == 1:
            out = results[0].to_dict()
        else:
            # Top-level keys describe trial 0 (so scripts read one schema); every trial follows.
            out = results[0].to_dict()
            out["n_trials"] = len(results)
            out["trials"] = [r.to_dict() for r in results]
        json.dump(_strict_json(out), sys.stdout, default=_json_default, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(format_summary(sim, results, elapsed))
        if args.trace:
            print(f"trace saved to {args.trace}")
    return 0


#: The run flags that override a scenario key: (flag, table, key). Each is validated by that key's
#: Field (same type and limits as in a file) before anything is built.
_FLAG_KEYS = (("seed", "scenario", "seed"), ("trials", "scenario", "trials"), ("steps", "stop", "max_steps"))


def _check_flags(args, source: str) -> None:
    """Refuse ``--seed -1``, ``--trials 0``, ``--trials 1000000``, ``--steps 0``... with the same
    limits as ``scenario.seed``, ``scenario.trials`` and ``stop.max_steps`` in a file (one line:
    ``"<file>: --trials (scenario.trials): must be ..."``)."""
    from .errors import ScenarioError, ValidationError
    from .scenario import common_tables
    from .spec import check_value

    tables = common_tables()
    errors: list[ValidationError] = []
    for flag, table, key in _FLAG_KEYS:
        value = getattr(args, flag, None)
        if value is not None:
            check_value(value, tables[table].table.fields[key], f"--{flag} ({table}.{key})", errors, source)
    if errors:
        raise ScenarioError(errors, source)


def _check_outputs(args, sim) -> None:
    """Check every file the run will write (``--trace``, ``--save-weights``, ``--screenshot``,
    ``--gif``, ``--record`` and the training's outputs) before anything runs."""
    from .writer import check_dir, check_target

    for p in (args.trace, args.screenshot, args.gif):
        if p:
            check_target(p)
    if args.save_weights:
        if sim.family is None or sim.family.save_weights is None:
            raise RecurnetError(f"a {sim.model.network_type} network has no learned weights to save")
        check_target(args.save_weights)
    if args.record:
        check_dir(args.record)
    sim.check_outputs()


def _train_with_progress(sim) -> None:
    """Drive the training ticks before tick 0, with a progress line on stderr
    ("training: cycle 40/200, max_dw 2, ...") when it takes more than half a second."""
    if not sim.training_pending:
        return
    from .progress import ProgressLine

    unit = sim.training.unit
    line = ProgressLine("training", enabled=not sim.training.quiet)
    last = [""]

    def show(i: int, n: int, info: dict) -> None:
        def text() -> str:
            parts = [f"{unit} {i}/{n}"] + [f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in info.items() if k != unit]
            return ", ".join(parts)
        last[0] = text
        line.update(text)

    sim.train(show)
    line.close(last[0]() if last[0] else None)


def _run_with_progress(sim) -> None:
    """Run headless; a long run (training, say) shows its tick and energy/loss on stderr."""
    from .progress import ProgressLine

    label = sim.model.energy_label
    line = ProgressLine(sim.name)
    sim.advance(progress=lambda: line.update(
        lambda: f"tick {sim.tick}/{sim.stop.max_steps}, mean {label} {float(sim.model.energy().mean()):.4g}, "
                f"{int(sim.active.sum())} of {len(sim.active)} trial(s) running"))
    line.close()


def _save_weights(sim, path: str) -> None:
    model = sim.model
    save = sim.family.save_weights if sim.family is not None else None
    if save is None:
        raise RecurnetError(f"a {model.network_type} network has no learned weights to save")
    save(path, model)
    print(f"recurnet: weights saved to {path}", file=sys.stderr)


def _viewer_available() -> bool:
    import importlib.util
    return importlib.util.find_spec("recurnet_sim.viewer") is not None and importlib.util.find_spec("pygame") is not None


def _strict_json(o):
    """``o`` with every non-finite float (NaN, +-Infinity, numpy's too) as None, so the dump is
    strict JSON (``allow_nan=False``: a value missed here fails loudly instead of printing NaN)."""
    import math
    import numpy as np
    if isinstance(o, np.ndarray):
        o = o.tolist()
    elif isinstance(o, np.generic):
        o = o.item()
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _strict_json(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_strict_json(v) for v in o]
    return o


def _json_default(o):
    import numpy as np
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(type(o).__name__)


def format_summary(sim, results, elapsed: float) -> str:
    """Short human-readable summary of a finished run."""
    model = sim.model
    label = model.energy_label
    lines = [f"{sim.name} ({model.network_type}, {model.n_units} units, seed {sim.seed}, {len(results)} trial(s))"]
    for r in results[:10]:
        reason = r.stop_reason.replace("_", " ")
        if r.cycle_period:
            reason += f" of period {r.cycle_period}"
        # counted from 1 as the window counts them ("trial 1/3"); --json keeps the 0-based index
        head = f"  trial {r.trial + 1}: " if len(results) > 1 else "  "
        lines.append(f"{head}stopped: {reason} after {r.steps} step(s); final {label} {r.final_energy:.4g}")
        outcome = (r.extra or {}).get("outcome")
        if outcome:  # the same label the window shows (recurnet_sim.outcome)
            lines.append(" " * len(head) + f"outcome: {outcome.get('label') or outcome.get('kind')}")
        extra = _format_extra(r.extra, sim.family.summary_hidden if sim.family else (), indent=len(head))
        if extra:
            lines.append(" " * len(head) + extra)
        if len(results) == 1 and r.overlaps and len(r.overlaps) <= 12:
            lines.append("  overlaps: " + "  ".join(f"{k} {v:+.2f}" for k, v in r.overlaps.items()))
        if len(results) == 1 and r.energy:
            e = r.energy
            shown = e if len(e) <= 8 else e[:4] + ["..."] + e[-3:]
            # "at each": a value recorded every tick, not a rate per tick
            lines.append(f"  {label} at each {model.tick_unit}: " + " ".join(x if isinstance(x, str) else f"{x:.4g}" for x in shown))
    if len(results) > 10:
        lines.append(f"  ... {len(results) - 10} more trial(s)")
    grid = model.describe().get("grid_shape")
    if len(results) == 1 and grid and grid[0] * grid[1] == model.n_units and model.n_units <= 400 and model.unit_values[0] in (-1, 0):
        from .patterns import to_text
        import numpy as np
        s = model.state[0]
        s = np.where(s > (0 if model.unit_values[0] == -1 else 0.5), 1, -1)
        lines.append("  final state:")
        lines += ["    " + row for row in to_text(s, grid).splitlines()]
    lines.append(f"  elapsed {elapsed:.3f} s")
    return "\n".join(lines)


def _format_extra(extra: dict, hidden=(), indent: int = 2, width: int = 100) -> str:
    """The family's extra result fields (loss per phase, spectral radius...), wrapped; the family
    leaves out the ``hidden`` ones (shown elsewhere in the summary, or only useful in JSON)."""
    parts = []
    for k, v in extra.items():
        if k in hidden or k == "outcome" or v is None:
            continue
        if isinstance(v, bool):
            text = "yes" if v else "no"
        elif isinstance(v, float):
            text = f"{v:.4g}"
        elif isinstance(v, int):
            text = str(v)
        elif isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()):
            text = "{" + ", ".join(f"{a}: {b:.3g}" for a, b in v.items()) + "}"
        elif isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v):
            shown = [f"{x:.3g}" for x in (v if len(v) <= 5 else v[:3] + v[-1:])]
            if len(v) > 5:
                shown.insert(3, "...")
            text = "[" + " ".join(shown) + "]"
        elif isinstance(v, str):
            text = v
        else:
            continue
        parts.append(f"{k} {text}")
    import textwrap

    lines = textwrap.wrap("; ".join(parts), width=width, break_long_words=False)
    return ("\n" + " " * indent).join(lines[:4])


def cmd_validate(args) -> int:
    """Check scenario files. No side effects: nothing is trained, no file is written, nothing is
    printed but the verdict lines (and the errors)."""
    from .errors import ScenarioError
    from .scenario import build_simulation, declared_outputs, load

    bad = 0
    for f in args.files:
        try:
            sc = load(resolve_shipped(f), args.overrides)
            # the build checks assets and cross-key constraints; training is not run
            sim = build_simulation(sc, trials=1, train=False)
            for out in declared_outputs(sc, sim.model):
                out.check()  # e.g. training.save naming the scenario itself: refused, not written
            print(f"{f}: ok ({sc.network_type})")
        except ScenarioError as exc:
            bad += 1
            for line in str(exc).splitlines():
                print(f"recurnet: error: {_clip_line(line)}", file=sys.stderr)
        except RecurnetError as exc:
            bad += 1
            print(f"recurnet: error: {_clip_line(f'{f}: {exc}')}", file=sys.stderr)
    return EXIT_ERROR if bad else 0


def cmd_list(args) -> int:
    from .scenario import describe_file, shipped_scenarios

    files = shipped_scenarios()
    if not files:
        print("no shipped scenarios found")
        return 0
    experiments = sorted((files[0].parent / "experiments").glob("*.toml"))
    width = max(len(f.stem) for f in files + experiments)
    print("scenarios (recurnet run NAME):")
    for f in files:
        print(f"  {f.stem:<{width}}  {describe_file(f)}")
    if experiments:
        print("experiments (recurnet batch NAME):")
        for f in experiments:
            print(f"  {f.stem:<{width}}  {_describe_experiment(f)}")
    return 0


def _describe_experiment(path) -> str:
    from .scenario import read_toml

    try:
        return str(read_toml(path).get("experiment", {}).get("description", "")) or "(no description)"
    except RecurnetError as exc:
        return f"(unreadable: {exc})"


def cmd_attractors(args) -> int:
    from .scenario import build_simulation, load

    try:
        from .analysis.attractors import analyze_model
    except ImportError:
        raise RecurnetError("the attractor analysis is not available in this installation") from None
    sc = load(resolve_shipped(args.file), args.overrides)
    sim = build_simulation(sc, trials=1)
    schedule, why = args.schedule, "--schedule"
    if schedule is None:
        # the scenario's own schedule (hopfield_tiny: asynchronous), the one its run and the
        # window's attractor view use; --schedule still overrides
        from .viewspec import layout_for
        schedule, why = layout_for(sim.family, sim.model).attractor_schedule(sim.model), "the scenario's schedule"
        rule = sim.model.update_rule
        if rule:
            why += f" ({rule})"
    report = analyze_model(sim.model, schedule, family=sim.family)
    if args.graphml:
        report.write_graphml(args.graphml)  # through the atomic writer
    if args.json:
        out = report.to_dict()
        out["schedule_from"] = why
        json.dump(_strict_json(out), sys.stdout, default=_json_default, allow_nan=False)
        sys.stdout.write("\n")
    else:
        print(f"schedule: {'asynchronous' if schedule == 'async' else 'synchronous'} updates, from {why}")
        print(report.to_table())
        if args.graphml:
            print(f"graph written to {args.graphml}")
    return 0


def cmd_batch(args) -> int:
    try:
        from .batch import main as batch_main
    except ImportError:
        raise RecurnetError("the batch runner is not available in this installation") from None
    return batch_main(args)


_COMMANDS = {"run": cmd_run, "validate": cmd_validate, "list": cmd_list, "attractors": cmd_attractors,
             "batch": cmd_batch}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
