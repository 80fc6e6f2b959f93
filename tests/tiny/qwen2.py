"""A tiny random Qwen2 checkpoint (BGE-Code-v1's architecture) with a locally trained BPE tokenizer."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tiny.text import bytelevel_bpe_tokenizer


def build_tiny_qwen2(
    out: Path,
    append_eos: bool = True,
    eos: str = "<|endoftext|>",
    extra: tuple[str, ...] = (),
    st_pooling: str | None = None,
    seed: int = 0,
) -> Path:
    """Save a 2-layer Qwen2Model and its tokenizer into `out`, as a hub checkpoint would be laid out.

    `append_eos` makes the tokenizer append `eos` to every input; `st_pooling` adds
    sentence-transformers files declaring that pooling mode (e.g. "lasttoken").
    """
    import torch
    from transformers import Qwen2Config, Qwen2Model

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    bytelevel_bpe_tokenizer(out, eos=eos, append_eos=append_eos, extra=extra)
    # real Qwen checkpoints name their tokenizer class (loading must go through it) and set no
    # unk token (else the class adds <|endoftext|> as one)
    cfg_path = out / "tokenizer_config.json"
    tok_cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**tok_cfg, "tokenizer_class": "Qwen2Tokenizer", "unk_token": None}))
    vocab = json.loads((out / "tokenizer.json").read_text())
    size = 1 + max(*vocab["model"]["vocab"].values(), *(t["id"] for t in vocab["added_tokens"]))
    eos_id = next(t["id"] for t in vocab["added_tokens"] if t["content"] == eos)
    cfg = Qwen2Config(
        vocab_size=size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
        eos_token_id=eos_id, pad_token_id=eos_id, bos_token_id=eos_id,
    )  # fmt: skip
    Qwen2Model(cfg).eval().save_pretrained(out)
    if st_pooling:
        _write_st_files(out, st_pooling)
    return out


def _write_st_files(out: Path, pooling: str) -> None:
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (out / "modules.json").write_text(json.dumps(modules))
    (out / "1_Pooling").mkdir(exist_ok=True)
    (out / "1_Pooling" / "config.json").write_text(
        json.dumps({"word_embedding_dimension": 32, f"pooling_mode_{pooling}": True})
    )
    (out / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 64}))
