"""Core value types shared by every layer: items to embed, roles, and search hits."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from omnivec.errors import InputError

Role = Literal["query", "document"]
Modality = Literal["text", "code", "image", "screenshot"]
ROLES: tuple[str, ...] = get_args(Role)


@dataclass(frozen=True)
class Item:
    """One thing to embed: text, an image, or both (a composed query).

    `image` is a path or a `PIL.Image.Image`; encoders that cannot read images reject it.
    """

    text: str | None = None
    image: Any = None
    id: str | None = None
    modality: Modality = "text"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def content_hash(self) -> str:
        """A stable hash of what the encoder sees (text and image bytes), for caching."""
        h = hashlib.blake2b(digest_size=16)
        h.update(b"t:" + (self.text or "").encode("utf-8", "surrogatepass"))
        if self.image is not None:
            h.update(b"|i:" + _image_bytes(self.image))
        return h.hexdigest()


def _image_bytes(image: Any) -> bytes:
    if isinstance(image, (str, Path)):
        return Path(image).read_bytes()
    tobytes = getattr(image, "tobytes", None)
    if tobytes is None:
        raise InputError(
            received=f"an image of type {type(image).__name__}",
            expected="a file path or a PIL.Image.Image",
            fix="pass the image as a path or open it with PIL.Image.open",
        )
    return f"{image.mode}{image.size}".encode() + tobytes()


def check_role(role: str) -> Role:
    """Validate a role string; the error lists the accepted values."""
    if role not in ROLES:
        raise InputError(
            received=f"role {role!r}",
            expected=f"one of {', '.join(ROLES)}",
            fix="pass role='query' for search queries and role='document' for indexed content",
        )
    return role  # type: ignore[return-value]


def as_items(inputs: Iterable[str | bytes | Item]) -> list[Item]:
    """Turn user inputs into `Item`s, rejecting None, empty text and undecodable bytes by position."""
    if isinstance(inputs, (str, bytes, Item)):  # iterating a str would embed each character
        raise InputError(
            received=f"a single {type(inputs).__name__} ({str(inputs)[:40]!r})",
            expected="a list of inputs (str, UTF-8 bytes or omnivec.Item)",
            fix="wrap it in a list: encode([text]) returns one row",
        )
    items: list[Item] = []
    for i, x in enumerate(inputs):
        if isinstance(x, Item):
            item = x
        elif isinstance(x, bytes):
            try:
                item = Item(text=x.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise InputError(
                    received=f"input #{i}: bytes that are not valid UTF-8 ({exc.reason} at byte {exc.start})",
                    expected="str or UTF-8 bytes",
                    fix="decode the bytes yourself, e.g. data.decode('latin-1'), before embedding",
                ) from exc
        elif isinstance(x, str):
            item = Item(text=x)
        else:
            raise InputError(
                received=f"input #{i} of type {type(x).__name__}",
                expected="str, UTF-8 bytes or omnivec.Item",
                fix="drop missing values before embedding"
                if x is None
                else f"convert each input to str (got {x!r:.40})",
            )
        if item.image is None and not (item.text or "").strip():
            raise InputError(
                received=f"input #{i}: empty text",
                expected="non-empty text or an image",
                fix="filter out empty strings before embedding",
            )
        items.append(item)
    return items


@dataclass(frozen=True)
class Hit:
    """One search result.

    `score` orders one result list and is only comparable within it: the fused score (a weighted
    sum of z-scores: how many standard deviations above the average of the top results, dense
    and keyword) when dense and keyword results of one collection were fused; the cosine or
    the BM25 score itself when only one of them ran; a reciprocal-rank value when collections of
    different embedding spaces were merged. `dense_score` is the cosine similarity between the
    query and the hit (-1 to 1; None when the hit was not among the dense results) and
    `keyword_score` its BM25 score (0 and up, unbounded; None when no query term matched), the
    two numbers that went into the fusion. `keyword_engine` names what computed the keyword side
    of the search (`SearchResults.keyword_engine`; None when the search ran no keyword side).

    `regions` are boxes (left, top, width, height) on a page image where the query's words were
    read; `metadata` holds the rest of what the store keeps (page, image, thumbnail, ...).
    """

    id: str
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None
    path: str | None = None
    start_line: int | None = None
    end_line: int | None = None
    symbol: str | None = None
    language: str | None = None
    kind: str | None = None
    snippet: str | None = None
    regions: tuple[tuple[int, int, int, int], ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    keyword_engine: str | None = None  # last: positional construction keeps its meaning

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: the one shape of a hit for the CLI, the server and MCP."""
        out: dict[str, Any] = {
            "id": self.id, "score": round(self.score, 6), "dense_score": _round(self.dense_score),
            "keyword_score": _round(self.keyword_score), "keyword_engine": self.keyword_engine,
            "path": self.path, "start_line": self.start_line, "end_line": self.end_line, "symbol": self.symbol,
            "language": self.language, "kind": self.kind, "snippet": self.snippet,
            "regions": [list(r) for r in self.regions],
        }  # fmt: skip
        out.update({k: v for k, v in self.metadata.items() if k not in out})
        return out


class SearchResults(list[Hit]):
    """A search's hits, best first (a plain list of `Hit`), and the keyword engine that answered.

    `keyword_engine` is the store's name for the engine behind the keyword (BM25) side:
    `omnivec-bm25` (the embedded store's index), `omnivec-scan` (omnivec's exact scoring over rows
    read back from Milvus) or `milvus-bm25` (Milvus full-text search); several names joined by
    "+" when the searched collections use different engines; None when the search ran no keyword
    side (dense mode, image queries). Every hit carries the same value.
    """

    def __init__(self, hits: Iterable[Hit] = (), keyword_engine: str | None = None) -> None:
        super().__init__(hits)
        self.keyword_engine = keyword_engine


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 6)
