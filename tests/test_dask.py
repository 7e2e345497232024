"""Batch runs on a real Dask cluster (``pip install "recurnet_sim[dask]"``; .ci/run installs it).

A ``distributed.LocalCluster`` of 2 worker processes runs a small shipped experiment: the exported
files are byte-identical to one local worker's, also when a worker is killed in the middle of the
run (the scheduler reruns the tasks it held; points depend only on their index).
"""
from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed", reason='the Dask tests need pip install "recurnet_sim[dask]"')

from recurnet_sim import cli  # noqa: E402
from recurnet_sim.batch import run_experiment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CAPACITY = ROOT / "scenarios" / "experiments" / "hopfield_capacity.toml"
#: the golden record's small run of the capacity experiment (49 points x 2 trials, N = 40)
SMALL = ["experiment.trials=2", "experiment.group=2", "network.size=40",
         "grid.load={start = 0.02, stop = 160, num = 7, log = true}"]
FILES = ("results.csv", "summary.csv")


@pytest.fixture(scope="module")
def client():
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The files of ``--workers 1`` (plots included)."""
    out = tmp_path_factory.mktemp("w1") / "out"
    run_experiment(CAPACITY, out, workers=1, progress=False, overrides=SMALL)
    return out


def pngs(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("*.png"))


def test_a_local_cluster_gives_the_files_of_one_local_worker(client, reference, tmp_path):
    out = tmp_path / "dask"
    rep = run_experiment(CAPACITY, out, dask=client, progress=False, overrides=SMALL)
    assert rep.complete and rep.points == 49 and rep.points_run == 49
    assert len(client.scheduler_info()["workers"]) == 2
    assert rep.tasks < 49  # many points per task once the first ones are measured
    for f in FILES:
        assert (out / f).read_bytes() == (reference / f).read_bytes(), f
    assert pngs(out) == pngs(reference) and len(pngs(out)) == 6
    for name in pngs(out):
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_killed_worker_loses_only_its_tasks_and_the_files_are_the_same(client, reference, tmp_path):
    out = tmp_path / "killed"
    before = client.run(os.getpid)
    killed = []

    def kill_one(n, total):
        if n == 4 and not killed:
            # the worker holding the most tasks dies mid-run (killed process, lost node)
            busy = client.processing()
            addr = max(before, key=lambda a: len(busy.get(a, ())))
            killed.append((before[addr], len(busy.get(addr, ()))))
            os.kill(before[addr], signal.SIGKILL)

    rep = run_experiment(CAPACITY, out, dask=client, progress=False, plots=False, overrides=SMALL,
                         on_point=kill_one, target_task_s=0.05)
    assert killed and rep.complete and rep.points_run == 49 and rep.workers_lost == 1
    victim, held = killed[0]
    print(f"killed worker pid {victim} holding {held} task(s); {rep.tasks} tasks in all")
    for f in FILES:
        assert (out / f).read_bytes() == (reference / f).read_bytes(), f
    client.wait_for_workers(2, timeout=30)  # the nanny replaced the dead process
    assert victim not in client.run(os.getpid).values()


def test_cli_dask_local_starts_a_cluster_and_prints_its_dashboard(tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli.main(["batch", "hopfield_basins", "--out", str(out), "--dask", "local:2", "--set",
                     "experiment.trials=2", "--set", "experiment.group=2", "--set", "grid.cue_overlap=[0.6, 1.0]"])
    assert code == 0
    cap = capsys.readouterr()
    assert "Dask scheduler tcp://" in cap.err and "2 worker thread(s); dashboard: http" in cap.err
    assert "6/6 points, 12/12 trials" in cap.err and "6 points x 2 trials" in cap.out
    ref = tmp_path / "ref"
    run_experiment(ROOT / "scenarios" / "experiments" / "hopfield_basins.toml", ref, workers=1, progress=False,
                   plots=False, overrides=["experiment.trials=2", "experiment.group=2", "grid.cue_overlap=[0.6, 1.0]"])
    assert (out / "results.csv").read_bytes() == (ref / "results.csv").read_bytes()
    assert cli.main(["batch", "hopfield_basins", "--out", str(tmp_path / "x"), "--dask", "local:0"]) == 1
    assert "--dask local:0: N must be >= 1" in capsys.readouterr().err
