"""Tesseract OCR + MiniLM on screenshot-docs: nDCG@10 / Recall@1 against the text upper bound.

Usage:
    .venv/bin/python benchmarks/screenshot_ocr.py [--limit N] [--workers 2] [--compare-settings N]

OCR results are cached by image content (OMNIVEC_CACHE/ocr.sqlite), so only the first run OCRs
(about 10 minutes for 601 pages on 2 cores); pages/s is reported for the pages OCR'd in this run.
`corpus_text.jsonl` is read only for the reference rows (the OCR-free upper bound) and for the
word recall of OCR settings, never as retrieval input.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
from _common import EVALSETS, metrics, read_jsonl, read_qrel_sets

from omnivec.encoders.ocr import OcrEncoder
from omnivec.encoders.registry import load_encoder
from omnivec.ocr import OcrSettings, cache_key, line_chunks, ocr_image, ocr_many
from omnivec.types import Item

SET = EVALSETS / "screenshot-docs"
NAME = "omnivec/tesseract-minilm"
UPPER = 0.984  # BM25 nDCG@10 on the pages' own text (the set's README)
SETTINGS = [OcrSettings(psm=3), OcrSettings(psm=3, scale=0.75), OcrSettings(psm=4), OcrSettings(psm=6),
            OcrSettings(psm=11), OcrSettings(psm=3, scale=1.5)]  # fmt: skip


def words(text: str) -> Counter[str]:
    return Counter(w.lower() for w in re.findall(r"\w+", text))


def compare_settings(root: Path, n: int) -> None:
    """Word recall against the page text and seconds per page, on n pages spread over the set."""
    corpus = read_jsonl(root / "corpus.jsonl")
    truth = {r["_id"]: r["text"] for r in read_jsonl(root / "corpus_text.jsonl")}
    pages = corpus[:: max(1, len(corpus) // n)][:n]
    print(f"OCR settings on {len(pages)} pages (word recall vs the page text; one tesseract at a time):")
    for s in SETTINGS:
        start, hit, total = time.perf_counter(), 0, 0
        for r in pages:
            got, want = words(ocr_image(root / r["image"], s).text), words(truth[r["_id"]])
            hit += sum((got & want).values())
            total += sum(want.values())
        dt = (time.perf_counter() - start) / len(pages)
        print(f"  psm {s.psm:2d} scale {s.scale:4.2f}: word recall {hit / total:.3f}  {dt:.2f} s/page")


def ocr_speed(root: Path, n: int, workers: int) -> None:
    """Pages/s of OCR alone (no cache), with `workers` tesseract processes at a time."""
    pages = [root / r["image"] for r in read_jsonl(root / "corpus.jsonl")[:n]]
    start = time.perf_counter()
    ocr_many(pages, OcrSettings(), cache=None, workers=workers)
    dt = time.perf_counter() - start
    print(f"OCR speed: {len(pages)} pages in {dt:.1f}s = {len(pages) / dt:.2f} pages/s ({workers} workers)")


def chunked_scores(enc: OcrEncoder, qv: np.ndarray, pages: list[list[str]]) -> np.ndarray:
    """Score of a page = its best chunk (max-sim), one text-encoder vector per chunk."""
    flat = [c for p in pages for c in p]
    owner = np.repeat(np.arange(len(pages)), [len(p) for p in pages])
    cv = enc.text_encoder.encode(flat, role="document")
    sims = qv @ cv.T
    out = np.full((len(qv), len(pages)), -np.inf, dtype=np.float32)
    np.maximum.at(out.T, owner, sims.T)
    return out


def word_windows(text: str, size: int, overlap: int = 20) -> list[str]:
    ws = text.split()
    return [" ".join(ws[i : i + size]) for i in range(0, max(1, len(ws) - overlap), size - overlap)] or [text]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", type=Path, default=SET)
    ap.add_argument("--limit", type=int, default=None, help="only the first N pages (and their queries)")
    ap.add_argument("--workers", type=int, default=2, help="tesseract processes at a time")
    ap.add_argument(
        "--compare-settings", type=int, default=0, metavar="N", help="compare OCR settings on N pages"
    )
    ap.add_argument("--chunk-words", type=int, nargs="+", default=[60, 100, 150])
    ap.add_argument("--speed", type=int, default=0, metavar="N", help="only time OCR of N pages, no cache")
    args = ap.parse_args()
    if args.speed:
        ocr_speed(args.set, args.speed, args.workers)
        return
    if args.compare_settings:
        compare_settings(args.set, args.compare_settings)
        return
    corpus = read_jsonl(args.set / "corpus.jsonl")[: args.limit]
    dids = [r["_id"] for r in corpus]
    rel = {q: d for q, d in read_qrel_sets(args.set / "qrels" / "test.tsv").items() if d & set(dids)}
    queries = [r for r in read_jsonl(args.set / "queries.jsonl") if r["_id"] in rel]
    qids = [r["_id"] for r in queries]
    enc = load_encoder(NAME, ocr_workers=args.workers)
    assert isinstance(enc, OcrEncoder)
    images = [args.set / r["image"] for r in corpus]

    todo = [im for im in images if enc.ocr_cache is None or not _cached(enc, im)]
    start = time.perf_counter()
    results = ocr_many(images, enc.settings, enc.ocr_cache, args.workers)
    dt = time.perf_counter() - start
    speed = f"{len(todo) / dt:.2f} pages/s" if todo else "all cached"
    print(f"OCR ({enc.settings.key()}): {len(todo)} of {len(images)} pages OCR'd in {dt:.0f}s, {speed} "
          f"with {args.workers} tesseract processes")  # fmt: skip

    qv = enc.encode([r["text"] for r in queries], role="query")
    res = enc.embed([Item(image=im) for im in images])
    print(f"{len(queries)} queries, {len(corpus)} pages; {len(res.truncated)} pages truncated at "
          f"{enc.spec.max_length} tokens")  # fmt: skip
    rows = [("OCR, one vector per page (truncated)", qv @ res.vectors.T)]
    for size in args.chunk_words:
        chunks = [[c.text for c in line_chunks(r, size)] for r in results]
        rows.append((f"OCR, line chunks <= {size} words, max-sim", chunked_scores(enc, qv, chunks)))
    ocr_bm25 = bm25_scores([r.text for r in results], [q["text"] for q in queries])
    rows.append(("OCR, BM25 on the page's OCR text", ocr_bm25))
    rows.append((f"OCR, RRF(BM25, chunks <= {args.chunk_words[0]} words)", rrf(ocr_bm25, rows[1][1])))
    truth = {r["_id"]: r["text"] for r in read_jsonl(args.set / "corpus_text.jsonl")}
    texts = [truth[d] for d in dids]
    rows.append(("reference: page text, BM25", bm25_scores(texts, [q["text"] for q in queries])))
    rows.append(("reference: page text, one vector", qv @ enc.text_encoder.encode(texts).T))
    windows = [word_windows(t, args.chunk_words[0]) for t in texts]
    rows.append(
        (f"reference: page text, {args.chunk_words[0]}-word windows", chunked_scores(enc, qv, windows))
    )
    print(f"{'pipeline':52} R@1    nDCG@10  fraction of {UPPER}")
    for label, scores in rows:
        r1, ndcg = metrics(scores, qids, dids, rel)
        print(f"{label:52} {r1:.3f}  {ndcg:.3f}    {ndcg / UPPER:.3f}")


def bm25_scores(docs: list[str], queries: list[str]) -> np.ndarray:
    """Full (queries x docs) BM25 scores with bm25s' default tokenizer and English stopwords."""
    import bm25s

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(docs, stopwords="en", show_progress=False), show_progress=False)
    ids, scores = retriever.retrieve(
        bm25s.tokenize(queries, stopwords="en", show_progress=False), k=len(docs), show_progress=False
    )
    out = np.zeros((len(queries), len(docs)), dtype=np.float32)
    np.put_along_axis(out, ids, scores, axis=1)
    return out


def rrf(*runs: np.ndarray, k: int = 60) -> np.ndarray:
    """Reciprocal rank fusion of full score matrices (the same rule as omnivec.search.fusion)."""
    out = np.zeros_like(runs[0], dtype=np.float64)
    for scores in runs:
        ranks = np.argsort(np.argsort(-scores, axis=1), axis=1) + 1
        out += 1.0 / (k + ranks)
    return out


def _cached(enc: OcrEncoder, image: Path) -> bool:
    assert enc.ocr_cache is not None
    return enc.ocr_cache.get(cache_key(image, enc.settings)) is not None


if __name__ == "__main__":
    main()
