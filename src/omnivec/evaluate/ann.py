"""Optional: how much an approximate index (faiss IVF-Flat) loses against exact search.

The evaluator always scores exact search; with `--ann` it also searches an IVF index built over
the same vectors and reports the overlap of the two top-10 lists and the main metric on both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnivec.errors import require


@dataclass(frozen=True)
class AnnSettings:
    """IVF-Flat with `nlist` cells (default 4 * sqrt(n), at least 39 training points per cell)."""

    nprobe: int = 16
    nlist: int | None = None
    seed: int = 0

    def cells(self, n_docs: int) -> int:
        wanted = self.nlist or int(4 * math.sqrt(n_docs))
        return max(1, min(wanted, n_docs // 39))  # faiss wants >= 39 training points per centroid


def ivf_top_k(
    queries: np.ndarray, docs: np.ndarray, k: int, settings: AnnSettings
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(scores, indices, description) from an inner-product IVF-Flat index; -1 marks no hit."""
    faiss = require("faiss", "index", "approximate search for --ann")
    x = np.ascontiguousarray(np.asarray(docs), dtype=np.float32)  # the index holds the vectors anyway
    nlist = settings.cells(len(x))
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(x.shape[1]), x.shape[1], nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = settings.seed
    index.train(x)
    index.add(x)
    index.nprobe = min(settings.nprobe, nlist)
    scores, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(x)))
    return scores, idx, {"index": f"IVF{nlist},Flat", "nprobe": index.nprobe, "metric": "inner product"}


def overlap_at(exact: dict[str, dict[str, float]], approx: dict[str, dict[str, float]], k: int = 10) -> float:
    """Mean share of each query's exact top-k that the approximate top-k also holds."""
    shares = []
    for qid, hits in exact.items():
        top = sorted(hits, key=hits.__getitem__, reverse=True)[:k]
        got = approx.get(qid, {})
        found = set(sorted(got, key=got.__getitem__, reverse=True)[:k])
        shares.append(len(found.intersection(top)) / len(top) if top else 1.0)
    return round(sum(shares) / len(shares), 5) if shares else 1.0
