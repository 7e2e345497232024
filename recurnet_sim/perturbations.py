"""Perturbation commands.

A perturbation is a small frozen object with ``apply(sim, rows)``. Scenario files schedule them at a
tick (``[[perturb]]``); the viewer applies the very same objects on a key press or click through
:meth:`Simulation.apply`. They change the model only through its perturbation API
(``flip``, ``set_units``, ``set_clamped``, ``load_pattern``, ``set_state``, ``temperature``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .errors import SimulationError

if TYPE_CHECKING:  # pragma: no cover
    from .engine import Simulation

ACTIONS = ("flip", "flip_fraction", "set_region", "clamp", "unclamp", "set_temperature", "load_pattern", "noise")


def _row_indices(sim: "Simulation", rows) -> np.ndarray:
    if rows is None:
        return np.arange(sim.model.batch_size)
    rows = np.asarray(rows)
    return np.flatnonzero(rows) if rows.dtype == bool else rows.astype(int)


def region_mask(n_units: int, grid_shape, units=None, rows=None, cols=None) -> np.ndarray:
    """Bool mask (n_units,) of explicit ``units`` and/or a rectangle ``rows=[r0, r1)``, ``cols=[c0, c1)``
    of the unit grid."""
    mask = np.zeros(n_units, dtype=bool)
    if units is not None:
        u = np.asarray(list(units), dtype=int)
        if u.size and (u.min() < 0 or u.max() >= n_units):
            raise SimulationError(f"unit index out of range 0..{n_units - 1}")
        mask[u] = True
    if rows is not None or cols is not None:
        if grid_shape is None:
            raise SimulationError("rows/cols need a network with a grid shape")
        nr, nc = grid_shape
        r0, r1 = rows if rows is not None else (0, nr)
        c0, c1 = cols if cols is not None else (0, nc)
        grid = np.zeros((nr, nc), dtype=bool)
        grid[r0:r1, c0:c1] = True
        extra = grid.ravel()
        mask[: extra.size] |= extra
    return mask


@dataclass(frozen=True)
class Perturbation:
    """Base: ``apply(sim, rows)`` changes the trials ``rows`` (all when None)."""

    def apply(self, sim: "Simulation", rows=None) -> None:  # pragma: no cover - interface
        raise NotImplementedError

    def describe(self) -> str:
        return type(self).__name__


@dataclass(frozen=True)
class FlipUnits(Perturbation):
    """Flip the given units (indices or a bool mask)."""

    units: tuple = ()
    mask: np.ndarray | None = field(default=None, compare=False)

    def apply(self, sim, rows=None):
        r = _row_indices(sim, rows)
        sim.model.flip(self.mask if self.mask is not None else list(self.units), r)

    def describe(self):
        n = int(np.count_nonzero(self.mask)) if self.mask is not None else len(self.units)
        return f"flip {n} unit(s)"


@dataclass(frozen=True)
class FlipFraction(Perturbation):
    """Flip exactly round(fraction * N) units chosen at random in each trial (its own rng)."""

    fraction: float = 0.1
    units: tuple | None = None  # restrict to these units (e.g. one layer); None = all

    def apply(self, sim, rows=None):
        r = _row_indices(sim, rows)
        sim.model.flip_fraction(self.fraction, [sim.rngs[b] for b in r], r, self.units)

    def describe(self):
        return f"flip {self.fraction:.0%} of units"


@dataclass(frozen=True)
class SetRegion(Perturbation):
    """Set a region (units and/or a grid rectangle) to ``value``."""

    value: float = -1.0
    units: tuple | None = None
    rows: tuple | None = None
    cols: tuple | None = None

    def apply(self, sim, rows=None):
        m = sim.model
        mask = region_mask(m.n_units, m.describe().get("grid_shape"), self.units, self.rows, self.cols)
        m.set_units(mask, self.value, _row_indices(sim, rows))

    def describe(self):
        return f"set region to {self.value:g}"


@dataclass(frozen=True)
class Clamp(Perturbation):
    """Clamp (``on=True``) or release units: clamped units keep their value."""

    on: bool = True
    units: tuple | None = None
    rows: tuple | None = None
    cols: tuple | None = None
    mask: np.ndarray | None = field(default=None, compare=False)

    def apply(self, sim, rows=None):
        m = sim.model
        mask = self.mask
        if mask is None:
            mask = region_mask(m.n_units, m.describe().get("grid_shape"), self.units, self.rows, self.cols)
        m.set_clamped(mask, self.on, _row_indices(sim, rows))

    def describe(self):
        return "clamp units" if self.on else "release units"


@dataclass(frozen=True)
class SetTemperature(Perturbation):
    """Set the temperature (it stays until changed again or an annealing schedule sets it)."""

    temperature: float = 0.0

    def apply(self, sim, rows=None):
        if self.temperature < 0:
            raise SimulationError("temperature must be >= 0")
        sim.model.temperature = float(self.temperature)
        sim.anneal = None  # a manual temperature overrides any running schedule

    def describe(self):
        return f"T = {self.temperature:g}"


@dataclass(frozen=True)
class LoadPattern(Perturbation):
    """Replace the state by stored pattern ``pattern`` (name or 0-based index), then flip a
    fraction ``noise`` of its units."""

    pattern: str | int = 0
    noise: float = 0.0

    def apply(self, sim, rows=None):
        m = sim.model
        k = self.pattern
        if isinstance(k, str):
            if k not in m.pattern_names:
                raise SimulationError(f"no stored pattern named {k!r}; stored: {', '.join(m.pattern_names)}")
            k = m.pattern_names.index(k)
        r = _row_indices(sim, rows)
        m.load_pattern(int(k), r)
        if self.noise > 0:
            FlipFraction(self.noise).apply(sim, r)

    def describe(self):
        return f"load pattern {self.pattern}" + (f" + {self.noise:.0%} noise" if self.noise else "")


@dataclass(frozen=True)
class AddNoise(Perturbation):
    """The model's noise (:meth:`Model.add_noise`): binary units flip ``sigma`` as a fraction,
    continuous units get Gaussian noise of standard deviation ``sigma``."""

    sigma: float = 0.1
    units: tuple | None = None

    def apply(self, sim, rows=None):
        m = sim.model
        r = _row_indices(sim, rows)
        m.add_noise(self.sigma, [sim.rngs[b] for b in r], r, self.units)

    def describe(self):
        return f"noise {self.sigma:g}"


def from_config(entry: dict) -> tuple[int, Perturbation]:
    """Build (tick, perturbation) from one validated ``[[perturb]]`` table."""
    a = entry["action"]
    at = entry["at"]
    units = tuple(entry["units"]) if entry.get("units") is not None else None
    rows = tuple(entry["rows"]) if entry.get("rows") is not None else None
    cols = tuple(entry["cols"]) if entry.get("cols") is not None else None
    if a == "flip":
        return at, FlipUnits(units or ())
    if a == "flip_fraction":
        return at, FlipFraction(entry["fraction"], units)
    if a == "set_region":
        return at, SetRegion(entry["value"], units, rows, cols)
    if a in ("clamp", "unclamp"):
        return at, Clamp(a == "clamp", units, rows, cols)
    if a == "set_temperature":
        return at, SetTemperature(entry["temperature"])
    if a == "load_pattern":
        return at, LoadPattern(entry["pattern"], entry["noise"])
    if a == "noise":
        return at, AddNoise(entry["fraction"], units)
    raise AssertionError(a)  # validated before
