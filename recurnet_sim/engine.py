"""The discrete-time engine.

A :class:`Simulation` drives a model in ticks. Each tick runs these phases in this fixed order
(print it with :meth:`Simulation.schedule_summary`):

1. ``perturb``  scheduled perturbations for this tick (the viewer's commands apply at once,
                between ticks, through :meth:`Simulation.apply`),
2. ``anneal``   the annealing schedule (if any) sets the temperature,
3. ``update``   ``model.step`` — one sweep / synchronous update / pass / epoch,
4. ``record``   every recorder reads the model,
5. ``stop``     stop conditions are checked per trial: first ``diverged`` (the model's
                :meth:`~recurnet_sim.model.Model.diverged`: its numbers ran away), then
                ``fixed_point``, ``cycle``, ``condition``, ``max_steps``.

Before tick 0, a family that learns (``Family.train``: a Boltzmann machine's learning cycles, an
SRN's pre-training epochs) gives a :class:`~recurnet_sim.family.TrainingRun`, which the engine
drives one *training tick* at a time (:meth:`Simulation.train_step`), so training is observable —
the viewer draws its curve live, the CLI shows its progress. When it ends, its outputs are written
and tick 0 is taken again: :meth:`Simulation.reset` returns to the *trained* network. ``step``,
``run_steps`` and ``run`` finish pending training first, so a caller that only runs sees the same
trained network as before.

The engine owns the clock, the per-trial random generators and the stop bookkeeping; the model
owns state and rules; recorders observe. Trials of a batch stop independently: a stopped trial is
frozen (no longer updated) while the others go on, so a batch of B trials gives the same results
as B single runs with the same trial seeds.

``step`` runs one tick. ``run``, ``run_steps`` and ``advance`` hand many ticks to one
:meth:`~recurnet_sim.model.Model.run_ticks` call (a compiled loop) where nothing acts between them:
no perturbation scheduled from the current tick on, no annealing and no stop condition, recorders
that read only what a :class:`~recurnet_sim.model.TickBlock` holds (energy, flips, states; the
temperature is constant), and ticks that cannot cycle (:attr:`~recurnet_sim.model.Model.cycle_free`)
or are not looked at for cycles. State, random streams, recorded rows and stop bookkeeping end as
tick by tick (tests/test_tick_blocks.py); other models and runs go tick by tick.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .model import Model
from .perturbations import Perturbation
from .recorders import Recorder, Trace, default_recorders

if TYPE_CHECKING:  # pragma: no cover - types only
    from .family import TrainingRun

#: the phases of one tick, in order (no ``learn`` phase: learning is a separate step before tick 0,
#: :class:`~recurnet_sim.family.TrainingRun`; no family learned while running)
PHASES = ("perturb", "anneal", "update", "record", "stop")

#: what a training progress callback gets: (training ticks done, most ticks, what the last measured)
TrainingProgress = Callable[[int, int, dict], None]

RUNNING = "running"
FIXED_POINT = "fixed_point"
CYCLE = "cycle"
MAX_STEPS = "max_steps"
CONDITION = "condition"
DIVERGED = "diverged"

#: the cycle detector's memory cap for the remembered state keys of a whole batch (bytes); a
#: trial that reaches its share forgets its oldest states (then periods longer than what it
#: still remembers are missed; with the default cap, 10^5 ticks of a 1000-unit Hopfield net fit)
CYCLE_MEMORY_BYTES = 256 * 2**20


@dataclass
class StopConditions:
    """When a trial stops.

    Parameters
    ----------
    max_steps : int
        Stop after this many ticks.
    fixed_point : bool
        Stop when a whole deterministic tick changes no unit.
    cycle : bool
        Stop when a deterministic run revisits a state seen ``period`` >= 2 ticks ago. Every
        state a trial visits since its last perturbation is remembered (a dict from the model's
        ``state_keys`` to the tick: the dict hashes the key and confirms a hit by comparing the
        whole key, so a period is never reported on a hash collision), so any period up to
        ``max_steps`` is found exactly, at one dict insert per trial and tick.
    cycle_memory : int
        No longer the longest detectable period (it was, and periods above it were misreported as
        ``max_steps``). Kept as the number of most recent states always remembered when the
        memory cap :data:`CYCLE_MEMORY_BYTES` is reached; only then are older states forgotten
        (each trial may use ``CYCLE_MEMORY_BYTES / batch`` bytes of keys).
    min_steps : int
        No fixed-point/cycle/condition stop before this tick (max_steps still applies).
    condition : callable, optional
        ``condition(sim) -> bool array (batch,)``: a user stop condition, checked after each tick.
    """

    max_steps: int = 100
    fixed_point: bool = True
    cycle: bool = True
    cycle_memory: int = 32
    min_steps: int = 0
    condition: Callable[["Simulation"], np.ndarray] | None = None


@dataclass
class Result:
    """Outcome of one trial (the same fields as ``recurnet run --json``)."""

    scenario: str
    model: str
    seed: int | None
    trial: int
    steps: int
    sweeps: int
    stop_reason: str
    converged: bool
    cycle_period: int | None
    energy: list[float]
    final_energy: float
    overlaps: dict[str, float]
    recalled: str | None
    recalled_reversed: bool
    elapsed_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in (
            "scenario", "model", "seed", "trial", "steps", "sweeps", "stop_reason", "converged",
            "cycle_period", "energy", "final_energy", "overlaps", "recalled", "recalled_reversed",
            "elapsed_s")}
        d.update(self.extra)
        return d


class Simulation:
    """Runs a model in discrete ticks.

    Parameters
    ----------
    model : Model
        The network, with its state already set to the initial state.
    rngs : list of numpy.random.Generator
        One generator per trial (``len(rngs) == model.batch_size``); see :mod:`recurnet_sim.seeding`.
    stop : StopConditions
    recorders : list of Recorder, optional
        Defaults to energy, flips, overlaps and temperature.
    perturbations : list of (tick, Perturbation)
        Applied at the start of that tick (tick 0 = before the first update).
    anneal : object with ``temperature_at(tick)``, optional
        Annealing schedule; sets ``model.temperature`` before each update.
    name : str
        Scenario name (for results and traces).
    seed : int, optional
        The seed the rngs came from (reported only).
    family : Family, optional
        The declaration of the model's family (:mod:`recurnet_sim.family`): its ``summary``
        gives each result's extra fields.
    training : TrainingRun, optional
        Learning to do before tick 0 (what ``family.train`` returned); see :meth:`train_step`.

    Attributes
    ----------
    training : TrainingRun or None
    training_history : list of dict
        What each training tick measured, in order (``{"cycle": 3, "max_dw": 2.0, ...}``).
    """

    def __init__(
        self,
        model: Model,
        rngs: Sequence[np.random.Generator],
        stop: StopConditions | None = None,
        recorders: list[Recorder] | None = None,
        perturbations: Sequence[tuple[int, Perturbation]] = (),
        anneal=None,
        name: str = "",
        seed: int | None = None,
        first_trial: int = 0,
        info: dict[str, Any] | None = None,
        family=None,
        training: "TrainingRun | None" = None,
    ):
        if len(rngs) != model.batch_size:
            raise ValueError(f"need one rng per trial: {len(rngs)} rngs for batch {model.batch_size}")
        self.model = model
        self.rngs = list(rngs)
        self.stop = stop or StopConditions()
        self.recorders = list(recorders) if recorders is not None else default_recorders()
        self.anneal = anneal
        self._anneal0 = anneal
        self.name = name
        self.seed = seed
        self.first_trial = first_trial
        self.info = dict(info or {})
        self.family = family
        self.scheduled: dict[int, list[Perturbation]] = {}
        for at, p in perturbations:
            self.schedule(p, at)
        self.training = training
        self.training_history: list[dict] = []
        self.training_elapsed_s = 0.0
        self._training_pending = training is not None
        self._store()

    def _store(self) -> None:
        """Everything needed to go back to tick 0 (reset) — Brian2's store()."""
        if self.anneal is not None:
            # Tick 0 is recorded at the schedule's starting temperature, not at whatever came before.
            self.model.temperature = float(self.anneal.temperature_at(0))
        self._initial = self.model.snapshot()
        self._rng_states = [g.bit_generator.state for g in self.rngs]
        self._reset_clock()

    # ----- clock ----------------------------------------------------------------------------
    def _reset_clock(self) -> None:
        B = self.model.batch_size
        self.tick = 0
        self.active = np.ones(B, dtype=bool)
        self.stop_reason = np.array([RUNNING] * B, dtype=object)
        self.stop_tick = np.zeros(B, dtype=int)
        self.cycle_period = np.zeros(B, dtype=int)
        self.last_flips = np.zeros(B, dtype=int)
        self.elapsed_s = 0.0
        self._block_size = self.BLOCK_FIRST_TICKS // 2  # doubled before each block
        #: values read right after each :meth:`apply` (the viewer's perturbations), beside the
        #: recorded value of that tick: list of (tick, {recorder name: row})
        self.marks: list[tuple[int, dict[str, np.ndarray]]] = []
        # per trial: every remembered state key -> the last tick it was seen (insertion order =
        # age, so the oldest is forgotten first if the memory cap is reached)
        self._history: list[dict[bytes, int]] = [{} for _ in range(B)]
        self._history_bytes = [0] * B  # Python ints: updated every tick, one trial at a time
        self._history_cap = CYCLE_MEMORY_BYTES // max(1, B)  # each trial's share of the cap
        # per trial, once the memory cap made it forget states: the smallest window of remembered
        # ticks since (every period up to it was checked; 0: nothing forgotten, all up to max_steps)
        self._window = np.zeros(B, dtype=np.int64)
        for r in self.recorders:
            r.reset()
            r.record(self)
        self._remember_states(np.arange(B))
        # a trial that diverged before tick 0 (in its training) does not run
        self._stop(np.flatnonzero(np.asarray(self.model.diverged(), dtype=bool)), DIVERGED)

    def reset(self) -> None:
        """Back to tick 0: initial state, initial temperature, same random streams.

        Tick 0 is after training: a reset while training is pending finishes the training first
        (a half-trained network is not a state the run can start from)."""
        self._finish_pending_training()
        self.model.restore(self._initial)
        for g, st in zip(self.rngs, self._rng_states):
            g.bit_generator.state = st
        self.anneal = self._anneal0
        self._reset_clock()

    @property
    def done(self) -> bool:
        return not self.active.any()

    @property
    def last_perturbation_tick(self) -> int:
        return max(self.scheduled) if self.scheduled else -1

    # ----- perturbations --------------------------------------------------------------------
    def schedule(self, perturbation: Perturbation, at: int) -> None:
        """Apply ``perturbation`` at the start of tick ``at``."""
        self.scheduled.setdefault(int(at), []).append(perturbation)

    def apply(self, perturbation: Perturbation, rows=None) -> None:
        """Apply a perturbation now (the viewer's path). Stopped trials are woken up, since the
        state they stopped in has changed."""
        perturbation.apply(self, rows)
        idx = np.arange(self.model.batch_size) if rows is None else np.asarray(rows)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        self._wake(idx)
        # Every recorder keeps the value it recorded at this tick (the energy trace is what each
        # tick measured; a flip must not rewrite the converged value). What the perturbation made
        # of the state is kept beside it, as a marked point: (tick, {recorder name: value now}).
        now = {r.name: np.array(r.read(self), copy=True) for r in self.recorders if r.rows and r.ticks[-1] == self.tick}
        if now:
            self.marks.append((self.tick, now))

    def _wake(self, idx: np.ndarray) -> None:
        for b in idx:
            self._history[b].clear()
            self._history_bytes[b] = 0
            if not self.active[b]:
                self.active[b] = True
                self.stop_reason[b] = RUNNING
        self._remember_states(idx)

    # ----- training ---------------------------------------------------------------------------
    @property
    def training_pending(self) -> bool:
        """Whether training ticks remain before tick 0."""
        return self._training_pending

    def train_step(self) -> bool:
        """One training tick (a learning cycle, an epoch); what it measured is appended to
        :attr:`training_history`.

        The first call checks every output path of the training (``check_target``), so a bad
        ``training.save`` fails before any learning. When the training is exhausted this runs its
        ``finish()``, writes its outputs through the atomic writer, takes the trained network as
        the new tick 0 (state snapshot, random-stream states, recorders, clock) and returns False;
        it returns False at once when no training is pending.

        Returns
        -------
        bool
            True when a training tick ran.
        """
        if not self._training_pending:
            return False
        tr = self.training
        t0 = time.perf_counter()
        if not self.training_history:
            self.check_outputs()
        try:
            info = next(tr.ticks)
        except StopIteration:
            self._end_training()
            self.training_elapsed_s += time.perf_counter() - t0
            return False
        self.training_history.append(dict(info))
        self.training_elapsed_s += time.perf_counter() - t0
        return True

    def train(self, progress: TrainingProgress | None = None) -> list[dict]:
        """Drive every pending training tick; returns :attr:`training_history`.

        Parameters
        ----------
        progress : callable(done, total, info), optional
            Called after each training tick with the ticks done so far, the most it will run
            (``TrainingRun.total``) and what the tick measured.
        """
        while self.train_step():
            if progress is not None:
                progress(len(self.training_history), self.training.total, self.training_history[-1])
        return self.training_history

    def check_outputs(self) -> None:
        """Check (without writing) every file the pending training will write.

        Raises
        ------
        OutputError
            An output path is a directory, has no directory, is read-only, or names a file
            recurnet did not write (unless ``--force``, :func:`recurnet_sim.writer.forcing`).
        """
        if self._training_pending:
            for out in self.training.outputs:
                out.check()

    def _finish_pending_training(self) -> None:
        if self._training_pending:
            self.train()

    def _end_training(self) -> None:
        tr = self.training
        self._training_pending = False
        if tr.finish is not None:
            tr.finish()
        for out in tr.outputs:
            out.write(out.path)
        self._store()

    # ----- running --------------------------------------------------------------------------
    def step(self) -> bool:
        """Advance one tick (after finishing any pending training). Returns False (and does
        nothing) when every trial has stopped."""
        if self._training_pending:
            self.train()
        active = self.active
        # the active trials' indices (nonzero: a tenth of the cost of active.any() on a small batch;
        # this runs every tick, next to a sweep of a few microseconds)
        act = active.nonzero()[0]
        if not act.size:
            return False
        t0 = time.perf_counter()
        model = self.model
        # 1. perturb (the perturbation wakes only active trials: act stays the active set)
        if self.scheduled:
            for p in self.scheduled.get(self.tick, ()):
                p.apply(self, act)
                self._wake(act)
        # 2. anneal
        if self.anneal is not None:
            model.temperature = float(self.anneal.temperature_at(self.tick))
        # 3. update
        flips = np.asarray(model.step(self.rngs, active))
        if act.size == active.size and flips.shape == active.shape:
            # every trial ran: np.where(active, flips, 0) would be a copy of flips, same dtype
            self.last_flips = flips.copy()
        else:
            self.last_flips = np.where(active, flips, 0)
        self.tick += 1
        # 4. record
        for r in self.recorders:
            r.record(self)
        # 5. stop
        self._check_stop(act)
        self.elapsed_s += time.perf_counter() - t0
        return True

    def run_steps(self, n: int) -> None:
        """Advance up to ``n`` ticks (fewer if every trial stops), after any pending training."""
        self.advance(self.tick + n)

    def run(self, max_steps: int | None = None):
        """Run (after any pending training) until every trial stops; returns a :class:`Result`
        (batch of 1) or a list of them."""
        if max_steps is not None:
            self.stop.max_steps = max_steps
        self.advance()
        results = self.results()
        return results[0] if len(results) == 1 else results

    def advance(self, until: int | None = None, progress: Callable[[], None] | None = None) -> None:
        """Run ticks, after any pending training, until tick ``until`` (None: until every trial
        stops): in blocks where the model offers them (:meth:`_run_block`), else tick by tick, the
        same ticks either way. ``progress()`` is called after each tick or block."""
        self._finish_pending_training()
        needs = self._block_needs()
        while until is None or self.tick < until:
            if needs is not None:
                ran = self._run_block(needs, until)
                if ran:
                    if progress is not None:
                        progress()
                    continue
                if ran is None:
                    needs = None  # the model runs tick by tick (its kernel, schedule or state)
            if not self.step():
                break
            if progress is not None:
                progress()

    #: the first block runs this many ticks at most, each next one twice as many (a cue that
    #: settles in a few sweeps allocates little), up to BLOCK_MAX_TICKS and BLOCK_MAX_BYTES of states
    BLOCK_FIRST_TICKS = 8
    BLOCK_MAX_TICKS = 4096
    BLOCK_MAX_BYTES = 16 * 2**20

    def _block_needs(self) -> frozenset | None:
        """What the recorders read from a block of ticks (:class:`~recurnet_sim.model.TickBlock`),
        or None when this run must go tick by tick: something acts between ticks (annealing, a
        stop condition) or a recorder reads the model itself (whether the model's ticks may cycle
        is :meth:`_run_block`'s to check, block by block)."""
        if self.anneal is not None or self.stop.condition is not None:
            return None
        needs: frozenset = frozenset()
        for r in self.recorders:
            n = r.block_needs(self)
            if n is None:
                return None
            needs |= n
        return needs

    def _run_block(self, needs: frozenset, until: int | None) -> bool | None:
        """Several ticks in one :meth:`Model.run_ticks` call, when no perturbation is scheduled
        from this tick on: the model, the recorders and the stop bookkeeping end as tick by tick.
        True when ticks ran, False when a block cannot run now, None when none can (the model
        declined, or its ticks may cycle and cycles are looked for)."""
        stop, tick, model = self.stop, self.tick, self.model
        if stop.cycle and model.deterministic and not model.cycle_free:
            return None  # its ticks may cycle and cycles are looked for: tick by tick
        if tick <= self.last_perturbation_tick or self._training_pending:
            return False
        act = self.active.nonzero()[0]
        if not act.size:
            return False
        limit = max(1, stop.max_steps - tick)
        if until is not None:
            limit = min(limit, until - tick)
        B, N = model.batch_size, model.n_units
        self._block_size = min(2 * self._block_size, self.BLOCK_MAX_TICKS)
        K = min(limit, self._block_size)
        keep_states = "states" in needs
        if keep_states:
            K = max(1, min(K, self.BLOCK_MAX_BYTES // max(1, B * N)))
        # the first tick whose fixed point may end a trial, counted from this block's start
        if stop.fixed_point and model.settles:
            settle_from = max(1, stop.min_steps - tick)
        else:
            settle_from = K + 1
        t0 = time.perf_counter()
        block = model.run_ticks(self.rngs, self.active, K, settle_from, keep_states)
        if block is None:
            return None
        n = block.ticks
        self.tick = tick + n
        self.last_flips = block.flips[n - 1]  # read only, like every recorded row
        for r in self.recorders:
            r.record_block(self, block, tick)
        done = block.settled.nonzero()[0]  # (only active trials settle)
        if done.size:
            self._stop(done, FIXED_POINT, tick + block.settled[done])
            act = self.active.nonzero()[0]
        if self.tick >= stop.max_steps:
            self._stop(act, MAX_STEPS)
        self.elapsed_s += time.perf_counter() - t0
        return True

    def _remember_states(self, idx) -> None:
        if not self.stop.cycle or self.model.cycle_free:  # cycle_free: no state can recur
            return
        keys = self._state_keys(idx)
        for b, k in zip(idx, keys):
            self._remember(b, k)

    def _remember(self, b: int, key: bytes) -> None:
        hist = self._history[b]
        if key in hist:
            del hist[key]  # re-inserted at the newest end: it is the newest visit
        else:
            self._history_bytes[b] += len(key) + 64  # key + a dict entry, roughly
        hist[key] = self.tick
        if self._history_bytes[b] > self._history_cap:
            self._forget(b)

    def _forget(self, b: int) -> None:
        """Forget trial b's oldest states until its keys fit its share of the memory cap."""
        hist = self._history[b]
        while self._history_bytes[b] > self._history_cap and len(hist) > max(2, self.stop.cycle_memory):
            old = next(iter(hist))
            del hist[old]
            self._history_bytes[b] -= len(old) + 64
            w = self.tick - next(iter(hist.values()))
            self._window[b] = w if not self._window[b] else min(int(self._window[b]), w)

    def _state_keys(self, idx) -> list[bytes]:
        return self.model.state_keys(idx)

    def _check_stop(self, act: np.ndarray | None = None) -> None:
        """The stop phase. ``act``: the trials active during this tick's update (what
        ``self.active.nonzero()[0]`` gives; recomputed here only after a trial stopped).

        This runs every tick beside sweeps of a few microseconds, so it avoids numpy calls whose
        fixed cost is the whole work on a small batch (``ndarray.any()``, boolean masks of size 1):
        ``nonzero`` and Python ints instead, the same decisions."""
        stop = self.stop
        model = self.model
        tick = self.tick
        if act is None:
            act = self.active.nonzero()[0]
        may_settle = tick >= stop.min_steps and tick > self.last_perturbation_tick
        if self.anneal is not None:
            total = getattr(self.anneal, "total_ticks", None)
            if total is None or tick < total:
                may_settle = False
        # A trial whose numbers ran away (Model.diverged) stops first, before any other reason
        # could be read off its (meaningless) state.
        div = np.asarray(model.diverged(), dtype=bool)
        if div.nonzero()[0].size:
            self._stop(act[div[act]], DIVERGED)
            act = self.active.nonzero()[0]
        deterministic = bool(model.deterministic)
        if may_settle and stop.fixed_point and act.size and bool(model.settles):
            lf = self.last_flips
            if lf.size == 1:  # one trial (active): a Python comparison, no mask
                fp = act if lf.item() == 0 else None
            else:
                fp = (lf == 0).nonzero()[0] if act.size == lf.size else act[(lf[act] == 0).nonzero()[0]]
            if fp is not None and fp.size:
                self._stop(fp, FIXED_POINT)
                act = self.active.nonzero()[0]
        # a cycle_free model (Hopfield's descent) cannot revisit a state: nothing to remember
        if stop.cycle and act.size and not model.cycle_free:
            history = self._history
            if deterministic:
                keys = self._state_keys(act)
                cycled = False
                for b, k in zip(act.tolist(), keys):
                    hist = history[b]
                    if may_settle:
                        t = hist.get(k)
                        if t is not None and tick - t >= 2:
                            self.cycle_period[b] = tick - t
                            self._stop(np.array([b]), CYCLE)
                            cycled = True
                    self._remember(b, k)
                if cycled:
                    act = self.active.nonzero()[0]
            else:
                for b in act.tolist():
                    if history[b]:
                        history[b].clear()
                        self._history_bytes[b] = 0
        if may_settle and stop.condition is not None and act.size:
            hit = np.asarray(stop.condition(self), dtype=bool)
            self._stop(act[hit[act]], CONDITION)
            act = self.active.nonzero()[0]
        if tick >= stop.max_steps:
            self._stop(act, MAX_STEPS)

    def _stop(self, idx: np.ndarray, reason: str, at: np.ndarray | None = None) -> None:
        """Stop trials ``idx`` for ``reason`` at this tick, or at ``at`` (one tick per trial)."""
        if len(idx) == 0:
            return
        if len(idx) <= 8:  # scalar writes: a tenth of the cost of fancy indexing on a small batch
            for k, b in enumerate(idx.tolist()):
                self.active[b] = False
                self.stop_reason[b] = reason
                self.stop_tick[b] = self.tick if at is None else int(at[k])
            return
        self.active[idx] = False
        self.stop_reason[idx] = reason
        self.stop_tick[idx] = self.tick if at is None else at

    # ----- results --------------------------------------------------------------------------
    def recorder(self, name: str) -> Recorder | None:
        for r in self.recorders:
            if r.name == name:
                return r
        return None

    def results(self) -> list[Result]:
        """One :class:`Result` per trial (trials still running report ``running``)."""
        model = self.model
        energy_rec = self.recorder("energy")
        E = energy_rec.data() if energy_rec is not None and energy_rec.rows else None
        ticks = np.asarray(energy_rec.ticks) if E is not None else None
        overlaps = model.overlaps()
        recalled = model.recalled(overlaps)
        final_E = model.energy()
        extra_fn = self.family.summary if self.family is not None else None
        names = model.pattern_names
        out = []
        for b in range(model.batch_size):
            steps = int(self.stop_tick[b]) if not self.active[b] else self.tick
            energy = [] if E is None else [float(x) for x in E[ticks <= steps, b]]
            name, rev = recalled[b]
            extra = extra_fn(model, b) if extra_fn is not None else {}
            if self._window[b] and self.stop_reason[b] != CYCLE:
                # honest about the memory cap: a cycle longer than this could have been missed
                extra = {**extra, "cycle_checked_up_to_period": int(self._window[b])}
            out.append(Result(
                scenario=self.name,
                model=model.network_type,
                seed=self.seed,
                trial=self.first_trial + b,
                steps=steps,
                sweeps=steps,
                stop_reason=str(self.stop_reason[b]),
                converged=self.stop_reason[b] == FIXED_POINT,
                cycle_period=int(self.cycle_period[b]) if self.stop_reason[b] == CYCLE else None,
                energy=energy,
                final_energy=float(final_E[b]),
                overlaps=dict(zip(names, overlaps[b].tolist())),  # tolist: the same floats, one C call
                recalled=name,
                recalled_reversed=rev,
                elapsed_s=round(self.elapsed_s, 6),
                extra=extra,
            ))
        return out

    def trace(self) -> Trace:
        """The recorded arrays and run facts, ready to save as ``.npz``."""
        arrays: dict[str, np.ndarray] = {}
        for r in self.recorders:
            if r.rows:
                arrays[r.name] = r.data()
                arrays[r.name + "_ticks"] = np.asarray(r.ticks)
        # What a model can only show at the end (e.g. the last epoch's activations over time).
        arrays.update({f"final_{k}": np.asarray(v) for k, v in self.model.trace_arrays().items()})
        arrays["stop_tick"] = self.stop_tick.copy()
        arrays["cycle_period"] = self.cycle_period.copy()
        arrays.update(self.training_arrays())
        meta = {
            "scenario": self.name,
            "model": self.model.network_type,
            "seed": self.seed,
            "first_trial": self.first_trial,
            "tick": self.tick,
            "stop_reason": [str(s) for s in self.stop_reason],
            "pattern_names": list(self.model.pattern_names),
        }
        if self.training is not None:
            meta["training"] = {"unit": self.training.unit, "label": self.training.label,
                                "ticks": len(self.training_history), "total": self.training.total}
        return Trace(arrays, meta)

    def training_arrays(self) -> dict[str, np.ndarray]:
        """The training history as arrays: ``training_<key>`` (the values of every numeric or
        boolean key the training measured) and ``training_<key>_ticks`` (the 1-based training
        ticks at which it was measured: a key such as ``solved`` is measured only every few
        cycles)."""
        out: dict[str, np.ndarray] = {}
        keys = dict.fromkeys(k for h in self.training_history for k in h)
        for k in keys:
            at = [(i, h[k]) for i, h in enumerate(self.training_history, 1)
                  if isinstance(h.get(k), (bool, int, float, np.bool_, np.number))]
            if not at:
                continue
            out[f"training_{k}"] = np.asarray([v for _, v in at])
            out[f"training_{k}_ticks"] = np.asarray([i for i, _ in at])
        return out

    def schedule_summary(self) -> str:
        """The order in which each tick runs its phases, with what runs in each."""
        lines = []
        if self.training is not None:
            tr = self.training
            lines.append(f"Before tick 0: train  up to {tr.total} {tr.unit}(s) ({tr.label}), one per training tick"
                         + (", then write " + ", ".join(str(o.path) for o in tr.outputs) if tr.outputs else ""))
        lines.append(f"Simulation of {self.model.network_type} (batch {self.model.batch_size}), one tick:")
        pert = ", ".join(f"t={t}: " + "; ".join(p.describe() for p in ps) for t, ps in sorted(self.scheduled.items()))
        lines.append(f"  1. perturb   scheduled [{pert or 'none'}] (viewer commands apply between ticks)")
        lines.append(f"  2. anneal    {type(self.anneal).__name__ if self.anneal is not None else 'none'}")
        rule = self.model.update_rule
        lines.append(f"  3. update    {type(self.model).__name__}.step" + (f" ({rule})" if rule else ""))
        lines.append("  4. record    " + ", ".join(r.name for r in self.recorders))
        s = self.stop
        conds = [f"max_steps={s.max_steps}"]
        if s.fixed_point:
            conds.append("fixed_point")
        if s.cycle:
            conds.append("cycle(any period up to max_steps)")
        if s.condition is not None:
            conds.append("condition")
        lines.append("  5. stop      " + ", ".join(conds))
        return "\n".join(lines)
