"""`Searcher` over a real `LocalStore` by rows (`RowSearch`) gives the hits of the search by ids
(ids fused with `Fusion.fuse`, records by id): same ids, order, scores and parts, ties included;
and after writes the by-row search sees exactly what a fresh search by ids sees."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnivec.search.query import Query
from omnivec.search.searcher import Searcher
from omnivec.stores import LocalStore, Record, RowSearch, SourceState

WORDS = [
    "parse",
    "config",
    "file",
    "load",
    "json",
    "yaml",
    "token",
    "split",
    "http",
    "request",
    "retry",
    "cache",
    "path",
    "glob",
    "walk",
]


@pytest.fixture(scope="module")
def fake():
    from omnivec.encoders.registry import load_encoder

    return load_encoder("omnivec/fake")


def _records(
    source: str, n: int, rng: random.Random, dim: int, seen: list[tuple[str, np.ndarray]]
) -> list[Record]:
    out = []
    for j in range(n):
        if seen and rng.random() < 0.3:  # a copy of an earlier chunk: equal BM25, often equal cosine
            text, vec = seen[rng.randrange(len(seen))]
            vec = vec if rng.random() < 0.5 else _unit(rng, dim)
        else:
            text, vec = " ".join(rng.choices(WORDS, k=rng.randint(2, 7))), _unit(rng, dim)
        seen.append((text, vec))
        symbol = f"f{j // 2}" if rng.random() < 0.5 else None  # pieces of one split symbol group
        fields = {"path": source, "kind": "code", "language": rng.choice(["python", "go"]),
                  "start_line": j, "end_line": j + 1, "display": text, **({"symbol": symbol} if symbol else {})}  # fmt: skip
        out.append(Record(f"{source}#{j}", source, vec, text, fields))
    return out


def _unit(rng: random.Random, dim: int) -> np.ndarray:
    v = np.array([rng.gauss(0, 1) for _ in range(dim)], np.float32)
    return v / np.linalg.norm(v)


def _fill(store: LocalStore, fake, collections: Sequence[str], sources: range, rng: random.Random) -> None:
    seen: list[tuple[str, np.ndarray]] = []
    for name in collections:
        store.ensure_collection(name, model=fake.spec.name, fingerprint=fake.fingerprint, dim=fake.dim,
                                recipe=fake.spec.recipe())  # fmt: skip
        for s in sources:
            src = f"{name}/m{s}.py"
            recs = _records(src, 8, rng, fake.dim, seen)
            store.replace_source(name, SourceState(src, f"h{s}", 1, 1, len(recs), "indexed"), recs)


def _queries() -> list[Query]:
    rng = random.Random(5)
    out = []
    for i in range(24):
        text = " ".join(rng.sample(WORDS, rng.randint(1, 3)))
        out.append(Query(text=text, k=rng.choice([1, 3, 10]), mode=["hybrid", "hybrid", "keyword", "dense"][i % 4],
                         group_by_file=i % 5 == 0, languages=("python",) if i % 7 == 0 else (),
                         weights={"dense": 1.0, "keyword": 0.5} if i % 6 == 0 else {"dense": 1.0, "keyword": 1.0}))  # fmt: skip
    return out


def _as_tuples(hits) -> list[tuple[Any, ...]]:
    return [
        (h.id, h.score, h.dense_score, h.keyword_score, h.path, h.snippet, h.symbol, h.metadata) for h in hits
    ]


def _check_same(store: LocalStore, fake, collections: Sequence[str]) -> int:
    encoders = {name: fake for name in collections}
    rows, ids = Searcher(store, encoders), Searcher(store, encoders, by_rows=False)
    assert isinstance(store, RowSearch)
    calls = []  # which path each searcher took: by rows calls `search_rows`, by ids never does
    row_search = store.search_rows
    store.search_rows = lambda *a, **kw: calls.append(1) or row_search(*a, **kw)  # type: ignore[method-assign]
    shown = 0
    for q in _queries():
        got = _as_tuples(rows.search(q))
        assert calls, q
        calls.clear()
        want = _as_tuples(ids.search(q))
        assert not calls, q
        assert got == want, q  # scores equal to the bit: the same floating-point steps
        shown += len(got)
    return shown


@pytest.mark.parametrize("collections", [("text",), ("text", "more")], ids=["one space", "two spaces"])
def test_by_rows_equals_by_ids_with_ties_filters_and_grouping(tmp_path: Path, fake, collections) -> None:
    with LocalStore(tmp_path, writer=True) as w:
        _fill(w, fake, collections, range(40), random.Random(1))  # 320 chunks a collection: lists end early
    with LocalStore(tmp_path, writer=False) as r:
        assert _check_same(r, fake, collections) > 0


def test_a_reader_searching_by_rows_follows_deletes_and_updates(tmp_path: Path, fake) -> None:
    w = LocalStore(tmp_path, writer=True, flush_interval=None)
    _fill(w, fake, ["text"], range(30), random.Random(2))
    w.flush()
    r = LocalStore(tmp_path, writer=False)
    searcher = Searcher(r, {"text": fake})
    q = Query(text="parse config file", k=10)
    before = searcher.search(q)
    gone = {h.path for h in before[:3]}
    for src in gone:  # committed, not flushed: the reader replays the changelog
        w.remove_source(src)
    rewritten = before[3].path
    recs = [Record(f"{rewritten}#new", rewritten, _unit(random.Random(9), fake.dim), "parse config file",
                   {"path": rewritten, "kind": "code", "display": "new"})]  # fmt: skip
    w.replace_source("text", SourceState(rewritten, "h-new", 1, 1, 1, "indexed"), recs)
    after = searcher.search(q)
    assert not {h.path for h in after} & gone
    assert [h.id for h in after if h.path == rewritten] == [f"{rewritten}#new"]
    assert _check_same(r, fake, ["text"]) > 0  # and a by-id search agrees hit for hit
    r.close()
    w.close()


class DeleteBetween:
    """A `RowSearch` store whose writer deletes a source after the lists are read and before
    the hits are: the window a concurrent write can fall into."""

    def __init__(self, reader: LocalStore, writer: LocalStore, source: str) -> None:
        self.reader, self.writer, self.source = reader, writer, source

    def check_query(self, collection: str, **kw: Any) -> None:
        self.reader.check_query(collection, **kw)

    def search_rows(self, *a: Any) -> Any:
        return self.reader.search_rows(*a)

    def keyword_engine(self, collection: str) -> str:
        return self.reader.keyword_engine(collection)

    def row_ids(self, rows: Sequence[int]) -> dict[int, str]:
        return self.reader.row_ids(rows)

    def hit_rows(self, rows: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        self.writer.remove_source(self.source)
        return self.reader.hit_rows(rows)


def test_a_record_deleted_after_the_lists_were_read_is_never_shown(tmp_path: Path, fake) -> None:
    w = LocalStore(tmp_path, writer=True, flush_interval=None)
    _fill(w, fake, ["text"], range(10), random.Random(3))
    r = LocalStore(tmp_path, writer=False)
    q = Query(text="json yaml", k=5)
    top = Searcher(r, {"text": fake}).search(q)[0]
    hits = Searcher(DeleteBetween(r, w, top.path), {"text": fake}).search(q)  # type: ignore[arg-type]
    assert hits and all(h.path != top.path for h in hits)
    assert r.row_ids(r.search_rows("text", None, "json yaml", 100).keyword[0].tolist())  # still answers
    r.close()
    w.close()


class Ranked:
    """`hit_rows` of a fixed table; rows not in it were deleted since the lists were read."""

    def __init__(self, ids: dict[int, str]) -> None:
        self.ids = ids

    def hit_rows(self, rows: Sequence[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        return {r: (self.ids[r], {"path": self.ids[r]}) for r in rows if r in self.ids}


def _first_hit(scores: list[float], deleted: set[int]) -> tuple[float, str]:
    from omnivec.search import by_row

    rows = np.arange(1, len(scores) + 1, dtype=np.int64)
    store = Ranked({int(r): f"id{100 - r:03d}" for r in rows if r not in deleted})  # ids: reverse row order
    hits = by_row.hits(store, rows, np.array(scores), True, lambda i: (None, None), Query(text="x", k=1))  # type: ignore[arg-type]
    return hits[0].score, hits[0].id


def test_runs_of_equal_score_across_a_batch_or_the_window_edge_are_taken_in_id_order() -> None:
    # k = 1: records are read 2 rows at a time, grouping looks 10 rows deep
    scores = [9.0, 5.0, 5.0, 5.0] + [4.0 - 0.1 * i for i in range(5)] + [1.0] * 4
    # row 1 deleted since: the run of rows 2-4 crosses the first batch's end; id order puts row 4 first
    assert _first_hit(scores, {1}) == (5.0, "id096")
    # rows 1-9 deleted: the run of rows 10-13 crosses the window's edge; by id, row 13 is inside it
    assert _first_hit(scores, set(range(1, 10))) == (1.0, "id087")
