"""The ivf-sq8-proj dense index: 8-bit codes over the leading directions, float re-scoring.

Thresholds are lowered through the constructors (`ivf_min`, `sq_min`, `proj_min`) so a few
thousand vectors take the path a store takes past 200k. The vectors have a falling spectrum (as
embeddings do), so the projection keeps fewer directions than the dimension."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnivec.stores import Filter, LocalStore
from omnivec.stores.dense import FaissDense
from omnivec.stores.faiss_index import DenseIndex, load_index, save_index
from omnivec.stores.projected_codes import PROJ_STEP, leading_directions
from tests.stores.helpers import brute_force, clustered, fill, open_writer, unit
from tests.stores.test_dense_sq8 import (
    check_exact_scores,
    exact,
    exact_scored_recall,
    removed_added_and_reloaded,
)

N, D = 4000, 64


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xb, rids, xq = clustered(N, D)
    scale = ((np.arange(D) + 1.0) ** -1).astype(np.float32)  # a steep spectrum, like embeddings
    rotation = np.linalg.qr(np.random.default_rng(2).standard_normal((D, D)))[0].astype(np.float32)
    xb, xq = (xb * scale) @ rotation, (xq * scale) @ rotation  # leading directions not the axes
    return (
        xb / np.linalg.norm(xb, axis=1, keepdims=True),
        rids,
        xq / np.linalg.norm(xq, axis=1, keepdims=True),
    )


def test_leading_directions_are_orthonormal_and_few_on_a_steep_spectrum(data) -> None:
    xb, _, _ = data
    p = leading_directions(xb)
    assert p.shape[0] == D and p.shape[1] % PROJ_STEP == 0 and p.shape[1] < D
    np.testing.assert_allclose(p.T @ p, np.eye(p.shape[1]), atol=1e-5)
    flat = np.random.default_rng(3).standard_normal((2000, D)).astype(np.float32)
    assert leading_directions(flat).shape[1] > p.shape[1]  # a flat spectrum keeps more


def test_build_search_scores_are_exact_and_recall_holds(data) -> None:
    xb, rids, xq = data
    dense = DenseIndex.ivf_sq8_proj(xb, rids, D, generation=3)
    assert (dense.kind, dense.ntotal, dense.codes.ntotal, dense.trained_on) == ("ivf-sq8-proj", N, N, N)
    assert dense.projection is not None and dense.codes.d == dense.projection.shape[1] < D
    assert dense.codes.nprobe == dense.index.nprobe and dense.nlist == dense.codes.nlist
    assert exact_scored_recall(dense, xb, rids, xq) >= 0.95


def test_filters_never_under_fill_and_stay_exact(data) -> None:
    xb, rids, xq = data
    dense = DenseIndex.ivf_sq8_proj(xb, rids, D, generation=1)
    broad, selective = rids[::2], rids[[5, 900, 1800, 3999]]
    for q in xq[:10]:
        scores, found = dense.search(q, 10, broad)
        assert len(found) == 10 and set(found.tolist()) <= set(broad.tolist())
        check_exact_scores(dense, xb, rids, q, scores, found)
        assert dense.search(q, 10, selective)[1].tolist() == exact(xb, rids, q, 10, selective)


def test_remove_add_and_reload_from_disk(data, tmp_path: Path) -> None:
    xb, rids, _ = data
    head, dense, loaded = removed_added_and_reloaded(DenseIndex.ivf_sq8_proj, data, tmp_path, parts=3)
    assert head["kind"] == "ivf-sq8-proj" and head["proj_dims"] == dense.projection.shape[1]
    np.testing.assert_array_equal(loaded.projection, dense.projection)
    scores, found = loaded.search(xb[3005], 5)
    assert found[0] == rids[3005]
    check_exact_scores(loaded, xb, rids, xb[3005], scores, found)


def test_a_file_with_a_wrong_projection_is_not_loaded(data, tmp_path: Path) -> None:
    xb, rids, _ = data
    dense = DenseIndex.ivf_sq8_proj(xb[:2000], rids[:2000], D, generation=1)
    dense.projection = dense.projection[:-1]  # one row short: disagrees with the codes' dimension
    path = tmp_path / "1.faiss"
    save_index(path, dense, {"store": "s", "cid": 1, "dim": D})
    assert load_index(path, warn=False) is None


def test_target_kind_puts_proj_after_sq8_with_hysteresis(tmp_path: Path) -> None:
    fd = FaissDense(tmp_path, "s", writer=False, ivf_min=100, sq_min=1000, proj_min=4000)
    assert [fd.target_kind("flat", n) for n in (99, 999, 3999, 4000)] == [
        "flat",
        "ivf",
        "ivf-sq8",
        "ivf-sq8-proj",
    ]
    assert [fd.target_kind("ivf-sq8-proj", n) for n in (2000, 1999, 499)] == [
        "ivf-sq8-proj",
        "ivf-sq8",
        "ivf",
    ]
    graph = FaissDense(tmp_path, "s", writer=False, ivf_min=100, sq_min=1000, proj_min=4000, hnsw_min=2000)
    assert graph.target_kind("ivf-sq8-proj", 10**6) == "hnsw"  # an opted-in graph comes first


def test_store_moves_an_ivf_sq8_file_to_proj_and_readers_agree(tmp_path: Path) -> None:
    sizes = {"ivf_min": 300, "sq_min": 300}
    w = open_writer(tmp_path, flush_interval=None, **sizes)
    vectors = fill(w, range(60), n=10)
    w.flush()
    assert w.stats()["collections"]["code"]["kind"] == "ivf-sq8"  # proj_min: the default (200k)
    w.close()
    w = open_writer(tmp_path, flush_interval=None, proj_min=500, **sizes)
    vectors.update(fill(w, range(60, 61), n=10))
    w.flush()  # past proj_min: rebuilt with projected codes
    assert w.stats()["collections"]["code"]["kind"] == "ivf-sq8-proj"
    w.close()
    queries = [unit(f"q{i}") for i in range(20)]
    with LocalStore(tmp_path, writer=False, proj_min=500, **sizes) as r:
        assert r.stats()["collections"]["code"]["kind"] == "ivf-sq8-proj"
        hits = [r.dense_search("code", q, 10) for q in queries]
        narrow = [r.dense_search("code", q, 10, Filter(path_glob="f60.py")) for q in queries[:5]]
    for h, q in zip(hits, queries):
        assert len(h) == 10
        np.testing.assert_allclose([s for _, s in h], [vectors[i] @ q for i, _ in h], atol=1e-5)
    for h, q in zip(narrow, queries):  # selective: every list scanned, exact
        want = brute_force({i: v for i, v in vectors.items() if i.startswith("f60.")}, q, 10)
        assert [i for i, _ in h] == want
