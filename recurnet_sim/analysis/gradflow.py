"""Gradient flow and stability of recurrent networks, over any cell.

Backpropagation through time multiplies the error by one step Jacobian per step back::

    dL/dc_{t-k} = J_{t-k}^T ... J_{t-1}^T dL/dc_t,       J_t = dc_{t+1}/dc_t

(c the carry a cell feeds itself; for an Elman network c_{t+1} = h_t and
J_t = diag(f'(a_t)) W_hh), so its norm behaves like rho^k, with rho the size of the Jacobians: it
*explodes* when they are larger than 1 and *vanishes* when smaller (Bengio, Simard & Frasconi
1994; Pascanu, Mikolov & Bengio 2013, "On the difficulty of training recurrent neural networks").
With tanh, f' <= 1, so a spectral radius of W_hh below 1 is sufficient for vanishing; ReLU has
f' in {0, 1} and does not shrink the active directions. Clipping the gradient norm bounds the
update but not this decay.

The largest Lyapunov exponent of the autonomous dynamics (input held fixed or output fed back) is
estimated with the tangent-vector method of Benettin et al. (1980): > 0 chaotic, < 0 convergent
(fixed point or stable cycle), ~0 marginal.

Like FixedPointFinder (Golub & Sussillo 2018), the analysis reads a network only through a small
protocol, never its internals. ``net`` is any object with

* ``net.cell``: a recurrent cell — ``n_in``, ``n_hidden``, ``n_carry``, ``hidden_in_carry``,
  ``gate_names``, ``gates(cache)``, ``carousel(params, cache)`` (the memory path's gain, or None),
  ``carry0(B)``, ``step(params, x, carry, d=None) -> (carry_next, h, cache)``,
  ``vjp(params, cache, d_carry_next, d_h) -> (d_carry, d_params, d_x)``,
  ``jacobian(params, cache)``, ``input_jacobian(params, cache)``, ``recurrent_matrix(params)``,
  ``linearised_system(params)`` (the simple recurrent family's cells are the reference);
* ``net.readout(params, h) -> (z, y)`` and ``net.readout.jacobian(params, y) -> dy/dh`` (B, O, H);
* ``net.hidden_error(params, h, d) -> dL/dh`` of one step's loss (only when targets are given).

All functions take a batch: parameters ``(B, ...)``; results carry the leading batch axis.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


def spectral_radius(W: np.ndarray) -> np.ndarray:
    """Largest |eigenvalue| of each square matrix, shape ``W.shape[:-2]``; NaN for a matrix with a
    non-finite entry (diverged weights: LAPACK refuses them, and no radius is the honest answer)."""
    W = np.asarray(W, dtype=float)
    ok = np.isfinite(W).all(axis=(-2, -1))
    out = np.full(W.shape[:-2], np.nan)
    if ok.all():
        return np.max(np.abs(np.linalg.eigvals(W)), axis=-1)
    if ok.any():
        out[ok] = np.max(np.abs(np.linalg.eigvals(W[ok])), axis=-1)
    return out


def recurrent_matrix(net, params: dict[str, np.ndarray]) -> np.ndarray:
    """The recurrent weight matrix that the carry passes through, (B, C, C) (the cell's own:
    Elman's ``W_hh``; Jordan's ``mu I + W_hy W_ch`` at a linear operating point)."""
    return net.cell.recurrent_matrix(params)


def linearised_system(net, params: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, B, C) of the carry's dynamics linearised at the rest point (zero input and state), for
    :func:`kalman_ranks` (the cell's ``linearised_system``)."""
    return net.cell.linearised_system(params)


@dataclass
class Pass:
    """A forward pass over T steps: hidden states ``H`` (B, T, H) and the cell's per-step caches."""

    H: np.ndarray
    steps: list


def run(net, params: dict[str, np.ndarray], X: np.ndarray, c0: np.ndarray | None = None,
        D: np.ndarray | None = None) -> Pass:
    """Run the cell over ``X`` (B, T, I) from carry ``c0`` (default ``cell.carry0``), feeding the
    targets ``D`` (B, T, O) to cells that read them."""
    cell = net.cell
    B, T, _ = X.shape
    c = cell.carry0(B) if c0 is None else np.array(c0, dtype=float)
    H = np.empty((B, T, cell.n_hidden))
    steps = []
    for t in range(T):
        c, H[:, t], s = cell.step(params, X[:, t], c, None if D is None else D[:, t])
        steps.append(s)
    return Pass(H, steps)


def step_jacobians(net, params: dict[str, np.ndarray], cache: Any) -> np.ndarray:
    """Jacobians of the carry from one step to the next along a forward pass.

    Parameters
    ----------
    cache : Pass
        From :func:`run` (or any forward pass with the cell's per-step caches in ``steps``).

    Returns
    -------
    ndarray, shape (B, T, C, C)
        ``J_t = dc_{t+1}/dc_t`` (Elman: ``dh_t/dh_{t-1} = diag(f'(a_t)) W_hh``).
    """
    return np.stack([net.cell.jacobian(params, s) for s in cache.steps], axis=1)


def grad_norm_vs_lag(
    net,
    params: dict[str, np.ndarray],
    X: np.ndarray,
    K: int,
    c0: np.ndarray | None = None,
    D: np.ndarray | None = None,
    rngs: Sequence[np.random.Generator] | None = None,
    cache: Any = None,
    J: np.ndarray | None = None,
) -> np.ndarray:
    """Norm of the error signal at the carry for lags k = 0..K (BPTT back from the last step).

    Lag 0 is the latest carry the loss depends on: c_T when the last hidden state is part of it
    (``cell.hidden_in_carry``; Elman: c_T = h_{T-1}), else c_{T-1}, the carry entering the last
    step (Jordan's state units).

    Parameters
    ----------
    X : ndarray, shape (B, T, I)
        Input sequence, T >= K + 1. The network runs over it and L is a loss *at the last step*.
    K : int
        Largest lag.
    D : ndarray, shape (B, T, O), optional
        Targets: L is then the loss of the last step (and cells that read targets get them).
    rngs : list of Generator, optional
        Without targets, L = v . h_{T-1} with v a random unit vector drawn from ``rngs[b]``
        (all-equal components if ``rngs`` is None), which makes the curve depend only on the
        Jacobians.
    cache, J : optional
        The forward pass over ``X`` (from ``c0``, with ``D``; :func:`run`) and its step Jacobians,
        when the caller has them already.

    Returns
    -------
    ndarray, shape (B, K + 1)
        ``||dL/dh_{T-1-k}||``, the error at the hidden state k steps back, for a cell whose carry
        holds its hidden state (Elman: the whole carry; an LSTM: the h part of (h, c), the error
        having flowed back through both), else ``||dL/dc_{T-1-k}||`` (Jordan's state units).
    """
    cell = net.cell
    B, T, _ = X.shape
    if T < K + 1:
        raise ValueError(f"sequence of {T} steps is too short for lags up to {K}")
    if cache is None:
        cache = run(net, params, X, c0, D)
    if J is None:
        J = step_jacobians(net, params, cache)  # (B, T, C, C)
    if D is not None:
        g_h = net.hidden_error(params, cache.H[:, -1], D[:, -1])
    else:
        if rngs is not None:
            g_h = np.stack([r.standard_normal(cell.n_hidden) for r in rngs])
        else:
            g_h = np.ones((B, cell.n_hidden))
        g_h /= np.linalg.norm(g_h, axis=1, keepdims=True)
    sl = cell.hidden_in_carry
    if sl is not None:
        g = np.zeros((B, cell.n_carry))
        g[:, sl] = g_h  # dL/dc_T: h_{T-1} is part of the carry
        last = T  # g is at c_T; J[:, t] maps c_t -> c_{t+1}
    else:
        g = cell.vjp(params, cache.steps[-1], np.zeros((B, cell.n_carry)), g_h)[0]  # dL/dc_{T-1}
        last = T - 1
    part = slice(None) if sl is None else sl
    out = np.empty((B, K + 1))
    out[:, 0] = np.linalg.norm(g[:, part], axis=1)
    for k in range(1, K + 1):
        # dL/dc_{t-1} = J_{t-1}^T dL/dc_t
        g = np.einsum("bij,bi->bj", J[:, last - k], g)
        out[:, k] = np.linalg.norm(g[:, part], axis=1)
    return out


def carousel_vs_lag(net, params: dict[str, np.ndarray], X: np.ndarray, K: int,
                    c0: np.ndarray | None = None, cache: Any = None) -> np.ndarray | None:
    """The constant-error-carousel path of a cell with a memory (an LSTM's cell state).

    ``d c_T / d c_{T-k}`` along the memory path alone is ``diag(prod of the last k carousel
    gains)``: for the LSTM the forget gates, ``prod f`` (Hochreiter & Schmidhuber 1997: a
    carousel of gain 1 carries the error unchanged; Gers, Schmidhuber & Cummins 2000: the forget
    gate lets the net learn when to let it decay). Paths that leave the cell state through the
    gates are not in it; :func:`grad_norm_vs_lag` has them all.

    Returns
    -------
    ndarray, shape (B, K + 1, H), or None
        Per memory unit, lag 0 = 1; None when the cell declares no carousel.
    """
    cell = net.cell
    B, T, _ = X.shape
    if T < K:
        raise ValueError(f"sequence of {T} steps is too short for lags up to {K}")
    if cache is None:
        cache = run(net, params, X, c0)
    gains = [cell.carousel(params, s) for s in cache.steps[T - K:]] if K else []
    if K and gains[0] is None:
        return None
    if not K and cell.carousel(params, cache.steps[-1]) is None:
        return None
    out = np.ones((B, K + 1, cell.n_hidden))
    for k in range(1, K + 1):
        out[:, k] = out[:, k - 1] * gains[K - k]
    return out


def gates_over_time(net, params: dict[str, np.ndarray], X: np.ndarray, c0: np.ndarray | None = None,
                    cache: Any = None) -> np.ndarray:
    """Every step's gate activations along a forward pass, (B, T, G, H) (G = 0 for ungated cells;
    names in ``net.cell.gate_names``)."""
    if cache is None:
        cache = run(net, params, X, c0)
    return np.stack([net.cell.gates(s) for s in cache.steps], axis=1)


def autonomous_step(
    net,
    params: dict[str, np.ndarray],
    s: np.ndarray,
    x: np.ndarray,
    feed: str = "fixed",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of the autonomous (free-running) map of the carry, with its Jacobian.

    ``s' = step(x', s)`` where ``x' = x`` (``feed="fixed"``) or ``x' = y(s)``, the read-out of the
    hidden state inside the carry (``feed="output"``: the prediction becomes the next input; the
    cell must have ``hidden_in_carry``).

    Parameters
    ----------
    s : ndarray, shape (B, C)
    x : ndarray, shape (B, I)
        The fixed input (ignored with ``feed="output"``).

    Returns
    -------
    s_next : ndarray, shape (B, C)
    J : ndarray, shape (B, C, C)
        ``ds_next/ds``.
    x_next : ndarray, shape (B, I)
        The input used.
    """
    cell = net.cell
    if feed == "output":
        sl = cell.hidden_in_carry
        if sl is None:
            raise ValueError("feed='output' needs a cell whose carry holds its hidden state")
        _, x = net.readout(params, s[:, sl])
    s_next, _, cache = cell.step(params, x, s)
    J = cell.jacobian(params, cache)
    if feed == "output":
        # the input is the read-out of the carry's hidden part: chain rule through it
        dx_ds = np.zeros((s.shape[0], x.shape[1], cell.n_carry))
        dx_ds[:, :, sl] = net.readout.jacobian(params, x)
        J = J + cell.input_jacobian(params, cache) @ dx_ds
    return s_next, J, x


def lyapunov_exponent(
    net,
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
    S = net.cell.n_carry
    s = net.cell.carry0(B) if s0 is None else np.array(s0, float)
    for _ in range(transient):
        s, _, x = autonomous_step(net, params, s, x, feed)
    v = np.stack([r.standard_normal(S) for r in rngs])
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    total = np.zeros(B)
    for _ in range(steps):
        s, J, x = autonomous_step(net, params, s, x, feed)
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
    net,
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
    c0 = net.cell.carry0(B)
    cache = run(net, params, X, c0)
    J = step_jacobians(net, params, cache)
    g = grad_norm_vs_lag(net, params, X, K, c0, rngs=rngs, cache=cache, J=J)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.exp((np.log(np.maximum(g[:, -1], 1e-300)) - np.log(np.maximum(g[:, 0], 1e-300))) / max(K, 1))
    return {
        "radius_W": spectral_radius(recurrent_matrix(net, params)),
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
