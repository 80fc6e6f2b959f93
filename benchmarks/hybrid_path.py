"""Hybrid search minus query encoding: by rows (`RowSearch`, today) against by ids (the path
before, which every store without `RowSearch` still takes), same store, same queries, one process.

    OMNIVEC_THREADS=1 python benchmarks/hybrid_path.py --workdir DIR [--queries 200] [--profile]
    (DIR: a store built by `benchmarks/search_latency.py --n N --build-only --workdir DIR`)

Both searchers are `Searcher`s over the same reader; the by-ids one sees the store through a
wrapper that offers only the `VectorStore` calls a searcher uses (so `isinstance(store,
RowSearch)` is false and it fuses ids with `Fusion.fuse`, fetching records by id). Query vectors
are encoded once beforehand by the bundled MiniLM and handed to both, so each timing is exactly
`Searcher.search` minus encoding. The two paths alternate which goes first per query. Every
query's hits are checked identical (ids, order, scores and parts to 1e-9) before any timing.
`--profile` adds a cProfile of each path (cumulative, top entries).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS, machine, read_jsonl

from omnivec.search.searcher import Searcher


class Precomputed(Searcher):
    """A searcher whose query vectors were encoded beforehand (text -> vector)."""

    def __init__(self, *a: Any, vectors: dict[str, np.ndarray], **kw: Any) -> None:
        super().__init__(*a, **kw)
        self.vectors = vectors

    def _query_vector(self, enc: Any, q: Any, memo: dict[int, Any]) -> Any:
        return self.vectors[q.text]


def same(a: list[Any], b: list[Any]) -> bool:
    def key(h: Any) -> tuple[Any, ...]:
        return (h.id, h.path, h.snippet, h.metadata)

    def num(h: Any) -> list[float]:
        return [np.nan if x is None else x for x in (h.score, h.dense_score, h.keyword_score)]

    return [key(h) for h in a] == [key(h) for h in b] and all(
        np.allclose(num(x), num(y), rtol=0, atol=1e-9, equal_nan=True) for x, y in zip(a, b)
    )


def stages(
    store: Any, searcher: Searcher, queries: list[Any], vectors: dict[str, np.ndarray]
) -> dict[str, list[float]]:
    """The by-rows search cut into its steps, as `Searcher._search_rows` runs them (one collection)."""
    from omnivec.search import by_row

    out: dict[str, list[float]] = {k: [] for k in ("store: both lists, one snapshot", "fusion (fuse_rows)",
                                                   "hits (ids + fields of shown rows)")}  # fmt: skip
    for q in queries:
        t0 = time.perf_counter()
        lists = store.search_rows("text", vectors[q.text], q.text, 100, q.filter())
        t1 = time.perf_counter()
        floors = [None, 0.0 if len(lists.keyword[0]) < 100 else None]
        fr = searcher.fusion.fuse_rows([lists.dense, lists.keyword], [1.0, 1.0], floors)
        t2 = time.perf_counter()
        by_row.hits(store, fr.rows, fr.scores, fr.ties_open, fr.parts_of, q)
        t3 = time.perf_counter()
        for key, dt in zip(out, (t1 - t0, t2 - t1, t3 - t2)):
            out[key].append(dt)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True, help="a store built by search_latency.py --build-only")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    from omnivec.runtime import setup_runtime

    setup_runtime()
    from omnivec.encoders.registry import load_encoder
    from omnivec.search.query import Query
    from omnivec.stores import LocalStore
    from omnivec.types import Item

    enc = load_encoder()
    texts = [q["text"] for q in read_jsonl(EVALSETS / "code-docstring-dev" / "queries.jsonl")][: args.queries]
    vectors = {t: enc.encode([Item(text=t)], role="query")[0] for t in texts}
    store = LocalStore(Path(args.workdir), writer=False)
    rows = Precomputed(store, {"text": enc}, vectors=vectors)
    ids = Precomputed(store, {"text": enc}, vectors=vectors, by_rows=False)
    queries = [Query(text=t, k=args.k) for t in texts]
    differ = [q.text for q in queries if not same(rows.search(q), ids.search(q))]  # also warms both
    print(f"identical hits: {len(queries) - len(differ)} of {len(queries)} queries", flush=True)
    if differ:
        print(f"  differ: {differ[:5]}")
    times: dict[str, list[float]] = {"by ids (before)": [], "by rows": []}
    load0 = os.getloadavg()[0]
    for i, q in enumerate(queries * 2):
        order = [("by ids (before)", ids), ("by rows", rows)]
        for name, searcher in order if i % 2 else order[::-1]:
            t = time.perf_counter()
            searcher.search(q)
            times[name].append(time.perf_counter() - t)
    info = store.stats()["collections"]["text"]
    print(f"{machine()}; load average {load0:.1f} -> {os.getloadavg()[0]:.1f}; {info['count']} chunks "
          f"(dense {info.get('kind')}), {len(queries)} queries x 2, k {args.k}")  # fmt: skip
    p50 = {}
    for name, xs in times.items():
        p50[name] = float(np.percentile(xs, 50) * 1000)
        print(f"  {name:16s} p50 {p50[name]:7.2f} ms   p95 {np.percentile(xs, 95) * 1000:7.2f} ms")
    print(f"  p50 ratio by ids / by rows: {p50['by ids (before)'] / p50['by rows']:.2f}x")
    print("  by rows, its stages (p50, each timed apart):")
    for name, xs in stages(store, rows, queries, vectors).items():
        print(f"    {name:38s} {np.percentile(xs, 50) * 1000:7.3f} ms")
    if args.profile:
        for name, searcher in (("by ids (before)", ids), ("by rows", rows)):
            prof = cProfile.Profile()
            prof.enable()
            for q in queries:
                searcher.search(q)
            prof.disable()
            print(f"\n--- cProfile, {name}, {len(queries)} searches")
            pstats.Stats(prof).sort_stats("cumulative").print_stats(28)
    store.close()


if __name__ == "__main__":
    main()
