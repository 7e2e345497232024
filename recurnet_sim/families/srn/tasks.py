"""Sequence tasks for the simple recurrent networks (Elman, Jordan).

Every generator takes ``rngs``, a list of ``numpy.random.Generator`` (one per trial), and builds
trial b's sequence from ``rngs[b]`` only, so a batch equals the same single runs. Deterministic
tasks still take ``rngs`` for the batch size. All return a :class:`Task`.

Sequences can also be read from plain text files (``assets/sequences/*.txt``) with
:func:`load_sequence`: one symbol per character, whitespace ignored, lines starting with ``#``
are comments.
"""
from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...errors import TraceFileError

#: Elman (1990), Table 2: each letter as 6 binary features
#: (consonant, vowel, interrupted, high, back, voiced).
LETTER_FEATURES = {
    "b": (1, 0, 1, 0, 0, 1),
    "d": (1, 0, 1, 1, 0, 1),
    "g": (1, 0, 1, 0, 1, 1),
    "a": (0, 1, 0, 0, 1, 1),
    "i": (0, 1, 0, 1, 0, 1),
    "u": (0, 1, 0, 1, 1, 1),
}
LETTER_FEATURE_NAMES = ("consonant", "vowel", "interrupted", "high", "back", "voiced")
#: Elman's lexicon: each consonant is always followed by its own vowel run.
LETTER_WORDS = {"b": "ba", "d": "dii", "g": "guuu"}
REBER_SYMBOLS = "BTSXPVE"

# Reber (1967) grammar: state -> [(symbol, next state)], -1 = end of the inner string.
_REBER = {
    0: [("T", 1), ("P", 2)],
    1: [("S", 1), ("X", 3)],
    2: [("T", 2), ("V", 4)],
    3: [("X", 2), ("S", 5)],
    4: [("P", 3), ("V", 5)],
}


@dataclass
class Task:
    """A supervised sequence for a batch of trials.

    Attributes
    ----------
    name : str
    inputs : ndarray, shape (B, T, I)
    targets : ndarray, shape (B, T, O)
    mask : ndarray, shape (B, T)
        Loss weight per step (0 where there is no target, e.g. before the lag of delayed recall).
    reset : ndarray of bool, shape (B, T) or None
        Episode starts: the context is reset to its initial value before these steps.
    phase : ndarray of int, shape (B, T)
        A label per step for error profiles (index into ``phase_names``), e.g. the position of
        the *target* bit within its triple for temporal XOR.
    phase_names : tuple of str
    input_names, output_names : tuple of str
    output : str
        Suggested output layer ("sigmoid", "softmax").
    loss : str or None
        Suggested loss (None = the one matching ``output``).
    feedback : bool
        Whether outputs mean the same as inputs (next-symbol prediction), so free-running can feed
        them back.
    score : str
        How a step's output is scored right (:func:`accuracy`): "argmax" (the largest output is
        the target's), "sign" (a sigmoid output on the target's side of 0.5), "abs_error" (within
        ``tolerance`` of a real target), or "" (the task has no score).
    tolerance : float
        For "abs_error" (Hochreiter & Schmidhuber 1997, adding problem: 0.04).
    chance_accuracy, chance_loss : float or None
        What random guessing reaches (the best constant guess), beside the learned score.
    test : Task or None
        Held-out episodes of the same task (drawn from the same generators after these), on which
        the summary scores the trained net: the training episodes repeat every epoch.
    """

    name: str
    inputs: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    reset: np.ndarray | None
    phase: np.ndarray
    phase_names: tuple
    input_names: tuple
    output_names: tuple
    output: str = "sigmoid"
    loss: str | None = None
    feedback: bool = True
    score: str = ""
    tolerance: float = 0.0
    chance_accuracy: float | None = None
    chance_loss: float | None = None
    test: "Task | None" = None

    @property
    def n_in(self) -> int:
        return self.inputs.shape[2]

    @property
    def n_out(self) -> int:
        return self.targets.shape[2]

    @property
    def length(self) -> int:
        return self.inputs.shape[1]


def _prediction_task(name, seqs, phases, phase_names, symbols, output, loss=None, reset=None) -> Task:
    """Next-item prediction: input item t, target item t+1. ``seqs`` (B, T+1, n) float."""
    seqs = np.asarray(seqs, dtype=float)
    B, T1, _ = seqs.shape
    T = T1 - 1
    return Task(
        name=name,
        inputs=seqs[:, :-1].copy(),
        targets=seqs[:, 1:].copy(),
        mask=np.ones((B, T)),
        reset=None if reset is None else np.asarray(reset[:, :T], bool),
        phase=np.asarray(phases, int)[:, 1:].copy() if np.ndim(phases) == 2 else np.broadcast_to(phases[1:], (B, T)).copy(),
        phase_names=tuple(phase_names),
        input_names=tuple(symbols),
        output_names=tuple(symbols),
        output=output,
        loss=loss,
        feedback=True,
    )


def temporal_xor(rngs: Sequence[np.random.Generator], length: int = 3000) -> Task:
    """Temporal XOR (Elman 1990, sec. "Exclusive-OR"): bit pairs followed by their XOR.

    The bit stream is a concatenation of triples (b1, b2, b1 XOR b2) with b1, b2 random. Input is
    bit t, target bit t+1. Only every third target (the XOR bit) is predictable.

    Parameters
    ----------
    length : int
        Number of input steps T (Elman used 3000).

    Returns
    -------
    Task
        ``inputs``/``targets`` (B, T, 1); ``phase`` = position of the target bit in its triple
        (0, 1 random; 2 = the XOR bit).
    """
    n_triples = (length + 1) // 3 + 1
    seqs = []
    for rng in rngs:
        b = rng.integers(0, 2, size=(n_triples, 2))
        bits = np.column_stack([b, b[:, 0] ^ b[:, 1]]).reshape(-1)[: length + 1]
        seqs.append(bits[:, None])
    phase = np.arange(length + 1) % 3
    return _prediction_task(
        "temporal_xor", np.stack(seqs), phase, ("random 1", "random 2", "xor"), ("bit",), "sigmoid", "squared_error"
    )


def letter_string(rng: np.random.Generator, n_consonants: int) -> str:
    """Elman's letter string: random consonants b, d, g each replaced by ba, dii, guuu."""
    cons = rng.choice(np.array(list("bdg")), size=n_consonants)
    return "".join(LETTER_WORDS[c] for c in cons)


def letters(
    rngs: Sequence[np.random.Generator],
    n_consonants: int = 1000,
    text: str | None = None,
    loss: str | None = "squared_error",
) -> Task:
    """Elman's (1990) letter sequence, next-letter prediction with 6 feature bits per letter.

    Parameters
    ----------
    n_consonants : int
        Random consonants per trial (each expands to 2-4 letters). Ignored when ``text`` is given.
    text : str, optional
        A fixed letter string (e.g. from ``assets/sequences/letters.txt``), used for every trial.
    loss : str, optional
        Elman trained with squared error; cross-entropy also works.

    Returns
    -------
    Task
        ``inputs``/``targets`` (B, T, 6); ``phase`` 0 = the target is a consonant (unpredictable
        which), 1 = the target is a vowel (predictable from the consonant).
    """
    strings = []
    for rng in rngs:
        s = text if text is not None else letter_string(rng, n_consonants)
        bad = sorted(set(s) - set(LETTER_FEATURES))
        if bad:
            raise ValueError(f"letter sequence has symbols outside b, d, g, a, i, u: {''.join(bad)!r}")
        strings.append(s)
    # Every consonant brings at least one vowel, so 2 * n_consonants letters always exist: cutting
    # every trial there gives a length that does not depend on the other trials of the batch (a
    # batch then equals single runs), unlike the shortest string of the batch.
    T1 = min(len(s) for s in strings) if text is not None else 2 * n_consonants
    if T1 < 2:
        raise ValueError("letter sequence is too short (needs 2 letters or more)")
    feats = np.array([[LETTER_FEATURES[c] for c in s[:T1]] for s in strings], dtype=float)
    phase = np.array([[0 if c in "bdg" else 1 for c in s[:T1]] for s in strings])
    return _prediction_task(
        "letters", feats, phase, ("consonant", "vowel"), LETTER_FEATURE_NAMES, "sigmoid", loss
    )


def reber_string(rng: np.random.Generator, embedded: bool = True) -> str:
    """One string of the Reber grammar (Reber 1967), or of the embedded grammar
    (B, T|P, Reber string, the same T|P, E) used by Cleeremans, Servan-Schreiber & McClelland 1989."""
    out = ["B"]
    state = 0
    while state != 5:
        sym, state = _REBER[state][int(rng.integers(0, 2))]
        out.append(sym)
    out.append("E")
    inner = "".join(out)
    if not embedded:
        return inner
    branch = "T" if rng.integers(0, 2) == 0 else "P"
    return "B" + branch + inner + branch + "E"


def reber_legal_next(string: str, embedded: bool = True) -> np.ndarray:
    """Multi-hot of the symbols the grammar allows after each prefix, shape (len(string), 7)."""
    out = np.zeros((len(string), len(REBER_SYMBOLS)))
    idx = {c: i for i, c in enumerate(REBER_SYMBOLS)}
    off = 2 if embedded else 0
    inner = string[off: len(string) - off] if embedded else string
    # inner Reber string
    legal = []
    state = None
    for k, c in enumerate(inner):
        if k == 0:
            state = 0
            legal.append("TP")
            continue
        if state == 5:
            legal.append("")
            continue
        nxt = dict(_REBER[state])[c]
        state = nxt
        legal.append("E" if state == 5 else "".join(s for s, _ in _REBER[state]))
    if embedded:
        branch = string[1]
        legal = ["TP", "B"] + legal[:-1] + [branch, "E", ""]
    for k, allowed in enumerate(legal[: len(string)]):
        for c in allowed:
            out[k, idx[c]] = 1.0
    return out


def reber(rngs: Sequence[np.random.Generator], length: int = 2000, embedded: bool = True) -> Task:
    """Embedded Reber grammar, next-symbol prediction (Cleeremans et al. 1989).

    Strings are concatenated until T+1 symbols; the context is reset at each string's 'B'.
    Symbols are one-hot over B, T, S, X, P, V, E; the output is a softmax.

    Returns
    -------
    Task
        ``phase`` 0 = the next symbol is forced by the grammar (one legal choice), 1 = it is a
        free choice between two, 2 = it is the long-range branch symbol (T/P after the inner E),
        which needs memory of the second symbol.
    """
    seqs, resets, phases = [], [], []
    n = len(REBER_SYMBOLS)
    idx = {c: i for i, c in enumerate(REBER_SYMBOLS)}
    for rng in rngs:
        syms, rs, ph = [], [], []
        while len(syms) < length + 1:
            s = reber_string(rng, embedded)
            legal = reber_legal_next(s, embedded)
            for k, c in enumerate(s):
                syms.append(idx[c])
                rs.append(k == 0)
                # label of the *prediction made at* this symbol is attached to the next step
                ph.append(None)
            # phase of target at position k+1 = how many choices legal[k] had
            base = len(syms) - len(s)
            for k in range(len(s)):
                nlegal = legal[k - 1].sum() if k > 0 else 1
                lab = 0 if nlegal <= 1 else 1
                if embedded and k == len(s) - 2:
                    lab = 2
                ph[base + k] = lab
        syms, rs, ph = syms[: length + 1], rs[: length + 1], ph[: length + 1]
        seqs.append(np.eye(n)[syms])
        resets.append(rs)
        phases.append(ph)
    task = _prediction_task(
        "reber" if embedded else "reber_simple",
        np.stack(seqs),
        np.array(phases),
        ("forced", "choice", "long-range"),
        tuple(REBER_SYMBOLS),
        "softmax",
        reset=np.array(resets),
    )
    return task


def delayed_recall(
    rngs: Sequence[np.random.Generator], length: int = 500, lag: int = 5, n_symbols: int = 4
) -> Task:
    """Delayed recall: output at step t the symbol that was input at step t - lag.

    Probes long-range memory: the error signal must cross ``lag`` steps, which vanishing gradients
    make hard (Bengio, Simard & Frasconi 1994). The first ``lag`` steps carry no target (mask 0).

    Returns
    -------
    Task
        ``inputs``/``targets`` (B, T, n_symbols), softmax output. ``phase`` is 0 everywhere.
    """
    if lag < 1 or lag >= length:
        raise ValueError(f"lag must be in [1, length), got {lag}")
    X, D, M = [], [], []
    for rng in rngs:
        s = rng.integers(0, n_symbols, size=length)
        x = np.eye(n_symbols)[s]
        d = np.zeros_like(x)
        d[lag:] = x[:-lag]
        m = np.ones(length)
        m[:lag] = 0.0
        X.append(x)
        D.append(d)
        M.append(m)
    B = len(X)
    names = tuple(f"s{k}" for k in range(n_symbols))
    return Task(
        name="delayed_recall",
        inputs=np.stack(X),
        targets=np.stack(D),
        mask=np.stack(M),
        reset=None,
        phase=np.zeros((B, length), int),
        phase_names=("recall",),
        input_names=names,
        output_names=names,
        output="softmax",
        feedback=False,
    )


def sequence_production(
    rngs: Sequence[np.random.Generator],
    sequences: Sequence[str] = ("ABAC",),
    repeats: int = 1,
    symbols: str | None = None,
) -> Task:
    """Jordan (1986) sequence production: from a constant plan vector, emit a sequence.

    Each sequence gets its own plan (one-hot over the sequences), held as the input at every step
    of its production; the target at step k is symbol k (one-hot). The context (Jordan's state
    units) is reset at the start of each production. A sequence with a repeated element such as
    ``ABAC`` needs mu > 0: with mu = 0 the state after the first and after the second ``A`` is
    the same, yet the next outputs differ (B, then C).

    Parameters
    ----------
    sequences : sequence of str
        One symbol per character.
    repeats : int
        Productions of each sequence per epoch.

    Returns
    -------
    Task
        ``inputs`` (B, T, n_plans) — the plan units; ``targets`` (B, T, n_symbols);
        ``phase`` = position within the sequence.
    """
    if not sequences or any(len(s) == 0 for s in sequences):
        raise ValueError("sequence_production needs non-empty sequences")
    alphabet = symbols or "".join(sorted(set("".join(sequences))))
    idx = {c: i for i, c in enumerate(alphabet)}
    X, D, R, P = [], [], [], []
    n_plan = len(sequences)
    for _ in range(repeats):
        for j, s in enumerate(sequences):
            for k, c in enumerate(s):
                X.append(np.eye(n_plan)[j])
                D.append(np.eye(len(alphabet))[idx[c]])
                R.append(k == 0)
                P.append(k)
    B = len(rngs)
    T = len(X)
    maxlen = max(len(s) for s in sequences)
    rep = lambda a: np.broadcast_to(np.asarray(a), (B,) + np.asarray(a).shape).copy()
    return Task(
        name="sequence",
        inputs=rep(np.array(X, float)),
        targets=rep(np.array(D, float)),
        mask=np.ones((B, T)),
        reset=rep(np.array(R, bool)),
        phase=rep(np.array(P, int)),
        phase_names=tuple(f"position {k + 1}" for k in range(maxlen)),
        input_names=tuple(f"plan {j + 1}" for j in range(n_plan)),
        output_names=tuple(alphabet),
        output="softmax",
        feedback=False,
    )


def text_prediction(rngs: Sequence[np.random.Generator], text: str, symbols: str | None = None) -> Task:
    """Next-symbol prediction on a fixed text (one-hot symbols, softmax), the same for all trials.

    ``phase`` is the index of the target symbol in the alphabet (error per symbol)."""
    alphabet = symbols or "".join(sorted(set(text)))
    if len(text) < 2:
        raise ValueError("text is too short (needs 2 symbols or more)")
    bad = sorted(set(text) - set(alphabet))
    if bad:
        raise ValueError(f"text has symbols outside the alphabet: {''.join(bad)!r}")
    idx = {c: i for i, c in enumerate(alphabet)}
    ids = np.array([idx[c] for c in text])
    B = len(rngs)
    seq = np.broadcast_to(np.eye(len(alphabet))[ids], (B, len(ids), len(alphabet)))
    return _prediction_task("text", seq, np.broadcast_to(ids, (B, len(ids))), tuple(alphabet), tuple(alphabet), "softmax")


def load_sequence(path: str | os.PathLike) -> str:
    """Read a symbol sequence from a plain text file.

    One symbol per character; whitespace is ignored; lines whose first non-blank character is
    ``#`` are comments.

    Raises
    ------
    TraceFileError
        If the file cannot be read, is not text, or holds no symbols.
    """
    raw = _read_text(path)
    out = []
    for line in raw.splitlines():
        if line.lstrip().startswith("#"):
            continue
        out.append("".join(line.split()))
    seq = "".join(out)
    if not seq:
        raise TraceFileError(f"{path}: sequence file holds no symbols")
    return seq


def _read_text(path) -> str:
    """A task file's text through the one input reader (a FIFO, a device or a file over 16 MB is
    refused, never read for ever)."""
    from ...errors import InputError
    from ...reader import read_input

    path = pathlib.Path(path)
    try:
        return read_input(path, max_bytes=16 * 2**20).decode("utf-8")
    except InputError as e:
        if e.problem == "no such file":
            raise TraceFileError(f"{e.message.rsplit(': ', 1)[0]}: sequence file not found") from None
        raise TraceFileError(f"{e.message} (a text sequence file expected)") from None
    except UnicodeDecodeError as e:
        raise TraceFileError(f"{path}: not a readable text sequence file: {e}") from None


def load_sequences(path: str | os.PathLike) -> list[str]:
    """Read several sequences, one per non-comment line (whitespace inside a line ignored)."""
    path = pathlib.Path(path)
    text = load_sequence(path)  # validates the file
    del text
    raw = _read_text(path)
    out = ["".join(line.split()) for line in raw.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return out


def flip_flop(rngs: Sequence[np.random.Generator], length: int = 1000, n_bits: int = 3,
              pulse_prob: float = 0.05) -> Task:
    """The n-bit flip-flop (Sussillo & Barak 2013, "Opening the black box", sec. 3.1).

    Each of the ``n_bits`` input channels is 0 except for sparse pulses of +1 or -1; output k must
    hold the sign of the last pulse on channel k, whatever the other channels do. A network that
    solves it needs 2^n stable states (the corners of the output cube), so with the input at 0 a
    trained net has 2^n stable fixed points, with saddles between them
    (:mod:`recurnet_sim.analysis.fixedpoints`).

    Every channel gets a pulse of random sign at step 0, so that every target is defined from the
    first step (the loss needs no mask); after that, each channel pulses at each step with
    probability ``pulse_prob``, its sign drawn at random.

    Parameters
    ----------
    length : int
        Time steps T.
    n_bits : int
        Channels (3 in the paper: 8 memories).
    pulse_prob : float
        Probability of a pulse per channel and step.

    Returns
    -------
    Task
        ``inputs`` (B, T, n_bits) in {-1, 0, +1}; ``targets`` (B, T, n_bits) in {-1, +1} (linear
        output, squared error, as in the paper); ``phase`` 1 where some channel pulses, else 0.
    """
    if not 0 < pulse_prob <= 1:
        raise ValueError(f"pulse_prob must be in (0, 1], got {pulse_prob}")
    X, D = [], []
    for rng in rngs:
        pulse = rng.random((length, n_bits)) < pulse_prob
        pulse[0] = True
        sign = np.where(rng.random((length, n_bits)) < 0.5, -1.0, 1.0)
        x = np.where(pulse, sign, 0.0)
        # the last pulse at or before t: forward-fill the pulse signs along time
        last = np.where(pulse, np.arange(length)[:, None], 0)
        np.maximum.accumulate(last, axis=0, out=last)
        X.append(x)
        D.append(np.take_along_axis(sign, last, axis=0))
    X, D = np.stack(X), np.stack(D)
    names = tuple(f"bit {k + 1}" for k in range(n_bits))
    return Task(
        name="flip_flop",
        inputs=X,
        targets=D,
        mask=np.ones(X.shape[:2]),
        reset=None,
        phase=(X != 0).any(axis=2).astype(int),
        phase_names=("hold", "pulse"),
        input_names=names,
        output_names=names,
        output="linear",
        loss="squared_error",
        feedback=False,
    )


# ======================================================================================
# Long time lags in episodes: latch, delayed recall, adding (each with its chance level)
# ======================================================================================
def _episodes(rngs, name, lag, n_episodes, draw, n_in, n_out, output, loss, score, chance_acc, chance_loss,
              input_names, output_names, tolerance=0.0) -> Task:
    """Concatenated episodes of ``lag + 1`` steps, the carry reset at each episode's first step and
    the only target at its last step (step ``lag``: the information is ``lag`` steps back).
    ``draw(rng) -> (x (lag+1, n_in), d (n_out,))`` makes one episode. Trial b draws its training
    episodes, then as many held-out ones (``test``), from ``rngs[b]`` alone."""
    if lag < 1:
        raise ValueError(f"lag must be >= 1, got {lag}")
    if n_episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {n_episodes}")
    L = lag + 1

    def make(rng):
        X = np.zeros((n_episodes * L, n_in))
        D = np.zeros((n_episodes * L, n_out))
        M = np.zeros(n_episodes * L)
        for e in range(n_episodes):
            x, d = draw(rng)
            X[e * L:(e + 1) * L] = x
            D[(e + 1) * L - 1] = d
            M[(e + 1) * L - 1] = 1.0
        return X, D, M

    def task(sets):
        X, D, M = (np.stack(a) for a in zip(*sets))
        B, T = M.shape
        reset = np.zeros((B, T), bool)
        reset[:, ::L] = True
        return Task(name=name, inputs=X, targets=D, mask=M, reset=reset, phase=np.zeros((B, T), int),
                    phase_names=("recall",), input_names=tuple(input_names), output_names=tuple(output_names),
                    output=output, loss=loss, feedback=False, score=score, tolerance=tolerance,
                    chance_accuracy=chance_acc, chance_loss=chance_loss)

    train_sets, test_sets = [], []
    for rng in rngs:
        train_sets.append(make(rng))
        test_sets.append(make(rng))
    out = task(train_sets)
    out.test = task(test_sets)
    return out


def latch(rngs: Sequence[np.random.Generator], lag: int = 20, episodes: int = 50, noise: float = 0.2) -> Task:
    """Information latching (Bengio, Simard & Frasconi 1994, "Learning long-term dependencies with
    gradient descent is difficult"): the class of an episode is given at its first step only
    (input +1 or -1, plus noise); the ``lag`` steps after it are Gaussian noise of std ``noise``;
    the net must output the class at the last step (sigmoid, cross-entropy). Keeping one bit
    across the noise is what their analysis shows a gradient-trained tanh net fails to learn as
    the lag grows. Chance: accuracy 0.5, loss ln 2.
    """
    def draw(rng):
        cls = int(rng.integers(0, 2))
        x = noise * rng.standard_normal((lag + 1, 1))
        x[0, 0] += 1.0 if cls else -1.0
        return x, np.array([float(cls)])

    return _episodes(rngs, "latch", lag, episodes, draw, 1, 1, "sigmoid", None, "sign", 0.5, float(np.log(2)),
                     ("x",), ("class",))


def recall_episodes(rngs: Sequence[np.random.Generator], lag: int = 20, episodes: int = 50,
                    n_symbols: int = 4, distractors: bool = True) -> Task:
    """Delayed recall in episodes (Hochreiter & Schmidhuber 1997, experiment 2: a sequence starts
    with a symbol that must be produced after p - 1 distractors): step 0 shows a cue, one of
    ``n_symbols`` (one-hot); steps 1 .. lag-1 show random distractors on ``n_symbols`` other units;
    step ``lag`` lights the recall unit and the target is the cue (softmax). Chance: accuracy
    1/n_symbols, loss ln n_symbols. ``distractors=False`` leaves the steps between silent (the
    noise-free form: only the memory is tested, not the ignoring of distractors). ``n_symbols=2``
    is their two-class form (the sequence starts with x or y; 2b/2c: random distractors between,
    here from 2 symbols, not p - 1; 2c's end marker is the recall unit).

    Inputs: ``n_symbols`` cue units, ``n_symbols`` distractor units, 1 recall unit.
    """
    n = n_symbols

    def draw(rng):
        x = np.zeros((lag + 1, 2 * n + 1))
        cue = int(rng.integers(0, n))
        x[0, cue] = 1.0
        if lag > 1 and distractors:
            x[np.arange(1, lag), n + rng.integers(0, n, size=lag - 1)] = 1.0
        x[lag, 2 * n] = 1.0
        return x, np.eye(n)[cue]

    names = tuple(f"s{k}" for k in range(n))
    return _episodes(rngs, "delayed_recall", lag, episodes, draw, 2 * n + 1, n, "softmax", None, "argmax", 1.0 / n,
                     float(np.log(n)), names + tuple(f"distractor {k}" for k in range(n)) + ("recall",), names)


def adding(rngs: Sequence[np.random.Generator], lag: int = 20, episodes: int = 50) -> Task:
    """The adding problem (Hochreiter & Schmidhuber 1997, experiment 4): each step carries a value
    uniform in [-1, 1] and a marker; two steps in the first half of the episode are marked; the
    target at the last step is ``0.5 + (X1 + X2) / 4`` in [0, 1] (linear output, squared error).
    A step counts right when the absolute error is below 0.04, their criterion.

    Chance (the best constant guess, 0.5): squared-error loss ``0.5 Var = 1/48``, accuracy
    ``P(|X1 + X2| < 0.16) = 0.16 - 0.16^2 / 4`` (the sum of two uniforms is triangular on [-2, 2]).
    """
    half = max(2, (lag + 1) // 2)

    def draw(rng):
        x = np.zeros((lag + 1, 2))
        x[:, 0] = rng.uniform(-1.0, 1.0, lag + 1)
        marks = rng.choice(half, size=2, replace=False)
        x[marks, 1] = 1.0
        return x, np.array([0.5 + x[marks, 0].sum() / 4.0])

    a = 0.16
    return _episodes(rngs, "adding", lag, episodes, draw, 2, 1, "linear", "squared_error", "abs_error",
                     a - a * a / 4, 1.0 / 48, ("value", "marker"), ("sum",), tolerance=0.04)


def accuracy(task: Task, outputs: np.ndarray) -> np.ndarray | None:
    """Fraction of the target steps (mask > 0) of ``task`` that ``outputs`` (B, T, O) score right
    by the task's ``score``, shape (B,); None when the task has no score."""
    D, M = task.targets, task.mask
    if task.score == "argmax":
        right = np.argmax(outputs, -1) == np.argmax(D, -1)
    elif task.score == "sign":
        right = ((outputs > 0.5) == (D > 0.5)).all(-1)
    elif task.score == "abs_error":
        right = (np.abs(outputs - D) < task.tolerance).all(-1)
    else:
        return None
    w = (M > 0).astype(float)
    return (right * w).sum(1) / np.maximum(w.sum(1), 1.0)


TASKS = ("temporal_xor", "letters", "reber", "delayed_recall", "sequence", "text", "flip_flop", "latch", "adding")
