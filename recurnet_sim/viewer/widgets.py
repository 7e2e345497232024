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
# Every text colour has a contrast of at least 4.5:1 (WCAG AA) on PANEL and BG in both themes
# (tests/test_viewer.py checks it): the faint grey of the first viewer was about 2:1.
BG = (16, 18, 26)
PANEL = (27, 30, 41)
PANEL_EDGE = (48, 53, 70)
TEXT = (222, 226, 236)
DIM = (150, 157, 178)
FAINT = (128, 134, 156)       # notes, greyed controls
ACCENT = (255, 190, 92)       # highlights (recalled pattern, arrows)
NEG = (24, 46, 108)           # state -1 (or 0 for 0/1 units): dark blue
ZERO = (64, 68, 84)           # activation 0 of continuous units: neutral grey
POS = (255, 222, 150)         # state +1: warm, light
HID_NEG = (42, 24, 62)        # hidden units of a Boltzmann machine: another palette
HID_POS = (196, 150, 255)
HID_MID = (110, 84, 150)      # ... and its middle
CLAMP = (70, 235, 170)        # outline of clamped units
ENERGY = (110, 196, 255)
TEMP = (255, 112, 96)
GOOD = (120, 220, 140)
WARN = (255, 150, 90)
FAILURE = (255, 92, 122)      # an outcome that missed its target: red, never mistaken for success


def verdict_colour(success: bool | None):
    """Colour of an outcome (:meth:`Model.outcome`'s ``success``): green when the target was
    reached or the task solved, red when not, dim without a target. Success is never drawn in the
    warning orange or the highlight amber."""
    if success is None:
        return DIM
    return GOOD if success else FAILURE


def make_lut(neg, mid, pos, n: int = 256) -> np.ndarray:
    """A diverging colour table (n, 3) uint8: index 0 = ``neg``, n//2 = ``mid``, n-1 = ``pos``."""
    t = np.linspace(-1.0, 1.0, n)[:, None]
    neg, mid, pos = (np.asarray(c, dtype=float) for c in (neg, mid, pos))
    lut = np.where(t < 0, mid + (neg - mid) * (-t), mid + (pos - mid) * t)
    return np.clip(np.rint(lut), 0, 255).astype(np.uint8)


#: -1 -> dark blue, 0 -> grey, +1 -> warm: bipolar units use the two ends, continuous ones all of it.
LUT_ACT = make_lut(NEG, ZERO, POS)
LUT_HIDDEN = make_lut(HID_NEG, HID_MID, HID_POS)

#: the colour themes ([view] theme, the V key): "contrast" is black, white and saturated colours
#: for a washed-out projector
THEMES = {
    "dark": dict(BG=BG, PANEL=PANEL, PANEL_EDGE=PANEL_EDGE, TEXT=TEXT, DIM=DIM, FAINT=FAINT, ACCENT=ACCENT,
                 NEG=NEG, ZERO=ZERO, POS=POS, HID_NEG=HID_NEG, HID_POS=HID_POS, HID_MID=HID_MID, CLAMP=CLAMP, ENERGY=ENERGY,
                 TEMP=TEMP, GOOD=GOOD, WARN=WARN, FAILURE=FAILURE),
    "contrast": dict(BG=(0, 0, 0), PANEL=(0, 0, 0), PANEL_EDGE=(150, 150, 150), TEXT=(255, 255, 255),
                     DIM=(230, 230, 230), FAINT=(200, 200, 200), ACCENT=(255, 214, 0), NEG=(0, 36, 150),
                     ZERO=(90, 90, 90), POS=(255, 255, 255), HID_NEG=(40, 0, 70), HID_POS=(225, 170, 255), HID_MID=(123, 76, 153),
                     CLAMP=(0, 255, 140), ENERGY=(80, 200, 255), TEMP=(255, 90, 70), GOOD=(60, 255, 100),
                     WARN=(255, 140, 40), FAILURE=(255, 70, 110)),
}
#: the names of the text colours (the contrast test reads them)
TEXT_COLOURS = ("TEXT", "DIM", "FAINT", "ACCENT", "ENERGY", "TEMP", "GOOD", "WARN", "FAILURE", "POS", "CLAMP")
theme = "dark"


def set_theme(name: str) -> None:
    """Switch every colour of this module to theme ``name`` (the colour tables in place, so the
    views holding them see the change)."""
    global theme
    g = globals()
    g.update(THEMES[name])
    LUT_ACT[...] = make_lut(g["NEG"], g["ZERO"], g["POS"])
    LUT_HIDDEN[...] = make_lut(g["HID_NEG"], g["HID_MID"], g["HID_POS"])
    theme = name


def contrast(c1, c2) -> float:
    """WCAG contrast ratio of two sRGB colours (1 to 21)."""
    def lum(c):
        v = [x / 255 for x in c]
        v = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
    a, b = sorted((lum(c1), lum(c2)))
    return (b + 0.05) / (a + 0.05)


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
    """pygame's default font in a few sizes, with a small cache of rendered strings.

    Sizes are given at the reference window (1100 x 720) and multiplied by ``scale``, which the
    viewer sets from the window size and the zoom key, so text grows with the window; ``px(n)``
    scales a layout distance the same way. While ``drawn`` is a list, every text drawn appends
    (rect, text) to it (the layout tests check that no two overlap)."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self._fonts: dict[int, pygame.font.Font] = {}
        self._cache: dict[tuple, pygame.Surface] = {}
        self.drawn: list | None = None

    def px(self, n: float) -> int:
        """A layout distance of ``n`` pixels at the reference size, scaled."""
        return int(round(n * self.scale))

    def height(self, size: int) -> int:
        """Line height of text of ``size``."""
        return self.font(size).get_linesize()

    def font(self, size: int) -> pygame.font.Font:
        size = max(8, int(round(size * self.scale)))
        f = self._fonts.get(size)
        if f is None:
            f = self._fonts[size] = pygame.font.Font(None, size)
        return f

    def render(self, text: str, size: int = 18, color=TEXT) -> pygame.Surface:
        key = (text, size, color, self.scale)
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
        if self.drawn is not None and text:
            self.drawn.append((r.copy(), text))
        return r

    def wrap(self, text: str, size: int, width: int, max_lines: int = 2) -> list[str]:
        """``text`` broken into lines of at most ``width`` pixels (the last cut with an ellipsis)."""
        words, lines, cur = text.split(), [], ""
        f = self.font(size)
        for w in words:
            t = f"{cur} {w}".strip()
            if f.size(t)[0] <= width or not cur:
                cur = t
            else:
                lines.append(cur)
                cur = w
        if cur:
            lines.append(cur)
        if len(lines) > max_lines:
            lines = lines[:max_lines - 1] + [" ".join(lines[max_lines - 1:])]
        return lines


def panel(surf: pygame.Surface, rect: pygame.Rect, fonts: Fonts | None = None, title: str | None = None) -> pygame.Rect:
    """A rounded panel; returns the inner rect below the title."""
    pygame.draw.rect(surf, PANEL, rect, border_radius=6)
    pygame.draw.rect(surf, PANEL_EDGE, rect, 1, border_radius=6)
    k = fonts.scale if fonts is not None else 1.0
    inner = rect.inflate(-int(16 * k), -int(12 * k))
    if title and fonts is not None:
        fonts.text(surf, title, (inner.x, inner.y), 17, DIM, max_width=inner.w)
        th = fonts.height(17)
        inner = pygame.Rect(inner.x, inner.y + th, inner.w, inner.h - th)
    return inner


def signed(x: float, decimals: int = 2) -> str:
    """``x`` with a sign, never "-0.00": a value that rounds to zero is "0.00"."""
    t = f"{x:+.{decimals}f}"
    return t[1:] if float(t) == 0 else t


def fmt(x: float) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    x = float(x) + 0.0  # no "-0"
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
    t = f"{v:.{dec}f}"
    return t.lstrip("-") if float(t) == 0 else t


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
              color2=TEMP, xlabel: str = "tick", marks: Sequence[tuple[float, float]] = (),
              mark_label: str = "after a perturbation", note2: str | None = None) -> pygame.Rect | None:
    """A time plot with axes, round tick values, the x axis named ``xlabel`` and the current
    value; an optional second series (e.g. temperature) shares the time axis and gets its own scale
    on the right (a constant one is only named: "T 0.6 (constant)"). ``marks`` (x, y) are drawn as
    rings joined to the recorded value of their tick by a thin line: the value right after a
    perturbation, beside (not instead of) what the tick recorded. ``note2`` replaces "constant" for
    a second series constant so far that will change (an anneal schedule still ahead). Returns the
    plotting area."""
    inner = panel(surf, rect)
    k = fonts.scale
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    cur = ys[-1] if ys.size else float("nan")
    if marks and xs.size and marks[-1][0] >= xs[-1]:
        cur = marks[-1][1]  # the state shown now is the perturbed one
    val = fonts.text(surf, fmt(cur), (inner.right, inner.y), 20, color, anchor="topright")
    second = xs2 is not None and ys2 is not None and len(ys2) > 0
    right_w = val.w
    if second:
        ys2 = np.asarray(ys2, dtype=float)
        xs2 = np.asarray(xs2, dtype=float)
        f2 = np.isfinite(ys2)
        constant = not f2.any() or np.ptp(ys2[f2]) < 1e-12
        t2 = f"{label2} {fmt(ys2[-1])}" + ((f" ({note2})" if note2 else " (constant)") if constant else "")
        r2 = fonts.text(surf, t2, (val.x - fonts.px(14), inner.y + fonts.px(2)), 16, color2, anchor="topright")
        right_w = inner.right - r2.x
        second = not constant
    fonts.text(surf, title, (inner.x, inner.y), 17, DIM, max_width=max(10, inner.w - right_w - fonts.px(12)))
    th = fonts.height(20)
    lh = fonts.height(15)
    left = fonts.px(62)
    rgt = fonts.px(44) if second else fonts.px(8)
    area = pygame.Rect(inner.x + left, inner.y + th + fonts.px(4), inner.w - left - rgt, inner.h - th - fonts.px(4) - 2 * lh)
    if area.w < 20 or area.h < 20:
        return None
    pygame.draw.rect(surf, BG, area)
    fin = np.isfinite(ys)
    if not fin.any():
        fonts.text(surf, "no data yet", area.center, 16, FAINT, anchor="center")
        return area
    x0 = float(xs[0])
    x1 = float(max(xs[-1], x0 + 1))
    vals = ys[fin]
    if marks:
        vals = np.concatenate([vals, [m[1] for m in marks if np.isfinite(m[1]) and x0 <= m[0] <= x1]])
    lo, hi = float(vals.min()), float(vals.max())
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

    yt = nice_ticks(lo, hi, max(2, area.h // max(1, fonts.px(32))))
    ystep = yt[1] - yt[0] if len(yt) > 1 else 0.0
    for t in yt:
        y = int(py(t))
        pygame.draw.line(surf, PANEL_EDGE, (area.x, y), (area.right - 1, y))
        fonts.text(surf, tick_label(t, ystep), (area.x - fonts.px(5), y), 15, DIM, anchor="midright")
    last_x = -10 ** 9
    for t in nice_ticks(x0, x1, max(2, area.w // max(1, fonts.px(80)))):
        if t != int(t):
            continue
        x = int(px(t))
        pygame.draw.line(surf, PANEL_EDGE, (x, area.bottom), (x, area.bottom + 3))
        lab = str(int(t))
        w = fonts.font(15).size(lab)[0]
        if x - w // 2 > last_x + fonts.px(6):
            r = fonts.text(surf, lab, (x, area.bottom + 3), 15, DIM, anchor="midtop")
            last_x = r.right
    fonts.text(surf, xlabel, (area.right, area.bottom + 3 + lh), 15, DIM, anchor="topright") if xlabel else None
    pygame.draw.rect(surf, PANEL_EDGE, area, 1)
    if second:
        f2 = np.isfinite(ys2)
        a2, b2 = float(ys2[f2].min()), float(ys2[f2].max())
        fonts.text(surf, fmt(b2), (area.right + 4, area.y), 15, color2, anchor="topleft")
        fonts.text(surf, fmt(a2), (area.right + 4, area.bottom), 15, color2, anchor="bottomleft")
        _polyline(surf, area, px(xs2[f2]), py(ys2[f2], a2, b2), color2, 1)
    _polyline(surf, area, px(xs[fin]), py(ys[fin]), color, max(2, fonts.px(2)))
    if marks:
        clip = surf.get_clip()
        surf.set_clip(area)
        rec = dict(zip(xs.tolist(), ys.tolist()))
        rad = max(3, fonts.px(4))
        for mx, my in marks:
            if not (x0 <= mx <= x1 and np.isfinite(my)):
                continue
            p = (int(px(mx)), int(py(my)))
            if mx in rec and np.isfinite(rec[mx]):
                pygame.draw.line(surf, ACCENT, (p[0], int(py(rec[mx]))), p, 1)
            pygame.draw.circle(surf, ACCENT, p, rad, 2)
        surf.set_clip(clip)
        fonts.text(surf, f"o  {mark_label}", (area.x, area.bottom + 3 + lh), 15, ACCENT, anchor="topleft",
                   max_width=area.w - fonts.font(15).size(xlabel or "")[0] - fonts.px(12))
    return area


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
    row (e.g. a target). The ``note`` goes beside the title when both fit, else on a line of its
    own. Rows never shrink below a legible height: when they do not all fit, the largest |values|
    are shown and the rest counted."""
    k = fonts.scale
    pygame.draw.rect(surf, PANEL, rect, border_radius=6)
    pygame.draw.rect(surf, PANEL_EDGE, rect, 1, border_radius=6)
    inner = rect.inflate(-int(16 * k), -int(12 * k))
    th = fonts.height(17)
    tw = fonts.font(17).size(title)[0]
    nw = fonts.font(15).size(note)[0] if note else 0
    if note and tw + nw + fonts.px(16) <= inner.w:
        fonts.text(surf, title, (inner.x, inner.y), 17, DIM)
        fonts.text(surf, note, (inner.right, inner.y + (th - fonts.height(15)) // 2), 15, FAINT, anchor="topright")
        top = inner.y + th
    else:
        fonts.text(surf, title, (inner.x, inner.y), 17, DIM, max_width=inner.w)
        top = inner.y + th
        if note:
            fonts.text(surf, note, (inner.x, top), 15, FAINT, max_width=inner.w)
            top += fonts.height(15)
    inner = pygame.Rect(inner.x, top + fonts.px(2), inner.w, inner.bottom - top - fonts.px(2))
    n = len(values)
    if n == 0:
        fonts.text(surf, "no stored patterns", inner.center, 16, FAINT, anchor="center", max_width=inner.w)
        return
    values = np.asarray(values, dtype=float)
    row_min = max(fonts.height(16) + 2, 14)  # legible rows: the rest are counted, not squeezed
    row_h = min(fonts.px(24), max(row_min, inner.h // n))
    fits = max(1, inner.h // row_h)
    order = list(range(n))
    if n > fits:
        fits = max(1, (inner.h - fonts.height(14)) // row_h)  # room for the "more not shown" line
        order = sorted(order, key=lambda j: -abs(values[j]) if np.isfinite(values[j]) else 0)[:fits]
        if highlight is not None and highlight not in order:
            order[-1] = highlight
    size = 16
    name_w = min(fonts.px(90), max(fonts.font(size).size(str(names[j]))[0] for j in order) + fonts.px(8))
    val_w = fonts.font(size).size("+0.00")[0] + fonts.px(8)
    bar = pygame.Rect(inner.x + name_w, inner.y, inner.w - name_w - val_w, row_h)
    zero_x = bar.x + (0 - lo) / (hi - lo) * bar.w
    inset = max(2, row_h // 8)
    for r, j in enumerate(order):
        y = inner.y + r * row_h
        v = values[j]
        hl = j == highlight
        fonts.text(surf, str(names[j]), (inner.x, y + row_h // 2), size, ACCENT if hl else TEXT, anchor="midleft",
                   max_width=name_w - fonts.px(6))
        track = pygame.Rect(bar.x, y + inset, bar.w, row_h - 2 * inset)
        pygame.draw.rect(surf, BG, track)
        if np.isfinite(v):
            vx = bar.x + (min(max(v, lo), hi) - lo) / (hi - lo) * bar.w
            a, b = sorted((zero_x, vx))
            col = (POS if v >= 0 else (84, 120, 210)) if not hl else ACCENT
            pygame.draw.rect(surf, col, pygame.Rect(int(a), track.y, max(1, int(round(b - a))), track.h))
        if marks is not None and np.isfinite(marks[j]):
            mx = bar.x + (min(max(marks[j], lo), hi) - lo) / (hi - lo) * bar.w
            pygame.draw.line(surf, GOOD, (int(mx), track.y - 2), (int(mx), track.bottom + 1), 2)
        if hl:
            pygame.draw.rect(surf, ACCENT, track.inflate(2, 2), 1)
        fonts.text(surf, signed(v) if np.isfinite(v) else "-", (inner.right, y + row_h // 2), size,
                   ACCENT if hl else DIM, anchor="midright")
    pygame.draw.line(surf, FAINT, (int(zero_x), inner.y), (int(zero_x), inner.y + len(order) * row_h))
    if n > len(order):
        fonts.text(surf, f"{n - len(order)} more not shown", (inner.x, inner.y + len(order) * row_h + 2), 14, FAINT,
                   max_width=inner.w)


# ----- status line and help -----------------------------------------------------------------------
def status_line(surf: pygame.Surface, rect: pygame.Rect, fonts: Fonts, parts: Sequence[tuple], hint=None) -> list[str]:
    """The status bar: a row of (text, colour[, priority]) parts separated by thin bars, and under
    it a second row with ``hint`` (text, colour) (the last command's message, or what to press).
    Parts that do not fit are left out whole, lowest priority (highest number) first, never cut
    mid-word. Returns the texts shown."""
    pygame.draw.rect(surf, PANEL, rect)
    pygame.draw.line(surf, PANEL_EDGE, rect.topleft, rect.topright)
    items = [(p[0], p[1], p[2] if len(p) > 2 else 0) for p in parts if p[0]]
    gap = fonts.px(14)
    room = rect.w - fonts.px(20)
    f = fonts.font(17)

    def width(its):
        return sum(f.size(t)[0] for t, _, _ in its) + gap * max(0, len(its) - 1)

    while len(items) > 1 and width(items) > room:
        worst = max(range(len(items)), key=lambda i: (items[i][2], i))
        items.pop(worst)
    row = rect.h if hint is None else rect.h // 2
    cy = rect.y + row // 2
    x = rect.x + fonts.px(10)
    for i, (text, color, _) in enumerate(items):
        if i:
            pygame.draw.line(surf, FAINT, (x + gap // 2, cy - row // 3), (x + gap // 2, cy + row // 3))
            x += gap
        r = fonts.text(surf, text, (x, cy), 17, color, anchor="midleft", max_width=rect.right - x - fonts.px(6))
        x = r.right
    if hint is not None and hint[0]:
        fonts.text(surf, hint[0], (rect.x + fonts.px(10), rect.y + row + row // 2), 16, hint[1], anchor="midleft",
                   max_width=rect.w - fonts.px(20))
    return [t for t, _, _ in items]


HELP = [
    ("Space", "run / pause (lesson mode opens paused on the cue)"),
    ("Right, N", "one tick: a whole sweep, pass or epoch (pauses)"),
    ("U, .", "one unit update: the unit updated is ringed, with h and dE"),
    ("+ / -", "faster / slower (from 1 unit/s to many sweeps a frame)"),
    ("R", "reset to the paused start (the cue)"),
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
    ("Z / Shift+Z", "zoom text and cells in / out"),
    ("V", "high-contrast theme on / off"),
    ("P", "lesson captions on / off"),
    ("S", "save a PNG screenshot"),
    ("H", "this help"),
    ("Esc, Q", "quit"),
]


def help_overlay(surf: pygame.Surface, fonts: Fonts, lines=HELP, unavailable: dict | None = None) -> None:
    """A translucent box listing every control; the keys in ``unavailable`` ({key: reason}) are
    greyed, with the reason in place of what they do."""
    unavailable = unavailable or {}
    w, h = surf.get_size()
    shade = pygame.Surface((w, h), pygame.SRCALPHA)
    shade.fill((8, 9, 14, 190))
    surf.blit(shade, (0, 0))
    head = fonts.height(24) + fonts.px(14)
    row = max(fonts.height(14), min(fonts.height(18) + fonts.px(4), (h - 40 - head - fonts.px(12)) // max(1, len(lines))))
    size = 18 if row >= fonts.height(18) else 14
    bw = min(w - 40, fonts.px(640))
    bh = min(h - 40, head + fonts.px(12) + row * len(lines))
    box = pygame.Rect(0, 0, bw, bh)
    box.center = (w // 2, h // 2)
    pygame.draw.rect(surf, PANEL, box, border_radius=8)
    pygame.draw.rect(surf, ACCENT, box, 1, border_radius=8)
    pad = fonts.px(18)
    fonts.text(surf, "Controls", (box.x + pad, box.y + fonts.px(10)), 24, ACCENT)
    fonts.text(surf, "H to close; grey: not for this network", (box.right - pad, box.y + fonts.px(14)), 15, DIM,
               anchor="topright", max_width=box.w // 2)
    key_w = max(fonts.font(size).size(k)[0] for k, _ in lines) + fonts.px(16)
    y = box.y + head
    for key, what in lines:
        if y + row > box.bottom:
            break
        why = unavailable.get(key)
        fonts.text(surf, key, (box.x + pad, y), size, FAINT if why else POS)
        fonts.text(surf, f"n/a: {why}" if why else what, (box.x + pad + key_w, y), size, FAINT if why else TEXT,
                   max_width=box.w - key_w - 2 * pad)
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
    curve, on the same axes; with them (or a ``label``) a legend names each curve in rows of its own
    above the plot. Returns the plotting area (None when the panel is too small)."""
    inner = panel(surf, rect)
    fonts.text(surf, title, (inner.x, inner.y), 16, DIM, max_width=inner.w)
    y = inner.y + fonts.height(16)
    for text, col in lines[:2]:
        fonts.text(surf, text, (inner.x, y), 16, col, max_width=inner.w)
        y += fonts.height(16)
    if note:
        fonts.text(surf, note, inner.center, 15, FAINT, anchor="center", max_width=inner.w)
        return None
    left, bottom = fonts.px(50), 2 * fonts.height(15) + fonts.px(4)  # tick labels, then the axis name
    # the legend gets rows of its own above the plot (as the curve plots'), so no curve runs
    # through its text: (text, colour, x offset) per item, flowed into at most 3 rows
    named = [(t, c) for t, c in [(label or "", color)] + [(t, c) for _, _, c, t in curves] if t] \
        if (curves or label) else []
    sw, lh = fonts.px(18), fonts.height(15)
    legend, cur, lx = [], [], 0
    for text, c in named:
        wi = sw + fonts.px(4) + fonts.font(15).size(text)[0]
        if cur and lx + wi > inner.w - left:
            legend.append(cur)
            cur, lx = [], 0
        cur.append((text, c, lx))
        lx += wi + fonts.px(14)
    legend = (legend + [cur])[:3] if cur else legend[:3]
    y_leg = y + fonts.px(3)
    y += len(legend) * lh
    area = pygame.Rect(inner.x + left, y + fonts.px(6), inner.w - left - fonts.px(4),
                       inner.bottom - y - fonts.px(6) - bottom)
    if area.w < 30 or area.h < 30:
        return None
    for r, row in enumerate(legend):
        for text, c, dx in row:
            x = area.x + dx
            yy = y_leg + r * lh
            pygame.draw.line(surf, c, (x, yy + lh // 2), (x + sw, yy + lh // 2), max(2, fonts.px(3)))
            fonts.text(surf, text, (x + sw + fonts.px(4), yy), 15, c, max_width=max(10, area.right - x - sw))
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

    n_max = max(2, area.h // (fonts.height(15) + fonts.px(4)))  # decades labelled: as many as fit
    step = max(1, math.ceil((e_hi - e_lo) / n_max))
    for e in range(e_hi, e_lo - 1, -step):
        yy = int(py(e))
        pygame.draw.line(surf, PANEL_EDGE, (area.x, yy), (area.right - 1, yy))
        lab = "1" if e == 0 else ("10" if e == 1 else f"1e{e}")
        fonts.text(surf, lab, (area.x - 4, yy), 15, DIM, anchor="midright")
    yy = int(py(0))
    for xx in range(area.x, area.right, 8):  # dashed: the lag-0 level
        pygame.draw.line(surf, FAINT, (xx, yy), (min(xx + 3, area.right - 1), yy))
    last = -10**9
    for t in nice_ticks(x0, x1, max(2, area.w // fonts.px(50))):
        if t != int(t):
            continue
        xx = int(px(t))
        pygame.draw.line(surf, PANEL_EDGE, (xx, area.bottom), (xx, area.bottom + 3))
        # the first label starts at the axis (centred there it ran into the lowest y label); a
        # label that would touch the one before is left out (a narrow panel at a big zoom)
        lw = fonts.font(15).size(str(int(t)))[0]
        left_x = xx if xx <= area.x + 1 else xx - lw // 2
        if left_x < last + fonts.px(6):
            continue
        r = fonts.text(surf, str(int(t)), (xx, area.bottom + 3), 15, DIM, anchor="topleft" if xx <= area.x + 1 else "midtop")
        last = r.right
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
    return area
