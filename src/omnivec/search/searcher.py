"""`Searcher`: encode a query per collection, dense + keyword retrieval, fusion, hits.

Within a space, the dense (cosine) and keyword (BM25) lists are fused by their scores'
distributions (`fusion.DEFAULT_FUSION`, z-scores); a space is every collection searched with the
same query vector (their cosines are comparable, so their lists are merged by score first).
Different spaces are then fused by rank, since their scores are not comparable. Each hit keeps the cosine and the BM25
score that went into the fusion, and the results name the keyword engine that answered (the
store's `keyword_engine`; None when no keyword side ran). A store with `RowSearch` (the local store) is searched by rows:
both lists in one snapshot, fused as arrays, ids and fields read only for the hits shown
(`by_row`); the hits are those of the search by ids, which other stores get. No I/O framework
types here: the CLI and the server both call `Searcher.search`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Union

from omnivec.search import by_row
from omnivec.search.fusion import DEFAULT_FUSION, Z_DEPTH, Fused, FusedRows, Fusion, reciprocal_rank_fusion
from omnivec.search.hits import add_hit
from omnivec.search.query import Query
from omnivec.stores.base import RowSearch, check_query_any
from omnivec.types import Hit, Item, SearchResults

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
        self,
        store: VectorStore,
        encoders: Mapping[str, EncoderSource],
        fusion: Fusion = DEFAULT_FUSION,
        by_rows: bool = True,
    ) -> None:
        """`by_rows=False` searches a `RowSearch` store by ids, as other stores are (the by-rows
        path's reference in tests and benchmarks/hybrid_path.py)."""
        self.store = store
        self.fusion = fusion
        self.by_rows = by_rows
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

    def search(self, query: Query | str, **kw: Any) -> SearchResults:
        """Best-first complete hits: fields, snippet, scores, and for page images the matched
        regions; `keyword_engine` on the results and on each hit."""
        q = Query(text=query, **kw) if isinstance(query, str) else query
        engine = self.keyword_engine(q)
        hits = self._search(q)
        if engine is not None:
            hits = [replace(h, keyword_engine=engine) for h in hits]
        return SearchResults(hits, keyword_engine=engine)

    def keyword_engine(self, q: Query) -> str | None:
        """The engine(s) that answer this query's keyword side: the store's names, "+"-joined
        when collections differ; None when the query has no keyword side."""
        if _keyword_text(q) is None or not self._sources:
            return None
        return "+".join(sorted({self.store.keyword_engine(name) for name in self._sources}))

    def _search(self, q: Query) -> list[Hit]:
        depth = max(q.k * 5, Z_DEPTH)  # the z statistics need the same depth the evaluator uses
        spaces = self._spaces(q)
        if self.by_rows and isinstance(self.store, RowSearch):
            # fuse rows, read only the shown hits (`by_row`)
            return self._search_rows(self.store, q, depth, spaces)
        lists = [fl for fl in (self._space(members, q, depth) for members in spaces) if fl]
        if len(lists) <= 1:  # one space: its fused scores are the ranking
            fused = [(f.id, f.score) for f in (lists[0] if lists else [])]
        else:  # spaces are not comparable by score: fuse them by rank
            fused = reciprocal_rank_fusion([[f.id for f in fl] for fl in lists], k=self.fusion.rrf_k)
        parts = {f.id: f.parts for fl in lists for f in fl}
        return self._hits(fused, parts, q)

    def _spaces(self, q: Query) -> list[list[Side]]:
        """Each collection's sides, grouped by the space their scores live in.

        Collections whose query vector is the same (one text model: with the bundled defaults,
        code, docs, ConSE images and OCR'd screenshots all embed a text query with MiniLM) have
        comparable cosines, and so are one space: their lists are merged by score and fused
        once, so a weak match in a small collection never outranks a strong one elsewhere, as
        interleaving by rank would have it. A keyword-only search keeps each collection apart:
        BM25 depends on its collection's statistics (a small collection's every word is common, so
        its scores are low), and merged by raw score a scanned page holding every query word sank
        below code matching one. An image query is embedded per collection: each is its own space.
        """
        vectors: dict[str, Any] = {}  # text queries: one encoding per text model, not per collection
        groups: dict[str, list[Side]] = {}
        for name in self._sources:
            side = self._sides(name, q, vectors)
            if side.vector is not None or side.text is not None:
                groups.setdefault(side.space, []).append(side)
        return list(groups.values())

    def _sides(self, name: str, q: Query, vectors: dict[str, Any]) -> Side:
        """One collection's query vector for the dense side and text for the keyword side (None:
        that side is not searched), and the space the vector lives in."""
        text = _keyword_text(q)
        if q.mode == "keyword":
            return Side(name, None, text, f"collection:{name}")
        enc = self.encoder(name)
        if q.image is not None:
            # text-only spaces cannot place an image query; OCR spaces could, at seconds a query
            vector = None
            if "image" in enc.spec.modalities:
                vector = enc.encode([Item(text=q.text, image=q.image)], role="query")[0]
            return Side(name, vector, text, f"collection:{name}")
        space = enc.text_space
        key = space.fingerprint  # equal fingerprints give equal vectors
        if key not in vectors:
            vectors[key] = space.encode([Item(text=q.text)], role="query")[0]
        return Side(name, vectors[key], text, f"text:{key}")

    def _weights_floors(self, q: Query, keyword_ended: bool) -> tuple[list[float], list[float | None]]:
        # keyword lists that ended early hold every chunk sharing a term; the rest score 0
        return [q.weight("dense"), q.weight("keyword")], [None, 0.0 if keyword_ended else None]

    def _space(self, members: Sequence[Side], q: Query, depth: int) -> list[Fused[str]]:
        """One space's dense and keyword lists (its collections' merged by score), fused; parts
        are (cosine, BM25)."""
        flt = q.filter()
        dense: list[tuple[str, float]] = []
        keyword: list[tuple[str, float]] = []
        ended = True
        for m in members:
            if m.vector is not None:
                dense += self.store.dense_search(m.collection, m.vector, depth, flt)
            if m.text is not None:
                found = list(self.store.keyword_search(m.collection, m.text, depth, flt))
                ended = ended and len(found) < depth
                keyword += found
        if len(members) > 1:  # stable: equal scores keep their collection's own order
            dense.sort(key=lambda h: -h[1])
            keyword.sort(key=lambda h: -h[1])
        return self.fusion.fuse([dense, keyword], *self._weights_floors(q, ended))

    def _search_rows(self, store: RowSearch, q: Query, depth: int, spaces: list[list[Side]]) -> list[Hit]:
        """`search` by rows: the same hits, scores and order, with no Python object per fused
        document and one small record read for the hits shown."""
        lists = [fr for fr in (self._space_rows(store, m, q, depth) for m in spaces) if len(fr.rows)]
        if not lists:
            return []
        if len(lists) == 1:
            fr = lists[0]
            return by_row.hits(store, fr.rows, fr.scores, fr.ties_open, fr.parts_of, q)
        rows, scores, parts_of = by_row.across_spaces(store, lists, self.fusion.rrf_k)
        return by_row.hits(store, rows, scores, False, parts_of, q)

    def _space_rows(self, store: RowSearch, members: Sequence[Side], q: Query, depth: int) -> FusedRows:
        flt = q.filter()
        dense, keyword, ended = [], [], True
        for m in members:
            found = store.search_rows(m.collection, m.vector, m.text, depth, flt)
            dense.append(found.dense)
            keyword.append(found.keyword)
            ended = ended and (m.text is None or len(found.keyword[0]) < depth)
        runs = [by_row.merge_by_score(dense), by_row.merge_by_score(keyword)]
        return self.fusion.fuse_rows(runs, *self._weights_floors(q, ended))

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
                if rec is not None and add_hit(hits, seen, q, rid, score, rec.fields, parts.get(rid)):
                    break
            start, size = start + len(batch), 4 * size
        return hits


@dataclass(frozen=True)
class Side:
    """What one collection searches for a query: `vector` for its dense side and `text` for its
    keyword side (None: that side is not searched), and `space`, naming the collections whose
    scores are comparable with its own (see `Searcher._spaces`)."""

    collection: str
    vector: Any
    text: str | None
    space: str


def _keyword_text(q: Query) -> str | None:
    """The text the keyword side searches for; None: no keyword side (dense mode, image queries)."""
    return q.text if q.mode != "dense" and q.text and q.image is None else None
