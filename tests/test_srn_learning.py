"""Seeded learning runs reproduce the published error *profiles* (Elman 1990; Jordan 1986)."""
from __future__ import annotations

import json
import pathlib

import numpy as np
import pytest

from recurnet_sim.families.srn import tasks
from recurnet_sim.families.srn import elman, jordan, model as srn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _rngs(n, base=0):
    return [np.random.default_rng(base + b) for b in range(n)]


def test_temporal_xor_error_dips_on_every_third_bit():
    """Elman 1990, Fig. 3: after training, the error is low when the target is the XOR bit and
    stays at chance (squared error 1/8 for a 0.5 guess... or worse) on the two random bits."""
    rngs = _rngs(4)
    task = tasks.temporal_xor(rngs, 600)
    m = elman.make(task, 8, rngs, train_cfg=srn.TrainConfig(lr=0.1, momentum=0.9, truncation=12))
    losses = srn.train(m, 120)
    prof = m.loss_profile()  # (B, 3): random 1, random 2, xor
    assert task.phase_names == ("random 1", "random 2", "xor")
    for b in range(4):
        rand = prof[b, :2]
        assert prof[b, 2] < 0.5 * rand.min(), prof[b]
        assert rand.min() > 0.1  # random bits cannot be predicted (chance = 0.125)
    assert np.all(losses[-1] < losses[0])
    # the dip is there all along the sequence, not just on average: profile per block of 150 steps
    for lo in range(0, 600, 150):
        block = srn.phase_profile(m.loss_per_step_[:, lo:lo + 150], _Slice(task, lo, lo + 150))
        assert np.all(block[:, 2] < 0.5 * block[:, :2].min(axis=1)), block


class _Slice:
    def __init__(self, task, lo, hi):
        self.phase, self.mask, self.phase_names = task.phase[:, lo:hi], task.mask[:, lo:hi], task.phase_names


def test_letters_error_falls_on_predictable_vowels():
    """Elman 1990, Fig. 4: error is high at consonant onsets (which consonant is random) and low on
    the vowels the consonant determines."""
    rngs = _rngs(3, 10)
    task = tasks.letters(rngs, 200)
    m = elman.make(task, 8, rngs, train_cfg=srn.TrainConfig(lr=0.2, momentum=0.9, truncation=12))
    srn.train(m, 40)
    prof = m.loss_profile()  # consonant, vowel
    assert np.all(prof[:, 1] < 0.25 * prof[:, 0]), prof
    # the 'consonant' feature bit itself becomes predictable: the net knows *when* a word ends
    out = m.output_trace_
    cons_target = task.targets[:, :, 0] == 1
    assert np.mean(out[:, :, 0][cons_target] > 0.5) > 0.8


def test_letters_from_asset_file():
    text = tasks.load_sequence(ROOT / "assets/sequences/letters.txt")
    assert set(text) <= set("bdgaiu")
    task = tasks.letters(_rngs(2), text=text)
    assert task.inputs.shape == (2, len(text) - 1, 6)


def test_jordan_abac_needs_mu_above_zero():
    """Jordan 1986: with mu = 0 the state after each A is the same, so B and C cannot both follow;
    with mu > 0 the decayed memory of earlier outputs tells the two A's apart."""
    seqs = tasks.load_sequences(ROOT / "assets/sequences/jordan_abac.txt")
    assert seqs == ["ABAC"]
    rngs = _rngs(3)
    task = tasks.sequence_production(rngs, seqs)
    res = {}
    for mu in (0.0, 0.5):
        m = jordan.make(task, 6, rngs, mu=mu, teacher_forcing=True,
                        train_cfg=srn.TrainConfig(lr=0.5, momentum=0.9, bptt="full"))
        srn.train(m, 200)
        res[mu] = m
    acc = lambda m: (m.output_trace_.argmax(-1) == task.targets.argmax(-1)).mean(1)
    assert np.all(acc(res[0.5]) == 1.0)
    assert np.all(res[0.5].loss_profile() < 0.05)
    # mu = 0: positions 2 and 4 (B after A, C after A) stay at ln 2 each — a coin flip
    prof0 = res[0.0].loss_profile()
    assert np.all(prof0[:, [1, 3]] > 0.6) and np.all(prof0[:, [0, 2]] < 0.05)
    assert np.all(acc(res[0.0]) <= 0.75)


def test_free_run_reaches_fixed_point_and_engine_detects_it():
    from recurnet_sim.engine import Simulation, StopConditions

    rngs = _rngs(2)
    task = tasks.temporal_xor(rngs, 30)
    cfg = srn.SRNConfig(kind="elman", n_in=1, n_hidden=4, n_out=1)
    p = srn.init_params(cfg, rngs, recurrent_radius=0.5)  # contracting: one fixed point
    m = elman.ElmanNetwork(cfg, p, task, mode="free", free_input="output")
    sim = Simulation(m, rngs, StopConditions(max_steps=500))
    results = sim.run()
    assert all(r.stop_reason == "fixed_point" for r in results)
    # a fixed point of the hidden map: one more step changes nothing
    h = m.state[:, m.layers["hidden"]].copy()
    assert np.all(m.step(rngs, np.ones(2, bool)) == 0)
    np.testing.assert_allclose(m.state[:, m.layers["hidden"]], h, atol=1e-6)


def test_free_run_cycle_is_detected():
    """A linear net rotating the hidden state by 2*pi/5 (radius 1) has period 5 exactly."""
    from recurnet_sim.engine import Simulation, StopConditions

    rngs = _rngs(1)
    task = tasks.temporal_xor(rngs, 30)
    cfg = srn.SRNConfig(kind="elman", n_in=1, n_hidden=2, n_out=1, activation="linear", output="linear",
                        context_init=0.0)
    p = srn.init_params(cfg, rngs)
    a = 2 * np.pi / 5
    p["W_ch"][0] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    p["W_xh"][0] = 0.0
    m = elman.ElmanNetwork(cfg, p, task, mode="free", free_input="fixed")
    m.set_units(np.arange(m.n_units)[m.layers["context"]], 0.7)  # the context the first step uses
    sim = Simulation(m, rngs, StopConditions(max_steps=100))
    r = sim.run()
    assert r.stop_reason == "cycle" and r.cycle_period == 5


def test_reset_restores_initial_weights():
    from recurnet_sim.engine import Simulation, StopConditions

    rngs = _rngs(2)
    task = tasks.temporal_xor(rngs, 60)
    m = elman.make(task, 4, rngs)
    w0 = m.params_["W_ch"].copy()
    sim = Simulation(m, rngs, StopConditions(max_steps=5, fixed_point=False, cycle=False))
    first = [r.energy for r in sim.run()]
    assert not np.allclose(m.params_["W_ch"], w0)
    sim.reset()
    np.testing.assert_array_equal(m.params_["W_ch"], w0)
    assert [r.energy for r in sim.run()] == first


def test_other_tasks_are_well_formed():
    rngs = _rngs(2)
    r = tasks.reber(rngs, 300)
    assert r.inputs.shape == (2, 300, 7) and np.allclose(r.inputs.sum(-1), 1)
    s = tasks.reber_string(np.random.default_rng(0))
    legal = tasks.reber_legal_next(s)
    nxt = np.eye(7)[["BTSXPVE".index(c) for c in s[1:]]]
    assert np.all((legal[:-1] * nxt).sum(1) == 1)  # every actual next symbol is legal
    d = tasks.delayed_recall(rngs, 50, lag=3)
    np.testing.assert_array_equal(d.targets[:, 3:], d.inputs[:, :-3])
    assert np.all(d.mask[:, :3] == 0)


SCENARIOS = sorted(
    [p for pat in ("elman_*.toml", "jordan_*.toml", "gradient_flow*.toml") for p in (ROOT / "scenarios").glob(pat)]
)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.name)
def test_shipped_scenario_runs(path):
    from recurnet_sim.scenario import load_scenario

    sim = load_scenario(path, max_steps=3, trials=1)
    res = sim.run()
    d = res.to_dict()
    json.dumps(d)
    assert d["model"] in ("elman", "jordan", "lstm", "gru") and np.isfinite(d["final_energy"])


def test_pretraining_is_the_train_step_not_build(tmp_path):
    """build is pure: validate trains nothing and writes no file; a run pretrains through the
    engine (one training tick per epoch, each with its mean loss) and writes training.save_to,
    whose weights are the trained ones the run starts from."""
    import contextlib
    import io

    from recurnet_sim.cli import main
    from recurnet_sim.scenario import load_scenario

    text = (ROOT / "scenarios" / "elman_free_run.toml").read_text()
    text = text.replace("pretrain_epochs = 60", 'pretrain_epochs = 4\nsave_to = "trained.npz"')
    text = text.replace("length = 600", "length = 60").replace("max_steps = 500", "max_steps = 3")
    path = tmp_path / "run.toml"
    path.write_text(text)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        assert main(["validate", str(path)]) == 0
    assert not (tmp_path / "trained.npz").exists()

    sim = load_scenario(path)
    m = sim.model
    assert m.mode == "train" and m.epoch_ == 0  # built, not trained
    sim.run()
    assert m.epoch_ == 4 and m.mode == "free"
    losses = [info["loss"] for info in sim.training_history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    cfg, params, _ = srn.load_weights(tmp_path / "trained.npz")
    assert cfg == m.cfg
    # the file holds the weights after pretraining: free running does not change them
    for k in srn.PARAM_NAMES:
        np.testing.assert_array_equal(params[k], m.params_[k])
    assert all(np.all(v == 0) for v in m.velocity_.values())
