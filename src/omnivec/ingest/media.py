"""PDFs and images -> chunk drafts / chunks.

PDF: pypdfium2's text layer, page by page; each page gives one or more `page` chunks with `page`
set (1-based) and `extra["pages"]` the page count; `symbol` is the outline (bookmark) path that
covers the page, when the PDF has an outline. A page without a text layer (a scan) still yields
one chunk, with empty `text`, `image=None` and `extra["needs_ocr"] = True`: the screenshot step
renders and OCRs those pages later. Encrypted or broken PDFs raise `InputError`.

Images: one `image` chunk per file, `image` = the absolute path, `text` = the words of the file
name ("red_car-photo.png" -> "red car photo") as a caption, `extra` has width, height, format and
`image_hash` (digest of the bytes). Raster images are decoded once here so that a corrupt file
fails as an `InputError` now rather than in the middle of an embedding batch. SVGs are checked to
be SVG text; they are not rasterised here (encoders that read pixels need a rendering step).
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from typing import Any

from omnivec import images
from omnivec.errors import InputError, require
from omnivec.ingest.model import Chunk, SourceFile
from omnivec.ingest.policy import one_line
from omnivec.ingest.split import Draft, has_words, numbered
from omnivec.search.tokens import split_identifier

log = logging.getLogger(__name__)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SVG_TAG = re.compile(rb"<svg\b[^>]*>", re.S | re.I)
_SVG_SIZE = re.compile(rb'\s(width|height)\s*=\s*["\']?\s*([\d.]+)')


def pdf_drafts(data: bytes, src: SourceFile) -> list[Draft]:
    """One draft per page (split later if long); pages without text are flagged `needs_ocr`."""
    pdfium = require("pypdfium2", "index", "reading PDFs")
    doc = _open_pdf(pdfium, data)
    try:
        n = len(doc)
        outline = _outline(doc, n)
        drafts = []
        for i in range(n):
            lines = numbered(_page_text(doc, i, src.path))
            symbol = outline.get(i)
            if not has_words(lines):
                extra = {"pages": n, "needs_ocr": True}
                drafts.append(Draft("", [], symbol=symbol, page=i + 1, extra=extra))
                continue
            header = f"{src.path} (page {i + 1} of {n})\n" + (f"{symbol}\n" if symbol else "")
            drafts.append(Draft(header, lines, symbol=symbol, page=i + 1, extra={"pages": n}))
        return drafts
    finally:
        doc.close()


def _open_pdf(pdfium: Any, data: bytes) -> Any:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise InputError(
                received="an encrypted PDF",
                expected="a PDF that opens without a password",
                fix="decrypt it (e.g. qpdf --decrypt in.pdf out.pdf) or add it to extra_ignores",
            ) from exc
        raise InputError(
            received=f"a PDF that cannot be read ({_pdfium_message(exc)})",
            expected="a valid PDF file",
            fix="re-export or repair it (e.g. qpdf in.pdf out.pdf), or add it to extra_ignores",
        ) from exc


def _pdfium_message(exc: Exception) -> str:
    # "Failed to load document (PDFium: Data format error)." -> "Data format error"
    text = one_line(str(exc), 120)
    m = re.search(r"PDFium: ([^)]*)", text)
    return m.group(1) if m else text.rstrip(".")


def _page_text(doc: Any, i: int, path: str) -> str:
    page = doc[i]
    try:
        textpage = page.get_textpage()
        try:
            raw = textpage.get_text_range()
        finally:
            textpage.close()
    except Exception as exc:  # a damaged page: treat it like a scan rather than lose the document
        log.warning("%s: no text from page %d (%s)", path, i + 1, exc)
        return ""
    finally:
        page.close()
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip("\n")


def _outline(doc: Any, n_pages: int) -> dict[int, str]:
    """Page index -> bookmark path ("Part I > Setup") of the last bookmark at or before it."""
    try:
        marks = []
        for bm in doc.get_toc(max_depth=8):
            dest = bm.get_dest()
            index = dest.get_index() if dest is not None else None
            if index is not None and 0 <= index < n_pages:
                marks.append((index, int(getattr(bm, "level", 0)), " ".join(bm.get_title().split())))
    except Exception as exc:  # outlines are often malformed; they are a bonus, never a failure
        log.debug("ignoring a broken PDF outline: %s", exc)
        return {}
    out: dict[int, str] = {}
    stack: list[tuple[int, str]] = []
    marks.sort(key=lambda m: m[0])  # stable: document order within a page
    k = 0
    for page in range(n_pages):
        while k < len(marks) and marks[k][0] <= page:
            _, level, title = marks[k]
            stack = [s for s in stack if s[0] < level] + [(level, title)]
            k += 1
        if stack:
            out[page] = " > ".join(t for _, t in stack)
    return out


def image_chunk(src: SourceFile, data: bytes) -> Chunk:
    """The one chunk of an image file (see the module docstring)."""
    fmt = src.language or src.path.rsplit(".", 1)[-1].lower()
    extra: dict[str, Any] = {"format": fmt, "image_hash": hashlib.blake2b(data, digest_size=16).hexdigest()}
    extra.update(_svg_size(data) if fmt == "svg" else _raster_size(data))
    caption = caption_words(src.path)
    return Chunk(
        text=caption, display=caption, path=src.path, kind="image", language=fmt, symbol=None,
        start_line=1, end_line=1, image=str(src.abs_path), extra=extra,
    )  # fmt: skip


def caption_words(path: str) -> str:
    """`photos/red_car-photo.png` -> `red car photo`; `IMG_2034.JPG` -> `img 2034`."""
    name = path.rsplit("/", 1)[-1]
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    words = [w for piece in re.split(r"[\W_]+", stem) for w in split_identifier(piece)]
    return " ".join(words) or stem


def _raster_size(data: bytes) -> dict[str, int]:
    image_mod = images.pil()
    try:
        img = image_mod.open(io.BytesIO(data))
        width, height = img.size
        if width * height > images.MAX_PIXELS:
            raise _too_large(f"{width}x{height} pixels")
        img.seek(0)
        img.load()  # decode now: truncated files only fail here
    except InputError:
        raise
    except image_mod.DecompressionBombError as exc:  # Pillow's own guard, past twice its limit
        m = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_large(f"{int(m.group(1)):,} pixels" if m else "too many pixels") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise InputError(
            received=f"an image that cannot be decoded ({one_line(str(exc), 100) or type(exc).__name__})",
            expected="a readable png, jpeg, webp, gif, bmp or tiff file",
            fix="re-export the file or add it to extra_ignores",
        ) from exc
    if width == 0 or height == 0:
        raise InputError(f"an image of {width}x{height} pixels", "a non-empty image", "re-export it")
    return {"width": width, "height": height}


def _too_large(size: str) -> InputError:
    limit = f"{images.MAX_PIXELS / 1e6:g}-megapixel limit"
    return InputError(
        f"an image of {size} exceeds the {limit}", f"at most {images.MAX_PIXELS:,} pixels",
        "downscale it or add it to extra_ignores",
    )  # fmt: skip


def _svg_size(data: bytes) -> dict[str, int]:
    tag = _SVG_TAG.search(data[:8192])
    if tag is None:
        raise InputError(
            received="a .svg file without an <svg> element",
            expected="an SVG image",
            fix="re-export the file or add it to extra_ignores",
        )
    size = {}
    for key, value in _SVG_SIZE.findall(tag.group(0)):
        try:
            size[key.decode()] = int(float(value))
        except ValueError:  # "1.2.3": a size we do not need badly enough to fail over
            continue
    return {k: v for k, v in size.items() if v > 0}
