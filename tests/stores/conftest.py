"""Every store backend runs the shared suite (test_suite.py): register it in BACKENDS.

A backend factory takes (folder, writer) and returns an open `VectorStore`; reopening the same
folder must see the same data. Milvus Lite always runs (skipped only without the `milvus` extra);
a Milvus standalone server from the `milvus` PyPI package runs under the `milvus_server` marker
(15-50 s to start, a few hundred MB; `make test-milvus` runs it, and `.ci/run` after `make test`).
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from omnivec.stores import LocalStore, VectorStore

StoreFactory = Callable[[Path, bool], VectorStore]


def _milvus_lite(root: Path, writer: bool) -> VectorStore:
    from omnivec.stores.milvus import MilvusStore
    from tests.conftest import SESSION_CACHE

    # one database file for the session (each file starts a Milvus Lite process, ~1.5 s), one
    # store per test folder inside it
    return MilvusStore(
        f"milvus-lite://{SESSION_CACHE}/milvus-lite/suite.db?name={_store_name(root)}", writer=writer
    )


def _store_name(root: Path) -> str:
    return "t" + hashlib.blake2b(str(root).encode(), digest_size=8).hexdigest()


BACKENDS: dict[str, StoreFactory] = {
    "local": lambda root, writer: LocalStore(root, writer=writer),
    "milvus-lite": _milvus_lite,
}
# backends that need more than the folder: a server, started once per session when first used
SERVER_BACKENDS = {"milvus-standalone"}
HAVE_MILVUS = (
    importlib.util.find_spec("pymilvus") is not None and importlib.util.find_spec("milvus_lite") is not None
)
HAVE_SERVER = importlib.util.find_spec("milvus") is not None


def _params() -> list[object]:
    out: list[object] = []
    for name in sorted(BACKENDS):
        skip = name.startswith("milvus") and not HAVE_MILVUS
        out.append(pytest.param(name, marks=pytest.mark.skipif(skip, reason="no milvus extra")))
    out.append(pytest.param("milvus-standalone", marks=[
        pytest.mark.milvus_server,
        pytest.mark.skipif(not (HAVE_MILVUS and HAVE_SERVER), reason="no `milvus` server package"),
    ]))  # fmt: skip
    return out


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus standalone on 127.0.0.1 for the session; its `milvus://` address."""
    from tests.scale.milvus_standalone import MilvusStandalone

    with MilvusStandalone(tmp_path_factory.mktemp("milvus-standalone")) as server:
        yield f"milvus://127.0.0.1:{server.port}"


def standalone_factory(address: str) -> StoreFactory:
    def open_(root: Path, writer: bool) -> VectorStore:
        from omnivec.stores.milvus import MilvusStore

        # one store per test folder: a name derived from the folder keeps tests apart on one server
        return MilvusStore(f"{address}/{_store_name(root)}", writer=writer)

    return open_


@pytest.fixture(params=_params())
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., VectorStore]]:
    """`open_store(writer=True)` opens (or reopens) the backend's store in a fresh folder."""
    opened: list[VectorStore] = []
    if request.param in SERVER_BACKENDS:
        factory = standalone_factory(request.getfixturevalue("milvus_server"))
    else:
        factory = BACKENDS[request.param]

    def open_(writer: bool = True) -> VectorStore:
        store = factory(tmp_path / "store", writer)
        opened.append(store)
        return store

    yield open_
    for store in reversed(opened):
        store.close()


@pytest.fixture
def store(open_store: Callable[..., VectorStore]) -> VectorStore:
    """A fresh writable store with one collection 'code' (dim 16)."""
    from tests.stores.helpers import DIM, RECIPE

    s = open_store()
    s.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
    return s
