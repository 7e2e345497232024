"""Batch plots: named axes and legends from the experiment's labels, PNG at 200 dpi plus SVG,
series that stay distinguishable when equal, no empty category panels."""
from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from recurnet_sim.batch import run_experiment
from recurnet_sim.errors import ScenarioError
from recurnet_sim.experiment import load_experiment

ROOT = Path(__file__).resolve().parents[1]
SCHEDULES = ROOT / "scenarios" / "experiments" / "hopfield_schedules.toml"
SMALL = ["experiment.trials=4", "experiment.group=4", "network.size=40", "grid.load=[0.05, 0.3]"]


@pytest.fixture(scope="module")
def plotted(tmp_path_factory):
    """hopfield_schedules, small, with every figure kept open for inspection."""
    import matplotlib.pyplot as plt

    figs = []
    real_close = plt.close
    plt.close = lambda fig=None: figs.append(fig)
    try:
        out = tmp_path_factory.mktemp("plots") / "out"
        with ThreadPoolExecutor(1) as pool:
            run_experiment(SCHEDULES, out, executor=pool, progress=False, overrides=SMALL)
    finally:
        plt.close = real_close
    yield out, figs
    for f in figs:
        real_close(f)


def test_png_at_200_dpi_and_svg_beside_it(plotted):
    from PIL import Image

    out, _ = plotted
    for m in ("two_cycle", "stop_reason", "success", "overlap", "steps"):
        with Image.open(out / f"{m}.png") as im:
            assert im.info["dpi"] == pytest.approx((200, 200), abs=0.01)
            assert im.size[0] >= 1000  # 5.6 in x 200 dpi, not the old 572 px
        assert (out / f"{m}.svg").read_text().lstrip().startswith("<?xml")


def test_axes_and_legends_use_the_experiments_labels(plotted):
    out, _ = plotted
    svg = (out / "two_cycle.svg").read_text()
    texts = re.findall(r">([^<>]+)</text>", svg)  # svg.fonttype none: labels stay text
    joined = " | ".join(texts)
    assert "update schedule = synchronous" in joined and "update schedule = random" in joined
    assert "fraction of trials: ended in a 2-cycle" in joined
    assert any(t.startswith("load") for t in texts)  # the derived key's label on the x axis
    assert "dynamics.schedule" not in svg


def test_no_empty_category_panels(plotted):
    """stop_reason: one panel per stop reason that occurred; 'condition' (no stop condition in this
    scenario) gets none."""
    import csv

    out, figs = plotted
    rows = list(csv.DictReader((out / "summary.csv").open()))
    seen = {c.split("=", 1)[1].removesuffix("_mean") for c in rows[0] if c.startswith("stop_reason=") and c.endswith("_mean")
            if any(float(r[c]) > 0 for r in rows)}
    assert "condition" not in seen and seen
    fig = next(f for f in figs if "stop reason" in f._suptitle.get_text())
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == len(seen)
    assert {t.split(": ", 1)[1].replace(" ", "_") for t in titles} == seen
    for ax in fig.axes:
        assert ax.lines or ax.collections  # something drawn on every panel
    assert "condition" not in (out / "stop_reason.svg").read_text()


def test_series_differ_in_marker_and_dash(plotted):
    """The two asynchronous schedules often give the same numbers: each series still has its own
    marker and dash style, so one cannot hide the other."""
    _, figs = plotted
    fig = next(f for f in figs if "2-cycle" in f._suptitle.get_text())
    ax = fig.axes[0]
    series = [c.lines[0] for c in ax.containers]  # one errorbar container per series
    assert sorted(c.get_label() for c in ax.containers) == [f"update schedule = {s}" for s in
                                                            ("random", "sequential", "synchronous")]
    styles = {(ln.get_marker(), str(ln.get_linestyle())) for ln in series}
    assert len(styles) == 3
    assert len({ln.get_marker() for ln in series}) == 3


def test_labels_must_name_a_grid_key_or_metric(tmp_path):
    p = tmp_path / "e.toml"
    text = SCHEDULES.read_text().replace('base = "base/', f'base = "{(SCHEDULES.parent / "base").as_posix()}/')
    p.write_text(text.replace("labels = {", 'labels = { nonsense = "x", ', 1))
    with pytest.raises(ScenarioError, match="experiment.labels.nonsense: must be a grid key or a metric"):
        load_experiment(p)
