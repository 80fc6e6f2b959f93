"""Embedding throughput on a GPU at BGE-Code-v1's size: omnivec `encode` against a plain loop.

Real weights cannot be downloaded here, so the model is BGE-Code-v1's shape (Qwen2.5-Coder-1.5B:
28 layers, hidden 1536, FFN 8960, 12 heads, 2 key/value heads) with random weights, and a
byte-level BPE tokenizer trained on the documents themselves (32k tokens, so lengths are like a
real code tokenizer's). Speed does not depend on the weights' values.

Both sides run the same weights in the recipe's GPU dtype (float16) on the same documents:
- omnivec: `load_encoder(folder, recipe="BAAI/bge-code-v1").encode(docs)`: documents get the EOS
  the recipe pools at, batches are cut by a token budget after sorting by length;
- the loop a user would write with transformers: batches of 32 in corpus order, left padding to
  the longest member, the same EOS appended, the last position pooled.
Printed: tokens/s and documents/s of each (median of the runs, alternated), their ratio, the
cosine between the two sides' vectors, and each side's peak GPU memory.

    python benchmarks/gpu_throughput.py [--n 2000] [--runs 3] [--layers 28] [--device cuda]

`--layers 2 --device cpu --n 50` is a smoke run of the script itself on a machine without a GPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import EVALSETS, read_jsonl

EOS = "<|endoftext|>"
SHAPE = dict(hidden_size=1536, intermediate_size=8960, num_attention_heads=12, num_key_value_heads=2)
NAIVE_BATCH = 32


def build_model(out: Path, texts: list[str], layers: int, device: str) -> Path:
    """BGE-Code-v1's architecture with random weights (drawn on `device`: 1.5B on a CPU takes
    minutes), and a tokenizer trained on `texts`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2Model

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=32000, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=EOS, model_max_length=32768)
    fast.save_pretrained(out)
    eos = tok.token_to_id(EOS)
    config = Qwen2Config(
        vocab_size=tok.get_vocab_size(), num_hidden_layers=layers, max_position_embeddings=32768,
        eos_token_id=eos, pad_token_id=eos, bos_token_id=eos, **SHAPE,
    )  # fmt: skip
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2Model(config)
    model.to(torch.float16).save_pretrained(out)
    del model
    return out


def naive_loop(path: Path, device: str, dtype: Any) -> Any:
    """What a user writes with transformers: fixed batches in order, padded to the longest."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModel.from_pretrained(path, dtype=dtype).to(device).eval()

    def encode(texts: list[str]) -> Any:
        out = []
        for i in range(0, len(texts), NAIVE_BATCH):
            batch = tok([t + EOS for t in texts[i : i + NAIVE_BATCH]], padding=True, return_tensors="pt")
            with torch.inference_mode():
                hidden = model(**batch.to(device)).last_hidden_state[:, -1]
            out.append(torch.nn.functional.normalize(hidden.float(), dim=-1).cpu())
        return torch.cat(out).numpy()

    return encode


def timed(fn: Any, device: str) -> tuple[float, float, Any]:
    """Seconds, peak GPU memory (GB; 0 on the CPU) and the result of `fn()`."""
    import torch

    gpu = device.startswith("cuda")
    if gpu:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = fn()
    if gpu:
        torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() / 1e9 if gpu else 0.0
    return time.perf_counter() - start, peak, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--layers", type=int, default=28)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--budgets", type=int, nargs="*", default=[], help="more omnivec token budgets to time")
    args = ap.parse_args()

    import numpy as np
    import torch

    from omnivec.encoders.registry import load_encoder

    texts = [d["text"] for d in read_jsonl(EVALSETS / "code-docstring-dev" / "corpus.jsonl")[: args.n]]
    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "CPU"
    print(f"{name}; {len(texts)} code-docstring-dev documents; BGE-Code-v1 shape, {args.layers} layers")
    with tempfile.TemporaryDirectory(prefix="omnivec-gpu-bench-") as tmp:
        path = build_model(Path(tmp), texts, args.layers, args.device)
        enc = load_encoder(str(path), recipe="BAAI/bge-code-v1", device=args.device)
        naive = naive_loop(path, args.device, enc.dtype)
        sides = {f"omnivec (budget {enc.batch_tokens})": lambda: enc.embed(texts)}
        for budget in args.budgets:
            sides[f"omnivec (budget {budget})"] = lambda b=budget: enc.embed(texts, batch_tokens=b)
        sides[f"transformers loop (batch {NAIVE_BATCH})"] = lambda: naive(texts)
        enc.embed(texts[:64])  # warm both: kernels, allocator
        naive(texts[:64])
        seconds: dict[str, list[float]] = {k: [] for k in sides}
        peaks: dict[str, float] = {}
        results: dict[str, Any] = {}
        for _ in range(args.runs):
            for key, fn in sides.items():
                t, peak, results[key] = timed(fn, args.device)
                seconds[key].append(t)
                peaks[key] = max(peaks.get(key, 0.0), peak)
    first = next(iter(sides))
    tokens = results[first].tokens
    naive_key = list(sides)[-1]
    base = statistics.median(seconds[naive_key])
    for key, ts in seconds.items():
        t = statistics.median(ts)
        print(f"{key:34s} median {t:7.2f}s  {len(texts) / t:8.1f} docs/s  {tokens / t:10.0f} tokens/s  "
              f"peak {peaks[key]:.1f} GB  speed vs loop {base / t:.2f}x")  # fmt: skip
    ours, theirs = results[first].vectors, np.asarray(results[naive_key])
    cos = (ours * theirs).sum(axis=1)
    print(f"cosine omnivec vs loop per document: min {cos.min():.5f}, mean {cos.mean():.5f}")
    print(json.dumps({"device": name, "n": len(texts), "tokens": tokens, "median_s": {
        k: statistics.median(v) for k, v in seconds.items()}}))  # fmt: skip


if __name__ == "__main__":
    main()
