"""The cold path of the ONNX backends (`onnx_cold`): equal ids, vectors and recipe, no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from omnivec.encoders import onnx_cold
from omnivec.encoders.bert import BertEncoder
from omnivec.encoders.registry import load_encoder
from omnivec.types import Item
from tests.encoders.inputs import CODE

pytest.importorskip("onnxruntime")

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = [
    *CODE,
    "",
    "   ",
    "naïve café — Ünïcödé 日本語のテキスト 🚀 emoji, Ελληνικά, العربية",
    "word " * 400,  # truncated by both paths
    "parse_config(path: str) -> dict[str, Any]  # CamelCaseName snake_case_name",
]
ITEMS = [Item(text=t) for t in TEXTS]  # preprocess sees empty texts too (`encode` refuses them)
ENCODABLE = [t for t in TEXTS if t.strip()]


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("OMNIVEC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def warm_and_cold(
    name: str, backend: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[BertEncoder, BertEncoder]:
    """transformers' path (building or reusing the export), then the cold path over its cache."""
    with monkeypatch.context() as mp:
        mp.setattr(BertEncoder, "load_cold", classmethod(lambda cls, *a: None))
        warm = load_encoder(name, backend=backend)
        warm.encode(["build the export"])
    cold = load_encoder(name, backend=backend)
    assert isinstance(warm, BertEncoder) and isinstance(cold, BertEncoder)
    assert not isinstance(warm.tokenizer, onnx_cold.ColdTokenizer)
    assert isinstance(cold.tokenizer, onnx_cold.ColdTokenizer)
    return warm, cold


def assert_same(warm: BertEncoder, cold: BertEncoder, atol: float = 1e-6) -> None:
    assert cold.spec == warm.spec and cold.fingerprint == warm.fingerprint
    assert cold.identities() == warm.identities()
    assert cold.explicit_positions == warm.explicit_positions and cold.dim == warm.dim
    for role in ("document", "query"):
        a = warm.preprocess(ITEMS, role, None)
        b = cold.preprocess(ITEMS, role, None)
        assert [(p.data, p.cost, p.truncated, p.original_cost) for p in a] == [
            (p.data, p.cost, p.truncated, p.original_cost) for p in b
        ]
        assert cold.token_counts(TEXTS, role) == warm.token_counts(TEXTS, role)
        vectors = cold.encode(ENCODABLE, role=role), warm.encode(ENCODABLE, role=role)
        np.testing.assert_allclose(*vectors, atol=atol)
    assert any(p.truncated for p in warm.preprocess(ITEMS, "document", None))
    assert len(cold.tokenizer) == len(warm.tokenizer)
    ids = warm.preprocess(ITEMS[7:8], "document", None)[0].data
    assert cold.tokenizer.decode(ids, skip_special_tokens=True) == warm.tokenizer.decode(
        ids, skip_special_tokens=True
    )


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_tiny_bert_cold_equals_the_transformers_path(tiny_bert, fresh_cache, monkeypatch, backend):
    assert_same(*warm_and_cold(str(tiny_bert), backend, monkeypatch))


@pytest.mark.parametrize("backend", ["onnx", "onnx-int8"])
def test_minilm_cold_equals_the_transformers_path(monkeypatch, backend):
    # the session cache: the exports test_onnx built (or this builds) once per session
    assert_same(*warm_and_cold(MINILM, backend, monkeypatch))


def test_cold_position_table_agrees_with_transformers(tiny_bert):
    enc = load_encoder(str(tiny_bert))
    assert onnx_cold.COLD_POSITIONS[enc.config.model_type] == enc.explicit_positions


def test_no_saved_tokenizer_or_no_export_loads_the_usual_way(tiny_bert, fresh_cache, monkeypatch):
    warm, _ = warm_and_cold(str(tiny_bert), "onnx-int8", monkeypatch)
    onnx_cold.tokenizer_file(warm.weights_id).unlink()
    again = load_encoder(str(tiny_bert), backend="onnx-int8")
    assert not isinstance(again.tokenizer, onnx_cold.ColdTokenizer)  # and it saved it again
    assert onnx_cold.tokenizer_file(warm.weights_id).is_file()
    for manifest in fresh_cache.glob("*.json"):  # no cached export: the first use builds it
        manifest.unlink()
    assert not isinstance(
        load_encoder(str(tiny_bert), backend="onnx-int8").tokenizer, onnx_cold.ColdTokenizer
    )


def test_damaged_saved_tokenizer_is_ignored_and_replaced(tiny_bert, fresh_cache, monkeypatch):
    warm, _ = warm_and_cold(str(tiny_bert), "onnx", monkeypatch)
    onnx_cold.tokenizer_file(warm.weights_id).write_text(json.dumps({"tokenizer": "not json"}))
    enc = load_encoder(str(tiny_bert), backend="onnx")
    assert not isinstance(enc.tokenizer, onnx_cold.ColdTokenizer)
    np.testing.assert_allclose(enc.encode(CODE), warm.encode(CODE), atol=1e-6)
    assert isinstance(load_encoder(str(tiny_bert), backend="onnx").tokenizer, onnx_cold.ColdTokenizer)


def test_export_removed_after_a_cold_load_is_rebuilt_with_transformers(tiny_bert, fresh_cache, monkeypatch):
    warm, cold = warm_and_cold(str(tiny_bert), "onnx", monkeypatch)
    for manifest in fresh_cache.glob("*.json"):
        manifest.unlink()
    np.testing.assert_allclose(cold.encode(ENCODABLE), warm.encode(ENCODABLE), atol=1e-6)
    assert cold.backend_check.exported
    assert not isinstance(cold.tokenizer, onnx_cold.ColdTokenizer)  # torch ran the probe


def test_a_cold_query_imports_neither_torch_nor_transformers(tiny_bert, fresh_cache, monkeypatch):
    warm_and_cold(str(tiny_bert), "onnx-int8", monkeypatch)
    code = (
        "import sys\n"
        "from omnivec.encoders.registry import load_encoder\n"
        f"enc = load_encoder({str(tiny_bert)!r}, backend='onnx-int8')\n"
        "enc.encode(['parse a config file'], role='query')\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=os.environ.copy(), capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr
