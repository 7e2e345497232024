"""The state space of a small Hopfield network, for ``recurnet attractors`` (see
:class:`recurnet_sim.analysis.attractors.StateSpace`).

A Hopfield network (Hopfield 1982) is the single-layer case: couplings W, thresholds theta, one
synchronous step updates every unit at once (Little 1974), energy ``-1/2 s^T W s + theta^T s``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from ...analysis.attractors import AttractorReport, StateSpace, analyze, check_size
from ...errors import SimulationError

NAME = "hopfield"


def state_space(model, schedule=None, trial: int = 0) -> StateSpace:
    """The T = 0 dynamics of trial ``trial``'s network.

    Parameters
    ----------
    model : HopfieldModel (or any object with ``weights`` (N, N) or (B, N, N), and optionally
        ``thresholds`` (N,) or (B, N), ``unit_values``, ``patterns`` (P, N) or (B, P, N),
        ``pattern_names``)
    schedule : ignored (every schedule of a Hopfield net runs on the same couplings)
    trial : int
        Which trial's network, when the model holds one network per trial.
    """
    W = np.asarray(model.weights, dtype=float)
    n = int(W.shape[-1])
    check_size(n)  # before any per-trial slicing of a large network
    theta = getattr(model, "thresholds", None)
    pats = getattr(model, "patterns", None)
    if W.ndim == 3:  # one network per trial
        if not 0 <= trial < W.shape[0]:
            raise SimulationError(f"trial {trial} does not exist ({W.shape[0]} per-trial networks)")
        W = W[trial]
    if theta is not None and np.ndim(theta) == 2:
        theta = np.asarray(theta)[trial]
    if pats is not None and np.ndim(pats) == 3:
        pats = np.asarray(pats)[trial]
    return StateSpace(
        name=NAME,
        coupling=W,
        thresholds=theta,
        unit_values=tuple(getattr(model, "unit_values", (-1, 1))),
        patterns=pats,
        pattern_names=list(getattr(model, "pattern_names", []) or []) or None,
    )


def analyze_network(
    W,
    theta=None,
    unit_values: tuple[float, float] = (-1, 1),
    schedule: str = "sync",
    patterns=None,
    names: Sequence[str] | None = None,
    energy_fn: Callable[[np.ndarray], np.ndarray] | None = None,
    **kwargs,
) -> AttractorReport:
    """Enumerate the state space of a single-layer threshold network given as arrays.

    Parameters
    ----------
    W : array_like, shape (N, N)
        Couplings, ``h = W s``. May be asymmetric, diluted (zeros) or have a diagonal. N <= 20.
    theta : array_like, shape (N,), optional
        Thresholds (default 0).
    unit_values : (lo, hi)
        ``(-1, 1)`` or ``(0, 1)`` (any two distinct values).
    schedule : {"sync", "async"}
        Also accepted: "synchronous", "asynchronous", "sequential", "random".
    patterns : array_like, shape (P, N), optional
        Stored patterns in unit values, for the classification.
    names : sequence of str, optional
        Pattern names (default ``P1..PP``).
    energy_fn : callable, optional
        ``energy_fn(states (k, N)) -> (k,)``; default ``-1/2 s^T W s + theta^T s``.
    **kwargs
        ``tie_tol``, ``graph``, ``reach``, ``n_samples``, ``seed`` of
        :func:`recurnet_sim.analysis.attractors.analyze`.

    Returns
    -------
    AttractorReport
    """
    space = StateSpace(NAME, W, theta, unit_values, patterns=patterns, pattern_names=names, energy=energy_fn)
    return analyze(space, schedule, **kwargs)
