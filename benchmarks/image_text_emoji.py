"""ConSE (EfficientNet-Lite0 + MiniLM) on image-text-emoji: t2i and i2t Recall@1 / nDCG@10.

Usage:
    OMNIVEC_THREADS=2 .venv/bin/python benchmarks/image_text_emoji.py [--set DIR] [--limit N] [--no-sweep]

1. The chosen recipe (the registered spec) end to end through the real encoder: metrics and images/s.
2. A sweep over T, softmax temperature, class wording and resize mode. It is cheap because the
   classifier runs once per resize mode; each setting only recombines cached logits.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from _common import EVALSETS, metrics, read_jsonl, read_qrel_sets

from omnivec.config import cache_dir
from omnivec.encoders.conse import ConseEncoder, class_embeddings, conse_combine, image_array
from omnivec.encoders.registry import load_encoder
from omnivec.types import Item

SET = EVALSETS / "image-text-emoji"
NAME = "omnivec/conse-efficientnet-lite0-minilm"
WORDINGS = [("first", "{}"), ("first", "a photo of a {}"), ("first", "an image of a {}"), ("all", "{}"),
            ("all", "a photo of a {}"), ("each", "{}")]  # fmt: skip
TOPS = [1, 3, 5, 10, 20, 50, 1000]
TEMPS = [1.0, 2.0, 3.0]
BLANKS = [0.0, 0.5, 1.0]


def load_set(root: Path, limit: int | None) -> dict:
    images = read_jsonl(root / "corpus.jsonl")[:limit]
    keep = {r["_id"] for r in images}
    t2i = read_qrel_sets(root / "qrels" / "test.tsv")
    t2i = {q: ds for q, ds in t2i.items() if ds & keep}
    queries = [r for r in read_jsonl(root / "queries.jsonl") if r["_id"] in t2i]
    i2t = read_qrel_sets(root / "i2t" / "qrels" / "test.tsv")
    return {"images": images, "queries": queries, "t2i": t2i, "i2t": i2t,
            "captions": read_jsonl(root / "i2t" / "corpus.jsonl"), "root": root}  # fmt: skip


def evaluate(img: np.ndarray, qv: np.ndarray, cv: np.ndarray, data: dict) -> tuple[float, ...]:
    img = img / np.linalg.norm(img, axis=1, keepdims=True)
    iids = [r["_id"] for r in data["images"]]
    t2i = metrics(qv @ img.T, [r["_id"] for r in data["queries"]], iids, data["t2i"])
    i2t = metrics(img @ cv.T, iids, [r["_id"] for r in data["captions"]], data["i2t"])
    return (*t2i, *i2t)


def chosen(enc: ConseEncoder, data: dict) -> np.ndarray:
    import torch

    items = [Item(image=data["root"] / r["image"]) for r in data["images"]]
    enc.embed(items[:8])  # warm-up
    res = enc.embed(items)
    print(f"image encoder: {len(items)} images in {res.seconds:.1f}s = {res.items_per_second:.1f} images/s "
          f"(torch threads {torch.get_num_threads()})")  # fmt: skip
    return res.vectors


def logits_for(enc: ConseEncoder, data: dict, resize: str) -> np.ndarray:
    """Classifier logits for every image, cached on disk per resize mode."""
    import torch

    path = cache_dir() / "bench" / f"emoji-logits-{resize}-{len(data['images'])}.npy"
    if path.is_file():
        return np.load(path)
    out = []
    for lo in range(0, len(data["images"]), 32):
        arrs = [image_array(data["root"] / r["image"], 224, resize) for r in data["images"][lo : lo + 32]]
        out.append(enc.logits(torch.from_numpy(np.stack(arrs))).numpy())
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.concatenate(out))
    return np.load(path)


def sweep(enc: ConseEncoder, data: dict, qv: np.ndarray, cv: np.ndarray) -> None:
    """One factor at a time around the chosen recipe, plus a T x temperature grid."""
    o = enc.spec.options
    base = (
        o["resize"],
        o["class_names"],
        o["class_template"],
        o["top_k"],
        o["temperature"],
        o["blank_contrast"],
    )
    prototype = ("crop", "first", "{}", 1000, 1.0, 0.0)  # the first throwaway prototype: the baseline
    rows = [prototype] + [(r, *base[1:]) for r in ("crop", "pad")]
    rows += [(base[0], n, t, *base[3:]) for n, t in WORDINGS]
    rows += [(*base[:3], k, t, base[5]) for k in TOPS for t in TEMPS]
    rows += [(*base[:5], b) for b in BLANKS] + [(*base[:3], 50, 2.0, b) for b in BLANKS]
    print("\nsweep, one factor at a time around the chosen recipe (* = chosen, b = baseline):")
    print(
        f"  {'resize':6} {'names':5} {'template':16} {'T':>4} {'temp':>4} {'blank':>5} | t2i R@1 nDCG@10 | i2t R@1 nDCG@10"
    )
    import torch
    from PIL import Image

    blank = image_array(Image.new("RGB", (224, 224), "white"), 224, "squash")
    blank_logits = enc.logits(torch.from_numpy(blank[None])).numpy()
    seen = set()
    for row in rows:
        if row in seen:
            continue
        seen.add(row)
        resize, names, template, top, temp, b = row
        classes = class_embeddings(enc.text_encoder, names, template, cache_dir())
        img = conse_combine(
            logits_for(enc, data, resize), classes, top, temp, b * blank_logits if b else None
        )
        m = evaluate(img, qv, cv, data)
        mark = "*" if row == base else "b" if row == prototype else " "
        print(f"{mark} {resize:6} {names:5} {template:16} {top:4d} {temp:4.1f} {b:5.2f} | "
              f"{m[0]:.3f}   {m[1]:.3f}   | {m[2]:.3f}   {m[3]:.3f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", type=Path, default=SET)
    ap.add_argument("--limit", type=int, default=None, help="use only the first N images")
    ap.add_argument("--no-sweep", action="store_true")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(int(os.environ.get("OMNIVEC_THREADS", "2")))
    data = load_set(args.set, args.limit)
    enc = load_encoder(NAME)
    assert isinstance(enc, ConseEncoder)
    print(f"{NAME}: options {dict(enc.spec.options)}")
    qv = enc.encode([r["text"] for r in data["queries"]], role="query")
    cv = enc.encode([r["text"] for r in data["captions"]], role="document")
    start = time.perf_counter()
    m = evaluate(chosen(enc, data), qv, cv, data)
    print(f"chosen ({len(data['queries'])} t2i queries, {len(data['images'])} images; "
          f"{time.perf_counter() - start:.0f}s):")  # fmt: skip
    print(f"  t2i Recall@1 {m[0]:.3f}  nDCG@10 {m[1]:.3f}")
    print(f"  i2t Recall@1 {m[2]:.3f}  nDCG@10 {m[3]:.3f}")
    if not args.no_sweep:
        sweep(enc, data, qv, cv)


if __name__ == "__main__":
    main()
