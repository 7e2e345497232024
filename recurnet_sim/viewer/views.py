"""One drawer per network family, plus the graph view.

Every view draws the *displayed trial* of ``sim.model`` into a rectangle and answers
``unit_at(pos)`` for mouse hits. Views read the model (state, clamped, layers, weights) and never
change it. States are drawn as cell blocks through one array blit each (``pygame.surfarray``), so a
100 x 100 grid costs one scaled blit, not 10 000 rectangles.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np
import pygame

from . import widgets as W
from .widgets import Fonts

MAX_CELL = 64


# ----- helpers ------------------------------------------------------------------------------------
def layer_slices(model) -> dict[str, slice]:
    """The model's named layers as slices (``layers`` attribute or ``describe()["layers"]``)."""
    L = getattr(model, "layers", None)
    if not L:
        L = model.describe().get("layers") if hasattr(model, "describe") else None
    if not L:
        return {}
    out = {}
    for k, v in L.items():
        out[k] = v if isinstance(v, slice) else slice(int(v[0]), int(v[1]))
    return out


def grid_shape_of(model) -> tuple[int, int] | None:
    g = None
    try:
        g = model.describe().get("grid_shape")
    except Exception:  # a model whose describe() fails still gets drawn
        g = None
    g = g or getattr(model, "grid_shape", None)
    return tuple(int(x) for x in g) if g else None


def near_square(n: int, aspect: float = 1.0) -> tuple[int, int]:
    """(rows, cols) of a near-square grid holding n cells (cols/rows about ``aspect``)."""
    cols = max(1, math.ceil(math.sqrt(n * aspect)))
    return max(1, math.ceil(n / cols)), cols


def unit_grid(start: int, n: int, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Unit indices start..start+n-1 laid out row-major in ``shape`` (-1 pads), shape (rows, cols)."""
    rows, cols = shape if shape and shape[0] * shape[1] >= n else near_square(n)
    g = np.full(rows * cols, -1, dtype=np.intp)
    g[:n] = np.arange(start, start + n)
    return g.reshape(rows, cols)


def value_range(model) -> tuple[float, float]:
    lo, hi = getattr(model, "unit_values", (-1.0, 1.0))
    if model.network_type in ("elman", "jordan"):
        return -1.0, 1.0  # activations: negative blue, 0 grey, positive warm
    return float(lo), float(hi)


def arrow(surf, color, a, b, width=3, head=10):
    """A straight arrow from a to b."""
    pygame.draw.line(surf, color, a, b, width)
    ang = math.atan2(b[1] - a[1], b[0] - a[0])
    p1 = (b[0] - head * math.cos(ang - 0.45), b[1] - head * math.sin(ang - 0.45))
    p2 = (b[0] - head * math.cos(ang + 0.45), b[1] - head * math.sin(ang + 0.45))
    pygame.draw.polygon(surf, color, [b, p1, p2])


class Block:
    """A rectangle of cells showing some units (a layer, or the whole net)."""

    def __init__(self, name: str, label: str, units: np.ndarray, lut: np.ndarray = W.LUT_ACT):
        self.name = name
        self.label = label
        self.units = units                    # (rows, cols) unit indices, -1 = empty cell
        self.rows, self.cols = units.shape
        self._flat = units.ravel()
        self._pad = self._flat < 0
        self._take = np.where(self._pad, 0, self._flat)
        self.lut = lut
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
            fonts.text(surf, self.label, (self.rect.x, self.rect.y - 4), 17, W.DIM, anchor="bottomleft")


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


# ----- family views -------------------------------------------------------------------------------
class StateView:
    """Base: a list of blocks laid out in ``layout`` and drawn from the displayed trial."""

    title = "state"

    def __init__(self, model, max_cell: int = MAX_CELL):
        self.model = model
        self.max_cell = max_cell
        self.blocks: list[Block] = []
        self.rect = pygame.Rect(0, 0, 0, 0)
        self.lo, self.hi = value_range(model)

    def layout(self, rect: pygame.Rect) -> None:
        self.rect = pygame.Rect(rect)
        # leave the bottom 34 px to the legend
        layout_row(self.blocks, pygame.Rect(rect.x + 10, rect.y + 10, rect.w - 20, rect.h - 44), 40, max_cell=self.max_cell)

    def unit_at(self, pos) -> int | None:
        for b in self.blocks:
            u = b.unit_at(pos)
            if u is not None:
                return u
        return None

    def draw(self, surf: pygame.Surface, fonts: Fonts, trial: int) -> None:
        m = self.model
        st, cl = m.state[trial], m.clamped[trial]
        for b in self.blocks:
            b.draw(surf, st, cl, self.lo, self.hi, fonts)
        self.draw_extra(surf, fonts, trial)
        self.legend(surf, fonts)

    def draw_extra(self, surf, fonts, trial) -> None:
        pass

    def legend(self, surf, fonts) -> None:
        x, y = self.rect.x + 10, self.rect.bottom - 10
        lo, hi = self.lo, self.hi
        items = [(W.POS, f"{hi:g}"), (W.NEG, f"{lo:g}")]
        if self.model.network_type in ("elman", "jordan"):
            items = [(W.NEG, "-1"), (W.ZERO, "0"), (W.POS, "+1")]
        for col, txt in items:
            pygame.draw.rect(surf, col, (x, y - 12, 12, 12))
            r = fonts.text(surf, txt, (x + 16, y), 15, W.DIM, anchor="bottomleft")
            x = r.right + 12
        pygame.draw.rect(surf, W.CLAMP, (x, y - 12, 12, 12), 2)
        fonts.text(surf, "clamped", (x + 16, y), 15, W.DIM, anchor="bottomleft")


class GridView(StateView):
    """Hopfield and Boltzmann: the units as a grid in the pattern's shape; a Boltzmann machine's
    hidden units in a second block with their own colours."""

    def __init__(self, model, max_cell=MAX_CELL):
        super().__init__(model, max_cell)
        L = layer_slices(model)
        shape = grid_shape_of(model)
        if "visible" in L and "hidden" in L:
            vis, hid = L["visible"], L["hidden"]
        elif getattr(model, "n_hidden", 0) and getattr(model, "n_visible", 0):
            nv = int(model.n_visible)
            vis, hid = slice(0, nv), slice(nv, nv + int(model.n_hidden))
        else:
            vis, hid = slice(0, model.n_units), None
        nv = vis.stop - vis.start
        topo = model.describe().get("topology") if hid is not None else None
        if shape and shape[0] * shape[1] == nv:
            vshape = shape
        elif topo == "encoder" and nv % 2 == 0:
            vshape = (2, nv // 2)  # the two visible groups V1 and V2, one row each
        elif nv <= 16:
            vshape = (1, nv)
        else:
            vshape = near_square(nv)
        if topo == "encoder":
            label = f"visible: V1 (top row), V2 ({nv} units)"
        else:
            label = f"visible ({nv} units)" if hid is not None else f"{nv} units ({vshape[0]} x {vshape[1]})"
        self.blocks = [Block("visible", label, unit_grid(vis.start, nv, vshape))]
        if hid is not None:
            nh = hid.stop - hid.start
            if nh > 0:
                rows = min(nh, vshape[0])
                hshape = (rows, math.ceil(nh / rows))
                self.blocks.append(Block("hidden", f"hidden ({nh})", unit_grid(hid.start, nh, hshape), W.LUT_HIDDEN))

    def legend(self, surf, fonts):
        super().legend(surf, fonts)
        if len(self.blocks) > 1:
            x, y = self.rect.right - 10, self.rect.bottom - 10
            r = fonts.text(surf, "hidden on/off", (x, y), 15, W.DIM, anchor="bottomright")
            pygame.draw.rect(surf, tuple(W.LUT_HIDDEN[-1]), (r.x - 34, y - 12, 12, 12))
            pygame.draw.rect(surf, tuple(W.LUT_HIDDEN[0]), (r.x - 18, y - 12, 12, 12))


class BAMView(StateView):
    """BAM: the X and Y layers side by side, the arrows showing the pass that comes next."""

    def __init__(self, model, max_cell=MAX_CELL):
        super().__init__(model, max_cell)
        L = layer_slices(model)
        x, y = L["x"], L["y"]
        nx_, ny = x.stop - x.start, y.stop - y.start
        xs = model.describe().get("x_shape") or getattr(model, "x_shape", None)
        xshape = tuple(xs) if xs and xs[0] * xs[1] == nx_ else near_square(nx_)
        yshape = (ny, 1) if ny <= 16 else near_square(ny)
        self.blocks = [Block("x", f"X layer ({nx_})", unit_grid(x.start, nx_, xshape)),
                       Block("y", f"Y layer ({ny})", unit_grid(y.start, ny, yshape))]

    def layout(self, rect):
        self.rect = pygame.Rect(rect)
        inner = pygame.Rect(rect.x + 10, rect.y + 50, rect.w - 20, rect.h - 50 - 34)
        layout_row(self.blocks, inner, max(90, min(200, rect.w // 5)), max_cell=self.max_cell)

    def draw_extra(self, surf, fonts, trial):
        m = self.model
        bx, by = self.blocks
        cx0, cx1 = bx.rect.right + 14, by.rect.left - 14
        cy = (min(bx.rect.centery, by.rect.centery) + max(bx.rect.centery, by.rect.centery)) // 2
        nxt = getattr(m, "direction", None)
        last = getattr(m, "last_direction", None)
        fwd_on = nxt in ("x->y", "x<->y")
        bwd_on = nxt in ("y->x", "x<->y")
        arrow(surf, W.ACCENT if fwd_on else W.FAINT, (cx0, cy - 16), (cx1, cy - 16), 4 if fwd_on else 2)
        arrow(surf, W.ACCENT if bwd_on else W.FAINT, (cx1, cy + 16), (cx0, cy + 16), 4 if bwd_on else 2)
        mid = (cx0 + cx1) // 2
        fonts.text(surf, "W", (mid, cy - 28), 17, W.DIM, anchor="midbottom")
        fonts.text(surf, "W^T", (mid, cy + 28), 17, W.DIM, anchor="midtop")
        txt = {"x->y": "next pass: X -> Y", "y->x": "next pass: Y -> X", "x<->y": "async sweep over X and Y"}
        fonts.text(surf, txt.get(nxt, f"direction {nxt}"), (self.rect.centerx, self.rect.y + 10), 19, W.ACCENT,
                   anchor="midtop")
        if last:
            fonts.text(surf, f"last pass: {last.replace('->', ' -> ').upper()}", (self.rect.centerx, self.rect.y + 30), 16,
                       W.DIM, anchor="midtop")


class SRNView(StateView):
    """Elman / Jordan: input, context, hidden and output layers, and a time strip (heatmap) of
    recent hidden activations."""

    STRIP = 160  # ticks kept in the strip outside training

    def __init__(self, model, max_cell=MAX_CELL):
        super().__init__(model, max_cell)
        L = layer_slices(model)
        self.history: deque = deque(maxlen=self.STRIP)  # hidden states of recent ticks (run/free)
        self.kind = model.network_type
        self.L = L

        def blk(name, label):
            sl = L[name]
            n = sl.stop - sl.start
            shape = (1, n) if n <= 24 else (math.ceil(n / 24), 24)
            return Block(name, f"{label} ({n})", unit_grid(sl.start, n, shape))

        self.out = blk("output", "output")
        self.hid = blk("hidden", "hidden")
        self.inp = blk("input", "input")
        self.ctx = blk("context", "context")
        self.blocks = [self.out, self.hid, self.inp, self.ctx]
        self.strip_rect = pygame.Rect(0, 0, 0, 0)
        self.grad_rect = pygame.Rect(0, 0, 0, 0)
        self._strip_small = None
        self._gf_key = None
        self._gf: dict | None = None
        self.gf_computations = 0  # how many times the gradient flow was computed (tests)

    def layout(self, rect):
        self.rect = pygame.Rect(rect)
        top = pygame.Rect(rect.x + 20, rect.y + 10, rect.w - 130, int(rect.h * 0.58))
        avail = rect.w - 80
        # the gradient-flow panel sits right of the time strip when both stay readable
        gw = int(min(320, max(180, 0.42 * avail))) if avail >= 380 else 0
        self.strip_rect = pygame.Rect(rect.x + 60, top.bottom + 40, avail - (gw + 24 if gw else 0),
                                      rect.bottom - top.bottom - 80)
        if gw:
            gy = top.bottom + 10
            self.grad_rect = pygame.Rect(rect.right - 8 - gw, gy, gw, rect.bottom - 6 - gy)
        else:
            self.grad_rect = pygame.Rect(0, 0, 0, 0)
        gap_cells = 2
        wide = max(self.out.cols, self.hid.cols, self.inp.cols + self.ctx.cols + gap_cells)
        tall = self.out.rows + self.hid.rows + max(self.inp.rows, self.ctx.rows)
        band = 3 * 24 + 2 * 26  # labels and room for the arrows
        cell = max(2, min(top.w // wide, (top.h - band) // max(1, tall), 32))
        spare = top.h - band - tall * cell
        y = top.y + 22 + spare // 4
        cx = top.centerx
        self.out.place(cx - self.out.cols * cell // 2, y, cell)
        y = self.out.rect.bottom + 26 + 22 + spare // 4
        self.hid.place(cx - self.hid.cols * cell // 2, y, cell)
        y = self.hid.rect.bottom + 26 + 22 + spare // 4
        wbot = (self.inp.cols + self.ctx.cols + gap_cells) * cell
        x0 = cx - wbot // 2
        self.inp.place(x0, y, cell)
        self.ctx.place(x0 + (self.inp.cols + gap_cells) * cell, y, cell)

    def draw_extra(self, surf, fonts, trial):
        col = W.FAINT
        h, o, i, c = self.hid.rect, self.out.rect, self.inp.rect, self.ctx.rect
        arrow(surf, col, (i.centerx, i.top - 20), (min(max(i.centerx, h.left + 6), h.right - 6), h.bottom + 4), 2)
        arrow(surf, col, (c.centerx, c.top - 20), (min(max(c.centerx, h.left + 6), h.right - 6), h.bottom + 4), 2)
        arrow(surf, col, (h.centerx, h.top - 20), (o.centerx, o.bottom + 4), 2)
        # the recurrent copy: hidden -> context (Elman) or output -> context (Jordan)
        src = h if self.kind == "elman" else o
        xr = max(h.right, o.right, c.right) + 40
        pts = [(src.right + 4, src.centery), (xr, src.centery), (xr, c.centery)]
        pygame.draw.lines(surf, W.ACCENT, False, pts, 2)
        arrow(surf, W.ACCENT, (xr, c.centery), (c.right + 4, c.centery), 2)
        mu = getattr(getattr(self.model, "cfg", None), "mu", None)
        lab = "copy (w = 1)" if self.kind == "elman" else (f"y + {mu:g} c" if mu is not None else "y + mu c")
        fonts.text(surf, lab, (xr + 6, (src.centery + c.centery) // 2), 16, W.ACCENT, anchor="midleft")
        self.draw_strip(surf, fonts, trial)
        self.draw_grad_flow(surf, fonts, trial)

    # ----- gradient flow (BPTT): |dL/dh_{t-k}| vs lag k --------------------------------------------
    GRAD_LAG = 30  # largest lag when the scenario has no [analysis] max_lag

    def grad_flow(self, trial: int) -> dict | None:
        """The gradient-flow panel's data for ``trial``, computed at most once per (tick, trial).

        Uses :mod:`recurnet_sim.analysis.gradflow` as the run summary does: ``grad_norm_vs_lag``
        over the first ``max(K + 1, min(T, 4K))`` steps of the trial's task input (K =
        ``[analysis] max_lag``, else 30, at most T - 1), L = a fixed unit-vector readout of the last
        hidden state, and ``spectral_radius(recurrent_matrix(...))``.

        Returns
        -------
        dict or None
            ``lags`` (K+1,), ``norm`` (K+1,) normalised to lag 0, ``raw`` (K+1,) the unnormalised
            norms, ``radius`` (spectral radius of the recurrent matrix), ``rate`` (geometric mean
            ratio per step back), ``window`` (steps run), ``error`` (a message when unavailable).
        """
        m = self.model
        # What the curve depends on: the trial and the weights (they change only with an epoch);
        # in run/free mode ticks pass without any change, so the tick is not part of the key.
        key = (trial, getattr(m, "epoch_", None), id(getattr(m, "params_", None)))
        if key == self._gf_key:
            return self._gf
        self._gf_key = key
        self.gf_computations += 1
        radius = float("nan")
        try:
            from ..analysis import gradflow

            cfg = m.cfg
            params = getattr(m, "params_", None) or getattr(m, "params")
            p1 = {k: np.asarray(v)[trial: trial + 1] for k, v in params.items()}
            radius = float(gradflow.spectral_radius(gradflow.recurrent_matrix(cfg, p1))[0])
            X = np.asarray(m.task.inputs)[trial: trial + 1]
            T = X.shape[1]
            an = getattr(m, "analysis", None) or {}
            K = min(int(an.get("max_lag") or self.GRAD_LAG), T - 1)
            if K < 1:
                self._gf = {"radius": radius, "error": f"task sequence too short ({T} steps)"}
                return self._gf
            win = max(K + 1, min(T, 4 * K))
            # teacher forcing feeds the targets back, so the forward pass needs them (L = that
            # step's loss); otherwise L is a fixed readout of the last state, as in the summary
            D = np.asarray(m.task.targets)[trial: trial + 1, :win] if getattr(cfg, "teacher_forcing", False) else None
            raw = gradflow.grad_norm_vs_lag(cfg, p1, X[:, :win], K, D=D)[0]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                norm = raw / raw[0] if raw[0] > 0 else np.full_like(raw, np.nan)
                rate = float(np.exp(np.log(max(norm[-1], 1e-300)) / K)) if np.isfinite(norm[-1]) else float("nan")
            self._gf = {"lags": np.arange(K + 1), "norm": norm, "raw": raw, "radius": radius, "rate": rate,
                        "window": win, "error": None}
        except Exception as exc:  # the viewer never raises for an analysis it cannot do
            self._gf = {"radius": radius, "error": f"gradient flow unavailable: {exc}"}
        return self._gf

    def draw_grad_flow(self, surf, fonts, trial):
        r = self.grad_rect
        if r.w < 120 or r.h < 100:
            return
        d = self.grad_flow(trial)
        elman = self.kind == "elman"
        st = "h" if elman else "c"
        rho = "ρ(W_hh)" if elman else "ρ(μI + W_hy W_ch)"
        lines = [(f"{rho} = {d['radius']:.3g}", W.ACCENT)]
        rate = d.get("rate", float("nan"))
        if d.get("error") is None and np.isfinite(rate):
            what, col = (("vanishing", W.ENERGY) if rate < 0.98 else ("exploding", W.WARN) if rate > 1.02
                         else ("stable", W.GOOD))
            lines.append((f"×{rate:.3g}/step back: {what}", col))
        W.log_plot(surf, r, fonts, f"BPTT: |dL/d{st}(t-k)| / |dL/d{st}(t)|", d.get("lags", ()),
                   d.get("norm", ()), W.TEMP, xlabel="lag k (steps back)", ylabel="norm (log)",
                   lines=lines, note=d.get("error"))

    def strip_data(self, trial) -> tuple[np.ndarray, str]:
        """(T, H) hidden activations for the strip and its caption."""
        m = self.model
        if getattr(m, "mode", "") == "train":
            tr = getattr(m, "hidden_trace_", None)
            if tr is not None and tr.ndim == 3 and tr.shape[1] > 0:
                return tr[trial], f"hidden activations over the task sequence, last epoch ({tr.shape[1]} steps)"
        hist = self.history
        if hist:
            return np.stack([hh[trial] for hh in hist]), f"hidden activations, last {len(hist)} ticks"
        return np.zeros((0, self.hid.rows * self.hid.cols)), "hidden activations (none yet)"

    def draw_strip(self, surf, fonts, trial):
        r = self.strip_rect
        if r.w < 40 or r.h < 20:
            return
        data, caption = self.strip_data(trial)
        pygame.draw.rect(surf, W.BG, r)
        if data.shape[0] == 0:
            fonts.text(surf, caption, (r.x, r.y - 6), 17, W.DIM, anchor="bottomleft", max_width=r.w)
        T = data.shape[0]
        H = self.L["hidden"].stop - self.L["hidden"].start
        if T > 0:
            T_show = min(T, max(1, r.w // 5))  # at least 5 px per step, so single steps stay readable
            data = data[-T_show:]
            img = W.LUT_ACT[W.to_index(data, -1.0, 1.0)]  # (T, H, 3): x = time, y = unit
            small = pygame.Surface((T_show, H), 0, 24)
            pygame.surfarray.blit_array(small, img)
            cw = max(1, min(r.w // T_show, 48))
            if T_show < T:
                caption += f", the last {T_show} shown"
            fonts.text(surf, caption, (r.x, r.y - 6), 17, W.DIM, anchor="bottomleft", max_width=r.w)
            ch = max(1, r.h // H)
            big = pygame.transform.scale(small, (T_show * cw, H * ch))
            surf.blit(big, (r.x, r.y))
            pygame.draw.rect(surf, W.PANEL_EDGE, (r.x - 1, r.y - 1, T_show * cw + 2, H * ch + 2), 1)
            fonts.text(surf, "time ->", (r.x + T_show * cw, r.y + H * ch + 4), 15, W.FAINT, anchor="topright")
        fonts.text(surf, "unit", (r.x - 6, r.y), 15, W.FAINT, anchor="topright")
        fonts.text(surf, str(H), (r.x - 6, r.y + min(r.h, H * max(1, r.h // max(1, H)))), 15, W.FAINT,
                   anchor="bottomright")


def make_view(model, max_cell: int = MAX_CELL) -> StateView:
    """The drawer for ``model.network_type``."""
    fam = model.network_type
    L = layer_slices(model)
    if fam == "bam" and "x" in L and "y" in L:
        return BAMView(model, max_cell)
    if fam in ("elman", "jordan") and all(k in L for k in ("input", "context", "hidden", "output")):
        return SRNView(model, max_cell)
    return GridView(model, max_cell)


# ----- graph view ---------------------------------------------------------------------------------
def weight_matrix(model, trial: int = 0) -> np.ndarray | None:
    """Weights as a full (N, N) matrix, entry [i, j] = weight from unit j to unit i (None if unknown)."""
    N = model.n_units
    fam = model.network_type
    L = layer_slices(model)
    if fam == "bam":
        Wxy = np.asarray(model.weights, dtype=float)
        full = np.zeros((N, N))
        full[L["x"], L["y"]] = Wxy
        full[L["y"], L["x"]] = Wxy.T
        return full
    if fam in ("elman", "jordan"):
        p = model.params_
        full = np.zeros((N, N))
        full[L["hidden"], L["input"]] = p["W_xh"][trial]
        full[L["hidden"], L["context"]] = p["W_ch"][trial]
        full[L["output"], L["hidden"]] = p["W_hy"][trial]
        src = L["hidden"] if fam == "elman" else L["output"]
        n = min(src.stop - src.start, L["context"].stop - L["context"].start)
        full[np.arange(L["context"].start, L["context"].start + n), np.arange(src.start, src.start + n)] = 1.0
        return full
    for name in ("weights", "weights_", "W"):
        Wm = getattr(model, name, None)
        if Wm is None:
            continue
        Wm = np.asarray(Wm, dtype=float)
        if Wm.ndim == 3:
            Wm = Wm[min(trial, Wm.shape[0] - 1)]
        if Wm.shape == (N, N):
            return Wm
    return None


class GraphView:
    """Units as networkx-laid-out nodes, weights as coloured edges (warm = positive, blue =
    negative, brighter = stronger), node colour = state. Up to :attr:`MAX_UNITS` units."""

    MAX_UNITS = 400
    MAX_EDGES = 3000

    def __init__(self, model, trial: int = 0):
        self.model = model
        self.trial = trial
        self.N = model.n_units
        self.rect = pygame.Rect(0, 0, 0, 0)
        self.too_big = self.N > self.MAX_UNITS
        self.note = ""
        self.lo, self.hi = value_range(model)
        self._edges_surf = None
        self._xy = None
        if self.too_big:
            self.note = (f"{self.N} units: too many for the graph view (at most {self.MAX_UNITS}); "
                         "press G to go back")
            return
        Wm = weight_matrix(model, trial)
        self.W = None if Wm is None else 0.5 * (Wm + Wm.T) if np.allclose(Wm, Wm.T) else np.where(
            np.abs(Wm) >= np.abs(Wm.T), Wm, Wm.T)
        if self.W is None:
            self.note = "this model does not expose its weights"
        self.pos = self._layout_positions()
        self.hidden = set()
        L = layer_slices(model)
        if "hidden" in L:
            self.hidden = set(range(L["hidden"].start, L["hidden"].stop))

    def _layout_positions(self) -> np.ndarray:
        import networkx as nx  # only the graph view pays for the import

        N = self.N
        G = nx.Graph()
        L = layer_slices(self.model)
        order = ["input", "context", "hidden", "output", "x", "y", "visible"]
        layer_of = {}
        for k, name in enumerate(sorted(L, key=lambda n: order.index(n) if n in order else 99)):
            for u in range(L[name].start, L[name].stop):
                layer_of[u] = k
        for u in range(N):
            G.add_node(u, layer=layer_of.get(u, 0))
        if self.W is not None:
            iu, ju = np.nonzero(np.triu(self.W, 1) != 0)
            w = self.W[iu, ju]
            G.add_weighted_edges_from(zip(iu.tolist(), ju.tolist(), np.maximum(w, 0).tolist()))
        if self.model.network_type == "bam" and "x" in L and "y" in L:
            # the X picture as a grid on the left, the Y code as a column on the right
            nx_ = L["x"].stop - L["x"].start
            ny = L["y"].stop - L["y"].start
            xs = self.model.describe().get("x_shape")
            rows, cols = tuple(xs) if xs and xs[0] * xs[1] == nx_ else near_square(nx_)
            pos = {}
            for k in range(nx_):
                r, c = divmod(k, cols)
                pos[L["x"].start + k] = (0.45 * c / max(1, cols - 1), r / max(1, rows - 1))
            for k in range(ny):
                pos[L["y"].start + k] = (1.0, 0.5 if ny == 1 else 0.1 + 0.8 * k / (ny - 1))
        elif len(set(layer_of.values())) > 1:
            pos = nx.multipartite_layout(G, subset_key="layer", align="horizontal" if self.model.network_type == "bam" else "vertical")
            if self.model.network_type in ("elman", "jordan"):
                pos = {u: (p[1], p[0]) for u, p in pos.items()}  # inputs at the bottom, outputs on top
                pos = {u: (p[0], -p[1]) for u, p in pos.items()}
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
        xy -= xy.min(0)
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

    def _layer_labels(self, surf, fonts) -> None:
        """Name each layer (one row of nodes) left of its leftmost node."""
        for name, sl in layer_slices(self.model).items():
            if sl.stop <= sl.start:
                continue
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
        if m.network_type in ("elman", "jordan"):
            self._layer_labels(surf, fonts)
        shown = min(getattr(self, "n_edges", 0), self.MAX_EDGES)
        cap = f"graph view: {self.N} units, {getattr(self, 'n_edges', 0)} weights"
        if shown < getattr(self, "n_edges", 0):
            cap += f" (strongest {shown} drawn)"
        fonts.text(surf, cap, (r.x + 12, r.y + 8), 17, W.DIM, max_width=r.w - 24)
        fonts.text(surf, "edges: warm = excitatory, blue = inhibitory, brighter = stronger", (r.x + 12, r.y + 26), 15,
                   W.FAINT, max_width=r.w - 24)
        if self.note:
            fonts.text(surf, self.note, (r.centerx, r.bottom - 12), 16, W.WARN, anchor="midbottom")


# ----- attractor view (small networks) ------------------------------------------------------------
#: Up to this many units the G key also offers the attractor graph (2^N states are enumerated).
ATTRACTOR_MAX_UNITS = 16


def attractor_view_available(model) -> bool:
    return model.network_type in ("hopfield", "bam") and model.n_units <= ATTRACTOR_MAX_UNITS


class AttractorView:
    """The state-transition graph of a small network (``recurnet_sim.analysis.attractors``):
    attractors as large nodes, basin states around them, the current state highlighted."""

    def __init__(self, model, trial: int = 0, max_nodes: int = 160):
        from ..analysis.attractors import analyze_model, attractor_graph, encode_states

        self.model = model
        self.trial = trial
        self.rect = pygame.Rect(0, 0, 0, 0)
        sc = getattr(model, "schedule", "sync")
        sched = "sync" if getattr(sc, "value", sc) in ("synchronous", "sync") else "async"
        if model.network_type == "bam":
            sched = "sync"
        self.schedule = sched
        # the displayed trial's network (per-trial weights differ); the full state graph is not
        # needed here, only the small attractor graph built from the report
        self.report = analyze_model(model, sched, trial=trial, graph=False)
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
            self._xy = np.stack([area.centerx - s / 2 + p[:, 0] * s, area.centery - s / 2 + p[:, 1] * s], 1).astype(int)
        else:
            self._xy = np.zeros((0, 2), int)

    def unit_at(self, pos):
        return None  # nodes are states, not units

    def current_node(self, trial: int) -> str | None:
        st = self.model.state[trial:trial + 1]
        code = int(self._encode(st, tuple(getattr(self.model, "unit_values", (-1, 1))))[0])
        if f"s{code}" in self._index:
            return f"s{code}"
        a = self.report.attractor_of(code)
        return None if a is None else f"a{a}"

    def draw(self, surf, fonts: Fonts, trial: int) -> None:
        r = self.rect
        pygame.draw.rect(surf, W.BG, r)
        G, xy, idx = self.graph, self._xy, self._index
        palette = [W.POS, (120, 200, 255), (255, 140, 120), (150, 230, 150), (210, 160, 255), (255, 210, 90)]
        for a, b in G.edges:
            pygame.draw.aaline(surf, W.FAINT, xy[idx[a]], xy[idx[b]])
        cur = self.current_node(trial)
        for n in self.nodes:
            d = G.nodes[n]
            col = palette[int(d.get("cluster", 0)) % len(palette)]
            p = xy[idx[n]]
            if d["role"] == "attractor":
                rad = int(min(28, 6 + d.get("size", 10) * 0.5))
                pygame.draw.circle(surf, col, p, rad)
                pygame.draw.circle(surf, W.TEXT, p, rad, 1)
                fonts.text(surf, f"{d.get('label', '')}  basin {d.get('basin_size', 0)}", (p[0], p[1] + rad + 16), 15,
                           W.TEXT, anchor="midtop")
            else:
                pygame.draw.circle(surf, W.blend(W.BG, col, 0.55), p, 3)
        if cur is not None:
            p = xy[idx[cur]]
            pygame.draw.circle(surf, W.CLAMP, p, 9 if cur.startswith("s") else 32, 3)
        rep = self.report
        fonts.text(surf, f"attractor graph ({self.schedule}): {len(rep.attractors)} attractors of 2^{rep.n_units} states",
                   (r.x + 12, r.y + 8), 17, W.DIM, max_width=r.w - 24)
        fonts.text(surf, "large = attractor (size ~ basin), dots = basin states, green ring = current state; "
                   "G: back", (r.x + 12, r.y + 26), 15, W.FAINT, max_width=r.w - 24)
