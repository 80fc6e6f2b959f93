"""Tesseract OCR family: words and boxes from a rendered page, caching, errors, the text space."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from omnivec.encoders.ocr import OcrEncoder
from omnivec.encoders.registry import load_encoder
from omnivec.errors import MissingExtraError
from omnivec.ocr import OcrCache, OcrSettings, highlight_boxes, line_chunks, ocr_image
from omnivec.types import Item
from tests.encoders.contract import check_contract
from tests.encoders.inputs import draw_page

NAME = "omnivec/tesseract-minilm"
LINES = ["Quarterly invoice for garden tools", "Total amount due: 1250 euros", "Shipping by railway freight"]

pytestmark = pytest.mark.skipif(shutil.which("tesseract") is None, reason="apt-get install tesseract-ocr")


@pytest.fixture(scope="module")
def page():
    return draw_page(LINES)


@pytest.fixture(scope="module")
def enc(tmp_path_factory, minilm) -> OcrEncoder:
    cache = tmp_path_factory.mktemp("ocr") / "ocr.sqlite"
    e = load_encoder(NAME, ocr_cache=cache, text_encoder=minilm)
    assert isinstance(e, OcrEncoder)
    return e


def test_ocr_recovers_words_and_boxes(page):
    img, drawn = page
    res = ocr_image(img)
    assert [ln for ln in res.text.splitlines() if ln] == LINES  # blocks are split by a blank line
    assert res.size == img.size
    for w in res.words:
        left, top, right, bottom = drawn[w.text]
        # Tesseract's box hugs the ink; Pillow's includes the font's line spacing
        assert abs(w.left - left) <= 4 and abs(w.left + w.width - right) <= 4
        assert top - 2 <= w.top and w.top + w.height <= bottom + 4
        assert w.conf > 50
    assert len({(w.block, w.par, w.line) for w in res.words}) == 3


def test_scaled_ocr_maps_boxes_back(page):
    img, _ = page
    full, half = ocr_image(img), ocr_image(img, OcrSettings(scale=0.8))
    assert [w.text for w in half.words] == [w.text for w in full.words]
    for a, b in zip(full.words, half.words):
        assert abs(a.left - b.left) <= 4 and abs(a.top - b.top) <= 4


def test_highlight_boxes(page):
    res = ocr_image(page[0])
    boxes = highlight_boxes(res, "INVOICE total, railway?")
    words = {w.box: w.text for w in res.words}
    assert sorted(words[b] for b in boxes) == ["Total", "invoice", "railway"]
    assert highlight_boxes(res, ["nothing", "here"]) == []


def test_ocr_cache_hit_skips_tesseract(page, tmp_path):
    cache = OcrCache(tmp_path / "ocr.sqlite")
    first = ocr_image(page[0], cache=cache)
    assert len(cache) == 1
    # a binary that does not exist proves the second result came from the cache
    again = ocr_image(page[0], OcrSettings(tesseract_cmd="/nonexistent/tesseract"), cache=cache)
    assert again == first
    # other settings are another entry
    ocr_image(page[0], OcrSettings(psm=6), cache=cache)
    assert len(cache) == 2


def test_missing_binary_names_the_package(page, minilm):
    enc = load_encoder(NAME, tesseract_cmd="/nonexistent/tesseract", ocr_cache=False, text_encoder=minilm)
    with pytest.raises(MissingExtraError, match=r"apt-get install tesseract-ocr"):
        enc.encode([Item(image=page[0])])
    # text queries need no OCR
    assert enc.encode(["invoice"], role="query").shape == (1, 384)


def test_pages_land_in_the_text_space(enc, page):
    img, _ = page
    other, _ = draw_page(["Recipe for apple pie", "Bake the pastry for forty minutes"])
    docs = enc.encode([Item(image=img), Item(image=other)])
    assert docs.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    # the page's vector is the text encoder's vector of its OCR text
    ocr_text = enc.ocr([img])[0].text
    np.testing.assert_allclose(docs[0], enc.text_encoder.encode([ocr_text])[0], atol=1e-5)
    q = enc.encode(["how much is owed on the invoice", "baking a pie"], role="query")
    assert list((q @ docs.T).argmax(1)) == [0, 1]


def test_contract(enc, page):
    other, _ = draw_page(["A second page", "with fewer words"], size=(600, 200))
    check_contract(enc, [Item(image=page[0]), "a text query", Item(image=other)])


def test_truncation_is_reported(page):
    enc = load_encoder(NAME, max_length=8, ocr_cache=False)
    assert enc.text_encoder.spec.max_length == 8
    res = enc.embed([Item(image=page[0]), "short"])
    assert res.truncated == [0]


def test_line_chunks_keep_whole_lines(page):
    res = ocr_image(page[0])
    chunks = line_chunks(res, max_words=6, overlap_lines=0)
    assert [c.text.strip() for c in chunks] == LINES
    assert [len(c.words) for c in chunks] == [5, 5, 4]
    overlapping = line_chunks(res, max_words=12, overlap_lines=1)
    # lines 0-1, then 1-2: one line of overlap
    assert [[ln for ln in c.text.splitlines() if ln] for c in overlapping] == [LINES[:2], LINES[1:]]
