"""Applying an indexing run: embed the chunks of prepared files, then write file by file.

Chunks are embedded grouped per collection (one encoder call per group, so batches stay full); a
group whose call fails is retried file by file, so one bad file fails alone. Each file is then
written in one store transaction over all collections, so a crash leaves it fully at its old
version or fully at its new one. With a progressive store (`PendingVectors`) files are written
without vectors, embedded later (`omnivec.index.embedding.embed_pending`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from omnivec.index.config import IndexConfig
from omnivec.index.embedding import Embedder, skip_reason
from omnivec.index.prepare import PreparedSource
from omnivec.index.progress import ProgressTracker
from omnivec.index.report import IndexReport
from omnivec.ingest import Chunk
from omnivec.kinds import CHUNK_KINDS
from omnivec.stores.base import NO_VECTOR, Record

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.stores.base import VectorStore

log = logging.getLogger(__name__)


class SourceWriter:
    """Embeds and writes prepared files for one run, reporting each to its progress tracker."""

    def __init__(
        self,
        store: VectorStore,
        config: IndexConfig,
        encoders: Mapping[str, Encoder],
        tracker: ProgressTracker,
        *,
        cache: EmbeddingCache | None,
        embed: Embedder,
        progressive: bool,
    ) -> None:
        self.store, self.config, self.encoders, self.tracker = store, config, encoders, tracker
        self.cache, self.embed, self.progressive = cache, embed, progressive

    def write(self, pending: list[PreparedSource], report: IndexReport) -> None:
        """Embed every pending chunk (grouped per collection), then write file by file; with a
        progressive store, write them without vectors (embedded in phase two)."""
        if not pending:
            return
        if self.progressive:
            vectors: dict[tuple[int, int], Any] = {
                (pi, ci): NO_VECTOR for pi, p in enumerate(pending) for ci, chunk in enumerate(p.chunks)
                if self._collection(chunk) is not None
            }  # fmt: skip
            failed: dict[int, str] = {}
        else:
            vectors, failed = self._embed_all(pending, report)
            report.embedded += len(vectors)
        start = time.perf_counter()
        for p_index, p in enumerate(pending):
            if p_index in failed:
                report.skip(p.state.source, failed[p_index], {p.state.source: p.old} if p.old else {})
                self.tracker.written(p.state.size, 0)
                continue
            by_coll: dict[str, list[Record]] = {name: [] for name in self.encoders}
            for c_index, chunk in enumerate(p.chunks):
                coll = self.config.collection_for(chunk.kind)
                if coll is None or (p_index, c_index) not in vectors:
                    continue
                by_coll[coll].append(_record(chunk, c_index, vectors[(p_index, c_index)]))
            # one transaction for every collection: a crash never leaves a half-updated source
            self.store.replace_source_all(p.state, by_coll)
            report.indexed += 1
            report.changed.append(p.state.source)
            written = sum(len(v) for v in by_coll.values())
            report.chunks += written
            self.tracker.written(p.state.size, written)
        report.seconds["store"] += time.perf_counter() - start

    def _embed_all(
        self, pending: list[PreparedSource], report: IndexReport
    ) -> tuple[dict[tuple[int, int], Any], dict[int, str]]:
        """Vectors by (file, chunk); files whose items the encoder rejected map to a reason."""
        start = time.perf_counter()
        groups: dict[str, list[tuple[int, int, Chunk]]] = {}
        for pi, p in enumerate(pending):
            for ci, chunk in enumerate(p.chunks):
                coll = self._collection(chunk)
                if coll is not None:
                    groups.setdefault(coll, []).append((pi, ci, chunk))
        out: dict[tuple[int, int], Any] = {}
        failed: dict[int, str] = {}
        for coll, members in groups.items():
            self._embed_group(self.encoders[coll], members, out, failed, report)
        report.seconds["embed"] += time.perf_counter() - start
        return out, failed

    def _embed_group(
        self,
        enc: Encoder,
        members: list[tuple[int, int, Chunk]],
        out: dict[tuple[int, int], Any],
        failed: dict[int, str],
        report: IndexReport,
    ) -> None:
        """One call for the whole group; if it fails, file by file so one bad file fails alone."""
        members = [m for m in members if m[0] not in failed]
        try:
            res = self.embed(enc, [_item(c) for _, _, c in members], self.cache)
        except Exception as exc:  # one bad item must not stop the run: isolate it below
            files = sorted({pi for pi, _, _ in members})
            if len(files) == 1:
                log.debug("embedding failed for a file", exc_info=True)
                failed[files[0]] = skip_reason(exc)
                return
            for pi in files:
                self._embed_group(enc, [m for m in members if m[0] == pi], out, failed, report)
            return
        report.truncated += len(res.truncated)
        for (pi, ci, _), vec in zip(members, res.vectors):
            out[(pi, ci)] = vec

    def _collection(self, chunk: Chunk) -> str | None:
        """The collection a chunk is embedded into; None when it is not indexed at all."""
        coll = self.config.collection_for(chunk.kind)
        return coll if coll is not None and coll in self.encoders and _embeddable(chunk) else None


def _embeddable(chunk: Chunk) -> bool:
    return bool(chunk.image) or bool(chunk.text.strip())


def _item(chunk: Chunk) -> Any:
    from omnivec.types import Item

    if chunk.image:
        return Item(text=None, image=chunk.image, modality=CHUNK_KINDS[chunk.kind].image_modality or "image")
    return Item(text=chunk.text, modality="code" if chunk.kind == "code" else "text")


def _record(chunk: Chunk, ordinal: int, vector: Any) -> Record:
    digest = chunk.content_hash  # a property that hashes the text: once per chunk
    fields = {
        "path": chunk.path, "kind": chunk.kind, "language": chunk.language, "symbol": chunk.symbol,
        "start_line": chunk.start_line, "end_line": chunk.end_line, "page": chunk.page,
        "display": chunk.display, "image": chunk.image, "content_hash": digest,
        **{k: v for k, v in chunk.extra.items() if _jsonable(v)},
    }  # fmt: skip
    rid = f"{chunk.path}#{ordinal}:{digest[:10]}"
    return Record(id=rid, source=chunk.path, vector=vector, text=chunk.text, fields=fields)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
