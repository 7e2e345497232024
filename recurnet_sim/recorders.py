"""Recorders (monitors): they observe a simulation and never change it.

Like Brian2's monitors and Nengo's probes, a recorder is scheduled by the engine after the update
of each tick ("record" is the last step of a tick) and reads the model's public attributes only.
Each recorder keeps one row per recorded tick with the batch axis second: ``(n_records, batch, ...)``.
"""
from __future__ import annotations

import json
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
    """Base class. ``every`` records one tick in ``every`` (tick 0, the initial state, always)."""

    name = "recorder"

    def __init__(self, every: int = 1):
        if every < 1:
            raise ValueError("every must be >= 1")
        self.every = every
        self.ticks: list[int] = []
        self.rows: list[np.ndarray] = []

    def reset(self) -> None:
        self.ticks, self.rows = [], []

    def wants(self, tick: int) -> bool:
        return tick % self.every == 0

    def record(self, sim: "Simulation") -> None:
        if self.wants(sim.tick):
            self.ticks.append(sim.tick)
            self.rows.append(np.array(self.read(sim), copy=True))

    def read(self, sim: "Simulation") -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def block_needs(self, sim: "Simulation") -> frozenset | None:
        """What this recorder reads from a :class:`~recurnet_sim.model.TickBlock` (of ``"energy"``,
        ``"flips"``, ``"states"``), or None when it must read the model after every tick itself
        (the engine then runs tick by tick). Default None."""
        return None

    def _block_rows(self, first: int, n: int) -> slice:
        """The block rows (ticks first + 1 .. first + n) this recorder wants, and their ticks."""
        start = (-(first + 1)) % self.every  # the first k with (first + 1 + k) % every == 0
        self.ticks.extend(range(first + 1 + start, first + 1 + n, self.every))
        return slice(start, n, self.every)

    def record_block(self, sim: "Simulation", block, first: int) -> None:
        """Record the ticks ``first + 1 .. first + block.ticks`` of a block (those it wants), the
        same rows :meth:`record` would have kept tick by tick."""
        self.rows.extend(self.block_rows(sim, block, self._block_rows(first, block.ticks)))

    def block_rows(self, sim: "Simulation", block, rows: slice):  # pragma: no cover - interface
        """The recorded rows of block rows ``rows`` (an iterable of arrays)."""
        raise NotImplementedError

    def data(self) -> np.ndarray:
        """Recorded values, shape (n_records, batch, ...)."""
        if not self.rows:
            return np.zeros((0,))
        return np.stack(self.rows)

    def last(self) -> np.ndarray | None:
        return self.rows[-1] if self.rows else None


class EnergyRecorder(Recorder):
    """Energy (or loss) per tick, shape (n, batch)."""

    name = "energy"

    def read(self, sim):
        return sim.model.energy()

    def block_needs(self, sim):
        return frozenset({"energy"})

    def block_rows(self, sim, block, rows):
        return block.energy[rows]  # row views of the block's own array


class FlipRecorder(Recorder):
    """Units changed during each tick, shape (n, batch); 0 at tick 0."""

    name = "flips"

    def read(self, sim):
        return sim.last_flips

    def block_needs(self, sim):
        return frozenset({"flips"})

    def block_rows(self, sim, block, rows):
        return block.flips[rows]


class _LazyRows:
    """The overlap recorder's rows: a list whose entries are computed on first read.

    Each entry is either a computed row (batch, P) or a pending state copy (batch, N) whose
    overlaps ``compute`` gives when the entry is read. Reading an entry (or a slice) computes every
    pending entry up to it in one call, so a trace of n ticks costs one stacked product, and a
    headless run that never reads its overlaps never computes them.
    """

    def __init__(self, compute):
        self._compute = compute
        self._items: list[np.ndarray] = []
        self._pending: list[int] = []  # indices of entries that are still states, ascending
        self.pending_bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def append(self, row: np.ndarray) -> None:
        self._items.append(row)

    def append_state(self, state: np.ndarray) -> None:
        self._pending.append(len(self._items))
        self._items.append(state)
        self.pending_bytes += state.nbytes

    def extend_states(self, states: np.ndarray) -> None:
        """:meth:`append_state` of each row of ``states`` (n, batch, N)."""
        n0 = len(self._items)
        self._pending.extend(range(n0, n0 + len(states)))
        self._items.extend(states)
        self.pending_bytes += states.nbytes

    def materialize(self, upto: int | None = None) -> None:
        """Compute every pending entry with an index below ``upto`` (all when None)."""
        n = len(self._items) if upto is None else upto
        todo = [i for i in self._pending if i < n]
        if not todo:
            return
        rows = self._compute([self._items[i] for i in todo])
        for i, r in zip(todo, rows):
            self.pending_bytes -= self._items[i].nbytes
            self._items[i] = r
        self._pending = [i for i in self._pending if i >= n]

    def __getitem__(self, k):
        if isinstance(k, slice):
            idx = range(*k.indices(len(self._items)))
            if len(idx):
                self.materialize(max(idx) + 1)
            return self._items[k]
        k = range(len(self._items))[k]  # IndexError as a list would raise, negative k resolved
        self.materialize(k + 1)
        return self._items[k]

    def __iter__(self):
        self.materialize()
        return iter(self._items)


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
        super().__init__(every)
        self._model = None
        self._lazy: bool | None = None
        self.rows = _LazyRows(self._compute)

    def reset(self) -> None:
        self.ticks = []
        self.rows = _LazyRows(self._compute)
        self._lazy = None

    def read(self, sim):
        return sim.model.overlaps()

    def _capture(self, sim) -> None:
        model = sim.model
        if self._is_lazy(model):
            self.rows.append_state(model.state.copy())
            if self.rows.pending_bytes > self.max_pending_bytes:
                self.rows.materialize()
        else:
            self.rows.append(np.array(model.overlaps(), copy=True))

    def record(self, sim: "Simulation") -> None:
        if self.wants(sim.tick):
            self.ticks.append(sim.tick)
            self._capture(sim)

    def _is_lazy(self, model) -> bool:
        if self._lazy is None or self._model is not model:
            self._model = model
            self._lazy = model.overlaps_of(model.state[None][:0]) is not None  # (0, B, N): no work
        return self._lazy

    def block_needs(self, sim):
        return frozenset({"states"}) if self._is_lazy(sim.model) else None

    def record_block(self, sim, block, first):
        self.rows.extend_states(block.states[self._block_rows(first, block.ticks)])
        if self.rows.pending_bytes > self.max_pending_bytes:
            self.rows.materialize()

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

    def data(self) -> np.ndarray:
        if not self.rows:
            return np.zeros((0,))
        return np.stack(list(self.rows))


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

    def record(self, sim: "Simulation") -> None:
        if self.wants(sim.tick):
            self.ticks.append(sim.tick)
            self.rows.append(self._row(sim))

    def _row(self, sim) -> np.ndarray:
        # The temperature rarely changes: consecutive ticks at the same temperature share one
        # read-only row instead of building an array per tick (the rows and data() are the same).
        T = float(sim.model.temperature)
        row, B = self._row_kept, sim.model.batch_size
        # a new row unless T is the same float (NaN never is; 0.0 and -0.0 keep their sign)
        if row is None or row.shape[0] != B or T != self._T or (T == 0 and copysign(1, T) != copysign(1, self._T)):
            row = np.full(B, T)
            row.flags.writeable = False
            self._row_kept, self._T = row, T
        return row

    def block_needs(self, sim):
        return frozenset()  # the temperature cannot change inside a block (no annealing there)

    def block_rows(self, sim, block, rows):
        return [self._row(sim)] * len(range(block.ticks)[rows])


class StateRecorder(Recorder):
    """State snapshots every ``every`` ticks, shape (n, batch, n_units)."""

    name = "states"

    def read(self, sim):
        return sim.model.state

    def block_needs(self, sim):
        return frozenset({"states"})

    def block_rows(self, sim, block, rows):
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
