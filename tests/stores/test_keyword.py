"""The exact BM25 keyword index: scores against an independent BM25, incremental paths, files."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pytest

from omnivec.stores import Filter, LocalStore, bm25, bm25_topk
from omnivec.stores.bm25 import Bm25Index
from omnivec.stores.keyword import load_index, save_index
from tests.stores.helpers import DIM, RECIPE, record, state

WORDS = [f"w{i}" for i in range(60)] + ["self", "return", "the"] * 20  # some terms everywhere


def reference(docs: dict[int, list[str]], query: list[str], k: int) -> list[tuple[int, float]]:
    """BM25 (bm25s' Lucene variant) written out plainly, over the live documents."""
    n = len(docs)
    avgdl = sum(map(len, docs.values())) / n
    df: dict[str, int] = {}
    for toks in docs.values():
        for t in set(toks):
            df[t] = df.get(t, 0) + 1
    scores = {}
    for rid, toks in docs.items():
        s = 0.0
        for t in query:
            tf = toks.count(t)
            if tf:
                idf = math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5))
                s += idf * tf / (tf + bm25.K1 * (1 - bm25.B + bm25.B * len(toks) / avgdl))
        if s > 0:
            scores[rid] = s
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def random_docs(rng: random.Random, n: int, first: int) -> dict[int, list[str]]:
    return {first + i: rng.choices(WORDS, k=rng.randint(1, 40)) for i in range(n)}


def assert_same(index: Bm25Index, docs: dict[int, list[str]], query: list[str], k: int = 10) -> None:
    want = reference(docs, query, k)
    scores, rids = index.search(query, k)
    assert rids.tolist() == [r for r, _ in want]
    np.testing.assert_allclose(scores, [s for _, s in want], rtol=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_exact_under_adds_deletes_merges_and_compaction(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    monkeypatch.setattr(bm25, "_MERGE_MIN", 50)  # exercise the delta and its merges
    rng = random.Random(seed)
    index, live, next_rid = Bm25Index(), {}, 1
    queries = [["w1"], ["self", "w3", "w3"], ["the", "return", "w7", "w59"], ["nope"], ["self", "the"]]
    for step in range(12):
        new = random_docs(rng, rng.randint(1, 30), next_rid)
        next_rid += len(new) + rng.randint(0, 3)  # rowids ascend, with gaps
        index.add(np.array(list(new)), list(new.values()))
        live.update(new)
        gone = rng.sample(sorted(live), k=min(len(live) - 1, rng.randint(0, 12)))
        index.remove(np.array([*gone, 10**9]))  # an unknown rowid is ignored
        for g in gone:
            del live[g]
        if step % 4 == 3:
            index.compact(force=True)
        for q in queries:
            assert_same(index, live, q, k=rng.choice([1, 3, 10, 1000]))
    assert index.ntotal == len(live)


def test_maxscore_pruning_keeps_the_exact_top_k(monkeypatch: pytest.MonkeyPatch) -> None:
    """A rare term decides the top; the common ones are then looked up, not walked, yet count."""
    monkeypatch.setattr(bm25_topk, "SMALL_QUERY", 0)
    docs = {
        i + 1: ["self", "return"] * (1 + i % 3) + (["needle"] if i % 97 == 0 else []) for i in range(2000)
    }
    index = Bm25Index()
    index.add(np.array(list(docs)), list(docs.values()))
    assert_same(index, docs, ["needle", "self", "return"], k=5)
    assert_same(index, docs, ["needle", "self", "return"], k=50)  # past the rare matches


def test_allowed_rowids_never_under_fill() -> None:
    rng = random.Random(7)
    docs = random_docs(rng, 500, 1)
    index = Bm25Index()
    index.add(np.array(list(docs)), list(docs.values()))
    allowed = np.array(sorted(rng.sample(sorted(docs), 7)))
    _, rids = index.search(["self", "w2"], 5, allowed)
    kept = {r: docs[r] for r in allowed.tolist()}
    full = reference(docs, ["self", "w2"], 10**6)
    want = [r for r, _ in full if r in kept][:5]
    assert rids.tolist() == want and len(want) == 5


def test_rowids_must_ascend() -> None:
    index = Bm25Index()
    index.add(np.array([5]), [["a"]])
    with pytest.raises(ValueError, match="ascending"):
        index.add(np.array([3]), [["b"]])


def test_file_round_trip(tmp_path: Path) -> None:
    rng = random.Random(3)
    docs = random_docs(rng, 300, 1)
    index = Bm25Index(generation=7)
    index.add(np.array(list(docs)), list(docs.values()))
    index.remove(np.array([1, 2, 3]))
    save_index(tmp_path / "1.bm25", index, {"store": "s", "cid": 1})
    head, loaded = load_index(tmp_path / "1.bm25")  # type: ignore[misc]
    assert (head["generation"], head["cid"], loaded.generation) == (7, 1, 7)
    assert all(getattr(loaded, n).flags.aligned for n in ("post_doc", "post_tf", "ptr", "rids"))  # speed
    live = {r: t for r, t in docs.items() if r > 3}
    assert_same(loaded, live, ["w4", "self"])
    loaded.remove(np.array([4]))  # arrays read from a file stay writable
    loaded.add(np.array([1000]), [["w4", "w4"]])
    assert_same(loaded, {**{r: t for r, t in live.items() if r != 4}, 1000: ["w4", "w4"]}, ["w4", "self"])


def test_store_keyword_search_is_exact_bm25_with_filters(tmp_path: Path) -> None:
    rng = random.Random(11)
    w = LocalStore(tmp_path, writer=True, flush_interval=None)
    w.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
    texts: dict[str, str] = {}
    for s in range(40):
        src = f"{'lib' if s % 5 else 'Tests'}/m{s}.py"
        recs = [record(src, i, text=" ".join(rng.choices(WORDS, k=rng.randint(1, 30)))) for i in range(5)]
        w.replace_source("code", state(src, 5), recs)
        texts.update({r.id: r.text for r in recs})
        if s % 7 == 6:
            w.flush()
    w.remove_source("lib/m3.py")
    texts = {i: t for i, t in texts.items() if not i.startswith("lib/m3.py")}
    rids = {i: n for n, i in enumerate(texts)}
    docs = {rids[i]: bm25.analyse(t) for i, t in texts.items()}  # "w5" is "w5", "w" and "5"
    for q in ("self w5", "w1 w2 w3 the", "w59"):
        want = [list(texts)[r] for r, _ in reference(docs, bm25.analyse(q), 10)]
        assert [i for i, _ in w.keyword_search("code", q, 10)] == want
    # SQLite GLOB: case-sensitive, `*` crosses `/`; selective, yet k is filled from the matches
    hits = w.keyword_search("code", "self w5", 10, Filter(path_glob="Tests*"))
    tests = {i for i in texts if i.startswith("Tests/")}
    assert len(hits) == min(10, sum(1 for i in tests if {"self", "w5"} & set(texts[i].split())))
    assert {i for i, _ in hits} <= tests
    assert w.keyword_search("code", "self", 10, Filter(path_glob="tests*")) == []
    w.close()


# -- the pruned search (MaxScore) against the exhaustive walk and the reference ---------------

ZIPF = [f"t{i}" for i in range(400)]


def zipf_docs(
    rng: random.Random, n: int, first: int, length: tuple[int, int] = (1, 60)
) -> dict[int, list[str]]:
    """Documents over a vocabulary of Zipf-like frequencies: common terms everywhere, rare ones
    in a few documents, so pruning has common terms to skip."""
    weights = [1 / (i + 1) for i in range(len(ZIPF))]
    return {first + i: rng.choices(ZIPF, weights, k=rng.randint(*length)) for i in range(n)}


def zipf_query(rng: random.Random) -> list[str]:
    common = rng.choices(ZIPF[:8], k=rng.randint(1, 4))
    rare = rng.choices(ZIPF[50:], k=rng.randint(0, 3))
    return common + rare + (common[:1] if rng.random() < 0.3 else [])  # a repeated term, at times


def assert_pruned_exact(
    index: Bm25Index,
    docs: dict[int, list[str]],
    query: list[str],
    k: int,
    allowed: np.ndarray | None = None,
    full: list[tuple[int, float]] | None = None,
) -> None:
    """`search` equals `search_exhaustive` and the reference (`full`: its whole ranking)."""
    scores, rids = index.search(query, k, allowed)
    ref_scores, ref_rids = index.search_exhaustive(query, k, allowed)
    assert rids.tolist() == ref_rids.tolist()
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-12)
    kept = docs if allowed is None else {r: docs[r] for r in allowed.tolist() if r in docs}
    full = reference(docs, query, 10**9) if full is None else full
    want = [(r, s) for r, s in full if r in kept][:k]
    assert rids.tolist() == [r for r, _ in want]
    np.testing.assert_allclose(scores, [s for _, s in want], rtol=1e-9)


@pytest.mark.parametrize(("seed", "small"), [(0, 0), (1, 0), (2, bm25_topk.SMALL_QUERY)])
def test_pruned_search_is_exact_through_writes_filters_and_ties(
    monkeypatch: pytest.MonkeyPatch, seed: int, small: int
) -> None:
    monkeypatch.setattr(bm25, "_MERGE_MIN", 400)  # postings in base and delta segments alike
    monkeypatch.setattr(bm25_topk, "SMALL_QUERY", small)  # 0: prune even these small queries
    rng = random.Random(seed)
    index, live, next_rid = Bm25Index(), {}, 1
    for step in range(8):
        # short documents after long ones (and back) move avgdl: the kept term bounds must hold
        length = (1, 6) if step in (3, 4) else (20, 120) if step == 6 else (1, 60)
        new = zipf_docs(rng, rng.randint(100, 400), next_rid, length)
        new[next_rid + len(new)] = new[next_rid]  # an exact duplicate: a tie, broken by rowid
        next_rid += len(new) + rng.randint(0, 3)
        index.add(np.array(list(new)), list(new.values()))
        live.update(new)
        gone = rng.sample(sorted(live), k=rng.randint(0, len(live) // 5))
        index.remove(np.array(gone))
        for g in gone:
            del live[g]
        if step == 5:
            index.compact(force=True)
        for _ in range(4):
            q, k = zipf_query(rng), rng.choice([1, 3, 10, 50])
            full = reference(live, q, 10**9)
            assert_pruned_exact(index, live, q, k, None, full)
            wide = np.array(sorted(rng.sample(sorted(live), len(live) // 2)))  # scored, then masked
            assert_pruned_exact(index, live, q, k, wide, full)
            narrow = np.array([*sorted(rng.sample(sorted(live), 5)), 10**9])  # looked up only
            assert_pruned_exact(index, live, q, k, narrow, full)
            assert_pruned_exact(index, live, q, k, np.array(gone[:3], dtype=np.int64), full)  # deleted only


def test_pruning_skips_the_common_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    """The rare term alone is walked; the common ones are only looked up, and still counted."""
    docs = {i + 1: ["self", "return"] * (1 + i % 3) + (["needle"] * (1 + i % 2) if i % 97 == 0 else [])
            for i in range(3000)}  # fmt: skip
    index = Bm25Index()
    index.add(np.array(list(docs)), list(docs.values()))
    monkeypatch.setattr(bm25_topk, "SMALL_QUERY", 0)
    walked: list[int] = []
    scatter = bm25_topk.QueryTerm.scatter
    monkeypatch.setattr(
        bm25_topk.QueryTerm, "scatter", lambda t, acc, norm: (walked.append(t.size), scatter(t, acc, norm))
    )
    assert_pruned_exact(index, docs, ["needle", "self", "return"], 5)
    assert walked == [31]  # the postings of "needle"; "self" and "return" (3000 each) never walked


def test_term_bounds_hold_through_writes_and_drift() -> None:
    """Each term's bound is at least its largest tf / (tf + norm) now, whatever happened since
    it was computed: additions (new maxima), deletions, avgdl moving either way."""
    rng = random.Random(5)
    index, live, next_rid = Bm25Index(), {}, 1
    for step in range(6):
        length = (1, 4) if step % 2 else (30, 90)  # avgdl swings past the recompute threshold
        new = zipf_docs(rng, rng.randint(50, 200), next_rid, length)
        next_rid += len(new)
        index.add(np.array(list(new)), list(new.values()))
        live.update(new)
        gone = rng.sample(sorted(live), k=len(live) // 6)
        index.remove(np.array(gone))
        for g in gone:
            del live[g]
        avgdl = sum(map(len, live.values())) / len(live)
        terms = sorted({t for toks in live.values() for t in toks})
        bounds = index._bounds([index.vocab[t] for t in terms])
        for t, bound in zip(terms, bounds):
            most = max(
                toks.count(t) / (toks.count(t) + bm25.K1 * (1 - bm25.B + bm25.B * len(toks) / avgdl))
                for toks in live.values() if t in toks
            )  # fmt: skip
            assert bound >= most * (1 - 1e-12), t
