"""The state space of a small bidirectional associative memory, for ``recurnet attractors`` (see
:class:`recurnet_sim.analysis.attractors.StateSpace`).

A BAM (Kosko 1988) has state (x, y) and energy ``E = -x^T W y``. Its single-unit updates are the
threshold rule on the block coupling [[0, W], [W^T, 0]] (so ``-1/2 s^T B s = -x^T W y``), and one
synchronous step is one bidirectional pass: first ``y <- f(W^T x)``, then ``x <- f(W y)`` with
the new y (f thresholds at 0 and keeps a unit whose input is exactly 0): layers (x, y) updated in
the order (y, x).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ...analysis.attractors import (AttractorReport, StateSpace, analyze, as_matrix, check_patterns, check_size,
                                    check_unit_values)
from ...errors import ValidationError

NAME = "bam"


def space_of(W, patterns_x=None, patterns_y=None, names: Sequence[str] | None = None,
             unit_values: tuple[float, float] = (-1, 1)) -> StateSpace:
    """The state space of the BAM with correlation matrix ``W`` (n_x, n_y) and stored pairs
    ``patterns_x`` (P, n_x), ``patterns_y`` (P, n_y)."""
    Wxy = as_matrix(W, "weights")
    nx_, ny_ = Wxy.shape
    n = nx_ + ny_
    check_size(n, f"n_x + n_y = {nx_} + {ny_}")
    unit_values = check_unit_values(unit_values)
    B = np.zeros((n, n))
    B[:nx_, nx_:] = Wxy
    B[nx_:, :nx_] = Wxy.T
    px = check_patterns(patterns_x, nx_, unit_values, "pairs_x")
    py = check_patterns(patterns_y, ny_, unit_values, "pairs_y")
    if (px is None) != (py is None) or (px is not None and len(px) != len(py)):
        raise ValidationError("pairs_y", "must give one y pattern for each x pattern", "attractors")
    pats = None if px is None else np.concatenate([px, py], axis=1)
    return StateSpace(NAME, B, None, unit_values, layers=(("x", nx_), ("y", ny_)), sync_order=("y", "x"),
                      patterns=pats, pattern_names=names)


def state_space(model, schedule=None, trial: int = 0) -> StateSpace:
    """The T = 0 dynamics of a BAM model (``weights`` (n_x, n_y), ``n_x``, ``n_y``, optionally
    ``pairs_x``, ``pairs_y``, ``pattern_names``, ``unit_values``); all trials share W."""
    n = int(model.n_x) + int(model.n_y)
    check_size(n, f"n_x + n_y = {model.n_x} + {model.n_y}")  # before building the block matrix
    return space_of(np.asarray(model.weights, dtype=float), getattr(model, "pairs_x", None),
                    getattr(model, "pairs_y", None), list(getattr(model, "pattern_names", []) or []) or None,
                    tuple(getattr(model, "unit_values", (-1, 1))))


def analyze_bam(
    W,
    patterns_x=None,
    patterns_y=None,
    names: Sequence[str] | None = None,
    schedule: str = "sync",
    unit_values: tuple[float, float] = (-1, 1),
    **kwargs,
) -> AttractorReport:
    """Enumerate the state space of a BAM given as arrays; the state is the pair (x, y).

    Parameters
    ----------
    W : array_like, shape (n_x, n_y)
        Correlation matrix (``sum_mu x_mu y_mu^T`` for Kosko's rule); n_x + n_y <= 20.
    patterns_x : array_like, shape (P, n_x), optional
    patterns_y : array_like, shape (P, n_y), optional
        Stored pairs; a pair is classified as one pattern (``(x_mu, y_mu)``), its reverse
        ``(-x_mu, -y_mu)``, or a mixture of pairs.
    names : sequence of str, optional
    schedule : {"sync", "async"}
        sync: one step is ``y <- f(W^T x)`` followed by ``x <- f(W y_new)``. async: one unit of
        either layer per step.
    unit_values : (lo, hi)
    **kwargs
        ``tie_tol``, ``graph``, ``reach``, ``n_samples``, ``seed`` of
        :func:`recurnet_sim.analysis.attractors.analyze`.

    Returns
    -------
    AttractorReport
        States are codes of the concatenation (x, y): x in bits 0..n_x-1. Energy ``-x^T W y``.
    """
    return analyze(space_of(W, patterns_x, patterns_y, names, unit_values), schedule, **kwargs)
