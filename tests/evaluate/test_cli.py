"""`omnivec eval` end to end on tiny fixtures with the fake encoder: JSON, markdown, plots, compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import omnivec.cli.embed  # a second command keeps typer in sub-command mode
import omnivec.cli.eval  # noqa: F401  (registers the command)
from omnivec.cli.app import app
from omnivec.errors import InputError
from tests.evaluate import fixtures as fx

runner = CliRunner()


def _eval(*args: str):
    return runner.invoke(app, ["eval", *args], catch_exceptions=True)


def test_eval_writes_json_markdown_and_plots_then_compares(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMNIVEC_EVALSETS", str(tmp_path / "sets"))
    fx.beir_folder(tmp_path / "sets" / "code-docstring-dev")
    mock = fx.beir_folder(tmp_path / "mock")
    dense, bm25 = tmp_path / "out" / "fake", tmp_path / "out" / "bm25"
    res = _eval(str(mock), "dev:code-docstring", "--model", "omnivec/fake", "--out", str(dense), "--no-cache")
    assert res.exit_code == 0, res.output
    assert (
        "dev:code-docstring: ndcg_at_10 49.31" in res.output
        and "| dev:code-docstring | recall_at_100 |" in res.output
    )
    data = json.loads((dense / "dev-code-docstring.json").read_text())
    assert data["task_name"] == "dev:code-docstring" and data["scores"]["test"][0]["hf_subset"] == "default"
    assert data["scores"]["test"][0]["main_score"] == data["omnivec"]["main_score"] == 0.49312
    o = data["omnivec"]
    assert o["model"] == "omnivec/fake" and o["retriever"] == "dense" and o["title_mode"] == "title-text"
    assert o["protocol"]["self_hits_dropped"] and "numpy" in o["packages"] and o["hardware"]["cpus"]
    assert (dense / "summary.md").is_file() and (dense / "plots" / "main_scores.png").stat().st_size > 1000
    assert (dense / "plots" / "recall_beir-mock.png").is_file()

    res = _eval(str(mock), "--retriever", "bm25", "--limit", "2", "--title-mode", "text", "--out", str(bm25))
    assert res.exit_code == 0, res.output
    assert "†" in (bm25 / "summary.md").read_text()
    assert json.loads((bm25 / "beir-mock.json").read_text())["omnivec"]["n_queries"] == {"default": 2}

    cmp = tmp_path / "cmp"
    res = _eval("--compare", str(dense), str(bm25), "--out", str(cmp))
    assert res.exit_code == 0, res.output
    assert "| task | fake | bm25 |" in res.output and "| beir:mock | 49.31 | **100.00** |" in res.output
    assert (cmp / "compare.md").is_file() and (cmp / "main_scores.png").is_file()


def test_list_and_bad_arguments(tmp_path: Path) -> None:
    res = _eval("--list")
    assert res.exit_code == 0 and "coir:codesearchnet-ccr" in res.output and "mmeb:CIRR" in res.output
    for args in (
        [],
        ["x", "--retriever", "sparse"],
        ["x", "--title-mode", "both"],
        ["--compare", str(tmp_path / "no")],
    ):
        res = _eval(*args)
        assert isinstance(res.exception, InputError), (args, res.output)


def test_eval_prints_and_records_the_keyword_and_fusion_settings(tmp_path: Path) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    stops = tmp_path / "stops.txt"
    stops.write_text("the\nof\n")
    out = tmp_path / "hybrid"
    res = _eval(
        str(mock), "--retriever", "hybrid", "--model", "omnivec/fake", "--no-cache", "--out", str(out),
        "--stop-words", str(stops), "--k1", "1.5", "--b", "0.75", "--fusion", "rrf", "--keyword-weight", "0.5",
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "hybrid: model omnivec/fake; bm25 omnivec-code-3:custom-" in res.output
    assert "fusion rrf (k 60); weights dense 1, keyword 0.5" in res.output
    recipe = json.loads((out / "beir-mock.json").read_text())["omnivec"]["recipe"]
    assert recipe["fusion"] == "rrf" and recipe["rrf_k"] == 60
    assert recipe["weights"] == {"dense": 1.0, "keyword": 0.5}
    bm25 = recipe["bm25"]
    assert (bm25["k1"], bm25["b"], bm25["stop_word_count"]) == (1.5, 0.75, 2)
    assert bm25["analyzer"].endswith(":whole:k1=1.5:b=0.75") and bm25["stop_words"].startswith("custom-")

    res = _eval(str(mock), "--retriever", "bm25", "--out", str(tmp_path / "bm25"))
    assert res.exit_code == 0, res.output
    assert "bm25: bm25 omnivec-code-3:en:whole:k1=1.2:b=0.9" in res.output
    default = json.loads((tmp_path / "bm25" / "beir-mock.json").read_text())["omnivec"]
    assert default["recipe"]["analyzer"] == "omnivec-code-3:en:whole:k1=1.2:b=0.9"
    assert isinstance(_eval(str(mock), "--retriever", "bm25", "--stop-words", "nope").exception, InputError)
