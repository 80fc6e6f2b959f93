"""The optional `PendingVectors` capability: records written before their vectors, filled in later.

Run over every backend that has it (a backend without it is skipped: the indexer then writes
vectors and records together, in one phase).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from omnivec.stores import NO_VECTOR, LocalStore, PendingVectors, Record, VectorStore
from omnivec.stores.sqlite_schema import DB_NAME
from tests.stores.helpers import DIM, RECIPE, record, state, unit


def pending_record(source: str, i: int, text: str = "", content: str | None = None) -> Record:
    rec = record(source, i, text=text)
    fields = {**rec.fields, "content_hash": content or f"{source}-{i}"}
    return dataclasses.replace(rec, vector=NO_VECTOR, fields=fields)


@pytest.fixture
def pstore(store: VectorStore) -> PendingVectors:
    if not isinstance(store, PendingVectors):
        pytest.skip("this backend writes vectors with their records (no PendingVectors)")
    return store


def test_pending_records_are_keyword_searchable_then_dense(pstore) -> None:
    recs = [pending_record("a.py", i, text=f"def parse_config_{i}(): pass") for i in range(3)]
    pstore.replace_source_all(state("a.py", 3), {"code": recs})
    assert pstore.pending_counts() == {"code": 3}
    assert {i for i, _ in pstore.keyword_search("code", "parse config", 10)} == {r.id for r in recs}
    assert pstore.dense_search("code", unit("q"), 10) == []
    assert [r.id for r in pstore.pending("code", limit=2)] == [recs[0].id, recs[1].id]
    assert [r.id for r in pstore.pending("code", limit=10, offset=2)] == [recs[2].id]
    got = pstore.pending("code", limit=10)[0]
    assert got.text == recs[0].text and got.fields["kind"] == "code" and got.vector.size == 0

    assert pstore.set_vectors("code", {recs[0].id: unit(0), "nope#0": unit(1)}) == 1
    assert pstore.set_vectors("code", {recs[0].id: unit(0)}) == 0  # already embedded: left alone
    assert pstore.pending_counts() == {"code": 2}
    assert [i for i, _ in pstore.dense_search("code", unit(0), 10)] == [recs[0].id]
    pstore.set_vectors("code", {r.id: unit(r.id) for r in recs[1:]})
    assert pstore.pending_counts() == {"code": 0}
    assert len(pstore.dense_search("code", unit(0), 10)) == 3
    assert len(pstore.keyword_search("code", "parse config", 10)) == 3  # tokens not added twice
    np.testing.assert_allclose(
        pstore.get([recs[2].id], with_vectors=True)[recs[2].id].vector, unit(recs[2].id)
    )


def test_unchanged_content_keeps_its_vector(pstore) -> None:
    a, b = pending_record("a.py", 0, content="same"), pending_record("a.py", 1, content="old")
    pstore.replace_source_all(state("a.py", 2), {"code": [a, b]})
    pstore.set_vectors("code", {a.id: unit("a"), b.id: unit("b")})
    # the file changed: chunk "same" moved to position 1, chunk "old" became "new"
    moved = dataclasses.replace(pending_record("a.py", 1, content="same"), id="a.py#1:v2")
    new = dataclasses.replace(pending_record("a.py", 0, content="new"), id="a.py#0:v2")
    pstore.replace_source_all(state("a.py", 2, version="v2"), {"code": [new, moved]})
    assert [r.id for r in pstore.pending("code", 10)] == [new.id]
    np.testing.assert_allclose(pstore.get([moved.id], with_vectors=True)[moved.id].vector, unit("a"))
    assert [i for i, _ in pstore.dense_search("code", unit("a"), 10)] == [moved.id]


def test_removing_a_source_drops_its_pending_records(pstore) -> None:
    pstore.replace_source_all(state("a.py", 2), {"code": [pending_record("a.py", i) for i in range(2)]})
    pstore.remove_source("a.py")
    assert pstore.pending_counts() == {"code": 0} and pstore.pending("code", 10) == []


def test_a_reader_replays_vectors_filled_in_after_the_last_flush(tmp_path: Path) -> None:
    w = LocalStore(tmp_path, writer=True, flush_interval=None)
    w.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
    recs = [pending_record(f"f{i}.py", 0) for i in range(4)]
    for rec in recs:
        w.replace_source_all(state(rec.source, 1), {"code": [rec]})
    w.flush()  # dense file at a generation where nothing is embedded
    with LocalStore(tmp_path, writer=False) as early:
        assert early.dense_search("code", unit(0), 10) == []  # its in-memory index, replayed below
        w.set_vectors("code", {recs[0].id: unit(0), recs[1].id: unit(1)})
        w.set_vectors("code", {recs[2].id: unit(2)})
        assert {i for i, _ in early.dense_search("code", unit(0), 10)} == {r.id for r in recs[:3]}
    w._conn.close()  # kill -9: no flush
    assert w._writer_lock is not None
    w._writer_lock.release()
    w._closed = True
    with LocalStore(tmp_path, writer=False) as late:  # loads the file, replays 'vec' ops
        assert {i for i, _ in late.dense_search("code", unit(0), 10)} == {r.id for r in recs[:3]}
        assert late.pending_counts() == {"code": 1}
        assert len(late.keyword_search("code", "chunk", 10)) == 4


def test_a_schema_2_store_is_upgraded_in_place(tmp_path: Path) -> None:
    with LocalStore(tmp_path, writer=True) as w:
        w.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
        w.replace_source_all(state("a.py", 1), {"code": [record("a.py", 0, text="def parse(): pass")]})
    conn = sqlite3.connect(tmp_path / DB_NAME, isolation_level=None)
    conn.execute("DROP TABLE pending")
    conn.execute("DROP TABLE changes")  # as schema 2 made it: no 'vec'
    conn.execute(
        "CREATE TABLE changes (cid INTEGER NOT NULL, generation INTEGER NOT NULL, rid INTEGER NOT NULL,"
        " op TEXT NOT NULL CHECK (op IN ('add', 'del')))"
    )
    conn.execute("INSERT INTO changes VALUES (1, 1, 1, 'add')")
    conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(Exception, match="upgrades the store in place"):
        LocalStore(tmp_path, writer=False)
    with LocalStore(tmp_path, writer=True) as w:
        assert w.pending_counts() == {"code": 0}
        w.replace_source_all(state("b.py", 1), {"code": [pending_record("b.py", 0)]})
        assert w.set_vectors("code", {"b.py#0:v1": unit("b")}) == 1
        assert len(w.dense_search("code", unit("b"), 10)) == 2
        assert [i for i, _ in w.keyword_search("code", "parse", 5)] == ["a.py#0:v1"]
