"""Recorders (monitors): they observe a simulation and never change it.

Like Brian2's monitors and Nengo's probes, a recorder is scheduled by the engine after the update
of each tick ("record" is the last step of a tick) and reads the model's public attributes only.
Each recorder keeps one row per recorded tick with the batch axis second: ``(n_records, batch, ...)``.
"""
from __future__ import annotations

import json
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


class FlipRecorder(Recorder):
    """Units changed during each tick, shape (n, batch); 0 at tick 0."""

    name = "flips"

    def read(self, sim):
        return sim.last_flips


class OverlapRecorder(Recorder):
    """Overlap with every stored pattern, shape (n, batch, n_patterns)."""

    name = "overlaps"

    def read(self, sim):
        return sim.model.overlaps()


class TemperatureRecorder(Recorder):
    """Temperature per tick, shape (n, batch) (the same for every trial)."""

    name = "temperature"

    def read(self, sim):
        return np.full(sim.model.batch_size, float(sim.model.temperature))


class StateRecorder(Recorder):
    """State snapshots every ``every`` ticks, shape (n, batch, n_units)."""

    name = "states"

    def read(self, sim):
        return sim.model.state


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
