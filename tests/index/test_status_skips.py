"""`status` reports the files the last update skipped, the same count `index` printed: the
ledger holds only indexed files, so each update records its summary with the store."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import omnivec.cli.index  # noqa: F401
from omnivec.api import Index
from omnivec.cli.app import app
from omnivec.index.last_run import RECORD_FILE

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def add_skipped_files(repo: Path) -> None:
    for i in range(3):
        (repo / f"data{i}.bin").write_bytes(bytes(range(256)) * 4)  # binary: skipped by the walk
    (repo / ".env").write_text("TOKEN=x\n")  # a key file: skipped unless --include-secrets


def test_status_counts_what_index_reported_skipped(repo: Path, tmp_path: Path) -> None:
    add_skipped_files(repo)
    store = str(tmp_path / "s")
    report = json.loads(run("index", str(repo), "--store", store, *FAKE, "--json"))
    assert report["skipped"] == 5  # blob.bin, data0..2.bin, .env
    status = json.loads(run("status", "--store", store, "--json"))
    assert status["skipped_files"] == report["skipped"] and status["files"] == report["indexed"]
    assert status["last_update"]["skips"] == report["skips"]
    text = run("status", "--store", store)
    assert f"{report['indexed']} files indexed, 5 skipped by the last update" in text
    verbose = run("status", "--store", store, "-v")
    assert "skipped .env: secret" in verbose and "skipped data0.bin: binary file" in verbose


def test_every_update_records_its_skips(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    with Index.create(repo, store, text_model="omnivec/fake", image_model=None, screenshot_model=None) as idx:
        first = idx.update()  # the path watch and the MCP server take
        assert idx.status()["skipped_files"] == len(first.skipped) == 1
        (repo / "blob.bin").unlink()
        idx.update()
        assert idx.status()["skipped_files"] == 0


def test_a_store_without_a_record_says_so(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "s"
    run("index", str(repo), "--store", str(store), *FAKE)
    (store / RECORD_FILE).unlink()  # a store indexed before updates were recorded
    assert json.loads(run("status", "--store", str(store), "--json"))["skipped_files"] is None
    assert "skips not recorded yet" in run("status", "--store", str(store))
    (store / RECORD_FILE).write_text("{not json")  # only a summary: a damaged one is ignored
    assert json.loads(run("status", "--store", str(store), "--json"))["skipped_files"] is None


def test_status_of_an_update_without_skips_says_none(tmp_path: Path) -> None:
    repo = tmp_path / "clean"
    repo.mkdir()
    (repo / "a.py").write_text("def a():\n    return 1\n")
    store = str(tmp_path / "s")
    run("index", str(repo), "--store", store, *FAKE)
    text = run("status", "--store", store)
    assert "1 files indexed, none skipped by the last update" in text and "-v lists" not in text
