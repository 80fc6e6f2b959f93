"""An on-disk embedding cache: (model fingerprint, role, instruction, content hash) -> vector."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

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
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


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
