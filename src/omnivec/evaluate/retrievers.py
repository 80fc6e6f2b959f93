"""Retrievers the evaluator can score: dense (any Encoder), BM25 (bm25s), and their fused hybrid.

Each turns a `RetrievalData` into a run `{qid: {docid: score}}` holding the top `k` per query.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from omnivec.errors import InputError, require

from . import search
from .ann import AnnSettings, ivf_top_k
from .data import Record, RetrievalData, TitleMode

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.search.fusion import Fusion
    from omnivec.search.tokens import Analyzer
    from omnivec.types import Item, Role

log = logging.getLogger(__name__)

Run = dict[str, dict[str, float]]
EMBED_CHUNK = 8192  # documents embedded per call: bounds the in-memory vectors before the memmap


@dataclass(frozen=True)
class Request:
    """What a task asks of a retriever: how to render documents, the query instruction, depth."""

    title_mode: TitleMode
    instruction: str | None
    k: int


class Retriever(Protocol):
    name: str

    def retrieve(self, data: RetrievalData, req: Request) -> Run: ...

    def describe(self) -> dict[str, Any]: ...


class DenseRetriever:
    """Embeds the corpus into a float32 memory map on disk, then exact cosine top-k in chunks.

    With a `cache`, every embedded chunk is stored as it finishes, so an interrupted run resumes
    where it stopped. With `ann`, the same vectors are also searched through a faiss IVF index and
    that run is kept for `take_ann()`, to measure what approximate search loses.
    """

    name = "dense"

    def __init__(
        self,
        encoder: Encoder,
        cache: EmbeddingCache | None = None,
        batch_tokens: int | None = None,
        progress: bool = False,
        work_dir: Path | None = None,
        ann: AnnSettings | None = None,
    ) -> None:
        self.encoder, self.cache, self.batch_tokens = encoder, cache, batch_tokens
        self.progress, self.work_dir, self.ann = progress, work_dir, ann
        # records cut to the model's max_length, by role (the runner reports each subset's share)
        self.truncated_by_role: dict[str, int] = {"query": 0, "document": 0}
        self._ann_run: tuple[Run, dict[str, Any]] | None = None

    def describe(self) -> dict[str, Any]:
        spec = self.encoder.spec
        return {
            "retriever": self.name,
            "model": spec.name,
            "fingerprint": self.encoder.fingerprint,
            "revision": spec.revision,
            "recipe": spec.recipe(),
            "max_length": spec.max_length,
            "dtype": str(getattr(self.encoder, "dtype", "float32")).removeprefix("torch."),
            "device": str(getattr(self.encoder, "device", "cpu")),
            "batch_tokens": self.batch_tokens or self.encoder.batch_tokens,
        }

    def encode(
        self, records: Sequence[Record], role: Role, title_mode: TitleMode, instruction: str | None
    ) -> np.ndarray:
        """Vectors in memory, (len(records), dim); records with no content get a zero vector."""
        out = np.zeros((len(records), self.encoder.dim), dtype=np.float32)
        self._encode_into(out, records, role, title_mode, instruction)
        return out

    def _encode_into(
        self,
        out: np.ndarray,
        records: Sequence[Record],
        role: Role,
        title_mode: TitleMode,
        instruction: str | None,
    ) -> None:
        items = [r.item(title_mode) for r in records]
        rows = [i for i, it in enumerate(items) if it is not None]
        kept: list[Item] = [it for it in items if it is not None]
        if len(rows) < len(items):
            log.warning("%d %s records are empty; they get zero vectors", len(items) - len(rows), role)
        res = self.encoder.embed(
            kept, role=role, instruction=instruction, batch_tokens=self.batch_tokens,
            cache=self.cache, progress=self.progress,
        )  # fmt: skip
        self.truncated_by_role[role] = self.truncated_by_role.get(role, 0) + len(res.truncated)
        out[rows] = res.vectors

    def retrieve(self, data: RetrievalData, req: Request) -> Run:
        with tempfile.TemporaryDirectory(dir=self.work_dir, prefix="omnivec-eval-") as tmp:
            docs = search.open_matrix(Path(tmp) / "corpus.npy", len(data.corpus), self.encoder.dim)
            for lo in range(0, len(data.corpus), EMBED_CHUNK):
                log.info("embedding documents %d-%d of %d", lo, min(lo + EMBED_CHUNK, len(docs)), len(docs))
                chunk = data.corpus[lo : lo + EMBED_CHUNK]
                self._encode_into(docs[lo : lo + len(chunk)], chunk, "document", req.title_mode, None)
            docs.flush()
            queries = self.encode(data.queries, "query", "text", req.instruction)
            scores, idx = search.top_k(queries, docs, req.k)
            if self.ann is not None:
                a_scores, a_idx, info = ivf_top_k(queries, docs, req.k, self.ann)
                self._ann_run = (_to_run(data, a_scores, a_idx), info)
            del docs  # release the memory map before its folder is removed
        return _to_run(data, scores, idx)

    def take_ann(self) -> tuple[Run, dict[str, Any]] | None:
        """The approximate run of the last `retrieve` (with `ann` set) and the index used; once."""
        out, self._ann_run = self._ann_run, None
        return out


def _to_run(data: RetrievalData, scores: np.ndarray, idx: np.ndarray) -> Run:
    ids = [d.id for d in data.corpus]
    return {
        q.id: {ids[j]: float(s) for s, j in zip(srow, irow) if j >= 0}
        for q, srow, irow in zip(data.queries, scores, idx)
    }


class BM25Retriever:
    """BM25 (bm25s, Lucene variant) over the keyword analyser's terms (`omnivec.search.tokens`):
    the same terms, stop words and k1/b the keyword index uses.

    Documents sharing no term with the query score 0 and are left out of the run.
    """

    name = "bm25"

    def __init__(self, analyzer: Analyzer | None = None, progress: bool = False) -> None:
        from omnivec.search.tokens import DEFAULT_ANALYZER

        self.analyzer, self.progress = analyzer or DEFAULT_ANALYZER, progress

    @property
    def k1(self) -> float:
        return self.analyzer.k1

    @property
    def b(self) -> float:
        return self.analyzer.b

    def describe(self) -> dict[str, Any]:
        bm25s = require("bm25s", "eval", "the BM25 retriever")
        a = self.analyzer
        return {
            "retriever": self.name, "model": "bm25", "fingerprint": f"bm25s-{bm25s.__version__}-{a.id}",
            "recipe": {**a.describe(), "method": "lucene", "engine": f"bm25s {bm25s.__version__}",
                       "tokens": "omnivec.search.tokens.Analyzer"},
        }  # fmt: skip

    def retrieve(self, data: RetrievalData, req: Request) -> Run:
        bm25s = require("bm25s", "eval", "the BM25 retriever")
        tokens = self.analyzer.tokens
        index = bm25s.BM25(k1=self.k1, b=self.b)
        # bars only with -v (INFO); bm25s pins its own logger at DEBUG, so let it follow ours here
        show = self.progress and log.isEnabledFor(logging.INFO)
        with _quiet_bm25s():
            index.index([tokens(d.content(req.title_mode)) for d in data.corpus], show_progress=show)
            k = min(req.k, len(data.corpus))
            docs, scores = index.retrieve([tokens(q.text) for q in data.queries], k=k, show_progress=show)
        ids = [d.id for d in data.corpus]
        return {
            q.id: {ids[j]: float(s) for j, s in zip(drow, srow) if s > 0}
            for q, drow, srow in zip(data.queries, docs, scores)
        }


@contextmanager
def _quiet_bm25s() -> Iterator[None]:
    """bm25s sets its logger to DEBUG at import, so its debug lines reach any configured handler;
    for the call, its logger inherits the application's level instead (nothing global changes)."""
    logger = logging.getLogger("bm25s")
    level = logger.level
    logger.setLevel(logging.NOTSET)
    try:
        yield
    finally:
        logger.setLevel(level)


class HybridRetriever:
    """A dense and a BM25 run, each `k` deep, fused per query by `omnivec.search.fusion` exactly as
    `Searcher` fuses a collection's dense and keyword lists (default: z-score fusion)."""

    name = "hybrid"

    def __init__(
        self,
        dense: DenseRetriever,
        sparse: BM25Retriever,
        weights: tuple[float, float] = (1.0, 1.0),
        fusion: Fusion | None = None,
    ) -> None:
        from omnivec.search.fusion import DEFAULT_FUSION

        self.dense, self.sparse, self.weights = dense, sparse, weights
        self.fusion = fusion or DEFAULT_FUSION

    def describe(self) -> dict[str, Any]:
        d, s = self.dense.describe(), self.sparse.describe()
        f = self.fusion.describe()
        tag = f["fusion"] + (str(f.get("depth", f.get("rrf_k"))))
        return {
            **d, "retriever": self.name, "model": f"hybrid:{d['model']}",
            "fingerprint": f"{tag}-w{self.weights[0]:g},{self.weights[1]:g}({d['fingerprint']}+{s['fingerprint']})",
            "recipe": {**f, "weights": {"dense": self.weights[0], "keyword": self.weights[1]},
                       "dense": d["recipe"], "bm25": s["recipe"]},
        }  # fmt: skip

    def retrieve(self, data: RetrievalData, req: Request) -> Run:
        dense, sparse = self.dense.retrieve(data, req), self.sparse.retrieve(data, req)
        return self.fuse(data.queries, dense, sparse, req.k)

    def fuse(self, queries: Sequence[Record], dense: Run, sparse: Run, k: int) -> Run:
        """Fused runs over the same documents, best `k` per query. Both runs were asked for `k`
        documents: a BM25 run with fewer holds every document that shares a term (the rest score 0)."""
        out: Run = {}
        for q in queries:
            d, s = _ranked(dense.get(q.id, {})), _ranked(sparse.get(q.id, {}))
            floors = [None, 0.0 if len(s) < k else None]
            fused = self.fusion.fuse([d, s], self.weights, floors)
            out[q.id] = {f.id: f.score for f in fused[:k]}
        return out


def _ranked(run: dict[str, float]) -> list[tuple[str, float]]:
    return sorted(run.items(), key=lambda kv: (-kv[1], kv[0]))


def build_retriever(
    kind: str,
    encoder: Encoder | None = None,
    cache: EmbeddingCache | None = None,
    batch_tokens: int | None = None,
    progress: bool = False,
    work_dir: Path | None = None,
    ann: AnnSettings | None = None,
    keyword: KeywordSettings | None = None,
) -> DenseRetriever | BM25Retriever | HybridRetriever:
    """`dense` and `hybrid` need an encoder; `bm25` ignores it. `ann` applies to `dense` only;
    `keyword` (analyser, fusion, weights) to `bm25` and `hybrid`."""
    kw = keyword or KeywordSettings()
    if kind == "bm25":
        return BM25Retriever(kw.analyzer, progress=progress)
    if kind not in ("dense", "hybrid"):
        raise InputError(f"retriever {kind!r}", "dense, bm25 or hybrid", "pick one of those")
    if encoder is None:
        raise InputError(f"retriever {kind!r} without a model", "an encoder", "pass --model NAME")
    dense = DenseRetriever(encoder, cache, batch_tokens, progress, work_dir, ann if kind == "dense" else None)
    if kind == "dense":
        return dense
    return HybridRetriever(dense, BM25Retriever(kw.analyzer, progress), kw.weights, kw.fusion)


@dataclass(frozen=True)
class KeywordSettings:
    """The keyword side and its fusion: the analyser (terms, stop words, k1/b), how the dense and
    keyword runs are fused, and their weights (dense, keyword). Defaults are the search defaults."""

    analyzer: Analyzer | None = None
    fusion: Fusion | None = None
    weights: tuple[float, float] = (1.0, 1.0)
