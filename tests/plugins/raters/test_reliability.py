"""Reliability from a judge's pairwise preferences, and the weights it gives, on synthetic raters.

The synthetic panel: a latent quality per candidate; a *gold* rater that
scores it exactly; a weaker rater (quality plus as much noise) of which three
noisy *copies* are in the panel; an *adversarial* rater that scores the
reverse. The judge prefers the candidate of higher quality, wrong on 10% of
the pairs. With the judge, gold must get the top weight, the copies one
weight between them, the adversarial none; with the consensus (no judge),
the three copies outvote the gold rater.
"""

from __future__ import annotations

import numpy as np
import pytest

from reasonloop.plugins.raters.fusion import progressive_rank, rater_weights, win_rates
from reasonloop.plugins.raters.reliability import Preference, judged_reliability


def panel(seed: int, copies: int = 3, n: int = 300, pairs: int = 400, flip: float = 0.1):
    rng = np.random.default_rng(seed)
    quality = rng.normal(size=n)
    weaker = quality + rng.normal(size=n)
    scores = {"gold": quality}
    for k in range(copies):
        scores[f"copy{k}"] = weaker + 0.15 * rng.normal(size=n)
    scores["adversarial"] = -quality
    drawn = rng.choice(n, size=(pairs, 2))
    drawn = drawn[drawn[:, 0] != drawn[:, 1]]
    wrong = rng.random(len(drawn)) < flip
    preferences = [
        Preference(int(a), int(b), float((quality[a] > quality[b]) != w))
        for (a, b), w in zip(drawn, wrong, strict=True)
    ]
    return {k: [float(x) for x in v] for k, v in scores.items()}, preferences


def weights(scores, preferences, chance_corrected=True, judge=True) -> dict[str, float]:
    matrix = np.column_stack([win_rates(v) for v in scores.values()])
    judged = judged_reliability(scores, preferences, chance_corrected)
    given = np.array([judged[k].reliability for k in scores]) if judge else None
    return dict(zip(scores, rater_weights(matrix, given)[2].tolist(), strict=True))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gold_leads_copies_share_one_weight_and_the_adversary_gets_none(seed):
    scores, preferences = panel(seed)
    judged = judged_reliability(scores, preferences)
    assert judged["gold"].agreement == pytest.approx(0.9, abs=0.04)  # the judge's own noise
    assert judged["adversarial"].agreement == pytest.approx(0.1, abs=0.04)
    assert judged["adversarial"].reliability == 0.0
    w = weights(scores, preferences)
    copies = [w[f"copy{k}"] for k in range(3)]
    assert w["gold"] == max(w.values()) and w["gold"] > 0.55
    assert max(copies) - min(copies) < 0.02  # about equal
    assert w["adversarial"] == 0.0
    # Together the copies weigh what one of them weighs alone.
    alone, _ = panel(seed, copies=1)
    single = weights(alone, preferences)["copy0"]
    assert sum(copies) == pytest.approx(single, rel=0.15)
    assert sum(w.values()) == pytest.approx(1.0)


def test_without_a_judge_the_copies_outvote_the_gold_rater():
    scores, preferences = panel(0)
    w = weights(scores, preferences, judge=False)
    assert sum(w[f"copy{k}"] for k in range(3)) > 2 * w["gold"]
    assert w["adversarial"] > 0.05  # the consensus cannot silence it


def test_fires_raw_agreement_keeps_weight_on_a_rater_at_chance():
    scores, preferences = panel(0)
    rng = np.random.default_rng(9)
    scores["coin"] = rng.normal(size=len(scores["gold"])).tolist()
    corrected = weights(scores, preferences)
    raw = weights(scores, preferences, chance_corrected=False)
    assert corrected["coin"] < 0.03
    assert raw["coin"] > 0.1  # agreement about 0.5, half a perfect rater's


def test_reliability_counts_only_decided_pairs_and_known_scores():
    scores = {"up": [1.0, 2.0, 3.0], "tied": [1.0, 1.0, 1.0], "partial": [None, 2.0, 1.0]}
    preferences = [Preference(2, 0, 1.0), Preference(1, 0, 1.0), Preference(2, 1, 0.5)]
    judged = judged_reliability(scores, preferences)
    assert judged["up"].pairs == 2 and judged["up"].agreement == 1.0
    assert judged["tied"].agreement == 0.5 and judged["tied"].reliability == 0.0
    assert judged["partial"].pairs == 0 and judged["partial"].agreement is None
    # A half-decided pair (one position order parsed) counts half.
    half = judged_reliability({"up": [1.0, 2.0]}, [Preference(0, 1, 0.75), Preference(1, 0, 1.0)])
    assert half["up"].agreement == pytest.approx((0.0 * 0.5 + 1.0 * 1.0) / 1.5)


def test_progressive_rounds_keep_the_judges_reliability_and_rederive_independence():
    scores, preferences = panel(0)
    judged = judged_reliability(scores, preferences)
    reliability = {k: v.reliability for k, v in judged.items()}
    rank, records = progressive_rank(scores, 75, rounds=2, reliability=reliability)
    assert [(r.pool, r.kept) for r in records] == [(300, 150), (150, 75)]
    for record in records:
        assert record.reliability["gold"] == round(reliability["gold"], 4)
        assert record.weights["gold"] == max(record.weights.values())
        assert record.weights["adversarial"] == 0.0
    kept = set(rank[:75])
    quality = np.array(scores["gold"])
    assert quality[list(kept)].mean() > np.quantile(quality, 0.6)
