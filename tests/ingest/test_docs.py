"""Documents: heading paths for Markdown, reST and HTML; paragraph windows for plain text."""

from __future__ import annotations

import itertools

import pytest

from omnivec.errors import InputError
from tests.ingest.helpers import chunks_of, symbols

MARKDOWN = """\
---
title: front matter
---
Intro paragraph.

# Install

Get it.

## Linux

```bash
# not a heading: inside a fence
apt install omnivec
```

Setext Title
============

Body text.

Usage
-----
Run it.
"""

RST = """\
=======
Project
=======

Intro.

Install
-------

Text here.

Linux
~~~~~

apt.

Usage
-----
Go.
"""

HTML = """\
<html><head><title>My Page</title><style>p { color: red }</style></head>
<body>
<p>Before any heading</p>
<h1>Guide</h1>
<p>Para one
continues here.</p>
<script>var hidden = 1;</script>
<h2>Setup <em>fast</em></h2>
<pre>line a
line b</pre>
<h2>Other</h2><p>x &amp; y</p>
</body></html>
"""


def test_markdown_heading_paths_and_lines() -> None:
    chunks = chunks_of("docs/guide.md", MARKDOWN)
    assert symbols(chunks) == [
        (None, 1, 4),
        ("Install", 6, 8),
        ("Install > Linux", 10, 15),
        ("Setext Title", 17, 20),
        ("Setext Title > Usage", 22, 24),
    ]
    linux = chunks[2]
    assert linux.kind == "doc" and linux.language == "markdown"
    assert linux.text.startswith("docs/guide.md\nInstall > Linux\n## Linux")
    assert "# not a heading" in linux.display


def test_rst_heading_levels_follow_first_use() -> None:
    assert symbols(chunks_of("index.rst", RST)) == [
        ("Project", 1, 5),
        ("Project > Install", 7, 10),
        ("Project > Install > Linux", 12, 15),
        ("Project > Usage", 17, 19),
    ]


def test_html_sections_drop_scripts_and_keep_source_lines() -> None:
    chunks = chunks_of("site/page.html", HTML)
    assert symbols(chunks) == [
        ("My Page", 3, 3),
        ("Guide", 4, 5),
        ("Guide > Setup fast", 8, 10),
        ("Guide > Other", 11, 11),
    ]
    assert chunks[1].display == "Guide\nPara one continues here."
    assert chunks[2].display == "Setup fast\nline a\nline b"
    assert chunks[3].display == "Other\nx & y"
    assert not any("hidden" in c.text or "color" in c.text for c in chunks)


def test_long_section_is_windowed_with_overlap_and_heading_repeated() -> None:
    paras = "\n\n".join(f"Paragraph {i} " + "lorem ipsum " * 30 for i in range(30))
    chunks = chunks_of("long.md", f"# Top\n\n## Deep\n\n{paras}\n")
    deep = [c for c in chunks if c.symbol == "Top > Deep"]
    assert len(deep) > 3
    assert all(c.text.startswith("long.md\nTop > Deep\n") for c in deep)
    for a, b in itertools.pairwise(deep):
        assert b.start_line <= a.end_line + 1
    assert deep[-1].end_line == 63


def test_plain_text_is_cut_at_paragraphs() -> None:
    text = "\n\n".join(f"Paragraph {i}: " + "words " * 60 for i in range(40))
    chunks = chunks_of("notes.txt", text)
    assert len(chunks) > 3
    assert all(c.symbol is None for c in chunks)
    assert all(c.display.startswith("Paragraph") for c in chunks)


def test_invalid_utf8_names_the_byte_offset() -> None:
    with pytest.raises(InputError, match="at byte 6"):
        chunks_of("bad.md", b"hello \xff\xfe world")


def test_nul_bytes_are_binary_content() -> None:
    with pytest.raises(InputError, match="binary content"):
        chunks_of("weird.py", b"x = 1\n\x00\x01\x02")


def test_bom_and_crlf_are_normalised() -> None:
    (chunk,) = chunks_of("win.md", "\ufeff# Title\r\n\r\nBody\r\n".encode())
    assert chunk.symbol == "Title" and chunk.display == "# Title\n\nBody"
    (utf16,) = chunks_of("u16.txt", "hello utf16".encode("utf-16"))
    assert utf16.display == "hello utf16"


def test_a_lone_carriage_return_inside_a_line_does_not_shift_line_numbers() -> None:
    # git, grep and editors count LF only: the function starts on line 4
    text = "X = 'a\rb'\n\n\ndef target():\n    return 1\n"
    (chunk,) = [c for c in chunks_of("a.py", text) if c.symbol == "target"]
    assert (chunk.start_line, chunk.end_line) == (4, 5)
    (js,) = [
        c for c in chunks_of("b.js", "const s = 'a\rb';\nfunction target() {\n  return 1;\n}\n") if c.symbol
    ]
    assert js.start_line == 2
    # a classic-Mac file (CR only) still has its lines
    (mac,) = [c for c in chunks_of("mac.py", "x = 1\r\rdef target():\r    return 1\r") if c.symbol]
    assert (mac.start_line, mac.end_line) == (3, 4)


def test_declared_encoding_is_honoured() -> None:
    src = "# -*- coding: latin-1 -*-\ndef caf\u00e9():\n    return '\u00e9t\u00e9'\n".encode("latin-1")
    (chunk,) = [c for c in chunks_of("old.py", src) if c.symbol]
    assert chunk.symbol == "caf\u00e9" and "\u00e9t\u00e9" in chunk.display
