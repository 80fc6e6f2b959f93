"""Planning an indexing run: which files changed, and what each changed file becomes.

A file whose (size, mtime) matches its ledger row is unchanged and not read (`same_stat`); one
whose content hash matches is only touched (its ledger row gets the new stat). Every other file is
read, chunked and given its visual derivatives (thumbnails, rendered pages, OCR text): a
`PreparedSource`, which `omnivec.index.write` embeds and writes. A file that fails (unreadable,
undecodable, vanished) is reported and keeps what was indexed before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnivec.errors import OmnivecError
from omnivec.index.config import IndexConfig
from omnivec.index.embedding import skip_reason
from omnivec.index.report import IndexReport
from omnivec.ingest import Chunk, SourceFile, chunk_source
from omnivec.ingest.chunk import decode_text
from omnivec.ingest.policy import private_key_reason
from omnivec.ingest.visual import expand, rendered_pages
from omnivec.ingest.walk import read_source
from omnivec.kinds import FILE_CHUNK_KIND, FileKind
from omnivec.stores.base import SourceState

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.stores.base import VectorStore

log = logging.getLogger(__name__)

MEDIA_READ_LIMIT = 64_000_000  # the walk's own bound on images and PDFs


@dataclass
class PreparedSource:
    """A changed file ready to write: its new ledger state, its chunks, its previous state."""

    state: SourceState
    chunks: list[Chunk]
    old: SourceState | None


def same_stat(old: SourceState | None, src: SourceFile) -> bool:
    """Unchanged by (size, mtime): the cheap test that lets a re-run skip reading a file.
    An empty content hash marks a source to re-index (a dropped collection, a repaired store)."""
    return (
        old is not None and old.status == "indexed" and bool(old.content_hash)
        and (old.size, old.mtime_ns) == (src.size, src.mtime_ns)
    )  # fmt: skip


class SourcePreparer:
    """Reads and chunks the changed files of one run; the run's `stack` holds its browser."""

    def __init__(
        self,
        store: VectorStore,
        config: IndexConfig,
        encoders: Mapping[str, Encoder],
        assets: Path | None,
        stack: contextlib.ExitStack,
        recheck_secrets: bool = False,
    ) -> None:
        self.store, self.config, self.encoders, self.assets = store, config, encoders, assets
        self._stack = stack
        self.recheck_secrets = recheck_secrets
        self._renderer: Any = None

    def prepare(self, src: SourceFile, old: SourceState | None, report: IndexReport) -> PreparedSource | None:
        """`src` read and chunked; None when it is unchanged or failed (counted in `report`).

        With `recheck_secrets`, an unchanged text file is read once more and refused if it holds
        a private key: it was indexed by an omnivec that did not look (see `secrets_checked`)."""
        recheck = self.recheck_secrets and src.scan_secrets and src.kind not in ("image", "pdf")
        if same_stat(old, src) and not recheck:
            report.unchanged += 1
            return None
        start = time.perf_counter()
        try:
            data = read_source(src.abs_path, max(self.config.max_file_bytes, MEDIA_READ_LIMIT))
            digest = hashlib.blake2b(data, digest_size=16).hexdigest()
            state = SourceState(src.path, digest, src.size, src.mtime_ns, 0, "indexed")
            if old is not None and old.status == "indexed" and old.content_hash == digest:
                if recheck and (secret := _private_key_in(data)) is not None:
                    report.skip(src.path, secret, {src.path: old})  # the indexed version is removed
                    return None
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
            report.skip(src.path, "deleted during the run", {})
            return None
        except (OSError, OmnivecError) as exc:
            report.skip(src.path, skip_reason(exc), {src.path: old} if old else {})
            return None
        finally:
            report.seconds["parse"] += time.perf_counter() - start
        return PreparedSource(state, chunks, old)

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


#: bump when the content check for secrets learns something new: stores read before are re-read once
SECRET_SCAN_VERSION = 1
SECRET_SCAN_FILE = "secret-scan"


def secrets_checked(store_dir: Path) -> bool:
    """Whether every file of the local store at `store_dir` was read by the current secret check."""
    marker = store_dir / SECRET_SCAN_FILE
    return marker.is_file() and marker.read_text().strip() == str(SECRET_SCAN_VERSION)


def mark_secrets_checked(store_dir: Path) -> None:
    (store_dir / SECRET_SCAN_FILE).write_text(f"{SECRET_SCAN_VERSION}\n")


def _private_key_in(data: bytes) -> str | None:
    """The secret skip reason when `data` (a text file's bytes) holds a private key."""
    try:
        return private_key_reason(decode_text(data))
    except OmnivecError:  # not text after all: it was never chunked as text either
        return None
