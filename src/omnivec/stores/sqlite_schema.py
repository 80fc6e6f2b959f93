"""The SQLite side of `LocalStore`: schema, versioning, connections and the writer lock.

SQLite is the source of truth: records, their vectors (float32 BLOBs, table `vectors`), their
analysed keyword tokens (table `tokens`) and a changelog from which the FAISS and keyword indexes
are brought up to date. Every collection has a `generation`, bumped by each transaction that changes its records;
`changes` lists the rowids added or deleted at each generation, down to `pruned_gen` (the
changelog is pruned once the FAISS and keyword files at that generation are safely on disk).

A record may be written before its vector (progressive indexing: keyword-searchable at once,
embedded later): it then has no row in `vectors` and one in `pending`. Filling it in
(`set_vectors`) logs op 'vec' at a new generation, which the dense replay applies (the record's
vector joins the index) and the keyword replay ignores (its tokens were there from the start).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import uuid
from pathlib import Path

from omnivec.errors import StoreError
from omnivec.stores.bm25 import ANALYSER_ID, stored_tokens
from omnivec.stores.failures import needs_check, quick_check, translate

SCHEMA_VERSION = 3  # 2: keyword tokens in a plain table, no FTS5; 3: records pending their vector
DB_NAME = "omnivec.sqlite"
LOCK_NAME = "writer.lock"

# rowids use AUTOINCREMENT: a deleted rowid is never reused, so a FAISS index that lags behind
# SQLite can never return a rowid that now means a different record.
_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS collections (
    cid INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    dim INTEGER NOT NULL,
    recipe TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    generation INTEGER NOT NULL DEFAULT 0,
    pruned_gen INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sources (
    source TEXT PRIMARY KEY,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    chunks INTEGER NOT NULL,
    status TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS records (
    rid INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    cid INTEGER NOT NULL REFERENCES collections(cid),
    source TEXT NOT NULL REFERENCES sources(source),
    path TEXT NOT NULL,
    kind TEXT,
    language TEXT,
    text TEXT NOT NULL,
    fields TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_source ON records(source, cid);
-- Filters are answered from these indexes alone (covering: rid is in every entry), never by
-- scanning record rows; records_path lets a glob with a literal prefix seek.
CREATE INDEX IF NOT EXISTS records_filter ON records(cid, kind, language, path);
CREATE INDEX IF NOT EXISTS records_path ON records(cid, path);
-- rowid -> id for the top hits of each list (`sqlite_records.ids_for`): record rows hold their text,
-- so a rowid lookup reads a page per row; this index packs ~60 (rid, id) pairs per page.
CREATE INDEX IF NOT EXISTS records_rid_id ON records(rid, id);
-- Vectors apart from the records keeps record rows small for keyword joins and filter lookups.
CREATE TABLE IF NOT EXISTS vectors (rid INTEGER PRIMARY KEY, vector BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS changes (
    cid INTEGER NOT NULL,
    generation INTEGER NOT NULL,
    rid INTEGER NOT NULL,
    op TEXT NOT NULL CHECK (op IN ('add', 'del', 'vec'))
);
CREATE INDEX IF NOT EXISTS changes_gen ON changes(cid, generation);
-- rowid = records.rid; `tokens` is omnivec.stores.bm25.stored_tokens(text): the analysed tokens
-- joined by spaces, from which the keyword index (omnivec.stores.keyword) is derived.
CREATE TABLE IF NOT EXISTS tokens (rid INTEGER PRIMARY KEY, tokens TEXT NOT NULL);
-- Records written without a vector yet (no row in `vectors`): what the next embedding pass fills in.
CREATE TABLE IF NOT EXISTS pending (rid INTEGER PRIMARY KEY, cid INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS pending_cid ON pending(cid, rid);
"""


def connect(root: Path, *, writer: bool, check: bool | None = None) -> sqlite3.Connection:
    """Open (writer: create) the database and check its schema version.

    `check` runs `PRAGMA quick_check` (default: `needs_check`, see `omnivec.stores.failures`).
    Damage found then, or by any later statement, surfaces as a `DamagedStoreError`.
    """
    db = root / DB_NAME
    if not writer and not db.exists():
        raise _no_index(root)
    with translate(root):
        conn = _open(db, writer)
        try:
            if writer:
                _create_or_check(conn, root)
            else:
                conn = _readable(conn, root)
            if check if check is not None else needs_check(root, db, writer=writer):
                quick_check(conn, root)
        except BaseException:
            conn.close()
            raise
    return conn


def _open(db: Path, writer: bool, uri: str | None = None) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE / BEGIN ... COMMIT).
    conn = sqlite3.connect(uri or db, isolation_level=None, check_same_thread=False, timeout=30.0,
                           uri=uri is not None)  # fmt: skip
    conn.execute("PRAGMA busy_timeout = 30000")
    if writer:
        conn.execute("PRAGMA journal_mode = WAL")  # readers never block the writer, nor it them
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL survives kill -9 without loss
        conn.execute("PRAGMA foreign_keys = ON")
    else:
        conn.execute("PRAGMA query_only = ON")
    return conn


def _readable(conn: sqlite3.Connection, root: Path) -> sqlite3.Connection:
    """A reader's connection, checked; on a read-only folder, reopened so SQLite needs no -shm."""
    try:
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN):
            raise
        # A WAL database needs its -shm file, which a read-only folder cannot hold. With no
        # writer possible there, the file alone is the last committed state (a -wal left by a
        # crash is still read by mode=ro when SQLite can use it).
        conn.close()
        db = root / DB_NAME
        wal = db.with_name(db.name + "-wal")
        immutable = "&immutable=1" if not wal.exists() or wal.stat().st_size == 0 else ""
        conn = _open(db, False, f"{db.resolve().as_uri()}?mode=ro{immutable}")
        tables = conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    if tables == 0:
        conn.close()  # a writer died before creating the schema: same as no index yet
        raise _no_index(root)
    _check_version(conn, root)
    return conn


def _no_index(root: Path) -> StoreError:
    return StoreError(
        received=f"no omnivec index at {root}",
        expected=f"a folder holding {DB_NAME} written by omnivec",
        fix="index something first (omnivec index ...), or pass the right --store folder",
    )


def _create_or_check(conn: sqlite3.Connection, root: Path) -> None:
    has_meta = conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
    if has_meta:
        _upgrade(conn, root)
        _check_version(conn, root)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        create_schema(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def create_schema(conn: sqlite3.Connection) -> None:
    """Create every table in an empty database, with a new store id (inside a transaction)."""
    for stmt in _statements(_DDL):
        conn.execute(stmt)
    conn.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    conn.execute("INSERT INTO meta VALUES ('store_id', ?)", (uuid.uuid4().hex,))
    conn.execute("INSERT INTO meta VALUES ('analyser', ?)", (ANALYSER_ID,))


def _meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _upgrade(conn: sqlite3.Connection, root: Path) -> None:
    """Writer: bring a store of schema 1 (FTS5) or 2, or of another keyword analyser, up to date in
    place, in one transaction. Keyword tokens are derived from the records' text, so a new analyser
    re-analyses them (the keyword index files, derived from them, are rebuilt on first use);
    schema 2 gains the `pending` table and the changelog op 'vec'."""
    version = _meta(conn, "schema_version")
    if version not in ("1", "2", str(SCHEMA_VERSION)):
        return  # unreadable or newer: `_check_version` says so
    reanalyse = version == "1" or _meta(conn, "analyser") != ANALYSER_ID
    if version == str(SCHEMA_VERSION) and not reanalyse:
        _add_indexes(conn)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if version == "1":
            conn.execute("DROP TABLE IF EXISTS fts_vocab")
            conn.execute("DROP TABLE IF EXISTS fts")
        if version != str(SCHEMA_VERSION):
            _widen_changes(conn)
        for stmt in _statements(_DDL):
            conn.execute(stmt)
        if reanalyse:
            conn.execute("DELETE FROM tokens")
            cursor = conn.execute("SELECT rid, text FROM records")
            while batch := cursor.fetchmany(4096):
                conn.executemany(
                    "INSERT INTO tokens VALUES (?, ?)", ((r, stored_tokens(t)) for r, t in batch)
                )
        for key, value in (("schema_version", str(SCHEMA_VERSION)), ("analyser", ANALYSER_ID)):
            conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if reanalyse:
        for derived in (root / "keyword").glob("*.bm25"):
            derived.unlink()


def _add_indexes(conn: sqlite3.Connection) -> None:
    """Indexes added to schema 3 after it shipped (readers work without them: `has_rid_index`)."""
    if has_rid_index(conn):
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE INDEX IF NOT EXISTS records_rid_id ON records(rid, id)")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def has_rid_index(conn: sqlite3.Connection) -> bool:
    """Whether the store has `records_rid_id` (stores written before it was added lack it until
    a writer opens them)."""
    row = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'records_rid_id'")
    return row.fetchone() is not None


def _widen_changes(conn: sqlite3.Connection) -> None:
    """Recreate `changes` with the op 'vec' allowed (SQLite cannot alter a CHECK constraint)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'changes'").fetchone():
        return
    conn.execute("ALTER TABLE changes RENAME TO changes_old")
    conn.execute("DROP INDEX IF EXISTS changes_gen")
    for stmt in _statements(_DDL):  # every table exists but `changes`, created here anew
        conn.execute(stmt)
    conn.execute(
        "INSERT INTO changes (cid, generation, rid, op) SELECT cid, generation, rid, op FROM changes_old"
    )
    conn.execute("DROP TABLE changes_old")


def _statements(script: str) -> list[str]:
    lines = [ln for ln in script.splitlines() if not ln.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def _check_version(conn: sqlite3.Connection, root: Path) -> None:
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        raise StoreError(
            received=f"{root / DB_NAME} is not an omnivec store ({exc})",
            expected=f"a store written by omnivec (schema version {SCHEMA_VERSION})",
            fix="point omnivec at its own index folder, or delete this folder and re-index",
        ) from exc
    found = row[0] if row else None
    if found == str(SCHEMA_VERSION) and _meta(conn, "analyser") != ANALYSER_ID:
        raise StoreError(
            received=f"a store at {root} whose keyword tokens come from analyser {_meta(conn, 'analyser')}",
            expected=f"keyword tokens of analyser {ANALYSER_ID} (what this omnivec searches with)",
            fix="run `omnivec index PATH` once: a writer re-analyses the stored text in place",
        )
    if found != str(SCHEMA_VERSION):
        newer = found is not None and found.isdigit() and int(found) > SCHEMA_VERSION
        raise StoreError(
            received=f"a store at {root} with schema version {found}",
            expected=f"schema version {SCHEMA_VERSION} (what this omnivec reads)",
            fix="upgrade omnivec (pip install -U omnivec) to read it"
            if newer
            else "run `omnivec index PATH` once (a writer upgrades the store in place)"
            if found in ("1", "2")
            else f"delete {root} and re-index (the index is derived from your files)",
        )


def store_id(conn: sqlite3.Connection) -> str:
    return str(conn.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()[0])


class WriterLock:
    """An exclusive `flock` on ROOT/writer.lock, released by the kernel if the process dies."""

    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            who = (
                "this process (another open writer)"
                if holder == str(os.getpid())
                else f"another omnivec process (pid {holder})"
            )
            raise StoreError(
                received=f"{who} is writing to {self.path.parent}",
                expected="one writer per store at a time (any number of readers is fine)",
                fix="wait for it to finish or stop it (searching and `omnivec status` work meanwhile)",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
