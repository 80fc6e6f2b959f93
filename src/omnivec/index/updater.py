"""The main job: keep a store in step with a folder, incrementally and crash-safely.

Each source file is written in one store transaction, so a crash at any moment leaves every file
either fully at its old version or fully at its new one; the next run picks up where it stopped
because unchanged files are recognised by (size, mtime), then by content hash.
A file that fails (unreadable, undecodable, vanished) is reported and keeps what was indexed before.
`Indexer` runs the pass; what changed and what it becomes is `omnivec.index.prepare`, embedding and
writing it `omnivec.index.write`.

With a store that can hold records before their vectors (`PendingVectors`, e.g. `LocalStore`) a
run has two phases: every changed file is parsed and written without vectors, so the whole folder
is keyword-searchable after seconds (no model call; unchanged chunks of an edited file keep their
vectors), then the pending records are embedded batch by batch (`omnivec.index.embedding`), which
a later run resumes. Other stores get one phase: each file is embedded, then written.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnivec.index.config import IndexConfig
from omnivec.index.discovery import STORE_DIRNAME
from omnivec.index.documents import is_document_source
from omnivec.index.embedding import Embedder, embed_here, embed_pending
from omnivec.index.prepare import PreparedSource, SourcePreparer, same_stat
from omnivec.index.progress import ProgressCallback, ProgressTracker
from omnivec.index.report import IndexReport
from omnivec.index.write import SourceWriter
from omnivec.ingest import Skipped, SourceFile, walk
from omnivec.stores.base import PendingVectors

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.stores.base import SourceState, VectorStore

__all__ = ["FLUSH_SECONDS", "PENDING_CHUNKS", "IndexReport", "Indexer"]

PENDING_CHUNKS = 256  # chunks gathered across files before one embedding call: keeps batches full
FLUSH_SECONDS = 30.0  # how often the derived ANN index is persisted during a long run


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
        recheck_secrets: bool = False,
    ) -> None:
        self.store = store
        self.recheck_secrets = recheck_secrets  # see `SourcePreparer.prepare`
        self.embed = embedder
        self.pending_chunks = pending_chunks  # an engine with more workers wants longer batches
        self.config = config
        self.encoders = dict(encoders)
        self.cache = cache
        self.assets = assets  # thumbnails and rendered pages; None: no visual derivatives
        self.ignore = (STORE_DIRNAME, *ignore)
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
        with contextlib.ExitStack() as stack:  # holds a browser opened on first use, for all pages
            report = self._update(root, ProgressTracker(progress), embed, stack)
        return report

    def _update(
        self, root: Path, tracker: ProgressTracker, embed: bool, stack: contextlib.ExitStack
    ) -> IndexReport:
        report = IndexReport()
        preparer = SourcePreparer(
            self.store, self.config, self.encoders, self.assets, stack, self.recheck_secrets
        )
        writer = SourceWriter(self.store, self.config, self.encoders, tracker, cache=self.cache,
                              embed=self.embed, progressive=self.progressive)  # fmt: skip
        previous = self.store.sources()
        seen: set[str] = set()
        pending: list[PreparedSource] = []
        pending_chunks = 0  # kept as files arrive: summing the list per file was quadratic in it
        last_flush = time.perf_counter()
        # names and sizes first (a stat each), so progress has totals before any file is read
        entries = list(self._walk(root, report))
        changed = [e for e in entries if isinstance(e, SourceFile) and not same_stat(previous.get(e.path), e)]
        tracker.phase("indexing", files_total=len(entries), bytes_total=sum(e.size for e in changed))
        for entry in entries:
            seen.add(entry.path)
            report.seen += 1
            tracker.file_seen(entry.path)
            if isinstance(entry, Skipped):
                report.skip(entry.path, entry.reason, previous)
                continue
            item = preparer.prepare(entry, previous.get(entry.path), report)
            if item is not None:
                pending.append(item)
                pending_chunks += len(item.chunks)
            if pending_chunks >= self.pending_chunks:
                writer.write(pending, report)
                pending, pending_chunks = [], 0
            if time.perf_counter() - last_flush > FLUSH_SECONDS:
                self._timed(report, "store", self.store.flush)
                last_flush = time.perf_counter()
        writer.write(pending, report)
        tracker.phase("removing")
        # pushed documents (`doc:<id>`) are not files: the walk never sees them, so never drops them
        gone = set(previous) - seen - {p for p in previous if is_document_source(p)}
        for path in sorted(gone | set(report.secrets_to_drop)):
            self._timed(report, "store", self.store.remove_source, path)
            report.removed += 1
            report.changed.append(path)
        self._timed(report, "store", self.store.flush)
        self._drop_assets_of(previous, report.changed)
        if self.progressive:
            report.searchable_after = tracker.searchable()
            if embed:
                self._embed_pending(report, tracker)
                self._timed(report, "store", self.store.flush)
            report.pending = sum(self._pending_store().pending_counts().values())
        tracker.phase("done")
        return report

    def _drop_assets_of(self, previous: Mapping[str, SourceState], changed: list[str]) -> None:
        """Delete the page images (and their thumbnails) of file versions no longer indexed: they
        are named by the file's content hash, and a deleted document's pages must not stay on
        disk. A version another indexed file shares (a copy) keeps them."""
        if self.assets is None or not changed:
            return
        gone = {previous[p].content_hash for p in changed if p in previous and previous[p].content_hash}
        gone -= {s.content_hash for s in self.store.sources().values()}
        for digest in gone:
            for folder in ("pages", "thumbs"):
                for stale in (self.assets / folder).glob(f"{digest}-*"):
                    stale.unlink(missing_ok=True)

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

    def _timed(self, report: IndexReport, phase: str, fn: Callable[..., Any], *args: Any) -> None:
        start = time.perf_counter()
        fn(*args)
        report.seconds[phase] += time.perf_counter() - start
