"""The ONNX Runtime backends (`onnx`, `onnx-int8`) of the BERT and decoder families.

Numbers asserted here (measured, see docs/benchmarks.md): fp32 ONNX matches torch within 1e-4
(max abs diff of normalised vectors; about 1e-7 on the tiny model, 1e-6 on MiniLM). int8 on
MiniLM (five sensitive products kept in fp32): every one of 2,000 dev documents at cosine >= 0.993
to torch; the one-token "x" is the worst input at 0.988, so the per-vector floor asserted on these
short texts is 0.985. int8 graphs quantise activations per tensor, so the runtime runs int8 items
one by one, unpadded: their vectors are then exactly batch-independent, and the contract's batch
checks run at its default tolerance, the reference (torch) at `INT8_ATOL`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from omnivec.encoders import onnx_cache, onnx_export, onnx_runtime
from omnivec.encoders.registry import load_encoder
from omnivec.errors import InputError, MissingExtraError, RecipeMismatchError
from omnivec.stores import LocalStore, check_query_any
from tests.encoders.contract import check_contract
from tests.encoders.inputs import CODE
from tests.encoders.references import bert_reference, last_token_reference

pytest.importorskip("onnxruntime")

FP32_ATOL = 1e-4
INT8_COSINE = 0.99  # mean over the texts; and the tiny random model meets it per vector
INT8_MIN_COSINE = 0.985  # per vector on MiniLM's short texts ("x": 0.988, see above)
INT8_ATOL = 3e-2  # per component against the torch reference (normalised vectors)


@pytest.fixture
def fresh_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty export cache, and a count of the exports built into it."""
    monkeypatch.setenv("OMNIVEC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


@pytest.fixture
def count_exports(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = onnx_export.export_graph

    def counted(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(onnx_export, "export_graph", counted)
    return calls


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


# --- numbers against torch --------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_tiny_bert_onnx_matches_torch_and_passes_the_contract(tmp_path, pooling):
    from tests.tiny.bert import build_tiny_bert

    path = build_tiny_bert(tmp_path / pooling, pooling=pooling)
    torch_enc, enc = load_encoder(str(path)), load_encoder(str(path), backend="onnx")
    assert enc.backend_check.compatible and enc.backend_check.max_abs_diff <= FP32_ATOL
    np.testing.assert_allclose(enc.encode(CODE), torch_enc.encode(CODE), atol=FP32_ATOL)
    check_contract(enc, CODE, reference=bert_reference(path, pooling, enc.spec.max_length))


def test_tiny_bert_int8_is_close_to_torch_and_passes_the_contract(tiny_bert):
    torch_enc, enc = load_encoder(str(tiny_bert)), load_encoder(str(tiny_bert), backend="onnx-int8")
    assert not enc.backend_check.compatible
    assert cosines(enc.encode(CODE), torch_enc.encode(CODE)).min() >= INT8_COSINE
    check_contract(enc, CODE)  # batch-independent at 1e-5: int8 items run one by one
    check_contract(
        enc, CODE, reference=bert_reference(tiny_bert, "mean", enc.spec.max_length), atol=INT8_ATOL
    )


@pytest.fixture(scope="module")
def minilm_onnx():
    return load_encoder("sentence-transformers/all-MiniLM-L6-v2", backend="onnx")


@pytest.fixture(scope="module")
def minilm_int8():
    return load_encoder("sentence-transformers/all-MiniLM-L6-v2", backend="onnx-int8")


def test_minilm_onnx_matches_torch(minilm, minilm_onnx):
    texts = [*CODE, "word " * 400]  # the last one is truncated at 256 tokens by both
    diff = float(np.abs(minilm_onnx.encode(texts) - minilm.encode(texts)).max())
    assert diff <= FP32_ATOL, diff
    assert minilm_onnx.backend_check.compatible
    reference = bert_reference(minilm.path, "mean", minilm.spec.max_length)
    check_contract(minilm_onnx, CODE, reference=reference)


def test_minilm_int8_cosine_to_torch(minilm, minilm_int8):
    texts = [*CODE, "word " * 400, "Return the number of items in the cache.", "parse a config file"]
    cos = cosines(minilm_int8.encode(texts), minilm.encode(texts))
    assert cos.mean() >= INT8_COSINE and cos.min() >= INT8_MIN_COSINE, cos
    check_contract(minilm_int8, CODE)
    reference = bert_reference(minilm.path, "mean", minilm.spec.max_length)
    check_contract(minilm_int8, CODE, reference=reference, atol=INT8_ATOL)


def test_decoder_onnx_matches_the_last_token_reference(tmp_path):
    from tests.tiny.qwen2 import build_tiny_qwen2

    path = build_tiny_qwen2(tmp_path / "qwen2", append_eos=True)
    enc = load_encoder(str(path), recipe="BAAI/bge-code-v1", backend="onnx")
    assert enc.backend_check.compatible
    check_contract(enc, CODE[:4], reference=last_token_reference(path))
    # queries (instruction template, the recipe's left padding) go through it too
    check_contract(enc, CODE[:3], role="query")


# --- the export cache ----------------------------------------------------------------------------------
def test_second_load_reuses_the_export(tiny_bert, fresh_cache, count_exports):
    first = load_encoder(str(tiny_bert), backend="onnx")
    assert first.backend_check.exported  # the export is built on first use
    second = load_encoder(str(tiny_bert), backend="onnx")
    assert not second.backend_check.exported and len(count_exports) == 1
    assert first.backend_check.path == second.backend_check.path
    assert second.backend_check.path.is_relative_to(fresh_cache)
    load_encoder(str(tiny_bert), backend="onnx-int8").encode(CODE)  # another backend: another export
    assert len(count_exports) == 2


def test_the_exporters_warnings_stay_out_of_the_users_terminal(tiny_bert, fresh_cache, recwarn, caplog):
    with caplog.at_level("DEBUG", logger="omnivec.encoders.onnx_export"):
        load_encoder(str(tiny_bert), backend="onnx").encode(CODE)
    assert not [w for w in recwarn if "onnx" in w.filename or "jit" in w.filename], [
        str(w.message) for w in recwarn
    ]
    assert "ONNX export: TracerWarning" in caplog.text  # kept for -v


def test_load_is_lazy_and_a_cached_export_needs_no_torch_weights(tiny_bert, fresh_cache, count_exports):
    from omnivec.encoders._hf import TextModelEncoder

    weights: list[int] = []
    real = TextModelEncoder._load_weights

    def counted(self, path):
        weights.append(1)
        return real(self, path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TextModelEncoder, "_load_weights", counted)
        first = load_encoder(str(tiny_bert), backend="onnx-int8")
        # the recipe, dimension and token counts come without the weights or the export
        assert first.spec.options["backend"] == "onnx-int8" and first.dim > 0
        assert first.token_counts(CODE[:2]) and not weights and not count_exports
        expected = first.encode(CODE)
        assert weights == [1] and len(count_exports) == 1  # built: torch runs the probe
        second = load_encoder(str(tiny_bert), backend="onnx-int8")
        assert second.fingerprint == first.fingerprint
        np.testing.assert_array_equal(second.encode(CODE), expected)
        assert weights == [1] and len(count_exports) == 1  # reused: no torch weights at all
        assert second.backend_check.min_cosine == first.backend_check.min_cosine


@pytest.mark.parametrize("damage", ["flip-bytes", "truncate", "no-manifest", "bad-manifest"])
def test_damaged_export_is_rebuilt(tiny_bert, fresh_cache, count_exports, damage):
    good = load_encoder(str(tiny_bert), backend="onnx")
    model = good.backend_check.path
    manifest = model.parent.with_name(model.parent.name + ".json")
    expected = good.encode(CODE)
    if damage == "flip-bytes":  # same size, different content
        data = bytearray(model.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
        model.write_bytes(bytes(data))
    elif damage == "truncate":  # a half-written file
        model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    elif damage == "no-manifest":  # killed between moving the folder in and writing the manifest
        manifest.unlink()
    else:
        manifest.write_text("{not json")
    again = load_encoder(str(tiny_bert), backend="onnx")
    assert again.backend_check.exported and len(count_exports) == 2  # rebuilt on first use
    np.testing.assert_allclose(again.encode(CODE), expected, atol=1e-6)
    assert json.loads(manifest.read_text())["files"]["model.onnx"]["size"] == model.stat().st_size


def test_leftovers_of_a_killed_build_are_cleared(tiny_bert, fresh_cache):
    key = onnx_export.ExportKey("w", "bert", True, "onnx")
    fresh_cache.mkdir(parents=True)
    stale = fresh_cache / f".{key.name()}.abc123"
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"half")
    built = onnx_cache.store_export(fresh_cache, key.name(), _fake_model)
    assert not stale.exists() and built.read_bytes() == b"complete"
    assert onnx_cache.cached_export(fresh_cache, key.name()) == built


def _fake_model(out: Path) -> Path:
    (out / "model.onnx").write_bytes(b"complete")
    return out / "model.onnx"


# --- identity: fingerprints, recipes and stores ------------------------------------------------------
@pytest.fixture
def tiny_trio(tiny_bert):
    return {b: load_encoder(str(tiny_bert), backend=b) for b in ("torch", "onnx", "onnx-int8")}


def test_fingerprint_differs_between_backends(tiny_trio):
    prints = {b: e.fingerprint for b, e in tiny_trio.items()}
    assert len(set(prints.values())) == 3
    assert "backend" not in tiny_trio["torch"].spec.options  # torch stores and caches stay valid
    assert tiny_trio["onnx-int8"].spec.recipe()["options"]["backend"] == "onnx-int8"
    # the fp32 export declares torch's identity compatible; int8 never does
    assert tiny_trio["onnx"].identities()[1] == tiny_trio["torch"].identities()[0]
    assert tiny_trio["onnx-int8"].identities() == tiny_trio["onnx-int8"].identities()[:1]


def _store_of(tmp_path: Path, enc) -> LocalStore:
    store = LocalStore(tmp_path / "store", writer=True)
    store.ensure_collection(
        "code", model=enc.spec.name, fingerprint=enc.fingerprint, dim=enc.dim, recipe=enc.spec.recipe()
    )
    return store


def test_store_refuses_a_query_from_an_incompatible_backend(tmp_path, tiny_trio):
    store = _store_of(tmp_path, tiny_trio["torch"])
    int8, fp32 = tiny_trio["onnx-int8"], tiny_trio["onnx"]
    with pytest.raises(RecipeMismatchError, match=r"options\.backend .<unset>. vs .onnx-int8."):
        check_query_any(store, "code", int8.identities())
    # strictly, fp32 is another recipe too; it is accepted through the torch identity it proved
    with pytest.raises(RecipeMismatchError):
        store.check_query("code", fingerprint=fp32.fingerprint, recipe=fp32.spec.recipe())
    check_query_any(store, "code", fp32.identities())
    store.close()


def test_store_built_with_int8_refuses_torch_and_fp32_queries(tmp_path, tiny_trio):
    store = _store_of(tmp_path, tiny_trio["onnx-int8"])
    for backend in ("torch", "onnx"):
        with pytest.raises(RecipeMismatchError, match="backend"):
            check_query_any(store, "code", tiny_trio[backend].identities())
    check_query_any(store, "code", tiny_trio["onnx-int8"].identities())
    store.close()


def test_fp32_outside_the_tolerance_is_not_compatible(tmp_path, tiny_bert, monkeypatch):
    monkeypatch.setattr(onnx_runtime, "COMPATIBLE_ATOL", 0.0)
    enc = load_encoder(str(tiny_bert), backend="onnx")
    assert not enc.backend_check.compatible and enc.backend_check.max_abs_diff > 0
    store = _store_of(tmp_path, load_encoder(str(tiny_bert)))
    with pytest.raises(RecipeMismatchError):
        check_query_any(store, "code", enc.identities())
    store.close()


# --- options and errors -----------------------------------------------------------------------------------
def test_threads_come_from_the_option_or_the_torch_setting(tiny_bert, monkeypatch):
    def threads(**kw):
        enc = load_encoder(str(tiny_bert), backend="onnx", **kw)
        enc.ready()  # the session opens on first use
        return enc.runtime.threads

    assert threads(threads=1) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert threads() == 3


def test_backend_from_the_environment_applies_to_text_families_only(tiny_bert, monkeypatch):
    monkeypatch.setenv("OMNIVEC_BACKEND", "onnx")
    assert load_encoder(str(tiny_bert)).spec.options["backend"] == "onnx"
    assert load_encoder("omnivec/fake").spec.family == "fake"  # runs on its own, no error


def test_bad_backend_options_are_refused(tiny_bert):
    with pytest.raises(InputError, match="backend 'tensorrt'"):
        load_encoder(str(tiny_bert), backend="tensorrt")
    with pytest.raises(InputError, match="family fake"):
        load_encoder("omnivec/fake", backend="onnx")
    with pytest.raises(InputError, match="threads"):
        load_encoder(str(tiny_bert), threads=2)
    with pytest.raises(InputError, match="CPU"):
        load_encoder(str(tiny_bert), backend="onnx", device="cuda")


def test_missing_onnxruntime_names_the_extra(tiny_bert, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingExtraError, match=r"omnivec\[onnx\]"):
        load_encoder(str(tiny_bert), backend="onnx")


def test_an_index_built_on_onnx_is_searched_on_onnx(tiny_bert, tmp_path, monkeypatch):
    from omnivec.api import Index

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "a.py").write_text("def parse_config(path):\n    return open(path).read()\n")
    monkeypatch.setenv("OMNIVEC_BACKEND", "onnx")
    with Index.create(repo, tmp_path / "s", text_model=str(tiny_bert), image_model=None,
                      screenshot_model=None) as idx:  # fmt: skip
        assert idx.update().indexed == 1
    monkeypatch.delenv("OMNIVEC_BACKEND")
    with Index.open(tmp_path / "s") as idx:  # the stored recipe names the backend
        assert idx.encoder("text").spec.options.get("backend") == "onnx"
        assert idx.search("parse config", k=1, mode="dense")[0].path == "a.py"


def test_an_index_is_queried_on_the_backend_it_was_built_with(tmp_path, tiny_bert, cold_cache, monkeypatch):
    # a cache of its own: with an fp32 export cached, the torch store would be queried on it
    from omnivec.api import Index

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("def add(a, b):\n    return a + b\n")
    kw = dict(text_model=str(tiny_bert), image_model=None, screenshot_model=None)
    with Index.create(tmp_path / "src", tmp_path / "torch-store", **kw) as idx:
        idx.update()
    monkeypatch.setenv("OMNIVEC_BACKEND", "onnx-int8")  # the default now, not the store's runtime
    with Index.open(tmp_path / "torch-store") as idx:
        assert "backend" not in idx.encoder("text").spec.options
        assert idx.search("add two numbers", k=1)
    with Index.create(tmp_path / "src", tmp_path / "int8-store", **kw) as idx:
        idx.update()
    monkeypatch.delenv("OMNIVEC_BACKEND")
    with Index.open(tmp_path / "int8-store") as idx:
        assert idx.encoder("text").spec.options["backend"] == "onnx-int8"
        assert idx.search("add two numbers", k=1)


def test_first_queries_from_several_threads_all_run_on_the_backend(tiny_bert, fresh_cache):
    from concurrent.futures import ThreadPoolExecutor

    expected = load_encoder(str(tiny_bert), backend="onnx-int8").encode(CODE)
    enc = load_encoder(str(tiny_bert), backend="onnx-int8")  # nothing attached yet
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: enc.encode(CODE), range(4)))
    for got in results:  # a thread that ran torch while another attached would differ
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("own_sessions", [True, False])
def test_int8_rows_in_flight_give_the_bits_of_rows_run_alone(
    tiny_bert, fresh_cache, monkeypatch, own_sessions
):
    from concurrent.futures import ThreadPoolExecutor

    if not own_sessions:  # an export "too large" for a session per row: they share one
        monkeypatch.setattr(onnx_runtime, "OWN_SESSION_BYTES", 0)
    texts = [f"{text} # variant {i}" for i in range(4) for text in CODE]
    alone = load_encoder(str(tiny_bert), backend="onnx-int8", threads=1).encode(texts)
    enc = load_encoder(str(tiny_bert), backend="onnx-int8", threads=3)
    with ThreadPoolExecutor(4) as pool:  # several callers at once, each in its own order
        results = list(pool.map(lambda i: enc.encode(texts[i:] + texts[:i]), range(8)))
    for i, got in enumerate(results):
        np.testing.assert_array_equal(got, np.roll(alone, -i, axis=0))
    rows = enc.runtime.rows
    lent = [rows._take() for _ in range(3)]  # all three sessions out at once
    assert rows.shared is not own_sessions
    assert len({id(s) for s in lent}) == (3 if own_sessions else 1)
