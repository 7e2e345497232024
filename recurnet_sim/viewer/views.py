"""The drawers: a family's :class:`~recurnet_sim.viewspec.ViewLayout` rendered, plus the graph view
and the attractor view.

Every view draws the *displayed trial* of a model into a rectangle and answers ``unit_at(pos)``
for mouse hits. Views read the model (state, clamped, weights) and never change it. What to draw
comes from the layout the model's family declares (blocks, links, header, legend, panels, graph
hints); nothing here asks which family a model belongs to. States are drawn as cell blocks through
one array blit each (``pygame.surfarray``), so a 100 x 100 grid costs one scaled blit, not 10 000
rectangles.
"""
from __future__ import annotations

import math
import re

import numpy as np
import pygame

from ..outcome import summary_line
from ..viewspec import (Block as BlockSpec, CurvePanel, GraphHints, HeatmapPanel, HistogramPanel, LogPlotPanel,
                        OverlapBars, ScatterPanel, TablePanel, UnitBars, ViewLayout)
from . import widgets as W
from .widgets import Fonts

MAX_CELL = 64

#: colour tables of the block palettes a layout may name
PALETTES = {"activity": W.LUT_ACT, "hidden": W.LUT_HIDDEN}
#: legend swatches a layout may name
SWATCHES: dict[str, tuple] = {}
#: text and curve tones a layout may name
TONES: dict[str, tuple] = {}


def refresh_theme() -> None:
    """Fill :data:`TONES` and :data:`SWATCHES` from the theme's colours (at import, and after
    :func:`widgets.set_theme`)."""
    TONES.update({"accent": W.ACCENT, "energy": W.ENERGY, "temp": W.TEMP, "good": W.GOOD, "warn": W.WARN,
                  "dim": W.DIM, "faint": W.FAINT, "text": W.TEXT})
    SWATCHES.update({"pos": W.POS, "neg": W.NEG, "zero": W.ZERO, "hidden_on": tuple(int(c) for c in W.LUT_HIDDEN[-1]),
                     "hidden_off": tuple(int(c) for c in W.LUT_HIDDEN[0])})


refresh_theme()

__all__ = ["MAX_CELL", "Block", "StateView", "GraphView", "AttractorView", "attractor_view_available",
           "layout_row", "arrow", "bar_rows", "draw_bars", "draw_curves", "draw_histogram",
           "draw_table"]


# ----- helpers ------------------------------------------------------------------------------------
def arrow(surf, color, a, b, width=3, head=10):
    """A straight arrow from a to b."""
    pygame.draw.line(surf, color, a, b, width)
    ang = math.atan2(b[1] - a[1], b[0] - a[0])
    p1 = (b[0] - head * math.cos(ang - 0.45), b[1] - head * math.sin(ang - 0.45))
    p2 = (b[0] - head * math.cos(ang + 0.45), b[1] - head * math.sin(ang + 0.45))
    pygame.draw.polygon(surf, color, [b, p1, p2])


def bar_rows(bars, model) -> int:
    """How many rows the bar panel shows for ``bars`` (sizes the panel)."""
    if isinstance(bars, UnitBars):
        return bars.units.stop - bars.units.start
    return len(model.pattern_names) or 4


class Block:
    """A declared :class:`~recurnet_sim.viewspec.Block` on screen: a rectangle of cells."""

    def __init__(self, spec: BlockSpec):
        self.spec = spec
        self.name = spec.name
        self.label = spec.label
        self.units = spec.units               # (rows, cols) unit indices, -1 = empty cell
        self.rows, self.cols = self.units.shape
        self._flat = self.units.ravel()
        self._pad = self._flat < 0
        self._take = np.where(self._pad, 0, self._flat)
        self.lut = PALETTES[spec.palette]
        self.rect = pygame.Rect(0, 0, 0, 0)
        self.cell = 1
        self._small: pygame.Surface | None = None
        self._big: pygame.Surface | None = None

    def place(self, x: int, y: int, cell: int) -> None:
        self.cell = max(1, int(cell))
        self.rect = pygame.Rect(int(x), int(y), self.cols * self.cell, self.rows * self.cell)

    def cell_rect(self, unit: int) -> pygame.Rect | None:
        hit = np.flatnonzero(self._flat == unit)
        if hit.size == 0:
            return None
        r, c = divmod(int(hit[0]), self.cols)
        return pygame.Rect(self.rect.x + c * self.cell, self.rect.y + r * self.cell, self.cell, self.cell)

    def unit_at(self, pos) -> int | None:
        if not self.rect.collidepoint(pos):
            return None
        c = (pos[0] - self.rect.x) // self.cell
        r = (pos[1] - self.rect.y) // self.cell
        u = int(self.units[min(r, self.rows - 1), min(c, self.cols - 1)])
        return u if u >= 0 else None

    def draw(self, surf: pygame.Surface, state: np.ndarray, clamped: np.ndarray | None, lo: float, hi: float,
             fonts: Fonts | None = None) -> None:
        rgb = self.lut[W.to_index(state[self._take], lo, hi)]
        rgb[self._pad] = W.BG
        cl = None
        if clamped is not None:
            cl = clamped[self._take] & ~self._pad
            if cl.any() and self.cell < 6:
                # too small for outlines: tint the clamped cells instead
                rgb[cl] = (0.45 * rgb[cl] + 0.55 * np.asarray(W.CLAMP)).astype(np.uint8)
        img = rgb.reshape(self.rows, self.cols, 3).transpose(1, 0, 2)
        if self._small is None or self._small.get_size() != (self.cols, self.rows):
            self._small = pygame.Surface((self.cols, self.rows), 0, 24)
        pygame.surfarray.blit_array(self._small, img)
        size = self.rect.size
        if self._big is None or self._big.get_size() != size:
            self._big = pygame.Surface(size, 0, 24)
        pygame.transform.scale(self._small, size, self._big)
        big = self._big
        if self.cell >= 7:
            # one-pixel gutters make single units readable
            for c in range(self.cols + 1):
                pygame.draw.line(big, W.BG, (c * self.cell, 0), (c * self.cell, size[1]))
            for r in range(self.rows + 1):
                pygame.draw.line(big, W.BG, (0, r * self.cell), (size[0], r * self.cell))
        surf.blit(big, self.rect)
        if cl is not None and self.cell >= 6:
            idx = np.flatnonzero(cl)
            if idx.size <= 4000:
                wd = 2 if self.cell >= 12 else 1
                for k in idx:
                    r, c = divmod(int(k), self.cols)
                    pygame.draw.rect(surf, W.CLAMP, (self.rect.x + c * self.cell, self.rect.y + r * self.cell,
                                                     self.cell, self.cell), wd)
        if fonts is not None and self.label:
            # a label wider than its block stays inside the state view (``limit``: its right edge)
            x = self.rect.x
            limit = getattr(self, "limit", None)
            if limit is not None:
                x = max(0, min(x, limit - fonts.font(17).size(self.label)[0]))
            fonts.text(surf, self.label, (x, self.rect.y - 4), 17, W.DIM, anchor="bottomleft")


def layout_row(blocks: list[Block], rect: pygame.Rect, gap: int, label_h: int = 22, max_cell: int = MAX_CELL) -> int:
    """Place blocks side by side, vertically centred, with one common cell size; returns it."""
    total = sum(b.cols for b in blocks)
    tall = max(b.rows for b in blocks)
    aw = rect.w - gap * (len(blocks) - 1)
    ah = rect.h - label_h
    cell = max(1, min(aw // max(1, total), ah // max(1, tall), max_cell))
    width = total * cell + gap * (len(blocks) - 1)
    x = rect.centerx - width // 2
    y0 = rect.y + label_h + (ah - tall * cell) // 2
    for b in blocks:
        b.place(x, y0 + (tall - b.rows) * cell // 2, cell)
        x += b.cols * cell + gap
    return cell


# ----- the state view: a ViewLayout on screen ------------------------------------------------------
class StateView:
    """Draws a :class:`~recurnet_sim.viewspec.ViewLayout`: its blocks (in a row, or stacked in
    layers), the links between them, the header lines, the panels under the blocks and the legend.

    Attributes
    ----------
    blocks : list of Block
        The blocks on screen, in the layout's order (hit tests, the keyboard cursor).
    panel_rects : list of pygame.Rect
        Where each of the layout's panels is drawn (an empty rect: left out, too small).
    """

    #: gap between blocks of a layer, in cells
    LAYER_GAP = 2
    #: the largest cell of a layered view (layers are long rows)
    LAYER_MAX_CELL = 32
    #: the text scale of the window (the viewer sets it): the room kept for captions, the outcome
    #: line and the legend grows with the text
    scale = 1.0

    def __init__(self, model, layout: ViewLayout, max_cell: int = MAX_CELL):
        self.model = model
        self.spec = layout
        self.max_cell = max_cell
        self.blocks = [Block(b) for b in layout.blocks]
        self._by_name = {b.name: b for b in self.blocks}
        self.rect = pygame.Rect(0, 0, 0, 0)
        self.lo, self.hi = (float(v) for v in layout.value_range)
        self.panel_rects = [pygame.Rect(0, 0, 0, 0) for _ in layout.panels]

    # ----- placement ----------------------------------------------------------------------------
    def layout(self, rect: pygame.Rect) -> None:
        self.rect = pygame.Rect(rect)
        spec = self.spec
        panels = bool(spec.panels)
        if spec.arrangement == "layers":
            # the right margin holds the recurrent copy's route and its label (text that grows)
            longest = max([len(ln.label) for ln in spec.links] + [0])
            margin = 50 + int(max(80, 8.5 * longest) * self.scale)
            top = pygame.Rect(rect.x + 20, rect.y + 10, rect.w - margin, int(rect.h * 0.58) if panels else rect.h - 44)
            self._layout_layers(top)
        else:
            # header lines need room above the blocks, and so does a replayed cycle's caption; below
            # them the outcome line and the legend; arrows need room between the blocks
            s = self.scale
            top_off = int((50 if spec.header(self.model) else 10) * s) + int(20 * s)
            # below: the outcome line and the legend, in as many rows as it needs at this width
            below = int(40 * s) + self.legend_height(W.Fonts(s), rect.w - int(20 * s))
            h = int(rect.h * 0.58) if panels else rect.h - top_off - below
            top = pygame.Rect(rect.x + 10, rect.y + top_off, rect.w - 20, h)
            gap = max(90, min(200, rect.w // 5)) if spec.links else 40
            layout_row(self.blocks, top, gap, label_h=int(22 * s), max_cell=self.max_cell)
        if panels:
            self._layout_panels(rect, top)
        for b in self.blocks:
            b.limit = rect.right - 4

    def _layout_layers(self, top: pygame.Rect) -> None:
        rows = [[self._by_name[n] for n in row] for row in self.spec.rows]
        g = self.LAYER_GAP
        wide = max(sum(b.cols for b in row) + g * (len(row) - 1) for row in rows)
        tall = sum(max(b.rows for b in row) for row in rows)
        n = len(rows)
        band = n * 24 + (n - 1) * 26  # labels and room for the arrows
        cell = max(2, min(top.w // wide, (top.h - band) // max(1, tall), self.LAYER_MAX_CELL, self.max_cell))
        spare = top.h - band - tall * cell
        y = top.y + 22 + spare // (n + 1)
        cx = top.centerx
        f = W.Fonts(self.scale)
        for row in rows:
            # a block narrower than its label ("input (1)") keeps the next block clear of the label
            gaps = [max(g * cell, (f.font(17).size(b.label)[0] + f.px(12) - b.cols * cell) if b.label else 0)
                    for b in row[:-1]] + [0]
            width = sum(b.cols for b in row) * cell + sum(gaps)
            x = cx - width // 2
            for b, gap in zip(row, gaps):
                b.place(x, y, cell)
                x += b.cols * cell + gap
            y = max(b.rect.bottom for b in row) + 26 + 22 + spare // (n + 1)

    def _layout_panels(self, rect: pygame.Rect, top: pygame.Rect) -> None:
        """Panels under the blocks: side panels on the right at a width that grows with the text
        scale (when the window is wide enough for them), fill panels sharing the rest."""
        panels = self.spec.panels
        side = [k for k, p in enumerate(panels) if p.placement == "side"]
        fill = [k for k, p in enumerate(panels) if p.placement != "side"]
        avail = rect.w - 80
        k = max(1.0, self.scale)  # at 4K the text is twice as large: so is the panel
        gw = int(min(320 * k, max(180 * k, 0.42 * avail))) if avail >= 380 and side else 0
        self.panel_rects = [pygame.Rect(0, 0, 0, 0) for _ in panels]
        fill_w = avail - (len(side) * (gw + 24) if gw else 0)
        if fill:
            each = (fill_w - 24 * (len(fill) - 1)) // len(fill)
            # below a strip: its 'time ->' line, then the legend (rows that grow with the text)
            f = W.Fonts(self.scale)
            low = f.height(15) + f.px(14) + self.legend_height(f, rect.w - f.px(20))
            y0 = top.bottom + f.px(40)
            for j, k in enumerate(fill):
                self.panel_rects[k] = pygame.Rect(rect.x + 60 + j * (each + 24), y0, each,
                                                  max(0, rect.bottom - low - y0))
        if gw:
            gy = top.bottom + 10
            for j, k in enumerate(reversed(side)):
                self.panel_rects[k] = pygame.Rect(rect.right - 8 - gw - j * (gw + 24), gy, gw, rect.bottom - 6 - gy)

    # ----- hit testing ----------------------------------------------------------------------------
    def unit_at(self, pos) -> int | None:
        for b in self.blocks:
            u = b.unit_at(pos)
            if u is not None:
                return u
        return None

    # ----- drawing --------------------------------------------------------------------------------
    def draw(self, surf: pygame.Surface, fonts: Fonts, trial: int, state: np.ndarray | None = None,
             caption: str | None = None) -> None:
        """Draw the displayed trial; ``state`` (n_units,) is drawn instead of the model's (a
        cycle replayed), with ``caption`` saying so."""
        m = self.model
        st, cl = (m.state[trial] if state is None else state), m.clamped[trial]
        for b in self.blocks:
            b.draw(surf, st, cl, self.lo, self.hi, fonts)
        o = self.outcome(trial) if state is None else None  # the model's present state's, not a replayed one's
        if o is not None:
            self.draw_outcome(surf, fonts, trial)
        self.draw_links(surf, fonts)
        self.draw_header(surf, fonts)
        if caption:
            top = min(b.rect.y for b in self.blocks)
            fonts.text(surf, caption, (self.rect.centerx, max(self.rect.y + 2, top - fonts.height(17) - 6)), 17, W.WARN,
                       anchor="midbottom", max_width=self.rect.w - 20)
        for panel, r in zip(self.spec.panels, self.panel_rects):
            self.draw_panel(surf, fonts, panel, r, trial)
        self.legend(surf, fonts, o)

    #: set by the viewer while the scenario's training runs: the outcome line says so instead of
    #: judging the untrained net (a completion "correct" by chance is no success)
    pending: str | None = None

    def outcome(self, trial: int) -> dict:
        """``model.outcome(trial)``, recomputed only when the trial's state, clamps or temperature
        changed (a sample's label names T); while training is pending, a note saying so (no
        verdict)."""
        if self.pending:
            return {"kind": "pending", "label": self.pending, "success": None}
        m = self.model
        key = (trial, m.state[trial].tobytes(), m.clamped[trial].tobytes(), float(m.temperature))
        if getattr(self, "_outcome_key", None) != key:
            self._outcome_key, self._outcome = key, m.outcome(trial)
        return self._outcome

    def draw_outcome(self, surf, fonts, trial: int) -> None:
        """The outcome label under the blocks in its verdict colour (green reached, red missed,
        dim without a target), and the wrong units outlined in red on the grid."""
        o = self.outcome(trial)
        if not o or not self.blocks:
            return
        bad = W.verdict_colour(False)
        wrong = o.get("wrong_units") or []
        if 0 < len(wrong) <= 4000:
            for b in self.blocks:
                if b.cell < 3:
                    continue
                wd = 2 if b.cell >= 10 else 1
                inside = np.isin(b._flat, np.asarray(wrong, dtype=int)) & ~b._pad
                for k in np.flatnonzero(inside):
                    r, c = divmod(int(k), b.cols)
                    pygame.draw.rect(surf, bad, (b.rect.x + c * b.cell, b.rect.y + r * b.cell, b.cell, b.cell), wd)
        label = o.get("label")
        if label:
            y = max(b.rect.bottom for b in self.blocks) + 4
            fonts.text(surf, "outcome: " + str(label), (self.rect.centerx, y), 16, W.verdict_colour(o.get("success")),
                       anchor="midtop", max_width=self.rect.w - 20)

    def draw_panel(self, surf, fonts, panel, r: pygame.Rect, trial: int) -> None:
        """Draw any declared panel into ``r`` (the panels under the blocks and the main panel)."""
        if isinstance(panel, HeatmapPanel):
            self.draw_heatmap(surf, fonts, panel, r, trial)
        elif isinstance(panel, LogPlotPanel):
            self.draw_log_plot(surf, fonts, panel, r, trial)
        elif isinstance(panel, ScatterPanel):
            self.draw_scatter(surf, fonts, panel, r, trial)
        elif isinstance(panel, CurvePanel):
            draw_curves(surf, r, fonts, panel.data(self.model, trial))
        elif isinstance(panel, HistogramPanel):
            draw_histogram(surf, r, fonts, panel.data(self.model, trial))
        elif isinstance(panel, TablePanel):
            draw_table(surf, r, fonts, panel.data(self.model, trial))

    def draw_header(self, surf, fonts) -> None:
        lines = self.spec.header(self.model)
        x = self.rect.centerx
        y = self.rect.y + fonts.px(10)
        for k, text in enumerate(lines):  # line under line at the text's own height (it scales)
            size, col = (19, W.ACCENT) if k == 0 else (16, W.DIM)
            fonts.text(surf, text, (x, y), size, col, anchor="midtop", max_width=self.rect.w - fonts.px(20))
            y += fonts.height(size)

    def draw_links(self, surf, fonts) -> None:
        if not self.spec.links:
            return
        if self.spec.arrangement == "layers":
            self._links_layers(surf, fonts)
        else:
            self._links_row(surf, fonts)

    def _link_style(self, link) -> tuple[tuple, int, bool]:
        """(colour, width, lit) of a link."""
        if link.active is not None:
            on = bool(link.active(self.model))
            return (W.ACCENT if on else W.FAINT), (4 if on else 2), on
        return (W.ACCENT if link.highlight else W.FAINT), 2, link.highlight

    def _links_row(self, surf, fonts) -> None:
        """Blocks side by side: a link to the right runs above the middle line with its label
        above, a link to the left below it with its label below (W over W^T)."""
        for ln in self.spec.links:
            a, b = self._by_name[ln.src].rect, self._by_name[ln.dst].rect
            left, right = (a, b) if a.x <= b.x else (b, a)
            x0, x1 = left.right + 14, right.left - 14
            cy = (min(a.centery, b.centery) + max(a.centery, b.centery)) // 2
            col, width, _ = self._link_style(ln)
            mid = (x0 + x1) // 2
            if a is left:
                arrow(surf, col, (x0, cy - 16), (x1, cy - 16), width)
                if ln.label:
                    fonts.text(surf, ln.label, (mid, cy - 28), 17, W.DIM, anchor="midbottom")
            else:
                arrow(surf, col, (x1, cy + 16), (x0, cy + 16), width)
                if ln.label:
                    fonts.text(surf, ln.label, (mid, cy + 28), 17, W.DIM, anchor="midtop")

    def _links_layers(self, surf, fonts) -> None:
        """Stacked layers: a link up to a higher layer is a straight arrow; a link back down (the
        recurrent copy) is routed around the right of every block."""
        row_of = {n: k for k, row in enumerate(self.spec.rows) for n in row}
        xr = max(b.rect.right for b in self.blocks) + 40
        for ln in self.spec.links:
            s, d = self._by_name[ln.src].rect, self._by_name[ln.dst].rect
            col, width, lit = self._link_style(ln)
            if row_of[ln.dst] < row_of[ln.src]:
                tip = (min(max(s.centerx, d.left + 6), d.right - 6), d.bottom + 4)
                arrow(surf, col, (s.centerx, s.top - 20), tip, width)
                if ln.label:
                    fonts.text(surf, ln.label, (s.centerx + 8, s.top - 30), 16, col if lit else W.DIM, anchor="midleft")
                continue
            pts = [(s.right + 4, s.centery), (xr, s.centery), (xr, d.centery)]
            pygame.draw.lines(surf, col, False, pts, width)
            arrow(surf, col, (xr, d.centery), (d.right + 4, d.centery), width)
            if ln.label:
                fonts.text(surf, ln.label, (xr + 6, (s.centery + d.centery) // 2), 16, col if lit else W.DIM,
                           anchor="midleft", max_width=max(20, self.rect.right - xr - 8))

    def _legend_items(self, wrong_target) -> tuple[list, list]:
        """(left items, right items) of the legend as (swatch colours, outline?, text)."""
        items = self.spec.legend
        left = [([SWATCHES[sw] for sw in it.swatches], False, it.text) for it in items if it.side != "right"]
        if self.model.clamped.any():  # the swatch explains outlines that are on screen, nothing more
            left.append(([W.CLAMP], True, "clamped"))
        if wrong_target is not None:  # the red outlines drawn by draw_outcome
            left.append(([W.verdict_colour(False)], True, f"wrong vs target {wrong_target}"))
        right = [([SWATCHES[sw] for sw in it.swatches], False, it.text) for it in items if it.side == "right"]
        return left, right

    def _legend_rows(self, fonts, wrong_target, width: int) -> list[tuple[list, list]]:
        """The legend flowed into rows that fit ``width``, bottom row first: each row (left
        items, right items) with the width of each item (swatches, gap, text)."""
        sw, gap = fonts.px(16), fonts.px(12)

        def w(item):
            return sw * len(item[0]) + fonts.font(15).size(item[2])[0]

        left, right = self._legend_items(wrong_target)
        widths = [w(it) for it in left]
        rows = [([(left[i], widths[i]) for i in row], []) for row in flow_rows(widths, width, gap)] or [([], [])]
        cur = rows[-1][0]
        used = sum(iw for _, iw in cur) + gap * max(0, len(cur) - 1)
        rw = sum(w(it) for it in right) + gap * max(0, len(right) - 1)
        if right:
            if used + gap * 3 + rw <= width:
                rows[-1] = (cur, [(it, w(it)) for it in right])
            else:
                rows.append(([], [(it, w(it)) for it in right]))
        return rows[::-1] if len(rows) > 1 else rows

    def legend_height(self, fonts, width: int) -> int:
        """Height the legend takes at ``width`` (a target's 'wrong vs' entry counted in)."""
        names = list(self.model.pattern_names)
        target = max(names, key=len) if names else None
        return len(self._legend_rows(fonts, target, width)) * fonts.height(15)

    def legend(self, surf, fonts, outcome: dict | None = None) -> None:
        """The legend rows; ``outcome`` the one drawn (its wrong units outlined: a swatch says so)."""
        o = outcome
        target = o.get("target") if o and o.get("wrong_units") else None
        rows = self._legend_rows(fonts, target, self.rect.w - fonts.px(20))
        box, sw = fonts.px(12), fonts.px(16)
        y = self.rect.bottom - fonts.px(10)
        for left, right in rows:  # bottom row first
            x = self.rect.x + fonts.px(10)
            for (cols, outline, text), _ in left:
                for c in cols:
                    pygame.draw.rect(surf, c, (x, y - box, box, box), max(2, fonts.px(2)) if outline else 0)
                    x += sw
                r = fonts.text(surf, text, (x, y), 15, W.DIM, anchor="bottomleft")
                x = r.right + fonts.px(12)
            x = self.rect.right - fonts.px(10)
            for (cols, outline, text), _ in right[::-1]:
                r = fonts.text(surf, text, (x, y), 15, W.DIM, anchor="bottomright")
                x = r.x - fonts.px(4)
                for c in cols[::-1]:
                    x -= sw
                    pygame.draw.rect(surf, c, (x, y - box, box, box))
                x -= fonts.px(12)
            y -= fonts.height(15)

    # ----- panels ---------------------------------------------------------------------------------
    def draw_heatmap(self, surf, fonts, panel: HeatmapPanel, r: pygame.Rect, trial: int) -> None:
        """Values over time, x = time (the latest on the right), y = unit."""
        if r.w < 40 or r.h < 20:
            return
        data, caption = panel.data(self.model, trial)
        data = np.asarray(data, dtype=float)
        pygame.draw.rect(surf, W.BG, r)
        if data.shape[0] == 0:
            fonts.text(surf, caption, (r.x, r.y - 6), 17, W.DIM, anchor="bottomleft", max_width=r.w)
        T, H = data.shape[0], max(1, data.shape[1])
        if T > 0:
            T_show = min(T, max(1, r.w // 5))  # at least 5 px per step, so single steps stay readable
            data = data[-T_show:]
            lo, hi = panel.value_range
            img = W.LUT_ACT[W.to_index(data, lo, hi)]  # (T, H, 3): x = time, y = unit
            small = pygame.Surface((T_show, H), 0, 24)
            pygame.surfarray.blit_array(small, img)
            cw = max(1, min(r.w // T_show, 48))
            if T_show < T:
                caption += f" ({T_show} shown)"
            if fonts.font(17).size(caption)[0] > r.w:  # a narrow strip: the asides go first
                caption = " ".join(re.sub(r"\([^)]*\)", "", caption).split())
            fonts.text(surf, caption, (r.x, r.y - 6), 17, W.DIM, anchor="bottomleft", max_width=r.w)
            ch = max(1, r.h // H)
            big = pygame.transform.scale(small, (T_show * cw, H * ch))
            surf.blit(big, (r.x, r.y))
            pygame.draw.rect(surf, W.PANEL_EDGE, (r.x - 1, r.y - 1, T_show * cw + 2, H * ch + 2), 1)
            fonts.text(surf, "time ->", (r.x + T_show * cw, r.y + H * ch + 4), 15, W.FAINT, anchor="topright")
        fonts.text(surf, "unit", (r.x - 6, r.y), 15, W.FAINT, anchor="topright")
        fonts.text(surf, str(H), (r.x - 6, r.y + min(r.h, H * max(1, r.h // max(1, H)))), 15, W.FAINT,
                   anchor="bottomright")

    def draw_log_plot(self, surf, fonts, panel: LogPlotPanel, r: pygame.Rect, trial: int) -> None:
        if r.w < 120 or r.h < 100:
            return
        d = panel.data(self.model, trial)
        W.log_plot(surf, r, fonts, d.title, d.xs, d.ys, TONES.get(d.color, W.TEMP), xlabel=d.xlabel,
                   ylabel=d.ylabel, lines=[(t, TONES.get(tone, W.DIM)) for t, tone in d.lines], note=d.note,
                   label=d.label, curves=[(cx, cy, TONES.get(tone, W.DIM), lab) for lab, cx, cy, tone in d.curves])


    def draw_scatter(self, surf, fonts, panel: ScatterPanel, r: pygame.Rect, trial: int) -> None:
        """A trajectory (faint), its recent trail (bright, the present a dot) and marked points,
        filled or hollow, on axes scaled to all of them."""
        if r.w < 120 or r.h < 100:
            return
        d = panel.data(self.model, trial)
        inner = W.panel(surf, r)
        fonts.text(surf, d.title, (inner.x, inner.y), 16, W.DIM, max_width=inner.w)
        y = inner.y + 17
        for text, tone in d.lines[:2]:
            fonts.text(surf, text, (inner.x, y), 16, TONES.get(tone, W.DIM), max_width=inner.w)
            y += 17
        if d.note:
            fonts.text(surf, d.note, inner.center, 15, W.FAINT, anchor="center", max_width=inner.w)
            return
        area = pygame.Rect(inner.x + 18, y + 6, inner.w - 22, inner.bottom - y - 6 - 20)
        if area.w < 30 or area.h < 30:
            return
        pygame.draw.rect(surf, W.BG, area)
        pygame.draw.rect(surf, W.PANEL_EDGE, area, 1)
        fonts.text(surf, d.xlabel, (area.centerx, inner.bottom + 2), 15, W.DIM, anchor="midbottom", max_width=inner.w)
        lab = pygame.transform.rotate(fonts.render(d.ylabel, 15, W.DIM), 90)
        surf.blit(lab, lab.get_rect(midright=(area.x - 2, area.centery)))
        parts = [np.asarray(a, dtype=float).reshape(-1, 2) for a in (d.path, d.trail, d.points)]
        allp = np.concatenate(parts)
        allp = allp[np.isfinite(allp).all(axis=1)]
        if allp.shape[0] == 0:
            fonts.text(surf, "no data", area.center, 15, W.FAINT, anchor="center")
            return
        lo, hi = allp.min(axis=0), allp.max(axis=0)
        span = np.maximum(hi - lo, 1e-9)
        lo, hi = lo - 0.08 * span, hi + 0.08 * span

        def px(a):
            a = np.asarray(a, dtype=float).reshape(-1, 2)
            x = area.x + (a[:, 0] - lo[0]) / (hi[0] - lo[0]) * (area.w - 1)
            y_ = area.bottom - 1 - (a[:, 1] - lo[1]) / (hi[1] - lo[1]) * (area.h - 1)
            return np.stack([x, y_], 1).round().astype(int).tolist()

        col = TONES.get(d.color, W.TEMP)
        clip = surf.get_clip()
        surf.set_clip(area)
        path, trail, pts = parts
        if path.shape[0] > 1:
            pygame.draw.lines(surf, W.blend(W.BG, col, 0.35), False, px(path), 1)
        if trail.shape[0] > 1:
            pygame.draw.lines(surf, col, False, px(trail), 2)
        if trail.shape[0]:
            pygame.draw.circle(surf, W.TEXT, px(trail[-1:])[0], 4)
        for k, c in enumerate(px(pts)):
            tone = TONES.get(d.tones[k] if k < len(d.tones) else "accent", W.ACCENT)
            filled = bool(d.filled[k]) if k < len(d.filled) else True
            pygame.draw.circle(surf, tone, c, 6 if filled else 5, 0 if filled else 2)
        surf.set_clip(clip)


# ----- curves and histograms (main panels) ---------------------------------------------------------
def _head(surf, rect, fonts, d) -> tuple[pygame.Rect, int] | None:
    """The common top of a data panel ``d`` (Curves, Histogram, Table): background, title and up
    to two text lines; returns (inner rect, y below them), or None when the panel is too small or
    shows only its ``note`` (drawn here)."""
    if rect.w < 120 or rect.h < 90:
        return None
    inner = W.panel(surf, rect)
    fonts.text(surf, d.title, (inner.x, inner.y), 17, W.DIM, max_width=inner.w)
    y = inner.y + fonts.height(17)
    for text, tone in d.lines[:2]:
        fonts.text(surf, text, (inner.x, y), 16, TONES.get(tone, W.DIM), max_width=inner.w)
        y += fonts.height(16)
    if d.note:
        fonts.text(surf, d.note, inner.center, 16, W.FAINT, anchor="center", max_width=inner.w)
        return None
    return inner, y


def _ylabel(surf, fonts, text: str, inner: pygame.Rect, area: pygame.Rect) -> None:
    """The y axis name, turned upright left of ``area`` (left out when it is taller than the area)."""
    lab = pygame.transform.rotate(fonts.render(text, 15, W.DIM), 90)
    if lab.get_height() <= area.h:
        surf.blit(lab, lab.get_rect(midleft=(inner.x - 5, area.centery)))


def draw_curves(surf, rect, fonts, d) -> pygame.Rect | None:
    """A :class:`~recurnet_sim.viewspec.Curves` on linear axes: round ticks, named curves (the
    first thick), vertical marks, category labels under the x axis. Returns the plotting area."""
    head = _head(surf, rect, fonts, d)
    if head is None:
        return None
    inner, y = head
    bottom = 2 * fonts.height(15) + fonts.px(4 if d.x_labels else 0)  # tick labels and the axis name
    left = fonts.px(52)
    curves = [(lab, np.asarray(x, float), np.asarray(v, float), tone) for lab, x, v, tone in d.curves]
    # the legend gets rows of its own above the plot, so no curve runs under its text
    named = [(lab, TONES.get(tone, W.ENERGY)) for lab, _, _, tone in curves if lab]
    legend = _legend_rows(fonts, named, inner.w - left)[:3] if named else []
    leg_h = len(legend) * fonts.height(15)
    area = pygame.Rect(inner.x + left, y + fonts.px(6) + leg_h, inner.w - left - fonts.px(4),
                       inner.bottom - y - fonts.px(6) - leg_h - bottom)
    if area.w < 40 or area.h < 30:
        return None
    if legend:
        draw_legend(surf, fonts, legend, area.x, y + fonts.px(3), area.w)
    allx = np.concatenate([c[1] for c in curves] + [np.asarray([m[0] for m in d.marks], float)]) if curves else np.zeros(0)
    ally = np.concatenate([c[2][np.isfinite(c[2])] for c in curves]) if curves else np.zeros(0)
    if allx.size == 0 or ally.size == 0:
        fonts.text(surf, "no data yet", area.center, 16, W.FAINT, anchor="center")
        return area
    x0, x1 = float(np.nanmin(allx)), float(np.nanmax(allx))
    if x1 - x0 < 1:
        x1 = x0 + 1
    if d.y_range is not None:
        lo, hi = (float(v) for v in d.y_range)
    else:
        lo, hi = float(ally.min()), float(ally.max())
        pad = 0.06 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 0.5)
        lo, hi = lo - pad, hi + pad
    pygame.draw.rect(surf, W.BG, area)

    def px(x):
        return area.x + (np.asarray(x, float) - x0) / (x1 - x0) * (area.w - 1)

    def py(v):
        return area.bottom - 1 - (np.clip(np.asarray(v, float), lo, hi) - lo) / (hi - lo) * (area.h - 1)

    yt = W.nice_ticks(lo, hi, max(2, area.h // max(1, fonts.px(36))))
    ystep = yt[1] - yt[0] if len(yt) > 1 else 0.0
    for t in yt:
        yy = int(py(t))
        pygame.draw.line(surf, W.PANEL_EDGE if t != 0 else W.FAINT, (area.x, yy), (area.right - 1, yy))
        fonts.text(surf, W.tick_label(t, ystep), (area.x - 5, yy), 15, W.DIM, anchor="midright")
    if d.x_labels:
        for x, text, tone in d.x_labels:
            fonts.text(surf, text, (int(px(x)), area.bottom + 3), 15, TONES.get(tone, W.DIM), anchor="midtop")
    else:
        for t in W.nice_ticks(x0, x1, max(2, area.w // max(1, fonts.px(80)))):
            if t != int(t):
                continue
            xx = int(px(t))
            pygame.draw.line(surf, W.PANEL_EDGE, (xx, area.bottom), (xx, area.bottom + 3))
            fonts.text(surf, str(int(t)), (xx, area.bottom + 3), 15, W.DIM, anchor="midtop")
    pygame.draw.rect(surf, W.PANEL_EDGE, area, 1)
    fonts.text(surf, d.xlabel, (area.centerx, inner.bottom + 2), 15, W.DIM, anchor="midbottom", max_width=inner.w)
    _ylabel(surf, fonts, d.ylabel, inner, area)
    for x, text, tone in d.marks:
        xx = int(px(x))
        col = TONES.get(tone, W.WARN)
        for yy in range(area.y, area.bottom, 8):  # dashed
            pygame.draw.line(surf, col, (xx, yy), (xx, min(yy + 4, area.bottom - 1)))
        fonts.text(surf, text, (min(xx, area.right - 4), area.bottom - 4), 15, col, anchor="bottomright")
    order = sorted(range(len(curves)), key=lambda k: {"faint": 0, "line": 1, "thick": 2, "level": 2}.get(d.style(k), 1))
    for k in order:  # faint raw data under the lines, the claim's thick series on top
        _, xs, ys, tone = curves[k]
        st = d.style(k)
        col = TONES.get(tone, W.ENERGY)
        if st == "faint":
            col = W.blend(W.BG, col, 0.45)
        wd = {"thick": fonts.px(5), "level": fonts.px(5), "line": 2, "faint": 1}.get(st, 2)
        ok = np.isfinite(ys)
        # a NaN breaks the line: draw each finite run on its own
        for run in np.split(np.arange(len(ys)), np.flatnonzero(np.diff(ok.astype(int)) != 0) + 1):
            if run.size and ok[run[0]]:
                if run.size == 1:
                    pygame.draw.circle(surf, col, (int(px(xs[run[0]])), int(py(ys[run[0]]))), max(1, wd // 2))
                elif st == "level" and run.size == 2:  # a level over one step: a flat bar
                    x_a, x_b = (int(v) for v in px(xs[run]))
                    y_m = int(py(ys[run[0]]))
                    pygame.draw.rect(surf, col, (x_a, y_m - wd // 2, max(1, x_b - x_a), wd))
                else:
                    W._polyline(surf, area, px(xs[run]), py(ys[run]), col, max(1, wd))
    return area


def flow_rows(widths: list[int], width: int, gap: int) -> list[list[int]]:
    """Items of ``widths`` flowed into rows of ``width`` pixels, ``gap`` between two items: the
    indices of each row's items (an item wider than a row gets a row of its own)."""
    rows, cur, used = [], [], 0
    for i, w in enumerate(widths):
        if cur and used + gap + w > width:
            rows.append(cur)
            cur, used = [], 0
        used += w + (gap if cur else 0)
        cur.append(i)
    if cur:
        rows.append(cur)
    return rows


def _legend_rows(fonts, items, width: int) -> list[list[tuple[str, tuple, int]]]:
    """Legend items (text, colour) flowed into rows of ``width`` pixels: [(text, colour, x offset)]."""
    sw, pad = fonts.px(18), fonts.px(14)
    widths = [sw + fonts.px(4) + fonts.font(15).size(text)[0] for text, _ in items]
    out = []
    for row in flow_rows(widths, width, pad):
        x, line = 0, []
        for i in row:
            line.append((items[i][0], items[i][1], x))
            x += widths[i] + pad
        out.append(line)
    return out


def draw_legend(surf, fonts, rows, x0: int, y0: int, max_w: int) -> None:
    """Draw legend rows from :func:`_legend_rows` at (x0, y0): a line swatch, then the text."""
    sw, lh = fonts.px(18), fonts.height(15)
    for r, row in enumerate(rows):
        y = y0 + r * lh
        for text, col, dx in row:
            x = x0 + dx
            pygame.draw.line(surf, col, (x, y + lh // 2), (x + sw, y + lh // 2), max(2, fonts.px(3)))
            fonts.text(surf, text, (x + sw + fonts.px(4), y), 15, col, max_width=max(10, x0 + max_w - x - sw))


def draw_histogram(surf, rect, fonts, d) -> pygame.Rect | None:
    """A :class:`~recurnet_sim.viewspec.Histogram`: one bar per entry, the reference value as a
    bright tick across each bar, labels under the bars when they fit. Returns the plotting area."""
    head = _head(surf, rect, fonts, d)
    if head is None:
        return None
    inner, y = head
    vals = np.asarray(d.values, float)
    ref = None if d.reference is None else np.asarray(d.reference, float)
    n = vals.size
    leg = fonts.height(15) + fonts.px(3) if d.legend else 0
    left = fonts.px(52)
    area = pygame.Rect(inner.x + left, y + fonts.px(6) + leg, inner.w - left - fonts.px(4),
                       inner.bottom - y - fonts.px(6) - leg - 2 * fonts.height(15) - fonts.px(4))
    if n == 0 or area.w < 40 or area.h < 30:
        return None
    if d.legend:
        x = area.x
        for text, tone in d.legend:
            col = TONES.get(tone, W.DIM)
            sq = fonts.px(12)
            pygame.draw.rect(surf, col, (x, area.y - leg + (fonts.height(15) - sq) // 2, sq, sq))
            x = fonts.text(surf, text, (x + sq + fonts.px(4), area.y - leg), 15, W.DIM).right + fonts.px(14)
    top = float(np.nanmax(np.concatenate([vals[np.isfinite(vals)], [0.0]] +
                                         ([ref[np.isfinite(ref)]] if ref is not None else []))))
    top = top * 1.1 if top > 0 else 1.0
    pygame.draw.rect(surf, W.BG, area)
    yt = W.nice_ticks(0.0, top, max(2, area.h // max(1, fonts.px(36))))
    ystep = yt[1] - yt[0] if len(yt) > 1 else 0.0
    for t in yt:
        yy = int(area.bottom - 1 - t / top * (area.h - 1))
        pygame.draw.line(surf, W.PANEL_EDGE, (area.x, yy), (area.right - 1, yy))
        fonts.text(surf, W.tick_label(t, ystep), (area.x - 5, yy), 15, W.DIM, anchor="midright")
    slot = area.w / n
    bw = max(1, int(slot * 0.72))
    label_every = max(1, math.ceil(max((fonts.font(15).size(str(t))[0] for t in d.labels), default=1) / max(slot, 1e-9) * 1.1)) \
        if d.labels else 0
    for k in range(n):
        x = int(area.x + k * slot + (slot - bw) / 2)
        v = vals[k]
        col = TONES.get(d.tones[k] if k < len(d.tones) else "energy", W.ENERGY)
        if np.isfinite(v) and v > 0:
            h = max(1, int(round(v / top * (area.h - 1))))
            pygame.draw.rect(surf, col, (x, area.bottom - h, bw, h))
        if ref is not None and np.isfinite(ref[k]):
            yy = int(area.bottom - 1 - ref[k] / top * (area.h - 1))
            pygame.draw.line(surf, W.TEXT, (x - 1, yy), (x + bw, yy), 2)
        if label_every and k % label_every == 0 and k < len(d.labels):
            fonts.text(surf, str(d.labels[k]), (x + bw // 2, area.bottom + 3), 15, W.DIM, anchor="midtop")
    pygame.draw.rect(surf, W.PANEL_EDGE, area, 1)
    if d.xlabel:
        fonts.text(surf, d.xlabel, (area.centerx, inner.bottom + 2), 15, W.DIM, anchor="midbottom", max_width=inner.w)
    if d.ylabel:
        _ylabel(surf, fonts, d.ylabel, inner, area)
    return area


def draw_table(surf, rect, fonts, d) -> pygame.Rect | None:
    """A :class:`~recurnet_sim.viewspec.Table`: headers, one row per case in the cells' tones, and
    a bar per row in ``bar_column``. The text size is the largest (of a few, at most twice the
    panel text) at which every column fits the width and every row the height. Returns the table
    area."""
    head = _head(surf, rect, fonts, d)
    if head is None:
        return None
    inner, y = head
    if not d.rows:
        return None
    area = pygame.Rect(inner.x, y + fonts.px(6), inner.w, inner.bottom - y - fonts.px(6))
    ncol = len(d.columns)
    bar_w0 = 60  # the bar's width at the reference size, beside its cell's text
    gap0 = 14
    for size in (30, 26, 22, 19, 16, 15):
        f = fonts.font(size)
        widths = [max([f.size(d.columns[c])[0]] + [f.size(r[c][0])[0] for r in d.rows if c < len(r)])
                  for c in range(ncol)]
        if d.bar_column is not None and d.bar_column < ncol:
            widths[d.bar_column] += fonts.px(bar_w0 * size / 16) + fonts.px(6)
        row_h = int(fonts.height(size) * 1.35)
        if sum(widths) + fonts.px(gap0) * (ncol - 1) <= area.w and row_h * (len(d.rows) + 1) <= area.h:
            break
    room = area.w - fonts.px(gap0) * (ncol - 1)
    if sum(widths) > room:  # even the smallest text is too wide: narrower columns, texts cut
        widths = [max(1, int(wc * room / sum(widths))) for wc in widths]
    spare = max(0, area.w - sum(widths) - fonts.px(gap0) * (ncol - 1))
    gap = fonts.px(gap0) + spare // max(1, ncol)  # spread the spare width between the columns
    row_h = max(row_h, min(int(fonts.height(size) * 2.2), area.h // (len(d.rows) + 1)))
    xs, x = [], area.x
    for wc in widths:
        xs.append(x)
        x += wc + gap
    yy = area.y
    for c, head in enumerate(d.columns):
        fonts.text(surf, head, (xs[c], yy), size, W.DIM, max_width=min(widths[c] + gap - fonts.px(4), area.right - xs[c]))
    yy += row_h
    pygame.draw.line(surf, W.PANEL_EDGE, (area.x, yy - (row_h - fonts.height(size)) // 2),
                     (area.right - 1, yy - (row_h - fonts.height(size)) // 2))
    bar_w = fonts.px(bar_w0 * size / 16)
    for k, row in enumerate(d.rows):
        if yy + fonts.height(size) > area.bottom:
            break
        for c, (text, tone) in enumerate(row[:ncol]):
            x = xs[c]
            if c == d.bar_column and k < len(d.bars) and d.bars[k] is not None:
                frac = float(np.clip(d.bars[k], 0.0, 1.0))
                h = fonts.height(size) - fonts.px(6)
                box = pygame.Rect(x, yy + fonts.px(3), bar_w, h)
                pygame.draw.rect(surf, W.BG, box)
                tone_k = d.bar_tones[k] if k < len(d.bar_tones) else "energy"
                if frac > 0:
                    pygame.draw.rect(surf, TONES.get(tone_k, W.ENERGY), (box.x, box.y, max(1, int(frac * box.w)), box.h))
                pygame.draw.rect(surf, W.PANEL_EDGE, box, 1)
                x = box.right + fonts.px(6)
            fonts.text(surf, text, (x, yy), size, TONES.get(tone, W.TEXT), max_width=min(xs[c] + widths[c] + gap - fonts.px(4), area.right) - x)
        yy += row_h
    return area


# ----- the bar panel --------------------------------------------------------------------------------
def draw_bars(surf, rect, fonts, bars, model, trial: int, overlaps: np.ndarray | None = None,
              outcome: dict | None = None) -> None:
    """The right-hand bar panel as ``bars`` declares it (see :mod:`recurnet_sim.viewspec`).

    ``overlaps`` is the recorder's last row, shape (batch, n_patterns), when there is one;
    ``outcome`` the outcome the state view shows (default ``model.outcome(trial)``)."""
    b = trial
    if isinstance(bars, UnitBars):
        y = np.asarray(model.state[b, bars.units], dtype=float)
        target = model.current_target(b)
        target = None if target is None else np.asarray(target, dtype=float)
        hl = int(np.argmax(y)) if y.size else None
        lo = -1.0 if np.nanmin(y, initial=0) < 0 or (target is not None and target.min() < 0) else 0.0
        W.overlap_bars(surf, rect, fonts, bars.title, list(bars.names), y, hl, lo=lo, hi=1.0, marks=target)
        return
    title = bars.title if isinstance(bars, OverlapBars) else OverlapBars().title
    ov = overlaps
    if ov is None or ov.shape[0] != model.batch_size:
        ov = model.overlaps()
    vals = np.asarray(ov[b], dtype=float)
    hl = int(np.argmax(np.abs(vals))) if vals.size else None
    note = None
    if hl is not None:
        # What the state is, from the model's honest outcome (stored / reversed / mixture /
        # spurious with its distance): the largest bar alone is only the nearest pattern.
        o = model.outcome(b) if outcome is None else outcome
        note = summary_line(o).split(";")[0] or None  # the label's first clause, as the summary says it
    W.overlap_bars(surf, rect, fonts, title, model.pattern_names, vals, hl, note=note)


# ----- graph view ---------------------------------------------------------------------------------
class GraphView:
    """Units as networkx-laid-out nodes, weights as coloured edges (warm = positive, blue =
    negative, brighter = stronger), node colour = state. Up to :attr:`MAX_UNITS` units.

    The weights are ``model.weight_matrix(trial)``; the node layout follows the family's
    :class:`~recurnet_sim.viewspec.GraphHints` (explicit positions, groups laid out as columns or
    rows, or a spring layout over the excitatory weights)."""

    MAX_UNITS = 400
    MAX_EDGES = 3000

    def __init__(self, model, trial: int = 0, hints: GraphHints | None = None,
                 value_range: tuple[float, float] | None = None):
        self.model = model
        self.trial = trial
        self.hints = hints or GraphHints()
        self.N = model.n_units
        self.rect = pygame.Rect(0, 0, 0, 0)
        self.too_big = self.N > self.MAX_UNITS
        self.note = ""
        self.lo, self.hi = (float(v) for v in (value_range or model.unit_values))
        self._edges_surf = None
        self._xy = None
        self.n_edges = 0
        groups = self.hints.groups or tuple(model.layers.items())
        self.groups = [(name, sl) for name, sl in groups if sl.stop > sl.start]
        if self.too_big:
            self.note = (f"{self.N} units: too many for the graph view (at most {self.MAX_UNITS}); "
                         "press G to go back")
            return
        Wm = model.weight_matrix(trial)
        self.W = None if Wm is None else 0.5 * (Wm + Wm.T) if np.allclose(Wm, Wm.T) else np.where(
            np.abs(Wm) >= np.abs(Wm.T), Wm, Wm.T)
        if self.W is None:
            self.note = "this model does not expose its weights"
        self.pos = self._layout_positions()
        self.hidden = set()
        for name, sl in self.groups:
            if name in self.hints.ring:
                self.hidden.update(range(sl.start, sl.stop))

    def _layout_positions(self) -> np.ndarray:
        N = self.N
        if self.hints.positions is not None:
            xy = np.asarray(self.hints.positions(), dtype=float).reshape(N, 2)
        else:
            import networkx as nx  # only the graph view pays for the import

            layer_of = {}
            for k, (name, sl) in enumerate(self.groups):
                for u in range(sl.start, sl.stop):
                    layer_of[u] = k
            if len(set(layer_of.values())) > 1:
                G = nx.Graph()
                for u in range(N):
                    G.add_node(u, layer=layer_of.get(u, 0))
                pos = nx.multipartite_layout(G, subset_key="layer", align="vertical")
                if self.hints.orientation == "rows":
                    pos = {u: (p[1], -p[0]) for u, p in pos.items()}  # first group at the bottom
            else:
                H = nx.Graph()
                H.add_nodes_from(range(N))
                if self.W is not None:
                    # spring forces follow excitatory weights: units that store the same bits gather
                    iu, ju = np.nonzero(np.triu(self.W, 1) > 0)
                    ww = self.W[iu, ju]
                    H.add_weighted_edges_from(zip(iu.tolist(), ju.tolist(), (ww / ww.max()).tolist() if ww.size else []))
                pos = nx.spring_layout(H, seed=0, iterations=80, k=2.5 / math.sqrt(max(N, 1)))
            xy = np.array([pos[u] for u in range(N)], dtype=float)
        xy = xy - xy.min(0)
        span = xy.max(0)
        span[span == 0] = 1
        return xy / span

    def layout(self, rect: pygame.Rect) -> None:
        self.rect = pygame.Rect(rect)
        self._edges_surf = None
        area = rect.inflate(-60, -80)
        self.radius = int(max(3, min(12, 0.16 * math.sqrt(area.w * area.h / max(1, self.N)))))
        if self.too_big:
            return
        self._xy = np.stack([area.x + self.pos[:, 0] * area.w, area.y + 20 + self.pos[:, 1] * (area.h - 20)], 1).round().astype(int)

    def _draw_edges(self) -> None:
        r = self.rect
        s = pygame.Surface(r.size, 0, 24)
        s.fill(W.BG)
        if self.W is not None:
            iu, ju = np.nonzero(np.triu(self.W, 1) != 0)
            w = self.W[iu, ju]
            if w.size:
                keep = np.argsort(np.abs(w))[-self.MAX_EDGES:]  # weakest first, strongest on top
                iu, ju, w = iu[keep], ju[keep], w[keep]
                wmax = np.abs(w).max()
                xy = self._xy - np.array(r.topleft)
                for a, b, v in zip(iu, ju, w):
                    mag = abs(v) / wmax
                    col = W.blend(W.BG, W.POS if v > 0 else (90, 140, 255), 0.15 + 0.6 * mag)
                    pygame.draw.aaline(s, col, xy[a], xy[b])
        self._edges_surf = s
        self.n_edges = int(np.count_nonzero(np.triu(self.W, 1))) if self.W is not None else 0

    def _group_labels(self, surf, fonts) -> None:
        """Name each group (one row of nodes) left of its leftmost node."""
        for name, sl in self.groups:
            xy = self._xy[sl.start: sl.stop]
            text = f"{name} ({sl.stop - sl.start})"
            w = fonts.font(15).size(text)[0]
            x0, x1, y = int(xy[:, 0].min()), int(xy[:, 0].max()), int(xy[:, 1].mean())
            if x0 - self.radius - 8 - w >= self.rect.x + 4:
                fonts.text(surf, text, (x0 - self.radius - 8, y), 15, W.DIM, anchor="midright")
            elif x1 + self.radius + 8 + w <= self.rect.right - 4:
                fonts.text(surf, text, (x1 + self.radius + 8, y), 15, W.DIM, anchor="midleft")
            else:  # a full-width row: above its left end
                r = fonts.render(text, 15, W.DIM).get_rect(bottomleft=(x0 - self.radius, y - self.radius - 3))
                pygame.draw.rect(surf, W.BG, r.inflate(4, 2))
                surf.blit(fonts.render(text, 15, W.DIM), r)

    def unit_at(self, pos) -> int | None:
        if self.too_big or self._xy is None:
            return None
        d = np.hypot(*(self._xy - np.asarray(pos)).T)
        k = int(np.argmin(d))
        return k if d[k] <= self.radius + 2 else None

    def draw(self, surf: pygame.Surface, fonts: Fonts, trial: int) -> None:
        r = self.rect
        pygame.draw.rect(surf, W.BG, r)
        if self.too_big:
            fonts.text(surf, self.note, r.center, 20, W.WARN, anchor="center", max_width=r.w - 20)
            return
        if self._edges_surf is None:
            self._draw_edges()
        surf.blit(self._edges_surf, r)
        m = self.model
        st = m.state[trial]
        cols = W.LUT_ACT[W.to_index(st, self.lo, self.hi)]
        cl = m.clamped[trial]
        rad = self.radius
        for u in range(self.N):
            p = self._xy[u]
            pygame.draw.circle(surf, tuple(int(x) for x in cols[u]), p, rad)
            edge = W.CLAMP if cl[u] else (W.HID_POS if u in self.hidden else W.PANEL_EDGE)
            pygame.draw.circle(surf, edge, p, rad, 2 if cl[u] else 1)
        if self.hints.label_groups:
            self._group_labels(surf, fonts)
        shown = min(self.n_edges, self.MAX_EDGES)
        cap = f"graph view: {self.N} units, {self.n_edges} weights"
        if shown < self.n_edges:
            cap += f" (strongest {shown} drawn)"
        fonts.text(surf, cap, (r.x + 12, r.y + 8), 17, W.DIM, max_width=r.w - 24)
        fonts.text(surf, "edges: warm = excitatory, blue = inhibitory, brighter = stronger", (r.x + 12, r.y + 26), 15,
                   W.FAINT, max_width=r.w - 24)
        if self.note:
            fonts.text(surf, self.note, (r.centerx, r.bottom - 12), 16, W.WARN, anchor="midbottom")


# ----- attractor view (small networks) ------------------------------------------------------------
#: Up to this many units the G key also offers the attractor graph (2^N states are enumerated).
ATTRACTOR_MAX_UNITS = 16


def attractor_view_available(family, model) -> bool:
    """Whether G offers the attractor graph: the family declares a state space and the network
    is small enough to enumerate its 2^N states."""
    return family is not None and family.state_space is not None and model.n_units <= ATTRACTOR_MAX_UNITS


class AttractorView:
    """The state-transition graph of a small network (``recurnet_sim.analysis.attractors``):
    attractors as large nodes, basin states around them, the current state highlighted.

    Parameters
    ----------
    model
    trial : int
        The trial whose network is analysed (per-trial weights differ).
    schedule : {"sync", "async"}
        The update schedule analysed (the layout's ``attractor_schedule``).
    family : Family, optional
        The model's family, whose ``state_space`` is enumerated (looked up from the network type
        when not given).
    """

    def __init__(self, model, trial: int = 0, schedule: str = "sync", max_nodes: int = 160, family=None):
        from ..analysis.attractors import analyze_model, attractor_graph, encode_states

        self.model = model
        self.trial = trial
        self.rect = pygame.Rect(0, 0, 0, 0)
        self.schedule = schedule
        # the full state graph is not needed here, only the small attractor graph built from the report
        self.report = analyze_model(model, schedule, trial=trial, graph=False, family=family)
        self.graph = attractor_graph(self.report, max_nodes)
        self._encode = encode_states
        self.nodes = list(self.graph.nodes)
        self._pos = np.array([[self.graph.nodes[n]["x"], self.graph.nodes[n]["y"]] for n in self.nodes], dtype=float)
        self._index = {n: k for k, n in enumerate(self.nodes)}

    def layout(self, rect: pygame.Rect) -> None:
        self.rect = pygame.Rect(rect)
        area = rect.inflate(-90, -120)
        area.y += 30
        p = self._pos.copy()
        if len(p):
            p -= p.min(0)
            span = p.max(0)
            span[span == 0] = 1
            p /= span
            s = min(area.w, area.h)
            xy = np.stack([area.centerx - s / 2 + p[:, 0] * s, area.centery - s / 2 + p[:, 1] * s], 1)
            self._xy = self._outside_discs(xy).round().astype(int)
        else:
            self._xy = np.zeros((0, 2), int)

    @staticmethod
    def disc_radius(size) -> int:
        """Pixel radius of an attractor's disc (grows with its basin)."""
        return int(min(28, 6 + size * 0.5))

    def _outside_discs(self, xy: np.ndarray) -> np.ndarray:
        """Basin dots pushed radially out of their attractor's disc (and its label), so a dot is
        never drawn inside the disc it flows into."""
        G, nodes = self.graph, self.nodes
        centre = {}
        for k, n in enumerate(nodes):
            d = G.nodes[n]
            if d["role"] == "attractor":
                centre[d.get("cluster")] = (xy[k].copy(), self.disc_radius(d.get("size", 10)))
        for k, n in enumerate(nodes):
            d = G.nodes[n]
            if d["role"] == "attractor" or d.get("cluster") not in centre:
                continue
            c, rad = centre[d.get("cluster")]
            v = xy[k] - c
            dist = float(np.hypot(*v))
            need = rad + 7
            if dist < need:
                u = v / dist if dist > 1e-9 else np.array([math.cos(k * 2.399), math.sin(k * 2.399)])
                xy[k] = c + u * need
        return xy

    def unit_at(self, pos):
        return None  # nodes are states, not units

    def current_node(self, trial: int) -> str | None:
        st = self.model.state[trial:trial + 1]
        code = int(self._encode(st, tuple(self.model.unit_values))[0])
        if f"s{code}" in self._index:
            return f"s{code}"
        a = self.report.attractor_of(code)
        return None if a is None else f"a{a}"

    def _draw_labels(self, surf, fonts, labels) -> None:
        """Attractor labels without collisions: the biggest basins first, each below its disc, else
        above, right or left of it; a label that fits nowhere free is left out (and counted)."""
        r = self.rect
        taken = [pygame.Rect(r.x, r.y, r.w, fonts.px(8) + fonts.height(17) + fonts.height(15))]  # the title lines
        hidden = 0
        for _, text, p, rad in sorted(labels, key=lambda t: -t[0]):
            w, h = fonts.font(15).size(text)
            g = fonts.px(4)
            tries = [dict(midtop=(p[0], p[1] + rad + g)), dict(midbottom=(p[0], p[1] - rad - g)),
                     dict(midleft=(p[0] + rad + g, p[1])), dict(midright=(p[0] - rad - g, p[1])),
                     dict(midtop=(p[0], p[1] + rad + g + h)), dict(midbottom=(p[0], p[1] - rad - g - h))]
            for t in tries:
                box = pygame.Rect(0, 0, w, h)
                setattr(box, *next(iter(t.items())))
                if r.contains(box) and box.collidelist(taken) < 0:
                    taken.append(box.inflate(fonts.px(6), 2))
                    fonts.text(surf, text, box.topleft, 15, W.TEXT)
                    break
            else:
                hidden += 1
        if hidden:
            fonts.text(surf, f"{hidden} attractor label{'s' * (hidden != 1)} hidden (no free room)",
                       (r.right - fonts.px(12), r.bottom - fonts.px(8)), 15, W.FAINT, anchor="bottomright")

    def draw(self, surf, fonts: Fonts, trial: int) -> None:
        r = self.rect
        pygame.draw.rect(surf, W.BG, r)
        G, xy, idx = self.graph, self._xy, self._index
        palette = [W.POS, (120, 200, 255), (255, 140, 120), (150, 230, 150), (210, 160, 255), (255, 210, 90)]
        for a, b in G.edges:
            pygame.draw.aaline(surf, W.FAINT, xy[idx[a]], xy[idx[b]])
        cur = self.current_node(trial)
        labels = []
        for n in self.nodes:
            d = G.nodes[n]
            col = palette[int(d.get("cluster", 0)) % len(palette)]
            p = xy[idx[n]]
            if d["role"] == "attractor":
                rad = self.disc_radius(d.get("size", 10))
                pygame.draw.circle(surf, col, p, rad)
                pygame.draw.circle(surf, W.TEXT, p, rad, 1)
                labels.append((d.get("basin_size", 0), f"{d.get('label', '')}  basin {d.get('basin_size', 0)}", p, rad))
            else:
                pygame.draw.circle(surf, W.blend(W.BG, col, 0.55), p, 3)
        self._draw_labels(surf, fonts, labels)
        if cur is not None:
            p = xy[idx[cur]]
            pygame.draw.circle(surf, W.CLAMP, p, 9 if cur.startswith("s") else 32, 3)
        rep = self.report
        fonts.text(surf, f"attractor graph ({self.schedule}): {len(rep.attractors)} attractors of 2^{rep.n_units} states",
                   (r.x + 12, r.y + fonts.px(8)), 17, W.DIM, max_width=r.w - 24)
        fonts.text(surf, "large = attractor (size ~ basin), dots = basin states, green ring = current state; "
                   "G: back", (r.x + 12, r.y + fonts.px(8) + fonts.height(17)), 15, W.FAINT, max_width=r.w - 24)
