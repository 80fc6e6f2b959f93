"""Which keyword engine a Milvus collection gets, and that it keeps it (docs/scaling.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stores.conftest import HAVE_MILVUS
from tests.stores.helpers import DIM, RECIPE, record, state

pytestmark = pytest.mark.skipif(not HAVE_MILVUS, reason="no milvus extra")


def _open(uri: str, collection: str = "code"):  # type: ignore[no-untyped-def]
    from omnivec.stores.milvus import MilvusStore

    s = MilvusStore(uri, writer=True)
    s.ensure_collection(collection, model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
    return s


def test_lite_defaults_to_the_exact_scan_without_a_warning(tmp_path: Path, caplog) -> None:
    """Lite's BM25 is per sealed segment, so `keyword=auto` there is omnivec's exact scan."""
    with caplog.at_level("WARNING", logger="omnivec.stores.milvus"):
        s = _open(f"milvus-lite://{tmp_path}/auto.db")
    try:
        s.replace_source("code", state("a.py", 1), [record("a.py", 0, text="parse_args here")])
        assert s.stats()["keyword"] == ["omnivec-scan"]
        assert s.stats()["collections"]["code"]["keyword"] == "omnivec-scan"
        assert [i for i, _ in s.keyword_search("code", "parse args", 5)] == ["a.py#0:v1"]
    finally:
        s.close()
    assert "per sealed segment" not in caplog.text


def test_a_collection_keeps_the_engine_it_was_made_with(tmp_path: Path) -> None:
    """A store made with Lite's BM25 (the default before) keeps it when opened with the default
    URI; only collections created from then on get the scan."""
    s = _open(f"milvus-lite://{tmp_path}/old.db?keyword=bm25")
    try:
        s.replace_source("code", state("a.py", 1), [record("a.py", 0, text="parse_args here")])
    finally:
        s.close()
    s = _open(f"milvus-lite://{tmp_path}/old.db")
    try:
        s.ensure_collection("docs", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
        colls = s.stats()["collections"]
        assert (colls["code"]["keyword"], colls["docs"]["keyword"]) == ("milvus-bm25", "omnivec-scan")
        assert s.stats()["keyword"] == ["milvus-bm25", "omnivec-scan"]
        assert [i for i, _ in s.keyword_search("code", "parse args", 5)] == ["a.py#0:v1"]
    finally:
        s.close()


def test_search_results_name_the_engines_of_the_collections_searched(tmp_path: Path) -> None:
    """A keyword search needs no model: over a collection on Lite's BM25 and one on the scan, the
    results name both; over the scan collection alone, the scan."""
    from omnivec.search.searcher import Searcher

    s = _open(f"milvus-lite://{tmp_path}/old.db?keyword=bm25")
    s.close()
    s = _open(f"milvus-lite://{tmp_path}/old.db", "docs")
    try:
        s.replace_source("docs", state("b.md", 1), [record("b.md", 0, text="parse_args notes")])

        def no_model() -> None:
            raise AssertionError("a keyword search loads no model")

        both = Searcher(s, {"code": no_model, "docs": no_model}).search("parse args", mode="keyword")  # type: ignore[dict-item]
        assert both.keyword_engine == "milvus-bm25+omnivec-scan"
        assert [(h.id, h.keyword_engine) for h in both] == [("b.md#0:v1", "milvus-bm25+omnivec-scan")]
        docs = Searcher(s, {"docs": no_model}).search("parse args", mode="keyword")  # type: ignore[dict-item]
        assert docs.keyword_engine == "omnivec-scan"
    finally:
        s.close()


def test_a_collection_from_another_analyser_is_reported_once(tmp_path: Path, caplog) -> None:
    """Milvus rows are not re-analysed in place, so a collection whose tokens came from another
    analyser version says so (once) instead of quietly missing words outside ASCII."""
    from omnivec.stores import milvus_keyword as kw

    s = _open(f"milvus-lite://{tmp_path}/old.db")
    try:
        s.replace_source("code", state("a.py", 1), [record("a.py", 0, text="parse_args here")])
        with caplog.at_level("WARNING", logger="omnivec.stores.milvus"):
            s.keyword_search("code", "parse", 5)
        assert "analyser" not in caplog.text  # made by this omnivec: nothing to say
        raw = dict(s._raw("code"), analyser="omnivec-code-2:en:whole:k1=1.2:b=0.9")
        s._put_meta([("coll:code", "collection", raw)])
        with caplog.at_level("WARNING", logger="omnivec.stores.milvus"):
            assert [i for i, _ in s.keyword_search("code", "parse", 5)] == ["a.py#0:v1"]  # ASCII: same tokens
            s.keyword_search("code", "args", 5)
        assert caplog.text.count("from analyser omnivec-code-2:en:whole") == 1
        assert f"analysed with {kw.ANALYSER_ID}" in caplog.text
    finally:
        s.close()


def test_lite_files_are_private_readers_create_nothing_and_a_busy_file_is_a_store_error(
    tmp_path: Path,
) -> None:
    import os
    import subprocess
    import sys

    from omnivec.errors import StoreError
    from omnivec.stores.milvus import MilvusStore

    with pytest.raises(StoreError, match="which does not exist"):
        MilvusStore(f"milvus-lite://{tmp_path}/typo.db", writer=False)
    assert not (tmp_path / "typo.db").exists()  # a mistyped URI leaves nothing behind

    old = os.umask(0o022)
    try:
        s = _open(f"milvus-lite://{tmp_path}/m.db")
    finally:
        os.umask(old)
    try:
        assert (tmp_path / "m.db").stat().st_mode & 0o077 == 0  # every chunk's text is in there
        uri = f"milvus-lite://{tmp_path}/m.db"
        probe = f"from omnivec.stores.milvus import MilvusStore; MilvusStore({uri!r}, writer=False)"
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        assert out.returncode != 0
        assert "StoreError" in out.stderr and "another process has it open" in out.stderr, out.stderr[-2000:]
    finally:
        s.close()
