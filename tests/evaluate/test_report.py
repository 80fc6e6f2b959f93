"""Result JSON layout, the markdown summary with published numbers, suite means, comparisons."""

from __future__ import annotations

from pathlib import Path

from omnivec.evaluate import DataRoots, RunOptions, resolve_tasks, run_task
from omnivec.evaluate.report import (
    compare_markdown,
    compare_table,
    load_results,
    recall_curves,
    suite_scores,
    summary_markdown,
    task_json,
    write_result,
    write_summary,
)
from tests.evaluate import fixtures as fx
from tests.evaluate.conftest import StaticRetriever

PERFECT = {q: {next(d for d, s in rel.items() if s > 0): 1.0} for q, rel in fx.QRELS.items()}


class Named(StaticRetriever):
    def describe(self):
        return {**super().describe(), "model": "BAAI/bge-code-v1", "retriever": "dense"}


def _coir_results(tmp_path: Path, out: Path) -> None:
    for name in ("cosqa", "apps"):
        fx.coir_folder(tmp_path / "coir" / name)
    for task in resolve_tasks(["coir:cosqa", "coir:apps"], DataRoots(data=tmp_path)):
        write_result(run_task(task, Named(PERFECT)), out)


def test_task_json_has_the_mteb_layout(tmp_path: Path) -> None:
    fx.coir_folder(tmp_path / "coir" / "cosqa")
    (task,) = resolve_tasks(["coir:cosqa"], DataRoots(data=tmp_path))
    data = task_json(run_task(task, Named(PERFECT), RunOptions(limit=3)), env={"packages": {}})
    assert set(data) >= {"task_name", "scores", "evaluation_time", "mteb_version", "dataset_revision"}
    entry = data["scores"]["test"][0]
    assert entry["main_score"] == entry["ndcg_at_10"] == 1.0 and entry["languages"] == [
        "eng-Latn",
        "python-Code",
    ]
    o = data["omnivec"]
    assert o["limited"] and o["limit"] == 3 and o["title_mode"] == "text" and o["protocol"]["top_k"] == 1000
    assert o["instructions"]["default"]["source"] == "none (no model)"
    assert o["published"][0] == {
        "model": "BAAI/bge-code-v1",
        "score": 46.72,
        "metric": "ndcg_at_10",
        "note": "",
    }


def test_summary_and_suites(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _coir_results(tmp_path, out)
    md = write_summary(out).read_text()
    assert "| coir:cosqa | ndcg_at_10 | 100.00 | **BAAI/bge-code-v1 46.72** |" in md
    assert "| coir | 2 (missing 8) | 100.00 | **BAAI/bge-code-v1 81.77**; Voyage-Code-003 78.53;" in md
    (suite,) = suite_scores(load_results(out))
    assert suite["suite"] == "coir" and not suite["complete"] and len(suite["missing"]) == 8
    assert (out / "summary.json").is_file()
    assert summary_markdown([]) == "No results.\n"


def test_compare_and_recall_curves(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _coir_results(tmp_path, a)
    fx.coir_folder(tmp_path / "coir" / "cosqa")
    (task,) = resolve_tasks(["coir:cosqa"], DataRoots(data=tmp_path))
    write_result(run_task(task, Named({"q1": PERFECT["q1"]})), b)
    labels, table = compare_table([a, b])
    assert labels == ["a", "b"] and table["coir:cosqa"] == {"a": 1.0, "b": 0.16667}
    assert "coir:apps" in table and "b" not in table["coir:apps"]
    md = compare_markdown(labels, table)
    assert "| coir:cosqa | **100.00** | 16.67 |" in md and "| coir:apps | **100.00** | - |" in md
    curves = recall_curves(b)
    assert curves["coir:cosqa"][1] == 0.16667 and sorted(curves["coir:cosqa"]) == [1, 3, 5, 10, 100, 1000]
