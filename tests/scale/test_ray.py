"""`--engine ray`: the same index as the in-process path (ids, vectors to 1e-5, run summary)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from omnivec.api import Index

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="no ray extra")


def _index(repo: Path, store: Path, engine=None) -> tuple[dict, dict]:
    with Index.create(repo, store, text_model="omnivec/fake", image_model=None, screenshot_model=None) as idx:
        report = idx.update(use_cache=False, engine=engine).as_dict()
        records = idx.store.get(all_ids(idx.store), with_vectors=True)
    report.pop("seconds")
    report.pop("searchable_after")  # a time, like `seconds`
    return report, {i: r.vector for i, r in records.items()}


def all_ids(store) -> list[str]:
    """Every record id of the text collection (a dense search with k above the count)."""
    (info,) = store.collections()
    query = np.ones(info.dim, np.float32) / np.sqrt(info.dim)
    return [i for i, _ in store.dense_search(info.name, query, info.count + 1)]


def test_ray_engine_matches_the_local_path(repo: Path, tmp_path: Path) -> None:
    from omnivec.index.ray_engine import RayEngine

    local_report, local = _index(repo, tmp_path / "local")
    # two actors on a local cluster, batches small enough that both get work
    with RayEngine(actors=2, batch_size=32) as engine:
        ray_report, remote = _index(repo, tmp_path / "ray", engine)
        assert engine.actors == 2
    assert ray_report == local_report
    assert local_report["chunks"] == len(local) >= 300
    assert sorted(remote) == sorted(local)
    for rid, vec in local.items():
        np.testing.assert_allclose(remote[rid], vec, atol=1e-5)
