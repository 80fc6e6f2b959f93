"""`LocalStore`: the embedded default backend, SQLite (truth) plus FAISS (dense) and exact BM25 (keyword).

>>> store = LocalStore(Path(".omnivec"), writer=True)          # doctest: +SKIP
>>> store.ensure_collection("code", model=m, fingerprint=f, dim=384, recipe=spec.recipe())
>>> store.replace_source_all(state, {"code": records}); store.flush(); store.close()

One writer per store (an exclusive `flock`; a second gets a `StoreError` naming the holder's
pid); readers (`writer=False`) take no lock, read consistent SQLite snapshots and never block
the writer. Each write is one SQLite transaction. The FAISS indexes are persisted lazily: on
`flush()`, on `close()`, and after a write when `flush_interval` seconds have passed since the
last flush; the indexer calls `flush()` at the end of a run and may call it periodically.
Until then, readers (and a writer restarted after `kill -9`) replay SQLite's changelog onto the
last FAISS file, so nothing is lost or half-seen. One handle may be shared by threads: a
writer's calls are serialised by a lock; a reader gives each thread its own SQLite connection,
so searches run side by side and only the in-memory dense indexes are guarded.

The dense side is pluggable (`DenseBackend`; FAISS by default), and so is the keyword side
(`KeywordBackend`; exact BM25 by default, `omnivec.stores.keyword`): both are derived from
SQLite's records and changelog, which stay the source of truth, and persisted the same lazy way.
Searches and reads live in `local_search.SearchSide` (by id, and by row for `RowSearch`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.errors import InputError
from omnivec.stores import sqlite_records as sq
from omnivec.stores.base import (
    CollectionInfo,
    Record,
    SourceState,
    canonical_recipe,
    check_one_source,
    check_recipe,
)
from omnivec.stores.dense import DenseBackend, FaissDense
from omnivec.stores.failures import stamp_clean, translate
from omnivec.stores.faiss_index import HNSW_MIN_VECTORS, IVF_MIN_VECTORS, PROJ_MIN_VECTORS, SQ_MIN_VECTORS
from omnivec.stores.keyword import Bm25Keyword, KeywordBackend
from omnivec.stores.local_search import SearchSide
from omnivec.stores.sqlite_schema import DB_NAME, SCHEMA_VERSION, WriterLock, connect, has_rid_index, store_id

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 60.0


class LocalStore(SearchSide):
    """FAISS + SQLite store in one folder. See the module docstring for the concurrency model."""

    def __init__(
        self,
        path: Path | str,
        *,
        writer: bool,
        flush_interval: float | None = FLUSH_INTERVAL_S,
        ivf_min: int = IVF_MIN_VECTORS,
        sq_min: int = SQ_MIN_VECTORS,
        hnsw_min: int | None = HNSW_MIN_VECTORS,
        proj_min: int = PROJ_MIN_VECTORS,
        dense: Callable[..., DenseBackend] = FaissDense,
        keyword: Callable[..., KeywordBackend] = Bm25Keyword,
    ) -> None:
        self.path = Path(path)
        self.writer = writer
        self.flush_interval = flush_interval
        self._lock = threading.RLock()  # a writer's every call; a reader's connection list
        self._dense_lock = threading.RLock()  # the in-memory dense indexes, shared by threads
        self._keyword_lock = threading.RLock()  # the in-memory keyword indexes, likewise
        self._local = threading.local()  # a reader's connection for each thread
        self._conns: list[sqlite3.Connection] = []
        self._writer_lock: WriterLock | None = None
        try:
            with translate(self.path):
                if writer:
                    self.path.mkdir(parents=True, exist_ok=True)
                    self._writer_lock = WriterLock(self.path)
                    self._writer_lock.acquire()
                self._main = connect(self.path, writer=writer)
                self._conns.append(self._main)
                self._local.conn = self._main
                self._rid_index = has_rid_index(self._main)
                self._dense = dense(self.path, store_id(self._main), writer=writer, ivf_min=ivf_min,
                                    sq_min=sq_min, hnsw_min=hnsw_min, proj_min=proj_min)  # fmt: skip
                self._keyword = keyword(self.path, store_id(self._main), writer=writer)
                if writer:
                    self._dense.check_files(self._all_rows())
                    self._keyword.check_files(self._all_rows())
        except BaseException:
            for conn in self._conns:
                conn.close()
            if self._writer_lock is not None:
                self._writer_lock.release()
            raise
        self._last_flush = time.monotonic()
        self._closed = False

    def __enter__(self) -> LocalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- collections --------------------------------------------------------------------------

    def _infos(self, where: str = "", params: Sequence[Any] = ()) -> list[CollectionInfo]:
        rows = self._conn.execute(
            "SELECT name, model, fingerprint, dim, recipe, count, created, updated FROM collections"
            f" {where} ORDER BY name", params
        )  # fmt: skip
        return [CollectionInfo(n, m, f, d, json.loads(r), c, cr, u) for n, m, f, d, r, c, cr, u in rows]

    def ensure_collection(
        self, name: str, *, model: str, fingerprint: str, dim: int, recipe: Mapping[str, Any]
    ) -> CollectionInfo:
        """Create the collection, or check that the existing one has this recipe (idempotent)."""
        with self._read():
            found = self._infos("WHERE name = ?", (name,))
        if not found:
            if dim <= 0:
                raise InputError(received=f"dim {dim}", expected="a positive vector size",
                                 fix="pass the encoder's dim")  # fmt: skip
            with self._write():
                now = time.time()
                self._conn.execute(
                    "INSERT INTO collections (name, model, fingerprint, dim, recipe, created, updated)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                    (name, model, fingerprint, dim, json.dumps(canonical_recipe(recipe)), now, now),
                )
                found = self._infos("WHERE name = ?", (name,))
        check_recipe(found[0], fingerprint=fingerprint, recipe=recipe, dim=dim, what=f"model {model}")
        return found[0]

    def collections(self) -> list[CollectionInfo]:
        with self._read():
            return self._infos()

    def check_query(self, collection: str, *, fingerprint: str, recipe: Mapping[str, Any]) -> None:
        with self._read():
            self._row(collection)
            info = self._infos("WHERE name = ?", (collection,))[0]
        check_recipe(info, fingerprint=fingerprint, recipe=recipe, dim=None, what="a query encoded")

    def drop_collection(self, name: str) -> None:
        """Delete a collection. Sources that had records in it get an empty content hash, so the
        next indexing run re-indexes them (into whichever collections they belong to now)."""
        with self._write():
            cid = self._row(name).cid
            self._conn.execute(
                "UPDATE sources SET content_hash = '' WHERE source IN (SELECT source FROM records WHERE cid = ?)",
                (cid,),
            )
            for table in ("tokens", "vectors", "pending"):
                self._conn.execute(
                    f"DELETE FROM {table} WHERE rid IN (SELECT rid FROM records WHERE cid = ?)", (cid,)
                )
            for table in ("records", "changes", "collections"):
                self._conn.execute(f"DELETE FROM {table} WHERE cid = ?", (cid,))
            self._conn.execute(
                "UPDATE sources SET chunks = (SELECT COUNT(*) FROM records r WHERE r.source = sources.source)"
                " WHERE content_hash = ''"
            )
        self._dense.forget(cid)
        self._keyword.forget(cid)

    # -- sources ------------------------------------------------------------------------------

    def replace_source(self, collection: str, state: SourceState, records: Sequence[Record]) -> None:
        """Atomically replace the source's records in `collection` (others untouched) and its state."""
        self._write_source(state, {collection: records}, drop_others=False)

    def replace_source_all(self, state: SourceState, by_collection: Mapping[str, Sequence[Record]]) -> None:
        """Atomically make `by_collection` the source's only records, in every collection."""
        self._write_source(state, by_collection, drop_others=True)

    def _write_source(
        self, state: SourceState, by_collection: Mapping[str, Sequence[Record]], drop_others: bool
    ) -> None:
        check_one_source(state, by_collection)
        with self._write():
            targets = {
                row.cid: (row, recs) for row, recs in ((self._row(n), r) for n, r in by_collection.items())
            }
            sq.upsert_source(self._conn, state)
            cids = set(targets)
            if drop_others:
                cids |= set(sq.source_cids(self._conn, state.source))
            rows = {r.cid: r for r in self._all_rows()}
            for cid in sorted(cids):
                row, recs = targets.get(cid, (rows[cid], ()))
                gen = row.generation + 1
                reuse = (
                    sq.reusable_vectors(self._conn, cid, state.source)
                    if any(map(sq.is_pending, recs))
                    else None
                )
                removed = sq.delete_records(self._conn, cid, state.source, gen)
                sq.insert_records(self._conn, cid, row.dim, recs, gen, reuse)
                if removed or recs:
                    sq.bump(self._conn, cid, gen, len(recs) - removed)
            sq.recount_source(self._conn, state.source)
        self._maybe_flush()

    def touch_source(self, state: SourceState) -> None:
        """Update a source's state (e.g. a new mtime, same content) without touching records."""
        with self._write():
            sq.upsert_source(self._conn, state)
            sq.recount_source(self._conn, state.source)

    def remove_source(self, source: str) -> None:
        """Delete a source's records from every collection, and its state."""
        with self._write():
            rows = {r.cid: r for r in self._all_rows()}
            for cid in sq.source_cids(self._conn, source):
                gen = rows[cid].generation + 1
                removed = sq.delete_records(self._conn, cid, source, gen)
                sq.bump(self._conn, cid, gen, -removed)
            self._conn.execute("DELETE FROM sources WHERE source = ?", (source,))
        self._maybe_flush()

    # -- vectors later (`PendingVectors`) --------------------------------------------------------

    def pending(self, collection: str, limit: int, offset: int = 0) -> list[Record]:
        """Records of `collection` written without a vector, oldest first (see `PendingVectors`)."""
        with self._read():
            return sq.pending_records(self._conn, self._row(collection).cid, limit, offset)

    def set_vectors(self, collection: str, vectors: Mapping[str, np.ndarray]) -> int:
        """Fill in pending records by id in one transaction (one new generation); others are ignored."""
        with self._write():
            row = self._row(collection)
            done = sq.set_vectors(self._conn, row.cid, row.dim, vectors, row.generation + 1)
            if done:
                sq.bump(self._conn, row.cid, row.generation + 1, 0)
        self._maybe_flush()
        return done

    def pending_counts(self) -> dict[str, int]:
        with self._read():
            counts = sq.pending_counts(self._conn)
            return {r.name: counts.get(r.cid, 0) for r in self._all_rows()}

    def sources(self) -> dict[str, SourceState]:
        with self._read():
            rows = self._conn.execute(
                "SELECT source, content_hash, size, mtime_ns, chunks, status FROM sources"
            ).fetchall()
        return {r[0]: SourceState(*r) for r in rows}

    # -- lifecycle ----------------------------------------------------------------------------

    def flush(self) -> None:
        """Persist every changed derived index (FAISS, BM25) and prune the changelog they cover (writer only)."""
        if not self.writer:
            return
        with self._lock:
            self._check_open()
            with self._read():
                rows = self._all_rows()
            for row in rows:  # the writer holds the lock: nothing changes between these steps
                with self._read(), self._dense_lock:
                    self._dense.flush(self._conn, row)
                with self._read(), self._keyword_lock:
                    self._keyword.flush(self._conn, row)
                if row.pruned_gen < row.generation:  # the files now cover the changelog up to here
                    with self._write():
                        self._conn.execute(
                            "DELETE FROM changes WHERE cid = ? AND generation <= ?", (row.cid, row.generation)
                        )
                        self._conn.execute(
                            "UPDATE collections SET pruned_gen = ? WHERE cid = ?", (row.generation, row.cid)
                        )
            self._last_flush = time.monotonic()

    def _maybe_flush(self) -> None:
        if self.flush_interval is not None and time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()

    def stats(self) -> dict[str, Any]:
        with self._read():
            rows = self._all_rows()
            n_sources = self._conn.execute("SELECT COUNT(*) FROM sources").fetchone()[0]
            pending = sq.pending_counts(self._conn)
        files = [*self.path.glob("omnivec.sqlite*"), *self._dense.files(), *self._keyword.files()]
        return {
            "backend": "local", "path": str(self.path), "writer": self.writer,
            "schema_version": SCHEMA_VERSION, "sources": n_sources,
            "records": sum(r.count for r in rows), "bytes": sum(f.stat().st_size for f in files if f.exists()),
            "keyword": [self._keyword.engine] if rows else [],
            "collections": {r.name: {"count": r.count, "pending": pending.get(r.cid, 0), "dim": r.dim,
                                     "generation": r.generation,
                                     **self._dense.describe(r.cid), **self._keyword.describe(r.cid)}
                            for r in rows},
        }  # fmt: skip

    def close(self) -> None:
        """Flush (writer), close the database and release the writer lock. Idempotent."""
        with self._lock:
            if self._closed:
                return
            flushed = False
            try:
                if self.writer:
                    self.flush()
                    flushed = True
            finally:
                self._closed = True
                for conn in self._conns:
                    with contextlib.suppress(sqlite3.Error):  # a failed checkpoint: the WAL stays
                        conn.close()
                if flushed:  # the file as this clean close leaves it needs no check at next open
                    stamp_clean(self.path, self.path / DB_NAME)
                if self._writer_lock is not None:
                    self._writer_lock.release()
