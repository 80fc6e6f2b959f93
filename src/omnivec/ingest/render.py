"""Page images for the screenshot pipeline: PDF pages (pypdfium2), HTML and Markdown (Chromium).

HTML is rendered by Debian's Chromium driven through Playwright (`omnivec[render]`); no browser is
ever downloaded. Every request is checked before Chromium makes it: `data:`, `blob:` and `about:`
pass, a `file:` URL passes only when its real path (symlinks resolved) lies inside the page's own
folder, and everything else is aborted. So rendering never reaches the network, and a page (or an
SVG) cannot pull `file:///etc/passwd` or `~/.ssh` into a screenshot through an image, an iframe,
CSS or a font. Each refused request is listed in `Renderer.blocked`.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlparse

from omnivec.errors import InputError, MissingExtraError, require
from omnivec.images import MAX_PIXELS, pil

log = logging.getLogger(__name__)

#: 150 DPI turns a Letter page into 1275x1650 px, about the scale of a 1024x1280 screenshot: body
#: text (10-12 pt) is 20-25 px tall, which Tesseract reads cleanly. Use 300 for small print.
DEFAULT_DPI = 150
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    # belt and braces beside the request filter: no host name resolves
    "--host-resolver-rules=MAP * ~NOTFOUND",
)  # fmt: skip
#: schemes that never leave the page: inline data and blank frames; `file:` is checked per path
_INLINE_SCHEMES = ("data", "about", "blob")


# --- PDF ---------------------------------------------------------------------------------------
def render_pdf_pages(
    path: str | Path, dpi: int = DEFAULT_DPI, password: str | None = None, max_pixels: int = MAX_PIXELS
) -> Iterator[tuple[int, Any]]:
    """Yield `(page_no, RGB PIL image)` for each page, page numbers from 1, at `dpi`.

    Broken or encrypted files raise `InputError`; a page that would exceed `max_pixels` at this
    DPI is rendered at the largest scale that fits (logged), never skipped.
    """
    pdfium = require("pypdfium2", "vision", "rendering PDF pages")
    if dpi <= 0:
        raise InputError(f"dpi={dpi}", "a positive DPI such as 150", f"pass dpi={DEFAULT_DPI}")
    try:
        doc = pdfium.PdfDocument(str(path), password=password)
    except (pdfium.PdfiumError, OSError, ValueError) as exc:
        raise InputError(
            received=f"PDF {path}: {exc}",
            expected="a readable, unencrypted PDF (or its password)",
            fix="check the file; for an encrypted PDF pass password=..., or exclude it",
        ) from exc
    try:
        for index in range(len(doc)):
            page = doc[index]
            try:
                yield index + 1, _render_page(page, dpi, max_pixels, f"{path} page {index + 1}")
            finally:
                page.close()
    finally:
        doc.close()


def _render_page(page: Any, dpi: int, max_pixels: int, name: str) -> Any:
    width_pt, height_pt = page.get_size()
    scale = dpi / 72.0  # PDF user space is 72 units per inch
    area = width_pt * height_pt * scale * scale
    if area > max_pixels:
        scale *= (max_pixels / area) ** 0.5
        log.warning("%s is too large at %d DPI; rendering at %.0f DPI", name, dpi, scale * 72)
    return page.render(scale=scale).to_pil().convert("RGB")


# --- HTML and Markdown ---------------------------------------------------------------------------
class Renderer:
    """One headless Chromium for many pages; use as a context manager.

    >>> with Renderer() as r:                                    # doctest: +SKIP
    ...     tiles = r.html("docs/index.html", full_page=True)    # 1024x1280 tiles, top to bottom
    """

    def __init__(
        self, width: int = 1024, height: int = 1280, chromium: str | Path = CHROMIUM, timeout_s: float = 30.0
    ) -> None:
        self.width, self.height, self.timeout_ms = width, height, int(timeout_s * 1000)
        self.chromium = Path(chromium)
        self.blocked: list[str] = []
        self._pw: Any = None
        self._browser: Any = None

    def __enter__(self) -> Renderer:
        sync_api = require("playwright.sync_api", "render", "rendering HTML and Markdown pages")
        if not self.chromium.is_file():
            raise MissingExtraError(
                received=f"rendering HTML needs Chromium at {self.chromium}, which does not exist",
                expected="Debian's chromium package (Playwright drives it; no browser is downloaded)",
                fix="apt-get install chromium, or pass chromium=PATH to an installed Chromium",
            )
        self._pw = sync_api.sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(
                executable_path=str(self.chromium), args=list(CHROMIUM_FLAGS), headless=True
            )
        except Exception:
            self._pw.stop()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._browser is not None:
            self._browser.close()
        if self._pw is not None:
            self._pw.stop()
        self._browser = self._pw = None

    def html(
        self,
        source: str | Path,
        full_page: bool = False,
        max_tiles: int | None = None,
        javascript: bool = True,
        allow: Sequence[str | Path] = (),
    ) -> list[Any]:
        """Screenshot a local HTML file: the first viewport, or with `full_page` the whole page cut
        into consecutive viewport-sized tiles (the last one may be shorter).

        The page may load local files from its own folder (and below) and from the folders in
        `allow`; every other request is aborted and listed in `blocked`."""
        if self._browser is None:
            raise InputError("a Renderer that is not open", "use inside `with Renderer() as r:`", "open it")
        url = _local_url(source)
        folders = tuple(os.path.realpath(f) for f in (_file_path(url).parent, *allow))
        context = self._browser.new_context(
            viewport={"width": self.width, "height": self.height}, device_scale_factor=1,
            service_workers="block", java_script_enabled=javascript,
        )  # fmt: skip
        try:
            context.route("**/*", functools.partial(self._filter, folders=folders))
            page = context.new_page()
            page.goto(url, wait_until="load", timeout=self.timeout_ms)
            png = page.screenshot(full_page=full_page, type="png", timeout=self.timeout_ms)
        finally:
            context.close()
        return _tiles(png, self.height, max_tiles)

    def markdown(
        self, source: str | Path, full_page: bool = False, max_tiles: int | None = None
    ) -> list[Any]:
        """Render a Markdown file (CommonMark + tables) as a simple readable HTML page, scripts off."""
        path = Path(source).resolve()
        html = markdown_to_html(path.read_text(encoding="utf-8"), title=path.name, base=path.parent.as_uri())
        with tempfile.TemporaryDirectory(prefix="omnivec-md-") as tmp:
            page = Path(tmp) / "page.html"
            page.write_text(html, encoding="utf-8")
            return self.html(
                page, full_page=full_page, max_tiles=max_tiles, javascript=False, allow=[path.parent]
            )

    def _filter(self, route: Any, folders: tuple[str, ...]) -> None:
        url = route.request.url
        scheme = urlparse(url).scheme
        if scheme in _INLINE_SCHEMES or (scheme == "file" and _inside(url, folders)):
            route.continue_()
            return
        self.blocked.append(url)
        what = "a local file outside the page's folder" if scheme == "file" else "a network request"
        log.info("blocked %s while rendering: %s", what, url)
        route.abort("blockedbyclient")


def render_html(
    source: str | Path,
    width: int = 1024,
    height: int = 1280,
    full_page: bool = False,
    chromium: str | Path = CHROMIUM,
) -> list[Any]:
    """Screenshot one local HTML file (see `Renderer.html`); starts and stops a browser."""
    with Renderer(width, height, chromium) as r:
        return r.html(source, full_page=full_page)


def render_markdown(
    source: str | Path,
    width: int = 1024,
    height: int = 1280,
    full_page: bool = False,
    chromium: str | Path = CHROMIUM,
) -> list[Any]:
    """Screenshot one Markdown file (see `Renderer.markdown`); starts and stops a browser."""
    with Renderer(width, height, chromium) as r:
        return r.markdown(source, full_page=full_page)


_CSS = (
    "body{font-family:'DejaVu Sans',sans-serif;font-size:16px;line-height:1.5;margin:32px 48px;color:#111}"
    "pre,code{font-family:'DejaVu Sans Mono',monospace;background:#f4f4f4}pre{padding:8px}"
    "table{border-collapse:collapse}td,th{border:1px solid #999;padding:2px 6px}img{max-width:100%}"
)


def markdown_to_html(text: str, title: str = "", base: str = "") -> str:
    """Markdown -> a standalone HTML page; `base` (a file:// folder URL) resolves relative links."""
    markdown_it = require("markdown_it", "render", "rendering Markdown")
    # raw HTML is kept (READMEs use it for layout); scripts are off when Renderer shows Markdown
    md = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table")
    from html import escape

    base_tag = f'<base href="{escape(base.rstrip("/") + "/")}">' if base else ""
    return (
        f'<!doctype html><html><head><meta charset="utf-8">{base_tag}<title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{md.render(text)}</body></html>"
    )


def _local_url(source: str | Path) -> str:
    text = str(source)
    parsed = urlparse(text)
    if parsed.scheme == "file":
        path = Path(unquote(parsed.path))
    elif parsed.scheme and len(parsed.scheme) > 1:  # one letter is a Windows drive
        raise InputError(
            received=f"URL {text}",
            expected="a local file path or file:// URL",
            fix="save the page locally first",
        )
    else:
        path = Path(text)
    if not path.is_file():
        raise InputError(
            f"HTML file {path}, which does not exist", "an existing local file", "check the path"
        )
    return path.resolve().as_uri()


def _file_path(url: str) -> Path:
    return Path(unquote(urlparse(url).path))


def _inside(url: str, folders: tuple[str, ...]) -> bool:
    """Whether the file `url` names, its symlinks and `..` resolved, lies in one of `folders`."""
    if urlparse(url).netloc not in ("", "localhost"):  # file://server/share: a network path
        return False
    real = os.path.realpath(_file_path(url))
    return any(real == f or real.startswith(f.rstrip(os.sep) + os.sep) for f in folders)


def _tiles(png: bytes, height: int, max_tiles: int | None) -> list[Any]:
    import io

    img = pil().open(io.BytesIO(png)).convert("RGB")
    tops = range(0, img.height, height)
    tiles = [img.crop((0, top, img.width, min(top + height, img.height))) for top in tops]
    return tiles[:max_tiles] if max_tiles else tiles
