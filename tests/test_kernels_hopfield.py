"""Compiled (numba) and numpy kernels of the Hopfield and BAM sweeps give the same bits (issue 13),
the kernel selection (dynamics.kernel, RECURNET_KERNEL, the fallback without numba), and the
unit-visit traces of the sub-sweep stepping (replaying them gives the tick; their dE add up)."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from recurnet_sim import kernels
from recurnet_sim.errors import ScenarioError
from recurnet_sim.families.bam.model import BAM
from recurnet_sim.families.hopfield import sweeps
from recurnet_sim.families.hopfield.model import HopfieldModel, hebbian, learn
from recurnet_sim.paths import scenarios_dir
from recurnet_sim.scenario import load_scenario
from recurnet_sim.seeding import trial_rngs

SCHEDULES = ("sequential", "random", "glauber", "synchronous")


@pytest.fixture(autouse=True)
def compile_small_nets(monkeypatch):
    """Runs here are short: compile from the first sweep (the default starts on numpy)."""
    monkeypatch.setattr(kernels, "COMPILE_AFTER_S", 0.0)


def make(kernel, *, seed, n, p, rule, schedule, T, batch, binary, clamp, theta, per_trial):
    g = np.random.default_rng(seed)
    if per_trial:
        xi = np.where(g.random((batch, p, n)) < 0.5, -1, 1).astype(np.int8)
    else:
        xi = np.where(g.random((p, n)) < 0.5, -1, 1).astype(np.int8)
    c, scale = learn(rule, xi)
    if binary:
        xi = ((xi + 1) // 2).astype(np.int8)
    s0 = g.integers(0, 2, size=(batch, n)) * (1 if binary else 2) - (0 if binary else 1)
    hebb = rule == "hebbian"
    m = HopfieldModel(c, scale, np.full(n, theta * scale), patterns=xi, units="binary" if binary else "bipolar",
                      schedule=schedule, temperature=T, state=s0, integer=hebb or None,
                      symmetric=True if hebb else None, kernel=kernel)
    if clamp:
        m.set_clamped(g.random((batch, n)) < 0.2)
    return m


def trajectory(m, seed, ticks=6, active_mask=None):
    rngs = trial_rngs(seed, m.batch_size)
    out = []
    for t in range(ticks):
        active = np.ones(m.batch_size, bool) if active_mask is None else active_mask[t % len(active_mask)]
        f = m.step(rngs, active)
        out.append((m.state.copy(), m._field.copy(), np.asarray(f).copy(), m.energy().copy()))
    return out


def same(a, b):
    return all(all(np.array_equal(x, y) for x, y in zip(ra, rb)) for ra, rb in zip(a, b))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 48), p=st.integers(1, 6),
       rule=st.sampled_from(["hebbian", "storkey", "pseudo_inverse"]), schedule=st.sampled_from(SCHEDULES),
       T=st.sampled_from([0.0, 0.05, 0.4, 3.0]), batch=st.integers(1, 4), binary=st.booleans(),
       clamp=st.booleans(), theta=st.sampled_from([0.0, 0.5, -1.0]), per_trial=st.booleans())
def test_compiled_and_numpy_sweeps_give_the_same_bits(seed, n, p, rule, schedule, T, batch, binary, clamp, theta,
                                                      per_trial):
    """States, fields, flips and energies after every tick, over random nets, rules (integer and
    float couplings, so float32 and float64 fields), schedules, temperatures, thresholds, clamped
    units, per-trial weights and batches with trials switched off."""
    kw = dict(seed=seed, n=n, p=p, rule=rule, schedule=schedule, T=T, batch=batch, binary=binary, clamp=clamp,
              theta=theta, per_trial=per_trial)
    mask = [np.ones(batch, bool), np.arange(batch) % 2 == 0]
    a = make("numpy", **kw)
    b = make("compiled", **kw)
    assert np.array_equal(a.weights, b.weights)
    assert same(trajectory(a, seed, active_mask=mask), trajectory(b, seed, active_mask=mask))


@pytest.mark.parametrize("rule", ["hebbian", "storkey"])
def test_glauber_visits_too_close_to_call_are_decided_by_numpy(monkeypatch, rule):
    """A wide margin hands many visits back to numpy; the resumed sweeps still match bit for bit."""
    kw = dict(seed=5, n=40, p=4, rule=rule, schedule="glauber", T=0.7, batch=3, binary=False, clamp=True,
              theta=0.0, per_trial=False)
    ref = trajectory(make("numpy", **kw), 9, ticks=8)
    calls = []
    real = sweeps.pick("glauber_sweep", 3)
    monkeypatch.setattr(sweeps, "MARGIN", 0.3)
    monkeypatch.setattr(sweeps, "glauber_sweep_serial", lambda *a: (calls.append(1), real(*a))[1])
    assert same(ref, trajectory(make("compiled", **kw), 9, ticks=8))
    assert len(calls) > 3 * 8  # resumed many times, not one call per sweep


def test_larger_net_recall_is_the_same_through_the_engine():
    """N = 400, 20 patterns, 10 % flipped cues, random order: the whole recall through the engine."""
    runs = {}
    for kernel in ("numpy", "compiled"):
        sim = load_scenario(scenarios_dir() / "hopfield_letters.toml", trials=3, overrides=[
            f"dynamics.kernel={kernel}", "patterns.source=random", "network.size=400", "patterns.count=20",
            "initial.noise=0.1", "initial.pattern=1", "network.shape=[20, 20]", "dynamics.schedule=glauber",
            "dynamics.temperature=0.2", "stop.max_steps=12"])
        sim.run()
        runs[kernel] = (sim.model.state.copy(), sim.recorder("energy").data().copy())
    assert np.array_equal(runs["numpy"][0], runs["compiled"][0])
    assert np.array_equal(runs["numpy"][1], runs["compiled"][1])


def test_hebbian_float32_storage_equals_float64():
    xi = np.where(np.random.default_rng(1).random((30, 200)) < 0.5, -1, 1)
    c32, s = hebbian(xi, np.float32)
    c64, _ = hebbian(xi)
    assert c32.dtype == np.float32 and np.array_equal(c32, c64) and s == 1 / 200
    m = HopfieldModel(c32, s, state=xi[:1], integer=True, symmetric=True, max_row_sum=30 * 200)
    assert m.exact_integer and np.shares_memory(m._couplingT, c32)  # kept, not converted


# ----- selection -------------------------------------------------------------------------------
def test_env_switch_overrides_the_scenario_key(monkeypatch):
    monkeypatch.setenv(kernels.ENV_VAR, "numpy")
    assert kernels.kernel_for({"dynamics": {"kernel": "compiled"}}) == "numpy"
    sim = load_scenario(scenarios_dir() / "hopfield_letters.toml", overrides=["dynamics.kernel=compiled"])
    assert sim.model.kernel == "numpy"
    monkeypatch.setenv(kernels.ENV_VAR, "compiled")
    assert kernels.kernel_for("numpy") == "compiled"
    monkeypatch.setenv(kernels.ENV_VAR, "fast")
    with pytest.raises(ValueError, match="RECURNET_KERNEL must be one of 'numpy', 'compiled', got 'fast'"):
        kernels.kernel_for()
    monkeypatch.delenv(kernels.ENV_VAR)
    assert kernels.kernel_for() == "compiled" and kernels.kernel_for({"dynamics": {"kernel": "numpy"}}) == "numpy"


def test_dynamics_kernel_is_validated():
    with pytest.raises(ScenarioError) as e:
        load_scenario(scenarios_dir() / "hopfield_letters.toml", overrides=["dynamics.kernel=fast"])
    assert "hopfield_letters.toml: dynamics.kernel: must be one of 'numpy', 'compiled', got 'fast'" in str(e.value)


def test_without_numba_compiled_falls_back_to_numpy_with_one_note(monkeypatch, capsys):
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    monkeypatch.setattr(kernels, "_numba", None)
    monkeypatch.setattr(kernels, "_noted", False)
    monkeypatch.setitem(sys.modules, "numba", None)  # import numba now raises ImportError
    assert kernels.kernel_for("compiled") == "numpy"
    kw = dict(seed=2, n=20, p=2, rule="hebbian", schedule="random", T=0.0, batch=2, binary=False, clamp=False,
              theta=0.0, per_trial=False)
    m = make("compiled", **kw)
    ref = trajectory(make("numpy", **kw), 1)
    assert same(ref, trajectory(m, 1)) and m.kernel == "numpy"
    err = capsys.readouterr().err
    assert err.count("numba is not available") == 1 and len(err.strip().splitlines()) == 1


def test_compiled_starts_on_numpy_until_the_run_pays_for_numba(monkeypatch):
    monkeypatch.setattr(kernels, "COMPILE_AFTER_S", 1.0)
    monkeypatch.setattr(kernels, "_numpy_seconds", 0.0)
    monkeypatch.setattr(kernels, "_warm", False)
    monkeypatch.delenv(kernels.ENV_VAR, raising=False)
    assert not kernels.worth_compiling()
    kernels.numpy_time(0.6)
    assert not kernels.worth_compiling()
    kernels.numpy_time(0.6)
    assert kernels.worth_compiling()
    monkeypatch.setattr(kernels, "_numpy_seconds", 0.0)
    monkeypatch.setenv(kernels.ENV_VAR, "compiled")
    assert kernels.worth_compiling()


def test_switching_kernels_mid_run_changes_nothing():
    kw = dict(seed=8, n=40, p=3, rule="storkey", schedule="glauber", T=0.5, batch=3, binary=False, clamp=True,
              theta=0.0, per_trial=False)
    ref, mixed = make("numpy", **kw), make("numpy", **kw)
    r1, r2 = trial_rngs(2, 3), trial_rngs(2, 3)
    for t in range(8):
        mixed.kernel = ("numpy", "compiled")[t % 2]
        ref.step(r1, np.ones(3, bool))
        mixed.step(r2, np.ones(3, bool))
        assert np.array_equal(ref.state, mixed.state) and np.array_equal(ref._field, mixed._field)


def test_read_only_package_caches_in_the_user_cache_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(kernels, "_writable", lambda pkg: False)
    assert kernels.cache_dir() == tmp_path / "recurnet_sim" / "numba"
    monkeypatch.setattr(kernels, "_writable", lambda pkg: True)
    assert kernels.cache_dir() is None  # numba's own __pycache__ beside the sources


# ----- unit-visit traces (sub-sweep stepping) -----------------------------------------------------
@pytest.mark.parametrize("schedule,T", [("sequential", 0.0), ("random", 0.0), ("glauber", 0.6)])
@pytest.mark.parametrize("binary", [False, True])
def test_traced_tick_replays_to_the_untraced_state_and_its_energy_steps_add_up(schedule, T, binary):
    kw = dict(seed=4, n=36, p=3, rule="hebbian", schedule=schedule, T=T, batch=3, binary=binary, clamp=True,
              theta=0.5 if binary else 0.0, per_trial=False)
    plain, traced = make("compiled", **kw), make("compiled", **kw)
    traced.trace_units = True
    r1, r2 = trial_rngs(3, 3), trial_rngs(3, 3)
    for tick in range(4):
        before, e_before = traced.state.copy(), traced.energy().copy()
        plain.step(r1, np.ones(3, bool))
        traced.step(r2, np.ones(3, bool))
        assert np.array_equal(plain.state, traced.state) and np.array_equal(plain._field, traced._field)
        for b in range(3):
            ups = traced.unit_updates(b)
            if not ups:  # a random-order trial at a fixed point draws no order: nothing visited
                assert schedule == "random" and np.array_equal(before[b], traced.state[b])
                continue
            assert len(ups) == 36 and sorted(u.unit for u in ups) == list(range(36))  # every unit, once
            s = before[b].astype(float)
            for u in ups:
                assert s[u.unit] == u.before
                if traced.clamped[b, u.unit]:
                    assert u.after == u.before
                s[u.unit] = u.after
                assert (u.p_on is None) == (schedule != "glauber")
                if schedule != "glauber" and u.after != u.before:  # a deterministic flip follows its field
                    assert (u.field > 0) == (u.after == 1)
                if u.after == u.before:
                    assert u.delta_energy == 0.0
                else:
                    assert u.delta_energy < 0 or schedule == "glauber"  # descent unless stochastic
            assert np.array_equal(s, traced.state[b])
            assert sum(u.delta_energy for u in ups) == pytest.approx(traced.energy()[b] - e_before[b], abs=1e-9)


def test_bam_compiled_and_traced_sweeps_match_numpy():
    g = np.random.default_rng(3)
    px, py = np.where(g.random((4, 30)) < .5, -1, 1), np.where(g.random((4, 9)) < .5, -1, 1)
    runs = []
    for kernel, trace in (("numpy", False), ("compiled", False), ("compiled", True)):
        m = BAM(px, py, schedule="random", batch_size=3, kernel=kernel)
        rngs = trial_rngs(1, 3)
        m.cue("x", [0, 1, 2], 0.3, rngs, other="zeros")
        m.set_clamped([1, 2, 31])
        m.trace_units = trace
        states = []
        for _ in range(4):
            before, e0 = m.state.copy(), m.energy().copy()
            f = m.step(rngs, np.array([True, False, True]))
            states.append((m.state.copy(), f.copy()))
            if trace:
                for b in (0, 2):
                    s = before[b].copy()
                    for u in m.unit_updates(b):
                        assert s[u.unit] == u.before
                        s[u.unit] = u.after
                    assert np.array_equal(s, m.state[b])
                    assert sum(u.delta_energy for u in m.unit_updates(b)) == pytest.approx(m.energy()[b] - e0[b])
                assert m.unit_updates(1) == ()
        runs.append(states)
    assert same(runs[0], runs[1]) and same(runs[0], runs[2])


def same_state(x, y) -> bool:
    """Equal bit-generator states (dicts holding ints and arrays)."""
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(same_state(x[k], y[k]) for k in x)
    return bool(np.array_equal(x, y))


@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.Philox, np.random.MT19937, np.random.SFC64])
def test_compiled_permutation_draws_numpys_numbers_and_leaves_the_same_generator_state(bitgen):
    """The compiled draw of the visit order (sweeps._permute_into: numpy's Fisher-Yates with
    random_interval; for PCG64 with numpy's PCG64 step inline, sweeps._permute_pcg64) against
    Generator.permutation, then random: 200 seeds x 7 sizes per bit
    generator, from fresh generators and from ones holding a buffered 32-bit half (PCG64 keeps
    it in its state), comparing the generators' whole state afterwards."""
    sweeps.load_intrinsics()
    for seed in range(200):
        for n in (1, 2, 3, 17, 256, 1000, 1025):
            a, b = (np.random.Generator(bitgen(seed)) for _ in range(2))
            if seed % 3:  # odd numbers of 32-bit draws first: a half-used 64-bit output is buffered
                a.integers(7, size=seed % 5, dtype=np.uint32), b.integers(7, size=seed % 5, dtype=np.uint32)
            ptr = sweeps.RngPointers([a])
            assert ptr.ok
            # PCG64 (every trial generator) is drawn inline, the others through their C next_uint32
            assert (ptr.fn32 == 0) == (bitgen is np.random.PCG64 and sys.byteorder == "little")
            order, u = np.empty((1, n), np.int64), np.empty((1, n if seed % 2 else 0))
            sweeps.draw_orders(np.zeros(1, np.int64), ptr.states, ptr.fn32, ptr.fndbl, order, u)
            assert np.array_equal(order[0], b.permutation(n)), (seed, n)
            if seed % 2:
                assert np.array_equal(u[0], b.random(n)), (seed, n)
            assert same_state(a.bit_generator.state, b.bit_generator.state), (seed, n)


def test_trials_sharing_a_generator_draw_in_python_and_match_numpy():
    """One Generator object for every trial cannot be drawn from in a parallel loop: the step falls
    back to numpy's draws (in trial order) and still gives the numpy kernel's bits."""
    kw = dict(seed=3, n=30, p=3, rule="hebbian", schedule="random", T=0.0, batch=4, binary=False, clamp=False,
              theta=0.0, per_trial=False)
    runs = []
    for kernel in ("numpy", "compiled"):
        m, g = make(kernel, **kw), np.random.default_rng(11)
        assert not sweeps.RngPointers([g] * 4).ok
        runs.append([(m.step([g] * 4, np.ones(4, bool)).copy(), m.state.copy()) for _ in range(4)])
    assert all(np.array_equal(x, y) for ra, rb in zip(*runs) for x, y in zip(ra, rb))


@pytest.mark.parametrize("schedule,T", [("sequential", 0.0), ("random", 0.0), ("glauber", 0.0), ("glauber", 0.5)])
def test_the_one_call_tick_equals_the_numpy_tick_at_n_1000(schedule, T):
    """N = 1000, P = 100, three 10 %-flipped cues (the benchmark's net): the one-call tick
    (sweeps.async_step, or the compiled draws + Glauber sweep) and the numpy path agree in every
    state, flip count and generator state over a few ticks."""
    g = np.random.default_rng(4)
    xi = np.where(g.random((100, 1000)) < 0.5, -1, 1).astype(np.int8)
    c, scale = hebbian(xi, np.float32)
    cue = np.where(g.random((3, 1000)) < 0.1, -xi[:3], xi[:3])
    out = []
    for kernel in ("numpy", "compiled"):
        m = HopfieldModel(c, scale, patterns=xi, state=cue, schedule=schedule, temperature=T, symmetric=True,
                          integer=True, kernel=kernel)
        rngs = trial_rngs(8, 3)
        out.append([(m.step(rngs, np.ones(3, bool)).copy(), m.state.copy()) for _ in range(3)]
                   + [[r.bit_generator.state for r in rngs]])
    assert all(
        np.array_equal(x, y) for ra, rb in zip(out[0][:-1], out[1][:-1]) for x, y in zip(ra, rb))
    assert all(map(same_state, out[0][-1], out[1][-1]))


def energy_from_scratch(m) -> np.ndarray:
    """E = -1/2 s^T W s + theta^T s of each trial, from the fields rebuilt from the state (the
    expression energy() evaluated before it kept its value), uncached."""
    s = m.state.astype(np.float64)
    h = m._fields_from_scratch(slice(None)).astype(np.float64)
    return (0.5 * m.scale) * np.einsum("bi,bi->b", s, 2 * m._theta_c.astype(np.float64) - h)


@pytest.mark.parametrize("kernel", ["compiled", "numpy"])
@pytest.mark.parametrize("binary,theta,batch", [(False, 0.0, 1), (True, 0.5, 3), (False, 1.0, 2)])
def test_kept_energy_is_recomputed_after_every_kind_of_state_change(kernel, binary, theta, batch):
    m = make(kernel, seed=5, n=40, p=3, rule="hebbian", schedule="sequential", T=0.0, batch=batch,
             binary=binary, clamp=False, theta=theta, per_trial=False)
    assert m.exact_integer
    rngs = trial_rngs(2, batch)
    g = np.random.default_rng(0)
    lo, hi = m.unit_values
    changes = [
        lambda: m.step(rngs, np.ones(batch, bool)),
        lambda: m.step(rngs, np.ones(batch, bool)),  # most of these change nothing once settled
        lambda: m.set_state(np.where(g.random((batch, 40)) < 0.5, lo, hi)),
        lambda: m.flip(g.random(40) < 0.3),
        lambda: m.load_pattern(1),
        lambda: m.restore(snap),
    ]
    snap = m.snapshot()
    seen = []
    for k in g.integers(0, len(changes), size=40):
        changes[k]()
        e = m.energy()
        assert np.array_equal(e, energy_from_scratch(m)), k
        e[:] = 1e9  # what a caller does with its array never reaches the next read
        again = m.energy()
        assert np.array_equal(again, energy_from_scratch(m))
        seen.append(again)
    assert np.array_equal(seen[-1], m.energy())
    # a direct write to the state (the viewer swaps a row in for drawing) is a different key:
    # the energy is the expression's value for what is there now, and the old one once it is back
    before, saved = m.energy(), m.state[0].copy()
    m.state[0] = np.where(saved == lo, hi, lo)
    g0 = (0.5 * m.scale) * (m.state[0].astype(np.float64) @ (2 * m._theta_c[0].astype(np.float64)
                                                               - m._field[0].astype(np.float64)))
    assert m.energy()[0] == g0
    m.state[0] = saved
    assert np.array_equal(m.energy(), before)


@pytest.mark.parametrize("batch,n", [(1, 1000), (3, 17), (70, 1000)])  # the last one packs all at once
@pytest.mark.parametrize("binary", [False, True])
def test_state_keys_are_equal_exactly_when_the_states_are(batch, n, binary):
    g = np.random.default_rng(batch + n)
    lo, hi = (0, 1) if binary else (-1, 1)
    s0 = np.where(g.random((batch, n)) < 0.5, lo, hi)
    m = HopfieldModel(np.zeros((n, n)), 1.0, units="binary" if binary else "bipolar", state=s0,
                      symmetric=True, integer=True)
    keys = m.state_keys(np.arange(batch))
    assert len(keys) == batch and all(isinstance(k, bytes) for k in keys)
    # the per-key bytes the engine's memory cap counts: the units packed into bits
    assert {len(k) for k in keys} == {-(-n // 8)}
    # one by one (a few trials) and all at once (many) give the same bytes
    assert keys == [r.tobytes() for r in np.packbits(m.state > 0, axis=1)]
    want = {}
    for b in range(batch):
        want.setdefault(m.state[b].tobytes(), set()).add(keys[b])
    assert all(len(v) == 1 for v in want.values()) and len({next(iter(v)) for v in want.values()}) == len(want)
    if batch > 1:  # a copy of trial 0's state in trial 1 gives trial 0's key; one unit off does not
        m.set_state(m.state[0], rows=np.array([1]))
        k = m.state_keys(np.array([0, 1]))
        assert k[0] == k[1]
        m.flip(np.eye(n, dtype=bool)[n // 2], rows=np.array([1]))
        k2 = m.state_keys([0, 1])
        assert k2[0] == k[0] and k2[1] != k2[0]
    assert m.state_keys(np.array([0])) == [keys[0]]  # trial 0 never changed: its key, alone or with others
