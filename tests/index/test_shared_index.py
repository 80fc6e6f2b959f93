"""One `Index` shared by many threads, as a server shares it: one encoder load, one searcher,
the same answers as one thread, and searches that do not wait for a write to finish."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from omnivec.api import Index
from omnivec.search.query import Query

QUERIES = ["parse config file", "Stack push", "fetchUserProfile", "installer reboot"] * 8


def test_threads_share_one_encoder_and_one_searcher(fake_index, monkeypatch):
    from omnivec.encoders import registry

    fake_index.update()
    loads = []
    real = registry.load_encoder
    monkeypatch.setattr(registry, "load_encoder", lambda *a, **k: loads.append(a) or real(*a, **k))
    fresh = Index.open(fake_index.store_dir)
    try:
        serial = {q: [h.to_dict() for h in Index.open(fake_index.store_dir).search(q, k=3)] for q in QUERIES}
        loads.clear()
        with ThreadPoolExecutor(8) as pool:
            got = list(pool.map(lambda q: (q, [h.to_dict() for h in fresh.search(q, k=3)]), QUERIES))
        assert all(hits == serial[q] for q, hits in got)
        assert len(loads) == 1, "the text encoder must load once for all threads"
        assert fresh.searcher() is fresh.searcher()
    finally:
        fresh.close()


def test_a_writers_searches_use_their_own_read_handle(fake_index):
    fake_index.update()
    reader = fake_index._search_store()
    assert reader is not fake_index.store and not getattr(reader, "writer", True)
    # hold the writer's store lock, as a long write would: a search must still answer
    done = threading.Event()
    with fake_index.store._lock:  # type: ignore[attr-defined]
        t = threading.Thread(target=lambda: (fake_index.search(Query("Stack push", k=1)), done.set()))
        t.start()
        assert done.wait(60), "a search waited for the writer's lock"
    t.join()


def test_a_keyword_search_loads_no_model(fake_index, monkeypatch):
    from omnivec.encoders import registry

    fake_index.update()
    with Index.open(fake_index.store_dir) as idx:
        monkeypatch.setattr(registry, "load_encoder", lambda *a, **k: pytest.fail("a model was loaded"))
        hits = idx.search("parse config file", mode="keyword", k=1)
    assert hits[0].path == "pkg/stack.py"
