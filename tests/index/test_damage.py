"""A damaged store says so (exit 2, what is damaged, what to run) and `repair` heals it without
touching the user's files: the repaired store answers exactly like a fresh index of the folder.
Also: a truncated dense file, a full disk and a read-only store folder."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from omnivec.api import Index
from omnivec.stores import LocalStore
from omnivec.stores.dense_file import read_stamp
from omnivec.stores.salvage import salvage
from omnivec.stores.sqlite_schema import DB_NAME

SRC = Path(__file__).resolve().parents[2] / "src"
FAKE = ["--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none"]
QUERIES = ["func_3 alpha", "Klass17 method", "compute thing beta", "gamma_12 value"]


def make_tree(root: Path, n: int = 200, start: int = 0) -> Path:
    """Enough files (~500 KB of database) that damage at 8..64 KB hits real table pages."""
    for i in range(start, start + n):
        d = root / f"pkg{i % 5}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"m{i}.py").write_text(
            f'def func_{i}(x):\n    """Compute thing {i} with alpha beta gamma_{i % 13}."""\n'
            f"    return x * {i}\n\n\nclass Klass{i}:\n    def method(self):\n        return {i}\n"
        )
    return root


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        h.update(str(p.relative_to(root)).encode())
        if p.is_file():
            st = p.stat()
            h.update(p.read_bytes() + f"{st.st_mtime_ns}:{st.st_mode}".encode())
    return h.hexdigest()


def build(repo: Path, store: Path) -> None:
    with Index.create(repo, store, text_model="omnivec/fake", image_model=None, screenshot_model=None) as idx:
        idx.update()


def answers(store: Path) -> dict[str, object]:
    """Everything a search can see: sources, and full dense and keyword result lists."""
    with LocalStore(store, writer=False) as s:
        ids = {i for q in QUERIES for i, _ in s.keyword_search("text", q, 1000)}
        vecs = s.get(sorted(ids)[:20], with_vectors=True)
        return {
            "sources": {k: (v.content_hash, v.chunks, v.status) for k, v in s.sources().items()},
            "keyword": {q: {i: round(sc, 4) for i, sc in s.keyword_search("text", q, 1000)} for q in QUERIES},
            "dense": {i: [h for h, _ in s.dense_search("text", r.vector, 3)] for i, r in vecs.items()},
        }


def omnivec(*args: str, cache: Path, fsize: int | None = None):
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMNIVEC_CACHE": str(cache)}

    def limit() -> None:
        if fsize is not None:  # Python ignores SIGXFSZ: a write past the limit fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run(
        [sys.executable, "-m", "omnivec", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        preexec_fn=limit,
    )


def fails(proc: subprocess.CompletedProcess[str], *says: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    for text in says:
        assert text in proc.stderr, proc.stderr


def truncate(db: Path) -> None:
    with open(db, "r+b") as f:
        f.truncate(int(db.stat().st_size * 0.6))


def overwrite(db: Path) -> None:
    rng = random.Random(13)
    with open(db, "r+b") as f:
        f.seek(8 * 1024)
        f.write(bytes(rng.randrange(256) for _ in range(56 * 1024)))


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, object]]:
    """A folder, a clean index of it, and that index's answers (the reference)."""
    base = tmp_path_factory.mktemp("clean")
    repo, store = make_tree(base / "repo"), base / "store"
    build(repo, store)
    return repo, store, answers(store)


@pytest.mark.parametrize("damage", [truncate, overwrite], ids=["truncated", "overwritten"])
def test_damage_is_reported_then_repaired(clean, tmp_path: Path, damage) -> None:
    repo, clean_store, reference = clean
    store = tmp_path / "store"
    shutil.copytree(clean_store, store)
    before = tree_hash(repo)
    assert (store / DB_NAME).stat().st_size > 400_000  # the damage lands on table pages
    damage(store / DB_NAME)
    cache = tmp_path / "cache"
    says = ("damaged index database", "omnivec repair --store")
    fails(omnivec("status", "--store", str(store), cache=cache), *says)
    fails(omnivec("search", "func_3", "--store", str(store), cache=cache), *says)
    fails(omnivec("index", str(repo), "--store", str(store), *FAKE, cache=cache), *says)

    proc = omnivec("repair", "--store", str(store), cache=cache)
    assert proc.returncode == 0, proc.stderr
    (kept,) = store.glob(f"{DB_NAME}.damaged-*[0-9]")
    assert str(kept) in proc.stdout and "the database was damaged" in proc.stdout
    assert answers(store) == reference
    assert tree_hash(repo) == before
    assert omnivec("search", "func_3", "--store", str(store), cache=cache).returncode == 0


def test_index_rebuild_repairs_then_indexes(clean, tmp_path: Path) -> None:
    repo, clean_store, reference = clean
    store = tmp_path / "store"
    shutil.copytree(clean_store, store)
    before = tree_hash(repo)
    truncate(store / DB_NAME)
    proc = omnivec("index", str(repo), "--store", str(store), *FAKE, "--rebuild", cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stderr
    assert "was damaged" in proc.stderr
    assert answers(store) == reference
    assert tree_hash(repo) == before


def test_salvage_keeps_the_readable_rows(clean, tmp_path: Path) -> None:
    _, clean_store, reference = clean
    db = tmp_path / DB_NAME
    shutil.copy(clean_store / DB_NAME, db)
    truncate(db)
    damaged = db.read_bytes()
    got = salvage(db, tmp_path / "new.sqlite")
    assert db.read_bytes() == damaged  # the damaged file is only read
    assert 0 < got.kept["records"] < got.expected_records == 400
    (tmp_path / "s").mkdir()
    shutil.copy(tmp_path / "new.sqlite", tmp_path / "s" / DB_NAME)
    with LocalStore(tmp_path / "s", writer=False) as s:
        sources = s.sources()
        full = reference["sources"]
        assert sources and set(sources) <= set(full)
        for name, st in sources.items():  # intact sources as they were; the rest re-indexed next
            assert (st.content_hash, st.chunks) == full[name][:2] or st.content_hash == ""


def test_repair_of_an_intact_store_rebuilds_only_derived_files(clean, tmp_path: Path) -> None:
    _, clean_store, reference = clean
    store = tmp_path / "store"
    shutil.copytree(clean_store, store)
    (faiss_file,) = (store / "dense").glob("*.faiss")
    faiss_file.write_bytes(faiss_file.read_bytes()[:-50])
    report = Index.repair(store)
    assert report.problem is None and report.update is not None and report.update.unchanged == 200
    assert read_stamp(faiss_file) is not None
    assert not list(store.glob(f"{DB_NAME}.damaged-*"))
    assert answers(store) == reference


def test_truncated_dense_file_warns_once_and_the_next_write_replaces_it(
    clean, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repo, clean_store, reference = clean
    store = tmp_path / "store"
    shutil.copytree(clean_store, store)
    (faiss_file,) = (store / "dense").glob("*.faiss")
    faiss_file.write_bytes(faiss_file.read_bytes()[:-100])
    caplog.set_level(logging.WARNING, logger="omnivec.stores")
    with Index.open(store) as idx:
        first = [h.id for h in idx.search("compute thing", k=5, mode="dense")]
        for _ in range(3):
            assert [h.id for h in idx.search("compute thing", k=5, mode="dense")] == first
    assert sum("unreadable dense index" in r.getMessage() for r in caplog.records) == 1
    build(repo, store)  # a run with no content change still writes a good file
    assert read_stamp(faiss_file) is not None
    caplog.clear()
    assert answers(store) == reference
    assert not [r for r in caplog.records if "dense index" in r.getMessage()]


def test_disk_full_keeps_the_last_committed_state(clean, tmp_path: Path) -> None:
    repo_src, clean_store, _ = clean
    repo, store, cache = tmp_path / "repo", tmp_path / "store", tmp_path / "cache"
    shutil.copytree(repo_src, repo)
    shutil.copytree(clean_store, store)
    make_tree(repo, 150, start=1000)
    os.environ["OMNIVEC_CACHE"], saved = str(cache), os.environ.get("OMNIVEC_CACHE")
    try:  # the embedding cache (outside the store) is filled first: only the store grows
        build(repo, tmp_path / "scratch")
        want = answers(tmp_path / "scratch")
    finally:
        os.environ["OMNIVEC_CACHE"] = saved or ""
    limit = (store / DB_NAME).stat().st_size
    proc = omnivec("index", str(repo), "--store", str(store), *FAKE, cache=cache, fsize=limit)
    fails(proc, "the disk is full", "free some space")
    with LocalStore(store, writer=False) as s:  # consistent: every listed file whole, all findable
        sources = s.sources()
        assert len(sources) >= 200 and all(st.chunks == 2 for st in sources.values())
        ids = [i for i, _ in s.dense_search("text", _probe(s), 10_000)]
        ids += [r.id for r in s.pending("text", 10_000)]  # written, keyword-searchable, not embedded yet
        assert sorted(i.split("#")[0] for i in ids) == sorted([*sources, *sources])
    build(repo, store)  # space again: the run completes where it stopped
    assert answers(store) == want


def _probe(store: LocalStore):
    import numpy as np

    return np.ones(store.collections()[0].dim, dtype=np.float32)


def read_only_mount(folder: Path) -> list[str]:
    """A command prefix that runs with `folder` bind-mounted read-only (EROFS, even for root), in a
    private mount namespace; skips the test where user namespaces are not allowed."""
    prefix = ["unshare", "--map-root-user", "--mount", "sh", "-c",
              'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"', str(folder)]  # fmt: skip
    probe = subprocess.run([*prefix, "touch", str(folder / "probe")], capture_output=True, text=True)
    if shutil.which("unshare") is None or "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot mount {folder} read-only here: {probe.stderr.strip()}")
    return prefix


def test_read_only_store_answers_and_refuses_writes(clean, tmp_path: Path) -> None:
    repo, clean_store, reference = clean
    store, cache = tmp_path / "store", tmp_path / "cache"
    shutil.copytree(clean_store, store)
    prefix = read_only_mount(store)
    before = tree_hash(store)
    env = {**os.environ, "PYTHONPATH": str(SRC), "OMNIVEC_CACHE": str(cache)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [*prefix, sys.executable, "-m", "omnivec", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)

    found = run("search", "func_3 alpha", "--store", str(store), "--json", "-k", "3")
    assert found.returncode == 0, found.stderr
    with Index.open(store) as idx:
        assert [h["id"] for h in json.loads(found.stdout)] == [h.id for h in idx.search("func_3 alpha", k=3)]
    assert run("status", "--store", str(store)).returncode == 0
    fails(run("index", str(repo), "--store", str(store), *FAKE), "the store folder", "is read-only", "chmod")
    assert tree_hash(store) == before
    assert answers(store) == reference
