"""PDF pages (text layer, scans, encrypted/broken files) and image files."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnivec.errors import InputError
from omnivec.ingest.media import caption_words
from tests.ingest.helpers import chunks_of, make_pdf, source


def test_pdf_text_per_page() -> None:
    pdf = make_pdf(["Hello from page one\nsecond line here", "Page two talks about embeddings"])
    chunks = chunks_of("papers/a.pdf", pdf)
    assert [(c.kind, c.page, c.start_line, c.end_line) for c in chunks] == [
        ("page", 1, 1, 2),
        ("page", 2, 1, 1),
    ]
    assert chunks[0].display == "Hello from page one\nsecond line here"
    assert chunks[0].text.startswith("papers/a.pdf (page 1 of 2)\n")
    assert chunks[1].display == "Page two talks about embeddings"
    assert all(c.extra["pages"] == 2 and c.language == "pdf" and c.image is None for c in chunks)


def test_pdf_page_without_text_layer_is_flagged_for_ocr() -> None:
    chunks = chunks_of("scan.pdf", make_pdf(["Some text", None]))
    blank = chunks[1]
    assert blank.page == 2 and blank.text == "" and blank.image is None
    assert blank.extra["needs_ocr"] is True
    assert "needs_ocr" not in chunks[0].extra


def test_long_pdf_page_is_split_and_keeps_its_page() -> None:
    page = "\n".join(f"line {i} of a long page with several words" for i in range(60))
    chunks = chunks_of("long.pdf", make_pdf([page]), max_tokens=60)
    assert len(chunks) > 3
    assert all(c.page == 1 and len(c.text.split()) <= 60 for c in chunks)
    assert chunks[-1].end_line == 60


def test_encrypted_pdf_is_an_input_error() -> None:
    with pytest.raises(InputError, match="encrypted"):
        chunks_of("secret.pdf", make_pdf(["x"], encrypt=True))


@pytest.mark.parametrize("data", [b"%PDF-1.4\ngarbage", b"", b"not a pdf at all"])
def test_broken_pdf_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError, match="cannot be read"):
        chunks_of("broken.pdf", data)


def test_image_chunk(tmp_path: Path) -> None:
    from PIL import Image

    path = tmp_path / "red_car-photo.png"
    Image.new("RGB", (40, 30), (200, 0, 0)).save(path)
    data = path.read_bytes()
    (chunk,) = chunks_of("red_car-photo.png", data, root=tmp_path)
    assert chunk.kind == "image" and chunk.language == "png"
    assert chunk.text == "red car photo"
    assert chunk.image == str(path)
    assert (chunk.extra["width"], chunk.extra["height"]) == (40, 30)
    # the hash covers the pixels: same name, other bytes -> another hash
    Image.new("RGB", (40, 30), (0, 0, 200)).save(path)
    (other,) = chunks_of("red_car-photo.png", path.read_bytes(), root=tmp_path)
    assert other.content_hash != chunk.content_hash
    assert chunk.content_hash == chunks_of("red_car-photo.png", data, root=tmp_path)[0].content_hash


@pytest.mark.parametrize("data", [b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"GIF89a", b"hello"])
def test_corrupt_image_is_an_input_error(data: bytes) -> None:
    with pytest.raises(InputError, match="cannot be decoded"):
        chunks_of("bad.png", data)


def test_truncated_jpeg_is_an_input_error(tmp_path: Path) -> None:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buf, "JPEG")
    with pytest.raises(InputError):
        chunks_of("cut.jpg", buf.getvalue()[:200])


def test_svg_is_checked_and_sized() -> None:
    svg = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="120" height="80.5"></svg>'
    (chunk,) = chunks_of("icons/arrowLeft.svg", svg)
    assert chunk.text == "arrow left"
    assert (chunk.extra["width"], chunk.extra["height"], chunk.extra["format"]) == (120, 80, "svg")
    with pytest.raises(InputError, match="svg"):
        chunks_of("fake.svg", b"just text")


def test_caption_words() -> None:
    assert caption_words("a/b/red_car-photo.png") == "red car photo"
    assert caption_words("IMG_2034.JPG") == "img 2034"
    assert caption_words("HTTPServerDiagram.webp") == "http server diagram"
    assert caption_words("___.png") == "___"


def test_image_source_kind() -> None:
    assert source("x.jpeg", b"").kind == "image" and source("x.jpeg", b"").language == "jpeg"
