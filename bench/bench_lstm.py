"""Epoch time of LSTM, GRU and Elman networks with H = 32: recurnet_sim (numpy and compiled) vs PyTorch on the CPU.

The task and batch are the same for both: delayed recall in episodes (Hochreiter & Schmidhuber
1997) at lag 20, 50 episodes of 21 steps per epoch, one Adam update (Kingma & Ba 2015) per
window of 5 whole episodes (``training.batch_episodes = 5``: 10 updates per epoch), softmax
cross-entropy at each episode's last step, B = 8 sequences side by side.

* recurnet_sim: :func:`recurnet_sim.families.srn.bptt.train_epoch` with ``optimizer="adam"``, on
  the numpy path and on the compiled (numba) epoch (``kernel="compiled"``, issue 13); its batch axis
  holds B independent networks (seeded trials), each with its own weights.
* PyTorch (``torch.nn.LSTM`` / ``GRU`` / ``RNN`` + ``nn.Linear``, ``torch.optim.Adam``,
  ``loss.backward()`` per window of 5 episodes, each episode one ``rnn(x)`` call from a zero
  carry, so the same 105 sequential steps per update): one network reading B sequences — the
  same arithmetic per step but shared weights (B networks cost a little more: the ratio favours
  PyTorch slightly).

PyTorch is not a dependency; without it the numpy figures are printed and the torch column says
it is missing. Three runs after the per-window weight gradient and the recycled output arrays
(torch 2.13.0 CPU, numba 0.68.1; a shared 2-core machine, load 1-8, this day): compiled/torch LSTM
0.80, 0.94, 0.85 (before: 1.29-1.37), GRU 0.24, 0.22, 0.21, Elman 0.31, 0.31, 0.32; numpy/compiled
LSTM 6.5-7.2, GRU 5.1-6.2, Elman 1.2-1.3 (last run: 15.7, 14.8, 9.3 ms per epoch compiled). One BLAS/torch thread for every contender; each figure is the best of
``--repeats``. Ratios are measured in the same run.

Run:  python bench/bench_lstm.py [--repeats 3]
(with torch:  python3 -m venv /tmp/benchenv && /tmp/benchenv/bin/pip install torch && \
 /tmp/benchenv/bin/pip install -e . && /tmp/benchenv/bin/python bench/bench_lstm.py; numba comes with -e .)
"""
from __future__ import annotations

import argparse
import os
import time

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

from recurnet_sim.families.srn import bptt, tasks  # noqa: E402

H, B, LAG, EPISODES, PER_UPDATE = 32, 8, 20, 50, 5


def _task():
    return tasks.recall_episodes([np.random.default_rng(s) for s in range(B)], lag=LAG, episodes=EPISODES)


def numpy_epoch_seconds(kind: str, repeats: int, kernel: str = "numpy") -> float:
    task = _task()
    cfg = bptt.SRNConfig(kind=kind, n_in=task.n_in, n_hidden=H, n_out=task.n_out, output="softmax",
                         context_init=0.5 if kind == "elman" else 0.0, forget_bias=1.0)
    win = PER_UPDATE * (LAG + 1)
    tc = bptt.TrainConfig(lr=0.01, optimizer="adam", bptt="truncated", truncation=win, update_every=win, clip=1.0)
    p = bptt.init_params(cfg, [np.random.default_rng(100 + s) for s in range(B)])
    m = {k: np.zeros_like(v) for k, v in p.items()}
    mo = bptt.AdamMoments.zeros_like(p)
    bptt.train_epoch(cfg, tc, p, m, task.inputs, task.targets, task.mask, task.reset, moments=mo,
                     kernel=kernel)  # warm-up: the compiled kernel loads (or compiles) here
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        bptt.train_epoch(cfg, tc, p, m, task.inputs, task.targets, task.mask, task.reset, moments=mo, kernel=kernel)
        best = min(best, time.perf_counter() - t0)
    return best


def torch_epoch_seconds(kind: str, repeats: int) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    task = _task()
    L = LAG + 1
    # (B, episodes, L, I): windows of PER_UPDATE episodes; the carry starts at 0 in every episode
    X = torch.tensor(task.inputs.reshape(B, EPISODES, L, -1), dtype=torch.float32)
    y = torch.tensor(task.targets.reshape(B, EPISODES, L, -1)[:, :, -1].argmax(-1))
    rnn = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "elman": torch.nn.RNN}[kind](task.n_in, H, batch_first=True)
    out = torch.nn.Linear(H, task.n_out)
    params = list(rnn.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, lr=0.01)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for e0 in range(0, EPISODES, PER_UPDATE):
            loss = 0.0
            for e in range(e0, e0 + PER_UPDATE):  # episode after episode, the carry reset to 0: 105 steps, batch B
                hs, _ = rnn(X[:, e])
                loss = loss + torch.nn.functional.cross_entropy(out(hs[:, -1]), y[:, e]) / PER_UPDATE
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args(argv)
    try:
        import torch
        tv = torch.__version__
    except ImportError:
        tv = None
    print(f"H = {H}, B = {B}, delayed recall lag {LAG}, {EPISODES} episodes ({EPISODES * (LAG + 1)} steps) per epoch, "
          f"Adam every {PER_UPDATE} episodes; seconds per epoch, best of {a.repeats}")
    print(f"numpy {np.__version__}; torch {tv or 'missing (pip install torch in the bench environment)'}")
    print(f"{'cell':6} {'numpy':>10} {'compiled':>10} {'torch':>10} {'numpy/compiled':>15} {'compiled/torch':>15}"
          f" {'numpy/torch':>12}")
    for kind in ("lstm", "gru", "elman"):
        ours = numpy_epoch_seconds(kind, a.repeats)
        comp = numpy_epoch_seconds(kind, a.repeats, "compiled")
        th = torch_epoch_seconds(kind, a.repeats)
        r_ct = f"{comp / th:15.2f}" if th else f"{'-':>15}"
        r_nt = f"{ours / th:12.2f}" if th else f"{'-':>12}"
        print(f"{kind:6} {ours:10.4f} {comp:10.4f} {(f'{th:10.4f}' if th else 'missing'):>10} {ours / comp:15.1f} "
              f"{r_ct} {r_nt}")
    print("(seconds per epoch; compiled = the numba epoch of recurnet_sim.families.srn.kernels; a ratio "
          "compiled/torch below 1 means recurnet_sim is faster than PyTorch)")


if __name__ == "__main__":
    main()
