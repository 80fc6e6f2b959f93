"""OCR passages: image documents split into OCR line passages, scored by their best passage.

OCR is faked per instance (an `ocr` attribute on one encoder object, or a plain function), so
these run offline without tesseract.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omnivec.encoders.registry import load_encoder
from omnivec.evaluate import DataRoots, RunOptions, build_retriever, resolve_tasks, run_task, task_json
from omnivec.evaluate.data import Record, RetrievalData
from omnivec.evaluate.passages import Passages, choose, max_pool
from omnivec.evaluate.retrievers import Request
from omnivec.evaluate.runner import retrieve
from omnivec.ocr import OcrResult, OcrWord
from tests.evaluate import fixtures as fx
from tests.evaluate.conftest import StaticRetriever

PAGES = {
    "a.png": ["zip iterables together", "returns an iterator of tuples", "unrelated footer words here"],
    "b.png": ["open a file for reading", "the mode argument selects text"],
    "c.png": [],  # OCR found nothing: the page has no passage and cannot be retrieved
}


def page(lines: list[str]) -> OcrResult:
    words = tuple(
        OcrWord(w, 10 * i, 20 * n, 8, 12, 95.0, 1, 1, n)
        for n, line in enumerate(lines)
        for i, w in enumerate(line.split())
    )
    return OcrResult(" ".join(lines), words, (100, 100))


def fake_ocr(images: list[str]) -> list[OcrResult]:
    return [page(PAGES[Path(im).name]) for im in images]


def folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name in PAGES:  # bytes only matter to a non-OCR encoder, which hashes them
        (root / name).write_bytes(name.encode())
    fx.write_jsonl(
        root / "corpus.jsonl",
        [{"_id": "pa", "image": "a.png"}, {"_id": "pb", "image": "b.png"}, {"_id": "pc", "image": "c.png"},
         {"_id": "t1", "text": "sort the items of a list"}],
    )  # fmt: skip
    fx.write_jsonl(
        root / "queries.jsonl",
        [{"_id": "q1", "text": "returns an iterator of tuples"}, {"_id": "q2", "text": "open a file for reading"},
         {"_id": "q3", "text": "sort the items"}],
    )  # fmt: skip
    fx.write_qrels_tsv(root / "qrels" / "test.tsv", {"q1": {"pa": 1}, "q2": {"pb": 1}, "q3": {"t1": 1}})
    return root


@pytest.fixture
def ocr_fake():
    """A fresh fake encoder whose instance (not class, not library) has an `ocr` method."""
    enc = load_encoder("omnivec/fake")
    enc.ocr = fake_ocr  # type: ignore[attr-defined]
    return enc


def test_max_pool_keeps_the_best_passage_per_document() -> None:
    owner = {"a#p0": "a", "a#p1": "a", "b#p0": "b", "t": "t"}
    run = {"q": {"a#p0": 0.2, "b#p0": 0.5, "a#p1": 0.9, "t": 0.5}}
    assert max_pool(run, owner, 10) == {"q": {"a": 0.9, "t": 0.5, "b": 0.5}}
    assert max_pool(run, owner, 1) == {"q": {"a": 0.9}}


def test_split_maps_passages_to_their_documents(tmp_path: Path) -> None:
    data = RetrievalData(
        [Record("pa", image="a.png"), Record("pb", image="b.png", text="a caption"), Record("t1", text="x")],
        [], {},
    )  # fmt: skip
    split = Passages(fake_ocr, "fake", words=4).split(data)
    ids = [r.id for r in split.data.corpus]
    # 4 words per passage, whole lines, one line of overlap: a -> 3 passages; b -> 2 + its caption
    assert ids == ["pa#p0", "pa#p1", "pa#p2", "pb#p0", "pb#p1", "pb#pown", "t1"]
    assert {split.owner[i] for i in ids} == {"pa", "pb", "t1"}
    assert all(r.image is None for r in split.data.corpus)
    assert split.data.corpus[0].text == "zip iterables together"
    assert split.info["passages"] == 6 and split.info["mean_passages_per_image_doc"] == 3.0


def test_static_run_over_passages_is_pooled_to_documents(tmp_path: Path) -> None:
    (task,) = resolve_tasks([str(folder(tmp_path / "s"))], DataRoots())
    data = task.subsets[0].load()
    ret = StaticRetriever({"q1": {"pa#p1": 0.9, "pa#p0": 0.1, "pb#p0": 0.3}, "q3": {"t1": 0.4}})
    run, info = retrieve(data, ret, Request("text", None, 5), Passages(fake_ocr, "fake", 4))
    assert run == {"q1": {"pa": 0.9, "pb": 0.3}, "q2": {}, "q3": {"t1": 0.4}}
    assert ret.requests[0].k == 6  # deep enough to keep 5 documents: all 5 passages + t1
    assert info is not None and info["image_docs_without_text"] == 1


def test_dense_with_an_ocr_encoder_uses_passages_and_records_them(tmp_path: Path, ocr_fake) -> None:
    (task,) = resolve_tasks([str(folder(tmp_path / "d"))], DataRoots())
    result = run_task(
        task, build_retriever("dense", ocr_fake, work_dir=tmp_path), RunOptions(passage_words=4)
    )
    assert result.main_score == 1.0  # each query is one line of its page: found by that passage
    info = task_json(result, env={})["omnivec"]["ocr_passages"]["default"]
    assert info["ocr"] == "omnivec/fake" and info["words_per_passage"] == 4
    assert info["image_docs"] == 3 and info["passages"] == 5
    assert info["mean_passages_per_image_doc"] == pytest.approx(5 / 3, abs=1e-3)


def test_hybrid_fuses_documents_not_passages(tmp_path: Path, ocr_fake) -> None:
    (task,) = resolve_tasks([str(folder(tmp_path / "h"))], DataRoots())
    result = run_task(
        task, build_retriever("hybrid", ocr_fake, work_dir=tmp_path), RunOptions(passage_words=4)
    )
    assert result.main_score == 1.0 and result.subsets[0].passages is not None


def test_passages_are_off_without_ocr_or_when_refused(tmp_path: Path, ocr_fake, fake) -> None:
    (task,) = resolve_tasks([str(folder(tmp_path / "o"))], DataRoots())
    data = task.subsets[0].load()
    assert choose(build_retriever("dense", fake), data, None, None, 60) is None  # no `ocr`: images as is
    assert choose(build_retriever("dense", ocr_fake), data, False, None, 60) is None
    assert choose(build_retriever("bm25"), data, None, None, 60) is None
    on = choose(build_retriever("dense", ocr_fake), data, None, None, 60)
    assert on is not None and on.words == 60
    text_only = RetrievalData([Record("t", text="x")], [], {})
    assert choose(build_retriever("dense", ocr_fake), text_only, True, None, 60) is None
    result = run_task(task, build_retriever("dense", fake, work_dir=tmp_path))
    assert result.subsets[0].passages is None and task_json(result, env={})["omnivec"]["ocr_passages"] is None
