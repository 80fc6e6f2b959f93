"""Small shared pieces for benchmark scripts: data paths, BEIR reading, metrics via pytrec_eval."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np

from omnivec.evaluate.devsets import evalsets_dir

EVALSETS = evalsets_dir()


def read_jsonl(path: Path) -> list[dict]:
    with path.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open() as fh:
        next(fh)
        for line in fh:
            q, d, s = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(s)
    return qrels


def evaluate(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """nDCG@10, Recall@1/@100 and MRR@10 as pytrec_eval computes them, averaged over qrels queries."""
    import pytrec_eval

    ev = pytrec_eval.RelevanceEvaluator(qrels, {"ndcg_cut.10", "recall.1", "recall.100", "recip_rank"})
    res = ev.evaluate({q: run.get(q, {}) or {"__none__": 0.0} for q in qrels})
    keys = {"ndcg_cut_10": "nDCG@10", "recall_1": "Recall@1", "recall_100": "Recall@100", "recip_rank": "MRR"}
    return {name: round(sum(r[k] for r in res.values()) / len(res), 4) for k, name in keys.items()}


def machine() -> str:
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def read_qrel_sets(path: Path) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for line in path.read_text().splitlines()[1:]:
        q, d, s = line.split("\t")
        if int(s) > 0:
            out.setdefault(q, set()).add(d)
    return out


def metrics(
    scores: np.ndarray, qids: list[str], dids: list[str], qrels: dict[str, set[str]]
) -> tuple[float, float]:
    """Recall@1 and nDCG@10 with binary relevance (pytrec_eval's definitions), vectorised over a
    (queries x documents) score matrix."""
    col = {d: j for j, d in enumerate(dids)}
    rel = np.zeros(scores.shape, dtype=bool)
    for i, q in enumerate(qids):
        rel[i, [col[d] for d in qrels[q] if d in col]] = True
    n_rel = np.maximum(rel.sum(1), 1)
    top = np.argpartition(-scores, 10, axis=1)[:, :10]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(scores, top, 1), axis=1), 1)
    gains = np.take_along_axis(rel, top, 1).astype(np.float64)
    disc = 1.0 / np.log2(np.arange(2, 12))
    ideal = np.cumsum(disc)[np.minimum(n_rel, 10) - 1]
    return float((gains[:, 0] / n_rel).mean()), float(((gains @ disc) / ideal).mean())
