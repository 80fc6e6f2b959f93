"""The web page at `/`, end to end: a real server with a key over a small indexed folder (code, a
hostile file, images, a page image and a scanned PDF read by Tesseract), driven in Debian's
headless Chromium through Playwright (never `playwright install`)."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.server.conftest import child_env, start_server

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CHROMIUM = Path("/usr/bin/chromium")
KEY = "page-test-key"
TIMEOUT_MS = 60_000  # two shared cores: the first search loads the text model's vocabulary, etc.

pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which("tesseract") is None or not FONT.exists(),
    reason="needs Debian's chromium, tesseract-ocr and fonts-dejavu-core",
)

STACK_PY = '''class Stack:
    """A last-in first-out stack of items."""

    def push(self, item):
        # keep the newest item on top
        self.items.append(item)
        return len(self.items)
'''
EVIL_PY = """def render_banner():
    banner = '<img src=x onerror="window.pwned=1;alert(1)">'
    script = '<script>window.pwned=2; alert(2)</script>'
    return banner + script
"""


def _page_image(lines: list[str], size: tuple[int, int] = (900, 1100)):
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 34)
    for i, line in enumerate(lines):
        draw.text((60, 80 + 60 * i), line, fill="black", font=font)
    return img


@pytest.fixture(scope="module")
def folder(module_tmp: Path) -> Path:
    from PIL import Image

    root = module_tmp / "repo"
    (root / "pics").mkdir(parents=True)
    (root / "stack.py").write_text(STACK_PY)
    (root / "evil.py").write_text(EVIL_PY)
    (root / "notes.md").write_text("# Notes\n\nThe invoice process is described in the handbook.\n")
    _page_image(["Quarterly invoice", "Total amount due: 420 euros", "Payment by bank transfer"]).save(
        root / "invoice.png"
    )
    _page_image(["Garden watering schedule", "Water the tomatoes every morning"]).save(root / "scan.pdf")
    Image.new("RGB", (64, 48), (220, 40, 40)).save(root / "pics" / "red.png")
    Image.new("RGB", (64, 48), (10, 120, 200)).save(root / "pics" / "blue.png")
    return root


@pytest.fixture(scope="module")
def server(folder: Path, module_tmp: Path):
    from omnivec.api import Index

    store = module_tmp / "store"
    # the fake model for text and images (fast, deterministic); OCR makes page passages with boxes
    with Index.create(
        folder, store, text_model="omnivec/fake", image_model="omnivec/fake",
        screenshot_model="omnivec/tesseract-minilm",
    ) as idx:  # fmt: skip
        idx.update(use_cache=False)
    srv = start_server(
        ["--store", str(store)], module_tmp / "page.log", env=child_env(OMNIVEC_API_KEY=KEY), key=KEY
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    from omnivec.ingest.render import CHROMIUM_FLAGS

    with sync_playwright() as pw:
        # the renderer's flags, with the server's loopback address let through the resolver block
        flags = [f for f in CHROMIUM_FLAGS if not f.startswith("--host-resolver-rules")]
        flags.append("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    """A fresh tab (so a fresh sessionStorage) with the key entered; records dialogs."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    p = context.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    p.dialogs = []
    p.on("dialog", lambda d: (p.dialogs.append(d.message), d.dismiss()))
    p.goto(server.url + "/")
    p.locator("#key").fill(KEY)
    p.locator("#key-form button").click()
    _expect(p.locator("#status")).to_contain_text("chunks", timeout=TIMEOUT_MS)
    yield p
    context.close()


def _expect(locator):
    from playwright.sync_api import expect

    return expect(locator)


def search(p, text: str = "", type_: str = "any", path: str = "") -> None:
    p.locator("#q").fill(text)
    p.locator("#type").select_option(type_)
    p.locator("#path").fill(path)
    p.locator("#submit").click()
    _expect(p.locator("#message")).not_to_have_text("Searching…", timeout=TIMEOUT_MS)


def hit(p, path: str, kind: str | None = None):
    hits = p.locator(f"#results .hit[data-kind='{kind}']" if kind else "#results .hit")
    return hits.filter(has=p.locator(".path", has_text=path)).first


def sent_image(request) -> bytes:
    """The image a /v1/search request carried, decoded from its data URL."""
    url = request.post_data_json["image"]
    assert url.startswith("data:image/png;base64,"), url[:40]
    return base64.b64decode(url.split(",", 1)[1])


def assert_image_results(p) -> None:
    """Image hits, each with its thumbnail loaded (the fake model ranks them by hash, not look)."""
    hits = p.locator("#results .hit")
    _expect(hits.first).to_be_visible()
    assert set(hits.evaluate_all("hs => hs.map(h => h.dataset.kind)")) == {"image"}
    assert {"pics/red.png", "pics/blue.png"} <= set(p.locator("#results .path").all_text_contents())
    img = hits.first.locator(".frame img")
    _expect(img).to_be_visible()
    assert img.evaluate("i => i.naturalWidth") > 0


def test_page_and_files_are_open_and_sent_with_a_strict_csp(server):
    from omnivec.server.routes.page import PUBLIC_PATHS
    from omnivec.server.security import OPEN_PATHS

    assert set(PUBLIC_PATHS) <= set(OPEN_PATHS)
    with httpx.Client(base_url=server.url) as c:
        r = c.get("/")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp
        assert "unsafe" not in csp
        js = c.get("/static/app.js")
        assert js.status_code == 200 and "javascript" in js.headers["content-type"]
        assert "innerHTML" not in js.text and "eval(" not in js.text
        assert c.get("/static/highlight.js").status_code == 200
        assert c.get("/static/style.css").headers["content-type"].startswith("text/css")
        for bad in ("/static/..%2Fapp.py", "/static/index.html", "/static/../routes/page.py"):
            assert c.get(bad).status_code == 401, bad  # not a page file: the key is asked first
            assert c.get(bad, headers={"Authorization": f"Bearer {KEY}"}).status_code == 404, bad
        assert c.get("/v1/models").status_code == 401  # the API itself still needs the key


def test_page_image_of_an_ocr_passage_is_served(server):
    """OCR passages carry no image of their own: `?image=page` serves their page's image."""
    with server.client(headers={"Authorization": f"Bearer {KEY}"}) as c:
        hits = c.post("/v1/search", json={"text": "watering tomatoes", "type": "screenshot", "k": 3})
        scan = next(h for h in hits.json()["hits"] if h["path"] == "scan.pdf")
        r = c.get("/v1/items/" + quote(scan["id"], safe=""), params={"image": "page", "q": "tomatoes"})
        assert r.status_code == 200 and r.content[:8] == b"\x89PNG\r\n\x1a\n"
        assert len(json.loads(r.headers["x-omnivec-regions"])) == 1


def test_the_page_asks_for_the_key(browser, server):
    context = browser.new_context()
    p = context.new_page()
    p.set_default_timeout(TIMEOUT_MS)
    p.goto(server.url + "/")
    _expect(p.locator("#key-form")).to_be_visible()
    p.locator("#key").fill("wrong")
    p.locator("#key-form button").click()
    _expect(p.locator("#key-error")).to_contain_text("refused")
    p.locator("#key").fill(KEY)
    p.locator("#key-form button").click()
    _expect(p.locator("#key-form")).to_be_hidden()
    _expect(p.locator("#status")).to_contain_text("models: omnivec/fake")
    assert p.evaluate("sessionStorage.getItem('omnivec.apiKey')") == KEY
    context.close()


def test_text_search_shows_highlighted_code(page):
    search(page, "push item onto the stack", "code")
    # the class and its method both match; which ranks first is the fusion's business
    h = page.locator("#results .hit").filter(
        has=page.locator(".symbol", has_text=re.compile(r"^Stack\.push$"))
    )
    _expect(h).to_be_visible()
    _expect(h.locator(".lines")).to_have_text("lines 4\u20137")  # an en dash
    assert h.locator(".ln").first.text_content() == "4"
    keywords = h.locator(".tok-kw").all_text_contents()
    assert "def" in keywords and "return" in keywords
    assert "# keep the newest item on top" in h.locator(".tok-com").all_text_contents()
    # the cosine and BM25 behind the rank, as in `omnivec search`; the fused score in the tooltip
    score = h.locator(".score")
    assert re.fullmatch(r"cos -?[01]\.\d\d · bm25 \d+\.\d", score.text_content()), score.text_content()
    assert score.get_attribute("title").startswith("rank score ")
    assert page.locator("#results .hit[data-kind='code']").count() == page.locator("#results .hit").count()


def test_item_link_shows_the_record(page):
    search(page, "push item onto the stack", "code")
    h = hit(page, "stack.py")
    link = h.locator("a.open")
    assert link.get_attribute("href").startswith("v1/items/stack.py%23")
    link.click()  # with a key, the record is shown here (a new tab could not send the key)
    _expect(h.locator("pre.record")).to_contain_text('"path": "stack.py"')


def test_uploaded_image_is_the_query(page, folder):
    red = folder / "pics" / "red.png"
    page.locator("#image").set_input_files(str(red))
    _expect(page.locator("#image-chip")).to_be_visible()
    with page.expect_request("**/v1/search") as request:
        search(page, "", "image")
    assert sent_image(request.value) == red.read_bytes()
    assert_image_results(page)


def test_pasted_image_is_the_query(page, folder):
    blue = folder / "pics" / "blue.png"
    page.evaluate(
        """async (bytes) => {
            const file = new File([new Uint8Array(bytes)], "clip.png", {type: "image/png"});
            const dt = new DataTransfer();
            dt.items.add(file);
            document.dispatchEvent(new ClipboardEvent("paste", {clipboardData: dt}));
        }""",
        list(blue.read_bytes()),
    )
    _expect(page.locator("#image-name")).to_have_text("clip.png")
    with page.expect_request("**/v1/search") as request:
        search(page, "", "image")
    assert sent_image(request.value) == blue.read_bytes()
    assert_image_results(page)


def test_screenshot_hits_show_their_matched_regions(page, module_tmp):
    search(page, "total amount due", "screenshot")
    frame = hit(page, "invoice.png", "screenshot").locator(".frame")
    _expect(frame).to_have_attribute("data-regions", "3")
    img = frame.locator("img").bounding_box()
    for box in frame.locator(".region").all():
        b = box.bounding_box()
        assert b["width"] > 2 and b["height"] > 2
        assert img["x"] <= b["x"] and b["x"] + b["width"] <= img["x"] + img["width"] + 1
        assert img["y"] <= b["y"] and b["y"] + b["height"] <= img["y"] + img["height"] + 1
    # a scanned PDF page: its rendered page image is served, boxes scaled to it
    search(page, "watering tomatoes garden", "screenshot")
    scan = hit(page, "scan.pdf", "screenshot")
    _expect(scan.locator(".frame")).to_have_attribute("data-regions", "3")
    _expect(scan.locator(".image-link")).to_have_text("page image")
    search(page, "total amount due, watering tomatoes, push item")
    _expect(hit(page, "invoice.png", "screenshot").locator(".frame .region").first).to_be_visible()
    shot = module_tmp / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_hostile_snippets_are_shown_as_text(page):
    search(page, "render banner onerror script", "code")
    h = hit(page, "evil.py")
    _expect(h).to_be_visible()
    code = h.locator("pre.code").text_content()
    assert '<img src=x onerror="window.pwned=1;alert(1)">' in code
    assert "<script>window.pwned=2; alert(2)</script>" in code
    assert page.locator("#results img[src='x'], #results script").count() == 0
    assert page.evaluate("window.pwned") is None and page.dialogs == []


def test_errors_and_empty_results_are_said(page):
    search(page, "stack", path="src/[ab")
    _expect(page.locator("#message.error")).to_contain_text("unclosed")
    search(page, "stack", path="nowhere/*")
    _expect(page.locator("#message")).to_contain_text("No results")
    search(page, "")
    _expect(page.locator("#message")).to_have_text("Type a query or add an image.")
