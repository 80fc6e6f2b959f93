"""`kill -9` an indexing process at random moments; the store must always open, answer
consistently, and a resumed run must end exactly where a clean run ends."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from omnivec.api import Index

N_FILES = 600


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
        sys.executable, "-m", "omnivec", "index", str(root), "--store", str(store), "--model", "omnivec/fake",
        "--image-model", "none", "--screenshot-model", "none", "--json",
    ]  # fmt: skip


def _check_consistent(store: Path) -> dict[str, tuple[str, int]]:
    with Index.open(store) as idx:
        sources = idx.store.sources()
        for path, st in sources.items():
            if st.status != "indexed":
                continue
            assert st.chunks >= 2, (path, st)
            n = int(Path(path).stem[3:])
            hits = idx.search(f"uniquefn{n:04d}", k=1, mode="keyword")
            assert hits and hits[0].path == path, (path, hits)
        if sources:
            probe = next(iter(sources))
            dense = idx.search(f"uniquefn{int(Path(probe).stem[3:]):04d}", k=5, mode="dense")
            assert all(h.path in sources for h in dense)
        return {p: (s.content_hash, s.chunks) for p, s in sources.items()}


def test_kill_nine_at_random_points(tmp_path):
    root, store = tmp_path / "tree", tmp_path / "store"
    _tree(root)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # calibrate on this machine: how long a full run takes, start-up included
    t0 = time.time()
    subprocess.run(_index_cmd(root, tmp_path / "calibration"), capture_output=True, env=env, check=True)
    full = time.time() - t0
    rng = random.Random(1234)
    kills, rounds = 0, 0
    while kills < 6 and rounds < 12:
        rounds += 1
        proc = subprocess.Popen(
            _index_cmd(root, store), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        time.sleep(rng.uniform(0.3, 0.95) * full)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        _check_consistent(store)
        # edit half the files between runs so every run has real work to be killed in
        for i in rng.sample(range(N_FILES), N_FILES // 2):
            p = root / f"pkg{i % 7}" / f"mod{i:04d}.py"
            p.write_text(p.read_text() + f"\n# edit {rounds}\n")
    assert kills >= 2, f"only {kills} of {rounds} runs were still going when killed"
    done = subprocess.run(_index_cmd(root, store), capture_output=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    resumed = _check_consistent(store)
    clean_store = tmp_path / "clean"
    subprocess.run(_index_cmd(root, clean_store), capture_output=True, env=env, timeout=120, check=True)
    assert resumed == _check_consistent(clean_store)
    assert len(resumed) == N_FILES
