"""The OCR and embedding caches hold private text: their folder (when omnivec makes it) is 0700,
their SQLite files 0600, whatever the umask, and older world-readable files are tightened."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from omnivec.encoders import cache as cache_mod
from omnivec.encoders.cache import EmbeddingCache
from omnivec.ocr import OcrCache, OcrResult, default_ocr_cache

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """The common 022 umask, under which files are created world-readable unless asked otherwise."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def db_files(db: Path) -> list[Path]:
    return [db, *(db.with_name(db.name + side) for side in ("-wal", "-shm"))]


def test_default_ocr_cache_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "fresh" / "omnivec"  # not there yet: omnivec makes it
    monkeypatch.setenv("OMNIVEC_CACHE", str(folder))
    ocr = default_ocr_cache()
    ocr.put("k", OcrResult(text="", size=(1, 1)))
    assert mode(folder) == 0o700
    files = db_files(folder / "ocr.sqlite")
    assert all(p.exists() for p in files)  # WAL mode: the side files are there while it is open
    assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}


def test_embedding_cache_is_private(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "embeddings.sqlite"
    emb = EmbeddingCache(path)
    emb.put_many("fp", [("a", np.ones(4, dtype=np.float32))])
    assert mode(path.parent) == 0o700
    assert {p.name: mode(p) for p in db_files(path)} == {p.name: 0o600 for p in db_files(path)}
    emb.close()


def test_existing_world_readable_files_are_tightened(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o755)
    path = folder / "ocr.sqlite"
    older = sqlite3.connect(path)  # as an older omnivec left it: 0644, WAL files present
    older.execute("PRAGMA journal_mode=WAL")
    older.execute("CREATE TABLE ocr (key TEXT PRIMARY KEY, result TEXT NOT NULL)")
    older.execute("INSERT INTO ocr VALUES ('k', '{\"size\": [1, 1], \"words\": []}')")
    older.commit()
    for p in db_files(path):
        p.chmod(0o644)
    ocr = OcrCache(path)
    assert {p.name: mode(p) for p in db_files(path)} == {p.name: 0o600 for p in db_files(path)}
    assert ocr.get("k") is not None  # the entries survive
    assert mode(folder) == 0o755  # a folder omnivec did not make keeps its owner's choice
    older.close()


def test_a_file_that_cannot_be_tightened_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "embeddings.sqlite"
    path.touch()
    path.chmod(0o644)

    def not_yours(p: object, m: int) -> None:
        raise PermissionError(1, "Operation not permitted", str(p))

    monkeypatch.setattr(cache_mod.os, "chmod", not_yours)  # a shared cache owned by someone else
    with caplog.at_level(logging.WARNING, logger="omnivec.encoders.cache"):
        EmbeddingCache(path).close()
    assert f"{path} is readable by other users" in caplog.text and "chmod 600" in caplog.text
