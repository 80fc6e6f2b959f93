"""Turn line records into chunk drafts that fit the encoder's token limit.

Every chunker produces `Draft`s: a context header (repeated on every piece) and a list of
`(line number, text)` records, so pieces keep exact source line numbers even when the body is not
a contiguous slice of the file (a class outline, text extracted from HTML). `fit` splits what is
too long, by lines and, for very long lines, inside the line; nothing is truncated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from omnivec.kinds import ChunkKind

Line = tuple[int, str]  # (1-based source line number, text without the newline)
CountTokens = Callable[[Sequence[str]], list[int]]

#: tokens an encoder may add around a text (special tokens, a document template); a text whose
#: UTF-8 length plus this is within the limit cannot exceed it, since no tokenizer in use produces
#: more tokens than bytes, so it is never counted.
TEMPLATE_SLACK = 64
#: aim below the limit when splitting: token density varies along a text
SPLIT_SAFETY = 0.9
_BREAK = re.compile(r"[\s,;:)\]}>]")


@dataclass
class Draft:
    """A chunk before `fit`: header + body lines, and what the final `Chunk` needs besides."""

    header: str
    lines: list[Line]
    symbol: str | None = None
    page: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    seq: tuple[int, ...] = ()
    span: tuple[int, int] | None = None  # the lines it stands for, when wider than its records
    kind: ChunkKind | None = None  # when not the file's (a notebook's Markdown cell is a doc)
    language: str | None = None  # when not the file's (a notebook's cells are in its kernel's)

    @property
    def display(self) -> str:
        return "\n".join(text for _, text in self.lines)

    @property
    def text(self) -> str:
        return self.header + self.display

    @property
    def start_line(self) -> int:
        if self.span is not None:
            return self.span[0]
        return self.lines[0][0] if self.lines else 1

    @property
    def end_line(self) -> int:
        if self.span is not None:
            return self.span[1]
        return max(n for n, _ in self.lines) if self.lines else 1


def numbered(text: str, first: int = 1) -> list[Line]:
    """`text` as line records starting at line `first`."""
    return [(first + i, line) for i, line in enumerate(text.split("\n"))]


def has_words(lines: Sequence[Line]) -> bool:
    """False for bodies of only blank lines and punctuation (a lone `}` or `end;`-like debris)."""
    return any(any(c.isalnum() for c in text) for _, text in lines)


def windows(lines: Sequence[Line], max_lines: int, max_chars: int, overlap: int) -> list[list[Line]]:
    """Consecutive windows of at most `max_lines` lines / `max_chars` characters, overlapping by
    `overlap` lines, cut at a blank line when one is near the end. Long lines are cut first."""
    recs = _cut_long_lines(lines, max_chars)
    out: list[list[Line]] = []
    i = 0
    while i < len(recs):
        while i < len(recs) and not recs[i][1].strip():
            i += 1  # never start a window on blank lines
        if i >= len(recs):
            break
        j, chars = i, 0
        while j < len(recs) and j - i < max_lines and (j == i or chars + len(recs[j][1]) < max_chars):
            chars += len(recs[j][1]) + 1
            j += 1
        if j < len(recs):
            j = _blank_line_before(recs, i, j)
        out.append(_trim(recs[i:j]))
        if j >= len(recs):
            break
        i = max(j - _overlap(recs, j, overlap, max_chars // 4), i + 1)
    return [w for w in out if w]


def _overlap(recs: Sequence[Line], j: int, lines: int, max_chars: int) -> int:
    """Up to `lines` lines before `j`, fewer when they would repeat more than `max_chars`."""
    k, chars = 0, 0
    while k < lines and j - k - 1 >= 0 and chars + len(recs[j - k - 1][1]) <= max_chars:
        k += 1
        chars += len(recs[j - k][1])
    return k


def fit(drafts: Sequence[Draft], max_tokens: int, count_tokens: CountTokens) -> list[Draft]:
    """Split drafts until each `text` has at most `max_tokens` tokens; order is kept.

    Tokens are only counted for texts that could exceed the limit, in one batch per round.
    """
    todo = [replace(d, seq=(i,)) for i, d in enumerate(drafts)]
    done: list[Draft] = []
    while todo:
        unsure = []
        for d in todo:
            if len(d.text.encode("utf-8", "surrogatepass")) + TEMPLATE_SLACK <= max_tokens:
                done.append(d)
            else:
                unsure.append(d)
        if not unsure:
            break
        counts = count_tokens([d.text for d in unsure])
        todo = []
        for d, n in zip(unsure, counts, strict=True):
            if n <= max_tokens:
                done.append(d)
            elif len(d.display) <= 1:
                done.append(replace(d, extra={**d.extra, "over_limit": n}))  # only a header this big
            else:
                todo.extend(_split(d, n, max_tokens))
    done.sort(key=lambda d: d.seq)
    return done


def _split(d: Draft, tokens: int, max_tokens: int) -> list[Draft]:
    chars_per_token = max(len(d.text), 1) / tokens
    header = _cap_header(d.header, int(max_tokens * chars_per_token / 4))
    body = d.display
    target = int(max_tokens * SPLIT_SAFETY * chars_per_token) - len(header)
    target = max(1, min(target, len(body) - 1))
    pieces = math.ceil(len(body) / target)
    parts = _pack(_cut_long_lines(d.lines, target), pieces)
    return [
        replace(d, header=header, lines=part, seq=(*d.seq, k), span=None, extra={**d.extra, "part": True})
        for k, part in enumerate(parts)
    ]


def _pack(lines: Sequence[Line], pieces: int) -> list[list[Line]]:
    """`pieces` runs of lines of about equal size (not full ones and a crumb): each line goes to
    the piece its middle character falls in."""
    total = sum(len(text) + 1 for _, text in lines)
    size = total / pieces
    parts: list[list[Line]] = [[] for _ in range(pieces)]
    done = 0
    for rec in lines:
        width = len(rec[1]) + 1
        parts[min(int((done + width / 2) / size), pieces - 1)].append(rec)
        done += width
    return [p for p in parts if p]


def _cut_long_lines(lines: Sequence[Line], max_chars: int) -> list[Line]:
    if all(len(text) <= max_chars for _, text in lines):
        return list(lines)
    out: list[Line] = []
    for n, text in lines:
        rest = text
        while len(rest) > max_chars:
            cut = _break_at(rest, max_chars)
            out.append((n, rest[:cut]))
            rest = rest[cut:]
        out.append((n, rest))
    return out


def _break_at(text: str, limit: int) -> int:
    """Cut before `limit`, after a space or closing punctuation in the last quarter when possible."""
    lo = limit - limit // 4
    for m in reversed(list(_BREAK.finditer(text, lo, limit))):
        return m.end()
    return limit


def _blank_line_before(recs: Sequence[Line], i: int, j: int) -> int:
    floor = i + (j - i) * 2 // 3
    for k in range(j - 1, floor, -1):
        if not recs[k][1].strip():
            return k + 1
    return j


def _trim(recs: list[Line]) -> list[Line]:
    while recs and not recs[-1][1].strip():
        recs = recs[:-1]
    return recs


def _cap_header(header: str, max_chars: int) -> str:
    if len(header) <= max_chars:
        return header
    first = header.split("\n", 1)[0]
    return first[: max(max_chars - 1, 0)] + "\n"
