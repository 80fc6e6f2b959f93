"""Trim a hit's snippet to what fits an agent's context, saying what was left out and where.

>>> s = trim_snippet("a\\nb\\nc\\nd", start_line=10, max_lines=2)
>>> s.text, s.trimmed, s.note
('a\\nb', True, 'trimmed: lines 10-11 of 10-13 shown; read lines 12-13 for the rest')
"""

from __future__ import annotations

from dataclasses import dataclass

from omnivec.errors import InputError


@dataclass(frozen=True)
class Snippet:
    """The first lines of a chunk's text, at most `max_lines` lines and `max_chars` characters."""

    text: str
    trimmed: bool
    total_lines: int
    shown_lines: int
    note: str | None = None  # for a trimmed snippet: what is shown and which lines hold the rest


def trim_snippet(
    text: str | None, *, start_line: int | None = None, max_lines: int = 12, max_chars: int = 800
) -> Snippet:
    """Keep whole lines from the top; a single line longer than `max_chars` is cut at `max_chars`.

    `start_line` (1-based, the chunk's first line in its file) lets the note name file lines.
    """
    if max_lines < 1 or max_chars < 1:
        raise InputError(
            received=f"max_lines={max_lines}, max_chars={max_chars}",
            expected="at least one line and one character",
            fix="pass max_lines=12, max_chars=800, for example",
        )
    lines = (text or "").splitlines()
    kept: list[str] = []
    size = 0
    for line in lines[:max_lines]:
        if size + len(line) + (1 if kept else 0) > max_chars:
            if not kept:  # one very long line (minified code, a paragraph): cut inside it
                kept.append(line[:max_chars])
            break
        size += len(line) + (1 if kept else 0)
        kept.append(line)
    cut_inside = bool(kept) and len(kept[-1]) < len(lines[len(kept) - 1])
    trimmed = len(kept) < len(lines) or cut_inside
    return Snippet(
        text="\n".join(kept),
        trimmed=trimmed,
        total_lines=len(lines),
        shown_lines=len(kept),
        note=_note(len(kept), len(lines), start_line, cut_inside) if trimmed else None,
    )


def _note(shown: int, total: int, start: int | None, cut_inside: bool) -> str:
    if start is None:
        return f"trimmed: {shown} of {total} lines shown" + (", the last one cut" if cut_inside else "")
    first_rest = start + shown - (1 if cut_inside else 0)
    last = start + total - 1
    shown_range = f"lines {start}-{start + shown - 1} of {start}-{last} shown"
    cut = " (the last one cut)" if cut_inside else ""
    return f"trimmed: {shown_range}{cut}; read lines {first_rest}-{last} for the rest"
