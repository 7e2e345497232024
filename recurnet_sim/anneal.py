"""Annealing schedules: the temperature as a function of the tick.

Simulated annealing (Kirkpatrick, Gelatt & Vecchi 1983) as used by the Boltzmann machine of
Ackley, Hinton & Sejnowski (1985, "A learning algorithm for Boltzmann machines"): the network
is run at a high temperature, which is lowered step by step so that it settles into a deep energy
minimum instead of the nearest one.

The engine calls :meth:`AnnealSchedule.temperature_at` with the 0-based index of the tick about to
run, before that tick's update, and sets ``model.temperature`` to the result; any family with a
temperature (Boltzmann, Hopfield under Glauber dynamics) can therefore be annealed. After the last
step of a bounded schedule the final temperature is held, which is how the 1985 paper collects its
statistics ("then statistics at T=10").

A schedule in a scenario file::

    [dynamics.anneal]
    kind = "steps"
    steps = [[20, 2], [15, 2], [12, 2], [10, 4]]   # (temperature, sweeps)

    [dynamics.anneal]
    kind = "geometric"
    t0 = 10.0
    t_min = 0.05
    factor = 0.9
    sweeps_per_step = 2
"""
from __future__ import annotations

import bisect

import math
from typing import Iterable, Sequence

from .errors import ValidationError
from .spec import Field, Table

__all__ = ["AnnealSchedule", "ANNEAL_TABLE", "anneal_field"]


class AnnealSchedule:
    """A piecewise-constant temperature schedule.

    Parameters
    ----------
    steps : sequence of (float, int)
        ``(temperature, ticks)`` pairs, run in order; a tick is one sweep of the network.
    hold : bool
        Kept for clarity: after the last step the last temperature is held forever.
    unbounded_tail : callable, optional
        For unbounded schedules: ``tail(k)`` gives the temperature of tick ``k`` past ``steps``.

    Attributes
    ----------
    total_ticks : int or None
        Ticks until the schedule reaches its final temperature (None if it never does).
    """

    def __init__(self, steps: Sequence[tuple[float, int]], *, name: str = "steps", tail=None):
        clean: list[tuple[float, int]] = []
        for t, n in steps:
            t, n = float(t), int(n)
            if not math.isfinite(t) or t < 0:
                raise ValueError(f"AnnealSchedule: temperatures must be finite and >= 0, got {t}")
            if n < 0:
                raise ValueError(f"AnnealSchedule: sweeps must be >= 0, got {n}")
            if n > 0:
                clean.append((t, n))
        if not clean and tail is None:
            raise ValueError("AnnealSchedule: needs at least one step with sweeps > 0")
        self.steps: list[tuple[float, int]] = clean
        self.name = name
        self._tail = tail
        # Cumulative end tick of each step, so temperature_at is a short scan (schedules are short).
        self._ends: list[int] = []
        acc = 0
        for _, n in clean:
            acc += n
            self._ends.append(acc)
        self.total_ticks: int | None = acc if tail is None else None

    # ----- constructors ---------------------------------------------------------------------
    @classmethod
    def constant(cls, temperature: float) -> "AnnealSchedule":
        """Always ``temperature`` (bounded: total_ticks 1, then held)."""
        return cls([(temperature, 1)], name="constant")

    @classmethod
    def from_steps(cls, steps: Iterable[tuple[float, int]]) -> "AnnealSchedule":
        """A list of ``(temperature, sweeps)`` steps, as tabulated in Ackley et al. (1985)."""
        return cls(list(steps), name="steps")

    # ``steps`` is the name used in the issue; a classmethod cannot share the attribute name
    # ``self.steps`` on instances, so it is attached below as a staticmethod alias.

    @classmethod
    def geometric(cls, t0: float, t_min: float, factor: float, sweeps_per_step: int = 1) -> "AnnealSchedule":
        """``T_k = t0 * factor**k`` held for ``sweeps_per_step`` sweeps each, until ``t_min``.

        With ``t_min > 0`` the schedule ends with a step at exactly ``t_min`` (then held); with
        ``t_min == 0`` it decays forever (``total_ticks`` is None) — the usual exponential cooling.
        """
        if not (0 < factor < 1):
            raise ValueError(f"AnnealSchedule.geometric: factor must be in (0, 1), got {factor}")
        if t0 <= 0 or t_min < 0 or t_min > t0:
            raise ValueError(f"AnnealSchedule.geometric: need t0 > 0 and 0 <= t_min <= t0, got {t0}, {t_min}")
        if sweeps_per_step < 1:
            raise ValueError(f"AnnealSchedule.geometric: sweeps_per_step must be >= 1, got {sweeps_per_step}")
        if t_min == 0:
            return cls([], name="geometric",
                       tail=lambda k: t0 * factor ** (k // sweeps_per_step))
        steps = []
        t = t0
        while t > t_min * (1 + 1e-12):
            steps.append((t, sweeps_per_step))
            t *= factor
        steps.append((t_min, sweeps_per_step))
        return cls(steps, name="geometric")

    @classmethod
    def linear(cls, t0: float, t1: float, ticks: int) -> "AnnealSchedule":
        """Linear ramp from ``t0`` (tick 0) to ``t1`` (tick ``ticks - 1``), then ``t1`` held."""
        if ticks < 1:
            raise ValueError(f"AnnealSchedule.linear: ticks must be >= 1, got {ticks}")
        if t0 < 0 or t1 < 0:
            raise ValueError("AnnealSchedule.linear: temperatures must be >= 0")
        if ticks == 1:
            return cls([(t1, 1)], name="linear")
        return cls([(t0 + (t1 - t0) * k / (ticks - 1), 1) for k in range(ticks)], name="linear")

    @classmethod
    def ackley1985(cls) -> "AnnealSchedule":
        """The schedule of Ackley, Hinton & Sejnowski (1985), section on the encoder problems.

        2 time units at T=20, 2 at 15, 2 at 12, 4 at 10, where a time unit is one probe per
        unclamped unit (= one sweep here). The paper then collects co-occurrence statistics for
        10 more time units at T=10; the held final temperature gives exactly that.
        """
        return cls([(20.0, 2), (15.0, 2), (12.0, 2), (10.0, 4)], name="ackley1985")

    @classmethod
    def from_config(cls, table: dict) -> "AnnealSchedule":
        """Build from a validated ``[dynamics.anneal]`` table (see :data:`ANNEAL_TABLE`)."""
        kind = table.get("kind", "steps")
        if kind == "steps":
            return cls.from_steps([(float(t), int(n)) for t, n in table["steps"]])
        if kind == "geometric":
            return cls.geometric(table["t0"], table.get("t_min", 0.0), table["factor"],
                                 table.get("sweeps_per_step", 1))
        if kind == "linear":
            return cls.linear(table["t0"], table["t1"], table["ticks"])
        if kind == "ackley1985":
            return cls.ackley1985()
        if kind == "constant":
            return cls.constant(table["t0"])
        raise ValueError(f"AnnealSchedule.from_config: unknown kind {kind!r}")

    # ----- queries ---------------------------------------------------------------------------
    def temperature_at(self, tick: int) -> float:
        """Temperature of the (0-based) ``tick``; the last temperature is held after the end."""
        if tick < 0:
            raise ValueError(f"AnnealSchedule.temperature_at: tick must be >= 0, got {tick}")
        # _ends are the cumulative step ends: a binary search, not a scan (linear schedules have
        # one step per tick, and this is called every tick).
        k = bisect.bisect_right(self._ends, tick)
        if k < len(self._ends):
            return self.steps[k][0]
        if self._tail is not None:
            return float(self._tail(tick - (self._ends[-1] if self._ends else 0)))
        return self.steps[-1][0]

    __call__ = temperature_at

    @property
    def final_temperature(self) -> float | None:
        """Temperature held after the schedule (None if unbounded)."""
        return None if self._tail is not None else self.steps[-1][0]

    def __repr__(self) -> str:
        if self._tail is not None:
            return f"AnnealSchedule({self.name}, unbounded)"
        return f"AnnealSchedule({self.name}, {self.steps!r})"


# ``AnnealSchedule.steps([(T, sweeps), ...])`` as named in the interface: a class-level callable
# that instances shadow with their ``steps`` list attribute.
class _StepsDescriptor:
    def __get__(self, obj, owner):
        if obj is None:
            return owner.from_steps
        return obj.__dict__["steps"]

    def __set__(self, obj, value):
        obj.__dict__["steps"] = value


AnnealSchedule.steps = _StepsDescriptor()  # type: ignore[assignment]


def _check_anneal(table: dict, path: str) -> list[ValidationError]:
    errs: list[ValidationError] = []
    p = (lambda k: f"{path}.{k}" if path else k)
    kind = table["kind"]
    need = {"steps": ["steps"], "geometric": ["t0", "factor"], "linear": ["t0", "t1", "ticks"],
            "constant": ["t0"], "ackley1985": []}[kind]
    for k in need:
        if table.get(k) is None:
            errs.append(ValidationError(p(k), f"is required when kind = {kind!r}"))
    if errs:
        return errs
    if kind == "geometric":
        t_min = table.get("t_min") or 0.0
        if table["t0"] <= 0:
            errs.append(ValidationError(p("t0"), f"must be > 0 for a geometric schedule, got {table['t0']}"))
        elif t_min > table["t0"]:
            errs.append(ValidationError(p("t_min"), f"must be <= t0 ({table['t0']}), got {t_min}"))
        if not 0 < table["factor"] < 1:
            errs.append(ValidationError(p("factor"), f"must be in (0, 1) for a geometric schedule, got {table['factor']}"))
    if kind == "steps" and not any(n > 0 for _, n in table["steps"]):
        errs.append(ValidationError(p("steps"), "needs at least one step with sweeps > 0"))
    return errs


def _check_step(v) -> str | None:
    t, n = v
    if isinstance(n, float) and not float(n).is_integer():
        return f"sweeps must be an integer, got {n}"
    if t < 0 or n < 0:
        return f"must be [temperature >= 0, sweeps >= 0], got {v}"
    return None


#: The ``[dynamics.anneal]`` table (any family with a temperature may use it).
ANNEAL_TABLE = Table(
    {
        "kind": Field("str", "steps", "schedule shape",
                      choices=("steps", "geometric", "linear", "ackley1985", "constant")),
        "steps": Field("list", None, "for kind=steps: [[temperature, sweeps], ...] run in order, last T then held",
                       item=Field("list", item=Field("float", min=0), length=2, check=_check_step),
                       length=(1, None), nullable=True),
        "t0": Field("float", None, "start temperature (geometric, linear, constant)", min=0, nullable=True),
        "t1": Field("float", None, "end temperature (linear)", min=0, nullable=True),
        "t_min": Field("float", 0.0, "geometric: last temperature, then held (0 = cool forever)", min=0),
        "factor": Field("float", None, "geometric: T is multiplied by this each step, in (0, 1)",
                        min=0, max=1, nullable=True),
        "sweeps_per_step": Field("int", 1, "geometric: sweeps at each temperature", min=1),
        "ticks": Field("int", None, "linear: ticks of the ramp", min=1, nullable=True),
    },
    doc="An annealing schedule: before each tick the engine sets the model's temperature to the "
        "schedule's value for that tick (Kirkpatrick et al. 1983; Ackley, Hinton & Sejnowski 1985). "
        "`ackley1985` is 2 sweeps at T=20, 2 at 15, 2 at 12, 4 at 10, then 10 held.",
    extra_check=_check_anneal,
)


def anneal_field(doc: str = "annealing schedule (omit for a constant temperature)") -> Field:
    """A nullable ``Field`` holding :data:`ANNEAL_TABLE`, for a family's ``dynamics`` table."""
    return Field("table", None, doc, table=ANNEAL_TABLE, nullable=True)
