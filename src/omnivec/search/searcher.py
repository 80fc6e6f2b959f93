"""`Searcher`: encode a query per collection, dense + keyword retrieval, rank fusion, hits.

Scores of different encoders (and of BM25) are never compared raw: every list is fused by rank.
No I/O framework types here: the CLI and the server both call `Searcher.search`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from omnivec.search.fusion import reciprocal_rank_fusion
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

    def __init__(self, store: VectorStore, encoders: Mapping[str, EncoderSource]) -> None:
        self.store = store
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
        """Best-first complete hits: fields, snippet, and for page images the matched regions."""
        q = Query(text=query, **kw) if isinstance(query, str) else query
        flt = q.filter()
        depth = max(q.k * 5, 50)
        runs: list[list[str]] = []
        weights: list[float] = []
        vectors: dict[int, Any] = {}  # text queries: one encoding per text model, not per collection
        for name in self._sources:
            if q.mode != "keyword":
                enc = self.encoder(name)
                if q.image is not None and "image" not in enc.spec.modalities:
                    # text-only spaces cannot place an image query; OCR spaces could, at seconds a query
                    continue
                vec = self._query_vector(enc, q, vectors)
                runs.append([i for i, _ in self.store.dense_search(name, vec, depth, flt)])
                weights.append(q.weight("dense"))
            if q.mode != "dense" and q.text and q.image is None:
                runs.append([i for i, _ in self.store.keyword_search(name, q.text, depth, flt)])
                weights.append(q.weight("keyword"))
        fused = reciprocal_rank_fusion([r for r in runs if r], [w for r, w in zip(runs, weights) if r])
        return self._hits(fused, q)

    def _query_vector(self, enc: Encoder, q: Query, memo: dict[int, Any]) -> Any:
        if q.image is not None:
            return enc.encode([Item(text=q.text, image=q.image)], role="query")[0]
        space = enc.text_space
        if id(space) not in memo:
            memo[id(space)] = space.encode([Item(text=q.text)], role="query")[0]
        return memo[id(space)]

    def _hits(self, fused: Sequence[tuple[str, float]], q: Query) -> list[Hit]:
        """Best-first hits; pieces of one split symbol (or, grouped, of one file) count once."""
        records = self.store.get([i for i, _ in fused[: q.k * 10]])
        hits: list[Hit] = []
        seen: set[tuple[Any, ...]] = set()
        for rid, score in fused:
            rec = records.get(rid)
            if rec is None:
                continue
            f = rec.fields
            key = _group_key(rid, f, q.group_by_file)
            if key in seen:
                continue
            seen.add(key)
            hits.append(_hit(rid, score, f, q.text))
            if len(hits) == q.k:
                break
        return hits


def _group_key(rid: str, f: Mapping[str, Any], by_file: bool) -> tuple[Any, ...]:
    if by_file:
        return ("file", f.get("path"))
    if f.get("symbol") and f.get("kind") == "code":
        return ("symbol", f.get("path"), f.get("symbol"))
    return ("id", rid)


_HIT_FIELDS = {"path", "start_line", "end_line", "symbol", "language", "kind", "display"}
_INTERNAL_FIELDS = {"words"}  # OCR word boxes: turned into `regions`, too long to hand out


def _hit(rid: str, score: float, f: Mapping[str, Any], text: str | None) -> Hit:
    return Hit(
        id=rid, score=score, path=f.get("path"), start_line=f.get("start_line"), end_line=f.get("end_line"),
        symbol=f.get("symbol"), language=f.get("language"), kind=f.get("kind"), snippet=f.get("display"),
        regions=matched_regions(f.get("words"), text),
        metadata={k: v for k, v in f.items() if k not in _HIT_FIELDS | _INTERNAL_FIELDS},
    )  # fmt: skip
