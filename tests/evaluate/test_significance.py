"""Paired bootstrap: the interval holds the true mean difference, is reproducible, and is paired."""

from __future__ import annotations

import numpy as np
import pytest

from omnivec.evaluate.significance import paired_bootstrap


def test_interval_of_a_clear_gain_and_of_no_gain() -> None:
    rng = np.random.default_rng(1)
    base = {f"q{i}": float(x) for i, x in enumerate(rng.uniform(0, 1, 500))}
    better = {q: min(1.0, s + 0.05 + float(rng.normal(0, 0.02))) for q, s in base.items()}
    d = paired_bootstrap(base, better)
    assert d.low < d.delta < d.high and d.low > 0 and d.p_not_better < 0.01
    same = paired_bootstrap(base, dict(base))
    assert same.delta == same.low == same.high == 0.0 and same.p_not_better == 1.0


def test_pairing_makes_a_small_consistent_gain_significant() -> None:
    # per-query scores vary a lot, but b beats a on every query by 0.01: only a paired test sees it
    rng = np.random.default_rng(2)
    a = {f"q{i}": float(x) for i, x in enumerate(rng.uniform(0, 1, 300))}
    b = {q: s + 0.01 for q, s in a.items()}
    d = paired_bootstrap(a, b)
    assert d.delta == pytest.approx(0.01) and d.low == pytest.approx(0.01) and d.high == pytest.approx(0.01)


def test_matches_a_plain_percentile_bootstrap_and_is_seeded() -> None:
    rng = np.random.default_rng(3)
    a = {f"q{i}": float(x) for i, x in enumerate(rng.uniform(0, 1, 200))}
    b = {q: float(x) for q, x in zip(a, rng.uniform(0, 1, 200))}
    d = paired_bootstrap(a, b, resamples=4000, seed=7)
    assert d == paired_bootstrap(a, b, resamples=4000, seed=7)
    diff = np.array([b[q] - a[q] for q in sorted(a)])
    ref = np.random.default_rng(11)
    draws = [diff[ref.integers(0, len(diff), len(diff))].mean() for _ in range(4000)]
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert d.low == pytest.approx(lo, abs=0.01) and d.high == pytest.approx(hi, abs=0.01)
    assert d.n == 200 and str(d).startswith(("+", "-"))


def test_only_shared_queries_count_and_bad_input_is_refused() -> None:
    d = paired_bootstrap({"q1": 0.0, "q2": 1.0}, {"q1": 1.0, "q3": 0.0})
    assert d.n == 1 and d.delta == 1.0
    with pytest.raises(ValueError):
        paired_bootstrap({"q1": 1.0}, {"q2": 1.0})
    with pytest.raises(ValueError):
        paired_bootstrap({"q1": 1.0}, {"q1": 1.0}, level=1.0)
