"""State-space analysis: attractors, basins, reach probabilities and classification.

The small networks below are worked out by hand in the comments; larger ones are checked against
theory (Hopfield 1982; Goles & Olivos 1981; Amit, Gutfreund & Sompolinsky 1985; Kosko 1988) or
against a brute-force re-implementation that shares no code with the module.

State codes: bit i = unit i on. For 3 units "+--" means s = (+1, -1, -1), code 1.
"""
from __future__ import annotations

import itertools
import json
from types import SimpleNamespace

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recurnet_sim.analysis.attractors import (
    GRAPH_AUTO_LIMIT,
    StateSpace,
    analyze,
    analyze_model,
    attractor_graph,
    decode_states,
    encode_states,
)
from recurnet_sim.errors import RecurnetError, SimulationError, ValidationError
from recurnet_sim.families.bam.statespace import analyze_bam
from recurnet_sim.families.hopfield.statespace import analyze_network


def by_states(report):
    """{frozenset of state codes: attractor}"""
    return {frozenset(int(c) for c in a.states): a for a in report.attractors}


def walsh(rows, n=16):
    """Rows of the Sylvester-Hadamard matrix: mutually orthogonal +-1 patterns."""
    c = np.arange(n)
    return np.array([(-1) ** np.array([bin(r & k).count("1") for k in c]) for r in rows], dtype=float)


# ============================================================================================
# Hand-checked networks
# ============================================================================================
# Star: unit 0 coupled to units 1 and 2 (weight 1), theta_0 = -0.5, theta_1 = theta_2 = 0.
# Units 1 and 2 copy s0 (h = s0, never a tie). Unit 0: h0 - theta0 = s1 + s2 + 0.5, so it turns on
# unless s1 = s2 = -1. E = -(s0 s1 + s0 s2) - 0.5 s0.
STAR_W = np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], dtype=float)
STAR_THETA = np.array([-0.5, 0.0, 0.0])


def test_star_synchronous_by_hand():
    # Synchronous successors (s0 s1 s2 -> s0' = [s1+s2+.5 > 0], s1' = s2' = s0):
    #   +++ -> +++          --- -> ---
    #   ++- -> +++          +-+ -> +++
    #   +-- -> -++          -++ -> +--   (a 2-cycle, allowed by Goles for symmetric W)
    #   --+ -> +--          -+- -> +--
    # Fixed point +++ (code 7) basin {+++, ++-, +-+} = 3; fixed point --- (code 0) basin 1;
    # 2-cycle {+-- (1), -++ (6)} basin {+--, -++, --+, -+-} = 4.
    r = analyze_network(STAR_W, STAR_THETA, schedule="sync")
    a = by_states(r)
    assert set(a) == {frozenset({7}), frozenset({0}), frozenset({1, 6})}
    assert (a[frozenset({7})].period, a[frozenset({7})].basin_size) == (1, 3)
    assert (a[frozenset({0})].period, a[frozenset({0})].basin_size) == (1, 1)
    cyc = a[frozenset({1, 6})]
    assert (cyc.period, cyc.basin_size, cyc.kind) == (2, 4, "cycle")
    assert list(cyc.states) == [1, 6]  # visiting order from the smallest code
    # Energies: +++ -> -2 - 0.5 = -2.5; --- -> -2 + 0.5 = -1.5; +-- -> +2 - 0.5 = 1.5; -++ -> 2 + 0.5 = 2.5
    assert a[frozenset({7})].energy == -2.5
    assert a[frozenset({0})].energy == -1.5
    assert cyc.energies == [1.5, 2.5]
    # Deterministic dynamics: reach probability = basin fraction.
    assert cyc.reach_probability == 0.5
    assert [x.id for x in r.attractors] == [0, 1, 2] and r.attractors[0] is cyc  # most probable first
    # Which basin each state is in (the viewer's highlight).
    for code, states in [(2, {1, 6}), (4, {1, 6}), (3, {7}), (5, {7}), (0, {0})]:
        assert frozenset(r.attractors[r.attractor_of(code)].states.tolist()) == frozenset(states)
    assert r.attractor_containing(6) == cyc.id and r.attractor_containing(3) is None


def test_star_asynchronous_by_hand():
    # One unit per step; edges only for updates that change the state:
    #   ++- -> +++ (unit 2)                        only +++
    #   +-+ -> +++ (unit 1)                        only +++
    #   +-- -> --- (unit 0), ++-, +-+              P(+++) = 2/3
    #   -++ -> +++ (unit 0), --+, -+-              P(+++) = 1/3 + 2/3 * 1/2 = 2/3
    #   --+ -> +-+ (unit 0), --- (unit 2)          P(+++) = 1/2
    #   -+- -> ++- (unit 0), --- (unit 1)          P(+++) = 1/2
    # Attractors: fixed points +++ and ---. Only-basins: +++ {+++, ++-, +-+} = 3, --- {---} = 1,
    # 4 states shared. From a uniform start:
    #   P(+++) = (1 + 1 + 1 + 2/3 + 2/3 + 1/2 + 1/2 + 0) / 8 = 2/3,  P(---) = 1/3.
    r = analyze_network(STAR_W, STAR_THETA, schedule="async")
    a = by_states(r)
    assert set(a) == {frozenset({7}), frozenset({0})}
    assert a[frozenset({7})].basin_size == 3 and a[frozenset({0})].basin_size == 1
    assert a[frozenset({7})].reach_probability == pytest.approx(2 / 3, abs=1e-12)
    assert a[frozenset({0})].reach_probability == pytest.approx(1 / 3, abs=1e-12)
    assert r.n_shared == 4
    assert all(x.period == 1 for x in r.attractors)
    assert r.attractor_of(1) is None and r.attractor_of(3) == a[frozenset({7})].id
    assert "exact" in r.reach_method
    assert sorted(r.successors(1)) == [0, 3, 5]  # +-- -> ---, ++-, +-+


def test_two_unit_coupling_by_hand():
    # W = [[0,1],[1,0]]: each unit copies the other.
    # sync: -- and ++ are fixed points; +- <-> -+ is a 2-cycle. Basins 1, 1, 2.
    # async: +- -> -- or ++ (one unit each); the 2-cycle disappears; P = 1/4 + 1/2 * 1/2 = 1/2 each.
    # E = -s0 s1: -1 at the fixed points, +1 on the cycle.
    W = [[0, 1], [1, 0]]
    s = by_states(analyze_network(W, schedule="sync"))
    assert {k: (v.period, v.basin_size) for k, v in s.items()} == {
        frozenset({0}): (1, 1),
        frozenset({3}): (1, 1),
        frozenset({1, 2}): (2, 2),
    }
    assert s[frozenset({1, 2})].energies == [1.0, 1.0]
    r = analyze_network(W, schedule="async")
    a = by_states(r)
    assert set(a) == {frozenset({0}), frozenset({3})}
    assert [x.reach_probability for x in r.attractors] == [0.5, 0.5]
    assert [x.basin_size for x in r.attractors] == [1, 1] and r.n_shared == 2


def test_ferromagnet_ties_keep_the_unit():
    # Three units, all couplings 1. In ++- units 0 and 1 see h = 1 - 1 = 0, a tie, and keep their
    # value; unit 2 sees +2 and turns on. So every majority-+ state goes to +++ in one synchronous
    # step (basin 4) and likewise for ---. E(+++) = -1/2 * 6 = -3, E(++-) = -1/2 * (-2) = +1.
    W = np.ones((3, 3)) - np.eye(3)
    for sched in ("sync", "async"):
        r = analyze_network(W, schedule=sched)
        a = by_states(r)
        assert set(a) == {frozenset({0}), frozenset({7})}
        assert [x.basin_size for x in r.attractors] == [4, 4]
        assert [x.energy for x in r.attractors] == [-3.0, -3.0]
    assert r.energies([3]).tolist() == [1.0]
    assert r.n_shared == 0 and [x.reach_probability for x in r.attractors] == [0.5, 0.5]


@pytest.mark.parametrize(
    "n, periods",
    [
        # Cyclic shift s_i <- s_{i-1} rotates the bit string: the orbits of binary necklaces.
        # n=3: 000, 111 | {001,010,100}, {011,110,101}              -> 1, 1, 3, 3
        (3, [1, 1, 3, 3]),
        # n=4: 0000, 1111 | {0101,1010} | three 4-cycles             -> 1, 1, 2, 4, 4, 4
        (4, [1, 1, 2, 4, 4, 4]),
        # n=5: 2 fixed points and (32 - 2) / 5 = 6 five-cycles
        (5, [1, 1] + [5] * 6),
    ],
)
def test_cyclic_shift_has_long_cycles(n, periods):
    W = np.roll(np.eye(n), 1, axis=0)  # W[i, i-1] = 1: asymmetric
    r = analyze_network(W, schedule="sync")
    assert sorted(a.period for a in r.attractors) == periods
    # A rotation is a bijection: every state is on a cycle, so basin = cycle.
    assert all(a.basin_size == a.period for a in r.attractors)
    assert max(a.period for a in r.attractors) > 2  # Goles' bound needs symmetry
    rot = {c: ((c << 1) | (c >> (n - 1))) & ((1 << n) - 1) for c in range(1 << n)}
    for a in r.attractors:
        for x, y in zip(a.states, np.roll(a.states, -1)):
            assert rot[int(x)] == int(y)
    # Asynchronously a unit copies its left neighbour; every non-uniform state can be driven to
    # both uniform states, so only 0...0 and 1...1 remain, each with P = 1/2 (spin-flip symmetry).
    ra = analyze_network(W, schedule="async")
    assert set(by_states(ra)) == {frozenset({0}), frozenset({(1 << n) - 1})}
    assert [a.reach_probability for a in ra.attractors] == pytest.approx([0.5, 0.5])
    assert ra.n_shared == (1 << n) - 2


def test_frustrated_ring_recurrent_set():
    # s_i <- -s_{i-1} on a ring of 3 (W[i, i-1] = -1). sync: s' = -rot(s): 000 <-> 111 (period 2)
    # and one 6-cycle through the other states. async: in every non-uniform state exactly one unit
    # disagrees with its rule, giving 001 -> 101 -> 100 -> 110 -> 010 -> 011 -> 001: a terminal
    # strongly connected component of 6 states that every state reaches (P = 1).
    # E = -1/2 s^T W s = 1/2 sum_i s_i s_{i-1}: +1.5 at 000/111, -0.5 on the 6 others.
    W = -np.roll(np.eye(3), 1, axis=0)
    s = by_states(analyze_network(W, schedule="sync"))
    assert {k: v.period for k, v in s.items()} == {frozenset({0, 7}): 2, frozenset(range(1, 7)): 6}
    r = analyze_network(W, schedule="async")
    (a,) = r.attractors
    assert set(a.states.tolist()) == set(range(1, 7))
    assert (a.kind, a.period, a.basin_size) == ("recurrent", None, 8)
    assert a.reach_probability == pytest.approx(1.0)
    assert a.energy == -0.5


def test_bam_by_hand():
    # n_x = 2, n_y = 1, W = [[1], [1]]; code bits: x0, x1, y.
    # One synchronous step: y <- f(x0 + x1) (keep y on 0), then x <- (y, y).
    #   x = ++ : -> (+,+,+);  x = -- : -> (-,-,-);  x = +- or -+ : y kept, x <- (y, y).
    # So (+,+,+) = 7 and (-,-,-) = 0 are the only attractors, fixed points, basin 4 each.
    # E = -x^T W y = -(x0 + x1) y = -2 at both.
    r = analyze_bam([[1], [1]], schedule="sync")
    a = by_states(r)
    assert set(a) == {frozenset({0}), frozenset({7})}
    assert [x.basin_size for x in r.attractors] == [4, 4]
    assert [x.energy for x in r.attractors] == [-2.0, -2.0]
    assert r.layers == (2, 1) and r.attractors[0].bits[0] in ("00|0", "11|1")
    # Asynchronously: (+,-,+), (-,+,+) can only reach 7 (y sees a tie); (+,+,-) can flip y
    # (-> 7) or an x unit (-> states that only reach 0): P(7) = 1/3 from it, 2/3 from (-,-,+).
    # Only-basins 3 and 3, 2 shared; uniform start: P = (1 + 2 + 1/3 + 2/3) / 8 = 1/2 each.
    r = analyze_bam([[1], [1]], schedule="async")
    assert [x.basin_size for x in r.attractors] == [3, 3] and r.n_shared == 2
    assert [x.reach_probability for x in r.attractors] == pytest.approx([0.5, 0.5])


# ============================================================================================
# Theory on larger networks
# ============================================================================================
def test_hebbian_orthogonal_patterns_and_mixtures():
    # Three orthogonal patterns (Walsh rows 1, 2, 4) in N = 16, W = Xi^T Xi - P I (integer).
    # Stored: h = N xi - P xi, stable. Energy -1/2 (N^2 - P N) = -1/2 (256 - 48) = -104.
    # Symmetric 3-mixtures m = sign(sum eps_mu xi_mu) have overlap N/2 = 8 with each pattern
    # (majority expansion: maj = (a + b + c - abc) / 2 and xi_mu . (abc) = 0), so
    # h_i m_i = 8 |sum eps xi_i| - 3 >= 5 > 0: all 8 sign choices are fixed points (Amit et al.
    # 1985), with E = -1/2 (3 * 64 - 48) = -72 and Hamming distance (16 - 8) / 2 = 4 to a pattern.
    X = walsh([1, 2, 4])
    W = X.T @ X - 3 * np.eye(16)
    for sched in ("sync", "async"):
        r = analyze_network(W, schedule=sched, patterns=X, names=["A", "B", "C"])
        labels = {a.label: a for a in r.attractors}
        for nm in "ABC":
            assert labels[nm].kind == "stored" and labels["-" + nm].kind == "reversed"
            assert labels[nm].energy == -104 and labels[nm].hamming_to_nearest == 0
        mixes = [a for a in r.attractors if a.kind == "mixture"]
        assert sorted(a.label for a in mixes) == sorted(
            f"mix({e1}A,{e2}B,{e3}C)" for e1, e2, e3 in itertools.product("+-", repeat=3)
        )
        assert all(a.energy == -72 and a.hamming_to_nearest == 4 for a in mixes)
        if sched == "sync":
            assert all(a.period in (1, 2) for a in r.attractors)  # Goles
        else:
            assert all(a.period == 1 for a in r.attractors)  # energy is a Lyapunov function
            assert sum(a.reach_probability for a in r.attractors) == pytest.approx(1.0)
    # Stored patterns have the largest basins in the synchronous analysis.
    rs = analyze_network(W, schedule="sync", patterns=X, names=["A", "B", "C"])
    assert {a.kind for a in rs.attractors[:6]} == {"stored", "reversed"}


def test_five_pattern_mixture_is_found_and_named():
    # Walsh rows {1, 2, 4, 8, 15}: no 2 or 4 of them multiply to the constant row, so the
    # 5-mixture has overlap 3N/8 = 6 with every pattern and h_i m_i = 6 |sum xi_i| - 5 >= 1 > 0.
    X = walsh([1, 2, 4, 8, 15])
    W = X.T @ X - 5 * np.eye(16)
    r = analyze_network(W, schedule="async", patterns=X, names=list("ABCDE"))
    labels = {a.label for a in r.attractors}
    assert "mix(+A,+B,+C,+D,+E)" in labels and "mix(-A,-B,-C,-D,-E)" in labels
    for nm in "ABCDE":
        assert nm in labels and "-" + nm in labels


def test_zero_one_units_same_dynamics():
    # s = 2b - 1 turns h = W s into h = 2 W b - W 1, so a 0/1 network with W' = 2W and
    # theta' = W 1 has exactly the same transitions, hence the same attractors and basins, and
    # mixtures of the 0/1 patterns are named the same way.
    X = walsh([1, 2, 4], n=12)[:, :12]
    W = X.T @ X - 3 * np.eye(12)
    B = (X + 1) / 2
    for sched in ("sync", "async"):
        pm = analyze_network(W, schedule=sched, patterns=X, names="ABC")
        zo = analyze_network(2 * W, W.sum(axis=1), (0, 1), sched, patterns=B, names="ABC")
        key = lambda r: sorted((tuple(a.states), a.basin_size, a.label) for a in r.attractors)  # noqa: E731
        assert key(pm) == key(zo)


def test_float_weights_tie_like_integer_weights():
    # Xi^T Xi / N with N = 7 is not exact in binary; h = 0 ties must still be ties.
    rng = np.random.default_rng(3)
    X = rng.choice([-1.0, 1.0], size=(4, 12))
    Wi = X.T @ X - 4 * np.eye(12)
    for sched in ("sync", "async"):
        a = analyze_network(Wi, schedule=sched)
        b = analyze_network(Wi / 7, schedule=sched)
        assert [(tuple(x.states), x.basin_size) for x in a.attractors] == [
            (tuple(x.states), x.basin_size) for x in b.attractors
        ]


sym_net = st.integers(2, 7).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.integers(-3, 3), min_size=n * n, max_size=n * n),
        st.lists(st.sampled_from([-1.5, -1.0, 0.0, 0.5, 1.0]), min_size=n, max_size=n),
        st.sampled_from([(-1, 1), (0, 1)]),
    )
)


@settings(max_examples=60, deadline=None)
@given(sym_net)
def test_goles_symmetric_sync_has_period_at_most_two(net):
    # Goles & Olivos 1981: parallel iteration of a symmetric threshold network has only fixed
    # points and 2-cycles. Keeping a unit on a tie is the rule with W + eps I, still symmetric.
    n, w, theta, uv = net
    W = np.array(w, dtype=float).reshape(n, n)
    W = np.triu(W) + np.triu(W, 1).T
    r = analyze_network(W, theta, uv, "sync")
    assert {a.period for a in r.attractors} <= {1, 2}
    assert sum(a.basin_size for a in r.attractors) == 2**n
    # Asynchronously, with W_ii >= 0 each move lowers E, so attractors are fixed points.
    np.fill_diagonal(W, np.abs(np.diag(W)))
    ra = analyze_network(W, theta, uv, "async")
    assert all(a.period == 1 and a.size == 1 for a in ra.attractors)


# ============================================================================================
# Cross-check against brute force (no shared code)
# ============================================================================================
def brute_step(W, theta, lo, hi, s, units):
    s = list(s)
    h = [sum(W[i][j] * s[j] for j in range(len(s))) for i in range(len(s))]  # from the old state
    for i in units:
        if h[i] > theta[i]:
            s[i] = hi
        elif h[i] < theta[i]:
            s[i] = lo
    return tuple(s)


def brute_code(s, hi):
    return sum(1 << i for i, v in enumerate(s) if v == hi)


def absorption(T, comps):
    """P(absorbed in each attracting component) from a uniform start, by the fundamental matrix
    of the lazy chain T (M, M): B = (I - T_tt)^-1 T_ta (Kemeny & Snell 1960)."""
    M = len(T)
    rec = sorted(set().union(*comps))
    tr = [c for c in range(M) if c not in set(rec)]
    out = {}
    N_fund = np.linalg.inv(np.eye(len(tr)) - T[np.ix_(tr, tr)]) if tr else np.zeros((0, 0))
    for comp in comps:
        cols = sorted(comp)
        from_tr = (N_fund @ T[np.ix_(tr, cols)]).sum(axis=1) if tr else np.zeros(0)
        out[comp] = (len(cols) + from_tr.sum()) / M
    return out


any_net = st.integers(2, 6).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.lists(st.integers(-2, 2), min_size=n * n, max_size=n * n),
        st.lists(st.sampled_from([-1.0, 0.0, 1.0]), min_size=n, max_size=n),
    )
)


@settings(max_examples=60, deadline=None)
@given(any_net)
def test_matches_brute_force(net):
    n, w, theta = net
    W = np.array(w, dtype=float).reshape(n, n)
    lo, hi = -1, 1
    states = list(itertools.product([lo, hi], repeat=n))
    states = [tuple(reversed(s)) for s in states]  # any order; codes are what we compare
    code = {s: brute_code(s, hi) for s in states}

    # --- synchronous: follow each trajectory until it repeats
    nxt = {code[s]: code[brute_step(W.tolist(), theta, lo, hi, s, range(n))] for s in states}
    ends = {}
    for c0 in nxt:
        seen, c = [], c0
        while c not in seen:
            seen.append(c)
            c = nxt[c]
        ends[c0] = frozenset(seen[seen.index(c):])
    r = analyze_network(W, theta, schedule="sync")
    got = {frozenset(a.states.tolist()): a.basin_size for a in r.attractors}
    want = {}
    for cyc in ends.values():
        want[cyc] = want.get(cyc, 0) + 1
    assert got == want
    for c0, cyc in ends.items():
        assert frozenset(r.attractors[r.attractor_of(c0)].states.tolist()) == cyc

    # --- asynchronous: attracting components (networkx) and the lazy chain's limit
    G = nx.DiGraph()
    M = 2**n
    T = np.zeros((M, M))
    for s in states:
        G.add_node(code[s])
        for i in range(n):
            t = code[brute_step(W.tolist(), theta, lo, hi, s, [i])]
            T[code[s], t] += 1 / n  # a uniformly random unit per step
            if t != code[s]:
                G.add_edge(code[s], t)
    comps = [frozenset(c) for c in nx.attracting_components(G)]
    ra = analyze_network(W, theta, schedule="async")
    assert {frozenset(a.states.tolist()) for a in ra.attractors} == set(comps)
    limit = absorption(T, comps)
    for a in ra.attractors:
        assert a.reach_probability == pytest.approx(limit[frozenset(a.states.tolist())], abs=1e-9)
    # Only-basins: states whose reachable attracting components are exactly one.
    reach = {c: {k for k, comp in enumerate(comps) if any(nx.has_path(G, c, x) for x in comp)} for c in G}
    for a in ra.attractors:
        k = comps.index(frozenset(a.states.tolist()))
        assert a.basin_size == sum(1 for c in reach if reach[c] == {k})


@pytest.mark.parametrize("dense_limit", [2000, 0])  # 0 forces the sparse iterative solver
def test_transient_cycle_solved_exactly(dense_limit, monkeypatch):
    from recurnet_sim.analysis import attractors as mod

    monkeypatch.setattr(mod, "_DENSE_LIMIT", dense_limit)
    # A random asymmetric network whose asynchronous graph has a transient strongly connected
    # component of more than one state (found by search with this seed): the component solve is
    # checked against the lazy chain's absorption probabilities.
    rng = np.random.default_rng(11)
    for _ in range(200):
        n = 6
        W = rng.integers(-2, 3, size=(n, n)).astype(float)
        G = nx.DiGraph()
        r = analyze_network(W, schedule="async")
        for c in range(2**n):
            for t in r.successors(c):
                G.add_edge(c, t)
        sccs = [c for c in nx.strongly_connected_components(G) if len(c) > 1]
        attr = {frozenset(a.states.tolist()) for a in r.attractors}
        if any(frozenset(c) not in attr for c in sccs) and len(r.attractors) > 1:
            break
    else:
        pytest.skip("no network with a transient cycle found")
    T = np.zeros((64, 64))
    for c in range(64):
        s = decode_states(c, n)
        for i in range(n):
            t = brute_step(W.tolist(), [0.0] * n, -1, 1, tuple(s), [i])
            T[c, brute_code(t, 1)] += 1 / n
    limit = absorption(T, [frozenset(c) for c in nx.attracting_components(G)])
    for a in r.attractors:
        assert a.reach_probability == pytest.approx(limit[frozenset(a.states.tolist())], abs=1e-9)


def test_sampled_reach_probability_is_stated_and_close():
    r = analyze_network(STAR_W, STAR_THETA, schedule="async", reach="sample", n_samples=20000, seed=5)
    a = by_states(r)[frozenset({7})]
    assert "sampled" in r.reach_method and "20000" in r.reach_method and "seed 5" in r.reach_method
    assert a.reach_stderr is not None and abs(a.reach_probability - 2 / 3) < 4 * a.reach_stderr + 1e-3


@settings(max_examples=30, deadline=None)
@given(
    st.integers(1, 4).flatmap(
        lambda nx_: st.tuples(
            st.just(nx_),
            st.integers(1, 4),
            st.lists(st.integers(-2, 2), min_size=16, max_size=16),
        )
    )
)
def test_bam_sync_is_bidirectionally_stable(args):
    # Kosko 1988: every half-step of the bidirectional pass lowers E = -x^T W y or leaves the state,
    # so for ANY W every synchronous trajectory ends in a fixed pair (no cycles).
    nx_, ny_, w = args
    W = np.array(w[: nx_ * ny_], dtype=float).reshape(nx_, ny_)
    r = analyze_bam(W, schedule="sync")
    assert all(a.period == 1 for a in r.attractors)
    for a in r.attractors:
        s = decode_states(a.states[0], nx_ + ny_)
        x, y = s[:nx_], s[nx_:]
        assert a.energy == pytest.approx(-x @ W @ y)


def test_bam_stored_pairs_are_classified():
    # Kosko's rule W = sum_mu x_mu y_mu^T with orthogonal x and orthogonal y: W^T x_mu = n_x y_mu,
    # W y_mu = n_y x_mu, so each stored pair and its reverse is a fixed point of one pass.
    X = walsh([1, 2], n=8)
    Y = walsh([1, 2], n=4)
    W = X.T @ Y
    for sched in ("sync", "async"):
        r = analyze_bam(W, X, Y, ["cat", "dog"], sched)
        labels = {a.label: a for a in r.attractors}
        for nm in ("cat", "dog"):
            assert labels[nm].kind == "stored" and labels["-" + nm].kind == "reversed"
            assert labels[nm].energy == -8 * 4  # -x^T (x y^T) y = -n_x n_y
        assert r.family == "bam" and r.n_states == 2**12


# ============================================================================================
# Model adapter, output, graphs
# ============================================================================================
def hopfield_model(n=8, P=2):
    X = walsh(range(1, P + 1), n=n)
    W = X.T @ X - P * np.eye(n)
    return SimpleNamespace(
        network_type="hopfield",
        weights=W,
        thresholds=np.zeros(n),
        unit_values=(-1.0, 1.0),
        patterns=X,
        pattern_names=[f"p{k}" for k in range(P)],
    )


def test_analyze_model_hopfield_and_bam():
    m = hopfield_model()
    r = analyze_model(m, "async")
    assert r.schedule == "async" and r.pattern_names == ["p0", "p1"]
    assert {"p0", "-p0", "p1", "-p1"} <= {a.label for a in r.attractors}
    X, Y = walsh([1], n=4), walsh([1], n=2)
    bam = SimpleNamespace(network_type="bam", weights=X.T @ Y, n_x=4, n_y=2, pairs_x=X, pairs_y=Y, pattern_names=["a"])
    rb = analyze_model(bam, "synchronous")
    assert rb.family == "bam" and "a" in {a.label for a in rb.attractors}


def test_errors_are_clear():
    big = SimpleNamespace(network_type="hopfield", weights=np.zeros((21, 21)))
    with pytest.raises(SimulationError, match=r"N <= 20.*21"):
        analyze_model(big, "sync")
    with pytest.raises(SimulationError, match="network type 'elman' has none .*declares no state_space"):
        analyze_model(SimpleNamespace(network_type="elman"), "sync")
    with pytest.raises(SimulationError, match="no family builds network type 'nonesuch'"):
        analyze_model(SimpleNamespace(network_type="nonesuch"), "sync")
    bam = SimpleNamespace(network_type="bam", weights=np.zeros((12, 9)), n_x=12, n_y=9)
    with pytest.raises(SimulationError, match="12 \\+ 9"):
        analyze_model(bam, "sync")
    with pytest.raises(ValidationError, match="schedule"):
        analyze_network(np.zeros((2, 2)), schedule="glauber")
    with pytest.raises(ValidationError, match="square"):
        analyze_network(np.zeros((2, 3)))
    with pytest.raises(RecurnetError, match="patterns"):
        analyze_network(np.zeros((2, 2)), patterns=[[1, 0]])  # 0 is not a +-1 unit value


def test_a_layered_state_space_is_generic():
    # The bidirectional pass is no special case: any state space with layers and a synchronous
    # order gets it. Declared by hand, the BAM of test_bam_by_hand gives the same report.
    B = np.array([[0, 0, 1], [0, 0, 1], [1, 1, 0]], dtype=float)
    space = StateSpace("two-layer", B, layers=(("x", 2), ("y", 1)), sync_order=("y", "x"))
    r, ref = analyze(space, "sync"), analyze_bam([[1], [1]], schedule="sync")
    assert [a.to_dict() for a in r.attractors] == [a.to_dict() for a in ref.attractors]
    assert r.family == "two-layer" and r.layers == (2, 1) and "(x: 2, y: 1)" in r.to_table()
    # all at once instead, the same coupling can oscillate: x and y swap every step
    flat = analyze(StateSpace("flat", B), "sync")
    assert any(a.period == 2 for a in flat.attractors) and flat.layers is None
    with pytest.raises(ValidationError, match="sync_order: names layer 'z'"):
        analyze(StateSpace("bad", B, layers=(("x", 2), ("y", 1)), sync_order=("z",)))
    with pytest.raises(ValidationError, match="sync_order: must update every layer once"):
        analyze(StateSpace("bad", B, layers=(("x", 2), ("y", 1)), sync_order=("y",)))
    with pytest.raises(ValidationError, match="layers: sizes must add up to the 3 units"):
        analyze(StateSpace("bad", B, layers=(("x", 1), ("y", 1))))
    with pytest.raises(SimulationError, match=r"n_a \+ n_b = 11 \+ 10 units"):
        analyze(StateSpace("big", np.zeros((21, 21)), layers=(("a", 11), ("b", 10))))


def test_table_dict_and_json_agree():
    r = analyze_network(STAR_W, STAR_THETA, schedule="async", patterns=[[1, 1, 1]], names=["up"])
    d = json.loads(r.to_json())
    assert d["n_attractors"] == len(r.attractors) == 2
    assert [a["label"] for a in d["attractors"]] == ["up", "-up"]
    assert d["attractors"][0]["reach_probability"] == pytest.approx(2 / 3)
    assert d["attractors"][0]["bits"] == ["111"] and d["n_shared"] == 4
    table = r.to_table()
    assert "up" in table and "0.6667" in table and "asynchronous" in table and "4 states" in table


def test_graph_built_for_small_networks_and_exported(tmp_path):
    r = analyze_network(STAR_W, STAR_THETA, schedule="async")
    G = r.graph
    assert G is not None and G.number_of_nodes() == 8
    # async edges: one per changing update, plus a self-loop on each fixed point
    assert G.number_of_edges() == r.n_edges == sum(len(r.successors(c)) for c in range(8))
    assert G.has_edge(7, 7) and G.has_edge(1, 0) and not G.has_edge(1, 1)
    assert G.nodes[7]["is_attractor"] and G.nodes[7]["energy"] == -2.5 and G.nodes[1]["basin"] == -1
    path = tmp_path / "g.graphml"
    r.write_graphml(path)
    H = nx.read_graphml(path)
    assert H.number_of_nodes() == 8 and H.nodes["7"]["bits"] == "111"
    rs = analyze_network(STAR_W, STAR_THETA, schedule="sync")
    assert rs.graph.number_of_edges() == 8 and rs.graph.has_edge(1, 6) and rs.graph.has_edge(6, 1)


def test_graph_size_limit_is_reported():
    n = GRAPH_AUTO_LIMIT.bit_length()  # first N above the automatic limit
    r = analyze_network(np.zeros((n, n)), schedule="sync", graph=None)
    assert r.graph is None and "not built" in r.graph_reason and str(GRAPH_AUTO_LIMIT) in r.graph_reason
    with pytest.raises(SimulationError, match="attractor_graph"):
        analyze_network(np.zeros((17, 17)), schedule="sync", graph=False).build_graph()


def test_attractor_graph_for_the_viewer():
    X = walsh([1, 2, 4], n=12)[:, :12]
    W = X.T @ X - 3 * np.eye(12)
    r = analyze_network(W, schedule="sync", patterns=X, names="ABC", graph=False)
    G = attractor_graph(r, max_nodes=120, max_attractors=100)
    assert G.number_of_nodes() <= 120
    att = [v for v, d in G.nodes(data=True) if d["role"] == "attractor"]
    # Capped: the most probable attractors are kept and the rest counted.
    assert len(r.attractors) > 120
    assert len(att) == 100 and G.graph["omitted_attractors"] == len(r.attractors) - 100
    assert att[:3] == ["a0", "a1", "a2"]
    # Default: every attractor has a node, so the viewer's a{attractor_of(code)} always exists.
    G = attractor_graph(r, max_nodes=1000)
    att = [v for v, d in G.nodes(data=True) if d["role"] == "attractor"]
    assert len(att) == len(r.attractors) and G.number_of_nodes() <= 1000
    assert all(f"a{r.attractor_of(c)}" in G for c in range(0, 4096, 37))
    for v, d in G.nodes(data=True):
        if d["role"] == "state":
            assert r.attractor_of(d["code"]) == d["cluster"]
            assert nx.has_path(G, v, f"a{d['cluster']}")


def test_encode_decode_roundtrip():
    s = np.array([[1, -1, -1, 1], [-1, -1, -1, -1]])
    c = encode_states(s)
    assert c.tolist() == [9, 0]
    assert np.array_equal(decode_states(c, 4), s)
    assert encode_states([0, 1, 1], (0, 1)) == 6


# ============================================================================================
# Agreement with the engine's models (the analysis must describe the dynamics that runs)
# ============================================================================================
def all_states(n, unit_values=(-1, 1)):
    return decode_states(np.arange(2**n), n, unit_values)


@pytest.mark.parametrize("units", ["bipolar", "binary"])
def test_agrees_with_engine_hopfield(units):
    hop = pytest.importorskip("recurnet_sim.families.hopfield.model")
    n = 8
    rng = np.random.default_rng(4)
    X = rng.choice([-1, 1], size=(3, n))
    coupling = X.T @ X - 3 * np.eye(n)
    uv = (-1, 1) if units == "bipolar" else (0, 1)
    # Binary units: theta = half the row sums makes the 0/1 network the image of the +-1 one.
    theta = None if units == "bipolar" else 0.5 * coupling.sum(axis=1) / n
    pats = X if units == "bipolar" else (X + 1) // 2
    S = all_states(n, uv)
    m = hop.HopfieldModel(coupling, 1 / n, theta, pats, ["a", "b", "c"], units, "synchronous", state=S)
    r = analyze_model(m, "sync")
    m.step([np.random.default_rng(0)] * len(S), np.ones(len(S), dtype=bool))
    assert encode_states(m.state, uv).tolist() == [r.successors(c)[0] for c in range(2**n)]
    # async: the engine's stable states are exactly the analysis' fixed points
    m = hop.HopfieldModel(coupling, 1 / n, theta, pats, ["a", "b", "c"], units, "random", state=S)
    ra = analyze_model(m, "async")
    stable = set(np.flatnonzero(m.is_stable()).tolist())
    assert stable == {int(a.states[0]) for a in ra.attractors if a.size == 1}
    assert {"a", "-a", "b", "-b", "c", "-c"} <= {a.label for a in ra.attractors}


def test_agrees_with_engine_bam():
    bam = pytest.importorskip("recurnet_sim.families.bam.model")
    X = np.array([[1, -1, 1, -1, 1], [1, 1, -1, -1, 1]])
    Y = np.array([[1, -1, -1], [-1, 1, -1]])
    n = 8
    S = all_states(n)
    m = bam.BAM(X, Y, names=["p", "q"], schedule="synchronous", batch_size=len(S))
    m.set_state(S)
    r = analyze_model(m, "sync")
    # One analysed step = two engine ticks: the x->y pass, then the y->x pass.
    rngs = [np.random.default_rng(0)] * len(S)
    m.step(rngs, np.ones(len(S), dtype=bool))
    m.step(rngs, np.ones(len(S), dtype=bool))
    assert encode_states(m.state).tolist() == [r.successors(c)[0] for c in range(2**n)]
    assert {"p", "q"} <= {a.label for a in r.attractors}
