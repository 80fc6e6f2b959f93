"""The token limit: chunks are split (header repeated), never truncated, and counted sparingly."""

from __future__ import annotations

import itertools

from omnivec.ingest import chunk_source
from omnivec.ingest.split import Draft, fit, numbered, windows
from tests.ingest.helpers import CountingTokens, chunks_of, source


def _long_function(n: int) -> str:
    body = "".join(f"        total = total + value_{i} * factor\n" for i in range(n))
    return f"class Acc:\n    def run(self, factor):\n        total = 0\n{body}        return total\n"


def test_big_function_is_split_by_lines_with_the_header_repeated() -> None:
    text = _long_function(200)
    data = text.encode()
    count = CountingTokens()
    chunks = chunk_source(source("acc.py", data), data, max_tokens=120, count_tokens=count)
    parts = [c for c in chunks if c.symbol == "Acc.run"]
    assert len(parts) > 5
    for c in parts:
        assert len(c.text.split()) <= 120
        assert c.text.startswith("# acc.py\n# class Acc:\n")
        assert c.extra.get("part") is True
    # nothing lost, nothing duplicated: the pieces' lines tile the method
    lines = text.splitlines()
    joined = "\n".join(c.display for c in parts)
    assert joined == "\n".join(lines[1:])
    assert parts[0].start_line == 2 and parts[-1].end_line == len(lines)
    for a, b in itertools.pairwise(parts):
        assert b.start_line == a.end_line + 1


def test_limit_respected_for_every_kind() -> None:
    md = "# Title\n\n" + " ".join(f"word{i}" for i in range(3000)) + "\n"
    for name, text in [("notes.md", md), ("notes.txt", md), ("acc.py", _long_function(300))]:
        for c in chunks_of(name, text, max_tokens=64):
            assert len(c.text.split()) <= 64, (name, c.text[:80])


def test_small_texts_are_never_counted() -> None:
    count = CountingTokens()
    data = b"def f():\n    return 1\n\n\ndef g():\n    return 2\n"
    chunk_source(source("small.py", data), data, max_tokens=512, count_tokens=count)
    assert count.calls == []


def test_counting_is_batched() -> None:
    count = CountingTokens()
    data = "".join(
        f"def f{i}(x):\n" + "    x = x + 1\n" * 30 + "    return x\n\n" for i in range(10)
    ).encode()
    chunk_source(source("many.py", data), data, max_tokens=300, count_tokens=count)
    # ~500 bytes each could exceed 300 tokens: one call for all ten, and none needed splitting
    assert count.calls == [10]


def test_minified_single_line_is_split_inside_the_line() -> None:
    line = ";".join(f"var a{i}=function(){{return {i}}}" for i in range(3000))
    chunks = chunks_of("app.min.js", line, max_tokens=50)
    assert len(chunks) > 10
    assert all(c.start_line == 1 and c.end_line == 1 for c in chunks)
    assert all(len(c.text.split()) <= 50 for c in chunks)
    assert "".join(c.display for c in chunks).replace("\n", "") == line


def test_word_without_spaces_is_cut_hard() -> None:
    blob = "x" * 50_000
    chunks = chunks_of("blob.txt", blob, max_tokens=200)
    assert "".join(c.display for c in chunks) == blob


def test_fit_keeps_order_and_gives_up_only_on_headers() -> None:
    drafts = [Draft("h\n", numbered("a b c d e f g h i j")), Draft("h\n", numbered("k"))]
    out = fit(drafts, max_tokens=4, count_tokens=lambda ts: [len(t.split()) for t in ts])
    assert [d.display for d in out][-1] == "k"
    assert " ".join(d.display for d in out[:-1]).split() == ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]
    huge_header = Draft("one two three four five six\n", numbered("x"))
    (only,) = fit([huge_header], max_tokens=2, count_tokens=lambda ts: [len(t.split()) for t in ts])
    assert "over_limit" in only.extra or len(only.text.split()) <= 2


def test_windows_overlap_and_prefer_blank_lines() -> None:
    recs = numbered("\n".join(("" if i % 10 == 9 else f"line {i}") for i in range(100)))
    ws = windows(recs, max_lines=25, max_chars=10_000, overlap=2)
    assert ws[0][0][0] == 1
    assert ws[-1][-1][0] == 99  # the last non-blank line
    for w in ws[:-1]:
        assert recs[w[-1][0]][1] == ""  # cut before a blank line
    for a, b in itertools.pairwise(ws):
        assert b[0][0] <= a[-1][0] + 2
