"""Issue 11's "Done when": for every shipped scenario the window draws the scenario's claim as
its main panel — at the first frame and at the point of the claim — with real content.

Every scenario file is a parameter, so a new scenario whose family declares no main panel fails
here. Runs are shortened with overrides (fewer trials, epochs, ticks) to keep the file fast.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
pygame = pytest.importorskip("pygame")

from recurnet_sim import load_scenario  # noqa: E402
from recurnet_sim.viewer import Viewer  # noqa: E402
from recurnet_sim.viewspec import Curves, Histogram, LogPlot, Scatter, Table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted(p.stem for p in (ROOT / "scenarios").glob("*.toml"))
SIZE = (1100, 720)

#: shorter runs of the slow scenarios (the claim must still show)
SHORT = {
    "boltzmann_encoder": {"training.cycles": 3, "scenario.trials": 1},
    "boltzmann_rbm_cd": {"training.cycles": 3, "scenario.trials": 1},
    "boltzmann_sample": {"scenario.trials": 64},
    "elman_free_run": {"training.pretrain_epochs": 2, "task.length": 120, "scenario.trials": 1,
                       "analysis.lyapunov_steps": 50},
    "elman_letters": {"task.n_consonants": 150, "scenario.trials": 1},
    "elman_temporal_xor": {"task.length": 600, "scenario.trials": 1, "training.truncation": 6},
    "elman_vs_lstm_latch": {"training.pretrain_epochs": 0, "scenario.trials": 1},
    "flipflop_fixed_points": {"training.pretrain_epochs": 0, "scenario.trials": 1},
    "gradient_flow": {"scenario.trials": 1, "task.length": 120},
    "gru_delayed_recall": {"training.pretrain_epochs": 0, "scenario.trials": 1},
    "lstm_delayed_recall": {"training.pretrain_epochs": 0, "scenario.trials": 1},
    "jordan_sequence": {"scenario.trials": 1},
    "hopfield_load_hebbian": {"scenario.trials": 1},
    "hopfield_load_storkey": {"scenario.trials": 1},
}
#: ticks to the point of the claim (training ticks count as ticks)
CLAIM_TICKS = {"boltzmann_sample": 40, "elman_temporal_xor": 60, "elman_letters": 25, "elman_free_run": 40,
               "jordan_sequence": 40, "boltzmann_encoder": 8, "boltzmann_rbm_cd": 8}


def _viewer(name: str) -> Viewer:
    sets = {"view.steps_per_frame": 1, **SHORT.get(name, {})}
    try:
        sim = load_scenario(ROOT / "scenarios" / f"{name}.toml", overrides=sets)
    except Exception:  # a key this scenario's family does not have: only the generic shortening
        sim = load_scenario(ROOT / "scenarios" / f"{name}.toml",
                            overrides={k: v for k, v in sets.items() if k.startswith(("view.", "scenario."))})
    return Viewer(sim, size=SIZE, headless=True)


def _tick(v: Viewer, n: int) -> None:
    """n ticks the way the viewer takes them (training ticks first), each observed by the panels."""
    for _ in range(n):
        if not v._step():
            break


def _pixels(surf, rect) -> np.ndarray:
    return pygame.surfarray.array3d(surf.subsurface(rect)).astype(int)


def _check_content(data) -> None:
    if isinstance(data, Curves):
        assert data.note is None, data.note
        assert data.n_points >= 2
    elif isinstance(data, Histogram):
        assert data.note is None, data.note
        assert np.asarray(data.values).sum() > 0 and data.reference is not None
    elif isinstance(data, Scatter):
        assert data.note is None, data.note
        assert np.asarray(data.path).shape[0] >= 2 or np.asarray(data.points).shape[0] >= 1
    elif isinstance(data, Table):
        assert data.note is None, data.note
        assert data.rows and len(data.bars) == len(data.rows)
    elif isinstance(data, LogPlot):
        assert data.note is None, data.note
        assert np.isfinite(np.asarray(data.ys, float)).sum() >= 2
    else:  # a heatmap panel: (values, caption)
        values, _ = data
        assert np.asarray(values).size > 0


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_scenario_draws_its_claim_as_the_main_panel(name):
    v = _viewer(name)
    try:
        main = v.view_layout.main
        assert main is not None, f"{name}: its family declares no main panel for this scenario"
        r = v.claim_rect
        assert r.w >= 300 and r.h >= 200, f"{name}: the main panel gets {r.size} px"
        first = _pixels(v.draw(), r)
        assert first.std() > 0, f"{name}: the main area is blank at the first frame"
        if v.sim.training is not None:
            # training happens in the window, tick by tick: nothing was learned before it opened
            assert v.sim.training_pending and not v.sim.training_history
        _tick(v, CLAIM_TICKS.get(name, 12))
        surf = v.draw()
        assert not np.array_equal(_pixels(surf, r), first), f"{name}: the main panel did not change"
        if not (v.sim.training_pending and not main.during_training):
            _check_content(main.data(v.model, v.trial))
    finally:
        v.close()


def _levels(d: Curves) -> dict[str, np.ndarray]:
    """The finite values of each curve drawn as a level (the claim's per-position means), by label."""
    return {lab: y[np.isfinite(y)] for k, (lab, _, y, _) in enumerate(d.curves) if d.style(k) == "level"}


def _grid(v: Viewer) -> np.ndarray:
    b = v.state_view.blocks[0]
    return _pixels(v.draw(), b.rect)


def test_synchronous_two_cycle_keeps_alternating_with_its_period_marked():
    v = _viewer("hopfield_letters_sync")
    try:
        _tick(v, 60)
        sim = v.sim
        assert str(sim.stop_reason[0]) == "cycle" and int(sim.cycle_period[0]) == 2
        v.running, v.speed = True, 1.0
        frames = []
        for _ in range(3):
            v.update()  # the run has stopped: the viewer replays the cycle
            frames.append(_grid(v))
        assert not np.array_equal(frames[0], frames[1]), "the state at t+1 must differ from t"
        assert np.array_equal(frames[0], frames[2]), "the state at t+2 must equal t"
        d = v.view_layout.main.data(v.model, 0)
        assert any(text.startswith("cycle, period 2") for _, text, _ in d.marks)
        assert any("s(t+2) = s(t)" in text for text, _ in d.lines)
        assert sim.results()[0].cycle_period == 2  # the replay changes nothing of the run's result
    finally:
        v.close()


def test_boltzmann_histogram_fills_in_towards_the_exact_distribution():
    v = _viewer("boltzmann_sample")
    try:
        main = v.view_layout.main
        _tick(v, 5)
        tv_early = main.tv_distance()
        _tick(v, 60)
        tv = main.tv_distance()
        d = main.data(v.model, 0)
        assert abs(float(np.sum(main._exact)) - 1) < 1e-12
        assert tv < tv_early and tv < 0.1, (tv_early, tv)
        assert any(f"TV = {tv:.3f}" in text for text, _ in d.lines)
        assert len(d.values) == len(d.reference) > 10
    finally:
        v.close()


def test_temporal_xor_error_dips_on_every_third_bit():
    v = _viewer("elman_temporal_xor")
    try:
        _tick(v, 60)
        prof = v.model.loss_profile()[0]  # random 1, random 2, xor
        d = v.view_layout.main.data(v.model, 0)
        assert prof[2] < 0.5 * min(prof[0], prof[1]), prof
        assert d.curves[0][2].size == 36 and "xor" in d.lines[0][0]
        assert d.style(0) == "faint"  # the raw per-step error, behind the claim
        # the prominent series: every step at the mean error of its position in the triple
        thick = _levels(d)
        assert set(thick) == {"mean at random 1", "mean at random 2", "mean at xor"}
        for k, name in enumerate(("random 1", "random 2", "xor")):
            assert thick[f"mean at {name}"].size >= 2 * 11 and np.allclose(thick[f"mean at {name}"], prof[k])
        # ... which is the mean of the raw error over the steps at that position
        L = np.asarray(v.model.loss_per_step_)[0]
        ph = np.asarray(v.model.task.phase[0])[: L.size]
        assert np.isclose(L[ph == 2].mean(), prof[2])
    finally:
        v.close()


def test_letters_error_is_low_on_vowels_and_named_per_letter():
    v = _viewer("elman_letters")
    try:
        _tick(v, 25)
        cons, vowel = v.model.loss_profile()[0]
        d = v.view_layout.main.data(v.model, 0)
        assert vowel < 0.5 * cons
        assert d.lines[1][0].startswith("per letter: b")
        assert {t for _, t, _ in d.x_labels} <= set("bdgaiu")
        thick = _levels(d)
        assert set(thick) == {"mean of its letter: consonant", "mean of its letter: vowel"}
        assert thick["mean of its letter: vowel"].max() < 0.5 * thick["mean of its letter: consonant"].min()
        # each step at its own letter's mean: b, d, g differ (the consonants are not one level)
        assert len(np.unique(np.round(thick["mean of its letter: consonant"], 9))) >= 2
    finally:
        v.close()


def test_free_run_shows_the_lyapunov_exponent_and_no_loss_plot():
    v = _viewer("elman_free_run")
    try:
        assert not v.view_layout.energy_plot and v.plot_rect.h == 0
        _tick(v, 42)  # 2 pretraining epochs, then 40 steps of the free run
        d = v.view_layout.main.data(v.model, 0)
        assert "Lyapunov exponent λ =" in d.lines[0][0]
        sim = v.sim
        assert np.asarray(d.path).shape[0] == sim.tick + 1  # tick 0 and every step of the free run
        if str(sim.stop_reason[0]) == "fixed_point":  # the engine's stop and the panel agree
            assert d.lines[1][0].startswith("fixed point reached")
    finally:
        v.close()


def test_gradient_flow_shows_vanishing_and_exploding_regimes_and_clipping():
    v = _viewer("gradient_flow")
    try:
        _tick(v, 2)
        d = v.view_layout.main.data(v.model, 0)
        ends = {lab.split(":")[0]: y[-1] for lab, _, y, _ in d.curves}
        assert ends["linear, ρ = 0.5"] < 1e-6 and ends["linear, ρ = 1.5"] > 1e3, ends
        assert "clipping" in d.lines[1][0]
        assert v.claim_rect.w > v.state_view.rect.w * 0.5  # the gradient panel is the big plot
    finally:
        v.close()


def test_encoder_panel_tabulates_the_hidden_codes_and_correct_completions():
    sim = load_scenario(ROOT / "scenarios" / "boltzmann_encoder.toml", overrides={"view.steps_per_frame": 1})
    v = Viewer(sim, size=SIZE, headless=True)
    try:
        main = v.view_layout.main
        assert main.data(v.model, 0).note  # nothing claimed before training (the training curve shows)
        untrained = main.sample(v.model)  # the same sampling on the untrained machine
        while v.sim.training_pending:
            v._step()
        assert sim.training_history[-1]["solved"]
        _tick(v, 30)
        d = main.data(v.model, 0)
        _check_content(d)
        assert main.samplings == 2  # sampled once after training, not per tick or per frame
        assert [row[0][0].split()[0] for row in d.rows] == ["e1", "e2", "e3", "e4"]
        codes = [row[1][0].split()[0] for row in d.rows]
        assert all(len(c) == 2 and set(c) <= set("01") for c in codes)
        assert len(set(codes)) == 4 and "4 different codes" in d.lines[0][0]  # one code per pattern
        right = np.array([r["right"] for r in main.result]) / main.CHAINS
        assert np.allclose(d.bars, right) and right.mean() > 0.6, right
        assert np.mean([r["right"] for r in untrained]) / main.CHAINS < 0.25  # V2 right by chance only
        assert f"{right.mean():.0%} of 200 sampled completions right" in d.lines[1][0]
        # the run's own trials, beside the samples: V2 right exactly when the outcome says so
        for b, row in enumerate(d.rows):
            assert row[3][0].endswith("right") == bool(v.model.outcome(b)["success"])
    finally:
        v.close()


def test_a_thick_curve_of_two_points_is_a_rising_line_and_only_a_level_is_a_flat_bar():
    # the overlap trace after one tick (m(A) 0.5 -> 1.0) once drew its thick target curve as a flat
    # bar at 0.5: only a "level" curve turns a two-point run into a bar
    import pygame
    from recurnet_sim.viewer import views
    from recurnet_sim.viewer.core import init_pygame
    from recurnet_sim.viewer.widgets import Fonts
    init_pygame(headless=True)

    def drawn_rows(style):
        surf = pygame.Surface((600, 400))
        d = Curves("m", [("A", np.array([0.0, 1.0]), np.array([0.5, 1.0]), "accent")], y_range=(-1.0, 1.0),
                   styles=(style,))
        area = views.draw_curves(surf, surf.get_rect(), Fonts(), d)
        px = pygame.surfarray.array3d(surf)[area.left + 2:area.right - 2, area.top:area.bottom]
        hit = np.all(px == np.array(views.TONES["accent"]), axis=2)  # (x, y) of the curve's colour
        return [np.flatnonzero(hit[x]).mean() for x in (4, hit.shape[0] - 5)]  # mean row, left and right end

    left, right = drawn_rows("thick")
    assert right < left - 50  # rises from m = 0.5 to m = 1 (rows grow downwards)
    left, right = drawn_rows("level")
    assert abs(right - left) < 2  # flat at the first value
