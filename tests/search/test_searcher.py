"""`Searcher` fusion and hit scores over a stub store: z-scores within a collection, ranks across
collections, and the cosine and BM25 of each hit handed out as they came from the store."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from omnivec.search.fusion import DEFAULT_FUSION, Z_DEPTH, Fusion
from omnivec.search.searcher import Searcher
from omnivec.stores.base import Filter, Record


class StubStore:
    """Fixed dense and keyword lists per collection; records every requested depth."""

    def __init__(
        self,
        dense: dict[str, list[tuple[str, float]]],
        keyword: dict[str, list[tuple[str, float]]],
        engines: dict[str, str] | None = None,
    ):
        self.dense, self.keyword = dense, keyword
        self.engines = engines or {}
        self.depths: list[int] = []

    def keyword_engine(self, coll: str) -> str:
        return self.engines.get(coll, "stub-bm25")

    def check_query(self, collection: str, **kw: Any) -> None:
        return None

    def dense_search(self, coll: str, vec: Any, k: int, flt: Filter | None = None) -> list[tuple[str, float]]:
        self.depths.append(k)
        return self.dense.get(coll, [])[:k]

    def keyword_search(self, coll: str, q: str, k: int, flt: Filter | None = None) -> list[tuple[str, float]]:
        self.depths.append(k)
        return self.keyword.get(coll, [])[:k]

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> dict[str, Record]:
        vec = np.zeros(2, dtype=np.float32)
        return {i: Record(i, i, vec, i, {"path": f"{i}.py", "kind": "code"}) for i in ids}


@pytest.fixture(scope="module")
def fake():
    from omnivec.encoders.registry import load_encoder

    return load_encoder("omnivec/fake")


def test_hits_carry_the_cosine_and_bm25_that_were_fused(fake) -> None:
    dense = [("a", 0.81), ("b", 0.62), ("c", 0.55), ("d", 0.40)]
    keyword = [("c", 14.0), ("a", 6.5), ("e", 2.0)]
    store = StubStore({"text": dense}, {"text": keyword})
    hits = Searcher(store, {"text": fake}).search("parse config", k=5)  # type: ignore[arg-type]
    expected = DEFAULT_FUSION.fuse([dense, keyword], floors=[None, 0.0])
    assert [h.id for h in hits] == [f.id for f in expected]
    by_id = {h.id: h for h in hits}
    assert (by_id["a"].dense_score, by_id["a"].keyword_score) == (0.81, 6.5)
    assert (by_id["e"].dense_score, by_id["e"].keyword_score) == (None, 2.0)
    assert by_id["d"].keyword_score is None
    assert by_id["a"].to_dict()["dense_score"] == 0.81 and by_id["e"].to_dict()["dense_score"] is None
    assert min(store.depths) >= Z_DEPTH  # the z statistics see as deep a list as the evaluator's


def test_one_side_keeps_its_raw_scores(fake) -> None:
    store = StubStore({"text": [("a", 0.7), ("b", 0.3)]}, {"text": [("b", 9.0)]})
    searcher = Searcher(store, {"text": fake})  # type: ignore[arg-type]
    dense = searcher.search("x", k=2, mode="dense")
    assert [(h.id, h.score, h.dense_score, h.keyword_score) for h in dense] == [
        ("a", 0.7, 0.7, None), ("b", 0.3, 0.3, None)
    ]  # fmt: skip
    keyword = searcher.search("x", k=2, mode="keyword")
    assert [(h.id, h.score, h.keyword_score) for h in keyword] == [("b", 9.0, 9.0)]


def _other_space():  # type: ignore[no-untyped-def]
    """A fake encoder of another recipe: its query vectors are not the fixture's."""
    from omnivec.encoders.registry import load_encoder

    return load_encoder("omnivec/fake").with_max_length(64)


def test_collections_of_different_spaces_merge_by_rank(fake) -> None:
    # the image space's cosines are all lower, yet its best hit is not buried under text hits
    store = StubStore(
        {"text": [("t1", 0.9), ("t2", 0.8), ("t3", 0.7)], "image": [("i1", 0.31), ("i2", 0.2)]}, {}
    )
    hits = Searcher(store, {"text": fake, "image": _other_space()}).search("x", k=4, mode="dense")  # type: ignore[arg-type]
    assert [h.id for h in hits[:2]] == ["i1", "t1"]  # equal RRF 1/61; ties by id
    assert hits[0].dense_score == 0.31 and hits[0].score == pytest.approx(1 / 61)


def test_collections_of_one_query_space_merge_by_score(fake) -> None:
    """Collections searched with the same query vector (code and ConSE images, both over one
    text model) have comparable cosines: a near-zero image never outranks a strong code hit,
    as interleaving by rank had it. Keyword-only search keeps collections apart (by rank): BM25
    depends on each collection's statistics."""
    store = StubStore(
        {"code": [("c1", 0.74), ("c2", 0.51), ("c3", 0.30)], "image": [("red.png", 0.09), ("cat.png", 0.55)][::-1]},
        {"code": [("c1", 3.9), ("c2", 1.2)], "image": [("scan.png", 0.3)]},
    )  # fmt: skip
    searcher = Searcher(store, {"code": fake, "image": fake})  # type: ignore[arg-type]
    dense = searcher.search("x", k=5, mode="dense")
    assert [h.id for h in dense] == ["c1", "cat.png", "c2", "c3", "red.png"]
    assert dense[0].score == 0.74  # one list: the cosine itself, as for one collection
    keyword = searcher.search("x", k=5, mode="keyword")
    assert [h.id for h in keyword] == ["c1", "scan.png", "c2"]  # RRF: 1/61, 1/61 (ties by id), 1/62
    hybrid = searcher.search("x", k=5)
    assert [h.id for h in hybrid][:2] == ["c1", "c2"] and "red.png" not in [h.id for h in hybrid][:3]
    # the same collections under two query spaces: back to ranks, the image's best at the top
    mixed = Searcher(store, {"code": fake, "image": _other_space()}).search("x", k=2, mode="dense")  # type: ignore[arg-type]
    assert [h.id for h in mixed] == ["c1", "cat.png"] or [h.id for h in mixed] == ["cat.png", "c1"]
    assert [h.score for h in mixed] == [pytest.approx(1 / 61)] * 2  # each space's best: by rank, not cosine


def test_the_fusion_is_the_searchers_to_choose(fake) -> None:
    dense = [(f"d{i}", 0.6 - 0.001 * i) for i in range(30)] + [("hit", 0.569)]
    keyword = [("hit", 30.0)] + [(f"d{i}", 5.0 - 0.01 * i) for i in range(30)]
    store = StubStore({"text": dense}, {"text": keyword})
    assert Searcher(store, {"text": fake}).search("x", k=1)[0].id == "hit"  # type: ignore[arg-type]
    rrf = Searcher(store, {"text": fake}, fusion=Fusion("rrf"))  # type: ignore[arg-type]
    assert rrf.search("x", k=1)[0].id == "d0"


def test_results_name_the_keyword_engine_only_when_a_keyword_side_ran(fake) -> None:
    store = StubStore({"text": [("a", 0.7), ("b", 0.3)]}, {"text": [("b", 9.0)]})
    searcher = Searcher(store, {"text": fake})  # type: ignore[arg-type]
    for mode in ("hybrid", "keyword"):
        hits = searcher.search("x", k=2, mode=mode)
        assert hits.keyword_engine == "stub-bm25"
        assert {h.keyword_engine for h in hits} == {"stub-bm25"}
        assert hits[0].to_dict()["keyword_engine"] == "stub-bm25"
    dense = searcher.search("x", k=2, mode="dense")
    assert dense.keyword_engine is None and [h.keyword_engine for h in dense] == [None, None]
    assert dense[0].to_dict()["keyword_engine"] is None
    empty = searcher.search("nothing", k=2, mode="keyword")
    assert empty.keyword_engine == "stub-bm25"  # it answered, with nothing


def test_collections_with_different_keyword_engines_name_both(fake) -> None:
    store = StubStore(
        {},
        {"text": [("t1", 3.0)], "docs": [("d1", 2.0)]},
        engines={"text": "omnivec-scan", "docs": "milvus-bm25"},
    )
    hits = Searcher(store, {"text": fake, "docs": fake}).search("x", k=2, mode="keyword")  # type: ignore[arg-type]
    assert hits.keyword_engine == "milvus-bm25+omnivec-scan"
