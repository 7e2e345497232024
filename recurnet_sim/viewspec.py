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

    def on_tick(self, model: "Model") -> None:
        """Tell every panel that the model changed (the viewer calls it after each change)."""
        for p in self.panels:
            p.on_tick(model)

    def on_reset(self) -> None:
        """Tell every panel that the run was reset."""
        for p in self.panels:
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
    return ViewLayout(blocks=[block], value_range=(lo, hi), legend=value_legend(lo, hi))


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
    "LogPlotPanel", "Scatter", "ScatterPanel", "GraphHints", "ViewLayout", "default_layout", "layout_for", "value_legend",
    "near_square", "unit_grid", "unit_names",
]

