"""`omnivec tune` on the dev sets, without fooling ourselves.

The units of code-docstring-dev and code-to-code-dev (stdlib modules and packages, from each
document's `corpus_meta.jsonl`) are split in two halves (seeded, balanced by query count). Pairs
are mined from the *source files* of the train half only (found on this machine: the CPython
3.11 stdlib and its site-packages; tests and vendored code skipped), with hard negatives from the
base model's dense neighbours, and the model is tuned with omnivec's own `omnivec.tune` code.
Evaluation uses the queries whose target lies in the *other* half, searched over the full corpus:
dense and hybrid (RRF of dense and BM25 over `code_tokens`, the evaluator's own retrievers),
tuned vs untuned MiniLM. Train-half queries are reported too, as what a leak would look like.

    python benchmarks/tune_dev.py train --out .bench/run       # mine + tune (CPU time reported)
    python benchmarks/tune_dev.py eval --out .bench/run        # before/after on both sets
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.tune.pairs import PAIR_KINDS, attach_negatives, count_kinds, mine_pairs, render_like
from omnivec.tune.sources import file_candidates, matrix_neighbours
from omnivec.tune.train import TrainSettings, cpu_seconds, train

SETS = ("code-docstring-dev", "code-to-code-dev")
STDLIB = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
SITE = STDLIB / "site-packages"
SKIP_DIRS = {"tests", "test", "testing", "_vendor", "vendor", "_distutils", "__pycache__", "site-packages"}
CANDIDATES_PER_PAIR = 5  # functions chunked per wanted pair (not every function yields a pair)
log = logging.getLogger("tune_dev")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def split_units(evalsets: Path, seed: int) -> dict[str, list[str]]:
    """Units of both sets in two halves: seeded shuffle, then each unit (largest first) to the half
    with fewer code-docstring-dev query targets so far, so both halves hold about as many queries."""
    units: Counter[str] = Counter()
    for name in SETS:
        meta = read_jsonl(evalsets / name / "corpus_meta.jsonl")
        units.update({m["unit"]: 0 for m in meta})
        targets = {m["_id"] for m in meta if m.get("is_query_target")}
        if name == SETS[0]:
            units.update(m["unit"] for m in meta if m["_id"] in targets)
    order = sorted(units)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda u: -units[u])  # stable: the shuffle breaks ties
    halves: dict[str, list[str]] = {"train": [], "eval": []}
    load = {"train": 0, "eval": 0}
    for u in order:
        side = "train" if load["train"] <= load["eval"] else "eval"
        halves[side].append(u)
        load[side] += units[u]
    return {k: sorted(v) for k, v in halves.items()}


def unit_files(unit: str) -> tuple[Path, list[Path]]:
    """(root the paths are relative to, the unit's .py files without tests and vendored code)."""
    kind, name = unit.split(":", 1)
    root = STDLIB if kind == "stdlib" else SITE
    single = root / f"{name}.py"
    if single.is_file():
        return root, [single]
    folder = root / name
    files = [p for p in folder.rglob("*.py") if not (set(p.relative_to(root).parts[:-1]) & SKIP_DIRS)]
    files = [p for p in files if not p.name.startswith("test_")]
    return root, sorted(files)


def cmd_train(args: argparse.Namespace) -> None:
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.encoders.registry import load_encoder
    from omnivec.types import Item

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    halves = split_units(Path(args.evalsets), args.seed)
    t0, c0, load0 = time.monotonic(), cpu_seconds(), os.getloadavg()
    files: list[tuple[Path, Path]] = []
    missing = []
    for unit in halves["train"]:
        root, found = unit_files(unit)
        missing += [] if found else [unit]
        files += [(root, f) for f in found]
    # chunk files in a seeded random order until there are plenty of functions to sample from
    random.Random(args.seed).shuffle(files)
    candidates = []
    for root, f in files:
        candidates += file_candidates(root, [f])
        if len(candidates) >= CANDIDATES_PER_PAIR * args.max_pairs:
            break
    pairs = mine_pairs(candidates, PAIR_KINDS, args.max_pairs, args.seed)
    mined = {"candidates": len(candidates), "pairs": count_kinds(pairs), "units_without_files": missing}
    log.info("mined %s in %.0f s", mined, time.monotonic() - t0)
    # hard negatives: dense neighbours (base model, first 128 tokens) among the mined functions
    by_id = {c.id: c for c in candidates}
    pool = sorted({p.source_id for p in pairs})
    enc = load_encoder("minilm", max_length=128)
    items = [Item(text=by_id[i].code, id=i) for i in pool]
    vecs = enc.embed(items, role="document", cache=EmbeddingCache(args.cache)).vectors
    near = matrix_neighbours(pool, np.asarray(vecs))
    pairs = attach_negatives(pairs, near, lambda nid, p: render_like(by_id[nid], p.kind))
    mine_wall, mine_cpu = time.monotonic() - t0, cpu_seconds() - c0
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length,
        budget_s=args.budget_minutes * 60 if args.budget_minutes else None, seed=args.seed, threads=2,
    )  # fmt: skip
    base = load_encoder("minilm")
    report = train(Path(str(base.path)), pairs, settings, out / "model", progress=_log_progress)
    summary = {
        "halves": halves, "mined": mined, "hard_negatives": report.hard_negatives,
        "mining": {"wall_s": mine_wall, "cpu_s": mine_cpu}, "train": report.as_dict(),
        "settings": vars(args), "loadavg_start": load0, "loadavg_end": os.getloadavg(),
        "losses": report.losses,
    }  # fmt: skip
    (out / "train.json").write_text(json.dumps(summary, indent=2))
    log.info("trained: %s", report.as_dict())


def _log_progress(step: int, total: int, loss: float | None) -> None:
    if step % 10 == 0 or step == total:
        log.info("step %d/%d loss %s load %s", step, total, loss, os.getloadavg()[0])


def sample_corpus(data: Any, n: int, seed: int, queries: set[str]) -> Any:
    """Only `queries`, over their judged documents plus random others up to `n` documents.

    `n` = 0 keeps the full corpus (the real protocol). A sample is only for a quick look on a busy
    machine: a smaller corpus makes every score higher, so only the base-vs-tuned difference on
    the same sample means anything, and it is not the full-corpus difference.
    """
    from omnivec.evaluate import RetrievalData

    qrels = {q: d for q, d in data.qrels.items() if q in queries}
    if not n or n >= len(data.corpus):
        return RetrievalData.build(data.corpus, data.queries, qrels)
    judged = {d for rel in qrels.values() for d in rel}
    rest = [r for r in data.corpus if r.id not in judged]
    keep = judged | {r.id for r in random.Random(seed).sample(rest, max(0, n - len(judged)))}
    return RetrievalData.build([r for r in data.corpus if r.id in keep], data.queries, qrels)


def cmd_eval(args: argparse.Namespace) -> None:
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.encoders.registry import load_encoder
    from omnivec.evaluate import BM25Retriever, DenseRetriever, HybridRetriever, load_beir
    from omnivec.evaluate.metrics import ndcg_at_k, recall_at_k
    from omnivec.evaluate.retrievers import Request

    out = Path(args.out)
    halves = json.loads((out / "train.json").read_text())["halves"]
    models = {"base": load_encoder("minilm"), "tuned": load_encoder(str(out / "model"))}
    cache = EmbeddingCache(args.cache)
    results: dict[str, Any] = {}
    req = Request(title_mode="text", instruction=None, k=100)
    for name in args.sets:
        full = load_beir(Path(args.evalsets) / name)
        unit = {m["_id"]: m["unit"] for m in read_jsonl(Path(args.evalsets) / name / "corpus_meta.jsonl")}
        side = {
            q: "eval" if unit[next(iter(d))] in halves["eval"] else "train" for q, d in full.qrels.items()
        }
        # train-half queries (what a leak would look like) only on the full corpus
        wanted = {q for q, s in side.items() if s == "eval" or not args.corpus_sample}
        data = sample_corpus(full, args.corpus_sample, args.seed, wanted)
        bm25 = BM25Retriever().retrieve(data, req)
        res: dict[str, Any] = {
            "queries": dict(Counter(side[q] for q in data.qrels)),
            "corpus": len(data.corpus),
        }
        for label, enc in models.items():
            t0, c0 = time.monotonic(), cpu_seconds()
            dense = DenseRetriever(enc, cache).retrieve(data, req)
            hybrid = HybridRetriever(DenseRetriever(enc), BM25Retriever()).fuse(
                data.queries, dense, bm25, req.k
            )
            for half in ("eval", "train") if not args.corpus_sample else ("eval",):
                qrels = {q: d for q, d in data.qrels.items() if side[q] == half}
                for kind, run in (("dense", dense), ("hybrid", hybrid), ("bm25", bm25)):
                    res[f"{half}/{kind}/{label}"] = {
                        "ndcg@10": round(ndcg_at_k(run, qrels, 10), 4),
                        "recall@100": round(recall_at_k(run, qrels, 100), 4),
                    }
            res[f"time/{label}"] = {"wall_s": time.monotonic() - t0, "cpu_s": cpu_seconds() - c0}
            log.info("%s %s: %s", name, label, {k: v for k, v in res.items() if label in k})
        results[name] = res
        (out / "eval.json").write_text(json.dumps(results, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("train", "eval", "split"))
    ap.add_argument("--out", default=".bench/tune")
    ap.add_argument("--evalsets", default=str(Path(__file__).resolve().parents[2] / "shared" / "evalsets"))
    ap.add_argument("--cache", default=".bench/cache.sqlite")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-pairs", type=int, default=4000)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--budget-minutes", type=float, default=0, help="0: no wall-clock budget")
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    ap.add_argument("--corpus-sample", type=int, default=0, help="eval: 0 = full corpus (the protocol)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    if args.command == "split":
        print(json.dumps(split_units(Path(args.evalsets), args.seed), indent=1))
    else:
        {"train": cmd_train, "eval": cmd_eval}[args.command](args)


if __name__ == "__main__":
    main()
