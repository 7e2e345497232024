"""The :class:`Viewer`: turns keys and clicks into engine commands and draws frames.

The viewer reads ``sim.model`` and the recorders and changes the network only through the
engine: ``sim.apply(<Perturbation>)``, ``sim.step()``, ``sim.train_step()`` and ``sim.reset()`` —
the same perturbation objects a scenario's ``[[perturb]]`` tables schedule. What it draws is the
:class:`~recurnet_sim.viewspec.ViewLayout` the model's family declares (``Family.view``), or
:func:`~recurnet_sim.viewspec.default_layout` for a family that declares none. Its API is testable without a window loop:
``handle_event(event)``, ``update()``, ``draw() -> Surface``, ``unit_at(pos)``, and one method per
command (``toggle_run``, ``single_step``, ``faster``, ``flip_unit`` ...).
"""
from __future__ import annotations

import os
import time
from collections import deque
from pathlib import Path

import numpy as np
import pygame

from .. import perturbations as P
from ..paths import has_display
from ..writer import write_file
from ..viewspec import OverlapBars, layout_for
from . import widgets as W
from .views import AttractorView, GraphView, StateView, attractor_view_available, bar_rows, draw_bars

#: steps per frame the +/- keys move through (fractions = one step every few frames)
_CURSOR_KEYS = {pygame.K_i: (0, -1), pygame.K_k: (0, 1), pygame.K_j: (-1, 0), pygame.K_l: (1, 0)}
SPEEDS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)

STOP_TEXT = {"fixed_point": "converged (fixed point)", "max_steps": "max steps reached",
             "condition": "stop condition met", "cycle": "cycle",
             "diverged": "diverged (numbers ran away; the run summary says why)"}


def init_pygame(headless: bool = False) -> None:
    """Initialise only the display and font subsystems (no audio). Headless, or without a display,
    SDL's dummy video driver is used."""
    if headless or not has_display():
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    if not pygame.display.get_init():
        pygame.display.init()
    if not pygame.font.get_init():
        pygame.font.init()


def window_available() -> bool:
    """Whether a real window can be opened: SDL falls back to its offscreen driver when $DISPLAY
    names a display that does not answer, and a window drawn there would be invisible."""
    try:
        init_pygame(headless=False)
    except pygame.error:
        return False
    return pygame.display.get_driver() not in ("offscreen", "dummy")


class Viewer:
    """Live view of a :class:`~recurnet_sim.engine.Simulation`.

    Parameters
    ----------
    sim : Simulation
    size : (width, height), optional
        Window size; default from the scenario's ``[view]`` table.
    headless : bool
        Use SDL's dummy driver (frames are still drawn, e.g. for recording).
    screenshot_dir : path, optional
        Where the S key saves PNGs (default: the current directory).

    Attributes
    ----------
    running : bool
        Whether ``update`` advances the simulation.
    speed : float
        Simulation ticks per frame (< 1: one tick every few frames).
    noise : float
        Fraction of units the X key flips.
    trial : int
        The displayed trial of a batch (clicks act on it; keys act on every trial).
    alive : bool
        False once the user asked to quit.
    view_layout : ViewLayout
        What the family declared to draw (blocks, links, panels ...).
    """

    def __init__(self, sim, size=None, headless: bool = False, screenshot_dir=None):
        init_pygame(headless)
        self.sim = sim
        self.model = sim.model
        self.headless = headless
        cfg = dict(sim.info.get("view") or {})
        self.cfg = cfg
        size = size or (cfg.get("width", 1100), cfg.get("height", 720))
        self.fps_cap = int(cfg.get("fps", 60))
        self.screen = pygame.display.set_mode(size, pygame.RESIZABLE)
        title = cfg.get("title") or sim.name or self.model.network_type
        pygame.display.set_caption(f"recurnet - {title}")
        self.title = title
        self.fonts = W.Fonts()
        self.family = sim.family
        self.view_layout = layout_for(self.family, self.model)
        self.view_layout.bind(sim)  # panels read the clock and stop reasons (the main panel's claim)
        self._replay_phase = 0.0  # replay ticks of a cycle the displayed trial stopped in
        self.state_view = StateView(self.model, self.view_layout, max_cell=cfg.get("cell") or 64)
        self.graph_view: GraphView | None = None
        self.show_graph = False
        self.show_help = False
        self.running = not cfg.get("paused", False)
        self.speed = float(cfg.get("steps_per_frame", 1))
        self.noise = float(cfg.get("noise", 0.1))
        self.trial = 0
        self.alive = True
        self.screenshot_dir = Path(screenshot_dir) if screenshot_dir else Path.cwd()
        self.frame = 0
        self._acc = 0.0
        self._paint: tuple[float, set] | None = None
        self._message = ("", 0.0)
        self._frame_t: deque = deque(maxlen=60)
        self._step_t: deque = deque(maxlen=4000)
        self.view_layout.on_tick(self.model)
        self.cursor: int | None = None  # unit under the keyboard cursor (I/J/K/L)
        self._centers_key = None
        self._layout()

    # ----- layout ---------------------------------------------------------------------------
    def _layout(self) -> None:
        w, h = self.screen.get_size()
        self.size = (w, h)
        top, bottom = 34, 28
        side = int(min(460, max(260, 0.34 * w)))
        self.title_rect = pygame.Rect(0, 0, w, top)
        self.status_rect = pygame.Rect(0, h - bottom, w, bottom)
        self.main_rect = pygame.Rect(8, top + 4, w - side - 20, h - top - bottom - 12)
        px = self.main_rect.right + 8
        ph = h - top - bottom - 12
        n_rows = max(3, bar_rows(self.view_layout.bars, self.model))
        bars_h = int(min(0.55 * ph, max(150, 24 * n_rows + 50)))
        self.claim_rect = pygame.Rect(0, 0, 0, 0)
        if self.view_layout.main is not None:
            self._layout_main(w, top, ph)
        else:
            self.plot_rect = pygame.Rect(px, top + 4, w - px - 8, ph - bars_h - 8)
            self.bars_rect = pygame.Rect(px, self.plot_rect.bottom + 8, w - px - 8, ph - self.plot_rect.h - 8)
        self.state_view.layout(self.main_rect)
        if self.graph_view is not None:
            self.graph_view.layout(self.main_rect)

    def _layout_main(self, w: int, top: int, ph: int) -> None:
        """A family that declares its claim as the main panel gets a wider right column, the main
        panel on top of it (the big plot), the energy/loss strip and the bars below."""
        side = int(min(0.5 * w, max(320, 0.42 * w)))
        self.main_rect = pygame.Rect(8, top + 4, w - side - 20, ph)
        px = self.main_rect.right + 8
        n_rows = max(3, bar_rows(self.view_layout.bars, self.model))
        bars_h = int(min(0.32 * ph, max(130, 22 * min(n_rows, 8) + 50)))
        if isinstance(self.view_layout.bars, OverlapBars) and not len(self.model.pattern_names):
            bars_h = 0  # nothing to compare with: the claim gets the room
        plot_h = int(max(110, 0.2 * ph)) if self.view_layout.energy_plot else 0
        main_h = ph - bars_h - 8 - (plot_h + 8 if plot_h else 0)
        self.claim_rect = pygame.Rect(px, top + 4, w - px - 8, main_h)
        self.plot_rect = pygame.Rect(px, self.claim_rect.bottom + 8, w - px - 8, plot_h)
        self.bars_rect = pygame.Rect(px, top + 4 + ph - bars_h, w - px - 8, bars_h)
        if not bars_h:
            self.claim_rect.h += 8

    def resize(self, size) -> None:
        self.screen = pygame.display.get_surface() or pygame.display.set_mode(size, pygame.RESIZABLE)
        if self.screen.get_size() != tuple(size):
            self.screen = pygame.display.set_mode(size, pygame.RESIZABLE)
        self._layout()

    # ----- events -----------------------------------------------------------------------------
    def handle_event(self, event) -> None:
        """React to one pygame event (keys, mouse, resize, quit)."""
        et = event.type
        if et == pygame.QUIT:
            self.quit()
        elif et == pygame.KEYDOWN:
            self.handle_key(event.key, getattr(event, "mod", 0))
        elif et == pygame.MOUSEBUTTONDOWN:
            u = self.unit_at(event.pos)
            if u is None:
                return
            if event.button == 1:
                self.flip_unit(u)
                self._paint = (float(self.model.state[self.trial, u]), {u})
            elif event.button == 3:
                self.toggle_clamp(u)
        elif et == pygame.MOUSEMOTION:
            if self._paint is not None:
                self.paint_at(event.pos)
        elif et == pygame.MOUSEBUTTONUP:
            if event.button == 1:
                self._paint = None
        elif et == pygame.VIDEORESIZE:
            self.resize(event.size)
        elif et == getattr(pygame, "WINDOWSIZECHANGED", -1):
            surf = pygame.display.get_surface()
            if surf is not None and surf.get_size() != self.size:
                self.screen = surf
                self._layout()

    def handle_key(self, key: int, mod: int = 0) -> None:
        shift = bool(mod & pygame.KMOD_SHIFT)
        if key in (pygame.K_ESCAPE, pygame.K_q):
            self.quit()
        elif key == pygame.K_SPACE:
            self.toggle_run()
        elif key in (pygame.K_RIGHT, pygame.K_n):
            self.single_step()
        elif key in (pygame.K_PLUS, pygame.K_EQUALS, pygame.K_KP_PLUS):
            self.faster()
        elif key in (pygame.K_MINUS, pygame.K_KP_MINUS, pygame.K_UNDERSCORE):
            self.slower()
        elif key == pygame.K_r:
            self.reset()
        elif key == pygame.K_x:
            self.add_noise()
        elif key == pygame.K_LEFTBRACKET:
            self.set_noise(self.noise - 0.05)
        elif key == pygame.K_RIGHTBRACKET:
            self.set_noise(self.noise + 0.05)
        elif pygame.K_1 <= key <= pygame.K_9:
            self.load_pattern(key - pygame.K_1, noisy=shift)
        elif pygame.K_KP1 <= key <= pygame.K_KP9:
            self.load_pattern(key - pygame.K_KP1, noisy=shift)
        elif key == pygame.K_t:
            self.lower_temperature() if shift else self.raise_temperature()
        elif key == pygame.K_s:
            self.screenshot()
        elif key == pygame.K_h:
            self.show_help = not self.show_help
        elif key == pygame.K_g:
            self.toggle_graph()
        elif key == pygame.K_TAB:
            self.next_trial()
        elif key in _CURSOR_KEYS:
            self.move_cursor(_CURSOR_KEYS[key], paint=shift)
        elif key in (pygame.K_f, pygame.K_RETURN, pygame.K_KP_ENTER):
            if self.cursor is not None or self.move_cursor((0, 0)):
                self.flip_unit(self.cursor)
        elif key == pygame.K_c:
            if self.cursor is not None or self.move_cursor((0, 0)):
                self.toggle_clamp(self.cursor)

    # ----- commands ---------------------------------------------------------------------------
    def say(self, text: str, seconds: float = 2.5) -> None:
        """Show a short message in the status line."""
        self._message = (text, time.perf_counter() + seconds)

    def _apply(self, perturbation, rows=None) -> bool:
        try:
            self.sim.apply(perturbation, rows)
        except Exception as exc:  # a command the model refuses is shown, not fatal
            self.say(f"{perturbation.describe()}: {exc}", 4)
            return False
        self.view_layout.on_tick(self.model)
        return True

    def quit(self) -> None:
        self.alive = False

    def toggle_run(self) -> None:
        self.running = not self.running

    def single_step(self) -> None:
        """Pause and advance exactly one tick."""
        self.running = False
        if not self._step():
            self.say(f"stopped ({self._stop_text()}): perturb the state, or R to reset")

    def faster(self) -> None:
        self.speed = next((s for s in SPEEDS if s > self.speed + 1e-9), SPEEDS[-1])

    def slower(self) -> None:
        self.speed = next((s for s in reversed(SPEEDS) if s < self.speed - 1e-9), SPEEDS[0])

    def reset(self) -> None:
        self.sim.reset()
        self._acc = 0.0
        self.view_layout.on_reset()
        self.view_layout.on_tick(self.model)
        self.say("reset to the initial state")

    def flip_unit(self, unit: int) -> None:
        """Flip one unit of the displayed trial."""
        if self._apply(P.FlipUnits((int(unit),)), [self.trial]):
            self.say(f"flipped unit {unit}")

    def paint_at(self, pos) -> None:
        """While dragging: set the unit under ``pos`` to the value of the stroke."""
        u = self.unit_at(pos)
        if u is None or self._paint is None:
            return
        value, done = self._paint
        if u in done:
            return
        done.add(u)
        if self.model.state[self.trial, u] != value:
            self._apply(P.SetRegion(value, units=(int(u),)), [self.trial])

    def toggle_clamp(self, unit: int) -> None:
        on = not bool(self.model.clamped[self.trial, unit])
        if self._apply(P.Clamp(on, units=(int(unit),)), [self.trial]):
            self.say(f"{'clamped' if on else 'released'} unit {unit}")

    def add_noise(self) -> None:
        if self._apply(P.AddNoise(self.noise)):
            self.say(f"noise {self.noise:.0%}")

    def set_noise(self, value: float) -> None:
        self.noise = float(min(1.0, max(0.0, round(value, 2))))
        self.say(f"X flips {self.noise:.0%} of the units")

    def load_pattern(self, k: int, noisy: bool = False) -> None:
        """Load stored pattern k (0-based) into every trial, with the X noise when ``noisy``."""
        names = list(self.model.pattern_names)
        n = 0 if self.model.patterns is None else np.asarray(self.model.patterns).shape[-2]
        if k >= n:
            self.say(f"there is no pattern {k + 1} ({n} stored)")
            return
        if self._apply(P.LoadPattern(k, self.noise if noisy else 0.0)):
            name = names[k] if k < len(names) else str(k + 1)
            self.say(f"loaded pattern {k + 1} ({name})" + (f" with {self.noise:.0%} noise" if noisy else ""))

    def raise_temperature(self) -> None:
        t = float(self.model.temperature)
        self.set_temperature(0.05 if t < 0.05 else t * 1.25)

    def lower_temperature(self) -> None:
        t = float(self.model.temperature) / 1.25
        self.set_temperature(0.0 if t < 0.05 else t)

    def set_temperature(self, t: float) -> None:
        if self._apply(P.SetTemperature(round(t, 4))):
            self.say(f"T = {t:.3g}")

    def toggle_graph(self) -> None:
        """G cycles: state view -> unit graph -> attractor graph (small networks whose family
        declares a state space) -> state view."""
        if not self.show_graph:
            self.show_graph = True
            self.graph_view = self._graph_view(GraphView)
        elif isinstance(self.graph_view, GraphView) and attractor_view_available(self.family, self.model):
            try:
                self.graph_view = self._graph_view(AttractorView)
            except Exception as exc:  # the analysis refuses this network: say why
                self.say(f"attractor graph: {exc}", 4)
                self.show_graph = False
        else:
            self.show_graph = False
        if self.show_graph:
            self.graph_view.layout(self.main_rect)

    def next_trial(self) -> None:
        B = self.model.batch_size
        self.trial = (self.trial + 1) % B
        if self.show_graph:
            self.graph_view = self._graph_view(AttractorView if isinstance(self.graph_view, AttractorView) else GraphView)
            self.graph_view.layout(self.main_rect)
        self.say(f"showing trial {self.trial + 1} of {B}")

    def _graph_view(self, kind):
        """A graph or attractor view of the displayed trial, as the layout hints."""
        L = self.view_layout
        if kind is AttractorView:
            return AttractorView(self.model, self.trial, L.attractor_schedule(self.model), family=self.family)
        return GraphView(self.model, self.trial, L.graph, L.value_range)

    def screenshot(self, path=None) -> Path:
        """Save the current frame as PNG; returns the path."""
        if path is None:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.screenshot_dir / f"recurnet-{self.sim.name or 'run'}-{stamp}-{self.frame:05d}.png"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        surf = self.draw()
        write_file(path, lambda fh: pygame.image.save(surf, fh, path.name))  # the one atomic writer
        self.say(f"saved {path}")
        return path

    # ----- keyboard cursor (the mouse's unit commands, from the keyboard) ---------------------
    def move_cursor(self, direction: tuple[int, int], paint: bool = False) -> bool:
        """Move the unit cursor to the nearest unit drawn in ``direction`` ((dx, dy) in screen
        terms; (0, 0) shows it on unit 0). With ``paint`` the unit reached takes the value of the
        unit the cursor left, like a mouse drag. Returns False when no unit is drawn."""
        centers = self._unit_centers()
        if centers is None:
            return False
        if self.cursor is None or direction == (0, 0) or not 0 <= self.cursor < len(centers):
            self.cursor = 0 if self.cursor is None or not 0 <= self.cursor < len(centers) else self.cursor
            return True
        here = centers[self.cursor]
        d = centers - here
        dx, dy = direction
        along = d[:, 0] * dx + d[:, 1] * dy          # distance in the direction of travel
        across = np.abs(d[:, 0] * dy - d[:, 1] * dx)  # sideways offset
        ok = along > 0
        if not ok.any():
            return True  # at the edge
        cost = np.where(ok, along + 3.0 * across, np.inf)
        previous, self.cursor = self.cursor, int(np.argmin(cost))
        if paint:
            value = float(self.model.state[self.trial, previous])
            if self.model.state[self.trial, self.cursor] != value:
                self._apply(P.SetRegion(value, units=(self.cursor,)), [self.trial])
        return True

    def _unit_centers(self) -> np.ndarray | None:
        """Pixel centres of every unit in the state view, shape (n_units, 2) (None in graph view)."""
        if self.show_graph:
            return None
        key = (self.size, id(self.state_view))
        if self._centers_key != key:
            pts = []
            for u in range(self.model.n_units):
                try:
                    pts.append(self.unit_center(u))
                except KeyError:
                    pts.append((np.nan, np.nan))
            self._centers = np.asarray(pts, dtype=float)
            self._centers_key = key
        return None if np.isnan(self._centers).all() else np.nan_to_num(self._centers, nan=-1e9)

    def _draw_cursor(self, s) -> None:
        if self.cursor is None or self.show_graph or self.show_help:
            return
        for b in self.state_view.blocks:
            r = b.cell_rect(self.cursor)
            if r is not None:
                pygame.draw.rect(s, W.ACCENT, r.inflate(4, 4), 2)
                return

    # ----- hit testing ------------------------------------------------------------------------
    def unit_at(self, pos) -> int | None:
        """Index of the unit drawn at pixel ``pos`` (None when no unit is there)."""
        if self.show_help:
            return None
        if self.show_graph and self.graph_view is not None:
            return self.graph_view.unit_at(pos)
        return self.state_view.unit_at(pos)

    def unit_center(self, unit: int) -> tuple[int, int]:
        """Pixel at the centre of ``unit``'s cell in the state view (for tests and scripting)."""
        for b in self.state_view.blocks:
            r = b.cell_rect(unit)
            if r is not None:
                return r.center
        raise KeyError(unit)

    # ----- simulation -------------------------------------------------------------------------
    @property
    def training(self) -> bool:
        """Whether the run is still in its training phase (ticks advance training, not the run)."""
        return self.sim.training_pending

    def _step(self) -> bool:
        """One tick: a training tick while training is pending, else a tick of the run."""
        if self.sim.training_pending:
            ok = self.sim.train_step()
            if not self.sim.training_pending:
                self.say(f"training done ({len(self.sim.training_history)} {self.sim.training.unit}s)")
                ok = True  # the run itself starts with the next tick
        else:
            ok = self.sim.step()
        if ok:
            self._step_t.append(time.perf_counter())
            self.view_layout.on_tick(self.model)
        return ok

    def update(self) -> int:
        """Advance the simulation by this frame's share of ticks (when running); returns how many."""
        if not self.running:
            return 0
        self._acc += self.speed
        n = int(self._acc)
        self._acc -= n
        done = 0
        t_end = time.perf_counter() + 0.2  # never freeze the window for long
        if self.view_layout.replay.period(self.sim, self.trial):
            self._replay_phase += self.speed  # a cycle keeps alternating on screen at the run's pace
        for _ in range(n):
            if not self._step():
                self._acc = 0.0
                break
            done += 1
            if time.perf_counter() > t_end:
                break
        return done

    # ----- drawing ----------------------------------------------------------------------------
    def _stop_text(self) -> str:
        b = self.trial
        reason = str(self.sim.stop_reason[b])
        if reason == "cycle":
            return f"cycle of period {int(self.sim.cycle_period[b])}"
        return STOP_TEXT.get(reason, reason)

    def _series(self, name: str, maxlen: int = 3000):
        rec = self.sim.recorder(name)
        if rec is None or not rec.rows:
            return None, None
        ticks = np.asarray(rec.ticks[-maxlen:], dtype=float)
        rows = np.asarray(rec.rows[-maxlen:], dtype=float)  # (n, batch): one conversion per frame
        return ticks, rows.reshape(len(rows), -1)[:, self.trial]

    def draw(self) -> pygame.Surface:
        """Render one frame into the window surface and return it."""
        now = time.perf_counter()
        self._frame_t.append(now)
        self.frame += 1
        s = self.screen
        s.fill(W.BG)
        self._draw_title(s)
        if self.show_graph and self.graph_view is not None:
            self.graph_view.draw(s, self.fonts, self.trial)
        else:
            st, k, p = self.view_layout.replay.state(self.sim, self.trial, self._replay_phase)
            caption = None if st is None else (f"cycle of period {p} (found at tick {self.sim.tick}): "
                                               f"replaying its states, {k + 1} of {p}")
            self.state_view.draw(s, self.fonts, self.trial, state=st, caption=caption)
            self._draw_cursor(s)
        self._draw_main(s)
        self._draw_plot(s)
        self._draw_bars(s)
        self._draw_status(s, now)
        if self.show_help:
            W.help_overlay(s, self.fonts)
        return s

    def _draw_title(self, s) -> None:
        r = self.title_rect
        pygame.draw.rect(s, W.PANEL, r)
        m = self.model
        d = {}
        try:
            d = m.describe()
        except Exception:  # a model whose describe() fails still gets a title
            pass
        kind = self.family.title(m.network_type) if self.family is not None else m.network_type
        left = self.fonts.text(s, self.title, (12, r.centery), 22, W.TEXT, anchor="midleft")
        extra = [kind, f"{m.n_units} units"]
        for k in self.view_layout.title_keys:
            if d.get(k):
                extra.append(f"{k} {d[k]}")
        if m.batch_size > 1:
            extra.append(f"trial {self.trial + 1}/{m.batch_size}")
        self.fonts.text(s, "   " + "  |  ".join(extra), (left.right, r.centery), 17, W.DIM, anchor="midleft",
                        max_width=r.w - left.right - 120)
        self.fonts.text(s, "H: help", (r.right - 12, r.centery), 17, W.FAINT, anchor="midright")

    def _training_series(self):
        """(ticks, values, label) of the training curve so far: the measurement the training
        declares as its curve, one value per training tick."""
        tr = self.sim.training
        hist = self.sim.training_history
        ys = np.array([float(h.get(tr.curve, np.nan)) for h in hist], dtype=float)
        return np.arange(1, len(ys) + 1, dtype=float), ys, tr.label

    def _draw_main(self, s) -> None:
        """The family's main panel (its claim) in the big plot area; while training is pending and
        the panel does not follow training, the live training curve takes its place."""
        main, r = self.view_layout.main, self.claim_rect
        if main is None or r.w <= 0:
            return
        if self.sim.training_pending and not main.during_training:
            r = r.union(self.plot_rect) if self.plot_rect.h > 0 else r  # the curve gets both areas
            xs, ys, label = self._training_series()
            if ys.size == 0:
                xs, ys = np.array([0.0]), np.array([np.nan])
            W.line_plot(s, r, self.fonts, f"training: {label}", xs, ys, W.ENERGY, xlabel=self.sim.training.unit)
            return
        self.state_view.draw_panel(s, self.fonts, main, r, self.trial)

    def _draw_plot(self, s) -> None:
        main = self.view_layout.main
        if self.plot_rect.h <= 0 or (main is not None and self.sim.training_pending and not main.during_training):
            return
        if self.sim.training_pending:
            xs, ys, label = self._training_series()
            if ys.size == 0:
                xs, ys = np.array([0.0]), np.array([np.nan])
            W.line_plot(s, self.plot_rect, self.fonts, f"training: {label}", xs, ys, W.ENERGY,
                        xlabel=self.sim.training.unit)
            return
        label = self.model.energy_label
        xs, ys = self._series("energy")
        if xs is None:
            xs, ys = np.array([self.sim.tick], float), np.asarray(self.model.energy(), float)[[self.trial]]
        xt, yt = self._series("temperature")
        show_t = yt is not None and (np.ptp(yt) > 0 or yt[-1] > 0)
        W.line_plot(s, self.plot_rect, self.fonts, label, xs, ys, W.ENERGY,
                    xt if show_t else None, yt if show_t else None, "T", W.TEMP, xlabel=self.model.tick_unit)

    def _draw_bars(self, s) -> None:
        if self.bars_rect.h <= 0:
            return
        rec = self.sim.recorder("overlaps")
        ov = rec.last() if rec is not None and rec.rows else None
        draw_bars(s, self.bars_rect, self.fonts, self.view_layout.bars, self.model, self.trial, ov)

    def _draw_status(self, s, now) -> None:
        sim, m, b = self.sim, self.model, self.trial
        if sim.training_pending:
            tr = sim.training
            parts = [(f"training: {tr.unit} {len(sim.training_history)}/{tr.total}", W.ACCENT)]
        else:
            parts = [(f"tick {sim.tick}", W.TEXT), (f"{m.tick_unit} {sim.tick}", W.DIM),
                     (f"flips {int(sim.last_flips[b])}", W.DIM)]
            if not sim.active[b]:
                parts.append((self._stop_text(), W.GOOD if sim.stop_reason[b] == "fixed_point" else W.WARN))
        parts.append(("RUNNING" if self.running else "PAUSED", W.GOOD if self.running else W.ACCENT))
        parts.append((f"T {float(m.temperature):.3g}", W.TEMP if m.temperature > 0 else W.DIM))
        sp = f"{self.speed:g}" if self.speed >= 1 else f"1/{round(1 / self.speed)}"
        parts.append((f"{sp} step/frame", W.DIM))
        recent = [t for t in self._step_t if t > now - 1.0]
        parts.append((f"{len(recent)} steps/s", W.DIM))
        if len(self._frame_t) > 1:
            dt = self._frame_t[-1] - self._frame_t[0]
            parts.append((f"{(len(self._frame_t) - 1) / dt:.0f} fps" if dt > 0 else "- fps", W.DIM))
        parts.append((f"noise {self.noise:.0%}", W.DIM))
        msg, until = self._message
        if msg and now < until:
            parts.append((msg, W.ACCENT))
        W.status_line(s, self.status_rect, self.fonts, parts)

    def close(self) -> None:
        """Release the window (the display subsystem is shut down)."""
        pygame.display.quit()
