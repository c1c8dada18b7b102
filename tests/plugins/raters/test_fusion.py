"""Alignment and fusion, and progressive selection, on hand-made scores.

The scores have known structure (raters that agree, one that contradicts
them, an exact copy).
"""

from __future__ import annotations

import numpy as np
import pytest

from reasonloop.plugins.raters.fusion import (
    fuse,
    pool_sizes,
    progressive_select,
    rater_weights,
    win_rates,
)


def aligned(*columns: np.ndarray) -> np.ndarray:
    return np.column_stack([win_rates(list(c)) for c in columns])


def test_win_rate_is_the_share_of_other_candidates_beaten():
    assert win_rates([1.0, 2.0, 2.0, None, 5.0]).tolist() == [0.0, 0.5, 0.5, 0.5, 1.0]
    # Only the order matters, not the scale.
    assert win_rates([1, 10, 1000]).tolist() == win_rates([-3, -2, -1]).tolist()
    assert win_rates([None, None]).tolist() == [0.5, 0.5]


def test_a_better_score_never_lowers_the_fused_score():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(40, 3))
    weights = np.array([0.5, 0.3, 0.2])
    before = fuse(aligned(*scores.T), weights)
    for j in range(40):
        for r in range(3):
            better = scores.copy()
            better[j, r] += abs(rng.normal()) + 0.1
            after = fuse(aligned(*better.T), weights)
            assert after[j] >= before[j]


def test_a_rater_that_contradicts_the_others_gets_low_reliability():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=300)
    agree = [truth + 0.5 * rng.normal(size=300) for _ in range(3)]
    reliability, independence, weights = rater_weights(aligned(*agree, -truth))
    assert reliability[3] < 0.1 < 0.8 < min(reliability[:3])
    # It is independent of the rest (negative correlation is not repetition)...
    assert independence[3] == pytest.approx(1.0)
    # ...but it cannot steer the fused score.
    assert weights[3] < 0.05


def test_copies_of_a_rater_share_its_weight():
    rng = np.random.default_rng(2)
    x, y, z = rng.normal(size=(3, 300))
    _, indep1, w1 = rater_weights(aligned(x, y, z))
    _, indep2, w2 = rater_weights(aligned(x, y, z, z))
    assert indep2[2] == pytest.approx(indep2[3], rel=1e-12)
    assert indep2[2] == pytest.approx(indep1[2] / 2, rel=0.15)
    assert w2[2] + w2[3] == pytest.approx(w1[2], abs=0.05)
    # Without sharing the copy would double z's say; the others keep theirs.
    assert w2[0] == pytest.approx(w1[0], abs=0.05)


def test_progressive_selection_narrows_the_pool_round_by_round():
    assert pool_sizes(100, 25, 2) == [50, 25]
    assert pool_sizes(10, 10, 3) == [10, 10, 10]
    rng = np.random.default_rng(3)
    scores = {name: list(rng.normal(size=100)) for name in ("a", "b", "c")}
    kept, rounds = progressive_select(scores, 25, rounds=2)
    assert len(kept) == 25 and kept == sorted(set(kept))
    assert [(r.pool, r.kept) for r in rounds] == [(100, 50), (50, 25)]
    # Weights are estimated afresh on what each round kept.
    assert rounds[0].weights != rounds[1].weights


def test_silent_raters_drop_out_and_fixed_weights_are_used():
    rng = np.random.default_rng(4)
    a = list(rng.normal(size=20))
    scores = {"a": a, "flat": [1.0] * 20, "unknown": [None] * 20, "b": list(rng.normal(size=20))}
    kept, rounds = progressive_select(scores, 5, rounds=1)
    assert rounds[0].silent == ["flat", "unknown"]
    assert rounds[0].weights["flat"] == rounds[0].weights["unknown"] == 0.0
    kept, rounds = progressive_select(scores, 5, rounds=1, fixed={"a": 1.0})
    assert kept == sorted(np.argsort(a)[-5:].tolist())
    assert rounds[0].weights == {"a": 1.0, "flat": 0.0, "unknown": 0.0, "b": 0.0}
