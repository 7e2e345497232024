"""Recorders (monitors): they observe a simulation and never change it.

Like Brian2's monitors and Nengo's probes, a recorder is scheduled by the engine after the update
of each tick ("record" is the last step of a tick) and reads the model's public attributes only.
Each recorder keeps one row per recorded tick with the batch axis second: ``(n_records, batch, ...)``.
"""
from __future__ import annotations

import json
import weakref
from math import copysign
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import TraceFileError
from .npzio import read_npz, write_npz

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Simulation

TRACE_FORMAT = "recurnet-trace-1"


class Recorder:
    """Base class. ``every`` records one tick in ``every`` (tick 0, the initial state, always).

    ``ticks`` and ``rows`` are the recorded ticks and values. A block of ticks
    (:meth:`record_block`) is only kept as it came; reading ``ticks`` or ``rows`` first expands
    every kept block into its ticks and rows (a run in blocks pays nothing per tick for it)."""

    name = "recorder"

    def __init__(self, every: int = 1):
        if every < 1:
            raise ValueError("every must be >= 1")
        self.every = every
        self.reset()

    def reset(self) -> None:
        self._ticks: list[int] = []
        self._rows = RowList()
        self._blocks: list[tuple] = []  # (first tick, TickBlock, what else its rows need), in order

    @property
    def ticks(self) -> list[int]:
        if self._blocks:
            self._expand_blocks()
        return self._ticks

    @ticks.setter
    def ticks(self, ticks: list[int]) -> None:
        self._ticks = ticks

    @property
    def rows(self) -> "RowList":
        if self._blocks:
            self._expand_blocks()
        return self._rows

    @rows.setter
    def rows(self, rows: "RowList") -> None:
        self._rows = rows

    def wants(self, tick: int) -> bool:
        return tick % self.every == 0

    def record(self, sim: "Simulation") -> None:
        if self.wants(sim.tick):
            if self._blocks:
                self._expand_blocks()
            self._ticks.append(sim.tick)
            self._capture(sim)

    def _capture(self, sim: "Simulation") -> None:
        """Keep this tick's row."""
        self._rows.append(np.array(self.read(sim), copy=True))

    def read(self, sim: "Simulation") -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def block_needs(self, sim: "Simulation") -> frozenset | None:
        """What this recorder reads from a :class:`~recurnet_sim.model.TickBlock` (of ``"energy"``,
        ``"flips"``, ``"states"``), or None when it must read the model after every tick itself
        (the engine then runs tick by tick). Default None."""
        return None

    def record_block(self, sim: "Simulation", block, first: int) -> None:
        """Record the ticks ``first + 1 .. first + block.ticks`` of a block (those it wants): the
        same ticks and rows :meth:`record` would have kept tick by tick, once they are read."""
        self._blocks.append((first, block, None))

    def _expand_blocks(self) -> None:
        blocks, self._blocks = self._blocks, []
        every = self.every
        for first, block, extra in blocks:
            n = block.ticks
            start = 0 if every == 1 else (-(first + 1)) % every  # first k with (first+1+k) % every == 0
            self._ticks.extend(range(first + 1 + start, first + 1 + n, every))
            self._add_block_rows(block, slice(start, n, every), extra)

    def _add_block_rows(self, block, rows: slice, extra) -> None:
        self._rows.extend_block(self.block_rows(block, rows, extra))

    def block_rows(self, block, rows: slice, extra) -> np.ndarray:  # pragma: no cover - interface
        """The recorded rows of block rows ``rows``, one array (n, batch, ...)."""
        raise NotImplementedError

    def data(self) -> np.ndarray:
        """Recorded values, shape (n_records, batch, ...)."""
        if not self.rows:
            return np.zeros((0,))
        return self.rows.stacked()

    def last(self) -> np.ndarray | None:
        return self.rows[-1] if self.rows else None


class EnergyRecorder(Recorder):
    """Energy (or loss) per tick, shape (n, batch)."""

    name = "energy"

    def read(self, sim):
        return sim.model.energy()

    def block_needs(self, sim):
        return frozenset({"energy"})

    def block_rows(self, block, rows, extra):
        return block.energy[rows]


class FlipRecorder(Recorder):
    """Units changed during each tick, shape (n, batch); 0 at tick 0."""

    name = "flips"

    def read(self, sim):
        return sim.last_flips

    def block_needs(self, sim):
        return frozenset({"flips"})

    def block_rows(self, block, rows, extra):
        return block.flips[rows]


class RowList:
    """A recorder's rows: a list of arrays (batch, ...), one per recorded tick, where two kinds of
    entries are added in bulk and made into rows only when something reads them.

    * a block of rows (:meth:`extend_block`, one array (n, batch, ...) from a block of ticks,
      :class:`~recurnet_sim.model.TickBlock`): n rows without n Python objects until read;
    * states whose rows ``compute`` gives (:meth:`extend_states`; the overlap recorder keeps a
      state copy per tick and computes its overlaps when read: one stacked product for a trace of
      n ticks, none for a headless run that never reads them).

    Reading an entry, a slice or iterating makes every pending entry a row first; :meth:`stacked`
    gives the whole (n, batch, ...) array without making the block rows one by one.
    """

    def __init__(self, compute=None):
        self._compute = compute
        self._rows: list[np.ndarray] = []  # the rows made so far
        self._pending: list[tuple[bool, np.ndarray]] = []  # after _rows, in order: (states?, (n, B, ...))
        self._n = 0
        self.pending_bytes = 0  # bytes of states not yet computed

    def __len__(self) -> int:
        return self._n

    def __bool__(self) -> bool:
        return self._n > 0

    def append(self, row: np.ndarray) -> None:
        if self._pending:
            self._pending.append((False, row[None]))
        else:
            self._rows.append(row)
        self._n += 1

    def extend_block(self, rows: np.ndarray) -> None:
        """Add each row of ``rows`` (n, batch, ...), made into row views when read."""
        if len(rows):
            self._pending.append((False, rows))
            self._n += len(rows)

    def extend_repeated(self, row: np.ndarray, n: int) -> None:
        """Add ``row`` n times (the same array object: read it, never write to it)."""
        if n <= 0:
            return
        if self._pending:
            self._pending.append((False, np.broadcast_to(row, (n,) + row.shape)))
        else:
            self._rows.extend([row] * n)
        self._n += n

    def append_state(self, state: np.ndarray) -> None:
        self.extend_states(state[None])

    def extend_states(self, states: np.ndarray) -> None:
        """Add one row per state of ``states`` (n, batch, N): ``compute`` gives them when read."""
        if len(states):
            self._pending.append((True, states))
            self._n += len(states)
            self.pending_bytes += states.nbytes

    def _compute_states(self) -> None:
        """Every pending state made into its row, in one ``compute`` call."""
        if not any(is_states for is_states, _ in self._pending):
            return
        states = [s for is_states, a in self._pending if is_states for s in a]
        made = iter(self._compute(states))
        self._pending = [(False, np.stack([next(made) for _ in range(len(a))]) if is_states else a)
                         for is_states, a in self._pending]
        self.pending_bytes = 0

    def materialize(self) -> None:
        """Make every pending entry a row (computing the pending states)."""
        if self._pending:
            self._compute_states()
            for _, a in self._pending:
                self._rows.extend(a)
            self._pending = []

    def stacked(self) -> np.ndarray:
        """All rows as one array (n, batch, ...)."""
        self._compute_states()
        rows = self._rows
        # a few made rows (tick 0 before a block) as views: np.stack's fixed cost is the whole work
        parts = ([np.stack(rows)] if len(rows) > 4 else [r[None] for r in rows]) + [a for _, a in self._pending]
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)

    def __getitem__(self, k):
        self.materialize()
        return self._rows[k]

    def __iter__(self):
        self.materialize()
        return iter(self._rows)


#: per model: whether its overlaps_of computes (asked once per model, not once per recorder: a
#: batch point builds a Simulation, and so an overlap recorder, per group of trials)
_ON_DEMAND: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


class OverlapRecorder(Recorder):
    """Overlap with every stored pattern, shape (n, batch, n_patterns), computed on demand.

    Computing m = xi s / N every tick costs N P multiply-adds per trial, more than a whole
    synchronous sweep of a Hopfield net with P = N / 10 patterns. When the model can compute the
    overlaps of other states (:meth:`~recurnet_sim.model.Model.overlaps_of`), a recorded tick only
    keeps a copy of the state, and the overlaps of the kept states are computed when something
    reads them (the viewer's bars, the trace), stacked into one product; the rows are the same,
    bit for bit, as calling ``overlaps()`` at each tick (integer states and patterns make every
    sum exact; otherwise each state is computed by itself, as at its tick). The kept states are
    computed early when they reach :attr:`max_pending_bytes`. A model whose ``overlaps_of`` is None
    is read every tick as before.
    """

    name = "overlaps"
    #: computed early beyond this many bytes of kept states (a long run of a big net)
    max_pending_bytes = 64 * 2**20

    def __init__(self, every: int = 1):
        self._model = None
        super().__init__(every)

    def reset(self) -> None:
        super().reset()
        self._rows = RowList(self._compute)
        self._lazy = None
        self._block_bytes = 0  # bytes of states in the kept blocks

    def read(self, sim):
        return sim.model.overlaps()

    def _capture(self, sim) -> None:
        model = sim.model
        if self._is_lazy(model):
            self._rows.append_state(model.state.copy())
            if self._rows.pending_bytes > self.max_pending_bytes:
                self._rows.materialize()
        else:
            self._rows.append(np.array(model.overlaps(), copy=True))

    def _is_lazy(self, model) -> bool:
        if self._lazy is None or self._model is not model:
            self._model = model
            lazy = _ON_DEMAND.get(model)
            if lazy is None:
                lazy = model.overlaps_of(model.state[None][:0]) is not None  # (0, B, N): no work
                _ON_DEMAND[model] = lazy
            self._lazy = lazy
        return self._lazy

    def block_needs(self, sim):
        return frozenset({"states"}) if self._is_lazy(sim.model) else None

    def record_block(self, sim, block, first):
        self._blocks.append((first, block, None))
        self._block_bytes += block.states.nbytes
        if self._block_bytes + self._rows.pending_bytes > self.max_pending_bytes:
            self.rows.materialize()

    def _add_block_rows(self, block, rows, extra):
        self._rows.extend_states(block.states[rows])
        self._block_bytes = 0

    def _compute(self, states: list[np.ndarray]) -> list[np.ndarray]:
        model = self._model
        pats = model.patterns
        exact = (all(np.issubdtype(s.dtype, np.integer) or s.dtype == bool for s in states)
                 and pats is not None and (np.issubdtype(pats.dtype, np.integer) or pats.dtype == bool))
        if exact and len(states) > 1:
            # integer states and patterns: every overlap sum is an exact integer in float64, so one
            # stacked product gives the same bits as one product per tick
            return list(model.overlaps_of(np.stack(states)))
        return [np.asarray(model.overlaps_of(s)) for s in states]

class TemperatureRecorder(Recorder):
    """Temperature per tick, shape (n, batch) (the same for every trial)."""

    name = "temperature"
    _row_kept: np.ndarray | None = None
    _T = 0.0

    def reset(self) -> None:
        super().reset()
        self._row_kept = None  # the last row recorded: read-only, shared by the ticks at its temperature

    def read(self, sim):
        return np.full(sim.model.batch_size, float(sim.model.temperature))

    def _capture(self, sim: "Simulation") -> None:
        self._rows.append(self._row(float(sim.model.temperature), sim.model.batch_size))

    def _row(self, T: float, B: int) -> np.ndarray:
        # The temperature rarely changes: consecutive ticks at the same temperature share one
        # read-only row instead of building an array per tick (the rows and data() are the same).
        row = self._row_kept
        # a new row unless T is the same float (NaN never is; 0.0 and -0.0 keep their sign)
        if row is None or T != self._T or (T == 0 and copysign(1, T) != copysign(1, self._T)) or row.shape[0] != B:
            row = np.full(B, T)
            row.flags.writeable = False
            self._row_kept, self._T = row, T
        return row

    def block_needs(self, sim):
        return frozenset()  # the temperature cannot change inside a block (no annealing there)

    def record_block(self, sim, block, first):
        self._blocks.append((first, block, float(sim.model.temperature)))  # the whole block's

    def _add_block_rows(self, block, rows, T):
        row = self._row(T, block.settled.shape[0])
        self._rows.extend_repeated(row, len(range(*rows.indices(block.ticks))))


class StateRecorder(Recorder):
    """State snapshots every ``every`` ticks, shape (n, batch, n_units)."""

    name = "states"

    def read(self, sim):
        return sim.model.state

    def block_needs(self, sim):
        return frozenset({"states"})

    def block_rows(self, block, rows, extra):
        return block.states[rows]


class AttributeRecorder(Recorder):
    """Any per-tick model attribute (e.g. ``grad_norm_`` of Elman/Jordan), shape (n, batch, ...).

    An attribute whose shape changes between ticks (``loss_per_step_`` is empty before the first
    epoch) is padded with NaN to the largest shape seen."""

    def __init__(self, attribute: str, every: int = 1):
        super().__init__(every)
        self.attribute = attribute
        self.name = attribute.rstrip("_")

    def read(self, sim):
        value = sim.model.recordable(self.attribute)
        if value is None:
            return np.full(sim.model.batch_size, np.nan)
        return value

    def data(self) -> np.ndarray:
        if not self.rows:
            return np.zeros((0,))
        shapes = {np.shape(r) for r in self.rows}
        if len(shapes) == 1:
            return np.stack(self.rows)
        ndim = max(len(sh) for sh in shapes)
        full = tuple(max((sh + (1,) * (ndim - len(sh)))[d] for sh in shapes) for d in range(ndim))
        out = np.full((len(self.rows),) + full, np.nan)
        for i, r in enumerate(self.rows):
            r = np.asarray(r, dtype=float).reshape(np.shape(r) + (1,) * (ndim - np.ndim(r)))
            out[(i,) + tuple(slice(0, n) for n in r.shape)] = r
        return out


def default_recorders(energy=True, flips=True, overlaps=True, temperature=True, snapshot_every=0) -> list[Recorder]:
    out: list[Recorder] = []
    if energy:
        out.append(EnergyRecorder())
    if flips:
        out.append(FlipRecorder())
    if overlaps:
        out.append(OverlapRecorder())
    if temperature:
        out.append(TemperatureRecorder())
    if snapshot_every:
        out.append(StateRecorder(snapshot_every))
    return out


class Trace:
    """Recorded arrays of a run, saved to and loaded from ``.npz`` (no pickle: data, never code).

    Attributes
    ----------
    arrays : dict[str, ndarray]
        ``energy`` (n, batch), ``flips``, ``overlaps`` (n, batch, P), ``states`` (n, batch, N), and the
        matching ``<name>_ticks``.
    meta : dict
        JSON-serialisable facts: scenario, model, seed, pattern names, stop reasons...
    """

    def __init__(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]):
        self.arrays = arrays
        self.meta = meta

    def __getitem__(self, key):
        return self.arrays[key]

    def __contains__(self, key):
        return key in self.arrays

    def save(self, path: str | Path, *, force: bool | None = None) -> Path:
        """Write the trace (compressed ``.npz``) through the atomic writer; returns the path.

        Raises
        ------
        OutputError
            The path cannot be written, or names a file recurnet did not write (unless ``force``).
        """
        arrays = dict(self.arrays)
        arrays["__meta__"] = np.array(json.dumps(self.meta))
        return write_npz(path, arrays, marker=TRACE_FORMAT, compressed=True, force=force)

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        arrays = read_npz(path, "trace", TRACE_FORMAT, required=("__meta__",))
        arrays.pop("format")
        try:
            meta = json.loads(arrays.pop("__meta__"))
        except (TypeError, ValueError):
            meta = None
        if not isinstance(meta, dict):
            raise TraceFileError(f"{path}: trace metadata is not readable")
        return cls(arrays, meta)
