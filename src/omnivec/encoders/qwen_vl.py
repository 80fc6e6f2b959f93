"""Qwen2.5-VL embedders (BGE-VL-Screenshot): a chat-formatted prompt, the last token's final state.

The prompt is data in the spec (`{instruction}` is the system turn, `{text}` the user turn's
content, where text and a vision block appear in `options["content_order"]`). Token ids are built
piece by piece so that user text can never inject special tokens (`<|image_pad|>` in OCR text
would otherwise break the placeholder count), and only the user text is truncated, never an image.

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

from omnivec.encoders._hf import HFEncoder, pool, torch_module, transformers_module
from omnivec.encoders.base import Prepared
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import InputError, OmnivecError
from omnivec.images import open_rgb
from omnivec.types import Item, Role

log = logging.getLogger(__name__)

VISION_BLOCK = "<|vision_start|><|image_pad|><|vision_end|>"
QWEN_DEFAULT_SYSTEM = "You are a helpful assistant."  # what Qwen's chat template adds when no system turn
_SLOT = "\x00omnivec-content\x00"  # stands for the user content while the frame is tokenised
_CUSTOM_CODE = ("modeling_bge_vl_screenshot.py",)


def chat_template(system: str) -> str:
    """A Qwen chat prompt (system turn, user turn, open assistant turn) as a `str.format` template."""
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
        self.spec = self._settle_spec(spec, path)
        vocab = self.tokenizer.convert_tokens_to_ids
        self._vision_ids = [vocab(t) for t in ("<|vision_start|>", "<|image_pad|>", "<|vision_end|>")]
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
        """As `HFEncoder.load`; `min_pixels`/`max_pixels` override the recipe's image size bounds."""
        given = {"min_pixels": min_pixels, "max_pixels": max_pixels}
        overrides = {k: v for k, v in given.items() if v is not None}
        if overrides:
            spec = replace(spec, options={**spec.options, **overrides})
        _check_pixels(_with_defaults(spec).options)
        return super().load(spec, weights, device=device)

    @classmethod
    def spec_for_folder(cls, path: Path, config: dict[str, Any]) -> EncoderSpec:
        return EncoderSpec(name=str(path), **_RECIPE)

    # --- load-time checks against the checkpoint's own files --------------------------------
    def _settle_spec(self, spec: EncoderSpec, path: Path) -> EncoderSpec:
        dim = int(self.model.config.text_config.hidden_size)
        self.check_dim(spec, dim, "language-model hidden size")
        self.checks["dim"] = f"{dim} (text_config.hidden_size)"
        spec = replace(spec, dim=dim, pooling="last")
        self._check_processor(spec.options)
        self._check_prompts(spec, path)
        # recorded in the recipe, so an index states whether its prompt matched the checkpoint's
        return replace(spec, options={**spec.options, "prompt_check": self.checks["chat_template"]})

    def _check_processor(self, options: Mapping[str, Any]) -> None:
        ip = self.image_processor
        factor = ip.patch_size * ip.merge_size
        self.checks["pixels_per_visual_token"] = f"{factor}x{factor}"
        if factor != 28 or self.model.config.vision_config.spatial_merge_size != ip.merge_size:
            log.warning(
                "checkpoint image processor: patch %d x merge %d (vision config merge %d); the recipe's "
                "pixel caps assume 14 x 2 = 28 px per visual token",
                ip.patch_size, ip.merge_size, self.model.config.vision_config.spatial_merge_size,
            )  # fmt: skip
        own = (getattr(ip.size, "shortest_edge", None), getattr(ip.size, "longest_edge", None))
        ours = (options["min_pixels"], options["max_pixels"])
        self.checks["pixels"] = f"recipe min/max {ours}, checkpoint preprocessor {own}"
        if own != ours:
            log.warning(
                "checkpoint preprocessor_config min/max pixels %s differ from the recipe's %s; using the "
                "recipe's (recorded with the index). Pass min_pixels=/max_pixels= to load_encoder to change",
                own, ours,
            )  # fmt: skip

    def _check_prompts(self, spec: EncoderSpec, path: Path) -> None:
        self.checks["chat_template"] = self._compare_chat_template(spec, path)
        st_file = path / "config_sentence_transformers.json"
        prompts = json.loads(st_file.read_text()).get("prompts") if st_file.is_file() else None
        if prompts:
            self.checks["sentence_transformers_prompts"] = json.dumps(prompts, sort_keys=True)
            log.warning(
                "checkpoint declares sentence-transformers prompts %s; omnivec's recipe for %s does not "
                "use them (it puts the instruction in the system turn): compare before trusting scores",
                prompts, spec.name,
            )  # fmt: skip
        for name in _CUSTOM_CODE:
            if (path / name).is_file():
                self.checks["custom_code"] = name
                log.warning(
                    "checkpoint ships %s, the authors' prompt code; omnivec's prompt format for %s is a "
                    "hypothesis not yet checked against it: read it and fix the recipe if they differ",
                    name, spec.name,
                )  # fmt: skip

    def _compare_chat_template(self, spec: EncoderSpec, path: Path) -> str:
        template = read_chat_template(path, self.tokenizer)
        if template is None:
            return "absent"
        probes: tuple[tuple[Role, str | None], ...] = (("query", "PROBE-INSTRUCTION"), ("document", None))
        for role, instruction in probes:
            ours = self.render(spec, "PROBE", True, role, instruction)
            try:
                theirs = self.tokenizer.apply_chat_template(
                    chat_messages(spec, "PROBE", True, instruction),
                    chat_template=template, tokenize=False, add_generation_prompt=True,
                )  # fmt: skip
            except Exception as exc:  # a template that cannot render our messages is itself a finding
                log.warning("checkpoint chat template cannot render a %s prompt: %s", role, exc)
                return f"unusable ({type(exc).__name__})"
            if theirs != ours:
                log.warning(
                    "checkpoint chat template renders a %s differently from the recipe of %s:\n"
                    "  checkpoint: %r\n  recipe:     %r\nusing the recipe; fix it if the checkpoint is right",
                    role, spec.name, theirs, ours,
                )  # fmt: skip
                return "differs"
        return "agrees"

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
        head, tail = self.spec.render(_SLOT, role, instruction).split(_SLOT)
        frame = (self._encode(head, trusted=True), self._encode(tail, trusted=True))
        return [self._prepare(item, frame) for item in items]

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
        head, tail = frame
        text = self._encode(item.text) if item.text else []
        kept = text[: self.spec.max_length]
        visual = self._visual_tokens(item.image) if item.image is not None else 0
        start, pad, end = self._vision_ids
        pieces = {
            "text": (kept, [0] * len(kept)),
            "image": ([start, *[pad] * visual, end], [0, *[1] * visual, 0]) if visual else ([], []),
        }
        ids, types = list(head), [0] * len(head)
        for name in self.spec.options["content_order"]:
            ids += pieces[name][0]
            types += pieces[name][1]
        ids, types = ids + tail, types + [0] * len(tail)
        row = _Row(ids=ids, types=types, image=item.image, visual_tokens=visual)
        full = len(ids) + len(text) - len(kept)
        return Prepared(data=row, cost=len(ids), truncated=len(kept) < len(text), original_cost=full)

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


def chat_messages(
    spec: EncoderSpec, text: str, has_image: bool, instruction: str | None
) -> list[dict[str, Any]]:
    """The recipe's prompt as chat messages, to render with a checkpoint's own chat template."""
    parts = {"text": {"type": "text", "text": text}, "image": {"type": "image"} if has_image else None}
    content = [parts[name] for name in spec.options["content_order"] if parts[name] is not None]
    system = instruction if instruction else None
    messages: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    return [*messages, {"role": "user", "content": content}]


def read_chat_template(path: Path, tokenizer: Any) -> str | None:
    """The checkpoint's chat template: processor files first, then the tokenizer's."""
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text()
    as_json = path / "chat_template.json"
    if as_json.is_file():
        template = json.loads(as_json.read_text()).get("chat_template")
        return template if isinstance(template, str) else None
    template = getattr(tokenizer, "chat_template", None)
    return template if isinstance(template, str) else None


def _check_pixels(options: Mapping[str, Any]) -> None:
    lo, hi = options["min_pixels"], options["max_pixels"]
    if not (isinstance(lo, int) and isinstance(hi, int) and 28 * 28 <= lo <= hi):
        raise InputError(
            received=f"min_pixels={lo!r}, max_pixels={hi!r}",
            expected="integers with 784 (one 28x28 visual token) <= min_pixels <= max_pixels",
            fix=f"e.g. min_pixels={MIN_PIXELS}, max_pixels={MAX_PIXELS}",
        )


def _with_defaults(spec: EncoderSpec) -> EncoderSpec:
    return replace(spec, options={**_OPTIONS, **spec.options})


# One visual token covers 28x28 pixels (14 px patches, 2x2 merged), so tokens = pixels / 784.
# A 1024x1280 page resizes to 1036x1288 = 37x46 = 1702 tokens: under the cap, kept at native
# resolution so small print stays legible; a full-HD screen (1920x1080, ~2645 tokens) is scaled
# by ~0.88 to fit. The cap bounds memory and time per screenshot at 2048 tokens.
MAX_PIXELS = 2048 * 28 * 28  # 1,605,632
MIN_PIXELS = 4 * 28 * 28  # 3,136 (Qwen's own floor): icons get at least 2x2 visual tokens
_OPTIONS: dict[str, Any] = {
    "min_pixels": MIN_PIXELS,
    "max_pixels": MAX_PIXELS,
    "content_order": ("text", "image"),
    "image_backend": "pil",
}

_RECIPE: dict[str, Any] = dict(
    family="qwen_vl",
    modalities=("text", "image", "screenshot"),
    max_length=1024,  # user-text tokens; the chat frame and the image come on top
    pooling="last",
    padding_side="left",
    query_template=chat_template("{instruction}"),
    query_template_bare=chat_template(QWEN_DEFAULT_SYSTEM),
    document_template=chat_template(QWEN_DEFAULT_SYSTEM),
    instructions={"vis-ir:composed": "Represent the given image with the given query."},
    options=_OPTIONS,
    hardware="GPU (bf16)",
    description="Qwen2.5-VL checkpoint; prompt format is omnivec's hypothesis (Qwen chat template, "
    "instruction as system turn, [text, image] as user turn, last token) until checked on load",
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
            "description": "Screenshot/document retrieval (Vis-IR, UniSE successor); prompt format is a "
            "hypothesis: Qwen chat template, instruction as system turn, [text, image] as user turn, "
            "last token. Checked against the checkpoint's chat template on load",
        },
    )
)
