"""Every store backend runs the shared suite (test_suite.py): register it in BACKENDS.

A backend factory takes (folder, writer) and returns an open `VectorStore`; reopening the same
folder must see the same data. A Milvus backend adds an entry here (skipping when its server or
client is unavailable).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omnivec.stores import LocalStore, VectorStore

StoreFactory = Callable[[Path, bool], VectorStore]

BACKENDS: dict[str, StoreFactory] = {
    "local": lambda root, writer: LocalStore(root, writer=writer),
}


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., VectorStore]]:
    """`open_store(writer=True)` opens (or reopens) the backend's store in a fresh folder."""
    opened: list[VectorStore] = []
    factory = BACKENDS[request.param]

    def open_(writer: bool = True) -> VectorStore:
        store = factory(tmp_path / "store", writer)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., VectorStore]) -> VectorStore:
    """A fresh writable store with one collection 'code' (dim 16)."""
    from tests.stores.helpers import DIM, RECIPE

    s = open_store()
    s.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
    return s
