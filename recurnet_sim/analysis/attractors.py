"""State-space analysis of small networks: attractors, basins and spurious states.

For a network of N <= 20 binary units the whole state space (2**N states) can be enumerated. This
module builds the state-transition map of the deterministic (T = 0) dynamics, finds every
attractor, measures its basin and classifies it against the stored patterns.

The analysis never asks what kind of network it is given. A family that has a finite
deterministic dynamics declares it as a :class:`StateSpace` (``Family.state_space``): the coupling
W and thresholds theta of its threshold units, its unit values, its layers and the order in which
one synchronous step updates them, its energy, its stored patterns. :func:`analyze_model` reads that
declaration; :func:`analyze` enumerates any state space (FixedPointFinder's shape: an analysis
takes a model through a small protocol, never its internals).

States are integer *codes*: bit i of the code is 1 when unit i is on (holds the high unit value).
A layered state is the concatenation of its layers, as in the engine (for a bidirectional
associative memory, bits 0..n_x-1 are x and bits n_x..n_x+n_y-1 are y).

Dynamics (deterministic threshold units, Hopfield 1982)::

    h = W s                      local fields, W (N, N) may be asymmetric, diluted, self-coupled
    s_i <- hi   if h_i > theta_i
    s_i <- lo   if h_i < theta_i
    s_i <- s_i  if h_i = theta_i  (a tie keeps the unit; see ``tie_tol``)
    E(s) = -1/2 s^T W s + theta^T s

*Synchronous* ("sync"): all units at once from the same old state, so every state has exactly one
successor and the transition graph is a functional graph. Its attractors are cycles; fixed points
are cycles of period 1. For symmetric W every cycle has period 1 or 2 (Goles & Olivos 1981;
Goles-Chacc, Fogelman-Soulie & Pellegrin 1985).

*Asynchronous* ("async"): one unit at a time. The graph has an edge s -> s' for every single-unit
update that changes the state, and a self-loop on states that no update changes. Attractors are
the terminal strongly connected components (for symmetric W with W_ii >= 0 the energy strictly
decreases along every edge, so they are exactly the fixed points; Hopfield 1982). A state can reach
several attractors; its *basin* is then shared. For each attractor the report gives the number of
states that can reach only it, and the probability of ending in it when the start is uniform over
all 2**N states and every step updates a unit chosen uniformly at random (an absorbing Markov
chain, solved exactly; optionally estimated by sampling).

*Layered* synchronous steps (``StateSpace.sync_order``): one step updates the layers in turn,
each all at once from the current state. A bidirectional associative memory (Kosko 1988), state
(x, y), coupling [[0, W], [W^T, 0]] and energy -x^T W y, declares the order (y, x): first
``y <- f(W^T x)``, then ``x <- f(W y)`` with the new y. Asynchronous updates are single-unit
updates in any layer, the same rule on the full coupling.

Classification of an attractor state (Amit, Gutfreund & Sompolinsky 1985): a stored pattern, its
reverse (every unit flipped), a symmetric mixture ``sign(sum_mu eps_mu xi_mu)`` of 3 (and, when
P >= 5, 5) stored patterns with signs eps_mu (labelled e.g. ``mix(+A,+B,-C)``), or otherwise
spurious. For 0/1 units the mixtures are formed on the +-1 images of the patterns.

The analysis works on arrays (a successor-code array for sync, a change-bit-mask per state for
async), so N = 20 takes seconds. A ``networkx.DiGraph`` of the full state space is built only for
small networks (``GRAPH_AUTO_LIMIT`` states) unless asked for, and never above ``GRAPH_HARD_LIMIT``.
"""
from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import SimulationError, ValidationError

__all__ = [
    "MAX_UNITS",
    "GRAPH_AUTO_LIMIT",
    "GRAPH_HARD_LIMIT",
    "Attractor",
    "AttractorReport",
    "StateSpace",
    "analyze",
    "analyze_model",
    "attractor_graph",
    "encode_states",
    "decode_states",
]

#: Largest network whose state space is enumerated (2**20 = 1 048 576 states).
MAX_UNITS = 20
#: Up to this many states the full networkx graph is built by default (N <= 12).
GRAPH_AUTO_LIMIT = 1 << 12
#: Above this many states the full networkx graph is never built (N > 16): 2**17 nodes with
#: ~N/2 edges each already take gigabytes as Python objects; use ``attractor_graph`` instead.
GRAPH_HARD_LIMIT = 1 << 16
#: Transient strongly connected components up to this size are solved densely (LAPACK).
_DENSE_LIMIT = 2000
#: States per vectorised chunk: (chunk, N) float64 fields are 10 MB at N = 20.
_CHUNK = 1 << 16

_SCHEDULE_ALIASES = {
    "sync": "sync",
    "synchronous": "sync",
    "async": "async",
    "asynchronous": "async",
    # The engine's asynchronous schedules share one T = 0 state graph.
    "sequential": "async",
    "random": "async",
}


# ============================================================================================
# State codes
# ============================================================================================
def decode_states(codes, n_units: int, unit_values: tuple[float, float] = (-1, 1)) -> np.ndarray:
    """Unit values of state codes.

    Parameters
    ----------
    codes : int or array_like of int, shape (k,)
        State codes (bit i set = unit i holds ``unit_values[1]``).
    n_units : int
    unit_values : (lo, hi)

    Returns
    -------
    ndarray of float, shape (k, n_units) (or (n_units,) for a scalar code)
    """
    c = np.asarray(codes, dtype=np.int64)
    bits = _bits(c.reshape(-1), n_units)
    lo, hi = unit_values
    out = lo + (hi - lo) * bits.astype(float)
    return out[0] if c.ndim == 0 else out


def encode_states(states, unit_values: tuple[float, float] = (-1, 1)) -> np.ndarray:
    """Codes of states given as unit values.

    Parameters
    ----------
    states : array_like, shape (k, n_units) or (n_units,)
        Unit values; a unit counts as on when it is nearer ``hi`` than ``lo``.
    unit_values : (lo, hi)

    Returns
    -------
    ndarray of int64, shape (k,) (or a Python int for a single state)
    """
    s = np.asarray(states, dtype=float)
    lo, hi = unit_values
    on = np.abs(s - hi) < np.abs(s - lo)
    codes = _pack(on.reshape(-1, s.shape[-1]))
    return int(codes[0]) if s.ndim == 1 else codes


def _bits(codes: np.ndarray, n: int) -> np.ndarray:
    """(k,) codes -> (k, n) uint8 bits, unit 0 first."""
    # unpackbits on the little-endian bytes is ~5x faster than shifting an (k, n) int64 array.
    b = np.ascontiguousarray(codes, dtype="<i8").view(np.uint8).reshape(-1, 8)
    return np.unpackbits(b, axis=1, bitorder="little")[:, :n]


def _bitstr(code: int, n: int) -> str:
    return "".join("1" if (int(code) >> i) & 1 else "0" for i in range(n))


def _pack(bits: np.ndarray) -> np.ndarray:
    """(k, n) bits/bools (n <= 64) -> (k,) int64 codes."""
    k, n = bits.shape
    packed = np.packbits(np.asarray(bits, dtype=bool), axis=1, bitorder="little")  # (k, ceil(n/8))
    out = np.zeros((k, 8), dtype=np.uint8)
    out[:, : packed.shape[1]] = packed
    return out.view("<i8").reshape(k).astype(np.int64)


# ============================================================================================
# Dynamics on codes (vectorised over a chunk of states)
# ============================================================================================
class _Dynamics:
    """The T = 0 update rule of one checked :class:`StateSpace`, applied to chunks of state codes.

    ``W`` is the full (N, N) coupling seen by single-unit updates, so the asynchronous rule and the
    energy are the same for every state space; a synchronous step updates the blocks of
    ``order`` in turn (one block of all units when the space has no ``sync_order``).
    """

    def __init__(self, W, theta, unit_values, tol, energy_fn=None, layers=(), order=(), field_fn=None):
        self.W = W
        self.field_fn = field_fn
        self.theta = theta
        self.n = W.shape[0]
        self.lo, self.hi = (float(v) for v in unit_values)
        self.tol = tol
        self.energy_fn = energy_fn
        self.layers = tuple(layers)  # ((name, size), ...) in unit order, () = one layer
        self.order = tuple(order)  # unit slices, in the order a synchronous step updates them
        # h - theta = (hi - lo) W b + (lo W 1 - theta) for bits b, so a chunk needs one product of
        # its 0/1 bits. When every term is an integer below 2^24 float32 is exact and twice as
        # fast; otherwise float64.
        dW = (self.hi - self.lo) * W.T
        h0 = self.lo * W.sum(axis=1) - theta
        terms = np.concatenate([dW.ravel(), h0])
        exact32 = np.all(terms == np.round(terms)) and np.abs(dW).sum(axis=0).max(initial=0) + np.abs(h0).max(
            initial=0
        ) < 2**24
        self._dtype = np.float32 if exact32 else np.float64
        self._dW = dW.astype(self._dtype)
        self._h0 = h0.astype(self._dtype)

    def values(self, bits: np.ndarray) -> np.ndarray:
        return self.lo + (self.hi - self.lo) * bits.astype(float)

    def _field(self, bits: np.ndarray, units=slice(None)) -> np.ndarray:
        """h - theta of the units ``units`` for (k, N) bits, shape (k, n_units_in_slice)."""
        if self.field_fn is not None:
            return np.asarray(self.field_fn(self.values(bits)), dtype=float)[:, units]
        return bits.astype(self._dtype) @ self._dW[:, units] + self._h0[units]

    def _rule(self, h_minus_theta: np.ndarray, old_bits: np.ndarray) -> np.ndarray:
        # A tie keeps the unit (h = theta exactly, or within tie_tol for float weights).
        on = (h_minus_theta > self.tol) | ((h_minus_theta >= -self.tol) & (old_bits != 0))
        return on.view(np.uint8)

    def successors(self, codes: np.ndarray) -> np.ndarray:
        """Synchronous successor code of each code, shape (k,)."""
        bits = _bits(codes, self.n)
        if not self.order:
            return _pack(self._rule(self._field(bits), bits))
        bits = bits.copy()
        for units in self.order:  # each block sees the blocks updated before it
            bits[:, units] = self._rule(self._field(bits, units), bits[:, units])
        return _pack(bits)

    def change_masks(self, codes: np.ndarray) -> np.ndarray:
        """Bit mask of the units whose single update would change the state, shape (k,) uint32."""
        bits = _bits(codes, self.n)
        changed = self._rule(self._field(bits), bits) != bits
        return _pack(changed).astype(np.uint32)

    def energy(self, codes: np.ndarray) -> np.ndarray:
        """Energy of each code, shape (k,)."""
        s = self.values(_bits(np.asarray(codes, dtype=np.int64).reshape(-1), self.n))
        if self.energy_fn is not None:
            return np.asarray(self.energy_fn(s), dtype=float).reshape(-1)
        return -0.5 * np.einsum("ki,ki->k", s @ self.W.T, s) + s @ self.theta

    def bits_str(self, code: int) -> str:
        b = _bitstr(code, self.n)
        if not self.layers:
            return b
        parts, at = [], 0
        for _, size in self.layers:
            parts.append(b[at:at + size])
            at += size
        return "|".join(parts)

    def map_chunks(self, fn: Callable[[np.ndarray], np.ndarray], dtype) -> np.ndarray:
        M = 1 << self.n
        out = np.empty(M, dtype=dtype)
        for start in range(0, M, _CHUNK):
            codes = np.arange(start, min(M, start + _CHUNK), dtype=np.int64)
            out[start:start + len(codes)] = fn(codes)
        return out


@dataclass(frozen=True)
class StateSpace:
    """The finite deterministic dynamics of a small network of binary threshold units: what the
    enumeration needs, declared by a family (``Family.state_space(model, schedule, trial)``).

    Parameters
    ----------
    name : str
        What the report calls the network (its network type), e.g. in ``"<name> network, 8 units"``.
    coupling : array_like, shape (N, N)
        W of the local fields ``h = W s`` seen by a single-unit update; may be asymmetric,
        diluted or self-coupled. N <= ``MAX_UNITS``. A layered network gives its full block
        matrix (for a BAM [[0, W], [W^T, 0]]).
    thresholds : array_like, shape (N,), optional
        theta (default 0). A unit turns on when ``h_i > theta_i``, off when ``h_i < theta_i`` and
        keeps its value on a tie.
    unit_values : (lo, hi)
        The two values a unit takes (``(-1, 1)`` or ``(0, 1)``).
    layers : tuple of (str, int)
        The units split into consecutive named layers, in unit order (``(("x", 8), ("y", 6))``);
        empty for a single layer. States are shown with ``|`` between layers.
    sync_order : tuple of str
        One synchronous step updates these layers in turn, each all at once from the current
        state (a bidirectional pass: ``("y", "x")``); empty: all units at once (Little 1974).
    patterns : array_like, shape (P, N), optional
        Stored patterns in unit values, for the classification (a layered network: the
        concatenated layers of each stored tuple).
    pattern_names : sequence of str, optional
        Default ``P1..PP``.
    energy : callable(states (k, N)) -> (k,), optional
        Energy of states given as unit values; default ``-1/2 s^T W s + theta^T s``.
    field : callable(states (k, N)) -> (k, N), optional
        The dynamics given by a function instead of couplings (a network without a W, e.g. a
        dense associative memory): each unit's drive towards its high value in each state, given
        as unit values. The unit turns on when it is > 0, off when < 0 and keeps its value on 0,
        like ``h - theta``; for an energy-based net it is ``E(s_i = lo) - E(s_i = hi)``. Give
        ``size`` and no ``coupling`` (and an ``energy``); ties are exact (``tie_tol`` 0) unless
        :func:`analyze` is given one.
    size : int, optional
        N when there is no ``coupling``.
    """

    name: str
    coupling: Any = None
    thresholds: Any = None
    unit_values: tuple[float, float] = (-1, 1)
    layers: tuple[tuple[str, int], ...] = ()
    sync_order: tuple[str, ...] = ()
    patterns: Any = None
    pattern_names: Sequence[str] | None = None
    energy: Callable[[np.ndarray], np.ndarray] | None = None
    field: Callable[[np.ndarray], np.ndarray] | None = None
    size: int | None = None

    @property
    def n_units(self) -> int:
        if self.coupling is None:
            return int(self.size or 0)
        return int(np.shape(self.coupling)[-1])

    def size_text(self) -> str:
        """How many units, said the way the network is built (``n_x + n_y = 12 + 9``)."""
        if len(self.layers) > 1:
            return (" + ".join(f"n_{name}" for name, _ in self.layers) + " = "
                    + " + ".join(str(size) for _, size in self.layers))
        return f"N = {self.n_units}"


# ============================================================================================
# Results
# ============================================================================================
@dataclass
class Attractor:
    """One attractor of the state-transition graph.

    Attributes
    ----------
    id : int
        0-based, in report order (most probable first).
    states : ndarray of int64, shape (size,)
        Codes of its states; for a synchronous cycle in the order visited, starting at the smallest.
    bits : list of str
        The states as bit strings, unit 0 first (``"x|y"`` for a layered network).
    period : int or None
        Cycle length under synchronous updates (1 = fixed point). Under asynchronous updates 1
        for a fixed point and None for a recurrent set of several states.
    basin_size : int
        Synchronous: the exact number of states whose trajectory ends in it. Asynchronous: the
        number of states that can reach only this attractor.
    basin_fraction : float
        ``basin_size / n_states``.
    reach_probability : float
        Probability of ending in it from a uniform random start (equal to ``basin_fraction`` for
        the deterministic synchronous dynamics).
    reach_stderr : float or None
        Standard error when ``reach_probability`` was sampled, else None (exact).
    kind : str
        ``"stored"``, ``"reversed"``, ``"mixture"``, ``"spurious"`` for a single state (``"fixed"``
        when no patterns were given; its label is then its bit string);
        ``"cycle"`` (sync) or ``"recurrent"`` (async) for several.
    label : str
        ``"A"``, ``"-A"``, ``"mix(+A,+B,-C)"``, ``"spurious"``, or ``"cycle(2): A > -A"``.
    energy : float
        Lowest energy among its states.
    energies : list of float
        Energy of each state.
    hamming_to_nearest : int or None
        Smallest Hamming distance from one of its states to a stored pattern or its reverse
        (None without patterns).
    nearest : str or None
        That pattern (``"A"`` or ``"-A"``).
    state_kinds, state_labels : list of str
        Classification of each state.
    """

    id: int
    states: np.ndarray
    bits: list[str]
    period: int | None
    basin_size: int
    basin_fraction: float
    reach_probability: float
    reach_stderr: float | None
    kind: str
    label: str
    energy: float
    energies: list[float]
    hamming_to_nearest: int | None
    nearest: str | None
    state_kinds: list[str]
    state_labels: list[str]

    @property
    def size(self) -> int:
        """Number of states in the attractor."""
        return len(self.states)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "period": self.period,
            "size": self.size,
            "states": [int(c) for c in self.states],
            "bits": list(self.bits),
            "basin_size": int(self.basin_size),
            "basin_fraction": float(self.basin_fraction),
            "reach_probability": float(self.reach_probability),
            "reach_stderr": None if self.reach_stderr is None else float(self.reach_stderr),
            "energy": float(self.energy),
            "energies": [float(e) for e in self.energies],
            "hamming_to_nearest": self.hamming_to_nearest,
            "nearest": self.nearest,
            "state_kinds": list(self.state_kinds),
            "state_labels": list(self.state_labels),
        }


@dataclass
class AttractorReport:
    """Everything found by one state-space analysis.

    Attributes
    ----------
    attractors : list of Attractor
        Sorted by reach probability (descending), then by smallest state code.
    schedule : str
        ``"sync"`` or ``"async"``.
    family : str
        The state space's name: the network type of the analysed model.
    n_units : int
        N (all layers together).
    n_states : int
        2**N.
    layers : tuple of int or None
        The layer sizes of a layered network (``(n_x, n_y)``), None for a single layer.
    pattern_names : list of str
    reach_method : str
        How ``reach_probability`` was obtained.
    n_shared : int
        Async: states that can reach more than one attractor (0 for sync).
    n_edges : int
        Edges of the transition graph (self-loops of fixed points included).
    graph : networkx.DiGraph or None
        The full state graph, when built; otherwise ``graph_reason`` says why not.
    graph_reason : str
    seconds : float
        Wall time of the analysis.
    layer_names : tuple of str
        The names of ``layers``.
    """

    attractors: list[Attractor]
    schedule: str
    family: str
    n_units: int
    n_states: int
    layers: tuple[int, int] | None
    pattern_names: list[str]
    reach_method: str
    n_shared: int
    n_edges: int
    graph: Any = None
    graph_reason: str = ""
    seconds: float = 0.0
    layer_names: tuple[str, ...] = ()
    # Per-state data kept for attractor_of, the graph export and the viewer.
    _basin: np.ndarray = field(default=None, repr=False)  # (n_states,) attractor id, -1 = shared
    _succ: np.ndarray | None = field(default=None, repr=False)  # sync successor codes
    _masks: np.ndarray | None = field(default=None, repr=False)  # async change masks
    _dyn: _Dynamics | None = field(default=None, repr=False)
    _in_attr: dict[int, int] = field(default_factory=dict, repr=False)

    # ----- queries ------------------------------------------------------------------------
    def attractor_of(self, state_code: int) -> int | None:
        """Id of the attractor whose basin holds ``state_code``.

        None when the state can reach several attractors (asynchronous schedule only).
        """
        code = int(state_code)
        if not 0 <= code < self.n_states:
            raise SimulationError(f"state code {code} out of range 0..{self.n_states - 1}")
        a = int(self._basin[code])
        return None if a < 0 else a

    def attractor_containing(self, state_code: int) -> int | None:
        """Id of the attractor that ``state_code`` belongs to (None if it is transient)."""
        return self._in_attr.get(int(state_code))

    def successors(self, state_code: int) -> list[int]:
        """Codes one step away (sync: the single successor; async: every changing update)."""
        code = int(state_code)
        if self._succ is not None:
            return [int(self._succ[code])]
        m = int(self._masks[code])
        return [code ^ (1 << i) for i in range(self.n_units) if (m >> i) & 1] or [code]

    def energies(self, codes) -> np.ndarray:
        """Energy of the given state codes, shape (k,)."""
        return self._dyn.energy(np.asarray(codes, dtype=np.int64))

    @property
    def counts(self) -> dict[str, int]:
        """Number of attractors of each kind."""
        out: dict[str, int] = {}
        for a in self.attractors:
            out[a.kind] = out.get(a.kind, 0) + 1
        return out

    # ----- output -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary with the same data as :meth:`to_table` (and every attractor)."""
        return {
            "family": self.family,
            "schedule": self.schedule,
            "n_units": self.n_units,
            "n_states": self.n_states,
            "layers": list(self.layers) if self.layers else None,
            "pattern_names": list(self.pattern_names),
            "reach_method": self.reach_method,
            "n_attractors": len(self.attractors),
            "counts": self.counts,
            "n_shared": int(self.n_shared),
            "n_edges": int(self.n_edges),
            "graph_built": self.graph is not None,
            "graph_reason": self.graph_reason,
            "seconds": round(self.seconds, 4),
            "attractors": [a.to_dict() for a in self.attractors],
        }

    def to_json(self, **kwargs) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    def to_table(self, max_rows: int | None = 40) -> str:
        """A readable text table, one row per attractor (the first ``max_rows``)."""
        sched = "synchronous" if self.schedule == "sync" else "asynchronous"
        layer = (" (" + ", ".join(f"{nm}: {k}" for nm, k in zip(self.layer_names, self.layers)) + ")"
                 if self.layers else "")
        head = [
            f"{self.family} network, {self.n_units} units{layer}, {self.n_states} states, {sched} updates",
            f"{len(self.attractors)} attractors: "
            + ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items()))
            + f"; analysed in {self.seconds:.2f} s",
        ]
        if self.schedule == "async":
            head.append(
                f"basin = states that can reach only that attractor; {self.n_shared} states "
                f"({self.n_shared / self.n_states:.1%}) can reach several"
            )
        head.append(f"P(reach): {self.reach_method}")
        cols = ["id", "kind", "label", "period", "basin", "fraction", "P(reach)", "energy", "ham", "nearest", "state"]
        rows = []
        shown = self.attractors if max_rows is None else self.attractors[:max_rows]
        for a in shown:
            p = f"{a.reach_probability:.4f}"
            if a.reach_stderr is not None:
                p += f"±{a.reach_stderr:.4f}"
            state = a.bits[0] + (f" (+{a.size - 1})" if a.size > 1 else "")
            rows.append(
                [
                    str(a.id),
                    a.kind,
                    a.label if len(a.label) <= 40 else a.label[:37] + "...",
                    "-" if a.period is None else str(a.period),
                    str(a.basin_size),
                    f"{a.basin_fraction:.4f}",
                    p,
                    f"{a.energy:.4g}",
                    "-" if a.hamming_to_nearest is None else str(a.hamming_to_nearest),
                    a.nearest or "-",
                    state,
                ]
            )
        widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
        left = {"kind", "label", "nearest", "state"}

        def fmt(cells):
            return "  ".join(c.ljust(w) if cols[i] in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

        lines = head + ["", fmt(cols), "  ".join("-" * w for w in widths)] + [fmt(r) for r in rows]
        if len(shown) < len(self.attractors):
            lines.append(f"... {len(self.attractors) - len(shown)} more (use --json for all)")
        if self.graph is None and self.graph_reason:
            lines.append(f"graph: {self.graph_reason}")
        return "\n".join(lines)

    def build_graph(self):
        """Build (and keep) the full networkx state graph.

        Raises
        ------
        SimulationError
            Above ``GRAPH_HARD_LIMIT`` states.
        """
        if self.graph is None:
            if self.n_states > GRAPH_HARD_LIMIT:
                raise SimulationError(
                    f"the full state graph has {self.n_states} states; graphs are built up to "
                    f"{GRAPH_HARD_LIMIT} states (N <= {GRAPH_HARD_LIMIT.bit_length() - 1}); "
                    f"use attractor_graph(report) for a summary graph"
                )
            self.graph = _state_graph(self)
            self.graph_reason = "built"
        return self.graph

    def write_graphml(self, path) -> None:
        """Write the full state graph as GraphML (for Gephi, yEd or ``networkx.read_graphml``).

        Node ids are state codes; node attributes: ``bits``, ``energy``, ``basin`` (attractor id of
        the basin, -1 if shared), ``attractor`` (id of the attractor the state is in, -1 if
        transient), ``attractor_label``, ``is_attractor``. Edge attribute ``unit`` (async: the unit
        updated, -1 for a fixed point's self-loop). The graph is built now if it was not.
        """
        import networkx as nx

        from ..writer import write_file

        write_file(path, lambda fh: nx.write_graphml(self.build_graph(), fh))


# ============================================================================================
# Public entry points
# ============================================================================================
def analyze(
    space: StateSpace,
    schedule: str = "sync",
    *,
    tie_tol: float | None = None,
    graph: bool | None = None,
    reach: str = "exact",
    n_samples: int = 20000,
    seed: int = 0,
) -> AttractorReport:
    """Enumerate a state space and find its attractors.

    Parameters
    ----------
    space : StateSpace
    schedule : {"sync", "async"}
        Also accepted: "synchronous", "asynchronous", "sequential", "random" (or an engine
        :class:`~recurnet_sim.model.Schedule`; "glauber" is refused: its graph is stochastic).
    tie_tol : float, optional
        Fields with ``|h_i - theta_i| <= tie_tol`` count as ties (the unit keeps its value). Default:
        0 when W, theta and the unit values are all integers (exact arithmetic, e.g. Hebbian
        ``Xi^T Xi``), else ``1e-9`` times the largest possible ``|h_i| + |theta_i|``, so that
        ``Xi^T Xi / N`` ties the same way as the integer matrix despite rounding.
    graph : bool, optional
        Build the full networkx graph: None = only up to ``GRAPH_AUTO_LIMIT`` states; True = up
        to ``GRAPH_HARD_LIMIT``; False = never.
    reach : {"exact", "sample"}
        Async reach probabilities: exact absorbing-chain computation, or Monte Carlo with
        ``n_samples`` random-unit trajectories from uniform random starts seeded with ``seed``.

    Returns
    -------
    AttractorReport

    Raises
    ------
    SimulationError
        N > 20.
    ValidationError
        Shapes or values that do not fit.
    """
    t0 = time.perf_counter()
    if space.coupling is None and space.field is not None:
        check_size(space.n_units, space.size_text())
        W = np.zeros((space.n_units, space.n_units))  # the field function is the dynamics
    else:
        W = as_matrix(space.coupling, "weights")
    n = W.shape[0]
    if W.shape != (n, n):
        raise ValidationError("weights", f"must be a square (N, N) array, got shape {W.shape}", "attractors")
    check_size(n, space.size_text())
    theta = _as_vector(space.thresholds, n, "thresholds")
    unit_values = check_unit_values(space.unit_values)
    layers, order = _layer_slices(space, n)
    pats = check_patterns(space.patterns, n, unit_values, "patterns")
    names = _names(space.pattern_names, 0 if pats is None else len(pats))
    tol = _tie_tol(tie_tol, W, theta, unit_values)
    dyn = _Dynamics(W, theta, unit_values, tol, space.energy, layers, order, space.field)
    pat_codes = None if pats is None else encode_states(pats, unit_values).reshape(-1)
    return _analyze(dyn, space.name, getattr(schedule, "value", schedule), pat_codes, names, graph, reach,
                    n_samples, seed, t0)


def analyze_model(model, schedule: str = "sync", trial: int = 0, graph: bool | None = None, family=None,
                  **kwargs) -> AttractorReport:
    """Analyse a built model through its family's state space (the CLI's and the viewer's entry).

    Parameters
    ----------
    model : Model
        Its family (``family``, or the one that builds ``model.network_type``) must declare
        ``state_space``. Temperature and clamping are ignored: the T = 0, unclamped dynamics
        is analysed.
    schedule : str
        "sync" or "async" (or an engine :class:`~recurnet_sim.model.Schedule`).
    trial : int
        Which trial's network to analyse when the model holds one network per trial.
    graph : bool, optional
        As in :func:`analyze`.
    family : recurnet_sim.family.Family, optional
        The model's family (``Simulation.family``); looked up from the network type when not given.
    **kwargs
        Passed to :func:`analyze`.

    Raises
    ------
    SimulationError
        The family has no state space, or the network is too large to enumerate.
    """
    if family is None:
        from ..family import family_for

        try:
            family = family_for(model.network_type)
        except KeyError:
            raise SimulationError(f"no family builds network type {model.network_type!r}") from None
    if family.state_space is None:
        raise SimulationError(
            f"attractor analysis needs a finite deterministic state space; network type "
            f"{model.network_type!r} has none (its family {family.name!r} declares no state_space)"
        )
    sched = getattr(schedule, "value", schedule)
    space = family.state_space(model, sched, trial)
    return analyze(space, sched, graph=graph, **kwargs)


def _layer_slices(space: StateSpace, n: int):
    """(layers, synchronous update order as unit slices) of a state space, checked."""
    layers = tuple((str(nm), int(k)) for nm, k in space.layers)
    if layers and sum(k for _, k in layers) != n:
        raise ValidationError("layers", f"sizes must add up to the {n} units, got "
                              f"{' + '.join(str(k) for _, k in layers)}", "attractors")
    at, where = 0, {}
    for nm, k in layers:
        where[nm] = slice(at, at + k)
        at += k
    order = []
    for nm in space.sync_order:
        if nm not in where:
            raise ValidationError("sync_order", f"names layer {nm!r}; the layers are {', '.join(where) or 'none'}",
                                  "attractors")
        order.append(where[nm])
    if order and sorted(space.sync_order) != sorted(where):
        raise ValidationError("sync_order", f"must update every layer once, got {list(space.sync_order)}",
                              "attractors")
    return layers, tuple(order)


# ============================================================================================
# The analysis
# ============================================================================================
def _analyze(dyn: _Dynamics, family, schedule, pat_codes, names, graph, reach, n_samples, seed, t0):
    sched = _SCHEDULE_ALIASES.get(str(schedule).lower())
    if sched is None:
        raise ValidationError(
            "schedule", f"must be 'sync' or 'async', got {schedule!r}", "attractors"
        )
    if reach not in ("exact", "sample"):
        raise ValidationError("reach", f"must be 'exact' or 'sample', got {reach!r}", "attractors")
    M = 1 << dyn.n
    if sched == "sync":
        succ = dyn.map_chunks(dyn.successors, np.int32 if dyn.n < 31 else np.int64)
        cycles, basin, basin_sizes = _sync_attractors(succ)
        probs = basin_sizes / M
        stderr = [None] * len(cycles)
        periods = [len(c) for c in cycles]
        method = "exact (deterministic dynamics: equal to the basin fraction)"
        n_shared = 0
        n_edges = M
        masks = None
    else:
        masks = dyn.map_chunks(dyn.change_masks, np.uint32)
        res = _async_attractors(masks, dyn.n, reach, n_samples, seed)
        cycles, basin, basin_sizes, probs, stderr, method = res
        periods = [1 if len(c) == 1 else None for c in cycles]
        n_shared = int(np.count_nonzero(basin < 0))
        n_edges = int(np.bitwise_count(masks).sum()) + int(np.count_nonzero(masks == 0))
        succ = None

    # Report order: most probable first; ties by smallest code, so the order is reproducible.
    order = sorted(range(len(cycles)), key=lambda k: (-round(float(probs[k]), 12), int(cycles[k].min())))
    remap = np.empty(len(cycles), dtype=np.int32)
    remap[order] = np.arange(len(cycles), dtype=np.int32)
    basin = np.where(basin >= 0, remap[np.maximum(basin, 0)], -1).astype(np.int32)

    classifier = _Classifier(pat_codes, names, dyn.n, dyn.lo, dyn.hi)
    all_codes = np.concatenate(cycles) if cycles else np.zeros(0, dtype=np.int64)
    all_energy = dyn.energy(all_codes) if len(all_codes) else np.zeros(0)
    kinds, labels, ham, near = classifier.classify(all_codes)
    attractors: list[Attractor] = []
    in_attr: dict[int, int] = {}
    starts = np.concatenate([[0], np.cumsum([len(c) for c in cycles])]).astype(int)
    for new_id, k in enumerate(order):
        a, b = starts[k], starts[k + 1]
        states = cycles[k].astype(np.int64)
        st_kinds, st_labels = kinds[a:b], labels[a:b]
        if len(states) == 1:
            kind, label = st_kinds[0], st_labels[0]
            if kind == "unclassified":
                kind = "fixed"
        else:
            kind = "cycle" if sched == "sync" else "recurrent"
            sep = " > " if sched == "sync" else ", "
            shown = st_labels[:6] + (["..."] if len(st_labels) > 6 else [])
            label = f"{kind}({len(states)}): " + sep.join(shown)
        h = None if ham is None else int(ham[a:b].min())
        nearest = None if ham is None else near[a + int(np.argmin(ham[a:b]))]
        for c in states:
            in_attr[int(c)] = new_id
        attractors.append(
            Attractor(
                id=new_id,
                states=states,
                bits=[dyn.bits_str(c) for c in states],
                period=periods[k],
                basin_size=int(basin_sizes[k]),
                basin_fraction=float(basin_sizes[k]) / M,
                reach_probability=float(probs[k]),
                reach_stderr=stderr[k],
                kind=kind,
                label=label,
                energy=float(all_energy[a:b].min()),
                energies=[float(e) for e in all_energy[a:b]],
                hamming_to_nearest=h,
                nearest=nearest,
                state_kinds=list(st_kinds),
                state_labels=list(st_labels),
            )
        )
    report = AttractorReport(
        attractors=attractors,
        schedule=sched,
        family=family,
        n_units=dyn.n,
        n_states=M,
        layers=tuple(k for _, k in dyn.layers) or None,
        layer_names=tuple(nm for nm, _ in dyn.layers),
        pattern_names=list(names),
        reach_method=method,
        n_shared=n_shared,
        n_edges=n_edges,
        _basin=basin,
        _succ=succ,
        _masks=masks,
        _dyn=dyn,
        _in_attr=in_attr,
    )
    if graph is None:
        if M <= GRAPH_AUTO_LIMIT:
            report.build_graph()
        else:
            report.graph_reason = (
                f"not built: {M} states > {GRAPH_AUTO_LIMIT} (N > {GRAPH_AUTO_LIMIT.bit_length() - 1}); "
                f"build_graph() or --graphml builds it up to {GRAPH_HARD_LIMIT} states"
            )
    elif graph:
        report.build_graph()
    else:
        report.graph_reason = "not built (graph=False)"
    report.seconds = time.perf_counter() - t0
    return report


def _sync_attractors(succ: np.ndarray):
    """Cycles and exact basins of a functional graph ``x -> succ[x]``.

    Pointer doubling: after k rounds ``J = f^(2^k)`` and ``mn[x] = min{f^t(x) : t < 2^k}``. With
    2^K >= M, ``f^(2^K)(x)`` lies on x's cycle (a transient is shorter than M) and ``mn`` of a
    cyclic node is the smallest code on its cycle, which names the cycle. K = N rounds of two
    gathers over M entries each, instead of a Python loop per state.

    Returns
    -------
    cycles : list of ndarray (int64), each in visiting order from its smallest code
    basin : ndarray (M,) int32, index of the cycle each state ends in
    basin_sizes : ndarray (n_cycles,) int64
    """
    M = len(succ)
    K = max(1, (M - 1).bit_length())
    J = succ.copy()
    mn = np.arange(M, dtype=succ.dtype)
    for _ in range(K):
        np.minimum(mn, mn[J], out=mn)
        J = J[J]
    on_cycle = np.zeros(M, dtype=bool)
    on_cycle[J] = True
    rep_of = mn[J]  # cycle name (its smallest code) of the cycle each state ends in
    reps = np.flatnonzero(on_cycle & (mn == np.arange(M)))
    basin = np.searchsorted(reps, rep_of).astype(np.int32)
    basin_sizes = np.bincount(basin, minlength=len(reps)).astype(np.int64)
    periods = np.bincount(basin[on_cycle], minlength=len(reps))
    # Walk all cycles together; a cycle drops out once its period is reached. Total work is the
    # number of cyclic states, with one Python iteration per step of the longest cycle.
    cyc = np.empty(int(periods.sum()), dtype=np.int64)
    offs = np.concatenate([[0], np.cumsum(periods)])[:-1]
    cur = reps.astype(np.int64)
    for t in range(int(periods.max()) if len(reps) else 0):
        live = periods > t
        cyc[offs[live] + t] = cur[live]
        cur = succ[cur].astype(np.int64)
    cycles = np.split(cyc, np.cumsum(periods)[:-1]) if len(reps) else []
    return cycles, basin, basin_sizes


def _async_csr(masks: np.ndarray, n: int):
    """CSR adjacency (indptr (M+1,), indices (E,)) of the asynchronous graph, built from masks.

    Row x lists ``x ^ (1 << i)`` for the set bits i of ``masks[x]`` in increasing i; fixed points
    have empty rows (their self-loop is implicit). Filled unit by unit, each a vectorised scatter.
    """
    M = len(masks)
    deg = np.bitwise_count(masks).astype(np.int64)
    indptr = np.zeros(M + 1, dtype=np.int64)
    np.cumsum(deg, out=indptr[1:])
    idx_dtype = np.int32 if M < 2**31 else np.int64
    indices = np.empty(int(indptr[-1]), dtype=idx_dtype)
    for i in range(n):
        src = np.flatnonzero((masks >> np.uint32(i)) & np.uint32(1))
        below = np.bitwise_count(masks[src] & np.uint32((1 << i) - 1)).astype(np.int64)
        indices[indptr[src] + below] = src ^ (1 << i)
    return indptr, indices, deg


def _gather(indptr, indices, rows):
    """Concatenated adjacency lists of ``rows``; returns (children, lengths)."""
    starts = indptr[rows]
    lens = indptr[rows + 1] - starts
    total = int(lens.sum())
    if total == 0:
        return indices[:0], lens
    # Index of each output slot in `indices`: the row start plus the position within the row.
    pos = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(lens) - lens, lens) + np.repeat(starts, lens)
    return indices[pos], lens


def _topo_levels(indptr, indices, n_nodes):
    """Kahn's algorithm by whole levels; returns (levels, n_done). n_done < n_nodes means a cycle."""
    indeg = np.bincount(indices, minlength=n_nodes).astype(np.int64)
    frontier = np.flatnonzero(indeg == 0)
    levels = []
    done = 0
    while len(frontier):
        levels.append(frontier)
        done += len(frontier)
        children, _ = _gather(indptr, indices, frontier)
        if len(children) == 0:
            break
        np.subtract.at(indeg, children, 1)
        frontier = np.unique(children[indeg[children] == 0])
    return levels, done


def _async_attractors(masks, n, reach, n_samples, seed):
    """Terminal SCCs, exclusive basins and reach probabilities of the asynchronous graph.

    Returns
    -------
    cycles : list of ndarray, the states of each attractor (sorted codes)
    basin : ndarray (M,) int32, attractor index if the state can reach only it, else -1
    basin_sizes : ndarray (A,)
    probs : ndarray (A,)
    stderr : list of float or None
    method : str
    """
    M = len(masks)
    indptr, indices, deg = _async_csr(masks, n)
    levels, done = _topo_levels(indptr, indices, M)
    if done == M:
        # Acyclic apart from fixed-point self-loops (always so for symmetric W with W_ii >= 0,
        # where every move lowers the energy): each state is its own component.
        comp = np.arange(M, dtype=np.int64)
        n_comp = M
        cindptr, cindices = indptr, indices
        comp_size = np.ones(M, dtype=np.int64)
        members_ptr = np.arange(M + 1, dtype=np.int64)
        members = comp
        terminal = deg == 0
    else:
        from scipy.sparse import csr_matrix
        from scipy.sparse.csgraph import connected_components

        A = csr_matrix((np.ones(len(indices), dtype=np.int8), indices, indptr), shape=(M, M))
        n_comp, comp = connected_components(A, directed=True, connection="strong")
        comp = comp.astype(np.int64)
        src = np.repeat(np.arange(M, dtype=np.int64), deg)
        cs, cd = comp[src], comp[indices]
        cross = cs != cd
        cs, cd = cs[cross], cd[cross]
        terminal = np.ones(n_comp, dtype=bool)
        terminal[cs] = False
        order = np.argsort(cs, kind="stable")
        cindices = cd[order]
        cindptr = np.zeros(n_comp + 1, dtype=np.int64)
        np.cumsum(np.bincount(cs, minlength=n_comp), out=cindptr[1:])
        comp_size = np.bincount(comp, minlength=n_comp)
        members = np.argsort(comp, kind="stable")
        members_ptr = np.zeros(n_comp + 1, dtype=np.int64)
        np.cumsum(comp_size, out=members_ptr[1:])
        levels, cdone = _topo_levels(cindptr, cindices, n_comp)
        assert cdone == n_comp, "condensation of a digraph is acyclic"

    term_comps = np.flatnonzero(terminal)
    attr_of_comp = np.full(n_comp, -1, dtype=np.int64)
    attr_of_comp[term_comps] = np.arange(len(term_comps))
    cycles = [np.sort(members[members_ptr[c]:members_ptr[c + 1]]).astype(np.int64) for c in term_comps]

    # Exclusive basins: the smallest and largest attractor index reachable from each component,
    # filled from the sinks backwards (reverse topological order); equal means only one.
    lo = np.where(terminal, attr_of_comp, np.iinfo(np.int64).max)
    hi = np.where(terminal, attr_of_comp, -1)
    for F in reversed(levels):
        F = F[~terminal[F]]
        if len(F) == 0:
            continue
        children, lens = _gather(cindptr, cindices, F)
        starts = np.cumsum(lens) - lens
        lo[F] = np.minimum.reduceat(lo[children], starts)
        hi[F] = np.maximum.reduceat(hi[children], starts)
    only = np.where(lo == hi, lo, -1)
    basin = only[comp].astype(np.int32)
    basin_sizes = np.bincount(basin[basin >= 0], minlength=len(cycles)).astype(np.int64)

    if reach == "exact":
        notes: set[str] = set()
        probs = _reach_exact(levels, terminal, comp, comp_size, members, members_ptr, indptr, indices, deg, M, notes)
        probs = np.array([probs[members[members_ptr[c]:members_ptr[c + 1]]].sum() for c in term_comps])
        stderr = [None] * len(cycles)
        method = (
            "exact: absorbing Markov chain, uniform random start over all states, "
            "each step updates a uniformly random unit"
        )
        if notes:
            method += " (large transient cycles solved iteratively to a relative residual of 1e-9)"

    else:
        probs, se = _reach_sampled(masks, n, terminal[comp], attr_of_comp[comp], len(cycles), n_samples, seed)
        stderr = [float(s) for s in se]
        method = (
            f"sampled: {n_samples} trajectories from uniform random starts, each step updates a "
            f"uniformly random unit (seed {seed}); ± is one standard error"
        )
    return cycles, basin, basin_sizes, probs, stderr, method


def _reach_exact(levels, terminal, comp, comp_size, members, members_ptr, indptr, indices, deg, M, notes):
    """Probability mass that ends on each state (nonzero only in terminal components).

    Start with mass 1/M on every state and push it forward in topological order of the
    components. Picking a unit that does not change the state only delays the chain, so a state
    with d changing units sends 1/d of its mass along each of its d edges. Inside a non-terminal
    component of several states, the expected visits n solve (I - P_CC^T) n = mass_in and the
    mass leaves along the outgoing edges (absorbing-chain fundamental matrix, Kemeny & Snell 1960).
    """
    mass = np.full(M, 1.0 / M)
    for F in levels:
        F = F[~terminal[F]]
        if len(F) == 0:
            continue
        single = comp_size[F] == 1
        v = members[members_ptr[F[single]]]
        children, lens = _gather(indptr, indices, v)
        np.add.at(mass, children, np.repeat(mass[v] / lens, lens))
        mass[v] = 0.0
        for c in F[~single]:
            _push_component(mass, members[members_ptr[c]:members_ptr[c + 1]], comp, c, indptr, indices, deg, notes)
    return mass


def _push_component(mass, nodes, comp, c, indptr, indices, deg, notes):
    """Send the mass in one transient strongly connected component out of it (exactly)."""
    k = len(nodes)
    local = {int(x): j for j, x in enumerate(nodes)}
    children, lens = _gather(indptr, indices, nodes)
    parent = np.repeat(np.arange(k), lens)
    w = 1.0 / np.repeat(deg[nodes], lens)
    inside = comp[children] == c
    rows = np.array([local[int(x)] for x in children[inside]], dtype=np.int64)
    if k <= _DENSE_LIMIT:
        P = np.zeros((k, k))
        np.add.at(P, (parent[inside], rows), w[inside])
        visits = np.linalg.solve(np.eye(k) - P.T, mass[nodes])
    else:
        visits = _solve_visits(parent[inside], rows, w[inside], mass[nodes], k)
        notes.add("iterative")
    out = ~inside
    np.add.at(mass, children[out], visits[parent[out]] * w[out])
    mass[nodes] = 0.0


def _solve_visits(rows, cols, w, b, k):
    """Solve (I - P^T) n = b for a large transient component, P = sparse (rows, cols, w).

    Sparse LU fills in badly on hypercube-like graphs (a 4 000-state component takes ~1 s, a
    10^6-state one does not finish), while BiCGSTAB converges in tens of iterations because the
    chain leaves the component geometrically fast; the residual is checked, not assumed.
    """
    from scipy.sparse import csr_matrix, identity
    from scipy.sparse.linalg import bicgstab, spsolve

    A = (identity(k, format="csr") - csr_matrix((w, (rows, cols)), shape=(k, k)).T).tocsr()
    x, info = bicgstab(A, b, rtol=1e-13, atol=0.0, maxiter=20000)
    if info == 0 and np.abs(A @ x - b).sum() <= 1e-9 * max(float(np.abs(b).sum()), 1e-300):
        return x
    if k <= 20000:
        return spsolve(A.tocsc(), b)
    raise SimulationError(
        f"exact reach probabilities: the linear solve over a transient component of {k} states "
        "did not converge; use reach='sample'"
    )


def _reach_sampled(masks, n, term_node, attr_node, n_attr, n_samples, seed):
    """Monte Carlo reach probabilities; returns (probs, standard errors)."""
    rng = np.random.default_rng(seed)
    M = len(masks)
    cur = rng.integers(0, M, size=n_samples).astype(np.int64)
    live = np.flatnonzero(~term_node[cur])
    unit_bits = np.uint32(1) << np.arange(n, dtype=np.uint32)
    while len(live):
        m = masks[cur[live]]
        # Only changing units matter for where the chain ends: pick one of them uniformly.
        r = rng.integers(0, np.bitwise_count(m).astype(np.int64))
        rank = np.cumsum(((m[:, None] & unit_bits) != 0), axis=1) - 1
        pick = np.argmax((rank == r[:, None]) & ((m[:, None] & unit_bits) != 0), axis=1)
        cur[live] ^= np.int64(1) << pick.astype(np.int64)
        live = live[~term_node[cur[live]]]
    counts = np.bincount(attr_node[cur], minlength=n_attr)
    p = counts / n_samples
    return p, np.sqrt(p * (1 - p) / n_samples)


# ============================================================================================
# Classification
# ============================================================================================
class _Classifier:
    """Names states as stored patterns, reverses, odd mixtures (Amit et al. 1985) or spurious."""

    MAX_MIXTURES = 500_000  # candidate mixture states kept in the lookup table

    def __init__(self, pat_codes, names, n, lo, hi):
        self.n = n
        self.pat_codes = None if pat_codes is None or len(pat_codes) == 0 else np.asarray(pat_codes, np.int64)
        self.names = list(names)
        if self.pat_codes is None:
            return
        full = (1 << n) - 1
        codes = list(self.pat_codes) + list(self.pat_codes ^ full)
        labels = list(self.names) + ["-" + nm for nm in self.names]
        kinds = ["stored"] * len(self.names) + ["reversed"] * len(self.names)
        self.near_codes = np.array(codes[: 2 * len(self.names)], dtype=np.int64)
        self.near_labels = labels[: 2 * len(self.names)]
        # Mixtures are formed on +-1 images, so that 0/1 networks get the same states.
        xi = 2.0 * _bits(self.pat_codes, n).astype(float) - 1.0
        P = len(xi)
        budget = self.MAX_MIXTURES
        for size in (3, 5):
            if P < size:
                continue
            subsets = list(itertools.combinations(range(P), size))
            signs = np.array(list(itertools.product((1, -1), repeat=size)), dtype=float)  # (2^size, size)
            if len(subsets) * len(signs) > budget:
                break
            budget -= len(subsets) * len(signs)
            for S in subsets:
                # An odd sum of +-1 values is never 0, so the sign is always defined.
                mix = np.sign(signs @ xi[list(S)]) > 0  # (2^size, N)
                mc = _pack(mix)
                for eps, code in zip(signs, mc):
                    codes.append(int(code))
                    kinds.append("mixture")
                    parts = ",".join(("+" if e > 0 else "-") + self.names[j] for e, j in zip(eps, S))
                    labels.append(f"mix({parts})")
        codes_arr = np.array(codes, dtype=np.int64)
        # The first entry of a code wins: stored before reversed before 3- before 5-mixtures.
        uniq, first = np.unique(codes_arr, return_index=True)
        self.table_codes = uniq
        self.table_kinds = [kinds[i] for i in first]
        self.table_labels = [labels[i] for i in first]

    def classify(self, codes: np.ndarray):
        """Per code: kinds, labels, Hamming distance to the nearest pattern or reverse, its name."""
        k = len(codes)
        if self.pat_codes is None:
            # Nothing to compare with: "spurious" would claim more than we know.
            return ["unclassified"] * k, [_bitstr(c, self.n) for c in codes], None, [None] * k
        pos = np.searchsorted(self.table_codes, codes)
        pos = np.minimum(pos, len(self.table_codes) - 1)
        hit = self.table_codes[pos] == codes
        kinds = [self.table_kinds[p] if h else "spurious" for p, h in zip(pos, hit)]
        labels = [self.table_labels[p] if h else "spurious" for p, h in zip(pos, hit)]
        d = np.bitwise_count(codes[:, None] ^ self.near_codes[None, :]) if k else np.zeros((0, 1), int)
        j = np.argmin(d, axis=1) if k else np.zeros(0, int)
        ham = d[np.arange(k), j].astype(np.int64)
        near = [self.near_labels[i] for i in j]
        return kinds, labels, ham, near


# ============================================================================================
# Graphs
# ============================================================================================
def _state_graph(report: AttractorReport):
    """The full state-transition DiGraph of a report (small N)."""
    import networkx as nx

    M, n = report.n_states, report.n_units
    codes = np.arange(M, dtype=np.int64)
    energy = report._dyn.energy(codes)
    labels = {a.id: a.label for a in report.attractors}
    G = nx.DiGraph(
        family=report.family, schedule=report.schedule, n_units=n, n_states=M, n_attractors=len(report.attractors)
    )
    for c in range(M):
        a = report._in_attr.get(c, -1)
        G.add_node(
            c,
            bits=report._dyn.bits_str(c),
            energy=float(energy[c]),
            basin=int(report._basin[c]),
            attractor=a,
            attractor_label=labels.get(a, ""),
            is_attractor=a >= 0,
        )
    if report._succ is not None:
        G.add_edges_from(zip(range(M), (int(x) for x in report._succ)))
    else:
        masks = report._masks
        for i in range(n):
            src = np.flatnonzero((masks >> np.uint32(i)) & np.uint32(1))
            G.add_edges_from(((int(s), int(s ^ (1 << i)), {"unit": i}) for s in src))
        G.add_edges_from(((int(s), int(s), {"unit": -1}) for s in np.flatnonzero(masks == 0)))
    return G


def attractor_graph(report: AttractorReport, max_nodes: int = 200, max_attractors: int | None = None):
    """A small graph for the viewer: attractors as large nodes, basin states clustered around them.

    Node ``"a{id}"`` is attractor ``id`` (attributes ``role="attractor"``, ``cluster=id``,
    ``label``, ``kind``, ``basin_size``, ``reach_probability``, ``energy``, ``size`` (drawing
    radius, grows with the basin), ``x``, ``y``). Node ``"s{code}"`` is a basin state
    (``role="state"``, ``code``, ``bits``, ``cluster``, ``energy``, ``hamming`` to its attractor,
    ``x``, ``y``). Each attractor gets a share of ``max_nodes`` proportional to its basin, filled
    with the basin states nearest to it in Hamming distance (the last stretch of each trajectory).
    States whose successor is shown point to it, the others point to their attractor. States
    shared by several attractors (async) are left out. Layout: attractors on a circle, their
    states on rings whose radius grows with the Hamming distance.

    Every attractor gets a node by default, so that ``f"a{report.attractor_of(code)}"`` always
    exists; ``max_nodes`` then bounds the basin-state nodes only once the attractors are placed.
    ``max_attractors`` keeps only that many (the most probable); the graph attribute
    ``omitted_attractors`` counts the rest, and their nodes are missing.

    To highlight the current state: node ``f"s{code}"`` if present, else
    ``f"a{report.attractor_of(code)}"`` (None: the state is shared between basins).
    """
    import networkx as nx

    # Report order is most probable first, so a cap keeps the most probable attractors.
    shown = report.attractors if max_attractors is None else report.attractors[: max(0, max_attractors)]
    A = len(shown)
    G = nx.DiGraph(
        schedule=report.schedule,
        n_units=report.n_units,
        n_attractors=len(report.attractors),
        omitted_attractors=len(report.attractors) - A,
    )
    if A == 0:
        return G
    budget = max(0, max_nodes - A)
    sizes = np.array([a.basin_size for a in shown], dtype=float)
    share = np.floor(budget * sizes / max(sizes.sum(), 1)).astype(int)
    big_r = 1.0 if A == 1 else max(1.0, A / math.pi)
    for a in shown:
        ang = 2 * math.pi * a.id / A
        ax, ay = (0.0, 0.0) if A == 1 else (big_r * math.cos(ang), big_r * math.sin(ang))
        G.add_node(
            f"a{a.id}",
            role="attractor",
            cluster=a.id,
            label=a.label,
            kind=a.kind,
            basin_size=a.basin_size,
            reach_probability=a.reach_probability,
            energy=a.energy,
            size=float(10 + 4 * math.sqrt(a.basin_size)),
            x=ax,
            y=ay,
        )
    chosen: dict[int, int] = {}
    for a in shown:
        if share[a.id] == 0:
            continue
        basin_codes = np.flatnonzero(report._basin == a.id)
        basin_codes = basin_codes[~np.isin(basin_codes, a.states)]
        if len(basin_codes) == 0:
            continue
        d = np.bitwise_count(basin_codes[:, None] ^ a.states[None, :]).min(axis=1)
        pick = np.lexsort((basin_codes, d))[: share[a.id]]
        ang0 = 2 * math.pi * a.id / A
        ax, ay = G.nodes[f"a{a.id}"]["x"], G.nodes[f"a{a.id}"]["y"]
        for j, p in enumerate(pick):
            c = int(basin_codes[p])
            chosen[c] = a.id
            phi = ang0 + 2 * math.pi * j / max(1, len(pick))
            r = 0.12 * float(d[p]) * min(1.0, big_r)
            G.add_node(
                f"s{c}",
                role="state",
                code=c,
                bits=report._dyn.bits_str(c),
                cluster=a.id,
                energy=float(report._dyn.energy(np.array([c]))[0]),
                hamming=int(d[p]),
                x=ax + r * math.cos(phi),
                y=ay + r * math.sin(phi),
            )
    for c, aid in chosen.items():
        nexts = [s for s in report.successors(c) if s in chosen and s != c]
        if report._succ is not None and nexts:
            G.add_edge(f"s{c}", f"s{nexts[0]}")
        elif report._succ is None and nexts:
            for s in nexts:
                G.add_edge(f"s{c}", f"s{s}")
        else:
            G.add_edge(f"s{c}", f"a{aid}")
    return G


# ============================================================================================
# Validation helpers
# ============================================================================================
def _too_big(n: int, what: str | None = None) -> str:
    what = what or f"N = {n}"
    states = f"2^{n} = {2 ** n:,}" if n <= 40 else f"2^{n}"
    return (
        f"attractor analysis enumerates all 2^N states and is limited to N <= {MAX_UNITS} units; "
        f"this network has {what} units ({states} states)"
    )


def check_size(n: int, what: str | None = None) -> None:
    """Refuse a state space that cannot be enumerated: more than ``MAX_UNITS`` units
    (:class:`SimulationError`, saying ``what`` the size is, default ``"N = n"``) or none."""
    if n > MAX_UNITS:
        raise SimulationError(_too_big(n, what))
    if n < 1:
        raise ValidationError("weights", "must have at least one unit", "attractors")


def as_matrix(W, key: str) -> np.ndarray:
    """``W`` as a finite 2-d float array; a :class:`ValidationError` at ``key`` otherwise."""
    W = np.asarray(W, dtype=float)
    if W.ndim != 2:
        raise ValidationError(key, f"must be a 2-d array, got shape {W.shape}", "attractors")
    if not np.all(np.isfinite(W)):
        raise ValidationError(key, "must be finite (no NaN or inf)", "attractors")
    return W


def _as_vector(v, n: int, key: str) -> np.ndarray:
    if v is None:
        return np.zeros(n)
    v = np.asarray(v, dtype=float)
    if v.ndim == 0:
        v = np.full(n, float(v))
    if v.shape != (n,):
        raise ValidationError(key, f"must have shape ({n},), got {v.shape}", "attractors")
    return v


def check_unit_values(uv) -> tuple[float, float]:
    """``uv`` as a pair of floats lo < hi."""
    try:
        lo, hi = (float(x) for x in uv)
    except (TypeError, ValueError):
        raise ValidationError("unit_values", f"must be a pair (lo, hi), got {uv!r}", "attractors") from None
    if not lo < hi:
        raise ValidationError("unit_values", f"must satisfy lo < hi, got {uv!r}", "attractors")
    return lo, hi


def check_patterns(p, n: int, unit_values, key: str):
    """Patterns ``p`` as a (P, n) float array of unit values, or None when there are none; a
    :class:`ValidationError` at ``key`` otherwise."""
    if p is None:
        return None
    p = np.asarray(p, dtype=float)
    if p.size == 0:
        return None
    if p.ndim == 1:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != n:
        raise ValidationError(key, f"must have shape (P, {n}), got {p.shape}", "attractors")
    if not np.all(np.isin(p, unit_values)):
        raise ValidationError(key, f"values must be the unit values {unit_values}", "attractors")
    return p


def _names(names, P: int) -> list[str]:
    if names is None or len(names) == 0:
        return [f"P{k + 1}" for k in range(P)]
    names = [str(x) for x in names]
    if len(names) != P:
        raise ValidationError("pattern_names", f"must give {P} names, got {len(names)}", "attractors")
    return names


def _tie_tol(tie_tol, W, theta, unit_values) -> float:
    if tie_tol is not None:
        return float(tie_tol)
    vals = np.concatenate([W.ravel(), theta, np.asarray(unit_values, dtype=float)])
    if np.all(vals == np.round(vals)):
        return 0.0  # integer arithmetic is exact: only true ties are ties
    umax = max(abs(v) for v in unit_values)
    scale = float(np.max(np.abs(W).sum(axis=1) * umax + np.abs(theta))) if W.size else 0.0
    return 1e-9 * max(scale, 1.0)
