"""The hnsw dense index: a faiss HNSW graph with tombstones for removed rowids.

Thresholds are lowered through the constructors (`ivf_min`, `sq_min`, `hnsw_min`) and the graph's
`exact_max`, so a few thousand vectors take the paths a store takes at a million."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnivec.stores import Filter, LocalStore
from omnivec.stores.dense import FaissDense
from omnivec.stores.dense_file import load_index, save_index
from omnivec.stores.faiss_index import DenseIndex
from omnivec.stores.hnsw_index import HNSW_EF_SEARCH
from tests.stores.helpers import brute_force, clustered, fill, open_writer, unit
from tests.stores.test_dense_sq8 import check_exact_scores, exact

N, D = 4000, 32


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return clustered(N, D)


def recall(dense: DenseIndex, xb, rids, xq, keep: np.ndarray | None = None) -> float:
    hits = 0
    for q in xq:
        scores, found = dense.search(q, 10, keep)
        assert len(found) == 10
        check_exact_scores(dense, xb, rids, q, scores, found)
        hits += len(set(found.tolist()) & set(exact(xb, rids, q, 10, keep)))
    return hits / (10 * len(xq))


def test_build_search_scores_are_exact_and_recall_high(data) -> None:
    xb, rids, xq = data
    dense = DenseIndex.hnsw(xb, rids, D, generation=3)
    assert (dense.kind, dense.ntotal, dense.graph.dead, dense.is_ivf) == ("hnsw", N, 0, False)
    assert recall(dense, xb, rids, xq) >= 0.95


def test_removed_rowids_are_never_returned_and_k_stays_full(data) -> None:
    xb, rids, xq = data
    dense = DenseIndex.hnsw(xb, rids, D, generation=1)
    gone = rids[: N // 2]  # half the graph dead: the walk still routes through it
    dense.remove(np.concatenate([gone, [10**9]]))  # an unknown rowid is ignored
    assert (dense.ntotal, dense.graph.dead, dense.index.ntotal) == (N - len(gone), len(gone), N)
    keep = rids[N // 2 :]
    for q in xq:
        scores, found = dense.search(q, 10)
        assert len(found) == 10 and not set(found.tolist()) & set(gone.tolist())
        check_exact_scores(dense, xb, rids, q, scores, found)
    assert recall(dense, xb[N // 2 :], keep, xq) >= 0.95
    # a rowid given again keeps only its newest vector: one live label, never two hits
    dense.add(keep[:1], xb[N // 2 + 1 : N // 2 + 2])
    found = dense.search(xb[N // 2 + 1], 10)[1].tolist()
    assert found.count(keep[0]) == 1 and dense.ntotal == N - len(gone)


@pytest.mark.parametrize("exact_max", [0, 10**6], ids=["walked", "scanned"])
def test_filters_never_under_fill_and_stay_exact(data, exact_max: int) -> None:
    xb, rids, xq = data
    dense = DenseIndex.hnsw(xb, rids, D, generation=1)
    dense.graph.exact_max = exact_max  # 0: every filter the share allows is walked with a bitmap
    dense.remove(rids[1::4])
    broad = rids[::2]  # half allowed, none of it removed
    assert recall(dense, xb, rids, xq[:10], broad) >= 0.95
    selective = rids[[6, 900, 1800, 3999, 1]]  # rids[1] is removed: never returned
    for q in xq[:10]:
        assert dense.search(q, 10, selective)[1].tolist() == exact(xb, rids, q, 10, selective[:4])
        assert dense.search(q, 100, np.array([rids[2], 10**9]))[1].tolist() == [rids[2]]
    assert len(dense.search(xq[0], 10, rids[1::4])[1]) == 0  # only removed rowids allowed
    sparse = rids[::40]  # 100 ids spread over the clusters: a walk comes back short, the scan fills
    assert dense.search(xq[0], 100, sparse)[1].tolist() == exact(xb, rids, xq[0], 100, sparse)


def test_save_load_keeps_tombstones_and_adds_stay_incremental(data, tmp_path: Path) -> None:
    xb, rids, xq = data
    dense = DenseIndex.hnsw(xb[:3000], rids[:3000], D, generation=4)
    dense.remove(rids[:500])
    path = tmp_path / "1.faiss"
    save_index(path, dense, {"store": "s", "cid": 1, "dim": D})
    head, loaded = load_index(path)
    assert (head["kind"], len(head["parts"]), head["dead"], head["ntotal"]) == ("hnsw", 2, 500, 2500)
    assert (loaded.kind, loaded.generation, loaded.graph.ef_search) == ("hnsw", 4, HNSW_EF_SEARCH)
    for q in xq[:10]:
        assert loaded.search(q, 10)[1].tolist() == dense.search(q, 10)[1].tolist()
    loaded.add(rids[3000:], xb[3000:])  # HNSW add: no rebuild
    assert loaded.index.ntotal == N and loaded.ntotal == N - 500
    assert recall(loaded, xb[500:], rids[500:], xq) >= 0.95


def test_a_file_whose_rowids_do_not_match_its_graph_is_unreadable(data, tmp_path: Path) -> None:
    xb, rids, _ = data
    dense = DenseIndex.hnsw(xb[:100], rids[:100], D, generation=1)
    dense.graph.rowids = dense.graph.rowids[:99]
    path = tmp_path / "1.faiss"
    save_index(path, dense, {"store": "s", "cid": 1, "dim": D})
    assert load_index(path) is None


def test_target_kind_puts_hnsw_last_with_hysteresis(tmp_path: Path) -> None:
    fd = FaissDense(tmp_path, "s", writer=False, ivf_min=100, sq_min=1000, hnsw_min=4000)
    assert [fd.target_kind("flat", n) for n in (99, 999, 3999, 4000)] == ["flat", "ivf", "ivf-sq8", "hnsw"]
    assert [fd.target_kind("hnsw", n) for n in (2000, 1999, 499)] == ["hnsw", "ivf-sq8", "ivf"]
    same = FaissDense(tmp_path, "s", writer=False, ivf_min=100, sq_min=100, hnsw_min=100)
    assert same.target_kind("flat", 100) == "hnsw"


def test_by_default_no_size_picks_hnsw_and_a_graph_steps_down(tmp_path: Path) -> None:
    fd = FaissDense(tmp_path, "s", writer=False, ivf_min=100, sq_min=1000)  # hnsw_min: the default
    assert fd.target_kind("ivf-sq8", 10**9) == "ivf-sq8-proj"  # past PROJ_MIN_VECTORS
    assert [fd.target_kind("hnsw", n) for n in (10**6, 999, 499, 49)] == [
        "ivf-sq8-proj",
        "ivf-sq8",
        "ivf",
        "flat",
    ]


def test_store_builds_hnsw_rebuilds_when_worn_and_readers_agree(tmp_path: Path) -> None:
    sizes = {"ivf_min": 300, "sq_min": 300, "hnsw_min": 600}
    w = open_writer(tmp_path, flush_interval=None, **sizes)
    vectors = fill(w, range(100), n=10)
    w.flush()
    assert w.stats()["collections"]["code"]["kind"] == "hnsw"
    for s in range(20):  # 200 of 1000 vectors: tombstones, not yet a rebuild
        w.remove_source(f"f{s}.py")
        for j in range(10):
            vectors.pop(f"f{s}.py#{j}:v1")
    w.flush()
    stats = w.stats()["collections"]["code"]
    assert (stats["kind"], stats["ntotal"], stats["removed_in_graph"]) == ("hnsw", 800, 200)
    w.remove_source("f20.py")  # 210 dead of 1000: past the share, the flush rebuilds the graph
    for j in range(10):
        vectors.pop(f"f20.py#{j}:v1")
    w.flush()
    stats = w.stats()["collections"]["code"]
    assert (stats["kind"], stats["ntotal"], stats["removed_in_graph"]) == ("hnsw", 790, 0)
    vectors.update(fill(w, range(100, 110), n=10))  # incremental adds, replayed by the reader
    w.flush()
    queries = [unit(f"q{i}") for i in range(20)]
    with LocalStore(tmp_path, writer=False, **sizes) as r:
        assert r.stats()["collections"]["code"]["kind"] == "hnsw"
        hits = [r.dense_search("code", q, 10) for q in queries]
        narrow = [r.dense_search("code", q, 10, Filter(path_glob="f30.py")) for q in queries[:5]]
    found = [{i for i, _ in h} for h in hits]
    assert np.mean([len(f & set(brute_force(vectors, q, 10))) / 10 for f, q in zip(found, queries)]) >= 0.9
    for h, q in zip(hits, queries):
        np.testing.assert_allclose([s for _, s in h], [vectors[i] @ q for i, _ in h], atol=1e-5)
    f30 = {i: v for i, v in vectors.items() if i.startswith("f30.")}
    for h, q in zip(narrow, queries):
        assert [i for i, _ in h] == brute_force(f30, q, 10)
    w.close()
