"""Locally trained tokenizers for tiny test checkpoints (no hub access)."""

from __future__ import annotations

from pathlib import Path

CORPUS = [
    "def add(a, b): return a + b",
    "class Stack: def push(self, x): self.items.append(x)",
    "The fastest way to find an element in a sorted array is binary search",
    "SELECT name FROM users WHERE id = 1;",
    "Given a web search query, retrieve relevant code that can help answer the query.",
    "<instruct> <query> retrieve code that is semantically equivalent to the input code",
    "import numpy as np\nprint('hello world')\nfor i in range(10): pass",
    "a cat sitting on a mat, a dog in the park, red blue green picture image",
]


def wordpiece_tokenizer(out: Path) -> None:
    """An uncased WordPiece tokenizer with BERT's [CLS] ... [SEP] template."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(CORPUS * 4, trainers.WordPieceTrainer(vocab_size=300, special_tokens=special))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )  # fmt: skip
    tok.decoder = decoders.WordPiece()
    fast = BertTokenizerFast(tokenizer_object=tok, model_max_length=128)
    fast.save_pretrained(out)


def bytelevel_bpe_tokenizer(
    out: Path, eos: str = "<|endoftext|>", append_eos: bool = False, extra: tuple[str, ...] = ()
) -> None:
    """A byte-level BPE tokenizer like Qwen's; optionally appends EOS to every input."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    special = [eos, *extra]
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    if append_eos:
        tok.post_processor = processors.TemplateProcessing(
            single=f"$A {eos}", pair=f"$A {eos} $B:1 {eos}:1", special_tokens=[(eos, tok.token_to_id(eos))]
        )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=eos, model_max_length=4096)
    fast.save_pretrained(out)
