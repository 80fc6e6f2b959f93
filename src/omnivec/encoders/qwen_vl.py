"""Qwen2.5-VL embedders (BGE-VL-Screenshot): the checkpoint's own prompt, the last token's state.

The checkpoint decides the recipe at load (`qwen_vl_checkpoint`): its chat template, its
sentence-transformers prompts (the system turn) and its pixel limits become the spec's templates,
default instruction and `min_pixels`/`max_pixels`, recorded with every index; a recipe stating
other values is refused. Token ids are built piece by piece so user text never injects special
tokens (`<|image_pad|>` in OCR text), and only the user text is truncated, never an image.

The composite `Qwen2_5_VLProcessor` needs torchvision for its video half, which does not import
beside the torch used here, so the two halves it wraps are used directly: the checkpoint's
tokenizer and its Qwen2-VL image processor, with each `<|image_pad|>` expanded to
`prod(image_grid_thw) / merge_size**2` tokens exactly as that processor does.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omnivec.encoders import qwen_vl_checkpoint as ckpt
from omnivec.encoders._hf import HFEncoder, pool, torch_module, transformers_module
from omnivec.encoders.base import Prepared
from omnivec.encoders.qwen_vl_checkpoint import VISION_BLOCK, CheckpointPrompt
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import InputError, ModelUnavailableError, OmnivecError, RecipeMismatchError
from omnivec.images import open_rgb
from omnivec.types import Item, Role

log = logging.getLogger(__name__)

_SLOT = "\x00omnivec-content\x00"  # stands for the user content while the frame is tokenised
_CUSTOM_CODE = ("modeling_bge_vl_screenshot.py",)


def chat_template(system: str) -> str:
    """The stock Qwen chat prompt (system turn, user turn, open assistant turn) as a `str.format`
    template: what a recipe with `prompt_source="recipe"` may state; the checkpoint has the say."""
    return (
        f"<|im_start|>system\n{system}<|im_end|>\n"
        "<|im_start|>user\n{text}<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


@dataclass(frozen=True)
class _Row:
    """One item's model inputs before padding; the image is decoded again at collate time."""

    ids: list[int]
    types: list[int]  # 0 text, 1 image placeholder (Qwen's `mm_token_type_ids`)
    image: Any = None
    visual_tokens: int = 0


@register_family("qwen_vl")
class QwenVLEncoder(HFEncoder):
    """Stock `Qwen2_5_VLForConditionalGeneration` backbone; last real token, any padding side."""

    model_types = ("qwen2_5_vl",)
    gpu_dtype = "bfloat16"
    batch_tokens = 16384  # text + visual tokens per forward: a handful of capped screenshots
    max_batch_size = 64

    def __init__(self, spec: EncoderSpec, path: Path, fingerprint: str, device: str | None = None) -> None:
        spec = _with_defaults(spec)
        super().__init__(spec, path, fingerprint, device)
        tf = transformers_module()
        self.tokenizer = tf.AutoTokenizer.from_pretrained(path)
        # the resize backend is part of the recipe: PIL and torchvision bicubic differ slightly, and
        # transformers picks torchvision wherever it is installed
        backend = spec.options["image_backend"]
        self.image_processor = tf.AutoImageProcessor.from_pretrained(path, backend=backend)
        full = tf.Qwen2_5_VLForConditionalGeneration.from_pretrained(path, dtype=self.dtype)
        self.model = full.model.to(self.device).eval()  # the backbone: no LM head, no logits
        self.checks: dict[str, str] = {"image_processor": type(self.image_processor).__name__}
        vocab = self.tokenizer.convert_tokens_to_ids
        self._vision_ids = [vocab(t) for t in ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>")]
        self.spec = self._settle_spec(spec, path)
        self._pad_id = self.tokenizer.pad_token_id or 0  # masked out, so any id will do

    @classmethod
    def load(
        cls,
        spec: EncoderSpec,
        weights: str | Path,
        device: str | None = None,
        min_pixels: int | None = None,
        max_pixels: int | None = None,
    ) -> HFEncoder:
        """As `HFEncoder.load`. The image size bounds are the checkpoint's; `max_pixels` below its
        limit is a cap (recorded with the index), any other disagreement is refused at load."""
        given = {"min_pixels": min_pixels, "max_pixels": max_pixels}
        overrides = {k: v for k, v in given.items() if v is not None}
        if overrides:
            spec = replace(spec, options={**spec.options, **overrides})
        _check_pixels(_with_defaults(spec).options)
        return super().load(spec, weights, device=device)

    @classmethod
    def spec_for_folder(cls, path: Path, config: dict[str, Any]) -> EncoderSpec:
        return EncoderSpec(name=str(path), **_RECIPE)

    # --- the checkpoint decides: dims, pixel limits, prompts ----------------------------------
    def _settle_spec(self, spec: EncoderSpec, path: Path) -> EncoderSpec:
        dim = int(self.model.config.text_config.hidden_size)
        self.check_dim(spec, dim, "language-model hidden size")
        self.checks["dim"] = f"{dim} (text_config.hidden_size)"
        spec = replace(spec, dim=dim, pooling="last")
        return self._settle_prompts(self._settle_pixels(spec), path)

    def _settle_pixels(self, spec: EncoderSpec) -> EncoderSpec:
        ip, opts = self.image_processor, spec.options
        factor = ip.patch_size * ip.merge_size
        self.checks["pixels_per_visual_token"] = f"{factor}x{factor}"
        if factor != 28 or self.model.config.vision_config.spatial_merge_size != ip.merge_size:
            log.warning(
                "checkpoint image processor: patch %d x merge %d (vision config merge %d); omnivec's "
                "suggested caps assume 14 x 2 = 28 px per visual token",
                ip.patch_size, ip.merge_size, self.model.config.vision_config.spatial_merge_size,
            )  # fmt: skip
        own = (int(ip.size["shortest_edge"]), int(ip.size["longest_edge"]))
        lo = own[0] if opts["min_pixels"] is None else opts["min_pixels"]
        hi = own[1] if opts["max_pixels"] is None else opts["max_pixels"]
        if lo != own[0] or hi > own[1]:
            raise RecipeMismatchError(
                received=f"min_pixels={lo}, max_pixels={hi} for {spec.name}",
                expected=f"the checkpoint's preprocessor_config.json limits: min_pixels={own[0]}, "
                f"max_pixels={own[1]} or a lower max_pixels (a cap, recorded with the index)",
                fix="drop the pixel options to use the checkpoint's limits, or cap max_pixels below them",
            )
        self.checks["pixels"] = f"min/max {(lo, hi)}, checkpoint preprocessor {own}"
        options = {**opts, "min_pixels": lo, "max_pixels": hi, "checkpoint_pixels": own}
        _check_pixels(options)
        return replace(spec, options=options)

    def _settle_prompts(self, spec: EncoderSpec, path: Path) -> EncoderSpec:
        found = ckpt.read_checkpoint_prompt(path, self.tokenizer)
        self.checks["chat_template"] = found.template_file
        self.checks["sentence_transformers_prompts"] = json.dumps(dict(found.prompts), sort_keys=True)
        for name in _CUSTOM_CODE:
            if (path / name).is_file():
                self.checks["custom_code"] = name
                log.info("checkpoint ships %s; not run: its chat template and prompts are followed", name)
        if found.template is None:
            raise ModelUnavailableError(
                received=f"checkpoint {path} without a chat template",
                expected="chat_template.jinja, chat_template.json or a tokenizer chat_template: the "
                "checkpoint's own prompt format",
                fix="copy the base model's chat template into the folder",
            )
        derived = ckpt.derive_templates(self.tokenizer, found, spec.options["content_order"])
        instruction = self._default_instruction(spec, found)
        if spec.options["prompt_source"] == "recipe":  # a recipe that states its own prompt
            diffs = [
                f"{k}: recipe {getattr(spec, k)!r}, checkpoint {v!r}"
                for k, v in derived.items()
                if getattr(spec, k) != v
            ]
            if diffs:
                raise RecipeMismatchError(
                    received=f"recipe {spec.name} whose prompt differs from the checkpoint's: {'; '.join(diffs)}",
                    expected="the prompt the checkpoint's chat template and prompts render",
                    fix="drop prompt_source='recipe' so the checkpoint decides, or fix the recipe",
                )
        spec = replace(
            spec,
            query_template=derived["query_template"],
            query_template_bare=derived["query_template_bare"],
            document_template=derived["document_template"],
            default_instruction=instruction,
            options={**spec.options, "chat_template_kwargs": dict(found.template_kwargs)},
        )
        self._verify_prompts(spec, found)
        return spec

    @staticmethod
    def _default_instruction(spec: EncoderSpec, found: CheckpointPrompt) -> str | None:
        """The checkpoint's query prompt; a recipe may add one only where the checkpoint has none."""
        own, stated = found.query_prompt, spec.default_instruction
        if own is not None and stated is not None and stated != own:
            raise RecipeMismatchError(
                received=f"default query instruction {stated!r} for {spec.name}",
                expected=f"the checkpoint's query prompt {own!r} (config_sentence_transformers.json)",
                fix="drop the recipe's default instruction, or pass instruction= per call",
            )
        return own if own is not None else stated

    def _verify_prompts(self, spec: EncoderSpec, found: CheckpointPrompt) -> None:
        """Probe prompts rendered from the spec equal the checkpoint template's own rendering."""
        order = spec.options["content_order"]
        for role, system, instruction in ckpt.probe_cases(found):
            for text, has_image in ckpt.probe_contents():
                ours = self.render(spec, text or "", has_image, role, instruction)
                msgs = ckpt.messages(system, text, has_image, order)
                theirs = ckpt.render_template(self.tokenizer, found, role, msgs)
                # pieces tokenised apart must be the ids of the whole string (no merge across a seam)
                frame = self._frame(spec, role, instruction)
                ids = self._assemble(frame, self._encode(text) if text else [], int(has_image))[0]
                if ours != theirs or ids != self._encode(theirs, trusted=True):
                    raise ModelUnavailableError(
                        received=f"a chat template ({found.template_file}) whose {role} prompt omnivec "
                        f"cannot rebuild: checkpoint {theirs!r}, omnivec {ours!r}",
                        expected=f"a frame around the user content, images as one {VISION_BLOCK} block each",
                        fix="report the checkpoint's chat template to omnivec",
                    )

    # --- prompts ------------------------------------------------------------------------------
    @staticmethod
    def render(spec: EncoderSpec, text: str, has_image: bool, role: Role, instruction: str | None) -> str:
        """The exact prompt string, with one `<|image_pad|>` standing for the whole image."""
        parts = {"text": text, "image": VISION_BLOCK if has_image else ""}
        content = "".join(parts[name] for name in spec.options["content_order"])
        return spec.render(_SLOT, role, instruction).replace(_SLOT, content)

    def prompt(self, item: Item, role: Role = "document", instruction: str | None = None) -> str:
        """What the model reads for `item` (before the image placeholder is expanded)."""
        instruction = self.spec.resolve_instruction(role, instruction)
        return self.render(self.spec, item.text or "", item.image is not None, role, instruction)

    # --- family hooks -------------------------------------------------------------------------
    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        frame = self._frame(self.spec, role, instruction)
        return [self._prepare(item, frame) for item in items]

    def _frame(self, spec: EncoderSpec, role: Role, instruction: str | None) -> tuple[list[int], list[int]]:
        head, tail = spec.render(_SLOT, role, instruction).split(_SLOT)
        return self._encode(head, trusted=True), self._encode(tail, trusted=True)

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        torch = torch_module()
        rows: list[_Row] = [p.data for p in prepared]
        width = max(len(r.ids) for r in rows)
        ids, types, mask = [], [], []
        for r in rows:
            gap = width - len(r.ids)
            pad_ids, zeros, ones = [self._pad_id] * gap, [0] * gap, [1] * len(r.ids)
            left = padding_side == "left"
            ids.append(pad_ids + r.ids if left else r.ids + pad_ids)
            types.append(zeros + r.types if left else r.types + zeros)
            mask.append(zeros + ones if left else ones + zeros)
        batch = {
            "input_ids": torch.tensor(ids),
            "attention_mask": torch.tensor(mask),
            "mm_token_type_ids": torch.tensor(types),
        }
        with_image = [r for r in rows if r.image is not None]
        if with_image:
            batch.update(self._pixels(with_image))
        return {k: v.to(self.device) for k, v in batch.items()}

    def forward(self, batch: Any) -> Any:
        torch = torch_module()
        with torch.inference_mode():
            # 3D rope positions counted over real tokens only; the model's own fallback numbers
            # text-only rows 0..L-1 across left padding (harmless for RoPE only up to rounding)
            # and otherwise leans on rope deltas it caches between calls
            positions, _ = self.model.get_rope_index(
                batch["input_ids"], batch["mm_token_type_ids"],
                image_grid_thw=batch.get("image_grid_thw"), attention_mask=batch["attention_mask"],
            )  # fmt: skip
            hidden = self.model(**batch, position_ids=positions, use_cache=False).last_hidden_state
        return pool(hidden, batch["attention_mask"], "last")

    # --- helpers --------------------------------------------------------------------------------
    def _encode(self, text: str, trusted: bool = False) -> list[int]:
        # user text is split on special-token strings so that it is read as plain text
        out = self.tokenizer(text, add_special_tokens=False, split_special_tokens=not trusted)
        return list(out["input_ids"])

    def _prepare(self, item: Item, frame: tuple[list[int], list[int]]) -> Prepared:
        text = self._encode(item.text) if item.text else []
        kept = text[: self.spec.max_length]
        visual = self._visual_tokens(item.image) if item.image is not None else 0
        ids, types = self._assemble(frame, kept, visual)
        row = _Row(ids=ids, types=types, image=item.image, visual_tokens=visual)
        full = len(ids) + len(text) - len(kept)
        return Prepared(data=row, cost=len(ids), truncated=len(kept) < len(text), original_cost=full)

    def _assemble(
        self, frame: tuple[list[int], list[int]], text: list[int], visual: int
    ) -> tuple[list[int], list[int]]:
        """Frame head, the content pieces in the recipe's order, frame tail: ids and token types."""
        head, tail = frame
        start, pad, end = self._vision_ids
        pieces = {
            "text": (text, [0] * len(text)),
            "image": ([start, *[pad] * visual, end], [0, *[1] * visual, 0]) if visual else ([], []),
        }
        ids, types = list(head), [0] * len(head)
        for name in self.spec.options["content_order"]:
            ids += pieces[name][0]
            types += pieces[name][1]
        return ids + tail, types + [0] * len(tail)

    def _size(self) -> dict[str, int]:
        return {
            "shortest_edge": self.spec.options["min_pixels"],
            "longest_edge": self.spec.options["max_pixels"],
        }

    def _visual_tokens(self, source: Any) -> int:
        """Merged visual tokens the image becomes: (resized h / 28) * (resized w / 28)."""
        width, height = open_rgb(source).size
        ip, opts = self.image_processor, self.spec.options
        bounds = {"min_pixels": opts["min_pixels"], "max_pixels": opts["max_pixels"]}
        try:
            patches = ip.get_number_of_image_patches(height, width, bounds)
        except ValueError as exc:  # Qwen's resize refuses aspect ratios over 200:1
            raise InputError(
                received=f"image of {width}x{height} pixels ({exc})",
                expected="an aspect ratio under 200:1",
                fix="crop or split the image (e.g. one screenshot per screen height)",
            ) from exc
        return int(patches) // ip.merge_size**2

    def _pixels(self, rows: Sequence[_Row]) -> dict[str, Any]:
        images = [open_rgb(r.image) for r in rows]
        out = self.image_processor(images=images, size=self._size(), return_tensors="pt")
        grid = out["image_grid_thw"]
        got = (grid.prod(-1) // self.image_processor.merge_size**2).tolist()
        expected = [r.visual_tokens for r in rows]
        if got != expected:  # the placeholder count fixed at preprocess time must match the pixels
            raise OmnivecError(
                received=f"images that became {got} visual tokens at collate time",
                expected=f"the {expected} tokens counted when the prompts were built",
                fix="do not modify PIL images passed to encode while it runs",
            )
        return {"pixel_values": out["pixel_values"].to(self.dtype), "image_grid_thw": grid}


def _check_pixels(options: Mapping[str, Any]) -> None:
    """Bounds given (None: the checkpoint's, filled in at load) must be whole visual tokens apart."""
    lo, hi = options["min_pixels"], options["max_pixels"]
    given = [v for v in (lo, hi) if v is not None]
    if not all(isinstance(v, int) and v >= 28 * 28 for v in given) or (len(given) == 2 and lo > hi):
        raise InputError(
            received=f"min_pixels={lo!r}, max_pixels={hi!r}",
            expected="integers with 784 (one 28x28 visual token) <= min_pixels <= max_pixels",
            fix=f"e.g. max_pixels={MAX_PIXELS} (omnivec's suggested screenshot cap), or neither",
        )


def _with_defaults(spec: EncoderSpec) -> EncoderSpec:
    return replace(spec, options={**_OPTIONS, **spec.options})


# One visual token covers 28x28 pixels (14 px patches, 2x2 merged), so tokens = pixels / 784.
# A suggested cap, not a default (the checkpoint's preprocessor_config.json limits are): at 2048
# tokens a 1024x1280 page keeps its native resolution (1036x1288 = 37x46 = 1702 tokens) so small
# print stays legible, while a full-HD screen (1920x1080, ~2645 tokens) is scaled by ~0.88.
MAX_PIXELS = 2048 * 28 * 28  # 1,605,632
_OPTIONS: dict[str, Any] = {
    "min_pixels": None,  # None: the checkpoint's
    "max_pixels": None,  # None: the checkpoint's; lower values cap screenshots (recorded)
    "content_order": ("text", "image"),
    "image_backend": "pil",
    # "checkpoint": templates and query instruction come from the checkpoint's chat template and
    # sentence-transformers prompts at load; "recipe": the spec's templates, refused if they differ
    "prompt_source": "checkpoint",
}
# shown before a load only: every load replaces them with the checkpoint's own rendering
_FROM_CHECKPOINT = dict(
    query_template="<checkpoint chat template: system turn {instruction}, user turn {text}>",
    query_template_bare="<checkpoint chat template: user turn {text}>",
    document_template="<checkpoint chat template: system turn the document prompt if any, user turn {text}>",
)

_RECIPE: dict[str, Any] = dict(
    family="qwen_vl",
    modalities=("text", "image", "screenshot"),
    max_length=1024,  # user-text tokens; the chat frame and the image come on top
    pooling="last",
    padding_side="left",
    **_FROM_CHECKPOINT,
    instructions={"vis-ir:composed": "Represent the given image with the given query."},
    options=_OPTIONS,
    hardware="GPU (bf16)",
    description="Qwen2.5-VL checkpoint; prompt read from the checkpoint at load (its chat template, "
    "its sentence-transformers prompts as the system turn, [text, image] as user turn), last token",
)

register_spec(
    EncoderSpec(
        name="BAAI/BGE-VL-Screenshot",
        dim=2048,
        license="unconfirmed; base Qwen2.5-VL-3B weights: Qwen Research License (non-commercial)",
        params="3.75B",
        aliases=("bge-vl-screenshot",),
        **{
            **_RECIPE,
            "description": "Screenshot/document retrieval (Vis-IR, UniSE successor); the checkpoint "
            "decides at load: its chat template, its sentence-transformers prompts as the system "
            "turn, its pixel limits; [text, image] as user turn, last token",
        },
    )
)
