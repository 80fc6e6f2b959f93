"""The ivf-sq8 dense index: 8-bit codes probed, the best candidates re-scored with float vectors.

Thresholds are lowered through the constructors (`ivf_min`, `sq_min`) so a few thousand vectors
take the path a store takes past 200k."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from omnivec.stores import Filter, LocalStore
from omnivec.stores.dense import FaissDense
from omnivec.stores.dense_file import _MAGIC, load_index, save_index
from omnivec.stores.faiss_index import DenseIndex
from tests.stores.helpers import brute_force, clustered, fill, open_writer, unit

N, D = 4000, 32


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return clustered(N, D)


def exact(
    xb: np.ndarray, rids: np.ndarray, q: np.ndarray, k: int, keep: np.ndarray | None = None
) -> list[int]:
    mask = np.ones(len(rids), bool) if keep is None else np.isin(rids, keep)
    order = np.argsort(-(xb[mask] @ q), kind="stable")[:k]
    return rids[mask][order].tolist()


def check_exact_scores(dense: DenseIndex, xb: np.ndarray, rids: np.ndarray, q: np.ndarray,
                       scores: np.ndarray, found: np.ndarray) -> None:  # fmt: skip
    rows = np.searchsorted(rids, found)
    assert np.array_equal(rids[rows], found)
    np.testing.assert_allclose(scores, xb[rows] @ q, atol=1e-5)  # float cosines, not code estimates
    assert np.all(np.diff(scores) <= 1e-7)  # best first


def exact_scored_recall(dense: DenseIndex, xb: np.ndarray, rids: np.ndarray, xq: np.ndarray) -> float:
    """Recall@10 of `dense` against exact search over `xq`, each search checked to return 10 hits
    with exact float scores, best first (the ivf-sq8-proj tests use it too)."""
    hits = 0
    for q in xq:
        scores, found = dense.search(q, 10)
        assert len(found) == 10
        check_exact_scores(dense, xb, rids, q, scores, found)
        hits += len(set(found.tolist()) & set(exact(xb, rids, q, 10)))
    return hits / (10 * len(xq))


def test_build_search_scores_are_exact_and_recall_matches_ivf_flat(data) -> None:
    xb, rids, xq = data
    dense = DenseIndex.ivf_sq8(xb, rids, D, generation=3)
    assert (dense.kind, dense.ntotal, dense.codes.ntotal, dense.trained_on) == ("ivf-sq8", N, N, N)
    assert dense.codes.nprobe == dense.index.nprobe and dense.nlist == dense.codes.nlist
    assert exact_scored_recall(dense, xb, rids, xq) >= 0.95
    for q in xq:  # the same lists probed in float: the codes lose nothing once re-scored
        _, flat_ids = dense._search(q, 10, None, exhaustive=False)
        assert dense.search(q, 10)[1].tolist() == flat_ids.tolist()


def test_filters_never_under_fill_and_stay_exact(data) -> None:
    xb, rids, xq = data
    dense = DenseIndex.ivf_sq8(xb, rids, D, generation=1)
    broad, selective = rids[::2], rids[[5, 900, 1800, 3999]]
    probed = dense.index.quantizer.search(xq[:1], dense.index.nprobe)[1][0]
    lists = dense.index.quantizer.search(xb, 1)[1][:, 0]
    unprobed = rids[~np.isin(lists, probed)][:25]  # a probe finds none of them
    for q in xq[:10]:
        scores, found = dense.search(q, 10, broad)
        assert len(found) == 10 and set(found.tolist()) <= set(broad.tolist())
        check_exact_scores(dense, xb, rids, q, scores, found)
        assert dense.search(q, 10, selective)[1].tolist() == exact(xb, rids, q, 10, selective)
        assert dense.search(q, 100, np.array([rids[1], 10**9]))[1].tolist() == [rids[1]]  # unknown id
    scores, found = dense.search(xq[0], 10, unprobed)
    assert found.tolist() == exact(xb, rids, xq[0], 10, unprobed)
    check_exact_scores(dense, xb, rids, xq[0], scores, found)


def removed_added_and_reloaded(
    build: Callable[..., DenseIndex], data: tuple[np.ndarray, ...], tmp_path: Path, parts: int
) -> tuple[dict, DenseIndex, DenseIndex]:
    """Build from 3000 vectors, remove 500, add the rest, save and load: (header, built, loaded),
    checked to agree (same kind and nprobe, same hits, no removed rowid). The ivf-sq8-proj tests
    run this too."""
    xb, rids, xq = data
    n, dim = xb.shape
    dense = build(xb[:3000], rids[:3000], dim, generation=1)
    dense.remove(rids[:500])
    dense.add(rids[3000:], xb[3000:])
    assert dense.ntotal == dense.codes.ntotal == n - 500
    path = tmp_path / "1.faiss"
    save_index(path, dense, {"store": "s", "cid": 1, "dim": dim})
    head, loaded = load_index(path)
    assert head["kind"] == loaded.kind == dense.kind and len(head["parts"]) == parts
    assert loaded.index.nprobe == loaded.codes.nprobe == dense.index.nprobe
    for q in xq[:10]:
        assert loaded.search(q, 10)[1].tolist() == dense.search(q, 10)[1].tolist()
        assert not set(loaded.search(q, 50)[1].tolist()) & set(rids[:500].tolist())
    return head, dense, loaded


def test_remove_add_and_reload_from_disk(data, tmp_path: Path) -> None:
    xb, rids, _ = data
    head, _, loaded = removed_added_and_reloaded(DenseIndex.ivf_sq8, data, tmp_path, parts=2)
    assert head["kind"] == "ivf-sq8"
    loaded.remove(rids[3000:3010])  # the rowid -> vector map survived the file
    scores, found = loaded.search(xb[3005], 5)
    assert rids[3005] not in found.tolist()
    check_exact_scores(loaded, xb, rids, xb[3005], scores, found)


def test_target_kind_has_hysteresis(tmp_path: Path) -> None:
    fd = FaissDense(tmp_path, "s", writer=False, ivf_min=100, sq_min=1000)
    assert [fd.target_kind("flat", n) for n in (99, 100, 999, 1000)] == ["flat", "ivf", "ivf", "ivf-sq8"]
    assert [fd.target_kind("ivf-sq8", n) for n in (1000, 500, 499, 50, 49)] == [
        "ivf-sq8", "ivf-sq8", "ivf", "ivf", "flat"]  # fmt: skip
    assert [fd.target_kind("ivf", n) for n in (50, 49, 5000)] == ["ivf", "flat", "ivf-sq8"]


def strip_to_old_format(path: Path) -> None:
    """Rewrite an ivf file the way the store wrote it before ivf-sq8: no "parts" in the header."""
    data = path.read_bytes()
    start = len(_MAGIC) + 4
    (hlen,) = struct.unpack("<I", data[len(_MAGIC) : start])
    head = json.loads(data[start : start + hlen])
    assert head.pop("parts") == [head["payload_bytes"]]
    new = json.dumps(head).encode()
    path.write_bytes(_MAGIC + struct.pack("<I", len(new)) + new + data[start + hlen :])


def test_store_moves_an_old_ivf_file_to_ivf_sq8(tmp_path: Path) -> None:
    w = open_writer(tmp_path, flush_interval=None, ivf_min=1000)
    vectors = fill(w, range(30), n=100)
    w.flush()
    assert w.stats()["collections"]["code"]["kind"] == "ivf"
    w.close()
    (path,) = (tmp_path / "dense").glob("*.faiss")
    strip_to_old_format(path)
    queries = [unit(f"q{i}") for i in range(20)]
    with LocalStore(tmp_path, writer=False, ivf_min=1000, sq_min=1000) as r:
        before = [[i for i, _ in r.dense_search("code", q, 10)] for q in queries]
        assert r.stats()["collections"]["code"]["kind"] == "ivf"  # the old file still loads
    w = open_writer(tmp_path, flush_interval=None, ivf_min=1000, sq_min=1000)
    vectors.update(fill(w, range(30, 31), n=100))
    w.flush()  # past sq_min: rebuilt as ivf-sq8
    assert w.stats()["collections"]["code"]["kind"] == "ivf-sq8"
    w.close()
    with LocalStore(tmp_path, writer=False) as r:
        assert r.stats()["collections"]["code"]["kind"] == "ivf-sq8"
        hits = [r.dense_search("code", q, 10) for q in queries]
        broad = [r.dense_search("code", q, 10, Filter(path_glob="f1*.py")) for q in queries[:5]]
        narrow = [r.dense_search("code", q, 10, Filter(path_glob="f30.py")) for q in queries[:5]]
    recall = np.mean(
        [len({i for i, _ in h} & set(brute_force(vectors, q, 10))) / 10 for h, q in zip(hits, queries)]
    )
    assert recall >= 0.9 and len(before) == 20
    for h, q in zip(hits, queries):
        np.testing.assert_allclose([s for _, s in h], [vectors[i] @ q for i, _ in h], atol=1e-5)
    for h, q in zip(broad, queries):  # probed: within the filter, k filled, exact scores
        assert len(h) == 10 and all(i.startswith("f1") for i, _ in h)
        np.testing.assert_allclose([s for _, s in h], [vectors[i] @ q for i, _ in h], atol=1e-5)
    for h, q in zip(narrow, queries):  # selective: every list scanned, exact
        assert [i for i, _ in h] == brute_force(
            {i: v for i, v in vectors.items() if i.startswith("f30.")}, q, 10
        )
