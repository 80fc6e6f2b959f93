"""Task registry and each loader on a tiny fixture in the benchmark's own row format."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from omnivec.errors import InputError, MissingExtraError
from omnivec.evaluate import DataRoots, list_task_names, resolve_tasks
from omnivec.evaluate.data import CandidateData, RetrievalData, limit_data, load_beir
from tests.evaluate import fixtures as fx


def test_registry_names_and_unknown_name() -> None:
    names = list_task_names()
    for n in ("dev:code-docstring", "dev:image-text-emoji-i2t", "coir", "coir:codesearchnet-ccr", "coderag:repoeval",
              "mmeb:CIRR", "mmeb:retrieval"):  # fmt: skip
        assert n in names
    assert sum(1 for n in names if n.startswith("mmeb:") and n.removeprefix("mmeb:")[0].isupper()) == 36
    with pytest.raises(InputError, match="omnivec eval --list"):
        resolve_tasks(["nope:nothing"], DataRoots())
    with pytest.raises(InputError, match="cosqa"):
        resolve_tasks(["coir:cosq"], DataRoots())


def test_beir_loader_keeps_judged_queries_and_resolves_images(tmp_path: Path) -> None:
    data = load_beir(fx.beir_folder(tmp_path / "b"))
    assert [q.id for q in data.queries] == ["q1", "q2", "q3", "q4", "q5", "q6"]  # q_unjudged dropped
    assert len(data.corpus) == 8 and data.qrels["q6"] == {"d8": 1, "d3": 0}
    img = load_beir(fx.image_beir_folder(tmp_path / "i"))
    assert Path(img.corpus[0].image).is_absolute() and Path(img.corpus[0].image).is_file()
    item = img.corpus[1].item()
    assert item.modality == "image" and item.text == "bee" and item.image == img.corpus[1].image
    assert img.corpus[0].item().text is None


def test_beir_folder_task_and_missing_files(tmp_path: Path) -> None:
    (task,) = resolve_tasks([str(fx.beir_folder(tmp_path / "myset"))], DataRoots())
    assert task.name == "beir:myset" and task.main_metric == "ndcg_at_10"
    with pytest.raises(InputError, match="qrels"):
        load_beir(tmp_path)


def test_dev_tasks_use_the_evalsets_root(tmp_path: Path) -> None:
    fx.beir_folder(tmp_path / "code-docstring-dev")
    (task,) = resolve_tasks(["dev:code-docstring"], DataRoots(evalsets=tmp_path))
    assert task.title_mode == "title-text" and {p.metric for p in task.published} == {
        "ndcg_at_10",
        "recall_at_100",
    }
    assert len(task.subsets[0].load().queries) == 6
    with pytest.raises(InputError, match="OMNIVEC_EVALSETS"):
        resolve_tasks(["dev:code-docstring"], DataRoots(evalsets=tmp_path / "absent"))


def test_i2t_dev_set_images_resolve_against_the_parent_folder(evalsets: Path) -> None:
    (task,) = resolve_tasks(["dev:image-text-emoji-i2t"], DataRoots(evalsets=evalsets))
    data = task.subsets[0].load()
    assert len(data.queries) == 1861 and Path(data.queries[0].image).is_file()


def test_coir_local_rows_and_codesearchnet_languages(tmp_path: Path) -> None:
    fx.coir_folder(tmp_path / "coir" / "cosqa")
    (task,) = resolve_tasks(["coir:cosqa"], DataRoots(data=tmp_path))
    assert task.title_mode == "text" and task.instruction and task.published[0].score == 46.72
    data = task.subsets[0].load()
    assert isinstance(data, RetrievalData) and data.corpus[0].title == "td1" and len(data.queries) == 6
    assert task.subsets[0].instruction_ids == ("coir:cosqa", "cosqa")
    (csn,) = resolve_tasks(["coir:codesearchnet"], DataRoots(data=tmp_path))
    assert [s.name for s in csn.subsets] == ["go", "java", "javascript", "php", "python", "ruby"]
    assert csn.subsets[4].instruction_ids[:2] == ("coir:codesearchnet-python", "coir:CodeSearchNet-python")
    (ccr,) = resolve_tasks(["coir:codesearchnet-ccr-go"], DataRoots(data=tmp_path))
    assert ccr.subsets[0].instruction_ids[1] == "coir:CodeSearchNet-ccr-go" and "segment" in (
        ccr.instruction or ""
    )
    assert len(resolve_tasks(["coir"], DataRoots())) == 10


def test_coir_hub_loader_goes_through_datasets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (task,) = resolve_tasks(["coir:cosqa"], DataRoots())  # no local copy: the hub path
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingExtraError, match=r"omnivec\[eval\]"):
        task.subsets[0].load()
    calls = []
    corpus = [{"_id": "d1", "title": "", "text": "x"}, {"_id": "d2", "title": "", "text": "y"}]
    queries = [{"_id": "q1", "text": "x"}, {"_id": "q9", "text": "not judged"}]

    def load_dataset(name: str, *args: object, **kw: object) -> dict:
        calls.append(name)
        if name.endswith("-qrels"):
            return {"test": [{"query_id": "q1", "corpus_id": "d1", "score": 1}]}
        return {"corpus": corpus, "queries": queries}

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    data = task.subsets[0].load()
    assert calls == ["CoIR-Retrieval/cosqa-queries-corpus", "CoIR-Retrieval/cosqa-qrels"]
    assert [q.id for q in data.queries] == ["q1"] and len(data.corpus) == 2


def test_mmeb_rows_strip_the_image_token_and_keep_gold_first(tmp_path: Path) -> None:
    fx.mmeb_file(tmp_path / "mmeb")
    (task,) = resolve_tasks(["mmeb:CIRR"], DataRoots(data=tmp_path))
    assert (
        task.protocol == "candidates" and task.main_metric == "precision_at_1" and task.group == "retrieval"
    )
    data = task.subsets[0].load()
    assert isinstance(data, CandidateData) and len(data.rows) == 3
    row = data.rows[0]
    assert row.query.text == "red apple" and Path(row.query.image).is_file()
    assert [c.text for c in row.candidates] == ["red apple", "blue car"] and row.candidates[1].image is None
    assert len(resolve_tasks(["mmeb:grounding"], DataRoots(data=tmp_path))) == 4
    assert len(resolve_tasks(["mmeb"], DataRoots(data=tmp_path))) == 36


def test_mvrb_local_rows(tmp_path: Path) -> None:
    fx.mvrb_folder(tmp_path / "mvrb")
    (task,) = resolve_tasks(["mvrb:Screenshot_Retrieval/docs"], DataRoots(data=tmp_path))
    assert task.group == "SR" and task.main_metric == "recall_at_1"
    data = task.subsets[0].load()
    assert [d.id for d in data.corpus] == ["c1", "c2", "c3"] and data.qrels == {
        "q0": {"c1": 1},
        "q1": {"c3": 1},
        "q2": {"c1": 1},
    }
    assert Path(data.queries[0].image).is_file()
    assert len(resolve_tasks(["mvrb"], DataRoots(data=tmp_path))) == 1
    with pytest.raises(InputError, match="Screenshot_Retrieval/docs"):
        resolve_tasks(["mvrb:Nope/x"], DataRoots(data=tmp_path))


def test_coderag_one_corpus_per_repository(tmp_path: Path) -> None:
    fx.beir_folder(tmp_path / "coderag" / "repoeval" / "repo_b")
    fx.beir_folder(tmp_path / "coderag" / "repoeval" / "repo_a")
    fx.beir_folder(tmp_path / "coderag" / "humaneval")
    rep, he = resolve_tasks(["coderag:repoeval", "coderag:humaneval"], DataRoots(data=tmp_path))
    assert [s.name for s in rep.subsets] == ["repo_a", "repo_b"] and [s.name for s in he.subsets] == [
        "default"
    ]
    with pytest.raises(InputError, match="--data"):
        resolve_tasks(["coderag:mbpp"], DataRoots(data=tmp_path))


def test_limit_keeps_first_queries_and_judged_docs(tmp_path: Path) -> None:
    data = load_beir(fx.beir_folder(tmp_path))
    small = limit_data(data, 1)
    assert [q.id for q in small.queries] == ["q1"] and small.limited
    assert {d.id for d in small.corpus} == {"d1"} | {d.id for d in data.corpus[:11]}
    assert len(limit_data(CandidateData([]), 3).rows) == 0


def test_hub_failures_point_at_the_local_route(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args: object, **kw: object) -> None:
        raise ConnectionError("no network")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=offline))
    for name in ("coir:apps", "mmeb:CIRR"):
        (task,) = resolve_tasks([name], DataRoots())
        with pytest.raises(InputError, match="--data DIR"):
            task.subsets[0].load()
