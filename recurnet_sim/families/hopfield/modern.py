"""The modern (continuous) Hopfield network of Ramsauer et al. (2020), "Hopfield networks is all
you need" (ICLR 2021): a continuous state and the log-sum-exp energy, whose update is attention.

State xi in R^N, stored patterns X = (x_1 .. x_P) (here the rows of ``patterns`` (P, N), +-1),
inverse temperature beta:

* energy  E(xi) = -lse(beta, X xi) + 1/2 xi.xi + beta^-1 ln P + 1/2 M^2,
          lse(beta, z) = beta^-1 ln sum_mu exp(beta z_mu),  M = max_mu |x_mu|   (Ramsauer eq. 2)
* update  xi <- X^T softmax(beta X xi)                                          (Ramsauer eq. 3)

The update is the concave-convex procedure on E, so E never increases (Ramsauer Theorem 1), and
for well-separated patterns it lands next to a pattern after *one* update (Theorem 4: the error
shrinks like exp(-beta Delta), Delta the pattern's separation). Its fixed points are of three kinds
(Ramsauer section 2 / A.1.5): for small beta the *global average* of all patterns (softmax nearly
uniform), for intermediate beta *metastable states*, averages over a subset of similar patterns,
and for large beta *single patterns*. :func:`summary` names the kind by the effective number of
patterns the final softmax averages, 1 / sum_mu p_mu^2.

A tick is one (synchronous) update of the whole state; the units that moved by more than
``dynamics.tolerance`` count as changed, so the engine's fixed point is "no unit moved by more
than the tolerance".
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import ScenarioError, SimulationError, ValidationError
from ...model import Model

NETWORK_TYPE = "modern_hopfield"


def softmax(z: np.ndarray) -> np.ndarray:
    """softmax over the last axis, shifted by its maximum (no overflow)."""
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def lse(beta: float, z: np.ndarray) -> np.ndarray:
    """beta^-1 ln sum exp(beta z) over the last axis, computed stably."""
    zm = z.max(axis=-1)
    return zm + np.log(np.exp(beta * (z - zm[..., None])).sum(axis=-1)) / beta


class ModernHopfieldModel(Model):
    """A batch of continuous modern Hopfield networks (Ramsauer et al. 2020).

    Parameters
    ----------
    patterns : ndarray, shape (P, N) or (B, P, N)
    beta : float
        Inverse temperature (> 0).
    state : ndarray, shape (B, N), float
    tolerance : float
        A unit that moves by more than this in an update counts as changed.
    pattern_names : list of str
    grid_shape : (rows, cols), optional
    """

    network_type = NETWORK_TYPE
    energy_formula = "E = -lse(beta, X xi) + 1/2 xi^T xi + const"
    unit_values = (-1.0, 1.0)

    def __init__(self, patterns, beta, state, tolerance=1e-9, pattern_names=(), grid_shape=None):
        X = np.asarray(patterns, dtype=np.float64)
        state = np.atleast_2d(np.asarray(state, dtype=np.float64))
        B, N = state.shape
        if X.ndim not in (2, 3) or X.shape[-1] != N:
            raise SimulationError(f"patterns must be (P, {N}) or (B, P, {N}), got {X.shape}")
        if not beta > 0:
            raise SimulationError(f"beta must be > 0, got {beta}")
        self.beta = float(beta)
        self.tolerance = float(tolerance)
        self._X = X
        self.patterns = X.astype(np.int8) if np.all(np.abs(X) == 1) else X
        self._xi_pm = X
        self.pattern_names = list(pattern_names) or [f"p{k + 1}" for k in range(X.shape[-2])]
        self.state = state.copy()
        self.clamped = np.zeros((B, N), dtype=bool)
        self.grid_shape = tuple(grid_shape) if grid_shape is not None else None
        # 1/2 M^2 + beta^-1 ln P: the constants that make E >= 0 (Ramsauer eq. 2)
        M2 = float((X ** 2).sum(axis=-1).max())
        self._const = 0.5 * M2 + np.log(X.shape[-2]) / self.beta

    def _scores(self) -> np.ndarray:
        """X xi per trial, shape (B, P)."""
        if self._X.ndim == 3:
            return np.einsum("bpn,bn->bp", self._X, self.state)
        return self.state @ self._X.T

    def attention(self) -> np.ndarray:
        """softmax(beta X xi): the weight of every pattern in the next state, shape (B, P)."""
        return softmax(self.beta * self._scores())

    def update(self) -> np.ndarray:
        """The next state X^T softmax(beta X xi) of every trial, shape (B, N) (the state is kept)."""
        p = self.attention()
        if self._X.ndim == 3:
            return np.einsum("bp,bpn->bn", p, self._X)
        return p @ self._X

    @property
    def tick_unit(self) -> str:
        return "update"

    @property
    def update_rule(self) -> str:
        return f"softmax(beta X xi), beta = {self.beta:g}"

    def step(self, rngs: Sequence[np.random.Generator], active: np.ndarray) -> np.ndarray:
        """One update of every active trial; returns the units that moved by more than the tolerance."""
        flips = np.zeros(self.batch_size, dtype=int)
        rows = np.flatnonzero(active)
        if rows.size == 0:
            return flips
        new = self.update()[rows]
        old = self.state[rows]
        new = np.where(self.clamped[rows], old, new)
        flips[rows] = (np.abs(new - old) > self.tolerance).sum(axis=1)
        self.state[rows] = new
        return flips

    def energy(self) -> np.ndarray:
        """E = -lse(beta, X xi) + 1/2 xi.xi + beta^-1 ln P + 1/2 M^2, shape (B,)."""
        return -lse(self.beta, self._scores()) + 0.5 * (self.state ** 2).sum(axis=1) + self._const

    def is_stable(self) -> np.ndarray:
        return ~(np.abs(self.update() - self.state) > self.tolerance).any(axis=1)

    def recalled(self, overlaps=None):
        """Per trial: the pattern the state is, only when it is a single-pattern state (the
        softmax holds one pattern, :func:`fixed_point_kind`); an average of several is no recall."""
        out = []
        for b, p in enumerate(self.attention()):
            kind, _ = fixed_point_kind(p)
            out.append((self.pattern_names[int(p.argmax())], False) if kind == "single pattern" else (None, False))
        return out

    def outcome(self, trial: int = 0):
        """Single stored pattern, metastable or global average (:func:`.outcome.modern_outcome`)."""
        from .outcome import modern_outcome
        return modern_outcome(self, trial)

    def flip(self, units, rows=None) -> None:
        """Flip = change the sign of the given units (exact for +-1 values)."""
        rows = slice(None) if rows is None else rows
        mask = self._unit_mask(units)
        sub = self.state[rows]
        self.state[rows] = np.where(mask if mask.ndim == 1 else mask[rows], -sub, sub)

    def load_pattern(self, k: int, rows=None) -> None:
        self._put_pattern(self._X, k, rows)  # the stored patterns in the state's own units

    def snapshot(self):
        return {**super().snapshot(), "beta": self.beta}

    def restore(self, snap) -> None:
        super().restore(snap)
        self.beta = snap.get("beta", self.beta)

    def describe(self):
        return {"network_type": self.network_type, "n_units": self.n_units, "grid_shape": self.grid_shape,
                "beta": self.beta, "continuous": True}


def fixed_point_kind(p: np.ndarray) -> tuple[str, float]:
    """(kind, effective number of patterns) of a state from its softmax weights p (P,).

    The effective number is the participation ratio 1 / sum p^2: 1 for one pattern, P for the
    uniform average. Kinds: "single pattern" (< 1.5), "global average" (>= 0.9 P, for P > 1),
    otherwise "metastable (k patterns)" with k the rounded effective number."""
    eff = float(1.0 / np.sum(p ** 2))
    P = p.size
    if eff < 1.5:
        return "single pattern", eff
    if eff >= 0.9 * P:
        return "global average", eff
    return f"metastable ({int(round(eff))} patterns)", eff


# ---------------------------------------------------------------------------------------------
# scenario support
# ---------------------------------------------------------------------------------------------
def scenario_tables(network_type: str | None = None):
    """The classic net's tables, with its own [network] and [dynamics]."""
    from ...spec import Field, Table
    from .model import scenario_tables as classic

    t = dict(classic("hopfield"))
    network = Table({
        "type": Field("str", NETWORK_TYPE, "network family", choices=(NETWORK_TYPE,)),
        "size": Field("int", None, "number of units N (taken from the patterns when omitted)", min=2, max=20000,
                      nullable=True),
        "shape": Field("list", None, "grid [rows, cols] to draw the units (taken from the patterns when omitted)",
                       item=Field("int", min=1), length=2, nullable=True),
        "beta": Field("float", 1.0, "inverse temperature beta of softmax(beta X xi) (Ramsauer et al. 2020); "
                      "overlaps X xi are in -N..N, so retrieval needs beta times a pattern's separation >> ln P",
                      min=1e-12),
    }, "The network: continuous state, patterns stored as X, log-sum-exp energy.")
    dynamics = Table({
        "tolerance": Field("float", 1e-9, "a unit that moves by more than this in an update counts as changed "
                           "(a fixed point: no unit does)", min=0),
    }, "How the state updates: xi <- X^T softmax(beta X xi), all units at once.")
    t["network"] = Field("table", None, "the network", table=network)
    t["dynamics"] = Field("table", None, "dynamics", table=dynamics)
    return t


def build(cfg: dict, batch_size: int, rngs, base_dir: Path, build_rng=None, first_trial: int = 0):
    """The classic net's patterns and cue (bipolar; a masked region set to 0 is the half-masked
    query of Ramsauer et al.), then the continuous model."""
    from .model import build as classic_build

    net = cfg["network"]
    ccfg = dict(cfg)
    ccfg["network"] = {"type": "hopfield", "size": net["size"], "shape": net["shape"], "units": "bipolar",
                       "learning": "hebbian", "energy": None, "degree": 3, "thresholds": 0.0, "zero_diagonal": True,
                       "connectivity": {"kind": "full", "p": 0.5, "k": 4, "radius": 1, "periodic": False}}
    ccfg["dynamics"] = {"schedule": "synchronous", "temperature": 0.0, "anneal": None}
    ini = cfg["initial"]
    mask_zero = ini["mask"] is not None and ini["mask"]["value"] == 0
    if mask_zero:  # the classic cue writes -1 for a 0 mask; a continuous state keeps the 0
        ccfg["initial"] = {**ini, "mask": None}
    classic = classic_build(ccfg, batch_size, rngs, base_dir, build_rng=build_rng, first_trial=first_trial)
    s0 = classic.state.astype(np.float64)
    if mask_zero:
        from ... import patterns as pt
        m = ini["mask"]
        shape = classic.grid_shape
        s0 = pt.mask_region(s0, shape, rows=m["rows"] or (0, shape[0]), cols=m["cols"] or (0, shape[1]), value=0)
        s0 = np.asarray(s0, dtype=np.float64)
    try:
        model = ModernHopfieldModel(classic.patterns, net["beta"], s0, cfg["dynamics"]["tolerance"],
                                    classic.pattern_names, classic.grid_shape)
    except SimulationError as exc:
        raise ScenarioError([ValidationError("network.beta", str(exc))]) from None
    model.target = getattr(classic, "target", None)
    return model


def summary(model: ModernHopfieldModel, b: int) -> dict:
    """Target, its overlap, beta, and the fixed point's kind from the final softmax weights."""
    p = model.attention()[b]
    kind, eff = fixed_point_kind(p)
    out = {"n_units": model.n_units, "n_patterns": int(model._X.shape[-2]), "beta": model.beta,
           "fixed_point_kind": kind, "effective_patterns": eff, "softmax_max": float(p.max()),
           "softmax_argmax": model.pattern_names[int(p.argmax())]}
    t = getattr(model, "target", None)
    if t is not None:
        out["target"] = model.pattern_names[int(t[b])]
        out["target_overlap"] = float(model.overlaps()[b, int(t[b])])
    return out


def state_space(model, schedule=None, trial: int = 0):
    raise SimulationError("a modern Hopfield network has a continuous state (xi in R^N): there is no finite "
                          "state space to enumerate")
