"""`TextBackedEncoder`: images or pages read through a text model (ConSE, OCR).

Such a model has two halves. Its text half *is* a text encoder named in the recipe
(`options["text_encoder"]`), so text items get exactly that encoder's vectors and a search over
several collections can encode a text query once (`text_space`). Its image half turns an image
into something in that text space: OCR text for the text encoder, or class-name mixtures.

The base owns what both halves share: loading (or sharing, via the `text_encoder=` load option)
the text encoder and checking it is the recipe's, the dimension and length it imposes, routing
text items to it, and putting the rows of a mixed batch back in order. A family implements
`preprocess_images`, and `collate_images` / `forward_images` when its images are not read as text.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np

from omnivec.encoders.base import Encoder, Prepared, to_numpy
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import InputError
from omnivec.types import Item, Role

#: which half of the model reads a prepared row
Half = Literal["text", "image"]


@dataclass
class _Row:
    """A prepared row tagged with the half that runs it."""

    half: Half
    data: Any


class TextBackedEncoder(Encoder):
    """An image (or page) model whose vectors live in a text encoder's space."""

    #: what the image half is called in errors, e.g. "ConSE has no composed queries"
    composed_hint = "either text or an image"

    def __init__(self, spec: EncoderSpec, fingerprint: str, text: Encoder) -> None:
        super().__init__(spec, fingerprint)
        self.text_encoder = text

    # --- loading ------------------------------------------------------------------------------
    @staticmethod
    def load_text_encoder(spec: EncoderSpec, device: str | None, shared: Encoder | None) -> Encoder:
        """`shared` when given (it must be the recipe's text model), else the recipe's, loaded."""
        from omnivec.encoders.registry import load_encoder

        name = str(spec.options["text_encoder"])
        # a max_length given for this model applies to the text encoder, which does the truncating
        text = shared or load_encoder(name, device=device, max_length=spec.max_length)
        if text.spec.name != name:
            raise InputError(
                received=f"text encoder {text.spec.name}",
                expected=f"the recipe's text encoder {name}",
                fix="pass the matching encoder, or none to load it",
            )
        return text

    @staticmethod
    def in_text_space(spec: EncoderSpec, text: Encoder) -> EncoderSpec:
        """The spec with the text encoder's dimension and length: its vectors are the text's."""
        return replace(spec, dim=text.dim, max_length=text.spec.max_length)

    @property
    def text_space(self) -> Encoder:
        return self.text_encoder  # text items go to it unchanged

    def identities(self) -> list[tuple[str, dict[str, Any]]]:
        """Own first; then one per other identity of the text encoder, whose fingerprint ends this
        one's: a collection built over a torch text model takes queries from its fp32 ONNX twin."""
        own = super().identities()
        text = self.text_encoder.fingerprint
        if not self._fingerprint.endswith(text):
            return own
        head, recipe = self._fingerprint[: -len(text)], self.spec.recipe()
        others = self.text_encoder.identities()[1:]
        return [*own, *((f"{head}{fp}:{self.spec.recipe_hash()}", recipe) for fp, _ in others)]

    # --- family hooks for the image half ----------------------------------------------------------
    @abstractmethod
    def preprocess_images(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        """One `Prepared` per image item, wrapped by `as_text` (the image was read as text, e.g. by
        OCR) or `as_image` (run by `collate_images` / `forward_images`)."""

    def collate_images(self, data: Sequence[Any]) -> Any:
        raise NotImplementedError(f"{type(self).__name__} reads its images as text")

    def forward_images(self, batch: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} reads its images as text")

    @staticmethod
    def as_text(prepared: Sequence[Prepared]) -> list[Prepared]:
        return [replace(p, data=_Row("text", p.data)) for p in prepared]

    @staticmethod
    def as_image(prepared: Prepared) -> Prepared:
        return replace(prepared, data=_Row("image", prepared.data))

    # --- Encoder hooks ------------------------------------------------------------------------
    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        image_rows = [i for i, it in enumerate(items) if it.image is not None]
        for i in image_rows:
            if items[i].text:
                raise InputError(
                    received=f"item #{i} with both text and an image",
                    expected=self.composed_hint,
                    fix="send the text and the image as separate items (to search: one of the two)",
                )
        text_rows = [i for i, it in enumerate(items) if it.image is None]
        out: list[Prepared | None] = [None] * len(items)
        if image_rows:
            for i, p in zip(
                image_rows, self.preprocess_images([items[i] for i in image_rows], role, instruction)
            ):
                out[i] = p
        if text_rows:
            texts = self.text_encoder.preprocess([items[i] for i in text_rows], role, instruction)
            for i, p in zip(text_rows, self.as_text(texts)):
                out[i] = p
        return [p for p in out if p is not None]

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        rows: dict[Half, list[int]] = {"text": [], "image": []}
        for i, p in enumerate(prepared):
            rows[p.data.half].append(i)
        text = [replace(prepared[i], data=prepared[i].data.data) for i in rows["text"]]
        images = [prepared[i].data.data for i in rows["image"]]
        return {
            "size": len(prepared),
            "rows": rows,
            "text": self.text_encoder.collate(text, padding_side) if text else None,
            "images": self.collate_images(images) if images else None,
        }

    def forward(self, batch: Any) -> Any:
        out = np.zeros((batch["size"], self.dim), dtype=np.float32)
        if batch["text"] is not None:
            out[batch["rows"]["text"]] = to_numpy(self.text_encoder.forward(batch["text"]))
        if batch["images"] is not None:
            out[batch["rows"]["image"]] = to_numpy(self.forward_images(batch["images"]))
        return out
