"""Keeps each collection's keyword index in step with SQLite: load, replay, rebuild, persist.

The same lifecycle as the dense side (`omnivec.stores.derived`): SQLite holds every record's
tokens (table `tokens`, written in the record's transaction) and the changelog; the keyword index
of a collection is derived from them. An in-memory index at generation g is brought to a
snapshot's generation G by replaying the changelog (g, G]; otherwise the file `keyword/<cid>.bm25`
is loaded (its header names its generation) and replayed, and when neither works the index is
rebuilt from SQLite. Files are written atomically (temp file, fsync, rename), so `kill -9` at any
point leaves either the old file or the new one, and SQLite's changelog covers whatever the file
lacks. This module holds the replay and rebuild from SQLite and the file format.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import numpy as np

from omnivec.stores.bm25 import Bm25Index
from omnivec.stores.dense import CollectionRow
from omnivec.stores.derived import DerivedIndexes
from omnivec.stores.index_files import header_bytes, split_header, write_atomic
from omnivec.stores.index_files import read_stamp as read_index_stamp

log = logging.getLogger(__name__)

_MAGIC = b"OMNIVEC-BM25\x01"
_BATCH = 16_384  # rows per fetch when rebuilding
_ALIGN = 8  # byte alignment of the payload and of each array in a file
ENGINE = "omnivec-bm25"  # what results and status call this engine (`VectorStore.keyword_engine`)
_ARRAYS = ("rids", "lengths", "alive", "df", "ptr", "post_doc", "post_tf", "doc_ptr", "doc_terms")


class KeywordBackend(Protocol):
    """The keyword side of a store handle, derived from SQLite like `DenseBackend` (same calls,
    same locking: under the store's keyword lock, `conn` inside a read transaction).

    `engine` is the name search results and `stats()` give it (`VectorStore.keyword_engine`)."""

    engine: str

    def search(
        self,
        conn: sqlite3.Connection,
        row: CollectionRow,
        tokens: Sequence[str],
        k: int,
        allowed: np.ndarray | None,
        *,
        force: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rowids) of the top k by BM25; `allowed` restricts the rowids."""
        ...  # fmt: skip

    def flush(self, conn: sqlite3.Connection, row: CollectionRow) -> bool: ...

    def check_files(self, rows: list[CollectionRow]) -> None: ...

    def forget(self, cid: int) -> None: ...

    def describe(self, cid: int) -> dict[str, Any]: ...

    def files(self) -> list[Path]: ...


class Bm25Keyword(DerivedIndexes[Bm25Index]):
    """The default `KeywordBackend`: exact BM25 (`Bm25Index`) per collection, files under `keyword/`."""

    suffix, label = ".bm25", "keyword"
    engine = ENGINE

    def __init__(self, root: Path, store_id: str, *, writer: bool) -> None:
        super().__init__(root / "keyword", store_id, writer=writer)

    def search(
        self,
        conn: sqlite3.Connection,
        row: CollectionRow,
        tokens: Sequence[str],
        k: int,
        allowed: np.ndarray | None,
        *,
        force: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.current(conn, row, force=force).search(tokens, k, allowed)

    def _read(self, row: CollectionRow) -> tuple[dict[str, Any], Bm25Index] | None:
        return load_index(self.path(row.cid))

    def _read_stamp(self, path: Path) -> dict[str, Any] | None:
        return read_stamp(path)

    def _replay(self, conn: sqlite3.Connection, row: CollectionRow, index: Bm25Index) -> Bm25Index:
        args = (row.cid, index.generation, row.generation)
        dels = [r for (r,) in conn.execute(
            "SELECT rid FROM changes WHERE cid = ? AND generation > ? AND generation <= ? AND op = 'del'", args
        )]  # fmt: skip
        adds = conn.execute(
            "SELECT t.rid, t.tokens FROM changes ch JOIN tokens t ON t.rid = ch.rid"
            " WHERE ch.cid = ? AND ch.generation > ? AND ch.generation <= ? AND ch.op = 'add' ORDER BY t.rid",
            args,
        )
        try:
            index.remove(np.asarray(dels, dtype=np.int64))
            _add_rows(index, adds)
        except ValueError as exc:  # rowids out of order: never expected, and a rebuild fixes it
            log.warning("keyword index of %s could not replay (%s); rebuilding", row.name, exc)
            return self._rebuild(conn, row)
        index.generation = row.generation
        self._mem[row.cid] = index
        return index

    def _rebuild(self, conn: sqlite3.Connection, row: CollectionRow) -> Bm25Index:
        t0 = time.perf_counter()
        index = Bm25Index(row.generation)
        _add_rows(index, conn.execute(
            "SELECT t.rid, t.tokens FROM records r JOIN tokens t ON t.rid = r.rid WHERE r.cid = ? ORDER BY r.rid",
            (row.cid,),
        ))  # fmt: skip
        index.merge()
        self._mem[row.cid] = index
        log.info("rebuilt the keyword index of %s (%d records) from SQLite in %.2fs", row.name, index.ntotal,
                 time.perf_counter() - t0)  # fmt: skip
        return index

    def _reshape(self, conn: sqlite3.Connection, row: CollectionRow, index: Bm25Index) -> Bm25Index | None:
        """`index` compacted in place when enough of it is dead, else None."""
        return index if index.compact() else None

    def _save(self, path: Path, index: Bm25Index, stamp: dict[str, Any]) -> None:
        save_index(path, index, stamp)

    def describe(self, cid: int) -> dict[str, Any]:
        head = read_stamp(self.path(cid))
        mem = self._mem.get(cid)
        out: dict[str, Any] = {
            "keyword": self.engine,
            "keyword_persisted_generation": head["generation"] if head else None,
        }
        if mem is not None:
            out.update(keyword_loaded_generation=mem.generation, keyword_terms=len(mem.vocab))
        return out


def _add_rows(index: Bm25Index, cursor: sqlite3.Cursor) -> None:
    while batch := cursor.fetchmany(_BATCH):
        index.add(np.fromiter((r for r, _ in batch), np.int64, len(batch)), [t.split() for _, t in batch])


# -- files ------------------------------------------------------------------------------------


def save_index(path: Path, index: Bm25Index, stamp: dict[str, Any]) -> None:
    """Write atomically: a reader sees the old file or the new one, never a torn one."""
    index.merge()
    vocab = "\n".join(index.vocab).encode()
    arrays = [np.ascontiguousarray(getattr(index, name)) for name in _ARRAYS]
    layout: list[list[Any]] = []
    starts: list[int] = []
    offset = len(vocab)
    for name, a in zip(_ARRAYS, arrays):
        offset += -offset % _ALIGN  # aligned arrays: numpy copies unaligned ones per call (7x slower)
        layout.append([name, a.dtype.str, len(a), offset])
        starts.append(offset)
        offset += a.nbytes
    head = {**stamp, "generation": index.generation, "live": index.live,
            "live_tokens": index.live_tokens, "vocab_bytes": len(vocab), "arrays": layout,
            "payload_bytes": offset}  # fmt: skip

    def write(f: IO[bytes]) -> None:
        f.write(header_bytes(_MAGIC, head, align=_ALIGN) + vocab)  # the payload starts aligned too
        written = len(vocab)
        for at, a in zip(starts, arrays):
            f.write(b"\0" * (at - written) + a.tobytes())
            written = at + a.nbytes

    write_atomic(path, write)


def load_index(path: Path) -> tuple[dict[str, Any], Bm25Index] | None:
    """The index and its header, or None when the file is missing or unreadable (then rebuild)."""
    try:
        with open(path, "rb") as f:
            data = bytearray(f.read())  # writable: arrays below are views that deletions update
    except FileNotFoundError:
        return None
    try:
        head, base = split_header(data, _MAGIC)
        index = Bm25Index(head["generation"])
        text = bytes(data[base : base + head["vocab_bytes"]]).decode()
        terms = text.split("\n") if text else []
        index.vocab = dict(zip(terms, range(len(terms))))
        for name, dtype, count, offset in head["arrays"]:
            a = np.frombuffer(data, dtype=np.dtype(dtype), count=count, offset=base + offset)
            setattr(index, name, a if a.flags.aligned else a.copy())  # files written before alignment
        index.live, index.live_tokens = head["live"], head["live_tokens"]
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError) as exc:
        log.warning("ignoring unreadable keyword index %s (%s); it will be rebuilt", path, exc)
        return None
    return head, index


def read_stamp(path: Path) -> dict[str, Any] | None:
    """Only the header of a saved index (`index_files.read_stamp`)."""
    return read_index_stamp(path, _MAGIC)
