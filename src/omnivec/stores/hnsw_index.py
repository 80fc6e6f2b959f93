"""The `hnsw` dense index kind: a faiss HNSW graph over float vectors, with tombstones.

faiss' HNSW cannot remove a vector (the graph around it would need repairing), so a removed
rowid's graph label is marked dead (`rowids[label] = -1`) and every search passes a bitmap of the
live labels: a dead vector still routes the walk but is never returned, so the top k stays full
(faiss only counts selected labels as results). Dead labels cost memory and a little walking;
once they pass `HNSW_REBUILD_DEAD_SHARE` of the graph the next flush rebuilds it from SQLite
(`FaissDense._reshape`). Rowids are SQLite AUTOINCREMENT keys, never reused, but `add` still
retires the live label of a rowid it is given again, so a rowid never has two live labels.

Labels are positions in insertion order; `rowids` maps them back. The reverse lookup (rowid to
label, for removals and filters) is a sorted copy made on demand and kept until the next change.
Scores are exact inner products: the graph stores the float vectors themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omnivec.errors import require

# Graph degree and build beam. Measured with benchmarks/dense_params.py --hnsw and a sweep at
# 50k (dim 384, real-embedding spectrum, one query thread; docs/benchmarks.md, issue 11): M 16
# reached only 0.907 recall@10 at efSearch 128 on 100k (M 32: 0.939). efConstruction 128 lifts
# recall at a given efSearch (50k, ef 96: 0.971 vs 0.952 at 64) but builds 1.85x slower, and the
# build at 64 is already minutes at 1M on two cores: 64 it is.
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 64
# Search beam at one query thread (a query-time knob: not stored in the file). With M 32 / efC 64:
# 50k 0.966 at 128, 0.988 at 256; 100k 0.939 at 128, 0.968 at 256. Recall at a fixed beam falls
# with size on this spectrum, so 256 for margin; 1M is the lead's sweep (`--ef`) to confirm.
HNSW_EF_SEARCH = 256
# Rebuild at the next flush once this share of the graph's labels is dead (removed rowids).
HNSW_REBUILD_DEAD_SHARE = 0.2
# Filtered search scans the allowed vectors exactly when they are at most this many, or this
# small a share of the graph: a walk that may return only selected labels has to cover about
# k / share nodes, where an exact scan of m vectors reads m rows (~0.5 us each, one thread).
HNSW_EXACT_MAX = 4096
HNSW_EXACT_SHARE = 0.02
# The beam of a filtered walk: efSearch / share, capped here. A 20 % filter at 100k reached recall@10
# 0.960 with a beam of 320, 0.975 with 480, 0.981 with 640, 0.988 with 960 (dense_params.py --hnsw).
HNSW_FILTER_EF_MAX = 512


def _faiss() -> Any:
    return require("faiss", "index", "the embedded vector store")


@dataclass
class HnswGraph:
    """An `IndexHNSWFlat` (inner product) whose labels map to SQLite rowids, -1 once removed."""

    index: Any
    rowids: np.ndarray  # int64, one per label
    ef_search: int = HNSW_EF_SEARCH
    exact_max: int = HNSW_EXACT_MAX  # tests lower it to walk small graphs with filters
    _lookup: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)
    _live_bits: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def empty(cls, dim: int, m: int = HNSW_M, ef_construction: int = HNSW_EF_CONSTRUCTION) -> HnswGraph:
        faiss = _faiss()
        index = faiss.IndexHNSWFlat(dim, m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = ef_construction
        return cls(index, np.empty(0, np.int64))

    @property
    def live(self) -> int:
        return int(np.count_nonzero(self.rowids >= 0))

    @property
    def dead(self) -> int:
        return len(self.rowids) - self.live

    def add(self, rowids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(rowids, dtype=np.int64)
        if not len(ids):
            return
        if len(self.rowids) and ids.min() <= self.rowids.max():
            # a rowid given again keeps only its newest vector (rowids only grow in SQLite, so
            # this is skipped on the usual path and no reverse lookup is built for each add)
            self.remove(ids)
        self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        self.rowids = np.concatenate([self.rowids, ids])
        self._changed()

    def remove(self, rowids: np.ndarray) -> None:
        labels = self.labels_of(np.asarray(rowids, dtype=np.int64))
        if len(labels):
            self.rowids[labels] = -1
            self._changed()

    def labels_of(self, rowids: np.ndarray) -> np.ndarray:
        """The live labels of these rowids (unknown or removed ones left out), deduplicated."""
        if self._lookup is None:
            labels = np.flatnonzero(self.rowids >= 0)
            order = np.argsort(self.rowids[labels], kind="stable")
            self._lookup = (self.rowids[labels][order], labels[order])
        keys, labels = self._lookup
        rowids = np.unique(np.asarray(rowids, dtype=np.int64))
        at = np.minimum(np.searchsorted(keys, rowids), max(len(keys) - 1, 0))
        found = keys[at] == rowids if len(keys) else np.zeros(len(rowids), bool)
        return labels[at[found]]

    def search(
        self, vector: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-k (scores, rowids) by inner product among the live (and `allowed`) rowids.

        Never under-fills: min(k, candidates) hits. Unfiltered, and filtered by a broad filter,
        the graph is walked with a bitmap of the selected labels (a broad filter widens the beam
        by 1/share); a selective filter, or a walk that comes back short, is answered by an exact
        scan of the selected float vectors."""
        query = np.ascontiguousarray(vector, dtype=np.float32).reshape(1, -1)
        labels = None if allowed is None else self.labels_of(allowed)
        selected = self.live if labels is None else len(labels)
        want = min(k, selected)
        if want <= 0:
            return np.empty(0, np.float32), np.empty(0, np.int64)
        share = selected / max(self.index.ntotal, 1)
        if labels is not None and (selected <= self.exact_max or share < HNSW_EXACT_SHARE):
            return self._exact(query[0], want, labels)
        ef = max(self.ef_search, want)
        if labels is not None:
            ef = min(max(ef, math.ceil(self.ef_search / share)), max(HNSW_FILTER_EF_MAX, want))
        scores, found = self._walk(query, want, ef, labels)
        if len(found) < want:
            return self._exact(query[0], want, np.flatnonzero(self.rowids >= 0) if labels is None else labels)
        return scores, self.rowids[found]

    def _walk(
        self, query: np.ndarray, k: int, ef: int, labels: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        faiss = _faiss()
        bits = self._bits(labels)
        sel = None if bits is None else faiss.IDSelectorBitmap(self.index.ntotal, faiss.swig_ptr(bits))
        params = faiss.SearchParametersHNSW(sel=sel, efSearch=ef)
        scores, found = self.index.search(query, k, params=params)
        keep = found[0] >= 0
        return scores[0][keep], found[0][keep]

    def _bits(self, labels: np.ndarray | None) -> np.ndarray | None:
        """A bitmap (faiss' bit order: little) of the selected labels; None when all are."""
        if labels is not None:
            mask = np.zeros(self.index.ntotal, bool)
            mask[labels] = True
            return np.packbits(mask, bitorder="little")
        if not self.dead:
            return None
        if self._live_bits is None:
            self._live_bits = np.packbits(self.rowids >= 0, bitorder="little")
        return self._live_bits

    def _exact(self, query: np.ndarray, k: int, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Top k of `labels` by exact inner product, read from the graph's float storage in
        place (faiss, one thread for one query: numpy's BLAS would fan a product this size out
        to every core, which on a busy machine waits for all of them)."""
        faiss = _faiss()
        storage = faiss.downcast_index(self.index.storage)
        ids = np.ascontiguousarray(labels, dtype=np.int64)
        scores = np.empty(len(ids), np.float32)
        storage.compute_distance_subset(1, faiss.swig_ptr(query), len(ids), faiss.swig_ptr(scores),
                                        faiss.swig_ptr(ids))  # fmt: skip
        top = np.argsort(-scores, kind="stable")[:k]
        return scores[top], self.rowids[ids[top]]

    def _changed(self) -> None:
        self._lookup = None
        self._live_bits = None
