"""Pushed documents: content that arrives by id (an API call) rather than as files in a folder.

Each document is its own source, `doc:<id>`, written with the same store calls as the folder
indexer (`replace_source_all` / `remove_source`), one transaction per document: a crash leaves
every document either at its old version or at its new one, never half-written. The folder
indexer leaves these sources alone (they are not files, so "not seen in the walk" means nothing).

>>> idx.apply_documents(upsert=[Document("faq-1", "How do I reset my password?")])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omnivec.errors import InputError
from omnivec.ingest import SourceFile, chunk_source
from omnivec.stores.base import Record, SourceState

if TYPE_CHECKING:
    from omnivec.encoders.base import Encoder
    from omnivec.stores.base import VectorStore

SOURCE_PREFIX = "doc:"
COLLECTION = "text"
MAX_ID_CHARS = 256


@dataclass(frozen=True)
class Document:
    """A pushed text document. `metadata` must be JSON data; it comes back with each hit."""

    id: str
    text: str
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class DocumentsReport:
    upserted: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    chunks: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "upserted": self.upserted, "unchanged": self.unchanged, "deleted": self.deleted,
            "not_found": self.not_found, "chunks": self.chunks,
        }  # fmt: skip


def source_of(doc_id: str) -> str:
    return SOURCE_PREFIX + doc_id


def is_document_source(source: str) -> bool:
    return source.startswith(SOURCE_PREFIX)


def check_documents(upsert: Sequence[Document], delete: Sequence[str]) -> None:
    """Refuse bad ids, empty texts, non-JSON metadata and an id both upserted and deleted."""
    seen: set[str] = set()
    for i, doc in enumerate(upsert):
        _check_id(doc.id, f"upsert #{i}")
        if doc.id in seen:
            raise InputError(f"upsert #{i}: id {doc.id!r} twice", "each id once per call", "merge them")
        seen.add(doc.id)
        if not isinstance(doc.text, str) or not doc.text.strip():
            raise InputError(f"upsert #{i} ({doc.id!r}): empty text", "non-empty text", "send the text")
        try:
            json.dumps(dict(doc.metadata))
        except (TypeError, ValueError) as exc:
            raise InputError(
                received=f"upsert #{i} ({doc.id!r}): metadata that is not JSON data ({exc})",
                expected="a JSON object of strings, numbers, booleans, lists and objects",
                fix="convert the values to JSON types",
            ) from exc
    for i, doc_id in enumerate(delete):
        _check_id(doc_id, f"delete #{i}")
        if doc_id in seen:
            raise InputError(
                received=f"id {doc_id!r} in both upsert and delete",
                expected="an id in one of the lists",
                fix="send the delete and the upsert in separate calls, in the order you want",
            )


def _check_id(doc_id: Any, where: str) -> None:
    if (
        not isinstance(doc_id, str) or not doc_id.strip() or len(doc_id) > MAX_ID_CHARS
        or any(ord(c) < 32 for c in doc_id)
    ):  # fmt: skip
        raise InputError(
            received=f"{where}: id {doc_id!r}",
            expected=f"a non-empty string of at most {MAX_ID_CHARS} characters without control characters",
            fix="use your own stable key, e.g. 'faq-12' or a URL",
        )


def apply_documents(
    store: VectorStore, encoder: Encoder, upsert: Sequence[Document], delete: Sequence[str]
) -> DocumentsReport:
    """Upsert then delete; one embedding call for every new chunk, one transaction per document."""
    check_documents(upsert, delete)
    store.ensure_collection(
        COLLECTION, model=encoder.spec.name, fingerprint=encoder.fingerprint, dim=encoder.dim,
        recipe=encoder.spec.recipe(),
    )  # fmt: skip
    report = DocumentsReport()
    existing = store.sources()
    todo: list[tuple[Document, SourceState, list[Any]]] = []
    for doc in upsert:
        state = _state(doc)
        old = existing.get(state.source)
        if old is not None and old.status == "indexed" and old.content_hash == state.content_hash:
            report.unchanged.append(doc.id)
            continue
        todo.append((doc, state, _chunks(doc, state.source, encoder)))
    texts = [c.text for _, _, chunks in todo for c in chunks]
    vectors: Any = encoder.embed(texts, role="document").vectors if texts else []
    pos = 0
    for doc, state, chunks in todo:
        records = [_record(doc, state.source, n, c, vectors[pos + n]) for n, c in enumerate(chunks)]
        pos += len(chunks)
        store.replace_source_all(state, {COLLECTION: records})  # one transaction per document
        report.upserted.append(doc.id)
        report.chunks += len(records)
    for doc_id in delete:
        if source_of(doc_id) in existing:
            store.remove_source(source_of(doc_id))
            report.deleted.append(doc_id)
        else:
            report.not_found.append(doc_id)
    store.flush()
    return report


def _state(doc: Document) -> SourceState:
    blob = json.dumps({"text": doc.text, "metadata": dict(doc.metadata)}, sort_keys=True).encode()
    digest = hashlib.blake2b(blob, digest_size=16).hexdigest()
    return SourceState(source_of(doc.id), digest, len(doc.text.encode()), time.time_ns(), 0, "indexed")


def _chunks(doc: Document, source: str, encoder: Encoder) -> list[Any]:
    """The folder indexer's text chunking: split to fit the model, never truncated."""
    data = doc.text.encode("utf-8", "surrogatepass")
    src = SourceFile(source, Path(source), len(data), 0, "doc", None)
    return chunk_source(
        src, data, max_tokens=encoder.spec.max_length, count_tokens=lambda t: encoder.token_counts(list(t))
    )


def _record(doc: Document, source: str, ordinal: int, chunk: Any, vector: Any) -> Record:
    fields = {
        "path": source, "kind": "doc", "language": None, "symbol": chunk.symbol,
        "start_line": chunk.start_line, "end_line": chunk.end_line, "display": chunk.display,
        "content_hash": chunk.content_hash, "document_id": doc.id, "metadata": dict(doc.metadata),
    }  # fmt: skip
    rid = f"{source}#{ordinal}:{chunk.content_hash[:10]}"
    return Record(id=rid, source=source, vector=vector, text=chunk.text, fields=fields)
