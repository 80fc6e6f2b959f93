"""Keeps each collection's FAISS index in step with SQLite: load, replay, rebuild, persist.

An in-memory index at generation g is brought to the snapshot's generation G by replaying the
changelog (g, G]; that needs g >= pruned_gen, since older entries are pruned once a FAISS file
covering them is on disk. Otherwise the file is loaded (stamp s, same replay from s), and when
neither works (file missing, unreadable, from another store) the index is rebuilt from the
vectors in SQLite. Records without a vector yet (progressive indexing) are skipped; the 'vec'
op that fills one in adds it. So a crash between a SQLite commit and a FAISS write costs a replay, and
`kill -9` at any point leaves nothing a reader could see half-written. The lifecycle (load, check,
replay, rebuild, flush, forget) is shared with the keyword side: `omnivec.stores.derived`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from omnivec.errors import InputError
from omnivec.stores import sqlite_records as sq
from omnivec.stores.dense_file import load_index, read_stamp, save_index
from omnivec.stores.derived import (
    DerivedIndexes,
    NewerOnDiskError,  # noqa: F401  (its home before derived.py)
)
from omnivec.stores.faiss_index import (
    HNSW_MIN_VECTORS,
    IVF_KEEP_FRACTION,
    IVF_MIN_VECTORS,
    IVF_RETRAIN_GROWTH,
    PROJ_MIN_VECTORS,
    SQ_MIN_VECTORS,
    DenseIndex,
    IndexKind,
)
from omnivec.stores.hnsw_index import HNSW_REBUILD_DEAD_SHARE

log = logging.getLogger(__name__)

_REBUILD_BATCH = 16_384  # rows per fetch when rebuilding: bounds peak memory to the index itself


@dataclass(frozen=True)
class CollectionRow:
    """A collection as one SQLite snapshot sees it."""

    cid: int
    name: str
    dim: int
    count: int
    generation: int
    pruned_gen: int


class DenseBackend(Protocol):
    """The dense side of a store handle: serves each collection's vectors, derived from SQLite.

    SQLite (records, vectors, changelog with generations) is the truth; a backend brings its own
    view to a snapshot's generation (`row.generation`) before answering, persists on `flush`,
    and checks what it finds on disk when a writer opens (`check_files`). Calls come under the
    store's dense lock, with `conn` inside a read transaction.
    """

    def search(
        self,
        conn: sqlite3.Connection,
        row: CollectionRow,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        *,
        force: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rowids) of the top k by inner product; `allowed` restricts the rowids."""
        ...  # fmt: skip

    def flush(self, conn: sqlite3.Connection, row: CollectionRow) -> bool: ...

    def check_files(self, rows: list[CollectionRow]) -> None: ...

    def forget(self, cid: int) -> None: ...

    def describe(self, cid: int) -> dict[str, Any]: ...

    def files(self) -> list[Path]: ...


class FaissDense(DerivedIndexes[DenseIndex]):
    """The default `DenseBackend`: in-memory FAISS indexes, one per collection, loaded lazily
    and persisted as files under `dense/`."""

    suffix, label = ".faiss", "dense"

    def __init__(
        self,
        root: Path,
        store_id: str,
        *,
        writer: bool,
        ivf_min: int = IVF_MIN_VECTORS,
        sq_min: int = SQ_MIN_VECTORS,
        hnsw_min: int | None = HNSW_MIN_VECTORS,
        proj_min: int = PROJ_MIN_VECTORS,
    ) -> None:
        super().__init__(root / "dense", store_id, writer=writer)
        self.writer = writer
        self.ivf_min = ivf_min
        self.sq_min = max(sq_min, ivf_min)  # the codes ride on IVF lists
        self.proj_min = max(proj_min, self.sq_min)  # ivf-sq8 with projected codes, from this size
        # the kinds stay in order of size; None: never an hnsw graph (an existing one steps down)
        self.hnsw_min = None if hnsw_min is None else max(hnsw_min, self.sq_min)
        self._unusable: set[tuple[int, int, int]] = set()  # (cid, size, mtime) already reported

    def search(
        self,
        conn: sqlite3.Connection,
        row: CollectionRow,
        query: np.ndarray,
        k: int,
        allowed: np.ndarray | None,
        *,
        force: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.current(conn, row, force=force).search(query, k, allowed)  # fmt: skip

    def stamp(self, row: CollectionRow) -> dict[str, Any]:
        return {"store": self.store_id, "cid": row.cid, "dim": row.dim}

    def _read(self, row: CollectionRow) -> tuple[dict[str, Any], DenseIndex] | None:
        """The file's header and index, or None. An unusable file is reported once per handle; a
        writer forgets it was saved, so its next flush writes a good one."""
        path = self.path(row.cid)
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        seen = (row.cid, st.st_size, st.st_mtime_ns)
        got = load_index(path, warn=seen not in self._unusable)
        if got is None:
            self._unusable.add(seen)
            self._saved.pop(row.cid, None)
        return got

    def _read_stamp(self, path: Path) -> dict[str, Any] | None:
        return read_stamp(path)

    def _replay(self, conn: sqlite3.Connection, row: CollectionRow, dense: DenseIndex) -> DenseIndex:
        t0, start = time.perf_counter(), dense.generation
        args = (row.cid, start, row.generation)
        dels = [r for (r,) in conn.execute(
            "SELECT rid FROM changes WHERE cid = ? AND generation > ? AND generation <= ? AND op = 'del'", args
        )]  # fmt: skip
        # 'vec' fills in a record added without a vector; a rid may be logged as both 'add' and
        # 'vec' in one range, and it joins the index once, with the vector the snapshot holds
        adds = conn.execute(
            "SELECT v.rid, v.vector FROM vectors v WHERE v.rid IN (SELECT ch.rid FROM changes ch"
            " WHERE ch.cid = ? AND ch.generation > ? AND ch.generation <= ? AND ch.op IN ('add', 'vec'))",
            args,
        )
        if dels:
            dense.remove(np.asarray(dels, dtype=np.int64))
        self._add_rows(dense, adds, row.dim)
        dense.generation = row.generation
        self._mem[row.cid] = dense
        log.debug("replayed %s generations %d..%d in %.3fs", row.name, start, row.generation,
                  time.perf_counter() - t0)  # fmt: skip
        return dense

    def _rebuild(self, conn: sqlite3.Connection, row: CollectionRow) -> DenseIndex:
        t0 = time.perf_counter()
        dense = DenseIndex.flat(row.dim, row.generation)
        self._add_rows(dense, sq.collection_vectors(conn, row.cid), row.dim)
        self._mem[row.cid] = dense
        log.info("rebuilt the dense index of %s (%d vectors) from SQLite in %.2fs", row.name, dense.ntotal,
                 time.perf_counter() - t0)  # fmt: skip
        return dense

    @staticmethod
    def _add_rows(dense: DenseIndex, cursor: sqlite3.Cursor, dim: int) -> None:
        while batch := cursor.fetchmany(_REBUILD_BATCH):
            dense.add(*sq.stack(batch, dim))

    def _save(self, path: Path, dense: DenseIndex, stamp: dict[str, Any]) -> None:
        t0 = time.perf_counter()
        save_index(path, dense, stamp)  # looked up here at each call: the crash test wraps it
        log.debug("wrote %s (%s, %d vectors) in %.2fs", path, dense.kind, dense.ntotal,
                  time.perf_counter() - t0)  # fmt: skip

    def target_kind(self, kind: IndexKind, n: int) -> IndexKind:
        """The kind an index of `kind` holding `n` vectors should be: the largest whose threshold
        `n` reaches; a step down only below IVF_KEEP_FRACTION of a threshold (no flip-flopping)."""
        kinds: list[tuple[IndexKind, int]] = [("flat", 0), ("ivf", self.ivf_min), ("ivf-sq8", self.sq_min)]
        if self.hnsw_min is None or self.proj_min < self.hnsw_min:  # an opted-in graph comes first
            kinds.append(("ivf-sq8-proj", self.proj_min))
        if self.hnsw_min is not None:
            kinds.append(("hnsw", self.hnsw_min))
        names = [name for name, _ in kinds]
        rank = names.index(kind) if kind in names else len(kinds)  # a kind no longer wanted: above all
        up = max(i for i, (_, least) in enumerate(kinds) if n >= least)
        if up >= rank:
            return kinds[up][0]
        keep = [i for i, (_, least) in enumerate(kinds[: rank + 1]) if n >= least * IVF_KEEP_FRACTION]
        return kinds[max(keep)][0]

    def _reshape(self, conn: sqlite3.Connection, row: CollectionRow, dense: DenseIndex) -> DenseIndex | None:
        """An index of the kind better suited to the collection's size, or None to keep `dense`."""
        n = dense.ntotal
        kind = self.target_kind(dense.kind, n)
        grown = dense.is_ivf and n > IVF_RETRAIN_GROWTH * max(dense.trained_on, 1)
        # an HNSW graph needs no retraining as it grows, only a rebuild once tombstones pile up
        worn = dense.graph is not None and dense.graph.dead > HNSW_REBUILD_DEAD_SHARE * dense.index.ntotal
        if kind == dense.kind and not ((grown or worn) and kind != "flat"):
            return None
        rids, vecs = sq.stack(sq.collection_vectors(conn, row.cid), row.dim)
        t0 = time.perf_counter()
        if kind == "hnsw":
            new = DenseIndex.hnsw(vecs, rids, row.dim, row.generation)
        elif kind == "ivf-sq8-proj":
            new = DenseIndex.ivf_sq8_proj(vecs, rids, row.dim, row.generation)
        elif kind == "ivf-sq8":
            new = DenseIndex.ivf_sq8(vecs, rids, row.dim, row.generation)
        elif kind == "ivf":
            new = DenseIndex.ivf(vecs, rids, row.dim, row.generation)
        else:
            new = DenseIndex.flat(row.dim, row.generation)
            new.add(rids, vecs)
        log.info("dense index of %s: %s -> %s at %d vectors (%.1fs)", row.name, dense.kind, kind, n,
                 time.perf_counter() - t0)  # fmt: skip
        self._mem[row.cid] = new
        return new

    def describe(self, cid: int) -> dict[str, Any]:
        mem = self._mem.get(cid)
        head = read_stamp(self.path(cid))
        out: dict[str, Any] = {"persisted_generation": head["generation"] if head else None}
        if head is not None:
            out.update(kind=head["kind"], ntotal=head["ntotal"])
        if mem is not None:
            out.update(kind=mem.kind, ntotal=mem.ntotal, nlist=mem.nlist, loaded_generation=mem.generation)
            if mem.graph is not None:
                out.update(ef_search=mem.graph.ef_search, removed_in_graph=mem.graph.dead)
        return out


def query_vector(vector: np.ndarray, dim: int) -> np.ndarray:
    """The query as a finite float32 vector of the collection's dim, or an `InputError`."""
    q = np.asarray(vector, dtype=np.float32).reshape(-1)
    if q.shape != (dim,) or not np.all(np.isfinite(q)):
        raise InputError(
            received=f"a query vector of shape {np.shape(vector)}",
            expected=f"a finite vector of shape ({dim},), the collection's dim",
            fix="encode the query with the collection's model (check_query tells which)",
        )
    return q
