"""`omnivec tune` end to end on a tiny repository with a tiny random BERT as the text model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from omnivec.api import Index
from omnivec.cli.app import app
from omnivec.errors import OmnivecError
from omnivec.index.config import IndexConfig
from omnivec.tune.store import META_FILE, read_meta


@pytest.fixture
def cli():
    import omnivec.cli.tune  # noqa: F401  (registers the command)

    return CliRunner()


@pytest.fixture
def bert_store(repo: Path, tmp_path: Path, tiny_bert: Path) -> Path:
    store = tmp_path / "store"
    with Index.create(repo, store, text_model=str(tiny_bert), image_model=None, screenshot_model=None) as idx:
        idx.update()
    return store


def test_tune_switches_the_store_to_the_tuned_model_and_back(cli, repo, bert_store, tiny_bert):
    args = ["tune", str(repo), "--store", str(bert_store), "--from", str(repo / "src")]
    res = cli.invoke(app, [*args, "--max-pairs", "8", "--batch-size", "4", "--json"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["pairs"] == {"docstring": 4, "halves": 4} and report["hard_negatives"] == 8
    assert report["train"]["steps"] == 2 and report["train"]["loss_start"] is not None
    model = Path(report["model"])
    assert model.parent == bert_store / "models" and (model / META_FILE).is_file()
    assert read_meta(model)["base_model"] == str(tiny_bert)
    assert report["reembed"]["switched"] and report["reembed"]["chunks"] > 0

    with Index.open(bert_store) as idx:
        assert idx.config.text_model == str(model)
        (coll,) = [c for c in idx.store.collections() if c.name == "text"]
        assert coll.fingerprint == report["fingerprint"] and coll.count >= 10
        hits = idx.search("parse a configuration file", k=3)
        assert hits and hits[0].path.startswith(("src/", "other/"))

    back = cli.invoke(app, ["tune", str(repo), "--store", str(bert_store), "--use", "base"])
    assert back.exit_code == 0, back.output
    assert "text model" in back.stdout
    with Index.open(bert_store) as idx:
        assert idx.config.text_model == str(tiny_bert)
        assert idx.search("retry with backoff", k=2)
    latest = cli.invoke(app, ["tune", str(repo), "--store", str(bert_store), "--use", "latest", "--json"])
    assert latest.exit_code == 0 and json.loads(latest.stdout)["switched"]
    assert IndexConfig.load(bert_store).text_model == str(model)


def test_tune_refuses_from_outside_the_root_and_unknown_kinds(cli, repo, bert_store, tmp_path):
    out = cli.invoke(app, ["tune", str(repo), "--store", str(bert_store), "--from", str(tmp_path)])
    assert isinstance(out.exception, OmnivecError) and "inside the indexed root" in str(out.exception)
    out = cli.invoke(app, ["tune", str(repo), "--store", str(bert_store), "--kinds", "calls"])
    assert isinstance(out.exception, OmnivecError) and "--kinds calls" in str(out.exception)


def test_cli_defaults_are_the_measured_budget(cli):
    """The CLI's pair count and budget are those of `TuneOptions`/`TrainSettings` (docs/results.md)."""
    import typer.main

    from omnivec.tune.run import TuneOptions

    command = typer.main.get_command(app).get_command(None, "tune")  # type: ignore[attr-defined]
    defaults = {p.name: p.default for p in command.params}
    options = TuneOptions()
    assert defaults["max_pairs"] == options.max_pairs == 4000
    assert defaults["budget_minutes"] * 60 == options.train.budget_s
    assert (defaults["batch_size"], defaults["epochs"]) == (options.train.batch_size, options.train.epochs)
