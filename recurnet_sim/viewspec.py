"""What the live viewer draws, as a family declares it (numpy only: no pygame here).

A family's ``Family.view(model)`` returns one :class:`ViewLayout`: the blocks of units to draw and
how they are arranged, the value range and legend, arrows between blocks, header lines, what the
bar panel shows, extra panels (a heatmap, a log-scale plot), hints for the graph view and the
update schedule the attractor view analyses. The viewer (:mod:`recurnet_sim.viewer`) renders any
such declaration and never asks which family it is drawing; a family that declares no view gets
:func:`default_layout`.

Colours are named, not given: swatches and text tones are theme names that the viewer maps to its
palette (``"pos"``, ``"neg"``, ``"zero"``, ``"hidden_on"``, ``"hidden_off"``; tones ``"accent"``,
``"energy"``, ``"temp"``, ``"good"``, ``"warn"``, ``"dim"``, ``"text"``), so a declaration stays
free of drawing code and the window keeps one look.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - types only
    from .model import Model


# ----- grids of unit indices ------------------------------------------------------------------------
def near_square(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(rows, cols) of a near-square grid holding n cells (cols/rows about ``aspect``)."""
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    return max(1, math.ceil(n / cols)), cols


def unit_grid(start: int, n: int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Unit indices start..start+n-1 laid out row-major in ``shape`` (near-square when ``shape``
    is missing or too small), -1 padding the rest; shape (rows, cols)."""
    rows, cols = shape if shape and shape[0] * shape[1] >= n else near_square(n)
    g = np.full(rows * cols, -1, dtype=np.intp)
    g[:n] = np.arange(start, start + n)
    return g.reshape(rows, cols)


# ----- blocks and links -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Block:
    """A rectangle of cells showing some units.

    Parameters
    ----------
    name : str
        Key other parts of the layout refer to (links, rows of the arrangement).
    label : str
        Caption drawn above the block.
    units : ndarray of int, shape (rows, cols)
        The unit drawn in each cell, -1 for an empty cell.
    palette : {"activity", "hidden"}
        Colour table: ``"activity"`` (dark blue -> grey -> warm) for units that carry the
        pattern, ``"hidden"`` (purple) for hidden units whose code is not a pattern.
    """

    name: str
    label: str
    units: np.ndarray
    palette: str = "activity"

    def __post_init__(self):
        u = np.asarray(self.units, dtype=np.intp)
        if u.ndim != 2:
            raise ValueError(f"Block {self.name!r}: units must be a 2-d grid, got shape {u.shape}")
        object.__setattr__(self, "units", u)


@dataclass(frozen=True)
class Link:
    """An arrow from block ``src`` to block ``dst``.

    Parameters
    ----------
    src, dst : str
        Block names.
    label : str
        Text beside the arrow (``"W"``, ``"copy (w = 1)"``).
    active : callable(model) -> bool, optional
        When given, the arrow is highlighted exactly when it returns true (a BAM's next pass);
        otherwise it is drawn plain, or always highlighted when ``highlight``.
    highlight : bool
        Always draw in the accent colour (a recurrent copy the eye should follow).
    """

    src: str
    dst: str
    label: str = ""
    active: Callable[["Model"], bool] | None = None
    highlight: bool = False


@dataclass(frozen=True)
class LegendItem:
    """One legend entry: colour swatches (theme names) and a text; ``side="right"`` puts it at the
    right end of the legend line."""

    text: str
    swatches: tuple[str, ...]
    side: str = "left"


# ----- the bar panel --------------------------------------------------------------------------------
@dataclass(frozen=True)
class OverlapBars:
    """Bars of the overlap m with each stored pattern (the recorder's last row, or
    ``model.overlaps()``), the largest |m| outlined as "recalled"."""

    title: str = "overlap with each stored pattern"


@dataclass(frozen=True)
class UnitBars:
    """Bars of the values of some units (an output layer), with ``model.current_target(trial)``
    drawn as a tick on each bar when there is a target.

    Parameters
    ----------
    units : slice
        The units shown, one bar each.
    names : tuple of str
        One name per bar.
    """

    units: slice
    names: tuple[str, ...]
    title: str = "units"


# ----- extra panels ---------------------------------------------------------------------------------
class Panel:
    """An extra panel drawn under the blocks. ``placement`` says where: ``"fill"`` panels share
    the width left over, ``"side"`` panels take a fixed width at the right (and are left out when
    the window is too narrow for both).

    The viewer calls :meth:`on_tick` after every change of the model it shows (a tick, a training
    tick, a perturbation, and once at the start) and :meth:`on_reset` when the run is reset, so a
    panel can keep its own history.
    """

    placement = "fill"
    #: As the layout's ``main`` panel: drawn while the run is still training (its content follows
    #: the training ticks). False: the live training curve takes the main area until training ends.
    during_training = False
    #: The simulation the panel belongs to (set by :meth:`bind`; None for a model shown alone).
    sim = None
    #: Set by the viewer while it replays tick ``replaying`` unit by unit (the model then holds
    #: the replayed state, not the tick's end): a panel with a history draws its ticks before that
    #: one plus the model's present state as that tick's point. None: no replay.
    replaying: int | None = None
    #: The layout's :class:`CycleReplay`: the model's states of the last ticks, by tick (set by
    #: :meth:`bind`; None for a model shown alone). A panel reads them instead of keeping copies.
    recent_states = None

    def bind(self, sim, recent_states: "CycleReplay | None" = None) -> None:
        """Called once by the viewer with the simulation shown, so a panel can read its clock,
        stop reasons and recorders (panels read, never change it), and the layout's record of
        the last states."""
        self.sim = sim
        self.recent_states = recent_states

    def on_tick(self, model: "Model") -> None:
        """Called after every change of the model (default: nothing to remember)."""

    def on_reset(self) -> None:
        """Called when the simulation is reset (default: nothing to forget)."""


class HeatmapPanel(Panel):
    """Values over time as a heatmap strip: x = time, y = unit. Subclasses implement :meth:`data`."""

    placement = "fill"
    value_range: tuple[float, float] = (-1.0, 1.0)

    def data(self, model: "Model", trial: int) -> tuple[np.ndarray, str]:
        """(values, caption): values of shape (T, n_rows), the most recent time last."""
        raise NotImplementedError


@dataclass
class LogPlot:
    """The content of a :class:`LogPlotPanel`: positive ``ys`` against ``xs`` on a log10 axis.

    Parameters
    ----------
    title, xlabel, ylabel : str
    xs, ys : ndarray, shape (n,)
    lines : list of (text, tone)
        Up to two lines of text under the title (tone: a theme colour name).
    note : str, optional
        Shown instead of the plot (why there is no data).
    color : str
        Tone of the curve.
    label : str, optional
        The curve's name in the legend (drawn when there is a label or other curves).
    curves : list of (label, xs, ys, tone)
        More curves on the same axes (e.g. a reference), drawn thinner and named in the legend.
    """

    title: str
    xs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ys: np.ndarray = field(default_factory=lambda: np.zeros(0))
    xlabel: str = "x"
    ylabel: str = "y (log)"
    lines: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None
    color: str = "temp"
    label: str | None = None
    curves: list[tuple[str, np.ndarray, np.ndarray, str]] = field(default_factory=list)


class LogPlotPanel(Panel):
    """A small plot on a log y axis. Subclasses implement :meth:`data`."""

    placement = "side"

    def data(self, model: "Model", trial: int) -> LogPlot:
        raise NotImplementedError


@dataclass
class Scatter:
    """The content of a :class:`ScatterPanel`: a trajectory and marked points on a plane (e.g. a
    PCA projection of a state space, with its fixed points).

    Parameters
    ----------
    title, xlabel, ylabel : str
    path : ndarray, shape (n, 2)
        A trajectory, drawn as a faint line.
    trail : ndarray, shape (m, 2)
        A recent stretch, drawn bright, its last point (the present) marked.
    points : ndarray, shape (k, 2)
        Marked points.
    filled : sequence of bool, length k
        Filled or hollow marker per point.
    tones : sequence of str, length k
        Theme tone per point.
    lines : list of (text, tone)
        Up to two lines under the title.
    note : str, optional
        Shown instead of the plot (why there is no data).
    color : str
        Tone of the path and trail.
    """

    title: str
    path: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    trail: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))
    filled: tuple[bool, ...] = ()
    tones: tuple[str, ...] = ()
    xlabel: str = "x"
    ylabel: str = "y"
    lines: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None
    color: str = "temp"


class ScatterPanel(Panel):
    """A 2-D plot of a trajectory with marked points. Subclasses implement :meth:`data`."""

    placement = "side"

    def data(self, model: "Model", trial: int) -> Scatter:
        raise NotImplementedError


@dataclass
class Curves:
    """The content of a :class:`CurvePanel`: named curves on linear axes.

    Parameters
    ----------
    title, xlabel, ylabel : str
    curves : list of (label, xs, ys, tone)
        Drawn as ``styles`` says; each is named in the legend (an empty label: not named).
    lines : list of (text, tone)
        Up to two lines of text under the title (the claim, in numbers).
    marks : list of (x, text, tone)
        Vertical markers (e.g. the tick a cycle was detected, its period).
    y_range : (lo, hi), optional
        Fixed y axis (overlaps: -1..1); default: the data's range.
    x_labels : list of (x, text, tone)
        Category labels under the x axis (e.g. the letter each step predicts), drawn when they fit.
    note : str, optional
        Shown instead of the plot (why there is no data).
    styles : tuple of {"thick", "level", "line", "faint"}
        Per curve, how it is drawn (default: the first thick, the others lines): ``"faint"`` for
        raw data behind the series that carries the claim; ``"level"`` thick too, but a run of two
        points is a flat bar at the first one's value (a level held over one step, e.g. the mean
        error of a position in the sequence). A NaN in a curve breaks its line.
    """

    title: str
    curves: list[tuple[str, np.ndarray, np.ndarray, str]] = field(default_factory=list)
    xlabel: str = "x"
    ylabel: str = "y"
    lines: list[tuple[str, str]] = field(default_factory=list)
    marks: list[tuple[float, str, str]] = field(default_factory=list)
    y_range: tuple[float, float] | None = None
    x_labels: list[tuple[float, str, str]] = field(default_factory=list)
    note: str | None = None
    styles: tuple[str, ...] = ()

    def style(self, k: int) -> str:
        """How curve ``k`` is drawn."""
        return self.styles[k] if k < len(self.styles) else ("thick" if k == 0 else "line")

    @property
    def n_points(self) -> int:
        """Finite points over every curve (tests: the panel has real content)."""
        return int(sum(np.isfinite(np.asarray(c[2], dtype=float)).sum() for c in self.curves))


class CurvePanel(Panel):
    """Curves on linear axes. Subclasses implement :meth:`data`."""

    placement = "side"

    def data(self, model: "Model", trial: int) -> Curves:
        raise NotImplementedError


@dataclass
class Histogram:
    """The content of a :class:`HistogramPanel`: measured bars against reference values.

    Parameters
    ----------
    title : str
    labels : sequence of str
        One name per bar (drawn when they fit).
    values : ndarray, shape (k,)
        The measured heights (e.g. sampled frequencies).
    reference : ndarray, shape (k,), optional
        The theory's heights, drawn as a marker on each bar (e.g. exp(-E/T)/Z).
    tones : sequence of str, optional
        Theme tone per bar (default: all ``"energy"``).
    lines : list of (text, tone)
        Up to two lines under the title (e.g. the total-variation distance).
    legend : list of (text, tone)
        What the bar and the marker mean.
    xlabel, ylabel : str
    note : str, optional
        Shown instead of the bars.
    """

    title: str
    labels: tuple[str, ...] = ()
    values: np.ndarray = field(default_factory=lambda: np.zeros(0))
    reference: np.ndarray | None = None
    tones: tuple[str, ...] = ()
    lines: list[tuple[str, str]] = field(default_factory=list)
    legend: list[tuple[str, str]] = field(default_factory=list)
    xlabel: str = ""
    ylabel: str = ""
    note: str | None = None


class HistogramPanel(Panel):
    """Bars with reference markers. Subclasses implement :meth:`data`."""

    placement = "side"

    def data(self, model: "Model", trial: int) -> Histogram:
        raise NotImplementedError


@dataclass
class Table:
    """The content of a :class:`TablePanel`: a small table drawn as data, one row per case, with
    an optional bar per row (a share such as "% correct") drawn in column ``bar_column``.

    Parameters
    ----------
    title : str
    columns : tuple of str
        Column headers.
    rows : list of list of (text, tone)
        One cell per column (tone: a theme colour name).
    bars : list of float or None
        Per row, a fraction 0..1 drawn as a bar in ``bar_column`` (None: no bar in that row).
    bar_column : int, optional
        The column the bars are drawn in (the cell's text is drawn beside the bar).
    bar_tones : list of str
        Per row, the bar's tone (default ``"energy"``).
    lines : list of (text, tone)
        Up to two lines under the title (the claim, in words and numbers).
    note : str, optional
        Shown instead of the table (why there is no data yet).
    """

    title: str
    columns: tuple[str, ...] = ()
    rows: list[list[tuple[str, str]]] = field(default_factory=list)
    bars: list[float | None] = field(default_factory=list)
    bar_column: int | None = None
    bar_tones: list[str] = field(default_factory=list)
    lines: list[tuple[str, str]] = field(default_factory=list)
    note: str | None = None


class TablePanel(Panel):
    """A small table of results. Subclasses implement :meth:`data`."""

    placement = "side"

    def data(self, model: "Model", trial: int) -> Table:
        raise NotImplementedError


class OverlapTracePanel(CurvePanel):
    """The overlap m_mu(t) = xi_mu . s(t) / N with the stored patterns over the ticks of the run
    (Amit, Gutfreund & Sompolinsky 1985's order parameter): the few patterns with the largest
    |m| now, and the scenario's target when it has one. Recall is m -> +1, a reversed pattern
    m -> -1, a mixture several m near 1/2, a spurious state all m small; a 2-cycle is m jumping
    between two values every tick, its period marked where the engine found it.

    Family-free: it reads ``model.overlaps()``, ``model.pattern_names`` and the simulation's
    stop reasons, so every family with stored patterns can declare it as its main panel.
    ``target(model, trial)`` gives the index of the pattern the scenario aims at (or None).
    """

    SHOW = 4  # curves drawn
    KEEP = 2000  # ticks kept

    def __init__(self, title: str = "overlap m with the stored patterns",
                 target: Callable[["Model", int], int | None] | None = None):
        self.title = title
        self.target = target
        self.ticks: list[int] = []
        self.rows: list[np.ndarray] = []  # (batch, P) per tick

    def on_tick(self, model: "Model") -> None:
        m = model.overlaps()
        if m.shape[-1] == 0:
            return
        # a perturbation at this tick adds a second point at the same tick: drawn as a jump
        t = int(self.sim.tick) if self.sim is not None else len(self.ticks)
        self.ticks.append(t)
        self.rows.append(np.array(m, dtype=float))
        if len(self.ticks) > self.KEEP:
            del self.ticks[:-self.KEEP], self.rows[:-self.KEEP]

    def on_reset(self) -> None:
        self.ticks.clear()
        self.rows.clear()

    def data(self, model: "Model", trial: int) -> Curves:
        names = list(model.pattern_names)
        if not self.rows or not names:
            return Curves(self.title, note="no stored patterns")
        M = np.stack([r[trial] for r in self.rows])  # (n, P)
        xs = np.asarray(self.ticks, dtype=float)
        if self.replaying is not None:  # a tick replayed unit by unit: it ends at the state shown
            keep = xs < self.replaying
            live = np.asarray(model.overlaps(), dtype=float)[trial]
            M = np.vstack([M[keep], live[None]])
            xs = np.append(xs[keep], float(self.replaying))
        now = M[-1]
        order = list(np.argsort(-np.abs(now), kind="stable")[: self.SHOW])
        tgt = None if self.target is None else self.target(model, trial)
        tgt = int(tgt) if tgt is not None and 0 <= int(tgt) < len(names) else None
        if tgt is not None and tgt not in order:
            order = order[: self.SHOW - 1] + [tgt]
        tones = ("accent", "energy", "temp", "good")
        curves = [(f"{names[k]}" + (" (target)" if k == tgt else ""), xs, M[:, k], tones[j % len(tones)])
                  for j, k in enumerate(order)]
        k0 = order[0]
        lines = [(f"now: m({names[k0]}) = {now[k0]:+.2f}" + (f", m({names[tgt]}) = {now[tgt]:+.2f}"
                                                            if tgt is not None and tgt != k0 else ""), "text")]
        marks = []
        sim = self.sim
        if sim is not None and not sim.active[trial] and str(sim.stop_reason[trial]) == "cycle":
            p = int(sim.cycle_period[trial])
            marks.append((float(sim.tick), f"cycle, period {p}", "warn"))
            T, R = int(sim.tick), (self.recent_states.states if self.recent_states is not None else {})
            if T in R and T - 1 in R and T - p in R:
                d1 = int((R[T][trial] != R[T - 1][trial]).sum())
                dp = int((R[T][trial] != R[T - p][trial]).sum())
                lines.append((f"{d1} units differ at t+1; s(t+{p}) = s(t)"
                              + ("" if dp == 0 else f" ({dp} differ)") + ": alternating", "warn"))
            else:
                lines.append((f"the state repeats every {p} ticks", "warn"))
        return Curves(self.title, curves, xlabel=model.tick_unit, ylabel="overlap m",
                      lines=lines, marks=marks, y_range=(-1.0, 1.0))


class CycleReplay:
    """The last states of the run, by tick, so a trial that stopped in a cycle can keep showing
    it: the viewer draws :meth:`state` (the cycle's states in turn) instead of the frozen last one.
    The engine reports the cycle and its period once; the replay only re-shows states it already
    visited, so nothing about the run's result changes."""

    KEEP = 64  # ticks remembered (a longer cycle is not replayed)
    MAX_VALUES = 2_000_000  # a bigger batch keeps no copies

    def __init__(self):
        self.states: dict[int, np.ndarray] = {}
        self.start_phase: dict[int, float] = {}

    def observe(self, sim) -> None:
        st = sim.model.state
        if st.size > self.MAX_VALUES:
            return
        self.states[int(sim.tick)] = np.array(st, copy=True)  # a perturbation overwrites its tick
        for t in [t for t in self.states if t < sim.tick - self.KEEP or t > sim.tick]:
            del self.states[t]

    def clear(self) -> None:
        self.states.clear()
        self.start_phase.clear()

    def period(self, sim, trial: int) -> int:
        """The period being replayed for ``trial`` (0: no replay)."""
        if sim is None or sim.active[trial] or str(sim.stop_reason[trial]) != "cycle":
            return 0
        p = int(sim.cycle_period[trial])
        T = int(sim.tick)
        return p if p >= 2 and all(T - k in self.states for k in range(p + 1)) else 0

    def state(self, sim, trial: int, phase: float) -> tuple[np.ndarray | None, int, int]:
        """(state of ``trial`` to draw, its position in the cycle 0..p-1, the period p); (None, 0, 0)
        when the trial is not in a replayable cycle. ``phase`` counts replay ticks (any origin)."""
        p = self.period(sim, trial)
        if not p:
            self.start_phase.pop(trial, None)
            return None, 0, 0
        k = int(phase - self.start_phase.setdefault(trial, phase)) % p
        T = int(sim.tick)
        return self.states[T - p + k][trial], k, p


# ----- graph view hints -----------------------------------------------------------------------------
@dataclass(frozen=True)
class GraphHints:
    """How the graph view lays out the units.

    Parameters
    ----------
    groups : tuple of (name, slice)
        Node groups in layer order; empty: ``model.layers`` in their order. With two or more
        groups the nodes are laid out by group (a multipartite layout), else by a spring layout
        that follows the excitatory weights.
    orientation : {"columns", "rows"}
        ``"columns"``: groups left to right; ``"rows"``: groups bottom to top (inputs at the
        bottom, outputs on top).
    positions : callable() -> ndarray (n_units, 2), optional
        Explicit node positions (any scale; the view normalises them), overriding the layout.
    label_groups : bool
        Name each group beside its nodes.
    ring : tuple of str
        Groups whose nodes get the hidden-unit outline.
    """

    groups: tuple[tuple[str, slice], ...] = ()
    orientation: str = "columns"
    positions: Callable[[], np.ndarray] | None = None
    label_groups: bool = False
    ring: tuple[str, ...] = ()


# ----- the layout -----------------------------------------------------------------------------------
def _no_header(model) -> list[str]:
    return []


def _sync(model) -> str:
    return "sync"


@dataclass
class ViewLayout:
    """Everything the viewer draws for one model.

    Parameters
    ----------
    blocks : list of Block
    arrangement : {"row", "layers"}
        ``"row"``: the blocks side by side, vertically centred. ``"layers"``: stacked rows as
        given by ``rows`` (first row on top), e.g. output / hidden / input + context.
    rows : tuple of tuple of str
        Block names per row for ``"layers"`` (top first).
    value_range : (lo, hi)
        Unit values mapped to the two ends of the colour tables.
    legend : list of LegendItem
        (The viewer adds the "clamped" swatch itself.)
    links : list of Link
    header : callable(model) -> list of str
        Text lines above the blocks: the first in the accent colour, the rest dimmed.
    bars : OverlapBars or UnitBars
        What the bar panel on the right shows.
    panels : list of Panel
        Extra panels under the blocks.
    graph : GraphHints
    attractor_schedule : callable(model) -> {"sync", "async"}
        The update schedule the attractor view analyses.
    title_keys : tuple of str
        Keys of ``model.describe()`` shown in the title bar when set.
    main : Panel, optional
        The scenario's claim, drawn as the window's main plot (the big area right of the state);
        the energy/loss plot then gets a smaller strip under it.
    energy_plot : bool
        Whether the energy/loss per tick is drawn at all (False where it means nothing, e.g. the
        loss of a free-running net, which has no target).
    """

    blocks: list[Block]
    arrangement: str = "row"
    rows: tuple[tuple[str, ...], ...] = ()
    value_range: tuple[float, float] = (-1.0, 1.0)
    legend: list[LegendItem] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    header: Callable[["Model"], list[str]] = _no_header
    bars: Any = field(default_factory=OverlapBars)
    panels: list[Panel] = field(default_factory=list)
    graph: GraphHints = field(default_factory=GraphHints)
    attractor_schedule: Callable[["Model"], str] = _sync
    title_keys: tuple[str, ...] = ("schedule", "mode", "task")
    main: Panel | None = None
    energy_plot: bool = True
    replay: CycleReplay = field(default_factory=CycleReplay)

    def __post_init__(self):
        names = [b.name for b in self.blocks]
        if len(set(names)) != len(names):
            raise ValueError(f"ViewLayout: block names must be unique, got {names}")
        if self.arrangement not in ("row", "layers"):
            raise ValueError(f"ViewLayout: arrangement must be 'row' or 'layers', got {self.arrangement!r}")
        for ln in self.links:
            for end in (ln.src, ln.dst):
                if end not in names:
                    raise ValueError(f"ViewLayout: link names block {end!r}, blocks are {names}")
        if self.arrangement == "layers":
            placed = [n for row in self.rows for n in row]
            if sorted(placed) != sorted(names):
                raise ValueError(f"ViewLayout: rows {self.rows} must place each block {names} once")

    def block(self, name: str) -> Block:
        for b in self.blocks:
            if b.name == name:
                return b
        raise KeyError(name)

    def all_panels(self) -> list[Panel]:
        """The panels under the blocks and the main panel."""
        return list(self.panels) + ([self.main] if self.main is not None else [])

    def bind(self, sim) -> None:
        """Give every panel the simulation shown (the viewer calls it once)."""
        self._sim = sim
        for p in self.all_panels():
            p.bind(sim, self.replay)

    def on_tick(self, model: "Model") -> None:
        """Tell every panel that the model changed (the viewer calls it after each change)."""
        sim = getattr(self, "_sim", None)
        if sim is not None:
            self.replay.observe(sim)
        for p in self.all_panels():
            p.on_tick(model)

    def on_reset(self) -> None:
        """Tell every panel that the run was reset."""
        self.replay.clear()
        for p in self.all_panels():
            p.on_reset()


def value_legend(lo: float, hi: float) -> list[LegendItem]:
    """The legend of two-valued units: the high value warm, the low value dark."""
    return [LegendItem(f"{hi:g}", ("pos",)), LegendItem(f"{lo:g}", ("neg",))]


def default_layout(model: "Model") -> ViewLayout:
    """The view of a family that declares none: all units as one grid, in
    ``describe()["grid_shape"]`` when it fits, else a single row (up to 16 units) or a
    near-square grid; colours from ``model.unit_values``; overlap bars."""
    n = model.n_units
    g = model.describe().get("grid_shape")
    shape = tuple(int(x) for x in g) if g else None
    if shape is None or shape[0] * shape[1] != n:
        shape = (1, n) if n <= 16 else near_square(n)
    lo, hi = (float(v) for v in model.unit_values)
    block = Block("units", f"{n} units ({shape[0]} x {shape[1]})", unit_grid(0, n, shape))
    main = OverlapTracePanel() if len(model.pattern_names) else None
    return ViewLayout(blocks=[block], value_range=(lo, hi), legend=value_legend(lo, hi), main=main)


def unit_names(prefix: str, n: int) -> tuple[str, ...]:
    """``("y0", "y1", ...)``: default bar names of ``n`` units."""
    return tuple(f"{prefix}{k}" for k in range(n))


def layout_for(family, model: "Model") -> ViewLayout:
    """``family.view(model)`` when the family declares a view, else :func:`default_layout`
    (also for a model built by hand, without a family)."""
    view = None if family is None else family.view
    return default_layout(model) if view is None else view(model)


__all__ = [
    "Block", "Link", "LegendItem", "OverlapBars", "UnitBars", "Panel", "HeatmapPanel", "LogPlot",
    "LogPlotPanel", "Scatter", "ScatterPanel", "Curves", "CurvePanel", "Histogram", "HistogramPanel",
    "Table", "TablePanel", "OverlapTracePanel", "CycleReplay", "GraphHints", "ViewLayout", "default_layout", "layout_for", "value_legend",
    "near_square", "unit_grid", "unit_names",
]

