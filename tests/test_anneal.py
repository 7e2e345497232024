"""Annealing schedules (Ackley, Hinton & Sejnowski 1985; Kirkpatrick et al. 1983)."""
import math

import pytest

from recurnet_sim.anneal import ANNEAL_TABLE, AnnealSchedule
from recurnet_sim.errors import ScenarioError
from recurnet_sim.spec import validate


def test_ackley1985_is_the_papers_schedule():
    s = AnnealSchedule.ackley1985()
    temps = [s.temperature_at(k) for k in range(14)]
    assert temps[:10] == [20, 20, 15, 15, 12, 12, 10, 10, 10, 10]
    assert s.total_ticks == 10
    # statistics are collected at the held final temperature
    assert temps[10:] == [10] * 4


def test_steps_constructor_and_hold():
    s = AnnealSchedule.steps([(5, 1), (2, 0), (1, 3)])
    assert [s(k) for k in range(6)] == [5, 1, 1, 1, 1, 1]
    assert s.total_ticks == 4
    assert s.steps == [(5.0, 1), (1.0, 3)]


def test_geometric_bounded_and_unbounded():
    s = AnnealSchedule.geometric(8.0, 1.0, 0.5, sweeps_per_step=2)
    assert [s(k) for k in range(10)] == [8, 8, 4, 4, 2, 2, 1, 1, 1, 1]
    assert s.total_ticks == 8
    u = AnnealSchedule.geometric(8.0, 0.0, 0.5, sweeps_per_step=1)
    assert u.total_ticks is None
    assert u(3) == 1.0
    # cools towards 0 without ever going negative or NaN
    assert 0 <= u(10_000) < 1e-300 or u(10_000) == 0.0
    assert not math.isnan(u(10_000))


def test_linear_reaches_end_and_holds():
    s = AnnealSchedule.linear(4.0, 0.0, 5)
    assert [s(k) for k in range(7)] == [4, 3, 2, 1, 0, 0, 0]
    assert s.total_ticks == 5


def test_monotone_non_increasing():
    for s in (AnnealSchedule.ackley1985(), AnnealSchedule.geometric(3, 0.1, 0.8, 3), AnnealSchedule.linear(2, 0, 30)):
        temps = [s(k) for k in range(60)]
        assert all(a >= b for a, b in zip(temps, temps[1:]))


@pytest.mark.parametrize("bad", [
    lambda: AnnealSchedule.steps([]),
    lambda: AnnealSchedule.steps([(-1, 2)]),
    lambda: AnnealSchedule.geometric(1, 0.1, 1.5),
    lambda: AnnealSchedule.linear(1, 0, 0),
])
def test_bad_constructor_arguments(bad):
    with pytest.raises(ValueError):
        bad()


def test_from_config_round_trip():
    cfg = validate({"kind": "steps", "steps": [[20, 2], [10, 4]]}, ANNEAL_TABLE)
    s = AnnealSchedule.from_config(cfg)
    assert s.steps == [(20.0, 2), (10.0, 4)]
    cfg = validate({"kind": "geometric", "t0": 4, "factor": 0.5, "t_min": 1}, ANNEAL_TABLE)
    assert AnnealSchedule.from_config(cfg).total_ticks == 3
    assert AnnealSchedule.from_config(validate({"kind": "ackley1985"}, ANNEAL_TABLE)).total_ticks == 10


def test_config_errors_name_the_key():
    with pytest.raises(ScenarioError, match="factor: is required"):
        validate({"kind": "geometric", "t0": 1.0}, ANNEAL_TABLE)
    with pytest.raises(ScenarioError, match="did you mean 'geometric'"):
        validate({"kind": "geometic"}, ANNEAL_TABLE)
    with pytest.raises(ScenarioError, match=r"steps\[0\]"):
        validate({"kind": "steps", "steps": [[1, 2.5]]}, ANNEAL_TABLE)
    with pytest.raises(ScenarioError, match="t_min"):
        validate({"kind": "geometric", "t0": 1.0, "t_min": 2.0, "factor": 0.5}, ANNEAL_TABLE)
