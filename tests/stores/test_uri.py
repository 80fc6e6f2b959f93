"""`open_store(uri)`: folders and file:// open the local store; other schemes are refused, creating nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from omnivec.errors import InputError
from omnivec.stores import LocalStore
from omnivec.stores import uri as uri_mod
from omnivec.stores.uri import open_store, register_scheme, scheme_of, store_folder


def test_paths_and_file_uris_open_the_local_store(tmp_path):
    assert store_folder(tmp_path / "s") == tmp_path / "s"
    assert store_folder(f"file://{tmp_path}/a%20b") == tmp_path / "a b"
    with open_store(f"file://{tmp_path}/s", writer=True) as store:
        assert isinstance(store, LocalStore) and store.path == tmp_path / "s"


def test_unknown_schemes_are_refused_and_create_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError) as err:
        open_store("milvu://localhost:19530/code", writer=True)
    assert "scheme 'milvu'" in str(err.value) and "file://" in str(err.value)
    assert "milvus://" in str(err.value) and "milvus-lite://" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_a_registered_scheme_is_dispatched(tmp_path, monkeypatch):
    monkeypatch.setattr(uri_mod, "_OPENERS", {})
    seen = []

    def opener(uri: str, *, writer: bool, **options):
        seen.append((uri, writer, options))
        return LocalStore(tmp_path / "x", writer=writer)

    register_scheme("demo", opener)
    assert scheme_of("demo://h/c") == "demo" and scheme_of(Path("demo://h")) == "file"
    with open_store("demo://h/c", writer=True, flush_interval=None):
        pass
    assert seen == [("demo://h/c", True, {"flush_interval": None})]
    with pytest.raises(InputError, match="served by the demo backend"):
        store_folder("demo://h/c")
