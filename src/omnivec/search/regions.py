"""Where on a page image a hit matched: the boxes of the query's words, from the OCR word boxes
the store keeps with each page passage (no OCR at query time)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omnivec.ocr import Box, matching_boxes


def matched_regions(words: Sequence[Sequence[Any]] | None, query: str | None) -> tuple[Box, ...]:
    """Boxes (left, top, width, height) of stored `[word, left, top, width, height]` rows that
    match a query term; `()` without words (not a page passage) or without query text."""
    if not words or not query:
        return ()
    pairs = ((str(w[0]), (int(w[1]), int(w[2]), int(w[3]), int(w[4]))) for w in words if len(w) == 5)
    return tuple(matching_boxes(pairs, query))
