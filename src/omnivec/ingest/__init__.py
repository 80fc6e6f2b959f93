"""Sources -> chunks: find files (`walk`), cut each into embeddable chunks (`chunk_source`).

>>> from omnivec.ingest import walk, chunk_source, SourceFile  # doctest: +SKIP
>>> for f in walk(Path("repo")):
...     if isinstance(f, SourceFile):
...         chunks = chunk_source(f, f.abs_path.read_bytes(), max_tokens=512, count_tokens=enc.token_counts)
"""

from __future__ import annotations

from omnivec.ingest.chunk import chunk_source, decode_text
from omnivec.ingest.filetypes import classify
from omnivec.ingest.model import Chunk, Skipped, SourceFile
from omnivec.ingest.walk import walk

__all__ = [
    "Chunk", "Skipped", "SourceFile", "chunk_source", "classify",
    "decode_text", "walk",
]  # fmt: skip
