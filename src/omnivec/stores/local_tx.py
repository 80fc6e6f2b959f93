"""The connection and transaction side of `LocalStore`: one writer connection, one reader
connection per thread, write and read transactions, and snapshot retries.

A writer's calls are serialised by `_lock`; a reader gives each thread its own SQLite connection
(opened on first use), so searches run side by side. `_snapshot` retries a read in a fresh
snapshot when a derived index file on disk turned out newer than the snapshot it started in.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from omnivec.errors import StoreError
from omnivec.stores.derived import NewerOnDiskError
from omnivec.stores.failures import translate
from omnivec.stores.sqlite_schema import connect

log = logging.getLogger(__name__)
T = TypeVar("T")

_SNAPSHOT_TRIES = 3


class SqliteHandle:
    """Connections and transactions; `LocalStore.__init__` sets these attributes."""

    path: Path
    writer: bool
    _lock: threading.RLock
    _local: threading.local
    _conns: list[sqlite3.Connection]
    _main: sqlite3.Connection
    _closed: bool

    @property
    def _conn(self) -> sqlite3.Connection:
        """The writer's one connection; for a reader, this thread's own (opened on first use)."""
        if self.writer:
            return self._main
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._lock:
                self._check_open()
                with translate(self.path):
                    conn = connect(self.path, writer=False, check=False)  # the first one checked
                self._conns.append(conn)
            self._local.conn = conn
        return conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock, translate(self.path):
            self._check_open()
            if not self.writer:
                raise StoreError(
                    received=f"a write to {self.path}, opened read-only",
                    expected="writes through a handle opened with writer=True",
                    fix="open it for writing (`Index.create(root, store)` or `Index.open(store, writer=True)`; "
                    "from the command line, `omnivec index`)",
                )
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back itself (disk full)
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextlib.contextmanager
    def _read(self) -> Iterator[None]:
        """One consistent snapshot: WAL readers see the last commit before their first read."""
        with self._lock if self.writer else contextlib.nullcontext(), translate(self.path):
            self._check_open()
            conn = self._conn
            conn.execute("BEGIN")
            try:
                yield
            except BaseException:
                with contextlib.suppress(sqlite3.Error):  # the first error is the one to report
                    conn.execute("COMMIT")
                raise
            conn.execute("COMMIT")

    def _snapshot(self, fn: Callable[[bool], T]) -> T:
        """Run `fn(force)` in a snapshot, retrying with a fresh one if a derived file is newer."""
        for attempt in range(_SNAPSHOT_TRIES):
            with self._read():
                try:
                    return fn(attempt == _SNAPSHOT_TRIES - 1)
                except NewerOnDiskError:
                    log.debug("a derived index on disk is newer than this snapshot; retrying")
        raise AssertionError("unreachable: the last try forces a rebuild")

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError(received=f"a call on the closed store {self.path}",
                             expected="an open store", fix="open the store again (e.g. `Index.open(store)`)")  # fmt: skip
