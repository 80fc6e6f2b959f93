"""Page rendering: PDF pages at a DPI, HTML and Markdown through Debian's Chromium, offline."""

from __future__ import annotations

import http.server
import importlib.util
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from omnivec.errors import InputError, MissingExtraError
from omnivec.ingest.render import CHROMIUM, Renderer, markdown_to_html, render_html, render_pdf_pages

needs_browser = pytest.mark.skipif(
    importlib.util.find_spec("playwright") is None or not Path(CHROMIUM).is_file(),
    reason="pip install 'omnivec[render]' and apt-get install chromium",
)
needs_ocr = pytest.mark.skipif(shutil.which("tesseract") is None, reason="apt-get install tesseract-ocr")


def make_pdf(path: Path, sizes: list[tuple[float, float]]) -> Path:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument.new()
    for w, h in sizes:
        doc.new_page(w, h)
    doc.save(str(path))
    doc.close()
    return path


def ocr_words(img) -> set[str]:
    from omnivec.ocr import ocr_image

    return {w.text.strip(".,:").lower() for w in ocr_image(img).words}


@pytest.fixture(scope="module")
def renderer():
    if importlib.util.find_spec("playwright") is None or not Path(CHROMIUM).is_file():
        pytest.skip("pip install 'omnivec[render]' and apt-get install chromium")
    with Renderer(width=800, height=600) as r:
        yield r


# --- PDF -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("dpi", [72, 100])
def test_pdf_pages_at_dpi(tmp_path, dpi):
    pdf = make_pdf(tmp_path / "two.pdf", [(612, 792), (300, 144)])  # Letter, then a small page
    pages = list(render_pdf_pages(pdf, dpi=dpi))
    assert [n for n, _ in pages] == [1, 2]
    for (_, img), (w, h) in zip(pages, [(612, 792), (300, 144)]):
        assert img.mode == "RGB"
        assert abs(img.width - w * dpi / 72) <= 1 and abs(img.height - h * dpi / 72) <= 1
        assert np.asarray(img).min() == 255  # blank pages render white


def test_huge_page_is_scaled_to_fit(tmp_path):
    pdf = make_pdf(tmp_path / "big.pdf", [(1440, 1440)])  # 20 x 20 inches
    [(_, img)] = list(render_pdf_pages(pdf, dpi=300, max_pixels=1_000_000))
    assert img.width * img.height <= 1_000_000 and img.width >= 990


def test_broken_pdf_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.7 this is not really a pdf")
    with pytest.raises(InputError, match=r"bad\.pdf"):
        list(render_pdf_pages(bad))
    with pytest.raises(InputError):
        list(render_pdf_pages(tmp_path / "missing.pdf"))


# --- HTML and Markdown -------------------------------------------------------------------------------
@needs_ocr
def test_html_screenshot_shows_the_text(renderer, tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<html><body style='font-size:40px'><h1>Walrus Operator</h1><p>Lighthouse keeper</p>")
    [img] = renderer.html(page)
    assert img.size == (800, 600)
    assert {"walrus", "operator", "lighthouse", "keeper"} <= ocr_words(img)


def test_full_page_is_cut_into_viewport_tiles(renderer, tmp_path):
    page = tmp_path / "long.html"
    page.write_text("<html><body style='margin:0'><div style='height:1500px;background:#000'></div></body>")
    tiles = renderer.html(page.as_uri(), full_page=True)
    assert [t.size for t in tiles] == [(800, 600), (800, 600), (800, 300)]
    assert renderer.html(page, full_page=True, max_tiles=1)[0].size == (800, 600)


@needs_ocr
def test_markdown_screenshot(renderer, tmp_path):
    md = tmp_path / "notes.md"
    md.write_text("# Penguin Colony\n\n| species | count |\n|---|---|\n| emperor | 4000 |\n")
    [img] = renderer.markdown(md)
    assert {"penguin", "colony", "emperor", "4000"} <= ocr_words(img)
    html = markdown_to_html(md.read_text())
    assert "<table>" in html and "<h1>Penguin Colony</h1>" in html


def test_network_requests_are_blocked(renderer, tmp_path):
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        page = tmp_path / "leaky.html"
        page.write_text(
            f"<html><head><link rel='stylesheet' href='{url}/style.css'></head><body>"
            f"<img src='{url}/pixel.png'><script>fetch('{url}/beacon')</script>hello</body></html>"
        )
        renderer.blocked.clear()
        renderer.html(page)
        md = tmp_path / "leaky.md"
        md.write_text(f"![remote]({url}/in-markdown.png)\n")
        renderer.markdown(md)
    finally:
        server.shutdown()
    assert hits == []
    assert f"{url}/style.css" in renderer.blocked and f"{url}/pixel.png" in renderer.blocked
    assert f"{url}/in-markdown.png" in renderer.blocked


def test_remote_urls_and_missing_files_are_refused(renderer, tmp_path):
    with pytest.raises(InputError, match="local file"):
        renderer.html("https://example.com/")
    with pytest.raises(InputError, match="does not exist"):
        renderer.html(tmp_path / "nope.html")


@needs_browser
def test_missing_chromium_names_the_package(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<p>x</p>")
    with pytest.raises(MissingExtraError, match="apt-get install chromium"):
        render_html(page, chromium=tmp_path / "no-chromium")


# --- local files outside the page's folder ---------------------------------------------------------
RED, GREEN = (255, 0, 0), (0, 160, 0)
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _has(img, colour) -> bool:
    return bool((np.asarray(img.convert("RGB")) == colour).all(axis=-1).any())


@pytest.fixture
def site(tmp_path):
    """`site/` holds the pages and a green picture they may show; `secret/` beside it holds red
    canaries (a picture, a page, a stylesheet, a font) that must never reach a screenshot."""
    from PIL import Image

    secret, site = tmp_path / "secret", tmp_path / "site"
    secret.mkdir()
    (site / "img").mkdir(parents=True)
    Image.new("RGB", (200, 200), RED).save(secret / "canary.png")
    (secret / "canary.html").write_text("<body style='margin:0;background:#f00'>CANARY</body>")
    (secret / "canary.css").write_text("body{background:#f00 !important}")
    if FONT.exists():
        shutil.copy(FONT, secret / "canary.ttf")
    Image.new("RGB", (200, 200), GREEN).save(site / "img" / "ok.png")
    (site / "img" / "link.png").symlink_to(secret / "canary.png")  # a link inside that leads out
    return site, secret


def test_pages_cannot_load_files_outside_their_folder(renderer, site):
    site, secret = site
    out = secret.as_uri()
    page = site / "page.html"
    page.write_text(
        f"<html><head><link rel='stylesheet' href='{out}/canary.css'>"
        f"<style>@font-face{{font-family:Canary;src:url({out}/canary.ttf)}}"
        f"body{{font-family:Canary;background:#fff}} .bg{{background:url('../secret/canary.png');"
        f"width:100px;height:100px}}</style></head><body>"
        f"<img src='img/ok.png'><img src='{out}/canary.png'><img src='../secret/canary.png'>"
        f"<img src='img/link.png'><div class='bg'></div>"
        f"<iframe src='{out}/canary.html' width=300 height=200></iframe>"
        f"<iframe src='file:///etc/passwd'></iframe></body></html>"
    )
    renderer.blocked.clear()
    [img] = renderer.html(page)
    assert _has(img, GREEN), "files in the page's own folder still load"
    assert not _has(img, RED), "a canary from outside the folder reached the screenshot"
    blocked = set(renderer.blocked)
    assert {f"{out}/canary.css", f"{out}/canary.png", f"{out}/canary.html", "file:///etc/passwd"} <= blocked
    assert (site / "img" / "link.png").as_uri() in blocked
    if FONT.exists():
        assert f"{out}/canary.ttf" in blocked
    assert not any("ok.png" in url for url in blocked)


def test_svg_images_cannot_load_files_outside_their_folder(renderer, site):
    site, secret = site
    svg = site / "logo.svg"
    svg.write_text(
        "<svg xmlns='http://www.w3.org/2000/svg' xmlns:xlink='http://www.w3.org/1999/xlink' width='400' height='200'>"
        "<image href='img/ok.png' x='0' y='0' width='200' height='200'/>"
        f"<image xlink:href='{secret.as_uri()}/canary.png' x='200' y='0' width='200' height='200'/></svg>"
    )
    renderer.blocked.clear()
    [img] = renderer.html(svg)
    assert _has(img, GREEN) and not _has(img, RED)
    assert renderer.blocked == [f"{secret.as_uri()}/canary.png"]


def test_markdown_may_show_its_own_folder_only(renderer, site):
    site, secret = site
    md = site / "notes.md"
    md.write_text(
        f"# Notes\n\n![ok](img/ok.png) ![out](../secret/canary.png) ![abs]({secret.as_uri()}/canary.png)\n"
    )
    renderer.blocked.clear()
    [img] = renderer.markdown(md)
    assert _has(img, GREEN) and not _has(img, RED)
    # both links name the same file, which Chromium asks for once
    assert set(renderer.blocked) == {f"{secret.as_uri()}/canary.png"}


def test_billion_laughs_svg_renders_without_expanding(renderer, tmp_path):
    from tests.ingest.test_hostile import LAUGHS

    svg = tmp_path / "laughs.svg"
    svg.write_text(LAUGHS)
    [img] = renderer.html(svg)  # Chromium's XML parser refuses the expansion; no hang, no blow-up
    assert img.size == (800, 600)
