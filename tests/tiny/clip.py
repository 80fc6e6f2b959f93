"""A tiny random CLIP checkpoint laid out like BGE-VL-base: CLIPModel + CLIPProcessor folder.

The tokenizer is CLIP's own (lower-case byte-level BPE with `</w>` word ends) over a byte-only
vocabulary, with `<|startoftext|>` / `<|endoftext|>` as the two highest ids and EOS doubling as
padding, as in the real checkpoints. `legacy_eos=True` keeps `eos_token_id=2` in the config, as
openai-derived configs do, so the text tower pools at the highest id (argmax) instead of the EOS id.
"""

from __future__ import annotations

from pathlib import Path

IMAGE_SIZE = 32
PATCH = 8
PROJECTION_DIM = 16
TEXT_POSITIONS = 77


def clip_vocab() -> dict[str, int]:
    from tokenizers import pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {ch: i for i, ch in enumerate(alphabet)}
    vocab.update({ch + "</w>": len(alphabet) + i for i, ch in enumerate(alphabet)})
    # a few merges keep common words short, like the real 49K-token vocabulary
    for word in ("th", "the</w>", "ca", "cat</w>"):
        vocab[word] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


MERGES = [("t", "h"), ("th", "e</w>"), ("c", "a"), ("ca", "t</w>")]


def build_tiny_clip(out: Path, legacy_eos: bool = True, projection_dim: int = PROJECTION_DIM) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessorPil, CLIPModel, CLIPProcessor, CLIPTokenizer

    vocab = clip_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=MERGES, model_max_length=TEXT_POSITIONS)
    images = CLIPImageProcessorPil(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )
    CLIPProcessor(image_processor=images, tokenizer=tokenizer).save_pretrained(out)
    small = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2)
    text = dict(
        small, vocab_size=len(vocab), max_position_embeddings=TEXT_POSITIONS,
        bos_token_id=vocab["<|startoftext|>"], pad_token_id=vocab["<|endoftext|>"],
        eos_token_id=2 if legacy_eos else vocab["<|endoftext|>"],
    )  # fmt: skip
    vision = dict(small, image_size=IMAGE_SIZE, patch_size=PATCH)
    config = CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim)
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(out)
    return out
