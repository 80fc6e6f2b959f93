"""Keyword analysis and fusion on the dev sets: dense, BM25 and hybrid nDCG@10, before and after,
with paired bootstrap confidence intervals.

Usage:
    OMNIVEC_CACHE=... .venv/bin/python benchmarks/fusion_quality.py [--sets docstring,js,c2c,shots]
        [--runs .bench/fusion] [--top-k 1000] [--resamples 2000]

"before" is the analyser and fusion of the previous release (no stop words, k1 1.5, b 0.75; RRF
k=60, equal weights); "after" is the default `Analyzer` and `Fusion`. Runs come from the
evaluator's own retrievers (`omnivec eval` computes the same numbers) and are kept under `--runs`
as JSON, so a second call only re-fuses: the embeddings come from the embedding cache, the OCR of
screenshot-docs from the OCR cache. The hybrid target: at least the better of dense and BM25 +
0.01 (within 0.005 where that part is above 0.99).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from _common import EVALSETS

from omnivec.evaluate import metrics
from omnivec.evaluate.data import RetrievalData
from omnivec.evaluate.retrievers import (
    BM25Retriever,
    HybridRetriever,
    Request,
    Retriever,
    Run,
    build_retriever,
)
from omnivec.evaluate.runner import drop_self_hits, retrieve
from omnivec.evaluate.significance import paired_bootstrap
from omnivec.evaluate.tasks import DataRoots, Task, resolve_tasks
from omnivec.search.fusion import Fusion
from omnivec.search.tokens import Analyzer

SETS = {  # name: (task, model)
    "docstring": (str(EVALSETS / "code-docstring-dev"), "sentence-transformers/all-MiniLM-L6-v2"),
    "js": (str(EVALSETS / "code-docstring-js-dev"), "sentence-transformers/all-MiniLM-L6-v2"),
    "c2c": (str(EVALSETS / "code-to-code-dev"), "sentence-transformers/all-MiniLM-L6-v2"),
    "shots": ("dev:screenshot-docs", "omnivec/tesseract-minilm"),
}
BEFORE = Analyzer(stop_words="none", k1=1.5, b=0.75)
RRF = Fusion("rrf")


def runs_for(name: str, folder: Path, top_k: int) -> tuple[RetrievalData, Task, dict[str, Run]]:
    """dense, bm25 (after) and bm25-before runs of one set, computed once and kept as JSON."""
    from omnivec.config import cache_dir
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.encoders.registry import load_encoder
    from omnivec.evaluate.passages import choose
    from omnivec.ingest.visual import OCR_PASSAGE_WORDS

    task_name, model = SETS[name]
    (task,) = resolve_tasks([task_name], DataRoots(evalsets=EVALSETS, cache=cache_dir() / "datasets"))
    data = task.subsets[0].load()
    req = Request(task.title_mode, None, top_k + (1 if task.drop_self_hits else 0))
    out: dict[str, Run] = {}
    dense: Retriever | None = None
    for kind in ("dense", "bm25", "bm25-before"):
        path = folder / name / f"{kind}.json"
        if path.is_file():
            out[kind] = json.loads(path.read_text())
            continue
        if kind == "dense":
            enc = load_encoder(model)
            dense = build_retriever("dense", enc, EmbeddingCache(cache_dir() / "embeddings.sqlite"))
            retriever: Retriever = dense
        else:
            retriever = BM25Retriever(BEFORE if kind == "bm25-before" else Analyzer())
        passages = None
        if any(d.image for d in data.corpus):  # BM25 reads pages through the dense model's OCR
            dense = dense or build_retriever("dense", load_encoder(model))
            passages = choose(dense, data, True, None, OCR_PASSAGE_WORDS)
        run, _ = retrieve(data, retriever, req, passages)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(run))
        out[kind] = run
    return data, task, out


def per_query(run: Run, data: RetrievalData, task: Task, top_k: int) -> dict[str, float]:
    if task.drop_self_hits:
        run = drop_self_hits(run, top_k)
    scores = metrics.evaluate_run(run, data.qrels, k_values=(10,), families=("ndcg",))
    return {q: s["ndcg_at_10"] for q, s in scores.items()}


def fused(data: RetrievalData, dense: Run, sparse: Run, fusion: Fusion, k: int) -> Run:
    hybrid = HybridRetriever.__new__(HybridRetriever)  # only `fuse` is used: no encoder needed
    hybrid.fusion, hybrid.weights = fusion, (1.0, 1.0)
    return hybrid.fuse(data.queries, dense, sparse, k)


def report_set(name: str, folder: Path, top_k: int, resamples: int) -> dict[str, Any]:
    data, task, runs = runs_for(name, folder, top_k)
    k = top_k + (1 if task.drop_self_hits else 0)
    systems = {
        "dense": runs["dense"],
        "bm25 before": runs["bm25-before"],
        "bm25": runs["bm25"],
        "hybrid before (rrf)": fused(data, runs["dense"], runs["bm25-before"], RRF, k),
        "hybrid rrf, new bm25": fused(data, runs["dense"], runs["bm25"], RRF, k),
        "hybrid": fused(data, runs["dense"], runs["bm25"], Fusion(), k),
    }
    pq = {s: per_query(r, data, task, top_k) for s, r in systems.items()}
    mean = {s: sum(v.values()) / len(v) for s, v in pq.items()}
    better = "dense" if mean["dense"] >= mean["bm25"] else "bm25"
    diffs = {
        "bm25 - bm25 before": paired_bootstrap(pq["bm25 before"], pq["bm25"], resamples),
        "hybrid - hybrid before": paired_bootstrap(pq["hybrid before (rrf)"], pq["hybrid"], resamples),
        f"hybrid - {better}": paired_bootstrap(pq[better], pq["hybrid"], resamples),
    }
    need = mean[better] - 0.005 if mean[better] > 0.99 else mean[better] + 0.01
    return {"set": name, "queries": len(pq["dense"]), "ndcg@10": mean, "diffs": diffs, "target": need}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", default=",".join(SETS))
    ap.add_argument("--runs", type=Path, default=Path(".bench/fusion"))
    ap.add_argument("--top-k", type=int, default=1000)
    ap.add_argument("--resamples", type=int, default=2000)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"analyser after: {Analyzer().id}; before: {BEFORE.id}; fusion after: {Fusion().describe()}\n")
    for name in args.sets.split(","):
        r = report_set(name, args.runs, args.top_k, args.resamples)
        print(f"## {name} ({r['queries']} queries), nDCG@10")
        for system, value in r["ndcg@10"].items():
            print(f"  {system:22s} {value:.4f}")
        for label, d in r["diffs"].items():
            print(f"  {label:22s} {d}  (95% paired bootstrap, p(not better) {d.p_not_better:.3f})")
        ok = r["ndcg@10"]["hybrid"] >= r["target"] - 1e-12
        print(f"  target hybrid >= {r['target']:.4f}: {'met' if ok else 'MISSED'}\n", flush=True)


if __name__ == "__main__":
    main()
