"""The first line `omnivec index` prints says what the run did: "nothing changed" only when it
did nothing (real runs through the command line, fake model)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import omnivec.cli.index  # noqa: F401  (registers the command on `app`)
from omnivec.cli.app import app
from omnivec.cli.progress import summary_line
from tests.index.conftest import make_repo

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]


def index(*args: str) -> str:
    result = CliRunner().invoke(app, ["index", *args, *FAKE])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_run_that_only_embeds_what_an_earlier_run_left_says_so(tmp_path):
    repo, store = make_repo(tmp_path / "repo"), str(tmp_path / "s")
    first = json.loads(index(str(repo), "--store", store, "--no-embed", "--json"))
    assert first["indexed"] == 3 and first["pending"] > 0  # as a run killed before embedding leaves it
    out = index(str(repo), "--store", store)
    assert out.splitlines()[0] == (
        f"embedded {first['pending']} chunks left from an earlier run; 3 files up to date, 1 skipped"
    )
    assert "nothing changed" not in out
    assert index(str(repo), "--store", store).startswith("nothing changed: 3 files up to date, 1 skipped")


def test_a_first_run_with_only_skips_is_not_nothing_changed(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "blob.bin").write_bytes(b"\x00\x01\x02" * 100)
    out = index(str(repo), "--store", str(tmp_path / "s"))
    assert out.splitlines()[0] == "indexed no files: 1 found, all skipped"
    assert "skipped blob.bin: binary file" in out


def test_summary_lines():
    base = {"indexed": 0, "removed": 0, "embedded": 0, "unchanged": 0, "skipped": 0, "chunks": 0,
            "truncated": 0}  # fmt: skip
    assert summary_line(base) == "indexed no files: no files found"
    assert summary_line({**base, "embedded": 5532, "unchanged": 300}) == (
        "embedded 5,532 chunks left from an earlier run; 300 files up to date, 0 skipped"
    )
    assert summary_line({**base, "removed": 1, "unchanged": 2}).startswith(
        "indexed 0 files (0 chunks), removed 1"
    )
    assert (
        summary_line({**base, "unchanged": 4, "skipped": 1})
        == "nothing changed: 4 files up to date, 1 skipped"
    )
