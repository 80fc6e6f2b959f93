"""The contract every `VectorStore` backend must pass (parametrised over conftest.BACKENDS)."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.errors import InputError, RecipeMismatchError
from omnivec.stores import Filter, Record, SourceState, VectorStore
from tests.stores.conftest import HAVE_MILVUS
from tests.stores.helpers import DIM, RECIPE, brute_force, record, records, state, unit


def ids_of(hits: list[tuple[str, float]]) -> list[str]:
    return [i for i, _ in hits]


# -- collections ------------------------------------------------------------------------------


def test_ensure_collection_is_idempotent_and_listed(store: VectorStore) -> None:
    again = store.ensure_collection(
        "code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=dict(RECIPE)
    )
    assert (again.name, again.dim, again.fingerprint, again.count) == ("code", DIM, "fp1", 0)
    assert dict(again.recipe) == RECIPE
    store.ensure_collection("images", model="clip", fingerprint="fp2", dim=8, recipe={"family": "clip"})
    assert [c.name for c in store.collections()] == ["code", "images"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"recipe": {**RECIPE, "max_length": 2048}}, "max_length 512 vs 2048"),
        ({"recipe": {**RECIPE, "options": {"size": 64}}}, "options.size 32 vs 64"),
        ({"dim": 32}, "dim 16 vs 32"),
        ({"fingerprint": "other"}, "fingerprint fp1 vs other"),
    ],
)
def test_collection_recipe_mismatch_says_what_differs(store: VectorStore, change: dict, message: str) -> None:
    kw = {"model": "fake-model", "fingerprint": "fp1", "dim": DIM, "recipe": RECIPE, **change}
    with pytest.raises(RecipeMismatchError, match=message):
        store.ensure_collection("code", **kw)


def test_check_query(store: VectorStore) -> None:
    store.check_query("code", fingerprint="fp1", recipe=RECIPE)
    with pytest.raises(RecipeMismatchError, match="pooling 'mean' vs 'cls'"):
        store.check_query("code", fingerprint="fp1", recipe={**RECIPE, "pooling": "cls"})
    with pytest.raises(InputError, match="collection 'nope'"):
        store.check_query("nope", fingerprint="fp1", recipe=RECIPE)


# -- sources ----------------------------------------------------------------------------------


def test_replace_touch_remove_sources(store: VectorStore) -> None:
    store.replace_source("code", state("a.py", 3), records("a.py", 3))
    store.replace_source("code", state("b.py", 2), records("b.py", 2))
    assert store.sources() == {"a.py": state("a.py", 3), "b.py": state("b.py", 2)}
    assert store.collections()[0].count == 5

    store.replace_source("code", state("a.py", 2, version="v2"), records("a.py", 2, version="v2"))
    assert set(store.get([r.id for r in records("a.py", 3)])) == set()
    assert set(store.get([r.id for r in records("a.py", 2, version="v2")])) == {"a.py#0:v2", "a.py#1:v2"}
    assert store.sources()["a.py"].content_hash == "hash-a.py-v2"

    store.touch_source(state("a.py", 2, version="v2", mtime_ns=99))
    assert store.sources()["a.py"].mtime_ns == 99
    assert len(store.get(["a.py#0:v2", "a.py#1:v2"])) == 2

    store.remove_source("a.py")
    assert set(store.sources()) == {"b.py"}
    assert store.get(["a.py#0:v2"]) == {}
    assert store.collections()[0].count == 2
    assert sorted(ids_of(store.dense_search("code", unit("a.py#0:v2"), 10))) == ["b.py#0:v1", "b.py#1:v1"]


def test_skipped_source_and_chunks_counted_by_store(store: VectorStore) -> None:
    store.touch_source(state("big.bin", 7, status="skipped: too large"))
    assert store.sources()["big.bin"] == SourceState(
        "big.bin", "hash-big.bin-v1", 100, 1, 0, "skipped: too large"
    )


def test_sources_span_collections(store: VectorStore) -> None:
    store.ensure_collection("images", model="clip", fingerprint="fp2", dim=DIM, recipe={"family": "clip"})
    text, image = records("doc.pdf", 2), records("doc.pdf", 1, prefix="img:")
    store.replace_source("code", state("doc.pdf"), text)
    store.replace_source("images", state("doc.pdf"), image)
    assert store.sources()["doc.pdf"].chunks == 3
    # replacing in one collection leaves the other's records alone
    store.replace_source("code", state("doc.pdf", version="v2"), records("doc.pdf", 1, version="v2"))
    assert set(store.get(["img:doc.pdf#0:v1", "doc.pdf#0:v2", "doc.pdf#1:v1"])) == {
        "img:doc.pdf#0:v1",
        "doc.pdf#0:v2",
    }
    assert store.get(["img:doc.pdf#0:v1"])["img:doc.pdf#0:v1"].collection == "images"
    # replace_source_all drops the source from collections it does not mention
    store.replace_source_all(state("doc.pdf", version="v3"), {"code": records("doc.pdf", 2, version="v3")})
    assert store.get(["img:doc.pdf#0:v1"]) == {}
    assert store.dense_search("images", unit("img:doc.pdf#0:v1"), 5) == []
    assert store.sources()["doc.pdf"].chunks == 2
    store.remove_source("doc.pdf")
    assert store.sources() == {}
    assert [c.count for c in store.collections()] == [0, 0]


def test_duplicate_id_is_refused_and_nothing_changes(store: VectorStore) -> None:
    store.replace_source("code", state("a.py", 1), records("a.py", 1))
    clash = Record("a.py#0:v1", "b.py", unit(1), "x", {"path": "b.py"})
    with pytest.raises(InputError, match=r"a\.py#0:v1.*already used by source 'a\.py'"):
        store.replace_source("code", state("b.py", 2), [*records("b.py", 1), clash])
    assert set(store.sources()) == {"a.py"}
    assert store.get(["b.py#0:v1"]) == {}


def test_wrong_vector_shape_is_refused(store: VectorStore) -> None:
    bad = Record("x#0", "x.py", np.ones(DIM + 1, np.float32), "x", {})
    with pytest.raises(InputError, match=r"shape \(17,\)"):
        store.replace_source("code", state("x.py", 1), [bad])
    with pytest.raises(InputError, match="source"):
        store.replace_source("code", state("y.py", 1), records("x.py", 1))
    assert store.sources() == {}


# -- search -----------------------------------------------------------------------------------


def test_dense_search_matches_brute_force(store: VectorStore) -> None:
    recs = [r for s in range(10) for r in records(f"src/m{s}.py", 8)]
    for s in range(10):
        store.replace_source("code", state(f"src/m{s}.py", 8), recs[s * 8 : (s + 1) * 8])
    vectors = {r.id: r.vector for r in recs}
    for q in range(5):
        query = unit(f"query{q}")
        hits = store.dense_search("code", query, 7)
        assert ids_of(hits) == brute_force(vectors, query, 7)
        np.testing.assert_allclose(
            [s for _, s in hits], [vectors[i] @ query for i in ids_of(hits)], atol=1e-5
        )
    top = store.dense_search("code", recs[13].vector, 1)
    assert top[0][0] == recs[13].id and top[0][1] == pytest.approx(1.0, abs=1e-5)
    assert len(store.dense_search("code", unit(0), 1000)) == 80
    with pytest.raises(InputError, match="query vector"):
        store.dense_search("code", np.ones(3, np.float32), 3)


def test_keyword_search_code_tokens_and_bm25(store: VectorStore) -> None:
    texts = {
        "http.py": "def parseHTTPResponse(raw): return raw",
        "db.py": "class DatabaseConnection: pass  # connection pool",
        "misc.py": "parse the config file; parse it twice; parse",
        "util.py": "def read_json_file(path): ...",
    }
    for src, text in texts.items():
        store.replace_source("code", state(src, 1), [record(src, 0, text=text)])
    assert ids_of(store.keyword_search("code", "parseHTTPResponse", 5))[0] == "http.py#0:v1"
    assert ids_of(store.keyword_search("code", "http response", 5)) == ["http.py#0:v1"]
    assert ids_of(store.keyword_search("code", "json", 5)) == ["util.py#0:v1"]
    assert ids_of(store.keyword_search("code", "read_json_file", 5))[0] == "util.py#0:v1"  # misc: "file"
    hits = store.keyword_search("code", "parse", 5)
    assert ids_of(hits) == ["misc.py#0:v1", "http.py#0:v1"]  # bm25: more occurrences rank first
    assert hits[0][1] > hits[1][1]
    assert set(ids_of(store.keyword_search("code", "database OR nothing", 5))) == {"db.py#0:v1"}


def test_keyword_search_finds_words_in_any_script(store: VectorStore) -> None:
    texts = {
        "de.py": "def dateigröße(pfad): # Größe der Datei in Bytes",
        "zh.py": "def connect(): # 创建数据库连接池",
        "fr.py": "résumé du rapport",
        # 21,000 CJK characters (63 KB, within a record's limit): their pairs are 147 KB of tokens
        "long.py": "索引" + "长文本" * 7_000,
    }
    for src, text in texts.items():
        store.replace_source("code", state(src, 1), [record(src, 0, text=text)])
    assert ids_of(store.keyword_search("code", "GRÖSSE", 5)) == ["de.py#0:v1"]
    assert ids_of(store.keyword_search("code", "数据库", 5)) == ["zh.py#0:v1"]
    assert ids_of(store.keyword_search("code", "Résumé", 5)) == ["fr.py#0:v1"]
    assert ids_of(store.keyword_search("code", "索引", 5)) == ["long.py#0:v1"]


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("col AND OR NOT", True), ("NEAR(x y)", True), ("col:x *", True), ('"x', True),
        ('"', False), ("^-+{}()[]'\"", False), ("", False), ("   ", False), ("é中文", False),
    ],
)  # fmt: skip
def test_keyword_query_syntax_is_plain_words(store: VectorStore, query: str, found: bool) -> None:
    """Operators and punctuation are words or nothing, never query syntax: no error, and a query
    whose words occur in one record finds exactly that record; one with no words finds nothing."""
    store.replace_source("code", state("a.py", 1), [record("a.py", 0, text="near col and or not x y")])
    store.replace_source("code", state("b.py", 1), [record("b.py", 0, text="unrelated other words")])
    hits = store.keyword_search("code", query, 5)
    assert ids_of(hits) == (["a.py#0:v1"] if found else [])
    assert all(isinstance(score, float) and score > 0 for _, score in hits)


def test_filters_never_under_fill(store: VectorStore) -> None:
    """10,000 records: a filter matching 3 returns all 3 with k=10; one matching 50 returns 10."""
    vectors: dict[str, np.ndarray] = {}
    go: set[str] = set()
    for s in range(100):
        src = f"pkg{s % 4}/file{s}.py"
        recs = []
        for i in range(100):
            n = s * 100 + i
            kind = "rare" if n in (17, 5003, 9999) else "code"
            lang = "go" if n % 200 == 7 else "python"
            recs.append(record(src, i, kind=kind, language=lang))
        store.replace_source("code", state(src, 100), recs)
        vectors.update({r.id: r.vector for r in recs})
        go.update(r.id for r in recs if r.fields["language"] == "go")
    store.flush()
    query = unit("filter-query")
    rare = store.dense_search("code", query, 10, Filter(kinds=("rare",)))
    assert sorted(ids_of(rare)) == sorted(
        ["pkg0/file0.py#17:v1", "pkg2/file50.py#3:v1", "pkg3/file99.py#99:v1"]
    )
    assert len(go) == 50
    hits = store.dense_search("code", query, 10, Filter(languages=("go",)))
    assert ids_of(hits) == brute_force({i: vectors[i] for i in go}, query, 10)
    pkg1 = {i for i in vectors if i.startswith("pkg1/")}
    hits = store.dense_search("code", query, 10, Filter(path_glob="pkg1/*"))
    assert ids_of(hits) == brute_force({i: vectors[i] for i in pkg1}, query, 10)
    both = store.dense_search("code", query, 10, Filter(kinds=("rare",), languages=("go",)))
    assert both == []
    kw = store.keyword_search("code", "chunk", 10, Filter(kinds=("rare",)))
    assert len(kw) == 3
    kw = store.keyword_search("code", "chunk file50", 10, Filter(path_glob="pkg2/file5*"))
    assert len(kw) == 10 and all(i.startswith("pkg2/file5") for i in ids_of(kw))


def test_get_round_trips_fields_and_vectors(store: VectorStore) -> None:
    rec = Record("m.py#0", "m.py", unit("m"), "def f(): pass",
                 {"path": "m.py", "kind": "code", "language": "python", "symbol": "f", "start_line": 1,
                  "end_line": 2, "display": "m.py:1", "tags": ("a", "b")})  # fmt: skip
    store.replace_source("code", state("m.py", 1), [rec])
    got = store.get(["m.py#0", "missing"])
    assert set(got) == {"m.py#0"}
    r = got["m.py#0"]
    assert (r.source, r.text, r.collection) == ("m.py", "def f(): pass", "code")
    assert dict(r.fields) == {**rec.fields, "tags": ["a", "b"]}
    assert r.vector.size == 0
    np.testing.assert_array_equal(store.get(["m.py#0"], with_vectors=True)["m.py#0"].vector, rec.vector)


# -- persistence and readers ------------------------------------------------------------------


def test_persists_across_reopen(open_store) -> None:
    s = open_store()
    s.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
    for n in range(5):
        s.replace_source("code", state(f"f{n}.py", 3), records(f"f{n}.py", 3, text=f"alpha beta{n}"))
    query = unit("q")
    before = (s.dense_search("code", query, 5), s.keyword_search("code", "beta3", 5), s.sources())
    s.close()
    reader = open_store(writer=False)
    after = (
        reader.dense_search("code", query, 5),
        reader.keyword_search("code", "beta3", 5),
        reader.sources(),
    )
    assert ids_of(after[0]) == ids_of(before[0]) and after[1:] == before[1:]
    assert [c.count for c in reader.collections()] == [15]


def test_reader_sees_later_commits(open_store) -> None:
    w = open_store()
    w.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
    w.replace_source("code", state("a.py", 2), records("a.py", 2))
    w.flush()
    r = open_store(writer=False)
    assert len(r.dense_search("code", unit(1), 10)) == 2
    w.replace_source("code", state("b.py", 3), records("b.py", 3))
    w.remove_source("a.py")
    assert sorted(ids_of(r.dense_search("code", unit(1), 10))) == [f"b.py#{i}:v1" for i in range(3)]
    assert set(r.sources()) == {"b.py"}


def test_keyword_or_semantics_with_common_terms(store: VectorStore) -> None:
    """Terms found almost everywhere still count: k is filled, rare-term matches rank first."""
    for n in range(10):
        text = "def run(self): return self" + (" parse_args" if n in (3, 7) else "")
        store.replace_source("code", state(f"m{n}.py", 1), [record(f"m{n}.py", 0, text=text)])
    hits = ids_of(store.keyword_search("code", "self parse", 5))
    assert len(hits) == 5 and set(hits[:2]) == {"m3.py#0:v1", "m7.py#0:v1"}
    assert len(store.keyword_search("code", "self", 20)) == 10


def test_implements_the_protocol(store: VectorStore) -> None:
    assert isinstance(store, VectorStore)
    stats = store.stats()
    assert stats["collections"]["code"]["count"] == 0


def test_keyword_engine_is_named_in_one_vocabulary(store: VectorStore) -> None:
    """Search results say which keyword engine answered (`VectorStore.keyword_engine`); stats use
    the same names: the embedded store's BM25 index, Lite's default scan, a server's either."""
    stats = store.stats()
    expected = {"local": {"omnivec-bm25"}, "milvus-lite": {"omnivec-scan"}}
    engine = store.keyword_engine("code")
    assert engine in expected.get(stats["backend"], {"omnivec-scan", "milvus-bm25"})
    assert stats["keyword"] == [engine] and stats["collections"]["code"]["keyword"] == engine


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("*", {"src/a_b.py", "src/a%b.py", "src/axb.py", "Src/deep/x.py", "docs/[x].md", "top.py"}),
        ("src/*", {"src/a_b.py", "src/a%b.py", "src/axb.py"}),  # case-sensitive: not Src/
        ("*/x.py", {"Src/deep/x.py"}),  # `*` matches `/`
        ("src/a_b.py", {"src/a_b.py"}),  # `_` and `%` are literals, not LIKE wildcards
        ("src/a%b.py", {"src/a%b.py"}),
        ("src/a?b.py", {"src/a_b.py", "src/a%b.py", "src/axb.py"}),
        ("src/a[x_]b.py", {"src/a_b.py", "src/axb.py"}),
        ("src/a[^x]b.py", {"src/a_b.py", "src/a%b.py"}),
        ("docs/[[]x].md", {"docs/[x].md"}),
        ("?op.py", {"top.py"}),
        ("nothing*", set()),
    ],
)  # fmt: skip
def test_path_glob_has_sqlite_glob_semantics(store: VectorStore, glob: str, expected: set[str]) -> None:
    paths = ["src/a_b.py", "src/a%b.py", "src/axb.py", "Src/deep/x.py", "docs/[x].md", "top.py"]
    for p in paths:
        store.replace_source("code", state(p, 1), [record(p, 0, text="common word")])
    flt = Filter(path_glob=glob)
    dense = {i.split("#")[0] for i in ids_of(store.dense_search("code", unit("q"), 10, flt))}
    keyword = {i.split("#")[0] for i in ids_of(store.keyword_search("code", "common", 10, flt))}
    assert dense == expected and keyword == expected


# -- keyword faithfulness -----------------------------------------------------------------------

_WORDS = ["alpha", "beta", "gamma", "delta", "parse_args", "epsilon", "zeta", "omega", "kappa", "sigma"]


def _corpus() -> dict[str, str]:
    """60 texts of 1..40 words over a small vocabulary: lengths and counts vary enough that
    another k1 or b, or a deduplicated query, changes the scores' proportions."""
    rng = np.random.default_rng(7)
    return {f"t{n:02d}": " ".join(rng.choice(_WORDS, size=int(rng.integers(1, 41)), p=np.linspace(2, 0.5, len(_WORDS)) / 12.5)) for n in range(60)}  # fmt: skip


def _all_scores(s: VectorStore, queries: list[str]) -> dict[tuple[str, str], float]:
    return {(q, i): score for q in queries for i, score in s.keyword_search("code", q, 1000)}


def test_keyword_scores_are_the_local_stores_scaled(store: VectorStore, tmp_path) -> None:
    """Every backend's BM25 is the local store's (bm25s' Lucene variant with the analyser's k1 and
    b, repeated query terms counted, statistics over live documents) up to one constant factor
    (Milvus multiplies by k1 + 1): the same matches, the same order, the same gaps."""
    _check_scaled_scores(store, tmp_path)


@pytest.mark.skipif(not HAVE_MILVUS, reason="no milvus extra")
def test_milvus_lite_bm25_keyword_scores_are_the_local_stores_scaled(tmp_path, caplog) -> None:
    """The same for Milvus Lite's own BM25 (`keyword=bm25`; the default there is omnivec's scan,
    which the suite above runs), without flushes: Lite keeps BM25 statistics per sealed segment,
    which choosing it says in a warning."""
    from omnivec.stores.milvus import MilvusStore

    s = MilvusStore(f"milvus-lite://{tmp_path}/bm25.db?keyword=bm25", writer=True)
    try:
        with caplog.at_level("WARNING", logger="omnivec.stores.milvus"):
            s.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
        assert "per sealed segment" in caplog.text
        assert s.stats()["collections"]["code"]["keyword"] == "milvus-bm25"
        _check_scaled_scores(s, tmp_path)
    finally:
        s.close()


def _per_segment_bm25(store: VectorStore) -> bool:
    """Milvus Lite keeps BM25 statistics per sealed segment (docs/scaling.md): after a flush its
    own BM25 scores are per segment by design, so the flush is left out of the comparison there."""
    stats = store.stats()
    return stats.get("backend") == "milvus-lite" and stats.get("keyword") == ["milvus-bm25"]


def _check_scaled_scores(store: VectorStore, tmp_path) -> None:
    from omnivec.stores import LocalStore

    queries = ["alpha", "kappa sigma", "omega omega omega alpha", "parse_args zeta zeta", "beta delta"]
    ref = LocalStore(tmp_path / "ref", writer=True)
    try:
        ref.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
        texts = list(_corpus().values())
        for s in (store, ref):  # 6 sources of 10 records (few writes: a server write takes a while)
            for f in range(6):
                recs = [record(f"k{f}.py", i, text=texts[f * 10 + i]) for i in range(10)]
                s.replace_source("code", state(f"k{f}.py", 10), recs)
                if f == 2 and not _per_segment_bm25(s):  # statistics must span what was flushed
                    s.flush()
            s.remove_source("k2.py")  # statistics must leave removed records out
        got, want = _all_scores(store, queries), _all_scores(ref, queries)
    finally:
        ref.close()
    assert got.keys() == want.keys() and len(want) > 80
    ratios = np.array([got[key] / want[key] for key in want])
    assert np.allclose(ratios, ratios[0], rtol=1e-4), (ratios.min(), ratios.max())
