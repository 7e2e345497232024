"""What the live viewer draws for a Boltzmann machine (Ackley, Hinton & Sejnowski 1985): the
visible units in the pattern shape (the encoder's two groups V1 and V2 as one row each) and the
hidden units beside them in their own colours, since their code is not a pattern.

The main panel is the scenario's claim: for a small machine without stored patterns (the
sampling scenarios) the histogram of the states the chains visit against the exact Boltzmann
distribution p(s) = exp(-E(s)/T) / Z, with their total-variation distance; for an encoder, once it
has learned, each input pattern's completion through the hidden units (the code they use and how
often V2 comes out right); for another machine with patterns (the RBM, annealing out of a spurious
state) the overlap with each pattern over the ticks.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from ...viewspec import (Block, GraphHints, Histogram, HistogramPanel, LegendItem, OverlapTracePanel, Table, TablePanel,
                         ViewLayout, near_square, unit_grid, value_legend)
from .outcome import bit_string

#: Up to this many units the exact distribution is enumerated (2^12 = 4096 states).
EXACT_MAX_UNITS = 12


def exact_distribution(model, clamp_mask=None, clamp_values=None) -> np.ndarray | None:
    """p(s) = exp(-E(s)/T) / Z over all 2^N states (index = sum_i [s_i = high] 2^i), conditioned
    on the clamped units (:func:`.model.exact_distribution`); None at T = 0 or for more than
    :data:`EXACT_MAX_UNITS` units."""
    from .model import exact_distribution as enumerate_states

    if model.n_units > EXACT_MAX_UNITS or not float(model.temperature) > 0:
        return None
    return enumerate_states(model, clamp_mask=clamp_mask, clamp_values=clamp_values)[1]


class SampleHistogram(HistogramPanel):
    """The states the chains visit (every trial without clamped units pools into one histogram;
    a clamped trial counts alone) against the exact p(s) = exp(-E/T)/Z, filling in tick by tick,
    with the total-variation distance TV = 1/2 sum |p_sampled - p_exact| over every state. The
    counts start again when the temperature or the clamps change (a different distribution)."""

    SHOW = 48  # bars: the most probable states under the exact distribution

    def __init__(self):
        self.counts: np.ndarray | None = None
        self.n_samples = 0
        self.key = None
        self._exact = None

    def _rows(self, model, trial: int) -> np.ndarray:
        cl = model.clamped
        if cl[trial].any():
            return np.array([trial])
        return np.flatnonzero(~cl.any(axis=1))

    def on_tick(self, model) -> None:
        if model.n_units > EXACT_MAX_UNITS:
            return
        trial = 0
        rows = self._rows(model, trial)
        key = (float(model.temperature), model.clamped[trial].tobytes(), model.state[trial][model.clamped[trial]].tobytes(),
               id(model.weights), float(np.abs(model.weights).sum()))
        if key != self.key:
            self.key = key
            self.counts = np.zeros(2 ** model.n_units)
            self.n_samples = 0
            self._exact = exact_distribution(model, model.clamped[trial], model.state[trial])
        if self.sim is not None and int(self.sim.tick) == 0:
            return  # the initial state is not a sample of the chain
        from .model import state_index

        np.add.at(self.counts, state_index(model, model.state[rows]), 1)
        self.n_samples += len(rows)

    def on_reset(self) -> None:
        self.key = None

    def tv_distance(self) -> float | None:
        """TV between the sampled frequencies and the exact distribution (None before samples)."""
        if self._exact is None or not self.n_samples:
            return None
        return float(0.5 * np.abs(self.counts / self.n_samples - self._exact).sum())

    def data(self, model, trial: int) -> Histogram:
        title = "states visited vs exact p(s) = exp(-E(s)/T) / Z"
        if model.n_units > EXACT_MAX_UNITS:
            return Histogram(title, note=f"{model.n_units} units: 2^{model.n_units} states, too many to enumerate")
        if self._exact is None:
            return Histogram(title, note="T = 0: no Boltzmann distribution (deterministic descent); press T")
        p = self._exact
        order = np.argsort(-p, kind="stable")[: self.SHOW]
        freq = self.counts / max(1, self.n_samples)
        N = model.n_units
        labels = tuple("".join("1" if (c >> i) & 1 else "0" for i in range(N)) for c in order)
        tv = self.tv_distance()
        chains = len(self._rows(model, trial))
        lines = [((f"total-variation distance TV = {tv:.3f}" if tv is not None else "TV distance: no samples yet")
                  + f" over {self.n_samples:,} samples ({chains} chain{'s' if chains != 1 else ''}, T = "
                  f"{float(model.temperature):.3g})", "accent")]
        shown = float(p[order].sum())
        lines.append((f"the {len(order)} most probable of {2 ** N} states shown ({shown:.0%} of the probability); "
                      "TV counts them all", "dim"))
        return Histogram(title, labels=labels, values=freq[order], reference=p[order], lines=lines,
                         legend=[("sampled frequency", "energy"), ("exact exp(-E/T)/Z", "text")],
                         xlabel="state (units 0..N-1 as bits), most probable first", ylabel="probability")


class EncoderPanel(TablePanel):
    """The n-h-n encoder's claim (Ackley, Hinton & Sejnowski 1985): with V1 clamped to each input
    pattern e_k, V2 is completed through the h hidden units alone (there are no V1-V2 weights), so
    the hidden units must have invented a code, a different one for each pattern. Once training is
    over the panel anneals :attr:`CHAINS` completions per pattern with the run's own schedule (V2
    and the hidden units free, from random states; a generator of its own, so the run is not
    touched) and tabulates, per pattern, the hidden codes the completions ended in and the share
    whose V2 is exactly the pattern's V2 (as the outcome label judges a
    completion: every free visible unit right); beside it the run's own trial with that cue. The
    table is sampled again only when the weights change."""

    CHAINS = 50  # sampled completions per pattern
    SETTLE = 4  # sweeps at the schedule's final temperature after the annealing

    def __init__(self):
        self._key = None
        self.result: dict | None = None  # per pattern: codes (Counter), v2 (Counter), right, n
        self.samplings = 0  # how often the table was sampled (tests)

    def _temps(self, model) -> list[float]:
        an = getattr(self.sim, "anneal", None)
        total = getattr(an, "total_ticks", None)
        if an is not None and total:
            temps = [float(an.temperature_at(t)) for t in range(int(total))]
            return temps + [float(an.temperature_at(int(total)))] * self.SETTLE
        return [float(model.temperature)] * 20

    def on_tick(self, model) -> None:
        if self.sim is not None and self.sim.training_pending:
            return  # not learned yet: the live training curve is shown
        key = (model.weights.tobytes(), model.biases.tobytes())
        if key == self._key:
            return
        self._key = key
        self.result = self.sample(model)

    def on_reset(self) -> None:
        self._key = None

    def sample(self, model) -> list[dict]:
        """Per pattern k: ``codes`` and ``v2`` (Counters of bit strings over the completions),
        ``right`` (how many showed V2 = the pattern's V2 exactly) and ``n``."""
        from .model import _run_chains

        self.samplings += 1
        n = len(model.visible) // 2
        hid = np.asarray(model.hidden, dtype=int)
        rng = np.random.default_rng(1985)
        temps = self._temps(model)
        out = []
        for k, pat in enumerate(np.asarray(model.patterns, dtype=float)):
            s = model.random_state(rng, self.CHAINS)
            s[:, :n] = pat[:n]
            free = np.ones_like(s, dtype=bool)
            free[:, :n] = False
            _run_chains(model, s, free, temps, rng)
            codes = Counter(bit_string(row) for row in s[:, hid])
            v2 = Counter(bit_string(row) for row in s[:, n:2 * n])
            right = int((s[:, n:2 * n] == pat[n:2 * n]).all(axis=1).sum())
            out.append({"codes": codes, "v2": v2, "right": right, "n": self.CHAINS})
        return out

    def data(self, model, trial: int) -> Table:
        n = len(model.visible) // 2
        nh = len(model.hidden)
        title = f"{n}-{nh}-{n} encoder: V1 -> hidden code -> V2 (no V1-V2 weights)"
        if self.result is None:
            return Table(title, note="not trained yet: the completions are sampled once training is over")
        names = list(model.pattern_names)
        pats = np.asarray(model.patterns, dtype=float)
        target = None if getattr(model, "target", None) is None else np.asarray(model.target)
        sim = self.sim
        rows, bars, tones, top = [], [], [], []
        for k, r in enumerate(self.result):
            code, c_n = r["codes"].most_common(1)[0]
            top.append(code)
            codes = ", ".join(f"{c} {m / r['n']:.0%}" for c, m in r["codes"].most_common(2))
            frac = r["right"] / r["n"]
            ok = frac >= 0.9
            live = ("-", "dim")
            if target is not None and (target == k).any():
                b = int(np.flatnonzero(target == k)[0])
                st = model.state[b]
                done = sim is None or not sim.active[b]
                right = bool((st[n:2 * n] == pats[k, n:2 * n]).all())
                word = ("right" if right else "wrong") if done else "settling"
                live = (f"{bit_string(st[model.hidden])} {bit_string(st[n:2 * n])} {word}",
                        ("good" if right else "warn") if done else "dim")
            rows.append([(f"{names[k]} {bit_string(pats[k, :n])}", "text"), (codes, "accent"),
                         (f"{r['right']}/{r['n']}", "good" if ok else "warn"), live])
            bars.append(frac)
            tones.append("good" if ok else "warn")
        distinct = len(set(top)) == len(top)
        total = sum(r["right"] for r in self.result) / sum(r["n"] for r in self.result)
        code_text = " ".join(f"{names[k]}->{c}" for k, c in enumerate(top))
        if distinct:
            l1 = (f"{len(top)} patterns, {len(set(top))} different codes (h1 h2): {code_text}", "good")
        else:
            shared = [c for c, m in Counter(top).items() if m > 1]
            l1 = (f"codes not all different ({', '.join(shared)} shared): {code_text}", "warn")
        temps = self._temps(model)
        l2 = (f"{total:.0%} of {sum(r['n'] for r in self.result)} sampled completions right "
              f"(T {temps[0]:g} -> {temps[-1]:g}, as the run)", "good" if total >= 0.9 else "warn")
        return Table(title, columns=("V1 clamped", "hidden code",
                                     "V2 right", "this run"),
                     rows=rows, bars=bars, bar_column=2, bar_tones=tones, lines=[l1, l2])


def layout(model) -> ViewLayout:
    """The Boltzmann view: a visible block and, when the machine has hidden units, a hidden block
    with as many rows as the visible one; the claim's main panel (see the module docstring)."""
    d = model.describe()
    nv, N = len(model.visible), model.n_units
    nh = N - nv
    g = d.get("grid_shape")
    shape = tuple(int(x) for x in g) if g else None
    encoder = model.topology == "encoder"
    if shape and shape[0] * shape[1] == nv:
        vshape = shape
    elif encoder and nv % 2 == 0:
        vshape = (2, nv // 2)  # the two visible groups V1 and V2, one row each
    elif nv <= 16:
        vshape = (1, nv)
    else:
        vshape = near_square(nv)
    label = f"visible: V1 (top row), V2 ({nv} units)" if encoder else f"visible ({nv} units)"
    blocks = [Block("visible", label, unit_grid(0, nv, vshape))]
    lo, hi = (float(v) for v in model.unit_values)
    legend = value_legend(lo, hi)
    if nh > 0:
        rows = min(nh, vshape[0])
        hshape = (rows, math.ceil(nh / rows))
        blocks.append(Block("hidden", f"hidden ({nh})", unit_grid(nv, nh, hshape), palette="hidden"))
        legend.append(LegendItem("hidden on/off", ("hidden_on", "hidden_off"), side="right"))
    if encoder and len(model.pattern_names):
        main = EncoderPanel()
    elif len(model.pattern_names):
        main = OverlapTracePanel("overlap m of the visible units with each pattern" if nh else
                                 "overlap m with the stored patterns")
    else:
        main = SampleHistogram()
    return ViewLayout(
        blocks=blocks,
        value_range=(lo, hi),
        legend=legend,
        # the graph view: hidden units in a column on the left, the visible ones on the right
        graph=GraphHints(groups=(("hidden", slice(nv, N)), ("visible", slice(0, nv))), ring=("hidden",)),
        main=main,
    )
