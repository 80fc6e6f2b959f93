"""Rank fusion of result lists from different retrievers (dense, keyword, other collections).

Scores from different encoders or from BM25 are not comparable, so fusion uses ranks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

K = TypeVar("K", bound=Hashable)

RRF_K = 60  # the constant of Cormack et al. (2009); damps the head of each list


def reciprocal_rank_fusion(
    runs: Sequence[Sequence[K]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[K, float]]:
    """Fuse ranked id lists: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1. Best first.

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]])[0][0]
    'b'
    """
    weights = weights or [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} weights for {len(runs)} runs")
    scores: dict[K, float] = {}
    for run, w in zip(runs, weights):
        for rank, doc in enumerate(run, 1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], str(kv[0])))


def fuse_scored(
    runs: Sequence[Mapping[K, float]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[K, float]]:
    """RRF over `{id: score}` runs, ranking each run by its own scores first."""
    ranked = [sorted(r, key=lambda d: -r[d]) for r in runs]
    return reciprocal_rank_fusion(ranked, weights, k)
