"""The compiled SRN training epoch (recurnet_sim/families/srn/kernels.py) against the numpy path.

The compiled epoch does numpy's arithmetic in the same association, but sums matrix-vector products
in ascending index order where numpy's BLAS may block them, so the two agree to rounding, not bit for
bit. Stated tolerance: states, losses, gradients and trained weights after one epoch agree to
1e-11 relative (plus 1e-13 absolute for values near 0); the observed differences are ~1e-15.
The compiled gradients themselves pass the central finite-difference check (tests/fdcheck.py).

The first run compiles one epoch per cell (~5 s each on a loaded 2-core machine), later runs load
numba's on-disk cache.
"""
from __future__ import annotations

import numpy as np
import pytest
from fdcheck import fd_grad
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("numba")

from recurnet_sim.families.srn import bptt, cells  # noqa: E402
from recurnet_sim.families.srn import kernels as K  # noqa: E402

RTOL, ATOL = 1e-11, 1e-13




@st.composite
def problems(draw):
    kind = draw(st.sampled_from(["elman", "jordan", "lstm", "gru"]))
    I, H, O = draw(st.integers(1, 3)), draw(st.integers(1, 4)), draw(st.integers(1, 3))
    B, T = draw(st.integers(1, 3)), draw(st.integers(2, 14))
    output = draw(st.sampled_from(["sigmoid", "softmax", "linear"]))
    loss = "squared_error" if output == "linear" else draw(st.sampled_from(["cross_entropy", "squared_error"]))
    cfg_kw = dict(kind=kind, n_in=I, n_hidden=H, n_out=O, output=output, loss=loss,
                  activation=draw(st.sampled_from(["tanh", "sigmoid", "relu", "linear"])),
                  mu=draw(st.sampled_from([0.0, 0.5])), teacher_forcing=kind == "jordan" and draw(st.booleans()),
                  peepholes=kind == "lstm" and draw(st.booleans()), context_init=draw(st.sampled_from([0.0, 0.5])))
    mode = draw(st.sampled_from(["full", "truncated", "elman"]))
    h = draw(st.integers(1, 6))
    tc_kw = dict(bptt=mode, truncation=h, update_every=draw(st.integers(1, h)) if mode == "truncated" else None,
                 clip=draw(st.sampled_from([None, 0.05, 10.0])), optimizer=draw(st.sampled_from(["sgd", "adam"])),
                 lr=0.05)
    seed = draw(st.integers(0, 2**31))
    flags = dict(reset=draw(st.booleans()), mask=draw(st.booleans()), inactive=B > 1 and draw(st.booleans()))
    return bptt.SRNConfig(**cfg_kw), bptt.TrainConfig(**tc_kw), B, T, seed, flags


def _data(cfg, B, T, seed, flags):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(B, T, cfg.n_in))
    if cfg.output == "softmax":
        D = np.eye(cfg.n_out)[rng.integers(0, cfg.n_out, (B, T))]
    else:
        D = rng.uniform(size=(B, T, cfg.n_out))
    mask = (rng.uniform(size=(B, T)) < 0.5).astype(float) if flags["mask"] else None
    reset = rng.uniform(size=(B, T)) < 0.2 if flags["reset"] else None
    active = None
    if flags["inactive"]:
        active = np.ones(B, bool)
        active[rng.integers(B)] = False
    return X, D, mask, reset, active


def _train(cfg, tc, B, X, D, mask, reset, active, kernel, seed, epochs=1):
    p = bptt.init_params(cfg, [np.random.default_rng(seed + b) for b in range(B)])
    v = {k: np.zeros_like(a) for k, a in p.items()}
    mo = bptt.AdamMoments.zeros_like(p)
    out = [bptt.train_epoch(cfg, tc, p, v, X, D, mask, reset, active=active, moments=mo, kernel=kernel)
           for _ in range(epochs)]
    return p, v, mo, out


def _close(a, b, what):
    if a is None or b is None:
        assert a is None and b is None, what
        return
    np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL, err_msg=what)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_compiled_epoch_agrees_with_numpy(problem):
    """Every cell, size, BPTT(h; h') setting, optimizer, clip, reset, mask and frozen trial: one
    epoch on each kernel gives the same states, losses, gradient norms and trained weights."""
    cfg, tc, B, T, seed, flags = problem
    X, D, mask, reset, active = _data(cfg, B, T, seed, flags)
    p0, v0, m0, (r0,) = _train(cfg, tc, B, X, D, mask, reset, active, "numpy", seed)
    p1, v1, m1, (r1,) = _train(cfg, tc, B, X, D, mask, reset, active, "compiled", seed)
    assert r0.n_updates == r1.n_updates
    for k in p0:
        _close(p0[k], p1[k], f"weights {k}")
        _close(v0[k], v1[k], f"velocity/first moment {k}")
        _close(m0.v[k], m1.v[k], f"second moment {k}")
    np.testing.assert_array_equal(m0.t, m1.t)
    for f in ("loss", "loss_per_step", "hidden", "outputs", "context", "grad_norm", "grad_norm_max",
              "update_norm_max", "carry_next", "gates", "carry_after"):
        _close(getattr(r0, f), getattr(r1, f), f)
    if active is not None:  # the frozen trial kept its initial weights on both kernels
        b = int(np.flatnonzero(~active)[0])
        init = bptt.init_params(cfg, [np.random.default_rng(seed + i) for i in range(B)])
        for k in p1:
            np.testing.assert_array_equal(p1[k][b], init[k][b])


@pytest.mark.parametrize("kind,extra", [("elman", {}), ("jordan", {}), ("jordan", {"teacher_forcing": True}),
                                        ("lstm", {"peepholes": True}), ("gru", {})])
@pytest.mark.parametrize("output", ["sigmoid", "softmax"])
def test_compiled_gradient_matches_finite_differences(kind, extra, output):
    """With lr = 0 and full BPTT the compiled epoch leaves the weights alone and hands back the
    gradient of the epoch's mean loss (masked, with a reset): it is the derivative of the loss the
    same kernel measures, by central differences."""
    B, T = 2, 9
    cfg = bptt.SRNConfig(kind=kind, n_in=2, n_hidden=3, n_out=2, output=output, **extra)
    tc = bptt.TrainConfig(bptt="full", lr=0.0, momentum=0.0)
    rng = np.random.default_rng(7)
    X = rng.normal(size=(B, T, 2))
    D = np.eye(2)[rng.integers(0, 2, (B, T))] if output == "softmax" else rng.uniform(size=(B, T, 2))
    mask = (rng.uniform(size=(B, T)) < 0.7).astype(float)
    mask[:, -1] = 1.0
    reset = np.zeros((B, T), bool)
    reset[:, 4] = True
    p = bptt.init_params(cfg, [np.random.default_rng(b) for b in range(B)], scale=2.0)
    ck = cfg.cell.kernel()
    fp = bptt.FlatParams(cfg, B)

    def run(q):
        v = {k: np.zeros_like(a) for k, a in q.items()}
        g = np.empty((B, fp.P))
        res = K.train_epoch(cfg, tc, ck, q, v, X, D, mask, reset, grad_out=g)
        return res.loss, g

    before = {k: a.copy() for k, a in p.items()}
    _, g = run(p)
    for k in p:
        np.testing.assert_array_equal(p[k], before[k])  # lr = 0: nothing moved
    grads = fp.views(g)[1]
    fd = fd_grad(lambda q: run(q)[0], p)
    for k in p:
        np.testing.assert_allclose(grads[k], fd[k], rtol=1e-6, atol=1e-8, err_msg=k)


def test_a_cell_without_a_kernel_trains_on_numpy_bit_for_bit():
    """A cell that does not opt in (``Cell.kernel()`` is None) runs the numpy path even when the
    compiled kernel is asked for: the same numbers exactly."""

    class PlainGRU(cells.GRUCell):
        def kernel(self):
            return None

    cfg = bptt.SRNConfig(kind="gru", n_in=2, n_hidden=3, n_out=2)
    cfg.__dict__["cell"] = PlainGRU(2, 3, cfg.context_init)  # the cached cell, replaced
    rng = np.random.default_rng(1)
    X, D = rng.normal(size=(2, 8, 2)), rng.uniform(size=(2, 8, 2))
    tc = bptt.TrainConfig(bptt="truncated", truncation=3)
    p0, _, _, (r0,) = _train(cfg, tc, 2, X, D, None, None, None, "numpy", 0)
    p1, _, _, (r1,) = _train(cfg, tc, 2, X, D, None, None, None, "compiled", 0)
    for k in p0:
        np.testing.assert_array_equal(p0[k], p1[k])
    np.testing.assert_array_equal(r0.hidden, r1.hidden)


def test_bptt_defaults_to_numpy_and_the_environment_selects_compiled(monkeypatch):
    """bptt.train_epoch unnamed runs the numpy reference; RECURNET_KERNEL=compiled switches it; a
    kernel the caller names (as the model does) wins."""
    monkeypatch.delenv("RECURNET_KERNEL", raising=False)
    assert bptt.selected_kernel() == "numpy"
    monkeypatch.setenv("RECURNET_KERNEL", "compiled")
    assert bptt.selected_kernel() == "compiled"
    assert bptt.selected_kernel("numpy") == "numpy"
    with pytest.raises(ValueError, match="kernel"):
        bptt.selected_kernel("fast")


def _kernel_calls(monkeypatch):
    """Count the compiled epochs run (kernels.train_epoch, wrapped)."""
    calls = []
    real = K.train_epoch

    def spy(*a, **kw):
        calls.append(1)
        return real(*a, **kw)

    monkeypatch.setattr(K, "train_epoch", spy)
    return calls


@pytest.mark.parametrize("key,env,want", [(None, None, "compiled"), ("numpy", None, "numpy"),
                                          ("compiled", None, "compiled"), ("compiled", "numpy", "numpy"),
                                          ("numpy", "compiled", "compiled")])
def test_the_scenario_key_selects_the_training_kernel(monkeypatch, key, env, want):
    """dynamics.kernel (default "compiled") picks the family's training epoch, RECURNET_KERNEL
    overriding it as in every family: through load_scenario, the named path is the one that runs
    (the compiled epoch is called exactly once per trained epoch, or never), and both train."""
    from recurnet_sim.paths import scenarios_dir
    from recurnet_sim.scenario import load_scenario

    if env is None:
        monkeypatch.delenv("RECURNET_KERNEL", raising=False)
    else:
        monkeypatch.setenv("RECURNET_KERNEL", env)
    calls = _kernel_calls(monkeypatch)
    over = ["task.length=60", "stop.max_steps=2", "training.pretrain_epochs=0"]
    if key is not None:
        over.append(f"dynamics.kernel={key}")
    sim = load_scenario(scenarios_dir() / "elman_temporal_xor.toml", overrides=over, trials=1)
    assert sim.model.kernel == want
    sim.run()
    assert len(calls) == (sim.model.epoch_ if want == "compiled" else 0) and sim.model.epoch_ == 2


def test_recurnet_run_trains_on_either_kernel_to_the_same_loss(monkeypatch, capsys):
    """``recurnet run --set dynamics.kernel=...``: both kernels train temporal XOR (300 steps, 5
    epochs) to the same losses within 1e-9, and the compiled one is what ran by default."""
    import json

    from recurnet_sim.cli import main
    from recurnet_sim.paths import scenarios_dir

    monkeypatch.delenv("RECURNET_KERNEL", raising=False)
    calls = _kernel_calls(monkeypatch)
    out = {}
    for key in ("numpy", "compiled"):
        n0 = len(calls)
        code = main(["run", str(scenarios_dir() / "elman_temporal_xor.toml"), "--headless", "--json",
                     "--set", "task.length=300", "--set", "stop.max_steps=5", "--set", "training.pretrain_epochs=0",
                     "--set", f"dynamics.kernel={key}"])
        assert code == 0
        out[key] = json.loads(capsys.readouterr().out)
        assert (len(calls) > n0) == (key == "compiled")
    e0, e1 = out["numpy"]["energy"], out["compiled"]["energy"]
    np.testing.assert_allclose(np.asarray(e1, float), np.asarray(e0, float), rtol=1e-9)


def test_several_epochs_of_learning_agree():
    """Ten epochs of truncated BPTT on temporal XOR (Elman 1990), a learnable task: the loss curves
    agree to the stated tolerance (the rounding differences do not grow on this run)."""
    from recurnet_sim.families.srn import tasks

    task = tasks.temporal_xor([np.random.default_rng(0)], 300)
    cfg = bptt.SRNConfig(kind="elman", n_in=1, n_hidden=4, n_out=1)
    tc = bptt.TrainConfig(bptt="truncated", truncation=6, lr=0.1)
    curves = []
    for kernel in ("numpy", "compiled"):
        _, _, _, res = _train(cfg, tc, 1, task.inputs, task.targets, None, None, None, kernel, 3, epochs=10)
        curves.append(np.array([r.loss[0] for r in res]))
    np.testing.assert_allclose(curves[1], curves[0], rtol=1e-9)
    assert curves[0][-1] < curves[0][0]


def test_the_compiled_tanh_is_within_a_few_ulp_of_numpy():
    """The kernels' own tanh (no libm call, so its loops vectorise): at most 4 ulp from np.tanh
    over the range gates see, tiny and huge arguments; odd, signed zeros, NaN and +-inf kept."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 3, 1500), np.linspace(-25, 25, 801), np.geomspace(1e-300, 1e-2, 200),
                        [19.0, 19.1, 20.0, 1e300, 5e-324]])
    x = np.concatenate([x, -x])
    got = np.array([K._tanh(v) for v in x])
    want = np.tanh(x)
    assert np.all(np.abs(got - want) <= 4 * np.spacing(np.abs(want)))
    assert np.array_equal(np.signbit(got), np.signbit(want))
    z = [K._tanh(v) for v in (0.0, -0.0, np.inf, -np.inf)]
    assert z == [0.0, 0.0, 1.0, -1.0] and not np.signbit(z[0]) and np.signbit(z[1])
    assert np.isnan(K._tanh(np.nan))


@pytest.mark.parametrize("kind,mode", [("elman", "full"), ("elman", "elman"), ("jordan", "truncated")])
def test_the_copy_compiled_for_a_tiny_net_gives_the_generic_epochs_bits(monkeypatch, kind, mode):
    """Temporal XOR's 1-2-1 net runs on an epoch compiled for its sizes (kernels.SPECIALISE_TINY):
    the same arithmetic in the same order, so the same bits as the generic epoch, and both agree
    with numpy to the stated tolerance."""
    from recurnet_sim.families.srn import tasks

    task = tasks.temporal_xor([np.random.default_rng(1)], 60)
    cfg = bptt.SRNConfig(kind=kind, n_in=1, n_hidden=2, n_out=1)
    tc = bptt.TrainConfig(bptt=mode, truncation=5, lr=0.1, momentum=0.9)
    runs = {}
    for name, special, kernel in (("tiny", True, "compiled"), ("generic", False, "compiled"), ("numpy", True, "numpy")):
        monkeypatch.setattr(K, "SPECIALISE_TINY", special)
        runs[name] = _train(cfg, tc, 2, np.repeat(task.inputs, 2, 0), np.repeat(task.targets, 2, 0),
                            None, None, None, kernel, 5, epochs=3)
    assert any(n.endswith("_1_2_" + ("2" if kind == "elman" else "1") + "_1") for n in K._DRIVERS)
    (pt, _, _, rt), (pg, _, _, rg), (pn, _, _, rn) = runs["tiny"], runs["generic"], runs["numpy"]
    for k in pt:
        np.testing.assert_array_equal(pt[k], pg[k])
        _close(pn[k], pt[k], f"weights {k}")
    for a, b in zip(rt, rg):
        np.testing.assert_array_equal(a.loss_per_step, b.loss_per_step)
        np.testing.assert_array_equal(a.hidden, b.hidden)
    init = bptt.init_params(cfg, [np.random.default_rng(5 + b) for b in range(2)])
    assert not np.array_equal(pt["W_xh"], init["W_xh"])  # the epochs did train


def test_an_epochs_outputs_are_never_recycled_while_the_caller_holds_them():
    """The compiled epoch reuses the previous epoch's output arrays only when nothing refers to
    them (kernels._recycled): a result kept, or a view of it, stays as it was through later epochs."""
    from recurnet_sim.families.srn import tasks

    task = tasks.temporal_xor([np.random.default_rng(2)], 40)
    cfg = bptt.SRNConfig(kind="lstm", n_in=1, n_hidden=3, n_out=1)
    tc = bptt.TrainConfig(bptt="truncated", truncation=4, lr=0.5)
    p = bptt.init_params(cfg, [np.random.default_rng(0)])
    v = {k: np.zeros_like(a) for k, a in p.items()}
    run = lambda: bptt.train_epoch(cfg, tc, p, v, task.inputs, task.targets, kernel="compiled")  # noqa: E731
    kept = run()
    view = run().hidden[:, 5:]  # the second result dropped, a view of its hidden states kept
    before = {f: getattr(kept, f).copy() for f in ("hidden", "outputs", "context", "gates", "loss_per_step")}
    view_before = view.copy()
    for _ in range(3):
        last = run()
    for f, a in before.items():
        np.testing.assert_array_equal(getattr(kept, f), a, err_msg=f)
        assert not np.shares_memory(getattr(kept, f), getattr(last, f)), f
    np.testing.assert_array_equal(view, view_before)
    assert not np.array_equal(kept.hidden, last.hidden)  # training went on: the states did change


def test_the_epoch_holds_no_reference_to_the_callers_arrays_afterwards():
    """The epoch works on views that skip numba's reference counts (kernels._unowned): such a view
    must neither keep nor drop a reference of the arrays it was made from. After many epochs with a
    mask, resets and an active flag, every array the caller passed has the reference count it had
    before (a leak or a lost reference would drift by one an epoch), and the inputs are unchanged."""
    import sys

    B, T = 2, 30
    rng = np.random.default_rng(4)
    cfg = bptt.SRNConfig(kind="elman", n_in=2, n_hidden=3, n_out=2, output="softmax")
    tc = bptt.TrainConfig(bptt="truncated", truncation=5, lr=0.1)
    X = rng.normal(size=(B, T, 2))
    D = np.eye(2)[rng.integers(0, 2, (B, T))]
    mask = (rng.random((B, T)) < 0.7).astype(float)
    reset = rng.random((B, T)) < 0.1
    active = np.array([True, False])
    c0 = np.full((B, 3), 0.5)
    args = (X, D, mask, reset, c0, active)
    copies = [a.copy() for a in args]
    p = bptt.init_params(cfg, [np.random.default_rng(b) for b in range(B)])
    v = {k: np.zeros_like(a) for k, a in p.items()}
    held = [p[k] for k in p] + [v[k] for k in v]
    before = [sys.getrefcount(a) for a in (*args, *held)]
    w0 = p["W_xh"].copy()
    for _ in range(20):
        bptt.train_epoch(cfg, tc, p, v, X, D, mask, reset, c0, active, kernel="compiled")
    assert [sys.getrefcount(a) for a in (*args, *held)] == before
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(a, c)
    assert not np.array_equal(p["W_xh"][0], w0[0]) and np.array_equal(p["W_xh"][1], w0[1])  # 0 trained, 1 not
