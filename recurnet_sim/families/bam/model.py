"""Bidirectional associative memory (Kosko 1988, "Bidirectional associative memories",
IEEE Trans. Systems, Man and Cybernetics 18(1):49-60).

Two layers of bipolar units, X (n_x units) and Y (n_y units), joined by one weight matrix used in
both directions. P pairs (x_k, y_k) are stored by the correlation (outer-product) rule::

    W = sum_k x_k y_k^T                      shape (n_x, n_y), integer-valued

Recall is a sequence of *passes*. A forward pass ``x->y`` sets ``y <- sign(W^T x)``, a backward
pass ``y->x`` sets ``x <- sign(W y)``; a unit whose net input is exactly 0 keeps its state. The
energy ``E(x, y) = -x^T W y`` never increases along passes (Kosko's Theorem 1), so the passes end
on a *stable pair*, ideally the stored pair nearest the cue. In the asynchronous variant (Kosko
also proves this stable) a tick is one sweep of single-unit updates over both layers in a random
order; since X units are connected only to Y units, every flip lowers E.

Layout of ``state`` (batch, n_x + n_y): the X layer first, then Y (``layers = {"x": slice, "y":
slice}``). One engine tick = one pass (synchronous schedule) or one asynchronous sweep.

Scenario tables: ``network`` (schedule, weights_file), ``pairs`` (which pairs to store),
``initial`` (which side is cued, noise) — see :func:`scenario_tables`.
"""
from __future__ import annotations

import pathlib
from typing import Any, Sequence

import numpy as np

from ...npzio import read_npz, write_npz
from ...errors import SimulationError, TraceFileError, ValidationError
from ...spec import Field, Table
from ...model import Model, UnitUpdate

__all__ = ["BAM", "ascii_codes", "hebbian_weights", "scenario_tables", "build", "summary",
           "save_weights", "load_weights"]

FORWARD = "x->y"
BACKWARD = "y->x"
ASYNC = "x<->y"


def hebbian_weights(pairs_x: np.ndarray, pairs_y: np.ndarray) -> np.ndarray:
    """Kosko's correlation matrix ``W = sum_k x_k y_k^T``.

    Parameters
    ----------
    pairs_x : ndarray, shape (P, n_x), values +-1
    pairs_y : ndarray, shape (P, n_y), values +-1

    Returns
    -------
    ndarray, shape (n_x, n_y), float64 holding integers (so net inputs and ties are exact).
    """
    px = np.asarray(pairs_x, dtype=np.int64)
    py = np.asarray(pairs_y, dtype=np.int64)
    return (px.T @ py).astype(np.float64)


def ascii_codes(names: Sequence[str], bits: int = 7) -> np.ndarray:
    """Bipolar ``bits``-bit codes of single characters, most significant bit first.

    ``ascii_codes(["A"])`` is the code of 0x41 = 1000001 -> ``[+1, -1, -1, -1, -1, -1, +1]``.

    Returns
    -------
    ndarray, shape (len(names), bits), int8
    """
    out = np.empty((len(names), bits), dtype=np.int8)
    for k, name in enumerate(names):
        if len(name) != 1 or ord(name) >= 2 ** bits:
            raise ValueError(f"ascii_codes: {name!r} is not a single {bits}-bit character")
        c = ord(name)
        out[k] = [1 if (c >> (bits - 1 - i)) & 1 else -1 for i in range(bits)]
    return out


def _sign_keep(h: np.ndarray, old: np.ndarray) -> np.ndarray:
    # Kosko 1988: a neuron keeps its state when its net input is exactly zero.
    return np.where(h > 0, 1.0, np.where(h < 0, -1.0, old))


class BAM(Model):
    """A bidirectional associative memory with a batch of B independent trials.

    Parameters
    ----------
    pairs_x : ndarray, shape (P, n_x), values +-1
        Stored X patterns.
    pairs_y : ndarray, shape (P, n_y), values +-1
        Stored Y patterns (pair k is ``(pairs_x[k], pairs_y[k])``).
    names : sequence of str, optional
        Pair names (default ``"1".."P"``).
    weights : ndarray, shape (n_x, n_y), optional
        Use these weights instead of the correlation matrix of the pairs (e.g. loaded from a file).
    schedule : {"synchronous", "random"}
        ``synchronous``: a tick is one whole-layer pass, alternating ``x->y`` and ``y->x``.
        ``random``: a tick is one asynchronous sweep over all n_x + n_y units in a random order
        drawn from each trial's own generator.
    batch_size : int

    Attributes
    ----------
    weights : ndarray, shape (n_x, n_y)
    state : ndarray, shape (batch, n_x + n_y), float64, X then Y
    layers : dict, ``{"x": slice(0, n_x), "y": slice(n_x, n_x + n_y)}``
    direction : str
        Direction of the *next* pass: ``"x->y"`` (Y is updated from X) or ``"y->x"``; ``"x<->y"``
        for the asynchronous schedule (both layers, unit by unit).
    last_direction : str or None
        Direction of the pass the last tick made (None before the first tick).
    patterns : ndarray, shape (P, n_x + n_y)
        Each stored pair as one concatenated state (so ``load_pattern(k)`` loads pair k).
    """

    network_type = "bam"
    energy_formula = "E = -x^T W y"
    energy_label = "energy"
    unit_values = (-1.0, 1.0)
    temperature = 0.0

    def __init__(self, pairs_x, pairs_y, *, names=None, weights=None, schedule: str = "synchronous",
                 batch_size: int = 1, kernel: str | None = None):
        px = np.asarray(pairs_x)
        py = np.asarray(pairs_y)
        if px.ndim != 2 or py.ndim != 2 or px.shape[0] != py.shape[0]:
            raise ValueError(f"BAM: pairs_x (P, n_x) and pairs_y (P, n_y) must have the same P, got "
                             f"{px.shape} and {py.shape}")
        for what, p in (("pairs_x", px), ("pairs_y", py)):
            if p.size and not np.isin(p, (-1, 1)).all():
                raise ValueError(f"BAM: {what} must hold only -1 and +1")
        if schedule not in ("synchronous", "random"):
            raise ValueError(f"BAM: schedule must be 'synchronous' or 'random', got {schedule!r}")
        self.pairs_x = px.astype(np.int8)
        self.pairs_y = py.astype(np.int8)
        self.n_x = px.shape[1]
        self.n_y = py.shape[1]
        P = px.shape[0]
        self.pattern_names = list(names) if names is not None else [str(k + 1) for k in range(P)]
        if len(self.pattern_names) != P:
            raise ValueError(f"BAM: {len(self.pattern_names)} names for {P} pairs")
        if weights is None:
            weights = hebbian_weights(self.pairs_x, self.pairs_y)
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (self.n_x, self.n_y):
            raise ValueError(f"BAM: weights must have shape ({self.n_x}, {self.n_y}), got {weights.shape}")
        problem = weights_overflow(weights)
        if problem:
            raise SimulationError(f"BAM: weights {problem}")
        self.weights = weights
        self.schedule = schedule
        self.layers = {"x": slice(0, self.n_x), "y": slice(self.n_x, self.n_x + self.n_y)}
        self.patterns = np.concatenate([self.pairs_x, self.pairs_y], axis=1).astype(np.float64)
        n = self.n_x + self.n_y
        self.state = np.ones((batch_size, n))
        self.clamped = np.zeros((batch_size, n), dtype=bool)
        self.direction = ASYNC if schedule == "random" else FORWARD
        self.last_direction: str | None = None
        # Trials whose state was set from outside since their last pass: their first pass must
        # also check the source layer before a zero-change pass may count as a stable pair.
        self._fresh = np.ones(batch_size, dtype=bool)
        # Symmetric block matrix [[0, W], [W^T, 0]], used by the asynchronous sweep.
        self._full = np.zeros((n, n))
        self._full[: self.n_x, self.n_x:] = weights
        self._full[self.n_x:, : self.n_x] = weights.T
        from ...kernels import requested
        # compiled asynchronous sweep (dynamics.kernel): it sums each net input in index order, the
        # same bits as numpy's only when every partial sum is exact, i.e. integer weights (Hebb)
        # whose row sums stay below 2**53; other weights keep the numpy sweep
        self.kernel = requested(kernel)
        self._exact = bool(np.all(weights == np.rint(weights))
                           and np.abs(self._full).sum(axis=1).max(initial=0.0) < 2.0**53)
        self._visits: dict[int, list] = {}

    # ----- views -------------------------------------------------------------------------------
    @property
    def x(self) -> np.ndarray:
        """X layer, shape (batch, n_x) (a view)."""
        return self.state[:, : self.n_x]

    @property
    def y(self) -> np.ndarray:
        """Y layer, shape (batch, n_y) (a view)."""
        return self.state[:, self.n_x:]

    @property
    def update_rule(self) -> str:
        return self.schedule

    @property
    def deterministic(self) -> bool:
        return self.schedule == "synchronous"

    @property
    def settles(self) -> bool:
        # No temperature: a sweep (in any order) or a pass that changes nothing is a stable pair.
        return True

    @property
    def sweep_size(self) -> int:
        return self.n_y if self.direction == FORWARD else self.n_x if self.direction == BACKWARD else self.n_units

    # ----- cue ---------------------------------------------------------------------------------
    def cue(self, side: str, pairs: Sequence[int] | int, noise: float, rngs: Sequence[np.random.Generator],
            other: str = "random") -> None:
        """Set every trial to a (noisy) cue on one side.

        Parameters
        ----------
        side : {"x", "y"}
            The layer given the cue; the first pass goes from it to the other layer.
        pairs : int or sequence of int, length batch
            Pair index cued in each trial.
        noise : float
            Fraction of the cue's units flipped (exactly ``round(noise * n)`` per trial).
        rngs : list of Generator, one per trial
            Trial b draws its noise (and its random other layer) from ``rngs[b]`` only.
        other : {"random", "zeros"}
            The uncued layer: random +-1, or 0 ("unknown": it then contributes nothing to the
            net input until it is updated, which keeps an asynchronous sweep from erasing the cue).
        """
        from ...patterns import flip_fraction

        B = self.batch_size
        idx = np.broadcast_to(np.asarray(pairs, dtype=int), (B,))
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.pattern_names)):
            raise SimulationError(f"pair index out of range 0..{len(self.pattern_names) - 1}")
        src = self.pairs_x if side == "x" else self.pairs_y
        dst = self.layers["y" if side == "x" else "x"]
        n_dst = dst.stop - dst.start
        new = np.zeros_like(self.state)
        for b in range(B):
            new[b, self.layers[side]] = flip_fraction(src[idx[b]], noise, rngs[b])
            if other == "random":
                new[b, dst] = np.where(rngs[b].random(n_dst) < 0.5, 1.0, -1.0)
        self.set_state(new)
        if self.schedule == "synchronous":
            self.direction = FORWARD if side == "x" else BACKWARD

    # ----- dynamics ----------------------------------------------------------------------------
    def step(self, rngs: Sequence[np.random.Generator], active: np.ndarray) -> np.ndarray:
        """One tick: a synchronous pass in ``self.direction`` or one asynchronous sweep.

        Returns
        -------
        ndarray, shape (batch,)
            Units changed by this tick. On the first pass after the state was set from outside,
            units of the *source* layer that disagree with ``sign`` of their net input from the new
            target layer are added, so that 0 always means the trial sits on a stable pair.
        """
        active = np.asarray(active, dtype=bool)
        if self.trace_units:
            self._visits = {}
        if self.schedule == "random":
            flips = self._async_sweep(rngs, active)
        else:
            flips = self._pass(active)
        self._fresh[active] = False
        return flips

    def _pass(self, active: np.ndarray) -> np.ndarray:
        forward = self.direction == FORWARD
        tgt = self.layers["y" if forward else "x"]
        old = self.state[:, tgt]
        h = self.x @ self.weights if forward else self.y @ self.weights.T
        new = _sign_keep(h, old)
        keep = ~active[:, None] | self.clamped[:, tgt]
        new = np.where(keep, old, new)
        flips = np.count_nonzero(new != old, axis=1)
        self.state[:, tgt] = new
        fresh = self._fresh & active
        if fresh.any():
            src = self.layers["x" if forward else "y"]
            s_old = self.state[:, src]
            hs = self.y @ self.weights.T if forward else self.x @ self.weights
            s_new = np.where(self.clamped[:, src], s_old, _sign_keep(hs, s_old))
            flips = flips + np.where(fresh, np.count_nonzero(s_new != s_old, axis=1), 0)
        self.last_direction = self.direction
        self.direction = BACKWARD if forward else FORWARD
        return flips

    def _async_sweep(self, rngs, active: np.ndarray) -> np.ndarray:
        B, n = self.state.shape
        flips = np.zeros(B, dtype=int)
        rows = np.flatnonzero(active)
        if rows.size == 0:
            return flips
        # One random order per trial, from that trial's generator only.
        order = np.stack([rngs[b].permutation(n) for b in rows])
        if self.trace_units:
            flips[rows] = self._async_traced(rows, order)
        elif self._exact and self._compiled():  # (numba once the process has run long enough: kernels.py)
            from ..hopfield import sweeps
            out = np.zeros(rows.size, dtype=np.int64)
            sweeps.pick("bam_async_sweep", rows.size)(rows.astype(np.int64), self.state, self._full, self.clamped,
                                   order.astype(np.int64), out)
            flips[rows] = out
        else:
            from ...kernels import numpy_clock
            with numpy_clock(self.kernel == "compiled" and self._exact):
                flips[rows] = self._async_numpy(rows, order)
        self.last_direction = ASYNC
        return flips

    def _compiled(self) -> bool:
        from ...kernels import use_compiled
        return use_compiled(self)

    def _async_numpy(self, rows: np.ndarray, order: np.ndarray) -> np.ndarray:
        """The reference sweep: visit t updates unit order[:, t] of every trial at once."""
        flips = np.zeros(rows.size, dtype=int)
        n = order.shape[1]
        s = self.state[rows]
        clamped = self.clamped[rows]
        ar = np.arange(rows.size)
        for t in range(n):
            u = order[:, t]
            h = np.einsum("bj,bj->b", self._full[u], s)
            old = s[ar, u]
            new = np.where(clamped[ar, u], old, _sign_keep(h, old))
            flips += new != old
            s[ar, u] = new
        self.state[rows] = s
        return flips

    def _async_traced(self, rows: np.ndarray, order: np.ndarray) -> np.ndarray:
        """:meth:`_async_numpy` one trial and one unit at a time, recording every visit (field,
        before, after, delta_energy) for :meth:`unit_updates`; the same net inputs (the same
        einsum over the same state), so the same states."""
        flips = np.zeros(rows.size, dtype=int)
        for r, b in enumerate(rows):
            s = self.state[b:b + 1]
            visits = []
            e = float(self._energy_rows(slice(b, b + 1))[0])
            for t in range(order.shape[1]):
                u = int(order[r, t])
                h = np.einsum("bj,bj->b", self._full[[u]], s)
                old = s[:, u].copy()
                new = np.where(self.clamped[b:b + 1, u], old, _sign_keep(h, old))
                de = 0.0
                if new[0] != old[0]:
                    s[0, u] = new[0]
                    flips[r] += 1
                    e2 = float(self._energy_rows(slice(b, b + 1))[0])
                    de, e = e2 - e, e2
                visits.append(UnitUpdate(u, float(old[0]), float(new[0]), float(h[0]), de))
            self._visits[int(b)] = visits
        return flips

    def unit_updates(self, trial: int = 0) -> tuple[UnitUpdate, ...]:
        """Every unit visit of trial ``trial``'s last asynchronous sweep, in order, while
        ``trace_units`` was set (visits that change nothing too); empty for a synchronous pass."""
        return tuple(self._visits.get(int(trial), ()))

    @property
    def tick_unit(self) -> str:
        # synchronous: a tick is one pass (one layer from the other); random: one sweep of both
        return "sweep" if self.schedule == "random" else "pass"

    def weight_matrix(self, trial: int = 0) -> np.ndarray:
        """The block matrix [[0, W], [W^T, 0]] over (X, Y), shape (n_x + n_y, n_x + n_y)."""
        n = self.n_x + self.n_y
        full = np.zeros((n, n))
        full[: self.n_x, self.n_x:] = self.weights
        full[self.n_x:, : self.n_x] = self.weights.T
        return full

    def energy(self) -> np.ndarray:
        """Kosko's energy ``E = -x^T W y`` of each trial, shape (batch,)."""
        return self._energy_rows(slice(None))

    def _energy_rows(self, rows) -> np.ndarray:
        return -np.einsum("bi,ij,bj->b", self.x[rows], self.weights, self.y[rows])

    def is_stable(self, rows=slice(None)) -> np.ndarray:
        """Whether each trial (of ``rows``) is a stable pair: ``y = sign(W^T x)`` and
        ``x = sign(W y)`` with ties keeping the state and clamped units left alone, shape (batch,)."""
        x, y = self.x[rows], self.y[rows]
        ny = _sign_keep(x @ self.weights, y)
        nx = _sign_keep(y @ self.weights.T, x)
        cx, cy = self.clamped[rows, self.layers["x"]], self.clamped[rows, self.layers["y"]]
        return (((nx == x) | cx).all(axis=1)) & (((ny == y) | cy).all(axis=1))

    # ----- overlaps ----------------------------------------------------------------------------
    def overlaps_x(self, rows=slice(None)) -> np.ndarray:
        """``m_k = x_k . x / n_x`` for every stored pair, shape (batch, P) (or of ``rows``)."""
        return self.x[rows] @ self.pairs_x.T.astype(float) / self.n_x

    def overlaps_y(self, rows=slice(None)) -> np.ndarray:
        """``m_k = y_k . y / n_y`` for every stored pair, shape (batch, P) (or of ``rows``)."""
        return self.y[rows] @ self.pairs_y.T.astype(float) / self.n_y

    def overlaps(self) -> np.ndarray:
        """Mean of the X and Y overlaps with every stored pair, shape (batch, P).

        The plain mean (not weighted by layer size) so a 7-unit code counts as much as a
        120-pixel letter: 1 means the trial holds pair k exactly on both sides.
        """
        return 0.5 * (self.overlaps_x() + self.overlaps_y())

    def outcome(self, trial: int = 0) -> dict[str, Any]:
        """The letter layer classified, the code layer decoded (:func:`.outcome.bam_outcome`)."""
        from .outcome import bam_outcome
        return bam_outcome(self, trial)

    def recalled_pairs(self) -> list[dict[str, Any]]:
        """Per trial: the best pair on each side and whether both sides agree on it."""
        mx, my = self.overlaps_x(), self.overlaps_y()
        return [self._pair_recalled(mx[b], my[b]) for b in range(self.batch_size)]

    def _pair_recalled(self, mx: np.ndarray, my: np.ndarray) -> dict[str, Any]:
        kx, ky = int(np.argmax(mx)), int(np.argmax(my))
        exact = bool(mx[kx] == 1.0 and my[ky] == 1.0 and kx == ky)
        return {"x": self.pattern_names[kx], "y": self.pattern_names[ky], "exact": exact}

    # ----- bookkeeping -------------------------------------------------------------------------
    def _state_changed(self, rows) -> None:
        self._fresh[rows] = True

    def snapshot(self) -> dict[str, Any]:
        snap = super().snapshot()
        snap.update(direction=self.direction, last_direction=self.last_direction, fresh=self._fresh.copy())
        return snap

    def restore(self, snap: dict[str, Any]) -> None:
        super().restore(snap)
        self.direction = snap["direction"]
        self.last_direction = snap["last_direction"]
        self._fresh[...] = snap["fresh"]

    def describe(self) -> dict[str, Any]:
        return {
            "network_type": self.network_type,
            "n_units": self.n_units,
            "n_x": self.n_x,
            "n_y": self.n_y,
            "layers": dict(self.layers),
            "schedule": self.schedule,
            "direction": self.direction,
            "n_pairs": len(self.pattern_names),
            "load": len(self.pattern_names) / max(1, min(self.n_x, self.n_y)),
            "x_shape": getattr(self, "x_shape", None),
        }


# ----- weights files -------------------------------------------------------------------------------
_MAGIC = "recurnet_sim.bam.v1"


def save_weights(path, model: BAM) -> None:
    """Save the weights and stored pairs to ``path`` (.npz, no pickles)."""
    write_npz(path, {"weights": model.weights, "pairs_x": model.pairs_x, "pairs_y": model.pairs_y,
                     "names": np.array(model.pattern_names, dtype=str)}, marker=_MAGIC)


def weights_overflow(w: np.ndarray) -> str:
    """Why ``w`` (n_x, n_y) cannot give finite fields and energies, or "" when it can.

    With +-1 units |E| = |x W y| <= sum |w_ij| and every field is at most a row's or a column's
    sum of |w_ij|, so a finite sum of |w| (below float64's largest number) keeps every field and
    energy finite; weights of 1e308 pass np.isfinite yet give an energy of -inf.
    """
    if not np.isfinite(w).all():
        return "are not all finite (NaN or infinity)"
    with np.errstate(over="ignore"):
        total = np.abs(w).sum()
    if not total < np.finfo(np.float64).max:
        return (f"overflow: sum |w| = {total:g} exceeds float64's range (largest |w| = {np.abs(w).max():.3g}), "
                "so energies and fields would be infinite; rescale them")
    return ""


def load_weights(path) -> np.ndarray:
    """Load the weight matrix of a file written by :func:`save_weights`, shape (n_x, n_y).

    Raises
    ------
    TraceFileError
        If the file is missing, truncated, not an .npz, or not a BAM weights file.
    """
    path = pathlib.Path(path)
    w = np.asarray(read_npz(path, "BAM weights", _MAGIC, required=("weights",))["weights"])
    if w.dtype.kind not in "biuf":  # complex (or text): refused, never silently truncated to its real part
        raise TraceFileError(f"{path}: weights must be real numbers, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.ndim != 2 or not np.isfinite(w).all():
        raise TraceFileError(f"{path}: weights must be a finite 2-D array, got shape {w.shape}")
    if min(w.shape) < 1:
        raise TraceFileError(f"{path}: weights of shape {w.shape} have no units on one side")
    problem = weights_overflow(w)
    if problem:
        raise TraceFileError(f"{path}: weights {problem}")
    return w


# ----- scenario interface ----------------------------------------------------------------------------
def _pairs_check(t: dict, path: str) -> list[ValidationError]:
    p = (lambda k: f"{path}.{k}" if path else k)
    errs = []
    src = t["source"]
    if src == "letters":
        if t["code"] == "random" and t["n_y"] is None:
            errs.append(ValidationError(p("n_y"), "is required when code = 'random'"))
    elif src == "random":
        for k in ("count", "n_x", "n_y"):
            if t[k] is None:
                errs.append(ValidationError(p(k), "is required when source = 'random'"))
    elif src == "inline":
        if not t["x"] or not t["y"]:
            errs.append(ValidationError(p("x" if not t["x"] else "y"), "is required when source = 'inline'"))
        elif len(t["x"]) != len(t["y"]):
            errs.append(ValidationError(p("y"), f"needs one code per x pattern ({len(t['x'])}), got {len(t['y'])}"))
        else:
            for side in ("x", "y"):
                lens = {len(s) for s in t[side]}
                if len(lens) != 1:
                    errs.append(ValidationError(p(side), "patterns must all have the same length"))
                for i, s in enumerate(t[side]):
                    if set(s) - set("+-"):
                        errs.append(ValidationError(f"{p(side)}[{i}]", f"must use only '+' and '-', got {s!r}"))
    return errs


def scenario_tables(network_type: str | None = None) -> dict[str, Field]:
    """The BAM's own top-level tables (``network``, ``pairs``, ``initial``, ``dynamics``)."""
    network = Table(
        {
            "type": Field("str", "bam", "network family", choices=("bam",)),
            "weights_file": Field("str", None, "load W (n_x, n_y) from this .npz (relative to the scenario) "
                                  "instead of the correlation matrix of the pairs", nullable=True),
        },
        doc="A bidirectional associative memory (Kosko 1988): W = sum_k x_k y_k^T.",
    )
    pairs = Table(
        {
            "source": Field("str", "letters", "where the stored pairs come from",
                            choices=("letters", "random", "inline")),
            "names": Field("list", None, "letters: which letters (default all 26); inline: pair names",
                           item=Field("str"), length=(1, None), nullable=True),
            "code": Field("str", "ascii7", "letters: the Y code of each letter (its 7-bit ASCII code, "
                          "+1 for a 1 bit; or random +-1 of n_y units)", choices=("ascii7", "random")),
            "count": Field("int", None, "random: number of pairs P", min=1, nullable=True),
            "n_x": Field("int", None, "random: units of X", min=1, max=100000, nullable=True),
            "n_y": Field("int", None, "random (or code = 'random'): units of Y", min=1, max=100000, nullable=True),
            "bias": Field("float", 0.0, "random: mean activity of the random patterns", min=-1, max=1),
            "x": Field("list", None, "inline: X patterns as strings of '+'/'-'", item=Field("str"),
                       nullable=True),
            "y": Field("list", None, "inline: Y patterns as strings of '+'/'-'", item=Field("str"),
                       nullable=True),
        },
        doc="The stored pairs (x_k, y_k). Random patterns are drawn once from the scenario seed.",
        extra_check=_pairs_check,
    )
    initial = Table(
        {
            "side": Field("str", "x", "layer given the cue; the first pass goes from it", choices=("x", "y")),
            "pair": Field("str", None, "name of the cued pair (default: trial b cues pair b mod P)",
                          nullable=True, alt=(Field("int", min=1),)),
            "noise": Field("float", 0.0, "fraction of the cue's units flipped (exactly round(noise*n))",
                           min=0, max=1),
            "other": Field("str", "random", "start of the uncued layer: random +-1, or zeros (unknown)",
                           choices=("random", "zeros")),
        },
        doc="The start of each trial: a (noisy) stored x or y.",
    )
    dynamics = Table(
        {
            "schedule": Field("str", "synchronous", "synchronous: a tick is one layer pass, alternating "
                              "x->y and y->x; random: a tick is one asynchronous sweep over both layers",
                              choices=("synchronous", "random")),
        },
        doc="BAM recall dynamics (Kosko 1988); a unit keeps its state on a zero net input.",
    )
    return {
        "network": Field("table", None, "the BAM", table=network),
        "pairs": Field("table", None, "stored pairs", table=pairs),
        "initial": Field("table", None, "the cue", table=initial),
        "dynamics": Field("table", None, "update schedule", table=dynamics),
    }


def _parse_bits(s: str) -> list[int]:
    return [1 if c == "+" else -1 for c in s]


def make_pairs(table: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, list[str], tuple | None]:
    """The stored pairs of a validated ``[pairs]`` table.

    Returns
    -------
    pairs_x : ndarray, shape (P, n_x), int8
    pairs_y : ndarray, shape (P, n_y), int8
    names : list of str
    shape : (rows, cols) of the X pictures, or None
    """
    from ... import patterns as pat

    src = table["source"]
    if src == "letters":
        ps = pat.builtin_set("letters")
        if table["names"]:
            try:
                ps = ps.select(table["names"])
            except ValueError as e:
                raise ValidationError("pairs.names", str(e).split(": ", 1)[-1]) from None
        names = list(ps.names)
        px = np.asarray(ps.patterns, dtype=np.int8)
        if table["code"] == "ascii7":
            py = ascii_codes(names)
        else:
            py = pat.random_patterns(len(names), table["n_y"], rng)
        return px, py, names, ps.shape
    if src == "random":
        P = table["count"]
        px = pat.random_patterns(P, table["n_x"], rng, table["bias"])
        py = pat.random_patterns(P, table["n_y"], rng, table["bias"])
        names = table["names"] or [str(k + 1) for k in range(P)]
        if len(names) != P:
            raise ValidationError("pairs.names", f"needs {P} names, got {len(names)}")
        return px, py, list(names), None
    px = np.array([_parse_bits(s) for s in table["x"]], dtype=np.int8)
    py = np.array([_parse_bits(s) for s in table["y"]], dtype=np.int8)
    names = table["names"] or [str(k + 1) for k in range(len(px))]
    if len(names) != len(px):
        raise ValidationError("pairs.names", f"needs {len(px)} names, got {len(names)}")
    return px, py, list(names), None


def build(cfg: dict, batch_size: int, rngs: list[np.random.Generator], base_dir: pathlib.Path,
          build_rng: np.random.Generator | None = None, first_trial: int = 0) -> BAM:
    """Build a :class:`BAM` with its cued initial state from a validated scenario config.

    Random pairs are drawn from the scenario's shared build generator (so every trial stores the
    same pairs); trial b's cue noise comes from ``rngs[b]``.
    """
    if build_rng is None:
        from ...seeding import build_rng as _shared

        build_rng = _shared((cfg.get("scenario") or {}).get("seed") or 0)
    px, py, names, shape = make_pairs(cfg["pairs"], build_rng)
    weights = None
    wf = cfg["network"].get("weights_file")
    if wf:
        wpath = pathlib.Path(wf)
        if not wpath.is_absolute():
            wpath = pathlib.Path(base_dir) / wpath
        try:  # a FIFO, a device, a foreign file: one line naming the key
            weights = load_weights(wpath)
        except TraceFileError as e:
            raise ValidationError("network.weights_file", str(e)) from None
        if weights.shape != (px.shape[1], py.shape[1]):
            raise ValidationError("network.weights_file", f"{wpath} holds weights of shape {weights.shape}, "
                                  f"the pairs need ({px.shape[1]}, {py.shape[1]})")
    model = BAM(px, py, names=names, weights=weights, schedule=cfg["dynamics"]["schedule"], batch_size=batch_size,
                kernel=cfg["dynamics"].get("kernel"))
    model.x_shape = shape
    init = cfg["initial"]
    pair = init["pair"]
    if pair is None:
        # trial t of the run (not of this batch) cues pair t mod P, so a lone replay of trial t matches
        idx = (first_trial + np.arange(batch_size)) % len(names)
    elif isinstance(pair, int):
        if pair > len(names):
            raise ValidationError("initial.pair", f"must be <= {len(names)} (the number of pairs), got {pair}")
        idx = pair - 1
    else:
        if pair not in names:
            raise ValidationError("initial.pair", f"unknown pair {pair!r}; stored: {', '.join(names)}")
        idx = names.index(pair)
    model.cue(init["side"], idx, init["noise"], rngs, other=init["other"])
    # The cued pair of each trial: the batch runner's overlap/success/recalled_kind metrics read it.
    model.target = np.broadcast_to(np.asarray(idx, dtype=int), (batch_size,)).copy()
    return model


def summary(model: BAM, b: int) -> dict:
    """Extra JSON fields of trial ``b``: overlaps on each side, the pair recalled on each side,
    whether both sides agree exactly on one stored pair, and whether the trial is a stable pair."""
    # Only trial b's row is computed: results() calls this once per trial.
    mx, my = model.overlaps_x([b])[0], model.overlaps_y([b])[0]
    rec = model._pair_recalled(mx, my)
    out = {
        "overlaps_x": np.round(mx, 6).tolist(),
        "overlaps_y": np.round(my, 6).tolist(),
        "recalled_x": rec["x"],
        "recalled_y": rec["y"],
        "exact_pair": rec["exact"],
        "stable_pair": bool(model.is_stable([b])[0]),
    }
    t = getattr(model, "target", None)
    if t is not None:
        k = int(t[b])
        out.update(target=model.pattern_names[k], target_overlap=float(0.5 * (mx[k] + my[k])),
                   target_overlap_x=float(mx[k]), target_overlap_y=float(my[k]))
    return out
