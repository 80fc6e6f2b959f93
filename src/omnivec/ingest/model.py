"""Value types of the ingest layer: files found by `walk`, files it skipped, and chunks to embed."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omnivec.kinds import ChunkKind, FileKind


@dataclass(frozen=True)
class Chunk:
    """One unit to embed.

    `text` is what the encoder sees: a short context header (path, enclosing scopes) plus the body;
    `display` is the raw body for snippets. Lines are 1-based and inclusive; PDF pages count their
    own lines from 1. For images, `image` is the absolute path of the file to embed and
    `extra["image_hash"]` the digest of its bytes (so `content_hash` never re-reads the file).
    """

    text: str
    display: str
    path: str
    kind: ChunkKind
    language: str | None
    symbol: str | None
    start_line: int
    end_line: int
    page: int | None = None
    image: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def content_hash(self) -> str:
        """A stable digest of what gets embedded: kind, text and the image bytes' digest."""
        h = hashlib.blake2b(digest_size=16)
        h.update(self.kind.encode())
        h.update(b"|")
        h.update(self.text.encode("utf-8", "surrogatepass"))
        h.update(b"|")
        h.update(str(self.extra.get("image_hash", "")).encode())
        return h.hexdigest()


@dataclass(frozen=True)
class SourceFile:
    """A file `walk` found worth chunking. `path` is relative to the walked root, posix style.

    `scan_secrets`: `chunk_source` refuses text holding a private key. Only `walk` sets it (unless
    told `include_secrets`): a pushed document or a file named on its own was asked for by name.
    """

    path: str
    abs_path: Path
    size: int
    mtime_ns: int
    kind: FileKind
    language: str | None
    scan_secrets: bool = False


@dataclass(frozen=True)
class Skipped:
    """A file or folder `walk` (or the indexer) left out, with a short human reason."""

    path: str
    reason: str
