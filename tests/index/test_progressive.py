"""Progressive indexing: every file keyword-searchable before any model call, then embedded, and a
later run embeds only what is still missing (counted at the encoder)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnivec.api import Index
from omnivec.encoders.fake import FakeEncoder
from omnivec.index.updater import Indexer
from omnivec.stores import LocalStore, PendingVectors


@pytest.fixture
def embed_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Documents sent to the fake encoder, call by call (queries are not counted)."""
    calls: list[int] = []
    original = FakeEncoder.embed

    def counting(self: FakeEncoder, items: Any, *a: Any, **kw: Any) -> Any:
        if kw.get("role", a[0] if a else "document") == "document":
            calls.append(len(items))
        return original(self, items, *a, **kw)

    monkeypatch.setattr(FakeEncoder, "embed", counting)
    return calls


def _open(repo: Path, store: Path) -> Index:
    return Index.create(repo, store, text_model="omnivec/fake", image_model=None, screenshot_model=None)


def test_files_are_keyword_searchable_before_embedding(repo, tmp_path, embed_calls):
    seen: list[Any] = []
    calls_when_searchable: list[int] = []

    def progress(p: Any) -> None:
        seen.append(p)
        if p.phase == "embedding" and not calls_when_searchable:
            calls_when_searchable.append(sum(embed_calls))

    with _open(repo, tmp_path / "s") as idx:
        report = idx.update(progress=progress, use_cache=False)
        status = idx.status()
    assert calls_when_searchable == [0]  # no model call before every file was written
    embedding = [p for p in seen if p.phase == "embedding"]
    assert embedding[0].embed_total == report.chunks and embedding[-1].embed_done == report.chunks
    assert embedding[0].searchable_after is not None
    assert report.searchable_after is not None and report.searchable_after <= sum(report.seconds.values())
    assert (report.embedded, report.pending) == (report.chunks, 0) == (sum(embed_calls), 0)
    assert status["embedded_share"] == 1.0 and all(c["pending"] == 0 for c in status["collections"])


def test_no_embed_then_a_later_run_embeds_only_what_is_missing(repo, tmp_path, embed_calls):
    with _open(repo, tmp_path / "s") as idx:
        first = idx.update(embed=False, use_cache=False)
        assert embed_calls == [] and first.pending == first.chunks > 0
        assert idx.status()["embedded_share"] == 0.0
        assert idx.search("parse_config_file", k=1, mode="keyword")[0].symbol == "parse_config_file"
        assert idx.search("parse_config_file", k=3, mode="dense") == []
        assert idx.search("parse_config_file", k=1)[0].symbol == "parse_config_file"  # hybrid: keyword side
        second = idx.update(use_cache=False)
        assert (second.indexed, second.embedded, second.pending) == (0, first.chunks, 0)
        assert sum(embed_calls) == first.chunks
        assert idx.search("parse config file", k=1, mode="dense")
        assert idx.status()["embedded_share"] == 1.0
        third = idx.update(use_cache=False)
        assert third.embedded == 0 and sum(embed_calls) == first.chunks  # nothing left: no call


def test_an_edited_file_embeds_only_its_changed_chunks(repo, tmp_path, embed_calls):
    with _open(repo, tmp_path / "s") as idx:
        idx.update(use_cache=False)
        embed_calls.clear()
        path = repo / "pkg" / "stack.py"
        path.write_text(path.read_text().replace("return self.items.pop()", "return self.items.pop(-1)"))
        report = idx.update(use_cache=False)  # no embedding cache: the store keeps the vectors
    assert report.indexed == 1 and 0 < report.embedded < report.chunks
    assert sum(embed_calls) == report.embedded


class OnePhaseStore:
    """A store without `PendingVectors` (as a backend that lacks it): only the protocol's calls."""

    def __init__(self, inner: LocalStore) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("pending", "set_vectors", "pending_counts"):
            raise AttributeError(name)
        return getattr(self._inner, name)


@pytest.fixture
def one_phase(tmp_path: Path) -> Iterator[OnePhaseStore]:
    with LocalStore(tmp_path / "one", writer=True) as inner:
        yield OnePhaseStore(inner)


def test_a_store_without_the_capability_is_written_in_one_phase(repo, one_phase, embed_calls):
    from omnivec.encoders.registry import load_encoder
    from omnivec.index.config import IndexConfig

    assert not isinstance(one_phase, PendingVectors)
    config = IndexConfig(root=str(repo), text_model="omnivec/fake")
    indexer = Indexer(one_phase, config, {"text": load_encoder("omnivec/fake")})  # type: ignore[arg-type]
    seen: list[Any] = []
    report = indexer.update(repo, progress=seen.append)
    assert report.pending is None and report.searchable_after is None
    assert report.embedded == report.chunks == sum(embed_calls) > 0
    assert "embedding" not in {p.phase for p in seen}
    (coll,) = one_phase.collections()
    probe = np.ones(coll.dim, dtype=np.float32) / np.sqrt(coll.dim)
    assert len(one_phase.dense_search(coll.name, probe, 1000)) == coll.count == report.chunks
