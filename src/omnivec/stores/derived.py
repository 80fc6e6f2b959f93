"""The lifecycle of an index derived from SQLite, one per collection: the dense (FAISS,
`omnivec.stores.dense`) and the keyword (BM25, `omnivec.stores.keyword`) sides share it.

SQLite holds the truth (records, vectors, tokens) and a changelog with generations. An in-memory
index at generation g is brought to a snapshot's generation G by replaying the changelog (g, G];
that needs g >= pruned_gen, since older entries are pruned once a file covering them is on disk.
Otherwise the collection's file is loaded (its header stamps the store, the collection and the
generation), and replayed the same way from there; when neither works (file missing, unreadable,
another store's) the index is rebuilt from SQLite. A writer persists the index on `flush` (each
kind saves atomically: temp file, fsync, rename), and at open deletes the files the database does
not vouch for. So `kill -9` at any point leaves the old file or the new one, and the changelog
covers whatever the file lacks.

A kind supplies its file suffix, how to read, stamp, replay, rebuild, reshape and save its index.
"""

from __future__ import annotations

import logging
import sqlite3
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from omnivec.stores.dense import CollectionRow

log = logging.getLogger(__name__)


class Generational(Protocol):
    generation: int  # the collection generation the index reflects


IndexT = TypeVar("IndexT", bound=Generational)


class NewerOnDiskError(Exception):
    """The index file is newer than this reader's snapshot: start a new snapshot and retry."""


class DerivedIndexes(ABC, Generic[IndexT]):
    """Each collection's index, kept in memory and as `<dir>/<cid><suffix>` (see the module
    docstring); `label` names the kind in log messages."""

    suffix: str
    label: str

    def __init__(self, folder: Path, store_id: str, *, writer: bool) -> None:
        self.dir = folder
        self.store_id = store_id
        self._mem: dict[int, IndexT] = {}
        self._saved: dict[int, int] = {}  # cid -> generation of the file on disk (writer only)
        if writer:
            self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, cid: int) -> Path:
        return self.dir / f"{cid}{self.suffix}"

    def files(self) -> list[Path]:
        return sorted(self.dir.glob(f"*{self.suffix}"))

    def stamp(self, row: CollectionRow) -> dict[str, Any]:
        """What a file's header must say for it to be this collection's."""
        return {"store": self.store_id, "cid": row.cid}

    def current(self, conn: sqlite3.Connection, row: CollectionRow, *, force: bool = False) -> IndexT:
        """The index at exactly `row.generation`; `conn` must be inside a read transaction.

        Raises `NewerOnDiskError` (unless `force`) when only a file newer than the snapshot is usable.
        """
        mem = self._mem.get(row.cid)
        if mem is not None and mem.generation == row.generation:
            return mem
        if mem is not None and row.pruned_gen <= mem.generation < row.generation:
            return self._replay(conn, row, mem)
        loaded = self._load(row)
        if loaded is not None and row.pruned_gen <= loaded.generation <= row.generation:
            return self._replay(conn, row, loaded)
        if loaded is not None and loaded.generation > row.generation and not force:
            raise NewerOnDiskError(row.name)
        return self._rebuild(conn, row)

    def _load(self, row: CollectionRow) -> IndexT | None:
        """The file's index if it is this collection's, else None."""
        got = self._read(row)
        if got is None:  # missing or unreadable: the next flush must write it, whatever was saved
            self._saved.pop(row.cid, None)
            return None
        head, index = got
        if any(head.get(k) != v for k, v in self.stamp(row).items()):
            log.warning(
                "%s index %s belongs to another store or collection; rebuilding",
                self.label,
                self.path(row.cid),
            )
            return None
        self._saved[row.cid] = index.generation
        return index

    def flush(self, conn: sqlite3.Connection, row: CollectionRow) -> bool:
        """Writer: persist the index at `row.generation` (reshaped if it asks). True if written."""
        if self._saved.get(row.cid) == row.generation and row.cid not in self._mem:
            return False
        index = self.current(conn, row, force=True)
        reshaped = self._reshape(conn, row, index)
        if reshaped is None and self._saved.get(row.cid) == row.generation:
            return False
        self._save(self.path(row.cid), reshaped if reshaped is not None else index, self.stamp(row))
        self._saved[row.cid] = row.generation
        return True

    def check_files(self, rows: list[CollectionRow]) -> None:
        """Writer, at open: delete stale temp files and the index files a later write could be
        mistaken for (another store's, or stamped with a generation SQLite never reached, as after
        a power loss rolled it back)."""
        for tmp in self.dir.glob("*.tmp"):
            tmp.unlink(missing_ok=True)
        known = {r.cid: r for r in rows}
        for path in self.dir.glob(f"*{self.suffix}"):
            head = self._read_stamp(path)
            row = known.get(int(path.stem)) if path.stem.isdigit() else None
            ok = (row is not None and head is not None and head["generation"] <= row.generation
                  and all(head.get(k) == v for k, v in self.stamp(row).items()))  # fmt: skip
            if not ok:
                log.warning("removing %s index %s: it does not match the database", self.label, path)
                path.unlink(missing_ok=True)
            elif row is not None and head is not None:
                self._saved[row.cid] = head["generation"]

    def forget(self, cid: int) -> None:
        self._mem.pop(cid, None)
        self._saved.pop(cid, None)
        self.path(cid).unlink(missing_ok=True)

    # -- what each kind supplies -------------------------------------------------------------

    @abstractmethod
    def _read(self, row: CollectionRow) -> tuple[dict[str, Any], IndexT] | None:
        """The collection's file as (header, index), or None when missing or unreadable."""

    @abstractmethod
    def _read_stamp(self, path: Path) -> dict[str, Any] | None:
        """Only the header of a file (with its "generation"), or None."""

    @abstractmethod
    def _replay(self, conn: sqlite3.Connection, row: CollectionRow, index: IndexT) -> IndexT:
        """`index` brought to `row.generation` by the changelog after its generation; kept in memory."""

    @abstractmethod
    def _rebuild(self, conn: sqlite3.Connection, row: CollectionRow) -> IndexT:
        """The index at `row.generation` from SQLite alone; kept in memory."""

    @abstractmethod
    def _reshape(self, conn: sqlite3.Connection, row: CollectionRow, index: IndexT) -> IndexT | None:
        """Before a save: the index to write instead when `index` should change shape (kept in
        memory), or None when it is saved as it is."""

    @abstractmethod
    def _save(self, path: Path, index: IndexT, stamp: dict[str, Any]) -> None:
        """Write `index` to `path` atomically, its header holding `stamp` and its generation."""
