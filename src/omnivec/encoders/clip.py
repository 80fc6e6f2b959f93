"""CLIP dual encoders: BGE-VL-base / BGE-VL-large and any CLIP checkpoint folder.

Stock `CLIPModel` + `CLIPProcessor` (the BGE-VL checkpoints' own remote code breaks on recent
transformers and is never run). Text is truncated to the text tower's positions (77) and reported;
an image goes through the checkpoint's CLIP image processing; a composed query (image + text) is
the sum of the *unnormalised* image and text projections, normalised by the base class.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omnivec.encoders._hf import HFEncoder, pad_ids, tokenize, torch_module, transformers_module
from omnivec.encoders.base import Prepared, has_text
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import ModelUnavailableError
from omnivec.images import open_rgb
from omnivec.types import Item, Role

log = logging.getLogger(__name__)

# The PIL backend is what the reference pipeline (transformers 4.x CLIPProcessor) ran; the
# torchvision backend resizes slightly differently, which would move vectors off the published ones.
CLIP_OPTIONS = {"image_backend": "pil", "composed": "sum of unnormalised projections"}


@dataclass(frozen=True)
class ClipInput:
    """What one item needs at collate time: token ids and/or the image source (loaded lazily)."""

    ids: list[int] | None
    image: Any = None


@register_family("clip")
class ClipEncoder(HFEncoder):
    model_types = ("clip",)
    batch_tokens = 8192  # an image costs its patches + CLS (197 for ViT-B/16 at 224 px)

    def __init__(self, spec: EncoderSpec, path: Path, fingerprint: str, device: str | None = None) -> None:
        super().__init__(spec, path, fingerprint, device)
        tf = transformers_module()
        backend = spec.options.get("image_backend", "pil")
        self.processor = tf.CLIPProcessor.from_pretrained(path, backend=backend)
        self.tokenizer = self.processor.tokenizer
        # trust_remote_code stays off: only the stock architecture runs
        self.model = tf.CLIPModel.from_pretrained(path, dtype=self.dtype).to(self.device).eval()
        vision = self.model.config.vision_config
        self.image_cost = (vision.image_size // vision.patch_size) ** 2 + 1
        self.spec = self._settle_spec(spec, path)

    @classmethod
    def spec_for_folder(cls, path: Path, config: dict[str, Any]) -> EncoderSpec:
        return EncoderSpec(
            name=str(path), family="clip", modalities=("text", "image"), max_length=77,
            options=CLIP_OPTIONS, license="see checkpoint",
        )  # fmt: skip

    def _settle_spec(self, spec: EncoderSpec, path: Path) -> EncoderSpec:
        """Check the recipe's facts against the checkpoint: dimension and text length."""
        config = self.model.config
        dim = self.model.text_projection.out_features
        if dim != config.projection_dim or dim != self.model.visual_projection.out_features:
            raise ModelUnavailableError(
                received=f"checkpoint {path} whose projections disagree with projection_dim "
                f"{config.projection_dim}",
                expected="text and image projections of the config's projection_dim",
                fix="re-save the checkpoint with a consistent config.json",
            )
        self.check_dim(spec, dim, "projection_dim")
        max_length = self.cap_length(
            spec.max_length, config.text_config.max_position_embeddings, "text positions"
        )
        return replace(spec, dim=dim, max_length=max_length)

    # --- family hooks ---------------------------------------------------------------------
    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        with_text = [i for i, it in enumerate(items) if has_text(it)]
        texts = [self.spec.render(items[i].text or "", role, instruction) for i in with_text]
        # the tokenizer fails on an empty list (an all-image window)
        tokens = dict(zip(with_text, tokenize(self.tokenizer, texts, self.spec.max_length))) if texts else {}
        out = []
        for i, it in enumerate(items):
            tok = tokens.get(i)
            image_cost = self.image_cost if it.image is not None else 0
            text_cost = tok.cost if tok else 0
            out.append(
                Prepared(
                    data=ClipInput(ids=tok.data if tok else None, image=it.image),
                    cost=text_cost + image_cost,
                    truncated=bool(tok and tok.truncated),
                    original_cost=(tok.original_cost if tok else 0) + image_cost,
                )
            )
        return out

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        torch = torch_module()
        inputs: list[ClipInput] = [p.data for p in prepared]
        batch: dict[str, Any] = {"size": len(inputs)}
        text_rows = [i for i, x in enumerate(inputs) if x.ids is not None]
        if text_rows:
            # Always right padding, whatever was asked: CLIP's text tower has absolute positions
            # and pools at the first EOS, which (pad == EOS) would be a pad under left padding.
            # Causal attention keeps real tokens blind to right padding, so the side is immaterial.
            batch.update(
                pad_ids(self.tokenizer, [Prepared(inputs[i].ids, 0) for i in text_rows], "right", self.device)
            )
            batch["text_rows"] = torch.tensor(text_rows, device=self.device)
        image_rows = [i for i, x in enumerate(inputs) if x.image is not None]
        if image_rows:
            images = [open_rgb(inputs[i].image) for i in image_rows]
            pixels = self.processor.image_processor(images=images, return_tensors="pt")["pixel_values"]
            batch["pixel_values"] = pixels.to(self.device, self.dtype)
            batch["image_rows"] = torch.tensor(image_rows, device=self.device)
        return batch

    def forward(self, batch: Any) -> Any:
        torch = torch_module()
        out = torch.zeros(batch["size"], self.dim, dtype=torch.float32, device=self.device)
        with torch.inference_mode():
            if "text_rows" in batch:
                text = self.model.get_text_features(
                    input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]
                ).pooler_output
                out.index_add_(0, batch["text_rows"], text.float())
            if "image_rows" in batch:
                image = self.model.get_image_features(pixel_values=batch["pixel_values"]).pooler_output
                # composed rows get text + image: the sum of unnormalised projections
                out.index_add_(0, batch["image_rows"], image.float())
        return out


_BGE_VL = dict(
    family="clip", modalities=("text", "image"), max_length=77, options=CLIP_OPTIONS, license="MIT",
    hardware="CPU or GPU",
)  # fmt: skip

register_spec(
    EncoderSpec(
        name="BAAI/BGE-VL-base",
        dim=512,
        params="150M",
        description="BGE-VL CLIP ViT-B/16: text, image and composed (image + text) retrieval",
        **_BGE_VL,  # type: ignore[arg-type]
    )
)
register_spec(
    EncoderSpec(
        name="BAAI/BGE-VL-large",
        dim=768,
        params="428M",
        description="BGE-VL CLIP ViT-L/14: text, image and composed (image + text) retrieval",
        **_BGE_VL,  # type: ignore[arg-type]
    )
)
