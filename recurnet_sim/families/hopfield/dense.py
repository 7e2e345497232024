"""Dense associative memory: binary Hopfield nets with a steeper interaction energy.

Krotov & Hopfield (2016), "Dense associative memory for pattern recognition" (NeurIPS), replace
the quadratic energy of the classic net by

    E(s) = - sum_mu F(m_mu),        m_mu = xi^mu . s  (the overlap, an integer in -N..N)

with the patterns kept as the memory matrix Xi (P, N) -- there are no couplings W to learn:

* ``polynomial``   F(x) = x^n (n = 2 is exactly the Hebbian net with zero diagonal);
* ``rectified``    F(x) = x^n for x > 0, else 0 (rectified polynomial): only positive overlaps
  count, so the reversed pattern -xi, a minimum of every even F, is no longer one;
* ``exponential``  F(x) = exp(x)    (Demircigil, Heusel, Loewe, Upgang & Vermet 2017, "On a model
  of associative memory with huge storage capacity", J. Stat. Phys.); the energy is reported as
  -sum_mu exp(m_mu - N), Demircigil's energy times e^-N, which stays finite for any N and
  changes no update.

A unit flips when that strictly lowers the energy (Krotov & Hopfield eq. 3: s_i takes the sign of
sum_mu F(xi_i^mu + r_mu) - F(-xi_i^mu + r_mu), r_mu the overlap without unit i); a tie keeps it.
Krotov & Hopfield's capacity (random patterns, exact fixed points, F = x^n, large N):

    K_max = N^(n-1) / (2 (2n-3)!! ln N)          (:func:`kh_capacity`)

**Incremental overlaps.** The model keeps m (B, P) current: flipping unit i adds
2 s_i' xi_i^mu to every m_mu, O(P) per flip. The energy change of flipping unit j is then, for
*any* F, with a_mu = s_j xi_j^mu in {-1, +1},

    D_j = sum_mu F(m_mu) - F(m_mu - 2 a_mu)
        = 1/2 sum_mu (u_mu + v_mu) + 1/2 s_j (xi_j . (u - v)),
    u = F(m) - F(m - 2),   v = F(m) - F(m + 2)

so a unit costs one dot product of length P (a window of K units one (K, P) product) and
never a recomputation of the overlaps (O(N P)) or of the energy. For a polynomial F every term
is an integer and is computed exactly in float64 (the model refuses a size where it could not
be), so ties D_j = 0 are exact; for the exponential F a |D_j| below 1e-12 of its scale counts as
a tie.

Schedules as for the classic net (:class:`recurnet_sim.model.Schedule`): sequential, random
(a fresh order per sweep drawn exactly like the classic net, so n = 2 reproduces it state for
state), Glauber (p(flip) = 1 / (1 + exp(D_j / T)), Glauber 1963) and synchronous (every D_j from
the same old state).
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ...errors import ScenarioError, SimulationError, ValidationError
from ...model import Model, Schedule
from .model import ScheduledUnits

ENERGIES = ("quadratic", "polynomial", "rectified", "exponential")
#: energies this module builds (quadratic is the classic net of :mod:`.model`)
DENSE_ENERGIES = ENERGIES[1:]
#: relative size below which an exponential energy difference counts as a tie
EXP_TIE = 1e-12


def double_factorial(k: int) -> int:
    """k!! = k (k-2) (k-4) ... (1 for k <= 0)."""
    out = 1
    while k > 1:
        out *= k
        k -= 2
    return out


def kh_capacity(n_units: int, degree: int) -> float:
    """Krotov & Hopfield (2016) capacity of F(x) = x^n: K_max = N^(n-1) / (2 (2n-3)!! ln N)
    patterns (n = 2: N / (2 ln N), McEliece, Posner, Rodemich & Venkatesh 1987)."""
    N, n = float(n_units), int(degree)
    return N ** (n - 1) / (2.0 * double_factorial(2 * n - 3) * math.log(N))


def F(energy: str, degree: int, x: np.ndarray, n_units: int = 0) -> np.ndarray:
    """The interaction function F of ``energy`` at the overlaps ``x`` (any shape), float64.

    ``exponential`` is exp(x - n_units) (the energy's e^-N scale)."""
    x = np.asarray(x, dtype=np.float64)
    if energy in ("polynomial", "quadratic"):
        return x ** (2 if energy == "quadratic" else degree)
    if energy == "rectified":
        return np.where(x > 0, x, 0.0) ** degree
    if energy == "exponential":
        return np.exp(x - n_units)
    raise ValueError(f"unknown energy {energy!r}")


class Tables:
    """u + v, u - v and |u| + |v| of every overlap value m in -N..N, looked up instead of computed
    (u = F(m) - F(m - 2), v = F(m) - F(m + 2)): O(1) per pattern whatever F costs, and the same
    float for the same m on every path (sweep, synchronous step, stability, state space)."""

    def __init__(self, energy: str, degree: int, n_units: int):
        m = np.arange(-n_units, n_units + 1, dtype=np.float64)
        Fm = F(energy, degree, m, n_units)
        u = Fm - F(energy, degree, m - 2.0, n_units)
        v = Fm - F(energy, degree, m + 2.0, n_units)
        self.offset = n_units
        self.half_sum = 0.5 * (u + v)
        self.diff = u - v
        self.scale = np.abs(u) + np.abs(v) if energy == "exponential" else None


def flip_costs(tab: Tables, m: np.ndarray, xiT_units: np.ndarray, s_units: np.ndarray) -> np.ndarray:
    """D_j = E(s with unit j flipped) - E(s), from the overlaps.

    Parameters
    ----------
    tab : Tables of the energy
    m : ndarray of int, shape (P,)
        Current overlaps xi^mu . s.
    xiT_units : ndarray, shape (K, P)
        xi_j^mu of the K units asked about.
    s_units : ndarray, shape (K,)
        Their current values (+-1).

    Returns
    -------
    ndarray, shape (K,): exact for polynomial energies; exponential ones snapped to 0 within
    ``EXP_TIE`` of their scale (a tie keeps the unit).
    """
    idx = m + tab.offset
    # asarray: the float64 copy of xi^T the model keeps passes through without a copy (same values,
    # same layout, so the same product as converting an int8 one)
    D = float(tab.half_sum[idx].sum()) + 0.5 * s_units * (np.asarray(xiT_units, dtype=np.float64) @ tab.diff[idx])
    if tab.scale is not None:
        D = np.where(np.abs(D) <= EXP_TIE * float(tab.scale[idx].sum()), 0.0, D)
    return D


class _Looks:
    """:func:`flip_costs` split in two: the lookups from the overlaps m (O(P), made once per flip)
    and the (K, P) product per window of units. The same operations in the same order as
    :func:`flip_costs`, so the same floats."""

    __slots__ = ("base", "diff", "tie")

    def __init__(self, tab: Tables, m: np.ndarray):
        idx = m + tab.offset
        self.base = float(tab.half_sum[idx].sum())
        self.diff = tab.diff[idx]
        self.tie = None if tab.scale is None else EXP_TIE * float(tab.scale[idx].sum())

    def costs(self, xiT_units: np.ndarray, s_units: np.ndarray) -> np.ndarray:
        D = self.base + 0.5 * s_units * (xiT_units @ self.diff)
        if self.tie is not None:
            D = np.where(np.abs(D) <= self.tie, 0.0, D)
        return D


def flip_costs_batch(tab: Tables, m: np.ndarray, xiT: np.ndarray, s: np.ndarray) -> np.ndarray:
    """D (k, N) of every unit of k states with integer overlaps m (k, P), patterns xi^T (N, P) or
    (k, N, P), states s (k, N)."""
    idx = np.asarray(m, dtype=np.int64) + tab.offset
    w = tab.diff[idx]
    base = tab.half_sum[idx].sum(axis=1, keepdims=True)
    xf = np.asarray(xiT, dtype=np.float64)  # no copy for the model's float64 xi^T
    proj = w @ xf.T if xiT.ndim == 2 else np.einsum("knp,kp->kn", xf, w)
    D = base + 0.5 * s * proj
    if tab.scale is not None:
        D = np.where(np.abs(D) <= EXP_TIE * tab.scale[idx].sum(axis=1, keepdims=True), 0.0, D)
    return D


def energy_of(energy: str, degree: int, m: np.ndarray, n_units: int) -> np.ndarray:
    """E = -sum_mu F(m_mu) for overlaps m (..., P), shape (...)."""
    return -F(energy, degree, m, n_units).sum(axis=-1)


class DenseHopfieldModel(ScheduledUnits, Model):
    """A batch of dense associative memories (Krotov & Hopfield 2016; Demircigil et al. 2017).

    Parameters
    ----------
    patterns : ndarray, shape (P, N) or (B, P, N), values +-1
        The memory matrix Xi (shared, or one per trial).
    energy : {"polynomial", "rectified", "exponential"}
    degree : int
        n of F(x) = x^n (ignored by the exponential energy).
    state : ndarray, shape (B, N), values +-1
    schedule : Schedule or str
    temperature : float
        Glauber temperature, in the units of the energy (which grows like N^n).
    pattern_names : list of str
    grid_shape : (rows, cols), optional
    """

    network_type = "hopfield"
    energy_formula = "E = -sum_mu F(xi_mu . s)"
    unit_values = (-1, 1)

    def __init__(self, patterns, energy="polynomial", degree=3, state=None, schedule="random", temperature=0.0,
                 pattern_names=(), grid_shape=None):
        if energy not in DENSE_ENERGIES:
            raise SimulationError(f"unknown dense energy {energy!r}; one of {', '.join(DENSE_ENERGIES)}")
        xi = np.asarray(patterns)
        if xi.ndim not in (2, 3) or not np.all(np.abs(xi) == 1):
            raise SimulationError(f"patterns must be +-1 of shape (P, N) or (B, P, N), got {xi.shape}")
        state = np.atleast_2d(np.asarray(state))
        B, N = state.shape
        if xi.shape[-1] != N:
            raise SimulationError(f"state has {N} units, patterns have {xi.shape[-1]}")
        if xi.ndim == 3 and xi.shape[0] not in (1, B):
            raise SimulationError(f"per-trial patterns: {xi.shape[0]} sets for batch {B}")
        self.energy_kind = energy
        self.degree = int(degree)
        if energy != "exponential":
            # every u, v and their sums are integers; float64 holds them exactly below 2**53
            P = xi.shape[-2]
            if P * 4.0 * self.degree * (N + 2.0) ** self.degree >= 2.0 ** 52:
                raise SimulationError(f"F(x) = x^{self.degree} with {P} patterns of {N} units exceeds exact "
                                      "float64 arithmetic (2^52); use fewer patterns, units or a lower degree")
        self.patterns = xi.astype(np.int8)
        self.per_trial = xi.ndim == 3 and xi.shape[0] == B and B > 1
        xs = self.patterns if xi.ndim == 2 else (self.patterns if self.per_trial else self.patterns[0])
        # xi^T rows are what one unit contributes to every overlap: contiguous per unit
        self._xiT = np.ascontiguousarray(np.swapaxes(xs, -1, -2))  # (N, P) or (B, N, P)
        # the same +-1 values in float64, made once: every cost is a float64 product with them
        # (converting the int8 matrix per look cost more than the product itself at large P)
        self._xiT_f = self._xiT.astype(np.float64)
        self._xi_pm = self.patterns.astype(np.float64)
        self.pattern_names = list(pattern_names) or [f"p{k + 1}" for k in range(xi.shape[-2])]
        self.schedule = Schedule(schedule)
        self.temperature = float(temperature)
        self.state = state.astype(np.int8).copy()
        self.clamped = np.zeros((B, N), dtype=bool)
        self.grid_shape = tuple(grid_shape) if grid_shape is not None else None
        self.units = "bipolar"
        self._tab = Tables(energy, self.degree, N)
        self._m = np.zeros((B, xi.shape[-2]), dtype=np.int64)  # exact integer overlaps
        self._state_changed(slice(None))

    # ----- overlaps -------------------------------------------------------------------------
    def _xiT_of(self, b: int) -> np.ndarray:
        return self._xiT[b] if self.per_trial else self._xiT

    def _xiT_f_of(self, b: int) -> np.ndarray:
        return self._xiT_f[b] if self.per_trial else self._xiT_f

    def _overlaps_from_scratch(self, rows) -> np.ndarray:
        if self.per_trial:
            s = self.state[rows].astype(np.int64)
            return np.einsum("bnp,bn->bp", self._xiT[rows].astype(np.int64), s)
        # a float64 product of +-1 values: every partial sum is an integer of size <= N, exact
        return np.rint(self.state[rows].astype(np.float64) @ self._xiT_f).astype(np.int64)

    def _state_changed(self, rows) -> None:
        self._m[rows] = self._overlaps_from_scratch(rows)

    @property
    def raw_overlaps(self) -> np.ndarray:
        """m_mu = xi^mu . s (integers), shape (B, P): the incrementally kept overlaps."""
        return self._m

    def overlaps(self) -> np.ndarray:
        """m_mu / N, shape (B, P)."""
        return self._m / self.n_units

    # ----- the protocol ---------------------------------------------------------------------
    def flip_costs(self, rows=None) -> np.ndarray:
        """D (len(rows), N): the energy change of flipping each unit alone (O(N P) per trial)."""
        rows = np.arange(self.batch_size) if rows is None else np.asarray(rows)
        xiT = self._xiT_f[rows] if self.per_trial else self._xiT_f
        return flip_costs_batch(self._tab, self._m[rows], xiT, self.state[rows].astype(np.float64))

    def _would_change(self, rows) -> np.ndarray:
        return (self.flip_costs(rows) < 0) & ~self.clamped[rows]

    def is_stable(self) -> np.ndarray:
        return ~self._would_change(np.arange(self.batch_size)).any(axis=1)

    def energy(self) -> np.ndarray:
        """E = -sum_mu F(m_mu) per trial, shape (B,) (exponential: times e^-N)."""
        return energy_of(self.energy_kind, self.degree, self._m, self.n_units)

    def step(self, rngs: Sequence[np.random.Generator], active: np.ndarray) -> np.ndarray:
        """One sweep (N unit visits) or one synchronous update of the active trials."""
        B, N = self.state.shape
        flips = np.zeros(B, dtype=int)
        rows = np.flatnonzero(active)
        if rows.size == 0:
            return flips
        if self.schedule == Schedule.SYNCHRONOUS:
            flips[rows] = self._sync(rows)
            return flips
        stochastic = self.schedule == Schedule.GLAUBER and self.temperature > 0
        if not stochastic:
            # as in the classic net: a trial with no unit to change draws nothing from its rng
            rows = rows[self._would_change(rows).any(axis=1)]
            if rows.size == 0:
                return flips
        orders = None if self.schedule == Schedule.SEQUENTIAL else [rngs[b].permutation(N) for b in rows]
        draws = [rngs[b].random(N) for b in rows] if stochastic else None
        for k, b in enumerate(rows):
            order = np.arange(N) if orders is None else orders[k]
            flips[b] = self._sweep(b, order, None if draws is None else draws[k])
        return flips

    def _sweep(self, b: int, order: np.ndarray, draws: np.ndarray | None, window: int = 8) -> int:
        """One asynchronous sweep of trial b in ``order``: exactly the unit-by-unit sweep.

        Between two flips the overlaps do not change, so the costs D_j of the next ``K`` units
        in order are computed at once ((K, P) product); the first unit that changes flips, the
        overlaps take its O(P) correction, and the sweep continues after it. A look that finds
        nothing widens the next one (x4), a flip narrows it again: calm stretches near a fixed
        point cost a few wide looks, busy ones O(P) per visited unit.
        """
        N = self.n_units
        xiT = self._xiT_of(b)
        xiT_f = self._xiT_f_of(b)
        m = self._m[b]
        s = self.state[b]
        clamped = self.clamped[b]
        anyclamp = bool(clamped.any())
        tab = self._tab
        pos, K, flips = 0, window, 0
        looks = None  # what flip_costs looks up from the overlaps: fixed until the next flip
        while pos < N:
            units = order[pos:pos + K]
            if looks is None:
                looks = _Looks(tab, m)
            D = looks.costs(xiT_f[units], s[units].astype(np.float64))
            if draws is None:
                mis = D < 0
            else:
                # heat bath: p(flip) = 1 / (1 + exp(D / T)), overflow-safe
                z = np.clip(D / self.temperature, -700.0, 700.0)
                mis = draws[pos:pos + K] < 1.0 / (1.0 + np.exp(z))
            if anyclamp:
                mis &= ~clamped[units]
            if not mis.any():
                pos += K
                K = min(4 * K, N)
                continue
            j = int(mis.argmax())
            u = int(units[j])
            s[u] = -s[u]
            m += 2 * int(s[u]) * xiT[u]
            looks = None
            flips += 1
            pos += j + 1
            K = window
        return flips

    def _sync(self, rows) -> np.ndarray:
        """Every unit from the same old state: flip where D_j < 0 (Little 1974)."""
        D = self.flip_costs(rows)
        change = (D < 0) & ~self.clamped[rows]
        s = self.state[rows]
        self.state[rows] = np.where(change, -s, s).astype(np.int8)
        self._m[rows] = self._overlaps_from_scratch(rows)
        return change.sum(axis=1)

    # ----- perturbations / description ------------------------------------------------------
    def state_keys(self, idx) -> list[bytes]:
        return [row.tobytes() for row in np.packbits(self.state[idx] > 0, axis=1)]

    def describe(self):
        return {"network_type": self.network_type, "n_units": self.n_units, "grid_shape": self.grid_shape,
                "units": self.units, "schedule": self.schedule.value, "energy": self.energy_kind,
                "degree": self.degree, "per_trial_patterns": self.per_trial}

    def pattern_stable(self, b: int, k: int) -> bool:
        """Whether stored pattern k of trial b is a fixed point (no unit lowers E by flipping)."""
        xiT = self._xiT_of(b)
        xf = self._xiT_f_of(b)
        x = xf[:, k]
        m = np.rint(x @ xf).astype(np.int64)  # integers of size <= N: exact in float64
        return bool((flip_costs(self._tab, m, xf, x) >= 0).all())


# ---------------------------------------------------------------------------------------------
# scenario support (called by model.build when network.energy names a dense energy)
# ---------------------------------------------------------------------------------------------
def check_config(net: dict) -> list[ValidationError]:
    """The classic-net keys that do not apply to a dense energy, each named."""
    errs = []
    if net["learning"] != "hebbian":
        errs.append(ValidationError("network.learning", f"does not apply to network.energy = {net['energy']!r}: "
                                    "a dense net stores its patterns as the memory matrix Xi (leave it out)"))
    if net["units"] != "bipolar":
        errs.append(ValidationError("network.units", "a dense energy is defined on bipolar (+-1) units"))
    if net["thresholds"] != 0.0:
        errs.append(ValidationError("network.thresholds", "does not apply to a dense energy"))
    if net["connectivity"]["kind"] != "full":
        errs.append(ValidationError("network.connectivity", "does not apply to a dense energy (there is no W)"))
    if net["energy"] == "exponential" and net["degree"] != 3:
        pass  # degree is simply unused by the exponential energy
    return errs


def make_model(net: dict, xi, names, s0, shape, dyn) -> DenseHopfieldModel:
    errs = check_config(net)
    if errs:
        raise ScenarioError(errs)
    try:
        return DenseHopfieldModel(xi, net["energy"], net["degree"], s0, dyn["schedule"], dyn["temperature"], names,
                                  shape)
    except SimulationError as exc:
        raise ScenarioError([ValidationError("network.energy", str(exc))]) from None


def capacity_fields(model, net: dict, b: int) -> dict:
    """Summary fields of a net whose scenario names its energy: the Krotov-Hopfield capacity as a
    load (K_max / N; None where the theory gives none: Storkey, pseudo-inverse, exponential) and
    whether the cued pattern itself is a fixed point."""
    N = model.n_units
    energy, learning = net["energy"], net["learning"]
    if energy == "polynomial":
        cap = kh_capacity(N, net["degree"]) / N
    elif energy == "quadratic" and learning == "hebbian":
        cap = kh_capacity(N, 2) / N
    else:
        cap = None
    out = {"capacity_load": cap}
    t = getattr(model, "target", None)
    if t is not None:
        out["target_stable"] = model.pattern_stable(b, int(t[b]))
    return out


def state_space(model, schedule=None, trial: int = 0):
    """The T = 0 dynamics of a small dense net as a field-given StateSpace: unit i's drive
    towards +1 is E(s_i = -1) - E(s_i = +1) = s_i D_i."""
    from ...analysis.attractors import StateSpace, check_size

    N = model.n_units
    check_size(N)
    if model.per_trial and not 0 <= trial < model.batch_size:
        raise SimulationError(f"trial {trial} does not exist ({model.batch_size} per-trial pattern sets)")
    xiT = model._xiT_of(trial).astype(np.float64)
    pats = model.patterns[trial] if model.patterns.ndim == 3 else model.patterns
    E, n, tab = model.energy_kind, model.degree, model._tab

    def field(states):
        m = np.rint(states @ xiT).astype(np.int64)
        return states * flip_costs_batch(tab, m, xiT, states)

    def energy(states):
        return energy_of(E, n, states @ xiT, N)

    return StateSpace(name=model.network_type, unit_values=(-1, 1), patterns=pats,
                      pattern_names=list(model.pattern_names), energy=energy, field=field, size=N)
