"""Fixed and slow points (Sussillo & Barak 2013) through the Cell protocol: maps whose fixed points
are known in closed form, deduplication, every registered cell, and the 3-bit flip-flop, where a
trained net holds its 8 memories as 8 stable fixed points at the corners of the output cube with
saddles on the edges between them."""
from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from recurnet_sim.analysis import fixedpoints as fp
from recurnet_sim.families.srn import elman
from recurnet_sim.families.srn.bptt import SRNConfig, TrainConfig, init_params
from recurnet_sim.families.srn.cells import CELLS
from recurnet_sim.families.srn.tasks import flip_flop


def linear_map(A):
    A = np.asarray(A, float)

    def F(S):
        return S @ A.T, np.broadcast_to(A, (S.shape[0],) + A.shape).copy()
    return F


def with_spectrum(eigs, seed=0):
    """A real matrix with the given real eigenvalues, in a random (non-orthogonal) basis."""
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((len(eigs), len(eigs))) + 2 * np.eye(len(eigs))
    return V @ np.diag(eigs) @ np.linalg.inv(V)


def elman_net(W_hh, W_xh=None, b=None, activation="tanh"):
    """An Elman network with the given recurrent weights (one trial): F(h) = f(W_hh h + b)."""
    W_hh = np.atleast_2d(np.asarray(W_hh, float))
    H = W_hh.shape[0]
    cfg = SRNConfig(kind="elman", n_in=1, n_hidden=H, n_out=1, activation=activation, output="linear")
    p = {"W_xh": np.zeros((1, H, 1)) if W_xh is None else np.asarray(W_xh, float)[None],
         "W_ch": W_hh[None], "b_h": np.zeros((1, H)) if b is None else np.asarray(b, float)[None],
         "W_hy": np.ones((1, 1, H)), "b_y": np.zeros((1, 1))}
    return cfg, p


# ----- maps with known fixed points -------------------------------------------------------------
@pytest.mark.parametrize("eigs, kind, n_up", [
    ((0.5, -0.8, 0.2, 0.9), "stable", 0),
    ((0.5, -1.6, 0.2, 1.3), "saddle", 2),
    ((1.5, -2.0, 3.0), "unstable", 3),
])
def test_linear_map_has_one_fixed_point_at_zero_classified_by_its_spectrum(eigs, kind, n_up):
    A = with_spectrum(eigs)
    starts = np.random.default_rng(1).uniform(-3, 3, (40, len(eigs)))
    rep = fp.find_fixed_points_of(linear_map(A), starts)
    assert len(rep.points) == 1 and len(rep.fixed) == 1  # 40 starts, one point after deduplication
    p = rep.points[0]
    assert np.allclose(p.state, 0, atol=1e-10) and p.q < 1e-20
    assert (p.kind, p.n_unstable) == (kind, n_up)
    assert np.allclose(np.abs(p.eigenvalues), sorted(np.abs(eigs), reverse=True))


def test_linear_map_through_a_linear_elman_cell():
    """The same map as a network: h -> W_hh h (linear units, no input, no bias), found through the
    cell's step and Jacobian from states on a trajectory."""
    A = with_spectrum((0.7, -1.4, 0.3))
    cfg, p = elman_net(A, activation="linear")
    states = np.random.default_rng(2).uniform(-1, 1, (30, 3))
    rep = fp.find_fixed_points(cfg, p, states=states, n_starts=20, noise=0.1)
    assert len(rep.points) == 1
    pt = rep.points[0]
    assert np.allclose(pt.state, 0, atol=1e-10) and (pt.kind, pt.n_unstable) == ("saddle", 1)
    assert np.allclose(sorted(np.abs(pt.eigenvalues)), [0.3, 0.7, 1.4])
    assert np.allclose(pt.output, 0, atol=1e-10)  # y = sum(h) = 0 there


@pytest.mark.parametrize("w", [1.5, 2.0, 4.0])
def test_one_tanh_unit_with_self_weight_above_one_is_bistable(w):
    """h -> tanh(w h), w > 1: stable fixed points at +-h*, h* = tanh(w h*), with F' = w (1 - h*^2) < 1,
    and an unstable one at 0 with F' = w."""
    cfg, p = elman_net([[w]])
    h = 1.0
    for _ in range(2000):  # the positive root, by iterating the map from 1 (it is the attractor)
        h = np.tanh(w * h)
    rep = fp.find_fixed_points(cfg, p, states=np.linspace(-1, 1, 21)[:, None], n_starts=21, noise=0.0)
    assert [(q.kind, q.n_unstable) for q in rep.points] == [("stable", 0), ("stable", 0), ("unstable", 1)]
    st = sorted(float(q.state[0]) for q in rep.points if q.stable)
    assert np.allclose(st, [-h, h], atol=1e-9)
    for q in rep.points:
        s = float(q.state[0])
        assert np.isclose(q.eigenvalues[0].real, w * (1 - np.tanh(w * s) ** 2), atol=1e-9)
    assert abs(rep.points[2].state[0]) < 1e-10 and np.isclose(rep.points[2].eigenvalues[0].real, w)


def test_one_tanh_unit_with_self_weight_below_one_has_only_zero():
    cfg, p = elman_net([[0.8]])
    rep = fp.find_fixed_points(cfg, p, states=np.linspace(-1, 1, 11)[:, None], n_starts=11, noise=0.0)
    assert len(rep.points) == 1 and rep.points[0].stable and abs(rep.points[0].state[0]) < 1e-10


def test_marginal_point_and_slow_point():
    """A line attractor (eigenvalue 1) is marginal; x -> x + 0.01 + x^2 ... has no fixed point
    but a slow point where |F(x) - x| is smallest, at x = 0 with q = 0.5 * 1e-6."""
    ev, n_up, kind = fp.classify(np.diag([1.0, 0.5]))
    assert (n_up, kind) == (0, "marginal")

    def F(S):
        x = S[:, :1]
        return x + 1e-3 + x ** 2, (1 + 2 * x)[:, :, None]
    rep = fp.find_fixed_points_of(F, np.array([[0.3], [-0.2], [0.05]]), slow_tol=1e-5)
    assert len(rep.points) == 1 and not rep.points[0].fixed and len(rep.slow) == 1
    assert abs(rep.points[0].state[0]) < 1e-6 and np.isclose(rep.points[0].q, 0.5e-6)


def test_deduplicate_keeps_the_smallest_q_of_each_cluster():
    S = np.array([[0.0, 0.0], [1e-4, 0.0], [1.0, 1.0], [1.0, 1.0005], [-1.0, 0.0]])
    q = np.array([1e-3, 1e-9, 5.0, 1.0, 2.0])
    keep = fp.deduplicate(S, q, unique_tol=1e-3)
    assert keep.tolist() == [1, 3, 4]  # increasing q; one per cluster, the best of it
    assert fp.deduplicate(S, q, unique_tol=10.0).tolist() == [1]


# ----- every cell -----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(CELLS))
def test_fixed_points_of_every_cell_are_fixed_and_classified_by_the_true_jacobian(kind):
    """For any registered cell (on its flattened carry): the points found satisfy F(s*) = s* when the
    cell's own step is called, and their eigenvalues are those of a finite-difference Jacobian."""
    cfg = SRNConfig(kind=kind, n_in=2, n_hidden=5, n_out=2, output="sigmoid")
    rng = np.random.default_rng(3)
    p = init_params(cfg, [rng], scale=2.5)
    for k in p:  # biases too, so the fixed points are not all at 0
        p[k] = p[k] + 0.3 * rng.standard_normal(p[k].shape)
    cell = cfg.cell
    X = rng.uniform(-1, 1, (60, 2))
    rep = fp.find_fixed_points(cfg, p, X, n_starts=64, noise=0.3, rng=np.random.default_rng(0))
    assert rep.fixed, "no fixed point found"
    zero = np.zeros((1, cfg.n_in))
    for pt in rep.points:
        s = pt.state[None]
        nxt = cell.step(p, zero, s)[0][0]
        assert np.linalg.norm(nxt - pt.state) <= np.sqrt(2 * max(pt.q, 1e-30)) * 1.01 + 1e-12
        eps = 1e-6
        Jfd = np.stack([(cell.step(p, zero, s + eps * e)[0][0] - cell.step(p, zero, s - eps * e)[0][0]) / (2 * eps)
                        for e in np.eye(cell.n_carry)], axis=1)
        ev = np.linalg.eigvals(Jfd)
        assert np.allclose(np.sort(np.abs(ev))[::-1], np.abs(pt.eigenvalues), atol=1e-5)
        assert pt.n_unstable == int((np.abs(ev) > 1 + 1e-6).sum())


# ----- the 3-bit flip-flop ---------------------------------------------------------------------
#: hyper-parameters that train an Elman net of 16 units to the flip-flop in 60 epochs (0.2 s); checked
#: by hand on seeds 0-19 (see docs/fixed_points.md)
FLIPFLOP = dict(H=16, epochs=60, lr=0.03, truncation=20, clip=1.0, length=1000, pulse_prob=0.1, seed=0)


@pytest.fixture(scope="module")
def flipflop():
    c = FLIPFLOP
    rngs = [np.random.default_rng(c["seed"])]
    task = flip_flop(rngs, c["length"], 3, c["pulse_prob"])
    net = elman.make(task, c["H"], rngs, context_init=0.0,
                     train_cfg=TrainConfig(lr=c["lr"], momentum=0.9, truncation=c["truncation"], clip=c["clip"]))
    losses = elman.train(net, c["epochs"])
    p = {k: v[:1] for k, v in net.params_.items()}
    rep = fp.find_fixed_points(net.cfg, p, task.inputs[0], n_starts=512, noise=0.5, rng=np.random.default_rng(0))
    return net, p, task, losses, rep


def test_trained_flipflop_net_has_8_stable_fixed_points_at_the_corners(flipflop):
    net, p, task, losses, rep = flipflop
    assert losses[-1, 0] < 0.01 < losses[0, 0]  # it learned the task (chance: 1.5)
    stable = [q for q in rep.fixed if q.stable]
    assert len(stable) == 8
    corners = {tuple(np.sign(q.output).astype(int)) for q in stable}
    assert corners == set(itertools.product((-1, 1), repeat=3))
    for q in stable:
        assert np.allclose(np.abs(q.output), 1, atol=0.1) and q.max_abs_eigenvalue < 1
        assert q.q < 1e-20


def test_saddles_of_the_flipflop_sit_between_the_corners_and_lead_to_them(flipflop):
    """12 saddles with one unstable direction, one per edge of the cube: their output is about 0 on
    one bit and +-1 on the other two, and the state pushed either way along the unstable
    eigenvector falls into the two corners at the ends of that edge."""
    net, p, task, losses, rep = flipflop
    F = fp.autonomous_map(net.cfg, p)
    edge = [q for q in rep.fixed if q.kind == "saddle" and q.n_unstable == 1]
    assert len(edge) == 12
    edges = set()
    for q in edge:
        y = q.output
        free = int(np.argmin(np.abs(y)))
        assert abs(y[free]) < 0.3 and np.allclose(np.abs(np.delete(y, free)), 1, atol=0.1)
        ev, V = np.linalg.eig(F(q.state[None])[1][0])
        v = np.real(V[:, np.argmax(np.abs(ev))])
        ends = set()
        for sign in (1, -1):
            s = q.state[None] + sign * 1e-3 * v
            for _ in range(300):
                s = F(s)[0]
            ends.add(tuple(np.sign(net.cfg.readout(p, s)[1][0]).astype(int)))
        fixed_bits = tuple(np.sign(np.delete(y, free)).astype(int))
        want = {tuple(np.insert(fixed_bits, free, b)) for b in (-1, 1)}
        assert ends == want
        edges.add(frozenset(want))
    assert len(edges) == 12  # every edge of the cube once
    # the saddles with more unstable directions sit on the faces and at the centre
    for q in rep.fixed:
        if q.kind == "saddle" and q.n_unstable > 1:
            assert (np.abs(q.output) < 0.3).sum() == q.n_unstable


def test_flipflop_scenario_reports_the_fixed_points_in_json(capsys):
    from recurnet_sim.cli import main

    assert main(["run", "flipflop_fixed_points", "--headless", "--json", "--steps", "4"]) == 0
    out = capsys.readouterr().out
    d = json.loads(out)  # strict JSON: json.loads would accept NaN, so check the text too
    assert "NaN" not in out and "Infinity" not in out
    for t in d["trials"]:
        assert t["fixed_points_stable"] == 8 and t["fixed_points_saddle"] >= 12
        assert t["fixed_points"] == sum(t[k] for k in ("fixed_points_stable", "fixed_points_saddle",
                                                      "fixed_points_unstable", "fixed_points_marginal"))
        lst = t["fixed_point_list"]
        assert 0 < len(lst) <= 16 and [e["stable"] for e in lst[:8]] == [True] * 8
        assert {tuple(np.sign(e["output"]).astype(int)) for e in lst[:8]} == set(itertools.product((-1, 1), repeat=3))


def test_viewer_draws_the_fixed_points_on_the_pca_plane(monkeypatch):
    """The panel the SRN view declares for [analysis] fixed_points: the same points as the summary,
    stable filled, saddles hollow, on the plane of the trajectory; drawn without error at two sizes."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    pygame = pytest.importorskip("pygame")
    from recurnet_sim.families.srn.model import fixed_point_summary
    from recurnet_sim.scenario import load_scenario
    from recurnet_sim.viewer import Viewer

    from recurnet_sim.paths import scenarios_dir

    sim = load_scenario(scenarios_dir() / "flipflop_fixed_points.toml", {"view.paused": True})
    sim.train()
    for size in ((1100, 720), (1600, 1000)):
        v = Viewer(sim, size=size, headless=True)
        try:
            sv = v.state_view
            # the fixed points are this scenario's claim: the main panel, the big plot on the right
            panel = sv.spec.main
            assert type(panel).__name__ == "FixedPointPanel"
            assert v.claim_rect.w > 150 and not v.main_rect.colliderect(v.claim_rect)
            v.draw()
            v.draw()
            assert panel.computations == 1  # once per weights, not per frame
            sc = panel.data(sim.model, 0)
            assert sc.note is None
            s = fixed_point_summary(sim.model, 0)
            assert len(sc.points) == s["fixed_points"] and sum(sc.filled) == s["fixed_points_stable"] == 8
            assert all(f == (t == "good") for f, t in zip(sc.filled, sc.tones))
            # the projection is the trajectory's: the corners lie within the span of the path
            lo, hi = sc.path.min(0), sc.path.max(0)
            st = np.asarray(sc.points)[list(sc.filled)]
            assert ((st >= lo - 0.2 * (hi - lo)) & (st <= hi + 0.2 * (hi - lo))).all()
            assert "8 stable" in sc.lines[0][0]
            assert pygame.surfarray.array3d(v.draw()).std() > 0
        finally:
            v.close()
