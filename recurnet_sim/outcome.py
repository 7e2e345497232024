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

import weakref
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
    out = (v > (0.5 if lo == 0 else 0)).astype(np.int8)
    out *= 2
    out -= 1
    return out


class PatternRows:
    """A model's patterns (P, N) in its unit values, seen as +-1 rows without converting all of
    them: indexing maps just the rows asked for (:func:`as_pm1`), :meth:`rows` is the float copy
    for distances, made once per pattern array and cached (a model replaces its patterns, never
    edits them in place)."""

    def __init__(self, raw: np.ndarray, lo: float):
        self.raw, self.lo = raw, lo
        self.shape = raw.shape

    def __getitem__(self, key) -> np.ndarray:
        return as_pm1(self.raw[key], self.lo)

    def full(self) -> np.ndarray:
        return as_pm1(self.raw, self.lo)

    def rows(self) -> np.ndarray:
        lo = self.lo
        return _derived(self.raw, ("rows", float(lo)),
                        lambda a: as_pm1(a, lo).astype(np.float32 if a.shape[-1] < 2**24 else np.float64))


def _derived(xi: np.ndarray, tag, make) -> np.ndarray:
    """``make(xi)``, cached per pattern array (a model replaces its patterns, never edits them in
    place), so an outcome per trial does not convert all P x N values again. A view (trial b of
    (B, P, N) patterns) is keyed by its base array and its place in it."""
    base = xi
    while isinstance(base.base, np.ndarray):
        base = base.base
    key = (id(base), xi.__array_interface__["data"][0], xi.shape, xi.strides, xi.dtype.char, tag)
    hit = _CACHE.get(key)
    if hit is not None and hit[0]() is base:
        return hit[1]
    out = make(xi)
    while len(_CACHE) >= 64:
        _CACHE.pop(next(iter(_CACHE)))
    try:  # the entry goes when the patterns do
        _CACHE[key] = (weakref.ref(base, lambda _r, key=key: _CACHE.pop(key, None)), out)
    except TypeError:  # pragma: no cover - an array without weak references: no cache
        pass
    return out


#: (id(base), address, shape, strides, dtype, tag) -> (weak reference to the base, derived array)
_CACHE: dict[tuple, tuple[Any, np.ndarray]] = {}


def _pm1_rows(xi) -> np.ndarray:
    """float copy of +-1 patterns (P, N) (cached): ``xi @ s`` is then one GEMV, exact (its values
    are integers below 2**24)."""
    if isinstance(xi, PatternRows):
        return xi.rows()
    return _derived(xi, "rows", lambda a: a.astype(np.float32 if a.shape[-1] < 2**24 else np.float64))


def distances(s: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """Hamming distance of +-1 state ``s`` (N,) to each +-1 pattern of ``xi`` (P, N), shape (P,),
    from one exact product: d = (N - xi . s) / 2."""
    N = xi.shape[-1]
    rows = _pm1_rows(xi)
    dots = rows @ s.astype(rows.dtype)
    return ((N - np.rint(dots).astype(np.int64)) // 2).astype(np.int64)


def _disagreement_bits(s: np.ndarray, xi: np.ndarray, cand: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Disagreement sets D_c of candidates ``cand`` (pattern c // 2, reversed when c is odd) on units
    lo..hi-1, packed: shape (len(cand), ceil((hi - lo) / 8)) uint8."""
    D = (xi[cand // 2, lo:hi] != s[None, lo:hi]) ^ (cand % 2 == 1)[:, None]
    return np.packbits(D, axis=1)


def find_mixture(s: np.ndarray, xi: np.ndarray, max_pairs: int = MAX_MIXTURE_PAIRS,
                 dist: np.ndarray | None = None) -> tuple[tuple[tuple[int, int], ...] | None, bool]:
    """The symmetric 3-mixture ``sign(e1 xi_a + e2 xi_b + e3 xi_c)`` that equals ``s`` exactly.

    Parameters
    ----------
    s : ndarray, shape (N,), values +-1
    xi : ndarray, shape (P, N), values +-1
    max_pairs : candidate pairs tested at most
    dist : ndarray of int, shape (P,), optional
        Hamming distance of ``s`` to each pattern, when the caller has it (:func:`distances`).

    Returns
    -------
    ((pattern, sign) x 3, sorted by pattern) or None, and whether the search was complete. When
    several triples give ``s`` (correlated patterns), the one nearest to ``s`` (fewest disagreements
    in total) wins.

    Notes
    -----
    Candidates c (a pattern or its reverse) are sorted by |D_c|; a triple x < y < k of sorted
    positions needs |D_x| + |D_y| + |D_k| <= N, hence |D_x| + 2 |D_y| <= N: a state within a few
    bits of one pattern only pairs that pattern with the others, a state far from all of them has
    no pair at all. Disjointness is tested first on the first 64 units (one 64-bit AND per pair:
    two random sets of ~N/2 units survive it with probability (3/4)^64), then on every unit for
    the survivors; all of it vectorised. The result is the same triple the pair-by-pair search
    gives (the least total disagreement, then the first in sorted order); when the candidate
    pairs exceed ``max_pairs`` the capped pair-by-pair search runs as before.
    """
    P, N = xi.shape
    if P < 3:
        return None, True
    s = np.asarray(s, dtype=np.int8)
    if not isinstance(xi, PatternRows):
        xi = np.asarray(xi, dtype=np.int8)
    dist = distances(s, xi) if dist is None else np.asarray(dist, dtype=np.int64)
    size = np.empty(2 * P, dtype=np.int64)
    size[0::2] = dist
    size[1::2] = N - dist
    cand = np.flatnonzero(size > 0)  # an empty D_c is s itself (stored / reversed)
    if cand.size < 3:
        return None, True
    order = cand[np.argsort(size[cand], kind="stable")]
    d = size[order]
    n = order.size
    if 3 * int(d[0]) > N:  # even the three nearest candidates disagree on more than N units
        return None, True
    hi = np.searchsorted(d, N - int(d[0]) - d, side="right")
    if int(np.maximum(hi - np.arange(n) - 1, 0).sum()) > max_pairs:
        return _find_mixture_capped(s, xi.full() if isinstance(xi, PatternRows) else xi, max_pairs)
    pat = order // 2
    nx = int(np.searchsorted(d, N // 3, side="right"))          # 3 |D_x| <= N
    ny = int(np.searchsorted(d, (N - int(d[0])) // 2, side="right"))  # |D_x| + 2 |D_y| <= N
    if nx == 0 or ny < 2:
        return None, True
    W = min(N, 64)
    w0 = np.zeros((n, 8), dtype=np.uint8)
    w0[:, :(W + 7) // 8] = _disagreement_bits(s, xi, order, 0, W)
    w0 = w0.view(np.uint64)[:, 0]

    def disjoint(a: np.ndarray, b: np.ndarray, c: np.ndarray | None = None) -> np.ndarray:
        """Exact: D_a and D_b (and D_c) share no unit beyond the first 64 (those were tested)."""
        if N <= 64 or a.size == 0:
            return np.ones(a.size, dtype=bool)
        mark = np.zeros(n, dtype=bool)  # not np.unique: it imports numpy.ma (5 ms at start-up)
        for idx in (a, b) if c is None else (a, b, c):
            mark[idx] = True
        need = np.flatnonzero(mark)
        F = _disagreement_bits(s, xi, order[need], 64, N)
        A, B = F[np.searchsorted(need, a)], F[np.searchsorted(need, b)]
        if c is None:
            return ~(A & B).any(axis=1)
        C = F[np.searchsorted(need, c)]
        return ~((A & B) | ((A | B) & C)).any(axis=1)

    # pairs x < y (sorted positions), in row-major order
    px_l, py_l = [], []
    ys = np.arange(ny)
    step = max(1, (1 << 20) // ny)
    for x0 in range(0, nx, step):
        xs = np.arange(x0, min(nx, x0 + step))
        m = ((ys[None, :] > xs[:, None]) & (d[xs][:, None] + 2 * d[None, :ny] <= N)
             & (pat[xs][:, None] != pat[None, :ny]) & ((w0[xs][:, None] & w0[None, :ny]) == 0))
        a, b = np.nonzero(m)
        px_l.append(xs[a])
        py_l.append(b)
    px, py = np.concatenate(px_l), np.concatenate(py_l)
    keep = disjoint(px, py)
    px, py = px[keep], py[keep]
    if px.size == 0:
        return None, True
    kmax = np.searchsorted(d, N - d[px] - d[py], side="right")
    nk = int(kmax.max())
    ks = np.arange(nk)
    hits_p, hits_k = [], []
    step = max(1, (1 << 20) // max(nk, 1))
    for p0 in range(0, px.size, step):
        sl = slice(p0, p0 + step)
        x, y, km = px[sl], py[sl], kmax[sl]
        m = ((ks[None, :] > y[:, None]) & (ks[None, :] < km[:, None]) & (pat[None, :nk] != pat[x][:, None])
             & (pat[None, :nk] != pat[y][:, None]) & (((w0[x] | w0[y])[:, None] & w0[None, :nk]) == 0))
        a, b = np.nonzero(m)
        hits_p.append(a + p0)
        hits_k.append(b)
    hp, hk = np.concatenate(hits_p), np.concatenate(hits_k)
    keep = disjoint(px[hp], py[hp], hk)
    hp, hk = hp[keep], hk[keep]
    if hp.size == 0:
        return None, True
    x, y = px[hp], py[hp]
    cost = d[x] + d[y] + d[hk]
    best = np.lexsort((hk, y, x, cost))[0]
    trip = (int(x[best]), int(y[best]), int(hk[best]))
    comps = sorted((int(order[c] // 2), 1 if order[c] % 2 == 0 else -1) for c in trip)
    return tuple(comps), True


def _find_mixture_capped(s: np.ndarray, xi: np.ndarray, max_pairs: int = MAX_MIXTURE_PAIRS
                         ) -> tuple[tuple[tuple[int, int], ...] | None, bool]:
    """:func:`find_mixture` pair by pair, testing at most ``max_pairs`` candidate pairs (the
    search before issue 13, kept for the case where the pairs exceed the cap: the same pairs are
    tested, so the same labels come out, "checked only in part" included)."""
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
    if not isinstance(xi, PatternRows):
        xi = np.asarray(xi, dtype=np.int8)
    P, N = xi.shape
    units = np.arange(N) if units is None else np.asarray(units)
    if P == 0:
        return empty("no stored patterns to compare with")
    diff = distances(s, xi)                                      # Hamming distance to each pattern
    j, nearest_rev, dist, near = nearest(diff, N - diff, names)  # ... and to each reverse
    out = empty("", "spurious", nearest=names[j], nearest_reversed=nearest_rev, distance=dist)
    if dist == 0:
        out["kind"] = "reversed" if nearest_rev else "stored"
        out["label"] = f"reversed {names[j]} (every unit flipped)" if nearest_rev else f"stored pattern {names[j]}"
    else:
        mix, complete = find_mixture(s, xi, dist=diff)
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
        judge_target(out, names[int(target)], xi[int(target)] != s, units)
    return out


def nearest(diff: np.ndarray, rev: np.ndarray, names: Sequence[str]) -> tuple[int, bool, int, str]:
    """The stored pattern, or reversed pattern, nearest to a state: (its index, whether reversed,
    the distance, its name as a label says it) from the distances ``diff`` to each pattern and
    ``rev`` to each reverse (P,); a pattern wins a tie with a reverse."""
    j_f, j_r = int(np.argmin(diff)), int(np.argmin(rev))
    reversed_ = bool(rev[j_r] < diff[j_f])
    j = j_r if reversed_ else j_f
    return j, reversed_, int(rev[j] if reversed_ else diff[j]), ("reversed " if reversed_ else "") + str(names[j])


def judge_target(out: dict[str, Any], name: str, wrong: np.ndarray, units: np.ndarray, *,
                 reached: bool | None = None, recalled: str | None = None, word: str = "bit",
                 detail: str = "", append: bool = True) -> dict[str, Any]:
    """Add the target's fields to outcome ``out`` and say in its label whether it was reached, in
    the one form every family uses: "recalled A", or "...; target A not reached: 47 wrong bits".

    Parameters
    ----------
    name : the target pattern's name
    wrong : bool (n,), the compared units that differ from the target
    units : int (n,), the model's unit index of each compared unit (for ``wrong_units``)
    reached : whether the target counts as reached (default: no unit wrong)
    recalled : the label when it is reached (default "recalled <name>")
    word : what a wrong unit is called ("bit", "sign")
    detail : appended to the "not reached" part (where the wrong units are)
    append : add the "not reached" part to the label (else it is the whole label)
    """
    n_wrong = int(np.count_nonzero(wrong))
    reached = n_wrong == 0 if reached is None else bool(reached)
    out.update(target=name, target_reached=reached, wrong_bits=n_wrong,
               wrong_units=np.asarray(units)[wrong].astype(int).tolist(), success=reached)
    if reached:
        out["label"] = recalled or f"recalled {name}"
    else:
        missed = f"target {name} not reached: {n_wrong} wrong {word}{'s' * (n_wrong != 1)}{detail}"
        out["label"] = f"{out['label']}; {missed}" if append else missed
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
    return classify(as_pm1(model.state[b], lo), PatternRows(xi, lo), model.pattern_names, target)


def summary_line(o: dict[str, Any] | None) -> str:
    """The outcome as the text summary prints it (its label; the window shows the same)."""
    if not o:
        return ""
    return str(o.get("label") or o.get("kind") or "")
