"""A search's hits: one per group (split symbol, or file when grouping), built from a record's
fields alone (the snippet is `fields["display"]`), with the scores that went into the fusion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omnivec.search.query import Query
from omnivec.search.regions import matched_regions
from omnivec.types import Hit


def add_hit(
    hits: list[Hit],
    seen: set[tuple[Any, ...]],
    q: Query,
    rid: str,
    score: float,
    fields: Mapping[str, Any],
    parts: tuple[float | None, ...] | None,
) -> bool:
    """Add the hit unless its group already has one; True once `hits` holds k."""
    key = group_key(rid, fields, q.group_by_file)
    if key in seen:
        return False
    seen.add(key)
    cosine, bm25 = parts if parts is not None else (None, None)
    hits.append(make_hit(rid, score, fields, q.text, dense_score=cosine, keyword_score=bm25))
    return len(hits) == q.k


def group_key(rid: str, f: Mapping[str, Any], by_file: bool) -> tuple[Any, ...]:
    if by_file:
        return ("file", f.get("path"))
    if f.get("symbol") and f.get("kind") == "code":
        return ("symbol", f.get("path"), f.get("symbol"))
    return ("id", rid)


_HIT_FIELDS = {"path", "start_line", "end_line", "symbol", "language", "kind", "display"}
_INTERNAL_FIELDS = {"words"}  # OCR word boxes: turned into `regions`, too long to hand out


def make_hit(
    rid: str,
    score: float,
    f: Mapping[str, Any],
    text: str | None,
    *,
    dense_score: float | None = None,
    keyword_score: float | None = None,
) -> Hit:
    return Hit(
        id=rid, score=score, dense_score=dense_score, keyword_score=keyword_score,
        path=f.get("path"), start_line=f.get("start_line"), end_line=f.get("end_line"),
        symbol=f.get("symbol"), language=f.get("language"), kind=f.get("kind"), snippet=f.get("display"),
        regions=matched_regions(f.get("words"), text),
        metadata={k: v for k, v in f.items() if k not in _HIT_FIELDS | _INTERNAL_FIELDS},
    )  # fmt: skip
