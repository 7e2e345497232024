"""Fixed and slow points of a recurrent network's autonomous dynamics, over any cell.

Sussillo & Barak (2013), "Opening the black box: low-dimensional dynamics in high-dimensional
recurrent neural networks" (*Neural Computation* 25, 626-649): hold the input fixed (usually at
zero), so that one step of the network is a map ``s -> F(s)`` of its carry ``s`` (Elman: the hidden
state; Jordan: the state units; an LSTM: its flattened (h, c)), and minimise the speed

    q(s) = 1/2 ||F(s) - s||^2,        grad q = (J - I)^T (F(s) - s),   J = dF/ds,

from many states the network visits on its trajectories (plus a little noise). Minima with q = 0
are *fixed points*; minima with q small but not zero are *slow points*, where the dynamics
nearly stop. Each point is classified by the eigenvalues of J there: *stable* when every
``|lambda| < 1`` (an attractor of the map: a memory), a *saddle* when some directions grow and some
shrink (``n_unstable`` of them grow: they route the state between attractors), *unstable* when
every direction grows, *marginal* when the largest ``|lambda|`` is 1 within ``eig_tol`` and none
exceed it (a line or ring of fixed points, or a point the linearisation cannot classify).

The minimiser is Levenberg-Marquardt on the residual r(s) = F(s) - s, run on all starts at once
(one cell step and one Jacobian per iteration for the whole batch of starts): the step solves
``((J - I)^T (J - I) + lambda I) delta = -(J - I)^T r``, which is Gauss-Newton on q near a fixed
point (quadratic convergence, to saddles as readily as to attractors, which plain gradient
descent on q reaches only slowly) and gradient descent with a small step far from one; lambda
shrinks after a step that lowered q and grows after one that did not (which is then undone).
Points closer than ``unique_tol`` are one point (FixedPointFinder's deduplication: Golub &
Sussillo 2018, *JOSS* 3(31), 1003), the one with the smallest q kept.

Like FixedPointFinder, the analysis reads a network only through a small protocol, the one
:mod:`recurnet_sim.analysis.gradflow` reads: ``net.cell`` (``n_carry``, ``carry0``, ``step``,
``jacobian``, ``input_jacobian``, ``hidden_in_carry``, ``uses_target``) and ``net.readout`` (the
output at each point). :func:`find_fixed_points_of` takes any map given as a function, for maps
that are not networks (and the tests' linear map).

Parameters of one network carry the leading batch axis of size 1 (``W_ch`` (1, H, C)), as
everywhere in the simple recurrent family; the starts become the batch axis here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .gradflow import autonomous_step

#: the kinds of point, in the order a report lists them
KINDS = ("stable", "saddle", "unstable", "marginal")

Map = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
"""``F(S) -> (F(S), dF/dS)`` over a batch of states: (N, C) -> (N, C), (N, C, C)."""


@dataclass(frozen=True)
class FixedPoint:
    """One fixed (or slow) point of the autonomous map.

    Attributes
    ----------
    state : ndarray, shape (C,)
        The carry s* at the point.
    q : float
        ``1/2 ||F(s*) - s*||^2``.
    eigenvalues : ndarray of complex, shape (C,)
        Of ``J = dF/ds`` at s*, largest modulus first.
    n_unstable : int
        Eigenvalues with ``|lambda| > 1 + eig_tol``: the directions in which a small deviation grows.
    kind : {"stable", "saddle", "unstable", "marginal"}
    fixed : bool
        True for a fixed point (q <= ``fixed_tol``), False for a slow point.
    hidden : ndarray, shape (H,) or None
        The hidden layer the step from s* computes (what the read-out reads).
    output : ndarray, shape (O,) or None
        The network's output there.
    """

    state: np.ndarray
    q: float
    eigenvalues: np.ndarray
    n_unstable: int
    kind: str
    fixed: bool = True
    hidden: np.ndarray | None = None
    output: np.ndarray | None = None

    @property
    def stable(self) -> bool:
        return self.kind == "stable"

    @property
    def max_abs_eigenvalue(self) -> float:
        return float(np.abs(self.eigenvalues[0])) if self.eigenvalues.size else 0.0

    def to_json(self, digits: int = 6) -> dict[str, Any]:
        """Strict-JSON fields (finite floats; no NaN): q, kind, stable, n_unstable, |lambda|_max, fixed,
        and the output rounded to ``digits`` decimals (None without a read-out)."""
        out = None if self.output is None else [round(float(v), digits) for v in self.output]
        return {"q": _finite(self.q), "kind": self.kind, "stable": self.stable, "n_unstable": int(self.n_unstable),
                "max_abs_eigenvalue": _finite(self.max_abs_eigenvalue), "fixed": bool(self.fixed), "output": out}


def _finite(v: float) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


@dataclass
class FixedPointReport:
    """Everything one search found.

    Attributes
    ----------
    points : list of FixedPoint
        Fixed points first, then slow points; within each, stable, saddle, unstable, marginal,
        then by increasing q.
    n_starts : int
        Starting states optimised.
    x : ndarray, shape (I,) or None
        The input held fixed (None for a map given as a function).
    starts : ndarray, shape (n_starts, C)
        Where the optimiser started.
    """

    points: list[FixedPoint] = field(default_factory=list)
    n_starts: int = 0
    x: np.ndarray | None = None
    starts: np.ndarray | None = None

    @property
    def fixed(self) -> list[FixedPoint]:
        return [p for p in self.points if p.fixed]

    @property
    def slow(self) -> list[FixedPoint]:
        return [p for p in self.points if not p.fixed]

    def count(self, kind: str, fixed: bool = True) -> int:
        """Points of ``kind`` among the fixed points (or the slow points)."""
        return sum(p.kind == kind for p in self.points if p.fixed == fixed)

    def summary(self, max_listed: int = 16) -> dict[str, Any]:
        """The counts and a list of at most ``max_listed`` points (fixed first), strict JSON."""
        fixed = self.fixed
        return {
            "fixed_points": len(fixed),
            "fixed_points_stable": self.count("stable"),
            "fixed_points_saddle": self.count("saddle"),
            "fixed_points_unstable": self.count("unstable"),
            "fixed_points_marginal": self.count("marginal"),
            "slow_points": len(self.slow),
            "fixed_point_list": [p.to_json() for p in self.points[:max_listed]],
        }


# ======================================================================================
# The map of a network
# ======================================================================================
def _tile(params: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """One network's parameters (1, ...) repeated over ``n`` states (the cell's batch axis)."""
    return {k: np.broadcast_to(v, (n,) + v.shape[1:]) for k, v in params.items()}


def autonomous_map(net, params: dict[str, np.ndarray], x: np.ndarray | None = None, feed: str = "fixed") -> Map:
    """The carry's one-step map with the input held at ``x`` (default 0), and its Jacobian.

    Parameters
    ----------
    params : dict of ndarray, each (1, ...)
        One network.
    x : ndarray, shape (I,), optional
        The input held fixed (zeros by default: the network left alone).
    feed : {"fixed", "output"}
        ``"output"`` feeds the read-out back as the next input
        (:func:`recurnet_sim.analysis.gradflow.autonomous_step`).

    Returns
    -------
    callable
        ``F(S) -> (F(S) (N, C), J (N, C, C))`` for a batch of carries S (N, C).
    """
    x = np.zeros(net.cell.n_in) if x is None else np.asarray(x, dtype=float).reshape(-1)
    tiled: dict[int, dict[str, np.ndarray]] = {}

    def F(S: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = S.shape[0]
        if n not in tiled:
            tiled[n] = _tile(params, n)
        S_next, J, _ = autonomous_step(net, tiled[n], S, np.broadcast_to(x, (n, x.size)).copy(), feed)
        return S_next, J

    return F


def visited_states(net, params: dict[str, np.ndarray], X: np.ndarray, D: np.ndarray | None = None,
                   reset: np.ndarray | None = None) -> np.ndarray:
    """The carries one network passes through on an input sequence.

    Parameters
    ----------
    X : ndarray, shape (T, I)
    D : ndarray, shape (T, O), optional
        Targets, fed to cells that read them (teacher forcing), as in training.
    reset : ndarray of bool, shape (T,), optional
        Steps before which the carry returns to its initial value.

    Returns
    -------
    ndarray, shape (T, C)
        The carry after each step.
    """
    cell = net.cell
    c = cell.carry0(1)
    out = np.empty((X.shape[0], cell.n_carry))
    init = cell.carry0(1)
    for t in range(X.shape[0]):
        if reset is not None and reset[t]:
            c = init.copy()
        d = None if (D is None or not cell.uses_target) else D[t][None]
        c, _, _ = cell.step(params, X[t][None], c, d)
        out[t] = c[0]
    return out


# ======================================================================================
# Minimising q
# ======================================================================================
def minimise_q(F: Map, S0: np.ndarray, max_iter: int = 200, q_stop: float = 1e-24,
               lam0: float = 1e-2) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Levenberg-Marquardt on ``q(s) = 1/2 ||F(s) - s||^2`` from every row of ``S0`` at once.

    Parameters
    ----------
    F : callable
        ``F(S) -> (F(S), J)``, (N, C) -> (N, C), (N, C, C).
    S0 : ndarray, shape (N, C)
        Starting states.
    max_iter : int
        Iterations (each one evaluation of F and J on the states still moving).
    q_stop : float
        A state with q below this is done (a fixed point to machine precision).
    lam0 : float
        Initial damping.

    Returns
    -------
    S : ndarray, shape (N, C)
    q : ndarray, shape (N,)
    J : ndarray, shape (N, C, C)
        dF/ds at S.
    iterations : int
    """
    S = np.array(S0, dtype=float)
    N, C = S.shape
    eye = np.eye(C)
    FS, J = F(S)
    r = FS - S
    q = 0.5 * np.einsum("nc,nc->n", r, r)
    lam = np.full(N, float(lam0))
    moving = q > q_stop
    it = 0
    for it in range(1, max_iter + 1):
        idx = np.flatnonzero(moving)
        if idx.size == 0:
            break
        A = J[idx] - eye  # dr/ds
        At = np.swapaxes(A, 1, 2)
        g = (At @ r[idx][:, :, None])[:, :, 0]  # grad q = (J - I)^T r
        M = At @ A + lam[idx, None, None] * eye
        try:
            delta = -np.linalg.solve(M, g[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a singular system in the batch: solve one by one
            delta = -np.stack([np.linalg.lstsq(m, v, rcond=None)[0] for m, v in zip(M, g)])
        S_try = S[idx] + delta
        F_try, J_try = F(S_try)
        r_try = F_try - S_try
        q_try = 0.5 * np.einsum("nc,nc->n", r_try, r_try)
        ok = np.isfinite(q_try) & (q_try < q[idx])
        acc = idx[ok]
        S[acc], r[acc], q[acc], J[acc] = S_try[ok], r_try[ok], q_try[ok], J_try[ok]
        lam[acc] = np.maximum(lam[acc] / 3.0, 1e-12)
        rej = idx[~ok]
        lam[rej] *= 4.0
        # done: at a fixed point, or stuck (a step as small as the damping allows did not help:
        # a local minimum of q with q > 0, a slow point, or the floating-point floor)
        moving[idx] = (q[idx] > q_stop) & (lam[idx] < 1e12)
        small = np.einsum("nc,nc->n", delta, delta) < 1e-30 * (1.0 + np.einsum("nc,nc->n", S[idx], S[idx]))
        moving[idx[small & ok]] = False
    return S, q, J, it


def classify(J: np.ndarray, eig_tol: float = 1e-6) -> tuple[np.ndarray, int, str]:
    """Eigenvalues of one Jacobian J (C, C), largest modulus first; unstable directions; kind.

    ``stable``: every |lambda| < 1 - eig_tol; ``saddle``: some > 1 + eig_tol and some < 1 - eig_tol;
    ``unstable``: all > 1 + eig_tol; ``marginal``: otherwise (the largest |lambda| is 1 within
    eig_tol and none is larger, or only marginal and growing directions).
    """
    ev = np.linalg.eigvals(np.asarray(J, dtype=float))
    ev = ev[np.argsort(-np.abs(ev), kind="stable")]
    a = np.abs(ev)
    n_up = int((a > 1 + eig_tol).sum())
    n_down = int((a < 1 - eig_tol).sum())
    if n_down == a.size:
        kind = "stable"
    elif n_up == a.size:
        kind = "unstable"
    elif n_up and n_up + n_down == a.size:
        kind = "saddle"
    else:
        kind = "marginal"
    return ev, n_up, kind


def deduplicate(S: np.ndarray, q: np.ndarray, unique_tol: float = 1e-3) -> np.ndarray:
    """Indices of the distinct states, smallest q first: a state within ``unique_tol`` (Euclidean)
    of one already kept is the same point.

    Parameters
    ----------
    S : ndarray, shape (N, C)
    q : ndarray, shape (N,)

    Returns
    -------
    ndarray of int
        Into S, in increasing q.
    """
    order = np.argsort(q, kind="stable")
    kept: list[int] = []
    for i in order:
        if not kept or np.min(np.linalg.norm(S[kept] - S[i], axis=1)) > unique_tol:
            kept.append(int(i))
    return np.array(kept, dtype=int)


def find_fixed_points_of(F: Map, starts: np.ndarray, *, fixed_tol: float = 1e-12, slow_tol: float = 1e-6,
                         unique_tol: float = 1e-3, eig_tol: float = 1e-6, max_iter: int = 200,
                         describe: Callable[[np.ndarray], tuple[np.ndarray | None, np.ndarray | None]] | None = None,
                         ) -> FixedPointReport:
    """Fixed and slow points of the map ``F`` reached from ``starts``.

    Parameters
    ----------
    F : callable
        ``F(S) -> (F(S), J)``, (N, C) -> (N, C), (N, C, C).
    starts : ndarray, shape (N, C)
    fixed_tol : float
        A point with q <= fixed_tol is a fixed point (|F(s) - s| <= sqrt(2 fixed_tol)).
    slow_tol : float
        A point with fixed_tol < q <= slow_tol where the minimiser stopped is a slow point; larger
        q is dropped (the optimiser is still on its way, or the local minimum is not slow).
    unique_tol : float
        Points closer than this are one (:func:`deduplicate`).
    eig_tol : float
        How close to 1 an |eigenvalue| counts as marginal (:func:`classify`).
    describe : callable, optional
        ``describe(S (K, C)) -> (hidden (K, H), output (K, O))`` at the points found.
    """
    starts = np.asarray(starts, dtype=float)
    S, q, J, _ = minimise_q(F, starts, max_iter=max_iter)
    keep = np.flatnonzero(np.isfinite(q) & (q <= slow_tol))
    idx = keep[deduplicate(S[keep], q[keep], unique_tol)] if keep.size else keep
    hid, out = (None, None) if describe is None or idx.size == 0 else describe(S[idx])
    points = []
    for j, i in enumerate(idx):
        ev, n_up, kind = classify(J[i], eig_tol)
        points.append(FixedPoint(state=S[i].copy(), q=float(q[i]), eigenvalues=ev, n_unstable=n_up, kind=kind,
                                 fixed=bool(q[i] <= fixed_tol), hidden=None if hid is None else hid[j],
                                 output=None if out is None else out[j]))
    points.sort(key=lambda p: (not p.fixed, KINDS.index(p.kind), p.n_unstable, p.q))
    return FixedPointReport(points=points, n_starts=int(starts.shape[0]), starts=starts)


def find_fixed_points(net, params: dict[str, np.ndarray], X: np.ndarray | None = None, *,
                      x: np.ndarray | None = None, states: np.ndarray | None = None, D: np.ndarray | None = None,
                      reset: np.ndarray | None = None, n_starts: int = 128, noise: float = 0.02,
                      rng: np.random.Generator | None = None, feed: str = "fixed", **kw) -> FixedPointReport:
    """Fixed and slow points of one network's carry dynamics with the input held at ``x``.

    The starts are ``n_starts`` states drawn (without replacement when there are enough) from the
    carries the network visits on ``X`` (:func:`visited_states`), or from ``states``, each plus
    Gaussian noise of standard deviation ``noise`` (Sussillo & Barak 2013: the states a network
    uses are where its slow dynamics live).

    Parameters
    ----------
    params : dict of ndarray, each (1, ...)
    X : ndarray, shape (T, I), optional
        The input sequence whose trajectory gives the starts.
    x : ndarray, shape (I,), optional
        The input held fixed (default zeros).
    states : ndarray, shape (T, C), optional
        Candidate starts instead of a trajectory.
    D, reset : optional
        Targets (for teacher-forced cells) and context resets of ``X``.
    rng : Generator, optional
        Draws the starts and the noise (default: ``default_rng(0)``; analysis only, so a run's own
        streams are not touched).
    **kw
        :func:`find_fixed_points_of`'s tolerances and ``max_iter``.

    Returns
    -------
    FixedPointReport
        With ``x`` and each point's hidden layer and output.
    """
    cell = net.cell
    rng = np.random.default_rng(0) if rng is None else rng
    if states is None:
        if X is None:
            raise ValueError("find_fixed_points needs an input sequence X or candidate states")
        states = visited_states(net, params, np.asarray(X, dtype=float), D, reset)
    states = np.asarray(states, dtype=float).reshape(-1, cell.n_carry)
    pick = rng.choice(states.shape[0], size=n_starts, replace=states.shape[0] < n_starts)
    starts = states[pick] + noise * rng.standard_normal((n_starts, cell.n_carry))
    xf = np.zeros(cell.n_in) if x is None else np.asarray(x, dtype=float).reshape(-1)

    def describe(S):
        n = S.shape[0]
        p = _tile(params, n)
        xs = np.broadcast_to(xf, (n, xf.size)).copy()
        if feed == "output":
            xs = net.readout(p, S[:, cell.hidden_in_carry])[1]
        _, h, _ = cell.step(p, xs, S)
        return h, net.readout(p, h)[1]

    rep = find_fixed_points_of(autonomous_map(net, params, xf, feed), starts, describe=describe, **kw)
    rep.x = xf
    return rep


# ======================================================================================
# The projection the viewer draws
# ======================================================================================
def pca(states: np.ndarray, k: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Principal axes of ``states`` (T, C): (mean (C,), axes (k, C), explained variance ratio (k,)).

    Fewer than k axes (a constant trajectory, or C < k) are padded with zero axes."""
    S = np.asarray(states, dtype=float)
    mu = S.mean(axis=0)
    _, sv, Vt = np.linalg.svd(S - mu, full_matrices=False)
    var = sv ** 2
    tot = var.sum()
    axes = np.zeros((k, S.shape[1]))
    ratio = np.zeros(k)
    m = min(k, Vt.shape[0])
    axes[:m] = Vt[:m]
    if tot > 0:
        ratio[:m] = var[:m] / tot
    # a fixed sign per axis (largest component positive), so the picture does not flip between runs
    for j in range(m):
        if axes[j, np.argmax(np.abs(axes[j]))] < 0:
            axes[j] = -axes[j]
    return mu, axes, ratio


__all__ = ["KINDS", "FixedPoint", "FixedPointReport", "autonomous_map", "visited_states", "minimise_q", "classify",
           "deduplicate", "find_fixed_points_of", "find_fixed_points", "pca"]
