"""What things are, in one table: the kind of a file, the kind of a chunk, which collection
(embedding space) a chunk goes to, and which `--type` values select it.

Every layer speaks this vocabulary: ingest labels files and chunks, the updater routes chunks to
collections, search turns `--type` into a filter on chunk kinds.

>>> collection_of("page"), kinds_for_type("screenshot")
('text', ('page', 'screenshot'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from omnivec.errors import InputError

FileKind = Literal["code", "doc", "pdf", "image"]
ChunkKind = Literal["code", "doc", "page", "image", "screenshot"]
Collection = Literal["text", "image", "screenshot"]
SearchType = Literal["any", "code", "doc", "image", "screenshot"]

SEARCH_TYPES: tuple[SearchType, ...] = get_args(SearchType)
COLLECTIONS: tuple[Collection, ...] = get_args(Collection)


@dataclass(frozen=True)
class KindInfo:
    """Where a chunk kind goes and how it is found."""

    collection: Collection
    #: `--type` values that select this kind (`any` selects every kind)
    types: tuple[SearchType, ...]
    #: what an encoder is told the item is, for a chunk that carries an image
    image_modality: Literal["image", "screenshot"] | None = None


CHUNK_KINDS: dict[ChunkKind, KindInfo] = {
    "code": KindInfo("text", ("code",)),
    "doc": KindInfo("text", ("doc",)),
    # a PDF page's text layer: a document, and also what a screenshot search wants to see
    "page": KindInfo("text", ("doc", "screenshot")),
    "image": KindInfo("image", ("image",), image_modality="image"),
    # page images: screenshots, scans, rendered pages (or their OCR passages, which carry no image)
    "screenshot": KindInfo("screenshot", ("screenshot",), image_modality="screenshot"),
}

#: the kind of the chunks cut from a file's own content (visual derivatives add image/screenshot)
FILE_CHUNK_KIND: dict[FileKind, ChunkKind] = {"code": "code", "doc": "doc", "pdf": "page", "image": "image"}


def collection_of(kind: str) -> Collection:
    """The collection a chunk kind is embedded into."""
    return _info(kind).collection


def kinds_for_type(search_type: str) -> tuple[ChunkKind, ...]:
    """The chunk kinds a `--type` value selects; `()` means every kind."""
    check_search_type(search_type)
    if search_type == "any":
        return ()
    return tuple(k for k, info in CHUNK_KINDS.items() if search_type in info.types)


def check_search_type(search_type: str) -> SearchType:
    if search_type not in SEARCH_TYPES:
        raise InputError(
            received=f"type {search_type!r}",
            expected=f"one of {', '.join(SEARCH_TYPES)}",
            fix="use type " + ", ".join(SEARCH_TYPES[1:]) + " or any",
            param="type",
        )
    return search_type  # type: ignore[return-value]


def _info(kind: str) -> KindInfo:
    try:
        return CHUNK_KINDS[kind]  # type: ignore[index]
    except KeyError:
        raise InputError(
            received=f"chunk kind {kind!r}",
            expected=f"one of {', '.join(CHUNK_KINDS)}",
            fix="label chunks with a kind from omnivec.kinds.CHUNK_KINDS",
        ) from None
