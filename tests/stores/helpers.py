"""Deterministic records and states for store tests."""

from __future__ import annotations

import hashlib

import numpy as np

from omnivec.stores import Record, SourceState

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
