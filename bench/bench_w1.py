"""W1 as a whole process: recurnet_sim against a hand-written numpy script doing the same work.

W1 (issue 13): N = 1000 units, P = 100 random patterns (Hebb), 20 cues with 10 % of their bits
flipped, retrieved synchronously and then asynchronously (fixed order) until every cue settles.
Each side is a fresh Python process (start-up and imports count), timed from the parent:

* ``recurnet-api``   a script calling ``recurnet_sim.scenario.load_scenario`` on a W1 scenario
                      (written below) and running it twice, ``dynamics.schedule`` synchronous and
                      sequential;
* ``recurnet-cli``   the same two runs as ``recurnet run W1.toml --headless --json`` (two processes,
                      so its figure carries two start-ups: it is printed beside, not compared);
* ``numpy``          a hand script: Hebbian W as one float32 GEMM, synchronous sweeps as float32
                      GEMMs, the asynchronous sweep event-driven (jump to the next unit whose field
                      disagrees, flip it, add its column to the fields), the end states checked.

The processes run interleaved, ``--repeat`` times each, and the medians are compared (the machine
may be shared: the ratio of medians taken in the same run is the figure, not the absolute times).

    python bench/bench_w1.py [--repeat 5] [--kernel numpy|compiled]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

W1_TOML = """\
[scenario]
name = "w1"
description = "issue 13's W1: N = 1000, P = 100 random patterns, 20 cues, 10 % flipped"
seed = 1
trials = 20

[network]
type = "hopfield"
size = 1000
learning = "hebbian"

[patterns]
source = "random"
count = 100

[initial]
kind = "pattern"
pattern = "random"
noise = 0.1

[dynamics]
schedule = "synchronous"

[stop]
max_steps = 100
"""

API_SCRIPT = """\
import sys
from recurnet_sim.scenario import load_scenario
path = sys.argv[1]
out = []
for schedule in ("synchronous", "sequential"):
    sim = load_scenario(path, overrides={"dynamics.schedule": schedule})
    res = sim.run()
    out.append((schedule, sim.tick, sum(r.stop_reason == "fixed_point" for r in res)))
print(out)
"""

NUMPY_SCRIPT = """\
import numpy as np
N, P, CUES, NOISE = 1000, 100, 20, 0.1
rng = np.random.default_rng(1)
xi = np.where(rng.random((P, N)) < 0.5, -1, 1).astype(np.float32)
W = xi.T @ xi                      # integer couplings, exact in float32
np.fill_diagonal(W, 0)
targets = rng.integers(P, size=CUES)
cues = xi[targets].copy()
k = round(NOISE * N)
for b in range(CUES):
    cues[b, np.argsort(rng.random(N))[:k]] *= -1

# synchronous: s <- sign(W s), ties keep the unit, until no unit changes
s = cues.copy()
for sweep in range(100):
    h = s @ W
    new = np.where(h > 0, 1, np.where(h < 0, -1, s)).astype(np.float32)
    if np.array_equal(new, s):
        break
    s = new
sync_states = s

# asynchronous, fixed order, event-driven: jump to the next disagreeing unit of the sweep
states = []
for b in range(CUES):
    s = cues[b].copy()
    h = s @ W
    for sweep in range(100):
        changed, pos = 0, 0
        while pos < N:
            bad = np.flatnonzero(((h[pos:] > 0) & (s[pos:] < 0)) | ((h[pos:] < 0) & (s[pos:] > 0)))
            if bad.size == 0:
                break
            i = pos + bad[0]
            s[i] = -s[i]
            h += (2 * s[i]) * W[i]
            changed += 1
            pos = i + 1
        if changed == 0:
            break
    states.append(s)
print(int((np.stack(states) == xi[targets]).all(axis=1).sum()), int((sync_states == xi[targets]).all(axis=1).sum()))
"""


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--kernel", choices=("numpy", "compiled"), help="RECURNET_KERNEL for the recurnet runs")
    args = ap.parse_args(argv)
    env = {**os.environ, "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}
    # An installed package has its bytecode cached; a shell with PYTHONDONTWRITEBYTECODE set would
    # make every child compile each changed module again (~20 ms here), which no user pays.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.kernel:
        env["RECURNET_KERNEL"] = args.kernel
    with tempfile.TemporaryDirectory() as tmp:
        toml = Path(tmp) / "w1.toml"
        toml.write_text(W1_TOML)
        api, hand = Path(tmp) / "w1_api.py", Path(tmp) / "w1_numpy.py"
        api.write_text(API_SCRIPT)
        hand.write_text(NUMPY_SCRIPT)
        # once untimed: warms the OS file cache and the compiled-kernel cache (a first run compiles)
        subprocess.run([sys.executable, str(api), str(toml)], check=True, stdout=subprocess.DEVNULL, env=env, cwd=ROOT)
        cli = [[sys.executable, "-m", "recurnet_sim", "run", str(toml), "--headless", "--json",
                "--set", f"dynamics.schedule={s}"] for s in ("synchronous", "sequential")]
        runs: dict[str, list[float]] = {"recurnet-api": [], "recurnet-cli": [], "numpy": [],
                                        "python -c pass": [], "import numpy": []}
        for _ in range(args.repeat):
            runs["numpy"].append(timed([sys.executable, str(hand)], env))
            runs["recurnet-api"].append(timed([sys.executable, str(api), str(toml)], env))
            runs["recurnet-cli"].append(sum(timed(c, env) for c in cli))
            runs["python -c pass"].append(timed([sys.executable, "-c", "pass"], env))
            runs["import numpy"].append(timed([sys.executable, "-c", "import numpy"], env))
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"W1 whole process (N=1000, P=100, 20 cues, 10% flipped, sync + async), medians of {args.repeat}, "
          f"interleaved; kernel {env.get('RECURNET_KERNEL', 'default')}")
    for k, v in med.items():
        print(f"  {k:15s} {v:6.3f} s")
    print(f"  ratio recurnet-api / numpy script: {med['recurnet-api'] / med['numpy']:.2f}  (goal <= 1)")
    print(f"  ratio recurnet-cli (2 processes) / numpy script: {med['recurnet-cli'] / med['numpy']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
