"""Search latency through the store and the searcher: query encoding, dense, keyword, hybrid.

    OMNIVEC_THREADS=1 python benchmarks/search_latency.py [--n 100000] [--queries 200]
    (a big store once, at low priority:  nice python benchmarks/search_latency.py --n 1000000
     --workdir DIR --build-only; then the timing run with --workdir DIR)

The store holds n chunks of real code: the code-docstring-dev corpus (20k functions) tiled to n
with its own vocabulary (`keyword_engines.Tiled`: copy 0 as is, every other copy renaming
identifier parts consistently within bands of similar frequency), 10 chunks per source file.
Vectors are drawn with the spectrum of real sentence embeddings (embedding a million chunks with
MiniLM on 2 cores would take days and does not change search cost). Queries are the set's real
docstring queries, encoded by the bundled MiniLM.

Per query, one thread: `encode` the query; `dense` and `keyword` = the store's searches at the
searcher's depth (100); `hybrid total` = `Searcher.search` (encoding, both searches, z-score
fusion, one record fetch for the hits, snippets); `hybrid - encode` = `Searcher.search` timed
on its own with this query's vector handed in (encoded just before), i.e. exactly the search
without its encoding. `keyword, exhaustive` runs the same keyword search through a second reader
whose engine walks every posting (`Bm25Index.search_exhaustive`, the path before pruning): the
ratio against it is measured in the same run. Memory: the process' resident set after the
queries (store handles, their indexes and the model) and the store's files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS, machine, read_jsonl
from keyword_engines import Tiled

from omnivec.search.searcher import Searcher
from omnivec.stores.keyword import Bm25Keyword

DEPTH = 100  # what `Searcher` asks each list for (fusion.Z_DEPTH)


class ExhaustiveKeyword(Bm25Keyword):
    """The keyword engine before pruning: every posting of every query term."""

    def search(self, conn, row, tokens, k, allowed, *, force=False):  # type: ignore[no-untyped-def]
        return self.current(conn, row, force=force).search_exhaustive(tokens, k, allowed)


class GivenVector(Searcher):
    """A `Searcher` whose query vector is handed in (`vector`): its search minus encoding."""

    vector: np.ndarray | None = None

    def _query_vector(self, enc, q, memo):  # type: ignore[no-untyped-def]
        return self.vector


def build_store(root: Path, enc, n: int, per_source: int = 10, ivf_min: int | None = None) -> None:
    from omnivec.stores import LocalStore, Record, SourceState

    tiled = Tiled(n)
    rng = np.random.default_rng(0)
    scale = (np.arange(enc.dim) + 1.0) ** -0.5
    kw = {} if ivf_min is None else {"ivf_min": ivf_min}
    store = LocalStore(root, writer=True, flush_interval=None, **kw)
    store.ensure_collection(
        "text", model=enc.spec.name, fingerprint=enc.fingerprint, dim=enc.dim, recipe=enc.spec.recipe()
    )
    t = time.perf_counter()
    for c in range((n + tiled.base - 1) // tiled.base):
        texts = tiled.texts_of(c)[: n - c * tiled.base]
        for s in range(0, len(texts), per_source):
            src = f"copy{c}/pkg{s % 97}/mod{s}.py"
            chunk = texts[s : s + per_source]
            vecs = rng.standard_normal((len(chunk), enc.dim)) * scale
            vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
            recs = []
            for j, text in enumerate(chunk):
                fields = {"path": src, "kind": "code", "language": "python", "start_line": j * 10 + 1,
                          "end_line": j * 10 + 9, "display": text[:200]}  # fmt: skip
                recs.append(Record(f"{src}#{j}", src, vecs[j], text, fields))
            store.replace_source("text", SourceState(src, f"h{c}-{s}", 1, 1, len(chunk), "indexed"), recs)
    t_flush = time.perf_counter()
    store.flush()
    store.close()
    print(f"built {n} chunks in {time.perf_counter() - t:.0f}s (flush: FAISS training, files "
          f"{time.perf_counter() - t_flush:.0f}s)", flush=True)  # fmt: skip


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, p))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--workdir", default=None, help="reuse a store built by an earlier run")
    ap.add_argument("--build-only", action="store_true", help="build the store in --workdir and stop")
    ap.add_argument("--per-source", type=int, default=10)
    ap.add_argument("--ivf-min", type=int, default=None,
                    help="build: IVF from this many vectors (default the store's, 50k): an IVF dense side on a small store")  # fmt: skip
    args = ap.parse_args()
    from omnivec.runtime import setup_runtime

    setup_runtime()
    from omnivec.encoders.registry import load_encoder
    from omnivec.search.query import Query
    from omnivec.stores import LocalStore
    from omnivec.types import Item

    enc = load_encoder()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="omnivec-latency-"))
    if not (root / "omnivec.sqlite").exists():
        build_store(root, enc, args.n, args.per_source, args.ivf_min)
    if args.build_only:
        return
    rss0 = rss_mb()
    store = LocalStore(root, writer=False)
    searcher = Searcher(store, {"text": enc})
    given = GivenVector(store, {"text": enc})
    queries = [q["text"] for q in read_jsonl(EVALSETS / "code-docstring-dev" / "queries.jsonl")][
        : args.queries
    ]
    t = time.perf_counter()
    searcher.search(Query(text=queries[0]))  # load the indexes, warm the model
    print(f"first search (loads the indexes) {time.perf_counter() - t:.1f}s", flush=True)
    slow = LocalStore(root, writer=False, keyword=ExhaustiveKeyword)
    slow.keyword_search("text", queries[0], DEPTH)
    parts: dict[str, list[float]] = {k: [] for k in ("encode", "dense", "keyword", "keyword, exhaustive",
                                                      "hybrid total", "hybrid - encode")}  # fmt: skip

    def timed(fn, *a) -> float:  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        fn(*a)
        return time.perf_counter() - t

    for i, q in enumerate(queries):
        t0 = time.perf_counter()
        vec = enc.encode([Item(text=q)], role="query")[0]
        enc_s = time.perf_counter() - t0
        dense_s = timed(store.dense_search, "text", vec, DEPTH)
        # alternate which keyword engine runs first: the second finds this query's postings in cache
        if i % 2:
            slow_s = timed(slow.keyword_search, "text", q, DEPTH)
            kw_s = timed(store.keyword_search, "text", q, DEPTH)
        else:
            kw_s = timed(store.keyword_search, "text", q, DEPTH)
            slow_s = timed(slow.keyword_search, "text", q, DEPTH)
        hyb_s = timed(searcher.search, Query(text=q, k=10))
        given.vector = vec
        given_s = timed(given.search, Query(text=q, k=10))
        for key, dt in zip(parts, (enc_s, dense_s, kw_s, slow_s, hyb_s, given_s)):
            parts[key].append(dt)
    from omnivec.stores.dense_file import read_stamp

    info = store.stats()
    dense = [read_stamp(f) or {} for f in (root / "dense").glob("*.faiss")]
    print(f"{machine()}; load average {os.getloadavg()[0]:.1f}; {args.n} chunks, {len(queries)} queries, "
          f"model {enc.spec.name}; dense index {[(d.get('kind'), d.get('nprobe')) for d in dense]}")  # fmt: skip
    for key, xs in parts.items():
        print(f"  {key:20s} p50 {pct(xs, 50):7.2f} ms   p95 {pct(xs, 95):7.2f} ms")
    ratio = pct(parts["keyword, exhaustive"], 50) / pct(parts["keyword"], 50)
    print(f"  keyword p50 ratio exhaustive / pruned: {ratio:.1f}x")
    kw = list((root / "keyword").glob("*.bm25"))
    print(f"  resident memory {rss_mb():.0f} MB (before opening the store: {rss0:.0f} MB; a second reader "
          f"holds another keyword index); store files {info['bytes'] / 2**20:.0f} MB, keyword index files "
          f"{sum(f.stat().st_size for f in kw) / 2**20:.0f} MB")  # fmt: skip
    slow.close()
    store.close()
    if not args.workdir:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
