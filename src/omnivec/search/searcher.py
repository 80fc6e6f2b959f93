"""`Searcher`: encode a query per collection, dense + keyword retrieval, fusion, hits.

Within a collection, the dense (cosine) and keyword (BM25) lists are fused by their scores'
distributions (`fusion.DEFAULT_FUSION`, z-scores); collections of different embedding spaces are
then fused by rank, since their scores are not comparable. Each hit keeps the cosine and the BM25
score that went into the fusion. No I/O framework types here: the CLI and the server both call
`Searcher.search`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from omnivec.search.fusion import DEFAULT_FUSION, Z_DEPTH, Fused, Fusion, reciprocal_rank_fusion
from omnivec.search.query import Query
from omnivec.search.regions import matched_regions
from omnivec.stores.base import check_query_any
from omnivec.types import Hit, Item

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.stores.base import VectorStore

log = logging.getLogger(__name__)


#: an encoder, or a function that loads it on first use (a keyword search loads no model)
EncoderSource = Union["Encoder", Callable[[], "Encoder"]]


class Searcher:
    """Searches every collection of a store whose encoder can read the query.

    Encoders are taken on first use and checked against the collection's stored recipe then;
    one `Searcher` may serve many threads.
    """

    def __init__(
        self, store: VectorStore, encoders: Mapping[str, EncoderSource], fusion: Fusion = DEFAULT_FUSION
    ) -> None:
        self.store = store
        self.fusion = fusion
        self._sources = dict(encoders)
        self._ready: dict[str, Encoder] = {}
        self._lock = threading.Lock()

    @property
    def collections(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def encoder(self, collection: str) -> Encoder:
        """The collection's encoder, loaded and checked against the stored recipe once."""
        with self._lock:
            if collection not in self._ready:
                from omnivec.encoders.base import Encoder

                source = self._sources[collection]
                enc = source if isinstance(source, Encoder) else source()
                check_query_any(self.store, collection, enc.identities())
                self._ready[collection] = enc
            return self._ready[collection]

    def search(self, query: Query | str, **kw: Any) -> list[Hit]:
        """Best-first complete hits: fields, snippet, scores, and for page images the matched regions."""
        q = Query(text=query, **kw) if isinstance(query, str) else query
        depth = max(q.k * 5, Z_DEPTH)  # the z statistics need the same depth the evaluator uses
        vectors: dict[int, Any] = {}  # text queries: one encoding per text model, not per collection
        per_collection = [self._collection(name, q, depth, vectors) for name in self._sources]
        lists = [fl for fl in per_collection if fl]
        if len(lists) <= 1:  # one space: its fused scores are the ranking
            fused = [(f.id, f.score) for f in (lists[0] if lists else [])]
        else:  # spaces are not comparable by score: fuse them by rank
            fused = reciprocal_rank_fusion([[f.id for f in fl] for fl in lists], k=self.fusion.rrf_k)
        parts = {f.id: f.parts for fl in lists for f in fl}
        return self._hits(fused, parts, q)

    def _collection(self, name: str, q: Query, depth: int, vectors: dict[int, Any]) -> list[Fused[str]]:
        """One collection's dense and keyword lists, fused; parts are (cosine, BM25)."""
        flt = q.filter()
        dense: list[tuple[str, float]] = []
        keyword: list[tuple[str, float]] = []
        if q.mode != "keyword":
            enc = self.encoder(name)
            # text-only spaces cannot place an image query; OCR spaces could, at seconds a query
            if q.image is None or "image" in enc.spec.modalities:
                dense = list(self.store.dense_search(name, self._query_vector(enc, q, vectors), depth, flt))
        if q.mode != "dense" and q.text and q.image is None:
            keyword = list(self.store.keyword_search(name, q.text, depth, flt))
        weights = [q.weight("dense"), q.weight("keyword")]
        # a keyword list that ended early holds every chunk sharing a term; the rest score 0
        floors = [None, 0.0 if len(keyword) < depth else None]
        return self.fusion.fuse([dense, keyword], weights, floors)

    def _query_vector(self, enc: Encoder, q: Query, memo: dict[int, Any]) -> Any:
        if q.image is not None:
            return enc.encode([Item(text=q.text, image=q.image)], role="query")[0]
        space = enc.text_space
        if id(space) not in memo:
            memo[id(space)] = space.encode([Item(text=q.text)], role="query")[0]
        return memo[id(space)]

    def _hits(
        self, fused: Sequence[tuple[str, float]], parts: Mapping[str, tuple[float | None, ...]], q: Query
    ) -> list[Hit]:
        """Best-first hits; pieces of one split symbol (or, grouped, of one file) count once."""
        hits: list[Hit] = []
        seen: set[tuple[Any, ...]] = set()
        window = list(fused[: q.k * 10])  # grouping looks this deep, never further
        # Records are fetched in growing batches (one query each): most searches fill k hits from
        # the first 2k fused ids, and each record read costs a page of its text.
        start, size = 0, 2 * q.k
        while start < len(window) and len(hits) < q.k:
            batch = window[start : start + size]
            records = self.store.get([i for i, _ in batch])
            for rid, score in batch:
                rec = records.get(rid)
                if rec is None:
                    continue
                key = _group_key(rid, rec.fields, q.group_by_file)
                if key in seen:
                    continue
                seen.add(key)
                cosine, bm25 = parts.get(rid, (None, None))
                hits.append(_hit(rid, score, rec.fields, q.text, dense_score=cosine, keyword_score=bm25))
                if len(hits) == q.k:
                    break
            start, size = start + len(batch), 4 * size
        return hits


def _group_key(rid: str, f: Mapping[str, Any], by_file: bool) -> tuple[Any, ...]:
    if by_file:
        return ("file", f.get("path"))
    if f.get("symbol") and f.get("kind") == "code":
        return ("symbol", f.get("path"), f.get("symbol"))
    return ("id", rid)


_HIT_FIELDS = {"path", "start_line", "end_line", "symbol", "language", "kind", "display"}
_INTERNAL_FIELDS = {"words"}  # OCR word boxes: turned into `regions`, too long to hand out


def _hit(
    rid: str,
    score: float,
    f: Mapping[str, Any],
    text: str | None,
    *,
    dense_score: float | None = None,
    keyword_score: float | None = None,
) -> Hit:
    return Hit(
        id=rid, score=score, dense_score=dense_score, keyword_score=keyword_score,
        path=f.get("path"), start_line=f.get("start_line"), end_line=f.get("end_line"),
        symbol=f.get("symbol"), language=f.get("language"), kind=f.get("kind"), snippet=f.get("display"),
        regions=matched_regions(f.get("words"), text),
        metadata={k: v for k, v in f.items() if k not in _HIT_FIELDS | _INTERNAL_FIELDS},
    )  # fmt: skip
