"""Our metrics against pytrec_eval on random runs: ties, graded and negative grades, odd ids."""

from __future__ import annotations

import math
import random

import pytest

from omnivec.evaluate import metrics

pytrec_eval = pytest.importorskip("pytrec_eval")

KS = metrics.K_VALUES
MEASURES = {f"{m}.{','.join(map(str, KS))}" for m in ("ndcg_cut", "map_cut", "recall", "P", "success")}
MEASURES.add("recip_rank")
OURS_TO_TREC = {"ndcg": "ndcg_cut", "map": "map_cut", "recall": "recall", "precision": "P", "hit": "success"}


def random_case(seed: int) -> tuple[dict, dict]:
    rng = random.Random(seed)
    # ids whose string order differs from numeric order, mixed case and non-ASCII, to test tie-breaking
    doc_ids = [f"d{i}" for i in range(40)] + ["D7", "a", "Z", "é1", "d01", "x-1", "x_1"]
    qrels, run = {}, {}
    for q in range(30):
        qid = f"q{q}"
        judged = rng.sample(doc_ids, rng.randint(0, 12))
        if q % 7 != 3:  # some queries have no qrels at all
            qrels[qid] = {d: rng.choice([-1, 0, 0, 1, 1, 2, 3]) for d in judged}
        if q % 11 != 5:  # some judged queries are not in the run
            retrieved = rng.sample(doc_ids, rng.randint(0, len(doc_ids)))
            # one decimal: plenty of ties; sometimes all equal
            run[qid] = {d: (1.0 if q % 9 == 0 else round(rng.uniform(-1, 1), 1)) for d in retrieved}
    return qrels, run


@pytest.mark.parametrize("seed", range(6))
def test_per_query_scores_equal_pytrec_eval(seed: int) -> None:
    qrels, run = random_case(seed)
    ref = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)
    ours = metrics.evaluate_run(run, qrels)
    assert set(ours) == set(ref)  # the same queries are scored: run and qrels intersected
    for qid, scores in ref.items():
        for fam, trec in OURS_TO_TREC.items():
            for k in KS:
                assert ours[qid][f"{fam}_at_{k}"] == pytest.approx(scores[f"{trec}_{k}"], abs=1e-9), (
                    qid,
                    fam,
                    k,
                )
        ranking = metrics.rank(run[qid])
        assert metrics.query_mrr(ranking, qrels[qid]) == pytest.approx(scores["recip_rank"], abs=1e-9)


@pytest.mark.parametrize("seed", range(6, 10))
def test_mean_functions_equal_pytrec_eval_means(seed: int) -> None:
    qrels, run = random_case(seed)
    ref = pytrec_eval.RelevanceEvaluator(qrels, MEASURES).evaluate(run)

    def mean(key: str) -> float:
        return math.fsum(s[key] for s in ref.values()) / len(ref)

    for k in KS:
        assert metrics.ndcg_at_k(run, qrels, k) == pytest.approx(mean(f"ndcg_cut_{k}"), abs=1e-9)
        assert metrics.map_at_k(run, qrels, k) == pytest.approx(mean(f"map_cut_{k}"), abs=1e-9)
        assert metrics.recall_at_k(run, qrels, k) == pytest.approx(mean(f"recall_{k}"), abs=1e-9)
        assert metrics.precision_at_k(run, qrels, k) == pytest.approx(mean(f"P_{k}"), abs=1e-9)
        assert metrics.hit_at_k(run, qrels, k) == pytest.approx(mean(f"success_{k}"), abs=1e-9)
    assert metrics.mrr(run, qrels) == pytest.approx(mean("recip_rank"), abs=1e-9)


def test_ties_break_by_doc_id_descending_like_trec_eval() -> None:
    assert metrics.rank({"a": 1.0, "b": 1.0, "c": 2.0, "a10": 1.0, "a9": 1.0}) == ["c", "b", "a9", "a10", "a"]
    qrels = {"q": {"b": 1}}
    for run in ({"q": {"a": 1.0, "b": 1.0}}, {"q": {"b": 1.0, "c": 1.0}}):
        ref = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(run)["q"]["recip_rank"]
        assert metrics.mrr(run, qrels) == ref


def test_mrr_at_k_cuts_and_hit_at_1() -> None:
    run = {"q": {"a": 3.0, "b": 2.0, "c": 1.0}}
    qrels = {"q": {"c": 1}}
    assert metrics.mrr(run, qrels, k=2) == 0.0
    assert metrics.mrr(run, qrels, k=3) == pytest.approx(1 / 3)
    assert metrics.hit_at_k(run, qrels, 1) == 0.0
    assert metrics.hit_at_k({"q": {"c": 9.0}}, qrels, 1) == 1.0


def test_mean_scores_rounds_to_five_decimals() -> None:
    per_query = {"a": {"m": 1.0}, "b": {"m": 0.0}, "c": {"m": 0.0}}
    assert metrics.mean_scores(per_query) == {"m": 0.33333}
    assert metrics.mean_scores(per_query, digits=None)["m"] == pytest.approx(1 / 3)
    assert metrics.mean_scores({}) == {}
