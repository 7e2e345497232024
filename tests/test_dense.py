"""Dense associative memory (Krotov & Hopfield 2016; Demircigil et al. 2017) and the modern
Hopfield network (Ramsauer et al. 2020): the physics each paper states, on the engine's models."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurnet_sim import load_scenario
from recurnet_sim.analysis.attractors import analyze_model
from recurnet_sim.families.hopfield.dense import DenseHopfieldModel, Tables, flip_costs_batch, kh_capacity
from recurnet_sim.families.hopfield.model import HopfieldModel, hebbian
from recurnet_sim.families.hopfield.modern import ModernHopfieldModel
from recurnet_sim.paths import resolve_shipped

ENERGIES = [("polynomial", 2), ("polynomial", 3), ("polynomial", 4), ("rectified", 3), ("rectified", 4),
            ("exponential", 3)]


def _patterns(rng, P, N):
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=(P, N))


# ----- energy descent ------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), which=st.integers(0, len(ENERGIES) - 1),
       n_units=st.integers(8, 40), n_patterns=st.integers(1, 30), schedule=st.sampled_from(["random", "sequential"]))
def test_energy_never_increases_under_asynchronous_updates(seed, which, n_units, n_patterns, schedule):
    """Every asynchronous flip strictly lowers E (a unit flips only when D_j < 0), for every energy."""
    energy, degree = ENERGIES[which]
    rng = np.random.default_rng(seed)
    xi = _patterns(rng, n_patterns, n_units)
    s0 = _patterns(rng, 3, n_units)
    m = DenseHopfieldModel(xi, energy, degree, s0, schedule)
    rngs = [np.random.default_rng(seed + b) for b in range(3)]
    E = m.energy()
    for _ in range(6):
        flips = m.step(rngs, np.ones(3, bool))
        E2 = m.energy()
        assert np.all(E2 <= E + 1e-12 * np.abs(E)), (E, E2)
        assert np.all((flips > 0) <= (E2 < E) | np.isclose(E2, E, rtol=1e-12))  # a flip is a descent
        E = E2


# ----- incremental overlaps == direct energy differences --------------------------------------
def _direct_sweep(xi, s, order, energy, degree):
    """Reference: visit units in order; flip unit i when E(flipped) < E(now), each energy computed
    from scratch (overlaps recomputed, Python integers / math.fsum: exact or correctly rounded)."""
    N = s.size
    s = s.astype(np.int64).copy()

    def E(state):
        m = (xi.astype(np.int64) @ state).tolist()
        if energy == "polynomial":
            return -sum(int(x) ** degree for x in m)
        if energy == "rectified":
            return -sum(int(x) ** degree for x in m if x > 0)
        return -math.fsum(math.exp(x - N) for x in m)

    for i in order:
        e0 = E(s)
        s[i] = -s[i]
        e1 = E(s)
        if energy == "exponential":
            keep = not (e1 < e0 and abs(e1 - e0) > 1e-12 * abs(e0) * 4)  # the model's tie band
        else:
            keep = not e1 < e0
        if keep:
            s[i] = -s[i]
    return s


@pytest.mark.parametrize("energy,degree", ENERGIES)
def test_incremental_overlaps_give_the_states_of_direct_energy_differences(energy, degree):
    rng = np.random.default_rng(7)
    N, P, B = 30, 12, 4
    xi = _patterns(rng, P, N)
    s0 = _patterns(rng, B, N)
    for schedule in ("sequential", "random"):
        m = DenseHopfieldModel(xi, energy, degree, s0, schedule)
        rngs = [np.random.default_rng(100 + b) for b in range(B)]
        ref_rngs = [np.random.default_rng(100 + b) for b in range(B)]
        ref = s0.astype(np.int64).copy()
        for _ in range(5):
            before = m.state.copy()
            stable_before = m.is_stable()
            m.step(rngs, np.ones(B, bool))
            for b in range(B):
                if stable_before[b]:
                    continue  # the model draws no order for a trial that cannot change
                order = np.arange(N) if schedule == "sequential" else ref_rngs[b].permutation(N)
                ref[b] = _direct_sweep(xi, before[b], order, energy, degree)
            np.testing.assert_array_equal(m.state, ref)
            # the incrementally kept overlaps are the overlaps of the state
            np.testing.assert_array_equal(m.raw_overlaps, m.state.astype(float) @ xi.T.astype(float))


def test_degree_two_is_the_hebbian_net_state_for_state():
    """F(x) = x^2: D_j = 4 s_j h_j with h = (Xi^T Xi - P I) s, so the dense net is Hebb's."""
    rng = np.random.default_rng(3)
    N, P, B = 60, 9, 5
    xi = _patterns(rng, P, N)
    s0 = _patterns(rng, B, N)
    c, scale = hebbian(xi)
    for schedule in ("random", "sequential", "synchronous"):
        a = DenseHopfieldModel(xi, "polynomial", 2, s0, schedule)
        h = HopfieldModel(c, scale, patterns=xi, schedule=schedule, state=s0)
        ra = [np.random.default_rng(b) for b in range(B)]
        rh = [np.random.default_rng(b) for b in range(B)]
        for _ in range(8):
            np.testing.assert_array_equal(a.step(ra, np.ones(B, bool)), h.step(rh, np.ones(B, bool)))
            np.testing.assert_array_equal(a.state, h.state)


# ----- capacity ------------------------------------------------------------------------------
def _stable_fraction(N, degree, K, seed, sample=300):
    """Fraction of a random sample of the K stored patterns that are exact fixed points."""
    rng = np.random.default_rng(seed)
    xi = _patterns(rng, K, N)
    idx = rng.choice(K, size=min(sample, K), replace=False)
    m = xi[idx].astype(np.int64) @ xi.T.astype(np.int64)
    D = flip_costs_batch(Tables("polynomial", degree, N), m, xi.T, xi[idx].astype(np.float64))
    return float(np.mean((D >= 0).all(axis=1)))


@pytest.mark.parametrize("degree", [3, 4])
def test_krotov_hopfield_capacity_at_n_100(degree):
    N = 100
    K = int(kh_capacity(N, degree))
    assert K == {3: 361, 4: 7238}[degree]
    at = _stable_fraction(N, degree, K, seed=degree)
    twice = _stable_fraction(N, degree, 2 * K, seed=10 + degree)
    assert at >= 0.85, at
    assert twice < 0.6, twice  # Gaussian signal-to-noise: ~0.2 at 2 K_max


# ----- attractors of a small dense net --------------------------------------------------------
def test_small_dense_net_attractors_are_its_fixed_points():
    sim = load_scenario(resolve_shipped("hopfield_tiny"), {"network.energy": "polynomial", "network.degree": 4})
    rep = analyze_model(sim.model, "async", graph=False)
    assert rep.n_shared >= 0 and all(a.period == 1 for a in rep.attractors)  # energy descent: no cycles
    # every stored pattern is a fixed point of the enumeration exactly when the model says so
    labels = {a.label for a in rep.attractors}
    for k, name in enumerate(sim.model.pattern_names):
        assert (name in labels) == sim.model.pattern_stable(0, k)
    # the reversed patterns of the even F are attractors too; the rectified F removes them
    rect = load_scenario(resolve_shipped("hopfield_tiny"), {"network.energy": "rectified", "network.degree": 4})
    rep_r = analyze_model(rect.model, "async", graph=False)
    assert any(a.kind == "reversed" for a in rep.attractors)
    assert not any(a.kind == "reversed" for a in rep_r.attractors)


# ----- the modern Hopfield network ------------------------------------------------------------
def _modern(beta, N=120, P=20, seed=1):
    rng = np.random.default_rng(seed)
    X = _patterns(rng, P, N).astype(float)
    cue = X[3].copy()
    cue[N // 2:] = 0.0  # half-masked query (Ramsauer et al. 2020, fig. 2)
    return X, ModernHopfieldModel(X, beta, cue[None, :])


def test_modern_net_retrieves_in_one_update_at_large_beta():
    X, m = _modern(beta=1.0)
    E0 = m.energy()
    m.step([np.random.default_rng(0)], np.ones(1, bool))
    assert np.max(np.abs(m.state[0] - X[3])) < 1e-10
    assert m.energy()[0] <= E0[0]
    assert m.step([np.random.default_rng(0)], np.ones(1, bool))[0] == 0  # already a fixed point


def test_modern_net_returns_the_global_average_at_small_beta():
    X, m = _modern(beta=1e-4)
    for _ in range(5):
        m.step([np.random.default_rng(0)], np.ones(1, bool))
    avg = X.mean(axis=0)
    assert np.max(np.abs(m.state[0] - avg)) < 1e-2
    assert np.max(np.abs(m.state[0] - X[3])) > 0.5
    assert m.recalled() == [(None, False)]  # an average of all patterns is no recall


def test_modern_scenarios_name_their_fixed_points():
    kinds = {}
    for name in ("modern_hopfield_beta_small", "modern_hopfield_metastable", "modern_hopfield_beta_large"):
        sim = load_scenario(resolve_shipped(name))
        sim.run()
        kinds[name] = sim.results()[0].extra["fixed_point_kind"]
    assert kinds["modern_hopfield_beta_small"] == "global average"
    assert kinds["modern_hopfield_metastable"].startswith("metastable")
    assert kinds["modern_hopfield_beta_large"] == "single pattern"
