"""A real tree: the standard library's json package, walked and chunked end to end."""

from __future__ import annotations

import sysconfig
import time
from pathlib import Path

import pytest

from omnivec.ingest import SourceFile, chunk_source, walk
from tests.ingest.helpers import CountingTokens

JSON = Path(sysconfig.get_paths()["stdlib"]) / "json"


@pytest.fixture(scope="module")
def json_chunks():
    if not JSON.is_dir():
        pytest.skip("no stdlib json package here")
    count = CountingTokens()
    out = {}
    start = time.perf_counter()
    for f in walk(JSON):
        assert isinstance(f, SourceFile), f
        out[f.path] = (f, chunk_source(f, f.abs_path.read_bytes(), max_tokens=256, count_tokens=count))
    return out, time.perf_counter() - start


def test_json_symbols(json_chunks) -> None:
    chunks, _ = json_chunks
    assert {"__init__.py", "decoder.py", "encoder.py", "scanner.py", "tool.py"} <= set(chunks)
    syms = {c.symbol for _, cs in chunks.values() for c in cs}
    assert {"dumps", "loads", "JSONEncoder", "JSONEncoder.encode", "JSONEncoder.iterencode",
            "JSONDecoder.raw_decode", "JSONDecodeError", "py_scanstring"} <= syms  # fmt: skip


def test_json_chunks_fit_and_cover_every_line(json_chunks) -> None:
    chunks, seconds = json_chunks
    total = 0
    for f, cs in chunks.values():
        lines = f.abs_path.read_text().splitlines()
        covered: set[int] = set()
        for c in cs:
            assert len(c.text.split()) <= 256
            assert 1 <= c.start_line <= c.end_line <= len(lines)
            covered.update(range(c.start_line, c.end_line + 1))
            if c.symbol and "inlined" not in c.extra and c.extra.get("node") == "function_definition":
                # a function's body is the file's own lines (pieces of split ones included)
                assert c.display == "\n".join(lines[c.start_line - 1 : c.end_line])
        for n, line in enumerate(lines, start=1):
            if any(ch.isalnum() for ch in line):
                assert n in covered, f"{f.path}:{n} {line!r}"
        total += len(cs)
    assert total > 40
    assert seconds < 10
