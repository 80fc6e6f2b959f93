"""Property-based tests of LocalStore against a dict model (hypothesis).

Random sequences of replace / remove / touch / flush / reopen / crash (close without flushing,
as `kill -9` leaves it) must leave a store whose answers are the model's: `sources()`, `get()`,
which ids a keyword matches, and the dense top-1 of every stored vector, both through the
writer and through a reader handle kept open across the writer's restarts.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from omnivec.stores import LocalStore, Record, SourceState
from tests.stores.helpers import unit

SOURCES = [f"s{i}.py" for i in range(3)]  # few: operations often meet the same file
DIMS = {"code": 8, "img": 4}
LETTERS = "abcde"


def token(src: int, version: int) -> str:
    """A word only the records of this source at this version hold (letters only: one token)."""
    return f"q{LETTERS[src]}{LETTERS[version]}q"


@dataclass
class Model:
    sources: dict[str, SourceState] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)  # id -> record (with collection)
    ever: set[str] = field(default_factory=set)

    def replace(self, src: int, n_code: int, n_img: int, version: int) -> tuple[SourceState, dict]:
        name = SOURCES[src]
        by = {
            "code": [
                _rec(name, "code", i, version, f"alpha {token(src, version)} item{i}") for i in range(n_code)
            ],
            "img": [_rec(name, "img", i, version, f"picture {token(src, version)}") for i in range(n_img)],
        }
        self.records = {i: r for i, r in self.records.items() if r.source != name}
        for coll, recs in by.items():
            for r in recs:
                self.records[r.id] = Record(r.id, r.source, r.vector, r.text, r.fields, coll)
                self.ever.add(r.id)
        state = SourceState(name, f"h{version}", 10 + version, 1, n_code + n_img, "indexed")
        self.sources[name] = state
        return state, by


def _rec(source: str, coll: str, i: int, version: int, text: str) -> Record:
    rid = f"{coll}:{source}#{i}:v{version}"
    return Record(rid, source, unit(rid, DIMS[coll]), text, {"path": source})


op = st.one_of(
    st.tuples(st.just("replace"), st.integers(0, 2), st.integers(0, 3), st.integers(0, 1), st.integers(0, 3)),
    st.tuples(st.just("remove"), st.integers(0, 2)),
    st.tuples(st.just("touch"), st.integers(0, 2), st.integers(2, 9)),
    st.tuples(st.sampled_from(["flush", "reopen", "crash"])),
)


def open_writer(root: Path) -> LocalStore:
    store = LocalStore(root, writer=True, flush_interval=None)
    for coll, dim in DIMS.items():
        store.ensure_collection(coll, model="m", fingerprint=coll, dim=dim, recipe={"dim": dim})
    return store


def crash(store: LocalStore) -> None:
    """What kill -9 leaves: no flush of the dense files; the kernel drops the lock."""
    for conn in store._conns:
        conn.close()
    assert store._writer_lock is not None
    store._writer_lock.release()
    store._closed = True


def apply(store: LocalStore, model: Model, step: tuple) -> None:
    kind = step[0]
    if kind == "replace":
        state, by = model.replace(*step[1:])
        store.replace_source_all(state, by)
    elif kind == "remove":
        model.sources.pop(SOURCES[step[1]], None)
        model.records = {i: r for i, r in model.records.items() if r.source != SOURCES[step[1]]}
        store.remove_source(SOURCES[step[1]])
    elif kind == "touch":  # a new mtime, same content (or a file recorded with no records yet)
        name = SOURCES[step[1]]
        old = model.sources.get(name, SourceState(name, "", 1, 0, 0, "skipped: empty"))
        model.sources[name] = SourceState(name, old.content_hash, old.size, step[2], old.chunks, old.status)
        store.touch_source(model.sources[name])
    elif kind == "flush":
        store.flush()


def check(store: LocalStore, model: Model) -> None:
    assert store.sources() == model.sources
    got = store.get(sorted(model.ever))
    assert set(got) == set(model.records)
    for rid, rec in got.items():
        want = model.records[rid]
        assert (rec.source, rec.text, rec.collection) == (want.source, want.text, want.collection)
    for src in range(len(SOURCES)):
        for version in range(4):
            for coll in DIMS:
                word = token(src, version)
                hits = {i for i, _ in store.keyword_search(coll, word, 100)}
                assert hits == {
                    i for i, r in model.records.items() if r.collection == coll and word in r.text
                }
    for rid, rec in model.records.items():
        top = store.dense_search(rec.collection, rec.vector, 1)
        assert top and top[0][0] == rid, (rid, top)


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(op, max_size=18))
def test_store_answers_like_the_model(steps: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        model = Model()
        writer = open_writer(root)
        reader = LocalStore(root, writer=False)
        try:
            for step in steps:
                if step[0] in ("reopen", "crash"):
                    writer.close() if step[0] == "reopen" else crash(writer)
                    writer = open_writer(root)
                else:
                    apply(writer, model, step)
                check(writer, model)
            check(reader, model)  # a reader open all along catches up on every change
            writer.close()
            with LocalStore(root, writer=False) as fresh:
                check(fresh, model)
        finally:
            reader.close()
            writer.close()
