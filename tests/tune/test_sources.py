"""Candidates and hard negatives come from the store (the fake encoder: no model is the point)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from omnivec.api import Index
from omnivec.errors import InputError
from omnivec.stores.base import Record
from omnivec.tune.pairs import attach_negatives, mine_pairs, render_like
from omnivec.tune.run import relative_prefixes
from omnivec.tune.sources import (
    _whole_functions,
    file_candidates,
    store_candidates,
    store_neighbours,
    store_records,
    under,
)


@pytest.fixture
def fake_index(repo: Path, tmp_path: Path):
    with Index.create(
        repo, tmp_path / "store", text_model="omnivec/fake", image_model=None, screenshot_model=None
    ) as idx:
        idx.update()
        yield idx


def test_only_functions_under_from_are_candidates(fake_index):
    everything = store_records(fake_index.store)
    chosen = store_records(fake_index.store, ("src",))
    assert {r.fields["path"] for r in everything} == {"src/docs.py", "src/long.py", "other/elsewhere.py"}
    assert {r.fields["path"] for r in chosen} == {"src/docs.py", "src/long.py"}
    assert len(chosen) == 8
    cands, vectors = store_candidates(fake_index.store, ("src",))
    assert len(cands) == 8 and set(vectors) == {c.id for c in cands}
    pairs = mine_pairs(cands)
    assert pairs and all("outside" not in p.anchor + p.positive for p in pairs)
    assert {p.kind for p in pairs} == {"docstring", "halves"}


def test_store_hard_negatives_are_other_functions_of_the_pool(fake_index):
    cands, vectors = store_candidates(fake_index.store, ("src",))
    by_id = {c.id: c for c in cands}
    pairs = mine_pairs(cands)
    out = attach_negatives(
        pairs, store_neighbours(fake_index.store, vectors), lambda n, p: render_like(by_id[n], p.kind)
    )
    assert all(p.negative for p in out)
    for p in out:
        assert p.negative_id != p.source_id and p.negative_id in by_id and p.negative != p.positive


def test_file_candidates_match_the_indexer_chunks(repo: Path):
    cands = file_candidates(repo, sorted((repo / "src").glob("*.py")))
    assert len(cands) == 8 and all(c.path.startswith("src/") for c in cands)


def test_from_paths_must_lie_inside_the_root(repo: Path, tmp_path: Path):
    assert relative_prefixes(repo.resolve(), [str(repo / "src")]) == ("src",)
    with pytest.raises(InputError, match="inside the indexed root"):
        relative_prefixes(repo.resolve(), [str(tmp_path)])
    with pytest.raises(InputError, match="does not exist"):
        relative_prefixes(repo.resolve(), [str(repo / "nope")])
    assert under("src/a.py", ("src",)) and not under("srcx/a.py", ("src",)) and under("x.py", ())


def test_pieces_of_a_split_function_are_joined_again():
    def rec(i: int, start: int, end: int, part: bool, symbol: str = "f") -> Record:
        fields = {"path": "a.py", "symbol": symbol, "start_line": start, "end_line": end, "part": part}
        return Record(f"r{i}", "a.py", np.zeros(2), "", {**fields, "display": f"line{start}"})

    records = [rec(0, 1, 3, False, "g"), rec(1, 5, 9, True), rec(2, 10, 14, True), rec(3, 20, 30, True, "h")]
    assert [[r.id for r in g] for g in _whole_functions(records)] == [["r0"], ["r1", "r2"], ["r3"]]
