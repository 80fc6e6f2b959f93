"""Retrieval quality of the normal index + search path on code-docstring-dev.

Each corpus document becomes a file; the folder is indexed with `Index.create(...).update()` and
every query goes through `Searcher.search` in dense, keyword and hybrid mode (one hit per file).

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


if __name__ == "__main__":
    main()
