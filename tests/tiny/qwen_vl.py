"""A tiny random Qwen2.5-VL checkpoint (BGE-VL-Screenshot's architecture) saved like a hub folder.

The folder holds what a user's checkpoint holds: `config.json` + weights, a tokenizer with Qwen's
special tokens, a chat template and a Qwen2-VL image processor config, all written by
`save_pretrained`. The composite `Qwen2_5_VLProcessor` cannot be built here (its video half needs
torchvision), so its two halves are saved separately, which is the same set of files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.tiny.text import bytelevel_bpe_tokenizer

SPECIAL = (
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# Written for these tests in the Qwen2-VL chat format: a default system turn when none is given,
# content parts rendered in order (images as a vision block, text verbatim), optional assistant turn.
CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "{% if loop.first and m['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
    "{% endif %}"
    "<|im_start|>{{ m['role'] }}\n"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for part in m['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# A checkpoint's own format, unlike Qwen's: no default system turn, the task on its own line in the
# user turn (sentence-transformers passes `task` to templates that use it), text after the assistant
# tag.
CUSTOM_CHAT_TEMPLATE = (
    "{% for m in messages %}"
    "<|im_start|>{{ m['role'] }}\n"
    "{% if m['role'] == 'user' and task is defined %}[{{ task }}]\n{% endif %}"
    "{% if m['content'] is string %}{{ m['content'] }}"
    "{% else %}{% for part in m['content'] %}"
    "{% if part['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\nvector:{% endif %}"
)

# 4..16 merged visual tokens per image (28x28 pixels each): small enough for fast CPU tests
TINY_MIN_PIXELS = 4 * 28 * 28
TINY_MAX_PIXELS = 16 * 28 * 28


def build_tiny_qwen_vl(
    out: Path,
    chat_template: str | None = CHAT_TEMPLATE,
    min_pixels: int = TINY_MIN_PIXELS,
    max_pixels: int = TINY_MAX_PIXELS,
    extra_files: dict[str, str] | None = None,
) -> Path:
    """Write a 2-layer Qwen2.5-VL (hidden 32, vision depth 2) with tokenizer and processor files."""
    import torch
    from transformers import AutoTokenizer, Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    torch.manual_seed(0)
    out.mkdir(parents=True, exist_ok=True)
    bytelevel_bpe_tokenizer(out, eos="<|endoftext|>", extra=SPECIAL)
    tok: Any = AutoTokenizer.from_pretrained(out)
    if chat_template is not None:
        tok.chat_template = chat_template
    tok.save_pretrained(out)
    ids = dict(zip(SPECIAL, tok.convert_tokens_to_ids(list(SPECIAL))))
    cfg = Qwen2_5_VLConfig(
        text_config=_text_config(len(tok), tok.pad_token_id, ids["<|im_end|>"]),
        vision_config=_vision_config(),
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
    )
    Qwen2_5_VLForConditionalGeneration(cfg).eval().save_pretrained(out)
    Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels).save_pretrained(out)
    for name, text in (extra_files or {}).items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_text(text)
    return out


def _text_config(vocab: int, pad_id: int, eos_id: int) -> dict[str, object]:
    # head_dim 16 -> 8 rotary frequencies, split over (temporal, height, width) like Qwen's 16/24/24
    return dict(
        vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
        pad_token_id=pad_id, bos_token_id=pad_id, eos_token_id=eos_id, rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
        "mrope_section": [2, 3, 3]},
    )  # fmt: skip


def _vision_config() -> dict[str, object]:
    # window_size 56 px = 2x2 merged tokens: the tiny images span several windows, so the windowed
    # blocks and the full-attention block (index 1) both run
    return dict(
        depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=32,
        patch_size=14, spatial_merge_size=2, temporal_patch_size=2, window_size=56,
        fullatt_block_indexes=[1],
    )  # fmt: skip


def sentence_transformers_prompts(prompts: dict[str, str]) -> dict[str, str]:
    """An extra file as a sentence-transformers checkpoint would declare its prompts."""
    return {"config_sentence_transformers.json": json.dumps({"prompts": prompts})}


def sentence_transformers_files(
    prompts: dict[str, str], dim: int = 32, add_generation_prompt: bool | None = True
) -> dict[str, str]:
    """The files sentence-transformers saves for a Qwen2.5-VL embedder: the Transformer module in
    the root (its modality config as sentence-transformers infers it for this processor), last-token
    pooling, normalisation, and the prompts."""
    forward = {"method": "forward", "method_output_name": "last_hidden_state"}
    chat = {} if add_generation_prompt is None else {"add_generation_prompt": add_generation_prompt}
    transformer = {
        "transformer_task": "feature-extraction",
        "modality_config": {
            "text": forward,
            "image": forward,
            "message": {**forward, "format": "structured"},
        },
        "module_output_name": "token_embeddings",
        "processing_kwargs": {"chat_template": chat},
    }
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.sentence_transformer.modules.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.base.modules.Normalize"},
    ]  # fmt: skip
    return {
        **sentence_transformers_prompts(prompts),
        "sentence_bert_config.json": json.dumps(transformer),
        "modules.json": json.dumps(modules),
        "1_Pooling/config.json": json.dumps({"embedding_dimension": dim, "pooling_mode": "lasttoken"}),
        "2_Normalize/.keep": "",
    }
