"""Outcome labels of the recurrent nets trained by BPTT (:mod:`recurnet_sim.outcome`).

The output units are named after what they encode (the task's ``output_names``: the letter
features of Elman's letter task, the symbols of delayed recall, the bits of the flip-flop), and
each output is decoded into the symbol it stands for: the nearest letter of Elman (1990)'s feature
table, the largest unit of a one-hot (softmax) output, the side of 0.5 of a single sigmoid bit, the
sign of a +-1 target. The last epoch's decoded outputs are compared with the targets: per task phase
for the prediction tasks (whose point is *where* the net can predict: every third XOR bit, the
vowels), and against the task's success accuracy for the tasks with a score (``solved``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...outcome import empty


def decoder(task):
    """(decode(values (..., O)) -> symbol index (...), symbol names) for the task's outputs."""
    from .tasks import LETTER_FEATURES

    if task.name == "letters":
        letters = list(LETTER_FEATURES)
        table = np.array([LETTER_FEATURES[c] for c in letters], dtype=float)   # (6 letters, 6 features)
        return (lambda v: np.argmin(((np.asarray(v)[..., None, :] - table) ** 2).sum(-1), axis=-1)), letters
    D = task.targets
    if D.shape[-1] == 1:
        lo = -1.0 if D.min() < 0 else 0.0
        mid = (lo + 1.0) / 2
        return (lambda v: (np.asarray(v)[..., 0] > mid).astype(int)), [f"{task.output_names[0]} {lo:g}", f"{task.output_names[0]} 1"]
    if task.output in ("softmax",) or np.allclose(D.sum(-1)[task.mask > 0], 1.0):
        return (lambda v: np.argmax(np.asarray(v), axis=-1)), list(task.output_names)
    return None, list(task.output_names)


def srn_outcome(model, b: int) -> dict[str, Any]:
    task = model.task
    names = list(task.output_names)
    if model.mode == "free":
        return empty("free run: outputs fed back, no target to compare with", "free run", output_names=names)
    Y = model.output_trace_[b] if model.output_trace_.shape[1] else None
    if Y is None:
        return empty("not trained or run yet: no outputs to compare with", "none", output_names=names)
    T = Y.shape[0]
    D, M = task.targets[b, :T], task.mask[b, :T] > 0
    dec, symbols = decoder(task)
    out = empty("", "prediction", output_names=names)
    if task.score:
        from .tasks import accuracy
        sub = type(task)(task.name, task.inputs[b:b + 1, :T], D[None], task.mask[b:b + 1, :T].astype(float), None,
                         task.phase[b:b + 1, :T], task.phase_names, task.input_names, task.output_names,
                         score=task.score, tolerance=task.tolerance)
        acc = float(accuracy(sub, Y[None])[0])
        need = float((getattr(model, "analysis", {}) or {}).get("success_accuracy", 0.9))
        solved = acc >= need
        chance = f", chance {task.chance_accuracy:.0%}" if task.chance_accuracy is not None else ""
        out.update(kind="solved" if solved else "not solved", success=solved, accuracy=acc,
                   label=f"{'solved' if solved else 'not solved'}: {acc:.0%} of the last epoch's targets right "
                         f"(needs {need:.0%}{chance})")
    elif dec is not None:
        right = (dec(Y) == dec(D)) & M
        per = {}
        for k, ph in enumerate(task.phase_names):
            sel = M & (task.phase[b, :T] == k)
            per[ph] = float(right[sel].sum() / sel.sum()) if sel.any() else None
        acc = float(right.sum() / max(1, M.sum()))
        shown = ", ".join(f"{ph} {v:.0%}" for ph, v in per.items() if v is not None)
        out.update(accuracy=acc, accuracy_per_phase=per,
                   label=f"predictions right in the last epoch: {shown}" if len(per) > 1 else
                         f"predictions right in the last epoch: {acc:.0%}")
    elif M.any() and np.isin(D[M], (-1.0, 1.0)).all():
        # +-1 targets (the flip-flop's bits): a step is right when every output has the target's sign
        right = (np.sign(Y) == D).all(-1) & M
        per = {}
        for k, ph in enumerate(task.phase_names):
            sel = M & (task.phase[b, :T] == k)
            per[ph] = float(right[sel].sum() / sel.sum()) if sel.any() else None
        acc = float(right.sum() / M.sum())
        shown = ", ".join(f"{ph} {v:.0%}" for ph, v in per.items() if v is not None)
        out.update(accuracy=acc, accuracy_per_phase=per,
                   label=f"steps with every output's sign right in the last epoch: {shown}")
    else:
        err = float(np.abs(Y - D)[M].mean()) if M.any() else None
        out.update(label=f"mean |output - target| in the last epoch: {err:.3g}" if err is not None else
                   "no target steps in the last epoch", mean_abs_error=err)
    if dec is not None and M.any():
        last = int(np.flatnonzero(M)[-1])
        p, e = int(dec(Y[last])), int(dec(D[last]))
        out.update(predicted=symbols[p], expected=symbols[e])
        out["label"] += f"; last step: {symbols[p]} (target {symbols[e]})"
    return out


def summary(model, b: int) -> dict:
    """The family's summary fields of trial b plus ``outcome``."""
    from .model import summary_for
    return {**summary_for(model, b), "outcome": model.outcome(b)}
