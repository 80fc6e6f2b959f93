"""`chunk_source`: one file's bytes -> chunks that fit the encoder, whatever the file's kind."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence

from omnivec.errors import InputError
from omnivec.ingest.code import code_drafts
from omnivec.ingest.docs import markdown_sections, rst_sections, section_drafts, text_sections
from omnivec.ingest.html import html_sections
from omnivec.ingest.media import image_chunk, pdf_drafts
from omnivec.ingest.model import Chunk, SourceFile
from omnivec.ingest.notebook import notebook_drafts
from omnivec.ingest.policy import private_key_reason
from omnivec.ingest.split import Draft, fit
from omnivec.kinds import FILE_CHUNK_KIND

log = logging.getLogger(__name__)

_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.M)
_SECTIONERS = {"markdown": markdown_sections, "rst": rst_sections, "html": html_sections}


def chunk_source(
    src: SourceFile,
    data: bytes,
    *,
    max_tokens: int,
    count_tokens: Callable[[Sequence[str]], list[int]],
) -> list[Chunk]:
    """Cut one file into chunks of at most `max_tokens` tokens (as `count_tokens` counts them).

    `count_tokens` is typically `encoder.token_counts`; it is called only for texts that could be
    over the limit, in batches. Raises `InputError` for content that cannot be chunked (binary
    data or invalid UTF-8 in a text file, an encrypted or broken PDF, a corrupt image) or must not
    be (a text file holding a private key, when `src.scan_secrets`).

    >>> chunk_source(src, path.read_bytes(), max_tokens=512, count_tokens=enc.token_counts)  # doctest: +SKIP
    """
    if src.kind == "image":
        return [image_chunk(src, data)]
    if src.kind == "pdf":
        drafts = pdf_drafts(data, src)
    else:
        text = decode_text(data, src.path)
        if src.scan_secrets:
            refuse_private_keys(text)
        drafts = _text_drafts(src, text)
    return [_to_chunk(d, src) for d in fit(drafts, max_tokens, count_tokens)]


def _text_drafts(src: SourceFile, text: str) -> list[Draft]:
    if not text.strip():
        return []
    if src.language == "notebook":
        return notebook_drafts(text, src.path)
    if src.kind == "code":
        return code_drafts(text, src.path, src.language or "")
    sectioner = _SECTIONERS.get(src.language or "", text_sections)
    return section_drafts(sectioner(text), src.path)


def refuse_private_keys(text: str) -> None:
    """Raise `InputError` when `text` holds a private key block: the file name tells nothing (a
    `deploy_key.txt`, a service-account JSON), so the text already read is checked instead. The
    error's `received` starts "secret:", the indexer's skip reason, like a key file's by name."""
    reason = private_key_reason(text)
    if reason is not None:
        raise InputError(
            received=reason,
            expected="a file without key material (omnivec leaves keys out of the index)",
            fix="move the key out of the indexed folder, or pass --include-secrets to index it anyway",
        )


def decode_text(data: bytes, path: str = "") -> str:
    """UTF-8 (a BOM is dropped; UTF-16 with a BOM is accepted), newlines normalised to `\\n`.

    The `InputError` for content that is not text leaves `path` out: the indexer reports it as a
    skip reason beside the path, which would otherwise be printed twice."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return _newlines(data.decode("utf-16"))
        except UnicodeDecodeError:
            pass  # not UTF-16 after all: report it as the UTF-8 problem below
    nul = data.find(b"\0")
    if nul != -1:
        raise InputError(
            received=f"binary content (a NUL byte at byte {nul:,})",
            expected="a text file",
            fix="add the file to .gitignore or extra_ignores if it is not text",
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        declared = _declared_encoding(data)
        if declared is not None:
            return _newlines(declared)
        raise InputError(
            received=f"bytes that are not valid UTF-8 ({exc.reason} at byte {exc.start:,})",
            expected="a UTF-8 text file (or one that declares its encoding, as in PEP 263)",
            fix="re-save it as UTF-8 (e.g. iconv -f <its encoding> -t utf-8), or add it to extra_ignores",
        ) from exc
    return _newlines(text)


def _declared_encoding(data: bytes) -> str | None:
    """Decode with a `coding: latin-1` cookie in the first two lines (Python, Emacs, vim)."""
    head = b"\n".join(data.split(b"\n", 2)[:2])
    m = _CODING.search(head)
    if m is None:
        return None
    try:
        return data.decode(m.group(1).decode("ascii"))
    except (LookupError, UnicodeDecodeError):
        return None


def _newlines(text: str) -> str:
    """CRLF -> LF; a lone CR ends a line only in a file without LF (classic Mac). Elsewhere it is
    a character inside its line, as git, grep and tree-sitter count lines, so line numbers agree."""
    if "\r" not in text:
        return text
    text = text.replace("\r\n", "\n")
    return text if "\n" in text else text.replace("\r", "\n")


def _to_chunk(d: Draft, src: SourceFile) -> Chunk:
    return Chunk(
        text=d.text if d.lines else "",
        display=d.display,
        path=src.path,
        kind=d.kind or FILE_CHUNK_KIND[src.kind],
        language=d.language or src.language,
        symbol=d.symbol,
        start_line=d.start_line,
        end_line=d.end_line,
        page=d.page,
        extra=d.extra,
    )
