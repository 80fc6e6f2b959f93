"""Images, screenshots and scanned PDFs through the normal index with the offline defaults."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omnivec.api import Index

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")

pytestmark = pytest.mark.skipif(
    shutil.which("tesseract") is None or not FONT.exists(), reason="needs tesseract-ocr and fonts-dejavu-core"
)


def _page(text_lines: list[str], size=(900, 1100)):
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(str(FONT), 34)
    for i, line in enumerate(text_lines):
        draw.text((60, 80 + 60 * i), line, fill="black", font=font)
    return img


def _photo(color, size=(320, 240)):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(sum(color))
    arr = np.clip(np.array(color) + rng.normal(0, 40, (*size[::-1], 3)), 0, 255).astype("uint8")
    return Image.fromarray(arr)


@pytest.fixture(scope="module")
def visual_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("visual")
    _page(["Quarterly invoice", "Total amount due: 420 euros", "Payment by bank transfer"]).save(
        root / "invoice.png"
    )
    _page(["Garden watering schedule", "Water the tomatoes every morning"]).save(root / "scan.pdf")
    _photo((200, 30, 30)).save(root / "red.jpg")
    _photo((30, 30, 200)).save(root / "blue.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    (root / "notes.md").write_text("# Notes\n\nThe invoice process is described elsewhere.\n")
    idx = Index.create(root, tmp_path_factory.mktemp("vstore"))
    report = idx.update()
    yield idx, report, root
    idx.close()


def test_report_covers_every_visual_file(visual_index):
    idx, report, _ = visual_index
    assert report.indexed == 5  # invoice.png, scan.pdf, red.jpg, blue.png, notes.md
    assert "broken.png" in dict(report.skipped)
    colls = {c["name"]: c for c in idx.status()["collections"]}
    assert colls["image"]["chunks"] == 3  # invoice, red, blue
    assert colls["screenshot"]["chunks"] == 2  # invoice (document-like) + the scanned PDF page
    # the composite models reuse the text collection's MiniLM instead of loading their own
    assert idx.encoder("image").text_encoder is idx.encoder("text") is idx.encoder("screenshot").text_encoder


def test_text_finds_screenshots_with_regions(visual_index):
    idx, _, _ = visual_index
    hits = idx.search("total amount due", type="screenshot", k=2)
    assert hits[0].path == "invoice.png"
    assert hits[0].regions, "the matched words should be boxed on the page"
    # OCR passages are keyword-indexed too, and carry their box on the page
    kw = idx.search("payment bank transfer", type="screenshot", k=1, mode="keyword")[0]
    assert kw.path == "invoice.png" and len(kw.metadata["region"]) == 4
    assert Path(kw.metadata["page_image"]).exists()
    scan = idx.search("watering tomatoes", type="screenshot", k=1)[0]
    assert scan.path == "scan.pdf" and scan.metadata["page"] == 1


def test_image_query_finds_the_same_image(visual_index):
    idx, _, root = visual_index
    hits = idx.search(image=root / "red.jpg", type="image", k=3)
    assert hits[0].path == "red.jpg"
    assert Path(hits[0].metadata["thumbnail"]).exists()


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium")
def test_render_docs_adds_page_screenshots(tmp_path, monkeypatch):
    from omnivec.ingest.render import Renderer

    browsers = []
    real_enter = Renderer.__enter__
    monkeypatch.setattr(Renderer, "__enter__", lambda self: browsers.append(1) or real_enter(self))
    root = tmp_path / "docs"
    root.mkdir()
    (root / "guide.md").write_text("# Release checklist\n\nTag the version and upload the wheels.\n")
    (root / "page.html").write_text("<h1>Changelog</h1><p>Version two fixes the parser.</p>")
    with Index.create(root, tmp_path / "s", image_model=None, render_docs=True) as idx:
        report = idx.update()
        assert report.indexed == 2
        assert len(browsers) == 1, "one browser for the whole run"
        assert idx.search("changelog parser", type="screenshot", k=1)[0].path == "page.html"
        shots = idx.search("release checklist wheels", type="screenshot", k=1)
        assert shots and shots[0].path == "guide.md" and shots[0].metadata["rendered"]
        assert Path(shots[0].metadata["page_image"]).exists()


def test_text_query_is_encoded_once_per_text_model(visual_index, monkeypatch):
    idx, _, _ = visual_index
    text = idx.encoder("text")
    calls = []
    real = text.forward  # composites call it too when they embed text

    def counting(batch):
        calls.append(1)
        return real(batch)

    monkeypatch.setattr(text, "forward", counting)
    hits = idx.search("total amount due", k=3)  # text, image and screenshot collections
    assert hits and len(calls) == 1


def test_regions_come_from_the_store_without_ocr_at_query_time(visual_index, monkeypatch, tmp_path):
    import omnivec.ocr

    idx, _, _ = visual_index

    def no_ocr(*_a, **_k):
        raise AssertionError("OCR ran at query time")

    monkeypatch.setattr(omnivec.ocr, "_run_tesseract", no_ocr)
    monkeypatch.setenv("OMNIVEC_CACHE", str(tmp_path / "empty-cache"))
    hit = idx.search("Total amount", type="screenshot", k=1, mode="keyword")[0]
    assert hit.path == "invoice.png" and len(hit.regions) >= 2
    assert "words" not in hit.metadata and "words" not in hit.to_dict()
    assert all(len(box) == 4 for box in hit.to_dict()["regions"])


def test_a_deleted_scan_takes_its_page_images_along(tmp_path):
    """A page image holds the document's content: deleting the PDF deletes it (a copy that stays
    indexed keeps the shared images)."""
    root = tmp_path / "repo"
    root.mkdir()
    _page(["Salary review notes", "Confidential"]).save(root / "scan.pdf")
    shutil.copy(root / "scan.pdf", root / "copy.pdf")
    store = tmp_path / "store"
    with Index.create(root, store) as idx:
        idx.update()
    pages = store / "assets" / "pages"
    assert list(pages.glob("*-p1.png"))
    (root / "scan.pdf").unlink()
    with Index.create(root, store) as idx:
        assert idx.update().removed == 1
    assert list(pages.glob("*-p1.png"))  # copy.pdf, the same bytes, still shows them
    (root / "copy.pdf").unlink()
    with Index.create(root, store) as idx:
        assert idx.update().removed == 1
    assert not list(pages.glob("*"))
