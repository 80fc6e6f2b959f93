"""The store's keyword engine alone at scale: pruned `search` against `search_exhaustive`.

    OMNIVEC_THREADS=1 python benchmarks/keyword_scale.py --n 1000000 [--index FILE] [--queries 200]

Same corpus and queries as `keyword_engines.py` (code-docstring-dev tiled to n with its own
vocabulary, the store's analyser), without the peers, so that a million chunks fits a session:
the index is built once and saved to `--index` (reused when it exists). Both searches run in the
same process on the same index, at k = 10 and at the searcher's depth 100; wall and CPU time per
query; the two must return the same rowids and scores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS, machine, read_jsonl
from keyword_engines import Tiled

from omnivec.search.tokens import DEFAULT_ANALYZER
from omnivec.stores.bm25 import Bm25Index
from omnivec.stores.keyword import load_index, save_index


def timed(fn, queries: list[list[str]], k: int) -> tuple[float, float, float]:  # type: ignore[no-untyped-def]
    wall, cpu = [], []
    for q in queries:
        c, t = time.process_time(), time.perf_counter()
        fn(q, k)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    ms = np.array(wall) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), float(np.percentile(cpu, 50) * 1000)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--index", default=None, help="save the built index here, or load it")
    args = ap.parse_args()
    path = Path(args.index) if args.index else None
    t = time.perf_counter()
    if path is not None and path.exists():
        index = load_index(path)[1]  # type: ignore[index]
    else:
        index = Bm25Index()
        for rids, docs in Tiled(args.n).batches():
            index.add(rids, [d.split() for d in docs])
        index.merge()
        if path is not None:
            save_index(path, index, {})
    print(f"{index.ntotal} chunks, {len(index.post_doc)} postings, {len(index.vocab)} terms; ready in "
          f"{time.perf_counter() - t:.0f}s; {machine()}", flush=True)  # fmt: skip
    queries = [
        DEFAULT_ANALYZER.tokens(q["text"])
        for q in read_jsonl(EVALSETS / "code-docstring-dev" / "queries.jsonl")
    ]
    queries = [q for q in queries if q][: args.queries]
    t = time.perf_counter()
    index.search(queries[0], 10)
    print(f"first search (computes every term's bound) {time.perf_counter() - t:.2f}s")
    for k in (10, 100):
        same = sum(
            a[1].tolist() == b[1].tolist() and np.allclose(a[0], b[0], rtol=1e-12)
            for a, b in ((index.search(q, k), index.search_exhaustive(q, k)) for q in queries)
        )
        pruned, full = timed(index.search, queries, k), timed(index.search_exhaustive, queries, k)
        print(f"k={k:3d} load {os.getloadavg()[0]:.1f}: pruned p50 {pruned[0]:.2f} ms p95 {pruned[1]:.2f} "
              f"(CPU p50 {pruned[2]:.2f}); exhaustive p50 {full[0]:.2f} ms p95 {full[1]:.2f} (CPU p50 "
              f"{full[2]:.2f}); ratio {full[0] / pruned[0]:.1f}x; same results {same}/{len(queries)}",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
