"""`MilvusHandle`: what a `MilvusStore` stands on: the connection, the writer's lease, the ledger
(sources, collections, settings) and the queries every read goes through.

A writer opening the store claims the one-writer lease (`milvus_ledger`), creates the ledger
collection if needed and repairs what a crash left: the records of every `pending` source are
deleted, and its ledger row stays pending (not `indexed`), so the next indexing run re-indexes
it. Every read and write runs at Strong consistency: a search after an acknowledged write sees it.
The records themselves (writing sources, searching) are `omnivec.stores.milvus.MilvusStore`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from omnivec.errors import InputError, StoreError
from omnivec.stores import milvus_keyword as kw
from omnivec.stores.base import CollectionInfo, SourceState, canonical_recipe, check_recipe
from omnivec.stores.milvus_expr import quote
from omnivec.stores.milvus_ledger import LEASE_STALE_S, PENDING, check_lease, my_lease
from omnivec.stores.milvus_schema import (
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


class MilvusHandle:
    """See the module docstring. `token` authenticates to a server (never part of the URI)."""

    def __init__(self, uri: str, *, writer: bool, token: str | None = None, **_options: Any) -> None:
        self.target = parse_uri(uri)
        self.writer = writer
        self._client = connect(self.target, token, writer)
        self._lock = threading.RLock()
        self._meta = f"{self.target.name}_meta"
        self._beat = 0.0
        self._closed = False
        self._infos_cache: dict[str, dict[str, Any]] | None = None
        self._analyser_warned: set[str] = set()  # collections whose other analyser was reported
        self._prefix_like = server_version(self._client) < (2, 4)  # 2.3's `like`: prefix% only
        load_all(self._client, self.target.name)
        if writer:
            if not self._client.has_collection(self._meta):
                schema, index = meta_schema(self._client)
                create_collection(self._client, self._meta, schema, index)
            self._claim_writer()
            self.repair()

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

    def sources(self) -> dict[str, SourceState]:
        out = {}
        for row in self._meta_rows("source"):
            v = json.loads(row["value"])
            out[row["key"][4:]] = SourceState(
                row["key"][4:], v["hash"], v["size"], v["mtime_ns"], v["chunks"], v["status"]
            )
        return out

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

    def keyword_engine(self, collection: str) -> str:
        """`milvus-bm25` or `omnivec-scan`, as the collection recorded at creation (collections
        from before the record have no full-text field: the scan, as `keyword_search` reads it)."""
        return _engine_of(self._raw(collection))

    def check_query(self, collection: str, *, fingerprint: str, recipe: Mapping[str, Any]) -> None:
        info = self._info(collection, self._raw(collection))
        check_recipe(info, fingerprint=fingerprint, recipe=recipe, dim=None, what="a query encoded")

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
        colls = {n: {"count": self._count(self._mname(n), ""), "dim": r["dim"], "keyword": _engine_of(r),
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


def _engine_of(raw: Mapping[str, Any]) -> str:
    """A collection's keyword engine from its ledger row, as `keyword_search` picks its path."""
    return kw.BM25 if raw.get("keyword") == kw.BM25 else kw.SCAN
