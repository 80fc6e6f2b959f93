"""Chunked exact top-k over a memory map equals a brute-force sort."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.evaluate import search


@pytest.mark.parametrize(
    ("n_docs", "k", "doc_chunk", "query_chunk"), [(50, 5, 7, 3), (20, 30, 6, 4), (64, 64, 64, 64)]
)
def test_top_k_matches_brute_force(tmp_path, n_docs: int, k: int, doc_chunk: int, query_chunk: int) -> None:
    rng = np.random.default_rng(n_docs)
    docs = search.open_matrix(tmp_path / "m.npy", n_docs, 8)
    docs[:] = rng.standard_normal((n_docs, 8)).astype(np.float32)
    docs.flush()
    queries = rng.standard_normal((11, 8)).astype(np.float32)
    scores, idx = search.top_k(queries, docs, k, doc_chunk=doc_chunk, query_chunk=query_chunk)
    full = queries @ np.asarray(docs).T
    expect = np.argsort(-full, axis=1)[:, : min(k, n_docs)]
    assert scores.shape == idx.shape == expect.shape
    np.testing.assert_array_equal(idx, expect)  # continuous random scores: no ties
    np.testing.assert_allclose(scores, np.take_along_axis(full, expect, 1), atol=1e-5)


def test_top_k_reads_a_reopened_memmap(tmp_path) -> None:
    m = search.open_matrix(tmp_path / "m.npy", 3, 2)
    m[:] = [[1, 0], [0, 1], [0.6, 0.8]]
    m.flush()
    del m
    docs = np.load(tmp_path / "m.npy", mmap_mode="r")
    scores, idx = search.top_k(np.array([[0.0, 1.0]], dtype=np.float32), docs, 2)
    assert idx.tolist() == [[1, 2]]
    assert scores[0, 1] == pytest.approx(0.8)


def test_empty_inputs() -> None:
    s, _ = search.top_k(np.zeros((0, 4), np.float32), np.zeros((5, 4), np.float32), 3)
    assert s.shape == (0, 3)
    s, _ = search.top_k(np.zeros((2, 4), np.float32), np.zeros((0, 4), np.float32), 3)
    assert s.shape == (2, 0)
