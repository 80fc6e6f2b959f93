"""Shared test helpers: a fake token counter, SourceFile builders and a hand-written PDF."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omnivec.ingest import Skipped, SourceFile, chunk_source, classify, walk
from omnivec.ingest.model import Chunk


class CountingTokens:
    """Fake `count_tokens`: one token per whitespace-separated word; records every call."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, texts: Sequence[str]) -> list[int]:
        self.calls.append(len(texts))
        return [len(t.split()) for t in texts]


def source(path: str, data: bytes, root: Path | None = None) -> SourceFile:
    kind, language = classify(path.rsplit("/", 1)[-1]) or ("doc", "text")
    abs_path = (root or Path("/nonexistent")) / path
    return SourceFile(path, abs_path, len(data), 0, kind, language)


def chunks_of(
    path: str, text: str | bytes, max_tokens: int = 100_000, root: Path | None = None
) -> list[Chunk]:
    data = text.encode() if isinstance(text, str) else text
    return chunk_source(source(path, data, root), data, max_tokens=max_tokens, count_tokens=CountingTokens())


def symbols(chunks: Sequence[Chunk]) -> list[tuple[str | None, int, int]]:
    return [(c.symbol, c.start_line, c.end_line) for c in chunks]


def make_pdf(pages: Sequence[str | None], encrypt: bool = False) -> bytes:
    """A minimal valid PDF: one Helvetica text line per '\\n'-separated line; None = a blank page."""
    objects: list[bytes] = []
    n = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        content = b""
        if text:
            ops = ["BT /F1 14 Tf 16 TL 72 720 Td"]
            for line in text.split("\n"):
                escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
                ops.append(f"({escaped}) Tj T*")
            ops.append("ET")
            content = "\n".join(ops).encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    trailer_extra = b""
    if encrypt:
        objects.append(
            b"<< /Filter /Standard /V 1 /R 2 /O <" + b"ab" * 32 + b"> /U <" + b"cd" * 32 + b"> /P -44 >>"
        )
        trailer_extra = b" /Encrypt %d 0 R /ID [<%s> <%s>]" % (len(objects), b"01" * 16, b"01" * 16)
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for k, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % k + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        trailer_extra,
        xref,
    )
    return bytes(out)


def write(root: Path, rel: str, data: bytes | str = "x = 1\n") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def found(root: Path, **kw: object) -> tuple[dict[str, SourceFile], dict[str, str]]:
    """What `walk` yields under `root`: files by path, and skip reasons by path."""
    files: dict[str, SourceFile] = {}
    skipped: dict[str, str] = {}
    for item in walk(root, **kw):  # type: ignore[arg-type]
        if isinstance(item, Skipped):
            skipped[item.path] = item.reason
        else:
            files[item.path] = item
    return files, skipped
