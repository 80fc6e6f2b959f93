"""LLaVA-NeXT embedders: the BGE-VL MLLM models (S1, S2, v1.5-zs, v1.5-mmeb).

Stock `LlavaNextForConditionalGeneration` + `LlavaNextProcessor`; the vector is the language
model's final hidden state at the last real token. Prompt pieces are data in the spec (exact
strings, double spaces included): role prefix, then `text_part` if there is text, `image_part` if
there is an image, then `suffix`. Every image is resized to a fixed square before RGB conversion.
Nothing is patched: text-only, image-only and composed items share one model path.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from omnivec.encoders._hf import HFEncoder, pool, torch_module, transformers_module
from omnivec.encoders.base import Prepared, has_text
from omnivec.encoders.registry import register_family, register_spec
from omnivec.encoders.spec import EncoderSpec, PaddingSide
from omnivec.errors import InputError, ModelUnavailableError
from omnivec.images import MAX_PIXELS, open_image, pil, to_rgb
from omnivec.types import Item, Role

log = logging.getLogger(__name__)

CIR = (
    "Retrieve the target image that best meets the combined criteria by using both the provided "
    "image and the image retrieval instructions: "
)
TEXT_TO_IMAGE = "Find me an image that matches the given caption"
IMAGE_TO_CAPTION = "Represent the given image to match its text description: "

_PROMPTS = dict(
    query_template="[INST] \n <instruct> {instruction} <query> ",
    query_template_bare="[INST] \n <instruct>  <query>",
    document_template="[INST] ",
)
LLAVA_OPTIONS = {
    "text_part": " {text} \n",
    "image_part": " {image}",  # {image}: the processor's image token, expanded by the processor
    "suffix": " [/INST]",
    "image_size": (512, 512),  # every image, before RGB conversion (PIL's default resample)
    "image_backend": "pil",  # the PIL image processor is what the reference pipeline ran
}


def build_prompt(
    spec: EncoderSpec, role: Role, instruction: str | None, text: str | None, image_token: str | None
) -> str:
    """The exact prompt for one item; `image_token` is None for items without an image."""
    opts = spec.options
    prompt = spec.render("", role, instruction)  # role prefixes hold no {text}: parts follow
    if text:
        prompt += opts["text_part"].format(text=text)
    if image_token is not None:
        prompt += opts["image_part"].format(image=image_token)
    return prompt + opts["suffix"]


def load_square(source: Any, size: tuple[int, int]) -> Any:
    """Resize first, convert after: the order the recipe used (it matters for palette/alpha images)."""
    image_mod = pil()
    img = source if isinstance(source, image_mod.Image) else open_image(Path(source), MAX_PIXELS)
    w, h = img.size
    if not 0 < w * h <= MAX_PIXELS:  # paths were checked on open; in-memory images are checked here
        raise InputError(
            f"image of {w}x{h} pixels", f"a non-empty image of at most {MAX_PIXELS} pixels", "skip it"
        )
    return to_rgb(img.resize(tuple(size)))


_MODEL_INPUTS = ("input_ids", "attention_mask", "pixel_values", "image_sizes")


@dataclass(frozen=True)
class LlavaInput:
    prompt: str
    image: Any = None


@register_family("llava_next")
class LlavaNextEncoder(HFEncoder):
    model_types = ("llava_next",)
    gpu_dtype = "bfloat16"
    batch_tokens = 16384  # about five 512x512 images (2.9K visual tokens each) per forward pass

    def __init__(self, spec: EncoderSpec, path: Path, fingerprint: str, device: str | None = None) -> None:
        super().__init__(spec, path, fingerprint, device)
        tf = transformers_module()
        backend = spec.options.get("image_backend", "pil")
        self.processor = tf.LlavaNextProcessor.from_pretrained(path, backend=backend)
        self.tokenizer = self.processor.tokenizer
        self.model = tf.LlavaNextForConditionalGeneration.from_pretrained(path, dtype=self.dtype)
        self.model = self.model.to(self.device).eval()
        self.spec = self._settle_spec(spec, path)
        self._settle_processor()
        self.image_tokens = self._count_image_tokens(path)

    @classmethod
    def spec_for_folder(cls, path: Path, config: dict[str, Any]) -> EncoderSpec:
        # a plain LLaVA-NeXT folder has no recipe of its own: BGE-VL's prompts are the known one
        log.info("applying the BGE-VL MLLM prompts to %s (pass --recipe to choose another)", path)
        return replace(MLLM_BASE, name=str(path), license="see checkpoint")

    # --- checks on first load ----------------------------------------------------------------
    def _settle_spec(self, spec: EncoderSpec, path: Path) -> EncoderSpec:
        dim = self.model.config.text_config.hidden_size
        self.check_dim(spec, dim, "language-model hidden size")
        return replace(spec, dim=dim)

    def _settle_processor(self) -> None:
        """Fill what older processor configs lack from the model config, loudly (never a guess)."""
        config, proc = self.model.config, self.processor
        if proc.patch_size is None:
            log.warning(
                "processor has no patch_size; using the vision tower's %d", config.vision_config.patch_size
            )
            proc.patch_size = config.vision_config.patch_size
        if proc.vision_feature_select_strategy is None:
            log.warning("processor has no vision_feature_select_strategy; using the model's")
            proc.vision_feature_select_strategy = config.vision_feature_select_strategy
        if self.tokenizer.pad_token is None:  # any id works: padding is masked and never pooled
            self.tokenizer.pad_token = self.tokenizer.unk_token or self.tokenizer.eos_token

    def _count_image_tokens(self, path: Path) -> int:
        """Visual tokens per image, from the processor, checked against the model's own features."""
        image = pil().new("RGB", tuple(self.spec.options["image_size"]))
        batch = self.processor(text=[self.processor.image_token], images=[image], return_tensors="pt")
        counted = int((batch["input_ids"] == self.processor.image_token_id).sum())
        with torch_module().inference_mode():
            features = self.model.model.get_image_features(
                pixel_values=batch["pixel_values"].to(self.device, self.dtype),
                image_sizes=batch["image_sizes"].to(self.device),
            ).pooler_output
        produced = sum(int(f.shape[0]) for f in features)
        cls_tokens = int(getattr(self.processor, "num_additional_image_tokens", 0))
        if produced == counted + 1 and cls_tokens == 0:
            # older processor configs omit the vision tower's CLS token from the count
            log.warning(
                "processor counts %d image tokens, the model makes %d: counting CLS", counted, produced
            )
            self.processor.num_additional_image_tokens = 1
            return self._count_image_tokens(path)
        if produced != counted:
            raise ModelUnavailableError(
                received=f"checkpoint {path} whose processor expands an image into {counted} tokens "
                f"while the model produces {produced} image features",
                expected="equal counts",
                fix="set patch_size, vision_feature_select_strategy and num_additional_image_tokens "
                "in the folder's processor_config.json to match config.json",
            )
        return counted

    # --- family hooks ---------------------------------------------------------------------------
    def preprocess(self, items: Sequence[Item], role: Role, instruction: str | None) -> list[Prepared]:
        token = self.processor.image_token
        for i, it in enumerate(items):
            if token in (it.text or ""):
                raise InputError(
                    received=f"input #{i}: text containing the image placeholder {token!r}",
                    expected="plain text; images go in Item.image",
                    fix=f"remove {token!r} from the text",
                )
        prompts = [self._prompt(it, role, instruction, it.text) for it in items]
        costs = self._costs(prompts)
        out = []
        for i, it in enumerate(items):
            prepared = Prepared(LlavaInput(prompts[i], it.image), costs[i], original_cost=costs[i])
            if costs[i] > self.spec.max_length:
                prepared = self._fit(i, it, role, instruction, costs[i])
            out.append(prepared)
        return out

    def _prompt(self, item: Item, role: Role, instruction: str | None, text: str | None) -> str:
        image_token = self.processor.image_token if item.image is not None else None
        return build_prompt(self.spec, role, instruction, text if has_text(item) else None, image_token)

    def _costs(self, prompts: Sequence[str]) -> list[int]:
        """Tokens each prompt takes once the processor expands its image placeholder."""
        ids = self.tokenizer(list(prompts), add_special_tokens=True, verbose=False)["input_ids"]
        image_id = self.processor.image_token_id
        return [len(x) + x.count(image_id) * (self.image_tokens - 1) for x in ids]

    def _fit(self, index: int, item: Item, role: Role, instruction: str | None, full: int) -> Prepared:
        """Cut the item's text (never the template or the image) until the prompt fits."""
        limit = self.spec.max_length
        words = self.tokenizer(item.text or "", add_special_tokens=False, verbose=False)["input_ids"]
        keep, cost = len(words) - (full - limit), full
        while keep > 0:
            prompt = self._prompt(item, role, instruction, self.tokenizer.decode(words[:keep]))
            cost = self._costs([prompt])[0]
            if cost <= limit:
                return Prepared(LlavaInput(prompt, item.image), cost, truncated=True, original_cost=full)
            keep -= cost - limit
        raise InputError(
            received=f"input #{index}: a prompt of {full} tokens that cannot be cut to max_length {limit}",
            expected="room for the template and the image's visual tokens",
            fix=f"raise max_length above {full - len(words) + 16}",
        )

    def collate(self, prepared: Sequence[Prepared], padding_side: PaddingSide) -> Any:
        inputs: list[LlavaInput] = [p.data for p in prepared]
        size = tuple(self.spec.options["image_size"])
        images = [load_square(x.image, size) for x in inputs if x.image is not None]
        batch = self.processor(
            text=[x.prompt for x in inputs], images=images or None, padding=True,
            padding_side=padding_side, return_tensors="pt",
        )  # fmt: skip
        batch = {k: batch[k].to(self.device) for k in _MODEL_INPUTS if k in batch}
        if "pixel_values" in batch:
            batch["pixel_values"] = batch["pixel_values"].to(self.dtype)
        # positions count real tokens only, so a left-padded item sees the positions it has alone
        batch["position_ids"] = (batch["attention_mask"].cumsum(1) - 1).clamp(min=0)
        return batch

    def forward(self, batch: Any) -> Any:
        with torch_module().inference_mode():
            # the inner model gives the final (normed) hidden states without the LM head's logits
            hidden = self.model.model(**batch, use_cache=False).last_hidden_state
        return pool(hidden, batch["attention_mask"], "last")


MLLM_BASE = EncoderSpec(
    name="BAAI/BGE-VL-MLLM",
    family="llava_next",
    modalities=("text", "image"),
    max_length=4096,  # omnivec's cap (text + visual tokens), not a published fact
    pooling="last",
    padding_side="left",
    options=LLAVA_OPTIONS,
    instructions={"cir": CIR, "text-to-image": TEXT_TO_IMAGE},
    hardware="GPU (bf16, about 16 GB)",
    params="7.57B",
    license="see the model card (not verified offline)",
    **_PROMPTS,  # type: ignore[arg-type]
)

_MODELS = (
    ("BAAI/BGE-VL-MLLM-S1", "BGE-VL MLLM stage 1 (MegaPairs): composed image retrieval"),
    ("BAAI/BGE-VL-MLLM-S2", "BGE-VL MLLM stage 2 (MegaPairs): composed and multimodal retrieval"),
    ("BAAI/BGE-VL-v1.5-zs", "BGE-VL v1.5 zero-shot: universal multimodal retrieval"),
    ("BAAI/BGE-VL-v1.5-mmeb", "BGE-VL v1.5 fine-tuned on MMEB: universal multimodal retrieval"),
)
for _name, _description in _MODELS:
    _presets = dict(MLLM_BASE.instructions)
    if "v1.5" in _name:
        _presets["image-to-caption"] = IMAGE_TO_CAPTION
    register_spec(replace(MLLM_BASE, name=_name, dim=4096, description=_description, instructions=_presets))
