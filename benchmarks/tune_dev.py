"""`omnivec tune` on the dev sets, without fooling ourselves.

The units of code-docstring-dev and code-to-code-dev (stdlib modules and packages, from each
document's `corpus_meta.jsonl`) are split in two halves (seeded, balanced by query count). Pairs
are mined from the *source files* of the train half only (found on this machine: the CPython
3.11 stdlib and its site-packages; tests and vendored code skipped), with hard negatives from the
base model's dense neighbours, and the model is tuned with omnivec's own `omnivec.tune` code.
Evaluation uses the queries whose target lies in the *other* half, searched over the full corpus:
dense and hybrid exactly as `omnivec eval` runs them (the evaluator's retrievers with their
defaults: the task's title mode, top 1000, self hits dropped, the default analyser and fusion),
tuned vs untuned MiniLM, with paired bootstrap intervals of tuned - untuned per query. Train-half
queries are reported too, as what a leak would look like.

    python benchmarks/tune_dev.py train --out .bench/run       # mine + tune (CPU time reported)
    python benchmarks/tune_dev.py eval --out .bench/run        # before/after on both sets
    python benchmarks/tune_dev.py eval --out .bench/run --models base   # untuned only (fills the cache)
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

from omnivec.tune.pairs import (
    PAIR_KINDS,
    Candidate,
    Pair,
    attach_negatives,
    count_kinds,
    mine_pairs,
    render_like,
)
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
    from omnivec.encoders.registry import load_encoder

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
    if args.hard_negatives:
        pairs = _with_negatives(pairs, candidates, args.cache)
    mine_wall, mine_cpu = time.monotonic() - t0, cpu_seconds() - c0
    settings = TrainSettings(
        epochs=args.epochs, batch_size=args.batch_size, max_length=args.max_length, learning_rate=args.learning_rate,
        docstring_max_length=args.docstring_max_length or None,
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


def _with_negatives(pairs: list[Pair], candidates: list[Candidate], cache: str) -> list[Pair]:
    """Hard negatives: dense neighbours (base model, first 128 tokens) among the mined functions."""
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.encoders.registry import load_encoder
    from omnivec.types import Item

    by_id = {c.id: c for c in candidates}
    pool = sorted({p.source_id for p in pairs})
    enc = load_encoder("minilm", max_length=128)
    items = [Item(text=by_id[i].code, id=i) for i in pool]
    vecs = enc.embed(items, role="document", cache=EmbeddingCache(cache)).vectors
    near = matrix_neighbours(pool, np.asarray(vecs))
    return attach_negatives(pairs, near, lambda nid, p: render_like(by_id[nid], p.kind))


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
        return RetrievalData.build(data.corpus, [q for q in data.queries if q.id in queries], qrels)
    judged = {d for rel in qrels.values() for d in rel}
    rest = [r for r in data.corpus if r.id not in judged]
    keep = judged | {r.id for r in random.Random(seed).sample(rest, max(0, n - len(judged)))}
    kept_queries = [q for q in data.queries if q.id in queries]
    return RetrievalData.build([r for r in data.corpus if r.id in keep], kept_queries, qrels)


def per_query(run: dict[str, dict[str, float]], qrels: Any, top_k: int) -> dict[str, dict[str, float]]:
    """nDCG@10 and Recall@100 per query, self hits dropped (as `omnivec eval` scores the dev sets)."""
    from omnivec.evaluate import metrics
    from omnivec.evaluate.runner import drop_self_hits

    run = drop_self_hits({q: run.get(q, {}) for q in qrels}, top_k)
    return metrics.evaluate_run(run, qrels, k_values=(10, 100), families=("ndcg", "recall"))


def set_runs(
    name: str, args: argparse.Namespace, halves: dict[str, list[str]], models: dict[str, Any]
) -> Any:
    """Per-query scores of bm25, and dense and hybrid per model, on one set, with `omnivec eval`'s
    retrievers and defaults: the task's title mode, top 1000 (+1 for the self hit), the default
    analyser and fusion (`build_retriever("hybrid")` with no keyword settings)."""
    from omnivec.encoders.cache import EmbeddingCache
    from omnivec.evaluate.retrievers import BM25Retriever, HybridRetriever, Request, build_retriever
    from omnivec.evaluate.tasks import DataRoots, resolve_tasks

    folder = Path(args.evalsets) / name
    (task,) = resolve_tasks([str(folder)], DataRoots(evalsets=Path(args.evalsets), cache=Path(args.out)))
    full = task.subsets[0].load()
    unit = {m["_id"]: m["unit"] for m in read_jsonl(folder / "corpus_meta.jsonl")}
    side = {q: "eval" if unit[next(iter(d))] in halves["eval"] else "train" for q, d in full.qrels.items()}
    # train-half queries (what a leak would look like) only on the full corpus
    wanted = {q for q, s in side.items() if s == "eval" or not args.corpus_sample}
    data = sample_corpus(full, args.corpus_sample, args.seed, wanted)
    req = Request(task.title_mode, None, args.top_k + (1 if task.drop_self_hits else 0))
    runs = {"bm25": BM25Retriever().retrieve(data, req)}
    times = {}
    for label, enc in models.items():
        t0, c0 = time.monotonic(), cpu_seconds()
        hybrid = build_retriever("hybrid", enc, EmbeddingCache(args.cache))
        assert isinstance(hybrid, HybridRetriever)
        runs[f"dense/{label}"] = hybrid.dense.retrieve(data, req)
        runs[f"hybrid/{label}"] = hybrid.fuse(data.queries, runs[f"dense/{label}"], runs["bm25"], req.k)
        times[label] = {"wall_s": time.monotonic() - t0, "cpu_s": cpu_seconds() - c0}
        log.info("%s %s embedded and searched in %s", name, label, times[label])
    scores = {k: per_query(r, data.qrels, args.top_k) for k, r in runs.items()}
    info = {"queries": dict(Counter(side[q] for q in data.qrels)), "corpus": len(data.corpus), "time": times,
            "recipe": hybrid.describe()["recipe"]}  # fmt: skip
    return scores, side, info


def summarise(scores: dict[str, Any], side: dict[str, str], resamples: int) -> dict[str, Any]:
    """Means per half and system, and tuned - base per half with a paired bootstrap interval."""
    from omnivec.evaluate.significance import paired_bootstrap

    out: dict[str, Any] = {}
    scored = set().union(*(pq.keys() for pq in scores.values()))
    for half in sorted({side[q] for q in scored}):  # a sampled corpus scores the eval half only
        for system, pq in scores.items():
            qs = [q for q in pq if side[q] == half]
            if qs:
                out[f"{half}/{system}"] = {
                    m: round(sum(pq[q][m] for q in qs) / len(qs), 4) for m in ("ndcg_at_10", "recall_at_100")
                }
        for kind in ("dense", "hybrid"):
            base, tuned = scores.get(f"{kind}/base"), scores.get(f"{kind}/tuned")
            if base is None or tuned is None:
                continue
            d = paired_bootstrap(_ndcg(base, side, half), _ndcg(tuned, side, half), resamples)
            out[f"{half}/{kind} tuned - base"] = {**vars(d), "text": str(d)}
    return out


def _ndcg(pq: dict[str, dict[str, float]], side: dict[str, str], half: str) -> dict[str, float]:
    return {q: s["ndcg_at_10"] for q, s in pq.items() if side[q] == half}


def cmd_eval(args: argparse.Namespace) -> None:
    from omnivec.encoders.registry import load_encoder

    out = Path(args.out)
    trained = out / "train.json"
    halves = split_units(Path(args.evalsets), args.seed)  # the split `train` used, recomputed
    if trained.is_file() and json.loads(trained.read_text())["halves"] != halves:
        raise SystemExit(f"{trained} was trained on another split: pass its --seed")
    paths = {"base": "minilm", "tuned": str(out / "model")}
    models = {m: load_encoder(paths[m]) for m in args.models}
    tag = f"-sample{args.corpus_sample}" if args.corpus_sample else ""
    path = out / f"eval{tag}.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.is_file() else {}
    for name in args.sets:
        scores, side, info = set_runs(name, args, halves, models)
        (out / f"per-query-{name}{tag}.json").write_text(json.dumps({"side": side, "scores": scores}))
        results[name] = {**info, **summarise(scores, side, args.resamples)}
        log.info("%s: %s", name, json.dumps(results[name], indent=1))
        path.write_text(json.dumps(results, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("train", "eval", "split"))
    ap.add_argument("--out", default=".bench/tune")
    ap.add_argument("--evalsets", default=str(Path(__file__).resolve().parents[2] / "shared" / "evalsets"))
    ap.add_argument("--cache", default=None, help="embedding cache (default: OUT/cache.sqlite)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-pairs", type=int, default=4000, help="as `omnivec tune --max-pairs`")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--hard-negatives", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--docstring-max-length", type=int, default=TrainSettings.docstring_max_length,
                    help="cut the code of docstring pairs to this many tokens (0: --max-length)")  # fmt: skip
    ap.add_argument("--learning-rate", type=float, default=TrainSettings.learning_rate)
    ap.add_argument("--budget-minutes", type=float, default=0, help="0: no wall-clock budget")
    ap.add_argument("--sets", nargs="+", default=list(SETS))
    ap.add_argument("--corpus-sample", type=int, default=0, help="eval: 0 = full corpus (the protocol)")
    ap.add_argument("--models", nargs="+", default=["base", "tuned"], choices=("base", "tuned"))
    ap.add_argument("--top-k", type=int, default=1000, help="eval: depth of each run (omnivec eval's)")
    ap.add_argument("--resamples", type=int, default=2000, help="eval: paired bootstrap resamples")
    args = ap.parse_args()
    args.cache = args.cache or str(Path(args.out) / "cache.sqlite")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    if args.command == "split":
        print(json.dumps(split_units(Path(args.evalsets), args.seed), indent=1))
    else:
        {"train": cmd_train, "eval": cmd_eval}[args.command](args)


if __name__ == "__main__":
    main()
