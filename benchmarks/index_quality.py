"""Retrieval quality of the normal index + search path on code-docstring-dev.

Each corpus document becomes a file; the folder is indexed with `Index.create(...).update()` and
every query goes through `Searcher.search` in dense, keyword and hybrid mode (one hit per file).
Beside them, on the same documents and in the same run: the evaluator's BM25 (bm25s, the
analyser's terms and k1/b: `omnivec.evaluate.retrievers.BM25Retriever`) and the store's keyword
engine (`omnivec.stores.bm25.Bm25Index`) over the same per-document terms, whose nDCG@10 must be
equal; the store path differs from them only by chunking (path header, long functions split).

    python benchmarks/index_quality.py [--limit-docs N] [--model NAME]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import EVALSETS, evaluate, machine, read_jsonl, read_qrels


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--limit-docs", type=int, default=0, help="keep all relevant docs plus distractors up to N"
    )
    ap.add_argument("--model", default=None)
    ap.add_argument("--workdir", default=None, help="reuse a folder (the index is incremental)")
    args = ap.parse_args()

    from omnivec.api import Index
    from omnivec.runtime import setup_runtime
    from omnivec.search.query import Query

    setup_runtime()
    ds = EVALSETS / "code-docstring-dev"
    corpus, queries, qrels = (
        read_jsonl(ds / "corpus.jsonl"),
        read_jsonl(ds / "queries.jsonl"),
        read_qrels(ds / "qrels/test.tsv"),
    )
    if args.limit_docs:
        relevant = {d for rels in qrels.values() for d in rels}
        corpus = [c for c in corpus if c["_id"] in relevant] + [c for c in corpus if c["_id"] not in relevant]
        corpus = corpus[: max(args.limit_docs, len(relevant))]
    work = Path(args.workdir or tempfile.mkdtemp(prefix="omnivec-quality-"))
    src = work / "corpus"
    src.mkdir(parents=True, exist_ok=True)
    for doc in corpus:
        path = src / f"{doc['_id']}.py"
        if not path.exists():
            path.write_text(doc["text"])
    t = time.perf_counter()
    with Index.create(
        src, work / "store", text_model=args.model, image_model=None, screenshot_model=None
    ) as idx:
        report = idx.update()
        print(
            f"indexed {report.indexed} files / {report.chunks} chunks in {time.perf_counter() - t:.1f}s "
            f"({report.as_dict()['seconds']}); {machine()}"
        )
        searcher = idx.searcher()
        for mode in ("dense", "keyword", "hybrid"):
            t = time.perf_counter()
            run = {}
            for q in queries:
                hits = searcher.search(Query(text=q["text"], k=100, mode=mode, group_by_file=True))
                # rank-based scores: pytrec_eval re-sorts by score, and fused scores can tie
                run[q["_id"]] = {Path(h.path).stem: 1.0 / (i + 1) for i, h in enumerate(hits)}
            ms = 1000 * (time.perf_counter() - t) / len(queries)
            print(f"{mode:8s} {evaluate(run, qrels)}  ({ms:.1f} ms/query)")
    same_terms_bm25(ds, corpus, queries, qrels)


def same_terms_bm25(ds: Path, corpus: list[dict], queries: list[dict], qrels: dict) -> None:
    """The evaluator's BM25 and the store's engine on the same documents' terms: equal nDCG."""
    import numpy as np

    from omnivec.evaluate.coir import load_local
    from omnivec.evaluate.retrievers import BM25Retriever, Request
    from omnivec.stores.bm25 import Bm25Index, analyse

    data = load_local(ds)
    keep = {c["_id"] for c in corpus}
    data.corpus = [d for d in data.corpus if d.id in keep]
    ref = BM25Retriever().retrieve(data, Request(title_mode="text", instruction=None, k=100))
    print(f"evaluator BM25 (bm25s) {evaluate(ref, qrels)}")
    index = Bm25Index()
    index.add(np.arange(len(corpus), dtype=np.int64), [analyse(c["text"]) for c in corpus])
    run = {}
    for q in queries:
        scores, rows = index.search(analyse(q["text"]), 100)
        run[q["_id"]] = {corpus[r]["_id"]: float(s) for r, s in zip(rows.tolist(), scores)}
    print(f"store BM25 (Bm25Index) {evaluate(run, qrels)}")


if __name__ == "__main__":
    main()
