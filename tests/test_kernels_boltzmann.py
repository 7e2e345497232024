"""The Boltzmann machine's kernels (issue 13): the numpy reference sweep, the compiled (numba) sweep
and the traced probe-by-probe path take identical decisions, so states, energies and learned weights
are bit-identical for the same seed; the compiled sampler still samples exp(-E/T)/Z; bulk-built
trial generators give the streams of one SeedSequence per trial."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recurnet_sim import kernels, seeding
from recurnet_sim.anneal import AnnealSchedule
from recurnet_sim.families.boltzmann import model as bz
from recurnet_sim.families.boltzmann.model import BoltzmannMachine
from recurnet_sim.kernels import numba_available

from test_boltzmann import random_machine, sample_histogram

pytestmark = pytest.mark.skipif(not numba_available(), reason="numba is not installed")
FEW = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def compile_small_machines(monkeypatch):
    """Runs here are short: compile from the first sweep (the default starts on numpy)."""
    monkeypatch.setattr(kernels, "COMPILE_AFTER_S", 0.0)


def machine_pair(N, seed, scale, units, T, B, integer):
    rng = np.random.default_rng(seed)
    if integer:  # exact gaps: T = 0 ties (dE = 0) really occur
        w = np.triu(rng.integers(-2, 3, (N, N)).astype(float), 1)
        b = rng.integers(-1, 2, N).astype(float)
    else:
        w = np.triu(rng.normal(0, scale, (N, N)), 1)
        b = rng.normal(0, scale / 2, N)
    return [BoltzmannMachine(w + w.T, b, units=units, temperature=T, batch_size=B, kernel=k)
            for k in ("numpy", "compiled")]


@FEW
@given(N=st.integers(1, 70), B=st.integers(1, 40), seed=st.integers(0, 2**32 - 1),
       T=st.sampled_from([0.0, 1e-9, 0.3, 1.0, 7.0]), units=st.sampled_from(["binary", "bipolar"]),
       scale=st.sampled_from([0.1, 1.0, 30.0]), integer=st.booleans(), clamp=st.floats(0, 0.9),
       inactive=st.floats(0, 0.5))
def test_numpy_and_compiled_sweeps_give_identical_states(N, B, seed, T, units, scale, integer, clamp, inactive):
    a, c = machine_pair(N, seed, scale, units, T, B, integer)
    rng = np.random.default_rng(seed + 1)
    start = a.random_state(rng, B)
    clamped = rng.random((B, N)) < clamp
    for m in (a, c):
        m.set_state(start)
        m.clamped[...] = clamped
    ra, rc = seeding.trial_rngs(seed, B), seeding.trial_rngs(seed, B)
    for _ in range(4):
        active = rng.random(B) >= inactive
        fa, fc = a.step(ra, active), c.step(rc, active)
        assert np.array_equal(a.state, c.state) and np.array_equal(fa, fc)
        assert np.array_equal(a.energy(), c.energy())
    # both consumed exactly the same numbers from every trial's generator
    assert [g.bit_generator.state for g in ra] == [g.bit_generator.state for g in rc]


@FEW
@given(seed=st.integers(0, 2**32 - 1), N=st.integers(2, 30), B=st.integers(1, 50),
       units=st.sampled_from(["binary", "bipolar"]))
def test_annealed_sweeps_with_a_shared_generator_are_identical(seed, N, B, units):
    # training's path: all chains of a phase draw from one generator, through a schedule down to T = 0
    a, c = machine_pair(N, seed, 1.0, units, 1.0, B, False)
    rng = np.random.default_rng(seed)
    s = a.random_state(rng, B)
    free = rng.random((B, N)) < 0.7
    ga, gc = np.random.default_rng(seed), np.random.default_rng(seed)
    sa, sc = s.copy(), s.copy()
    for T in (5.0, 2.0, 1.0, 0.5, 0.0):
        bz._run_chains(a, sa, free, [T], ga)
        bz._run_chains(c, sc, free, [T], gc)
        assert np.array_equal(sa, sc)


@pytest.mark.parametrize("n", [4, 60])
def test_near_ties_are_decided_exactly_by_both_kernels(n):
    # The gap of unit 0 is 1 + 1e-17 - 1 = 1e-17 > 0 exactly, but 0 in left-to-right float
    # arithmetic: at T = 0 the exact rule turns it on under every kernel and summation order;
    # with the couplings reordered (-1 first) the float sum is 1e-17 too, and the answer is the same.
    # n = 60: the compiled kernel's starting gaps come from a BLAS product (another order).
    for row in ([1.0, 1e-17, -1.0], [-1.0, 1e-17, 1.0]):
        w = np.zeros((n, n))
        w[0, 1:4] = w[1:4, 0] = row
        for k in ("numpy", "compiled"):
            m = BoltzmannMachine(w, np.zeros(n), temperature=0.0, batch_size=3, kernel=k)
            m.set_state(np.array([[0.0] + [1.0] * (n - 1)] * 3))
            m.set_clamped(list(range(1, n)))
            m.step(seeding.trial_rngs(0, 3), np.ones(3, bool))
            assert (m.state[:, 0] == 1.0).all(), (row, k)


def test_ahs1985_and_cd_learn_identical_weights_under_both_kernels():
    data = bz.encoder_data(2)
    out = {}
    for k in ("numpy", "compiled"):
        m = BoltzmannMachine(np.zeros((5, 5)), n_visible=4, topology="encoder", kernel=k)
        bz.train_ahs1985(m, data, cycles=6, anneals_per_pattern=3, stats_sweeps=3,
                         schedule=AnnealSchedule.ackley1985(), rng=np.random.default_rng(3))
        r = BoltzmannMachine(np.zeros((9, 9)), n_visible=6, topology="rbm", kernel=k)
        x = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0]], dtype=float)
        bz.train_cd(r, x, epochs=5, rng=np.random.default_rng(4))
        out[k] = (m.weights, m.biases, r.weights, r.biases)
    for x, y in zip(out["numpy"], out["compiled"]):
        assert np.array_equal(x, y)
    assert np.abs(out["compiled"][0]).sum() > 0  # it learned something


def test_compiled_sampler_matches_the_boltzmann_distribution():
    # as tests/test_boltzmann.py's distribution test (7 units, TV < 0.03 is ~2x the sampling noise),
    # under the compiled kernel
    N, B = 7, 400
    m = random_machine(N, 3, n_visible=4, units="bipolar", temperature=1.3, batch_size=B, kernel="compiled")
    m.set_state(m.random_state(np.random.default_rng(0), B))
    q = sample_histogram(m, seeding.trial_rngs(1, B), 20, 400)
    _, p = bz.exact_distribution(m)
    assert 0.5 * np.abs(p - q).sum() < 0.03


@pytest.mark.parametrize("topology,units,T", [("full", "binary", 1.0), ("full", "bipolar", 0.0),
                                              ("rbm", "binary", 0.8)])
def test_traced_sweep_replays_to_the_same_state_and_energy(topology, units, T):
    N, B = 9, 5
    kw = dict(n_visible=4, units=units, temperature=T, batch_size=B, kernel="compiled")
    plain = random_machine(N, 7, **kw)
    if topology == "rbm":
        w = np.where(BoltzmannMachine.connectivity(N, 4, "rbm"), plain.weights, 0.0)
        plain = BoltzmannMachine(w, plain.biases, topology="rbm", **kw)
    traced = BoltzmannMachine(plain.weights, plain.biases, topology=topology, **kw)
    start = plain.random_state(np.random.default_rng(2), B)
    for m in (plain, traced):
        m.set_state(start)
        m.set_clamped([1], rows=np.array([0]))
    traced.trace_units = True
    r1, r2 = seeding.trial_rngs(4, B), seeding.trial_rngs(4, B)
    active = np.array([True, True, False, True, True])
    for _ in range(3):
        before, e0 = traced.state.copy(), traced.energy()
        plain.step(r1, active)
        traced.step(r2, active)
        assert np.array_equal(plain.state, traced.state)  # tracing changes nothing
        for b in range(B):
            ups = traced.unit_updates(b)
            if not active[b]:
                assert ups == ()
                continue
            assert len(ups) == N - (b == 0)  # every free unit once
            s = before[b].copy()
            for u in ups:
                assert s[u.unit] == u.before
                h = plain.weights[u.unit] @ s + plain.biases[u.unit]
                assert u.field == pytest.approx(h, abs=1e-12)
                s[u.unit] = u.after
            assert np.array_equal(s, traced.state[b])
            assert sum(u.delta_energy for u in ups) == pytest.approx(traced.energy()[b] - e0[b], abs=1e-9)
            assert all((u.p_on is None) == (T == 0) for u in ups)
    traced.trace_units = False
    traced.step(r2, active)
    assert traced.unit_updates(1) == ()


@given(seed=st.integers(0, 2**200), first=st.integers(0, 2**32 - 10), n=st.integers(1, 6))
@settings(max_examples=40, deadline=None)
def test_bulk_trial_generators_equal_one_seed_sequence_per_trial(seed, first, n):
    fast = seeding.trial_rngs(seed, n, first)
    plain = [np.random.Generator(np.random.PCG64(s)) for s in seeding.trial_seeds(seed, n, first)]
    for a, b in zip(fast, plain):
        assert a.bit_generator.state == b.bit_generator.state
        assert np.array_equal(a.random(3), b.random(3))
    assert fast[-1].bit_generator.seed_seq.spawn_key == (seeding.TRIAL_KEY, first + n - 1)
    assert fast[0].spawn(1)[0].random() == plain[0].spawn(1)[0].random()


@pytest.mark.parametrize("N", [5, 48, 49, 100, 257])
def test_compiled_probe_order_is_numpys_stable_sort_with_tied_and_extreme_keys(N):
    """The compiled sweep orders the probes of a chain by an insertion sort (bucketed first above
    48 units); numpy's reference by a stable argsort. With keys that tie (few distinct values), sit at 0 and
    just below 1, and clamped units, T = 0 and integer weights (each decision depends on the order
    of the probes before it), one sweep gives the same states under both kernels."""
    rng = np.random.default_rng(N)
    B = 24
    w = np.triu(rng.integers(-2, 3, (N, N)).astype(float), 1)
    w = w + w.T
    b = rng.integers(-1, 2, N).astype(float)
    keys = rng.integers(0, 7, (B, N)) / 7.0
    keys[: B // 2] = rng.random((B // 2, N))
    keys[::3, ::5] = 0.0
    keys[1::3, ::4] = 1.0 - 2.0 ** -53
    free = rng.random((B, N)) > 0.15
    s0 = (rng.random((B, N)) < 0.5).astype(float)
    out = []
    for kernel in ("numpy", "compiled"):
        s = s0.copy()
        f = bz.heat_bath_sweep(s, w, b, free, 0.0, keys, np.zeros((B, N)), kernel=kernel)
        out.append((s, f))
    assert np.array_equal(out[0][0], out[1][0]) and np.array_equal(out[0][1], out[1][1])
    assert not np.array_equal(out[0][0], s0)


def test_a_short_run_never_imports_numba_and_a_long_one_switches_with_the_same_bits(monkeypatch):
    import subprocess
    import sys
    code = ("import sys; from recurnet_sim import load_scenario; from recurnet_sim.paths import scenarios_dir; "
            "load_scenario(scenarios_dir() / 'boltzmann_sample.toml').run(); print('numba' in sys.modules)")
    env = {k: v for k, v in __import__("os").environ.items() if k != kernels.ENV_VAR}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.strip() == "False"  # stayed on the numpy kernel: numba's start-up never paid
    # in a process where the switch happens mid-run, every sweep still gives the numpy kernel's bits
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.setattr(kernels, "_warm", False)
    monkeypatch.setattr(kernels, "COMPILE_AFTER_S", 1.0)
    monkeypatch.setattr(kernels, "_numpy_seconds", 0.0)
    ref, mixed = machine_pair(30, 5, 1.0, "bipolar", 1.0, 12, False)
    ref.kernel = "numpy"
    r1, r2 = seeding.trial_rngs(4, 12), seeding.trial_rngs(4, 12)
    for t in range(6):
        if t == 3:
            kernels.numpy_time(2.0)  # the run has now paid for numba: the compiled sweep takes over
        ref.step(r1, np.ones(12, bool))
        mixed.step(r2, np.ones(12, bool))
        assert np.array_equal(ref.state, mixed.state)
    assert kernels.worth_compiling()


def test_a_machine_whose_numba_fails_to_import_falls_back_to_numpy_for_good(monkeypatch, capsys):
    import sys
    ref, m = machine_pair(12, 3, 1.0, "binary", 1.0, 4, False)
    assert m.kernel == "compiled"
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.setattr(kernels, "_numba", None)
    monkeypatch.setattr(kernels, "_noted", False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    r1, r2 = seeding.trial_rngs(3, 4), seeding.trial_rngs(3, 4)
    for _ in range(3):
        ref.step(r1, np.ones(4, bool))
        m.step(r2, np.ones(4, bool))
        assert np.array_equal(ref.state, m.state)
    assert m.kernel == "numpy"  # so train's heat_bath_sweep(kernel=m.kernel) stays on numpy too
    assert capsys.readouterr().err.count("numba is not available") == 1
