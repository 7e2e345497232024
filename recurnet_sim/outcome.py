"""Honest outcome labels: what the final state of a trial *is*, not the largest overlap.

:meth:`recurnet_sim.model.Model.outcome` returns one dict per trial that the live window, the text
summary and ``recurnet run --json`` (field ``outcome``) all show, so the three always agree. Its keys
(every family fills the ones that apply, the others are None):

``kind``
    ``"stored"`` (exactly a stored pattern), ``"reversed"`` (exactly one with every unit flipped),
    ``"mixture"`` (exactly a symmetric 3-mixture, below), ``"spurious"`` (none of these), or a
    family's own kind (``"metastable"``, ``"correct"``, ``"wrong"``, ``"sample"`` ...).
``label``
    One line saying it, e.g. ``"spurious: 47 bits from p1"``, ``"mixture of A, -I, M"``.
``success``
    True when the scenario's target was reached (or the family's task was solved), False when it
    was not, None when the scenario has no target: what the window's success/failure colour means.
``nearest``, ``nearest_reversed``, ``distance``
    The stored pattern (or its reverse) nearest in Hamming distance, and that distance in units.
``mixture``
    The signed names of the mixture's three patterns (``["A", "-I", "M"]``), else None.
``target``, ``target_reached``, ``wrong_bits``, ``wrong_units``
    The cue's source pattern, whether the final state is exactly it, how many units differ, and
    their indices in the model's units (the window outlines them on the grid).

Mixture states (Amit, Gutfreund & Sompolinsky 1985, Phys. Rev. A 32, 1007; Amit 1989, *Modeling
Brain Function*, sec. 4.4): ``s = sign(e1 xi1 + e2 xi2 + e3 xi3)`` with signs e = +-1 are the
lowest-lying spurious attractors of the Hebbian net. A sum of three +-1 values is never 0, and
``s_i`` equals its sign exactly when at most one of the three signed patterns disagrees with ``s_i``.
So ``s`` is that mixture exactly when the *disagreement sets* D_k = {i : e_k xi_k,i != s_i} of the
three are pairwise disjoint; this is what :func:`find_mixture` tests (exact, no threshold), pruned
by the necessary condition |D_1| + |D_2| + |D_3| <= N.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: At most this many candidate pairs are tested for a 3-mixture (small N with very many patterns
#: could otherwise ask for billions); beyond it the outcome says the mixture check was cut short.
MAX_MIXTURE_PAIRS = 200_000


def empty(label: str, kind: str = "none", success: bool | None = None, **extra) -> dict[str, Any]:
    """An outcome with every common key, ``kind``/``label``/``success`` set and the rest None."""
    out: dict[str, Any] = {"kind": kind, "label": label, "success": success, "nearest": None,
                           "nearest_reversed": False, "distance": None, "mixture": None, "target": None,
                           "target_reached": None, "wrong_bits": None, "wrong_units": None}
    out.update(extra)
    return out


def as_pm1(values: np.ndarray, lo: float) -> np.ndarray:
    """0/1 (``lo == 0``) or +-1 unit values as +-1 int8 (the mixtures are formed on +-1 images)."""
    v = np.asarray(values)
    return np.where(v > (0.5 if lo == 0 else 0), 1, -1).astype(np.int8)


def find_mixture(s: np.ndarray, xi: np.ndarray, max_pairs: int = MAX_MIXTURE_PAIRS
                 ) -> tuple[tuple[tuple[int, int], ...] | None, bool]:
    """The symmetric 3-mixture ``sign(e1 xi_a + e2 xi_b + e3 xi_c)`` that equals ``s`` exactly.

    Parameters
    ----------
    s : ndarray, shape (N,), values +-1
    xi : ndarray, shape (P, N), values +-1
    max_pairs : candidate pairs tested at most

    Returns
    -------
    ((pattern, sign) x 3, sorted by pattern) or None, and whether the search was complete. When
    several triples give ``s`` (correlated patterns), the one nearest to ``s`` (fewest disagreements
    in total) wins.
    """
    P, N = xi.shape
    if P < 3:
        return None, True
    agree = xi.astype(np.int8) * s.astype(np.int8)[None, :]            # (P, N) +-1
    # candidate c = (pattern c // 2, sign +1 if c even else -1); its disagreement set D_c
    D = np.empty((2 * P, N), dtype=bool)
    D[0::2] = agree < 0
    D[1::2] = agree > 0
    size = D.sum(axis=1)
    ok = size > 0  # an empty D_c is s itself (stored / reversed): not a mixture component
    cand = np.flatnonzero(ok)
    if cand.size < 3:
        return None, True
    order = cand[np.argsort(size[cand], kind="stable")]
    d = size[order]
    packed = np.packbits(D[order], axis=1)
    n = order.size
    dmin = int(d[0])
    # pairs i < j with d_i + d_j <= N - d_min (the third needs room), then disjoint
    hi = np.searchsorted(d, N - dmin - d, side="right")              # j < hi[i]
    counts = np.maximum(hi - np.arange(n) - 1, 0)
    total = int(counts.sum())
    complete = total <= max_pairs
    if not complete:
        counts = np.minimum(counts, max(0, max_pairs // max(1, n)))
    ii = np.repeat(np.arange(n), counts)
    jj = ii + 1 + (np.arange(ii.size) - np.repeat(np.cumsum(counts) - counts, counts))
    keep = (order[ii] // 2) != (order[jj] // 2)
    ii, jj = ii[keep], jj[keep]
    best, best_cost = None, None
    for start in range(0, ii.size, 200_000):
        a, b = ii[start:start + 200_000], jj[start:start + 200_000]
        disjoint = ~(packed[a] & packed[b]).any(axis=1)
        a, b = a[disjoint], b[disjoint]
        for x, y in zip(a.tolist(), b.tolist()):
            room = N - int(d[x]) - int(d[y])
            kmax = int(np.searchsorted(d, room, side="right"))
            if kmax <= y + 1:
                continue
            ks = np.arange(y + 1, kmax)
            pats = order[ks] // 2
            ks = ks[(pats != order[x] // 2) & (pats != order[y] // 2)]
            if ks.size == 0:
                continue
            union = packed[x] | packed[y]
            hit = ks[~(packed[ks] & union).any(axis=1)]
            if hit.size:
                k = int(hit[0])  # d is sorted: the first hit is the nearest third component
                cost = int(d[x] + d[y] + d[k])
                if best_cost is None or cost < best_cost:
                    best, best_cost = (x, y, k), cost
    if best is None:
        return None, complete
    comps = sorted((int(order[c] // 2), 1 if order[c] % 2 == 0 else -1) for c in best)
    return tuple(comps), complete


def classify(s: np.ndarray, xi: np.ndarray, names: Sequence[str], target: int | None = None,
             units: np.ndarray | None = None) -> dict[str, Any]:
    """The outcome of one binary state against stored patterns.

    Parameters
    ----------
    s : ndarray, shape (N,), values +-1
    xi : ndarray, shape (P, N), values +-1 (the stored patterns)
    names : the P pattern names
    target : index of the scenario's target pattern (the cue's source), or None
    units : ndarray of int, shape (N,), optional
        The model's unit index of each of the N compared units (for ``wrong_units``); default 0..N-1.
    """
    s = np.asarray(s, dtype=np.int8)
    xi = np.asarray(xi, dtype=np.int8)
    P, N = xi.shape
    units = np.arange(N) if units is None else np.asarray(units)
    if P == 0:
        return empty("no stored patterns to compare with")
    diff = (xi != s[None, :]).sum(axis=1)                       # Hamming distance to each pattern
    rev = N - diff                                               # ... to each reverse
    j_f, j_r = int(np.argmin(diff)), int(np.argmin(rev))
    nearest_rev = bool(rev[j_r] < diff[j_f])
    j = j_r if nearest_rev else j_f
    dist = int(rev[j] if nearest_rev else diff[j])
    out = empty("", "spurious", nearest=names[j], nearest_reversed=nearest_rev, distance=dist)
    near = ("reversed " if nearest_rev else "") + str(names[j])
    if dist == 0:
        out["kind"] = "reversed" if nearest_rev else "stored"
        out["label"] = f"reversed {names[j]} (every unit flipped)" if nearest_rev else f"stored pattern {names[j]}"
    else:
        mix, complete = find_mixture(s, xi)
        if mix is not None:
            parts = [("-" if e < 0 else "") + str(names[k]) for k, e in mix]
            out.update(kind="mixture", mixture=parts,
                       label=f"mixture of {', '.join(parts)} ({dist} bit{'s' * (dist != 1)} from {near})")
        else:
            out["label"] = f"spurious: {dist} bit{'s' * (dist != 1)} from {near}"
            if not complete:
                out["mixture_checked"] = False
                out["label"] += " (3-mixtures checked only in part)"
    if target is not None:
        t = int(target)
        wrong = xi[t] != s
        n_wrong = int(wrong.sum())
        out.update(target=names[t], target_reached=n_wrong == 0, wrong_bits=n_wrong,
                   wrong_units=units[wrong].astype(int).tolist(), success=n_wrong == 0)
        if n_wrong == 0:
            out["label"] = f"recalled {names[t]}"
        elif out["kind"] == "spurious" and j == t and not nearest_rev:
            out["label"] += ", the target: not reached"
        else:
            out["label"] += f"; target {names[t]} not reached ({n_wrong} wrong bit{'s' * (n_wrong != 1)})"
    return out


def patterns_of(model, b: int) -> np.ndarray | None:
    """Trial b's stored patterns (P, N) from ``model.patterns`` ((P, N), (1, P, N) or (B, P, N))."""
    xi = model.patterns
    if xi is None:
        return None
    xi = np.asarray(xi)
    if xi.ndim == 3:
        xi = xi[b if xi.shape[0] > 1 else 0]
    return xi


def default_outcome(model, b: int) -> dict[str, Any]:
    """:meth:`Model.outcome` for a family of binary units whose patterns cover every unit."""
    xi = patterns_of(model, b)
    if xi is None or len(xi) == 0 or xi.shape[-1] != model.n_units:
        return empty("no stored patterns to compare with")
    lo = model.unit_values[0]
    target = None if model.target is None else int(np.asarray(model.target)[b])
    return classify(as_pm1(model.state[b], lo), as_pm1(xi, lo), model.pattern_names, target)


def summary_line(o: dict[str, Any] | None) -> str:
    """The outcome as the text summary prints it (its label; the window shows the same)."""
    if not o:
        return ""
    return str(o.get("label") or o.get("kind") or "")
