"""LSTM (Hochreiter & Schmidhuber 1997; Gers, Schmidhuber & Cummins 2000) and GRU (Cho et al.
2014) cells: exact BPTT from the generic loop, their Jacobians, the constant-error carousel, and
the memory-span contrast with an Elman network of the same size.

Full BPTT is the exact gradient of the sequence loss; truncated BPTT(h; h') the exact gradient of
each window's loss with the carry h steps back held constant (Williams & Peng 1990). Both are
checked against central finite differences for every gated cell, output and loss.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from fdcheck import fd_grad
from recurnet_sim.families.srn import bptt, cells, tasks
from recurnet_sim.families.srn import model as srn
from recurnet_sim.analysis import gradflow

EPS = 1e-6

GATED = [("lstm", False), ("lstm", True), ("gru", False)]
OUTS = [(out, loss) for out, loss in itertools.product(srn.OUTPUTS, (None, "squared_error"))
        if not (out == "linear" and loss == "cross_entropy")]


def _fd(fn, p):
    return fd_grad(fn, p, eps=EPS)


def _close(g, num, tol=1e-6):
    assert set(g) == set(num)
    for k in num:
        scale = max(1.0, np.abs(num[k]).max())
        np.testing.assert_allclose(g[k], num[k], atol=tol * scale, rtol=0, err_msg=k)


def _problem(kind, peep, out="softmax", loss=None, T=6, seed=0, H=3):
    rng = np.random.default_rng(seed)
    cfg = srn.SRNConfig(kind=kind, n_in=2, n_hidden=H, n_out=3, output=out, loss=loss, peepholes=peep,
                        context_init=0.0, forget_bias=0.5)
    p = srn.init_params(cfg, [np.random.default_rng(s) for s in (1, 2)], scale=2.0)
    p = {k: v + 0.2 * rng.standard_normal(v.shape) for k, v in p.items()}  # nonzero biases, peepholes
    B = 2
    X = rng.standard_normal((B, T, 2))
    D = rng.uniform(size=(B, T, 3))
    if out == "softmax":
        D /= D.sum(-1, keepdims=True)
    c0 = 0.5 * rng.standard_normal((B, cfg.n_ctx))
    w = rng.uniform(0.2, 1.0, size=(B, T))
    reset = np.zeros((B, T), bool)
    reset[0, 3] = True
    return cfg, p, X, D, c0, w, reset


@pytest.mark.parametrize("kind,peep", GATED)
@pytest.mark.parametrize("out,loss", OUTS)
def test_full_bptt_of_gated_cells_matches_finite_differences(kind, peep, out, loss):
    cfg, p, X, D, c0, w, reset = _problem(kind, peep, out, loss)
    assert cfg.param_names[:3] == ("W_xg", "W_hg", "b_g") and (("w_cf" in cfg.param_names) == peep)
    _, g = srn.loss_and_grad(cfg, p, X, D, c0, w, reset)
    _close(g, _fd(lambda q: srn.loss_and_grad(cfg, q, X, D, c0, w, reset)[0], p))


@pytest.mark.parametrize("kind,peep", GATED)
def test_one_step_scheme_of_gated_cells_is_the_gradient_with_carries_held(kind, peep):
    cfg, p, X, D, c0, w, reset = _problem(kind, peep)
    _, g = srn.loss_and_grad(cfg, p, X, D, c0, w, reset, through_context=False)
    C = srn.forward(cfg, p, X, c0, D, reset).C

    def held(q):
        tot = 0.0
        for t in range(X.shape[1]):
            cache = srn.forward(cfg, q, X[:, t:t + 1], C[:, t], D[:, t:t + 1])
            tot = tot + w[:, t] * srn.loss_terms(cfg, cache.Z, cache.Y, D[:, t:t + 1])[0][:, 0]
        return tot / w.sum(1)

    _close(g, _fd(held, p))


@pytest.mark.parametrize("kind,peep", GATED)
@pytest.mark.parametrize("h,hp", [(3, 3), (5, 3)])
def test_truncated_bptt_of_gated_cells_matches_finite_differences(kind, peep, h, hp):
    """train_epoch with BPTT(h; h') = SGD on finite-difference gradients of each window's loss from
    the carry stored h steps before the window's end (held constant)."""
    cfg, p, X, D, c0, _, _ = _problem(kind, peep, T=2 * hp)
    lr = 0.05
    tcfg = srn.TrainConfig(lr=lr, momentum=0.0, bptt="truncated", truncation=h, update_every=hp)
    q = {k: v.copy() for k, v in p.items()}
    res = srn.train_epoch(cfg, tcfg, q, {k: np.zeros_like(v) for k, v in q.items()}, X, D, c0=c0)
    ref = {k: v.copy() for k, v in p.items()}
    g1 = _fd(lambda r: srn.loss_and_grad(cfg, r, X[:, :hp], D[:, :hp], c0)[0], ref)
    fw = srn.forward(cfg, ref, X[:, :hp], c0, D[:, :hp])
    for k in ref:
        ref[k] -= lr * g1[k]
    start = 2 * hp - h
    cs = fw.c_next if start == hp else fw.C[:, start]
    w = np.ones((2, 2 * hp - start))
    w[:, : hp - start] = 0.0
    g2 = _fd(lambda r: srn.loss_and_grad(cfg, r, X[:, start:], D[:, start:], cs, w)[0], ref)
    for k in ref:
        ref[k] -= lr * g2[k]
        np.testing.assert_allclose(q[k], ref[k], atol=1e-8, err_msg=k)
    # the epoch records every step's gates, in [0, 1] for the sigmoid gates
    G = len(cfg.cell.gate_names)
    assert res.gates.shape == (2, 2 * hp, G, cfg.n_hidden)
    sig = [i for i, n in enumerate(cfg.cell.gate_names) if n not in ("cell input", "candidate")]
    assert np.all((res.gates[:, :, sig] > 0) & (res.gates[:, :, sig] < 1))


@pytest.mark.parametrize("kind,peep", GATED)
def test_step_and_input_jacobians_match_finite_differences(kind, peep):
    cfg, p, X, _, c0, _, _ = _problem(kind, peep)
    cell = cfg.cell
    x, c = X[:, 0], c0
    _, _, cache = cell.step(p, x, c)
    J, Jx = cell.jacobian(p, cache), cell.input_jacobian(p, cache)
    for M, arg, n in ((J, "c", cell.n_carry), (Jx, "x", cell.n_in)):
        num = np.zeros_like(M)
        for j in range(n):
            e = np.zeros(n)
            e[j] = EPS
            up = cell.step(p, x + e if arg == "x" else x, c + e if arg == "c" else c)[0]
            dn = cell.step(p, x - e if arg == "x" else x, c - e if arg == "c" else c)[0]
            num[:, :, j] = (up - dn) / (2 * EPS)
        np.testing.assert_allclose(M, num, atol=1e-8)


def test_lstm_carousel_is_the_product_of_forget_gates():
    """Without peepholes, d c_t / d c_{t-k} along the cell-state path alone is diag(prod f): the
    c -> c block of the step Jacobian is exactly diag(f_t) (Gers et al. 2000)."""
    cfg, p, X, _, c0, _, _ = _problem("lstm", False, T=8)
    cell = cfg.cell
    run = gradflow.run(cfg, p, X, c0)
    J = gradflow.step_jacobians(cfg, p, run)
    H = cfg.n_hidden
    for t, st in enumerate(run.steps):
        np.testing.assert_allclose(J[:, t, H:, H:], np.einsum("bi,ij->bij", cell.carousel(p, st), np.eye(H)),
                                   atol=1e-14)
    cec = gradflow.carousel_vs_lag(cfg, p, X, 5, c0)
    f = np.stack([cell.carousel(p, s) for s in run.steps], 1)  # (B, T, H)
    np.testing.assert_allclose(cec[:, 3], f[:, -3:].prod(1), rtol=1e-12)
    np.testing.assert_allclose(cec[:, 0], 1.0)


def test_lstm_gradient_decays_at_least_ten_times_more_slowly_than_elman():
    """||dL/dh_{t-k}|| / ||dL/dh_t|| at k = 20 on delayed-recall input: an LSTM of 8 cells (forget
    bias 2: the carousel open) keeps at least 10x more of the error than an Elman net of the same
    size, in every seed (untrained nets, same input; Hochreiter & Schmidhuber 1997)."""
    from recurnet_sim.families.srn import elman, lstm

    rngs = [np.random.default_rng(s) for s in range(4)]
    task = tasks.recall_episodes(rngs, lag=20, episodes=2)
    X = task.inputs[:, :21]
    e = elman.make(task, 8, [np.random.default_rng(s) for s in range(4)])
    m = lstm.make(task, 8, [np.random.default_rng(s) for s in range(4)], forget_bias=2.0)
    ge = gradflow.grad_norm_vs_lag(e.cfg, e.params_, X, 20)
    gl = gradflow.grad_norm_vs_lag(m.cfg, m.params_, X, 20)
    ratio_e, ratio_l = ge[:, 20] / ge[:, 0], gl[:, 20] / gl[:, 0]
    assert np.all(ratio_l >= 10 * ratio_e), (ratio_l, ratio_e)


def test_lstm_learns_delayed_recall_at_lag_20_where_elman_stays_at_chance():
    """Hochreiter & Schmidhuber (1997), experiment 2b/2c in small: an episode starts with x or y,
    then 19 random distractors (2 symbols), then the recall marker; the target at the end is the
    first symbol (chance: accuracy 0.5). Both nets have 8 units and the same training: plain SGD
    (no momentum, lr 0.3, their optimiser), one update per 5 whole episodes, gradient norm clipped
    to 1, 2,000 training episodes; LSTM forget bias 2 (Gers et al. 2000). Five seeds on the trial
    axis, scored on 100 held-out episodes each.

    Measured on 20 seeds with these settings: LSTM 19/20 at >= 0.9 held-out accuracy, Elman 0/20
    (max 0.58). Not a property of every optimiser: with Adam the Elman net solves lag 20 too
    (docs/teaching.md, section 8), and at lr 3 plain SGD lets it solve 2/20 while the LSTM solves none.
    """
    from recurnet_sim.families.srn import elman, lstm

    seeds = range(5)
    task = tasks.recall_episodes([np.random.default_rng(s) for s in seeds], lag=20, episodes=100, n_symbols=2)
    L = 21
    tcfg = srn.TrainConfig(lr=0.3, momentum=0.0, bptt="truncated", truncation=5 * L, update_every=5 * L, clip=1.0)
    nets = {"lstm": lstm.make(task, 8, [np.random.default_rng(1000 + s) for s in seeds], train_cfg=tcfg,
                              forget_bias=2.0),
            "elman": elman.make(task, 8, [np.random.default_rng(1000 + s) for s in seeds], train_cfg=tcfg)}
    test = task.test
    acc = {}
    for kind, m in nets.items():
        srn.train(m, 20)
        cache = srn.forward(m.cfg, m.params_, test.inputs, m.cfg.cell.carry0(5), test.targets, test.reset)
        acc[kind] = tasks.accuracy(test, cache.Y)
    assert task.chance_accuracy == 0.5
    assert (acc["lstm"] >= 0.9).sum() >= 3, acc
    # chance on 100 held-out episodes: std 0.05, so within 0.15 of 0.5 is 3 standard deviations
    assert np.all(np.abs(acc["elman"] - task.chance_accuracy) < 0.15), acc


# ---------------------------------------------------------------------------------------------
# Adam (Kingma & Ba 2015) beside SGD with momentum
# ---------------------------------------------------------------------------------------------
def test_adam_step_is_the_published_update_on_a_toy_problem():
    """Three Adam steps on f(theta) = 1/2 sum a theta^2 (gradient a theta), against Algorithm 1 of
    Kingma & Ba (2015) written out as scalar recurrences; a frozen trial keeps weights, moments and
    count. The first step moves every coordinate by lr (m^ / sqrt(v^) = sign g): Adam's scale
    invariance."""
    a = np.array([[0.5, -2.0, 10.0], [1e-3, 3.0, 1.0]])  # a tiny gradient moves as far as a large one
    theta0 = np.array([[1.0, -0.5, 0.2], [2.0, 1.0, -1.0]])
    lr, b1, b2, eps = 0.1, 0.9, 0.999, 1e-8
    p = {"w": theta0.copy()}
    m = {"w": np.zeros_like(theta0)}
    mom = bptt.AdamMoments.zeros_like(p)
    ref = theta0.copy()
    mr, vr = np.zeros_like(ref), np.zeros_like(ref)
    for t in range(1, 4):
        g = a * p["w"]
        bptt.adam(p, m, mom, {"w": g}, lr, b1, b2, eps)
        gr = a * ref
        mr = b1 * mr + (1 - b1) * gr
        vr = b2 * vr + (1 - b2) * gr ** 2
        ref = ref - lr * (mr / (1 - b1 ** t)) / (np.sqrt(vr / (1 - b2 ** t)) + eps)
        if t == 1:
            np.testing.assert_allclose(theta0 - p["w"], lr * np.sign(a * theta0), rtol=1e-5)
        np.testing.assert_allclose(p["w"], ref, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(mom.t, [3, 3])
    before = (p["w"].copy(), m["w"].copy(), mom.v["w"].copy())
    bptt.adam(p, m, mom, {"w": a * p["w"]}, lr, b1, b2, eps, active=np.array([False, True]))
    for x, y in zip((p["w"], m["w"], mom.v["w"]), before):
        np.testing.assert_array_equal(x[0], y[0])
        assert np.all(x[1] != y[1])
    np.testing.assert_array_equal(mom.t, [3, 4])


@pytest.mark.parametrize("kind", ["elman", "lstm", "gru"])
def test_train_epoch_with_adam_is_the_composition(kind):
    """train_epoch(optimizer="adam") = per window: forward, objective, backward, clip_by_norm, then
    :func:`bptt.adam` (the fused Elman epoch and the generic gated one alike), over two epochs with
    a frozen trial, episode resets and a clipped gradient."""
    cfg, p, X, D, c0, _, reset = _problem(kind, False, T=10)
    tcfg = srn.TrainConfig(lr=0.05, bptt="truncated", truncation=4, update_every=3, clip=0.3, optimizer="adam",
                           beta1=0.8, beta2=0.99, eps=1e-6)
    active = np.array([True, False])
    q1 = {k: v.copy() for k, v in p.items()}
    m1 = {k: np.zeros_like(v) for k, v in p.items()}
    mo1 = bptt.AdamMoments.zeros_like(p)
    q2 = {k: v.copy() for k, v in p.items()}
    m2 = {k: np.zeros_like(v) for k, v in p.items()}
    mo2 = bptt.AdamMoments.zeros_like(p)
    B, T, _ = X.shape
    for _ in range(2):
        srn.train_epoch(cfg, tcfg, q1, m1, X, D, None, reset, c0, active, moments=mo1)
        h, hp, _ = tcfg.windows(T)
        end = 0
        C = np.empty((B, T + 1, cfg.n_ctx))
        C[:, 0] = c0
        while end < T:
            end = min(end + hp, T)
            lo, start = max(0, end - hp), max(0, end - h)
            cache = srn.forward(cfg, q2, X[:, start:end], C[:, start], D[:, start:end], reset[:, start:end])
            C[:, start:end], C[:, end] = cache.C, cache.c_next
            w = np.ones((B, end - start))
            w[:, : lo - start] = 0.0
            _, _, dZ = srn.objective(cfg, cache, D[:, start:end], w)
            g, _ = srn.backward(cfg, q2, cache, dZ)
            g, _ = srn.clip_by_norm(g, tcfg.clip)
            bptt.adam(q2, m2, mo2, g, tcfg.lr, tcfg.beta1, tcfg.beta2, tcfg.eps, active)
        for k in q1:
            np.testing.assert_allclose(q1[k], q2[k], rtol=0, atol=1e-12, err_msg=k)
            np.testing.assert_allclose(mo1.v[k], mo2.v[k], rtol=0, atol=1e-14, err_msg=k)
        np.testing.assert_array_equal(mo1.t, mo2.t)
    assert mo1.t[0] == 2 * int(np.ceil(T / 3)) and mo1.t[1] == 0
    for k in p:
        np.testing.assert_array_equal(q1[k][1], p[k][1])  # the frozen trial


def test_adam_needs_its_moments_and_sgd_stays_the_default():
    assert srn.TrainConfig().optimizer == "sgd"
    with pytest.raises(ValueError, match="optimizer"):
        srn.TrainConfig(optimizer="rmsprop")
    cfg, p, X, D, c0, _, _ = _problem("gru", False)
    with pytest.raises(ValueError, match="moments"):
        srn.train_epoch(cfg, srn.TrainConfig(optimizer="adam"), p, {k: 0 * v for k, v in p.items()}, X, D, c0=c0)
