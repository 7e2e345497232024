"""Drawing helpers shared by every view: theme, text, line plot, overlap bars, status line, help.

Everything here draws onto a ``pygame.Surface`` it is given and keeps no simulation state; the
:class:`~recurnet_sim.viewer.core.Viewer` decides what to show.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pygame

# ----- theme ------------------------------------------------------------------------------------
BG = (16, 18, 26)
PANEL = (27, 30, 41)
PANEL_EDGE = (48, 53, 70)
TEXT = (222, 226, 236)
DIM = (140, 147, 168)
FAINT = (70, 76, 96)
ACCENT = (255, 190, 92)       # highlights (recalled pattern, arrows)
NEG = (24, 46, 108)           # state -1 (or 0 for 0/1 units): dark blue
ZERO = (64, 68, 84)           # activation 0 of continuous units: neutral grey
POS = (255, 222, 150)         # state +1: warm, light
HID_NEG = (42, 24, 62)        # hidden units of a Boltzmann machine: another palette
HID_POS = (196, 150, 255)
CLAMP = (70, 235, 170)        # outline of clamped units
ENERGY = (110, 196, 255)
TEMP = (255, 112, 96)
GOOD = (120, 220, 140)
WARN = (255, 150, 90)


def make_lut(neg, mid, pos, n: int = 256) -> np.ndarray:
    """A diverging colour table (n, 3) uint8: index 0 = ``neg``, n//2 = ``mid``, n-1 = ``pos``."""
    t = np.linspace(-1.0, 1.0, n)[:, None]
    neg, mid, pos = (np.asarray(c, dtype=float) for c in (neg, mid, pos))
    lut = np.where(t < 0, mid + (neg - mid) * (-t), mid + (pos - mid) * t)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


#: -1 -> dark blue, 0 -> grey, +1 -> warm: bipolar units use the two ends, continuous ones all of it.
LUT_ACT = make_lut(NEG, ZERO, POS)
LUT_HIDDEN = make_lut(HID_NEG, (110, 84, 150), HID_POS)


def to_index(values: np.ndarray, lo: float = -1.0, hi: float = 1.0, n: int = 256) -> np.ndarray:
    """Map values in [lo, hi] to LUT indices 0..n-1 (NaN -> the middle)."""
    v = np.asarray(values, dtype=np.float64)
    t = (v - lo) / (hi - lo) if hi != lo else np.zeros_like(v)
    t = np.where(np.isfinite(t), t, 0.5)
    return np.clip(np.rint(t * (n - 1)), 0, n - 1).astype(np.intp)


def blend(c1, c2, a: float):
    """``c1`` mixed with ``c2`` by ``a`` in [0, 1] (a = 1 gives c2)."""
    return tuple(int(round(x + (y - x) * a)) for x, y in zip(c1, c2))


# ----- text ---------------------------------------------------------------------------------------
class Fonts:
    """pygame's default font in a few sizes, with a small cache of rendered strings."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self._fonts: dict[int, pygame.font.Font] = {}
        self._cache: dict[tuple, pygame.Surface] = {}

    def font(self, size: int) -> pygame.font.Font:
        size = max(8, int(round(size * self.scale)))
        f = self._fonts.get(size)
        if f is None:
            f = self._fonts[size] = pygame.font.Font(None, size)
        return f

    def render(self, text: str, size: int = 18, color=TEXT) -> pygame.Surface:
        key = (text, size, color)
        s = self._cache.get(key)
        if s is None:
            if len(self._cache) > 800:
                self._cache.clear()
            s = self._cache[key] = self.font(size).render(text, True, color)
        return s

    def text(self, surf: pygame.Surface, text: str, pos, size: int = 18, color=TEXT, anchor: str = "topleft",
             max_width: int | None = None) -> pygame.Rect:
        """Draw ``text`` with its ``anchor`` point (a pygame.Rect attribute name) at ``pos``; text
        wider than ``max_width`` is cut with an ellipsis."""
        img = self.render(text, size, color)
        if max_width is not None and img.get_width() > max_width and len(text) > 2:
            lo, hi = 0, len(text)
            while lo < hi:  # longest prefix that fits
                mid = (lo + hi + 1) // 2
                if self.font(size).size(text[:mid] + "...")[0] <= max_width:
                    lo = mid
                else:
                    hi = mid - 1
            img = self.render(text[:lo] + "...", size, color)
        r = img.get_rect(**{anchor: pos})
        surf.blit(img, r)
        return r


def panel(surf: pygame.Surface, rect: pygame.Rect, fonts: Fonts | None = None, title: str | None = None) -> pygame.Rect:
    """A rounded panel; returns the inner rect below the title."""
    pygame.draw.rect(surf, PANEL, rect, border_radius=6)
    pygame.draw.rect(surf, PANEL_EDGE, rect, 1, border_radius=6)
    inner = rect.inflate(-16, -12)
    if title and fonts is not None:
        fonts.text(surf, title, (inner.x, inner.y), 17, DIM, max_width=inner.w)
        inner = pygame.Rect(inner.x, inner.y + 18, inner.w, inner.h - 18)
    return inner


def fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    ax = abs(x)
    if ax < 1e5 and x == round(x):
        return str(int(round(x)))
    if ax != 0 and (ax >= 1e5 or ax < 1e-3):
        return f"{x:.2e}"
    if ax >= 100:
        return f"{x:.1f}"
    return f"{x:.3g}" if ax < 1 else f"{x:.4g}"


def tick_label(v: float, step: float) -> str:
    """A tick value with just enough decimals for ticks ``step`` apart."""
    if step <= 0 or not np.isfinite(step):
        return fmt(v)
    if abs(v) >= 1e5:
        return f"{v:.3g}"
    dec = max(0, -math.floor(math.log10(step) + 1e-9))
    if abs(step * 10 ** dec - round(step * 10 ** dec)) > 1e-6:  # steps of 2.5
        dec += 1
    return f"{v:.{dec}f}"


def nice_ticks(lo: float, hi: float, n: int = 4) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    span = hi - lo
    if span <= 0 or not np.isfinite(span):
        return [lo]
    raw = span / max(1, n)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step) * step
    out = []
    v = start
    while v <= hi + 1e-9 * span:
        out.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return out


# ----- line plot ----------------------------------------------------------------------------------
def line_plot(surf: pygame.Surface, rect: pygame.Rect, fonts: Fonts, title: str, xs: np.ndarray, ys: np.ndarray,
              color=ENERGY, xs2: np.ndarray | None = None, ys2: np.ndarray | None = None, label2: str = "T",
              color2=TEMP, xlabel: str = "tick") -> None:
    """A time plot with axes, round tick values and the current value; an optional second series
    (e.g. temperature) shares the time axis and gets its own scale on the right."""
    inner = panel(surf, rect)
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    cur = ys[-1] if ys.size else float("nan")
    fonts.text(surf, f"{title} per {xlabel}" if xlabel else title, (inner.x, inner.y), 17, DIM)
    fonts.text(surf, fmt(cur), (inner.right, inner.y), 20, color, anchor="topright")
    second = xs2 is not None and ys2 is not None and len(ys2) > 0
    if second:
        ys2 = np.asarray(ys2, dtype=float)
        xs2 = np.asarray(xs2, dtype=float)
        fonts.text(surf, f"{label2} {fmt(ys2[-1])}", (inner.right - 70, inner.y + 2), 16, color2, anchor="topright")
    left = 62
    right = 44 if second else 8
    area = pygame.Rect(inner.x + left, inner.y + 24, inner.w - left - right, inner.h - 24 - 18)
    if area.w < 20 or area.h < 20:
        return
    pygame.draw.rect(surf, BG, area)
    fin = np.isfinite(ys)
    if not fin.any():
        fonts.text(surf, "no data yet", area.center, 16, FAINT, anchor="center")
        return
    x0 = float(xs[0])
    x1 = float(max(xs[-1], x0 + 1))
    lo, hi = float(ys[fin].min()), float(ys[fin].max())
    if hi - lo < 1e-12:
        pad = max(abs(hi) * 0.05, 0.5)
        lo, hi = lo - pad, hi + pad
    else:
        pad = 0.06 * (hi - lo)
        lo, hi = lo - pad, hi + pad

    def px(x):
        return area.x + (np.asarray(x, dtype=float) - x0) / (x1 - x0) * (area.w - 1)

    def py(y, a=lo, b=hi):
        return area.bottom - 1 - (np.asarray(y, dtype=float) - a) / (b - a) * (area.h - 1)

    yt = nice_ticks(lo, hi, max(2, area.h // 32))
    ystep = yt[1] - yt[0] if len(yt) > 1 else 0.0
    for t in yt:
        y = int(py(t))
        pygame.draw.line(surf, PANEL_EDGE, (area.x, y), (area.right - 1, y))
        fonts.text(surf, tick_label(t, ystep), (area.x - 5, y), 15, DIM, anchor="midright")
    for t in nice_ticks(x0, x1, max(2, area.w // 80)):
        if t != int(t):
            continue
        x = int(px(t))
        pygame.draw.line(surf, PANEL_EDGE, (x, area.bottom), (x, area.bottom + 3))
        fonts.text(surf, str(int(t)), (x, area.bottom + 3), 15, DIM, anchor="midtop")
    pygame.draw.rect(surf, PANEL_EDGE, area, 1)
    if second:
        f2 = np.isfinite(ys2)
        if f2.any():
            a2, b2 = float(ys2[f2].min()), float(ys2[f2].max())
            if b2 - a2 < 1e-12:
                a2, b2 = min(0.0, a2), max(b2 * 1.2, a2 + 1.0)
            fonts.text(surf, fmt(b2), (area.right + 4, area.y), 15, color2, anchor="topleft")
            fonts.text(surf, fmt(a2), (area.right + 4, area.bottom), 15, color2, anchor="bottomleft")
            _polyline(surf, area, px(xs2[f2]), py(ys2[f2], a2, b2), color2, 1)
    _polyline(surf, area, px(xs[fin]), py(ys[fin]), color, 2)


def _polyline(surf, area, X, Y, color, width):
    n = X.size
    if n == 0:
        return
    stride = max(1, n // (2 * area.w))
    if stride > 1:
        X, Y = X[::stride], Y[::stride]
    pts = np.stack([X, Y], 1).round().astype(int).tolist()
    clip = surf.get_clip()
    surf.set_clip(area)
    if len(pts) == 1:
        pygame.draw.circle(surf, color, pts[0], 3)
    else:
        pygame.draw.lines(surf, color, False, pts, width)
        pygame.draw.circle(surf, color, pts[-1], 3)
    surf.set_clip(clip)


# ----- overlap bars -------------------------------------------------------------------------------
def overlap_bars(surf: pygame.Surface, rect: pygame.Rect, fonts: Fonts, title: str, names: Sequence[str],
                 values: np.ndarray, highlight: int | None = None, lo: float = -1.0, hi: float = 1.0,
                 marks: np.ndarray | None = None, note: str | None = None) -> None:
    """Horizontal bars, one per stored pattern, from 0 to the value (range [lo, hi]); the
    ``highlight`` row (the recalled pattern) is outlined. ``marks`` (same length) draws a tick per
    row (e.g. a target). When the rows do not fit, the largest |values| are shown."""
    inner = panel(surf, rect, fonts, title)
    n = len(values)
    if n == 0:
        fonts.text(surf, note or "no stored patterns", inner.center, 16, FAINT, anchor="center")
        return
    if note:
        fonts.text(surf, note, (inner.right, inner.y - 18), 15, FAINT, anchor="topright")
    values = np.asarray(values, dtype=float)
    row_h = min(24, max(12, inner.h // n))
    fits = max(1, inner.h // row_h)
    order = list(range(n))
    if n > fits:
        order = sorted(order, key=lambda k: -abs(values[k]) if np.isfinite(values[k]) else 0)[: fits - 1]
        if highlight is not None and highlight not in order:
            order[-1] = highlight
    name_w = min(90, max(fonts.font(16).size(str(names[k]))[0] for k in order) + 8)
    val_w = 52
    bar = pygame.Rect(inner.x + name_w, inner.y, inner.w - name_w - val_w, row_h)
    zero_x = bar.x + (0 - lo) / (hi - lo) * bar.w
    size = 16 if row_h >= 18 else 14
    for r, k in enumerate(order):
        y = inner.y + r * row_h
        v = values[k]
        hl = k == highlight
        fonts.text(surf, str(names[k]), (inner.x, y + row_h // 2), size, ACCENT if hl else TEXT, anchor="midleft",
                   max_width=name_w - 6)
        track = pygame.Rect(bar.x, y + 3, bar.w, row_h - 6)
        pygame.draw.rect(surf, BG, track)
        if np.isfinite(v):
            vx = bar.x + (min(max(v, lo), hi) - lo) / (hi - lo) * bar.w
            a, b = sorted((zero_x, vx))
            col = (POS if v >= 0 else (84, 120, 210)) if not hl else ACCENT
            pygame.draw.rect(surf, col, pygame.Rect(int(a), track.y, max(1, int(round(b - a))), track.h))
        if marks is not None and np.isfinite(marks[k]):
            mx = bar.x + (min(max(marks[k], lo), hi) - lo) / (hi - lo) * bar.w
            pygame.draw.line(surf, GOOD, (int(mx), track.y - 2), (int(mx), track.bottom + 1), 2)
        if hl:
            pygame.draw.rect(surf, ACCENT, track.inflate(2, 2), 1)
        fonts.text(surf, f"{v:+.2f}" if np.isfinite(v) else "-", (inner.right, y + row_h // 2), size,
                   ACCENT if hl else DIM, anchor="midright")
    pygame.draw.line(surf, FAINT, (int(zero_x), inner.y), (int(zero_x), inner.y + len(order) * row_h))
    if n > fits:
        fonts.text(surf, f"{n - len(order)} more not shown", (inner.x, inner.y + len(order) * row_h + 2), 14, FAINT)


# ----- status line and help -----------------------------------------------------------------------
def status_line(surf: pygame.Surface, rect: pygame.Rect, fonts: Fonts, parts: Sequence[tuple[str, tuple]]) -> None:
    """One line of (text, colour) parts separated by thin bars."""
    pygame.draw.rect(surf, PANEL, rect)
    pygame.draw.line(surf, PANEL_EDGE, rect.topleft, rect.topright)
    x = rect.x + 10
    for i, (text, color) in enumerate(parts):
        if i:
            pygame.draw.line(surf, FAINT, (x + 6, rect.y + 6), (x + 6, rect.bottom - 6))
            x += 14
        r = fonts.text(surf, text, (x, rect.centery), 17, color, anchor="midleft")
        x = r.right
        if x > rect.right:
            break


HELP = [
    ("Space", "run / pause"),
    ("Right, N", "single step (pauses)"),
    ("+ / -", "faster / slower (steps per frame)"),
    ("R", "reset to the scenario's initial state"),
    ("click", "flip a unit"),
    ("drag", "paint units with the clicked unit's new value"),
    ("right-click", "clamp / unclamp a unit"),
    ("I J K L", "move the unit cursor (Shift: paint as you go)"),
    ("F, Enter / C", "flip / clamp the unit under the cursor"),
    ("X", "add noise (flip a fraction of the units)"),
    ("[ / ]", "less / more noise for X"),
    ("1-9", "load stored pattern k"),
    ("Shift+1-9", "load pattern k with noise"),
    ("T / Shift+T", "raise / lower the temperature"),
    ("G", "graph view (units and weights) on / off"),
    ("Tab", "next trial of a batch"),
    ("S", "save a PNG screenshot"),
    ("H", "this help"),
    ("Esc, Q", "quit"),
]


def help_overlay(surf: pygame.Surface, fonts: Fonts, lines=HELP) -> None:
    """A translucent box listing every control."""
    w, h = surf.get_size()
    shade = pygame.Surface((w, h), pygame.SRCALPHA)
    shade.fill((8, 9, 14, 190))
    surf.blit(shade, (0, 0))
    row = 24
    bw = min(w - 40, 520)
    bh = min(h - 40, 60 + row * len(lines))
    box = pygame.Rect(0, 0, bw, bh)
    box.center = (w // 2, h // 2)
    pygame.draw.rect(surf, PANEL, box, border_radius=8)
    pygame.draw.rect(surf, ACCENT, box, 1, border_radius=8)
    fonts.text(surf, "Controls", (box.x + 18, box.y + 12), 24, ACCENT)
    fonts.text(surf, "H to close", (box.right - 18, box.y + 16), 16, DIM, anchor="topright")
    y = box.y + 44
    for key, what in lines:
        if y + row > box.bottom:
            break
        fonts.text(surf, key, (box.x + 18, y), 18, POS)
        fonts.text(surf, what, (box.x + 150, y), 18, TEXT, max_width=box.w - 168)
        y += row


# ----- log-scale plot (gradient norm vs lag) ------------------------------------------------------
def log_plot(surf: pygame.Surface, rect: pygame.Rect, fonts: Fonts, title: str, xs: np.ndarray, ys: np.ndarray,
             color=ENERGY, xlabel: str = "x", ylabel: str = "y (log)",
             lines: Sequence[tuple[str, tuple]] = (), note: str | None = None, label: str | None = None,
             curves: Sequence[tuple[np.ndarray, np.ndarray, tuple, str]] = ()) -> pygame.Rect | None:
    """A small panel plotting positive ``ys`` against ``xs`` on a log10 y axis (decade ticks
    labelled ``1``, ``1e-5``, ...), with both axes labelled, a dashed reference line at y = 1 and up
    to two text ``lines`` (text, colour) under the title. Zeros and non-finite values are drawn at
    the bottom of the axis. ``curves`` (xs, ys, colour, label) are drawn thinner under the main
    curve, on the same axes; with them (or a ``label``) a legend names each curve in the plot's
    top-right corner. Returns the plotting area (None when the panel is too small)."""
    inner = panel(surf, rect)
    fonts.text(surf, title, (inner.x, inner.y), 16, DIM, max_width=inner.w)
    y = inner.y + 17
    for text, col in lines[:2]:
        fonts.text(surf, text, (inner.x, y), 16, col, max_width=inner.w)
        y += 17
    if note:
        fonts.text(surf, note, inner.center, 15, FAINT, anchor="center", max_width=inner.w)
        return None
    left, bottom = 50, 30
    area = pygame.Rect(inner.x + left, y + 6, inner.w - left - 4, inner.bottom - y - 6 - bottom)
    if area.w < 30 or area.h < 30:
        return None
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    ok = np.isfinite(ys) & (ys > 0)
    if not ok.any() or xs.size == 0:
        fonts.text(surf, "no data", area.center, 15, FAINT, anchor="center")
        return area
    curves = [(np.asarray(cx, dtype=float), np.asarray(cy, dtype=float), c, t) for cx, cy, c, t in curves]
    ly = np.concatenate([np.log10(ys[ok])] + [np.log10(cy[np.isfinite(cy) & (cy > 0)]) for _, cy, _, _ in curves])
    e_lo = math.floor(min(ly.min(), 0.0) + 1e-9)
    e_hi = math.ceil(max(ly.max(), 0.0) - 1e-9)
    e_lo = max(e_lo, e_hi - 300)
    if e_hi - e_lo < 1:  # all values 1
        e_lo, e_hi = -1, 1
    x0, x1 = float(xs.min()), float(max(xs.max(), xs.min() + 1))
    for cx, _, _, _ in curves:
        if cx.size:
            x0, x1 = min(x0, float(cx.min())), max(x1, float(cx.max()))
    pygame.draw.rect(surf, BG, area)

    def px(x):
        return area.x + (np.asarray(x, dtype=float) - x0) / (x1 - x0) * (area.w - 1)

    def py(e):
        return area.bottom - 1 - (np.asarray(e, dtype=float) - e_lo) / (e_hi - e_lo) * (area.h - 1)

    n_max = max(2, area.h // 20)
    step = max(1, math.ceil((e_hi - e_lo) / n_max))
    for e in range(e_hi, e_lo - 1, -step):
        yy = int(py(e))
        pygame.draw.line(surf, PANEL_EDGE, (area.x, yy), (area.right - 1, yy))
        lab = "1" if e == 0 else ("10" if e == 1 else f"1e{e}")
        fonts.text(surf, lab, (area.x - 4, yy), 15, DIM, anchor="midright")
    yy = int(py(0))
    for xx in range(area.x, area.right, 8):  # dashed: the lag-0 level
        pygame.draw.line(surf, FAINT, (xx, yy), (min(xx + 3, area.right - 1), yy))
    for t in nice_ticks(x0, x1, max(2, area.w // 50)):
        if t != int(t):
            continue
        xx = int(px(t))
        pygame.draw.line(surf, PANEL_EDGE, (xx, area.bottom), (xx, area.bottom + 3))
        fonts.text(surf, str(int(t)), (xx, area.bottom + 3), 15, DIM, anchor="midtop")
    pygame.draw.rect(surf, PANEL_EDGE, area, 1)
    fonts.text(surf, xlabel, (area.centerx, inner.bottom + 2), 15, DIM, anchor="midbottom", max_width=inner.w)
    lab = pygame.transform.rotate(fonts.render(ylabel, 15, DIM), 90)
    if lab.get_height() > area.h:
        lab = pygame.transform.rotate(fonts.render(ylabel.split(" ")[0], 15, DIM), 90)
    surf.blit(lab, lab.get_rect(midleft=(inner.x - 5, area.centery)))
    for cx, cy, c, _ in curves:
        cok = np.isfinite(cy) & (cy > 0)
        if cx.size:
            ce = np.where(cok, np.log10(np.where(cok, cy, 1.0)), e_lo)
            _polyline(surf, area, px(cx), py(np.maximum(ce, e_lo)), c, 1)
    e = np.where(ok, np.log10(np.where(ok, ys, 1.0)), e_lo)
    _polyline(surf, area, px(xs), py(np.maximum(e, e_lo)), color, 2)
    if curves or label:
        ly_ = area.y + 3
        for text, c in [(label or "", color)] + [(t, c) for _, _, c, t in curves]:
            if not text:
                continue
            r = fonts.text(surf, text, (area.right - 4, ly_), 15, c, anchor="topright", max_width=area.w - 30)
            pygame.draw.line(surf, c, (area.right - 26 - (r.w if r else 0), ly_ + 8),
                             (area.right - 10 - (r.w if r else 0), ly_ + 8), 2)
            ly_ += 16
    return area
