"""The second phase of a progressive run: embed what the store holds without a vector.

The first phase writes every changed file's records with no vector (`NO_VECTOR`), so the whole
folder is keyword-searchable before any model runs. This phase then asks the store for pending
records, oldest first, embeds them a batch at a time and fills them in with `set_vectors`, one
transaction per batch. A run killed here loses at most the batch in flight; the next run finds
exactly the records still pending and embeds only those. Records the encoder rejects stay pending
(keyword-searchable) and are reported; the next run tries them again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from omnivec.errors import OmnivecError
from omnivec.ingest.policy import one_line
from omnivec.kinds import CHUNK_KINDS
from omnivec.stores.base import PendingVectors, Record

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder, EncodeResult
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.types import Item

log = logging.getLogger(__name__)


# Embeds a collection's pending items as documents; another engine (omnivec.index.ray_engine)
# replaces the in-process call. It must return what `Encoder.embed` returns, in item order.
Embedder = Callable[["Encoder", "list[Item]", "EmbeddingCache | None"], "EncodeResult"]


class Engine(Protocol):
    """Where embedding runs: `embed` is an `Embedder`; `pending_chunks` sizes its batches."""

    pending_chunks: int

    def embed(self, enc: Encoder, items: list[Item], cache: EmbeddingCache | None) -> EncodeResult: ...


def embed_here(enc: Encoder, items: list[Item], cache: EmbeddingCache | None) -> EncodeResult:
    """The default engine: this process, the encoder's own batching."""
    return enc.embed(items, role="document", cache=cache)


@dataclass
class EmbedOutcome:
    """What one embedding pass did: chunks embedded and truncated, sources that failed (reason)."""

    embedded: int = 0
    truncated: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def embed_pending(
    store: PendingVectors,
    encoders: Mapping[str, Encoder],
    cache: EmbeddingCache | None,
    batch: int,
    on_batch: Callable[[int], None] = lambda n: None,
    embedder: Embedder = embed_here,
) -> EmbedOutcome:
    """Embed every pending record of the collections in `encoders`; `on_batch(n)` after each commit."""
    out = EmbedOutcome()
    for coll, enc in encoders.items():
        failed_here = 0  # failures stay pending, oldest first: skip past them
        while recs := store.pending(coll, batch, failed_here):
            vectors: dict[str, Any] = {}
            failures = _embed(embedder, enc, recs, cache, vectors, out)
            store.set_vectors(coll, vectors)
            failed_here += sum(1 for r in recs if r.source in failures)
            out.failed.update(failures)
            out.embedded += len(vectors)
            on_batch(len(vectors))
    return out


def _embed(
    embedder: Embedder, enc: Encoder, recs: list[Record], cache: EmbeddingCache | None,
    out: dict[str, Any], outcome: EmbedOutcome,
) -> dict[str, str]:  # fmt: skip
    """One call for the batch; if it fails, source by source so one bad file fails alone."""
    try:
        res = embedder(enc, [record_item(r) for r in recs], cache)
    except Exception as exc:  # one bad item must not stop the run: isolate it below
        sources = sorted({r.source for r in recs})
        if len(sources) == 1:
            log.debug("embedding failed for %s", sources[0], exc_info=True)
            return {sources[0]: skip_reason(exc)}
        failures: dict[str, str] = {}
        for src in sources:
            failures.update(_embed(embedder, enc, [r for r in recs if r.source == src], cache, out, outcome))
        return failures
    outcome.truncated += len(res.truncated)
    out.update((r.id, vec) for r, vec in zip(recs, res.vectors))
    return {}


def record_item(rec: Record) -> Any:
    """The item a stored record was made from: its image, or its text as code or prose."""
    from omnivec.types import Item

    kind = str(rec.fields.get("kind") or "")
    image = rec.fields.get("image")
    if image:
        modality = CHUNK_KINDS[kind].image_modality if kind in CHUNK_KINDS else None
        return Item(text=None, image=image, modality=modality or "image")
    return Item(text=rec.text, modality="code" if kind == "code" else "text")


def skip_reason(exc: Exception) -> str:
    """One clean line for a skip: the OS's words for OS errors, ours for our own."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, OmnivecError):
        return one_line(exc.received)
    if isinstance(exc, OSError) and exc.strerror:
        return one_line(f"cannot read ({exc.strerror})")
    return one_line(f"could not be processed ({type(exc).__name__}: {exc})")
