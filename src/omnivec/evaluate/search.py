"""Exact inner-product top-k over a float32 matrix on disk, in bounded memory.

Documents are read in chunks from a memory map; each chunk's top-k per query is merged into a
running top-k, so a million-document corpus needs memory for one chunk plus `queries x k`, not for
the corpus. Vectors are L2-normalised by the encoders, so the inner product is the cosine.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DOC_CHUNK = 16384
QUERY_CHUNK = 2048


def open_matrix(path: Path, rows: int, dim: int) -> np.memmap:
    """A new float32 `.npy` memory map of shape (rows, dim), zero-filled."""
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, dim))


def top_k(
    queries: np.ndarray, docs: np.ndarray, k: int, doc_chunk: int = DOC_CHUNK, query_chunk: int = QUERY_CHUNK
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, indices), each (n_queries, min(k, n_docs)), best first.

    Within a row, equal scores keep no particular order: the metrics re-sort by (score, doc id).
    """
    n_q, n_d = len(queries), len(docs)
    k = min(k, n_d)
    best_s = np.full((n_q, k), -np.inf, dtype=np.float32)
    best_i = np.full((n_q, k), -1, dtype=np.int64)
    if k == 0 or n_q == 0:
        return best_s, best_i
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    for lo in range(0, n_d, doc_chunk):
        block = np.asarray(docs[lo : lo + doc_chunk], dtype=np.float32)
        for qlo in range(0, n_q, query_chunk):
            rows = slice(qlo, qlo + query_chunk)
            scores = queries[rows] @ block.T
            cand_s, cand_i = _chunk_top(scores, k)
            best_s[rows], best_i[rows] = _merge(best_s[rows], best_i[rows], cand_s, cand_i + lo, k)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_s, order, 1), np.take_along_axis(best_i, order, 1)


def _chunk_top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    if scores.shape[1] <= k:
        idx = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
        return scores, idx
    idx = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return np.take_along_axis(scores, idx, 1), idx


def _merge(
    s1: np.ndarray, i1: np.ndarray, s2: np.ndarray, i2: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    s = np.concatenate([s1, s2], axis=1)
    i = np.concatenate([i1, i2], axis=1)
    if s.shape[1] <= k:
        return s, i
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    return np.take_along_axis(s, part, 1), np.take_along_axis(i, part, 1)
