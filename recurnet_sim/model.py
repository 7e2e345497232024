"""The small protocol every network family speaks.

A model *holds state and rules*; it never records itself, never does I/O and never owns the clock.
The :class:`~recurnet_sim.engine.Simulation` calls, once per tick, in this fixed order:

1. perturbations scheduled for the tick (through the methods below: ``flip``, ``set_state`` ...),
2. ``model.temperature = schedule(tick)`` when an annealing schedule is set,
3. ``flips = model.step(rngs, active)`` — one tick of the dynamics (a *sweep*: ``sweep_size`` unit
   updates, or one synchronous update, or one pass/epoch for the families where that is the unit),
4. recorders read ``state``, ``energy()``, ``overlaps()`` ...

Learning is not a phase of a tick: a family that learns gives the engine a separate sequence of
training ticks before tick 0 (``Family.train``, :class:`~recurnet_sim.family.TrainingRun`).

Every array carries a leading *batch* axis: ``state`` is ``(batch, n_units)``, so B independent
trials advance in one vectorised step. Randomness comes only from ``rngs``, a list with one
``numpy.random.Generator`` per trial: trial b draws only from ``rngs[b]``, which is what makes a
batch of B trials identical to B single runs with the same seeds.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any, Sequence

import numpy as np

from .errors import SimulationError


class Schedule(str, Enum):
    """Update schedules of the unit-based families.

    SYNCHRONOUS  all units at once from the same old state (Little 1974).
    SEQUENTIAL   asynchronous, units 0..N-1 in a fixed order (Hopfield 1982).
    RANDOM       asynchronous, a fresh random order each sweep.
    GLAUBER      stochastic asynchronous at temperature T, random order (Glauber 1963):
                 p(s_i = +1) = 1 / (1 + exp(-2 h_i / T)).
    """

    SYNCHRONOUS = "synchronous"
    SEQUENTIAL = "sequential"
    RANDOM = "random"
    GLAUBER = "glauber"


@dataclass(frozen=True)
class UnitUpdate:
    """One unit update inside a tick, in the order the dynamics applied it (the viewer's
    sub-sweep stepping replays a tick from these).

    unit : int            index of the updated unit
    before, after : float its value before and after the update
    field : float         its local field h_i at that moment (from the state as it was then)
    delta_energy : float  E(after) - E(before) of that single update (0 when unchanged)
    p_on : float | None   probability of the "on" value it was drawn with (stochastic rules), else None
    """

    unit: int
    before: float
    after: float
    field: float
    delta_energy: float
    p_on: float | None = None


@dataclass(slots=True)
class TickBlock:
    """What :meth:`Model.run_ticks` ran: several ticks in one call, with what the recorders read
    after each of them (row k is the tick ``first tick + k + 1``; a trial that stopped or was not
    active keeps its last values: no flips, the same energy and state).

    ticks : int                 ticks run: the engine's clock advances this many
    flips : int64 (ticks, B)    units changed in each tick
    energy : float64 (ticks, B) ``energy()`` after each tick, the same bits
    states : (ticks, B, N) or None   the state after each tick, when asked for
    settled : int64 (B,)        per trial, the tick (1-based, counted from the block's start) whose
                                update changed no unit and that may end it as a fixed point; 0: none
    """

    ticks: int
    flips: np.ndarray
    energy: np.ndarray
    states: np.ndarray | None
    settled: np.ndarray


class Model:
    """Base class of all families. Subclasses set the attributes below and implement ``step``.

    Attributes
    ----------
    network_type : str
        The scenario's ``network.type`` this model was built for (its family declares it).
    state : ndarray, shape (batch, n_units)
        The current unit values. For layered families the layers are concatenated; ``layers``
        names the slices.
    clamped : ndarray of bool, shape (batch, n_units)
        Units that the dynamics must not change.
    temperature : float
        Current temperature (0 = deterministic).
    patterns : ndarray, shape (n_patterns, n_units) or None
        Stored patterns (for overlaps and "load pattern k").
    pattern_names : list of str
    sweep_size : int
        Unit updates per sweep (N), used to report sweeps.
    deterministic : bool
        Whether the next state is a function of the current one (cycle detection is only
        meaningful then).
    settles : bool
        Whether a tick without change is a fixed point (fixed-point detection uses it).
    energy_label : str
        ``"energy"`` or ``"loss"`` — what ``energy()`` returns.
    """

    network_type: str = "base"
    energy_label: str = "energy"
    #: the energy (or loss) as a short formula for the plot title, in ASCII (the viewer's font has
    #: no superscript T); empty when there is no short one
    energy_formula: str = ""
    unit_values: tuple[float, float] = (-1.0, 1.0)

    state: np.ndarray
    clamped: np.ndarray
    temperature: float = 0.0
    patterns: np.ndarray | None = None
    pattern_names: list[str] = []

    # ----- the protocol -------------------------------------------------------------------
    @property
    def batch_size(self) -> int:
        return self.state.shape[0]

    @property
    def n_units(self) -> int:
        return self.state.shape[1]

    @property
    def sweep_size(self) -> int:
        return self.n_units

    @property
    def deterministic(self) -> bool:
        """Whether the next state is a function of the current one (so a revisited state is a
        cycle): no temperature and no random update order."""
        return self.temperature == 0

    @property
    def settles(self) -> bool:
        """Whether a tick that changes no unit means the state is a fixed point (true without
        temperature even when the update order is random: every unit agreed with its field)."""
        return self.deterministic

    def step(self, rngs: Sequence[np.random.Generator], active: np.ndarray) -> np.ndarray:
        """Advance the active trials by one tick; return the number of changed units, shape (batch,)."""
        raise NotImplementedError

    def energy(self) -> np.ndarray:
        """Energy (or loss) of each trial, shape (batch,)."""
        raise NotImplementedError

    @property
    def cycle_free(self) -> bool:
        """Whether no state can recur except as a fixed point: every tick that changes a unit
        strictly lowers a Lyapunov function (asynchronous updates of a symmetric net with a
        non-negative diagonal, Hopfield 1982). The engine then looks for no cycle. Default False."""
        return False

    def run_ticks(self, rngs: Sequence[np.random.Generator], active: np.ndarray, ticks: int, settle_from: int,
                  keep_states: bool) -> TickBlock | None:
        """Optionally, up to ``ticks`` ticks of the active trials in one call (one compiled loop),
        the same as that many :meth:`step` calls: the engine asks when nothing else happens between
        the ticks (no perturbation, annealing or stop condition; only recorders that read energy,
        flips, state and temperature) and the model's ticks are deterministic and cannot cycle
        (:attr:`cycle_free`) or are not looked at for cycles.

        A trial ends at its first tick that changes no unit, counted from the block's start, at or
        after ``settle_from`` (1-based; larger than ``ticks``: it never ends early); the call returns
        when every trial has ended or ``ticks`` ran. ``keep_states``: fill ``TickBlock.states``.
        Only models whose numbers cannot run away offer it (no :meth:`diverged` check in between).

        Returns None (the default) when the model cannot: the engine then runs tick by tick."""
        return None

    def diverged(self) -> np.ndarray:
        """Per trial, whether its numbers ran away (the family defines it, e.g. a non-finite or
        blown-up loss): the engine then stops the trial with the stop reason ``diverged``, keeping
        what it has. Default: never, shape (batch,)."""
        return np.zeros(self.batch_size, dtype=bool)

    def overlaps(self) -> np.ndarray:
        """Overlap m_mu = xi_mu . s / N with every stored pattern, shape (batch, n_patterns)."""
        return Model._base_overlaps(self, self.state)

    def _base_overlaps(self, states: np.ndarray) -> np.ndarray:
        if self.patterns is None or len(self.patterns) == 0:
            return np.zeros(np.shape(states)[:-1] + (0,))
        lo, hi = self.unit_values
        # Map 0/1 units to +-1 so the overlap means the same for both unit kinds.
        s = states if lo == -1 else 2.0 * states - 1.0
        xi = self.patterns if lo == -1 else 2.0 * self.patterns - 1.0
        return (s @ xi.T.astype(float)) / self.n_units

    def overlaps_of(self, states: np.ndarray) -> np.ndarray | None:
        """What :meth:`overlaps` gives when the network is in ``states`` (..., batch, n_units), shape
        (..., batch, n_patterns), bit for bit, without changing the model: the overlap recorder keeps
        cheap state copies and computes their overlaps only when they are read. None when the
        family cannot (its overlaps are not a function of the state alone): the recorder then calls
        :meth:`overlaps` every tick. Default: the formula above for a family that keeps it, else None."""
        if type(self).overlaps is not Model.overlaps:
            return None
        return Model._base_overlaps(self, np.asarray(states))

    def recalled(self, overlaps: np.ndarray | None = None) -> list[tuple[str | None, bool]]:
        """Per trial: (name of the pattern with the largest |overlap|, reversed?), or (None, False)
        where the family says nothing was recalled. ``overlaps`` (batch, n_patterns): this tick's
        :meth:`overlaps`, when the caller has them already (the viewer's recorder row)."""
        m = self.overlaps() if overlaps is None else overlaps
        if m.shape[1] == 0:
            return [(None, False)] * self.batch_size
        k = np.argmax(np.abs(m), axis=1)
        return [(self.pattern_names[j], bool(m[b, j] < 0)) for b, j in enumerate(k)]

    #: index of each trial's target pattern (the cue's source), shape (batch,), or None when the
    #: scenario has no target; :meth:`outcome` says whether it was reached
    target: np.ndarray | None = None

    def outcome(self, trial: int = 0) -> dict[str, Any]:
        """What trial ``trial``'s state *is*, honestly (:mod:`recurnet_sim.outcome`): kind
        (stored / reversed / mixture / spurious, or the family's own), a one-line label, success
        (target reached; None without a target), the nearest stored pattern and its Hamming
        distance, and the wrong units. The window, the text summary and ``--json`` all show it.
        Default: binary units compared with ``patterns`` over every unit."""
        from .outcome import default_outcome
        return default_outcome(self, trial)

    #: named unit ranges of a layered network (``{"x": slice(0, 120), "y": slice(120, 127)}``);
    #: empty for a single layer
    layers: dict[str, slice] = {}

    @property
    def tick_unit(self) -> str:
        """What one tick of :meth:`step` is: ``"sweep"`` (N unit updates, or one synchronous
        update), ``"pass"`` (one layer of a bidirectional net), ``"epoch"`` (a training pass over
        the task), ``"step"`` (one time step of a sequence). Plot axes and summaries use it."""
        return "sweep"

    def weight_matrix(self, trial: int = 0) -> np.ndarray | None:
        """Trial ``trial``'s connections as a full (n_units, n_units) matrix, entry [i, j] = the
        weight from unit j to unit i (the graph view draws it); None when the family has none."""
        return None

    def current_target(self, trial: int = 0) -> np.ndarray | None:
        """What the output units should show now (a supervised family's target at the current
        step), shape (n_outputs,); None when there is no target."""
        return None

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Outputs for new input sequences ``inputs`` (batch, T, n_in) without changing the
        model, for families that map inputs to outputs."""
        raise SimulationError(f"a {self.network_type} network does not map inputs to outputs")

    @property
    def update_rule(self) -> str:
        """How one tick updates the units, for the printed schedule (``"synchronous"``...);
        empty when the family has only one rule."""
        return ""

    def flip_fraction(self, fraction: float, rngs: Sequence[np.random.Generator], rows, units=None) -> None:
        """Flip exactly ``round(fraction * n)`` of the units (or of ``units``) in each trial of
        ``rows``, chosen by that trial's generator (``rngs`` holds one per row)."""
        pool = np.arange(self.n_units) if units is None else np.asarray(units, dtype=int)
        k = int(round(fraction * pool.size))
        mask = np.zeros((self.batch_size, self.n_units), dtype=bool)
        for g, b in zip(rngs, rows):
            mask[b, g.choice(pool, size=k, replace=False)] = True
        self.flip(mask, rows)

    def add_noise(self, fraction: float, rngs: Sequence[np.random.Generator], rows, units=None) -> None:
        """The noise perturbation: :meth:`flip_fraction` for binary units. Families of continuous
        units override it (Gaussian noise of standard deviation ``fraction``)."""
        self.flip_fraction(fraction, rngs, rows, units)

    def recordable(self, name: str):
        """The value of attribute ``name`` for an attribute recorder (None when the model has no
        such attribute: the recorder writes NaN)."""
        return getattr(self, name, None)

    def state_keys(self, idx) -> list[bytes]:
        """Per trial in ``idx``, a key that is equal exactly when the states are the same state of
        the dynamics (the engine's cycle detector compares them). Default: the state's bytes."""
        return [self.state[b].tobytes() for b in idx]

    #: set by the viewer's sub-sweep stepping: while true, a unit-based family records every unit
    #: update of the last tick for :meth:`unit_updates` (it may take its slower reference path)
    trace_units: bool = False

    def unit_updates(self, trial: int = 0) -> tuple[UnitUpdate, ...]:
        """The unit updates of trial ``trial``'s last tick, in order, when ``trace_units`` was set
        for that tick; empty for a family whose tick is not a sequence of unit updates."""
        return ()

    def temperature_control(self) -> str | None:
        """Why the viewer's temperature keys would not act on these dynamics, in one line (shown in
        the status line), or None when setting :attr:`temperature` changes them. Default: a
        network running at T > 0 uses its temperature; one at T = 0 is taken to have none (the
        viewer also lets the keys act when the run's recorded temperature was ever above 0, as
        after an anneal to 0)."""
        return None if self.temperature > 0 else f"this {self.network_type} network has no temperature"

    def use_temperature(self, apply: bool = True) -> str | None:
        """Switch to the stochastic form of the dynamics so that a temperature acts (e.g. a
        deterministic unit schedule to Glauber dynamics); returns what changed in one line, or
        None when there is no such form (then :meth:`temperature_control` says why). With
        ``apply=False`` only says what it would do (the help overlay). A reset (:meth:`restore`)
        goes back to the scenario's dynamics. Default: None."""
        return None

    def trace_arrays(self) -> dict[str, np.ndarray]:
        """Arrays only known at the end of a run (saved in the trace as ``final_<name>``)."""
        return {}

    def is_stable(self) -> np.ndarray | None:
        """Per trial, whether a deterministic sweep would change nothing (None if unknown)."""
        return None

    # ----- perturbation API (the viewer and scenario perturbations call exactly these) ----
    def set_state(self, values: np.ndarray, rows: np.ndarray | slice | None = None) -> None:
        """Replace the state of the given trials (all when ``rows`` is None); caches are rebuilt."""
        rows = slice(None) if rows is None else rows
        values = np.asarray(values, dtype=self.state.dtype)
        self.state[rows] = values
        self._state_changed(rows)

    def flip(self, units: Sequence[int] | np.ndarray, rows: np.ndarray | slice | None = None) -> None:
        """Flip the given units (index list, or bool mask of shape (n_units,) or (batch, n_units))."""
        lo, hi = self.unit_values
        rows = slice(None) if rows is None else rows
        mask = self._unit_mask(units)
        sub = self.state[rows]
        flipped = np.where(sub == hi, lo, hi).astype(self.state.dtype)
        self.state[rows] = np.where(mask if mask.ndim == 1 else mask[rows], flipped, sub)
        self._state_changed(rows)

    def set_units(self, units, value: float, rows=None) -> None:
        """Set the given units (a region) to ``value``."""
        rows = slice(None) if rows is None else rows
        mask = self._unit_mask(units)
        sub = self.state[rows]
        self.state[rows] = np.where(mask if mask.ndim == 1 else mask[rows], value, sub)
        self._state_changed(rows)

    def set_clamped(self, units, clamped: bool = True, rows=None) -> None:
        """Clamp (or release) units: clamped units keep their value under the dynamics."""
        rows = slice(None) if rows is None else rows
        mask = self._unit_mask(units)
        if mask.ndim == 1:
            sub = self.clamped[rows]
            sub[:, mask] = clamped
            self.clamped[rows] = sub
        else:
            self.clamped[rows] = np.where(mask[rows], clamped, self.clamped[rows])

    def load_pattern(self, k: int, rows=None) -> None:
        """Replace the state by stored pattern k (0-based); with per-trial patterns (B, P, N),
        each trial takes its own."""
        self._put_pattern(self.patterns, k, rows)

    def _put_pattern(self, patterns: np.ndarray | None, k: int, rows=None) -> None:
        """:meth:`load_pattern` from ``patterns`` ((P, N) or per trial (B, P, N)), in state units."""
        n = 0 if patterns is None else patterns.shape[-2]
        if not 0 <= k < n:
            raise SimulationError(f"pattern {k + 1} does not exist ({n} stored)")
        rows = slice(None) if rows is None else rows
        self.state[rows] = patterns[rows, k] if patterns.ndim == 3 else patterns[k]
        self._state_changed(rows)

    def _state_changed(self, rows) -> None:
        """Hook: rebuild caches (e.g. local fields) of the given trials after an outside change."""

    def _unit_mask(self, units) -> np.ndarray:
        u = np.asarray(units)
        if u.dtype == bool:
            if u.shape[-1] != self.n_units:
                raise SimulationError(f"unit mask has {u.shape[-1]} units, network has {self.n_units}")
            return u
        mask = np.zeros(self.n_units, dtype=bool)
        if u.size:
            if u.min() < 0 or u.max() >= self.n_units:
                raise SimulationError(f"unit index out of range 0..{self.n_units - 1}: {u.tolist()}")
            mask[u.astype(int)] = True
        return mask

    # ----- store / restore (reset, replay) ------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Copy of everything that changes while running (Brian2's ``store``)."""
        return {"state": self.state.copy(), "clamped": self.clamped.copy(), "temperature": self.temperature}

    def restore(self, snap: dict[str, Any]) -> None:
        """Return to a :meth:`snapshot` (Brian2's ``restore``)."""
        self.state[...] = snap["state"]
        self.clamped[...] = snap["clamped"]
        self.temperature = snap["temperature"]
        self._state_changed(slice(None))

    # ----- description for the viewer / summaries -----------------------------------------
    def describe(self) -> dict[str, Any]:
        """Static facts a viewer or summary may show (layer slices, grid shape...)."""
        return {"network_type": self.network_type, "n_units": self.n_units}
