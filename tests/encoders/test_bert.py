"""BERT-style family: parity with sentence-transformers, pooling from checkpoint files, invariants."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.encoders.registry import load_encoder
from omnivec.errors import InputError, ModelUnavailableError
from tests.encoders.contract import check_contract
from tests.encoders.references import bert_reference

CODE = [
    "def add(a, b): return a + b",
    "class Stack: def push(self, x): self.items.append(x)",
    "SELECT name FROM users WHERE id = 1;",
    "print('hello world')",
    "x",
]


def test_minilm_matches_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(minilm.path), device="cpu")
    texts = [*CODE, "word " * 400]  # the last one is truncated by both at 256 tokens
    ours = minilm.encode(texts)
    ref = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    np.testing.assert_allclose(ours, ref, atol=1e-5)


def test_minilm_contract(minilm):
    check_contract(minilm, CODE)


@pytest.mark.parametrize("pooling", ["cls", "mean"])
def test_tiny_bert_pooling_follows_checkpoint(tmp_path, pooling):
    from tests.tiny.bert import build_tiny_bert

    path = build_tiny_bert(tmp_path, pooling=pooling)
    enc = load_encoder(str(path))
    assert enc.spec.pooling == pooling
    check_contract(enc, CODE, reference=bert_reference(path, pooling))


def test_folder_without_pooling_is_refused(tmp_path):
    from tests.tiny.bert import build_tiny_bert

    path = build_tiny_bert(tmp_path, with_st_files=False)
    with pytest.raises(ModelUnavailableError, match="pooling"):
        load_encoder(str(path))
    # a registered recipe supplies it
    enc = load_encoder(str(path), recipe="BAAI/bge-small-en-v1.5")
    assert enc.spec.pooling == "cls"


def test_truncation_is_reported(tiny_bert):
    enc = load_encoder(str(tiny_bert))
    res = enc.embed(["short", "word " * 500, "also short"])
    assert res.truncated == [1]
    assert enc.spec.max_length == 64  # from sentence_bert_config.json


def test_bge_query_instruction_is_rendered(tiny_bert):
    enc = load_encoder(str(tiny_bert), recipe="BAAI/bge-small-en-v1.5")
    spec = enc.spec
    instr = spec.resolve_instruction("query", None)
    assert spec.render("what is x", "query", instr) == (
        "Represent this sentence for searching relevant passages: what is x"
    )
    assert spec.render("what is x", "document", None) == "what is x"
    q = enc.encode(["what is x"], role="query")
    d = enc.encode(["what is x"], role="document")
    assert not np.allclose(q, d)


def test_minilm_refuses_an_instruction(minilm):
    with pytest.raises(InputError, match="no instruction slot"):
        minilm.encode(["q"], role="query", instruction="Given a query")


def test_huge_input_is_truncated_and_reported(minilm):
    res = minilm.embed(["word " * 200_000])  # 1 MB of text
    assert res.truncated == [0]
    assert res.vectors.shape == (1, 384)


def test_explicit_max_length_is_honoured_up_to_the_position_table(tiny_bert):
    # the checkpoint's sentence_bert_config says 64: an explicit length wins, positions cap it
    assert load_encoder(str(tiny_bert), max_length=100).spec.max_length == 100
    assert load_encoder(str(tiny_bert), max_length=1000).spec.max_length == 128
    assert load_encoder(str(tiny_bert)).spec.max_length == 64


def test_token_counts_are_what_preprocess_counts(minilm, tiny_bert):
    from omnivec.types import as_items

    texts = ["x", "def add(a, b): return a + b", "über straße " * 40, "word " * 600, "日本語のテキスト"]
    for enc in (minilm, load_encoder(str(tiny_bert), recipe="BAAI/bge-small-en-v1.5")):
        for role in ("document", "query"):
            instruction = enc.spec.resolve_instruction(role, None)
            prepared = enc.preprocess(as_items(texts), role, instruction)
            assert enc.token_counts(texts, role) == [p.original_cost or p.cost for p in prepared]
    minilm.embed(["word " * 600])  # the wrapper truncates at 256 here; counts stay whole after it
    assert minilm.token_counts(["word " * 600])[0] == 602
