"""Gradient flow and stability of simple recurrent networks (Elman, Jordan).

Backpropagation through time multiplies the error by one step Jacobian per step back::

    dL/dh_{t-k} = J_{t-k+1}^T ... J_t^T dL/dh_t,       J_t = dh_t/dh_{t-1} = diag(f'(a_t)) W_hh

so its norm behaves like rho^k, with rho the size of the Jacobians: it *explodes* when they are
larger than 1 and *vanishes* when smaller (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov &
Bengio 2013, "On the difficulty of training recurrent neural networks"). With tanh, f' <= 1, so a
spectral radius of W_hh below 1 is sufficient for vanishing; ReLU has f' in {0, 1} and does not
shrink the active directions. Clipping the gradient norm bounds the update but not this decay.

For Jordan networks the recurrent state is the state-unit vector c, and the step Jacobian is
``dc_{t+1}/dc_t = mu I + dy_t/dz W_hy diag(f'(a_t)) W_ch`` (without teacher forcing; with
teacher forcing the state does not depend on the network and the Jacobian is ``mu I``).

The largest Lyapunov exponent of the autonomous hidden dynamics (input held fixed or output fed
back) is estimated with the tangent-vector method of Benettin et al. (1980): > 0 chaotic,
< 0 convergent (fixed point or stable cycle), ~0 marginal.

All functions take a batch: parameters ``(B, ...)`` as built by
:func:`recurnet_sim.families.srn.model.init_params`; results carry the leading batch axis.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..families.srn import model as srn
from ..families.srn.model import SRNConfig, activate, activation_grad, output_fn, output_jacobian


def spectral_radius(W: np.ndarray) -> np.ndarray:
    """Largest |eigenvalue| of each square matrix, shape ``W.shape[:-2]``."""
    return np.max(np.abs(np.linalg.eigvals(W)), axis=-1)


def recurrent_matrix(cfg: SRNConfig, params: dict[str, np.ndarray]) -> np.ndarray:
    """The recurrent weight matrix that the state passes through, (B, S, S).

    Elman: ``W_hh`` (= ``W_ch``). Jordan: the state-to-state matrix at a linear operating point,
    ``mu I + W_hy W_ch`` (the nonlinear step Jacobians are :func:`step_jacobians`).
    """
    if cfg.kind == "elman":
        return params["W_ch"]
    return cfg.mu * np.eye(cfg.n_ctx) + params["W_hy"] @ params["W_ch"]


def step_jacobians(cfg: SRNConfig, params: dict[str, np.ndarray], cache: srn.Cache) -> np.ndarray:
    """Jacobians of the recurrent state from one step to the next along a forward pass.

    Parameters
    ----------
    cache : srn.Cache
        From :func:`recurnet_sim.families.srn.model.forward` over T steps.

    Returns
    -------
    ndarray, shape (B, T, S, S)
        Elman: ``J_t = dh_t/dh_{t-1} = diag(f'(a_t)) W_hh`` (S = H).
        Jordan: ``dc_{t+1}/dc_t`` (S = number of state units).
    """
    fp = activation_grad(cfg.activation, cache.A, cache.H)  # (B, T, H)
    if cfg.kind == "elman":
        return fp[..., :, None] * params["W_ch"][:, None]
    S = cfg.n_ctx
    eye = cfg.mu * np.eye(S)
    if cfg.teacher_forcing:
        return np.broadcast_to(eye, fp.shape[:2] + (S, S)).copy()
    Jg = output_jacobian(cfg.output, cache.Y)  # (B, T, O, O)
    inner = np.einsum("boh,bth,bhc->btoc", params["W_hy"], fp, params["W_ch"])
    return eye + Jg @ inner


def grad_norm_vs_lag(
    cfg: SRNConfig,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    K: int,
    c0: np.ndarray | None = None,
    D: np.ndarray | None = None,
    rngs: Sequence[np.random.Generator] | None = None,
    cache: srn.Cache | None = None,
    J: np.ndarray | None = None,
) -> np.ndarray:
    """Norm of the error signal dL/dh_{T-1-k} for lags k = 0..K (BPTT back from the last step).

    Parameters
    ----------
    X : ndarray, shape (B, T, I)
        Input sequence, T >= K + 1. The network runs over it and L is a loss *at the last step*.
    K : int
        Largest lag.
    D : ndarray, shape (B, T, O), optional
        Targets: L is then the loss of the last step.
    rngs : list of Generator, optional
        Without targets, L = v . h_{T-1} with v a random unit vector drawn from ``rngs[b]``
        (all-equal components if ``rngs`` is None), which makes the curve depend only on the
        Jacobians.
    cache, J : optional
        The forward pass over ``X`` (from ``c0``, with ``D``) and its step Jacobians, when the
        caller has them already.

    Returns
    -------
    ndarray, shape (B, K + 1)
        ``||dL/dh_{T-1-k}||`` (Elman) or ``||dL/dc_{T-k}||`` — the state units (Jordan).
    """
    B, T, _ = X.shape
    if T < K + 1:
        raise ValueError(f"sequence of {T} steps is too short for lags up to {K}")
    if c0 is None:
        c0 = np.full((B, cfg.n_ctx), cfg.context_init)
    if cache is None:
        cache = srn.forward(cfg, params, X, c0, D)
    if J is None:
        J = step_jacobians(cfg, params, cache)  # (B, T, S, S)
    fp_last = activation_grad(cfg.activation, cache.A[:, -1], cache.H[:, -1])
    if D is not None:
        _, dz = srn.loss_terms(cfg, cache.Z[:, -1:], cache.Y[:, -1:], D[:, -1:])
        g_h = np.einsum("bo,boh->bh", dz[:, 0], params["W_hy"])
    else:
        if rngs is not None:
            g_h = np.stack([r.standard_normal(cfg.n_hidden) for r in rngs])
        else:
            g_h = np.ones((B, cfg.n_hidden))
        g_h /= np.linalg.norm(g_h, axis=1, keepdims=True)
    out = np.empty((B, K + 1))
    if cfg.kind == "elman":
        g = g_h
        out[:, 0] = np.linalg.norm(g, axis=1)
        for k in range(1, K + 1):
            # dL/dh_{t-1} = J_t^T dL/dh_t
            g = np.einsum("bij,bi->bj", J[:, T - k], g)
            out[:, k] = np.linalg.norm(g, axis=1)
        return out
    # Jordan: the error reaches the state c_{T-1} entering the last step through W_ch.
    g = np.einsum("bh,bhc->bc", g_h * fp_last, params["W_ch"])
    out[:, 0] = np.linalg.norm(g, axis=1)
    for k in range(1, K + 1):
        g = np.einsum("bij,bi->bj", J[:, T - 1 - k], g)
        out[:, k] = np.linalg.norm(g, axis=1)
    return out


def autonomous_step(
    cfg: SRNConfig,
    params: dict[str, np.ndarray],
    s: np.ndarray,
    x: np.ndarray,
    feed: str = "fixed",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of the autonomous (free-running) map of the recurrent state, with its Jacobian.

    Elman, state h: ``h' = f(W_xh x' + W_hh h + b_h)`` where ``x' = x`` (``feed="fixed"``) or
    ``x' = g(W_hy h + b_y)`` (``feed="output"``: the prediction becomes the next input).
    Jordan, state c: ``c' = mu c + g(W_hy f(W_xh x + W_ch c + b_h) + b_y)`` (input = plan, fixed).

    Parameters
    ----------
    s : ndarray, shape (B, S)
    x : ndarray, shape (B, I)
        The fixed input (ignored for Elman with ``feed="output"``).

    Returns
    -------
    s_next : ndarray, shape (B, S)
    J : ndarray, shape (B, S, S)
        ``ds_next/ds``.
    x_next : ndarray, shape (B, I)
        The input used.
    """
    p = params
    f = cfg.activation
    if cfg.kind == "elman":
        if feed == "output":
            y = output_fn(cfg.output, srn._matvec(p["W_hy"], s) + p["b_y"])
            x = y
            Jx = p["W_xh"] @ output_jacobian(cfg.output, y) @ p["W_hy"]
        else:
            Jx = 0.0
        a = srn._matvec(p["W_xh"], x) + srn._matvec(p["W_ch"], s) + p["b_h"]
        h = activate(f, a)
        fp = activation_grad(f, a, h)
        return h, fp[:, :, None] * (p["W_ch"] + Jx), x
    a = srn._matvec(p["W_xh"], x) + srn._matvec(p["W_ch"], s) + p["b_h"]
    h = activate(f, a)
    fp = activation_grad(f, a, h)
    y = output_fn(cfg.output, srn._matvec(p["W_hy"], h) + p["b_y"])
    J = cfg.mu * np.eye(cfg.n_ctx) + output_jacobian(cfg.output, y) @ p["W_hy"] @ (fp[:, :, None] * p["W_ch"])
    return cfg.mu * s + y, J, x


def lyapunov_exponent(
    cfg: SRNConfig,
    params: dict[str, np.ndarray],
    x: np.ndarray,
    rngs: Sequence[np.random.Generator],
    steps: int = 500,
    transient: int = 100,
    s0: np.ndarray | None = None,
    feed: str = "fixed",
) -> np.ndarray:
    """Largest Lyapunov exponent of the autonomous state dynamics (Benettin et al. 1980).

    A tangent vector ``v`` (random, from ``rngs[b]``) is pushed through the step Jacobians and
    renormalised each step; the exponent is the mean log growth per step.

    Parameters
    ----------
    x : ndarray, shape (B, I)
        Input held fixed (Elman ``feed="fixed"``; Jordan: the plan).
    steps, transient : int
        Steps averaged, after ``transient`` steps to reach the attractor.
    s0 : ndarray, shape (B, S), optional
        Initial state (default: ``context_init`` everywhere).

    Returns
    -------
    ndarray, shape (B,)
        In nats per step. Very negative values (log of a vanishing Jacobian) are floored at -50.
    """
    B = x.shape[0]
    S = cfg.n_ctx
    s = np.full((B, S), cfg.context_init) if s0 is None else np.array(s0, float)
    for _ in range(transient):
        s, _, x = autonomous_step(cfg, params, s, x, feed)
    v = np.stack([r.standard_normal(S) for r in rngs])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    total = np.zeros(B)
    for _ in range(steps):
        s, J, x = autonomous_step(cfg, params, s, x, feed)
        v = np.einsum("bij,bj->bi", J, v)
        n = np.linalg.norm(v, axis=1)
        total += np.log(np.maximum(n, np.exp(-50.0)))
        v = v / np.maximum(n, 1e-300)[:, None]
        # A vector that died (n == 0, e.g. all ReLUs off) restarts in a random direction of the
        # same trial's generator, so the estimate stays defined.
        dead = n == 0
        for b in np.flatnonzero(dead):
            w = rngs[b].standard_normal(S)
            v[b] = w / np.linalg.norm(w)
    return total / steps


def gradient_flow_report(
    cfg: SRNConfig,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    K: int,
    rngs: Sequence[np.random.Generator] | None = None,
) -> dict[str, np.ndarray]:
    """Everything the gradient-flow scenario shows, per trial.

    Returns
    -------
    dict
        ``radius_W`` (B,): spectral radius of the recurrent matrix; ``radius_J_mean`` (B,): mean
        spectral radius of the step Jacobians along the sequence; ``grad_norm_lag`` (B, K+1);
        ``decay_rate`` (B,): geometric mean ratio of successive lag norms (< 1 vanishing,
        > 1 exploding).
    """
    B = X.shape[0]
    c0 = np.full((B, cfg.n_ctx), cfg.context_init)
    cache = srn.forward(cfg, params, X, c0)
    J = step_jacobians(cfg, params, cache)
    g = grad_norm_vs_lag(cfg, params, X, K, c0, rngs=rngs, cache=cache, J=J)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.exp((np.log(np.maximum(g[:, -1], 1e-300)) - np.log(np.maximum(g[:, 0], 1e-300))) / max(K, 1))
    return {
        "radius_W": spectral_radius(recurrent_matrix(cfg, params)),
        "radius_J_mean": spectral_radius(J).mean(axis=1),
        "grad_norm_lag": g,
        "decay_rate": ratio,
    }


# ---------------------------------------------------------------------------------------------
# controllability and observability of the linearised dynamics
# ---------------------------------------------------------------------------------------------
def kalman_ranks(A: np.ndarray, B: np.ndarray, C: np.ndarray, rtol: float = 1e-7) -> dict[str, np.ndarray]:
    """Kalman's rank tests for the linear system s_{t+1} = A s_t + B x_t, y_t = C s_t (Kalman 1960).

    The system is *controllable* when the inputs can steer the state anywhere:
    rank [B, AB, ..., A^{n-1} B] = n; *observable* when the outputs reveal the whole state:
    rank [C; CA; ...; CA^{n-1}] = n. Each Krylov block is rescaled to unit norm before the rank
    is taken (that does not change the spanned space) so that exploding or vanishing powers of A
    (spectral radius far from 1) do not swamp the numerical rank. Rank uses singular values above
    ``rtol`` times the largest.

    Parameters
    ----------
    A : ndarray, shape (batch, n, n)
    B : ndarray, shape (batch, n, m)
    C : ndarray, shape (batch, p, n)

    Returns
    -------
    dict with ``controllable_rank``, ``observable_rank`` (batch,) and ``n`` (the state size).
    """
    A, B, C = (np.asarray(M, dtype=float) for M in (A, B, C))
    n = A.shape[-1]

    def _norm(M):
        s = np.linalg.norm(M, axis=(-2, -1), keepdims=True)
        return M / np.where(s > 0, s, 1.0)

    blocks_c, blocks_o = [], []
    Kc, Ko = _norm(B), _norm(C)
    for _ in range(n):
        blocks_c.append(Kc)
        blocks_o.append(Ko)
        Kc, Ko = _norm(A @ Kc), _norm(Ko @ A)
    ctrb = np.concatenate(blocks_c, axis=-1)  # (batch, n, n*m)
    obsv = np.concatenate(blocks_o, axis=-2)  # (batch, n*p, n)

    def _rank(M):
        s = np.linalg.svd(M, compute_uv=False)
        top = s[..., :1]
        return np.sum(s > rtol * np.where(top > 0, top, 1.0), axis=-1) * (top[..., 0] > 0)

    return {"controllable_rank": _rank(ctrb), "observable_rank": _rank(obsv), "n": n}


def linearised_system(cfg: SRNConfig, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, B, C) of the recurrent state's dynamics linearised at the rest point (zero input and
    state): Elman, s = h: A = D W_hh, B = D W_xh, C = W_hy with D = diag f'(b_h); Jordan, s = the
    state units c: A = mu I + W_hy D W_ch, B = W_hy D W_xh, C = W_hy D W_ch (the outputs are read
    one step on)."""
    b = params["b_h"]
    D = activation_grad(cfg.activation, b, activate(cfg.activation, b))[..., :, None]
    if cfg.kind == "elman":
        return D * params["W_ch"], D * params["W_xh"], params["W_hy"]
    Wd = params["W_hy"] @ (D * params["W_ch"])
    A = cfg.mu * np.eye(cfg.n_ctx) + Wd
    return A, params["W_hy"] @ (D * params["W_xh"]), Wd
