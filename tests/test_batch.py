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
    kept = sorted((part / "points").glob("p*.json"))
    assert len(kept) >= 2
    assert json.loads(read(part / "meta.json"))["status"] == "interrupted"
    # without --resume the directory is refused
    with pytest.raises(RecurnetError, match="--resume"):
        run_experiment(exp, part, workers=1, progress=False, plots=False)
    rep = run_experiment(exp, part, workers=2, resume=True, progress=False, plots=False)
    assert rep.points_resumed == len(kept) and rep.points_run == 4 - len(kept)
    for f in ("results.csv", "summary.csv"):
        assert read(part / f) == read(full / f)


def test_killed_run_resumes_from_point_files(tmp_path):
    # A kill -9 leaves point files and a "running" meta.json; --resume finishes from there.
    exp = write_exp(tmp_path, SMALL)
    out = tmp_path / "o"
    run_experiment(exp, out, workers=1, progress=False, plots=False)
    want = read(out / "results.csv")
    for f in list((out / "points").glob("p*.json"))[:2]:
        f.unlink()
    (out / "results.csv").unlink()
    (out / "points" / ".p000009.json.tmp123").write_text("{torn")  # a write cut short
    rep = run_experiment(exp, out, workers=1, resume=True, progress=False, plots=False)
    assert rep.points_run == 2 and read(out / "results.csv") == want


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
    with pytest.raises(ScenarioError, match="grid.load: derived key 'load' is for hopfield, bam networks, "
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
                           "grid.load=[0.05, 0.1, 0.2, 0.25]", 'grid.network.learning=["hebbian", "storkey"]'])
    rep = run_experiment(exp, tmp_path / "cap", workers=2, progress=False, plots=False)
    succ = {(r["load"], r["network.learning"]): r["success_mean"] for r in rep.summary}
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
