"""OCR passages: score an image document by its best OCR passage, as the index does.

The index turns each page image into chunks of whole OCR lines (`omnivec.ingest.visual.ocr_passages`,
`OCR_PASSAGE_WORDS` words), so a page is found by its best passage and keyword search sees its
text. The evaluator mirrors that: every image document is OCR'd and split with the same
`line_chunks`; each passage is retrieved as its own pseudo-document; a document's score is its
best passage's (max-pool); documents are then ranked. Hybrid fuses at the document level (the search fusion of
the max-pooled dense and BM25 runs), as `benchmarks/screenshot_ocr.py` measured it.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omnivec.errors import InputError

from .data import Record, RetrievalData

if TYPE_CHECKING:
    from .retrievers import Request, Retriever, Run

log = logging.getLogger(__name__)

OcrFn = Callable[[list[str]], list[Any]]  # image paths -> OcrResult-like objects, in order
DEFAULT_OCR_MODEL = "omnivec/tesseract-minilm"
SEP = "#p"  # passage id = document id + SEP + passage number


@dataclass(frozen=True)
class PassageSet:
    """A corpus of passages (text documents without images kept as they are) and its owners."""

    data: RetrievalData
    owner: dict[str, str]  # passage id -> document id
    info: dict[str, Any]


@dataclass
class Passages:
    """Splits image documents into OCR passages and max-pools passage runs back to documents.

    `source` names where the OCR came from (recorded in results); `words` is the passage size.
    """

    ocr: OcrFn
    source: str
    words: int

    def split(self, data: RetrievalData) -> PassageSet:
        """Replace every image document by its OCR passages; text documents pass through."""
        from omnivec.ocr import line_chunks

        images = [d for d in data.corpus if d.image is not None]
        pages = self.ocr([str(d.image) for d in images])
        by_id = {d.id: p for d, p in zip(images, pages)}
        corpus: list[Record] = []
        owner: dict[str, str] = {}
        counts: list[int] = []
        for doc in data.corpus:
            if doc.image is None:
                corpus.append(doc)
                owner[doc.id] = doc.id
                continue
            parts = [p.text for p in line_chunks(by_id[doc.id], self.words) if p.text.strip()]
            passages = [Record(id=f"{doc.id}{SEP}{i}", text=t) for i, t in enumerate(parts)]
            if doc.text.strip() or doc.title.strip():
                # a caption that belongs to the document stays searchable, as its own passage
                passages.append(Record(id=f"{doc.id}{SEP}own", text=doc.text, title=doc.title))
            counts.append(len(passages))
            corpus.extend(passages)
            owner.update((r.id, doc.id) for r in passages)
        _check_unique(corpus)
        info = self._info(counts, len(corpus))
        log.info("OCR passages: %s", info)
        return PassageSet(RetrievalData(corpus, data.queries, data.qrels, data.limited), owner, info)

    def _info(self, counts: Sequence[int], n_passages: int) -> dict[str, Any]:
        n = len(counts)
        return {
            "ocr": self.source, "words_per_passage": self.words, "pooling": "max over a document's passages",
            "image_docs": n, "passages": sum(counts), "corpus_after_split": n_passages,
            "mean_passages_per_image_doc": round(sum(counts) / n, 3) if n else 0.0,
            "max_passages_per_image_doc": max(counts, default=0),
            "image_docs_without_text": sum(1 for c in counts if c == 0),
        }  # fmt: skip

    def retrieve(self, retriever: Retriever, data: RetrievalData, req: Request) -> tuple[Run, dict[str, Any]]:
        """The document-level run of `retriever` over passages, and what the split recorded."""
        split = self.split(data)
        return self.run_split(retriever, split, req), split.info

    def run_split(self, retriever: Retriever, split: PassageSet, req: Request) -> Run:
        from dataclasses import replace

        from .retrievers import HybridRetriever

        if isinstance(retriever, HybridRetriever):
            # fuse documents, not passages: a page whose best dense passage and best BM25 passage
            # differ still gets both votes
            dense = self.run_split(retriever.dense, split, req)
            sparse = self.run_split(retriever.sparse, split, req)
            return retriever.fuse(split.data.queries, dense, sparse, req.k)
        per_doc = max(1, split.info["max_passages_per_image_doc"])
        # deep enough that max-pooling still leaves `k` documents
        deep = replace(req, k=min(len(split.data.corpus), req.k * per_doc))
        return max_pool(retriever.retrieve(split.data, deep), split.owner, req.k)


def max_pool(run: Run, owner: dict[str, str], k: int) -> Run:
    """`{qid: {passage: score}}` -> `{qid: {doc: best passage score}}`, best `k` documents."""
    out: Run = {}
    for qid, hits in run.items():
        best: dict[str, float] = {}
        for pid, score in hits.items():
            doc = owner[pid]
            if doc not in best or score > best[doc]:
                best[doc] = score
        ranked = sorted(best.items(), key=lambda kv: (kv[1], kv[0]), reverse=True)
        out[qid] = dict(ranked[:k])
    return out


def _check_unique(corpus: Sequence[Record]) -> None:
    seen: set[str] = set()
    for r in corpus:
        if r.id in seen:
            raise InputError(
                received=f"document id {r.id!r} twice after splitting images into OCR passages",
                expected=f"document ids that do not end in {SEP!r}<number>",
                fix="rename those documents, or run without --ocr-passages",
            )
        seen.add(r.id)


# --- where the OCR comes from ----------------------------------------------------------------------
def encoder_ocr(retriever: Retriever) -> Any | None:
    """The OCR pipeline behind a dense or hybrid retriever, if its encoder has one."""
    from .retrievers import DenseRetriever, HybridRetriever

    dense = retriever.dense if isinstance(retriever, HybridRetriever) else retriever
    encoder = dense.encoder if isinstance(dense, DenseRetriever) else None
    return encoder if encoder is not None and callable(getattr(encoder, "ocr", None)) else None


def ocr_of_model(name: str) -> tuple[OcrFn, str]:
    """OCR alone (no text model loaded) with a registered OCR model's settings and the OCR cache,
    for BM25, which has no encoder of its own."""
    from omnivec.encoders.registry import get_spec
    from omnivec.ocr import OcrSettings, default_ocr_cache, ocr_many

    spec = get_spec(name)
    if spec.family != "ocr":
        raise InputError(
            received=f"OCR model {name!r} (family {spec.family!r})",
            expected="an OCR model, e.g. omnivec/tesseract-minilm",
            fix=f"pass --model {DEFAULT_OCR_MODEL}, or drop --ocr-passages",
        )
    opts = spec.options
    settings = OcrSettings(str(opts["lang"]), int(opts["psm"]), float(opts["scale"]))
    cache = default_ocr_cache()

    def run(images: list[str]) -> list[Any]:
        return ocr_many(images, settings, cache, workers=2)

    return run, f"{spec.name} ({settings.key()})"


def ocr_available() -> bool:
    return shutil.which("tesseract") is not None


def choose(
    retriever: Retriever, data: RetrievalData, wanted: bool | None, model: str | None, words: int
) -> Passages | None:
    """Passages for this run, or None.

    `wanted=None` (auto): on when the retriever's encoder is an OCR pipeline and the corpus has
    images. `True`: OCR from that encoder, else from `model` (default omnivec/tesseract-minilm).
    """
    if wanted is False or not any(d.image is not None for d in data.corpus):
        return None
    enc = encoder_ocr(retriever)
    if enc is not None:  # the model's own OCR, as its index would use
        settings = getattr(enc, "settings", None)
        key = f" ({settings.key()})" if settings is not None else ""
        return Passages(enc.ocr, f"{enc.spec.name}{key}", words)
    if wanted is None and model is None:
        return None
    fn, source = ocr_of_model(model or DEFAULT_OCR_MODEL)
    return Passages(fn, source, words)
