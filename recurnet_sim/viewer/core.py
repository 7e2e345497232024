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

import itertools
import os
import time
from collections import deque
from pathlib import Path

import numpy as np
import pygame

from .. import perturbations as P
from ..model import Model
from ..paths import has_display
from ..writer import write_file
from ..viewspec import OverlapBars, layout_for
from . import widgets as W
from . import views as V
from .views import AttractorView, GraphView, StateView, attractor_view_available, bar_rows, draw_bars

#: steps per frame the +/- keys move through (fractions = one step every few frames)
_CURSOR_KEYS = {pygame.K_i: (0, -1), pygame.K_k: (0, 1), pygame.K_j: (-1, 0), pygame.K_l: (1, 0)}
SPEEDS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 3, 5, 10, 20, 50, 100, 200, 500, 1000)
#: unit updates per second of sub-sweep stepping, below the slowest tick speed (unit-based families)
UNIT_RATES = (1, 2, 5, 10, 20, 50)
#: zoom steps of the Z key (text and layout distances; the window's own scale comes first)
ZOOMS = (0.8, 1.0, 1.25, 1.5, 2.0)
#: the reference window whose text sizes are the sizes written in the code
REFERENCE_SIZE = (1100, 720)
#: ticks per second of a scenario that sets no [view] steps_per_frame, and seconds its training takes
LESSON_TICKS_PER_S = 4
LESSON_TRAINING_S = 8

STOP_TEXT = {"fixed_point": "converged (fixed point)", "max_steps": "max steps reached",
             "condition": "stop condition met", "cycle": "cycle",
             "diverged": "diverged (numbers ran away; the run summary says why)"}


def fmt_unit(v: float) -> str:
    """A unit value as written: +1 / -1 / 0 / 1, else 3 significant digits."""
    v = float(v)
    if v == int(v):
        return f"{int(v):+d}" if v else "0"
    return f"{v:.3g}"


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

    def __init__(self, sim, size=None, headless: bool = False, screenshot_dir=None, play: bool | None = None,
                 status: bool = True):
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
        self.zoom = 1.0
        self.show_status = bool(status)
        self.set_theme(cfg.get("theme") or "dark", quiet=True)
        self.family = sim.family
        self.view_layout = layout_for(self.family, self.model)
        self.view_layout.bind(sim)  # panels read the clock and stop reasons (the main panel's claim)
        self._replay_phase = 0.0  # replay ticks of a cycle the displayed trial stopped in
        self._max_cell = cfg.get("cell") or 64
        self.state_view = StateView(self.model, self.view_layout, max_cell=self._max_cell)
        self.graph_view: GraphView | None = None
        self.show_graph = False
        self.show_help = False
        # Lesson mode opens paused on the cue (tick 0) with the scenario's point and what to watch.
        self.lesson = bool(cfg.get("lesson", True))
        self.show_captions = self.lesson
        self.point = str(cfg.get("point") or sim.info.get("description") or "")
        self.watch = str(cfg.get("watch") or "")
        self._start_paused = self.lesson or bool(cfg.get("paused", False))
        self.running = (not self._start_paused) if play is None else bool(play)
        self._paused_by_stop = False  # paused because every trial stopped (not by the user)
        spf = cfg.get("steps_per_frame")
        if spf is None:  # a lesson pace: a few ticks a second, not 60
            spf = min(SPEEDS, key=lambda v: abs(v - LESSON_TICKS_PER_S / self.fps_cap))
        self._run_speed = float(spf)
        self._train_speed = float(spf)
        if sim.training_pending and cfg.get("steps_per_frame") is None:
            total = max(1, int(sim.training.total or 1))
            self._train_speed = max(1.0, total / (LESSON_TRAINING_S * self.fps_cap))
        self.speed = self._train_speed if sim.training_pending else self._run_speed
        self.unit_rate: float | None = None  # unit updates per second while sub-sweep stepping
        self._unit_acc = 0.0
        self._replay: dict | None = None  # the displayed trial's tick being replayed unit by unit
        self._units_ok: bool | None = None if type(self.model).unit_updates is not Model.unit_updates else False
        self._max_steps0 = int(sim.stop.max_steps)
        self._switched: str | None = None
        self.status_shown: list[str] = []  # the status parts the last frame showed (tests)
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
    def _scale(self, w: int, h: int) -> float:
        """Text and layout scale: the window against the reference 1100 x 720 (never below 0.9, so
        800 x 600 stays legible), times the zoom."""
        return max(0.9, min(w / REFERENCE_SIZE[0], h / REFERENCE_SIZE[1])) * self.zoom

    def _caption_lines(self, width: int) -> list[tuple[str, int, tuple]]:
        if not (self.show_captions and (self.point or self.watch)):
            return []
        f = self.fonts
        out = [(t, 18, W.TEXT) for t in f.wrap(self.point, 18, width)] if self.point else []
        if self.watch:
            out += [(t, 17, W.ACCENT) for t in f.wrap("Watch: " + self.watch, 17, width)]
        return out

    def _layout(self) -> None:
        w, h = self.screen.get_size()
        self.size = (w, h)
        f = self.fonts
        f.scale = self._scale(w, h)
        top = f.height(22) + f.px(12)
        bottom = (f.height(17) + f.height(16) + f.px(10)) if self.show_status else 0
        self.title_rect = pygame.Rect(0, 0, w, top)
        self.captions = self._caption_lines(w - f.px(24))
        cap_h = sum(f.height(size) for _, size, _ in self.captions) + (f.px(8) if self.captions else 0)
        self.caption_rect = pygame.Rect(0, top, w, cap_h)
        top += cap_h
        self.status_rect = pygame.Rect(0, h - bottom, w, bottom)
        gap = f.px(8)
        ph = h - top - bottom - 12
        # The state on the left; on the right one column stacked top down: the family's claim
        # (ViewLayout.main) as the big plot when it declares one, the energy/loss plot, the bars.
        main = self.view_layout.main
        n_rows = max(3, bar_rows(self.view_layout.bars, self.model))
        if main is None:  # the energy/loss plot is the big plot, the bars under it
            side = min(int(min(f.px(460), max(f.px(260), 0.34 * w))), int(0.45 * w))
            head = f.height(17) + f.height(15) + f.px(20)
            bars_h = int(min(0.55 * ph, max(f.px(150), (f.height(16) + 4) * n_rows + head)))
            plot_h = None  # what is left
        else:  # a wider column: the claim on top, the energy/loss strip and the bars below it
            side = int(min(0.5 * w, max(f.px(320), 0.42 * w)))
            bars_h = int(min(0.32 * ph, max(f.px(130), (f.height(16) + 4) * min(n_rows, 8) + f.height(17) + f.px(24))))
            if isinstance(self.view_layout.bars, OverlapBars) and not len(self.model.pattern_names):
                bars_h = 0  # nothing to compare with: the claim gets the room
            plot_h = int(max(f.px(110), 0.2 * ph)) if self.view_layout.energy_plot else 0
        self.main_rect = pygame.Rect(gap, top + 4, w - side - 2 * gap - 4, ph)
        px = self.main_rect.right + gap
        cw = w - px - gap
        rest = ph - (bars_h + gap if bars_h else 0) - (plot_h + gap if plot_h else 0)
        claim_h = 0 if main is None else rest
        plot_h = rest if plot_h is None else plot_h
        y = top + 4
        self.claim_rect = pygame.Rect(px, y, cw, claim_h) if claim_h else pygame.Rect(0, 0, 0, 0)
        y += claim_h + gap if claim_h else 0
        self.plot_rect = pygame.Rect(px, y, cw, plot_h)
        self.bars_rect = pygame.Rect(px, top + 4 + ph - bars_h, cw, bars_h)
        self.state_view.max_cell = max(4, int(round(self._max_cell * f.scale)))  # cells grow with the window
        self.state_view.scale = f.scale
        self.state_view.layout(self.main_rect)
        if self.graph_view is not None:
            self.graph_view.layout(self.main_rect)
        self._centers_key = None

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
            return
        if key == pygame.K_h:
            self.show_help = not self.show_help
            return
        name = self._control_of(key)
        why = self.unavailable().get(name) if name else None
        if why:  # a control that does not apply says why, instead of doing nothing
            self.say(f"{name.split(',')[0].split(' /')[0]}: {why}", 4)
            return
        if key == pygame.K_SPACE:
            self.toggle_run()
        elif key in (pygame.K_RIGHT, pygame.K_n):
            self.single_step()
        elif key in (pygame.K_u, pygame.K_PERIOD):
            self.unit_step()
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
        elif key == pygame.K_g:
            self.toggle_graph()
        elif key == pygame.K_TAB:
            self.next_trial()
        elif key == pygame.K_z:
            self.set_zoom(-1 if shift else 1)
        elif key == pygame.K_v:
            self.set_theme("dark" if W.theme == "contrast" else "contrast")
        elif key == pygame.K_p:
            self.show_captions = not self.show_captions
            self._layout()
        elif key in _CURSOR_KEYS:
            self.move_cursor(_CURSOR_KEYS[key], paint=shift)
        elif key in (pygame.K_f, pygame.K_RETURN, pygame.K_KP_ENTER):
            if self.cursor is not None or self.move_cursor((0, 0)):
                self.flip_unit(self.cursor)
        elif key == pygame.K_c:
            if self.cursor is not None or self.move_cursor((0, 0)):
                self.toggle_clamp(self.cursor)

    @staticmethod
    def _control_of(key: int) -> str | None:
        """The help line (``widgets.HELP`` key) a key belongs to."""
        if key in (pygame.K_u, pygame.K_PERIOD):
            return "U, ."
        if pygame.K_1 <= key <= pygame.K_9 or pygame.K_KP1 <= key <= pygame.K_KP9:
            return "1-9"
        if key == pygame.K_t:
            return "T / Shift+T"
        if key in _CURSOR_KEYS:
            return "I J K L"
        if key in (pygame.K_f, pygame.K_RETURN, pygame.K_KP_ENTER, pygame.K_c):
            return "F, Enter / C"
        if key == pygame.K_TAB:
            return "Tab"
        if key in (pygame.K_x, pygame.K_LEFTBRACKET, pygame.K_RIGHTBRACKET):
            return "X"
        return None

    def unavailable(self) -> dict[str, str]:
        """The controls that do not apply to this network now, {help key: why} (greyed in the help
        overlay; pressing one says why in the status line)."""
        m = self.model
        out = {}
        if self._units_ok is False:
            out["U, ."] = f"a {m.tick_unit} of this network is not a sequence of unit updates"
        if m.patterns is None or np.asarray(m.patterns).shape[-2] == 0:
            out["1-9"] = out["Shift+1-9"] = "this network stores no patterns"
        why = self._temperature_reason()
        if why and m.use_temperature(apply=False) is None:
            out["T / Shift+T"] = why
        if self.show_graph:
            out["I J K L"] = out["F, Enter / C"] = "the unit cursor works in the state view (G back); click a node here"
        if m.batch_size == 1:
            out["Tab"] = "this run has one trial"
        if self.sim.training_pending:
            out["X"] = "noise acts on the run, after training"
        return out

    def _temperature_reason(self) -> str | None:
        """Why the T keys do not act (None: they do). A run whose recorded temperature was ever
        above 0 (an anneal down to 0) uses its temperature whatever T is now."""
        why = self.model.temperature_control()
        if why is None:
            return None
        rec = self.sim.recorder("temperature")
        if rec is not None and rec.rows and float(np.nanmax(np.asarray(rec.rows[-400:], dtype=float))) > 0:
            return None
        return why

    # ----- commands ---------------------------------------------------------------------------
    def say(self, text: str, seconds: float = 2.5) -> None:
        """Show a short message in the status line."""
        self._message = (text, time.perf_counter() + seconds)

    def _apply(self, perturbation, rows=None, what: str | None = None) -> bool:
        """Send one perturbation to the engine. A refusal is one readable line in the status line
        (``what`` names the command as the user sees it, patterns counted from 1), never raised."""
        self._end_replay()
        was_done = self.sim.done
        try:
            self.sim.apply(perturbation, rows)
        except Exception as exc:  # a command the model refuses is shown, not fatal
            text = " ".join(str(exc).split()) or type(exc).__name__
            self.say(f"{what or perturbation.describe()}: refused ({text})", 5)
            return False
        if was_done and self.sim.stop.max_steps <= self.sim.tick:
            # woken at max steps: it goes on only when the user resumes (Space gives it more steps)
            self.running = False
        elif was_done and self._paused_by_stop and not self.sim.done:
            # the run had settled and paused itself: a perturbation wakes it, so the class sees the
            # dynamics answer the push without a second key (a user's own pause stays a pause)
            self.running = True
        self._paused_by_stop = False
        self.view_layout.on_tick(self.model)
        return True

    def quit(self) -> None:
        self.alive = False

    def toggle_run(self) -> None:
        self.running = not self.running
        self._paused_by_stop = False
        if self.running:
            self._extend_if_at_max_steps()

    def _extend_if_at_max_steps(self) -> bool:
        """Resuming a run that is at its max steps gives it the scenario's max steps again."""
        sim = self.sim
        if sim.tick >= sim.stop.max_steps and (sim.active.any() or (sim.stop_reason == "max_steps").any()):
            sim.stop.max_steps = sim.tick + self._max_steps0
            if not sim.active.any():
                sim._wake(np.flatnonzero(sim.stop_reason == "max_steps"))
            self.say(f"resumed: {self._max_steps0} more {self.model.tick_unit}s (max steps {sim.stop.max_steps})")
            return True
        return False

    def single_step(self) -> None:
        """Pause and advance exactly one tick (the rest of a tick being replayed unit by unit)."""
        self.running = False
        if self._replay is not None and self._replay["k"] < len(self._replay["updates"]):
            self._end_replay()
            return
        self._end_replay()
        if not self._step():
            self.say(f"stopped ({self._stop_text()}): perturb the state, or R to reset")

    def faster(self) -> None:
        if self.unit_rate is not None:
            bigger = [r for r in UNIT_RATES if r > self.unit_rate]
            if bigger:
                self.unit_rate = float(bigger[0])
            else:
                self.unit_rate = None
                self._end_replay()
                self.speed = SPEEDS[0]
        else:
            self.speed = next((s for s in SPEEDS if s > self.speed + 1e-9), SPEEDS[-1])
        self.say(f"speed: {self.speed_text()}")

    def slower(self) -> None:
        if self.unit_rate is not None:
            self.unit_rate = float(next((r for r in reversed(UNIT_RATES) if r < self.unit_rate), UNIT_RATES[0]))
        elif self.speed <= SPEEDS[0] + 1e-12 and self._units_ok is not False and not self.sim.training_pending:
            self.unit_rate = float(UNIT_RATES[-1])
        else:
            self.speed = next((s for s in reversed(SPEEDS) if s < self.speed - 1e-9), SPEEDS[0])
        self.say(f"speed: {self.speed_text()}")

    def speed_text(self) -> str:
        """The speed setting in what it means: unit updates a second, ticks a frame or a second."""
        unit = self.sim.training.unit if self.sim.training_pending else self.model.tick_unit
        if self.unit_rate is not None:
            r = self.unit_rate
            return f"{r:g} unit update{'s' if r != 1 else ''}/s"
        sp = self.speed
        if sp >= 1:
            return f"{sp:g} {unit}{'s' if sp != 1 else ''}/frame"
        return f"1 {unit} every {round(1 / sp)} frames (~{sp * self.fps_cap:.2g}/s)"

    def reset(self) -> None:
        """Back to tick 0: the paused start in lesson mode, at the starting speed."""
        self._end_replay()
        self.sim.reset()
        self.sim.stop.max_steps = self._max_steps0
        self._acc = 0.0
        self._unit_acc = 0.0
        self.view_layout.on_reset()
        self.view_layout.on_tick(self.model)
        if self._start_paused:
            self.running = False
            self.speed, self.unit_rate = self._run_speed, None
            self.say("reset to the start (the cue, tick 0): Space starts")
        else:
            self.say("reset to the initial state")

    def flip_unit(self, unit: int) -> None:
        """Flip one unit of the displayed trial."""
        if self._apply(P.FlipUnits((int(unit),)), [self.trial], f"flip unit {unit}"):
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
        """Load stored pattern k (0-based; the messages count from 1, as the keys do) into every
        trial, with the X noise when ``noisy``."""
        names = list(self.model.pattern_names)
        pats = None if self.model.patterns is None else np.asarray(self.model.patterns)
        n = 0 if pats is None else pats.shape[-2]
        if k >= n:
            self.say(f"there is no pattern {k + 1} ({n} stored)")
            return
        name = names[k] if k < len(names) else str(k + 1)
        what = f"load pattern {k + 1} ({name})"
        if pats.shape[-1] != self.model.n_units:
            self.say(f"{what}: a pattern has {pats.shape[-1]} values and this network {self.model.n_units} units, "
                     "so it cannot be loaded whole", 5)
            return
        if self._apply(P.LoadPattern(k, self.noise if noisy else 0.0), None, what):
            self.say(f"loaded pattern {k + 1} ({name})" + (f" with {self.noise:.0%} noise" if noisy else ""))

    def _temperature_ok(self) -> bool:
        """Whether the T keys act; a deterministic rule that has a stochastic form is switched to
        it (said in the status line), one that has none says why."""
        why = self._temperature_reason()
        if why is None:
            return True
        switched = self.model.use_temperature()
        if switched is None:
            self.say(f"T: {why}", 5)
            return False
        self._switched = switched
        return True

    def raise_temperature(self) -> None:
        if not self._temperature_ok():
            return
        t = float(self.model.temperature)
        self.set_temperature(0.05 if t < 0.05 else t * 1.25)

    def lower_temperature(self) -> None:
        if not self._temperature_ok():
            return
        t = float(self.model.temperature) / 1.25
        self.set_temperature(0.0 if t < 0.05 else t)

    def set_temperature(self, t: float) -> None:
        if self._apply(P.SetTemperature(round(t, 4)), None, f"set T = {t:.3g}"):
            note, self._switched = self._switched, None
            self.say(f"T = {t:.3g}" + (f" ({note})" if note else ""), 5 if note else 2.5)

    def set_theme(self, name: str, quiet: bool = False) -> None:
        """Colour theme: "dark" or "contrast" (the V key, ``[view] theme``)."""
        W.set_theme(name)
        V.refresh_theme()  # the views keep their named tones and swatches in tables
        if not quiet:
            self.say("high-contrast theme" if name == "contrast" else "dark theme")

    def set_zoom(self, direction: int) -> None:
        """Z / Shift+Z: text and layout one zoom step larger / smaller."""
        k = min(range(len(ZOOMS)), key=lambda i: abs(ZOOMS[i] - self.zoom))
        self.zoom = ZOOMS[max(0, min(len(ZOOMS) - 1, k + direction))]
        self._layout()
        self.say(f"zoom {self.zoom:.0%}")

    # ----- sub-sweep stepping -------------------------------------------------------------------
    def unit_step(self) -> bool:
        """U: one unit update of the displayed trial. The first press runs one tick through the
        engine with ``model.trace_units`` set and keeps the tick's unit updates
        (:meth:`Model.unit_updates`); each press then shows one more of them applied to the state
        the tick started from, the updated unit ringed with its local field and the energy change.
        After the last one the state shown is the tick's end state (the engine's). Returns False
        when there is nothing to step."""
        self.running = False
        r = self._replay
        if r is not None and r["k"] < len(r["updates"]):
            r["k"] += 1
            return True
        self._end_replay()
        if self.sim.training_pending:
            return self._step()
        m, b = self.model, self.trial
        if self.sim.done or not self.sim.active[b]:
            self.say(f"stopped ({self._stop_text()}): perturb the state, or R to reset")
            return False
        pre = m.state[b].copy()
        e0 = float(np.asarray(m.energy(), dtype=float)[b])
        m.trace_units = True
        try:
            ok = self._step()
        finally:
            m.trace_units = False
        if not ok:
            return False
        ups = tuple(m.unit_updates(b))
        if not ups:
            self._units_ok = False
            self.unit_rate = None
            self.say(f"one {m.tick_unit} done: {self.unavailable().get('U, .')}", 4)
            return True
        self._units_ok = True
        self._replay = {"pre": pre, "updates": ups, "k": 1, "e0": e0, "trial": b, "tick": self.sim.tick}
        return True

    def _end_replay(self) -> None:
        """Stop replaying a tick unit by unit (the engine is at the tick's end already)."""
        self._replay = None

    def replay_state(self) -> np.ndarray | None:
        """The displayed trial's state after the replayed unit updates so far (None: no replay)."""
        r = self._replay
        if r is None:
            return None
        st = r["pre"].copy()
        for u in r["updates"][: r["k"]]:
            st[u.unit] = u.after
        return st

    def replay_energy(self) -> float | None:
        """The energy of the replayed state: the tick's start energy plus the replayed updates' dE."""
        r = self._replay
        return None if r is None else r["e0"] + sum(u.delta_energy for u in r["updates"][: r["k"]])

    def replay_update(self):
        """The unit update shown last in the replay, or None."""
        r = self._replay
        return None if r is None or r["k"] == 0 else r["updates"][r["k"] - 1]

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
        self._end_replay()
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
                self.say(f"training done ({len(self.sim.training_history)} {self.sim.training.unit}s): "
                         "the run starts at tick 0", 4)
                self.speed = self._run_speed
                self._max_steps0 = int(self.sim.stop.max_steps)
                ok = True  # the run itself starts with the next tick
        else:
            ok = self.sim.step()
        if ok:
            self._step_t.append(time.perf_counter())
            self.view_layout.on_tick(self.model)
        return ok

    def update(self) -> int:
        """Advance the simulation by this frame's share of ticks (when running); returns how many
        ticks were run. Under a unit rate the frame's share is of unit updates (a tick runs when
        its replay is used up). When every trial has stopped the viewer pauses: nothing ticks on
        past a stop until the user resumes."""
        if self.view_layout.replay.period(self.sim, self.trial):
            # the run stopped in a cycle: its states keep alternating on screen (paused or not)
            self._replay_phase += min(1.0, max(self.speed, SPEEDS[0]))
        if not self.running:
            return 0
        done = 0
        if self.unit_rate is not None:
            self._unit_acc += self.unit_rate / max(1, self.fps_cap)
            while self._unit_acc >= 1 and self.unit_rate is not None:
                self._unit_acc -= 1
                r = self._replay
                starts = r is None or r["k"] >= len(r["updates"])
                if not self.unit_step():
                    self._unit_acc = 0.0
                    break
                done += int(starts)
            if self.unit_rate is None:  # the family has no unit updates: on at the slowest tick speed
                self.speed = SPEEDS[0]
            self.running = not (self.sim.done and not self._replay_pending())
            return done
        self._acc += self.speed
        n = int(self._acc)
        self._acc -= n
        t_end = time.perf_counter() + 0.2  # never freeze the window for long
        for _ in range(n):
            if not self._step():
                self._acc = 0.0
                break
            done += 1
            if time.perf_counter() > t_end:
                break
        if self.sim.done and not self.sim.training_pending:
            self.running = False
            self._paused_by_stop = True
        return done

    def _replay_pending(self) -> bool:
        r = self._replay
        return r is not None and r["k"] < len(r["updates"])

    # ----- drawing ----------------------------------------------------------------------------
    def _stop_text(self) -> str:
        b = self.trial
        reason = str(self.sim.stop_reason[b])
        if reason == "cycle":
            return f"cycle of period {int(self.sim.cycle_period[b])}"
        return STOP_TEXT.get(reason, reason)

    def _stop_colour(self):
        """The stop reason's colour: the outcome's verdict when it has one (a task met is green, a
        target missed red, whatever the stop), else green for the stops a scenario aims at (a fixed
        point, its own stop condition: e.g. the loss below ``stop.energy_below``) and orange for the
        others (max steps, a cycle, divergence)."""
        o = self.state_view.outcome(self.trial) if self.state_view is not None else None
        if o and o.get("success") is not None:
            return W.verdict_colour(o["success"])
        return W.GOOD if self.sim.stop_reason[self.trial] in ("fixed_point", "condition") else W.WARN

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
        self._draw_captions(s)
        replay = self.replay_state() if self._replay_pending() else None
        m, b = self.model, self.trial
        tr = self.sim.training if self.sim.training_pending else None
        self.state_view.pending = (None if tr is None else
                                   f"training, {tr.unit} {len(self.sim.training_history)}/{tr.total}: "
                                   f"no result until it ends")
        cycle_caption = None
        if replay is None:  # a trial stopped in a cycle keeps showing its states in turn
            replay, k, p = self.view_layout.replay.state(self.sim, b, self._replay_phase)
            if replay is not None:
                cycle_caption = self._cycle_caption(k, p)
        saved = None
        if replay is not None and not self.show_graph:
            # draw the tick as far as it is replayed: the views read model.state, so the row is
            # swapped for the drawing only and put back at once
            saved = m.state[b].copy()
            m.state[b] = replay
        try:
            if self.show_graph and self.graph_view is not None:
                self.graph_view.draw(s, self.fonts, self.trial)
            else:
                self.state_view.draw(s, self.fonts, self.trial, caption=cycle_caption)
                self._draw_cursor(s)
                self._draw_replay(s)
            self._draw_bars(s, live=saved is not None)
            # the claim panel too: during a unit replay it ends at the replayed state
            main = self.view_layout.main
            if main is not None:
                main.replaying = int(self._replay["tick"]) if self._replay_pending() else None
            self._draw_main(s)
        finally:
            if saved is not None:
                m.state[b] = saved
        self._draw_plot(s)
        if self.show_status:
            self._draw_status(s, now)
        if self.show_help:
            W.help_overlay(s, self.fonts, unavailable=self.unavailable())
        return s

    def _anneal_ahead(self) -> str | None:
        """While the anneal schedule holds T and will change it later: when and to what (the plot
        said "T 0.6 (constant)" for hopfield_glauber's first 20 sweeps of T = 0.6 before it falls to 0).
        None when no change is ahead."""
        a, t = self.sim.anneal, int(self.sim.tick)
        if a is None:
            return None
        now = float(a.temperature_at(t))
        # T is constant within a step: the first change ahead is at a step's end (drawn every
        # frame, so the step ends are checked, not every tick up to the schedule's end)
        for j in itertools.accumulate(int(n) for _, n in a.steps):
            if j <= t:
                continue
            if j > t + 100_000:
                break
            if float(a.temperature_at(j)) != now:
                last = a.final_temperature
                to = f" to {last:g}" if last is not None else ""
                return f"until {self.model.tick_unit} {j}, then annealed{to}"
        return None

    def _cycle_caption(self, k: int, p: int) -> str:
        """The caption of a replayed cycle, state k of p: how many units the next state changes,
        and, when every state of the cycle has the same overlaps (a synchronous 2-cycle whose
        flipping units are where the patterns agree: their flips cancel in every overlap), that
        the bars and the outcome are the same for each state on purpose, not frozen."""
        sim, b = self.sim, self.trial
        key = (b, int(sim.tick), p, id(self.view_layout.replay.states.get(int(sim.tick))))  # a reset re-records
        if getattr(self, "_cycle_key", None) != key:
            T = int(sim.tick)
            full = [self.view_layout.replay.states[T - p + j] for j in range(p)]  # (batch, n_units) each
            states = [st[b] for st in full]
            same = None
            ov = [self.model.overlaps_of(st) for st in full] if len(self.model.pattern_names) else []
            if ov and all(o is not None for o in ov):
                same = all(np.allclose(o[b], ov[0][b]) for o in ov)
            flips = [int(np.count_nonzero(states[j] != states[(j + 1) % p])) for j in range(p)]
            self._cycle_key, self._cycle_info = key, (same, flips)
        same, flips = self._cycle_info
        text = f"cycle of period {p} (found at tick {sim.tick}): state {k + 1} of {p}, {flips[k]} units flip next"
        if same:
            text += "; every overlap is the same in each state"
        return text

    def _draw_title(self, s) -> None:
        r = self.title_rect
        f = self.fonts
        pygame.draw.rect(s, W.PANEL, r)
        m = self.model
        d = {}
        try:
            d = m.describe()
        except Exception:  # a model whose describe() fails still gets a title
            pass
        kind = self.family.title(m.network_type) if self.family is not None else m.network_type
        hint = f.text(s, "H: help", (r.right - f.px(12), r.centery), 17, W.DIM, anchor="midright")
        left = f.text(s, self.title, (f.px(12), r.centery), 22, W.TEXT, anchor="midleft",
                      max_width=max(40, hint.x - f.px(24)))
        extra = [kind, f"{m.n_units} units"]
        for k in self.view_layout.title_keys:
            if d.get(k):
                extra.append(f"{k} {d[k]}")
        if m.batch_size > 1:
            extra.append(f"trial {self.trial + 1}/{m.batch_size}")
        room = hint.x - left.right - f.px(20)
        if room > f.px(60):
            f.text(s, "   " + "  |  ".join(extra), (left.right, r.centery), 17, W.DIM, anchor="midleft", max_width=room)

    def _draw_captions(self, s) -> None:
        """Lesson mode: the scenario's point and what to watch, under the title."""
        if not self.captions:
            return
        r = self.caption_rect
        f = self.fonts
        pygame.draw.rect(s, W.PANEL, r)
        pygame.draw.line(s, W.PANEL_EDGE, r.bottomleft, r.bottomright)
        y = r.y + f.px(3)
        for text, size, col in self.captions:
            f.text(s, text, (f.px(12), y), size, col, max_width=r.w - f.px(24))
            y += f.height(size)

    def _draw_replay(self, s) -> None:
        """Sub-sweep stepping: ring the unit just updated and tag it with h and dE."""
        u = self.replay_update()
        if u is None or self.show_help:
            return
        f = self.fonts
        for blk in self.state_view.blocks:
            cell = blk.cell_rect(u.unit)
            if cell is None:
                continue
            ring = cell.inflate(f.px(6), f.px(6))
            pygame.draw.rect(s, W.BG, ring.inflate(4, 4), 2)
            pygame.draw.rect(s, W.ACCENT, ring, max(2, f.px(3)))
            tag = f"h {W.signed(u.field)}  dE {W.signed(u.delta_energy)}"
            img = f.render(tag, 16, W.TEXT)
            box = img.get_rect()
            box.inflate_ip(f.px(10), f.px(6))
            # above the ring while that stays on the grid (above the top row sit the block's label
            # and the captions), else below it, else (a short grid) beside it
            box.midbottom = (ring.centerx, ring.top - f.px(2))
            if box.top < blk.rect.top:
                box.midtop = (ring.centerx, ring.bottom + f.px(2))
                if box.bottom > blk.rect.bottom:
                    box.midleft = (ring.right + f.px(4), ring.centery)
                    if box.right > self.main_rect.right:
                        box.midright = (ring.left - f.px(4), ring.centery)
            box.clamp_ip(self.main_rect)
            pygame.draw.rect(s, W.PANEL, box, border_radius=4)
            pygame.draw.rect(s, W.ACCENT, box, 1, border_radius=4)
            f.text(s, tag, box.center, 16, W.TEXT, anchor="center")
            return

    def _training_series(self):
        """(ticks, values, label) of the training curve so far: the measurement the training
        declares as its curve, one value per training tick."""
        tr = self.sim.training
        hist = self.sim.training_history
        ys = np.array([float(h.get(tr.curve, np.nan)) for h in hist], dtype=float)
        return np.arange(1, len(ys) + 1, dtype=float), ys, tr.label

    def _marks(self, name: str) -> list[tuple[float, float]]:
        """(tick, value) of recorder ``name`` right after each perturbation (Simulation.marks)."""
        out = []
        for tick, vals in self.sim.marks[-200:]:
            v = vals.get(name)
            if v is not None:
                out.append((float(tick), float(np.asarray(v, dtype=float).reshape(-1)[self.trial])))
        return out

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
        if self._replay_pending() and xs is not None:
            # a tick replayed unit by unit: the ticks before it, then the energy of the state shown
            # (the energy before the tick plus the replayed updates' dE), not the tick's end value
            t = float(self._replay["tick"])
            e = self.replay_energy()
            keep = xs < t
            xs, ys = np.append(xs[keep], t), np.append(ys[keep], e)
        xt, yt = self._series("temperature")
        show_t = yt is not None and self._temperature_reason() is None and (np.ptp(yt) > 0 or yt[-1] > 0)
        marks = [(t, v) for t, v in self._marks("energy") if xs[0] <= t <= xs[-1]]
        title = f"{label} at each {self.model.tick_unit}"
        if self.model.energy_formula:
            title += f":  {self.model.energy_formula}"
        W.line_plot(s, self.plot_rect, self.fonts, title, xs, ys, W.ENERGY,
                    xt if show_t else None, yt if show_t else None, "T", W.TEMP, xlabel=self.model.tick_unit,
                    marks=marks, note2=self._anneal_ahead())

    def _draw_bars(self, s, live: bool = False) -> None:
        """The bar panel from the recorded overlaps of this tick, or after a perturbation the
        values it left (Simulation.marks); ``live``: from the state drawn now (a replay)."""
        if self.bars_rect.h <= 0:
            return
        if live:
            ov = np.asarray(self.model.overlaps())
        else:
            rec = self.sim.recorder("overlaps")
            ov = rec.last() if rec is not None and rec.rows else None
            if self.sim.marks and rec is not None and rec.ticks and self.sim.marks[-1][0] >= rec.ticks[-1]:
                ov = self.sim.marks[-1][1].get("overlaps", ov)
        draw_bars(s, self.bars_rect, self.fonts, self.view_layout.bars, self.model, self.trial, ov,
                  outcome=self.state_view.outcome(self.trial))

    def _draw_status(self, s, now) -> None:
        sim, m, b = self.sim, self.model, self.trial
        parts: list[tuple] = []
        if sim.training_pending:
            tr = sim.training
            parts.append((f"training: {tr.unit} {len(sim.training_history)}/{tr.total}", W.ACCENT, 0))
        else:
            parts.append((f"{m.tick_unit} {sim.tick}", W.TEXT, 0))
            if self._replay_pending():  # the tick replayed so far, not its total yet
                r = self._replay
                done = sum(u.before != u.after for u in r["updates"][: r["k"]])
                parts.append((f"changed {done} so far", W.DIM, 3))
            else:
                parts.append((f"changed {int(sim.last_flips[b])}", W.DIM, 3))
            if not sim.active[b]:
                parts.append((self._stop_text(), self._stop_colour(), 0))
        if self.running and not sim.done:
            parts.append(("RUNNING", W.GOOD, 0))
        elif not self.running:
            parts.append(("PAUSED", W.ACCENT, 0))
        u = self.replay_update() if self._replay is not None else None
        if u is not None:
            r = self._replay
            e = self.replay_energy()
            kept = "kept" if u.after == u.before else "flipped"
            parts.append((f"update {r['k']}/{len(r['updates'])}: unit {u.unit} {fmt_unit(u.before)} -> "
                          f"{fmt_unit(u.after)} ({kept}), h {W.signed(u.field)}, dE {W.signed(u.delta_energy)}, "
                          f"E {W.fmt(e)}", W.ACCENT, 0))
        if self._temperature_reason() is None:
            parts.append((f"T {W.fmt(float(m.temperature))}", W.TEMP if m.temperature > 0 else W.DIM, 2))
        parts.append((f"speed {self.speed_text()}", W.DIM, 2))
        if self.running:
            recent = [t for t in self._step_t if t > now - 1.0]
            unit = sim.training.unit if sim.training_pending else m.tick_unit
            if recent:
                parts.append((f"{len(recent)} {unit}s/s", W.DIM, 4))
        if len(self._frame_t) > 1:
            dt = self._frame_t[-1] - self._frame_t[0]
            if dt > 0:
                parts.append((f"{(len(self._frame_t) - 1) / dt:.0f} fps", W.DIM, 5))
        parts.append((f"X noise {self.noise:.0%}", W.DIM, 5))
        msg, until = self._message
        if msg and now < until:
            hint = (msg, W.ACCENT)
        elif not self.running and sim.done:
            hint = ("stopped: flip units (click) or X, then Space; R: back to the start", W.DIM)
        elif not self.running and sim.training_pending:
            hint = (f"Space: train   N: one {sim.training.unit}   H: every key", W.DIM)
        elif not self.running:
            hint = (f"Space: {'start' if sim.tick == 0 else 'run'}   N: one {m.tick_unit}"
                    + ("" if self._units_ok is False else "   U: one unit update") + "   H: every key", W.DIM)
        else:
            hint = ("Space: pause   +/-: speed   R: back to the start   H: every key", W.DIM)
        self.status_shown = W.status_line(s, self.status_rect, self.fonts, parts, hint)

    def close(self) -> None:
        """Release the window (the display subsystem is shut down)."""
        pygame.display.quit()
