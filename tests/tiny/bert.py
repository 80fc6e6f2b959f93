"""A tiny random BERT checkpoint with sentence-transformers files (CLS or mean pooling)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tiny.text import wordpiece_tokenizer


def build_tiny_bert(out: Path, pooling: str = "mean", with_st_files: bool = True) -> Path:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    wordpiece_tokenizer(out)
    vocab = len(json.loads((out / "tokenizer.json").read_text())["model"]["vocab"])
    cfg = BertConfig(
        vocab_size=vocab, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128,
    )  # fmt: skip
    BertModel(cfg).eval().save_pretrained(out)
    if with_st_files:
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]
        (out / "modules.json").write_text(json.dumps(modules))
        (out / "1_Pooling").mkdir(exist_ok=True)
        (out / "1_Pooling" / "config.json").write_text(
            json.dumps(
                {
                    "word_embedding_dimension": 32,
                    "pooling_mode_cls_token": pooling == "cls",
                    "pooling_mode_mean_tokens": pooling == "mean",
                }
            )
        )
        (out / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": 64, "do_lower_case": False})
        )
    return out
