"""Copy what is still readable out of a damaged store database into a fresh one.

SQLite reads a table as a b-tree: a damaged page makes a scan fail where it reaches that page,
and a truncated file fails where the missing pages begin. `readable_rows` scans a table in key
order and, when a read fails, seeks past the failure (a seek only touches the pages on its way
down, so the rows after a damaged page are found again), losing only the rows that page held.
Every table the store needs is copied this way into a new database with the current schema;
what is derived (the keyword index, the dense files, counts, the changelog) is rebuilt rather
than copied, a record whose vector was lost is kept as pending (the next update embeds it), and a source that lost any of its records is marked for re-indexing (its content
hash is emptied), so the next `update` brings it back from the user's file.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnivec.errors import StoreError
from omnivec.stores.bm25 import stored_tokens
from omnivec.stores.sqlite_schema import SCHEMA_VERSION, create_schema

log = logging.getLogger(__name__)

_MAX_KEY = 2**62
_BATCH = 2048


@dataclass
class Salvage:
    """What a salvage kept; `unreadable` counts the damaged stretches skipped per table."""

    kept: dict[str, int] = field(default_factory=dict)
    expected_records: int | None = None  # the old collections' counts, when readable
    unreadable: dict[str, int] = field(default_factory=dict)
    reindex: int = 0  # sources marked for re-indexing (records lost, or no longer complete)


def _ok(conn: sqlite3.Connection, sql: str, arg: Any) -> bool:
    try:
        conn.execute(sql, (arg,)).fetchall()
    except sqlite3.DatabaseError:
        return False
    return True


def _next_int_key(conn: sqlite3.Connection, probe: str, after: int) -> int | None:
    """The smallest key > `after` from which a seek succeeds (doubling, then bisecting)."""
    step = 1
    while not _ok(conn, probe, after + step):
        step *= 2
        if after + step > _MAX_KEY:
            return None
    lo, hi = after + step // 2, after + step  # a seek at lo failed (or lo == after), at hi not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if _ok(conn, probe, mid) else (mid, hi)
    return hi


def readable_rows(
    conn: sqlite3.Connection,
    table: str,
    columns: str,
    key: str,
    *,
    next_key: Callable[[Any], Any | None] | None = None,
    start: Any = 0,
    skipped: Callable[[], None] = lambda: None,
) -> Iterator[tuple[Any, ...]]:
    """Rows of `table` (key first) in key order, stepping over what cannot be read.

    `next_key(after)` gives the next key to resume from after a failure; by default integer
    keys are probed. `skipped` is called once per damaged stretch.
    """
    scan = f"SELECT {key}, {columns} FROM {table} WHERE {key} >= ? ORDER BY {key}"
    probe = f"SELECT {key} FROM {table} WHERE {key} >= ? ORDER BY {key} LIMIT 1"
    find = next_key or (lambda after: _next_int_key(conn, probe, after))
    while True:
        try:
            for row in conn.execute(scan, (start,)):  # row by row: a failing step loses no earlier row
                yield row
                start = _after(row[0])
            return
        except sqlite3.DatabaseError as exc:
            log.debug("%s: unreadable after key %r (%s)", table, start, exc)
            skipped()
            resume = find(start)
            if resume is None:
                return
            start = resume


def _after(key: Any) -> Any:
    return key + 1 if isinstance(key, int) else key + "\x00"


def _text_keys(
    conn: sqlite3.Connection, table: str, key: str, candidates: list[str]
) -> Callable[[str], str | None]:
    """Resume points for a text key: the known keys (e.g. sources named by records) past `after`."""
    probe = f"SELECT {key} FROM {table} WHERE {key} >= ? ORDER BY {key} LIMIT 1"

    def find(after: str) -> str | None:
        for cand in (c for c in candidates if c > after):
            if _ok(conn, probe, cand):
                return cand
        return None

    return find


def _old_meta(old: sqlite3.Connection) -> None:
    try:
        row = old.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError:
        return  # unreadable: the tables below are what counts
    if row is not None and row[0] != str(SCHEMA_VERSION):
        raise StoreError(
            received=f"a store with schema version {row[0]}",
            expected=f"schema version {SCHEMA_VERSION} (what this omnivec repairs)",
            fix="repair it with the omnivec that wrote it, or delete the folder and re-index",
        )


def salvage(old_db: Path, new_db: Path) -> Salvage:
    """Write a fresh database at `new_db` with every readable row of `old_db` (left untouched)."""
    out = Salvage()
    old = sqlite3.connect(f"{old_db.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None)
    # a truncated file is "malformed" as a whole unless SQLite is told to read what is there
    old.execute("PRAGMA writable_schema = ON")
    new_db.unlink(missing_ok=True)
    new = sqlite3.connect(new_db, isolation_level=None)
    try:
        _old_meta(old)
        new.execute("PRAGMA journal_mode = OFF")  # a crash leaves a temp file the next repair deletes
        new.execute("PRAGMA synchronous = OFF")  # made durable by fsync before it replaces anything
        new.execute("BEGIN")
        create_schema(new)
        _copy(old, new, out)
        new.execute("COMMIT")
        new.execute("PRAGMA journal_mode = WAL")
    finally:
        old.close()
        new.close()
    return out


def _bump(out: Salvage, table: str) -> Callable[[], None]:
    return lambda: out.unreadable.__setitem__(table, out.unreadable.get(table, 0) + 1)


def _copy(old: sqlite3.Connection, new: sqlite3.Connection, out: Salvage) -> None:
    colls = list(readable_rows(old, "collections", "name, model, fingerprint, dim, recipe, created,"
                               " updated, count, generation", "cid", skipped=_bump(out, "collections")))  # fmt: skip
    dims = {c[0]: c[4] for c in colls}
    out.expected_records = sum(c[8] for c in colls) if colls else None
    for cid, name, model, fp, dim, recipe, created, updated, _, gen in colls:
        new.execute(
            "INSERT OR IGNORE INTO collections (cid, name, model, fingerprint, dim, recipe, created, updated,"
            " generation, pruned_gen) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, name, model, fp, dim, recipe, created, updated, gen + 1, gen + 1),
        )  # fmt: skip
    rec_cols = "id, cid, source, path, kind, language, text, fields"
    for row in readable_rows(old, "records", rec_cols, "rid", skipped=_bump(out, "records")):
        if row[2] in dims:
            new.execute(
                f"INSERT OR IGNORE INTO records (rid, {rec_cols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", row
            )
    rid_dims = dict(new.execute("SELECT r.rid, c.dim FROM records r JOIN collections c USING (cid)"))
    for rid, blob in readable_rows(old, "vectors", "vector", "rid", skipped=_bump(out, "vectors")):
        if isinstance(blob, bytes) and len(blob) == 4 * rid_dims.get(rid, -1):
            new.execute("INSERT OR IGNORE INTO vectors (rid, vector) VALUES (?, ?)", (rid, blob))
    # a record whose vector was lost (or never written) is pending: the next update embeds it
    new.execute(
        "INSERT INTO pending (rid, cid) SELECT rid, cid FROM records WHERE rid NOT IN (SELECT rid FROM vectors)"
    )
    _copy_sources(old, new, out)
    new.execute("DELETE FROM records WHERE source NOT IN (SELECT source FROM sources)")
    new.execute("DELETE FROM vectors WHERE rid NOT IN (SELECT rid FROM records)")
    new.execute("DELETE FROM pending WHERE rid NOT IN (SELECT rid FROM records)")
    _finish(old, new, out)


def _copy_sources(old: sqlite3.Connection, new: sqlite3.Connection, out: Salvage) -> None:
    named = sorted(s for (s,) in new.execute("SELECT DISTINCT source FROM records"))
    find = _text_keys(old, "sources", "source", named)
    cols = "content_hash, size, mtime_ns, chunks, status"
    rows = readable_rows(
        old, "sources", cols, "source", next_key=find, start="", skipped=_bump(out, "sources")
    )
    for row in rows:
        new.execute(f"INSERT OR IGNORE INTO sources (source, {cols}) VALUES (?, ?, ?, ?, ?, ?)", row)


def _finish(old: sqlite3.Connection, new: sqlite3.Connection, out: Salvage) -> None:
    """Recount, mark incomplete sources for re-indexing, rebuild the keyword tokens (the keyword index files are rebuilt from them)."""
    # a source holding fewer records than it had is re-indexed from its file at the next update
    out.reindex = new.execute(
        "UPDATE sources SET content_hash = '' WHERE chunks !="
        " (SELECT COUNT(*) FROM records r WHERE r.source = sources.source)"
    ).rowcount
    new.execute(
        "UPDATE sources SET chunks = (SELECT COUNT(*) FROM records r WHERE r.source = sources.source)"
    )
    new.execute(
        "UPDATE collections SET count = (SELECT COUNT(*) FROM records r WHERE r.cid = collections.cid)"
    )
    cursor = new.execute("SELECT rid, text FROM records")
    while batch := cursor.fetchmany(_BATCH):
        new.executemany(
            "INSERT INTO tokens (rid, tokens) VALUES (?, ?)", ((r, stored_tokens(t)) for r, t in batch)
        )
    _keep_sequences(old, new)
    for table in ("collections", "sources", "records", "vectors"):
        out.kept[table] = new.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _keep_sequences(old: sqlite3.Connection, new: sqlite3.Connection) -> None:
    """Never hand out a rowid the old database used (a lagging dense index could still hold it)."""
    try:
        seqs = old.execute("SELECT name, seq FROM sqlite_sequence").fetchall()
    except sqlite3.DatabaseError:
        seqs = []
    for name, seq in seqs:
        if name in ("records", "collections") and isinstance(seq, int):
            new.execute("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?", (seq, name))
            new.execute(
                "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS"
                " (SELECT 1 FROM sqlite_sequence WHERE name = ?)", (name, seq, name)
            )  # fmt: skip
