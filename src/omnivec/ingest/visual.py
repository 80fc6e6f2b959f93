"""Visual chunks derived at index time: thumbnails, page images of scanned PDF pages, screenshots.

- every raster image gets a small WEBP thumbnail in the store's `thumbs/` folder;
- an SVG is rasterised with headless Chromium (the `render` extra) or, without it, kept searchable
  by its file-name words only (said in the chunk's `extra`);
- an image that looks like a document (large, mostly uniform background: screenshots, scans) also
  becomes a `screenshot` chunk for the page-image collection (OCR or a screenshot model);
- a PDF page without a text layer is rendered at `PAGE_DPI` into `pages/` and becomes a
  `screenshot` chunk, so scanned PDFs are searchable too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from omnivec.errors import InputError, OmnivecError
from omnivec.images import open_rgb
from omnivec.ingest import Chunk, SourceFile

log = logging.getLogger(__name__)

THUMB_SIZE = 256
PAGE_DPI = 150  # 8.5x11in -> 1275x1650 px: body text stays legible for OCR, files stay small
DOC_MIN_SIDE = 400  # smaller images are icons, emoji, photos' thumbnails: not pages
DOC_UNIFORM_SHARE = 0.45  # share of pixels near the dominant grey level in a page-like image
# OCR passages: on screenshot-docs a page scored by its best 60-word passage reaches nDCG@10 0.920,
# one truncated vector per page 0.723 (benchmarks/screenshot_ocr.py)
OCR_PASSAGE_WORDS = 60


OcrFn = Callable[[list[str]], list[Any]]


def expand(
    chunks: list[Chunk],
    src: SourceFile,
    assets: Path,
    screenshots: bool,
    digest: str,
    ocr: OcrFn | None = None,
) -> list[Chunk]:
    """Add thumbnails and screenshot chunks; drop text-less page chunks that were rendered.

    With `ocr` (the OCR pipeline is the screenshot model), each page image becomes text chunks
    of whole OCR lines instead: a page is found by its best passage, and keyword search sees it.
    """
    out = _expand(chunks, src, assets, screenshots, digest)
    if ocr is None:
        return out
    shots = [c for c in out if c.kind == "screenshot" and c.image]
    if not shots:
        return out
    pages = ocr([str(c.image) for c in shots])
    texts = [t for c, page in zip(shots, pages) for t in ocr_passages(c, page)]
    return [c for c in out if not (c.kind == "screenshot" and c.image)] + texts


def ocr_passages(c: Chunk, page: Any) -> list[Chunk]:
    """One chunk per run of whole OCR lines (~OCR_PASSAGE_WORDS words), with its bounding box."""
    from omnivec.ocr import line_chunks

    out = []
    for i, part in enumerate(line_chunks(page, OCR_PASSAGE_WORDS)):
        if not part.text.strip():
            continue
        boxes = [w.box for w in part.words]
        left, top = min(b[0] for b in boxes), min(b[1] for b in boxes)
        right, bottom = max(b[0] + b[2] for b in boxes), max(b[1] + b[3] for b in boxes)
        extra = {
            **c.extra,
            "page_image": c.image,
            "region": [left, top, right - left, bottom - top],
            "passage": i,
            # kept in the store so a hit's matched words can be boxed without OCR at query time
            "words": [[w.text, *w.box] for w in part.words],
        }
        out.append(
            replace(
                c,
                text=part.text,
                display=part.text,
                image=None,
                start_line=i + 1,
                end_line=i + 1,
                extra=extra,
            )
        )
    return out


def _expand(
    chunks: list[Chunk], src: SourceFile, assets: Path, screenshots: bool, digest: str
) -> list[Chunk]:
    out: list[Chunk] = []
    scanned = [c for c in chunks if c.kind == "page" and c.extra.get("needs_ocr")]
    for c in chunks:
        if c.kind == "image":
            img = _image(c, assets)
            out.append(img)
            if screenshots and img.image and looks_like_document(img.image):
                out.append(replace(img, kind="screenshot"))
        elif not (c.kind == "page" and c.extra.get("needs_ocr") and screenshots):
            out.append(c)
    if scanned and screenshots:
        out.extend(_page_images(src, scanned, assets, digest))
    return out


def _image(c: Chunk, assets: Path) -> Chunk:
    if c.language == "svg" and c.image:
        try:
            png = _rasterise_svg(Path(c.image), assets, str(c.extra.get("image_hash", "")))
        except (OmnivecError, OSError) as exc:
            reason = exc.received if isinstance(exc, OmnivecError) else str(exc)
            log.info("SVG %s kept by name only: %s", c.path, reason)
            return replace(c, image=None, extra={**c.extra, "not_rasterised": reason})
        c = replace(c, image=str(png))
    try:
        thumb = thumbnail(Path(c.image or ""), assets, str(c.extra.get("image_hash", "")))
    except InputError as exc:
        log.info("no thumbnail for %s: %s", c.path, exc.received)
        return c
    return replace(c, extra={**c.extra, "thumbnail": str(thumb)})


def thumbnail(image: Path, assets: Path, key: str) -> Path:
    out = assets / "thumbs" / f"{key or image.stem}.webp"
    if not out.exists():
        img = open_rgb(image)
        img.thumbnail((THUMB_SIZE, THUMB_SIZE))
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        img.save(tmp, format="WEBP", quality=80)
        tmp.replace(out)  # atomic: a crash never leaves half a thumbnail under the real name
    return out


def looks_like_document(image: str | Path) -> bool:
    """A cheap page detector: big enough, and dominated by one background grey level."""
    try:
        img = open_rgb(image)
    except InputError:
        return False
    if min(img.size) < DOC_MIN_SIDE:
        return False
    grey = img.convert("L").resize((64, 64))
    hist = grey.histogram()
    peak = max(range(256), key=hist.__getitem__)
    near = sum(hist[max(0, peak - 12) : peak + 13])
    return near / (64 * 64) >= DOC_UNIFORM_SHARE


RENDER_MAX_TILES = 8  # viewport-sized screenshots per HTML/Markdown page: long pages stop here


def rendered_pages(src: SourceFile, assets: Path, digest: str, renderer: Any) -> list[Chunk]:
    """HTML and Markdown files as page screenshots (1024x1280 tiles), for screenshot models.

    `renderer` is an open `omnivec.ingest.render.Renderer`, shared across the files of one run.
    """
    if src.language == "markdown":
        tiles = renderer.markdown(src.abs_path, full_page=True, max_tiles=RENDER_MAX_TILES)
    else:
        tiles = renderer.html(src.abs_path, full_page=True, max_tiles=RENDER_MAX_TILES, javascript=False)
    out = []
    for n, img in enumerate(tiles, 1):
        png = assets / "pages" / f"{digest}-r{n}.png"
        if not png.exists():
            png.parent.mkdir(parents=True, exist_ok=True)
            img.save(png.with_suffix(".tmp"), format="PNG")
            png.with_suffix(".tmp").replace(png)
        out.append(
            Chunk(
                text="",
                display="",
                path=src.path,
                kind="screenshot",
                language=src.language,
                symbol=None,
                start_line=1,
                end_line=1,
                page=n,
                image=str(png),
                extra={"image_hash": f"{digest}-r{n}", "rendered": True, "tiles": len(tiles)},
            )  # fmt: skip
        )
    return out


def _page_images(src: SourceFile, scanned: list[Chunk], assets: Path, digest: str) -> list[Chunk]:
    from omnivec.ingest.render import render_pdf_pages

    wanted = {c.page: c for c in scanned}
    out = []
    for page_no, img in render_pdf_pages(src.abs_path, dpi=PAGE_DPI):
        c = wanted.get(page_no)
        if c is None:
            continue
        png = assets / "pages" / f"{digest}-p{page_no}.png"
        if not png.exists():
            png.parent.mkdir(parents=True, exist_ok=True)
            img.save(png.with_suffix(".tmp"), format="PNG")
            png.with_suffix(".tmp").replace(png)
        extra = {**c.extra, "image_hash": f"{digest}-p{page_no}-{PAGE_DPI}dpi", "dpi": PAGE_DPI}
        out.append(replace(c, kind="screenshot", image=str(png), text="", display="", extra=extra))
    return out


def _rasterise_svg(svg: Path, assets: Path, key: str) -> Path:
    from omnivec.ingest.render import render_html

    out = assets / "svg" / f"{key or svg.stem}.png"
    if not out.exists():
        (img, *_rest) = render_html(svg, width=512, height=512)
        out.parent.mkdir(parents=True, exist_ok=True)
        img.save(out.with_suffix(".tmp"), format="PNG")
        out.with_suffix(".tmp").replace(out)
    return out
