"""Embedding throughput: omnivec `encode` vs sentence-transformers on the same model and documents.

Both run the bundled all-MiniLM-L6-v2 folder in one process with the same thread count, on the
first N documents of the code-docstring dev corpus, in alternating warm runs. Prints items/s and
tokens/s for each, the ratio omnivec/ST and how far the vectors are from ST's: max abs difference
(torch and fp32 ONNX: target <= 1e-5 / 1e-4) and the lowest per-vector cosine (int8: >= 0.99).
`--backend onnx-int8` runs omnivec on ONNX Runtime (issue 12's target: ratio >= 2.5 at 2 threads).
`--sweep` also times omnivec at several `batch_tokens` budgets, and reports how many padded tokens
each batching scheme runs through the model. `--query-latency` times one short query per backend
(torch, onnx, onnx-int8) on 1 thread, each backend in processes of its own, and reports each p50.

    python benchmarks/embed_throughput.py [--n 2000] [--threads N] [--runs 3] [--sweep]
    python benchmarks/embed_throughput.py --backend onnx-int8 --threads 2
    python benchmarks/embed_throughput.py --query-latency
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

CORPUS = (
    Path(os.environ.get("OMNIVEC_EVALSETS", Path(__file__).resolve().parents[2] / "shared" / "evalsets"))
    / "code-docstring-dev"
    / "corpus.jsonl"
)
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
SWEEP = (1024, 2048, 4096, 8192)


def read_texts(n: int) -> list[str]:
    texts = []
    with CORPUS.open() as fh:
        for line in fh:
            if len(texts) == n:
                break
            if line.strip():
                texts.append(json.loads(line)["text"])
    return texts


def timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def padded_tokens(lengths: list[int], batches: list[list[int]]) -> int:
    """Tokens the model actually runs: each batch is padded to its longest member."""
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def st_batches(texts: list[str], batch_size: int) -> list[list[int]]:
    # sentence-transformers sorts by character length (longest first) and cuts fixed-size batches
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def omnivec_batches(lengths: list[int], budget: int, max_batch: int) -> list[list[int]]:
    # the same rule as Encoder._take_batch: sorted by tokens, longest item x rows <= budget
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    out, pos = [], 0
    while pos < len(order):
        size = max(1, min(budget // max(lengths[order[pos]], 1), max_batch))
        out.append(order[pos : pos + size])
        pos += size
    return out


def report(name: str, seconds: list[float], n: int, tokens: int) -> float:
    med = statistics.median(seconds)
    print(
        f"{name:<28} median {med:6.2f}s  best {min(seconds):6.2f}s  "
        f"{n / med:7.1f} items/s  {tokens / med:8.0f} tokens/s"
    )
    return med


def profile(enc: Any, st: Any, texts: list[str], st_batch: int) -> None:
    from omnivec.types import as_items

    t_tok, prepared = timed(lambda: enc.preprocess(as_items(texts), "document", None))
    lengths = [p.cost for p in prepared]
    real = sum(lengths)
    print(f"tokenisation (omnivec preprocess): {t_tok:.2f}s for {real} tokens")
    st_tokenize = getattr(st, "preprocess", None) or st.tokenize  # renamed in sentence-transformers 6
    t_st_tok, _ = timed(lambda: st_tokenize(texts))
    print(f"tokenisation (ST, all at once): {t_st_tok:.2f}s")
    st_pad = padded_tokens(lengths, st_batches(texts, st_batch))
    print(f"padded tokens: real {real}; ST batch {st_batch}: {st_pad} ({st_pad / real:.3f}x)")
    for budget in SWEEP:
        b = omnivec_batches(lengths, budget, enc.max_batch_size)
        pad = padded_tokens(lengths, b)
        print(f"  omnivec batch_tokens {budget:>5}: {len(b):4d} batches, {pad} ({pad / real:.3f}x)")


def main() -> None:
    from omnivec.config import default_threads

    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--threads", type=int, default=default_threads())
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--st-batch-size", type=int, default=32)
    ap.add_argument("--batch-tokens", type=int, default=None, help="omnivec budget (default: the class's)")
    ap.add_argument("--sweep", action="store_true", help="profile and time several batch_tokens budgets")
    ap.add_argument("--backend", default="torch", help="omnivec's backend: torch, onnx or onnx-int8")
    ap.add_argument("--model", default=MODEL, help="a registered name or a sentence-transformers folder")
    ap.add_argument("--query-latency", action="store_true", help="one-query p50 per backend, 1 thread")
    ap.add_argument("--rounds", type=int, default=3, help="with --query-latency: processes per backend")
    ap.add_argument("--repeats", type=int, default=300, help="with --query-latency: queries per process")
    ap.add_argument("--one-backend-latency", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one_backend_latency:
        one_backend_latency(args.one_backend_latency, args.repeats)
        return
    if args.query_latency:
        query_latency(args.rounds, args.repeats)
        return

    # threads are process-wide: set them before either library runs anything
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    from omnivec.encoders.registry import load_encoder

    torch.set_num_threads(args.threads)
    texts = read_texts(args.n)
    onnx = {"threads": args.threads} if args.backend != "torch" else {}
    enc = load_encoder(args.model, backend=args.backend, **onnx)
    st = SentenceTransformer(str(enc.path), device="cpu")
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}"
    )
    print(f"{len(texts)} documents from {CORPUS}; model {args.model} ({enc.path})")
    budget = args.batch_tokens or enc.batch_tokens
    print(f"omnivec batch_tokens {budget}; ST batch_size {args.st_batch_size}")

    def run_omnivec(b: int = budget) -> Any:
        return enc.embed(texts, batch_tokens=b)

    def run_st() -> Any:
        return st.encode(
            texts, batch_size=args.st_batch_size, normalize_embeddings=True, convert_to_numpy=True
        )

    enc.embed(texts[:64])  # warm both: first calls pay for lazy init and allocator growth
    st.encode(texts[:64], batch_size=args.st_batch_size)
    ours: list[float] = []
    theirs: list[float] = []
    res = ref = None
    for _ in range(args.runs):  # alternate, so background load hits both alike
        t, res = timed(run_omnivec)
        ours.append(t)
        t, ref = timed(run_st)
        theirs.append(t)
    assert res is not None and ref is not None
    tokens = res.tokens
    a = report(f"omnivec encode ({args.backend})", ours, len(texts), tokens)
    b = report(f"sentence-transformers (bs {args.st_batch_size})", theirs, len(texts), tokens)
    diff = float(np.abs(res.vectors - ref).max())
    cos = (res.vectors * ref).sum(axis=1)
    target = {"torch": ">= 1.0", "onnx": ">= 1.0", "onnx-int8": ">= 2.5"}[args.backend]
    print(f"ratio omnivec/ST (items/s): {b / a:.3f}  (target {target}); load average {os.getloadavg()}")
    print(f"max abs diff: {diff:.2e}  (torch target <= 1e-5, onnx <= 1e-4); truncated: {len(res.truncated)}")
    print(
        f"cosine to ST per vector: min {cos.min():.5f}, 1st pct {np.percentile(cos, 1):.5f}, "
        f"mean {cos.mean():.5f}, below 0.99: {(cos < 0.99).sum()} of {len(cos)}  (int8 target >= 0.99)"
    )
    if args.sweep:
        profile(enc, st, texts, args.st_batch_size)
        for bt in SWEEP:
            report(
                f"omnivec batch_tokens {bt}", [timed(lambda bt=bt: run_omnivec(bt))[0]], len(texts), tokens
            )


QUERIES = ("parse a config file", "retry with backoff", "read a json file into a dict", "sort by key")


LATENCY_BACKENDS = ("torch", "onnx", "onnx-int8")


def query_latency(rounds: int = 3, repeats: int = 300) -> None:
    """p50 of `encode([query], role="query")` per backend on 1 thread, each backend in processes of
    its own (as a search loads one backend), `rounds` processes per backend taken in turn; prints
    every process' p50 and the median of them.

    One process per backend because that is how a search runs, and because a process that also
    runs torch's MiniLM (90 MB of fp32 weights) between two int8 queries evicts the int8 weights
    from the caches: measured in one process, int8 went from 2.4-2.9 ms alone to ~3.0 ms with
    torch interleaved (docs/benchmarks.md, issue 12)."""
    import subprocess
    import sys

    results: dict[str, list[dict[str, float]]] = {b: [] for b in LATENCY_BACKENDS}
    for r in range(rounds):
        for backend in LATENCY_BACKENDS if r % 2 == 0 else LATENCY_BACKENDS[::-1]:
            out = subprocess.run(
                [sys.executable, __file__, "--one-backend-latency", backend, "--repeats", str(repeats)],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            results[backend].append(json.loads(out.strip().splitlines()[-1]))
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; 1 thread; "
          f"{repeats} queries per process, {rounds} processes per backend")  # fmt: skip
    base = statistics.median(x["p50"] for x in results["torch"])
    for backend, runs in results.items():
        p50 = statistics.median(x["p50"] for x in runs)
        cpu = statistics.median(x["cpu_p50"] for x in runs)
        each = ", ".join(f"{1000 * x['p50']:.2f}" for x in runs)
        print(
            f"{backend:<10} wall p50 {1000 * p50:6.2f} ms (processes: {each});  CPU p50 {1000 * cpu:6.2f} ms;"
            f"  {base / p50:4.2f}x torch  (target p50 <= 3 ms on the fast path)"
        )
    print(f"load average: {os.getloadavg()}")


def one_backend_latency(backend: str, repeats: int) -> None:
    """The child of `query_latency`: one backend, warm, `repeats` queries; one JSON line."""
    from omnivec.encoders.registry import load_encoder

    if backend == "torch":
        import torch

        torch.set_num_threads(1)
        enc = load_encoder(MODEL, backend="torch")
    else:
        # the first use builds the export (once per model and version, kept in OMNIVEC_CACHE);
        # then load again, as a search does with the export cached: the cold path (`onnx_cold`)
        load_encoder(MODEL, backend=backend, threads=1).encode(["build"], role="query")
        enc = load_encoder(MODEL, backend=backend, threads=1)
    for q in QUERIES * 5:  # warm up
        enc.encode([q], role="query")
    wall, cpu = [], []
    for i in range(repeats):
        q = QUERIES[i % len(QUERIES)]
        start, start_cpu = time.perf_counter(), time.thread_time()
        enc.encode([q], role="query")
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
    print(json.dumps({"p50": statistics.median(wall), "cpu_p50": statistics.median(cpu)}))


if __name__ == "__main__":
    main()
