"""Record-level SQL for `LocalStore`: writing a source's records with their changelog, filters
and vector reads. Functions take a connection inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from omnivec.errors import InputError
from omnivec.stores.base import Filter, Record, SourceState
from omnivec.stores.bm25 import stored_tokens

_INSERT_RECORD = "INSERT INTO records (id, cid, source, path, kind, language, text, fields) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"


def vector_blob(record: Record, dim: int) -> bytes:
    vec = np.asarray(record.vector, dtype=np.float32).reshape(-1)
    if vec.shape != (dim,) or not np.all(np.isfinite(vec)):
        raise InputError(
            received=f"record {record.id!r}: a vector of shape {np.shape(record.vector)}"
            + ("" if vec.shape != (dim,) else " with NaN or inf values"),
            expected=f"a finite float32 vector of shape ({dim},), the collection's dim",
            fix="encode with the collection's model, and drop items the encoder could not embed",
        )
    return vec.tobytes()


def delete_records(conn: sqlite3.Connection, cid: int, source: str, generation: int) -> int:
    """Delete a source's records in one collection, logging their rowids. Returns how many."""
    rids = [r for (r,) in conn.execute("SELECT rid FROM records WHERE source = ? AND cid = ?", (source, cid))]
    if not rids:
        return 0
    conn.executemany("DELETE FROM tokens WHERE rid = ?", ((r,) for r in rids))
    conn.executemany("DELETE FROM vectors WHERE rid = ?", ((r,) for r in rids))
    conn.executemany("DELETE FROM pending WHERE rid = ?", ((r,) for r in rids))
    conn.execute("DELETE FROM records WHERE source = ? AND cid = ?", (source, cid))
    conn.executemany(
        "INSERT INTO changes (cid, generation, rid, op) VALUES (?, ?, ?, 'del')",
        ((cid, generation, r) for r in rids),
    )
    return len(rids)


def insert_records(
    conn: sqlite3.Connection,
    cid: int,
    dim: int,
    records: Sequence[Record],
    generation: int,
    reuse: Mapping[str, bytes] | None = None,
) -> None:
    """Insert records (their source row must exist) plus vectors, keyword tokens and changelog.

    A record with an empty vector is pending: it gets the vector of `reuse[content_hash]` when
    there is one (the same content, embedded before), else a `pending` row instead of a vector.
    One `executemany` per table, not four statements per record: a first index run writes every
    chunk of a folder through here.
    """
    if not records:
        return
    rows: list[tuple[Any, ...]] = []
    blobs: list[bytes | None] = []
    for rec in records:
        blob = vector_blob(rec, dim) if not is_pending(rec) else None
        if blob is None and reuse:
            blob = reuse.get(str(rec.fields.get("content_hash")))
        blobs.append(blob)
        fields = json.dumps(dict(rec.fields), default=str, ensure_ascii=False)
        path = str(rec.fields.get("path") or rec.source)
        rows.append((rec.id, cid, rec.source, path, rec.fields.get("kind"), rec.fields.get("language"),
                     rec.text, fields))  # fmt: skip
    conn.execute("SAVEPOINT insert_records")
    try:
        conn.executemany(_INSERT_RECORD, rows)
    except sqlite3.IntegrityError:
        conn.execute("ROLLBACK TO insert_records")
        raise _first_duplicate(conn, rows, records) from None
    finally:
        conn.execute("RELEASE insert_records")
    ids = json.dumps([rec.id for rec in records])
    rid_of = dict(
        conn.execute("SELECT id, rid FROM records WHERE id IN (SELECT value FROM json_each(?))", (ids,))
    )
    rids = [rid_of[rec.id] for rec in records]  # ascending: rowids are handed out in insert order
    conn.executemany("INSERT INTO vectors (rid, vector) VALUES (?, ?)",
                     [(r, b) for r, b in zip(rids, blobs) if b is not None])  # fmt: skip
    conn.executemany("INSERT INTO pending (rid, cid) VALUES (?, ?)",
                     [(r, cid) for r, b in zip(rids, blobs) if b is None])  # fmt: skip
    conn.executemany("INSERT INTO tokens (rid, tokens) VALUES (?, ?)",
                     [(r, stored_tokens(rec.text)) for r, rec in zip(rids, records)])  # fmt: skip
    conn.executemany("INSERT INTO changes (cid, generation, rid, op) VALUES (?, ?, ?, 'add')",
                     [(cid, generation, r) for r in rids])  # fmt: skip


def _first_duplicate(
    conn: sqlite3.Connection, rows: Sequence[tuple[Any, ...]], records: Sequence[Record]
) -> Exception:
    """The error for the first record whose insert fails, inserting one by one (the batch is
    rolled back to before it by the caller's savepoint, and the transaction fails as a whole)."""
    for row, rec in zip(rows, records):
        try:
            conn.execute(_INSERT_RECORD, row)
        except sqlite3.IntegrityError as exc:
            err = _duplicate_id(conn, rec)
            err.__cause__ = exc
            return err
    return AssertionError("a batch insert failed but no record fails alone")


def is_pending(rec: Record) -> bool:
    """A record written before its vector: its vector is empty (`omnivec.stores.base.NO_VECTOR`)."""
    return np.size(rec.vector) == 0


def reusable_vectors(conn: sqlite3.Connection, cid: int, source: str) -> dict[str, bytes]:
    """The source's stored vectors in one collection by `fields.content_hash` (records without one
    are left out: only a digest of what was embedded says two records embed the same)."""
    rows = conn.execute(
        "SELECT json_extract(r.fields, '$.content_hash'), v.vector FROM records r"
        " JOIN vectors v ON v.rid = r.rid WHERE r.source = ? AND r.cid = ?",
        (source, cid),
    )
    return {str(h): blob for h, blob in rows if isinstance(h, str) and h}


def set_vectors(
    conn: sqlite3.Connection, cid: int, dim: int, vectors: Mapping[str, Any], generation: int
) -> int:
    """Give pending records of a collection their vectors (ids not pending there are left alone),
    logging op 'vec' for the dense replay. Returns how many were filled in."""
    done = 0
    for rid_text, vec in vectors.items():
        row = conn.execute(
            "SELECT r.rid FROM records r JOIN pending p ON p.rid = r.rid WHERE r.id = ? AND r.cid = ?",
            (rid_text, cid),
        ).fetchone()
        if row is None:
            continue
        blob = vector_blob(Record(id=rid_text, source="", vector=vec, text=""), dim)
        conn.execute("INSERT INTO vectors (rid, vector) VALUES (?, ?)", (row[0], blob))
        conn.execute("DELETE FROM pending WHERE rid = ?", (row[0],))
        conn.execute(
            "INSERT INTO changes (cid, generation, rid, op) VALUES (?, ?, ?, 'vec')",
            (cid, generation, row[0]),
        )
        done += 1
    return done


def pending_records(conn: sqlite3.Connection, cid: int, limit: int, offset: int) -> list[Record]:
    """Records of a collection still without a vector, oldest first (vectors empty)."""
    rows = conn.execute(
        "SELECT r.id, r.source, r.text, r.fields FROM pending p JOIN records r ON r.rid = p.rid"
        " WHERE p.cid = ? ORDER BY p.rid LIMIT ? OFFSET ?",
        (cid, limit, offset),
    )
    empty = np.empty(0, dtype=np.float32)
    return [Record(id=i, source=s, vector=empty, text=t, fields=json.loads(f)) for i, s, t, f in rows]


def pending_counts(conn: sqlite3.Connection) -> dict[int, int]:
    return dict(conn.execute("SELECT cid, COUNT(*) FROM pending GROUP BY cid").fetchall())


def _duplicate_id(conn: sqlite3.Connection, rec: Record) -> InputError:
    row = conn.execute(
        "SELECT r.source, c.name FROM records r JOIN collections c USING (cid) WHERE r.id = ?", (rec.id,)
    ).fetchone()
    owner = f"source {row[0]!r} in collection {row[1]!r}" if row else "another record of this batch"
    return InputError(
        received=f"record id {rec.id!r} for source {rec.source!r}, already used by {owner}",
        expected="record ids unique across the whole store",
        fix="derive ids from the source path and chunk position, prefixed by the collection if a "
        "chunk goes into several collections",
    )


def upsert_source(conn: sqlite3.Connection, state: SourceState) -> None:
    """Record a source's state; `chunks` is counted by `recount_source`, not taken from the caller."""
    conn.execute(
        "INSERT INTO sources (source, content_hash, size, mtime_ns, chunks, status)"
        " VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (source) DO UPDATE SET content_hash = excluded.content_hash,"
        " size = excluded.size, mtime_ns = excluded.mtime_ns, status = excluded.status",
        (state.source, state.content_hash, state.size, state.mtime_ns, state.status),
    )


def recount_source(conn: sqlite3.Connection, source: str) -> None:
    conn.execute(
        "UPDATE sources SET chunks = (SELECT COUNT(*) FROM records WHERE source = ?) WHERE source = ?",
        (source, source),
    )


def bump(conn: sqlite3.Connection, cid: int, generation: int, delta: int) -> None:
    conn.execute(
        "UPDATE collections SET generation = ?, count = count + ?, updated = ? WHERE cid = ?",
        (generation, delta, time.time(), cid),
    )


def source_cids(conn: sqlite3.Connection, source: str) -> list[int]:
    return [c for (c,) in conn.execute("SELECT DISTINCT cid FROM records WHERE source = ?", (source,))]


def filter_sql(flt: Filter | None, alias: str = "r") -> tuple[str, list[Any]]:
    """SQL conditions (leading ' AND ...') and parameters for a filter over `records`."""
    if flt is None:
        return "", []
    sql = ""
    params: list[Any] = []
    for column, values in (("kind", flt.kinds), ("language", flt.languages)):
        if values:
            sql += f" AND {alias}.{column} IN ({', '.join('?' * len(values))})"
            params.extend(values)
    if flt.path_glob:
        sql += f" AND {alias}.path GLOB ?"
        params.append(flt.path_glob)
    return sql, params


def allowed_rids(conn: sqlite3.Connection, cid: int, flt: Filter) -> np.ndarray:
    where, params = filter_sql(flt)
    rows = conn.execute(f"SELECT r.rid FROM records r WHERE r.cid = ?{where}", [cid, *params])
    return np.fromiter((r for (r,) in rows), dtype=np.int64)


def collection_vectors(conn: sqlite3.Connection, cid: int) -> sqlite3.Cursor:
    """(rid, vector) rows of a whole collection, for rebuilding its dense index."""
    return conn.execute(
        "SELECT r.rid, v.vector FROM records r JOIN vectors v ON v.rid = r.rid WHERE r.cid = ?", (cid,)
    )


def stack(rows: Iterable[tuple[int, bytes]], dim: int) -> tuple[np.ndarray, np.ndarray]:
    rows = list(rows)
    rids = np.fromiter((r for r, _ in rows), dtype=np.int64, count=len(rows))
    vecs = np.frombuffer(b"".join(b for _, b in rows), dtype=np.float32).reshape(len(rows), dim)
    return rids, vecs


def ids_for(conn: sqlite3.Connection, rids: Sequence[int], *, rid_index: bool = True) -> dict[int, str]:
    """Record ids of rowids (unknown rowids are left out). `rid_index`: the store has the covering
    index `records_rid_id`; SQLite's planner would pick the rowid lookup, which reads each record's
    own (text-sized) page, so the index is named."""
    source = "records INDEXED BY records_rid_id" if rid_index else "records"
    rows = conn.execute(
        f"SELECT rid, id FROM {source} WHERE rid IN (SELECT value FROM json_each(?))",
        (json.dumps([int(r) for r in rids]),),
    )
    return dict(rows.fetchall())


def record_rows(conn: sqlite3.Connection, ids: Sequence[str], with_vectors: bool) -> list[Record]:
    vec = "v.vector" if with_vectors else "NULL"
    rows = conn.execute(
        f"SELECT r.id, r.source, r.text, r.fields, c.name, c.dim, {vec} FROM records r"
        " JOIN collections c USING (cid) LEFT JOIN vectors v ON v.rid = r.rid"
        " WHERE r.id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(ids)),),
    )
    empty = np.empty(0, dtype=np.float32)
    return [
        Record(id=i, source=s, text=t, fields=json.loads(f), collection=c,
               vector=empty if v is None else np.frombuffer(v, dtype=np.float32).reshape(dim).copy())
        for i, s, t, f, c, dim, v in rows
    ]  # fmt: skip


def hit_fields(conn: sqlite3.Connection, rids: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
    """rowid -> (id, fields) for the hits a search shows; rowids of deleted records are left out.
    The record text is not read into Python: a hit's snippet comes from `fields["display"]`."""
    rows = conn.execute(
        "SELECT rid, id, fields FROM records WHERE rid IN (SELECT value FROM json_each(?))",
        (json.dumps([int(r) for r in rids]),),
    )
    return {rid: (i, json.loads(f)) for rid, i, f in rows}
