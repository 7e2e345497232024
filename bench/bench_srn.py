"""Training speed of the Elman network: recurnet_sim vs a straightforward numpy BPTT (and PyTorch).

Epochs per second of truncated BPTT (h = h' = 12, SGD + momentum) on:

* temporal XOR, 3,000 steps, hidden 2 and hidden 32 (Elman 1990);
* the embedded Reber grammar, 3,000 steps, hidden 32, softmax output.

Baselines, doing the same arithmetic per window:

* ``naive``: a straightforward per-time-step numpy BPTT for one network (matrix-vector products
  step by step, forward and backward, weight gradients accumulated inside the loop) — what one
  writes first, following Williams & Peng (1990);
* ``torch``: ``torch.nn.RNN`` on the CPU with a linear read-out and ``loss.backward()`` per window,
  one network, if PyTorch is installed (skipped otherwise).

recurnet_sim is timed for a batch of 1 and of 16 networks (the batch axis is how seeded trials
run together); "per network" rates divide by nothing for B=1 and multiply by 16 for B=16. Also
timed: Elman's one-step scheme (an update after every step), in ms per step.

BLAS is pinned to one thread for every contender; each figure is the best of ``--repeats``.
Figures on a shared 2-core machine (numpy 2.4, OpenBLAS 0.3.31; epochs/s, best of 5; the naive
column is the same code in both rows and shows the machine's noise)::

    case                       naive  B=1   B=16 (per net)  B=1/naive  B=16 per net/naive
    before (train_epoch = forward/objective/backward/clip/sgd per window, dicts of arrays):
    temporal XOR H=2           18.1   22.3  15.6  (250)     1.23       13.8
    temporal XOR H=32          14.0   19.8   6.6  (106)     1.42        7.6
    Reber H=32                 12.6   18.1   4.5   (72)     1.44        5.7
    after (fused epoch: flat parameters, one matmul + activation in place per Elman step):
    temporal XOR H=2           15.4   54.2  26.0  (415)     3.53       27.0
    temporal XOR H=32          13.8   51.0  13.8  (221)     3.71       16.1
    Reber H=32                 12.3   44.5  10.9  (175)     3.61       14.2

    Elman's one-step scheme, ms per step   H=2 B=1   H=32 B=1   H=32 B=16 (per net)
    before                                 0.094     0.101      0.178 (0.011)
    after                                  0.029     0.031      0.082 (0.005)

The last table (issue 13) times the compiled (numba) epoch against the numpy path in the same run.
Three runs after the size-specialised copy for tiny nets, the loss inside the forward loop and the
recycled outputs (shared 2-core machine, load 1-8, this day; B = 1): temporal XOR T=3000 H=2 full
BPTT 0.51, 0.54, 0.50 ms per epoch (numpy/compiled 15.5-15.9; the goal is 0.5 ms; before: 0.67),
Elman one-step 0.62-0.66 ms (~90x), H=32 full BPTT 3.0-3.1 ms (3.0x); BPTT(12;12) at H=32 against
torch.nn.RNN: compiled/torch 0.03-0.04 (XOR and Reber). Three runs after the epoch's views skip
numba's reference counts (kernels._unowned; perf had put ~60 % of the H=2 epoch in NRT_incref and
NRT_decref; the same bits), load ~1.7, numba 0.68.1: H=2 full BPTT 0.209, 0.213, 0.205 ms
(numpy/compiled 38.6-40.0), Jordan (mu = 0.5) 0.248, 0.252, 0.245 ms (before: ~0.79), Elman
one-step 0.31-0.33 ms, H=32 full BPTT 2.85 ms (3.3x), BPTT(12;12) compiled/torch 0.03 (XOR and
Reber).

Run:  python bench/bench_srn.py [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import time

# One BLAS thread for every contender: the machine is shared, and threads only add noise at these sizes.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402  (after the thread pinning)

from recurnet_sim.families.srn import tasks  # noqa: E402
from recurnet_sim.families.srn import bptt as srn  # noqa: E402  (the generic BPTT over cells)

K = 12  # truncation h = update interval h'


# --------------------------------------------------------------------------------------------
# The straightforward baseline
# --------------------------------------------------------------------------------------------
def naive_epoch(W_xh, W_hh, b_h, W_hy, b_y, vel, X, D, output, lr=0.1, mom=0.9):
    """One epoch of BPTT(K; K) for a single Elman net, everything per time step."""
    T = X.shape[0]
    h = np.full(W_hh.shape[0], 0.5)
    params = [W_xh, W_hh, b_h, W_hy, b_y]
    for start in range(0, T, K):
        end = min(start + K, T)
        hs, xs, ys, hprev = [], [], [], []
        for t in range(start, end):
            hprev.append(h)
            h = np.tanh(W_xh @ X[t] + W_hh @ h + b_h)
            z = W_hy @ h + b_y
            if output == "sigmoid":
                y = 1 / (1 + np.exp(-z))
            else:
                e = np.exp(z - z.max())
                y = e / e.sum()
            hs.append(h)
            ys.append(y)
        grads = [np.zeros_like(p) for p in params]
        dh_next = np.zeros_like(h)
        n = end - start
        for i in reversed(range(n)):
            t = start + i
            dz = (ys[i] - D[t]) / n
            grads[3] += np.outer(dz, hs[i])
            grads[4] += dz
            dh = W_hy.T @ dz + dh_next
            da = dh * (1 - hs[i] ** 2)
            grads[0] += np.outer(da, X[t])
            grads[1] += np.outer(da, hprev[i])
            grads[2] += da
            dh_next = W_hh.T @ da
        for p, v, g in zip(params, vel, grads):
            v *= mom
            v -= lr * g
            p += v


def time_naive(task, H, repeats, epochs):
    rng = np.random.default_rng(0)
    I, O = task.n_in, task.n_out
    ps = [rng.uniform(-0.3, 0.3, (H, I)), rng.uniform(-0.3, 0.3, (H, H)), np.zeros(H),
          rng.uniform(-0.3, 0.3, (O, H)), np.zeros(O)]
    vel = [np.zeros_like(p) for p in ps]
    X, D = task.inputs[0], task.targets[0]
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(epochs):
            naive_epoch(*ps, vel, X, D, task.output)
        best = min(best, (time.perf_counter() - t0) / epochs)
    return 1.0 / best


def time_ours(task, H, B, repeats, epochs, kernel="numpy", bptt="truncated", kind="elman"):
    rngs = [np.random.default_rng(b) for b in range(B)]
    X = np.repeat(task.inputs[:1], B, 0)
    D = np.repeat(task.targets[:1], B, 0)
    cfg = srn.SRNConfig(kind=kind, n_in=task.n_in, n_hidden=H, n_out=task.n_out, output=task.output,
                        loss="cross_entropy")
    p = srn.init_params(cfg, rngs)
    vel = {k: np.zeros_like(v) for k, v in p.items()}
    tc = srn.TrainConfig(lr=0.1, momentum=0.9, bptt=bptt, truncation=K)
    srn.train_epoch(cfg, tc, p, vel, X, D, kernel=kernel)  # warm-up (loads the compiled kernel)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(epochs):
            srn.train_epoch(cfg, tc, p, vel, X, D, kernel=kernel)
        best = min(best, (time.perf_counter() - t0) / epochs)
    return 1.0 / best


def time_elman_scheme(task, H, B, repeats, kernel="numpy"):
    """Milliseconds per time step of Elman's one-step scheme (an update after every step)."""
    X = np.repeat(task.inputs[:1], B, 0)
    D = np.repeat(task.targets[:1], B, 0)
    cfg = srn.SRNConfig(kind="elman", n_in=task.n_in, n_hidden=H, n_out=task.n_out, output=task.output,
                        loss="cross_entropy")
    p = srn.init_params(cfg, [np.random.default_rng(b) for b in range(B)])
    vel = {k: np.zeros_like(v) for k, v in p.items()}
    tc = srn.TrainConfig(lr=0.1, momentum=0.9, bptt="elman")
    srn.train_epoch(cfg, tc, p, vel, X, D, kernel=kernel)
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        srn.train_epoch(cfg, tc, p, vel, X, D, kernel=kernel)
        best = min(best, time.perf_counter() - t0)
    return 1e3 * best / X.shape[1]


def time_torch(task, H, repeats, epochs):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rnn = torch.nn.RNN(task.n_in, H, nonlinearity="tanh", batch_first=True)
    head = torch.nn.Linear(H, task.n_out)
    opt = torch.optim.SGD(list(rnn.parameters()) + list(head.parameters()), lr=0.1, momentum=0.9)
    X = torch.tensor(task.inputs[:1], dtype=torch.float32)
    D = torch.tensor(task.targets[:1], dtype=torch.float32)
    T = X.shape[1]
    if task.output == "sigmoid":
        lossf = torch.nn.BCEWithLogitsLoss()
    else:
        ce = torch.nn.CrossEntropyLoss()
        lossf = lambda z, d: ce(z.reshape(-1, z.shape[-1]), d.reshape(-1, d.shape[-1]).argmax(-1))
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(epochs):
            h = torch.full((1, 1, H), 0.5)
            for s in range(0, T, K):
                out, h = rnn(X[:, s:s + K], h)
                h = h.detach()
                loss = lossf(head(out), D[:, s:s + K])
                opt.zero_grad()
                loss.backward()
                opt.step()
        best = min(best, (time.perf_counter() - t0) / epochs)
    return 1.0 / best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings")
    ap.add_argument("--epochs", type=int, default=2)
    args = ap.parse_args(argv)
    rng1 = [np.random.default_rng(0)]
    cases = [
        ("temporal XOR T=3000 H=2", tasks.temporal_xor(rng1, 3000), 2),
        ("temporal XOR T=3000 H=32", tasks.temporal_xor(rng1, 3000), 32),
        ("Reber T=3000 H=32", tasks.reber(rng1, 3000), 32),
    ]
    print(f"{'case':28s} {'naive':>8s} {'ours B=1':>9s} {'ours B=16':>10s} {'(per net)':>10s} {'torch':>8s}"
          f"  ratios: ours/naive  ours16/naive  ours/torch")
    for name, task, H in cases:
        nv = time_naive(task, H, args.repeats, args.epochs)
        o1 = time_ours(task, H, 1, args.repeats, args.epochs)
        o16 = time_ours(task, H, 16, args.repeats, args.epochs)
        th = time_torch(task, H, args.repeats, args.epochs)
        ts = f"{th:8.2f}" if th else "    skip"
        rt = f"{o1 / th:10.2f}" if th else "      n/a"
        print(f"{name:28s} {nv:8.2f} {o1:9.2f} {o16:10.2f} {16 * o16:10.2f} {ts}"
              f"  {o1 / nv:10.2f}  {16 * o16 / nv:12.2f}  {rt}")
    print("(epochs per second, best of --repeats; 'per net' = 16 x the B=16 rate; torch = nn.RNN on CPU, 1 thread)")
    xor = cases[0][1]
    for H, B in ((2, 1), (32, 1), (32, 16)):
        ms = time_elman_scheme(xor, H, B, args.repeats)
        print(f"Elman's one-step scheme, temporal XOR H={H} B={B}: {ms:.3f} ms per step ({ms / B:.4f} per net)")
    compiled_goals(cases, args)


def compiled_goals(cases, args):
    """Issue 13: the compiled (numba) epoch against the numpy path, same run, B = 1 (goal: temporal
    XOR T=3000 H=2 full BPTT <= 0.5 ms per epoch, >= 25x, Elman and Jordan; faster than PyTorch
    at H=32)."""
    print("\ncompiled epoch (recurnet_sim.families.srn.kernels) vs numpy, B=1, ms per epoch, best of --repeats")
    print(f"{'case':44s} {'numpy':>9s} {'compiled':>9s} {'numpy/compiled':>15s} {'torch':>9s} {'compiled/torch':>15s}")
    xor = cases[0][1]
    rows = [("temporal XOR T=3000 H=2 full BPTT", xor, 2, "full", False),
            ("temporal XOR T=3000 H=2 full BPTT, Jordan", xor, 2, "jordan", False),
            ("temporal XOR T=3000 H=2 Elman one-step", xor, 2, "elman", False),
            ("temporal XOR T=3000 H=32 full BPTT", xor, 32, "full", False),
            ("temporal XOR T=3000 H=32 BPTT(12;12)", xor, 32, "truncated", True),
            ("Reber T=3000 H=32 BPTT(12;12)", cases[2][1], 32, "truncated", True)]
    for name, task, H, mode, vs_torch in rows:
        if mode == "elman":
            T = task.inputs.shape[1]
            nv = time_elman_scheme(task, H, 1, args.repeats) * T
            cp = time_elman_scheme(task, H, 1, args.repeats, "compiled") * T
        else:
            kind, bp = ("jordan", "full") if mode == "jordan" else ("elman", mode)
            nv = 1e3 / time_ours(task, H, 1, args.repeats, args.epochs, "numpy", bp, kind)
            # at least 10 epochs a timing: a tiny net's compiled epoch is ~0.2 ms
            cp = 1e3 / time_ours(task, H, 1, args.repeats, max(args.epochs, 10), "compiled", bp, kind)
        th = time_torch(task, H, args.repeats, args.epochs) if vs_torch else None
        ts = f"{1e3 / th:9.3f}" if th else f"{'-':>9s}"
        rt = f"{cp / (1e3 / th):15.2f}" if th else f"{'-':>15s}"
        print(f"{name:44s} {nv:9.3f} {cp:9.3f} {nv / cp:15.1f} {ts} {rt}")
    print("(torch = nn.RNN + Linear, SGD+momentum per window of 12, 1 thread; compiled/torch < 1: faster than PyTorch)")


if __name__ == "__main__":
    main()
