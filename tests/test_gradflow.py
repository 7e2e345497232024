"""Gradient flow: theory of exploding/vanishing gradients (Bengio et al. 1994; Pascanu et al. 2013)."""
from __future__ import annotations

import numpy as np
import pytest

from recurnet_sim.analysis import gradflow as gf
from recurnet_sim.families.srn import model as srn


def _linear_net(rho, H=6, B=2, seed=0):
    """Linear Elman network with W_hh = rho * (random orthogonal): ||(W^T)^k v|| = rho^k exactly."""
    cfg = srn.SRNConfig(kind="elman", n_in=1, n_hidden=H, n_out=1, activation="linear", output="linear")
    rngs = [np.random.default_rng(seed + b) for b in range(B)]
    p = srn.init_params(cfg, rngs)
    for b, r in enumerate(rngs):
        q, _ = np.linalg.qr(r.standard_normal((H, H)))
        p["W_ch"][b] = rho * q
    return cfg, p, rngs


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.0, 1.1, 1.5])
def test_linear_network_gradient_norm_is_rho_to_the_lag(rho):
    cfg, p, rngs = _linear_net(rho)
    K = 15
    X = np.random.default_rng(3).standard_normal((2, 20, 1))
    g = gf.grad_norm_vs_lag(cfg, p, X, K, rngs=rngs)
    np.testing.assert_allclose(g, np.broadcast_to(rho ** np.arange(K + 1), g.shape), rtol=1e-10)
    ratios = g[:, 1:] / g[:, :-1]
    if rho < 1:
        assert np.all(ratios < 1)  # vanishing
    elif rho > 1:
        assert np.all(ratios > 1)  # exploding
    np.testing.assert_allclose(gf.spectral_radius(p["W_ch"]), rho, rtol=1e-10)


def test_tanh_network_with_radius_below_one_vanishes():
    cfg = srn.SRNConfig(kind="elman", n_in=1, n_hidden=16, n_out=1)
    rngs = [np.random.default_rng(b) for b in range(3)]
    p = srn.init_params(cfg, rngs, recurrent_radius=0.8)
    X = np.random.default_rng(1).integers(0, 2, (3, 40, 1)).astype(float)
    rep = gf.gradient_flow_report(cfg, p, X, 20, rngs)
    J = rep["radius_J_mean"]
    assert np.all(J <= 0.8 + 1e-12)  # tanh' <= 1 only shrinks the Jacobians
    assert np.all(rep["grad_norm_lag"][:, 20] < 0.05 * rep["grad_norm_lag"][:, 0])


def test_step_jacobians_match_finite_differences():
    for kind, tf in (("elman", False), ("jordan", False), ("jordan", True)):
        cfg = srn.SRNConfig(kind=kind, n_in=2, n_hidden=4, n_out=3, output="softmax", mu=0.4, teacher_forcing=tf)
        rngs = [np.random.default_rng(b) for b in range(2)]
        p = srn.init_params(cfg, rngs, scale=2.0)
        X = np.random.default_rng(5).standard_normal((2, 5, 2))
        D = np.random.default_rng(6).dirichlet(np.ones(3), size=(2, 5))
        c0 = np.full((2, cfg.n_ctx), 0.2)
        J = gf.step_jacobians(cfg, p, srn.forward(cfg, p, X, c0, D))
        t = 3
        # d(state after step t) / d(state before step t)
        def state_after(c):
            cache = srn.forward(cfg, p, X[:, t:t + 1], c, D[:, t:t + 1])
            return cache.H[:, 0] if kind == "elman" else cache.c_next
        c_in = srn.forward(cfg, p, X, c0, D).C[:, t]
        num = np.zeros_like(J[:, t])
        for j in range(cfg.n_ctx):
            d = np.zeros_like(c_in)
            d[:, j] = 1e-6
            num[:, :, j] = (state_after(c_in + d) - state_after(c_in - d)) / 2e-6
        np.testing.assert_allclose(J[:, t], num, atol=1e-8)


def test_clipping_bounds_the_update_norm():
    cfg, p, rngs = _linear_net(1.6, H=6)
    X = np.random.default_rng(0).standard_normal((2, 40, 1))
    D = np.random.default_rng(1).standard_normal((2, 40, 1))
    # windows of 10 steps: radius 1.6 gives gradients ~1.6**10 larger than the loss scale
    lr, clip = 0.01, 0.5
    def run(c, momentum=0.0, T=40):
        q = {k: v.copy() for k, v in p.items()}
        t = srn.TrainConfig(lr=lr, momentum=momentum, bptt="truncated", truncation=10, clip=c)
        return srn.train_epoch(cfg, t, q, {k: np.zeros_like(v) for k, v in q.items()}, X[:, :T], D[:, :T])
    free = run(None, T=10)  # one update: unclipped, later updates overflow (that is the explosion)
    assert np.all(free.update_norm_max > 10 * lr * clip)  # the exploding gradient is large
    clipped = run(clip)
    assert np.all(clipped.grad_norm_max > clip)  # the raw gradient was still large...
    assert np.all(clipped.update_norm_max <= lr * clip * (1 + 1e-9))  # ...the step is bounded
    mom = run(clip, momentum=0.9)
    # with momentum the velocity is a geometric sum of clipped steps
    assert np.all(mom.update_norm_max <= lr * clip / (1 - 0.9) * (1 + 1e-9))


def test_lyapunov_exponent_of_linear_map_is_log_radius():
    for rho in (0.7, 1.3):
        cfg, p, rngs = _linear_net(rho)
        x = np.zeros((2, 1))
        lam = gf.lyapunov_exponent(cfg, p, x, rngs, steps=200, transient=0, s0=np.zeros((2, 6)))
        np.testing.assert_allclose(lam, np.log(rho), atol=1e-9)


def test_lyapunov_contracting_tanh_network_is_negative():
    cfg = srn.SRNConfig(kind="elman", n_in=1, n_hidden=8, n_out=1)
    rngs = [np.random.default_rng(b) for b in range(2)]
    p = srn.init_params(cfg, rngs, recurrent_radius=0.5)
    lam = gf.lyapunov_exponent(cfg, p, np.ones((2, 1)), rngs, steps=200)
    assert np.all(lam < np.log(0.5) + 1e-9)


def test_relu_keeps_gradient_where_tanh_saturates():
    """With large recurrent weights tanh saturates (f' -> 0) and the gradient vanishes even though
    the radius is > 1; ReLU's f' is 1 on active units, so the same weights explode instead."""
    H = 8
    rngs = [np.random.default_rng(b) for b in range(2)]
    base = srn.SRNConfig(kind="elman", n_in=1, n_hidden=H, n_out=1, activation="tanh")
    p = srn.init_params(base, rngs, scale=1.0)
    for b in range(2):
        p["W_ch"][b] = 4.0 * np.eye(H)  # radius 4, positive feedback
        p["W_xh"][b] = 1.0
    X = np.ones((2, 30, 1))
    g_tanh = gf.grad_norm_vs_lag(base, p, X, 10, rngs=rngs)
    relu = srn.SRNConfig(kind="elman", n_in=1, n_hidden=H, n_out=1, activation="relu")
    g_relu = gf.grad_norm_vs_lag(relu, p, X, 10, rngs=rngs)
    assert np.all(g_tanh[:, 10] < 1e-3 * g_tanh[:, 0])
    np.testing.assert_allclose(g_relu[:, 10], 4.0 ** 10 * g_relu[:, 0], rtol=1e-9)


def test_kalman_ranks_on_hand_checkable_systems():
    """Kalman (1960): a shift register driven at its first stage is controllable, driven at its
    last stage it is not; read at its last stage it is observable; A = I with one input is not."""
    n = 5
    shift = np.eye(n, k=-1)  # s_{t+1}[i] = s_t[i-1]
    e = np.eye(n)
    A = np.stack([shift, shift, 10.0 * shift, np.eye(n)])  # the third explodes, ranks must not care
    B = np.stack([e[:, :1], e[:, -1:], e[:, :1], e[:, :1]])
    C = np.stack([e[-1:], e[:1], e[-1:], e[:1]])
    r = gf.kalman_ranks(A, B, C)
    assert r["n"] == n
    assert r["controllable_rank"].tolist() == [5, 1, 5, 1]
    assert r["observable_rank"].tolist() == [5, 1, 5, 1]


def test_summary_reports_controllability_and_observability():
    from recurnet_sim import load_scenario

    sim = load_scenario("scenarios/elman_temporal_xor.toml", {"task.length": 60}, trials=1, max_steps=1)
    sim.run()
    d = sim.results()[0].extra
    assert d["state_size"] == 8 and 1 <= d["controllable_rank"] <= 8 and 1 <= d["observable_rank"] <= 8


class _RotationCell:
    """A cell known only to this test: c_{t+1} = M c_t + x_t, h_t = c_{t+1}. Gradient flow reads it
    through the protocol alone (step, jacobian, carry0, hidden_in_carry)."""

    def __init__(self, M):
        self.M = M
        self.n_in = self.n_hidden = self.n_carry = M.shape[0]
        self.hidden_in_carry = slice(0, self.n_carry)

    def carry0(self, B):
        return np.zeros((B, self.n_carry))

    def step(self, params, x, carry, d=None):
        h = carry @ self.M.T + x
        return h, h, None

    def jacobian(self, params, cache):
        return self.M[None].copy()

    def recurrent_matrix(self, params):
        return self.M[None]


def test_gradient_flow_is_generic_over_the_cell():
    """For c_{t+1} = M c_t + x_t the error at lag k is (M^T)^k v exactly, whatever the cell is."""
    M = np.array([[0.5, 0.4, 0.0], [0.0, 0.7, 0.1], [0.2, 0.0, 0.9]])
    net = type("Net", (), {"cell": _RotationCell(M)})()
    X = np.random.default_rng(0).standard_normal((1, 12, 3))
    g = gf.grad_norm_vs_lag(net, {}, X, 8)
    v = np.ones(3) / np.sqrt(3)
    want = [np.linalg.norm(np.linalg.matrix_power(M.T, k) @ v) for k in range(9)]
    np.testing.assert_allclose(g[0], want, rtol=1e-12)
    np.testing.assert_allclose(gf.spectral_radius(gf.recurrent_matrix(net, {}))[0],
                               np.max(np.abs(np.linalg.eigvals(M))))
