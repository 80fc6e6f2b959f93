"""Text documents -> chunk drafts, one or more per section; `symbol` is the heading path.

Markdown (ATX `#` and setext `===`/`---` headings, fenced code skipped, front matter kept with the
preamble), reStructuredText (underlined and over+underlined titles, levels in order of first use)
and plain text (paragraph windows). HTML is in `omnivec.ingest.html`. A section longer than a
window is cut into overlapping windows, preferably at blank lines, each repeating the heading path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from omnivec.ingest.split import Draft, Line, has_words, windows

WINDOW_LINES, WINDOW_CHARS, WINDOW_OVERLAP = 80, 2400, 2
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_OR_QUOTE = re.compile(r"^ {0,3}([-+*>]|\d+[.)])(\s|$)")
_RST_ADORNMENT = set("=-~`^\"'#*+:._!$%&,/;<>?@[\\]{|}")


@dataclass
class Section:
    """A heading path and the lines under it (the heading line included)."""

    titles: list[str]
    lines: list[Line] = field(default_factory=list)

    @property
    def symbol(self) -> str | None:
        return " > ".join(self.titles) or None


def section_drafts(sections: list[Section], path: str) -> list[Draft]:
    """Windows over each section, headed by the path and the heading path."""
    drafts = []
    for s in sections:
        if not has_words(s.lines):
            continue
        header = f"{path}\n" + (f"{s.symbol}\n" if s.symbol else "")
        for w in windows(s.lines, WINDOW_LINES, WINDOW_CHARS, WINDOW_OVERLAP):
            drafts.append(Draft(header, w, symbol=s.symbol))
    return drafts


class _Outline:
    """Builds sections as headings arrive: a heading closes the current section."""

    def __init__(self) -> None:
        self.levels: list[tuple[int, str]] = []
        self.sections = [Section([])]

    def heading(self, level: int, title: str) -> Section:
        while self.levels and self.levels[-1][0] >= level:
            self.levels.pop()
        self.levels.append((level, title.strip()))
        section = Section([t for _, t in self.levels])
        self.sections.append(section)
        return section

    def add(self, rec: Line) -> None:
        self.sections[-1].lines.append(rec)


def markdown_sections(text: str) -> list[Section]:
    lines = text.split("\n")
    out = _Outline()
    fence: str | None = None
    start = _front_matter_end(lines)
    for i in range(start):
        out.add((i + 1, lines[i]))
    for i in range(start, len(lines)):
        line = lines[i]
        m = _FENCE.match(line)
        if m and (fence is None or (m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence))):
            fence = None if fence else m.group(1)
        elif fence is None and (atx := _ATX.match(line)):
            out.heading(len(atx.group(1)), atx.group(2) or "")
        elif fence is None and _is_setext(lines, i, out.sections[-1]):
            title = out.sections[-1].lines.pop()
            out.heading(1 if line.lstrip()[0] == "=" else 2, title[1].strip()).lines.append(title)
        out.add((i + 1, line))
    return out.sections


def _front_matter_end(lines: list[str]) -> int:
    if not lines or lines[0].strip() != "---":
        return 0
    for i in range(1, min(len(lines), 200)):
        if lines[i].strip() in ("---", "..."):
            return i + 1
    return 0


def _is_setext(lines: list[str], i: int, current: Section) -> bool:
    if i == 0 or not _SETEXT.match(lines[i]) or not current.lines:
        return False
    prev = lines[i - 1]
    if not prev.strip() or _LIST_OR_QUOTE.match(prev) or _ATX.match(prev) or current.lines[-1][0] != i:
        return False
    # only a one-line paragraph: a longer paragraph followed by `---` is more often a rule
    return i < 2 or not lines[i - 2].strip() or bool(current.titles and current.lines[0][0] == i - 1)


def rst_sections(text: str) -> list[Section]:
    lines = text.split("\n")
    out = _Outline()
    styles: list[tuple[str, bool]] = []
    i = 0
    while i < len(lines):
        title = lines[i]
        under = lines[i + 1] if i + 1 < len(lines) else ""
        if title.strip() and not title[0].isspace() and _is_adornment(under, title):
            over = i > 0 and lines[i - 1].rstrip() == under.rstrip()
            style = (under.strip()[0], over)
            if style not in styles:
                styles.append(style)
            section = out.heading(styles.index(style) + 1, title)
            if over and out.sections[-2].lines and out.sections[-2].lines[-1][0] == i:
                section.lines.append(out.sections[-2].lines.pop())  # the overline belongs here
            section.lines += [(i + 1, title), (i + 2, under)]
            i += 2
            continue
        out.add((i + 1, title))
        i += 1
    return out.sections


def _is_adornment(line: str, title: str) -> bool:
    s = line.rstrip()
    if len(s) < 2 or s[0] not in _RST_ADORNMENT or len(set(s)) != 1 or not title.strip():
        return False
    return len(s) >= len(title.strip()) or len(s) >= 4  # docutils accepts short ones, with a warning


def text_sections(text: str) -> list[Section]:
    """Plain text has no headings: one section, windowed at paragraph breaks."""
    return [Section([], [(i + 1, t) for i, t in enumerate(text.split("\n"))])]
