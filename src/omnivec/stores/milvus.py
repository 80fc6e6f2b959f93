"""`MilvusStore`: the `VectorStore` for Milvus Lite (`milvus-lite:///x.db`) and servers (`milvus://`).

Milvus holds everything a search needs (vectors, path, kind, language, text, fields, keyword
tokens) and the ledger (sources, collections, index settings), so any number of search servers
answer from Milvus alone while one indexer writes (docs/scaling.md says why).

Milvus has no multi-row transactions, so a file is replaced in steps that a crash can cut:
(1) its ledger row becomes `pending`, (2) its new records are upserted, (3) its other records
deleted, (4) its ledger row gets the new state. A search in between may see the old and the new
version of that one file side by side, never a file missing. A writer opening the store repairs
what a crash left (`MilvusHandle.repair`, with the connection, lease and ledger in
`omnivec.stores.milvus_handle`). Every read and write runs at Strong consistency: a search after
an acknowledged write sees it.

>>> store = MilvusStore("milvus-lite:///tmp/x.db", writer=True)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from omnivec.errors import InputError
from omnivec.stores import milvus_keyword as kw
from omnivec.stores.base import Filter, Record, SourceState, check_one_source
from omnivec.stores.milvus_expr import filter_expr, glob_regex, ids_expr, quote
from omnivec.stores.milvus_handle import STRONG, MilvusHandle
from omnivec.stores.milvus_ledger import PENDING, duplicate_error, state_value
from omnivec.stores.milvus_schema import MAX_VARCHAR

_TOP_FIELDS = ("path", "kind", "language")
log = logging.getLogger(__name__)


class MilvusStore(MilvusHandle):
    """See the module docstring; the connection, ledger and collections are `MilvusHandle`'s."""

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sources ------------------------------------------------------------------------------

    def replace_source(self, collection: str, state: SourceState, records: Sequence[Record]) -> None:
        self._write_source(state, {collection: records}, drop_others=False)

    def replace_source_all(self, state: SourceState, by_collection: Mapping[str, Sequence[Record]]) -> None:
        self._write_source(state, by_collection, drop_others=True)

    def _write_source(
        self, state: SourceState, by_coll: Mapping[str, Sequence[Record]], drop_others: bool
    ) -> None:
        check_one_source(state, by_coll)
        with self._write():
            raws = {name: self._raw(name) for name in by_coll}
            rows = {n: [self._row(r, raws[n]) for r in recs] for n, recs in by_coll.items()}
            all_raw = self._infos_raw()
            self._check_ids(state.source, by_coll, all_raw, drop_others)
            self._put_meta([(f"src:{state.source}", "source", state_value(state, 0, PENDING))])
            touched = set(by_coll) | (set(all_raw) if drop_others else set())
            chunks = 0
            meta: list[tuple[str, str, Any]] = []
            for name in sorted(touched):
                chunks += len(by_coll.get(name, ()))
                meta += self._replace_in(name, state.source, rows.get(name, []), all_raw[name])
            if not drop_others:
                chunks += sum(self._count(self._mname(n), f"source == {quote(state.source)}")
                              for n in all_raw if n not in by_coll)  # fmt: skip
            self._put_meta([*meta, (f"src:{state.source}", "source", state_value(state, chunks))])

    def _replace_in(
        self, name: str, source: str, rows: list[dict[str, Any]], raw: dict[str, Any]
    ) -> list[tuple[str, str, Any]]:
        """Upsert `rows`, delete the source's other records; returns the collection's new ledger row."""
        mname = self._mname(name)
        old = self._query(mname, f"source == {quote(source)}", ["id", "kw_len"])
        if rows:
            self._client.upsert(mname, rows)
        new_ids = [r["id"] for r in rows]
        if old:
            keep = f" and not ({ids_expr(new_ids)})" if new_ids else ""
            self._client.delete(mname, filter=f"source == {quote(source)}{keep}")
        delta = sum(r["kw_len"] for r in rows) - sum(int(r["kw_len"]) for r in old)
        if not (old or rows):
            return []
        raw = {**raw, "updated": time.time(), "kw_tokens": raw.get("kw_tokens", 0) + delta}
        return [(f"coll:{name}", "collection", raw)]

    def _check_ids(self, source: str, by_coll: Mapping[str, Sequence[Record]],
                   all_raw: Mapping[str, Any], drop_others: bool) -> None:  # fmt: skip
        target = {r.id: name for name, recs in by_coll.items() for r in recs}
        dupes = [r.id for recs in by_coll.values() for r in recs]
        if len(dupes) != len(target):
            seen: set[str] = set()
            rid = next(i for i in dupes if i in seen or seen.add(i))  # type: ignore[func-returns-value]
            raise duplicate_error(rid, source, "another record of this batch")
        for name in all_raw if target else ():
            for hit in self._query(self._mname(name), ids_expr(list(target)), ["id", "source"]):
                other_coll = target[hit["id"]] != name and not drop_others
                if hit["source"] != source or other_coll:
                    raise duplicate_error(
                        hit["id"], source, f"source {hit['source']!r} in collection {name!r}"
                    )

    def _row(self, rec: Record, raw: Mapping[str, Any]) -> dict[str, Any]:
        vec = np.asarray(rec.vector, dtype=np.float32).reshape(-1)
        if vec.shape != (raw["dim"],) or not np.all(np.isfinite(vec)):
            raise InputError(received=f"record {rec.id!r}: a vector of shape {np.shape(rec.vector)}",
                             expected=f"a finite float32 vector of shape ({raw['dim']},), the collection's dim",
                             fix="encode with the collection's model")  # fmt: skip
        fields = json.dumps(dict(rec.fields), default=str)
        if max(len(rec.text.encode()), len(fields.encode())) > MAX_VARCHAR:
            raise InputError(received=f"record {rec.id!r} with {len(rec.text.encode())} bytes of text",
                             expected=f"at most {MAX_VARCHAR} bytes of text and of fields per record (Milvus VARCHAR)",
                             fix="chunk the source more finely")  # fmt: skip
        top = {f: str(rec.fields.get(f) or "") for f in _TOP_FIELDS}
        top["path"] = top["path"] or rec.source
        return {"id": rec.id, "source": rec.source, **top, "text": rec.text, "fields": fields,
                **kw.kw_fields(rec.text, raw.get("keyword", kw.SCAN)), "vector": vec.tolist()}  # fmt: skip

    def touch_source(self, state: SourceState) -> None:
        with self._write():
            chunks = sum(self._count(m, f"source == {quote(state.source)}") for m in self._mnames().values())
            self._put_meta([(f"src:{state.source}", "source", state_value(state, chunks))])

    def remove_source(self, source: str) -> None:
        with self._write():
            old = self.sources().get(source)
            if old is not None:  # pending first: a crash before the ledger row goes is repaired
                self._put_meta([(f"src:{source}", "source", state_value(old, old.chunks, PENDING))])
            meta = [
                m for name, raw in self._infos_raw().items() for m in self._replace_in(name, source, [], raw)
            ]
            if meta:
                self._put_meta(meta)
            self._client.delete(self._meta, filter=f"key == {quote('src:' + source)}")

    # -- search -------------------------------------------------------------------------------

    def _where(self, mname: str, flt: Filter | None, escapes: bool = True) -> str | None:
        """The filter as an expression; None when nothing can match. A widened glob becomes ids,
        and so does an escaped `like` when `escapes` is False: Milvus Lite 3.2 matches nothing
        under `like "a\\_b"` in a full-text search or next to `array_contains*` (the scan's
        candidate test), though a plain query and dense search honour it."""
        expr, exact = filter_expr(flt, prefix_only=self._prefix_like)
        exact = exact and (escapes or "\\" not in expr)
        if exact or flt is None or flt.path_glob is None:
            return expr
        rx = glob_regex(flt.path_glob)
        ids = [r["id"] for r in self._iterate(mname, expr, ["id", "path"]) if rx.fullmatch(r["path"])]
        return ids_expr(ids) if ids else None

    def dense_search(
        self, collection: str, vector: np.ndarray, k: int, flt: Filter | None = None
    ) -> list[tuple[str, float]]:
        """Top-k (id, inner product); a filter never under-fills."""
        raw = self._raw(collection)
        q = np.asarray(vector, dtype=np.float32).reshape(-1)
        if q.shape != (raw["dim"],) or not np.all(np.isfinite(q)):
            raise InputError(received=f"a query vector of shape {np.shape(vector)}",
                             expected=f"a finite vector of shape ({raw['dim']},), the collection's dim",
                             fix="encode the query with the collection's model (check_query tells which)")  # fmt: skip
        mname = self._mname(collection)
        expr = self._where(mname, flt)
        if k <= 0 or expr is None:
            return []
        params: dict[str, Any] = {"metric_type": "IP", "params": {"ef": max(k, 64), "nprobe": 64}}
        res = self._client.search(mname, data=[q.tolist()], anns_field="vector", limit=min(k, 16_384),
                                  filter=expr, output_fields=["id"], search_params=params, **STRONG)  # fmt: skip
        return [(str(h["id"]), float(h["distance"])) for h in res[0]]

    def keyword_search(
        self, collection: str, query: str, k: int, flt: Filter | None = None
    ) -> list[tuple[str, float]]:
        """Top-k (id, BM25) over code-aware tokens, query terms OR-ed (Milvus BM25 or omnivec's scan)."""
        raw = self._raw(collection)
        self._warn_other_analyser(collection, raw)
        terms = kw.query_terms(query)
        mname = self._mname(collection)
        escapes = raw.get("keyword") != kw.BM25 and self.target.scheme != "milvus-lite"
        expr = self._where(mname, flt, escapes=escapes) if terms and k > 0 else None
        if expr is None:
            return []
        if raw.get("keyword") == kw.BM25:
            return kw.bm25_search(self._client, mname, terms, min(k, 16_384), expr)
        count = self._count(mname, "")
        avgdl = raw.get("kw_tokens", 0) / max(count, 1)
        return kw.scan_search(self._client, mname, terms, k, expr, avgdl, self._query)

    def _warn_other_analyser(self, collection: str, raw: Mapping[str, Any]) -> None:
        """Once per collection: its stored tokens come from another analyser. Unlike the local
        store's, Milvus rows are not re-analysed in place; versions 2 and 3 differ only on text
        outside ASCII (3 keeps words of any script whole and pairs CJK characters)."""
        made_by = raw.get("analyser", "unrecorded (older omnivec)")
        if made_by == kw.ANALYSER_ID or collection in self._analyser_warned:
            return
        self._analyser_warned.add(collection)
        log.warning("collection %s of %s holds keyword tokens from analyser %s, and queries are analysed "
                    "with %s: words outside ASCII may not match. Re-index into a new Milvus store to "
                    "re-analyse (cached embeddings make it quick)", collection, self.target.display,
                    made_by, kw.ANALYSER_ID)  # fmt: skip

    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> dict[str, Record]:
        out: dict[str, Record] = {}
        if not ids:
            return out
        fields = ["id", "source", "text", "fields", *(["vector"] if with_vectors else [])]
        empty = np.empty(0, dtype=np.float32)
        for name, mname in self._mnames().items():
            for r in self._query(mname, ids_expr(list(ids)), fields):
                vec = np.asarray(r["vector"], dtype=np.float32) if with_vectors else empty
                out[r["id"]] = Record(r["id"], r["source"], vec, r["text"], json.loads(r["fields"]), name)
        return out


def open_milvus(uri: str, *, writer: bool, token: str | None = None, **options: Any) -> MilvusStore:
    """The `milvus://` and `milvus-lite://` opener for `omnivec.stores.uri.open_store`."""
    from omnivec.config import milvus_token

    return MilvusStore(uri, writer=writer, token=token if token is not None else milvus_token(), **options)
