"""Deterministic records and states for store tests."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from omnivec.stores import LocalStore, Record, SourceState

DIM = 16
RECIPE = {"family": "fake", "dim": DIM, "max_length": 512, "pooling": "mean", "options": {"size": 32}}


def unit(seed: int | str, dim: int = DIM) -> np.ndarray:
    """A reproducible random unit vector for any seed."""
    digest = hashlib.blake2b(str(seed).encode(), digest_size=8).digest()
    v = np.random.default_rng(int.from_bytes(digest, "little")).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def record(source: str, i: int, *, text: str = "", kind: str = "code", language: str = "python",
           version: str = "v1", dim: int = DIM, prefix: str = "") -> Record:  # fmt: skip
    rid = f"{prefix}{source}#{i}:{version}"
    return Record(
        id=rid, source=source, vector=unit(rid, dim), text=text or f"chunk {i} of {source}",
        fields={"path": source, "kind": kind, "language": language, "start_line": i, "end_line": i + 1},
    )  # fmt: skip


def records(source: str, n: int, **kw) -> list[Record]:
    return [record(source, i, **kw) for i in range(n)]


def state(
    source: str, n: int = 0, *, version: str = "v1", mtime_ns: int = 1, status: str = "indexed"
) -> SourceState:
    return SourceState(source, f"hash-{source}-{version}", 100, mtime_ns, n, status)


def brute_force(vectors: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    ids = sorted(vectors)
    scores = np.array([vectors[i] @ query for i in ids])
    return [ids[j] for j in np.argsort(-scores, kind="stable")[:k]]


def open_writer(root: Path, **kw) -> LocalStore:
    """A writer with the "code" collection the store tests use."""
    s = LocalStore(root, writer=True, **kw)
    s.ensure_collection("code", model="fake-model", fingerprint="fp1", dim=DIM, recipe=RECIPE)
    return s


def fill(store: LocalStore, sources: range, n: int = 5, **kw) -> dict[str, np.ndarray]:
    """`n` records for each of the files f{s}.py; their vectors by id."""
    vectors = {}
    for s in sources:
        recs = records(f"f{s}.py", n, **kw)
        store.replace_source("code", state(f"f{s}.py", n), recs)
        vectors.update({r.id: r.vector for r in recs})
    return vectors


def clustered(n: int, dim: int, queries: int = 30) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Clustered unit vectors (like embeddings, unlike uniform noise), rowids with gaps, and
    queries near the data: what the dense index kinds' tests search."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((40, dim)).astype(np.float32)
    xb = centres[rng.integers(0, 40, n)] + 0.6 * rng.standard_normal((n, dim)).astype(np.float32)
    xb /= np.linalg.norm(xb, axis=1, keepdims=True)
    xq = xb[rng.integers(0, n, queries)] + 0.3 * rng.standard_normal((queries, dim)).astype(np.float32)
    xq /= np.linalg.norm(xq, axis=1, keepdims=True)
    return xb, 7 + 3 * np.arange(n, dtype=np.int64), xq
