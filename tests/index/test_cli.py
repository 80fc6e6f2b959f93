"""`omnivec index`, `search` and `status` end to end through the command line (fake encoder)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import omnivec.cli.embed
import omnivec.cli.index
import omnivec.cli.search  # noqa: F401
from omnivec.cli.app import app

FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def test_index_search_status(repo, tmp_path):
    store = str(tmp_path / "s")
    report = json.loads(run("index", str(repo), "--store", store, *FAKE, "--json"))
    assert report["indexed"] == 3 and report["skips"][0]["path"] == "blob.bin"
    hits = json.loads(run("search", "parse config file", "--store", store, "-k", "2", "--json"))
    assert hits[0]["path"] == "pkg/stack.py" and hits[0]["symbol"].endswith("parse_config_file")
    assert hits[0]["snippet"].lstrip().startswith("def parse_config_file")
    assert {h["keyword_engine"] for h in hits} == {"omnivec-bm25"}  # the embedded store's engine
    dense = json.loads(run("search", "parse config file", "--store", store, "--mode", "dense", "--json"))
    assert dense and all(h["keyword_engine"] is None for h in dense)  # no keyword side ran
    js = json.loads(
        run(
            "search", "fetchUserProfile", "--store", store, "--type", "code", "--lang", "javascript", "--json"
        )
    )
    assert [h["path"] for h in js] == ["web.js"]
    text = run("search", "Stack push", "--store", store, "-k", "1")
    assert "pkg/stack.py:" in text and "hybrid search, keyword engine omnivec-bm25" in text
    assert "keyword engine" not in run("search", "Stack push", "--store", store, "--mode", "dense")
    status = json.loads(run("status", "--store", store, "--json"))
    assert status["files"] == 3 and status["collections"][0]["model"] == "omnivec/fake"
    assert status["collections"][0]["keyword_engine"] == "omnivec-bm25"
    assert status["stats"]["keyword"] == ["omnivec-bm25"]
    assert "omnivec-bm25" in run("status", "--store", store)
    again = json.loads(run("index", str(repo), "--store", store, *FAKE, "--json"))
    assert again["unchanged"] == 3 and again["indexed"] == 0


def test_errors_are_one_clear_line(repo, tmp_path):
    import subprocess
    import sys

    def fails(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "omnivec", *args], capture_output=True, text=True, timeout=60
        )
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr
        return proc.stderr

    assert "holds no omnivec index" in fails("search", "x", "--store", str(tmp_path / "nothing"))
    store = str(tmp_path / "s")
    run("index", str(repo), "--store", store, *FAKE)
    assert "type 'video'" in fails("search", "x", "--store", store, "--type", "video")


def _omnivec(*args: str, cwd=None):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "omnivec", *args], capture_output=True, text=True, timeout=120, cwd=cwd
    )


def test_bad_options_exit_2_before_the_store_is_opened(tmp_path):
    missing = str(tmp_path / "no-store-here")
    for args, says in [
        (("--mode", "banana"), "mode 'banana'"),
        (("--type", "video"), "type 'video'"),
        (("-k", "-1"), "k = -1"),
        (("--keyword-weight", "nan"), "keyword weight nan"),
        (("--lang", "klingon"), "language 'klingon'"),
        (("--path", "src/[ab"), "unclosed '['"),
    ]:
        proc = _omnivec("search", "x", "--store", missing, *args)
        # the query is refused first: the missing store is never reached
        assert proc.returncode == 2 and says in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr and "holds no omnivec index" not in proc.stderr


def test_a_store_uri_of_an_unknown_backend_is_refused_and_creates_nothing(repo, tmp_path):
    work = tmp_path / "cwd"
    work.mkdir()
    for cmd in (("index", str(repo)), ("search", "x"), ("status",)):
        proc = _omnivec(*cmd, "--store", "milvu://localhost:19530/code", cwd=work)
        assert proc.returncode == 2, proc.stderr
        assert "scheme 'milvu'" in proc.stderr and "file://" in proc.stderr
    assert list(work.iterdir()) == [] and not (repo / "milvu:").exists()


def test_json_hits_are_hit_to_dict(repo, tmp_path):
    from omnivec.api import Index

    store = str(tmp_path / "s")
    run("index", str(repo), "--store", store, *FAKE)
    printed = json.loads(run("search", "Stack push", "--store", store, "-k", "3", "--json"))
    with Index.open(store) as idx:
        assert printed == [h.to_dict() for h in idx.search("Stack push", k=3)]
    assert {"id", "score", "path", "regions", "snippet"} <= set(printed[0])


def test_keyword_search_in_other_scripts(tmp_path):
    """Words with accents stay whole, case folds beyond ASCII, and CJK text is found by its
    character pairs, through `index` and `search --mode keyword`."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "notes.md").write_text(
        "# Dateigröße berechnen\n\nDie Größe einer Datei in Bytes.\n", encoding="utf-8"
    )
    (repo / "db.py").write_text(
        'def connect():\n    """创建数据库连接池"""\n    return None\n', encoding="utf-8"
    )
    (repo / "other.py").write_text("def unrelated():\n    return 1\n", encoding="utf-8")
    store = str(tmp_path / "s")
    run("index", str(repo), "--store", store, *FAKE)
    for query, path in (("GRÖSSE", "notes.md"), ("dateigröße", "notes.md"), ("数据库", "db.py")):
        hits = json.loads(run("search", query, "--store", store, "--mode", "keyword", "--json"))
        assert [h["path"] for h in hits] == [path], query


def test_a_notebook_hit_names_its_cell(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Notes\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [],
         "source": ["def quaternion_slerp(a, b, t):\n", "    return a\n"]},
    ]  # fmt: skip
    nb = {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (repo / "nb.ipynb").write_text(json.dumps(nb))
    store = str(tmp_path / "s")
    run("index", str(repo), "--store", store, *FAKE)
    out = run("search", "quaternion_slerp", "--store", store, "--mode", "keyword", "-k", "1")
    assert "nb.ipynb cell 2:1-2" in out, out
