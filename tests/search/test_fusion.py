"""Fusion: z-scores within a space, ranks across spaces; the raw scores travel with each id."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from omnivec.errors import InputError
from omnivec.search.fusion import DEFAULT_FUSION, Fusion, reciprocal_rank_fusion


def zs(scores: list[float]) -> list[float]:
    mean = sum(scores) / len(scores)
    sd = math.sqrt(sum((s - mean) ** 2 for s in scores) / len(scores))
    return [(s - mean) / sd for s in scores]


def test_zsum_fusion_is_the_sum_of_standardised_scores() -> None:
    dense = [("a", 0.8), ("b", 0.6), ("c", 0.5)]
    keyword = [("c", 12.0), ("a", 3.0), ("b", 1.0)]
    zsum = Fusion("zsum")
    fused = {f.id: f.score for f in zsum.fuse([dense, keyword])}
    zd, zk = zs([0.8, 0.6, 0.5]), zs([12.0, 3.0, 1.0])
    assert fused["a"] == pytest.approx(zd[0] + zk[1])
    assert fused["c"] == pytest.approx(zd[2] + zk[0])
    weighted = {f.id: f.score for f in zsum.fuse([dense, keyword], [1.0, 0.5])}
    assert weighted["c"] == pytest.approx(zd[2] + 0.5 * zk[0])


def test_zscore_weights_each_list_by_the_z_of_its_best_hit() -> None:
    dense = [("a", 0.8), ("b", 0.6), ("c", 0.5)]
    keyword = [("c", 12.0), ("a", 3.0), ("b", 1.0)]
    zd, zk = zs([0.8, 0.6, 0.5]), zs([12.0, 3.0, 1.0])
    for given in ([1.0, 1.0], [1.0, 0.5]):
        wd, wk = given[0] * zd[0], given[1] * zk[0]
        scale = sum(given) / (wd + wk)  # the weights keep the caller's sum
        fused = {f.id: f.score for f in DEFAULT_FUSION.fuse([dense, keyword], given)}
        assert fused["a"] == pytest.approx(scale * (wd * zd[0] + wk * zk[1]))
        assert fused["c"] == pytest.approx(scale * (wd * zd[2] + wk * zk[0]))
    # every list flat: the caller's weights stand
    flat = DEFAULT_FUSION.fuse([[("a", 1.0), ("b", 1.0)], [("b", 2.0), ("a", 2.0)]])
    assert [f.score for f in flat] == [0.0, 0.0]


def test_a_peaked_list_carries_the_query_and_a_flat_one_does_not() -> None:
    # dense is flat (every cosine close), keyword has one standout: the standout wins
    dense = [(f"d{i}", 0.60 - 0.001 * i) for i in range(50)] + [("hit", 0.549)]
    keyword = [("hit", 30.0)] + [(f"d{i}", 5.0 - 0.01 * i) for i in range(50)]
    assert DEFAULT_FUSION.fuse([dense, keyword])[0].id == "hit"
    # plain RRF cannot tell: it puts dense's first, listed high in both, on top
    assert Fusion("rrf").fuse([dense, keyword])[0].id == "d0"


def test_missing_documents_get_the_lists_floor_and_parts_say_where_scores_came_from() -> None:
    dense = [("a", 0.9), ("b", 0.5), ("c", 0.4)]
    keyword = [("z", 7.0), ("a", 2.0)]
    zsum = Fusion("zsum")  # equal list weights keep the arithmetic plain
    fused = {f.id: f for f in zsum.fuse([dense, keyword])}
    assert fused["z"].parts == (None, 7.0) and fused["b"].parts == (0.5, None)
    zd = zs([0.9, 0.5, 0.4])
    # z is missing from dense: it scores as dense's last listed document, "c"
    assert fused["z"].score == pytest.approx(zd[2] + 1.0)  # keyword z of 7 in [7, 2] is +1
    # b and c are missing from keyword: they score as its last listed document (z -1)
    assert fused["c"].score == pytest.approx(zd[2] - 1.0)
    # a known floor (BM25 of a document sharing no term: 0) pads the statistics to `depth`
    short = Fusion("zsum", depth=4).fuse([dense, keyword], floors=[None, 0.0])
    zk = zs([7.0, 2.0, 0.0, 0.0])
    by_id = {f.id: f.score for f in short}
    assert by_id["b"] == pytest.approx(zs([0.9, 0.5, 0.4])[1] + zk[2])


def test_a_single_list_keeps_its_raw_scores() -> None:
    dense = [("a", 0.71), ("b", 0.42)]
    for runs in ([dense], [dense, []]):
        out = DEFAULT_FUSION.fuse(runs)
        assert [(f.id, f.score) for f in out] == dense
    out = DEFAULT_FUSION.fuse([dense, [("c", 3.0)]], weights=[1.0, 0.0])
    assert [(f.id, f.score, f.parts) for f in out] == [("a", 0.71, (0.71, None)), ("b", 0.42, (0.42, None))]


def test_equal_scores_and_ties_are_deterministic() -> None:
    flat = [("b", 1.0), ("a", 1.0)]
    out = DEFAULT_FUSION.fuse([flat, [("c", 1.0), ("a", 1.0)]])
    assert [f.id for f in out] == ["a", "b", "c"]  # all z are 0; "a" is listed twice, ties by id
    assert all(math.isfinite(f.score) for f in out)


def test_rrf_method_matches_reciprocal_rank_fusion() -> None:
    rng = random.Random(3)
    ids = [f"d{i}" for i in range(30)]
    runs = [[(d, rng.random()) for d in rng.sample(ids, 20)] for _ in range(2)]
    runs = [sorted(r, key=lambda kv: -kv[1]) for r in runs]
    ours = [(f.id, f.score) for f in Fusion("rrf").fuse(runs, [1.0, 2.0])]
    ref = reciprocal_rank_fusion([[d for d, _ in r] for r in runs], [1.0, 2.0])
    assert [d for d, _ in ours] == [d for d, _ in ref]
    assert [s for _, s in ours] == pytest.approx([s for _, s in ref])


def test_settings_are_checked_and_described() -> None:
    with pytest.raises(InputError):
        Fusion("max")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        Fusion(depth=1)
    with pytest.raises(ValueError):
        DEFAULT_FUSION.fuse([[("a", 1.0)]], weights=[1.0, 1.0])
    assert DEFAULT_FUSION.describe()["fusion"] == "zscore" and DEFAULT_FUSION.describe()["depth"] == 100
    assert Fusion("rrf").describe() == {"fusion": "rrf", "rrf_k": 60}


def _rows_in_fuse_order(fusion: Fusion, runs, weights=None, floors=None) -> list[tuple[int, float, tuple]]:
    """`fuse_rows`, with its open ties put in `fuse`'s order (by str of the key)."""
    got = fusion.fuse_rows(
        [(np.array([d for d, _ in r], np.int64), np.array([s for _, s in r])) for r in runs], weights, floors
    )
    out = [(int(d), float(s), got.parts_of(i)) for i, (d, s) in enumerate(zip(got.rows, got.scores))]
    return sorted(out, key=lambda t: (-t[1], str(t[0]))) if got.ties_open else out


def _random_runs(rng: random.Random, ties: bool) -> list[list[tuple[int, float]]]:
    pool = rng.sample(range(1, 400), 150)
    runs = []
    for _ in range(2):
        n = rng.choice([0, 1, 2, 5, 60, 120])
        # coarse scores make exact ties, within and across lists (so equal fused scores too)
        draw = (lambda: float(rng.randint(0, 6))) if ties else (lambda: rng.gauss(0.0, 3.0))
        run = [(d, draw()) for d in rng.sample(pool, n)]
        if rng.random() < 0.2 and run:  # a key listed twice: `fuse` keeps its last entry
            run.append((run[0][0], draw()))
        runs.append(sorted(run, key=lambda kv: -kv[1]))
    return runs


@pytest.mark.parametrize("method", ["zscore", "zsum", "rrf"])
def test_fuse_rows_is_fuse_to_the_bit(method: str) -> None:
    rng = random.Random(11)
    for trial in range(300):
        fusion = Fusion(method, depth=rng.choice([2, 10, 100]))  # type: ignore[arg-type]
        runs = _random_runs(rng, ties=trial % 2 == 0)
        weights = rng.choice([None, [1.0, 1.0], [1.0, 0.0], [0.0, 2.0], [0.3, 1.7]])
        floors = rng.choice([None, [None, 0.0], [0.5, None]])
        ref = [(f.id, f.score, f.parts) for f in fusion.fuse(runs, weights, floors)]
        assert _rows_in_fuse_order(fusion, runs, weights, floors) == ref  # same order, same floats


def test_fuse_rows_leaves_ties_in_row_order_and_passes_one_list_through() -> None:
    got = DEFAULT_FUSION.fuse_rows(
        [(np.array([9, 3]), np.array([1.0, 1.0])), (np.array([10, 3]), np.array([1.0, 1.0]))]
    )
    assert got.rows.tolist() == [3, 9, 10] and got.ties_open  # `fuse` would say 10, 3, 9 (by str)
    one = DEFAULT_FUSION.fuse_rows(
        [(np.array([5, 2]), np.array([0.7, 0.7])), (np.array([], np.int64), np.array([]))]
    )
    assert (one.rows.tolist(), one.scores.tolist(), one.ties_open) == ([5, 2], [0.7, 0.7], False)
    assert one.parts_of(0) == (0.7, None)
