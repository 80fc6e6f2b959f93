"""The main job: keep a store in step with a folder, incrementally and crash-safely.

Each source file is written in one store transaction, so a crash at any moment leaves every file
either fully at its old version or fully at its new one; the next run picks up where it stopped
because unchanged files are recognised by (size, mtime), then by content hash.
A file that fails (unreadable, undecodable, vanished) is reported and keeps what was indexed before.

With a store that can hold records before their vectors (`PendingVectors`, e.g. `LocalStore`) a
run has two phases: every changed file is parsed and written without vectors, so the whole folder
is keyword-searchable after seconds (no model call; unchanged chunks of an edited file keep their
vectors), then the pending records are embedded batch by batch (`omnivec.index.embedding`), which
a later run resumes. Other stores get one phase: each file is embedded, then written.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnivec.errors import OmnivecError
from omnivec.index.config import IndexConfig
from omnivec.index.discovery import STORE_DIRNAME
from omnivec.index.documents import is_document_source
from omnivec.index.embedding import Embedder, embed_here, embed_pending, skip_reason
from omnivec.index.progress import ProgressCallback, ProgressTracker
from omnivec.ingest import Chunk, Skipped, SourceFile, chunk_source, walk
from omnivec.ingest.visual import expand, rendered_pages
from omnivec.ingest.walk import read_source
from omnivec.kinds import CHUNK_KINDS, FILE_CHUNK_KIND, FileKind
from omnivec.stores.base import NO_VECTOR, PendingVectors, Record, SourceState

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.stores.base import VectorStore


log = logging.getLogger(__name__)

PENDING_CHUNKS = 256  # chunks gathered across files before one embedding call: keeps batches full
MEDIA_READ_LIMIT = 64_000_000  # the walk's own bound on images and PDFs
FLUSH_SECONDS = 30.0  # how often the derived ANN index is persisted during a long run


@dataclass
class IndexReport:
    """What one `update` did; `skipped` holds (path, reason) for every file not indexed."""

    seen: int = 0
    indexed: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    truncated: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # paths (re)indexed or removed, in order
    embedded: int = 0  # chunks embedded by this run (written with their vectors, or filled in)
    pending: int | None = None  # chunks still without a vector at the end; None: one-phase store
    searchable_after: float | None = None  # seconds until every file was keyword-searchable
    seconds: dict[str, float] = field(default_factory=lambda: {"parse": 0.0, "embed": 0.0, "store": 0.0})

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen, "indexed": self.indexed, "unchanged": self.unchanged,
            "removed": self.removed, "skipped": len(self.skipped), "chunks": self.chunks,
            "truncated": self.truncated, "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "skips": [{"path": p, "reason": r} for p, r in self.skipped], "changed": self.changed,
            "embedded": self.embedded, "pending": self.pending,
            "searchable_after": None if self.searchable_after is None else round(self.searchable_after, 3),
        }  # fmt: skip


@dataclass
class _Pending:
    state: SourceState
    chunks: list[Chunk]
    old: SourceState | None


class Indexer:
    """Brings `store` up to date with `root` using one encoder per collection."""

    def __init__(
        self,
        store: VectorStore,
        config: IndexConfig,
        encoders: Mapping[str, Encoder],
        cache: EmbeddingCache | None = None,
        assets: Path | None = None,
        ignore: tuple[str, ...] = (),
        embedder: Embedder = embed_here,
        pending_chunks: int = PENDING_CHUNKS,
    ) -> None:
        self.store = store
        self.embed = embedder
        self.pending_chunks = pending_chunks  # an engine with more workers wants longer batches
        self.config = config
        self.encoders = dict(encoders)
        self.cache = cache
        self.assets = assets  # thumbnails and rendered pages; None: no visual derivatives
        self.ignore = (STORE_DIRNAME, *ignore)
        self._stack = contextlib.ExitStack()
        self._renderer: Any = None
        self._tracker = ProgressTracker(None)
        for name, enc in self.encoders.items():
            store.ensure_collection(
                name, model=enc.spec.name, fingerprint=enc.fingerprint, dim=enc.dim, recipe=enc.spec.recipe()
            )

    @property
    def progressive(self) -> bool:
        """Whether files are written before they are embedded (the store holds pending records)."""
        return isinstance(self.store, PendingVectors)

    def update(self, root: Path, progress: ProgressCallback | None = None, embed: bool = True) -> IndexReport:
        """Walk `root`, (re)index what changed, drop what disappeared; returns the report.

        `progress` gets an `IndexProgress` snapshot as files are looked at and written.
        With a progressive store, `embed=False` stops once every file is keyword-searchable;
        the next run embeds what is pending.
        """
        with contextlib.ExitStack() as stack:
            self._stack = stack  # holds a browser opened on first use, for all pages of this run
            report = self._update(root, ProgressTracker(progress), embed)
        return report

    def _update(self, root: Path, tracker: ProgressTracker, embed: bool) -> IndexReport:
        report = IndexReport()
        previous = self.store.sources()
        seen: set[str] = set()
        pending: list[_Pending] = []
        last_flush = time.perf_counter()
        # names and sizes first (a stat each), so progress has totals before any file is read
        entries = list(self._walk(root, report))
        changed = [
            e for e in entries if isinstance(e, SourceFile) and not _same_stat(previous.get(e.path), e)
        ]
        tracker.phase("indexing", files_total=len(entries), bytes_total=sum(e.size for e in changed))
        self._tracker = tracker
        for entry in entries:
            seen.add(entry.path)
            report.seen += 1
            tracker.file_seen(entry.path)
            if isinstance(entry, Skipped):
                self._skip(report, entry.path, entry.reason, previous)
                continue
            item = self._prepare(entry, previous.get(entry.path), report)
            if item is not None:
                pending.append(item)
            if sum(len(p.chunks) for p in pending) >= self.pending_chunks:
                self._write(pending, report)
                pending = []
            if time.perf_counter() - last_flush > FLUSH_SECONDS:
                self._timed(report, "store", self.store.flush)
                last_flush = time.perf_counter()
        self._write(pending, report)
        tracker.phase("removing")
        # pushed documents (`doc:<id>`) are not files: the walk never sees them, so never drops them
        for path in sorted(set(previous) - seen - {p for p in previous if is_document_source(p)}):
            self._timed(report, "store", self.store.remove_source, path)
            report.removed += 1
            report.changed.append(path)
        self._timed(report, "store", self.store.flush)
        if self.progressive:
            report.searchable_after = tracker.searchable()
            if embed:
                self._embed_pending(report, tracker)
                self._timed(report, "store", self.store.flush)
            report.pending = sum(self._pending_store().pending_counts().values())
        tracker.phase("done")
        return report

    def _pending_store(self) -> PendingVectors:
        assert isinstance(self.store, PendingVectors)
        return self.store

    def _embed_pending(self, report: IndexReport, tracker: ProgressTracker) -> None:
        """Phase two: fill in the vectors of every pending record, a committed batch at a time."""
        store = self._pending_store()
        counts = store.pending_counts()
        tracker.embedding(sum(n for c, n in counts.items() if c in self.encoders))
        last_flush = time.perf_counter()

        def batch_done(n: int) -> None:
            nonlocal last_flush
            tracker.embedded(n)
            if time.perf_counter() - last_flush > FLUSH_SECONDS:
                self.store.flush()
                last_flush = time.perf_counter()

        start = time.perf_counter()
        out = embed_pending(store, self.encoders, self.cache, self.pending_chunks, batch_done, self.embed)
        report.seconds["embed"] += time.perf_counter() - start
        report.embedded += out.embedded
        report.truncated += out.truncated
        for path, why in out.failed.items():
            report.skipped.append((path, f"not embedded ({why}); keyword-searchable, the next run retries"))

    # --- steps ---------------------------------------------------------------------------
    def _walk(self, root: Path, report: IndexReport) -> Iterator[SourceFile | Skipped]:
        cfg = self.config
        it = walk(
            root, max_file_bytes=cfg.max_file_bytes, extra_ignores=self.ignore,
            follow_external_links=cfg.follow_links, include_secrets=cfg.include_secrets,
            include_generated=cfg.include_generated,
        )  # fmt: skip
        while True:
            t = time.perf_counter()
            entry = next(it, None)
            report.seconds["parse"] += time.perf_counter() - t
            if entry is None:
                return
            yield entry

    def _prepare(self, src: SourceFile, old: SourceState | None, report: IndexReport) -> _Pending | None:
        if _same_stat(old, src):
            report.unchanged += 1
            return None
        start = time.perf_counter()
        try:
            data = read_source(src.abs_path, max(self.config.max_file_bytes, MEDIA_READ_LIMIT))
            digest = hashlib.blake2b(data, digest_size=16).hexdigest()
            state = SourceState(src.path, digest, src.size, src.mtime_ns, 0, "indexed")
            if old is not None and old.status == "indexed" and old.content_hash == digest:
                self.store.touch_source(state)
                report.unchanged += 1
                return None
            chunks = chunk_source(
                src, data, max_tokens=self._max_tokens(src), count_tokens=self._counter(src)
            )
            if self.assets is not None and (src.kind in ("image", "pdf") or self._renders(src)):
                if self._renders(src):
                    chunks = chunks + self._rendered(src, digest)
                shots = self.encoders.get("screenshot")
                ocr = getattr(shots, "ocr", None)  # the OCR pipeline: index its text, not the pixels
                chunks = expand(chunks, src, self.assets, shots is not None, digest, ocr=ocr)
        except FileNotFoundError:
            self._skip(report, src.path, "deleted during the run", {})
            return None
        except (OSError, OmnivecError) as exc:
            self._skip(report, src.path, skip_reason(exc), {src.path: old} if old else {})
            return None
        finally:
            report.seconds["parse"] += time.perf_counter() - start
        return _Pending(state, chunks, old)

    def _write(self, pending: list[_Pending], report: IndexReport) -> None:
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
                self._skip(report, p.state.source, failed[p_index], {p.state.source: p.old} if p.old else {})
                self._tracker.written(p.state.size, 0)
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
            self._tracker.written(p.state.size, written)
        report.seconds["store"] += time.perf_counter() - start

    def _embed_all(
        self, pending: list[_Pending], report: IndexReport
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

    def _rendered(self, src: SourceFile, digest: str) -> list[Chunk]:
        """Page screenshots of an HTML/Markdown file; its text chunks stay indexed if this fails."""
        try:
            return rendered_pages(src, self.assets or Path(), digest, self._browser())
        except OmnivecError as exc:
            log.warning("%s: not rendered (%s); its text is indexed", src.path, exc)
            return []

    def _browser(self) -> Any:
        """One headless Chromium per run: starting one per page costs about a second each."""
        if self._renderer is None:
            from omnivec.ingest.render import Renderer

            self._renderer = self._stack.enter_context(Renderer())
            self._stack.callback(setattr, self, "_renderer", None)
        return self._renderer

    def _renders(self, src: SourceFile) -> bool:
        return (
            self.config.render_docs and self.assets is not None and "screenshot" in self.encoders
            and src.language in ("html", "markdown")
        )  # fmt: skip

    def _skip(self, report: IndexReport, path: str, reason: str, previous: Mapping[str, SourceState]) -> None:
        kept = previous.get(path)
        if kept is not None and kept.status == "indexed":
            reason += " (kept the previously indexed version)"
        report.skipped.append((path, reason))

    def _max_tokens(self, src: SourceFile) -> int:
        enc = self._encoder_for_kind(src.kind)
        return enc.spec.max_length if enc is not None else 512

    def _counter(self, src: SourceFile) -> Callable[[Any], list[int]]:
        enc = self._encoder_for_kind(src.kind)
        if enc is None or src.kind == "image":
            return lambda texts: [len(t.split()) for t in texts]
        return lambda texts: enc.token_counts(list(texts))

    def _encoder_for_kind(self, kind: FileKind) -> Encoder | None:
        coll = self.config.collection_for(FILE_CHUNK_KIND[kind])
        return self.encoders.get(coll) if coll else None

    def _timed(self, report: IndexReport, phase: str, fn: Callable[..., Any], *args: Any) -> None:
        start = time.perf_counter()
        fn(*args)
        report.seconds[phase] += time.perf_counter() - start


def _same_stat(old: SourceState | None, src: SourceFile) -> bool:
    """Unchanged by (size, mtime): the cheap test that lets a re-run skip reading a file.
    An empty content hash marks a source to re-index (a dropped collection, a repaired store)."""
    return (
        old is not None and old.status == "indexed" and bool(old.content_hash)
        and (old.size, old.mtime_ns) == (src.size, src.mtime_ns)
    )  # fmt: skip


def _embeddable(chunk: Chunk) -> bool:
    return bool(chunk.image) or bool(chunk.text.strip())


def _item(chunk: Chunk) -> Any:
    from omnivec.types import Item

    if chunk.image:
        return Item(text=None, image=chunk.image, modality=CHUNK_KINDS[chunk.kind].image_modality or "image")
    return Item(text=chunk.text, modality="code" if chunk.kind == "code" else "text")


def _record(chunk: Chunk, ordinal: int, vector: Any) -> Record:
    fields = {
        "path": chunk.path, "kind": chunk.kind, "language": chunk.language, "symbol": chunk.symbol,
        "start_line": chunk.start_line, "end_line": chunk.end_line, "page": chunk.page,
        "display": chunk.display, "image": chunk.image, "content_hash": chunk.content_hash,
        **{k: v for k, v in chunk.extra.items() if _jsonable(v)},
    }  # fmt: skip
    rid = f"{chunk.path}#{ordinal}:{chunk.content_hash[:10]}"
    return Record(id=rid, source=chunk.path, vector=vector, text=chunk.text, fields=fields)


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True
