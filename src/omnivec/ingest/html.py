"""HTML -> sections by h1-h6, with the standard library parser (lenient; see `html_sections` for the
one malformed construct it raises on).

Text is whitespace-collapsed except inside <pre>; <script>, <style> and friends are dropped; each
output line remembers the source line it came from, so chunks point at the HTML's real lines.
"""

from __future__ import annotations

from html.parser import HTMLParser

from omnivec.ingest.docs import Section, _Outline

# the <title> is kept apart (it heads the text before the first heading), not in the body text
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "math", "title"})
_BLOCK = frozenset({
    "p", "div", "br", "li", "ul", "ol", "tr", "td", "th", "table", "section", "article", "header",
    "footer", "nav", "aside", "main", "blockquote", "pre", "dt", "dd", "dl", "figure",
    "figcaption", "hr", "form", "details", "summary", "caption", "body", "html",
})  # fmt: skip
_HEADINGS = {f"h{i}": i for i in range(1, 7)}


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _Outline()
        self.title = ""
        self.skip = 0  # depth inside dropped elements
        self.pre = 0
        self.heading: tuple[int, int] | None = None  # (level, line) while inside <hN>
        self.buf: list[str] = []
        self.buf_line = 0
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
        if tag in _SKIP:
            self.skip += 1
        elif tag in _HEADINGS and not self.skip:
            self.flush()
            self.heading = (_HEADINGS[tag], self.getpos()[0])
        elif tag in _BLOCK:
            self.flush()
            self.pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        if tag in _SKIP:
            self.skip = max(0, self.skip - 1)
        elif tag in _HEADINGS and self.heading is not None:
            level, line = self.heading
            text = " ".join("".join(self.buf).split())
            self.buf = []
            self.heading = None
            if text:
                self.out.heading(level, text).lines.append((line, text))
        elif tag in _BLOCK:
            self.flush()
            self.pre = max(0, self.pre - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title += data
        if self.skip:
            return
        line = self.getpos()[0]
        if self.pre and self.heading is None:
            self._pre_data(data, line)
            return
        if not self.buf:
            self.buf_line = line
        self.buf.append(data)

    def _pre_data(self, data: str, line: int) -> None:
        parts = data.split("\n")
        for k, part in enumerate(parts):
            if k:
                self.flush(keep_space=True)
            if part:
                if not self.buf:
                    self.buf_line = line + k
                self.buf.append(part)

    def flush(self, keep_space: bool = False) -> None:
        if self.heading is not None or not self.buf:
            return
        joined = "".join(self.buf)
        text = joined.rstrip() if keep_space else " ".join(joined.split())
        if text.strip():
            self.out.add((self.buf_line, text))
        self.buf = []


def html_sections(text: str) -> list[Section]:
    """Sections of an HTML page; text before the first heading is headed by the <title>."""
    try:
        parser = _parse(text)
    except AssertionError:
        # CPython's _markupbase (3.12 and older) asserts on a malformed "<![" marked section such
        # as "<![<!<" (found by fuzzing); read those as text rather than lose the page
        parser = _parse(text.replace("<![", "&lt;!["))
    parser.flush()
    sections = parser.out.sections
    title = " ".join(parser.title.split())
    if title and not sections[0].titles:
        sections[0].titles = [title]
    return sections


def _parse(text: str) -> _Extractor:
    parser = _Extractor()
    parser.feed(text)
    parser.close()
    return parser
