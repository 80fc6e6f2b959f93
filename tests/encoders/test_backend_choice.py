"""The default backend `auto` and torch stores' queries on a cached fp32 export (`backend_choice`).

Every test exports the tiny random BERT only (about a second), into a cache of its own.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from omnivec.config import default_backend
from omnivec.encoders import backend_choice, onnx_runtime
from omnivec.encoders._hf import read_config
from omnivec.encoders.bert import BertEncoder
from omnivec.encoders.onnx_cold import ColdTokenizer
from omnivec.encoders.registry import load_encoder, spec_for_folder
from omnivec.errors import InputError
from tests.encoders.inputs import CODE

pytest.importorskip("onnxruntime")

LOGGER = "omnivec.encoders.backend_choice"
FILES = {
    "config.py": "def parse_config(path):\n    return dict(line.split('=') for line in open(path))\n",
    "retry.py": "def retry(fn, attempts=5):\n    for _ in range(attempts):\n        fn()\n",
    "sort.py": "def sort_by_key(rows, key):\n    return sorted(rows, key=lambda r: r[key])\n",
    "http.py": "def fetch_json(url):\n    import json, urllib.request\n    return json.load(urllib.request.urlopen(url))\n",
}


def folder_spec(path: Path):
    """The spec `load_encoder` gives a checkpoint folder."""
    return replace(spec_for_folder(path, read_config(path)), name=str(path), bundle=None, dim=None)


def make_repo(root: Path) -> Path:
    root.mkdir()
    for name, text in FILES.items():
        (root / name).write_text(text)
    return root


def test_auto_is_the_default_and_a_named_backend_still_wins(tiny_bert, cold_cache, monkeypatch):
    monkeypatch.delenv("OMNIVEC_BACKEND")
    assert default_backend() == "auto"
    assert "backend" not in load_encoder(str(tiny_bert), backend="torch").spec.options
    monkeypatch.setenv("OMNIVEC_BACKEND", "torch")
    assert "backend" not in load_encoder(str(tiny_bert)).spec.options
    with pytest.raises(InputError, match="auto or torch or onnx or onnx-int8"):
        load_encoder(str(tiny_bert), backend="fastest")


def test_auto_picks_fp32_onnx_for_a_bert_model_and_says_why(tiny_bert, cold_cache, monkeypatch, caplog):
    monkeypatch.setenv("OMNIVEC_BACKEND", "auto")
    with caplog.at_level("INFO", logger=LOGGER):
        enc = load_encoder(str(tiny_bert))
    assert enc.spec.options["backend"] == "onnx" and enc.backend_check.compatible
    assert "backend auto -> onnx" in caplog.text and "exported and probed now" in caplog.text
    torch_enc = load_encoder(str(tiny_bert), backend="torch")
    np.testing.assert_allclose(enc.encode(CODE), torch_enc.encode(CODE), atol=onnx_runtime.COMPATIBLE_ATOL)
    caplog.clear()
    with caplog.at_level("INFO", logger=LOGGER):
        again = load_encoder(str(tiny_bert))  # decided from the cached probe, loaded cold
    assert "(cached export)" in caplog.text and isinstance(again.tokenizer, ColdTokenizer)
    assert again.fingerprint == enc.fingerprint


def test_auto_runs_torch_when_onnxruntime_is_missing(tiny_bert, cold_cache, caplog):
    with caplog.at_level("INFO", logger=LOGGER):
        enc = backend_choice.load_auto(BertEncoder, folder_spec(tiny_bert), tiny_bert, {},
                                       missing=lambda: "onnxruntime")  # fmt: skip
    assert "backend" not in enc.spec.options and enc.runtime is None
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "backend auto -> torch" in caplog.text and "'onnxruntime' is not installed" in caplog.text
    assert not (cold_cache / "onnx").exists()  # nothing was exported
    assert enc.encode(CODE).shape == (len(CODE), 32)


def test_auto_runs_torch_where_a_cuda_gpu_is_visible(tiny_bert, cold_cache, monkeypatch, caplog):
    monkeypatch.setattr(backend_choice, "cuda_visible", lambda: True)
    with caplog.at_level("INFO", logger=LOGGER):
        enc = backend_choice.load_auto(BertEncoder, folder_spec(tiny_bert), tiny_bert, {})
    assert "backend" not in enc.spec.options and enc.runtime is None
    assert "backend auto -> torch: a CUDA GPU is visible" in caplog.text
    assert not (cold_cache / "onnx").exists()  # nothing was exported
    on_cpu = backend_choice.load_auto(BertEncoder, folder_spec(tiny_bert), tiny_bert, {"device": "cpu"})
    assert on_cpu.spec.options["backend"] == "onnx"  # a named CPU keeps ONNX


def test_cuda_visible_needs_the_nvidia_driver_and_visible_devices(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(backend_choice, "NVIDIA_DRIVER", str(tmp_path / "absent"))
    assert backend_choice.cuda_visible() is False
    driver = tmp_path / "version"
    driver.write_text("NVRM version: test\n")
    monkeypatch.setattr(backend_choice, "NVIDIA_DRIVER", str(driver))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert backend_choice.cuda_visible() is False
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert backend_choice.cuda_visible() is torch.cuda.is_available()


def test_a_failing_export_falls_back_to_torch_and_the_store_records_torch(
    tiny_bert, cold_cache, tmp_path, monkeypatch, caplog
):
    from omnivec.api import Index

    def broken(*args, **kw):
        raise RuntimeError("the exporter broke")

    monkeypatch.setattr(onnx_runtime, "build_export", broken)
    monkeypatch.setenv("OMNIVEC_BACKEND", "auto")
    kw = dict(text_model=str(tiny_bert), image_model=None, screenshot_model=None)
    repo = make_repo(tmp_path / "repo")
    with caplog.at_level("WARNING", logger=LOGGER), Index.create(repo, tmp_path / "s", **kw) as idx:
        assert idx.update().indexed == len(FILES)
        stored = {c.name: c.recipe for c in idx.store.collections()}
    assert "backend auto -> torch" in caplog.text and "the exporter broke" in caplog.text
    assert "backend" not in (stored["text"].get("options") or {})


def test_a_store_built_on_auto_records_onnx_and_is_searched_on_it(
    tiny_bert, cold_cache, tmp_path, monkeypatch
):
    from omnivec.api import Index

    monkeypatch.setenv("OMNIVEC_BACKEND", "auto")
    kw = dict(text_model=str(tiny_bert), image_model=None, screenshot_model=None)
    with Index.create(make_repo(tmp_path / "repo"), tmp_path / "s", **kw) as idx:
        idx.update()
        stored = {c.name: c.recipe for c in idx.store.collections()}
    assert stored["text"]["options"]["backend"] == "onnx"
    monkeypatch.setenv("OMNIVEC_BACKEND", "torch")  # the store's backend, whatever the default says
    with Index.open(tmp_path / "s") as idx:
        enc = idx.encoder("text")
        assert enc.spec.options["backend"] == "onnx" and isinstance(enc.tokenizer, ColdTokenizer)
        assert idx.search("parse config", k=1)


def test_a_torch_store_is_queried_on_a_cached_fp32_export_with_the_same_hits(
    tiny_bert, cold_cache, tmp_path, caplog
):
    from omnivec.api import Index

    kw = dict(text_model=str(tiny_bert), image_model=None, screenshot_model=None)
    with Index.create(make_repo(tmp_path / "repo"), tmp_path / "s", **kw) as idx:  # torch (conftest)
        idx.update()
    queries = ["parse a config file", "retry with backoff", "sort rows by a key", "download json"]

    def hits() -> tuple[list[list[str]], list[list[float]], object]:
        with Index.open(tmp_path / "s") as idx:
            found = [idx.search(q, k=3, mode="dense") for q in queries]
            return (
                [[h.path for h in hs] for hs in found],
                [[h.score for h in hs] for hs in found],
                idx.encoder("text"),
            )

    with caplog.at_level("INFO", logger=LOGGER):
        paths, scores, enc = hits()  # no export cached: torch, and a search never exports
    assert "backend" not in enc.spec.options and "no cached fp32 ONNX export" in caplog.text
    assert not (cold_cache / "onnx").exists()
    load_encoder(str(tiny_bert), backend="onnx").encode(["build the export"])
    cold_paths, cold_scores, cold = hits()
    assert cold.spec.options["backend"] == "onnx" and isinstance(cold.tokenizer, ColdTokenizer)
    assert cold_paths == paths
    np.testing.assert_allclose(cold_scores, scores, atol=1e-4)
    with Index.open(tmp_path / "s", writer=True) as idx:  # a writer keeps the store's runtime
        assert "backend" not in idx.encoder("text").spec.options


def test_a_page_collection_over_a_torch_text_model_takes_its_fp32_twin(tiny_bert, cold_cache):
    from omnivec.encoders.ocr import OcrEncoder
    from omnivec.encoders.registry import get_spec
    from omnivec.ocr import OcrSettings

    spec = get_spec("omnivec/tesseract-minilm")

    def pages(text):  # the composite's fingerprint holds its text model's
        return OcrEncoder(OcrEncoder.in_text_space(spec, text), text, OcrSettings(), None, 1)

    built = pages(load_encoder(str(tiny_bert), backend="torch"))
    queried = pages(load_encoder(str(tiny_bert), backend="onnx"))
    assert queried.identities()[0] != built.identities()[0]
    assert built.identities()[0] in queried.identities()
    assert pages(load_encoder(str(tiny_bert), backend="onnx-int8")).identities()[1:] == []
