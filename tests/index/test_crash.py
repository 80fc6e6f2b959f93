"""`kill -9` an indexing process at named points; the store must always open, answer
consistently, and a resumed run must end exactly where a clean run ends.

Every kill is deterministic: the process kills itself at a named point (tests/index/fault_runner.py),
or is killed from outside once the store shows a given number of files written. Nothing waits a
guessed time, so a cold cache, a slow disk or a loaded machine change how long a run takes, never
where it is killed.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from omnivec.api import Index
from omnivec.errors import StoreError
from omnivec.stores import LocalStore
from tests.index.fault_runner import COUNT_ENV, FAULT_ENV
from tests.procs import subprocess_env

N_FILES = 300  # 2 chunks each: three embedding batches (PENDING_CHUNKS = 256) per full run
EDITS = N_FILES // 2  # files edited between rounds: every round has at least this much work

# (fault, what the store must show afterwards). "progress:K" is a SIGKILL sent from here once K
# files of this run are committed; None is a run left to finish; the others are points where the
# indexer kills itself (tests/index/fault_runner.py)
PLAN: list[tuple[str | None, str]] = [
    ("store-open", "no index yet"),  # the store exists, index.json does not: not an index yet
    ("after-commit:1", "exactly 1 file newer"),
    ("progress:40", "some files newer"),  # a real outside kill, wherever the indexer then is
    ("after-commit:97", "exactly 97 files newer"),  # inside a batch of writes
    ("before-flush:1", "all files current, FAISS behind"),  # no FAISS file yet: built from SQLite
    (None, "all files current"),
    ("mid-save:1", "all files current, FAISS behind, torn file"),  # the old FAISS file + changelog
    ("after-commit:150", "exactly 150 files newer"),  # the last of this round's edits
]


def _tree(root: Path) -> None:
    for i in range(N_FILES):
        d = root / f"pkg{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        body = "\n".join(f"    value_{j} = {i} * {j}" for j in range(30))
        (d / f"mod{i:04d}.py").write_text(
            f"def uniquefn{i:04d}(x):\n{body}\n    return x\n\n\nclass Holder{i:04d}:\n    def get(self):\n        return {i}\n"
        )


def _index_cmd(root: Path, store: Path) -> list[str]:
    return [
        sys.executable, "-m", "tests.index.fault_runner", "index", str(root), "--store", str(store),
        "--model", "omnivec/fake", "--image-model", "none", "--screenshot-model", "none", "--json",
    ]  # fmt: skip


def _env(fault: str | None = None) -> dict[str, str]:
    """These sources (not an installed copy), this test's own cache, the fault to inject if any."""
    env = subprocess_env(OMP_NUM_THREADS="1")
    env.pop(FAULT_ENV, None)
    if fault:
        env[FAULT_ENV] = fault
    return env


def _check_consistent(store: Path) -> dict[str, tuple[str, int]]:
    """Open the store as `omnivec search` would and check it answers for every file it lists.

    Returns (content hash, chunks) per file; an empty dict when there is no index yet.
    """
    try:
        idx = Index.open(store)
    except StoreError as exc:
        assert "no omnivec index" in str(exc), exc  # killed before the index was first written
        return {}
    with idx:
        sources = idx.store.sources()
        for path, st in sources.items():
            assert st.status == "indexed", (path, st)
            assert st.chunks >= 2, (path, st)
            n = int(Path(path).stem[3:])
            hits = idx.search(f"uniquefn{n:04d}", k=1, mode="keyword")
            assert hits and hits[0].path == path, (path, hits)
        (coll,) = idx.store.collections()
        assert coll.count == sum(st.chunks for st in sources.values())
        pending = idx.store.pending_counts()[coll.name]
        query = np.random.default_rng(0).standard_normal(coll.dim).astype(np.float32)
        dense = idx.store.dense_search(coll.name, query / np.linalg.norm(query), 100_000)
        assert len(dense) == coll.count - pending  # FAISS (replayed if behind) agrees with SQLite
        waiting = idx.store.pending(coll.name, 100_000)
        assert len(waiting) == pending and not {r.id for r in waiting} & {i for i, _ in dense}
        records = idx.store.get([rid for rid, _ in dense] + [r.id for r in waiting])
        assert {r.source for r in records.values()} == set(sources)
        if dense:
            probe = next(iter(sources))
            hits = idx.search(f"uniquefn{int(Path(probe).stem[3:]):04d}", k=5, mode="dense")
            assert hits and all(h.path in sources for h in hits)
        return {p: (s.content_hash, s.chunks) for p, s in sources.items()}


def _faiss_behind(store: Path) -> bool:
    with LocalStore(store, writer=False) as s:
        (info,) = s.stats()["collections"].values()
        return bool(info["persisted_generation"] is None or info["persisted_generation"] < info["generation"])


def _committed(store: Path, before: dict[str, tuple[str, int]]) -> int:
    """Files whose new version is committed since `before` (0 while there is no store)."""
    try:
        with LocalStore(store, writer=False) as s:
            now = s.sources()
    except StoreError:
        return 0
    return sum(1 for p, st in now.items() if before.get(p, ("", 0))[0] != st.content_hash)


def _kill_on_progress(proc: subprocess.Popen[bytes], store: Path, before: dict, k: int) -> bool:
    """SIGKILL `proc` once `k` files of its run are committed; False if it ended first."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if _committed(store, before) >= k:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return proc.returncode == -signal.SIGKILL
        try:
            proc.wait(timeout=0.02)  # the poll interval, cut short if the process ends
        except subprocess.TimeoutExpired:
            continue
        return False
    proc.kill()
    raise AssertionError(f"fewer than {k} files committed after 300 s")


@pytest.mark.usefixtures("cold_cache")  # its own cache: every subprocess run starts from the same state
def test_kill_nine_at_named_points(tmp_path):
    root, store = tmp_path / "tree", tmp_path / "store"
    _tree(root)
    rng = random.Random(1234)
    before: dict[str, tuple[str, int]] = {}
    for rounds, (fault, expect) in enumerate(PLAN, 1):
        progress = int(fault.partition(":")[2]) if fault and fault.startswith("progress:") else None
        log = tmp_path / f"round{rounds}.log"  # a file, not a pipe: a chatty run cannot block on it
        with log.open("wb") as out:
            proc = subprocess.Popen(
                _index_cmd(root, store), stdout=out, stderr=subprocess.STDOUT,
                env=_env(None if progress is not None else fault),
            )  # fmt: skip
            if progress is not None:
                _kill_on_progress(proc, store, before, progress)
            else:
                proc.wait(timeout=300)
                want = 0 if fault is None else -signal.SIGKILL
                assert proc.returncode == want, (
                    f"{fault}: rc {proc.returncode}, not {want}\n{log.read_text()}"
                )
        after = _check_consistent(store)
        newer = sum(1 for p, v in after.items() if before.get(p) != v)
        if expect == "no index yet":
            assert after == {}
        elif expect.startswith("exactly"):
            assert newer == int(expect.split()[1]), (fault, newer)
        elif expect.startswith("all files current"):
            assert len(after) == N_FILES, (fault, len(after))
            assert _faiss_behind(store) == ("FAISS behind" in expect), fault
            assert bool(list(store.rglob("*.tmp"))) == ("torn file" in expect), fault
        assert set(before) <= set(after)  # nothing indexed before is lost
        before = after
        # edit half the files between runs so every run has real work to be killed in
        for i in rng.sample(range(N_FILES), EDITS):
            p = root / f"pkg{i % 7}" / f"mod{i:04d}.py"
            p.write_text(p.read_text() + f"\n# edit {rounds}\n")
    done = subprocess.run(_index_cmd(root, store), capture_output=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    resumed = _check_consistent(store)
    assert not _faiss_behind(store)
    assert not list(store.rglob("*.tmp"))  # the torn file was cleaned up
    clean_store = tmp_path / "clean"
    clean = subprocess.run(_index_cmd(root, clean_store), capture_output=True, env=_env(), timeout=300)
    assert clean.returncode == 0, clean.stderr.decode()
    assert resumed == _check_consistent(clean_store)
    assert len(resumed) == N_FILES


def _pending(store: Path) -> int:
    with LocalStore(store, writer=False) as s:
        return sum(s.pending_counts().values())


def _run(root: Path, store: Path, fault: str | None, counts: Path) -> subprocess.CompletedProcess[bytes]:
    env = _env(fault)
    env[COUNT_ENV] = str(counts)
    counts.unlink(missing_ok=True)
    return subprocess.run(_index_cmd(root, store), capture_output=True, env=env, timeout=300)


def _embedded(counts: Path) -> int:
    return sum(int(n) for n in counts.read_text().split()) if counts.exists() else 0


@pytest.mark.usefixtures("cold_cache")
def test_kill_nine_between_and_during_embedding_resumes_only_what_is_missing(tmp_path):
    root, store, counts = tmp_path / "tree", tmp_path / "store", tmp_path / "counts"
    _tree(root)
    chunks = 2 * N_FILES  # three embedding batches of PENDING_CHUNKS = 256

    # killed between the phases: every file keyword-searchable, nothing embedded, no model call
    run = _run(root, store, "before-embed:1", counts)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    assert len(_check_consistent(store)) == N_FILES and _pending(store) == chunks
    assert _embedded(counts) == 0

    # killed right after the first batch of vectors committed: that batch stays embedded
    run = _run(root, store, "after-vectors:1", counts)
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    missing = _pending(store)
    assert 0 < missing < chunks and len(_check_consistent(store)) == N_FILES
    assert _embedded(counts) == chunks - missing == 256  # one batch embedded, committed, then killed

    # the next run embeds exactly what is missing, and ends where a clean run ends
    run = _run(root, store, None, counts)
    assert run.returncode == 0, run.stderr.decode()
    assert _embedded(counts) == missing and _pending(store) == 0
    resumed = _check_consistent(store)
    clean_store = tmp_path / "clean"
    assert _run(root, clean_store, None, counts).returncode == 0
    assert resumed == _check_consistent(clean_store) and len(resumed) == N_FILES
