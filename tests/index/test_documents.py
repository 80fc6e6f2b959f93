"""Pushed documents: upsert/delete by id, one source each, kept by folder updates."""

from __future__ import annotations

import pytest

from omnivec.api import Index
from omnivec.errors import InputError, StoreError
from omnivec.index.documents import Document


def test_upsert_search_update_delete(fake_index):
    fake_index.update()
    rep = fake_index.apply_documents([Document("faq-1", "reset a forgotten password", {"team": "it"})])
    assert rep.upserted == ["faq-1"] and rep.chunks == 1
    hit = fake_index.search("forgotten password", k=1)[0]
    assert hit.path == "doc:faq-1" and hit.kind == "doc" and hit.metadata["metadata"] == {"team": "it"}
    assert fake_index.apply_documents(
        [Document("faq-1", "reset a forgotten password", {"team": "it"})]
    ).unchanged
    # a folder update does not drop pushed documents: they are not files
    fake_index.update()
    assert "doc:faq-1" in fake_index.store.sources()
    rep = fake_index.apply_documents(delete=["faq-1", "nope"])
    assert rep.deleted == ["faq-1"] and rep.not_found == ["nope"]
    assert all(h.path != "doc:faq-1" for h in fake_index.search("forgotten password", k=20))


def test_long_documents_are_split_not_truncated(fake_index):
    text = "\n\n".join(" ".join(f"w{p}x{i}" for i in range(60)) for p in range(40))  # 2400 words
    rep = fake_index.apply_documents([Document("long", text)])
    assert rep.chunks > 1
    assert fake_index.store.sources()["doc:long"].chunks == rep.chunks


@pytest.mark.parametrize(
    ("upsert", "delete", "words"),
    [
        ([Document("", "x")], [], "id ''"),
        ([Document("a", "  ")], [], "empty text"),
        ([Document("a", "x"), Document("a", "y")], [], "twice"),
        ([Document("a", "x", {"f": object()})], [], "not JSON"),
        ([Document("a", "x")], ["a"], "both upsert and delete"),
        ([], ["bad\nid"], "control characters"),
    ],
)
def test_refusals(fake_index, upsert, delete, words):
    with pytest.raises(InputError, match=words):
        fake_index.apply_documents(upsert, delete)


def test_read_only_index_refuses(fake_index):
    fake_index.update()
    store_dir = fake_index.store_dir
    fake_index.close()
    with Index.open(store_dir) as ro, pytest.raises(StoreError, match="read-only"):
        ro.apply_documents([Document("a", "x")])
