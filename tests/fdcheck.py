"""Central finite differences of per-trial losses, shared by the gradient tests of every cell."""
from __future__ import annotations

import numpy as np

EPS = 1e-6


def fd_grad(fn, p, names=None, eps: float = EPS) -> dict[str, np.ndarray]:
    """d fn(p)[b] / d p[k][b, ...] by central differences, for every entry of every parameter in
    ``names`` (default: all of ``p``); trial b's loss is differentiated by its own parameters."""
    out = {}
    for k in (p if names is None else names):
        g = np.zeros_like(p[k])
        for idx in np.ndindex(p[k].shape):
            old = p[k][idx]
            p[k][idx] = old + eps
            lp = fn(p)[idx[0]]
            p[k][idx] = old - eps
            lm = fn(p)[idx[0]]
            p[k][idx] = old
            g[idx] = (lp - lm) / (2 * eps)
        out[k] = g
    return out
