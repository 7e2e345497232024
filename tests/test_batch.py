"""Batch experiments: determinism across worker counts, resume, interruption, validation, physics."""
from __future__ import annotations

import csv
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from recurnet_sim import cli
from recurnet_sim.batch import mean_ci, proportion_ci, run_experiment
from recurnet_sim.errors import RecurnetError, ScenarioError
from recurnet_sim.experiment import expand_values, group_seed, load_experiment

ROOT = Path(__file__).resolve().parent.parent
BASE = ROOT / "scenarios" / "experiments" / "base" / "hopfield_random.toml"
EXPERIMENTS = sorted((ROOT / "scenarios" / "experiments").glob("*.toml"))


def write_exp(tmp_path: Path, body: str, name: str = "exp.toml") -> Path:
    p = tmp_path / name
    p.write_text(body.replace("@BASE@", BASE.as_posix()), encoding="utf-8")
    return p


SMALL = """
[experiment]
base = "@BASE@"
seed = 5
trials = 6
group = 3
metrics = ["overlap", "success", "recalled_kind", "steps", "stop_reason", "final_energy"]
[set]
"network.size" = 120
[grid]
load = [0.05, 0.2]
"network.learning" = ["hebbian", "storkey"]
"""


def read(p: Path) -> str:
    return p.read_text(encoding="utf-8")


def rows(p: Path) -> list[dict]:
    with open(p, newline="") as f:
        return list(csv.DictReader(f))


def test_workers_1_and_2_give_identical_files(tmp_path):
    exp = write_exp(tmp_path, SMALL)
    a = run_experiment(exp, tmp_path / "w1", workers=1, progress=False, plots=False)
    b = run_experiment(exp, tmp_path / "w2", workers=2, progress=False, plots=False)
    assert a.points == 4 and a.trials == 24
    for f in ("results.csv", "summary.csv"):
        assert read(tmp_path / "w1" / f) == read(tmp_path / "w2" / f)
    # and through any Executor, here threads in this process
    with ThreadPoolExecutor(3) as ex:
        run_experiment(exp, tmp_path / "th", executor=ex, progress=False, plots=False)
    assert read(tmp_path / "w1" / "results.csv") == read(tmp_path / "th" / "results.csv")
    res = rows(tmp_path / "w1" / "results.csv")
    assert len(res) == 24
    assert [r["trial"] for r in res[:6]] == [str(t) for t in range(6)]
    # seeds come from (base seed, point, group) spawn keys and are recorded
    assert res[0]["seed"] == str(group_seed(5, 0, 0)) and res[3]["seed"] == str(group_seed(5, 0, 1))
    assert res[3]["seed_trial"] == "0"
    meta = json.loads(read(tmp_path / "w1" / "meta.json"))
    assert meta["status"] == "complete" and meta["counts"]["points"] == 4 and meta["base_seed"] == 5


def test_a_recorded_seed_replays_its_trial(tmp_path):
    from recurnet_sim.scenario import build_simulation

    exp = write_exp(tmp_path, SMALL)
    run_experiment(exp, tmp_path / "o", workers=1, progress=False, plots=False)
    r = rows(tmp_path / "o" / "results.csv")[4 + 2 * 6]  # point 2, trial 4
    e = load_experiment(exp)
    sim = build_simulation(e.scenarios[2], seed=int(r["seed"]), trials=1, first_trial=int(r["seed_trial"]))
    res = sim.run()
    assert repr(res.extra["target_overlap"]) == r["overlap"] and str(res.steps) == r["steps"]


def stored(out: Path) -> int:
    from recurnet_sim.store import ResultStore

    with ResultStore.open(out) as st:
        return st.count()


def test_interrupted_run_keeps_points_and_resume_matches_full_run(tmp_path):
    exp = write_exp(tmp_path, SMALL)
    full = tmp_path / "full"
    run_experiment(exp, full, workers=1, progress=False, plots=False)

    part = tmp_path / "part"

    def stop_after_two(n, total):
        if n == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_experiment(exp, part, workers=1, progress=False, plots=False, on_point=stop_after_two)
    kept = stored(part)
    assert 2 <= kept < 4 and not (part / "points").exists()  # one store, no per-point files
    assert json.loads(read(part / "meta.json"))["status"] == "interrupted"
    # without --resume the directory is refused
    with pytest.raises(RecurnetError, match="--resume"):
        run_experiment(exp, part, workers=1, progress=False, plots=False)
    rep = run_experiment(exp, part, workers=2, resume=True, progress=False, plots=False)
    assert rep.points_resumed == kept and rep.points_run == 4 - kept
    for f in ("results.csv", "summary.csv"):
        assert read(part / f) == read(full / f)


def test_resume_runs_only_the_points_missing_from_the_store(tmp_path):
    # Whatever is missing from the store (never run, or lost with a killed driver) is run again,
    # and the exports are those of an uninterrupted run.
    import sqlite3

    exp = write_exp(tmp_path, SMALL)
    out = tmp_path / "o"
    run_experiment(exp, out, workers=1, progress=False, plots=False)
    want = read(out / "results.csv")
    con = sqlite3.connect(out / "results.db")
    con.execute("DELETE FROM points WHERE idx IN (1, 3)")
    con.commit()
    con.close()
    (out / "results.csv").unlink()
    rep = run_experiment(exp, out, workers=1, resume=True, progress=False, plots=False)
    assert rep.points_run == 2 and rep.points_resumed == 2 and read(out / "results.csv") == want


def test_resume_imports_the_point_files_of_an_older_run(tmp_path):
    # Runs made before the store kept one JSON file per point in points/: --resume reads them once.
    from recurnet_sim.experiment import load_experiment

    exp = write_exp(tmp_path, SMALL)
    full = tmp_path / "full"
    rep = run_experiment(exp, full, workers=1, progress=False, plots=False)
    e = load_experiment(exp)
    old = tmp_path / "old"
    (old / "points").mkdir(parents=True)
    for i in (0, 2):
        rec = {"index": i, "values": e.points[i], "spec_hash": e.spec_hash, "elapsed_s": 0.1,
               "rows": rep.rows_by_point[i]}
        (old / "points" / f"p{i:06d}.json").write_text(json.dumps(rec) + "\n")
    (old / "points" / ".p000009.json.tmp123").write_text("{torn")  # a write cut short
    res = run_experiment(exp, old, workers=1, resume=True, progress=False, plots=False)
    assert res.points_resumed == 2 and res.points_run == 2
    assert read(old / "results.csv") == read(full / "results.csv")


def test_driver_killed_with_sigkill_resumes_from_the_store(tmp_path):
    """The driver process is killed (SIGKILL) mid-run; its committed points survive in the store,
    the kernel drops its run lock, and --resume gives the files of an uninterrupted run."""
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    exp = write_exp(tmp_path, SMALL.replace('load = [0.05, 0.2]', 'load = [0.05, 0.1, 0.15, 0.2]'))
    full = tmp_path / "full"
    run_experiment(exp, full, workers=1, progress=False, plots=False)
    out = tmp_path / "killed"
    script = (
        "import sys, time\n"
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from recurnet_sim.batch import run_experiment\n"
        "with ThreadPoolExecutor(1) as ex:\n"
        "    run_experiment(sys.argv[1], sys.argv[2], executor=ex, progress=False, plots=False, target_task_s=1e-9,\n"
        "                   on_point=lambda n, t: time.sleep(0.25))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(exp), str(out)])
    try:
        deadline = time.monotonic() + 30
        n = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if (out / "results.db").exists():
                try:
                    con = sqlite3.connect(out / "results.db", timeout=5)
                    n = con.execute("SELECT count(*) FROM points").fetchone()[0]
                    con.close()
                except sqlite3.Error:
                    n = 0
            if n >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None and n >= 3, "the run ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert json.loads(read(out / "meta.json"))["status"] == "running"  # it never got to say otherwise
    rep = run_experiment(exp, out, workers=1, resume=True, progress=False, plots=False)
    assert rep.points_resumed >= 3 and rep.points_run == 8 - rep.points_resumed
    for f in ("results.csv", "summary.csv"):
        assert read(out / f) == read(full / f)


def test_a_second_run_on_the_same_directory_is_refused_while_the_first_runs(tmp_path):
    exp = write_exp(tmp_path, SMALL)
    out = tmp_path / "o"
    seen = []

    def second(n, total):
        if n == 1:
            for resume in (True, False):
                with pytest.raises(RecurnetError) as info:
                    run_experiment(exp, out, workers=1, resume=resume, progress=False, plots=False)
                seen.append(str(info.value))

    with ThreadPoolExecutor(1) as ex:
        run_experiment(exp, out, executor=ex, progress=False, plots=False, on_point=second)
    assert len(seen) == 2
    for msg in seen:
        assert "is in use by another recurnet batch run (pid " in msg and "\n" not in msg
    # once the first run is over, the directory is free again
    assert run_experiment(exp, out, workers=1, resume=True, progress=False, plots=False).points_run == 0


def test_a_foreign_results_db_is_refused_and_force_replaces_it(tmp_path):
    from recurnet_sim.errors import OutputError
    from recurnet_sim.writer import forcing

    exp = write_exp(tmp_path, SMALL)
    out = tmp_path / "o"
    out.mkdir()
    (out / "results.db").write_bytes(b"my own database")
    with pytest.raises(OutputError, match="results.db: exists and was not written by recurnet"):
        run_experiment(exp, out, workers=1, progress=False, plots=False)
    assert (out / "results.db").read_bytes() == b"my own database" and not (out / "meta.json").exists()
    with pytest.raises(RecurnetError, match="is not a recurnet result store"):
        run_experiment(exp, out, workers=1, resume=True, progress=False, plots=False)
    with forcing(True):
        rep = run_experiment(exp, out, workers=1, progress=False, plots=False)
    assert rep.complete and stored(out) == 4


def test_a_grid_whose_output_would_not_fit_is_refused_with_the_estimate(tmp_path, monkeypatch):
    import collections

    import recurnet_sim.batch as batch

    exp = write_exp(tmp_path, SMALL.replace('load = [0.05, 0.2]', 'load = { start = 0.01, stop = 0.5, num = 1000 }')
                    .replace('"network.learning" = ["hebbian", "storkey"]', 'cue_overlap = { start = 0.1, stop = 1, num = 1000 }'))
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(batch.shutil, "disk_usage", lambda p: usage(10**9, 10**9 - 5 * 10**6, 5 * 10**6))
    with pytest.raises(RecurnetError) as info:
        run_experiment(exp, tmp_path / "o", workers=1, progress=False, plots=False)
    msg = str(info.value)
    assert "the output would not fit: 1,000,000 points x 6 trials = 6,000,000 rows need about " in msg
    assert " GB in " in msg and "but only 5.0 MB is free there" in msg
    assert not (tmp_path / "o").exists()


def test_parquet_export_is_skipped_with_a_message_without_pyarrow(tmp_path, capsys, monkeypatch):
    import recurnet_sim.batch as batch

    monkeypatch.setattr(batch, "parquet_available", lambda: False)
    exp = write_exp(tmp_path, SMALL)
    rep = run_experiment(exp, tmp_path / "o", workers=1, plots=False, export=("parquet",))
    assert rep.complete and not (tmp_path / "o" / "results.parquet").exists()
    assert "--export parquet: pyarrow is not installed (pip install pyarrow)" in capsys.readouterr().err


def test_files_named_by_the_scenario_travel_with_the_task(tmp_path):
    """A worker that cannot see the pattern file the base scenario names gets its bytes with the
    task: the rows are those of a worker that reads the file itself."""
    import shutil

    from recurnet_sim.batch import make_plan, run_chunk

    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(ROOT / "assets" / "patterns" / "letters.txt", src / "mine.txt")
    (src / "base.toml").write_text('[network]\ntype = "hopfield"\nlearning = "hebbian"\n'
                                   '[patterns]\nsource = "mine.txt"\nnames = ["A", "B", "C"]\n'
                                   '[initial]\nkind = "pattern"\npattern = "A"\nnoise = 0.2\n')
    (src / "exp.toml").write_text('[experiment]\nbase = "base.toml"\ntrials = 3\ngroup = 3\n'
                                  'metrics = ["overlap", "steps"]\n[grid]\n"initial.noise" = [0.1, 0.3]\n')
    exp = load_experiment(src / "exp.toml")
    plan = make_plan(exp)
    assert list(plan.assets) == ["mine.txt"]
    here = run_chunk(plan, (0, 1))
    moved = tmp_path / "moved"
    src.rename(moved)  # the driver's files are gone: what the worker runs comes with the task
    import pickle

    import recurnet_sim.batch as batch

    batch._PLAN_CACHE.clear()  # as in a fresh worker process
    there = run_chunk(pickle.loads(pickle.dumps(plan)), (0, 1))
    assert there["error"] is None and [p[2] for p in there["points"]] == [p[2] for p in here["points"]]


def test_a_million_point_grid_validates_without_listing_it_and_resumes_after_a_kill(tmp_path, monkeypatch):
    """The grid is never listed: validation parses each value of each key plus a fixed sample of
    points (not 10^6 scenarios), point i is computed from i, and a run of it stops and resumes."""
    import time

    import recurnet_sim.experiment as experiment
    import recurnet_sim.scenario as scenario

    exp_path = write_exp(tmp_path, """
[experiment]
base = "@BASE@"
trials = 1
group = 1
metrics = ["overlap", "steps"]
[set]
"network.size" = 16
[grid]
load = { start = 0.0625, stop = 0.625, num = 10 }
cue_overlap = { start = 0.01, stop = 1.0, num = 100 }
"stop.max_steps" = { start = 1, stop = 1000, step = 1 }
""")
    calls = []
    real = scenario.parse_scenario
    monkeypatch.setattr(scenario, "parse_scenario", lambda *a, **k: calls.append(1) or real(*a, **k))
    t0 = time.perf_counter()
    exp = load_experiment(exp_path)
    took = time.perf_counter() - t0
    print(f"10^6-point grid validated in {took:.3f} s ({len(calls)} scenarios parsed)")
    assert len(exp.points) == 10**6
    # the base, the [set] key, each value of each grid key, the sample
    assert len(calls) == 1 + 1 + (10 + 100 + 1000) + experiment.FULL_CHECK
    assert exp.points[123456] == {"load": 0.125, "cue_overlap": 0.24, "stop.max_steps": 457}
    assert exp.scenarios[999_999].config["stop"]["max_steps"] == 1000
    monkeypatch.undo()

    out = tmp_path / "big"

    def stop_at(k):
        def cb(n, total):
            if n == k:
                raise KeyboardInterrupt
        return cb

    with ThreadPoolExecutor(1) as ex, pytest.raises(KeyboardInterrupt):
        run_experiment(exp, out, executor=ex, progress=False, plots=False, on_point=stop_at(30))
    first = stored(out)
    assert first >= 30
    with ThreadPoolExecutor(1) as ex, pytest.raises(KeyboardInterrupt):
        run_experiment(exp, out, executor=ex, resume=True, progress=False, plots=False, on_point=stop_at(30))
    assert stored(out) >= first + 30
    from recurnet_sim.store import ResultStore

    with ResultStore.open(out) as st:
        got = dict(st.iter_points(10**6))
    # the stored points are the first ones, in order: nothing was run twice or skipped
    assert sorted(got) == list(range(len(got)))
    e_small = load_experiment(exp_path, ['grid.load=[0.0625]', 'grid.cue_overlap=[0.01]',
                                         'grid.stop.max_steps=[1, 2, 3]'])
    rep = run_experiment(e_small, tmp_path / "small", workers=1, progress=False, plots=False)
    assert [rep.rows_by_point[i][0]["overlap"] for i in range(3)] == [got[i][0]["overlap"] for i in range(3)]


def test_resume_refuses_a_different_experiment(tmp_path):
    exp = write_exp(tmp_path, SMALL)
    run_experiment(exp, tmp_path / "o", workers=1, progress=False, plots=False)
    other = load_experiment(exp, ["experiment.trials=4"])
    with pytest.raises(RecurnetError, match="different experiment"):
        run_experiment(other, tmp_path / "o", workers=1, resume=True, progress=False, plots=False)


@pytest.mark.parametrize("body, message", [
    ('[grid]\n"network.sizee" = [10]', "grid.network.sizee: unknown key: network has no key 'sizee' (did you mean 'network.size'?)"),
    ("[grid]", "grid: is empty"),
    ('[grid]\n"network.size" = []', "grid.network.size: is an empty list"),
    ('[grid]\n"network.learning" = ["hebb"]', "grid.network.learning[0]: must be one of 'hebbian', 'storkey', 'pseudo_inverse', got 'hebb' (did you mean 'hebbian'?)"),
    ('[grid]\n"network.size" = [100, 1]', "grid.network.size[1]: must be an integer in [2, 20000] (or \"none\"), got 1"),
    ('[grid]\nload = [0.1, -0.2]', "grid.load[1]: must be a number >= 0, got -0.2"),
    ('[grid]\n"scenario.seed" = [1, 2]', "grid.scenario.seed: cannot be swept: it is given by experiment.seed"),
    ('[grid]\nload = {start = 0.1, stop = 0.3}', "grid.load: a range table needs exactly one of step or num"),
    ('[grid]\nload = [0.1]\n"patterns.count" = [3]', "is set by the derived key 'load'"),
    ('[set]\n"dynamics.schedule" = "sync"\n[grid]\nload = [0.1]', "set.dynamics.schedule: must be one of"),
])
def test_bad_experiment_is_refused_before_any_work(tmp_path, body, message):
    head = '[experiment]\nbase = "@BASE@"\ntrials = 2\n'
    exp = write_exp(tmp_path, head + body)
    with pytest.raises(ScenarioError) as info:
        run_experiment(exp, tmp_path / "o", workers=1, progress=False, plots=False)
    assert message in str(info.value)
    assert str(info.value).startswith("exp.toml: ")
    assert not (tmp_path / "o").exists()


def test_derived_keys_come_from_the_base_scenarios_family(tmp_path):
    # The same derived key name means what the base scenario's family declares: load = P/N sets
    # patterns.count for a Hopfield net, pairs.count (P / min(n_x, n_y)) for a BAM.
    hop = load_experiment(write_exp(tmp_path, '[experiment]\nbase = "@BASE@"\n[set]\n"network.size" = 200\n'
                                              '[grid]\nload = [0.1]\ncue_overlap = [0.6]\n'))
    cfg = hop.scenarios[0].config
    assert cfg["patterns"]["count"] == 20 and cfg["initial"]["noise"] == pytest.approx(0.2)
    bam_base = (ROOT / "scenarios" / "experiments" / "base" / "bam_random.toml").as_posix()
    bam = load_experiment(write_exp(tmp_path, f'[experiment]\nbase = "{bam_base}"\n[set]\n"pairs.n_x" = 40\n'
                                              '"pairs.n_y" = 30\n[grid]\nload = [0.1]\n', "bam.toml"))
    assert bam.scenarios[0].config["pairs"]["count"] == 3
    # a BAM of named letter pairs has no n_x, n_y to count the load against: its family says so
    letters = (ROOT / "scenarios" / "bam_letters.toml").as_posix()
    with pytest.raises(ScenarioError, match=r"grid.load\[0\]: needs pairs.n_x and pairs.n_y"):
        load_experiment(write_exp(tmp_path, f'[experiment]\nbase = "{letters}"\n[grid]\nload = [0.5]\n', "l.toml"))
    with pytest.raises(ScenarioError, match=r"grid.lod: unknown key: a scenario has no key 'lod' \(did you mean 'load'\?\)"):
        load_experiment(write_exp(tmp_path, '[experiment]\nbase = "@BASE@"\n[grid]\nlod = [0.1]\n'))
    boltz = (ROOT / "scenarios" / "boltzmann_sample.toml").as_posix()
    with pytest.raises(ScenarioError, match="grid.load: derived key 'load' is for hopfield, (.*, )?bam networks, "
                                            "the base scenario is boltzmann"):
        load_experiment(write_exp(tmp_path, f'[experiment]\nbase = "{boltz}"\n[grid]\nload = [0.1]\n', "b.toml"))


def test_unknown_metric_and_key_errors_through_the_cli(tmp_path, capsys):
    exp = write_exp(tmp_path, '[experiment]\nbase = "@BASE@"\nmetrics = ["overlapp"]\n[set]\n"network.size" = 50\n'
                              '[grid]\nload = [0.1]\n[experimen]\n')
    assert cli.main(["batch", str(exp), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "exp.toml: experimen: unknown key (did you mean 'experiment'?)" in err and "Traceback" not in err
    exp.write_text(read(exp).replace("[experimen]\n", ""))
    assert cli.main(["batch", str(exp), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "experiment.metrics[0]: unknown metric 'overlapp' (did you mean 'overlap'?)" in err


def test_cli_runs_prints_table_and_writes_plots(tmp_path, capsys):
    exp = write_exp(tmp_path, SMALL)
    out = tmp_path / "o"
    code = cli.main(["batch", str(exp), "--out", str(out), "--workers", "2", "--set", "experiment.trials=3",
                     "--set", "grid.load=[0.1]"])
    assert code == 0
    cap = capsys.readouterr()
    assert "load" in cap.out and "overlap" in cap.out and "2 points x 3 trials" in cap.out
    assert "2/2 points, 6/6 trials" in cap.err and "ETA" in cap.err
    assert len(rows(out / "results.csv")) == 6
    for m in ("overlap", "success", "recalled_kind", "steps", "stop_reason", "final_energy"):
        assert (out / f"{m}.png").stat().st_size > 1000


def test_ranges_and_statistics():
    assert expand_values({"start": 0.02, "stop": 0.1, "step": 0.02}, "g", "f") == [0.02, 0.04, 0.06, 0.08, 0.1]
    assert expand_values({"start": 100, "stop": 400, "step": 100}, "g", "f") == [100, 200, 300, 400]
    assert expand_values({"start": 1, "stop": 100, "num": 3, "log": True}, "g", "f") == [1.0, 10.0, 100.0]
    st = mean_ci([1.0, 2.0, 3.0, float("nan")])
    assert st["n"] == 3 and st["mean"] == 2.0 and st["std"] == 1.0
    assert st["ci_high"] - 2.0 == pytest.approx(4.302652729911275 / 3 ** 0.5)
    w = proportion_ci([True] * 10)
    assert w["mean"] == 1.0 and w["ci_high"] == 1.0 and 0.65 < w["ci_low"] < 0.75


def test_capacity_hebb_falls_past_014_storkey_stays_higher(tmp_path):
    """Amit-Gutfreund-Sompolinsky: Hebbian retrieval collapses near alpha_c ~ 0.138; Storkey's
    rule (Storkey 1997) holds at loads where Hebb has failed. Small network, few trials."""
    exp = load_experiment(ROOT / "scenarios" / "experiments" / "hopfield_capacity.toml",
                          ["network.size=200", "experiment.trials=12", "experiment.group=12",
                           "grid.load=[0.05, 0.1, 0.2, 0.25]", 'grid.rule=["hebbian", "storkey"]',
                           "initial.noise=0.05"])
    rep = run_experiment(exp, tmp_path / "cap", workers=2, progress=False, plots=False)
    succ = {(r["load"], r["rule"]): r["success_mean"] for r in rep.summary}
    assert succ[(0.05, "hebbian")] == 1.0 and succ[(0.1, "hebbian")] >= 0.9
    assert succ[(0.2, "hebbian")] <= 0.5 and succ[(0.25, "hebbian")] <= 0.25
    assert succ[(0.2, "storkey")] >= 0.9 and succ[(0.25, "storkey")] > succ[(0.25, "hebbian")] + 0.4


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_shipped_experiments_validate(path):
    exp = load_experiment(path)
    assert exp.points and exp.trials >= 1


def test_plot_references_are_validated_and_drawn(tmp_path):
    from recurnet_sim.batch import run_experiment
    from recurnet_sim.errors import ScenarioError
    from recurnet_sim.experiment import load_experiment

    path = ROOT / "scenarios" / "experiments" / "boltzmann_equilibrium.toml"
    with pytest.raises(ScenarioError, match="experiment.references.final_energy"):
        load_experiment(path, ["experiment.references={final_energy = \"nope\"}"])
    exp = load_experiment(path, ["grid.stop.max_steps=[1, 5]", "experiment.trials=20", "experiment.group=20"])
    assert exp.references == {"exact_p_final_state": "exact_p_expected", "final_energy": "exact_mean_energy"}
    report = run_experiment(exp, tmp_path / "out", workers=1, progress=False)
    assert (tmp_path / "out" / "final_energy.png").stat().st_size > 5000
    # the exact equilibrium energy is the same at every point of one temperature
    rows = [r for r in report.summary if r["dynamics.temperature"] == 1.0]
    assert len({round(r["exact_mean_energy_mean"], 9) for r in rows}) == 1
