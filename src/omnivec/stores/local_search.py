"""The search side of `LocalStore`: dense and keyword lists (by id, or by row in one snapshot
for `RowSearch`), records by id, and hit fields by row.

Rows are SQLite rowids of `records`: AUTOINCREMENT, so a row names one version of one record
for ever (a rewritten record gets a new row, a deleted row is never reused). That is what lets a
searcher fuse rows from one snapshot and look up only the shown hits in a later one: a row is
there with the record it named, or it is gone and the hit is skipped.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from omnivec.errors import InputError
from omnivec.stores import sqlite_records as sq
from omnivec.stores.base import Filter, Record, RowLists
from omnivec.stores.bm25 import analyse
from omnivec.stores.dense import CollectionRow, DenseBackend, query_vector
from omnivec.stores.keyword import KeywordBackend
from omnivec.stores.local_tx import SqliteHandle

log = logging.getLogger(__name__)
T = TypeVar("T")

_COLLECTION_COLUMNS = "cid, name, dim, count, generation, pruned_gen"
_NO_ROWS: tuple[np.ndarray, np.ndarray] = (np.empty(0, np.int64), np.empty(0, np.float64))


class SearchSide(SqliteHandle):
    """Searches and reads of `LocalStore`; `LocalStore.__init__` sets these attributes."""

    _dense: DenseBackend
    _keyword: KeywordBackend
    _dense_lock: threading.RLock
    _keyword_lock: threading.RLock
    _rid_index: bool

    # -- collections as a snapshot sees them ----------------------------------------------------

    def _all_rows(self) -> list[CollectionRow]:
        rows = self._conn.execute(f"SELECT {_COLLECTION_COLUMNS} FROM collections ORDER BY cid")
        return [CollectionRow(*r) for r in rows]

    def _row(self, name: str) -> CollectionRow:
        r = self._conn.execute(
            f"SELECT {_COLLECTION_COLUMNS} FROM collections WHERE name = ?", (name,)
        ).fetchone()
        if r is None:
            known = ", ".join(c.name for c in self._all_rows()) or "none yet"
            raise InputError(received=f"collection {name!r}", expected=f"one of: {known}",
                             fix="index into that collection first, or pick an existing one")  # fmt: skip
        return CollectionRow(*r)

    def _allowed(self, row: CollectionRow, flt: Filter | None) -> np.ndarray | None:
        """Filters run in SQLite (covering indexes) and reach FAISS and BM25 as allowed rowids."""
        if flt is None or flt.is_empty:
            return None
        return sq.allowed_rids(self._conn, row.cid, flt)

    # -- by id (`VectorStore`) ------------------------------------------------------------------

    def dense_search(
        self, collection: str, vector: np.ndarray, k: int, flt: Filter | None = None
    ) -> list[tuple[str, float]]:
        """Top-k (id, inner product). A filter never under-fills: all matches up to k come back."""
        if k <= 0:
            return []
        return self._snapshot(
            lambda force: self._named(self._lists(collection, vector, [], k, flt, force).dense)
        )

    def keyword_search(
        self, collection: str, query: str, k: int, flt: Filter | None = None
    ) -> list[tuple[str, float]]:
        """Top-k (id, BM25) over code-aware tokens, query terms OR-ed; exact (every term counts).
        A filter never under-fills: it restricts the documents inside the BM25 index."""
        tokens = analyse(query)
        if k <= 0 or not tokens:
            return []
        return self._snapshot(
            lambda force: self._named(self._lists(collection, None, tokens, k, flt, force).keyword)
        )

    def keyword_engine(self, collection: str) -> str:
        """The keyword backend's name (`omnivec-bm25` by default); the same for every collection."""
        return self._keyword.engine

    def _named(self, found: tuple[np.ndarray, np.ndarray]) -> list[tuple[str, float]]:
        rids, scores = found
        ids = sq.ids_for(self._conn, rids.tolist(), rid_index=self._rid_index)
        missing = [int(r) for r in rids if int(r) not in ids]
        if missing:  # would mean FAISS and SQLite disagree; never expected
            log.warning("dense index returned %d rowids unknown to SQLite: %s", len(missing), missing[:5])
        return [(ids[int(r)], float(s)) for r, s in zip(rids, scores) if int(r) in ids]

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> dict[str, Record]:
        """Records by id (unknown ids are left out). Vectors are empty arrays unless `with_vectors`."""
        with self._read():
            return {r.id: r for r in sq.record_rows(self._conn, ids, with_vectors)}

    # -- by row (`RowSearch`) -------------------------------------------------------------------

    def search_rows(
        self, collection: str, vector: np.ndarray | None, text: str | None, k: int, flt: Filter | None = None
    ) -> RowLists:
        """Both lists of `collection` as rows, in one snapshot (see `RowSearch`)."""
        tokens = analyse(text) if text else []
        if k <= 0 or (vector is None and not tokens):
            return RowLists(_NO_ROWS, _NO_ROWS)
        return self._snapshot(lambda force: self._lists(collection, vector, tokens, k, flt, force))

    def _lists(
        self,
        collection: str,
        vector: np.ndarray | None,
        tokens: list[str],
        k: int,
        flt: Filter | None,
        force: bool,
    ) -> RowLists:
        """Inside a snapshot: the dense list when `vector`, the keyword list when `tokens`; the
        collection row and the filter's allowed rowids are read once for both."""
        row = self._row(collection)
        query = None if vector is None else query_vector(vector, row.dim)
        allowed = self._allowed(row, flt)
        if allowed is not None and len(allowed) == 0:
            return RowLists(_NO_ROWS, _NO_ROWS)
        dense = keyword = _NO_ROWS
        if query is not None:
            with self._dense_lock:
                scores, rids = self._dense.search(self._conn, row, query, k, allowed, force=force)
            dense = (rids, scores)
        if tokens:
            with self._keyword_lock:
                scores, rids = self._keyword.search(self._conn, row, tokens, k, allowed, force=force)
            keyword = (rids, scores)
        return RowLists(dense, keyword)

    def row_ids(self, rows: Sequence[int]) -> dict[int, str]:
        """Record ids of rows (rows of deleted records are left out)."""
        return self._reading(lambda: sq.ids_for(self._conn, rows, rid_index=self._rid_index))

    def hit_rows(self, rows: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """(id, fields) of rows, without text or vector (rows of deleted records are left out)."""
        return self._reading(lambda: sq.hit_fields(self._conn, rows))

    def _reading(self, fn: Callable[[], T]) -> T:
        with self._read():
            return fn()
