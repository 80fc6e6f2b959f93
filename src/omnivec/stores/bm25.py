"""Exact BM25 over pre-tokenised documents: the in-memory keyword index of one collection.

Scores are bm25s' Lucene variant, the evaluator's (`omnivec.evaluate.retrievers.BM25Retriever`):
idf = ln(1 + (N - df + 0.5) / (df + 0.5)), score = sum over query tokens (repeats count) of
idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)), with N, df and avgdl over the live documents,
so a ranking is the one an index rebuilt from scratch would give. Top-k is exact: `search` prunes
with MaxScore (`bm25_topk`: the rare terms are walked, the common ones only looked up for the
documents that can still reach the top k, using per-term score bounds kept valid through writes)
and returns what `search_exhaustive` (every posting of every term, into one score per slot) does.
The per-document length normalisation is cached between writes; filters arrive as allowed rowids
and restrict the documents inside the scoring, so a selective filter never under-fills the top k.

Layout: documents live in *slots* that ascend with their SQLite rowid. Postings are CSR by term
(`ptr`, `post_doc`, `post_tf`) in a base segment plus a delta of recent additions that is merged
in when it grows; a forward list (the terms of each slot) keeps `df` exact under deletions, which
only clear a slot's `alive` flag until `compact` drops dead slots.

>>> idx = Bm25Index(); idx.add(np.array([1, 2]), [["parse", "json"], ["read", "file"]])
>>> idx.search(["json"], 5)[1].tolist()
[1]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from omnivec.search.tokens import DEFAULT_ANALYZER
from omnivec.stores.bm25_topk import QueryTerm, top_k

K1, B = DEFAULT_ANALYZER.k1, DEFAULT_ANALYZER.b  # the analyser's, as the evaluator runs bm25s
_MERGE_MIN = 1 << 16  # delta postings merged into the base segment past max(this, base / 8)
_COMPACT_DEAD = 0.2  # `compact` rewrites the index when this share of its slots is dead
_BOUND_DRIFT = 1.05  # term bounds are recomputed when avgdl moved this factor from theirs
_BOUND_POSTINGS = 1 << 22  # postings per slice when computing the bounds (a term is never split)


#: names the analysis below; a store records it, and a writer re-analyses a store made with another
ANALYSER_ID = DEFAULT_ANALYZER.id


def analyse(text: str) -> list[str]:
    """The one analysis the keyword index applies, to documents and queries alike: the
    evaluator's (`omnivec.search.tokens.DEFAULT_ANALYZER`), so a change there reaches both."""
    return DEFAULT_ANALYZER.tokens(text)


def stored_tokens(text: str) -> str:
    """What SQLite keeps per record (table `tokens`): the analysed tokens, space-separated."""
    return " ".join(analyse(text))


class Bm25Index:
    """See the module docstring. Not thread-safe: the caller serialises access."""

    def __init__(self, generation: int = 0, *, k1: float = K1, b: float = B) -> None:
        self.generation = generation
        self.k1, self.b = k1, b  # the analyser's; other values only for benchmarks against peers
        self.vocab: dict[str, int] = {}  # term -> id; ids follow insertion order
        self.rids = np.empty(0, np.int64)  # slot -> rowid (ascending)
        self.lengths = np.empty(0, np.int32)  # slot -> tokens in the document
        self.alive = np.empty(0, bool)
        self.df = np.empty(0, np.int32)  # term -> live documents holding it
        self.live = 0
        self.live_tokens = 0
        self.ptr = np.zeros(1, np.int64)  # base segment: postings of term t at ptr[t]:ptr[t+1]
        self.post_doc = np.empty(0, np.int32)
        self.post_tf = np.empty(0, np.int32)
        self.doc_ptr = np.zeros(1, np.int64)  # forward lists: terms of slot s at doc_ptr[s]:doc_ptr[s+1]
        self.doc_terms = np.empty(0, np.int32)
        self._delta: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (term, slot, tf), unmerged
        self._delta_csr: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._norm: np.ndarray | None = None  # per-slot length normalisation, see `_norms`
        self._acc = np.empty(0, np.float64)  # a zeroed score buffer, one entry per slot, reused
        # term -> max of tf / (tf + norm) over its postings with norms at avgdl `_max_avgdl` (0.0:
        # not computed yet); kept valid through writes, see `_bounds`
        self._max_impact = np.empty(0, np.float64)
        self._max_avgdl = 0.0

    @property
    def ntotal(self) -> int:
        return self.live

    @property
    def slots(self) -> int:
        return len(self.rids)

    # -- writing ------------------------------------------------------------------------------

    def add(self, rids: np.ndarray, docs: Sequence[Sequence[str]]) -> None:
        """Add documents (token lists) under rowids greater than every rowid already held."""
        rids = np.asarray(rids, dtype=np.int64)
        if not len(rids):
            return
        if (len(self.rids) and rids[0] <= self.rids[-1]) or np.any(np.diff(rids) <= 0):
            raise ValueError("keyword index: rowids must be added in ascending order")
        vocab = self.vocab
        flat = [vocab.setdefault(t, len(vocab)) for doc in docs for t in doc]
        lens = np.fromiter((len(d) for d in docs), dtype=np.int32, count=len(rids))
        n_terms, first = len(vocab), len(self.rids)
        self._grow_terms(n_terms)
        key = np.repeat(np.arange(len(rids), dtype=np.int64), lens) * n_terms + np.asarray(flat, np.int64)
        uniq, tf = np.unique(key, return_counts=True)
        doc, term = uniq // n_terms, (uniq % n_terms).astype(np.int32)
        tf = tf.astype(np.int32)
        self.df += np.bincount(term, minlength=n_terms).astype(np.int32)
        counts = np.bincount(doc, minlength=len(rids))
        self.doc_ptr = np.concatenate([self.doc_ptr, self.doc_ptr[-1] + np.cumsum(counts)])
        self.doc_terms = np.concatenate([self.doc_terms, term])
        self.rids = np.concatenate([self.rids, rids])
        self.lengths = np.concatenate([self.lengths, lens])
        self.alive = np.concatenate([self.alive, np.ones(len(rids), bool)])
        self.live += len(rids)
        self.live_tokens += int(lens.sum())
        self._delta.append((term, (doc + first).astype(np.int32), tf))
        self._delta_csr = self._norm = None
        if self._max_avgdl:  # the bounds must cover the new postings
            f = tf.astype(np.float64)
            np.maximum.at(self._max_impact, term, f / (f + self._norm_at(self._max_avgdl, lens[doc])))
        if sum(len(t) for t, _, _ in self._delta) > max(_MERGE_MIN, len(self.post_doc) // 8):
            self.merge()

    def _grow_terms(self, n_terms: int) -> None:
        extra = n_terms - len(self.df)
        if extra > 0:
            self.df = np.concatenate([self.df, np.zeros(extra, np.int32)])
        extra = n_terms - len(self._max_impact)
        if extra > 0:
            self._max_impact = np.concatenate([self._max_impact, np.zeros(extra)])  # `add` raises them

    def remove(self, rids: np.ndarray) -> None:
        """Delete documents by rowid (unknown rowids are ignored)."""
        rids = np.asarray(rids, dtype=np.int64)
        if not len(rids) or not len(self.rids):
            return
        pos = np.minimum(np.searchsorted(self.rids, rids), len(self.rids) - 1)
        slots = np.unique(pos[(self.rids[pos] == rids) & self.alive[pos]])
        if not len(slots):
            return
        self.alive[slots] = False
        self._norm = None
        self.live -= len(slots)
        self.live_tokens -= int(self.lengths[slots].sum())
        starts, ends = self.doc_ptr[slots], self.doc_ptr[slots + 1]
        terms = self.doc_terms[_ranges(starts, ends)]
        self.df -= np.bincount(terms, minlength=len(self.df)).astype(np.int32)

    def merge(self) -> None:
        """Fold the delta into the base segment: O(postings), no sort (delta slots come last)."""
        if not self._delta:
            return
        d_ptr, d_doc, d_tf = self._delta_postings()
        n_terms = len(self.df)
        b_cnt = np.diff(self.ptr)
        b_cnt = np.concatenate([b_cnt, np.zeros(n_terms - len(b_cnt), np.int64)])
        d_cnt = np.diff(d_ptr)
        ptr = np.zeros(n_terms + 1, np.int64)
        np.cumsum(b_cnt + d_cnt, out=ptr[1:])
        doc = np.empty(ptr[-1], np.int32)
        tf = np.empty(ptr[-1], np.int32)
        b_dst = _ranges(ptr[:-1], ptr[:-1] + b_cnt)
        d_dst = _ranges(ptr[:-1] + b_cnt, ptr[1:])
        doc[b_dst], tf[b_dst] = self.post_doc, self.post_tf
        doc[d_dst], tf[d_dst] = d_doc, d_tf
        self.ptr, self.post_doc, self.post_tf = ptr, doc, tf
        self._delta, self._delta_csr = [], None

    def _delta_postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._delta_csr is None:
            term = np.concatenate([t for t, _, _ in self._delta]) if self._delta else np.empty(0, np.int32)
            order = np.argsort(term, kind="stable")  # slots ascend within each term
            ptr = np.zeros(len(self.df) + 1, np.int64)
            np.cumsum(np.bincount(term, minlength=len(self.df)), out=ptr[1:])
            doc = np.concatenate([s for _, s, _ in self._delta])[order] if self._delta else term
            tf = np.concatenate([f for _, _, f in self._delta])[order] if self._delta else term
            self._delta_csr = (ptr, doc, tf)
        return self._delta_csr

    def compact(self, force: bool = False) -> bool:
        """Drop dead slots (merging first) when enough are dead. True if the index changed."""
        dead = self.slots - self.live
        if not dead or (not force and dead < _COMPACT_DEAD * self.slots):
            return False
        self.merge()
        new_slot = np.cumsum(self.alive, dtype=np.int64) - 1
        keep = self.alive[self.post_doc]
        term = np.repeat(np.arange(len(self.ptr) - 1), np.diff(self.ptr))
        cnt = np.bincount(term[keep], minlength=len(self.df))
        self.ptr = np.concatenate([[0], np.cumsum(cnt)]).astype(np.int64)
        self.post_doc = new_slot[self.post_doc[keep]].astype(np.int32)
        self.post_tf = self.post_tf[keep]
        alive_slots = np.flatnonzero(self.alive)
        starts, ends = self.doc_ptr[alive_slots], self.doc_ptr[alive_slots + 1]
        self.doc_terms = self.doc_terms[_ranges(starts, ends)]
        self.doc_ptr = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
        self.rids, self.lengths = self.rids[alive_slots], self.lengths[alive_slots]
        self.alive = np.ones(len(alive_slots), bool)
        self._norm = None
        return True

    # -- searching ----------------------------------------------------------------------------

    def search(
        self, tokens: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rowids), best first (ties: lower rowid first); documents sharing no
        token with the query are left out. `allowed` (rowids) restricts the documents. Exact:
        the result of `search_exhaustive`, found with MaxScore pruning (`bm25_topk`)."""
        weights = self._query_terms(tokens)
        if k <= 0 or not weights or not self.live:
            return np.empty(0, np.float64), np.empty(0, np.int64)
        norm, n = self._norms(), float(self.live)
        terms = []
        for (term, w), most in zip(weights.items(), self._bounds(list(weights))):
            df = float(self.df[term])
            weight = w * math.log1p((n - df + 0.5) / (df + 0.5))
            terms.append(QueryTerm(weight, weight * most, self._segments(term)))
        if len(self._acc) != self.slots:
            self._acc = np.zeros(self.slots, np.float64)
        mask = self._slot_mask(allowed) if allowed is not None else None
        try:
            scores, slots = top_k(terms, k, norm, self._acc, mask)
        except BaseException:  # the buffer may be left dirty: drop it
            self._acc = np.empty(0, np.float64)
            raise
        return scores, self.rids[slots]

    def _query_terms(self, tokens: Sequence[str]) -> dict[int, int]:
        """term id -> repeats in the query, for terms some live document holds."""
        weights: dict[int, int] = {}
        for t in tokens:
            tid = self.vocab.get(t)
            if tid is not None and self.df[tid] > 0:
                weights[tid] = weights.get(tid, 0) + 1
        return weights

    def _bounds(self, terms: list[int]) -> np.ndarray:
        """Per term, at least the largest tf / (tf + norm) among its live postings.

        Computed for every term in one pass over the postings at a reference avgdl (the first
        search after a load, ~1 s per 30M postings; per term on demand cost a fresh query a pass
        over each new term's postings, more than the pruning saved) and kept through writes:
        additions raise it (`add`), deletions only lower the true value, and when avgdl has grown
        since, every norm shrank by at most the factor ref / avgdl, so max / factor is still a
        bound. Past `_BOUND_DRIFT` the bounds are recomputed at the new avgdl."""
        avgdl = self.live_tokens / max(self.live, 1)
        if not self._max_avgdl or max(avgdl / self._max_avgdl, self._max_avgdl / avgdl) > _BOUND_DRIFT:
            self._max_avgdl = avgdl
            self._max_impact = self._max_impacts(avgdl)
        return self._max_impact[terms] * max(1.0, avgdl / self._max_avgdl)

    def _max_impacts(self, avgdl: float) -> np.ndarray:
        out = np.zeros(len(self.df), np.float64)
        segments = [(self.ptr, self.post_doc, self.post_tf)]
        if self._delta:
            segments.append(self._delta_postings())
        for ptr, doc, tf in segments:
            lo, n_terms = 0, len(ptr) - 1
            while lo < n_terms:  # a bounded slice of postings at a time (whole terms)
                hi = min(
                    n_terms, max(lo + 1, int(np.searchsorted(ptr, ptr[lo] + _BOUND_POSTINGS, "right")) - 1)
                )
                first, a, end = ptr[lo:hi], int(ptr[lo]), int(ptr[hi])
                held = first < ptr[lo + 1 : hi + 1]
                if end > a:
                    f = tf[a:end].astype(np.float64)
                    impact = f / (f + self._norm_at(avgdl, self.lengths[doc[a:end]]))
                    idx = lo + np.flatnonzero(held)
                    out[idx] = np.maximum(out[idx], np.maximum.reduceat(impact, first[held] - a))
                lo = hi
        return out

    def _norm_at(self, avgdl: float, lengths: np.ndarray) -> np.ndarray:
        return self.k1 * (1 - self.b + self.b * lengths / max(avgdl, 1e-9))

    def _segments(self, t: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """The postings of term t as (slots ascending, tf): the base segment's, then the delta's."""
        out = []
        if t + 1 < len(self.ptr) and self.ptr[t] < self.ptr[t + 1]:
            out.append(
                (self.post_doc[self.ptr[t] : self.ptr[t + 1]], self.post_tf[self.ptr[t] : self.ptr[t + 1]])
            )
        if self._delta:
            ptr, doc, tf = self._delta_postings()
            if ptr[t] < ptr[t + 1]:
                out.append((doc[ptr[t] : ptr[t + 1]], tf[ptr[t] : ptr[t + 1]]))
        return out

    def search_exhaustive(
        self, tokens: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """`search` without pruning: every posting of every query term, term at a time, into
        one score per slot (the reference the pruned path is tested and benchmarked against)."""
        weights = self._query_terms(tokens)
        if k <= 0 or not weights or not self.live:
            return np.empty(0, np.float64), np.empty(0, np.int64)
        norm = self._norms()
        if allowed is not None:  # a filtered-out document scores 0, like a dead one
            norm = np.where(self._slot_mask(allowed), norm, np.inf)
        n = float(self.live)
        acc = np.zeros(self.slots, np.float64)
        for term, w in weights.items():  # term at a time; a term's postings hold each slot once
            df = float(self.df[term])
            idf = w * math.log1p((n - df + 0.5) / (df + 0.5))
            for docs, tf in self._segments(term):
                acc[docs] += idf * tf / (tf + norm[docs])
        return self._top(acc, k)

    def _norms(self) -> np.ndarray:
        """k1 * (1 - b + b * dl / avgdl) per slot, inf for a dead one; cached until a write."""
        if self._norm is None:
            avgdl = self.live_tokens / max(self.live, 1)
            norm = self.k1 * (1 - self.b + self.b * self.lengths / max(avgdl, 1e-9))
            self._norm = np.where(self.alive, norm, np.inf)
        return self._norm

    def _slot_mask(self, allowed: np.ndarray) -> np.ndarray:
        allowed = np.asarray(allowed, dtype=np.int64)
        mask = np.zeros(self.slots, bool)
        if len(allowed) and self.slots:
            pos = np.minimum(np.searchsorted(self.rids, allowed), self.slots - 1)
            mask[pos[self.rids[pos] == allowed]] = True
        return mask

    def _top(self, acc: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        cut = np.partition(acc, len(acc) - k)[len(acc) - k] if k < len(acc) else 0.0
        cand = np.flatnonzero(acc >= cut) if cut > 0 else np.flatnonzero(acc > 0)  # ties at the cut too
        best = np.lexsort((cand, -acc[cand]))[:k]  # slots ascend with rowids: ties by rowid
        slots = cand[best]
        return acc[slots], self.rids[slots]


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenated aranges [starts[i], ends[i]) without a Python loop."""
    lens = (ends - starts).astype(np.int64)
    total = int(lens.sum())
    if total == 0:
        return np.empty(0, np.int64)
    offsets = np.repeat(np.asarray(starts, np.int64) - np.concatenate([[0], np.cumsum(lens)[:-1]]), lens)
    return offsets + np.arange(total, dtype=np.int64)


def idf(n_docs: int, df: int) -> float:
    """The Lucene idf this index uses (for tests and benchmarks)."""
    return math.log1p((n_docs - df + 0.5) / (df + 0.5))
