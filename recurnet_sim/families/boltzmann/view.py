"""What the live viewer draws for a Boltzmann machine (Ackley, Hinton & Sejnowski 1985): the
visible units in the pattern shape (the encoder's two groups V1 and V2 as one row each) and the
hidden units beside them in their own colours, since their code is not a pattern."""
from __future__ import annotations

import math

from ...viewspec import Block, GraphHints, LegendItem, ViewLayout, near_square, unit_grid, value_legend


def layout(model) -> ViewLayout:
    """The Boltzmann view: a visible block and, when the machine has hidden units, a hidden block
    with as many rows as the visible one."""
    d = model.describe()
    nv, N = len(model.visible), model.n_units
    nh = N - nv
    g = d.get("grid_shape")
    shape = tuple(int(x) for x in g) if g else None
    encoder = model.topology == "encoder"
    if shape and shape[0] * shape[1] == nv:
        vshape = shape
    elif encoder and nv % 2 == 0:
        vshape = (2, nv // 2)  # the two visible groups V1 and V2, one row each
    elif nv <= 16:
        vshape = (1, nv)
    else:
        vshape = near_square(nv)
    label = f"visible: V1 (top row), V2 ({nv} units)" if encoder else f"visible ({nv} units)"
    blocks = [Block("visible", label, unit_grid(0, nv, vshape))]
    lo, hi = (float(v) for v in model.unit_values)
    legend = value_legend(lo, hi)
    if nh > 0:
        rows = min(nh, vshape[0])
        hshape = (rows, math.ceil(nh / rows))
        blocks.append(Block("hidden", f"hidden ({nh})", unit_grid(nv, nh, hshape), palette="hidden"))
        legend.append(LegendItem("hidden on/off", ("hidden_on", "hidden_off"), side="right"))
    return ViewLayout(
        blocks=blocks,
        value_range=(lo, hi),
        legend=legend,
        # the graph view: hidden units in a column on the left, the visible ones on the right
        graph=GraphHints(groups=(("hidden", slice(nv, N)), ("visible", slice(0, nv))), ring=("hidden",)),
    )
