"""Search latency at 100k chunks on the default model: query encoding + ANN + keyword + fusion.

The store holds 100k chunks: texts are the code-docstring-dev corpus (20k real functions, each
repeated under 5 paths so the keyword index sees real code vocabulary), vectors are drawn with the
spectrum of real sentence embeddings (embedding 100k chunks with MiniLM on 2 cores would take an
hour and does not change search cost). Queries are the set's real docstring queries, encoded by
the bundled MiniLM through the normal `Searcher.search` path.

    python benchmarks/search_latency.py [--n 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS, machine, read_jsonl


def build_store(root: Path, enc, n: int, per_source: int = 10) -> None:
    from omnivec.stores import LocalStore, Record, SourceState

    corpus = read_jsonl(EVALSETS / "code-docstring-dev" / "corpus.jsonl")
    rng = np.random.default_rng(0)
    scale = (np.arange(enc.dim) + 1.0) ** -0.5
    store = LocalStore(root, writer=True, flush_interval=None)
    store.ensure_collection(
        "text", model=enc.spec.name, fingerprint=enc.fingerprint, dim=enc.dim, recipe=enc.spec.recipe()
    )
    t = time.perf_counter()
    for s in range(n // per_source):
        src = f"copy{s % 5}/pkg{s % 97}/mod{s}.py"
        vecs = rng.standard_normal((per_source, enc.dim)) * scale
        vecs = (vecs / np.linalg.norm(vecs, axis=1, keepdims=True)).astype(np.float32)
        recs = []
        for j in range(per_source):
            doc = corpus[(s * per_source + j) % len(corpus)]
            fields = {"path": src, "kind": "code", "language": "python", "start_line": j * 10 + 1,
                      "end_line": j * 10 + 9, "display": doc["text"][:200]}  # fmt: skip
            recs.append(Record(f"{src}#{j}", src, vecs[j], doc["text"], fields))
        store.replace_source("text", SourceState(src, f"h{s}", 1, 1, per_source, "indexed"), recs)
    store.flush()
    store.close()
    print(f"built {n} chunks in {time.perf_counter() - t:.0f}s")


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(np.array(xs) * 1000, p))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    from omnivec.runtime import setup_runtime

    setup_runtime()
    from omnivec.encoders.registry import load_encoder
    from omnivec.search.query import Query
    from omnivec.search.searcher import Searcher
    from omnivec.stores import LocalStore
    from omnivec.types import Item

    enc = load_encoder()
    root = Path(tempfile.mkdtemp(prefix="omnivec-latency-"))
    build_store(root, enc, args.n)
    store = LocalStore(root, writer=False)
    searcher = Searcher(store, {"text": enc})
    queries = [q["text"] for q in read_jsonl(EVALSETS / "code-docstring-dev" / "queries.jsonl")][
        : args.queries
    ]
    searcher.search(Query(text=queries[0]))  # load the index, warm the model
    parts: dict[str, list[float]] = {"encode": [], "dense": [], "keyword": [], "hybrid total": []}
    for q in queries:
        t0 = time.perf_counter()
        vec = enc.encode([Item(text=q)], role="query")[0]
        t1 = time.perf_counter()
        store.dense_search("text", vec, 50)
        t2 = time.perf_counter()
        store.keyword_search("text", q, 50)
        t3 = time.perf_counter()
        searcher.search(Query(text=q, k=10))
        t4 = time.perf_counter()
        for key, dt in zip(parts, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
            parts[key].append(dt)
    print(
        f"{machine()}; {args.n} chunks, {len(queries)} queries, model {enc.spec.name}; "
        f"dense index {store.stats()['collections']['text']['kind']}"
    )
    for key, xs in parts.items():
        print(f"  {key:13s} p50 {pct(xs, 50):7.2f} ms   p95 {pct(xs, 95):7.2f} ms")
    store.close()
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
