"""LocalStore specifics: writer lock, schema version, FAISS and BM25 generation/replay/rebuild, IVF, kill -9."""

from __future__ import annotations

import os
import random
import selectors
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from omnivec.errors import StoreError
from omnivec.stores import Filter, LocalStore
from omnivec.stores.sqlite_schema import DB_NAME
from tests.procs import subprocess_env
from tests.stores import crash_writer
from tests.stores.helpers import DIM, RECIPE, brute_force, fill, open_writer, record, records, state, unit

REPO = Path(__file__).resolve().parents[2]


def abandon(store: LocalStore) -> None:
    """What kill -9 leaves: no flush, the lock released by the kernel."""
    store._conn.close()
    assert store._writer_lock is not None
    store._writer_lock.release()
    store._closed = True


# -- lock, read-only, versions ----------------------------------------------------------------


def test_second_writer_is_refused_readers_are_not(tmp_path: Path) -> None:
    w = open_writer(tmp_path)
    fill(w, range(2))
    with pytest.raises(StoreError, match=r"this process \(another open writer\) is writing"):
        LocalStore(tmp_path, writer=True)
    with LocalStore(tmp_path, writer=False) as r:
        assert len(r.sources()) == 2
        fill(w, range(2, 3))  # the reader does not block the writer
        assert len(r.sources()) == 3
        with pytest.raises(StoreError, match="read-only"):
            r.remove_source("f0.py")
    w.close()
    LocalStore(tmp_path, writer=True).close()  # the lock is free again


def test_reader_needs_an_existing_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no omnivec index"):
        LocalStore(tmp_path / "none", writer=False)


@pytest.mark.parametrize(("version", "fix"), [("99", "upgrade omnivec"), ("banana", "re-index")])
def test_unknown_schema_version_is_refused(tmp_path: Path, version: str, fix: str) -> None:
    open_writer(tmp_path).close()
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    for writer in (False, True):
        with pytest.raises(StoreError, match=f"schema version {version}.*{fix}"):
            LocalStore(tmp_path, writer=writer)


# -- generation, replay, rebuild --------------------------------------------------------------


def test_crash_before_faiss_write_is_replayed(tmp_path: Path) -> None:
    w = open_writer(tmp_path, flush_interval=None)
    vectors = fill(w, range(5))
    w.flush()
    vectors.update(fill(w, range(5, 10)))
    w.remove_source("f0.py")
    vectors = {i: v for i, v in vectors.items() if not i.startswith("f0.py")}
    abandon(w)
    with LocalStore(tmp_path, writer=False) as r:
        info = r.stats()["collections"]["code"]
        assert info["persisted_generation"] < info["generation"]
        assert [i for i, _ in r.dense_search("code", unit("q"), 10)] == brute_force(vectors, unit("q"), 10)
        assert len(r.dense_search("code", unit("q"), 1000)) == 45
        assert {i for i, _ in r.keyword_search("code", "chunk", 1000)} == set(vectors)  # BM25 replayed too
        info = r.stats()["collections"]["code"]
        assert info["keyword_persisted_generation"] < info["generation"] == info["keyword_loaded_generation"]
    w = LocalStore(tmp_path, writer=True)
    w.close()
    with LocalStore(tmp_path, writer=False) as r:
        r.dense_search("code", unit("q"), 1)
        r.keyword_search("code", "chunk", 1)
        info = r.stats()["collections"]["code"]
        assert info["persisted_generation"] == info["generation"] == info["loaded_generation"]
        assert info["keyword_persisted_generation"] == info["generation"] == info["keyword_loaded_generation"]


def test_reader_catches_up_across_a_pruned_changelog(tmp_path: Path) -> None:
    w = open_writer(tmp_path, flush_interval=None)
    fill(w, range(2))
    w.flush()
    with LocalStore(tmp_path, writer=False) as r:
        assert len(r.dense_search("code", unit(0), 100)) == 10  # loaded at this generation
        fill(w, range(2, 4))
        w.flush()  # the changes the reader would replay are pruned: it must reload the file
        fill(w, range(4, 5))  # and replay this, not yet flushed
        assert len(r.dense_search("code", unit(0), 100)) == 25
    w.close()


def test_file_newer_than_the_snapshot_asks_for_a_new_snapshot(tmp_path: Path) -> None:
    from omnivec.stores.dense import CollectionRow, FaissDense, NewerOnDiskError

    w = open_writer(tmp_path)
    fill(w, range(3))
    w.close()
    with LocalStore(tmp_path, writer=False) as r:
        real = r._row("code")
        old = CollectionRow(real.cid, "code", DIM, 10, real.generation - 1, 0)
        fresh = FaissDense(tmp_path, r._dense.store_id, writer=False)
        r._conn.execute("BEGIN")
        with pytest.raises(NewerOnDiskError):
            fresh.current(r._conn, old)
        assert fresh.current(r._conn, old, force=True).ntotal == 15  # rebuilt from SQLite
        r._conn.execute("COMMIT")


@pytest.mark.parametrize("kind", ["dense/*.faiss", "keyword/*.bm25"])
@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted"])
def test_unusable_derived_file_is_rebuilt(tmp_path: Path, damage: str, kind: str) -> None:
    w = open_writer(tmp_path)
    vectors = fill(w, range(6))
    w.replace_source("code", state("x.py", 1), records("x.py", 1, text="needle in code"))
    w.close()
    (faiss_file,) = tmp_path.glob(kind)
    if damage == "garbage":
        faiss_file.write_bytes(b"not a faiss index")
    elif damage == "truncated":
        faiss_file.write_bytes(faiss_file.read_bytes()[:-100])
    else:
        faiss_file.unlink()
    with LocalStore(tmp_path, writer=False) as r:
        assert [i for i, _ in r.dense_search("code", unit(3), 5)][:4] == brute_force(vectors, unit(3), 4)
        hits = [i for i, _ in r.keyword_search("code", "needle chunk", 100)]
        assert hits[0] == "x.py#0:v1" and len(hits) == 31


@pytest.mark.parametrize("kind", ["dense/*.faiss", "keyword/*.bm25"])
def test_writer_rewrites_a_damaged_derived_file(tmp_path: Path, kind: str) -> None:
    """A truncated file keeps a readable header, so it survives the writer's open-time check; the
    writer must still save a good one at its next flush, not leave every reader rebuilding."""
    from omnivec.stores import dense, keyword

    w = open_writer(tmp_path)
    fill(w, range(4))
    w.close()
    (path,) = tmp_path.glob(kind)
    path.write_bytes(path.read_bytes()[:-100])
    load = dense.load_index if kind.startswith("dense") else keyword.load_index
    assert load(path) is None
    w = LocalStore(tmp_path, writer=True)
    assert len(w.keyword_search("code", "chunk", 100)) == 20
    assert len(w.dense_search("code", unit(0), 100)) == 20
    w.close()
    assert load(path) is not None


def test_faiss_file_newer_than_sqlite_is_discarded(tmp_path: Path) -> None:
    """Power loss can roll SQLite back (synchronous=NORMAL) after a FAISS file was written."""
    w = open_writer(tmp_path)
    fill(w, range(3))
    w.close()
    shutil.copytree(tmp_path, tmp_path.parent / "old")
    w = LocalStore(tmp_path, writer=True)
    fill(w, range(3, 6))
    w.close()
    for f in (tmp_path.parent / "old").glob("omnivec.sqlite*"):  # SQLite back, FAISS file ahead
        shutil.copy(f, tmp_path / f.name)
    w = LocalStore(tmp_path, writer=True, flush_interval=None)
    assert not list((tmp_path / "dense").glob("*.faiss"))
    assert not list((tmp_path / "keyword").glob("*.bm25"))
    vectors = fill(w, range(10, 13), n=2)  # reaches the old file's generation with other content
    w.close()
    with LocalStore(tmp_path, writer=False) as r:
        hits = r.dense_search("code", unit(5), 100)
        assert {i for i, _ in hits} == set(vectors) | {r.id for s in range(3) for r in records(f"f{s}.py", 5)}
        assert {i for i, _ in r.keyword_search("code", "chunk", 100)} == {i for i, _ in hits}


def test_flush_prunes_changelog(tmp_path: Path) -> None:
    w = open_writer(tmp_path, flush_interval=None)
    fill(w, range(4))
    count = lambda: w._conn.execute("SELECT COUNT(*) FROM changes").fetchone()[0]  # noqa: E731
    assert count() == 20
    w.flush()
    assert count() == 0
    w.close()


def test_drop_collection_invalidates_its_sources(tmp_path: Path) -> None:
    w = open_writer(tmp_path)
    w.ensure_collection("img", model="clip", fingerprint="c", dim=DIM, recipe={})
    w.replace_source("code", state("a.py", 1), records("a.py", 1))
    w.replace_source("img", state("a.py", 1), records("a.py", 1, prefix="i:"))
    w.replace_source("code", state("b.py", 1), records("b.py", 1))
    w.flush()
    w.drop_collection("img")
    assert [c.name for c in w.collections()] == ["code"]
    srcs = w.sources()
    assert (srcs["a.py"].content_hash, srcs["a.py"].chunks) == ("", 1)
    assert srcs["b.py"].content_hash == "hash-b.py-v1"
    assert len(list((tmp_path / "dense").glob("*.faiss"))) == 1
    assert len(list((tmp_path / "keyword").glob("*.bm25"))) == 1
    w.close()


# -- IVF --------------------------------------------------------------------------------------


def test_ivf_index_above_threshold(tmp_path: Path) -> None:
    w = open_writer(tmp_path, ivf_min=1000)
    vectors = fill(w, range(30), n=100, language="python")
    go = fill(w, range(30, 31), n=50, language="go")
    rare = fill(w, range(31, 32), n=3, kind="rare")
    vectors.update(go | rare)
    w.flush()
    assert w.stats()["collections"]["code"]["kind"] == "ivf"
    queries = [unit(f"q{i}") for i in range(20)]
    hits = [[i for i, _ in w.dense_search("code", q, 10)] for q in queries]
    recall = np.mean([len(set(h) & set(brute_force(vectors, q, 10))) / 10 for h, q in zip(hits, queries)])
    assert recall >= 0.9
    python = {i for i in vectors if i not in go and i not in rare}
    for q in queries[:5]:  # a broad filter probes, like an unfiltered search
        got = [i for i, _ in w.dense_search("code", q, 10, Filter(languages=("python",)))]
        assert len(got) == 10 and set(got) <= python
    for q in queries[:5]:  # selective filters scan every list: exact, and k is filled
        assert sorted(i for i, _ in w.dense_search("code", q, 10, Filter(kinds=("rare",)))) == sorted(rare)
        got = [i for i, _ in w.dense_search("code", q, 10, Filter(languages=("go",)))]
        assert got == brute_force({i: vectors[i] for i in go}, q, 10)
    w.close()
    with LocalStore(tmp_path, writer=False) as r:
        assert [i for i, _ in r.dense_search("code", queries[0], 10)] == hits[0]
        assert r.stats()["collections"]["code"]["kind"] == "ivf"
    w = LocalStore(tmp_path, writer=True, ivf_min=1000)
    for s in range(26):
        w.remove_source(f"f{s}.py")
    w.flush()
    assert w.stats()["collections"]["code"]["kind"] == "flat"  # 453 < 1000 * 0.5
    w.close()


def test_short_ivf_probe_falls_back_to_scanning_every_list(monkeypatch: pytest.MonkeyPatch) -> None:
    from omnivec.stores import faiss_index

    rng = np.random.default_rng(0)
    xb = rng.standard_normal((4000, 8)).astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    rids = np.arange(10, 4010)
    dense = faiss_index.DenseIndex.ivf(xb, rids, 8, generation=1)
    dense.index.nprobe = 1
    query = xb[0]
    probed = dense.index.quantizer.search(query[None], 1)[1][0, 0]
    lists = dense.index.quantizer.search(xb, 1)[1][:, 0]
    allowed = rids[lists != probed]  # none of them is in the one probed list
    monkeypatch.setattr(faiss_index, "IVF_PROBE_MARGIN", 0)  # probe first whatever the share
    _, found = dense.search(query, 10, allowed)
    truth = allowed[np.argsort(-(xb[lists != probed] @ query))[:10]]
    assert found.tolist() == truth.tolist()
    unfiltered = dense.search(query, 10)[1]
    assert unfiltered[0] == 10 and len(unfiltered) == 10


# -- kill -9 ----------------------------------------------------------------------------------


def check_consistent(root: Path) -> int:
    """Open as a reader and check every invariant a crash must not break. Returns #sources."""
    try:
        r = LocalStore(root, writer=False)
    except StoreError as exc:
        assert "no omnivec index" in str(exc)  # killed before the schema was committed
        return 0
    with r:
        srcs = r.sources()
        want: dict[str, set[str]] = {"text": set(), "images": set()}
        for src, st in srcs.items():
            exp = crash_writer.expected(st.content_hash)
            assert st.status == "indexed" and st.chunks == sum(len(v) for v in exp.values())
            assert set(r.get([i for v in exp.values() for i in v])) == {i for v in exp.values() for i in v}
            for coll, ids in exp.items():
                want[coll].update(ids)
        with sqlite3.connect(root / DB_NAME) as conn:
            orphans = conn.execute(
                "SELECT COUNT(*) FROM records WHERE source NOT IN (SELECT source FROM sources)"
            )
            assert orphans.fetchone()[0] == 0
            assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == sum(map(len, want.values()))
        for coll, dim in (("text", crash_writer.TEXT_DIM), ("images", crash_writer.IMAGE_DIM)):
            if not any(c.name == coll for c in r.collections()):
                continue
            hits = r.dense_search(coll, unit("crash", dim), 100_000)
            assert {i for i, _ in hits} == want[coll]  # FAISS agrees with SQLite exactly
            # the keyword index agrees with SQLite exactly too: every text record says "chunk"
            word = "chunk" if coll == "text" else "image"
            assert {i for i, _ in r.keyword_search(coll, word, 100_000)} == want[coll]
        return len(srcs)


def check_live_snapshot(root: Path) -> None:
    """While the writer runs: one SQLite snapshot holds whole sources only, and search works."""
    with sqlite3.connect(root / DB_NAME, isolation_level=None) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone():
            return  # the writer has not created the schema yet
        conn.execute("BEGIN")
        states = dict(conn.execute("SELECT source, content_hash FROM sources").fetchall())
        have: dict[str, set[str]] = {}
        for rid, src in conn.execute("SELECT id, source FROM records"):
            have.setdefault(src, set()).add(rid)
        conn.execute("COMMIT")
    for src, content in states.items():
        assert have.get(src, set()) == {i for v in crash_writer.expected(content).values() for i in v}
    assert set(have) <= set(states)
    with LocalStore(root, writer=False) as r:
        if any(c.name == "text" for c in r.collections()):
            assert len(r.dense_search("text", unit("live", crash_writer.TEXT_DIM), 5)) == min(5, len(states))


def _await_progress(proc: subprocess.Popen[bytes], lines: int, errors: Path, timeout: float = 120) -> None:
    """Read the writer's progress (one line per source written) until `lines` more have come."""
    assert proc.stdout is not None
    fd, seen, deadline = proc.stdout.fileno(), 0, time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while seen < lines:
            left = deadline - time.monotonic()
            assert left > 0 and sel.select(left), f"only {seen} of {lines} sources written in {timeout} s"
            chunk = os.read(fd, 65536)
            assert chunk, f"the writer ended: rc {proc.wait()}\n{errors.read_text()}"
            seen += chunk.count(b"\n")


@pytest.mark.parametrize(
    ("sizes", "kind"),
    [([], "flat"), (["300"], "ivf-sq8"), (["300", "900"], "hnsw"), (["300", "0", "300"], "ivf-sq8-proj")],
    ids=["default-sizes", "ivf-sq8-from-300", "hnsw-from-900", "ivf-sq8-proj-from-300"],
)
def test_kill_9_at_random_points_leaves_a_consistent_resumable_store(
    tmp_path: Path, sizes: list[str], kind: str
) -> None:
    """Each round is killed once it has written a (seeded) random number of sources, wherever the
    writer then is: in a transaction, between a commit and a FAISS write, inside one. Kill rounds
    are given far more work than they can do, so every kill lands in a running writer however
    slow or fast the machine; the last round finishes the real job. With `ivf_min` 300 the text
    collection's index turns ivf-sq8 in the first rounds and is retrained at 4x while killed; with
    900 more it turns hnsw (tombstones for the churn's removals) a few rounds in; with `proj_min`
    300 it turns ivf-sq8-proj (byte codes) instead of ivf-sq8."""
    root, n, rng = tmp_path / "store", 1200, random.Random(1234)
    env = subprocess_env()

    def cmd(count: int) -> list[str]:
        return [sys.executable, "-m", "tests.stores.crash_writer", str(root), str(count), *sizes]

    errors = tmp_path / "writer.err"
    for _ in range(8):  # at most 8 * 130 = 1040 < n sources written before the last round
        with errors.open("ab") as err:
            proc = subprocess.Popen(cmd(10**9), cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=err)
        try:
            _await_progress(proc, rng.randint(20, 100), errors)
            check_live_snapshot(root)  # the writer is still running: it has work left for ever
            _await_progress(proc, rng.randint(0, 30), errors)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.stdout is not None
            proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
        assert check_consistent(root) > 0
    done = subprocess.run(cmd(n), check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr
    assert check_consistent(root) >= n - n // 25
    with LocalStore(root, writer=False) as r:  # the kind the sizes call for was reached and saved
        assert r.stats()["collections"]["text"]["kind"] == kind


def test_a_schema_1_store_is_upgraded_in_place_by_a_writer(tmp_path):
    import sqlite3

    from omnivec.errors import StoreError
    from omnivec.stores.sqlite_schema import DB_NAME

    root = tmp_path / "store"
    with LocalStore(root, writer=True) as store:
        store.ensure_collection("code", model="m", fingerprint="fp1", dim=DIM, recipe=RECIPE)
        store.replace_source_all(
            state("a.py", 1), {"code": [record("a.py", 0, text="def parse_config(): pass")]}
        )
    # make it look like a store written by schema 1: FTS5 tables, no token table, no analyser
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute("DROP TABLE tokens")
    conn.execute("CREATE VIRTUAL TABLE fts USING fts5(tokens)")
    conn.execute("CREATE VIRTUAL TABLE fts_vocab USING fts5vocab(fts, 'row')")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    conn.execute("DELETE FROM meta WHERE key = 'analyser'")
    conn.close()
    with pytest.raises(StoreError, match="upgrades the store in place"):
        LocalStore(root, writer=False)
    with LocalStore(root, writer=True) as store:
        assert [i for i, _ in store.keyword_search("code", "parse config", 5)] == ["a.py#0:v1"]
    with LocalStore(root, writer=False) as reader:
        assert [i for i, _ in reader.keyword_search("code", "config", 5)] == ["a.py#0:v1"]


def test_a_store_without_the_rid_index_is_read_and_gains_it_from_a_writer(tmp_path: Path) -> None:
    """Schema-3 stores written before `records_rid_id` existed: readers map rowids without it, and
    the next writer adds it in place; both answer with the same ids."""
    root = tmp_path / "store"
    with open_writer(root) as store:
        fill(store, range(4))
        expected = store.keyword_search("code", "chunk", 10)
        assert len(expected) == 10
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute("DROP INDEX records_rid_id")
    conn.close()
    with LocalStore(root, writer=False) as reader:
        assert reader.keyword_search("code", "chunk", 10) == expected
    with open_writer(root) as store:
        assert store.keyword_search("code", "chunk", 10) == expected
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    plan = conn.execute(
        "EXPLAIN QUERY PLAN SELECT rid, id FROM records INDEXED BY records_rid_id WHERE rid IN (1, 2)"
    ).fetchall()
    conn.close()
    assert "COVERING INDEX records_rid_id" in str(plan)
    with LocalStore(root, writer=False) as reader:
        assert reader.keyword_search("code", "chunk", 10) == expected
