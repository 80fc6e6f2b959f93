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
from omnivec.stores.dense_file import load_index, save_index
from omnivec.stores.faiss_index import DenseIndex
from omnivec.stores.projected_codes import PROJ_STEP, ProjectedSpace, leading_directions
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


def normalised(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


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
    assert dense.projection is not None and dense.projection.dims < D
    assert dense.codes.nprobe == dense.index.nprobe and dense.nlist == dense.codes.nlist
    assert exact_scored_recall(dense, xb, rids, xq) >= 0.95


def test_float_and_code_indexes_share_lists_and_probes(data) -> None:
    # both indexes hold each vector in the float index's list for it, and the codes' probe (bytes,
    # L2) picks the lists the float inner product ranks first
    xb, rids, xq = data
    dense = DenseIndex.ivf_sq8_proj(xb, rids, D, generation=0)
    assert dense.projection is not None
    sizes = [[ivf.invlists.list_size(i) for i in range(dense.nlist)] for ivf in (dense.index, dense.codes)]
    assert sizes[0] == sizes[1] and sum(sizes[0]) == N and sum(s > 0 for s in sizes[0]) > dense.nlist // 2
    nprobe = dense.index.nprobe
    _, by_float = dense.index.quantizer.search(xq, nprobe)
    _, by_bytes = dense.codes.quantizer.search(dense.projection.probe(xq), nprobe)
    assert np.mean([len(set(a) & set(b)) / nprobe for a, b in zip(by_float, by_bytes, strict=True)]) > 0.9


def test_adding_in_blocks_builds_the_same_index(data, monkeypatch) -> None:
    import omnivec.stores.projected_codes as projected_codes

    xb, rids, xq = data
    whole = DenseIndex.ivf_sq8_proj(xb, rids, D, generation=0)
    monkeypatch.setattr(projected_codes, "ADD_BLOCK", 777)  # blocks that do not divide N
    blocks = DenseIndex.ivf_sq8_proj(xb, rids, D, generation=0)
    assert blocks.codes.ntotal == blocks.index.ntotal == N
    for q in xq:
        assert np.array_equal(whole.search(q, 10)[1], blocks.search(q, 10)[1])


def test_byte_distances_follow_the_inner_product_exactly() -> None:
    # ||probe(q) - encode(x)||^2 = |u|^2 + bound - 128^2 kept - 2 v . c for every vector (u = v + 128 the probe,
    # c the vector's bytes): the norm bytes hold bound - |c - 128|^2 exactly, so the L2 order of
    # the bytes is the order of v . c, which is q . x's up to rounding
    rng = np.random.default_rng(5)
    for spread in (1.0, 1e-3):  # 1e-3: nearly equal vectors
        xb = normalised(np.ones(D) + spread * rng.standard_normal((3000, D)) * (np.arange(D) + 1.0) ** -1)
        xq = normalised(np.ones(D) + spread * rng.standard_normal((20, D)) * (np.arange(D) + 1.0) ** -1)
        matrix = leading_directions(xb)
        space = ProjectedSpace.fit(matrix, xb @ matrix)
        codes, probes = space.encode(xb).astype(np.float64), space.probe(xq).astype(np.float64)
        assert codes.min() >= 0 and codes.max() <= 255 and np.array_equal(codes, np.rint(codes))
        assert probes.min() >= 0 and probes.max() <= 255 and np.array_equal(probes, np.rint(probes))
        c, v = codes[:, : space.dims], probes[:, : space.dims] - 128
        l2 = ((probes[:, None, :] - codes[None, :, :]) ** 2).sum(-1)
        np.testing.assert_array_equal(
            l2, (probes**2).sum(1)[:, None] + space.bound - 128**2 * space.dims - 2 * v @ c.T
        )
        best = np.argmax((xq @ matrix) @ (xb @ matrix).T, 1)
        top10 = np.argsort(l2, 1)[:, :10]
        assert np.mean([b in row for b, row in zip(best, top10, strict=True)]) >= 0.9


def test_files_with_float_probed_codes_still_load_and_search(data, tmp_path: Path) -> None:
    # ivf-sq8-proj files written before byte codes: residual 8-bit codes, probed with floats
    import faiss

    xb, rids, xq = data
    dense = DenseIndex.ivf_sq8_proj(xb, rids, D, generation=4)
    assert dense.projection is not None
    matrix = dense.projection.matrix
    old = faiss.IndexIVFScalarQuantizer(
        faiss.IndexFlatIP(matrix.shape[1]), matrix.shape[1], dense.nlist,
        faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT,
    )  # fmt: skip
    old.quantizer.add(normalised(dense.index.quantizer.reconstruct_n(0, dense.nlist) @ matrix))
    old.train(xb @ matrix)
    old.add_with_ids(xb @ matrix, rids)
    old.nprobe = dense.index.nprobe
    dense.codes, dense.projection = old, ProjectedSpace(matrix)
    path = tmp_path / "4.faiss"
    save_index(path, dense, {"store": "s", "cid": 1, "dim": D})
    head, loaded = load_index(path)
    assert "code_steps" not in head and loaded.projection is not None and loaded.projection.steps is None
    assert exact_scored_recall(loaded, xb, rids, xq) >= 0.95


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
    assert head["kind"] == "ivf-sq8-proj" and head["proj_dims"] == dense.projection.dims
    assert loaded.projection is not None and dense.projection is not None
    np.testing.assert_array_equal(loaded.projection.matrix, dense.projection.matrix)
    np.testing.assert_array_equal(loaded.projection.offsets, dense.projection.offsets)
    np.testing.assert_array_equal(loaded.projection.steps, dense.projection.steps)
    assert loaded.projection.bound == dense.projection.bound
    scores, found = loaded.search(xb[3005], 5)
    assert found[0] == rids[3005]
    check_exact_scores(loaded, xb, rids, xb[3005], scores, found)


def test_a_file_with_a_wrong_projection_is_not_loaded(data, tmp_path: Path) -> None:
    xb, rids, _ = data
    dense = DenseIndex.ivf_sq8_proj(xb[:2000], rids[:2000], D, generation=1)
    dense.projection.matrix = dense.projection.matrix[
        :-1
    ]  # one row short: disagrees with the codes' dimension
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
