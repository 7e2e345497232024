"""Hopfield network (Hopfield 1982; bipolar form as in Hopfield 1984 / Amit 1989).

Units s_i in {-1, +1} (or V_i in {0, 1}), weights W (N, N), thresholds theta (N,).

* local field          h_i = sum_j W_ij s_j - theta_i
* deterministic update s_i <- +1 if h_i > 0, -1 if h_i < 0, unchanged if h_i = 0
* Glauber update       p(s_i = +1) = 1 / (1 + exp(-2 h_i / T))          (Glauber 1963)
* energy               E = -1/2 s^T W s + theta^T s
* overlap              m_mu = xi_mu . s / N

Asynchronous updates never recompute W s: the fields ``coupling . s`` are kept for every trial
and corrected by one column of W when a unit flips (O(N) per flip instead of O(N^2) per sweep).

Weights are stored as ``coupling`` times a scalar ``scale``: Hebbian coupling is the integer
matrix Xi^T Xi (kept in float64, which holds integers exactly) with ``scale = 1/N``, so fields are
exact and ties h = 0 resolve the same on every machine and in every summation order.

Learning rules live here as functions: :func:`hebbian`, :func:`storkey`, :func:`pseudo_inverse`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ...errors import ScenarioError, SimulationError, ValidationError
from ...model import Model, Schedule, TickBlock, UnitUpdate

LEARNING_RULES = ("hebbian", "storkey", "pseudo_inverse")


# ---------------------------------------------------------------------------------------------
# learning rules
# ---------------------------------------------------------------------------------------------
def hebbian(patterns: np.ndarray, dtype=np.float64) -> tuple[np.ndarray, float]:
    """Hebbian outer-product rule (Hebb 1949; Hopfield 1982).

    W = (1/N) sum_mu xi_mu xi_mu^T with zero diagonal.

    Parameters
    ----------
    patterns : ndarray, shape (P, N) or (G, P, N), values +-1
    dtype : float64 or float32
        Of the GEMM and the result. float32 is exact while P < 2**24 (every partial sum is an
        integer of size at most P) and is what the model keeps, so :func:`learn` asks for it.

    Returns
    -------
    coupling : ndarray, shape (N, N) or (G, N, N)
        The integer matrix Xi^T Xi with zero diagonal (integers are exact).
    scale : float
        1/N, so that W = scale * coupling.
    """
    xi = np.asarray(patterns, dtype=dtype)
    n = xi.shape[-1]
    c = np.swapaxes(xi, -1, -2) @ xi
    idx = np.arange(n)
    c[..., idx, idx] = 0.0
    return c, 1.0 / n


def storkey(patterns: np.ndarray) -> np.ndarray:
    """Storkey's incremental local rule (Storkey 1997, "Increasing the capacity of a Hopfield
    network without sacrificing functionality"; Storkey & Valabregue 1999).

    For each new pattern xi (in order), with h_ij = sum_{k != i, j} w_ik xi_k:
    w_ij += (1/N) (xi_i xi_j - xi_i h_ji - h_ij xi_j), and the diagonal kept at zero.

    With a zero diagonal, h_ij = f_i - w_ij xi_j where f = W xi, and xi_i^2 = 1, so the update is
    exactly W += (W + W^T + xi xi^T - xi f^T - f xi^T) / N: one matrix-vector product and a few
    rank-one updates per pattern instead of an (N, N, N)-shaped sum. It keeps W symmetric.
    (Tested against the element-wise definition.)

    Parameters
    ----------
    patterns : ndarray, shape (P, N) or (G, P, N)

    Returns
    -------
    W : ndarray, shape (N, N) or (G, N, N)
    """
    xi_all = np.asarray(patterns, dtype=np.float64)
    single = xi_all.ndim == 2
    if single:
        xi_all = xi_all[None]
    G, P, N = xi_all.shape
    W = np.zeros((G, N, N))
    idx = np.arange(N)
    # Far beyond capacity W grows geometrically (up to a factor 1 + 2/N per pattern). The energy
    # sums N^2 terms of |W|, so |W| must stay below max_float / (4 N^2) for fields and energies to
    # stay finite. An upper bound of max|W| is carried along at O(N) per pattern
    # (|W'| <= |W| (1 + 2/N) + (1 + 2 max|f|) / N); only when it nears the limit is the true
    # max|W| (O(N^2)) taken, so runs far from overflow pay nothing.
    limit = np.finfo(np.float64).max / (4.0 * N * N)
    wmax = 0.0
    for mu in range(P):
        xi = xi_all[:, mu, :]  # (G, N)
        f = np.einsum("gij,gj->gi", W, xi)  # (G, N)
        upd = W + np.swapaxes(W, 1, 2)
        upd += xi[:, :, None] * (xi - f)[:, None, :]
        upd -= f[:, :, None] * xi[:, None, :]
        upd /= N
        W += upd
        W[:, idx, idx] = 0.0
        with np.errstate(over="ignore", invalid="ignore"):
            wmax = wmax * (1.0 + 2.0 / N) + (1.0 + 2.0 * float(np.abs(f).max())) / N
        if not wmax < limit:
            with np.errstate(invalid="ignore"):
                wmax = float(np.abs(W).max())
            if not wmax < limit:  # also NaN
                _storkey_overflow(mu, P, N)
    return W[0] if single else W


def _storkey_overflow(mu: int, P: int, N: int):
    from ...errors import ValidationError
    raise ValidationError("network.learning", (
        f"the Storkey weights overflow float64 at pattern {mu + 1} of patterns.count = {P} (N = {N} units; "
        f"far beyond capacity W grows by up to (1 + 2/N) per pattern): keep patterns.count at most {mu}, "
        f"or use more units, or network.learning = \"hebbian\" or \"pseudo_inverse\""))


def pseudo_inverse(patterns: np.ndarray, zero_diagonal: bool = True) -> np.ndarray:
    """Projection (pseudo-inverse) rule (Personnaz, Guyon & Dreyfus 1985; Kanter & Sompolinsky 1987).

    W = Xi^T (Xi Xi^T)^+ Xi projects onto the span of the patterns, so every stored pattern is an
    exact eigenvector (W xi = xi) however correlated the patterns are. With the diagonal removed
    the field is (1 - w_ii) xi_i, still aligned for P < N (Kanter & Sompolinsky).

    Parameters
    ----------
    patterns : ndarray, shape (P, N) or (G, P, N)

    Returns
    -------
    W : ndarray, shape (N, N) or (G, N, N)
    """
    xi = np.asarray(patterns, dtype=np.float64)
    if xi.shape[-2] > xi.shape[-1]:
        # more patterns than units: Xi^T (Xi Xi^T)^+ = Xi^+, so W = Xi^+ Xi from an (P, N) SVD instead
        # of the pseudo-inverse of a (P, P) matrix (the same projection; P <= N keeps the path below)
        W = np.linalg.pinv(xi) @ xi
    else:
        C = xi @ np.swapaxes(xi, -1, -2)  # (.., P, P)
        W = np.swapaxes(xi, -1, -2) @ np.linalg.pinv(C, hermitian=True) @ xi
    if zero_diagonal:
        n = xi.shape[-1]
        W[..., np.arange(n), np.arange(n)] = 0.0
    return W


def learn(rule: str, patterns: np.ndarray, zero_diagonal: bool = True) -> tuple[np.ndarray, float]:
    """Apply a learning rule by name; returns (coupling, scale) with W = scale * coupling."""
    if rule == "hebbian":
        # one float32 GEMM, exact below 2**24 patterns, which the model then keeps without a copy
        c, s = hebbian(patterns, np.float32 if np.shape(patterns)[-2] < 2**24 else np.float64)
        if not zero_diagonal:
            n = c.shape[-1]
            c[..., np.arange(n), np.arange(n)] = np.asarray(patterns).shape[-2]
        return c, s
    if rule == "storkey":
        return storkey(patterns), 1.0
    if rule == "pseudo_inverse":
        return pseudo_inverse(patterns, zero_diagonal), 1.0
    raise ValueError(f"unknown learning rule {rule!r}")


def connectivity_mask(kind: str, n: int, rng: np.random.Generator, grid_shape=None, p: float = 0.5,
                      k: int = 4, radius: int = 1, periodic: bool = False) -> np.ndarray:
    """Symmetric 0/1 adjacency (N, N) from a networkx graph: which synapses exist.

    kind: "full", "random" (Erdos-Renyi G(n, p)), "small_world" (Watts & Strogatz 1998, k
    neighbours, rewiring p), "lattice" (2-D grid of the pattern shape, neighbours within
    Chebyshev distance ``radius``, optionally periodic).
    """
    if kind == "full":
        m = np.ones((n, n))
        np.fill_diagonal(m, 0)
        return m
    import networkx as nx  # only diluted networks pay for the import

    seed = int(rng.integers(2**31 - 1))
    if kind == "random":
        g = nx.gnp_random_graph(n, p, seed=seed)
    elif kind == "small_world":
        g = nx.watts_strogatz_graph(n, k, p, seed=seed)
    elif kind == "lattice":
        if grid_shape is None:
            grid_shape = (1, n)
        rows, cols = grid_shape
        g = nx.Graph()
        g.add_nodes_from(range(n))
        for r in range(rows):
            for c in range(cols):
                for dr in range(-radius, radius + 1):
                    for dc in range(-radius, radius + 1):
                        if dr == dc == 0:
                            continue
                        r2, c2 = r + dr, c + dc
                        if periodic:
                            r2, c2 = r2 % rows, c2 % cols
                        elif not (0 <= r2 < rows and 0 <= c2 < cols):
                            continue
                        g.add_edge(r * cols + c, r2 * cols + c2)
    else:
        raise ValueError(f"unknown connectivity {kind!r}")
    m = nx.to_numpy_array(g, nodelist=range(n))
    np.fill_diagonal(m, 0)
    return (m > 0).astype(np.float64)


# ---------------------------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------------------------
def rational_coupling(coupling: np.ndarray, max_denominator: int = 64, max_integer: int = 2**24,
                      tol: float = 1e-6) -> tuple[np.ndarray, float] | None:
    """Integer couplings C and a unit u with ``coupling == u * C`` up to rounding, or None.

    The unit is tried as u = m0 / m (m = 1..``max_denominator``, m0 = the smallest nonzero |w|):
    accepted when every w / u is within ``tol`` (absolute, in units of u) of an integer of size at
    most ``max_integer``. Rounding a float W = Xi^T Xi / N moves w / u by about |w / u| * 1e-16,
    far inside ``tol``, while a matrix without that structure passes by chance with probability
    about (2 tol)^(number of entries). Cost: O(N) per tried m on a sample, O(N^2) once for the
    accepted one.

    Parameters
    ----------
    coupling : ndarray, shape (N, N) or (B, N, N)

    Returns
    -------
    (C, u) with C float64 integer-valued of the same shape, or None.
    """
    flat = coupling.reshape(-1)
    if not np.isfinite(flat).all():
        return None
    a = np.abs(flat)
    nz = a[a > 0]
    if nz.size == 0:
        return None
    m0 = float(nz.min())
    sample = flat[:: max(1, flat.size // 256)]
    for m in range(1, max_denominator + 1):
        u = m0 / m
        for part in (sample, flat):
            q = part / u
            if not (np.abs(q).max() <= max_integer and np.abs(q - np.rint(q)).max() <= tol):
                break
        else:
            return np.rint(coupling / u), u
    return None


_NO_STATES = np.zeros(1, dtype=np.uint64)  # the sequential schedule draws nothing
_NO_DRAW = np.uint64(0)


class ScheduledUnits:
    """What a unit-update schedule (:class:`~recurnet_sim.model.Schedule`, attribute ``schedule``)
    tells the engine, for the classic and the dense binary nets alike."""

    @property
    def settles(self) -> bool:
        return self.schedule != Schedule.GLAUBER or self.temperature == 0

    @property
    def deterministic(self) -> bool:
        # A random order per sweep makes the next state depend on the draw: a revisited state is
        # then no proof of a cycle (and with a symmetric W it cannot happen before a fixed point).
        return self.settles and self.schedule in (Schedule.SYNCHRONOUS, Schedule.SEQUENTIAL)

    @property
    def update_rule(self) -> str:
        return self.schedule.value

    def temperature_control(self) -> str | None:
        if self.schedule == Schedule.GLAUBER:
            return None
        return f"{self.schedule.value} updates set each unit to the sign of its field: a temperature does nothing"

    def use_temperature(self, apply: bool = True) -> str | None:
        """A deterministic schedule becomes Glauber dynamics (Glauber 1963; random order,
        p(s_i = +1) = 1 / (1 + exp(-2 h_i / T))); T = 0 is still the deterministic limit."""
        if self.schedule == Schedule.GLAUBER:
            return None
        old = self.schedule
        if apply:
            self.schedule = Schedule.GLAUBER
        return f"{'switched' if apply else 'switches'} from {old.value} updates to Glauber dynamics (random order, p(+1) = 1/(1+exp(-2h/T)))"

    def snapshot(self):
        return {**super().snapshot(), "schedule": self.schedule}

    def restore(self, snap) -> None:
        self.schedule = snap.get("schedule", self.schedule)
        super().restore(snap)


class HopfieldModel(ScheduledUnits, Model):
    """A batch of Hopfield networks.

    Parameters
    ----------
    coupling : ndarray, shape (N, N) or (B, N, N)
        W = scale * coupling. One matrix shared by all trials, or one per trial (e.g. each trial
        stores its own random patterns).
    scale : float
    thresholds : ndarray, shape (N,) or (B, N), optional
        theta, in the units of W.
    patterns : ndarray, shape (P, N) or (B, P, N), optional
        Stored patterns in the unit values of the network (for overlaps and "load pattern").
    pattern_names : list of str
    units : {"bipolar", "binary"}
    schedule : Schedule or str
    temperature : float
        Used by the Glauber schedule (T = 0 is the deterministic limit).
    state : ndarray, shape (B, N)
        Initial state.
    grid_shape : (rows, cols), optional
        How to draw the units.
    symmetric, integer : bool, optional
        What the builder knows of the couplings (W = W^T; integer-valued), so the O(N^2) checks
        are skipped. Integer float32 couplings are then kept as they are (no conversion).
    max_row_sum : float, optional
        With ``integer``: a bound on max_i sum_j |c_ij| the builder knows (Hebb: P (N - 1)),
        so the exactness check of float32 fields needs no pass over W.
    kernel : {"compiled", "numpy"}, optional
        Which sweeps run (:func:`recurnet_sim.kernels.kernel_for`; default "compiled", or
        ``RECURNET_KERNEL``). Both give the same bits; "compiled" needs numba and falls back to
        "numpy" without it.
    """

    network_type = "hopfield"
    energy_formula = "E = -1/2 s^T W s + theta^T s"
    #: the unit visits of each trial's last tick while ``trace_units`` is set (``unit_updates``)
    _visits: dict = {}

    def __init__(self, coupling, scale=1.0, thresholds=None, patterns=None, pattern_names=(),
                 units="bipolar", schedule="random", temperature=0.0, state=None, grid_shape=None,
                 symmetric: bool | None = None, integer: bool | None = None, max_row_sum: float | None = None,
                 kernel: str | None = None):
        from ...kernels import requested
        coupling = np.asarray(coupling)
        if not (integer and coupling.dtype == np.float32):  # exact integer float32 (Hebb) is kept as is
            coupling = np.asarray(coupling, dtype=np.float64)
        self.kernel = requested(kernel)  # numba is looked for at the first compiled sweep, not here
        if coupling.ndim not in (2, 3) or coupling.shape[-1] != coupling.shape[-2]:
            raise SimulationError(f"coupling must be (N, N) or (B, N, N), got {coupling.shape}")
        N = coupling.shape[-1]
        if state is None:
            raise SimulationError("an initial state (batch, N) is required")
        state = np.atleast_2d(np.asarray(state))
        B = state.shape[0]
        if state.shape[1] != N:
            raise SimulationError(f"state has {state.shape[1]} units, weights have {N}")
        if coupling.ndim == 3 and coupling.shape[0] not in (1, B):
            raise SimulationError(f"per-trial coupling has {coupling.shape[0]} matrices for batch {B}")
        if not integer:
            # |E| <= |scale| * max over trials of sum |c_ij|: a finite, in-range sum keeps every
            # field and energy finite (weights of 1e308 pass isfinite yet give an energy of -inf)
            with np.errstate(over="ignore", invalid="ignore"):
                total = np.abs(coupling).sum(axis=(-2, -1)).max() * abs(float(scale))
            if not total < np.finfo(np.float64).max:
                what = "are not all finite" if not np.isfinite(coupling).all() else "overflow float64"
                raise SimulationError(f"Hopfield: weights {what} (scale * sum |w| = {total:g}): the fields and "
                                      "energies would not be finite; rescale them")
        if integer is None and not np.all(coupling == np.rint(coupling)):
            # A float W with rational structure (the textbook Hebb W = Xi^T Xi / N) is stored as
            # integer couplings times one unit, so its fields are exact and ties (h = 0) keep
            # the unit exactly as with the integer matrix (rounding broke 44 % of them).
            found = rational_coupling(coupling)
            if found is not None:
                coupling, unit = found
                scale = float(scale) * unit
                integer = True
        self.units = units
        self.unit_values = (-1, 1) if units == "bipolar" else (0, 1)
        self.scale = float(scale)
        self.per_trial = coupling.ndim == 3 and coupling.shape[0] == B and B > 1
        # Column i of W (W[:, i]) is what changes the fields when unit i flips; keep W^T so that
        # this column is a contiguous row.
        # For a symmetric W (Hebb, pseudo-inverse; pass symmetric=True to skip the check) W^T is W.
        if symmetric is None:
            symmetric = bool(np.array_equal(coupling, np.swapaxes(coupling, -1, -2)))
        self.symmetric = symmetric
        th = np.zeros(N) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
        self.thresholds = th
        theta_c = th / self.scale
        # Integer couplings (Hebb) give integer fields; float32 holds every integer below 2**24
        # exactly, so when the largest possible field fits, float32 halves the memory traffic of
        # every field update and doubles the matmul rate without changing a single state.
        # (``integer=True`` from a builder that knows, e.g. Hebb, skips the O(N^2) check.)
        if integer is None:
            integer = bool(np.all(coupling == np.rint(coupling)))
        def fits(row_sum):
            return 2 * (row_sum + np.abs(theta_c).max()) < 2**23

        if integer and not (max_row_sum is not None and fits(max_row_sum)):
            # the builder's bound (when given) did not prove it: the true largest row sum decides
            max_row_sum = float(np.abs(coupling).sum(axis=-1, dtype=np.float64).max())
        self.exact_integer = bool(integer and np.all(2 * theta_c == np.rint(2 * theta_c)) and fits(max_row_sum))
        self._dtype = np.float32 if self.exact_integer else np.float64
        cT = coupling if symmetric else np.swapaxes(coupling, -1, -2)
        cT = cT if self.per_trial else (cT[0] if cT.ndim == 3 else cT)
        self._couplingT = np.ascontiguousarray(cT, dtype=self._dtype)
        # thresholds in coupling units, broadcast to (B, N)
        self._theta_c = np.broadcast_to(theta_c, (B, N)).astype(self._dtype)
        self.schedule = Schedule(schedule)
        self.temperature = float(temperature)
        self.state = state.astype(np.int8).copy()
        self.clamped = np.zeros((B, N), dtype=bool)
        if patterns is not None:
            patterns = np.asarray(patterns)
            self.patterns = patterns.astype(np.int8)
            # +-1 float copy for overlaps (0/1 patterns mapped to +-1), made once: float32 holds every
            # sum of N +-1 products exactly below 2**24 units, at half the memory traffic of float64
            xi = self.patterns.astype(np.float32 if N < 2**24 else np.float64)
            self._xi_pm = xi if self.unit_values[0] == -1 else 2 * xi - 1
        self.pattern_names = list(pattern_names)
        if patterns is not None and not self.pattern_names:
            self.pattern_names = [f"p{k + 1}" for k in range(self.patterns.shape[-2])]
        self.grid_shape = tuple(grid_shape) if grid_shape is not None else None
        self._field = np.zeros((B, N), dtype=self._dtype)
        self._state_changed(slice(None))

    # ----- weights --------------------------------------------------------------------------
    @property
    def weights(self) -> np.ndarray:
        """Effective W (N, N) (or (B, N, N) when per trial), float."""
        return np.swapaxes(self._couplingT, -1, -2) * self.scale

    def weight_matrix(self, trial: int = 0) -> np.ndarray:
        """Trial ``trial``'s effective W, shape (N, N) (the graph view draws it)."""
        W = np.asarray(self.weights, dtype=np.float64)  # float64 even when the couplings are exact float32
        return W[min(trial, W.shape[0] - 1)] if W.ndim == 3 else W

    def _colsT(self, rows: np.ndarray, units) -> np.ndarray:
        """Columns W[:, unit] (in coupling units) for each (row, unit), shape (len(rows), N)."""
        if self.per_trial:
            return self._couplingT[rows, units]
        return self._couplingT[units]

    def _fields_from_scratch(self, rows) -> np.ndarray:
        s = self.state[rows].astype(self._dtype)
        if self.per_trial:
            return np.einsum("bji,bj->bi", self._couplingT[rows], s)
        return s @ self._couplingT

    def _state_changed(self, rows) -> None:
        self._field[rows] = self._fields_from_scratch(rows)
        self._energy_cache = None


    @property
    def local_field(self) -> np.ndarray:
        """h = W s - theta for every trial, shape (B, N), in the units of W."""
        return (self._field - self._theta_c) * self.scale

    # ----- dynamics -------------------------------------------------------------------------
    def _would_change(self, rows) -> np.ndarray:
        lo, hi = self.unit_values
        hv = self._field[rows] - self._theta_c[rows]
        s = self.state[rows]
        return (((hv > 0) & (s == lo)) | ((hv < 0) & (s == hi))) & ~self.clamped[rows]

    def is_stable(self) -> np.ndarray:
        return ~self._would_change(slice(None)).any(axis=1)

    def pattern_stable(self, b: int, k: int) -> bool:
        """Whether stored pattern k of trial b is a fixed point (no unit disagrees with its field)."""
        lo, hi = self.unit_values
        x = (self.patterns[b, k] if self.patterns.ndim == 3 else self.patterns[k]).astype(self._dtype)
        cT = self._couplingT[b] if self.per_trial else self._couplingT
        hv = x @ cT - self._theta_c[b]
        return not bool(((((hv > 0) & (x == lo)) | ((hv < 0) & (x == hi)))).any())

    def step(self, rngs: Sequence[np.random.Generator], active: np.ndarray) -> np.ndarray:
        """One sweep (N unit updates) or one synchronous update of the active trials.

        The random numbers are drawn here, from each trial's own generator, whichever kernel then
        applies them (``self.kernel``): the compiled and the numpy sweeps give the same bits."""
        if self._ready and not self.trace_units:
            flips = self._fused_step(rngs, active)
            if flips is not None:
                return flips
        compiled = self._compiled() and not (self.trace_units and self.schedule != Schedule.SYNCHRONOUS)
        from ...kernels import numpy_clock
        # "compiled" switches to numba once the numpy sweeps have cost more than its start-up
        with numpy_clock(not compiled and self.kernel == "compiled"):
            return self._step(rngs, active, compiled)

    def _step(self, rngs, active, compiled: bool) -> np.ndarray:
        B, N = self.state.shape
        flips = np.zeros(B, dtype=int)
        rows = np.flatnonzero(active)
        tracing = self.trace_units and self.schedule != Schedule.SYNCHRONOUS
        if self.trace_units:
            self._visits = {}
        if rows.size == 0:
            return flips
        stochastic = self.schedule == Schedule.GLAUBER and self.temperature > 0
        if self.schedule == Schedule.SYNCHRONOUS:
            flips[rows] = self._sync_compiled(rows) if compiled else self._sync(rows)
            return flips
        if not stochastic:
            # A sweep of a trial whose units are all aligned with their fields changes nothing:
            # skip it (and draw nothing from its rng, so a batch matches single runs).
            moving = self._moving(rows, compiled)
            stable, rows = rows[~moving], rows[moving]
            if tracing and self.schedule == Schedule.SEQUENTIAL:
                self._trace_stable(stable)  # the fixed order visits every unit, changing none
            if rows.size == 0:
                return flips
        if compiled and self.schedule != Schedule.SEQUENTIAL and self._pointers(rngs) is not None:
            order, u = self._draw_compiled(rows, N, stochastic)  # the same numbers, one compiled loop
        else:
            if self.schedule == Schedule.SEQUENTIAL:
                order = None
            else:
                order = np.stack([rngs[b].permutation(N) for b in rows])
            u = np.stack([rngs[b].random(N) for b in rows]) if stochastic else None
        if tracing:
            flips[rows] = self._async_traced(rows, order, u)
        elif compiled:
            flips[rows] = self._async_compiled(rows, order, u)
        else:
            flips[rows] = self._async_events(rows, order, draws=u)
        return flips

    # ----- compiled kernels (sweeps.py; the numpy methods below are the reference) ------------
    def _compiled(self) -> bool:
        from ...kernels import use_compiled
        if not use_compiled(self):
            return False
        self._ready = True
        return True

    _kargs = None
    _ready = False  # the compiled kernels run from now on (worth_compiling only ever turns true)
    _rng_ptr = None

    def _pointers(self, rngs):
        """The C draw functions and states of ``rngs`` (:class:`.sweeps.RngPointers`), or None when
        they cannot be drawn from in compiled code (then numpy draws, the same numbers)."""
        ptr = self._rng_ptr
        if ptr is None or not ptr.matches(rngs):
            from . import sweeps
            sweeps.load_intrinsics()
            ptr = self._rng_ptr = sweeps.RngPointers(rngs)
        return ptr if ptr.ok else None

    def _draw_compiled(self, rows: np.ndarray, N: int, stochastic: bool):
        """(order (R, N) int64, uniforms (R, N) or None): ``rngs[b].permutation(N)`` then, when
        ``stochastic``, ``rngs[b].random(N)`` for each b of ``rows``, drawn in one compiled loop."""
        from . import sweeps
        ptr = self._rng_ptr
        R = rows.size
        order = np.empty((R, N), dtype=np.int64)
        u = np.empty((R, N if stochastic else 0))
        sweeps.draw_orders(rows.astype(np.int64), ptr.states, ptr.fn32, ptr.fndbl, order, u)
        return order, (u if stochastic else None)

    def _fused_step(self, rngs, active):
        """A deterministic asynchronous tick (sequential, random, Glauber at T = 0) in one compiled
        call: the skip of settled trials, each trial's permutation from its own generator and the
        sweep (:func:`.sweeps._async_step`); the same bits as :meth:`_step`. None when it does not
        apply (synchronous, stochastic, an ``active`` that is not a (B,) bool array, generators the
        compiled loop cannot draw from): then :meth:`_step` runs."""
        sched = self.schedule
        if sched == Schedule.SYNCHRONOUS or (sched == Schedule.GLAUBER and self.temperature > 0):
            return None
        B = self.state.shape[0]
        if type(active) is not np.ndarray or active.dtype != np.bool_ or active.shape != (B,):
            return None
        use_order = sched != Schedule.SEQUENTIAL
        if use_order:
            ptr = self._pointers(rngs)
            if ptr is None:
                return None
            fn32, states = ptr.fn32, ptr.states
        else:
            fn32, states = np.uint64(0), _NO_STATES
        lo, hi, cT, dval = self._kernel_args()
        flips = np.zeros(B, dtype=np.int64)
        kern = self._fused_kernels[B >= 4]
        if kern is None:
            from . import sweeps
            sweeps.load_intrinsics()  # compiled into the kernel even when the schedule draws nothing
            kern = sweeps.pick("async_step", B)
            self._fused_kernels = (kern, None) if B < 4 else (None, kern)
        if self._use_theta is None:  # thresholds are fixed at construction
            self._use_theta = bool(self._theta_c.any())
        kern(active, self.state, self._field, self._theta_c, self.clamped, cT, self.per_trial, use_order, lo, hi,
             dval, self._use_theta, fn32, states, flips)
        return flips

    _fused_kernels = (None, None)
    _use_theta = None

    @property
    def cycle_free(self) -> bool:
        """Asynchronous deterministic updates of a symmetric W with w_ii >= 0 (and a positive
        scale) strictly lower E at every flip (Hopfield 1982: dE = -(s_new - s_old) h_i - 2 w_ii
        for +-1 units), so no state recurs before a fixed point."""
        if self.schedule == Schedule.SYNCHRONOUS or not self.settles or not self.symmetric or self.scale <= 0:
            return False
        if self._diag_ok is None:
            self._diag_ok = bool((np.diagonal(self._couplingT, axis1=-2, axis2=-1) >= 0).all())
        return self._diag_ok

    _diag_ok = None
    _ticks_kernel = None  # (kernel, batch size it was picked for)

    def run_ticks(self, rngs, active, ticks, settle_from, keep_states):
        """Up to ``ticks`` deterministic asynchronous ticks in one compiled call
        (:func:`.sweeps._async_ticks`: :meth:`_fused_step` repeated, with the energy and state after
        each tick), for a symmetric W of exact integer couplings, whose energy the kernel keeps with
        numpy's bits; None otherwise (the engine then calls :meth:`step`). See :meth:`Model.run_ticks`."""
        if self.trace_units or not (self.exact_integer and self.symmetric) or not (self._ready or self._compiled()):
            return None
        sched = self.schedule
        if sched is Schedule.SYNCHRONOUS or (sched is Schedule.GLAUBER and self.temperature > 0):
            return None
        B, N = self.state.shape
        if type(active) is not np.ndarray or active.dtype != np.bool_ or active.shape != (B,):
            return None
        if sched is not Schedule.SEQUENTIAL:
            ptr = self._pointers(rngs)
            if ptr is None:
                return None
            fn32, states = ptr.fn32, ptr.states
        else:
            fn32, states = _NO_DRAW, _NO_STATES
        kern = self._ticks_kernel
        if kern is None or kern[1] != B:
            from ...kernels import dispatcher
            from . import sweeps
            sweeps.load_intrinsics()
            kern = self._ticks_kernel = (dispatcher(sweeps.pick("async_ticks", B)), B)
        lo, hi, cT, dval = self._kernel_args()
        if self._use_theta is None:
            self._use_theta = bool(self._theta_c.any())
        flips, energy, kept, settled, n = kern[0](
            active, self.state, self._field, self._theta_c, self.clamped, cT, self.per_trial,
            sched is not Schedule.SEQUENTIAL, lo, hi, dval, self._use_theta, fn32, states, int(ticks), int(settle_from),
            0.5 * self.scale, bool(keep_states))
        self._energy_cache = (self.state.tobytes(), energy[n - 1]) if n else None  # energy() returns copies
        return TickBlock(int(n), flips, energy, kept if keep_states else None, settled)

    def _kernel_args(self):
        if self._kargs is None:  # the couplings never change after construction
            lo, hi = self.unit_values
            cT = self._couplingT if self.per_trial else self._couplingT[None]
            self._kargs = lo, hi, cT, np.array([hi - lo], dtype=self._dtype)
        return self._kargs

    def _moving(self, rows: np.ndarray, compiled: bool) -> np.ndarray:
        """Per trial of ``rows``: whether a deterministic sweep would change a unit."""
        if not compiled:
            return self._would_change(rows).any(axis=1)
        from . import sweeps
        lo, hi, _, _ = self._kernel_args()
        out = np.zeros(rows.size, dtype=bool)
        sweeps.pick("any_disagree", rows.size)(rows.astype(np.int64), self.state, self._field, self._theta_c,
                                               self.clamped, lo, hi, out)
        return out

    def _async_compiled(self, rows: np.ndarray, order: np.ndarray | None, draws: np.ndarray | None) -> np.ndarray:
        """:meth:`_async_events` by the compiled kernels: the same states, fields and flips."""
        from . import sweeps

        lo, hi, cT, dval = self._kernel_args()
        rows = rows.astype(np.int64)
        R = rows.size
        flips = np.zeros(R, dtype=np.int64)
        use_order = order is not None
        order = order.astype(np.int64, copy=False) if use_order else np.zeros((R, 0), dtype=np.int64)
        if draws is None:
            sweeps.pick("async_sweep", R)(rows, self.state, self._field, self._theta_c, self.clamped, cT,
                                          self.per_trial, order, use_order, lo, hi, dval, flips)
            return flips
        gain = (1.0 if lo == -1 else 0.5) * self.scale / self.temperature
        gain_v = np.array([gain], dtype=self._dtype)  # numpy multiplies a float32 field in float32 too
        start = np.zeros(R, dtype=np.int64)
        forced = np.full(R, -1, dtype=np.int64)
        pending = np.full(R, -1, dtype=np.int64)
        pending_h = np.zeros(R)
        todo = np.arange(R)
        while todo.size:
            sub = rows[todo]
            st, fo, pe, ph, fl = start[todo], forced[todo], pending[todo], pending_h[todo], flips[todo]
            kern = sweeps.pick("glauber_sweep", todo.size)
            kern(sub, self.state, self._field, self._theta_c, self.clamped, cT, self.per_trial, order[todo], draws[todo],
                 gain_v, lo, hi, dval, st, fo, fl, pe, ph, sweeps.MARGIN)
            flips[todo], start[todo] = fl, st
            left = pe >= 0
            if not left.any():
                break
            todo = todo[left]
            # the visits too close to call in float64: decide them with numpy's own expression
            hv = ph[left].astype(self._dtype)
            p_hi = 0.5 * (1.0 + np.tanh(gain * hv))
            forced[todo] = (draws[todo, pe[left]] < p_hi).astype(np.int64)
        return flips

    def _sync_compiled(self, rows: np.ndarray) -> np.ndarray:
        """:meth:`_sync` by the compiled kernel, and the fields rebuilt by one GEMM (or, for exact
        integer couplings with few changes, by one column per changed unit: the same integers)."""
        from . import sweeps

        lo, hi, cT, dval = self._kernel_args()
        rows = rows.astype(np.int64)
        R = rows.size
        s_new = np.empty((R, self.n_units), dtype=self._dtype)
        changed = np.zeros(R, dtype=np.int64)
        sweeps.pick("sync_update", R)(rows, self.state, self._field, self._theta_c, self.clamped, lo, hi, s_new,
                                      changed)
        if self.exact_integer and 8 * int(changed.max()) <= self.n_units:
            if changed.any():
                sweeps.pick("sync_apply_incremental", R)(rows, self.state, self._field, cT, self.per_trial,
                                                         s_new, dval)
            return changed
        whole = R == self.batch_size
        self.state[rows] = s_new
        if self.per_trial:
            self._field[rows] = np.einsum("bji,bj->bi", self._couplingT[rows], s_new)
        elif whole:
            np.matmul(s_new, self._couplingT, out=self._field)
        else:
            self._field[rows] = s_new @ self._couplingT
        return changed

    # ----- sub-sweep tracing (the viewer's unit stepping; the numpy reference, visit by visit) --
    def unit_updates(self, trial: int = 0) -> tuple[UnitUpdate, ...]:
        """Every unit visit of trial ``trial``'s last tick, in order, while ``trace_units`` was set
        (visits that change nothing too): unit, value before and after, its field h_i (in the
        units of W), delta_energy = E after - E before, and p(s_i = on) under Glauber."""
        return tuple(self._visits.get(int(trial), ()))

    def _energy_row(self, b: int) -> float:
        s = self.state[b].astype(np.float64)
        return float(self.scale * (-0.5 * s @ self._field[b].astype(np.float64)
                                   + s @ self._theta_c[b].astype(np.float64)))

    def _trace_stable(self, rows) -> None:
        for b in rows:
            h = (self._field[b] - self._theta_c[b]).astype(np.float64) * self.scale
            self._visits[int(b)] = [UnitUpdate(int(i), float(self.state[b, i]), float(self.state[b, i]),
                                               float(h[i]), 0.0) for i in range(self.n_units)]

    def _async_traced(self, rows: np.ndarray, order: np.ndarray | None, draws: np.ndarray | None) -> np.ndarray:
        """The asynchronous sweep unit by unit, recording every visit. The same decisions and the
        same float operations as :meth:`_async_events` (a column of W added per flip; Glauber's
        p from the same numpy expression), so the states equal an untraced run's."""
        lo, hi = self.unit_values
        N = self.n_units
        gain = None if draws is None else (1.0 if lo == -1 else 0.5) * self.scale / self.temperature
        flips = np.zeros(rows.size, dtype=int)
        for r, b in enumerate(rows):
            visits = []
            e = self._energy_row(b)
            for p in range(N):
                i = int(p if order is None else order[r, p])
                s = self.state[b, i]
                hv = self._field[b, i:i + 1] - self._theta_c[b, i:i + 1]  # (1,) in the field's dtype
                p_on = None
                if self.clamped[b, i]:
                    new = s
                    if draws is not None:
                        p_on = float((0.5 * (1.0 + np.tanh(gain * hv)))[0])
                elif draws is not None:
                    p_hi = 0.5 * (1.0 + np.tanh(gain * hv))
                    p_on = float(p_hi[0])
                    new = hi if draws[r, p] < p_hi[0] else lo
                else:
                    h = hv[0]
                    new = hi if (h > 0 and s == lo) else lo if (h < 0 and s == hi) else s
                de = 0.0
                if new != s:
                    self.state[b, i] = new
                    delta = np.asarray(new - s, dtype=self._dtype)
                    self._field[b] += self._couplingT[b if self.per_trial else slice(None)][i] * delta
                    flips[r] += 1
                    e2 = self._energy_row(b)
                    de, e = e2 - e, e2
                visits.append(UnitUpdate(i, float(s), float(new), float(hv[0]) * self.scale, de, p_on))
            self._visits[int(b)] = visits
        return flips

    def _async_events(self, rows: np.ndarray, order: np.ndarray | None, window: int = 64,
                      draws: np.ndarray | None = None) -> np.ndarray:
        """Asynchronous sweep that jumps from one *changing* unit to the next.

        Visiting a unit whose state already agrees with its field (or whose field is 0) changes
        nothing, so a sweep in ``order`` is exactly: find the next unit in order that disagrees
        with its field, flip it, correct all fields by one column of W, continue after it. Work is
        O(N) per flip instead of O(N) per visited unit, and all trials advance together: each
        iteration looks at the next ``window`` positions of every trial still in its sweep.
        Gives exactly the states of a unit-by-unit sweep (tests/test_hopfield.py holds that
        reference loop and checks it).

        Glauber dynamics (``draws`` given: the sweep's uniform draws, one per position, shape (R, N))
        jump the same way: between two flips the fields do not change, so whether the unit at each
        position of a look changes (its draw against p(s_i = +1) at its current field) is known
        for the whole look at once. At low temperature most visits change nothing and are skipped.
        """
        lo, hi = self.unit_values
        N = self.state.shape[1]
        K = k_base = min(window, N)
        R = rows.size
        # Work on contiguous copies of the trials in this sweep (written back at the end): every
        # index below is then a plain row number, which saves a level of indirection per call.
        # Zero-padded past the last unit: a look that runs off the end reads h = 0 and s = 0 there,
        # which never counts as a disagreement, so no bounds checks are needed.
        S = np.zeros((R, N + K), dtype=self.state.dtype)
        F = np.zeros((R, N + K), dtype=self._field.dtype)
        S[:, :N] = self.state[rows]
        F[:, :N] = self._field[rows]
        theta = self._theta_c[rows] if np.any(self._theta_c[rows]) else None
        clamped = self.clamped[rows] if self.clamped[rows].any() else None
        if draws is not None:
            # p(s_i = hi) = (1 + tanh(g h / 2T)) / 2, exactly as in the unit-by-unit loop
            gain = (1.0 if lo == -1 else 0.5) * self.scale / self.temperature
        if theta is not None or clamped is not None or order is not None or draws is not None:
            S, F = S[:, :N], F[:, :N]  # the general path below checks bounds itself
            padded = False
        else:
            padded = True
            # (R, N+1, K) views: row b, start p -> the K values from p on, gathered as whole blocks
            S_win = np.lib.stride_tricks.as_strided(S, (R, N + 1, K), (S.strides[0], S.strides[1], S.strides[1]),
                                                    writeable=False)
            F_win = np.lib.stride_tricks.as_strided(F, (R, N + 1, K), (F.strides[0], F.strides[1], F.strides[1]),
                                                    writeable=False)
            col_index = np.arange(N)
        per_trial = self.per_trial
        cT = self._couplingT
        pos = np.zeros(R, dtype=np.intp)
        flips = np.zeros(R, dtype=int)
        live = np.arange(R)
        offsets = np.arange(N)
        bipolar = lo == -1
        while live.size:
            calm = K > k_base  # the last look found nothing anywhere
            if padded and not calm:
                start = pos[live]
                hv, sv = F_win[live, start], S_win[live, start]
                units = None
            elif padded:
                # A calm stretch: one look at everything left of each trial's sweep.
                hv, sv = F[live, :N], S[live, :N]
                units = None
            else:
                lc = live[:, None]
                p = pos[live][:, None] + offsets[:K]
                near_end = p[:, -1].max() >= N
                if near_end:
                    valid = p < N
                    p = np.minimum(p, N - 1)
                units = p if order is None else order[lc, p]
                hv, sv = F[lc, units], S[lc, units]
                if theta is not None:
                    hv = hv - theta[lc, units]
            if draws is not None:
                p_hi = 0.5 * (1.0 + np.tanh(gain * hv))
                mis = np.where(draws[lc, p] < p_hi, hi, lo) != sv  # this visit changes the unit
            elif bipolar:
                mis = hv * sv < 0  # disagrees with its field (h = 0 never counts: ties keep)
            else:
                mis = ((hv > 0) & (sv == lo)) | ((hv < 0) & (sv == hi))
            if padded and calm:
                mis &= col_index >= pos[live][:, None]
            elif not padded:
                if near_end:
                    mis &= valid
                if clamped is not None:
                    mis &= ~clamped[lc, units]
            first = mis.argmax(axis=1)
            has = mis[np.arange(live.size), first]
            if padded and calm:
                first = first - pos[live]  # relative to each trial's position, like a look
            if has.all():
                hit, f = live, first
                K = k_base
            else:
                # Nothing in this look: skip it (a calm full look ends the trial's sweep).
                pos[live[~has]] += N if (padded and calm) else K
                if not has.any():
                    # Long calm stretches are crossed in a few wide looks (or one full look).
                    K = min(4 * K, N)
                    live = live[pos[live] < N]
                    continue
                K = k_base
                hit, f = live[has], first[has]
            if units is None:
                u = pos[hit] + f
            else:
                u = units[has, f] if hit is not live else units[np.arange(live.size), f]
            cur = S[hit, u]
            new = np.where(cur == lo, hi, lo).astype(S.dtype)
            S[hit, u] = new
            delta = new.astype(F.dtype) - cur
            cols = cT[rows[hit], u] if per_trial else cT[u]
            cols *= delta[:, None]
            if hit.size == R:
                # Every trial flipped a unit (the common case early in a sweep): update in place,
                # without gathering and scattering the field rows.
                F[:, :N] += cols
            else:
                F[hit, :N] += cols
            flips[hit] += 1
            pos[hit] += f + 1
            live = live[pos[live] < N]
        self.state[rows] = S[:, :N]
        self._field[rows] = F[:, :N]
        return flips

    def _sync(self, rows) -> np.ndarray:
        lo, hi = self.unit_values
        s = self.state[rows]
        hv = self._field[rows] - self._theta_c[rows]
        new = np.where(hv > 0, hi, np.where(hv < 0, lo, s)).astype(np.int8)
        new = np.where(self.clamped[rows], s, new)
        changed = (new != s).sum(axis=1)
        self.state[rows] = new
        self._field[rows] = self._fields_from_scratch(rows)
        return changed

    # ----- observables ----------------------------------------------------------------------
    def energy(self) -> np.ndarray:
        """E = -1/2 s^T W s + theta^T s per trial, shape (B,), from the kept fields h = C s:
        E = scale/2 * s . (2 theta - h) when the couplings are exact integers (one float64 product
        of exact integers: the same bits as the two sums, in fewer calls; this runs every tick)."""
        if not self.exact_integer:  # float couplings: the two sums, in their rounding
            s = self.state.astype(np.float64)
            f, th = self._field.astype(np.float64), self._theta_c.astype(np.float64)
            return self.scale * (-0.5 * np.einsum("bi,bi->b", s, f) + np.einsum("bi,bi->b", s, th))
        # Exact couplings: every term is an exact integer (|sum| < N 2**24 < 2**53), so E is a
        # function of the state alone, the same bits in any order of summation. It is kept with the
        # state's bytes it belongs to: a tick that changed no unit (most ticks of a settled run,
        # and the engine's final read) costs one byte comparison. The key is the state itself, so
        # any write to it (kernels, set_state, a viewer's temporary swap) misses the cache;
        # _state_changed drops it too (the fields are rebuilt there).
        key = self.state.tobytes()
        cached = self._energy_cache
        if cached is not None and cached[0] == key:
            return cached[1].copy()  # a copy: callers may keep or change what they get
        g = self._theta_c.astype(np.float64)
        g *= 2
        g -= self._field
        if g.shape[0] == 1:
            E = (0.5 * self.scale) * np.atleast_1d(g[0] @ self.state[0].astype(np.float64))
        else:
            E = (0.5 * self.scale) * np.einsum("bi,bi->b", self.state.astype(np.float64), g)
        self._energy_cache = (key, E.copy())
        return E

    _energy_cache = None  # (state bytes, E) of the last exact energy() (see energy)

    def overlaps(self) -> np.ndarray:
        """m_mu = xi_mu . s / N (0/1 units mapped to +-1), shape (B, P)."""
        return self.overlaps_of(self.state)

    def overlaps_of(self, states) -> np.ndarray:
        """:meth:`overlaps` in the states ``states`` (..., B, N), shape (..., B, P), float64. Every
        product is a sum of N +-1 terms, an exact integer in the patterns' float32 (N < 2**24) or
        float64, so any stacking and either dtype give the same bits once divided by N in float64."""
        states = np.asarray(states)
        if self.patterns is None or self.patterns.shape[-2] == 0:
            return np.zeros(states.shape[:-1] + (0,))
        lo, _ = self.unit_values
        xi = self._xi_pm
        s = states.astype(xi.dtype)
        if lo == 0:
            s = 2 * s - 1
        dots = np.einsum("bpn,...bn->...bp", xi, s) if xi.ndim == 3 else s @ xi.T
        return dots.astype(np.float64) / self.n_units

    def state_keys(self, idx) -> list[bytes]:
        """Each trial's units packed into bits (unit on = 1), ceil(N / 8) bytes a key: equal
        exactly when the states are equal, and 8x smaller than the int8 state, so the engine's
        256 MiB cap (CYCLE_MEMORY_BYTES, ~64 bytes of dict entry a key besides) holds about
        1.4 million ticks of a 1000-unit net at batch 1. A few trials (the engine's every-tick
        call on a small batch) are packed one by one (no fancy-indexed copy of the batch: about
        half the fixed cost); many at once in one call. The same bytes either way."""
        st = self.state
        if isinstance(idx, np.ndarray) and idx.dtype.kind in "iu" and idx.ndim == 1 and idx.size <= 8:
            return [np.packbits(st[b] > 0).tobytes() for b in idx.tolist()]  # (a mask takes the general path)
        packed = np.packbits(st[idx] > 0, axis=1)
        return [row.tobytes() for row in packed]

    def describe(self):
        return {"network_type": self.network_type, "n_units": self.n_units, "grid_shape": self.grid_shape,
                "units": self.units, "schedule": self.schedule.value, "per_trial_weights": self.per_trial}


# ---------------------------------------------------------------------------------------------
# scenario support
# ---------------------------------------------------------------------------------------------
def scenario_tables(network_type: str | None = None):
    """Family-specific top-level tables of a Hopfield scenario."""
    from ...spec import Field, Table

    def _pos(x):
        return None

    connectivity = Table({
        "kind": Field("str", "full", "which synapses exist", choices=("full", "random", "small_world", "lattice")),
        "p": Field("float", 0.5, "random: connection probability; small_world: rewiring probability", min=0, max=1),
        "k": Field("int", 4, "small_world: neighbours per unit (even)", min=2),
        "radius": Field("int", 1, "lattice: neighbours within this Chebyshev distance", min=1),
        "periodic": Field("bool", False, "lattice: wrap around the edges"),
    }, "Diluted connectivity: W is multiplied by the adjacency of a networkx graph.")
    network = Table({
        "type": Field("str", "hopfield", "network family", choices=("hopfield",)),
        "size": Field("int", None, "number of units N (taken from the patterns when omitted)", min=2, max=20000,
                      nullable=True),
        "shape": Field("list", None, "grid [rows, cols] to draw the units (taken from the patterns when omitted)",
                       item=Field("int", min=1), length=2, nullable=True),
        "units": Field("str", "bipolar", "unit values: bipolar = -1/+1, binary = 0/1", choices=("bipolar", "binary")),
        "learning": Field("str", "hebbian", "learning rule", choices=LEARNING_RULES),
        "energy": Field("str", None, "interaction energy: quadratic (the classic net, any learning rule; the "
                        "default when left out), polynomial F = x^n or rectified polynomial (Krotov & Hopfield "
                        "2016), exponential F = exp(x) (Demircigil et al. 2017); a dense energy stores the "
                        "patterns as the memory matrix (no learning rule)", choices=("quadratic", "polynomial",
                                                                                     "rectified", "exponential"),
                        nullable=True),
        "degree": Field("int", 3, "n of a polynomial or rectified energy F(x) = x^n", min=2, max=12),
        "thresholds": Field("float", 0.0, 'threshold theta of every unit; "auto" (binary units) = half the row sums of W',
                            alt=(Field("str", choices=("auto",)),)),
        "zero_diagonal": Field("bool", True, "remove self-connections w_ii"),
        "connectivity": Field("table", None, "diluted connectivity", table=connectivity),
    }, "The network.")
    patterns = Table({
        "source": Field("str", "letters", 'stored patterns: "letters", "digits", "alphanumeric", "random", '
                        'or a path to a bitmap text file or a PNG file (relative to the scenario file)'),
        "names": Field("list", None, "which patterns of the set to store, in order (default: all)",
                       item=Field("str"), length=(1, None), nullable=True),
        "count": Field("int", 3, "random: number of patterns P", min=1, max=100000),
        "bias": Field("float", 0.0, "random: mean activity (P(+1) = (1 + bias)/2)", min=-1, max=1),
        "per_trial": Field("bool", False, "random: draw a fresh pattern set for every trial"),
        "files": Field("list", None, "extra PNG files, each one pattern (thresholded)", item=Field("str"), nullable=True),
    }, "The stored patterns.")
    mask = Table({
        "rows": Field("list", None, "[first, end) rows of the grid", item=Field("int", min=0), length=2, nullable=True),
        "cols": Field("list", None, "[first, end) columns of the grid", item=Field("int", min=0), length=2, nullable=True),
        "value": Field("int", -1, "value written into the region", choices=(-1, 0, 1)),
    }, "A rectangle of the cue masked to a fixed value.")
    initial = Table({
        "kind": Field("str", "pattern", "initial state: a stored pattern (corrupted), random, or explicit",
                      choices=("pattern", "random", "explicit")),
        "pattern": Field("str", None, 'pattern: name of the cue pattern, "random" for a random stored pattern per trial '
                         '(default: the first)', alt=(Field("int", min=1),), nullable=True),
        "noise": Field("float", 0.0, "fraction of cue units flipped (exactly round(noise*N), per trial)", min=0, max=1),
        "mask": Field("table", None, "mask a region of the cue", table=mask, nullable=True),
        "bias": Field("float", 0.0, "random: mean activity", min=-1, max=1),
        "values": Field("list", None, 'explicit: N unit values, or grid rows as strings of "#" and "."',
                        nullable=True),
    }, "The initial state (the cue).")
    dynamics = Table({
        "schedule": Field("str", "random", "update schedule", choices=tuple(s.value for s in Schedule)),
        "temperature": Field("float", 0.0, "temperature T of the Glauber schedule", min=0),
        "anneal": Field("table", None, "annealing schedule (overrides temperature); see the anneal keys",
                        table=_anneal_table(), nullable=True),
    }, "How the units update.")
    return {
        "network": Field("table", None, "the network", table=network),
        "patterns": Field("table", None, "stored patterns", table=patterns),
        "initial": Field("table", None, "initial state", table=initial),
        "dynamics": Field("table", None, "dynamics", table=dynamics),
    }


def _anneal_table():
    try:
        from ...anneal import ANNEAL_TABLE  # written with the Boltzmann machine
        return ANNEAL_TABLE
    except ImportError:  # pragma: no cover - until the anneal module lands
        from ...spec import Table
        return Table({}, "annealing schedule", open=True)


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a name too long for the system counts as existing, so the reader
    reports what is wrong with it ("file name too long") instead of "not found"."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return True


def _load_pattern_set(cfg_patterns: dict, base_dir: Path, shape_hint, build_rng, trial_rngs, n_units):
    """Returns (names, patterns (P, N) or (B, P, N) int8 +-1, grid_shape)."""
    from ... import patterns as pt

    src = cfg_patterns["source"]
    names = cfg_patterns["names"]
    if src == "random":
        if n_units is None:
            raise ScenarioError([ValidationError("network.size", "is required with random patterns")])
        P = cfg_patterns["count"]
        bias = cfg_patterns["bias"]
        pnames = [f"p{k + 1}" for k in range(P)]
        if cfg_patterns["per_trial"]:
            xi = np.stack([pt.random_patterns(P, n_units, g, bias=bias) for g in trial_rngs])
        else:
            xi = pt.random_patterns(P, n_units, build_rng, bias=bias)
        return pnames, xi, shape_hint
    if src in ("letters", "digits", "alphanumeric"):
        pset = pt.builtin_set(src)
    else:
        path = (base_dir / src) if not Path(src).is_absolute() else Path(src)
        if not _exists(path):
            raise ScenarioError([ValidationError("patterns.source", f"file not found: {path}")])
        try:  # the reader refuses FIFOs, devices, names too long, huge files: say which key named it
            if path.suffix.lower() == ".png":
                pset = pt.load_png(path, shape=tuple(shape_hint) if shape_hint else None)
            else:
                pset = pt.load_bitmaps(path)
        except pt.PatternFileError as e:
            raise ScenarioError([ValidationError("patterns.source", str(e))]) from None
    for f in cfg_patterns.get("files") or []:
        path = base_dir / f
        if not _exists(path):
            raise ScenarioError([ValidationError("patterns.files", f"file not found: {path}")])
        try:
            extra = pt.load_png(path, shape=pset.shape)
        except pt.PatternFileError as e:
            raise ScenarioError([ValidationError("patterns.files", str(e))]) from None
        if extra.names[0] in pset.names:
            raise ScenarioError([ValidationError("patterns.files", f"{path.name} gives a pattern named "
                                                 f"{extra.names[0]!r}, a name the set already has; rename the file")])
        pset = pt.PatternSet(pset.names + extra.names, np.concatenate([pset.patterns, extra.patterns]), pset.shape)
    if names:
        dup = sorted({n for n in names if list(names).count(n) > 1})
        if dup:
            raise ScenarioError([ValidationError("patterns.names", f"names {', '.join(map(repr, dup))} more than "
                                                 "once; each pattern can be stored once")])
        missing = [n for n in names if n not in pset.names]
        if missing:
            raise ScenarioError([ValidationError("patterns.names", f"unknown pattern(s) {', '.join(map(repr, missing))}; "
                                                 f"the set has: {' '.join(pset.names)}")])
        pset = pset.select(names)
    return list(pset.names), np.asarray(pset.patterns, dtype=np.int8), pset.shape


def build(cfg: dict, batch_size: int, rngs: list[np.random.Generator], base_dir: Path,
          build_rng: np.random.Generator | None = None, first_trial: int = 0) -> HopfieldModel:
    """Build a Hopfield model with its initial state from a validated scenario config.

    Shared patterns come from ``build_rng``; everything per trial (per-trial patterns, the cue's
    target and noise) from ``rngs[b]``, so ``first_trial`` needs no special handling here."""
    from ... import patterns as pt

    if build_rng is None:
        build_rng = np.random.default_rng(0)
    net, pat, ini, dyn = cfg["network"], cfg["patterns"], cfg["initial"], cfg["dynamics"]
    names, xi, shape = _load_pattern_set(pat, base_dir, net["shape"], build_rng, rngs, net["size"])
    N = xi.shape[-1]
    if N < 2:  # e.g. a 1 x 1 image: the same minimum as network.size
        raise ScenarioError([ValidationError("patterns.source", f"the patterns have {N} unit(s); a network needs at "
                                             "least 2")])
    if net["size"] is not None and net["size"] != N:
        raise ScenarioError([ValidationError("network.size", f"is {net['size']} but the patterns have {N} units")])
    if net["shape"] is not None:
        shape = tuple(net["shape"])
    if shape is not None and shape[0] * shape[1] != N:
        raise ScenarioError([ValidationError("network.shape", f"{list(shape)} holds {shape[0] * shape[1]} units, "
                                             f"the network has {N}")])
    if shape is None:
        side = int(np.sqrt(N))
        shape = (side, N // side) if side * (N // side) == N else (1, N)
    dense = net["energy"] not in (None, "quadratic")
    if dense:  # Krotov & Hopfield's dense energies: the patterns are the memory, no W (dense.py)
        from .dense import check_config
        errs = check_config(net)
        if errs:
            raise ScenarioError(errs)
        coupling, scale = np.zeros((N, N)), 1.0  # not used: nothing below reads W of a dense net
    else:
        coupling, scale = learn(net["learning"], xi, net["zero_diagonal"])
    conn = net["connectivity"]
    if conn["kind"] != "full" and not dense:
        coupling = coupling * connectivity_mask(conn["kind"], N, build_rng, shape, conn["p"], conn["k"],
                                                conn["radius"], conn["periodic"])
    binary = net["units"] == "binary"
    thr = net["thresholds"]
    if thr == "auto":
        if not binary:
            raise ScenarioError([ValidationError("network.thresholds", '"auto" is for binary units only')])
        # theta_i = 1/2 sum_j W_ij makes the 0/1 network follow the same dynamics as the +-1 one.
        thresholds = 0.5 * scale * coupling.sum(axis=-1, dtype=np.float64)
        thresholds = thresholds if thresholds.ndim == 1 else thresholds
    else:
        thresholds = np.full(N, float(thr))
    # initial state (bipolar first, converted at the end)
    B = batch_size
    P = xi.shape[-2]
    kind = ini["kind"]
    if kind == "pattern":
        which = ini["pattern"]
        if which is None:
            idx = np.zeros(B, dtype=int)
        elif which == "random":
            idx = np.array([g.integers(P) for g in rngs])
        elif isinstance(which, int):
            if which > P:
                raise ScenarioError([ValidationError("initial.pattern", f"is {which} but only {P} patterns are stored")])
            idx = np.full(B, which - 1)
        else:
            if which not in names:
                raise ScenarioError([ValidationError("initial.pattern", f"unknown pattern {which!r}; stored: {' '.join(names)}")])
            idx = np.full(B, names.index(which))
        s0 = xi[np.arange(B), idx] if xi.ndim == 3 else xi[idx]
        s0 = np.array(s0, dtype=np.int8)
        if ini["noise"] > 0:
            s0 = np.stack([pt.flip_fraction(s0[b], ini["noise"], rngs[b]) for b in range(B)])
        m = ini["mask"]
        if m is not None:
            s0 = pt.mask_region(s0, shape, rows=m["rows"] or (0, shape[0]), cols=m["cols"] or (0, shape[1]),
                                value=m["value"] if not (binary and m["value"] == 0) else -1)
    elif kind == "random":
        s0 = np.stack([pt.random_patterns(1, N, g, bias=ini["bias"])[0] for g in rngs])
    else:
        vals = ini["values"]
        if vals is None:
            raise ScenarioError([ValidationError("initial.values", "is required when initial.kind is explicit")])
        s0 = _explicit_state(vals, N)
        s0 = np.broadcast_to(s0, (B, N)).copy()
    target = None
    if kind == "pattern":
        target = idx
    if binary:
        s0 = ((np.asarray(s0) + 1) // 2).astype(np.int8)
        xi_units = ((xi + 1) // 2).astype(np.int8)
    else:
        xi_units = xi
    temperature = dyn["temperature"]
    if dense:
        from .dense import make_model
        model = make_model(net, xi_units, names, s0, shape, dyn)
        model.target = target
        model.network_config = net
        return model
    hebb = net["learning"] == "hebbian"
    symmetric = True if hebb else None  # Hebb is exactly symmetric; others are checked
    # Hebb: |c_ij| <= P, so P N bounds every row sum without a pass over W
    model = HopfieldModel(coupling, scale, thresholds, xi_units, names, net["units"], dyn["schedule"],
                          temperature, s0, shape, symmetric=symmetric, integer=hebb,
                          max_row_sum=float(P) * N if hebb else None, kernel=dyn.get("kernel"))
    model.target = target
    if net["energy"] is not None:
        model.network_config = net
    return model


def _explicit_state(vals, N) -> np.ndarray:
    if all(isinstance(v, str) for v in vals):
        text = "".join(vals)
        bad = set(text) - set("#.")
        if bad:
            raise ScenarioError([ValidationError("initial.values", f'rows may hold only "#" and ".", got {sorted(bad)}')])
        arr = np.array([1 if c == "#" else -1 for c in text], dtype=np.int8)
    elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        arr = np.array(vals, dtype=float)
        if not np.all(np.isin(arr, (-1, 1))):
            raise ScenarioError([ValidationError("initial.values", "unit values must be -1 or +1")])
        arr = arr.astype(np.int8)
    else:
        raise ScenarioError([ValidationError("initial.values", 'must be a list of -1/+1 numbers or of "#." strings')])
    if arr.size != N:
        raise ScenarioError([ValidationError("initial.values", f"has {arr.size} values, the network has {N} units")])
    return arr


def summary(model: HopfieldModel, b: int) -> dict:
    """Extra result fields for trial b."""
    out = {"n_units": model.n_units, "n_patterns": int(model.patterns.shape[-2]) if model.patterns is not None else 0,
           "schedule": model.schedule.value}
    t = getattr(model, "target", None)
    if t is not None:
        out["target"] = model.pattern_names[int(t[b])]
        # trial b's overlap with its target alone, O(N): overlaps() of the whole batch once per
        # trial made a batch's summaries O(B^2 P N); the sum is the same exact integer either way
        k, xi = int(t[b]), model._xi_pm
        xi = xi[min(b, xi.shape[0] - 1)] if xi.ndim == 3 else xi
        s = model.state[b].astype(np.float64)
        if model.unit_values[0] == 0:
            s = 2 * s - 1
        out["target_overlap"] = float(xi[k] @ s / model.n_units)
    net = getattr(model, "network_config", None)
    if net is not None and net["energy"] is not None:  # a scenario that names its energy
        from .dense import capacity_fields
        out.update({"energy": net["energy"], **capacity_fields(model, net, b)})
    return out
