"""Paired bootstrap confidence intervals for the difference of two systems on the same queries.

The queries are resampled with replacement; each resample's mean difference (`b - a`) is one
draw; the interval is the percentile interval of the draws (Efron & Tibshirani 1993; Sakai 2014
for IR). Pure and seeded: the same inputs give the same interval.

>>> d = paired_bootstrap({"q1": 0.2, "q2": 0.5}, {"q1": 0.4, "q2": 0.6}, resamples=200)
>>> round(d.delta, 3), d.low > 0
(0.15, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Difference:
    """`delta` = mean(b) - mean(a) over the shared queries; `low`/`high` its `level` interval;
    `p_not_better`: the share of resamples where b did not beat a (a one-sided bootstrap p)."""

    delta: float
    low: float
    high: float
    level: float
    n: int
    p_not_better: float

    def __str__(self) -> str:
        return f"{self.delta:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def paired_bootstrap(
    a: Mapping[str, float],
    b: Mapping[str, float],
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Difference:
    """Bootstrap the mean per-query difference `b - a` over the queries both score.

    `a` and `b` map query id -> a per-query metric (e.g. nDCG@10 from `metrics.evaluate_run`).
    Raises ValueError when they share no query, or for a level outside (0, 1).
    """
    if not 0 < level < 1 or resamples < 1:
        raise ValueError(f"level {level} must lie in (0, 1) and resamples {resamples} be >= 1")
    shared = sorted(set(a) & set(b))
    if not shared:
        raise ValueError("the two systems share no scored query")
    diff = np.array([b[q] - a[q] for q in shared], dtype=np.float64)
    rng = np.random.default_rng(seed)
    draws = np.empty(resamples, dtype=np.float64)
    for lo in range(0, resamples, 256):  # bounded memory: 256 resamples x n queries at a time
        m = min(256, resamples - lo)
        idx = rng.integers(0, len(diff), size=(m, len(diff)))
        draws[lo : lo + m] = diff[idx].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(draws, [tail, 1 - tail])
    return Difference(
        float(diff.mean()), float(low), float(high), level, len(shared), float(np.mean(draws <= 0))
    )
