"""Decoder family (BGE-Code-v1 recipe) on tiny random Qwen2 checkpoints: prompts, end token, pooling."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from omnivec.encoders.decoder import CODE_INSTRUCTIONS, COIR_INSTRUCTIONS
from omnivec.encoders.registry import get_spec, load_encoder
from omnivec.errors import InputError, ModelUnavailableError
from tests.encoders.contract import check_contract
from tests.encoders.inputs import CODE
from tests.encoders.references import last_token_reference

QUERIES = ["binary search in a sorted array", "add two numbers", "q"]
RECIPE = "BAAI/bge-code-v1"


@pytest.fixture(scope="module")
def eos_model(tmp_path_factory):
    from tests.tiny.qwen2 import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("qwen2-eos"), append_eos=True)


@pytest.fixture(scope="module")
def plain_model(tmp_path_factory):
    from tests.tiny.qwen2 import build_tiny_qwen2

    return build_tiny_qwen2(tmp_path_factory.mktemp("qwen2-plain"), append_eos=False, seed=1)


@pytest.fixture(scope="module")
def enc(eos_model):
    return load_encoder(str(eos_model), recipe=RECIPE)


@pytest.fixture(scope="module")
def reference(eos_model):
    return last_token_reference(eos_model)


def enc_items(texts):
    from omnivec.types import as_items

    return as_items(texts)


# --- prompts ---------------------------------------------------------------------------------
def test_query_prompt_is_exact():
    spec = get_spec(RECIPE)
    instr = "Given a web search query, retrieve relevant code that can help answer the query."
    assert spec.render("sort a list", "query", instr) == f"<instruct>{instr}\n<query>sort a list"
    assert spec.render("def f(): pass", "document", None) == "def f(): pass"
    # no instruction slot filled -> the text alone (FlagEmbedding does the same without one)
    assert spec.render("sort a list", "query", "") == "sort a list"


def test_default_instruction_is_text_to_code(enc):
    assert enc.spec.resolve_instruction("query", None) == CODE_INSTRUCTIONS["text2code"]
    ids = enc.preprocess(enc_items(["sort a list"]), "query", CODE_INSTRUCTIONS["text2code"])[0].data
    expected = enc.tokenizer(f"<instruct>{CODE_INSTRUCTIONS['text2code']}\n<query>sort a list")["input_ids"]
    assert ids == expected
    np.testing.assert_allclose(
        enc.encode(["sort a list"], role="query"),
        enc.encode(["sort a list"], role="query", task="text2code"),
    )


def test_qwen3_embedding_template():
    spec = get_spec("Qwen/Qwen3-Embedding-0.6B")
    assert spec.render("capital of China?", "query", "Find passages") == (
        "Instruct: Find passages\nQuery:capital of China?"
    )
    assert spec.render("Beijing.", "document", None) == "Beijing."
    assert (spec.family, spec.pooling, spec.dim) == ("decoder", "last", 1024)


# --- presets ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("task", "start"),
    [
        ("coir:apps", "Given a code contest problem"),
        ("coir:cosqa", "Given a web search query, retrieve relevant code"),
        ("coir:synthetic-text2sql", "Given a question in text, retrieve SQL"),
        ("coir:codesearchnet-python", "Given a piece of code, retrieve the document string"),
        ("coir:codesearchnet-ccr-python", "Given a piece of code segment, retrieve the code segment"),
        ("coir:codesearchnet-ccr", "Given a piece of code segment"),
        ("coir:codesearchnet", "Given a piece of code, retrieve the document string"),
        ("coir:codetrans-dl", "Given a piece of code, retrieve code that is semantically"),
        ("coir:codetrans-contest", "Given a piece of Python code, retrieve C++ code"),
        ("coir:stackoverflow-qa", "Given a question that consists of a mix"),
        ("coir:codefeedback-st", "Given a question that consists of a mix"),
        ("coir:codefeedback-mt", "Given a multi-turn conversation history"),
        ("error2code", "Given an error message"),
    ],
)
def test_presets(task, start):
    assert get_spec(RECIPE).instruction_for(task).startswith(start)


def test_ccr_patterns_come_before_plain_codesearchnet():
    keys = list(COIR_INSTRUCTIONS)
    assert keys.index("coir:codesearchnet-ccr-*") < keys.index("coir:codesearchnet-*")


def test_unknown_preset_lists_known_ones(enc):
    with pytest.raises(InputError, match=r"task preset 'coir:nope'.*coir:cosqa"):
        enc.encode(["x"], role="query", task="coir:nope")


def test_cross_language_preset_must_be_filled_in(enc):
    with pytest.raises(InputError, match="unfilled placeholders"):
        enc.encode(["def f(): pass"], role="query", task="code2code-cross")
    filled = (
        get_spec(RECIPE)
        .instructions["code2code-cross"]
        .format(src_code_language="Python", tgt_code_language="C++")
    )
    assert filled == COIR_INSTRUCTIONS["coir:codetrans-contest"]
    assert enc.encode(["def f(): pass"], role="query", instruction=filled).shape == (1, 32)


def test_task_equals_its_instruction(enc):
    a = enc.encode(QUERIES, role="query", task="coir:cosqa")
    b = enc.encode(QUERIES, role="query", instruction=COIR_INSTRUCTIONS["coir:cosqa"])
    np.testing.assert_array_equal(a, b)


# --- contract and reference ------------------------------------------------------------------
def test_documents_contract_and_reference(enc, reference):
    assert enc.spec.options["end_token_source"] == "tokenizer"
    check_contract(enc, CODE, reference=reference)


def test_queries_contract_and_reference(enc, reference):
    instr = COIR_INSTRUCTIONS["coir:cosqa"]
    check_contract(
        enc, QUERIES, role="query", task="coir:cosqa",
        reference=lambda q: reference(f"<instruct>{instr}\n<query>{q}"),
    )  # fmt: skip


def test_left_and_right_padding_agree_in_mixed_batches(enc):
    texts = [CODE[3], "x", CODE[1], "y" * 3]
    left = enc.encode(texts, padding_side="left")
    right = enc.encode(texts, padding_side="right")
    np.testing.assert_allclose(left, right, atol=1e-5)
    assert enc.spec.padding_side == "left"


def test_output_is_float32_and_dimension_from_folder(enc):
    assert enc.dim == 32  # the recipe's 1536 is a fact about the official weights, not this folder
    assert enc.spec.max_length == 2048 and enc.spec.pooling == "last"


# --- end token ---------------------------------------------------------------------------------
def test_eos_recorded_when_the_tokenizer_appends_it(enc):
    opts = enc.spec.options
    assert opts["appends_eos"] is True and opts["end_token_source"] == "tokenizer"
    assert enc.spec.recipe()["options"]["appends_eos"] is True  # lands in index metadata
    ids = enc.preprocess(enc_items(["def f(): pass"]), "document", None)[0].data
    assert ids[-1] == enc.tokenizer.eos_token_id
    assert ids.count(enc.tokenizer.eos_token_id) == 1  # not doubled


def test_eos_appended_explicitly_and_loudly_when_the_tokenizer_does_not(plain_model, caplog):
    from transformers import AutoTokenizer

    with caplog.at_level(logging.WARNING, logger="omnivec.encoders.decoder"):
        enc = load_encoder(str(plain_model), recipe=RECIPE)
    assert "appends no end token" in caplog.text
    opts = enc.spec.options
    assert opts["appends_eos"] is False and opts["end_token_source"] == "omnivec"
    tok = AutoTokenizer.from_pretrained(plain_model)
    assert tok("x")["input_ids"][-1] != tok.eos_token_id
    check_contract(enc, CODE, reference=last_token_reference(plain_model, (tok.eos_token_id,)))


def test_truncation_is_reported_and_keeps_the_end_token(eos_model, plain_model):
    for path in (eos_model, plain_model):
        enc = load_encoder(str(path), recipe=RECIPE, max_length=16)
        res = enc.embed(["short", "word " * 300, "also short"])
        assert res.truncated == [1]
        ids = enc.preprocess(enc_items(["word " * 300]), "document", None)[0].data
        assert len(ids) == 16 and ids[-1] == enc.tokenizer.eos_token_id


def test_folder_without_recipe_follows_its_files(eos_model, tmp_path, caplog):
    from tests.tiny.qwen2 import build_tiny_qwen2

    with pytest.raises(ModelUnavailableError, match="--recipe"):
        load_encoder(str(eos_model))  # no sentence-transformers pooling: never guessed
    path = build_tiny_qwen2(tmp_path / "st", append_eos=False, st_pooling="lasttoken")
    with caplog.at_level(logging.WARNING, logger="omnivec.encoders.decoder"):
        enc = load_encoder(str(path))
    assert not caplog.text  # no expectation declared: the tokenizer decides, nothing appended
    assert (enc.spec.family, enc.spec.pooling, enc.spec.max_length) == ("decoder", "last", 64)
    assert enc.spec.options == {"appends_eos": False, "end_token_source": "none"}
    assert enc.encode(["x"], role="query").shape == (1, 32)
    with pytest.raises(InputError, match="no instruction slot"):
        enc.encode(["x"], role="query", instruction="Find code")


def test_a_different_appended_token_is_refused(tmp_path):
    from tests.tiny.qwen2 import build_tiny_qwen2

    # appends <|im_end|>, while the Qwen3-Embedding recipe expects <|endoftext|> (present in vocab)
    path = build_tiny_qwen2(tmp_path, eos="<|im_end|>", append_eos=True, extra=("<|endoftext|>",))
    with pytest.raises(ModelUnavailableError, match="appending '<\\|im_end\\|>'"):
        load_encoder(str(path), recipe="Qwen/Qwen3-Embedding-0.6B")


def test_missing_expected_token_is_refused(tmp_path):
    from tests.tiny.qwen2 import build_tiny_qwen2

    path = build_tiny_qwen2(tmp_path, eos="<|im_end|>", append_eos=False)  # no <|endoftext|> at all
    with pytest.raises(ModelUnavailableError, match="without the end token '<\\|endoftext\\|>'"):
        load_encoder(str(path), recipe="Qwen/Qwen3-Embedding-0.6B")


def test_checkpoint_code_is_named_never_run(eos_model, tmp_path, caplog):
    import json
    import shutil

    path = shutil.copytree(eos_model, tmp_path / "custom")
    for name, key in (("config.json", "AutoModel"), ("tokenizer_config.json", "AutoTokenizer")):
        cfg = json.loads((path / name).read_text())
        cfg["auto_map"] = {key: f"does_not_exist.{key}Custom"}  # would fail if it were imported
        (path / name).write_text(json.dumps(cfg))
    with caplog.at_level(logging.WARNING, logger="omnivec.encoders.decoder"):
        enc = load_encoder(str(path), recipe=RECIPE)
    assert "custom code for AutoModel, AutoTokenizer" in caplog.text
    np.testing.assert_allclose(
        enc.encode(CODE[:2]), load_encoder(str(eos_model), recipe=RECIPE).encode(CODE[:2])
    )
