"""Boltzmann machine physics and learning (Ackley, Hinton & Sejnowski 1985; Hinton 2002)."""
import numpy as np
import pytest

from recurnet_sim.anneal import AnnealSchedule
from recurnet_sim.errors import TraceFileError
from recurnet_sim.families.boltzmann import model as bz
from recurnet_sim.families.boltzmann.model import BoltzmannMachine
from recurnet_sim.spec import Table, validate


def random_machine(N, seed, scale=1.0, **kw):
    rng = np.random.default_rng(seed)
    w = np.triu(rng.normal(0, scale, (N, N)), 1)
    return BoltzmannMachine(w + w.T, rng.normal(0, scale / 2, N), **kw)


def rngs_for(n, seed=0):
    return [np.random.default_rng([seed, b]) for b in range(n)]


def sample_histogram(m, rngs, burn, sweeps):
    act = np.ones(m.batch_size, bool)
    for _ in range(burn):
        m.step(rngs, act)
    counts = np.zeros(2 ** m.n_units)
    for _ in range(sweeps):
        m.step(rngs, act)
        np.add.at(counts, bz.state_index(m, m.state), 1)
    return counts / counts.sum()


@pytest.mark.parametrize("units,topology", [("binary", "full"), ("bipolar", "full"), ("binary", "rbm")])
def test_long_run_frequencies_match_boltzmann_distribution(units, topology):
    # 7 units (128 states), 400 chains x 400 sweeps = 160,000 correlated samples. The total-
    # variation distance to exp(-E/T)/Z shrinks like 1/sqrt(samples) (0.032 at 60,000 and 0.008
    # at 240,000 samples for the bipolar case), so 0.03 here is ~2x the sampling noise, while a
    # wrong rule (e.g. sigma(2h) for 0/1 units, or a missing bias) gives TV > 0.1.
    N, B = 7, 400
    m = random_machine(N, 3, n_visible=4, units=units, topology="full", temperature=1.3, batch_size=B)
    if topology == "rbm":
        m = BoltzmannMachine(np.where(m.connectivity(N, 4, "rbm"), m.weights, 0), m.biases, n_visible=4,
                             units=units, topology="rbm", temperature=1.3, batch_size=B)
    m.set_state(m.random_state(np.random.default_rng(0), B))
    q = sample_histogram(m, rngs_for(B, 1), 20, 400)
    _, p = bz.exact_distribution(m)
    tv = 0.5 * np.abs(p - q).sum()
    assert tv < 0.03, tv


def test_clamped_units_sample_the_conditional_distribution():
    N, B = 6, 200
    m = random_machine(N, 5, temperature=1.0, batch_size=B)
    m.set_state(m.random_state(np.random.default_rng(0), B))
    m.set_units([0, 1], 1.0)
    m.set_clamped([0, 1])
    q = sample_histogram(m, rngs_for(B, 2), 20, 200)
    states, p = bz.exact_distribution(m)
    p = np.where((states[:, 0] == 1) & (states[:, 1] == 1), p, 0.0)
    p /= p.sum()
    assert 0.5 * np.abs(p - q).sum() < 0.03
    assert (m.state[:, :2] == 1).all()
    # exact_distribution conditions on clamps itself: the same distribution, normalised in log
    # space, so a clamp on states of vanishing probability (T -> 0) still sums to 1, no NaN
    _, pc = bz.exact_distribution(m, clamp_mask=m.clamped[0], clamp_values=m.state[0])
    assert np.allclose(pc, p, rtol=1e-12, atol=1e-15)
    cold = np.abs(m.weights).sum() * 1e-4
    _, p_all = bz.exact_distribution(m, temperature=cold)
    low = states[np.argmin(p_all)]  # clamp two units to the least probable state's values
    _, pc = bz.exact_distribution(m, temperature=cold, clamp_mask=m.clamped[0], clamp_values=low)
    assert np.isfinite(pc).all() and abs(pc.sum() - 1) < 1e-12


@pytest.mark.parametrize("N", [12, 150])  # gaps recomputed in chunks of 16 and of 8 chains
def test_batch_equals_single_runs_with_the_same_seeds(N):
    B = 4 if N == 12 else 11
    seeds = [np.random.SeedSequence(9, spawn_key=(1, b)) for b in range(B)]
    big = random_machine(N, 1, temperature=0.8, batch_size=B)
    start = big.random_state(np.random.default_rng(4), B)
    big.set_state(start)
    big.set_clamped([3], rows=np.array([1]))
    rngs = [np.random.default_rng(s) for s in seeds]
    for _ in range(15):
        big.step(rngs, np.ones(B, bool))
    for b in range(B):
        one = random_machine(N, 1, temperature=0.8, batch_size=1)
        one.set_state(start[b:b + 1])
        if b == 1:
            one.set_clamped([3])
        r = [np.random.default_rng(seeds[b])]
        for _ in range(15):
            one.step(r, np.ones(1, bool))
        assert np.array_equal(one.state[0], big.state[b])


def reference_sweep(s, w, b, free, T, keys, u, bipolar):
    """The heat-bath rule written unit by unit (Ackley et al. 1985): probe the free units of each
    chain in the order of increasing key; the t-th probe turns the unit on when u[t] < sigma(dE/T)
    (T > 0), or by the sign of dE with ties kept (T = 0)."""
    lo, hi = (-1.0, 1.0) if bipolar else (0.0, 1.0)
    gain = 2.0 if bipolar else 1.0
    for c in range(len(s)):
        order = [i for i in np.argsort(np.where(free[c], keys[c], 2.0), kind="stable") if free[c, i]]
        for t, i in enumerate(order):
            gap = gain * (w[i] @ s[c] + b[i])
            if T > 0:
                s[c, i] = hi if u[c, t] < 1.0 / (1.0 + np.exp(-gap / T)) else lo
            elif gap != 0:
                s[c, i] = hi if gap > 0 else lo


@pytest.mark.parametrize("bipolar", [False, True])
@pytest.mark.parametrize("T", [0.0, 0.7, 3.0])
@pytest.mark.parametrize("block", [3, 20])
def test_blocked_sweep_equals_the_unit_by_unit_rule(bipolar, T, block):
    # Small integer weights keep every gap exact, so T = 0 ties (dE = 0) really occur and must
    # keep the unit's value; at T > 0 the blocked sweep must take the same decisions as
    # u < sigma(dE/T) probe by probe (N = 23 spans several blocks and a partial last one).
    rng = np.random.default_rng(11)
    N, B = 23, 6
    w = np.triu(rng.integers(-2, 3, (N, N)).astype(float), 1)
    w = w + w.T
    b = rng.integers(-1, 2, N).astype(float)
    lo, hi = (-1.0, 1.0) if bipolar else (0.0, 1.0)
    s = np.where(rng.random((B, N)) < 0.5, hi, lo)
    free = rng.random((B, N)) < 0.8
    free[0] = True
    ref = s.copy()
    for _ in range(4):
        keys, u = rng.random((2, B, N))
        flips = bz.heat_bath_sweep(s, w, b, free, T, keys, u, bipolar, block=block)
        before = ref.copy()
        reference_sweep(ref, w, b, free, T, keys, u, bipolar)
        assert np.array_equal(s, ref)
        assert np.array_equal(flips, (ref != before).sum(axis=1))


@pytest.mark.parametrize("T", [0.0, 1e-300, 1e-12, 1.0, 1e300])
@pytest.mark.parametrize("scale", [1.0, 1e6, 1e150])
def test_no_nan_or_inf_at_extreme_temperatures_and_weights(T, scale):
    m = random_machine(10, 2, scale=scale, temperature=T, batch_size=3, units="bipolar")
    m.set_state(m.random_state(np.random.default_rng(0), 3))
    with np.errstate(all="raise"):
        for _ in range(3):
            flips = m.step(rngs_for(3), np.ones(3, bool))
    assert np.isfinite(m.state).all() and set(np.unique(m.state)) <= {-1.0, 1.0}
    assert np.isfinite(flips).all()
    assert np.all(np.isfinite(bz.sigmoid(np.array([-np.inf, -1e308, 0.0, 1e308, np.inf]))))


def test_zero_temperature_is_deterministic_descent():
    m = random_machine(15, 4, temperature=0.0, batch_size=8)
    assert m.deterministic
    m.set_state(m.random_state(np.random.default_rng(1), 8))
    e = [m.energy()]
    for _ in range(10):
        m.step(rngs_for(8, 5), np.ones(8, bool))
        e.append(m.energy())
    assert (np.diff(np.array(e), axis=0) <= 1e-9).all()
    assert m.is_stable().all()
    m.temperature = 0.5
    assert not m.deterministic


def test_annealing_escapes_a_spurious_mixture_of_a_hopfield_landscape():
    # W = Xi^T Xi / N (Hopfield 1982): the symmetric 3-mixture is a stable spurious state at T=0,
    # but becomes unstable at T ~ 0.46 while the stored patterns stay stable up to T ~ 1
    # (Amit, Gutfreund & Sompolinsky 1985); annealing from T = 0.7 therefore ends in a stored pattern.
    rng = np.random.default_rng(0)
    N, P, B = 200, 3, 8
    xi = np.where(rng.random((P, N)) < 0.5, 1.0, -1.0)
    w = xi.T @ xi / N
    np.fill_diagonal(w, 0)
    mix = np.sign(xi.sum(0))
    m = BoltzmannMachine(w, units="bipolar", temperature=0.0, batch_size=B)
    m.patterns = xi
    m.pattern_names = ["a", "b", "c"]
    m.set_state(np.tile(mix, (B, 1)))
    assert m.is_stable().all()  # stuck at T = 0
    e0 = m.energy()
    sched = AnnealSchedule.steps([(0.7, 30), (0.4, 10), (0.2, 10), (0.0, 5)])
    rngs = rngs_for(B, 3)
    for t in range(sched.total_ticks):
        m.temperature = sched.temperature_at(t)
        m.step(rngs, np.ones(B, bool))
    assert (np.abs(m.overlaps()).max(axis=1) > 0.95).mean() >= 0.75
    assert (m.energy() < e0).mean() >= 0.75


def test_encoder_424_is_learned_in_most_seeded_runs():
    """The 4-2-4 encoder (Ackley et al. 1985) is learned in most seeded runs.

    Protocol: the paper's learning cycle (ackley1985 schedule 2@20 2@15 2@12 4@10, statistics for
    10 sweeps at T = 10, noisy clamping 0.15/0.05, weight steps of 2 by sign(p+ - p-), zero start),
    8 annealings per vector per phase, at most 600 cycles, stopping when solved (checked every 10
    cycles). Solved (encoder_solved): with V1 clamped to e_k, the equilibrium activity of V2 at
    T = 10 (the average over annealings, computed exactly over the 64 free states) is highest on
    unit k, by more than 0.3 over every other V2 unit; each solution is then confirmed by the
    paper's sampled test (40 annealings per vector, V2 averaged at the end).

    Measured rate: 43/48 seeds (0-47) solved, median ~100 cycles; all 43 pass the sampled test.
    (With 2 annealings per vector, the paper's number: 38/48, median 280 cycles; with 20: 15/24.
    The old test stopped on a sampled check at T = 10 that a network with two patterns sharing a
    hidden code could pass by chance, and half of its "solutions" failed a second check.)
    This test runs seeds 0-11 (12/12 measured) and asserts >= 10/12.
    """
    solved = confirmed = 0
    for seed in range(12):
        m = BoltzmannMachine(np.zeros((10, 10)), n_visible=8, topology="encoder")
        log = bz.train_ahs1985(m, bz.encoder_data(4), cycles=600, anneals_per_pattern=8,
                               rng=np.random.default_rng(seed), stop=bz.encoder_solved)
        assert np.array_equal(m.weights, m.weights.T) and not np.diag(m.weights).any()
        assert not m.weights[:4, 4:8].any()  # no direct V1-V2 weights in the encoder topology
        if log[-1].get("solved"):
            solved += 1
            confirmed += bz.encoder_solved(m, np.random.default_rng(100 + seed), exact=False, chains=40, margin=0.0)
    assert solved >= 10, solved
    assert confirmed >= solved - 1, (confirmed, solved)


def test_encoder_criterion_rejects_a_shared_hidden_code():
    # Hand-made 4-2-4 solutions: hidden code c_k for pattern k, V1 -> H and H -> V2 weights of 40
    # (T = 10). With four distinct codes V2 reproduces V1; when two patterns share a code, V2
    # cannot tell them apart and the test must fail, whatever sampling luck.
    codes = [(0, 0), (0, 1), (1, 0), (1, 1)]

    def machine(writes):
        w = np.zeros((10, 10))
        b = np.zeros(10)
        for k in range(4):
            for j in range(2):
                w[k, 8 + j] = w[8 + j, k] = 40.0 if writes[k][j] else -40.0  # V1 unit k sets a code
                w[4 + k, 8 + j] = w[8 + j, 4 + k] = 40.0 if codes[k][j] else -40.0  # V2 unit k reads c_k
            b[4 + k] = -40.0 * sum(codes[k]) + 20.0
        return BoltzmannMachine(w, b, n_visible=8, topology="encoder")

    good = machine(codes)
    v2 = bz.encoder_completion(good)
    assert (np.argmax(v2, axis=1) == np.arange(4)).all() and v2.diagonal().min() > 0.8
    assert bz.encoder_solved(good)
    assert bz.encoder_solved(good, np.random.default_rng(0), exact=False)
    shared = machine([(0, 0), (0, 1), (1, 0), (1, 0)])  # e3 borrows e2's code; code 11 unused
    assert not bz.encoder_solved(shared)
    assert not bz.encoder_solved(shared, margin=0.0)
    assert not bz.encoder_solved(shared, np.random.default_rng(0), exact=False, margin=0.0)


def test_cd_learns_an_rbm_that_reconstructs_its_data():
    data = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], dtype=float)
    r = np.random.default_rng(5)
    w = np.where(BoltzmannMachine.connectivity(9, 6, "rbm"), 0.1, 0.0) * r.normal(size=(9, 9))
    m = BoltzmannMachine(np.triu(w, 1) + np.triu(w, 1).T, n_visible=6, topology="rbm")
    seen = []
    log = bz.train_cd(m, data, epochs=300, k=1, learning_rate=0.5, rng=np.random.default_rng(0),
                      progress=lambda i, n, info: seen.append(i))
    assert seen == list(range(1, 301))
    assert log[-1]["recon_error"] < 0.5 * log[0]["recon_error"]
    act = bz.complete(m, data, [0, 2, 4], rng=np.random.default_rng(1),
                      schedule=AnnealSchedule.constant(1.0), chains=40)
    # clamping one unit of a pair turns its partner on more often than the other units
    for k, (a, b) in enumerate([(0, 1), (2, 3), (4, 5)]):
        others = [u for u in (1, 3, 5) if u != b]
        assert act[k, b] > act[k, others].max()
    assert not m.weights[:6, :6].any() and not m.weights[6:, 6:].any()


def test_weights_file_round_trip_and_errors(tmp_path):
    m = random_machine(5, 0, n_visible=3)
    f = tmp_path / "w.npz"
    bz.save_weights(f, m)
    d = bz.load_weights(f)
    assert np.array_equal(d["weights"], m.weights) and d["n_visible"] == 3
    (tmp_path / "t.npz").write_bytes(f.read_bytes()[:60])
    with pytest.raises(TraceFileError, match="t.npz"):
        bz.load_weights(tmp_path / "t.npz")
    np.savez(tmp_path / "bam.npz", format=np.array("recurnet_sim.bam.v1"), weights=np.zeros((2, 2)))
    with pytest.raises(TraceFileError, match="not a recurnet_sim Boltzmann weights file"):
        bz.load_weights(tmp_path / "bam.npz")
    np.savez(tmp_path / "asym.npz", format=np.array("recurnet_sim.boltzmann.v1"), weights=np.array([[0, 1.0], [2.0, 0]]),
             biases=np.zeros(2), n_visible=np.array(2), units=np.array("binary"), topology=np.array("full"))
    with pytest.raises(TraceFileError, match="symmetric"):
        bz.load_weights(tmp_path / "asym.npz")
    np.save(tmp_path / "plain.npy", np.zeros(3))
    with pytest.raises(TraceFileError):
        bz.load_weights(tmp_path / "plain.npy")


def _cfg(**tables):
    cfg = validate(tables, Table(bz.scenario_tables()))
    cfg["scenario"] = {"seed": 1}
    return cfg


def test_build_is_pure_train_is_ticks_saves_and_a_second_scenario_loads(tmp_path):
    cfg = _cfg(network={"visible": 8, "hidden": 2, "topology": "encoder"}, patterns={"source": "encoder"},
               training={"cycles": 3, "save": "enc.npz"},
               initial={"clamp": [0, 1, 2, 3]})
    rng = np.random.default_rng(11)
    m = bz.build(cfg, 4, rngs_for(4), tmp_path, build_rng=rng)
    # build trains nothing and writes nothing
    assert list(tmp_path.iterdir()) == [] and m.training_log_ == [] and not m.weights.any()
    state0 = m.state.copy()
    run = bz.train(m, cfg, rng, tmp_path)
    assert (run.total, run.unit) == (3, "cycle") and [o.path for o in run.outputs] == [tmp_path / "enc.npz"]
    assert list(tmp_path.iterdir()) == [] and m.training_log_ == []  # lazy: nothing until next()
    infos = list(run.ticks)
    assert [i["cycle"] for i in infos] == [1, 2, 3] and m.training_log_ == infos and m.weights.any()
    # the initial state does not depend on the weights: training leaves it as build made it
    assert np.array_equal(m.state, state0)
    for path, write, _key in ((o.path, o.write, o.key) for o in run.outputs):
        write(path)
    assert (tmp_path / "enc.npz").exists()
    assert m.clamped[:, :4].all() and not m.clamped[:, 4:].any()
    assert np.array_equal(m.state[:, :4], np.eye(4))
    cfg2 = _cfg(network={"weights": "file", "weights_file": "enc.npz"}, patterns={"source": "encoder"})
    m2 = bz.build(cfg2, 2, rngs_for(2), tmp_path)
    assert np.array_equal(m2.weights, m.weights) and m2.topology == "encoder"
    d = m2.describe()
    assert d["visible"] == list(range(8)) and d["hidden"] == [8, 9]
    s = bz.summary(m2, 0)
    assert 0 < s["exact_p_final_state"] < 1


def test_config_errors():
    with pytest.raises(Exception, match="units: must be 'bipolar'"):
        _cfg(network={"weights": "hopfield"}, patterns={"source": "random", "count": 2})
    with pytest.raises(Exception, match="weights_file: is required"):
        _cfg(network={"weights": "file"})
    with pytest.raises(Exception, match="did you mean 'rbm'"):
        _cfg(network={"visible": 4, "topology": "rbn"})


def test_learning_generators_match_the_plain_functions_draw_for_draw():
    data = bz.encoder_data(2)

    def fresh():
        return BoltzmannMachine(np.zeros((5, 5)), n_visible=4, topology="encoder")

    a, b = fresh(), fresh()
    log = bz.train_ahs1985(a, data, cycles=4, anneals_per_pattern=2, stats_sweeps=2,
                           schedule=AnnealSchedule.ackley1985(), rng=np.random.default_rng(3))
    gen = bz.iter_ahs1985(b, data, cycles=4, anneals_per_pattern=2, stats_sweeps=2,
                          schedule=AnnealSchedule.ackley1985(), rng=np.random.default_rng(3))
    assert b.training_log_ == []  # a generator does nothing before next()
    steps = []
    for info in gen:
        steps.append(b.weights.copy())  # observable after every cycle
    assert log == b.training_log_ and np.array_equal(a.weights, b.weights)
    assert len(steps) == 4 and not np.array_equal(steps[0], steps[-1])
    rbm_a = BoltzmannMachine(np.zeros((9, 9)), n_visible=6, topology="rbm")
    rbm_b = BoltzmannMachine(np.zeros((9, 9)), n_visible=6, topology="rbm")
    x = np.array([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0]], dtype=float)
    bz.train_cd(rbm_a, x, epochs=5, rng=np.random.default_rng(4))
    assert [i["epoch"] for i in bz.iter_cd(rbm_b, x, epochs=5, rng=np.random.default_rng(4))] == [1, 2, 3, 4, 5]
    assert np.array_equal(rbm_a.weights, rbm_b.weights)


def test_until_solved_stops_the_training_ticks_early():
    from recurnet_sim.scenario import build_simulation, load
    from recurnet_sim.paths import resolve_shipped

    sc = load(resolve_shipped("boltzmann_encoder"), ["training.until_solved=true", "training.cycles=400"])
    sim = build_simulation(sc, trials=1)
    assert sim.training_pending and sim.training.total == 400
    sim.train()
    h = sim.training_history
    assert h[-1]["solved"] is True and len(h) < 400 and len(h) % 10 == 0
    assert not any(x.get("solved") for x in h[:-1])
    assert sim.model.training_log_ == h and bz.encoder_solved(sim.model)
