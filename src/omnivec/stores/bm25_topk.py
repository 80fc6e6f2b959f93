"""Exact top-k BM25 with MaxScore pruning, in numpy: the search loop of `Bm25Index`.

A query term t contributes at most `bound_t` = weight_t * (the largest tf / (tf + norm) among its
postings) to any document. With the terms ordered by bound, largest first, and S_i the sum of the
bounds of terms i.. onwards, a document holding none of the first m terms scores at most S_m. So
once some k real documents score at least theta > S_m, the remaining terms are *non-essential*:
their postings are never walked; only the candidates (documents holding one of the first m terms)
look up their tf in them by binary search, and a candidate is dropped as soon as its partial score
plus the bounds still to come falls below theta. Nothing that could reach the top k is dropped,
so the result is the exhaustive walk's: same documents, same order, same scores (every document's
score is summed in the same term order, so ties between equal documents stay ties, broken by
rowid). theta is the k-th best full score of a small probe set (the best partial scores so far),
recomputed after each essential term until the remaining bounds fall below it.

Why it pays: docstring queries mix a few rare terms (high bound, short postings) with common ones
(low idf, postings over much of the corpus); the rare ones decide the top 10, and the common ones
then cost a binary search per surviving candidate instead of a pass over their postings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_SLACK = 1e-9  # relative: theta is lowered by this much, so float rounding never drops a tie
_PROBE = 2  # probe set: this many times k of the best partial scores
# Below this many postings in all, every term is walked: pruning's bookkeeping (a few dozen
# numpy calls) costs more than the scatter it saves.
# Measured at 100k chunks (CPU time per query, p50): 0 -> 1.4-1.7 ms, 32k -> 1.0-1.2, 100k -> 1.1-1.7.
SMALL_QUERY = 32_768


@dataclass
class QueryTerm:
    """One distinct query term: `weight` = repeats * idf; `bound` >= its contribution to any
    document; `segments` = its postings as (slots ascending, tf) arrays, base then delta."""

    weight: float
    bound: float
    segments: list[tuple[np.ndarray, np.ndarray]]

    @property
    def size(self) -> int:
        return sum(len(d) for d, _ in self.segments)

    def scatter(self, acc: np.ndarray, norm: np.ndarray) -> None:
        """acc[slot] += contribution, for every posting (a term holds each slot at most once)."""
        for docs, tf in self.segments:
            f = tf.astype(np.float64)
            acc[docs] += self.weight * (f / (f + norm[docs]))

    def lookup(self, slots: np.ndarray, slot_norm: np.ndarray) -> np.ndarray:
        """The contribution to each of `slots` (ascending, int32 like the postings: a key of
        another dtype makes numpy copy the whole postings array per call), 0 where the term is
        absent; `slot_norm` = norm[slots]. The same float expression as `scatter`, so a score
        does not depend on the path it took (and x + 0.0 == x where the term is absent)."""
        out = None
        for docs, tf in self.segments:
            if not len(docs):
                continue
            pos = np.searchsorted(docs, slots)
            np.minimum(pos, len(docs) - 1, out=pos)
            hit = docs[pos] == slots
            f = np.where(hit, tf[pos], 0).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):  # 0 / 0 where k1 * norm is 0
                got = np.where(hit, self.weight * (f / (f + slot_norm)), 0.0)
            out = got if out is None else out + got
        return np.zeros(len(slots), np.float64) if out is None else out


def top_k(
    terms: list[QueryTerm], k: int, norm: np.ndarray, acc: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, slots) of the k best documents with a positive score, best first, ties by slot.

    `norm`: k1 * (1 - b + b * dl / avgdl) per slot, inf for a dead one. `acc`: a zeroed float64
    buffer of one entry per slot, returned zeroed. `mask`: allowed slots, or None for all."""
    terms = sorted(terms, key=lambda t: -t.bound)
    rest = np.zeros(len(terms) + 1)  # rest[i]: the most that terms i.. can still add
    rest[:-1] = np.cumsum([t.bound for t in terms][::-1])[::-1]
    if mask is not None:
        allowed = np.flatnonzero(mask & np.isfinite(norm)).astype(np.int32)
        if len(allowed) * len(terms) * 16 < sum(t.size for t in terms):  # selective: look up only
            return _finish(terms, 0, allowed, np.zeros(len(allowed)), rest, 0.0, k, norm)
    theta, m, probe, touched = 0.0, 0, np.empty(0, np.int32), []
    if sum(t.size for t in terms) <= SMALL_QUERY:  # walk every term; `_finish` only selects
        m = len(terms)
        for t in terms:
            t.scatter(acc, norm)
            touched += [d for d, _ in t.segments]
    while m < len(terms):
        terms[m].scatter(acc, norm)
        touched += [d for d, _ in terms[m].segments]
        m += 1
        if m == len(terms) or rest[m] < theta * (1 - _SLACK):
            break
        probe, theta = _probe(terms, m, k, probe, acc, norm, mask)
        if rest[m] < theta * (1 - _SLACK):
            break
    cand = _distinct(np.concatenate(touched))
    part = acc[cand]
    acc[cand] = 0.0
    return _finish(terms, m, cand, part, rest, theta, k, norm, mask)


def _probe(
    terms: list[QueryTerm], m: int, k: int, probe: np.ndarray, acc: np.ndarray, norm: np.ndarray,
    mask: np.ndarray | None,
) -> tuple[np.ndarray, float]:  # fmt: skip
    """theta: the k-th best full score among the previous probe and the best partial scores of
    the term just walked (a lower bound of the true k-th score: these are real documents)."""
    docs = np.concatenate([d for d, _ in terms[m - 1].segments])
    if mask is not None:
        docs = docs[mask[docs]]
    if len(docs) > _PROBE * k:
        docs = docs[np.argpartition(acc[docs], len(docs) - _PROBE * k)[-_PROBE * k :]]
    probe = _distinct(np.concatenate([probe, docs]))
    full, probe_norm = acc[probe], norm[probe]
    for t in terms[m:]:
        full += t.lookup(probe, probe_norm)
    live = full > 0
    probe, full = probe[live], full[live]
    if len(full) < k:
        return probe, 0.0
    if len(full) > _PROBE * k:
        keep = np.sort(np.argpartition(full, len(full) - _PROBE * k)[-_PROBE * k :])
        probe, full = probe[keep], full[keep]
    return probe, float(np.partition(full, len(full) - k)[len(full) - k])


def _distinct(x: np.ndarray) -> np.ndarray:
    """Sorted distinct values. A stable sort is a timsort here, which merges the sorted runs of
    concatenated postings in O(n log runs); np.unique (hashing) costs ~0.3 ms on a few dozen."""
    x = np.sort(x, kind="stable")
    return x[np.concatenate(([True], x[1:] != x[:-1]))] if len(x) else x


def _finish(
    terms: list[QueryTerm], m: int, cand: np.ndarray, part: np.ndarray, rest: np.ndarray, theta: float,
    k: int, norm: np.ndarray, mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Add terms m.. to the candidates' partial scores by lookup, dropping hopeless candidates."""
    floor = theta * (1 - _SLACK)
    keep = part > 0 if m else np.ones(len(cand), bool)
    if mask is not None:
        keep &= mask[cand]
    if floor > 0:
        keep &= part + rest[m] >= floor
    cand, part = cand[keep], part[keep]
    cand_norm = norm[cand]
    for i in range(m, len(terms)):
        part += terms[i].lookup(cand, cand_norm)
        if floor > 0 and i + 1 < len(terms):
            keep = part + rest[i + 1] >= floor
            if not keep.all():
                cand, part, cand_norm = cand[keep], part[keep], cand_norm[keep]
    return _select(part, cand, k)


def _select(scores: np.ndarray, slots: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top k of positive scores, ties by slot (slots ascend)."""
    pos = scores > 0
    scores, slots = scores[pos], slots[pos]
    if len(scores) > k:
        cut = np.partition(scores, len(scores) - k)[len(scores) - k]
        sel = scores >= cut  # ties at the cut too
        scores, slots = scores[sel], slots[sel]
    best = np.lexsort((slots, -scores))[:k]
    return scores[best], slots[best]
