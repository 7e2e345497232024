"""Runaway numbers: divergence is detected, reported and stops the trial cleanly; JSON stays strict;
overflowing weights and energies are refused; ties hold for float couplings with rational structure."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from recurnet_sim import load_scenario
from recurnet_sim.analysis import gradflow
from recurnet_sim.cli import _strict_json, main
from recurnet_sim.engine import DIVERGED, MAX_STEPS


def _strict_load(text: str):
    def refuse(token):
        raise AssertionError(f"non-strict JSON token {token}")
    return json.loads(text, parse_constant=refuse)


def run_json(capsys, *argv):
    code = main(["run", *argv, "--headless", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in err and "RuntimeWarning" not in err
    return _strict_load(out)


@pytest.mark.parametrize("sets", [
    ["training.lr=5", "network.activation=relu"],      # was "final_loss": Infinity, exit 0
    ["training.lr=50", "network.activation=linear"],   # was LinAlgError in the spectral radius
])
def test_elman_divergence_stops_the_trial_and_says_what_to_try(capsys, sets):
    args = ["elman_letters"] + [a for s in sets for a in ("--set", s)]
    d = run_json(capsys, *args)
    for t in d["trials"]:
        assert t["stop_reason"] == DIVERGED and t["converged"] is False
        assert t["diverged_at_epoch"] == t["steps"] >= 1
        assert "training.lr" in t["divergence"] and "training.clip" in t["divergence"]
        # the weights kept are the last finite ones: the analyses still read numbers
        assert np.isfinite(t["spectral_radius"])
        # the diverging epoch's loss was NaN: strict JSON says null (it printed NaN before)
        assert t["energy"][-1] is None and t["final_energy"] is None and t["final_loss"] is None


def test_jordan_at_huge_lr_diverges_without_a_traceback(capsys):
    d = run_json(capsys, "jordan_sequence", "--set", "training.lr=1e8")
    assert d["stop_reason"] == DIVERGED and d["diverged_at_epoch"] >= 1


def test_text_summary_names_the_divergence(capsys):
    code = main(["run", "elman_letters", "--headless", "--set", "training.lr=50", "--set", "network.activation=relu"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "trial 1: stopped: diverged after 1 step(s)" in out and "diverged_at_epoch 1" in out


def test_tanh_saturation_is_reported_not_silent(capsys):
    d = run_json(capsys, "elman_letters", "--set", "training.lr=50")
    assert d["stop_reason"] == MAX_STEPS  # tanh is bounded: nothing runs away, learning stalls
    assert d["saturated_fraction"] > 0.9 and "training.lr" in d["saturation"]


def test_a_healthy_run_reports_no_divergence_or_saturation(capsys):
    d = run_json(capsys, "elman_letters")
    for t in d["trials"]:
        assert t["stop_reason"] == MAX_STEPS and "divergence" not in t and "saturation" not in t


def test_diverged_trial_is_frozen_and_reset_undoes_it():
    sim = load_scenario("scenarios/elman_letters.toml", {"training.lr": 50, "network.activation": "relu"},
                        trials=2, max_steps=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning escapes the training
        sim.run()
    assert list(sim.stop_reason) == [DIVERGED, DIVERGED] and list(sim.stop_tick) == [1, 1]
    for v in sim.model.params_.values():
        assert np.isfinite(v).all()
    sim.reset()
    assert not sim.model.diverged().any() and sim.active.all()


def test_spectral_radius_of_nonfinite_weights_is_nan_not_linalgerror():
    W = np.stack([np.eye(3) * 0.5, np.full((3, 3), np.inf)])
    r = gradflow.spectral_radius(W)
    assert r[0] == pytest.approx(0.5) and np.isnan(r[1])


def test_strict_json_turns_every_nonfinite_float_into_null():
    o = {"a": float("nan"), "b": [np.float64("inf"), 1.5, -np.inf], "c": np.array([np.nan, 2.0]),
         "d": {"e": (np.float32(np.nan),)}}
    text = json.dumps(_strict_json(o), allow_nan=False)
    assert _strict_load(text) == {"a": None, "b": [None, 1.5, None], "c": [None, 2.0], "d": {"e": [None]}}


def test_one_trial_diverging_leaves_the_others_as_single_runs():
    """Trials stop independently: at lr 1.5 (relu) trials 2 and 3 diverge in epoch 1 while 0 and 1
    train on, exactly as they do alone."""
    over = {"training.lr": 1.5, "network.activation": "relu"}
    sim = load_scenario("scenarios/elman_letters.toml", over, trials=4)
    batch = sim.run()
    assert [r.stop_reason for r in batch] == [MAX_STEPS, MAX_STEPS, DIVERGED, DIVERGED]
    assert [r.extra.get("diverged_at_epoch") for r in batch] == [None, None, 1, 1]
    alone = load_scenario("scenarios/elman_letters.toml", over, trials=1).run()
    assert alone.energy == batch[0].energy and np.isfinite(alone.energy).all()
