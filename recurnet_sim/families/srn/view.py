"""What the live viewer draws for a simple recurrent network (Elman 1990, Jordan 1986).

Four layers stacked as in the papers' figures (output on top, hidden, input and context at the
bottom), the recurrent copy into the context drawn as a highlighted link, the output units as bars
with the task's target, and two panels: a strip of recent hidden activations (the last epoch's
sequence while training, the ticks of a run otherwise) and the gradient flow of backpropagation
through time, |dL/dh(t-k)| against the lag k on a log axis (Bengio, Simard & Frasconi 1994;
Pascanu, Mikolov & Bengio 2013), from :mod:`recurnet_sim.analysis.gradflow`.
"""
from __future__ import annotations

import math
from collections import deque

import numpy as np

from ...viewspec import (Block, CurvePanel, Curves, GraphHints, HeatmapPanel, LegendItem, Link, LogPlot, LogPlotPanel,
                         OverlapBars, Scatter, ScatterPanel, UnitBars, ViewLayout, unit_grid, unit_names)

#: the order of the layers, bottom to top in the graph view
LAYERS = ("input", "context", "hidden", "output")


class HiddenStrip(HeatmapPanel):
    """Hidden activations over time: the last epoch's task sequence in train mode, else the
    hidden states of the last :attr:`STRIP` ticks (run and free modes), which this panel keeps
    itself (the viewer calls :meth:`on_tick` after every change)."""

    STRIP = 160  # ticks kept outside training

    def __init__(self, hidden: slice):
        self.hidden = hidden
        self.history: deque = deque(maxlen=self.STRIP)  # (batch, H) per tick

    def on_tick(self, model) -> None:
        if model.mode != "train":
            self.history.append(model.state[:, self.hidden].copy())

    def on_reset(self) -> None:
        self.history.clear()

    def data(self, model, trial: int) -> tuple[np.ndarray, str]:
        if model.mode == "train":
            tr = model.hidden_trace_
            if tr.ndim == 3 and tr.shape[1] > 0:
                return tr[trial], f"hidden h, last epoch ({tr.shape[1]} steps)"
        if self.history:
            return (np.stack([hh[trial] for hh in self.history]),
                    f"hidden h, last {len(self.history)} ticks")
        return np.zeros((0, self.hidden.stop - self.hidden.start)), "hidden activations (none yet)"


class GateStrip(HeatmapPanel):
    """The gated cells' gates over time (LSTM: input, forget, cell input, output; GRU: update,
    reset, candidate), one row per gate unit, gate after gate: the last epoch's sequence while
    training, the last :attr:`HiddenStrip.STRIP` ticks otherwise. Sigmoid gates lie in [0, 1]
    (grey to warm), the tanh candidate in [-1, 1]."""

    def __init__(self, names: tuple[str, ...], n_hidden: int):
        self.names, self.H = names, n_hidden
        self.history: deque = deque(maxlen=HiddenStrip.STRIP)

    def on_tick(self, model) -> None:
        if model.mode != "train":
            self.history.append(np.asarray(model.gates_).copy())

    def on_reset(self) -> None:
        self.history.clear()

    def data(self, model, trial: int) -> tuple[np.ndarray, str]:
        order = " ".join(n[0] for n in self.names)  # initials: the strip is narrow (the docstring names them)
        tr = model.gate_trace_
        if model.mode == "train" and tr.ndim == 4 and tr.shape[1] > 0:
            return tr[trial].reshape(tr.shape[1], -1), f"gates {order} ({self.H} rows each), last epoch"
        if self.history:
            return np.stack([g[trial] for g in self.history]), f"gates {order}, last {len(self.history)} ticks"
        return np.zeros((0, len(self.names) * self.H)), f"gates {order}: none yet"


class StateStrip(HeatmapPanel):
    """The cell's own shown layer over time (an LSTM's cell state c_t, the constant error
    carousel), beside the hidden strip: the last epoch's sequence while training, the last
    :attr:`HiddenStrip.STRIP` ticks otherwise. Unlike h = o tanh(c), c is not squashed: values
    beyond ±1 show at full colour."""

    def __init__(self, name: str, units: slice):
        self.name, self.units = name, units
        self.history: deque = deque(maxlen=HiddenStrip.STRIP)

    def on_tick(self, model) -> None:
        if model.mode != "train":
            self.history.append(model.state[:, self.units].copy())

    def on_reset(self) -> None:
        self.history.clear()

    def data(self, model, trial: int) -> tuple[np.ndarray, str]:
        tr = model.state_trace_
        if model.mode == "train" and tr.ndim == 3 and tr.shape[1] > 0:
            return tr[trial], f"{self.name}, last epoch ({tr.shape[1]} steps)"
        if self.history:
            return np.stack([c[trial] for c in self.history]), f"{self.name}, last {len(self.history)} ticks"
        return np.zeros((0, self.units.stop - self.units.start)), f"{self.name} state (none yet)"


class GradFlowPanel(LogPlotPanel):
    """BPTT gradient flow of the shown trial: |dL/dh(t-k)| / |dL/dh(t)| against k, the spectral
    radius of the recurrent matrix, and whether the norm vanishes, explodes or stays."""

    GRAD_LAG = 30  # largest lag when the scenario has no [analysis] max_lag

    def __init__(self):
        self._key = None
        self._gf: dict | None = None
        self.computations = 0  # how many times the gradient flow was computed (tests)

    def grad_flow(self, model, trial: int) -> dict:
        """The panel's numbers for ``trial``, computed at most once per (trial, weights).

        Uses :mod:`recurnet_sim.analysis.gradflow` as the run summary does: ``grad_norm_vs_lag``
        over the first ``max(K + 1, min(T, 4K))`` steps of the trial's task input (K =
        ``[analysis] max_lag``, else 30, at most T - 1), L = a fixed unit-vector readout of the last
        hidden state, and ``spectral_radius(recurrent_matrix(...))``.

        Returns
        -------
        dict
            ``lags`` (K+1,), ``norm`` (K+1,) normalised to lag 0, ``raw`` (K+1,) the unnormalised
            norms, ``radius`` (spectral radius of the recurrent matrix), ``rate`` (geometric mean
            ratio per step back), ``window`` (steps run), ``error`` (a message when unavailable).
        """
        m = model
        # What the curve depends on: the trial and the weights (they change only with an epoch);
        # in run/free mode ticks pass without any change, so the tick is not part of the key.
        key = (trial, m.epoch_, id(m.params_))
        if key == self._key:
            return self._gf
        self._key = key
        self.computations += 1
        radius = float("nan")
        try:
            from ...analysis import gradflow

            cfg = m.cfg
            p1 = {k: np.asarray(v)[trial: trial + 1] for k, v in m.params_.items()}
            radius = float(gradflow.spectral_radius(gradflow.recurrent_matrix(cfg, p1))[0])
            X = np.asarray(m.task.inputs)[trial: trial + 1]
            T = X.shape[1]
            an = getattr(m, "analysis", None) or {}  # set by build; absent on a hand-made model
            K = min(int(an.get("max_lag") or self.GRAD_LAG), T - 1)
            if K < 1:
                self._gf = {"radius": radius, "error": f"task sequence too short ({T} steps)"}
                return self._gf
            win = max(K + 1, min(T, 4 * K))
            # teacher forcing feeds the targets back, so the forward pass needs them (L = that
            # step's loss); otherwise L is a fixed readout of the last state, as in the summary
            forced = bool(m.describe().get("teacher_forcing", False))
            D = np.asarray(m.task.targets)[trial: trial + 1, :win] if forced else None
            raw = gradflow.grad_norm_vs_lag(cfg, p1, X[:, :win], K, D=D)[0]
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                norm = raw / raw[0] if raw[0] > 0 else np.full_like(raw, np.nan)
                rate = float(np.exp(np.log(max(norm[-1], 1e-300)) / K)) if np.isfinite(norm[-1]) else float("nan")
            self._gf = {"lags": np.arange(K + 1), "norm": norm, "raw": raw, "radius": radius, "rate": rate,
                        "window": win, "error": None}
        except Exception as exc:  # the viewer never raises for an analysis it cannot do
            self._gf = {"radius": radius, "error": f"gradient flow unavailable: {exc}"}
        return self._gf

    def data(self, model, trial: int) -> LogPlot:
        d = self.grad_flow(model, trial)
        elman = model.network_type == "elman"
        gated = bool(model.cfg.cell.gate_names)
        st = "c" if model.cfg.cell.hidden_in_carry is None else "h"
        rho = "ρ(W_hh)" if elman else ("ρ(J at rest)" if gated else "ρ(μI + W_hy W_ch)")
        lines = [(f"{rho} = {d['radius']:.3g}", "accent")]
        rate = d.get("rate", float("nan"))
        if d.get("error") is None and np.isfinite(rate):
            what, tone = (("vanishing", "energy") if rate < 0.98 else ("exploding", "warn") if rate > 1.02
                          else ("stable", "good"))
            lines.append((f"×{rate:.3g}/step back: {what}", tone))
        if getattr(self, "_ref_key", None) != (trial, id(model)):  # untrained: fixed for the run
            self._ref_key, self._ref = (trial, id(model)), _reference_rate(model, trial)
        ref = self._ref
        curves, label = [], None
        if ref is not None:  # the untrained reference cell's curve on the same axes
            lines[0] = (lines[0][0] + f"; untrained {ref[0]}: ×{ref[1]:.3g}/step", "accent")
            g = ref[2]
            curves = [(f"untrained {ref[0]}", np.arange(len(g)), g / g[0], "energy")]
            label = f"{model.network_type}, epoch {int(model.epoch_)}"
        return LogPlot(f"BPTT: |dL/d{st}(t-k)| / |dL/d{st}(t)|", d.get("lags", np.zeros(0)), d.get("norm", np.zeros(0)),
                       xlabel="lag k (steps back)", ylabel="norm (log)", lines=lines, note=d.get("error"),
                       label=label, curves=curves)


class FixedPointPanel(ScatterPanel):
    """The carry's trajectory over the task sequence on its first two principal axes, with the
    fixed points of the dynamics under the held input marked: stable ones filled, saddles and
    other unstable ones hollow (Sussillo & Barak 2013; :mod:`recurnet_sim.analysis.fixedpoints`,
    the search the summary reports). Outside training, the last :attr:`TRAIL` ticks of the run are
    drawn bright when the carry is the hidden layer (then the shown state is the carry)."""

    TRAIL = 60  # ticks of the live trail
    PATH = 600  # steps of the task trajectory drawn
    TRAIN_EVERY = 10  # epochs between searches while training

    def __init__(self, hidden: slice):
        self.hidden = hidden
        self._key = None
        self._fp: dict | None = None
        self.history: deque = deque(maxlen=self.TRAIL)
        self.computations = 0

    def on_tick(self, model) -> None:
        if model.mode != "train":
            self.history.append(model.state[:, self.hidden].copy())

    def on_reset(self) -> None:
        self.history.clear()

    def fixed_points(self, model, trial: int) -> dict:
        """Trajectory, PCA and report of ``trial``, computed once per (trial, weights); while the
        net trains, at most every :attr:`TRAIN_EVERY` epochs (the search costs a few epochs' time),
        the result then naming the epoch it is of."""
        key = (trial, model.epoch_, id(model.params_))
        if key == self._key:
            return self._fp
        k = self._key
        if (model.mode == "train" and k is not None and k[0] == trial and k[2] == key[2]
                and 0 <= model.epoch_ - k[1] < self.TRAIN_EVERY and not self._fp.get("error")):
            return self._fp
        self._key = key
        self.computations += 1
        try:
            from ...analysis import fixedpoints
            from .model import fixed_point_report

            task = model.task
            p1 = {k: np.asarray(v)[trial: trial + 1] for k, v in model.params_.items()}
            S = fixedpoints.visited_states(model.cfg, p1, task.inputs[trial], task.targets[trial],
                                           None if task.reset is None else task.reset[trial])
            mu, axes, ratio = fixedpoints.pca(S)
            rep = fixed_point_report(model, trial)
            self._fp = {"mu": mu, "axes": axes, "ratio": ratio, "path": (S[: self.PATH] - mu) @ axes.T,
                        "report": rep, "error": None, "epoch": model.epoch_}
        except Exception as exc:  # the viewer never raises for an analysis it cannot do
            self._fp = {"error": f"fixed points unavailable: {exc}"}
        return self._fp

    def data(self, model, trial: int) -> Scatter:
        d = self.fixed_points(model, trial)
        cell = model.cfg.cell
        carry_is_h = cell.n_carry == cell.n_hidden and cell.hidden_in_carry is not None
        st = "h" if carry_is_h else "carry"
        if d.get("error"):
            return Scatter(f"fixed points of {st}", note=d["error"])
        rep = d["report"]
        pts = rep.fixed
        kinds = [p.kind for p in pts]
        proj = (np.array([p.state for p in pts]).reshape(-1, cell.n_carry) - d["mu"]) @ d["axes"].T
        trail = np.zeros((0, 2))
        if carry_is_h and self.history and model.mode != "train":
            trail = (np.stack([hh[trial] for hh in self.history]) - d["mu"]) @ d["axes"].T
        n_st, n_sa = kinds.count("stable"), kinds.count("saddle")
        other = len(kinds) - n_st - n_sa
        lines = [(f"{n_st} stable (filled) · {n_sa} saddle{'s' if n_sa != 1 else ''} (hollow)"
                  + (f" · {other} other" if other else ""), "accent")]
        if d["epoch"] != model.epoch_:
            lines.append((f"as of epoch {d['epoch']} (every {self.TRAIN_EVERY} while training)", "dim"))
        elif rep.slow:
            lines.append((f"{len(rep.slow)} slow point{'s' if len(rep.slow) != 1 else ''} (not drawn)", "dim"))
        r1, r2 = (100 * float(v) for v in d["ratio"])
        tones = tuple("good" if k == "stable" else "warn" if k == "saddle" else "dim" for k in kinds)
        return Scatter(f"fixed points of {st}, PCA plane (input {'held' if rep.x.any() else '0'})",
                       path=d["path"], trail=trail, points=proj, filled=tuple(k == "stable" for k in kinds),
                       tones=tones, xlabel=f"PC1 ({r1:.0f}% var)", ylabel=f"PC2 ({r2:.0f}%)", lines=lines,
                       color="energy")


#: tones of the task phases in the sequence-error panel (phase 0, 1, 2, ...)
PHASE_TONES = ("temp", "energy", "good", "accent", "dim")


def target_symbols(task, trial: int) -> list[str]:
    """The symbol each step's target stands for, (T,): a letter of Elman's letter task (decoded
    from its six features), the one-hot symbol of a softmax task, else the target's value."""
    D = np.asarray(task.targets[trial])
    if task.name == "letters":
        from .tasks import LETTER_FEATURES

        table = {tuple(float(x) for x in v): c for c, v in LETTER_FEATURES.items()}
        return [table.get(tuple(float(x) for x in row), "?") for row in D]
    if D.shape[1] > 1:
        names = list(task.output_names)
        return [names[int(k)] if k < len(names) else str(k) for k in D.argmax(axis=1)]
    return [f"{v:g}" for v in D[:, 0]]


class SequenceErrorPanel(CurvePanel):
    """Elman's (1990) figures: the error at each step of the task sequence after the last epoch,
    labelled with the symbol the net had to predict and coloured by the task's phase (temporal
    XOR: which bit of the triple; letters: consonant or vowel). The claim is the thick series:
    each step drawn at the mean error of its position in the period (XOR: the dip on every third
    bit) or of the letter it predicts (letters: low on the predictable vowels), coloured by phase;
    the raw error of each step is drawn faint behind it. Updated each epoch (the net trains as
    ticks)."""

    during_training = True
    WINDOW = 36  # steps of the sequence drawn (the last ones of the epoch)

    def data(self, model, trial: int) -> Curves:
        task = model.task
        title = "error at each step of the sequence (last epoch)"
        L = np.asarray(model.loss_per_step_)
        if L.ndim != 2 or L.shape[1] == 0:
            return Curves(title, note="no epoch yet: the error per step appears after the first epoch")
        T = L.shape[1]
        W_ = min(self.WINDOW, T)
        t0 = T - W_
        ph = np.asarray(task.phase[trial])
        sym = self.symbols(task, trial)
        xs = np.arange(t0, T, dtype=float)
        prof = model.loss_profile()[trial]
        names = list(task.phase_names)
        lines = [("mean error: " + " · ".join(f"{n} {v:.3f}" for n, v in zip(names, prof) if np.isfinite(v))
                  + f"  (epoch {int(model.epoch_)})", "accent")]
        if task.name == "letters":
            per = {}
            for c, v in zip(sym, L[trial]):
                per.setdefault(c, []).append(v)
            lines.append(("per letter: " + "  ".join(f"{c} {np.mean(per[c]):.3f}" for c in "bdgaiu" if c in per),
                          "dim"))
        elif len(names) >= 2 and np.all(np.isfinite(prof)):
            lo = int(np.argmin(prof))
            lines.append((f"lowest at '{names[lo]}': {prof[lo]:.3f} vs {np.mean(np.delete(prof, lo)):.3f} elsewhere",
                          "good" if prof[lo] < 0.8 * np.mean(np.delete(prof, lo)) else "dim"))
        step = max(1, math.ceil(W_ / 40))
        x_labels = [(float(t), sym[t], PHASE_TONES[int(ph[t]) % len(PHASE_TONES)]) for t in range(t0, T, step)]
        # The claim, drawn thick: each step at the mean error of its position in the period
        # (temporal XOR: bit 1, 2, 3 of the triple) or of the letter it predicts (letters), as a
        # short bar per step, one colour per phase; the raw error of each step faint behind it.
        level = self.levels(model, trial)
        curves = [("error at each step", xs, L[trial, t0:], "text")]
        styles = ["faint"]
        many = len(names) > len(PHASE_TONES)
        for k, n in enumerate(names if not many else ["position"]):
            steps = [t for t in range(t0, T) if many or int(ph[t]) == k]
            if not steps or not np.isfinite([level[t] for t in steps]).any():
                continue
            sx = np.array([[t - 0.42, t + 0.42, t + 0.5] for t in steps], float).ravel()
            sy = np.array([[level[t], level[t], np.nan] for t in steps], float).ravel()
            what = "mean of its letter" if task.name == "letters" else "mean at"
            curves.append((f"{what}: {n}" if task.name == "letters" else f"{what} {n}", sx, sy,
                           "accent" if many else PHASE_TONES[k % len(PHASE_TONES)]))
            styles.append("level")
        return Curves(title, curves, xlabel="step of the sequence (label: the target it predicts)", ylabel="error",
                      lines=lines, x_labels=x_labels, styles=tuple(styles))

    def symbols(self, task, trial: int) -> list[str]:
        """:func:`target_symbols` of the task, decoded once per (task, trial): the targets do not
        change during a run, and the panel is drawn every frame."""
        c = getattr(self, "_symbols", None)
        if c is None or c[0] is not task or c[1] != trial:
            c = self._symbols = (task, trial, target_symbols(task, trial))
        return c[2]

    def levels(self, model, trial: int) -> np.ndarray:
        """Per step of the last epoch, (T,): the mean error of that step's position in the period
        (the task's phase), or for the letter task of the letter the step predicts."""
        task = model.task
        L = np.asarray(model.loss_per_step_)[trial]
        if task.name == "letters":
            sym = np.array(self.symbols(task, trial))
            out = np.empty(len(L))
            for c in set(sym.tolist()):
                out[sym == c] = L[sym == c].mean()
            return out
        ph = np.asarray(task.phase[trial])[: len(L)]
        prof = model.loss_profile()[trial]
        return np.asarray(prof, float)[ph]


def lyapunov_exponent(model, trial: int) -> float:
    """The largest Lyapunov exponent of trial ``trial``'s free-running net, as the run summary
    computes it (``gradflow.lyapunov_exponent`` on the task's first input, the output fed back
    where it can be, an analysis generator of its own)."""
    from ...analysis import gradflow

    cfg = model.cfg
    p1 = {k: np.asarray(v)[trial: trial + 1] for k, v in model.params_.items()}
    an = getattr(model, "analysis", None) or {}  # set by build; absent on a hand-made model
    feedable = cfg.cell.hidden_in_carry is not None and cfg.n_in == cfg.n_out
    feed = "output" if (model.free_input == "output" and feedable) else "fixed"
    X = model.task.inputs[trial: trial + 1]
    lam = gradflow.lyapunov_exponent(cfg, p1, X[:, 0], [np.random.default_rng(trial)],
                                     steps=int(an.get("lyapunov_steps", 500)), feed=feed)
    return float(lam[0])


class FreeRunPanel(ScatterPanel):
    """The free-running net's hidden trajectory (Elman 1990's autonomous mode: the output fed
    back as the next input) on the first two principal axes of the steps run so far, the present
    bright, and what it settled into: a fixed point (a filled dot), a cycle of period p (its p
    states hollow), or neither yet; with the largest Lyapunov exponent (Benettin et al. 1980;
    < 0: nearby trajectories converge)."""

    KEEP = 400
    TOL = 1e-6

    def __init__(self, hidden: slice):
        self.hidden = hidden
        self.history: deque = deque(maxlen=self.KEEP)
        self._lam_key, self._lam = None, None

    def on_tick(self, model) -> None:
        if model.mode != "train":  # pretraining epochs are not steps of the free run
            self.history.append(model.state[:, self.hidden].copy())

    def on_reset(self) -> None:
        self.history.clear()

    def lyapunov(self, model, trial: int) -> float | None:
        key = (trial, model.epoch_, id(model.params_))
        if key != self._lam_key:
            self._lam_key = key
            try:
                self._lam = lyapunov_exponent(model, trial)
            except Exception:  # the viewer never raises for an analysis it cannot do
                self._lam = None
        return self._lam

    def settled(self, H: np.ndarray) -> tuple[str, int]:
        """("fixed", 1), ("cycle", p) or ("none", 0) from the last states H (n, H)."""
        if len(H) >= 2 and np.abs(H[-1] - H[-2]).max() < self.TOL:
            return "fixed", 1
        for p in range(2, min(33, len(H))):
            if np.abs(H[-1] - H[-1 - p]).max() < self.TOL and (len(H) < 2 * p + 1 or
                                                               np.abs(H[-1 - p] - H[-1 - 2 * p]).max() < self.TOL):
                return "cycle", p
        return "none", 0

    def data(self, model, trial: int) -> Scatter:
        title = "free run: hidden state h(t), PCA plane of the steps run"
        lam = self.lyapunov(model, trial)
        lam_line = ((f"largest Lyapunov exponent λ = {lam:+.3f}/step: " + ("stable" if lam < 0 else "chaotic")
                     if lam is not None else "Lyapunov exponent unavailable"), "accent" if lam is not None else "dim")
        if len(self.history) < 3:
            return Scatter(title, lines=[lam_line], note="run a few steps (Space) to draw the trajectory")
        H = np.stack([h[trial] for h in self.history])
        mu = H.mean(0)
        _, sv, vt = np.linalg.svd(H - mu, full_matrices=False)
        axes = vt[:2] if vt.shape[0] >= 2 else np.vstack([vt, np.zeros_like(vt)])[:2]
        P = (H - mu) @ axes.T
        var = sv ** 2 / max(float((sv ** 2).sum()), 1e-300)
        kind, p = self.settled(H)
        if kind == "fixed":
            what, pts, tone = f"fixed point reached (|Δh| < {self.TOL:g})", P[-1:], "good"
        elif kind == "cycle":
            what, pts, tone = f"cycle of period {p}: its {p} states hollow", P[-p:], "warn"
        else:
            what, pts, tone = f"no fixed point or cycle (period ≤ 32) in the last {len(H)} steps", P[:0], "dim"
        return Scatter(title, path=P, trail=P[-60:], points=pts, filled=tuple([kind == "fixed"] * len(pts)),
                       tones=tuple([tone] * len(pts)), xlabel=f"PC1 ({100 * var[0]:.0f}% var)",
                       ylabel=f"PC2 ({100 * (var[1] if var.size > 1 else 0):.0f}%)",
                       lines=[lam_line, (what, tone)], color="energy")


class GradientRegimesPanel(LogPlotPanel):
    """Exploding and vanishing gradients side by side (Bengio, Simard & Frasconi 1994; Pascanu,
    Mikolov & Bengio 2013): |dL/dh(t-k)| / |dL/dh(t)| against the lag k for the net as it is, and
    for the same recurrent matrix rescaled to spectral radius 0.5 and 1.5 in a *linear* net (its
    norm goes as ρ^k: vanishing below 1, exploding above; a tanh net's saturated units damp the
    growth, which is why the net itself need not explode), with the largest gradient norm of the
    last epoch and what clipping (rescaling the whole gradient to norm c) does to it."""

    during_training = True
    RADII = (0.5, 1.5)

    def __init__(self):
        self.flow = GradFlowPanel()
        self._key, self._curves = None, None

    def _regime_curves(self, model, trial: int):
        from ...analysis import gradflow

        key = (trial, id(model))  # the rescaled nets use the initial direction of W: fixed per run
        if key == self._key:
            return self._curves
        self._key, out = key, []
        try:
            cfg = model.cfg
            p1 = {k: np.asarray(v)[trial: trial + 1].copy() for k, v in model.params_.items()}
            r0 = float(gradflow.spectral_radius(gradflow.recurrent_matrix(cfg, p1))[0])
            name = next(k for k in ("W_hh", "W_ch") if k in p1)
            X = np.asarray(model.task.inputs)[trial: trial + 1]
            K = min(int((getattr(model, "analysis", None) or {}).get("max_lag") or 30), X.shape[1] - 1)
            win = max(K + 1, min(X.shape[1], 4 * K))
            import copy

            lin = copy.copy(cfg)  # the same net with a linear hidden layer: the norm is ρ^k exactly
            cell = copy.copy(cfg.cell)
            cell.activation = "linear"
            object.__setattr__(lin, "cell", cell)
            for rho in self.RADII:
                q = dict(p1)
                q[name] = p1[name] * (rho / r0 if r0 > 0 else 1.0)
                g = gradflow.grad_norm_vs_lag(lin, q, X[:, :win], K)[0]
                if g[0] > 0:
                    out.append((rho, np.arange(K + 1), g / g[0]))
        except Exception:  # the viewer never raises for an analysis it cannot do
            out = []
        self._curves = out
        return out

    def data(self, model, trial: int) -> LogPlot:
        d = self.flow.data(model, trial)
        reg = self._regime_curves(model, trial)
        curves = [(f"linear, ρ = {rho:g}: " + ("vanishing" if rho < 1 else "exploding"), x, y,
                   "energy" if rho < 1 else "warn") for rho, x, y in reg]
        d.curves = curves + d.curves
        d.label = f"this net ({model.cfg.cell.activation}), epoch {int(model.epoch_)}"
        gmax = float(np.asarray(model.grad_norm_max_)[trial])
        clip = model.train_cfg.clip
        grow = next((y[-1] for rho, _, y in reg if rho > 1), None)
        if grow is not None:
            d.lines[0] = (d.lines[0][0] + f"; linear ρ = 1.5: ×{grow:.2g} at lag {len(reg[-1][2]) - 1}", d.lines[0][1])
        if clip:
            clip_line = (f"clipped to |g| ≤ {clip:g} (direction kept); max |g| {gmax:.3g}"
                         + (" > cap: clipped" if gmax > clip else " (under the cap)"), "good")
        else:
            clip_line = (f"no clipping (max |g| {gmax:.3g}); try --set training.clip=1", "warn")
        d.lines = d.lines[:1] + [clip_line]
        d.title = "gradient flow: " + d.title
        return d


def _reference_rate(model, trial: int):
    """(cell, mean ratio per step back) of the scenario's untrained reference network, or None."""
    from .model import reference_curve

    an = getattr(model, "analysis", None) or {}
    if an.get("reference", "none") == "none":
        return None
    try:
        g = reference_curve(model, trial)
    except Exception:  # the viewer never raises for an analysis it cannot do
        return None
    if g is None or g[0] <= 0:
        return None
    return an["reference"], float(np.exp(np.log(max(g[-1] / g[0], 1e-300)) / (len(g) - 1))), g


def _analysis_panels(model, hidden: slice) -> list:
    """The gradient-flow panel, and the fixed-point panel when the scenario asks for fixed points
    (``[analysis] fixed_points``); a scenario that also turns the gradient flow off
    (``max_lag = 0``) gets the fixed points in its place, so a narrow window keeps room for both
    the strip and the plane."""
    an = getattr(model, "analysis", None) or {}  # set by build; absent on a hand-made model
    if not an.get("fixed_points"):
        return [GradFlowPanel()]
    return ([] if an.get("max_lag") == 0 else [GradFlowPanel()]) + [FixedPointPanel(hidden)]


def _mode(model) -> str:
    """The scenario's dynamics mode, also while pretraining (the model trains first)."""
    return getattr(model, "dynamics_mode", model.mode)  # set by build; absent on a hand-made model


def _main_panel(model, hidden: slice, panels: list):
    """The scenario's claim as the main panel: the free run's trajectory, Lyapunov exponent and
    attractor (``dynamics.mode = "free"``); the fixed points (``[analysis] fixed_points``); the
    gradient flow against an untrained reference (the gated cells, ``[analysis] reference``);
    the error by position in the sequence (tasks with phases: temporal XOR, letters, sequences);
    else (one-phase tasks such as delayed recall on an Elman net) the gradient-flow regimes."""
    an = getattr(model, "analysis", None) or {}  # set by build; absent on a hand-made model
    if _mode(model) == "free":
        return FreeRunPanel(hidden)
    if an.get("fixed_points"):
        return next(p for p in panels if isinstance(p, FixedPointPanel))
    if model.cfg.cell.gate_names or an.get("reference", "none") != "none":
        return next((p for p in panels if isinstance(p, GradFlowPanel)), GradFlowPanel())
    if len(model.task.phase_names) > 1:
        return SequenceErrorPanel()
    return GradientRegimesPanel()


def layout(model) -> ViewLayout:
    """The Elman / Jordan view (see the module docstring)."""
    L = model.layers

    def blk(name: str) -> Block:
        sl = L[name]
        n = sl.stop - sl.start
        shape = (1, n) if n <= 24 else (math.ceil(n / 24), 24)
        return Block(name, f"{name} ({n})", unit_grid(sl.start, n, shape))

    cell = model.cfg.cell
    extra = [n for n in L if n not in LAYERS]  # the cell's own shown layer (an LSTM's cell state)
    if model.network_type == "elman" or cell.gate_names:
        copy = Link("hidden", "context", "copy (w = 1)", highlight=True)
    else:
        mu = model.describe().get("mu")
        copy = Link("output", "context", "y + mu c" if mu is None else f"y + {mu:g} c", highlight=True)
    out = L["output"]
    if model.patterns is None or len(model.pattern_names) == 0:
        what = "output units (fed back: no target)" if _mode(model) == "free" else "output units (green tick = target)"
        n_out = out.stop - out.start
        names = tuple(model.output_names())  # what each output unit encodes (a letter feature, a symbol)
        bars = UnitBars(out, names if len(names) == n_out else unit_names("y", n_out), what)
    else:
        bars = OverlapBars()
    links = [Link("input", "hidden"), Link("context", "hidden"), Link("hidden", "output"), copy]
    # the cell state's copy shares the hidden copy's route into the context: one label for both
    links += [Link(n, "context", "", highlight=True) for n in extra]
    gates = [GateStrip(cell.gate_names, cell.n_hidden)] if cell.gate_names else []
    panels = [HiddenStrip(L["hidden"])] + [StateStrip(n, L[n]) for n in extra] + gates \
        + _analysis_panels(model, L["hidden"])
    main = _main_panel(model, L["hidden"], panels)
    # the claim is drawn once, big (the regimes panel includes the net's own gradient flow)
    drop = GradFlowPanel if isinstance(main, GradientRegimesPanel) else type(main)
    panels = [p for p in panels if not isinstance(p, drop)]
    return ViewLayout(
        blocks=[blk("output"), blk("hidden")] + [blk(n) for n in extra] + [blk("input"), blk("context")],
        arrangement="layers",
        rows=(("output",), ("hidden",) + tuple(extra), ("input", "context")),
        value_range=(-1.0, 1.0),  # activations: negative blue, 0 grey, positive warm
        legend=[LegendItem("-1", ("neg",)), LegendItem("0", ("zero",)), LegendItem("+1", ("pos",))],
        links=links,
        bars=bars,
        panels=panels,
        main=main,
        # free running has no target: its "loss" is 0 at every step and means nothing
        energy_plot=_mode(model) != "free",
        graph=GraphHints(groups=tuple((n, L[n]) for n in LAYERS + tuple(extra)), orientation="rows", label_groups=True,
                         ring=("hidden",)),
    )
