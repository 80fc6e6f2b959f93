"""`omnivec.evaluate.evaluate(settings)` gives what `omnivec eval` writes; one function names the sets."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import omnivec.cli.embed  # a second command keeps typer in sub-command mode
import omnivec.cli.eval  # noqa: F401  (registers the command)
from omnivec.cli.app import app
from omnivec.errors import InputError
from omnivec.evaluate import EvalSettings, compare, evalsets_dir, evaluate, task_json
from tests.evaluate import fixtures as fx

# what differs between two runs of the same settings: when they ran and how long they took
VOLATILE = ("date", "elapsed_seconds", "evaluation_time")


def _stable(report: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in report.items() if k not in VOLATILE}
    out["omnivec"] = {k: v for k, v in report["omnivec"].items() if k not in VOLATILE}
    return out


def test_evaluate_returns_what_the_cli_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sets = tmp_path / "sets"
    fx.beir_folder(sets / "code-docstring-dev")
    mock = fx.beir_folder(tmp_path / "mock")
    monkeypatch.setenv("OMNIVEC_EVALSETS", str(sets))
    cli_out = tmp_path / "cli"
    args = [str(mock), "dev:code-docstring", "--model", "omnivec/fake", "--limit", "4", "--no-cache"]
    res = CliRunner().invoke(app, ["eval", *args, "--out", str(cli_out)], catch_exceptions=True)
    assert res.exit_code == 0, res.output

    monkeypatch.delenv("OMNIVEC_EVALSETS")  # the library takes the folder from the settings instead
    settings = EvalSettings(
        [str(mock), "dev:code-docstring"], model="omnivec/fake", limit=4, use_cache=False, evalsets=sets,
        cache_dir=tmp_path / "cache", out=tmp_path / "lib", plots=False,
    )  # fmt: skip
    seen: list[tuple[str, Path | None]] = []
    run = evaluate(settings, on_result=lambda r, p: seen.append((r.task.name, p)))

    assert [r.task.name for r in run.results] == ["beir:mock", "dev:code-docstring"]
    assert [p.name for p in run.files] == ["beir-mock.json", "dev-code-docstring.json"]
    assert seen == [(r.task.name, p) for r, p in zip(run.results, run.files)]
    for result, path in zip(run.results, run.files):
        written = json.loads((cli_out / path.name).read_text())
        assert _stable(task_json(result)) == _stable(written)
        assert _stable(json.loads(path.read_text())) == _stable(written)
    assert f"dev:code-docstring: ndcg_at_10 {100 * run.main_scores()['dev:code-docstring']:.2f}" in res.output
    assert run.summary == tmp_path / "lib" / "summary.md" and run.plots == ()
    assert (tmp_path / "lib" / "summary.json").is_file()
    assert run.summary.read_text() == (cli_out / "summary.md").read_text()


def test_evaluate_without_out_writes_nothing(tmp_path: Path) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    run = evaluate(EvalSettings([str(mock)], retriever="bm25", title_mode="text", cache_dir=tmp_path / "c"))
    assert run.files == () and run.summary is None and run.main_scores() == {"beir:mock": 1.0}
    assert run.results[0].retriever["retriever"] == "bm25" and run.results[0].title_mode == "text"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c", "mock"]


def test_settings_reject_bad_values_and_keep_tasks_as_a_tuple() -> None:
    assert EvalSettings(["a", "b"]).tasks == ("a", "b")
    for bad in (
        {"tasks": []},
        {"tasks": ["x"], "retriever": "sparse"},
        {"tasks": ["x"], "title_mode": "both"},
    ):
        with pytest.raises(InputError):
            EvalSettings(**bad)  # type: ignore[arg-type]


def test_compare_matches_the_cli(tmp_path: Path) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    full = EvalSettings(
        [str(mock)], retriever="bm25", cache_dir=tmp_path / "c", out=tmp_path / "bm25", plots=False
    )
    evaluate(full)
    evaluate(replace(full, limit=2, out=tmp_path / "small"))
    cmp = compare([tmp_path / "bm25", tmp_path / "small"])
    assert cmp.labels == ("bm25", "small") and cmp.table["beir:mock"] == {"bm25": 1.0, "small": 1.0}
    assert cmp.report is None and not (tmp_path / "compare.md").exists()
    res = CliRunner().invoke(
        app,
        ["eval", "--compare", str(tmp_path / "bm25"), str(tmp_path / "small"), "--out", str(tmp_path / "o")],
    )
    assert res.exit_code == 0, res.output
    assert cmp.markdown in res.output and (tmp_path / "o" / "compare.md").read_text() == cmp.markdown
    with pytest.raises(InputError):
        compare([tmp_path / "absent"])


def test_evalsets_dir_honours_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMNIVEC_EVALSETS", str(tmp_path))
    assert evalsets_dir() == tmp_path
    monkeypatch.delenv("OMNIVEC_EVALSETS")
    checkout = Path(__file__).resolve().parents[2]
    assert evalsets_dir() == checkout.parent / "shared" / "evalsets"
