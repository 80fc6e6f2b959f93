"""A damaged index.json is a StoreError naming the file and the fix (exit 2, no traceback) for
every command; `repair` and `index --rebuild` rebuild it from the database, keeping all that is
indexed, and refuse to guess a root the index's files are not under."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

import omnivec.cli.index
import omnivec.cli.repair
import omnivec.cli.search  # noqa: F401
from omnivec.api import Index
from omnivec.cli.app import app
from omnivec.errors import StoreError

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]


def truncated(path: Path) -> None:
    with open(path, "r+b") as fh:
        fh.truncate(50)


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated": (truncated, "not valid JSON"),
    "a list": (lambda p: p.write_text("[]"), "a JSON list where an object belongs"),
    "empty object": (lambda p: p.write_text("{}"), "missing 'root', 'text_model'"),
    "wrong type": (
        lambda p: p.write_text(json.dumps({"root": "/x", "text_model": "m", "max_file_bytes": "big"})),
        'max_file_bytes = "big", not a whole number',
    ),
}


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def run(*args: str) -> str:
    result = invoke(*args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def keyword_hits(store: Path) -> list[tuple[str, int]]:
    hits = json.loads(run("search", "Stack push", "--store", str(store), "--mode", "keyword", "--json"))
    return [(h["path"], h["start_line"]) for h in hits]


@pytest.fixture
def indexed(repo: Path) -> tuple[Path, Path, list[tuple[str, int]]]:
    """The repo, its default store, and a search's answers before any damage."""
    run("index", str(repo), *FAKE)
    store = repo / ".omnivec"
    return repo, store, keyword_hits(store)


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_every_command_names_the_damaged_file_and_the_fix(indexed, damage):
    repo, store, _ = indexed
    spoil, says = DAMAGE[damage]
    spoil(store / "index.json")
    for args in (("search", "x", "--store", str(store)), ("status", "--store", str(store)),
                 ("index", str(repo), *FAKE)):  # fmt: skip
        result = invoke(*args)
        assert isinstance(result.exception, StoreError), (args, result.exception)
        msg = str(result.exception)
        assert f"{store / 'index.json'}, which is damaged: {says}" in msg, msg
        assert f"omnivec repair --store {store}" in msg and "keeping everything indexed" in msg


def test_the_command_line_says_it_in_one_line(indexed):
    _, store, _ = indexed
    (store / "index.json").write_text("[]")
    proc = subprocess.run([sys.executable, "-m", "omnivec", "status", "--store", str(store)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["repair", "index --rebuild"])
def test_repair_and_rebuild_restore_it_from_the_database(indexed, command):
    repo, store, before = indexed
    (store / "index.json").write_text("{}")
    if command == "repair":
        out = run("repair", "--store", str(store))
    else:
        out = run("index", str(repo), *FAKE, "--rebuild", "--json")
        assert json.loads(out)["indexed"] == 0  # every file was still indexed: nothing redone
    with Index.open(store) as idx:
        assert idx.config.root == str(repo.resolve()) and idx.config.text_model == "omnivec/fake"
    assert keyword_hits(store) == before
    kept = list(store.glob("index.json.damaged-*"))
    assert len(kept) == 1 and kept[0].read_text() == "{}"
    if command == "repair":
        assert "index.json was damaged; rebuilt from the database" in out


def test_a_root_the_indexed_files_are_not_under_is_not_guessed(indexed, tmp_path):
    _, store, before = indexed
    other = tmp_path / "other"
    other.mkdir()
    (other / "unrelated.py").write_text("z = 3\n")
    (store / "index.json").write_text("[]")
    result = invoke("index", str(other), "--store", str(store), *FAKE, "--rebuild")
    assert isinstance(result.exception, StoreError)
    assert f"none of which are under {other.resolve()}" in str(result.exception)
    assert (store / "index.json").read_text() == "[]"  # left as it was: nothing to lose
    run("repair", "--store", str(store))  # the right root (the store's own folder) still works
    assert keyword_hits(store) == before


def test_a_store_not_named_omnivec_needs_its_folder_named(repo, tmp_path):
    store = tmp_path / "custom"
    run("index", str(repo), "--store", str(store), *FAKE)
    (store / "index.json").write_text("[]")
    status = invoke("status", "--store", str(store))
    assert f"omnivec index FOLDER --store {store} --rebuild" in str(status.exception)
    repaired = invoke("repair", "--store", str(store))
    assert isinstance(repaired.exception, StoreError)
    assert "does not tell which folder it indexes" in str(repaired.exception)
    run("index", str(repo), "--store", str(store), *FAKE, "--rebuild")
    assert len(json.loads(run("search", "Stack push", "--store", str(store), "--json"))) > 0
