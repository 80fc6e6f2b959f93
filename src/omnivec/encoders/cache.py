"""An on-disk embedding cache: (model fingerprint, role, instruction, content hash) -> vector."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from omnivec.config import private_folder

log = logging.getLogger(__name__)

#: SQLite's own files beside a database: the write-ahead log, its index, a rollback journal
SIDE_FILES = ("-wal", "-shm", "-journal")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    fingerprint TEXT NOT NULL,
    key TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (fingerprint, key)
) WITHOUT ROWID;
"""


def open_cache_db(path: Path, schema: str) -> sqlite3.Connection:
    """A SQLite file shared by processes (WAL: readers never block the writer) and threads.

    synchronous=NORMAL: a cache may lose its last entries in a power cut, never its consistency.
    The file and its side files are its owner's only (`make_private`): they hold what was indexed.
    """
    make_private(path)
    db = sqlite3.connect(path, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    for side in SIDE_FILES:  # SQLite gives new ones the database's mode; older ones are tightened
        _owner_only(path.with_name(path.name + side))
    return db


def make_private(path: Path) -> None:
    """Make `path`'s folder (0700, when it is created here, see `private_folder`) and the file
    itself (0600, created empty when missing) readable by their owner only.

    Caches hold the OCR'd text of private screenshots and vectors of private code; a umask of 022
    would leave them world-readable. The file is created before SQLite opens it, which then never
    widens its mode; an existing file made by an older version is tightened.
    """
    private_folder(path.parent)
    with contextlib.suppress(FileExistsError):  # O_EXCL: an existing file is only re-moded below
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    _owner_only(path)


def _owner_only(path: Path) -> None:
    """Drop group and other permissions from an existing file; a file owned by someone else (a
    shared cache) is left as it is, with a warning, rather than failing the run."""
    try:
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
    except FileNotFoundError:
        pass  # a side file SQLite has not made (or has removed)
    except PermissionError:
        log.warning(
            "%s is readable by other users and cannot be made private (it is not yours); "
            "expected a file only you can read; fix: chmod 600 it as its owner, or set OMNIVEC_CACHE "
            "to a folder of your own", path,
        )  # fmt: skip


class EmbeddingCache:
    """SQLite-backed, safe to share between processes (WAL) and threads (one lock per cache)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = open_cache_db(self.path, _SCHEMA)

    def get_many(self, fingerprint: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for lo in range(0, len(keys), 500):
                chunk = list(keys[lo : lo + 500])
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT key, vector FROM embeddings WHERE fingerprint=? AND key IN ({marks})",
                    [fingerprint, *chunk],
                )
                for key, blob in rows:
                    found[key] = np.frombuffer(blob, dtype=np.float32)
        return found

    def put_many(self, fingerprint: str, pairs: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [(fingerprint, k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in pairs]
        with self._lock, self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM embeddings").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
