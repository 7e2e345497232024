"""Write the golden record: what every shipped scenario and experiment outputs today.

Run ``python tests/golden/record.py`` only on purpose, in a commit of its own that says why the
output changed. ``tests/test_golden.py`` compares the program against these files.

* ``scenarios.json``: the ``recurnet run NAME --headless --json`` object of every shipped scenario,
  without ``elapsed_s`` (wall time, never reproducible).
* ``experiments/NAME.summary.csv``: ``summary.csv`` of a small run of every shipped experiment
  (the overrides in :data:`SMALL`), run in this process (workers only change where points run,
  never what they compute).
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

#: overrides of a small run of each experiment: few trials, and a small network where the shipped
#: one is large (hopfield_capacity stores up to 16 000 patterns in 100 units)
SMALL = {
    "hopfield_capacity": ["experiment.trials=2", "experiment.group=2", "network.size=40",
                          "grid.load={start = 0.02, stop = 160, num = 7, log = true}"],
    "srn_memory_span": ["experiment.trials=2", "experiment.group=2", "grid.task.lag=[5, 10]", "stop.max_steps=5"],
}
DEFAULT_SMALL = ["experiment.trials=4", "experiment.group=2"]


def scenario_records() -> dict[str, dict]:
    from recurnet_sim.scenario import shipped_scenarios
    return scenario_records_for([p.stem for p in shipped_scenarios()])


def scenario_records_for(names) -> dict[str, dict]:
    from recurnet_sim.cli import main
    from recurnet_sim.paths import scenarios_dir

    out = {}
    for name in names:
        path = scenarios_dir() / f"{name}.toml"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(io.StringIO()):
            code = main(["run", str(path), "--headless", "--json"])
        if code != 0:
            raise SystemExit(f"{path.name}: exit {code}")
        d = json.loads(buf.getvalue())
        out[path.stem] = strip_elapsed(d)
    return out


def strip_elapsed(d):
    if isinstance(d, dict):
        return {k: strip_elapsed(v) for k, v in d.items() if k != "elapsed_s"}
    if isinstance(d, list):
        return [strip_elapsed(v) for v in d]
    return d


def experiment_files() -> list[Path]:
    from recurnet_sim.paths import scenarios_dir
    return sorted((scenarios_dir() / "experiments").glob("*.toml"))


def experiment_summary(path: Path) -> str:
    from recurnet_sim.batch import run_experiment

    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(1) as pool:
        run_experiment(path, Path(tmp) / "out", executor=pool, progress=False, plots=False,
                       overrides=SMALL.get(path.stem, DEFAULT_SMALL))
        return (Path(tmp) / "out" / "summary.csv").read_text()


def main() -> None:
    sys.path.insert(0, str(ROOT))
    (HERE / "scenarios.json").write_text(json.dumps(scenario_records(), indent=1, sort_keys=True) + "\n")
    (HERE / "experiments").mkdir(exist_ok=True)
    for path in experiment_files():
        (HERE / "experiments" / f"{path.stem}.summary.csv").write_text(experiment_summary(path))
        print(f"recorded {path.stem}")


if __name__ == "__main__":
    main()
