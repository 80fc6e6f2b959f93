"""Ranking metrics as pytrec_eval (trec_eval) computes them, as pure functions.

`run` is `{qid: {docid: score}}`, `qrels` is `{qid: {docid: relevance}}`. Like pytrec_eval:
- a query's ranking sorts by score descending, ties by doc id descending (trec_eval's order);
- only queries present in both `run` and `qrels` (with at least one judgement) are scored, a
  query with an empty run scoring 0, and means are over those queries;
- nDCG uses the graded relevance as gain (negative grades count 0) and log2(rank + 1) discounts,
  the ideal list coming from all judged grades; MAP, recall, precision, MRR and hit rate count a
  document as relevant when its grade is >= `level` (trec_eval's relevance level, 1);
- MAP@k divides by the number of relevant documents, not by min(k, that number); P@k divides by k
  even when fewer than k documents were retrieved.

>>> ndcg_at_k({"q": {"a": 0.9, "b": 0.1}}, {"q": {"b": 1}}, 10)
0.6309297535714575
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence

Run = Mapping[str, Mapping[str, float]]
Qrels = Mapping[str, Mapping[str, int]]

K_VALUES: tuple[int, ...] = (1, 3, 5, 10, 100, 1000)
METRIC_FAMILIES: tuple[str, ...] = ("ndcg", "map", "recall", "precision", "mrr", "hit")


def rank(scores: Mapping[str, float]) -> list[str]:
    """Doc ids best first, in trec_eval's order: score descending, then doc id descending."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (float(kv[1]), kv[0]), reverse=True)]


# --- one query: `ranking` is best first, `qrel` maps doc id -> grade --------------------------------
def query_ndcg(ranking: Sequence[str], qrel: Mapping[str, int], k: int) -> float:
    ideal = sorted((g for g in qrel.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    if idcg == 0:
        return 0.0
    dcg = sum(max(qrel.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranking[:k]))
    return dcg / idcg


def query_map(ranking: Sequence[str], qrel: Mapping[str, int], k: int, level: int = 1) -> float:
    n_rel = _n_relevant(qrel, level)
    if n_rel == 0:
        return 0.0
    hits, total = 0, 0.0
    for i, d in enumerate(ranking[:k], 1):
        if qrel.get(d, 0) >= level:
            hits += 1
            total += hits / i
    return total / n_rel


def query_recall(ranking: Sequence[str], qrel: Mapping[str, int], k: int, level: int = 1) -> float:
    n_rel = _n_relevant(qrel, level)
    return _hits(ranking, qrel, k, level) / n_rel if n_rel else 0.0


def query_precision(ranking: Sequence[str], qrel: Mapping[str, int], k: int, level: int = 1) -> float:
    return _hits(ranking, qrel, k, level) / k


def query_mrr(ranking: Sequence[str], qrel: Mapping[str, int], k: int | None = None, level: int = 1) -> float:
    """Reciprocal rank of the first relevant document within the top k (all ranks when k is None)."""
    for i, d in enumerate(ranking if k is None else ranking[:k], 1):
        if qrel.get(d, 0) >= level:
            return 1.0 / i
    return 0.0


def query_hit(ranking: Sequence[str], qrel: Mapping[str, int], k: int, level: int = 1) -> float:
    return 1.0 if _hits(ranking, qrel, k, level) else 0.0


def _n_relevant(qrel: Mapping[str, int], level: int) -> int:
    return sum(1 for g in qrel.values() if g >= level)


def _hits(ranking: Sequence[str], qrel: Mapping[str, int], k: int, level: int) -> int:
    return sum(1 for d in ranking[:k] if qrel.get(d, 0) >= level)


_QUERY_METRICS: dict[str, Callable[..., float]] = {
    "ndcg": lambda r, q, k, level: query_ndcg(r, q, k),
    "map": query_map,
    "recall": query_recall,
    "precision": query_precision,
    "mrr": query_mrr,
    "hit": query_hit,
}


# --- whole runs ----------------------------------------------------------------------------------------
def evaluate_run(
    run: Run,
    qrels: Qrels,
    k_values: Iterable[int] = K_VALUES,
    families: Iterable[str] = METRIC_FAMILIES,
    level: int = 1,
) -> dict[str, dict[str, float]]:
    """Per-query scores named like MTEB (`ndcg_at_10`, `map_at_100`, `precision_at_1`, ...)."""
    ks, fams = tuple(k_values), tuple(families)
    out: dict[str, dict[str, float]] = {}
    for qid in _scored_queries(run, qrels):
        ranking, qrel = rank(run[qid]), qrels[qid]
        out[qid] = {f"{f}_at_{k}": _QUERY_METRICS[f](ranking, qrel, k, level) for f in fams for k in ks}
    return out


def mean_scores(per_query: Mapping[str, Mapping[str, float]], digits: int | None = 5) -> dict[str, float]:
    """Average each metric over queries; rounded to `digits` decimals as BEIR and CoIR report."""
    if not per_query:
        return {}
    names = next(iter(per_query.values())).keys()
    means = {m: math.fsum(s[m] for s in per_query.values()) / len(per_query) for m in names}
    return {m: round(v, digits) for m, v in means.items()} if digits is not None else means


def _mean_metric(run: Run, qrels: Qrels, fn: Callable[[list[str], Mapping[str, int]], float]) -> float:
    qids = _scored_queries(run, qrels)
    if not qids:
        return 0.0
    return math.fsum(fn(rank(run[q]), qrels[q]) for q in qids) / len(qids)


def _scored_queries(run: Run, qrels: Qrels) -> list[str]:
    # pytrec_eval skips a query whose qrels are empty, but scores one judged only non-relevant
    return [q for q in run if qrels.get(q)]


def ndcg_at_k(run: Run, qrels: Qrels, k: int) -> float:
    """Mean nDCG@k (pytrec_eval `ndcg_cut_k`)."""
    return _mean_metric(run, qrels, lambda r, q: query_ndcg(r, q, k))


def map_at_k(run: Run, qrels: Qrels, k: int, level: int = 1) -> float:
    """Mean average precision cut at k (pytrec_eval `map_cut_k`)."""
    return _mean_metric(run, qrels, lambda r, q: query_map(r, q, k, level))


def recall_at_k(run: Run, qrels: Qrels, k: int, level: int = 1) -> float:
    """Mean recall@k (pytrec_eval `recall_k`)."""
    return _mean_metric(run, qrels, lambda r, q: query_recall(r, q, k, level))


def precision_at_k(run: Run, qrels: Qrels, k: int, level: int = 1) -> float:
    """Mean precision@k (pytrec_eval `P_k`)."""
    return _mean_metric(run, qrels, lambda r, q: query_precision(r, q, k, level))


def mrr(run: Run, qrels: Qrels, k: int | None = None, level: int = 1) -> float:
    """Mean reciprocal rank, cut at k when given (pytrec_eval `recip_rank` when k is None)."""
    return _mean_metric(run, qrels, lambda r, q: query_mrr(r, q, k, level))


def hit_at_k(run: Run, qrels: Qrels, k: int = 1, level: int = 1) -> float:
    """Share of queries with a relevant document in the top k (hit@1 = success@1)."""
    return _mean_metric(run, qrels, lambda r, q: query_hit(r, q, k, level))
