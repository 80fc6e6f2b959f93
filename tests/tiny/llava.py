"""A tiny random LLaVA-NeXT checkpoint (Mistral text model + CLIP vision tower) with its processor.

Laid out like the BGE-VL MLLM folders: `LlavaNextForConditionalGeneration` weights plus a
`LlavaNextProcessor` (PIL image processor, any-res grid pinpoints, `<image>` special token).
32-px tiles with 8-px patches: a 512x512 image becomes 5 tiles and 88 visual tokens.
`legacy_processor=True` saves a processor config without patch size, feature strategy and CLS count,
as processor configs written before transformers expanded image tokens in the processor were.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.tiny.text import CORPUS

TILE = 32
PATCH = 8
PINPOINTS = [[32, 32], [32, 64], [64, 32], [64, 64]]
HIDDEN = 32
SPECIALS = ["<unk>", "<s>", "</s>", "<image>"]
PROMPT_WORDS = ["[INST] \n <instruct> Find me an image <query> a red picture \n <image> [/INST]"]


def llama_like_tokenizer() -> object:
    """Byte-level BPE that prepends `<s>` like Mistral's tokenizer; `<unk>` pads."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator((CORPUS + PROMPT_WORDS) * 4, trainer)
    bos = tok.token_to_id("<s>")
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", bos)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>",
        model_max_length=4096, extra_special_tokens={"image_token": "<image>"},
    )  # fmt: skip


def build_tiny_llava(out: Path, legacy_processor: bool = False) -> Path:
    import torch
    import transformers as tf

    tokenizer = llama_like_tokenizer()
    images = tf.LlavaNextImageProcessorPil(
        size={"shortest_edge": TILE},
        crop_size={"height": TILE, "width": TILE},
        image_grid_pinpoints=PINPOINTS,
    )
    processor = tf.LlavaNextProcessor(
        image_processor=images, tokenizer=tokenizer, patch_size=PATCH,
        vision_feature_select_strategy="default", num_additional_image_tokens=1,
    )  # fmt: skip
    processor.save_pretrained(out)
    if legacy_processor:
        _strip_processor_config(out / "processor_config.json")
    text = tf.MistralConfig(
        vocab_size=len(tokenizer), hidden_size=HIDDEN, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=4096,
        pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )  # fmt: skip
    vision = tf.CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=TILE, patch_size=PATCH,
    )  # fmt: skip
    config = tf.LlavaNextConfig(
        text_config=text, vision_config=vision, image_grid_pinpoints=PINPOINTS,
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default", vision_feature_layer=-2,
    )  # fmt: skip
    torch.manual_seed(0)
    tf.LlavaNextForConditionalGeneration(config).eval().save_pretrained(out)
    return out


def _strip_processor_config(path: Path) -> None:
    config = json.loads(path.read_text())
    for key in ("patch_size", "vision_feature_select_strategy", "num_additional_image_tokens"):
        config.pop(key, None)
    path.write_text(json.dumps(config, indent=2))
