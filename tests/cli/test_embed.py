"""`omnivec embed` and `omnivec models` end to end: real files in, vectors out, equal to the library's."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

import omnivec.cli.embed  # noqa: F401  (registers the commands on `app`)
from omnivec.cli.app import app
from omnivec.encoders.registry import load_encoder

RECIPE = "BAAI/bge-code-v1"
LINES = ["def add(a, b): return a + b", "binary search in a sorted array", "SELECT 1;"]


@pytest.fixture(scope="module")
def tiny_decoder(tmp_path_factory):
    from tests.tiny.qwen2 import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("cli-qwen2"))


@pytest.fixture(scope="module")
def decoder_enc(tiny_decoder):
    return load_encoder(str(tiny_decoder), recipe=RECIPE)


@pytest.fixture
def lines_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join([LINES[0], "", *LINES[1:]]) + "\n")
    return path


def invoke(*args: str, input: str | None = None):
    threads = ["--threads", "1"] if args[0] == "embed" else []
    result = CliRunner().invoke(app, [*args, *threads], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result


def test_default_model_writes_npy_and_ids(lines_file, tmp_path, minilm):
    out = tmp_path / "vecs.npy"
    result = invoke("embed", str(lines_file), "--out", str(out))
    vecs = np.load(out)
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, minilm.encode(LINES), atol=1e-6)
    # ids are line numbers of the input file: the blank line 2 is skipped, not renumbered
    assert json.loads((tmp_path / "vecs.ids.json").read_text()) == ["1", "3", "4"]
    assert "all-MiniLM-L6-v2 (dim 384)" in result.stderr
    assert "skipped 1 blank lines" in result.stderr


def test_instruction_newline_escape_reaches_the_prompt(tiny_decoder, decoder_enc, lines_file, tmp_path):
    out = tmp_path / "q.npy"
    # typed on a shell: a backslash and an n, which the CLI turns into a real newline
    invoke(
        "embed", str(lines_file), "--model", str(tiny_decoder), "--recipe", RECIPE,
        "--role", "query", "--instruction", "Find code\\n", "--out", str(out),
    )  # fmt: skip
    vecs = np.load(out)
    expected = decoder_enc.encode(LINES, role="query", instruction="Find code\n")
    np.testing.assert_allclose(vecs, expected, atol=1e-6)
    literal = decoder_enc.encode(LINES, role="query", instruction="Find code\\n")
    assert not np.allclose(vecs, literal, atol=1e-4)


def test_task_preset(tiny_decoder, decoder_enc, lines_file, tmp_path):
    out = tmp_path / "t.npy"
    invoke(
        "embed", str(lines_file), "--model", str(tiny_decoder), "--recipe", RECIPE,
        "--role", "query", "--task", "coir:cosqa", "--out", str(out),
    )  # fmt: skip
    np.testing.assert_allclose(
        np.load(out), decoder_enc.encode(LINES, role="query", task="coir:cosqa"), atol=1e-6
    )


def test_jsonl_input_keeps_ids(tiny_decoder, decoder_enc, tmp_path):
    src = tmp_path / "docs.jsonl"
    recs = [{"id": "a", "text": LINES[0]}, {"_id": "b", "text": LINES[2]}]
    src.write_text("\n".join(json.dumps(r) for r in recs))
    out = tmp_path / "d.npy"
    invoke("embed", str(src), "--model", str(tiny_decoder), "--recipe", RECIPE, "--out", str(out))
    assert json.loads((tmp_path / "d.ids.json").read_text()) == ["a", "b"]
    np.testing.assert_allclose(np.load(out), decoder_enc.encode([LINES[0], LINES[2]]), atol=1e-6)


def test_stdin_to_jsonl_stdout(tiny_decoder, decoder_enc):
    result = invoke(
        "embed", "-", "--model", str(tiny_decoder), "--recipe", RECIPE, input="\n".join(LINES) + "\n"
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    np.testing.assert_allclose(np.array([r["vector"] for r in rows]), decoder_enc.encode(LINES), atol=1e-6)


def test_truncation_count_is_printed(tiny_decoder, tmp_path):
    src = tmp_path / "long.txt"
    src.write_text("short\n" + "word " * 200 + "\nalso short\n")
    result = invoke(
        "embed", str(src), "--model", str(tiny_decoder), "--recipe", RECIPE,
        "--max-length", "8", "--out", str(tmp_path / "l.npy"),
    )  # fmt: skip
    assert "truncated to 8 tokens: 1 (ids 2)" in result.stderr


def test_unknown_model_exits_2_with_did_you_mean(lines_file):
    proc = subprocess.run(
        [sys.executable, "-c", "from omnivec.cli import main; main()", "embed", str(lines_file),
         "--model", "minlm", "--threads", "1"],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "did you mean 'minilm'" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_models_lists_decoder_recipes():
    rows = {r["name"]: r for r in json.loads(invoke("models", "--json").stdout)}
    code = rows["BAAI/bge-code-v1"]
    assert (code["family"], code["dim"], code["max_length"], code["license"]) == (
        "decoder", 1536, 2048, "Apache-2.0",
    )  # fmt: skip
    assert code["weights"] == "download" and "GPU" in code["hardware"]
    assert rows["Qwen/Qwen3-Embedding-0.6B"]["dim"] == 1024
    assert "BAAI/bge-code-v1" in invoke("models").stdout


def test_models_table_shows_full_names():
    # a name is what the user types next: it must never be cut (e.g. 'sentence-transformers/all-MiniLM…')
    assert "sentence-transformers/all-MiniLM-L6-v2" in invoke("models").stdout


def _embed_fails(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "omnivec", "embed", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    return proc.stderr


def test_option_errors_name_cli_flags_before_the_model_loads(lines_file):
    # an unknown model would fail too: the options are checked first, so no model is looked up
    no_model = ["--model", "no-such-model"]
    for args, says, fix in [
        (("--role", "banana"), "--role 'banana'; expected one of query, document", "pass --role query"),
        (("--instruction", "Find"), "--instruction with --role document", "add --role query"),
        (("--task", "coir:cosqa"), "--task with --role document", "add --role query"),
        (("--role", "query", "--task", "coir:cosqa", "--instruction", "x"), "both --instruction and --task",
         "pass only one of --instruction and --task"),
    ]:  # fmt: skip
        err = _embed_fails(str(lines_file), *no_model, *args)
        assert says in err and f"Fix: {fix}" in err, err
        assert "role=" not in err and "no-such-model" not in err, err


def test_out_dash_points_to_jsonl_on_stdout(lines_file, tmp_path):
    err = _embed_fails(str(lines_file), "--out", "-")
    assert "--out -;" in err and "omit --out to print JSONL" in err and "-.npy" not in err
    err = _embed_fails(str(lines_file), "--out", str(tmp_path / "v.json"))
    assert f"use --out {tmp_path / 'v.npy'}, or omit --out to print JSONL" in err
    assert list(tmp_path.iterdir()) == [lines_file]  # nothing written


def test_a_jsonl_line_with_empty_text_is_named_by_its_line(tmp_path):
    src = tmp_path / "docs.jsonl"
    src.write_text('{"id": "a", "text": "fine"}\n{"id": "b", "text": "  "}\n')
    err = _embed_fails(str(src))
    assert f"{src} line 2" in err and 'non-empty "text" string' in err, err
