"""Coverage-guided fuzzing (atheris) of what reads untrusted file contents: the chunkers
(`chunk_source` for several kinds of file), the notebook loader and the SVG loader.

The only exception any of them may raise is `InputError` (reported by the indexer as a skip);
anything else is a crash. Not part of the test suite: run for a bounded time with `make fuzz`
(FUZZ_SECONDS=120), or directly:

    python tests/fuzz/fuzz_ingest.py -max_total_time=60 /tmp/corpus

Each crash libFuzzer finds is saved as `crash-<sha1>`; replay it by passing that file instead of
the corpus folder, then turn it into a regression test in tests/ingest/test_fuzz_regressions.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from omnivec.errors import InputError
    from omnivec.ingest import SourceFile, chunk_source, classify
    from omnivec.ingest.notebook import load_notebook, notebook_drafts
    from omnivec.ingest.policy import minified_reason, one_line

#: the file names each input is chunked as (one code, doc and media path of each chunker)
NAMES = (
    "a.py", "a.js", "a.ts", "a.go", "a.rs", "a.c", "a.rb", "a.sql", "a.sh", "a.kt", "a.json",
    "a.md", "a.rst", "a.html", "a.txt", "a.ipynb", "a.svg", "a.png", "a.gif", "a.pdf",
)  # fmt: skip
CELL_TYPES = ("code", "markdown", "raw", "", "heading")
KERNELS = ("python", "R", "javascript", "julia", "c++", "", "\x00")


def _words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


def _chunk(name: str, data: bytes) -> None:
    kind, language = classify(name) or ("doc", "text")
    src = SourceFile(name, Path("/nonexistent") / name, len(data), 0, kind, language)
    try:
        chunks = chunk_source(src, data, max_tokens=48, count_tokens=_words)
    except InputError as exc:
        assert "\n" not in exc.received and " object at 0x" not in exc.received, exc.received
        return
    for c in chunks:
        assert 1 <= c.start_line <= c.end_line, (c.start_line, c.end_line)


def _notebook(fdp: atheris.FuzzedDataProvider) -> None:
    """A structurally valid notebook with fuzzed cells, so the cell chunkers are reached."""
    cells = []
    for _ in range(fdp.ConsumeIntInRange(0, 6)):
        source: object = fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 400))
        if fdp.ConsumeBool():
            source = str(source).splitlines(keepends=True)
        cells.append({"cell_type": fdp.PickValueInList(list(CELL_TYPES)), "source": source})
    meta = {"kernelspec": {"language": fdp.PickValueInList(list(KERNELS))}}
    text = json.dumps({"cells": cells, "metadata": meta})
    load_notebook(text)
    notebook_drafts(text, "n.ipynb")


def _svg(fdp: atheris.FuzzedDataProvider) -> None:
    attrs = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 200))
    _chunk("s.svg", b"<?xml version='1.0'?><svg " + attrs + b">" + fdp.ConsumeBytes(200) + b"</svg>")


def test_one(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    target = fdp.ConsumeIntInRange(0, len(NAMES) + 1)
    if target == len(NAMES):
        _notebook(fdp)
    elif target == len(NAMES) + 1:
        _svg(fdp)
    else:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
        _chunk(NAMES[target], body)
        minified_reason(body)
        one_line(body.decode("utf-8", "replace"))


def main() -> None:
    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
