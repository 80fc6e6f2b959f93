"""Fusion of scored result lists: dense (cosine) and keyword (BM25) lists of one embedding space,
and the lists of different spaces (text, image, screenshot).

Within one space the default is **peak-weighted z-score fusion** (`zscore`): each list's scores
are standardised with the mean and standard deviation of its own top `depth` scores, each list is
weighted by the z of its own best hit (how far its head stands above the rest), and a document's
fused score is the weighted sum of its z-scores. A list whose best hit stands out (a page that
holds every query word, a function with the query's identifiers) carries the query; a list whose
head is flat (prose against BM25, code against a prose-trained model) moves little. The weight of
each side is thus chosen per query from the lists' own score distributions, with no per-set
setting and no parameter beyond `depth`. `zsum` is the plain sum of z-scores (equal weights). A
document missing from a list gets that list's floor: the last listed score, or `floor` when the
caller knows what an unlisted document scores (BM25: 0 once the list ended before `depth`).

Scores of different spaces are not comparable, so lists of collections searched with different
query vectors are fused by rank (`reciprocal_rank_fusion`); collections searched with one query
vector are one space, their lists merged by score before fusing (`Searcher._spaces`). Measured on
the dev sets in docs/results.md.

>>> fused = DEFAULT_FUSION.fuse([[("a", 0.71), ("b", 0.70), ("c", 0.52)], [("b", 9.0), ("c", 2.0)]])
>>> [f.id for f in fused], fused[0].parts
(['b', 'a', 'c'], (0.7, 9.0))
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar, get_args

import numpy as np

K = TypeVar("K", bound=Hashable)

RRF_K = 60  # the constant of Cormack et al. (2009); damps the head of each list
Z_DEPTH = 100  # scores per list that set its mean and spread (a fixed depth: same in search and eval)
FusionMethod = Literal["zscore", "zsum", "rrf"]
FUSION_METHODS: tuple[str, ...] = get_args(FusionMethod)

Scored = Sequence[tuple[K, float]]  # (id, score), best first


@dataclass(frozen=True)
class Fused(Generic[K]):
    """One fused document: its fused `score` and, per input list, the raw score it had there
    (None when that list did not hold it)."""

    id: K
    score: float
    parts: tuple[float | None, ...]


@dataclass(frozen=True)
class FusedRows:
    """`Fusion.fuse_rows`' result: integer keys (a store's row numbers) as arrays, best first.

    `parts[i, j]` is the raw score row `rows[i]` had in list j (NaN: that list did not hold it).
    `ties_open`: rows of equal score are in row order, and a caller that wants `Fusion.fuse`'s
    order (ties by id) must sort each run of equal scores by id; False when the order is final
    (a single list, passed through as it came).
    """

    rows: np.ndarray
    scores: np.ndarray
    parts: np.ndarray
    ties_open: bool

    def parts_of(self, i: int) -> tuple[float | None, ...]:
        """The raw scores of the i-th row per list, as `Fused.parts` has them (None: not held)."""
        return tuple(None if math.isnan(p) else p for p in self.parts[i].tolist())


@dataclass(frozen=True)
class Fusion:
    """How dense and keyword lists of one space are fused (see the module docstring).

    `method`: `zscore` (default: peak-weighted), `zsum` or `rrf`; `depth`: the scores per list
    behind the z statistics;
    `rrf_k`: RRF's constant. A single non-empty list is returned as it is, raw scores kept.
    """

    method: FusionMethod = "zscore"
    depth: int = Z_DEPTH
    rrf_k: int = RRF_K

    def __post_init__(self) -> None:
        from omnivec.errors import InputError

        if self.method not in FUSION_METHODS:
            raise InputError(
                f"fusion {self.method!r}",
                " or ".join(FUSION_METHODS),
                "use zscore (the default; --fusion on the command line)",
            )
        if self.depth < 2 or self.rrf_k < 0:
            raise InputError(
                f"depth={self.depth}, rrf_k={self.rrf_k}", "depth >= 2, rrf_k >= 0", "keep the defaults"
            )

    def fuse(
        self,
        runs: Sequence[Scored[K]],
        weights: Sequence[float] | None = None,
        floors: Sequence[float | None] | None = None,
    ) -> list[Fused[K]]:
        """Fuse scored lists (each best first) into one, best first; ties by id.

        `weights` scale each list's contribution (default 1 each); `floors` give the score of a
        document a list does not hold (None: its last listed score).
        """
        # one implementation: the ids become integer keys (in order of first appearance) for
        # `fuse_rows`, and its open ties are put in id order
        keys: dict[K, int] = {}
        for r in runs:
            for d, _ in r:
                keys.setdefault(d, len(keys))
        ids = list(keys)
        fused = self.fuse_rows(
            [
                (np.array([keys[d] for d, _ in r], np.int64), np.array([float(sc) for _, sc in r]))
                for r in runs
            ],
            weights,
            floors,
        )
        out = [
            Fused(ids[row], float(score), tuple(None if math.isnan(p) else float(p) for p in parts))
            for row, score, parts in zip(fused.rows.tolist(), fused.scores.tolist(), fused.parts.tolist())
        ]
        if fused.ties_open:
            out.sort(key=lambda f: (-f.score, str(f.id)))
        return out

    def fuse_rows(
        self,
        runs: Sequence[tuple[np.ndarray, np.ndarray]],
        weights: Sequence[float] | None = None,
        floors: Sequence[float | None] | None = None,
    ) -> FusedRows:
        """`fuse` over integer keys held as arrays, (rows, scores) per list, best first: the same
        fused scores and parts, in the same floating-point steps (equal to the bit), without a
        Python object per document. Runs of equal score stay in row order (`ties_open`).
        """
        weights = _check_len(list(weights) if weights is not None else [1.0] * len(runs), runs, "weights")
        floors = _check_len(list(floors) if floors is not None else [None] * len(runs), runs, "floors")
        arrays = [
            (np.asarray(r, np.int64).reshape(-1), np.asarray(s, np.float64).reshape(-1)) for r, s in runs
        ]
        if not arrays:
            return FusedRows(np.zeros(0, np.int64), np.zeros(0), np.zeros((0, 0)), ties_open=False)
        live = [i for i, (r, _) in enumerate(arrays) if len(r) and weights[i] > 0]
        if len(live) == 1:  # nothing to fuse: the list as it came, raw scores kept
            rows, scores = arrays[live[0]]
            parts = np.full((len(rows), len(arrays)), np.nan)
            parts[:, live[0]] = scores
            return FusedRows(rows, scores, parts, ties_open=False)
        if self.method == "rrf":
            contrib = [1.0 / (self.rrf_k + np.arange(1, len(r) + 1, dtype=np.float64)) for r, _ in arrays]
            lows = [0.0] * len(arrays)
        else:
            stats = [_z_stats(s.tolist(), self.depth, f) for (_, s), f in zip(arrays, floors)]
            contrib = [(s - mean) / sd for (_, s), (mean, sd, _) in zip(arrays, stats)]
            lows = [st[2] for st in stats]
        rows, inverse = np.unique(np.concatenate([r for r, _ in arrays]), return_inverse=True)
        where = np.split(inverse.reshape(-1), np.cumsum([len(r) for r, _ in arrays])[:-1])
        raw = [s for _, s in arrays]
        for j, at in enumerate(where):  # a key listed twice counts with its last entry, as in `fuse`
            if len(at) and np.bincount(at).max() > 1:
                keep = _last_positions(at)
                where[j], raw[j], contrib[j] = at[keep], raw[j][keep], contrib[j][keep]
        if self.method == "zscore":
            weights = _peak_weights(weights, [float(c.max()) if len(c) else 0.0 for c in contrib])
        total = np.zeros(len(rows))
        parts = np.full((len(rows), len(arrays)), np.nan)
        for j, (s, c, w, lo, at) in enumerate(zip(raw, contrib, weights, lows, where)):
            parts[at, j] = s
            if w > 0:  # same steps as `fuse`: 0 + w0 * z0 + w1 * z1, an absent key at the list's low
                col = np.full(len(rows), lo)
                col[at] = c
                total = total + w * col
        order = np.argsort(-total, kind="stable")  # `rows` is sorted: ties come in row order
        return FusedRows(rows[order], total[order], parts[order], ties_open=True)

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings, for result files."""
        if self.method == "rrf":
            return {"fusion": "rrf", "rrf_k": self.rrf_k}
        weighting = "z of each list's best hit" if self.method == "zscore" else "equal"
        return {
            "fusion": self.method, "depth": self.depth, "list_weights": weighting,
            "missing": "the list's floor (last listed score; BM25 0 when its list ended early)",
        }  # fmt: skip


DEFAULT_FUSION = Fusion()


def _check_len(values: list[Any], runs: Sequence[Any], what: str) -> list[Any]:
    if len(values) != len(runs):
        raise ValueError(f"{len(values)} {what} for {len(runs)} runs")
    return values


def _peak_weights(weights: Sequence[float], peaks: Sequence[float]) -> list[float]:
    """Each caller weight times the z of that list's best hit (`peaks`); the caller's weights
    alone when no list stands out at all (every list flat)."""
    out = [w * max(p, 0.0) for w, p in zip(weights, peaks)]
    total, given = sum(out), sum(weights)
    if total <= 0:
        return list(weights)
    return [given * w / total for w in out]  # same sum as the caller's: scores keep their scale


def _last_positions(keys: np.ndarray) -> np.ndarray:
    """Positions of each key's last entry, in list order."""
    _, first_from_end = np.unique(keys[::-1], return_index=True)
    return np.sort(len(keys) - 1 - first_from_end)


def _z_stats(scores: Sequence[float], depth: int, floor: float | None) -> tuple[float, float, float]:
    """(mean, spread, z of an unlisted document) over the list's top `depth` scores; a list
    shorter than `depth` with a known `floor` counts its unlisted documents at the floor.
    Without a floor, an unlisted document scores as the last listed one (it ranked no higher)."""
    head = [float(s) for s in scores[:depth]]
    if not head:
        return 0.0, 1.0, 0.0
    low = floor if floor is not None else float(scores[-1])
    if floor is not None and len(head) < depth:
        head += [floor] * (depth - len(head))
    mean = math.fsum(head) / len(head)
    sd = math.sqrt(math.fsum((s - mean) ** 2 for s in head) / len(head))
    sd = sd if sd > 1e-9 else 1.0  # every score equal: the list orders nothing
    return mean, sd, (low - mean) / sd


def reciprocal_rank_fusion(
    runs: Sequence[Sequence[K]], weights: Sequence[float] | None = None, k: int = RRF_K
) -> list[tuple[K, float]]:
    """Fuse ranked id lists: score(d) = sum_i w_i / (k + rank_i(d)), ranks from 1. Best first.

    For lists whose scores are not comparable (different embedding spaces).

    >>> reciprocal_rank_fusion([["a", "b"], ["b", "c"]])[0][0]
    'b'
    """
    weights = weights or [1.0] * len(runs)
    if len(weights) != len(runs):
        raise ValueError(f"{len(weights)} weights for {len(runs)} runs")
    scores: dict[K, float] = {}
    for run, w in zip(runs, weights):
        for rank, doc in enumerate(run, 1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], str(kv[0])))
