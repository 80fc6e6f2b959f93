"""`omnivec eval` on broken or odd inputs: one clear InputError (exit 2) before any work, warnings
for judged documents missing from the corpus, truncation reported, BM25 quiet without -v."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

import omnivec.cli.embed  # a second command keeps typer in sub-command mode)
import omnivec.cli.eval  # noqa: F401  (registers the command)
from omnivec.cli.app import app
from omnivec.errors import InputError
from omnivec.evaluate import EvalSettings, evaluate, load_beir
from omnivec.evaluate.runner import RunOptions
from tests.evaluate import fixtures as fx

runner = CliRunner()


def _eval(*args: str):
    return runner.invoke(app, ["eval", *args], catch_exceptions=True)


def _error(res, *parts: str) -> str:
    assert isinstance(res.exception, InputError), res.output
    msg = str(res.exception)
    for part in parts:
        assert part in msg, msg
    return msg


# --- item 1: tracebacks become InputErrors --------------------------------------------------------------
@pytest.mark.parametrize("args", [("--retriever", "bm25"), ("--model", "omnivec/fake", "--no-cache")])
def test_empty_queries_file_is_an_input_error(tmp_path: Path, args: tuple[str, ...]) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    (mock / "queries.jsonl").write_text("")
    res = _eval(str(mock), *args, "--out", str(tmp_path / "out"))
    _error(res, str(mock / "queries.jsonl"), "no records", "Fix:")


def test_empty_corpus_is_an_input_error(tmp_path: Path) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    (mock / "corpus.jsonl").write_text("\n")
    res = _eval(str(mock), "--retriever", "bm25", "--out", str(tmp_path / "out"))
    _error(res, str(mock / "corpus.jsonl"), "no records")


def test_queries_without_judgements_is_an_input_error(tmp_path: Path) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    fx.write_qrels_tsv(mock / "qrels" / "test.tsv", {"nope": {"d1": 1}})
    with pytest.raises(InputError, match=r"no query in queries\.jsonl has judgements"):
        load_beir(mock)


def test_corpus_row_without_id_names_file_and_line(tmp_path: Path) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    rows = [{"_id": "d1", "text": "a"}, {"id": "d2", "text": "b"}]
    fx.write_jsonl(mock / "corpus.jsonl", rows)
    res = _eval(str(mock), "--retriever", "bm25", "--out", str(tmp_path / "out"))
    _error(res, f"{mock / 'corpus.jsonl'} line 2", "without '_id'", "expected")


def test_non_numeric_qrels_score_names_file_and_line(tmp_path: Path) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    qrels = mock / "qrels" / "test.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\tabc\n")
    res = _eval(str(mock), "--retriever", "bm25", "--out", str(tmp_path / "out"))
    _error(res, f"{qrels} line 3", "'abc'", "numeric score")


def test_out_naming_a_file_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    afile = tmp_path / "results.txt"
    afile.write_text("keep me")
    called: list[object] = []
    monkeypatch.setattr("omnivec.evaluate.api.run_task", lambda *a, **k: called.append(a))
    res = _eval(str(mock), "--retriever", "bm25", "--out", str(afile))
    _error(res, f"--out {afile}", "is a file")
    res = _eval(str(mock), "--retriever", "bm25", "--out", str(afile / "sub"))
    _error(res, "is a file")
    assert called == [] and afile.read_text() == "keep me"


def test_cli_prints_input_errors_as_one_line_with_exit_code_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    mock = fx.beir_folder(tmp_path / "mock")
    (mock / "queries.jsonl").write_text("")
    proc = subprocess.run(
        [sys.executable, "-c", "from omnivec.cli import main; main()", "eval", str(mock), "--retriever", "bm25", "--out",
         str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


# --- item 2: --limit below 1 ----------------------------------------------------------------------------
@pytest.mark.parametrize("limit", ["0", "-5"])
def test_limit_below_one_is_refused_up_front(tmp_path: Path, limit: str) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    res = _eval(str(mock), "--retriever", "bm25", "--limit", limit, "--out", str(tmp_path / "out"))
    _error(res, f"--limit {limit}", "1 or more")
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError):
        RunOptions(limit=int(limit))
    with pytest.raises(InputError):
        EvalSettings([str(mock)], retriever="bm25", limit=int(limit))


# --- item 3: truncation is reported ---------------------------------------------------------------------
def _long_folder(root: Path) -> Path:
    """The mock folder with two documents and one query longer than 8 words (the fake model's tokens)."""
    mock = fx.beir_folder(root)
    docs = dict(fx.DOCS, d1="def add(a, b): " + " ".join(["a + b"] * 5), d2=" ".join(["word"] * 9))
    fx.write_jsonl(mock / "corpus.jsonl", ({"_id": k, "title": "", "text": v} for k, v in docs.items()))
    queries = dict(fx.QUERIES, q1="add two numbers a and b together and return the sum")
    fx.write_jsonl(mock / "queries.jsonl", ({"_id": k, "text": v} for k, v in queries.items()))
    return mock


def test_truncation_is_printed_and_recorded(tmp_path: Path) -> None:
    mock = _long_folder(tmp_path / "mock")
    out = tmp_path / "out"
    res = _eval(str(mock), "--model", "omnivec/fake", "--no-cache", "--max-length", "8", "--out", str(out))
    assert res.exit_code == 0, res.output
    assert "truncated 2 of 8 documents to 8 tokens, and 1 queries" in res.output
    t = json.loads((out / "beir-mock.json").read_text())["omnivec"]["truncated"]
    assert (t["documents"], t["queries"], t["n_docs"], t["max_length"]) == (2, 1, 8, 8)
    assert t["subsets"]["default"]["documents"] == 2

    res = _eval(str(mock), "--model", "omnivec/fake", "--no-cache", "--out", str(tmp_path / "full"))
    assert "truncated 0 of 8 documents to 512 tokens ->" in res.output
    res = _eval(str(mock), "--retriever", "bm25", "--out", str(tmp_path / "bm25"))
    assert res.exit_code == 0 and "truncated" not in res.output
    assert json.loads((tmp_path / "bm25" / "beir-mock.json").read_text())["omnivec"]["truncated"] is None


def test_truncation_is_counted_per_task_not_accumulated(tmp_path: Path) -> None:
    mock = _long_folder(tmp_path / "mock")
    run = evaluate(
        EvalSettings([str(mock), str(mock)], model="omnivec/fake", max_length=8, use_cache=False,
                     cache_dir=tmp_path / "cache")
    )  # fmt: skip
    first, second = (r.truncation() for r in run.results)
    assert first == second and first is not None and first["documents"] == 2


# --- item 4: bm25s is quiet without -v ------------------------------------------------------------------
def test_bm25_prints_no_debug_lines_or_progress_bars(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    import bm25s  # noqa: F401  (its import pins its logger at DEBUG)

    from omnivec.evaluate.retrievers import BM25Retriever, Request

    root = logging.getLogger()
    handler = logging.StreamHandler()  # what `setup_runtime` installs without -v
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        capfd.readouterr()
        run = BM25Retriever(progress=True).retrieve(load_beir(fx.beir_folder(tmp_path / "mock")),
                                                     Request("text", None, 10))  # fmt: skip
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    err = capfd.readouterr().err
    assert run["q1"] and "Building index" not in err and "Split strings" not in err and "%|" not in err, err
    assert logging.getLogger("bm25s").level == logging.DEBUG  # restored: nothing global changed


# --- item 5: judged documents missing from the corpus ---------------------------------------------------
def test_judged_documents_missing_from_the_corpus_are_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mock = fx.beir_folder(tmp_path / "mock")
    qrels = dict(fx.QRELS, q1={"d1": 1, "gone1": 1}, q2={"d2": 1, "gone2": 1, "gone3": 1, "gone4": 1})
    fx.write_qrels_tsv(mock / "qrels" / "test.tsv", qrels)
    with caplog.at_level(logging.WARNING, logger="omnivec.evaluate.data"):
        load_beir(mock)
    msgs = [r.getMessage() for r in caplog.records if "not in the corpus" in r.getMessage()]
    assert len(msgs) == 1 and msgs[0].startswith("4 judged documents") and "'gone1'" in msgs[0], msgs
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="omnivec.evaluate.data"):
        load_beir(fx.beir_folder(tmp_path / "clean"))
    assert not [r for r in caplog.records if "not in the corpus" in r.getMessage()]
