"""What the live viewer draws for a BAM (Kosko 1988): the X and Y layers side by side, with the
W and W^T arrows lit for the pass that comes next."""
from __future__ import annotations

import numpy as np

from ...viewspec import Block, GraphHints, Link, OverlapBars, OverlapTracePanel, ViewLayout, near_square, unit_grid, value_legend
from .model import ASYNC, BACKWARD, FORWARD

_NEXT = {FORWARD: "next pass: X -> Y", BACKWARD: "next pass: Y -> X", ASYNC: "async sweep over X and Y"}
#: the pass just done, as read ("x<->y" is an async sweep, not an arrow to print as it is spelt)
_LAST = {FORWARD: "X -> Y", BACKWARD: "Y -> X", ASYNC: "async sweep over X and Y"}


def _header(model) -> list[str]:
    nxt, last = model.direction, model.last_direction
    lines = [_NEXT.get(nxt, f"direction {nxt}")]
    if last and not (last == ASYNC and nxt == ASYNC):  # an async run: every pass is the same sweep
        lines.append(f"last pass: {_LAST.get(last, last)}")
    return lines


def _forward(model) -> bool:
    return model.direction in (FORWARD, ASYNC)


def _backward(model) -> bool:
    return model.direction in (BACKWARD, ASYNC)


def _x_shape(model) -> tuple[int, int]:
    xs = model.describe().get("x_shape")
    return tuple(xs) if xs and xs[0] * xs[1] == model.n_x else near_square(model.n_x)


def _graph_positions(model) -> np.ndarray:
    """The X picture as a grid on the left, the Y code as a column on the right, (n_units, 2)."""
    rows, cols = _x_shape(model)
    nx_, ny = model.n_x, model.n_y
    pos = np.zeros((nx_ + ny, 2))
    r, c = np.divmod(np.arange(nx_), cols)
    pos[:nx_, 0] = 0.45 * c / max(1, cols - 1)
    pos[:nx_, 1] = r / max(1, rows - 1)
    pos[nx_:, 0] = 1.0
    pos[nx_:, 1] = 0.5 if ny == 1 else 0.1 + 0.8 * np.arange(ny) / max(1, ny - 1)
    return pos


def layout(model) -> ViewLayout:
    """The BAM view: X in its picture shape, Y as a column (a near-square grid above 16 units)."""
    L = model.layers
    nx_, ny = model.n_x, model.n_y
    yshape = (ny, 1) if ny <= 16 else near_square(ny)
    blocks = [Block("x", f"X layer ({nx_})", unit_grid(L["x"].start, nx_, _x_shape(model))),
              Block("y", f"Y layer ({ny})", unit_grid(L["y"].start, ny, yshape))]
    lo, hi = (float(v) for v in model.unit_values)
    return ViewLayout(
        blocks=blocks,
        value_range=(lo, hi),
        legend=value_legend(lo, hi),
        links=[Link("x", "y", "W", active=_forward), Link("y", "x", "W^T", active=_backward)],
        header=_header,
        bars=OverlapBars("overlap with each stored pair"),
        graph=GraphHints(groups=(("x", L["x"]), ("y", L["y"])), positions=lambda: _graph_positions(model)),
        # a pass updates a whole layer from the other: a deterministic map on (X, Y) states
        attractor_schedule=lambda m: "sync",
        # the claim: the pair the net settles into (or a spurious pair when overloaded), over passes
        main=OverlapTracePanel("overlap m with each stored pair (X and Y together)"),
    )
