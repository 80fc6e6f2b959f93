"""Rowid -> record id for each list's top hits: the covering index `records_rid_id` against the
rowid lookup (what stores without the index do), same store, same rowids, one process.

    python benchmarks/rowid_lookup.py --workdir STORE [--queries 200]

STORE is any LocalStore folder (e.g. one built by `search_latency.py --build-only`; it may be
written meanwhile: this is a WAL reader). Rowids per query: the keyword engine's top 100 for the
code-docstring-dev queries, as `Searcher` asks. The two lookups alternate which goes first.
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--collection", default="text")
    args = ap.parse_args()
    from omnivec.stores import LocalStore
    from omnivec.stores import sqlite_records as sq
    from omnivec.stores.bm25 import analyse

    store = LocalStore(args.workdir, writer=False)
    conn = store._conn  # a benchmark of the store's own query: its connection, read-only
    n = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    row = store._row(args.collection)
    queries = [q["text"] for q in read_jsonl(EVALSETS / "code-docstring-dev" / "queries.jsonl")]
    lists = []
    for q in queries[: args.queries]:
        _, rids = store._keyword.search(conn, row, analyse(q), 100, None)
        lists.append(rids.tolist())
    times: dict[bool, list[float]] = {True: [], False: []}
    for i, rids in enumerate(lists):
        for covering in (True, False) if i % 2 else (False, True):
            t = time.perf_counter()
            ids = sq.ids_for(conn, rids, rid_index=covering)
            times[covering].append(time.perf_counter() - t)
            assert len(ids) == len(rids)
    p50 = {c: float(np.percentile(np.array(ts) * 1000, 50)) for c, ts in times.items()}
    p95 = {c: float(np.percentile(np.array(ts) * 1000, 95)) for c, ts in times.items()}
    print(f"{machine()}; load average {os.getloadavg()[0]:.1f}; {n} records, {len(lists)} queries")
    print(f"  rowid lookup (records rows)      p50 {p50[False]:6.3f} ms  p95 {p95[False]:6.3f} ms")
    print(f"  covering index records_rid_id    p50 {p50[True]:6.3f} ms  p95 {p95[True]:6.3f} ms")
    print(f"  ratio p50 rowid / covering: {p50[False] / p50[True]:.2f}x")
    store.close()


if __name__ == "__main__":
    main()
