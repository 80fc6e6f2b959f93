"""A resumable writer for the kill -9 test: `python -m tests.stores.crash_writer ROOT N [IVF_MIN [HNSW_MIN]]`.

It indexes sources s0000..s{N-1} into two collections, skipping those already indexed, with some
churn (re-writes with another version, removals) and a short flush interval, so a SIGKILL can
land inside a SQLite transaction, between a commit and a FAISS write, or inside a FAISS write.
A source's content hash names its version and record counts, so a checker can tell exactly which
records must exist for every source the store lists. IVF_MIN lowers both index thresholds
(`ivf_min`, `sq_min`), so the text collection's dense file becomes ivf-sq8 (and is retrained as
it grows) while the writer is being killed. HNSW_MIN turns it into an hnsw graph past that size,
whose removals are tombstones (and a rebuild once they pass their share) while killed.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omnivec.stores import LocalStore, Record, SourceState
from tests.stores.helpers import unit

TEXT_DIM, IMAGE_DIM = 16, 8


def content_hash(src: str, version: int) -> str:
    n_text, n_image = 1 + (hash_int(src) + version) % 6, (hash_int(src) + version) % 3 == 0
    return f"{src}|v{version}|{n_text}|{int(n_image)}"


def hash_int(src: str) -> int:
    return int(src[1:])


def expected(content: str) -> dict[str, list[str]]:
    """Record ids per collection that a source with this content hash must have."""
    src, version, n_text, n_image = content.split("|")
    return {
        "text": [f"{src}#{i}:{version}" for i in range(int(n_text))],
        "images": [f"img:{src}:{version}"] * int(n_image),
    }


def write(store: LocalStore, src: str, version: int) -> None:
    content = content_hash(src, version)
    ids = expected(content)
    by_coll = {
        "text": [
            Record(i, src, unit(i, TEXT_DIM), f"chunk {i} of {src} word{version}", {"path": src})
            for i in ids["text"]
        ],
        "images": [
            Record(i, src, unit(i, IMAGE_DIM), "image", {"path": src, "kind": "image"}) for i in ids["images"]
        ],
    }
    total = sum(len(v) for v in by_coll.values())
    store.replace_source_all(SourceState(src, content, 10, 1, total, "indexed"), by_coll)


def main(
    root: Path, n: int, ivf_min: int | None = None, hnsw_min: int | None = None, proj_min: int | None = None
) -> None:
    sizes = {} if ivf_min is None else {"ivf_min": ivf_min, "sq_min": ivf_min}
    if hnsw_min:  # 0: no graph (so a proj_min can follow)
        sizes["hnsw_min"] = hnsw_min
    if proj_min is not None:
        sizes["proj_min"] = proj_min
    store = LocalStore(root, writer=True, flush_interval=0.2, **sizes)
    store.ensure_collection("text", model="fake", fingerprint="t", dim=TEXT_DIM, recipe={"d": TEXT_DIM})
    store.ensure_collection("images", model="fake", fingerprint="i", dim=IMAGE_DIM, recipe={"d": IMAGE_DIM})
    done = store.sources()
    for i in range(n):
        src = f"s{i:04d}"
        if src in done:
            continue
        write(store, src, 1)
        if i % 10 == 9:
            write(store, f"s{i - 3:04d}", 2)  # an edited file: different record counts
        if i % 25 == 24:
            store.remove_source(f"s{i - 10:04d}")
        print(i, flush=True)
    store.close()


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]), *(int(a) for a in sys.argv[3:6]))
