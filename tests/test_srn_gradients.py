"""BPTT gradients of the Elman and Jordan networks equal finite differences.

Werbos 1990 / Williams & Peng 1990: full BPTT is the exact gradient of the sequence loss;
truncated BPTT(h; h') is the exact gradient of the window loss with the context h steps back held
constant; Elman's (1990) one-step scheme is the exact gradient with every context held constant.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from fdcheck import fd_grad
from recurnet_sim.families.srn import tasks
from recurnet_sim.errors import TraceFileError
from recurnet_sim.families.srn import bptt, cells, elman, jordan, model as srn

EPS = 1e-6
RTOL = 1e-6


def _fd_grad(fn, p, names=srn.PARAM_NAMES):
    """Central differences of fn(p) -> (B,) for every parameter entry (trial b's loss for its own)."""
    return fd_grad(fn, p, names, EPS)


def _assert_close(g, num, names=srn.PARAM_NAMES):
    for k in names:
        scale = max(1.0, np.abs(num[k]).max())
        np.testing.assert_allclose(g[k], num[k], atol=RTOL * scale, rtol=0, err_msg=k)


def _problem(kind, act, out, loss, tf, seed=0, T=6):
    rng = np.random.default_rng(seed)
    cfg = srn.SRNConfig(kind=kind, n_in=2, n_hidden=3, n_out=3, activation=act, output=out, loss=loss,
                        mu=0.6, teacher_forcing=tf, context_init=0.3)
    rngs = [np.random.default_rng(s) for s in (1, 2)]
    p = srn.init_params(cfg, rngs, scale=2.0)
    for k in p:  # nonzero biases too
        p[k] = p[k] + 0.1 * rng.standard_normal(p[k].shape)
    B = 2
    X = rng.standard_normal((B, T, 2))
    D = rng.uniform(size=(B, T, 3))
    if out == "softmax":
        D /= D.sum(-1, keepdims=True)
    c0 = rng.uniform(size=(B, cfg.n_ctx))
    w = rng.uniform(0.2, 1.0, size=(B, T))
    reset = np.zeros((B, T), bool)
    reset[0, 3] = True  # an episode boundary inside trial 0
    return cfg, p, X, D, c0, w, reset


COMBOS = [
    (kind, act, out, loss, tf)
    for kind, act, out, loss, tf in itertools.product(
        ("elman", "jordan"), srn.ACTIVATIONS, srn.OUTPUTS, (None, "squared_error"), (False, True))
    if not (kind == "elman" and tf) and not (out == "linear" and loss == "cross_entropy")
]


@pytest.mark.parametrize("kind,act,out,loss,tf", COMBOS)
def test_full_bptt_matches_finite_differences(kind, act, out, loss, tf):
    cfg, p, X, D, c0, w, reset = _problem(kind, act, out, loss, tf)
    L, g = srn.loss_and_grad(cfg, p, X, D, c0, w, reset)
    num = _fd_grad(lambda q: srn.loss_and_grad(cfg, q, X, D, c0, w, reset)[0], p)
    _assert_close(g, num)


@pytest.mark.parametrize("kind,tf", [("elman", False), ("jordan", False), ("jordan", True)])
def test_elman_one_step_scheme_is_gradient_with_context_held_constant(kind, tf):
    cfg, p, X, D, c0, w, reset = _problem(kind, "tanh", "sigmoid", None, tf)
    _, g = srn.loss_and_grad(cfg, p, X, D, c0, w, reset, through_context=False)
    C = srn.forward(cfg, p, X, c0, D, reset).C  # the contexts, now constants

    def held(q):
        # each step is its own one-step network started from the recorded context
        tot = 0.0
        for t in range(X.shape[1]):
            cache = srn.forward(cfg, q, X[:, t:t + 1], C[:, t], D[:, t:t + 1])
            loss, _ = srn.loss_terms(cfg, cache.Z, cache.Y, D[:, t:t + 1])
            tot = tot + w[:, t] * loss[:, 0]
        return tot / w.sum(1)

    _assert_close(g, _fd_grad(held, p))


@pytest.mark.parametrize("kind,act,tf", [("elman", "tanh", False), ("elman", "relu", False),
                                         ("jordan", "sigmoid", False), ("jordan", "tanh", True)])
@pytest.mark.parametrize("h,hp", [(3, 3), (5, 3)])
def test_truncated_bptt_updates_match_finite_differences(kind, act, tf, h, hp):
    """train_epoch with BPTT(h; h') equals SGD on finite-difference gradients of each window's loss,
    computed from the context stored h steps before the window's end (held constant)."""
    cfg, p, X, D, c0, _, _ = _problem(kind, act, "sigmoid", None, tf, T=2 * hp)
    lr = 0.05
    tcfg = srn.TrainConfig(lr=lr, momentum=0.0, bptt="truncated", truncation=h, update_every=hp)
    q = {k: v.copy() for k, v in p.items()}
    vel = {k: np.zeros_like(v) for k, v in q.items()}
    srn.train_epoch(cfg, tcfg, q, vel, X, D, c0=c0)

    ref = {k: v.copy() for k, v in p.items()}
    # window 1: steps [0, hp) from c0
    f1 = lambda r: srn.loss_and_grad(cfg, r, X[:, :hp], D[:, :hp], c0)[0]
    g1 = _fd_grad(f1, ref)
    ctx = srn.forward(cfg, ref, X[:, :hp], c0, D[:, :hp]).C  # contexts under the old weights
    c_next = srn.forward(cfg, ref, X[:, :hp], c0, D[:, :hp]).c_next
    for k in ref:
        ref[k] -= lr * g1[k]
    # window 2: loss on [hp, 2hp), forward from step 2hp - h
    start = 2 * hp - h
    cs = c_next if start == hp else ctx[:, start]
    w = np.ones((2, 2 * hp - start))
    w[:, : hp - start] = 0.0
    f2 = lambda r: srn.loss_and_grad(cfg, r, X[:, start:], D[:, start:], cs, w)[0]
    g2 = _fd_grad(f2, ref)
    for k in ref:
        ref[k] -= lr * g2[k]
    for k in srn.PARAM_NAMES:
        np.testing.assert_allclose(q[k], ref[k], atol=1e-8, err_msg=k)


def test_full_mode_is_one_update_with_the_exact_gradient():
    cfg, p, X, D, c0, _, _ = _problem("elman", "tanh", "sigmoid", None, False)
    tcfg = srn.TrainConfig(lr=0.1, momentum=0.0, bptt="full")
    q = {k: v.copy() for k, v in p.items()}
    res = srn.train_epoch(cfg, tcfg, q, {k: np.zeros_like(v) for k, v in q.items()}, X, D, c0=c0)
    assert res.n_updates == 1
    _, g = srn.loss_and_grad(cfg, p, X, D, c0)
    for k in srn.PARAM_NAMES:
        np.testing.assert_allclose(q[k], p[k] - 0.1 * g[k], atol=1e-12)


def test_batch_equals_single_runs():
    seeds = [11, 12, 13]
    def run(ss):
        rngs = [np.random.default_rng(s) for s in ss]
        task = tasks.temporal_xor(rngs, 90)
        m = elman.make(task, 4, rngs, train_cfg=srn.TrainConfig(lr=0.2, truncation=6, clip=1.0))
        srn.train(m, 3)
        m.add_noise(0.1, rngs)
        return m
    batch = run(seeds)
    for b, s in enumerate(seeds):
        single = run([s])
        for k in srn.PARAM_NAMES:
            np.testing.assert_allclose(batch.params_[k][b], single.params_[k][0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(batch.state[b], single.state[0], atol=1e-12)
        np.testing.assert_allclose(batch.loss_per_step_[b], single.loss_per_step_[0], atol=1e-12)


def test_weights_round_trip(tmp_path):
    rngs = [np.random.default_rng(s) for s in (1, 2)]
    task = tasks.sequence_production(rngs, ["ABAC"])
    m = jordan.make(task, 5, rngs, mu=0.7)
    path = srn.save_model(tmp_path / "w.npz", m)
    cfg, params, meta = srn.load_weights(path)
    assert cfg == m.cfg
    assert meta["task"] == "sequence"
    for k in srn.PARAM_NAMES:
        np.testing.assert_array_equal(params[k], m.params_[k])


def test_bad_weights_files_raise_trace_file_error(tmp_path):
    rngs = [np.random.default_rng(0)]
    task = tasks.temporal_xor(rngs, 30)
    m = elman.make(task, 3, rngs)
    good = srn.save_model(tmp_path / "good.npz", m)
    raw = good.read_bytes()
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    (tmp_path / "text.npz").write_text("not a zip")
    np.savez(tmp_path / "foreign.npz", a=np.zeros(3))
    data = dict(np.load(good))
    data["W_ch"] = np.zeros((1, 2, 2))
    np.savez(tmp_path / "shapes.npz", **data)
    obj = np.empty(1, dtype=object)
    obj[0] = {"x": 1}
    np.savez(tmp_path / "pickled.npz", format=np.array(srn.WEIGHTS_FORMAT), W_xh=obj)
    for name in ("trunc", "text", "foreign", "shapes", "pickled", "missing"):
        with pytest.raises(TraceFileError, match=name):
            srn.load_weights(tmp_path / f"{name}.npz")


def _reference_epoch(cfg, tcfg, params, velocity, X, D, mask, reset, c0, active):
    """train_epoch spelled out from the public pieces (forward, objective, backward, clip_by_norm,
    sgd_momentum), one window at a time: what the fused train_epoch must reproduce."""
    B, T, _ = X.shape
    h, hp, through = tcfg.windows(T)
    ctx = np.empty((B, T + 1, cfg.n_ctx))
    ctx[:, 0] = c0
    reset = np.zeros((B, T), bool) if reset is None else reset
    loss_ps, hidden, outs = np.zeros((B, T)), np.zeros((B, T, cfg.n_hidden)), np.zeros((B, T, cfg.n_out))
    norms, end = [], 0
    while end < T:
        end = min(end + hp, T)
        lo, start = max(0, end - hp), max(0, end - h)
        sl = slice(start, end)
        cache = srn.forward(cfg, params, X[:, sl], ctx[:, start], D[:, sl], reset[:, sl])
        w = mask[:, sl].copy()
        w[:, : lo - start] = 0.0
        _, loss, dZ = srn.objective(cfg, cache, D[:, sl], w)
        ctx[:, start:end], ctx[:, end] = cache.C, cache.c_next
        loss_ps[:, lo:end], hidden[:, lo:end] = loss[:, lo - start:], cache.H[:, lo - start:]
        outs[:, lo:end] = cache.Y[:, lo - start:]
        if not np.any(w):
            continue
        grads, _ = srn.backward(cfg, params, cache, dZ, through)
        grads, gn = srn.clip_by_norm(grads, tcfg.clip)
        srn.sgd_momentum(params, velocity, grads, tcfg.lr, tcfg.momentum, active)
        norms.append(gn)
    return loss_ps, hidden, outs, ctx[:, :T], np.mean(norms, 0)


@pytest.mark.parametrize("kind,act,tf", [("elman", "tanh", False), ("elman", "relu", False),
                                         ("elman", "sigmoid", False), ("jordan", "tanh", True),
                                         ("jordan", "sigmoid", False)])
@pytest.mark.parametrize("bptt,h,hp", [("truncated", 4, 4), ("truncated", 5, 3), ("elman", 1, 1),
                                       ("elman", 1, 3), ("full", 1, 1)])
@pytest.mark.parametrize("single", [False, True])
def test_fused_train_epoch_equals_the_composition(kind, act, tf, bptt, h, hp, single):
    """The fused epoch (flat parameters, in-place steps) is the plain per-window composition, with
    masks, episode resets, clipping, frozen trials and a last window that overlaps the one before."""
    T = 23  # not a multiple of h': the last window overlaps the one before
    cfg, p, X, D, c0, _, _ = _problem(kind, act, "softmax", None, tf, T=T)
    rng = np.random.default_rng(5)
    mask = (rng.uniform(size=(2, T)) > 0.2).astype(float)
    mask[:, :4] = 0.0  # a window without targets: no update
    reset = np.zeros((2, T), bool)
    reset[0, [3, 9, 10]] = True
    reset[1, 16] = True
    tcfg = srn.TrainConfig(lr=0.3, momentum=0.8, bptt=bptt, truncation=h, update_every=hp, clip=0.5)
    active = np.array([True, False]) if kind == "jordan" else None
    if single:  # B = 1 takes vector-matrix shortcuts; trial 1 has a reset, trial 0 none from step 10
        p = {k: v[1:] for k, v in p.items()}
        X, D, c0, mask, reset = X[1:], D[1:], c0[1:], np.ones((1, T)), reset[1:]
        active = None  # and an all-ones mask, which takes its own shortcut
    q1 = {k: v.copy() for k, v in p.items()}
    v1 = {k: 0.01 * np.ones_like(v) for k, v in p.items()}
    q2 = {k: v.copy() for k, v in p.items()}
    v2 = {k: v.copy() for k, v in v1.items()}
    for _ in range(3):
        res = srn.train_epoch(cfg, tcfg, q1, v1, X, D, mask, reset, c0, active)
        loss_ps, hidden, outs, ctx, gn = _reference_epoch(cfg, tcfg, q2, v2, X, D, mask, reset, c0, active)
        for k in srn.PARAM_NAMES:
            np.testing.assert_allclose(q1[k], q2[k], rtol=0, atol=1e-12, err_msg=k)
            np.testing.assert_allclose(v1[k], v2[k], rtol=0, atol=1e-12, err_msg=k)
        for a, b in ((res.loss_per_step, loss_ps), (res.hidden, hidden), (res.outputs, outs),
                     (res.context, ctx), (res.grad_norm, gn)):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# A new cell gets BPTT for free: a cell defined only here, through the generic time loop
# ---------------------------------------------------------------------------------------------
class _LinearLeakyCell(cells.Cell):
    """c_{t+1} = lam c_t + A c_t + U x_t (no nonlinearity), h_t = c_{t+1}: a cell the package does
    not know, with its own parameter names, written only from the protocol."""

    param_names = ("A", "U")

    def __init__(self, n_in, n):
        self.n_in, self.n_hidden, self.n_carry = n_in, n, n
        self.context_init = 0.1
        self.hidden_in_carry = slice(0, n)
        self.lam = 0.3

    def shapes(self):
        return {"A": (self.n_hidden, self.n_hidden), "U": (self.n_hidden, self.n_in)}

    def init(self, rng, scale, recurrent_radius=None):
        n, i = self.n_hidden, self.n_in
        return {"A": rng.uniform(-0.5, 0.5, (n, n)), "U": rng.uniform(-1, 1, (n, i))}

    def step(self, params, x, carry, d=None):
        h = self.lam * carry + cells.matvec(params["A"], carry) + cells.matvec(params["U"], x)
        return h, h, (x, carry)

    def vjp(self, params, cache, d_carry_next, d_h):
        x, c = cache
        g = d_h + d_carry_next
        grads = {"A": g[:, :, None] * c[:, None, :], "U": g[:, :, None] * x[:, None, :]}
        return self.lam * g + cells.rmatvec(params["A"], g), grads, cells.rmatvec(params["U"], g)

    def jacobian(self, params, cache):
        return self.lam * np.eye(self.n_carry) + params["A"]

    def input_jacobian(self, params, cache):
        return params["U"].copy()

    def advance(self, carry, h, y):
        return h.copy()

    def recurrent_matrix(self, params):
        return self.lam * np.eye(self.n_carry) + params["A"]


@pytest.fixture
def linear_cell_cfg(monkeypatch):
    monkeypatch.setitem(cells.CELLS, "linear_test", lambda cfg: _LinearLeakyCell(cfg.n_in, cfg.n_hidden))
    return srn.SRNConfig(kind="linear_test", n_in=2, n_hidden=3, n_out=2, output="softmax", context_init=0.1)


@pytest.mark.parametrize("through", [True, False])
def test_a_new_cell_gets_exact_bptt_from_the_generic_loop(linear_cell_cfg, through):
    """Full BPTT and the one-step scheme of a cell defined only in this test equal finite
    differences of the loss (with masks and an episode reset), and a truncated epoch over it
    equals the per-window composition: the time loop, BPTT(h; h'), clipping and SGD come free."""
    cfg = linear_cell_cfg
    rng = np.random.default_rng(0)
    p = bptt.init_params(cfg, [np.random.default_rng(s) for s in (1, 2)])
    assert set(p) == {"A", "U", "W_hy", "b_y"}
    p = {k: v + 0.1 * rng.standard_normal(v.shape) for k, v in p.items()}
    B, T = 2, 7
    X = rng.standard_normal((B, T, 2))
    D = rng.dirichlet(np.ones(2), size=(B, T))
    c0 = rng.uniform(size=(B, 3))
    w = rng.uniform(0.2, 1.0, (B, T))
    reset = np.zeros((B, T), bool)
    reset[1, 4] = True
    _, g = bptt.loss_and_grad(cfg, p, X, D, c0, w, reset, through_context=through)
    if through:
        num = _fd_grad(lambda q: bptt.loss_and_grad(cfg, q, X, D, c0, w, reset)[0], p, names=p)
    else:
        C = bptt.forward(cfg, p, X, c0, D, reset).C  # the carries, held constant

        def held(q):
            tot = 0.0
            for t in range(T):
                cache = bptt.forward(cfg, q, X[:, t:t + 1], C[:, t], D[:, t:t + 1])
                tot = tot + w[:, t] * bptt.loss_terms(cfg, cache.Z, cache.Y, D[:, t:t + 1])[0][:, 0]
            return tot / w.sum(1)
        num = _fd_grad(held, p, names=p)
    _assert_close(g, num, names=p)

    tcfg = srn.TrainConfig(lr=0.2, momentum=0.5, bptt="truncated", truncation=4, update_every=3, clip=0.3)
    q1, v1 = {k: v.copy() for k, v in p.items()}, {k: np.zeros_like(v) for k, v in p.items()}
    q2, v2 = {k: v.copy() for k, v in p.items()}, {k: np.zeros_like(v) for k, v in p.items()}
    mask = np.ones((B, T))
    res = bptt.train_epoch(cfg, tcfg, q1, v1, X, D, mask, reset, c0)
    loss_ps, hidden, _, ctx, gn = _reference_epoch(cfg, tcfg, q2, v2, X, D, mask, reset, c0, None)
    for k in p:
        np.testing.assert_allclose(q1[k], q2[k], rtol=0, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(res.loss_per_step, loss_ps, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.grad_norm, gn, rtol=0, atol=1e-12)
