"""`MilvusStore`: the `VectorStore` for Milvus Lite (`milvus-lite:///x.db`) and servers (`milvus://`).

Milvus holds everything a search needs (vectors, path, kind, language, text, fields, keyword
tokens) and the ledger (sources, collections, index settings), so any number of search servers
answer from Milvus alone while one indexer writes (docs/scaling.md says why).

Milvus has no multi-row transactions, so a file is replaced in steps that a crash can cut:
(1) its ledger row becomes `pending`, (2) its new records are upserted, (3) its other records
deleted, (4) its ledger row gets the new state. A search in between may see the old and the new
version of that one file side by side, never a file missing. A writer opening the store repairs
what a crash left: the records of every `pending` source are deleted, and its ledger row stays
pending (not `indexed`), so the next indexing run re-indexes it. Every read and write runs at
Strong consistency: a search after an acknowledged write sees it.

>>> store = MilvusStore("milvus-lite:///tmp/x.db", writer=True)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from omnivec.errors import InputError, StoreError
from omnivec.stores import milvus_keyword as kw
from omnivec.stores.base import (
    CollectionInfo,
    Filter,
    Record,
    SourceState,
    canonical_recipe,
    check_one_source,
    check_recipe,
)
from omnivec.stores.milvus_expr import filter_expr, glob_regex, ids_expr, quote
from omnivec.stores.milvus_ledger import (
    LEASE_STALE_S,
    PENDING,
    check_lease,
    duplicate_error,
    my_lease,
    state_value,
)  # fmt: skip
from omnivec.stores.milvus_schema import (
    MAX_VARCHAR,
    META_DIM,
    connect,
    create_collection,
    has_full_text,
    load_all,
    meta_schema,
    parse_uri,
    records_schema,
    server_version,
)  # fmt: skip

log = logging.getLogger(__name__)

STRONG = {"consistency_level": "Strong"}
QUERY_WINDOW = 16_384  # Milvus's largest offset + limit
_TOP_FIELDS = ("path", "kind", "language")


class MilvusStore:
    """See the module docstring. `token` authenticates to a server (never part of the URI)."""

    def __init__(self, uri: str, *, writer: bool, token: str | None = None, **_options: Any) -> None:
        self.target = parse_uri(uri)
        self.writer = writer
        self._client = connect(self.target, token)
        self._lock = threading.RLock()
        self._meta = f"{self.target.name}_meta"
        self._beat = 0.0
        self._closed = False
        self._infos_cache: dict[str, dict[str, Any]] | None = None
        self._prefix_like = server_version(self._client) < (2, 4)  # 2.3's `like`: prefix% only
        load_all(self._client, self.target.name)
        if writer:
            if not self._client.has_collection(self._meta):
                schema, index = meta_schema(self._client)
                create_collection(self._client, self._meta, schema, index)
            self._claim_writer()
            self.repair()

    def __enter__(self) -> MilvusStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ledger -------------------------------------------------------------------------------

    def _meta_rows(self, kind: str) -> list[dict[str, Any]]:
        if not self._client.has_collection(self._meta):
            return []  # a reader of a store no writer has created yet: empty
        return self._query(self._meta, f"kind == {quote(kind)}", ["key", "value"])

    def _put_meta(self, rows: Sequence[tuple[str, str, Any]]) -> None:
        if any(kind == "collection" for _, kind, _ in rows):
            self._infos_cache = None
        data = [{"key": key, "kind": kind, "value": json.dumps(value), "dummy": [0.0] * META_DIM}
                for key, kind, value in rows]  # fmt: skip
        self._client.upsert(self._meta, data)

    def get_meta(self, key: str) -> Any:
        """A value the index keeps with the store (e.g. its `IndexConfig`), or None."""
        if not self._client.has_collection(self._meta):
            return None
        rows = self._client.query(self._meta, filter=f"key == {quote('cfg:' + key)}",
                                  output_fields=["value"], **STRONG)  # fmt: skip
        return json.loads(rows[0]["value"]) if rows else None

    def set_meta(self, key: str, value: Any) -> None:
        with self._write():
            self._put_meta([(f"cfg:{key}", "config", value)])

    def _claim_writer(self) -> None:
        check_lease([json.loads(r["value"]) for r in self._meta_rows("writer")], self.target.display)
        self._put_meta([("writer", "writer", my_lease())])
        self._beat = time.monotonic()

    def repair(self) -> list[str]:
        """Delete the records of sources a crash left half-written; they stay pending. Returns them."""
        pending = [s for s, st in self.sources().items() if st.status == PENDING]
        for source in pending:
            for mname in self._mnames().values():
                self._client.delete(mname, filter=f"source == {quote(source)}")
        if pending:
            log.warning("repaired %d half-written sources: %s", len(pending), pending[:5])
        return pending

    # -- collections --------------------------------------------------------------------------

    def _mname(self, name: str) -> str:
        ok = name.replace("_", "").isalnum() and name.isascii()
        return f"{self.target.name}_c_{name}" if ok else f"{self.target.name}_h_{name.encode().hex()}"

    def _infos_raw(self) -> dict[str, dict[str, Any]]:
        """Collection rows from the ledger; a writer, their only author, keeps them in memory."""
        if self.writer and self._infos_cache is not None:
            return dict(self._infos_cache)
        raw = {r["key"][5:]: json.loads(r["value"]) for r in self._meta_rows("collection")}
        if self.writer:
            self._infos_cache = raw
        return dict(raw)

    def _mnames(self) -> dict[str, str]:
        return {n: self._mname(n) for n in self._infos_raw()}

    def _info(self, name: str, raw: Mapping[str, Any]) -> CollectionInfo:
        return CollectionInfo(name, raw["model"], raw["fingerprint"], raw["dim"], raw["recipe"],
                              self._count(self._mname(name), ""), raw["created"], raw["updated"])  # fmt: skip

    def _raw(self, name: str) -> dict[str, Any]:
        raw = self._infos_raw()
        if name not in raw:
            raise InputError(received=f"collection {name!r}", expected=f"one of: {', '.join(sorted(raw)) or 'none yet'}",
                             fix="index into that collection first, or pick an existing one")  # fmt: skip
        return raw[name]

    def ensure_collection(
        self, name: str, *, model: str, fingerprint: str, dim: int, recipe: Mapping[str, Any]
    ) -> CollectionInfo:
        raw = self._infos_raw().get(name)
        if raw is None:
            if dim <= 0:
                raise InputError(
                    received=f"dim {dim}", expected="a positive vector size", fix="pass the encoder's dim"
                )
            with self._write():
                engine = self._keyword_engine()
                bm25 = kw.bm25_index_params(lite=self.target.scheme == "milvus-lite")
                schema, index = records_schema(self._client, dim, self.target.index, engine == kw.BM25, bm25)
                if not self._client.has_collection(self._mname(name)):
                    create_collection(self._client, self._mname(name), schema, index)
                now = time.time()
                raw = {"model": model, "fingerprint": fingerprint, "dim": dim, "recipe": canonical_recipe(recipe),
                       "created": now, "updated": now, "keyword": engine, "index": self.target.index,
                       "kw_tokens": 0, "analyser": kw.ANALYSER_ID}  # fmt: skip
                self._put_meta([(f"coll:{name}", "collection", raw)])
        info = self._info(name, raw)
        check_recipe(info, fingerprint=fingerprint, recipe=recipe, dim=dim, what=f"model {model}")
        return info

    def _keyword_engine(self) -> str:
        """The keyword engine of a new collection (an existing one keeps the engine it recorded).

        `auto` is Milvus BM25 on servers >= 2.5 and omnivec's exact scan elsewhere, Milvus Lite
        included: Lite 3.2 keeps BM25 statistics per sealed segment, so its scores drift from
        the local store's once it has flushed more than once (docs/scaling.md)."""
        lite = self.target.scheme == "milvus-lite"
        if self.target.keyword == "scan" or (self.target.keyword == "auto" and lite):
            return kw.SCAN
        if not has_full_text(self._client):
            if self.target.keyword == "bm25":
                raise StoreError(received=f"keyword=bm25 for {self.target.display}, a server without full-text search",
                                 expected="Milvus 2.5 or newer for BM25", fix="drop keyword=bm25 to use omnivec's scan")  # fmt: skip
            return kw.SCAN
        if lite:
            log.warning("keyword=bm25 on Milvus Lite: its BM25 statistics are kept per sealed segment, so "
                        "keyword scores drift from the embedded store's after flushes; keyword=scan is exact")  # fmt: skip
        return kw.BM25

    def collections(self) -> list[CollectionInfo]:
        return [self._info(n, r) for n, r in sorted(self._infos_raw().items())]

    def check_query(self, collection: str, *, fingerprint: str, recipe: Mapping[str, Any]) -> None:
        info = self._info(collection, self._raw(collection))
        check_recipe(info, fingerprint=fingerprint, recipe=recipe, dim=None, what="a query encoded")

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

    def sources(self) -> dict[str, SourceState]:
        out = {}
        for row in self._meta_rows("source"):
            v = json.loads(row["value"])
            out[row["key"][4:]] = SourceState(
                row["key"][4:], v["hash"], v["size"], v["mtime_ns"], v["chunks"], v["status"]
            )
        return out

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

    # -- plumbing -----------------------------------------------------------------------------

    def _query(self, mname: str, expr: str, fields: list[str]) -> list[dict[str, Any]]:
        """Every row matching `expr`: one query, or an iterator past Milvus's 16k result window."""
        rows = self._client.query(mname, filter=expr, output_fields=fields, limit=QUERY_WINDOW, **STRONG)
        return rows if len(rows) < QUERY_WINDOW else list(self._iterate(mname, expr, fields))

    def _iterate(self, mname: str, expr: str, fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every row matching `expr` (a query iterator: no 16k cap on result windows)."""
        it = self._client.query_iterator(mname, batch_size=kw.SCAN_BATCH, filter=expr,
                                         output_fields=fields, **STRONG)  # fmt: skip
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    def _count(self, mname: str, expr: str) -> int:
        rows = self._client.query(mname, filter=expr, output_fields=["count(*)"], **STRONG)
        return int(rows[0]["count(*)"])

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        with self._lock:
            if self._closed or not self.writer:
                raise StoreError(received=f"a write to {self.target.display}, opened "
                                 + ("and closed" if self._closed else "read-only"),
                                 expected="writes through an open handle made with writer=True",
                                 fix="open the store with writer=True to index")  # fmt: skip
            if time.monotonic() - self._beat > LEASE_STALE_S / 4:
                self._claim_writer()  # a heartbeat: other hosts see this writer is alive
            yield

    def flush(self) -> None:
        """Seal what was written (reads are Strong and need no flush; this bounds recovery work).

        Milvus Lite 3.2 keeps BM25 statistics per sealed segment, so after several flushes its
        own BM25 scores are per segment and drift from the local store's (docs/scaling.md); that
        is why Lite's default keyword engine is omnivec's scan, which flushes do not affect. Not
        flushing would keep Lite's BM25 exact, but Lite then searches unsealed rows without an
        index: a dense search took ~880 ms instead of ~15 ms on 3,884 chunks."""
        if self.writer and not self._closed:
            for mname in [self._meta, *self._mnames().values()]:
                self._client.flush(mname)

    def stats(self) -> dict[str, Any]:
        raws = self._infos_raw()
        colls = {n: {"count": self._count(self._mname(n), ""), "dim": r["dim"], "keyword": r.get("keyword"),
                     "dense_index": r.get("index"), "analyser": r.get("analyser", "unrecorded (older omnivec)")}
                 for n, r in raws.items()}  # fmt: skip
        return {"backend": self.target.scheme, "uri": self.target.display, "writer": self.writer,
                "server_version": str(self._client.get_server_version()), "sources": len(self._meta_rows("source")),
                "records": sum(c["count"] for c in colls.values()), "bytes": 0,
                "keyword": sorted({str(c["keyword"]) for c in colls.values()}), "collections": colls}  # fmt: skip

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                if self.writer:
                    # no flush: a server keeps acknowledged writes in its log and seals segments
                    # on its own (a flush costs ~2.5 s per collection on 2.3); Milvus Lite replays
                    # its write-ahead log on open (see `flush`)
                    self._client.delete(self._meta, filter='key == "writer"')
            finally:
                self._closed = True
                self._client.close()


def open_milvus(uri: str, *, writer: bool, token: str | None = None, **options: Any) -> MilvusStore:
    """The `milvus://` and `milvus-lite://` opener for `omnivec.stores.uri.open_store`."""
    from omnivec.config import milvus_token

    return MilvusStore(uri, writer=writer, token=token if token is not None else milvus_token(), **options)
