"""Headless tests of the live viewer: posted events drive it through SDL's dummy video driver
(display and font subsystems only, no audio)."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

os.environ["SDL_VIDEODRIVER"] = "dummy"
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
pygame = pytest.importorskip("pygame")

from recurnet_sim.scenario import load_scenario  # noqa: E402
from recurnet_sim.viewer import Viewer, init_pygame, run_viewer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((ROOT / "scenarios").glob("*.toml"))
LETTERS = ROOT / "scenarios" / "hopfield_letters.toml"


def frame(viewer) -> np.ndarray:
    return pygame.surfarray.array3d(viewer.draw()).copy()


def pump(viewer, *events) -> None:
    """Post events to pygame's queue, then let the viewer read the queue as the loop does."""
    pygame.event.clear()
    for e in events:
        pygame.event.post(e)
    for e in pygame.event.get():
        viewer.handle_event(e)


def key(k, mod=0):
    return pygame.event.Event(pygame.KEYDOWN, key=k, mod=mod, unicode="", scancode=0)


def mouse(kind, pos, button=1):
    if kind == "down":
        return pygame.event.Event(pygame.MOUSEBUTTONDOWN, pos=pos, button=button)
    if kind == "up":
        return pygame.event.Event(pygame.MOUSEBUTTONUP, pos=pos, button=button)
    return pygame.event.Event(pygame.MOUSEMOTION, pos=pos, rel=(0, 0), buttons=(1, 0, 0))


@pytest.fixture
def viewer():
    sim = load_scenario(LETTERS, {"view.paused": True})
    v = Viewer(sim, size=(1000, 680), headless=True)
    yield v
    v.close()


def test_click_flips_exactly_that_unit(viewer):
    before = viewer.model.state.copy()
    pos = viewer.unit_center(37)
    assert viewer.unit_at(pos) == 37
    pump(viewer, mouse("down", pos), mouse("up", pos))
    changed = np.flatnonzero(viewer.model.state[0] != before[0])
    assert changed.tolist() == [37]
    assert viewer.model.state[0, 37] == -before[0, 37]


def test_drag_paints_the_clicked_units_new_value(viewer):
    units = [50, 51, 52, 53, 54]  # one row of the 12 x 10 grid
    first_new = -viewer.model.state[0, 50]
    events = [mouse("down", viewer.unit_center(50))] + [mouse("move", viewer.unit_center(u)) for u in units[1:]]
    pump(viewer, *events, mouse("up", viewer.unit_center(54)))
    assert (viewer.model.state[0, units] == first_new).all()
    # moving after the button is released paints nothing
    before = viewer.model.state.copy()
    pump(viewer, mouse("move", viewer.unit_center(70)))
    assert (viewer.model.state == before).all()


def test_right_click_clamps_and_releases(viewer):
    pos = viewer.unit_center(12)
    pump(viewer, mouse("down", pos, 3), mouse("up", pos, 3))
    assert viewer.model.clamped[0, 12] and viewer.model.clamped.sum() == 1
    pump(viewer, mouse("down", pos, 3))
    assert not viewer.model.clamped.any()


def test_space_pauses_and_n_single_steps(viewer):
    viewer.running = True
    pump(viewer, key(pygame.K_SPACE))
    assert not viewer.running
    assert viewer.update() == 0 and viewer.sim.tick == 0
    pump(viewer, key(pygame.K_n))
    assert viewer.sim.tick == 1 and not viewer.running
    pump(viewer, key(pygame.K_RIGHT))
    assert viewer.sim.tick == 2
    pump(viewer, key(pygame.K_SPACE))
    assert viewer.running


def test_speed_is_steps_per_frame(viewer):
    viewer.running = True
    viewer.speed = 1
    pump(viewer, key(pygame.K_PLUS))
    assert viewer.speed == 2
    assert viewer.update() == 2 or viewer.sim.done
    pump(viewer, key(pygame.K_MINUS), key(pygame.K_MINUS))
    assert viewer.speed == 0.5
    viewer.sim.reset()
    viewer.running = True  # a run that stopped paused the viewer
    assert [viewer.update() for _ in range(4)] == [0, 1, 0, 1]


def test_digit_loads_pattern_and_shift_adds_noise(viewer):
    m = viewer.model
    pump(viewer, key(pygame.K_1))
    np.testing.assert_array_equal(m.state[0], m.patterns[0])
    pump(viewer, key(pygame.K_2, pygame.KMOD_LSHIFT))
    diff = int((m.state[0] != m.patterns[1]).sum())
    assert diff == round(viewer.noise * m.n_units)


def test_x_adds_noise(viewer):
    before = viewer.model.state.copy()
    pump(viewer, key(pygame.K_x))
    assert int((viewer.model.state != before).sum()) == round(viewer.noise * viewer.model.n_units)


def test_temperature_keys(viewer):
    pump(viewer, key(pygame.K_t))
    assert viewer.model.temperature > 0
    for _ in range(30):
        pump(viewer, key(pygame.K_t, pygame.KMOD_SHIFT))
    assert viewer.model.temperature == 0


def test_reset_goes_back_to_the_initial_state(viewer):
    start = viewer.model.state.copy()
    pump(viewer, key(pygame.K_x), key(pygame.K_n), key(pygame.K_n))
    pump(viewer, key(pygame.K_r))
    assert viewer.sim.tick == 0
    np.testing.assert_array_equal(viewer.model.state, start)


def test_escape_quits_cleanly():
    sim = load_scenario(LETTERS)
    init_pygame(headless=True)
    pygame.event.post(key(pygame.K_ESCAPE))
    v = run_viewer(sim, headless=True, max_frames=1000)
    assert not v.alive and v.frame == 0
    assert not pygame.display.get_init()


def test_frames_are_not_blank_and_follow_the_state(viewer):
    a = frame(viewer)
    assert a.std() > 10
    assert len(np.unique(a.reshape(-1, 3), axis=0)) > 20
    viewer.flip_unit(5)
    b = frame(viewer)
    assert (a != b).any(axis=2).sum() > 50
    viewer.flip_unit(5)
    c = frame(viewer)
    # the same state draws the same picture (outside the status line, where the fps changes, and
    # the energy plot, which marks the energy after each flip beside the tick's recorded value)
    top = viewer.status_rect.top
    diff = (a[:, :top] != c[:, :top]).any(axis=2)
    pr = viewer.plot_rect
    diff[pr.x:pr.right, pr.y:pr.bottom] = False
    assert diff.sum() < 0.01 * diff.size


def test_help_graph_and_resize(viewer):
    base = frame(viewer)
    pump(viewer, key(pygame.K_h))
    assert viewer.show_help and viewer.unit_at(viewer.unit_center(3)) is None
    assert (frame(viewer) != base).any()
    pump(viewer, key(pygame.K_h), key(pygame.K_g))
    assert viewer.show_graph and viewer.graph_view is not None and not viewer.graph_view.too_big
    g = frame(viewer)
    assert g.std() > 5
    # a click on a node of the graph flips that unit
    xy = viewer.graph_view._xy[9]
    before = viewer.model.state.copy()
    pump(viewer, mouse("down", tuple(int(c) for c in xy)), mouse("up", tuple(int(c) for c in xy)))
    assert np.flatnonzero(viewer.model.state[0] != before[0]).tolist() == [9]
    pump(viewer, key(pygame.K_g))
    pump(viewer, pygame.event.Event(pygame.VIDEORESIZE, size=(700, 500), w=700, h=500))
    assert viewer.screen.get_size() == (700, 500)
    assert viewer.main_rect.right < 700 and viewer.bars_rect.right <= 700
    assert viewer.unit_at(viewer.unit_center(3)) == 3
    frame(viewer)


def test_graph_view_refuses_big_nets():
    from recurnet_sim.model import Model
    from recurnet_sim.viewer.views import GraphView

    class Big(Model):
        network_type = "big_toy"

        def __init__(self):
            self.state = np.ones((1, 2000))
            self.clamped = np.zeros((1, 2000), bool)

    g = GraphView(Big())
    assert g.too_big and "too many" in g.note


def test_screenshot_record_and_gif(tmp_path):
    sim = load_scenario(LETTERS)
    shot, rec, gif = tmp_path / "final.png", tmp_path / "frames", tmp_path / "run.gif"
    run_viewer(sim, record_dir=rec, screenshot=shot, gif=gif, max_frames=6, headless=True)
    assert shot.stat().st_size > 1000
    assert len(sorted(rec.glob("frame_*.png"))) == 6
    from PIL import Image

    with Image.open(gif) as im:
        assert 2 <= im.n_frames <= 6  # Pillow merges identical consecutive frames


def test_headless_run_stops_when_the_simulation_stops():
    sim = load_scenario(LETTERS)
    v = run_viewer(sim, headless=True, hold_frames=2)
    # one tick every 1/speed frames when the scenario slows the run below a tick per frame
    assert sim.done and v.frame <= sim.tick / min(1.0, v.speed) + 4


def _quick(path: Path) -> dict:
    """Overrides that keep build-time training short in the smoke test."""
    data = tomllib.loads(path.read_text())
    out = {}
    tr = data.get("training")
    if isinstance(tr, dict):
        for k in ("cycles", "epochs"):
            if k in tr:
                out[f"training.{k}"] = 5
    return out


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_shipped_scenario_runs_in_the_viewer(path):
    sim = load_scenario(path, _quick(path), trials=2)
    v = Viewer(sim, size=(900, 600), headless=True)
    try:
        v.speed = 1
        for _ in range(3):
            v.update()
            assert frame(v).std() > 5
        for k in (pygame.K_x, pygame.K_1, pygame.K_TAB, pygame.K_g):
            v.handle_key(k)
            frame(v)
    finally:
        v.close()


def test_import_recurnet_sim_does_not_import_pygame():
    code = ("import sys, recurnet_sim, recurnet_sim.engine, recurnet_sim.scenario, recurnet_sim.cli; "
            "assert 'pygame' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


SMALL_HOPFIELD = """
[scenario]
name = "hopfield_small"
seed = 3
[network]
type = "hopfield"
learning = "hebbian"
size = 12
shape = [3, 4]
[patterns]
source = "random"
count = 2
[initial]
kind = "pattern"
pattern = 1
noise = 0.25
[dynamics]
schedule = "synchronous"
"""


@pytest.mark.parametrize("size", [(1100, 720), (800, 600), (1920, 1080)])
def test_attractor_labels_do_not_collide(size):
    # hopfield_tiny at 1100 x 720: "mix(-p1,+p2,+p3) basin 50" sat on "mix(+p1,+p2,-p3) basin 22"
    pytest.importorskip("recurnet_sim.analysis.attractors")
    v = Viewer(load_scenario(ROOT / "scenarios" / "hopfield_tiny.toml", {"view.paused": True}), size=size, headless=True)
    try:
        v.handle_key(pygame.K_g)
        v.handle_key(pygame.K_g)
        assert type(v.graph_view).__name__ == "AttractorView"
        texts = _texts(v)
        labels = [(r, t) for r, t in texts if "  basin " in t]
        hidden = [t for _, t in texts if "hidden (no free room)" in t]
        n = len(v.graph_view.report.attractors)
        assert len(labels) + (int(hidden[0].split()[0]) if hidden else 0) == n and len(labels) >= min(n, 4)
        assert _overlaps(texts, v.graph_view.rect) == []
    finally:
        v.close()


def test_g_cycles_through_unit_graph_and_attractor_graph_on_small_nets(tmp_path):
    pytest.importorskip("recurnet_sim.analysis.attractors")
    path = tmp_path / "small.toml"
    path.write_text(SMALL_HOPFIELD)
    v = Viewer(load_scenario(path), size=(900, 600), headless=True)
    try:
        kinds = []
        for _ in range(3):
            v.handle_key(pygame.K_g)
            kinds.append(type(v.graph_view).__name__ if v.show_graph else None)
            assert frame(v).std() > 5
        assert kinds == ["GraphView", "AttractorView", None]
        v.handle_key(pygame.K_g)
        v.handle_key(pygame.K_g)
        assert v.graph_view.schedule == "sync"
        assert v.graph_view.current_node(0) is not None  # the current state is found in the graph
    finally:
        v.close()


def test_keyboard_cursor_flips_clamps_and_paints(viewer):
    """Every mouse command has a keyboard path: I/J/K/L move a unit cursor, F flips, C clamps,
    Shift+move paints."""
    m = viewer.model
    cols = m.describe()["grid_shape"][1]
    pump(viewer, key(pygame.K_f))  # first use shows the cursor on unit 0 and flips it
    pump(viewer, key(pygame.K_l), key(pygame.K_l), key(pygame.K_k))  # right, right, down
    assert viewer.cursor == cols + 2
    before = m.state[0].copy()
    pump(viewer, key(pygame.K_f))
    changed = np.flatnonzero(m.state[0] != before)
    assert changed.tolist() == [cols + 2]
    pump(viewer, key(pygame.K_c))
    assert m.clamped[0, cols + 2] and m.clamped[0].sum() == 1
    # paint: Shift+L copies the value under the cursor onto each unit it moves to
    value = m.state[0, cols + 2]
    pump(viewer, key(pygame.K_l, pygame.KMOD_SHIFT), key(pygame.K_l, pygame.KMOD_SHIFT))
    assert m.state[0, cols + 3] == value and m.state[0, cols + 4] == value
    assert viewer.cursor == cols + 4
    a = frame(viewer)
    pump(viewer, key(pygame.K_j))
    assert not np.array_equal(a, frame(viewer))  # the cursor outline moved


GRADFLOW = ROOT / "scenarios" / "gradient_flow.toml"


def _panel(viewer, cls_name: str):
    """The layout's panel of class ``cls_name`` and the rect it is drawn in."""
    L = viewer.view_layout
    k = next((k for k, p in enumerate(L.panels) if type(p).__name__ == cls_name), None)
    if k is None:  # the scenario's claim: the main panel (gradient_flow's wraps the net's own curve)
        main = getattr(L.main, "flow", L.main)
        assert type(main).__name__ == cls_name
        return main, None
    return L.panels[k], k


@pytest.mark.parametrize("radius, grows", [(0.5, False), (1.5, True)])
def test_gradient_flow_panel_decays_or_grows_with_the_spectral_radius(radius, grows):
    """Linear hidden units: the step Jacobian is W_hh itself, so |dL/dh_{t-k}| ~ rho^k."""
    sim = load_scenario(GRADFLOW, {"view.paused": True, "network.activation": "linear",
                                   "network.recurrent_radius": radius})
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        gf, _ = _panel(v, "GradFlowPanel")
        d = gf.grad_flow(v.model, 0)
        assert d["error"] is None
        assert d["radius"] == pytest.approx(radius)
        assert d["norm"][0] == pytest.approx(1.0)
        assert (d["norm"][-1] > 1.0) == grows
        assert (d["rate"] > 1.0) == grows
        what = gf.data(v.model, 0).lines[1]
        assert what == (f"×{d['rate']:.3g}/step back: {'exploding' if grows else 'vanishing'}",
                        "warn" if grows else "energy")
    finally:
        v.close()


def test_gradient_flow_panel_matches_gradflow_and_is_cached_per_epoch():
    from recurnet_sim.analysis import gradflow
    from recurnet_sim.families.srn.model import summary_for

    sim = load_scenario(GRADFLOW, {"view.paused": True, "stop.max_steps": 3})
    v = Viewer(sim, size=(800, 600), headless=True)
    try:
        sv = v.state_view
        gf, k = _panel(v, "GradFlowPanel")
        _, ks = _panel(v, "HiddenStrip")
        grad_rect = v.claim_rect if k is None else sv.panel_rects[k]  # the main panel: the big plot
        strip_rect = sv.panel_rects[ks]
        assert grad_rect.w > 0 and not grad_rect.colliderect(strip_rect)
        assert grad_rect.w * grad_rect.h > strip_rect.w * strip_rect.h
        frame(v)
        frame(v)
        assert gf.computations == 1  # per change of the weights, never per frame
        v.single_step()  # one training epoch: new weights
        f1 = frame(v)
        assert gf.computations == 2
        m = sim.model
        for b in range(m.batch_size):
            d = gf.grad_flow(m, b)
            p1 = {key: val[b: b + 1] for key, val in m.params_.items()}
            rho = gradflow.spectral_radius(gradflow.recurrent_matrix(m.cfg, p1))[0]
            assert d["radius"] == pytest.approx(rho)
            s = summary_for(m, b)
            assert np.allclose(d["raw"], s["grad_norm_vs_lag"])
            assert np.allclose(d["norm"], d["raw"] / d["raw"][0])
        v.trial = 0
        if k is None:
            v.claim_rect = pygame.Rect(0, 0, 0, 0)  # without the panel the frame differs
        else:
            sv.panel_rects[k] = pygame.Rect(0, 0, 0, 0)
        assert not np.array_equal(f1, frame(v))
    finally:
        v.close()


# ----- the declared layouts --------------------------------------------------------------------------
def _layout(name: str, over=None):
    sim = load_scenario(ROOT / "scenarios" / f"{name}.toml", {"view.paused": True, **(over or {})})
    return sim, sim.family.view(sim.model)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_every_unit_is_drawn_exactly_once(path):
    """A declared layout shows each unit in exactly one cell (clicks and the cursor reach all)."""
    sim = load_scenario(path, {**_quick(path), "view.paused": True})
    L = sim.family.view(sim.model)
    cells = np.concatenate([b.units.ravel() for b in L.blocks])
    cells = cells[cells >= 0]
    assert sorted(cells.tolist()) == list(range(sim.model.n_units))


def test_hopfield_layout_is_the_pattern_grid():
    sim, L = _layout("hopfield_letters")
    assert [b.units.shape for b in L.blocks] == [(12, 10)]
    assert L.blocks[0].units[1, 0] == 10  # row-major: the pattern's pixels
    assert L.value_range == (-1.0, 1.0) and not L.panels and not L.links
    assert L.attractor_schedule(sim.model) == "async"  # random order


def test_bam_layout_lights_the_next_pass():
    sim, L = _layout("bam_letters")
    assert [b.name for b in L.blocks] == ["x", "y"]
    assert L.blocks[1].units.shape == (7, 1)  # the 7-bit code as a column
    w, wt = L.links
    assert (w.label, wt.label) == ("W", "W^T")
    m = sim.model
    assert L.header(m)[0] == "next pass: X -> Y" and w.active(m) and not wt.active(m)
    sim.step()
    assert L.header(m) == ["next pass: Y -> X", "last pass: X -> Y"] and wt.active(m) and not w.active(m)
    assert L.bars.title == "overlap with each stored pair"
    assert L.attractor_schedule(m) == "sync"
    xy = L.graph.positions()
    assert xy.shape == (m.n_units, 2) and (xy[m.layers["y"], 0] == 1.0).all()  # Y on the right


def test_bam_async_header_reads_as_words_not_the_direction_code():
    # bam_async's last pass was printed from its code "x<->y" as "X< -> Y"
    sim, L = _layout("bam_async")
    sim.step()
    lines = L.header(sim.model)
    assert lines == ["async sweep over X and Y"] and not any("<" in t for t in lines)


def test_boltzmann_layout_has_a_hidden_block_with_its_own_palette():
    sim, L = _layout("boltzmann_encoder", {"training.cycles": 1})
    vis, hid = L.blocks
    assert vis.units.shape == (2, 4) and vis.label.startswith("visible: V1 (top row)")
    assert hid.palette == "hidden" and hid.units.shape == (2, 1)
    assert [it.text for it in L.legend] == ["1", "0", "hidden on/off"]
    assert [g[0] for g in L.graph.groups] == ["hidden", "visible"] and L.graph.ring == ("hidden",)


@pytest.mark.parametrize("name, copy", [("elman_letters", ("hidden", "copy (w = 1)")),
                                        ("jordan_sequence", ("output", "y + {mu:g} c"))])
def test_srn_layout_stacks_four_layers_and_the_copy_back(name, copy):
    sim, L = _layout(name)
    m = sim.model
    assert L.arrangement == "layers" and L.rows == (("output",), ("hidden",), ("input", "context"))
    back = [ln for ln in L.links if ln.highlight]
    assert len(back) == 1 and (back[0].src, back[0].dst) == (copy[0], "context")
    assert back[0].label == copy[1].format(mu=m.describe().get("mu", 0))
    assert [type(p).__name__ for p in L.panels] == ["HiddenStrip", "GradFlowPanel"]
    assert L.bars.title.startswith("output units") and len(L.bars.names) == m.layers["output"].stop - m.layers["output"].start
    assert L.graph.label_groups and L.graph.orientation == "rows"


def test_srn_strip_keeps_the_hidden_states_of_run_ticks():
    """Outside training the strip shows the hidden layer of the last ticks, which the panel keeps
    from the viewer's on_tick calls; a reset starts it again."""
    sim = load_scenario(ROOT / "scenarios" / "elman_free_run.toml", {"view.paused": True, "training.pretrain_epochs": 2})
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        strip, _ = _panel(v, "HiddenStrip")
        while sim.training_pending:
            v.single_step()
        m = sim.model
        assert m.mode == "free"
        n0 = len(strip.history)
        for _ in range(3):
            v.single_step()
        assert len(strip.history) == n0 + 3
        np.testing.assert_array_equal(strip.history[-1], m.state[:, m.layers["hidden"]])
        data, caption = strip.data(m, 1)
        assert data.shape == (n0 + 3, m.layers["hidden"].stop - m.layers["hidden"].start)
        assert caption == f"hidden h, last {n0 + 3} ticks"
        v.reset()
        assert len(strip.history) == 1  # the reset state only
    finally:
        v.close()


# ----- a family that declares no view ------------------------------------------------------------------
def _ring_family():
    """A 3-unit ring oscillator that lives only in this test: unit i copies unit i-1 each tick."""
    from recurnet_sim.family import Family
    from recurnet_sim.model import Model
    from recurnet_sim.spec import Field

    class Ring(Model):
        network_type = "ring_toy"

        def __init__(self, batch_size):
            self.state = np.tile(np.array([1.0, -1.0, -1.0]), (batch_size, 1))
            self.clamped = np.zeros_like(self.state, dtype=bool)

        def step(self, rngs, active):
            new = np.where(self.clamped, self.state, np.roll(self.state, 1, axis=1))
            flips = (new != self.state).sum(1)
            self.state[active] = new[active]
            return np.where(active, flips, 0)

        def energy(self):
            return -np.sum(self.state * np.roll(self.state, 1, axis=1), axis=1)

        def weight_matrix(self, trial=0):
            return np.roll(np.eye(3), 1, axis=0)

    def tables(network_type):
        return {"network": {"type": Field("str", "ring_toy", "network family", choices=("ring_toy",))}}

    def build(cfg, batch_size, rngs, base_dir, *, build_rng, first_trial):
        return Ring(batch_size)

    return Family(name="ring_toy", network_types=("ring_toy",), titles={"ring_toy": "ring oscillator"},
                  tables=tables, build=build)


def test_a_family_without_a_view_gets_the_default_layout_and_draws():
    from recurnet_sim.engine import Simulation, StopConditions

    fam = _ring_family()
    model = fam.build({}, 1, [np.random.default_rng(0)], ROOT, build_rng=np.random.default_rng(1), first_trial=0)
    sim = Simulation(model, [np.random.default_rng(0)], StopConditions(max_steps=50), name="ring", family=fam)
    v = Viewer(sim, size=(900, 600), headless=True)
    try:
        L = v.view_layout
        assert [b.units.tolist() for b in L.blocks] == [[[0, 1, 2]]]  # up to 16 units: one row
        assert L.value_range == (-1.0, 1.0) and not L.panels
        a = frame(v)
        assert a.std() > 5
        v.single_step()
        assert model.state[0].tolist() == [-1.0, 1.0, -1.0]
        assert not np.array_equal(a, frame(v))
        pos = v.unit_center(2)
        pump(v, mouse("down", pos), mouse("up", pos))
        assert model.state[0, 2] == 1.0
        v.handle_key(pygame.K_g)  # the graph view from model.weight_matrix
        assert v.show_graph and frame(v).std() > 5
        assert v.graph_view.n_edges == 3  # the ring's three connections
        v.handle_key(pygame.K_g)  # no state space declared: no attractor view
        assert not v.show_graph
    finally:
        v.close()


# ----- training, tick by tick -------------------------------------------------------------------------
def test_the_viewer_advances_training_tick_by_tick_and_draws_its_curve():
    sim = load_scenario(ROOT / "scenarios" / "boltzmann_encoder.toml", {"training.cycles": 3})
    v = Viewer(sim, size=(1100, 720), headless=True, play=True)
    try:
        v.speed = 1
        assert sim.training_pending and sim.training_history == []
        before = frame(v)
        for k in (1, 2, 3):
            assert v.update() == 1
            assert len(sim.training_history) == k and sim.tick == 0
        after = frame(v)
        pr = v.plot_rect
        assert not np.array_equal(before[pr.x:pr.right, pr.y:pr.bottom], after[pr.x:pr.right, pr.y:pr.bottom])
        xs, ys, label = v._training_series()
        assert xs.tolist() == [1, 2, 3] and label == sim.training.label
        assert ys.tolist() == [h["mean_abs_dp"] for h in sim.training_history]
        v.update()  # the training is exhausted: the trained network becomes tick 0
        assert not sim.training_pending and sim.tick == 0
        v.update()
        assert sim.tick == 1 and len(sim.training_history) == 3
        frame(v)
    finally:
        v.close()


@pytest.mark.parametrize("name, note", [("modern_hopfield_metastable", "metastable: "),
                                        ("modern_hopfield_beta_large", "recalled A")])
def test_overlap_note_says_what_the_model_recalled(name, note, monkeypatch):
    """The bar panel's note asks the model: a modern net's metastable average is the nearest
    pattern, no recall; a single-pattern state is recalled."""
    from recurnet_sim.viewer import views

    notes = []
    real = views.W.overlap_bars
    monkeypatch.setattr(views.W, "overlap_bars", lambda *a, note=None, **k: (notes.append(note), real(*a, note=note, **k)))
    sim = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        sim.run()
        frame(v)
    finally:
        v.close()
    assert notes and notes[-1].startswith(note), notes[-1]
    if note == "metastable: ":
        assert "no recall" in notes[-1]


# ----- lesson mode, sub-sweep stepping, legibility (issue 11) -----------------------------------------
def _texts(v) -> list[tuple]:
    v.fonts.drawn = []
    v.draw()
    out, v.fonts.drawn = v.fonts.drawn, None
    return out


def test_lesson_mode_opens_paused_on_the_cue_with_its_captions_and_r_returns_there():
    sim = load_scenario(LETTERS)
    cue = sim.model.state.copy()
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        assert v.lesson and not v.running and sim.tick == 0
        words = " ".join(t for _, t in _texts(v))
        point = tomllib.loads(LETTERS.read_text())["view"]["point"]
        assert point.split()[0] in words and "Watch:" in words and "PAUSED" in words
        assert v.update() == 0 and sim.tick == 0  # nothing runs before Space
        np.testing.assert_array_equal(sim.model.state, cue)
        pump(v, key(pygame.K_SPACE))
        assert v.running
        v.speed = 1
        for _ in range(3):
            v.update()
        assert sim.tick > 0
        v.faster()
        pump(v, key(pygame.K_r))
        assert sim.tick == 0 and not v.running and v.speed == v._run_speed
        np.testing.assert_array_equal(sim.model.state, cue)
    finally:
        v.close()


def test_recorded_frame_1_is_tick_0_and_headless_recording_plays(tmp_path):
    sim = load_scenario(LETTERS)
    cue = sim.model.state.copy()
    v = run_viewer(sim, record_dir=tmp_path / "f", max_frames=1, headless=True)
    assert sim.tick == 0 and (sim.model.state == cue).all() and v.frame == 1
    sim = load_scenario(LETTERS, {"view.steps_per_frame": 1, "stop.fixed_point": False})
    run_viewer(sim, max_frames=5, headless=True)
    assert sim.tick == 4  # frame 1 is the cue, then a tick per frame


class _Chain(__import__("recurnet_sim.model", fromlist=["Model"]).Model):
    """Six +-1 units in a ferromagnetic chain, updated in order 0..5 (s_i = sign(h_i), ties keep):
    a fake unit-based family that records its unit updates when ``trace_units`` is set."""

    network_type = "chain_toy"

    def __init__(self):
        n = 6
        self.W = np.zeros((n, n))
        for i in range(n - 1):
            self.W[i, i + 1] = self.W[i + 1, i] = 1.0
        self.state = np.array([[1, -1, 1, -1, -1, 1]], dtype=float)
        self.clamped = np.zeros((1, n), bool)
        self._ups = ()

    def step(self, rngs, active):
        from recurnet_sim.model import UnitUpdate

        s, ups, flips = self.state[0], [], 0
        for i in range(s.size):
            h = float(self.W[i] @ s)
            new = s[i] if h == 0 else float(np.sign(h))
            ups.append(UnitUpdate(i, float(s[i]), new, h, -(new - s[i]) * h))
            flips += int(new != s[i])
            s[i] = new
        self._ups = tuple(ups) if self.trace_units else ()
        return np.array([flips])

    def unit_updates(self, trial=0):
        return self._ups

    def energy(self):
        return np.array([-0.5 * self.state[0] @ self.W @ self.state[0]])


def test_sub_sweep_stepping_rings_unit_k_and_ends_in_the_ticks_state():
    from recurnet_sim.engine import Simulation

    sim = Simulation(_Chain(), [np.random.default_rng(0)])
    v = Viewer(sim, size=(900, 600), headless=True)
    try:
        pre = sim.model.state[0].copy()
        pump(v, key(pygame.K_u))
        assert sim.tick == 1  # the engine ran the whole tick, traced
        post = sim.model.state[0].copy()
        ups = sim.model.unit_updates(0)
        assert len(ups) == 6
        for k in range(1, 7):
            u = v.replay_update()
            assert u.unit == k - 1
            shown = v.replay_state()
            want = pre.copy()
            for x in ups[:k]:
                want[x.unit] = x.after
            np.testing.assert_array_equal(shown, want)
            words = " ".join(t for _, t in _texts(v))
            assert f"update {k}/6: unit {k - 1}" in words and "h " in words and "dE " in words
            np.testing.assert_array_equal(sim.model.state[0], post)  # drawing put the real state back
            if k < 6:
                # the ring sits on unit k-1's cell
                cell = v.state_view.blocks[0].cell_rect(k - 1).inflate(v.fonts.px(6), v.fonts.px(6))
                px = pygame.surfarray.array3d(v.screen)[cell.x + 1, cell.centery]
                assert tuple(px) == W_ACCENT()
                pump(v, key(pygame.K_u))
        np.testing.assert_array_equal(v.replay_state(), post)  # all updates: the tick's end state
        assert sim.tick == 1
        pump(v, key(pygame.K_u))
        assert sim.tick == 2 and v.replay_update().unit == 0
    finally:
        v.close()


def W_ACCENT():
    from recurnet_sim.viewer import widgets

    return widgets.ACCENT


@pytest.mark.parametrize("name", ["hopfield_letters", "bam_async"])
def test_during_a_unit_replay_the_plots_end_at_the_replayed_state(name, monkeypatch):
    # the overlap trace and the energy plot showed the end of the sweep (m(A) = +1.00, E -80)
    # while the grid, bars and status showed the replayed state (m(A) +0.55, E -20.33)
    from recurnet_sim.viewer import core

    sim = load_scenario(ROOT / "scenarios" / f"{name}.toml", {"view.paused": True})
    v = Viewer(sim, size=(1100, 720), headless=True)
    plots = []
    real = core.W.line_plot
    monkeypatch.setattr(core.W, "line_plot", lambda s, r, f, title, xs, ys, *a, **k: (
        plots.append((np.asarray(xs, float).copy(), np.asarray(ys, float).copy())), real(s, r, f, title, xs, ys, *a, **k)))
    try:
        for _ in range(5):  # tick 1 traced, its first 5 unit updates replayed
            v.unit_step()
        assert v._replay_pending()
        m, b = sim.model, v.trial
        shown = v.replay_state()
        e_shown = v._replay["e0"] + sum(u.delta_energy for u in v._replay["updates"][: v._replay["k"]])
        plots.clear()
        v.draw()
        xs, ys = plots[-1]
        end = np.asarray(sim.recorder("energy").rows[-1], float).reshape(-1)[b]
        assert xs[-1] == sim.tick and xs[-2] == sim.tick - 1 and np.isclose(ys[-1], e_shown) and ys[-1] != end
        saved = m.state[b].copy()
        m.state[b] = shown
        want = np.asarray(m.overlaps(), float)[b]
        m.state[b] = saved
        main = v.view_layout.main
        main.replaying = sim.tick
        m.state[b] = shown
        d = main.data(m, b)
        m.state[b] = saved
        main.replaying = None
        assert all(c[1][-1] == sim.tick and np.isclose(c[2][-1], want[m.pattern_names.index(c[0].split(" ")[0])])
                   for c in d.curves)
        k0 = int(np.argmax(np.abs(want)))
        assert d.lines[0][0].startswith(f"now: m({m.pattern_names[k0]}) = {want[k0]:+.2f}")
        flipped = int(np.count_nonzero(shown != v._replay["pre"]))
        assert f"changed {flipped} so far" in v.status_shown  # not the whole tick's count yet
        v.single_step()  # N finishes the replayed tick
        plots.clear()
        v.draw()
        assert not v._replay_pending() and np.isclose(plots[-1][1][-1], np.asarray(sim.recorder("energy").rows[-1], float).reshape(-1)[b])
    finally:
        v.close()


@pytest.mark.parametrize("size", [(1100, 720), (1920, 1080)])
def test_the_h_de_tag_of_a_top_row_unit_stays_off_the_grid_label(size):
    sim = load_scenario(LETTERS, {"view.paused": True})
    v = Viewer(sim, size=size, headless=True)
    try:
        v.unit_step()
        blk = v.state_view.blocks[0]
        ups = v._replay["updates"]
        first_row = [int(u) for u in blk.units[0] if u >= 0]
        v._replay["k"] = 1 + next(i for i, u in enumerate(ups) if u.unit in first_row)
        v.fonts.drawn = []
        v.draw()
        tag = [r for r, t in v.fonts.drawn if t.startswith("h ") and "dE" in t]
        others = [(r, t) for r, t in v.fonts.drawn if not (t.startswith("h ") and "dE" in t)]
        assert tag and not [t for r, t in others if r.colliderect(tag[0].inflate(4, 4))], others
    finally:
        v.close()


def test_unit_rates_step_units_and_speed_is_said_in_units():
    from recurnet_sim.engine import Simulation

    sim = Simulation(_Chain(), [np.random.default_rng(0)])
    v = Viewer(sim, size=(900, 600), headless=True, play=True)
    try:
        v.speed = 1 / 16
        v.slower()
        assert v.unit_rate == 50 and "unit updates/s" in v.speed_text()
        while v.unit_rate > 1:
            v.slower()
        assert v.speed_text() == "1 unit update/s"
        v.fps_cap = 1  # one unit update per frame
        v.update()
        assert sim.tick == 1 and v.replay_update().unit == 0
        v.update()
        assert sim.tick == 1 and v.replay_update().unit == 1
    finally:
        v.close()


def _overlaps(texts, region):
    inside = [(r, t) for r, t in texts if region.contains(r)]
    bad = []
    for i in range(len(inside)):
        for j in range(i + 1, len(inside)):
            if inside[i][0].colliderect(inside[j][0]):
                bad.append((inside[i][1], inside[j][1]))
    return bad


@pytest.mark.parametrize("zoom", [1.0, 1.5])
@pytest.mark.parametrize("size", [(800, 600), (1280, 720), (1920, 1080), (3840, 2160)])
@pytest.mark.parametrize("name", ["hopfield_letters", "hopfield_overloaded", "bam_async", "bam_overloaded"])
def test_layout_text_is_neither_cut_nor_overlapping(name, size, zoom):
    # the state view too: its header lines, block labels, the outcome line and the legend (with
    # 'wrong vs target A') overlapped at 1920 x 1080 and Z 150 %
    sim = load_scenario(ROOT / "scenarios" / f"{name}.toml")
    v = Viewer(sim, size=size, headless=True)
    try:
        if zoom != 1.0:
            v.set_zoom(+1 if zoom == 1.25 else +2)
            assert v.zoom == zoom
        v.flip_unit(3)
        if name.startswith("bam"):
            v.single_step()  # a second header line ('last pass')
        v.say("a message that is long enough to need the whole second row of the status bar " * 2)
        texts = _texts(v)
        screen = v.screen.get_rect()
        assert all(screen.contains(r) for r, _ in texts)
        assert any(t.startswith("outcome: ") for r, t in texts if v.main_rect.contains(r))
        for region in (v.title_rect, v.caption_rect, v.status_rect, v.bars_rect, v.main_rect):
            assert _overlaps(texts, region) == [], region
        if zoom != 1.0:
            return
        shown = v.status_shown
        assert any(t.startswith(v.model.tick_unit) for t in shown) and "PAUSED" in shown
        big = v.fonts.font(17).get_height()
        assert (big > 30) == (size[0] > 3000)  # text grows with the window
        names = [t for r, t in texts if v.bars_rect.contains(r) and t in v.model.pattern_names]
        # however many rows (26 letters), the bar names keep the panel's text size: the rest are counted
        h16 = v.fonts.font(16).render("A", True, (0, 0, 0)).get_height()
        assert names and all(r.h == h16 for r, t in texts if v.bars_rect.contains(r) and t in names)
    finally:
        v.close()


@pytest.mark.parametrize("zoom", [1.0, 1.5])
@pytest.mark.parametrize("size", [(800, 600), (1920, 1080), (3840, 2160)])
@pytest.mark.parametrize("name", ["jordan_sequence", "elman_temporal_xor"])
def test_layered_view_text_does_not_overlap(name, size, zoom):
    # layer labels wider than their block ("input (1)" on "context (3)"), the strip's 'time ->' on
    # the legend, the gradient panel's crowded lag labels at 4K
    sim = load_scenario(ROOT / "scenarios" / f"{name}.toml", {"view.paused": True})
    v = Viewer(sim, size=size, headless=True)
    try:
        if zoom != 1.0:
            v.set_zoom(+2)
        for _ in range(3):
            v.single_step()
        texts = _texts(v)
        assert all(v.screen.get_rect().contains(r) for r, _ in texts)
        assert _overlaps(texts, v.main_rect) == []
    finally:
        v.close()


def test_a_replayed_cycle_shows_each_state_with_its_own_bars_and_outcome(monkeypatch):
    # hopfield_letters_sync alternates between its 2-cycle's states; the bars and outcome looked
    # frozen. They follow the state drawn, and the caption says why their values do not change:
    # the 42 flipping units are where the patterns agree, so their flips cancel in every overlap
    from recurnet_sim.viewer import core

    sim = load_scenario(ROOT / "scenarios" / "hopfield_letters_sync.toml", {"view.paused": True})
    v = Viewer(sim, size=(1100, 720), headless=True)
    seen = []
    real = core.draw_bars
    monkeypatch.setattr(core, "draw_bars", lambda s, r, f, spec, m, b, ov, **k: (
        seen.append((m.state[b].copy(), np.asarray(ov)[b].copy(), v.state_view.outcome(b)["wrong_units"])),
        real(s, r, f, spec, m, b, ov)))
    try:
        while not sim.done:
            v.single_step()
        assert sim.stop_reason[0] == "cycle" and sim.cycle_period[0] == 2
        captions = []
        for _ in range(2):
            v._replay_phase += 1
            v.fonts.drawn = []
            v.draw()
            captions += [t for _, t in v.fonts.drawn if t.startswith("cycle of period 2 (found")]
        assert sorted(c.split(",")[0] for c in captions) == ["cycle of period 2 (found at tick 3): state 1 of 2",
                                                             "cycle of period 2 (found at tick 3): state 2 of 2"]
        assert all("42 units flip next; every overlap is the same in each state" in c for c in captions)
        (s1, ov1, w1), (s2, ov2, w2) = seen[-2:]
        assert (s1 != s2).sum() == 42
        m = sim.model
        # the bars are the displayed state's own overlaps, and equal because they are
        assert np.allclose(ov1, m.overlaps_of(np.repeat(s1[None], m.batch_size, 0))[0]) and np.allclose(ov1, ov2)
        assert w1 != w2  # the wrong units outlined on the grid follow the state shown
    finally:
        v.close()


def test_no_outcome_verdict_while_training_is_pending():
    # boltzmann_encoder's untrained net said "completed e1 correctly" in green during training
    sim = load_scenario(ROOT / "scenarios" / "boltzmann_encoder.toml", {"view.paused": True, "training.cycles": 3})
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        assert sim.training_pending
        v.single_step()
        v.fonts.drawn = []
        v.draw()
        texts = [t for _, t in v.fonts.drawn]
        line = [t for t in texts if t.startswith("outcome: ")]
        assert line and line[0].startswith("outcome: training, ") and "no result until it ends" in line[0]
        assert not any("correctly" in t or "not reached" in t for t in texts)
        assert v.state_view.outcome(0)["success"] is None
        while sim.training_pending:
            v.single_step()
        v.draw()
        o = v.state_view.outcome(0)
        assert o == sim.model.outcome(0) and o["success"] is not None  # judged once trained
    finally:
        v.close()


def test_the_outcome_label_follows_a_temperature_change_while_paused():
    # a sample's label names T: pressing T on a paused window left "a sample at T = 1" on screen
    sim = load_scenario(ROOT / "scenarios" / "boltzmann_sample.toml", {"view.paused": True})
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        v.draw()
        assert "T = 1" in v.state_view.outcome(0)["label"]
        v.set_temperature(0.3)
        v.draw()
        assert v.state_view.outcome(0) == sim.model.outcome(0) and "T = 0.3" in v.state_view.outcome(0)["label"]
    finally:
        v.close()


def test_a_temperature_held_before_an_anneal_is_not_called_constant():
    # hopfield_glauber holds T = 0.6 for 20 sweeps, then anneals to 0: "T 0.6 (constant)" was wrong
    sim = load_scenario(ROOT / "scenarios" / "hopfield_glauber.toml", {"view.paused": True})
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        for _ in range(3):
            v.single_step()
        texts = [t for _, t in _texts(v)]
        assert "T 0.6 (until sweep 20, then annealed to 0)" in texts and not any("(constant)" in t for t in texts)
        while sim.tick < 90 and not sim.done:
            v.single_step()
        texts = [t for _, t in _texts(v)]
        assert not any("then annealed" in t for t in texts)  # at T = 0 for good: nothing ahead
    finally:
        v.close()


def test_a_task_met_is_green_in_the_status_line_not_warning_orange():
    # jordan_sequence stops on its loss condition once solved: "stop condition met" was drawn in WARN
    from recurnet_sim.viewer import widgets as Wd

    sim = load_scenario(ROOT / "scenarios" / "jordan_sequence.toml", {"view.paused": True})
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        sim.run()
        assert sim.stop_reason[0] == "condition"  # the loss fell below stop.energy_below: the aim
        for theme in Wd.THEMES:
            v.set_theme(theme, quiet=True)
            assert v._stop_colour() == Wd.GOOD != Wd.WARN
        assert Wd.THEMES["contrast"]["FAILURE"] != Wd.THEMES["dark"]["FAILURE"]  # each theme has its red
    finally:
        v.set_theme("dark", quiet=True)
        v.close()


def test_text_colours_have_at_least_4_5_to_1_contrast_in_both_themes():
    from recurnet_sim.viewer import widgets as Wd

    try:
        for theme in Wd.THEMES:
            Wd.set_theme(theme)
            for name in Wd.TEXT_COLOURS:
                for bg in ("PANEL", "BG"):
                    c = Wd.contrast(getattr(Wd, name), getattr(Wd, bg))
                    assert c >= 4.5, (theme, name, bg, c)
    finally:
        Wd.set_theme("dark")


def test_switching_the_theme_back_restores_every_colour_and_table():
    # the hidden palette's middle was blended on a switch but literal at import: dark after
    # contrast was not the dark the window opened with
    from recurnet_sim.viewer import views as Vw
    from recurnet_sim.viewer import widgets as Wd

    start = (Wd.LUT_ACT.copy(), Wd.LUT_HIDDEN.copy(), dict(Vw.TONES), dict(Vw.SWATCHES))
    try:
        Wd.set_theme("contrast")
        Vw.refresh_theme()
        assert not np.array_equal(Wd.LUT_HIDDEN, start[1]) and Vw.TONES != start[2]
        Wd.set_theme("dark")
        Vw.refresh_theme()
        assert np.array_equal(Wd.LUT_ACT, start[0]) and np.array_equal(Wd.LUT_HIDDEN, start[1])
        assert Vw.TONES == start[2] and Vw.SWATCHES == start[3]
    finally:
        Wd.set_theme("dark")
        Vw.refresh_theme()


def test_controls_that_do_not_apply_are_greyed_and_say_why():
    sim = load_scenario(ROOT / "scenarios" / "elman_temporal_xor.toml", {"training.pretrain_epochs": 2})
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        assert "T / Shift+T" in v.unavailable()
        t0 = v.model.temperature
        pump(v, key(pygame.K_t))
        assert v.model.temperature == t0 and "no temperature" in v._message[0]
        pump(v, key(pygame.K_h))
        words = " ".join(t for _, t in _texts(v))
        assert "n/a: " in words
    finally:
        v.close()
    sim = load_scenario(LETTERS)
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        assert "T / Shift+T" not in v.unavailable()  # a deterministic schedule switches
        assert v.model.describe()["schedule"] == "random"
        pump(v, key(pygame.K_t))
        assert v.model.temperature > 0 and "Glauber" in v._message[0] and v.model.describe()["schedule"] == "glauber"
        pump(v, key(pygame.K_r))
        assert v.model.temperature == 0 and v.model.describe()["schedule"] == "random"  # reset: the scenario's
        pump(v, key(pygame.K_g))
        pump(v, key(pygame.K_j))
        assert "state view" in v._message[0]
    finally:
        v.close()


def test_key_errors_are_one_readable_line_counting_patterns_from_1():
    sim = load_scenario(ROOT / "scenarios" / "boltzmann_encoder.toml", {"training.cycles": 2})
    sim.train()
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        pump(v, key(pygame.K_2))
        msg = v._message[0]
        assert "pattern 2" in msg and "\n" not in msg and "shape" not in msg and "broadcast" not in msg
        pump(v, key(pygame.K_9))
        assert v._message[0].startswith("there is no pattern 9")
    finally:
        v.close()


def test_the_energy_trace_keeps_every_ticks_value_across_a_perturbation():
    sim = load_scenario(LETTERS)
    v = Viewer(sim, size=(1100, 720), headless=True)
    try:
        sim.run()
        rec = sim.recorder("energy")
        before = [float(np.asarray(r).reshape(-1)[0]) for r in rec.rows]
        v.flip_unit(5)
        v.flip_unit(6)
        after = [float(np.asarray(r).reshape(-1)[0]) for r in rec.rows]
        assert after == before  # the converged value is still the tick's value
        marks = v._marks("energy")
        assert [t for t, _ in marks] == [sim.tick, sim.tick] and marks[-1][1] > before[-1]
        assert not v.running and v.update() == 0  # a flip at the stop does not start ticking
    finally:
        v.close()


def test_resume_at_max_steps_gives_more_steps_and_running_never_stands_beside_a_stop():
    sim = load_scenario(LETTERS, {"stop.max_steps": 2, "stop.fixed_point": False, "view.steps_per_frame": 1})
    v = Viewer(sim, size=(1100, 720), headless=True, play=True)
    try:
        for _ in range(4):
            v.update()
        assert sim.tick == 2 and sim.done and not v.running
        _texts(v)
        assert "RUNNING" not in v.status_shown and "max steps reached" in v.status_shown
        v.flip_unit(4)
        assert v.update() == 0 and sim.tick == 2
        pump(v, key(pygame.K_SPACE))
        v.update()
        assert sim.tick == 3 and "more" in v._message[0]
    finally:
        v.close()


def test_a_flip_after_the_net_settled_wakes_it_but_a_users_pause_stays():
    sim = load_scenario(LETTERS, {"view.steps_per_frame": 1})
    v = Viewer(sim, size=(1100, 720), headless=True, play=True)
    try:
        for _ in range(20):
            v.update()
        assert sim.done and not v.running  # settled in a fixed point: the viewer paused itself
        settled = sim.tick
        v.flip_unit(4)
        v.flip_unit(5)
        assert v.running  # the class sees the dynamics answer the push
        for _ in range(20):
            v.update()
        assert sim.done and sim.tick > settled and sim.stop_reason[0] == "fixed_point"
        pump(v, key(pygame.K_SPACE), key(pygame.K_SPACE))  # the user's own pause ...
        v.running = False
        v.flip_unit(4)
        assert not v.running  # ... is kept: a flip only wakes a run that paused itself
    finally:
        v.close()


def test_flow_rows_fills_each_row_up_to_the_width():
    """The one row flow both legends use: greedy, gaps only between items, an item wider than the
    width alone in its row."""
    from recurnet_sim.viewer.views import flow_rows

    assert flow_rows([], 100, 10) == []
    assert flow_rows([40, 50, 20, 120, 30], 100, 10) == [[0, 1], [2], [3], [4]]
    assert flow_rows([45, 45], 100, 10) == [[0, 1]]  # 45 + 10 + 45 = 100 fits exactly
    assert flow_rows([45, 46], 100, 10) == [[0], [1]]
