"""BAM physics (Kosko 1988): energy descent, stable stored pairs, recall from either side."""
import numpy as np
import pytest

from recurnet_sim.errors import TraceFileError, ValidationError
from recurnet_sim.families.bam import model as bam
from recurnet_sim.families.bam.model import BAM, ascii_codes, hebbian_weights
from recurnet_sim.spec import Table, validate


def rand_pairs(P, n_x, n_y, seed):
    rng = np.random.default_rng(seed)
    px = np.where(rng.random((P, n_x)) < 0.5, 1, -1)
    py = np.where(rng.random((P, n_y)) < 0.5, 1, -1)
    return px, py


def rngs_for(n, seed=0):
    return [np.random.default_rng([seed, b]) for b in range(n)]


def run(model, rngs, ticks):
    act = np.ones(model.batch_size, bool)
    energies = [model.energy().copy()]
    flips = []
    for _ in range(ticks):
        flips.append(model.step(rngs, act))
        energies.append(model.energy().copy())
    return np.array(energies), np.array(flips)


def test_weights_are_the_correlation_matrix():
    px, py = rand_pairs(3, 5, 4, 1)
    w = hebbian_weights(px, py)
    assert np.array_equal(w, sum(np.outer(px[k], py[k]) for k in range(3)))
    assert np.array_equal(ascii_codes(["A"])[0], [1, -1, -1, -1, -1, -1, 1])


@pytest.mark.parametrize("schedule", ["synchronous", "random"])
@pytest.mark.parametrize("seed", range(5))
def test_energy_never_increases_along_passes(schedule, seed):
    # A heavily loaded BAM from random states: many flips, so descent is really exercised.
    px, py = rand_pairs(12, 30, 20, seed)
    m = BAM(px, py, schedule=schedule, batch_size=16)
    rng = np.random.default_rng(seed)
    m.set_state(np.where(rng.random(m.state.shape) < 0.5, 1.0, -1.0))
    e, flips = run(m, rngs_for(16, seed), 30)
    assert (np.diff(e, axis=0) <= 1e-9).all()
    assert flips.sum() > 0
    # strict decrease whenever a pass after the first changes something (no self-coupling)
    changed = flips[1:] > 0
    assert (np.diff(e, axis=0)[1:][changed] < 0).all()


@pytest.mark.parametrize("seed", range(5))
def test_every_stored_pair_is_stable_at_low_load(seed):
    px, py = rand_pairs(4, 200, 100, seed)
    m = BAM(px, py, batch_size=4)
    m.set_state(m.patterns)
    assert m.is_stable().all()
    _, flips = run(m, rngs_for(4), 2)
    assert (flips == 0).all()


@pytest.mark.parametrize("side", ["x", "y"])
@pytest.mark.parametrize("schedule", ["synchronous", "random"])
def test_stable_pair_reached_from_noisy_cue_on_either_side(side, schedule):
    px, py = rand_pairs(4, 200, 100, 7)
    B = 32
    m = BAM(px, py, schedule=schedule, batch_size=B)
    rngs = rngs_for(B, 3)
    idx = np.arange(B) % 4
    m.cue(side, idx, 0.2, rngs, other="random" if schedule == "synchronous" else "zeros")
    assert not m.is_stable().all()
    _, flips = run(m, rngs, 8)
    assert (flips[-1] == 0).all()
    assert m.is_stable().all()
    assert np.array_equal(m.state, m.patterns[idx])
    assert [r[0] for r in m.recalled()] == [str(k + 1) for k in idx]
    assert np.allclose(m.overlaps()[np.arange(B), idx], 1.0)
    assert np.allclose(m.overlaps_x()[np.arange(B), idx], 1.0)
    assert np.allclose(m.overlaps_y()[np.arange(B), idx], 1.0)


def test_zero_pass_means_stable_pair_even_on_the_first_pass():
    px, py = rand_pairs(2, 40, 30, 0)
    m = BAM(px, py, batch_size=1)
    state = m.patterns[:1].copy()
    state[0, :5] *= -1  # noisy x, exact y: y -> sign(W^T x) is unchanged, x is not yet clean
    m.set_state(state)
    _, flips = run(m, rngs_for(1), 1)
    assert flips[0, 0] > 0  # the engine must not stop here
    assert m.direction == "y->x" and m.last_direction == "x->y"


def test_direction_alternates_and_ties_keep_state():
    # One pair whose net input to y unit 0 is exactly 0: that unit must keep its value.
    px = np.array([[1, 1], [1, -1]])
    py = np.array([[1, 1], [-1, 1]])
    m = BAM(px, py, batch_size=1)
    assert np.array_equal(m.weights, [[0, 2], [2, 0]])
    m.set_state(np.array([[1.0, 1.0, -1.0, -1.0]]))
    m.direction = "x->y"
    m.step(rngs_for(1), np.ones(1, bool))
    # h_y = x^T W = [2, 2]
    assert np.array_equal(m.y, [[1.0, 1.0]])
    m.set_state(np.array([[1.0, -1.0, 1.0, -1.0]]))
    m.direction = "x->y"
    m.step(rngs_for(1), np.ones(1, bool))
    # h_y = [-2, 2]
    assert np.array_equal(m.y, [[-1.0, 1.0]])
    m2 = BAM(np.array([[1, 1]]), np.array([[1]]), weights=np.array([[1.0], [-1.0]]), batch_size=1)
    m2.set_state(np.array([[1.0, 1.0, -1.0]]))
    m2.step(rngs_for(1), np.ones(1, bool))
    assert m2.y[0, 0] == -1.0  # h = 0 -> kept


def test_inactive_and_clamped_units_do_not_change():
    px, py = rand_pairs(3, 20, 10, 2)
    m = BAM(px, py, batch_size=2)
    rng = np.random.default_rng(0)
    m.set_state(np.where(rng.random(m.state.shape) < 0.5, 1.0, -1.0))
    before = m.state.copy()
    m.set_clamped(np.arange(20, 25))
    act = np.array([True, False])
    for _ in range(4):
        m.step(rngs_for(2), act)
    assert np.array_equal(m.state[1], before[1])
    assert np.array_equal(m.state[0, 20:25], before[0, 20:25])


def test_async_batch_equals_single_runs():
    px, py = rand_pairs(5, 30, 15, 4)
    B = 5
    seeds = [np.random.SeedSequence(11, spawn_key=(1, b)) for b in range(B)]
    big = BAM(px, py, schedule="random", batch_size=B)
    rngs = [np.random.default_rng(s) for s in seeds]
    big.cue("x", np.arange(B), 0.3, rngs, other="zeros")
    run(big, rngs, 5)
    for b in range(B):
        one = BAM(px, py, schedule="random", batch_size=1)
        r = [np.random.default_rng(seeds[b])]
        one.cue("x", b, 0.3, r, other="zeros")
        run(one, r, 5)
        assert np.array_equal(one.state[0], big.state[b])


def test_snapshot_restore_replays():
    px, py = rand_pairs(3, 30, 15, 5)
    m = BAM(px, py, schedule="random", batch_size=2)
    m.cue("y", [0, 1], 0.2, rngs_for(2), other="zeros")
    snap = m.snapshot()
    run(m, rngs_for(2, 9), 3)
    first = m.state.copy()
    m.restore(snap)
    run(m, rngs_for(2, 9), 3)
    assert np.array_equal(m.state, first)


def test_weights_file_round_trip_and_errors(tmp_path):
    px, py = rand_pairs(3, 8, 4, 0)
    m = BAM(px, py)
    f = tmp_path / "w.npz"
    bam.save_weights(f, m)
    assert np.array_equal(bam.load_weights(f), m.weights)
    bad = tmp_path / "trunc.npz"
    bad.write_bytes(f.read_bytes()[:50])
    with pytest.raises(TraceFileError, match="trunc.npz"):
        bam.load_weights(bad)
    foreign = tmp_path / "foreign.npz"
    np.savez(foreign, weights=np.zeros((8, 4)))
    with pytest.raises(TraceFileError, match="not a recurnet_sim BAM weights file"):
        bam.load_weights(foreign)
    with pytest.raises(TraceFileError):
        bam.load_weights(tmp_path / "missing.npz")
    pick = tmp_path / "pickled.npz"
    np.savez(pick, format=np.array("recurnet_sim.bam.v1"), weights=np.array([{"a": 1}], dtype=object))
    with pytest.raises(TraceFileError):
        bam.load_weights(pick)


def _cfg(**tables):
    spec = Table(bam.scenario_tables())
    cfg = validate(tables, spec)
    cfg["scenario"] = {"seed": 1}
    return cfg


def test_build_letters_recall_from_code(tmp_path):
    cfg = _cfg(pairs={"source": "letters", "names": ["J", "M", "Q", "V"]},
               initial={"side": "y", "noise": 0.0})
    m = bam.build(cfg, 4, rngs_for(4), tmp_path)
    assert m.n_x == 120 and m.n_y == 7 and m.direction == "y->x"
    assert m.describe()["layers"] == {"x": slice(0, 120), "y": slice(120, 127)}
    run(m, rngs_for(4), 4)
    assert [r[0] for r in m.recalled()] == ["J", "M", "Q", "V"]
    assert m.is_stable().all()
    s = bam.summary(m, 2)
    assert s["recalled_x"] == s["recalled_y"] == "Q" and s["exact_pair"] and s["stable_pair"]


def test_build_loads_weights_file_and_reports_bad_keys(tmp_path):
    cfg = _cfg(pairs={"source": "random", "count": 2, "n_x": 10, "n_y": 6})
    m = bam.build(cfg, 1, rngs_for(1), tmp_path)
    bam.save_weights(tmp_path / "w.npz", m)
    cfg = _cfg(network={"weights_file": "w.npz"}, pairs={"source": "random", "count": 2, "n_x": 10, "n_y": 6})
    m2 = bam.build(cfg, 1, rngs_for(1), tmp_path)
    assert np.array_equal(m2.weights, m.weights)
    with pytest.raises(Exception, match="n_x: is required"):
        _cfg(pairs={"source": "random", "count": 2, "n_y": 6})
    with pytest.raises(ValidationError, match="unknown pair 'Z'"):
        bam.build(_cfg(pairs={"names": ["A", "B"]}, initial={"pair": "Z"}), 1, rngs_for(1), tmp_path)


def test_weights_that_overflow_the_energy_are_refused(tmp_path):
    """1e308 is finite, but x W y sums 32 of them: the energy was -inf. Refused in one line, from
    a weights file (naming it) and from the API."""
    from recurnet_sim.errors import SimulationError
    px, py = rand_pairs(3, 8, 4, 0)
    m = BAM(px, py)
    m.weights = np.full((8, 4), 1e308)  # bypass the constructor's check to write the hostile file
    f = tmp_path / "huge.npz"
    bam.save_weights(f, m)
    with pytest.raises(TraceFileError, match=r"huge.npz: weights overflow: sum \|w\| = inf"):
        bam.load_weights(f)
    with pytest.raises(SimulationError, match="overflow"):
        BAM(px, py, weights=np.full((8, 4), 1e308))
    with pytest.raises(SimulationError, match="not all finite"):
        BAM(px, py, weights=np.full((8, 4), np.nan))
    ok = BAM(px, py, weights=np.full((8, 4), 1e300))  # large but every energy stays finite
    ok.state[:] = 1
    assert np.isfinite(ok.energy()).all()
