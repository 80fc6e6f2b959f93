"""The protocols around retrieval: self-hits, judged queries, subset averaging, rounding, P@1,
instructions, images, caching; and an offline mock task with fixed expected scores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from omnivec.encoders.cache import EmbeddingCache
from omnivec.encoders.fake import FakeEncoder
from omnivec.errors import InputError
from omnivec.evaluate import DataRoots, RunOptions, build_retriever, metrics, resolve_tasks, run_task
from omnivec.evaluate.runner import choose_instruction, drop_self_hits
from tests.evaluate import fixtures as fx
from tests.evaluate.conftest import StaticRetriever

PERFECT = {q: {next(d for d, s in rel.items() if s > 0): 1.0} for q, rel in fx.QRELS.items()}


def _coir(tmp_path: Path, name: str = "coir:cosqa", **kw):
    fx.coir_folder(tmp_path / "coir" / "cosqa", **kw)
    return resolve_tasks([name], DataRoots(data=tmp_path))[0]


def test_self_hit_is_dropped_and_depth_is_top_k_plus_one(tmp_path: Path) -> None:
    task = _coir(tmp_path, with_self_hit=True)
    run = {**PERFECT, "q1": {"q1": 0.99, "d2": 0.7, "d1": 0.5}}
    ret = StaticRetriever(run)
    result = run_task(task, ret, RunOptions(top_k=2))
    assert ret.requests[0].k == 3
    assert result.subsets[0].scores["ndcg_at_1"] == 0.83333  # q1: d2 then d1 after the self-hit went
    assert result.subsets[0].scores["ndcg_at_10"] == pytest.approx(round((5 + 0.63093) / 6, 5), abs=1e-5)
    assert drop_self_hits({"q": {"q": 1.0, "a": 0.5, "b": 0.5, "c": 0.1}}, 2) == {"q": {"b": 0.5, "a": 0.5}}


def test_only_judged_queries_reach_the_retriever_and_the_score(tmp_path: Path) -> None:
    (task,) = resolve_tasks([str(fx.beir_folder(tmp_path / "b"))], DataRoots())
    ret = StaticRetriever({**PERFECT, "q_unjudged": {"d6": 1.0}, "q2": {}})
    result = run_task(task, ret)
    assert [q.id for q in ret.seen[0].queries] == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert result.subsets[0].n_queries == 6
    assert result.main_score == 0.83333  # q2 retrieved nothing and still counts


def test_codesearchnet_is_averaged_over_languages_after_rounding(tmp_path: Path) -> None:
    for lang in ("go", "java", "javascript", "php", "python", "ruby"):
        fx.coir_folder(tmp_path / "coir" / f"CodeSearchNet-{lang}")
    (task,) = resolve_tasks(["coir:codesearchnet"], DataRoots(data=tmp_path))
    runs = []
    for i in range(6):  # language i: the first i queries find their document second, the rest first
        runs.append(
            {
                q: ({"d7": 2.0, d: 1.0} if n < i else {d: 1.0})
                for n, (q, rel) in enumerate(PERFECT.items())
                for d in rel
            }
        )

    class PerLanguage(StaticRetriever):
        def retrieve(self, data, req):
            self.run = runs[len(self.seen)]
            return super().retrieve(data, req)

    result = run_task(task, PerLanguage({}))
    expected = [metrics.mean_scores(metrics.evaluate_run(r, fx.QRELS))["ndcg_at_10"] for r in runs]
    assert [s.scores["ndcg_at_10"] for s in result.subsets] == expected
    assert result.main_score == round(sum(expected) / 6, 5)
    assert all(len(str(v).split(".")[-1]) <= 5 for v in expected)


def test_mmeb_precision_at_1_gold_first_ties_to_gold(tmp_path: Path, fake) -> None:
    fx.mmeb_file(tmp_path / "mmeb")
    (task,) = resolve_tasks(["mmeb:CIRR"], DataRoots(data=tmp_path))
    result = run_task(task, build_retriever("dense", fake))
    assert result.main_score == 0.66667  # row 1 right (same text + image), row 2 wrong, row 3 a tie
    assert result.subsets[0].instruction == "" and result.subsets[0].n_queries == 3
    with pytest.raises(InputError, match="dense"):
        run_task(task, build_retriever("bm25"))


def test_instruction_choice(tmp_path: Path, fake) -> None:
    task = _coir(tmp_path)
    sub = task.subsets[0]
    assert choose_instruction(task, sub, build_retriever("dense", fake)) == (
        task.instruction,
        "benchmark instruction",
    )
    preset = FakeEncoder(replace(fake.spec, instructions={"coir:cos*": "PRESET "}))
    assert choose_instruction(task, sub, build_retriever("hybrid", preset)) == (
        "PRESET ",
        "model preset coir:cosqa",
    )
    no_slot = FakeEncoder(replace(fake.spec, query_template="{text}"))
    assert choose_instruction(task, sub, build_retriever("dense", no_slot))[0] is None
    assert choose_instruction(task, sub, build_retriever("bm25")) == (None, "none (no model)")
    (dev,) = resolve_tasks([str(fx.beir_folder(tmp_path / "b"))], DataRoots())
    with_default = FakeEncoder(replace(fake.spec, default_instruction="DEFAULT "))
    assert choose_instruction(dev, dev.subsets[0], build_retriever("dense", with_default)) == (
        "DEFAULT ",
        "model default",
    )


def test_image_records_are_embedded_as_images(tmp_path: Path, fake) -> None:
    (task,) = resolve_tasks([str(fx.image_beir_folder(tmp_path / "img"))], DataRoots())
    result = run_task(task, build_retriever("dense", fake, work_dir=tmp_path))
    assert result.main_score == 1.0  # the query image is the document image: identical vectors


def test_empty_documents_get_zero_vectors(tmp_path: Path, fake) -> None:
    folder = fx.beir_folder(tmp_path / "b")
    with (folder / "corpus.jsonl").open("a") as fh:
        fh.write('{"_id": "empty", "title": "", "text": "  "}\n')
    (task,) = resolve_tasks([str(folder)], DataRoots())
    assert run_task(task, build_retriever("dense", fake)).subsets[0].n_docs == 9


# --- the offline mock task: fixed expected scores ----------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "expected"),
    [("dense", {"ndcg_at_10": 0.49312, "recall_at_3": 0.16667}), ("bm25", {"ndcg_at_10": 1.0, "recall_at_3": 1.0}),
     ("hybrid", {"ndcg_at_10": 1.0, "recall_at_3": 1.0})],
)  # fmt: skip
def test_mock_task_fixed_scores(tmp_path: Path, fake, kind: str, expected: dict) -> None:
    """Hashed bag-of-words vectors (fake encoder) and BM25 on code tokens give these exact numbers
    (hybrid: z-score fusion keeps BM25's perfect ranking, where RRF gave 0.75395);
    a change means the protocol, metrics, tokeniser or fusion changed."""
    (task,) = resolve_tasks([str(fx.beir_folder(tmp_path / "mock"))], DataRoots())
    result = run_task(task, build_retriever(kind, fake, work_dir=tmp_path))
    assert {k: result.subsets[0].scores[k] for k in expected} == expected


def test_cache_resumes_without_running_the_model(tmp_path: Path, fake) -> None:
    (task,) = resolve_tasks([str(fx.beir_folder(tmp_path / "b"))], DataRoots())
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    first = run_task(task, build_retriever("dense", FakeEncoder(fake.spec), cache))
    assert len(cache) == 8 + 6
    enc = FakeEncoder(fake.spec)
    enc.forward = lambda batch: (_ for _ in ()).throw(AssertionError("model ran"))  # type: ignore[method-assign]
    second = run_task(task, build_retriever("dense", enc, cache))
    assert second.subsets[0].scores == first.subsets[0].scores


def test_ann_report_beside_exact(tmp_path: Path, fake) -> None:
    pytest.importorskip("faiss")
    from omnivec.evaluate.ann import AnnSettings, overlap_at

    (task,) = resolve_tasks([str(fx.beir_folder(tmp_path / "b"))], DataRoots())
    result = run_task(task, build_retriever("dense", fake, ann=AnnSettings()))
    ann = result.subsets[0].ann
    assert ann is not None and ann["index"] == "IVF1,Flat"  # 8 documents: one cell, so exact
    assert ann["overlap_at_10"] == 1.0 and ann["ndcg_at_10_ann"] == ann["ndcg_at_10_exact"] == 0.49312
    assert AnnSettings().cells(1_000_000) == 4000 and AnnSettings(nlist=50).cells(390) == 10
    assert overlap_at({"q": {"a": 2.0, "b": 1.0}}, {"q": {"a": 1.0, "c": 0.5}}, k=2) == 0.5
