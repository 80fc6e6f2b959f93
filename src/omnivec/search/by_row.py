"""Hits from fused rows (`RowSearch` stores): the same ranking as fusing ids, ids and fields
read only for the hits a search shows.

`Fusion.fuse` breaks ties of the fused score by id; fused rows come with runs of equal score in
row order (`FusedRows.ties_open`). Those runs are put in id order as their records are read:
a batch of records always ends at the end of a run, so sorting inside a batch by (score, id) is
the global order. The window of k x 10 fused documents that grouping may look into is cut after
that sort, as `Searcher._hits` cuts it after the fusion's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from omnivec.search.fusion import FusedRows, reciprocal_rank_fusion
from omnivec.search.hits import add_hit
from omnivec.search.query import Query
from omnivec.stores.base import RowSearch
from omnivec.types import Hit

NO_ROWS: tuple[np.ndarray, np.ndarray] = (np.empty(0, np.int64), np.empty(0, np.float64))

PartsOf = Callable[[int], tuple[float | None, ...]]  # position in the ranking -> (cosine, BM25)


def hits(
    store: RowSearch, rows: np.ndarray, scores: np.ndarray, ties_open: bool, parts_of: PartsOf, q: Query
) -> list[Hit]:
    """Best-first hits of a ranking of rows, read in growing batches (one query each, id and
    fields only): most searches fill k hits from the first 2k rows."""
    out: list[Hit] = []
    seen: set[tuple[Any, ...]] = set()
    row_list, score_list = rows.tolist(), scores.tolist()
    limit = min(len(row_list), q.k * 10)  # grouping looks this deep, never further
    start, size = 0, 2 * q.k
    while start < limit and len(out) < q.k:
        end = min(start + size, limit)
        if ties_open:
            end = _run_end(score_list, end)
        got = store.hit_rows(row_list[start:end])
        batch = list(range(start, end))
        if ties_open:  # a row deleted since has no id: it is skipped below, wherever it sorts
            batch.sort(key=lambda i: (-score_list[i], got.get(row_list[i], ("",))[0]))
        for i in batch[: limit - start]:
            found = got.get(row_list[i])
            if found is not None and add_hit(out, seen, q, found[0], score_list[i], found[1], parts_of(i)):
                break
        start, size = end, 4 * size
    return out


def _run_end(scores: Sequence[float], end: int) -> int:
    """`end` moved past the run of scores equal to the one before it (a batch never splits a tie)."""
    while 0 < end < len(scores) and scores[end] == scores[end - 1]:
        end += 1
    return end


def merge_by_score(lists: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """(rows, scores) lists of collections of one space as one list, best first (equal scores
    in the order the lists came), as `Searcher._space` merges them by id."""
    lists = [(r, s) for r, s in lists if len(r)]
    if len(lists) <= 1:
        return lists[0] if lists else NO_ROWS
    rows = np.concatenate([r for r, _ in lists])
    scores = np.concatenate([s for _, s in lists])
    order = np.argsort(-scores, kind="stable")
    return rows[order], scores[order]


def across_spaces(
    store: RowSearch, lists: Sequence[FusedRows], rrf_k: int
) -> tuple[np.ndarray, np.ndarray, PartsOf]:
    """Collections of different embedding spaces fused by rank, as `Searcher.search` fuses ids:
    each collection's list in `Fusion.fuse`'s order (ties by id), then reciprocal rank fusion
    (ties by id). Needs the ids of every listed row: one query."""
    ids = store.row_ids(np.concatenate([fr.rows for fr in lists]).tolist())
    where: dict[str, tuple[FusedRows, int]] = {}
    ranked = []
    for fr in lists:
        order = _in_id_order(fr, ids)
        where.update((i, (fr, pos)) for i, pos in order)
        ranked.append([i for i, _ in order])
    fused = reciprocal_rank_fusion(ranked, k=rrf_k)
    placed = [where[i] for i, _ in fused]
    rows = np.array([int(fr.rows[pos]) for fr, pos in placed], np.int64)
    scores = np.array([s for _, s in fused], np.float64)
    return rows, scores, lambda n: placed[n][0].parts_of(placed[n][1])


def _in_id_order(fr: FusedRows, ids: dict[int, str]) -> list[tuple[str, int]]:
    """(id, position) of a collection's fused rows, best first, runs of equal score by id; rows
    deleted since (no id) are left out."""
    items = [(ids[r], pos) for pos, r in enumerate(fr.rows.tolist()) if r in ids]
    if fr.ties_open:
        scores = fr.scores.tolist()
        items.sort(key=lambda t: (-scores[t[1]], t[0]))
    return items
